//! The route table: every URL the server answers, in one place.
//!
//! | method | path | handler |
//! | --- | --- | --- |
//! | GET | `/healthz` | [`published::healthz`] |
//! | GET | `/repos/` | [`repos::list`] |
//! | POST | `/repos/{repo}/` | [`repos::create`] |
//! | GET | `/repos/{repo}/` | [`packages::list`] |
//! | DELETE | `/repos/{repo}/` | [`repos::delete`] |
//! | TRACE | `/repos/{repo}/` | [`repos::rebuild`] |
//! | POST | `/repos/{repo}/rebuild` | [`repos::rebuild`] |
//! | GET | `/repos/{repo}/packages/` | [`packages::list`] |
//! | POST | `/repos/{repo}/packages/` | [`packages::upload`] (no body limit but ours) |
//! | GET, HEAD | `/repos/{repo}/packages/{file}` | [`packages::download`] |
//! | DELETE | `/repos/{repo}/packages/{file}` | [`packages::remove`] |
//! | GET, HEAD | `/repos/{repo}/{*path}` | [`published::tree`]: the published tree of every format (`dists/`, `dist/`, `repodata/`, `rpm/`, `pacman/`, `alpine/`, `freebsd/`), the keys (`key.asc`, `key.rsa.pub`) and the client configuration files (`config.repo`, `pacman.conf`, `alpine/repositories`, `freebsd/repo.conf`) |
//! | GET | `/images/` | [`images::list`] (`?scope=mine\|shared\|public\|all`) |
//! | POST | `/images/` | [`images::create`] (multipart `meta` + `file`; no body limit but ours) |
//! | GET | `/images/{id}` | [`images::show`] |
//! | PATCH | `/images/{id}` | [`images::update`] |
//! | DELETE | `/images/{id}` | [`images::delete`] |
//! | GET, HEAD | `/images/{id}/file` | [`images::download`] |
//! | PUT | `/images/{id}/file` | [`images::overwrite`] (no body limit but ours) |
//! | POST | `/images/{id}/copy` | [`images::copy`] |
//! | GET | `/images/{id}/history` | [`images::history`] |
//!
//! Collection paths answer with and without the trailing slash. Anything
//! else is a JSON `404 not_found`.

use crate::handlers::{images, packages, published, repos};
use crate::{AppState, HttpOptions, error::ApiError};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, Uri};
use axum::routing::{MethodRouter, get, post};
use depot_service::{Depot, ServiceError};
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The whole HTTP API over `depot`.
pub fn router(depot: Depot, opts: HttpOptions) -> Router {
    let state = AppState {
        depot,
        opts: Arc::new(opts),
    };

    let repo: MethodRouter<AppState> = get(packages::list)
        .post(repos::create)
        .delete(repos::delete)
        .trace(repos::rebuild);
    let package_collection: MethodRouter<AppState> = post(packages::upload)
        .layer(DefaultBodyLimit::disable())
        .get(packages::list);

    let image_collection: MethodRouter<AppState> = post(images::create)
        .layer(DefaultBodyLimit::disable())
        .get(images::list);
    let image_file: MethodRouter<AppState> = axum::routing::put(images::overwrite)
        .layer(DefaultBodyLimit::disable())
        .get(images::download);

    Router::new()
        .route("/healthz", get(published::healthz))
        .route("/images", image_collection.clone())
        .route("/images/", image_collection)
        .route(
            "/images/{id}",
            get(images::show)
                .patch(images::update)
                .delete(images::delete),
        )
        .route("/images/{id}/file", image_file)
        .route("/images/{id}/copy", post(images::copy))
        .route("/images/{id}/history", get(images::history))
        .route("/repos", get(repos::list))
        .route("/repos/", get(repos::list))
        .route("/repos/{repo}", repo.clone())
        .route("/repos/{repo}/", repo)
        .route("/repos/{repo}/rebuild", post(repos::rebuild))
        .route("/repos/{repo}/packages", package_collection.clone())
        .route("/repos/{repo}/packages/", package_collection)
        .route(
            "/repos/{repo}/packages/{file}",
            get(packages::download).delete(packages::remove),
        )
        .route("/repos/{repo}/{*path}", get(published::tree))
        .fallback(no_route)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(Level::INFO))
                        // ApiError logs internal errors, once; a 5xx needs no second line.
                        .on_failure(()),
                )
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
        .with_state(state)
}

/// One span per request, carrying the request id that is also sent back in
/// `x-request-id`.
fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        uri = %request.uri(),
    )
}

async fn no_route(uri: Uri) -> ApiError {
    ApiError(ServiceError::NotFound(format!(
        "no such endpoint {}",
        uri.path()
    )))
}
