//! rpm publishing through the service (SQLite + local blobs, no HTTP):
//! `repodata/` after uploads one at a time (the incremental path) must say
//! exactly what a full render of the same packages says, every file must
//! match the checksums repomd.xml gives, superseded generations stay
//! fetchable by their checksum names, and removals, rebuilds and other
//! placements render afresh.

use depot_core::{FileName, PlacementName, RepoName, RepoSettings};
use depot_service::{Depot, ServiceConfig, UploadOptions};
use depot_testkit::RpmBuilder;
use sha2::Digest;
use std::collections::BTreeSet;
use std::io::Read;

fn repo(name: &str) -> RepoName {
    RepoName::new(name).unwrap()
}

async fn open(dir: &std::path::Path) -> Depot {
    Depot::open_data_dir(dir, ServiceConfig::default())
        .await
        .unwrap()
}

async fn upload(depot: &Depot, r: &str, rpm: &RpmBuilder, dist: Option<&str>) {
    let opts = UploadOptions {
        distribution: dist.map(|d| PlacementName::new(d).unwrap()),
        component: None,
    };
    depot
        .upload(
            &repo(r),
            &FileName::new(&rpm.file_name()).unwrap(),
            &rpm.build()[..],
            &opts,
        )
        .await
        .unwrap();
}

async fn fetch(depot: &Depot, r: &str, path: &str) -> Vec<u8> {
    depot
        .published_file(&repo(r), path, None)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .bytes()
        .await
        .unwrap()
}

fn hex(data: &[u8]) -> String {
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// One `<data>` of repomd.xml.
#[derive(Debug)]
struct Data {
    kind: String,
    href: String,
    checksum: String,
    open_checksum: String,
    size: u64,
    open_size: u64,
}

fn repomd_data(xml: &str) -> Vec<Data> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        n.children()
            .find(|c| c.has_tag_name(name))
            .unwrap_or_else(|| panic!("<data> without <{name}>"))
    }
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("data"))
        .map(|d| Data {
            kind: d.attribute("type").unwrap().to_string(),
            href: child(d, "location").attribute("href").unwrap().to_string(),
            checksum: child(d, "checksum").text().unwrap().to_string(),
            open_checksum: child(d, "open-checksum").text().unwrap().to_string(),
            size: child(d, "size").text().unwrap().parse().unwrap(),
            open_size: child(d, "open-size").text().unwrap().parse().unwrap(),
        })
        .collect()
}

/// The three metadata documents of the tree at `base` ("" or
/// "rpm/dist/comp/"), each checked against repomd.xml, decompressed.
async fn metadata(depot: &Depot, r: &str, base: &str) -> Vec<(String, String)> {
    let repomd =
        String::from_utf8(fetch(depot, r, &format!("{base}repodata/repomd.xml")).await).unwrap();
    let data = repomd_data(&repomd);
    let kinds: Vec<&str> = data.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["primary", "filelists", "other"], "{repomd}");
    let mut out = Vec::new();
    for d in &data {
        assert!(
            d.href.starts_with(&format!("repodata/{}-", d.checksum)),
            "file name carries its checksum: {d:?}"
        );
        let gz = fetch(depot, r, &format!("{base}{}", d.href)).await;
        assert_eq!(gz.len() as u64, d.size, "{d:?}");
        assert_eq!(hex(&gz), d.checksum, "{d:?}");
        let plain = gunzip(&gz);
        assert_eq!(plain.len() as u64, d.open_size, "{d:?}");
        assert_eq!(hex(&plain), d.open_checksum, "{d:?}");
        out.push((d.kind.clone(), String::from_utf8(plain).unwrap()));
    }
    out
}

/// `(name, packages attribute)` of each document, and the package names
/// primary.xml lists.
fn summary(docs: &[(String, String)]) -> (Vec<usize>, Vec<String>) {
    let mut counts = Vec::new();
    let mut names = Vec::new();
    for (kind, text) in docs {
        let doc = roxmltree::Document::parse(text)
            .unwrap_or_else(|e| panic!("{kind} is not well-formed XML: {e}\n{text}"));
        let root = doc.root_element();
        let declared: usize = root.attribute("packages").unwrap().parse().unwrap();
        let listed = root
            .children()
            .filter(|n| n.has_tag_name("package"))
            .count();
        assert_eq!(
            declared, listed,
            "{kind}: packages= says {declared}, lists {listed}"
        );
        counts.push(listed);
        if kind == "primary" {
            for p in root.children().filter(|n| n.has_tag_name("package")) {
                let name = p.children().find(|c| c.has_tag_name("name")).unwrap();
                names.push(name.text().unwrap().to_string());
            }
        }
    }
    (counts, names)
}

fn fixture(i: usize) -> RpmBuilder {
    RpmBuilder::new(&format!("pkg{i:03}"), &format!("1.{i}"), "1", "x86_64")
        .requires("bash >= 4.0")
        .file(&format!("/usr/bin/pkg{i:03}"), b"#!/bin/sh\n")
        .changelog("Dev <dev@example.org>", 1_700_000_000, "- first")
}

#[tokio::test]
async fn incremental_repodata_equals_a_full_render() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();

    // An empty repo already has valid, signed, empty repodata.
    let (counts, _) = summary(&metadata(&depot, "r", "").await);
    assert_eq!(counts, [0, 0, 0]);

    let mut generations = Vec::new();
    for i in 0..40 {
        upload(&depot, "r", &fixture(i), None).await;
        let repomd = String::from_utf8(fetch(&depot, "r", "repodata/repomd.xml").await).unwrap();
        generations.push(repomd_data(&repomd));
        let docs = metadata(&depot, "r", "").await;
        let (counts, names) = summary(&docs);
        assert_eq!(counts, [i + 1; 3], "after upload {i}");
        assert_eq!(names.last().unwrap(), &format!("pkg{i:03}"));
    }
    let incremental = metadata(&depot, "r", "").await;

    // Superseded generations stay readable under their checksum names.
    for d in generations.iter().rev().skip(1).take(5).flatten() {
        let gz = fetch(&depot, "r", &d.href).await;
        assert_eq!(hex(&gz), d.checksum);
    }

    // A rebuild renders everything afresh: the same documents.
    depot.rebuild(&repo("r")).await.unwrap();
    let full = metadata(&depot, "r", "").await;
    // `time file` is the upload time: a rebuild takes it from the package
    // record, stamped a moment after the upload's own clock read.
    let normalize = |docs: Vec<(String, String)>| -> Vec<(String, String)> {
        docs.into_iter()
            .map(|(k, t)| {
                let mut out = String::new();
                let mut rest = t.as_str();
                while let Some(at) = rest.find("<time file=\"") {
                    out.push_str(&rest[..at]);
                    rest = &rest[at + 12..];
                    let end = rest.find('"').unwrap();
                    out.push_str("<time file=\"T");
                    rest = &rest[end..];
                }
                out.push_str(rest);
                (k, out)
            })
            .collect()
    };
    assert!(incremental[0].1.contains("<time file=\""));
    assert_eq!(
        normalize(incremental),
        normalize(full),
        "incremental and full renders differ"
    );

    // The signature covers repomd.xml.
    let repomd = fetch(&depot, "r", "repodata/repomd.xml").await;
    let asc = String::from_utf8(fetch(&depot, "r", "repodata/repomd.xml.asc").await).unwrap();
    let key = depot.public_key_armored(&repo("r")).await.unwrap();
    depot_sign::verify_detached(&key, &repomd, &asc).unwrap();
    let mut tampered = repomd.clone();
    tampered[60] ^= 1;
    assert!(depot_sign::verify_detached(&key, &tampered, &asc).is_err());
}

#[tokio::test]
async fn removal_and_other_placements() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    for i in 0..3 {
        upload(&depot, "r", &fixture(i), None).await;
    }
    upload(&depot, "r", &fixture(10), Some("el9")).await;

    let (_, root) = summary(&metadata(&depot, "r", "").await);
    assert_eq!(root, ["pkg000", "pkg001", "pkg002"]);
    let (_, el9) = summary(&metadata(&depot, "r", "rpm/el9/main/").await);
    assert_eq!(el9, ["pkg010"]);

    depot
        .remove(&repo("r"), &FileName::new(&fixture(1).file_name()).unwrap())
        .await
        .unwrap();
    let (counts, root) = summary(&metadata(&depot, "r", "").await);
    assert_eq!(counts, [2, 2, 2]);
    assert_eq!(root, ["pkg000", "pkg002"]);
    let (_, el9) = summary(&metadata(&depot, "r", "rpm/el9/main/").await);
    assert_eq!(el9, ["pkg010"]);

    // Debian and RPM packages live side by side in one repo.
    let deb = depot_testkit::DebBuilder::new("hello", "1.0", "amd64");
    depot
        .upload(
            &repo("r"),
            &FileName::new(&deb.file_name()).unwrap(),
            &deb.build()[..],
            &UploadOptions::default(),
        )
        .await
        .unwrap();
    let packages =
        String::from_utf8(fetch(&depot, "r", "dists/stable/main/binary-amd64/Packages").await)
            .unwrap();
    assert!(packages.contains("Package: hello\n"), "{packages}");
    assert!(!packages.contains("pkg000"), "{packages}");
    let (_, root) = summary(&metadata(&depot, "r", "").await);
    assert_eq!(root, ["pkg000", "pkg002"]);
    let listed: BTreeSet<String> = depot
        .list_packages(&repo("r"))
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {}", p.format.as_str(), p.name))
        .collect();
    assert!(
        listed.contains("rpm pkg010") && listed.contains("deb hello"),
        "{listed:?}"
    );
}

/// Everything a client could see of the repo: the package list and the
/// bytes of the published repomd.xml.
async fn observable(depot: &Depot, r: &str) -> (Vec<String>, Vec<u8>) {
    let listed = depot
        .list_packages(&repo(r))
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("{} {}", p.filename, p.hashes.sha256.hex()))
        .collect();
    (listed, fetch(depot, r, "repodata/repomd.xml").await)
}

#[tokio::test]
async fn bad_rpms_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &fixture(1), None).await;
    let before = observable(&depot, "r").await;

    let good = fixture(2).build();
    let layout = depot_testkit::rpm_layout(&good);
    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    let mut bad_payload = good.clone();
    let last = bad_payload.len() - 1;
    bad_payload[last] ^= 0xff;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong lead magic", bad_magic, "pkg002-1.2-1.x86_64.rpm"),
        (
            "cut inside the main header",
            good[..layout.header + 40].to_vec(),
            "pkg002-1.2-1.x86_64.rpm",
        ),
        (
            "payload not what the header says",
            bad_payload,
            "pkg002-1.2-1.x86_64.rpm",
        ),
        ("empty", Vec::new(), "pkg002-1.2-1.x86_64.rpm"),
    ];
    for (what, bytes, name) in cases {
        let err = depot
            .upload(
                &repo("r"),
                &FileName::new(name).unwrap(),
                &bytes[..],
                &UploadOptions::default(),
            )
            .await
            .expect_err(what);
        assert!(
            matches!(err, depot_service::ServiceError::BadPackage(_)),
            "{what}: {err:?}"
        );
        assert_eq!(
            observable(&depot, "r").await,
            before,
            "{what} changed the repo"
        );
    }

    // Same name, EVR and arch with other content: 409, nothing changes.
    let clash = fixture(1).summary("other content");
    let err = depot
        .upload(
            &repo("r"),
            &FileName::new("pkg001-again.rpm").unwrap(),
            &clash.build()[..],
            &UploadOptions::default(),
        )
        .await
        .expect_err("clash");
    assert!(
        matches!(err, depot_service::ServiceError::Conflict(_)),
        "{err:?}"
    );
    assert_eq!(observable(&depot, "r").await, before);
}

#[tokio::test]
async fn rebuild_refuses_a_corrupted_blob_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    for i in 0..3 {
        upload(&depot, "r", &fixture(i), None).await;
    }
    let before = observable(&depot, "r").await;
    let victim = depot
        .list_packages(&repo("r"))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.name == "pkg001")
        .unwrap();
    let hex = victim.hashes.sha256.hex();
    let path = dir.path().join("blobs/sha256").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let err = depot.rebuild(&repo("r")).await.expect_err("corrupted blob");
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
    assert_eq!(observable(&depot, "r").await, before);
}
