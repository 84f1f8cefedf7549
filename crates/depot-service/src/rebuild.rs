//! `rebuild`: re-reads every stored package from its blob, writes the
//! records whose re-read differs and publishes everything afresh.
//!
//! The records are read a page at a time in id order, and the next page is
//! read while the current one is re-read. Packages whose blobs are local
//! files are re-read in place, a contiguous share of the page per core in
//! one blocking task each (no hop between threads per package); others
//! (S3) are fetched into staged copies a few at a time.

use crate::error::join_error;
use crate::inspect::Inspector;
use crate::pacman::PackageSig;
use crate::{Depot, RebuildReport, ServiceError, staging};
use depot_core::meta::{PackageRecord, PackageUpdate};
use depot_core::{Format, NewPackage, PackageId, RepoName};
use futures::{StreamExt as _, TryStreamExt as _};
use std::path::PathBuf;

/// Packages whose blobs are not local files, fetched and re-read at once.
const REMOTE_PARALLEL: usize = 4;

impl Depot {
    /// Drops all generated metadata of the repo: re-reads every stored
    /// package from its blob (checking its digest), replaces the parsed
    /// fields and index entries, and publishes everything afresh.
    ///
    /// Only records whose re-read differs are written (a rebuild after an
    /// upgrade that changed how a format is rendered rewrites them; one on
    /// an unchanged store writes none), but the publication is always
    /// rendered from scratch. A package that no longer reads fails the
    /// rebuild, naming the file, and nothing is written.
    pub async fn rebuild(&self, name: &RepoName) -> Result<RebuildReport, ServiceError> {
        let repo = self.repo(name).await?;
        let meta = &self.inner.meta;
        let mut changed = Vec::new();
        let mut packages = 0;
        let limit = self.inner.config.rebuild_page.max(1);
        let mut page = meta.package_page(repo.id, PackageId(0), limit).await?;
        while let Some(last) = page.last().map(|r| r.id) {
            let more = page.len() == limit as usize;
            packages += page.len();
            let (updates, next) = tokio::join!(self.reread_page(page), async {
                match more {
                    true => meta.package_page(repo.id, last, limit).await,
                    false => Ok(Vec::new()),
                }
            });
            changed.extend(updates?);
            page = next?;
        }
        let revision = meta.update_packages(repo.id, &changed).await?;
        self.publish_until(&repo, revision).await?;
        Ok(RebuildReport { packages, revision })
    }

    /// The updates for the records of `page` whose re-read differs.
    async fn reread_page(
        &self,
        page: Vec<PackageRecord>,
    ) -> Result<Vec<PackageUpdate>, ServiceError> {
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        for r in page {
            match self.inner.blobs.local_path(&r.hashes.sha256) {
                Some(path) => local.push((path, r)),
                None => remote.push(r),
            }
        }
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let share = local.len().div_ceil(workers).max(1);
        let mut tasks = Vec::new();
        while !local.is_empty() {
            let rest = local.split_off(share.min(local.len()));
            let mine = std::mem::replace(&mut local, rest);
            let inspector = self.inspector();
            tasks.push(tokio::task::spawn_blocking(move || {
                let mut updates = Vec::new();
                for (path, r) in mine {
                    updates.extend(reread_local(&inspector, path, &r)?);
                }
                Ok::<_, ServiceError>(updates)
            }));
        }
        let remote = futures::stream::iter(remote)
            .map(|r| self.reread_remote(r))
            .buffer_unordered(REMOTE_PARALLEL)
            .try_filter_map(|u| async move { Ok(u) })
            .try_collect::<Vec<_>>();
        let (local, updates) = tokio::join!(futures::future::try_join_all(tasks), remote);
        let mut updates = updates?;
        for share in local.map_err(join_error)? {
            updates.extend(share?);
        }
        Ok(updates)
    }

    /// Re-reads a package whose blob is not a local file through a staged
    /// copy, checking its digest.
    async fn reread_remote(&self, r: PackageRecord) -> Result<Option<PackageUpdate>, ServiceError> {
        let read = self.inner.blobs.get(&r.hashes.sha256, None).await?;
        let body = tokio_util::io::StreamReader::new(
            read.stream
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        let staged = staging::stage(&self.inner.config.tmp_dir, body, u64::MAX).await?;
        if staged.hashes.sha256 != r.hashes.sha256 {
            return Err(ServiceError::Internal(format!(
                "blob of {} does not match its digest (store corrupted?)",
                r.filename
            )));
        }
        let inspected = self
            .inspect(
                &staged,
                r.filename.clone(),
                r.created_at,
                kept_signature(&r)?,
            )
            .await;
        changes(&r, inspected)
    }
}

/// Re-reads a package whose blob is the local file `path`, in place
/// (hashing and parsing on the calling thread).
fn reread_local(
    inspector: &Inspector,
    path: PathBuf,
    r: &PackageRecord,
) -> Result<Option<PackageUpdate>, ServiceError> {
    let inspected = staging::Staged::in_place(path, r.hashes.clone()).and_then(|staged| {
        let format = inspector.detect(&staged.head, r.filename.as_str());
        inspector.inspect_file(
            staged.path(),
            format,
            staged.size,
            staged.hashes.clone(),
            r.filename.clone(),
            r.created_at,
            kept_signature(r)?,
        )
    });
    changes(r, inspected)
}

/// What a re-read keeps from the stored record: a pacman package's
/// signature is not in its file.
fn kept_signature(r: &PackageRecord) -> Result<Option<PackageSig>, ServiceError> {
    if r.format != Format::Pacman {
        return Ok(None);
    }
    let fields: serde_json::Value = serde_json::from_str(&r.fields_json).map_err(|e| {
        ServiceError::Internal(format!("stored fields of {} are not JSON: {e}", r.filename))
    })?;
    Ok(PackageSig::of_fields(&fields))
}

/// The update that makes `r` what the re-read found, or `None` when they
/// agree. A refused re-read names the file.
fn changes(
    r: &PackageRecord,
    inspected: Result<NewPackage, ServiceError>,
) -> Result<Option<PackageUpdate>, ServiceError> {
    let new = inspected.map_err(|e| match e {
        ServiceError::BadPackage(msg) => ServiceError::BadPackage(format!("{}: {msg}", r.filename)),
        e => e,
    })?;
    // Compared as the text the store keeps, so no record is parsed.
    let fields_json = serde_json::to_string(&new.fields)
        .map_err(|e| ServiceError::Internal(format!("fields of {}: {e}", r.filename)))?;
    let unchanged = new.format == r.format
        && new.name == r.name
        && new.version == r.version
        && new.arch == r.arch
        && new.index_entry == r.index_entry
        && fields_json == r.fields_json;
    Ok((!unchanged).then_some(PackageUpdate {
        id: r.id,
        format: new.format,
        name: new.name,
        version: new.version,
        arch: new.arch,
        index_entry: new.index_entry,
        fields: new.fields,
    }))
}
