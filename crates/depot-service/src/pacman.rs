//! The pacman publisher: renders the sync databases of Arch Linux packages
//! from their placements.
//!
//! Layout written (paths relative to the repo root; `{db}` named by
//! placement, see [`db_name`]):
//!
//! ```text
//! pacman/{arch}/{db}.db                 the sync database: a gzip'd tar of {name}-{version}/desc
//! pacman/{arch}/{db}.db.tar.gz          the same file under repo-add's other name
//! pacman/{arch}/{db}.db.sig             detached binary OpenPGP signature (the repo key)
//! pacman/{arch}/{db}.db.tar.gz.sig      the same signature
//! pacman/{arch}/{db}.files              the files database: desc and files per package
//! pacman/{arch}/{db}.files.tar.gz       the same file
//! pacman/{arch}/{db}.files{,.tar.gz}.sig
//! pacman/{arch}/{db}.db.tar             the databases uncompressed (pacman reads them too); kept
//! pacman/{arch}/{db}.files.tar          so the next publish can append to them
//! pacman/{arch}/{file}, {file}.sig      the packages and their signatures (the download route,
//!                                       not the manifest)
//! ```
//!
//! Every database is published for every architecture seen in the repo's
//! pacman packages, plus `x86_64`; `any` packages are in each. A database
//! lists one entry per package name, the newest by [`vercmp`] (repo-add
//! replaces an entry whatever its version; the newest of all uploads is
//! what a repository serving every upload at once must pick), ties going to
//! the latest upload.
//!
//! Entries are rendered at upload (`desc` and `files`, the package's index
//! entry) and ordered by placement (upload order). A tar is a sequence of
//! 512-byte blocks closed by two zero blocks, so a database is stored as
//! body chunks of whole entries plus a footer chunk of those zero blocks,
//! and its `.gz` as gzip members aligned with them (libarchive, pacman's
//! reader, reads multi-member gzip). A publish whose new placements are new
//! package names in their databases appends one chunk per file (see
//! [`crate::chunks`]), re-hashes from the cached hash state of the
//! unchanged prefix and signs from it, reading nothing back. Anything else
//! (a newer version of a listed package, a removal, a rebuild, a new
//! architecture, a change of the default placement) renders everything
//! afresh.
//!
//! Which names a database holds is kept in memory by the digest of its
//! uncompressed tar ([`NameCache`]); a node without it (a restart, another
//! node) reads the names from that tar once. The rest of the state lives
//! in the manifest (`state.pacman`).

use crate::publisher::{At, Files, Publisher, RenderCx, Rendered, ServeCx};
use crate::{Download, ServiceError};
use async_trait::async_trait;
use bytes::Bytes;
use depot_core::{Chunk, Format, IndexRow, Repo, Sha256};
use depot_formats::pacman::db;
use depot_formats::pacman::version::vercmp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Architectures every repository publishes, packages or not.
const DEFAULT_ARCHES: [&str; 1] = ["x86_64"];

pub(crate) use depot_formats::pacman::PacmanEntry;

/// The pacman publisher (see the module doc). It keeps the names each
/// published database lists, to decide whether a package is new there
/// without reading the database back.
#[derive(Default)]
pub(crate) struct Pacman {
    names: NameCache,
}

/// What pacman keeps between publishes. (The engine keeps the default
/// placement it was rendered for, which names the databases.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PacmanState {
    /// Every database published.
    dbs: BTreeSet<String>,
    /// The architectures every database is published for.
    arches: BTreeSet<String>,
}

/// Package names per uncompressed database tar, by its SHA-256.
#[derive(Default)]
pub struct NameCache {
    map: Mutex<HashMap<Sha256, Arc<BTreeSet<String>>>>,
}

/// Above this many databases the cache is dropped wholesale (a set of
/// 10,000 names is about half a megabyte). A publish replaces the entry of
/// each database it rewrites, so this bounds the databases cached, not the
/// publishes.
const MAX_CACHED_DBS: usize = 64;

impl NameCache {
    fn get(&self, digest: &Sha256) -> Option<Arc<BTreeSet<String>>> {
        self.map.lock().expect("poisoned").get(digest).cloned()
    }
    fn put(&self, digest: Sha256, names: Arc<BTreeSet<String>>) {
        let mut m = self.map.lock().expect("poisoned");
        if m.len() >= MAX_CACHED_DBS {
            m.clear();
        }
        m.insert(digest, names);
    }
    /// Removes and returns an entry (its set, without a copy when no one
    /// else holds it).
    fn take(&self, digest: &Sha256) -> Option<BTreeSet<String>> {
        let set = self.map.lock().expect("poisoned").remove(digest)?;
        Some(Arc::try_unwrap(set).unwrap_or_else(|shared| (*shared).clone()))
    }
}

/// The database a placement lands in: the repo's own name for its default
/// placement, `{dist}` for the default component of another distribution,
/// `{dist}-{comp}` otherwise. Placements that map to one name share the
/// database.
pub fn db_name(repo: &Repo, dist: &str, comp: &str) -> String {
    let default_comp = repo.settings.default_component.as_str();
    if dist == repo.settings.default_distribution.as_str() && comp == default_comp {
        repo.name.to_string()
    } else if comp == default_comp {
        dist.to_string()
    } else {
        format!("{dist}-{comp}")
    }
}

fn dir_of(arch: &str) -> String {
    format!("pacman/{arch}")
}

/// One row with its parsed entry.
struct Row<'r> {
    row: &'r IndexRow,
    db: String,
    entry: PacmanEntry,
}

fn parse_rows<'r>(repo: &Repo, rows: &'r [IndexRow]) -> Result<Vec<Row<'r>>, ServiceError> {
    rows.iter()
        .map(|r| {
            let entry: PacmanEntry = serde_json::from_str(&r.index_entry).map_err(|e| {
                ServiceError::Internal(format!(
                    "stored pacman index entry of placement {} is unreadable: {e}",
                    r.placement_id
                ))
            })?;
            Ok(Row {
                row: r,
                db: db_name(repo, r.distribution.as_str(), r.component.as_str()),
                entry,
            })
        })
        .collect()
}

fn in_arch(r: &Row<'_>, arch: &str) -> bool {
    r.row.arch == arch || r.row.arch == "any"
}

#[async_trait]
impl Publisher for Pacman {
    const NAME: &'static str = "pacman";
    const FORMAT: Format = Format::Pacman;
    const PREFIXES: &'static [&'static str] = &["pacman/"];
    const STATE_VERSION: u32 = 1;
    type State = PacmanState;

    /// Appends when every new package is a new name in each database it
    /// goes to, for architectures already published.
    async fn append(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        state: PacmanState,
        rows: Vec<IndexRow>,
    ) -> Result<Rendered<PacmanState>, ServiceError> {
        let parsed = parse_rows(repo, &rows)?;
        if parsed
            .iter()
            .all(|r| r.row.arch == "any" || state.arches.contains(&r.row.arch))
            && let Some(plan) = append_plan(cx, files, &state, &parsed, &self.names).await?
        {
            return append(cx, files, state, &parsed, plan, &self.names)
                .await
                .map(Rendered::Done);
        }
        Ok(Rendered::NeedsFull)
    }

    async fn full(
        &self,
        cx: &mut RenderCx<'_>,
        repo: &Repo,
        files: &mut Files,
        rows: Vec<IndexRow>,
    ) -> Result<PacmanState, ServiceError> {
        full(cx, repo, files, &rows, &self.names).await
    }

    fn config_file(&self) -> Option<&'static str> {
        Some("pacman.conf")
    }

    /// A `pacman.conf` section for the database of `at`
    /// (`SigLevel = Required`), with the commands that trust the key.
    async fn client_config(
        &self,
        cx: &ServeCx<'_>,
        base: &str,
        at: &At,
    ) -> Result<Option<String>, ServiceError> {
        let repo = cx.repo;
        let name = &repo.name;
        let (dist, comp) = at.resolve(repo);
        let db = db_name(repo, dist, comp);
        Ok(Some(format!(
            "# Trust the repository key first:\n\
             #   curl -o depot.asc {base}/repos/{name}/key.asc\n\
             #   pacman-key --add depot.asc && pacman-key --lsign-key {fpr}\n\
             [{db}]\n\
             SigLevel = Required\n\
             Server = {base}/repos/{name}/pacman/$arch\n",
            fpr = cx.pgp_fingerprint(),
        )))
    }

    /// A pacman package by file name beside the databases
    /// (`pacman/{arch}/{file}`: pacman fetches packages from the database's
    /// `Server`, so they are served under every architecture), or the
    /// signature of one (`{file}.sig`).
    async fn serve_extra(
        &self,
        cx: &ServeCx<'_>,
        path: &str,
    ) -> Result<Option<Download>, ServiceError> {
        let Some((_arch, file)) = path
            .strip_prefix("pacman/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(arch, file)| !arch.is_empty() && !file.contains('/'))
        else {
            return Ok(None);
        };
        let (target, is_sig) = match file.strip_suffix(".sig") {
            Some(t) => (t, true),
            None => (file, false),
        };
        let Some(p) = cx
            .package(target)
            .await?
            .filter(|p| p.format == Format::Pacman)
        else {
            return Ok(None);
        };
        if is_sig {
            return match PackageSig::of_fields(&p.fields) {
                Some(sig) => cx
                    .bytes(Bytes::from(sig.bytes), "application/pgp-signature")
                    .map(Some),
                None => Ok(None),
            };
        }
        cx.package_download(&p, "application/octet-stream")
            .await
            .map(Some)
    }
}

/// The (db, arch) files the new rows go to, when all of them are new names
/// there; `None` when a full render is needed.
async fn append_plan<'r>(
    ctx: &mut RenderCx<'_>,
    files: &Files,
    state: &PacmanState,
    rows: &[Row<'r>],
    names: &NameCache,
) -> Result<Option<BTreeMap<(String, String), Vec<usize>>>, ServiceError> {
    let mut plan: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        for arch in &state.arches {
            if in_arch(r, arch) {
                plan.entry((r.db.clone(), arch.clone()))
                    .or_default()
                    .push(i);
            }
        }
    }
    for ((dbn, arch), idx) in &plan {
        let mut fresh = BTreeSet::new();
        for &i in idx {
            if !fresh.insert(rows[i].row.name.as_str()) {
                return Ok(None);
            }
        }
        if !state.dbs.contains(dbn) {
            continue;
        }
        let path = format!("{}/{dbn}.db.tar", dir_of(arch));
        let Some(file) = files.get(&path) else {
            return Ok(None);
        };
        let listed = match names.get(&file.hashes.sha256) {
            Some(n) => n,
            None => {
                let mut tar = Vec::with_capacity(file.size as usize);
                for c in &file.chunks {
                    tar.extend_from_slice(&ctx.chunker.bytes_of(c).await?);
                }
                let n = Arc::new(db::names(&tar).map_err(|e| {
                    ServiceError::Internal(format!("published {path} is unreadable: {e}"))
                })?);
                names.put(file.hashes.sha256, n.clone());
                n
            }
        };
        if fresh.iter().any(|n| listed.contains(*n)) {
            return Ok(None);
        }
    }
    Ok(Some(plan))
}

async fn append(
    ctx: &mut RenderCx<'_>,
    files: &mut Files,
    mut state: PacmanState,
    rows: &[Row<'_>],
    plan: BTreeMap<(String, String), Vec<usize>>,
    names: &NameCache,
) -> Result<PacmanState, ServiceError> {
    for ((dbn, arch), idx) in plan {
        let new: Vec<&Row<'_>> = idx.iter().map(|&i| &rows[i]).collect();
        write_db(ctx, files, &arch, &dbn, &new, true, names).await?;
    }
    for r in rows {
        state.dbs.insert(r.db.clone());
    }
    // A new database is published for every architecture, empty or not.
    let missing: Vec<(String, String)> = state
        .dbs
        .iter()
        .flat_map(|d| state.arches.iter().map(move |a| (d.clone(), a.clone())))
        .filter(|(d, a)| !files.contains_key(&format!("{}/{d}.db", dir_of(a))))
        .collect();
    for (dbn, arch) in missing {
        write_db(ctx, files, &arch, &dbn, &[], false, names).await?;
    }
    Ok(state)
}

async fn full(
    ctx: &mut RenderCx<'_>,
    repo: &Repo,
    files: &mut Files,
    rows: &[IndexRow],
    names: &NameCache,
) -> Result<PacmanState, ServiceError> {
    let parsed = parse_rows(repo, rows)?;
    let mut state = PacmanState {
        dbs: BTreeSet::new(),
        arches: DEFAULT_ARCHES.iter().map(|a| a.to_string()).collect(),
    };
    // The default database is always published, so `pacman -Sy` works on
    // a repository before its first package.
    state.dbs.insert(db_name(
        repo,
        repo.settings.default_distribution.as_str(),
        repo.settings.default_component.as_str(),
    ));
    for r in &parsed {
        state.dbs.insert(r.db.clone());
        if r.row.arch != "any" {
            state.arches.insert(r.row.arch.clone());
        }
    }
    for dbn in &state.dbs {
        for arch in &state.arches {
            // The newest of each name, in upload order.
            let mut best: BTreeMap<&str, &Row<'_>> = BTreeMap::new();
            for r in parsed.iter().filter(|r| r.db == *dbn && in_arch(r, arch)) {
                let better = match best.get(r.row.name.as_str()) {
                    None => true,
                    Some(cur) => vercmp(&r.row.version, &cur.row.version)
                        .then(r.row.placement_id.cmp(&cur.row.placement_id))
                        .is_gt(),
                };
                if better {
                    best.insert(&r.row.name, r);
                }
            }
            let mut winners: Vec<&Row<'_>> = best.into_values().collect();
            winners.sort_by_key(|r| r.row.placement_id);
            write_db(ctx, files, arch, dbn, &winners, false, names).await?;
        }
    }
    Ok(state)
}

/// Body chunks of a file made of [body…, footer].
fn body_of(chunks: &[Chunk]) -> Vec<Chunk> {
    match chunks {
        [body @ .., _] => body.to_vec(),
        _ => Vec::new(),
    }
}

/// Writes `{db}.db` and `{db}.files` of one architecture: appends `rows`
/// to the previous files when `extend`, else makes them of `rows` alone;
/// then hashes, signs, and moves the cached names of the previous database
/// tar (when cached) to the new one.
async fn write_db(
    ctx: &mut RenderCx<'_>,
    files: &mut Files,
    arch: &str,
    dbn: &str,
    rows: &[&Row<'_>],
    extend: bool,
    names: &NameCache,
) -> Result<(), ServiceError> {
    let dir = dir_of(arch);
    let prev_digest = files
        .get(&format!("{dir}/{dbn}.db.tar"))
        .map(|f| f.hashes.sha256);
    let mut db_names_digest = None;
    for files_db in [false, true] {
        let kind = if files_db { "files" } else { "db" };
        let plain_path = format!("{dir}/{dbn}.{kind}.tar");
        let gz_path = format!("{dir}/{dbn}.{kind}");
        let (plain_body, gz_body) = match (extend, files.get(&plain_path), files.get(&gz_path)) {
            (true, Some(p), Some(g)) if p.chunks.len() == g.chunks.len() => {
                (body_of(&p.chunks), body_of(&g.chunks))
            }
            _ => (Vec::new(), Vec::new()),
        };
        let mut delta = Vec::new();
        for r in rows {
            let dir_name = db::entry_dir(&r.row.name, &r.row.version);
            delta.extend(db::entry(
                &dir_name,
                r.entry.mtime,
                &r.entry.desc,
                files_db.then_some(r.entry.files.as_str()),
            ));
        }
        let (plain_body, gz_body) = ctx
            .chunker
            .append_chunks(plain_body, gz_body, Bytes::from(delta))
            .await?;
        let (foot, foot_gz) = ctx
            .chunker
            .put_with_gz(Bytes::from_static(&db::END_OF_ARCHIVE))
            .await?;
        let plain: Vec<Chunk> = plain_body.into_iter().chain([foot]).collect();
        let gz: Vec<Chunk> = gz_body.into_iter().chain([foot_gz]).collect();
        let plain = ctx.chunker.finish(plain).await?;
        let (gz, state) = ctx.chunker.finish_with_state(gz).await?;
        let sig = ctx
            .signer
            .sign_detached_binary_sha256(state.sha256_state())
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let sig = ctx.chunker.single(Bytes::from(sig)).await?;
        if !files_db {
            db_names_digest = Some(plain.hashes.sha256);
        }
        files.insert(plain_path, plain);
        files.insert(format!("{gz_path}.tar.gz.sig"), sig.clone());
        files.insert(format!("{gz_path}.sig"), sig);
        files.insert(format!("{gz_path}.tar.gz"), gz.clone());
        files.insert(gz_path, gz);
    }
    // The previous names, unless the previous database's are not cached
    // (then the next publish reads them from the tar).
    let base = match (extend, prev_digest) {
        (true, Some(prev)) => names.take(&prev),
        _ => Some(BTreeSet::new()),
    };
    if let (Some(digest), Some(mut next)) = (db_names_digest, base) {
        next.extend(rows.iter().map(|r| r.row.name.clone()));
        names.put(digest, Arc::new(next));
    }
    Ok(())
}

// ---- packages: inspection and signatures --------------------------------

/// Who made a package's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SignedBy {
    /// The repository's key, at upload.
    Repository,
    /// The packager: a `.sig` uploaded with or after the package.
    Packager,
}

/// A package's detached binary signature, as kept in its fields
/// (`signature` base64, `signature_by`, `signature_issuers`): the bytes
/// are not a blob of their own (gc keeps only blobs that package rows and
/// publications reference), and they are `%PGPSIG%` anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageSig {
    pub bytes: Vec<u8>,
    pub by: SignedBy,
    pub issuers: Vec<String>,
}

impl PackageSig {
    /// The signature recorded in a pacman package's fields.
    pub fn of_fields(fields: &serde_json::Value) -> Option<PackageSig> {
        let bytes = pacman_fmt::base64_decode(fields.get("signature")?.as_str()?)?;
        let by = serde_json::from_value(fields.get("signature_by")?.clone()).ok()?;
        let issuers = fields
            .get("signature_issuers")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        Some(PackageSig { bytes, by, issuers })
    }
}

use depot_formats::pacman as pacman_fmt;

/// `X.sig` where `X` is a pacman package file name: the package it signs.
pub(crate) fn signature_target(filename: &str) -> Option<&str> {
    let target = filename.strip_suffix(".sig")?;
    pacman_fmt::is_package_name(target).then_some(target)
}

/// The index entry and API fields of a package with `sig`.
pub(crate) fn render_package(
    info: &pacman_fmt::PacmanInfo,
    files: &str,
    filename: &str,
    size: u64,
    hashes: &depot_core::Hashes,
    sig: &PackageSig,
) -> (String, serde_json::Value) {
    let sha256 = hashes.sha256.hex();
    let desc = pacman_fmt::desc(
        info,
        &pacman_fmt::DescFile {
            filename,
            size,
            md5: &hashes.md5,
            sha256: &sha256,
            signature: Some(&sig.bytes),
        },
    );
    let entry = PacmanEntry {
        desc,
        files: files.to_string(),
        mtime: info.build_time(),
    };
    let mut fields = pacman_fmt::fields_json(info);
    // From the entry, not `info.files`: a re-render from stored fields has
    // no file list.
    fields["file_count"] = files.lines().skip(1).count().into();
    fields["signature"] = pacman_fmt::base64_encode(&sig.bytes).into();
    fields["signature_by"] = serde_json::to_value(sig.by).expect("serializes");
    fields["signature_issuers"] = serde_json::to_value(&sig.issuers).expect("serializes");
    (
        serde_json::to_string(&entry).expect("entry serializes"),
        fields,
    )
}

/// A reader that feeds everything it reads to a SHA-256 state (the state
/// [`sign_at_upload`] signs).
pub(crate) struct Sha256Tee<R> {
    inner: R,
    state: depot_core::digest::Sha256State,
}

impl<R> Sha256Tee<R> {
    pub(crate) fn new(inner: R) -> Self {
        Sha256Tee {
            inner,
            state: Default::default(),
        }
    }

    /// The state after everything read so far.
    pub(crate) fn finish(self) -> depot_core::digest::Sha256State {
        self.state
    }
}

impl<R: std::io::Read> std::io::Read for Sha256Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.state.update(&buf[..n]);
        Ok(n)
    }
}

/// Pacman's upload-time signing, a service policy rather than format
/// reading: a pacman package as the format registry inspected it (its
/// `desc` without `%PGPSIG%`) is signed with the repository key, unless
/// `keep` carries its signature already (a rebuild keeps the recorded
/// one), and its index entry and fields are re-rendered with the
/// signature. `content` is the SHA-256 state of the whole package file.
/// Called from [`crate::inspect`] for every pacman package.
pub(crate) fn sign_at_upload(
    package: &mut depot_core::NewPackage,
    signer: &dyn depot_core::sign::PgpSigner,
    content: depot_core::digest::Sha256State,
    keep: Option<PackageSig>,
) -> Result<(), ServiceError> {
    let sig = match keep {
        Some(sig) => sig,
        None => PackageSig {
            bytes: signer
                .sign_detached_binary_sha256(content)
                .map_err(|e| ServiceError::Internal(e.to_string()))?,
            by: SignedBy::Repository,
            issuers: vec![signer.fingerprint()],
        },
    };
    let (index_entry, fields) = with_signature(
        package.filename.as_str(),
        package.size,
        &package.hashes,
        &package.index_entry,
        &package.fields,
        &sig,
    )?;
    package.index_entry = index_entry;
    package.fields = fields;
    Ok(())
}

/// The index entry and fields of a stored (or prepared) package with a new
/// signature, re-rendered from its stored fields and entry.
pub(crate) fn with_signature(
    filename: &str,
    size: u64,
    hashes: &depot_core::Hashes,
    index_entry: &str,
    fields: &serde_json::Value,
    sig: &PackageSig,
) -> Result<(String, serde_json::Value), ServiceError> {
    let unreadable =
        |e: String| ServiceError::Internal(format!("stored fields of {filename}: {e}"));
    let info: pacman_fmt::PacmanInfo =
        serde_json::from_value(fields.clone()).map_err(|e| unreadable(e.to_string()))?;
    let entry: PacmanEntry =
        serde_json::from_str(index_entry).map_err(|e| unreadable(e.to_string()))?;
    Ok(render_package(
        &info,
        &entry.files,
        filename,
        size,
        hashes,
        sig,
    ))
}

/// Checks a packager's `.sig` against the package file at `path`
/// (blocking).
pub(crate) fn check_packager_signature(
    sig: &[u8],
    path: &std::path::Path,
    sig_name: &str,
) -> Result<PackageSig, ServiceError> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let info = depot_sign::check_detached_binary(sig, file)
        .map_err(|e| ServiceError::BadPackage(format!("{sig_name}: {e}")))?;
    Ok(PackageSig {
        bytes: sig.to_vec(),
        by: SignedBy::Packager,
        issuers: info.issuers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::{PlacementName, RepoId, RepoName, RepoSettings, Revision, Timestamp};

    #[test]
    fn databases_are_named_by_placement() {
        let repo = Repo {
            id: RepoId(1),
            name: RepoName::new("arch").unwrap(),
            settings: RepoSettings {
                default_distribution: PlacementName::new("stable").unwrap(),
                default_component: PlacementName::new("main").unwrap(),
                ..RepoSettings::default()
            },
            revision: Revision(0),
            removal_gen: 0,
            created_at: Timestamp(0),
        };
        assert_eq!(db_name(&repo, "stable", "main"), "arch");
        assert_eq!(db_name(&repo, "testing", "main"), "testing");
        assert_eq!(db_name(&repo, "stable", "extra"), "stable-extra");
        assert_eq!(db_name(&repo, "testing", "extra"), "testing-extra");
    }
}
