//! [`BlobStore`] over [`object_store`]: one implementation for local disk,
//! memory and S3.

use bytes::Bytes;
use depot_core::blob::{BlobError, BlobInfo, BlobRead, BlobStore, PutOutcome, REFRESH_AFTER};
use depot_core::digest::Sha256;
use depot_core::time::Timestamp;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjPath;
use object_store::signer::Signer;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

use crate::StoreError;

/// Size of one multipart part, and the largest file `put_file` uploads with a
/// single put. S3 needs parts of at least 5 MiB (except the last).
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Files up to this size are read into memory and put in one request.
pub(crate) const SINGLE_PUT_MAX: u64 = PART_SIZE as u64;

/// A content-addressed [`BlobStore`] over any [`ObjectStore`]: one
/// implementation for local disk, memory and S3.
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
/// - On local disk, every write goes to a staging file of the writing
///   process, `{root}/.staging/{pid}-{random}.part`, is fsynced, and is
///   hard-linked to its key (so a second writer of the digest finds the key
///   taken and reports [`PutOutcome::Existed`]); then the directory is
///   fsynced and the staging name removed. `put_file_moving` renames instead
///   of linking (see there). A process killed mid-write leaves only its
///   staging file, and opening a local store removes the staging files of
///   processes that are gone (those of live ones, such as a CLI next to the
///   server, are kept): nothing half-written ever sits under a key, and
///   nothing leaks.
/// - Elsewhere, small blobs (at most 8 MiB) go through one
///   `put_opts(PutMode::Create)` (S3 sends `If-None-Match: *`), larger
///   files through `put_multipart`, part by part; on S3 the object only
///   exists after `CompleteMultipartUpload`. Multipart has no create-only
///   mode, so the store checks for the key first; two racing uploads of the
///   same digest may both write (and both report [`PutOutcome::Created`]),
///   which is harmless because the key names the content.
///
/// # Refresh on reuse
///
/// A put that finds its digest stored and older than the refresh window
/// ([`REFRESH_AFTER`] unless [`ObjectBlobStore::with_refresh_after`] says
/// otherwise) refreshes the blob before it reports
/// [`PutOutcome::Existed`]: on local disk it sets the file's mtime (no
/// copy), elsewhere it writes the same bytes again (an overwrite is atomic
/// and the key names the content, so readers see no difference). This is
/// the contract gc relies on: a blob a writer is about to reference always
/// looks young.
///
/// # S3
///
/// [`ObjectBlobStore::s3`] (or `s3://bucket/prefix` through
/// [`open_blob_store_with`]) talks to AWS S3 or any S3-compatible server
/// (MinIO, Ceph RGW, moto) through `object_store`'s S3 client, with TLS by
/// rustls + ring. Put-if-absent is `PUT` with `If-None-Match: *`; large
/// files go up by multipart upload (8 MiB parts, one part in memory at a
/// time); reads are ranged `GET`s; [`BlobStore::presign_get`] gives a
/// SigV4 query-signed URL, computed locally.
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
    /// Presigns GETs where the backend can (S3).
    signer: Option<Arc<dyn Signer>>,
    /// Existing blobs older than this are refreshed by a put.
    refresh_after: Duration,
}

/// Settings of an S3 blob store beyond its `s3://bucket/prefix` URL.
///
/// Every value left unset here comes from the standard AWS environment,
/// read by `object_store`'s [`AmazonS3Builder::from_env`]:
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`,
/// `AWS_ALLOW_HTTP`, and the instance-metadata, ECS and web-identity
/// credential sources. Without credentials at all, requests go unsigned
/// (public buckets only).
///
/// Secrets are redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`,
    /// `https://minio.example.org`); `None` for AWS. Requests are
    /// path-style (`{endpoint}/{bucket}/{key}`).
    pub endpoint: Option<String>,
    /// Region (default `us-east-1`; S3-compatible servers mostly ignore it,
    /// but it is part of every signature).
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow plain `http://` to an endpoint that is not on loopback.
    /// Loopback endpoints (`127.0.0.0/8`, `::1`, `localhost`) are always
    /// allowed; anything else needs this or `AWS_ALLOW_HTTP=true`, because
    /// the requests carry the credentials' signatures and the blobs.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// Is `host` (of a URL) a loopback address or `localhost`?
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Where a local store stages writes, relative to its root:
/// `{pid}-{random}.part` files, moved into place when complete.
const LOCAL_STAGING: &str = ".staging";

/// A random 64-bit number for staging names (no extra dependency: the
/// std hasher is randomly keyed per process, mixed with a counter and the
/// time).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// Removes staging files whose writing process is gone. Files of live
/// processes (a CLI next to the server on the same directory) are kept.
fn sweep_local_staging(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_suffix(".part")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
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
        let staging = root.join(LOCAL_STAGING);
        std::fs::create_dir_all(&staging).map_err(|source| StoreError::Io {
            path: staging.clone(),
            source,
        })?;
        if let Err(e) = sweep_local_staging(&staging) {
            tracing::warn!(dir = %staging.display(), error = %e, "sweeping stale blob staging files failed");
        }
        Ok(store)
    }

    /// Hard-links a complete, fsynced staging file to the blob's key (a
    /// second writer of the digest finds the key taken: exactly one
    /// `Created`), fsyncs the directory and removes the staging name.
    async fn link_staged(
        &self,
        dir: &Path,
        digest: &Sha256,
        staged: std::path::PathBuf,
    ) -> Result<PutOutcome, BlobError> {
        let key = self.key(digest);
        let dst = dir.join(key.as_ref());
        let src = staged.clone();
        let linked = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            let parent = dst.parent().expect("a blob key has a parent");
            std::fs::create_dir_all(parent)?;
            let created = match std::fs::hard_link(&src, &dst) {
                Ok(()) => {
                    std::fs::File::open(parent)?.sync_all()?;
                    true
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(e),
            };
            std::fs::remove_file(&src)?;
            Ok(created)
        })
        .await
        .map_err(|e| BlobError::Backend(format!("blob link task failed: {e}")))?;
        match linked {
            Ok(true) => Ok(PutOutcome::Created),
            Ok(false) => {
                // Refresh on reuse; the key exists, so no rewrite is needed.
                self.refresh(&key, || async { Ok(()) }).await?;
                Ok(PutOutcome::Existed)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&staged).await;
                Err(e.into())
            }
        }
    }

    /// Writes `bytes` to a fresh staging file of this process under the
    /// local store's staging dir, fsynced; the caller moves it into place.
    async fn stage_local(&self, dir: &Path, bytes: Bytes) -> Result<std::path::PathBuf, BlobError> {
        let path = dir.join(LOCAL_STAGING).join(format!(
            "{}-{:016x}.part",
            std::process::id(),
            rand_u64()
        ));
        let p = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create_new(&p)?;
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .await
        .map_err(|e| BlobError::Backend(format!("blob staging task failed: {e}")))??;
        Ok(path)
    }

    /// A store in the S3 bucket `bucket`, every key under `prefix` (`""`
    /// for none). See [`S3Options`] for where the endpoint, region and
    /// credentials come from. Nothing is sent until the first request, so
    /// a wrong endpoint or missing bucket shows up as a
    /// [`BlobError::Backend`] of the first call.
    ///
    /// Errors: [`StoreError::InvalidUrl`] for a malformed endpoint or plain
    /// `http://` to a host that is not loopback without `allow_http`;
    /// [`StoreError::ObjectStore`] if the S3 client refuses its settings.
    pub fn s3(bucket: &str, prefix: &str, opts: &S3Options) -> Result<Self, StoreError> {
        // reqwest is built without a default TLS provider (no aws-lc
        // here): use ring, process-wide. A provider installed earlier stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &opts.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &opts.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &opts.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &opts.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &opts.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
            let invalid = |reason: String| StoreError::InvalidUrl {
                url: endpoint.clone(),
                reason,
            };
            let parsed = url::Url::parse(&endpoint)
                .map_err(|e| invalid(format!("S3 endpoint is not a URL: {e}")))?;
            let host = parsed
                .host()
                .ok_or_else(|| invalid("S3 endpoint has no host".into()))?;
            match parsed.scheme() {
                "https" => {}
                "http" if opts.allow_http || is_loopback_host(&host) => {
                    builder = builder.with_allow_http(true);
                }
                "http" if env_true("AWS_ALLOW_HTTP") => {}
                "http" => {
                    return Err(invalid(
                        "plain http:// to a host that is not loopback sends blobs unencrypted; \
                         use https://, or allow it explicitly (s3_allow_http = true in the \
                         configuration, or AWS_ALLOW_HTTP=true)"
                            .into(),
                    ));
                }
                other => {
                    return Err(invalid(format!(
                        "S3 endpoint scheme must be http or https, not {other:?}"
                    )));
                }
            }
        }
        let s3 = Arc::new(builder.build()?);
        let mut store = Self::new(Arc::clone(&s3) as Arc<dyn ObjectStore>, prefix);
        store.signer = Some(s3);
        Ok(store)
    }

    /// Sets how old a blob a put finds already stored must be before the put
    /// refreshes it (default [`REFRESH_AFTER`]; see "Refresh on reuse"). A
    /// window longer than [`REFRESH_AFTER`] would break the [`BlobStore`]
    /// contract and is capped at it.
    pub fn with_refresh_after(mut self, window: Duration) -> Self {
        self.refresh_after = window.min(REFRESH_AFTER);
        self
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
            signer: None,
            refresh_after: REFRESH_AFTER,
        }
    }

    /// Is the blob described by `meta` old enough to need a refresh?
    fn needs_refresh(&self, meta: &ObjectMeta) -> bool {
        let age = now_secs().saturating_sub(meta.last_modified.timestamp());
        u64::try_from(age).unwrap_or(0) >= self.refresh_after.as_secs()
    }

    /// Refreshes the stored blob at `key` if it is older than the window:
    /// on local disk its mtime is set to now; elsewhere `rewrite` writes the
    /// same bytes again. A blob that vanished meanwhile (gc) is written
    /// again too.
    async fn refresh<F, Fut>(&self, key: &ObjPath, rewrite: F) -> Result<(), BlobError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), BlobError>>,
    {
        match self.store.head(key).await {
            Ok(meta) if !self.needs_refresh(&meta) => return Ok(()),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(backend(e)),
        }
        if let Some(dir) = &self.local_dir {
            let path = dir.join(key.as_ref());
            let touched = tokio::task::spawn_blocking(move || {
                std::fs::File::open(&path)?.set_modified(std::time::SystemTime::now())
            })
            .await
            .map_err(|e| BlobError::Backend(format!("blob touch task failed: {e}")))?;
            match touched {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::debug!(key = %key, "refreshing an existing blob a put reuses");
        rewrite().await
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

fn now_secs() -> i64 {
    Timestamp::now().0
}

fn env_true(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
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
        let window = self.refresh_after;
        let moved = tokio::task::spawn_blocking(move || -> std::io::Result<Option<PutOutcome>> {
            if let Ok(existing) = std::fs::File::open(&dst) {
                // Refresh on reuse: touch an old blob (see the type's docs).
                let age = existing
                    .metadata()?
                    .modified()?
                    .elapsed()
                    .unwrap_or_default();
                if age >= window {
                    existing.set_modified(std::time::SystemTime::now())?;
                }
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

    fn local_path(&self, digest: &Sha256) -> Option<std::path::PathBuf> {
        self.local_dir
            .as_ref()
            .map(|dir| dir.join(self.key(digest).as_ref()))
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
        if let Some(dir) = &self.local_dir {
            // Copy into this process's staging file, then move it into place.
            let staged = dir.join(LOCAL_STAGING).join(format!(
                "{}-{:016x}.part",
                std::process::id(),
                rand_u64()
            ));
            let (src, dst) = (path.to_path_buf(), staged.clone());
            let copied = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                std::fs::copy(&src, &dst)?;
                std::fs::File::open(&dst)?.sync_all()
            })
            .await
            .map_err(|e| BlobError::Backend(format!("blob copy task failed: {e}")))?;
            if let Err(e) = copied {
                let _ = tokio::fs::remove_file(&staged).await;
                return Err(e.into());
            }
            return self.link_staged(dir, digest, staged).await;
        }
        if meta.len() <= SINGLE_PUT_MAX {
            let data = tokio::fs::read(path).await?;
            return self.put_bytes(digest, Bytes::from(data)).await;
        }
        let key = self.key(digest);
        match self.store.head(&key).await {
            Ok(_) => {
                let len = meta.len();
                self.refresh(&key, || self.put_multipart_file(&key, path, len))
                    .await?;
                return Ok(PutOutcome::Existed);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(backend(e)),
        }
        self.put_multipart_file(&key, path, meta.len()).await?;
        Ok(PutOutcome::Created)
    }

    /// On local disk: staged in a file named after this process, then moved
    /// into place as [`BlobStore::put_file_moving`] does; a process killed
    /// mid-write leaves only its staging file, which the next store opened
    /// on the directory removes. Elsewhere: a create-only put.
    async fn put_bytes(&self, digest: &Sha256, bytes: Bytes) -> Result<PutOutcome, BlobError> {
        if let Some(dir) = &self.local_dir {
            let staged = self.stage_local(dir, bytes).await?;
            return self.link_staged(dir, digest, staged).await;
        }
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let key = self.key(digest);
        match self
            .store
            .put_opts(&key, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(_) => Ok(PutOutcome::Created),
            // S3-compatible stores answer a failed `If-None-Match: *` with
            // 412, which some report as a precondition failure.
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {
                self.refresh(&key, || async {
                    self.store
                        .put(&key, PutPayload::from(bytes))
                        .await
                        .map(drop)
                        .map_err(backend)
                })
                .await?;
                Ok(PutOutcome::Existed)
            }
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

    async fn stat(&self, digest: &Sha256) -> Result<Option<BlobInfo>, BlobError> {
        match self.store.head(&self.key(digest)).await {
            Ok(meta) => Ok(Some(BlobInfo {
                digest: *digest,
                size: meta.size,
                last_modified: Timestamp(meta.last_modified.timestamp()),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// A SigV4 query-signed `GET` URL on S3, computed locally (no request);
    /// `None` on local disk and in memory. The URL works for `ttl` (at most
    /// 7 days on S3) and reaches the blob store at the endpoint depot uses,
    /// so clients must be able to reach that endpoint.
    async fn presign_get(
        &self,
        digest: &Sha256,
        ttl: Duration,
    ) -> Result<Option<String>, BlobError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(object_store::signer::Method::GET, &self.key(digest), ttl)
            .await
            .map_err(backend)?;
        Ok(Some(url.to_string()))
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

/// Opens a blob store from a URL, with S3 settings from the environment
/// only ([`open_blob_store_with`] with default [`S3Options`]).
pub fn open_blob_store(url: &str) -> Result<Arc<dyn BlobStore>, StoreError> {
    open_blob_store_with(url, &S3Options::default())
}

/// Opens a blob store from a URL:
///
/// - `memory:` (or `memory://`): in memory;
/// - `file:///abs/dir`: local disk under that directory (created if
///   missing);
/// - a plain filesystem path (`/var/lib/depot/blobs`, `data/blobs`): the
///   same as `file://`;
/// - `s3://bucket` or `s3://bucket/prefix`: the S3 bucket, every key under
///   the prefix; endpoint, region and credentials from `s3` and the AWS
///   environment ([`S3Options`]).
///
/// Other schemes are [`StoreError::InvalidUrl`]. Azure and Google Cloud
/// Storage are `object_store` features (`azure-base`, `gcp-base`) away: see
/// docs/storage.md.
pub fn open_blob_store_with(url: &str, s3: &S3Options) -> Result<Arc<dyn BlobStore>, StoreError> {
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
        Some("s3") => {
            let (bucket, prefix) = parse_s3_url(url).map_err(|reason| invalid(&reason))?;
            Ok(Arc::new(ObjectBlobStore::s3(&bucket, &prefix, s3)?))
        }
        Some(_) => Err(invalid(
            "unsupported scheme (use s3://bucket/prefix, file:///dir, a plain path or memory:)",
        )),
    }
}

/// Bucket and prefix of `s3://bucket[/prefix]`.
pub(crate) fn parse_s3_url(url: &str) -> Result<(String, String), String> {
    const SHAPE: &str = "expected s3://bucket/prefix; the endpoint, region and credentials \
                         are set separately";
    let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let extra = parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.port().is_some();
    if extra {
        return Err(SHAPE.into());
    }
    let bucket = parsed.host_str().filter(|b| !b.is_empty()).ok_or(SHAPE)?;
    let prefix = percent_decode(parsed.path().trim_matches('/'))?;
    let bad_segment = |s: &str| s.is_empty() || s == "." || s == "..";
    if !prefix.is_empty() && prefix.split('/').any(bad_segment) {
        return Err(format!("invalid prefix {prefix:?}"));
    }
    Ok((bucket.to_string(), prefix))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad percent escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "prefix is not UTF-8".to_string())
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
    fn s3_urls() {
        let ok = |url: &str| parse_s3_url(url).unwrap();
        assert_eq!(ok("s3://bucket"), ("bucket".into(), String::new()));
        assert_eq!(ok("s3://bucket/"), ("bucket".into(), String::new()));
        assert_eq!(ok("s3://b-1/a/b/"), ("b-1".into(), "a/b".into()));
        assert_eq!(ok("s3://b/with%20space"), ("b".into(), "with space".into()));
        for bad in [
            "s3://b/a//c",
            "s3://b/p?region=x",
            "s3://b:9000/p",
            "s3://k:s@b/p",
            "s3:///p",
            "s3://b/%zz",
        ] {
            assert!(parse_s3_url(bad).is_err(), "{bad} accepted");
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
