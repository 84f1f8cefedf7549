//! Validated newtypes for every name that arrives from outside (URL segments,
//! form fields, CLI arguments, archive members). Constructing one is the only
//! validation; code behind the edge can trust them.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct NameError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn err(kind: &'static str, value: &str, reason: &'static str) -> NameError {
    let mut value = value.to_string();
    if value.len() > 80 {
        let mut cut = 80;
        while !value.is_char_boundary(cut) {
            cut -= 1;
        }
        value.truncate(cut);
        value.push('…');
    }
    NameError {
        kind,
        value,
        reason,
    }
}

/// 1 to 64 ASCII characters, starting with a letter or digit, the rest
/// letters, digits or one of `extra`.
fn token(
    kind: &'static str,
    s: &str,
    extra: &[u8],
    charset: &'static str,
) -> Result<(), NameError> {
    if s.is_empty() || s.len() > 64 {
        return Err(err(kind, s, "must be 1 to 64 characters"));
    }
    if !s.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(err(kind, s, "must start with a letter or digit"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Err(err(kind, s, charset));
    }
    Ok(())
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}

/// A repository name: 1 to 64 characters of `[A-Za-z0-9._-]`, starting with a
/// letter or digit. It is a URL path segment and a file-name component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName(String);
string_newtype!(RepoName);

impl RepoName {
    pub fn new(s: &str) -> Result<Self, NameError> {
        token(
            "repository name",
            s,
            b"._-",
            "may only contain letters, digits, '.', '_' and '-'",
        )
        .map(|()| Self(s.to_string()))
    }
}

/// The name of an uploaded file as it is stored and served
/// (`/repos/{repo}/packages/{file}`): 1 to 255 bytes, no path separators, no
/// control characters, not starting with `.`, valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);
string_newtype!(FileName);

impl FileName {
    pub fn new(s: &str) -> Result<Self, NameError> {
        const K: &str = "file name";
        if s.is_empty() || s.len() > 255 {
            return Err(err(K, s, "must be 1 to 255 bytes"));
        }
        if s.contains('/') || s.contains('\\') {
            return Err(err(K, s, "must not contain a path separator"));
        }
        if s.starts_with('.') {
            return Err(err(K, s, "must not start with '.'"));
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(err(K, s, "must not contain control characters"));
        }
        Ok(Self(s.to_string()))
    }
}

/// A placement value: a Debian distribution or component, later an Alpine
/// branch, a pacman database name, a FreeBSD ABI. 1 to 64 characters of
/// `[A-Za-z0-9._+~:-]`, starting with a letter or digit, never `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlacementName(String);
string_newtype!(PlacementName);

impl PlacementName {
    pub fn new(s: &str) -> Result<Self, NameError> {
        token(
            "distribution/component name",
            s,
            b"._+~:-",
            "may only contain letters, digits and . _ + ~ : -",
        )
        .map(|()| Self(s.to_string()))
    }
}

/// A relative path inside a served tree (`dists/stable/Release`): segments
/// separated by `/`, none empty, `.` or `..`, no leading `/`, no control
/// characters or backslashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);
string_newtype!(RelPath);

impl RelPath {
    pub fn new(s: &str) -> Result<Self, NameError> {
        const K: &str = "path";
        if s.is_empty() || s.len() > 1024 {
            return Err(err(K, s, "must be 1 to 1024 bytes"));
        }
        if s.starts_with('/') {
            return Err(err(K, s, "must be relative"));
        }
        if s.contains('\\') || s.chars().any(|c| c.is_control()) {
            return Err(err(
                K,
                s,
                "must not contain backslashes or control characters",
            ));
        }
        if s.split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(err(K, s, "must not contain empty, '.' or '..' segments"));
        }
        Ok(Self(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        assert!(RepoName::new("myrepo").is_ok());
        assert!(RepoName::new("my-repo_1.2").is_ok());
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "a b",
            "ä",
            &"x".repeat(65),
            "..",
        ] {
            assert!(RepoName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn file_names_reject_traversal_and_controls() {
        assert!(FileName::new("hello_1.0_amd64.deb").is_ok());
        assert!(FileName::new("weird name (1).bin").is_ok());
        for bad in [
            "", "..", "../x.deb", "a/b.deb", "a\\b", ".deb", "a\nb", "a\0b",
        ] {
            assert!(FileName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn placement_names() {
        for ok in ["stable", "bookworm-backports", "main", "20.04", "non-free"] {
            assert!(PlacementName::new(ok).is_ok(), "{ok} rejected");
        }
        for bad in ["", "a/b", "-x", "a b", "x\n"] {
            assert!(PlacementName::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rel_paths() {
        assert!(RelPath::new("dists/stable/Release").is_ok());
        for bad in ["/etc/passwd", "a/../b", "a//b", "./a", "a/", "a\\b"] {
            assert!(RelPath::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serde_validates() {
        let r: Result<RepoName, _> = serde_json::from_str("\"../x\"");
        assert!(r.is_err());
        let r: RepoName = serde_json::from_str("\"ok\"").unwrap();
        assert_eq!(r.as_str(), "ok");
    }
}
