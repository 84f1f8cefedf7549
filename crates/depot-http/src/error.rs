//! The one error type of the HTTP layer and its wire shape.
//!
//! Every failure a handler can hit is a [`ServiceError`] (the HTTP layer's own
//! bad-input cases are expressed as one too), and [`ApiError::into_response`]
//! is the single place that picks a status for it. The body is always
//!
//! ```json
//! {"error": {"code": "not_found", "message": "repository 'x' not found"}}
//! ```
//!
//! `code` is stable and machine-readable; `message` is for humans. Internal
//! errors are logged here, once, and the client only sees `internal error`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use depot_core::NameError;
use depot_service::ServiceError;
use serde::Serialize;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

/// Seconds a client should wait before retrying a `503 unavailable`.
const RETRY_AFTER_SECS: &str = "1";

impl ApiError {
    /// A bad request parameter (`400 invalid`).
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError(ServiceError::Invalid(message.into()))
    }

    /// The status and stable code for this error. The match is exhaustive on
    /// purpose: a new service error variant must be given a status here.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match &self.0 {
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ServiceError::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
            ServiceError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ServiceError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ServiceError::BadPackage(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_package"),
            ServiceError::RangeNotSatisfiable { .. } => {
                (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
            }
            ServiceError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ServiceError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ServiceError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ServiceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError(e)
    }
}

/// A name from the URL, query or form that fails validation is a bad request.
impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self.0 {
            ServiceError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self.0 {
            ServiceError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"depot\""),
                );
            }
            ServiceError::Unavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            ServiceError::RangeNotSatisfiable { size } => {
                let value = HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii");
                headers.insert(header::CONTENT_RANGE, value);
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(e: ServiceError) -> (StatusCode, axum::http::HeaderMap, ErrorBody) {
        let response = ApiError(e).into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_details_never_reach_the_client() {
        let (status, _, body) = render(ServiceError::Internal(
            "sqlite: disk I/O at /secret/path".into(),
        ))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body.error.code, "internal");
        assert_eq!(body.error.message, "internal error");
    }

    #[tokio::test]
    async fn unauthorized_challenges_for_a_bearer_token() {
        let (status, headers, body) = render(ServiceError::Unauthorized).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body.error.code, "unauthorized");
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }

    #[tokio::test]
    async fn unavailable_tells_the_client_to_retry() {
        let (status, headers, body) = render(ServiceError::Unavailable("db busy".into())).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body.error.code, "unavailable");
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }

    #[tokio::test]
    async fn every_variant_has_its_status_and_code() {
        let cases = [
            (ServiceError::NotFound("x".into()), 404, "not_found"),
            (
                ServiceError::AlreadyExists("x".into()),
                409,
                "already_exists",
            ),
            (ServiceError::Conflict("x".into()), 409, "conflict"),
            (ServiceError::Invalid("x".into()), 400, "invalid"),
            (ServiceError::BadPackage("x".into()), 422, "bad_package"),
            (ServiceError::TooLarge { limit: 10 }, 413, "too_large"),
            (
                ServiceError::RangeNotSatisfiable { size: 10 },
                416,
                "range_not_satisfiable",
            ),
            (ServiceError::Forbidden("x".into()), 403, "forbidden"),
        ];
        for (error, status, code) in cases {
            let (got_status, _, body) = render(error).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(body.error.code, code);
            assert!(!body.error.message.is_empty());
        }
    }
}
