//! Reading Python wheels and sdists: the metadata fields, name
//! normalization, PEP 440 order, the rendered index pages, and every kind
//! of bad input refused with the right error.

use depot_formats::FormatError;
use depot_formats::pypi::index::{self, IndexFile, Representation};
use depot_formats::pypi::{self, Kind, Limits, PypiInfo, Version};
use depot_testkit::{SdistBuilder, WheelBuilder, ZipMember, zip_archive};
use std::cmp::Ordering;
use std::io::Cursor;

fn inspect_with(bytes: &[u8], name: &str, limits: &Limits) -> Result<PypiInfo, FormatError> {
    pypi::inspect(Cursor::new(bytes), name, limits)
}

fn inspect(bytes: &[u8], name: &str) -> Result<PypiInfo, FormatError> {
    inspect_with(bytes, name, &Limits::default())
}

fn refused(bytes: &[u8], name: &str) -> FormatError {
    match inspect(bytes, name) {
        Ok(info) => panic!("accepted {name}: {info:?}"),
        Err(e) => e,
    }
}

fn wheel_refused(w: &WheelBuilder) -> FormatError {
    refused(&w.build(), &w.file_name())
}

fn assert_invalid(e: FormatError, needle: &str) {
    match &e {
        FormatError::Invalid(m) if m.contains(needle) => {}
        _ => panic!("expected Invalid containing {needle:?}, got {e:?}"),
    }
}

fn lib() -> WheelBuilder {
    WheelBuilder::new("Depot.Demo_lib", "1.2.0")
        .requires_python(">=3.8")
        .requires_dist("idna (>=2.5) ; extra == 'socks'")
        .requires_dist("charset-normalizer<4,>=2")
        .summary("A demo library")
}

// ---- wheels: what is read ----

#[test]
fn a_wheel_gives_its_metadata_fields_and_tags() {
    let w = lib();
    assert_eq!(w.file_name(), "Depot_Demo_lib-1.2.0-py3-none-any.whl");
    let info = inspect(&w.build(), &w.file_name()).unwrap();
    assert_eq!(info.kind, Kind::Wheel);
    assert_eq!(info.name, "Depot.Demo_lib");
    assert_eq!(info.project, "depot-demo-lib");
    assert_eq!(info.version, "1.2.0");
    assert_eq!(info.metadata_version, "2.1");
    assert_eq!(info.summary.as_deref(), Some("A demo library"));
    assert_eq!(info.requires_python.as_deref(), Some(">=3.8"));
    assert_eq!(
        info.requires_dist,
        [
            "idna (>=2.5) ; extra == 'socks'",
            "charset-normalizer<4,>=2"
        ]
    );
    assert_eq!(
        (&*info.python_tag, &*info.abi_tag, &*info.platform_tag),
        ("py3", "none", "any")
    );
    // PEP 658: the METADATA bytes exactly, description included.
    assert_eq!(info.metadata.as_deref(), Some(&w.metadata()[..]));
}

#[test]
fn stored_members_read_like_deflated_ones() {
    let w = lib().stored();
    let info = inspect(&w.build(), &w.file_name()).unwrap();
    assert_eq!(info.metadata.as_deref(), Some(&w.metadata()[..]));
}

#[test]
fn a_build_tag_and_compressed_tags_are_accepted() {
    let w = lib();
    let info = inspect(
        &w.build(),
        "Depot_Demo_lib-1.2.0-1local-py2.py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    .unwrap();
    assert_eq!(info.python_tag, "py2.py3");
    assert_eq!(
        info.platform_tag,
        "manylinux_2_17_x86_64.manylinux2014_x86_64"
    );
}

#[test]
fn continuation_lines_and_crlf_are_read() {
    let meta = b"Metadata-Version: 2.1\r\nName: cont\r\nVersion: 1.0\r\nSummary: one\r\n  two\r\nLicense: MIT\r\n        and more\r\nRequires-Dist: a\r\n\r\nRequires-Dist: not-a-header, this is the description\r\n";
    let w = WheelBuilder::new("cont", "1.0").raw_metadata(meta);
    let info = inspect(&w.build(), &w.file_name()).unwrap();
    assert_eq!(info.summary.as_deref(), Some("one\ntwo"));
    assert_eq!(info.requires_dist, ["a"]);
}

#[test]
fn metadata_versions_1_0_to_2_4_are_read() {
    for mv in ["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"] {
        let meta = format!("Metadata-Version: {mv}\nName: m\nVersion: 1\n");
        let w = WheelBuilder::new("m", "1").raw_metadata(meta.as_bytes());
        let info = inspect(&w.build(), &w.file_name()).unwrap_or_else(|e| panic!("{mv}: {e}"));
        assert_eq!(info.metadata_version, mv);
    }
}

// ---- wheels: file name and metadata must agree ----

#[test]
fn a_wheel_whose_metadata_names_another_project_is_refused() {
    let e = wheel_refused(&lib().metadata_name("someone-else"));
    assert_invalid(
        e,
        "says project 'depot-demo-lib', but its metadata says Name: someone-else",
    );
}

#[test]
fn a_wheel_whose_metadata_has_another_version_is_refused() {
    let e = wheel_refused(&lib().metadata_version("1.2.1"));
    assert_invalid(
        e,
        "says version 1.2.0, but its metadata says Version: 1.2.1",
    );
}

#[test]
fn names_and_versions_agree_as_pip_compares_them() {
    // Same project and version once normalized: accepted, as pip accepts them.
    for (file_name, file_version, meta_name, meta_version) in [
        ("depot_demo", "1.0", "Depot.Demo", "1.0"),
        ("depot_demo", "1.0", "depot--demo", "1.0.0"),
        ("depot_demo", "1.0.0_post1", "depot-demo", "1.0.0.post1"),
        ("depot_demo", "1.0rc1", "depot-demo", "1.0-RC-1"),
        ("depot_demo", "1!2.0", "depot-demo", "1!2.0.0"),
    ] {
        let w = WheelBuilder::new(file_name, file_version)
            .metadata_name(meta_name)
            .metadata_version(meta_version);
        let name = format!("{file_name}-{file_version}-py3-none-any.whl");
        let dist_info = format!("{file_name}-{file_version}.dist-info");
        assert_eq!(w.dist_info(), dist_info);
        inspect(&w.build(), &name).unwrap_or_else(|e| panic!("{name} with {meta_version}: {e}"));
    }
    // A local label is part of the version: 1.0+local is not 1.0.
    let w = WheelBuilder::new("d", "1.0").metadata_version("1.0+local");
    assert_invalid(
        wheel_refused(&w),
        "but its metadata says Version: 1.0+local",
    );
}

#[test]
fn a_dist_info_directory_of_another_project_is_refused() {
    let w = lib();
    let e = refused(&w.build(), "other-1.2.0-py3-none-any.whl");
    assert_invalid(e, "does not match its file name (project 'other'");
}

#[test]
fn two_or_no_dist_info_directories_are_refused() {
    let w = lib().member(ZipMember::new("evil-1.0.dist-info/METADATA", b"x"));
    assert_invalid(wheel_refused(&w), "has 2 .dist-info directories");
    let w = lib()
        .without("/METADATA")
        .without("/WHEEL")
        .without("/RECORD");
    assert_invalid(
        wheel_refused(&w),
        "has no {name}-{version}.dist-info directory",
    );
}

#[test]
fn a_missing_wheel_record_or_metadata_is_refused() {
    for member in ["WHEEL", "RECORD", "METADATA"] {
        let w = lib().without(&format!("/{member}"));
        assert_invalid(
            wheel_refused(&w),
            &format!("has no Depot_Demo_lib-1.2.0.dist-info/{member}"),
        );
    }
}

#[test]
fn a_wheel_version_pip_cannot_install_is_refused() {
    assert_invalid(
        wheel_refused(&lib().wheel_version("2.0")),
        "Wheel-Version 2.0",
    );
    inspect(&lib().wheel_version("1.9").build(), &lib().file_name()).unwrap();
}

#[test]
fn bad_wheel_file_names_are_refused() {
    let bytes = lib().build();
    for (name, why) in [
        ("depot-1.0-py3-none.whl", "4 '-'-separated parts"),
        ("a-b-c-1.0-x-py3-none-any.whl", "8 '-'-separated parts"),
        (
            "depot-1.0-x1-py3-none-any.whl",
            "build tag 'x1' must start with a digit",
        ),
        ("depot-1.0-SNAPSHOT-py3-none-any.whl", "build tag"),
        ("depot-one-py3-none-any.whl", "not a PEP 440 version"),
        ("dep ot-1.0-py3-none-any.whl", "is not a project name"),
        ("_depot-1.0-py3-none-any.whl", "is not a project name"),
        ("depot-1.0-py3-no/ne-any.whl", "not a compatibility tag"),
        ("depot-1.0-py3-none-.whl", "not a compatibility tag"),
    ] {
        assert_invalid(refused(&bytes, name), why);
    }
}

// ---- wheels: the zip ----

#[test]
fn not_a_zip_is_not_an_archive() {
    let name = lib().file_name();
    assert!(matches!(refused(b"", &name), FormatError::NotAnArchive(_)));
    assert!(matches!(
        refused(b"\x1f\x8b\x08\x00 a gzip", &name),
        FormatError::NotAnArchive(m) if m.contains("is not a zip archive")
    ));
}

#[test]
fn a_cut_zip_is_truncated() {
    let w = lib();
    let bytes = w.build();
    for cut in [10, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(
                refused(&bytes[..cut], &w.file_name()),
                FormatError::Truncated(_)
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn data_after_the_end_record_is_refused() {
    let w = lib();
    let mut bytes = w.build();
    bytes.extend_from_slice(b"trailing");
    assert!(matches!(
        refused(&bytes, &w.file_name()),
        FormatError::Truncated(m) if m.contains("followed by other data")
    ));
}

/// The members of a valid wheel with one of them changed.
fn hostile(change: impl Fn(&mut Vec<ZipMember>)) -> FormatError {
    let w = lib();
    let mut members = w.members();
    change(&mut members);
    refused(&zip_archive(&members), &w.file_name())
}

fn metadata_member(members: &mut [ZipMember]) -> &mut ZipMember {
    members
        .iter_mut()
        .find(|m| m.name.ends_with("/METADATA"))
        .unwrap()
}

#[test]
fn encrypted_entries_are_refused() {
    let e = hostile(|m| metadata_member(m).flags = 1);
    assert_invalid(e, "/METADATA' is encrypted");
}

#[test]
fn compression_methods_other_than_stored_and_deflate_are_refused() {
    let e = hostile(|m| m[0].method = 12);
    assert_invalid(e, "uses compression method 12");
}

#[test]
fn a_bad_crc_is_refused() {
    let e = hostile(|m| metadata_member(m).crc = Some(0xdead_beef));
    assert_invalid(e, "fails its CRC-32 check");
}

#[test]
fn a_local_header_naming_another_file_is_refused() {
    let e = hostile(|m| {
        metadata_member(m).local_name = Some("Depot_Demo_lib-1.2.0.dist-info/METADATX".into())
    });
    assert_invalid(
        e,
        "is named 'Depot_Demo_lib-1.2.0.dist-info/METADATX' in its local header",
    );
}

#[test]
fn duplicate_names_are_refused() {
    let e = hostile(|m| {
        let again = metadata_member(m).clone();
        m.push(again);
    });
    assert_invalid(e, "/METADATA' twice");
}

#[test]
fn hostile_member_names_are_refused() {
    for (name, why) in [
        ("../../etc/passwd", "'..' component"),
        ("pkg/../../x", "'..' component"),
        ("/etc/passwd", "absolute path"),
        ("C:/windows", "absolute path"),
        ("pkg\\evil.py", "backslash"),
        ("pkg/\u{7}bell", "control character"),
    ] {
        let e = hostile(|m| m.insert(0, ZipMember::new(name, b"x")));
        assert_invalid(e, why);
    }
    // A name that is not UTF-8: patch the byte in the central directory.
    let w = lib();
    let mut bytes = zip_archive(&[ZipMember::new("zz", b"x")]);
    let at = bytes.windows(4).position(|s| s == b"PK\x01\x02").unwrap() + 46;
    bytes[at] = 0xff;
    assert_invalid(refused(&bytes, &w.file_name()), "not valid UTF-8");
}

#[test]
fn entry_and_name_limits_are_too_large() {
    let w = lib();
    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    assert!(matches!(
        inspect_with(&w.build(), &w.file_name(), &limits),
        Err(FormatError::TooLarge(m)) if m.contains("has 4 entries, more than the limit of 3")
    ));
    let long = format!("{}/x.py", "a".repeat(300));
    let w = lib().member(ZipMember::new(&long, b"x"));
    let limits = Limits {
        max_name: 256,
        ..Limits::default()
    };
    assert!(matches!(
        inspect_with(&w.build(), &w.file_name(), &limits),
        Err(FormatError::TooLarge(m)) if m.contains("305-byte name")
    ));
}

#[test]
fn an_oversized_metadata_is_too_large() {
    let mut meta = b"Metadata-Version: 2.1\nName: Depot.Demo_lib\nVersion: 1.2.0\n\n".to_vec();
    meta.resize(64 * 1024, b'x');
    let w = lib().raw_metadata(&meta);
    let limits = Limits {
        max_metadata: 16 * 1024,
        ..Limits::default()
    };
    assert!(matches!(
        inspect_with(&w.build(), &w.file_name(), &limits),
        Err(FormatError::TooLarge(m)) if m.contains("/METADATA' is 65536 bytes, more than the limit of 16 KiB")
    ));
    // Within the default limits the same wheel is fine.
    inspect(&w.build(), &w.file_name()).unwrap();
}

#[test]
fn a_size_that_lies_is_refused() {
    let w = lib();
    let mut bytes = w.build();
    // METADATA's central entry; its size field is at offset 24.
    let at = bytes.windows(4).position(|s| s == b"PK\x01\x02").unwrap();
    let meta_at = {
        let mut pos = at;
        loop {
            let n = u16::from_le_bytes([bytes[pos + 28], bytes[pos + 29]]) as usize;
            let name = &bytes[pos + 46..pos + 46 + n];
            if name.ends_with(b"/METADATA") {
                break pos;
            }
            pos += 46 + n;
        }
    };
    let size = u32::from_le_bytes(bytes[meta_at + 24..meta_at + 28].try_into().unwrap());
    bytes[meta_at + 24..meta_at + 28].copy_from_slice(&(size - 1).to_le_bytes());
    assert_invalid(refused(&bytes, &w.file_name()), "unpacks to");
}

#[test]
fn zip64_and_split_archives_are_refused() {
    let w = lib();
    let bytes = w.build();
    let eocd = bytes.len() - 22;
    let mut zip64 = bytes.clone();
    zip64[eocd + 8..eocd + 12].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert_invalid(refused(&zip64, &w.file_name()), "zip64");
    let mut split = bytes.clone();
    split[eocd + 4] = 1;
    assert_invalid(refused(&split, &w.file_name()), "split over several disks");
}

// ---- metadata content ----

#[test]
fn bad_metadata_is_refused() {
    for (meta, why) in [
        (&b"Name: x\nVersion: 1.0\n"[..], "no Metadata-Version"),
        (
            b"Metadata-Version: 3.0\nName: x\nVersion: 1.0\n",
            "Metadata-Version '3.0'",
        ),
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "no Name"),
        (b"Metadata-Version: 2.1\nName: x\n", "no Version"),
        (
            b"Metadata-Version: 2.1\nName: x\nName: y\nVersion: 1.0\n",
            "more than one name",
        ),
        (
            b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\nVersion: 2.0\n",
            "more than one version",
        ),
        (
            b"Metadata-Version: 2.1\nName: x y\nVersion: 1.0\n",
            "not a valid project name",
        ),
        (
            b"Metadata-Version: 2.1\nName: x\nVersion: 1.0-SNAPSHOT\n",
            "not a PEP 440 version",
        ),
        (
            b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\nnot a header\n",
            "is not 'Field: value'",
        ),
        (
            b" continued\nMetadata-Version: 2.1\n",
            "no field comes before it",
        ),
        (
            b"Metadata-Version: 2.1\nName: \xff\nVersion: 1.0\n",
            "not valid UTF-8",
        ),
    ] {
        let w = WheelBuilder::new("x", "1.0").raw_metadata(meta);
        assert_invalid(wheel_refused(&w), why);
    }
}

// ---- sdists ----

#[test]
fn an_sdist_gives_its_pkg_info_fields() {
    let s = SdistBuilder::new("Depot.Demo_lib", "1.2.0").requires_python(">=3.9");
    assert_eq!(s.file_name(), "Depot_Demo_lib-1.2.0.tar.gz");
    let info = inspect(&s.build(), &s.file_name()).unwrap();
    assert_eq!(info.kind, Kind::Sdist);
    assert_eq!(info.project, "depot-demo-lib");
    assert_eq!(info.version, "1.2.0");
    assert_eq!(info.requires_python.as_deref(), Some(">=3.9"));
    assert_eq!(info.metadata, None);
}

#[test]
fn legacy_sdist_names_with_dashes_are_read() {
    let s = SdistBuilder::new("Foo-Bar", "2.0").top("Foo-Bar-2.0");
    let info = inspect(&s.build(), "Foo-Bar-2.0.tar.gz").unwrap();
    assert_eq!(info.project, "foo-bar");
}

#[test]
fn an_sdist_whose_pkg_info_disagrees_with_its_name_is_refused() {
    let s = SdistBuilder::new("foo", "1.0");
    assert_invalid(
        refused(&s.build(), "bar-1.0.tar.gz"),
        "says project 'bar' version 1.0, but its PKG-INFO says Name: foo",
    );
    assert_invalid(refused(&s.build(), "foo-1.1.tar.gz"), "Version: 1.0");
}

#[test]
fn an_sdist_without_pkg_info_is_refused() {
    let s = SdistBuilder::new("foo", "1.0").without_pkg_info();
    assert_invalid(
        refused(&s.build(), &s.file_name()),
        "has no foo-1.0/PKG-INFO",
    );
}

#[test]
fn an_sdist_with_two_top_directories_is_refused() {
    let s = SdistBuilder::new("foo", "1.0").member("other/x.py", b"x");
    assert_invalid(
        refused(&s.build(), &s.file_name()),
        "more than one top-level directory",
    );
}

#[test]
fn an_sdist_with_a_traversal_member_is_refused() {
    let s = SdistBuilder::new("foo", "1.0").member("foo-1.0/../../evil", b"x");
    assert_invalid(refused(&s.build(), &s.file_name()), "'..' component");
}

#[test]
fn a_corrupt_or_cut_sdist_is_refused() {
    let s = SdistBuilder::new("foo", "1.0");
    let bytes = s.build();
    assert!(matches!(
        refused(b"not gzip", &s.file_name()),
        FormatError::NotAnArchive(_)
    ));
    let e = refused(&bytes[..bytes.len() - 4], &s.file_name());
    assert_invalid(e, "not a valid .tar.gz");
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 8] ^= 0xff; // the gzip CRC
    assert_invalid(refused(&flipped, &s.file_name()), "not a valid .tar.gz");
}

#[test]
fn an_sdist_bomb_is_too_large() {
    let s = SdistBuilder::new("foo", "1.0").member("foo-1.0/zeros", &vec![0u8; 4 << 20]);
    let limits = Limits {
        max_unpacked: 1 << 20,
        ..Limits::default()
    };
    assert!(matches!(
        inspect_with(&s.build(), &s.file_name(), &limits),
        Err(FormatError::TooLarge(m)) if m.contains("unpacks to more than 1 MiB")
    ));
}

#[test]
fn other_names_are_refused() {
    let s = SdistBuilder::new("foo", "1.0");
    assert_invalid(refused(&s.build(), "foo-1.0.zip"), "neither a wheel");
    assert_invalid(
        refused(&s.build(), "foo.tar.gz"),
        "not a source distribution name",
    );
}

// ---- detection evidence ----

#[test]
fn wheels_and_sdists_are_recognised_by_name_and_layout() {
    assert!(pypi::is_wheel_name("a-1-py3-none-any.whl"));
    assert!(!pypi::is_wheel_name(".whl"));
    assert!(pypi::is_sdist_name("foo_bar-1.0.tar.gz"));
    assert!(!pypi::is_sdist_name("backup.tar.gz"));
    let s = SdistBuilder::new("foo", "1.0");
    let head = &s.build()[..];
    assert!(pypi::looks_like_sdist(head, "foo-1.0.tar.gz"));
    assert!(!pypi::looks_like_sdist(head, "foo-2.0.tar.gz"));
    assert!(!pypi::looks_like_sdist(head, "backup.tar.gz"));
    assert!(!pypi::looks_like_sdist(b"PK\x03\x04", "foo-1.0.tar.gz"));
}

// ---- names ----

#[test]
fn names_are_normalized_as_pep_503_says() {
    for (name, want) in [
        ("friendly-bard", "friendly-bard"),
        ("Friendly-Bard", "friendly-bard"),
        ("FRIENDLY-BARD", "friendly-bard"),
        ("friendly.bard", "friendly-bard"),
        ("friendly_bard", "friendly-bard"),
        ("friendly--bard", "friendly-bard"),
        ("FrIeNdLy-._.-bArD", "friendly-bard"),
        ("zope.interface", "zope-interface"),
        ("a", "a"),
    ] {
        assert_eq!(pypi::normalize(name), want, "{name}");
    }
}

// ---- PEP 440 ----

/// Ascending, each strictly greater than the one before (the examples of
/// PEP 440's "Summary of permitted suffixes and relative ordering" and
/// packaging's test suite).
const ORDERED: &[&str] = &[
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
    "1.2",
    "1.10",
    "2.0.dev0",
    "2.0",
    "1!0.1",
    "1!1.0",
];

#[test]
fn pep_440_orders_versions_as_packaging_does() {
    for (i, a) in ORDERED.iter().enumerate() {
        for (j, b) in ORDERED.iter().enumerate() {
            assert_eq!(pypi::version::compare(a, b), i.cmp(&j), "{a} against {b}");
        }
    }
}

#[test]
fn pep_440_equal_versions_and_normal_forms() {
    for (input, normal) in [
        ("1.0", "1.0"),
        ("v1.0", "1.0"),
        ("  1.0  ", "1.0"),
        ("1.0-RC-1", "1.0rc1"),
        ("1.0c1", "1.0rc1"),
        ("1.0pre1", "1.0rc1"),
        ("1.0preview2", "1.0rc2"),
        ("1.0alpha", "1.0a0"),
        ("1.0.beta.3", "1.0b3"),
        ("1.0-1", "1.0.post1"),
        ("1.0-post1", "1.0.post1"),
        ("1.0_post_1", "1.0.post1"),
        ("1.0rev2", "1.0.post2"),
        ("1.0r", "1.0.post0"),
        ("1.0-dev", "1.0.dev0"),
        ("1.0DEV3", "1.0.dev3"),
        ("1.0+Ubuntu-1", "1.0+ubuntu.1"),
        ("1!2.0", "1!2.0"),
        ("0!2.0", "2.0"),
        ("01.002", "1.2"),
    ] {
        let v = Version::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(v.to_string(), normal, "{input}");
        assert_eq!(v, Version::parse(normal).unwrap(), "{input}");
    }
    for (a, b) in [("1.0", "1.0.0"), ("1", "1.0.0.0"), ("1.0.post1", "1.0.0-1")] {
        assert_eq!(pypi::version::compare(a, b), Ordering::Equal, "{a} {b}");
    }
    assert_ne!(
        Version::parse("1.0").unwrap(),
        Version::parse("1.0+0").unwrap()
    );
}

#[test]
fn legacy_versions_are_not_pep_440() {
    for bad in [
        "",
        "1.0-SNAPSHOT",
        "2004d",
        "1.0.",
        ".1",
        "1..0",
        "1.0a1a2",
        "1.0+",
        "1.0+a..b",
        "1.0-",
        "a1.0",
        "1.0 beta",
        "1.0.post1.post2",
        "99999999999999999999999",
    ] {
        assert!(Version::parse(bad).is_err(), "{bad:?} was accepted");
    }
    // Invalid versions sort before valid ones, so listings never fail.
    assert_eq!(pypi::version::compare("junk", "0.0.1"), Ordering::Less);
}

// ---- the index ----

fn files() -> Vec<IndexFile> {
    let lib = lib();
    let lib_info = inspect(&lib.build(), &lib.file_name()).unwrap();
    let sdist = SdistBuilder::new("Depot.Demo_lib", "1.10.0");
    let sdist_info = inspect(&sdist.build(), &sdist.file_name()).unwrap();
    let app = WheelBuilder::new("depot-app", "0.1").requires_dist("depot-demo-lib>=1");
    let app_info = inspect(&app.build(), &app.file_name()).unwrap();
    vec![
        IndexFile::new(&sdist_info, &sdist.file_name(), &"cd".repeat(32), 300),
        IndexFile::new(&app_info, &app.file_name(), &"AB".repeat(32), 200),
        IndexFile::new(&lib_info, &lib.file_name(), &"ef".repeat(32), 100),
    ]
}

#[test]
fn the_index_entry_carries_the_metadata_and_its_hash() {
    let f = files();
    let lib = &f[2];
    assert_eq!(
        lib.metadata.as_deref().map(str::as_bytes),
        Some(&crate::lib().metadata()[..])
    );
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(crate::lib().metadata())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(lib.metadata_sha256.as_deref(), Some(&*want));
    assert_eq!(f[0].metadata_sha256, None, "sdists have no .metadata");
    assert_eq!(f[1].sha256, "ab".repeat(32), "hashes are lowercase");
    let round: IndexFile = serde_json::from_str(&serde_json::to_string(lib).unwrap()).unwrap();
    assert_eq!(&round, lib);
}

#[test]
fn the_root_page_lists_every_project_once_sorted() {
    let html = index::root_html(&files());
    assert_eq!(
        html,
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n    <h1>Simple index</h1>\n    <a href=\"depot-app/\">depot-app</a><br>\n    <a href=\"depot-demo-lib/\">depot-demo-lib</a><br>\n  </body>\n</html>\n"
    );
    let json: serde_json::Value = serde_json::from_str(&index::root_json(&files())).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"meta": {"api-version": "1.1"},
            "projects": [{"name": "depot-app"}, {"name": "depot-demo-lib"}]})
    );
}

#[test]
fn a_project_page_links_every_file_with_hash_requires_python_and_metadata() {
    let f = files();
    let meta = f[2].metadata_sha256.clone().unwrap();
    let html = index::project_html(&f, "depot-demo-lib");
    let want = format!(
        "    <a href=\"../../files/Depot_Demo_lib-1.2.0-py3-none-any.whl#sha256={ef}\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={meta}\" data-core-metadata=\"sha256={meta}\">Depot_Demo_lib-1.2.0-py3-none-any.whl</a><br>\n    <a href=\"../../files/Depot_Demo_lib-1.10.0.tar.gz#sha256={cd}\">Depot_Demo_lib-1.10.0.tar.gz</a><br>\n",
        ef = "ef".repeat(32),
        cd = "cd".repeat(32),
    );
    assert!(html.contains(&want), "{html}");
    assert!(html.contains("<title>Links for depot-demo-lib</title>"));
    assert!(!html.contains("depot-app"));

    let json: serde_json::Value =
        serde_json::from_str(&index::project_json(&f, "depot-demo-lib")).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "meta": {"api-version": "1.1"},
            "name": "depot-demo-lib",
            "versions": ["1.2.0", "1.10.0"],
            "files": [
                {"filename": "Depot_Demo_lib-1.2.0-py3-none-any.whl",
                 "url": "../../files/Depot_Demo_lib-1.2.0-py3-none-any.whl",
                 "hashes": {"sha256": "ef".repeat(32)},
                 "requires-python": ">=3.8",
                 "core-metadata": {"sha256": meta},
                 "dist-info-metadata": {"sha256": meta},
                 "size": 100},
                {"filename": "Depot_Demo_lib-1.10.0.tar.gz",
                 "url": "../../files/Depot_Demo_lib-1.10.0.tar.gz",
                 "hashes": {"sha256": "cd".repeat(32)},
                 "core-metadata": false,
                 "dist-info-metadata": false,
                 "size": 300},
            ]
        })
    );
}

#[test]
fn attribute_values_and_file_names_are_escaped() {
    let f = IndexFile {
        filename: "x-1.0+a&b.tar.gz".into(),
        project: "x".into(),
        version: "1.0".into(),
        sha256: "00".repeat(32),
        size: 1,
        requires_python: Some(">=3.8,<4,!='3.9'\"".into()),
        metadata: None,
        metadata_sha256: None,
    };
    let html = index::project_html(&[f], "x");
    assert!(
        html.contains("<a href=\"../../files/x-1.0+a%26b.tar.gz#sha256=0000"),
        "{html}"
    );
    assert!(html.contains(
        "data-requires-python=\"&gt;=3.8,&lt;4,!=&#x27;3.9&#x27;&quot;\">x-1.0+a&amp;b.tar.gz</a>"
    ), "{html}");
}

#[test]
fn rendering_is_deterministic_whatever_the_input_order() {
    let mut f = files();
    let a = index::render(&f);
    f.reverse();
    assert_eq!(index::render(&f), a);
    let paths: Vec<&str> = a.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "depot-app/index.html",
            "depot-app/index.json",
            "depot-demo-lib/index.html",
            "depot-demo-lib/index.json",
            "index.html",
            "index.json"
        ]
    );
}

#[test]
fn content_negotiation_follows_pep_691() {
    use Representation::*;
    for (accept, want) in [
        (None, Some(Html)),
        (Some(""), Some(Html)),
        (Some("text/html"), Some(Html)),
        (Some("*/*"), Some(Html)),
        (Some("application/vnd.pypi.simple.v1+json"), Some(Json)),
        (Some("application/vnd.pypi.simple.latest+json"), Some(Json)),
        (Some("application/vnd.pypi.simple.v1+html"), Some(V1Html)),
        // What pip 23 sends.
        (
            Some(
                "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
            ),
            Some(Json),
        ),
        (
            Some("text/html, application/vnd.pypi.simple.v1+json;q=0.5"),
            Some(Html),
        ),
        (
            Some("application/vnd.pypi.simple.v1+json;q=0.2, */*;q=0.1"),
            Some(Json),
        ),
        (Some("application/*"), Some(V1Html)),
        (
            Some("application/vnd.pypi.simple.v1+json;q=0, text/html"),
            Some(Html),
        ),
        (Some("application/json"), None),
        (Some("text/html;q=0"), None),
        (Some("application/vnd.pypi.simple.v2+json"), None),
    ] {
        assert_eq!(index::negotiate(accept), want, "{accept:?}");
    }
    assert_eq!(Json.content_type(), "application/vnd.pypi.simple.v1+json");
    assert_eq!(Json.file_name(), "index.json");
    assert_eq!(V1Html.file_name(), "index.html");
}

#[test]
fn the_registry_detects_wheels_and_sdists_and_leaves_other_tarballs_alone() {
    use depot_core::Format;
    let registry = depot_formats::FormatRegistry::default();
    let detect = |bytes: &[u8], name: &str| registry.detect(bytes, name).id();
    let w = lib();
    assert_eq!(detect(&w.build(), &w.file_name()), Format::Pypi);
    // A broken wheel still goes to the wheel reader, which says why.
    assert_eq!(detect(b"<html>", "x-1.0-py3-none-any.whl"), Format::Pypi);
    let s = SdistBuilder::new("foo", "1.0");
    assert_eq!(detect(&s.build(), &s.file_name()), Format::Pypi);
    // A tarball not laid out as `{name}-{version}/` stays a generic file.
    assert_eq!(detect(&s.build(), "backup.tar.gz"), Format::File);
    let other = SdistBuilder::new("foo", "1.0").top("src");
    assert_eq!(detect(&other.build(), "foo-1.0.tar.gz"), Format::File);
    // Another zip is no wheel.
    assert_eq!(detect(&w.build(), "archive.zip"), Format::File);
}
