//! The [`MetaStore`] contract as executable checks, one file per aggregate
//! as the traits are cut: `repositories`, `packages`, `index_rows`,
//! `publications`, `tokens_keys`, `concurrency` (and `images` beside this
//! module).
//!
//! A backend runs them either as one suite ([`meta_store_suite`]) or, in its
//! own tests, as one named test per check ([`crate::meta_store_tests!`]), so
//! the first failure does not hide the others and the report names the
//! check and the backend.

use depot_core::digest::{Hashes, Sha256};
use depot_core::meta::{MetaError, MetaStore, PackageUpdate};
use depot_core::model::*;
use depot_core::names::{FileName, PlacementName, RepoName};
use depot_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) type Store = Arc<dyn MetaStore>;

mod concurrency;
mod index_rows;
mod packages;
mod publications;
mod repositories;
mod tokens_keys;

/// Every check, each `async fn(Arc<dyn MetaStore>)` on a fresh store, by
/// name: what [`crate::meta_store_tests!`] makes a test of.
pub mod checks {
    pub use super::concurrency::*;
    pub use super::index_rows::*;
    pub use super::packages::*;
    pub use super::publications::*;
    pub use super::repositories::*;
    pub use super::tokens_keys::*;
    pub use crate::conformance::images::{
        images_concurrent_overwrites, images_create_get_list, images_update,
        images_versions_and_history, token_groups,
    };
}

/// Calls `$m!` with the name of every check, in the suite's order.
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_meta_check {
    ($m:ident $(, $arg:path)?) => {
        $m!([$($arg)?]
            backend_name,
            repositories,
            repo_settings,
            add_package_new_and_idempotent,
            add_package_filename_conflict,
            add_package_nva_conflicts,
            same_bytes_other_filename_is_the_stored_package,
            add_package_missing_repo,
            add_packages_batch,
            remove_package,
            get_and_list_packages,
            update_packages,
            index_rows,
            placement_ids_only_grow,
            publish_compare_and_set,
            committed_writes_change_the_epoch,
            recent_and_prune_publications,
            delete_repo_cascades,
            tokens,
            signing_keys,
            concurrent_publishers,
            publish_lease,
            concurrent_add_package,
            concurrent_signing_key_first_start,
            images_create_get_list,
            images_update,
            images_versions_and_history,
            images_concurrent_overwrites,
            token_groups
        );
    };
}

/// Runs every check of the [`MetaStore`] contract. `fresh` returns a new,
/// empty store on each call (each check starts from scratch).
///
/// Where the rustdoc of the trait is silent, this pins down what depot's
/// backends do:
/// - repo-scoped writes and `published_pointer` on a repo that does not
///   exist are `NotFound`; reads (`get_package`, `list_packages`,
///   `index_rows`, `recent_publications`) return nothing;
/// - `update_repo_settings` with different settings bumps the revision and
///   the removal generation (identical settings change nothing);
/// - `update_packages` naming a package outside the repo is `NotFound` and
///   writes nothing;
/// - a package's placements are ordered by distribution, then component;
///   names (repos, files) are ordered bytewise;
/// - a store with a change epoch keeps it across reads (else no cache could
///   ever use it).
pub async fn meta_store_suite<F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn MetaStore>>,
{
    macro_rules! run_all {
        ([] $($check:ident),* $(,)?) => {
            $( checks::$check(fresh().await).await; )*
        };
    }
    crate::for_each_meta_check!(run_all);
}

/// One `#[tokio::test]` per check of the [`MetaStore`] contract, named after
/// the check, in the module this is called in. `$with` is an async
/// function taking the check (`FnOnce(Arc<dyn MetaStore>) -> impl Future`)
/// that makes a fresh store, runs the check on it and cleans up.
///
/// ```ignore
/// mod sqlite {
///     depot_store::meta_store_tests!(super::with_fresh_sqlite);
/// }
/// ```
#[macro_export]
macro_rules! meta_store_tests {
    ($with:path) => {
        use $crate::__meta_store_test;
        $crate::for_each_meta_check!(__meta_store_test, $with);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __meta_store_test {
    ([$with:path] $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $with($crate::conformance::meta::checks::$check).await
            }
        )*
    };
}

pub(crate) const TAG: &str = "[meta store conformance]";
pub(super) const T0: Timestamp = Timestamp(1_795_316_688);

pub(super) fn repo_name(s: &str) -> RepoName {
    RepoName::new(s).unwrap()
}

pub(super) fn file_name(s: &str) -> FileName {
    FileName::new(s).unwrap()
}

pub(super) fn place(dist: &str, comp: &str) -> Placement {
    Placement {
        distribution: PlacementName::new(dist).unwrap(),
        component: PlacementName::new(comp).unwrap(),
    }
}

/// A deb package whose content (and so digests) is derived from `content`.
pub(super) fn deb(
    filename: &str,
    name: &str,
    version: &str,
    arch: &str,
    content: &str,
) -> NewPackage {
    let bytes = format!("{filename}|{content}");
    NewPackage {
        filename: file_name(filename),
        size: bytes.len() as u64,
        hashes: Hashes::of(bytes.as_bytes()),
        format: Format::Deb,
        name: name.to_string(),
        version: version.to_string(),
        arch: arch.to_string(),
        index_entry: format!(
            "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nFilename: {filename}"
        ),
        fields: serde_json::json!({ "Package": name, "Version": version, "Depends": ["libc6"] }),
    }
}

/// The same file as `pkg`, other bytes.
pub(super) fn other_content(pkg: &NewPackage, salt: &str) -> NewPackage {
    let mut p = pkg.clone();
    let bytes = format!("{}|{salt}", pkg.filename);
    p.hashes = Hashes::of(bytes.as_bytes());
    p.size = bytes.len() as u64;
    p
}

pub(super) fn generic_file(filename: &str, content: &str) -> NewPackage {
    let bytes = format!("{filename}|{content}");
    NewPackage {
        filename: file_name(filename),
        size: bytes.len() as u64,
        hashes: Hashes::of(bytes.as_bytes()),
        format: Format::File,
        name: String::new(),
        version: String::new(),
        arch: String::new(),
        index_entry: String::new(),
        fields: serde_json::json!({}),
    }
}

pub(super) async fn new_repo(s: &Store, name: &str) -> Repo {
    s.create_repo(&repo_name(name), &RepoSettings::default(), T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} create_repo({name}) failed: {e}"))
}

pub(super) async fn repo_state(s: &Store, name: &str) -> Repo {
    s.get_repo(&repo_name(name))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{TAG} repo {name} vanished"))
}

pub(super) async fn add(
    s: &Store,
    repo: &Repo,
    pkg: &NewPackage,
    placements: &[Placement],
) -> AddOutcome {
    s.add_package(repo.id, pkg, placements, T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} add_package({}) failed: {e}", pkg.filename))
}

pub(super) fn assert_package_matches(
    pkg: &Package,
    new: &NewPackage,
    repo: RepoId,
    placements: &[Placement],
) {
    assert_eq!(pkg.repo_id, repo, "{TAG} package repo id");
    assert_eq!(pkg.filename, new.filename, "{TAG} package file name");
    assert_eq!(pkg.size, new.size, "{TAG} package size");
    assert_eq!(pkg.hashes, new.hashes, "{TAG} package hashes");
    assert_eq!(pkg.format, new.format, "{TAG} package format");
    assert_eq!(
        (&pkg.name, &pkg.version, &pkg.arch),
        (&new.name, &new.version, &new.arch),
        "{TAG} package name/version/arch"
    );
    assert_eq!(
        pkg.index_entry, new.index_entry,
        "{TAG} index entry round-trips"
    );
    assert_eq!(pkg.fields, new.fields, "{TAG} fields round-trip");
    let mut want: Vec<Placement> = placements.to_vec();
    want.sort();
    want.dedup();
    assert_eq!(
        pkg.placements, want,
        "{TAG} package placements (all of them, ordered by distribution, component)"
    );
}
