//! Debian binary packages (`.deb`): reading an upload and rendering its
//! `Packages` stanza.
//!
//! # On-disk layout (deb(5))
//!
//! ```text
//! "!<arch>\n"                                  ar global magic, 8 bytes
//! ┌ 60-byte member header ─────────────────────────────────────────────┐
//! │ name[16] mtime[12] uid[6] gid[6] mode[8] size[10] "`\n"            │
//! └ decimal ASCII, space padded; GNU ar may end the name with '/'      ┘
//! member data (size bytes), then one '\n' if size is odd
//! ...
//! ```
//!
//! | # | member | content |
//! | --- | --- | --- |
//! | 1 | `debian-binary` | format version, `2.0\n` (any `2.x`) |
//! | 2 | `control.tar`, `control.tar.gz`, `.xz` or `.zst` | tar with `./control` (one deb822 stanza), `md5sums`, maintainer scripts |
//! | 3 | `data.tar` (+ `.gz`, `.xz`, `.zst`, `.bz2`, `.lzma`) | the files to install |
//!
//! Members whose name starts with `_` may appear after `debian-binary` and
//! are skipped, as dpkg does; any other member, or the three in another
//! order, is refused.
//!
//! # What [`inspect`] does
//!
//! It streams the archive once, front to back, and never writes to disk or
//! follows a link. The control member (at most [`Limits::max_control_tar`]
//! bytes) is read whole, decompressed through a counting reader that stops
//! at [`Limits::max_control_tar`] bytes of output (a bomb costs at most that
//! much work and no memory), and its tar is scanned for `./control` (or
//! `control`), a regular file of at most [`Limits::max_control_file`]
//! bytes. The data member is not decompressed: it is skipped, checking that
//! all of its bytes are present and that it starts with its compressor's
//! magic. The control file is parsed strictly (see [`crate::deb822`]) and
//! `Package`, `Version` and `Architecture` are validated with dpkg's rules.

pub mod version;

use crate::FormatError;
use crate::deb822::{self, clip};
use depot_core::Hashes;
use serde::{Deserialize, Serialize};
use std::io::{self, BufReader, Read};

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The control member, compressed, and the control tar after
    /// decompression.
    pub max_control_tar: u64,
    /// The `control` file inside the control tar.
    pub max_control_file: u64,
    /// ar members before and including the data member.
    pub max_ar_members: usize,
}

impl Default for Limits {
    /// 16 MiB of control tar, 1 MiB of control file, 16 ar members.
    fn default() -> Self {
        Limits {
            max_control_tar: 16 << 20,
            max_control_file: 1 << 20,
            max_ar_members: 16,
        }
    }
}

/// What [`inspect`] read from a .deb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebInfo {
    /// `Package`, validated.
    pub name: String,
    /// `Version`, validated (epoch kept: `1:2.10-3`).
    pub version: String,
    /// `Architecture`, validated.
    pub arch: String,
    /// Every control field in file order, values as in the file: first line
    /// trimmed, continuation lines joined with `\n` and kept with their
    /// leading whitespace, trailing whitespace dropped, no final newline.
    pub fields: Vec<(String, String)>,
}

impl DebInfo {
    /// A field's value by name, case-insensitively.
    pub fn field(&self, name: &str) -> Option<&str> {
        deb822::field(&self.fields, name)
    }
}

const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
const AR_HEADER_LEN: usize = 60;
/// `debian-binary` is four bytes in practice; dpkg refuses long ones too.
const MAX_DEBIAN_BINARY: u64 = 64;
/// Memory the xz decoder may use (a 64 MiB dictionary, `xz -9`, needs 65).
const XZ_MEMLIMIT: u64 = 128 << 20;
/// The largest zstd window accepted (zstd's own default bound, 128 MiB).
const ZSTD_WINDOW_LOG_MAX: u32 = 27;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compressor {
    None,
    Gzip,
    Xz,
    Zstd,
    Bzip2,
    Lzma,
}

impl Compressor {
    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "" => Compressor::None,
            ".gz" => Compressor::Gzip,
            ".xz" => Compressor::Xz,
            ".zst" => Compressor::Zstd,
            ".bz2" => Compressor::Bzip2,
            ".lzma" => Compressor::Lzma,
            _ => return None,
        })
    }

    /// The magic a stream of this compressor starts with, where it has one.
    fn magic(self) -> Option<&'static [u8]> {
        match self {
            Compressor::Gzip => Some(b"\x1f\x8b"),
            Compressor::Xz => Some(b"\xfd7zXZ\x00"),
            Compressor::Zstd => Some(b"\x28\xb5\x2f\xfd"),
            Compressor::Bzip2 => Some(b"BZh"),
            Compressor::None | Compressor::Lzma => None,
        }
    }
}

struct Member {
    /// Name with trailing spaces and GNU's trailing '/' removed.
    name: String,
    size: u64,
}

/// Reads and validates a .deb; see the module docs for what is checked.
/// `reader` is read from the start, once, and not necessarily to its end
/// (anything after the data member is ignored, as dpkg does).
pub fn inspect<R: Read>(reader: R, limits: &Limits) -> Result<DebInfo, FormatError> {
    let mut r = BufReader::with_capacity(crate::archive::READ_BUFFER, reader);

    let mut magic = [0u8; 8];
    let n = read_full(&mut r, &mut magic)?;
    if n < magic.len() {
        return Err(if n == 0 {
            FormatError::NotAnArchive("the file is empty, not a Debian package".into())
        } else if AR_MAGIC.starts_with(&magic[..n]) {
            FormatError::Truncated(format!(
                "the file ends after {n} bytes, inside the ar magic"
            ))
        } else {
            not_ar()
        });
    }
    if &magic != AR_MAGIC {
        return Err(not_ar());
    }

    // 1. debian-binary
    let Some(first) = read_member_header(&mut r, 1)? else {
        return Err(FormatError::Truncated(
            "the file ends right after the ar magic: no members".into(),
        ));
    };
    if first.name != "debian-binary" {
        return Err(FormatError::NotAnArchive(format!(
            "this ar archive is not a Debian package: its first member is '{}', not 'debian-binary'",
            clip(&first.name)
        )));
    }
    if first.size > MAX_DEBIAN_BINARY {
        return Err(FormatError::Invalid(format!(
            "the debian-binary member is {} bytes; a .deb's is '2.0\\n'",
            first.size
        )));
    }
    let version = read_member(&mut r, &first)?;
    check_format_version(&version)?;

    // 2. control.tar.*, then 3. data.tar.*
    let mut members = 1;
    let mut info: Option<DebInfo> = None;
    let mut control_name = String::new();
    loop {
        let Some(m) = read_member_header(&mut r, members + 1)? else {
            return Err(FormatError::Invalid(match &info {
                None => "the package has no control.tar member".into(),
                Some(_) => format!("the package has no data.tar member after {control_name}"),
            }));
        };
        members += 1;
        if members > limits.max_ar_members {
            return Err(FormatError::Invalid(format!(
                "the package has more than {} ar members",
                limits.max_ar_members
            )));
        }
        if m.name.starts_with('_') {
            // Reserved for optional extensions; dpkg skips them too.
            skip_member(&mut r, &m, None)?;
        } else if let Some(suffix) = m.name.strip_prefix("control.tar") {
            if info.is_some() {
                return Err(FormatError::Invalid(format!(
                    "the package has a second control member, '{}'",
                    m.name
                )));
            }
            let comp = match Compressor::from_suffix(suffix) {
                Some(
                    c @ (Compressor::None | Compressor::Gzip | Compressor::Xz | Compressor::Zstd),
                ) => c,
                _ => {
                    return Err(FormatError::Invalid(format!(
                        "control member '{}' uses an unsupported compression \
                         (dpkg reads control.tar, control.tar.gz, .xz and .zst)",
                        clip(&m.name)
                    )));
                }
            };
            if m.size > limits.max_control_tar {
                return Err(FormatError::TooLarge(format!(
                    "the {} member is {} bytes, over the {} limit",
                    m.name,
                    m.size,
                    human(limits.max_control_tar)
                )));
            }
            let bytes = read_member(&mut r, &m)?;
            let control = read_control_tar(&bytes, comp, &m.name, limits)?;
            info = Some(parse_control(&control)?);
            control_name = m.name;
        } else if let Some(suffix) = m.name.strip_prefix("data.tar") {
            let Some(info) = info else {
                return Err(FormatError::Invalid(format!(
                    "the {} member comes before the control member",
                    m.name
                )));
            };
            let Some(comp) = Compressor::from_suffix(suffix) else {
                return Err(FormatError::Invalid(format!(
                    "data member '{}' uses an unknown compression",
                    clip(&m.name)
                )));
            };
            skip_member(&mut r, &m, comp.magic())?;
            return Ok(info);
        } else {
            return Err(FormatError::Invalid(format!(
                "unexpected ar member '{}' (a .deb holds debian-binary, control.tar.* and data.tar.*)",
                clip(&m.name)
            )));
        }
    }
}

fn not_ar() -> FormatError {
    FormatError::NotAnArchive(
        "not a Debian package: a .deb is an ar archive, starting with '!<arch>\\n'".into(),
    )
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, FormatError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::Io(e)),
        }
    }
    Ok(n)
}

/// The next member header, or `None` at a clean end of the archive.
fn read_member_header<R: Read>(r: &mut R, index: usize) -> Result<Option<Member>, FormatError> {
    let mut h = [0u8; AR_HEADER_LEN];
    let n = read_full(r, &mut h)?;
    if n == 0 {
        return Ok(None);
    }
    if n < AR_HEADER_LEN {
        return Err(FormatError::Truncated(format!(
            "the file ends inside the header of ar member #{index} ({n} of {AR_HEADER_LEN} bytes)"
        )));
    }
    let mut name = &h[..16];
    while let [rest @ .., b' '] = name {
        name = rest;
    }
    let name = name.strip_suffix(b"/").unwrap_or(name);
    let name = String::from_utf8_lossy(name).into_owned();
    if &h[58..60] != b"`\n" {
        return Err(FormatError::Invalid(format!(
            "the header of ar member #{index} is corrupt (no '`\\n' terminator)"
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(FormatError::Invalid(format!(
            "ar member #{index} has a control character {c:?} in its name"
        )));
    }
    let size_field = std::str::from_utf8(&h[48..58])
        .ok()
        .map(|s| s.trim_end_matches(' '))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok());
    let Some(size) = size_field else {
        return Err(FormatError::Invalid(format!(
            "ar member #{index} ('{}') has a corrupt size field {:?}",
            clip(&name),
            String::from_utf8_lossy(&h[48..58])
        )));
    };
    Ok(Some(Member { name, size }))
}

/// Reads a whole member (the caller has bounded its size) and its padding.
fn read_member<R: Read>(r: &mut R, m: &Member) -> Result<Vec<u8>, FormatError> {
    let mut buf = Vec::with_capacity(m.size.min(64 * 1024) as usize);
    r.by_ref()
        .take(m.size)
        .read_to_end(&mut buf)
        .map_err(FormatError::Io)?;
    if (buf.len() as u64) < m.size {
        return Err(truncated_in(m, buf.len() as u64));
    }
    skip_padding(r, m)?;
    Ok(buf)
}

/// Skips a member's data and padding, checking every byte is there and,
/// with `magic`, that the data starts with it.
fn skip_member<R: Read>(r: &mut R, m: &Member, magic: Option<&[u8]>) -> Result<(), FormatError> {
    let mut done = 0u64;
    if let Some(magic) = magic {
        let mut head = [0u8; 8];
        let want = magic.len().min(m.size as usize);
        let n = read_full(r, &mut head[..want])?;
        done = n as u64;
        if n < want {
            return Err(truncated_in(m, done));
        }
        if &head[..n] != magic {
            return Err(FormatError::Invalid(format!(
                "the {} member does not start with its compressor's magic bytes",
                m.name
            )));
        }
    }
    done +=
        io::copy(&mut r.by_ref().take(m.size - done), &mut io::sink()).map_err(FormatError::Io)?;
    if done < m.size {
        return Err(truncated_in(m, done));
    }
    skip_padding(r, m)
}

fn skip_padding<R: Read>(r: &mut R, m: &Member) -> Result<(), FormatError> {
    if !m.size.is_multiple_of(2) {
        // dpkg does not check the padding byte's value; neither do we.
        let mut pad = [0u8; 1];
        if read_full(r, &mut pad)? == 0 {
            return Err(FormatError::Truncated(format!(
                "the file ends before the padding byte after ar member '{}'",
                m.name
            )));
        }
    }
    Ok(())
}

fn truncated_in(m: &Member, got: u64) -> FormatError {
    FormatError::Truncated(format!(
        "the file ends inside ar member '{}' ({got} of {} bytes)",
        clip(&m.name),
        m.size
    ))
}

fn check_format_version(content: &[u8]) -> Result<(), FormatError> {
    let text = content.strip_suffix(b"\n").unwrap_or(content);
    let ok = text
        .strip_prefix(b"2.")
        .is_some_and(|minor| !minor.is_empty() && minor.iter().all(u8::is_ascii_digit));
    if ok {
        Ok(())
    } else {
        Err(FormatError::Invalid(format!(
            "unsupported .deb format version {:?} in debian-binary (only 2.x is supported)",
            clip(&String::from_utf8_lossy(content))
        )))
    }
}

/// Counts decompressed bytes and fails once more than `limit` come out, so
/// a bomb is stopped after `limit` bytes of work.
struct LimitReader<R> {
    inner: R,
    remaining: u64,
    exceeded: bool,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // One more byte would be past the limit; is there one?
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded = true;
                    Err(io::Error::other("decompressed size limit reached"))
                }
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn decoder<'a>(bytes: &'a [u8], comp: Compressor) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match comp {
        Compressor::None => Box::new(bytes),
        Compressor::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Compressor::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            Box::new(liblzma::read::XzDecoder::new_stream(bytes, stream))
        }
        Compressor::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(bytes)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            Box::new(d)
        }
        // Not accepted for the control member (checked by the caller).
        Compressor::Bzip2 | Compressor::Lzma => {
            return Err(io::Error::other("unsupported control compression"));
        }
    })
}

/// Decompresses the control member and returns the bytes of its `control`
/// file.
fn read_control_tar(
    bytes: &[u8],
    comp: Compressor,
    member: &str,
    limits: &Limits,
) -> Result<Vec<u8>, FormatError> {
    let corrupt =
        |e: io::Error| FormatError::Invalid(format!("the {member} member is corrupt: {e}"));
    let counted = LimitReader {
        inner: decoder(bytes, comp).map_err(corrupt)?,
        remaining: limits.max_control_tar,
        exceeded: false,
    };
    let mut archive = tar::Archive::new(counted);
    let result = scan_control_tar(&mut archive, member, limits);
    let exceeded = archive.into_inner().exceeded;
    match result {
        Err(ScanError::Io(_)) if exceeded => Err(FormatError::TooLarge(format!(
            "{member} decompresses past the {} limit",
            human(limits.max_control_tar)
        ))),
        Err(ScanError::Io(e)) => Err(corrupt(e)),
        Err(ScanError::Format(e)) => Err(e),
        Ok(Some(control)) => Ok(control),
        Ok(None) => Err(FormatError::Invalid(format!(
            "the {member} member has no ./control file"
        ))),
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

/// Walks every entry of the control tar (so a second `control` is seen),
/// reading only the `control` file.
fn scan_control_tar<R: Read>(
    archive: &mut tar::Archive<R>,
    member: &str,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, ScanError> {
    let mut control: Option<Vec<u8>> = None;
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path_bytes();
        if path.as_ref() != b"./control" && path.as_ref() != b"control" {
            continue;
        }
        let invalid = |msg: String| ScanError::Format(FormatError::Invalid(msg));
        if control.is_some() {
            return Err(invalid(format!(
                "the {member} member has two control files"
            )));
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            return Err(invalid(format!(
                "./control in {member} is a {}, not a regular file",
                entry_kind_name(kind)
            )));
        }
        let size = entry.size();
        if size > limits.max_control_file {
            return Err(ScanError::Format(FormatError::TooLarge(format!(
                "the control file is {size} bytes, over the {} limit",
                human(limits.max_control_file)
            ))));
        }
        let mut buf = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut buf)?;
        control = Some(buf);
    }
    Ok(control)
}

fn entry_kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Directory => "directory",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "fifo",
        _ => "special entry",
    }
}

fn human(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// Parses and validates the control file.
fn parse_control(bytes: &[u8]) -> Result<DebInfo, FormatError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        FormatError::Invalid(format!(
            "the control file is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let fields = deb822::parse_control(text)
        .map_err(|e| FormatError::Invalid(format!("control file, {e}")))?;
    let required = |name: &str| {
        deb822::field(&fields, name)
            .map(str::to_string)
            .ok_or_else(|| FormatError::Invalid(format!("the control file has no {name} field")))
    };
    let name = required("Package")?;
    let version = required("Version")?;
    let arch = required("Architecture")?;
    validate_name(&name).map_err(|why| {
        FormatError::Invalid(format!(
            "Package '{}' is not a valid Debian package name: {why}",
            clip(&name)
        ))
    })?;
    version::validate(&version).map_err(|why| {
        FormatError::Invalid(format!(
            "Version '{}' is not a valid Debian version: {why}",
            clip(&version)
        ))
    })?;
    validate_architecture(&arch).map_err(|why| {
        FormatError::Invalid(format!(
            "Architecture '{}' is not valid for a binary package: {why}",
            clip(&arch)
        ))
    })?;
    Ok(DebInfo {
        name,
        version,
        arch,
        fields,
    })
}

/// A binary package name per Debian policy §5.6.1: `[a-z0-9][a-z0-9+.-]+`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() < 2 {
        return Err("must be at least two characters long".into());
    }
    if !name.as_bytes()[0].is_ascii_lowercase() && !name.as_bytes()[0].is_ascii_digit() {
        return Err("must start with a lowercase letter or a digit".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (only lowercase letters, digits, '+', '-' and '.')"
        ));
    }
    Ok(())
}

/// A concrete architecture name, as a binary package carries:
/// `[a-z0-9][a-z0-9-]*`, not `source` and not a wildcard (`any`,
/// `linux-any`, `any-amd64`). `all` is valid.
pub fn validate_architecture(arch: &str) -> Result<(), String> {
    if arch.is_empty() {
        return Err("is empty".into());
    }
    if !arch.as_bytes()[0].is_ascii_lowercase() && !arch.as_bytes()[0].is_ascii_digit() {
        return Err("must start with a lowercase letter or a digit".into());
    }
    if let Some(c) = arch
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        return Err(format!(
            "character {c:?} is not allowed (only lowercase letters, digits and '-')"
        ));
    }
    if arch.split('-').any(|part| part == "any") {
        return Err(
            "is a wildcard; a binary package has one concrete architecture or 'all'".into(),
        );
    }
    if arch == "source" {
        return Err("'source' is not a binary architecture".into());
    }
    Ok(())
}

/// Fields `index_entry` writes itself; the control file's own are dropped.
const INDEX_OWN_FIELDS: [&str; 6] = ["Filename", "Size", "MD5sum", "SHA1", "SHA256", "SHA512"];

/// The `Packages` stanza for this .deb: the control fields in order, with
/// `Package` first, minus any `Filename`, `Size`, `MD5sum`, `SHA1`, `SHA256`
/// or `SHA512` the control file carried, then `Filename: {filename}`,
/// `Size`, `MD5sum`, `SHA1`, `SHA256`, `SHA512`. Every line ends with `\n`;
/// there is no blank line at the end.
///
/// The output is one stanza whatever `info` holds (it is a plain struct and
/// could be built by hand): fields with invalid names are dropped, and
/// values are written so that they cannot end the stanza (see
/// `deb822::push_field`).
pub fn index_entry(info: &DebInfo, filename: &str, size: u64, hashes: &Hashes) -> String {
    let mut out = String::with_capacity(
        info.fields
            .iter()
            .map(|(k, v)| k.len() + v.len() + 3)
            .sum::<usize>()
            + 400,
    );
    match info.field("Package") {
        Some(_) => {}
        None => deb822::push_field(&mut out, "Package", &info.name),
    }
    let is_package = |k: &str| k.eq_ignore_ascii_case("Package");
    let fields = info
        .fields
        .iter()
        .filter(|(k, _)| is_package(k))
        .chain(info.fields.iter().filter(|(k, _)| !is_package(k)));
    for (name, value) in fields {
        if INDEX_OWN_FIELDS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(name))
            || deb822::check_field_name(name).is_err()
        {
            continue;
        }
        deb822::push_field(&mut out, name, value);
    }
    // A file name never holds a newline (FileName refuses control
    // characters); push_field keeps even a bad one on its line.
    let filename: String = filename.chars().filter(|c| !c.is_control()).collect();
    deb822::push_field(&mut out, "Filename", &filename);
    deb822::push_field(&mut out, "Size", &size.to_string());
    deb822::push_field(&mut out, "MD5sum", &hashes.md5);
    deb822::push_field(&mut out, "SHA1", &hashes.sha1);
    deb822::push_field(&mut out, "SHA256", &hashes.sha256.hex());
    deb822::push_field(&mut out, "SHA512", &hashes.sha512);
    out
}

/// The control fields as a JSON object `{"Package": "hello", ...}` (for the
/// API). Values are the strings of [`DebInfo::fields`].
pub fn fields_json(info: &DebInfo) -> serde_json::Value {
    serde_json::Value::Object(
        info.fields
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

// ---- the format ------------------------------------------------------------

/// Debian binary packages as a [`crate::PackageFormat`], with their
/// [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Deb {
    limits: Limits,
}

impl Deb {
    pub fn new(limits: Limits) -> Self {
        Deb { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// An ar archive whose first member is `debian-binary` (GNU ar may write
/// `debian-binary/`).
fn has_deb_magic(head: &[u8]) -> bool {
    let Some(name) = head.strip_prefix(b"!<arch>\n").and_then(|r| r.get(..16)) else {
        return false;
    };
    let name = name.trim_ascii_end();
    name.strip_suffix(b"/").unwrap_or(name) == b"debian-binary"
}

impl crate::PackageFormat for Deb {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Deb
    }

    /// Magic: an ar archive starting with `debian-binary`; name: `.deb`,
    /// `.udeb`, `.ddeb`.
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if has_deb_magic(head.bytes()) {
            Some(crate::Evidence::Magic)
        } else if head.has_extension(&[".deb", ".udeb", ".ddeb"]) {
            Some(crate::Evidence::Name)
        } else {
            None
        }
    }

    /// Characters apt and every mirror tool handle in a pool file name
    /// without escaping.
    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"._+~-", "a Debian package")
    }

    /// [`inspect`], then [`index_entry`] for `packages/{file_name}` (every
    /// tree serves the download route under `packages/`).
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = inspect(file, &self.limits)?;
        let entry = index_entry(
            &info,
            &format!("packages/{}", input.file_name),
            input.size,
            input.hashes,
        );
        Ok(crate::Inspected {
            fields: fields_json(&info),
            name: info.name,
            version: info.version,
            arch: info.arch,
            entry,
        })
    }

    /// dpkg's order ([`version::compare`]).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::compare(a, b)
    }

    fn content_type(&self) -> &'static str {
        "application/vnd.debian.binary-package"
    }
}
