//! Debian version numbers, validated and ordered exactly as dpkg does
//! (`lib/dpkg/parsehelp.c` `parseversion`, `lib/dpkg/version.c`
//! `dpkg_version_compare`).
//!
//! A version is `[epoch:]upstream_version[-debian_revision]`:
//!
//! - `epoch`: optional, decimal digits (at most `i32::MAX`); absent means 0.
//!   It is everything before the first `:`.
//! - `debian_revision`: optional, everything after the last `-`;
//!   `[A-Za-z0-9.+~]+`. Absent is the same as `0` for comparison.
//! - `upstream_version`: what remains; must start with a digit and holds
//!   `[A-Za-z0-9.+~-:]` (a `-` only when there is a revision, a `:` only
//!   when there is an epoch, since those split the string first).
//!
//! Comparison is epoch numerically, then upstream, then revision, the last
//! two with dpkg's `verrevcmp`: alternate runs of non-digits (compared
//! character by character, where `~` sorts before everything, even the end
//! of the string, and letters sort before all other characters) and runs of
//! digits (compared numerically). Hence `1.0~rc1 < 1.0 < 1.0a < 1.0+b1 <
//! 1.0.1` and `1.0 == 1.00 == 1.0-0 == 0:1.0`.

use std::cmp::Ordering;
use std::fmt;

/// Checks `v` against dpkg's syntax rules (those `dpkg` reports as errors
/// plus those it reports as warnings: a depot repository only takes
/// versions every tool accepts). The error says what is wrong.
pub fn validate(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("version string is empty".into());
    }
    if let Some(c) = v.chars().find(|c| c.is_whitespace()) {
        return Err(if c == ' ' {
            "version string has embedded spaces".into()
        } else {
            format!("version string contains whitespace {c:?}")
        });
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (Some(e), rest),
        None => (None, v),
    };
    if let Some(e) = epoch {
        if e.is_empty() {
            return Err("epoch in version is empty".into());
        }
        if !e.bytes().all(|b| b.is_ascii_digit()) {
            return Err("epoch in version is not a number".into());
        }
        if e.parse::<i32>().is_err() {
            return Err("epoch in version is too big".into());
        }
        if rest.is_empty() {
            return Err("nothing after colon in version number".into());
        }
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if revision == Some("") {
        return Err("revision number is empty".into());
    }
    if upstream.is_empty() {
        return Err("version number is empty".into());
    }
    if !upstream.as_bytes()[0].is_ascii_digit() {
        return Err("version number does not start with digit".into());
    }
    if let Some(c) = upstream
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".-+~:".contains(c)))
    {
        return Err(format!("invalid character {c:?} in version number"));
    }
    if let Some(c) = revision
        .unwrap_or("")
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ".+~".contains(c)))
    {
        return Err(format!("invalid character {c:?} in revision number"));
    }
    Ok(())
}

/// Compares two versions the way `dpkg --compare-versions` does.
///
/// Both should be valid (see [`validate`]); anything else is still ordered
/// totally and without panicking (a malformed epoch counts as part of the
/// upstream version), but that order means nothing to dpkg.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| verrevcmp(ua, ub))
        .then_with(|| verrevcmp(ra, rb))
}

/// (epoch, upstream, revision); a missing epoch is 0, a missing revision "".
fn split(v: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            // Saturate rather than fail: valid epochs fit in i32 anyway.
            (e.parse::<u64>().unwrap_or(u64::MAX), rest)
        }
        _ => (0, v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// dpkg's character weight in the non-digit part: `~` below the end of the
/// string, the end and digits at 0, letters by their code, everything else
/// after all letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`, over bytes.
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        // Non-digit run, character by character.
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let ac = order(a.get(i).copied());
            let bc = order(b.get(j).copied());
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // Digit run, numerically: skip leading zeros, then the longer run
        // wins, else the first differing digit decides.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

/// A validated Debian version, ordered by [`compare`]. Equality is dpkg's
/// too: `1.0`, `1.00`, `0:1.0` and `1.0-0` are all equal (and display as
/// written).
#[derive(Clone)]
pub struct DebVersion {
    text: String,
    epoch: u32,
    /// Byte ranges of upstream and revision in `text`.
    upstream: (usize, usize),
    revision: Option<(usize, usize)>,
}

impl DebVersion {
    pub fn parse(v: &str) -> Result<Self, String> {
        validate(v)?;
        let (epoch, start) = match v.split_once(':') {
            Some((e, _)) => (e.parse::<u32>().map_err(|e| e.to_string())?, e.len() + 1),
            None => (0, 0),
        };
        let (upstream, revision) = match v[start..].rfind('-') {
            Some(k) => ((start, start + k), Some((start + k + 1, v.len()))),
            None => ((start, v.len()), None),
        };
        Ok(DebVersion {
            text: v.to_string(),
            epoch,
            upstream,
            revision,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The epoch (0 when absent).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream.0..self.upstream.1]
    }
    /// The Debian revision, if the version has one.
    pub fn revision(&self) -> Option<&str> {
        self.revision.map(|(s, e)| &self.text[s..e])
    }
    /// The version as it appears in a .deb file name: without the epoch.
    pub fn without_epoch(&self) -> &str {
        &self.text[self.upstream.0..]
    }
}

impl Ord for DebVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream(), other.upstream()))
            .then_with(|| {
                verrevcmp(
                    self.revision().unwrap_or(""),
                    other.revision().unwrap_or(""),
                )
            })
    }
}
impl PartialOrd for DebVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for DebVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for DebVersion {}

impl fmt::Display for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
impl fmt::Debug for DebVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DebVersion({:?})", self.text)
    }
}
impl std::str::FromStr for DebVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        DebVersion::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn known_orderings() {
        // From dpkg's t/version.t and the Debian policy manual.
        let cases: &[(&str, &str, Ordering)] = &[
            ("1.0~rc1-1", "1.0-1", Less),
            ("2:1.0", "1:9.9", Greater),
            ("1.0-1+b1", "1.0-1", Greater),
            ("1.0", "1.0a", Less),
            ("1.0~", "1.0", Less),
            ("1.0.10", "1.0.9", Greater),
            ("1:0", "9.9", Greater),
            ("1.0", "1.0", Equal),
            ("1.0", "1.00", Equal),
            ("0:1.0", "1.0", Equal),
            ("1.0-0", "1.0", Equal),
            ("1.0~~", "1.0~", Less),
            ("1.0~~a", "1.0~~", Greater),
            ("1.0~", "1.0~a", Less),
            ("1.0a", "1.0+", Less),
            ("1.0+", "1.0.", Less),
            ("1.0-1", "1.0-1~bpo1", Greater),
            ("1.0-1", "1.0-2", Less),
            ("1.2.3", "1.2.3-0ubuntu1", Less),
            ("0.9", "1.0", Less),
            ("1.0.0", "1.0", Greater),
            ("1.0", "1.0.0~", Less),
            ("2.30-1", "2.4-1", Greater),
            ("1:1.0-1", "1.0-99", Greater),
            ("10", "9", Greater),
            ("1a", "1b", Less),
            ("1A", "1a", Less),
            ("1.0-a", "1.0-A", Greater),
            ("000", "0", Equal),
            ("1.0-1ubuntu1", "1.0-1", Greater),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.0.3-3", "1.0-1", Greater),
            ("1.3", "1.2.2-2", Greater),
            ("1.3", "1.2.2", Greater),
            ("0-pre", "0-pre", Equal),
            ("0-pre", "0-pree", Less),
            ("1.1.6r2-2", "1.1.6r-1", Greater),
            ("2.6b2-1", "2.6b-2", Greater),
            ("98.1p5-1", "98.1-pre2-b6-2", Less),
            ("0.4a6-2", "0.4-1", Greater),
            ("1:3.0.5+dfsg-1", "1:3.0.5-1", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), *want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn validate_accepts_real_versions() {
        for v in [
            "1.0",
            "1:2.10-3+b1",
            "2.36.1-8+deb11u1",
            "1.0~rc1-1",
            "0.0.0+git20240101.abcdef-1~bpo12+1",
            "2:1.2:3-4",
            "1.0-1-1",
            "9",
            "2147483647:1",
            "1.0+really0.9-1",
            "1.0A",
        ] {
            assert_eq!(validate(v), Ok(()), "{v}");
        }
    }

    #[test]
    fn validate_rejects_with_dpkgs_reasons() {
        for (v, why) in [
            ("", "empty"),
            ("1.0 beta", "embedded spaces"),
            ("1.0\n", "whitespace"),
            (":1.0", "epoch in version is empty"),
            ("a:1.0", "not a number"),
            ("-1:1.0", "not a number"),
            ("2147483648:1.0", "too big"),
            ("1:", "nothing after colon"),
            ("1.0-", "revision number is empty"),
            ("-1", "version number is empty"),
            ("1:-1", "version number is empty"),
            ("a1.0", "does not start with digit"),
            ("~1", "does not start with digit"),
            ("1.0_1", "invalid character '_' in version"),
            ("1:1.0@", "invalid character '@' in version"),
            ("1.0-1_1", "invalid character '_' in revision"),
            ("1:1.0-1:1", "invalid character ':' in revision"),
            ("1.0:1", "epoch in version is not a number"),
            ("1.0ü", "invalid character"),
        ] {
            let err = validate(v).expect_err(v);
            assert!(err.contains(why), "{v:?}: {err:?} lacks {why:?}");
        }
    }

    #[test]
    fn deb_version_parts_and_ord() {
        let v = DebVersion::parse("1:2.10-3+b1").unwrap();
        assert_eq!(v.epoch(), 1);
        assert_eq!(v.upstream(), "2.10");
        assert_eq!(v.revision(), Some("3+b1"));
        assert_eq!(v.without_epoch(), "2.10-3+b1");
        assert_eq!(v.to_string(), "1:2.10-3+b1");
        let w = DebVersion::parse("2.10-1-2").unwrap();
        assert_eq!(
            (w.epoch(), w.upstream(), w.revision()),
            (0, "2.10-1", Some("2"))
        );

        let mut vs: Vec<DebVersion> = ["1.0", "1.0~rc1", "1:0.1", "1.0+b1", "1.0-1", "0.9"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        vs.sort();
        let sorted: Vec<&str> = vs.iter().map(DebVersion::as_str).collect();
        assert_eq!(
            sorted,
            ["0.9", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.1"]
        );
        assert_eq!(
            DebVersion::parse("1.0").unwrap(),
            DebVersion::parse("0:1.00-0").unwrap()
        );
        assert!(DebVersion::parse("x").is_err());
    }

    #[test]
    fn compare_is_total_on_garbage() {
        // Never panics, antisymmetric even on invalid input.
        let junk = [
            "",
            ":",
            "a:b",
            "-",
            "1:",
            "~",
            "~~-~",
            "99999999999999999999:1",
            "é",
        ];
        for a in junk {
            for b in junk {
                assert_eq!(compare(a, b), compare(b, a).reverse(), "{a:?} {b:?}");
            }
        }
    }
}
