//! An apt repository's `Release` file (the unsigned form of `InRelease`).
//!
//! # Layout
//!
//! `dists/DIST/Release` is one deb822 stanza describing the distribution and
//! listing every index file under `dists/DIST/` with its size and digests,
//! one section per hash, in the form Debian's archive uses:
//!
//! ```text
//! Origin: depot
//! Label: depot
//! Suite: stable
//! Codename: stable
//! Date: Sun, 22 Nov 2026 03:04:48 UTC
//! Architectures: amd64 arm64
//! Components: main
//! Description: packages of depot
//! Acquire-By-Hash: yes
//! MD5Sum:
//!  0c6c58e7bfa4ec1e2b9b1b2d1b8c9a44              1234 main/binary-amd64/Packages
//! SHA1:
//!  ...
//! SHA256:
//!  <64 hex> <size right-aligned in 16 columns> <path relative to dists/DIST/>
//! SHA512:
//!  ...
//! ```
//!
//! `Acquire-By-Hash: yes` tells apt it may fetch each index as
//! `dists/DIST/COMP/binary-ARCH/by-hash/SHA256/<hex>`, so a client never
//! mixes a new Release with an old index. `InRelease` is this text
//! clear-signed; `Release.gpg` a detached signature of it.

use crate::FormatError;
use crate::deb822;
use depot_core::{Hashes, Timestamp};

/// The descriptive fields of a Release file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseMeta {
    pub origin: String,
    pub label: String,
    pub suite: String,
    pub codename: String,
    pub date: Timestamp,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub description: String,
}

/// One index file listed in a Release file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseEntry<'a> {
    /// Relative to `dists/DIST/`, e.g. `main/binary-amd64/Packages.gz`.
    pub path: &'a str,
    pub size: u64,
    pub hashes: &'a Hashes,
}

/// Renders the Release text: `Origin`, `Label`, `Suite`, `Codename`,
/// `Date`, `Architectures`, `Components`, `Description`, `Acquire-By-Hash:
/// yes`, then the `MD5Sum`, `SHA1`, `SHA256` and `SHA512` sections with
/// `entries` sorted by path. Ends with `\n`.
///
/// Deterministic: the same input gives the same bytes (architectures and
/// components keep the caller's order). Text fields that are empty are left
/// out; newlines and control characters in them become spaces, and
/// whitespace inside an architecture, component or path becomes `_`, so the
/// output is one stanza whatever the input (repository descriptions come
/// from users).
pub fn render_release(meta: &ReleaseMeta, entries: &[ReleaseEntry]) -> String {
    let mut out = String::with_capacity(512 + entries.len() * 4 * 180);
    let mut line = |name: &str, value: &str| {
        if !value.is_empty() {
            out.push_str(name);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
    };
    line("Origin", &one_line(&meta.origin));
    line("Label", &one_line(&meta.label));
    line("Suite", &token(&meta.suite));
    line("Codename", &token(&meta.codename));
    line("Date", &meta.date.rfc2822());
    line("Architectures", &tokens(&meta.architectures));
    line("Components", &tokens(&meta.components));
    line("Description", &one_line(&meta.description));
    line("Acquire-By-Hash", "yes");

    let mut sorted: Vec<&ReleaseEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(b.path));
    let paths: Vec<String> = sorted.iter().map(|e| token(e.path)).collect();
    if sorted.is_empty() {
        return out;
    }
    type HashOf = fn(&Hashes) -> String;
    let sections: [(&str, HashOf); 4] = [
        ("MD5Sum", |h| h.md5.clone()),
        ("SHA1", |h| h.sha1.clone()),
        ("SHA256", |h| h.sha256.hex()),
        ("SHA512", |h| h.sha512.clone()),
    ];
    for (name, hash) in sections {
        out.push_str(name);
        out.push_str(":\n");
        for (e, path) in sorted.iter().zip(&paths) {
            out.push_str(&format!(
                " {} {:>16} {}\n",
                token(&hash(e.hashes)),
                e.size,
                path
            ));
        }
    }
    out
}

/// Free text on one line: control characters become spaces, runs of
/// whitespace collapse, the ends are trimmed.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A whitespace-free word: whitespace and control characters become `_`.
fn token(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn tokens(items: &[String]) -> String {
    items
        .iter()
        .map(|s| token(s))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A Release file read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRelease {
    /// Every field in order (the checksum sections too, as raw text).
    pub fields: Vec<(String, String)>,
    /// The `SHA256` section (empty if there is none).
    pub sha256: Vec<ReleaseFile>,
}

/// One line of a checksum section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub hash: String,
    pub size: u64,
    pub path: String,
}

impl ParsedRelease {
    /// A field's value, by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&str> {
        deb822::field(&self.fields, name)
    }

    /// The whitespace-separated words of `Architectures`.
    pub fn architectures(&self) -> Vec<&str> {
        self.field("Architectures")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// The whitespace-separated words of `Components`.
    pub fn components(&self) -> Vec<&str> {
        self.field("Components")
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// The entries of a checksum section (`MD5Sum`, `SHA1`, `SHA256`,
    /// `SHA512`); empty if the section is absent.
    pub fn checksums(&self, section: &str) -> Result<Vec<ReleaseFile>, FormatError> {
        let Some(value) = self.field(section) else {
            return Ok(Vec::new());
        };
        let hex_len = match section.to_ascii_lowercase().as_str() {
            "md5sum" => Some(32),
            "sha1" => Some(40),
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        let mut files = Vec::new();
        for line in value.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || {
                FormatError::Invalid(format!(
                    "Release {section} line is malformed: {:?}",
                    deb822::clip(line)
                ))
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [hash, size, path] = parts[..] else {
                return Err(bad());
            };
            if !hash.bytes().all(|b| b.is_ascii_hexdigit())
                || hex_len.is_some_and(|n| hash.len() != n)
            {
                return Err(bad());
            }
            let size = size.parse::<u64>().map_err(|_| bad())?;
            files.push(ReleaseFile {
                hash: hash.to_ascii_lowercase(),
                size,
                path: path.to_string(),
            });
        }
        Ok(files)
    }
}

/// Parses a Release file, or the text of an InRelease (the clear-signed
/// message is extracted; the signature is not checked here).
pub fn parse_release(text: &str) -> Result<ParsedRelease, FormatError> {
    let body = match text
        .trim_start()
        .strip_prefix("-----BEGIN PGP SIGNED MESSAGE-----")
    {
        Some(rest) => clearsigned_body(rest)?,
        None => text.to_string(),
    };
    let mut stanzas = deb822::parse_stanzas(&body)
        .map_err(|e| FormatError::Invalid(format!("Release file, {e}")))?;
    if stanzas.len() != 1 {
        return Err(FormatError::Invalid(format!(
            "a Release file holds one stanza, this one has {}",
            stanzas.len()
        )));
    }
    let mut parsed = ParsedRelease {
        fields: stanzas.remove(0),
        sha256: Vec::new(),
    };
    parsed.sha256 = parsed.checksums("SHA256")?;
    Ok(parsed)
}

/// The signed text of a clear-signed message (RFC 4880 §7): after the
/// armor headers and a blank line, up to the signature, dash-escaping
/// undone. The line break before the signature belongs to the armor.
fn clearsigned_body(after_begin: &str) -> Result<String, FormatError> {
    let bad =
        |why: &str| FormatError::Invalid(format!("InRelease is not a clear-signed message: {why}"));
    let mut lines = after_begin.split('\n');
    // Rest of the BEGIN line, then armor headers up to a blank line.
    lines.next();
    loop {
        match lines.next() {
            None => return Err(bad("no blank line after the armor headers")),
            Some(l) if l.trim_end_matches('\r').is_empty() => break,
            Some(_) => {}
        }
    }
    let mut body: Vec<&str> = Vec::new();
    loop {
        match lines.next() {
            None => return Err(bad("no signature block")),
            Some(l) if l.trim_end_matches('\r') == "-----BEGIN PGP SIGNATURE-----" => break,
            Some(l) => body.push(l.strip_prefix("- ").unwrap_or(l)),
        }
    }
    let mut text = body.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> ReleaseMeta {
        ReleaseMeta {
            origin: "depot".into(),
            label: "depot".into(),
            suite: "stable".into(),
            codename: "bookworm".into(),
            date: Timestamp(1_795_316_688),
            architectures: vec!["amd64".into(), "arm64".into()],
            components: vec!["main".into()],
            description: "test repo".into(),
        }
    }

    #[test]
    fn renders_debian_layout() {
        let a = Hashes::of(b"a");
        let b = Hashes::of(b"");
        let entries = [
            ReleaseEntry {
                path: "main/binary-amd64/Packages.gz",
                size: 1,
                hashes: &a,
            },
            ReleaseEntry {
                path: "main/binary-amd64/Packages",
                size: 0,
                hashes: &b,
            },
        ];
        let text = render_release(&meta(), &entries);
        let expected_head = "Origin: depot\nLabel: depot\nSuite: stable\nCodename: bookworm\n\
            Date: Sun, 22 Nov 2026 03:04:48 UTC\nArchitectures: amd64 arm64\nComponents: main\n\
            Description: test repo\nAcquire-By-Hash: yes\nMD5Sum:\n \
            d41d8cd98f00b204e9800998ecf8427e                0 main/binary-amd64/Packages\n \
            0cc175b9c0f1b6a831c399e269772661                1 main/binary-amd64/Packages.gz\nSHA1:\n";
        assert!(text.starts_with(expected_head), "{text}");
        assert!(text.contains(
            "SHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855                0 main/binary-amd64/Packages\n"
        ));
        assert!(text.ends_with(" main/binary-amd64/Packages.gz\n"));
        assert_eq!(text, render_release(&meta(), &[entries[1], entries[0]]));
    }

    #[test]
    fn round_trips_through_parse() {
        let h = Hashes::of(b"x");
        let entries = [ReleaseEntry {
            path: "main/binary-all/Packages.xz",
            size: 12345,
            hashes: &h,
        }];
        let text = render_release(&meta(), &entries);
        let p = parse_release(&text).unwrap();
        assert_eq!(p.field("suite"), Some("stable"));
        assert_eq!(p.field("Date"), Some("Sun, 22 Nov 2026 03:04:48 UTC"));
        assert_eq!(p.architectures(), ["amd64", "arm64"]);
        assert_eq!(p.components(), ["main"]);
        assert_eq!(
            p.sha256,
            [ReleaseFile {
                hash: h.sha256.hex(),
                size: 12345,
                path: "main/binary-all/Packages.xz".into()
            }]
        );
        assert_eq!(p.checksums("MD5Sum").unwrap()[0].hash, h.md5);
        assert_eq!(p.checksums("SHA512").unwrap()[0].hash, h.sha512);
    }

    #[test]
    fn user_text_cannot_break_the_stanza() {
        let mut m = meta();
        m.description = "line one\n\nPackage: evil\r\n".into();
        m.components = vec!["main contrib".into(), "".into()];
        m.origin = String::new();
        let h = Hashes::of(b"");
        let text = render_release(
            &m,
            &[ReleaseEntry {
                path: "a b\nc",
                size: 0,
                hashes: &h,
            }],
        );
        assert!(!text.contains("Origin"));
        assert!(text.contains("Description: line one Package: evil\n"));
        assert!(text.contains("Components: main_contrib\n"));
        assert!(text.contains(" a_b_c\n"));
        let p = parse_release(&text).unwrap();
        assert_eq!(p.sha256.len(), 1);
        assert_eq!(deb822::parse_stanzas(&text).unwrap().len(), 1);
    }

    #[test]
    fn parses_inrelease_and_debian_style_text() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: stable\n\
            - Weird: dash-escaped\nSHA256:\n 5a5d0c4d0f84ac7ae0a06bc0a0ec7e4cbbf1e8bb19b2cd2f6c0d2cc2d6fa0c0b   123 main/binary-amd64/Packages\n\
            -----BEGIN PGP SIGNATURE-----\n\niQIz\n-----END PGP SIGNATURE-----\n";
        let p = parse_release(text).unwrap();
        assert_eq!(p.field("Origin"), Some("Debian"));
        assert_eq!(p.field("Weird"), Some("dash-escaped"));
        assert_eq!(p.sha256[0].size, 123);
        assert_eq!(p.sha256[0].path, "main/binary-amd64/Packages");
    }

    #[test]
    fn rejects_malformed_release() {
        for text in [
            "Origin: a\n\nOrigin: b\n",
            "SHA256:\n abc 1 x\n",
            "SHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 -1 x\n",
            "SHA256:\n e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1\n",
            "not a field\n",
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n",
            "",
        ] {
            assert!(
                matches!(parse_release(text), Err(FormatError::Invalid(_))),
                "{text:?} accepted"
            );
        }
    }
}
