//! The rpm publisher: renders `repodata/` from the placements of `.rpm`
//! packages.
//!
//! Layout written (paths relative to the repo root; `{tree}` is empty for
//! the repo's default placement and `rpm/{dist}/{comp}/` for any other):
//!
//! ```text
//! {tree}repodata/repomd.xml                       checksums, sizes, open-checksums of the three below
//! {tree}repodata/repomd.xml.asc                   detached armored OpenPGP signature of repomd.xml
//! {tree}repodata/{sha256}-primary.xml.gz          names carry the checksum of the file (as createrepo_c
//! {tree}repodata/{sha256}-filelists.xml.gz        writes them), so a client that read an older repomd.xml
//! {tree}repodata/{sha256}-other.xml.gz            fetches that generation's files, never a mix
//! {tree}repodata/{primary,filelists,other}.xml    the same, uncompressed; not listed in repomd.xml: kept
//!                                                 so the next publish can append to them
//! {tree}packages/{file}                           the packages (the download route, not the manifest)
//! ```
//!
//! Each XML file is made of chunks: a header (`<metadata … packages="N">`),
//! the package entries in placement order (upload order), and a footer. The
//! entries are rendered once at upload ([`depot_formats::rpm::fragments`],
//! stored as the package's index entry), so a publish after an upload
//! appends the new entries to the body chunks (see [`crate::chunks`]),
//! writes a new header with the new count and re-hashes the files; nothing
//! is re-read from the packages. The `.gz` files are gzip members aligned
//! with those chunks (dnf's libsolv and yum read multi-member gzip like
//! any zlib reader). gzip, not zstd: it is what both dnf 4 and yum on EL7
//! read.
//!
//! Anything that is not an append (a removal, a rebuild, a change of the
//! repo's default placement) renders everything afresh. The state for that
//! decision lives in the manifest (`state.rpm`), as for apt.

use crate::ServiceError;
use crate::apt::RenderCtx;
use bytes::Bytes;
use depot_core::{Chunk, Format, IndexRow, Manifest, PlacementId, Repo};
use depot_formats::rpm::Fragments;
use depot_formats::rpm::repodata::{self, RepomdData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bump when the layout or the state's meaning changes.
const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RpmState {
    v: u32,
    removal_gen: i64,
    last_placement: i64,
    /// The repo's default placement when this was rendered: it decides
    /// which tree sits at the root.
    root: (String, String),
    /// Per tree prefix.
    trees: BTreeMap<String, TreeState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TreeState {
    /// Packages listed.
    count: u64,
    /// Manifest path of each kind's compressed file, by kind.
    gz: BTreeMap<String, String>,
}

/// The three metadata files, in the order repomd.xml lists them.
const KINDS: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

#[derive(Debug, Clone, Copy)]
enum Kind {
    Primary,
    Filelists,
    Other,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
        }
    }
    fn header(self, count: u64) -> String {
        let count = count as usize;
        match self {
            Kind::Primary => repodata::primary_header(count),
            Kind::Filelists => repodata::filelists_header(count),
            Kind::Other => repodata::other_header(count),
        }
    }
    fn footer(self) -> &'static str {
        match self {
            Kind::Primary => repodata::PRIMARY_FOOTER,
            Kind::Filelists => repodata::FILELISTS_FOOTER,
            Kind::Other => repodata::OTHER_FOOTER,
        }
    }
    fn fragment(self, f: &Fragments) -> &str {
        match self {
            Kind::Primary => &f.primary,
            Kind::Filelists => &f.filelists,
            Kind::Other => &f.other,
        }
    }
}

/// The tree prefix of a placement: the root for the repo's default
/// placement, `rpm/{dist}/{comp}/` for others.
pub fn tree_prefix(repo: &Repo, dist: &str, comp: &str) -> String {
    if dist == repo.settings.default_distribution.as_str()
        && comp == repo.settings.default_component.as_str()
    {
        String::new()
    } else {
        format!("rpm/{dist}/{comp}/")
    }
}

fn root_of(repo: &Repo) -> (String, String) {
    (
        repo.settings.default_distribution.to_string(),
        repo.settings.default_component.to_string(),
    )
}

fn state_of(manifest: &Manifest) -> Option<RpmState> {
    let s: RpmState = serde_json::from_value(manifest.state.get("rpm")?.clone()).ok()?;
    (s.v == STATE_VERSION).then_some(s)
}

fn set_state(manifest: &mut Manifest, state: &RpmState) {
    if !manifest.state.is_object() {
        manifest.state = serde_json::Value::Object(Default::default());
    }
    manifest.state["rpm"] = serde_json::to_value(state).expect("state serializes");
}

/// Renders the rpm part of the next manifest on top of `manifest` (the
/// previous publication with the other formats already rendered), extending
/// it when only appends happened since.
pub async fn render(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    manifest: Manifest,
) -> Result<Manifest, ServiceError> {
    if let Some(state) = state_of(&manifest)
        && state.removal_gen == repo.removal_gen
        && state.root == root_of(repo)
    {
        let rows = ctx
            .meta
            .index_rows(repo.id, Format::Rpm, PlacementId(state.last_placement))
            .await?;
        if rows.is_empty() {
            return Ok(manifest);
        }
        return apply(ctx, repo, manifest, state, &rows, false).await;
    }
    let rows = ctx
        .meta
        .index_rows(repo.id, Format::Rpm, PlacementId(0))
        .await?;
    let mut manifest = manifest;
    manifest
        .files
        .retain(|path, _| !(path.starts_with("repodata/") || path.starts_with("rpm/")));
    let state = RpmState {
        v: STATE_VERSION,
        removal_gen: repo.removal_gen,
        last_placement: 0,
        root: root_of(repo),
        trees: BTreeMap::new(),
    };
    // The default tree is always published, so `dnf makecache` works on a
    // repository before its first rpm.
    apply(ctx, repo, manifest, state, &rows, true).await
}

/// Appends `rows` to the trees they belong to and re-renders those trees
/// (and the root tree when `with_root`).
async fn apply(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    mut manifest: Manifest,
    mut state: RpmState,
    rows: &[IndexRow],
    with_root: bool,
) -> Result<Manifest, ServiceError> {
    let mut by_tree: BTreeMap<String, Vec<&IndexRow>> = BTreeMap::new();
    if with_root {
        by_tree.insert(String::new(), Vec::new());
    }
    for r in rows {
        by_tree
            .entry(tree_prefix(
                repo,
                r.distribution.as_str(),
                r.component.as_str(),
            ))
            .or_default()
            .push(r);
    }
    for (tree, trows) in &by_tree {
        let prev = state.trees.get(tree).cloned().unwrap_or_default();
        let next = render_tree(ctx, repo, &mut manifest, tree, &prev, trows).await?;
        state.trees.insert(tree.clone(), next);
    }
    if let Some(last) = rows.iter().map(|r| r.placement_id.0).max() {
        state.last_placement = state.last_placement.max(last);
    }
    set_state(&mut manifest, &state);
    Ok(manifest)
}

fn parse_fragments(row: &IndexRow) -> Result<Fragments, ServiceError> {
    serde_json::from_str(&row.index_entry).map_err(|e| {
        ServiceError::Internal(format!(
            "stored rpm index entry of placement {} is unreadable: {e}",
            row.placement_id
        ))
    })
}

/// Body chunks of a file made of [header, body…, footer].
fn body_of(chunks: &[Chunk]) -> Vec<Chunk> {
    match chunks {
        [_, body @ .., _] => body.to_vec(),
        _ => Vec::new(),
    }
}

/// Appends `rows` to one tree: new body chunks, header and footer, hashes,
/// `repomd.xml` and its signature.
async fn render_tree(
    ctx: &mut RenderCtx<'_>,
    repo: &Repo,
    manifest: &mut Manifest,
    tree: &str,
    prev: &TreeState,
    rows: &[&IndexRow],
) -> Result<TreeState, ServiceError> {
    let fragments = rows
        .iter()
        .map(|r| parse_fragments(r))
        .collect::<Result<Vec<_>, _>>()?;
    let count = prev.count + rows.len() as u64;
    let dir = format!("{tree}repodata");
    let mut next = TreeState {
        count,
        gz: BTreeMap::new(),
    };
    let mut data = Vec::with_capacity(KINDS.len());
    let deltas: Vec<Bytes> = KINDS
        .iter()
        .map(|kind| {
            let mut delta = String::new();
            for f in &fragments {
                delta.push_str(kind.fragment(f));
            }
            Bytes::from(delta)
        })
        .collect();
    // The three files' new entries compress at once (megabytes each in a
    // full render).
    let deltas_gz = crate::chunks::gzip_all(&deltas).await?;
    for ((kind, delta), delta_gz) in KINDS.into_iter().zip(deltas).zip(deltas_gz) {
        let plain_path = format!("{dir}/{}.xml", kind.name());
        let prev_gz_path = prev.gz.get(kind.name());
        let (plain_body, gz_body) = match (
            manifest.files.get(&plain_path),
            prev_gz_path.and_then(|p| manifest.files.get(p)),
        ) {
            (Some(p), Some(g)) if p.chunks.len() == g.chunks.len() && prev.count > 0 => {
                (body_of(&p.chunks), body_of(&g.chunks))
            }
            _ => (Vec::new(), Vec::new()),
        };
        let (plain_body, gz_body) = ctx
            .chunker
            .append_chunks_gz(plain_body, gz_body, delta, Some(delta_gz))
            .await?;
        let (head, head_gz) = ctx
            .chunker
            .put_with_gz(Bytes::from(kind.header(count)))
            .await?;
        let (foot, foot_gz) = ctx
            .chunker
            .put_with_gz(Bytes::from_static(kind.footer().as_bytes()))
            .await?;
        let plain: Vec<Chunk> = std::iter::once(head)
            .chain(plain_body)
            .chain(std::iter::once(foot))
            .collect();
        let gz: Vec<Chunk> = std::iter::once(head_gz)
            .chain(gz_body)
            .chain(std::iter::once(foot_gz))
            .collect();
        let plain = ctx.chunker.finish_sha256(plain).await?;
        let gz = ctx.chunker.finish_sha256(gz).await?;
        let href = format!("repodata/{}-{}.xml.gz", gz.hashes.sha256.hex(), kind.name());
        data.push(RepomdData {
            kind: kind.name().to_string(),
            href: href.clone(),
            checksum: gz.hashes.sha256,
            size: gz.size,
            open_checksum: plain.hashes.sha256,
            open_size: plain.size,
            timestamp: ctx.now.0.max(0) as u64,
        });
        if let Some(old) = prev_gz_path {
            manifest.files.remove(old);
        }
        let gz_path = format!("{tree}{href}");
        manifest.files.insert(gz_path.clone(), gz);
        manifest.files.insert(plain_path, plain);
        next.gz.insert(kind.name().to_string(), gz_path);
    }
    let text = repodata::repomd(repo.revision.0.max(0) as u64, &data);
    let signature = ctx
        .signer
        .sign_detached_armored(text.as_bytes())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let repomd = ctx.chunker.single(Bytes::from(text)).await?;
    let asc = ctx.chunker.single(Bytes::from(signature)).await?;
    manifest.files.insert(format!("{dir}/repomd.xml"), repomd);
    manifest.files.insert(format!("{dir}/repomd.xml.asc"), asc);
    Ok(next)
}

/// True for a path of a checksum-named `repodata/` file
/// (`…repodata/{64 hex}-{name}`): such a file never changes, so a client
/// that read an older `repomd.xml` may still fetch it from a superseded
/// publication.
pub fn is_checksum_named(path: &str) -> bool {
    let Some((dir, name)) = path.rsplit_once('/') else {
        return false;
    };
    dir.ends_with("repodata")
        && name.len() > 65
        && name.as_bytes()[64] == b'-'
        && name[..64].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_named_paths() {
        let hex = "a".repeat(64);
        assert!(is_checksum_named(&format!("repodata/{hex}-primary.xml.gz")));
        assert!(is_checksum_named(&format!(
            "rpm/el9/main/repodata/{hex}-other.xml.gz"
        )));
        assert!(!is_checksum_named("repodata/repomd.xml"));
        assert!(!is_checksum_named(&format!("dists/{hex}-x")));
        assert!(!is_checksum_named(&format!(
            "repodata/{}-primary.xml.gz",
            "g".repeat(64)
        )));
    }
}
