//! What stock clients fetch: the apt tree under `dists/` (and its `dist/`
//! alias), the signing key, and the health check.

use crate::AppState;
use crate::auth::Caller;
use crate::download::{self, Caching};
use crate::error::ApiError;
use crate::extract::PathParams;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use depot_core::{RelPath, RepoName};
use depot_service::auth::Action;

/// `GET|HEAD /repos/{repo}/dists/{*path}` and `/repos/{repo}/dist/{*path}`:
/// a file of the current publication, with `Range`.
pub async fn dists(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    let path = RelPath::new(&format!("dists/{path}"))?;
    caller.repo(&state, &name, Action::Read).await?;
    let caching = if path.as_str().contains("/by-hash/") {
        Caching::Immutable
    } else {
        Caching::Revalidate
    };
    download::serve(&headers, caching, |range| {
        state.depot.published_file(&name, path.as_str(), range)
    })
    .await
}

/// `GET /repos/{repo}/key.asc`: the armored OpenPGP key the repo is signed
/// with, for `signed-by=`.
pub async fn public_key(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    let key = state.depot.public_key_armored(&name).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pgp-keys"),
        )],
        key,
    )
        .into_response())
}

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}
