//! `rpm::inspect` on arbitrary bytes with the default limits: it must
//! return (an error is fine) without panicking, hanging or allocating past
//! its limits. What it accepts must render as well-formed repodata XML.
//! Mutations rarely keep the header digest right, so the metadata reading
//! behind it is fuzzed by `rpm_header` as well.
#![no_main]

use depot_core::Sha256;
use depot_formats::rpm;
use libfuzzer_sys::fuzz_target;

#[path = "rpm_xml.rs"]
mod rpm_xml;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = rpm::inspect(data, &rpm::Limits::default()) else {
        return;
    };
    rpm_xml::check(&info, &Sha256::of(data), data.len() as u64);
});
