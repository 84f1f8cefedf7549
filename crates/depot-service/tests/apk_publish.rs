//! Alpine publishing through the service (SQLite + local blobs, no HTTP),
//! checked the way apk checks a repository (no apk client runs here):
//! the `APKINDEX.tar.gz` is split into its gzip streams, both signatures
//! (`.SIGN.RSA256.` and `.SIGN.RSA.`) are verified over the index stream
//! with `openssl dgst -sha256|-sha1 -verify` and the served public key,
//! and every `C:` is compared with the SHA-1 of the control stream of the
//! package served beside the index. Also: `noarch` in every arch, indexes
//! by placement, uploads one at a time equal a full render, removals,
//! no RSA key for repositories without Alpine packages, and bad packages
//! refused without changing anything.

use depot_core::{FileName, Format, PlacementName, RepoName, RepoSettings};
use depot_formats::apk;
use depot_service::{Depot, ServiceConfig, ServiceError, UploadOptions};
use depot_testkit::{ApkBuilder, DebBuilder, apk_bomb};
use sha1::{Digest, Sha1};
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
    config.formats =
        config
            .formats
            .with(depot_formats::apk::Apk::new(depot_formats::apk::Limits {
                max_unpacked: 16 << 20,
                ..Default::default()
            }));
    Depot::open_data_dir(dir, config).await.unwrap()
}

async fn upload_as(
    depot: &Depot,
    r: &str,
    file: &str,
    bytes: &[u8],
    placement: Option<(&str, &str)>,
) -> Result<depot_service::UploadOutcome, ServiceError> {
    let opts = UploadOptions {
        distribution: placement.map(|p| PlacementName::new(p.0).unwrap()),
        component: placement.map(|p| PlacementName::new(p.1).unwrap()),
    };
    depot
        .upload(&repo(r), &FileName::new(file).unwrap(), bytes, &opts)
        .await
}

async fn upload(depot: &Depot, r: &str, b: &ApkBuilder, placement: Option<(&str, &str)>) {
    upload_as(depot, r, &b.file_name(), &b.build(), placement)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", b.file_name()));
}

async fn alpine(depot: &Depot, r: &str, path: &str) -> Result<Vec<u8>, ServiceError> {
    let d = depot
        .published_file(&repo(r), &format!("alpine/{path}"), None)
        .await?;
    Ok(d.bytes().await.unwrap())
}

fn openssl_verify(hash: &str, key_pem: &str, sig: &[u8], data: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let (k, s, d) = (
        dir.path().join("key.rsa.pub"),
        dir.path().join("sig"),
        dir.path().join("data"),
    );
    std::fs::write(&k, key_pem).unwrap();
    std::fs::write(&s, sig).unwrap();
    std::fs::write(&d, data).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", hash, "-verify"])
        .arg(&k)
        .arg("-signature")
        .arg(&s)
        .arg(&d)
        .output()
        .expect("openssl runs");
    out.status.success()
}

/// What apk does with an index: split, verify, read. Returns the blocks
/// by `P-V`.
async fn verified_index(
    depot: &Depot,
    r: &str,
    dir: &str,
) -> BTreeMap<String, BTreeMap<char, String>> {
    let bytes = alpine(depot, r, &format!("{dir}/APKINDEX.tar.gz"))
        .await
        .unwrap();
    let streams = apk::gzip_streams(&bytes).unwrap();
    assert_eq!(streams.len(), 2, "signature stream + index stream");
    let archive = apk::read_index_archive(&bytes).unwrap();
    let (key_name, pem) = depot.rsa_public_key(&repo(r)).await.unwrap();
    assert!(key_name.starts_with("depot-") && key_name.ends_with(".rsa.pub"));
    let served_key = alpine(depot, r, &key_name).await.unwrap();
    assert_eq!(served_key, pem.as_bytes());
    let names: Vec<&str> = archive.signatures.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            format!(".SIGN.RSA256.{key_name}"),
            format!(".SIGN.RSA.{key_name}")
        ]
    );
    assert_eq!(archive.signed, bytes[streams[1].clone()]);
    assert!(openssl_verify(
        "-sha256",
        &pem,
        &archive.signatures[0].1,
        &archive.signed
    ));
    assert!(openssl_verify(
        "-sha1",
        &pem,
        &archive.signatures[1].1,
        &archive.signed
    ));
    // A changed index stream fails.
    let mut tampered = archive.signed.clone();
    let n = tampered.len();
    tampered[n - 9] ^= 1;
    assert!(!openssl_verify(
        "-sha256",
        &pem,
        &archive.signatures[0].1,
        &tampered
    ));
    let mut out = BTreeMap::new();
    for block in apk::parse_index(&archive.apkindex).unwrap() {
        let fields: BTreeMap<char, String> = block.into_iter().collect();
        // The package beside the index, checked as apk checks it.
        let file = format!("{}-{}.apk", fields[&'P'], fields[&'V']);
        let pkg = alpine(depot, r, &format!("{dir}/{file}")).await.unwrap();
        assert_eq!(fields[&'S'], pkg.len().to_string(), "{file}");
        let pkg_streams = apk::gzip_streams(&pkg).unwrap();
        let control = &pkg[pkg_streams[pkg_streams.len() - 2].clone()];
        let c = format!(
            "Q1{}",
            depot_formats::pacman::base64_encode(&Sha1::digest(control))
        );
        assert_eq!(fields[&'C'], c, "{file}");
        out.insert(format!("{}-{}", fields[&'P'], fields[&'V']), fields);
    }
    out
}

fn fixtures() -> Vec<ApkBuilder> {
    vec![
        ApkBuilder::new("libgreet", "1.2-r0", "x86_64")
            .field("license", "MIT")
            .provides("so:libgreet.so.1=1")
            .file("usr/lib/libgreet.so.1", b"\x7fELF"),
        ApkBuilder::new("greet-doc", "1.2-r0", "noarch")
            .field("license", "MIT")
            .file("usr/share/doc/greet/README", b"hi\n"),
        ApkBuilder::new("greet", "1.2-r1", "x86_64")
            .depends("so:libgreet.so.1")
            .field("license", "MIT")
            .signature(".SIGN.RSA.builder.rsa.pub", &[9u8; 256])
            .file("usr/bin/greet", b"#!/bin/sh\necho hi\n"),
        ApkBuilder::new("greet", "1.2-r1", "aarch64")
            .depends("so:libgreet.so.1")
            .field("license", "MIT")
            .file("usr/bin/greet", b"#!/bin/sh\necho hi arm\n"),
    ]
}

#[tokio::test]
async fn indexes_are_signed_and_list_what_apk_checks() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("alp"), RepoSettings::default())
        .await
        .unwrap();
    for (i, b) in fixtures().iter().enumerate() {
        // Two architectures of one version need two upload names.
        let name = if i == 3 {
            "greet-1.2-r1.aarch64.apk".to_string()
        } else {
            b.file_name()
        };
        upload_as(&depot, "alp", &name, &b.build(), Some(("v3.20", "main")))
            .await
            .unwrap();
    }
    let x86 = verified_index(&depot, "alp", "v3.20/main/x86_64").await;
    assert_eq!(
        x86.keys().collect::<Vec<_>>(),
        ["greet-1.2-r1", "greet-doc-1.2-r0", "libgreet-1.2-r0"]
    );
    assert_eq!(x86["greet-1.2-r1"][&'A'], "x86_64");
    assert_eq!(x86["greet-1.2-r1"][&'D'], "so:libgreet.so.1");
    assert_eq!(x86["libgreet-1.2-r0"][&'p'], "so:libgreet.so.1=1");
    assert_eq!(x86["greet-doc-1.2-r0"][&'A'], "noarch");
    let arm = verified_index(&depot, "alp", "v3.20/main/aarch64").await;
    assert_eq!(
        arm.keys().collect::<Vec<_>>(),
        ["greet-1.2-r1", "greet-doc-1.2-r0"]
    );
    assert_eq!(arm["greet-1.2-r1"][&'A'], "aarch64");
    // The same package file under each arch it is listed in.
    let doc = fixtures()[1].build();
    for arch in ["x86_64", "aarch64"] {
        assert_eq!(
            alpine(
                &depot,
                "alp",
                &format!("v3.20/main/{arch}/greet-doc-1.2-r0.apk")
            )
            .await
            .unwrap(),
            doc
        );
    }
    // Nothing at the default placement, and no x86_64 package in arm.
    assert!(matches!(
        alpine(&depot, "alp", "stable/main/x86_64/APKINDEX.tar.gz").await,
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(
        alpine(&depot, "alp", "v3.20/main/aarch64/libgreet-1.2-r0.apk").await,
        Err(ServiceError::NotFound(_))
    ));
    assert!(matches!(
        alpine(&depot, "alp", "other-key.rsa.pub").await,
        Err(ServiceError::NotFound(_))
    ));
    // Another placement gets its own index.
    upload(
        &depot,
        "alp",
        &ApkBuilder::new("edge-only", "0.1-r0", "x86_64"),
        Some(("edge", "testing")),
    )
    .await;
    let edge = verified_index(&depot, "alp", "edge/testing/x86_64").await;
    assert_eq!(edge.keys().collect::<Vec<_>>(), ["edge-only-0.1-r0"]);
    let x86_again = verified_index(&depot, "alp", "v3.20/main/x86_64").await;
    assert_eq!(x86_again, x86);
    // The repositories line names the branch and repository.
    let at = depot_service::At {
        distribution: Some(PlacementName::new("v3.20").unwrap()),
        component: None,
    };
    let line = depot
        .client_config(&repo("alp"), Format::Apk, "http://h:1", &at)
        .await
        .unwrap()
        .unwrap();
    assert!(
        line.contains("\nhttp://h:1/repos/alp/alpine/v3.20/main\n"),
        "{line}"
    );
}

#[tokio::test]
async fn one_at_a_time_equals_a_rebuild_and_removals_drop_entries() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("alp"), RepoSettings::default())
        .await
        .unwrap();
    let fx = fixtures();
    for b in &fx[..3] {
        upload(&depot, "alp", b, None).await;
    }
    let index_text = |bytes: Vec<u8>| apk::read_index_archive(&bytes).unwrap().apkindex;
    let one_by_one = index_text(
        alpine(&depot, "alp", "stable/main/x86_64/APKINDEX.tar.gz")
            .await
            .unwrap(),
    );
    assert_eq!(apk::parse_index(&one_by_one).unwrap().len(), 3);
    depot.rebuild(&repo("alp")).await.unwrap();
    let rebuilt = index_text(
        alpine(&depot, "alp", "stable/main/x86_64/APKINDEX.tar.gz")
            .await
            .unwrap(),
    );
    assert_eq!(rebuilt, one_by_one);
    depot
        .remove(&repo("alp"), &FileName::new(&fx[1].file_name()).unwrap())
        .await
        .unwrap();
    let after = verified_index(&depot, "alp", "stable/main/x86_64").await;
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        ["greet-1.2-r1", "libgreet-1.2-r0"]
    );
    assert!(matches!(
        alpine(&depot, "alp", "stable/main/x86_64/greet-doc-1.2-r0.apk").await,
        Err(ServiceError::NotFound(_))
    ));
    // A new server on the same data dir agrees on the key.
    let (name, pem) = depot.rsa_public_key(&repo("alp")).await.unwrap();
    drop(depot);
    let again = open(dir.path()).await;
    assert_eq!(
        again.rsa_public_key(&repo("alp")).await.unwrap(),
        (name, pem)
    );
}

#[tokio::test]
async fn repositories_without_alpine_packages_need_no_rsa_key() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("debs"), RepoSettings::default())
        .await
        .unwrap();
    let deb = DebBuilder::new("hello", "1.0", "amd64").build();
    depot
        .upload(
            &repo("debs"),
            &FileName::new("hello_1.0_amd64.deb").unwrap(),
            &deb[..],
            &UploadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        depot.meta().get_signing_key("server-rsa").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn bad_packages_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("alp"), RepoSettings::default())
        .await
        .unwrap();
    let good = ApkBuilder::new("good", "1.0-r0", "x86_64").file("usr/bin/good", b"x");
    upload(&depot, "alp", &good, None).await;
    let index = || async {
        alpine(&depot, "alp", "stable/main/x86_64/APKINDEX.tar.gz")
            .await
            .unwrap()
    };
    let before_index = index().await;
    let before_list = depot.list_packages(&repo("alp")).await.unwrap().len();

    let hello = ApkBuilder::new("hello", "1.0-r0", "x86_64").file("usr/bin/hello", b"x");
    let full = hello.build();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong magic", b"<html>404</html>".to_vec(), "gzip magic"),
        ("truncated", full[..full.len() - 20].to_vec(), "ends early"),
        (
            "missing pkgver",
            hello
                .clone()
                .raw_pkginfo(b"pkgname = hello\narch = x86_64\n")
                .build(),
            "no pkgver",
        ),
        (
            "forbidden name characters",
            ApkBuilder::new("hel lo", "1.0-r0", "x86_64").build(),
            "not a valid apk package name",
        ),
        (
            "path traversal",
            hello.clone().data_member("../../etc/passwd", b"x").build(),
            "path traversal",
        ),
        ("bomb", apk_bomb(64 << 20), "decompression bomb"),
    ];
    for (what, bytes, says) in cases {
        let e = upload_as(&depot, "alp", "hello-1.0-r0.apk", &bytes, None)
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::BadPackage(_)), "{what}: {e:?}");
        assert!(e.to_string().contains(says), "{what}: {e}");
    }
    let e = upload_as(&depot, "alp", "evil name.apk", &full, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Invalid(_)), "{e:?}");
    // The same file name with other content, and the same name, version
    // and arch under another file name: conflicts.
    let other = ApkBuilder::new("good", "1.0-r0", "x86_64").file("usr/bin/good", b"y");
    upload(&depot, "alp", &good, None).await;
    let e = upload_as(&depot, "alp", &good.file_name(), &other.build(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    let e = upload_as(&depot, "alp", "good-copy.apk", &other.build(), None)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");

    assert_eq!(index().await, before_index);
    assert_eq!(
        depot.list_packages(&repo("alp")).await.unwrap().len(),
        before_list
    );
}
