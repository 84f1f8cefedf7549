//! P2 (issue 3): depot against createrepo_c on the same tiny .rpms. The full publish of N
//! packages, one more upload until `repodata/repomd.xml` lists it, and peak RSS, in the
//! same shape as P1 (one [`SizeResult`] per N, columns [`report::RPM`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::corpus::{self, Pkg};
use crate::depot::{self, Format};
use crate::peers::{Cost, Timeouts};
use crate::report::{self, Cell, SizeResult};
use crate::{
    Bench, FULL_TIMEOUT, SETTLE_TIMEOUT, SLOW_RUNS, SLOW_SECS, START_TIMEOUT, TIMEOUTS, Tool,
    check_listing, err_text, flush_writeback, loadavg, proc, rpmmd,
};

/// Column of depot in [`report::RPM`].
const DEPOT: usize = 0;
/// Column of `createrepo_c --no-database`.
const NO_DB: usize = 1;
/// Column of `createrepo_c --database` (sqlite, createrepo_c's default).
const SQLITE: usize = 2;

/// createrepo_c on one directory: the rpms (hard links to the corpus files, so the page
/// cache is shared and nothing is copied) and the `repodata/` it writes next to them.
pub struct Createrepo {
    dir: PathBuf,
    sqlite: bool,
    log: PathBuf,
    timeout: Timeouts,
}

impl Createrepo {
    pub fn new(dir: &Path, sqlite: bool, timeout: Timeouts) -> Result<Createrepo> {
        std::fs::create_dir_all(dir)?;
        Ok(Createrepo {
            dir: dir.to_path_buf(),
            sqlite,
            log: dir.with_extension("log"),
            timeout,
        })
    }

    /// Puts packages into the repository directory (untimed: with createrepo_c the files are
    /// wherever the user put them, it only indexes them).
    pub fn stage(&self, pkgs: &[Pkg]) -> Result<()> {
        for p in pkgs {
            let to = self.dir.join(p.path.file_name().context("file name")?);
            if std::fs::hard_link(&p.path, &to).is_err() {
                std::fs::copy(&p.path, &to).with_context(|| {
                    format!("copying {} into {}", p.path.display(), to.display())
                })?;
            }
        }
        Ok(())
    }

    fn cmd(&self, update: bool) -> Command {
        let mut c = Command::new("createrepo_c");
        if update {
            c.arg("--update");
        }
        c.arg(if self.sqlite {
            "--database"
        } else {
            "--no-database"
        });
        c.arg(&self.dir);
        c
    }

    /// `createrepo_c [--no-database] DIR` over everything staged.
    pub fn full_publish(&self) -> Result<Cost> {
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(
            &mut self.cmd(false),
            self.timeout.full,
            &self.log,
        )?);
        Ok(cost)
    }

    /// `createrepo_c --update [--no-database] DIR` after one more file was staged.
    pub fn one_more(&self) -> Result<Cost> {
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(
            &mut self.cmd(true),
            self.timeout.one,
            &self.log,
        )?);
        Ok(cost)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Bench {
    pub(crate) fn run_rpm_size(&mut self, n: usize) -> Result<SizeResult> {
        let dir = self.root.join(format!("n{n}")).join("rpm");
        let runs = self.args.runs;
        let t = Instant::now();
        let rpms = corpus::write_rpms(&dir.join("corpus"), n, "bench")?;
        let extras = corpus::write_rpms(&dir.join("extra"), runs, "benchmore")?;
        eprintln!(
            "  corpus: {} + {} .rpms in {:.1} s",
            rpms.len(),
            extras.len(),
            t.elapsed().as_secs_f64()
        );
        let mut res = SizeResult {
            n,
            ..Default::default()
        };
        res.notes
            .push(format!("load average at start: {}", loadavg()));
        let mut expected = [n; 3];
        let mut alive = [false; 3];
        let depot_on = self.enabled(Tool::Depot);

        let mut server = None;
        if depot_on {
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
                Err(e) => res.full_secs[DEPOT] = Cell::Failed(err_text(&e)),
            }
        }
        let mut peers: Vec<(usize, Createrepo)> = Vec::new();
        if self.args.createrepo {
            peers.push((
                NO_DB,
                Createrepo::new(&dir.join("createrepo-nodb"), false, TIMEOUTS)?,
            ));
            if self.args.sqlite {
                peers.push((
                    SQLITE,
                    Createrepo::new(&dir.join("createrepo-sqlite"), true, TIMEOUTS)?,
                ));
            }
        }

        // 1. Full publish: depot via REST on the server that stays up for the runs.
        if let Some(s) = &server {
            corpus::warm(&rpms)?;
            flush_writeback();
            proc::reset_hwm(s.pid());
            match self.depot_full(Format::Rpm, s, &rpms, &dir, &mut res.notes) {
                Ok(secs) => {
                    res.full_secs[DEPOT] = Cell::Val(secs);
                    alive[DEPOT] = true;
                }
                Err(e) => res.full_secs[DEPOT] = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot full publish: {:?}", res.full_secs[DEPOT]);
            // The deferred pass (Packages.xz of the repo's empty apt index) must not run
            // during createrepo_c's timings.
            match self
                .rt
                .block_on(s.settle(Duration::from_secs(1), SETTLE_TIMEOUT))
            {
                Ok((secs, true)) => res.notes.push(format!(
                    "depot: deferred pass done and the server idle {secs:.1} s after the full \
                     publish; createrepo_c ran after that"
                )),
                Ok((secs, false)) => res.notes.push(format!(
                    "depot: deferred pass not seen {secs:.0} s after the full publish; \
                     createrepo_c ran anyway"
                )),
                Err(e) => res
                    .notes
                    .push(format!("depot: waiting for idle: {}", err_text(&e))),
            }
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_full_kib[DEPOT] = Cell::Val(kib as f64);
            }
        }
        for (i, peer) in &peers {
            let i = *i;
            let outcome = peer.stage(&rpms).and_then(|()| {
                corpus::warm(&rpms)?;
                flush_writeback();
                let cost = peer.full_publish()?;
                check_listing(&rpmmd::listed_on_disk(peer.dir())?, n, &[])?;
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
            eprintln!(
                "  {} full publish: {:?}",
                report::RPM.names[i],
                res.full_secs[i]
            );
        }

        // 1b. depot add in local mode on its own data directory.
        if depot_on && self.args.cli {
            corpus::warm(&rpms)?;
            flush_writeback();
            match self.depot_cli_full(Format::Rpm, &rpms, &dir) {
                Ok((secs, kib)) => {
                    res.cli_full_secs = Cell::Val(secs);
                    res.rss_cli_kib = Cell::Val(kib as f64);
                }
                Err(e) => res.cli_full_secs = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot add full publish: {:?}", res.cli_full_secs);
            // 1c. depot rebuild of what depot add stored: the like-for-like
            // of createrepo_c's full run (read N rpms, write repodata).
            if matches!(res.cli_full_secs, Cell::Val(_)) {
                let cli = depot::Cli {
                    bin: self.args.depot_bin.clone(),
                    data_dir: dir.join("depot-cli-data"),
                    log: dir.join("depot-cli.log"),
                };
                flush_writeback();
                res.rebuild_secs = match cli.rebuild(FULL_TIMEOUT) {
                    Ok(out) => Cell::Val(out.wall.as_secs_f64()),
                    Err(e) => Cell::Failed(err_text(&e)),
                };
                eprintln!("  depot rebuild: {:?}", res.rebuild_secs);
            }
        }

        // 2. One more, interleaved as in P1.
        corpus::warm(&extras)?;
        if let Some(s) = &server {
            proc::reset_hwm(s.pid());
        }
        let mut cap = [runs; 3];
        let mut rss_one = [0u64; 3];
        let order: Vec<usize> = (0..3).filter(|i| alive[*i]).collect();
        for (run, pkg) in extras.iter().enumerate() {
            for k in 0..order.len() {
                let i = order[(run + k) % order.len()];
                if !alive[i] || run >= cap[i] {
                    continue;
                }
                let step = if i == DEPOT {
                    flush_writeback();
                    let s = server.as_ref().context("no server")?;
                    self.depot_one(Format::Rpm, s, pkg, expected[i] + 1)
                } else {
                    let peer = &peers.iter().find(|(j, _)| *j == i).context("peer")?.1;
                    peer.stage(std::slice::from_ref(pkg)).and_then(|()| {
                        flush_writeback();
                        let cost = peer.one_more()?;
                        check_listing(
                            &rpmmd::listed_on_disk(peer.dir())?,
                            expected[i] + 1,
                            &[&pkg.name],
                        )?;
                        Ok((cost.secs, cost.maxrss_kib))
                    })
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
                                report::RPM.names[i]
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
        for ((cell, samples), kib) in res.rss_one_kib.iter_mut().zip(&res.one_secs).zip(rss_one) {
            if !samples.is_empty() {
                *cell = Cell::Val(kib as f64);
            }
        }
        eprintln!(
            "  one more medians (ms): depot {:?}, createrepo_c --no-database {:?}, \
             createrepo_c (sqlite) {:?}",
            report::median(&res.one_secs[DEPOT]).map(|s| s * 1e3),
            report::median(&res.one_secs[NO_DB]).map(|s| s * 1e3),
            report::median(&res.one_secs[SQLITE]).map(|s| s * 1e3),
        );

        // 3. depot's repomd.xml still signed and verifiable after the runs.
        if let Some(s) = &server {
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_one_kib[DEPOT] = Cell::Val(kib as f64);
            }
            if alive[DEPOT]
                && let Err(e) = self
                    .rt
                    .block_on(s.verify_rpm_signature(&dir.join("depot-sig")))
            {
                res.one_failed[DEPOT] =
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
}
