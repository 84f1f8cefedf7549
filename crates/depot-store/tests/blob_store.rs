//! ObjectBlobStore: the conformance suite on every backend, plus what only
//! the local-disk layout can show (key layout, staging files, atomic
//! multipart completion).

use async_trait::async_trait;
use bytes::Bytes;
use depot_core::blob::{BlobError, BlobStore, PutOutcome};
use depot_core::digest::Sha256;
use depot_store::conformance::{MotoServer, blob_store_suite};
use depot_store::{ObjectBlobStore, S3Options, StoreError, open_blob_store, open_blob_store_with};
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::local(&dir.path().join("blobs")).unwrap();
    blob_store_suite(&store).await;
    assert!(
        store.list().await.unwrap().is_empty(),
        "the suite cleans up"
    );
    assert!(
        staging_files(dir.path()).is_empty(),
        "no staging files left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_memory() {
    let store = ObjectBlobStore::memory();
    blob_store_suite(&store).await;
    assert!(store.list().await.unwrap().is_empty());
}

/// The suite against S3 (moto on loopback): put-if-absent by
/// `If-None-Match`, multipart for the 16 MiB file, ranged GETs, presigned
/// URLs fetched over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_s3() {
    let moto = MotoServer::start();
    let store = moto.store("depot-conformance", "");
    blob_store_suite(&store).await;
    assert!(
        store.list().await.unwrap().is_empty(),
        "the suite cleans up"
    );
}

/// Through `open_blob_store_with("s3://bucket/prefix")`, so the URL parsing
/// and the prefix are covered too; a second store on the same bucket with
/// another prefix sees none of its blobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_s3_url_with_a_prefix() {
    let moto = MotoServer::start();
    moto.create_bucket("shared");
    let store = open_blob_store_with("s3://shared/tenants/acme", &moto.options()).unwrap();
    let other = open_blob_store_with("s3://shared/tenants/other", &moto.options()).unwrap();
    let d = Sha256::of(b"acme only");
    store
        .put_bytes(&d, Bytes::from_static(b"acme only"))
        .await
        .unwrap();
    assert!(other.list().await.unwrap().is_empty(), "prefixes separate");
    assert_eq!(other.size(&d).await.unwrap(), None);
    let url = store
        .presign_get(&d, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("S3 presigns");
    assert!(
        url.starts_with(&format!(
            "{}/shared/tenants/acme/blobs/sha256/{}/{}?",
            moto.endpoint(),
            &d.hex()[..2],
            d.hex()
        )),
        "path-style URL under the prefix: {url}"
    );
    assert!(url.contains("X-Amz-Signature="), "SigV4 query auth: {url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    store.delete(&d).await.unwrap();
    blob_store_suite(store.as_ref()).await;
}

#[tokio::test]
async fn s3_endpoints_must_be_https_unless_loopback() {
    let opts = |endpoint: &str, allow_http: bool| S3Options {
        endpoint: Some(endpoint.into()),
        access_key_id: Some("k".into()),
        secret_access_key: Some("s".into()),
        allow_http,
        ..S3Options::default()
    };
    for ok in [
        "http://127.0.0.1:9000",
        "http://localhost:9000",
        "http://[::1]:9000",
        "https://minio.example.org",
    ] {
        assert!(
            ObjectBlobStore::s3("b", "", &opts(ok, false)).is_ok(),
            "{ok} refused"
        );
    }
    match ObjectBlobStore::s3("b", "", &opts("http://minio:9000", false)) {
        Err(StoreError::InvalidUrl { url, reason }) => {
            assert_eq!(url, "http://minio:9000");
            assert!(reason.contains("allow"), "{reason}");
        }
        other => panic!("plain http to another host must be refused, got {other:?}"),
    }
    assert!(ObjectBlobStore::s3("b", "", &opts("http://minio:9000", true)).is_ok());
    assert!(matches!(
        ObjectBlobStore::s3("b", "", &opts("ftp://minio", true)),
        Err(StoreError::InvalidUrl { .. })
    ));
    assert!(matches!(
        ObjectBlobStore::s3("b", "", &opts("not a url", true)),
        Err(StoreError::InvalidUrl { .. })
    ));
}

#[test]
fn s3_secrets_are_redacted_in_debug() {
    let opts = S3Options {
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some("wJalrXUtnFEMI".into()),
        session_token: Some("FQoGZXIvYXdzE".into()),
        ..S3Options::default()
    };
    let shown = format!("{opts:?}");
    assert!(
        !shown.contains("wJalrXUtnFEMI") && !shown.contains("FQoGZXIvYXdzE"),
        "{shown}"
    );
    assert!(
        shown.contains("AKIDEXAMPLE"),
        "the key id is not secret: {shown}"
    );
}

/// Refresh on reuse (the contract gc relies on): a put that finds an old
/// blob makes it young again.
async fn refresh_on_reuse(store: &dyn BlobStore, age: impl AsyncFn(&Sha256)) {
    let data = Bytes::from_static(b"reused after a while");
    let d = Sha256::of(&data);
    store.put_bytes(&d, data.clone()).await.unwrap();
    age(&d).await;
    let before = store.stat(&d).await.unwrap().unwrap().last_modified;
    assert_eq!(
        store.put_bytes(&d, data.clone()).await.unwrap(),
        PutOutcome::Existed
    );
    let after = store.stat(&d).await.unwrap().unwrap().last_modified;
    assert!(
        after > before,
        "put_bytes of an old blob refreshes it: {before:?} -> {after:?}"
    );
    assert_eq!(
        store.get_bytes(&d).await.unwrap(),
        data,
        "content unchanged"
    );

    // put_file and put_file_moving refresh too.
    let dir = tempfile::tempdir().unwrap();
    for moving in [false, true] {
        age(&d).await;
        let before = store.stat(&d).await.unwrap().unwrap().last_modified;
        let path = dir.path().join("again");
        std::fs::write(&path, &data).unwrap();
        let outcome = if moving {
            store.put_file_moving(&d, &path).await.unwrap()
        } else {
            store.put_file(&d, &path).await.unwrap()
        };
        assert_eq!(outcome, PutOutcome::Existed);
        let after = store.stat(&d).await.unwrap().unwrap().last_modified;
        assert!(after > before, "moving={moving}: {before:?} -> {after:?}");
    }
    store.delete(&d).await.unwrap();
}

/// Waits until the clock has moved past the blob's (whole-second)
/// timestamp, so a refresh shows as a later `last_modified`.
async fn wait_a_second(_: &Sha256) {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn refresh_on_reuse_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::local(dir.path()).unwrap();
    let root = dir.path().to_path_buf();
    // The default window (10 minutes): age the file by an hour.
    let age = async |d: &Sha256| {
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::open(blob_path(&root, d))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    };
    refresh_on_reuse(&store, age).await;

    // A young blob is left alone (no rewrite on every duplicate put).
    let d = Sha256::of(b"young");
    store
        .put_bytes(&d, Bytes::from_static(b"young"))
        .await
        .unwrap();
    let ten_s_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::open(blob_path(&root, &d))
        .unwrap()
        .set_modified(ten_s_ago)
        .unwrap();
    let before = store.stat(&d).await.unwrap().unwrap().last_modified;
    store
        .put_bytes(&d, Bytes::from_static(b"young"))
        .await
        .unwrap();
    assert_eq!(store.stat(&d).await.unwrap().unwrap().last_modified, before);
}

#[tokio::test]
async fn refresh_on_reuse_memory() {
    let store = ObjectBlobStore::memory().with_refresh_after(std::time::Duration::ZERO);
    refresh_on_reuse(&store, wait_a_second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_on_reuse_s3() {
    let moto = MotoServer::start();
    let store = moto
        .store("refresh", "p")
        .with_refresh_after(std::time::Duration::ZERO);
    refresh_on_reuse(&store, wait_a_second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let store = ObjectBlobStore::new(Arc::new(fs), "/tenants/acme/");
    blob_store_suite(&store).await;
}

fn blob_path(root: &Path, d: &Sha256) -> PathBuf {
    let hex = d.hex();
    root.join("blobs/sha256").join(&hex[..2]).join(&hex)
}

/// Every file under `root` whose name carries a staging suffix (`#digits`).
fn staging_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit_once('#'))
                .is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test]
async fn local_layout_is_fanned_out_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("deep/er/blobs");
    let store = ObjectBlobStore::local(&root).unwrap();
    assert!(root.is_dir(), "local() creates the directory");
    let d = Sha256::of(b"hello");
    store
        .put_bytes(&d, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    let path = blob_path(&root, &d);
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");

    // Under a prefix, every key moves below it.
    let fs = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let prefixed = ObjectBlobStore::new(Arc::new(fs), "tenant/a");
    prefixed
        .put_bytes(&d, Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert!(blob_path(&dir.path().join("tenant/a"), &d).is_file());
}

#[tokio::test]
async fn list_ignores_staging_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = ObjectBlobStore::local(root).unwrap();
    let d = Sha256::of(b"real");
    store
        .put_bytes(&d, Bytes::from_static(b"real"))
        .await
        .unwrap();
    let hex = d.hex();
    let fan = root.join("blobs/sha256").join(&hex[..2]);
    let other = Sha256::of(b"other").hex();
    // An in-flight upload's staging file, a misfiled blob, junk, and files
    // outside the blob tree.
    std::fs::write(fan.join(format!("{other}#1")), b"partial").unwrap();
    std::fs::write(fan.join(format!("{hex}#2")), b"partial").unwrap();
    std::fs::write(fan.join(&other), b"misfiled").unwrap();
    std::fs::write(fan.join("README"), b"junk").unwrap();
    std::fs::create_dir_all(root.join("blobs/sha256/zz")).unwrap();
    std::fs::write(root.join("blobs/sha256/zz/notes.txt"), b"junk").unwrap();
    std::fs::write(root.join("blobs/sha256").join(&other), b"too shallow").unwrap();
    std::fs::write(root.join("elsewhere.txt"), b"junk").unwrap();

    let listed = store.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|b| b.digest).collect::<Vec<_>>(),
        [d],
        "only real blobs are listed: {listed:?}"
    );
    assert_eq!(listed[0].size, 4);
}

#[tokio::test]
async fn list_of_an_empty_store_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::local(&dir.path().join("fresh")).unwrap();
    assert!(store.list().await.unwrap().is_empty());
    assert!(ObjectBlobStore::memory().list().await.unwrap().is_empty());
}

#[tokio::test]
async fn open_blob_store_urls() {
    let dir = tempfile::tempdir().unwrap();
    let d = Sha256::of(b"x");

    let by_url = dir.path().join("by url");
    let url = url::Url::from_directory_path(&by_url).unwrap().to_string();
    assert!(url.contains("%20"), "{url}");
    let store = open_blob_store(&url).unwrap();
    store.put_bytes(&d, Bytes::from_static(b"x")).await.unwrap();
    assert!(
        blob_path(&by_url, &d).is_file(),
        "file:// URLs are percent-decoded"
    );

    let plain = dir.path().join("plain");
    let store = open_blob_store(plain.to_str().unwrap()).unwrap();
    store.put_bytes(&d, Bytes::from_static(b"x")).await.unwrap();
    assert!(
        blob_path(&plain, &d).is_file(),
        "a plain path is local disk"
    );

    for mem in ["memory:", "memory://"] {
        let store = open_blob_store(mem).unwrap();
        assert_eq!(
            store.put_bytes(&d, Bytes::from_static(b"x")).await.unwrap(),
            PutOutcome::Created
        );
        assert_eq!(store.get_bytes(&d).await.unwrap().as_ref(), b"x");
    }

    for bad in [
        "",
        "s3:///no-bucket",
        "s3://bucket/a//b",
        "s3://bucket/p?endpoint=x",
        "s3://key:secret@bucket/p",
        "gs://bucket",
        "file://relative/dir",
        "file:///x?y=1",
    ] {
        match open_blob_store(bad) {
            Err(StoreError::InvalidUrl { url, reason }) => {
                assert_eq!(url, bad);
                assert!(!reason.is_empty());
            }
            Err(e) => panic!("{bad:?}: expected InvalidUrl, got {e}"),
            Ok(_) => panic!("{bad:?} accepted"),
        }
    }
}

#[tokio::test]
async fn local_on_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"").unwrap();
    match ObjectBlobStore::local(&file) {
        Err(StoreError::Io { path, .. }) => assert_eq!(path, file),
        Err(e) => panic!("expected Io, got {e}"),
        Ok(_) => panic!("a file accepted as blob directory"),
    }
}

#[tokio::test]
async fn put_file_of_a_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::memory();
    let d = Sha256::of(b"dir");
    match store.put_file(&d, dir.path()).await {
        Err(BlobError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput),
        other => panic!("expected Io(InvalidInput), got {other:?}"),
    }
}

// ---- multipart visibility ------------------------------------------------------

/// What the spy saw while a multipart upload was in flight.
#[derive(Debug, Default)]
struct Observed {
    parts: Vec<usize>,
    /// For each part: was the final key visible (head) / listed?
    visible_during_parts: Vec<(bool, bool)>,
    completed: bool,
    aborted: bool,
}

/// An ObjectStore that delegates to LocalFileSystem and, while a multipart
/// upload runs, checks through the real store whether the destination is
/// visible. It can also fail the upload at a given part.
#[derive(Debug)]
struct Spy {
    inner: Arc<LocalFileSystem>,
    observed: Arc<Mutex<Observed>>,
    fail_at_part: Option<usize>,
}

impl std::fmt::Display for Spy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spy({})", self.inner)
    }
}

#[derive(Debug)]
struct SpyUpload {
    inner: Box<dyn MultipartUpload>,
    store: Arc<LocalFileSystem>,
    location: ObjPath,
    observed: Arc<Mutex<Observed>>,
    fail_at_part: Option<usize>,
}

#[async_trait]
impl MultipartUpload for SpyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let n = {
            let mut o = self.observed.lock().unwrap();
            o.parts.push(data.content_length());
            o.parts.len()
        };
        if self.fail_at_part == Some(n) {
            return Box::pin(async {
                Err(object_store::Error::Generic {
                    store: "Spy",
                    source: "injected failure".into(),
                })
            });
        }
        let write = self.inner.put_part(data);
        let store = Arc::clone(&self.store);
        let location = self.location.clone();
        let observed = Arc::clone(&self.observed);
        Box::pin(async move {
            write.await?;
            let visible = store.head(&location).await.is_ok();
            let listed: Vec<ObjectMeta> = futures::TryStreamExt::try_collect(store.list(None))
                .await
                .unwrap();
            let listed = listed.iter().any(|m| m.location == location);
            observed
                .lock()
                .unwrap()
                .visible_during_parts
                .push((visible, listed));
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let r = self.inner.complete().await?;
        self.observed.lock().unwrap().completed = true;
        Ok(r)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.observed.lock().unwrap().aborted = true;
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Spy {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SpyUpload {
            inner,
            store: Arc::clone(&self.inner),
            location: location.clone(),
            observed: Arc::clone(&self.observed),
            fail_at_part: self.fail_at_part,
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.inner.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&ObjPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjPath>,
    ) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjPath,
        to: &ObjPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn big_file(len: usize, seed: u8) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let chunk: Vec<u8> = (0..65_536u32).map(|i| (i as u8) ^ seed).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
    f
}

fn sha256_file(path: &Path) -> Sha256 {
    Sha256::of(&std::fs::read(path).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_put_file_is_invisible_until_complete() {
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let observed = Arc::new(Mutex::new(Observed::default()));
    let spy = Spy {
        inner,
        observed: Arc::clone(&observed),
        fail_at_part: None,
    };
    let store = ObjectBlobStore::new(Arc::new(spy), "");
    let len = 3 * 8 * 1024 * 1024 + 77;
    let f = big_file(len, 1);
    let d = sha256_file(f.path());

    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Created
    );
    {
        let o = observed.lock().unwrap();
        assert_eq!(
            o.parts,
            [8 << 20, 8 << 20, 8 << 20, 77],
            "8 MiB parts read sequentially"
        );
        assert!(
            o.visible_during_parts
                .iter()
                .all(|&(head, listed)| !head && !listed),
            "the blob was visible before complete(): {:?}",
            o.visible_during_parts
        );
        assert_eq!(o.visible_during_parts.len(), 4, "every part was checked");
        assert!(o.completed && !o.aborted);
    }
    assert_eq!(
        std::fs::metadata(blob_path(dir.path(), &d)).unwrap().len(),
        len as u64
    );
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert!(staging_files(dir.path()).is_empty());

    // A second put of the same digest writes nothing.
    let before = observed.lock().unwrap().parts.len();
    assert_eq!(
        store.put_file(&d, f.path()).await.unwrap(),
        PutOutcome::Existed
    );
    assert_eq!(
        observed.lock().unwrap().parts.len(),
        before,
        "no upload for an existing digest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_large_put_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inner = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let observed = Arc::new(Mutex::new(Observed::default()));
    let spy = Spy {
        inner,
        observed: Arc::clone(&observed),
        fail_at_part: Some(2),
    };
    let store = ObjectBlobStore::new(Arc::new(spy), "");
    let f = big_file(2 * 8 * 1024 * 1024 + 5, 2);
    let d = sha256_file(f.path());

    match store.put_file(&d, f.path()).await {
        Err(BlobError::Backend(msg)) => assert!(msg.contains("injected failure"), "{msg}"),
        other => panic!("expected the injected failure, got {other:?}"),
    }
    {
        let o = observed.lock().unwrap();
        assert!(o.aborted && !o.completed, "the upload was aborted: {o:?}");
    }
    assert_eq!(store.size(&d).await.unwrap(), None);
    assert!(!blob_path(dir.path(), &d).exists());
    assert!(store.list().await.unwrap().is_empty());
    assert!(
        staging_files(dir.path()).is_empty(),
        "abort removes the staging file: {:?}",
        staging_files(dir.path())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_large_put_files_store_one_whole_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectBlobStore::local(dir.path()).unwrap();
    let f = big_file(8 * 1024 * 1024 + 4096, 3);
    let d = sha256_file(f.path());
    let outcomes = futures::future::join_all((0..4).map(|_| store.put_file(&d, f.path()))).await;
    for o in &outcomes {
        assert!(o.is_ok(), "{o:?}");
    }
    assert_eq!(
        sha256_file(&blob_path(dir.path(), &d)),
        d,
        "the stored blob is whole"
    );
    assert!(staging_files(dir.path()).is_empty());
}
