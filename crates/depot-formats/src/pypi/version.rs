//! PEP 440 versions: parsing, the normalized form and the order pip uses
//! (the `packaging` library's `Version`).
//!
//! ```text
//! [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]
//!  │   │      │          │       │      └ local label: [a-z0-9]+ segments, sorted after the
//!  │   │      │          │       │        public version it decorates
//!  │   │      │          │       └ developmental release: before everything else of its release
//!  │   │      │          └ post-release: after its release
//!  │   │      └ pre-release: alpha < beta < release candidate < the release
//!  │   └ release segments, compared numerically with trailing zeros ignored (1.0 == 1.0.0)
//!  └ epoch, default 0
//! ```
//!
//! Input is case-insensitive and takes the spellings PEP 440 allows:
//! a leading `v`, `alpha`/`beta`/`c`/`pre`/`preview` for `a`/`b`/`rc`,
//! `-`, `_` or `.` (or nothing) before a pre, post or dev label,
//! `rev`/`r` for `post`, an implicit number 0, `1.0-1` for `1.0.post1`,
//! `-`/`_` as local separators, and surrounding whitespace. Anything
//! else (a "legacy" version such as `2004d` or `1.0-SNAPSHOT`) is refused:
//! pip 22 and later do not install them either.

use std::cmp::Ordering;
use std::fmt;

/// A parsed PEP 440 version. `Eq` and `Ord` are PEP 440's, so `1.0` and
/// `1.0.0` are equal (as `packaging.version.Version` says) although
/// [`fmt::Display`] keeps each one's release segments.
#[derive(Debug, Clone)]
pub struct Version {
    pub epoch: u64,
    pub release: Vec<u64>,
    pub pre: Option<(PreKind, u64)>,
    pub post: Option<u64>,
    pub dev: Option<u64>,
    /// Lowercase segments of the local label, `.`-separated when written.
    pub local: Vec<LocalSegment>,
}

/// The pre-release kinds, in their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreKind {
    Alpha,
    Beta,
    Rc,
}

/// One segment of a local label: numbers sort above strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalSegment {
    Num(u64),
    Str(String),
}

impl Ord for LocalSegment {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (LocalSegment::Num(a), LocalSegment::Num(b)) => a.cmp(b),
            (LocalSegment::Str(a), LocalSegment::Str(b)) => a.cmp(b),
            (LocalSegment::Num(_), LocalSegment::Str(_)) => Ordering::Greater,
            (LocalSegment::Str(_), LocalSegment::Num(_)) => Ordering::Less,
        }
    }
}

impl PartialOrd for LocalSegment {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a PEP 440 version (the message names the place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidVersion(pub String);

impl fmt::Display for InvalidVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn number(&mut self) -> Option<u64> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        if start == self.at {
            return None;
        }
        // Digits only, so the parse fails only on overflow; such a
        // segment is refused rather than wrapped.
        std::str::from_utf8(&self.s[start..self.at])
            .ok()?
            .parse()
            .ok()
    }

    /// Consumes one of `words` (longest first), returning its index.
    fn word(&mut self, words: &[&str]) -> Option<usize> {
        let rest = &self.s[self.at..];
        let (i, w) = words
            .iter()
            .enumerate()
            .filter(|(_, w)| rest.starts_with(w.as_bytes()))
            .max_by_key(|(_, w)| w.len())?;
        self.at += w.len();
        Some(i)
    }

    fn separator(&mut self) -> bool {
        if matches!(self.peek(), Some(b'.' | b'-' | b'_')) {
            self.at += 1;
            true
        } else {
            false
        }
    }
}

impl Version {
    /// Parses a PEP 440 version; see the module docs for the accepted
    /// spellings.
    pub fn parse(input: &str) -> Result<Version, InvalidVersion> {
        let bad = |why: &str| InvalidVersion(format!("'{input}' is not a PEP 440 version: {why}"));
        let lower = input.trim().to_ascii_lowercase();
        if lower.is_empty() {
            return Err(bad("it is empty"));
        }
        if lower.len() > 256 {
            return Err(bad("it is longer than 256 characters"));
        }
        let mut c = Cursor {
            s: lower.as_bytes(),
            at: 0,
        };
        if c.peek() == Some(b'v') {
            c.at += 1;
        }
        let first = c
            .number()
            .ok_or_else(|| bad("it does not start with a number"))?;
        let (epoch, first) = if c.peek() == Some(b'!') {
            c.at += 1;
            (
                first,
                c.number()
                    .ok_or_else(|| bad("no release number after the epoch"))?,
            )
        } else {
            (0, first)
        };
        let mut release = vec![first];
        while c.peek() == Some(b'.') && c.s.get(c.at + 1).is_some_and(|b| b.is_ascii_digit()) {
            c.at += 1;
            release.push(
                c.number()
                    .ok_or_else(|| bad("a release segment is too large"))?,
            );
        }
        let mut v = Version {
            epoch,
            release,
            pre: None,
            post: None,
            dev: None,
            local: Vec::new(),
        };
        // Pre-release.
        let save = c.at;
        c.separator();
        if let Some(i) = c.word(&["a", "alpha", "b", "beta", "c", "rc", "pre", "preview"]) {
            let kind = [
                PreKind::Alpha,
                PreKind::Alpha,
                PreKind::Beta,
                PreKind::Beta,
                PreKind::Rc,
                PreKind::Rc,
                PreKind::Rc,
                PreKind::Rc,
            ][i];
            v.pre = Some((kind, optional_number(&mut c)));
        } else {
            c.at = save;
        }
        // Post-release: `-N` (implicit), or a post/rev/r label.
        let save = c.at;
        if c.peek() == Some(b'-') && c.s.get(c.at + 1).is_some_and(|b| b.is_ascii_digit()) {
            c.at += 1;
            v.post = Some(
                c.number()
                    .ok_or_else(|| bad("a post number is too large"))?,
            );
        } else {
            c.separator();
            if c.word(&["post", "rev", "r"]).is_some() {
                v.post = Some(optional_number(&mut c));
            } else {
                c.at = save;
            }
        }
        // Developmental release.
        let save = c.at;
        c.separator();
        if c.word(&["dev"]).is_some() {
            v.dev = Some(optional_number(&mut c));
        } else {
            c.at = save;
        }
        // Local label.
        if c.peek() == Some(b'+') {
            c.at += 1;
            let rest = std::str::from_utf8(&c.s[c.at..]).expect("ASCII-lowered input is UTF-8");
            for seg in rest.split(['.', '-', '_']) {
                if seg.is_empty() || !seg.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(bad("the local label after '+' must be letters and digits \
                                    separated by '.', '-' or '_'"));
                }
                v.local.push(match seg.bytes().all(|b| b.is_ascii_digit()) {
                    true => seg
                        .parse()
                        .map(LocalSegment::Num)
                        .map_err(|_| bad("a local segment is too large"))?,
                    false => LocalSegment::Str(seg.to_string()),
                });
            }
            c.at = c.s.len();
        }
        if c.at != c.s.len() {
            return Err(bad(&format!(
                "unexpected '{}'",
                String::from_utf8_lossy(&c.s[c.at..])
            )));
        }
        Ok(v)
    }

    /// True for a pre-release or a developmental release.
    pub fn is_prerelease(&self) -> bool {
        self.pre.is_some() || self.dev.is_some()
    }

    /// The release without trailing zeros: what comparison uses.
    fn trimmed_release(&self) -> &[u64] {
        let mut r = &self.release[..];
        while let [rest @ .., 0] = r {
            r = rest;
        }
        r
    }

    /// packaging's comparison key, field by field: a dev release with no
    /// pre and no post sorts before every pre-release of its release; a
    /// missing pre sorts after every pre; a missing post before every
    /// post; a missing dev after every dev; a missing local before any.
    fn key_cmp(&self, other: &Version) -> Ordering {
        fn pre_key(v: &Version) -> (i8, Option<(PreKind, u64)>) {
            match v.pre {
                None if v.post.is_none() && v.dev.is_some() => (-1, None),
                None => (1, None),
                Some(p) => (0, Some(p)),
            }
        }
        fn post_key(v: &Version) -> (i8, u64) {
            v.post.map_or((-1, 0), |p| (0, p))
        }
        fn dev_key(v: &Version) -> (i8, u64) {
            v.dev.map_or((1, 0), |d| (0, d))
        }
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| self.trimmed_release().cmp(other.trimmed_release()))
            .then_with(|| pre_key(self).cmp(&pre_key(other)))
            .then_with(|| post_key(self).cmp(&post_key(other)))
            .then_with(|| dev_key(self).cmp(&dev_key(other)))
            .then_with(|| self.local.cmp(&other.local))
    }
}

fn optional_number(c: &mut Cursor<'_>) -> u64 {
    let save = c.at;
    c.separator();
    match c.number() {
        Some(n) => n,
        None => {
            c.at = save;
            0
        }
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.key_cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key_cmp(other)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The normalized form (`str(packaging.version.Version(s))`):
/// `1.0-RC.1` is `1.0rc1`, `v1!2-3` is `1!2.post3`.
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.epoch != 0 {
            write!(f, "{}!", self.epoch)?;
        }
        let release: Vec<String> = self.release.iter().map(u64::to_string).collect();
        f.write_str(&release.join("."))?;
        if let Some((kind, n)) = self.pre {
            let label = match kind {
                PreKind::Alpha => "a",
                PreKind::Beta => "b",
                PreKind::Rc => "rc",
            };
            write!(f, "{label}{n}")?;
        }
        if let Some(n) = self.post {
            write!(f, ".post{n}")?;
        }
        if let Some(n) = self.dev {
            write!(f, ".dev{n}")?;
        }
        if !self.local.is_empty() {
            let local: Vec<String> = self
                .local
                .iter()
                .map(|s| match s {
                    LocalSegment::Num(n) => n.to_string(),
                    LocalSegment::Str(s) => s.clone(),
                })
                .collect();
            write!(f, "+{}", local.join("."))?;
        }
        Ok(())
    }
}

/// Orders two version strings as pip does; a string that is not a PEP
/// 440 version sorts before every valid one (and such strings among
/// themselves by bytes), so a listing never fails on one.
pub fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}
