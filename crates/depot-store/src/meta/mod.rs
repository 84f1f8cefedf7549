//! [`MetaStore`] over one [`sqlx::AnyPool`], for SQLite and PostgreSQL.
//!
//! This file holds the connection, the dialect differences, row decoding and
//! the statements several aggregates share; each aggregate's trait is
//! implemented in its own file (`repos.rs`, `packages.rs`, `publications.rs`,
//! `tokens.rs`, `images.rs`, `keys.rs`), cut as the traits in
//! [`depot_core::meta`] are.

mod epoch;
mod images;
mod migrate;

use depot_core::digest::{Hashes, Sha256};
use depot_core::meta::{
    KeyStore, MetaError, MetaStore, PackageRecord, PackageStore, PackageUpdate, PublicationStore,
    PublishLease, RepoStore, TokenStore,
};
use depot_core::model::*;
use depot_core::names::{FileName, PlacementName, RepoName};
use depot_core::time::Timestamp;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Which database an [`SqlMetaStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// First key of the PostgreSQL advisory lock behind
/// [`MetaStore::lease_publishing`] (`'depP'`); the second is the repo id.
const PUBLISH_LEASE_CLASS: i32 = 0x6465_7050;

/// The longest single lock request of a publishing lease wait: below sqlx's
/// slow-statement threshold (1 s), so waiting is not logged as a warning.
const LEASE_WAIT_SLICE: Duration = Duration::from_millis(500);

/// A publishing lease whose holder has said nothing to PostgreSQL for this
/// long is ended by the server (the holder's session is closed).
const LEASE_IDLE_LIMIT: Duration = Duration::from_secs(60);

/// SQLite waits this long for the write lock before giving up with
/// [`MetaError::Unavailable`].
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// The metadata store: [`MetaStore`] over one [`sqlx::AnyPool`], for SQLite
/// and PostgreSQL.
///
/// One code base serves both backends; the SQL is portable (`$1..$N`
/// placeholders, `RETURNING`, `ON CONFLICT`) except where a backend needs
/// its own statement, chosen by the URL scheme:
///
/// | concern | SQLite | PostgreSQL |
/// | --- | --- | --- |
/// | schema | `migrations/sqlite` (STRICT tables, AUTOINCREMENT) | `migrations/postgres` (identity columns, `COLLATE "C"`) |
/// | write transactions | `BEGIN IMMEDIATE`: takes the database write lock up front, waiting up to `busy_timeout` (10 s) for it | `BEGIN` (read committed) + `SELECT .. FOR NO KEY UPDATE` on the repo row |
/// | read transactions (several statements) | `BEGIN` (WAL snapshot) | `REPEATABLE READ READ ONLY` |
/// | publish compare-and-set | `UPDATE .. WHERE publication_id IS $expected` | `.. IS NOT DISTINCT FROM $expected` |
///
/// # Concurrency
///
/// Every method is one transaction. Writes that touch a repo first lock it:
/// on SQLite `BEGIN IMMEDIATE` serialises all writers of the file (across
/// processes too: the CLI next to a server), so a writer never sees
/// `SQLITE_BUSY` from a lock upgrade, only waits; on PostgreSQL the row lock
/// serialises the writers of one repo. That lock is also what makes
/// placement ids usable as a cursor: ids are drawn from a sequence, and
/// without it two transactions could commit ids out of order, so a reader
/// of "placements after N" could skip a row committed late with a smaller
/// id. Under the lock, ids within a repo are committed in increasing order.
///
/// # SQLite settings
///
/// Every connection runs with `journal_mode=WAL` (readers never block the
/// writer), `synchronous=FULL` (a commit is on disk before it is
/// acknowledged, also across power loss), `foreign_keys=ON` (cascading
/// deletes) and `busy_timeout=10000`.
///
/// Cheap to clone (clones share one pool).
#[derive(Debug, Clone)]
pub struct SqlMetaStore {
    pool: AnyPool,
    backend: Backend,
    /// The migrations [`SqlMetaStore::connect`] applied.
    applied: std::sync::Arc<[AppliedMigration]>,
    /// SQLite's [`MetaStore::change_epoch`]; `None` on PostgreSQL.
    epoch: Option<std::sync::Arc<epoch::ChangeEpoch>>,
}

/// A schema migration applied by [`SqlMetaStore::connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: &'static str,
}

impl std::fmt::Display for AppliedMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}_{}", self.version, self.name)
    }
}

impl SqlMetaStore {
    /// Connects and brings the schema up to date.
    ///
    /// - `sqlite:///abs/path/depot.db`, `sqlite://relative.db` or
    ///   `sqlite:relative.db`: the file (and its directory) is created if
    ///   missing. `sqlite::memory:` gives a private in-memory database
    ///   (one connection; for tests).
    /// - `postgres://user@host:port/db` (or `postgresql://`): the database
    ///   must exist; tables are created by the migrations.
    ///
    /// Errors: `Unavailable` if the database cannot be reached, `Backend`
    /// for a malformed URL or a failed migration.
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, prepare_sqlite_url(url)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(MetaError::Backend(format!(
                "unsupported database URL scheme {scheme:?} (expected sqlite: or postgres://)"
            )));
        };

        let mut opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        match backend {
            Backend::Sqlite => {
                opts = opts
                    .max_connections(if is_sqlite_memory(&url) { 1 } else { 8 })
                    .after_connect(|conn, _meta| Box::pin(sqlite_session_setup(conn)));
                if is_sqlite_memory(&url) {
                    // The database lives as long as its only connection.
                    opts = opts
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
            }
            Backend::Postgres => opts = opts.max_connections(16),
        }
        // One direct attempt first: the pool would keep retrying an
        // unreachable server until its acquire timeout; a misconfigured URL
        // should fail at once.
        let probe = AnyConnection::connect(&url).await.map_err(map_sqlx)?;
        if let Err(e) = probe.close().await {
            tracing::debug!(error = %e, "closing the probe connection failed");
        }
        let pool = opts.connect(&url).await.map_err(map_sqlx)?;
        let versions = migrate::run(&pool, backend).await?;
        let applied = migrate::migrations(backend)
            .iter()
            .filter(|m| versions.contains(&m.version))
            .map(|m| AppliedMigration {
                version: m.version,
                name: m.name,
            })
            .collect();
        let epoch = match backend {
            Backend::Postgres => None,
            Backend::Sqlite if is_sqlite_memory(&url) => Some(epoch::ChangeEpoch::in_memory()),
            Backend::Sqlite => {
                let path = sqlite_path(&url);
                Some(epoch::ChangeEpoch::beside(path.as_ref()).map_err(|e| {
                    MetaError::Backend(format!("cannot open the change epoch beside {path}: {e}"))
                })?)
            }
        }
        .map(std::sync::Arc::new);
        Ok(SqlMetaStore {
            pool,
            backend,
            applied,
            epoch,
        })
    }

    /// The migrations this store's [`SqlMetaStore::connect`] applied, in
    /// order; empty when the schema was up to date (`depot migrate` reports
    /// these).
    pub fn applied_migrations(&self) -> &[AppliedMigration] {
        &self.applied
    }

    /// The schema version this depot knows (the newest embedded migration);
    /// after a successful connect the database is at this version.
    pub fn schema_version(&self) -> i64 {
        migrate::migrations(self.backend)
            .last()
            .map_or(0, |m| m.version)
    }

    /// Starts a write transaction (see [`SqlMetaStore`] for the scheme).
    async fn write_tx(&self) -> Result<Tx, MetaError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(map_sqlx)
    }

    /// [`finish`] for a transaction from [`SqlMetaStore::write_tx`]: after
    /// a commit, and before the caller hears of it, the change epoch moves.
    async fn finish_write<T>(&self, tx: Tx, result: Result<T, MetaError>) -> Result<T, MetaError> {
        let committed = finish(tx, result).await?;
        if let Some(epoch) = &self.epoch {
            epoch.bump();
        }
        Ok(committed)
    }

    /// Starts a read-only transaction giving several statements one
    /// consistent snapshot.
    async fn read_tx(&self) -> Result<Tx, MetaError> {
        match self.backend {
            Backend::Sqlite => self.pool.begin().await,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
        }
        .map_err(map_sqlx)
    }

    /// Locks the repo row for the rest of the write transaction and returns
    /// its revision. `NotFound` if the repo does not exist.
    async fn lock_repo(&self, c: &mut AnyConnection, repo: RepoId) -> Result<Revision, MetaError> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT revision FROM repos WHERE id = $1",
            Backend::Postgres => "SELECT revision FROM repos WHERE id = $1 FOR NO KEY UPDATE",
        };
        let row = sqlx::query(sql)
            .bind(repo.0)
            .fetch_optional(&mut *c)
            .await
            .map_err(map_sqlx)?
            .ok_or_else(|| repo_not_found(repo))?;
        Ok(Revision(get(&row, "revision")?))
    }
}

/// Commits `tx` if `result` is `Ok`, rolls it back otherwise. Every write
/// path ends here, so a failed statement never leaves a transaction open on
/// a pooled connection.
async fn finish<T>(tx: Tx, result: Result<T, MetaError>) -> Result<T, MetaError> {
    match result {
        Ok(v) => {
            tx.commit().await.map_err(map_sqlx)?;
            Ok(v)
        }
        Err(e) => {
            if let Err(rb) = tx.rollback().await {
                tracing::warn!(error = %rb, "rollback failed after: {e}");
            }
            Err(e)
        }
    }
}

/// Adds `mode=rwc` (create if missing) unless a mode is given, and creates
/// the database file's directory.
fn prepare_sqlite_url(url: &str) -> Result<String, MetaError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(MetaError::Backend(format!(
            "SQLite URL {url:?} names no database file"
        )));
    }
    if is_sqlite_memory(url) {
        return Ok(url.to_string());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            MetaError::Backend(format!(
                "cannot create directory {} for the SQLite database: {e}",
                parent.display()
            ))
        })?;
    }
    let has_mode = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("mode=")));
    Ok(match (query, has_mode) {
        (_, true) => url.to_string(),
        (Some(_), false) => format!("{url}&mode=rwc"),
        (None, false) => format!("{url}?mode=rwc"),
    })
}

/// The database file of a prepared SQLite URL (as SQLite opens it:
/// relative to the working directory when relative).
fn sqlite_path(url: &str) -> String {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split_once('?').map_or(rest, |(p, _)| p).to_string()
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Per-connection SQLite settings (run on every new pooled connection).
async fn sqlite_session_setup(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    // busy_timeout first, so the statements below wait for locks too.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
         PRAGMA foreign_keys = ON; \
         PRAGMA synchronous = FULL; \
         PRAGMA mmap_size = 1073741824; \
         PRAGMA cache_size = -16384;"
    )))
    .execute(&mut *conn)
    .await?;
    // WAL is a property of the file; switching to it needs an exclusive
    // lock that busy_timeout does not wait for, so only switch if needed
    // and retry while another process holds the file.
    let mut attempts = 0;
    loop {
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if mode.eq_ignore_ascii_case("wal") || mode.eq_ignore_ascii_case("memory") {
            return Ok(());
        }
        match sqlx::query("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(row) => {
                let now: String = row.try_get(0)?;
                if now.eq_ignore_ascii_case("wal") {
                    return Ok(());
                }
                return Err(sqlx::Error::Configuration(
                    format!("SQLite refused journal_mode=WAL (still {now})").into(),
                ));
            }
            Err(e) if is_busy(&e) && attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

// ---- error mapping ----------------------------------------------------------

/// SQLite result codes (primary and extended) meaning "try again later".
const SQLITE_RETRYABLE: &[&str] = &[
    "5",   // SQLITE_BUSY
    "6",   // SQLITE_LOCKED
    "261", // SQLITE_BUSY_RECOVERY
    "262", // SQLITE_LOCKED_SHAREDCACHE
    "517", // SQLITE_BUSY_SNAPSHOT
    "773", // SQLITE_BUSY_TIMEOUT
];

/// PostgreSQL SQLSTATEs meaning "try again later".
fn pg_retryable(code: &str) -> bool {
    matches!(
        code,
        "40001" // serialization_failure
            | "40P01" // deadlock_detected
            | "55P03" // lock_not_available
            | "57P01" // admin_shutdown
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now
            | "53300" // too_many_connections
    ) || code.starts_with("08") // connection exceptions
}

fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| SQLITE_RETRYABLE.contains(&c.as_ref()) || pg_retryable(&c)),
        _ => false,
    }
}

/// Maps a driver error to the layer's error, keeping the driver's message.
/// Unique and foreign-key violations the caller expects are mapped at the
/// call site (to `AlreadyExists`, `NotFound`); one that arrives here is a
/// `Conflict`.
pub(crate) fn map_sqlx(e: sqlx::Error) -> MetaError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let msg = format!("{} (code {code})", db.message());
            if is_busy(&e) {
                MetaError::Unavailable(msg)
            } else {
                match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation
                    | sqlx::error::ErrorKind::ForeignKeyViolation => MetaError::Conflict(msg),
                    _ => MetaError::Backend(msg),
                }
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => MetaError::Unavailable(e.to_string()),
        _ => MetaError::Backend(e.to_string()),
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

fn repo_not_found(repo: RepoId) -> MetaError {
    MetaError::NotFound(format!("repository #{repo}"))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> MetaError {
    MetaError::Backend(format!("corrupt {what} in the metadata database: {e}"))
}

// ---- row decoding -----------------------------------------------------------

fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T, MetaError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(map_sqlx)
}

fn to_i64(v: u64, what: &str) -> Result<i64, MetaError> {
    i64::try_from(v)
        .map_err(|_| MetaError::Backend(format!("{what} {v} does not fit the database")))
}

fn to_json<T: serde::Serialize>(v: &T, what: &str) -> Result<String, MetaError> {
    serde_json::to_string(v).map_err(|e| MetaError::Backend(format!("cannot encode {what}: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> Result<T, MetaError> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn repo_from_row(row: &AnyRow) -> Result<Repo, MetaError> {
    let name: String = get(row, "name")?;
    let settings: String = get(row, "settings_json")?;
    Ok(Repo {
        id: RepoId(get(row, "id")?),
        name: RepoName::new(&name).map_err(|e| corrupt("repository name", e))?,
        settings: from_json(&settings, "repository settings")?,
        revision: Revision(get(row, "revision")?),
        removal_gen: get(row, "removal_gen")?,
        created_at: Timestamp(get(row, "created_at")?),
    })
}

/// A package row; its placements are filled in by the caller.
/// `SELECT` of every column [`record_from_row`] reads, from `packages`,
/// followed by `$rest` (a `WHERE` clause and its order).
macro_rules! select_packages {
    ($rest:literal) => {
        concat!(
            "SELECT id, repo_id, filename, size, md5, sha1, sha256, sha512, format, name, \
             version, arch, index_entry, fields_json, created_at FROM packages ",
            $rest
        )
    };
}

fn package_from_row(row: &AnyRow) -> Result<Package, MetaError> {
    record_from_row(row)?
        .into_package(Vec::new())
        .map_err(|e| corrupt("package fields", e))
}

fn record_from_row(row: &AnyRow) -> Result<PackageRecord, MetaError> {
    let filename: String = get(row, "filename")?;
    let sha256: String = get(row, "sha256")?;
    let format: String = get(row, "format")?;
    let size: i64 = get(row, "size")?;
    Ok(PackageRecord {
        id: PackageId(get(row, "id")?),
        repo_id: RepoId(get(row, "repo_id")?),
        filename: FileName::new(&filename).map_err(|e| corrupt("file name", e))?,
        size: u64::try_from(size).map_err(|e| corrupt("package size", e))?,
        hashes: Hashes {
            md5: get(row, "md5")?,
            sha1: get(row, "sha1")?,
            sha256: Sha256::parse(&sha256).ok_or_else(|| corrupt("sha256", &sha256))?,
            sha512: get(row, "sha512")?,
        },
        format: Format::parse(&format).ok_or_else(|| corrupt("package format", &format))?,
        name: get(row, "name")?,
        version: get(row, "version")?,
        arch: get(row, "arch")?,
        index_entry: get(row, "index_entry")?,
        fields_json: get(row, "fields_json")?,
        created_at: Timestamp(get(row, "created_at")?),
    })
}

fn placement_name(s: &str) -> Result<PlacementName, MetaError> {
    PlacementName::new(s).map_err(|e| corrupt("placement", e))
}

fn placement_from_row(row: &AnyRow) -> Result<Placement, MetaError> {
    Ok(Placement {
        distribution: placement_name(&get::<String>(row, "distribution")?)?,
        component: placement_name(&get::<String>(row, "component")?)?,
    })
}

fn publication_from_row(row: &AnyRow) -> Result<Publication, MetaError> {
    let manifest: String = get(row, "manifest_json")?;
    Ok(Publication {
        id: PublicationId(get(row, "id")?),
        repo_id: RepoId(get(row, "repo_id")?),
        revision: Revision(get(row, "revision")?),
        created_at: Timestamp(get(row, "created_at")?),
        manifest: from_json(&manifest, "publication manifest")?,
    })
}

fn token_from_row(row: &AnyRow) -> Result<TokenRecord, MetaError> {
    let scope: String = get(row, "scope_json")?;
    Ok(TokenRecord {
        id: TokenId(get(row, "id")?),
        name: get(row, "name")?,
        scope: from_json(&scope, "token scope")?,
        groups: from_json(&get::<String>(row, "groups_json")?, "token groups")?,
        created_at: Timestamp(get(row, "created_at")?),
    })
}

fn pointer_from_row(row: &AnyRow) -> Result<Option<(PublicationId, Revision)>, MetaError> {
    let id: Option<i64> = get(row, "publication_id")?;
    let rev: Option<i64> = get(row, "published_revision")?;
    Ok(match (id, rev) {
        (Some(id), Some(rev)) => Some((PublicationId(id), Revision(rev))),
        (None, None) => None,
        _ => return Err(corrupt("published pointer", "half set")),
    })
}

// ---- shared statements ------------------------------------------------------

/// The placements of one package, ordered by distribution and component.
async fn placements_of(
    c: &mut AnyConnection,
    package: PackageId,
) -> Result<Vec<Placement>, MetaError> {
    sqlx::query(
        "SELECT distribution, component FROM placements WHERE package_id = $1 \
         ORDER BY distribution, component",
    )
    .bind(package.0)
    .fetch_all(&mut *c)
    .await
    .map_err(map_sqlx)?
    .iter()
    .map(placement_from_row)
    .collect()
}

async fn package_by_filename(
    c: &mut AnyConnection,
    repo: RepoId,
    filename: &FileName,
) -> Result<Option<Package>, MetaError> {
    let Some(row) = sqlx::query(select_packages!("WHERE repo_id = $1 AND filename = $2"))
        .bind(repo.0)
        .bind(filename.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?
    else {
        return Ok(None);
    };
    let mut pkg = package_from_row(&row)?;
    pkg.placements = placements_of(c, pkg.id).await?;
    Ok(Some(pkg))
}

async fn package_by_id(c: &mut AnyConnection, id: PackageId) -> Result<Option<Package>, MetaError> {
    let Some(row) = sqlx::query(select_packages!("WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?
    else {
        return Ok(None);
    };
    let mut pkg = package_from_row(&row)?;
    pkg.placements = placements_of(c, pkg.id).await?;
    Ok(Some(pkg))
}

async fn current_pointer(
    c: &mut AnyConnection,
    repo: RepoId,
) -> Result<Option<(PublicationId, Revision)>, MetaError> {
    let row = sqlx::query("SELECT publication_id, published_revision FROM repos WHERE id = $1")
        .bind(repo.0)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?
        .ok_or_else(|| repo_not_found(repo))?;
    pointer_from_row(&row)
}

// ---- the write paths ---------------------------------------------------------

impl SqlMetaStore {
    /// The checks and inserts of one package inside the caller's
    /// transaction, which has locked the repo ([`Self::lock_repo`]) and read
    /// its `revision`. A change gets `revision + 1` in its outcome; the
    /// caller stores the repo's new revision ([`set_revision`]), once for a
    /// whole batch.
    #[allow(clippy::too_many_arguments)]
    async fn add_package_tx(
        &self,
        c: &mut AnyConnection,
        repo: RepoId,
        pkg: &NewPackage,
        placements: &[Placement],
        now: Timestamp,
        revision: Revision,
    ) -> Result<AddOutcome, MetaError> {
        let existing = self.check_package(c, repo, pkg, placements).await?;
        self.insert_package(c, repo, pkg, placements, now, revision, existing)
            .await
    }

    /// Whether `pkg` may be added, by reading only (so a refusal needs no
    /// rollback): `Conflict` if its file name, or its name, version and
    /// architecture in one of `placements`, is taken by other content.
    /// `Some(id)` when the very same file is stored already: under this
    /// file name, or (indexed formats) under another one with the same
    /// format, name, version, architecture and SHA-256. Without the second
    /// lookup the same bytes uploaded as `hello-copy.deb` after
    /// `hello_1.0_amd64.deb` became a second package, listed twice in
    /// `Packages` with only `Filename:` differing (issue 11).
    async fn check_package(
        &self,
        c: &mut AnyConnection,
        repo: RepoId,
        pkg: &NewPackage,
        placements: &[Placement],
    ) -> Result<Option<PackageId>, MetaError> {
        let wanted: BTreeSet<&Placement> = placements.iter().collect();
        let sha256 = pkg.hashes.sha256.hex();

        // Same file name: same content is an idempotent re-upload, other
        // content is a conflict.
        let existing =
            sqlx::query("SELECT id, sha256 FROM packages WHERE repo_id = $1 AND filename = $2")
                .bind(repo.0)
                .bind(pkg.filename.as_str())
                .fetch_optional(&mut *c)
                .await
                .map_err(map_sqlx)?;
        let existing_id = match existing {
            Some(row) => {
                let stored: String = get(&row, "sha256")?;
                if stored != sha256 {
                    return Err(MetaError::Conflict(format!(
                        "{} is already stored with other content (sha256 {stored}, upload has {sha256})",
                        pkg.filename
                    )));
                }
                Some(PackageId(get(&row, "id")?))
            }
            None if pkg.format != Format::File => {
                // The same bytes under another file name are the stored
                // package (a `File` is served by its name, so two names are
                // two files). Driven by the package identity index.
                sqlx::query(
                    "SELECT id FROM packages \
                     WHERE repo_id = $1 AND format = $2 AND name = $3 AND version = $4 \
                       AND arch = $5 AND sha256 = $6 \
                     ORDER BY id LIMIT 1",
                )
                .bind(repo.0)
                .bind(pkg.format.as_str())
                .bind(pkg.name.as_str())
                .bind(pkg.version.as_str())
                .bind(pkg.arch.as_str())
                .bind(sha256.as_str())
                .fetch_optional(&mut *c)
                .await
                .map_err(map_sqlx)?
                .map(|row| get(&row, "id").map(PackageId))
                .transpose()?
            }
            None => None,
        };

        // Indexed formats: one name/version/arch per placement, unless it
        // is the very same content.
        if pkg.format != Format::File {
            for p in &wanted {
                let clash = sqlx::query(
                    // Driven by the package identity index, then one
                    // probe of placements' (package_id, distribution,
                    // component) key: O(log n), not a walk over the
                    // distribution's placements.
                    "SELECT p.filename, p.sha256 FROM packages p \
                     WHERE p.repo_id = $1 AND p.format = $4 AND p.name = $5 \
                       AND p.version = $6 AND p.arch = $7 AND p.sha256 <> $8 \
                       AND EXISTS (SELECT 1 FROM placements pl WHERE pl.package_id = p.id \
                                   AND pl.distribution = $2 AND pl.component = $3) \
                     LIMIT 1",
                )
                .bind(repo.0)
                .bind(p.distribution.as_str())
                .bind(p.component.as_str())
                .bind(pkg.format.as_str())
                .bind(pkg.name.as_str())
                .bind(pkg.version.as_str())
                .bind(pkg.arch.as_str())
                .bind(sha256.as_str())
                .fetch_optional(&mut *c)
                .await
                .map_err(map_sqlx)?;
                if let Some(row) = clash {
                    let other: String = get(&row, "filename")?;
                    let other_sha: String = get(&row, "sha256")?;
                    return Err(MetaError::Conflict(format!(
                        "{} {} {} ({}) is already in {}/{} as {other} with other content \
                         (sha256 {other_sha}, upload has {sha256})",
                        pkg.name,
                        pkg.version,
                        pkg.arch,
                        pkg.format.as_str(),
                        p.distribution,
                        p.component
                    )));
                }
            }
        }

        Ok(existing_id)
    }

    /// The writes of an add that [`Self::check_package`] allowed; any
    /// error here is the transaction's (it may have written).
    #[allow(clippy::too_many_arguments)]
    async fn insert_package(
        &self,
        c: &mut AnyConnection,
        repo: RepoId,
        pkg: &NewPackage,
        placements: &[Placement],
        now: Timestamp,
        revision: Revision,
        existing_id: Option<PackageId>,
    ) -> Result<AddOutcome, MetaError> {
        let wanted: BTreeSet<&Placement> = placements.iter().collect();
        let sha256 = pkg.hashes.sha256.hex();
        let (package_id, created) = match existing_id {
            Some(id) => (id, false),
            None => {
                let row = sqlx::query(
                    "INSERT INTO packages (repo_id, filename, size, md5, sha1, sha256, sha512, \
                       format, name, version, arch, index_entry, fields_json, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     RETURNING id",
                )
                .bind(repo.0)
                .bind(pkg.filename.as_str())
                .bind(to_i64(pkg.size, "package size")?)
                .bind(pkg.hashes.md5.as_str())
                .bind(pkg.hashes.sha1.as_str())
                .bind(sha256.as_str())
                .bind(pkg.hashes.sha512.as_str())
                .bind(pkg.format.as_str())
                .bind(pkg.name.as_str())
                .bind(pkg.version.as_str())
                .bind(pkg.arch.as_str())
                .bind(pkg.index_entry.as_str())
                .bind(to_json(&pkg.fields, "package fields")?)
                .bind(now.0)
                .fetch_one(&mut *c)
                .await
                .map_err(map_sqlx)?;
                (PackageId(get(&row, "id")?), true)
            }
        };

        // New placements, in (distribution, component) order so their ids
        // are deterministic.
        let present: BTreeSet<Placement> = if created {
            BTreeSet::new()
        } else {
            placements_of(c, package_id).await?.into_iter().collect()
        };
        let mut added = 0;
        for p in wanted.iter().filter(|p| !present.contains(**p)) {
            sqlx::query(
                "INSERT INTO placements (repo_id, package_id, distribution, component) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(repo.0)
            .bind(package_id.0)
            .bind(p.distribution.as_str())
            .bind(p.component.as_str())
            .execute(&mut *c)
            .await
            .map_err(map_sqlx)?;
            added += 1;
        }

        let changed = created || added > 0;
        let revision = if changed {
            Revision(revision.0 + 1)
        } else {
            revision
        };
        let package = if created {
            // Just inserted: nothing to read back.
            Package {
                id: package_id,
                repo_id: repo,
                filename: pkg.filename.clone(),
                size: pkg.size,
                hashes: pkg.hashes.clone(),
                format: pkg.format,
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                arch: pkg.arch.clone(),
                index_entry: pkg.index_entry.clone(),
                fields: pkg.fields.clone(),
                placements: wanted.into_iter().cloned().collect(),
                created_at: now,
            }
        } else {
            // By id: the stored file name may not be this upload's.
            package_by_id(c, package_id).await?.ok_or_else(|| {
                MetaError::Backend(format!(
                    "{} vanished inside its own transaction",
                    pkg.filename
                ))
            })?
        };
        Ok(AddOutcome {
            package,
            created,
            changed,
            revision,
        })
    }

    async fn publish_tx(
        &self,
        c: &mut AnyConnection,
        repo: RepoId,
        expected: Option<PublicationId>,
        revision: Revision,
        manifest: &Manifest,
        now: Timestamp,
    ) -> Result<PublicationId, MetaError> {
        self.lock_repo(c, repo).await?;
        // Cheap early answer: do not write a large manifest just to roll it
        // back. The compare-and-set below is what guarantees correctness.
        let current = current_pointer(c, repo).await?;
        if current.map(|(id, _)| id) != expected {
            return Err(MetaError::PublishConflict { current });
        }
        let row = sqlx::query(
            "INSERT INTO publications (repo_id, revision, manifest_json, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(repo.0)
        .bind(revision.0)
        .bind(to_json(manifest, "publication manifest")?)
        .bind(now.0)
        .fetch_one(&mut *c)
        .await
        .map_err(map_sqlx)?;
        let id = PublicationId(get(&row, "id")?);
        let cas = match self.backend {
            Backend::Sqlite => {
                "UPDATE repos SET publication_id = $1, published_revision = $2 \
                 WHERE id = $3 AND publication_id IS $4"
            }
            Backend::Postgres => {
                "UPDATE repos SET publication_id = $1, published_revision = $2 \
                 WHERE id = $3 AND publication_id IS NOT DISTINCT FROM $4"
            }
        };
        let moved = sqlx::query(cas)
            .bind(id.0)
            .bind(revision.0)
            .bind(repo.0)
            .bind(expected.map(|p| p.0))
            .execute(&mut *c)
            .await
            .map_err(map_sqlx)?
            .rows_affected();
        if moved != 1 {
            return Err(MetaError::PublishConflict {
                current: current_pointer(c, repo).await?,
            });
        }
        Ok(id)
    }
}

/// Bumps the repo revision (and the removal generation if `removal`);
/// returns the new revision.
/// Stores the repo's revision after changes counted by the caller inside
/// its transaction, which holds the repo's lock.
async fn set_revision(
    c: &mut AnyConnection,
    repo: RepoId,
    revision: Revision,
) -> Result<(), MetaError> {
    let n = sqlx::query("UPDATE repos SET revision = $2 WHERE id = $1")
        .bind(repo.0)
        .bind(revision.0)
        .execute(&mut *c)
        .await
        .map_err(map_sqlx)?
        .rows_affected();
    if n == 0 {
        return Err(repo_not_found(repo));
    }
    Ok(())
}

async fn bump(c: &mut AnyConnection, repo: RepoId, removal: bool) -> Result<Revision, MetaError> {
    let sql = if removal {
        "UPDATE repos SET revision = revision + 1, removal_gen = removal_gen + 1 \
         WHERE id = $1 RETURNING revision"
    } else {
        "UPDATE repos SET revision = revision + 1 WHERE id = $1 RETURNING revision"
    };
    let row = sqlx::query(sql)
        .bind(repo.0)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?
        .ok_or_else(|| repo_not_found(repo))?;
    Ok(Revision(get(&row, "revision")?))
}

impl MetaStore for SqlMetaStore {
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// SQLite: the epoch file beside the database (see `meta/epoch.rs`), or
    /// an atomic for a private in-memory database. PostgreSQL: `None`; its
    /// nodes are on other machines, with no shared file to read.
    fn change_epoch(&self) -> Option<u64> {
        self.epoch.as_ref()?.read()
    }
}

// The aggregates' trait implementations, after the helpers and macros
// above that they use.
mod keys;
mod packages;
mod publications;
mod repos;
mod tokens;

#[cfg(test)]
mod tests {
    use super::*;

    /// The durability and concurrency settings hold on every pooled
    /// connection, not only the first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_connections_are_configured() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("depot.db").display());
        let store = SqlMetaStore::connect(&url).await.unwrap();
        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(store.pool.acquire().await.unwrap());
        }
        for c in &mut conns {
            let mut get = async |pragma: &'static str| -> String {
                let row = sqlx::query(pragma).fetch_one(&mut **c).await.unwrap();
                match row.try_get::<String, _>(0) {
                    Ok(s) => s,
                    Err(_) => row.try_get::<i64, _>(0).unwrap().to_string(),
                }
            };
            assert_eq!(get("PRAGMA journal_mode").await, "wal");
            assert_eq!(get("PRAGMA synchronous").await, "2", "synchronous=FULL");
            assert_eq!(get("PRAGMA foreign_keys").await, "1");
            assert_eq!(get("PRAGMA busy_timeout").await, "10000");
        }
    }

    #[test]
    fn sqlite_urls_create_if_missing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/b/depot.db");
        let url = format!("sqlite://{}", db.display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(db.parent().unwrap().is_dir(), "the directory is created");
        assert_eq!(
            prepare_sqlite_url(&format!("{url}?cache=private")).unwrap(),
            format!("{url}?cache=private&mode=rwc")
        );
        assert_eq!(
            prepare_sqlite_url(&format!("{url}?mode=ro")).unwrap(),
            format!("{url}?mode=ro")
        );
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        assert!(prepare_sqlite_url("sqlite://").is_err());
    }

    #[test]
    fn driver_errors_map_to_retryable_or_not() {
        assert!(matches!(
            map_sqlx(sqlx::Error::PoolTimedOut),
            MetaError::Unavailable(_)
        ));
        assert!(matches!(
            map_sqlx(sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused
            ))),
            MetaError::Unavailable(_)
        ));
        assert!(matches!(
            map_sqlx(sqlx::Error::RowNotFound),
            MetaError::Backend(_)
        ));
        assert!(pg_retryable("40001") && pg_retryable("40P01") && pg_retryable("08006"));
        assert!(!pg_retryable("23505"));
    }
}
