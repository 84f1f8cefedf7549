//! `/images/`: VM images and other build artifacts with a UUID, an owner,
//! a visibility and a version history (docs/images.md).
//!
//! Who may see or change an image is decided by
//! `depot_service::auth::image_access`; an image the caller may not see
//! answers `404`, exactly like one that does not exist.

use crate::AppState;
use crate::auth::Caller;
use crate::download::{self, Caching};
use crate::error::ApiError;
use crate::extract::{PathParams, QueryParams};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use depot_core::{Image, ImageFormat, ImageId, ImageUpdate, ImageVersion, Visibility};
use depot_service::{ImageScope, ImageSpec, ServiceError};
use futures::TryStreamExt;
use serde::Deserialize;
use std::io;
use tokio_util::io::StreamReader;

/// Largest `meta` part of a create request (the metadata object inside it
/// has its own, smaller limit).
const MAX_META_PART: usize = 128 * 1024;

fn image_id(s: &str) -> Result<ImageId, ApiError> {
    ImageId::parse(s).ok_or_else(|| ApiError::invalid(format!("{s:?} is not an image UUID")))
}

fn format_hint(s: Option<&str>) -> Result<Option<ImageFormat>, ApiError> {
    s.map(|f| {
        ImageFormat::parse(f).ok_or_else(|| {
            ApiError::invalid(format!(
                "format must be qcow2, raw, vmdk, iso or other, not {f:?}"
            ))
        })
    })
    .transpose()
}

fn too_large(headers: &HeaderMap, state: &AppState) -> Result<(), ApiError> {
    let limit = state.opts.max_upload_bytes;
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if len.is_some_and(|len| len > limit) {
        return Err(ApiError(ServiceError::TooLarge { limit }));
    }
    Ok(())
}

fn created(image: Image) -> Response {
    let location = format!("/images/{}", image.id);
    let mut response = (StatusCode::CREATED, Json(image)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("a UUID path is a valid header"),
    );
    response
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    scope: Option<String>,
}

/// `GET /images/?scope=mine|shared|public|all` (default `all`: everything
/// the caller may see).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Vec<Image>>, ApiError> {
    let scope = match query.scope.as_deref() {
        None => ImageScope::All,
        Some(s) => ImageScope::parse(s)?,
    };
    Ok(Json(state.depot.list_images(caller.token(), scope).await?))
}

/// The `meta` part of a create request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMeta {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    format: Option<String>,
}

/// `POST /images/`: `multipart/form-data` with a `meta` part (JSON:
/// `name`, optional `description`, `visibility`, `metadata`, `format`)
/// followed by a `file` part, which is streamed to the blob store. `meta`
/// is validated before any byte of the file is read. `201` with the image
/// and `Location: /images/{id}`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Response, ApiError> {
    if caller.token().is_none() {
        return Err(ApiError(ServiceError::Unauthorized));
    }
    too_large(request.headers(), &state)?;
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|e| ApiError::invalid(e.body_text()))?;
    let mut spec: Option<ImageSpec> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::invalid(e.body_text()))?
    {
        match field.name() {
            Some("meta") if spec.is_none() => {
                let mut raw = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| ApiError::invalid(e.body_text()))?
                {
                    raw.extend_from_slice(&chunk);
                    if raw.len() > MAX_META_PART {
                        return Err(ApiError::invalid(format!(
                            "the 'meta' part is larger than {MAX_META_PART} bytes"
                        )));
                    }
                }
                let meta: CreateMeta = serde_json::from_slice(&raw)
                    .map_err(|e| ApiError::invalid(format!("the 'meta' part: {e}")))?;
                spec = Some(ImageSpec {
                    name: meta.name,
                    description: meta.description,
                    visibility: match meta.visibility.as_deref() {
                        None => Visibility::Private,
                        Some(v) => Visibility::parse(v).map_err(ApiError::invalid)?,
                    },
                    metadata: meta.metadata.unwrap_or_else(|| serde_json::json!({})),
                    format: format_hint(meta.format.as_deref())?,
                    filename: None,
                });
            }
            Some("file") => {
                let Some(mut spec) = spec.take() else {
                    return Err(ApiError::invalid(
                        "send the 'meta' part before the 'file' part",
                    ));
                };
                spec.filename = field.file_name().map(str::to_string);
                let reader = StreamReader::new(field.map_err(io::Error::other));
                let image = state
                    .depot
                    .create_image(caller.token(), spec, reader)
                    .await?;
                return Ok(created(image));
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "unexpected form field {:?}; send one 'meta' part, then one 'file' part",
                    other.unwrap_or_default()
                )));
            }
        }
    }
    Err(ApiError::invalid(
        "the form needs a 'meta' part and a 'file' part",
    ))
}

/// `GET /images/{id}`.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<Image>, ApiError> {
    let id = image_id(&id)?;
    Ok(Json(state.depot.image(caller.token(), id).await?))
}

/// `GET /images/{id}/history`: every version, newest first.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<Json<Vec<ImageVersion>>, ApiError> {
    let id = image_id(&id)?;
    Ok(Json(state.depot.image_history(caller.token(), id).await?))
}

/// The body of `PATCH /images/{id}`; absent fields are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
    /// Replaces the whole metadata object.
    metadata: Option<serde_json::Value>,
}

/// `PATCH /images/{id}` with a JSON body: name, description, visibility,
/// metadata. Owner or admin.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    body: axum::body::Bytes,
) -> Result<Json<Image>, ApiError> {
    let id = image_id(&id)?;
    let patch: Patch = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("the request body: {e}")))?;
    let update = ImageUpdate {
        name: patch.name,
        description: patch.description,
        visibility: patch
            .visibility
            .as_deref()
            .map(Visibility::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        metadata: patch.metadata,
    };
    Ok(Json(
        state.depot.update_image(caller.token(), id, update).await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverwriteQuery {
    /// The version the new file replaces (compare-and-set; `409` if the
    /// image is at another one). Default: the version current when the
    /// request arrives.
    expected_version: Option<i64>,
    format: Option<String>,
    filename: Option<String>,
}

/// `PUT /images/{id}/file`: the raw body becomes the image's new current
/// file (a new version; the old one stays in the history). Owner or admin.
pub async fn overwrite(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<OverwriteQuery>,
    request: Request,
) -> Result<Json<Image>, ApiError> {
    let id = image_id(&id)?;
    let format = format_hint(query.format.as_deref())?;
    too_large(request.headers(), &state)?;
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(io::Error::other);
    Ok(Json(
        state
            .depot
            .overwrite_image(
                caller.token(),
                id,
                query.expected_version,
                format,
                query.filename.as_deref(),
                StreamReader::new(body),
            )
            .await?,
    ))
}

/// The optional body of `POST /images/{id}/copy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyRequest {
    name: Option<String>,
    visibility: Option<String>,
}

/// `POST /images/{id}/copy`: a new image (new UUID, owned by the caller)
/// with the source's current file, which is shared, not copied. JSON body
/// optional: `name` (default: the source's), `visibility` (default
/// private). `201`.
pub async fn copy(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id = image_id(&id)?;
    let req: CopyRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CopyRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("the request body: {e}")))?
    };
    let visibility = req
        .visibility
        .as_deref()
        .map(Visibility::parse)
        .transpose()
        .map_err(ApiError::invalid)?;
    let image = state
        .depot
        .copy_image(caller.token(), id, req.name, visibility)
        .await?;
    Ok(created(image))
}

/// `GET|HEAD /images/{id}/file`, with `Range`, `If-Range`, `If-None-Match`.
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let id = image_id(&id)?;
    let token = caller.token();
    download::serve(&headers, Caching::Revalidate, |range| {
        state.depot.download_image(token, id, range)
    })
    .await
}

/// `DELETE /images/{id}`: the image and its history. Owner or admin. `204`.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    let id = image_id(&id)?;
    state.depot.delete_image(caller.token(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
