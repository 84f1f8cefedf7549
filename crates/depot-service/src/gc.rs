//! Garbage collection of blobs (`depot gc`).
//!
//! A blob is deleted when **nothing references it and it is older than the
//! grace period**. References are every package row (its SHA-256), every
//! version of every image (current and history), and every
//! stored publication of every repository (the chunks of each file of its
//! manifest; also any digest that appears as a string in the publisher's
//! opaque manifest state, to be safe). Publications that left
//! [`ServiceConfig::publication_grace`](crate::ServiceConfig) are pruned
//! first, so blobs only they referenced become collectable.
//!
//! # Why it is safe while nodes upload and publish
//!
//! gc takes no lock; it relies on time:
//!
//! 1. it lists the blobs first and reads the references after, so a blob
//!    referenced by a row or publication committed before the listing is
//!    seen as referenced;
//! 2. a writer references only blobs it stored within its own operation:
//!    an upload puts the package blob, then commits the row; a publish puts
//!    its new chunks, then commits the publication (chunks it reuses belong
//!    to the publication it extends, which gc sees); an image upload or
//!    overwrite puts its blob, then commits the version; an image copy
//!    takes over the source's blob in the same transaction that reads it,
//!    so one of the two references it at every instant. A put that finds the
//!    digest already stored refreshes an old blob (the BlobStore's "refresh
//!    on reuse" contract), so in every case the blob is younger than the
//!    grace period when the reference is committed, as long as the grace
//!    period exceeds [`REFRESH_AFTER`](depot_core::blob::REFRESH_AFTER) plus the longest upload or publish;
//! 3. right before deleting a candidate, gc reads its `last_modified` once
//!    more ([`BlobStore::stat`]) and keeps it if a writer refreshed it since
//!    the listing.
//!
//! What remains is a put that refreshes a blob between gc's last `stat` and
//! its `delete` (one round trip to the store) and commits its reference
//! after gc read the references: the blob would then be missing. It needs a
//! re-upload of a long-orphaned file in that instant; run gc with a grace of
//! hours (the default is one) and it cannot hit anything newer.
//!
//! Multipart uploads a crashed process left unfinished on S3 are not
//! objects and not listed; expire them with a bucket lifecycle rule
//! (`AbortIncompleteMultipartUpload`), see docs/storage.md.

use crate::{Depot, ServiceError};
use depot_core::blob::BlobStore;
use depot_core::{Sha256, Timestamp};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// Deletions in flight at once.
const DELETE_CONCURRENCY: usize = 16;

/// What one gc run found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Blobs in the store when gc listed it, and their bytes.
    pub blobs: usize,
    pub bytes: u64,
    /// Of those, referenced by a package or a stored publication.
    pub referenced: usize,
    /// Unreferenced but younger than the grace period (kept; an upload or
    /// publish may be about to reference them).
    pub young: usize,
    /// Unreferenced and old at listing, but refreshed by a writer before gc
    /// got to them (kept).
    pub refreshed: usize,
    /// Deleted, and their bytes.
    pub deleted: usize,
    pub deleted_bytes: u64,
    /// Old publications pruned before collecting.
    pub publications_pruned: u64,
}

impl Depot {
    /// Deletes every blob no package and no stored publication references
    /// that is older than `grace`; see the [module docs](self) for why this
    /// is safe while other nodes upload and publish. While anything writes,
    /// `grace` must exceed [`REFRESH_AFTER`](depot_core::blob::REFRESH_AFTER) plus the longest upload; an
    /// hour is a good default.
    pub async fn gc(&self, grace: Duration) -> Result<GcReport, ServiceError> {
        self.gc_at(grace, Timestamp::now()).await
    }

    /// [`Depot::gc`] with the clock passed in (`now` decides which blobs and
    /// publications are old; tests move it forward instead of waiting).
    pub async fn gc_at(&self, grace: Duration, now: Timestamp) -> Result<GcReport, ServiceError> {
        let blobs = self.blobs().as_ref();
        let meta = self.meta().as_ref();
        let cutoff = Timestamp(now.0.saturating_sub(secs(grace)));
        let mut report = GcReport::default();

        // Old publications first, so what only they referenced goes now.
        let publication_cutoff =
            Timestamp(now.0.saturating_sub(secs(self.config().publication_grace)));
        for repo in meta.list_repos().await? {
            report.publications_pruned +=
                match meta.prune_publications(repo.id, publication_cutoff).await {
                    Ok(n) => n,
                    Err(depot_core::meta::MetaError::NotFound(_)) => 0, // deleted meanwhile
                    Err(e) => return Err(e.into()),
                };
        }

        // 1. List, then 2. read the references (in this order: see above).
        let listed = blobs.list().await?;
        report.blobs = listed.len();
        report.bytes = listed.iter().map(|b| b.size).sum();
        let referenced = self.referenced_digests().await?;

        let mut candidates = Vec::new();
        for blob in listed {
            if referenced.contains(&blob.digest) {
                report.referenced += 1;
            } else if blob.last_modified >= cutoff {
                report.young += 1;
            } else {
                candidates.push(blob);
            }
        }

        // 3. Re-check each candidate's age right before deleting it.
        let outcomes: Vec<Option<u64>> = futures::stream::iter(candidates)
            .map(|blob| async move { delete_if_still_old(blobs, &blob.digest, cutoff).await })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect()
            .await?;
        for outcome in outcomes {
            match outcome {
                Some(size) => {
                    report.deleted += 1;
                    report.deleted_bytes += size;
                }
                None => report.refreshed += 1,
            }
        }
        tracing::info!(
            blobs = report.blobs,
            referenced = report.referenced,
            young = report.young,
            refreshed = report.refreshed,
            deleted = report.deleted,
            deleted_bytes = report.deleted_bytes,
            "gc done"
        );
        Ok(report)
    }

    /// Every digest a package row, a stored publication or a version of an
    /// image references.
    async fn referenced_digests(&self) -> Result<HashSet<Sha256>, ServiceError> {
        let meta = self.meta().as_ref();
        let mut refs: HashSet<Sha256> = meta.image_blob_digests().await?.into_iter().collect();
        for repo in meta.list_repos().await? {
            for p in meta.list_packages(repo.id).await? {
                refs.insert(p.hashes.sha256);
            }
            // Every publication of the repo: since the beginning of time, no
            // limit. One statement, so the current pointer is included.
            for publication in meta
                .recent_publications(repo.id, Timestamp(i64::MIN), u32::MAX)
                .await?
            {
                for file in publication.manifest.files.values() {
                    refs.extend(file.chunks.iter().map(|c| c.digest));
                }
                digests_in_json(&publication.manifest.state, &mut refs);
            }
        }
        Ok(refs)
    }
}

/// Deletes the blob unless it is gone or was refreshed past `cutoff`.
/// `Some(size)` if deleted.
async fn delete_if_still_old(
    blobs: &dyn BlobStore,
    digest: &Sha256,
    cutoff: Timestamp,
) -> Result<Option<u64>, ServiceError> {
    match blobs.stat(digest).await? {
        Some(info) if info.last_modified < cutoff => {
            blobs.delete(digest).await?;
            Ok(Some(info.size))
        }
        _ => Ok(None),
    }
}

/// Every string in `value` that is a SHA-256 in hex.
fn digests_in_json(value: &serde_json::Value, out: &mut HashSet<Sha256>) {
    match value {
        serde_json::Value::String(s) if s.len() == 64 => {
            if let Some(d) = Sha256::parse(s) {
                out.insert(d);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| digests_in_json(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| digests_in_json(v, out)),
        _ => {}
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_found_anywhere_in_the_state() {
        let d = Sha256::of(b"x");
        let state = serde_json::json!({"apt": {"v": 1, "deep": [{"k": d.hex()}], "other": "x"}});
        let mut out = HashSet::new();
        digests_in_json(&state, &mut out);
        assert_eq!(out, HashSet::from([d]));
    }
}
