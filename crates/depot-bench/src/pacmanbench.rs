//! P4 (issue 4): depot against repo-add on the same tiny pacman packages. The full publish of
//! N packages, one more upload until the database lists it, and peak RSS, in the shape of P1
//! and P2 (one [`SizeResult`] per N, columns [`report::PACMAN`]).
//!
//! repo-add runs twice: plain, and with `--sign` (a detached signature of `.db` and `.files`
//! by a throw-away GnuPG key whose agent is warmed up first), since depot signs its databases
//! and, at upload, the package itself. "One more" for repo-add is one `repo-add DB FILE` into
//! the database of N: it extracts the whole database, adds the entry, and writes both archives
//! again, which is what its incremental use costs.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::corpus::{self, Pkg};
use crate::depot::{self, Format};
use crate::peers::{Cost, PeerKey, Timeouts};
use crate::report::{self, Cell, SizeResult};
use crate::{
    Bench, SETTLE_TIMEOUT, SLOW_RUNS, SLOW_SECS, START_TIMEOUT, TIMEOUTS, Tool, apt, check_listing,
    err_text, flush_writeback, loadavg, proc,
};

/// Column of depot in [`report::PACMAN`].
const DEPOT: usize = 0;
/// Column of `repo-add`.
const PLAIN: usize = 1;
/// Column of `repo-add --sign`.
const SIGNED: usize = 2;

/// Above this N repo-add's own full publish is not run: it adds about 15 packages a second
/// (60 s for 1,000), so 10,000 would outlast the 900 s deadline. Its database of N is then
/// made from depot's published one instead (see [`RepoAdd::seed`]).
const REPO_ADD_FULL_MAX: usize = 2_000;

/// The package names a gzip'd pacman database lists (its `{name}-{ver}-{rel}/desc` members)
/// and how many `desc` entries it has.
pub fn listed_in_db(gz: &[u8]) -> Result<(HashSet<String>, usize)> {
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut tar)
        .context("the database is not gzip")?;
    let mut names = HashSet::new();
    let mut count = 0;
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    while at + 512 <= tar.len() {
        let h = &tar[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size_text = field(124..136);
        let size = u64::from_str_radix(size_text.trim(), 8)
            .with_context(|| format!("bad tar size {size_text:?} at {at}"))?
            as usize;
        let data = at + 512;
        let kind = h[156];
        let mut name = match long_name.take() {
            Some(n) => n,
            None => {
                let prefix = field(345..500);
                let base = field(0..100);
                if prefix.is_empty() || &h[257..263] != b"ustar\0" {
                    base
                } else {
                    format!("{prefix}/{base}")
                }
            }
        };
        match kind {
            b'L' => {
                let raw = tar.get(data..data + size).context("truncated long name")?;
                long_name = Some(
                    String::from_utf8_lossy(raw)
                        .trim_end_matches('\0')
                        .to_string(),
                );
            }
            b'x' => {
                // A pax header: take its path, if any, for the next member.
                let raw = tar.get(data..data + size).context("truncated pax header")?;
                for rec in String::from_utf8_lossy(raw).lines() {
                    if let Some((_, kv)) = rec.split_once(' ')
                        && let Some(p) = kv.strip_prefix("path=")
                    {
                        long_name = Some(p.to_string());
                    }
                }
            }
            b'0' | 0 => {
                if let Some(dir) = name.strip_suffix("/desc") {
                    count += 1;
                    name = dir.to_string();
                    let mut parts = name.rsplitn(3, '-');
                    let (_rel, _ver, pkg) = (parts.next(), parts.next(), parts.next());
                    names.insert(pkg.context("a db directory without version")?.to_string());
                }
            }
            _ => {}
        }
        at = data + size.div_ceil(512) * 512;
    }
    Ok((names, count))
}

/// repo-add on one directory: the packages (hard links to the corpus files) and the
/// database it writes next to them.
pub struct RepoAdd {
    dir: PathBuf,
    /// `(GNUPGHOME, fingerprint)` for `--sign --key`.
    sign: Option<(PathBuf, String)>,
    log: PathBuf,
    timeout: Timeouts,
}

impl RepoAdd {
    pub fn new(dir: &Path, key: Option<&PeerKey>, timeout: Timeouts) -> Result<RepoAdd> {
        std::fs::create_dir_all(dir)?;
        Ok(RepoAdd {
            dir: dir.to_path_buf(),
            sign: key.map(|k| (k.home.clone(), k.fingerprint.clone())),
            log: dir.with_extension("log"),
            timeout,
        })
    }

    fn db(&self) -> PathBuf {
        self.dir.join(format!("{}.db.tar.gz", depot::REPO))
    }

    /// Puts packages into the repository directory (untimed: with repo-add the files are
    /// wherever the user put them).
    pub fn stage(&self, pkgs: &[Pkg]) -> Result<Vec<PathBuf>> {
        let mut out = Vec::with_capacity(pkgs.len());
        for p in pkgs {
            let to = self.dir.join(p.path.file_name().context("file name")?);
            if std::fs::hard_link(&p.path, &to).is_err() {
                std::fs::copy(&p.path, &to).with_context(|| {
                    format!("copying {} into {}", p.path.display(), to.display())
                })?;
            }
            out.push(to);
        }
        Ok(out)
    }

    fn cmd(&self, files: &[PathBuf]) -> Command {
        let mut c = Command::new("repo-add");
        c.arg("--quiet").arg("--nocolor");
        if let Some((home, fpr)) = &self.sign {
            c.env("GNUPGHOME", home).args(["--sign", "--key", fpr]);
        }
        c.arg(self.db()).args(files);
        c
    }

    /// `repo-add DB` of every package of the corpus at once.
    pub fn full_publish(&self, pkgs: &[Pkg]) -> Result<Cost> {
        let files = self.stage(pkgs)?;
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(
            &mut self.cmd(&files),
            self.timeout.full,
            &self.log,
        )?);
        Ok(cost)
    }

    /// Makes this repository a copy of `other`'s (untimed): the same database of N, for the
    /// signed variant, whose full publish would only repeat the unsigned one's.
    pub fn copy_from(&self, other: &RepoAdd, pkgs: &[Pkg]) -> Result<()> {
        self.stage(pkgs)?;
        for kind in ["db", "files"] {
            let name = format!("{}.{kind}.tar.gz", depot::REPO);
            std::fs::copy(other.dir.join(&name), self.dir.join(&name))?;
        }
        Ok(())
    }

    /// Makes this repository's database of N from depot's published tars (untimed), as
    /// repo-add's `create_db` would write it from the same entries: extracted, `%PGPSIG%`
    /// dropped from every `desc` (depot signs each package; these packages come without a
    /// `.sig`, so repo-add lists none), and archived again with `bsdtar -cf - * | gzip -n`.
    /// The oracle test `pacman_repoadd_oracle.rs` shows the entries are otherwise repo-add's,
    /// byte for byte.
    pub fn seed(&self, pkgs: &[Pkg], db_tar: &[u8], files_tar: &[u8]) -> Result<()> {
        self.stage(pkgs)?;
        for (kind, tar) in [("db", db_tar), ("files", files_tar)] {
            let work = self.dir.join(format!("seed-{kind}"));
            std::fs::create_dir_all(&work)?;
            let tar_path = self.dir.join(format!("seed-{kind}.tar"));
            std::fs::write(&tar_path, tar)?;
            proc::run_ok(
                Command::new("bsdtar")
                    .arg("-xf")
                    .arg(&tar_path)
                    .arg("-C")
                    .arg(&work),
                self.timeout.full,
                &self.log,
            )?;
            for entry in std::fs::read_dir(&work)? {
                let desc = entry?.path().join("desc");
                let text = std::fs::read_to_string(&desc)
                    .with_context(|| format!("reading {}", desc.display()))?;
                let stripped: Vec<&str> = text
                    .split_inclusive("\n\n")
                    .filter(|block| !block.starts_with("%PGPSIG%\n"))
                    .collect();
                std::fs::write(&desc, stripped.concat())?;
            }
            let out = self.dir.join(format!("{}.{kind}.tar.gz", depot::REPO));
            proc::run_ok(
                Command::new("sh")
                    .arg("-c")
                    .arg("cd \"$1\" && bsdtar -cf - * | gzip -c -f -n > \"$2\"")
                    .arg("sh")
                    .arg(&work)
                    .arg(&out),
                self.timeout.full,
                &self.log,
            )?;
            std::fs::remove_dir_all(&work)?;
            std::fs::remove_file(&tar_path)?;
        }
        Ok(())
    }

    /// `repo-add DB FILE` for one more package.
    pub fn one_more(&self, pkg: &Pkg) -> Result<Cost> {
        let files = self.stage(std::slice::from_ref(pkg))?;
        flush_writeback();
        let mut cost = Cost::default();
        cost.add(&proc::run_ok(
            &mut self.cmd(&files),
            self.timeout.one,
            &self.log,
        )?);
        Ok(cost)
    }

    pub fn listed(&self) -> Result<(HashSet<String>, usize)> {
        listed_in_db(&std::fs::read(self.db()).context("reading repo-add's database")?)
    }

    /// gpgv over the database and its signature.
    pub fn verify(&self, keyring: &Path) -> Result<()> {
        let db = self.db();
        let sig = PathBuf::from(format!("{}.sig", db.display()));
        if !sig.exists() {
            bail!("repo-add --sign wrote no {}", sig.display());
        }
        apt::gpgv(keyring, &[&sig, &db])
    }
}

impl Bench {
    pub(crate) fn run_pacman_size(&mut self, n: usize) -> Result<SizeResult> {
        let dir = self.root.join(format!("n{n}")).join("pacman");
        let runs = self.args.runs;
        let t = Instant::now();
        let pkgs = corpus::write_pacman(&dir.join("corpus"), n, "bench")?;
        let extras = corpus::write_pacman(&dir.join("extra"), runs, "benchmore")?;
        eprintln!(
            "  corpus: {} + {} pacman packages in {:.1} s",
            pkgs.len(),
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
        let mut keyring = None;
        let mut peers: Vec<(usize, RepoAdd)> = Vec::new();
        if self.args.repo_add {
            peers.push((PLAIN, RepoAdd::new(&dir.join("repo-add"), None, TIMEOUTS)?));
            let key = self.peer_key(server.as_ref())?;
            res.notes.push(format!(
                "repo-add --sign signs .db and .files with a generated {} key through gpg \
                 (agent warmed up before timing); depot signs with its own key",
                key.algo
            ));
            keyring = Some(key.keyring.clone());
            peers.push((
                SIGNED,
                RepoAdd::new(&dir.join("repo-add-sign"), Some(key), TIMEOUTS)?,
            ));
        }

        // 1. Full publish: depot via REST on the server that stays up for the runs.
        if let Some(s) = &server {
            corpus::warm(&pkgs)?;
            flush_writeback();
            proc::reset_hwm(s.pid());
            match self.depot_full(Format::Pacman, s, &pkgs, &dir, &mut res.notes) {
                Ok(secs) => {
                    res.full_secs[DEPOT] = Cell::Val(secs);
                    alive[DEPOT] = true;
                }
                Err(e) => res.full_secs[DEPOT] = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot full publish: {:?}", res.full_secs[DEPOT]);
            match self
                .rt
                .block_on(s.settle(Duration::from_secs(1), SETTLE_TIMEOUT))
            {
                Ok((secs, _)) => res.notes.push(format!(
                    "depot: server idle {secs:.1} s after the full publish; repo-add ran after \
                     that"
                )),
                Err(e) => res
                    .notes
                    .push(format!("depot: waiting for idle: {}", err_text(&e))),
            }
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_full_kib[DEPOT] = Cell::Val(kib as f64);
            }
        }
        // repo-add builds the database of N once, unsigned; the signed variant starts from a
        // copy of it (signing the result of a full run adds milliseconds to minutes). Past
        // REPO_ADD_FULL_MAX (and with depot's database to start from) the database of N is
        // made from depot's instead, untimed.
        let seed = match (&server, alive[DEPOT]) {
            (Some(s), true) if n > REPO_ADD_FULL_MAX => {
                let get = |kind: &str| {
                    self.rt
                        .block_on(s.get(&format!(
                            "/repos/{r}/pacman/x86_64/{r}.{kind}.tar",
                            r = depot::REPO
                        )))
                        .and_then(|b| b.with_context(|| format!("depot's {kind}.tar not found")))
                };
                Some((get("db")?, get("files")?))
            }
            _ => None,
        };
        if let [(_, plain), (_, signed)] = &peers[..] {
            corpus::warm(&pkgs)?;
            flush_writeback();
            let outcome = match &seed {
                Some((db, files)) => plain.seed(&pkgs, db, files).and_then(|()| {
                    check_listing(&plain.listed()?, n, &[])?;
                    Ok(None)
                }),
                None => plain.full_publish(&pkgs).and_then(|cost| {
                    check_listing(&plain.listed()?, n, &[])?;
                    Ok(Some(cost))
                }),
            };
            match outcome {
                Ok(cost) => {
                    if let Some(cost) = cost {
                        res.full_secs[PLAIN] = Cell::Val(cost.secs);
                        res.rss_full_kib[PLAIN] = Cell::Val(cost.maxrss_kib as f64);
                    } else {
                        res.notes.push(format!(
                            "repo-add: no full publish above N = {REPO_ADD_FULL_MAX} (about 15 \
                             packages a second: 10,000 outlast the 900 s deadline); its database \
                             of N was made, untimed, from depot's with %PGPSIG% dropped, as \
                             repo-add writes the same entries"
                        ));
                    }
                    alive[PLAIN] = true;
                    match signed.copy_from(plain, &pkgs) {
                        Ok(()) => alive[SIGNED] = true,
                        Err(e) => res.full_secs[SIGNED] = Cell::Failed(err_text(&e)),
                    }
                }
                Err(e) => res.full_secs[PLAIN] = Cell::Failed(err_text(&e)),
            }
            eprintln!("  repo-add full publish: {:?}", res.full_secs[PLAIN]);
            res.notes.push(
                "repo-add --sign: no full publish of its own; it starts from a copy of \
                 repo-add's database of N"
                    .into(),
            );
        }

        // 1b. depot add in local mode on its own data directory.
        if depot_on && self.args.cli {
            corpus::warm(&pkgs)?;
            flush_writeback();
            match self.depot_cli_full(Format::Pacman, &pkgs, &dir) {
                Ok((secs, kib)) => {
                    res.cli_full_secs = Cell::Val(secs);
                    res.rss_cli_kib = Cell::Val(kib as f64);
                }
                Err(e) => res.cli_full_secs = Cell::Failed(err_text(&e)),
            }
            eprintln!("  depot add full publish: {:?}", res.cli_full_secs);
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
                    self.depot_one(Format::Pacman, s, pkg, expected[i] + 1)
                } else {
                    let peer = &peers.iter().find(|(j, _)| *j == i).context("peer")?.1;
                    peer.one_more(pkg).and_then(|cost| {
                        check_listing(&peer.listed()?, expected[i] + 1, &[&pkg.name])?;
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
                                report::PACMAN.names[i]
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
            "  one more medians (ms): depot {:?}, repo-add {:?}, repo-add --sign {:?}",
            report::median(&res.one_secs[DEPOT]).map(|s| s * 1e3),
            report::median(&res.one_secs[PLAIN]).map(|s| s * 1e3),
            report::median(&res.one_secs[SIGNED]).map(|s| s * 1e3),
        );

        // 3. Both signed databases verify after the runs.
        if let Some(s) = &server {
            if let Some(kib) = proc::vm_hwm_kib(s.pid()) {
                res.rss_one_kib[DEPOT] = Cell::Val(kib as f64);
            }
            if alive[DEPOT]
                && let Err(e) = self
                    .rt
                    .block_on(s.verify_pacman_signature(&dir.join("depot-sig")))
            {
                res.one_failed[DEPOT] =
                    Some(format!("signature check after the runs: {}", err_text(&e)));
            }
        }
        if let (Some(keyring), Some((_, signed))) =
            (&keyring, peers.iter().find(|(i, _)| *i == SIGNED))
            && alive[SIGNED]
            && let Err(e) = signed.verify(keyring)
        {
            res.one_failed[SIGNED] =
                Some(format!("signature check after the runs: {}", err_text(&e)));
        }
        if let Some(s) = server {
            let _ = s.stop();
        }
        res.notes
            .push(format!("load average at end: {}", loadavg()));
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_a_database() {
        let mut tar = Vec::new();
        for (name, ver) in [("a", "1.0-1"), ("lib-x", "2:1-3")] {
            let dir = format!("{name}-{ver}");
            tar.extend(depot_testkit_db_entry(&dir));
        }
        tar.extend_from_slice(&[0u8; 1024]);
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, &tar).unwrap();
            e.finish().unwrap()
        };
        let (names, count) = listed_in_db(&gz).unwrap();
        assert_eq!(count, 2);
        assert!(names.contains("a") && names.contains("lib-x"), "{names:?}");
    }

    /// `{dir}/` and `{dir}/desc`, as a ustar pair.
    fn depot_testkit_db_entry(dir: &str) -> Vec<u8> {
        let desc = b"%NAME%\nx\n\n";
        depot_testkit::tar_archive(&[
            depot_testkit::TarMember::Dir(&format!("{dir}/")),
            depot_testkit::TarMember::File(&format!("{dir}/desc"), desc),
        ])
        .split_at(1536)
        .0
        .to_vec()
    }
}
