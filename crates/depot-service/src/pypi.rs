//! The Python publisher: the simple repository index pip reads, rendered
//! from the placements of wheels and sdists.
//!
//! Layout written (paths relative to the repo root; `{tree}` is `pypi/`
//! for the repo's default placement and `pypi/{dist}/{comp}/` for any
//! other, each a separate index):
//!
//! ```text
//! {tree}simple/index.html, index.json            every project (PEP 503 HTML, PEP 691 JSON)
//! {tree}simple/{project}/index.html, index.json  one project's files
//! {tree}files/{file}.metadata                    a wheel's METADATA (PEP 658)
//! ```
//!
//! and served beside them ([`Publisher::serve_extra`]):
//!
//! ```text
//! {tree}simple/ , {tree}simple/{project}/  the page, HTML or JSON as the request's
//!                                          Accept asks (depot_formats::pypi::index::negotiate);
//!                                          a project name in any spelling
//! {tree}files/{file}                       the package (streamed or redirected, as the
//!                                          repo's download setting says)
//! pypi/pip.conf                            the client configuration (`?distribution=&component=`)
//! ```
//!
//! `{project}` is the normalized project name; each file is listed once
//! per tree. A package file is served under any tree by its name (file
//! names are unique in a repo). A publish renders again the root page and
//! the pages of the projects its new placements touch; a removal, a
//! rebuild or a change of the default placement renders all of them. A
//! repo without Python packages publishes no index.

use crate::Download;
use crate::ServiceError;
use crate::publisher::{At, Files, Publisher, RenderCx, Rendered, ServeCx};
use async_trait::async_trait;
use bytes::Bytes;
use depot_core::{Format, IndexRow, PlacementId, Repo};
use depot_formats::pypi::index::{self, IndexFile, Representation};
use depot_formats::pypi::normalize;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The Python publisher (see the module doc).
pub(crate) struct Pypi;

/// Nothing besides the engine's envelope: a publish renders whole every
/// page it touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PypiState {}

/// The tree of a placement: `pypi/` for the repo's default placement,
/// `pypi/{dist}/{comp}/` for others.
pub fn tree_prefix(repo: &Repo, dist: &str, comp: &str) -> String {
    if (dist.to_string(), comp.to_string()) == crate::publisher::root_of(repo) {
        "pypi/".to_string()
    } else {
        format!("pypi/{dist}/{comp}/")
    }
}

/// Every Python file of the repo by tree, once per file name in a tree.
fn parse(repo: &Repo, rows: &[IndexRow]) -> Result<BTreeMap<String, Vec<IndexFile>>, ServiceError> {
    let mut trees: BTreeMap<String, BTreeMap<String, IndexFile>> = BTreeMap::new();
    for r in rows {
        let f: IndexFile = serde_json::from_str(&r.index_entry).map_err(|e| {
            ServiceError::Internal(format!(
                "stored Python index entry of placement {} is unreadable: {e}",
                r.placement_id
            ))
        })?;
        trees
            .entry(tree_prefix(
                repo,
                r.distribution.as_str(),
                r.component.as_str(),
            ))
            .or_default()
            .entry(f.filename.clone())
            .or_insert(f);
    }
    Ok(trees
        .into_iter()
        .map(|(t, files)| (t, files.into_values().collect()))
        .collect())
}

/// Writes a tree's root page, the pages of `projects` (every project when
/// `None`) and the `.metadata` files of their wheels.
async fn render(
    cx: &mut RenderCx<'_>,
    files: &mut Files,
    tree: &str,
    all: &[IndexFile],
    projects: Option<BTreeSet<String>>,
) -> Result<(), ServiceError> {
    let projects = projects.unwrap_or_else(|| all.iter().map(|f| f.project.clone()).collect());
    for (path, bytes) in index::render(all) {
        let project = path.split_once('/').map(|(p, _)| p);
        if project.is_some_and(|p| !projects.contains(p)) {
            continue;
        }
        let file = cx.chunker.single(Bytes::from(bytes)).await?;
        files.insert(format!("{tree}simple/{path}"), file);
    }
    for f in all.iter().filter(|f| projects.contains(&f.project)) {
        if let Some(m) = &f.metadata {
            let file = cx
                .chunker
                .single(Bytes::from(m.clone().into_bytes()))
                .await?;
            files.insert(format!("{tree}files/{}.metadata", f.filename), file);
        }
    }
    Ok(())
}

/// A served path split into its tree and the rest (`simple/...`,
/// `files/...`): `pypi/simple/x/` is `("pypi/", "simple/x/")`,
/// `pypi/testing/extra/files/f` is `("pypi/testing/extra/", "files/f")`.
fn split_tree(path: &str) -> Option<(String, &str)> {
    let rest = path.strip_prefix("pypi/")?;
    if rest == "simple" || rest.starts_with("simple/") || rest.starts_with("files/") {
        return Some(("pypi/".to_string(), rest));
    }
    let mut parts = rest.splitn(3, '/');
    let (dist, comp, rest) = (parts.next()?, parts.next()?, parts.next()?);
    Some((format!("pypi/{dist}/{comp}/"), rest))
}

#[async_trait]
impl Publisher for Pypi {
    const NAME: &'static str = "pypi";
    const FORMAT: Format = Format::Pypi;
    const PREFIXES: &'static [&'static str] = &["pypi/"];
    const STATE_VERSION: u32 = 1;
    type State = PypiState;

    /// Renders again the root page and the touched projects' pages.
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        _state: PypiState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<PypiState>, ServiceError> {
        let touched = parse(repo, &rows)?;
        let all = parse(repo, &cx.rows(repo, Format::Pypi, PlacementId(0)).await?)?;
        for (tree, new) in touched {
            let projects = new.into_iter().map(|f| f.project).collect();
            let in_tree = all.get(&tree).map(Vec::as_slice).unwrap_or_default();
            render(cx, files, &tree, in_tree, Some(projects)).await?;
        }
        Ok(Rendered::Done(PypiState {}))
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<PypiState, ServiceError> {
        // A repo without Python packages publishes no index at all.
        for (tree, all) in parse(repo, &rows)? {
            render(cx, files, &tree, &all, None).await?;
        }
        Ok(PypiState {})
    }

    fn config_file(&self) -> Option<&'static str> {
        Some("pypi/pip.conf")
    }

    /// A pip configuration (`pip.conf`, or `pip install --index-url`).
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let (dist, comp) = at.resolve(cx.repo);
        let tree = tree_prefix(cx.repo, dist, comp);
        let url = format!("{base}/repos/{}/{tree}simple/", cx.repo.name);
        Ok(Some(format!(
            "# ~/.config/pip/pip.conf (or: pip install --index-url {url} PACKAGE)\n\
             [global]\n\
             index-url = {url}\n"
        )))
    }

    /// The index pages, negotiated, and the package files.
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        let Some((tree, rest)) = split_tree(path) else {
            return Ok(None);
        };
        if let Some(file) = rest.strip_prefix("files/") {
            if file.contains('/') || file.ends_with(".metadata") {
                return Ok(None);
            }
            let Some(p) = cx.package(file).await?.filter(|p| p.format == Format::Pypi) else {
                return Ok(None);
            };
            return cx
                .package_download(&p, "application/octet-stream")
                .await
                .map(Some);
        }
        let page = match rest.strip_prefix("simple") {
            Some("" | "/") => String::new(),
            Some(rest) => match rest.strip_prefix('/').map(|r| r.trim_end_matches('/')) {
                Some(project) if !project.is_empty() && !project.contains('/') => {
                    format!("{}/", normalize(project))
                }
                _ => return Ok(None),
            },
            None => return Ok(None),
        };
        // PEP 691 lets a server answer a default when nothing acceptable
        // was asked for: HTML, the form every client reads.
        let rep = index::negotiate(cx.accept.as_deref()).unwrap_or(Representation::Html);
        let Some(current) = cx.current.as_ref() else {
            return Ok(None);
        };
        let key = format!("{tree}simple/{page}{}", rep.file_name());
        match current.manifest.files.get(&key) {
            Some(f) => cx.file(current, f, rep.content_type()).map(Some),
            None => Ok(None),
        }
    }
}
