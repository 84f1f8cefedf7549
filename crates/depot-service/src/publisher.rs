//! The seam between the publish engine and each format's publisher.
//!
//! A publisher renders one format's part of a publication: apt's `dists/`,
//! rpm's `repodata/` and `rpm/`, and so on. It implements [`Publisher`]:
//! which manifest prefixes it owns, how to render everything from all of
//! the format's placements ([`Publisher::full`]), and, where it can, how to
//! extend the previous publication with the placements recorded since
//! ([`Publisher::append`]). Optionally it serves paths that are not files
//! of the manifest ([`Publisher::serve_extra`]: pacman's packages and
//! signatures, the apk key), answers a client-configuration file
//! ([`Publisher::config_file`]) and marks immutable paths.
//!
//! The engine ([`render`], over the registry [`publishers`]) owns what is
//! common to every format, so that no publisher has to remember it:
//!
//! 1. its state: kept in the manifest under `state.{NAME}`, in an envelope
//!    of the engine's ([`Envelope`]: state version, the repo's
//!    `removal_gen`, the cursor, the default placement) around the
//!    publisher's own typed [`Publisher::State`];
//! 2. the decision between extending and rendering afresh: a state of
//!    another version, of another `removal_gen` (a removal, a rebuild or a
//!    settings change happened) or of another default placement means a
//!    full render; otherwise the publisher gets the rows after its cursor
//!    and may still answer [`Rendered::NeedsFull`];
//! 3. the cursor (`last_placement`, the placement id the state has
//!    rendered through): raised after every publish to the repo's highest
//!    placement id, read before any rows were, so a format the repo does
//!    not use never walks the repo's placements again;
//! 4. before a full render, removing every file under the publisher's
//!    prefixes (and nothing else: prefixes are checked disjoint, see
//!    [`check_disjoint`]).
//!
//! Adding a format is a module implementing [`Publisher`] and one line in
//! [`publishers`] (see docs/architecture.md).

use crate::chunks::Chunker;
use crate::{Depot, Download, ServiceError};
use async_trait::async_trait;
use bytes::Bytes;
use depot_core::meta::MetaStore;
use depot_core::sign::PgpSigner;
use depot_core::{
    FileName, Format, IndexRow, Manifest, ManifestFile, Package, PlacementId, PlacementName,
    Publication, Repo, Timestamp,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// The files of a publication being rendered, by path.
pub(crate) type Files = BTreeMap<String, ManifestFile>;

/// What every render needs: the stores, the signing keys and the time.
pub(crate) struct RenderCx<'a> {
    pub meta: &'a dyn MetaStore,
    pub chunker: Chunker<'a>,
    pub signer: &'a dyn PgpSigner,
    pub origin: &'a str,
    pub now: Timestamp,
    pub(crate) depot: &'a Depot,
}

impl RenderCx<'_> {
    /// The server RSA key (apk, FreeBSD), made on first use.
    pub async fn rsa_key(&self) -> Result<depot_sign::RsaKey, ServiceError> {
        self.depot.rsa_key().await
    }

    /// The repo's placements of `format` after `after`, in placement order.
    pub async fn rows(
        &self,
        repo: &Repo,
        format: Format,
        after: PlacementId,
    ) -> Result<Vec<IndexRow>, ServiceError> {
        Ok(self.meta.index_rows(repo.id, format, after).await?)
    }
}

/// What [`Publisher::append`] did.
pub(crate) enum Rendered<S> {
    /// The files are extended; this is the new state.
    Done(S),
    /// The new rows cannot be appended (say, a new architecture): the
    /// engine renders afresh. Files under the publisher's prefixes may
    /// have been changed already; the full render replaces them.
    NeedsFull,
}

/// One format's publisher. See the module doc for what the engine does
/// around these calls.
#[async_trait]
pub(crate) trait Publisher: Send + Sync + 'static {
    /// Key of its state in the manifest (`state.{NAME}`).
    const NAME: &'static str;
    /// The format of the placements it renders.
    const FORMAT: Format;
    /// Manifest path prefixes it owns: it writes nothing else, and a full
    /// render starts with none of them.
    const PREFIXES: &'static [&'static str];
    /// Bump when the layout or the meaning of the state changes: older
    /// manifests are then rendered afresh instead of extended.
    const STATE_VERSION: u32;
    /// What it keeps between publishes (besides the engine's envelope).
    type State: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Extends `files` (the previous publication, other formats' files
    /// included) with `rows`, the placements of [`Publisher::FORMAT`]
    /// recorded since `state` was rendered (never empty).
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        state: Self::State,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<Self::State>, ServiceError>;

    /// Renders everything from `rows`, all of the repo's placements of
    /// [`Publisher::FORMAT`] (maybe none: a publisher may still publish an
    /// empty default tree, so clients work before the first upload).
    /// `files` holds nothing under [`Publisher::PREFIXES`].
    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<Self::State, ServiceError>;

    /// The path (relative to the repo root) of this format's client
    /// configuration file, answered by [`Publisher::client_config`].
    fn config_file(&self) -> Option<&'static str> {
        None
    }

    /// The client configuration for the repo's tree at `at`, with `base`
    /// (`http://host:8080`) as the server's external address.
    async fn client_config(
        &self,
        _cx: &ServeCx<'_>,
        _base: &str,
        _at: &At,
    ) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }

    /// A path that is not a file of the current publication but that this
    /// format serves (packages beside a pacman database, a signature, a
    /// key, a file of a publication still in its grace period). `None`
    /// when the path is not one of this publisher's.
    async fn serve_extra(
        &self,
        _cx: &ServeCx<'_>,
        _path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        Ok(None)
    }

    /// Called before any path of the tree is served (apt completes the
    /// slow `Packages.xz` of a publication made by a process that does not
    /// serve). Act only on your own paths.
    fn before_serve(&self, _cx: &ServeCx<'_>, _path: &str) {}

    /// True for a path of this publisher's whose content never changes
    /// (clients may cache it for good). Asked of every publisher for every
    /// path served: answer only for your own.
    fn is_immutable(&self, _path: &str) -> bool {
        false
    }
}

/// The engine's part of a publisher's state in the manifest; the
/// publisher's own fields are flattened beside these (the shape manifests
/// had before the engine existed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Envelope<S> {
    pub v: u32,
    /// The repo's `removal_gen` when this was rendered.
    pub removal_gen: i64,
    /// The placement id this state has rendered through.
    pub last_placement: i64,
    /// The repo's default placement when this was rendered.
    #[serde(default)]
    pub root: Option<(String, String)>,
    #[serde(flatten)]
    pub body: S,
}

/// The repo's default placement as `(distribution, component)`.
pub(crate) fn root_of(repo: &Repo) -> (String, String) {
    (
        repo.settings.default_distribution.to_string(),
        repo.settings.default_component.to_string(),
    )
}

/// `P`'s state in `manifest`, if it was rendered by this state version.
pub(crate) fn state_of<P: Publisher>(manifest: &Manifest) -> Option<Envelope<P::State>> {
    let e: Envelope<P::State> =
        serde_json::from_value(manifest.state.get(P::NAME)?.clone()).ok()?;
    (e.v == P::STATE_VERSION).then_some(e)
}

fn owns(prefixes: &[&str], path: &str) -> bool {
    prefixes.iter().any(|p| path.starts_with(p))
}

/// The erased face of a [`Publisher`], which the engine and the serving
/// path hold in the registry. Implemented for every publisher.
#[async_trait]
pub(crate) trait DynPublisher: Send + Sync {
    fn name(&self) -> &'static str;
    fn format(&self) -> Format;
    fn prefixes(&self) -> &'static [&'static str];
    /// One engine step: this format's part of the next manifest.
    async fn render(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        manifest: &mut Manifest,
        high_water: PlacementId,
    ) -> Result<(), ServiceError>;
    fn config_file(&self) -> Option<&'static str>;
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError>;
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError>;
    fn before_serve(&self, cx: &ServeCx<'_>, path: &str);
    fn is_immutable(&self, path: &str) -> bool;
}

#[async_trait]
impl<P: Publisher> DynPublisher for P {
    fn name(&self) -> &'static str {
        P::NAME
    }
    fn format(&self) -> Format {
        P::FORMAT
    }
    fn prefixes(&self) -> &'static [&'static str] {
        P::PREFIXES
    }

    async fn render(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        manifest: &mut Manifest,
        high_water: PlacementId,
    ) -> Result<(), ServiceError> {
        #[cfg(debug_assertions)]
        let others: Files = manifest
            .files
            .iter()
            .filter(|(p, _)| !owns(P::PREFIXES, p))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        let root = root_of(repo);
        let prev = state_of::<P>(manifest)
            .filter(|e| e.removal_gen == repo.removal_gen && e.root.as_ref() == Some(&root));
        let mut through = high_water.0;
        let appended = match prev {
            Some(e) => {
                let rows = cx
                    .rows(repo, P::FORMAT, PlacementId(e.last_placement))
                    .await?;
                through = through.max(e.last_placement);
                match rows.iter().map(|r| r.placement_id.0).max() {
                    None => Some(e.body),
                    Some(last) => {
                        through = through.max(last);
                        match self
                            .append(cx, repo, &mut manifest.files, e.body, rows)
                            .await?
                        {
                            Rendered::Done(s) => Some(s),
                            Rendered::NeedsFull => None,
                        }
                    }
                }
            }
            None => None,
        };
        let body = match appended {
            Some(body) => body,
            None => {
                manifest.files.retain(|p, _| !owns(P::PREFIXES, p));
                let rows = cx.rows(repo, P::FORMAT, PlacementId(0)).await?;
                if let Some(last) = rows.iter().map(|r| r.placement_id.0).max() {
                    through = through.max(last);
                }
                self.full(cx, repo, &mut manifest.files, rows).await?
            }
        };
        let envelope = Envelope {
            v: P::STATE_VERSION,
            removal_gen: repo.removal_gen,
            last_placement: through,
            root: Some(root),
            body,
        };
        if !manifest.state.is_object() {
            manifest.state = serde_json::Value::Object(Default::default());
        }
        manifest.state[P::NAME] = serde_json::to_value(&envelope)
            .map_err(|e| ServiceError::Internal(format!("{} state: {e}", P::NAME)))?;
        #[cfg(debug_assertions)]
        {
            let after: Files = manifest
                .files
                .iter()
                .filter(|(p, _)| !owns(P::PREFIXES, p))
                .map(|(p, f)| (p.clone(), f.clone()))
                .collect();
            assert!(
                after == others,
                "publisher {} changed files outside its prefixes {:?}",
                P::NAME,
                P::PREFIXES
            );
        }
        Ok(())
    }

    fn config_file(&self) -> Option<&'static str> {
        Publisher::config_file(self)
    }
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        Publisher::client_config(self, cx, base, at).await
    }
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        Publisher::serve_extra(self, cx, path).await
    }
    fn before_serve(&self, cx: &ServeCx<'_>, path: &str) {
        Publisher::before_serve(self, cx, path)
    }
    fn is_immutable(&self, path: &str) -> bool {
        Publisher::is_immutable(self, path)
    }
}

/// The registry: every format's publisher, in the order they render.
/// Adding a format is one line here.
pub(crate) fn publishers() -> Vec<Box<dyn DynPublisher>> {
    let all: Vec<Box<dyn DynPublisher>> = vec![
        Box::new(crate::apt::Apt),
        Box::new(crate::rpm::Rpm),
        Box::new(crate::pacman::Pacman::default()),
        Box::new(crate::apk::Apk),
        Box::new(crate::freebsd::Freebsd),
        Box::new(crate::pypi::Pypi),
    ];
    check_disjoint(&all);
    all
}

/// Panics unless no publisher's prefix is a prefix of another's (two
/// publishers owning one path would delete each other's files on a full
/// render), and no two share a state name or a configuration file.
pub(crate) fn check_disjoint(all: &[Box<dyn DynPublisher>]) {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut configs = std::collections::BTreeSet::new();
    for p in all {
        assert!(names.insert(p.name()), "two publishers named {}", p.name());
        if let Some(c) = p.config_file() {
            assert!(configs.insert(c), "two publishers serve {c}");
        }
        for prefix in p.prefixes() {
            assert!(
                prefix.ends_with('/') && !prefix.starts_with('/'),
                "publisher {}: prefix {prefix:?} must be a directory relative to the repo root",
                p.name()
            );
            for (other, theirs) in &seen {
                assert!(
                    !(prefix.starts_with(theirs) || theirs.starts_with(prefix)),
                    "publishers {} and {other} both own {prefix:?} / {theirs:?}",
                    p.name()
                );
            }
        }
        for prefix in p.prefixes() {
            seen.push((p.name(), prefix));
        }
    }
}

impl Depot {
    /// The engine: every publisher's part of the next manifest on top of
    /// `prev`, the current publication's (an empty manifest for a repo's
    /// first). `high_water` is the repo's highest placement id, read
    /// before any publisher read its rows.
    pub(crate) async fn render_all(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        prev: Option<&Manifest>,
        high_water: PlacementId,
    ) -> Result<Manifest, ServiceError> {
        let mut manifest = prev.cloned().unwrap_or(Manifest {
            files: BTreeMap::new(),
            state: serde_json::Value::Object(Default::default()),
        });
        for p in self.inner.publishers.iter() {
            p.render(cx, repo, &mut manifest, high_water).await?;
        }
        Ok(manifest)
    }

    pub(crate) fn render_cx(&self, now: Timestamp) -> RenderCx<'_> {
        RenderCx {
            meta: self.inner.meta.as_ref(),
            chunker: Chunker::new(self.inner.blobs.as_ref(), &self.inner.chunks),
            signer: &self.inner.signer,
            origin: &self.inner.config.origin,
            now,
            depot: self,
        }
    }
}

/// A placement a client configuration is asked for (`?distribution=&component=`),
/// the repo's default where `None`.
#[derive(Debug, Clone, Default)]
pub struct At {
    pub distribution: Option<PlacementName>,
    pub component: Option<PlacementName>,
}

impl At {
    pub(crate) fn resolve<'r>(&'r self, repo: &'r Repo) -> (&'r str, &'r str) {
        (
            self.distribution
                .as_ref()
                .unwrap_or(&repo.settings.default_distribution)
                .as_str(),
            self.component
                .as_ref()
                .unwrap_or(&repo.settings.default_component)
                .as_str(),
        )
    }
}

/// What a publisher may use to serve a request: the repo, its current
/// publication, the requested range, and lookups of packages, keys and
/// recent publications.
pub(crate) struct ServeCx<'a> {
    pub(crate) depot: &'a Depot,
    pub repo: &'a Repo,
    pub current: Option<Arc<Publication>>,
    pub range: Option<Range<u64>>,
    /// The client's `Accept` header, for content negotiation.
    pub accept: Option<String>,
}

impl ServeCx<'_> {
    /// A file of publication `p`'s manifest, with the request's range,
    /// last modified when `p` was published.
    pub fn file(
        &self,
        p: &Publication,
        f: &ManifestFile,
        content_type: &'static str,
    ) -> Result<Download, ServiceError> {
        crate::tree::chunked_download(self.depot, f, self.range.clone(), content_type)
            .map(|d| d.modified_at(p.created_at))
    }

    /// Bytes held in memory, with the request's range.
    pub fn bytes(
        &self,
        bytes: Bytes,
        content_type: &'static str,
    ) -> Result<Download, ServiceError> {
        crate::tree::bytes_download(bytes, self.range.clone(), content_type)
    }

    /// Bytes that belong to package `p` (its signature), last modified
    /// when `p` was uploaded.
    pub fn package_bytes(
        &self,
        p: &Package,
        bytes: Bytes,
        content_type: &'static str,
    ) -> Result<Download, ServiceError> {
        self.bytes(bytes, content_type)
            .map(|d| d.modified_at(p.created_at))
    }

    /// The content type a package of `format` is downloaded with.
    pub fn content_type(&self, format: Format) -> &'static str {
        self.depot.inner.config.formats.content_type(format)
    }

    /// The repo's package stored under `file`.
    pub async fn package(&self, file: &str) -> Result<Option<Package>, ServiceError> {
        let Ok(file) = FileName::new(file) else {
            return Ok(None);
        };
        Ok(self
            .depot
            .inner
            .meta
            .get_package(self.repo.id, &file)
            .await?)
    }

    /// A package's bytes, as the repo's download setting says (streamed,
    /// or a redirect to the blob store).
    pub async fn package_download(
        &self,
        p: &Package,
        content_type: &'static str,
    ) -> Result<Download, ServiceError> {
        crate::download::package(
            &self.depot.inner.blobs,
            &self.depot.inner.serving.blobs(),
            self.repo.settings.download,
            &p.hashes.sha256,
            p.size,
            self.range.clone(),
            content_type,
        )
        .await
        .map(|d| d.modified_at(p.created_at))
    }

    /// The repo's publications still in their grace period, newest first
    /// (a client mid-update fetches files of the one it started from).
    pub async fn recent_publications(&self) -> Result<Vec<Publication>, ServiceError> {
        let grace = self.depot.inner.config.publication_grace.as_secs() as i64;
        let since = Timestamp(Timestamp::now().0 - grace);
        Ok(self
            .depot
            .inner
            .meta
            .recent_publications(self.repo.id, since, crate::tree::RECENT_PUBLICATIONS)
            .await?)
    }

    pub async fn rsa_key(&self) -> Result<depot_sign::RsaKey, ServiceError> {
        self.depot.rsa_key().await
    }

    /// The fingerprint of the OpenPGP key that signs the repo.
    pub fn pgp_fingerprint(&self) -> String {
        self.depot.inner.signer.fingerprint()
    }

    /// Schedules the background pass that adds `Packages.xz`.
    pub fn schedule_xz(&self) {
        self.depot.schedule_xz(self.repo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two publishers whose prefixes overlap (for the registry checks only).
    struct Owns<const N: usize>;

    #[async_trait]
    impl<const N: usize> Publisher for Owns<N> {
        const NAME: &'static str = if N == 0 { "one" } else { "two" };
        const FORMAT: Format = Format::File;
        const PREFIXES: &'static [&'static str] = if N == 0 { &["dists/"] } else { &["dists/x/"] };
        const STATE_VERSION: u32 = 1;
        type State = ();
        async fn append(
            &self,
            _: &mut RenderCx<'_>,
            _: &Repo,
            _: &mut Files,
            _: (),
            _: Vec<IndexRow>,
        ) -> Result<Rendered<()>, ServiceError> {
            Ok(Rendered::NeedsFull)
        }
        async fn full(
            &self,
            _: &mut RenderCx<'_>,
            _: &Repo,
            _: &mut Files,
            _: Vec<IndexRow>,
        ) -> Result<(), ServiceError> {
            Ok(())
        }
    }

    #[test]
    fn the_registry_s_prefixes_state_names_and_config_files_are_disjoint() {
        // publishers() runs check_disjoint itself.
        let all = publishers();
        let formats: std::collections::BTreeSet<Format> = all.iter().map(|p| p.format()).collect();
        assert_eq!(formats.len(), all.len(), "one publisher per format");
    }

    #[test]
    #[should_panic(expected = "both own")]
    fn two_publishers_owning_one_path_are_refused() {
        check_disjoint(&[Box::new(Owns::<0>), Box::new(Owns::<1>)]);
    }
}
