//! `apk::inspect` on arbitrary bytes with the default limits: it must
//! return (an error is fine) without panicking, hanging or allocating past
//! its limits. What it accepts must render as exactly one `APKINDEX` block
//! holding the same package.
#![no_main]

use depot_formats::apk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = apk::inspect(data, &apk::Limits::default()) else {
        return;
    };
    let entry = apk::index_entry(&info, data.len() as u64);
    let blocks = apk::parse_index(&entry).expect("index_entry output parses");
    assert_eq!(blocks.len(), 1, "one package, one block:\n{entry}");
    let get = |k: char| blocks[0].iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
    assert_eq!(get('P'), Some(info.name.as_str()));
    assert_eq!(get('V'), Some(info.version.as_str()));
});
