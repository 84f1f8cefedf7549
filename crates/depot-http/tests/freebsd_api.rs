//! The FreeBSD routes in-process (tower `oneshot`) over a real service
//! on a temp data directory: the served tree (meta.conf, catalogues,
//! packages under All/), the repo.conf text, and the status code of each
//! bad-input row, each leaving the package list and the catalogue as
//! they were.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::TokenScope;
use depot_http::{ErrorBody, HttpOptions, router};
use depot_service::{Depot, ServiceConfig};
use depot_testkit::FreebsdBuilder;
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
    config.formats = config.formats.with(depot_formats::freebsd::Freebsd::new(
        depot_formats::freebsd::Limits {
            max_unpacked: 16 << 20,
            ..Default::default()
        },
    ));
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
    let reply = s.admin(Method::POST, "/repos/bsd/", Body::empty()).await;
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
        let uri = format!("/repos/bsd/packages/?filename={filename}");
        self.admin(Method::POST, &uri, bytes).await
    }

    /// The package list and the FreeBSD:14:amd64 catalogue.
    async fn observable(&self) -> (String, Bytes) {
        let list = self.get("/repos/bsd/packages/").await;
        assert_eq!(list.status, StatusCode::OK);
        let index = self
            .get("/repos/bsd/freebsd/FreeBSD:14:amd64/packagesite.pkg")
            .await;
        assert_eq!(index.status, StatusCode::OK);
        (list.text(), index.body)
    }
}

fn hello() -> FreebsdBuilder {
    FreebsdBuilder::new("hello", "1.0_1", "FreeBSD:14:amd64")
        .file("/usr/local/bin/hello", b"#!/bin/sh\n")
}

#[tokio::test]
async fn the_freebsd_tree_is_served() {
    let s = server().await;
    let p = hello();
    let bytes = p.build();
    let reply = s.upload(&p.file_name(), bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["format"], "freebsd");
    assert_eq!(reply.json()["arch"], "FreeBSD:14:amd64");
    for path in [
        "meta.conf",
        "meta",
        "meta.txz",
        "packagesite.pkg",
        "packagesite.txz",
        "data.pkg",
        "data.txz",
    ] {
        let r = s
            .get(&format!("/repos/bsd/freebsd/FreeBSD:14:amd64/{path}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert!(!r.body.is_empty(), "{path}");
    }
    let site = s
        .get("/repos/bsd/freebsd/FreeBSD:14:amd64/packagesite.pkg")
        .await;
    assert_eq!(
        site.headers[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let members = depot_formats::freebsd::read_archive(&site.body).unwrap();
    let yaml = &members
        .iter()
        .find(|(n, _)| n == "packagesite.yaml")
        .unwrap()
        .1;
    assert!(String::from_utf8_lossy(yaml).contains("\"path\":\"All/hello-1.0_1.pkg\""));
    let pkg = s
        .get("/repos/bsd/freebsd/FreeBSD:14:amd64/All/hello-1.0_1.pkg")
        .await;
    assert_eq!(pkg.status, StatusCode::OK);
    assert_eq!(pkg.body.as_ref(), bytes.as_slice());
    let conf = s.get("/repos/bsd/freebsd/repo.conf").await;
    assert_eq!(conf.status, StatusCode::OK);
    let text = conf.text();
    assert!(
        text.contains("url: \"http://localhost/repos/bsd/freebsd/${ABI}\""),
        "{text}"
    );
    assert!(text.contains("/repos/bsd/key.rsa.pub"), "{text}");
    let key = s.get("/repos/bsd/key.rsa.pub").await;
    assert_eq!(key.status, StatusCode::OK);
    for missing in [
        "FreeBSD:14:amd64/All/nope-1.pkg",
        "FreeBSD:13:amd64/packagesite.pkg",
    ] {
        let r = s.get(&format!("/repos/bsd/freebsd/{missing}")).await;
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
    let other = hello().file("/usr/local/bin/extra", b"x").build();
    let zeros = vec![0u8; 32 << 20];
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (
            "x.pkg",
            b"<html>404</html>".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.pkg",
            full[..full.len() / 2].to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.pkg",
            hello().remove("name").build(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.pkg",
            hello().member("../escape", b"x").build(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.pkg",
            FreebsdBuilder::new("bad$name", "1", "FreeBSD:14:amd64").build(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "x.pkg",
            hello().file("/usr/local/zeros", &zeros).build(),
            StatusCode::BAD_REQUEST,
        ),
        ("hello-1.0_1.pkg", other.clone(), StatusCode::CONFLICT),
        ("hello-copy.pkg", other, StatusCode::CONFLICT),
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
