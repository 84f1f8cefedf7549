//! SqlMetaStore: the conformance suite on SQLite and on a real PostgreSQL,
//! plus SQLite multi-process sharing, migrations and connection handling.
//!
//! PostgreSQL: `DEPOT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) must reach a server whose user
//! may create databases. Each PostgreSQL test creates a throw-away database
//! `depot_test_<pid>_<time>` (one schema per fresh store inside it) and
//! drops it at the end. If the server is unreachable the test fails, unless
//! `DEPOT_SKIP_POSTGRES=1`.

use depot_core::digest::Hashes;
use depot_core::meta::{MetaError, MetaStore, PackageStore, RepoStore};
use depot_core::model::*;
use depot_core::names::{FileName, PlacementName, RepoName};
use depot_core::time::Timestamp;
use depot_store::SqlMetaStore;
use depot_store::conformance::meta_store_suite;
use futures::FutureExt;
use sqlx::{Connection, Row};
use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const T0: Timestamp = Timestamp(1_795_316_688);

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn deb(filename: &str) -> NewPackage {
    NewPackage {
        filename: FileName::new(filename).unwrap(),
        size: filename.len() as u64,
        hashes: Hashes::of(filename.as_bytes()),
        format: Format::Deb,
        name: filename.split('_').next().unwrap().to_string(),
        version: "1".into(),
        arch: "all".into(),
        index_entry: format!("Package: {filename}"),
        fields: serde_json::json!({}),
    }
}

fn stable_main() -> Vec<Placement> {
    vec![Placement {
        distribution: PlacementName::new("stable").unwrap(),
        component: PlacementName::new("main").unwrap(),
    }]
}

// ---- SQLite ----------------------------------------------------------------------

/// Runs one conformance check on a fresh SQLite database in a file.
async fn with_sqlite_file<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn MetaStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = SqlMetaStore::connect(&sqlite_url(&dir.path().join("depot.db")))
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    check(Arc::new(store)).await;
}

/// Runs one conformance check on a fresh in-memory SQLite database.
async fn with_sqlite_in_memory<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn MetaStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(Arc::new(
        SqlMetaStore::connect("sqlite::memory:").await.unwrap(),
    ))
    .await;
}

/// The conformance suite, one test per check (`conformance_sqlite::tokens`, ...).
mod conformance_sqlite {
    depot_store::meta_store_tests!(super::with_sqlite_file);
}

mod conformance_sqlite_in_memory {
    depot_store::meta_store_tests!(super::with_sqlite_in_memory);
}

/// The whole suite as one call, as a backend outside this crate would run
/// it (and a check that the suite and the per-check tests list the same
/// checks: both come from one list).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_suite_runs_whole_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    meta_store_suite(|| {
        let path = dir
            .path()
            .join(format!("db{}/depot.db", n.fetch_add(1, Ordering::Relaxed)));
        async move {
            let store = SqlMetaStore::connect(&sqlite_url(&path)).await.unwrap();
            Arc::new(store) as Arc<dyn MetaStore>
        }
    })
    .await;
}

/// Two pools on one file, like `depot add` next to `depot serve`: heavy
/// concurrent writing through both never surfaces SQLITE_BUSY and loses
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sqlite_stores_on_one_file_write_concurrently() {
    const TASKS_PER_STORE: usize = 8;
    const EACH: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("depot.db"));
    let (a, b) = tokio::join!(SqlMetaStore::connect(&url), SqlMetaStore::connect(&url));
    let stores: [Arc<dyn MetaStore>; 2] = [Arc::new(a.unwrap()), Arc::new(b.unwrap())];
    let repo = stores[0]
        .create_repo(
            &RepoName::new("shared").unwrap(),
            &RepoSettings::default(),
            T0,
        )
        .await
        .unwrap();
    let rid = repo.id;

    let mut tasks = Vec::new();
    for (si, store) in stores.iter().enumerate() {
        for t in 0..TASKS_PER_STORE {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let mut revisions = Vec::new();
                for i in 0..EACH {
                    let pkg = deb(&format!("s{si}t{t}i{i}_1_all.deb"));
                    let out = store
                        .add_package(rid, &pkg, &stable_main(), T0)
                        .await
                        .unwrap_or_else(|e| panic!("store {si} task {t}: {e}"));
                    revisions.push(out.revision);
                    // Interleave publishes and token writes with the adds.
                    if i % 3 == 0 {
                        loop {
                            let expected = store.published_pointer(rid).await.unwrap();
                            match store
                                .publish(
                                    rid,
                                    expected.map(|p| p.0),
                                    out.revision,
                                    &Manifest::default(),
                                    T0,
                                )
                                .await
                            {
                                Ok(_) => break,
                                Err(MetaError::PublishConflict { .. }) => continue,
                                Err(e) => panic!("store {si} task {t}: publish: {e}"),
                            }
                        }
                    }
                    let secret = Hashes::of(format!("{si}-{t}-{i}").as_bytes()).sha256;
                    store
                        .create_token("t", &secret, &TokenScope::Admin, T0)
                        .await
                        .unwrap_or_else(|e| panic!("store {si} task {t}: token: {e}"));
                }
                revisions
            }));
        }
    }
    let mut all = BTreeSet::new();
    for t in tasks {
        for rev in t.await.expect("writer task panicked") {
            assert!(all.insert(rev), "revision {rev:?} handed out twice");
        }
    }
    let total = 2 * TASKS_PER_STORE * EACH;
    assert_eq!(all.len(), total);
    for store in &stores {
        assert_eq!(store.list_packages(repo.id).await.unwrap().len(), total);
        assert_eq!(store.count_tokens().await.unwrap(), total as u64);
        let r = store.get_repo(&repo.name).await.unwrap().unwrap();
        assert_eq!(r.revision, Revision(total as i64));
    }
}

/// The change epoch is what lets a server reuse its cached repos and
/// pointers while the CLI (another process, another store) writes to the
/// same data directory: the other store sees the write move it, and
/// reconnecting does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_through_one_store_moves_the_epoch_the_other_reads() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("depot.db"));
    let server = SqlMetaStore::connect(&url).await.unwrap();
    let cli = SqlMetaStore::connect(&url).await.unwrap();
    let before = server.change_epoch().expect("SQLite files have an epoch");
    assert_eq!(cli.change_epoch(), Some(before), "one file, one epoch");
    cli.create_repo(&RepoName::new("r").unwrap(), &RepoSettings::default(), T0)
        .await
        .unwrap();
    let after = server.change_epoch().unwrap();
    assert_ne!(after, before, "the server sees the CLI's write");
    drop(SqlMetaStore::connect(&url).await.unwrap());
    assert_eq!(
        server.change_epoch(),
        Some(after),
        "connecting is not a write"
    );
    assert!(dir.path().join("depot.db.epoch").exists());
}

#[tokio::test]
async fn migrations_run_once_and_reconnecting_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/depot.db");
    let url = sqlite_url(&path);
    let s = SqlMetaStore::connect(&url).await.unwrap();
    assert!(
        path.is_file(),
        "the database file and its directory are created"
    );
    let applied: Vec<String> = s
        .applied_migrations()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        applied,
        ["0001_init", "0002_images"],
        "a fresh database gets every migration"
    );
    assert_eq!(s.schema_version(), 2);
    s.create_repo(
        &RepoName::new("kept").unwrap(),
        &RepoSettings::default(),
        T0,
    )
    .await
    .unwrap();
    drop(s);
    let s = SqlMetaStore::connect(&url).await.unwrap();
    assert!(
        s.applied_migrations().is_empty(),
        "reconnecting applies nothing"
    );
    assert!(
        s.get_repo(&RepoName::new("kept").unwrap())
            .await
            .unwrap()
            .is_some()
    );

    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let rows = sqlx::query("SELECT version, name FROM schema_migrations")
        .fetch_all(&mut c)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "each migration is recorded once");
    assert_eq!(rows[0].get::<i64, _>("version"), 1);
    assert_eq!(rows[0].get::<String, _>("name"), "init");
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut c)
        .await
        .unwrap()
        .get(0);
    assert_eq!(journal, "wal", "the database file is in WAL mode");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("depot.db"));
    drop(SqlMetaStore::connect(&url).await.unwrap());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', '', 0)",
    )
    .execute(&mut c)
    .await
    .unwrap();
    match SqlMetaStore::connect(&url).await {
        Err(MetaError::Backend(msg)) => assert!(msg.contains("999"), "{msg}"),
        other => panic!(
            "expected a schema-too-new error, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn an_edited_migration_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("depot.db"));
    drop(SqlMetaStore::connect(&url).await.unwrap());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        .execute(&mut c)
        .await
        .unwrap();
    match SqlMetaStore::connect(&url).await {
        Err(MetaError::Backend(msg)) => {
            assert!(msg.contains("changed after it was applied"), "{msg}")
        }
        other => panic!("expected a checksum error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn bad_urls_are_errors() {
    for url in ["mysql://x/y", "depot.db", "sqlite:"] {
        match SqlMetaStore::connect(url).await {
            Err(MetaError::Backend(_)) => {}
            other => panic!("{url}: expected Backend, got {:?}", other.map(|_| ())),
        }
    }
    // A database that cannot be reached is Unavailable (may be retried).
    match SqlMetaStore::connect("postgres://depot@127.0.0.1:1/none?connect_timeout=2").await {
        Err(MetaError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
    }
}

/// A write that fails (conflict) must roll back and hand the connection
/// back clean: the next writers, in this pool and in another, proceed at
/// once instead of waiting on a leaked write lock.
#[tokio::test]
async fn failed_writes_release_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir.path().join("depot.db"));
    let a = SqlMetaStore::connect(&url).await.unwrap();
    let b = SqlMetaStore::connect(&url).await.unwrap();
    let repo = a
        .create_repo(&RepoName::new("r").unwrap(), &RepoSettings::default(), T0)
        .await
        .unwrap();
    let pkg = deb("a_1_all.deb");
    a.add_package(repo.id, &pkg, &stable_main(), T0)
        .await
        .unwrap();
    let mut evil = pkg.clone();
    evil.hashes = Hashes::of(b"other");
    for _ in 0..20 {
        assert!(matches!(
            a.add_package(repo.id, &evil, &stable_main(), T0).await,
            Err(MetaError::Conflict(_))
        ));
    }
    let started = std::time::Instant::now();
    b.add_package(repo.id, &deb("b_1_all.deb"), &stable_main(), T0)
        .await
        .unwrap();
    a.add_package(repo.id, &deb("c_1_all.deb"), &stable_main(), T0)
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "writers waited {:?}: a failed transaction kept the lock",
        started.elapsed()
    );
}

// ---- PostgreSQL --------------------------------------------------------------------

fn pg_admin_url() -> String {
    std::env::var("DEPOT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// `url` with its database replaced by `db` and, if given, a search path.
fn pg_url(base: &str, db: &str, schema: Option<&str>) -> String {
    let mut u = url::Url::parse(base).expect("DEPOT_TEST_POSTGRES_URL is a URL");
    u.set_path(&format!("/{db}"));
    if let Some(schema) = schema {
        u.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={schema}"));
    }
    u.to_string()
}

/// One throw-away database per test run (`depot_test_<pid>_<time>`), with
/// one schema per fresh store inside it (creating a schema is cheap;
/// creating and dropping a database costs a checkpoint each). The database
/// is dropped at the end, also when the test panicked.
struct PgScratch {
    /// Connected to the database named by DEPOT_TEST_POSTGRES_URL.
    admin: sqlx::PgPool,
    /// Connected to the throw-away database.
    scratch: sqlx::PgPool,
    db: String,
    schemas: AtomicUsize,
}

impl PgScratch {
    /// None if PostgreSQL is unreachable and DEPOT_SKIP_POSTGRES=1.
    async fn create() -> Option<Self> {
        let base = pg_admin_url();
        let admin = match sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect(&base)
            .await
        {
            Ok(p) => p,
            Err(e) if std::env::var("DEPOT_SKIP_POSTGRES").as_deref() == Ok("1") => {
                eprintln!("skipping PostgreSQL tests (DEPOT_SKIP_POSTGRES=1): {e}");
                return None;
            }
            Err(e) => panic!(
                "PostgreSQL is unreachable at {base}: {e}\n\
                 Start it (pg_ctlcluster 15 main start), point DEPOT_TEST_POSTGRES_URL at one, \
                 or set DEPOT_SKIP_POSTGRES=1 to skip the PostgreSQL tests."
            ),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let db = format!(
            "depot_test_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {db}: {e}"));
        let scratch = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&pg_url(&base, &db, None))
            .await
            .unwrap_or_else(|e| panic!("connecting to {db}: {e}"));
        Some(PgScratch {
            admin,
            scratch,
            db,
            schemas: AtomicUsize::new(0),
        })
    }

    /// The URL of a new, empty schema in the scratch database.
    async fn fresh_url(&self) -> String {
        let schema = format!("s{}", self.schemas.fetch_add(1, Ordering::Relaxed));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&self.scratch)
            .await
            .unwrap_or_else(|e| panic!("CREATE SCHEMA {schema}: {e}"));
        pg_url(&pg_admin_url(), &self.db, Some(&schema))
    }

    /// Runs `test`, then drops the scratch database, also when it panicked.
    async fn run<F: std::future::Future<Output = ()>>(&self, test: F) {
        let result = AssertUnwindSafe(test).catch_unwind().await;
        self.scratch.close().await;
        if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.db
        )))
        .execute(&self.admin)
        .await
        {
            eprintln!("warning: could not drop test database {}: {e}", self.db);
        }
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs one conformance check on a fresh store in a throw-away PostgreSQL
/// database.
async fn with_postgres<F, Fut>(check: F)
where
    F: FnOnce(Arc<dyn MetaStore>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    pg.run(async {
        let url = pg.fresh_url().await;
        let store = SqlMetaStore::connect(&url).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        check(Arc::new(store)).await;
    })
    .await;
}

mod conformance_postgres {
    depot_store::meta_store_tests!(super::with_postgres);
}

/// Several nodes starting at once on a fresh database all migrate without
/// error (the advisory lock serialises them), and the schema is applied
/// once. Then two nodes write concurrently to one repo.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_start_and_write_concurrently() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    pg.run(async {
        let url = pg.fresh_url().await;
        let nodes = futures::future::join_all((0..4).map(|_| SqlMetaStore::connect(&url))).await;
        let nodes: Vec<SqlMetaStore> = nodes
            .into_iter()
            .map(|n| n.expect("concurrent start"))
            .collect();
        let applied: usize = nodes.iter().map(|n| n.applied_migrations().len()).sum();
        assert_eq!(
            applied, 2,
            "each migration is reported applied by exactly one node"
        );
        let nodes: Vec<Arc<dyn MetaStore>> = nodes
            .into_iter()
            .map(|n| Arc::new(n) as Arc<dyn MetaStore>)
            .collect();
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM schema_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get("n");
        assert_eq!(n, 2);

        let repo = nodes[0]
            .create_repo(&RepoName::new("r").unwrap(), &RepoSettings::default(), T0)
            .await
            .unwrap();
        let rid = repo.id;
        let mut tasks = Vec::new();
        for (ni, node) in nodes.iter().enumerate() {
            for t in 0..4 {
                let node = Arc::clone(node);
                tasks.push(tokio::spawn(async move {
                    let mut revs = Vec::new();
                    for i in 0..5 {
                        let pkg = deb(&format!("n{ni}t{t}i{i}_1_all.deb"));
                        revs.push(
                            node.add_package(rid, &pkg, &stable_main(), T0)
                                .await
                                .unwrap()
                                .revision,
                        );
                    }
                    revs
                }));
            }
        }
        let mut revs = BTreeSet::new();
        for t in tasks {
            for r in t.await.unwrap() {
                assert!(revs.insert(r), "revision {r:?} handed out twice");
            }
        }
        assert_eq!(revs.len(), 80);
        // Placement ids follow commit order within the repo: reading "after
        // the id of row k" always gives exactly the rows after k.
        let rows = nodes[1]
            .index_rows(repo.id, Format::Deb, PlacementId(0))
            .await
            .unwrap();
        assert_eq!(rows.len(), 80);
        drop(c);
    })
    .await;
}

/// Regression: `index_rows` ran as a cached generic plan. Planned on a
/// connection while the tables were nearly empty (a new installation;
/// autovacuum had not analysed them yet, or is off), the plan joined by
/// scanning all of `packages` once per placement, and every publish of a
/// 2,000-package repo spent seconds in it (P3 on PostgreSQL fell from 47 to
/// 9 uploads/s as the repo grew).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_index_rows_stays_fast_as_a_new_repo_grows() {
    let Some(pg) = PgScratch::create().await else {
        return;
    };
    pg.run(async {
        let store = SqlMetaStore::connect(&pg.fresh_url().await).await.unwrap();
        let repo = store
            .create_repo(
                &RepoName::new("grows").unwrap(),
                &RepoSettings::default(),
                T0,
            )
            .await
            .unwrap();
        store
            .add_package(repo.id, &deb("first_1_all.deb"), &stable_main(), T0)
            .await
            .unwrap();
        // After five executions on a connection, a prepared statement may
        // switch to its generic plan: run it often enough on every pooled
        // connection there may be.
        for _ in 0..60 {
            for format in [Format::Rpm, Format::Deb] {
                store
                    .index_rows(repo.id, format, PlacementId(0))
                    .await
                    .unwrap();
            }
        }
        for batch in 0..6 {
            let items: Vec<(NewPackage, Vec<Placement>)> = (0..500)
                .map(|i| (deb(&format!("p{batch}x{i}_1_all.deb")), stable_main()))
                .collect();
            for r in store.add_packages(repo.id, &items, T0).await.unwrap() {
                r.unwrap();
            }
        }
        let started = std::time::Instant::now();
        for _ in 0..3 {
            // No rpm at all: the whole repo is scanned for none.
            let rows = store
                .index_rows(repo.id, Format::Rpm, PlacementId(0))
                .await
                .unwrap();
            assert!(rows.is_empty());
            let rows = store
                .index_rows(repo.id, Format::Deb, PlacementId(0))
                .await
                .unwrap();
            assert_eq!(rows.len(), 3001);
        }
        // Milliseconds each when planned well; the bad plan took seconds.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "6 index_rows over 3,001 placements took {:?}",
            started.elapsed()
        );
    })
    .await;
}
