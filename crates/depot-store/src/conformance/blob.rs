//! The [`BlobStore`] contract as executable checks.

use super::pseudo_random;
use bytes::Bytes;
use depot_core::blob::{BlobError, BlobRead, BlobStore, PutOutcome};
use depot_core::digest::Sha256;
use depot_core::time::Timestamp;
use futures::TryStreamExt;
use std::io::Write;

/// Runs every check of the [`BlobStore`] contract against `store`.
///
/// `store` should be empty, or at least hold none of the suite's blobs
/// (they are derived from fixed seeds). The suite deletes what it stores.
///
/// Checked, beyond the trait rustdoc:
/// - a range with `end <= start` is `InvalidRange`;
/// - `list` is ordered by digest and carries a plausible `last_modified`;
/// - `put_file` of a missing file is an `Io` error and stores nothing;
/// - `put_file` uploads larger than one part (over 8 MiB) round-trip and are
///   put-if-absent against earlier puts;
/// - `stat` agrees with `list`;
/// - a URL from `presign_get`, fetched with a plain HTTP GET (no
///   credentials), returns the blob's bytes, and a `Range` header on it
///   returns that range. (This proves the URL names the right object; only a
///   server that validates signatures proves the signature.)
pub async fn blob_store_suite(store: &dyn BlobStore) {
    put_bytes_is_put_if_absent(store).await;
    reads_of_missing_blobs(store).await;
    ranges(store).await;
    empty_blob(store).await;
    put_file_small(store).await;
    put_file_moving(store).await;
    put_file_large(store).await;
    put_file_missing_path(store).await;
    concurrent_puts_of_one_digest(store).await;
    list_and_delete(store).await;
    stat(store).await;
    presign_does_not_fail(store).await;
    presigned_urls_fetch_the_blob(store).await;
}

const TAG: &str = "[blob store conformance]";

async fn read_all(read: BlobRead) -> Vec<u8> {
    let chunks: Vec<Bytes> = read
        .stream
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{TAG} reading a blob stream failed: {e}"));
    chunks.concat()
}

async fn get_all(store: &dyn BlobStore, d: &Sha256) -> Vec<u8> {
    let read = store
        .get(d, None)
        .await
        .unwrap_or_else(|e| panic!("{TAG} get({d}) failed: {e}"));
    let size = read.size;
    assert_eq!(read.range, 0..size, "{TAG} a whole read covers 0..size");
    let data = read_all(read).await;
    assert_eq!(
        data.len() as u64,
        size,
        "{TAG} whole read returns size bytes"
    );
    data
}

async fn put_bytes_is_put_if_absent(store: &dyn BlobStore) {
    let data = pseudo_random(1, 5000);
    let d = Sha256::of(&data);
    let first = store.put_bytes(&d, Bytes::from(data.clone())).await;
    assert_eq!(
        first.unwrap(),
        PutOutcome::Created,
        "{TAG} first put_bytes creates"
    );
    let again = store.put_bytes(&d, Bytes::from(data.clone())).await;
    assert_eq!(
        again.unwrap(),
        PutOutcome::Existed,
        "{TAG} a second put_bytes of a stored digest is Existed"
    );
    assert_eq!(get_all(store, &d).await, data, "{TAG} content round-trips");
    assert_eq!(
        store.get_bytes(&d).await.unwrap().as_ref(),
        &data[..],
        "{TAG} get_bytes returns the content"
    );
    assert_eq!(store.size(&d).await.unwrap(), Some(5000), "{TAG} size");
    store.delete(&d).await.unwrap();
}

async fn reads_of_missing_blobs(store: &dyn BlobStore) {
    let d = Sha256::of(b"depot conformance: never stored");
    match store.get(&d, None).await {
        Err(BlobError::NotFound(x)) => assert_eq!(x, d, "{TAG} NotFound names the digest"),
        Err(e) => panic!("{TAG} get of a missing blob must be NotFound, got {e}"),
        Ok(_) => panic!("{TAG} get of a missing blob must be NotFound, got a stream"),
    }
    match store.get(&d, Some(0..10)).await {
        Err(BlobError::NotFound(x)) => assert_eq!(x, d),
        Err(e) => panic!("{TAG} ranged get of a missing blob must be NotFound, got {e}"),
        Ok(_) => panic!("{TAG} ranged get of a missing blob must be NotFound, got a stream"),
    }
    match store.get_bytes(&d).await {
        Err(BlobError::NotFound(x)) => assert_eq!(x, d),
        other => panic!("{TAG} get_bytes of a missing blob must be NotFound, got {other:?}"),
    }
    assert_eq!(
        store.size(&d).await.unwrap(),
        None,
        "{TAG} size of a missing blob is None"
    );
    store
        .delete(&d)
        .await
        .unwrap_or_else(|e| panic!("{TAG} delete of a missing blob must be Ok, got {e}"));
}

async fn ranges(store: &dyn BlobStore) {
    let data = pseudo_random(2, 100_000);
    let d = Sha256::of(&data);
    store
        .put_bytes(&d, Bytes::from(data.clone()))
        .await
        .unwrap();

    for r in [0..1, 10..20, 99_999..100_000, 0..100_000, 4096..70_000] {
        let read = store.get(&d, Some(r.clone())).await.unwrap();
        assert_eq!(
            read.size, 100_000,
            "{TAG} a ranged read reports the whole size"
        );
        assert_eq!(
            read.range, r,
            "{TAG} a satisfiable range is served as asked"
        );
        let got = read_all(read).await;
        assert_eq!(
            got,
            &data[r.start as usize..r.end as usize],
            "{TAG} range {r:?} returns those bytes"
        );
    }

    // The end is clamped to the size.
    let read = store.get(&d, Some(99_000..200_000)).await.unwrap();
    assert_eq!(
        read.range,
        99_000..100_000,
        "{TAG} the end is clamped to the size"
    );
    assert_eq!(read_all(read).await, &data[99_000..]);

    // A start at or past the size, or an empty/inverted range, is invalid.
    #[allow(clippy::reversed_empty_ranges)] // deliberately inverted
    let invalid = [
        100_000..100_001,
        100_000..200_000,
        150_000..160_000,
        10..10,
        20..10,
    ];
    for r in invalid {
        match store.get(&d, Some(r.clone())).await {
            Err(BlobError::InvalidRange { start, end, size }) => {
                assert_eq!(
                    (start, end, size),
                    (r.start, r.end, 100_000),
                    "{TAG} InvalidRange fields"
                );
            }
            Err(e) => panic!("{TAG} range {r:?} must be InvalidRange, got {e}"),
            Ok(_) => panic!("{TAG} range {r:?} must be InvalidRange, got a stream"),
        }
    }
    store.delete(&d).await.unwrap();
}

async fn empty_blob(store: &dyn BlobStore) {
    let d = Sha256::of(b"");
    assert_eq!(
        store.put_bytes(&d, Bytes::new()).await.unwrap(),
        PutOutcome::Created,
        "{TAG} an empty blob can be stored"
    );
    assert_eq!(store.size(&d).await.unwrap(), Some(0));
    assert!(
        get_all(store, &d).await.is_empty(),
        "{TAG} empty blob reads empty"
    );
    assert!(
        matches!(
            store.get(&d, Some(0..1)).await,
            Err(BlobError::InvalidRange { size: 0, .. })
        ),
        "{TAG} any range of an empty blob is InvalidRange"
    );
    store.delete(&d).await.unwrap();
    assert_eq!(store.size(&d).await.unwrap(), None);
}

fn temp_file(data: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new()
        .unwrap_or_else(|e| panic!("{TAG} cannot create a temp file: {e}"));
    f.write_all(data).unwrap();
    f.flush().unwrap();
    f
}

async fn put_file_moving(store: &dyn BlobStore) {
    let data = pseudo_random(7, 200_000);
    let d = Sha256::of(&data);
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::write(&first, &data).unwrap();
    assert_eq!(
        store.put_file_moving(&d, &first).await.unwrap(),
        PutOutcome::Created,
        "{TAG} put_file_moving creates"
    );
    assert!(!first.exists(), "{TAG} put_file_moving takes the file");
    assert_eq!(
        get_all(store, &d).await,
        data,
        "{TAG} moved blob reads back whole"
    );
    assert!(
        store
            .list()
            .await
            .unwrap()
            .iter()
            .any(|b| b.digest == d && b.size == data.len() as u64),
        "{TAG} a moved blob is listed"
    );
    let second = dir.path().join("second");
    std::fs::write(&second, &data).unwrap();
    assert_eq!(
        store.put_file_moving(&d, &second).await.unwrap(),
        PutOutcome::Existed,
        "{TAG} put_file_moving of a stored digest is Existed"
    );
    assert!(!second.exists(), "{TAG} the duplicate file is consumed too");
    assert_eq!(get_all(store, &d).await, data);
    store.delete(&d).await.unwrap();
}

async fn put_file_small(store: &dyn BlobStore) {
    let data = pseudo_random(3, 300_000);
    let d = Sha256::of(&data);
    let f = temp_file(&data);
    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Created,
        "{TAG} put_file creates"
    );
    assert!(f.path().exists(), "{TAG} put_file leaves the file in place");
    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Existed,
        "{TAG} put_file of a stored digest is Existed"
    );
    assert_eq!(
        store
            .put_bytes(&d, Bytes::from(data.clone()))
            .await
            .unwrap(),
        PutOutcome::Existed,
        "{TAG} put_bytes after put_file of the same digest is Existed"
    );
    assert_eq!(get_all(store, &d).await, data);
    store.delete(&d).await.unwrap();
}

async fn put_file_large(store: &dyn BlobStore) {
    // Two full 8 MiB parts and a short third one.
    let len = 2 * 8 * 1024 * 1024 + 12_345;
    let data = pseudo_random(4, len);
    let d = Sha256::of(&data);
    let f = temp_file(&data);
    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Created,
        "{TAG} a multi-part put_file creates"
    );
    assert!(f.path().exists(), "{TAG} put_file leaves the file in place");
    assert_eq!(store.size(&d).await.unwrap(), Some(len as u64));
    let got = get_all(store, &d).await;
    assert!(
        got == data,
        "{TAG} a multi-part blob round-trips byte for byte"
    );
    let read = store
        .get(&d, Some(8 * 1024 * 1024 - 10..8 * 1024 * 1024 + 10))
        .await
        .unwrap();
    assert_eq!(
        read_all(read).await,
        &data[8 * 1024 * 1024 - 10..8 * 1024 * 1024 + 10],
        "{TAG} a range across a part boundary"
    );
    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Existed,
        "{TAG} a multi-part put_file of a stored digest is Existed"
    );

    // A large file whose digest was stored by put_bytes is not rewritten.
    let data2 = pseudo_random(5, 8 * 1024 * 1024 + 1);
    let d2 = Sha256::of(&data2);
    store
        .put_bytes(&d2, Bytes::from(data2.clone()))
        .await
        .unwrap();
    let f2 = temp_file(&data2);
    assert_eq!(
        store.put_file(&d2, f2.path()).await.unwrap(),
        PutOutcome::Existed,
        "{TAG} a large put_file after put_bytes of the digest is Existed"
    );
    store.delete(&d).await.unwrap();
    store.delete(&d2).await.unwrap();
}

async fn put_file_missing_path(store: &dyn BlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.deb");
    let d = Sha256::of(b"depot conformance: missing file");
    match store.put_file(&d, &missing).await {
        Err(BlobError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{TAG} put_file of a missing file must be an Io error, got {other:?}"),
    }
    assert_eq!(store.size(&d).await.unwrap(), None, "{TAG} nothing stored");
}

async fn concurrent_puts_of_one_digest(store: &dyn BlobStore) {
    let data = Bytes::from(pseudo_random(6, 64 * 1024));
    let d = Sha256::of(&data);
    let outcomes =
        futures::future::join_all((0..8).map(|_| store.put_bytes(&d, data.clone()))).await;
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(PutOutcome::Created)))
        .count();
    let existed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(PutOutcome::Existed)))
        .count();
    assert_eq!(
        (created, existed),
        (1, 7),
        "{TAG} racing put_bytes of one digest: exactly one Created ({outcomes:?})"
    );
    assert_eq!(get_all(store, &d).await, data.as_ref());
    store.delete(&d).await.unwrap();
}

async fn list_and_delete(store: &dyn BlobStore) {
    let blobs: Vec<(Sha256, Vec<u8>)> = (10..15)
        .map(|seed| {
            let data = pseudo_random(seed, 1000 + seed as usize);
            (Sha256::of(&data), data)
        })
        .collect();
    for (d, data) in &blobs {
        store.put_bytes(d, Bytes::from(data.clone())).await.unwrap();
    }
    let now = Timestamp::now().0;
    let listed = store.list().await.unwrap();
    assert!(
        listed.windows(2).all(|w| w[0].digest < w[1].digest),
        "{TAG} list is ordered by digest without duplicates"
    );
    for (d, data) in &blobs {
        let info = listed
            .iter()
            .find(|i| i.digest == *d)
            .unwrap_or_else(|| panic!("{TAG} list is missing {d}"));
        assert_eq!(info.size, data.len() as u64, "{TAG} list reports sizes");
        assert!(
            (info.last_modified.0 - now).abs() < 86_400,
            "{TAG} last_modified is a plausible time: {:?}",
            info.last_modified
        );
    }

    let (gone, _) = &blobs[0];
    store.delete(gone).await.unwrap();
    store.delete(gone).await.unwrap(); // idempotent
    assert!(
        !store
            .list()
            .await
            .unwrap()
            .iter()
            .any(|i| i.digest == *gone),
        "{TAG} a deleted blob is not listed"
    );
    assert!(matches!(
        store.get(gone, None).await,
        Err(BlobError::NotFound(_))
    ));
    assert_eq!(store.size(gone).await.unwrap(), None);
    // Deleted blobs can be stored again.
    assert_eq!(
        store
            .put_bytes(gone, Bytes::from(blobs[0].1.clone()))
            .await
            .unwrap(),
        PutOutcome::Created,
        "{TAG} a deleted digest can be stored again"
    );
    for (d, _) in &blobs {
        store.delete(d).await.unwrap();
    }
    let left = store.list().await.unwrap();
    assert!(
        !left
            .iter()
            .any(|i| blobs.iter().any(|(d, _)| *d == i.digest)),
        "{TAG} everything deleted is gone from list"
    );
}

async fn presign_does_not_fail(store: &dyn BlobStore) {
    let d = Sha256::of(b"presign");
    store
        .presign_get(&d, std::time::Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{TAG} presign_get must not fail: {e}"));
}

async fn stat(store: &dyn BlobStore) {
    let data = pseudo_random(20, 4321);
    let d = Sha256::of(&data);
    assert_eq!(
        store.stat(&d).await.unwrap(),
        None,
        "{TAG} stat of a missing blob is None"
    );
    store.put_bytes(&d, Bytes::from(data)).await.unwrap();
    let info = store
        .stat(&d)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{TAG} stat of a stored blob is Some"));
    assert_eq!((info.digest, info.size), (d, 4321), "{TAG} stat fields");
    let listed = store.list().await.unwrap();
    let in_list = listed.iter().find(|i| i.digest == d).unwrap();
    assert_eq!(&info, in_list, "{TAG} stat agrees with list");
    store.delete(&d).await.unwrap();
    assert_eq!(
        store.stat(&d).await.unwrap(),
        None,
        "{TAG} stat after delete"
    );
}

async fn presigned_urls_fetch_the_blob(store: &dyn BlobStore) {
    let data = pseudo_random(21, 70_000);
    let d = Sha256::of(&data);
    store
        .put_bytes(&d, Bytes::from(data.clone()))
        .await
        .unwrap();
    let Some(url) = store
        .presign_get(&d, std::time::Duration::from_secs(300))
        .await
        .unwrap()
    else {
        store.delete(&d).await.unwrap();
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let response = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{TAG} GET of the presigned URL {url} failed: {e}"));
    assert_eq!(
        response.status(),
        200,
        "{TAG} a presigned URL answers 200: {url}"
    );
    let body = response.bytes().await.unwrap();
    assert!(
        body.as_ref() == &data[..],
        "{TAG} a presigned URL returns the blob's bytes"
    );
    let response = http
        .get(&url)
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        206,
        "{TAG} ranged GET of a presigned URL"
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &data[100..200],
        "{TAG} ranged GET of a presigned URL returns the range"
    );
    store.delete(&d).await.unwrap();
}
