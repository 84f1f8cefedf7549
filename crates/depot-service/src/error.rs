use depot_core::blob::BlobError;
use depot_core::meta::MetaError;

/// Errors of the use cases. The HTTP layer maps each variant to one status;
/// `Internal` details are logged there and never sent to a client.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    /// Bad request parameters (names, placements, settings).
    #[error("{0}")]
    Invalid(String),
    /// The uploaded file is malformed or hostile.
    #[error("{0}")]
    BadPackage(String),
    /// A byte range starting at or past the end of a file of `size` bytes.
    #[error("range not satisfiable for a file of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    /// Retryable: the metadata store is busy or unreachable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<MetaError> for ServiceError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NotFound(what) => ServiceError::NotFound(what),
            MetaError::AlreadyExists(what) => ServiceError::AlreadyExists(what),
            MetaError::Conflict(msg) => ServiceError::Conflict(msg),
            MetaError::VersionConflict { current } => ServiceError::Conflict(format!(
                "the image changed meanwhile: it is now at version {current}; \
                 re-read it and retry"
            )),
            MetaError::Unavailable(msg) => ServiceError::Unavailable(msg),
            e @ (MetaError::PublishConflict { .. } | MetaError::Backend(_)) => {
                ServiceError::Internal(e.to_string())
            }
        }
    }
}

impl From<BlobError> for ServiceError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(d) => ServiceError::Internal(format!("blob {d} is missing")),
            BlobError::InvalidRange { size, .. } => ServiceError::RangeNotSatisfiable { size },
            e => ServiceError::Internal(e.to_string()),
        }
    }
}

impl From<std::io::Error> for ServiceError {
    fn from(e: std::io::Error) -> Self {
        ServiceError::Internal(format!("I/O: {e}"))
    }
}

impl From<depot_formats::FormatError> for ServiceError {
    fn from(e: depot_formats::FormatError) -> Self {
        match e {
            depot_formats::FormatError::Io(io) => ServiceError::Internal(format!("I/O: {io}")),
            depot_formats::FormatError::FileName(msg) => ServiceError::Invalid(msg),
            other => ServiceError::BadPackage(other.to_string()),
        }
    }
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> ServiceError {
    ServiceError::Internal(format!("background task failed: {e}"))
}
