//! Repositories: create, list, look up, delete.

use crate::{Depot, ServiceError};
use depot_core::*;

impl Depot {
    /// Creates a repository and publishes its (empty) default distribution,
    /// so clients can be pointed at it before the first upload.
    pub async fn create_repo(
        &self,
        name: &RepoName,
        settings: RepoSettings,
    ) -> Result<Repo, ServiceError> {
        let repo = self
            .inner
            .meta
            .create_repo(name, &settings, Timestamp::now())
            .await?;
        self.publish_until(&repo, repo.revision).await?;
        Ok(repo)
    }

    pub async fn list_repos(&self) -> Result<Vec<Repo>, ServiceError> {
        Ok(self.inner.meta.list_repos().await?)
    }

    pub async fn repo(&self, name: &RepoName) -> Result<Repo, ServiceError> {
        self.inner
            .meta
            .get_repo(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("repository '{name}'")))
    }

    /// Deletes the repo, its packages and its publications. Blobs no other
    /// repo references are left for gc.
    pub async fn delete_repo(&self, name: &RepoName) -> Result<(), ServiceError> {
        if self.inner.meta.delete_repo(name).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!("repository '{name}'")))
        }
    }
}
