//! Running a child process with a deadline and reading its peak RSS.
//!
//! The standard library does not expose `rusage`, so this one module talks to the kernel
//! directly: `waitid(WNOWAIT)` to learn that the child has exited while it is still a
//! zombie (its pid cannot be reused yet, so the watchdog can never kill a stranger), then
//! `wait4` to reap it and read `ru_maxrss`. On Linux that value is the larger of the child's
//! own peak and the peaks of the descendants it reaped itself (for example `gpg` under
//! `aptly`); daemons it leaves running (`gpg-agent`) are not included.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How one measured child process ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// From just before `spawn` to the moment the kernel reported the exit.
    pub wall: Duration,
    /// Peak resident set size in KiB (`ru_maxrss`).
    pub maxrss_kib: u64,
    /// Exit status in words, for error messages.
    pub status: String,
    pub success: bool,
    pub timed_out: bool,
}

/// Spawns `cmd` with stdout and stderr appended to `log`, waits at most `timeout` (then
/// SIGKILL), and returns wall time and peak RSS.
pub fn run(cmd: &mut Command, timeout: Duration, log: &Path) -> Result<Outcome> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id();
    let shared: Arc<Mutex<(Child, bool)>> = Arc::new(Mutex::new((child, false)));
    let (tx, rx) = mpsc::channel::<()>();
    let watchdog = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(timeout) {
                let mut guard = shared.lock().unwrap();
                if !guard.1 {
                    let _ = guard.0.kill();
                    return true;
                }
            }
            false
        })
    };
    wait_exited(pid)?;
    let wall = start.elapsed();
    shared.lock().unwrap().1 = true;
    let _ = tx.send(());
    let timed_out = watchdog.join().unwrap_or(false);
    let (success, status, maxrss_kib) = reap(pid)?;
    Ok(Outcome {
        wall,
        maxrss_kib,
        status,
        success,
        timed_out,
    })
}

/// Like [`run`], but an unsuccessful exit is an error that quotes the end of the log.
pub fn run_ok(cmd: &mut Command, timeout: Duration, log: &Path) -> Result<Outcome> {
    let what = format!("{cmd:?}");
    let outcome = run(cmd, timeout, log)?;
    if outcome.timed_out {
        bail!(
            "timed out after {:.0} s: {}\n{}",
            timeout.as_secs_f64(),
            short(&what),
            tail(log)
        );
    }
    if !outcome.success {
        bail!("{}: {}\n{}", outcome.status, short(&what), tail(log));
    }
    Ok(outcome)
}

/// Kills a long-running child (a server) and returns its peak RSS in KiB.
pub fn kill_and_reap(child: &mut Child) -> Result<u64> {
    let pid = child.id();
    let _ = child.kill();
    let (_, _, maxrss) = reap(pid)?;
    Ok(maxrss)
}

fn wait_exited(pid: u32) -> Result<()> {
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills in; all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; WNOWAIT leaves the zombie in place.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("waitid");
        }
    }
}

fn reap(pid: u32) -> Result<(bool, String, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data that wait4 fills in; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers refer to live, writable locals of the right types.
        let rc = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if rc == pid as libc::pid_t {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4");
        }
    }
    let (success, words) = if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (code == 0, format!("exit status {code}"))
    } else if libc::WIFSIGNALED(status) {
        (
            false,
            format!("killed by signal {}", libc::WTERMSIG(status)),
        )
    } else {
        (false, format!("wait status {status:#x}"))
    };
    Ok((success, words, usage.ru_maxrss.max(0) as u64))
}

/// `VmHWM` (peak RSS since start or since the last reset) of a live process, in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmHWM:")
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    })
}

/// Resets `VmHWM` of a live process to its current RSS (Linux >= 4.0, `clear_refs` value 5).
pub fn reset_hwm(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// User + system CPU time of a live process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state is the 3rd field, utime the 14th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(15);
    lines[from..].join("\n")
}

fn short(s: &str) -> String {
    if s.len() > 300 {
        format!("{}...", &s[..s.floor_char_boundary(300)])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        (dir, log)
    }

    #[test]
    fn reports_exit_status() {
        let (_d, log) = log();
        let o = run(
            Command::new("sh").args(["-c", "echo hi; exit 3"]),
            Duration::from_secs(10),
            &log,
        )
        .unwrap();
        assert!(!o.success);
        assert!(!o.timed_out);
        assert_eq!(o.status, "exit status 3");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "hi\n");
        assert!(run_ok(&mut Command::new("false"), Duration::from_secs(10), &log).is_err());
    }

    #[test]
    fn kills_at_the_deadline() {
        let (_d, log) = log();
        let o = run(
            Command::new("sleep").arg("30"),
            Duration::from_millis(200),
            &log,
        )
        .unwrap();
        assert!(o.timed_out);
        assert!(!o.success);
        assert!(o.wall < Duration::from_secs(5), "{:?}", o.wall);
    }

    #[test]
    fn measures_peak_rss_of_the_child() {
        let (_d, log) = log();
        // dd allocates and fills one 64 MiB buffer.
        let o = run_ok(
            Command::new("dd").args(["if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]),
            Duration::from_secs(30),
            &log,
        )
        .unwrap();
        assert!(o.maxrss_kib >= 64 * 1024, "{} KiB", o.maxrss_kib);
        assert!(o.maxrss_kib < 200 * 1024, "{} KiB", o.maxrss_kib);
    }

    #[test]
    fn reads_and_resets_own_high_water_mark() {
        let me = std::process::id();
        assert!(vm_hwm_kib(me).unwrap() > 0);
        assert!(reset_hwm(me));
        assert!(cpu_ticks(me).is_some());
    }
}
