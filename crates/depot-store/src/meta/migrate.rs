//! The embedded schema migration runner.
//!
//! Each backend has its own numbered SQL files (`migrations/{sqlite,postgres}/
//! NNNN_name.sql`), embedded at compile time. A migration is applied in one
//! transaction together with its row in `schema_migrations`, so it is
//! applied exactly once or not at all; re-running is a no-op. Concurrent
//! starters (several nodes, or the CLI next to a server) serialise on a
//! lock: `BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on
//! PostgreSQL. A checksum of each file is recorded, so an edited migration
//! that was already applied is reported instead of silently diverging, and
//! a database migrated by a newer depot is refused.

use super::{Backend, map_sqlx};
use depot_core::digest::Sha256;
use depot_core::meta::MetaError;
use depot_core::time::Timestamp;
use sqlx::{AnyConnection, AnyPool, Row};

/// One embedded migration.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "images",
        sql: include_str!("../../migrations/sqlite/0002_images.sql"),
    },
];

const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "images",
        sql: include_str!("../../migrations/postgres/0002_images.sql"),
    },
];

/// Arbitrary constant key of the PostgreSQL advisory lock held while
/// migrating ("depot" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x0064_6570_6f74;

pub(crate) fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

/// Applies every migration of `backend` not yet applied, in order. Returns
/// the versions applied by this call.
pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<Vec<i64>, MetaError> {
    let all = migrations(backend);
    let latest = all.last().map_or(0, |m| m.version);
    let mut applied = Vec::new();
    for m in all {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => pool.begin().await,
        }
        .map_err(map_sqlx)?;
        let result = apply_one(&mut tx, backend, m, latest).await;
        match result {
            Ok(did) => {
                tx.commit().await.map_err(map_sqlx)?;
                if did {
                    tracing::info!(
                        backend = backend.name(),
                        version = m.version,
                        name = m.name,
                        "applied schema migration"
                    );
                    applied.push(m.version);
                }
            }
            Err(e) => {
                if let Err(rb) = tx.rollback().await {
                    tracing::warn!(error = %rb, "rollback of failed migration failed");
                }
                return Err(e);
            }
        }
    }
    Ok(applied)
}

/// Applies `m` unless it is recorded already. True if it was applied now.
async fn apply_one(
    c: &mut AnyConnection,
    backend: Backend,
    m: &Migration,
    latest: i64,
) -> Result<bool, MetaError> {
    if backend == Backend::Postgres {
        // Serialises concurrent migrators (CREATE TABLE IF NOT EXISTS is
        // not safe against itself on PostgreSQL). `pg_advisory_xact_lock`
        // returns void, which the Any driver cannot decode; select a
        // constant instead.
        sqlx::query("SELECT 1::BIGINT AS locked FROM pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *c)
            .await
            .map_err(map_sqlx)?;
    }
    sqlx::raw_sql(CREATE_TABLE)
        .execute(&mut *c)
        .await
        .map_err(map_sqlx)?;

    let newest: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM schema_migrations")
        .fetch_one(&mut *c)
        .await
        .map_err(map_sqlx)?
        .try_get("v")
        .map_err(map_sqlx)?;
    if let Some(newest) = newest
        && newest > latest
    {
        return Err(MetaError::Backend(format!(
            "database schema is at version {newest}, newer than this depot knows ({latest}); \
             upgrade depot"
        )));
    }

    let checksum = Sha256::of(m.sql.as_bytes()).hex();
    let recorded = sqlx::query("SELECT checksum FROM schema_migrations WHERE version = $1")
        .bind(m.version)
        .fetch_optional(&mut *c)
        .await
        .map_err(map_sqlx)?;
    if let Some(row) = recorded {
        let stored: String = row.try_get("checksum").map_err(map_sqlx)?;
        if stored != checksum {
            return Err(MetaError::Backend(format!(
                "schema migration {:04}_{} was changed after it was applied \
                 (recorded checksum {stored}, embedded {checksum})",
                m.version, m.name
            )));
        }
        return Ok(false);
    }

    sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql))
        .execute(&mut *c)
        .await
        .map_err(|e| {
            let inner = map_sqlx(e);
            MetaError::Backend(format!(
                "schema migration {:04}_{} failed: {inner}",
                m.version, m.name
            ))
        })?;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(m.version)
    .bind(m.name)
    .bind(checksum)
    .bind(Timestamp::now().0)
    .execute(&mut *c)
    .await
    .map_err(map_sqlx)?;
    Ok(true)
}
