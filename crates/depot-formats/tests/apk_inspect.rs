//! Reading `.apk` v2 packages: good ones give the fields and `C:` apk
//! computes, a real APKINDEX block is rendered byte for byte from its
//! real `.PKGINFO`, and every kind of bad input is refused with the right
//! error.

use depot_formats::FormatError;
use depot_formats::apk::{self, ApkInfo, Limits};
use depot_testkit::{ApkBuilder, apk_bomb};
use sha1::{Digest, Sha1};

fn inspect(bytes: &[u8]) -> Result<ApkInfo, FormatError> {
    apk::inspect(bytes, &Limits::default())
}

fn q1(control: &[u8]) -> String {
    format!(
        "Q1{}",
        depot_formats::pacman::base64_encode(&Sha1::digest(control))
    )
}

fn hello() -> ApkBuilder {
    ApkBuilder::new("hello", "2.12.1-r0", "x86_64")
        .desc("prints a friendly greeting")
        .field("url", "https://www.gnu.org/software/hello/")
        .field("origin", "hello")
        .field("commit", "0123456789abcdef")
        .field("maintainer", "Jane <jane@example.org>")
        .field("license", "GPL-3.0-or-later")
        .field("provider_priority", "10")
        .depends("so:libc.musl-x86_64.so.1")
        .depends("musl>=1.2")
        .provides("cmd:hello=2.12.1-r0")
        .field("install_if", "hello-base docs")
        .file("usr/bin/hello", b"#!/bin/sh\necho hello\n")
        .file("usr/share/doc/hello/README", b"hi\n")
}

#[test]
fn reads_an_unsigned_package() {
    let b = hello();
    let bytes = b.build();
    let info = inspect(&bytes).unwrap();
    assert_eq!(info.name, "hello");
    assert_eq!(info.version, "2.12.1-r0");
    assert_eq!(info.arch, "x86_64");
    assert_eq!(info.desc, "prints a friendly greeting");
    assert_eq!(info.url, "https://www.gnu.org/software/hello/");
    assert_eq!(info.origin, "hello");
    assert_eq!(info.commit, "0123456789abcdef");
    assert_eq!(info.maintainer, "Jane <jane@example.org>");
    assert_eq!(info.license, "GPL-3.0-or-later");
    assert_eq!(info.provider_priority, 10);
    assert_eq!(info.build_time, depot_testkit::MTIME);
    assert_eq!(info.installed_size, 24);
    assert_eq!(info.depends, ["so:libc.musl-x86_64.so.1", "musl>=1.2"]);
    assert_eq!(info.provides, ["cmd:hello=2.12.1-r0"]);
    assert_eq!(info.install_if, ["hello-base", "docs"]);
    assert_eq!(info.checksum, q1(&b.control_stream()));
    assert!(info.signatures.is_empty());
    // usr/ usr/bin/ usr/share/ usr/share/doc/ usr/share/doc/hello/ + 2 files
    assert_eq!(info.file_count, 7);
    let entry = apk::index_entry(&info, bytes.len() as u64);
    assert_eq!(
        entry,
        format!(
            "C:{}\nP:hello\nV:2.12.1-r0\nA:x86_64\nS:{}\nI:24\nT:prints a friendly greeting\n\
             U:https://www.gnu.org/software/hello/\nL:GPL-3.0-or-later\no:hello\n\
             m:Jane <jane@example.org>\nt:{}\nc:0123456789abcdef\nk:10\n\
             D:so:libc.musl-x86_64.so.1 musl>=1.2\np:cmd:hello=2.12.1-r0\ni:hello-base docs\n",
            q1(&b.control_stream()),
            bytes.len(),
            depot_testkit::MTIME
        )
    );
}

#[test]
fn reads_a_signed_noarch_package_and_skips_the_signature_in_c() {
    let b = ApkBuilder::new("alpine-keys", "2.4-r1", "noarch")
        .signature(".SIGN.RSA.builder-5e69ca50.rsa.pub", &[7u8; 256])
        .control_member(".post-install", b"#!/bin/sh\n")
        .file("etc/apk/keys/x.rsa.pub", b"key\n");
    let info = inspect(&b.build()).unwrap();
    assert_eq!(info.arch, "noarch");
    assert_eq!(info.signatures, [".SIGN.RSA.builder-5e69ca50.rsa.pub"]);
    assert_eq!(info.checksum, q1(&b.control_stream()));
}

#[test]
fn a_real_apkindex_block_is_rendered_from_its_real_pkginfo() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/apk");
    let index = std::fs::read_to_string(format!("{dir}/APKINDEX.strace")).unwrap();
    let blocks = apk::parse_index(&index).unwrap();
    assert_eq!(blocks.len(), 1);
    let get = |k: char| {
        blocks[0]
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get('P'), "strace");
    let pkginfo = std::fs::read(format!("{dir}/strace.PKGINFO")).unwrap();
    let mut info = ApkInfo::default();
    apk::parse_pkginfo(&pkginfo, &mut info).unwrap();
    // What only the package file gives: C: and S:.
    info.checksum = get('C');
    let size: u64 = get('S').parse().unwrap();
    assert_eq!(format!("{}\n", apk::index_entry(&info, size)), index);
}

#[test]
fn parse_index_refuses_garbage() {
    assert!(apk::parse_index("P:x\nV:1\n").is_err(), "no C:");
    assert!(apk::parse_index("C:Q1=\nP:x\nV:1\nnonsense\n").is_err());
    assert_eq!(
        apk::parse_index("C:Q1=\nP:a\nV:1\n\nC:Q1=\nP:b\nV:2\n\n")
            .unwrap()
            .len(),
        2
    );
}

fn refused(bytes: &[u8]) -> FormatError {
    match inspect(bytes) {
        Ok(info) => panic!("accepted: {info:?}"),
        Err(e) => e,
    }
}

#[test]
fn wrong_magic_and_empty_files() {
    assert!(matches!(refused(b""), FormatError::NotAnArchive(_)));
    assert!(matches!(
        refused(b"<html>404</html>"),
        FormatError::NotAnArchive(_)
    ));
    let e = refused(b"PK\x03\x04 android");
    assert!(e.to_string().contains("zip"), "{e}");
    assert!(matches!(refused(b"\x1f"), FormatError::Truncated(_)));
    assert!(matches!(refused(b"ADBd...."), FormatError::Invalid(_)));
}

#[test]
fn truncated_packages_are_refused() {
    let b = hello();
    let bytes = b.build();
    let control = b.control_stream().len();
    for cut in [
        10,
        control / 2,
        control,
        control + 10,
        bytes.len() - 30,
        bytes.len() - 1,
    ] {
        let e = refused(&bytes[..cut]);
        assert!(
            matches!(e, FormatError::Truncated(_)),
            "cut at {cut}: {e:?}"
        );
    }
}

#[test]
fn missing_or_bad_pkginfo_fields_are_refused() {
    let without = |key: &str| {
        let text = String::from_utf8(hello().pkginfo()).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} = ")))
            .map(|l| format!("{l}\n"))
            .collect();
        hello().raw_pkginfo(kept.as_bytes()).build()
    };
    for key in ["pkgname", "pkgver", "arch"] {
        let e = refused(&without(key));
        assert!(e.to_string().contains(key), "{key}: {e}");
    }
    for (name, version, arch) in [
        ("bad/name", "1.0-r0", "x86_64"),
        ("-dash", "1.0-r0", "x86_64"),
        ("a b", "1.0-r0", "x86_64"),
        ("ok", "1.0-1", "x86_64"),
        ("ok", "one", "x86_64"),
        ("ok", "1.0-r0", "x86-64"),
    ] {
        let e = refused(&ApkBuilder::new(name, version, arch).build());
        assert!(
            matches!(e, FormatError::Invalid(_)),
            "{name} {version} {arch}: {e}"
        );
    }
    let e = refused(
        &hello()
            .raw_pkginfo(b"pkgname = a\r\npkgver = 1-r0\narch = x86\n")
            .build(),
    );
    assert!(e.to_string().contains("control character"), "{e}");
    let e = refused(&hello().desc("two\rlines").build());
    assert!(e.to_string().contains("control character"), "{e}");
    let e = refused(&hello().raw_pkginfo(b"pkgname=a\n").build());
    assert!(e.to_string().contains("key = value"), "{e}");
    let e = refused(&hello().field("size", "lots").build());
    assert!(
        e.to_string().contains("two 'size'") || e.to_string().contains("number"),
        "{e}"
    );
}

#[test]
fn control_without_pkginfo_or_with_files_is_refused() {
    let e = refused(&hello().raw_pkginfo(b"").build());
    assert!(e.to_string().contains("no pkgname"), "{e}");
    let b = ApkBuilder::new("x", "1-r0", "noarch").control_member("usr/bin/x", b"x");
    let e = refused(&b.build());
    assert!(e.to_string().contains("control stream holds"), "{e}");
}

#[test]
fn path_traversal_and_absolute_paths_are_refused() {
    for bad in [
        "../etc/passwd",
        "usr/../../etc/shadow",
        "/etc/passwd",
        "usr/bin/a\nb",
    ] {
        let b = ApkBuilder::new("evil", "1-r0", "noarch").data_member(bad, b"x");
        let e = refused(&b.build());
        assert!(matches!(e, FormatError::Invalid(_)), "{bad:?}: {e:?}");
    }
}

#[test]
fn a_tampered_data_stream_fails_its_datahash() {
    let good = hello();
    let other = hello().file("usr/bin/backdoor", b"x");
    // The control of `good` (its datahash) with the data of `other`.
    let mut bytes = good.control_stream();
    bytes.extend(other.data_stream());
    let e = refused(&bytes);
    assert!(e.to_string().contains("datahash"), "{e}");
    // Without a datahash the same package is fine.
    let mut bytes = hello().without_datahash().control_stream();
    bytes.extend(other.data_stream());
    inspect(&bytes).unwrap();
}

#[test]
fn trailing_bytes_and_missing_data_are_refused() {
    let mut bytes = hello().build();
    bytes.extend_from_slice(b"junk");
    let e = refused(&bytes);
    assert!(matches!(e, FormatError::Invalid(_)), "{e:?}");
    let e = refused(&hello().control_stream());
    assert!(matches!(e, FormatError::Truncated(_)), "{e:?}");
}

#[test]
fn bombs_stop_at_the_limit() {
    let limits = Limits {
        max_unpacked: 8 << 20,
        ..Limits::default()
    };
    let e = apk::inspect(&apk_bomb(64 << 20)[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = apk::inspect(&apk_bomb(64 << 20)[..], &limits).unwrap_err();
    assert!(e.to_string().contains("times"), "{e}");
    // A control segment past its limit.
    let big = hello().control_member(".post-install", &vec![b'#'; 64 << 10]);
    let limits = Limits {
        max_control: 32 << 10,
        ..Limits::default()
    };
    let e = apk::inspect(&big.build()[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
}

#[test]
fn detected_by_content_and_name() {
    use depot_core::Format;
    use depot_formats::detect::sniff;
    let bytes = hello().build();
    assert_eq!(
        sniff(&bytes[..bytes.len().min(4096)], "upload.bin"),
        Format::Apk
    );
    let signed = ApkBuilder::new("a", "1-r0", "noarch")
        .signature(".SIGN.RSA.k.rsa.pub", &[1; 256])
        .build();
    assert_eq!(sniff(&signed, "x"), Format::Apk);
    assert_eq!(sniff(b"<html>", "hello-1.0-r0.apk"), Format::Apk);
    assert_eq!(sniff(b"PK\x03\x04rest", "game.apk"), Format::File);
    assert_eq!(sniff(b"\x1f\x8b\x08\x00", "backup.tar.gz"), Format::File);
}
