//! `pacman::inspect` on good packages of every compression and on every
//! kind of bad input: each refusal is the right [`FormatError`] variant with
//! a message that names the problem.

use depot_formats::FormatError;
use depot_formats::pacman::{self, Limits, PacmanInfo};
use depot_testkit::{Compression, PacmanBuilder, TarMember, pacman_bomb};

fn inspect(bytes: &[u8]) -> Result<PacmanInfo, FormatError> {
    pacman::inspect(bytes, &Limits::default())
}

#[track_caller]
fn refused(bytes: &[u8], limits: &Limits) -> FormatError {
    match pacman::inspect(bytes, limits) {
        Ok(info) => panic!("accepted: {info:?}"),
        Err(e) => e,
    }
}

fn hello() -> PacmanBuilder {
    PacmanBuilder::new("hello", "2:1.0.r3.gabc-2", "x86_64")
        .depends("glibc>=2.34")
        .depends("sh")
        .field("optdepend", "bash-completion: for completion")
        .field("makedepend", "cmake")
        .field("checkdepend", "python")
        .provides("hello-cli=1.0")
        .field("conflict", "hello-git")
        .field("replaces", "hello-old")
        .field("group", "demo")
        .license("MIT")
        .license("custom:depot")
        .field("backup", "etc/hello.conf")
        .executable("usr/bin/hello", b"#!/bin/sh\necho hello\n")
        .file("etc/hello.conf", b"greeting=hi\n")
        .file(
            "usr/lib/systemd/system/hello\\x2dworld.service",
            b"[Unit]\n",
        )
}

#[test]
fn reads_every_compression() {
    for c in Compression::ALL {
        let p = hello().compression(c);
        let info = inspect(&p.build()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(info.name, "hello");
        assert_eq!(info.base, "hello");
        assert_eq!(info.version, "2:1.0.r3.gabc-2");
        assert_eq!(info.arch, "x86_64");
        assert_eq!(info.depends, ["glibc>=2.34", "sh"]);
        assert_eq!(info.optdepends, ["bash-completion: for completion"]);
        assert_eq!(info.makedepends, ["cmake"]);
        assert_eq!(info.checkdepends, ["python"]);
        assert_eq!(info.provides, ["hello-cli=1.0"]);
        assert_eq!(info.conflicts, ["hello-git"]);
        assert_eq!(info.replaces, ["hello-old"]);
        assert_eq!(info.groups, ["demo"]);
        assert_eq!(info.licenses, ["MIT", "custom:depot"]);
        assert_eq!(info.builddate, depot_testkit::MTIME.to_string());
        assert_eq!(info.metadata, [".BUILDINFO", ".MTREE"]);
        assert_eq!(
            info.files,
            [
                "etc/",
                "etc/hello.conf",
                "usr/",
                "usr/bin/",
                "usr/bin/hello",
                "usr/lib/",
                "usr/lib/systemd/",
                "usr/lib/systemd/system/",
                "usr/lib/systemd/system/hello\\\\x2dworld.service",
            ]
        );
    }
}

#[test]
fn pkginfo_values_are_normalised_like_repo_add() {
    let p = PacmanBuilder::new("ws", "1.0-1", "any").raw_pkginfo(
        b"# comment\n  pkgname = ws\npkgver=1.0-1\narch = any\npkgdesc =  a \t b  = c \n\n",
    );
    let info = inspect(&p.build()).unwrap();
    assert_eq!(info.desc, "a b = c");
    assert_eq!(info.version, "1.0-1");
}

fn assert_invalid(e: FormatError, needle: &str) {
    assert!(
        matches!(e, FormatError::Invalid(_)),
        "expected Invalid, got {e:?}"
    );
    assert!(e.to_string().contains(needle), "{needle:?} not in: {e}");
}

#[test]
fn empty_and_wrong_magic() {
    let e = refused(b"", &Limits::default());
    assert!(matches!(e, FormatError::NotAnArchive(_)), "{e:?}");
    let e = refused(b"<html>404 not found</html>", &Limits::default());
    assert!(matches!(e, FormatError::NotAnArchive(_)), "{e:?}");
    assert!(e.to_string().contains("not a pacman package"), "{e}");
    let deb = depot_testkit::DebBuilder::new("x", "1", "all").build();
    assert!(matches!(
        refused(&deb, &Limits::default()),
        FormatError::NotAnArchive(_)
    ));
    let e = refused(b"BZh91AY&SY", &Limits::default());
    assert_invalid(e, "bzip2");
    let e = refused(b"\x28\xb5", &Limits::default());
    assert!(matches!(e, FormatError::Truncated(_)), "{e:?}");
}

#[test]
fn truncated_archives() {
    for c in Compression::ALL {
        let whole = hello().compression(c).build();
        // A plain tar cut inside its second zero block still reads whole
        // (as with bsdtar); cut it before the end-of-archive blocks.
        let last = if c == Compression::None {
            whole.len() - 1100
        } else {
            whole.len() - 1
        };
        for cut in [whole.len() / 2, last, 600] {
            let e = refused(&whole[..cut.min(whole.len() - 1)], &Limits::default());
            assert!(
                matches!(e, FormatError::Truncated(_) | FormatError::Invalid(_)),
                "{c:?} cut at {cut}: {e:?}"
            );
            assert!(
                matches!(e, FormatError::Truncated(_)),
                "{c:?} cut at {cut}: want Truncated, got {e}"
            );
        }
    }
}

#[test]
fn data_after_the_archive_is_refused() {
    let mut tar = hello().compression(Compression::None).build();
    tar.extend_from_slice(&[b'x'; 512]);
    assert_invalid(
        refused(&tar, &Limits::default()),
        "after the tar's end-of-archive",
    );
    let mut zst = hello().build();
    zst.extend_from_slice(b"trailing garbage");
    assert_invalid(refused(&zst, &Limits::default()), "zstd");
}

#[test]
fn required_fields() {
    for (missing, text) in [
        ("pkgname", "pkgver = 1.0-1\narch = any\n"),
        ("pkgver", "pkgname = x\narch = any\n"),
        ("arch", "pkgname = x\npkgver = 1.0-1\n"),
    ] {
        let p = PacmanBuilder::new("x", "1.0-1", "any").raw_pkginfo(text.as_bytes());
        assert_invalid(
            refused(&p.build(), &Limits::default()),
            &format!("has no {missing}"),
        );
    }
    let p = PacmanBuilder::new("x", "1.0-1", "any").without_pkginfo();
    assert_invalid(refused(&p.build(), &Limits::default()), "no .PKGINFO");
    let p = PacmanBuilder::new("x", "1.0-1", "any")
        .member(TarMember::File(".PKGINFO", b"pkgname = y\n"));
    assert_invalid(refused(&p.build(), &Limits::default()), "two .PKGINFO");
    let p = PacmanBuilder::new("x", "1.0-1", "any").raw_pkginfo(b"pkgname = x\npkgname = y\n");
    assert_invalid(refused(&p.build(), &Limits::default()), "two 'pkgname'");
}

#[test]
fn forbidden_characters() {
    for (name, version, arch, needle) in [
        (
            "Bad/Name",
            "1.0-1",
            "any",
            "not a valid pacman package name",
        ),
        ("-dash", "1.0-1", "any", "not a valid pacman package name"),
        (".dot", "1.0-1", "any", "not a valid pacman package name"),
        ("héllo", "1.0-1", "any", "not a valid pacman package name"),
        ("ok", "1.0", "any", "not a valid pacman version"),
        ("ok", "1 0-1", "any", "not a valid pacman version"),
        ("ok", "x:1.0-1", "any", "not a valid pacman version"),
        ("ok", "1.0-1", "x86-64", "not a valid architecture"),
    ] {
        let p = PacmanBuilder::new(name, version, arch);
        assert_invalid(refused(&p.build(), &Limits::default()), needle);
    }
    let p = PacmanBuilder::new("ok", "1.0-1", "any")
        .raw_pkginfo(b"pkgname = ok\npkgver = 1.0-1\narch = any\npkgdesc = a\rb\n");
    assert_invalid(refused(&p.build(), &Limits::default()), "control character");
    let p = PacmanBuilder::new("ok", "1.0-1", "any")
        .raw_pkginfo(b"pkgname = ok\npkgver = 1.0-1\narch = any\nsize = 12k\n");
    assert_invalid(refused(&p.build(), &Limits::default()), "not a number");
    let p = PacmanBuilder::new("ok", "1.0-1", "any").raw_pkginfo(b"pkgname = \xff\n");
    assert_invalid(refused(&p.build(), &Limits::default()), "UTF-8");
}

#[test]
fn path_traversal_and_hostile_member_names() {
    for (member, needle) in [
        (TarMember::File("../etc/passwd", b"x"), "'..' component"),
        (TarMember::File("usr/../../x", b"x"), "'..' component"),
        (TarMember::File("/etc/shadow", b"x"), "absolute path"),
        (TarMember::File("usr/bin/a\nb", b"x"), "control character"),
        (
            TarMember::Hardlink("usr/x", "../../etc/passwd"),
            "hard link",
        ),
        (TarMember::Dir("../"), "'..' component"),
    ] {
        let p = hello().member(member);
        assert_invalid(refused(&p.build(), &Limits::default()), needle);
    }
    // A symlink may point anywhere (it is resolved in the root it lands in).
    let p = hello().member(TarMember::Symlink("usr/bin/hi", "../../usr/bin/hello"));
    assert!(inspect(&p.build()).is_ok());
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    let bomb = pacman_bomb(64 << 20);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let limits = Limits {
        max_unpacked: 16 << 20,
        ..Limits::default()
    };
    let e = refused(&bomb, &limits);
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("16 MiB"), "{e}");
    // The ratio guard catches it too, past its floor.
    let limits = Limits {
        ratio_floor: 8 << 20,
        ..Limits::default()
    };
    let e = refused(&bomb, &limits);
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    assert!(e.to_string().contains("times its compressed size"), "{e}");
    // Within the limits the same file is a valid (if silly) package.
    let info = inspect(&bomb).unwrap();
    assert_eq!(info.files, ["usr/share/zeros"]);
    let e = refused(
        &hello().build(),
        &Limits {
            max_pkginfo: 16,
            ..Limits::default()
        },
    );
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    let e = refused(
        &hello().build(),
        &Limits {
            max_files: 3,
            ..Limits::default()
        },
    );
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
}

#[test]
fn desc_and_files_entries() {
    let p = hello();
    let info = inspect(&p.build()).unwrap();
    let desc = pacman::desc(
        &info,
        &pacman::DescFile {
            filename: &p.file_name(),
            size: 1234,
            md5: "0123456789abcdef0123456789abcdef",
            sha256: "ab",
            signature: Some(b"sig"),
        },
    );
    assert!(desc.starts_with(
        "%FILENAME%\nhello-2:1.0.r3.gabc-2-x86_64.pkg.tar.zst\n\n%NAME%\nhello\n\n%BASE%\nhello\n\n"
    ));
    assert!(desc.contains("%CSIZE%\n1234\n\n"), "{desc}");
    assert!(desc.contains("%PGPSIG%\nc2ln\n\n"), "{desc}");
    assert!(
        desc.contains(
            "%DEPENDS%\nglibc>=2.34\nsh\n\n%OPTDEPENDS%\nbash-completion: for completion\n\n"
        ),
        "{desc}"
    );
    assert!(desc.ends_with("%CHECKDEPENDS%\npython\n\n"), "{desc}");
    let files = pacman::files(&info);
    assert!(
        files.starts_with("%FILES%\netc/\netc/hello.conf\n"),
        "{files}"
    );
    assert!(!files.ends_with("\n\n"));
}

/// Regression (fuzzing, `pacman_inspect`, six OOM artifacts of 6 to 209
/// bytes): a zstd frame header declaring a 2 GiB window made the decoder
/// allocate it before reading any data, because the window limit was
/// zstd's own maximum (2^31). Such a package is now refused for its window,
/// before any allocation, and a real package (window 2^27 at most, as
/// makepkg writes) still reads.
#[test]
fn a_zstd_frame_declaring_a_huge_window_is_refused_before_allocating_it() {
    // Magic, frame header descriptor 0x00, window descriptor 0xa8: 2^31.
    let frame = b"\x28\xb5\x2f\xfd\x00\xa8";
    let e = refused(frame, &Limits::default());
    let msg = e.to_string();
    assert!(
        msg.contains("window") || msg.contains("memory") || msg.contains("Frame requires"),
        "refused for its window, not for being truncated: {msg}"
    );
    inspect(&hello().build()).expect("a package makepkg could write still reads");
}
