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
use crate::chunks::{Chunker, Pair};
use bytes::Bytes;
use depot_core::meta::MetaStore;
use depot_core::sign::PgpSigner;
use depot_core::{Format, IndexRow, Manifest, ManifestFile, PlacementId, Repo, Timestamp};
use depot_formats::apt::{ReleaseEntry, ReleaseMeta, render_release};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bump when the layout or the state's meaning changes: older manifests are
/// then rendered afresh instead of extended.
const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AptState {
    pub v: u32,
    pub removal_gen: i64,
    pub last_placement: i64,
    /// Per distribution: its components and architectures.
    pub dists: BTreeMap<String, DistState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistState {
    pub components: BTreeSet<String>,
    pub architectures: BTreeSet<String>,
}

pub struct RenderCtx<'a> {
    pub meta: &'a dyn MetaStore,
    pub chunker: Chunker<'a>,
    pub signer: &'a dyn PgpSigner,
    pub origin: &'a str,
    pub now: Timestamp,
}

fn index_dir(dist: &str, comp: &str, arch: &str) -> String {
    format!("dists/{dist}/{comp}/binary-{arch}")
}

fn prev_state(prev: &Manifest) -> Option<AptState> {
    let s: AptState = serde_json::from_value(prev.state.get("apt")?.clone()).ok()?;
    (s.v == STATE_VERSION).then_some(s)
}

/// Renders the apt part of `repo`'s next manifest, extending `prev` when
/// only appends happened since. Files of other formats in `prev` are kept.
pub async fn render(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    prev: Option<&Manifest>,
) -> Result<Manifest, ServiceError> {
    if let Some(prev) = prev
        && let Some(state) = prev_state(prev)
        && state.removal_gen == repo.removal_gen
    {
        let rows = ctx
            .meta
            .index_rows(repo.id, Format::Deb, PlacementId(state.last_placement))
            .await?;
        if rows.is_empty() {
            return Ok(prev.clone());
        }
        let fits = rows.iter().all(|r| {
            state.dists.get(r.distribution.as_str()).is_some_and(|d| {
                d.components.contains(r.component.as_str())
                    && (r.arch == "all" || d.architectures.contains(&r.arch))
            })
        });
        if fits {
            return append(ctx, repo, prev, state, &rows).await;
        }
    }
    full(ctx, repo, prev).await
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
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    prev: Option<&Manifest>,
) -> Result<Manifest, ServiceError> {
    let rows = ctx
        .meta
        .index_rows(repo.id, Format::Deb, PlacementId(0))
        .await?;
    let mut manifest = Manifest {
        files: prev
            .map(|p| {
                p.files
                    .iter()
                    .filter(|(k, _)| !k.starts_with("dists/"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        state: prev
            .map(|p| p.state.clone())
            .unwrap_or(serde_json::Value::Object(Default::default())),
    };
    let mut state = AptState {
        v: STATE_VERSION,
        removal_gen: repo.removal_gen,
        last_placement: rows.iter().map(|r| r.placement_id.0).max().unwrap_or(0),
        dists: BTreeMap::new(),
    };
    let mut by_dist: BTreeMap<&str, BTreeMap<&str, Vec<&IndexRow>>> = BTreeMap::new();
    // The default placement is always published, empty or not, so that
    // `apt-get update` works on a repository before its first upload.
    by_dist
        .entry(repo.settings.default_distribution.as_str())
        .or_default()
        .entry(repo.settings.default_component.as_str())
        .or_default();
    for r in &rows {
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
                insert_pair(&mut manifest, &index_dir(dist, comp, arch), pair);
            }
        }
        state.dists.insert(dist.to_string(), ds);
    }
    for dist in state.dists.keys() {
        release(ctx, repo, &mut manifest, dist, &state.dists[dist]).await?;
    }
    set_state(&mut manifest, &state);
    Ok(manifest)
}

async fn append(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    prev: &Manifest,
    mut state: AptState,
    rows: &[IndexRow],
) -> Result<Manifest, ServiceError> {
    let mut manifest = prev.clone();
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
                manifest.files.get(&format!("{dir}/Packages")),
                manifest.files.get(&format!("{dir}/Packages.gz")),
            ) {
                (Some(p), Some(g)) => Some(Pair {
                    plain: p.clone(),
                    gz: g.clone(),
                }),
                _ => None,
            };
            let pair = ctx.chunker.append(prev_pair.as_ref(), delta).await?;
            insert_pair(&mut manifest, &dir, pair);
        }
        touched.insert(*dist);
    }
    state.last_placement = rows
        .iter()
        .map(|r| r.placement_id.0)
        .max()
        .unwrap_or(state.last_placement);
    for dist in touched {
        release(ctx, repo, &mut manifest, dist, &state.dists[dist]).await?;
    }
    set_state(&mut manifest, &state);
    Ok(manifest)
}

fn insert_pair(manifest: &mut Manifest, dir: &str, pair: Pair) {
    manifest.files.insert(format!("{dir}/Packages"), pair.plain);
    manifest.files.insert(format!("{dir}/Packages.gz"), pair.gz);
    // Stale now; [`add_xz`] brings it back.
    manifest.files.remove(&format!("{dir}/Packages.xz"));
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
pub async fn add_xz(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    prev: &Manifest,
) -> Result<Option<Manifest>, ServiceError> {
    let dirs = missing_xz(prev);
    let Some(state) = prev_state(prev) else {
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
            release(ctx, repo, &mut manifest, dist, ds).await?;
        }
    }
    Ok(Some(manifest))
}

fn set_state(manifest: &mut Manifest, state: &AptState) {
    if !manifest.state.is_object() {
        manifest.state = serde_json::Value::Object(Default::default());
    }
    manifest.state["apt"] = serde_json::to_value(state).expect("state serializes");
}

/// Renders and signs `dists/{dist}/{Release,InRelease,Release.gpg}` over the
/// index files of that distribution in `manifest`.
async fn release(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    manifest: &mut Manifest,
    dist: &str,
    ds: &DistState,
) -> Result<(), ServiceError> {
    let prefix = format!("dists/{dist}/");
    let listed: Vec<(String, ManifestFile)> = manifest
        .files
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
        manifest.files.insert(format!("{prefix}{name}"), f);
    }
    Ok(())
}
