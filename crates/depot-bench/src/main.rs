//! `depot-bench`: benchmark P1 of issue 2 and P2 of issue 3. P1: depot against reprepro
//! and aptly on the same tiny .debs; P2: depot against createrepo_c on the same tiny .rpms.
//! P4 (issue 4): depot against repo-add on the same tiny pacman packages.
//! Each: full publish of N packages, one more upload until the published index lists it,
//! and peak RSS. See docs/bench.md for what each number means.
//! `depot-bench ingest` is P3 of issue 5, concurrent HTTP ingest (src/ingest.rs).
//! `depot-bench serve` is P4s of issue 11, serving speed against nginx (src/serve.rs).

mod apt;
mod corpus;
mod depot;
mod ingest;
mod pacmanbench;
mod peers;
mod proc;
mod report;
mod rpmbench;
mod rpmmd;
mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use corpus::Pkg;
use peers::{Aptly, Peer, PeerKey, Reprepro, Timeouts};
use report::{Cell, Columns, SizeResult, TOOLS, Tool};

/// Bound on one full publish (one process or the whole REST bulk upload).
const FULL_TIMEOUT: Duration = Duration::from_secs(900);
/// Bound on one "one more" step of one tool.
const ONE_TIMEOUT: Duration = Duration::from_secs(120);
const TIMEOUTS: Timeouts = Timeouts {
    full: FULL_TIMEOUT,
    one: ONE_TIMEOUT,
};
/// Bound on `depot serve` start-up (it may generate its signing key).
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on waiting for depot's deferred work (Packages.xz) after the full publish.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// A peer whose first "one more" run takes longer than this gets only `SLOW_RUNS` runs.
const SLOW_SECS: f64 = 10.0;
const SLOW_RUNS: usize = 5;

const USAGE: &str = "\
usage: depot-bench ingest --help   (P3 of issue 5: concurrent HTTP ingest)
       depot-bench serve --help    (P4s of issue 11: serving speed against nginx)
       depot-bench [--formats apt,rpm,pacman] [--sizes 1000,10000] [--runs 20]
                   [--depot-bin target/release/depot] [--clients 8] [--json PATH]
                   [--tools depot,reprepro,aptly,createrepo_c,repo-add] [--no-sqlite]
                   [--peer-key auto|rsa4096|rsa3072|ed25519] [--no-cli] [--keep]

P1 (apt): builds a corpus of tiny .debs per size N and measures, for depot, reprepro and
aptly on the same files: the full publish of N packages, one more upload until the signed
InRelease lists it (median and p90 of --runs runs), and peak RSS.
P2 (rpm): the same for tiny .rpms, depot against `createrepo_c --no-database` and
`createrepo_c` with its sqlite databases (--no-sqlite leaves the latter out); \"one more\" is
`createrepo_c --update` after adding the file.
P4 (pacman, only with --formats ...,pacman): the same for tiny pacman packages, depot against
repo-add, plain and with --sign; \"one more\" is `repo-add DB FILE` into the database of N.
Prints one table per format; --json writes them too. --peer-key auto signs the apt peers'
repositories with the same key algorithm depot serves.";

/// The package formats a run measures, in the order they run for each N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Apt,
    Rpm,
    Pacman,
}

struct Args {
    formats: Vec<Fmt>,
    sizes: Vec<usize>,
    runs: usize,
    depot_bin: PathBuf,
    clients: usize,
    json: Option<PathBuf>,
    tools: Vec<Tool>,
    /// createrepo_c is in --tools.
    createrepo: bool,
    /// Also measure createrepo_c with its sqlite databases (its default).
    sqlite: bool,
    /// repo-add is in --tools.
    repo_add: bool,
    peer_key: String,
    cli: bool,
    keep: bool,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        formats: vec![Fmt::Apt, Fmt::Rpm],
        sizes: vec![1000, 10_000],
        runs: 20,
        depot_bin: default_depot_bin(),
        clients: 8,
        json: None,
        tools: TOOLS.to_vec(),
        createrepo: true,
        sqlite: true,
        repo_add: true,
        peer_key: "auto".into(),
        cli: true,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                a.sizes = value()?
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--sizes: comma-separated numbers")?
            }
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            "--depot-bin" => a.depot_bin = value()?.into(),
            "--clients" => a.clients = value()?.parse().context("--clients")?,
            "--json" => a.json = Some(value()?.into()),
            "--formats" => {
                a.formats = Vec::new();
                for f in value()?.split(',') {
                    let f = match f.trim() {
                        "apt" => Fmt::Apt,
                        "rpm" => Fmt::Rpm,
                        "pacman" => Fmt::Pacman,
                        other => bail!("unknown format {other:?} (apt, rpm, pacman)"),
                    };
                    if !a.formats.contains(&f) {
                        a.formats.push(f);
                    }
                }
            }
            "--tools" => {
                a.tools = Vec::new();
                a.createrepo = false;
                a.repo_add = false;
                for t in value()?.split(',') {
                    match t.trim() {
                        "depot" => a.tools.push(Tool::Depot),
                        "reprepro" => a.tools.push(Tool::Reprepro),
                        "aptly" => a.tools.push(Tool::Aptly),
                        "createrepo_c" => a.createrepo = true,
                        "repo-add" => a.repo_add = true,
                        other => bail!("unknown tool {other:?}"),
                    }
                }
            }
            "--no-sqlite" => a.sqlite = false,
            "--peer-key" => a.peer_key = value()?,
            "--no-cli" => a.cli = false,
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.runs == 0 || a.sizes.is_empty() || a.sizes.contains(&0) {
        bail!("--runs and every size must be at least 1");
    }
    if a.formats.is_empty() {
        bail!("--formats: at least one of apt, rpm, pacman");
    }
    Ok(a)
}

/// `target/release/depot` relative to the current directory, else to the workspace.
fn default_depot_bin() -> PathBuf {
    let here = PathBuf::from("target/release/depot");
    if here.exists() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/depot")
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("depot-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Bench {
    args: Args,
    root: PathBuf,
    rt: tokio::runtime::Runtime,
    peer_key: Option<PeerKey>,
    notes: Vec<String>,
}

fn real_main() -> Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::args().nth(1).as_deref() == Some("ingest") {
        return ingest::run(std::env::args().skip(2));
    }
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return serve::run(std::env::args().skip(2));
    }
    let args = parse_args()?;
    let apt = args.formats.contains(&Fmt::Apt);
    let rpm = args.formats.contains(&Fmt::Rpm);
    let pacman = args.formats.contains(&Fmt::Pacman);
    for t in &args.tools {
        match t {
            Tool::Depot if !args.depot_bin.exists() => bail!(
                "{} not found: build it with `cargo build --release -p depot`, pass \
                 --depot-bin, or leave depot out with --tools reprepro,aptly,createrepo_c",
                args.depot_bin.display()
            ),
            Tool::Reprepro | Tool::Aptly if apt => {
                which(t.name())?;
            }
            _ => {}
        }
    }
    if rpm && args.createrepo {
        which("createrepo_c")?;
    }
    if pacman && args.repo_add {
        which("repo-add")?;
        which("bsdtar")?;
    }
    let work = tempfile::Builder::new().prefix("depot-bench-").tempdir()?;
    let root = if args.keep {
        work.keep()
    } else {
        work.path().to_path_buf()
    };
    eprintln!("depot-bench: working in {}", root.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let meta = machine_meta(&args);
    let mut bench = Bench {
        args,
        root,
        rt,
        peer_key: None,
        notes: Vec::new(),
    };
    warm_binaries(&bench.args);
    let mut results = Vec::new();
    let mut rpm_results = Vec::new();
    let mut pacman_results = Vec::new();
    for n in bench.args.sizes.clone() {
        if apt {
            eprintln!("depot-bench: apt, N = {n}");
            results.push(bench.run_size(n)?);
        }
        if rpm {
            eprintln!("depot-bench: rpm, N = {n}");
            rpm_results.push(bench.run_rpm_size(n)?);
        }
        if pacman {
            eprintln!("depot-bench: pacman, N = {n}");
            pacman_results.push(bench.run_pacman_size(n)?);
        }
    }
    if let Some(k) = &bench.peer_key {
        k.stop_agent();
    }
    let clients = bench.args.clients;
    let mut notes = bench.notes.clone();
    notes.extend(table_notes(&results, &report::APT));
    notes.push(format!(
        "whole run took {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    let rpm_notes = table_notes(&rpm_results, &report::RPM);
    let mut doc = json!({ "meta": meta.clone() });
    println!();
    println!("{}", meta_line(&meta));
    if apt {
        let rows = report::rows(&results, clients, &report::APT);
        println!();
        println!("P1: apt, depot against reprepro and aptly");
        println!();
        print!("{}", report::table(&rows, &report::APT));
        if let serde_json::Value::Object(o) = report::to_json(&results, &rows, &report::APT, &notes)
        {
            doc.as_object_mut().unwrap().extend(o);
        }
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
    if rpm {
        let rows = report::rows(&rpm_results, clients, &report::RPM);
        println!();
        println!("P2: rpm, depot against createrepo_c");
        println!();
        print!("{}", report::table(&rows, &report::RPM));
        println!();
        for n in &rpm_notes {
            println!("- {n}");
        }
        doc["rpm"] = report::to_json(&rpm_results, &rows, &report::RPM, &rpm_notes);
    }
    if pacman {
        let pacman_notes = table_notes(&pacman_results, &report::PACMAN);
        let rows = report::rows(&pacman_results, clients, &report::PACMAN);
        println!();
        println!("P4: pacman, depot against repo-add");
        println!();
        print!("{}", report::table(&rows, &report::PACMAN));
        println!();
        for n in &pacman_notes {
            println!("- {n}");
        }
        doc["pacman"] = report::to_json(&pacman_results, &rows, &report::PACMAN, &pacman_notes);
    }
    if let Some(path) = &bench.args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("depot-bench: wrote {}", path.display());
    }
    Ok(())
}

/// Per-N notes and every failure of one table, as printed under it.
fn table_notes(results: &[SizeResult], cols: &Columns) -> Vec<String> {
    let mut notes = Vec::new();
    for r in results {
        for n in &r.notes {
            notes.push(format!("N={}: {n}", r.n));
        }
        for (i, name) in cols.names.iter().enumerate() {
            if let Some(e) = &r.one_failed[i] {
                notes.push(format!("N={}: {name} one-more failed: {e}", r.n));
            }
        }
        let failures = r
            .full_secs
            .iter()
            .zip(cols.names)
            .chain(std::iter::once((&r.cli_full_secs, "depot add")));
        for (c, name) in failures {
            if let Cell::Failed(e) = c {
                notes.push(format!("N={}: {name} full publish failed: {e}", r.n));
            }
        }
    }
    notes
}

fn which(program: &str) -> Result<()> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        bail!(
            "{program} is not installed (apt-get install {program}), or leave it out with --tools"
        );
    }
    Ok(())
}

/// One untimed start of each binary so none pays for the first page-in in a timed run.
fn warm_binaries(args: &Args) {
    let mut cmds: Vec<Command> = Vec::new();
    if args.formats.contains(&Fmt::Rpm) && args.createrepo {
        let mut c = Command::new("createrepo_c");
        c.arg("--version");
        cmds.push(c);
    }
    if args.formats.contains(&Fmt::Pacman) && args.repo_add {
        let mut c = Command::new("repo-add");
        c.arg("--version");
        cmds.push(c);
    }
    for t in &args.tools {
        let mut c = match t {
            Tool::Depot => Command::new(&args.depot_bin),
            Tool::Reprepro => Command::new("reprepro"),
            Tool::Aptly => Command::new("aptly"),
        };
        c.arg(if *t == Tool::Aptly {
            "version"
        } else {
            "--version"
        });
        cmds.push(c);
    }
    for mut c in cmds {
        let _ = c.stdin(Stdio::null()).output();
    }
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

fn machine_meta(args: &Args) -> serde_json::Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    json!({
        "date": first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        "cpus": cpus,
        "cpu_model": model,
        "mem_gib": (mem_kib as f64 / 1024.0 / 1024.0).round(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "reprepro": first_line("reprepro", &["--version"]),
        "aptly": first_line("aptly", &["version"]),
        "gpg": first_line("gpg", &["--version"]),
        "createrepo_c": first_line("createrepo_c", &["--version"]),
        "repo_add": first_line("repo-add", &["--version"]),
        "formats": args.formats.iter().map(|f| match f {
            Fmt::Apt => "apt",
            Fmt::Rpm => "rpm",
            Fmt::Pacman => "pacman",
        }).collect::<Vec<_>>(),
        "depot_bin": args.depot_bin.display().to_string(),
        "depot_bin_built": std::fs::metadata(&args.depot_bin)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| first_line("date", &["-u", "-d", &format!("@{}", d.as_secs()), "+%Y-%m-%d %H:%M UTC"])),
        "source": first_line(
            "git",
            &["-C", env!("CARGO_MANIFEST_DIR"), "describe", "--always", "--dirty"],
        ),
        "runs": args.runs,
        "clients": args.clients,
    })
}

fn meta_line(m: &serde_json::Value) -> String {
    let formats = m["formats"].as_array().cloned().unwrap_or_default();
    let has = |f: &str| formats.iter().any(|v| v == f);
    let mut tools = Vec::new();
    if has("apt") {
        tools.push(m["reprepro"].as_str().unwrap_or("").to_string());
        tools.push(m["aptly"].as_str().unwrap_or("").to_string());
    }
    tools.push(m["gpg"].as_str().unwrap_or("").to_string());
    if has("rpm") {
        tools.push(format!(
            "createrepo_c {}",
            m["createrepo_c"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("Version: ")
        ));
    }
    if has("pacman") {
        tools.push(m["repo_add"].as_str().unwrap_or("").to_string());
    }
    format!(
        "depot-bench — {} — source {} (depot binary built {}) — {} CPUs ({}), {} GiB RAM, \
         Linux {} — {}",
        m["date"].as_str().unwrap_or(""),
        m["source"].as_str().unwrap_or("?"),
        m["depot_bin_built"].as_str().unwrap_or("?"),
        m["cpus"],
        m["cpu_model"].as_str().unwrap_or(""),
        m["mem_gib"],
        m["kernel"].as_str().unwrap_or(""),
        tools.join("; "),
    )
}

/// `sync`, untimed, before every timed step: the data the previous tool left dirty in the
/// page cache is written back now, not during the next tool's own `fsync`s.
fn flush_writeback() {
    let _ = Command::new("sync").stdin(Stdio::null()).status();
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn err_text(e: &anyhow::Error) -> String {
    let s = format!("{e:#}");
    let s = s.replace('\n', " | ");
    if s.len() > 400 {
        format!("{}...", &s[..s.floor_char_boundary(400)])
    } else {
        s
    }
}

impl Bench {
    fn enabled(&self, t: Tool) -> bool {
        self.args.tools.contains(&t)
    }

    /// The peers' key, generated on first use with depot's algorithm when known.
    fn peer_key(&mut self, server: Option<&depot::Server>) -> Result<&PeerKey> {
        if self.peer_key.is_none() {
            let mut algo = self.args.peer_key.clone();
            if algo == "auto" {
                algo = match server {
                    Some(s) => match self.rt.block_on(s.key_algo(&self.root.join("keyprobe"))) {
                        Ok(a) => a,
                        Err(e) => {
                            self.notes.push(format!(
                                "could not read depot's key algorithm ({}); peers sign with rsa4096",
                                err_text(&e)
                            ));
                            "rsa4096".into()
                        }
                    },
                    None => "rsa4096".into(),
                };
            }
            let key = PeerKey::generate(&self.root.join("peer-key"), &algo)?;
            self.notes.push(format!(
                "reprepro and aptly sign with a generated {} key (GnuPG {}, gpg-agent warmed up \
                 before timing); depot signs with its own key",
                key.algo,
                first_line("gpg", &["--version"])
                    .rsplit(' ')
                    .next()
                    .unwrap_or("")
            ));
            self.peer_key = Some(key);
        }
        Ok(self.peer_key.as_ref().unwrap())
    }

    fn run_size(&mut self, n: usize) -> Result<SizeResult> {
        let dir = self.root.join(format!("n{n}"));
        let runs = self.args.runs;
        let t = Instant::now();
        let debs = corpus::write(&dir.join("corpus"), n, "bench")?;
        let extras = corpus::write(&dir.join("extra"), runs, "benchmore")?;
        eprintln!(
            "  corpus: {} + {} .debs in {:.1} s",
            debs.len(),
            extras.len(),
            t.elapsed().as_secs_f64()
        );
        let mut res = SizeResult {
            n,
            ..Default::default()
        };
        res.notes
            .push(format!("load average at start: {}", loadavg()));
        // How many packages each tool's index should list.
        let mut expected = [n; 3];
        let mut alive = [false; 3];

        // depot: a fresh server that stays up for the one-more runs.
        let mut server = None;
        if self.enabled(Tool::Depot) {
            let started = self.rt.block_on(async {
                let s = depot::Server::start(
                    &self.args.depot_bin,
                    &dir.join("depot-data"),
                    &dir.join("depot-serve.log"),
                    START_TIMEOUT,
                )
                .await?;
                s.create_repo().await?;
                Ok::<_, anyhow::Error>(s)
            });
            match started {
                Ok(s) => server = Some(s),
                Err(e) => res.full_secs[0] = Cell::Failed(err_text(&e)),
            }
        }

        let (want_reprepro, want_aptly) = (self.enabled(Tool::Reprepro), self.enabled(Tool::Aptly));
        let key_keyring;
        let key_ready = if want_reprepro || want_aptly {
            let k = self.peer_key(server.as_ref())?;
            key_keyring = k.keyring.clone();
            Some(k)
        } else {
            key_keyring = PathBuf::new();
            None
        };
        let mut peers: Vec<(Tool, Box<dyn Peer>)> = Vec::new();
        if let Some(key) = key_ready {
            if want_reprepro {
                peers.push((
                    Tool::Reprepro,
                    Box::new(Reprepro::new(&dir.join("reprepro"), key, TIMEOUTS)?),
                ));
            }
            if want_aptly {
                peers.push((
                    Tool::Aptly,
                    Box::new(Aptly::new(&dir.join("aptly"), key, TIMEOUTS)?),
                ));
            }
        }

        // 1. Full publish, one tool after the other, each after the same cache warm-up.
        if let Some(s) = &server {
            corpus::warm(&debs)?;
            flush_writeback();
            proc::reset_hwm(s.pid());
            match self.depot_full(depot::Format::Apt, s, &debs, &dir, &mut res.notes) {
                Ok(secs) => {
                    res.full_secs[0] = Cell::Val(secs);
                    alive[0] = true;
                }
                Err(e) => res.full_secs[0] = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot full publish: {:?}", res.full_secs[0]);
            // depot's deferred Packages.xz pass must not run during the peers' timings.
            match self
                .rt
                .block_on(s.settle(Duration::from_secs(1), SETTLE_TIMEOUT))
            {
                Ok((secs, true)) => res.notes.push(format!(
                    "depot: Packages.xz (deferred) was listed and the server idle {secs:.1} s \
                     after the full publish; the peers ran after that"
                )),
                Ok((secs, false)) => res.notes.push(format!(
                    "depot: no Packages.xz in InRelease {secs:.0} s after the full publish; the \
                     peers ran anyway"
                )),
                Err(e) => res
                    .notes
                    .push(format!("depot: waiting for idle: {}", err_text(&e))),
            }
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_full_kib[0] = Cell::Val(kib as f64);
            }
        }
        for (tool, peer) in peers.iter_mut() {
            corpus::warm(&debs)?;
            flush_writeback();
            let i = tool.idx();
            let outcome = peer
                .full_publish(&debs, &dir.join("corpus"))
                .and_then(|cost| {
                    check_listing(&apt::listed_on_disk(&peer.dists())?, n, &[])?;
                    apt::verify_signatures(
                        &key_keyring,
                        &peer.dists().join("InRelease"),
                        Some((
                            &peer.dists().join("Release"),
                            &peer.dists().join("Release.gpg"),
                        )),
                    )?;
                    Ok(cost)
                });
            match outcome {
                Ok(cost) => {
                    res.full_secs[i] = Cell::Val(cost.secs);
                    res.rss_full_kib[i] = Cell::Val(cost.maxrss_kib as f64);
                    alive[i] = true;
                }
                Err(e) => res.full_secs[i] = Cell::Failed(err_text(&e)),
            }
            eprintln!("  {} full publish: {:?}", tool.name(), res.full_secs[i]);
        }

        // 1b. depot add in local mode on its own data directory.
        if self.enabled(Tool::Depot) && self.args.cli {
            corpus::warm(&debs)?;
            flush_writeback();
            match self.depot_cli_full(depot::Format::Apt, &debs, &dir) {
                Ok((secs, kib)) => {
                    res.cli_full_secs = Cell::Val(secs);
                    res.rss_cli_kib = Cell::Val(kib as f64);
                }
                Err(e) => res.cli_full_secs = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot add full publish: {:?}", res.cli_full_secs);
        }

        // 2. One more, interleaved: run i goes through the tools in a rotated order, so
        //    background load drifts hit every tool alike.
        corpus::warm(&extras)?;
        if let Some(s) = &server {
            proc::reset_hwm(s.pid());
        }
        let mut cap = [runs; 3];
        let mut rss_one = [0u64; 3];
        let order: Vec<Tool> = TOOLS.iter().copied().filter(|t| alive[t.idx()]).collect();
        for (run, deb) in extras.iter().enumerate() {
            for k in 0..order.len() {
                let tool = order[(run + k) % order.len()];
                let i = tool.idx();
                if !alive[i] || run >= cap[i] {
                    continue;
                }
                flush_writeback();
                let step = match tool {
                    Tool::Depot => {
                        let s = server.as_ref().context("no server")?;
                        self.depot_one(depot::Format::Apt, s, deb, expected[i] + 1)
                    }
                    _ => {
                        let peer = &mut peers
                            .iter_mut()
                            .find(|(t, _)| *t == tool)
                            .context("peer")?
                            .1;
                        peer.one_more(deb)
                            .and_then(|cost| {
                                check_listing(
                                    &apt::listed_on_disk(&peer.dists())?,
                                    expected[i] + 1,
                                    &[&deb.name],
                                )?;
                                Ok(cost)
                            })
                            .map(|c| (c.secs, c.maxrss_kib))
                    }
                };
                match step {
                    Ok((secs, kib)) => {
                        res.one_secs[i].push(secs);
                        rss_one[i] = rss_one[i].max(kib);
                        expected[i] += 1;
                        if run == 0 && secs > SLOW_SECS && runs > SLOW_RUNS {
                            cap[i] = SLOW_RUNS;
                            res.notes.push(format!(
                                "{}: first one-more run took {secs:.1} s > {SLOW_SECS:.0} s, so \
                                 only {SLOW_RUNS} runs",
                                tool.name()
                            ));
                        }
                    }
                    Err(e) => {
                        res.one_failed[i] = Some(err_text(&e));
                        alive[i] = false;
                    }
                }
            }
        }
        for t in TOOLS {
            let i = t.idx();
            if !res.one_secs[i].is_empty() {
                res.rss_one_kib[i] = Cell::Val(rss_one[i] as f64);
            }
        }
        eprintln!(
            "  one more medians (ms): depot {:?}, reprepro {:?}, aptly {:?}",
            report::median(&res.one_secs[0]).map(|s| s * 1e3),
            report::median(&res.one_secs[1]).map(|s| s * 1e3),
            report::median(&res.one_secs[2]).map(|s| s * 1e3),
        );

        // 3. Everything still signed and verifiable after the runs.
        if let Some(s) = &server {
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_one_kib[0] = Cell::Val(kib as f64);
            }
            if alive[0]
                && let Err(e) = self
                    .rt
                    .block_on(s.verify_signatures(&dir.join("depot-sig")))
            {
                res.one_failed[0] =
                    Some(format!("signature check after the runs: {}", err_text(&e)));
            }
        }
        for (tool, peer) in &peers {
            let i = tool.idx();
            if alive[i]
                && let Err(e) = apt::verify_signatures(
                    &key_keyring,
                    &peer.dists().join("InRelease"),
                    Some((
                        &peer.dists().join("Release"),
                        &peer.dists().join("Release.gpg"),
                    )),
                )
            {
                res.one_failed[i] =
                    Some(format!("signature check after the runs: {}", err_text(&e)));
            }
        }
        if let Some(s) = server {
            let _ = s.stop();
        }
        res.notes
            .push(format!("load average at end: {}", loadavg()));
        Ok(res)
    }

    /// Times the bulk REST upload of all `debs` until the last upload is acknowledged (2xx
    /// means the published index includes it), then checks, untimed, that the signed index
    /// lists all of them. If it does not yet, waits for it and reports the longer time.
    fn depot_full(
        &self,
        format: depot::Format,
        s: &depot::Server,
        debs: &[Pkg],
        dir: &Path,
        notes: &mut Vec<String>,
    ) -> Result<f64> {
        let n = debs.len();
        let clients = self.args.clients;
        let (acked, listed_at) = self.rt.block_on(async {
            let t0 = Instant::now();
            tokio::time::timeout(FULL_TIMEOUT, s.bulk_upload(debs, clients))
                .await
                .map_err(|_| anyhow::anyhow!("bulk upload timed out after {FULL_TIMEOUT:?}"))??;
            let acked = t0.elapsed();
            let mut late = false;
            loop {
                let (_, count) = s.listed_as(format).await?;
                if count >= n {
                    break;
                }
                if !late {
                    late = true;
                    notes.push(format!(
                        "depot: when the last upload was acknowledged the index listed only \
                         {count} of {n} packages (read-your-writes broken); time is until it \
                         listed all"
                    ));
                }
                if t0.elapsed() > FULL_TIMEOUT {
                    bail!("index never listed all {n} packages");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let listed_at = late.then(|| t0.elapsed());
            Ok::<_, anyhow::Error>((acked, listed_at))
        })?;
        let (names, count) = self.rt.block_on(s.listed_as(format))?;
        let want: Vec<&str> = debs.iter().map(|d| d.name.as_str()).collect();
        check_names(&names, count, n, &want)?;
        self.rt
            .block_on(s.verify_signatures_as(format, &dir.join("depot-sig-full")))?;
        Ok(listed_at.unwrap_or(acked).as_secs_f64())
    }

    /// One REST upload, timed from the request to the full 2xx response; then, untimed, the
    /// check that the signed index lists it.
    fn depot_one(
        &self,
        format: depot::Format,
        s: &depot::Server,
        deb: &Pkg,
        expect: usize,
    ) -> Result<(f64, u64)> {
        let body = std::fs::read(&deb.path)?;
        let name = depot::file_name(deb);
        let secs = self.rt.block_on(async {
            let t0 = Instant::now();
            tokio::time::timeout(ONE_TIMEOUT, s.upload(&name, body))
                .await
                .map_err(|_| anyhow::anyhow!("upload timed out after {ONE_TIMEOUT:?}"))??;
            Ok::<_, anyhow::Error>(t0.elapsed().as_secs_f64())
        })?;
        let listing = self.rt.block_on(s.listed_as(format))?;
        check_listing(&listing, expect, &[&deb.name])
            .context("the 2xx came before the signed index listed the package")?;
        Ok((secs, 0))
    }

    /// `depot create` (untimed), then timed `depot add` of all files; then, untimed, a
    /// `depot serve` on that data directory to check what the published index lists.
    fn depot_cli_full(
        &self,
        format: depot::Format,
        debs: &[Pkg],
        dir: &Path,
    ) -> Result<(f64, u64)> {
        let cli = depot::Cli {
            bin: self.args.depot_bin.clone(),
            data_dir: dir.join("depot-cli-data"),
            log: dir.join("depot-cli.log"),
        };
        cli.create(ONE_TIMEOUT)?;
        let out = cli.add(debs, FULL_TIMEOUT)?;
        let listing = self.rt.block_on(async {
            let s = depot::Server::start(
                &self.args.depot_bin,
                &cli.data_dir,
                &dir.join("depot-cli-serve.log"),
                START_TIMEOUT,
            )
            .await?;
            let listing = s.listed_as(format).await;
            let _ = s.stop();
            listing
        })?;
        let want: Vec<&str> = debs.iter().map(|d| d.name.as_str()).collect();
        check_names(&listing.0, listing.1, debs.len(), &want)
            .context("after `depot add` exited")?;
        Ok((out.wall.as_secs_f64(), out.maxrss_kib))
    }
}

fn check_listing(
    listing: &(std::collections::HashSet<String>, usize),
    count: usize,
    names: &[&str],
) -> Result<()> {
    check_names(&listing.0, listing.1, count, names)
}

fn check_names(
    listed: &std::collections::HashSet<String>,
    stanzas: usize,
    count: usize,
    names: &[&str],
) -> Result<()> {
    if stanzas != count {
        bail!("the signed index lists {stanzas} packages, expected {count}");
    }
    if let Some(missing) = names.iter().find(|n| !listed.contains(**n)) {
        bail!("the signed index does not list {missing}");
    }
    Ok(())
}
