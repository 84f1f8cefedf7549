//! Streaming a stored file to the client: `Range` (one range per request),
//! `If-Range`, conditional requests, `HEAD`, and the 307 to a presigned URL
//! where the blob store can hand one out.
//!
//! Every file carries `ETag` (its SHA-256) and, where the service knows
//! when it was published, `Last-Modified` (the publication's time for
//! indexes, the upload time for packages) as an IMF-fixdate,
//! `Thu, 03 Dec 2026 14:05:43 GMT`. A request with `If-None-Match` naming
//! the tag, or else with `If-Modified-Since` not before `Last-Modified`,
//! is answered `304` with no body (RFC 9110 §13.2.2: `If-None-Match` is
//! evaluated first, and when present `If-Modified-Since` is ignored). The
//! FreeBSD pkg client needs `Last-Modified` to skip an unchanged catalogue
//! (pkg 1.20 to 2.6 print "Impossible to get the value from Last-Modified
//! HTTP header" without it); apt and dnf send both validators.
//!
//! A multi-range or syntactically invalid `Range` header is ignored and the
//! whole file is sent, as RFC 9110 §14.2 allows. A range that starts at or
//! past the end is `416` with `Content-Range: bytes */SIZE` (see
//! [`crate::error`]).

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use depot_service::{Download, ServiceError};
use futures::TryStreamExt;
use std::future::Future;
use std::ops::Range;

/// `Cache-Control` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Content-addressed: the bytes behind this URL never change.
    Immutable,
    /// May change with the next publication: caches must revalidate.
    Revalidate,
}

impl Caching {
    fn header(self) -> HeaderValue {
        match self {
            Caching::Immutable => HeaderValue::from_static("public, max-age=31536000, immutable"),
            Caching::Revalidate => HeaderValue::from_static("no-cache"),
        }
    }
}

/// What the `Range` header asks for, before the file size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=START-` or `bytes=START-END` (END inclusive, as on the wire).
    From { start: u64, end: Option<u64> },
    /// `bytes=-N`: the last N bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// Parses a single byte range. Anything else (other units, several
    /// ranges, bad syntax) is `None`, meaning "send the whole file".
    pub fn parse(value: &str) -> Option<RangeSpec> {
        let spec = value.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        if first.is_empty() {
            return number(last).map(RangeSpec::Suffix);
        }
        let start = number(first)?;
        let end = if last.is_empty() {
            None
        } else {
            let end = number(last)?;
            if end < start {
                return None;
            }
            Some(end)
        };
        Some(RangeSpec::From { start, end })
    }

    /// The half-open byte range of a file of `size` bytes, or `None` if the
    /// range cannot be satisfied.
    pub fn resolve(self, size: u64) -> Option<Range<u64>> {
        match self {
            RangeSpec::From { start, end } => {
                if start >= size {
                    return None;
                }
                let end = end.map_or(size, |e| e.saturating_add(1).min(size));
                Some(start..end)
            }
            RangeSpec::Suffix(0) => None,
            RangeSpec::Suffix(n) => Some(size.saturating_sub(n)..size),
        }
    }
}

/// How many times a suffix or `If-Range` read is retried when the file
/// changed between reading its size and reading the range (a new publication
/// replaced it).
const RANGE_ATTEMPTS: usize = 3;

/// Serves one file. `fetch` is a service call (`download` or
/// `published_file`) for the whole file (`None`) or a byte range; a range
/// starting past the end must fail with
/// [`ServiceError::RangeNotSatisfiable`], an end past it is clamped.
pub async fn serve<F, Fut>(
    headers: &HeaderMap,
    caching: Caching,
    fetch: F,
) -> Result<Response, ApiError>
where
    F: Fn(Option<Range<u64>>) -> Fut,
    Fut: Future<Output = Result<Download, ServiceError>>,
{
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(RangeSpec::parse);

    // The common case (resuming, apt's partial fetches) is one service call.
    if let (Some(RangeSpec::From { start, end }), None) = (range, headers.get(header::IF_RANGE)) {
        let end = end.map_or(u64::MAX, |e| e.saturating_add(1));
        let part = fetch(Some(start..end)).await?;
        return Ok(finish(headers, StatusCode::PARTIAL_CONTENT, part, caching));
    }

    // Otherwise the size (suffix ranges) or the validator (`If-Range`) is
    // needed before the range is known.
    for _ in 0..RANGE_ATTEMPTS {
        let whole = fetch(None).await?;
        let range = range.filter(|_| if_range_holds(headers, whole.etag.as_deref()));
        let Some(spec) = range.filter(|_| whole.redirect.is_none()) else {
            return Ok(finish(headers, StatusCode::OK, whole, caching));
        };
        let Some(wanted) = spec.resolve(whole.size) else {
            return Err(ApiError(ServiceError::RangeNotSatisfiable {
                size: whole.size,
            }));
        };
        if wanted == (0..whole.size) {
            return Ok(finish(headers, StatusCode::PARTIAL_CONTENT, whole, caching));
        }
        let (size, etag) = (whole.size, whole.etag);
        drop(whole.stream);
        let part = fetch(Some(wanted)).await?;
        if part.size == size && part.etag == etag {
            return Ok(finish(headers, StatusCode::PARTIAL_CONTENT, part, caching));
        }
        tracing::debug!("file changed between size and range read; retrying");
    }
    Err(ApiError(ServiceError::Unavailable(
        "the file changed while it was being read; retry".into(),
    )))
}

/// The response for a fetched file: a redirect, `304`, or the bytes.
fn finish(
    headers: &HeaderMap,
    status: StatusCode,
    download: Download,
    caching: Caching,
) -> Response {
    if let Some(url) = &download.redirect {
        return redirect(url);
    }
    if not_modified_since(headers, &download) {
        return not_modified(&download, caching);
    }
    respond(status, download, caching)
}

/// RFC 9110 §13.2.2 steps 3 and 4 for `GET`/`HEAD`: `If-None-Match` when
/// present decides alone; otherwise `If-Modified-Since` (a date that does
/// not parse is ignored, §13.1.3).
fn not_modified_since(headers: &HeaderMap, download: &Download) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        return download
            .etag
            .as_deref()
            .is_some_and(|etag| etag_matches(inm, etag));
    }
    let Some(modified) = download.last_modified.and_then(system_time) else {
        return false;
    };
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        .is_some_and(|since| modified <= since)
}

fn system_time(t: depot_core::Timestamp) -> Option<std::time::SystemTime> {
    let secs = u64::try_from(t.0).ok()?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
}

fn last_modified(download: &Download) -> Option<HeaderValue> {
    let at = system_time(download.last_modified?)?;
    HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok()
}

fn quoted(etag: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{etag}\"")).ok()
}

/// Does an `If-None-Match` value name `etag` (weak comparison, RFC 9110 §13.1.2)?
fn etag_matches(header_value: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = header_value.to_str() else {
        return false;
    };
    value.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || candidate
                .strip_prefix("W/")
                .unwrap_or(candidate)
                .trim_matches('"')
                == etag
    })
}

/// `If-Range` with an entity tag: the range applies only if it is still the
/// same file (strong comparison). A date, or no header, lets the range apply.
fn if_range_holds(headers: &HeaderMap, etag: Option<&str>) -> bool {
    let Some(value) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return etag.is_some_and(|etag| value == format!("\"{etag}\""));
    }
    true
}

fn redirect(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(location) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => ApiError(ServiceError::Internal(format!(
            "unusable redirect URL {url:?}"
        )))
        .into_response(),
    }
}

fn not_modified(download: &Download, caching: Caching) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let headers = response.headers_mut();
    if let Some(etag) = download.etag.as_deref().and_then(quoted) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(date) = last_modified(download) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    headers.insert(header::CACHE_CONTROL, caching.header());
    response
}

fn respond(status: StatusCode, download: Download, caching: Caching) -> Response {
    let date = last_modified(&download);
    let Download {
        size,
        range,
        stream,
        etag,
        content_type,
        ..
    } = download;
    let body = Body::from_stream(stream.inspect_err(|e| {
        tracing::error!(error = %e, "blob read failed mid-response");
    }));
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(range.end - range.start),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CACHE_CONTROL, caching.header());
    if let Some(etag) = etag.as_deref().and_then(quoted) {
        headers.insert(header::ETAG, etag);
    }
    if let Some(date) = date {
        headers.insert(header::LAST_MODIFIED, date);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!(
            "bytes {}-{}/{size}",
            range.start,
            range.end.saturating_sub(1)
        );
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(
            RangeSpec::parse("bytes=0-99"),
            Some(RangeSpec::From {
                start: 0,
                end: Some(99)
            })
        );
        assert_eq!(
            RangeSpec::parse("bytes=100-"),
            Some(RangeSpec::From {
                start: 100,
                end: None
            })
        );
        assert_eq!(RangeSpec::parse("bytes=-5"), Some(RangeSpec::Suffix(5)));
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=5-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(RangeSpec::parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        let from = |start, end| RangeSpec::From { start, end };
        assert_eq!(from(0, Some(9)).resolve(100), Some(0..10));
        assert_eq!(from(90, Some(200)).resolve(100), Some(90..100));
        assert_eq!(from(90, None).resolve(100), Some(90..100));
        assert_eq!(from(100, None).resolve(100), None);
        assert_eq!(from(0, None).resolve(0), None);
        assert_eq!(RangeSpec::Suffix(10).resolve(100), Some(90..100));
        assert_eq!(RangeSpec::Suffix(1000).resolve(100), Some(0..100));
        assert_eq!(RangeSpec::Suffix(0).resolve(100), None);
        assert_eq!(from(u64::MAX - 1, Some(u64::MAX)).resolve(100), None);
    }

    #[test]
    fn matches_entity_tags() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(etag_matches(&v("\"abc\""), "abc"));
        assert!(etag_matches(&v("W/\"abc\""), "abc"));
        assert!(etag_matches(&v("\"x\", \"abc\""), "abc"));
        assert!(etag_matches(&v("*"), "abc"));
        assert!(!etag_matches(&v("\"abd\""), "abc"));
    }
}
