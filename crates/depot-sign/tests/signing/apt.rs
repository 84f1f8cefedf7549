//! The consumer that matters most: `apt-get update` on a file: repository
//! whose InRelease (or Release + Release.gpg) depot signed, trusted through
//! `signed-by=` with `public_key_binary()`. apt runs in a throwaway root
//! (`-o Dir=`), so the machine's apt state is never touched.

use std::{path::Path, process::Command};

use depot_core::sign::PgpSigner;
use depot_sign::PgpKey;

use sha2::{Digest, Sha256};

use crate::common::{both_keys, describe, tamper};

const PACKAGES: &str = "\
Package: hello
Version: 1.0-1
Architecture: amd64
Maintainer: depot <depot@depot.test>
Filename: pool/main/h/hello/hello_1.0-1_amd64.deb
Size: 1
SHA256: 6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d
Description: test package
";

/// A Release for [`PACKAGES`], shaped like depot's, ending in "\n".
fn release() -> String {
    format!(
        "Origin: depot\nLabel: depot\nSuite: stable\nCodename: bookworm\n\
         Date: Sat, 21 Nov 2026 10:00:00 UTC\nArchitectures: amd64\nComponents: main\n\
         SHA256:\n {:x} {} main/binary-amd64/Packages\n",
        Sha256::digest(PACKAGES),
        PACKAGES.len()
    )
}

/// Which signed files the repository carries.
#[derive(Debug, Clone, Copy)]
enum Signed {
    InRelease,
    ReleaseGpg,
}

struct AptRoot {
    dir: tempfile::TempDir,
}

impl AptRoot {
    /// A repository with the [`PACKAGES`] index, and an apt root that trusts
    /// `key` for it.
    fn new(key: &PgpKey, signed: Signed, release: &str, inrelease: &str) -> AptRoot {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let dist = root.join("repo/dists/stable");
        std::fs::create_dir_all(dist.join("main/binary-amd64")).unwrap();
        std::fs::write(dist.join("main/binary-amd64/Packages"), PACKAGES).unwrap();
        match signed {
            Signed::InRelease => std::fs::write(dist.join("InRelease"), inrelease).unwrap(),
            Signed::ReleaseGpg => {
                std::fs::write(dist.join("Release"), release).unwrap();
                std::fs::write(
                    dist.join("Release.gpg"),
                    key.sign_detached_armored(release.as_bytes()).unwrap(),
                )
                .unwrap();
            }
        }
        std::fs::write(root.join("key.gpg"), key.public_key_binary()).unwrap();
        for sub in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "var/log/apt",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] file:{} stable main\n",
                root.join("key.gpg").display(),
                root.join("repo").display()
            ),
        )
        .unwrap();
        AptRoot { dir }
    }

    fn apt(&self, program: &str, args: &[&str]) -> std::process::Output {
        let root: &Path = self.dir.path();
        Command::new(program)
            .arg(format!("-oDir={}", root.display()))
            .arg(format!(
                "-oDir::State::status={}",
                root.join("var/lib/dpkg/status").display()
            ))
            .args([
                "-oAPT::Architecture=amd64",
                "-oAPT::Architectures::=amd64",
                "-oDebug::NoLocking=1",
                "-oAPT::Sandbox::User=root",
                "-oAcquire::Languages=none",
            ])
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
    }
}

#[test]
fn apt_get_update_accepts_signed_repositories() {
    for (algo, key) in both_keys() {
        for signed in [Signed::InRelease, Signed::ReleaseGpg] {
            let what = format!("{algo} {signed:?}");
            let release = release();
            let root = AptRoot::new(&key, signed, &release, &key.clearsign(&release).unwrap());
            let out = root.apt("apt-get", &["update"]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{what}: {}", describe(&out));
            assert!(
                !stderr.contains("W:") && !stderr.contains("E:"),
                "{what}: apt complained: {}",
                describe(&out)
            );
            // apt read the fields of the signed Release text, and the index.
            let policy = root.apt("apt-cache", &["policy", "hello"]);
            let policy = String::from_utf8_lossy(&policy.stdout);
            assert!(policy.contains("Candidate: 1.0-1"), "{what}: {policy}");
            let policy = root.apt("apt-cache", &["policy"]);
            let policy = String::from_utf8_lossy(&policy.stdout);
            assert!(
                policy.contains("o=depot,a=stable,n=bookworm,l=depot,c=main,b=amd64"),
                "{what}: {policy}"
            );
        }
    }
}

#[test]
fn apt_get_update_refuses_tampered_or_foreign_signatures() {
    let key = crate::common::ed25519_key();
    let release = release();
    let inrelease = key.clearsign(&release).unwrap();
    let cases = [
        (
            "tampered InRelease",
            AptRoot::new(
                &key,
                Signed::InRelease,
                &release,
                &tamper(&inrelease, "Label: depot", "Label: depoT"),
            ),
        ),
        (
            "InRelease by another key",
            AptRoot::new(
                &key,
                Signed::InRelease,
                &release,
                &crate::common::other_key().clearsign(&release).unwrap(),
            ),
        ),
    ];
    for (what, root) in cases {
        let out = root.apt("apt-get", &["update"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() || stderr.contains("E:") || stderr.contains("W:"),
            "{what}: apt accepted it: {}",
            describe(&out)
        );
        assert!(
            stderr.contains("not signed")
                || stderr.contains("NO_PUBKEY")
                || stderr.contains("BADSIG"),
            "{what}: {}",
            describe(&out)
        );
        let policy = root.apt("apt-cache", &["policy"]);
        let policy = String::from_utf8_lossy(&policy.stdout);
        assert!(!policy.contains("o=depot"), "{what}: apt uses it: {policy}");
    }
    // Release.gpg over a changed Release.
    let root = AptRoot::new(&key, Signed::ReleaseGpg, &release, "");
    std::fs::write(
        root.dir.path().join("repo/dists/stable/Release"),
        tamper(&release, "Label: depot", "Label: depoT"),
    )
    .unwrap();
    let out = root.apt("apt-get", &["update"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("BADSIG") || stderr.contains("not signed"),
        "{}",
        describe(&out)
    );
    let policy = root.apt("apt-cache", &["policy"]);
    assert!(!String::from_utf8_lossy(&policy.stdout).contains("o=depot"));
}
