//! `pacman::desc`, `pacman::files` and `pacman::db::entry` against repo-add
//! itself (Debian package `pacman-package-manager`, with `bsdtar` from
//! `libarchive-tools`): the same packages (many field shapes, odd
//! whitespace, dot-files, backslashes, `./` members, a signature) go through
//! `repo-add`, and depot's entries must equal its `desc` and `files`
//! entries field by field, and its databases list the same members.
//!
//! Fails when repo-add or bsdtar is missing:
//! `apt-get install pacman-package-manager libarchive-tools`.

use depot_core::Hashes;
use depot_formats::pacman::{self, DescFile, Limits};
use depot_testkit::{Compression, PacmanBuilder, TarMember};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

fn packages() -> Vec<PacmanBuilder> {
    vec![
        PacmanBuilder::new("hello", "1:2.0.r3.gabc-2", "x86_64")
            .desc("Says  hello,\tloudly  ")
            .depends("glibc>=2.34")
            .depends("sh")
            .field("optdepend", "bash-completion: for   completion")
            .field("optdepend", "zsh")
            .field("makedepend", "cmake")
            .field("checkdepend", "python")
            .provides("hello-cli=2.0")
            .field("conflict", "hello-git")
            .field("replaces", "hello-old")
            .field("group", "demo")
            .field("group", "base-devel")
            .license("MIT")
            .license("custom:depot")
            .field("backup", "etc/hello.conf")
            .executable("usr/bin/hello", b"#!/bin/sh\necho hello\n")
            .file("etc/hello.conf", b"greeting=hi\n")
            .file(
                "usr/lib/systemd/system/hello\\x2dworld.service",
                b"[Unit]\n",
            )
            .file("usr/share/hello/.hidden", b"dot\n")
            .member(TarMember::File("./usr/share/hello/dotslash", b"x"))
            .member(TarMember::File(".topdot", b"excluded"))
            .member(TarMember::File("usr/share/hello/dup", b"1"))
            .member(TarMember::File("usr/share/hello/dup", b"2"))
            .member(TarMember::Symlink("usr/bin/hi", "hello")),
        PacmanBuilder::new("libgreet", "0.9-1.1", "any")
            .compression(Compression::Xz)
            .file(
                "usr/share/libgreet/greeting.txt",
                "héllo wörld ✓\n".as_bytes(),
            )
            .file("usr/share/libgreet/ünïcode name.txt", b"x"),
        PacmanBuilder::new("minimal", "1-1", "x86_64")
            .compression(Compression::Gzip)
            .raw_pkginfo(b"pkgname = minimal\npkgver = 1-1\narch = x86_64\n"),
        PacmanBuilder::new("lib32-some.thing+x_y@z", "20240101.r1-3", "x86_64")
            .compression(Compression::None)
            .size(123_456_789)
            .builddate(1_234_567_890)
            .file("usr/lib32/libx.so", b"\x7fELF"),
    ]
}

/// A made-up signature: repo-add only base64's the `.sig` file.
const FAKE_SIG: &[u8] = b"\x88\x75\x04\x00\x16\x08\x00\x1d\x16\x21\x04not-really-a-signature";

/// `{dir}/{desc|files}` -> content, from a gzip'd database tar.
fn read_db(path: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap();
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let mut files = BTreeMap::new();
    let mut members = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        members.push(path.clone());
        if e.header().entry_type().is_file() {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            files.insert(path, s);
        }
    }
    members.sort();
    (files, members)
}

/// The fields of a desc entry, in order: (name, values).
fn fields(desc: &str) -> Vec<(String, Vec<String>)> {
    desc.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|block| {
            let mut lines = block.lines();
            let name = lines.next().unwrap().to_string();
            (name, lines.map(str::to_string).collect())
        })
        .collect()
}

#[test]
fn entries_match_repo_add() {
    let dir = tempfile::tempdir().unwrap();
    let pkgs = packages();
    let mut paths = Vec::new();
    for (i, p) in pkgs.iter().enumerate() {
        let path = dir.path().join(p.file_name());
        std::fs::write(&path, p.build()).unwrap();
        if i == 0 {
            std::fs::write(dir.path().join(format!("{}.sig", p.file_name())), FAKE_SIG).unwrap();
        }
        paths.push(path);
    }
    let out = Command::new("repo-add")
        .arg("--nocolor")
        .arg(dir.path().join("oracle.db.tar.gz"))
        .args(&paths)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run repo-add ({e}): apt-get install pacman-package-manager libarchive-tools"
            )
        });
    assert!(
        out.status.success(),
        "repo-add failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (db, db_members) = read_db(&dir.path().join("oracle.db.tar.gz"));
    let (files_db, files_members) = read_db(&dir.path().join("oracle.files.tar.gz"));

    let mut ours_db = Vec::new();
    let mut ours_files = Vec::new();
    for (i, (p, path)) in pkgs.iter().zip(&paths).enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let info = pacman::inspect(&bytes[..], &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.file_name()));
        let hashes = Hashes::of(&bytes);
        let desc = pacman::desc(
            &info,
            &DescFile {
                filename: &p.file_name(),
                size: bytes.len() as u64,
                md5: &hashes.md5,
                sha256: &hashes.sha256.hex(),
                signature: (i == 0).then_some(FAKE_SIG),
            },
        );
        let files = pacman::files(&info);
        let dir_name = pacman::db::entry_dir(&info.name, &info.version);

        let theirs = db
            .get(&format!("{dir_name}/desc"))
            .unwrap_or_else(|| panic!("repo-add has no {dir_name}/desc: {db_members:?}"));
        assert_eq!(
            fields(&desc),
            fields(theirs),
            "desc of {dir_name}, field by field"
        );
        assert_eq!(&desc, theirs, "desc of {dir_name}, byte for byte");
        assert_eq!(
            files_db.get(&format!("{dir_name}/desc")),
            Some(theirs),
            "the files db repeats desc"
        );
        let theirs_files = files_db
            .get(&format!("{dir_name}/files"))
            .unwrap_or_else(|| panic!("no {dir_name}/files"));
        assert_eq!(&files, theirs_files, "files of {dir_name}");

        ours_db.extend(pacman::db::entry(&dir_name, info.build_time(), &desc, None));
        ours_files.extend(pacman::db::entry(
            &dir_name,
            info.build_time(),
            &desc,
            Some(&files),
        ));
    }
    // Our archives hold the same members with the same contents.
    for (ours, (theirs, theirs_members)) in [
        (ours_db, (db, db_members)),
        (ours_files, (files_db, files_members)),
    ] {
        let mut tar = ours;
        tar.extend_from_slice(&pacman::db::END_OF_ARCHIVE);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            std::io::Write::write_all(&mut e, &tar).unwrap();
            e.finish().unwrap()
        };
        let ours_path = dir.path().join("ours.tar.gz");
        std::fs::write(&ours_path, gz).unwrap();
        let (ours_contents, ours_members) = read_db(&ours_path);
        assert_eq!(ours_members, theirs_members);
        assert_eq!(ours_contents, theirs);
        // And bsdtar, pacman's libarchive, reads ours.
        let out = Command::new("bsdtar")
            .arg("-tf")
            .arg(&ours_path)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut listed: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        listed.sort();
        assert_eq!(listed, theirs_members);
    }
}
