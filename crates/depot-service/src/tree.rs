//! Serving the published tree: the one path every stock client's request
//! takes. A path of the tree is, in this order:
//!
//! 1. a file of the repo's current publication (its manifest);
//! 2. else whatever a publisher serves beside it
//!    ([`crate::publisher::Publisher::serve_extra`]: pacman packages and
//!    their signatures, the apk key, apt's `dist/` alias and `by-hash/`,
//!    rpm packages under a tree's `packages/`, files of publications still
//!    in their grace period for a client mid-update);
//! 3. else not found.
//!
//! The keys (`key.asc`, `key.rsa.pub`) and each format's client
//! configuration file (`config.repo`, `pacman.conf`, `alpine/repositories`,
//! `freebsd/repo.conf`) are the tree's text files ([`Depot::tree_text`]).
//!
//! Every request resolves through the repo's published pointer of that
//! moment, so a reader sees one whole publication, never a mix of two.

use crate::publisher::{At, ServeCx};
use crate::{Depot, Download, ServiceError};
use bytes::Bytes;
use depot_core::blob::BlobStore;
use depot_core::{ManifestFile, Publication, PublicationId, RepoName, Sha256};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// How many recent publications a miss searches (`by-hash/`,
/// checksum-named repodata): a client mid-update is at most a few
/// publications behind.
pub(crate) const RECENT_PUBLICATIONS: u32 = 32;

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

/// The tree's files that are text made on request rather than files of a
/// publication: the keys (the client configuration files are the
/// publishers').
const KEY_ASC: &str = "key.asc";
const KEY_RSA: &str = "key.rsa.pub";

impl Depot {
    /// A file of the repo's published tree, by path relative to the repo
    /// root (`dists/stable/InRelease`, `pacman/x86_64/hello-1-1-any.pkg.tar.zst`,
    /// `.../by-hash/SHA256/<hex>`): see the module doc for the order.
    pub async fn published_file(
        &self,
        repo: &RepoName,
        path: &str,
        range: Option<Range<u64>>,
    ) -> Result<Download, ServiceError> {
        self.published_file_as(repo, path, range, None).await
    }

    /// [`Depot::published_file`] for a client that sent `accept` (its
    /// `Accept` header), for formats whose indexes come in several
    /// representations.
    pub async fn published_file_as(
        &self,
        repo: &RepoName,
        path: &str,
        range: Option<Range<u64>>,
        accept: Option<&str>,
    ) -> Result<Download, ServiceError> {
        let r = self.repo(repo).await?;
        let current = match self.inner.meta.published_pointer(r.id).await? {
            Some((id, _)) => Some(self.publication(id).await?),
            None => None,
        };
        let cx = ServeCx {
            depot: self,
            repo: &r,
            current,
            range,
            accept: accept.map(str::to_string),
        };
        for p in self.inner.publishers.iter() {
            p.before_serve(&cx, path);
        }
        if let Some(f) = cx.current.as_ref().and_then(|c| c.manifest.files.get(path)) {
            return cx.file(f, content_type(path));
        }
        for p in self.inner.publishers.iter() {
            if let Some(d) = p.serve_extra(&cx, path).await? {
                return Ok(d);
            }
        }
        Err(ServiceError::NotFound(format!(
            "'{path}' in repository '{repo}'"
        )))
    }

    /// True for a path of the tree that [`Depot::tree_text`] answers.
    pub fn is_text_path(&self, path: &str) -> bool {
        path == KEY_ASC
            || path == KEY_RSA
            || self
                .inner
                .publishers
                .iter()
                .any(|p| p.config_file() == Some(path))
    }

    /// True for a published path whose content never changes (apt
    /// `by-hash/` files, checksum-named rpm metadata): clients may cache it
    /// for good.
    pub fn is_immutable_path(&self, path: &str) -> bool {
        self.inner.publishers.iter().any(|p| p.is_immutable(path))
    }

    /// A text file of the tree ([`Depot::is_text_path`]) and its content
    /// type: a key, or a format's client configuration for the placement
    /// `at`, with `base` (`http://host:8080`) as the server's external
    /// address.
    pub async fn tree_text(
        &self,
        repo: &RepoName,
        path: &str,
        base: &str,
        at: &At,
    ) -> Result<(&'static str, String), ServiceError> {
        let r = self.repo(repo).await?;
        match path {
            KEY_ASC => {
                return Ok((
                    "application/pgp-keys",
                    depot_core::sign::PgpSigner::public_key_armored(&self.inner.signer),
                ));
            }
            KEY_RSA => {
                let key = self.rsa_key().await?;
                return Ok(("application/x-pem-file", key.public_key_pem().to_string()));
            }
            _ => {}
        }
        let not_found = || ServiceError::NotFound(format!("'{path}' in repository '{repo}'"));
        let p = self
            .inner
            .publishers
            .iter()
            .find(|p| p.config_file() == Some(path))
            .ok_or_else(not_found)?;
        let cx = ServeCx {
            depot: self,
            repo: &r,
            current: None,
            range: None,
            accept: None,
        };
        let text = p
            .client_config(&cx, base, at)
            .await?
            .ok_or_else(not_found)?;
        Ok(("text/plain; charset=utf-8", text))
    }

    /// The client configuration of `format` for the repo's tree at `at`
    /// (`None` for a format without one).
    pub async fn client_config(
        &self,
        repo: &RepoName,
        format: depot_core::Format,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let r = self.repo(repo).await?;
        let cx = ServeCx {
            depot: self,
            repo: &r,
            current: None,
            range: None,
            accept: None,
        };
        for p in self
            .inner
            .publishers
            .iter()
            .filter(|p| p.format() == format)
        {
            if let Some(text) = p.client_config(&cx, base, at).await? {
                return Ok(Some(text));
            }
        }
        Ok(None)
    }
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
/// overlaps.
pub(crate) fn chunked_download(
    blobs: Arc<dyn BlobStore>,
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
        plan.push((c.digest, from..to));
    }
    let stream = futures::stream::iter(plan)
        .then(move |(digest, r)| {
            let blobs = blobs.clone();
            async move { blobs.get(&digest, Some(r)).await.map(|read| read.stream) }
        })
        .try_flatten()
        .boxed();
    Ok(Download {
        size: f.size,
        range: want,
        stream,
        redirect: None,
        etag: Some(f.hashes.sha256.hex()),
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
        content_type,
    })
}

/// Streams a package blob, or redirects to the blob store where it can
/// presign.
pub(crate) async fn blob_download(
    blobs: &Arc<dyn BlobStore>,
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
            content_type,
        });
    }
    let want = clamp(range, size)?;
    let read = blobs.get(digest, Some(want.clone())).await?;
    Ok(Download {
        size,
        range: want,
        stream: read.stream,
        redirect: None,
        etag: Some(digest.hex()),
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
