//! `Depot::gc`: what it deletes, what it keeps, and that it is safe while
//! uploads and publishes run. Runs on local disk, in memory and on S3
//! (moto).

use bytes::Bytes;
use depot_core::blob::BlobStore;
use depot_core::{FileName, RepoName, RepoSettings, Sha256, Timestamp};
use depot_service::{Depot, ServiceConfig, StoreUrls, UploadOptions};
use depot_store::conformance::MotoServer;
use depot_store::{ObjectBlobStore, SqlMetaStore};
use depot_testkit::DebBuilder;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
/// gc's grace period in the concurrent tests.
const GRACE: Duration = Duration::from_secs(4);

fn repo(name: &str) -> RepoName {
    RepoName::new(name).unwrap()
}

fn config() -> ServiceConfig {
    ServiceConfig {
        xz_delay: None,
        ..ServiceConfig::default()
    }
}

async fn open_on(dir: &Path, blobs: Arc<dyn BlobStore>, config: ServiceConfig) -> Depot {
    let meta = SqlMetaStore::connect(&format!("sqlite://{}", dir.join("depot.db").display()))
        .await
        .unwrap();
    let config = ServiceConfig {
        tmp_dir: dir.join("tmp"),
        ..config
    };
    Depot::open(Arc::new(meta), blobs, config).await.unwrap()
}

async fn upload(depot: &Depot, r: &str, deb: &DebBuilder) -> FileName {
    let name = FileName::new(&deb.file_name()).unwrap();
    depot
        .upload(&repo(r), &name, &deb.build()[..], &UploadOptions::default())
        .await
        .unwrap_or_else(|e| panic!("uploading {name}: {e}"));
    name
}

/// Every file of the repo's current publication, read through the service,
/// with the SHA-256 its manifest promises.
async fn check_publication(depot: &Depot, r: &str) -> BTreeMap<String, Vec<u8>> {
    let repo_row = depot.repo(&repo(r)).await.unwrap();
    let (id, _) = depot
        .meta()
        .published_pointer(repo_row.id)
        .await
        .unwrap()
        .expect("published");
    let publication = depot.meta().get_publication(id).await.unwrap().unwrap();
    let mut out = BTreeMap::new();
    for (path, file) in &publication.manifest.files {
        let bytes = depot
            .published_file(&repo(r), path, None)
            .await
            .unwrap_or_else(|e| panic!("{r}/{path} does not resolve: {e}"))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{r}/{path} does not read: {e}"));
        assert_eq!(
            Sha256::of(&bytes),
            file.hashes.sha256,
            "{r}/{path} has the content its manifest names"
        );
        out.insert(path.clone(), bytes);
    }
    assert!(
        out.contains_key("dists/stable/InRelease"),
        "{:?}",
        out.keys()
    );
    out
}

/// Every package of the repo downloads with its recorded digest.
async fn check_packages(depot: &Depot, r: &str) -> usize {
    let packages = depot.list_packages(&repo(r)).await.unwrap();
    for p in &packages {
        let bytes = depot
            .download(&repo(r), &p.filename, None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", p.filename))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", p.filename));
        assert_eq!(Sha256::of(&bytes), p.hashes.sha256, "{}", p.filename);
    }
    packages.len()
}

/// The scenario of the first test, on any blob store.
async fn orphans_go_references_stay(depot: &Depot) {
    let blobs = depot.blobs().clone();
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    for i in 0..3 {
        upload(
            depot,
            "r",
            &DebBuilder::new(&format!("kept{i}"), "1.0", "amd64"),
        )
        .await;
    }
    let removed = upload(depot, "r", &DebBuilder::new("removed", "1.0", "amd64")).await;
    let removed_digest = depot
        .package(&repo("r"), &removed)
        .await
        .unwrap()
        .hashes
        .sha256;
    depot.remove(&repo("r"), &removed).await.unwrap();
    // A blob nothing ever referenced (an upload that crashed before its row
    // was committed).
    let stray = Bytes::from_static(b"a crashed upload's blob");
    let stray_digest = Sha256::of(&stray);
    blobs.put_bytes(&stray_digest, stray).await.unwrap();
    let before = blobs.list().await.unwrap();
    let files_before = check_publication(depot, "r").await;

    // With a real clock everything is younger than the grace: nothing goes.
    let report = depot.gc(HOUR).await.unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    assert_eq!(report.blobs, before.len());
    assert!(
        report.young >= 2,
        "the stray and the removed package: {report:?}"
    );
    assert_eq!(blobs.list().await.unwrap(), before);

    // Two hours later: the orphans and the chunks of superseded
    // publications go, everything referenced stays.
    let later = Timestamp(Timestamp::now().0 + 2 * 3600);
    let report = depot.gc_at(HOUR, later).await.unwrap();
    assert!(report.deleted >= 2, "{report:?}");
    assert!(report.publications_pruned > 0, "{report:?}");
    assert_eq!(
        report.deleted + report.referenced + report.young + report.refreshed,
        report.blobs
    );
    assert_eq!(report.young + report.refreshed, 0, "{report:?}");
    let after = blobs.list().await.unwrap();
    assert_eq!(after.len(), before.len() - report.deleted);
    let deleted_bytes: u64 = before
        .iter()
        .filter(|b| !after.contains(b))
        .map(|b| b.size)
        .sum();
    assert_eq!(report.deleted_bytes, deleted_bytes);
    assert_eq!(
        blobs.size(&stray_digest).await.unwrap(),
        None,
        "stray blob deleted"
    );
    assert_eq!(
        blobs.size(&removed_digest).await.unwrap(),
        None,
        "removed package's blob deleted"
    );
    assert_eq!(check_packages(depot, "r").await, 3);
    assert_eq!(
        check_publication(depot, "r").await,
        files_before,
        "the current publication is untouched"
    );

    // A second run finds nothing more to do.
    let again = depot.gc_at(HOUR, later).await.unwrap();
    assert_eq!(again.deleted, 0, "{again:?}");
    assert_eq!(again.referenced, after.len());

    // The removed package can come back: its blob is stored afresh.
    upload(depot, "r", &DebBuilder::new("removed", "1.0", "amd64")).await;
    assert_eq!(check_packages(depot, "r").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_old_orphans_and_keeps_references_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(dir.path(), config()).await.unwrap();
    orphans_go_references_stay(&depot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_old_orphans_and_keeps_references_s3() {
    let moto = MotoServer::start();
    moto.create_bucket("gc-test");
    let dir = tempfile::tempdir().unwrap();
    let urls = StoreUrls {
        meta: None,
        blobs: Some("s3://gc-test/depot".into()),
        s3: moto.options(),
    };
    let depot = Depot::open_urls(dir.path(), &urls, config()).await.unwrap();
    orphans_go_references_stay(&depot).await;
    assert!(
        !dir.path().join("blobs").exists(),
        "with s3:// nothing is stored in the data directory"
    );
}

/// A deleted repository's blobs are orphans too; another repo's
/// identical package keeps its shared blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_after_deleting_a_repo_keeps_shared_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(dir.path(), config()).await.unwrap();
    for r in ["a", "b"] {
        depot
            .create_repo(&repo(r), RepoSettings::default())
            .await
            .unwrap();
    }
    let shared = DebBuilder::new("shared", "1", "all");
    upload(&depot, "a", &shared).await;
    upload(&depot, "b", &shared).await;
    upload(&depot, "a", &DebBuilder::new("only-a", "1", "all")).await;
    depot.delete_repo(&repo("a")).await.unwrap();
    let later = Timestamp(Timestamp::now().0 + 2 * 3600);
    let report = depot.gc_at(HOUR, later).await.unwrap();
    assert!(report.deleted >= 1, "{report:?}");
    assert_eq!(check_packages(&depot, "b").await, 1);
    check_publication(&depot, "b").await;
    let only_a = Sha256::of(&DebBuilder::new("only-a", "1", "all").build());
    assert_eq!(depot.blobs().size(&only_a).await.unwrap(), None);
}

/// gc in a loop, with a grace of four seconds, while four writers upload,
/// remove and re-upload packages (each upload publishes, publications are
/// pruned after one second). Afterwards every acknowledged package
/// downloads and every published file resolves. The store refreshes on
/// every reuse (window 0), which is what makes so short a grace safe here
/// (as long as no upload takes four seconds from storing its blob to
/// committing its row); in production the grace must exceed the default
/// window.
async fn gc_while_writing(blobs: Arc<dyn BlobStore>, dir: &Path) {
    let cfg = ServiceConfig {
        publication_grace: Duration::from_secs(1),
        ..config()
    };
    let depot = open_on(dir, blobs, cfg).await;
    depot
        .create_repo(&repo("busy"), RepoSettings::default())
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let depot = depot.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut runs = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                runs.push(depot.gc(GRACE).await.unwrap());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            runs
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let depot = depot.clone();
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0..15 {
                    let deb = DebBuilder::new(&format!("w{w}-p{i}"), "1.0", "amd64");
                    let name = upload(&depot, "busy", &deb).await;
                    acknowledged.push((name.clone(), Sha256::of(&deb.build())));
                    if i == 7 {
                        // Remove and, after a pause long enough for its blob
                        // to become a gc candidate, upload it again: the put
                        // finds the old orphan (unless gc was quicker) and
                        // must refresh it.
                        depot.remove(&repo("busy"), &name).await.unwrap();
                        acknowledged.pop();
                        tokio::time::sleep(GRACE + Duration::from_millis(1500)).await;
                        upload(&depot, "busy", &deb).await;
                        acknowledged.push((name, Sha256::of(&deb.build())));
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    let runs = gc.await.unwrap();
    let deleted: usize = runs.iter().map(|r| r.deleted).sum();
    assert!(runs.len() >= 5, "gc ran {} times", runs.len());
    assert!(
        deleted > 0,
        "gc deleted something while writers ran: {runs:?}"
    );

    for (name, digest) in &acknowledged {
        let bytes = depot
            .download(&repo("busy"), name, None)
            .await
            .unwrap_or_else(|e| panic!("acknowledged {name} does not download: {e}"))
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("acknowledged {name} does not read: {e}"));
        assert_eq!(Sha256::of(&bytes), *digest, "{name}");
    }
    assert_eq!(check_packages(&depot, "busy").await, acknowledged.len());
    let files = check_publication(&depot, "busy").await;
    let packages =
        String::from_utf8(files["dists/stable/main/binary-amd64/Packages"].clone()).unwrap();
    let published: std::collections::BTreeSet<&str> = packages
        .lines()
        .filter_map(|l| l.strip_prefix("Filename: "))
        .map(|f| f.rsplit('/').next().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<&str> =
        acknowledged.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        published, expected,
        "the index lists exactly the acknowledged packages"
    );

    // And a final collection with everything old keeps all of it readable.
    let later = Timestamp(Timestamp::now().0 + 2 * 3600);
    depot.gc_at(HOUR, later).await.unwrap();
    assert_eq!(check_packages(&depot, "busy").await, acknowledged.len());
    check_publication(&depot, "busy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_while_uploading_and_publishing_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = ObjectBlobStore::local(&dir.path().join("data"))
        .unwrap()
        .with_refresh_after(Duration::ZERO);
    gc_while_writing(Arc::new(blobs), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_while_uploading_and_publishing_memory() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = ObjectBlobStore::memory().with_refresh_after(Duration::ZERO);
    gc_while_writing(Arc::new(blobs), dir.path()).await;
}

/// The race the "refresh on reuse" contract closes: a package is removed,
/// its blob sits orphaned for hours, then the same file is uploaded again.
/// The upload's put finds the old blob (`Existed`); gc runs before the
/// upload commits its row. Without the refresh gc would see an old,
/// unreferenced blob and delete it under the upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_keeps_an_old_orphan_that_an_upload_in_flight_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(dir.path(), config()).await.unwrap();
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let deb = DebBuilder::new("comeback", "1.0", "amd64");
    let name = upload(&depot, "r", &deb).await;
    depot.remove(&repo("r"), &name).await.unwrap();
    let digest = Sha256::of(&deb.build());
    let hex = digest.hex();
    let blob_file = dir.path().join("blobs/sha256").join(&hex[..2]).join(&hex);
    let two_hours_ago = std::time::SystemTime::now() - 2 * HOUR;
    std::fs::File::open(&blob_file)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let old = depot.blobs().stat(&digest).await.unwrap().unwrap();
    assert!(old.last_modified.0 < Timestamp::now().0 - 3600);

    // The upload in flight: blob stored (found existing), row not yet
    // recorded.
    let prepared = depot
        .prepare_upload(
            &repo("r"),
            &name,
            &deb.build()[..],
            &UploadOptions::default(),
        )
        .await
        .unwrap();
    let report = depot.gc(HOUR).await.unwrap();
    assert_eq!(
        depot.blobs().size(&digest).await.unwrap(),
        Some(deb.build().len() as u64),
        "the reused blob survives gc: {report:?}"
    );
    let recorded = depot.record_batch(vec![prepared]).await.unwrap();
    assert!(recorded[0].is_ok(), "{recorded:?}");
    depot.publish(&repo("r")).await.unwrap();
    assert_eq!(check_packages(&depot, "r").await, 1);
    check_publication(&depot, "r").await;
}
