//! Crash safety on the embedded default: `depot serve` is killed with
//! SIGKILL at a random moment while a client uploads; after a restart every
//! upload that was acknowledged (2xx) is stored and listed in the signed
//! index, the index matches the package table, and no temp file is left.
//!
//! Bounded: a fixed number of cycles, each with its own deadline. The
//! signed index is checked with `gpgv` (Debian package gpgv), as apt would.

use depot_testkit::DebBuilder;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The issue asks for at least 200.
const CYCLES: usize = 200;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(data: &Path) -> Server {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_depot"))
        .args(["serve", "--data-dir"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await
            && r.status().is_success()
        {
            return server;
        }
        assert!(Instant::now() < deadline, "server did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn package_names(packages: &str) -> BTreeSet<String> {
    packages
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_string)
        .collect()
}

/// Cheap deterministic pseudo-random numbers (no extra dependency).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// The armored key as a binary keyring file for gpgv.
fn keyring(dir: &Path, armored: &str) -> std::path::PathBuf {
    let out = dir.join("key.gpg");
    let mut child = Command::new("gpg")
        .args(["--batch", "--no-tty", "--dearmor", "--output"])
        .arg(&out)
        .arg("--yes")
        .env("GNUPGHOME", dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("gpg (Debian package gnupg) is needed");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "gpg --dearmor failed");
    out
}

/// `gpgv` on an InRelease file: the real verifier apt uses.
fn gpgv(keyring: &Path, inrelease: &str, scratch: &Path) -> Result<(), String> {
    let file = scratch.join("InRelease");
    std::fs::write(&file, inrelease).unwrap();
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .arg(&file)
        .output()
        .expect("gpgv (Debian package gpgv) is needed");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Files under `dir` whose names are not final blob names (64 hex digits):
/// what an interrupted write could leave behind.
fn stray_blob_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = e.file_name().to_string_lossy().into_owned();
                if !(name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())) {
                    out.push(p.display().to_string());
                }
            }
        }
    }
    out
}

/// Checks the state a restarted server serves: every acknowledged upload is
/// listed, the signed index (verified by gpgv) matches the package table,
/// no temp file is left. Returns the listed names.
async fn verify(
    server: &Server,
    data: &Path,
    token: &str,
    acked: &BTreeSet<String>,
    cycle: usize,
    scratch: &Path,
) {
    let client = reqwest::Client::new();
    let listed: BTreeSet<String> = client
        .get(format!("{}/repos/crash/packages/", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_array()
        .expect("package list is a JSON array")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = acked.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "cycle {cycle}: acknowledged uploads lost: {missing:?}"
    );

    // The published index catches up with the table (the server publishes
    // pending changes at start) and is signed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (inrelease, packages) = loop {
        let get = |path: String| {
            let client = client.clone();
            async move {
                let r = client.get(path).send().await.unwrap();
                if r.status().is_success() {
                    r.text().await.unwrap()
                } else {
                    String::new()
                }
            }
        };
        // InRelease first: the Packages fetched after it is the one it
        // lists, or a newer one (then the loop goes round again).
        let inrelease = get(format!(
            "{}/repos/crash/dists/stable/InRelease",
            server.base
        ))
        .await;
        let packages = get(format!(
            "{}/repos/crash/dists/stable/main/binary-amd64/Packages",
            server.base
        ))
        .await;
        if package_names(&packages) == listed || Instant::now() > deadline {
            break (inrelease, packages);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        package_names(&packages),
        listed,
        "cycle {cycle}: index differs from the package table"
    );
    let key = client
        .get(format!("{}/repos/crash/key.asc", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ring = keyring(scratch, &key);
    if let Err(e) = gpgv(&ring, &inrelease, scratch) {
        panic!("cycle {cycle}: gpgv refuses InRelease: {e}\n{inrelease}");
    }
    let release = depot_sign::verify_clearsigned(&key, &inrelease)
        .unwrap_or_else(|e| panic!("cycle {cycle}: InRelease does not verify: {e}"));
    let parsed = depot_formats::apt::parse_release(&release).unwrap();
    let listed_sha = parsed
        .sha256
        .iter()
        .find(|e| e.path == "main/binary-amd64/Packages")
        .expect("Release lists Packages");
    assert_eq!(
        listed_sha.hash,
        depot_core::Sha256::of(packages.as_bytes()).hex(),
        "cycle {cycle}: Packages is not the one InRelease lists"
    );

    let leftovers: Vec<_> = std::fs::read_dir(data.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "cycle {cycle}: temp files left: {leftovers:?}"
    );
    let stray = stray_blob_files(&data.join("blobs"));
    assert!(
        stray.is_empty(),
        "cycle {cycle}: unfinished blob writes left: {stray:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_upload() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // gpg wants its home private.
    std::fs::set_permissions(
        &scratch,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let client = reqwest::Client::new();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut token = String::new();
    let mut serial = 0usize;
    let started_all = Instant::now();

    // Each cycle: start on what the last kill left, verify it, upload until
    // a random moment, kill -9 (possibly mid-request, mid-publish or even
    // mid-start).
    for cycle in 0..CYCLES {
        let mut server = start(&data).await;
        if cycle == 0 {
            token = std::fs::read_to_string(data.join("admin.token"))
                .unwrap()
                .trim()
                .to_string();
            let r = client
                .post(format!("{}/repos/crash/", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "create: {}", r.status());
        } else {
            verify(&server, &data, &token, &acked, cycle, &scratch).await;
        }
        let kill_after = Duration::from_millis(5 + next(&mut seed) % 400);
        let started = Instant::now();
        while started.elapsed() < kill_after {
            serial += 1;
            let deb = DebBuilder::new(&format!("crash{serial}"), "1.0", "amd64");
            let url = format!(
                "{}/repos/crash/packages/?filename={}",
                server.base,
                deb.file_name()
            );
            let send = client
                .post(url)
                .bearer_auth(&token)
                .body(deb.build())
                .send();
            // Kill while a request may be in flight.
            match tokio::time::timeout(kill_after.saturating_sub(started.elapsed()), send).await {
                Ok(Ok(r)) if r.status().is_success() => {
                    acked.insert(format!("crash{serial}"));
                }
                Ok(Ok(r)) => panic!("upload refused: {}", r.status()),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
    }
    let server = start(&data).await;
    verify(&server, &data, &token, &acked, CYCLES, &scratch).await;
    assert!(
        acked.len() >= CYCLES,
        "too few acknowledged uploads to mean anything: {}",
        acked.len()
    );
    println!(
        "{CYCLES} kill -9 cycles, {} acknowledged uploads, {:.1} s",
        acked.len(),
        started_all.elapsed().as_secs_f64()
    );
}
