//! The deb822 reader on arbitrary text: `parse_control` and `parse_stanzas`
//! must return without panicking, and a control file the strict reader
//! accepts must read the same through `parse_stanzas` (one stanza, same
//! fields). Then the writer: every field of every stanza, put into a
//! `DebInfo` by hand, must render through `deb::index_entry` as exactly one
//! stanza, so no value can inject a stanza of its own into `Packages`.
#![no_main]

use depot_core::Hashes;
use depot_formats::{deb, deb822};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(stanza) = deb822::parse_control(&text) {
        assert_eq!(deb822::parse_stanzas(&text).as_deref(), Ok(&[stanza][..]));
    }
    // Raw `Name: value` pairs too, so values the reader would refuse (blank
    // lines, control characters) reach the writer.
    let mut fields: Vec<(String, String)> = match deb822::parse_stanzas(&text) {
        Ok(stanzas) => stanzas.into_iter().flatten().collect(),
        Err(_) => Vec::new(),
    };
    for part in text.split('\u{1e}') {
        if let Some((k, v)) = part.split_once(':') {
            fields.push((k.to_string(), v.to_string()));
        }
    }
    // A control file's fields are distinct (the reader refuses duplicates).
    let mut seen = std::collections::HashSet::new();
    fields.retain(|(k, _)| seen.insert(k.to_ascii_lowercase()));
    let info = deb::DebInfo {
        name: "p".into(),
        version: "1".into(),
        arch: "all".into(),
        fields,
    };
    let entry = deb::index_entry(&info, "pool/x.deb", 1, &Hashes::of(b""));
    let stanzas = deb822::parse_stanzas(&entry).expect("index_entry output parses");
    assert_eq!(stanzas.len(), 1, "one package, one stanza:\n{entry}");
});
