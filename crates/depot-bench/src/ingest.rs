//! `depot-bench ingest`: benchmark P3 of issue 5, concurrent HTTP ingest.
//!
//! Uploads/s of small .debs through `POST /repos/{repo}/packages/` with 1, 8 and 32
//! concurrent clients, on three setups:
//!
//! | setup | what runs |
//! | --- | --- |
//! | `sqlite` | one `depot serve --data-dir D` (SQLite + local disk, the embedded default) |
//! | `pg1` | one `depot serve` on a fresh PostgreSQL database and a fresh bucket of moto (S3) |
//! | `pg3` | three `depot serve` on the same database and bucket; uploads go round-robin to them |
//!
//! An upload counts when its 2xx has been read: depot answers only once the signed index
//! lists the package (read-your-writes). After each run, untimed, every node's InRelease,
//! Release and Release.gpg are checked with gpgv, all nodes must serve the same InRelease,
//! and its Packages (fetched by hash) must list every upload of the run.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::{apt, proc};

const USAGE: &str = "\
usage: depot-bench ingest [--setups sqlite,pg1,pg3] [--clients 1,8,32] [--uploads 1000]
                          [--depot-bin target/release/depot] [--postgres URL] [--json PATH]
                          [--keep]

P3: uploads/s of tiny .debs through the REST API with each number of concurrent clients,
for SQLite + local disk on one node (sqlite) and PostgreSQL + S3 (moto on loopback) on one
node (pg1) and three nodes (pg3, uploads round-robin over the nodes). An upload counts once
its 2xx is read (depot answers after the signed index lists it); after each run the signed
index of every node is checked to list all of them. --postgres is an admin URL whose server
gets one throw-away database per run (default $DEPOT_TEST_POSTGRES_URL or
postgres://postgres@127.0.0.1:5432/test).";

const REPO: &str = "ingest";
/// Bound on one node's start-up (the first one generates the signing key).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on one timed run.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// Untimed uploads before each timed run (one per client, at most this many), so the first
/// publish, connection set-up and the nodes' caches are not in the numbers.
const WARMUP: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Setup {
    Sqlite,
    Pg(usize),
}

impl Setup {
    fn name(self) -> String {
        match self {
            Setup::Sqlite => "sqlite".into(),
            Setup::Pg(n) => format!("pg{n}"),
        }
    }

    fn describe(self) -> String {
        match self {
            Setup::Sqlite => "SQLite + local disk, 1 node".into(),
            Setup::Pg(1) => "PostgreSQL + S3 (moto), 1 node".into(),
            Setup::Pg(n) => format!("PostgreSQL + S3 (moto), {n} nodes"),
        }
    }
}

struct Args {
    setups: Vec<Setup>,
    clients: Vec<usize>,
    uploads: usize,
    depot_bin: PathBuf,
    postgres: String,
    json: Option<PathBuf>,
    keep: bool,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args {
        setups: vec![Setup::Sqlite, Setup::Pg(1), Setup::Pg(3)],
        clients: vec![1, 8, 32],
        uploads: 1000,
        depot_bin: crate::default_depot_bin(),
        postgres: std::env::var("DEPOT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
        json: None,
        keep: false,
    };
    let mut it = args;
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--setups" => {
                a.setups = value()?
                    .split(',')
                    .map(|s| match s.trim() {
                        "sqlite" => Ok(Setup::Sqlite),
                        s => s
                            .strip_prefix("pg")
                            .and_then(|n| n.parse().ok())
                            .filter(|n| *n >= 1)
                            .map(Setup::Pg)
                            .with_context(|| {
                                format!("unknown setup {s:?} (sqlite, pg1, pg3, ...)")
                            }),
                    })
                    .collect::<Result<_>>()?
            }
            "--clients" => {
                a.clients = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--clients: comma-separated numbers")?
            }
            "--uploads" => a.uploads = value()?.replace('_', "").parse().context("--uploads")?,
            "--depot-bin" => a.depot_bin = value()?.into(),
            "--postgres" => a.postgres = value()?,
            "--json" => a.json = Some(value()?.into()),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.uploads == 0 || a.clients.is_empty() || a.clients.contains(&0) || a.setups.is_empty() {
        bail!("--uploads, --clients and --setups need at least one non-zero value");
    }
    Ok(a)
}

/// One cell of the table.
struct RunResult {
    setup: Setup,
    clients: usize,
    uploads: usize,
    secs: f64,
    /// Per-upload latency, request to read 2xx, sorted.
    latencies_ms: Vec<f64>,
    /// CPU seconds of the depot processes during the timed run.
    depot_cpu: f64,
    /// CPU seconds of moto (the S3 server) during the timed run.
    s3_cpu: Option<f64>,
    /// Uploads each node acknowledged.
    per_node: Vec<usize>,
}

impl RunResult {
    fn rate(&self) -> f64 {
        self.uploads as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        let v = &self.latencies_ms;
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    }
}

pub fn run(args: impl Iterator<Item = String>) -> Result<()> {
    let args = parse(args)?;
    if !args.depot_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p depot` or pass --depot-bin",
            args.depot_bin.display()
        );
    }
    let work = tempfile::Builder::new()
        .prefix("depot-bench-ingest-")
        .tempdir()?;
    let root = if args.keep {
        work.keep()
    } else {
        work.path().to_path_buf()
    };
    eprintln!("depot-bench ingest: working in {}", root.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let needs_s3 = args.setups.iter().any(|s| matches!(s, Setup::Pg(_)));
    let moto = if needs_s3 {
        Some(Moto::start(&root.join("moto.log"))?)
    } else {
        None
    };
    let mut results = Vec::new();
    let mut serial = 0;
    for &setup in &args.setups {
        for &clients in &args.clients {
            serial += 1;
            eprintln!(
                "depot-bench ingest: {} with {clients} clients, {} uploads",
                setup.name(),
                args.uploads
            );
            let dir = root.join(format!("{serial:02}-{}-c{clients}", setup.name()));
            let r = rt.block_on(one_run(&args, setup, clients, serial, &dir, moto.as_ref()));
            match r {
                Ok(r) => {
                    eprintln!(
                        "  {:.1} uploads/s ({} in {:.1} s), p50 {:.0} ms, p90 {:.0} ms",
                        r.rate(),
                        r.uploads,
                        r.secs,
                        r.pct(0.5),
                        r.pct(0.9)
                    );
                    results.push(r);
                }
                Err(e) => bail!("{} with {clients} clients: {e:#}", setup.name()),
            }
        }
    }
    drop(moto);
    println!();
    println!(
        "P3: concurrent HTTP ingest, {} tiny .debs per run ({} cpus, load average at end {})",
        args.uploads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    println!();
    print!("{}", table(&results));
    println!();
    println!("whole run took {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.json {
        let runs: Vec<_> = results
            .iter()
            .map(|r| {
                json!({
                    "setup": r.setup.name(),
                    "clients": r.clients,
                    "uploads": r.uploads,
                    "secs": r.secs,
                    "uploads_per_sec": r.rate(),
                    "p50_ms": r.pct(0.5),
                    "p90_ms": r.pct(0.9),
                    "p99_ms": r.pct(0.99),
                    "depot_cpu_secs": r.depot_cpu,
                    "s3_cpu_secs": r.s3_cpu,
                    "per_node": r.per_node,
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&json!({ "p3": runs }))?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("depot-bench ingest: wrote {}", path.display());
    }
    Ok(())
}

fn table(results: &[RunResult]) -> String {
    let mut out = String::from(
        "| setup | clients | uploads/s | p50 ms | p90 ms | p99 ms | depot CPU ms/upload | S3 server CPU ms/upload |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let per = |s: f64| format!("{:.1}", s * 1e3 / r.uploads as f64);
        out.push_str(&format!(
            "| {} | {} | **{:.0}** | {:.0} | {:.0} | {:.0} | {} | {} |\n",
            r.setup.describe(),
            r.clients,
            r.rate(),
            r.pct(0.5),
            r.pct(0.9),
            r.pct(0.99),
            per(r.depot_cpu),
            r.s3_cpu.map_or("–".into(), per),
        ));
    }
    out
}

async fn one_run(
    args: &Args,
    setup: Setup,
    clients: usize,
    serial: usize,
    dir: &Path,
    moto: Option<&Moto>,
) -> Result<RunResult> {
    std::fs::create_dir_all(dir)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(64)
        .build()?;
    // The stores this run's nodes share.
    let (env, _db): (Vec<(String, String)>, Option<PgDatabase>) = match setup {
        Setup::Sqlite => (Vec::new(), None),
        Setup::Pg(_) => {
            let moto = moto.context("moto not started")?;
            let bucket = format!("p3-{serial}");
            moto.create_bucket(&bucket)?;
            let db = PgDatabase::create(&args.postgres, serial)?;
            (
                vec![
                    ("DEPOT_META".into(), db.url()),
                    ("DEPOT_BLOBS".into(), format!("s3://{bucket}/depot")),
                    ("DEPOT_S3_ENDPOINT".into(), moto.endpoint()),
                    ("AWS_ACCESS_KEY_ID".into(), "depot-bench".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "depot-bench-secret".into()),
                    ("AWS_REGION".into(), "us-east-1".into()),
                ],
                Some(db),
            )
        }
    };
    let count = match setup {
        Setup::Sqlite => 1,
        Setup::Pg(n) => n,
    };
    // The first node alone (it migrates and makes the key and token), then the others.
    let mut nodes = Vec::new();
    for i in 0..count {
        nodes.push(
            Node::start(
                &args.depot_bin,
                &dir.join(format!("node{i}")),
                &env,
                &client,
            )
            .await?,
        );
    }
    let token = std::fs::read_to_string(nodes[0].data.join("admin.token"))
        .context("the first node wrote no admin token")?
        .trim()
        .to_string();
    let resp = client
        .post(format!("{}/repos/{REPO}/", nodes[0].base))
        .bearer_auth(&token)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("creating the repo: {}", resp.status());
    }

    // The corpus, built in memory before anything is timed.
    let warmup = clients.min(WARMUP);
    let debs: Arc<Vec<(String, String, Vec<u8>)>> = Arc::new(
        (0..warmup + args.uploads)
            .map(|i| {
                let name = if i < warmup {
                    format!("warm{i}")
                } else {
                    format!("p3-{}", i - warmup)
                };
                let deb = depot_testkit::DebBuilder::new(&name, "1.0", "amd64");
                (name, deb.file_name(), deb.build())
            })
            .collect(),
    );
    let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.base.clone()).collect());
    upload_all(&client, &bases, &token, &debs, 0..warmup, clients).await?;

    let pids: Vec<u32> = nodes.iter().map(Node::pid).collect();
    let cpu = |pids: &[u32]| -> u64 { pids.iter().filter_map(|p| proc::cpu_ticks(*p)).sum() };
    let moto_pid = match setup {
        Setup::Pg(_) => moto.map(Moto::pid),
        Setup::Sqlite => None,
    };
    let (cpu0, s3_cpu0) = (cpu(&pids), moto_pid.and_then(proc::cpu_ticks));
    let t0 = Instant::now();
    let (latencies, per_node) = tokio::time::timeout(
        RUN_TIMEOUT,
        upload_all(
            &client,
            &bases,
            &token,
            &debs,
            warmup..warmup + args.uploads,
            clients,
        ),
    )
    .await
    .map_err(|_| anyhow::anyhow!("timed out after {RUN_TIMEOUT:?}"))??;
    let secs = t0.elapsed().as_secs_f64();
    let ticks = ticks_per_sec();
    let depot_cpu = cpu(&pids).saturating_sub(cpu0) as f64 / ticks;
    let s3_cpu = moto_pid
        .and_then(proc::cpu_ticks)
        .zip(s3_cpu0)
        .map(|(b, a)| b.saturating_sub(a) as f64 / ticks);

    // Untimed: every node serves one signed index that lists every upload.
    let names: Vec<&str> = debs.iter().map(|(n, _, _)| n.as_str()).collect();
    verify(&client, &bases, &names, dir).await?;
    for n in nodes {
        n.stop();
    }
    let mut latencies_ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    latencies_ms.sort_by(f64::total_cmp);
    Ok(RunResult {
        setup,
        clients,
        uploads: args.uploads,
        secs,
        latencies_ms,
        depot_cpu,
        s3_cpu,
        per_node,
    })
}

/// Uploads `debs[range]` with `clients` concurrent clients; upload `i` goes to node
/// `i % nodes` (round-robin, as a load balancer would spread them). Each client waits for
/// its answer before it takes the next file. Returns every upload's latency and how many
/// each node acknowledged.
async fn upload_all(
    client: &reqwest::Client,
    bases: &Arc<Vec<String>>,
    token: &str,
    debs: &Arc<Vec<(String, String, Vec<u8>)>>,
    range: std::ops::Range<usize>,
    clients: usize,
) -> Result<(Vec<Duration>, Vec<usize>)> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, bases, debs, next) =
            (client.clone(), bases.clone(), debs.clone(), next.clone());
        let token = token.to_string();
        let end = range.end;
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut per_node = vec![0usize; bases.len()];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return Ok::<_, anyhow::Error>((lat, per_node));
                }
                let (_, file, body) = &debs[i];
                let node = i % bases.len();
                let t = Instant::now();
                let resp = client
                    .post(format!("{}/repos/{REPO}/packages/", bases[node]))
                    .query(&[("filename", file)])
                    .bearer_auth(&token)
                    .body(body.clone())
                    .send()
                    .await
                    .with_context(|| format!("uploading {file}"))?;
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                if !status.is_success() {
                    bail!("uploading {file} to node {node}: {status} {text}");
                }
                lat.push(t.elapsed());
                per_node[node] += 1;
            }
        });
    }
    let mut lat = Vec::new();
    let mut per_node = vec![0usize; bases.len()];
    while let Some(joined) = tasks.join_next().await {
        let (l, p) = joined??;
        lat.extend(l);
        for (a, b) in per_node.iter_mut().zip(p) {
            *a += b;
        }
    }
    Ok((lat, per_node))
}

/// Every node: InRelease, Release and Release.gpg verify with gpgv against the served key,
/// all nodes serve the same InRelease, and the Packages it names (by hash) lists exactly
/// `names`.
async fn verify(
    client: &reqwest::Client,
    bases: &[String],
    names: &[&str],
    dir: &Path,
) -> Result<()> {
    let get = |url: String| async move {
        let r = client.get(&url).send().await?;
        if !r.status().is_success() {
            bail!("GET {url}: {}", r.status());
        }
        Ok(r.bytes().await?.to_vec())
    };
    let mut seen: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
    for (i, base) in bases.iter().enumerate() {
        let d = dir.join(format!("verify{i}"));
        std::fs::create_dir_all(&d)?;
        let dists = format!("{base}/repos/{REPO}/dists/stable");
        let inrelease = get(format!("{dists}/InRelease")).await?;
        std::fs::write(d.join("InRelease"), &inrelease)?;
        std::fs::write(d.join("Release"), get(format!("{dists}/Release")).await?)?;
        std::fs::write(
            d.join("Release.gpg"),
            get(format!("{dists}/Release.gpg")).await?,
        )?;
        let key = get(format!("{base}/repos/{REPO}/key.asc")).await?;
        let keyring = dearmor(&key, &d)?;
        apt::verify_signatures(
            &keyring,
            &d.join("InRelease"),
            Some((&d.join("Release"), &d.join("Release.gpg"))),
        )
        .with_context(|| format!("node {i}"))?;
        let text = String::from_utf8(inrelease.clone()).context("InRelease is not UTF-8")?;
        let index = apt::packages_ref(&text)?;
        let packages_dir = index.path.rsplit_once('/').map_or("", |(d, _)| d);
        let bytes = get(format!(
            "{dists}/{packages_dir}/by-hash/SHA256/{}",
            index.sha256
        ))
        .await?;
        let (listed, stanzas) = apt::listed_packages(&index, &bytes)?;
        if stanzas != names.len() {
            bail!(
                "node {i}: the signed index lists {stanzas} packages, {} were acknowledged",
                names.len()
            );
        }
        if let Some(missing) = names.iter().find(|n| !listed.contains(**n)) {
            bail!("node {i}: the signed index does not list {missing}, which was acknowledged");
        }
        seen.entry(inrelease).or_default().push(i);
    }
    if seen.len() > 1 {
        // A node's background pass may have added Packages.xz in between; the index
        // contents agreed (checked above), so say so rather than fail.
        eprintln!(
            "  note: nodes served {} different InRelease files during the check (deferred \
             Packages.xz pass); each listed every upload",
            seen.len()
        );
    }
    Ok(())
}

fn dearmor(key: &[u8], dir: &Path) -> Result<PathBuf> {
    let asc = dir.join("key.asc");
    std::fs::write(&asc, key)?;
    let out = dir.join("key.gpg");
    let status = Command::new("gpg")
        .env("GNUPGHOME", dir)
        .args(["--batch", "--yes", "--dearmor", "-o"])
        .arg(&out)
        .arg(&asc)
        .stdin(Stdio::null())
        .output()
        .context("running gpg --dearmor")?;
    if !status.status.success() {
        bail!("gpg --dearmor: {}", String::from_utf8_lossy(&status.stderr));
    }
    Ok(out)
}

fn ticks_per_sec() -> f64 {
    // _SC_CLK_TCK is 100 on every Linux architecture the bench runs on.
    100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One `depot serve`, with its own data directory; killed when dropped.
struct Node {
    child: Option<Child>,
    base: String,
    data: PathBuf,
}

impl Node {
    async fn start(
        bin: &Path,
        dir: &Path,
        env: &[(String, String)],
        client: &reqwest::Client,
    ) -> Result<Node> {
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let log_path = dir.join("serve.log");
        let log = std::fs::File::create(&log_path)?;
        let port = free_port()?;
        let mut cmd = Command::new(bin);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("DEPOT_") || k.starts_with("AWS_") || k == "RUST_LOG" {
                cmd.env_remove(&*k);
            }
        }
        cmd.args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("DEPOT_BENCH_NODE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut node = Node {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            data,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "depot serve exited during start-up ({status})\n{}",
                    proc::tail(&log_path)
                );
            }
            if let Ok(r) = client.get(format!("{}/healthz", node.base)).send().await
                && r.status().is_success()
            {
                return Ok(node);
            }
            if Instant::now() > deadline {
                bail!("depot serve did not come up\n{}", proc::tail(&log_path));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// moto's S3 server (`python3 -m moto.server`, PyPI `moto[server]`) on a free loopback
/// port, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(log: &Path) -> Result<Moto> {
        let port = free_port()?;
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
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("starting python3 -m moto.server (python3 -m pip install 'moto[server]')")?;
        let mut moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = moto.child.try_wait()? {
                bail!(
                    "moto exited ({status}); is it installed? python3 -m pip install \
                     'moto[server]'\n{}",
                    proc::tail(log)
                );
            }
            if moto.request("GET", "/").is_ok_and(|s| s == 200) {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                bail!("moto did not answer\n{}", proc::tail(log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn create_bucket(&self, bucket: &str) -> Result<()> {
        let status = self.request("PUT", &format!("/{bucket}"))?;
        if status != 200 {
            bail!("moto answered {status} to creating bucket {bucket}");
        }
        Ok(())
    }

    /// One HTTP/1.0 request with an empty body; the response status.
    fn request(&self, method: &str, path: &str) -> Result<u16> {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            conn,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\r\n",
            self.port
        )?;
        let mut response = Vec::new();
        conn.read_to_end(&mut response)?;
        let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
        head.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP response: {head:?}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throw-away PostgreSQL database, dropped with the guard (`psql` from
/// postgresql-client).
struct PgDatabase {
    admin: String,
    name: String,
}

impl PgDatabase {
    fn create(admin: &str, serial: usize) -> Result<PgDatabase> {
        let name = format!("depot_p3_{}_{serial}", std::process::id());
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(PgDatabase {
            admin: admin.to_string(),
            name,
        })
    }

    fn url(&self) -> String {
        let base = self.admin.rsplit_once('/').map_or(&*self.admin, |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .stdin(Stdio::null())
        .output()
        .context("running psql (postgresql-client)")?;
    if !out.status.success() {
        bail!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
