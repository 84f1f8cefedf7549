//! The `depot` binary end to end: the verbs on a data directory, bad input,
//! and `depot serve` driven by the same binary in remote mode.

use depot_testkit::DebBuilder;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ENV: [&str; 12] = [
    "DEPOT_CONFIG",
    "DEPOT_META",
    "DEPOT_BLOBS",
    "DEPOT_S3_ENDPOINT",
    "DEPOT_DATA_DIR",
    "DEPOT_LISTEN",
    "DEPOT_MAX_UPLOAD_BYTES",
    "DEPOT_KEY_ALGORITHM",
    "DEPOT_LOG_FORMAT",
    "DEPOT_SERVER",
    "DEPOT_TOKEN",
    "RUST_LOG",
];

/// `depot` with no inherited configuration.
fn depot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
    /// Failed with exit status 1 and a one-line `error:` message.
    fn failed(self) -> Run {
        assert_eq!(
            self.code,
            Some(1),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let last = self.stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "stderr:\n{}", self.stderr);
        self
    }
}

fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `depot --data-dir DIR ARGS...`
fn local(data: &Path, args: &[&str]) -> Run {
    run(depot().arg("--data-dir").arg(data).args(args))
}

fn write_deb(dir: &Path, deb: &DebBuilder) -> PathBuf {
    let path = dir.join(deb.file_name());
    std::fs::write(&path, deb.build()).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn local_mode_create_add_list_rebuild_remove_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let alpha = write_deb(tmp.path(), &DebBuilder::new("alpha", "1.0-1", "amd64"));
    let beta = write_deb(tmp.path(), &DebBuilder::new("beta", "2.0", "all"));

    let out = local(&data, &["create", "r"]).ok();
    assert_eq!(out.stdout.trim(), "created repository r");

    // Not a TTY here: one line per file, in argument order.
    let out = local(&data, &["add", "r", s(&alpha), s(&beta)]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "alpha_1.0-1_amd64.deb: added (alpha 1.0-1 amd64)",
            "beta_2.0_all.deb: added (beta 2.0 all)",
        ]
    );
    let out = local(&data, &["add", "r", s(&alpha)]).ok();
    assert!(out.stdout.contains("already present"), "{}", out.stdout);

    let out = local(&data, &["list"]).ok();
    assert!(
        out.stdout.lines().any(|l| l.starts_with("r ")),
        "{}",
        out.stdout
    );
    let out = local(&data, &["list", "r"]).ok();
    let alpha_row = out.stdout.lines().find(|l| l.starts_with("alpha")).unwrap();
    let cells: Vec<&str> = alpha_row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "alpha",
            "1.0-1",
            "amd64",
            "stable/main",
            "alpha_1.0-1_amd64.deb"
        ]
    );

    let out = local(&data, &["list", "r", "--json"]).ok();
    let packages: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(packages.as_array().unwrap().len(), 2);

    let out = local(&data, &["rebuild", "r"]).ok();
    assert!(out.stdout.contains("2 packages"), "{}", out.stdout);

    local(&data, &["remove", "r", "alpha_1.0-1_amd64.deb"]).ok();
    let out = local(&data, &["list", "r"]).ok();
    assert!(!out.stdout.contains("alpha"), "{}", out.stdout);
    assert!(out.stdout.contains("beta"));

    local(&data, &["delete", "r"]).ok();
    let out = local(&data, &["list"]).ok();
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("r ")),
        "{}",
        out.stdout
    );
}

#[test]
fn placement_flags_choose_distribution_and_component() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let deb = write_deb(tmp.path(), &DebBuilder::new("hello", "1.0", "amd64"));
    local(&data, &["create", "r"]).ok();
    local(
        &data,
        &[
            "add",
            "r",
            s(&deb),
            "--distribution",
            "bookworm",
            "--component",
            "contrib",
        ],
    )
    .ok();
    let out = local(&data, &["list", "r"]).ok();
    assert!(out.stdout.contains("bookworm/contrib"), "{}", out.stdout);
}

#[test]
fn bad_input_gives_a_clear_error_and_a_failing_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    local(&data, &["create", "r"]).ok();

    let out = local(&data, &["create", "r"]).failed();
    assert!(out.stderr.contains("already exists"), "{}", out.stderr);

    let junk = tmp.path().join("junk.deb");
    std::fs::write(&junk, b"definitely not an ar archive").unwrap();
    let good = write_deb(tmp.path(), &DebBuilder::new("good", "1.0", "amd64"));
    // One bad file does not stop the others; the exit status reports it.
    let out = local(&data, &["add", "r", s(&junk), s(&good)]).failed();
    assert!(out.stderr.contains("junk.deb"), "{}", out.stderr);
    assert!(
        out.stdout.contains("good_1.0_amd64.deb: added"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("1 of 2 files"), "{}", out.stderr);

    let out = local(&data, &["add", "nope", s(&good)]).failed();
    assert!(out.stderr.contains("'nope' not found"), "{}", out.stderr);

    let out = local(&data, &["add", "r", s(&tmp.path().join("missing.deb"))]).failed();
    assert!(out.stderr.contains("missing.deb"), "{}", out.stderr);

    let out = local(&data, &["add", "r", s(&good), "--distribution", "a/b"]).failed();
    assert!(out.stderr.contains("a/b"), "{}", out.stderr);

    let out = local(&data, &["remove", "r", "absent.deb"]).failed();
    assert!(out.stderr.contains("not found"), "{}", out.stderr);

    let out = local(&data, &["list", "nope"]).failed();
    assert!(out.stderr.contains("not found"), "{}", out.stderr);

    // Usage errors exit with 2.
    assert_eq!(local(&data, &["create", "../evil"]).code, Some(2));
    assert_eq!(local(&data, &["remove", "r", "../x.deb"]).code, Some(2));
    assert_eq!(local(&data, &["add", "r"]).code, Some(2));
    assert_eq!(local(&data, &["frobnicate"]).code, Some(2));

    // Nothing but the good package got in.
    let out = local(&data, &["list", "r"]).ok();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
}

#[test]
fn a_bad_config_file_is_reported_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("depot.toml");
    std::fs::write(&config, "data_dri = \"/x\"\n").unwrap();
    let out = run(depot()
        .current_dir(tmp.path())
        .args(["--config", s(&config), "list"]))
    .failed();
    assert!(out.stderr.contains("data_dri"), "{}", out.stderr);

    let out = run(depot()
        .current_dir(tmp.path())
        .env("DEPOT_MAX_UPLOAD_BYTES", "lots")
        .arg("list"))
    .failed();
    assert!(
        out.stderr.contains("DEPOT_MAX_UPLOAD_BYTES"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_config_file_and_env_choose_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let from_file = tmp.path().join("from-file");
    let from_env = tmp.path().join("from-env");
    let config = tmp.path().join("depot.toml");
    std::fs::write(&config, format!("data_dir = {:?}\n", s(&from_file))).unwrap();

    run(depot().args(["--config", s(&config), "create", "a"])).ok();
    assert!(from_file.join("depot.db").exists());
    run(depot()
        .env("DEPOT_CONFIG", &config)
        .env("DEPOT_DATA_DIR", &from_env)
        .args(["create", "b"]))
    .ok();
    assert!(from_env.join("depot.db").exists());
    let out = local(&from_file, &["list"]).ok();
    assert!(out.stdout.contains("a ") || out.stdout.lines().any(|l| l.starts_with('a')));
    assert!(
        !out.stdout.lines().any(|l| l.starts_with('b')),
        "{}",
        out.stdout
    );
}

// ---- serve + remote mode -------------------------------------------------------

/// A `depot serve` child, killed if the test panics.
struct ServerProcess {
    child: Child,
    log: PathBuf,
}

impl ServerProcess {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server ignored SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

fn start_server(data: &Path, log: PathBuf) -> (ServerProcess, u16) {
    let port = free_port();
    let child = depot()
        .args([
            "serve",
            "--data-dir",
            s(data),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = ServerProcess { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http_get(port, "/healthz").is_some_and(|r| r.starts_with("HTTP/1.0 200")) {
            return (server, port);
        }
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("depot serve exited with {status}:\n{}", server.log());
        }
        assert!(Instant::now() < deadline, "no /healthz:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn serve_writes_a_private_admin_token_and_remote_mode_uses_it() {
    use std::os::unix::fs::PermissionsExt;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, port) = start_server(&data, tmp.path().join("serve.log"));
    let url = format!("http://127.0.0.1:{port}");

    let token_file = data.join("admin.token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(!token.is_empty());
    let log = server.log();
    assert!(log.contains("admin.token"), "{log}");
    assert!(!log.contains(&token), "the secret must never be logged");

    let remote = |args: &[&str]| {
        run(depot()
            .args(["--server", &url, "--token", &token])
            .args(args))
    };

    let deb = write_deb(tmp.path(), &DebBuilder::new("hello", "1.0", "amd64"));
    remote(&["create", "r"]).ok();
    let out = remote(&["add", "r", s(&deb)]).ok();
    assert_eq!(
        out.stdout.trim(),
        "hello_1.0_amd64.deb: added (hello 1.0 amd64)"
    );

    let out = remote(&["list"]).ok();
    assert!(
        out.stdout.lines().any(|l| l.starts_with("r ")),
        "{}",
        out.stdout
    );
    let out = remote(&["list", "r"]).ok();
    assert!(out.stdout.contains("hello_1.0_amd64.deb"), "{}", out.stdout);

    // The read-your-writes promise holds for the CLI too.
    let index = http_get(port, "/repos/r/dists/stable/main/binary-amd64/Packages").unwrap();
    assert!(index.contains("Package: hello"), "{index}");

    // Local mode works on the same data directory while the server runs.
    let out = local(&data, &["list", "r"]).ok();
    assert!(out.stdout.contains("hello_1.0_amd64.deb"), "{}", out.stdout);

    // Environment variables instead of flags.
    let out = run(depot()
        .env("DEPOT_SERVER", &url)
        .env("DEPOT_TOKEN", &token)
        .args(["rebuild", "r"]))
    .ok();
    assert!(out.stdout.contains("1 packages"), "{}", out.stdout);

    // Errors from the server arrive as one clear line.
    let out = remote(&["add", "nope", s(&deb)]).failed();
    assert!(out.stderr.contains("'nope' not found"), "{}", out.stderr);
    let out = run(depot().args([
        "--server",
        &url,
        "--token",
        "depot_wrong",
        "add",
        "r",
        s(&deb),
    ]))
    .failed();
    assert!(
        out.stderr.contains("token was not accepted"),
        "{}",
        out.stderr
    );
    let out = run(depot().args(["--server", &url, "remove", "r", "hello_1.0_amd64.deb"])).failed();
    assert!(out.stderr.contains("--token"), "{}", out.stderr);

    remote(&["remove", "r", "hello_1.0_amd64.deb"]).ok();
    let out = remote(&["list", "r"]).ok();
    assert!(!out.stdout.contains("hello"), "{}", out.stdout);
    let index = http_get(port, "/repos/r/dists/stable/main/binary-amd64/Packages").unwrap();
    assert!(!index.contains("Package: hello"), "{index}");

    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[test]
fn a_second_start_keeps_the_existing_token() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (server, _) = start_server(&data, tmp.path().join("first.log"));
    let first = std::fs::read_to_string(data.join("admin.token")).unwrap();
    assert!(server.terminate().success());

    let (server, _) = start_server(&data, tmp.path().join("second.log"));
    assert_eq!(
        std::fs::read_to_string(data.join("admin.token")).unwrap(),
        first
    );
    drop(server);
}

#[test]
fn token_create_prints_a_working_secret_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    local(&data, &["create", "r"]).ok();
    let out = local(&data, &["token", "create", "ci", "--repo", "r"]).ok();
    let secret = out.stdout.trim();
    assert!(secret.len() > 20, "{secret}");
    assert!(out.stderr.contains("only this once"), "{}", out.stderr);

    let (server, port) = start_server(&data, tmp.path().join("serve.log"));
    let url = format!("http://127.0.0.1:{port}");
    let deb = write_deb(tmp.path(), &DebBuilder::new("hello", "1.0", "amd64"));
    run(depot().args(["--server", &url, "--token", secret, "add", "r", s(&deb)])).ok();
    // Scoped to r: creating repositories is forbidden.
    let out = run(depot().args(["--server", &url, "--token", secret, "create", "other"])).failed();
    assert!(out.stderr.contains("403"), "{}", out.stderr);
    // A token already existed, so serve did not create an admin token.
    assert!(!data.join("admin.token").exists());
    drop(server);
}
