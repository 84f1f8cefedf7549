//! depot-service: the use cases of depot (upload, remove, publish, serve the
//! published tree, rebuild, tokens), with no HTTP or SQL types.
//!
//! The flow of an upload (DESIGN.md §3): stream to a temp file while
//! hashing ([`staging`]); inspect it ([`inspect`]); put the blob if absent;
//! insert the package and its placements in one MetaStore transaction, which
//! bumps the repo revision; then wait until a publication at or past that
//! revision is the repo's published pointer ([`publish`]). Many uploads in a
//! burst share one publish.

mod apk;
mod apt;
pub mod auth;
mod chunks;
mod download;
mod error;
mod freebsd;
mod gc;
pub mod images;
mod inspect;
mod pacman;
mod publish;
mod publisher;
mod pypi;
mod rebuild;
mod recorder;
mod rpm;
pub mod staging;
mod stores;
mod tree;

pub use depot_store::{AppliedMigration, S3Options};
pub use error::ServiceError;

pub use gc::GcReport;
pub use images::{ImageScope, ImageSpec};
pub use publisher::At;
pub use stores::{MigrationReport, StoreUrls, migrate, redact_url};

use bytes::Bytes;
use depot_core::blob::{BlobError, BlobStore};
use depot_core::meta::MetaStore;
use depot_core::sign::PgpSigner;
use depot_core::*;
use depot_sign::{KeyAlgorithm, PgpKey};
use futures::stream::BoxStream;
use rand::RngCore;
use serde::Serialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncRead;

/// Name of the server-wide signing key in the MetaStore.
const SERVER_KEY: &str = "server";
/// Name of the server-wide RSA key (apk, FreeBSD pkg) in the MetaStore.
const SERVER_RSA_KEY: &str = "server-rsa";

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where uploads are staged. [`Depot::open_data_dir`] sets `{dir}/tmp`.
    pub tmp_dir: PathBuf,
    /// Largest accepted upload.
    pub max_upload_bytes: u64,
    /// How long superseded publications stay readable (clients mid-update
    /// fetch by-hash files of the Release they already have).
    pub publication_grace: Duration,
    /// Algorithm of the server signing key generated on first start.
    pub key_algorithm: KeyAlgorithm,
    /// The package formats uploads are read as, each with its limits
    /// (every built-in format with default limits; replace one with
    /// `FormatRegistry::default().with(apk::Apk::new(limits))`).
    pub formats: depot_formats::FormatRegistry,
    /// Size of the RSA key generated the first time an Alpine or FreeBSD
    /// index is rendered (4096; tests use 2048, which is faster to make).
    pub rsa_key_bits: usize,
    /// `Origin:` of Release files.
    pub origin: String,
    /// How long a repo must be idle before `Packages.xz` is added in a
    /// background publication (`None`: only when [`Depot::complete_indexes`]
    /// is called).
    pub xz_delay: Option<Duration>,
    /// How image downloads are served: streamed, or redirected to the blob
    /// store where it can presign (see [`images`]).
    pub image_download: DownloadMode,
    /// Package records a rebuild reads from the MetaStore at once (1,024);
    /// the next page is read while one is re-read.
    pub rebuild_page: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            tmp_dir: std::env::temp_dir().join("depot"),
            max_upload_bytes: 2 << 30,
            publication_grace: Duration::from_secs(3600),
            key_algorithm: KeyAlgorithm::default(),
            formats: depot_formats::FormatRegistry::default(),
            rsa_key_bits: 4096,
            origin: "depot".to_string(),
            xz_delay: Some(Duration::from_secs(5)),
            image_download: DownloadMode::Proxy,
            rebuild_page: 1024,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub distribution: Option<PlacementName>,
    pub component: Option<PlacementName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadOutcome {
    pub package: Package,
    /// False when the identical file was already stored.
    pub created: bool,
}

/// An upload staged, inspected and stored as a blob, not yet recorded
/// ([`Depot::prepare_upload`]).
#[derive(Debug, Clone)]
pub struct PreparedUpload {
    repo: Repo,
    item: Prepared,
}

#[derive(Debug, Clone)]
enum Prepared {
    Package {
        package: Box<NewPackage>,
        placement: Placement,
    },
    /// A packager's `{target}.sig` for a pacman package (see
    /// [`Depot::attach_signature`]).
    Signature {
        filename: FileName,
        target: FileName,
        bytes: Vec<u8>,
    },
}

impl PreparedUpload {
    pub fn filename(&self) -> &FileName {
        match &self.item {
            Prepared::Package { package, .. } => &package.filename,
            Prepared::Signature { filename, .. } => filename,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub packages: usize,
    pub revision: Revision,
}

/// A file to send: a package or a file of the published tree.
pub struct Download {
    /// Size of the whole file.
    pub size: u64,
    /// The bytes in `stream`.
    pub range: Range<u64>,
    pub stream: BoxStream<'static, Result<Bytes, BlobError>>,
    /// A presigned URL of the blob store; answer with a redirect instead.
    pub redirect: Option<String>,
    /// Strong validator.
    pub etag: Option<String>,
    pub content_type: &'static str,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .field("range", &self.range)
            .field("redirect", &self.redirect)
            .field("content_type", &self.content_type)
            .finish()
    }
}

impl Download {
    /// Collects the stream (tests and small files only).
    pub async fn bytes(self) -> Result<Vec<u8>, BlobError> {
        use futures::TryStreamExt;
        let parts: Vec<Bytes> = self.stream.try_collect().await?;
        Ok(parts.concat())
    }
}

/// The service. Cheap to clone.
#[derive(Clone)]
pub struct Depot {
    inner: Arc<Inner>,
}

struct Inner {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    signer: PgpKey,
    config: ServiceConfig,
    publisher: publish::Publisher,
    recorder: Arc<recorder::Recorder>,
    chunks: chunks::ChunkCache,
    publications: tree::PublicationCache,
    /// Every format's publisher ([`publisher::publishers`]).
    publishers: Vec<Box<dyn publisher::DynPublisher>>,
    /// The server RSA key, loaded or made on first use ([`Depot::rsa_key`]).
    rsa: tokio::sync::OnceCell<depot_sign::RsaKey>,
}

impl Depot {
    /// Opens the service on the given stores: loads the server signing key
    /// (generating and storing it on first start) and sweeps upload temp
    /// files left by crashed processes.
    pub async fn open(
        meta: Arc<dyn MetaStore>,
        blobs: Arc<dyn BlobStore>,
        config: ServiceConfig,
    ) -> Result<Depot, ServiceError> {
        tokio::fs::create_dir_all(&config.tmp_dir).await?;
        let tmp = config.tmp_dir.clone();
        let swept = tokio::task::spawn_blocking(move || staging::sweep_stale(&tmp))
            .await
            .map_err(error::join_error)??;
        if swept > 0 {
            tracing::info!(swept, "removed upload temp files left by crashed processes");
        }
        let signer = load_or_create_key(meta.as_ref(), config.key_algorithm).await?;
        tracing::debug!(fingerprint = %signer.fingerprint(), "signing key loaded");
        Ok(Depot {
            inner: Arc::new(Inner {
                meta,
                blobs,
                signer,
                config,
                publisher: publish::Publisher::default(),
                recorder: Arc::default(),
                chunks: chunks::ChunkCache::default(),
                publications: tree::PublicationCache::default(),
                publishers: publisher::publishers(),
                rsa: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// Opens the embedded default on a data directory: SQLite at
    /// `{dir}/depot.db`, blobs under `{dir}/blobs/sha256/`, staging in `{dir}/tmp`.
    pub async fn open_data_dir(
        dir: &Path,
        mut config: ServiceConfig,
    ) -> Result<Depot, ServiceError> {
        tokio::fs::create_dir_all(dir).await?;
        let dir = tokio::fs::canonicalize(dir).await?;
        config.tmp_dir = dir.join("tmp");
        let url = format!("sqlite://{}", dir.join("depot.db").display());
        let meta = depot_store::SqlMetaStore::connect(&url).await?;
        // The store keys blobs as `blobs/sha256/..`: rooted at the data
        // directory, they land in `{dir}/blobs/sha256/ab/ab..`.
        let blobs = depot_store::ObjectBlobStore::local(&dir)
            .map_err(|e| ServiceError::Internal(format!("opening the blob store: {e}")))?;
        Depot::open(Arc::new(meta), Arc::new(blobs), config).await
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    pub fn meta(&self) -> &Arc<dyn MetaStore> {
        &self.inner.meta
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    // ---- repositories --------------------------------------------------------

    /// Creates a repository and publishes its (empty) default distribution,
    /// so clients can be pointed at it before the first upload.
    pub async fn create_repo(
        &self,
        name: &RepoName,
        settings: RepoSettings,
    ) -> Result<Repo, ServiceError> {
        let repo = self
            .inner
            .meta
            .create_repo(name, &settings, Timestamp::now())
            .await?;
        self.publish_until(&repo, repo.revision).await?;
        Ok(repo)
    }

    pub async fn list_repos(&self) -> Result<Vec<Repo>, ServiceError> {
        Ok(self.inner.meta.list_repos().await?)
    }

    pub async fn repo(&self, name: &RepoName) -> Result<Repo, ServiceError> {
        self.inner
            .meta
            .get_repo(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("repository '{name}'")))
    }

    /// Deletes the repo, its packages and its publications. Blobs no other
    /// repo references are left for gc.
    pub async fn delete_repo(&self, name: &RepoName) -> Result<(), ServiceError> {
        if self.inner.meta.delete_repo(name).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("repository '{name}'")))
        }
    }

    // ---- packages ------------------------------------------------------------

    /// Streams `body` to a temp file (hashing it, failing past the size
    /// limit), inspects it, stores it and returns once the repo's published
    /// indexes include it.
    pub async fn upload<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<UploadOutcome, ServiceError> {
        let (repo, outcome, revision) = self.record(repo, filename, body, opts).await?;
        let started = std::time::Instant::now();
        self.publish_until(&repo, revision).await?;
        tracing::trace!(
            repo = %repo.name,
            file = %filename,
            publish_us = started.elapsed().as_micros() as u64,
            "upload published"
        );
        Ok(outcome)
    }

    /// Returns once the repo's published indexes render every change
    /// recorded before the call.
    pub async fn publish(&self, repo: &RepoName) -> Result<(), ServiceError> {
        let repo = self.repo(repo).await?;
        self.publish_until(&repo, repo.revision).await
    }

    /// Stages, inspects, stores and records one upload. Returns the repo,
    /// the outcome and the revision that includes it.
    async fn record<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<(Repo, UploadOutcome, Revision), ServiceError> {
        let prepared = self.prepare_upload(repo, filename, body, opts).await?;
        let (package, placement) = match prepared.item {
            Prepared::Package { package, placement } => (*package, placement),
            Prepared::Signature {
                filename,
                target,
                bytes,
            } => {
                let (outcome, revision) = self
                    .attach_signature(&prepared.repo, &filename, &target, bytes)
                    .await?;
                return Ok((prepared.repo, outcome, revision));
            }
        };
        let started = std::time::Instant::now();
        // In one transaction with other uploads to the repo arriving
        // meanwhile (group commit; see recorder.rs).
        let outcome = self
            .inner
            .recorder
            .add(&self.inner.meta, prepared.repo.id, package, placement)
            .await?;
        tracing::trace!(
            repo = %prepared.repo.name,
            file = %filename,
            record_us = started.elapsed().as_micros() as u64,
            "upload recorded"
        );
        let revision = outcome.revision;
        let outcome = UploadOutcome {
            package: outcome.package,
            created: outcome.created,
        };
        Ok((prepared.repo, outcome, revision))
    }

    /// The first half of an upload: streams `body` to a temp file, inspects
    /// it and stores its blob. Nothing is recorded until
    /// [`Depot::record_batch`]; for bulk imports, where recording many
    /// packages in one transaction saves a sync to disk per package.
    ///
    /// A file named `{package}.sig`, where `{package}` is a pacman package
    /// file name, is that package's detached signature: it is kept in the
    /// package's record, not stored as a file (see
    /// [`Depot::attach_signature`]).
    pub async fn prepare_upload<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<PreparedUpload, ServiceError> {
        let repo = self.repo(repo).await?;
        if let Some(target) = pacman::signature_target(filename.as_str()) {
            let target = FileName::new(target)
                .map_err(|e| ServiceError::Invalid(format!("{filename}: {e}")))?;
            let staged = staging::stage(
                &self.inner.config.tmp_dir,
                body,
                depot_sign::MAX_DETACHED_BINARY as u64,
            )
            .await?;
            let bytes = tokio::fs::read(staged.path()).await?;
            return Ok(PreparedUpload {
                repo,
                item: Prepared::Signature {
                    filename: filename.clone(),
                    target,
                    bytes,
                },
            });
        }
        let placement = placement_for(&repo, opts);
        let staged = staging::stage(
            &self.inner.config.tmp_dir,
            body,
            self.inner.config.max_upload_bytes,
        )
        .await?;
        let t_staged = std::time::Instant::now();
        let digest = staged.hashes.sha256;
        let path = staged.path().to_path_buf();
        // Keep the staged file alive until the blob is stored.
        let package = self
            .inspect(&staged, filename.clone(), Timestamp::now(), None)
            .await?;
        let t_inspected = std::time::Instant::now();
        // The staged file becomes the blob (moved, not copied, on local disk).
        self.inner.blobs.put_file_moving(&digest, &path).await?;
        drop(staged);
        tracing::trace!(
            repo = %repo.name,
            file = %filename,
            inspect_us = (t_inspected - t_staged).as_micros() as u64,
            store_us = t_inspected.elapsed().as_micros() as u64,
            "upload prepared"
        );
        Ok(PreparedUpload {
            repo,
            item: Prepared::Package {
                package: Box::new(package),
                placement,
            },
        })
    }

    /// [`Depot::prepare_upload`] of a file on local disk, for bulk imports:
    /// `repo` is looked up once by the caller, and copying, hashing and
    /// parsing run in one blocking task instead of a hop to the blocking
    /// pool for every read and write.
    pub async fn prepare_upload_file(
        &self,
        repo: &Repo,
        filename: &FileName,
        path: &std::path::Path,
        opts: &UploadOptions,
    ) -> Result<PreparedUpload, ServiceError> {
        if pacman::signature_target(filename.as_str()).is_some() {
            let file = tokio::fs::File::open(path).await?;
            return self.prepare_upload(&repo.name, filename, file, opts).await;
        }
        let placement = placement_for(repo, opts);
        let inspector = self.inspector();
        let (tmp, limit) = (
            self.inner.config.tmp_dir.clone(),
            self.inner.config.max_upload_bytes,
        );
        let (src, name) = (path.to_path_buf(), filename.clone());
        let (staged, package) = tokio::task::spawn_blocking(move || {
            let staged = staging::stage_file_blocking(&tmp, &src, limit)?;
            let format = inspector.detect(&staged.head, name.as_str());
            let package = inspector.inspect_file(
                staged.path(),
                format,
                staged.size,
                staged.hashes.clone(),
                name,
                Timestamp::now(),
                None,
            )?;
            Ok::<_, ServiceError>((staged, package))
        })
        .await
        .map_err(error::join_error)??;
        // The staged file becomes the blob (moved, not copied, on local disk).
        self.inner
            .blobs
            .put_file_moving(&staged.hashes.sha256, staged.path())
            .await?;
        drop(staged);
        Ok(PreparedUpload {
            repo: repo.clone(),
            item: Prepared::Package {
                package: Box::new(package),
                placement,
            },
        })
    }

    /// Records prepared uploads of one repository in one transaction, each
    /// checked as a single upload would be: a refused one (e.g. a conflict)
    /// gets its error in its place and does not stop the others. Does not
    /// publish: call [`Depot::publish`].
    pub async fn record_batch(
        &self,
        batch: Vec<PreparedUpload>,
    ) -> Result<Vec<Result<UploadOutcome, ServiceError>>, ServiceError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let repo = first.repo.id;
        if batch.iter().any(|p| p.repo.id != repo) {
            return Err(ServiceError::Invalid(
                "a batch records uploads of one repository".into(),
            ));
        }
        let repo = first.repo.clone();
        let n = batch.len();
        let mut results: Vec<Option<Result<UploadOutcome, ServiceError>>> =
            (0..n).map(|_| None).collect();
        let mut positions = Vec::new();
        let mut items: Vec<(NewPackage, Vec<Placement>)> = Vec::new();
        let mut sigs = Vec::new();
        for (i, p) in batch.into_iter().enumerate() {
            match p.item {
                Prepared::Package { package, placement } => {
                    positions.push(i);
                    items.push((*package, vec![placement]));
                }
                Prepared::Signature {
                    filename,
                    target,
                    bytes,
                } => sigs.push((i, filename, target, bytes)),
            }
        }
        // A signature that came with its package goes into the package's
        // record before it is stored, so the publish is a plain append.
        let mut attach = Vec::new();
        for (i, filename, target, bytes) in sigs {
            if let Some((package, _)) = items
                .iter_mut()
                .find(|(p, _)| p.filename == target && p.format == Format::Pacman)
            {
                let sig = self
                    .check_signature(&package.hashes.sha256, &filename, bytes.clone())
                    .await;
                match sig.and_then(|sig| {
                    pacman::with_signature(
                        package.filename.as_str(),
                        package.size,
                        &package.hashes,
                        &package.index_entry,
                        &package.fields,
                        &sig,
                    )
                }) {
                    Ok((index_entry, fields)) => {
                        package.index_entry = index_entry;
                        package.fields = fields;
                    }
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                }
            }
            attach.push((i, filename, target, bytes));
        }
        let recorded = self
            .inner
            .meta
            .add_packages(repo.id, &items, Timestamp::now())
            .await?;
        for (i, r) in positions.into_iter().zip(recorded) {
            results[i] = Some(
                r.map(|o| UploadOutcome {
                    package: o.package,
                    created: o.created,
                })
                .map_err(ServiceError::from),
            );
        }
        // Then every signature is in its package's record (a no-op for
        // those put there above, unless the package was stored before).
        for (i, filename, target, bytes) in attach {
            results[i] = Some(
                self.attach_signature(&repo, &filename, &target, bytes)
                    .await
                    .map(|(outcome, _)| outcome),
            );
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect())
    }

    /// Records a packager's signature (`{target}.sig`, a detached binary
    /// OpenPGP signature) for the pacman package `target` already stored in
    /// `repo`, replacing the repository's own signature: it is checked
    /// against the package's bytes (see [`depot_sign::check_detached_binary`]),
    /// kept in the package's record and served as `%PGPSIG%` and
    /// `{target}.sig`. The same signature again changes nothing
    /// (`created: false`); another one where a packager's is recorded is a
    /// conflict. Returns the updated package and the revision to publish.
    pub async fn attach_signature(
        &self,
        repo: &Repo,
        sig_name: &FileName,
        target: &FileName,
        bytes: Vec<u8>,
    ) -> Result<(UploadOutcome, Revision), ServiceError> {
        let meta = self.inner.meta.as_ref();
        let package = meta.get_package(repo.id, target).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "package '{target}' in repository '{}' (upload {sig_name} with or after its package)",
                repo.name
            ))
        })?;
        if package.format != Format::Pacman {
            return Err(ServiceError::Invalid(format!(
                "{sig_name}: '{target}' is not a pacman package"
            )));
        }
        if let Some(current) = pacman::PackageSig::of_fields(&package.fields)
            && current.by == pacman::SignedBy::Packager
        {
            if current.bytes == bytes {
                let revision = self.repo(&repo.name).await?.revision;
                return Ok((
                    UploadOutcome {
                        package,
                        created: false,
                    },
                    revision,
                ));
            }
            return Err(ServiceError::Conflict(format!(
                "{target} already has a packager signature, with other content than                  {sig_name}; remove the package and upload it again with the new signature"
            )));
        }
        let sig = self
            .check_signature(&package.hashes.sha256, sig_name, bytes)
            .await?;
        let (index_entry, fields) = pacman::with_signature(
            package.filename.as_str(),
            package.size,
            &package.hashes,
            &package.index_entry,
            &package.fields,
            &sig,
        )?;
        let revision = meta
            .update_packages(
                repo.id,
                &[meta::PackageUpdate {
                    id: package.id,
                    format: package.format,
                    name: package.name.clone(),
                    version: package.version.clone(),
                    arch: package.arch.clone(),
                    index_entry,
                    fields,
                }],
            )
            .await?;
        let package = meta
            .get_package(repo.id, target)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("package '{target}'")))?;
        Ok((
            UploadOutcome {
                package,
                created: true,
            },
            revision,
        ))
    }

    /// Checks a packager's signature against the stored blob `digest`.
    async fn check_signature(
        &self,
        digest: &Sha256,
        sig_name: &FileName,
        bytes: Vec<u8>,
    ) -> Result<pacman::PackageSig, ServiceError> {
        let staged = self.stage_blob(digest).await?;
        let path = staged.path().to_path_buf();
        let name = sig_name.to_string();
        let sig = tokio::task::spawn_blocking(move || {
            pacman::check_packager_signature(&bytes, &path, &name)
        })
        .await
        .map_err(error::join_error)?;
        drop(staged);
        sig
    }

    /// Copies a stored blob to a staged temp file, checking its digest.
    async fn stage_blob(&self, digest: &Sha256) -> Result<staging::Staged, ServiceError> {
        let read = self.inner.blobs.get(digest, None).await?;
        let body =
            tokio_util::io::StreamReader::new(futures::TryStreamExt::map_err(read.stream, |e| {
                std::io::Error::other(e.to_string())
            }));
        let staged = staging::stage(&self.inner.config.tmp_dir, body, u64::MAX).await?;
        if staged.hashes.sha256 != *digest {
            return Err(ServiceError::Internal(format!(
                "blob {digest} does not match its digest (store corrupted?)"
            )));
        }
        Ok(staged)
    }

    /// The repo's packages, by format, then name, then newest version
    /// first (in each format's own version order: dpkg, rpm, vercmp,
    /// pkg), then file name.
    pub async fn list_packages(&self, repo: &RepoName) -> Result<Vec<Package>, ServiceError> {
        let repo = self.repo(repo).await?;
        let mut packages = self.inner.meta.list_packages(repo.id).await?;
        let formats = &self.inner.config.formats;
        packages.sort_by(|a, b| {
            (a.format, &a.name)
                .cmp(&(b.format, &b.name))
                .then_with(|| formats.compare_versions(a.format, &b.version, &a.version))
                .then_with(|| a.filename.cmp(&b.filename))
        });
        Ok(packages)
    }

    pub async fn package(
        &self,
        repo: &RepoName,
        filename: &FileName,
    ) -> Result<Package, ServiceError> {
        let r = self.repo(repo).await?;
        self.inner
            .meta
            .get_package(r.id, filename)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("package '{filename}' in repository '{repo}'"))
            })
    }

    pub async fn download(
        &self,
        repo: &RepoName,
        filename: &FileName,
        range: Option<Range<u64>>,
    ) -> Result<Download, ServiceError> {
        let r = self.repo(repo).await?;
        let p = self
            .inner
            .meta
            .get_package(r.id, filename)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("package '{filename}' in repository '{repo}'"))
            })?;
        let content_type = self.inner.config.formats.content_type(p.format);
        download::package(
            &self.inner.blobs,
            r.settings.download,
            &p.hashes.sha256,
            p.size,
            range,
            content_type,
        )
        .await
    }

    /// Removes a package from the repo and returns once the published
    /// indexes no longer list it.
    pub async fn remove(&self, repo: &RepoName, filename: &FileName) -> Result<(), ServiceError> {
        let r = self.repo(repo).await?;
        match self.inner.meta.remove_package(r.id, filename).await? {
            Some(revision) => self.publish_until(&r, revision).await,
            None => Err(ServiceError::NotFound(format!(
                "package '{filename}' in repository '{repo}'"
            ))),
        }
    }

    // ---- keys ------------------------------------------------------------------

    /// The server RSA key that signs Alpine and FreeBSD indexes: loaded
    /// from the MetaStore, or generated ([`ServiceConfig::rsa_key_bits`])
    /// and stored on first use, so repositories without such packages never
    /// pay for RSA key generation. Every node uses the first key stored.
    pub(crate) async fn rsa_key(&self) -> Result<depot_sign::RsaKey, ServiceError> {
        let meta = self.inner.meta.clone();
        let bits = self.inner.config.rsa_key_bits;
        self.inner
            .rsa
            .get_or_try_init(|| load_or_create_rsa_key(meta, bits))
            .await
            .cloned()
    }

    /// The RSA public key (PEM) that signs the repo's Alpine and FreeBSD
    /// indexes, and the file name apk users keep it under in
    /// `/etc/apk/keys/` (`depot-{8 hex}.rsa.pub`).
    pub async fn rsa_public_key(&self, repo: &RepoName) -> Result<(String, String), ServiceError> {
        self.repo(repo).await?;
        let key = self.rsa_key().await?;
        Ok((apk::key_name(&key), key.public_key_pem().to_string()))
    }

    /// The public key that signs the repo's indexes, ASCII-armored.
    pub async fn public_key_armored(&self, repo: &RepoName) -> Result<String, ServiceError> {
        self.repo(repo).await?;
        Ok(self.inner.signer.public_key_armored())
    }

    /// The signing key's fingerprint (uppercase hex).
    pub fn key_fingerprint(&self) -> String {
        self.inner.signer.fingerprint()
    }

    // ---- tokens --------------------------------------------------------------

    pub async fn authenticate(
        &self,
        bearer_secret: &str,
    ) -> Result<Option<TokenRecord>, ServiceError> {
        let hash = Sha256::of(bearer_secret.trim().as_bytes());
        Ok(self.inner.meta.find_token(&hash).await?)
    }

    /// Creates a token; the secret is returned once and only its hash is kept.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
    ) -> Result<(TokenRecord, String), ServiceError> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "token name must be 1 to 128 printable characters".into(),
            ));
        }
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = format!("depot_{}", depot_core::digest::hex(&raw));
        let rec = self
            .inner
            .meta
            .create_token(
                name,
                &Sha256::of(secret.as_bytes()),
                &scope,
                Timestamp::now(),
            )
            .await?;
        Ok((rec, secret))
    }

    /// On first start (no token exists at all) creates an admin token and
    /// returns its secret.
    pub async fn ensure_admin_token(&self) -> Result<Option<String>, ServiceError> {
        if self.inner.meta.count_tokens().await? > 0 {
            return Ok(None);
        }
        let (_, secret) = self.create_token("admin", TokenScope::Admin).await?;
        Ok(Some(secret))
    }
}

async fn load_or_create_rsa_key(
    meta: Arc<dyn MetaStore>,
    bits: usize,
) -> Result<depot_sign::RsaKey, ServiceError> {
    let pem = match meta.get_signing_key(SERVER_RSA_KEY).await? {
        Some(pem) => pem,
        None => {
            let fresh = tokio::task::spawn_blocking(move || depot_sign::RsaKey::generate(bits))
                .await
                .map_err(error::join_error)?
                .map_err(|e| ServiceError::Internal(format!("generating the RSA key: {e}")))?;
            tracing::info!(fingerprint = %fresh.fingerprint(), bits, "generated the server RSA key");
            // Another node may have stored one meanwhile; everyone uses the first.
            meta.insert_signing_key_if_absent(
                SERVER_RSA_KEY,
                &fresh.to_pkcs8_pem(),
                Timestamp::now(),
            )
            .await?
        }
    };
    depot_sign::RsaKey::from_pem(&pem)
        .map_err(|e| ServiceError::Internal(format!("the stored RSA key is unusable: {e}")))
}

async fn load_or_create_key(
    meta: &dyn MetaStore,
    algo: KeyAlgorithm,
) -> Result<PgpKey, ServiceError> {
    let armored = match meta.get_signing_key(SERVER_KEY).await? {
        Some(a) => a,
        None => {
            let fresh = tokio::task::spawn_blocking(move || {
                PgpKey::generate(algo, "depot repository signing key <depot@localhost>")
            })
            .await
            .map_err(error::join_error)?
            .map_err(|e| ServiceError::Internal(format!("generating the signing key: {e}")))?;
            tracing::info!(fingerprint = %fresh.fingerprint(), algorithm = %algo, "generated the server signing key");
            // Another node may have stored one meanwhile; everyone uses the first.
            meta.insert_signing_key_if_absent(
                SERVER_KEY,
                &fresh.to_armored_secret(),
                Timestamp::now(),
            )
            .await?
        }
    };
    PgpKey::from_armored_secret(&armored)
        .map_err(|e| ServiceError::Internal(format!("the stored signing key is unusable: {e}")))
}

/// Where an upload goes: the options, else the repo's defaults.
fn placement_for(repo: &Repo, opts: &UploadOptions) -> Placement {
    Placement {
        distribution: opts
            .distribution
            .clone()
            .unwrap_or_else(|| repo.settings.default_distribution.clone()),
        component: opts
            .component
            .clone()
            .unwrap_or_else(|| repo.settings.default_component.clone()),
    }
}
