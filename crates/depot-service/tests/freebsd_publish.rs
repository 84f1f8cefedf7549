//! FreeBSD publishing through the service (SQLite + local blobs, no
//! HTTP), checked as pkg checks a repository (no pkg client runs here):
//! the catalogue archives are unpacked, the `signature` member (minus the
//! NUL pkg drops) and `packagesite.yaml.sig` are verified with
//! `openssl dgst -sha256 -verify` over the hex SHA-256 of the catalogue
//! (what pkg's RSA signer signs), every catalogue line is compared field
//! by field with the package's own `+COMPACT_MANIFEST`, `sum` and
//! `pkgsize` with the package served under `All/`. Also: `*` packages in
//! every ABI of their OS version, one entry per name (the newest), other
//! placements in their own tree, the repo.conf text, and bad packages
//! refused without changing anything.

use depot_core::{FileName, PlacementName, RepoName, RepoSettings};
use depot_formats::freebsd;
use depot_service::{Depot, ServiceConfig, ServiceError, UploadOptions};
use depot_testkit::{Compression, FreebsdBuilder};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn repo(name: &str) -> RepoName {
    RepoName::new(name).unwrap()
}

async fn open(dir: &Path) -> Depot {
    let mut config = ServiceConfig {
        rsa_key_bits: 2048,
        xz_delay: None,
        ..ServiceConfig::default()
    };
    config.formats = config.formats.with(depot_formats::freebsd::Freebsd::new(
        depot_formats::freebsd::Limits {
            max_unpacked: 16 << 20,
            ..Default::default()
        },
    ));
    Depot::open_data_dir(dir, config).await.unwrap()
}

async fn upload_as(
    depot: &Depot,
    file: &str,
    bytes: &[u8],
    placement: Option<(&str, &str)>,
) -> Result<depot_service::UploadOutcome, ServiceError> {
    let opts = UploadOptions {
        distribution: placement.map(|p| PlacementName::new(p.0).unwrap()),
        component: placement.map(|p| PlacementName::new(p.1).unwrap()),
    };
    depot
        .upload(&repo("bsd"), &FileName::new(file).unwrap(), bytes, &opts)
        .await
}

async fn fetch(depot: &Depot, path: &str) -> Result<Vec<u8>, ServiceError> {
    let d = depot
        .published_file(&repo("bsd"), &format!("freebsd/{path}"), None)
        .await?;
    Ok(d.bytes().await.unwrap())
}

fn openssl_verify(key_pem: &str, sig: &[u8], data: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (k, s, d) = (
        dir.path().join("key.pub"),
        dir.path().join("sig"),
        dir.path().join("data"),
    );
    std::fs::write(&k, key_pem).unwrap();
    std::fs::write(&s, sig).unwrap();
    std::fs::write(&d, data).unwrap();
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&k)
        .arg("-signature")
        .arg(&s)
        .arg(&d)
        .output()
        .expect("openssl runs")
        .status
        .success()
}

/// Unpacks a catalogue archive and checks both signatures as pkg does.
async fn verified(depot: &Depot, path: &str, inner: &str) -> Vec<u8> {
    let bytes = fetch(depot, path).await.unwrap();
    let members: BTreeMap<String, Vec<u8>> =
        freebsd::read_archive(&bytes).unwrap().into_iter().collect();
    let content = members[inner].clone();
    let (_, pem) = depot.rsa_public_key(&repo("bsd")).await.unwrap();
    let signed = freebsd::signed_text(&content);
    // signature_type "pubkey": pkg drops the last byte (a NUL).
    let sig = &members["signature"];
    assert_eq!(sig.last(), Some(&0));
    assert!(
        openssl_verify(&pem, &sig[..sig.len() - 1], signed.as_bytes()),
        "{path}"
    );
    // signature_type "fingerprints": {inner}.sig with {inner}.pub.
    assert_eq!(members[&format!("{inner}.pub")], pem.as_bytes());
    assert!(openssl_verify(
        &pem,
        &members[&format!("{inner}.sig")],
        signed.as_bytes()
    ));
    assert!(!openssl_verify(&pem, &sig[..sig.len() - 1], b"tampered"));
    content
}

/// The catalogue of an ABI dir, checked line by line against the
/// packages served beside it. By name.
async fn catalogue(
    depot: &Depot,
    dir: &str,
    builders: &[FreebsdBuilder],
) -> BTreeMap<String, serde_json::Value> {
    let yaml = verified(depot, &format!("{dir}/packagesite.pkg"), "packagesite.yaml").await;
    assert_eq!(
        fetch(depot, &format!("{dir}/packagesite.txz"))
            .await
            .unwrap(),
        fetch(depot, &format!("{dir}/packagesite.pkg"))
            .await
            .unwrap()
    );
    let data = verified(depot, &format!("{dir}/data.pkg"), "data").await;
    let data: serde_json::Value = serde_json::from_slice(&data).unwrap();
    verified(depot, &format!("{dir}/meta.txz"), "meta").await;
    let meta = String::from_utf8(fetch(depot, &format!("{dir}/meta.conf")).await.unwrap()).unwrap();
    assert!(meta.contains("manifests = \"packagesite.yaml\";"), "{meta}");
    let mut out = BTreeMap::new();
    let text = String::from_utf8(yaml).unwrap();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(data["packages"][i], v, "data.pkg lists the same");
        let name = v["name"].as_str().unwrap().to_string();
        let version = v["version"].as_str().unwrap();
        let compact_of = |b: &FreebsdBuilder| -> serde_json::Value {
            serde_json::from_slice(&b.compact_manifest()).unwrap()
        };
        let b = builders
            .iter()
            .find(|b| {
                b.name() == name && b.version() == version && compact_of(b)["abi"] == v["abi"]
            })
            .unwrap_or_else(|| panic!("{name} {version} is not a fixture"));
        let compact = compact_of(b);
        for (k, want) in compact.as_object().unwrap() {
            assert_eq!(&v[k], want, "{name}: {k}");
        }
        let path = v["path"].as_str().unwrap();
        assert_eq!(path, format!("All/{name}-{version}.pkg"));
        assert_eq!(v["repopath"], v["path"]);
        let pkg = fetch(depot, &format!("{dir}/{path}")).await.unwrap();
        assert_eq!(pkg, b.build(), "{path}");
        assert_eq!(v["pkgsize"], pkg.len());
        assert_eq!(v["sum"], freebsd::signed_text(&pkg));
        out.insert(name, v);
    }
    assert_eq!(data["packages"].as_array().unwrap().len(), out.len());
    out
}

fn fixtures() -> Vec<FreebsdBuilder> {
    vec![
        FreebsdBuilder::new("libgreet", "1.2", "FreeBSD:14:amd64")
            .set("shlibs_provided", "[\"libgreet.so.1\"]")
            .file("/usr/local/lib/libgreet.so.1", b"\x7fELF"),
        FreebsdBuilder::new("greet", "1.2_1", "FreeBSD:14:amd64")
            .depends("libgreet", "1.2")
            .compression(Compression::Xz)
            .file("/usr/local/bin/greet", b"#!/bin/sh\necho hi\n"),
        FreebsdBuilder::new("greet-doc", "1.2", "FreeBSD:14:*")
            .file("/usr/local/share/doc/greet/README", b"hi\n"),
        FreebsdBuilder::new("greet", "1.2_1", "FreeBSD:14:aarch64")
            .depends("libgreet", "1.2")
            .file("/usr/local/bin/greet", b"#!/bin/sh\necho hi arm\n"),
    ]
}

#[tokio::test]
async fn catalogues_are_signed_and_list_what_the_manifests_say() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("bsd"), RepoSettings::default())
        .await
        .unwrap();
    let fx = fixtures();
    for (i, b) in fx.iter().enumerate() {
        let name = if i == 3 {
            "greet-1.2_1.aarch64.pkg".to_string()
        } else {
            b.file_name()
        };
        upload_as(&depot, &name, &b.build(), None).await.unwrap();
    }
    let amd = catalogue(&depot, "FreeBSD:14:amd64", &fx).await;
    assert_eq!(
        amd.keys().collect::<Vec<_>>(),
        ["greet", "greet-doc", "libgreet"]
    );
    assert_eq!(amd["greet"]["abi"], "FreeBSD:14:amd64");
    assert_eq!(amd["greet"]["deps"]["libgreet"]["version"], "1.2");
    let arm = catalogue(&depot, "FreeBSD:14:aarch64", &fx).await;
    assert_eq!(arm.keys().collect::<Vec<_>>(), ["greet", "greet-doc"]);
    assert_eq!(arm["greet"]["abi"], "FreeBSD:14:aarch64");

    // A newer version replaces the entry; an older one does not.
    let newer = FreebsdBuilder::new("libgreet", "1.10", "FreeBSD:14:amd64")
        .file("/usr/local/lib/libgreet.so.1", b"\x7fELF 1.10");
    let older = FreebsdBuilder::new("libgreet", "1.1", "FreeBSD:14:amd64");
    upload_as(&depot, &newer.file_name(), &newer.build(), None)
        .await
        .unwrap();
    upload_as(&depot, &older.file_name(), &older.build(), None)
        .await
        .unwrap();
    let mut all = fx.clone();
    all.extend([newer, older]);
    let amd = catalogue(&depot, "FreeBSD:14:amd64", &all).await;
    assert_eq!(amd["libgreet"]["version"], "1.10");

    // Another placement gets its own tree.
    let edge = FreebsdBuilder::new("edge-only", "0.1", "FreeBSD:15:amd64");
    upload_as(
        &depot,
        &edge.file_name(),
        &edge.build(),
        Some(("testing", "main")),
    )
    .await
    .unwrap();
    let t = catalogue(&depot, "testing/main/FreeBSD:15:amd64", &[edge]).await;
    assert_eq!(t.keys().collect::<Vec<_>>(), ["edge-only"]);
    assert!(matches!(
        fetch(&depot, "FreeBSD:15:amd64/packagesite.pkg").await,
        Err(ServiceError::NotFound(_))
    ));
    // The default tree is unchanged by it.
    assert_eq!(catalogue(&depot, "FreeBSD:14:amd64", &all).await, amd);

    let conf = depot
        .client_config(
            &repo("bsd"),
            depot_core::Format::Freebsd,
            "http://h:1",
            &depot_service::At::default(),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        conf.contains("url: \"http://h:1/repos/bsd/freebsd/${ABI}\""),
        "{conf}"
    );
    assert!(conf.contains("signature_type: \"pubkey\""), "{conf}");

    // Removing a package renders everything again without it.
    depot
        .remove(&repo("bsd"), &FileName::new(&fx[2].file_name()).unwrap())
        .await
        .unwrap();
    let amd = catalogue(&depot, "FreeBSD:14:amd64", &all).await;
    assert_eq!(amd.keys().collect::<Vec<_>>(), ["greet", "libgreet"]);
}

#[tokio::test]
async fn bad_packages_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("bsd"), RepoSettings::default())
        .await
        .unwrap();
    let good =
        FreebsdBuilder::new("good", "1.0", "FreeBSD:14:amd64").file("/usr/local/bin/good", b"x");
    upload_as(&depot, &good.file_name(), &good.build(), None)
        .await
        .unwrap();
    let site = || async {
        fetch(&depot, "FreeBSD:14:amd64/packagesite.pkg")
            .await
            .unwrap()
    };
    let before = site().await;
    let count = depot.list_packages(&repo("bsd")).await.unwrap().len();
    let hello =
        FreebsdBuilder::new("hello", "1.0", "FreeBSD:14:amd64").file("/usr/local/bin/hello", b"x");
    let full = hello.build();
    let zeros = vec![0u8; 32 << 20];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "wrong magic",
            b"<html>404</html>".to_vec(),
            "not a FreeBSD package",
        ),
        ("truncated", full[..full.len() / 2].to_vec(), "ends early"),
        (
            "missing origin",
            hello.clone().remove("origin").build(),
            "'origin'",
        ),
        (
            "forbidden name characters",
            FreebsdBuilder::new("hel lo", "1.0", "FreeBSD:14:amd64").build(),
            "not a valid package name",
        ),
        (
            "path traversal",
            hello.clone().member("../../etc/passwd", b"x").build(),
            "path traversal",
        ),
        (
            "bomb",
            hello.clone().file("/usr/local/zeros", &zeros).build(),
            "decompression bomb",
        ),
    ];
    for (what, bytes, says) in cases {
        let e = upload_as(&depot, "hello-1.0.pkg", &bytes, None)
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::BadPackage(_)), "{what}: {e:?}");
        assert!(e.to_string().contains(says), "{what}: {e}");
    }
    let other =
        FreebsdBuilder::new("good", "1.0", "FreeBSD:14:amd64").file("/usr/local/bin/good", b"y");
    for name in [good.file_name(), "good-copy.pkg".to_string()] {
        let e = upload_as(&depot, &name, &other.build(), None)
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Conflict(_)), "{name}: {e:?}");
    }
    assert_eq!(site().await, before);
    assert_eq!(
        depot.list_packages(&repo("bsd")).await.unwrap().len(),
        count
    );
}

/// Regression: `Depot::list_packages` ordered versions with a `match` on
/// the format that ended in `_ => Equal`, so FreeBSD packages of one name
/// were listed by file name (`hello-0.9.pkg`, `hello-1.0_1.pkg`,
/// `hello-1.0_10.pkg`: oldest first) instead of newest first as for every
/// other format. The order now comes from the format registry, pkg's
/// version order for FreeBSD.
#[tokio::test]
async fn freebsd_packages_list_newest_version_first() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("bsd"), RepoSettings::default())
        .await
        .unwrap();
    for version in ["1.0_1", "0.9", "1.0_10"] {
        let b = FreebsdBuilder::new("hello", version, "FreeBSD:14:amd64");
        upload_as(&depot, &b.file_name(), &b.build(), None)
            .await
            .unwrap();
    }
    let listed: Vec<String> = depot
        .list_packages(&repo("bsd"))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(listed, ["1.0_10", "1.0_1", "0.9"]);
}
