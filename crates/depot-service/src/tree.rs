//! Serving the published tree. Every request resolves through the repo's
//! published pointer of that moment, so a reader sees one whole publication,
//! never a mix of two. `by-hash/` paths also resolve through the
//! publications still in their grace period, so a client that read an older
//! Release can finish its update.

use crate::cache::BlobCache;
use crate::{Depot, Download, ServiceError};
use bytes::Bytes;
use depot_core::blob::BlobStore;
use depot_core::{ManifestFile, Publication, PublicationId, Repo, Sha256, Timestamp};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// How many recent publications a `by-hash` miss searches: a client
/// mid-update is at most a few publications behind.
const RECENT_FOR_BY_HASH: u32 = 32;

/// Publications are immutable, so caching them by id is always correct.
const MAX_CACHED: usize = 64;

#[derive(Default)]
pub struct PublicationCache {
    map: Mutex<HashMap<PublicationId, Arc<Publication>>>,
}

impl PublicationCache {
    fn get(&self, id: PublicationId) -> Option<Arc<Publication>> {
        self.map.lock().expect("poisoned").get(&id).cloned()
    }
    pub fn insert(&self, p: Publication) -> Arc<Publication> {
        let p = Arc::new(p);
        let mut m = self.map.lock().expect("poisoned");
        if m.len() >= MAX_CACHED
            && let Some(oldest) = m.keys().min().copied()
        {
            m.remove(&oldest);
        }
        m.insert(p.id, p.clone());
        p
    }
}

impl Depot {
    pub(crate) async fn publication(
        &self,
        id: PublicationId,
    ) -> Result<Arc<Publication>, ServiceError> {
        if let Some(p) = self.inner.publications.get(id) {
            return Ok(p);
        }
        let p = self
            .inner
            .meta
            .get_publication(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("publication {id}")))?;
        Ok(self.inner.publications.insert(p))
    }
}

pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("gz") => "application/gzip",
        Some("xz") => "application/x-xz",
        Some("zst") => "application/zstd",
        Some("gpg") | Some("asc") | Some("sig") => "application/pgp-signature",
        Some("deb") => "application/vnd.debian.binary-package",
        Some("rpm") => "application/x-rpm",
        Some("xml") => "application/xml",
        _ if matches!(name, "Release" | "InRelease" | "Packages") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `dir/by-hash/TYPE/hex` → (dir, TYPE, hex).
fn parse_by_hash(path: &str) -> Option<(&str, &str, &str)> {
    let (dir, rest) = path.split_once("/by-hash/")?;
    let (kind, hex) = rest.split_once('/')?;
    (!hex.contains('/')).then_some((dir, kind, hex))
}

fn find_by_hash<'p>(
    p: &'p Publication,
    dir: &str,
    kind: &str,
    hex: &str,
) -> Option<&'p ManifestFile> {
    let prefix = format!("{dir}/");
    p.manifest.files.iter().find_map(|(path, f)| {
        let name = path.strip_prefix(&prefix)?;
        if name.contains('/') {
            return None;
        }
        let matches = match kind {
            "MD5Sum" => f.hashes.md5 == hex,
            "SHA1" => f.hashes.sha1 == hex,
            "SHA256" => f.hashes.sha256.hex() == hex,
            "SHA512" => f.hashes.sha512 == hex,
            _ => false,
        };
        matches.then_some(f)
    })
}

pub(crate) async fn published_file(
    depot: &Depot,
    repo: &Repo,
    path: &str,
    range: Option<Range<u64>>,
) -> Result<Download, ServiceError> {
    let not_found = || ServiceError::NotFound(format!("'{path}' in repository '{}'", repo.name));
    let Some((id, _)) = depot.pointer_for_read(repo.id).await? else {
        return Err(not_found());
    };
    let current = depot.publication(id).await?;
    // A publication made by a process that does not serve (the CLI) lacks
    // the slow index files; the server that serves it completes them.
    if path.ends_with("Release") && !crate::apt::missing_xz(&current.manifest).is_empty() {
        depot.schedule_xz(repo);
    }
    if let Some(f) = current.manifest.files.get(path) {
        return chunked_download(depot, f, range, content_type(path))
            .map(|d| d.modified_at(current.created_at));
    }
    let grace = depot.inner.config.publication_grace.as_secs() as i64;
    let since = Timestamp(Timestamp::now().0 - grace);
    if crate::rpm::is_checksum_named(path) {
        // A dnf that read the previous repomd.xml fetches that generation.
        for p in depot
            .inner
            .meta
            .recent_publications(repo.id, since, RECENT_FOR_BY_HASH)
            .await?
        {
            if let Some(f) = p.manifest.files.get(path) {
                return chunked_download(depot, f, range, content_type(path))
                    .map(|d| d.modified_at(p.created_at));
            }
        }
        return Err(not_found());
    }
    let Some((dir, kind, hex)) = parse_by_hash(path) else {
        return Err(not_found());
    };
    if let Some(f) = find_by_hash(&current, dir, kind, hex) {
        return chunked_download(depot, f, range, content_type(dir))
            .map(|d| d.modified_at(current.created_at));
    }
    for p in depot
        .inner
        .meta
        .recent_publications(repo.id, since, RECENT_FOR_BY_HASH)
        .await?
    {
        if let Some(f) = find_by_hash(&p, dir, kind, hex) {
            return chunked_download(depot, f, range, content_type(dir))
                .map(|d| d.modified_at(p.created_at));
        }
    }
    Err(not_found())
}

fn clamp(range: Option<Range<u64>>, size: u64) -> Result<Range<u64>, ServiceError> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start >= size || r.start >= r.end => {
            Err(ServiceError::RangeNotSatisfiable { size })
        }
        Some(r) => Ok(r.start..r.end.min(size)),
    }
}

/// Streams `range` of a file made of chunks, reading only the chunks it
/// overlaps (small chunks from memory, see [`crate::cache`]).
fn chunked_download(
    depot: &Depot,
    f: &ManifestFile,
    range: Option<Range<u64>>,
    content_type: &'static str,
) -> Result<Download, ServiceError> {
    let want = if f.size == 0 && range.is_none() {
        0..0
    } else {
        clamp(range, f.size)?
    };
    let mut plan = Vec::new();
    let mut offset = 0u64;
    for c in &f.chunks {
        let (start, end) = (offset, offset + c.size);
        offset = end;
        if end <= want.start || start >= want.end {
            continue;
        }
        let from = want.start.max(start) - start;
        let to = want.end.min(end) - start;
        plan.push((c.digest, c.size, from..to));
    }
    let blobs = depot.inner.blobs.clone();
    let cache = depot.inner.serving.blobs();
    let stream = futures::stream::iter(plan)
        .then(move |(digest, size, r)| {
            let (blobs, cache) = (blobs.clone(), cache.clone());
            async move { cache.read(&blobs, &digest, size, r).await }
        })
        .try_flatten()
        .boxed();
    Ok(Download {
        size: f.size,
        range: want,
        stream,
        redirect: None,
        etag: Some(f.hashes.sha256.hex()),
        last_modified: None,
        content_type,
    })
}

/// A small file held in memory (a pacman package's signature), with
/// `Range`.
pub(crate) fn bytes_download(
    bytes: Bytes,
    range: Option<Range<u64>>,
    content_type: &'static str,
) -> Result<Download, ServiceError> {
    let size = bytes.len() as u64;
    let want = if size == 0 && range.is_none() {
        0..0
    } else {
        clamp(range, size)?
    };
    let etag = Sha256::of(&bytes).hex();
    let part = bytes.slice(want.start as usize..want.end as usize);
    Ok(Download {
        size,
        range: want,
        stream: futures::stream::once(async move { Ok(part) }).boxed(),
        redirect: None,
        etag: Some(etag),
        last_modified: None,
        content_type,
    })
}

/// Streams a package blob, or redirects to the blob store where it can
/// presign.
pub(crate) async fn blob_download(
    blobs: &Arc<dyn BlobStore>,
    cache: &Arc<BlobCache>,
    digest: &Sha256,
    size: u64,
    range: Option<Range<u64>>,
    content_type: &'static str,
) -> Result<Download, ServiceError> {
    if let Some(url) = blobs
        .presign_get(digest, std::time::Duration::from_secs(300))
        .await?
    {
        let want = if size == 0 { 0..0 } else { clamp(range, size)? };
        return Ok(Download {
            size,
            range: want,
            stream: futures::stream::empty().boxed(),
            redirect: Some(url),
            etag: Some(digest.hex()),
            last_modified: None,
            content_type,
        });
    }
    if size == 0 {
        return Ok(Download {
            size,
            range: 0..0,
            stream: futures::stream::empty().boxed(),
            redirect: None,
            etag: Some(digest.hex()),
            last_modified: None,
            content_type,
        });
    }
    let want = clamp(range, size)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hash_paths() {
        assert_eq!(
            parse_by_hash("dists/s/main/binary-amd64/by-hash/SHA256/abc"),
            Some(("dists/s/main/binary-amd64", "SHA256", "abc"))
        );
        assert_eq!(parse_by_hash("dists/s/main/binary-amd64/Packages"), None);
        assert_eq!(parse_by_hash("dists/s/by-hash/SHA256/a/b"), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("dists/s/InRelease"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type("dists/s/main/binary-amd64/Packages.gz"),
            "application/gzip"
        );
        assert_eq!(
            content_type("dists/s/Release.gpg"),
            "application/pgp-signature"
        );
    }

    #[test]
    fn ranges() {
        assert_eq!(clamp(Some(2..100), 10).unwrap(), 2..10);
        assert!(matches!(
            clamp(Some(10..12), 10),
            Err(ServiceError::RangeNotSatisfiable { size: 10 })
        ));
        assert_eq!(clamp(None, 5).unwrap(), 0..5);
    }
}
