//! Images through the service: gc keeps the blob of every version of every
//! image (and of copies after their source is gone), and frees them once
//! no image references them.

use depot_core::{Sha256, Timestamp, TokenRecord, TokenScope, Visibility};
use depot_service::{Depot, ImageScope, ImageSpec, ServiceConfig};
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

async fn open(dir: &std::path::Path) -> (Depot, TokenRecord) {
    let config = ServiceConfig {
        xz_delay: None,
        ..ServiceConfig::default()
    };
    let depot = Depot::open_data_dir(dir, config).await.unwrap();
    let (_, secret) = depot
        .create_token("alice", TokenScope::Admin)
        .await
        .unwrap();
    let token = depot.authenticate(&secret).await.unwrap().unwrap();
    (depot, token)
}

/// A time after every blob here left a one-hour grace period.
fn later() -> Timestamp {
    Timestamp(Timestamp::now().0 + 86_400)
}

async fn exists(depot: &Depot, bytes: &[u8]) -> bool {
    depot
        .blobs()
        .stat(&Sha256::of(bytes))
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn gc_keeps_every_version_and_copies() {
    let dir = tempfile::tempdir().unwrap();
    let (depot, me) = open(dir.path()).await;
    let me = Some(&me);
    let (v1, v2, orphan) = (b"first file".to_vec(), b"second".to_vec(), b"o".to_vec());
    let img = depot
        .create_image(me, ImageSpec::new("disk"), &v1[..])
        .await
        .unwrap();
    depot
        .overwrite_image(me, img.id, Some(1), None, None, &v2[..])
        .await
        .unwrap();
    // A stale expected version is refused before the body is read: nothing
    // is stored.
    assert!(
        depot
            .overwrite_image(me, img.id, Some(1), None, None, &orphan[..])
            .await
            .is_err()
    );
    let copy = depot
        .copy_image(me, img.id, Some("copy".into()), Some(Visibility::Public))
        .await
        .unwrap();
    assert_eq!(copy.blob.hashes.sha256, Sha256::of(&v2));

    let report = depot.gc_at(HOUR, later()).await.unwrap();
    assert_eq!(
        (report.blobs, report.referenced, report.deleted),
        (2, 2, 0),
        "{report:?}"
    );
    assert!(exists(&depot, &v1).await, "an old version is kept");
    assert!(exists(&depot, &v2).await);
    assert!(!exists(&depot, &orphan).await);

    // The source goes: its first version is free, the copy keeps v2.
    depot.delete_image(me, img.id).await.unwrap();
    let report = depot.gc_at(HOUR, later()).await.unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(!exists(&depot, &v1).await);
    assert!(exists(&depot, &v2).await, "the copy still references it");
    let listed = depot.list_images(me, ImageScope::Public).await.unwrap();
    assert_eq!(listed.len(), 1);
    let bytes = depot
        .download_image(None, copy.id, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, v2);

    depot.delete_image(me, copy.id).await.unwrap();
    let report = depot.gc_at(HOUR, later()).await.unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(!exists(&depot, &v2).await);
}
