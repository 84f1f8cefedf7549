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

use crate::publisher::{At, Files, Publisher, RenderCx, Rendered, ServeCx};
use crate::{Download, ServiceError};
use async_trait::async_trait;
use bytes::Bytes;
use depot_core::{Chunk, Format, IndexRow, Repo};
use depot_formats::rpm::Fragments;
use depot_formats::rpm::repodata::{self, RepomdData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rpm publisher (see the module doc).
pub(crate) struct Rpm;

/// What rpm keeps between publishes. (The engine keeps the default
/// placement it was rendered for, which decides which tree sits at the
/// root.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RpmState {
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

#[async_trait]
impl Publisher for Rpm {
    const NAME: &'static str = "rpm";
    const FORMAT: Format = Format::Rpm;
    const PREFIXES: &'static [&'static str] = &["repodata/", "rpm/"];
    const STATE_VERSION: u32 = 1;
    type State = RpmState;

    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        state: RpmState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<RpmState>, ServiceError> {
        apply(cx, repo, files, state, &rows, false)
            .await
            .map(Rendered::Done)
    }

    /// The default tree is always published, so `dnf makecache` works on a
    /// repository before its first rpm.
    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<RpmState, ServiceError> {
        apply(cx, repo, files, RpmState::default(), &rows, true).await
    }

    fn config_file(&self) -> Option<&'static str> {
        Some("config.repo")
    }

    /// A dnf/yum `.repo` file for the tree at `at`.
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let repo = cx.repo;
        let name = &repo.name;
        let (dist, comp) = at.resolve(repo);
        let tree = tree_prefix(repo, dist, comp);
        let (id, baseurl) = if tree.is_empty() {
            (name.to_string(), format!("{base}/repos/{name}"))
        } else {
            (
                format!("{name}-{dist}-{comp}"),
                format!("{base}/repos/{name}/{}", tree.trim_end_matches('/')),
            )
        };
        let title = if repo.settings.description.is_empty() {
            format!("depot repository {name}")
        } else {
            repo.settings.description.replace(['\n', '\r'], " ")
        };
        Ok(Some(format!(
            "[{id}]\n\
             name={title}\n\
             baseurl={baseurl}\n\
             enabled=1\n\
             # repomd.xml is signed, and it pins the SHA-256 of every package\n\
             repo_gpgcheck=1\n\
             # depot does not sign the packages themselves\n\
             gpgcheck=0\n\
             gpgkey={base}/repos/{name}/key.asc\n"
        )))
    }

    /// Packages under every tree's `packages/` (the `location href` of
    /// every tree is `packages/{file}`; the default tree's is the REST
    /// download route), and checksum-named metadata of publications still
    /// in their grace period (a dnf that read the previous `repomd.xml`
    /// fetches that generation).
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        if let Some(rest) = path.strip_prefix("rpm/") {
            let mut parts = rest.splitn(4, '/');
            if let (Some(_dist), Some(_comp), Some("packages"), Some(file)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                return match cx.package(file).await? {
                    Some(p) => cx
                        .package_download(&p, cx.depot.inner.config.formats.content_type(p.format))
                        .await
                        .map(Some),
                    None => Ok(None),
                };
            }
        }
        if self.is_immutable(path) {
            for p in cx.recent_publications().await? {
                if let Some(f) = p.manifest.files.get(path) {
                    return cx.file(f, crate::tree::content_type(path)).map(Some);
                }
            }
        }
        Ok(None)
    }

    fn is_immutable(&self, path: &str) -> bool {
        (path.starts_with("repodata/") || path.starts_with("rpm/")) && is_checksum_named(path)
    }
}

/// Appends `rows` to the trees they belong to and re-renders those trees
/// (and the root tree when `with_root`).
async fn apply(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    mut state: RpmState,
    rows: &[IndexRow],
    with_root: bool,
) -> Result<RpmState, ServiceError> {
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
        let next = render_tree(ctx, repo, files, tree, &prev, trows).await?;
        state.trees.insert(tree.clone(), next);
    }
    Ok(state)
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
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
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
            files.get(&plain_path),
            prev_gz_path.and_then(|p| files.get(p)),
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
            files.remove(old);
        }
        let gz_path = format!("{tree}{href}");
        files.insert(gz_path.clone(), gz);
        files.insert(plain_path, plain);
        next.gz.insert(kind.name().to_string(), gz_path);
    }
    let text = repodata::repomd(repo.revision.0.max(0) as u64, &data);
    let signature = ctx
        .signer
        .sign_detached_armored(text.as_bytes())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let repomd = ctx.chunker.single(Bytes::from(text)).await?;
    let asc = ctx.chunker.single(Bytes::from(signature)).await?;
    files.insert(format!("{dir}/repomd.xml"), repomd);
    files.insert(format!("{dir}/repomd.xml.asc"), asc);
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
