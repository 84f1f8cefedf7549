//! `pacman::inspect` on arbitrary bytes with the default limits: it must
//! return (an error is fine) without panicking, hanging or allocating past
//! its limits; what it accepts is rendered as its `desc` and `files`
//! database entries.
#![no_main]

use depot_formats::pacman;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = pacman::inspect(data, &pacman::Limits::default()) else {
        return;
    };
    let file = pacman::DescFile {
        filename: "x.pkg.tar.zst",
        size: data.len() as u64,
        md5: "0",
        sha256: "0",
        signature: None,
    };
    let desc = pacman::desc(&info, &file);
    assert!(desc.starts_with("%FILENAME%\n"), "{desc}");
    let _ = pacman::files(&info);
});
