//! [`BlobStore`] over [`object_store`]: one implementation for local disk,
//! memory and (later) S3.

use bytes::Bytes;
use depot_core::blob::{BlobError, BlobInfo, BlobRead, BlobStore, PutOutcome};
use depot_core::digest::Sha256;
use depot_core::time::Timestamp;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::{
    GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

use crate::StoreError;

/// Size of one multipart part, and the largest file `put_file` uploads with a
/// single put. S3 needs parts of at least 5 MiB (except the last).
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Files up to this size are read into memory and put in one request.
pub(crate) const SINGLE_PUT_MAX: u64 = PART_SIZE as u64;

/// A content-addressed [`BlobStore`] over any [`ObjectStore`]: one
/// implementation for local disk, memory and (later) S3.
///
/// # Layout
///
/// ```text
/// {prefix}/blobs/sha256/{first 2 hex}/{64 hex}
/// ```
///
/// The two-character fan-out keeps directories small on local disk (256
/// directories of at most a few thousand entries each for a million blobs)
/// and costs nothing on S3. Anything else under the prefix (foreign keys,
/// staging files of an in-flight upload) is ignored by [`BlobStore::list`].
///
/// # Atomicity
///
/// A blob is visible whole or not at all:
/// - Small blobs (at most 8 MiB) go through one
///   `put_opts(PutMode::Create)`. `object_store` guarantees a put is atomic;
///   `LocalFileSystem` writes a staging file `{key}#{n}` and hard-links it to
///   the key (so a second writer gets `AlreadyExists`), S3 sends
///   `If-None-Match: *`.
/// - Larger files are uploaded with `put_multipart`, part by part. On
///   `LocalFileSystem` the parts go to a staging file `{key}#{n}` that is
///   renamed onto the key in `complete()`; on S3 the object only exists after
///   `CompleteMultipartUpload`. Staging names (`#` followed by digits) are
///   never returned by `LocalFileSystem::list`, and this store's key parser
///   rejects them as well. Multipart has no create-only mode, so the store
///   checks for the key first; two racing uploads of the same digest may both
///   write (and both report [`PutOutcome::Created`]), which is harmless
///   because the key names the content: both write the same bytes and the
///   final rename/complete is atomic.
///
/// Cheap to clone (clones share the object store).
#[derive(Debug, Clone)]
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// `{prefix}/blobs/sha256`: the parent of every blob key.
    root: ObjPath,
    /// The directory a local store lives in: `put_file_moving` renames
    /// files into it instead of copying them.
    local_dir: Option<std::path::PathBuf>,
}

impl ObjectBlobStore {
    /// A store on local disk under `root`, created if missing.
    ///
    /// Writes are fsynced (file and directory) before they are acknowledged,
    /// so a blob that `put_*` reported stored survives a power loss, not
    /// only a process crash.
    pub fn local(root: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root).map_err(|source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let fs = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        let mut store = Self::new(Arc::new(fs), "");
        store.local_dir = Some(root.to_path_buf());
        Ok(store)
    }

    /// A store in memory (tests, throw-away servers).
    pub fn memory() -> Self {
        Self::new(Arc::new(InMemory::new()), "")
    }

    /// A store over any object store, with every key under `prefix`
    /// (`""` for none; leading and trailing `/` are ignored). Used for S3,
    /// where several depot installations may share one bucket.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> Self {
        let prefix = prefix.trim_matches('/');
        let base = if prefix.is_empty() {
            ObjPath::default()
        } else {
            ObjPath::from(prefix)
        };
        let root = base.join("blobs").join("sha256");
        ObjectBlobStore {
            store,
            root,
            local_dir: None,
        }
    }

    /// The object key of a digest.
    fn key(&self, digest: &Sha256) -> ObjPath {
        let hex = digest.hex();
        self.root.clone().join(&hex[..2]).join(hex.as_str())
    }

    /// The digest named by `location`, if it is a blob key of this store
    /// (`{root}/{2 hex}/{64 lowercase hex}` with matching fan-out). Staging
    /// files, foreign keys and misplaced files give `None`.
    fn parse_key(&self, location: &ObjPath) -> Option<Sha256> {
        let mut rest = location.prefix_match(&self.root)?;
        let dir = rest.next()?;
        let file = rest.next()?;
        if rest.next().is_some() {
            return None;
        }
        let digest = Sha256::parse(file.as_ref())?;
        let hex = digest.hex();
        (hex == file.as_ref() && dir.as_ref() == &hex[..2]).then_some(digest)
    }

    async fn put_multipart_file(
        &self,
        key: &ObjPath,
        path: &Path,
        expected_len: u64,
    ) -> Result<(), BlobError> {
        let mut file = tokio::fs::File::open(path).await?;
        let mut upload = self.store.put_multipart(key).await.map_err(backend)?;
        let result: Result<(), BlobError> = async {
            let mut total = 0u64;
            loop {
                let part = read_part(&mut file).await?;
                if part.is_empty() {
                    break;
                }
                let full = part.len() == PART_SIZE;
                total += part.len() as u64;
                upload
                    .put_part(PutPayload::from(part))
                    .await
                    .map_err(backend)?;
                if !full {
                    break;
                }
            }
            if total != expected_len {
                return Err(BlobError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "{} changed size during upload ({expected_len} bytes expected, {total} read)",
                        path.display()
                    ),
                )));
            }
            upload.complete().await.map_err(backend)?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Err(abort) = upload.abort().await {
                tracing::warn!(key = %key, error = %abort, "aborting multipart upload failed");
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Reads up to [`PART_SIZE`] bytes; fewer only at end of file.
async fn read_part(file: &mut tokio::fs::File) -> std::io::Result<Bytes> {
    let mut buf = vec![0u8; PART_SIZE];
    let mut filled = 0;
    while filled < PART_SIZE {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

fn backend(e: object_store::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

fn map_read_err(digest: Sha256, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(digest),
        e => backend(e),
    }
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobStore {
    /// On local disk: fsync the file, rename it into place, fsync the
    /// directory. One inode per blob and no copy: creating and deleting a
    /// staging file per upload makes ext4 scan for recently deleted inodes,
    /// which dominated bulk imports. A rename is atomic, so readers see the
    /// whole blob or none; two racing moves of one digest both report
    /// `Created` (the bytes are identical). Elsewhere, or across
    /// filesystems: a copy, then the file is removed.
    async fn put_file_moving(&self, digest: &Sha256, path: &Path) -> Result<PutOutcome, BlobError> {
        let Some(dir) = &self.local_dir else {
            let outcome = self.put_file(digest, path).await?;
            tokio::fs::remove_file(path).await?;
            return Ok(outcome);
        };
        let dst = dir.join(self.key(digest).as_ref());
        let src = path.to_path_buf();
        let moved = tokio::task::spawn_blocking(move || -> std::io::Result<Option<PutOutcome>> {
            if dst.exists() {
                std::fs::remove_file(&src)?;
                return Ok(Some(PutOutcome::Existed));
            }
            let parent = dst.parent().expect("a blob key has a parent");
            std::fs::create_dir_all(parent)?;
            std::fs::File::open(&src)?.sync_all()?;
            match std::fs::rename(&src, &dst) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => return Ok(None),
                Err(e) => return Err(e),
            }
            std::fs::File::open(parent)?.sync_all()?;
            Ok(Some(PutOutcome::Created))
        })
        .await
        .map_err(|e| BlobError::Backend(format!("blob move task failed: {e}")))??;
        match moved {
            Some(outcome) => Ok(outcome),
            None => {
                let outcome = self.put_file(digest, path).await?;
                tokio::fs::remove_file(path).await?;
                Ok(outcome)
            }
        }
    }

    /// Files up to 8 MiB are read and put in one request; larger ones are
    /// streamed in 8 MiB parts (at most one part in memory at a time).
    async fn put_file(&self, digest: &Sha256, path: &Path) -> Result<PutOutcome, BlobError> {
        let meta = tokio::fs::metadata(path).await?;
        if !meta.is_file() {
            return Err(BlobError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            )));
        }
        if meta.len() <= SINGLE_PUT_MAX {
            let data = tokio::fs::read(path).await?;
            return self.put_bytes(digest, Bytes::from(data)).await;
        }
        let key = self.key(digest);
        match self.store.head(&key).await {
            Ok(_) => return Ok(PutOutcome::Existed),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(backend(e)),
        }
        self.put_multipart_file(&key, path, meta.len()).await?;
        Ok(PutOutcome::Created)
    }

    async fn put_bytes(&self, digest: &Sha256, bytes: Bytes) -> Result<PutOutcome, BlobError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&self.key(digest), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(PutOutcome::Created),
            // S3-compatible stores answer a failed `If-None-Match: *` with
            // 412, which some report as a precondition failure.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(PutOutcome::Existed),
            Err(e) => Err(backend(e)),
        }
    }

    /// Empty or inverted ranges (`end <= start`) are `InvalidRange` too.
    async fn get(&self, digest: &Sha256, range: Option<Range<u64>>) -> Result<BlobRead, BlobError> {
        let key = self.key(digest);
        if let Some(r) = &range
            && r.end <= r.start
        {
            return match self.size(digest).await? {
                None => Err(BlobError::NotFound(*digest)),
                Some(size) => Err(BlobError::InvalidRange {
                    start: r.start,
                    end: r.end,
                    size,
                }),
            };
        }
        let opts = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..Default::default()
        };
        let result = match self.store.get_opts(&key, opts).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound(*digest)),
            Err(e) => {
                // Backends report an unsatisfiable range differently (a
                // generic error locally, HTTP 416 on S3); find out whether
                // that was the cause.
                if let Some(r) = range
                    && let Some(size) = self.size(digest).await?
                    && r.start >= size
                {
                    return Err(BlobError::InvalidRange {
                        start: r.start,
                        end: r.end,
                        size,
                    });
                }
                return Err(map_read_err(*digest, e));
            }
        };
        let size = result.meta.size;
        let got = result.range.clone();
        let d = *digest;
        let stream = result
            .into_stream()
            .map_err(move |e| map_read_err(d, e))
            .boxed();
        Ok(BlobRead {
            size,
            range: got,
            stream,
        })
    }

    async fn get_bytes(&self, digest: &Sha256) -> Result<Bytes, BlobError> {
        let result = self
            .store
            .get(&self.key(digest))
            .await
            .map_err(|e| map_read_err(*digest, e))?;
        result.bytes().await.map_err(|e| map_read_err(*digest, e))
    }

    async fn size(&self, digest: &Sha256) -> Result<Option<u64>, BlobError> {
        match self.store.head(&self.key(digest)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn delete(&self, digest: &Sha256) -> Result<(), BlobError> {
        match self.store.delete(&self.key(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    /// Every blob under this store's prefix, ordered by digest.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut entries = self.store.list(Some(&self.root));
        let mut out = Vec::new();
        while let Some(meta) = entries.try_next().await.map_err(backend)? {
            if let Some(digest) = self.parse_key(&meta.location) {
                out.push(BlobInfo {
                    digest,
                    size: meta.size,
                    last_modified: Timestamp(meta.last_modified.timestamp()),
                });
            }
        }
        out.sort_by_key(|b| b.digest);
        Ok(out)
    }
}

/// Opens a blob store from a URL:
///
/// - `memory:` (or `memory://`): in memory;
/// - `file:///abs/dir`: local disk under that directory (created if
///   missing);
/// - a plain filesystem path (`/var/lib/depot/blobs`, `data/blobs`): the
///   same as `file://`.
///
/// Other schemes (`s3://` comes later) are [`StoreError::InvalidUrl`].
pub fn open_blob_store(url: &str) -> Result<Arc<dyn BlobStore>, StoreError> {
    let invalid = |reason: &str| StoreError::InvalidUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    if url.is_empty() {
        return Err(invalid("empty"));
    }
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(ObjectBlobStore::memory()));
    }
    match url_scheme(url) {
        None => Ok(Arc::new(ObjectBlobStore::local(Path::new(url))?)),
        Some("file") => {
            let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
            if parsed.query().is_some() || parsed.fragment().is_some() {
                return Err(invalid("file URLs take no query or fragment"));
            }
            let path = parsed
                .to_file_path()
                .map_err(|()| invalid("expected file:///absolute/path"))?;
            Ok(Arc::new(ObjectBlobStore::local(&path)?))
        }
        Some(_) => Err(invalid(
            "unsupported scheme (use file:///dir, a plain path or memory:)",
        )),
    }
}

/// The scheme of `s` if it starts like a URL (`scheme:`, RFC 3986), with
/// at least two characters so a Windows drive letter is not one.
fn url_scheme(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    .then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_foreign_keys_are_skipped() {
        let store = ObjectBlobStore::new(Arc::new(InMemory::new()), "/tenant/a/");
        let d = Sha256::of(b"x");
        let key = store.key(&d);
        let hex = d.hex();
        assert_eq!(
            key.as_ref(),
            format!("tenant/a/blobs/sha256/{}/{hex}", &hex[..2])
        );
        assert_eq!(store.parse_key(&key), Some(d));
        let p = |s: &str| ObjPath::from(s);
        for foreign in [
            format!("tenant/a/blobs/sha256/{}/{hex}#1", &hex[..2]),
            format!("tenant/a/blobs/sha256/00/{hex}"),
            format!("tenant/a/blobs/sha256/{}/{}", &hex[..2], hex.to_uppercase()),
            format!("tenant/a/blobs/sha256/{}/{}/x", &hex[..2], hex),
            format!("tenant/a/blobs/sha256/{hex}"),
            format!("tenant/b/blobs/sha256/{}/{hex}", &hex[..2]),
            "tenant/a/blobs/sha256/ab/notahash".to_string(),
        ] {
            assert_eq!(store.parse_key(&p(&foreign)), None, "{foreign} accepted");
        }
    }

    #[test]
    fn url_schemes() {
        assert_eq!(url_scheme("file:///x"), Some("file"));
        assert_eq!(url_scheme("s3://bucket"), Some("s3"));
        assert_eq!(url_scheme("/var/lib/depot"), None);
        assert_eq!(url_scheme("data/blobs"), None);
        assert_eq!(url_scheme("C:\\depot"), None);
    }
}
