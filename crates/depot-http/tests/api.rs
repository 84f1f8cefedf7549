//! The REST API in-process (tower `oneshot`) over a real service on a temp
//! data directory: every route, and every bad-input row of the foundation
//! issue.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::TokenScope;
use depot_http::{ErrorBody, HttpOptions, router};
use depot_service::{Depot, ServiceConfig};
use depot_testkit::DebBuilder;
use http_body_util::BodyExt;
use tower::ServiceExt;

const PACKAGES_AMD64: &str = "/repos/r/dists/stable/main/binary-amd64/Packages";

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
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The stable error shape; panics on anything else.
    fn error_code(&self) -> String {
        let body: ErrorBody = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.text()));
        assert!(!body.error.message.is_empty());
        body.error.code
    }
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

async fn server() -> Server {
    server_with_limit(ServiceConfig::default().max_upload_bytes).await
}

async fn server_with_limit(limit: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        max_upload_bytes: limit,
        ..ServiceConfig::default()
    };
    let depot = Depot::open_data_dir(dir.path(), config).await.unwrap();
    let (_, admin) = depot
        .create_token("test-admin", TokenScope::Admin)
        .await
        .unwrap();
    let app = router(depot.clone(), HttpOptions::new(limit));
    Server {
        app,
        depot,
        admin,
        _dir: dir,
    }
}

impl Server {
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

    /// A request with the admin token.
    async fn admin(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin))
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    /// An anonymous request.
    async fn anon(&self, method: Method, uri: &str) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.anon(Method::GET, uri).await
    }

    async fn get_with(&self, uri: &str, name: header::HeaderName, value: &str) -> Reply {
        let request = Request::builder()
            .uri(uri)
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn create_repo(&self, name: &str) {
        let reply = self
            .admin(Method::POST, &format!("/repos/{name}/"), Body::empty())
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }

    /// A raw upload with the admin token.
    async fn upload(&self, repo: &str, filename: &str, bytes: Vec<u8>) -> Reply {
        let uri = format!("/repos/{repo}/packages/?filename={filename}");
        self.admin(Method::POST, &uri, bytes).await
    }

    async fn package_count(&self, repo: &str) -> usize {
        let reply = self.get(&format!("/repos/{repo}/packages/")).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.json().as_array().unwrap().len()
    }
}

fn hello() -> DebBuilder {
    DebBuilder::new("hello", "1.0-1", "amd64").file("usr/share/doc/hello/README", b"hello\n")
}

fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "depot-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

async fn post_multipart(s: &Server, uri: &str, parts: &[(&str, &str, &[u8])]) -> Reply {
    let (content_type, body) = multipart(parts);
    let request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap();
    s.send(request).await
}

// ---- repositories -----------------------------------------------------------

#[tokio::test]
async fn healthz_answers_ok() {
    let s = server().await;
    let reply = s.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text().trim(), "ok");
}

#[tokio::test]
async fn repository_lifecycle_create_list_delete() {
    let s = server().await;
    let reply = s.admin(Method::POST, "/repos/r/", Body::empty()).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["name"], "r");
    assert_eq!(reply.header(header::LOCATION), "/repos/r/");

    let again = s.admin(Method::POST, "/repos/r", Body::empty()).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "already_exists");

    for uri in ["/repos/", "/repos"] {
        let list = s.get(uri).await;
        assert_eq!(list.status, StatusCode::OK);
        let names: Vec<_> = list
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].clone())
            .collect();
        assert_eq!(names, ["r"]);
    }
    for uri in [
        "/repos/r/",
        "/repos/r",
        "/repos/r/packages/",
        "/repos/r/packages",
    ] {
        let list = s.get(uri).await;
        assert_eq!(list.status, StatusCode::OK, "{uri}");
        assert_eq!(list.json(), serde_json::json!([]), "{uri}");
    }

    let deleted = s.admin(Method::DELETE, "/repos/r/", Body::empty()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/repos/r/").await.status, StatusCode::NOT_FOUND);
    let again = s.admin(Method::DELETE, "/repos/r/", Body::empty()).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_code(), "not_found");
}

#[tokio::test]
async fn create_accepts_json_settings_and_private_repos_need_a_token() {
    let s = server().await;
    let settings = r#"{"description": "internal tools", "public": false}"#;
    let reply = s.admin(Method::POST, "/repos/secret/", settings).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["settings"]["description"], "internal tools");

    let anon = s.get("/repos/secret/").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anon.error_code(), "unauthorized");
    assert_eq!(
        s.admin(Method::GET, "/repos/secret/", Body::empty())
            .await
            .status,
        StatusCode::OK
    );

    // The anonymous repo list does not reveal it; the admin's does.
    assert_eq!(s.get("/repos/").await.json(), serde_json::json!([]));
    let listed = s.admin(Method::GET, "/repos/", Body::empty()).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

/// Regression (issue 11): the repository JSON was `depot_core::Repo`
/// serialized, internal fields included (`removal_gen`, the database `id`).
/// The keys are listed exactly, so a field that reaches the JSON by being
/// added to the store's type fails here instead of going public unnoticed.
#[tokio::test]
async fn repo_json_has_the_fields_a_user_needs_and_no_internal_ones() {
    let s = server().await;
    let created = s
        .admin(Method::POST, "/repos/r/", r#"{"description": "tools"}"#)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let listed = s.get("/repos/").await.json();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    for (what, repo) in [("create", created.json()), ("list", listed[0].clone())] {
        let keys: Vec<&str> = repo
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["created_at", "name", "revision", "settings"],
            "{what}: {repo}"
        );
        assert!(repo.get("removal_gen").is_none(), "{what}: {repo}");
        assert_eq!(repo["name"], "r");
        assert_eq!(repo["revision"], 0);
        assert!(repo["created_at"].as_i64().unwrap() > 1_700_000_000);
        let settings: Vec<&str> = repo["settings"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            settings,
            [
                "architectures",
                "default_component",
                "default_distribution",
                "description",
                "download",
                "public"
            ],
            "{what}: {repo}"
        );
        assert_eq!(repo["settings"]["description"], "tools");
    }
}

#[tokio::test]
async fn create_rejects_bad_settings_and_bad_names() {
    let s = server().await;
    let reply = s
        .admin(Method::POST, "/repos/r/", "{\"public\": \"yes\"}")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "invalid");
    let reply = s.admin(Method::POST, "/repos/r/", "{\"colour\": 1}").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    for bad in [
        "/repos/-x/",
        "/repos/a%20b/",
        "/repos/%2E%2E/",
        "/repos/a%2Fb/",
    ] {
        let reply = s.admin(Method::POST, bad, Body::empty()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.error_code(), "invalid");
    }
    assert_eq!(s.get("/repos/").await.json(), serde_json::json!([]));
}

#[tokio::test]
async fn rebuild_by_trace_and_by_post() {
    let s = server().await;
    s.create_repo("r").await;
    assert_eq!(
        s.upload("r", "hello.deb", hello().build()).await.status,
        StatusCode::CREATED
    );
    let before = s.get(PACKAGES_AMD64).await.text();

    for (method, uri) in [
        (Method::TRACE, "/repos/r/"),
        (Method::POST, "/repos/r/rebuild"),
    ] {
        let reply = s.admin(method.clone(), uri, Body::empty()).await;
        assert_eq!(reply.status, StatusCode::OK, "{method} {}", reply.text());
        assert_eq!(reply.json()["packages"], 1);
        assert_eq!(s.get(PACKAGES_AMD64).await.text(), before);
    }
    let anon = s.anon(Method::TRACE, "/repos/r/").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
}

// ---- uploads ----------------------------------------------------------------

#[tokio::test]
async fn raw_upload_is_published_before_the_201_and_gone_after_delete() {
    let s = server().await;
    s.create_repo("r").await;
    let deb = hello().build();

    let reply = s.upload("r", "hello_1.0-1_amd64.deb", deb.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let package = reply.json();
    assert_eq!(package["name"], "hello");
    assert_eq!(package["version"], "1.0-1");
    assert_eq!(package["arch"], "amd64");
    assert_eq!(package["placements"][0]["distribution"], "stable");
    assert_eq!(
        reply.header(header::LOCATION),
        "/repos/r/packages/hello_1.0-1_amd64.deb"
    );

    // Read-your-writes: no waiting, no retry.
    let index = s.get(PACKAGES_AMD64).await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(
        index.text().contains("Package: hello\n"),
        "{}",
        index.text()
    );
    assert!(index.header(header::CONTENT_TYPE).starts_with("text/plain"));

    let download = s.get("/repos/r/packages/hello_1.0-1_amd64.deb").await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body.as_ref(), deb.as_slice());

    let removed = s
        .admin(
            Method::DELETE,
            "/repos/r/packages/hello_1.0-1_amd64.deb",
            Body::empty(),
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let index = s.get(PACKAGES_AMD64).await;
    assert!(!index.text().contains("Package: hello"), "{}", index.text());
    let gone = s.get("/repos/r/packages/hello_1.0-1_amd64.deb").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "not_found");
    let again = s
        .admin(
            Method::DELETE,
            "/repos/r/packages/hello_1.0-1_amd64.deb",
            Body::empty(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn multipart_upload_stores_every_file_part_in_order() {
    let s = server().await;
    s.create_repo("r").await;
    let a = DebBuilder::new("alpha", "1.0", "amd64").build();
    let b = DebBuilder::new("beta", "2.0", "all").build();

    let reply = post_multipart(&s, "/repos/r/packages/", &[("file", "alpha.deb", &a)]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["name"], "alpha");

    let reply = post_multipart(
        &s,
        "/repos/r/packages",
        &[("file", "alpha.deb", &a), ("file", "beta.deb", &b)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let names: Vec<_> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let index = s.get(PACKAGES_AMD64).await.text();
    assert!(
        index.contains("Package: alpha\n") && index.contains("Package: beta\n"),
        "{index}"
    );
}

#[tokio::test]
async fn multipart_upload_rejects_forms_without_a_usable_file_part() {
    let s = server().await;
    s.create_repo("r").await;
    let deb = hello().build();
    for parts in [
        vec![("other", "x.deb", deb.as_slice())],
        vec![("file", "../x.deb", deb.as_slice())],
        vec![],
    ] {
        let reply = post_multipart(&s, "/repos/r/packages/", &parts).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
        assert_eq!(reply.error_code(), "invalid");
    }
    assert_eq!(s.package_count("r").await, 0);
}

#[tokio::test]
async fn upload_places_by_distribution_and_component() {
    let s = server().await;
    s.create_repo("r").await;
    let uri = "/repos/r/packages/?filename=hello.deb&distribution=bookworm&component=contrib";
    let reply = s.admin(Method::POST, uri, hello().build()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let index = s
        .get("/repos/r/dists/bookworm/contrib/binary-amd64/Packages")
        .await;
    assert_eq!(index.status, StatusCode::OK);
    assert!(index.text().contains("Package: hello\n"));

    let bad = "/repos/r/packages/?filename=x.deb&distribution=a/b";
    let reply = s.admin(Method::POST, bad, hello().build()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let typo = "/repos/r/packages/?filename=x.deb&distrbution=sid";
    assert_eq!(
        s.admin(Method::POST, typo, hello().build()).await.status,
        StatusCode::BAD_REQUEST
    );
    let unnamed = s
        .admin(Method::POST, "/repos/r/packages/", hello().build())
        .await;
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.package_count("r").await, 1);
}

#[tokio::test]
async fn identical_reupload_is_200_and_changes_nothing() {
    let s = server().await;
    s.create_repo("r").await;
    assert_eq!(
        s.upload("r", "hello.deb", hello().build()).await.status,
        StatusCode::CREATED
    );
    let release = s.get("/repos/r/dists/stable/Release").await.body;
    let again = s.upload("r", "hello.deb", hello().build()).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["name"], "hello");
    assert_eq!(s.package_count("r").await, 1);
    assert_eq!(s.get("/repos/r/dists/stable/Release").await.body, release);
}

/// Regression (issue 11): one .deb uploaded as `hello_1.0-1_amd64.deb` and
/// then, byte for byte, as `hello-copy.deb` was stored twice and listed
/// twice in `Packages` (the stanzas differing only in `Filename:`). The
/// copy is the stored package: `200` with it (its own file name), nothing
/// stored under the copy's name, no revision bump, nothing republished.
#[tokio::test]
async fn same_bytes_under_another_file_name_are_200_with_the_stored_package() {
    let s = server().await;
    s.create_repo("r").await;
    let deb = hello().build();
    let first = s.upload("r", "hello_1.0-1_amd64.deb", deb.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let revision = || async { s.get("/repos/").await.json()[0]["revision"].clone() };
    let (release, index, rev) = (
        s.get("/repos/r/dists/stable/Release").await.body,
        s.get(PACKAGES_AMD64).await.text(),
        revision().await,
    );
    assert_eq!(index.matches("Package: hello\n").count(), 1);

    let copy = s.upload("r", "hello-copy.deb", deb.clone()).await;
    assert_eq!(copy.status, StatusCode::OK, "{}", copy.text());
    assert_eq!(copy.json(), first.json(), "the stored package");
    assert_eq!(copy.json()["filename"], "hello_1.0-1_amd64.deb");
    assert_eq!(
        copy.header(header::LOCATION),
        "/repos/r/packages/hello_1.0-1_amd64.deb"
    );
    // The same through a multipart form.
    let form = post_multipart(
        &s,
        "/repos/r/packages/",
        &[("file", "hello-copy.deb", &deb)],
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text());
    assert_eq!(form.json(), first.json());

    let listed = s.get("/repos/r/packages/").await.json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello_1.0-1_amd64.deb"]);
    let now = s.get(PACKAGES_AMD64).await.text();
    assert_eq!(now.matches("Package: hello\n").count(), 1, "{now}");
    assert_eq!(now, index, "Packages is unchanged");
    assert_eq!(
        s.get("/repos/r/dists/stable/Release").await.body,
        release,
        "nothing was published"
    );
    assert_eq!(revision().await, rev, "no revision bump");
    assert_eq!(
        s.get("/repos/r/packages/hello-copy.deb").await.status,
        StatusCode::NOT_FOUND
    );

    // Other content under either name is still a conflict.
    let other = hello().file("usr/share/doc/hello/EXTRA", b"more").build();
    for name in ["hello_1.0-1_amd64.deb", "hello-copy.deb"] {
        let reply = s.upload("r", name, other.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::CONFLICT,
            "{name}: {}",
            reply.text()
        );
    }
    assert_eq!(s.get(PACKAGES_AMD64).await.text(), index);
}

#[tokio::test]
async fn same_name_other_content_is_409_and_the_repo_is_unchanged() {
    let s = server().await;
    s.create_repo("r").await;
    let original = hello().build();
    assert_eq!(
        s.upload("r", "hello.deb", original.clone()).await.status,
        StatusCode::CREATED
    );
    let index = s.get(PACKAGES_AMD64).await.body;

    let other = hello().file("usr/share/doc/hello/EXTRA", b"more").build();
    let reply = s.upload("r", "hello.deb", other).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    assert_eq!(reply.error_code(), "conflict");

    assert_eq!(
        s.get("/repos/r/packages/hello.deb").await.body.as_ref(),
        original.as_slice()
    );
    assert_eq!(s.get(PACKAGES_AMD64).await.body, index);
    assert_eq!(s.package_count("r").await, 1);
}

#[tokio::test]
async fn malformed_packages_are_422_and_store_nothing() {
    let s = server().await;
    s.create_repo("r").await;
    let good = hello().build();
    let truncated = good[..good.len() / 2].to_vec();
    let injected = hello()
        .field("Description", "short\n\nPackage: injected\nVersion: 6.6.6")
        .build();
    let newline_in_name = DebBuilder::new("hello\nPackage: evil", "1.0", "amd64").build();

    for (what, bytes) in [
        ("not a deb", b"this is not an ar archive at all".to_vec()),
        ("truncated", truncated),
        ("stanza injection", injected),
        ("newline in Package", newline_in_name),
    ] {
        let reply = s.upload("r", "bad.deb", bytes).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            reply.text()
        );
        assert_eq!(reply.error_code(), "bad_package", "{what}");
    }
    assert_eq!(s.package_count("r").await, 0);
    assert_eq!(
        s.get("/repos/r/packages/bad.deb").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn file_names_with_separators_or_dot_dot_are_400() {
    let s = server().await;
    s.create_repo("r").await;
    for name in ["..%2Fx.deb", "a%2Fb.deb", "..", ".hidden.deb", "a%5Cb.deb"] {
        let reply = s.upload("r", name, hello().build()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.text()
        );
        assert_eq!(reply.error_code(), "invalid");
    }
    for uri in [
        "/repos/r/packages/..%2F..%2Fdepot.db",
        "/repos/r/packages/..",
    ] {
        let reply = s.get(uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
    }
    let reply = s.get("/repos/r/dists/stable/..%2F..%2F..%2Fdepot.db").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.package_count("r").await, 0);
}

#[tokio::test]
async fn uploads_over_the_limit_are_413() {
    let limit = 4096;
    let s = server_with_limit(limit).await;
    s.create_repo("r").await;

    // Declared too large: refused before the body is read.
    let reply = s
        .upload("r", "big.bin", vec![0u8; limit as usize + 1])
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "too_large");

    // Chunked, no Content-Length: the service stops it while streaming.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![1u8; 1024])));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/repos/r/packages/?filename=big.bin")
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin))
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let reply = s.send(request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "too_large");

    // A multipart part over the limit too.
    let big = vec![2u8; limit as usize * 2];
    let (content_type, body) = multipart(&[("file", "big.bin", &big)]);
    let stream = futures::stream::iter(
        body.chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let request = Request::builder()
        .method(Method::POST)
        .uri("/repos/r/packages/")
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(stream))
        .unwrap();
    assert_eq!(s.send(request).await.status, StatusCode::PAYLOAD_TOO_LARGE);

    assert_eq!(s.package_count("r").await, 0);
}

#[tokio::test]
async fn uploads_larger_than_two_megabytes_are_accepted() {
    // axum's default body limit (2 MB) must not apply to uploads.
    let s = server().await;
    s.create_repo("r").await;
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let reply = s.upload("r", "image.bin", payload.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["format"], "file");
    let download = s.get("/repos/r/packages/image.bin").await;
    assert_eq!(download.body.len(), payload.len());
    assert!(download.body.as_ref() == payload.as_slice());
}

#[tokio::test]
async fn unknown_repositories_are_404() {
    let s = server().await;
    for uri in [
        "/repos/nope/",
        "/repos/nope/packages/",
        "/repos/nope/packages/x.deb",
        "/repos/nope/dists/stable/InRelease",
        "/repos/nope/key.asc",
    ] {
        let reply = s.get(uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(reply.error_code(), "not_found");
    }
    let reply = s.upload("nope", "hello.deb", hello().build()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = s.admin(Method::TRACE, "/repos/nope/", Body::empty()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_error_shape() {
    let s = server().await;
    let reply = s.get("/nothing/here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
}

// ---- authentication -----------------------------------------------------------

#[tokio::test]
async fn writes_without_a_valid_token_are_401() {
    let s = server().await;
    s.create_repo("r").await;
    let deb = hello().build();
    let writes = [
        (Method::POST, "/repos/x/"),
        (Method::DELETE, "/repos/r/"),
        (Method::POST, "/repos/r/packages/?filename=hello.deb"),
        (Method::DELETE, "/repos/r/packages/hello.deb"),
        (Method::POST, "/repos/r/rebuild"),
        // Unknown repo: still 401 first, existence is not revealed.
        (Method::POST, "/repos/nope/packages/?filename=hello.deb"),
    ];
    for auth in [
        None,
        Some("Bearer depot_wrong"),
        Some("Basic YWRtaW46YWRtaW4="),
        Some("Bearer"),
    ] {
        for (method, uri) in &writes {
            let mut request = Request::builder().method(method.clone()).uri(*uri);
            if let Some(auth) = auth {
                request = request.header(header::AUTHORIZATION, auth);
            }
            let reply = s.send(request.body(Body::from(deb.clone())).unwrap()).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{auth:?} {method} {uri}"
            );
            assert_eq!(reply.error_code(), "unauthorized");
            assert!(reply.header(header::WWW_AUTHENTICATE).starts_with("Bearer"));
        }
    }
    assert_eq!(s.package_count("r").await, 0);
    assert_eq!(s.get("/repos/").await.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reads_of_public_repos_need_no_token_but_reject_a_wrong_one() {
    let s = server().await;
    s.create_repo("r").await;
    assert_eq!(s.get("/repos/r/").await.status, StatusCode::OK);
    let reply = s
        .get_with("/repos/r/", header::AUTHORIZATION, "Bearer nope")
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_repo_scoped_token_is_forbidden_elsewhere() {
    let s = server().await;
    s.create_repo("mine").await;
    s.create_repo("theirs").await;
    let (_, secret) = s
        .depot
        .create_token(
            "ci",
            TokenScope::Repo {
                repo: "mine".parse().unwrap(),
            },
        )
        .await
        .unwrap();
    let upload = |repo: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/repos/{repo}/packages/?filename=hello.deb"))
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::from(hello().build()))
            .unwrap()
    };
    assert_eq!(s.send(upload("mine")).await.status, StatusCode::CREATED);
    let reply = s.send(upload("theirs")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "forbidden");
    let create = Request::builder()
        .method(Method::POST)
        .uri("/repos/new/")
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(create).await.status, StatusCode::FORBIDDEN);
}

// ---- downloads ----------------------------------------------------------------

#[tokio::test]
async fn package_downloads_support_range_head_and_etag() {
    let s = server().await;
    s.create_repo("r").await;
    let deb = hello().build();
    let size = deb.len();
    s.upload("r", "hello.deb", deb.clone()).await;
    let uri = "/repos/r/packages/hello.deb";

    let whole = s.get(uri).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header(header::CONTENT_LENGTH), size.to_string());
    assert_eq!(whole.header(header::ACCEPT_RANGES), "bytes");
    assert_eq!(
        whole.header(header::CONTENT_TYPE),
        "application/vnd.debian.binary-package"
    );
    let etag = whole.header(header::ETAG).to_string();
    assert!(etag.starts_with('"') && etag.len() == 66, "{etag}");

    let first = s.get_with(uri, header::RANGE, "bytes=0-9").await;
    assert_eq!(first.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        first.header(header::CONTENT_RANGE),
        format!("bytes 0-9/{size}")
    );
    assert_eq!(first.body.as_ref(), &deb[..10]);

    let rest = s.get_with(uri, header::RANGE, "bytes=100-").await;
    assert_eq!(rest.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest.body.as_ref(), &deb[100..]);
    assert_eq!(
        rest.header(header::CONTENT_RANGE),
        format!("bytes 100-{}/{size}", size - 1)
    );

    let tail = s.get_with(uri, header::RANGE, "bytes=-7").await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.body.as_ref(), &deb[size - 7..]);

    let past = s
        .get_with(uri, header::RANGE, &format!("bytes={size}-"))
        .await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.header(header::CONTENT_RANGE),
        format!("bytes */{size}")
    );

    let multi = s.get_with(uri, header::RANGE, "bytes=0-1,5-6").await;
    assert_eq!(
        multi.status,
        StatusCode::OK,
        "multi-range falls back to the whole file"
    );

    let cached = s.get_with(uri, header::IF_NONE_MATCH, &etag).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());

    let request = Request::builder()
        .uri(uri)
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, "\"0000\"")
        .body(Body::empty())
        .unwrap();
    let stale = s.send(request).await;
    assert_eq!(
        stale.status,
        StatusCode::OK,
        "If-Range mismatch sends the whole file"
    );
    assert_eq!(stale.body.len(), size);

    let head = s.anon(Method::HEAD, uri).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header(header::CONTENT_LENGTH), size.to_string());
    assert!(head.body.is_empty());
}

#[tokio::test]
async fn published_files_are_served_with_range_and_the_dist_alias() {
    let s = server().await;
    s.create_repo("r").await;
    s.upload("r", "hello.deb", hello().build()).await;

    let in_release = s.get("/repos/r/dists/stable/InRelease").await;
    assert_eq!(in_release.status, StatusCode::OK);
    assert!(
        in_release
            .text()
            .starts_with("-----BEGIN PGP SIGNED MESSAGE-----")
    );
    for path in [
        "stable/InRelease",
        "stable/Release",
        "stable/main/binary-amd64/Packages",
        "stable/main/binary-amd64/Packages.gz",
    ] {
        let dists = s.get(&format!("/repos/r/dists/{path}")).await;
        let dist = s.get(&format!("/repos/r/dist/{path}")).await;
        assert_eq!(dists.status, StatusCode::OK, "{path}");
        assert_eq!(dists.body, dist.body, "{path}");
    }
    let gz = s
        .get("/repos/r/dists/stable/main/binary-amd64/Packages.gz")
        .await;
    assert_eq!(gz.header(header::CONTENT_TYPE), "application/gzip");

    let size = in_release.body.len();
    let part = s
        .get_with(
            "/repos/r/dists/stable/InRelease",
            header::RANGE,
            "bytes=5-14",
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, in_release.body.slice(5..15));
    assert_eq!(
        part.header(header::CONTENT_RANGE),
        format!("bytes 5-14/{size}")
    );
    let past = s
        .get_with(
            "/repos/r/dists/stable/InRelease",
            header::RANGE,
            &format!("bytes={}-", size + 10),
        )
        .await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.header(header::CONTENT_RANGE),
        format!("bytes */{size}")
    );

    let head = s.anon(Method::HEAD, "/repos/r/dist/stable/Release").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());

    let missing = s.get("/repos/r/dists/nowhere/Release").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
}

#[tokio::test]
async fn by_hash_files_are_cacheable_forever() {
    let s = server().await;
    s.create_repo("r").await;
    s.upload("r", "hello.deb", hello().build()).await;
    let packages = s.get(PACKAGES_AMD64).await;
    let digest = depot_core::Sha256::of(&packages.body).hex();
    let by_hash = s
        .get(&format!(
            "/repos/r/dists/stable/main/binary-amd64/by-hash/SHA256/{digest}"
        ))
        .await;
    assert_eq!(by_hash.status, StatusCode::OK);
    assert_eq!(by_hash.body, packages.body);
    assert!(by_hash.header(header::CACHE_CONTROL).contains("immutable"));
    assert_eq!(packages.header(header::CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn the_signing_key_is_served_armored() {
    let s = server().await;
    s.create_repo("r").await;
    let key = s.get("/repos/r/key.asc").await;
    assert_eq!(key.status, StatusCode::OK);
    assert_eq!(key.header(header::CONTENT_TYPE), "application/pgp-keys");
    assert!(
        key.text()
            .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
    );
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let s = server().await;
    let reply = s.get("/healthz").await;
    assert!(
        !reply
            .header(header::HeaderName::from_static("x-request-id"))
            .is_empty()
    );
    let echoed = s
        .get_with(
            "/healthz",
            header::HeaderName::from_static("x-request-id"),
            "abc-123",
        )
        .await;
    assert_eq!(
        echoed.header(header::HeaderName::from_static("x-request-id")),
        "abc-123"
    );
}

/// Issue 11 item 10: depot sent no `Last-Modified` and ignored
/// `If-Modified-Since`, so the FreeBSD pkg client downloaded the whole
/// catalogue on every `pkg update` (pkg 1.20 to 2.6 also printed
/// "Impossible to get the value from Last-Modified HTTP header"). Every
/// published file and package now carries it, for every format, and a
/// conditional request is answered as RFC 9110 §13.2.2 says.
#[tokio::test]
async fn every_format_answers_conditional_requests_with_last_modified() {
    let s = server().await;
    s.create_repo("r").await;
    for (name, bytes) in [
        ("hello.deb", hello().build()),
        (
            "hello-2.10-3.x86_64.rpm",
            depot_testkit::RpmBuilder::new("hello", "2.10", "3", "x86_64").build(),
        ),
        (
            "hello-1.0_1.pkg",
            depot_testkit::FreebsdBuilder::new("hello", "1.0_1", "FreeBSD:14:amd64").build(),
        ),
    ] {
        let reply = s.upload("r", name, bytes).await;
        assert!(reply.status.is_success(), "{name}: {}", reply.text());
    }
    let at = |s: &str| httpdate::parse_http_date(s).unwrap();
    let date = |t: std::time::SystemTime| httpdate::fmt_http_date(t);
    for uri in [
        "/repos/r/dists/stable/InRelease",
        PACKAGES_AMD64,
        "/repos/r/packages/hello.deb",
        "/repos/r/repodata/repomd.xml",
        "/repos/r/freebsd/FreeBSD:14:amd64/packagesite.pkg",
    ] {
        let whole = s.get(uri).await;
        assert_eq!(whole.status, StatusCode::OK, "{uri}: {}", whole.text());
        let modified = whole.header(header::LAST_MODIFIED).to_string();
        assert!(
            modified.ends_with(" GMT"),
            "{uri}: an IMF-fixdate, not {modified}"
        );
        let modified = at(&modified);
        let age = std::time::SystemTime::now()
            .duration_since(modified)
            .unwrap();
        assert!(
            age.as_secs() < 600,
            "{uri}: published just now, not {age:?} ago"
        );
        let etag = whole.header(header::ETAG).to_string();

        for since in [modified, modified + std::time::Duration::from_secs(3600)] {
            let cached = s
                .get_with(uri, header::IF_MODIFIED_SINCE, &date(since))
                .await;
            assert_eq!(
                cached.status,
                StatusCode::NOT_MODIFIED,
                "{uri} since {since:?}"
            );
            assert!(cached.body.is_empty(), "{uri}: a 304 has no body");
            assert_eq!(cached.header(header::ETAG), etag);
            assert_eq!(at(cached.header(header::LAST_MODIFIED)), modified);
        }
        let earlier = date(modified - std::time::Duration::from_secs(1));
        let changed = s.get_with(uri, header::IF_MODIFIED_SINCE, &earlier).await;
        assert_eq!(
            changed.status,
            StatusCode::OK,
            "{uri}: modified since {earlier}"
        );
        assert_eq!(changed.body, whole.body);
        let garbage = s
            .get_with(uri, header::IF_MODIFIED_SINCE, "yesterday")
            .await;
        assert_eq!(
            garbage.status,
            StatusCode::OK,
            "{uri}: an unparsable date is ignored"
        );

        // If-None-Match decides alone when present: a tag that does not
        // match sends the file even though the date says "not modified"...
        let request = Request::builder()
            .uri(uri)
            .header(header::IF_NONE_MATCH, "\"0000\"")
            .header(header::IF_MODIFIED_SINCE, date(modified))
            .body(Body::empty())
            .unwrap();
        let reply = s.send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: If-None-Match wins");
        assert_eq!(reply.body, whole.body);
        // ... and a matching one is 304 even though the date says "changed".
        let request = Request::builder()
            .uri(uri)
            .header(header::IF_NONE_MATCH, &etag)
            .header(header::IF_MODIFIED_SINCE, &earlier)
            .body(Body::empty())
            .unwrap();
        let reply = s.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_MODIFIED,
            "{uri}: If-None-Match wins"
        );
    }
}
