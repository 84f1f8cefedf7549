//! The blob store seam: content-addressed bytes (local disk, S3, memory).

use crate::digest::Sha256;
use crate::time::Timestamp;
use bytes::Bytes;
use futures::stream::BoxStream;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(Sha256),
    #[error("range {start}..{end} not satisfiable for blob of {size} bytes")]
    InvalidRange { start: u64, end: u64, size: u64 },
    #[error("blob store: {0}")]
    Backend(String),
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The longest a blob that a `put_*` found already stored may keep its old
/// `last_modified` (see "Refresh on reuse" on [`BlobStore`]). gc's grace
/// period must be longer than this plus the longest time between storing a
/// blob and committing the row or publication that references it.
pub const REFRESH_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// A blob with this digest was already stored; nothing was written.
    Existed,
}

/// A streaming read of a blob (or a range of it).
pub struct BlobRead {
    /// Size of the whole blob.
    pub size: u64,
    /// The requested bytes.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    pub digest: Sha256,
    pub size: u64,
    pub last_modified: Timestamp,
}

/// Content-addressed storage. Keys are SHA-256 digests of the content, so a
/// key always names the same bytes.
///
/// Contract (checked by the conformance suite in depot-store):
/// - `put_*` is put-if-absent and idempotent: storing a digest that exists
///   writes nothing and returns [`PutOutcome::Existed`]. A blob becomes
///   visible whole or not at all (no reader sees a partial blob).
/// - The caller guarantees `digest` is the SHA-256 of the content; stores do
///   not re-hash.
/// - `put_file` streams: it never holds the whole file in memory (bounded
///   buffers only). The file is left in place; the caller removes it.
/// - Reads of a missing digest return [`BlobError::NotFound`].
/// - `delete` of a missing digest is `Ok`.
/// - **Refresh on reuse**: when a `put_*` call returns (either outcome),
///   the blob's `last_modified` is no older than [`REFRESH_AFTER`] before
///   the call started: a store that finds the digest already stored
///   refreshes an older blob (rewrites it, or touches its timestamp). gc
///   deletes unreferenced blobs by age; without this, a writer that is about
///   to reference an old orphan again (a re-upload of a removed package, an
///   index chunk identical to a pruned one) could see `Existed` and have the
///   blob deleted under it before its reference is committed. Stores may
///   refresh more eagerly (a shorter window).
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn put_file(&self, digest: &Sha256, path: &Path) -> Result<PutOutcome, BlobError>;
    async fn put_bytes(&self, digest: &Sha256, bytes: Bytes) -> Result<PutOutcome, BlobError>;
    /// Like `put_file`, but the store may take the file over (a local store
    /// moves it into place instead of copying it). The file is gone after a
    /// successful call; after an error it may or may not be. The default
    /// stores a copy and removes the file.
    async fn put_file_moving(&self, digest: &Sha256, path: &Path) -> Result<PutOutcome, BlobError> {
        let outcome = self.put_file(digest, path).await?;
        remove_if_present(path)?;
        Ok(outcome)
    }
    /// Streams the blob, or `range` of it (end exclusive; clamped to the size;
    /// a start at or past the size is `InvalidRange`).
    async fn get(&self, digest: &Sha256, range: Option<Range<u64>>) -> Result<BlobRead, BlobError>;
    /// The whole blob in memory; for small blobs (index chunks) only.
    async fn get_bytes(&self, digest: &Sha256) -> Result<Bytes, BlobError>;
    /// Size of the blob, or `None` if absent.
    async fn size(&self, digest: &Sha256) -> Result<Option<u64>, BlobError>;
    /// Size and `last_modified` of one blob, or `None` if absent: the same
    /// values [`BlobStore::list`] reports, read afresh (gc checks a
    /// candidate's age once more right before deleting it).
    async fn stat(&self, digest: &Sha256) -> Result<Option<BlobInfo>, BlobError>;
    async fn delete(&self, digest: &Sha256) -> Result<(), BlobError>;
    /// Every blob, for gc.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError>;
    /// The blob's own file when the store is a local directory, so a
    /// reader may open it in place (read-only: the file must never be
    /// written or moved through this path). `None` elsewhere.
    fn local_path(&self, _digest: &Sha256) -> Option<std::path::PathBuf> {
        None
    }
    /// A URL a client can GET the blob from directly for `ttl`, where the
    /// backend can presign (S3); `None` where it cannot (local disk, memory).
    async fn presign_get(
        &self,
        _digest: &Sha256,
        _ttl: std::time::Duration,
    ) -> Result<Option<String>, BlobError> {
        Ok(None)
    }
}

/// One syscall; core has no async runtime to hand it to.
fn remove_if_present(path: &Path) -> Result<(), BlobError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}
