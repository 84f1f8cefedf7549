//! Reading FreeBSD `.pkg` files: the manifest fields and the catalogue
//! line, every compression pkg writes, and every kind of bad input
//! refused with the right error.

use depot_formats::FormatError;
use depot_formats::freebsd::{self, FreebsdInfo, Limits};
use depot_testkit::{Compression, FreebsdBuilder};
use serde_json::{Value, json};
use std::cmp::Ordering;

fn inspect(bytes: &[u8]) -> Result<FreebsdInfo, FormatError> {
    freebsd::inspect(bytes, &Limits::default())
}

fn refused(bytes: &[u8]) -> FormatError {
    match inspect(bytes) {
        Ok(info) => panic!("accepted: {info:?}"),
        Err(e) => e,
    }
}

fn hello() -> FreebsdBuilder {
    FreebsdBuilder::new("hello", "2.12.1_1", "FreeBSD:14:amd64")
        .depends("gettext-runtime", "0.22.5")
        .set("shlibs_required", "[\"libintl.so.8\"]")
        .file("/usr/local/bin/hello", b"\x7fELF hello")
        .file("/usr/local/share/doc/hello/README", b"hi\n")
}

#[test]
fn reads_every_compression() {
    for c in Compression::ALL {
        let b = hello().compression(c);
        let info = inspect(&b.build()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(info.name, "hello");
        assert_eq!(info.version, "2.12.1_1");
        assert_eq!(info.origin, "misc/hello");
        assert_eq!(info.abi, "FreeBSD:14:amd64");
        assert_eq!(info.prefix, "/usr/local");
        assert_eq!(info.flatsize, 13);
        assert_eq!(info.file_count, 4);
        let compact: serde_json::Value = serde_json::from_slice(&b.compact_manifest()).unwrap();
        assert_eq!(serde_json::Value::Object(info.compact.clone()), compact);
    }
}

#[test]
fn the_catalogue_line_is_the_compact_manifest_plus_the_file() {
    let b = hello();
    let bytes = b.build();
    let info = inspect(&bytes).unwrap();
    let line = freebsd::catalogue_entry(&info, bytes.len() as u64, &"ab".repeat(32));
    assert!(!line.contains('\n'));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let compact: serde_json::Value = serde_json::from_slice(&b.compact_manifest()).unwrap();
    for (k, want) in compact.as_object().unwrap() {
        assert_eq!(&v[k], want, "{k}");
    }
    assert_eq!(v["sum"], "ab".repeat(32));
    assert_eq!(v["pkgsize"], bytes.len());
    assert_eq!(v["path"], "All/hello-2.12.1_1.pkg");
    assert_eq!(v["repopath"], "All/hello-2.12.1_1.pkg");
    assert_eq!(v["deps"]["gettext-runtime"]["version"], "0.22.5");
    assert!(v.get("files").is_none());
}

#[test]
fn only_a_full_manifest_is_enough() {
    // A package with +MANIFEST alone (older pkg): the compact one is
    // derived from it, files left out.
    let b = hello();
    let full = b.full_manifest();
    let tar = depot_testkit::tar_archive(&[
        depot_testkit::TarMember::File("+MANIFEST", &full),
        depot_testkit::TarMember::File("/usr/local/bin/hello", b"x"),
    ]);
    let info = inspect(&Compression::Xz.compress(&tar)).unwrap();
    assert!(info.compact.get("files").is_none());
    assert_eq!(info.name, "hello");
}

#[test]
fn wrong_magic_truncation_and_trailing_data() {
    assert!(matches!(refused(b""), FormatError::NotAnArchive(_)));
    assert!(matches!(
        refused(b"<html>404</html>"),
        FormatError::NotAnArchive(_)
    ));
    for c in [
        Compression::Zstd,
        Compression::Xz,
        Compression::Gzip,
        Compression::None,
    ] {
        let bytes = hello().compression(c).build();
        for cut in [bytes.len() / 3, bytes.len() - 10] {
            let e = refused(&bytes[..cut]);
            assert!(
                matches!(e, FormatError::Truncated(_)),
                "{c:?} cut at {cut}/{}: {e:?}",
                bytes.len()
            );
        }
    }
    let e = refused(&Compression::Xz.compress(b"just some text, not a tar at all......"));
    assert!(
        matches!(e, FormatError::Invalid(_) | FormatError::Truncated(_)),
        "{e:?}"
    );
}

#[test]
fn missing_and_bad_fields_are_refused() {
    for key in [
        "name",
        "version",
        "origin",
        "comment",
        "desc",
        "maintainer",
        "www",
        "prefix",
    ] {
        let e = refused(&hello().remove(key).build());
        assert!(e.to_string().contains(&format!("'{key}'")), "{key}: {e}");
    }
    let e = refused(&hello().remove("abi").remove("arch").build());
    assert!(e.to_string().contains("abi"), "{e}");
    for (name, version, abi) in [
        ("bad/name", "1.0", "FreeBSD:14:amd64"),
        ("bad name", "1.0", "FreeBSD:14:amd64"),
        ("-x", "1.0", "FreeBSD:14:amd64"),
        ("ok", "1.0-1", "FreeBSD:14:amd64"),
        ("ok", "1.0", "FreeBSD"),
        ("ok", "1.0", "FreeBSD:14:amd/64"),
        ("ok", "1.0", "FreeBSD:*:amd64"),
    ] {
        let e = refused(&FreebsdBuilder::new(name, version, abi).build());
        assert!(
            matches!(e, FormatError::Invalid(_)),
            "{name} {version} {abi}: {e}"
        );
    }
    let e = refused(&hello().set("flatsize", "\"big\"").build());
    assert!(e.to_string().contains("flatsize"), "{e}");
    let e = refused(&hello().set("origin", "\"misc/x\\nname: evil\"").build());
    assert!(e.to_string().contains("control character"), "{e}");
    // Not JSON but UCL now (pkg create -e writes UCL), and still refused:
    // it lacks the fields pkg needs.
    let e = refused(&hello().raw_manifest(b"name: hello\nversion: 1.0\n").build());
    assert!(e.to_string().contains("'version' is not a string"), "{e}");
    let e = refused(
        &hello()
            .raw_manifest(b"name: hello\nversion: \"1.0\"\n")
            .build(),
    );
    assert!(e.to_string().contains("no 'origin'"), "{e}");
    let e = refused(&hello().raw_manifest(b"{\"name\": \"hello\",").build());
    assert!(e.to_string().contains("neither JSON"), "{e}");
    let e = refused(&hello().raw_manifest(b"[1,2]").build());
    assert!(e.to_string().contains("not a JSON object"), "{e}");
}

#[test]
fn path_traversal_in_members_and_manifest_paths() {
    for bad in ["../../etc/passwd", "/usr/local/../../etc/x", "usr/a\u{1}b"] {
        let e = refused(&hello().member(bad, b"x").build());
        assert!(matches!(e, FormatError::Invalid(_)), "{bad:?}: {e:?}");
    }
    let e = refused(&hello().file("/usr/local/../../etc/rc.conf", b"x").build());
    assert!(e.to_string().contains("traversal"), "{e}");
    let e = refused(&hello().set("prefix", "\"/usr/../etc\"").build());
    assert!(e.to_string().contains("traversal"), "{e}");
}

#[test]
fn bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 32 << 20];
    let b = hello().file("/usr/local/share/zeros", &zeros);
    let limits = Limits {
        max_unpacked: 8 << 20,
        ..Limits::default()
    };
    let e = freebsd::inspect(&b.build()[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = freebsd::inspect(&b.build()[..], &limits).unwrap_err();
    assert!(e.to_string().contains("times"), "{e}");
    let limits = Limits {
        max_manifest: 64,
        ..Limits::default()
    };
    let e = freebsd::inspect(&hello().build()[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
}

#[test]
fn detected_by_content_and_name() {
    use depot_core::Format;
    use depot_formats::detect::sniff;
    for c in Compression::ALL {
        let bytes = hello().compression(c).build();
        assert_eq!(
            sniff(&bytes[..bytes.len().min(4096)], "x.bin"),
            Format::Freebsd,
            "{c:?}"
        );
    }
    assert_eq!(sniff(b"<html>", "hello-1.0.pkg"), Format::Freebsd);
    assert_eq!(sniff(b"xar!\x00\x1c", "Installer.pkg"), Format::File);
    assert_eq!(sniff(b"\xfd7zXZ\x00", "backup.txz"), Format::File);
}

#[test]
fn signed_archives_read_back() {
    let a = freebsd::signed_archive("packagesite.yaml", b"{}\n", &[1, 2, 3], "PEM\n", 5);
    let members = freebsd::read_archive(&a).unwrap();
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "signature",
            "packagesite.yaml.sig",
            "packagesite.yaml.pub",
            "packagesite.yaml"
        ]
    );
    assert_eq!(members[0].1, [1, 2, 3, 0]);
    assert_eq!(members[1].1, [1, 2, 3]);
    assert_eq!(members[3].1, b"{}\n");
    assert_eq!(freebsd::signed_text(b"").len(), 64);
}

/// Regression (issue 11): depot's newest FreeBSD version disagreed with
/// `pkg version -t` in 4 of 22 pairs tried, ranking `1.10.b3` above
/// `1.10`. `freebsd::version::compare` is now a port of pkg's
/// `pkg_version_cmp` (libpkg/pkg_version.c in freebsd/pkg).
///
/// Where the table comes from: no FreeBSD `pkg` runs on this machine, so
/// every expected result below was derived by hand from that C code
/// (`split_version`, `get_component`, the loop in `pkg_version_cmp`),
/// starting with the examples its `get_component` comment gives
/// (`10a1b2 = 10a1.b2`, `pl11 < alpha3 < 0.1beta2 = 0.1.b2 < 0.1`,
/// `2.* < 2pl1 < 2alpha3 < 2.9f7 < 3.*`, ...) and the four cases of pkg's
/// own `tests/frontend/version.sh` (`1 < 2`, `2 > 1`, `2 = 2`,
/// `2 < 1,1`). The notes say which rule decides.
#[test]
fn version_order_is_pkg_version_cmp_so_1_10_b3_is_older_than_1_10() {
    use Ordering::{Equal as EQ, Greater as GT, Less as LT};
    let table: &[(&str, &str, Ordering, &str)] = &[
        // The defect: a component with no number is -1, below 1.10's end (0).
        ("1.10.b3", "1.10", LT, "b3 has no number: -1 < 0"),
        ("1.10.b3", "1.10.b2", GT, "same letter, patch level 3 > 2"),
        ("1.10.b3", "1.9", GT, "10 > 9"),
        (
            "1.0.a",
            "1.0",
            LT,
            "a component starting with a letter is below 0",
        ),
        ("1.0", "1.0a", LT, "no letter (0) < a (1)"),
        ("1.0a", "1.0.a", GT, "0a: letter 1 > 0"),
        // pkg's tests/frontend/version.sh
        ("1", "2", LT, "numbers"),
        ("2", "1", GT, "numbers"),
        ("2", "2", EQ, "equal strings"),
        ("2", "1,1", LT, "the epoch decides first"),
        // The examples of get_component's comment
        ("1.0:2003.09.16", "1.0.2003.09.16", EQ, "':' is a separator"),
        (
            "1.0.1:2003.09.16",
            "1.0:2003.09.16",
            LT,
            "1 < 2003 in the third component",
        ),
        ("10..1", "10.1", EQ, "separators collapse"),
        (
            "10a1b2",
            "10a1.b2",
            EQ,
            "a letter after a patch level starts a component",
        ),
        ("10", "10.0", EQ, "a missing component is 0"),
        ("10.0", "10.0.0", EQ, "a missing component is 0"),
        ("10a", "10b", LT, "a < b"),
        ("a", "0", LT, "no number is -1"),
        ("10.a", "10", LT, "no number is -1"),
        (
            "10alpha",
            "10.a",
            EQ,
            "alpha after a number starts a component, and is a",
        ),
        ("10alpha", "10", LT, "-1 < 0"),
        ("pl11", "alpha3", LT, "pl is 0, alpha is a (1)"),
        ("alpha3", "0.1beta2", LT, "-1 < 0"),
        ("0.1beta2", "0.1.b2", EQ, "beta is b"),
        ("0.1beta2", "0.1", LT, "-1 < 0 in the third component"),
        ("1.d2", "1.dev2", EQ, "only the first letter counts"),
        ("1.dev2", "1.Development2", EQ, "case is ignored"),
        ("2.*", "2pl1", LT, "* is -2, below pl's -1"),
        ("2pl1", "2alpha3", LT, "pl (0) < alpha (1)"),
        ("2alpha3", "2.9f7", LT, "-1 < 9"),
        ("2.9f7", "3.*", LT, "2 < 3"),
        // Stages
        (
            "1.0rc1",
            "1.0",
            LT,
            "rc after a number starts a component below 0",
        ),
        ("1.0rc1", "1.0rc2", LT, "patch level"),
        ("1.0beta1", "1.0rc1", LT, "b < r"),
        ("1.0alpha1", "1.0beta1", LT, "a < b"),
        ("1.0pre1", "1.0rc1", LT, "p < r"),
        ("1.0pre1", "1.0beta9", GT, "p > b, whatever the patch level"),
        (
            "1.0pl1",
            "1.0",
            LT,
            "pl after a number starts a component, -1 < 0",
        ),
        (
            "1.0p1",
            "1.0",
            GT,
            "a lone p is a letter of the 0 component",
        ),
        ("1.0.beta2", "1.0beta2", EQ, "both read 1, 0, b2"),
        // Revision and epoch
        ("1.0", "1.0_1", LT, "revision 0 < 1"),
        ("1.0_10", "1.0_9", GT, "revisions are numbers"),
        (
            "1.0_9",
            "1.1",
            LT,
            "the version decides before the revision",
        ),
        ("1.0,1", "2.0", GT, "the epoch decides first"),
        ("1.0_5,1", "1.0_1,2", LT, "epoch 1 < 2"),
        ("1.0,1", "1.0_1", GT, "epoch 1 > 0"),
        ("1.0_1", "1.0.1", LT, "the version part 1.0 < 1.0.1"),
        // Case, leading zeros, '+', '*'
        ("1.0A", "1.0a", EQ, "equal ignoring case"),
        ("1.0RC1", "1.0rc1", EQ, "equal ignoring case"),
        ("1.09", "1.9", EQ, "numbers, not text"),
        ("1.9", "1.10", LT, "numbers, not text"),
        ("2.*", "2.0", LT, "* is -2"),
        ("2.*", "2.a", LT, "* (-2) < no number (-1)"),
        ("1+2", "1+3", LT, "both step over '+'"),
        (
            "1.0+1",
            "1.0",
            GT,
            "after the '+', 1 > the other's (0, 0, 0)",
        ),
        ("1.0+a", "1.0", LT, "after the '+', a has no number"),
        ("20231201", "2023.12.01", GT, "20231201 > 2023"),
        ("0.9", "1.0.a", LT, "0 < 1"),
        (
            "foo-1.0",
            "1.1",
            LT,
            "anything up to the last '-' is dropped",
        ),
    ];
    assert!(table.len() >= 40);
    let mut wrong = Vec::new();
    for &(a, b, want, why) in table {
        let got = freebsd::version::compare(a, b);
        let back = freebsd::version::compare(b, a);
        if got != want || back != want.reverse() {
            wrong.push(format!(
                "{a} vs {b}: {got:?}/{back:?}, want {want:?} ({why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Regression (issue 11): `pkg create -f tbz` packages (bzip2) were
/// refused ("depot reads zstd, xz and gzip"). They are read like the
/// others now.
#[test]
fn pkg_create_tbz_bzip2_packages_are_accepted() {
    let zstd = inspect(&hello().build()).unwrap();
    let bytes = hello().tbz().build();
    assert!(bytes.starts_with(b"BZh"), "the builder writes bzip2");
    let info = inspect(&bytes).unwrap();
    assert_eq!(info, zstd);
    for cut in [bytes.len() / 3, bytes.len() - 10] {
        let e = refused(&bytes[..cut]);
        assert!(
            matches!(e, FormatError::Truncated(_)),
            "cut at {cut}: {e:?}"
        );
    }
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0xff;
    let e = refused(&corrupt);
    assert!(
        matches!(e, FormatError::Invalid(_) | FormatError::Truncated(_)),
        "{e:?}"
    );
    // Recognised by its name: a bzip2 block decodes only whole, so the
    // first 4 KiB of a larger package do not show the first tar member.
    use depot_core::Format;
    assert_eq!(
        depot_formats::detect::sniff(&bytes[..bytes.len().min(4096)], "hello-2.12.1_1.pkg"),
        Format::Freebsd
    );
}

/// bzip2 goes through the same size and ratio guard as the other codecs:
/// 32 MiB of zeros packs into a few hundred bytes.
#[test]
fn bzip2_bombs_stop_at_the_limit() {
    let zeros = vec![0u8; 32 << 20];
    let bytes = hello().file("/usr/local/share/zeros", &zeros).tbz().build();
    assert!(bytes.len() < 64 << 10, "{} bytes", bytes.len());
    let limits = Limits {
        max_unpacked: 8 << 20,
        ..Limits::default()
    };
    let e = freebsd::inspect(&bytes[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
    let limits = Limits {
        ratio_floor: 1 << 20,
        max_ratio: 100,
        ..Limits::default()
    };
    let e = freebsd::inspect(&bytes[..], &limits).unwrap_err();
    assert!(e.to_string().contains("times"), "{e}");
}

/// A bzip2 catalogue archive reads back too (`read_archive` used to
/// refuse it).
#[test]
fn a_bzip2_catalogue_archive_reads_back() {
    let tar =
        depot_testkit::tar_archive(&[depot_testkit::TarMember::File("packagesite.yaml", b"{}\n")]);
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    std::io::Write::write_all(&mut enc, &tar).unwrap();
    let members = freebsd::read_archive(&enc.finish().unwrap()).unwrap();
    assert_eq!(
        members,
        [("packagesite.yaml".to_string(), b"{}\n".to_vec())]
    );
}

/// Regression (issue 11): `pkg create -e` writes `+MANIFEST` in UCL's own
/// syntax (libucl's configuration emitter), which depot refused as "not
/// JSON". It is read into the same JSON value now.
#[test]
fn pkg_create_e_ucl_manifests_are_accepted_with_the_json_fields() {
    let json = hello();
    let ucl = hello().expanded_manifest();
    let text = String::from_utf8(ucl.full_manifest()).unwrap();
    assert!(text.contains("desc = <<EOD\n"), "{text}");
    assert!(text.contains("deps {\n    gettext-runtime {\n"), "{text}");
    let full_json: Value = serde_json::from_slice(&json.full_manifest()).unwrap();
    let full_ucl = freebsd::ucl::parse(text.as_bytes()).unwrap();
    assert_eq!(Value::Object(full_ucl), full_json);
    assert_eq!(
        inspect(&ucl.build()).unwrap(),
        inspect(&json.build()).unwrap()
    );
    // With +MANIFEST alone, the compact manifest is derived from the UCL.
    let tar = depot_testkit::tar_archive(&[
        depot_testkit::TarMember::File("+MANIFEST", text.as_bytes()),
        depot_testkit::TarMember::File("/usr/local/bin/hello", b"\x7fELF hello"),
    ]);
    let info = inspect(&Compression::Xz.compress(&tar)).unwrap();
    let compact: Value = serde_json::from_slice(&json.compact_manifest()).unwrap();
    assert_eq!(Value::Object(info.compact), compact);
}

/// A `+MANIFEST` written the way libucl's configuration emitter writes
/// pkg's manifest object (`pkg_emit_object`: the keys of pkg-create(8)'s
/// MANIFEST FILE DETAILS, scripts, a heredoc `desc`), with the comments
/// and the `key: value` / `key value` forms pkg's own test manifests use
/// (tests/frontend/*.sh write `categories: [test]`, `www: http://test`,
/// `desc: <<EOD`).
#[test]
fn a_realistic_ucl_manifest_reads_as_pkg_would() {
    let manifest = r#"# +MANIFEST of curl, emitted as UCL
name = "curl";
origin = "ftp/curl";
version = "8.11.1_1";
comment = "Command line tool and library for transferring data with URLs";
maintainer = "sunpoet@FreeBSD.org";
www = https://curl.se/;
abi = "FreeBSD:14:amd64";
arch = "freebsd:14:x86:64";
prefix = "/usr/local";
flatsize = 4771302;
licenselogic = "single";
licenses [
    "MIT",
]
desc = <<EOD
Curl is a command line tool for transferring data with URLs, "quoted"
and \backslashed; it supports DICT, FILE, FTP, ... and TFTP.
EOD;
deps {
    ca_root_nss {
        origin = "security/ca_root_nss";
        version = "3.107";
    }
    libnghttp2 {
        origin: "www/libnghttp2"
        version: "1.64.0"
    }
}
categories: [ftp, net, www]
shlibs_required [
    "libnghttp2.so.14",
]
shlibs_provided [
    "libcurl.so.4",
]
options {
    GSSAPI_BASE = "on";
    IDN = "off";
}
annotations {
    FreeBSD_version = "1402000";
    build_timestamp = "2025-01-08T12:00:00+0000";
}
/* files: sha256 with pkg's "1$" prefix */
files {
    "/usr/local/bin/curl" = "1$e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    "/usr/local/lib/libcurl.so.4" = "1$5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9";
}
directories {
    "/usr/local/share/doc/curl/" = "y";
}
scripts {
    post-install = "echo \"installed\"\n/usr/bin/true";
}
"#;
    let tar = depot_testkit::tar_archive(&[
        depot_testkit::TarMember::File("+MANIFEST", manifest.as_bytes()),
        depot_testkit::TarMember::File("/usr/local/bin/curl", b""),
        depot_testkit::TarMember::File("/usr/local/lib/libcurl.so.4", b"0"),
    ]);
    let info = inspect(&Compression::Zstd.compress(&tar)).unwrap();
    assert_eq!(info.name, "curl");
    assert_eq!(info.version, "8.11.1_1");
    assert_eq!(info.www, "https://curl.se/");
    assert_eq!(info.flatsize, 4_771_302);
    let want = json!({
        "name": "curl",
        "origin": "ftp/curl",
        "version": "8.11.1_1",
        "comment": "Command line tool and library for transferring data with URLs",
        "maintainer": "sunpoet@FreeBSD.org",
        "www": "https://curl.se/",
        "abi": "FreeBSD:14:amd64",
        "arch": "freebsd:14:x86:64",
        "prefix": "/usr/local",
        "flatsize": 4771302,
        "licenselogic": "single",
        "licenses": ["MIT"],
        "desc": "Curl is a command line tool for transferring data with URLs, \"quoted\"\nand \\backslashed; it supports DICT, FILE, FTP, ... and TFTP.",
        "deps": {
            "ca_root_nss": {"origin": "security/ca_root_nss", "version": "3.107"},
            "libnghttp2": {"origin": "www/libnghttp2", "version": "1.64.0"}
        },
        "categories": ["ftp", "net", "www"],
        "shlibs_required": ["libnghttp2.so.14"],
        "shlibs_provided": ["libcurl.so.4"],
        "options": {"GSSAPI_BASE": "on", "IDN": "off"},
        "annotations": {"FreeBSD_version": "1402000", "build_timestamp": "2025-01-08T12:00:00+0000"}
    });
    assert_eq!(Value::Object(info.compact.clone()), want);
    let line: Value =
        serde_json::from_str(&freebsd::catalogue_entry(&info, 10, &"ab".repeat(32))).unwrap();
    assert_eq!(line["deps"]["libnghttp2"]["version"], "1.64.0");
    assert!(line.get("files").is_none() && line.get("scripts").is_none());
    // The manifest's paths are checked, UCL or not.
    let evil = manifest.replace("/usr/local/bin/curl", "/usr/local/../../etc/rc.conf");
    let tar =
        depot_testkit::tar_archive(&[depot_testkit::TarMember::File("+MANIFEST", evil.as_bytes())]);
    let e = refused(&Compression::Zstd.compress(&tar));
    assert!(e.to_string().contains("traversal"), "{e}");
}

/// Malformed UCL manifests are refused (422 at the API), each with a
/// message naming the line, and nothing is read from them.
#[test]
fn malformed_ucl_manifests_are_refused() {
    for (bad, says) in [
        ("name = \"hello;\nversion = \"1.0\";\n", "never closed"),
        (
            "name = \"hello\";\ndeps {\n    x { origin = \"a/x\"; }\n",
            "never closed",
        ),
        (
            "name = \"hello\";\nlicenses [ \"MIT\" \"BSD\" ]\n",
            "expected ','",
        ),
        ("name = \"hello\";\ndesc = <<EOD\nno end\n", "heredoc"),
        ("name = \"hello\";\ncomment = ;\n", "has no value"),
        ("name = \"hello\";\n}\n", "without a matching"),
        ("/* never closed\nname = \"hello\";\n", "never closed"),
        ("name = \"\\x41\";\n", "unknown escape"),
    ] {
        let e = refused(&hello().raw_manifest(bad.as_bytes()).build());
        assert!(matches!(e, FormatError::Invalid(_)), "{bad:?}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("nor UCL") && msg.contains(says),
            "{bad:?}: {msg}"
        );
    }
    let deep = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = refused(&hello().raw_manifest(deep.as_bytes()).build());
    assert!(e.to_string().contains("nested more than"), "{e}");
    // The manifest size limit applies before any parsing.
    let limits = Limits {
        max_manifest: 64,
        ..Limits::default()
    };
    let e = freebsd::inspect(&hello().expanded_manifest().build()[..], &limits).unwrap_err();
    assert!(matches!(e, FormatError::TooLarge(_)), "{e:?}");
}

/// Regression (issue 11): `meta.conf` named a `filesite` that depot does
/// not serve (it keeps no per-package file lists). It names only the
/// catalogues that are served; pkg falls back to its defaults for a key
/// that is absent (`pkg_repo_meta_parse`).
#[test]
fn meta_conf_names_only_the_catalogues_depot_serves() {
    let meta = freebsd::ucl::parse(freebsd::meta_conf().as_bytes()).unwrap();
    assert_eq!(
        Value::Object(meta),
        json!({
            "version": 2,
            "packing_format": "txz",
            "manifests": "packagesite.yaml",
            "manifests_archive": "packagesite",
            "data": "data",
            "data_archive": "data"
        })
    );
}

/// Regression (the zstd window OOM fuzzing found in pacman's reader, which
/// this one shared): a frame declaring a 2 GiB window is refused for its
/// window before anything is allocated.
#[test]
fn a_zstd_frame_declaring_a_huge_window_is_refused_before_allocating_it() {
    let msg = refused(b"\x28\xb5\x2f\xfd\x00\xa8").to_string();
    assert!(
        msg.contains("window") || msg.contains("memory") || msg.contains("Frame requires"),
        "refused for its window, not for being truncated: {msg}"
    );
    inspect(&hello().build()).expect("an ordinary package still reads");
}
