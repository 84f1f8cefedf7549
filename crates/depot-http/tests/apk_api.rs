//! The Alpine routes in-process (tower `oneshot`) over a real service on
//! a temp data directory: the served tree (index, packages, key), the
//! `/etc/apk/repositories` line, and the status code of each bad-input
//! row, each leaving the package list and the index as they were.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::TokenScope;
use depot_http::{ErrorBody, HttpOptions, router};
use depot_service::{Depot, ServiceConfig};
use depot_testkit::{ApkBuilder, apk_bomb};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct Server {
    app: Router,
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
    fn error_code(&self) -> String {
        let body: ErrorBody = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an error body ({e}): {}", self.text()));
        body.error.code
    }
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServiceConfig::default();
    config.formats =
        config
            .formats
            .with(depot_formats::apk::Apk::new(depot_formats::apk::Limits {
                max_unpacked: 32 << 20,
                ..Default::default()
            }));
    config.rsa_key_bits = 2048;
    let limit = config.max_upload_bytes;
    let depot = Depot::open_data_dir(dir.path(), config).await.unwrap();
    let (_, admin) = depot
        .create_token("test-admin", TokenScope::Admin)
        .await
        .unwrap();
    let app = router(depot, HttpOptions::new(limit));
    let s = Server {
        app,
        admin,
        _dir: dir,
    };
    let reply = s.admin(Method::POST, "/repos/alp/", Body::empty()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    s
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

    async fn admin(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin))
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn upload(&self, filename: &str, bytes: Vec<u8>) -> Reply {
        let uri = format!("/repos/alp/packages/?filename={filename}");
        self.admin(Method::POST, &uri, bytes).await
    }

    /// The package list and the default x86_64 index.
    async fn observable(&self) -> (String, Bytes) {
        let list = self.get("/repos/alp/packages/").await;
        assert_eq!(list.status, StatusCode::OK);
        let index = self
            .get("/repos/alp/alpine/stable/main/x86_64/APKINDEX.tar.gz")
            .await;
        assert_eq!(index.status, StatusCode::OK);
        (list.text(), index.body)
    }
}

fn hello() -> ApkBuilder {
    ApkBuilder::new("hello", "1.0-r0", "x86_64").file("usr/bin/hello", b"#!/bin/sh\n")
}

#[tokio::test]
async fn the_alpine_tree_is_served() {
    let s = server().await;
    let p = hello();
    let bytes = p.build();
    let reply = s.upload(&p.file_name(), bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["format"], "apk");
    assert!(
        reply.json()["fields"]["checksum"]
            .as_str()
            .unwrap()
            .starts_with("Q1")
    );
    let index = s
        .get("/repos/alp/alpine/stable/main/x86_64/APKINDEX.tar.gz")
        .await;
    assert_eq!(index.status, StatusCode::OK, "{}", index.text());
    assert_eq!(index.headers[header::CONTENT_TYPE], "application/gzip");
    let archive = depot_formats::apk::read_index_archive(&index.body).unwrap();
    assert!(archive.apkindex.contains("P:hello\nV:1.0-r0\nA:x86_64\n"));
    let pkg = s
        .get("/repos/alp/alpine/stable/main/x86_64/hello-1.0-r0.apk")
        .await;
    assert_eq!(pkg.status, StatusCode::OK);
    assert_eq!(pkg.body.as_ref(), bytes.as_slice());

    let key = s.get("/repos/alp/key.rsa.pub").await;
    assert_eq!(key.status, StatusCode::OK);
    assert!(key.text().starts_with("-----BEGIN PUBLIC KEY-----"));
    let key_name = archive.signatures[0].0.trim_start_matches(".SIGN.RSA256.");
    let named = s.get(&format!("/repos/alp/alpine/{key_name}")).await;
    assert_eq!(named.status, StatusCode::OK);
    assert_eq!(named.body, key.body);

    let line = s
        .get("/repos/alp/alpine/repositories?distribution=v3.20")
        .await;
    assert_eq!(line.status, StatusCode::OK);
    let text = line.text();
    assert!(
        text.contains("\nhttp://localhost/repos/alp/alpine/v3.20/main\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("/etc/apk/keys/{key_name}")),
        "{text}"
    );

    for missing in [
        "stable/main/x86_64/nope-1-r0.apk",
        "stable/main/riscv64/APKINDEX.tar.gz",
        "depot-00000000.rsa.pub",
    ] {
        let r = s.get(&format!("/repos/alp/alpine/{missing}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(r.error_code(), "not_found");
    }
}

#[tokio::test]
async fn bad_uploads_get_their_status_and_change_nothing() {
    let s = server().await;
    let p = hello();
    assert_eq!(
        s.upload(&p.file_name(), p.build()).await.status,
        StatusCode::CREATED
    );
    let before = s.observable().await;
    let full = p.build();
    let other = hello().file("usr/bin/extra", b"x").build();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "x.apk",
            b"<html>404</html>".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.apk",
            full[..full.len() / 2].to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.apk",
            hello().raw_pkginfo(b"pkgname = x\n").build(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.apk",
            hello().data_member("../escape", b"x").build(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.apk",
            ApkBuilder::new("bad$name", "1-r0", "noarch").build(),
            StatusCode::BAD_REQUEST,
        ),
        ("x.apk", apk_bomb(64 << 20), StatusCode::BAD_REQUEST),
        ("hello-1.0-r0.apk", other.clone(), StatusCode::CONFLICT),
        ("hello-copy.apk", other, StatusCode::CONFLICT),
    ];
    for (name, bytes, status) in cases {
        let r = s.upload(name, bytes).await;
        assert!(
            r.status == status || (status == StatusCode::BAD_REQUEST && r.status.is_client_error()),
            "{name}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(s.observable().await, before, "{name}");
    }
}
