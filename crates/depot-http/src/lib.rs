//! depot-http: the REST API and the file tree stock clients read, as one axum
//! [`Router`](axum::Router) over a [`depot_service::Depot`].
//!
//! - [`routes`] is the route table (the one place URLs are defined).
//! - [`handlers`] are thin: extract, call the service, map the error.
//! - [`auth`] turns `Authorization: Bearer` into a token record; permissions
//!   are decided by `depot_service::auth::authorize` only.
//! - [`error::ApiError`] is the one error type and picks every status.
//! - [`download`] serves stored files with `Range`, `ETag` and redirects.

pub mod auth;
pub mod download;
pub mod error;
mod extract;
pub mod handlers;
pub mod routes;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use routes::router;

use depot_service::Depot;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Uploads whose `Content-Length` exceeds this are refused with `413`
    /// before any byte is read. Keep it equal to the service's
    /// `max_upload_bytes`, which also enforces it while streaming.
    pub max_upload_bytes: u64,
}

impl HttpOptions {
    pub fn new(max_upload_bytes: u64) -> Self {
        HttpOptions { max_upload_bytes }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions::new(depot_service::ServiceConfig::default().max_upload_bytes)
    }
}

/// What every handler gets: the service and the HTTP options.
#[derive(Clone)]
pub struct AppState {
    pub depot: Depot,
    pub opts: Arc<HttpOptions>,
}
