//! The Alpine publisher: renders the signed `APKINDEX.tar.gz` of each
//! branch, repository and architecture from the placements of `.apk`
//! packages.
//!
//! Layout written (paths relative to the repo root):
//!
//! ```text
//! alpine/{branch}/{repository}/{arch}/APKINDEX.tar.gz   the signed index (see depot_formats::apk)
//! alpine/{branch}/{repository}/{arch}/{P}-{V}.apk       each package, by the name apk fetches
//!                                                       (a manifest entry pointing at the
//!                                                       package's blob)
//! alpine/{keyname}                                      the public key (served, not in the
//!                                                       manifest; keyname = depot-{8 hex}.rsa.pub)
//! ```
//!
//! `{branch}` is the placement's distribution and `{repository}` its
//! component, as they are: an upload with `distribution=v3.20` and
//! `component=main` lands in `alpine/v3.20/main/`, one with no placement
//! in the repo's defaults (`stable/main` unless set). An index is
//! published for every architecture seen in that branch/repository's
//! packages plus `x86_64` and `aarch64`; `noarch` packages are in each.
//! Every uploaded version is listed (apk picks the newest itself, as with
//! Alpine's own repositories, which keep one); when a name and version is
//! there both for the architecture and as `noarch`, the architecture's
//! wins.
//!
//! The index is signed with the server's RSA key twice, as abuild-sign
//! does: `.SIGN.RSA256.{keyname}` (SHA-256, read by apk-tools 2.12 and
//! later) first and `.SIGN.RSA.{keyname}` (SHA-1, for older apk-tools)
//! second; apk uses the first signature whose key it trusts. The key is
//! made the first time an index is rendered (see
//! [`crate::Depot::rsa_key`]), so a repository without Alpine packages
//! never needs one and publishes no `alpine/` tree.
//!
//! apk checks the signature over the whole compressed index stream, so an
//! index cannot grow by appended gzip members as apt's and pacman's do: a
//! publish renders whole every index its new placements touch (one gzip
//! and two signatures per architecture of those branch/repositories);
//! entries are rendered once at upload and only concatenated here. A
//! removal, a rebuild or a change of the repo's default placement renders
//! every index. The state for that lives in the manifest (`state.apk`).

use crate::publisher::{At, Files, Publisher, RenderCx, Rendered, ServeCx};
use crate::{Download, ServiceError};
use async_trait::async_trait;
use depot_core::{Chunk, Format, IndexRow, ManifestFile, PlacementId, Repo};
use depot_formats::apk as apk_fmt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Architectures every published branch/repository has an index for.
const DEFAULT_ARCHES: [&str; 2] = ["aarch64", "x86_64"];

pub(crate) use depot_formats::apk::ApkEntry;

/// The apk publisher (see the module doc).
pub(crate) struct Apk;

/// What apk keeps between publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApkState {
    /// Branch/repository pairs published.
    views: BTreeSet<(String, String)>,
}

/// The directory of a branch/repository.
pub fn view_dir(branch: &str, repository: &str) -> String {
    format!("alpine/{branch}/{repository}")
}

/// The file name users put in `/etc/apk/keys/` for this key.
pub fn key_name(key: &depot_sign::RsaKey) -> String {
    format!("depot-{}.rsa.pub", &key.fingerprint()[..8])
}

struct Row<'r> {
    row: &'r IndexRow,
    entry: ApkEntry,
}

fn parse_rows(rows: &[IndexRow]) -> Result<Vec<Row<'_>>, ServiceError> {
    rows.iter()
        .map(|r| {
            let entry: ApkEntry = serde_json::from_str(&r.index_entry).map_err(|e| {
                ServiceError::Internal(format!(
                    "stored apk index entry of placement {} is unreadable: {e}",
                    r.placement_id
                ))
            })?;
            Ok(Row { row: r, entry })
        })
        .collect()
}

fn view_of(r: &IndexRow) -> (String, String) {
    (r.distribution.to_string(), r.component.to_string())
}

#[async_trait]
impl Publisher for Apk {
    const NAME: &'static str = "apk";
    const FORMAT: Format = Format::Apk;
    const PREFIXES: &'static [&'static str] = &["alpine/"];
    const STATE_VERSION: u32 = 1;
    type State = ApkState;

    /// Renders again the indexes of the branch/repository pairs the new
    /// rows land in.
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        _state: ApkState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<ApkState>, ServiceError> {
        let touched: BTreeSet<(String, String)> = rows.iter().map(view_of).collect();
        let all = cx.rows(repo, Format::Apk, PlacementId(0)).await?;
        render(cx, repo, files, &all, Some(touched))
            .await
            .map(Rendered::Done)
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<ApkState, ServiceError> {
        render(cx, repo, files, &rows, None).await
    }

    fn config_file(&self) -> Option<&'static str> {
        Some("alpine/repositories")
    }

    /// An `/etc/apk/repositories` line for the tree of `at`, and the
    /// command that trusts the key.
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let name = &cx.repo.name;
        let (dist, comp) = at.resolve(cx.repo);
        let key_name = key_name(&cx.rsa_key().await?);
        Ok(Some(format!(
            "# Trust the repository key first:\n\
             #   wget -O /etc/apk/keys/{key_name} {base}/repos/{name}/alpine/{key_name}\n\
             {base}/repos/{name}/{}\n",
            view_dir(dist, comp)
        )))
    }

    /// The public key, as `alpine/{keyname}.rsa.pub` (what users put in
    /// `/etc/apk/keys/`).
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        let Some(file) = path
            .strip_prefix("alpine/")
            .filter(|f| !f.contains('/') && f.ends_with(".rsa.pub"))
        else {
            return Ok(None);
        };
        let key = cx.rsa_key().await?;
        if file != key_name(&key) {
            return Ok(None);
        }
        cx.bytes(
            bytes::Bytes::from(key.public_key_pem().to_string()),
            "application/x-pem-file",
        )
        .map(Some)
    }
}

/// Renders the indexes of `render` (every view when `None`) from `rows`,
/// all of the repo's apk placements.
async fn render(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    rows: &[IndexRow],
    render: Option<BTreeSet<(String, String)>>,
) -> Result<ApkState, ServiceError> {
    let parsed = parse_rows(rows)?;
    let views: BTreeSet<(String, String)> = parsed.iter().map(|r| view_of(r.row)).collect();
    let render = render.unwrap_or_else(|| views.clone());
    if !render.is_empty() {
        let key = ctx.rsa_key().await?;
        for (branch, repository) in &render {
            let in_view: Vec<&Row<'_>> = parsed
                .iter()
                .filter(|r| {
                    r.row.distribution.as_str() == branch && r.row.component.as_str() == repository
                })
                .collect();
            render_view(ctx, files, &key, &repo.name, branch, repository, &in_view).await?;
        }
    }
    Ok(ApkState { views })
}

async fn render_view(
    ctx: &mut RenderCx<'_>,
    files: &mut Files,
    key: &depot_sign::RsaKey,
    repo: &depot_core::RepoName,
    branch: &str,
    repository: &str,
    rows: &[&Row<'_>],
) -> Result<(), ServiceError> {
    let dir = view_dir(branch, repository);
    let prefix = format!("{dir}/");
    files.retain(|p, _| !p.starts_with(&prefix));
    let mut arches: BTreeSet<&str> = DEFAULT_ARCHES.into_iter().collect();
    arches.extend(
        rows.iter()
            .map(|r| r.row.arch.as_str())
            .filter(|a| *a != "noarch"),
    );
    let name = key_name(key);
    for arch in arches {
        // One entry per name and version: the architecture's own over
        // noarch, then the latest placement.
        let mut chosen: BTreeMap<(&str, &str), &Row<'_>> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.row.arch == arch || r.row.arch == "noarch")
        {
            let k = (r.row.name.as_str(), r.row.version.as_str());
            let better = match chosen.get(&k) {
                None => true,
                Some(cur) => {
                    (r.row.arch != "noarch", r.row.placement_id)
                        > (cur.row.arch != "noarch", cur.row.placement_id)
                }
            };
            if better {
                chosen.insert(k, r);
            }
        }
        let mut text =
            String::with_capacity(chosen.values().map(|r| r.entry.block.len() + 1).sum());
        let arch_dir = format!("{dir}/{arch}");
        for r in chosen.values() {
            text.push_str(&r.entry.block);
            text.push('\n');
            let file = apk_fmt::file_name(&r.row.name, &r.row.version);
            files.insert(
                format!("{arch_dir}/{file}"),
                ManifestFile {
                    size: r.entry.size,
                    hashes: r.entry.hashes.clone(),
                    chunks: (r.entry.size > 0)
                        .then_some(Chunk {
                            digest: r.entry.hashes.sha256,
                            size: r.entry.size,
                            state: None,
                        })
                        .into_iter()
                        .collect(),
                },
            );
        }
        let description = format!("{repo} {branch}/{repository}");
        let mtime = ctx.now.0.max(0) as u64;
        let key = key.clone();
        let name = name.clone();
        let bytes = tokio::task::spawn_blocking(move || {
            apk_fmt::signed_index(&description, &text, mtime, |signed| {
                vec![
                    (
                        apk_fmt::signature_member(true, &name),
                        key.sign_sha256(signed),
                    ),
                    (
                        apk_fmt::signature_member(false, &name),
                        key.sign_sha1(signed),
                    ),
                ]
            })
        })
        .await
        .map_err(crate::error::join_error)?;
        let file = ctx.chunker.single(bytes::Bytes::from(bytes)).await?;
        files.insert(format!("{arch_dir}/APKINDEX.tar.gz"), file);
    }
    Ok(())
}
