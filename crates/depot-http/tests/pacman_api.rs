//! The pacman routes in-process (tower `oneshot`) over a real service on a
//! temp data directory: the served tree, `pacman.conf`, packager signatures
//! by multipart, and every bad-input row with its status code, each
//! leaving the package list and the database as they were.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::TokenScope;
use depot_http::{ErrorBody, HttpOptions, router};
use depot_service::{Depot, ServiceConfig};
use depot_testkit::{PacmanBuilder, TarMember, pacman_bomb};
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
    config.formats = config.formats.with(depot_formats::pacman::Pacman::new(
        depot_formats::pacman::Limits {
            max_unpacked: 32 << 20,
            ..Default::default()
        },
    ));
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
    let reply = s.admin(Method::POST, "/repos/arch/", Body::empty()).await;
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
        let uri = format!("/repos/arch/packages/?filename={filename}");
        self.admin(Method::POST, &uri, bytes).await
    }

    /// The package list and the uncompressed default database.
    async fn observable(&self) -> (String, Bytes) {
        let list = self.get("/repos/arch/packages/").await;
        assert_eq!(list.status, StatusCode::OK);
        let db = self.get("/repos/arch/pacman/x86_64/arch.db.tar").await;
        assert_eq!(db.status, StatusCode::OK);
        (list.text(), db.body)
    }
}

fn hello() -> PacmanBuilder {
    PacmanBuilder::new("hello", "1.0-1", "x86_64").file("usr/bin/hello", b"#!/bin/sh\n")
}

#[tokio::test]
async fn the_pacman_tree_is_served() {
    let s = server().await;
    let p = hello();
    let bytes = p.build();
    let reply = s.upload(&p.file_name(), bytes.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert_eq!(reply.json()["format"], "pacman");
    assert_eq!(reply.json()["fields"]["signature_by"], "repository");
    assert_eq!(
        s.upload(&p.file_name(), bytes.clone()).await.status,
        StatusCode::OK
    );

    for path in [
        "arch.db",
        "arch.db.tar.gz",
        "arch.db.sig",
        "arch.db.tar.gz.sig",
        "arch.files",
        "arch.files.tar.gz",
        "arch.files.sig",
        "arch.files.tar.gz.sig",
    ] {
        let r = s.get(&format!("/repos/arch/pacman/x86_64/{path}")).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert!(!r.body.is_empty(), "{path}");
    }
    let sig = s.get("/repos/arch/pacman/x86_64/arch.db.sig").await;
    assert_eq!(
        sig.headers[header::CONTENT_TYPE],
        "application/pgp-signature"
    );
    let pkg = s
        .get(&format!("/repos/arch/pacman/x86_64/{}", p.file_name()))
        .await;
    assert_eq!(pkg.status, StatusCode::OK);
    assert_eq!(pkg.body.as_ref(), bytes.as_slice());
    let request = Request::builder()
        .uri(format!("/repos/arch/pacman/x86_64/{}", p.file_name()))
        .header(header::RANGE, "bytes=0-3")
        .body(Body::empty())
        .unwrap();
    let part = s.send(request).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body.as_ref(), &bytes[..4]);
    let pkg_sig = s
        .get(&format!("/repos/arch/pacman/x86_64/{}.sig", p.file_name()))
        .await;
    assert_eq!(pkg_sig.status, StatusCode::OK);
    assert_eq!(pkg_sig.body.len(), 119, "an Ed25519 signature packet");
    for missing in [
        "nope.db",
        "nope-1-1-any.pkg.tar.zst",
        "nope-1-1-any.pkg.tar.zst.sig",
    ] {
        let r = s.get(&format!("/repos/arch/pacman/x86_64/{missing}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(r.error_code(), "not_found");
    }

    let conf = s.get("/repos/arch/pacman.conf").await;
    assert_eq!(conf.status, StatusCode::OK);
    let text = conf.text();
    assert!(text.contains("[arch]\nSigLevel = Required\n"), "{text}");
    assert!(
        text.contains("Server = http://localhost/repos/arch/pacman/$arch"),
        "{text}"
    );
    let conf = s.get("/repos/arch/pacman.conf?distribution=testing").await;
    assert!(conf.text().contains("[testing]"), "{}", conf.text());
}

#[tokio::test]
async fn a_package_and_its_signature_in_one_multipart_upload() {
    let s = server().await;
    let p = hello();
    let bytes = p.build();
    // A valid signature of these bytes: the one the server made at a first
    // upload, which is then removed.
    let uri = format!("/repos/arch/packages/?filename={}", p.file_name());
    assert_eq!(
        s.admin(Method::POST, &uri, bytes.clone()).await.status,
        StatusCode::CREATED
    );
    let sig = s
        .get(&format!("/repos/arch/pacman/x86_64/{}.sig", p.file_name()))
        .await
        .body
        .to_vec();
    let uri = format!("/repos/arch/packages/{}", p.file_name());
    assert_eq!(
        s.admin(Method::DELETE, &uri, Body::empty()).await.status,
        StatusCode::NO_CONTENT
    );
    const BOUNDARY: &str = "depot-pacman-boundary";
    let mut body = Vec::new();
    for (name, data) in [
        (p.file_name(), bytes.clone()),
        (format!("{}.sig", p.file_name()), sig.clone()),
    ] {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let request = Request::builder()
        .method(Method::POST)
        .uri("/repos/arch/packages/")
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .unwrap();
    let reply = s.send(request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let served = s
        .get(&format!("/repos/arch/pacman/x86_64/{}.sig", p.file_name()))
        .await;
    assert_eq!(served.body.as_ref(), sig.as_slice());
    let list = s.get("/repos/arch/packages/").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "the .sig is no package");
    assert_eq!(list[0]["fields"]["signature_by"], "packager");
}

#[tokio::test]
async fn bad_packages_get_clear_errors_and_change_nothing() {
    let s = server().await;
    let good = hello();
    assert_eq!(
        s.upload(&good.file_name(), good.build()).await.status,
        StatusCode::CREATED
    );
    let before = s.observable().await;
    let whole = PacmanBuilder::new("cut", "1-1", "any").build();
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "cut-1-1-any.pkg.tar.zst",
            whole[..whole.len() - 7].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "ends early",
        ),
        (
            "magic-1-1-any.pkg.tar.zst",
            b"PK\x03\x04 a zip file".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "not a pacman package",
        ),
        (
            "noname-1-1-any.pkg.tar.xz",
            PacmanBuilder::new("x", "1-1", "any")
                .raw_pkginfo(b"pkgver = 1-1\narch = any\n")
                .build(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "no pkgname",
        ),
        (
            "bomb-1-1-any.pkg.tar.zst",
            pacman_bomb(40 << 20),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "32 MiB",
        ),
        (
            "evil-1-1-any.pkg.tar.zst",
            hello()
                .member(TarMember::File("../../root/.ssh/authorized_keys", b"x"))
                .build(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "path traversal",
        ),
        (
            "bad-1-1-any.pkg.tar.zst",
            PacmanBuilder::new("b@d;name", "1-1", "any").build(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_package",
            "not allowed",
        ),
        (
            "semi;colon-1-1-any.pkg.tar.zst",
            hello().build(),
            StatusCode::BAD_REQUEST,
            "invalid",
            "may only contain",
        ),
        (
            "hello-1.0-1-x86_64.pkg.tar.zst",
            hello().desc("other content").build(),
            StatusCode::CONFLICT,
            "conflict",
            "other content",
        ),
    ];
    for (name, bytes, status, code, needle) in cases {
        let reply = s.upload(name, bytes).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        assert_eq!(reply.error_code(), code, "{name}");
        assert!(reply.text().contains(needle), "{name}: {}", reply.text());
        assert_eq!(s.observable().await, before, "{name} changed something");
    }
}
