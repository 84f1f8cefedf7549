//! `deb::inspect` on arbitrary bytes with the default limits: it must
//! return (an error is fine) without panicking, hanging or allocating past
//! its limits. What it accepts must render as exactly one `Packages` stanza
//! holding the same package.
#![no_main]

use depot_core::Hashes;
use depot_formats::{deb, deb822};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = deb::inspect(data, &deb::Limits::default()) else {
        return;
    };
    let entry = deb::index_entry(&info, "pool/main/x.deb", data.len() as u64, &Hashes::of(data));
    let stanzas = deb822::parse_stanzas(&entry).expect("index_entry output parses");
    assert_eq!(stanzas.len(), 1, "one package, one stanza:\n{entry}");
    assert_eq!(deb822::field(&stanzas[0], "Package"), Some(info.name.as_str()));
    assert_eq!(deb822::field(&stanzas[0], "Version"), Some(info.version.as_str()));
});
