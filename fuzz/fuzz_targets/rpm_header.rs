//! The rpm header reader (private, `rpm/header.rs`) and the metadata
//! reading after it, through `rpm::fuzz_headers`: a signature header and a
//! main header back to back, read as `rpm::inspect` reads them but without
//! the header digest check. Must not panic, hang or allocate past the
//! limits; what it accepts must render as well-formed repodata XML.
#![no_main]

use depot_core::Sha256;
use depot_formats::rpm;
use libfuzzer_sys::fuzz_target;

#[path = "rpm_xml.rs"]
mod rpm_xml;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = rpm::fuzz_headers(data, &rpm::Limits::default()) else {
        return;
    };
    rpm_xml::check(&info, &Sha256([0; 32]), data.len() as u64);
});
