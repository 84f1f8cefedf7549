//! The apt publisher: renders `dists/` from the placements of `.deb`
//! packages.
//!
//! Layout written (paths relative to the repo root):
//!
//! ```text
//! dists/{dist}/Release                                 plain, hashes of every index below
//! dists/{dist}/InRelease                               Release, clearsigned
//! dists/{dist}/Release.gpg                             detached armored signature of Release
//! dists/{dist}/{comp}/binary-{arch}/Packages           one stanza per package, `Architecture: all` in every arch
//! dists/{dist}/{comp}/binary-{arch}/Packages.gz        the same, gzip (possibly several members)
//! dists/{dist}/{comp}/binary-{arch}/Packages.xz        the same, xz; added by a later publication
//!                                                      ([`add_xz`]) because xz of a large index takes seconds
//! dists/{dist}/{comp}/binary-{arch}/by-hash/{HASH}/{hex}   served from the manifest, not stored twice
//! ```
//!
//! Stanzas are ordered by placement id (upload order), which lets a publish
//! *append* to the previous publication's `Packages` instead of rebuilding it
//! (see [`crate::chunks`]). Any change that is not an append (a removal, a
//! rebuild, a new distribution, component or architecture) renders
//! everything afresh. The state needed to decide that lives in the
//! manifest itself (`state.apt`), so any node can continue any publication.

use crate::ServiceError;
use crate::chunks::Pair;
use crate::publisher::{Files, Publisher, RenderCx, Rendered, ServeCx};
use async_trait::async_trait;
use bytes::Bytes;
use depot_core::{Format, IndexRow, Manifest, ManifestFile, Publication, Repo};
use depot_formats::apt::{ReleaseEntry, ReleaseMeta, render_release};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The apt publisher (see the module doc).
pub(crate) struct Apt;

/// What apt keeps between publishes: per distribution, its components
/// and architectures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AptState {
    pub dists: BTreeMap<String, DistState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistState {
    pub components: BTreeSet<String>,
    pub architectures: BTreeSet<String>,
}

#[async_trait]
impl Publisher for Apt {
    const NAME: &'static str = "apt";
    const FORMAT: Format = Format::Deb;
    const PREFIXES: &'static [&'static str] = &["dists/"];
    const STATE_VERSION: u32 = 1;
    type State = AptState;

    /// Appends when every new row lands in an index that exists (its
    /// distribution, component and architecture are published).
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        state: AptState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<AptState>, ServiceError> {
        let fits = rows.iter().all(|r| {
            state.dists.get(r.distribution.as_str()).is_some_and(|d| {
                d.components.contains(r.component.as_str())
                    && (r.arch == "all" || d.architectures.contains(&r.arch))
            })
        });
        if !fits {
            return Ok(Rendered::NeedsFull);
        }
        append(cx, repo, files, &state, &rows).await?;
        Ok(Rendered::Done(state))
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<AptState, ServiceError> {
        full(cx, repo, files, &rows).await
    }

    /// The `dist/` alias of `dists/`, and `by-hash/` files of the current
    /// publication and of those still in their grace period.
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<crate::Download>, ServiceError> {
        let path = match path.strip_prefix("dist/") {
            Some(rest) => std::borrow::Cow::Owned(format!("dists/{rest}")),
            None if path.starts_with("dists/") => std::borrow::Cow::Borrowed(path),
            None => return Ok(None),
        };
        if let Some(current) = &cx.current {
            if let Some(f) = current.manifest.files.get(path.as_ref()) {
                return cx.file(f, crate::tree::content_type(&path)).map(Some);
            }
        } else {
            return Ok(None);
        }
        let Some((dir, kind, hex)) = parse_by_hash(&path) else {
            return Ok(None);
        };
        // by-hash names carry no extension: the directory's content type.
        let content_type = crate::tree::content_type(dir);
        if let Some(f) = cx
            .current
            .as_deref()
            .and_then(|p| find_by_hash(p, dir, kind, hex))
        {
            return cx.file(f, content_type).map(Some);
        }
        for p in cx.recent_publications().await? {
            if let Some(f) = find_by_hash(&p, dir, kind, hex) {
                return cx.file(f, content_type).map(Some);
            }
        }
        Ok(None)
    }

    /// A publication made by a process that does not serve (the CLI) lacks
    /// the slow index files; the server that serves it completes them.
    fn before_serve(&self, cx: &ServeCx<'_>, path: &str) {
        if (path.starts_with("dists/") || path.starts_with("dist/"))
            && path.ends_with("Release")
            && cx
                .current
                .as_ref()
                .is_some_and(|p| !missing_xz(&p.manifest).is_empty())
        {
            cx.schedule_xz();
        }
    }

    fn is_immutable(&self, path: &str) -> bool {
        (path.starts_with("dists/") || path.starts_with("dist/")) && path.contains("/by-hash/")
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

fn index_dir(dist: &str, comp: &str, arch: &str) -> String {
    format!("dists/{dist}/{comp}/binary-{arch}")
}

fn entry_bytes<'r>(rows: impl Iterator<Item = &'r IndexRow>) -> Bytes {
    let mut out = String::new();
    for r in rows {
        out.push_str(&r.index_entry);
        out.push('\n');
    }
    Bytes::from(out)
}

fn rows_for<'r>(
    rows: &'r [&'r IndexRow],
    arch: &'r str,
) -> impl Iterator<Item = &'r IndexRow> + 'r {
    rows.iter()
        .copied()
        .filter(move |r| r.arch == arch || r.arch == "all")
}

async fn full(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    rows: &[IndexRow],
) -> Result<AptState, ServiceError> {
    let mut state = AptState::default();
    let mut by_dist: BTreeMap<&str, BTreeMap<&str, Vec<&IndexRow>>> = BTreeMap::new();
    // The default placement is always published, empty or not, so that
    // `apt-get update` works on a repository before its first upload.
    by_dist
        .entry(repo.settings.default_distribution.as_str())
        .or_default()
        .entry(repo.settings.default_component.as_str())
        .or_default();
    for r in rows {
        by_dist
            .entry(r.distribution.as_str())
            .or_default()
            .entry(r.component.as_str())
            .or_default()
            .push(r);
    }
    for (dist, comps) in &by_dist {
        let mut arches: BTreeSet<String> = repo.settings.architectures.iter().cloned().collect();
        arches.extend(
            comps
                .values()
                .flatten()
                .filter(|r| r.arch != "all")
                .map(|r| r.arch.clone()),
        );
        if arches.is_empty() {
            arches.insert("amd64".to_string());
        }
        let ds = DistState {
            components: comps.keys().map(|c| c.to_string()).collect(),
            architectures: arches,
        };
        for (comp, crows) in comps {
            for arch in &ds.architectures {
                let pair = ctx
                    .chunker
                    .append(None, entry_bytes(rows_for(crows, arch)))
                    .await?;
                insert_pair(files, &index_dir(dist, comp, arch), pair);
            }
        }
        state.dists.insert(dist.to_string(), ds);
    }
    for dist in state.dists.keys() {
        release(ctx, repo, files, dist, &state.dists[dist]).await?;
    }
    Ok(state)
}

async fn append(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    state: &AptState,
    rows: &[IndexRow],
) -> Result<(), ServiceError> {
    let mut by_index: BTreeMap<(&str, &str), Vec<&IndexRow>> = BTreeMap::new();
    for r in rows {
        by_index
            .entry((r.distribution.as_str(), r.component.as_str()))
            .or_default()
            .push(r);
    }
    let mut touched = BTreeSet::new();
    for ((dist, comp), crows) in &by_index {
        for arch in &state.dists[*dist].architectures {
            let delta = entry_bytes(rows_for(crows, arch));
            if delta.is_empty() {
                continue;
            }
            let dir = index_dir(dist, comp, arch);
            let prev_pair = match (
                files.get(&format!("{dir}/Packages")),
                files.get(&format!("{dir}/Packages.gz")),
            ) {
                (Some(p), Some(g)) => Some(Pair {
                    plain: p.clone(),
                    gz: g.clone(),
                }),
                _ => None,
            };
            let pair = ctx.chunker.append(prev_pair.as_ref(), delta).await?;
            insert_pair(files, &dir, pair);
        }
        touched.insert(*dist);
    }
    for dist in touched {
        release(ctx, repo, files, dist, &state.dists[dist]).await?;
    }
    Ok(())
}

fn insert_pair(files: &mut Files, dir: &str, pair: Pair) {
    files.insert(format!("{dir}/Packages"), pair.plain);
    files.insert(format!("{dir}/Packages.gz"), pair.gz);
    // Stale now; [`add_xz`] brings it back.
    files.remove(&format!("{dir}/Packages.xz"));
}

/// Index directories of `manifest` whose `Packages.xz` is missing.
pub fn missing_xz(manifest: &Manifest) -> Vec<String> {
    manifest
        .files
        .keys()
        .filter_map(|p| p.strip_suffix("/Packages"))
        .filter(|dir| {
            dir.starts_with("dists/") && !manifest.files.contains_key(&format!("{dir}/Packages.xz"))
        })
        .map(str::to_string)
        .collect()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = liblzma::write::XzEncoder::new(Vec::with_capacity(data.len() / 6 + 64), 6);
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// `prev` with `Packages.xz` added beside every `Packages` that lacks one,
/// and the Releases of those distributions re-signed. `None` when nothing
/// was missing.
pub(crate) async fn add_xz(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    prev: &Manifest,
) -> Result<Option<Manifest>, ServiceError> {
    let dirs = missing_xz(prev);
    let Some(state) = crate::publisher::state_of::<Apt>(prev).map(|e| e.body) else {
        return Ok(None);
    };
    if dirs.is_empty() {
        return Ok(None);
    }
    let mut manifest = prev.clone();
    let mut touched = BTreeSet::new();
    for dir in &dirs {
        let plain = &prev.files[&format!("{dir}/Packages")];
        let mut bytes = Vec::with_capacity(plain.size as usize);
        for c in &plain.chunks {
            bytes.extend_from_slice(&ctx.chunker.blobs.get_bytes(&c.digest).await?);
        }
        let compressed = tokio::task::spawn_blocking(move || xz(&bytes))
            .await
            .map_err(crate::error::join_error)?;
        let f = ctx.chunker.single(Bytes::from(compressed)).await?;
        manifest.files.insert(format!("{dir}/Packages.xz"), f);
        if let Some(dist) = dir.strip_prefix("dists/").and_then(|d| d.split('/').next()) {
            touched.insert(dist.to_string());
        }
    }
    for dist in &touched {
        if let Some(ds) = state.dists.get(dist) {
            release(ctx, repo, &mut manifest.files, dist, ds).await?;
        }
    }
    Ok(Some(manifest))
}

/// Renders and signs `dists/{dist}/{Release,InRelease,Release.gpg}` over the
/// index files of that distribution in `manifest`.
async fn release(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    dist: &str,
    ds: &DistState,
) -> Result<(), ServiceError> {
    let prefix = format!("dists/{dist}/");
    let listed: Vec<(String, ManifestFile)> = files
        .iter()
        .filter_map(|(path, f)| {
            let rel = path.strip_prefix(&prefix)?;
            // Only the index files of the components, not Release itself.
            rel.contains('/').then(|| (rel.to_string(), f.clone()))
        })
        .collect();
    let entries: Vec<ReleaseEntry> = listed
        .iter()
        .map(|(path, f)| ReleaseEntry {
            path,
            size: f.size,
            hashes: &f.hashes,
        })
        .collect();
    let description = if repo.settings.description.is_empty() {
        format!("depot repository {}", repo.name)
    } else {
        repo.settings.description.clone()
    };
    let meta = ReleaseMeta {
        origin: ctx.origin.to_string(),
        label: repo.name.to_string(),
        suite: dist.to_string(),
        codename: dist.to_string(),
        date: ctx.now,
        architectures: ds.architectures.iter().cloned().collect(),
        components: ds.components.iter().cloned().collect(),
        description,
    };
    let text = render_release(&meta, &entries);
    let inrelease = ctx
        .signer
        .clearsign(&text)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let detached = ctx
        .signer
        .sign_detached_armored(text.as_bytes())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    for (name, body) in [
        ("Release", text),
        ("InRelease", inrelease),
        ("Release.gpg", detached),
    ] {
        let f = ctx.chunker.single(Bytes::from(body)).await?;
        files.insert(format!("{prefix}{name}"), f);
    }
    Ok(())
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
}
