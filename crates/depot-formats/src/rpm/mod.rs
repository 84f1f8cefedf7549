//! RPM packages (`.rpm`): reading an upload and rendering its entries in
//! the `repodata/` XML files that dnf and yum read.
//!
//! # On-disk layout (rpm's `lib/package.c`, the LSB package format)
//!
//! ```text
//! lead            96 bytes: ed ab ee db, major (3|4), minor, type u16 (0 binary,
//!                 1 source), arch u16, name[66], os u16, signature type u16 (5),
//!                 reserved[16]; all integers big-endian
//! signature hdr   a header (below) about what follows it: SHA256 (273) and SHA1
//!                 (269) of the main header, SIZE (1000) or LONGSIZE (270) of main
//!                 header + payload, MD5 (1004) of main header + payload,
//!                 PAYLOADSIZE (1007) of the uncompressed archive, signatures
//! padding         0-7 bytes, so that the main header starts at a multiple of 8
//! main header     every package tag: NAME (1000), VERSION, RELEASE, EPOCH, ARCH,
//!                 files (BASENAMES, DIRNAMES, DIRINDEXES, FILEMODES, FILEFLAGS),
//!                 dependencies (name, flags and version arrays per kind),
//!                 changelog, PAYLOADDIGEST (5092: hex digest of the payload as
//!                 stored) with its algorithm (5093), PAYLOADCOMPRESSOR (1125)
//! payload         the files: a cpio archive, compressed (gzip, xz, zstd, bzip2)
//! ```
//!
//! A header is a 16-byte intro (`8e ad e8 01`, 4 reserved bytes, the index
//! count `il` and the data size `dl` as u32), `il` index entries of 16
//! bytes (tag, type, offset, count) and `dl` bytes of data; see
//! `header.rs`.
//!
//! # What [`inspect`] does
//!
//! It streams the file once, front to back, holding only the two headers
//! in memory. The headers are read with depot's own tag reader, not the
//! `rpm` crate's parser: the intro's counts are checked against [`Limits`]
//! before anything is allocated (a header claiming 4 billion entries is
//! refused after reading 16 bytes), and every index entry is checked the
//! way rpm's `hdrblobVerifyInfo` checks it (known type, data inside the
//! store, strings terminated, entries not overlapping) before any tag is
//! read, so no count or offset in the file can make the reader allocate
//! more than [`Limits`] allows, run long or panic.
//!
//! Then, in order:
//!
//! 1. the main header's SHA-256 (or, in older packages, SHA-1) from the
//!    signature header is checked;
//! 2. name, version, release and architecture are validated with rpmbuild's
//!    rules ([`version::validate_name`], [`version::validate_version`],
//!    [`version::validate_arch`]), and every text that goes into XML is
//!    checked for control characters (createrepo_c refuses those too);
//! 3. the payload is streamed through a hasher, never held in memory, and
//!    compared with the header's PAYLOADDIGEST (MD5, SHA-1, SHA-256 or
//!    SHA-512; or, in packages older than rpm 4.14 that have none, with the
//!    signature header's MD5 of header and payload), its length with the
//!    signature header's SIZE/LONGSIZE (fewer bytes: truncated; more:
//!    refused), and its first bytes with the magic of PAYLOADCOMPRESSOR.
//!    A SHA-256 (nearly every package since rpm 4.14) or SHA-512 digest
//!    is computed with `sha2` alone; only the legacy MD5 and SHA-1 checks
//!    go through depot-core's `MultiHasher`, which computes all four.
//!
//! Text that is not valid UTF-8 (old packages) is read as ISO-8859-1, as
//! createrepo_c converts it.
//!
//! Source packages (lead type 1, a SOURCEPACKAGE tag, or no SOURCERPM tag)
//! are accepted with `is_source` set and arch `src`, as createrepo_c lists
//! them; the repository decides where they go.
//!
//! # What the metadata says
//!
//! [`RpmInfo`] holds what createrepo_c 0.17 would put in `primary.xml`,
//! `filelists.xml` and `other.xml` for the package, after the same
//! filtering (`src/parsehdr.c`): `rpmlib(...)` requires are dropped, so are
//! requires on the package's own primary files and requires that equal one
//! of its provides, repeated requires, and all `libc.so.6` requires but the
//! highest; legacy `Requires(missingok)` become recommends and old-style
//! `Suggests`/`Enhances` are sorted by their strong bit; only the ten
//! newest changelog entries are kept, oldest first, with equal dates made
//! distinct. [`fragments`] renders the three `<package>` elements from it,
//! byte for byte as createrepo_c writes them; [`repodata`] wraps them in
//! files and writes `repomd.xml`.

mod header;
pub mod repodata;
pub mod version;
mod xml;

pub use xml::{Fragments, fragments};

use crate::FormatError;
use crate::deb822::clip;
use depot_core::{MultiHasher, Sha256};
use header::{Header, read_full, text};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read};

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The signature header and the main header together, in bytes.
    pub max_header_bytes: u64,
    /// Index entries in one header. rpm itself refuses more than 65,535.
    pub max_index_entries: u32,
    /// Files, directory names and dependencies of every kind together:
    /// bounds the memory one package's lists can take (about 100 bytes
    /// each) whatever the header size.
    pub max_items: u32,
}

impl Default for Limits {
    /// 64 MiB of headers, 65,535 index entries per header (rpm's own
    /// limit), 1,000,000 files and dependencies.
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 << 20,
            max_index_entries: 65_535,
            max_items: 1_000_000,
        }
    }
}

/// What [`inspect`] read from an .rpm; see the module docs for how the
/// lists are filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpmInfo {
    /// NAME, validated.
    pub name: String,
    /// EPOCH, 0 when absent.
    pub epoch: u32,
    /// VERSION, validated.
    pub version: String,
    /// RELEASE, validated.
    pub release: String,
    /// ARCH, validated; `src` for source packages.
    pub arch: String,
    /// A source package (`.src.rpm`).
    pub is_source: bool,
    /// The untranslated SUMMARY; empty when absent (so are the next eight).
    pub summary: String,
    pub description: String,
    pub url: String,
    pub license: String,
    pub vendor: String,
    pub group: String,
    pub buildhost: String,
    /// SOURCERPM: the source package this one was built from; empty for
    /// source packages.
    pub sourcerpm: String,
    pub packager: String,
    /// BUILDTIME, seconds since the epoch.
    pub build_time: u64,
    /// LONGSIZE or SIZE: the files' total size once installed.
    pub installed_size: u64,
    /// LONGARCHIVESIZE or PAYLOADSIZE: the uncompressed payload's size.
    pub archive_size: u64,
    /// Byte offset of the main header in the file (after the lead, the
    /// signature header and its padding).
    pub header_start: u64,
    /// Byte offset of the payload (the end of the main header).
    pub header_end: u64,
    pub requires: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub conflicts: Vec<Dependency>,
    pub obsoletes: Vec<Dependency>,
    pub recommends: Vec<Dependency>,
    pub suggests: Vec<Dependency>,
    pub supplements: Vec<Dependency>,
    pub enhances: Vec<Dependency>,
    /// Every file, directory and ghost, in header order.
    pub files: Vec<RpmFile>,
    /// At most the ten newest entries, oldest first (as `other.xml` lists
    /// them).
    pub changelogs: Vec<Changelog>,
}

impl RpmInfo {
    /// `epoch:version-release`, or `version-release` when the epoch is 0.
    pub fn evr(&self) -> String {
        if self.epoch == 0 {
            format!("{}-{}", self.version, self.release)
        } else {
            format!("{}:{}-{}", self.epoch, self.version, self.release)
        }
    }
}

/// A version comparison in a dependency, as `primary.xml` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DepFlags {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl DepFlags {
    /// From rpm's RPMSENSE bits (LESS 2, GREATER 4, EQUAL 8), as
    /// createrepo_c's `cr_flag_to_str`: no comparison, or `<>`, is `None`.
    pub fn from_rpmsense(flags: u64) -> Option<DepFlags> {
        match flags & 0xf {
            2 => Some(DepFlags::Lt),
            4 => Some(DepFlags::Gt),
            8 => Some(DepFlags::Eq),
            10 => Some(DepFlags::Le),
            12 => Some(DepFlags::Ge),
            _ => None,
        }
    }

    /// `EQ`, `LT`, `GT`, `LE`, `GE`.
    pub fn as_str(self) -> &'static str {
        match self {
            DepFlags::Eq => "EQ",
            DepFlags::Lt => "LT",
            DepFlags::Gt => "GT",
            DepFlags::Le => "LE",
            DepFlags::Ge => "GE",
        }
    }

    /// `=`, `<`, `>`, `<=`, `>=`.
    pub fn operator(self) -> &'static str {
        match self {
            DepFlags::Eq => "=",
            DepFlags::Lt => "<",
            DepFlags::Gt => ">",
            DepFlags::Le => "<=",
            DepFlags::Ge => ">=",
        }
    }
}

/// One `rpm:entry`: a capability, optionally with a version comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// `beta`, `/bin/sh`, `(gamma or delta)` (rich dependencies are names
    /// too), `libc.so.6(GLIBC_2.34)(64bit)`.
    pub name: String,
    /// The comparison; `None` means any version (epoch, version and release
    /// are then not written).
    pub flags: Option<DepFlags>,
    /// The version's epoch; `0` when the version has none, empty when there
    /// is no version (so are the next two).
    pub epoch: String,
    pub version: String,
    pub release: String,
    /// `Requires(pre)`, `Requires(post)` or a legacy `PreReq`: needed while
    /// installing (only ever set on requires).
    pub pre: bool,
}

impl Dependency {
    /// As rpm prints it: `beta >= 1:2.0-1`, `alpha-cap`.
    pub fn display(&self) -> String {
        let Some(flags) = self.flags else {
            return self.name.clone();
        };
        let mut s = format!("{} {} ", self.name, flags.operator());
        if !self.epoch.is_empty() && self.epoch != "0" {
            s.push_str(&self.epoch);
            s.push(':');
        }
        s.push_str(&self.version);
        if !self.release.is_empty() {
            s.push('-');
            s.push_str(&self.release);
        }
        s
    }
}

/// What a listed path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file, symlink or device.
    File,
    /// A directory the package owns.
    Dir,
    /// A `%ghost`: owned but not in the payload.
    Ghost,
}

/// One path of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpmFile {
    /// The full path (`/usr/bin/hello`; relative in source packages).
    pub path: String,
    pub kind: FileKind,
}

/// One `%changelog` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changelog {
    /// `Name <mail> - version`, trailing spaces removed.
    pub author: String,
    /// Seconds since the epoch (a day's noon as rpmbuild stores it, made
    /// distinct from the entry before as createrepo_c does).
    pub date: u64,
    pub text: String,
}

/// How many changelog entries createrepo_c keeps by default.
pub const CHANGELOG_LIMIT: usize = 10;

const LEAD_LEN: u64 = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];

// Main header tags.
const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_SUMMARY: u32 = 1004;
const TAG_DESCRIPTION: u32 = 1005;
const TAG_BUILDTIME: u32 = 1006;
const TAG_BUILDHOST: u32 = 1007;
const TAG_SIZE: u32 = 1009;
const TAG_VENDOR: u32 = 1011;
const TAG_LICENSE: u32 = 1014;
const TAG_PACKAGER: u32 = 1015;
const TAG_GROUP: u32 = 1016;
const TAG_URL: u32 = 1020;
const TAG_ARCH: u32 = 1022;
const TAG_OLDFILENAMES: u32 = 1027;
const TAG_FILEMODES: u32 = 1030;
const TAG_FILEFLAGS: u32 = 1037;
const TAG_SOURCERPM: u32 = 1044;
const TAG_ARCHIVESIZE: u32 = 1046;
const TAG_CHANGELOGTIME: u32 = 1080;
const TAG_CHANGELOGNAME: u32 = 1081;
const TAG_CHANGELOGTEXT: u32 = 1082;
const TAG_SOURCEPACKAGE: u32 = 1106;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TAG_PAYLOADCOMPRESSOR: u32 = 1125;
const TAG_LONGARCHIVESIZE: u32 = 271;
const TAG_LONGSIZE: u32 = 5009;
const TAG_PAYLOADDIGEST: u32 = 5092;
const TAG_PAYLOADDIGESTALGO: u32 = 5093;

// Signature header tags.
const SIG_SIZE: u32 = 1000;
const SIG_LONGSIZE: u32 = 270;
const SIG_SHA1: u32 = 269;
const SIG_SHA256: u32 = 273;
const SIG_MD5: u32 = 1004;
const SIG_PAYLOADSIZE: u32 = 1007;
const SIG_LONGARCHIVESIZE: u32 = 271;

// RPMSENSE bits and file flags.
const SENSE_PREREQ: u64 = 1 << 6;
const SENSE_SCRIPT_PRE: u64 = 1 << 9;
const SENSE_SCRIPT_POST: u64 = 1 << 10;
const SENSE_MISSINGOK: u64 = 1 << 19;
const SENSE_STRONG: u64 = 1 << 27;
const FILE_GHOST: u64 = 1 << 6;
const S_IFMT: u64 = 0o170_000;
const S_IFDIR: u64 = 0o040_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Provides,
    Conflicts,
    Obsoletes,
    Requires,
    Suggests,
    Enhances,
    Recommends,
    Supplements,
    OldSuggests,
    OldEnhances,
}

/// Dependency kinds in createrepo_c's processing order, with their (name,
/// flags, version) tags.
const DEP_TAGS: [(Kind, &str, u32, u32, u32); 10] = [
    (Kind::Provides, "PROVIDE", 1047, 1112, 1113),
    (Kind::Conflicts, "CONFLICT", 1054, 1053, 1055),
    (Kind::Obsoletes, "OBSOLETE", 1090, 1114, 1115),
    (Kind::Requires, "REQUIRE", 1049, 1048, 1050),
    (Kind::Suggests, "SUGGEST", 5049, 5051, 5050),
    (Kind::Enhances, "ENHANCE", 5055, 5057, 5056),
    (Kind::Recommends, "RECOMMEND", 5046, 5048, 5047),
    (Kind::Supplements, "SUPPLEMENT", 5052, 5054, 5053),
    (Kind::OldSuggests, "OLDSUGGESTS", 1156, 1158, 1157),
    (Kind::OldEnhances, "OLDENHANCES", 1159, 1161, 1160),
];

/// Reads and validates an .rpm; see the module docs for what is checked.
/// `reader` is read from the start to its end, once.
pub fn inspect<R: Read>(reader: R, limits: &Limits) -> Result<RpmInfo, FormatError> {
    let mut r = BufReader::with_capacity(crate::archive::READ_BUFFER, reader);
    let lead_says_source = read_lead(&mut r)?;

    let mut budget = limits.max_header_bytes;
    let sig = Header::read(
        &mut r,
        "signature header",
        &mut budget,
        limits.max_header_bytes,
        limits.max_index_entries,
    )?;
    let pad = (8 - sig.len() % 8) % 8;
    let mut padding = [0u8; 8];
    if (read_full(&mut r, &mut padding[..pad as usize])? as u64) < pad {
        return Err(FormatError::Truncated(
            "the file ends in the padding after the signature header".into(),
        ));
    }
    let header_start = LEAD_LEN + sig.len() + pad;
    let main = Header::read(
        &mut r,
        "header",
        &mut budget,
        limits.max_header_bytes,
        limits.max_index_entries,
    )?;
    let header_end = header_start + main.len();

    check_header_digest(&sig, &main)?;
    let mut info = read_info(&main, &sig, lead_says_source, limits)?;
    info.header_start = header_start;
    info.header_end = header_end;
    check_payload(&mut r, &sig, &main)?;
    Ok(info)
}

/// For the fuzzer (`fuzz/fuzz_targets/rpm_header.rs`), not an API: reads
/// `bytes` as the two headers that follow an .rpm's lead, the signature
/// header and the main header back to back (no padding between them), with
/// the checks [`inspect`] makes, then reads the package's metadata from them
/// as [`inspect`] does, but without comparing the main header with the
/// signature header's digest: a fuzzer's mutations almost never keep that
/// digest right, so through [`inspect`] they stop before the metadata is
/// read. The header reader itself is private (`rpm/header.rs`).
#[doc(hidden)]
pub fn fuzz_headers(bytes: &[u8], limits: &Limits) -> Result<RpmInfo, FormatError> {
    let mut r = bytes;
    let mut budget = limits.max_header_bytes;
    let sig = Header::read(
        &mut r,
        "signature header",
        &mut budget,
        limits.max_header_bytes,
        limits.max_index_entries,
    )?;
    let main = Header::read(
        &mut r,
        "header",
        &mut budget,
        limits.max_header_bytes,
        limits.max_index_entries,
    )?;
    read_info(&main, &sig, false, limits)
}

fn not_rpm() -> FormatError {
    FormatError::NotAnArchive(
        "not an RPM package: an .rpm starts with the lead magic ed ab ee db".into(),
    )
}

/// Reads the lead; returns whether it says "source package".
fn read_lead<R: Read>(r: &mut R) -> Result<bool, FormatError> {
    let mut lead = [0u8; LEAD_LEN as usize];
    let n = read_full(r, &mut lead)?;
    if n == 0 {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not an RPM package".into(),
        ));
    }
    let m = n.min(4);
    if lead[..m] != LEAD_MAGIC[..m] {
        return Err(not_rpm());
    }
    if n < lead.len() {
        return Err(FormatError::Truncated(format!(
            "the file ends after {n} bytes, inside the 96-byte RPM lead"
        )));
    }
    let (major, minor) = (lead[4], lead[5]);
    if !(3..=4).contains(&major) {
        return Err(FormatError::Invalid(format!(
            "unsupported RPM format {major}.{minor} in the lead (rpm reads 3.x and 4.x)"
        )));
    }
    let kind = u16::from_be_bytes([lead[6], lead[7]]);
    if kind > 1 {
        return Err(FormatError::Invalid(format!(
            "the lead's package type is {kind}, neither 0 (binary) nor 1 (source)"
        )));
    }
    let sig_type = u16::from_be_bytes([lead[78], lead[79]]);
    if sig_type != 5 {
        return Err(FormatError::Invalid(format!(
            "the lead's signature type is {sig_type}; rpm only reads 5 (a signature header)"
        )));
    }
    Ok(kind == 1)
}

fn check_header_digest(sig: &Header, main: &Header) -> Result<(), FormatError> {
    let (want, got, algo) = if let Some(want) = sig.string(SIG_SHA256, "SHA256")? {
        (want, Sha256::of(main.raw()).hex(), "SHA-256")
    } else if let Some(want) = sig.string(SIG_SHA1, "SHA1")? {
        let mut h = MultiHasher::new();
        h.update(main.raw());
        (want, h.finish().0.sha1, "SHA-1")
    } else {
        return Ok(());
    };
    if !want.eq_ignore_ascii_case(got.as_bytes()) {
        return Err(FormatError::Invalid(format!(
            "the header's {algo} digest is {got}, but the signature header says {:?}: \
             the header was altered or is corrupt",
            clip(&String::from_utf8_lossy(want))
        )));
    }
    Ok(())
}

/// The payload hasher, by the digest that is checked: SHA-256 and SHA-512
/// with `sha2` alone; the legacy MD5 and SHA-1 (rare, old packages) through
/// depot-core's four-in-one `MultiHasher`.
enum PayloadHasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Md5(MultiHasher),
    Sha1(MultiHasher),
}

impl PayloadHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            PayloadHasher::Sha256(h) => h.update(data),
            PayloadHasher::Sha512(h) => h.update(data),
            PayloadHasher::Md5(h) | PayloadHasher::Sha1(h) => h.update(data),
        }
    }

    /// The checked digest in lowercase hex.
    fn hex(self) -> String {
        match self {
            PayloadHasher::Sha256(h) => depot_core::digest::hex(&h.finalize()),
            PayloadHasher::Sha512(h) => depot_core::digest::hex(&h.finalize()),
            PayloadHasher::Md5(h) => h.finish().0.md5,
            PayloadHasher::Sha1(h) => h.finish().0.sha1,
        }
    }
}

/// Streams the payload to the end of the input and checks its size, digest
/// and compressor magic.
fn check_payload<R: Read>(r: &mut R, sig: &Header, main: &Header) -> Result<(), FormatError> {
    let total = match sig.number(SIG_LONGSIZE, "LONGSIZE")? {
        Some(n) => Some(n),
        None => sig.number(SIG_SIZE, "SIZE")?,
    };
    let expected = match total {
        Some(t) => Some(t.checked_sub(main.len()).ok_or_else(|| {
            FormatError::Invalid(format!(
                "the signature header gives header and payload {t} bytes, \
                 but the header alone is {} bytes",
                main.len()
            ))
        })?),
        None => None,
    };

    /// What the payload is checked against, with the hasher computing it.
    enum Check<'a> {
        Payload(&'a [u8]),
        Md5(&'a [u8]),
    }
    let check = if let Some(hex) = main.string(TAG_PAYLOADDIGEST, "PAYLOADDIGEST")? {
        let algo = main
            .number(TAG_PAYLOADDIGESTALGO, "PAYLOADDIGESTALGO")?
            .unwrap_or(8);
        if !matches!(algo, 1 | 2 | 8 | 10) {
            return Err(FormatError::Invalid(format!(
                "the payload digest uses hash algorithm {algo}; depot checks MD5 (1), \
                 SHA-1 (2), SHA-256 (8) and SHA-512 (10)"
            )));
        }
        let h = match algo {
            8 => PayloadHasher::Sha256(sha2::Sha256::new()),
            10 => PayloadHasher::Sha512(sha2::Sha512::new()),
            1 => PayloadHasher::Md5(MultiHasher::new()),
            _ => PayloadHasher::Sha1(MultiHasher::new()),
        };
        Some((Check::Payload(hex), h))
    } else if let Some(md5) = sig.bin(SIG_MD5, "MD5")? {
        let mut h = MultiHasher::new();
        h.update(main.raw());
        Some((Check::Md5(md5), PayloadHasher::Md5(h)))
    } else {
        None
    };
    let (check, mut hasher) = match check {
        Some((c, h)) => (Some(c), Some(h)),
        None => (None, None),
    };

    // With a size, read one byte more than it to see trailing data.
    let mut limited = r.take(expected.map_or(u64::MAX, |e| e.saturating_add(1)));
    // Sized to the payload when it is known: most packages are far smaller
    // than the largest buffer, and a rebuild zeroes one per package.
    let mut buf = vec![
        0u8;
        expected.map_or(crate::archive::READ_BUFFER, |e| e
            .saturating_add(1)
            .min(crate::archive::READ_BUFFER as u64)
            as usize)
    ];
    let mut head = [0u8; 8];
    let mut n = 0u64;
    loop {
        let k = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FormatError::Io(e)),
        };
        if n < head.len() as u64 {
            let at = n as usize;
            let take = (head.len() - at).min(k);
            head[at..at + take].copy_from_slice(&buf[..take]);
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..k]);
        }
        n += k as u64;
    }

    if let Some(e) = expected {
        if n < e {
            return Err(FormatError::Truncated(format!(
                "the file ends inside the payload ({n} of the {e} bytes the signature header announces)"
            )));
        }
        if n > e {
            return Err(FormatError::Invalid(format!(
                "the file goes on after the {e}-byte payload the signature header announces"
            )));
        }
    }
    if n == 0 {
        return Err(FormatError::Truncated(
            "the file ends right after the header: the package has no payload".into(),
        ));
    }
    if let (Some(check), Some(h)) = (check, hasher) {
        let got = h.hex();
        let (want, what) = match check {
            Check::Payload(hex) => (hex.to_vec(), "the header's payload digest"),
            Check::Md5(md5) => (
                depot_core::digest::hex(md5).into_bytes(),
                "the signature header's MD5 of header and payload",
            ),
        };
        if !want.eq_ignore_ascii_case(got.as_bytes()) {
            return Err(FormatError::Invalid(format!(
                "the payload does not match {what} ({:?} expected, {got} found): \
                 the file was altered, truncated or is corrupt",
                clip(&String::from_utf8_lossy(&want))
            )));
        }
    }
    if let Some(comp) = main.string(TAG_PAYLOADCOMPRESSOR, "PAYLOADCOMPRESSOR")? {
        let magic: &[u8] = match comp {
            b"gzip" => b"\x1f\x8b",
            b"xz" => b"\xfd7zXZ\x00",
            b"zstd" => b"\x28\xb5\x2f\xfd",
            b"bzip2" => b"BZh",
            _ => b"",
        };
        if !head.starts_with(magic) || (n as usize) < magic.len() {
            return Err(FormatError::Invalid(format!(
                "the payload does not start with the magic bytes of {}, the header's PAYLOADCOMPRESSOR",
                String::from_utf8_lossy(comp)
            )));
        }
    }
    Ok(())
}

/// Text of an optional string tag ("" when absent).
fn opt_text(h: &Header, tag: u32, name: &str) -> Result<String, FormatError> {
    Ok(h.string(tag, name)?
        .map(|b| text(b).into_owned())
        .unwrap_or_default())
}

fn required_text(h: &Header, tag: u32, name: &str) -> Result<String, FormatError> {
    match h.string(tag, name)? {
        Some(b) => Ok(text(b).into_owned()),
        None => Err(FormatError::Invalid(format!(
            "the header has no {name} tag"
        ))),
    }
}

fn read_info(
    h: &Header,
    sig: &Header,
    lead_says_source: bool,
    limits: &Limits,
) -> Result<RpmInfo, FormatError> {
    let name = required_text(h, TAG_NAME, "NAME")?;
    version::validate_name(&name).map_err(|why| {
        FormatError::Invalid(format!(
            "Name {:?} is not a valid RPM package name: {why}",
            clip(&name)
        ))
    })?;
    let ver = required_text(h, TAG_VERSION, "VERSION")?;
    version::validate_version(&ver).map_err(|why| {
        FormatError::Invalid(format!(
            "Version {:?} is not a valid RPM version: {why}",
            clip(&ver)
        ))
    })?;
    let release = required_text(h, TAG_RELEASE, "RELEASE")?;
    version::validate_version(&release).map_err(|why| {
        FormatError::Invalid(format!(
            "Release {:?} is not a valid RPM release: {why}",
            clip(&release)
        ))
    })?;
    let is_source = lead_says_source || h.has(TAG_SOURCEPACKAGE) || !h.has(TAG_SOURCERPM);
    let arch = if is_source {
        "src".to_string()
    } else {
        let arch = required_text(h, TAG_ARCH, "ARCH")?;
        version::validate_arch(&arch).map_err(|why| {
            FormatError::Invalid(format!(
                "Arch {:?} is not a valid RPM architecture: {why}",
                clip(&arch)
            ))
        })?;
        arch
    };
    let epoch = match h.number(TAG_EPOCH, "EPOCH")? {
        None => 0,
        Some(e) => u32::try_from(e)
            .map_err(|_| FormatError::Invalid(format!("the epoch {e} is too large")))?,
    };

    let dep_items: usize = DEP_TAGS.iter().map(|t| h.count(t.2)).sum();
    let items =
        h.count(TAG_BASENAMES) + h.count(TAG_DIRNAMES) + h.count(TAG_OLDFILENAMES) + dep_items;
    if items > limits.max_items as usize {
        return Err(FormatError::TooLarge(format!(
            "the package lists {items} files, directories and dependencies, over the limit of {}",
            limits.max_items
        )));
    }

    let files = read_files(h)?;
    let deps = read_deps(h, &files)?;
    let changelogs = read_changelogs(h)?;

    let archive_size = [
        (h, TAG_LONGARCHIVESIZE, "LONGARCHIVESIZE"),
        (h, TAG_ARCHIVESIZE, "ARCHIVESIZE"),
        (sig, SIG_LONGARCHIVESIZE, "LONGARCHIVESIZE"),
        (sig, SIG_PAYLOADSIZE, "PAYLOADSIZE"),
    ]
    .into_iter()
    .find_map(|(hdr, tag, name)| hdr.number(tag, name).transpose())
    .transpose()?
    .unwrap_or(0);
    let installed_size = match h.number(TAG_LONGSIZE, "LONGSIZE")? {
        Some(n) => n,
        None => h.number(TAG_SIZE, "SIZE")?.unwrap_or(0),
    };

    let info = RpmInfo {
        name,
        epoch,
        version: ver,
        release,
        arch,
        is_source,
        summary: opt_text(h, TAG_SUMMARY, "SUMMARY")?,
        description: opt_text(h, TAG_DESCRIPTION, "DESCRIPTION")?,
        url: opt_text(h, TAG_URL, "URL")?,
        license: opt_text(h, TAG_LICENSE, "LICENSE")?,
        vendor: opt_text(h, TAG_VENDOR, "VENDOR")?,
        group: opt_text(h, TAG_GROUP, "GROUP")?,
        buildhost: opt_text(h, TAG_BUILDHOST, "BUILDHOST")?,
        sourcerpm: opt_text(h, TAG_SOURCERPM, "SOURCERPM")?,
        packager: opt_text(h, TAG_PACKAGER, "PACKAGER")?,
        build_time: h.number(TAG_BUILDTIME, "BUILDTIME")?.unwrap_or(0),
        installed_size,
        archive_size,
        header_start: 0,
        header_end: 0,
        requires: deps.requires,
        provides: deps.provides,
        conflicts: deps.conflicts,
        obsoletes: deps.obsoletes,
        recommends: deps.recommends,
        suggests: deps.suggests,
        supplements: deps.supplements,
        enhances: deps.enhances,
        files,
        changelogs,
    };
    check_xml_text(&info)?;
    Ok(info)
}

/// Refuses characters XML 1.0 cannot carry (C0 controls other than tab,
/// newline and carriage return; U+FFFE, U+FFFF), as createrepo_c refuses
/// "forbidden control chars".
fn check_xml_text(info: &RpmInfo) -> Result<(), FormatError> {
    let bad = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    let check = |what: &str, s: &str| match s.chars().find(|&c| bad(c)) {
        None => Ok(()),
        Some(c) => Err(FormatError::Invalid(format!(
            "the {what} {:?} holds the control character {c:?}, which XML metadata cannot carry",
            clip(s)
        ))),
    };
    for (what, s) in [
        ("summary", &info.summary),
        ("description", &info.description),
        ("URL", &info.url),
        ("license", &info.license),
        ("vendor", &info.vendor),
        ("group", &info.group),
        ("build host", &info.buildhost),
        ("source rpm", &info.sourcerpm),
        ("packager", &info.packager),
    ] {
        check(what, s)?;
    }
    for list in [
        &info.requires,
        &info.provides,
        &info.conflicts,
        &info.obsoletes,
        &info.recommends,
        &info.suggests,
        &info.supplements,
        &info.enhances,
    ] {
        for d in list {
            check("dependency", &d.name)?;
            check("dependency version", &d.epoch)?;
            check("dependency version", &d.version)?;
            check("dependency version", &d.release)?;
        }
    }
    for f in &info.files {
        check("file name", &f.path)?;
    }
    for c in &info.changelogs {
        check("changelog author", &c.author)?;
        check("changelog text", &c.text)?;
    }
    Ok(())
}

/// The file list. Every array is read only up to the length of BASENAMES
/// (or OLDFILENAMES), which [`Limits::max_items`] bounds, after checking
/// that its count matches.
fn read_files(h: &Header) -> Result<Vec<RpmFile>, FormatError> {
    let invalid =
        |m: String| FormatError::Invalid(format!("the header's file list is corrupt: {m}"));
    let same_count = |tag: u32, name: &str, n: usize| match h.count(tag) {
        0 if !h.has(tag) => Err(invalid(format!("it has no {name}"))),
        c if c != n => Err(invalid(format!("{n} files but {c} {name}"))),
        _ => Ok(n),
    };
    let paths: Vec<Vec<u8>> = if h.has(TAG_BASENAMES) {
        let n = h.count(TAG_BASENAMES);
        let bases = h
            .strings(TAG_BASENAMES, "BASENAMES", n)?
            .unwrap_or_default();
        let dirs = h
            .strings(TAG_DIRNAMES, "DIRNAMES", h.count(TAG_DIRNAMES))?
            .ok_or_else(|| invalid("BASENAMES without DIRNAMES".into()))?;
        let take = same_count(TAG_DIRINDEXES, "DIRINDEXES", n)?;
        let index = h
            .numbers(TAG_DIRINDEXES, "DIRINDEXES", take)?
            .unwrap_or_default();
        bases
            .iter()
            .zip(&index)
            .map(|(base, &i)| {
                let dir = usize::try_from(i)
                    .ok()
                    .and_then(|i| dirs.get(i))
                    .ok_or_else(|| {
                        invalid(format!(
                            "a DIRINDEXES entry is {i}, but there are {} DIRNAMES",
                            dirs.len()
                        ))
                    })?;
                Ok([*dir, *base].concat())
            })
            .collect::<Result<_, FormatError>>()?
    } else if h.has(TAG_OLDFILENAMES) {
        let n = h.count(TAG_OLDFILENAMES);
        h.strings(TAG_OLDFILENAMES, "OLDFILENAMES", n)?
            .unwrap_or_default()
            .iter()
            .map(|p| p.to_vec())
            .collect()
    } else {
        return Ok(Vec::new());
    };
    let n = paths.len();
    let modes = h
        .numbers(
            TAG_FILEMODES,
            "FILEMODES",
            same_count(TAG_FILEMODES, "FILEMODES", n)?,
        )?
        .unwrap_or_default();
    let flags = h
        .numbers(
            TAG_FILEFLAGS,
            "FILEFLAGS",
            same_count(TAG_FILEFLAGS, "FILEFLAGS", n)?,
        )?
        .unwrap_or_default();
    Ok(paths
        .iter()
        .zip(modes.iter().zip(&flags))
        .map(|(path, (&mode, &flags))| RpmFile {
            path: text(path).into_owned(),
            kind: if mode & S_IFMT == S_IFDIR {
                FileKind::Dir
            } else if flags & FILE_GHOST != 0 {
                FileKind::Ghost
            } else {
                FileKind::File
            },
        })
        .collect())
}

/// createrepo_c's `cr_is_primary`: the files `primary.xml` lists.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path == "/usr/lib/sendmail" || path.contains("bin/")
}

#[derive(Default)]
struct Deps {
    provides: Vec<Dependency>,
    conflicts: Vec<Dependency>,
    obsoletes: Vec<Dependency>,
    requires: Vec<Dependency>,
    suggests: Vec<Dependency>,
    enhances: Vec<Dependency>,
    recommends: Vec<Dependency>,
    supplements: Vec<Dependency>,
}

/// The dependency lists, filtered as createrepo_c's
/// `cr_package_from_header` filters them (see the module docs).
fn read_deps(h: &Header, files: &[RpmFile]) -> Result<Deps, FormatError> {
    let own_files: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let mut provided: HashSet<String> = HashSet::new();
    // name -> (flags, version, pre) of the last require of that name.
    let mut last_require: HashMap<String, (Option<DepFlags>, String, bool)> = HashMap::new();
    let mut out = Deps::default();

    for (kind, what, name_tag, flags_tag, version_tag) in DEP_TAGS {
        // createrepo_c reads a kind only when all three tags are present.
        if !(h.has(name_tag) && h.has(flags_tag) && h.has(version_tag)) {
            continue;
        }
        // The names' count is bounded by Limits::max_items; the other two
        // arrays must have as many items, and are read no further.
        let n = h.count(name_tag);
        let (nf, nv) = (h.count(flags_tag), h.count(version_tag));
        if nf != n || nv != n {
            return Err(FormatError::Invalid(format!(
                "the header's {what} lists are corrupt: {n} names, {nf} flags, {nv} versions"
            )));
        }
        let names = h
            .strings(name_tag, &format!("{what}NAME"), n)?
            .unwrap_or_default();
        let flags = h
            .numbers(flags_tag, &format!("{what}FLAGS"), n)?
            .unwrap_or_default();
        let versions = h
            .strings(version_tag, &format!("{what}VERSION"), n)?
            .unwrap_or_default();
        let mut libc_highest: Option<Dependency> = None;
        for ((name, &bits), version) in names.iter().zip(&flags).zip(&versions) {
            let name = text(name);
            let version = text(version);
            let dep_flags = DepFlags::from_rpmsense(bits);
            let nfv = format!("{name}{}{version}", dep_flags.map_or("", DepFlags::as_str));
            let mut pre = false;
            if kind == Kind::Requires {
                if name.starts_with("rpmlib(") {
                    continue;
                }
                if name.starts_with('/') && own_files.contains(&*name) && is_primary_file(&name) {
                    continue;
                }
                if provided.contains(&nfv) {
                    continue;
                }
                pre = bits & (SENSE_PREREQ | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST) != 0;
                if let Some((f, v, p)) = last_require.get(&*name)
                    && *f == dep_flags
                    && *v == *version
                    && *p == pre
                {
                    continue;
                }
            }
            let Some((epoch, ver, rel)) = split_dep_evr(&version) else {
                // createrepo_c warns and skips a non-numeric epoch.
                continue;
            };
            let mut dep = Dependency {
                name: name.into_owned(),
                flags: dep_flags,
                epoch,
                version: ver,
                release: rel,
                pre: false,
            };
            match kind {
                Kind::Provides => {
                    provided.insert(nfv);
                    out.provides.push(dep);
                }
                Kind::Conflicts => out.conflicts.push(dep),
                Kind::Obsoletes => out.obsoletes.push(dep),
                Kind::Requires => {
                    if bits & SENSE_MISSINGOK != 0 {
                        out.recommends.push(dep);
                        continue;
                    }
                    dep.pre = pre;
                    if dep.name.starts_with("libc.so.6") {
                        match &libc_highest {
                            Some(best) if compare_libc(&best.name, &dep.name) != 2 => {}
                            _ => libc_highest = Some(dep),
                        }
                        continue;
                    }
                    last_require.insert(dep.name.clone(), (dep_flags, version.into_owned(), pre));
                    out.requires.push(dep);
                }
                Kind::Suggests => out.suggests.push(dep),
                Kind::Enhances => out.enhances.push(dep),
                Kind::Recommends => out.recommends.push(dep),
                Kind::Supplements => out.supplements.push(dep),
                Kind::OldSuggests if bits & SENSE_STRONG != 0 => out.recommends.push(dep),
                Kind::OldSuggests => out.suggests.push(dep),
                Kind::OldEnhances if bits & SENSE_STRONG != 0 => out.supplements.push(dep),
                Kind::OldEnhances => out.enhances.push(dep),
            }
        }
        if let Some(libc) = libc_highest {
            out.requires.push(libc);
        }
    }
    // primary.xml skips entries without a name.
    for list in [
        &mut out.provides,
        &mut out.conflicts,
        &mut out.obsoletes,
        &mut out.requires,
        &mut out.suggests,
        &mut out.enhances,
        &mut out.recommends,
        &mut out.supplements,
    ] {
        list.retain(|d| !d.name.is_empty());
    }
    Ok(out)
}

/// createrepo_c's `cr_str_to_evr`: `[epoch:]version[-release]` split at
/// the first `:` and the first `-` after it. The epoch is what precedes the
/// colon if C's `strtol` reads exactly that far (else `None`: a bad epoch),
/// `0` when there is none; everything is empty for an empty string.
fn split_dep_evr(s: &str) -> Option<(String, String, String)> {
    if s.is_empty() {
        return Some(Default::default());
    }
    let (epoch, rest) = match s.find(':') {
        Some(colon) => {
            if strtol_end(s.as_bytes()) != colon {
                return None;
            }
            let e = &s[..colon];
            (if e.is_empty() { "0" } else { e }, &s[colon + 1..])
        }
        None => ("0", s),
    };
    let (ver, rel) = match rest.find('-') {
        Some(dash) => (&rest[..dash], &rest[dash + 1..]),
        None => (rest, ""),
    };
    Some((epoch.to_string(), ver.to_string(), rel.to_string()))
}

/// Where C's `strtol(s, &end, 10)` stops: after leading white space, a
/// sign and digits; at 0 when there are no digits.
fn strtol_end(s: &[u8]) -> usize {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    if i < s.len() && matches!(s[i], b'+' | b'-') {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 { 0 } else { i + digits }
}

/// createrepo_c's `cr_compare_dependency` for two `libc.so.6...` names:
/// 0 same, 1 the first is higher, 2 the second is, -1 undecidable.
fn compare_libc(d1: &str, d2: &str) -> i32 {
    if d1 == d2 {
        return 0;
    }
    let (o1, o2) = match (d1.find('('), d2.find('(')) {
        (None, None) => return 0,
        (None, _) => return 2,
        (_, None) => return 1,
        (Some(a), Some(b)) => (a, b),
    };
    let (c1, c2) = match (d1[o1..].find(')'), d2[o2..].find(')')) {
        (None, None) => return -1,
        (None, _) => return 2,
        (_, None) => return 1,
        (Some(a), Some(b)) => (o1 + a, o2 + b),
    };
    let (s1, s2) = (o1 + 1, o2 + 1);
    match (s1 == c1, s2 == c2) {
        (true, true) => return 0,
        (true, false) => return 2,
        (false, true) => return 1,
        _ => {}
    }
    let first_digit = |d: &str, from: usize| {
        from + d.as_bytes()[from..]
            .iter()
            .take_while(|b| !b.is_ascii_digit())
            .count()
    };
    let (v1, v2) = (first_digit(d1, s1), first_digit(d2, s2));
    match (v1 > c1, v2 > c2) {
        (true, true) => return 0,
        (true, false) => return 2,
        (false, true) => return 1,
        _ => {}
    }
    match version::rpmvercmp(&d1[v1..c1], &d2[v2..c2]) {
        std::cmp::Ordering::Greater => 1,
        std::cmp::Ordering::Less => 2,
        std::cmp::Ordering::Equal => 0,
    }
}

/// The changelog as createrepo_c keeps it: the [`CHANGELOG_LIMIT`] newest
/// entries, oldest first, with trailing spaces cut from authors and equal
/// dates made distinct by adding a second to the newer entries.
fn read_changelogs(h: &Header) -> Result<Vec<Changelog>, FormatError> {
    let times = h.numbers(TAG_CHANGELOGTIME, "CHANGELOGTIME", CHANGELOG_LIMIT)?;
    let names = h.strings(TAG_CHANGELOGNAME, "CHANGELOGNAME", CHANGELOG_LIMIT)?;
    let texts = h.strings(TAG_CHANGELOGTEXT, "CHANGELOGTEXT", CHANGELOG_LIMIT)?;
    let (Some(times), Some(names), Some(texts)) = (times, names, texts) else {
        return Ok(Vec::new());
    };
    let counts = [
        h.count(TAG_CHANGELOGTIME),
        h.count(TAG_CHANGELOGNAME),
        h.count(TAG_CHANGELOGTEXT),
    ];
    if counts[1] != counts[0] || counts[2] != counts[0] {
        return Err(FormatError::Invalid(format!(
            "the header's changelog is corrupt: {} times, {} names, {} texts",
            counts[0], counts[1], counts[2]
        )));
    }
    // In header order (newest first), fixing dates as createrepo_c does:
    // when an entry has the date of the one before it, that one and the
    // run of equal dates before it move one second later each.
    let mut entries: Vec<Changelog> = Vec::with_capacity(times.len());
    let mut last_time = 0u64;
    for ((&time, name), body) in times.iter().zip(&names).zip(&texts) {
        let author = text(name);
        let trimmed = author.trim_end_matches(' ');
        let author = if trimmed.is_empty() && !author.is_empty() {
            author[..1].to_string()
        } else {
            trimmed.to_string()
        };
        if last_time == time {
            for (t, prev) in (time..).zip(entries.iter_mut().rev()) {
                if prev.date != t {
                    break;
                }
                prev.date += 1;
            }
        } else {
            last_time = time;
        }
        entries.push(Changelog {
            author,
            date: time,
            text: text(body).into_owned(),
        });
    }
    entries.reverse();
    Ok(entries)
}

/// What the REST API shows for a package: identity, descriptive fields,
/// sizes, dependencies as rpm prints them (`beta >= 1:2.0-1`), the number
/// of files and the changelog.
pub fn fields_json(info: &RpmInfo) -> serde_json::Value {
    let deps =
        |list: &[Dependency]| -> Vec<String> { list.iter().map(Dependency::display).collect() };
    serde_json::json!({
        "name": info.name,
        "epoch": info.epoch,
        "version": info.version,
        "release": info.release,
        "arch": info.arch,
        "evr": info.evr(),
        "source": info.is_source,
        "summary": info.summary,
        "description": info.description,
        "url": info.url,
        "license": info.license,
        "vendor": info.vendor,
        "group": info.group,
        "buildhost": info.buildhost,
        "sourcerpm": info.sourcerpm,
        "packager": info.packager,
        "build_time": info.build_time,
        "installed_size": info.installed_size,
        "archive_size": info.archive_size,
        "requires": deps(&info.requires),
        "provides": deps(&info.provides),
        "conflicts": deps(&info.conflicts),
        "obsoletes": deps(&info.obsoletes),
        "recommends": deps(&info.recommends),
        "suggests": deps(&info.suggests),
        "supplements": deps(&info.supplements),
        "enhances": deps(&info.enhances),
        "file_count": info.files.len(),
        "changelog": info.changelogs,
    })
}

// ---- the format ------------------------------------------------------------

/// RPM packages as a [`crate::PackageFormat`], with their [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Rpm {
    limits: Limits,
}

impl Rpm {
    pub fn new(limits: Limits) -> Self {
        Rpm { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl crate::PackageFormat for Rpm {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Rpm
    }

    /// Magic: the lead `ed ab ee db`; name: `.rpm`.
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if head.bytes().starts_with(b"\xed\xab\xee\xdb") {
            Some(crate::Evidence::Magic)
        } else if head.has_extension(&[".rpm"]) {
            Some(crate::Evidence::Name)
        } else {
            None
        }
    }

    /// The characters dnf, createrepo_c and every mirror tool handle in a
    /// `location href` without escaping.
    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"._+~-", "an RPM package")
    }

    /// [`inspect`], then [`fragments`] (as JSON) located at
    /// `packages/{file_name}`, relative to the tree's base URL (every tree
    /// serves the download route under `packages/`).
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = inspect(file, &self.limits)?;
        let fragments = fragments(
            &info,
            &format!("packages/{}", input.file_name),
            input.size,
            &input.hashes.sha256,
            input.file_time.0.max(0) as u64,
        );
        Ok(crate::Inspected {
            fields: fields_json(&info),
            version: info.evr(),
            name: info.name,
            arch: info.arch,
            entry: serde_json::to_string(&fragments).expect("fragments serialize"),
        })
    }

    /// rpm's order of `[epoch:]version-release` ([`version::compare_evr`]).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::compare_evr(a, b)
    }

    fn content_type(&self) -> &'static str {
        "application/x-rpm"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_evr_split_like_createrepo_c() {
        let s = |v: &str| split_dep_evr(v).map(|(e, v, r)| format!("{e}|{v}|{r}"));
        assert_eq!(s("").as_deref(), Some("||"));
        assert_eq!(s("1.0").as_deref(), Some("0|1.0|"));
        assert_eq!(s("1.0-1").as_deref(), Some("0|1.0|1"));
        assert_eq!(s("2:1.0-1.fc40").as_deref(), Some("2|1.0|1.fc40"));
        assert_eq!(s(":1.0").as_deref(), Some("0|1.0|"));
        assert_eq!(s("1.0-").as_deref(), Some("0|1.0|"));
        assert_eq!(s("x:1.0"), None);
        assert_eq!(s("1x:1.0"), None);
    }

    #[test]
    fn libc_comparison() {
        assert_eq!(compare_libc("libc.so.6", "libc.so.6(GLIBC_2.4)"), 2);
        assert_eq!(
            compare_libc(
                "libc.so.6(GLIBC_2.34)(64bit)",
                "libc.so.6(GLIBC_2.4)(64bit)"
            ),
            1
        );
        assert_eq!(compare_libc("libc.so.6()", "libc.so.6(GLIBC_2.4)"), 2);
        assert_eq!(
            compare_libc("libc.so.6(GLIBC_2.4)", "libc.so.6(GLIBC_2.4)"),
            0
        );
    }

    #[test]
    fn primary_files() {
        for p in [
            "/etc/x",
            "/usr/bin/x",
            "/opt/sbin/y",
            "/usr/lib/sendmail",
            "/xbin/z",
        ] {
            assert!(is_primary_file(p), "{p}");
        }
        for p in ["/etc", "/usr/share/x", "/usr/lib/sendmail.d", "etc/x"] {
            assert!(!is_primary_file(p), "{p}");
        }
    }
}
