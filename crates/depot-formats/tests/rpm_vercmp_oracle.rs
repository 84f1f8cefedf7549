//! `rpm::version::rpmvercmp` and `compare_evr` against rpm itself: every
//! pair of a table of versions (tilde, caret, epochs, letters against
//! digits, leading zeros, separators, releases) is compared by rpm's Lua
//! `rpm.vercmp` in one `rpm --eval` run, and depot must agree on each.
//!
//! Needs `rpm` (Debian package rpm); fails when it is missing.

mod rpm_support;

use depot_formats::rpm::version::{compare_evr, rpmvercmp};
use rpm_support::run;
use std::cmp::Ordering;
use std::process::Command;

/// Plain versions (no `:` or `-`): rpm.vercmp compares them with
/// rpmvercmp, and so does depot.
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
    "001.002",
    "2",
    "10",
    "1a",
    "1.0a",
    "1.0b",
    "1.0.a",
    "a",
    "b",
    "A",
    "Z",
    "aa",
    "1.0~rc1",
    "1.0~rc2",
    "1.0~",
    "1.0~~",
    "1.0~rc1~git",
    "1.0^",
    "1.0^git1",
    "1.0^git2",
    "1.0^git1~pre",
    "1.0.1",
    "1.0.1~rc1",
    "1.0.1^post",
    "1_0",
    "1+0",
    "1.0+b1",
    "1..0",
    "1.0.",
    ".1.0",
    "2.0.0.0.1",
    "20230101",
    "12345678901234567890",
    "12345678901234567891",
    "5.2.1p1",
    "5.2.1p10",
    "5.2.1rc",
    "xyz10",
    "xyz9",
];

/// Whole `[epoch:]version-release` strings: rpm.vercmp parses them as
/// EVRs, and depot's compare_evr must agree.
const EVRS: &[&str] = &[
    "1.0-1",
    "0:1.0-1",
    "1:1.0-1",
    "2:0.1-1",
    "1:1.0-2",
    "1:1.0~rc1-1",
    "1.0-1.fc40",
    "1.0-1.el9_2",
    "1.0-10",
    "1.0-9",
    "1.0^git1-1",
    "10:1-1",
    "3:1.2~rc1-4",
];

fn lua_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("[[{s}]]"))
        .collect::<Vec<_>>()
        .join(",")
}

/// rpm's verdicts for every ordered pair of `items`, in row-major order.
fn rpm_verdicts(items: &[&str]) -> Vec<Ordering> {
    for s in items {
        assert!(!s.contains("]]"), "{s} breaks the Lua long string");
    }
    let lua = format!(
        "%{{lua: local v = {{{}}}; local out = {{}}; \
         for i = 1, #v do for j = 1, #v do out[#out + 1] = tostring(rpm.vercmp(v[i], v[j])) end end; \
         print(table.concat(out, ' '))}}",
        lua_list(items)
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = run(
        Command::new("rpm")
            .env("HOME", tmp.path())
            .arg("--eval")
            .arg(lua),
        "rpm",
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let verdicts: Vec<Ordering> = text
        .split_whitespace()
        .map(|w| match w {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm printed {other:?}"),
        })
        .collect();
    assert_eq!(verdicts.len(), items.len() * items.len(), "{text}");
    verdicts
}

fn check(items: &[&str], ours: fn(&str, &str) -> Ordering) {
    let verdicts = rpm_verdicts(items);
    let mut wrong = Vec::new();
    for (i, a) in items.iter().enumerate() {
        for (j, b) in items.iter().enumerate() {
            let want = verdicts[i * items.len() + j];
            let got = ours(a, b);
            if got != want {
                wrong.push(format!("{a:?} vs {b:?}: rpm {want:?}, depot {got:?}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rpmvercmp_agrees_with_rpm() {
    check(VERSIONS, rpmvercmp);
}

#[test]
fn compare_evr_agrees_with_rpm() {
    check(EVRS, compare_evr);
}
