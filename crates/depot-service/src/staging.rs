//! Upload staging: an upload is streamed to a temp file under the data
//! directory while all its digests are computed, never held whole in memory.
//! The file is removed when the [`Staged`] value drops; files left by a
//! crashed process are swept at start ([`sweep_stale`]).

use crate::ServiceError;
use depot_core::{Hashes, MultiHasher};
use rand::RngCore;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const PREFIX: &str = "upload-";
const SUFFIX: &str = ".part";

/// A fully received upload on local disk.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    /// False for a file read in place ([`Staged::in_place`]): not ours to
    /// remove.
    owned: bool,
    pub hashes: Hashes,
    pub size: u64,
    /// The first bytes, for format sniffing.
    pub head: Vec<u8>,
}

impl Staged {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An existing file (a blob on local disk) read where it is: hashed
    /// with SHA-256 only and compared with `hashes.sha256`; never removed.
    /// For re-reading stored packages without copying them.
    pub fn in_place(path: PathBuf, hashes: Hashes) -> Result<Staged, ServiceError> {
        use sha2::Digest;
        use std::io::Read;
        let mut file = std::fs::File::open(&path)?;
        let mut sha = sha2::Sha256::new();
        let mut head = Vec::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; read_buffer_len(file.metadata()?.len())];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if head.len() < 4096 {
                let take = (4096 - head.len()).min(n);
                head.extend_from_slice(&buf[..take]);
            }
            sha.update(&buf[..n]);
            size += n as u64;
        }
        let digest = depot_core::Sha256(sha.finalize().into());
        if digest != hashes.sha256 {
            return Err(ServiceError::Internal(format!(
                "{} does not match its digest {} (store corrupted?)",
                path.display(),
                hashes.sha256.hex()
            )));
        }
        Ok(Staged {
            path,
            owned: false,
            hashes,
            size,
            head,
        })
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A temp path removed on drop unless disarmed, for the receiving phase.
struct Guard(Option<PathBuf>);
impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn temp_name() -> String {
    let mut r = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut r);
    format!(
        "{PREFIX}{}-{}{SUFFIX}",
        std::process::id(),
        depot_core::digest::hex(&r)
    )
}

/// Largest read buffer; a small file gets one of its own size (plus one
/// byte, to see the end in one read), so a bulk import of small packages
/// does not zero and fault in a large buffer per file.
const MAX_READ_BUFFER: usize = 256 * 1024;

fn read_buffer_len(file_len: u64) -> usize {
    (file_len as usize)
        .saturating_add(1)
        .clamp(4096, MAX_READ_BUFFER)
}

/// Streams `body` into a new file in `dir`, hashing as it goes. Fails with
/// `TooLarge` as soon as more than `limit` bytes arrive (the partial file is
/// removed).
pub async fn stage<R: AsyncRead + Unpin>(
    dir: &Path,
    mut body: R,
    limit: u64,
) -> Result<Staged, ServiceError> {
    let path = dir.join(temp_name());
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await?;
    let mut guard = Guard(Some(path.clone()));
    let mut received = Received::new(limit);
    // Filled through `read_buf`: its spare capacity is never zeroed.
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        let n = body.read_buf(&mut buf).await.map_err(|e| {
            // The client went away or the body stream failed: not our fault.
            ServiceError::Invalid(format!("reading the upload failed: {e}"))
        })?;
        if n == 0 {
            break;
        }
        received.take(&buf[..n])?;
        file.write_all(&buf[..n]).await?;
    }
    file.flush().await?;
    drop(file);
    guard.0 = None;
    Ok(received.staged(path))
}

/// [`stage`] for a file on local disk, on the calling (blocking) thread:
/// copies `src` into a new file in `dir` while hashing it. For bulk imports,
/// where one blocking task per file replaces a round trip to the blocking
/// pool per read and write.
pub fn stage_file_blocking(dir: &Path, src: &Path, limit: u64) -> Result<Staged, ServiceError> {
    use std::io::{Read, Write};
    // The caller's file: failing to read it is the caller's error.
    let unreadable =
        |e: std::io::Error| ServiceError::Invalid(format!("cannot read {}: {e}", src.display()));
    let mut input = std::fs::File::open(src).map_err(unreadable)?;
    let len = input.metadata().map_err(unreadable)?.len();
    if len > limit {
        return Err(ServiceError::TooLarge { limit });
    }
    let path = dir.join(temp_name());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    let mut guard = Guard(Some(path.clone()));
    let mut received = Received::new(limit);
    let mut buf = vec![0u8; read_buffer_len(len)];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(e)),
        };
        // The limit again: the file may grow while it is read.
        received.take(&buf[..n])?;
        file.write_all(&buf[..n])?;
    }
    drop(file);
    guard.0 = None;
    Ok(received.staged(path))
}

/// What staging keeps of an upload's bytes as they pass: every digest, the
/// first bytes (for format sniffing) and the count, against the limit.
struct Received {
    hasher: MultiHasher,
    head: Vec<u8>,
    limit: u64,
}

impl Received {
    fn new(limit: u64) -> Self {
        Received {
            hasher: MultiHasher::new(),
            head: Vec::new(),
            limit,
        }
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), ServiceError> {
        if self.hasher.len() + bytes.len() as u64 > self.limit {
            return Err(ServiceError::TooLarge { limit: self.limit });
        }
        if self.head.len() < 4096 {
            let take = (4096 - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        self.hasher.update(bytes);
        Ok(())
    }

    /// The staged upload, written whole to `path`.
    fn staged(self, path: PathBuf) -> Staged {
        let (hashes, size) = self.hasher.finish();
        Staged {
            path,
            owned: true,
            hashes,
            size,
            head: self.head,
        }
    }
}

/// Removes upload temp files whose writing process is gone (a crash or kill
/// leaves them behind). Files of live processes, such as a CLI running next
/// to the server on the same data directory, are kept.
pub fn sweep_stale(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
        else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stages_and_hashes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![7u8; 600_000];
        let staged = stage(dir.path(), &data[..], 1 << 20).await.unwrap();
        assert_eq!(staged.size, 600_000);
        assert_eq!(staged.hashes, Hashes::of(&data));
        assert_eq!(staged.head.len(), 4096);
        assert_eq!(std::fs::read(staged.path()).unwrap(), data);
        let p = staged.path().to_path_buf();
        drop(staged);
        assert!(!p.exists());
    }

    #[tokio::test]
    async fn over_limit_is_rejected_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = vec![1u8; 10_001];
        let err = stage(dir.path(), &data[..], 10_000).await.unwrap_err();
        assert!(matches!(err, ServiceError::TooLarge { limit: 10_000 }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn sweeps_only_dead_writers() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0 is never a user process and /proc/0 does not exist.
        let dead = dir.path().join(format!("{PREFIX}0-abc{SUFFIX}"));
        let live = dir
            .path()
            .join(format!("{PREFIX}{}-abc{SUFFIX}", std::process::id()));
        let other = dir.path().join("keep.txt");
        for p in [&dead, &live, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(sweep_stale(dir.path()).unwrap(), 1);
        assert!(!dead.exists() && live.exists() && other.exists());
    }
}
