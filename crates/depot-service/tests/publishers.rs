//! The publisher conformance suite: every format, through the one publish
//! engine, obeys the same rules. Each failure names the rule and the format.
//!
//! A format takes part with a [`Case`]: how to build a package of it, and
//! how to read the time-independent content of the index it publishes (the
//! signatures, `Date:` lines and archive mtimes change with every publish,
//! what the index lists does not). The rules:
//!
//! 1. incremental publishes (uploads one at a time, each extending the
//!    previous publication) equal a full render (a rebuild);
//! 2. a removal drops the entry and keeps the others;
//! 3. an upload to another placement publishes that placement's tree and
//!    leaves the default tree's index as it was;
//! 4. a publish of one format's packages changes no file of another.

use depot_core::{FileName, Format, PlacementName, RepoName, RepoSettings};
use depot_service::{Depot, ServiceConfig, UploadOptions};
use depot_testkit::{
    ApkBuilder, DebBuilder, FreebsdBuilder, PacmanBuilder, RpmBuilder, WheelBuilder,
};
use std::collections::BTreeMap;

/// A format under test.
struct Case {
    format: Format,
    /// A package named `name` at `version` (a valid one).
    build: fn(name: &str, version: &str) -> (String, Vec<u8>),
    /// The index of the default placement, as a path of the tree.
    index: &'static str,
    /// The index of placement `testing/extra`.
    other_index: &'static str,
    /// The time-independent content of an index file, one line per entry
    /// field, sorted where order is not part of the format's contract.
    content: fn(&[u8]) -> String,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            format: Format::Deb,
            build: |n, v| {
                let b = DebBuilder::new(n, v, "amd64");
                (b.file_name(), b.build())
            },
            index: "dists/stable/main/binary-amd64/Packages",
            other_index: "dists/testing/extra/binary-amd64/Packages",
            content: |b| String::from_utf8(b.to_vec()).unwrap(),
        },
        Case {
            format: Format::Rpm,
            build: |n, v| {
                let b = RpmBuilder::new(n, v, "1", "x86_64");
                (b.file_name(), b.build())
            },
            index: "repodata/primary.xml",
            other_index: "rpm/testing/extra/repodata/primary.xml",
            // `<time file=..>` is the upload time, which a rebuild keeps.
            content: |b| String::from_utf8(b.to_vec()).unwrap(),
        },
        Case {
            format: Format::Pacman,
            build: |n, v| {
                let b = PacmanBuilder::new(n, &format!("{v}-1"), "x86_64");
                (b.file_name(), b.build())
            },
            index: "pacman/x86_64/r.db.tar",
            other_index: "pacman/x86_64/testing-extra.db.tar",
            content: tar_members,
        },
        Case {
            format: Format::Apk,
            build: |n, v| {
                let b = ApkBuilder::new(n, &format!("{v}-r0"), "x86_64");
                (b.file_name(), b.build())
            },
            index: "alpine/stable/main/x86_64/APKINDEX.tar.gz",
            other_index: "alpine/testing/extra/x86_64/APKINDEX.tar.gz",
            content: |b| depot_formats::apk::read_index_archive(b).unwrap().apkindex,
        },
        Case {
            format: Format::Freebsd,
            build: |n, v| {
                let b = FreebsdBuilder::new(n, v, "FreeBSD:14:amd64");
                (b.file_name(), b.build())
            },
            index: "freebsd/FreeBSD:14:amd64/packagesite.pkg",
            other_index: "freebsd/testing/extra/FreeBSD:14:amd64/packagesite.pkg",
            content: |b| {
                let members = depot_formats::freebsd::read_archive(b).unwrap();
                let (_, yaml) = members
                    .iter()
                    .find(|(n, _)| n == "packagesite.yaml")
                    .expect("packagesite.yaml in the catalogue");
                String::from_utf8(yaml.clone()).unwrap()
            },
        },
        Case {
            format: Format::Pypi,
            build: |n, v| {
                let b = WheelBuilder::new(n, v);
                (b.file_name(), b.build())
            },
            index: "pypi/simple/index.json",
            other_index: "pypi/testing/extra/simple/index.json",
            content: |b| String::from_utf8(b.to_vec()).unwrap(),
        },
    ]
}

/// Every member of a tar as `name\ncontent`, in archive order (the order
/// is part of a pacman database: upload order).
fn tar_members(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut entry, &mut body).unwrap();
        out.push_str(&format!("{path}\n{body}\n"));
    }
    out
}

fn repo() -> RepoName {
    RepoName::new("r").unwrap()
}

async fn open(dir: &std::path::Path) -> Depot {
    let config = ServiceConfig {
        rsa_key_bits: 2048,
        xz_delay: None,
        ..ServiceConfig::default()
    };
    let depot = Depot::open_data_dir(dir, config).await.unwrap();
    depot
        .create_repo(&repo(), RepoSettings::default())
        .await
        .unwrap();
    depot
}

async fn index(depot: &Depot, case: &Case, path: &str) -> Option<String> {
    let d = depot.published_file(&repo(), path, None).await.ok()?;
    Some((case.content)(&d.bytes().await.unwrap()))
}

/// The current publication's files outside `format`'s trees, by path.
async fn others(depot: &Depot, case: &Case) -> BTreeMap<String, String> {
    let r = depot.repo(&repo()).await.unwrap();
    let (id, _) = depot.meta().published_pointer(r.id).await.unwrap().unwrap();
    let p = depot.meta().get_publication(id).await.unwrap().unwrap();
    let own = own_prefixes(case.format);
    p.manifest
        .files
        .into_iter()
        .filter(|(path, _)| !own.iter().any(|o| path.starts_with(o)))
        .map(|(path, f)| (path, f.hashes.sha256.hex()))
        .collect()
}

fn own_prefixes(format: Format) -> &'static [&'static str] {
    match format {
        Format::Deb => &["dists/"],
        Format::Rpm => &["repodata/", "rpm/"],
        Format::Pacman => &["pacman/"],
        Format::Apk => &["alpine/"],
        Format::Freebsd => &["freebsd/"],
        Format::Pypi => &["pypi/"],
        _ => &[],
    }
}

async fn upload(depot: &Depot, file: &str, bytes: Vec<u8>, at: Option<(&str, &str)>) {
    let opts = UploadOptions {
        distribution: at.map(|(d, _)| PlacementName::new(d).unwrap()),
        component: at.map(|(_, c)| PlacementName::new(c).unwrap()),
    };
    depot
        .upload(&repo(), &FileName::new(file).unwrap(), &bytes[..], &opts)
        .await
        .unwrap_or_else(|e| panic!("upload {file}: {e}"));
}

#[tokio::test]
async fn every_publisher_obeys_the_engine_s_rules() {
    for case in cases() {
        let tag = format!("[{}]", case.format.as_str());
        let dir = tempfile::tempdir().unwrap();
        let depot = open(dir.path()).await;
        // Another format's files, to see that this one's publishes keep them.
        let bystander = if case.format == Format::Rpm {
            let b = DebBuilder::new("bystander", "1", "all");
            (b.file_name(), b.build())
        } else {
            let b = RpmBuilder::new("bystander", "1", "1", "noarch");
            (b.file_name(), b.build())
        };
        upload(&depot, &bystander.0, bystander.1, None).await;
        let before = others(&depot, &case).await;

        // 1. incremental publishes equal a full render.
        let mut files = Vec::new();
        for (i, name) in ["alpha", "beta", "gamma"].iter().enumerate() {
            let (file, bytes) = (case.build)(name, &format!("1.{i}"));
            upload(&depot, &file, bytes, None).await;
            files.push(file);
        }
        let incremental = index(&depot, &case, case.index)
            .await
            .unwrap_or_else(|| panic!("{tag} the default index is published"));
        for name in ["alpha", "beta", "gamma"] {
            assert!(
                incremental.contains(name),
                "{tag} the index lists every package uploaded: {name} missing from\n{incremental}"
            );
        }
        // 4. Publishing them changed no file of another format (a rebuild
        // renders every format afresh, so this is checked before it).
        assert_eq!(
            others(&depot, &case).await,
            before,
            "{tag} a publish changes no file of another format"
        );
        depot.rebuild(&repo()).await.unwrap();
        let full = index(&depot, &case, case.index).await.unwrap();
        assert_eq!(
            incremental, full,
            "{tag} incremental publishes equal a full render"
        );

        // 2. a removal drops the entry and keeps the others.
        depot
            .remove(&repo(), &FileName::new(&files[1]).unwrap())
            .await
            .unwrap();
        let after = index(&depot, &case, case.index).await.unwrap();
        assert!(
            !after.contains("beta"),
            "{tag} a removed package leaves the index:\n{after}"
        );
        assert!(
            after.contains("alpha") && after.contains("gamma"),
            "{tag} a removal keeps the other entries:\n{after}"
        );

        // 3. another placement gets its own tree; the default is unchanged.
        assert!(
            index(&depot, &case, case.other_index).await.is_none(),
            "{tag} no tree for a placement without packages"
        );
        let (file, bytes) = (case.build)("delta", "2.0");
        upload(&depot, &file, bytes, Some(("testing", "extra"))).await;
        let other_tree = index(&depot, &case, case.other_index)
            .await
            .unwrap_or_else(|| panic!("{tag} an upload to a new placement publishes its tree"));
        assert!(
            other_tree.contains("delta") && !other_tree.contains("alpha"),
            "{tag} the new tree lists what was uploaded to it, only:\n{other_tree}"
        );
        assert_eq!(
            index(&depot, &case, case.index).await.unwrap(),
            after,
            "{tag} an upload to another placement leaves the default index as it was"
        );
        // The property holds across placements too.
        let incremental = (
            index(&depot, &case, case.index).await,
            index(&depot, &case, case.other_index).await,
        );
        depot.rebuild(&repo()).await.unwrap();
        let full = (
            index(&depot, &case, case.index).await,
            index(&depot, &case, case.other_index).await,
        );
        assert_eq!(
            incremental, full,
            "{tag} incremental publishes over two placements equal a full render"
        );
    }
}
