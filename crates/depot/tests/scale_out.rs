//! The binary on PostgreSQL + S3 (moto on loopback), configured only by
//! `DEPOT_META`, `DEPOT_BLOBS`, `DEPOT_S3_ENDPOINT` and the AWS variables:
//! `depot migrate`, the verbs, `depot serve` answering package downloads
//! with a 307 to the blob store, and `depot gc`. Nothing but upload staging
//! may land in the data directory.
//!
//! PostgreSQL: `DEPOT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the test creates and drops a
//! throw-away database with `psql`.

use depot_store::conformance::MotoServer;
use depot_testkit::DebBuilder;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Variables of the caller that must not leak into the depot under test.
const CLEARED: [&str; 14] = [
    "DEPOT_CONFIG",
    "DEPOT_DATA_DIR",
    "DEPOT_LISTEN",
    "DEPOT_SERVER",
    "DEPOT_TOKEN",
    "DEPOT_META",
    "DEPOT_BLOBS",
    "DEPOT_S3_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ALLOW_HTTP",
    "RUST_LOG",
];

struct Env {
    data: tempfile::TempDir,
    meta: String,
    blobs: String,
    endpoint: String,
}

impl Env {
    fn depot(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
        for var in CLEARED {
            cmd.env_remove(var);
        }
        cmd.env("DEPOT_DATA_DIR", self.data.path())
            .env("DEPOT_META", &self.meta)
            .env("DEPOT_BLOBS", &self.blobs)
            .env("DEPOT_S3_ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "depot-e2e")
            .env("AWS_SECRET_ACCESS_KEY", "depot-e2e-secret")
            .env("AWS_REGION", "us-east-1");
        cmd
    }

    fn run(&self, args: &[&str]) -> (String, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = self
            .depot()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        );
        assert!(
            status.success(),
            "depot {args:?} failed ({status}):\n{stdout}\n{stderr}"
        );
        (stdout, stderr)
    }
}

/// A throw-away PostgreSQL database, dropped with the guard.
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    fn create() -> PgDatabase {
        let admin = std::env::var("DEPOT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("depot_e2e_{}_{nanos}", std::process::id());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        PgDatabase { admin, name }
    }

    fn url(&self) -> String {
        let (base, _) = self.admin.rsplit_once('/').expect("a database URL");
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = Command::new("psql")
            .args([self.admin.as_str(), "-qAtc", &sql])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .unwrap_or_else(|e| panic!("psql (postgresql-client) is needed: {e}"));
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One HTTP/1.0 request to `http://127.0.0.1:PORT/...`: status, headers
/// (lowercase names) and body.
fn http_get(url: &str, range: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let range = range.map_or(String::new(), |r| format!("Range: {r}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\n{range}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let body = response[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(env: &Env, log: &Path) -> (Server, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = env
        .depot()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(&format!("http://127.0.0.1:{port}/healthz"), None).0 == 200
        {
            return (server, port);
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "depot serve exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "depot serve did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postgres_and_s3_by_configuration_migrate_serve_redirect_and_gc() {
    let moto = MotoServer::start();
    moto.create_bucket("e2e-blobs");
    let db = PgDatabase::create();
    let env = Env {
        data: tempfile::tempdir().unwrap(),
        meta: db.url(),
        blobs: "s3://e2e-blobs/depot".into(),
        endpoint: moto.endpoint(),
    };

    // migrate: applies the schema once, then reports it current.
    let (out, _) = env.run(&["migrate"]);
    assert_eq!(
        out.trim(),
        "applied 0001_init (postgres)\napplied 0002_images (postgres)\nschema at version 2"
    );
    let (out, _) = env.run(&["migrate"]);
    assert_eq!(
        out.trim(),
        "schema up to date (postgres version 2); nothing applied"
    );

    // The verbs work on the configured stores.
    env.run(&["create", "r", "--download", "redirect"]);
    let deb = DebBuilder::new("hello", "1.0-1", "amd64");
    let work = tempfile::tempdir().unwrap();
    let deb_path = work.path().join(deb.file_name());
    std::fs::write(&deb_path, deb.build()).unwrap();
    env.run(&["add", "r", deb_path.to_str().unwrap()]);
    let (list, _) = env.run(&["list", "r"]);
    assert!(list.contains("hello"), "{list}");

    // Nothing but staging lives in the data directory.
    let mut entries: Vec<String> = std::fs::read_dir(env.data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, ["tmp"], "no SQLite file and no blobs locally");

    // serve: the package is a 307 to the blob store, which has the bytes.
    let log = work.path().join("serve.log");
    let (server, port) = serve(&env, &log);
    let base = format!("http://127.0.0.1:{port}");
    let (status, headers, _) = http_get(
        &format!("{base}/repos/r/packages/{}", deb.file_name()),
        None,
    );
    assert_eq!(status, 307, "{headers:?}");
    let location = headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone())
        .expect("a Location header");
    assert!(location.starts_with(&moto.endpoint()), "{location}");
    let (status, _, body) = http_get(&location, None);
    assert_eq!(status, 200);
    assert!(body == deb.build(), "the presigned URL serves the package");
    let (status, _, body) = http_get(&location, Some("bytes=0-7"));
    assert_eq!((status, body.as_slice()), (206, &b"!<arch>\n"[..]));
    let (status, _, body) = http_get(&format!("{base}/repos/r/dists/stable/InRelease"), None);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).starts_with("-----BEGIN PGP SIGNED MESSAGE-----"));
    let serve_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        serve_log.contains("s3://e2e-blobs/depot") && serve_log.contains("postgres://"),
        "the server logs its stores:\n{serve_log}"
    );
    drop(server);

    // gc: everything is referenced; after a removal the package's blob goes.
    let (out, _) = env.run(&["gc", "--grace", "0s", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["deleted"], 0, "{report}");
    env.run(&["remove", "r", &deb.file_name()]);
    std::thread::sleep(Duration::from_millis(1100));
    let (out, err) = env.run(&["gc", "--grace", "0s"]);
    assert!(out.starts_with("deleted "), "{out}");
    assert!(
        !out.starts_with("deleted 0 "),
        "the removed package's blob goes: {out}"
    );
    assert!(err.contains("warning: a grace of 0s is short"), "{err}");
}
