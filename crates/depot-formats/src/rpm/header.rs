//! The header structure rpm uses for both the signature header and the main
//! header, read and checked by hand (see the parent module for why).
//!
//! ```text
//! 8e ad e8 01  00 00 00 00  il (u32 BE)  dl (u32 BE)     16-byte intro
//! il index entries of 16 bytes:
//!     tag (u32)  type (u32)  offset (u32, into the store)  count (u32)
//! dl bytes of data store
//! ```
//!
//! Checked as rpm's `hdrblobVerifyInfo` checks them: a known type (1..=9),
//! a non-zero count, the offset aligned for the type, the data inside the
//! store, strings NUL-terminated inside the store, a STRING holding exactly
//! one string, tags below 100 only as the leading region entry, and every
//! entry's data starting at or after the end of the previous entry's (so
//! reading all of them costs one pass over the store, whatever the counts
//! say). The first entry may be a region tag (61 to 63): 16 bytes of
//! binary data that no other entry may overlap.

use crate::FormatError;
use std::borrow::Cow;
use std::io::Read;

pub(crate) const MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
pub(crate) const INTRO_LEN: u64 = 16;
const ENTRY_LEN: u64 = 16;

// Data types.
const CHAR: u32 = 1;
const INT8: u32 = 2;
const INT16: u32 = 3;
const INT32: u32 = 4;
const INT64: u32 = 5;
const STRING: u32 = 6;
const BIN: u32 = 7;
const STRING_ARRAY: u32 = 8;
const I18NSTRING: u32 = 9;

fn type_name(ty: u32) -> &'static str {
    match ty {
        CHAR => "CHAR",
        INT8 => "INT8",
        INT16 => "INT16",
        INT32 => "INT32",
        INT64 => "INT64",
        STRING => "STRING",
        BIN => "BIN",
        STRING_ARRAY => "STRING_ARRAY",
        I18NSTRING => "I18NSTRING",
        _ => "unknown",
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    ty: u32,
    offset: usize,
    count: usize,
}

/// One header, validated, with its raw bytes (intro, index and store).
pub(crate) struct Header {
    /// What this header is, for messages: "signature header", "header".
    what: &'static str,
    raw: Vec<u8>,
    store_start: usize,
    /// Entries sorted by tag (stable, so the first of duplicates comes
    /// first).
    entries: Vec<Entry>,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, FormatError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FormatError::Io(e)),
        }
    }
    Ok(n)
}

impl Header {
    /// Reads one header. `budget` is what is left of
    /// `Limits::max_header_bytes` and is charged before anything is
    /// allocated; `max_entries` bounds the index count.
    pub(crate) fn read<R: Read>(
        r: &mut R,
        what: &'static str,
        budget: &mut u64,
        max_header_bytes: u64,
        max_entries: u32,
    ) -> Result<Header, FormatError> {
        let mut intro = [0u8; INTRO_LEN as usize];
        let n = read_full(r, &mut intro)?;
        if n < intro.len() {
            return Err(FormatError::Truncated(format!(
                "the file ends inside the {what} ({n} of the first 16 bytes)"
            )));
        }
        if intro[..4] != MAGIC {
            return Err(FormatError::Invalid(format!(
                "the {what} does not start with the header magic 8e ad e8 01"
            )));
        }
        let il = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]);
        let dl = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]);
        if il > max_entries {
            return Err(FormatError::TooLarge(format!(
                "the {what} declares {il} index entries, over the limit of {max_entries}"
            )));
        }
        let size = INTRO_LEN + u64::from(il) * ENTRY_LEN + u64::from(dl);
        if size > *budget {
            return Err(FormatError::TooLarge(format!(
                "the {what} declares {size} bytes ({il} index entries, {dl} bytes of data); \
                 the signature and main headers may hold at most {max_header_bytes} bytes together"
            )));
        }
        *budget -= size;

        // Grows as bytes arrive, so a lying size costs no memory up front.
        let mut raw = Vec::with_capacity(size.min(1 << 20) as usize);
        raw.extend_from_slice(&intro);
        let want = size - INTRO_LEN;
        let got = r
            .by_ref()
            .take(want)
            .read_to_end(&mut raw)
            .map_err(FormatError::Io)? as u64;
        if got < want {
            return Err(FormatError::Truncated(format!(
                "the file ends inside the {what} ({} of {size} bytes)",
                INTRO_LEN + got
            )));
        }
        Self::parse(what, raw, il as usize, dl as usize)
    }

    fn parse(
        what: &'static str,
        raw: Vec<u8>,
        il: usize,
        dl: usize,
    ) -> Result<Header, FormatError> {
        let store_start = INTRO_LEN as usize + il * ENTRY_LEN as usize;
        let store = &raw[store_start..];
        let bad = |i: usize, tag: u32, why: String| {
            FormatError::Invalid(format!(
                "the {what} is corrupt: index entry #{i} (tag {tag}) {why}"
            ))
        };
        let mut entries = Vec::with_capacity(il);
        let mut end = 0usize;
        let mut trailer: Option<(usize, usize)> = None;
        for i in 0..il {
            let at = INTRO_LEN as usize + i * ENTRY_LEN as usize;
            let word = |k: usize| {
                u32::from_be_bytes([
                    raw[at + 4 * k],
                    raw[at + 4 * k + 1],
                    raw[at + 4 * k + 2],
                    raw[at + 4 * k + 3],
                ])
            };
            let (tag, ty, offset, count) = (word(0), word(1), word(2) as usize, word(3) as usize);
            if !(CHAR..=I18NSTRING).contains(&ty) {
                return Err(bad(i, tag, format!("has unknown data type {ty}")));
            }
            if count == 0 {
                return Err(bad(i, tag, "has no data (count 0)".into()));
            }
            let align = match ty {
                INT16 => 2,
                INT32 => 4,
                INT64 => 8,
                _ => 1,
            };
            if offset % align != 0 {
                return Err(bad(
                    i,
                    tag,
                    format!("has {} data at misaligned offset {offset}", type_name(ty)),
                ));
            }
            if offset >= dl {
                return Err(bad(
                    i,
                    tag,
                    format!("points at offset {offset}, past the {dl}-byte data store"),
                ));
            }
            let len = data_len(ty, &store[offset..], count).ok_or_else(|| {
                bad(
                    i,
                    tag,
                    format!(
                        "says {count} {} items at offset {offset}, which do not fit in the {dl}-byte data store",
                        type_name(ty)
                    ),
                )
            })?;
            if i == 0 && (61..=63).contains(&tag) {
                // The region tag: its 16-byte trailer sits anywhere in the
                // store (usually at the end); nothing may overlap it.
                if ty != BIN || count != 16 {
                    return Err(bad(
                        i,
                        tag,
                        "is a region tag but not 16 bytes of BIN".into(),
                    ));
                }
                trailer = Some((offset, offset + 16));
                entries.push(Entry {
                    tag,
                    ty,
                    offset,
                    count,
                });
                continue;
            }
            if tag < 100 {
                return Err(bad(i, tag, "uses a reserved tag number below 100".into()));
            }
            if ty == STRING && count != 1 {
                return Err(bad(i, tag, format!("is a STRING with count {count}")));
            }
            if offset < end {
                return Err(bad(
                    i,
                    tag,
                    "overlaps the data of the entry before it".into(),
                ));
            }
            if let Some((t0, t1)) = trailer
                && offset < t1
                && offset + len > t0
            {
                return Err(bad(i, tag, "overlaps the region trailer".into()));
            }
            end = offset + len;
            entries.push(Entry {
                tag,
                ty,
                offset,
                count,
            });
        }
        entries.sort_by_key(|e| e.tag);
        Ok(Header {
            what,
            raw,
            store_start,
            entries,
        })
    }

    /// The header's bytes as they are in the file.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The header's length in the file.
    pub(crate) fn len(&self) -> u64 {
        self.raw.len() as u64
    }

    fn store(&self) -> &[u8] {
        &self.raw[self.store_start..]
    }

    fn entry(&self, tag: u32) -> Option<Entry> {
        let i = self.entries.partition_point(|e| e.tag < tag);
        self.entries.get(i).filter(|e| e.tag == tag).copied()
    }

    pub(crate) fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    fn wrong_type(&self, e: Entry, name: &str, want: &str) -> FormatError {
        FormatError::Invalid(format!(
            "the {} is corrupt: {name} (tag {}) is {}, not {want}",
            self.what,
            e.tag,
            type_name(e.ty)
        ))
    }

    /// The first `take` items (or all, if fewer) of a string-typed entry
    /// (STRING, STRING_ARRAY or I18NSTRING) as raw bytes, without their
    /// NULs. The caller bounds `take`: the result holds one slice per item.
    pub(crate) fn strings(
        &self,
        tag: u32,
        name: &str,
        take: usize,
    ) -> Result<Option<Vec<&[u8]>>, FormatError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if !matches!(e.ty, STRING | STRING_ARRAY | I18NSTRING) {
            return Err(self.wrong_type(e, name, "a string"));
        }
        // Checked at parse time: `count` NUL-terminated strings fit.
        let n = e.count.min(take);
        let mut out = Vec::with_capacity(n);
        let mut rest = &self.store()[e.offset..];
        for _ in 0..n {
            let nul = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            out.push(&rest[..nul]);
            rest = rest.get(nul + 1..).unwrap_or_default();
        }
        Ok(Some(out))
    }

    /// A single string: a STRING, or the first item of an I18NSTRING (the
    /// untranslated text) or of a STRING_ARRAY.
    pub(crate) fn string(&self, tag: u32, name: &str) -> Result<Option<&[u8]>, FormatError> {
        Ok(self
            .strings(tag, name, 1)?
            .and_then(|v| v.into_iter().next()))
    }

    /// The first `take` items of an integer entry (INT8/CHAR, INT16, INT32
    /// or INT64), widened to u64.
    pub(crate) fn numbers(
        &self,
        tag: u32,
        name: &str,
        take: usize,
    ) -> Result<Option<Vec<u64>>, FormatError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let width = match e.ty {
            CHAR | INT8 => 1,
            INT16 => 2,
            INT32 => 4,
            INT64 => 8,
            _ => return Err(self.wrong_type(e, name, "an integer")),
        };
        let data = &self.store()[e.offset..e.offset + e.count.min(take) * width];
        Ok(Some(
            data.chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
                .collect(),
        ))
    }

    /// The first item of an integer entry.
    pub(crate) fn number(&self, tag: u32, name: &str) -> Result<Option<u64>, FormatError> {
        Ok(self.numbers(tag, name, 1)?.and_then(|v| v.first().copied()))
    }

    /// The bytes of a BIN entry.
    pub(crate) fn bin(&self, tag: u32, name: &str) -> Result<Option<&[u8]>, FormatError> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        if e.ty != BIN {
            return Err(self.wrong_type(e, name, "BIN"));
        }
        Ok(Some(&self.store()[e.offset..e.offset + e.count]))
    }

    /// How many items an entry holds (0 when absent), without reading them.
    pub(crate) fn count(&self, tag: u32) -> usize {
        self.entry(tag).map_or(0, |e| e.count)
    }
}

/// Bytes taken by `count` items of type `ty` at the start of `data`, or
/// `None` when they do not fit.
fn data_len(ty: u32, data: &[u8], count: usize) -> Option<usize> {
    let fixed = |width: usize| count.checked_mul(width).filter(|&n| n <= data.len());
    match ty {
        CHAR | INT8 | BIN => fixed(1),
        INT16 => fixed(2),
        INT32 => fixed(4),
        INT64 => fixed(8),
        _ => {
            // Each string takes at least its NUL.
            if count > data.len() {
                return None;
            }
            let mut at = 0usize;
            for _ in 0..count {
                let nul = data[at..].iter().position(|&b| b == 0)?;
                at += nul + 1;
            }
            Some(at)
        }
    }
}

/// Text from the header as UTF-8: valid UTF-8 as is, anything else read as
/// ISO-8859-1 the way createrepo_c converts it (C1 control bytes 0x80-0xBF
/// dropped).
pub(crate) fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(
            bytes
                .iter()
                .filter(|&&b| !(0x80..0xc0).contains(&b))
                .map(|&b| b as char)
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: &[(u32, u32, u32, u32)], store: &[u8]) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        h.extend_from_slice(&(store.len() as u32).to_be_bytes());
        for (tag, ty, off, count) in entries {
            for w in [tag, ty, off, count] {
                h.extend_from_slice(&w.to_be_bytes());
            }
        }
        h.extend_from_slice(store);
        h
    }

    fn read(bytes: &[u8]) -> Result<Header, FormatError> {
        let mut budget = 1 << 20;
        Header::read(&mut &bytes[..], "header", &mut budget, 1 << 20, 1000)
    }

    #[test]
    fn reads_typed_entries() {
        let store = b"hello\0a\0bc\0\0\0\0\0\0\x00\x00\x00\x07\x00\x00\x00\x09";
        assert_eq!(store.len(), 24);
        let h = read(&header(
            &[
                (1000, STRING, 0, 1),
                (1001, STRING_ARRAY, 6, 3),
                (1002, INT32, 16, 2),
            ],
            store,
        ))
        .unwrap();
        assert_eq!(h.string(1000, "x").unwrap(), Some(&b"hello"[..]));
        assert_eq!(
            h.strings(1001, "x", 10).unwrap().unwrap(),
            vec![&b"a"[..], b"bc", b""]
        );
        assert_eq!(h.numbers(1002, "x", 10).unwrap(), Some(vec![7, 9]));
        assert_eq!(h.numbers(1002, "x", 1).unwrap(), Some(vec![7]));
        assert!(h.number(1000, "x").is_err());
        assert_eq!(h.string(1234, "x").unwrap(), None);
    }

    #[test]
    fn refuses_bad_entries() {
        let bad = |entries: &[(u32, u32, u32, u32)], store: &[u8], needle: &str| match read(
            &header(entries, store),
        ) {
            Err(FormatError::Invalid(m)) => assert!(m.contains(needle), "{m}"),
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted, wanted {needle}"),
        };
        bad(&[(1000, 0, 0, 1)], b"x\0", "unknown data type");
        bad(&[(1000, 10, 0, 1)], b"x\0", "unknown data type");
        bad(&[(1000, STRING, 0, 0)], b"x\0", "count 0");
        bad(&[(1000, STRING, 5, 1)], b"x\0", "past the");
        bad(&[(1000, STRING, 0, 1)], b"xy", "do not fit");
        bad(&[(1000, STRING_ARRAY, 0, 3)], b"a\0b\0", "do not fit");
        bad(&[(1000, INT32, 2, 1)], b"\0\0\0\0\0\0", "misaligned");
        bad(&[(1000, INT32, 0, 0x4000_0000)], b"\0\0\0\0", "do not fit");
        bad(&[(1000, STRING, 0, 2)], b"a\0b\0", "STRING with count 2");
        bad(&[(50, STRING, 0, 1)], b"a\0", "below 100");
        bad(
            &[(1000, STRING, 0, 1), (1001, STRING, 0, 1)],
            b"a\0",
            "overlaps",
        );
    }
}
