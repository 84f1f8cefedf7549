//! Package downloads on S3 (moto on loopback), in-process: a repository
//! with `"download": "redirect"` answers `307` to a presigned URL of the
//! blob store, which serves the bytes (and ranges of them); one with the
//! default `proxy` streams the bytes through depot. On a store that cannot
//! presign (local disk), `redirect` falls back to streaming.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use depot_core::{DownloadMode, TokenScope};
use depot_http::{HttpOptions, router};
use depot_service::{Depot, ServiceConfig, StoreUrls};
use depot_store::conformance::MotoServer;
use depot_testkit::DebBuilder;
use http_body_util::BodyExt;
use tower::ServiceExt;

struct App {
    app: Router,
    admin: String,
}

impl App {
    async fn new(depot: Depot) -> App {
        let (_, admin) = depot
            .create_token("test-admin", TokenScope::Admin)
            .await
            .unwrap();
        App {
            app: router(depot, HttpOptions::default()),
            admin,
        }
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(header::HeaderName, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, axum::http::HeaderMap, Bytes) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.admin));
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, body)
    }

    /// Creates `repo` with `settings` (JSON) and uploads `deb` to it.
    async fn repo_with(&self, repo: &str, settings: &str, deb: &[u8], filename: &str) {
        let (status, _, body) = self
            .send(
                Method::POST,
                &format!("/repos/{repo}/"),
                &[(header::CONTENT_TYPE, "application/json")],
                settings.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&body)
        );
        let (status, _, body) = self
            .send(
                Method::POST,
                &format!("/repos/{repo}/packages/?filename={filename}"),
                &[],
                deb.to_vec(),
            )
            .await;
        assert!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_repos_answer_307_to_a_presigned_url_that_serves_the_bytes() {
    let moto = MotoServer::start();
    moto.create_bucket("downloads");
    let dir = tempfile::tempdir().unwrap();
    let urls = StoreUrls {
        meta: None,
        blobs: Some("s3://downloads/depot".into()),
        s3: moto.options(),
    };
    let depot = Depot::open_urls(dir.path(), &urls, ServiceConfig::default())
        .await
        .unwrap();
    let app = App::new(depot.clone()).await;
    let deb = DebBuilder::new("hello", "1.0-1", "amd64").build();
    let file = "hello_1.0-1_amd64.deb";
    app.repo_with("red", r#"{"download": "redirect"}"#, &deb, file)
        .await;
    app.repo_with("prox", "", &deb, file).await;
    let red = depot
        .repo(&depot_core::RepoName::new("red").unwrap())
        .await
        .unwrap();
    assert_eq!(red.settings.download, DownloadMode::Redirect);

    // redirect: 307 to the blob store, whose URL gives the bytes.
    let (status, headers, body) = app
        .send(
            Method::GET,
            &format!("/repos/red/packages/{file}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    assert!(body.is_empty());
    let location = headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!(
            "{}/downloads/depot/blobs/sha256/",
            moto.endpoint()
        )),
        "{location}"
    );
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let http = http_client();
    let fetched = http.get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert!(
        fetched.bytes().await.unwrap() == deb,
        "the redirect serves the package"
    );

    // A ranged request is redirected too; the store answers the range.
    let (status, headers, _) = app
        .send(
            Method::GET,
            &format!("/repos/red/packages/{file}"),
            &[(header::RANGE, "bytes=10-29")],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    let location = headers[header::LOCATION].to_str().unwrap();
    let part = http
        .get(location)
        .header("Range", "bytes=10-29")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &deb[10..30]);

    // HEAD redirects as well.
    let (status, _, _) = app
        .send(
            Method::HEAD,
            &format!("/repos/red/packages/{file}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);

    // proxy (the default): the bytes come through depot.
    let (status, headers, body) = app
        .send(
            Method::GET,
            &format!("/repos/prox/packages/{file}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers.get(header::LOCATION).is_none());
    assert!(body == deb, "proxied bytes");
    let (status, _, body) = app
        .send(
            Method::GET,
            &format!("/repos/prox/packages/{file}"),
            &[(header::RANGE, "bytes=10-29")],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body.as_ref(), &deb[10..30]);

    // Index files are always served by depot (they resolve through the
    // publication pointer), also in a redirect repo.
    let (status, _, body) = app
        .send(
            Method::GET,
            "/repos/red/dists/stable/InRelease",
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("BEGIN PGP SIGNED MESSAGE"));

    // A missing package is a 404, not a redirect to nowhere.
    let (status, _, _) = app
        .send(
            Method::GET,
            "/repos/red/packages/missing_1_all.deb",
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn redirect_on_a_store_that_cannot_presign_streams() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(dir.path(), ServiceConfig::default())
        .await
        .unwrap();
    let app = App::new(depot).await;
    let deb = DebBuilder::new("hello", "1.0-1", "amd64").build();
    let file = "hello_1.0-1_amd64.deb";
    app.repo_with("red", r#"{"download": "redirect"}"#, &deb, file)
        .await;
    let (status, _, body) = app
        .send(
            Method::GET,
            &format!("/repos/red/packages/{file}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == deb);

    // Unknown modes are refused at creation.
    let (status, _, _) = app
        .send(
            Method::POST,
            "/repos/bad/",
            &[(header::CONTENT_TYPE, "application/json")],
            br#"{"download": "teleport"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
