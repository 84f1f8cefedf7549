//! `freebsd::inspect` on arbitrary bytes with the default limits: it must
//! return (an error is fine) without panicking, hanging or allocating past
//! its limits; what it accepts is rendered as its `packagesite.yaml` line.
#![no_main]

use depot_formats::freebsd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = freebsd::inspect(data, &freebsd::Limits::default()) else {
        return;
    };
    let line = freebsd::catalogue_entry(&info, data.len() as u64, "0");
    assert!(!line.contains('\n'), "one package, one line: {line}");
});
