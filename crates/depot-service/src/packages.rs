//! Packages of a repository: list, look up, download, remove.

use crate::{Depot, ServiceError};
use crate::{Download, download};
use depot_core::*;
use std::ops::Range;

impl Depot {
    /// The repo's packages, by format, then name, then newest version
    /// first (in each format's own version order: dpkg, rpm, vercmp,
    /// pkg), then file name.
    pub async fn list_packages(&self, repo: &RepoName) -> Result<Vec<Package>, ServiceError> {
        let repo = self.repo(repo).await?;
        let mut packages = self.inner.meta.list_packages(repo.id).await?;
        let formats = &self.inner.config.formats;
        packages.sort_by(|a, b| {
            (a.format, &a.name)
                .cmp(&(b.format, &b.name))
                .then_with(|| formats.compare_versions(a.format, &b.version, &a.version))
                .then_with(|| a.filename.cmp(&b.filename))
        });
        Ok(packages)
    }

    pub async fn package(
        &self,
        repo: &RepoName,
        filename: &FileName,
    ) -> Result<Package, ServiceError> {
        let r = self.repo(repo).await?;
        self.inner
            .meta
            .get_package(r.id, filename)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("package '{filename}' in repository '{repo}'"))
            })
    }

    pub async fn download(
        &self,
        repo: &RepoName,
        filename: &FileName,
        range: Option<Range<u64>>,
    ) -> Result<Download, ServiceError> {
        let r = self.repo_for_read(repo).await?;
        let p = self
            .package_for_read(r.id, filename)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!("package '{filename}' in repository '{repo}'"))
            })?;
        let content_type = self.inner.config.formats.content_type(p.format);
        download::package(
            &self.inner.blobs,
            &self.inner.serving.blobs(),
            r.settings.download,
            &p.hashes.sha256,
            p.size,
            range,
            content_type,
        )
        .await
        .map(|d| d.modified_at(p.created_at))
    }

    /// Removes a package from the repo and returns once the published
    /// indexes no longer list it.
    pub async fn remove(&self, repo: &RepoName, filename: &FileName) -> Result<(), ServiceError> {
        let r = self.repo(repo).await?;
        match self.inner.meta.remove_package(r.id, filename).await? {
            Some(revision) => self.publish_until(&r, revision).await,
            None => Err(ServiceError::NotFound(format!(
                "package '{filename}' in repository '{repo}'"
            ))),
        }
    }
}
