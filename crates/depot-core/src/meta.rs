//! The metadata store seam: repositories, packages, placements,
//! publications, tokens and signing keys. Implemented for SQLite and
//! PostgreSQL in depot-store; both pass the same conformance suite.
//!
//! Every method is one transaction. Nothing here is read-modify-write from
//! the caller's side: the only way to move a repo's published pointer is
//! [`PublicationStore::publish`], a compare-and-set that returns
//! [`MetaError::PublishConflict`] when another writer got there first.

use crate::digest::{Hashes, Sha256};
use crate::image::*;
use crate::model::*;
use crate::names::{FileName, RepoName};
use crate::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The write contradicts stored data (same file name, other content; same
    /// package name/version/arch in the same placement, other content).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The compare-and-set on the publication pointer failed: the pointer is
    /// now `current`, not the expected value.
    #[error("publication pointer moved (now {current:?})")]
    PublishConflict {
        current: Option<(PublicationId, Revision)>,
    },
    /// The compare-and-set on an image's version failed: the image is now
    /// at version `current`, not the expected one (another overwrite won).
    #[error("image version moved (now {current})")]
    VersionConflict { current: i64 },
    /// The database is busy or unreachable; the call may be retried.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    #[error("metadata store: {0}")]
    Backend(String),
}

/// A held publishing lease ([`MetaStore::lease_publishing`]); dropping it
/// ends the lease.
pub struct PublishLease {
    _held: Option<Box<dyn std::any::Any + Send>>,
}

impl PublishLease {
    /// A lease that excludes no one (a store with one writer process).
    pub fn unshared() -> PublishLease {
        PublishLease { _held: None }
    }

    /// A lease held for as long as `held` (say, the database transaction
    /// that holds a lock) lives.
    pub fn holding<T: Send + 'static>(held: T) -> PublishLease {
        PublishLease {
            _held: Some(Box::new(held)),
        }
    }

    /// Whether this lease excludes other holders.
    pub fn is_exclusive(&self) -> bool {
        self._held.is_some()
    }
}

impl std::fmt::Debug for PublishLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishLease")
            .field("exclusive", &self.is_exclusive())
            .finish()
    }
}

/// One stored package as `rebuild` reads it back, a page at a time
/// ([`MetaStore::package_page`]): without its placements, and with its
/// parsed fields as the JSON text they are stored as, so that a re-read
/// can be compared with it without parsing every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    pub id: PackageId,
    pub repo_id: RepoId,
    pub filename: FileName,
    pub size: u64,
    pub hashes: Hashes,
    pub format: Format,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub index_entry: String,
    /// [`Package::fields`] as stored: compact JSON, keys in order.
    pub fields_json: String,
    pub created_at: Timestamp,
}

impl PackageRecord {
    /// The [`Package`] with its fields parsed and the given placements.
    pub fn into_package(self, placements: Vec<Placement>) -> Result<Package, serde_json::Error> {
        Ok(Package {
            fields: serde_json::from_str(&self.fields_json)?,
            id: self.id,
            repo_id: self.repo_id,
            filename: self.filename,
            size: self.size,
            hashes: self.hashes,
            format: self.format,
            name: self.name,
            version: self.version,
            arch: self.arch,
            index_entry: self.index_entry,
            placements,
            created_at: self.created_at,
        })
    }
}

/// Replacement fields for one package, from re-reading its blob (rebuild).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUpdate {
    pub id: PackageId,
    pub format: Format,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub index_entry: String,
    pub fields: serde_json::Value,
}

/// The whole metadata store: one trait per aggregate ([`RepoStore`],
/// [`PackageStore`], [`PublicationStore`], [`TokenStore`], [`ImageStore`],
/// [`KeyStore`]), each with its contract, plus what concerns the store as
/// a whole. Callers hold an `Arc<dyn MetaStore>`; every aggregate's methods
/// are callable on it.
pub trait MetaStore:
    RepoStore
    + PackageStore
    + PublicationStore
    + TokenStore
    + ImageStore
    + KeyStore
    + Send
    + Sync
    + 'static
{
    /// Short name of the backend: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// A cheap signal that something may have changed: a value that differs
    /// from every earlier one once a write transaction (a repo created,
    /// changed or deleted, a package added or removed, a published pointer
    /// moved, ...) has committed and its method has returned, in this
    /// process or any other on the same store. Reading it costs no query.
    ///
    /// The contract a cache relies on: read the epoch `e`, then read the
    /// store; what was read may be reused while `change_epoch()` still
    /// returns `Some(e)`. Once a write has returned, a later call never
    /// returns a value some caller saw before that write returned. Values
    /// are otherwise meaningless (not ordered, not counted).
    ///
    /// `None` means "no cheap signal here": re-read the store every time.
    /// That is the default, and the answer of a store shared by several
    /// machines (PostgreSQL), or whose signal cannot be read right now.
    fn change_epoch(&self) -> Option<u64> {
        None
    }
}

/// Repositories: their rows, settings and revisions.
#[async_trait::async_trait]
pub trait RepoStore: Send + Sync {
    /// Creates a repo at revision 0 with no publication.
    /// Errors: `AlreadyExists` if the name is taken.
    async fn create_repo(
        &self,
        name: &RepoName,
        settings: &RepoSettings,
        now: Timestamp,
    ) -> Result<Repo, MetaError>;
    async fn get_repo(&self, name: &RepoName) -> Result<Option<Repo>, MetaError>;
    /// All repos, ordered by name.
    async fn list_repos(&self) -> Result<Vec<Repo>, MetaError>;
    /// Errors: `NotFound`.
    async fn update_repo_settings(
        &self,
        repo: RepoId,
        settings: &RepoSettings,
    ) -> Result<(), MetaError>;
    /// Deletes the repo with its packages, placements and publications (blobs
    /// stay for gc). Returns false if no such repo existed.
    async fn delete_repo(&self, name: &RepoName) -> Result<bool, MetaError>;
}

/// Packages and their placements: what publishers render (`index_rows`)
/// and what the API lists.
#[async_trait::async_trait]
pub trait PackageStore: Send + Sync {
    /// Adds a package and its placements in one transaction.
    ///
    /// - Same `filename` already stored with the same SHA-256: no new package;
    ///   placements not yet present are added (`changed` then true). This
    ///   makes re-uploads idempotent and lets a file be placed in more
    ///   distributions.
    /// - Same `filename` with other content: `Conflict`, nothing written.
    /// - For indexed formats (not `File`): a package with another `filename`
    ///   and the same format, name, version, arch and SHA-256 is that same
    ///   package, as if its own file name had been given: no new package,
    ///   missing placements added, the stored package (its file name) returned.
    /// - For indexed formats (not `File`): another package with the same
    ///   format, name, version and arch and other content already in one of
    ///   the placements: `Conflict`, nothing written.
    /// - When anything changed, the repo revision is bumped by one.
    ///
    /// Errors: `NotFound` if the repo is gone.
    async fn add_package(
        &self,
        repo: RepoId,
        pkg: &NewPackage,
        placements: &[Placement],
        now: Timestamp,
    ) -> Result<AddOutcome, MetaError>;

    /// Adds several packages in one transaction (one sync to disk instead
    /// of one per package; for bulk imports). Each item is checked and
    /// applied exactly as [`MetaStore::add_package`] would, in order; an item
    /// that fails (`Conflict`, ...) changes nothing and does not stop the
    /// others, and its error is returned in its place. A failure of the store
    /// itself (`Unavailable`, `Backend`) fails the whole call, which then
    /// changes nothing.
    ///
    /// The default implementation calls `add_package` per item.
    async fn add_packages(
        &self,
        repo: RepoId,
        items: &[(NewPackage, Vec<Placement>)],
        now: Timestamp,
    ) -> Result<Vec<Result<AddOutcome, MetaError>>, MetaError> {
        let mut out = Vec::with_capacity(items.len());
        for (pkg, placements) in items {
            match self.add_package(repo, pkg, placements, now).await {
                Err(e @ (MetaError::Unavailable(_) | MetaError::Backend(_))) => return Err(e),
                r => out.push(r),
            }
        }
        Ok(out)
    }

    /// Removes a package and all its placements; bumps the revision and the
    /// removal generation. Returns the new revision, or `None` if no such
    /// file was stored (nothing changes then).
    async fn remove_package(
        &self,
        repo: RepoId,
        filename: &FileName,
    ) -> Result<Option<Revision>, MetaError>;

    async fn get_package(
        &self,
        repo: RepoId,
        filename: &FileName,
    ) -> Result<Option<Package>, MetaError>;

    /// All packages of the repo with their placements, ordered by file name.
    async fn list_packages(&self, repo: RepoId) -> Result<Vec<Package>, MetaError>;

    /// Up to `limit` packages of the repo with an id greater than `after`,
    /// ordered by id, as [`PackageRecord`]s: what a rebuild reads, one page
    /// while it re-reads the previous one. Fails with `NotFound` if the
    /// repo does not exist.
    async fn package_page(
        &self,
        repo: RepoId,
        after: PackageId,
        limit: u32,
    ) -> Result<Vec<PackageRecord>, MetaError>;

    /// Replaces the parsed fields and index entries of the given packages
    /// (after a rebuild re-read their blobs) and bumps the revision and the
    /// removal generation, so the next publish renders everything afresh.
    async fn update_packages(
        &self,
        repo: RepoId,
        updates: &[PackageUpdate],
    ) -> Result<Revision, MetaError>;

    /// The greatest placement id of the repo (0 for none). Placement ids
    /// become visible in increasing order, so every placement with an id up
    /// to the returned one is committed when this returns: a publisher that
    /// reads this *before* its rows may treat every format as rendered up
    /// to it.
    async fn max_placement_id(&self, repo: RepoId) -> Result<PlacementId, MetaError>;

    /// The placements of `format` packages with a placement id greater than
    /// `after`, ordered by placement id. Placement ids only grow, so a
    /// publisher that remembers the last id it rendered can read just what is
    /// new (valid while `Repo::removal_gen` is unchanged).
    async fn index_rows(
        &self,
        repo: RepoId,
        format: Format,
        after: PlacementId,
    ) -> Result<Vec<IndexRow>, MetaError>;
}

/// Publications and the published pointer: the only way to move it is
/// [`PublicationStore::publish`], a compare-and-set.
#[async_trait::async_trait]
pub trait PublicationStore: Send + Sync {
    /// The repo's published pointer: (publication, revision it rendered).
    async fn published_pointer(
        &self,
        repo: RepoId,
    ) -> Result<Option<(PublicationId, Revision)>, MetaError>;
    async fn get_publication(&self, id: PublicationId) -> Result<Option<Publication>, MetaError>;

    /// Stores a new publication and moves the repo's pointer to it, if and
    /// only if the pointer is still `expected` (compare-and-set; `None` means
    /// "never published"). On mismatch nothing is written and
    /// `PublishConflict` carries the current pointer. `revision` is the repo
    /// revision the manifest renders.
    async fn publish(
        &self,
        repo: RepoId,
        expected: Option<PublicationId>,
        revision: Revision,
        manifest: &Manifest,
        now: Timestamp,
    ) -> Result<PublicationId, MetaError>;

    /// Publications of the repo created at or after `since`, plus the
    /// current one, newest first, at most `limit` of them (by-hash requests
    /// of clients mid-update resolve through these; the limit keeps a
    /// request for an unknown digest from loading every publication of a
    /// busy hour).
    async fn recent_publications(
        &self,
        repo: RepoId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Publication>, MetaError>;

    /// Deletes publications of the repo older than `before` that are not the
    /// current one. Returns how many were deleted.
    async fn prune_publications(&self, repo: RepoId, before: Timestamp) -> Result<u64, MetaError>;

    /// Takes the repo's publishing lease, waiting at most `wait` for it;
    /// `None` if another holder kept it that long. The lease ends when the
    /// returned value is dropped, or with its holder's database session (a
    /// process killed with SIGKILL never keeps it).
    ///
    /// With several processes (nodes) on one store, publishers that take the
    /// lease take turns: the next one usually finds its revision published
    /// by the one before, instead of rendering the same revision at the same
    /// time and losing the compare-and-set. The lease is advisory: nothing
    /// else checks it, and correctness rests on [`MetaStore::publish`]
    /// alone, so a caller that did not get it may still publish.
    ///
    /// The default grants it at once, to everyone: right for a store with
    /// one writer process (SQLite). PostgreSQL makes it exclusive across
    /// every session on the database.
    async fn lease_publishing(
        &self,
        repo: RepoId,
        wait: std::time::Duration,
    ) -> Result<Option<PublishLease>, MetaError> {
        let _ = (repo, wait);
        Ok(Some(PublishLease::unshared()))
    }
}

/// API tokens, stored by the SHA-256 of their secret.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a token by the SHA-256 of its secret (the secret itself is
    /// never stored).
    async fn create_token(
        &self,
        name: &str,
        secret_hash: &Sha256,
        scope: &TokenScope,
        now: Timestamp,
    ) -> Result<TokenRecord, MetaError>;
    async fn find_token(&self, secret_hash: &Sha256) -> Result<Option<TokenRecord>, MetaError>;
    /// Replaces the groups of a token (deduplicated, sorted).
    /// Errors: `NotFound` if no such token.
    async fn set_token_groups(&self, token: TokenId, groups: &[String]) -> Result<(), MetaError>;
    async fn count_tokens(&self) -> Result<u64, MetaError>;
}

/// Images (VM disks, ISOs, artifacts) and their versions.
#[async_trait::async_trait]
pub trait ImageStore: Send + Sync {
    //
    // An image's versions form its history; the current one is the highest.
    // Every version's blob counts as referenced (`image_blob_digests`) until
    // the image is deleted. The store does not check who may do what: the
    // service does, before calling.

    /// Stores a new image at version 1 (`image.blob`), with `created_at` and
    /// `updated_at` set to `now`.
    /// Errors: `AlreadyExists` if the id is taken (nothing written).
    async fn create_image(&self, image: &NewImage, now: Timestamp) -> Result<Image, MetaError>;
    async fn get_image(&self, id: ImageId) -> Result<Option<Image>, MetaError>;
    /// The images matching `filter` (see [`ImageFilter`]), ordered by name,
    /// then id (bytewise).
    async fn list_images(&self, filter: &ImageFilter) -> Result<Vec<Image>, MetaError>;
    /// Applies the set fields of `update` and sets `updated_at`; the version
    /// and file are unchanged. Returns the image after the change.
    /// Errors: `NotFound` (nothing written).
    async fn update_image(
        &self,
        id: ImageId,
        update: &ImageUpdate,
        now: Timestamp,
    ) -> Result<Image, MetaError>;
    /// Adds version `expected + 1` with `blob` and makes it current, if and
    /// only if the image is still at version `expected` (compare-and-set:
    /// of two overwrites based on the same version exactly one wins).
    /// Earlier versions stay in the history.
    /// Errors: `NotFound`; `VersionConflict { current }` when the image is
    /// at another version (nothing written).
    async fn new_image_version(
        &self,
        id: ImageId,
        expected: i64,
        blob: &ImageBlob,
        now: Timestamp,
    ) -> Result<Image, MetaError>;
    /// Creates image `new_id`, owned by `owner`, as a copy of the current
    /// version of `source`: the same file (blob), description and metadata;
    /// `name` (default: the source's) and `visibility`; version 1 and
    /// `copied_from = source`. One transaction, so at every instant the
    /// source or the copy references the blob (gc never sees it orphaned).
    /// Errors: `NotFound` if `source` does not exist, `AlreadyExists` if
    /// `new_id` is taken (nothing written either way).
    async fn copy_image(
        &self,
        source: ImageId,
        new_id: ImageId,
        owner: &str,
        name: Option<&str>,
        visibility: &Visibility,
        now: Timestamp,
    ) -> Result<Image, MetaError>;
    /// Every version of the image, newest first (the first entry is the
    /// current file). Empty if there is no such image.
    async fn image_history(&self, id: ImageId) -> Result<Vec<ImageVersion>, MetaError>;
    /// Deletes the image and its history (the blobs stay for gc). Returns
    /// false if there was no such image.
    async fn delete_image(&self, id: ImageId) -> Result<bool, MetaError>;
    /// The SHA-256 of every version of every image, each once (gc keeps
    /// these blobs).
    async fn image_blob_digests(&self) -> Result<Vec<Sha256>, MetaError>;
}

/// The server's signing keys, first one stored wins.
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores `armored_secret` under `name` unless a key of that name exists;
    /// returns the stored key either way (so concurrent first starts agree on
    /// one key).
    async fn insert_signing_key_if_absent(
        &self,
        name: &str,
        armored_secret: &str,
        now: Timestamp,
    ) -> Result<String, MetaError>;
    async fn get_signing_key(&self, name: &str) -> Result<Option<String>, MetaError>;
}
