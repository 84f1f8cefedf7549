//! Stock pacman against a running `depot serve`.
//!
//! Two packages are built in code (`depot_testkit::PacmanBuilder`: makepkg
//! refuses to run as root, and CI runs as root), one depending on the
//! other, uploaded over REST, and installed by the real `pacman` into an
//! empty root with `SigLevel = Required`: pacman checks the signature of
//! the database and of each package against a keyring made by `pacman-key`
//! (`--init`, `--add` the served key, `--lsign-key` it). pacman runs with
//! its own config, root, database path, cache, GnuPG home, log and hook
//! directory, all under a temp dir; the test checks that the machine's own
//! pacman state is untouched. A database changed on the server's disk must
//! be refused.
//!
//! Needs the Debian packages `pacman-package-manager` (pacman, pacman-key)
//! and `gnupg`; `.ci/run` installs them.

mod common;

use common::{DepotServer, Run, get_ok, http, run, sha256_hex};
use depot_testkit::PacmanBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = "pacmane2e";
const LIB: &str = "depot-e2e-libpacman";
const APP: &str = "depot-e2e-hellopacman";

fn fixtures() -> Vec<PacmanBuilder> {
    vec![
        PacmanBuilder::new(LIB, "1.2-1", "any")
            .desc("depot e2e library fixture")
            .license("MIT")
            .file(
                &format!("usr/share/{LIB}/greeting.txt"),
                b"hello from libpacman\n",
            ),
        PacmanBuilder::new(APP, "1:2.0rc1-3", "x86_64")
            .desc("depot e2e app fixture")
            .license("MIT")
            .depends(&format!("{LIB}>=1.2"))
            .executable(&format!("usr/bin/{APP}"), b"#!/bin/sh\necho hello, world\n")
            .file(&format!("usr/share/{APP}/hello.txt"), b"hello, world\n"),
    ]
}

/// A server with repo `pacmane2e` holding both fixtures.
struct Served {
    server: DepotServer,
}

impl Served {
    fn start() -> Served {
        for tool in ["pacman", "pacman-key", "gpg"] {
            assert!(
                Command::new(tool).arg("--version").output().is_ok(),
                "`{tool}` is not installed: apt-get install pacman-package-manager gnupg"
            );
        }
        let server = DepotServer::start();
        let auth = format!("Bearer {}", server.admin_token());
        let r = http(
            "POST",
            &server.url(&format!("/repos/{REPO}/")),
            &[("Authorization", &auth)],
            b"",
        )
        .expect("create repo");
        assert!(r.status == 201 || r.status == 200, "{}", r.text());
        for p in fixtures() {
            let name = p.file_name();
            let r = http(
                "POST",
                &server.url(&format!("/repos/{REPO}/packages/?filename={name}")),
                &[("Authorization", &auth)],
                &p.build(),
            )
            .expect("upload");
            assert_eq!(
                r.status,
                201,
                "upload {name}: {}\n{}",
                r.text(),
                server.log()
            );
        }
        Served { server }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/repos/{REPO}{path}"))
    }
}

/// A throw-away pacman: config, root, database, cache, keyring, log and
/// hooks all in one temp dir.
struct Pacman {
    dir: tempfile::TempDir,
}

impl Pacman {
    /// Writes the config with the section the server hands out and makes
    /// the keyring trust the served key.
    fn new(served: &Served) -> Pacman {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["root/var/lib/pacman", "cache", "hooks", "gnupg"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let section = String::from_utf8(get_ok(&served.url("/pacman.conf"))).unwrap();
        assert!(section.contains(&format!("[{REPO}]")), "{section}");
        assert!(section.contains("SigLevel = Required"), "{section}");
        assert!(
            section.contains(&format!("Server = {}/pacman/$arch", served.url(""))),
            "{section}"
        );
        std::fs::write(
            d.join("pacman.conf"),
            format!(
                "[options]\n\
                 Architecture = x86_64\n\
                 SigLevel = Required DatabaseRequired\n\
                 LocalFileSigLevel = Required\n\
                 DisableDownloadTimeout\n\
                 ParallelDownloads = 1\n\n\
                 {section}"
            ),
        )
        .unwrap();
        let pacman = Pacman { dir };
        let key = get_ok(&served.url("/key.asc"));
        std::fs::write(pacman.path("depot.asc"), &key).unwrap();
        pacman.key(&["--init"]).ok();
        pacman
            .key(&["--add", pacman.path("depot.asc").to_str().unwrap()])
            .ok();
        let fpr = served_fingerprint(&key, &pacman.path("fpr-probe"));
        pacman.key(&["--lsign-key", &fpr]).ok();
        pacman
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    fn key(&self, args: &[&str]) -> Run {
        run(Command::new("pacman-key")
            .arg("--config")
            .arg(self.path("pacman.conf"))
            .arg("--gpgdir")
            .arg(self.path("gnupg"))
            .args(args))
    }

    fn pacman(&self, args: &[&str]) -> Run {
        run(Command::new("pacman")
            .arg("--config")
            .arg(self.path("pacman.conf"))
            .arg("--root")
            .arg(self.root())
            .arg("--dbpath")
            .arg(self.root().join("var/lib/pacman"))
            .arg("--cachedir")
            .arg(self.path("cache"))
            .arg("--gpgdir")
            .arg(self.path("gnupg"))
            .arg("--logfile")
            .arg(self.path("pacman.log"))
            .arg("--hookdir")
            .arg(self.path("hooks"))
            .arg("--noconfirm")
            .args(args))
    }

    /// `name -> version` of what pacman says is installed in the root.
    fn installed(&self) -> BTreeMap<String, String> {
        let out = self.pacman(&["-Q"]);
        assert!(out.stderr.is_empty(), "pacman -Q:\n{}", out.describe());
        out.stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }
}

impl Drop for Pacman {
    fn drop(&mut self) {
        // pacman-key started a gpg-agent for the keyring; stop only that one.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path("gnupg"))
            .args(["--kill", "all"])
            .output();
    }
}

/// The primary key fingerprint of an armored key, as gpg reads it.
fn served_fingerprint(key: &[u8], home: &Path) -> String {
    std::fs::create_dir_all(home).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let file = home.join("key.asc");
    std::fs::write(&file, key).unwrap();
    let out = run(Command::new("gpg")
        .arg("--homedir")
        .arg(home)
        .args(["--batch", "--with-colons", "--show-keys"])
        .arg(&file))
    .ok();
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|rest| rest.split(':').find(|f| f.len() == 40))
        .expect("a fingerprint")
        .to_string()
}

/// What the machine's own pacman state looks like: the test must leave it
/// as it found it.
fn machine_state() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for dir in [
        "/var/lib/pacman",
        "/var/lib/pacman/sync",
        "/var/lib/pacman/local",
        "/var/cache/pacman/pkg",
        "/etc/pacman.d",
        "/etc/pacman.d/gnupg",
    ] {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let m = e.metadata().ok();
                        format!(
                            "{}:{}:{:?}",
                            e.file_name().to_string_lossy(),
                            m.as_ref().map(|m| m.len()).unwrap_or(0),
                            m.and_then(|m| m.modified().ok())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        out.insert(dir.to_string(), names.join(","));
    }
    for file in ["/etc/pacman.conf", "/var/log/pacman.log"] {
        out.insert(
            file.to_string(),
            std::fs::read(file)
                .map(|b| sha256_hex(&b))
                .unwrap_or_else(|_| "absent".into()),
        );
    }
    out
}

#[test]
fn stock_pacman_installs_dependent_packages_with_signatures_required() {
    let before = machine_state();
    let served = Served::start();
    let pacman = Pacman::new(&served);

    let sync = pacman.pacman(&["-Sy", "--noprogressbar"]);
    assert!(
        sync.success,
        "pacman -Sy failed:\n{}\n--- server log ---\n{}",
        sync.describe(),
        served.server.log()
    );
    let inst = pacman.pacman(&["-S", "--noprogressbar", APP]);
    assert!(
        inst.success,
        "pacman -S failed:\n{}\n--- server log ---\n{}",
        inst.describe(),
        served.server.log()
    );
    println!("{}\n{}", sync.describe(), inst.describe());
    let installed = pacman.installed();
    assert_eq!(
        installed.get(APP).map(String::as_str),
        Some("1:2.0rc1-3"),
        "{installed:?}\n{}",
        inst.describe()
    );
    assert_eq!(
        installed.get(LIB).map(String::as_str),
        Some("1.2-1"),
        "{installed:?}"
    );
    assert_eq!(
        std::fs::read_to_string(pacman.root().join(format!("usr/share/{APP}/hello.txt"))).unwrap(),
        "hello, world\n"
    );
    assert_eq!(
        std::fs::read_to_string(pacman.root().join(format!("usr/share/{LIB}/greeting.txt")))
            .unwrap(),
        "hello from libpacman\n"
    );
    // pacman checked both packages' signatures (it fetched the .sig files
    // or read %PGPSIG%) and verified them: nothing in its log says otherwise.
    let log = std::fs::read_to_string(pacman.path("pacman.log")).unwrap_or_default();
    assert!(!log.contains("signature"), "{log}");
    assert_eq!(
        machine_state(),
        before,
        "the machine's pacman state changed"
    );
}

/// The blob that holds the first chunk of a file served as `data` (the
/// database is stored as several chunks): a blob whose bytes begin it.
fn first_chunk_blob(data_dir: &Path, data: &[u8]) -> (PathBuf, Vec<u8>) {
    let mut found = None;
    for shard in std::fs::read_dir(data_dir.join("blobs/sha256")).unwrap() {
        for blob in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if bytes.len() > 18 && bytes.len() < data.len() && data.starts_with(&bytes) {
                assert!(found.is_none(), "two blobs begin the database");
                found = Some((path, bytes));
            }
        }
    }
    found.expect("no blob begins the database")
}

#[test]
fn pacman_refuses_a_tampered_database() {
    let mut served = Served::start();

    // Control: the untouched repo is accepted.
    let ok = Pacman::new(&served).pacman(&["-Sy", "--noprogressbar"]);
    assert!(ok.success, "control -Sy failed:\n{}", ok.describe());

    // Change one byte of the database's first chunk on disk (a gzip
    // member listing packages).
    let db_url = served.url(&format!("/pacman/x86_64/{REPO}.db"));
    let db = get_ok(&db_url);
    let (blob, first) = first_chunk_blob(&served.server.data_dir, &db);
    let mut tampered = first.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    std::fs::write(&blob, &tampered).unwrap();
    // The server keeps small published files it has served in memory
    // (content-addressed, so it always serves the right bytes); a fresh
    // process reads what is on disk now.
    served.server.restart();
    let db_url = served.url(&format!("/pacman/x86_64/{REPO}.db"));
    let served_now = get_ok(&db_url);
    assert_ne!(served_now, db);
    assert_eq!(served_now.len(), db.len());

    let pacman = Pacman::new(&served);
    let sync = pacman.pacman(&["-Sy", "--noprogressbar"]);
    let inst = pacman.pacman(&["-S", "--noprogressbar", APP]);
    println!("{}\n{}", sync.describe(), inst.describe());
    assert!(
        !sync.success,
        "pacman -Sy accepted a tampered database:\n{}",
        sync.describe()
    );
    assert!(
        sync.all().contains("signature") || sync.all().contains("PGP"),
        "expected a signature refusal:\n{}",
        sync.describe()
    );
    assert!(!inst.success, "{}", inst.describe());
    // Nothing in the root's local database (pacman -Q itself refuses to
    // run while the bad sync database is there).
    let local: Vec<String> = std::fs::read_dir(pacman.root().join("var/lib/pacman/local"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "ALPM_DB_VERSION")
                .collect()
        })
        .unwrap_or_default();
    assert!(local.is_empty(), "{local:?}");
    assert!(!pacman.root().join("usr").exists());
}

/// A throw-away GnuPG home holding a packager's key. Its agent is stopped
/// on drop.
struct Packager {
    home: tempfile::TempDir,
}

impl Packager {
    fn new() -> Packager {
        let home = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let p = Packager { home };
        p.gpg(&[
            "--passphrase",
            "",
            "--quick-generate-key",
            "Packager <packager@example.org>",
            "ed25519",
            "sign",
            "never",
        ]);
        p
    }

    fn gpg(&self, args: &[&str]) -> Run {
        run(Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--pinentry-mode", "loopback"])
            .args(args))
        .ok()
    }

    /// `gpg --detach-sign --no-armor` of `data`, as makepkg --sign does.
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        let file = self.home.path().join("pkg");
        std::fs::write(&file, data).unwrap();
        let _ = std::fs::remove_file(self.home.path().join("pkg.sig"));
        self.gpg(&["--detach-sign", "--no-armor", file.to_str().unwrap()]);
        std::fs::read(self.home.path().join("pkg.sig")).unwrap()
    }

    fn public_key(&self) -> Vec<u8> {
        self.gpg(&["--armor", "--export"]).stdout.into_bytes()
    }
}

impl Drop for Packager {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

/// pacman checks each package's own signature: a package uploaded with
/// its packager's `.sig` (after the package) is refused while pacman does
/// not trust the packager's key, and installed once it does.
#[test]
fn pacman_checks_packager_signatures() {
    const FOREIGN: &str = "depot-e2e-packagersigned";
    let served = Served::start();
    let auth = format!("Bearer {}", served.server.admin_token());
    let packager = Packager::new();
    let p = PacmanBuilder::new(FOREIGN, "0.1-1", "any").file(
        &format!("usr/share/{FOREIGN}/note.txt"),
        b"signed by its packager\n",
    );
    let (name, bytes) = (p.file_name(), p.build());
    let sig = packager.sign(&bytes);
    for (file, body, status) in [
        (name.clone(), bytes.clone(), 201),
        (format!("{name}.sig"), sig.clone(), 201),
    ] {
        let r = http(
            "POST",
            &served.url(&format!("/packages/?filename={file}")),
            &[("Authorization", &auth)],
            &body,
        )
        .unwrap();
        assert_eq!(r.status, status, "{file}: {}", r.text());
    }
    assert_eq!(
        get_ok(&served.url(&format!("/pacman/x86_64/{name}.sig"))),
        sig
    );

    let pacman = Pacman::new(&served);
    std::fs::write(pacman.path("packager.asc"), packager.public_key()).unwrap();
    pacman
        .key(&["--add", pacman.path("packager.asc").to_str().unwrap()])
        .ok();
    let sync = pacman.pacman(&["-Sy", "--noprogressbar"]);
    assert!(sync.success, "{}", sync.describe());
    let refused = pacman.pacman(&["-S", "--noprogressbar", FOREIGN]);
    println!("{}", refused.describe());
    assert!(!refused.success, "{}", refused.describe());
    assert!(
        refused.all().contains("unknown trust"),
        "expected an untrusted-signature refusal:\n{}",
        refused.describe()
    );
    assert!(!pacman.root().join("usr").exists());

    let fpr = served_fingerprint(&packager.public_key(), &pacman.path("fpr-probe2"));
    pacman.key(&["--lsign-key", &fpr]).ok();
    let inst = pacman.pacman(&["-S", "--noprogressbar", FOREIGN]);
    assert!(inst.success, "{}", inst.describe());
    assert_eq!(
        std::fs::read_to_string(pacman.root().join(format!("usr/share/{FOREIGN}/note.txt")))
            .unwrap(),
        "signed by its packager\n"
    );
}
