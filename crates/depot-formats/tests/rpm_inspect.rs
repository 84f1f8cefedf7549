//! rpm::inspect on packages built by depot-testkit, and on every kind of
//! broken, hostile and oversized package DESIGN.md §5 lists: each gets the
//! FormatError variant that picks its 4xx, with a message naming the
//! problem.

use depot_core::Sha256;
use depot_formats::FormatError;
use depot_formats::rpm::{self, DepFlags, FileKind, Limits, RpmInfo, repodata};
use depot_testkit::{IndexData, MTIME, RpmBuilder, rpm_layout};
use std::io::{self, Read};
use std::time::{Duration, Instant};

fn inspect(bytes: &[u8]) -> Result<RpmInfo, FormatError> {
    rpm::inspect(bytes, &Limits::default())
}

fn hello() -> RpmBuilder {
    RpmBuilder::new("hello", "2.10", "3.fc40", "x86_64")
        .epoch(1)
        .summary("Says hello")
        .description("Prints a greeting.\nTwo lines.")
        .url("https://example.org/hello")
        .license("GPL-3.0-or-later")
        .vendor("Depot")
        .packager("Pat <pat@example.org>")
        .group("Applications/Text")
        .requires("libc.so.6()(64bit)")
        .requires("beta >= 1:2.0-1")
        .requires_pre("/bin/sh")
        .provides("greeter = 2")
        .conflicts("hello-old < 2")
        .obsoletes("hello-ancient <= 1.0")
        .recommends("hello-doc")
        .suggests("hello-extras > 1")
        .supplements("(hello-lang and langpacks)")
        .enhances("shell")
        .file("/usr/bin/hello", b"#!/bin/sh\necho hello\n")
        .file("/usr/share/doc/hello/README", b"readme\n")
        .config_file("/etc/hello.conf", b"greeting=hi\n")
        .dir("/usr/share/hello")
        .ghost("/var/log/hello.log")
        .changelog(
            "Pat <pat@example.org> - 1:2.10-3",
            1_700_100_000,
            "- Rebuilt",
        )
        .changelog("Pat <pat@example.org> - 1:2.10-1", 1_690_000_000, "- First")
}

#[track_caller]
fn expect_invalid(r: Result<RpmInfo, FormatError>, needle: &str) -> String {
    match r {
        Err(FormatError::Invalid(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}");
            m
        }
        other => panic!("expected Invalid({needle:?}), got {other:?}"),
    }
}

#[track_caller]
fn expect_truncated(r: Result<RpmInfo, FormatError>, needle: &str) {
    match r {
        Err(FormatError::Truncated(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}")
        }
        other => panic!("expected Truncated({needle:?}), got {other:?}"),
    }
}

#[track_caller]
fn expect_too_large(r: Result<RpmInfo, FormatError>, needle: &str) {
    match r {
        Err(FormatError::TooLarge(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}")
        }
        other => panic!("expected TooLarge({needle:?}), got {other:?}"),
    }
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn reads_every_field_of_a_testkit_package() {
    let bytes = hello().build();
    let info = inspect(&bytes).unwrap();
    assert_eq!(info.name, "hello");
    assert_eq!(info.epoch, 1);
    assert_eq!(info.version, "2.10");
    assert_eq!(info.release, "3.fc40");
    assert_eq!(info.arch, "x86_64");
    assert_eq!(info.evr(), "1:2.10-3.fc40");
    assert!(!info.is_source);
    assert_eq!(info.summary, "Says hello");
    assert_eq!(info.description, "Prints a greeting.\nTwo lines.");
    assert_eq!(info.url, "https://example.org/hello");
    assert_eq!(info.license, "GPL-3.0-or-later");
    assert_eq!(info.vendor, "Depot");
    assert_eq!(info.packager, "Pat <pat@example.org>");
    assert_eq!(info.group, "Applications/Text");
    assert_eq!(info.buildhost, "testkit.depot.invalid");
    assert_eq!(info.sourcerpm, "(none)");
    assert_eq!(info.build_time, MTIME);
    assert_eq!(info.installed_size, 21 + 7 + 12);

    let layout = rpm_layout(&bytes);
    assert_eq!(info.header_start, layout.header as u64);
    assert_eq!(info.header_end, layout.payload as u64);
    let pkg = ::rpm::PackageMetadata::parse(&mut &bytes[..]).unwrap();
    let offsets = pkg.get_package_segment_offsets();
    assert_eq!(
        (info.header_start, info.header_end),
        (offsets.header, offsets.payload)
    );

    let files: Vec<(&str, FileKind)> = info
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(
        files,
        [
            ("/etc/hello.conf", FileKind::File),
            ("/usr/bin/hello", FileKind::File),
            ("/usr/share/doc/hello/README", FileKind::File),
            ("/usr/share/hello", FileKind::Dir),
            ("/var/log/hello.log", FileKind::Ghost),
        ]
    );

    let shown = |l: &[rpm::Dependency]| l.iter().map(|d| d.display()).collect::<Vec<_>>();
    let requires = shown(&info.requires);
    assert!(
        requires.contains(&"beta >= 1:2.0-1".to_string()),
        "{requires:?}"
    );
    assert!(requires.contains(&"libc.so.6()(64bit)".to_string()));
    assert!(
        !requires.iter().any(|r| r.starts_with("rpmlib(")),
        "{requires:?}"
    );
    let sh = info.requires.iter().find(|d| d.name == "/bin/sh").unwrap();
    assert!(sh.pre);
    let beta = info.requires.iter().find(|d| d.name == "beta").unwrap();
    assert_eq!(
        (
            beta.flags,
            beta.epoch.as_str(),
            beta.version.as_str(),
            beta.release.as_str()
        ),
        (Some(DepFlags::Ge), "1", "2.0", "1")
    );
    assert!(shown(&info.provides).contains(&"greeter = 2".to_string()));
    assert!(shown(&info.provides).contains(&"hello = 1:2.10-3.fc40".to_string()));
    assert_eq!(shown(&info.conflicts), ["hello-old < 2"]);
    assert_eq!(shown(&info.obsoletes), ["hello-ancient <= 1.0"]);
    assert_eq!(shown(&info.recommends), ["hello-doc"]);
    assert_eq!(shown(&info.suggests), ["hello-extras > 1"]);
    assert_eq!(shown(&info.supplements), ["(hello-lang and langpacks)"]);
    assert_eq!(shown(&info.enhances), ["shell"]);

    // Oldest first.
    let log: Vec<(&str, u64)> = info
        .changelogs
        .iter()
        .map(|c| (c.text.as_str(), c.date))
        .collect();
    assert_eq!(
        log,
        [("- First", 1_690_000_000), ("- Rebuilt", 1_700_100_000)]
    );

    let json = rpm::fields_json(&info);
    assert_eq!(json["name"], "hello");
    assert_eq!(json["evr"], "1:2.10-3.fc40");
    assert_eq!(json["file_count"], 5);
    assert_eq!(json["conflicts"][0], "hello-old < 2");

    // Serde round trip (the service stores RpmInfo and Fragments as JSON).
    let back: RpmInfo = serde_json::from_str(&serde_json::to_string(&info).unwrap()).unwrap();
    assert_eq!(back, info);
}

#[test]
fn fragments_render_the_three_package_elements() {
    let bytes = hello().build();
    let info = inspect(&bytes).unwrap();
    let sha = Sha256::of(&bytes);
    let f = rpm::fragments(
        &info,
        "packages/hello-2.10-3.fc40.x86_64.rpm",
        bytes.len() as u64,
        &sha,
        1_750_000_000,
    );
    assert!(f.primary.starts_with("<package type=\"rpm\">\n  <name>hello</name>\n  <arch>x86_64</arch>\n  <version epoch=\"1\" ver=\"2.10\" rel=\"3.fc40\"/>\n"));
    assert!(f.primary.contains(&format!(
        "<checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        sha.hex()
    )));
    assert!(
        f.primary
            .contains("<time file=\"1750000000\" build=\"1700000000\"/>")
    );
    assert!(f.primary.contains(&format!(
        "<size package=\"{}\" installed=\"40\" archive=\"0\"/>",
        bytes.len()
    )));
    assert!(
        f.primary
            .contains("<location href=\"packages/hello-2.10-3.fc40.x86_64.rpm\"/>")
    );
    assert!(
        f.primary
            .contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>")
    );
    // Primary lists /etc and *bin/ files only; filelists lists all.
    assert!(f.primary.contains("<file>/usr/bin/hello</file>"));
    assert!(f.primary.contains("<file>/etc/hello.conf</file>"));
    assert!(!f.primary.contains("README"));
    assert!(
        f.filelists
            .contains("<file>/usr/share/doc/hello/README</file>")
    );
    assert!(
        f.filelists
            .contains("<file type=\"dir\">/usr/share/hello</file>")
    );
    assert!(
        f.filelists
            .contains("<file type=\"ghost\">/var/log/hello.log</file>")
    );
    assert!(f.other.contains("<changelog author=\"Pat &lt;pat@example.org&gt; - 1:2.10-1\" date=\"1690000000\">- First</changelog>"));
    for s in [&f.primary, &f.filelists, &f.other] {
        assert!(s.ends_with("</package>\n"));
    }

    let wrap = |h: String, body: &str, foot: &str| format!("{h}{body}{foot}");
    let p = wrap(
        repodata::primary_header(1),
        &f.primary,
        repodata::PRIMARY_FOOTER,
    );
    let doc = roxmltree::Document::parse(&p).unwrap();
    assert_eq!(doc.root_element().attribute("packages"), Some("1"));
    roxmltree::Document::parse(&wrap(
        repodata::filelists_header(1),
        &f.filelists,
        repodata::FILELISTS_FOOTER,
    ))
    .unwrap();
    roxmltree::Document::parse(&wrap(
        repodata::other_header(1),
        &f.other,
        repodata::OTHER_FOOTER,
    ))
    .unwrap();

    // Fragments round-trip through JSON as the service stores them.
    let back: rpm::Fragments = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(back, f);
}

#[test]
fn xml_special_text_is_escaped_and_round_trips() {
    let nasty = "a <b> & \"c\" 'd' </package><package> ]]> &amp; é\ttab\nnext";
    let with_cr = "carriage\r\nreturn <&>";
    let bytes = RpmBuilder::new("hello", "1", "1", "noarch")
        .tag(1004, IndexData::I18NString(vec![with_cr.into()]))
        .description(nasty)
        .url(nasty)
        .provides("cap<&>\"name = 1")
        .file("/usr/bin/we<ird>&\"name\" é", b"x")
        .changelog(nasty, 1_700_000_000, nasty)
        .build();
    let info = inspect(&bytes).unwrap();
    let f = rpm::fragments(&info, "p&<q>\"r.rpm", 1, &Sha256::of(&bytes), 0);
    let p = format!(
        "{}{}{}",
        repodata::primary_header(1),
        f.primary,
        repodata::PRIMARY_FOOTER
    );
    let doc = roxmltree::Document::parse(&p).unwrap();
    let pkg = doc.root_element().first_element_child().unwrap();
    let child = |name: &str| {
        pkg.descendants()
            .find(|n| n.tag_name().name() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(child("summary").text(), Some(with_cr));
    assert!(f.primary.contains("carriage&#13;\nreturn &lt;&amp;&gt;"));
    assert_eq!(child("description").text(), Some(nasty));
    assert_eq!(child("location").attribute("href"), Some("p&<q>\"r.rpm"));
    assert_eq!(child("file").text(), Some("/usr/bin/we<ird>&\"name\" é"));
    assert!(
        pkg.descendants()
            .any(|n| n.attribute("name") == Some("cap<&>\"name"))
    );
    assert_eq!(
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .count(),
        1
    );
    let o = format!(
        "{}{}{}",
        repodata::other_header(1),
        f.other,
        repodata::OTHER_FOOTER
    );
    let doc = roxmltree::Document::parse(&o).unwrap();
    let c = doc
        .descendants()
        .find(|n| n.tag_name().name() == "changelog")
        .unwrap();
    assert_eq!(c.attribute("author"), Some(nasty));
    assert_eq!(c.text(), Some(nasty));
}

#[test]
fn source_packages_are_accepted_as_src() {
    let bytes = RpmBuilder::new("hello", "1.0", "1", "x86_64")
        .file("./hello.spec", b"Name: hello\n")
        .source()
        .build();
    let info = inspect(&bytes).unwrap();
    assert!(info.is_source);
    assert_eq!(info.arch, "src");
    assert_eq!(info.sourcerpm, "");
    assert_eq!(info.files[0].path, "/hello.spec");
}

/// A reader that hands out one byte at a time.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((b, rest)), Some(slot)) => {
                *slot = *b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

#[test]
fn streams_from_a_reader_that_returns_one_byte_at_a_time() {
    let bytes = hello().build();
    assert_eq!(
        rpm::inspect(Trickle(&bytes), &Limits::default()).unwrap(),
        inspect(&bytes).unwrap()
    );
}

// ---- not an rpm ----

#[test]
fn bad_lead_magic_is_not_an_rpm() {
    let mut bytes = hello().build();
    bytes[0] = b'X';
    assert!(
        matches!(inspect(&bytes), Err(FormatError::NotAnArchive(m)) if m.contains("ed ab ee db"))
    );
    let deb = depot_testkit::DebBuilder::new("hello", "1.0", "all").build();
    assert!(matches!(inspect(&deb), Err(FormatError::NotAnArchive(_))));
    assert!(matches!(
        inspect(b"<html>404</html>"),
        Err(FormatError::NotAnArchive(_))
    ));
}

#[test]
fn empty_file_is_not_an_rpm() {
    assert!(matches!(inspect(b""), Err(FormatError::NotAnArchive(m)) if m.contains("empty")));
}

#[test]
fn bad_lead_fields_are_invalid() {
    let good = hello().build();
    let mut b = good.clone();
    b[4] = 9;
    expect_invalid(inspect(&b), "unsupported RPM format 9.0");
    let mut b = good.clone();
    b[7] = 7;
    expect_invalid(inspect(&b), "package type is 7");
    let mut b = good.clone();
    b[79] = 0;
    expect_invalid(inspect(&b), "signature type is 0");
}

// ---- truncated ----

#[test]
fn truncated_in_the_lead() {
    let bytes = hello().build();
    expect_truncated(inspect(&bytes[..2]), "inside the 96-byte RPM lead");
    expect_truncated(inspect(&bytes[..50]), "after 50 bytes");
}

#[test]
fn truncated_in_the_signature_header() {
    let bytes = hello().build();
    let l = rpm_layout(&bytes);
    expect_truncated(inspect(&bytes[..96]), "inside the signature header");
    expect_truncated(inspect(&bytes[..96 + 10]), "inside the signature header");
    expect_truncated(
        inspect(&bytes[..l.header - 200]),
        "inside the signature header",
    );
}

#[test]
fn truncated_in_the_header() {
    let bytes = hello().build();
    let l = rpm_layout(&bytes);
    expect_truncated(inspect(&bytes[..l.header]), "inside the header");
    expect_truncated(inspect(&bytes[..l.header + 12]), "inside the header");
    expect_truncated(inspect(&bytes[..l.payload - 1]), "inside the header");
}

#[test]
fn truncated_in_the_payload() {
    let bytes = hello().build();
    let l = rpm_layout(&bytes);
    expect_truncated(inspect(&bytes[..l.payload]), "inside the payload");
    expect_truncated(inspect(&bytes[..l.payload + 10]), "inside the payload");
    expect_truncated(inspect(&bytes[..bytes.len() - 1]), "inside the payload");
}

// ---- oversized and hostile counts ----

#[test]
fn index_counts_that_would_allocate_gigabytes_are_refused_at_once() {
    let good = hello().build();
    let l = rpm_layout(&good);
    for (at, what) in [(l.signature, "signature header"), (l.header, "header")] {
        for (il, dl) in [(0xffff_ffff, 16), (0x00ff_ffff, 16), (10, 0xffff_ffff)] {
            let mut b = good.clone();
            put_u32(&mut b, at + 8, il);
            put_u32(&mut b, at + 12, dl);
            let t = Instant::now();
            expect_too_large(inspect(&b), what);
            assert!(t.elapsed() < Duration::from_millis(200));
        }
    }
    // Even with no limits at all, a header claiming gigabytes costs only
    // the bytes that actually arrive.
    let unlimited = Limits {
        max_header_bytes: u64::MAX,
        max_index_entries: u32::MAX,
        max_items: u32::MAX,
    };
    let mut b = good.clone();
    put_u32(&mut b, l.signature + 8, 0xffff_ffff);
    let t = Instant::now();
    expect_truncated(
        rpm::inspect(&b[..], &unlimited),
        "inside the signature header",
    );
    assert!(t.elapsed() < Duration::from_millis(200));
}

#[test]
fn headers_over_the_byte_limit_are_too_large() {
    let bytes = hello().file("/usr/share/big", &[7u8; 100]).build();
    let limits = Limits {
        max_header_bytes: 2000,
        ..Limits::default()
    };
    expect_too_large(rpm::inspect(&bytes[..], &limits), "at most 2000 bytes");
}

#[test]
fn too_many_files_and_dependencies_are_too_large() {
    let mut b = RpmBuilder::new("many", "1", "1", "noarch");
    for i in 0..50 {
        b = b.file(&format!("/usr/share/many/f{i}"), b"");
    }
    let bytes = b.build();
    let limits = Limits {
        max_items: 40,
        ..Limits::default()
    };
    expect_too_large(rpm::inspect(&bytes[..], &limits), "over the limit of 40");
    assert!(inspect(&bytes).is_ok());
}

#[test]
fn index_entries_pointing_outside_the_store_are_invalid() {
    let good = hello().build();
    let l = rpm_layout(&good);
    // Entry #1 of the main header (#0 is the region tag): offset field.
    let mut b = good.clone();
    put_u32(&mut b, l.header + 16 + 16 + 8, 0x7fff_fff0);
    expect_invalid(inspect(&b), "past the");
    // A count far beyond the store.
    let mut b = good.clone();
    put_u32(&mut b, l.header + 16 + 16 + 12, 0x4000_0000);
    expect_invalid(inspect(&b), "do not fit");
    // An unknown type.
    let mut b = good.clone();
    put_u32(&mut b, l.header + 16 + 16 + 4, 42);
    expect_invalid(inspect(&b), "unknown data type 42");
    // A bad header magic.
    let mut b = good;
    b[l.header] = 0;
    expect_invalid(inspect(&b), "header magic");
}

// ---- content that is not what the headers say ----

#[test]
fn payload_not_matching_the_payload_digest_is_invalid() {
    let mut bytes = hello().build();
    let l = rpm_layout(&bytes);
    let mid = (l.payload + bytes.len()) / 2;
    bytes[mid] ^= 0xff;
    expect_invalid(
        inspect(&bytes),
        "does not match the header's payload digest",
    );
}

#[test]
fn header_not_matching_its_digest_is_invalid() {
    let mut bytes = hello().build();
    let at = bytes.windows(10).position(|w| w == b"Says hello").unwrap();
    bytes[at] = b'Z';
    expect_invalid(inspect(&bytes), "SHA-256 digest");
}

#[test]
fn packages_older_than_rpm_4_14_are_checked_with_sha1_and_md5() {
    let good = hello().legacy_digests().build();
    assert_eq!(inspect(&good).unwrap(), {
        let mut i = inspect(&hello().build()).unwrap();
        let l = rpm_layout(&good);
        (i.header_start, i.header_end) = (l.header as u64, l.payload as u64);
        i
    });
    let mut b = good.clone();
    let last = b.len() - 3;
    b[last] ^= 1;
    expect_invalid(inspect(&b), "MD5 of header and payload");
    let mut b = good;
    let at = b.windows(10).position(|w| w == b"Says hello").unwrap();
    b[at] = b'Z';
    expect_invalid(inspect(&b), "SHA-1 digest");
}

#[test]
fn data_after_the_payload_is_invalid() {
    let mut bytes = hello().build();
    bytes.extend_from_slice(b"trailing garbage");
    expect_invalid(inspect(&bytes), "goes on after");
}

#[test]
fn payload_compressor_magic_must_match() {
    let bytes = hello().tag(1125, IndexData::StringTag("xz".into())).build();
    expect_invalid(inspect(&bytes), "magic bytes of xz");
}

#[test]
fn unknown_payload_digest_algorithms_are_invalid() {
    let bytes = hello().tag(5093, IndexData::Int32(vec![9])).build();
    expect_invalid(inspect(&bytes), "hash algorithm 9");
}

// ---- hostile names and text ----

#[test]
fn names_that_could_inject_xml_or_break_lines_are_refused() {
    let name = |v: &str| hello().tag(1000, IndexData::StringTag(v.into())).build();
    for bad in [
        "evil<name>",
        "a&b",
        "quote\"d",
        "two words",
        "new\nline",
        "-dash",
        "a..b",
        "é",
        "",
    ] {
        let m = expect_invalid(inspect(&name(bad)), "is not a valid RPM package name");
        assert!(!m.contains('\n'), "{m:?}");
    }
    let version = |v: &str| hello().tag(1001, IndexData::StringTag(v.into())).build();
    for bad in ["1-2", "1 2", "1<2", "1\t2", "1&2", "1..2", ""] {
        expect_invalid(inspect(&version(bad)), "is not a valid RPM version");
    }
    let release = hello()
        .tag(1002, IndexData::StringTag("1\n".into()))
        .build();
    expect_invalid(inspect(&release), "is not a valid RPM release");
    for bad in ["x86 64", "x\"y", "a-b", "<arch>"] {
        let arch = hello().tag(1022, IndexData::StringTag(bad.into())).build();
        expect_invalid(inspect(&arch), "is not a valid RPM architecture");
    }
}

#[test]
fn control_characters_in_text_are_refused() {
    let summary = hello()
        .tag(1004, IndexData::I18NString(vec!["bell\u{7}".into()]))
        .build();
    expect_invalid(inspect(&summary), "control character");
    let provide = hello()
        .tag(
            1047,
            IndexData::StringArray(vec!["nul\u{1}cap".into(), "hello".into()]),
        )
        .tag(1112, IndexData::Int32(vec![0, 8]))
        .tag(
            1113,
            IndexData::StringArray(vec!["".into(), "1:2.10-3.fc40".into()]),
        )
        .build();
    expect_invalid(inspect(&provide), "control character");
}

#[test]
fn missing_or_mistyped_required_tags_are_invalid() {
    expect_invalid(inspect(&hello().without_tag(1000).build()), "no NAME tag");
    expect_invalid(
        inspect(&hello().without_tag(1001).build()),
        "no VERSION tag",
    );
    expect_invalid(
        inspect(&hello().tag(1000, IndexData::Int32(vec![7])).build()),
        "NAME (tag 1000) is INT32, not a string",
    );
    expect_invalid(
        inspect(&hello().tag(1003, IndexData::StringTag("1".into())).build()),
        "EPOCH (tag 1003) is STRING, not an integer",
    );
}

#[test]
fn corrupt_file_and_dependency_lists_are_invalid() {
    let bytes = hello()
        .tag(1116, IndexData::Int32(vec![0, 0, 0, 0, 99]))
        .build();
    expect_invalid(inspect(&bytes), "DIRINDEXES entry is 99");
    let bytes = hello().tag(1030, IndexData::Int16(vec![0o100644])).build();
    expect_invalid(inspect(&bytes), "5 files but 1 FILEMODES");
    let bytes = hello().without_tag(1037).build();
    expect_invalid(inspect(&bytes), "it has no FILEFLAGS");
    let bytes = hello().tag(1112, IndexData::Int32(vec![8])).build();
    expect_invalid(inspect(&bytes), "PROVIDE lists are corrupt");
}
