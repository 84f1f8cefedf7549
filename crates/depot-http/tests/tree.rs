//! The served tree of a repository holding every format, URL by URL
//! (Python packages were added after the one serving path, through its
//! seams alone).
//!
//! Written before the per-format routes became one serving path, and run
//! unchanged after: every file of the publication's manifest, every path a
//! publisher serves beside it (packages under the pacman and rpm trees,
//! pacman signatures, the apt `dist/` alias and `by-hash/`, the keys, the
//! client configuration files) answers with the same status, content type,
//! validators and bytes as the source they come from (the blob store, the
//! package record, the service's key).

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use depot_core::{Format, RepoName, TokenScope};
use depot_http::{HttpOptions, router};
use depot_service::{At, Depot, ServiceConfig};
use depot_testkit::{
    ApkBuilder, DebBuilder, FreebsdBuilder, PacmanBuilder, RpmBuilder, WheelBuilder,
};
use http_body_util::BodyExt;
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
    fn header(&self, name: &header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl Server {
    async fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = ServiceConfig {
            rsa_key_bits: 2048,
            xz_delay: None,
            ..ServiceConfig::default()
        };
        let limit = config.max_upload_bytes;
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

    async fn get(&self, uri: &str) -> Reply {
        self.send(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
    }

    async fn head(&self, uri: &str) -> Reply {
        self.send(
            Request::builder()
                .method(Method::HEAD)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn upload(&self, file: &str, query: &str, bytes: Vec<u8>) {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/repos/all/packages/?filename={file}{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin))
            .body(Body::from(bytes))
            .unwrap();
        let reply = self.send(request).await;
        assert!(
            reply.status.is_success(),
            "upload {file}: {} {}",
            reply.status,
            reply.text()
        );
    }
}

const OTHER: &str = "&distribution=testing&component=extra";

/// A repo with packages of all five formats, in the default placement and
/// in `testing/extra`.
async fn all_formats() -> Server {
    let s = Server::new().await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/repos/all/")
        .header(header::AUTHORIZATION, format!("Bearer {}", s.admin))
        .body(Body::empty())
        .unwrap();
    assert_eq!(s.send(request).await.status, StatusCode::CREATED);
    let debs = [
        DebBuilder::new("hello", "1.0", "amd64"),
        DebBuilder::new("hello-doc", "1.0", "all"),
    ];
    for d in &debs {
        s.upload(&d.file_name(), "", d.build()).await;
    }
    let d = DebBuilder::new("extra", "2.0", "arm64");
    s.upload(&d.file_name(), OTHER, d.build()).await;
    let r = RpmBuilder::new("hello", "1.0", "1", "x86_64");
    s.upload(&r.file_name(), "", r.build()).await;
    let r = RpmBuilder::new("extra", "2.0", "1", "noarch");
    s.upload(&r.file_name(), OTHER, r.build()).await;
    let p = PacmanBuilder::new("hello", "1.0-1", "x86_64");
    s.upload(&p.file_name(), "", p.build()).await;
    let p = PacmanBuilder::new("extra", "2.0-1", "any");
    s.upload(&p.file_name(), OTHER, p.build()).await;
    for a in [
        ApkBuilder::new("hello", "1.0-r0", "x86_64"),
        ApkBuilder::new("hello-doc", "1.0-r0", "noarch"),
    ] {
        s.upload(&a.file_name(), "", a.build()).await;
    }
    let f = FreebsdBuilder::new("hello", "1.0_1", "FreeBSD:14:amd64");
    s.upload(&f.file_name(), "", f.build()).await;
    let f = FreebsdBuilder::new("extra", "2.0", "FreeBSD:14:*");
    s.upload(&f.file_name(), OTHER, f.build()).await;
    let w = WheelBuilder::new("hello", "1.0");
    s.upload(&w.file_name(), "", w.build()).await;
    s
}

fn content_type_of(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap();
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("gz") => "application/gzip",
        Some("xz") => "application/x-xz",
        Some("zst") => "application/zstd",
        Some("gpg" | "asc" | "sig") => "application/pgp-signature",
        Some("deb") => "application/vnd.debian.binary-package",
        Some("rpm") => "application/x-rpm",
        Some("xml") => "application/xml",
        _ if matches!(name, "Release" | "InRelease" | "Packages") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One GET and one HEAD of `url`, checked against `want` and `content_type`.
async fn check(s: &Server, url: &str, want: &[u8], content_type: &str) {
    let r = s.get(url).await;
    assert_eq!(r.status, StatusCode::OK, "GET {url}: {}", r.text());
    assert!(
        r.body[..] == *want,
        "GET {url}: the bytes differ from the source"
    );
    assert_eq!(
        r.header(&header::CONTENT_TYPE),
        Some(content_type),
        "GET {url}: content type"
    );
    assert_eq!(
        r.header(&header::CONTENT_LENGTH),
        Some(want.len().to_string().as_str()),
        "GET {url}: length"
    );
    let h = s.head(url).await;
    assert_eq!(h.status, StatusCode::OK, "HEAD {url}");
    assert!(h.body.is_empty(), "HEAD {url} has no body");
    assert_eq!(
        h.header(&header::CONTENT_LENGTH),
        r.header(&header::CONTENT_LENGTH),
        "HEAD {url}: length"
    );
    assert_eq!(
        h.header(&header::ETAG),
        r.header(&header::ETAG),
        "HEAD {url}: validator"
    );
}

#[tokio::test]
async fn every_served_path_of_a_repo_with_all_formats_answers_its_source_bytes() {
    let s = all_formats().await;
    let depot = &s.depot;
    let name = RepoName::new("all").unwrap();
    let repo = depot.repo(&name).await.unwrap();
    let (id, _) = depot
        .meta()
        .published_pointer(repo.id)
        .await
        .unwrap()
        .unwrap();
    let publication = depot.meta().get_publication(id).await.unwrap().unwrap();
    let files = &publication.manifest.files;
    for prefix in [
        "dists/stable/",
        "dists/testing/",
        "repodata/",
        "rpm/testing/extra/repodata/",
        "pacman/x86_64/",
        "alpine/stable/main/x86_64/",
        "freebsd/FreeBSD:14:amd64/",
        "freebsd/testing/extra/FreeBSD:14:amd64/",
        "pypi/simple/",
    ] {
        assert!(
            files.keys().any(|p| p.starts_with(prefix)),
            "the manifest has files under {prefix}: {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    let mut by_hash = 0;
    for (path, f) in files {
        let mut bytes = Vec::new();
        for c in &f.chunks {
            bytes.extend_from_slice(&depot.blobs().get_bytes(&c.digest).await.unwrap());
        }
        assert_eq!(bytes.len() as u64, f.size, "{path}: chunks add up");
        let url = format!("/repos/all/{path}");
        check(&s, &url, &bytes, content_type_of(path)).await;
        let etag = s.get(&url).await.header(&header::ETAG).map(str::to_string);
        assert_eq!(
            etag,
            Some(format!("\"{}\"", f.hashes.sha256.hex())),
            "{path}: the ETag is the content's SHA-256"
        );
        if let Some(rest) = path.strip_prefix("dists/") {
            check(
                &s,
                &format!("/repos/all/dist/{rest}"),
                &bytes,
                content_type_of(path),
            )
            .await;
            if let Some(dir) = path.strip_suffix("/Packages.gz") {
                for (kind, hex) in [
                    ("SHA256", f.hashes.sha256.hex()),
                    ("SHA512", f.hashes.sha512.clone()),
                    ("MD5Sum", f.hashes.md5.clone()),
                ] {
                    let url = format!("/repos/all/{dir}/by-hash/{kind}/{hex}");
                    // by-hash names carry no extension: served as octet-stream.
                    check(&s, &url, &bytes, "application/octet-stream").await;
                    let r = s.get(&url).await;
                    assert!(
                        r.header(&header::CACHE_CONTROL)
                            .is_some_and(|c| c.contains("immutable")),
                        "{url} is immutable"
                    );
                    by_hash += 1;
                }
            }
        }
    }
    assert!(by_hash >= 6, "by-hash paths were checked");

    // Packages beside the pacman databases and under the rpm trees.
    for p in depot.list_packages(&name).await.unwrap() {
        let blob = depot.blobs().get_bytes(&p.hashes.sha256).await.unwrap();
        let file = p.filename.as_str();
        match p.format {
            Format::Pacman => {
                for arch in ["x86_64"] {
                    let url = format!("/repos/all/pacman/{arch}/{file}");
                    check(&s, &url, &blob, "application/octet-stream").await;
                    let sig = s.get(&format!("{url}.sig")).await;
                    assert_eq!(sig.status, StatusCode::OK, "{url}.sig");
                    assert_eq!(
                        sig.header(&header::CONTENT_TYPE),
                        Some("application/pgp-signature")
                    );
                    assert!(!sig.body.is_empty());
                }
            }
            Format::Rpm => {
                let url = format!("/repos/all/rpm/testing/extra/packages/{file}");
                check(&s, &url, &blob, "application/x-rpm").await;
            }
            Format::Pypi => {
                // The project page links the file and its hash.
                let page = s.get("/repos/all/pypi/simple/hello/").await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.text());
                assert!(
                    page.text()
                        .contains(&format!("{file}#sha256={}", p.hashes.sha256.hex())),
                    "{}",
                    page.text()
                );
            }
            _ => {}
        }
        let url = format!("/repos/all/packages/{file}");
        let r = s.get(&url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        assert!(r.body[..] == blob[..], "{url}");
    }

    // Keys.
    let armored = depot.public_key_armored(&name).await.unwrap();
    check(
        &s,
        "/repos/all/key.asc",
        armored.as_bytes(),
        "application/pgp-keys",
    )
    .await;
    let (key_name, pem) = depot.rsa_public_key(&name).await.unwrap();
    check(
        &s,
        "/repos/all/key.rsa.pub",
        pem.as_bytes(),
        "application/x-pem-file",
    )
    .await;
    check(
        &s,
        &format!("/repos/all/alpine/{key_name}"),
        pem.as_bytes(),
        "application/x-pem-file",
    )
    .await;

    // Client configuration, with the address the request came in on.
    let base = "http://localhost";
    let text = "text/plain; charset=utf-8";
    let default = At::default();
    for (format, url) in [
        (Format::Rpm, "/repos/all/config.repo"),
        (Format::Pacman, "/repos/all/pacman.conf"),
        (Format::Apk, "/repos/all/alpine/repositories"),
        (Format::Freebsd, "/repos/all/freebsd/repo.conf"),
    ] {
        let conf = depot
            .client_config(&name, format, base, &default)
            .await
            .unwrap()
            .unwrap();
        check(&s, url, conf.as_bytes(), text).await;
    }
    let at = At {
        distribution: Some(depot_core::PlacementName::new("testing").unwrap()),
        component: Some(depot_core::PlacementName::new("extra").unwrap()),
    };
    let conf = depot
        .client_config(&name, Format::Rpm, base, &at)
        .await
        .unwrap()
        .unwrap();
    assert!(conf.contains("/repos/all/rpm/testing/extra"), "{conf}");
    check(
        &s,
        "/repos/all/config.repo?distribution=testing&component=extra",
        conf.as_bytes(),
        text,
    )
    .await;

    // What is not there is a 404 everywhere in the tree.
    for url in [
        "/repos/all/dists/nope/InRelease",
        "/repos/all/repodata/nope.xml",
        "/repos/all/pacman/x86_64/nope-1-1-x86_64.pkg.tar.zst",
        "/repos/all/pacman/x86_64/nope.db.sig",
        "/repos/all/alpine/stable/main/x86_64/nope-1-r0.apk",
        "/repos/all/alpine/depot-00000000.rsa.pub",
        "/repos/all/freebsd/FreeBSD:14:amd64/All/nope-1.pkg",
        "/repos/all/rpm/testing/extra/packages/nope-1-1.x86_64.rpm",
        "/repos/nope/dists/stable/InRelease",
        "/repos/nope/key.asc",
    ] {
        assert_eq!(s.get(url).await.status, StatusCode::NOT_FOUND, "{url}");
    }
}
