//! `/repos/{repo}/packages/`: list, upload, download, remove.

use crate::AppState;
use crate::auth::Caller;
use crate::download::{self, Caching};
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use depot_core::{FileName, Package, PlacementName, RepoName};
use depot_service::auth::Action;
use depot_service::{ServiceError, UploadOptions, UploadOutcome};
use futures::TryStreamExt;
use serde::Deserialize;
use std::io;
use tokio_util::io::StreamReader;

/// `GET /repos/{repo}/` and `GET /repos/{repo}/packages/`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
) -> Result<Json<Vec<Package>>, ApiError> {
    let name = RepoName::new(&repo)?;
    caller.repo(&state, &name, Action::Read).await?;
    Ok(Json(state.depot.list_packages(&name).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file name of a raw (non-multipart) upload.
    filename: Option<String>,
    distribution: Option<String>,
    component: Option<String>,
}

/// `POST /repos/{repo}/packages/`: upload, as `multipart/form-data` with one
/// or more `file` parts (stored in order, each under its part's file name),
/// or as a raw body named by `?filename=`. Placement by
/// `?distribution=&component=` (the repo's defaults otherwise).
///
/// The body is streamed into the service, never held whole in memory. The
/// response comes once the published indexes include the upload: `201` with
/// the package when it was stored, `200` when the identical file already was.
/// A multipart request with several files answers with a JSON array (`201` if
/// any was new); files before a failing one stay stored.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(repo): PathParams<String>,
    QueryParams(query): QueryParams<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    let opts = UploadOptions {
        distribution: query
            .distribution
            .as_deref()
            .map(PlacementName::new)
            .transpose()?,
        component: query
            .component
            .as_deref()
            .map(PlacementName::new)
            .transpose()?,
    };
    caller.repo(&state, &name, Action::Write).await?;
    let limit = state.opts.max_upload_bytes;
    if content_length(request.headers()).is_some_and(|len| len > limit) {
        return Err(ApiError(ServiceError::TooLarge { limit }));
    }

    if !is_multipart(request.headers()) {
        let filename = query.filename.as_deref().ok_or_else(|| {
            ApiError::invalid("a raw upload needs ?filename= (or send multipart/form-data)")
        })?;
        let filename = FileName::new(filename)?;
        let body = request
            .into_body()
            .into_data_stream()
            .map_err(io::Error::other);
        let outcome = state
            .depot
            .upload(&name, &filename, StreamReader::new(body), &opts)
            .await?;
        return Ok(uploaded(&name, vec![outcome]));
    }

    if query.filename.is_some() {
        return Err(ApiError::invalid(
            "?filename= is for raw uploads; a multipart 'file' part carries its own file name",
        ));
    }
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|e| ApiError::invalid(e.body_text()))?;
    // Every part is staged and stored as it streams in, and recorded in
    // batches; the whole form is published once. Parts prepared before a
    // failing one are still recorded and published; then the first error
    // is returned.
    let mut batch = state.depot.batch(&name);
    let mut malformed = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                malformed = Some(ApiError::invalid(e.body_text()));
                break;
            }
        };
        if field.name() != Some("file") {
            malformed = Some(ApiError::invalid(format!(
                "unexpected form field {:?}; send files as 'file' parts",
                field.name().unwrap_or_default()
            )));
            break;
        }
        let Some(filename) = field.file_name() else {
            malformed = Some(ApiError::invalid("a 'file' part needs a filename"));
            break;
        };
        let filename = match FileName::new(filename) {
            Ok(f) => f,
            Err(e) => {
                malformed = Some(e.into());
                break;
            }
        };
        let reader = StreamReader::new(field.map_err(io::Error::other));
        let prepared = state
            .depot
            .prepare_upload(&name, &filename, reader, &opts)
            .await;
        let failed = prepared.is_err();
        batch.add(prepared).await;
        if failed {
            break;
        }
    }
    let mut outcomes = Vec::new();
    let mut refused = None;
    for result in batch.finish().await? {
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => {
                refused.get_or_insert(e);
            }
        }
    }
    if let Some(e) = malformed {
        return Err(e);
    }
    if let Some(e) = refused {
        return Err(ApiError(e));
    }
    if outcomes.is_empty() {
        return Err(ApiError::invalid("the form has no 'file' part"));
    }
    Ok(uploaded(&name, outcomes))
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.get(..19)
                .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
        })
}

fn uploaded(repo: &RepoName, mut outcomes: Vec<UploadOutcome>) -> Response {
    let status = if outcomes.iter().any(|o| o.created) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if outcomes.len() == 1 {
        let package = outcomes.remove(0).package;
        let location = format!("/repos/{repo}/packages/{}", package.filename);
        let mut response = (status, Json(package)).into_response();
        // File names may hold characters a header cannot; Location is optional.
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return response;
    }
    let packages: Vec<Package> = outcomes.into_iter().map(|o| o.package).collect();
    (status, Json(packages)).into_response()
}

/// `GET|HEAD /repos/{repo}/packages/{file}`, with `Range`.
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams((repo, file)): PathParams<(String, String)>,
) -> Result<Response, ApiError> {
    let name = RepoName::new(&repo)?;
    let file = FileName::new(&file)?;
    caller.repo(&state, &name, Action::Read).await?;
    download::serve(&headers, Caching::Revalidate, |range| {
        state.depot.download(&name, &file, range)
    })
    .await
}

/// `DELETE /repos/{repo}/packages/{file}`: returns once the published
/// indexes no longer list it. `204`.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    PathParams((repo, file)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = RepoName::new(&repo)?;
    let file = FileName::new(&file)?;
    caller.repo(&state, &name, Action::Write).await?;
    state.depot.remove(&name, &file).await?;
    Ok(StatusCode::NO_CONTENT)
}
