//! Many files into one repository at once: prepare each (stage, hash,
//! inspect, store its blob) as it comes, record them in batches of
//! [`BATCH`] (one transaction each, each file checked as a single upload
//! would be), and publish once at the end, as `reprepro includedeb` does.
//! A multipart upload with several files ([`Depot::batch`]) and the CLI's
//! bulk add of local files ([`Depot::import_files`]) are both this.
//!
//! Durability is that of a single upload: a file's blob is synced before
//! its row commits, and a result is reported only once its batch has
//! committed.

use crate::{Depot, PreparedUpload, ServiceError, UploadOptions, UploadOutcome};
use depot_core::{FileName, Repo, RepoName};
use futures::stream::{self, BoxStream, StreamExt};
use std::path::PathBuf;

/// Most packages recorded in one transaction.
pub const BATCH: usize = 256;

/// Local files prepared at once: hashing, decompression and fsync of one
/// overlap the others'.
const PREPARE_CONCURRENCY: usize = 8;

/// Uploads of one repository gathered into batches: [`Batch::add`] each
/// prepared (or refused) file in order, then [`Batch::finish`].
pub struct Batch<'a> {
    depot: &'a Depot,
    repo: RepoName,
    pending: Vec<(usize, PreparedUpload)>,
    results: Vec<Option<Result<UploadOutcome, ServiceError>>>,
}

impl Depot {
    /// A batch of uploads to `repo` (see the module doc).
    pub fn batch(&self, repo: &RepoName) -> Batch<'_> {
        Batch {
            depot: self,
            repo: repo.clone(),
            pending: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Imports local files into `repo`: each `(name, path)` is prepared
    /// while others are (up to eight at once), recorded in batches, and its
    /// result streams back, in input order, once its batch has committed. A
    /// refused file (an item that is already an error, unreadable,
    /// malformed, a conflict) gets its error in its place and does not stop
    /// the others. Nothing is published: call [`Depot::publish`] once at
    /// the end.
    pub fn import_files(
        &self,
        repo: Repo,
        files: Vec<Result<(FileName, PathBuf), ServiceError>>,
        opts: UploadOptions,
    ) -> BoxStream<'static, Result<UploadOutcome, ServiceError>> {
        let depot = self.clone();
        let (repo2, opts2) = (repo.clone(), opts.clone());
        let prepare = move |item: Result<(FileName, PathBuf), ServiceError>| {
            // Each prepare is a task of its own: a future merely buffered
            // here would be suspended holding a pooled database connection
            // while a batch waits for one.
            let (depot, repo, opts) = (depot.clone(), repo2.clone(), opts2.clone());
            let task = tokio::spawn(async move {
                let (name, path) = item?;
                depot.prepare_upload_file(&repo, &name, &path, &opts).await
            });
            async move {
                task.await
                    .unwrap_or_else(|e| Err(ServiceError::Internal(e.to_string())))
            }
        };
        let depot = self.clone();
        stream::iter(files)
            .map(prepare)
            .buffered(PREPARE_CONCURRENCY)
            .ready_chunks(BATCH)
            .then(move |chunk| {
                let (depot, repo) = (depot.clone(), repo.name.clone());
                async move {
                    let mut batch = depot.batch(&repo);
                    for prepared in chunk {
                        batch.add(prepared).await;
                    }
                    batch.record_all().await
                }
            })
            .flat_map(stream::iter)
            .boxed()
    }
}

impl Batch<'_> {
    /// Adds the next file: prepared, or refused before it could be. Records
    /// the pending files once [`BATCH`] are waiting.
    pub async fn add(&mut self, prepared: Result<PreparedUpload, ServiceError>) {
        let slot = self.results.len();
        match prepared {
            Ok(p) => {
                self.results.push(None);
                self.pending.push((slot, p));
            }
            Err(e) => self.results.push(Some(Err(e))),
        }
        if self.pending.len() >= BATCH {
            self.record().await;
        }
    }

    /// Records what is pending, in one transaction.
    async fn record(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let (slots, batch): (Vec<usize>, Vec<PreparedUpload>) =
            std::mem::take(&mut self.pending).into_iter().unzip();
        match self.depot.record_batch(batch).await {
            Ok(results) => {
                for (slot, r) in slots.into_iter().zip(results) {
                    self.results[slot] = Some(r);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for slot in slots {
                    self.results[slot] = Some(Err(ServiceError::Internal(format!(
                        "recording the batch failed: {msg}"
                    ))));
                }
            }
        }
    }

    /// Records what is pending and returns every file's result, in order.
    async fn record_all(mut self) -> Vec<Result<UploadOutcome, ServiceError>> {
        self.record().await;
        self.results
            .into_iter()
            .map(|r| r.expect("every file has a result once recorded"))
            .collect()
    }

    /// Records what is pending, publishes once if anything was recorded
    /// (returning when the published indexes include it), and returns every
    /// file's result in order.
    pub async fn finish(self) -> Result<Vec<Result<UploadOutcome, ServiceError>>, ServiceError> {
        let (depot, repo) = (self.depot, self.repo.clone());
        let results = self.record_all().await;
        if results.iter().any(Result::is_ok) {
            depot.publish(&repo).await?;
        }
        Ok(results)
    }
}
