//! Python packages: wheels and source distributions, and the simple
//! repository index pip reads (PEP 503 HTML, PEP 691 JSON, PEP 658
//! metadata files).
//!
//! # The files
//!
//! ```text
//! {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl      (PEP 427, 491)
//!   a zip archive; {name} is the project name with every run of
//!   characters other than letters, digits and '.' written as '_'; {version}
//!   has '-' written as '_'; {build} starts with a digit; the tags say which
//!   interpreters may install it (py3-none-any: every Python 3)
//!   ├ {module}/__init__.py ...              the files, installed into site-packages
//!   └ {name}-{version}.dist-info/           exactly one, at the top
//!     ├ METADATA   core metadata: RFC 822 style "Field: value" headers
//!     │            (continuation lines start with whitespace), an empty line, then
//!     │            the description. Metadata-Version (1.0, 1.1, 1.2, 2.1 to 2.4),
//!     │            Name, Version, Summary, Requires-Python, Requires-Dist (one per
//!     │            dependency, PEP 508: "idna (>=2.5) ; extra == 'socks'"), ...
//!     ├ WHEEL      the same syntax: Wheel-Version: 1.0, Generator, Root-Is-Purelib, Tag
//!     └ RECORD     CSV, one line per file: path,sha256=<urlsafe base64, no '='>,size
//!                  (RECORD itself: "path,,")
//!
//! {name}-{version}.tar.gz                                   (PEP 625, sdist)
//!   a gzip'd tar with a single top directory
//!   └ {name}-{version}/
//!     ├ PKG-INFO   core metadata, as METADATA above
//!     └ pyproject.toml, setup.py, the sources ...
//! ```
//!
//! Names are compared normalized (PEP 503): lowercase, every run of `-`,
//! `_` and `.` as one `-` (`Foo.Bar_baz` is `foo-bar-baz`). Versions are
//! compared as PEP 440 versions ([`version`]): `1.0` equals `1.0.0`, and
//! `1.0.0_post1` in a file name (`-` written as `_`) equals `1.0.0.post1`.
//! That is what pip compares: it parses the file name's version after
//! replacing `_` by `-` and compares `Version` objects with the
//! metadata's.
//!
//! # What [`inspect`] does
//!
//! For a wheel (a name ending `.whl`), in this order:
//! 1. the file name is split into its five or six parts, each checked
//!    (characters, build tag starting with a digit, name a valid project
//!    name, version a PEP 440 version);
//! 2. the zip's central directory is read and checked ([`zip`]: no zip64,
//!    no encryption, stored or deflate only, no absolute, `..` or
//!    backslash names, no duplicates, at most [`Limits::max_entries`]
//!    entries, names of at most [`Limits::max_name`] bytes);
//! 3. there must be exactly one top-level `*.dist-info` directory, and its
//!    `{name}-{version}` must be the file name's (normalized);
//! 4. `WHEEL` (at most [`Limits::max_metadata`] bytes, size and CRC-32
//!    checked) must say `Wheel-Version: 1.x`, and `RECORD` must exist;
//! 5. `METADATA` (at most [`Limits::max_metadata`] bytes, size and CRC-32
//!    checked) is parsed: UTF-8, a known Metadata-Version (major 1 or 2),
//!    one Name, one Version, at most one Requires-Python and one Summary;
//! 6. **its Name and Version must be the file name's**, normalized:
//!    `foo-1.0-py3-none-any.whl` whose METADATA says `Name: bar` is refused.
//!
//! The METADATA bytes are kept exactly ([`PypiInfo::metadata`]): they are
//! what a PEP 658 `{file}.metadata` serves, and what its hash in the index
//! covers.
//!
//! For a source distribution (`.tar.gz`): the name is split at a `-` where
//! the rest is a PEP 440 version; the tar (decompressed through a counter
//! that stops at [`Limits::max_unpacked`] and at [`Limits::max_ratio`]
//! times the compressed size past [`Limits::ratio_floor`]) must have one
//! top-level directory, with valid member names (no absolute path, no
//! `..`), and `{top}/PKG-INFO` (at most [`Limits::max_metadata`] bytes),
//! parsed as METADATA above; its Name and Version must be the file name's.
//! The whole archive is read, so a corrupt or truncated gzip is refused.
//! An sdist in zip form (legacy `.zip`) is not accepted.
//!
//! # The index
//!
//! See [`index`]: the pages of `simple/` and the content negotiation
//! between their HTML and JSON forms.

use crate::FormatError;
use crate::archive::{Bounded, Bounds, check_entry, human};
use crate::deb822::clip;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod index;
pub mod version;
pub mod zip;

pub use version::Version;

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A whole wheel: the registry's reader is a stream, and a zip is read
    /// from its end, so [`Pypi`] holds the wheel in memory.
    pub max_wheel: u64,
    /// Entries in a wheel's zip.
    pub max_entries: u64,
    /// Bytes in a zip entry's name.
    pub max_name: usize,
    /// `METADATA`, `WHEEL` and `PKG-INFO`, each.
    pub max_metadata: u64,
    /// An sdist's decompressed tar.
    pub max_unpacked: u64,
    pub max_ratio: u64,
    pub ratio_floor: u64,
}

impl Default for Limits {
    /// 512 MiB per wheel (PyPI's default upload limit is 100 MB),
    /// 200,000 entries (the largest wheels on PyPI hold tens of
    /// thousands), 4 KiB names, 8 MiB of metadata (a long description
    /// fits in well under 1 MiB), 16 GiB unpacked, past 256 MiB at most
    /// 1,000 times the compressed size.
    fn default() -> Self {
        Limits {
            max_wheel: 512 << 20,
            max_entries: 200_000,
            max_name: 4096,
            max_metadata: 8 << 20,
            max_unpacked: 16 << 30,
            max_ratio: 1000,
            ratio_floor: 256 << 20,
        }
    }
}

/// Which kind of distribution a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Wheel,
    Sdist,
}

/// What [`inspect`] read from a distribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PypiInfo {
    pub kind: Kind,
    /// `Name` as the metadata spells it.
    pub name: String,
    /// The PEP 503 normalized name: the project's page in the index.
    pub project: String,
    /// `Version` as the metadata spells it.
    pub version: String,
    pub metadata_version: String,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
    /// A wheel's tags (`py3`, `none`, `any`; dotted when compressed:
    /// `py2.py3`), empty for an sdist.
    pub python_tag: String,
    pub abi_tag: String,
    pub platform_tag: String,
    /// A wheel's `METADATA`, byte for byte (PEP 658); `None` for an sdist,
    /// whose `PKG-INFO` may leave fields to be computed at build time.
    #[serde(skip)]
    pub metadata: Option<Vec<u8>>,
}

/// PEP 503 normalization: lowercase, and every run of `-`, `_` and `.` as
/// one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// A valid project name (PEP 508): ASCII letters and digits, with `.`,
/// `_` and `-` inside but not at either end.
pub fn is_valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
}

/// True for a name ending in `.whl` with something before it.
pub fn is_wheel_name(filename: &str) -> bool {
    filename.len() > 4 && filename.ends_with(".whl")
}

/// True for a name ending in `.tar.gz` whose stem splits into a valid
/// project name and a PEP 440 version (`foo_bar-1.0.tar.gz`).
pub fn is_sdist_name(filename: &str) -> bool {
    filename
        .strip_suffix(".tar.gz")
        .is_some_and(|stem| !sdist_splits(stem).is_empty())
}

/// A `.tar.gz` that is shaped as an sdist: named `{name}-{version}.tar.gz`
/// and its first tar member (decompressed from `head`, the file's first
/// bytes) inside `{name}-{version}/`. Generic release tarballs have that
/// shape too; [`inspect`] then refuses them for lacking `PKG-INFO`.
pub fn looks_like_sdist(head: &[u8], filename: &str) -> bool {
    let Some(stem) = filename.strip_suffix(".tar.gz") else {
        return false;
    };
    if !head.starts_with(b"\x1f\x8b") || sdist_splits(stem).is_empty() {
        return false;
    }
    let mut block = [0u8; 512];
    let mut got = 0;
    let mut gz = flate2::read::GzDecoder::new(head);
    while got < block.len() {
        match gz.read(&mut block[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    if got < 512 || &block[257..262] != b"ustar" {
        return false;
    }
    let name = &block[..100];
    let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(100)];
    let name = name.strip_prefix(b"./").unwrap_or(name);
    name.strip_prefix(stem.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
}

/// The parts of a wheel's file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: String,
    pub version: String,
    pub build: Option<String>,
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl WheelName {
    /// Splits and checks `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
    pub fn parse(filename: &str) -> Result<WheelName, FormatError> {
        let bad = |why: String| {
            FormatError::Invalid(format!(
                "'{}' is not a wheel file name ({{name}}-{{version}}(-{{build}})?-{{python}}-\
                 {{abi}}-{{platform}}.whl): {why}",
                clip(filename)
            ))
        };
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| bad("it does not end in .whl".into()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts[..] {
            [n, v, py, abi, plat] => (n, v, None, [py, abi, plat]),
            [n, v, b, py, abi, plat] => (n, v, Some(b), [py, abi, plat]),
            _ => {
                return Err(bad(format!(
                    "it has {} '-'-separated parts, not 5 or 6",
                    parts.len()
                )));
            }
        };
        let word = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        };
        if !word(name) || !is_valid_name(&name.replace('_', "-")) {
            return Err(bad(format!("'{}' is not a project name", clip(name))));
        }
        if version.is_empty()
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._!+".contains(&b))
        {
            return Err(bad(format!("'{}' is not a version", clip(version))));
        }
        Version::parse(&version.replace('_', "-")).map_err(|e| bad(e.0))?;
        if let Some(b) = build
            && (!word(b) || !b.as_bytes()[0].is_ascii_digit())
        {
            return Err(bad(format!(
                "the build tag '{}' must start with a digit",
                clip(b)
            )));
        }
        if let Some(t) = tags.iter().find(|t| !word(t)) {
            return Err(bad(format!("'{}' is not a compatibility tag", clip(t))));
        }
        Ok(WheelName {
            name: name.to_string(),
            version: version.to_string(),
            build: build.map(str::to_string),
            python: tags[0].to_string(),
            abi: tags[1].to_string(),
            platform: tags[2].to_string(),
        })
    }

    /// The version as pip reads it from the name: `_` is `-`.
    pub fn pep440(&self) -> Version {
        Version::parse(&self.version.replace('_', "-")).expect("checked by parse")
    }
}

/// The ways to split an sdist stem at a `-` into a project name and a
/// version, shortest name first (`Foo-Bar-1.0` was a valid legacy sdist
/// name; PEP 625 writes `foo_bar-1.0`).
fn sdist_splits(stem: &str) -> Vec<(&str, Version)> {
    stem.match_indices('-')
        .filter_map(|(i, _)| {
            let (name, version) = (&stem[..i], &stem[i + 1..]);
            let safe = version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._!+".contains(&b));
            if !is_valid_name(name) || !safe {
                return None;
            }
            Version::parse(version).ok().map(|v| (name, v))
        })
        .collect()
}

/// Core metadata (`METADATA`, `PKG-INFO`): the fields depot reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub metadata_version: String,
    pub name: String,
    pub version: String,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub requires_dist: Vec<String>,
}

/// The fields a document may hold once only (duplicates are ambiguous:
/// readers disagree on which counts).
const SINGLE: [&str; 5] = [
    "metadata-version",
    "name",
    "version",
    "summary",
    "requires-python",
];

/// Parses core metadata (or `WHEEL`) headers: `Field: value` lines, a
/// line starting with a space or tab continues the previous value, the
/// first empty line ends the headers (the body is the description).
/// Returns `(lowercased field, value)` in order; continuation lines are
/// joined with `\n`, trailing whitespace dropped.
pub fn parse_headers(text: &str, what: &str) -> Result<Vec<(String, String)>, FormatError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = out.last_mut() else {
                return Err(FormatError::Invalid(format!(
                    "{what} line {} continues a field, but no field comes before it",
                    n + 1
                )));
            };
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(FormatError::Invalid(format!(
                "{what} line {} is not 'Field: value': '{}'",
                n + 1,
                clip(line)
            )));
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(FormatError::Invalid(format!(
                "{what} line {} has an invalid field name '{}'",
                n + 1,
                clip(key)
            )));
        }
        out.push((key.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(out)
}

impl CoreMetadata {
    /// Parses and checks `METADATA`/`PKG-INFO` bytes; `what` names the
    /// file in messages.
    pub fn parse(bytes: &[u8], what: &str) -> Result<CoreMetadata, FormatError> {
        let invalid = FormatError::Invalid;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| invalid(format!("{what} is not valid UTF-8: {e}")))?;
        let headers = parse_headers(text, what)?;
        for key in SINGLE {
            if headers.iter().filter(|(k, _)| k == key).count() > 1 {
                return Err(invalid(format!("{what} has more than one {key} field")));
            }
        }
        let get = |key: &str| {
            headers
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let metadata_version = get("metadata-version")
            .ok_or_else(|| invalid(format!("{what} has no Metadata-Version field")))?;
        let known = matches!(
            metadata_version.as_str(),
            "1.0" | "1.1" | "1.2" | "2.0" | "2.1" | "2.2" | "2.3" | "2.4"
        ) || metadata_version
            .strip_prefix("2.")
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
        if !known {
            return Err(invalid(format!(
                "{what} has Metadata-Version '{}'; depot reads 1.0 to 2.x",
                clip(&metadata_version)
            )));
        }
        let name = get("name").ok_or_else(|| invalid(format!("{what} has no Name field")))?;
        if !is_valid_name(&name) {
            return Err(invalid(format!(
                "{what} has Name '{}', not a valid project name (letters, digits, and '.', \
                 '_', '-' inside)",
                clip(&name)
            )));
        }
        let version =
            get("version").ok_or_else(|| invalid(format!("{what} has no Version field")))?;
        Version::parse(&version).map_err(|e| invalid(format!("{what}: {e}")))?;
        let requires_python = get("requires-python");
        if let Some(rp) = &requires_python
            && (rp.chars().any(char::is_control) || rp.len() > 1024)
        {
            return Err(invalid(format!(
                "{what} has a Requires-Python that is not one short line"
            )));
        }
        Ok(CoreMetadata {
            metadata_version,
            name,
            version,
            summary: get("summary"),
            requires_python,
            requires_dist: headers
                .iter()
                .filter(|(k, _)| k == "requires-dist")
                .map(|(_, v)| v.clone())
                .collect(),
        })
    }
}

/// Reads and validates a wheel or an sdist, by its file name; see the
/// module docs. A wheel needs `Seek` (a zip is read from its end).
pub fn inspect<R: Read + Seek>(
    reader: R,
    filename: &str,
    limits: &Limits,
) -> Result<PypiInfo, FormatError> {
    if is_wheel_name(filename) {
        inspect_wheel(reader, filename, limits)
    } else if filename.ends_with(".tar.gz") {
        inspect_sdist(reader, filename, limits)
    } else {
        Err(FormatError::Invalid(format!(
            "'{}' is neither a wheel (.whl) nor a source distribution (.tar.gz)",
            clip(filename)
        )))
    }
}

/// The wheel half of [`inspect`].
pub fn inspect_wheel<R: Read + Seek>(
    mut reader: R,
    filename: &str,
    limits: &Limits,
) -> Result<PypiInfo, FormatError> {
    let invalid = FormatError::Invalid;
    let wheel = WheelName::parse(filename)?;
    let project = normalize(&wheel.name);
    let file_version = wheel.pep440();

    let mut magic = [0u8; 4];
    let got = reader.read(&mut magic)?;
    if got == 0 {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not a wheel".into(),
        ));
    }
    if magic[..got] != b"PK\x03\x04"[..got] || got < 4 {
        return Err(FormatError::NotAnArchive(format!(
            "'{}' is not a zip archive (a wheel is one: it starts with PK\\3\\4)",
            clip(filename)
        )));
    }
    let dir = zip::read_directory(
        &mut reader,
        &zip::ZipLimits {
            max_entries: limits.max_entries,
            max_name: limits.max_name,
        },
    )?;

    let mut dist_infos: Vec<&str> = dir
        .entries
        .iter()
        .filter_map(|e| e.name.split_once('/').map(|(top, _)| top))
        .filter(|top| top.ends_with(".dist-info"))
        .collect();
    dist_infos.sort_unstable();
    dist_infos.dedup();
    let dist_info = match dist_infos[..] {
        [one] => one.to_string(),
        [] => {
            return Err(invalid(
                "the wheel has no {name}-{version}.dist-info directory".into(),
            ));
        }
        _ => {
            return Err(invalid(format!(
                "the wheel has {} .dist-info directories ({}); a wheel has exactly one",
                dist_infos.len(),
                clip(&dist_infos.join(", "))
            )));
        }
    };
    let stem = dist_info.strip_suffix(".dist-info").expect("filtered");
    let agrees = stem.rsplit_once('-').is_some_and(|(n, v)| {
        normalize(n) == project
            && Version::parse(&v.replace('_', "-")).is_ok_and(|v| v == file_version)
    });
    if !agrees {
        return Err(invalid(format!(
            "the wheel's '{}' does not match its file name (project '{project}', version {})",
            clip(&dist_info),
            wheel.version
        )));
    }

    let member = |name: &str| {
        let path = format!("{dist_info}/{name}");
        dir.get(&path)
            .cloned()
            .ok_or_else(|| invalid(format!("the wheel has no {}", clip(&path))))
    };
    let wheel_file = member("WHEEL")?;
    member("RECORD")?;
    let metadata_entry = member("METADATA")?;

    let wheel_bytes = zip::read_entry(&mut reader, &dir, &wheel_file, limits.max_metadata)?;
    let wheel_text = std::str::from_utf8(&wheel_bytes)
        .map_err(|_| invalid(format!("{dist_info}/WHEEL is not valid UTF-8")))?;
    let wheel_headers = parse_headers(wheel_text, &format!("{dist_info}/WHEEL"))?;
    let wheel_version = wheel_headers
        .iter()
        .find(|(k, _)| k == "wheel-version")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| invalid(format!("{dist_info}/WHEEL has no Wheel-Version")))?;
    if wheel_version.split('.').next() != Some("1") {
        return Err(invalid(format!(
            "{dist_info}/WHEEL says Wheel-Version {}; pip installs 1.x only",
            clip(wheel_version)
        )));
    }

    let metadata = zip::read_entry(&mut reader, &dir, &metadata_entry, limits.max_metadata)?;
    let meta = CoreMetadata::parse(&metadata, &format!("{dist_info}/METADATA"))?;
    check_agrees(&meta, &project, &file_version, filename)?;
    Ok(PypiInfo {
        kind: Kind::Wheel,
        project,
        name: meta.name,
        version: meta.version,
        metadata_version: meta.metadata_version,
        summary: meta.summary,
        requires_python: meta.requires_python,
        requires_dist: meta.requires_dist,
        python_tag: wheel.python,
        abi_tag: wheel.abi,
        platform_tag: wheel.platform,
        metadata: Some(metadata),
    })
}

/// The metadata's Name and Version must be the file name's (normalized).
fn check_agrees(
    meta: &CoreMetadata,
    project: &str,
    version: &Version,
    filename: &str,
) -> Result<(), FormatError> {
    if normalize(&meta.name) != project {
        return Err(FormatError::Invalid(format!(
            "the file name '{}' says project '{project}', but its metadata says Name: {} \
             ('{}')",
            clip(filename),
            clip(&meta.name),
            normalize(&meta.name)
        )));
    }
    let meta_version = Version::parse(&meta.version).expect("checked by CoreMetadata::parse");
    if &meta_version != version {
        return Err(FormatError::Invalid(format!(
            "the file name '{}' says version {version}, but its metadata says Version: {}",
            clip(filename),
            clip(&meta.version)
        )));
    }
    Ok(())
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The sdist half of [`inspect`].
pub fn inspect_sdist<R: Read>(
    reader: R,
    filename: &str,
    limits: &Limits,
) -> Result<PypiInfo, FormatError> {
    let invalid = FormatError::Invalid;
    let stem = filename.strip_suffix(".tar.gz").ok_or_else(|| {
        invalid(format!(
            "'{}' is not a source distribution name ({{name}}-{{version}}.tar.gz)",
            clip(filename)
        ))
    })?;
    let splits = sdist_splits(stem);
    if splits.is_empty() {
        return Err(invalid(format!(
            "'{}' is not a source distribution name: '{{name}}-{{version}}.tar.gz' with a \
             PEP 440 version",
            clip(filename)
        )));
    }
    let count = Arc::new(AtomicU64::new(0));
    let mut input = io::BufReader::with_capacity(
        crate::archive::READ_BUFFER,
        Counting {
            inner: reader,
            count: count.clone(),
        },
    );
    let head = io::BufRead::fill_buf(&mut input)?;
    if head.is_empty() {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not a source distribution".into(),
        ));
    }
    if !head.starts_with(b"\x1f\x8b") {
        return Err(FormatError::NotAnArchive(format!(
            "'{}' is not gzip-compressed (an sdist is a .tar.gz)",
            clip(filename)
        )));
    }
    let bounds = Bounds {
        max_unpacked: limits.max_unpacked,
        max_ratio: limits.max_ratio,
        ratio_floor: limits.ratio_floor,
    };
    let mut bounded = Bounded::new(
        flate2::read::GzDecoder::new(input),
        count,
        bounds,
        "the sdist",
    );
    let result = scan_sdist(&mut bounded, limits);
    if let Some(why) = bounded.exceeded.take() {
        return Err(FormatError::TooLarge(why));
    }
    let (top, pkg_info) = result?;
    let pkg_info = pkg_info.ok_or_else(|| {
        invalid(format!(
            "the sdist has no {top}/PKG-INFO (a .tar.gz named as a Python source distribution \
             must hold its core metadata there)"
        ))
    })?;
    let meta = CoreMetadata::parse(&pkg_info, &format!("{top}/PKG-INFO"))?;
    let project = normalize(&meta.name);
    let meta_version = Version::parse(&meta.version).expect("checked by CoreMetadata::parse");
    let Some((_, version)) = splits
        .iter()
        .find(|(n, v)| normalize(n) == project && v == &meta_version)
    else {
        let (n, v) = &splits[0];
        return Err(invalid(format!(
            "the file name '{}' says project '{}' version {v}, but its PKG-INFO says Name: {} \
             and Version: {}",
            clip(filename),
            normalize(n),
            clip(&meta.name),
            clip(&meta.version)
        )));
    };
    check_agrees(&meta, &project, version, filename)?;
    Ok(PypiInfo {
        kind: Kind::Sdist,
        project,
        name: meta.name,
        version: meta.version,
        metadata_version: meta.metadata_version,
        summary: meta.summary,
        requires_python: meta.requires_python,
        requires_dist: meta.requires_dist,
        python_tag: String::new(),
        abi_tag: String::new(),
        platform_tag: String::new(),
        metadata: None,
    })
}

/// Walks the whole tar: one top directory, valid names; returns the top
/// directory and `{top}/PKG-INFO`.
fn scan_sdist<R: Read>(
    decoded: &mut R,
    limits: &Limits,
) -> Result<(String, Option<Vec<u8>>), FormatError> {
    let invalid = FormatError::Invalid;
    let broken = |e: io::Error| invalid(format!("the sdist is not a valid .tar.gz: {e}"));
    let mut top: Option<String> = None;
    let mut pkg_info = None;
    let mut archive = tar::Archive::new(&mut *decoded);
    for (index, entry) in archive.entries().map_err(broken)?.enumerate() {
        let mut entry = entry.map_err(broken)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let name = check_entry(&entry, index as u64, false)?;
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        let first = name.split('/').next().unwrap_or_default().to_string();
        match &top {
            None => top = Some(first.clone()),
            Some(t) if *t != first => {
                return Err(invalid(format!(
                    "the sdist has more than one top-level directory ('{}' and '{}')",
                    clip(t),
                    clip(&first)
                )));
            }
            Some(_) => {}
        }
        if name == format!("{first}/PKG-INFO") && kind.is_file() {
            if entry.size() > limits.max_metadata {
                return Err(FormatError::TooLarge(format!(
                    "{} is {} bytes, more than the limit of {}",
                    clip(&name),
                    entry.size(),
                    human(limits.max_metadata)
                )));
            }
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(broken)?;
            pkg_info = Some(bytes);
        }
    }
    // Drain to the end so gzip checks its CRC and length.
    io::copy(decoded, &mut io::sink()).map_err(broken)?;
    let top = top.ok_or_else(|| invalid("the sdist's tar is empty".into()))?;
    Ok((top, pkg_info))
}

/// Python packages in the [`crate::FormatRegistry`], with their limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pypi {
    pub limits: Limits,
}

impl Pypi {
    pub fn new(limits: Limits) -> Self {
        Pypi { limits }
    }
}

impl crate::PackageFormat for Pypi {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Pypi
    }

    /// Name: `.whl`, whatever the content (a broken wheel gets the zip
    /// reader's precise refusal). First member: a `{name}-{version}.tar.gz`
    /// whose tar starts inside `{name}-{version}/` ([`looks_like_sdist`]);
    /// a `.tar.gz` of another shape stays a generic file.
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if is_wheel_name(head.file_name()) {
            Some(crate::Evidence::Name)
        } else if looks_like_sdist(head.bytes(), head.file_name()) {
            Some(crate::Evidence::FirstMember)
        } else {
            None
        }
    }

    /// The characters wheel and sdist names are made of (`+` of a local
    /// version, `!` of an epoch), none of which a URL path must escape.
    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"._+!-", "a Python package")
    }

    /// [`inspect`], then its [`index::IndexFile`] as the entry; the API
    /// fields are [`PypiInfo`] (without the METADATA bytes). The name is
    /// the normalized project name, so every spelling lists as one
    /// package; the architecture is the wheel's tags
    /// (`py3-none-any`) or `source` for an sdist.
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = if is_wheel_name(input.file_name) {
            if input.size > self.limits.max_wheel {
                return Err(FormatError::TooLarge(format!(
                    "the wheel is {} bytes, more than the limit of {}",
                    input.size,
                    human(self.limits.max_wheel)
                )));
            }
            let mut bytes = Vec::with_capacity(input.size as usize);
            file.take(self.limits.max_wheel + 1)
                .read_to_end(&mut bytes)?;
            if bytes.len() as u64 > self.limits.max_wheel {
                return Err(FormatError::TooLarge(format!(
                    "the wheel is more than the limit of {}",
                    human(self.limits.max_wheel)
                )));
            }
            inspect_wheel(io::Cursor::new(bytes), input.file_name, &self.limits)?
        } else {
            inspect_sdist(file, input.file_name, &self.limits)?
        };
        let entry = index::IndexFile::new(
            &info,
            input.file_name,
            &input.hashes.sha256.hex(),
            input.size,
        );
        let arch = match info.kind {
            Kind::Wheel => format!("{}-{}-{}", info.python_tag, info.abi_tag, info.platform_tag),
            Kind::Sdist => "source".to_string(),
        };
        Ok(crate::Inspected {
            fields: serde_json::to_value(&info).expect("info serializes"),
            entry: serde_json::to_string(&entry).expect("entry serializes"),
            name: info.project,
            version: info.version,
            arch,
        })
    }

    /// PEP 440 order ([`version::compare`]).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::compare(a, b)
    }
}
