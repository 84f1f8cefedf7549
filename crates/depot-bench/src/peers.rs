//! The peers: reprepro and aptly from Debian, each signing with a throw-away GnuPG key.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::corpus::Pkg;
use crate::proc::{self, Outcome};

/// A generated OpenPGP key (no passphrase) in its own GNUPGHOME.
pub struct PeerKey {
    pub home: PathBuf,
    pub fingerprint: String,
    /// Binary public keyring for `gpgv`.
    pub keyring: PathBuf,
    /// `rsa4096`, `ed25519`, ... as given to `gpg --quick-gen-key`.
    pub algo: String,
}

impl PeerKey {
    pub fn generate(dir: &Path, algo: &str) -> Result<PeerKey> {
        let home = dir.join("gnupg");
        std::fs::create_dir_all(&home)?;
        set_mode_700(&home)?;
        gpg(&home)
            .args([
                "--quick-gen-key",
                "depot-bench <bench@example.invalid>",
                algo,
                "sign",
                "never",
            ])
            .output_ok()
            .context("generating the peers' signing key")?;
        let listing = gpg(&home)
            .args(["--list-secret-keys", "--with-colons"])
            .output_ok()?;
        let fingerprint = String::from_utf8_lossy(&listing)
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .context("no fingerprint in gpg --list-secret-keys")?;
        let keyring = dir.join("peers-pubring.gpg");
        let public = gpg(&home).args(["--export", &fingerprint]).output_ok()?;
        std::fs::write(&keyring, public)?;
        let key = PeerKey {
            home,
            fingerprint,
            keyring,
            algo: algo.to_string(),
        };
        key.warm_agent()?;
        Ok(key)
    }

    /// Starts gpg-agent and loads the key with one throw-away signature, so no timed run
    /// pays for the agent's start.
    fn warm_agent(&self) -> Result<()> {
        let scratch = self.home.join("warm.txt");
        std::fs::write(&scratch, "warm up\n")?;
        gpg(&self.home)
            .args(["--yes", "--local-user", &self.fingerprint, "--clearsign"])
            .arg(&scratch)
            .output_ok()
            .context("warm-up signature")?;
        Ok(())
    }

    pub fn stop_agent(&self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", &self.home)
            .stdin(Stdio::null())
            .output();
    }
}

fn set_mode_700(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.env("GNUPGHOME", home)
        .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""]);
    c
}

trait OutputOk {
    fn output_ok(&mut self) -> Result<Vec<u8>>;
}

impl OutputOk for Command {
    fn output_ok(&mut self) -> Result<Vec<u8>> {
        let out = self.stdin(Stdio::null()).output()?;
        if !out.status.success() {
            bail!(
                "{:?} failed: {}",
                self.get_program(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(out.stdout)
    }
}

/// What a timed step of a peer cost: the sum of its processes' wall times and the largest
/// peak RSS among them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    pub secs: f64,
    pub maxrss_kib: u64,
}

impl Cost {
    pub fn add(&mut self, o: &Outcome) {
        self.secs += o.wall.as_secs_f64();
        self.maxrss_kib = self.maxrss_kib.max(o.maxrss_kib);
    }
}

/// A repository published by a peer, with the `dists/stable` directory a client would read.
pub trait Peer {
    fn full_publish(&mut self, debs: &[Pkg], corpus_dir: &Path) -> Result<Cost>;
    fn one_more(&mut self, deb: &Pkg) -> Result<Cost>;
    fn dists(&self) -> PathBuf;
}

/// Deadlines for one full publish and for one "one more" step.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub full: Duration,
    pub one: Duration,
}

pub struct Reprepro {
    base: PathBuf,
    key_home: PathBuf,
    log: PathBuf,
    timeout: Timeouts,
}

impl Reprepro {
    pub fn new(base: &Path, key: &PeerKey, timeout: Timeouts) -> Result<Reprepro> {
        std::fs::create_dir_all(base.join("conf"))?;
        std::fs::write(
            base.join("conf/distributions"),
            format!(
                "Codename: stable\nSuite: stable\nArchitectures: amd64\nComponents: main\n\
                 SignWith: {}\n",
                key.fingerprint
            ),
        )?;
        Ok(Reprepro {
            base: base.to_path_buf(),
            key_home: key.home.clone(),
            log: base.with_extension("log"),
            timeout,
        })
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("reprepro");
        c.env("GNUPGHOME", &self.key_home)
            .arg("-b")
            .arg(&self.base)
            // Override fields a minimal .deb may lack; costs nothing when present.
            .args(["-S", "misc", "-P", "optional"]);
        c
    }
}

impl Peer for Reprepro {
    /// One `includedeb` with every file; it exports and signs once at the end.
    fn full_publish(&mut self, debs: &[Pkg], _corpus_dir: &Path) -> Result<Cost> {
        let mut c = self.cmd();
        c.args(["includedeb", "stable"]);
        c.args(debs.iter().map(|d| &d.path));
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(&mut c, self.timeout.full, &self.log)?);
        Ok(cost)
    }

    fn one_more(&mut self, deb: &Pkg) -> Result<Cost> {
        let mut c = self.cmd();
        c.args(["includedeb", "stable"]).arg(&deb.path);
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(&mut c, self.timeout.one, &self.log)?);
        Ok(cost)
    }

    fn dists(&self) -> PathBuf {
        self.base.join("dists/stable")
    }
}

pub struct Aptly {
    root: PathBuf,
    config: PathBuf,
    key_home: PathBuf,
    fingerprint: String,
    log: PathBuf,
    timeout: Timeouts,
}

/// Index work aptly does by default that depot and reprepro do not: Contents indexes (which
/// re-read every package's data.tar) and Packages.bz2. Skipping both favours aptly.
const APTLY_PUBLISH_FLAGS: [&str; 3] = ["-batch", "-skip-contents", "-skip-bz2"];

impl Aptly {
    pub fn new(root: &Path, key: &PeerKey, timeout: Timeouts) -> Result<Aptly> {
        std::fs::create_dir_all(root)?;
        let config = root.with_extension("conf");
        let conf = serde_json::json!({
            "rootDir": root,
            "gpgProvider": "gpg2",
            "downloadConcurrency": 1,
        });
        std::fs::write(&config, serde_json::to_vec_pretty(&conf)?)?;
        Ok(Aptly {
            root: root.to_path_buf(),
            config,
            key_home: key.home.clone(),
            fingerprint: key.fingerprint.clone(),
            log: root.with_extension("log"),
            timeout,
        })
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("aptly");
        c.env("GNUPGHOME", &self.key_home)
            .arg(format!("-config={}", self.config.display()));
        c
    }

    fn publish_args(&self) -> Vec<String> {
        let mut v: Vec<String> = APTLY_PUBLISH_FLAGS.iter().map(|s| s.to_string()).collect();
        v.push(format!("-gpg-key={}", self.fingerprint));
        v
    }
}

impl Peer for Aptly {
    /// `repo create`, `repo add DIR`, `publish repo` (signed).
    fn full_publish(&mut self, _debs: &[Pkg], corpus_dir: &Path) -> Result<Cost> {
        let mut cost = Cost::default();
        let mut create = self.cmd();
        create.args([
            "repo",
            "create",
            "-distribution=stable",
            "-component=main",
            "bench",
        ]);
        cost.add(&proc::run_ok(&mut create, self.timeout.full, &self.log)?);
        let mut add = self.cmd();
        add.args(["repo", "add", "bench"]).arg(corpus_dir);
        cost.add(&proc::run_ok(&mut add, self.timeout.full, &self.log)?);
        let mut publish = self.cmd();
        publish
            .args(["publish", "repo"])
            .args(self.publish_args())
            .args(["-distribution=stable", "bench"]);
        cost.add(&proc::run_ok(&mut publish, self.timeout.full, &self.log)?);
        Ok(cost)
    }

    /// `repo add FILE` then `publish update stable` (signed).
    fn one_more(&mut self, deb: &Pkg) -> Result<Cost> {
        let mut cost = Cost::default();
        let mut add = self.cmd();
        add.args(["repo", "add", "bench"]).arg(&deb.path);
        cost.add(&proc::run_ok(&mut add, self.timeout.one, &self.log)?);
        let mut update = self.cmd();
        update
            .args(["publish", "update"])
            .args(self.publish_args())
            .arg("stable");
        cost.add(&proc::run_ok(&mut update, self.timeout.one, &self.log)?);
        Ok(cost)
    }

    fn dists(&self) -> PathBuf {
        self.root.join("public/dists/stable")
    }
}
