//! Stock Debian clients against a running `depot serve`.
//!
//! Each test starts its own server (own data directory, own loopback port)
//! and its own throw-away apt root (see `common::AptRoot`): the real
//! `apt-get`, `dpkg` and `gpgv` are run with signature checking on, and the
//! machine's own apt/dpkg state is checked to be untouched.
//!
//! Needs the Debian packages `apt`, `dpkg`, `gpgv`, `gnupg` and `gzip`, plus
//! `xz-utils` and `zstd` should depot write such indexes; `.ci/run` installs
//! them all.

mod common;

use common::{
    AptRoot, DepotServer, Fixture, MachineState, Run, apt_problems, get_ok, http, run, sha256_hex,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const REPO: &str = "e2e";
const LIB: &str = "depot-e2e-libgreet";
const APP: &str = "depot-e2e-hello";
/// Text that occurs once in the whole Packages index: in the library's
/// Description. The tamper test changes one byte of it.
const LIB_MARKER: &[u8] = b"fixture depot-e2e-libgreet";

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: LIB,
            version: "1.2-1",
            arch: "amd64",
            depends: None,
            files: vec![(
                "usr/share/depot-e2e-libgreet/greeting.txt",
                b"hello from libgreet\n".to_vec(),
            )],
        },
        Fixture {
            name: APP,
            version: "2.0",
            arch: "all",
            depends: Some("depot-e2e-libgreet (>= 1.2)"),
            files: vec![(
                "usr/share/depot-e2e-hello/hello.txt",
                b"hello, world\n".to_vec(),
            )],
        },
    ]
}

/// A server with repo `e2e` holding both fixtures in `stable/main`.
struct Served {
    server: DepotServer,
    fixtures: Vec<Fixture>,
}

impl Served {
    fn start() -> Served {
        let server = DepotServer::start();
        let token = server.admin_token();
        let auth = format!("Bearer {token}");

        let r = http(
            "POST",
            &server.url(&format!("/repos/{REPO}/")),
            &[("Authorization", &auth)],
            b"",
        )
        .expect("create repo");
        assert!(
            r.status == 200 || r.status == 201,
            "create repo: {} {}\n{}",
            r.status,
            r.text(),
            server.log()
        );

        let fixtures = fixtures();
        for f in &fixtures {
            let deb = f.build();
            let r = http(
                "POST",
                &server.url(&format!(
                    "/repos/{REPO}/packages/?filename={}",
                    f.file_name()
                )),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/vnd.debian.binary-package"),
                ],
                &deb,
            )
            .expect("upload");
            assert!(
                r.status == 200 || r.status == 201,
                "upload {}: {} {}\n{}",
                f.file_name(),
                r.status,
                r.text(),
                server.log()
            );
        }
        Served { server, fixtures }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/repos/{REPO}{path}"))
    }

    /// A fresh apt root whose only source is this repo, signed-by its key.
    fn apt_root(&self) -> AptRoot {
        let key = get_ok(&self.url("/key.asc"));
        assert!(
            key.starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"),
            "key.asc is not an armored OpenPGP public key: {}",
            String::from_utf8_lossy(&key)
        );
        let apt = AptRoot::new();
        let key_path = apt.add_key(REPO, &key);
        apt.set_sources(&format!(
            "deb [signed-by={}] {} stable main\n",
            key_path.display(),
            self.url("")
        ));
        apt
    }

    fn release(&self) -> String {
        String::from_utf8(get_ok(&self.url("/dists/stable/Release"))).expect("Release is UTF-8")
    }
}

/// `(path, sha256, size)` of every file in the Release file's SHA256 section.
fn release_sha256(release: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    let mut in_section = false;
    for line in release.lines() {
        if let Some(rest) = line.strip_prefix(' ') {
            if in_section {
                let f: Vec<&str> = rest.split_whitespace().collect();
                assert_eq!(f.len(), 3, "bad SHA256 line in Release: {line:?}");
                out.push((f[2].to_string(), f[0].to_string(), f[1].parse().unwrap()));
            }
        } else {
            in_section = line.trim_end() == "SHA256:";
        }
    }
    out
}

fn assert_update_clean(up: &Run) {
    assert!(up.success, "apt-get update failed:\n{}", up.describe());
    let problems = apt_problems(&up.all());
    assert!(
        problems.is_empty(),
        "apt-get update reported problems {problems:?}:\n{}",
        up.describe()
    );
}

/// Asserts that apt cannot install `pkg` from `apt`'s root and that nothing
/// got installed there.
fn assert_not_installable(apt: &AptRoot, pkg: &str) {
    let inst = apt.apt_get(&["install", "-y", pkg]);
    assert!(
        !inst.success,
        "{pkg} was installable from a refused repo:\n{}",
        inst.describe()
    );
    assert!(
        inst.all().contains("Unable to locate package"),
        "expected apt to know no such package:\n{}",
        inst.describe()
    );
    assert!(apt.installed().is_empty(), "{:?}", apt.installed());
}

#[test]
fn stock_apt_installs_dependent_packages_with_signature_checking() {
    let machine_before = MachineState::capture();
    let served = Served::start();
    let apt = served.apt_root();

    // The isolating configuration reads none of the machine's apt.conf.d
    // (which carries Post-Invoke hooks on Debian images) and relaxes nothing.
    let dump = apt.apt_config_dump().ok();
    for forbidden in [
        "Post-Invoke",
        "Pre-Install-Pkgs",
        "Check-Valid-Until \"false\"",
    ] {
        assert!(
            !dump.stdout.contains(forbidden),
            "machine apt configuration leaked into the test root ({forbidden}):\n{}",
            dump.stdout
        );
    }

    let up = apt.apt_get(&["update"]);
    assert_update_clean(&up);
    // apt took the clearsigned InRelease and the Packages index from depot.
    let lists: Vec<String> = std::fs::read_dir(apt.path("var/lib/apt/lists"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        lists.iter().any(|n| n.ends_with("_dists_stable_InRelease")),
        "no InRelease in lists: {lists:?}"
    );
    assert!(
        lists
            .iter()
            .any(|n| n.contains("_dists_stable_main_binary-amd64_Packages")),
        "no Packages in lists: {lists:?}"
    );

    // Installing the application pulls in the library through Depends.
    let inst = apt.apt_get(&["install", "-y", APP]);
    println!("{}\n{}", up.describe(), inst.describe());
    assert!(inst.success, "apt-get install failed:\n{}", inst.describe());
    assert!(
        !inst.all().contains("unauthenticated") && !inst.all().contains("WARNING"),
        "install was not authenticated:\n{}",
        inst.describe()
    );

    let installed = apt.installed();
    for f in &served.fixtures {
        let (status, version) = installed
            .get(f.name)
            .unwrap_or_else(|| panic!("{} not in the root's dpkg database: {installed:?}", f.name));
        assert_eq!(status, "ii", "{} is not installed: {installed:?}", f.name);
        assert_eq!(version, f.version);
        for (path, content) in &f.files {
            let p = apt.path(path);
            assert_eq!(
                std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
                *content,
                "{} has the wrong content",
                p.display()
            );
            assert!(
                !Path::new("/").join(path).exists(),
                "/{path} exists on the machine: dpkg did not install into the root"
            );
        }
    }
    assert_eq!(installed.len(), 2, "{installed:?}");

    MachineState::capture().assert_unchanged_since(&machine_before);
}

/// Every regular file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// The file of the blob with this SHA-256 (named by its hex digest,
/// somewhere under `<data-dir>/blobs/`).
fn find_blob(data_dir: &Path, sha256: &str) -> PathBuf {
    let blobs = data_dir.join("blobs");
    walk(&blobs)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == sha256))
        .unwrap_or_else(|| panic!("no blob {sha256} under {}", blobs.display()))
}

/// Feeds `input` to `prog ARGS` and returns its stdout (which must succeed).
fn pipe(prog: &str, args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("run {prog}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out.status.success().then_some(out.stdout)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Compressed blob kinds the tamper helper can see into: magic, the program
/// (from Debian's gzip, xz-utils, zstd) and its compression levels.
const COMPRESSED: [(&[u8], &str, &[&str]); 3] = [
    (
        &[0x1f, 0x8b],
        "gzip",
        &["-1", "-2", "-3", "-4", "-5", "-6", "-7", "-8", "-9"],
    ),
    (
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        "xz",
        &["-0", "-1", "-2", "-3", "-4", "-5", "-6", "-7", "-8", "-9"],
    ),
    (
        &[0x28, 0xb5, 0x2f, 0xfd],
        "zstd",
        &["-1", "-3", "-5", "-9", "-19"],
    ),
];

/// Changes one byte of `marker` wherever the blob store holds it: in plain
/// index chunks directly, and inside compressed chunks (gzip members, xz,
/// zstd) by decompressing, changing the byte and recompressing, preferring
/// a level that keeps the size so apt reports a hash mismatch rather than a
/// size mismatch. Returns the blob files changed.
fn tamper_blobs_containing(data_dir: &Path, marker: &[u8]) -> Vec<PathBuf> {
    let blobs = data_dir.join("blobs");
    assert!(blobs.is_dir(), "no blob store at {}", blobs.display());
    let mut changed = Vec::new();
    for file in walk(&blobs) {
        let bytes = std::fs::read(&file).unwrap();
        if let Some(at) = find(&bytes, marker) {
            let mut t = bytes.clone();
            t[at] ^= 0x01; // 'f' -> 'g'
            std::fs::write(&file, t).unwrap();
            changed.push(file);
            continue;
        }
        let Some((_, prog, levels)) = COMPRESSED.iter().find(|(m, _, _)| bytes.starts_with(m))
        else {
            continue;
        };
        let Some(plain) = pipe(prog, &["-dc"], &bytes) else {
            continue;
        };
        let Some(at) = find(&plain, marker) else {
            continue;
        };
        let mut t = plain.clone();
        t[at] ^= 0x01;
        let candidates: Vec<Vec<u8>> = levels
            .iter()
            .filter_map(|l| pipe(prog, &["-c", l], &t))
            .collect();
        let pick = candidates
            .iter()
            .find(|c| c.len() == bytes.len())
            .or(candidates.last())
            .unwrap_or_else(|| panic!("{prog} could not recompress {}", file.display()))
            .clone();
        std::fs::write(&file, pick).unwrap();
        changed.push(file);
    }
    changed
}

#[test]
fn apt_refuses_tampered_packages_index() {
    let machine_before = MachineState::capture();
    let mut served = Served::start();

    // Control: the untouched repo updates cleanly.
    assert_update_clean(&served.apt_root().apt_get(&["update"]));

    let release = served.release();
    let indexes: Vec<(String, String, u64)> = release_sha256(&release)
        .into_iter()
        .filter(|(p, _, _)| p.starts_with("main/binary-amd64/Packages"))
        .collect();
    assert!(
        indexes
            .iter()
            .any(|(p, _, _)| p == "main/binary-amd64/Packages"),
        "Release lists no Packages for amd64:\n{release}"
    );

    let changed = tamper_blobs_containing(&served.server.data_dir, LIB_MARKER);
    assert!(
        !changed.is_empty(),
        "no blob under {}/blobs holds the library's stanza",
        served.server.data_dir.display()
    );
    // The server keeps small published files it has served in memory
    // (content-addressed, so it always serves the right bytes); a fresh
    // process reads what is on disk now.
    served.server.restart();

    // The server now serves index bytes that differ from what the signed
    // Release promises (by name and by hash), while Release is unchanged.
    assert_eq!(
        served.release(),
        release,
        "tampering must not touch Release"
    );
    for (path, sha, _) in &indexes {
        let by_name = get_ok(&served.url(&format!("/dists/stable/{path}")));
        assert_ne!(sha256_hex(&by_name), *sha, "{path} still matches Release");
    }

    println!("tampered blobs: {changed:#?}");
    let apt = served.apt_root();
    let up = apt.apt_get(&["update"]);
    println!("{}", up.describe());
    assert!(
        !up.success,
        "apt-get update accepted a tampered index:\n{}",
        up.describe()
    );
    // apt checks what it downloads against the signed Release: the hashes
    // differ ("Hash Sum mismatch"), or already the size does where a
    // recompressed chunk could not keep its length.
    assert!(
        up.all().contains("Hash Sum mismatch") || up.all().contains("unexpected size"),
        "expected a hash sum mismatch:\n{}",
        up.describe()
    );
    assert!(
        !std::fs::read_dir(apt.path("var/lib/apt/lists"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("_Packages")),
        "a tampered Packages file was kept in the lists"
    );
    assert_not_installable(&apt, LIB);
    assert_not_installable(&apt, APP);

    MachineState::capture().assert_unchanged_since(&machine_before);
}

#[test]
fn apt_refuses_tampered_inrelease() {
    let mut served = Served::start();
    assert_update_clean(&served.apt_root().apt_get(&["update"]));

    let inrelease = get_ok(&served.url("/dists/stable/InRelease"));
    let blob = find_blob(&served.server.data_dir, &sha256_hex(&inrelease));

    // Change one digit of the Date line inside the signed text.
    let text = String::from_utf8(inrelease.clone()).unwrap();
    let date_at = text.find("\nDate: ").expect("InRelease has a Date line") + 7;
    let digit_at = date_at
        + text[date_at..]
            .find(|c: char| c.is_ascii_digit())
            .expect("a digit in Date");
    let mut tampered = inrelease.clone();
    tampered[digit_at] = if tampered[digit_at] == b'1' {
        b'2'
    } else {
        b'1'
    };
    std::fs::write(&blob, &tampered).unwrap();
    // The server keeps small published files it has served in memory
    // (content-addressed, so it always serves the right bytes); a fresh
    // process reads what is on disk now.
    served.server.restart();
    assert_eq!(get_ok(&served.url("/dists/stable/InRelease")), tampered);

    let apt = served.apt_root();
    let up = apt.apt_get(&["update"]);
    println!("{}", up.describe());
    assert!(
        !up.success,
        "apt-get update accepted a tampered InRelease:\n{}",
        up.describe()
    );
    let all = up.all();
    assert!(
        all.contains("BADSIG") && all.contains("is not signed"),
        "expected a bad-signature refusal:\n{}",
        up.describe()
    );
    assert_not_installable(&apt, APP);
}

/// A fresh GnuPG home with one new Ed25519 key; returns the home and the
/// armored public key.
fn other_key() -> (tempfile::TempDir, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    let gpg = |args: &[&str]| {
        run(Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch", "--no-tty", "--passphrase", ""])
            .args(args))
        .ok()
    };
    gpg(&[
        "--quick-generate-key",
        "Not depot <other@depot.invalid>",
        "ed25519",
        "sign",
        "never",
    ]);
    let key = gpg(&["--armor", "--export"]).stdout.into_bytes();
    (home, key)
}

#[test]
fn apt_refuses_repo_when_signed_by_names_another_key() {
    let served = Served::start();
    let (_home, wrong) = other_key();
    let apt = AptRoot::new();
    let key_path = apt.add_key("wrong", &wrong);
    apt.set_sources(&format!(
        "deb [signed-by={}] {} stable main\n",
        key_path.display(),
        served.url("")
    ));
    let up = apt.apt_get(&["update"]);
    assert!(
        !up.success,
        "apt-get update accepted a repo signed by a key it was not given:\n{}",
        up.describe()
    );
    assert!(
        up.all().contains("NO_PUBKEY"),
        "expected NO_PUBKEY:\n{}",
        up.describe()
    );
    assert_not_installable(&apt, APP);
}

fn gpgv(keyring: &Path, args: &[&Path]) -> Run {
    let home = keyring.parent().unwrap();
    run(Command::new("gpgv")
        .env("GNUPGHOME", home)
        .arg("--keyring")
        .arg(keyring)
        .args(args))
}

#[test]
fn gpgv_verifies_inrelease_and_release_gpg() {
    let served = Served::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let key = get_ok(&served.url("/key.asc"));
    std::fs::write(d.join("key.asc"), &key).unwrap();
    let keyring = d.join("depot.gpg");
    run(Command::new("gpg")
        .env("GNUPGHOME", d)
        .args(["--batch", "--no-tty", "--yes", "--dearmor", "-o"])
        .arg(&keyring)
        .arg(d.join("key.asc")))
    .ok();

    let fetch = |name: &str| {
        let body = get_ok(&served.url(&format!("/dists/stable/{name}")));
        let p = d.join(name);
        std::fs::write(&p, &body).unwrap();
        (p, body)
    };
    let (inrelease, inrelease_bytes) = fetch("InRelease");
    let (release, release_bytes) = fetch("Release");
    let (release_gpg, _) = fetch("Release.gpg");

    let v = gpgv(&keyring, &[&inrelease]).ok();
    assert!(v.all().contains("Good signature"), "{}", v.describe());
    let v = gpgv(&keyring, &[&release_gpg, &release]).ok();
    assert!(v.all().contains("Good signature"), "{}", v.describe());

    // InRelease signs the same text as Release.
    let signed_text = d.join("InRelease.text");
    run(Command::new("gpgv")
        .env("GNUPGHOME", d)
        .arg("--keyring")
        .arg(&keyring)
        .arg("--output")
        .arg(&signed_text)
        .arg(&inrelease))
    .ok();
    assert_eq!(
        String::from_utf8(std::fs::read(&signed_text).unwrap())
            .unwrap()
            .trim_end(),
        String::from_utf8(release_bytes.clone()).unwrap().trim_end(),
        "InRelease's signed text differs from Release"
    );

    // One changed byte breaks both signatures.
    let flip = |bytes: &[u8], needle: &str| {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not found"));
        let mut t = bytes.to_vec();
        t[at + needle.len()] ^= 0x01;
        t
    };
    let bad_release = d.join("Release.bad");
    std::fs::write(&bad_release, flip(&release_bytes, "\nSHA256:\n ")).unwrap();
    let v = gpgv(&keyring, &[&release_gpg, &bad_release]);
    assert!(
        !v.success,
        "gpgv accepted a modified Release:\n{}",
        v.describe()
    );
    assert!(v.all().contains("BAD signature"), "{}", v.describe());

    let bad_inrelease = d.join("InRelease.bad");
    std::fs::write(&bad_inrelease, flip(&inrelease_bytes, "\nSHA256:\n ")).unwrap();
    let v = gpgv(&keyring, &[&bad_inrelease]);
    assert!(
        !v.success,
        "gpgv accepted a modified InRelease:\n{}",
        v.describe()
    );
    assert!(v.all().contains("BAD signature"), "{}", v.describe());

    // And a keyring without depot's key verifies nothing.
    let (_home, wrong) = other_key();
    let wrong_asc = d.join("wrong.asc");
    std::fs::write(&wrong_asc, wrong).unwrap();
    let wrong_ring = d.join("wrong.gpg");
    run(Command::new("gpg")
        .env("GNUPGHOME", d)
        .args(["--batch", "--no-tty", "--yes", "--dearmor", "-o"])
        .arg(&wrong_ring)
        .arg(&wrong_asc))
    .ok();
    let v = gpgv(&wrong_ring, &[&inrelease]);
    assert!(
        !v.success,
        "gpgv accepted InRelease with the wrong key:\n{}",
        v.describe()
    );
}
