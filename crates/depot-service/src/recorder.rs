//! Group commit of single uploads.
//!
//! Every upload ends in one write transaction (the package row, its
//! placements, the revision bump), and a write transaction costs a sync to
//! disk. SQLite runs one at a time, so with many concurrent uploads each
//! waited for all the syncs queued before it (P3, 8 clients: recording took
//! 15 ms on average, 36 ms at p90, for a 3 ms sync).
//!
//! Uploads to one repo are therefore recorded in batches: the first upload
//! of an idle repo starts a drain task; uploads arriving while a batch is
//! being committed queue up and go into the next one, all in one
//! transaction through [`MetaStore::add_packages`], which checks and applies
//! each item exactly as [`MetaStore::add_package`] would and returns each
//! its own outcome and revision. A lone upload is a batch of one.
//!
//! - The drain runs in its own task, so an upload whose client goes away
//!   cannot cancel the batch of the others. (Its own item may still be
//!   recorded: it was never acknowledged, which is allowed.)
//! - If a whole batch fails, its items are retried one by one, so a
//!   failure caused by one item (or a passing one) reaches only the
//!   uploads it belongs to.

use depot_core::meta::{MetaError, MetaStore};
use depot_core::{AddOutcome, NewPackage, Placement, RepoId, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// At most this many uploads per transaction: the same bound as a bulk
/// import's batches.
const MAX_BATCH: usize = crate::import::BATCH;

type Reply = oneshot::Sender<Result<AddOutcome, MetaError>>;

struct Item {
    package: NewPackage,
    placement: Placement,
    reply: Reply,
}

#[derive(Default)]
pub(crate) struct Recorder {
    /// Uploads waiting per repo; a repo is in the map while its drain task
    /// runs.
    queues: Mutex<HashMap<RepoId, Vec<Item>>>,
}

impl Recorder {
    /// Records one upload (in a batch with whatever else is waiting) and
    /// returns its outcome.
    pub(crate) async fn add(
        self: &Arc<Self>,
        meta: &Arc<dyn MetaStore>,
        repo: RepoId,
        package: NewPackage,
        placement: Placement,
    ) -> Result<AddOutcome, MetaError> {
        let (reply, answer) = oneshot::channel();
        let item = Item {
            package,
            placement,
            reply,
        };
        let start = {
            let mut queues = self.queues.lock().expect("poisoned");
            match queues.get_mut(&repo) {
                Some(waiting) => {
                    waiting.push(item);
                    false
                }
                None => {
                    queues.insert(repo, vec![item]);
                    true
                }
            }
        };
        if start {
            tokio::spawn(self.clone().drain(meta.clone(), repo));
        }
        answer.await.unwrap_or_else(|_| {
            Err(MetaError::Unavailable(
                "the upload recorder stopped before answering".into(),
            ))
        })
    }

    /// Commits the repo's waiting uploads batch after batch until none is
    /// left.
    async fn drain(self: Arc<Self>, meta: Arc<dyn MetaStore>, repo: RepoId) {
        let _unwedge = Unwedge {
            recorder: &self,
            repo,
        };
        loop {
            let batch: Vec<Item> = {
                let mut queues = self.queues.lock().expect("poisoned");
                let Some(waiting) = queues.get_mut(&repo) else {
                    return;
                };
                if waiting.is_empty() {
                    queues.remove(&repo);
                    return;
                }
                let n = waiting.len().min(MAX_BATCH);
                waiting.drain(..n).collect()
            };
            commit(meta.as_ref(), repo, batch).await;
        }
    }
}

/// If a drain task panics, forgets its queue, so that the waiting uploads
/// get an error (their reply channels close) and the next upload starts a
/// new drain instead of queueing behind a dead one.
struct Unwedge<'a> {
    recorder: &'a Recorder,
    repo: RepoId,
}

impl Drop for Unwedge<'_> {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(mut queues) = self.recorder.queues.lock()
        {
            queues.remove(&self.repo);
        }
    }
}

async fn commit(meta: &dyn MetaStore, repo: RepoId, batch: Vec<Item>) {
    let now = Timestamp::now();
    if let [_] = batch.as_slice() {
        let item = batch.into_iter().next().expect("one item");
        let outcome = meta
            .add_package(
                repo,
                &item.package,
                std::slice::from_ref(&item.placement),
                now,
            )
            .await;
        let _ = item.reply.send(outcome);
        return;
    }
    let items: Vec<(NewPackage, Vec<Placement>)> = batch
        .iter()
        .map(|i| (i.package.clone(), vec![i.placement.clone()]))
        .collect();
    match meta.add_packages(repo, &items, now).await {
        Ok(outcomes) if outcomes.len() == batch.len() => {
            for (item, outcome) in batch.into_iter().zip(outcomes) {
                let _ = item.reply.send(outcome);
            }
        }
        whole => {
            tracing::debug!(
                batch = batch.len(),
                error = ?whole.err(),
                "recording a batch of uploads failed; recording them one by one"
            );
            for item in batch {
                let outcome = meta
                    .add_package(
                        repo,
                        &item.package,
                        std::slice::from_ref(&item.placement),
                        now,
                    )
                    .await;
                let _ = item.reply.send(outcome);
            }
        }
    }
}
