//! Pieces the package readers share: the read buffer size, a decompressed-size guard
//! against bombs, tar member name checks and byte counts for messages.

use crate::FormatError;
use crate::deb822::clip;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Read buffer of the package readers. Under glibc malloc's 64 KiB
/// consolidation threshold: freeing a larger block merges every free
/// chunk of the heap, once per package read (a rebuild reads thousands).
pub(crate) const READ_BUFFER: usize = 32 * 1024;

/// Decompression limits: at most `max_unpacked` bytes, and once past
/// `ratio_floor` bytes at most `max_ratio` times the compressed bytes
/// read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub max_unpacked: u64,
    pub max_ratio: u64,
    pub ratio_floor: u64,
}

/// Counts decompressed bytes and fails past the [`Bounds`]; the reason is
/// kept in `exceeded` so the caller can answer "too large", not "corrupt".
pub(crate) struct Bounded<R> {
    pub inner: R,
    pub out: u64,
    pub consumed: Arc<AtomicU64>,
    pub bounds: Bounds,
    pub exceeded: Option<String>,
    pub what: &'static str,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, consumed: Arc<AtomicU64>, bounds: Bounds, what: &'static str) -> Self {
        Bounded {
            inner,
            out: 0,
            consumed,
            bounds,
            exceeded: None,
            what,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded.is_some() {
            return Err(io::Error::other("decompressed size limit reached"));
        }
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let b = self.bounds;
        let why = if self.out > b.max_unpacked {
            Some(format!(
                "{} unpacks to more than {} (a decompression bomb?)",
                self.what,
                human(b.max_unpacked)
            ))
        } else if self.out > b.ratio_floor {
            let consumed = self.consumed.load(Ordering::Relaxed).max(1);
            (self.out / consumed >= b.max_ratio).then(|| {
                format!(
                    "{} unpacks to more than {} times its compressed size ({} from {consumed} \
                     bytes so far): a decompression bomb",
                    self.what,
                    b.max_ratio,
                    human(self.out)
                )
            })
        } else {
            None
        };
        if let Some(why) = why {
            self.exceeded = Some(why);
            return Err(io::Error::other("decompressed size limit reached"));
        }
        Ok(n)
    }
}

/// A tar member name, validated: UTF-8, not empty, no control
/// characters, relative (unless `absolute_ok`: FreeBSD packages store
/// absolute paths), no `..` component.
pub(crate) fn member_name(
    raw: &[u8],
    index: u64,
    absolute_ok: bool,
) -> Result<String, FormatError> {
    let invalid = FormatError::Invalid;
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
    if name.starts_with('/') && !absolute_ok {
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

/// Checks a tar entry's name and, for a hard link, its target.
pub(crate) fn check_entry<R: Read>(
    entry: &tar::Entry<'_, R>,
    index: u64,
    absolute_ok: bool,
) -> Result<String, FormatError> {
    let name = member_name(&entry.path_bytes(), index, absolute_ok)?;
    if entry.header().entry_type() == tar::EntryType::Link
        && let Some(target) = entry.link_name_bytes()
    {
        member_name(&target, index, absolute_ok).map_err(|e| match e {
            FormatError::Invalid(m) => {
                FormatError::Invalid(format!("hard link '{}': its target {m}", clip(&name)))
            }
            e => e,
        })?;
    }
    Ok(name)
}

pub(crate) fn human(n: u64) -> String {
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
