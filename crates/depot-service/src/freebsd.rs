//! The FreeBSD publisher: renders the signed catalogue of each ABI from
//! the placements of `.pkg` packages, as `pkg repo` lays a repository out.
//!
//! Layout written (paths relative to the repo root; `{tree}` is
//! `freebsd/` for the repo's default placement and
//! `freebsd/{dist}/{comp}/` for any other):
//!
//! ```text
//! {tree}{ABI}/meta.conf, meta            the repository's meta file (UCL)
//! {tree}{ABI}/meta.txz                   the same, signed (older pkg fetches this name)
//! {tree}{ABI}/packagesite.pkg            signed catalogue (see depot_formats::freebsd)
//! {tree}{ABI}/packagesite.txz            the same bytes, the name pkg < 1.17 fetches
//! {tree}{ABI}/data.pkg, data.txz         signed catalogue as one JSON document (pkg 2.x)
//! {tree}{ABI}/All/{name}-{version}.pkg   each package (a manifest entry pointing at its blob)
//! ```
//!
//! `{ABI}` is the package's own `abi` (`FreeBSD:14:amd64`), what pkg puts
//! in `${ABI}`; a package for any architecture (`FreeBSD:14:*`) is in
//! every ABI of its OS version. An ABI is published for each one seen in
//! the tree's packages, plus `amd64` and `aarch64` for each OS version
//! seen. A catalogue lists one package per name, the newest by pkg's
//! version order (then the ABI's own over `*`, then the later upload):
//! pkg's repository database keeps one per name.
//!
//! The catalogue archives are signed with the server RSA key the way
//! `pkg repo` signs with a key file, so `signature_type: "pubkey"` works,
//! and carry `{name}.sig` and `{name}.pub` for `signature_type:
//! "fingerprints"` too. A publish renders whole every ABI its new
//! placements touch; a removal, a rebuild or a change of the default
//! placement renders all of them (`state.freebsd` in the manifest).

use crate::ServiceError;
use crate::publisher::{At, Files, Publisher, RenderCx, Rendered, ServeCx};
use async_trait::async_trait;
use depot_core::{Chunk, Format, IndexRow, ManifestFile, PlacementId, Repo};
use depot_formats::freebsd as fmt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Architectures every OS version seen is published for.
const DEFAULT_ARCHES: [&str; 2] = ["aarch64", "amd64"];

pub(crate) use depot_formats::freebsd::FreebsdEntry;

/// The FreeBSD publisher (see the module doc).
pub(crate) struct Freebsd;

/// FreeBSD keeps nothing between publishes besides the engine's envelope
/// (a publish renders whole every tree it touches).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FreebsdState {}

fn root_of(repo: &Repo) -> (String, String) {
    crate::publisher::root_of(repo)
}

/// The tree of a placement: `freebsd/` for the repo's default placement,
/// `freebsd/{dist}/{comp}/` for others.
pub fn tree_prefix(repo: &Repo, dist: &str, comp: &str) -> String {
    if (dist.to_string(), comp.to_string()) == root_of(repo) {
        "freebsd/".to_string()
    } else {
        format!("freebsd/{dist}/{comp}/")
    }
}

struct Row<'r> {
    row: &'r IndexRow,
    entry: FreebsdEntry,
}

#[async_trait]
impl Publisher for Freebsd {
    const NAME: &'static str = "freebsd";
    const FORMAT: Format = Format::Freebsd;
    const PREFIXES: &'static [&'static str] = &["freebsd/"];
    const STATE_VERSION: u32 = 1;
    type State = FreebsdState;

    /// Renders again the trees the new rows land in.
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        _state: FreebsdState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<FreebsdState>, ServiceError> {
        let touched: BTreeSet<String> = rows
            .iter()
            .map(|r| tree_prefix(repo, r.distribution.as_str(), r.component.as_str()))
            .collect();
        let all = cx.rows(repo, Format::Freebsd, PlacementId(0)).await?;
        render(cx, repo, files, &all, Some(touched)).await?;
        Ok(Rendered::Done(FreebsdState {}))
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<FreebsdState, ServiceError> {
        render(cx, repo, files, &rows, None).await?;
        Ok(FreebsdState {})
    }

    fn config_file(&self) -> Option<&'static str> {
        Some("freebsd/repo.conf")
    }

    /// A pkg repository configuration (`/usr/local/etc/pkg/repos/{repo}.conf`)
    /// for the tree of `at`, with the command that installs the key.
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let name = &cx.repo.name;
        let (dist, comp) = at.resolve(cx.repo);
        let tree = tree_prefix(cx.repo, dist, comp);
        let key = format!("/usr/local/etc/ssl/depot-{name}.pub");
        Ok(Some(format!(
            "# Install the repository key first:\n\
             #   fetch -o {key} {base}/repos/{name}/key.rsa.pub\n\
             {name}: {{\n\
             \x20 url: \"{base}/repos/{name}/{tree}${{ABI}}\",\n\
             \x20 signature_type: \"pubkey\",\n\
             \x20 pubkey: \"{key}\",\n\
             \x20 enabled: yes\n\
             }}\n"
        )))
    }
}

/// Renders the trees of `render` (every tree when `None`) from `rows`, all
/// of the repo's FreeBSD placements.
async fn render(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    rows: &[IndexRow],
    render: Option<BTreeSet<String>>,
) -> Result<(), ServiceError> {
    let parsed: Vec<Row<'_>> = rows
        .iter()
        .map(|r| {
            let entry: FreebsdEntry = serde_json::from_str(&r.index_entry).map_err(|e| {
                ServiceError::Internal(format!(
                    "stored FreeBSD index entry of placement {} is unreadable: {e}",
                    r.placement_id
                ))
            })?;
            Ok(Row { row: r, entry })
        })
        .collect::<Result<_, ServiceError>>()?;
    let render = render.unwrap_or_else(|| {
        parsed
            .iter()
            .map(|r| tree_prefix(repo, r.row.distribution.as_str(), r.row.component.as_str()))
            .collect()
    });
    if !render.is_empty() {
        let key = ctx.rsa_key().await?;
        for tree in &render {
            let in_tree: Vec<&Row<'_>> = parsed
                .iter()
                .filter(|r| {
                    tree_prefix(repo, r.row.distribution.as_str(), r.row.component.as_str())
                        == *tree
                })
                .collect();
            render_tree(ctx, files, &key, tree, &in_tree).await?;
        }
    }
    Ok(())
}

async fn render_tree(
    ctx: &mut RenderCx<'_>,
    files: &mut Files,
    key: &depot_sign::RsaKey,
    tree: &str,
    rows: &[&Row<'_>],
) -> Result<(), ServiceError> {
    // Only this tree's ABI directories: another placement's tree lives
    // under `freebsd/{dist}/` and is kept.
    let abi_dir = |p: &str| {
        p.strip_prefix(tree)
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|abi| abi.contains(':'))
    };
    files.retain(|p, _| !abi_dir(p));
    let mut abis: BTreeSet<String> = BTreeSet::new();
    for r in rows {
        let (os, arch) = fmt::split_abi(&r.entry.abi);
        if arch != "*" {
            abis.insert(r.entry.abi.clone());
        }
        for a in DEFAULT_ARCHES {
            abis.insert(format!("{os}:{a}"));
        }
    }
    let mtime = ctx.now.0.max(0) as u64;
    for abi in abis {
        let (os, _) = fmt::split_abi(&abi);
        let mut best: BTreeMap<&str, &Row<'_>> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.entry.abi == abi || fmt::split_abi(&r.entry.abi) == (os, "*"))
        {
            let better = match best.get(r.row.name.as_str()) {
                None => true,
                Some(cur) => fmt::version::compare(&r.row.version, &cur.row.version)
                    .then((r.entry.abi == abi).cmp(&(cur.entry.abi == abi)))
                    .then(r.row.placement_id.cmp(&cur.row.placement_id))
                    .is_gt(),
            };
            if better {
                best.insert(&r.row.name, r);
            }
        }
        let dir = format!("{tree}{abi}");
        let mut yaml = String::new();
        for r in best.values() {
            yaml.push_str(&r.entry.line);
            yaml.push('\n');
            let file = fmt::file_name(&r.row.name, &r.row.version);
            files.insert(
                format!("{dir}/All/{file}"),
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
        let lines: Vec<&str> = best.values().map(|r| r.entry.line.as_str()).collect();
        let data = fmt::data_document(&lines);
        let meta = fmt::meta_conf();
        let key = key.clone();
        let (packagesite, data, meta_txz) = tokio::task::spawn_blocking(move || {
            let pem = key.public_key_pem().to_string();
            let pack = |name: &str, content: &[u8]| {
                let sig = key.sign_sha256(fmt::signed_text(content).as_bytes());
                fmt::signed_archive(name, content, &sig, &pem, mtime)
            };
            (
                pack("packagesite.yaml", yaml.as_bytes()),
                pack("data", data.as_bytes()),
                pack("meta", meta.as_bytes()),
            )
        })
        .await
        .map_err(crate::error::join_error)?;
        let archives = [
            ("packagesite", packagesite),
            ("data", data),
            ("meta", meta_txz),
        ];
        for (name, bytes) in archives {
            let file = ctx.chunker.single(bytes::Bytes::from(bytes)).await?;
            if name != "meta" {
                files.insert(format!("{dir}/{name}.pkg"), file.clone());
            }
            files.insert(format!("{dir}/{name}.txz"), file);
        }
        let meta = ctx
            .chunker
            .single(bytes::Bytes::from(fmt::meta_conf()))
            .await?;
        files.insert(format!("{dir}/meta"), meta.clone());
        files.insert(format!("{dir}/meta.conf"), meta);
    }
    Ok(())
}
