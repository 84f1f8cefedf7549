//! Packagers' signatures of pacman packages: a `{package}.sig` uploaded
//! with or after its package, checked against the package's bytes and kept
//! in its record.

use crate::{Depot, ServiceError};
use crate::{UploadOutcome, error, pacman, staging};
use depot_core::*;

impl Depot {
    /// Records a packager's signature (`{target}.sig`, a detached binary
    /// OpenPGP signature) for the pacman package `target` already stored in
    /// `repo`, replacing the repository's own signature: it is checked
    /// against the package's bytes (see [`depot_sign::check_detached_binary`]),
    /// kept in the package's record and served as `%PGPSIG%` and
    /// `{target}.sig`. The same signature again changes nothing
    /// (`created: false`); another one where a packager's is recorded is a
    /// conflict. Returns the updated package and the revision to publish.
    pub async fn attach_signature(
        &self,
        repo: &Repo,
        sig_name: &FileName,
        target: &FileName,
        bytes: Vec<u8>,
    ) -> Result<(UploadOutcome, Revision), ServiceError> {
        let meta = self.inner.meta.as_ref();
        let package = meta.get_package(repo.id, target).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "package '{target}' in repository '{}' (upload {sig_name} with or after its package)",
                repo.name
            ))
        })?;
        if package.format != Format::Pacman {
            return Err(ServiceError::Invalid(format!(
                "{sig_name}: '{target}' is not a pacman package"
            )));
        }
        if let Some(current) = pacman::PackageSig::of_fields(&package.fields)
            && current.by == pacman::SignedBy::Packager
        {
            if current.bytes == bytes {
                let revision = self.repo(&repo.name).await?.revision;
                return Ok((
                    UploadOutcome {
                        package,
                        created: false,
                    },
                    revision,
                ));
            }
            return Err(ServiceError::Conflict(format!(
                "{target} already has a packager signature, with other content than                  {sig_name}; remove the package and upload it again with the new signature"
            )));
        }
        let sig = self
            .check_signature(&package.hashes.sha256, sig_name, bytes)
            .await?;
        let (index_entry, fields) = pacman::with_signature(
            package.filename.as_str(),
            package.size,
            &package.hashes,
            &package.index_entry,
            &package.fields,
            &sig,
        )?;
        let revision = meta
            .update_packages(
                repo.id,
                &[meta::PackageUpdate {
                    id: package.id,
                    format: package.format,
                    name: package.name.clone(),
                    version: package.version.clone(),
                    arch: package.arch.clone(),
                    index_entry,
                    fields,
                }],
            )
            .await?;
        let package = meta
            .get_package(repo.id, target)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("package '{target}'")))?;
        Ok((
            UploadOutcome {
                package,
                created: true,
            },
            revision,
        ))
    }

    /// Checks a packager's signature against the stored blob `digest`.
    pub(crate) async fn check_signature(
        &self,
        digest: &Sha256,
        sig_name: &FileName,
        bytes: Vec<u8>,
    ) -> Result<pacman::PackageSig, ServiceError> {
        let staged = self.stage_blob(digest).await?;
        let path = staged.path().to_path_buf();
        let name = sig_name.to_string();
        let sig = tokio::task::spawn_blocking(move || {
            pacman::check_packager_signature(&bytes, &path, &name)
        })
        .await
        .map_err(error::join_error)?;
        drop(staged);
        sig
    }

    /// Copies a stored blob to a staged temp file, checking its digest.
    pub(crate) async fn stage_blob(
        &self,
        digest: &Sha256,
    ) -> Result<staging::Staged, ServiceError> {
        let read = self.inner.blobs.get(digest, None).await?;
        let body =
            tokio_util::io::StreamReader::new(futures::TryStreamExt::map_err(read.stream, |e| {
                std::io::Error::other(e.to_string())
            }));
        let staged = staging::stage(&self.inner.config.tmp_dir, body, u64::MAX).await?;
        if staged.hashes.sha256 != *digest {
            return Err(ServiceError::Internal(format!(
                "blob {digest} does not match its digest (store corrupted?)"
            )));
        }
        Ok(staged)
    }
}
