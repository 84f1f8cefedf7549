//! Alpine Linux packages (`.apk`, format v2) and their repository index
//! (`APKINDEX.tar.gz`).
//!
//! # On-disk layout (apk-tools 2.x, abuild)
//!
//! ```text
//! foo-1.0-r0.apk         concatenated gzip streams, each a piece of one tar:
//! ├ gzip stream 1        (optional) the signature: a tar segment (no end-of-archive
//! │                      blocks) of one or more .SIGN.RSA.<key>.rsa.pub (PKCS#1 v1.5
//! │                      over SHA-1) or .SIGN.RSA256.<key>.rsa.pub (SHA-256) members,
//! │                      signing streams 2 and 3
//! ├ gzip stream 2        the control segment (no end-of-archive blocks): .PKGINFO, then
//! │                      optional scripts (.pre-install, .post-upgrade, .trigger, ...)
//! └ gzip stream 3        the data: a whole tar (abuild adds pax headers with each
//!                        file's SHA-1) ending with its two zero blocks
//!
//! .PKGINFO               "key = value" lines ('#' lines are comments): pkgname, pkgver,
//!                        pkgdesc, url, builddate, packager, size (installed bytes), arch,
//!                        origin, commit, maintainer, license, provider_priority, and
//!                        repeated depend, provides, install_if, replaces, triggers;
//!                        datahash = SHA-256 (hex) of gzip stream 3
//!
//! APKINDEX.tar.gz        two gzip streams:
//! ├ gzip stream 1        the signature segment: .SIGN.RSA.<key>.rsa.pub and/or
//! │                      .SIGN.RSA256.<key>.rsa.pub, each signing gzip stream 2 (its
//! │                      compressed bytes, header to trailer)
//! └ gzip stream 2        a whole tar of DESCRIPTION (free text) and APKINDEX
//! APKINDEX               one block per package, blocks separated by an empty line, each
//!                        line "X:value":
//!                        C: "Q1" + base64(SHA-1 of the package's gzip stream 2)
//!                        P: name  V: version  A: arch  S: file size  I: installed size
//!                        T: description  U: url  L: license  o: origin  m: maintainer
//!                        t: build time  c: commit  k: provider priority
//!                        D: depends  p: provides  i: install_if (space separated)
//! ```
//!
//! apk fetches a package as `{P}-{V}.apk` beside the index, and checks it
//! against `C:` (the SHA-1 of its control stream): that is what ties a
//! package to the signed index, since depot's packages need not be signed
//! themselves.
//!
//! # What [`inspect`] does
//!
//! It reads the file once, front to back, splitting it into its gzip
//! streams. The signature and control streams are decompressed in memory
//! up to [`Limits::max_control`]; the data stream goes through a counter
//! that stops at [`Limits::max_unpacked`] bytes (and at
//! [`Limits::max_ratio`] times the compressed bytes read once past
//! [`Limits::ratio_floor`]), so a bomb costs bounded work. Every tar member
//! name is checked (UTF-8, relative, no control characters, no `..`);
//! `.PKGINFO` must be there once with `pkgname`, `pkgver` and `arch`, all
//! valid ([`validate_name`], [`validate_version`], [`validate_arch`]), no
//! value may hold a control character, and when `datahash` is present it
//! must match the data stream. A truncated stream, a data tar without its
//! end-of-archive blocks, or bytes after the data stream are refused.

use crate::FormatError;
use crate::archive::{Bounded, Bounds, check_entry, human};
use crate::deb822::clip;
use crate::pacman::base64_encode;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The decompressed data tar, in bytes.
    pub max_unpacked: u64,
    /// Decompressed bytes per compressed byte, checked once past
    /// [`Limits::ratio_floor`].
    pub max_ratio: u64,
    pub ratio_floor: u64,
    /// The decompressed signature and control segments, each.
    pub max_control: u64,
    /// Members of the data tar.
    pub max_files: u64,
}

impl Default for Limits {
    /// 16 GiB unpacked, past the first 256 MiB at most 1,000 times the
    /// compressed size; 4 MiB of control segment; 1,000,000 files.
    fn default() -> Self {
        Limits {
            max_unpacked: 16 << 30,
            max_ratio: 1000,
            ratio_floor: 256 << 20,
            max_control: 4 << 20,
            max_files: 1_000_000,
        }
    }
}

/// What [`inspect`] read from a package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApkInfo {
    /// `pkgname`, validated.
    pub name: String,
    /// `pkgver`, validated.
    pub version: String,
    /// `arch`, validated; `noarch` for architecture-independent packages.
    pub arch: String,
    pub desc: String,
    pub url: String,
    pub license: String,
    pub origin: String,
    pub maintainer: String,
    pub packager: String,
    pub commit: String,
    /// `builddate`, seconds since the epoch (0 when absent).
    pub build_time: u64,
    /// `size`: installed bytes (0 when absent).
    pub installed_size: u64,
    /// `provider_priority` (0 when absent).
    pub provider_priority: u64,
    pub depends: Vec<String>,
    pub provides: Vec<String>,
    pub install_if: Vec<String>,
    pub replaces: Vec<String>,
    /// `datahash` as written (checked against the data stream).
    pub datahash: String,
    /// The `C:` field: `Q1` + base64 of the SHA-1 of the control stream.
    pub checksum: String,
    /// The names of the package's own signature members
    /// (`.SIGN.RSA.key.rsa.pub`), not checked: the index vouches for the
    /// package through `C:`.
    pub signatures: Vec<String>,
    /// Members of the data tar.
    pub file_count: u64,
}

/// True for a name ending in `.apk` (with something before it).
pub fn is_package_name(filename: &str) -> bool {
    filename.len() > 4 && filename.to_ascii_lowercase().ends_with(".apk")
}

/// The file name apk fetches for a package: `{name}-{version}.apk`.
pub fn file_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.apk")
}

const GZIP_MAGIC: &[u8] = b"\x1f\x8b";

/// A `BufRead` that feeds the bytes its reader consumes to the hashes
/// that are on, and counts them.
struct Tap<R> {
    inner: R,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    count: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tap<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if amt == 0 {
            return;
        }
        // The buffer is filled (the caller saw these bytes), so this
        // does not read.
        if let Ok(buf) = self.inner.fill_buf() {
            let b = &buf[..amt.min(buf.len())];
            if let Some(h) = &mut self.sha1 {
                h.update(b);
            }
            if let Some(h) = &mut self.sha256 {
                h.update(b);
            }
        }
        self.count.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// One decompressed gzip stream read whole into memory, up to `max`
/// bytes.
fn read_small_stream<R: BufRead>(
    input: &mut R,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    let mut gz = flate2::bufread::GzDecoder::new(input);
    let read = (&mut gz).take(max + 1).read_to_end(&mut out);
    let at_end = gz.into_inner().fill_buf().is_ok_and(|b| b.is_empty());
    match read {
        Ok(_) if out.len() as u64 > max => Err(FormatError::TooLarge(format!(
            "the package's {what} unpacks to more than {} (a decompression bomb?)",
            human(max)
        ))),
        Ok(_) => Ok(out),
        Err(e) if at_end || e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(FormatError::Truncated(format!(
                "the package ends early: its {what} gzip stream is incomplete ({e})"
            )))
        }
        Err(e) => Err(FormatError::Invalid(format!(
            "the package's {what} gzip stream is corrupt: {e}"
        ))),
    }
}

/// Members of a tar segment (no end-of-archive blocks needed): names and
/// contents, names checked.
fn segment_members(bytes: &[u8], what: &str) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    let corrupt = |e: io::Error| FormatError::Invalid(format!("the package's {what} tar: {e}"));
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    let mut index = 0u64;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        index += 1;
        let name = check_entry(&entry, index, false)?;
        let mut data = Vec::new();
        if kind.is_file() {
            entry.read_to_end(&mut data).map_err(corrupt)?;
        }
        out.push((name, data));
    }
    Ok(out)
}

/// Reads and validates an `.apk` v2 package; see the module docs.
pub fn inspect<R: Read>(reader: R, limits: &Limits) -> Result<ApkInfo, FormatError> {
    let count = Arc::new(AtomicU64::new(0));
    let mut tap = Tap {
        inner: BufReader::with_capacity(crate::archive::READ_BUFFER, reader),
        sha1: None,
        sha256: None,
        count: count.clone(),
    };
    let head = tap.fill_buf()?;
    if head.is_empty() {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not an Alpine package".into(),
        ));
    }
    if !head.starts_with(GZIP_MAGIC) {
        if head.len() < 2 && GZIP_MAGIC.starts_with(head) {
            return Err(FormatError::Truncated(
                "the file ends inside the gzip magic".into(),
            ));
        }
        if head.starts_with(b"PK\x03\x04") {
            return Err(FormatError::NotAnArchive(
                "this is a zip file (an Android .apk?), not an Alpine package".into(),
            ));
        }
        if head.starts_with(b"ADB") {
            return Err(FormatError::Invalid(
                "this is an apk v3 (ADB) package; depot reads the v2 format that Alpine \
                 releases up to 3.22 use (concatenated gzip streams)"
                    .into(),
            ));
        }
        return Err(FormatError::NotAnArchive(
            "not an Alpine package: an .apk is concatenated gzip streams, and the file does \
             not start with the gzip magic"
                .into(),
        ));
    }

    // Stream 1: the signature or the control segment.
    tap.sha1 = Some(Sha1::new());
    let first = read_small_stream(&mut tap, limits.max_control, "first")?;
    let first_members = segment_members(&first, "first")?;
    let mut info = ApkInfo::default();
    let control = if first_members
        .first()
        .is_some_and(|(n, _)| n.starts_with(".SIGN."))
    {
        for (name, _) in &first_members {
            if !name.starts_with(".SIGN.") {
                return Err(FormatError::Invalid(format!(
                    "the package's signature stream holds '{}', not a .SIGN.* member",
                    clip(name)
                )));
            }
            info.signatures.push(name.clone());
        }
        tap.sha1 = Some(Sha1::new());
        if tap.fill_buf()?.is_empty() {
            return Err(FormatError::Truncated(
                "the package ends after its signature: no control stream".into(),
            ));
        }
        let control = read_small_stream(&mut tap, limits.max_control, "control")?;
        segment_members(&control, "control")?
    } else {
        first_members
    };
    let control_sha1 = tap.sha1.take().expect("set above").finalize();
    info.checksum = format!("Q1{}", base64_encode(&control_sha1));

    let mut pkginfo = None;
    for (name, data) in control {
        let bare = name.strip_prefix("./").unwrap_or(&name);
        if !bare.starts_with('.') || bare.contains('/') {
            return Err(FormatError::Invalid(format!(
                "the control stream holds '{}'; only .PKGINFO and dot-named scripts belong \
                 there (are the control and data streams merged?)",
                clip(&name)
            )));
        }
        if bare == ".PKGINFO" {
            if pkginfo.is_some() {
                return Err(FormatError::Invalid(
                    "the package has two .PKGINFO members".into(),
                ));
            }
            pkginfo = Some(data);
        }
    }
    let Some(pkginfo) = pkginfo else {
        return Err(FormatError::Invalid(
            "the package's control stream has no .PKGINFO (is it an Alpine package?)".into(),
        ));
    };
    parse_pkginfo(&pkginfo, &mut info)?;

    // Stream 3: the data.
    if tap.fill_buf()?.is_empty() {
        return Err(FormatError::Truncated(
            "the package ends after its control stream: no data stream".into(),
        ));
    }
    if !tap.fill_buf()?.starts_with(GZIP_MAGIC) {
        return Err(FormatError::Invalid(
            "the bytes after the control stream are not a gzip stream".into(),
        ));
    }
    tap.sha256 = Some(Sha256::new());
    let bounds = Bounds {
        max_unpacked: limits.max_unpacked,
        max_ratio: limits.max_ratio,
        ratio_floor: limits.ratio_floor,
    };
    let mut data = Bounded::new(
        flate2::bufread::GzDecoder::new(&mut tap),
        count.clone(),
        bounds,
        "the package's data",
    );
    let scanned = scan_data(&mut data, limits);
    let exceeded = data.exceeded.take();
    drop(data);
    let at_end = tap.fill_buf().is_ok_and(|b| b.is_empty());
    match scanned {
        Ok(n) => info.file_count = n,
        Err(_) if exceeded.is_some() => {
            return Err(FormatError::TooLarge(exceeded.unwrap_or_default()));
        }
        Err(ScanError::Format(e)) => return Err(e),
        Err(ScanError::Io(e)) if at_end || e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(FormatError::Truncated(format!(
                "the package ends early: its data gzip stream is incomplete ({e})"
            )));
        }
        Err(ScanError::Io(e)) => {
            return Err(FormatError::Invalid(format!(
                "the package's data stream is corrupt: {e}"
            )));
        }
    }
    let datahash = depot_core::digest::hex(&tap.sha256.take().expect("set above").finalize());
    if !tap.fill_buf()?.is_empty() {
        return Err(FormatError::Invalid(
            "the package has bytes after its data stream (apk reads three gzip streams at most)"
                .into(),
        ));
    }
    if !info.datahash.is_empty() && !info.datahash.eq_ignore_ascii_case(&datahash) {
        return Err(FormatError::Invalid(format!(
            ".PKGINFO datahash {} does not match the data stream (SHA-256 {datahash}): the \
             package was changed after it was built",
            clip(&info.datahash)
        )));
    }
    Ok(info)
}

enum ScanError {
    Io(io::Error),
    Format(FormatError),
}

impl From<io::Error> for ScanError {
    fn from(e: io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// Walks the data tar: checks every member name, counts members, and
/// requires the end-of-archive blocks and nothing but zeros after them.
fn scan_data<R: Read>(r: &mut Bounded<R>, limits: &Limits) -> Result<u64, ScanError> {
    let mut members = 0u64;
    let mut end = EndCheck {
        inner: &mut *r,
        tail: Vec::with_capacity(1024),
        total: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut end);
        for entry in archive.entries()? {
            let entry = entry?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
            ) {
                continue;
            }
            members += 1;
            if members > limits.max_files {
                return Err(ScanError::Format(FormatError::TooLarge(format!(
                    "the package has more than {} files",
                    limits.max_files
                ))));
            }
            check_entry(&entry, members, false).map_err(ScanError::Format)?;
        }
    }
    // The tar crate stops at the first zero block or at the end of the
    // input; only the first is a complete archive.
    let ended = end.total.is_multiple_of(512)
        && end.tail.len() >= 512
        && end.tail[end.tail.len() - 512..].iter().all(|&b| b == 0);
    let mut sink = [0u8; 8192];
    loop {
        let n = end.read(&mut sink)?;
        if n == 0 {
            break;
        }
        if sink[..n].iter().any(|&b| b != 0) {
            return Err(ScanError::Format(FormatError::Invalid(
                "the package's data tar has data after its end-of-archive blocks".into(),
            )));
        }
    }
    if !ended {
        return Err(ScanError::Format(FormatError::Truncated(
            "the package ends early: its data tar has no end-of-archive blocks".into(),
        )));
    }
    Ok(members)
}

/// Remembers the last bytes read (to see how the tar ended).
struct EndCheck<'a, R> {
    inner: &'a mut R,
    tail: Vec<u8>,
    total: u64,
}

impl<R: Read> Read for EndCheck<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 1024 {
            self.tail.drain(..self.tail.len() - 1024);
        }
        Ok(n)
    }
}

/// Parses `.PKGINFO` into `info` as apk-tools reads it (`key = value`
/// lines, `#` comments) and validates what apk requires.
pub fn parse_pkginfo(bytes: &[u8], info: &mut ApkInfo) -> Result<(), FormatError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FormatError::Invalid(format!(
            ".PKGINFO is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut seen: Vec<&str> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let lineno = i + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(" = ") else {
            return Err(FormatError::Invalid(format!(
                ".PKGINFO line {lineno} is not 'key = value': '{}'",
                clip(line)
            )));
        };
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(FormatError::Invalid(format!(
                ".PKGINFO line {lineno} ('{}') has a control character {c:?}",
                clip(key)
            )));
        }
        let mut single = |slot: &mut String| {
            if seen.contains(&key) {
                return Err(FormatError::Invalid(format!(
                    ".PKGINFO has two '{key}' lines (line {lineno})"
                )));
            }
            seen.push(key);
            *slot = value.to_string();
            Ok(())
        };
        let number = |slot: &mut u64| {
            *slot = value.parse().map_err(|_| {
                FormatError::Invalid(format!(".PKGINFO {key} '{}' is not a number", clip(value)))
            })?;
            Ok::<(), FormatError>(())
        };
        let token = |list: &mut Vec<String>| {
            for t in value.split_ascii_whitespace() {
                list.push(t.to_string());
            }
            Ok::<(), FormatError>(())
        };
        match key {
            "pkgname" => single(&mut info.name)?,
            "pkgver" => single(&mut info.version)?,
            "pkgdesc" => single(&mut info.desc)?,
            "url" => single(&mut info.url)?,
            "arch" => single(&mut info.arch)?,
            "license" => single(&mut info.license)?,
            "origin" => single(&mut info.origin)?,
            "maintainer" => single(&mut info.maintainer)?,
            "packager" => single(&mut info.packager)?,
            "commit" => single(&mut info.commit)?,
            "datahash" => single(&mut info.datahash)?,
            "builddate" => number(&mut info.build_time)?,
            "size" => number(&mut info.installed_size)?,
            "provider_priority" => number(&mut info.provider_priority)?,
            "depend" => token(&mut info.depends)?,
            "provides" => token(&mut info.provides)?,
            "install_if" => token(&mut info.install_if)?,
            "replaces" => token(&mut info.replaces)?,
            // triggers, replaces_priority, pkgbase and keys of newer abuilds.
            _ => {}
        }
    }
    for (key, value) in [
        ("pkgname", &info.name),
        ("pkgver", &info.version),
        ("arch", &info.arch),
    ] {
        if value.is_empty() {
            return Err(FormatError::Invalid(format!(
                ".PKGINFO has no {key} (apk needs pkgname, pkgver and arch)"
            )));
        }
    }
    validate_name(&info.name).map_err(|why| {
        FormatError::Invalid(format!(
            "pkgname '{}' is not a valid apk package name: {why}",
            clip(&info.name)
        ))
    })?;
    validate_version(&info.version).map_err(|why| {
        FormatError::Invalid(format!(
            "pkgver '{}' is not a valid apk version: {why}",
            clip(&info.version)
        ))
    })?;
    validate_arch(&info.arch).map_err(|why| {
        FormatError::Invalid(format!(
            "arch '{}' is not a valid architecture: {why}",
            clip(&info.arch)
        ))
    })?;
    Ok(())
}

/// A package name as abuild allows it: ASCII letters, digits and `+_.-`,
/// starting with a letter or digit, at most 255 bytes.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "+_.-".contains(c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (only letters, digits and + _ . -)"
        ));
    }
    Ok(())
}

/// A version as apk-tools' `apk_version_validate` accepts it:
/// `digits{.digits}[letter]{_suffix[digits]}[~hex][-r digits]`, the
/// suffixes being alpha, beta, pre, rc, cvs, svn, git, hg and p.
pub fn validate_version(v: &str) -> Result<(), String> {
    if v.len() > 255 {
        return Err("is longer than 255 bytes".into());
    }
    let b = v.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err("must start with a digit".into());
    }
    while i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return Err("a '.' must be followed by digits".into());
        }
    }
    if i < b.len() && b[i].is_ascii_lowercase() {
        i += 1;
    }
    while i < b.len() && b[i] == b'_' {
        i += 1;
        let rest = &v[i..];
        let Some(s) = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]
            .into_iter()
            .find(|s| rest.starts_with(s))
        else {
            return Err(
                "'_' must be followed by alpha, beta, pre, rc, cvs, svn, git, hg or p".into(),
            );
        };
        i += s.len();
        digits(&mut i);
    }
    if i < b.len() && b[i] == b'~' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i == start {
            return Err("'~' must be followed by a hex commit id".into());
        }
    }
    if i < b.len() && v[i..].starts_with("-r") {
        i += 2;
        if !digits(&mut i) {
            return Err("'-r' must be followed by the release number".into());
        }
    }
    if i != b.len() {
        return Err(format!("unexpected '{}' at byte {i}", clip(&v[i..])));
    }
    Ok(())
}

/// An architecture: ASCII letters, digits and `_` (`x86_64`, `aarch64`,
/// `armv7`, `noarch`), at most 64 bytes.
pub fn validate_arch(arch: &str) -> Result<(), String> {
    if arch.is_empty() || arch.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if let Some(c) = arch
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err(format!(
            "character {c:?} is not allowed (only letters, digits and '_')"
        ));
    }
    Ok(())
}

/// A package's block in `APKINDEX`, in the order and with the fields
/// apk-tools 2.x `apk_pkg_write_index_entry` writes, without the empty
/// line that separates blocks. `size` is the package file's size.
pub fn index_entry(info: &ApkInfo, size: u64) -> String {
    let mut out = String::with_capacity(512);
    let one = |s: &str| s.replace(['\n', '\r'], " ");
    let mut line = |key: char, value: &str| {
        out.push(key);
        out.push(':');
        out.push_str(&one(value));
        out.push('\n');
    };
    line('C', &info.checksum);
    line('P', &info.name);
    line('V', &info.version);
    line('A', &info.arch);
    line('S', &size.to_string());
    line('I', &info.installed_size.to_string());
    line('T', &info.desc);
    line('U', &info.url);
    line('L', &info.license);
    if !info.origin.is_empty() {
        line('o', &info.origin);
    }
    if !info.maintainer.is_empty() {
        line('m', &info.maintainer);
    }
    if info.build_time != 0 {
        line('t', &info.build_time.to_string());
    }
    if !info.commit.is_empty() {
        line('c', &info.commit);
    }
    if info.provider_priority != 0 {
        line('k', &info.provider_priority.to_string());
    }
    for (key, list) in [
        ('D', &info.depends),
        ('p', &info.provides),
        ('i', &info.install_if),
    ] {
        if !list.is_empty() {
            line(key, &list.join(" "));
        }
    }
    out
}

/// What the REST API shows for a package.
pub fn fields_json(info: &ApkInfo) -> serde_json::Value {
    serde_json::to_value(info).expect("ApkInfo serializes")
}

/// One package block of an `APKINDEX`: its `(key, value)` lines in order.
pub type IndexBlock = Vec<(char, String)>;

/// Parses `APKINDEX` text as apk reads it: blocks separated by empty
/// lines, lines `X:value`.
pub fn parse_index(text: &str) -> Result<Vec<IndexBlock>, FormatError> {
    let mut out = Vec::new();
    let mut block: IndexBlock = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            if !block.is_empty() {
                out.push(std::mem::take(&mut block));
            }
            continue;
        }
        let mut chars = line.chars();
        match (chars.next(), chars.next()) {
            (Some(k), Some(':')) if k.is_ascii_alphabetic() => {
                block.push((k, line[2..].to_string()));
            }
            _ => {
                return Err(FormatError::Invalid(format!(
                    "APKINDEX line {} is not 'X:value': '{}'",
                    i + 1,
                    clip(line)
                )));
            }
        }
    }
    if !block.is_empty() {
        out.push(block);
    }
    for b in &out {
        for k in ['C', 'P', 'V'] {
            if !b.iter().any(|(key, _)| *key == k) {
                return Err(FormatError::Invalid(format!(
                    "an APKINDEX block has no {k}: line"
                )));
            }
        }
    }
    Ok(out)
}

/// The byte ranges of the gzip streams `bytes` is made of, in order.
pub fn gzip_streams(bytes: &[u8]) -> Result<Vec<Range<usize>>, FormatError> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let start = bytes.len() - rest.len();
        let mut gz = flate2::bufread::GzDecoder::new(rest);
        io::copy(&mut gz, &mut io::sink()).map_err(|e| {
            FormatError::Invalid(format!("gzip stream at byte {start} is corrupt: {e}"))
        })?;
        rest = gz.into_inner();
        out.push(start..bytes.len() - rest.len());
    }
    Ok(out)
}

fn tar_member(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mtime: u64) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    b.append_data(&mut h, name, data)
        .expect("writing to memory cannot fail");
}

/// The name of an index signature member for the key published as
/// `key_name` (for example `depot-1a2b3c4d.rsa.pub`).
pub fn signature_member(sha256: bool, key_name: &str) -> String {
    if sha256 {
        format!(".SIGN.RSA256.{key_name}")
    } else {
        format!(".SIGN.RSA.{key_name}")
    }
}

/// The gzip level of published indexes (what `gzip -9` in abuild uses).
const INDEX_GZIP_LEVEL: u32 = 9;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        flate2::Compression::new(INDEX_GZIP_LEVEL),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// A signed `APKINDEX.tar.gz`: the index stream (a tar of `DESCRIPTION`
/// and `APKINDEX`, all members with time `mtime`, gzip'd) and before it
/// the signature stream, whose members are `signatures(index stream)`
/// (name, signature) pairs, as abuild-sign writes them.
pub fn signed_index(
    description: &str,
    apkindex: &str,
    mtime: u64,
    signatures: impl FnOnce(&[u8]) -> Vec<(String, Vec<u8>)>,
) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(apkindex.len() + 2048));
    if !description.is_empty() {
        tar_member(&mut b, "DESCRIPTION", description.as_bytes(), mtime);
    }
    tar_member(&mut b, "APKINDEX", apkindex.as_bytes(), mtime);
    let tar = b.into_inner().expect("writing to memory cannot fail");
    let index = gzip(&tar);
    let mut s = tar::Builder::new(Vec::new());
    for (name, sig) in signatures(&index) {
        tar_member(&mut s, &name, &sig, mtime);
    }
    let mut seg = s.into_inner().expect("writing to memory cannot fail");
    // A segment, not an archive: abuild-tar --cut drops the zero blocks.
    seg.truncate(seg.len() - 1024);
    let mut out = gzip(&seg);
    out.extend_from_slice(&index);
    out
}

/// An `APKINDEX.tar.gz` taken apart as apk does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexArchive {
    /// The signature members: (name, signature bytes).
    pub signatures: Vec<(String, Vec<u8>)>,
    /// The compressed index stream the signatures sign.
    pub signed: Vec<u8>,
    pub description: String,
    pub apkindex: String,
}

/// Splits and reads an `APKINDEX.tar.gz` (signed or not).
pub fn read_index_archive(bytes: &[u8]) -> Result<IndexArchive, FormatError> {
    let streams = gzip_streams(bytes)?;
    let unzip = |r: &Range<usize>| -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[r.clone()])
            .read_to_end(&mut out)
            .map_err(|e| FormatError::Invalid(format!("index gzip stream: {e}")))?;
        Ok(out)
    };
    let (sig_stream, index_stream) = match streams.as_slice() {
        [one] => (None, one),
        [sig, index] => (Some(sig), index),
        _ => {
            return Err(FormatError::Invalid(format!(
                "an APKINDEX.tar.gz has one or two gzip streams, not {}",
                streams.len()
            )));
        }
    };
    let signatures = match sig_stream {
        Some(r) => segment_members(&unzip(r)?, "signature")?,
        None => Vec::new(),
    };
    let mut out = IndexArchive {
        signatures,
        signed: bytes[index_stream.clone()].to_vec(),
        description: String::new(),
        apkindex: String::new(),
    };
    for (name, data) in segment_members(&unzip(index_stream)?, "index")? {
        let text = String::from_utf8(data)
            .map_err(|_| FormatError::Invalid(format!("index member {name} is not UTF-8")))?;
        match name.as_str() {
            "DESCRIPTION" => out.description = text,
            "APKINDEX" => out.apkindex = text,
            _ => {}
        }
    }
    Ok(out)
}

// ---- the format ------------------------------------------------------------

/// The index entry stored with each apk package (JSON), which the apk
/// publisher reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApkEntry {
    /// The package's `APKINDEX` block.
    pub block: String,
    /// The package file, to serve it as `{P}-{V}.apk`.
    pub size: u64,
    pub hashes: depot_core::Hashes,
}

/// Alpine Linux packages as a [`crate::PackageFormat`], with their
/// [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Apk {
    limits: Limits,
}

impl Apk {
    pub fn new(limits: Limits) -> Self {
        Apk { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl crate::PackageFormat for Apk {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Apk
    }

    /// First member: a gzip stream whose tar starts with a `.SIGN.*`
    /// signature or `.PKGINFO`; name: `.apk`, unless the bytes are a zip
    /// (an Android package).
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if head.is_gzip()
            && head
                .first_member()
                .is_some_and(|m| m.starts_with(b".SIGN.") || m == b".PKGINFO")
        {
            Some(crate::Evidence::FirstMember)
        } else if is_package_name(head.file_name()) && !head.is_zip() {
            Some(crate::Evidence::Name)
        } else {
            None
        }
    }

    /// What abuild produces, nothing a URL or a shell would need to escape.
    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"._+~-", "an Alpine package")
    }

    /// [`inspect`], then its [`index_entry`] block as an [`ApkEntry`].
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = inspect(BufReader::new(file), &self.limits)?;
        let entry = ApkEntry {
            block: index_entry(&info, input.size),
            size: input.size,
            hashes: input.hashes.clone(),
        };
        Ok(crate::Inspected {
            fields: fields_json(&info),
            entry: serde_json::to_string(&entry).expect("entry serializes"),
            name: info.name,
            version: info.version,
            arch: info.arch,
        })
    }

    /// apk-tools' version order is not ported yet: versions compare
    /// equal, so packages of one name list by file name (as before the
    /// registry).
    fn compare_versions(&self, _a: &str, _b: &str) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_apk_validates_them() {
        for ok in [
            "1.0-r0",
            "5.14-r0",
            "2.4.1_rc2-r3",
            "1.2.3a",
            "1.0_p20230101-r1",
            "1_alpha_beta2",
            "0.1~abc123-r4",
            "3",
        ] {
            assert!(validate_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a1", "1.", "1..2", "1.0-r", "1.0_foo", "1.0-1", "1 0", "1.0-r0x",
        ] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
        for ok in ["musl", "py3-foo", "g++", "libstdc++", "font_x.y"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", "a:b", "ü"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn index_entry_in_apk_order() {
        let info = ApkInfo {
            name: "strace".into(),
            version: "5.14-r0".into(),
            arch: "x86_64".into(),
            desc: "tracer".into(),
            url: "https://strace.io".into(),
            license: "BSD-3-Clause".into(),
            origin: "strace".into(),
            maintainer: "N <n@x>".into(),
            commit: "aae0".into(),
            build_time: 1630625674,
            installed_size: 1601536,
            depends: vec!["so:libc.musl-x86_64.so.1".into(), "so:libdw.so.1".into()],
            provides: vec!["cmd:strace=5.14-r0".into()],
            checksum: "Q1eiZkJd97/XzppCxxoBXqKuVxWDg=".into(),
            ..ApkInfo::default()
        };
        assert_eq!(
            index_entry(&info, 488249),
            "C:Q1eiZkJd97/XzppCxxoBXqKuVxWDg=\nP:strace\nV:5.14-r0\nA:x86_64\nS:488249\n\
             I:1601536\nT:tracer\nU:https://strace.io\nL:BSD-3-Clause\no:strace\nm:N <n@x>\n\
             t:1630625674\nc:aae0\nD:so:libc.musl-x86_64.so.1 so:libdw.so.1\n\
             p:cmd:strace=5.14-r0\n"
        );
    }

    #[test]
    fn signed_index_round_trips() {
        let bytes = signed_index("test", "C:Q1x=\nP:a\nV:1-r0\n\n", 7, |signed| {
            vec![(signature_member(false, "k.rsa.pub"), signed[..4].to_vec())]
        });
        let streams = gzip_streams(&bytes).unwrap();
        assert_eq!(streams.len(), 2);
        let a = read_index_archive(&bytes).unwrap();
        assert_eq!(a.signatures.len(), 1);
        assert_eq!(a.signatures[0].0, ".SIGN.RSA.k.rsa.pub");
        assert_eq!(a.signatures[0].1, a.signed[..4].to_vec());
        assert_eq!(a.signed, bytes[streams[1].clone()].to_vec());
        assert_eq!(a.description, "test");
        assert_eq!(parse_index(&a.apkindex).unwrap().len(), 1);
    }
}
