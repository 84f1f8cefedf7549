//! `/images/` in-process (tower `oneshot`) over a real service on a temp
//! data directory: visibility and group sharing, overwrite history, copy,
//! Range downloads, bad input that changes nothing, concurrent overwrites,
//! and gc keeping every version's blob.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::{Sha256, TokenScope};
use depot_http::{ErrorBody, HttpOptions, router};
use depot_service::{Depot, ServiceConfig};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Server {
    app: Router,
    depot: Depot,
    admin: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn error_code(&self) -> String {
        let body: ErrorBody = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.text()));
        body.error.code
    }
    #[track_caller]
    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(self.status, status, "{}", self.text());
        self
    }
}

const BOUNDARY: &str = "depot-test-boundary";

fn multipart(meta: &Value, filename: &str, file: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\
             Content-Type: application/json\r\n\r\n{meta}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        xz_delay: None,
        ..ServiceConfig::default()
    };
    let limit = config.max_upload_bytes;
    let depot = Depot::open_data_dir(dir.path(), config).await.unwrap();
    let (_, admin) = depot.create_token("root", TokenScope::Admin).await.unwrap();
    Server {
        app: router(depot.clone(), HttpOptions::new(limit)),
        depot,
        admin,
        _dir: dir,
    }
}

impl Server {
    /// A token for user `name` in `groups` (scoped to a repository: image
    /// rights do not depend on the scope).
    async fn user(&self, name: &str, groups: &[&str]) -> String {
        let (rec, secret) = self
            .depot
            .create_token(
                name,
                TokenScope::Repo {
                    repo: depot_core::RepoName::new("unrelated").unwrap(),
                },
            )
            .await
            .unwrap();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        self.depot.set_token_groups(rec.id, &groups).await.unwrap();
        secret
    }

    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn req(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        headers: &[(header::HeaderName, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(k, *v);
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    async fn get(&self, token: Option<&str>, uri: &str) -> Reply {
        self.req(token, Method::GET, uri, &[], Body::empty()).await
    }

    async fn create(&self, token: Option<&str>, meta: Value, file: &[u8]) -> Reply {
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        self.req(
            token,
            Method::POST,
            "/images/",
            &[(header::CONTENT_TYPE, &ct)],
            multipart(&meta, "disk.img", file),
        )
        .await
    }

    /// Creates an image and returns its id.
    async fn image(&self, token: &str, name: &str, visibility: &str, file: &[u8]) -> String {
        let reply = self
            .create(
                Some(token),
                json!({"name": name, "visibility": visibility}),
                file,
            )
            .await
            .expect(StatusCode::CREATED);
        let id = reply.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            reply.headers[header::LOCATION].to_str().unwrap(),
            format!("/images/{id}")
        );
        id
    }

    async fn names(&self, token: Option<&str>, scope: &str) -> Vec<String> {
        let reply = self
            .get(token, &format!("/images/?scope={scope}"))
            .await
            .expect(StatusCode::OK);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    }
}

fn qcow2(len: usize, fill: u8) -> Vec<u8> {
    let mut v = vec![fill; len];
    v[..4].copy_from_slice(b"QFI\xfb");
    v
}

#[tokio::test]
async fn create_show_download_and_details() {
    let s = server().await;
    let alice = s.user("alice", &[]).await;
    let bytes = qcow2(300_000, 7);
    let reply = s
        .create(
            Some(&alice),
            json!({
                "name": "debian 13 cloud",
                "description": "amd64, cloud-init",
                "visibility": "private",
                "metadata": {"os": "debian", "release": 13}
            }),
            &bytes,
        )
        .await
        .expect(StatusCode::CREATED);
    let img = reply.json();
    let id = img["id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4", "a version 4 UUID");
    assert_eq!(img["owner"], "alice");
    assert_eq!(img["format"], "qcow2", "sniffed from the magic");
    assert_eq!(img["size"], 300_000);
    assert_eq!(img["version"], 1);
    assert_eq!(img["visibility"], "private");
    assert_eq!(img["metadata"]["release"], 13);
    assert_eq!(
        img["hashes"]["sha256"],
        Sha256::of(&bytes).hex(),
        "checksums of the upload"
    );
    assert_eq!(img["hashes"]["sha512"].as_str().unwrap().len(), 128);

    let shown = s
        .get(Some(&alice), &format!("/images/{id}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(shown.json(), img);

    let file = s
        .get(Some(&alice), &format!("/images/{id}/file"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(file.body.as_ref(), &bytes[..]);
    assert_eq!(
        file.headers[header::ETAG].to_str().unwrap(),
        format!("\"{}\"", Sha256::of(&bytes).hex())
    );

    // Range: a middle slice, a suffix, and one past the end.
    let part = s
        .req(
            Some(&alice),
            Method::GET,
            &format!("/images/{id}/file"),
            &[(header::RANGE, "bytes=100-199")],
            Body::empty(),
        )
        .await
        .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &bytes[100..200]);
    assert_eq!(
        part.headers[header::CONTENT_RANGE].to_str().unwrap(),
        "bytes 100-199/300000"
    );
    let tail = s
        .req(
            Some(&alice),
            Method::GET,
            &format!("/images/{id}/file"),
            &[(header::RANGE, "bytes=-10")],
            Body::empty(),
        )
        .await
        .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body.as_ref(), &bytes[300_000 - 10..]);
    let past = s
        .req(
            Some(&alice),
            Method::GET,
            &format!("/images/{id}/file"),
            &[(header::RANGE, "bytes=300000-")],
            Body::empty(),
        )
        .await
        .expect(StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.error_code(), "range_not_satisfiable");
    let head = s
        .req(
            Some(&alice),
            Method::HEAD,
            &format!("/images/{id}/file"),
            &[],
            Body::empty(),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        head.headers[header::CONTENT_LENGTH].to_str().unwrap(),
        "300000"
    );
    assert!(head.body.is_empty());
}

/// Private images are invisible to others: `404`, the same answer as for an
/// image that does not exist, so their existence does not leak.
#[tokio::test]
async fn visibility_and_group_sharing() {
    let s = server().await;
    let alice = s.user("alice", &["ops"]).await;
    let bob = s.user("bob", &["ops", "qa"]).await;
    let carol = s.user("carol", &["dev"]).await;
    let private = s.image(&alice, "a-private", "private", b"p").await;
    let ops = s.image(&alice, "a-ops", "group:ops", b"o").await;
    let public = s.image(&alice, "a-public", "public", b"x").await;
    let bobs = s.image(&bob, "b-qa", "group:qa", b"q").await;

    assert_eq!(
        s.names(Some(&alice), "mine").await,
        ["a-ops", "a-private", "a-public"]
    );
    assert_eq!(s.names(Some(&bob), "mine").await, ["b-qa"]);
    assert_eq!(s.names(Some(&bob), "shared").await, ["a-ops", "b-qa"]);
    assert!(s.names(Some(&carol), "shared").await.is_empty());
    assert_eq!(s.names(None, "public").await, ["a-public"]);
    assert_eq!(s.names(Some(&carol), "all").await, ["a-public"]);
    assert_eq!(
        s.names(Some(&bob), "all").await,
        ["a-ops", "a-public", "b-qa"]
    );
    assert_eq!(
        s.names(Some(&s.admin), "all").await,
        ["a-ops", "a-private", "a-public", "b-qa"],
        "admin sees everything"
    );
    assert_eq!(s.names(None, "all").await, ["a-public"]);
    // Without a scope: everything visible.
    let all = s.get(Some(&bob), "/images").await.expect(StatusCode::OK);
    assert_eq!(all.json().as_array().unwrap().len(), 3);
    assert_eq!(
        s.get(None, "/images/?scope=mine")
            .await
            .expect(StatusCode::UNAUTHORIZED)
            .error_code(),
        "unauthorized"
    );

    let missing = "00000000-0000-4000-8000-000000000000";
    for who in [Some(bob.as_str()), Some(carol.as_str()), None] {
        for path in [
            format!("/images/{private}"),
            format!("/images/{private}/file"),
            format!("/images/{private}/history"),
        ] {
            let reply = s.get(who, &path).await.expect(StatusCode::NOT_FOUND);
            let not_there = s
                .get(who, &path.replace(&private, missing))
                .await
                .expect(StatusCode::NOT_FOUND);
            assert_eq!(
                reply.json()["error"]["message"]
                    .as_str()
                    .unwrap()
                    .replace(&private, missing),
                not_there.json()["error"]["message"].as_str().unwrap(),
                "a hidden image answers exactly like a missing one"
            );
        }
    }
    s.get(Some(&bob), &format!("/images/{ops}/file"))
        .await
        .expect(StatusCode::OK);
    s.get(Some(&carol), &format!("/images/{ops}"))
        .await
        .expect(StatusCode::NOT_FOUND);
    s.get(None, &format!("/images/{public}/file"))
        .await
        .expect(StatusCode::OK);
    s.get(Some(&s.admin), &format!("/images/{bobs}"))
        .await
        .expect(StatusCode::OK);

    // Group members read but do not manage; strangers cannot even see.
    let patch = |token: Option<String>, id: String| {
        let s = &s;
        async move {
            s.req(
                token.as_deref(),
                Method::PATCH,
                &format!("/images/{id}"),
                &[],
                json!({"description": "hijacked"}).to_string(),
            )
            .await
        }
    };
    assert_eq!(
        patch(Some(bob.clone()), ops.clone())
            .await
            .expect(StatusCode::FORBIDDEN)
            .error_code(),
        "forbidden"
    );
    patch(Some(carol.clone()), ops.clone())
        .await
        .expect(StatusCode::NOT_FOUND);
    patch(None, public.clone())
        .await
        .expect(StatusCode::UNAUTHORIZED);
    s.req(
        Some(&bob),
        Method::DELETE,
        &format!("/images/{public}"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    s.req(
        Some(&carol),
        Method::DELETE,
        &format!("/images/{private}"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    let unchanged = s
        .get(Some(&alice), &format!("/images/{ops}"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(unchanged.json()["description"], "");

    // The owner shares a private image; then bob's group sees it.
    let shared = s
        .req(
            Some(&alice),
            Method::PATCH,
            &format!("/images/{private}"),
            &[],
            json!({"visibility": "group:qa", "metadata": {"k": 1}}).to_string(),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(shared.json()["visibility"], "group:qa");
    assert_eq!(shared.json()["metadata"], json!({"k": 1}));
    s.get(Some(&bob), &format!("/images/{private}"))
        .await
        .expect(StatusCode::OK);
    // Admin manages any image.
    s.req(
        Some(&s.admin),
        Method::DELETE,
        &format!("/images/{bobs}"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    s.get(Some(&bob), &format!("/images/{bobs}"))
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn overwrite_keeps_the_uuid_and_records_history() {
    let s = server().await;
    let alice = s.user("alice", &[]).await;
    let v1 = qcow2(5000, 1);
    let id = s.image(&alice, "img", "private", &v1).await;
    let mut iso = vec![0u8; 0x8100];
    iso[0x8001..0x8006].copy_from_slice(b"CD001");
    let put = |body: Vec<u8>, query: &str| {
        let s = &s;
        let alice = alice.clone();
        let uri = format!("/images/{id}/file{query}");
        async move { s.req(Some(&alice), Method::PUT, &uri, &[], body).await }
    };
    let img = put(iso.clone(), "").await.expect(StatusCode::OK).json();
    assert_eq!(img["id"], id.as_str(), "the UUID is kept");
    assert_eq!(
        (img["version"].as_i64(), img["format"].as_str()),
        (Some(2), Some("iso"))
    );
    let raw = b"just bytes".to_vec();
    let img = put(raw.clone(), "?expected_version=2&filename=x.vmdk")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        (img["version"].as_i64(), img["format"].as_str()),
        (Some(3), Some("vmdk"))
    );
    // A stale expected version: 409, nothing changes.
    assert_eq!(
        put(b"stale".to_vec(), "?expected_version=2")
            .await
            .expect(StatusCode::CONFLICT)
            .error_code(),
        "conflict"
    );

    let history = s
        .get(Some(&alice), &format!("/images/{id}/history"))
        .await
        .expect(StatusCode::OK)
        .json();
    let versions: Vec<(i64, String, u64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["hashes"]["sha256"].as_str().unwrap().to_string(),
                v["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (3, Sha256::of(&raw).hex(), raw.len() as u64),
            (2, Sha256::of(&iso).hex(), iso.len() as u64),
            (1, Sha256::of(&v1).hex(), v1.len() as u64),
        ]
    );
    let file = s
        .get(Some(&alice), &format!("/images/{id}/file"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(file.body.as_ref(), &raw[..], "the newest file is served");

    // Every version's blob survives gc; deleting the image frees them.
    let later = depot_core::Timestamp(depot_core::Timestamp::now().0 + 10 * 86_400);
    let report = s
        .depot
        .gc_at(std::time::Duration::from_secs(3600), later)
        .await
        .unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    for digest in [&v1, &iso, &raw] {
        assert!(
            s.depot
                .blobs()
                .stat(&Sha256::of(digest))
                .await
                .unwrap()
                .is_some()
        );
    }
    s.req(
        Some(&alice),
        Method::DELETE,
        &format!("/images/{id}"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let report = s
        .depot
        .gc_at(std::time::Duration::from_secs(3600), later)
        .await
        .unwrap();
    assert_eq!(report.deleted, 3, "{report:?}");
}

/// Two overwrites based on the same version at once: one wins, the other
/// gets `409`, and the history has exactly one new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_overwrites_one_wins() {
    let s = server().await;
    let alice = s.user("alice", &[]).await;
    let id = s.image(&alice, "img", "private", b"v1").await;
    let uri = format!("/images/{id}/file?expected_version=1");
    let (a, b) = tokio::join!(
        s.req(Some(&alice), Method::PUT, &uri, &[], vec![b'a'; 200_000]),
        s.req(Some(&alice), Method::PUT, &uri, &[], vec![b'b'; 200_000]),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        a.text(),
        b.text()
    );
    let history = s
        .get(Some(&alice), &format!("/images/{id}/history"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(history.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn copy_makes_a_new_image_sharing_the_blob() {
    let s = server().await;
    let alice = s.user("alice", &[]).await;
    let bob = s.user("bob", &[]).await;
    let bytes = qcow2(4096, 9);
    let src = s.image(&alice, "golden", "public", &bytes).await;
    s.req(
        Some(&alice),
        Method::PATCH,
        &format!("/images/{src}"),
        &[],
        json!({"metadata": {"tier": "gold"}, "description": "d"}).to_string(),
    )
    .await
    .expect(StatusCode::OK);
    let blobs_before = s.depot.blobs().list().await.unwrap().len();

    let copy = s
        .req(
            Some(&bob),
            Method::POST,
            &format!("/images/{src}/copy"),
            &[],
            json!({"name": "bob's golden"}).to_string(),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_ne!(copy["id"], src.as_str(), "a new UUID");
    assert_eq!(copy["owner"], "bob");
    assert_eq!(copy["name"], "bob's golden");
    assert_eq!(copy["visibility"], "private");
    assert_eq!(copy["version"], 1);
    assert_eq!(copy["copied_from"], src.as_str());
    assert_eq!(copy["metadata"], json!({"tier": "gold"}));
    assert_eq!(copy["hashes"]["sha256"], Sha256::of(&bytes).hex());
    assert_eq!(
        s.depot.blobs().list().await.unwrap().len(),
        blobs_before,
        "no bytes copied"
    );
    let cid = copy["id"].as_str().unwrap();
    // Without a body: the source's name.
    let again = s
        .req(
            Some(&bob),
            Method::POST,
            &format!("/images/{cid}/copy"),
            &[],
            Body::empty(),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(again["name"], "bob's golden");
    // A private image of someone else cannot be copied (or seen).
    s.req(
        Some(&alice),
        Method::POST,
        &format!("/images/{cid}/copy"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    // Anonymous callers cannot copy, even public images.
    s.req(
        None,
        Method::POST,
        &format!("/images/{src}/copy"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::UNAUTHORIZED);

    // Deleting the source leaves the copy whole.
    s.req(
        Some(&alice),
        Method::DELETE,
        &format!("/images/{src}"),
        &[],
        Body::empty(),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let file = s
        .get(Some(&bob), &format!("/images/{cid}/file"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(file.body.as_ref(), &bytes[..]);
}

/// Every malformed request is a 4xx and changes nothing.
#[tokio::test]
async fn bad_input_changes_nothing() {
    let s = server().await;
    let alice = s.user("alice", &[]).await;
    let id = s.image(&alice, "img", "private", b"v1").await;
    let before_images = s.get(Some(&s.admin), "/images/").await.body;
    let before_blobs = s.depot.blobs().list().await.unwrap().len();

    let big = "x".repeat(depot_core::image::MAX_METADATA_BYTES);
    let bad_creates = [
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "a\nb"}),
        json!({"name": "x", "visibility": "friends"}),
        json!({"name": "x", "visibility": "group:"}),
        json!({"name": "x", "visibility": "group:a/b"}),
        json!({"name": "x", "metadata": [1, 2]}),
        json!({"name": "x", "metadata": {"big": big}}),
        json!({"name": "x", "format": "floppy"}),
        json!({"name": "x", "owner": "mallory"}),
        json!({"nom": "x"}),
    ];
    for meta in bad_creates {
        let reply = s.create(Some(&alice), meta.clone(), b"new bytes").await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{meta}: {}",
            reply.text()
        );
        assert_eq!(reply.error_code(), "invalid");
    }
    // Anonymous create, a file part before meta, no file part, not multipart.
    s.create(None, json!({"name": "x"}), b"y")
        .await
        .expect(StatusCode::UNAUTHORIZED);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let file_first = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n\
         bytes\r\n--{BOUNDARY}--\r\n"
    );
    let meta_only = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n\
         {{\"name\":\"x\"}}\r\n--{BOUNDARY}--\r\n"
    );
    for body in [file_first, meta_only] {
        s.req(
            Some(&alice),
            Method::POST,
            "/images/",
            &[(header::CONTENT_TYPE, &ct)],
            body,
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    }
    s.req(Some(&alice), Method::POST, "/images/", &[], "raw")
        .await
        .expect(StatusCode::BAD_REQUEST);

    // Bad UUIDs, scopes, patches.
    for bad in ["not-a-uuid", "00000000000040008000000000000000", "{x}"] {
        let reply = s
            .get(Some(&alice), &format!("/images/{bad}"))
            .await
            .expect(StatusCode::BAD_REQUEST);
        assert_eq!(reply.error_code(), "invalid");
    }
    s.get(Some(&alice), "/images/?scope=everyone")
        .await
        .expect(StatusCode::BAD_REQUEST);
    for patch in [
        json!({"name": ""}),
        json!({"visibility": "everyone"}),
        json!({"metadata": "not an object"}),
        json!({"metadata": {"big": big}}),
        json!({"owner": "mallory"}),
        json!({"description": "bell\u{7}"}),
    ] {
        s.req(
            Some(&alice),
            Method::PATCH,
            &format!("/images/{id}"),
            &[],
            patch.to_string(),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    }
    s.req(
        Some(&alice),
        Method::PATCH,
        &format!("/images/{id}"),
        &[],
        "{not json",
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    s.req(
        Some(&alice),
        Method::PUT,
        &format!("/images/{id}/file?format=floppy"),
        &[],
        "x",
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
    s.req(
        Some(&alice),
        Method::POST,
        &format!("/images/{id}/copy"),
        &[],
        json!({"visibility": "nope"}).to_string(),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);

    assert_eq!(
        s.get(Some(&s.admin), "/images/").await.body,
        before_images,
        "no image changed"
    );
    assert_eq!(
        s.depot.blobs().list().await.unwrap().len(),
        before_blobs,
        "no blob stored"
    );
    let history = s
        .get(Some(&alice), &format!("/images/{id}/history"))
        .await
        .json();
    assert_eq!(history.as_array().unwrap().len(), 1);
}

/// Uploads past the size limit are `413` and store nothing.
#[tokio::test]
async fn oversize_uploads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        max_upload_bytes: 1000,
        xz_delay: None,
        ..ServiceConfig::default()
    };
    let depot = Depot::open_data_dir(dir.path(), config).await.unwrap();
    let (_, admin) = depot.create_token("root", TokenScope::Admin).await.unwrap();
    let s = Server {
        app: router(depot.clone(), HttpOptions::new(1000)),
        depot,
        admin,
        _dir: dir,
    };
    let id = s.image(&s.admin.clone(), "small", "private", b"ok").await;
    // Announced too large: refused before reading.
    let reply = s
        .create(Some(&s.admin), json!({"name": "big"}), &[0u8; 5000])
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "too_large");
    // Streamed without a length: refused once past the limit.
    let body = Body::from_stream(futures::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 500]))),
    ));
    s.req(
        Some(&s.admin),
        Method::PUT,
        &format!("/images/{id}/file"),
        &[],
        body,
    )
    .await
    .expect(StatusCode::PAYLOAD_TOO_LARGE);
    let img = s
        .get(Some(&s.admin), &format!("/images/{id}"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(img["version"], 1);
    assert_eq!(s.depot.blobs().list().await.unwrap().len(), 1);
}

/// With `image_download = redirect` on S3, a download the caller may make
/// is a `307` to a presigned URL that serves the bytes; one it may not
/// make is a `404`, never a redirect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_redirects_after_the_access_check() {
    let moto = depot_store::conformance::MotoServer::start();
    moto.create_bucket("images");
    let dir = tempfile::tempdir().unwrap();
    let urls = depot_service::StoreUrls {
        meta: None,
        blobs: Some("s3://images/depot".into()),
        s3: moto.options(),
    };
    let config = ServiceConfig {
        image_download: depot_core::DownloadMode::Redirect,
        xz_delay: None,
        ..ServiceConfig::default()
    };
    let depot = Depot::open_urls(dir.path(), &urls, config).await.unwrap();
    let (_, admin) = depot.create_token("root", TokenScope::Admin).await.unwrap();
    let s = Server {
        app: router(depot.clone(), HttpOptions::default()),
        depot,
        admin,
        _dir: dir,
    };
    let alice = s.user("alice", &[]).await;
    let bytes = qcow2(10_000, 5);
    let private = s.image(&alice, "p", "private", &bytes).await;
    let public = s.image(&alice, "q", "public", &bytes).await;

    let reply = s
        .get(Some(&alice), &format!("/images/{private}/file"))
        .await
        .expect(StatusCode::TEMPORARY_REDIRECT);
    let location = reply.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fetched = http.get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert!(fetched.bytes().await.unwrap() == bytes);

    let hidden = s
        .get(None, &format!("/images/{private}/file"))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(hidden.headers.get(header::LOCATION).is_none());
    s.get(None, &format!("/images/{public}/file"))
        .await
        .expect(StatusCode::TEMPORARY_REDIRECT);
}
