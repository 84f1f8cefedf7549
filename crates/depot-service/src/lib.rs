//! depot-service: the use cases of depot (upload, remove, publish, serve the
//! published tree, rebuild, tokens), with no HTTP or SQL types.
//!
//! The flow of an upload (DESIGN.md §3): stream to a temp file while
//! hashing ([`staging`]); inspect it ([`inspect`]); put the blob if absent;
//! insert the package and its placements in one MetaStore transaction, which
//! bumps the repo revision; then wait until a publication at or past that
//! revision is the repo's published pointer ([`publish`]). Many uploads in a
//! burst share one publish.
//!
//! One file per use case: `repos` (create, list, delete), `upload` (one
//! file: stage, inspect, store, record, publish) and [`import`] (many files:
//! batches, one publish), `signatures` (pacman packagers' `.sig`),
//! `packages` (list, download, remove), `keys`, `tokens`, `rebuild`, `gc`,
//! [`images`]. Publishing is `publish` (the pointer) and `publisher` (the
//! engine and the `Publisher` trait every format implements: `apt`, `rpm`,
//! `pacman`, `apk`, `freebsd`); serving the published tree is `tree`. This
//! file holds only the service handle ([`Depot`]) and how it is opened.

mod apk;
mod apt;
pub mod auth;
mod cache;
mod chunks;
mod config;
mod download;
mod error;
mod freebsd;
mod gc;
pub mod images;
pub mod import;
mod inspect;
mod keys;
mod packages;
mod pacman;
mod publish;
mod publisher;
mod pypi;
mod rebuild;
mod recorder;
mod repos;
mod rpm;
mod signatures;
pub mod staging;
mod stores;
mod tokens;
mod tree;
mod upload;

pub use config::ServiceConfig;
pub use depot_store::{AppliedMigration, S3Options};
pub use error::ServiceError;
pub use upload::{PreparedUpload, UploadOptions, UploadOutcome};

pub use gc::GcReport;
pub use images::{ImageScope, ImageSpec};
pub use publisher::At;
pub use stores::{MigrationReport, StoreUrls, migrate, redact_url};

use bytes::Bytes;
use depot_core::blob::{BlobError, BlobStore};
use depot_core::meta::MetaStore;
use depot_core::sign::PgpSigner;
use depot_core::*;
use depot_sign::PgpKey;
use futures::stream::BoxStream;
use serde::Serialize;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

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
    /// When these bytes were published (the publication's or the package's
    /// time): `Last-Modified`, and what `If-Modified-Since` is compared with.
    pub last_modified: Option<Timestamp>,
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
    /// The same download, published at `at`.
    pub(crate) fn modified_at(self, at: Timestamp) -> Download {
        Download {
            last_modified: Some(at),
            ..self
        }
    }

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
    serving: cache::ServeCache,
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
        let signer = keys::load_or_create_key(meta.as_ref(), config.key_algorithm).await?;
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
                serving: cache::ServeCache::default(),
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
}
