//! Read-your-writes through the serving cache (issue 11 item 8): a running
//! `depot serve` keeps repos, published pointers and packages in memory and
//! re-reads them only when the store's change epoch (`depot.db.epoch`)
//! moves. These tests write from *another process* on the same SQLite data
//! directory, the CLI and a second server, and check that the very next
//! request (no sleep, no retry) serves the write.

mod common;

use common::{DepotServer, free_port, get, http};
use depot_testkit::DebBuilder;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const INRELEASE: &str = "/repos/r/dists/stable/InRelease";
const PACKAGES: &str = "/repos/r/dists/stable/main/binary-amd64/Packages";

/// `depot --data-dir D ARGS...` with no inherited `DEPOT_*` configuration;
/// must succeed.
fn cli(data: &Path, args: &[&str]) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DEPOT_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "depot {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn packages_of(base: &str) -> String {
    let r = get(&format!("{base}{PACKAGES}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The `Package:` names of an index.
fn listed(index: &str) -> Vec<String> {
    index
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_cli_write_under_a_running_server_is_served_by_the_next_request() {
    let server = DepotServer::start();
    let data = server.data_dir.clone();
    let tmp = tempfile::tempdir().unwrap();
    cli(&data, &["create", "r"]);
    assert_eq!(
        get(&server.url("/repos/r/")).status,
        200,
        "the new repo, at once"
    );

    let mut expected = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        // Served (so cached) before the write...
        let before = get(&server.url(INRELEASE));
        let deb = DebBuilder::new(name, "1.0", "amd64");
        let path = tmp.path().join(deb.file_name());
        std::fs::write(&path, deb.build()).unwrap();
        cli(&data, &["add", "r", path.to_str().unwrap()]);
        expected.push(name.to_string());
        // ... and the next request after `depot add` returned lists it.
        let after = get(&server.url(INRELEASE));
        assert_eq!(after.status, 200);
        assert_ne!(
            after.body, before.body,
            "a new InRelease after adding {name}"
        );
        assert_eq!(
            listed(&packages_of(&server.base)),
            expected,
            "after adding {name}"
        );
        let download = get(&server.url(&format!("/repos/r/packages/{}", deb.file_name())));
        assert_eq!(download.status, 200, "{name} downloads at once");
        assert_eq!(download.body, deb.build());
    }

    cli(&data, &["remove", "r", "beta_1.0_amd64.deb"]);
    assert_eq!(listed(&packages_of(&server.base)), ["alpha", "gamma"]);
    assert_eq!(
        get(&server.url("/repos/r/packages/beta_1.0_amd64.deb")).status,
        404,
        "a package removed by the CLI is gone from the next request"
    );

    cli(&data, &["delete", "r"]);
    assert_eq!(
        get(&server.url(INRELEASE)).status,
        404,
        "a deleted repo at once"
    );
}

/// A second `depot serve` on the same data directory, killed on drop.
struct SecondServer {
    child: Child,
    base: String,
}

impl SecondServer {
    fn start(data: &Path) -> SecondServer {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DEPOT_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http("GET", &format!("{base}/healthz"), &[], b"").is_ok_and(|r| r.status == 200) {
                return SecondServer { child, base };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the second server did not come up");
    }
}

impl Drop for SecondServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_upload_acknowledged_by_one_server_is_served_by_another_on_the_same_data_dir() {
    let a = DepotServer::start();
    let b = SecondServer::start(&a.data_dir);
    let token = a.admin_token();
    let auth = format!("Bearer {token}");
    let created = http(
        "POST",
        &a.url("/repos/r/"),
        &[("Authorization", &auth)],
        b"",
    )
    .unwrap();
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(get(&format!("{}/repos/r/", b.base)).status, 200);

    let mut expected = Vec::new();
    for name in ["alpha", "beta", "gamma", "delta"] {
        let _ = get(&format!("{}{INRELEASE}", b.base));
        let _ = get(&format!("{}{PACKAGES}", b.base));
        let deb = DebBuilder::new(name, "1.0", "amd64");
        let uri = a.url(&format!("/repos/r/packages/?filename={}", deb.file_name()));
        let up = http("POST", &uri, &[("Authorization", &auth)], &deb.build()).unwrap();
        assert_eq!(up.status, 201, "{}", up.text());
        expected.push(name.to_string());
        assert_eq!(
            listed(&packages_of(&b.base)),
            expected,
            "B serves what A acknowledged, on the next request"
        );
    }
}
