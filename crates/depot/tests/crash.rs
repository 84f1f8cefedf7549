//! Crash safety on the embedded default: `depot serve` is killed with
//! SIGKILL at a random moment while a client uploads; after a restart every
//! upload that was acknowledged (2xx) is stored and listed in the signed
//! index, the index matches the package table, and no temp file is left.
//!
//! Bounded: a fixed number of cycles, each with its own deadline.

use depot_testkit::DebBuilder;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CYCLES: usize = 8;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_acknowledged_upload() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let client = reqwest::Client::new();
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut token = String::new();
    let mut serial = 0usize;

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
        }
        // Upload until the kill lands; remember what was acknowledged.
        let kill_after = Duration::from_millis(100 + next(&mut seed) % 900);
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
        drop(server);

        // Restart and check.
        let server = start(&data).await;
        let listed: BTreeSet<String> = client
            .get(format!("{}/repos/crash/packages/", server.base))
            .bearer_auth(&token)
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

        // The published index catches up with the table (the server
        // publishes pending changes at start) and is signed.
        let deadline = Instant::now() + Duration::from_secs(30);
        let packages = loop {
            let r = client
                .get(format!(
                    "{}/repos/crash/dists/stable/main/binary-amd64/Packages",
                    server.base
                ))
                .send()
                .await
                .unwrap();
            let text = if r.status().is_success() {
                r.text().await.unwrap()
            } else {
                String::new()
            };
            if package_names(&text) == listed || Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
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
        let inrelease = client
            .get(format!(
                "{}/repos/crash/dists/stable/InRelease",
                server.base
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
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
            depot_core::Sha256::of(packages.as_bytes()).hex()
        );

        let leftovers: Vec<_> = std::fs::read_dir(data.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            leftovers.is_empty(),
            "cycle {cycle}: temp files left: {leftovers:?}"
        );
        drop(server);
    }
    assert!(
        acked.len() >= CYCLES,
        "too few acknowledged uploads to mean anything: {}",
        acked.len()
    );
}
