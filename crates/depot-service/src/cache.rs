//! What a read request needs, kept in memory between requests.
//!
//! Serving a published file used to cost, per request: the repo by name
//! (one query), the published pointer (another), a package by file name
//! for downloads (another), and opening and reading the blob through
//! object_store's small buffers. That bounded depot at 0.02-0.20 of nginx
//! on the same bytes (issue 11). Two kinds of things are kept here:
//!
//! - **Immutable, keyed by content**: blobs are content-addressed, so the
//!   bytes of a digest never change. Blobs up to [`SMALL_BLOB`] (index
//!   chunks, InRelease, small packages) are held as [`Bytes`] in an LRU
//!   bounded by their total size ([`BLOB_BUDGET`]); larger local blobs are
//!   streamed straight from their file in [`BIG_READ`] reads.
//!   (Publications, immutable by id, are cached in `tree.rs`.)
//! - **Mutable, validated by the store's change epoch**
//!   ([`MetaStore::change_epoch`]): repos by name, published pointers, and
//!   packages by file name. Every lookup reads the epoch first (SQLite: one
//!   `pread` of `depot.db.epoch`, no SQL); a value read from the store is
//!   kept under the epoch read *before* it, and reused only while the
//!   epoch still reads the same. Any committed write, by this process, the
//!   CLI on the same data directory, or another server on the same SQLite
//!   file, moves the epoch before it returns, so a write acknowledged
//!   anywhere is seen by the next lookup: read-your-writes holds as if
//!   every request read the database. A store with no epoch (PostgreSQL,
//!   whose nodes share no file) is read on every request.
//!
//! This process's own writes need no separate invalidation: they go
//! through the same store and move the same epoch.
//!
//! [`MetaStore::change_epoch`]: depot_core::meta::MetaStore::change_epoch

use crate::{Depot, ServiceError};
use bytes::Bytes;
use depot_core::blob::{BlobError, BlobStore};
use depot_core::{FileName, Package, PublicationId, Repo, RepoId, RepoName, Revision, Sha256};
use futures::StreamExt;
use futures::stream::BoxStream;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Blobs up to this size are held in memory whole.
pub(crate) const SMALL_BLOB: u64 = 1024 * 1024;
/// The total size of the blobs held in memory.
const BLOB_BUDGET: u64 = 64 * 1024 * 1024;
/// Read size for a blob streamed from its file.
const BIG_READ: usize = 256 * 1024;
/// Above this many entries of one kind the epoch-validated maps are
/// dropped wholesale (they are refilled from the store on the next miss).
const MAX_ENTRIES: usize = 4096;

type Pointer = Option<(PublicationId, Revision)>;

#[derive(Default)]
pub(crate) struct ServeCache {
    mutable: Mutex<Snapshot>,
    blobs: Arc<BlobCache>,
}

/// Values read from the store while its epoch read `epoch`.
#[derive(Default)]
struct Snapshot {
    epoch: Option<u64>,
    repos: HashMap<RepoName, Arc<Repo>>,
    pointers: HashMap<RepoId, Pointer>,
    packages: HashMap<(RepoId, FileName), Arc<Package>>,
}

impl ServeCache {
    pub(crate) fn blobs(&self) -> Arc<BlobCache> {
        self.blobs.clone()
    }

    /// `get` from the snapshot of `epoch`; a snapshot of another epoch is
    /// dropped first.
    fn lookup<T>(&self, epoch: u64, get: impl FnOnce(&Snapshot) -> Option<T>) -> Option<T> {
        let mut s = self.mutable.lock().expect("poisoned");
        if s.epoch != Some(epoch) {
            *s = Snapshot {
                epoch: Some(epoch),
                ..Snapshot::default()
            };
        }
        get(&s)
    }

    /// Keeps what was read after the epoch read `epoch`, unless the
    /// snapshot has moved on since (then it may be stale).
    fn keep(&self, epoch: u64, put: impl FnOnce(&mut Snapshot)) {
        let mut s = self.mutable.lock().expect("poisoned");
        if s.epoch == Some(epoch) {
            put(&mut s);
        }
    }
}

impl Snapshot {
    fn bound(&mut self) {
        if self.repos.len() >= MAX_ENTRIES {
            self.repos.clear();
        }
        if self.pointers.len() >= MAX_ENTRIES {
            self.pointers.clear();
        }
        if self.packages.len() >= MAX_ENTRIES {
            self.packages.clear();
        }
    }
}

impl Depot {
    /// The repo by name for a caller that only reads: as fresh as a query
    /// (see the module docs), from memory while nothing was written.
    pub async fn repo_for_read(&self, name: &RepoName) -> Result<Repo, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("repository '{name}'"));
        let meta = &self.inner.meta;
        let Some(epoch) = meta.change_epoch() else {
            return meta.get_repo(name).await?.ok_or_else(not_found);
        };
        let cache = &self.inner.serving;
        if let Some(repo) = cache.lookup(epoch, |s| s.repos.get(name).cloned()) {
            return Ok(Repo::clone(&repo));
        }
        let repo = meta.get_repo(name).await?.ok_or_else(not_found)?;
        let kept = Arc::new(repo.clone());
        cache.keep(epoch, |s| {
            s.bound();
            s.repos.insert(name.clone(), kept);
        });
        Ok(repo)
    }

    /// The repo's published pointer, for serving.
    pub(crate) async fn pointer_for_read(&self, repo: RepoId) -> Result<Pointer, ServiceError> {
        let meta = &self.inner.meta;
        let Some(epoch) = meta.change_epoch() else {
            return Ok(meta.published_pointer(repo).await?);
        };
        let cache = &self.inner.serving;
        if let Some(pointer) = cache.lookup(epoch, |s| s.pointers.get(&repo).copied()) {
            return Ok(pointer);
        }
        let pointer = meta.published_pointer(repo).await?;
        cache.keep(epoch, |s| {
            s.bound();
            s.pointers.insert(repo, pointer);
        });
        Ok(pointer)
    }

    /// A package by file name, for downloads. Misses are not kept (a
    /// client probing names must not fill memory).
    pub(crate) async fn package_for_read(
        &self,
        repo: RepoId,
        filename: &FileName,
    ) -> Result<Option<Arc<Package>>, ServiceError> {
        let meta = &self.inner.meta;
        let Some(epoch) = meta.change_epoch() else {
            return Ok(meta.get_package(repo, filename).await?.map(Arc::new));
        };
        let cache = &self.inner.serving;
        let key = (repo, filename.clone());
        if let Some(p) = cache.lookup(epoch, |s| s.packages.get(&key).cloned()) {
            return Ok(Some(p));
        }
        let Some(p) = meta.get_package(repo, filename).await?.map(Arc::new) else {
            return Ok(None);
        };
        cache.keep(epoch, |s| {
            s.bound();
            s.packages.insert(key, p.clone());
        });
        Ok(Some(p))
    }
}

/// Small blobs by digest, least recently used dropped first once their
/// total passes [`BLOB_BUDGET`].
#[derive(Default)]
pub(crate) struct BlobCache {
    state: Mutex<BlobLru>,
}

#[derive(Default)]
struct BlobLru {
    map: HashMap<Sha256, (Bytes, u64)>,
    total: u64,
    clock: u64,
}

impl BlobCache {
    fn get(&self, digest: &Sha256) -> Option<Bytes> {
        let mut s = self.state.lock().expect("poisoned");
        s.clock += 1;
        let now = s.clock;
        let (bytes, used) = s.map.get_mut(digest)?;
        *used = now;
        Some(bytes.clone())
    }

    fn put(&self, digest: Sha256, bytes: Bytes) {
        let mut s = self.state.lock().expect("poisoned");
        s.clock += 1;
        let now = s.clock;
        let len = bytes.len() as u64;
        if let Some((_, used)) = s.map.get_mut(&digest) {
            *used = now;
            return;
        }
        if s.total + len > BLOB_BUDGET {
            // Evict down to 3/4 of the budget: one sort per many inserts.
            let mut by_age: Vec<(u64, Sha256)> = s.map.iter().map(|(d, (_, u))| (*u, *d)).collect();
            by_age.sort_unstable();
            for (_, d) in by_age {
                if s.total + len <= BLOB_BUDGET / 4 * 3 {
                    break;
                }
                if let Some((b, _)) = s.map.remove(&d) {
                    s.total -= b.len() as u64;
                }
            }
        }
        s.total += len;
        s.map.insert(digest, (bytes, now));
    }

    /// `range` of the blob `digest` of `size` bytes, as a stream: from
    /// memory for a small blob (read whole once), from the blob's local
    /// file in [`BIG_READ`] reads, or from the store.
    pub(crate) async fn read(
        self: &Arc<Self>,
        blobs: &Arc<dyn BlobStore>,
        digest: &Sha256,
        size: u64,
        range: Range<u64>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        if range.is_empty() {
            return Ok(futures::stream::empty().boxed());
        }
        if size <= SMALL_BLOB {
            let bytes = self.small(blobs, digest, size).await?;
            // A blob that no longer has its size (damaged on disk) is served
            // as it is, as a ranged read of the file would: the client's
            // checksum refuses it.
            let end = (range.end as usize).min(bytes.len());
            let part = bytes.slice((range.start as usize).min(end)..end);
            return Ok(futures::stream::once(async move { Ok(part) }).boxed());
        }
        if let Some(path) = blobs.local_path(digest) {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound(*digest));
                }
                Err(e) => return Err(e.into()),
            };
            file.seek(std::io::SeekFrom::Start(range.start)).await?;
            let body = file.take(range.end - range.start);
            return Ok(tokio_util::io::ReaderStream::with_capacity(body, BIG_READ)
                .map(|r| r.map_err(BlobError::from))
                .boxed());
        }
        Ok(blobs.get(digest, Some(range)).await?.stream)
    }

    /// The whole small blob, from memory or read once.
    async fn small(
        &self,
        blobs: &Arc<dyn BlobStore>,
        digest: &Sha256,
        size: u64,
    ) -> Result<Bytes, BlobError> {
        if let Some(b) = self.get(digest) {
            return Ok(b);
        }
        let bytes = match blobs.local_path(digest) {
            Some(path) => match tokio::fs::read(&path).await {
                Ok(v) => Bytes::from(v),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound(*digest));
                }
                Err(e) => return Err(e.into()),
            },
            None => blobs.get_bytes(digest).await?,
        };
        if bytes.len() as u64 != size {
            // Damaged (or changed by hand) on disk: not kept, so the cache
            // never holds bytes that are not the blob's.
            tracing::warn!(%digest, len = bytes.len(), size, "blob does not have its recorded size");
            return Ok(bytes);
        }
        self.put(*digest, bytes.clone());
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blob_lru_keeps_its_budget_and_the_recently_used() {
        let cache = BlobCache::default();
        let mb = |i: u8| (Sha256::of(&[i]), Bytes::from(vec![i; 1024 * 1024]));
        let (first, bytes) = mb(0);
        cache.put(first, bytes);
        for i in 1..100u8 {
            let (d, b) = mb(i);
            cache.put(d, b);
            assert!(
                cache.get(&first).is_some(),
                "used after every insert, so kept"
            );
            assert!(cache.state.lock().unwrap().total <= BLOB_BUDGET);
        }
        assert!(
            cache.get(&mb(1).0).is_none(),
            "an early, unused blob was dropped"
        );
        assert!(cache.get(&mb(99).0).is_some());
    }
}
