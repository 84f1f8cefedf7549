//! depot under test: `depot serve` on a fresh data directory on loopback, driven through
//! the REST API the way a user's client drives it; and `depot add` in local mode.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::apt;
use crate::corpus::Pkg;
use crate::proc;
use crate::rpmmd;

pub const REPO: &str = "bench";

/// Which of depot's published indexes a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `dists/stable/InRelease` -> `Packages`.
    Apt,
    /// `repodata/repomd.xml` -> `primary.xml.gz`.
    Rpm,
    /// `pacman/x86_64/bench.db`, whose signature is `bench.db.sig`.
    Pacman,
}

/// A running `depot serve`; killed when dropped, so no error path leaves it behind.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    token: String,
    client: reqwest::Client,
}

impl Server {
    /// Starts `depot serve` and waits until it answers and has written its admin token.
    pub async fn start(bin: &Path, data_dir: &Path, log: &Path, wait: Duration) -> Result<Server> {
        std::fs::create_dir_all(data_dir)?;
        let port = free_port()?;
        let out = std::fs::File::create(log)?;
        let child = depot_cmd(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(300))
            .pool_max_idle_per_host(64)
            .build()?;
        let mut server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            client,
        };
        let deadline = Instant::now() + wait;
        let token_file = data_dir.join("admin.token");
        loop {
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().transpose())
                .transpose()?
            {
                bail!(
                    "depot serve exited during start-up ({status})\n{}",
                    proc::tail(log)
                );
            }
            let answered = server
                .client
                .get(format!("{}/repos/", server.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if answered && let Ok(token) = std::fs::read_to_string(&token_file) {
                server.token = token.trim().to_string();
                if !server.token.is_empty() {
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                let _ = server.stop();
                bail!(
                    "depot serve did not come up within {:.0} s\n{}",
                    wait.as_secs_f64(),
                    proc::tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the server and returns its peak RSS (KiB) over its whole life.
    pub fn stop(mut self) -> Result<u64> {
        let hwm = proc::vm_hwm_kib(self.pid()).unwrap_or(0);
        let mut child = self.child.take().context("server already stopped")?;
        let maxrss = proc::kill_and_reap(&mut child)?;
        Ok(hwm.max(maxrss))
    }

    pub async fn create_repo(&self) -> Result<()> {
        let resp = self
            .client
            .post(format!("{}/repos/{REPO}/", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            bail!(
                "creating repo: {status} {}",
                resp.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// One upload through `POST /repos/{repo}/packages/?filename=` with a raw body. Returns
    /// once the response (2xx: the published index includes it) has been read completely.
    pub async fn upload(&self, file_name: &str, body: Vec<u8>) -> Result<()> {
        upload(&self.client, &self.base, &self.token, file_name, body).await
    }

    /// Uploads all `debs` with `clients` concurrent clients, each reading its next file from
    /// disk and waiting for the answer before taking the next one.
    pub async fn bulk_upload(&self, debs: &[Pkg], clients: usize) -> Result<()> {
        let debs: Arc<Vec<Pkg>> = Arc::new(debs.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients.max(1) {
            let debs = Arc::clone(&debs);
            let next = Arc::clone(&next);
            let client = self.client.clone();
            let base = self.base.clone();
            let token = self.token.clone();
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(deb) = debs.get(i) else {
                        return Ok::<(), anyhow::Error>(());
                    };
                    let body = tokio::fs::read(&deb.path).await?;
                    upload(&client, &base, &token, &file_name(deb), body).await?;
                }
            });
        }
        let mut first_err = None;
        while let Some(joined) = tasks.join_next().await {
            let res = joined.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(e) = res
                && first_err.is_none()
            {
                first_err = Some(e);
                // Stop handing out work; the others finish their current upload.
                next.store(usize::MAX / 2, Ordering::Relaxed);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            bail!("GET {path}: {}", resp.status());
        }
        Ok(Some(resp.bytes().await?.to_vec()))
    }

    /// What the published, signed index lists right now: InRelease -> Packages (by-hash when
    /// served, checked against the SHA-256 in InRelease).
    pub async fn listed(&self) -> Result<(HashSet<String>, usize)> {
        let dists = format!("/repos/{REPO}/dists/stable");
        let inrelease = self
            .get(&format!("{dists}/InRelease"))
            .await?
            .context("InRelease not found")?;
        let inrelease = String::from_utf8(inrelease).context("InRelease is not UTF-8")?;
        let index = apt::packages_ref(&inrelease)?;
        let dir = index.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let by_hash = format!("{dists}/{dir}/by-hash/SHA256/{}", index.sha256);
        let bytes = match self.get(&by_hash).await? {
            Some(b) => b,
            None => self
                .get(&format!("{dists}/{}", index.path))
                .await?
                .with_context(|| format!("{} not found", index.path))?,
        };
        apt::listed_packages(&index, &bytes)
    }

    /// What the published `repodata/` lists right now: repomd.xml -> primary.xml.gz, checked
    /// against repomd.xml's checksum and open-checksum.
    pub async fn listed_rpm(&self) -> Result<(HashSet<String>, usize)> {
        let repomd = self
            .get(&format!("/repos/{REPO}/repodata/repomd.xml"))
            .await?
            .context("repodata/repomd.xml not found")?;
        let repomd = String::from_utf8(repomd).context("repomd.xml is not UTF-8")?;
        let primary = rpmmd::primary_ref(&repomd)?;
        let bytes = self
            .get(&format!("/repos/{REPO}/{}", primary.href))
            .await?
            .with_context(|| format!("{} not found", primary.href))?;
        rpmmd::listed_packages(&primary, &bytes)
    }

    /// What the published pacman database (`pacman/x86_64/bench.db`) lists right now.
    pub async fn listed_pacman(&self) -> Result<(HashSet<String>, usize)> {
        let db = self
            .get(&format!("/repos/{REPO}/pacman/x86_64/{REPO}.db"))
            .await?
            .context("pacman/x86_64/bench.db not found")?;
        crate::pacmanbench::listed_in_db(&db)
    }

    /// What the published index of `format` lists right now.
    pub async fn listed_as(&self, format: Format) -> Result<(HashSet<String>, usize)> {
        match format {
            Format::Apt => self.listed().await,
            Format::Rpm => self.listed_rpm().await,
            Format::Pacman => self.listed_pacman().await,
        }
    }

    /// Checks the signatures of `format`'s index with gpgv against the served key.
    pub async fn verify_signatures_as(&self, format: Format, dir: &Path) -> Result<()> {
        match format {
            Format::Apt => self.verify_signatures(dir).await,
            Format::Rpm => self.verify_rpm_signature(dir).await,
            Format::Pacman => self.verify_pacman_signature(dir).await,
        }
    }

    /// Downloads `bench.db`, `bench.db.sig` and key.asc into `dir` and runs gpgv.
    pub async fn verify_pacman_signature(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut saved = Vec::new();
        for f in [format!("{REPO}.db"), format!("{REPO}.db.sig")] {
            let body = self
                .get(&format!("/repos/{REPO}/pacman/x86_64/{f}"))
                .await?
                .with_context(|| format!("pacman/x86_64/{f} not found"))?;
            let p = dir.join(&f);
            std::fs::write(&p, body)?;
            saved.push(p);
        }
        let keyring = self.keyring(dir).await?;
        apt::gpgv(&keyring, &[&saved[1], &saved[0]])
    }

    /// Downloads repomd.xml, repomd.xml.asc and key.asc into `dir` and runs gpgv.
    pub async fn verify_rpm_signature(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut saved = Vec::new();
        for f in ["repomd.xml", "repomd.xml.asc"] {
            let body = self
                .get(&format!("/repos/{REPO}/repodata/{f}"))
                .await?
                .with_context(|| format!("repodata/{f} not found"))?;
            let p = dir.join(f);
            std::fs::write(&p, body)?;
            saved.push(p);
        }
        let keyring = self.keyring(dir).await?;
        apt::gpgv(&keyring, &[&saved[1], &saved[0]])
    }

    /// key.asc, dearmored into `dir/depot-key.gpg` for gpgv.
    async fn keyring(&self, dir: &Path) -> Result<PathBuf> {
        let key = self
            .get(&format!("/repos/{REPO}/key.asc"))
            .await?
            .context("key.asc not found")?;
        let keyring = dir.join("depot-key.gpg");
        dearmor(&key, &keyring, dir)?;
        Ok(keyring)
    }

    /// Downloads InRelease, Release, Release.gpg and key.asc into `dir` and runs gpgv.
    pub async fn verify_signatures(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let dists = format!("/repos/{REPO}/dists/stable");
        let mut saved = Vec::new();
        for f in ["InRelease", "Release", "Release.gpg"] {
            let body = self
                .get(&format!("{dists}/{f}"))
                .await?
                .with_context(|| format!("{f} not found"))?;
            let p = dir.join(f);
            std::fs::write(&p, body)?;
            saved.push(p);
        }
        let keyring = self.keyring(dir).await?;
        apt::verify_signatures(&keyring, &saved[0], Some((&saved[1], &saved[2])))
    }

    /// Waits until depot's deferred work after a burst is done, so it does not compete with
    /// the next tool for the CPU: InRelease lists `Packages.xz` (added by a background pass
    /// once the repo is idle) and the server used no CPU for `quiet`. Gives up after
    /// `limit`. Returns the seconds waited and whether `Packages.xz` appeared.
    pub async fn settle(&self, quiet: Duration, limit: Duration) -> Result<(f64, bool)> {
        let t0 = Instant::now();
        let inrelease = format!("/repos/{REPO}/dists/stable/InRelease");
        let mut last = (Instant::now(), proc::cpu_ticks(self.pid()));
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let xz = self
                .get(&inrelease)
                .await?
                .is_some_and(|b| String::from_utf8_lossy(&b).contains("binary-amd64/Packages.xz"));
            let ticks = proc::cpu_ticks(self.pid());
            if ticks.is_none() || ticks.zip(last.1).is_some_and(|(now, then)| now > then + 1) {
                last = (Instant::now(), ticks);
            }
            if xz && last.0.elapsed() >= quiet {
                return Ok((t0.elapsed().as_secs_f64(), true));
            }
            if t0.elapsed() > limit {
                return Ok((t0.elapsed().as_secs_f64(), xz));
            }
        }
    }

    /// `gpg --quick-gen-key` algorithm matching the served key, e.g. `rsa4096`, `ed25519`.
    pub async fn key_algo(&self, scratch: &Path) -> Result<String> {
        let key = self
            .get(&format!("/repos/{REPO}/key.asc"))
            .await?
            .context("key.asc not found")?;
        std::fs::create_dir_all(scratch)?;
        let file = scratch.join("depot-key.asc");
        std::fs::write(&file, &key)?;
        let out = gpg_tool(scratch)
            .args(["--show-keys", "--with-colons"])
            .arg(&file)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let primary = text
            .lines()
            .find(|l| l.starts_with("pub:"))
            .context("no key in key.asc")?;
        let f: Vec<&str> = primary.split(':').collect();
        Ok(match (f.get(3).copied(), f.get(2).copied()) {
            (Some("1"), Some(bits)) => format!("rsa{bits}"),
            (Some("22"), _) => "ed25519".to_string(),
            (Some("19"), _) => "nistp256".to_string(),
            (algo, _) => bail!("unrecognised key algorithm {algo:?} in depot's key.asc"),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    file_name: &str,
    body: Vec<u8>,
) -> Result<()> {
    let resp = client
        .post(format!("{base}/repos/{REPO}/packages/"))
        .query(&[("filename", file_name)])
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .with_context(|| format!("uploading {file_name}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("uploading {file_name}: {status} {text}");
    }
    Ok(())
}

pub fn file_name(deb: &Pkg) -> String {
    deb.path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The depot binary with none of the caller's `DEPOT_*` settings (a `DEPOT_SERVER` would
/// turn local mode into remote mode, a `DEPOT_CONFIG` could change anything).
fn depot_cmd(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DEPOT_") {
            c.env_remove(k);
        }
    }
    c
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn gpg_tool(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home).arg("--batch").stdin(Stdio::null());
    c
}

fn dearmor(asc: &[u8], out: &Path, scratch: &Path) -> Result<()> {
    let input = scratch.join("key-to-dearmor.asc");
    std::fs::write(&input, asc)?;
    let status = gpg_tool(scratch)
        .args(["--yes", "--dearmor", "-o"])
        .arg(out)
        .arg(&input)
        .output()?;
    if !status.status.success() {
        bail!("gpg --dearmor: {}", String::from_utf8_lossy(&status.stderr));
    }
    Ok(())
}

/// `depot create` + timed `depot add --data-dir D REPO files...` in local mode.
pub struct Cli {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Cli {
    pub fn create(&self, timeout: Duration) -> Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        let mut c = depot_cmd(&self.bin);
        c.arg("create")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg(REPO);
        proc::run_ok(&mut c, timeout, &self.log)?;
        Ok(())
    }

    /// `depot rebuild REPO` on the data directory: re-reads every stored package.
    pub fn rebuild(&self, timeout: Duration) -> Result<proc::Outcome> {
        let mut c = depot_cmd(&self.bin);
        c.arg("rebuild")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg(REPO);
        proc::run_ok(&mut c, timeout, &self.log)
    }

    pub fn add(&self, debs: &[Pkg], timeout: Duration) -> Result<proc::Outcome> {
        let mut c = depot_cmd(&self.bin);
        c.arg("add").arg("--data-dir").arg(&self.data_dir).arg(REPO);
        c.args(debs.iter().map(|d| &d.path));
        proc::run_ok(&mut c, timeout, &self.log)
    }
}
