//! deb::inspect on good packages of every layout dpkg writes, and on every
//! kind of broken, hostile and oversized package DESIGN.md §5 lists.

use depot_core::Hashes;
use depot_formats::FormatError;
use depot_formats::deb::{self, DebInfo, Limits};
use depot_formats::deb822;
use depot_testkit::{Compression, DebBuilder, TarMember, ar_archive, tar_archive};
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

fn inspect(bytes: &[u8]) -> Result<DebInfo, FormatError> {
    deb::inspect(bytes, &Limits::default())
}

fn hello() -> DebBuilder {
    DebBuilder::new("hello", "1:2.10-3+b1", "amd64")
        .depends("libc6 (>= 2.34),\n foo | bar")
        .field("X-Custom-Field", "kept: as is")
        .file("usr/share/doc/hello/README", b"hello\n")
}

/// A .deb with these raw control.tar bytes (already compressed as `name`
/// says) and a valid gzip data member.
fn deb_with_control_member(name: &str, control: &[u8]) -> Vec<u8> {
    let data = Compression::Gzip.compress(&tar_archive(&[TarMember::Dir("./")]));
    ar_archive(&[
        ("debian-binary", b"2.0\n"),
        (name, control),
        ("data.tar.gz", &data),
    ])
}

fn deb_with_control_tar(members: &[TarMember<'_>]) -> Vec<u8> {
    deb_with_control_member(
        "control.tar.gz",
        &Compression::Gzip.compress(&tar_archive(members)),
    )
}

const CONTROL: &[u8] = b"Package: hello\nVersion: 1.0\nArchitecture: all\n";

#[track_caller]
fn expect_invalid(r: Result<DebInfo, FormatError>, needle: &str) -> String {
    match r {
        Err(FormatError::Invalid(m)) => {
            assert!(m.contains(needle), "message {m:?} lacks {needle:?}");
            m
        }
        other => panic!("expected Invalid({needle:?}), got {other:?}"),
    }
}

#[test]
fn reads_every_control_and_data_compression() {
    for control in Compression::ALL {
        for data in Compression::ALL {
            let bytes = hello()
                .control_compression(control)
                .data_compression(data)
                .build();
            let info = inspect(&bytes).unwrap_or_else(|e| panic!("{control:?}/{data:?}: {e}"));
            assert_eq!(info.name, "hello");
            assert_eq!(info.version, "1:2.10-3+b1");
            assert_eq!(info.arch, "amd64");
        }
    }
}

#[test]
fn fields_keep_file_order_and_continuation_lines() {
    let info = inspect(&hello().build()).unwrap();
    let fields: Vec<(&str, &str)> = info
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("Package", "hello"),
            ("Version", "1:2.10-3+b1"),
            ("Architecture", "amd64"),
            ("Maintainer", "Depot Testkit <testkit@depot.invalid>"),
            ("Installed-Size", "5"),
            ("Section", "misc"),
            ("Priority", "optional"),
            ("Depends", "libc6 (>= 2.34),\n foo | bar"),
            ("X-Custom-Field", "kept: as is"),
            (
                "Description",
                "test package hello\n Built in code by depot-testkit for depot's tests."
            ),
        ]
    );
    assert_eq!(info.field("depends"), Some("libc6 (>= 2.34),\n foo | bar"));
    let json = deb::fields_json(&info);
    assert_eq!(json["Package"], "hello");
    assert_eq!(json["X-Custom-Field"], "kept: as is");
    assert_eq!(json.as_object().unwrap().len(), 10);
}

#[test]
fn control_member_path_with_or_without_dot_slash() {
    for path in ["./control", "control"] {
        let info = inspect(&deb_with_control_tar(&[
            TarMember::Dir("./"),
            TarMember::File("./md5sums", b""),
            TarMember::File(path, CONTROL),
        ]))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(info.name, "hello");
    }
    for path in ["../control", "./DEBIAN/control", "/control", "./control/"] {
        expect_invalid(
            inspect(&deb_with_control_tar(&[TarMember::File(path, CONTROL)])),
            "has no ./control file",
        );
    }
}

#[test]
fn uncompressed_control_tar_and_extension_members_are_read() {
    let control = tar_archive(&[TarMember::File("./control", CONTROL)]);
    let data = tar_archive(&[TarMember::Dir("./")]);
    let bytes = ar_archive(&[
        ("debian-binary", b"2.0\n"),
        ("_gpgorigin", b"signature"),
        ("control.tar", &control),
        ("data.tar", &data),
    ]);
    assert_eq!(inspect(&bytes).unwrap().name, "hello");
}

// ---- wrong magic, wrong members ------------------------------------------

#[test]
fn no_ar_magic_is_not_an_archive() {
    for bytes in [
        &b"<html><body>404</body></html>"[..],
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00",
        b"!<arch>X",
        b"PK\x03\x04",
        b"",
    ] {
        match inspect(bytes) {
            Err(FormatError::NotAnArchive(m)) => assert!(!m.is_empty()),
            other => panic!("{bytes:?}: {other:?}"),
        }
    }
}

#[test]
fn first_member_must_be_debian_binary() {
    let bytes = ar_archive(&[("libfoo.o", b"\x7fELF"), ("debian-binary", b"2.0\n")]);
    match inspect(&bytes) {
        Err(FormatError::NotAnArchive(m)) => {
            assert!(m.contains("first member is 'libfoo.o'"), "{m}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn debian_binary_must_be_format_2() {
    for content in [&b"3.0\n"[..], b"2\n", b"2.x\n", b"", b"1.0\n"] {
        let bytes = ar_archive(&[("debian-binary", content)]);
        expect_invalid(inspect(&bytes), "unsupported .deb format version");
    }
    let big = ar_archive(&[("debian-binary", &[b'2'; 100][..])]);
    expect_invalid(inspect(&big), "debian-binary member is 100 bytes");
    // 2.x with any minor is read (dpkg does too).
    let mut bytes = hello().build();
    bytes[8 + 60..8 + 64].copy_from_slice(b"2.9\n");
    assert!(inspect(&bytes).is_ok());
}

#[test]
fn member_order_and_names_are_dpkgs() {
    let control =
        Compression::Gzip.compress(&tar_archive(&[TarMember::File("./control", CONTROL)]));
    let data = Compression::Gzip.compress(&tar_archive(&[TarMember::Dir("./")]));
    type Members<'a> = &'a [(&'a str, &'a [u8])];
    let cases: &[(Members, &str)] = &[
        (&[("debian-binary", b"2.0\n")], "has no control.tar member"),
        (
            &[("debian-binary", b"2.0\n"), ("data.tar.gz", &data)],
            "data.tar.gz member comes before the control member",
        ),
        (
            &[("debian-binary", b"2.0\n"), ("control.tar.gz", &control)],
            "has no data.tar member after control.tar.gz",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                ("control.tar.gz", &control),
                ("data.tar.gz", &data),
            ],
            "second control member",
        ),
        (
            &[("debian-binary", b"2.0\n"), ("control.tar.bz2", &control)],
            "unsupported compression",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                ("data.tar.rar", &data),
            ],
            "unknown compression",
        ),
        (
            &[("debian-binary", b"2.0\n"), ("evil.sh", b"rm -rf /")],
            "unexpected ar member 'evil.sh'",
        ),
        (
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar.gz", &control),
                ("data.tar.xz", &data),
            ],
            "data.tar.xz member does not start with its compressor's magic",
        ),
    ];
    for (members, needle) in cases {
        expect_invalid(inspect(&ar_archive(members)), needle);
    }
}

#[test]
fn too_many_ar_members() {
    let mut members: Vec<(String, Vec<u8>)> = vec![("debian-binary".into(), b"2.0\n".to_vec())];
    for i in 0..20 {
        members.push((format!("_ext{i}"), vec![b'x'; 3]));
    }
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    expect_invalid(inspect(&ar_archive(&refs)), "more than 16 ar members");
    // Under a looser limit the same file gets as far as the missing control.
    let limits = Limits {
        max_ar_members: 64,
        ..Limits::default()
    };
    expect_invalid(
        deb::inspect(&ar_archive(&refs)[..], &limits),
        "has no control.tar member",
    );
}

#[test]
fn corrupt_ar_headers_are_invalid() {
    let good = hello().build();
    // Size field of the control member (second header) made non-numeric.
    let mut bad = good.clone();
    let second = 8 + 60 + 4;
    bad[second + 48..second + 58].copy_from_slice(b"12a4      ");
    expect_invalid(inspect(&bad), "corrupt size field");
    let mut bad = good.clone();
    bad[second + 58] = b'X';
    expect_invalid(inspect(&bad), "no '`\\n' terminator");
}

// ---- truncation ----------------------------------------------------------

#[test]
fn truncated_files_are_truncated() {
    let bytes = hello().build();
    let half = &bytes[..bytes.len() / 2];
    assert!(
        matches!(inspect(half), Err(FormatError::Truncated(_))),
        "{:?}",
        inspect(half)
    );
    // Cut inside the control member's data.
    let control_start = 8 + 60 + 4 + 60;
    match inspect(&bytes[..control_start + 10]) {
        Err(FormatError::Truncated(m)) => assert!(
            m.contains("ends inside ar member 'control.tar.gz' (10 of"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match inspect(&bytes[..4]) {
        Err(FormatError::Truncated(m)) => assert!(m.contains("inside the ar magic"), "{m}"),
        other => panic!("{other:?}"),
    }
    match inspect(&bytes[..8 + 30]) {
        Err(FormatError::Truncated(m)) => assert!(m.contains("header of ar member #1"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_prefix_is_refused_without_panicking() {
    for c in [
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
        Compression::None,
    ] {
        let bytes = hello().control_compression(c).data_compression(c).build();
        // The last byte may be the data member's padding, which dpkg (and
        // inspect) never reads.
        for cut in 0..bytes.len() - 1 {
            match inspect(&bytes[..cut]) {
                Err(FormatError::Truncated(_)) => {}
                // A cut exactly between two members leaves a well-formed
                // but incomplete archive; an empty file is no archive.
                Err(FormatError::Invalid(m)) if m.contains("has no") => {}
                Err(FormatError::NotAnArchive(_)) if cut == 0 => {}
                other => panic!("{c:?} cut at {cut}/{}: {other:?}", bytes.len()),
            }
        }
    }
}

// ---- corrupt and oversized control members -------------------------------

#[test]
fn corrupt_compressed_control_is_invalid() {
    for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
        let tar = tar_archive(&[TarMember::File("./control", CONTROL)]);
        let mut z = c.compress(&tar);
        let mid = z.len() / 2;
        for b in &mut z[mid..mid + 8] {
            *b ^= 0x55;
        }
        let name = format!("control.tar{}", c.extension());
        let m = expect_invalid(inspect(&deb_with_control_member(&name, &z)), "is corrupt");
        assert!(m.contains(&name), "{m}");
    }
    expect_invalid(
        inspect(&deb_with_control_member("control.tar", b"not a tar at all")),
        "the control.tar member is corrupt",
    );
    expect_invalid(
        inspect(&deb_with_control_member("control.tar", &[0x41; 1024])),
        "control.tar member is corrupt",
    );
}

/// A control.tar whose `./postinst` is `size` zero bytes, compressed with
/// `c`, streamed so that neither side ever holds `size` bytes.
fn bomb(c: Compression, member: &str, size: u64) -> Vec<u8> {
    let mut enc = c.encoder(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path(member).unwrap();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    enc.write_all(h.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        enc.write_all(&zeros[..n]).unwrap();
        left -= n as u64;
    }
    enc.write_all(&[0u8; 1024]).unwrap();
    enc.finish().unwrap()
}

#[test]
fn decompression_bombs_stop_at_the_limit() {
    for c in [Compression::Gzip, Compression::Xz, Compression::Zstd] {
        let z = bomb(c, "./postinst", 64 << 20);
        assert!(z.len() < 1 << 20, "{c:?} bomb is {} bytes", z.len());
        let name = format!("control.tar{}", c.extension());
        let deb = deb_with_control_member(&name, &z);
        let start = Instant::now();
        match inspect(&deb) {
            Err(FormatError::TooLarge(m)) => {
                assert_eq!(m, format!("{name} decompresses past the 16 MiB limit"))
            }
            other => panic!("{c:?}: {other:?}"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{c:?} took {:?}",
            start.elapsed()
        );
    }
    // A tighter limit stops earlier.
    let limits = Limits {
        max_control_tar: 1 << 20,
        ..Limits::default()
    };
    let deb = deb_with_control_member("control.tar.zst", &bomb(Compression::Zstd, "./x", 4 << 20));
    match deb::inspect(&deb[..], &limits) {
        Err(FormatError::TooLarge(m)) => assert!(m.contains("past the 1 MiB limit"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_control_file_and_member_are_too_large() {
    let deb = deb_with_control_member(
        "control.tar.gz",
        &bomb(Compression::Gzip, "./control", 2 << 20),
    );
    match inspect(&deb) {
        Err(FormatError::TooLarge(m)) => {
            assert_eq!(m, "the control file is 2097152 bytes, over the 1 MiB limit")
        }
        other => panic!("{other:?}"),
    }
    let limits = Limits {
        max_control_tar: 1000,
        ..Limits::default()
    };
    let deb = deb_with_control_member("control.tar", &vec![0u8; 2000]);
    match deb::inspect(&deb[..], &limits) {
        Err(FormatError::TooLarge(m)) => assert_eq!(
            m,
            "the control.tar member is 2000 bytes, over the 1000 bytes limit"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn control_must_be_a_regular_file() {
    for (member, kind) in [
        (
            TarMember::Symlink("./control", "/etc/passwd"),
            "symbolic link",
        ),
        (TarMember::Hardlink("./control", "./md5sums"), "hard link"),
        (TarMember::Dir("./control"), "directory"),
    ] {
        let deb = deb_with_control_tar(&[TarMember::File("./md5sums", CONTROL), member]);
        expect_invalid(
            inspect(&deb),
            &format!("./control in control.tar.gz is a {kind}"),
        );
    }
    let deb = deb_with_control_tar(&[
        TarMember::File("./control", CONTROL),
        TarMember::File("control", CONTROL),
    ]);
    expect_invalid(inspect(&deb), "two control files");
}

// ---- the control file ------------------------------------------------------

fn with_control(text: &[u8]) -> Result<DebInfo, FormatError> {
    inspect(&hello().raw_control(text).build())
}

#[test]
fn hostile_control_files_are_invalid() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"Package: hello\nVersion: 1.0\nArchitecture: all\nDescription: x\n \nPackage: evil\nVersion: 6.6.6\nArchitecture: all\n",
            "line 5: continuation line is empty or whitespace only",
        ),
        (
            b"Package: hello\nVersion: 1.0\nArchitecture: all\nDescription: x\n\t \n",
            "line 5: continuation line is empty or whitespace only",
        ),
        (
            b"Package: hello\nVersion: 1.0\nArchitecture: all\n\nPackage: evil\n",
            "line 5: a second stanza",
        ),
        (
            b"Package: hello\nVersion: 1.0\nArchitecture: all\nversion: 2.0\n",
            "line 4: duplicate field \"version\"",
        ),
        (
            b"Package: hello\nVersion: 1.0\nArchitecture: all\nDescription: caf\xe9\n",
            "not valid UTF-8 (at byte 62)",
        ),
        (
            b"Package: hello\r\nVersion: 1.0\r\nArchitecture: all\r\n",
            "control character '\\r'",
        ),
        (b"Package: hello\nVersion: 1.0\n", "has no Architecture field"),
        (b"Package: hello\nArchitecture: all\n", "has no Version field"),
        (b"Version: 1.0\nArchitecture: all\n", "has no Package field"),
        (b"", "no fields"),
        (b"#Package: hello\n", "may not start with '-' or '#'"),
    ];
    for (text, needle) in cases {
        expect_invalid(with_control(text), needle);
    }
}

#[test]
fn names_versions_and_architectures_follow_dpkg() {
    let bad: &[(&str, &str, &str, &str)] = &[
        (
            "Hello",
            "1.0",
            "all",
            "Package 'Hello' is not a valid Debian package name",
        ),
        ("h", "1.0", "all", "at least two characters"),
        ("hello_world", "1.0", "all", "character '_' is not allowed"),
        (
            "-hello",
            "1.0",
            "all",
            "must start with a lowercase letter or a digit",
        ),
        (
            "hello",
            "1.0 beta",
            "all",
            "Version '1.0 beta' is not a valid Debian version: version string has embedded spaces",
        ),
        (
            "hello",
            "beta",
            "all",
            "version number does not start with digit",
        ),
        ("hello", "1:", "all", "nothing after colon"),
        (
            "hello",
            "1.0",
            "any",
            "Architecture 'any' is not valid for a binary package: is a wildcard",
        ),
        ("hello", "1.0", "linux-any", "is a wildcard"),
        ("hello", "1.0", "source", "not a binary architecture"),
        (
            "hello",
            "1.0",
            "AMD64",
            "must start with a lowercase letter",
        ),
        ("hello", "1.0", "amd64 i386", "character ' ' is not allowed"),
    ];
    for (name, version, arch, needle) in bad {
        let r = inspect(&DebBuilder::new(name, version, arch).build());
        expect_invalid(r, needle);
    }
    for (name, version, arch) in [
        ("g++", "4:12.2.0-3", "amd64"),
        ("libstdc++6", "12.2.0-14+deb12u1", "arm64"),
        ("0ad", "0.0.26-3", "i386"),
        ("python3.11", "3.11.2-6", "all"),
        ("linux-image-6.1.0-18-amd64", "6.1.76-1", "amd64"),
        ("xz-utils", "5.4.1-0.2", "kfreebsd-amd64"),
    ] {
        let info = inspect(&DebBuilder::new(name, version, arch).build())
            .unwrap_or_else(|e| panic!("{name} {version} {arch}: {e}"));
        assert_eq!(
            (
                info.name.as_str(),
                info.version.as_str(),
                info.arch.as_str()
            ),
            (name, version, arch)
        );
    }
}

// ---- I/O errors --------------------------------------------------------------

struct FailingReader<'a> {
    data: &'a [u8],
    fail_at: usize,
}

impl Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.fail_at == 0 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "peer went away",
            ));
        }
        let n = buf.len().min(self.fail_at).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.fail_at -= n;
        Ok(n)
    }
}

#[test]
fn read_errors_are_io_errors() {
    let bytes = hello().build();
    for fail_at in [0, 5, 100, bytes.len() - 10] {
        let r = deb::inspect(
            FailingReader {
                data: &bytes,
                fail_at,
            },
            &Limits::default(),
        );
        match r {
            Err(FormatError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("fail at {fail_at}: {other:?}"),
        }
    }
}

// ---- index_entry ------------------------------------------------------------

#[test]
fn index_entry_layout() {
    let bytes = hello().build();
    let info = inspect(&bytes).unwrap();
    let hashes = Hashes::of(&bytes);
    let entry = deb::index_entry(
        &info,
        "pool/main/h/hello/hello_2.10-3+b1_amd64.deb",
        bytes.len() as u64,
        &hashes,
    );
    let expected = format!(
        "Package: hello\nVersion: 1:2.10-3+b1\nArchitecture: amd64\n\
         Maintainer: Depot Testkit <testkit@depot.invalid>\nInstalled-Size: 5\n\
         Section: misc\nPriority: optional\nDepends: libc6 (>= 2.34),\n foo | bar\n\
         X-Custom-Field: kept: as is\n\
         Description: test package hello\n Built in code by depot-testkit for depot's tests.\n\
         Filename: pool/main/h/hello/hello_2.10-3+b1_amd64.deb\nSize: {}\n\
         MD5sum: {}\nSHA1: {}\nSHA256: {}\nSHA512: {}\n",
        bytes.len(),
        hashes.md5,
        hashes.sha1,
        hashes.sha256,
        hashes.sha512
    );
    assert_eq!(entry, expected);
}

#[test]
fn index_entry_puts_package_first_and_drops_the_controls_own_checksums() {
    let text = b"Version: 1.0\nFilename: ../../etc/passwd\nPackage: hello\nsize: 1\nMD5sum: 00\nSHA256: 00\nArchitecture: all\nSHA512: 00\nSHA1: 00\n";
    let info = with_control(text).unwrap();
    let h = Hashes::of(b"x");
    let entry = deb::index_entry(&info, "hello_1.0_all.deb", 1, &h);
    let stanzas = deb822::parse_stanzas(&entry).unwrap();
    assert_eq!(stanzas.len(), 1);
    let names: Vec<&str> = stanzas[0].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Package",
            "Version",
            "Architecture",
            "Filename",
            "Size",
            "MD5sum",
            "SHA1",
            "SHA256",
            "SHA512"
        ]
    );
    assert_eq!(
        deb822::field(&stanzas[0], "Filename"),
        Some("hello_1.0_all.deb")
    );
    assert_eq!(
        deb822::field(&stanzas[0], "SHA256"),
        Some(h.sha256.hex().as_str())
    );
}

#[test]
fn index_entry_is_one_stanza_whatever_the_input() {
    // DebInfo is a plain struct: build a hostile one by hand.
    let info = DebInfo {
        name: "hello".into(),
        version: "1.0".into(),
        arch: "all".into(),
        fields: vec![
            ("Version".into(), "1.0".into()),
            (
                "Description".into(),
                "x\n\nPackage: evil\nVersion: 6.6.6\n \n\t\nFilename: evil.deb".into(),
            ),
            ("Bad Name".into(), "dropped".into()),
            ("Bad\nName".into(), "dropped".into()),
            ("Depends".into(), "a\r\n\r\nPackage: evil2".into()),
            ("X-Trailing".into(), "y\n".into()),
        ],
    };
    let h = Hashes::of(b"x");
    let entry = deb::index_entry(&info, "hello.deb\n\nPackage: evil3", 1, &h);
    assert!(
        entry.ends_with('\n') && !entry.ends_with("\n\n"),
        "{entry:?}"
    );
    assert!(entry.lines().all(|l| !l.trim().is_empty()), "{entry:?}");
    let stanzas = deb822::parse_stanzas(&entry).unwrap();
    assert_eq!(stanzas.len(), 1, "{entry}");
    let s = &stanzas[0];
    assert_eq!(deb822::field(s, "Package"), Some("hello"));
    assert_eq!(
        deb822::field(s, "Filename"),
        Some("hello.debPackage: evil3")
    );
    assert!(deb822::field(s, "Bad Name").is_none());
    let names: Vec<&str> = s.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "Package",
            "Version",
            "Description",
            "Depends",
            "X-Trailing",
            "Filename",
            "Size",
            "MD5sum",
            "SHA1",
            "SHA256",
            "SHA512"
        ]
    );
}

#[test]
fn inspect_reads_only_what_it_needs_from_a_stream() {
    // A reader is consumed front to back once; a large data member is
    // skipped without being buffered whole.
    let big = vec![7u8; 8 << 20];
    let bytes = DebBuilder::new("big", "1.0", "all")
        .file("usr/share/big/blob", &big)
        .data_compression(Compression::None)
        .build();
    let info = deb::inspect(io::Cursor::new(&bytes), &Limits::default()).unwrap();
    assert_eq!(info.name, "big");
}
