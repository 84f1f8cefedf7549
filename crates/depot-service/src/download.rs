//! Package downloads: streamed through depot, or redirected to the blob
//! store, as the repository's [`DownloadMode`] says.

use crate::cache::BlobCache;
use crate::{Download, ServiceError, tree};
use depot_core::blob::BlobStore;
use depot_core::{DownloadMode, Sha256};
use std::ops::Range;
use std::sync::Arc;

/// A package blob as a [`Download`]:
///
/// - [`DownloadMode::Redirect`]: a presigned URL of the blob store in
///   [`Download::redirect`] (the HTTP layer answers `307`), where the store
///   can presign; the bytes otherwise;
/// - [`DownloadMode::Proxy`]: always the bytes, streamed from the store.
pub(crate) async fn package(
    blobs: &Arc<dyn BlobStore>,
    cache: &Arc<BlobCache>,
    mode: DownloadMode,
    digest: &Sha256,
    size: u64,
    range: Option<Range<u64>>,
    content_type: &'static str,
) -> Result<Download, ServiceError> {
    if mode == DownloadMode::Redirect {
        // Presigns where the store can, streams where it cannot.
        return tree::blob_download(blobs, cache, digest, size, range, content_type).await;
    }
    let want = match range {
        None => 0..size,
        Some(r) if r.start >= size => return Err(ServiceError::RangeNotSatisfiable { size }),
        Some(r) => r.start..r.end.min(size),
    };
    let stream = cache.read(blobs, digest, size, want.clone()).await?;
    Ok(Download {
        size,
        range: want,
        stream,
        redirect: None,
        etag: Some(digest.hex()),
        last_modified: None,
        content_type,
    })
}
