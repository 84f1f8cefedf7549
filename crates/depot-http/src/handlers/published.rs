//! What stock clients fetch: a repository's published tree, through one
//! handler. The service decides what a path is (a file of the current
//! publication, a file a format's publisher serves beside it, a key or a
//! client configuration file: see `depot_service`'s `tree` module); this
//! handler only checks read access, picks the caching, and answers `Range`
//! and conditional requests. Also the health check.

use crate::AppState;
use crate::auth::Caller;
use crate::download::{self, Caching};
use crate::error::ApiError;
use crate::extract::PathParams;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use depot_core::{PlacementName, RelPath, RepoName};
use depot_service::At;
use depot_service::auth::Action;

/// `GET|HEAD /repos/{repo}/{*path}`: any file of the repo's published tree
/// (`dists/`, `dist/`, `repodata/`, `rpm/`, `pacman/`, `alpine/`,
/// `freebsd/`, the keys `key.asc` and `key.rsa.pub`, and the client
/// configuration files `config.repo`, `pacman.conf`, `alpine/repositories`,
/// `freebsd/repo.conf`, which take `?distribution=&component=` for a
/// placement other than the repo's default and use the address the request
/// came in on, `X-Forwarded-Proto`/`-Host` when a proxy sets them).
pub async fn tree(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, path)): PathParams<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    // A directory URL (`pypi/simple/`, as PEP 503 writes every page's)
    // is resolved by its path without the slash: no file path ends in one.
    let path = RelPath::new(path.strip_suffix('/').unwrap_or(&path))?;
    caller.repo(&state, &name, Action::Read).await?;
    let depot = &state.depot;
    if depot.is_text_path(path.as_str()) {
        let at = placement_query(query.as_deref())?;
        let base = external_base(&headers);
        let (content_type, text) = depot.tree_text(&name, path.as_str(), &base, &at).await?;
        return Ok((
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            text,
        )
            .into_response());
    }
    let caching = if depot.is_immutable_path(path.as_str()) {
        Caching::Immutable
    } else {
        Caching::Revalidate
    };
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    download::serve(&headers, caching, |range| {
        depot.published_file_as(&name, path.as_str(), range, accept.as_deref())
    })
    .await
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacementQuery {
    distribution: Option<String>,
    component: Option<String>,
}

/// `?distribution=&component=` of a client configuration file; anything
/// else in the query is refused.
fn placement_query(query: Option<&str>) -> Result<At, ApiError> {
    let q: PlacementQuery = serde_urlencoded_query(query.unwrap_or(""))?;
    Ok(At {
        distribution: q.distribution.map(|d| PlacementName::new(&d)).transpose()?,
        component: q.component.map(|c| PlacementName::new(&c)).transpose()?,
    })
}

fn serde_urlencoded_query<T: serde::de::DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ApiError::invalid("malformed query string".to_string()))?;
    axum::extract::Query::<T>::try_from_uri(&uri)
        .map(|axum::extract::Query(t)| t)
        .map_err(|e| ApiError::invalid(e.body_text()))
}

/// `scheme://host` of the request as the client sees it.
fn external_base(headers: &HeaderMap) -> String {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let proto = get("x-forwarded-proto")
        .filter(|p| p == "http" || p == "https")
        .unwrap_or_else(|| "http".to_string());
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or_else(|| "localhost".to_string());
    format!("{proto}://{host}")
}

/// `GET /healthz`: the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}
