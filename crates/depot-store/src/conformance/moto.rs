//! An S3 server for tests: moto's server mode (PyPI `moto[server]`), started
//! on a free loopback port and killed when the handle is dropped.
//!
//! Why moto: it is what a developer can install anywhere with one `pip`
//! line, it speaks enough S3 for depot (conditional `If-None-Match: *` puts,
//! multipart uploads, ranged GETs, listing) and it starts in about a second.
//! Its limit: it does **not** validate signatures, neither of requests nor
//! of presigned URLs, so a test against it proves that a presigned URL
//! points at the right object and fetches its bytes, not that the signature
//! would satisfy AWS. (s3s-fs from crates.io validates SigV4 but would add a
//! second S3 implementation of our own to build and maintain in the tree.)
//!
//! A missing moto is a test **failure** with the install line, never a
//! skip: CI installs it (`.ci/run`), and a suite that silently skips its S3
//! half would let S3 regressions through.

use crate::{ObjectBlobStore, S3Options};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to install the server, as printed when it is missing.
pub const MOTO_INSTALL: &str = "python3 -m pip install 'moto[server]'";

/// How long moto may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto S3 server on `127.0.0.1`. Dropping it kills the server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    /// moto's stderr (its request log), for diagnostics.
    log: tempfile::NamedTempFile,
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers.
    ///
    /// # Panics
    ///
    /// If python3 or moto is missing (the message says how to install it),
    /// or if the server does not answer within a minute.
    pub fn start() -> MotoServer {
        let mut last_error = String::new();
        // A port found free can be taken by someone else before moto binds
        // it; try a few.
        for _ in 0..3 {
            match Self::try_start() {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("{last_error}");
    }

    fn try_start() -> Result<MotoServer, String> {
        let port = free_port();
        let log = tempfile::NamedTempFile::new()
            .map_err(|e| format!("cannot create a log file for moto: {e}"))?;
        let stderr = log
            .reopen()
            .map_err(|e| format!("cannot open moto's log file: {e}"))?;
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run python3 for the S3 test server (moto): {e}; \
                     install Python 3 and then: {MOTO_INSTALL}"
                )
            })?;
        let mut server = MotoServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait().map_err(|e| e.to_string())? {
                let log = server.log_text();
                let hint = if log.contains("No module named") {
                    format!("moto is not installed; the S3 tests need it: {MOTO_INSTALL}")
                } else {
                    format!("moto exited with {status}; is it installed? {MOTO_INSTALL}")
                };
                return Err(format!("{hint}\n--- moto's output ---\n{log}"));
            }
            if server.request("GET", "/").is_ok_and(|status| status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto did not answer on {} within {START_TIMEOUT:?}\n--- moto's output ---\n{}",
                    server.addr,
                    server.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a bucket (moto takes an unsigned `PUT /bucket`).
    ///
    /// # Panics
    ///
    /// If moto refuses.
    pub fn create_bucket(&self, bucket: &str) {
        let status = self
            .request("PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("creating bucket {bucket} on moto: {e}"));
        assert_eq!(status, 200, "moto answered {status} to creating {bucket}");
    }

    /// Settings that reach this server (dummy credentials: moto accepts
    /// any).
    pub fn options(&self) -> S3Options {
        S3Options {
            endpoint: Some(self.endpoint()),
            region: Some("us-east-1".into()),
            access_key_id: Some("depot-test".into()),
            secret_access_key: Some("depot-test-secret".into()),
            session_token: None,
            allow_http: false,
        }
    }

    /// A new bucket and a blob store in it under `prefix`.
    pub fn store(&self, bucket: &str, prefix: &str) -> ObjectBlobStore {
        self.create_bucket(bucket);
        ObjectBlobStore::s3(bucket, prefix, &self.options())
            .unwrap_or_else(|e| panic!("opening the S3 store on moto: {e}"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// One HTTP/1.0 request with an empty body; the response status.
    fn request(&self, method: &str, path: &str) -> std::io::Result<u16> {
        let mut conn = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            conn,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        )?;
        let mut response = Vec::new();
        conn.read_to_end(&mut response)?;
        let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
        head.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Err(e) = self.child.kill() {
            eprintln!("killing moto (pid {}): {e}", self.child.id());
        }
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free loopback port: {e}"))
}
