//! Arch Linux packages (`.pkg.tar.zst`, `.xz`, `.gz`, plain `.pkg.tar`):
//! reading an upload and rendering its entries in a pacman sync database.
//!
//! # On-disk layout (makepkg, `PKGBUILD(5)`, libalpm `be_package.c`)
//!
//! ```text
//! compressed stream      zstd (28 b5 2f fd), xz (fd 37 7a 58 5a 00), gzip (1f 8b),
//!                        or none; the name says .pkg.tar{.zst,.xz,.gz,}
//! └ tar (pax or ustar, as bsdtar writes it)
//!   .PKGINFO             "key = value" lines: pkgname, pkgbase, pkgver (the full
//!                        [epoch:]pkgver-pkgrel), pkgdesc, url, builddate, packager,
//!                        size (installed bytes), arch, and repeated license, group,
//!                        depend, optdepend, makedepend, checkdepend, provides,
//!                        conflict, replaces, backup; '#' lines are comments
//!   .BUILDINFO           the build environment (optional, not read)
//!   .MTREE               gzip'd mtree of the files (optional, not read)
//!   .INSTALL, .CHANGELOG optional
//!   usr/, usr/bin/, ...  the files to install, directories with a trailing '/'
//! ```
//!
//! A detached binary OpenPGP signature may come beside the package as
//! `{file}.sig`; in a sync database its base64 is the `%PGPSIG%` field.
//!
//! # What [`inspect`] does
//!
//! It streams the file once, front to back, never writes to disk and never
//! follows a link. The compression is recognised by its magic (the name is
//! only a hint elsewhere); the decompressed stream goes through a counter
//! that stops at [`Limits::max_unpacked`] bytes, and once past
//! [`Limits::ratio_floor`] bytes at [`Limits::max_ratio`] times the
//! compressed bytes read so far, so a decompression bomb costs bounded work
//! and no memory. Every tar member is checked: its name must be relative,
//! valid UTF-8, without control characters and without a `..` component
//! (for hard links, the target too). `.PKGINFO` (at most
//! [`Limits::max_pkginfo`] bytes, exactly one) is parsed as repo-add reads
//! it and validated with makepkg's rules ([`validate_name`],
//! [`validate_version`], [`validate_arch`]); the other members make the file
//! list, within [`Limits::max_files`] names and [`Limits::max_file_bytes`]
//! bytes of names. The archive must end properly: a truncated compressed
//! stream, a tar cut inside a member or without its end-of-archive blocks,
//! or data after the compressed stream are refused.
//!
//! # What the database says
//!
//! [`desc`] and [`files`] render a package's two database entries byte for
//! byte as repo-add 6.0 writes them (`db_write_entry`), and [`db`] wraps
//! entries in the tar members of a `.db` or `.files` archive.

pub mod db;
pub mod version;

use crate::FormatError;
use crate::deb822::clip;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The decompressed tar, in bytes.
    pub max_unpacked: u64,
    /// Decompressed bytes per compressed byte, checked once more than
    /// [`Limits::ratio_floor`] bytes came out.
    pub max_ratio: u64,
    /// Decompressed bytes always allowed whatever the ratio.
    pub ratio_floor: u64,
    /// The `.PKGINFO` member.
    pub max_pkginfo: u64,
    /// Members listed in `%FILES%`.
    pub max_files: usize,
    /// Bytes of member names listed in `%FILES%`.
    pub max_file_bytes: usize,
}

impl Default for Limits {
    /// 16 GiB unpacked, and past the first 256 MiB at most 1,000 times the
    /// compressed size (zeros compress 1,000 to 30,000 times; real packages
    /// 2 to 20 times); 1 MiB of `.PKGINFO`; 1,000,000 files with 256 MiB of
    /// names.
    fn default() -> Self {
        Limits {
            max_unpacked: 16 << 30,
            max_ratio: 1000,
            ratio_floor: 256 << 20,
            max_pkginfo: 1 << 20,
            max_files: 1_000_000,
            max_file_bytes: 256 << 20,
        }
    }
}

/// What [`inspect`] read from a package: the `.PKGINFO` fields repo-add
/// uses, values as repo-add keeps them (runs of spaces and tabs made one
/// space), plus the file list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacmanInfo {
    /// `pkgname`, validated.
    pub name: String,
    /// `pkgbase`; empty when absent (so are the other texts).
    pub base: String,
    /// `pkgver`: the full `[epoch:]pkgver-pkgrel`, validated.
    pub version: String,
    pub desc: String,
    pub url: String,
    /// `arch`, validated; `any` for architecture-independent packages.
    pub arch: String,
    /// `builddate`, decimal seconds since the epoch, as written.
    pub builddate: String,
    pub packager: String,
    /// `size`: installed bytes, decimal, as written.
    pub size: String,
    pub groups: Vec<String>,
    pub licenses: Vec<String>,
    pub replaces: Vec<String>,
    pub depends: Vec<String>,
    pub optdepends: Vec<String>,
    pub makedepends: Vec<String>,
    pub checkdepends: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    /// The dot-files beside `.PKGINFO` (`.BUILDINFO`, `.MTREE`, `.INSTALL`,
    /// `.CHANGELOG`), in archive order.
    pub metadata: Vec<String>,
    /// The `%FILES%` list: member names as `bsdtar -t` prints them (a `\`
    /// doubled), members whose name starts with `.` left out, sorted
    /// bytewise, without repeats.
    #[serde(skip)]
    pub files: Vec<String>,
}

impl PacmanInfo {
    /// The build date as a number (0 when absent).
    pub fn build_time(&self) -> u64 {
        self.builddate.parse().unwrap_or(0)
    }
}

/// The checksums and signature a `desc` entry lists besides the
/// package's own fields.
#[derive(Debug, Clone, Copy)]
pub struct DescFile<'a> {
    /// `%FILENAME%`: the file name pacman downloads, beside the database.
    pub filename: &'a str,
    /// `%CSIZE%`: the package file's size.
    pub size: u64,
    /// `%MD5SUM%`, lowercase hex.
    pub md5: &'a str,
    /// `%SHA256SUM%`, lowercase hex.
    pub sha256: &'a str,
    /// The detached binary signature, written base64 as `%PGPSIG%`.
    pub signature: Option<&'a [u8]>,
}

const ZSTD_MAGIC: &[u8] = b"\x28\xb5\x2f\xfd";
const XZ_MAGIC: &[u8] = b"\xfd7zXZ\x00";
const GZIP_MAGIC: &[u8] = b"\x1f\x8b";
/// Memory the xz decoder may use (a 64 MiB dictionary, `xz -9`, needs 65).
const XZ_MEMLIMIT: u64 = 128 << 20;
/// The largest zstd window accepted: 2^27 (128 MiB), what makepkg's
/// `zstd --ultra -20` and `--long` use. The decoder allocates the window a
/// frame header declares before it reads any data, so zstd's own maximum
/// (2^31) let a 6-byte upload allocate 2 GiB (found by fuzzing).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// The file name suffixes of pacman packages, longest first. The name
/// routes an upload to [`inspect`] (see [`crate::detect`]).
pub const EXTENSIONS: [&str; 8] = [
    ".pkg.tar.zst",
    ".pkg.tar.xz",
    ".pkg.tar.gz",
    ".pkg.tar.bz2",
    ".pkg.tar.lz4",
    ".pkg.tar.lzo",
    ".pkg.tar.Z",
    ".pkg.tar",
];

/// True for a name ending in one of [`EXTENSIONS`] (with something before
/// it).
pub fn is_package_name(filename: &str) -> bool {
    EXTENSIONS
        .iter()
        .any(|ext| filename.len() > ext.len() && filename.ends_with(ext))
}

/// Reads and validates a package; see the module docs for what is checked.
/// `reader` is read from the start to its end, once.
pub fn inspect<R: Read>(reader: R, limits: &Limits) -> Result<PacmanInfo, FormatError> {
    let consumed = Arc::new(AtomicU64::new(0));
    let mut input = BufReader::with_capacity(
        crate::archive::READ_BUFFER,
        CountingReader {
            inner: reader,
            count: consumed.clone(),
        },
    );
    let head = input.fill_buf().map_err(FormatError::Io)?;
    if head.is_empty() {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not a pacman package".into(),
        ));
    }
    let kind = sniff(head)?;
    let decoded = decoder(input, kind).map_err(|e| corrupt(kind, e))?;
    let mut limited = LimitReader {
        inner: decoded,
        out: 0,
        consumed,
        limits: *limits,
        exceeded: None,
        tail: [0u8; 512],
        tail_len: 0,
        eof: false,
    };
    let result = scan(&mut limited, limits, kind);
    let result = result.and_then(|info| {
        // The tar ended with its zero blocks; the stream must end too.
        let mut sink = [0u8; 8192];
        loop {
            match limited.read(&mut sink) {
                Ok(0) => return Ok(info),
                Ok(n) if sink[..n].iter().all(|&b| b == 0) => {}
                Ok(_) => {
                    return Err(ScanError::Format(FormatError::Invalid(
                        "the package has data after the tar's end-of-archive blocks".into(),
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ScanError::Io(e)),
            }
        }
    });
    match result {
        Ok(info) => Ok(info),
        Err(ScanError::Io(_)) if limited.exceeded.is_some() => Err(FormatError::TooLarge(
            limited.exceeded.take().unwrap_or_default(),
        )),
        Err(ScanError::Io(e)) if limited.eof || e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(FormatError::Truncated(format!(
                "the package ends early: {} ({e})",
                match kind {
                    Kind::Tar => "cut inside the tar",
                    _ => "the compressed stream is incomplete",
                }
            )))
        }
        Err(ScanError::Io(e)) => Err(corrupt(kind, e)),
        Err(ScanError::Format(e)) => Err(e),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zstd,
    Xz,
    Gzip,
    Tar,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Zstd => "zstd",
            Kind::Xz => "xz",
            Kind::Gzip => "gzip",
            Kind::Tar => "tar",
        }
    }
}

fn corrupt(kind: Kind, e: io::Error) -> FormatError {
    match kind {
        Kind::Tar => FormatError::Invalid(format!("the package's tar is corrupt: {e}")),
        k => FormatError::Invalid(format!("the package's {} stream is corrupt: {e}", k.name())),
    }
}

/// The compression, from the magic. A prefix of a magic is a truncated
/// file; a bzip2, lz4, lzip or lrzip stream is named as unsupported.
fn sniff(head: &[u8]) -> Result<Kind, FormatError> {
    for (magic, kind) in [
        (ZSTD_MAGIC, Kind::Zstd),
        (XZ_MAGIC, Kind::Xz),
        (GZIP_MAGIC, Kind::Gzip),
    ] {
        if head.starts_with(magic) {
            return Ok(kind);
        }
        if head.len() < magic.len() && magic.starts_with(head) {
            return Err(FormatError::Truncated(format!(
                "the file ends after {} bytes, inside the {} magic",
                head.len(),
                kind.name()
            )));
        }
    }
    if head.get(257..262) == Some(b"ustar") {
        return Ok(Kind::Tar);
    }
    for (magic, name) in [
        (&b"BZh"[..], "bzip2"),
        (b"\x04\x22\x4d\x18", "lz4"),
        (b"LZIP", "lzip"),
        (b"LRZI", "lrzip"),
        (b"\x89LZO", "lzop"),
        (b"\x1f\x9d", "compress"),
    ] {
        if head.starts_with(magic) {
            return Err(FormatError::Invalid(format!(
                "the package is compressed with {name}; depot reads .pkg.tar.zst, .xz, .gz \
                 and plain .pkg.tar (makepkg's default is zstd)"
            )));
        }
    }
    if head.len() < 512 && !head.iter().any(|&b| b != 0) {
        return Err(FormatError::Truncated(format!(
            "the file ends after {} bytes, inside the first tar header",
            head.len()
        )));
    }
    Err(FormatError::NotAnArchive(
        "not a pacman package: a .pkg.tar.* file is a tar, compressed with zstd, xz or gzip \
         (or not at all), and none of those magic numbers is at its start"
            .into(),
    ))
}

fn decoder<'a, R: BufRead + 'a>(input: R, kind: Kind) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match kind {
        Kind::Tar => Box::new(input),
        Kind::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Kind::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(input, stream))
        }
        Kind::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(input)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(d)
        }
    })
}

/// Counts the bytes read from the upload.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counts decompressed bytes, fails past the limits (a bomb is stopped
/// there), and remembers the last 512 bytes (to see how the tar ended).
struct LimitReader<R> {
    inner: R,
    out: u64,
    consumed: Arc<AtomicU64>,
    limits: Limits,
    exceeded: Option<String>,
    tail: [u8; 512],
    tail_len: usize,
    /// The decompressed stream has ended.
    eof: bool,
}

impl<R: Read> LimitReader<R> {
    fn check(&mut self) -> io::Result<()> {
        let l = &self.limits;
        let why = if self.out > l.max_unpacked {
            Some(format!(
                "the package unpacks to more than {} (a decompression bomb?)",
                human(l.max_unpacked)
            ))
        } else if self.out > l.ratio_floor {
            let consumed = self.consumed.load(Ordering::Relaxed).max(1);
            (self.out / consumed >= l.max_ratio).then(|| {
                format!(
                    "the package unpacks to more than {} times its compressed size \
                     ({} from {consumed} bytes so far): a decompression bomb",
                    l.max_ratio,
                    human(self.out)
                )
            })
        } else {
            None
        };
        match why {
            Some(why) => {
                self.exceeded = Some(why);
                Err(io::Error::other("decompressed size limit reached"))
            }
            None => Ok(()),
        }
    }
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded.is_some() {
            return Err(io::Error::other("decompressed size limit reached"));
        }
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.eof = true;
        }
        self.out += n as u64;
        self.check()?;
        // Keep the last 512 bytes read.
        if n >= 512 {
            self.tail.copy_from_slice(&buf[n - 512..n]);
            self.tail_len = 512;
        } else if n > 0 {
            let keep = (512 - n).min(self.tail_len);
            self.tail
                .copy_within(self.tail_len - keep..self.tail_len, 0);
            self.tail[keep..keep + n].copy_from_slice(&buf[..n]);
            self.tail_len = keep + n;
        }
        Ok(n)
    }
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

impl From<FormatError> for ScanError {
    fn from(e: FormatError) -> Self {
        ScanError::Format(e)
    }
}

fn invalid(msg: String) -> ScanError {
    ScanError::Format(FormatError::Invalid(msg))
}

/// Walks every member: validates names, reads `.PKGINFO`, lists files.
fn scan<R: Read>(
    r: &mut LimitReader<R>,
    limits: &Limits,
    kind: Kind,
) -> Result<PacmanInfo, ScanError> {
    let mut pkginfo: Option<Vec<u8>> = None;
    let mut metadata = Vec::new();
    let mut files: Vec<String> = Vec::new();
    let mut file_bytes = 0usize;
    let mut members = 0u64;
    {
        let mut archive = tar::Archive::new(&mut *r);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
            ) {
                continue;
            }
            members += 1;
            let raw = entry.path_bytes().into_owned();
            let name = member_name(&raw, members)?;
            if kind == tar::EntryType::Link
                && let Some(target) = entry.link_name_bytes()
            {
                member_name(&target, members).map_err(|e| match e {
                    ScanError::Format(FormatError::Invalid(m)) => {
                        invalid(format!("hard link '{}': its target {m}", clip(&name)))
                    }
                    e => e,
                })?;
            }
            if name == ".PKGINFO" {
                if pkginfo.is_some() {
                    return Err(invalid("the package has two .PKGINFO members".into()));
                }
                if !(kind.is_file() || kind == tar::EntryType::Continuous) {
                    return Err(invalid(".PKGINFO is not a regular file".into()));
                }
                if entry.size() > limits.max_pkginfo {
                    return Err(ScanError::Format(FormatError::TooLarge(format!(
                        ".PKGINFO is {} bytes, over the {} limit",
                        entry.size(),
                        human(limits.max_pkginfo)
                    ))));
                }
                let mut buf = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut buf)?;
                pkginfo = Some(buf);
                continue;
            }
            if [".BUILDINFO", ".MTREE", ".INSTALL", ".CHANGELOG"].contains(&name.as_str())
                && !metadata.contains(&name)
            {
                metadata.push(name.clone());
            }
            if bsdtar_excluded(&name) {
                continue;
            }
            if files.len() >= limits.max_files {
                return Err(ScanError::Format(FormatError::TooLarge(format!(
                    "the package has more than {} files",
                    limits.max_files
                ))));
            }
            let listed = bsdtar_escape(&name);
            file_bytes += listed.len() + 1;
            if file_bytes > limits.max_file_bytes {
                return Err(ScanError::Format(FormatError::TooLarge(format!(
                    "the package's file names take more than {}",
                    human(limits.max_file_bytes as u64)
                ))));
            }
            files.push(listed);
        }
    }
    // The tar crate stops at the first zero block or at the end of the
    // input; only the first is a complete archive.
    if r.tail_len < 512 || r.tail.iter().any(|&b| b != 0) || !r.out.is_multiple_of(512) {
        return Err(ScanError::Format(FormatError::Truncated(match kind {
            Kind::Tar => "the package ends early: its tar has no end-of-archive blocks".into(),
            k => format!(
                "the package ends early: the tar inside the {} stream has no \
                 end-of-archive blocks",
                k.name()
            ),
        })));
    }
    let Some(pkginfo) = pkginfo else {
        return Err(invalid(
            "the package has no .PKGINFO member (is it a pacman package?)".into(),
        ));
    };
    let mut info = parse_pkginfo(&pkginfo)?;
    files.sort_unstable();
    files.dedup();
    info.files = files;
    info.metadata = metadata;
    Ok(info)
}

/// A member name, validated: UTF-8, relative, no control characters, no
/// `..` component.
fn member_name(raw: &[u8], index: u64) -> Result<String, ScanError> {
    let name = std::str::from_utf8(raw).map_err(|_| {
        invalid(format!(
            "tar member #{index} has a name that is not valid UTF-8 ({:?})",
            clip(&String::from_utf8_lossy(raw))
        ))
    })?;
    if name.is_empty() {
        return Err(invalid(format!("tar member #{index} has an empty name")));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(invalid(format!(
            "tar member '{}' has a control character {c:?} in its name",
            clip(name)
        )));
    }
    if name.starts_with('/') {
        return Err(invalid(format!(
            "tar member '{}' has an absolute path; a package's paths are relative to the root",
            clip(name)
        )));
    }
    if name.split('/').any(|seg| seg == "..") {
        return Err(invalid(format!(
            "tar member '{}' has a '..' component (path traversal)",
            clip(name)
        )));
    }
    Ok(name.to_string())
}

/// Whether `bsdtar --exclude='^.*'` (repo-add's filter) leaves `name` out:
/// libarchive's pathmatch skips a leading `./` (and the `/` and `./` that
/// follow it) and then matches names that start with `.`.
fn bsdtar_excluded(name: &str) -> bool {
    let mut s = name.as_bytes();
    if s.starts_with(b"./") {
        s = &s[1..];
        loop {
            match s {
                [b'/', rest @ ..] => s = rest,
                [b'.', b'/', rest @ ..] => s = rest,
                [b'.'] => s = &[],
                _ => break,
            }
        }
    }
    s.first() == Some(&b'.')
}

/// A name as `bsdtar -t` prints it in a UTF-8 locale: backslashes doubled
/// (control characters, which it would escape too, are refused earlier).
fn bsdtar_escape(name: &str) -> String {
    if name.contains('\\') {
        name.replace('\\', "\\\\")
    } else {
        name.to_string()
    }
}

fn human(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Parses `.PKGINFO` as repo-add reads it (see [`parse_pkginfo_line`]) and
/// validates what pacman and makepkg require.
pub fn parse_pkginfo(bytes: &[u8]) -> Result<PacmanInfo, FormatError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FormatError::Invalid(format!(
            ".PKGINFO is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut info = PacmanInfo::default();
    let mut seen: Vec<&str> = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let Some((key, value)) = parse_pkginfo_line(line) else {
            continue;
        };
        let lineno = i + 1;
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(FormatError::Invalid(format!(
                ".PKGINFO line {lineno} ('{key}') has a control character {c:?}"
            )));
        }
        let single = |slot: &mut String, seen: &mut Vec<&str>, key: &'static str| {
            if seen.contains(&key) {
                return Err(FormatError::Invalid(format!(
                    ".PKGINFO has two '{key}' lines (line {lineno})"
                )));
            }
            seen.push(key);
            *slot = value.clone();
            Ok(())
        };
        let list = |list: &mut Vec<String>, key: &str| {
            if value.is_empty() {
                return Err(FormatError::Invalid(format!(
                    ".PKGINFO line {lineno}: '{key}' is empty"
                )));
            }
            list.push(value.clone());
            Ok(())
        };
        match key {
            "pkgname" => single(&mut info.name, &mut seen, "pkgname")?,
            "pkgbase" => single(&mut info.base, &mut seen, "pkgbase")?,
            "pkgver" => single(&mut info.version, &mut seen, "pkgver")?,
            "pkgdesc" => single(&mut info.desc, &mut seen, "pkgdesc")?,
            "url" => single(&mut info.url, &mut seen, "url")?,
            "builddate" => single(&mut info.builddate, &mut seen, "builddate")?,
            "packager" => single(&mut info.packager, &mut seen, "packager")?,
            "size" => single(&mut info.size, &mut seen, "size")?,
            "arch" => single(&mut info.arch, &mut seen, "arch")?,
            "group" => list(&mut info.groups, key)?,
            "license" => list(&mut info.licenses, key)?,
            "replaces" => list(&mut info.replaces, key)?,
            "depend" => list(&mut info.depends, key)?,
            "optdepend" => list(&mut info.optdepends, key)?,
            "makedepend" => list(&mut info.makedepends, key)?,
            "checkdepend" => list(&mut info.checkdepends, key)?,
            "provides" => list(&mut info.provides, key)?,
            "conflict" => list(&mut info.conflicts, key)?,
            // backup, xdata, and keys of newer makepkg versions.
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
                ".PKGINFO has no {key} (pacman needs pkgname, pkgver and arch)"
            )));
        }
    }
    validate_name(&info.name).map_err(|why| {
        FormatError::Invalid(format!(
            "pkgname '{}' is not a valid pacman package name: {why}",
            clip(&info.name)
        ))
    })?;
    if !info.base.is_empty() {
        validate_name(&info.base).map_err(|why| {
            FormatError::Invalid(format!(
                "pkgbase '{}' is not a valid pacman package name: {why}",
                clip(&info.base)
            ))
        })?;
    }
    validate_version(&info.version).map_err(|why| {
        FormatError::Invalid(format!(
            "pkgver '{}' is not a valid pacman version: {why}",
            clip(&info.version)
        ))
    })?;
    validate_arch(&info.arch).map_err(|why| {
        FormatError::Invalid(format!(
            "arch '{}' is not a valid architecture: {why}",
            clip(&info.arch)
        ))
    })?;
    for (key, value) in [("builddate", &info.builddate), ("size", &info.size)] {
        let number = value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit());
        if !value.is_empty() && !number {
            return Err(FormatError::Invalid(format!(
                ".PKGINFO {key} '{}' is not a number",
                clip(value)
            )));
        }
    }
    Ok(info)
}

/// One `.PKGINFO` line as repo-add reads it: `while read -r line` (spaces
/// and tabs trimmed at both ends), `#` lines skipped, then
/// `IFS=' =' read -r var val` (the key ends at the first space or `=`; then
/// spaces, at most one `=`, spaces), and every run of spaces and tabs in the
/// value made one space. `None` for comments and lines without a key.
pub fn parse_pkginfo_line(line: &str) -> Option<(&str, String)> {
    let line = line.trim_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let key_end = line.find([' ', '=']).unwrap_or(line.len());
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start_matches(' ');
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches(' ');
    }
    if key.is_empty() {
        return None;
    }
    let mut value = String::with_capacity(rest.len());
    let mut in_space = false;
    for c in rest.chars() {
        if c == ' ' || c == '\t' {
            if !in_space {
                value.push(' ');
            }
            in_space = true;
        } else {
            value.push(c);
            in_space = false;
        }
    }
    Some((key, value))
}

/// A package name as makepkg's lint allows it: ASCII letters, digits and
/// `@._+-`, not starting with `-` or `.`, at most 255 bytes.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > 255 {
        return Err("is longer than 255 bytes".into());
    }
    if name.starts_with('-') {
        return Err("must not start with '-'".into());
    }
    if name.starts_with('.') {
        return Err("must not start with '.'".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "@._+-".contains(c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (only letters, digits and @ . _ + -)"
        ));
    }
    Ok(())
}

/// A full version `[epoch:]pkgver-pkgrel` as makepkg writes it: the epoch
/// digits, `pkgver` printable ASCII without whitespace, `:`, `/` or `-`,
/// `pkgrel` digits with at most one `.` inside (`1`, `2.1`).
pub fn validate_version(full: &str) -> Result<(), String> {
    let (epoch, rest) = match full.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, full),
    };
    if let Some(e) = epoch
        && (e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) || e.len() > 10)
    {
        return Err(format!("the epoch '{e}' is not a number"));
    }
    let Some((ver, rel)) = rest.rsplit_once('-') else {
        return Err("has no pkgrel (a full version is [epoch:]pkgver-pkgrel)".into());
    };
    if ver.is_empty() {
        return Err("pkgver is empty".into());
    }
    if let Some(c) = ver
        .chars()
        .find(|&c| !c.is_ascii_graphic() || matches!(c, ':' | '/' | '-'))
    {
        return Err(format!(
            "pkgver may not contain {c:?} (only printable ASCII without whitespace, ':', '/' or '-')"
        ));
    }
    let rel_ok = match rel.split_once('.') {
        Some((a, b)) => is_digits(a) && is_digits(b),
        None => is_digits(rel),
    };
    if !rel_ok {
        return Err(format!(
            "pkgrel '{rel}' is not of the form integer[.integer]"
        ));
    }
    Ok(())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// An architecture as makepkg allows it: ASCII letters, digits and `_`
/// (`x86_64`, `aarch64`, `any`), at most 64 bytes.
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

/// The `desc` entry of a package, byte for byte as repo-add 6.0 writes it
/// (`format_entry` per field, each `%NAME%`, its values one per line and an
/// empty line; a field with no value, or whose first value is empty, is
/// left out).
pub fn desc(info: &PacmanInfo, file: &DescFile<'_>) -> String {
    let mut out = String::with_capacity(512);
    let sig = file.signature.map(base64_encode).unwrap_or_default();
    let size = file.size.to_string();
    let one = |v: &str| vec![v.to_string()];
    let fields: [(&str, Vec<String>); 23] = [
        ("FILENAME", one(file.filename)),
        ("NAME", one(&info.name)),
        ("BASE", one(&info.base)),
        ("VERSION", one(&info.version)),
        ("DESC", one(&info.desc)),
        ("GROUPS", info.groups.clone()),
        ("CSIZE", one(&size)),
        ("ISIZE", one(&info.size)),
        ("MD5SUM", one(file.md5)),
        ("SHA256SUM", one(file.sha256)),
        ("PGPSIG", one(&sig)),
        ("URL", one(&info.url)),
        ("LICENSE", info.licenses.clone()),
        ("ARCH", one(&info.arch)),
        ("BUILDDATE", one(&info.builddate)),
        ("PACKAGER", one(&info.packager)),
        ("REPLACES", info.replaces.clone()),
        ("CONFLICTS", info.conflicts.clone()),
        ("PROVIDES", info.provides.clone()),
        ("DEPENDS", info.depends.clone()),
        ("OPTDEPENDS", info.optdepends.clone()),
        ("MAKEDEPENDS", info.makedepends.clone()),
        ("CHECKDEPENDS", info.checkdepends.clone()),
    ];
    for (name, values) in fields {
        if values.first().is_none_or(|v| v.is_empty()) {
            continue;
        }
        out.push('%');
        out.push_str(name);
        out.push_str("%\n");
        for v in values {
            // Values never hold a line break (parse_pkginfo refuses control
            // characters), so an entry cannot inject another field; keep it
            // so even for an `info` built by hand.
            out.push_str(&v.replace(['\n', '\r'], " "));
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The `files` entry: `%FILES%` and one name per line, as repo-add writes
/// it (no empty line at the end).
pub fn files(info: &PacmanInfo) -> String {
    let mut out = String::with_capacity(8 + info.files.iter().map(|f| f.len() + 1).sum::<usize>());
    out.push_str("%FILES%\n");
    for f in &info.files {
        out.push_str(f);
        out.push('\n');
    }
    out
}

/// What the REST API shows for a package: the `.PKGINFO` fields, the
/// number of files, and the signature (base64) when there is one.
pub fn fields_json(info: &PacmanInfo) -> serde_json::Value {
    let mut v = serde_json::to_value(info).expect("PacmanInfo serializes");
    v["file_count"] = info.files.len().into();
    v
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding and no line breaks (what `base64 | tr -d
/// '\n'` gives, the form of `%PGPSIG%`).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(B64[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes [`base64_encode`]'s output (padding required, no white space).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (qi, q) in bytes.chunks(4).enumerate() {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && qi + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

// ---- the format ------------------------------------------------------------

/// The index entry stored with each pacman package (JSON), which the
/// pacman publisher reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacmanEntry {
    /// The `desc` entry, as repo-add writes it.
    pub desc: String,
    /// The `files` entry.
    pub files: String,
    /// The mtime of its tar members: the package's build date.
    pub mtime: u64,
}

/// Arch Linux packages as a [`crate::PackageFormat`], with their
/// [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacman {
    limits: Limits,
}

impl Pacman {
    pub fn new(limits: Limits) -> Self {
        Pacman { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl crate::PackageFormat for Pacman {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Pacman
    }

    /// Magic: an uncompressed tar whose first member is `.PKGINFO`,
    /// `.BUILDINFO` or `.MTREE`. A name in [`EXTENSIONS`] is a
    /// [reserved name](crate::Evidence::ReservedName): a `.pkg.tar.gz`
    /// whose first member is `.PKGINFO` looks like an apk inside.
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if matches!(
            head.plain_tar_member(),
            Some(b".PKGINFO" | b".BUILDINFO" | b".MTREE")
        ) {
            Some(crate::Evidence::Magic)
        } else if is_package_name(head.file_name()) {
            Some(crate::Evidence::ReservedName)
        } else {
            None
        }
    }

    /// What makepkg produces (`name-[epoch:]ver-rel-arch.pkg.tar.zst`),
    /// nothing a URL or a shell would need to escape besides `:`.
    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"@._+:~-", "a pacman package")
    }

    /// [`inspect`], then its `desc` (with no `%PGPSIG%`: signing is the
    /// service's business) and `files` entries as a [`PacmanEntry`].
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = inspect(BufReader::new(file), &self.limits)?;
        let sha256 = input.hashes.sha256.hex();
        let entry = PacmanEntry {
            desc: desc(
                &info,
                &DescFile {
                    filename: input.file_name,
                    size: input.size,
                    md5: &input.hashes.md5,
                    sha256: &sha256,
                    signature: None,
                },
            ),
            files: files(&info),
            mtime: info.build_time(),
        };
        Ok(crate::Inspected {
            fields: fields_json(&info),
            entry: serde_json::to_string(&entry).expect("entry serializes"),
            name: info.name,
            version: info.version,
            arch: info.arch,
        })
    }

    /// pacman's `vercmp` ([`version::vercmp`]).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::vercmp(a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkginfo_lines_like_bash_read() {
        let p = |l: &str| parse_pkginfo_line(l).map(|(k, v)| format!("{k}|{v}"));
        assert_eq!(p("pkgname = foo").as_deref(), Some("pkgname|foo"));
        assert_eq!(
            p("  pkgdesc = a  b\t\tc  ").as_deref(),
            Some("pkgdesc|a b c")
        );
        assert_eq!(p("pkgname=foo").as_deref(), Some("pkgname|foo"));
        assert_eq!(p("pkgdesc = = x").as_deref(), Some("pkgdesc|= x"));
        assert_eq!(p("pkgdesc = a = b").as_deref(), Some("pkgdesc|a = b"));
        assert_eq!(p("pkgdesc").as_deref(), Some("pkgdesc|"));
        assert_eq!(p("# generated by makepkg"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("= x"), None);
    }

    #[test]
    fn names_versions_arches() {
        for ok in ["foo", "lib32-foo", "foo++", "foo@bar", "0ad", "x_y.z"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-foo", ".foo", "foo/bar", "föo", "foo bar", "foo:bar"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        for ok in [
            "1.0-1",
            "1:1.0-1",
            "1.0.r12.gabc-2.1",
            "2024.01.01-1",
            "1.0_rc1+x~y-3",
        ] {
            assert!(validate_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1.0",
            ":1.0-1",
            "a:1.0-1",
            "1.0-",
            "-1",
            "1.0-a",
            "1.0-1.2.3",
            "1 0-1",
            "1/0-1",
        ] {
            assert!(validate_version(bad).is_err(), "{bad}");
        }
        for ok in ["x86_64", "any", "aarch64", "armv7h", "i686"] {
            assert!(validate_arch(ok).is_ok(), "{ok}");
        }
        for bad in ["", "x86-64", "x86 64", "a/b"] {
            assert!(validate_arch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bsdtar_exclusion() {
        assert!(bsdtar_excluded(".PKGINFO"));
        assert!(bsdtar_excluded(".hid/f"));
        assert!(bsdtar_excluded("./.hid/"));
        assert!(bsdtar_excluded("."));
        assert!(!bsdtar_excluded("./"));
        assert!(!bsdtar_excluded("usr/bin/.hidden"));
        assert!(!bsdtar_excluded("./usr/bin/x"));
        assert!(!bsdtar_excluded(".//usr/y"));
        assert!(!bsdtar_excluded("././usr/x"));
        assert_eq!(bsdtar_escape("a\\x2db"), "a\\\\x2db");
    }

    #[test]
    fn base64_round_trips() {
        for (plain, enc) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (b"\xff\xfe\x00", "//4A"),
        ] {
            assert_eq!(base64_encode(plain), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(plain));
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "Zm 9"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }
}
