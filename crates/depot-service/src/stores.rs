//! Opening the service on storage named by URLs: the embedded default
//! (SQLite + local files in one data directory) or the scale-out setup
//! (PostgreSQL + S3) with the same code, plus the schema migrations
//! `depot migrate` runs.

use crate::{Depot, ServiceConfig, ServiceError};
use depot_core::blob::BlobStore;
use depot_store::{AppliedMigration, S3Options, SqlMetaStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a [`Depot`] keeps its metadata and blobs. Unset URLs fall back to
/// the data directory, so `StoreUrls::default()` is the embedded default.
///
/// Secrets (a password in the database URL, S3 keys) are redacted in
/// `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StoreUrls {
    /// `postgres://user@host/db`, `sqlite:///abs/depot.db`, or a plain path
    /// of an SQLite file. Default: `{data_dir}/depot.db`.
    pub meta: Option<String>,
    /// `s3://bucket/prefix`, `file:///dir`, a plain directory or `memory:`.
    /// Default: the data directory (blobs under `{data_dir}/blobs/sha256/`).
    pub blobs: Option<String>,
    /// Endpoint, region and credentials for `s3://` blob URLs.
    pub s3: S3Options,
}

impl std::fmt::Debug for StoreUrls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreUrls")
            .field("meta", &self.meta.as_deref().map(redact_url))
            .field("blobs", &self.blobs.as_deref().map(redact_url))
            .field("s3", &self.s3)
            .finish()
    }
}

/// `url` with the password of its userinfo replaced (`postgres://u:***@h/db`).
/// Anything that does not look like `scheme://user:pass@...` is returned
/// unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl StoreUrls {
    /// The MetaStore URL: the configured one, a plain path made an SQLite
    /// URL, or `{data_dir}/depot.db`.
    pub fn meta_url(&self, data_dir: &Path) -> String {
        match self.meta.as_deref() {
            None => sqlite_url(&data_dir.join("depot.db")),
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://") =>
            {
                url.to_string()
            }
            Some(url) if !url.contains("://") => sqlite_url(Path::new(url)),
            // Unknown schemes are refused by the store, with their name.
            Some(url) => url.to_string(),
        }
    }

    /// True when every store is in the data directory (no URL set).
    pub fn is_embedded(&self) -> bool {
        self.meta.is_none() && self.blobs.is_none()
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

impl Depot {
    /// Opens the service on the stores `urls` names, with `data_dir` for
    /// what stays local: upload staging (`{data_dir}/tmp`) and the defaults
    /// of unset URLs. With `StoreUrls::default()` this is
    /// [`Depot::open_data_dir`].
    pub async fn open_urls(
        data_dir: &Path,
        urls: &StoreUrls,
        mut config: ServiceConfig,
    ) -> Result<Depot, ServiceError> {
        let dir = prepare_data_dir(data_dir).await?;
        config.tmp_dir = dir.join("tmp");
        let meta = SqlMetaStore::connect(&urls.meta_url(&dir)).await?;
        let blobs: Arc<dyn BlobStore> = match &urls.blobs {
            // Rooted at the data directory, blobs land in
            // `{dir}/blobs/sha256/ab/ab..` (as in `open_data_dir`).
            None => Arc::new(depot_store::ObjectBlobStore::local(&dir).map_err(store_error)?),
            Some(url) => depot_store::open_blob_store_with(url, &urls.s3).map_err(store_error)?,
        };
        Depot::open(Arc::new(meta), blobs, config).await
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Applied by this call, in order; empty if the schema was current.
    pub applied: Vec<AppliedMigration>,
    /// The schema version the database is at now.
    pub version: i64,
}

/// Brings the MetaStore's schema up to date (`depot migrate`); safe while
/// other nodes run (migrations serialise on a database lock). Touches no
/// blobs and creates no signing key.
pub async fn migrate(data_dir: &Path, urls: &StoreUrls) -> Result<MigrationReport, ServiceError> {
    let dir = if urls.meta.is_none() {
        prepare_data_dir(data_dir).await?
    } else {
        data_dir.to_path_buf()
    };
    let meta = SqlMetaStore::connect(&urls.meta_url(&dir)).await?;
    use depot_core::meta::MetaStore;
    Ok(MigrationReport {
        backend: meta.backend(),
        applied: meta.applied_migrations().to_vec(),
        version: meta.schema_version(),
    })
}

async fn prepare_data_dir(dir: &Path) -> Result<PathBuf, ServiceError> {
    tokio::fs::create_dir_all(dir).await?;
    Ok(tokio::fs::canonicalize(dir).await?)
}

fn store_error(e: depot_store::StoreError) -> ServiceError {
    ServiceError::Internal(format!("opening the blob store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://depot:hunter2@db:5432/depot?sslmode=require"),
            "postgres://depot:***@db:5432/depot?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://depot@db/depot"),
            "postgres://depot@db/depot"
        );
        assert_eq!(redact_url("/var/lib/depot.db"), "/var/lib/depot.db");
        let urls = StoreUrls {
            meta: Some("postgres://u:s3cr3t@h/d".into()),
            blobs: Some("s3://b/p".into()),
            s3: S3Options {
                secret_access_key: Some("awssecret".into()),
                ..S3Options::default()
            },
        };
        let shown = format!("{urls:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("awssecret"),
            "{shown}"
        );
        assert!(shown.contains("s3://b/p"), "{shown}");
    }

    #[test]
    fn meta_urls() {
        let dir = Path::new("/data");
        let url = |meta: Option<&str>| {
            StoreUrls {
                meta: meta.map(str::to_string),
                ..StoreUrls::default()
            }
            .meta_url(dir)
        };
        assert_eq!(url(None), "sqlite:///data/depot.db");
        assert_eq!(url(Some("/srv/meta.db")), "sqlite:///srv/meta.db");
        assert_eq!(url(Some("sqlite::memory:")), "sqlite::memory:");
        assert_eq!(url(Some("postgres://h/d")), "postgres://h/d");
        assert_eq!(url(Some("mysql://h/d")), "mysql://h/d");
    }
}
