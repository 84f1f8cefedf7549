//! Publishing: moving a repo's published pointer to a publication that
//! renders its current revision.
//!
//! - One publish at a time per repo *in this process* (a tokio mutex); the
//!   task holding it publishes the newest revision, so every upload that
//!   committed before it read the revision is covered, and waiters behind
//!   the lock find their revision already published (coalescing).
//! - Across processes and nodes the MetaStore's compare-and-set decides: a
//!   publisher that lost the race re-reads and renders again on top of the
//!   winner. The pointer moves last, after every file is stored.
//! - So that nodes do not all render the same revision at once and throw
//!   away all renders but one, a publisher first takes the repo's
//!   publishing lease
//!   ([`depot_core::meta::MetaStore::lease_publishing`]): nodes take turns,
//!   and the next in line usually finds its revision already published.
//!   The lease only saves work; a publisher that waited [`LEASE_WAIT`] in
//!   vain publishes without it.

use crate::apt;
use crate::{Depot, ServiceError};
use depot_core::meta::MetaError;
use depot_core::{RepoId, RepoName, Revision, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A publisher losing this many compare-and-set races in a row gives up
/// (the repo is then being published by others, and the caller may retry).
const MAX_ATTEMPTS: usize = 64;

/// How long a publisher waits for the publishing lease held by another
/// process before it renders without it. Renders take milliseconds to a
/// few seconds (a full render of a large repo); a longer wait means the
/// holder is stuck, and waiting on would only delay this publish.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
pub struct Publisher {
    locks: Mutex<HashMap<RepoId, Arc<tokio::sync::Mutex<()>>>>,
    /// Repos with a background xz pass scheduled.
    xz_scheduled: Mutex<std::collections::HashSet<RepoId>>,
    /// When each repo's superseded publications were last pruned.
    pruned: Mutex<HashMap<RepoId, Timestamp>>,
}

/// Pruning is a write transaction; once a minute per repo is plenty.
const PRUNE_EVERY_SECS: i64 = 60;

impl Publisher {
    fn lock_for(&self, repo: RepoId) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("poisoned")
            .entry(repo)
            .or_default()
            .clone()
    }
}

impl Depot {
    /// Returns once the repo's published pointer renders `target` or a later
    /// revision, publishing if needed.
    pub(crate) async fn publish_until(
        &self,
        repo: &depot_core::Repo,
        target: Revision,
    ) -> Result<(), ServiceError> {
        if self.published_revision(repo.id).await? >= Some(target) {
            return Ok(());
        }
        let lock = self.inner.publisher.lock_for(repo.id);
        let _guard = lock.lock().await;
        self.publish_latest(&repo.name, target).await
    }

    async fn published_revision(&self, repo: RepoId) -> Result<Option<Revision>, ServiceError> {
        Ok(self
            .inner
            .meta
            .published_pointer(repo)
            .await?
            .map(|(_, rev)| rev))
    }

    /// Renders the repo's current revision and moves the pointer to it,
    /// retrying on top of whoever wins a race, unless the pointer already
    /// renders `target` (another publisher covered it meanwhile).
    async fn publish_latest(&self, name: &RepoName, target: Revision) -> Result<(), ServiceError> {
        let meta = self.inner.meta.as_ref();
        for _ in 0..MAX_ATTEMPTS {
            let repo = self.repo(name).await?;
            if self.published_revision(repo.id).await? >= Some(target) {
                return Ok(());
            }
            // Held until this attempt's commit; another node holding it is
            // most likely publishing our revision right now.
            let waited = std::time::Instant::now();
            let lease = meta.lease_publishing(repo.id, LEASE_WAIT).await?;
            if lease.is_none() {
                tracing::info!(repo = %name, "publishing lease still held by another process after {LEASE_WAIT:?}; publishing without it");
            }
            let waited = waited.elapsed();
            let repo = self.repo(name).await?;
            let pointer = meta.published_pointer(repo.id).await?;
            if pointer.is_some_and(|(_, rev)| rev >= target) {
                return Ok(());
            }
            let prev = match pointer {
                Some((id, _)) => Some(self.publication(id).await?),
                None => None,
            };
            let now = Timestamp::now();
            let started = std::time::Instant::now();
            // Read before any publisher reads its rows (see below).
            let high_water = meta.max_placement_id(repo.id).await?;
            let mut ctx = self.render_cx(now);
            let manifest = self
                .render_all(
                    &mut ctx,
                    &repo,
                    prev.as_ref().map(|p| &p.manifest),
                    high_water,
                )
                .await?;
            ctx.chunker.flush(&manifest).await?;
            let rendered = std::time::Instant::now();
            let expected = pointer.map(|p| p.0);
            let committed = self
                .commit(&repo, expected, repo.revision, manifest, now)
                .await?;
            drop(lease);
            tracing::trace!(
                repo = %name,
                lease_wait_us = waited.as_micros() as u64,
                render_us = (rendered - started).as_micros() as u64,
                commit_us = rendered.elapsed().as_micros() as u64,
                won = committed.is_some(),
                "publish timings"
            );
            if let Some(id) = committed {
                self.prune(&repo, now).await;
                tracing::debug!(repo = %name, publication = %id, revision = repo.revision.0, "published");
                self.schedule_xz(&repo);
                return Ok(());
            }
        }
        Err(ServiceError::Unavailable(format!(
            "repository '{name}' is being published by others; retry"
        )))
    }
}

impl Depot {
    /// Deletes the repo's publications that left their grace period, at most
    /// once a minute per repo. Failures are logged: the next prune retries.
    async fn prune(&self, repo: &depot_core::Repo, now: Timestamp) {
        {
            let mut pruned = self.inner.publisher.pruned.lock().expect("poisoned");
            match pruned.get(&repo.id) {
                Some(last) if now.0 - last.0 < PRUNE_EVERY_SECS => return,
                _ => {
                    pruned.insert(repo.id, now);
                }
            }
        }
        let grace = self.inner.config.publication_grace.as_secs() as i64;
        if let Err(e) = self
            .inner
            .meta
            .prune_publications(repo.id, Timestamp(now.0 - grace))
            .await
        {
            tracing::warn!(repo = %repo.name, error = %e, "pruning old publications failed");
        }
    }

    /// Moves the pointer from `expected` to a new publication of `manifest`
    /// (compare-and-set) and caches it. `None` when another publisher moved
    /// the pointer first: the caller renders again on top of it.
    async fn commit(
        &self,
        repo: &depot_core::Repo,
        expected: Option<depot_core::PublicationId>,
        revision: Revision,
        manifest: depot_core::Manifest,
        now: Timestamp,
    ) -> Result<Option<depot_core::PublicationId>, ServiceError> {
        match self
            .inner
            .meta
            .publish(repo.id, expected, revision, &manifest, now)
            .await
        {
            Ok(id) => {
                self.inner.publications.insert(depot_core::Publication {
                    id,
                    repo_id: repo.id,
                    revision,
                    created_at: now,
                    manifest,
                });
                Ok(Some(id))
            }
            Err(MetaError::PublishConflict { current }) => {
                tracing::debug!(repo = %repo.name, ?current, "publication pointer moved; rendering again");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes every repo whose published pointer is behind its revision:
    /// a process that died between recording a change and publishing it
    /// (the change was never acknowledged) leaves such a repo behind. The
    /// server runs this at start. Returns how many repos were published.
    pub async fn publish_pending(&self) -> Result<usize, ServiceError> {
        let mut published = 0;
        for repo in self.inner.meta.list_repos().await? {
            if self.published_revision(repo.id).await? < Some(repo.revision) {
                self.publish_until(&repo, repo.revision).await?;
                published += 1;
            }
        }
        Ok(published)
    }

    /// Schedules [`Depot::complete_indexes`] after the configured idle delay,
    /// once per repo at a time.
    pub(crate) fn schedule_xz(&self, repo: &depot_core::Repo) {
        let Some(delay) = self.inner.config.xz_delay else {
            return;
        };
        if !self
            .inner
            .publisher
            .xz_scheduled
            .lock()
            .expect("poisoned")
            .insert(repo.id)
        {
            return;
        }
        let depot = self.clone();
        let (id, name) = (repo.id, repo.name.clone());
        tokio::spawn(async move {
            // Wait until uploads pause: a burst would make the xz stale at once.
            let mut seen = depot.inner.meta.published_pointer(id).await.ok().flatten();
            loop {
                tokio::time::sleep(delay).await;
                let now = depot.inner.meta.published_pointer(id).await.ok().flatten();
                if now == seen {
                    break;
                }
                seen = now;
            }
            depot
                .inner
                .publisher
                .xz_scheduled
                .lock()
                .expect("poisoned")
                .remove(&id);
            if let Err(e) = depot.complete_indexes(&name).await {
                tracing::warn!(repo = %name, error = %e, "adding Packages.xz failed");
            }
        });
    }

    /// Adds the slow-to-compress files (`Packages.xz`) to the current
    /// publication by publishing it again with them, at the same revision.
    /// Runs in the background after publishes; the CLI calls it before it
    /// exits.
    ///
    /// Compressing takes seconds on a large repo, so it runs without the
    /// repo's publish lock: an upload arriving meanwhile publishes at once
    /// instead of waiting behind it. Only the commit takes the lock; it is
    /// a compare-and-set from the publication that was compressed, so if
    /// anything was published meanwhile, the pass is dropped (that publish
    /// scheduled a pass of its own).
    pub async fn complete_indexes(&self, name: &RepoName) -> Result<(), ServiceError> {
        let meta = self.inner.meta.as_ref();
        let repo = self.repo(name).await?;
        let Some((id, revision)) = meta.published_pointer(repo.id).await? else {
            return Ok(());
        };
        let prev = self.publication(id).await?;
        let now = Timestamp::now();
        let mut ctx = self.render_cx(now);
        let Some(manifest) = apt::add_xz(&mut ctx, &repo, &prev.manifest).await? else {
            return Ok(());
        };
        ctx.chunker.flush(&manifest).await?;
        // One attempt. If the pointer moved while we compressed (a publish
        // on this or another node), its publication lacks Packages.xz
        // again and its publisher scheduled a pass of its own (as serving a
        // Release without it does): compressing again here would only lose
        // to the next publish again while a burst goes on.
        let lock = self.inner.publisher.lock_for(repo.id);
        let _guard = lock.lock().await;
        if meta.published_pointer(repo.id).await?.map(|p| p.0) != Some(id) {
            tracing::debug!(repo = %name, "published meanwhile; dropping this Packages.xz pass");
            return Ok(());
        }
        if let Some(new) = self
            .commit(&repo, Some(id), revision, manifest, now)
            .await?
        {
            tracing::debug!(repo = %name, publication = %new, "published Packages.xz");
        }
        Ok(())
    }
}
