//! `pacman::version::vercmp` against pacman's own `vercmp` (Debian package
//! `makepkg`, built from the same libalpm as pacman): every pair of a table
//! of versions (epochs, releases, letters against digits, leading zeros,
//! separators of different lengths, trailing separators and letters), plus
//! random strings, compared in one shell run; depot must agree on each.
//!
//! Fails when `vercmp` is missing: `apt-get install makepkg`.

use depot_formats::pacman::version::vercmp;
use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

const VERSIONS: &[&str] = &[
    "1",
    "1.0",
    "1.00",
    "1.0.0",
    "1.01",
    "1.1",
    "1.10",
    "1.9",
    "01",
    "2",
    "10",
    "1a",
    "1.0a",
    "1.0b",
    "1.0.a",
    "1.0.",
    "1..0",
    "1...0",
    ".1.0",
    "1_0",
    "1+0",
    "1.0+b1",
    "1.0~rc1",
    "1.0rc1",
    "1.0.r12.gabc123",
    "1.0.r9.gabc123",
    "a",
    "b",
    "A",
    "aa",
    "xyz10",
    "xyz9",
    "20230101",
    "12345678901234567890",
    "12345678901234567891",
    "1.0-1",
    "1.0-2",
    "1.0-10",
    "1.0-1.1",
    "1.0-1.2",
    "1.0-a",
    "0:1.0-1",
    "1:1.0-1",
    "1:0.1-1",
    "2:0.1",
    ":1.0-1",
    "1:1.0",
    "10:1",
    "1-2-3",
    "1.0-",
    "-1",
    "",
];

/// Runs every pair through `vercmp` in one bash process; returns -1/0/1.
fn oracle(pairs: &[(String, String)]) -> Vec<i32> {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(
            "command -v vercmp >/dev/null || { echo 'vercmp missing: apt-get install makepkg' >&2; exit 3; }; \
             while IFS='|' read -r a b; do vercmp \"$a\" \"$b\"; done",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bash");
    {
        let mut stdin = child.stdin.take().unwrap();
        for (a, b) in pairs {
            writeln!(stdin, "{a}|{b}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "vercmp run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<i32> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(got.len(), pairs.len());
    got
}

fn check(pairs: Vec<(String, String)>) {
    let want = oracle(&pairs);
    let mut wrong = Vec::new();
    for ((a, b), w) in pairs.iter().zip(want) {
        let ours = match vercmp(a, b) {
            Ordering::Less => -1,
            Ordering::Equal => 0,
            Ordering::Greater => 1,
        };
        if ours != w.signum() {
            wrong.push(format!("vercmp {a:?} {b:?}: pacman {w}, depot {ours}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_pair_of_the_table_agrees_with_pacman() {
    let mut pairs = Vec::new();
    for a in VERSIONS {
        for b in VERSIONS {
            pairs.push((a.to_string(), b.to_string()));
        }
    }
    check(pairs);
}

#[test]
fn random_versions_agree_with_pacman() {
    // A fixed xorshift, so a failure reproduces.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    const ALPHABET: &[u8] = b"0001123456789aabzZ..._-:+";
    let mut gen_version = || {
        let len = (next() % 9) as usize;
        (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char)
            .collect::<String>()
    };
    let pairs: Vec<(String, String)> = (0..3000).map(|_| (gen_version(), gen_version())).collect();
    check(pairs);
}
