//! `depot-bench serve`: benchmark P4s of issue 11, serving speed against nginx.
//!
//! Builds a repo of N tiny .debs with `depot add` on a fresh data directory, starts
//! `depot serve`, and copies what depot serves for five URLs into a directory that nginx
//! (access log off, sendfile on, 2 workers, unbounded keep-alive) serves under the same
//! paths:
//!
//! | file | URL |
//! | --- | --- |
//! | InRelease | `/repos/bench/dists/stable/InRelease` |
//! | Packages.gz | `/repos/bench/dists/stable/main/binary-amd64/Packages.gz` |
//! | Packages | `/repos/bench/dists/stable/main/binary-amd64/Packages` |
//! | one .deb | `/repos/bench/` + the first `Filename:` of Packages |
//! | by-hash | `.../binary-amd64/by-hash/SHA256/<sha256 of Packages.gz>` |
//!
//! Every body is checked byte-identical on both servers before any timing. Then, for each
//! file and each connection shape (`wrk -t2 -c32`, `wrk -t1 -c1`, keep-alive, `--latency`),
//! depot and nginx are measured alternately, `--runs` times each; the table shows the
//! median req/s and the median p99 of the runs, and the ratio of the medians. Both servers
//! share the machine with wrk (and, here, other work), so the ratio is the figure to read;
//! the load average is printed with it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::depot::{Cli, REPO, Server};
use crate::{apt, corpus, proc};

const USAGE: &str = "\
usage: depot-bench serve [--packages 1000] [--seconds 5] [--runs 3]
                         [--depot-bin target/release/depot] [--json PATH] [--keep]

P4s: req/s and p99 latency of depot serving InRelease, Packages.gz, Packages, one .deb and
one by-hash file of a repo of --packages tiny .debs, against nginx serving the same bytes
(access log off, sendfile on, 2 workers), with `wrk -t2 -c32` and `wrk -t1 -c1` on
keep-alive connections for --seconds each, the two servers alternating, --runs times.";

const TIMEOUT: Duration = Duration::from_secs(900);
const START_TIMEOUT: Duration = Duration::from_secs(180);

struct Args {
    packages: usize,
    seconds: u64,
    runs: usize,
    depot_bin: PathBuf,
    json: Option<PathBuf>,
    keep: bool,
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args {
        packages: 1000,
        seconds: 5,
        runs: 3,
        depot_bin: crate::default_depot_bin(),
        json: None,
        keep: false,
    };
    let mut it = args;
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--packages" => a.packages = value()?.parse().context("--packages")?,
            "--seconds" => a.seconds = value()?.parse().context("--seconds")?,
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            "--depot-bin" => a.depot_bin = value()?.into(),
            "--json" => a.json = Some(value()?.into()),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if a.packages == 0 || a.seconds == 0 || a.runs == 0 {
        bail!("--packages, --seconds and --runs must be at least 1");
    }
    Ok(a)
}

/// One wrk run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rps: f64,
    p99_ms: f64,
}

/// Connection shapes: (wrk threads, connections).
const SHAPES: [(usize, usize); 2] = [(2, 32), (1, 1)];

pub fn run(args: impl Iterator<Item = String>) -> Result<()> {
    let args = parse(args)?;
    if !args.depot_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p depot` or pass --depot-bin",
            args.depot_bin.display()
        );
    }
    for tool in ["nginx", "wrk"] {
        crate::which(tool)?;
    }
    let work = tempfile::Builder::new()
        .prefix("depot-bench-serve-")
        .tempdir()?;
    let root = if args.keep {
        work.keep()
    } else {
        work.path().to_path_buf()
    };
    eprintln!("depot-bench serve: working in {}", root.display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let pkgs = corpus::write(&root.join("corpus"), args.packages, "s")?;
    let cli = Cli {
        bin: args.depot_bin.clone(),
        data_dir: root.join("depot"),
        log: root.join("depot-cli.log"),
    };
    cli.create(TIMEOUT)?;
    cli.add(&pkgs, TIMEOUT)?;
    let server = rt.block_on(Server::start(
        &args.depot_bin,
        &cli.data_dir,
        &root.join("depot-serve.log"),
        START_TIMEOUT,
    ))?;
    // The CLI's publication lacks Packages.xz; let the server add it, so InRelease does
    // not change under the measurement.
    let (waited, xz) =
        rt.block_on(server.settle(Duration::from_secs(2), Duration::from_secs(120)))?;
    eprintln!("depot-bench serve: server settled in {waited:.1} s (Packages.xz: {xz})");

    let files = rt.block_on(fetch_files(&server))?;
    let www = root.join("nginx/www");
    for (_, path, body) in &files {
        let file = www.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().context("a path with a parent")?)?;
        std::fs::write(&file, body)?;
    }
    open_up(&root)?;
    let nginx = Nginx::start(&root.join("nginx"), &www)?;
    rt.block_on(check_identical(&server.base, &nginx.base, &files))?;

    let load_before = loadavg();
    let mut samples: BTreeMap<(usize, usize, &str, &str), Vec<Sample>> = BTreeMap::new();
    for run in 0..args.runs {
        for (name, path, _) in &files {
            for &(threads, conns) in &SHAPES {
                for (server_name, base) in [("depot", &server.base), ("nginx", &nginx.base)] {
                    let s = wrk(threads, conns, args.seconds, &format!("{base}{path}"))
                        .with_context(|| format!("wrk {server_name} {name}"))?;
                    eprintln!(
                        "run {}/{} {name:<12} -t{threads} -c{conns:<3} {server_name}: {:>9.0} req/s, p99 {:.2} ms",
                        run + 1,
                        args.runs,
                        s.rps,
                        s.p99_ms
                    );
                    samples
                        .entry((threads, conns, name, server_name))
                        .or_default()
                        .push(s);
                }
            }
        }
    }
    let load_after = loadavg();
    drop(nginx);
    server.stop()?;

    let mut out = String::new();
    let mut rows = Vec::new();
    for &(threads, conns) in &SHAPES {
        out.push_str(&format!(
            "\n`wrk -t{threads} -c{conns} -d{}s --latency`, keep-alive, median of {}:\n\n",
            args.seconds, args.runs
        ));
        out.push_str("| file | bytes | depot req/s | nginx req/s | depot/nginx | depot p99 ms | nginx p99 ms |\n");
        out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (name, _, body) in &files {
            let med = |server: &str, f: fn(&Sample) -> f64| {
                median(
                    samples[&(threads, conns, *name, server)]
                        .iter()
                        .map(f)
                        .collect(),
                )
            };
            let (d, n) = (med("depot", |s| s.rps), med("nginx", |s| s.rps));
            let (dp, np) = (med("depot", |s| s.p99_ms), med("nginx", |s| s.p99_ms));
            out.push_str(&format!(
                "| {name} | {} | {d:.0} | {n:.0} | {:.2} | {dp:.2} | {np:.2} |\n",
                body.len(),
                d / n
            ));
            rows.push(json!({
                "shape": format!("-t{threads} -c{conns}"),
                "file": name,
                "bytes": body.len(),
                "depot_rps": d,
                "nginx_rps": n,
                "ratio": d / n,
                "depot_p99_ms": dp,
                "nginx_p99_ms": np,
            }));
        }
    }
    out.push_str(&format!(
        "\nload average before: {load_before}, after: {load_after}; {} packages\n",
        args.packages
    ));
    println!("{out}");
    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "P4s serve",
            "packages": args.packages,
            "seconds": args.seconds,
            "runs": args.runs,
            "load_before": load_before,
            "load_after": load_after,
            "results": rows,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    Ok(())
}

/// (name, URL path, body) of the five files.
async fn fetch_files(server: &Server) -> Result<Vec<(&'static str, String, Vec<u8>)>> {
    let dists = format!("/repos/{REPO}/dists/stable");
    let dir = format!("{dists}/main/binary-amd64");
    let get = |path: String| async move {
        let body = server
            .get(&path)
            .await?
            .with_context(|| format!("depot serves no {path}"))?;
        anyhow::Ok((path, body))
    };
    let inrelease = get(format!("{dists}/InRelease")).await?;
    let gz = get(format!("{dir}/Packages.gz")).await?;
    let plain = get(format!("{dir}/Packages")).await?;
    let text = String::from_utf8_lossy(&plain.1);
    let filename = text
        .lines()
        .find_map(|l| l.strip_prefix("Filename: "))
        .context("Packages lists no Filename")?
        .trim()
        .to_string();
    let deb = get(format!("/repos/{REPO}/{filename}")).await?;
    let by_hash = get(format!("{dir}/by-hash/SHA256/{}", apt::sha256_hex(&gz.1)?)).await?;
    if by_hash.1 != gz.1 {
        bail!("by-hash of Packages.gz is not Packages.gz");
    }
    Ok(vec![
        ("InRelease", inrelease.0, inrelease.1),
        ("Packages.gz", gz.0, gz.1),
        ("Packages", plain.0, plain.1),
        ("one .deb", deb.0, deb.1),
        ("by-hash", by_hash.0, by_hash.1),
    ])
}

async fn check_identical(
    depot: &str,
    nginx: &str,
    files: &[(&'static str, String, Vec<u8>)],
) -> Result<()> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    for (name, path, body) in files {
        for base in [depot, nginx] {
            let resp = client.get(format!("{base}{path}")).send().await?;
            if !resp.status().is_success() {
                bail!("{name}: {base}{path} answered {}", resp.status());
            }
            if resp.bytes().await?.as_ref() != body.as_slice() {
                bail!("{name}: {base}{path} serves other bytes than depot did");
            }
        }
    }
    Ok(())
}

/// nginx workers run as `nobody` when the master is root: let them read the tree.
fn open_up(root: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        if dir == root {
            dirs.push(root.join("nginx"));
            continue;
        }
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o644))?;
            }
        }
    }
    Ok(())
}

/// `nginx -c CONF -p DIR` in the foreground (`daemon off`), killed when dropped.
struct Nginx {
    child: Option<Child>,
    base: String,
}

impl Nginx {
    fn start(dir: &Path, www: &Path) -> Result<Nginx> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let d = dir.display();
        let conf = format!(
            "worker_processes 2;\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n\
             \x20 access_log off;\n\
             \x20 sendfile on;\n\
             \x20 tcp_nopush on;\n\
             \x20 keepalive_requests 100000000;\n\
             \x20 keepalive_timeout 300s;\n\
             \x20 default_type application/octet-stream;\n\
             \x20 client_body_temp_path {d}/tmp-body;\n\
             \x20 proxy_temp_path {d}/tmp-proxy;\n\
             \x20 fastcgi_temp_path {d}/tmp-fastcgi;\n\
             \x20 uwsgi_temp_path {d}/tmp-uwsgi;\n\
             \x20 scgi_temp_path {d}/tmp-scgi;\n\
             \x20 server {{\n\
             \x20   listen 127.0.0.1:{port};\n\
             \x20   root {www};\n\
             \x20 }}\n\
             }}\n",
            www = www.display()
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(dir.join("nginx.out"))?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting nginx")?;
        let mut nginx = Nginx {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if let Some(status) = nginx
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "nginx exited at start ({status})\n{}",
                    proc::tail(&dir.join("nginx.out"))
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(nginx);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("nginx did not listen on {port}")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM: nginx's master stops its workers; SIGKILL would leave them behind.
            // (kill(1) rather than libc: unsafe code lives in proc.rs alone.)
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            for _ in 0..100 {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wrk(threads: usize, conns: usize, seconds: u64, url: &str) -> Result<Sample> {
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text)
}

/// `Requests/sec:` and the `99%` line of `--latency`; a run with non-2xx answers or socket
/// errors is refused.
fn parse_wrk(text: &str) -> Result<Sample> {
    if let Some(line) = text
        .lines()
        .find(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
    {
        bail!("wrk reports errors: {}\n{text}", line.trim());
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .context("no Requests/sec in wrk's output")?
        .trim()
        .parse::<f64>()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .context("no 99% line in wrk's output (--latency)")?;
    Ok(Sample {
        rps,
        p99_ms: duration_ms(p99.trim())?,
    })
}

/// wrk's `812.00us`, `1.23ms`, `2.01s`, `1.50m` in milliseconds.
fn duration_ms(s: &str) -> Result<f64> {
    let split = s
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {s:?}"))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().with_context(|| format!("not a number: {s:?}"))?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        other => bail!("unknown unit {other:?} in {s:?}"),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "\
Running 5s test @ http://127.0.0.1:8080/repos/bench/dists/stable/InRelease
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   636.41us  412.12us  10.92ms   91.57%
    Req/Sec    26.02k     2.02k   30.21k    72.00%
  Latency Distribution
     50%  543.00us
     75%  701.00us
     90%  0.95ms
     99%    2.13ms
  258945 requests in 5.00s, 634.93MB read
Requests/sec:  51758.03
Transfer/sec:    126.90MB
";

    #[test]
    fn reads_requests_per_second_and_p99() {
        let s = parse_wrk(WRK).unwrap();
        assert_eq!(s.rps, 51758.03);
        assert!((s.p99_ms - 2.13).abs() < 1e-9);
        assert!((duration_ms("812.00us").unwrap() - 0.812).abs() < 1e-9);
        assert_eq!(duration_ms("2.00s").unwrap(), 2000.0);
    }

    #[test]
    fn refuses_runs_with_errors() {
        let bad = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(parse_wrk(&bad).is_err());
        let bad = WRK.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 3, write 0, timeout 0\nRequests/sec",
        );
        assert!(parse_wrk(&bad).is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
    }
}
