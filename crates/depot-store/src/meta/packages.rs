//! [`depot_core::meta::PackageStore`] for [`SqlMetaStore`]: Packages and placements: adding (one or a batch, each checked as a single upload), removing, listing, the rows publishers render.

use super::*;

#[async_trait::async_trait]
impl PackageStore for SqlMetaStore {
    async fn add_package(
        &self,
        repo: RepoId,
        pkg: &NewPackage,
        placements: &[Placement],
        now: Timestamp,
    ) -> Result<AddOutcome, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            let revision = self.lock_repo(&mut tx, repo).await?;
            let outcome = self
                .add_package_tx(&mut tx, repo, pkg, placements, now, revision)
                .await?;
            if outcome.changed {
                set_revision(&mut tx, repo, outcome.revision).await?;
            }
            Ok(outcome)
        }
        .await;
        self.finish_write(tx, result).await
    }

    /// One write transaction, the repo locked once. An item is refused by
    /// reads before any of it is written, so a refused item leaves nothing
    /// to roll back and needs no savepoint of its own (two statements less
    /// per item); an error while writing fails the whole call, as the
    /// trait allows for failures of the store.
    async fn add_packages(
        &self,
        repo: RepoId,
        items: &[(NewPackage, Vec<Placement>)],
        now: Timestamp,
    ) -> Result<Vec<Result<AddOutcome, MetaError>>, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            // Locked once: the lock holds until the transaction ends.
            let start = self.lock_repo(&mut tx, repo).await?;
            let mut revision = start;
            let mut out = Vec::with_capacity(items.len());
            for (pkg, placements) in items {
                // A refusal is found by reads alone, before anything of the
                // item is written, so it needs no savepoint; a failure while
                // writing fails the batch (the caller retries item by item).
                match self.check_package(&mut tx, repo, pkg, placements).await {
                    Ok(existing) => {
                        let outcome = self
                            .insert_package(&mut tx, repo, pkg, placements, now, revision, existing)
                            .await?;
                        revision = outcome.revision;
                        out.push(Ok(outcome));
                    }
                    Err(e @ (MetaError::Unavailable(_) | MetaError::Backend(_))) => return Err(e),
                    Err(e) => out.push(Err(e)),
                }
            }
            if revision != start {
                set_revision(&mut tx, repo, revision).await?;
            }
            Ok(out)
        }
        .await;
        self.finish_write(tx, result).await
    }

    /// Errors: `NotFound` if the repo does not exist.
    async fn remove_package(
        &self,
        repo: RepoId,
        filename: &FileName,
    ) -> Result<Option<Revision>, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            self.lock_repo(&mut tx, repo).await?;
            let deleted = sqlx::query("DELETE FROM packages WHERE repo_id = $1 AND filename = $2")
                .bind(repo.0)
                .bind(filename.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .rows_affected();
            if deleted == 0 {
                return Ok(None);
            }
            bump(&mut tx, repo, true).await.map(Some)
        }
        .await;
        self.finish_write(tx, result).await
    }

    async fn get_package(
        &self,
        repo: RepoId,
        filename: &FileName,
    ) -> Result<Option<Package>, MetaError> {
        let mut tx = self.read_tx().await?;
        let result = package_by_filename(&mut tx, repo, filename).await;
        finish(tx, result).await
    }

    async fn list_packages(&self, repo: RepoId) -> Result<Vec<Package>, MetaError> {
        let mut tx = self.read_tx().await?;
        let result = async {
            let mut packages: Vec<Package> =
                sqlx::query(select_packages!("WHERE repo_id = $1 ORDER BY filename"))
                    .bind(repo.0)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_sqlx)?
                    .iter()
                    .map(package_from_row)
                    .collect::<Result<_, _>>()?;
            let mut by_package: BTreeMap<i64, Vec<Placement>> = BTreeMap::new();
            for row in sqlx::query(
                "SELECT package_id, distribution, component FROM placements \
                 WHERE repo_id = $1 ORDER BY package_id, distribution, component",
            )
            .bind(repo.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
            {
                by_package
                    .entry(get(&row, "package_id")?)
                    .or_default()
                    .push(placement_from_row(&row)?);
            }
            for p in &mut packages {
                p.placements = by_package.remove(&p.id.0).unwrap_or_default();
            }
            Ok(packages)
        }
        .await;
        finish(tx, result).await
    }

    async fn package_page(
        &self,
        repo: RepoId,
        after: PackageId,
        limit: u32,
    ) -> Result<Vec<PackageRecord>, MetaError> {
        let mut tx = self.read_tx().await?;
        let result = async {
            // Keyset order on the primary key: each page is one range scan.
            let page: Vec<PackageRecord> = sqlx::query(select_packages!(
                "WHERE repo_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .bind(repo.0)
            .bind(after.0)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_sqlx)?
            .iter()
            .map(record_from_row)
            .collect::<Result<_, _>>()?;
            if page.is_empty() {
                sqlx::query("SELECT id FROM repos WHERE id = $1")
                    .bind(repo.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_sqlx)?
                    .ok_or_else(|| repo_not_found(repo))?;
            }
            Ok(page)
        }
        .await;
        finish(tx, result).await
    }

    /// Fails with `NotFound` (and changes nothing) if any update names a
    /// package that is not in `repo`.
    async fn update_packages(
        &self,
        repo: RepoId,
        updates: &[PackageUpdate],
    ) -> Result<Revision, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            self.lock_repo(&mut tx, repo).await?;
            for u in updates {
                let n = sqlx::query(
                    "UPDATE packages SET format = $3, name = $4, version = $5, arch = $6, \
                     index_entry = $7, fields_json = $8 WHERE id = $1 AND repo_id = $2",
                )
                .bind(u.id.0)
                .bind(repo.0)
                .bind(u.format.as_str())
                .bind(u.name.as_str())
                .bind(u.version.as_str())
                .bind(u.arch.as_str())
                .bind(u.index_entry.as_str())
                .bind(to_json(&u.fields, "package fields")?)
                .execute(&mut *tx)
                .await
                .map_err(map_sqlx)?
                .rows_affected();
                if n == 0 {
                    return Err(MetaError::NotFound(format!(
                        "package #{} in repository #{repo}",
                        u.id
                    )));
                }
            }
            bump(&mut tx, repo, true).await
        }
        .await;
        self.finish_write(tx, result).await
    }

    async fn max_placement_id(&self, repo: RepoId) -> Result<PlacementId, MetaError> {
        // One probe of `placements_by_repo_id` (repo_id, id).
        let row =
            sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM placements WHERE repo_id = $1")
                .bind(repo.0)
                .fetch_one(&self.pool)
                .await
                .map_err(map_sqlx)?;
        Ok(PlacementId(get(&row, "id")?))
    }

    async fn index_rows(
        &self,
        repo: RepoId,
        format: Format,
        after: PlacementId,
    ) -> Result<Vec<IndexRow>, MetaError> {
        sqlx::query(
            "SELECT pl.id AS placement_id, pl.package_id, pl.distribution, pl.component, \
                    p.name, p.version, p.arch, p.index_entry \
             FROM placements pl JOIN packages p ON p.id = pl.package_id \
             WHERE pl.repo_id = $1 AND pl.id > $2 AND p.format = $3 \
             ORDER BY pl.id",
        )
        // Planned at every call with the actual cursor, never as a cached
        // generic plan: one made while the tables were nearly empty (a new
        // installation, autovacuum not run yet) joins by scanning all of
        // `packages` for every placement, which made each publish of a
        // 2,000-package repo take seconds on PostgreSQL; and a cursor near
        // the end (a publish reading what is new) wants another plan than
        // a cursor of 0 (a full render).
        .persistent(false)
        .bind(repo.0)
        .bind(after.0)
        .bind(format.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?
        .iter()
        .map(|row| {
            Ok(IndexRow {
                placement_id: PlacementId(get(row, "placement_id")?),
                package_id: PackageId(get(row, "package_id")?),
                distribution: placement_name(&get::<String>(row, "distribution")?)?,
                component: placement_name(&get::<String>(row, "component")?)?,
                name: get(row, "name")?,
                version: get(row, "version")?,
                arch: get(row, "arch")?,
                index_entry: get(row, "index_entry")?,
            })
        })
        .collect()
    }
}
