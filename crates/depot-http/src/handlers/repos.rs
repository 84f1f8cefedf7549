//! `/repos/` and `/repos/{repo}/`: create, list, delete, rebuild.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::PathParams;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use depot_core::{Repo, RepoName, RepoSettings};
use depot_service::RebuildReport;
use depot_service::auth::Action;

/// `GET /repos/`: the repositories this caller may read, by name.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<Repo>>, ApiError> {
    let repos = state.depot.list_repos().await?;
    Ok(Json(
        repos
            .into_iter()
            .filter(|repo| caller.authorize(Action::Read, Some(repo)).is_ok())
            .collect(),
    ))
}

/// `POST /repos/{repo}/`: create, with optional JSON settings. `201`, or
/// `409 already_exists`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.authorize(Action::Admin, None)?;
    let body = body.map_err(|e| ApiError::invalid(e.body_text()))?;
    let settings = if body.iter().all(u8::is_ascii_whitespace) {
        RepoSettings::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("repository settings: {e}")))?
    };
    let repo = state.depot.create_repo(&name, settings).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/repos/{name}/"))],
        Json(repo),
    ))
}

/// `DELETE /repos/{repo}/`: the repo, its packages and its metadata. `204`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Admin).await?;
    state.depot.delete_repo(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `TRACE /repos/{repo}/` and `POST /repos/{repo}/rebuild`: drop the
/// generated metadata, re-read every stored package, publish again.
pub async fn rebuild(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<Json<RebuildReport>, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Write).await?;
    Ok(Json(state.depot.rebuild(&name).await?))
}
