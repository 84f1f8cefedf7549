//! [`depot_core::meta::RepoStore`] for [`SqlMetaStore`]: Repositories: rows, settings, revisions.

use super::*;

#[async_trait::async_trait]
impl RepoStore for SqlMetaStore {
    async fn create_repo(
        &self,
        name: &RepoName,
        settings: &RepoSettings,
        now: Timestamp,
    ) -> Result<Repo, MetaError> {
        let settings_json = to_json(settings, "repository settings")?;
        let mut tx = self.write_tx().await?;
        let result = sqlx::query(
            "INSERT INTO repos (name, settings_json, revision, removal_gen, created_at) \
             VALUES ($1, $2, 0, 0, $3) RETURNING id",
        )
        .bind(name.as_str())
        .bind(settings_json)
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                MetaError::AlreadyExists(format!("repository {name}"))
            } else {
                map_sqlx(e)
            }
        })
        .and_then(|row| {
            Ok(Repo {
                id: RepoId(get(&row, "id")?),
                name: name.clone(),
                settings: settings.clone(),
                revision: Revision(0),
                removal_gen: 0,
                created_at: now,
            })
        });
        self.finish_write(tx, result).await
    }

    async fn get_repo(&self, name: &RepoName) -> Result<Option<Repo>, MetaError> {
        sqlx::query("SELECT id, name, settings_json, revision, removal_gen, created_at FROM repos WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
            .as_ref()
            .map(repo_from_row)
            .transpose()
    }

    async fn list_repos(&self) -> Result<Vec<Repo>, MetaError> {
        sqlx::query("SELECT id, name, settings_json, revision, removal_gen, created_at FROM repos ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?
            .iter()
            .map(repo_from_row)
            .collect()
    }

    /// Also bumps the revision and the removal generation when the settings
    /// actually change: settings such as `architectures` change what a
    /// publication contains, and not as a pure append. Storing identical
    /// settings changes nothing.
    async fn update_repo_settings(
        &self,
        repo: RepoId,
        settings: &RepoSettings,
    ) -> Result<(), MetaError> {
        let settings_json = to_json(settings, "repository settings")?;
        let mut tx = self.write_tx().await?;
        let result = async {
            self.lock_repo(&mut tx, repo).await?;
            let row = sqlx::query("SELECT settings_json FROM repos WHERE id = $1")
                .bind(repo.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            let stored: RepoSettings = from_json(
                &get::<String>(&row, "settings_json")?,
                "repository settings",
            )?;
            if &stored == settings {
                return Ok(());
            }
            sqlx::query(
                "UPDATE repos SET settings_json = $2, revision = revision + 1, \
                 removal_gen = removal_gen + 1 WHERE id = $1",
            )
            .bind(repo.0)
            .bind(settings_json)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            Ok(())
        }
        .await;
        self.finish_write(tx, result).await
    }

    async fn delete_repo(&self, name: &RepoName) -> Result<bool, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = sqlx::query("DELETE FROM repos WHERE name = $1")
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(map_sqlx);
        self.finish_write(tx, result).await
    }
}
