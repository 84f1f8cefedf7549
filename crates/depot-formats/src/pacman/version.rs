//! pacman versions, ordered exactly as pacman's `vercmp` orders them
//! (libalpm `version.c`: `alpm_pkg_vercmp`, `parseEVR`, `rpmvercmp`).
//!
//! A full version is `[epoch:]pkgver[-pkgrel]`, as `.PKGINFO` and the sync
//! database write it (`pkgver = 1:2.0.1-3`). [`vercmp`] splits both
//! versions into epoch, version and release and compares them in that
//! order, each with pacman's variant of rpm's `rpmvercmp`:
//!
//! - the epoch is the run of leading ASCII digits when a `:` follows it,
//!   else `0` (an empty epoch, `:1.0`, is `0` too);
//! - the release is what follows the last `-` after the epoch; a version
//!   without one is compared on epoch and version only, so `1.0` equals
//!   `1.0-5`;
//! - strings are cut into runs of ASCII digits and runs of ASCII letters;
//!   everything else separates them. Runs compare pairwise: digits
//!   numerically (leading zeros ignored, a longer number wins), letters by
//!   byte, and digits are newer than letters. Unlike rpm, the *length* of
//!   the separators between runs counts: at the first pair of runs whose
//!   separators differ in length, the version with the longer separator is
//!   newer (`1.0 < 1..0`). When all runs are equal, a version that ran out
//!   is older than one with anything left, even a lone separator, unless
//!   that remainder starts right away with a letter: `1.0 < 1.0.1`,
//!   `1.0 < 1.0.`, `1.0 < 1.0.a`, but `1.0 > 1.0a`. `~` and `^` have no
//!   special meaning.
//!
//! The oracle test (`tests/pacman_vercmp_oracle.rs`) checks every pair of a
//! table of versions against the real `vercmp`.

use std::cmp::Ordering;

/// pacman's `vercmp`: orders two full versions `[epoch:]pkgver[-pkgrel]`.
/// Works on any string (non-ASCII bytes are separators, as in pacman).
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (ea, va, ra) = parse_evr(a.as_bytes());
    let (eb, vb, rb) = parse_evr(b.as_bytes());
    rpmvercmp(ea, eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

/// libalpm's `parseEVR`: (epoch, version, release).
fn parse_evr(evr: &[u8]) -> (&[u8], &[u8], Option<&[u8]>) {
    let digits = evr.iter().take_while(|c| c.is_ascii_digit()).count();
    // The release separator is the last '-' after the epoch digits.
    let dash = evr[digits..]
        .iter()
        .rposition(|&c| c == b'-')
        .map(|i| digits + i);
    let (epoch, version_start) = if evr.get(digits) == Some(&b':') {
        let e = &evr[..digits];
        (if e.is_empty() { &b"0"[..] } else { e }, digits + 1)
    } else {
        (&b"0"[..], 0)
    };
    match dash {
        // A '-' before the ':' cannot happen: the epoch is all digits.
        Some(d) if d >= version_start => (epoch, &evr[version_start..d], Some(&evr[d + 1..])),
        _ => (epoch, &evr[version_start..], None),
    }
}

/// libalpm's `rpmvercmp` on one part (epoch, version or release).
pub fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (0usize, 0usize);
    // Where the previous segment ended (ptr1/ptr2 in the C code).
    let (mut p1, mut p2) = (0usize, 0usize);
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    while at(a, one) != 0 && at(b, two) != 0 {
        while at(a, one) != 0 && !at(a, one).is_ascii_alphanumeric() {
            one += 1;
        }
        while at(b, two) != 0 && !at(b, two).is_ascii_alphanumeric() {
            two += 1;
        }
        if at(a, one) == 0 || at(b, two) == 0 {
            break;
        }
        // Separators of different lengths: the longer one is newer.
        if one - p1 != two - p2 {
            return if one - p1 < two - p2 {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        p1 = one;
        p2 = two;
        let isnum = at(a, p1).is_ascii_digit();
        let class = |c: u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        while at(a, p1) != 0 && class(at(a, p1)) {
            p1 += 1;
        }
        while at(b, p2) != 0 && class(at(b, p2)) {
            p2 += 1;
        }
        // The second segment is of the other kind: numeric is newer.
        if two == p2 {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut s1, mut s2) = (&a[one..p1], &b[two..p2]);
        if isnum {
            while let [b'0', rest @ ..] = s1 {
                s1 = rest;
            }
            while let [b'0', rest @ ..] = s2 {
                s2 = rest;
            }
            match s1.len().cmp(&s2.len()) {
                Ordering::Equal => {}
                longer => return longer,
            }
        }
        match s1.cmp(s2) {
            Ordering::Equal => {}
            other => return other,
        }
        one = p1;
        two = p2;
    }
    let (c1, c2) = (at(a, one), at(b, two));
    if c1 == 0 && c2 == 0 {
        return Ordering::Equal;
    }
    // The final showdown: a remaining run of letters never beats the end
    // of the string.
    if (c1 == 0 && !c2.is_ascii_alphabetic()) || c1.is_ascii_alphabetic() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_evr_like_libalpm() {
        let p = |s: &str| {
            let (e, v, r) = parse_evr(s.as_bytes());
            format!(
                "{}|{}|{}",
                String::from_utf8_lossy(e),
                String::from_utf8_lossy(v),
                r.map_or("(none)".into(), |r| String::from_utf8_lossy(r).into_owned())
            )
        };
        assert_eq!(p("1.0-1"), "0|1.0|1");
        assert_eq!(p("2:1.0-1"), "2|1.0|1");
        assert_eq!(p(":1.0"), "0|1.0|(none)");
        assert_eq!(p("1.0"), "0|1.0|(none)");
        assert_eq!(p("1-2-3"), "0|1-2|3");
        assert_eq!(p("12-3"), "0|12|3");
        assert_eq!(p("1:2"), "1|2|(none)");
        assert_eq!(p("a:1-2"), "0|a:1|2");
    }

    #[test]
    fn orders_like_vercmp() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0a", Greater),
            ("1.0", "1.0.1", Less),
            ("1.0", "1..0", Less),
            ("1.0-1", "1.0-2", Less),
            ("1.0", "1.0-5", Equal),
            ("1:1.0", "2.0", Greater),
            ("1.0a", "1.0b", Less),
            ("1.0.a", "1.0.1", Less),
            ("1.0", "1.0.a", Less),
            ("1.0", "1.0.", Less),
            ("010", "10", Equal),
            ("1.10", "1.9", Greater),
        ] {
            assert_eq!(vercmp(a, b), want, "{a} vs {b}");
            assert_eq!(vercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }
}
