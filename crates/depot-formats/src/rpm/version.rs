//! RPM versions, validated and ordered exactly as rpm does
//! (`build/parsePreamble.c` `rpmCharCheck`, `rpmio/rpmvercmp.c`
//! `rpmvercmp`, `lib/rpmvercmp.c` `rpmVersionCompare`).
//!
//! A package is identified by `name-[epoch:]version-release.arch`:
//!
//! - `epoch`: an unsigned integer, absent means 0.
//! - `version` and `release`: ASCII letters and digits and `._+%{}~^`,
//!   never `-` (it separates them), never `..` and never empty.
//!
//! [`rpmvercmp`] compares two version (or two release) strings: both are
//! cut into runs of ASCII digits and runs of ASCII letters, everything else
//! being a separator. Runs compare pairwise: digits numerically (leading
//! zeros ignored, a longer number wins), letters by byte, and a run of
//! digits is newer than a run of letters. `~` sorts before anything, even
//! the end of the string (`1.0~rc1 < 1.0`); `^` sorts after the end of the
//! string but before anything else (`1.0 < 1.0^git1 < 1.0.1`). When all runs
//! are equal, the string with something left wins, and strings that differ
//! only in their separators are equal (`1.0 == 1_0`, `1.01 == 1.1`).
//!
//! [`compare_evr`] compares whole `[epoch:]version[-release]` strings as
//! [`super::RpmInfo::evr`] renders them: epoch numerically, then version,
//! then release, each with [`rpmvercmp`].

use std::cmp::Ordering;

/// rpm's `rpmvercmp`: orders two version (or release) strings. See the
/// module docs for the rules; works on any bytes (non-ASCII bytes are
/// separators, as in rpm).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let is_sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    while i < a.len() || j < b.len() {
        while i < a.len() && is_sep(a[i]) {
            i += 1;
        }
        while j < b.len() && is_sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());

        // Tilde sorts before everything, even the end of the string.
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        // Caret sorts after the end of the string, before anything else.
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }

        if ca.is_none() || cb.is_none() {
            break;
        }

        let numeric = a[i].is_ascii_digit();
        let class = |c: u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let end_a = i + a[i..].iter().take_while(|&&c| class(c)).count();
        let end_b = j + b[j..].iter().take_while(|&&c| class(c)).count();
        let (mut seg_a, mut seg_b) = (&a[i..end_a], &b[j..end_b]);

        // Segments of different kinds: the numeric one is newer.
        if seg_b.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }

        if numeric {
            while let [b'0', rest @ ..] = seg_a {
                seg_a = rest;
            }
            while let [b'0', rest @ ..] = seg_b {
                seg_b = rest;
            }
            match seg_a.len().cmp(&seg_b.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match seg_a.cmp(seg_b) {
            Ordering::Equal => {}
            other => return other,
        }
        i = end_a;
        j = end_b;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Splits `[epoch:]version[-release]` into its parts. A missing or
/// non-numeric epoch is 0 (a non-numeric one stays in the version, as
/// rpm's `parseEVR` would keep it); the release is everything after the
/// last `-`, or empty.
pub fn split_evr(evr: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match evr.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            (e.parse::<u64>().unwrap_or(u64::MAX), rest)
        }
        Some(("", rest)) => (0, rest),
        _ => (0, evr),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v, r),
        None => (epoch, rest, ""),
    }
}

/// Orders two `[epoch:]version[-release]` strings as rpm orders packages:
/// epoch numerically, then version, then release with [`rpmvercmp`].
/// `1.0-1 == 0:1.0-1`, `1:0.1-1 > 9.9-9`.
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| rpmvercmp(ra, rb))
}

/// Checks a package name with rpmbuild's rules: ASCII letters, digits and
/// `.-_+%{}`, starting with a letter, digit, `_` or `%`, no `..`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let first = name.bytes().next().ok_or("is empty")?;
    if !(first.is_ascii_alphanumeric() || b"_%".contains(&first)) {
        return Err(format!(
            "must start with a letter, a digit, '_' or '%', not {:?}",
            first as char
        ));
    }
    check_chars(name, b".-_+%{}")
}

/// Checks a version or a release with rpmbuild's rules: ASCII letters,
/// digits and `._+%{}~^` (so no `-`, no whitespace), no `..`, not empty.
pub fn validate_version(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("is empty".into());
    }
    check_chars(v, b"._+%{}~^")
}

/// Checks an architecture: ASCII letters, digits and `_` (`x86_64`,
/// `noarch`, `aarch64`, `ppc64le`, `src`).
pub fn validate_arch(arch: &str) -> Result<(), String> {
    if arch.is_empty() {
        return Err("is empty".into());
    }
    check_chars(arch, b"_")
}

fn check_chars(s: &str, allowed: &[u8]) -> Result<(), String> {
    if let Some(c) = s
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || (c.is_ascii() && allowed.contains(&(c as u8)))))
    {
        let allowed: String = allowed.iter().map(|&b| b as char).collect();
        return Err(format!(
            "character {c:?} is not allowed (only ASCII letters, digits and {allowed})"
        ));
    }
    if s.contains("..") {
        return Err("contains '..'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn rpmvercmp_basics() {
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("1.0^git1~pre", "1.0^git1", Less),
            ("010", "10", Equal),
            ("1.01", "1.1", Equal),
            ("1_0", "1.0", Equal),
            ("a", "1", Less),
            ("1", "a", Greater),
            ("12345678901234567890", "9", Greater),
            ("", "1", Less),
            ("abc", "abd", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn evr_ordering() {
        assert_eq!(compare_evr("1:1.0-1", "2.0-1"), Greater);
        assert_eq!(compare_evr("0:1.0-1", "1.0-1"), Equal);
        assert_eq!(compare_evr("1.0-2", "1.0-10"), Less);
        assert_eq!(compare_evr("1.0", "1.0-1"), Less);
        assert_eq!(split_evr("3:1.2~rc1-4"), (3, "1.2~rc1", "4"));
        assert_eq!(split_evr("1.2"), (0, "1.2", ""));
    }

    #[test]
    fn validation() {
        assert!(validate_name("hello-world_2+x.y").is_ok());
        assert!(validate_name("_private").is_ok());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a..b").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a<b").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_version("1.2~rc1^git3+x_y").is_ok());
        assert!(validate_version("1-2").is_err());
        assert!(validate_version("1\n").is_err());
        assert!(validate_version("é").is_err());
        assert!(validate_arch("x86_64").is_ok());
        assert!(validate_arch("x86-64").is_err());
    }
}
