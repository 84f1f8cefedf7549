//! Uploads: stream to a staged file, inspect, store the blob, record the
//! package and its placement, publish. See the crate doc for the flow and
//! [`crate::import`] for many files at once.

use crate::{Depot, ServiceError};
use crate::{error, pacman, staging};
use depot_core::*;
use serde::Serialize;
use tokio::io::AsyncRead;

impl Depot {
    /// Streams `body` to a temp file (hashing it, failing past the size
    /// limit), inspects it, stores it and returns once the repo's published
    /// indexes include it.
    pub async fn upload<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<UploadOutcome, ServiceError> {
        let (repo, outcome, revision) = self.record(repo, filename, body, opts).await?;
        let started = std::time::Instant::now();
        self.publish_until(&repo, revision).await?;
        tracing::trace!(
            repo = %repo.name,
            file = %filename,
            publish_us = started.elapsed().as_micros() as u64,
            "upload published"
        );
        Ok(outcome)
    }

    /// Returns once the repo's published indexes render every change
    /// recorded before the call.
    pub async fn publish(&self, repo: &RepoName) -> Result<(), ServiceError> {
        let repo = self.repo(repo).await?;
        self.publish_until(&repo, repo.revision).await
    }

    /// Stages, inspects, stores and records one upload. Returns the repo,
    /// the outcome and the revision that includes it.
    async fn record<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<(Repo, UploadOutcome, Revision), ServiceError> {
        let prepared = self.prepare_upload(repo, filename, body, opts).await?;
        let (package, placement) = match prepared.item {
            Prepared::Package { package, placement } => (*package, placement),
            Prepared::Signature {
                filename,
                target,
                bytes,
            } => {
                let (outcome, revision) = self
                    .attach_signature(&prepared.repo, &filename, &target, bytes)
                    .await?;
                return Ok((prepared.repo, outcome, revision));
            }
        };
        let started = std::time::Instant::now();
        // In one transaction with other uploads to the repo arriving
        // meanwhile (group commit; see recorder.rs).
        let outcome = self
            .inner
            .recorder
            .add(&self.inner.meta, prepared.repo.id, package, placement)
            .await?;
        tracing::trace!(
            repo = %prepared.repo.name,
            file = %filename,
            record_us = started.elapsed().as_micros() as u64,
            "upload recorded"
        );
        let revision = outcome.revision;
        let outcome = UploadOutcome {
            package: outcome.package,
            created: outcome.created,
        };
        Ok((prepared.repo, outcome, revision))
    }

    /// The first half of an upload: streams `body` to a temp file, inspects
    /// it and stores its blob. Nothing is recorded until
    /// [`Depot::record_batch`]; for bulk imports, where recording many
    /// packages in one transaction saves a sync to disk per package.
    ///
    /// A file named `{package}.sig`, where `{package}` is a pacman package
    /// file name, is that package's detached signature: it is kept in the
    /// package's record, not stored as a file (see
    /// [`Depot::attach_signature`]).
    pub async fn prepare_upload<R: AsyncRead + Unpin + Send>(
        &self,
        repo: &RepoName,
        filename: &FileName,
        body: R,
        opts: &UploadOptions,
    ) -> Result<PreparedUpload, ServiceError> {
        let repo = self.repo(repo).await?;
        if let Some(target) = pacman::signature_target(filename.as_str()) {
            let target = FileName::new(target)
                .map_err(|e| ServiceError::Invalid(format!("{filename}: {e}")))?;
            let staged = staging::stage(
                &self.inner.config.tmp_dir,
                body,
                depot_sign::MAX_DETACHED_BINARY as u64,
            )
            .await?;
            let bytes = tokio::fs::read(staged.path()).await?;
            return Ok(PreparedUpload {
                repo,
                item: Prepared::Signature {
                    filename: filename.clone(),
                    target,
                    bytes,
                },
            });
        }
        let placement = placement_for(&repo, opts);
        let staged = staging::stage(
            &self.inner.config.tmp_dir,
            body,
            self.inner.config.max_upload_bytes,
        )
        .await?;
        let t_staged = std::time::Instant::now();
        let digest = staged.hashes.sha256;
        let path = staged.path().to_path_buf();
        // Keep the staged file alive until the blob is stored.
        let package = self
            .inspect(&staged, filename.clone(), Timestamp::now(), None)
            .await?;
        let t_inspected = std::time::Instant::now();
        // The staged file becomes the blob (moved, not copied, on local disk).
        self.inner.blobs.put_file_moving(&digest, &path).await?;
        drop(staged);
        tracing::trace!(
            repo = %repo.name,
            file = %filename,
            inspect_us = (t_inspected - t_staged).as_micros() as u64,
            store_us = t_inspected.elapsed().as_micros() as u64,
            "upload prepared"
        );
        Ok(PreparedUpload {
            repo,
            item: Prepared::Package {
                package: Box::new(package),
                placement,
            },
        })
    }

    /// [`Depot::prepare_upload`] of a file on local disk, for bulk imports:
    /// `repo` is looked up once by the caller, and copying, hashing and
    /// parsing run in one blocking task instead of a hop to the blocking
    /// pool for every read and write.
    pub async fn prepare_upload_file(
        &self,
        repo: &Repo,
        filename: &FileName,
        path: &std::path::Path,
        opts: &UploadOptions,
    ) -> Result<PreparedUpload, ServiceError> {
        if pacman::signature_target(filename.as_str()).is_some() {
            let file = tokio::fs::File::open(path).await?;
            return self.prepare_upload(&repo.name, filename, file, opts).await;
        }
        let placement = placement_for(repo, opts);
        let inspector = self.inspector();
        let (tmp, limit) = (
            self.inner.config.tmp_dir.clone(),
            self.inner.config.max_upload_bytes,
        );
        let (src, name) = (path.to_path_buf(), filename.clone());
        let (staged, package) = tokio::task::spawn_blocking(move || {
            let staged = staging::stage_file_blocking(&tmp, &src, limit)?;
            let format = inspector.detect(&staged.head, name.as_str());
            let package = inspector.inspect_file(
                staged.path(),
                format,
                staged.size,
                staged.hashes.clone(),
                name,
                Timestamp::now(),
                None,
            )?;
            Ok::<_, ServiceError>((staged, package))
        })
        .await
        .map_err(error::join_error)??;
        // The staged file becomes the blob (moved, not copied, on local disk).
        self.inner
            .blobs
            .put_file_moving(&staged.hashes.sha256, staged.path())
            .await?;
        drop(staged);
        Ok(PreparedUpload {
            repo: repo.clone(),
            item: Prepared::Package {
                package: Box::new(package),
                placement,
            },
        })
    }

    /// Records prepared uploads of one repository in one transaction, each
    /// checked as a single upload would be: a refused one (e.g. a conflict)
    /// gets its error in its place and does not stop the others. Does not
    /// publish: call [`Depot::publish`].
    pub async fn record_batch(
        &self,
        batch: Vec<PreparedUpload>,
    ) -> Result<Vec<Result<UploadOutcome, ServiceError>>, ServiceError> {
        let Some(first) = batch.first() else {
            return Ok(Vec::new());
        };
        let repo = first.repo.id;
        if batch.iter().any(|p| p.repo.id != repo) {
            return Err(ServiceError::Invalid(
                "a batch records uploads of one repository".into(),
            ));
        }
        let repo = first.repo.clone();
        let n = batch.len();
        let mut results: Vec<Option<Result<UploadOutcome, ServiceError>>> =
            (0..n).map(|_| None).collect();
        let mut positions = Vec::new();
        let mut items: Vec<(NewPackage, Vec<Placement>)> = Vec::new();
        let mut sigs = Vec::new();
        for (i, p) in batch.into_iter().enumerate() {
            match p.item {
                Prepared::Package { package, placement } => {
                    positions.push(i);
                    items.push((*package, vec![placement]));
                }
                Prepared::Signature {
                    filename,
                    target,
                    bytes,
                } => sigs.push((i, filename, target, bytes)),
            }
        }
        // A signature that came with its package goes into the package's
        // record before it is stored, so the publish is a plain append.
        let mut attach = Vec::new();
        for (i, filename, target, bytes) in sigs {
            if let Some((package, _)) = items
                .iter_mut()
                .find(|(p, _)| p.filename == target && p.format == Format::Pacman)
            {
                let sig = self
                    .check_signature(&package.hashes.sha256, &filename, bytes.clone())
                    .await;
                match sig.and_then(|sig| {
                    pacman::with_signature(
                        package.filename.as_str(),
                        package.size,
                        &package.hashes,
                        &package.index_entry,
                        &package.fields,
                        &sig,
                    )
                }) {
                    Ok((index_entry, fields)) => {
                        package.index_entry = index_entry;
                        package.fields = fields;
                    }
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                }
            }
            attach.push((i, filename, target, bytes));
        }
        let recorded = self
            .inner
            .meta
            .add_packages(repo.id, &items, Timestamp::now())
            .await?;
        for (i, r) in positions.into_iter().zip(recorded) {
            results[i] = Some(
                r.map(|o| UploadOutcome {
                    package: o.package,
                    created: o.created,
                })
                .map_err(ServiceError::from),
            );
        }
        // Then every signature is in its package's record (a no-op for
        // those put there above, unless the package was stored before).
        for (i, filename, target, bytes) in attach {
            results[i] = Some(
                self.attach_signature(&repo, &filename, &target, bytes)
                    .await
                    .map(|(outcome, _)| outcome),
            );
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect())
    }
}

#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub distribution: Option<PlacementName>,
    pub component: Option<PlacementName>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadOutcome {
    pub package: Package,
    /// False when the identical file was already stored.
    pub created: bool,
}

/// An upload staged, inspected and stored as a blob, not yet recorded
/// ([`Depot::prepare_upload`]).
#[derive(Debug, Clone)]
pub struct PreparedUpload {
    pub(crate) repo: Repo,
    pub(crate) item: Prepared,
}

#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    Package {
        package: Box<NewPackage>,
        placement: Placement,
    },
    /// A packager's `{target}.sig` for a pacman package (see
    /// [`Depot::attach_signature`]).
    Signature {
        filename: FileName,
        target: FileName,
        bytes: Vec<u8>,
    },
}

impl PreparedUpload {
    pub fn filename(&self) -> &FileName {
        match &self.item {
            Prepared::Package { package, .. } => &package.filename,
            Prepared::Signature { filename, .. } => filename,
        }
    }
}

/// Where an upload goes: the options, else the repo's defaults.
fn placement_for(repo: &Repo, opts: &UploadOptions) -> Placement {
    Placement {
        distribution: opts
            .distribution
            .clone()
            .unwrap_or_else(|| repo.settings.default_distribution.clone()),
        component: opts
            .component
            .clone()
            .unwrap_or_else(|| repo.settings.default_component.clone()),
    }
}
