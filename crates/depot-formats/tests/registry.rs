//! The format registry: every built-in format is registered, detects what
//! its own testkit builder makes and reads it back, detection priorities
//! settle the ambiguous cases as `detect.rs` documents, and a format from
//! outside the crate plugs in with one `.with(..)`.

use depot_core::{Format, Hashes, Timestamp};
use depot_formats::{
    Evidence, FormatError, FormatRegistry, Head, InspectInput, Inspected, PackageFormat,
};
use depot_testkit::{
    ApkBuilder, Compression, DebBuilder, FreebsdBuilder, PacmanBuilder, RpmBuilder, TarMember,
};
use std::cmp::Ordering;
use std::io::Read;

/// A package of `format` as its testkit builder makes it: (file name,
/// bytes, name, version).
fn sample(format: Format) -> Option<(String, Vec<u8>, &'static str, &'static str)> {
    Some(match format {
        Format::Deb => {
            let b = DebBuilder::new("hello", "1.0-1", "amd64");
            (b.file_name(), b.build(), "hello", "1.0-1")
        }
        Format::Rpm => {
            let b = RpmBuilder::new("hello", "1.0", "1", "x86_64");
            (b.file_name(), b.build(), "hello", "1.0-1")
        }
        Format::Pacman => {
            let b = PacmanBuilder::new("hello", "1.0-1", "x86_64");
            (b.file_name(), b.build(), "hello", "1.0-1")
        }
        Format::Apk => {
            let b = ApkBuilder::new("hello", "1.0-r0", "x86_64");
            (b.file_name(), b.build(), "hello", "1.0-r0")
        }
        Format::Freebsd => {
            let b = FreebsdBuilder::new("hello", "1.0_1", "FreeBSD:14:amd64");
            (b.file_name(), b.build(), "hello", "1.0_1")
        }
        Format::Pypi => {
            let b = depot_testkit::WheelBuilder::new("hello", "1.0");
            (b.file_name(), b.build(), "hello", "1.0")
        }
        _ => return None,
    })
}

fn inspect(
    format: &dyn PackageFormat,
    file_name: &str,
    bytes: &[u8],
) -> Result<Inspected, FormatError> {
    let hashes = Hashes::of(bytes);
    let input = InspectInput {
        file_name,
        size: bytes.len() as u64,
        hashes: &hashes,
        file_time: Timestamp(1_700_000_000),
    };
    let mut reader: &[u8] = bytes;
    format.inspect(&mut reader, &input)
}

#[test]
fn every_format_is_registered_and_has_its_name() {
    let registry = FormatRegistry::default();
    for &f in Format::ALL {
        let format = registry
            .get(f)
            .unwrap_or_else(|| panic!("{f:?} is not registered"));
        assert_eq!(format.id(), f);
    }
}

/// Each format's `sniff` agrees with its own `inspect`: what the builder
/// makes is detected as that format, by content alone (an uninformative
/// name) and under its usual name, and reading it back gives the name and
/// version it was built with, and a file name the format accepts.
#[test]
fn each_format_detects_and_reads_what_its_builder_makes() {
    let registry = FormatRegistry::default();
    let mut checked = 0;
    for &f in Format::ALL {
        let Some((file_name, bytes, name, version)) = sample(f) else {
            continue;
        };
        let head = &bytes[..bytes.len().min(4096)];
        assert_eq!(registry.detect(head, &file_name).id(), f, "{file_name}");
        // Pacman's compressed tars and Python's wheels (zips) and sdists
        // (.tar.gz) are recognised by name only: their first bytes say
        // nothing about pacman or Python. Every other format by content.
        if !matches!(f, Format::Pacman | Format::Pypi) {
            assert_eq!(
                registry.detect(head, "upload.bin").id(),
                f,
                "{f:?} by content"
            );
        }
        let format = registry.get(f).unwrap();
        format
            .check_file_name(&file_name)
            .unwrap_or_else(|e| panic!("{file_name}: {e}"));
        let inspected = inspect(format, &file_name, &bytes)
            .unwrap_or_else(|e| panic!("{f:?} refused its own builder's package: {e}"));
        assert_eq!(inspected.name, name, "{f:?}");
        assert_eq!(inspected.version, version, "{f:?}");
        assert!(!inspected.arch.is_empty(), "{f:?}");
        assert!(!inspected.entry.is_empty(), "{f:?}");
        assert!(inspected.fields.is_object(), "{f:?}");
        checked += 1;
    }
    assert_eq!(
        checked,
        Format::ALL.len() - 1,
        "every format but File has a sample here"
    );
}

/// A format refuses what another format's builder makes (so a wrong
/// detection could not slip through as a package of the wrong kind).
#[test]
fn each_format_refuses_the_others_packages() {
    let registry = FormatRegistry::default();
    for &f in Format::ALL {
        let Some((_, bytes, ..)) = sample(f) else {
            continue;
        };
        for &g in Format::ALL {
            if g == f || g == Format::File {
                continue;
            }
            let e = inspect(registry.get(g).unwrap(), "x", &bytes);
            assert!(e.is_err(), "{g:?} accepted a {f:?} package");
        }
    }
}

#[test]
fn the_generic_file_reads_nothing_and_has_no_entry() {
    let registry = FormatRegistry::default();
    let file = registry.get(Format::File).unwrap();
    let inspected = inspect(file, "notes.txt", b"hello").unwrap();
    assert_eq!(inspected.name, "");
    assert_eq!(inspected.entry, "");
    assert_eq!(inspected.fields, serde_json::json!({}));
    assert!(file.check_file_name("any name (1).txt").is_ok());
    assert_eq!(registry.detect(b"hello", "notes.txt").id(), Format::File);
}

/// The detection cases where two rules meet, each settled by an
/// explicit [`Evidence`] priority rather than by branch order.
#[test]
fn evidence_priorities_settle_the_overlaps() {
    let registry = FormatRegistry::default();
    let detect = |head: &[u8], name: &str| registry.detect(head, name).id();

    // A gzip'd tar whose first member is `.PKGINFO`: an apk by content,
    // but pacman's reserved name outranks that.
    let apk = ApkBuilder::new("a", "1-r0", "noarch").build();
    assert_eq!(detect(&apk, "upload.bin"), Format::Apk);
    assert_eq!(detect(&apk, "a-1-1-any.pkg.tar.gz"), Format::Pacman);
    let pacman_gz = PacmanBuilder::new("a", "1-1", "any")
        .compression(Compression::Gzip)
        .build();
    assert_eq!(detect(&pacman_gz, "a-1-1-any.pkg.tar.gz"), Format::Pacman);

    // An uncompressed pacman tar is pacman by its magic whatever its name.
    let pacman_tar = PacmanBuilder::new("a", "1-1", "any")
        .compression(Compression::None)
        .build();
    assert_eq!(detect(&pacman_tar[..512], "a.pkg"), Format::Pacman);

    // Magic beats every name.
    let rpm = RpmBuilder::new("a", "1", "1", "x86_64").build();
    assert_eq!(detect(&rpm[..512], "a-1-1-x86_64.pkg.tar.zst"), Format::Rpm);
    assert_eq!(detect(&rpm[..512], "a.apk"), Format::Rpm);
    let deb = DebBuilder::new("a", "1", "all").build();
    assert_eq!(detect(&deb, "a.rpm"), Format::Deb);

    // A first member beats another format's name.
    let pkg = FreebsdBuilder::new("a", "1", "FreeBSD:14:amd64").build();
    assert_eq!(detect(&pkg, "a.rpm"), Format::Freebsd);
    assert_eq!(detect(&apk, "a.deb"), Format::Apk);

    // A name whose content is clearly something else gives no evidence.
    assert_eq!(detect(b"PK\x03\x04rest", "game.apk"), Format::File);
    assert_eq!(detect(b"PK\x03\x04rest", "installer.pkg"), Format::File);
    assert_eq!(detect(b"xar!\x00\x1c", "installer.pkg"), Format::File);
    // ...while a broken package under its name goes to its reader.
    assert_eq!(detect(b"<html>", "a-1.0.pkg"), Format::Freebsd);
    assert_eq!(detect(b"<html>", "a-1.0-r0.apk"), Format::Apk);

    // A plain tar whose first member is something else is a file.
    let tar = depot_testkit::tar_archive(&[TarMember::File("README", b"x")]);
    assert_eq!(detect(&tar, "upload.tar"), Format::File);
}

/// A format defined outside depot-formats: claims `*.nupkg` by name
/// (NuGet packages, zip content; `*.whl` was the example before Python
/// packages became a built-in format).
struct Nupkg;

impl PackageFormat for Nupkg {
    fn id(&self) -> Format {
        // Stands in for a variant a new format would add to `formats!`.
        Format::File
    }
    fn sniff(&self, head: &Head<'_>) -> Option<Evidence> {
        head.has_extension(&[".nupkg"]).then_some(Evidence::Name)
    }
    fn check_file_name(&self, _: &str) -> Result<(), FormatError> {
        Ok(())
    }
    fn inspect(&self, file: &mut dyn Read, _: &InspectInput<'_>) -> Result<Inspected, FormatError> {
        let mut s = String::new();
        file.read_to_string(&mut s)?;
        Ok(Inspected {
            name: s.clone(),
            version: String::new(),
            arch: String::new(),
            fields: serde_json::json!({}),
            entry: s,
        })
    }
    fn compare_versions(&self, a: &str, b: &str) -> Ordering {
        a.len().cmp(&b.len())
    }
    fn content_type(&self) -> &'static str {
        "application/zip"
    }
}

#[test]
fn a_format_from_outside_plugs_in_with_one_line() {
    let registry = FormatRegistry::default().with(Nupkg);
    let found = registry.detect(b"PK\x03\x04", "x.1.0.nupkg");
    assert_eq!(found.content_type(), "application/zip");
    assert_eq!(registry.content_type(Format::File), "application/zip");
    assert_eq!(
        registry.compare_versions(Format::File, "1", "10"),
        Ordering::Less
    );
    // The other formats are untouched.
    assert_eq!(registry.detect(b"", "a.deb").id(), Format::Deb);
}

#[test]
fn content_types_per_format() {
    let registry = FormatRegistry::default();
    let types: Vec<(Format, &str)> = Format::ALL
        .iter()
        .map(|&f| (f, registry.content_type(f)))
        .collect();
    assert_eq!(
        types,
        [
            (Format::Deb, "application/vnd.debian.binary-package"),
            (Format::Rpm, "application/x-rpm"),
            (Format::Pacman, "application/octet-stream"),
            (Format::Apk, "application/octet-stream"),
            (Format::Freebsd, "application/octet-stream"),
            (Format::Pypi, "application/octet-stream"),
            (Format::File, "application/octet-stream"),
        ]
    );
}

#[test]
fn each_format_orders_versions_as_its_tools_do() {
    let registry = FormatRegistry::default();
    let cmp = |f, a, b| registry.compare_versions(f, a, b);
    assert_eq!(cmp(Format::Deb, "1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(cmp(Format::Rpm, "1:1.0-1", "2.0-1"), Ordering::Greater);
    assert_eq!(cmp(Format::Pacman, "1.0-1", "1.0.1-1"), Ordering::Less);
    assert_eq!(cmp(Format::Freebsd, "1.9_1", "1.10"), Ordering::Less);
    assert_eq!(cmp(Format::Freebsd, "2.0", "1.0,1"), Ordering::Less);
    assert_eq!(cmp(Format::File, "", ""), Ordering::Equal);
}

#[test]
fn file_names_are_checked_by_each_format_with_its_own_characters() {
    let registry = FormatRegistry::default();
    let ok = |f, n: &str| registry.get(f).unwrap().check_file_name(n).is_ok();
    assert!(ok(Format::Deb, "hello_1.0+b1~x_amd64.deb"));
    assert!(!ok(Format::Deb, "hello:1.0.deb"));
    assert!(ok(Format::Pacman, "hello-1:1.0-1-x86_64.pkg.tar.zst"));
    assert!(ok(Format::Pacman, "lib@x-1-1-any.pkg.tar.zst"));
    assert!(!ok(Format::Apk, "hello@1.0-r0.apk"));
    assert!(ok(Format::Freebsd, "hello-1.0_1,1.pkg"));
    assert!(!ok(Format::Rpm, "hello,1.rpm"));
    match registry
        .get(Format::Freebsd)
        .unwrap()
        .check_file_name("a b.pkg")
    {
        Err(FormatError::FileName(m)) => assert_eq!(
            m,
            "file name 'a b.pkg' of a FreeBSD package may only contain letters, digits and . _ + ~ , -"
        ),
        other => panic!("{other:?}"),
    }
}
