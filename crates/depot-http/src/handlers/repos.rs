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
use depot_core::{Repo, RepoName, RepoSettings, Revision, Timestamp};
use depot_service::RebuildReport;
use depot_service::auth::Action;
use serde::{Deserialize, Serialize};

/// A repository as the API shows it: what a user set and can rely on, not
/// the store's row. `depot_core::Repo` also holds the database id and the
/// removal generation (which tells an incremental publisher whether it may
/// extend the previous indexes); both are the store's business, and
/// serializing `Repo` put them in every answer (issue 11). A field is
/// added here on purpose, never by a change to `Repo`.
///
/// The CLI reads this back from a server (`depot --server ... list`), so it
/// deserializes too, ignoring fields it does not know (a newer server's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoView {
    pub name: RepoName,
    /// As set at creation (`description`, `public`, default placement,
    /// `architectures`, `download`); nothing secret.
    pub settings: RepoSettings,
    /// Bumped by every change (upload, removal, rebuild, settings).
    pub revision: Revision,
    /// Seconds since the epoch.
    pub created_at: Timestamp,
}

impl From<Repo> for RepoView {
    fn from(repo: Repo) -> Self {
        RepoView {
            name: repo.name,
            settings: repo.settings,
            revision: repo.revision,
            created_at: repo.created_at,
        }
    }
}

/// `GET /repos/`: the repositories this caller may read, by name.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<RepoView>>, ApiError> {
    let repos = state.depot.list_repos().await?;
    Ok(Json(
        repos
            .into_iter()
            .filter(|repo| caller.authorize(Action::Read, Some(repo)).is_ok())
            .map(RepoView::from)
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
        Json(RepoView::from(repo)),
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
