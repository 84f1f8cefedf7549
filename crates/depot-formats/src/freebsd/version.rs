//! pkg's version order, ported from `pkg_version_cmp` in libpkg's
//! `pkg_version.c` (Oliver Eikemeier's rules, which `pkg version -t`
//! prints): the same splitting, the same component parser, the same
//! comparisons, so that depot's "newest" is pkg's.
//!
//! # Splitting `{version}[_{revision}][,{epoch}]`
//!
//! Anything up to the last `-` is dropped (pkg also takes `name-1.0`).
//! The revision is the number after the last `_`; the epoch is the number
//! after the last `,` that comes after that `_` (or anywhere, without a
//! `_`). Both are read like C's `strtoul` (leading digits, 0 when there
//! are none). The version part ends at the `_` (or, without one, at the
//! `,`). Epoch decides first, then the version part, then the revision:
//! `2 < 1,1`, `1.0_9 < 1.1`.
//!
//! # The version part
//!
//! Equal ignoring ASCII case means equal. Otherwise it is read component
//! by component; a component is a triple (number, letter, patch level):
//!
//! - a leading number (`10`); `*` is -2 (smaller than any component:
//!   `2.* < 2pl1`) and swallows everything up to a `+`; no number is -1
//!   (`a < 0`, `10.a < 10`);
//! - then a letter, as 1 for `a` to 26 for `z`, case ignored, and any
//!   letters after it skipped (`1.d2 = 1.dev2 = 1.Development2`); none is
//!   0 (`10 < 10a < 10b`). `pl`, `alpha`, `beta`, `pre` and `rc` (as whole
//!   words) after a number start a new component (`10alpha = 10.alpha`);
//!   at the start of a component `pl` is 0 and the others are `a`, `b`,
//!   `p` and `r` (`pl11 < alpha3 < 0.1beta2 = 0.1.b2 < 0.1`);
//! - after a letter, a number is the patch level; a letter with no number
//!   after it has -1; no letter, 0 (`10a1b2 = 10a1.b2`);
//! - then separators (anything but letters, digits, `+` and `*`) are
//!   skipped, so `1.0:2003.09.16 = 1.0.2003.09.16` and `10..1 = 10.1`.
//!
//! A side that has run out (or stands at a `+`) compares as (0, 0, 0), so
//! `10 = 10.0 = 10.0.0`; when both stand at a `+` (or one at `+` and the
//! other at its end), both step over it. Numbers are read like `strtoll`
//! (clamped at `i64::MAX`).

use std::cmp::Ordering;

/// The byte at `i`, or 0 past the end (the C code reads a NUL there).
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// C's `strtoul(s + i, NULL, 10)` on an `unsigned long` of 64 bits:
/// leading white space, an optional sign (`-` negates, modulo 2^64),
/// digits; `u64::MAX` on overflow; 0 without digits.
fn strtoul(s: &[u8], mut i: usize) -> u64 {
    while matches!(at(s, i), b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
        i += 1;
    }
    let negative = match at(s, i) {
        b'-' => {
            i += 1;
            true
        }
        b'+' => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: u64 = 0;
    let mut overflow = false;
    while at(s, i).is_ascii_digit() {
        let d = u64::from(at(s, i) - b'0');
        match n.checked_mul(10).and_then(|n| n.checked_add(d)) {
            Some(v) => n = v,
            None => overflow = true,
        }
        i += 1;
    }
    if overflow {
        u64::MAX
    } else if negative {
        n.wrapping_neg()
    } else {
        n
    }
}

/// C's `strtoll` from a position holding a digit: the digits as a
/// number, clamped at `i64::MAX`, and the position after them.
fn strtoll(s: &[u8], mut i: usize) -> (i64, usize) {
    let mut n: i64 = 0;
    while at(s, i).is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(i64::from(at(s, i) - b'0'));
        i += 1;
    }
    (n, i)
}

/// Where the version part starts and ends, the epoch and the revision.
struct Split {
    start: usize,
    end: usize,
    epoch: u64,
    revision: u64,
}

fn split(s: &[u8]) -> Split {
    let start = s.iter().rposition(|&b| b == b'-').map_or(0, |i| i + 1);
    let underscore = s[start..]
        .iter()
        .rposition(|&b| b == b'_')
        .map(|i| start + i);
    let revision = underscore.map_or(0, |u| strtoul(s, u + 1));
    let comma_from = underscore.map_or(start, |u| u + 1);
    let comma = s[comma_from..]
        .iter()
        .rposition(|&b| b == b',')
        .map(|i| comma_from + i);
    let epoch = comma.map_or(0, |c| strtoul(s, c + 1));
    let end = underscore.or(comma).unwrap_or(s.len());
    Split {
        start,
        end,
        epoch,
        revision,
    }
}

/// One component: number, letter, patch level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Component {
    n: i64,
    a: i32,
    pl: i64,
}

/// The special words, and the letter value each has at the start of a
/// component.
const STAGES: [(&[u8], i32); 5] = [
    (b"pl", 0),
    (b"alpha", 1),
    (b"beta", 2),
    (b"pre", 16),
    (b"rc", 18),
];

/// Reads the component at `pos`; returns it and the position after it and
/// its trailing separators.
fn component(s: &[u8], mut pos: usize) -> (Component, usize) {
    let mut c = Component::default();
    let mut has_stage = false;
    let mut has_patchlevel: bool;

    let first = at(s, pos);
    if first.is_ascii_digit() {
        (c.n, pos) = strtoll(s, pos);
    } else if first == b'*' {
        c.n = -2;
        loop {
            pos += 1;
            if pos >= s.len() || s[pos] == b'+' {
                break;
            }
        }
    } else {
        c.n = -1;
        has_stage = true;
    }

    if at(s, pos).is_ascii_alphabetic() {
        let mut letter = i32::from(at(s, pos).to_ascii_lowercase());
        has_patchlevel = true;
        if at(s, pos + 1).is_ascii_alphabetic() {
            for (word, value) in STAGES {
                let matches = word
                    .iter()
                    .enumerate()
                    .all(|(k, w)| at(s, pos + k).to_ascii_lowercase() == *w);
                if matches && !at(s, pos + word.len()).is_ascii_alphabetic() {
                    if has_stage {
                        c.a = value;
                        pos += word.len();
                    } else {
                        // A new component starts here: this one has no
                        // letter and no patch level.
                        c.a = 0;
                        has_patchlevel = false;
                    }
                    letter = 0;
                    break;
                }
            }
        }
        if letter != 0 {
            c.a = letter - i32::from(b'a') + 1;
            loop {
                pos += 1;
                if !at(s, pos).is_ascii_alphabetic() {
                    break;
                }
            }
        }
    } else {
        c.a = 0;
        has_patchlevel = false;
    }

    if has_patchlevel {
        if at(s, pos).is_ascii_digit() {
            (c.pl, pos) = strtoll(s, pos);
        } else {
            c.pl = -1;
        }
    } else {
        c.pl = 0;
    }

    // The end of the string stops this, not a NUL byte: C never sees one
    // inside the string, and stopping at it here would loop forever.
    while let Some(&b) = s.get(pos) {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'*' {
            break;
        }
        pos += 1;
    }
    (c, pos)
}

/// Compares two pkg versions as `pkg version -t` does (see the module
/// docs).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (s1, s2) = (a.as_bytes(), b.as_bytes());
    let x = split(s1);
    let y = split(s2);
    let mut result = x.epoch.cmp(&y.epoch);
    let (mut v1, ve1, mut v2, ve2) = (x.start, x.end, y.start, y.end);
    if result == Ordering::Equal && !s1[v1..ve1].eq_ignore_ascii_case(&s2[v2..ve2]) {
        while result == Ordering::Equal && (v1 < ve1 || v2 < ve2) {
            let (mut c1, mut c2) = (Component::default(), Component::default());
            let blocked1 = !(v1 < ve1 && s1[v1] != b'+');
            let blocked2 = !(v2 < ve2 && s2[v2] != b'+');
            if !blocked1 {
                (c1, v1) = component(s1, v1);
            }
            if !blocked2 {
                (c2, v2) = component(s2, v2);
            }
            if blocked1 && blocked2 {
                if v1 < ve1 {
                    v1 += 1;
                }
                if v2 < ve2 {
                    v2 += 1;
                }
            } else {
                result =
                    c1.n.cmp(&c2.n)
                        .then(c1.a.cmp(&c2.a))
                        .then(c1.pl.cmp(&c2.pl));
            }
        }
    }
    result.then(x.revision.cmp(&y.revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_pkg() {
        let lt = |a: &str, b: &str| assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
        lt("1.0", "1.1");
        lt("1.9", "1.10");
        lt("1.0", "1.0_1");
        lt("1.0_9", "1.1");
        lt("2.0", "1.0,1");
        lt("1.0rc1", "1.0");
        lt("1.0.beta2", "1.0");
        lt("1.0", "1.0a");
        lt("1.0", "1.0.1");
        assert_eq!(compare("1.0_1", "1.0_1"), Ordering::Equal);
    }

    #[test]
    fn components_read_like_get_component() {
        let parse = |s: &str| component(s.as_bytes(), 0);
        let c = |n, a, pl| Component { n, a, pl };
        assert_eq!(parse("10a1b2"), (c(10, 1, 1), 4));
        assert_eq!(parse("b2"), (c(-1, 2, 2), 2));
        assert_eq!(parse("10alpha"), (c(10, 0, 0), 2));
        assert_eq!(parse("alpha3"), (c(-1, 1, 3), 6));
        assert_eq!(parse("pl11"), (c(-1, 0, 11), 4));
        assert_eq!(parse("*+1"), (c(-2, 0, 0), 1));
        assert_eq!(parse("Development2.x"), (c(-1, 4, 2), 13));
        assert_eq!(parse("a"), (c(-1, 1, -1), 1));
        assert_eq!(parse("1..:2"), (c(1, 0, 0), 4));
        assert_eq!(parse("99999999999999999999"), (c(i64::MAX, 0, 0), 20));
    }

    #[test]
    fn split_like_split_version() {
        fn s(v: &str) -> (&str, u64, u64) {
            let x = split(v.as_bytes());
            (&v[x.start..x.end], x.epoch, x.revision)
        }
        assert_eq!(s("1.0_2,3"), ("1.0", 3, 2));
        assert_eq!(s("1.0,3"), ("1.0", 3, 0));
        assert_eq!(s("1.0_2"), ("1.0", 0, 2));
        // The epoch is only looked for after the last '_'.
        assert_eq!(s("1.0,3_2"), ("1.0,3", 0, 2));
        assert_eq!(s("name-1.0_1"), ("1.0", 0, 1));
        assert_eq!(s("1.0_x"), ("1.0", 0, 0));
    }

    #[test]
    fn any_input_terminates() {
        for (a, b) in [("1\0a", "1"), ("\0", "\0\0"), ("*\0+", "1"), ("é.1", "1.é")] {
            let _ = compare(a, b);
        }
        assert_eq!(compare("1.\0.2", "1.2"), Ordering::Equal);
    }
}
