//! A small, bounded zip reader: just enough to read a few members of a
//! wheel, refusing everything a wheel does not need.
//!
//! ```text
//! offset 0                                  end of file
//! │ local header + data │ ... │ central directory │ EOCD (+ comment) │
//!
//! local header   50 4b 03 04, version, flags, method, time, date, crc-32,
//!  (30 bytes)    compressed size, size, name length, extra length; name; extra
//! central entry  50 4b 01 02, made by, version, flags, method, time, date,
//!  (46 bytes)    crc-32, compressed size, size, name length, extra length, comment
//!                length, disk, internal attributes, external attributes, offset
//!                of the local header; name; extra; comment
//! EOCD           50 4b 05 06, disk, disk of the central directory, entries on this
//!  (22 bytes)    disk, entries, central directory size, its offset, comment length
//! ```
//!
//! All numbers are little-endian. Reading goes from the end: the EOCD,
//! whose comment must end exactly at the end of the file; then the
//! central directory, which must end exactly where the EOCD starts and
//! hold exactly the number of entries the EOCD says. An entry is only
//! decompressed on request: its local header is checked against the
//! central entry (same name, same method), the data must lie before the
//! central directory, and the output must have the declared size and
//! CRC-32.
//!
//! Refused: zip64 (any 0xFFFF or 0xFFFFFFFF field, or a zip64 locator;
//! a wheel within depot's limits never needs it), split archives,
//! encrypted entries, methods other than stored (0) and deflate (8),
//! names that are not UTF-8, empty, absolute (`/`, `C:`), hold a
//! backslash, a control character or a `..` component, duplicate names,
//! more than [`ZipLimits::max_entries`] entries and names over
//! [`ZipLimits::max_name`] bytes. Local headers are only read for the
//! entries that are opened, so overlapping entries elsewhere in the file
//! are not looked for: nothing else of the file is decompressed.

use crate::FormatError;
use crate::deb822::clip;
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};

const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const ZIP64_LOCATOR_SIG: &[u8; 4] = b"PK\x06\x07";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const LOCAL_SIG: &[u8; 4] = b"PK\x03\x04";
const EOCD_LEN: u64 = 22;
const MAX_COMMENT: u64 = 0xFFFF;

/// The bounds [`read_directory`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipLimits {
    pub max_entries: u64,
    pub max_name: usize,
}

/// One central directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

impl Entry {
    /// The size the central directory declares.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// The central directory of an archive: its entries in directory order
/// and where it starts (every member's data must lie before it).
#[derive(Debug, Clone)]
pub struct Directory {
    pub entries: Vec<Entry>,
    start: u64,
}

impl Directory {
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn invalid(m: String) -> FormatError {
    FormatError::Invalid(m)
}

/// Reads and checks the end of central directory record and the central
/// directory; see the module docs.
pub fn read_directory<R: Read + Seek>(
    r: &mut R,
    limits: &ZipLimits,
) -> Result<Directory, FormatError> {
    let len = r.seek(SeekFrom::End(0))?;
    if len < EOCD_LEN {
        return Err(FormatError::Truncated(format!(
            "the zip archive is {len} bytes, shorter than its end of central directory record"
        )));
    }
    let tail_len = len.min(EOCD_LEN + MAX_COMMENT);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    // The EOCD whose comment ends exactly at the end of the file, searched
    // from the end (a comment may itself contain the signature).
    let at = (0..=tail.len() - EOCD_LEN as usize)
        .rev()
        .find(|&i| {
            &tail[i..i + 4] == EOCD_SIG
                && i + EOCD_LEN as usize + u16_at(&tail, i + 20) as usize == tail.len()
        })
        .ok_or_else(|| {
            FormatError::Truncated(
                "no end of central directory record at the end of the zip archive (cut short, \
                 or followed by other data)"
                    .into(),
            )
        })?;
    let eocd = &tail[at..at + EOCD_LEN as usize];
    let eocd_pos = len - tail_len + at as u64;
    let (disk, cd_disk) = (u16_at(eocd, 4), u16_at(eocd, 6));
    let (on_disk, total) = (u16_at(eocd, 8), u16_at(eocd, 10));
    let (cd_size, cd_offset) = (u32_at(eocd, 12) as u64, u32_at(eocd, 16) as u64);
    let zip64_locator = at >= 20 && &tail[at - 20..at - 16] == ZIP64_LOCATOR_SIG;
    if zip64_locator || total == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        return Err(invalid(
            "the zip archive is in zip64 form; a wheel within depot's limits never needs it, so \
             it is refused"
                .into(),
        ));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(invalid(
            "the zip archive is split over several disks".into(),
        ));
    }
    if total as u64 > limits.max_entries {
        return Err(FormatError::TooLarge(format!(
            "the zip archive has {total} entries, more than the limit of {}",
            limits.max_entries
        )));
    }
    if cd_offset + cd_size != eocd_pos {
        return Err(invalid(format!(
            "the zip archive's central directory ({cd_size} bytes at offset {cd_offset}) does \
             not end where its end record starts (offset {eocd_pos})"
        )));
    }
    r.seek(SeekFrom::Start(cd_offset))?;
    let mut cd = vec![0u8; cd_size as usize];
    r.read_exact(&mut cd)?;

    let mut entries = Vec::with_capacity(total as usize);
    let mut seen = BTreeSet::new();
    let mut pos = 0usize;
    for index in 0..total {
        let head = cd.get(pos..pos + 46).ok_or_else(|| {
            invalid(format!(
                "the zip archive's central directory ends inside entry #{index}"
            ))
        })?;
        if &head[..4] != CENTRAL_SIG {
            return Err(invalid(format!(
                "entry #{index} of the zip archive's central directory has no entry signature"
            )));
        }
        let flags = u16_at(head, 8);
        let method = u16_at(head, 10);
        let crc = u32_at(head, 16);
        let compressed = u32_at(head, 20) as u64;
        let size = u32_at(head, 24) as u64;
        let name_len = u16_at(head, 28) as usize;
        let extra_len = u16_at(head, 30) as usize;
        let comment_len = u16_at(head, 32) as usize;
        let local_offset = u32_at(head, 42) as u64;
        let raw_name = cd.get(pos + 46..pos + 46 + name_len).ok_or_else(|| {
            invalid(format!(
                "the zip archive's central directory ends inside the name of entry #{index}"
            ))
        })?;
        if name_len > limits.max_name {
            return Err(FormatError::TooLarge(format!(
                "entry #{index} of the zip archive has a {name_len}-byte name, longer than the \
                 limit of {}",
                limits.max_name
            )));
        }
        let name = entry_name(raw_name, index)?;
        pos += 46 + name_len + extra_len + comment_len;
        if pos > cd.len() {
            return Err(invalid(format!(
                "the zip archive's central directory ends inside entry '{}'",
                clip(&name)
            )));
        }
        if flags & 0x41 != 0 {
            return Err(invalid(format!("zip entry '{}' is encrypted", clip(&name))));
        }
        if method != 0 && method != 8 {
            return Err(invalid(format!(
                "zip entry '{}' uses compression method {method}; only stored (0) and deflate \
                 (8) are accepted",
                clip(&name)
            )));
        }
        if compressed == 0xFFFF_FFFF || size == 0xFFFF_FFFF || local_offset == 0xFFFF_FFFF {
            return Err(invalid(format!(
                "zip entry '{}' has zip64 sizes; a wheel within depot's limits never needs them",
                clip(&name)
            )));
        }
        if method == 0 && compressed != size {
            return Err(invalid(format!(
                "zip entry '{}' is stored but declares {compressed} compressed and {size} \
                 unpacked bytes",
                clip(&name)
            )));
        }
        if local_offset + 30 + name_len as u64 + compressed > cd_offset {
            return Err(invalid(format!(
                "zip entry '{}' claims data past the start of the central directory",
                clip(&name)
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(invalid(format!(
                "the zip archive holds '{}' twice; readers disagree on which one counts",
                clip(&name)
            )));
        }
        entries.push(Entry {
            name,
            method,
            crc,
            compressed,
            size,
            local_offset,
        });
    }
    if pos != cd.len() {
        return Err(invalid(format!(
            "the zip archive's central directory has {} bytes after its {total} entries",
            cd.len() - pos
        )));
    }
    Ok(Directory {
        entries,
        start: cd_offset,
    })
}

/// A member name, validated: UTF-8, not empty, relative, `/`-separated,
/// no control character and no `..` component.
fn entry_name(raw: &[u8], index: u16) -> Result<String, FormatError> {
    let name = std::str::from_utf8(raw).map_err(|_| {
        invalid(format!(
            "zip entry #{index} has a name that is not valid UTF-8 ({:?})",
            clip(&String::from_utf8_lossy(raw))
        ))
    })?;
    let why = if name.is_empty() {
        Some("is empty")
    } else if name.starts_with('/') || name.as_bytes().get(1) == Some(&b':') {
        Some("is an absolute path")
    } else if name.contains('\\') {
        Some("holds a backslash (zip paths are '/'-separated)")
    } else if name.chars().any(char::is_control) {
        Some("holds a control character")
    } else if name.split('/').any(|seg| seg == "..") {
        Some("has a '..' component (path traversal)")
    } else {
        None
    };
    match why {
        Some(why) => Err(invalid(format!(
            "zip entry #{index}'s name '{}' {why}",
            clip(name)
        ))),
        None => Ok(name.to_string()),
    }
}

/// Reads one entry's bytes, at most `max` of them (more is
/// [`FormatError::TooLarge`]), checking its local header, size and
/// CRC-32.
pub fn read_entry<R: Read + Seek>(
    r: &mut R,
    dir: &Directory,
    entry: &Entry,
    max: u64,
) -> Result<Vec<u8>, FormatError> {
    let name = clip(&entry.name);
    if entry.size > max {
        return Err(FormatError::TooLarge(format!(
            "zip entry '{name}' is {} bytes, more than the limit of {}",
            entry.size,
            crate::archive::human(max)
        )));
    }
    r.seek(SeekFrom::Start(entry.local_offset))?;
    let mut local = [0u8; 30];
    r.read_exact(&mut local).map_err(|_| {
        FormatError::Truncated(format!(
            "the zip archive ends inside the local header of '{name}'"
        ))
    })?;
    if &local[..4] != LOCAL_SIG {
        return Err(invalid(format!(
            "zip entry '{name}' has no local header where the central directory points"
        )));
    }
    let (flags, method) = (u16_at(&local, 6), u16_at(&local, 8));
    let (name_len, extra_len) = (u16_at(&local, 26) as u64, u16_at(&local, 28) as u64);
    let mut local_name = vec![0u8; name_len as usize];
    r.read_exact(&mut local_name)?;
    if local_name != entry.name.as_bytes() {
        return Err(invalid(format!(
            "zip entry '{name}' is named '{}' in its local header",
            clip(&String::from_utf8_lossy(&local_name))
        )));
    }
    if method != entry.method || flags & 0x41 != 0 {
        return Err(invalid(format!(
            "zip entry '{name}': its local header disagrees with the central directory \
             (method or encryption)"
        )));
    }
    let data = entry.local_offset + 30 + name_len + extra_len;
    if data + entry.compressed > dir.start {
        return Err(invalid(format!(
            "zip entry '{name}' has data past the start of the central directory"
        )));
    }
    r.seek(SeekFrom::Start(data))?;
    let raw = (&mut *r).take(entry.compressed);
    let mut out = Vec::with_capacity(entry.size as usize);
    let read = match entry.method {
        0 => raw.take(max + 1).read_to_end(&mut out),
        _ => flate2::read::DeflateDecoder::new(raw)
            .take(max + 1)
            .read_to_end(&mut out),
    };
    read.map_err(|e| invalid(format!("zip entry '{name}' does not decompress: {e}")))?;
    if out.len() as u64 != entry.size {
        return Err(invalid(format!(
            "zip entry '{name}' declares {} bytes but unpacks to {}",
            entry.size,
            out.len()
        )));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if crc.sum() != entry.crc {
        return Err(invalid(format!(
            "zip entry '{name}' fails its CRC-32 check (corrupt)"
        )));
    }
    Ok(out)
}
