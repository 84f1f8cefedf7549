//! [`depot_core::meta::PublicationStore`] for [`SqlMetaStore`]: Publications, the published pointer (compare-and-set) and the publishing lease.

use super::*;

#[async_trait::async_trait]
impl PublicationStore for SqlMetaStore {
    /// Errors: `NotFound` if the repo does not exist.
    async fn published_pointer(
        &self,
        repo: RepoId,
    ) -> Result<Option<(PublicationId, Revision)>, MetaError> {
        let mut conn = self.pool.acquire().await.map_err(map_sqlx)?;
        current_pointer(&mut conn, repo).await
    }

    async fn get_publication(&self, id: PublicationId) -> Result<Option<Publication>, MetaError> {
        sqlx::query(
            "SELECT id, repo_id, revision, manifest_json, created_at FROM publications WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_sqlx)?
        .as_ref()
        .map(publication_from_row)
        .transpose()
    }

    /// Errors: `NotFound` if the repo does not exist; `PublishConflict`
    /// (nothing written) if the pointer is not `expected`.
    async fn publish(
        &self,
        repo: RepoId,
        expected: Option<PublicationId>,
        revision: Revision,
        manifest: &Manifest,
        now: Timestamp,
    ) -> Result<PublicationId, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = self
            .publish_tx(&mut tx, repo, expected, revision, manifest, now)
            .await;
        self.finish_write(tx, result).await
    }

    async fn recent_publications(
        &self,
        repo: RepoId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Publication>, MetaError> {
        sqlx::query(
            "SELECT id, repo_id, revision, manifest_json, created_at FROM publications \
             WHERE repo_id = $1 \
               AND (created_at >= $2 OR id = (SELECT publication_id FROM repos WHERE id = $1)) \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(repo.0)
        .bind(since.0)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?
        .iter()
        .map(publication_from_row)
        .collect()
    }

    /// Errors: `NotFound` if the repo does not exist.
    async fn prune_publications(&self, repo: RepoId, before: Timestamp) -> Result<u64, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            self.lock_repo(&mut tx, repo).await?;
            sqlx::query(
                "DELETE FROM publications WHERE repo_id = $1 AND created_at < $2 \
                 AND id <> COALESCE((SELECT publication_id FROM repos WHERE id = $1), 0)",
            )
            .bind(repo.0)
            .bind(before.0)
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected())
            .map_err(map_sqlx)
        }
        .await;
        self.finish_write(tx, result).await
    }

    /// PostgreSQL: a transaction-scoped advisory lock keyed by the repo id,
    /// held by a transaction kept open on its own pooled connection for as
    /// long as the lease lives (dropping it rolls back, which releases the
    /// lock; a dead process's session ends and releases it too). The wait
    /// is a blocking lock request under `lock_timeout`, in slices of at most
    /// [`LEASE_WAIT_SLICE`] (a longer statement would be logged as slow);
    /// `idle_in_transaction_session_timeout` frees a lease whose holder
    /// stopped talking to the database (a partitioned node) after
    /// [`LEASE_IDLE_LIMIT`]. SQLite: the trait's default (one writer
    /// process).
    async fn lease_publishing(
        &self,
        repo: RepoId,
        wait: Duration,
    ) -> Result<Option<PublishLease>, MetaError> {
        if self.backend != Backend::Postgres {
            return Ok(Some(PublishLease::unshared()));
        }
        let deadline = std::time::Instant::now() + wait;
        loop {
            let slice = deadline
                .saturating_duration_since(std::time::Instant::now())
                .min(LEASE_WAIT_SLICE);
            let mut tx = self.pool.begin().await.map_err(map_sqlx)?;
            let result = async {
                sqlx::query(
                    "SELECT set_config('lock_timeout', $1, true) AS a, \
                     set_config('idle_in_transaction_session_timeout', $2, true) AS b",
                )
                .bind(format!("{}ms", slice.as_millis().max(1)))
                .bind(format!("{}ms", LEASE_IDLE_LIMIT.as_millis()))
                .fetch_one(&mut *tx)
                .await?;
                // The two-key form: its lock space is apart from the bigint
                // key of the migration lock. Ids beyond 2^31 wrap, which can
                // only make two repos share a lease (harmless: advisory).
                sqlx::query("SELECT 1::BIGINT AS locked FROM pg_advisory_xact_lock($1, $2)")
                    .bind(PUBLISH_LEASE_CLASS)
                    .bind(repo.0 as i32)
                    .fetch_one(&mut *tx)
                    .await
            }
            .await;
            match result {
                Ok(_) => return Ok(Some(PublishLease::holding(tx))),
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55P03") => {
                    if let Err(e) = tx.rollback().await {
                        tracing::debug!(error = %e, "rolling back a lease wait that timed out");
                    }
                    if std::time::Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) => {
                    let _ = tx.rollback().await;
                    return Err(map_sqlx(e));
                }
            }
        }
    }
}
