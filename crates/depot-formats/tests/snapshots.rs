//! Snapshots of what each format renders for a fixed input (DESIGN.md
//! principle 9): a change to a `Packages` stanza, an rpm fragment, a pacman
//! `desc`, an `APKINDEX` block, a `packagesite.yaml` line, a Python
//! package's index entry, a `Release` or a
//! `repomd.xml` shows in review as a diff of `tests/snapshots/*.snap`.
//!
//! The inputs are depot-testkit's deterministic builders and fixed times,
//! so the output is byte-identical on every run. On a mismatch, `cargo
//! insta review` (or `INSTA_UPDATE=always cargo test`) shows and accepts
//! the new output; CI (`CI=true`) only fails.

use depot_core::{Format, Hashes, Sha256, Timestamp};
use depot_formats::apt::{ReleaseEntry, ReleaseMeta, render_release};
use depot_formats::rpm::repodata::{self, RepomdData};
use depot_formats::{FormatRegistry, InspectInput};
use depot_testkit::{
    ApkBuilder, DebBuilder, FreebsdBuilder, PacmanBuilder, RpmBuilder, SdistBuilder, WheelBuilder,
};

/// 2026-12-01T00:00:00Z.
const T: Timestamp = Timestamp(1_795_996_800);

/// The registry's reading of `bytes` uploaded as `name`: its format, then
/// name, version and architecture, the API fields and the index entry.
fn rendered(name: &str, bytes: &[u8]) -> String {
    let registry = FormatRegistry::default();
    let format = registry.detect(bytes, name);
    let hashes = Hashes::of(bytes);
    let input = InspectInput {
        file_name: name,
        size: bytes.len() as u64,
        hashes: &hashes,
        file_time: T,
    };
    let got = format
        .inspect(&mut &bytes[..], &input)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    format!(
        "format: {}\nname: {}\nversion: {}\narch: {}\nfields: {}\nentry:\n{}\n",
        format.id().as_str(),
        got.name,
        got.version,
        got.arch,
        serde_json::to_string_pretty(&got.fields).unwrap(),
        got.entry,
    )
}

#[test]
fn deb_stanza() {
    let b = DebBuilder::new("hello", "1.0-1", "amd64")
        .depends("libc6 (>= 2.36)")
        .file("./usr/bin/hello", b"#!/bin/sh\necho hello\n");
    insta::assert_snapshot!(rendered(&b.file_name(), &b.build()));
}

#[test]
fn rpm_fragments() {
    let b = RpmBuilder::new("hello", "1.0", "1", "x86_64");
    insta::assert_snapshot!(rendered(&b.file_name(), &b.build()));
}

#[test]
fn pacman_desc_and_files() {
    let b = PacmanBuilder::new("hello", "1.0-1", "x86_64");
    insta::assert_snapshot!(rendered(&b.file_name(), &b.build()));
}

#[test]
fn apk_index_block() {
    let b = ApkBuilder::new("hello", "1.0-r0", "x86_64").file("usr/bin/hello", b"#!/bin/sh\n");
    insta::assert_snapshot!(rendered(&b.file_name(), &b.build()));
}

#[test]
fn freebsd_catalogue_line() {
    let b = FreebsdBuilder::new("hello", "1.0_1", "FreeBSD:14:amd64")
        .file("/usr/local/bin/hello", b"#!/bin/sh\n");
    insta::assert_snapshot!(rendered(&b.file_name(), &b.build()));
}

#[test]
fn pypi_wheel_and_sdist() {
    let w = WheelBuilder::new("Hello_World", "1.0.post1");
    let sd = SdistBuilder::new("hello-world", "1.0.post1");
    insta::assert_snapshot!(format!(
        "{}\n{}",
        rendered(&w.file_name(), &w.build()),
        rendered(&sd.file_name(), &sd.build())
    ));
}

#[test]
fn apt_release() {
    let packages = Hashes::of(b"Package: hello\n");
    let gz = Hashes::of(b"not really gzip");
    let text = render_release(
        &ReleaseMeta {
            origin: "depot".into(),
            label: "r".into(),
            suite: "stable".into(),
            codename: "stable".into(),
            date: T,
            architectures: vec!["amd64".into(), "arm64".into()],
            components: vec!["main".into()],
            description: "depot repository r".into(),
        },
        &[
            ReleaseEntry {
                path: "main/binary-amd64/Packages",
                size: 15,
                hashes: &packages,
            },
            ReleaseEntry {
                path: "main/binary-amd64/Packages.gz",
                size: 15,
                hashes: &gz,
            },
        ],
    );
    insta::assert_snapshot!(text);
}

#[test]
fn rpm_repomd() {
    let data: Vec<RepomdData> = ["primary", "filelists", "other"]
        .iter()
        .map(|kind| RepomdData {
            kind: kind.to_string(),
            href: format!(
                "repodata/{}-{kind}.xml.gz",
                Sha256::of(kind.as_bytes()).hex()
            ),
            checksum: Sha256::of(kind.as_bytes()),
            size: 100,
            open_checksum: Sha256::of(format!("open {kind}").as_bytes()),
            open_size: 400,
            timestamp: T.0 as u64,
        })
        .collect();
    insta::assert_snapshot!(repodata::repomd(7, &data));
}

#[test]
fn every_registered_format_has_a_snapshot_here() {
    // A format added to the registry must add its snapshot above.
    let covered = [
        Format::Deb,
        Format::Rpm,
        Format::Pacman,
        Format::Apk,
        Format::Freebsd,
        Format::Pypi,
        Format::File,
    ];
    for f in FormatRegistry::default().iter() {
        assert!(
            covered.contains(&f.id()),
            "format {} has no snapshot test in tests/snapshots.rs",
            f.id().as_str()
        );
    }
}
