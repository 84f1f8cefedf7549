//! Harness for end-to-end tests with stock Debian tools (`apt-get`, `dpkg`,
//! `gpgv`) against a real `depot serve` process.
//!
//! Three pieces:
//! - [`AptRoot`]: a throw-away root directory with a private apt
//!   configuration. `apt-get update` and `apt-get install` run against it with
//!   signature checking on and write nothing outside it: not the machine's
//!   dpkg database, apt lists, caches, logs or lock files.
//! - [`DepotServer`]: `depot serve` on a free loopback port with its own data
//!   directory, killed when dropped.
//! - [`http`]: a minimal HTTP/1.1 client over `std::net`, so the tests need no
//!   async runtime and no client crate.
//!
//! # Why apt is configured through `APT_CONFIG`
//! `apt-get -o Dir::Etc::Parts=…` is applied *after* apt has already read the
//! machine's `/etc/apt/apt.conf.d/`, and Debian images put hooks there
//! (`DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb" }` in Docker
//! images, PackageKit and AppStream refreshes, `Acquire::Check-Valid-Until
//! "false"`). Those would run, or weaken checks, in a test that is meant to be
//! isolated. apt reads the file named by `APT_CONFIG` *first*, before
//! `Dir::Etc::parts` and `Dir::Etc::main`, so pointing both of those into the
//! throw-away root from that file means no machine configuration is read at
//! all. (`apt-config dump` with this setup shows none of the machine's hooks.)
//!
//! Each option written by [`AptRoot::new`] is explained where it is written.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Running commands

/// Output of a finished command, with both streams as text.
#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(cmdline: String, out: Output) -> Run {
        Run {
            cmdline,
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// stdout followed by stderr.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// A readable dump for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "$ {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }

    /// Panics with the full output unless the command succeeded.
    pub fn ok(self) -> Run {
        assert!(self.success, "command failed:\n{}", self.describe());
        self
    }
}

/// Runs `cmd` to completion with no stdin, in the C locale (so messages are
/// the English ones the tests look for) and without proxy variables (all
/// traffic is to 127.0.0.1).
pub fn run(cmd: &mut Command) -> Run {
    let cmdline = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("DEBIAN_FRONTEND", "noninteractive");
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmdline}: {e} (is it installed? see .ci/run)"));
    Run::from_output(cmdline, out)
}

/// SHA-256 of `data` as lowercase hex, computed by coreutils' `sha256sum`
/// (an independent implementation from the server's).
pub fn sha256_hex(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(data)
        .expect("write to sha256sum");
    let out = child.wait_with_output().expect("sha256sum output");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

// ---------------------------------------------------------------------------
// The throw-away apt root

/// A temporary root with its own apt configuration, sources, keys, lists,
/// cache, logs and dpkg database. Removed when dropped.
pub struct AptRoot {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl AptRoot {
    pub fn new() -> AptRoot {
        let dir = tempfile::Builder::new()
            .prefix("depot-apt-root-")
            .tempdir()
            .expect("create temp apt root");
        let root = dir.path().to_path_buf();
        for d in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "etc/apt/keyrings",
            "etc/apt/auth.conf.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "var/log/apt",
            "tmp",
        ] {
            std::fs::create_dir_all(root.join(d)).expect("create apt root layout");
        }
        // An empty dpkg database: nothing is installed in the root.
        std::fs::write(root.join("var/lib/dpkg/status"), b"").unwrap();
        std::fs::write(root.join("var/lib/dpkg/available"), b"").unwrap();
        // Dir::Etc::main points here; it must exist and stay empty so the
        // isolating file below is not read twice (lists would be doubled).
        std::fs::write(root.join("etc/apt/apt.conf"), b"").unwrap();
        std::fs::write(root.join("etc/apt/sources.list"), b"").unwrap();

        let r = root.display();
        let conf = format!(
            r#"// Written by the depot test harness; read through APT_CONFIG.
// Every path apt uses is inside the throw-away root {r}.
Dir "{r}/";
// The machine's apt.conf.d is never read: parts and main live in the root.
Dir::Etc "{r}/etc/apt/";
Dir::Etc::main "{r}/etc/apt/apt.conf";
Dir::Etc::parts "{r}/etc/apt/apt.conf.d/";
Dir::Etc::sourcelist "{r}/etc/apt/sources.list";
Dir::Etc::sourceparts "{r}/etc/apt/sources.list.d/";
Dir::Etc::preferences "{r}/etc/apt/preferences";
Dir::Etc::preferencesparts "{r}/etc/apt/preferences.d/";
// No trusted keys besides the one a source names with signed-by=.
Dir::Etc::trusted "{r}/etc/apt/trusted.gpg";
Dir::Etc::trustedparts "{r}/etc/apt/trusted.gpg.d/";
// Lists, extended_states and the lists lock.
Dir::State "{r}/var/lib/apt/";
// apt reads installed state from here and takes the dpkg frontend lock
// next to it, so the machine's /var/lib/dpkg/lock* are never touched.
Dir::State::status "{r}/var/lib/dpkg/status";
Dir::Cache "{r}/var/cache/apt/";
Dir::Log "{r}/var/log/apt/";
// Methods and dpkg are the machine's own binaries.
Dir::Bin::methods "/usr/lib/apt/methods";
Dir::Bin::dpkg "/usr/bin/dpkg";
// Fixed architecture, so the test is the same on any host.
APT::Architecture "amd64";
APT::Architectures {{ "amd64"; }};
// We run as root; the _apt sandbox user cannot read a 0700 temp dir.
APT::Sandbox::User "root";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
// Only what the tests serve: no Translation-* requests.
Acquire::Languages "none";
Acquire::Retries "0";
// Everything is on 127.0.0.1: never a proxy, whatever the environment says.
Acquire::http::Proxy "DIRECT";
// Signature and date checks stay at apt's (strict) defaults; spelled out so
// a reader sees nothing is relaxed.
Acquire::AllowInsecureRepositories "false";
Acquire::AllowDowngradeToInsecureRepositories "false";
Acquire::AllowWeakRepositories "false";
// dpkg installs into the root: --root sets the install dir and the admin
// dir (root/var/lib/dpkg); --admindir says so explicitly; --log keeps dpkg
// from appending to the machine's /var/log/dpkg.log (its default is not
// relative to --root). The fixture packages have no maintainer scripts, so
// no chroot is needed.
DPkg::Options {{ "--root={r}"; "--admindir={r}/var/lib/dpkg"; "--log={r}/var/log/dpkg.log"; }};
DPkg::Use-Pty "false";
DPkg::Progress-Fancy "false";
"#
        );
        std::fs::write(root.join("apt.conf"), conf).expect("write apt.conf");
        AptRoot { _dir: dir, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Stores an ASCII-armored public key as `etc/apt/keyrings/NAME.asc`
    /// inside the root and returns its absolute path (for `signed-by=`).
    pub fn add_key(&self, name: &str, armored: &[u8]) -> PathBuf {
        let p = self.root.join(format!("etc/apt/keyrings/{name}.asc"));
        std::fs::write(&p, armored).expect("write key");
        p
    }

    /// Replaces the root's sources.list.
    pub fn set_sources(&self, text: &str) {
        std::fs::write(self.root.join("etc/apt/sources.list"), text).expect("write sources.list");
    }

    /// Runs `apt-get ARGS` with the root's configuration only.
    pub fn apt_get(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("apt-get");
        cmd.args(args)
            .env("APT_CONFIG", self.root.join("apt.conf"))
            // apt-key and dpkg-deb make temp files under TMPDIR.
            .env("TMPDIR", self.root.join("tmp"))
            .current_dir(&self.root);
        run(&mut cmd)
    }

    /// `apt-config dump` under the root's configuration.
    pub fn apt_config_dump(&self) -> Run {
        let mut cmd = Command::new("apt-config");
        cmd.arg("dump")
            .env("APT_CONFIG", self.root.join("apt.conf"))
            .current_dir(&self.root);
        run(&mut cmd)
    }

    /// Package name -> (status abbreviation as `dpkg -l` shows it, version)
    /// from the root's dpkg database.
    pub fn installed(&self) -> BTreeMap<String, (String, String)> {
        let admindir = self.root.join("var/lib/dpkg");
        let out = run(Command::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"]))
        .ok();
        out.stdout
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let abbrev = f.next()?.trim().to_string();
                let name = f.next()?.to_string();
                let version = f.next()?.to_string();
                Some((name, (abbrev, version)))
            })
            .collect()
    }
}

/// Lines of apt output that mean something went wrong or was weakened.
pub fn apt_problems(output: &str) -> Vec<String> {
    const BAD: [&str; 9] = [
        "NO_PUBKEY",
        "not signed",
        "insecure",
        "GPG error",
        "BADSIG",
        "EXPKEYSIG",
        "weak",
        "Hash Sum mismatch",
        "unauthenticated",
    ];
    output
        .lines()
        .filter(|l| {
            l.starts_with("W:")
                || l.starts_with("E:")
                || l.starts_with("Err:")
                || l.starts_with("Ign:")
                || BAD.iter().any(|b| l.contains(b))
        })
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// The machine's own apt/dpkg state, to show a test left it alone

/// A fingerprint of the machine's package state: the dpkg status database
/// (bytes), plus names, sizes and mtimes in apt's lists and archive cache and
/// dpkg's log.
#[derive(Debug, PartialEq, Eq)]
pub struct MachineState {
    dpkg_status: Vec<u8>,
    entries: BTreeMap<String, (u64, Option<std::time::SystemTime>)>,
}

impl MachineState {
    pub fn capture() -> MachineState {
        let dpkg_status = std::fs::read("/var/lib/dpkg/status").unwrap_or_default();
        let mut entries = BTreeMap::new();
        for dir in [
            "/var/lib/apt/lists",
            "/var/cache/apt/archives",
            "/var/lib/dpkg/info",
        ] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    if let Ok(md) = e.metadata() {
                        entries.insert(
                            e.path().display().to_string(),
                            (md.len(), md.modified().ok()),
                        );
                    }
                }
            }
        }
        for f in [
            "/var/log/dpkg.log",
            "/var/log/apt/history.log",
            "/var/log/apt/term.log",
            "/var/lib/apt/extended_states",
        ] {
            if let Ok(md) = std::fs::metadata(f) {
                entries.insert(f.to_string(), (md.len(), md.modified().ok()));
            }
        }
        MachineState {
            dpkg_status,
            entries,
        }
    }

    pub fn assert_unchanged_since(&self, before: &MachineState) {
        assert!(
            self.dpkg_status == before.dpkg_status,
            "the machine's /var/lib/dpkg/status changed during the test"
        );
        if self.entries != before.entries {
            let mut diff = String::new();
            for (k, v) in &self.entries {
                if before.entries.get(k) != Some(v) {
                    let _ = writeln!(diff, "changed/new: {k}");
                }
            }
            for k in before.entries.keys() {
                if !self.entries.contains_key(k) {
                    let _ = writeln!(diff, "removed: {k}");
                }
            }
            panic!("the machine's apt/dpkg state changed during the test:\n{diff}");
        }
    }
}

// ---------------------------------------------------------------------------
// Fixture packages

/// A tiny binary package: control fields plus regular files.
pub struct Fixture {
    pub name: &'static str,
    pub version: &'static str,
    pub arch: &'static str,
    pub depends: Option<&'static str>,
    pub files: Vec<(&'static str, Vec<u8>)>,
}

impl Fixture {
    /// The Debian file name, `NAME_VERSION_ARCH.deb`.
    pub fn file_name(&self) -> String {
        format!("{}_{}_{}.deb", self.name, self.version, self.arch)
    }

    /// Builds the .deb with `depot_testkit::DebBuilder`. The Description's
    /// first line is `depot end-to-end fixture NAME`, which occurs nowhere
    /// else in an index (the tamper test looks for it).
    pub fn build(&self) -> Vec<u8> {
        let mut b = depot_testkit::DebBuilder::new(self.name, self.version, self.arch).field(
            "Description",
            &format!(
                "depot end-to-end fixture {}\n Installed by depot's apt end-to-end tests.",
                self.name
            ),
        );
        if let Some(d) = self.depends {
            b = b.depends(d);
        }
        for (path, content) in &self.files {
            b = b.file(path, content);
        }
        assert_eq!(b.file_name(), self.file_name());
        b.build()
    }
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1 client

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a fresh connection (`Connection: close`). `url` must be
/// `http://HOST:PORT/path`.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| io::Error::other(format!("not an http:// URL: {url}")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let _ = stream.shutdown(Shutdown::Both);

    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("response without header terminator"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line: {status_line}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if method == "HEAD" || status == 204 || status == 304 {
        body.clear();
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        body = dechunk(&body)?;
    } else if let Some(len) = resp.header("content-length").and_then(|v| v.parse().ok()) {
        body.truncate(len);
    }
    Ok(Response { body, ..resp })
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| io::Error::other("truncated chunk size"))?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(io::Error::other("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

pub fn get(url: &str) -> Response {
    http("GET", url, &[], b"").unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// GET that must answer 200; returns the body.
pub fn get_ok(url: &str) -> Vec<u8> {
    let r = get(url);
    assert_eq!(r.status, 200, "GET {url}: {}", r.text());
    r.body
}

// ---------------------------------------------------------------------------
// A running `depot serve`

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// `depot serve` as a child process with its own data directory. Killed (and
/// reaped) on drop; the data directory is removed with the struct.
pub struct DepotServer {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    log_path: PathBuf,
    _tmp: tempfile::TempDir,
}

impl DepotServer {
    /// Starts a server on a fresh data directory and waits for `/healthz`.
    pub fn start() -> DepotServer {
        let tmp = tempfile::Builder::new()
            .prefix("depot-e2e-")
            .tempdir()
            .expect("temp dir for the server");
        let data_dir = tmp.path().join("data");
        let log_path = tmp.path().join("server.log");
        let mut server = DepotServer {
            child: None,
            base: String::new(),
            data_dir,
            log_path,
            _tmp: tmp,
        };
        // The port is free when picked, but another process may take it
        // before the server binds: try a few.
        for _ in 0..3 {
            server.spawn_on(free_port());
            if server.wait_healthy(Duration::from_secs(60)) {
                return server;
            }
            server.kill();
        }
        panic!("depot serve did not become healthy:\n{}", server.log());
    }

    /// Stops the server and starts it again on the same data directory and
    /// port (the port is re-picked if it was taken meanwhile).
    pub fn restart(&mut self) {
        self.kill();
        let port: u16 = self.base.rsplit(':').next().unwrap().parse().unwrap();
        self.spawn_on(port);
        if self.wait_healthy(Duration::from_secs(60)) {
            return;
        }
        self.kill();
        self.spawn_on(free_port());
        assert!(
            self.wait_healthy(Duration::from_secs(60)),
            "depot serve did not come back:\n{}",
            self.log()
        );
    }

    fn spawn_on(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
        // Only the flags below configure this server, whatever DEPOT_* the
        // environment running the tests has.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DEPOT_") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn depot serve");
        self.child = Some(child);
        self.base = format!("http://127.0.0.1:{port}");
    }

    /// Polls `GET /healthz` until it answers 200, the child exits, or
    /// `limit` passes.
    fn wait_healthy(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            if let Ok(r) = http("GET", &self.url("/healthz"), &[], b"")
                && r.status == 200
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The admin token the server wrote on first start.
    pub fn admin_token(&self) -> String {
        let p = self.data_dir.join("admin.token");
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DepotServer {
    fn drop(&mut self) {
        self.kill();
    }
}
