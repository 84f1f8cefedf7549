//! Three `depot serve` nodes on one PostgreSQL database and one S3 bucket
//! (moto on loopback), as they would run behind a load balancer.
//!
//! 1. The nodes start together and agree on one signing key; an admin token
//!    written by any of them works on all of them.
//! 2. Eight writers upload 2,000 small .debs spread over the nodes, and
//!    delete some. A sample of uploads is checked for read-your-writes
//!    across nodes: right after node A acknowledged it, the signed index
//!    fetched from node B lists it. No write may be refused.
//! 3. A burst in which one node is killed with SIGKILL midway: the writers
//!    go on against the other nodes (re-sending what the dead node never
//!    answered, as a load balancer would), which keep accepting and
//!    publishing.
//! 4. The killed node restarts. Every acknowledged upload is in the final
//!    signed index, no acknowledged delete is, the index matches the
//!    package table, every node serves a byte-identical InRelease, and a
//!    stock `apt-get update` (signature checking on) succeeds against each.
//!
//! PostgreSQL: `DEPOT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); a throw-away database is
//! created and dropped with `psql`. S3: moto (`python3 -m pip install
//! 'moto[server]'`).
//!
//! To look inside: `THREE_NODES_KEEP=1` keeps the working directory (each
//! node's `serve.log`), `THREE_NODES_LOG` is the nodes' `RUST_LOG` (say
//! `depot_service::publish=trace,warn`: every publish with its lease wait,
//! render time and whether it won the compare-and-set).

mod common;

use common::{AptRoot, apt_problems};
use depot_store::conformance::MotoServer;
use depot_testkit::DebBuilder;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const WRITERS: usize = 8;
/// Uploads of the first phase, over all writers.
const UPLOADS: usize = 2_000;
/// Every `DELETE_EVERY`-th upload of a writer is followed by the removal of
/// one of its earlier uploads (24 in all: a removal makes the next publish
/// render every index afresh, which a debug build does slowly).
const DELETE_EVERY: usize = 80;
/// Every `SAMPLE_EVERY`-th upload is checked for read-your-writes on another
/// node (every `SAMPLE_EVERY / 2`-th in the burst).
const SAMPLE_EVERY: usize = 25;
/// Uploads per writer in the burst with the kill.
const BURST_PER_WRITER: usize = 50;
/// The node killed in the burst, and after how many acknowledged uploads of
/// the burst.
const VICTIM: usize = 1;
const KILL_AFTER: usize = 120;
const REPO: &str = "three";

/// Variables of the caller that must not leak into the nodes.
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

// ---------------------------------------------------------------------------
// PostgreSQL

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
        let name = format!("depot_three_{}_{nanos}", std::process::id());
        let out = Command::new("psql")
            .args([admin.as_str(), "-qAtc", &format!("CREATE DATABASE {name}")])
            .output()
            .unwrap_or_else(|e| panic!("psql (postgresql-client) is needed: {e}"));
        assert!(
            out.status.success(),
            "creating the test database: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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

// ---------------------------------------------------------------------------
// The nodes

/// What every node shares: the database and the bucket.
struct Shared {
    meta: String,
    blobs: String,
    endpoint: String,
}

/// One `depot serve` with its own data directory (upload staging and the
/// admin token file, as on its own machine). Killed when dropped.
struct Node {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
    log: PathBuf,
}

impl Node {
    fn spawn(shared: &Shared, root: &Path, index: usize) -> Node {
        let dir = root.join(format!("node{index}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = Node {
            child: None,
            port: 0,
            data: dir.join("data"),
            log: dir.join("serve.log"),
        };
        node.respawn(shared);
        node
    }

    /// Starts the process (again) on the same data directory, on a fresh
    /// port.
    fn respawn(&mut self, shared: &Shared) {
        self.port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
        for var in CLEARED {
            cmd.env_remove(var);
        }
        let child = cmd
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .env("DEPOT_DATA_DIR", &self.data)
            .env("DEPOT_META", &shared.meta)
            .env("DEPOT_BLOBS", &shared.blobs)
            .env("DEPOT_S3_ENDPOINT", &shared.endpoint)
            .env("AWS_ACCESS_KEY_ID", "depot-three")
            .env("AWS_SECRET_ACCESS_KEY", "depot-three-secret")
            .env("AWS_REGION", "us-east-1")
            .env(
                "RUST_LOG",
                std::env::var("THREE_NODES_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/repos/{REPO}/{path}", self.base())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_healthy(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("depot serve exited with {status}:\n{}", self.log_text());
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base())).send().await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "depot serve did not come up:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reaps the process after it was killed.
    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.reap();
    }
}

// ---------------------------------------------------------------------------
// Reading the signed index

/// What a node serves right now: its InRelease (verified against `key`)
/// and the package names of the `Packages` file that InRelease lists,
/// fetched by hash as apt does.
async fn signed_index(
    client: &reqwest::Client,
    base: &str,
    key: &str,
) -> Result<(String, BTreeSet<String>), String> {
    let get = |url: String| async move {
        let r = client
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("GET {url}: {}", r.status()));
        }
        r.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| format!("GET {url}: {e}"))
    };
    let inrelease =
        String::from_utf8(get(format!("{base}/repos/{REPO}/dists/stable/InRelease")).await?)
            .map_err(|e| e.to_string())?;
    let release = depot_sign::verify_clearsigned(key, &inrelease)
        .map_err(|e| format!("InRelease from {base} does not verify: {e}"))?;
    let parsed = depot_formats::apt::parse_release(&release).map_err(|e| e.to_string())?;
    let entry = parsed
        .sha256
        .iter()
        .find(|e| e.path == "main/binary-amd64/Packages")
        .ok_or_else(|| format!("InRelease from {base} lists no Packages:\n{release}"))?;
    let packages = get(format!(
        "{base}/repos/{REPO}/dists/stable/main/binary-amd64/by-hash/SHA256/{}",
        entry.hash
    ))
    .await?;
    if depot_core::Sha256::of(&packages).hex() != entry.hash {
        return Err(format!(
            "Packages from {base} is not the one InRelease lists"
        ));
    }
    Ok((
        inrelease,
        package_names(&String::from_utf8_lossy(&packages)),
    ))
}

fn package_names(packages: &str) -> BTreeSet<String> {
    packages
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Writers

#[derive(Default)]
struct Ledger {
    /// Uploads answered 2xx.
    acked: BTreeSet<String>,
    /// Removals answered 2xx.
    deleted: BTreeSet<String>,
    /// Every name an upload was attempted for.
    attempted: BTreeSet<String>,
    /// Writes answered with an error status (never expected).
    refused: Vec<String>,
    /// Read-your-writes checks done, and the ones that failed.
    ryw_checked: usize,
    ryw_failed: Vec<String>,
}

struct Writers {
    client: reqwest::Client,
    token: String,
    key: String,
    bases: Vec<String>,
    /// Nodes a writer found dead (it then goes to the others).
    dead: Vec<AtomicBool>,
    ledger: Mutex<Ledger>,
    /// Acknowledged uploads in the current phase.
    acked_in_phase: AtomicUsize,
    /// Uploads each node acknowledged that were sent after the kill had
    /// been carried out (`kill_done`).
    acked_after_kill: Vec<AtomicUsize>,
    /// Set just before the victim is killed: from then on a node may stop
    /// answering.
    killed: AtomicBool,
    /// Set once `kill -9` has returned. Regression (seen once at load 19:
    /// "the killed node acknowledged uploads: 1"): counting every ack that
    /// arrived after `killed` was set also counted a request the victim had
    /// answered before the signal landed. Only requests sent after this
    /// flag must never be acknowledged by the victim.
    kill_done: AtomicBool,
}

enum Sent {
    Ok,
    Refused(String),
    /// No answer: connection refused or reset (the node died).
    Lost,
}

impl Writers {
    fn deb(name: &str) -> (String, Vec<u8>) {
        let deb = DebBuilder::new(name, "1.0", "amd64");
        (deb.file_name(), deb.build())
    }

    async fn upload(&self, node: usize, name: &str) -> Sent {
        let (file, body) = Self::deb(name);
        let url = format!(
            "{}/repos/{REPO}/packages/?filename={file}",
            self.bases[node]
        );
        match self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Sent::Ok,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                Sent::Refused(format!("upload {name} to node {node}: {status} {text}"))
            }
            Err(_) => Sent::Lost,
        }
    }

    async fn delete(&self, node: usize, name: &str) -> Sent {
        let (file, _) = Self::deb(name);
        let url = format!("{}/repos/{REPO}/packages/{file}", self.bases[node]);
        match self
            .client
            .delete(url)
            .bearer_auth(&self.token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Sent::Ok,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                Sent::Refused(format!("delete {name} on node {node}: {status} {text}"))
            }
            Err(_) => Sent::Lost,
        }
    }

    /// The next live node at or after `preferred`.
    fn live(&self, preferred: usize) -> usize {
        (0..NODES)
            .map(|k| (preferred + k) % NODES)
            .find(|n| !self.dead[*n].load(Ordering::SeqCst))
            .expect("a live node")
    }

    /// Uploads `name`, to `preferred` or, if that node does not answer,
    /// to the next live one (what a load balancer does). Returns the node
    /// that acknowledged it.
    async fn upload_somewhere(&self, preferred: usize, name: &str) -> Option<usize> {
        self.ledger
            .lock()
            .unwrap()
            .attempted
            .insert(name.to_string());
        for _ in 0..NODES {
            let node = self.live(preferred);
            let sent_after_kill = self.kill_done.load(Ordering::SeqCst);
            match self.upload(node, name).await {
                Sent::Ok => {
                    self.ledger.lock().unwrap().acked.insert(name.to_string());
                    self.acked_in_phase.fetch_add(1, Ordering::SeqCst);
                    if sent_after_kill {
                        self.acked_after_kill[node].fetch_add(1, Ordering::SeqCst);
                    }
                    return Some(node);
                }
                Sent::Refused(e) => {
                    self.ledger.lock().unwrap().refused.push(e);
                    return None;
                }
                Sent::Lost => {
                    assert!(
                        self.killed.load(Ordering::SeqCst),
                        "node {node} stopped answering though nobody killed it"
                    );
                    self.dead[node].store(true, Ordering::SeqCst);
                }
            }
        }
        None
    }

    /// Read-your-writes: the signed index of another live node than
    /// `acked_by` lists `name` right after the acknowledgement.
    async fn check_ryw(&self, acked_by: usize, name: &str) {
        let other = self.live(acked_by + 1);
        if other == acked_by {
            return;
        }
        let outcome = signed_index(&self.client, &self.bases[other], &self.key).await;
        let mut ledger = self.ledger.lock().unwrap();
        match outcome {
            Ok((_, names)) if names.contains(name) => ledger.ryw_checked += 1,
            Ok(_) => ledger.ryw_failed.push(format!(
                "{name}: acknowledged by node {acked_by}, missing from node {other}'s index"
            )),
            // The other node may have died between `live` and the fetch.
            Err(_)
                if self.dead[other].load(Ordering::SeqCst)
                    || self.killed.load(Ordering::SeqCst) => {}
            Err(e) => ledger.ryw_failed.push(format!("{name}: {e}")),
        }
    }

    /// Phase 1: writer `w` uploads its share round-robin over the nodes,
    /// removes some of its earlier uploads through yet another node, and
    /// checks a sample for read-your-writes.
    async fn steady(self: Arc<Self>, w: usize, count: usize) {
        for i in 0..count {
            let name = format!("tn-w{w}-{i}");
            let preferred = (w + i) % NODES;
            let Some(node) = self.upload_somewhere(preferred, &name).await else {
                continue;
            };
            if i % SAMPLE_EVERY == 0 {
                self.check_ryw(node, &name).await;
            }
            if i % DELETE_EVERY == DELETE_EVERY - 1 {
                let victim = format!("tn-w{w}-{}", i - DELETE_EVERY / 2);
                if !self.ledger.lock().unwrap().acked.contains(&victim) {
                    continue;
                }
                let node = self.live(node + 2);
                match self.delete(node, &victim).await {
                    Sent::Ok => {
                        self.ledger.lock().unwrap().deleted.insert(victim);
                    }
                    Sent::Refused(e) => self.ledger.lock().unwrap().refused.push(e),
                    Sent::Lost => panic!("node {node} stopped answering in the steady phase"),
                }
            }
        }
    }

    /// Phase 2: uploads only, round-robin, continuing over the survivors
    /// once a node dies.
    async fn burst(self: Arc<Self>, w: usize, count: usize) {
        for i in 0..count {
            let name = format!("tn-burst-w{w}-{i}");
            let Some(node) = self.upload_somewhere((w + i) % NODES, &name).await else {
                continue;
            };
            if i % (SAMPLE_EVERY / 2) == 0 {
                self.check_ryw(node, &name).await;
            }
        }
    }
}

/// Waits until every node in `bases` serves the same InRelease; with
/// `final_xz`, also until that InRelease lists `Packages.xz` and stays put
/// (the deferred pass is done, nothing publishes anymore). Returns it with
/// the names its Packages lists.
async fn settle(
    client: &reqwest::Client,
    bases: &[String],
    key: &str,
    final_xz: bool,
) -> (String, BTreeSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        let mut seen = Vec::new();
        for base in bases {
            seen.push(signed_index(client, base, key).await.unwrap());
        }
        let agree = seen.iter().all(|(r, _)| *r == seen[0].0);
        let (inrelease, names) = seen.swap_remove(0);
        if agree && (!final_xz || (inrelease.contains("Packages.xz") && inrelease == last)) {
            return (inrelease, names);
        }
        assert!(
            Instant::now() < deadline,
            "the nodes did not settle on one publication (final_xz: {final_xz})"
        );
        last = inrelease;
        tokio::time::sleep(Duration::from_millis(if final_xz { 500 } else { 50 })).await;
    }
}

/// The package table, through the API of the node at `base`.
async fn table(client: &reqwest::Client, base: &str, token: &str) -> BTreeSet<String> {
    client
        .get(format!("{base}/repos/{REPO}/packages/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// `apt-get update` in a throw-away root against `base`, signed-by the
/// served key; returns the names in the Packages list apt stored.
fn apt_update(base: &str, key: &str) -> BTreeSet<String> {
    let apt = AptRoot::new();
    let key_path = apt.add_key(REPO, key.as_bytes());
    apt.set_sources(&format!(
        "deb [signed-by={}] {base}/repos/{REPO} stable main\n",
        key_path.display()
    ));
    let up = apt.apt_get(&["update"]);
    assert!(up.success, "apt-get update failed:\n{}", up.describe());
    let problems = apt_problems(&up.all());
    assert!(
        problems.is_empty(),
        "apt-get update against {base} reported {problems:?}:\n{}",
        up.describe()
    );
    let lists = apt.path("var/lib/apt/lists");
    let list = std::fs::read_dir(&lists)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with("binary-amd64_Packages")
        })
        .unwrap_or_else(|| panic!("apt stored no Packages list in {}", lists.display()));
    package_names(&std::fs::read_to_string(list).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_writes_survive_a_kill_and_serve_one_publication() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let moto = MotoServer::start();
    moto.create_bucket("three-nodes");
    let db = PgDatabase::create();
    let shared = Shared {
        meta: db.url(),
        blobs: "s3://three-nodes/depot".into(),
        endpoint: moto.endpoint(),
    };
    let root = tempfile::Builder::new()
        .prefix("depot-three-")
        .disable_cleanup(std::env::var_os("THREE_NODES_KEEP").is_some())
        .tempdir()
        .unwrap();
    eprintln!("three nodes: working in {}", root.path().display());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(16)
        .build()
        .unwrap();

    // 1. Three nodes start together on the empty database: they migrate,
    //    agree on one signing key and one set of tokens.
    let mut nodes: Vec<Node> = (0..NODES)
        .map(|i| Node::spawn(&shared, root.path(), i))
        .collect();
    for node in &mut nodes {
        node.wait_healthy(&client).await;
    }
    let bases: Vec<String> = nodes.iter().map(Node::base).collect();
    let tokens: Vec<String> = nodes
        .iter()
        .filter_map(|n| std::fs::read_to_string(n.data.join("admin.token")).ok())
        .map(|t| t.trim().to_string())
        .collect();
    assert!(!tokens.is_empty(), "no node wrote an admin token");
    for token in &tokens {
        for base in &bases {
            let status = client
                .get(format!("{base}/repos/"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200, "a node's admin token is refused by {base}");
        }
    }
    let status = client
        .get(format!("{}/repos/", bases[0]))
        .bearer_auth("depot_not-a-token")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "an unknown token must be refused");
    let token = tokens[0].clone();
    let r = client
        .post(format!("{}/repos/{REPO}/", bases[2]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "create: {}", r.status());
    let mut keys = BTreeSet::new();
    for node in &nodes {
        let r = client.get(node.url("key.asc")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        keys.insert(r.text().await.unwrap());
    }
    assert_eq!(keys.len(), 1, "the nodes sign with different keys");
    let key = keys.pop_first().unwrap();

    let writers = Arc::new(Writers {
        client: client.clone(),
        token: token.clone(),
        key: key.clone(),
        bases: bases.clone(),
        dead: (0..NODES).map(|_| AtomicBool::new(false)).collect(),
        ledger: Mutex::new(Ledger::default()),
        acked_in_phase: AtomicUsize::new(0),
        acked_after_kill: (0..NODES).map(|_| AtomicUsize::new(0)).collect(),
        killed: AtomicBool::new(false),
        kill_done: AtomicBool::new(false),
    });

    // 2. The steady phase: 2,000 uploads and some removals, no failures.
    let phase = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writers.clone().steady(w, UPLOADS / WRITERS)))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let steady_secs = phase.elapsed().as_secs_f64();
    {
        let ledger = writers.ledger.lock().unwrap();
        assert!(
            ledger.refused.is_empty(),
            "{} writes refused, e.g. {:?}",
            ledger.refused.len(),
            &ledger.refused[..ledger.refused.len().min(5)]
        );
        assert_eq!(ledger.acked.len(), UPLOADS);
        assert!(ledger.deleted.len() >= WRITERS * (UPLOADS / WRITERS / DELETE_EVERY));
        assert!(
            ledger.ryw_failed.is_empty(),
            "read-your-writes across nodes broken: {:?}",
            ledger.ryw_failed
        );
        assert!(ledger.ryw_checked >= UPLOADS / SAMPLE_EVERY);
    }
    let (_, names) = settle(&client, &bases, &key, false).await;
    check_final(&client, &bases, &token, &writers, &names).await;

    // 3. A burst; one node is killed with SIGKILL midway through it.
    writers.acked_in_phase.store(0, Ordering::SeqCst);
    let victim_pid = nodes[VICTIM].pid();
    let killer = {
        let writers = writers.clone();
        tokio::spawn(async move {
            while writers.acked_in_phase.load(Ordering::SeqCst) < KILL_AFTER {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            writers.killed.store(true, Ordering::SeqCst);
            let status = Command::new("kill")
                .args(["-KILL", &victim_pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill -9 of node {VICTIM}");
            writers.kill_done.store(true, Ordering::SeqCst);
        })
    };
    let phase = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(writers.clone().burst(w, BURST_PER_WRITER)))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let burst_secs = phase.elapsed().as_secs_f64();
    killer.await.unwrap();
    nodes[VICTIM].reap();
    {
        let ledger = writers.ledger.lock().unwrap();
        assert!(
            ledger.refused.is_empty(),
            "writes refused in the burst: {:?}",
            &ledger.refused[..ledger.refused.len().min(5)]
        );
        assert!(
            ledger.ryw_failed.is_empty(),
            "read-your-writes across nodes broken in the burst: {:?}",
            ledger.ryw_failed
        );
    }
    for (n, count) in writers.acked_after_kill.iter().enumerate() {
        let count = count.load(Ordering::SeqCst);
        if n == VICTIM {
            assert_eq!(count, 0, "the killed node acknowledged uploads");
        } else {
            assert!(
                count > 0,
                "node {n} acknowledged nothing after node {VICTIM} was killed"
            );
        }
    }
    let survivors: Vec<String> = (0..NODES)
        .filter(|n| *n != VICTIM)
        .map(|n| bases[n].clone())
        .collect();
    let (_, names) = settle(&client, &survivors, &key, false).await;
    check_final(&client, &survivors, &token, &writers, &names).await;

    // 4. The killed node comes back and serves the same publication.
    nodes[VICTIM].respawn(&shared);
    nodes[VICTIM].wait_healthy(&client).await;
    let bases: Vec<String> = nodes.iter().map(Node::base).collect();
    let (inrelease, names) = settle(&client, &bases, &key, true).await;
    check_final(&client, &bases, &token, &writers, &names).await;
    for base in &bases {
        let r = client
            .get(format!("{base}/repos/{REPO}/dists/stable/InRelease"))
            .send()
            .await
            .unwrap();
        assert!(
            r.bytes().await.unwrap() == inrelease.as_bytes(),
            "{base} serves another InRelease"
        );
    }
    let apt_started = Instant::now();
    for base in &bases {
        let (base, key) = (base.clone(), key.clone());
        let listed = tokio::task::spawn_blocking(move || apt_update(&base, &key))
            .await
            .unwrap();
        assert!(listed == names, "apt's list differs from the signed index");
    }

    let ledger = writers.ledger.lock().unwrap();
    println!(
        "three nodes: {} uploads acknowledged ({} in {steady_secs:.1} s steady, the rest in a \
         {burst_secs:.1} s burst with node {VICTIM} killed after {KILL_AFTER}), {} deletes, \
         {} read-your-writes checks across nodes, apt-get update on each node {:.1} s, whole \
         test {:.1} s",
        ledger.acked.len(),
        UPLOADS,
        ledger.deleted.len(),
        ledger.ryw_checked,
        apt_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The final state every node in `bases` must show: acknowledged uploads
/// listed, acknowledged deletes not, nothing that was never sent, and the
/// signed index equal to the package table.
async fn check_final(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    writers: &Writers,
    names: &BTreeSet<String>,
) {
    {
        let ledger = writers.ledger.lock().unwrap();
        let expected: BTreeSet<&String> = ledger.acked.difference(&ledger.deleted).collect();
        let missing: Vec<_> = expected
            .iter()
            .filter(|n| !names.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "acknowledged uploads lost: {} of them, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        let resurrected: Vec<_> = ledger.deleted.intersection(names).collect();
        assert!(
            resurrected.is_empty(),
            "acknowledged deletes listed: {resurrected:?}"
        );
        let unknown: Vec<_> = names.difference(&ledger.attempted).collect();
        assert!(unknown.is_empty(), "never uploaded: {unknown:?}");
    }
    for base in bases {
        assert!(
            table(client, base, token).await == *names,
            "{base}: the signed index differs from the package table"
        );
    }
}
