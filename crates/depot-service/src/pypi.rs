//! The Python publisher: the simple repository index pip reads, rendered
//! from the placements of wheels and sdists.
//!
//! Layout written (paths relative to the repo root):
//!
//! ```text
//! pypi/simple/index.html, index.json            every project (PEP 503 HTML, PEP 691 JSON)
//! pypi/simple/{project}/index.html, index.json  one project's files
//! pypi/files/{file}.metadata                    a wheel's METADATA (PEP 658)
//! ```
//!
//! and served beside them ([`Publisher::serve_extra`]):
//!
//! ```text
//! pypi/simple/ , pypi/simple/{project}/  the page, HTML or JSON as the request's
//!                                        Accept asks (depot_formats::pypi::index::negotiate);
//!                                        a project name in any spelling
//! pypi/files/{file}                      the package (streamed or redirected, as the
//!                                        repo's download setting says)
//! pypi/pip.conf                          the client configuration
//! ```
//!
//! `{project}` is the normalized project name. One index per repo: every
//! placement's Python packages are in it (pip has no notion of a
//! distribution or component), each file once. A publish renders again
//! the root page and the pages of the projects its new placements touch;
//! a removal, a rebuild or a change of the default placement renders all
//! of them.

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

const SIMPLE: &str = "pypi/simple/";
const FILES: &str = "pypi/files/";

/// Every Python file of the repo, once per file name (a file placed
/// twice is one link), from all of its placements.
fn parse(rows: &[IndexRow]) -> Result<Vec<IndexFile>, ServiceError> {
    let mut by_name: BTreeMap<String, IndexFile> = BTreeMap::new();
    for r in rows {
        let f: IndexFile = serde_json::from_str(&r.index_entry).map_err(|e| {
            ServiceError::Internal(format!(
                "stored Python index entry of placement {} is unreadable: {e}",
                r.placement_id
            ))
        })?;
        by_name.entry(f.filename.clone()).or_insert(f);
    }
    Ok(by_name.into_values().collect())
}

/// Writes the root page, the pages of `projects` (every project when
/// `None`) and the `.metadata` files of their wheels.
async fn render(
    cx: &mut RenderCx<'_>,
    files: &mut Files,
    all: &[IndexFile],
    projects: Option<BTreeSet<String>>,
) -> Result<(), ServiceError> {
    // A repo without Python packages publishes no index at all.
    if all.is_empty() {
        return Ok(());
    }
    let projects = projects.unwrap_or_else(|| all.iter().map(|f| f.project.clone()).collect());
    for (path, bytes) in index::render(all) {
        let project = path.split_once('/').map(|(p, _)| p);
        if project.is_some_and(|p| !projects.contains(p)) {
            continue;
        }
        let file = cx.chunker.single(Bytes::from(bytes)).await?;
        files.insert(format!("{SIMPLE}{path}"), file);
    }
    for f in all.iter().filter(|f| projects.contains(&f.project)) {
        if let Some(m) = &f.metadata {
            let file = cx
                .chunker
                .single(Bytes::from(m.clone().into_bytes()))
                .await?;
            files.insert(format!("{FILES}{}.metadata", f.filename), file);
        }
    }
    Ok(())
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
        let touched: BTreeSet<String> = parse(&rows)?.into_iter().map(|f| f.project).collect();
        let all = parse(&cx.rows(repo, Format::Pypi, PlacementId(0)).await?)?;
        render(cx, files, &all, Some(touched)).await?;
        Ok(Rendered::Done(PypiState {}))
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        _repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<PypiState, ServiceError> {
        render(cx, files, &parse(&rows)?, None).await?;
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
        _at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let url = format!("{base}/repos/{}/pypi/simple/", cx.repo.name);
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
        if let Some(file) = path.strip_prefix(FILES) {
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
        let page = match path.strip_prefix("pypi/simple") {
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
        let key = format!("{SIMPLE}{page}{}", rep.file_name());
        match current.manifest.files.get(&key) {
            Some(f) => cx.file(f, rep.content_type()).map(Some),
            None => Ok(None),
        }
    }
}
