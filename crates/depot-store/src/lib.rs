//! depot-store: the storage backends behind depot-core's two storage seams.
//!
//! - [`ObjectBlobStore`] implements [`depot_core::blob::BlobStore`] over any
//!   [`object_store::ObjectStore`]: local disk ([`ObjectBlobStore::local`]),
//!   memory ([`ObjectBlobStore::memory`]), S3 and S3-compatible servers
//!   ([`ObjectBlobStore::s3`]) and, through [`ObjectBlobStore::new`], any
//!   other object store. Blobs are
//!   content-addressed under `blobs/sha256/{first 2 hex}/{full hex}`.
//! - [`SqlMetaStore`] implements [`depot_core::meta::MetaStore`] over one
//!   [`sqlx::AnyPool`], on SQLite (single node, and several processes sharing
//!   one file) or PostgreSQL (many stateless nodes). The schema is created and
//!   upgraded by an embedded migration runner on connect.
//! - [`conformance`] holds both trait contracts as executable checks. Every
//!   backend runs them in this crate's tests; a new backend must pass them
//!   too.

mod blob;
pub mod conformance;
mod meta;

pub use blob::{ObjectBlobStore, S3Options, open_blob_store, open_blob_store_with};
pub use meta::{AppliedMigration, SqlMetaStore};

/// Errors from constructing a store (not from using one: those are
/// [`depot_core::blob::BlobError`] and [`depot_core::meta::MetaError`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The blob store URL is malformed or names an unsupported scheme.
    #[error("invalid blob store URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The local blob directory could not be created or opened.
    #[error("blob store directory {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The object store backend refused its configuration.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
}
