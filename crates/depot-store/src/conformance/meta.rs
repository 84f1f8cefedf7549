//! The [`MetaStore`] contract as executable checks.

use depot_core::digest::{Hashes, Sha256};
use depot_core::meta::{MetaError, MetaStore, PackageUpdate};
use depot_core::model::*;
use depot_core::names::{FileName, PlacementName, RepoName};
use depot_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

type Store = Arc<dyn MetaStore>;

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
    backend_name(fresh().await).await;
    repositories(fresh().await).await;
    repo_settings(fresh().await).await;
    add_package_new_and_idempotent(fresh().await).await;
    add_package_filename_conflict(fresh().await).await;
    add_package_nva_conflicts(fresh().await).await;
    same_bytes_other_filename_is_the_stored_package(fresh().await).await;
    add_package_missing_repo(fresh().await).await;
    add_packages_batch(fresh().await).await;
    remove_package(fresh().await).await;
    get_and_list_packages(fresh().await).await;
    update_packages(fresh().await).await;
    index_rows(fresh().await).await;
    placement_ids_only_grow(fresh().await).await;
    publish_compare_and_set(fresh().await).await;
    committed_writes_change_the_epoch(fresh().await).await;
    recent_and_prune_publications(fresh().await).await;
    delete_repo_cascades(fresh().await).await;
    tokens(fresh().await).await;
    signing_keys(fresh().await).await;
    concurrent_publishers(fresh().await).await;
    publish_lease(fresh().await).await;
    concurrent_add_package(fresh().await).await;
    concurrent_signing_key_first_start(fresh().await).await;
    super::images::images_create_get_list(fresh().await).await;
    super::images::images_update(fresh().await).await;
    super::images::images_versions_and_history(fresh().await).await;
    super::images::images_concurrent_overwrites(fresh().await).await;
    super::images::token_groups(fresh().await).await;
}

pub(super) const TAG: &str = "[meta store conformance]";
const T0: Timestamp = Timestamp(1_795_316_688);

fn repo_name(s: &str) -> RepoName {
    RepoName::new(s).unwrap()
}

fn file_name(s: &str) -> FileName {
    FileName::new(s).unwrap()
}

fn place(dist: &str, comp: &str) -> Placement {
    Placement {
        distribution: PlacementName::new(dist).unwrap(),
        component: PlacementName::new(comp).unwrap(),
    }
}

/// A deb package whose content (and so digests) is derived from `content`.
fn deb(filename: &str, name: &str, version: &str, arch: &str, content: &str) -> NewPackage {
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
fn other_content(pkg: &NewPackage, salt: &str) -> NewPackage {
    let mut p = pkg.clone();
    let bytes = format!("{}|{salt}", pkg.filename);
    p.hashes = Hashes::of(bytes.as_bytes());
    p.size = bytes.len() as u64;
    p
}

fn generic_file(filename: &str, content: &str) -> NewPackage {
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

async fn new_repo(s: &Store, name: &str) -> Repo {
    s.create_repo(&repo_name(name), &RepoSettings::default(), T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} create_repo({name}) failed: {e}"))
}

async fn repo_state(s: &Store, name: &str) -> Repo {
    s.get_repo(&repo_name(name))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{TAG} repo {name} vanished"))
}

async fn add(s: &Store, repo: &Repo, pkg: &NewPackage, placements: &[Placement]) -> AddOutcome {
    s.add_package(repo.id, pkg, placements, T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} add_package({}) failed: {e}", pkg.filename))
}

fn assert_package_matches(pkg: &Package, new: &NewPackage, repo: RepoId, placements: &[Placement]) {
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

// ---- repositories ------------------------------------------------------------

async fn backend_name(s: Store) {
    assert!(
        ["sqlite", "postgres"].contains(&s.backend()),
        "{TAG} backend() is sqlite or postgres, got {}",
        s.backend()
    );
}

async fn repositories(s: Store) {
    let settings = RepoSettings {
        description: "Ünïcode description\nwith a newline".into(),
        public: false,
        architectures: vec!["riscv64".into()],
        ..RepoSettings::default()
    };
    let r = s
        .create_repo(&repo_name("alpha"), &settings, T0)
        .await
        .unwrap();
    assert_eq!(r.name.as_str(), "alpha");
    assert_eq!(r.settings, settings, "{TAG} settings round-trip");
    assert_eq!(r.revision, Revision(0), "{TAG} a new repo is at revision 0");
    assert_eq!(r.removal_gen, 0);
    assert_eq!(r.created_at, T0);
    assert_eq!(
        s.get_repo(&repo_name("alpha")).await.unwrap(),
        Some(r.clone()),
        "{TAG} get_repo returns what create_repo returned"
    );
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        None,
        "{TAG} a new repo has no publication"
    );

    match s
        .create_repo(&repo_name("alpha"), &RepoSettings::default(), T0)
        .await
    {
        Err(MetaError::AlreadyExists(_)) => {}
        other => panic!("{TAG} creating a taken repo name must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        s.get_repo(&repo_name("alpha"))
            .await
            .unwrap()
            .unwrap()
            .settings,
        settings,
        "{TAG} a failed create changes nothing"
    );

    for n in ["beta", "Zulu", "a-1", "B", "alpha.2"] {
        new_repo(&s, n).await;
    }
    let names: Vec<String> = s
        .list_repos()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["B", "Zulu", "a-1", "alpha", "alpha.2", "beta"],
        "{TAG} list_repos is ordered by name, bytewise"
    );
    assert_eq!(s.get_repo(&repo_name("gamma")).await.unwrap(), None);

    let old_beta = repo_state(&s, "beta").await.id;
    assert!(
        s.delete_repo(&repo_name("beta")).await.unwrap(),
        "{TAG} delete_repo of an existing repo is true"
    );
    assert!(
        !s.delete_repo(&repo_name("beta")).await.unwrap(),
        "{TAG} delete_repo of a missing repo is false"
    );
    assert_eq!(s.get_repo(&repo_name("beta")).await.unwrap(), None);
    assert_eq!(s.list_repos().await.unwrap().len(), 5);
    // The name is free again, under a new id.
    let again = new_repo(&s, "beta").await;
    assert_ne!(again.id, old_beta, "{TAG} a re-created repo gets a new id");
    assert_eq!(again.revision, Revision(0));
}

async fn repo_settings(s: Store) {
    let r = new_repo(&s, "r").await;
    let changed = RepoSettings {
        description: "new".into(),
        architectures: vec!["amd64".into(), "arm64".into(), "i386".into()],
        ..RepoSettings::default()
    };
    s.update_repo_settings(r.id, &changed).await.unwrap();
    let now = repo_state(&s, "r").await;
    assert_eq!(
        now.settings, changed,
        "{TAG} update_repo_settings stores the settings"
    );
    assert_eq!(
        (now.revision, now.removal_gen),
        (Revision(1), 1),
        "{TAG} changed settings bump revision and removal generation"
    );
    s.update_repo_settings(r.id, &changed).await.unwrap();
    let same = repo_state(&s, "r").await;
    assert_eq!(
        (same.revision, same.removal_gen),
        (Revision(1), 1),
        "{TAG} identical settings change nothing"
    );
    match s
        .update_repo_settings(RepoId(r.id.0 + 1000), &changed)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => {
            panic!("{TAG} update_repo_settings of a missing repo must be NotFound, got {other:?}")
        }
    }
}

// ---- add_package ---------------------------------------------------------------

async fn add_package_new_and_idempotent(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "v1");
    let places = [
        place("stable", "main"),
        place("bookworm", "main"),
        place("stable", "main"),
    ];
    let out = add(&s, &r, &pkg, &places).await;
    assert!(
        out.created && out.changed,
        "{TAG} a new file is created and changes the repo"
    );
    assert_eq!(
        out.revision,
        Revision(1),
        "{TAG} the revision is bumped by one"
    );
    assert_package_matches(&out.package, &pkg, r.id, &places);
    assert_eq!(out.package.created_at, T0);
    assert_eq!(repo_state(&s, "r").await.revision, Revision(1));

    // Same file again, same placements: nothing changes.
    let again = add(&s, &r, &pkg, &places[..2]).await;
    assert!(
        !again.created && !again.changed,
        "{TAG} an identical re-upload changes nothing"
    );
    assert_eq!(again.revision, Revision(1), "{TAG} and keeps the revision");
    assert_eq!(
        again.package, out.package,
        "{TAG} and returns the stored package"
    );

    // Same file, one more placement: only the placement is added.
    let more = add(&s, &r, &pkg, &[place("trixie", "contrib")]).await;
    assert!(
        !more.created && more.changed,
        "{TAG} a re-upload into a new placement changes the repo"
    );
    assert_eq!(more.revision, Revision(2));
    assert_eq!(
        more.package.id, out.package.id,
        "{TAG} no new package for a re-upload"
    );
    assert_package_matches(
        &more.package,
        &pkg,
        r.id,
        &[
            place("stable", "main"),
            place("bookworm", "main"),
            place("trixie", "contrib"),
        ],
    );
    assert_eq!(
        s.get_package(r.id, &pkg.filename).await.unwrap(),
        Some(more.package.clone()),
        "{TAG} get_package returns the package with all its placements"
    );

    // No placements at all (a generic artifact that is only downloadable).
    let bare = generic_file("disk.img", "x");
    let out = add(&s, &r, &bare, &[]).await;
    assert!(out.created && out.changed);
    assert_eq!(out.revision, Revision(3));
    assert!(out.package.placements.is_empty());
    assert_eq!(
        repo_state(&s, "r").await.removal_gen,
        0,
        "{TAG} adding never bumps removal_gen"
    );
}

async fn add_package_filename_conflict(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "v1");
    let stored = add(&s, &r, &pkg, &[place("stable", "main")]).await.package;
    let evil = other_content(&pkg, "tampered");
    match s
        .add_package(
            r.id,
            &evil,
            &[place("stable", "main"), place("other", "main")],
            T0,
        )
        .await
    {
        Err(MetaError::Conflict(msg)) => assert!(!msg.is_empty()),
        other => panic!("{TAG} same file name with other content must be Conflict, got {other:?}"),
    }
    assert_eq!(
        s.get_package(r.id, &pkg.filename).await.unwrap(),
        Some(stored),
        "{TAG} a conflicting upload changes nothing"
    );
    assert_eq!(
        repo_state(&s, "r").await.revision,
        Revision(1),
        "{TAG} no revision bump on conflict"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "{TAG} no placement added by a conflicting upload"
    );

    // The same name in another repo is independent.
    let r2 = new_repo(&s, "r2").await;
    assert!(
        add(&s, &r2, &evil, &[place("stable", "main")])
            .await
            .created
    );
}

/// `add_packages`: every item as `add_package` would, in order; a refused
/// item changes nothing and the others still land.
async fn add_packages_batch(s: Store) {
    let r = new_repo(&s, "r").await;
    let first = deb("a_1_amd64.deb", "a", "1", "amd64", "a");
    add(&s, &r, &first, &[place("stable", "main")]).await;
    let items = vec![
        (
            deb("b_1_amd64.deb", "b", "1", "amd64", "b"),
            vec![place("stable", "main")],
        ),
        // Same file name, other content: refused alone.
        (other_content(&first, "evil"), vec![place("stable", "main")]),
        // Identical re-upload, new placement: changes something.
        (first.clone(), vec![place("testing", "main")]),
        (
            deb("c_1_amd64.deb", "c", "1", "amd64", "c"),
            vec![place("stable", "main")],
        ),
        // Clashes with c, added one item earlier in the same batch.
        (
            deb("c-copy.deb", "c", "1", "amd64", "other c"),
            vec![place("stable", "main")],
        ),
    ];
    let out = s
        .add_packages(r.id, &items, T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} add_packages failed as a whole: {e}"));
    assert_eq!(out.len(), items.len(), "{TAG} one result per item");
    let b = out[0].as_ref().expect("b is added");
    assert!(b.created && b.changed);
    assert!(
        matches!(out[1], Err(MetaError::Conflict(_))),
        "{TAG} got {:?}",
        out[1]
    );
    let again = out[2].as_ref().expect("identical re-upload is accepted");
    assert!(!again.created && again.changed, "{TAG} new placement only");
    assert!(out[3].as_ref().is_ok_and(|o| o.created));
    assert!(
        matches!(out[4], Err(MetaError::Conflict(_))),
        "{TAG} got {:?}",
        out[4]
    );
    // Three changes on top of revision 1, in item order.
    assert_eq!(out[3].as_ref().unwrap().revision, Revision(4));
    assert_eq!(repo_state(&s, "r").await.revision, Revision(4));
    let names: Vec<String> = s
        .list_packages(r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.filename.to_string())
        .collect();
    assert_eq!(
        names,
        ["a_1_amd64.deb", "b_1_amd64.deb", "c_1_amd64.deb"],
        "{TAG} refused items change nothing"
    );
    assert_eq!(
        s.get_package(r.id, &first.filename)
            .await
            .unwrap()
            .unwrap()
            .hashes,
        first.hashes,
        "{TAG} the conflicting item did not overwrite"
    );
    // A batch for a missing repo fails as add_package does, per item.
    s.delete_repo(&repo_name("r")).await.unwrap();
    let gone = s.add_packages(r.id, &items[..1], T0).await;
    assert!(
        matches!(&gone, Ok(v) if matches!(v[0], Err(MetaError::NotFound(_))))
            || matches!(gone, Err(MetaError::NotFound(_))),
        "{TAG} missing repo: got {gone:?}"
    );
}

async fn add_package_nva_conflicts(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "build 1");
    add(&s, &r, &a, &[place("stable", "main")]).await;

    // Same name/version/arch, other content, other file name, into a
    // placement that has it: conflict, and nothing of the call is written
    // (not even its other, harmless placement).
    let rebuilt = deb(
        "hello_1.0_amd64.rebuilt.deb",
        "hello",
        "1.0",
        "amd64",
        "build 2",
    );
    match s
        .add_package(
            r.id,
            &rebuilt,
            &[place("testing", "main"), place("stable", "main")],
            T0,
        )
        .await
    {
        Err(MetaError::Conflict(_)) => {}
        other => panic!(
            "{TAG} same name/version/arch with other content in one placement must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &rebuilt.filename).await.unwrap(),
        None,
        "{TAG} nothing written"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(1));
    assert_eq!(
        s.index_rows(r.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .len(),
        1
    );

    // A re-upload of an existing file into a placement where a different
    // build of it lives is a conflict too.
    add(&s, &r, &rebuilt, &[place("testing", "main")]).await;
    match s
        .add_package(r.id, &a, &[place("testing", "main")], T0)
        .await
    {
        Err(MetaError::Conflict(_)) => {}
        other => panic!(
            "{TAG} placing a file where another build of it is must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &a.filename)
            .await
            .unwrap()
            .unwrap()
            .placements,
        vec![place("stable", "main")],
        "{TAG} the conflicting placement was not added"
    );

    // Fine: disjoint placements, another arch, another version, another
    // component of the same distribution.
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.0_arm64.deb", "hello", "1.0", "arm64", "b"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.1_amd64.deb", "hello", "1.1", "amd64", "c"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.0_amd64.x.deb", "hello", "1.0", "amd64", "d"),
            &[place("stable", "contrib")]
        )
        .await
        .created
    );

    // The same content under another file name is not "other content":
    // it is the stored package (see same_bytes_other_filename_*).
    let copy = NewPackage {
        filename: file_name("hello_1.0_amd64.copy.deb"),
        ..a.clone()
    };
    let same = add(&s, &r, &copy, &[place("stable", "main")]).await;
    assert!(
        !same.created && same.package.filename == a.filename,
        "{TAG} same name/version/arch with the same content is not a conflict"
    );

    // Generic files have no name/version/arch identity.
    let f1 = generic_file("one.bin", "1");
    let f2 = generic_file("two.bin", "2");
    add(&s, &r, &f1, &[place("stable", "main")]).await;
    assert!(
        add(&s, &r, &f2, &[place("stable", "main")]).await.created,
        "{TAG} File packages never conflict by name/version/arch"
    );
}

/// Regression (issue 11): one .deb uploaded as `hello_1.0_amd64.deb`, then
/// the identical bytes as `hello-copy.deb` into the same placement, was
/// stored twice and listed twice in `Packages` (the stanzas differing only
/// in `Filename:`). The same bytes with the same format, name, version and
/// arch are the stored package whatever the upload is called: no new row,
/// no placement, no revision bump, the stored package returned. Checked for
/// every indexed format, alone and in a batch; other content under either
/// name stays a conflict; a `File` (served by its name) is not deduplicated.
async fn same_bytes_other_filename_is_the_stored_package(s: Store) {
    let r = new_repo(&s, "r").await;
    let formats = [
        (Format::Deb, "hello_1.0_amd64.deb", "amd64"),
        (Format::Rpm, "hello-1.0-1.x86_64.rpm", "x86_64"),
        (Format::Pacman, "hello-1.0-1-x86_64.pkg.tar.zst", "x86_64"),
        (Format::Apk, "hello-1.0-r0.apk", "x86_64"),
        (Format::Freebsd, "hello-1.0.pkg", "FreeBSD:14:amd64"),
    ];
    for (format, filename, arch) in formats {
        let tag = format!(
            "{TAG} the same bytes under another file name add nothing and return the stored package ({}):",
            format.as_str()
        );
        let first = NewPackage {
            format,
            ..deb(filename, "hello", "1.0", arch, format.as_str())
        };
        let stored = add(&s, &r, &first, &[place("stable", "main")])
            .await
            .package;
        let before = repo_state(&s, "r").await;
        let listed = s.list_packages(r.id).await.unwrap();
        let rows = s.index_rows(r.id, format, PlacementId(0)).await.unwrap();

        let copy = NewPackage {
            filename: file_name(&format!("hello-copy.{}", format.as_str())),
            ..first.clone()
        };
        let again = add(&s, &r, &copy, &[place("stable", "main")]).await;
        assert!(
            !again.created && !again.changed,
            "{tag} created {}, changed {}",
            again.created,
            again.changed
        );
        assert_eq!(again.package, stored, "{tag} the stored package");
        assert_eq!(again.revision, before.revision, "{tag} no revision bump");
        let batch = s
            .add_packages(r.id, &[(copy.clone(), vec![place("stable", "main")])], T0)
            .await
            .unwrap_or_else(|e| panic!("{tag} add_packages failed as a whole: {e}"));
        match &batch[..] {
            [Ok(o)] => assert!(
                !o.created && !o.changed && o.package == stored,
                "{tag} add_packages: {o:?}"
            ),
            other => panic!("{tag} add_packages: {other:?}"),
        }
        assert_eq!(
            repo_state(&s, "r").await,
            before,
            "{tag} the repo is unchanged"
        );
        assert_eq!(
            s.list_packages(r.id).await.unwrap(),
            listed,
            "{tag} no package row"
        );
        assert_eq!(
            s.index_rows(r.id, format, PlacementId(0)).await.unwrap(),
            rows,
            "{tag} no placement"
        );
        assert_eq!(
            s.get_package(r.id, &copy.filename).await.unwrap(),
            None,
            "{tag} nothing is stored under the copy's name"
        );

        // Other content under either name is still a conflict.
        for evil in [other_content(&first, "x"), other_content(&copy, "x")] {
            match s
                .add_package(r.id, &evil, &[place("stable", "main")], T0)
                .await
            {
                Err(MetaError::Conflict(_)) => {}
                other => panic!(
                    "{tag} {} with other content must be Conflict, got {other:?}",
                    evil.filename
                ),
            }
        }
        assert_eq!(
            repo_state(&s, "r").await,
            before,
            "{tag} refusals change nothing"
        );

        // Into another placement, the copy is a re-upload of the stored
        // package: the placement is added to it, under its stored name.
        let placed = add(&s, &r, &copy, &[place("testing", "main")]).await;
        assert!(
            !placed.created && placed.changed,
            "{tag} a new placement for the stored package"
        );
        assert_eq!(placed.package.filename, first.filename, "{tag} stored name");
        assert_eq!(
            placed.package.placements,
            [place("stable", "main"), place("testing", "main")],
            "{tag} placements of the stored package"
        );
        assert_eq!(
            s.list_packages(r.id).await.unwrap().len(),
            listed.len(),
            "{tag} still no package row"
        );
    }

    // A generic file is served by its name: the same bytes under two names
    // are two files.
    let one = generic_file("one.bin", "same");
    let two = NewPackage {
        filename: file_name("two.bin"),
        ..one.clone()
    };
    add(&s, &r, &one, &[place("stable", "main")]).await;
    assert!(
        add(&s, &r, &two, &[place("stable", "main")]).await.created,
        "{TAG} a File under another name is another file, even with the same bytes"
    );
}

async fn add_package_missing_repo(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("a_1_all.deb", "a", "1", "all", "x");
    match s
        .add_package(RepoId(r.id.0 + 1000), &pkg, &[place("stable", "main")], T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} add_package to a missing repo must be NotFound, got {other:?}"),
    }
    s.delete_repo(&r.name).await.unwrap();
    match s
        .add_package(r.id, &pkg, &[place("stable", "main")], T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} add_package to a deleted repo must be NotFound, got {other:?}"),
    }
}

// ---- remove / get / list / update --------------------------------------------

async fn remove_package(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    let b = deb("b_1_all.deb", "b", "1", "all", "y");
    add(
        &s,
        &r,
        &a,
        &[place("stable", "main"), place("testing", "main")],
    )
    .await;
    add(&s, &r, &b, &[place("stable", "main")]).await;
    assert_eq!(
        s.remove_package(r.id, &a.filename).await.unwrap(),
        Some(Revision(3)),
        "{TAG} remove_package returns the bumped revision"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} removal bumps revision and removal_gen"
    );
    assert_eq!(s.get_package(r.id, &a.filename).await.unwrap(), None);
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        ["b"],
        "{TAG} the removed package's placements are gone"
    );
    assert_eq!(
        s.remove_package(r.id, &a.filename).await.unwrap(),
        None,
        "{TAG} removing a missing file is None"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} and changes nothing"
    );
    // The file name can be used again, for other content.
    assert!(
        add(
            &s,
            &r,
            &other_content(&a, "new"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    match s.remove_package(RepoId(r.id.0 + 1000), &a.filename).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} remove_package in a missing repo must be NotFound, got {other:?}"),
    }
}

async fn get_and_list_packages(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let names = [
        "b_1_all.deb",
        "B_1_all.deb",
        "a_1_all.deb",
        "a_1_all.deb.old",
        "Z.bin",
    ];
    let mut expected = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let pkg = if n.ends_with(".bin") {
            generic_file(n, "z")
        } else {
            deb(n, &format!("p{i}"), "1", "all", "c")
        };
        let places = if i % 2 == 0 {
            vec![place("stable", "main"), place("jammy", "universe")]
        } else {
            vec![place("stable", "main")]
        };
        add(&s, &r, &pkg, &places).await;
        expected.insert(n.to_string(), (pkg, places));
    }
    add(
        &s,
        &other,
        &deb("c_1_all.deb", "c", "1", "all", "c"),
        &[place("stable", "main")],
    )
    .await;

    let list = s.list_packages(r.id).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|p| p.filename.to_string())
            .collect::<Vec<_>>(),
        [
            "B_1_all.deb",
            "Z.bin",
            "a_1_all.deb",
            "a_1_all.deb.old",
            "b_1_all.deb"
        ],
        "{TAG} list_packages is ordered by file name, bytewise, and only this repo's"
    );
    for p in &list {
        let (new, places) = &expected[p.filename.as_str()];
        assert_package_matches(p, new, r.id, places);
        assert_eq!(
            s.get_package(r.id, &p.filename).await.unwrap().as_ref(),
            Some(p),
            "{TAG} get_package agrees with list_packages"
        );
    }
    assert_eq!(
        s.get_package(other.id, &file_name("a_1_all.deb"))
            .await
            .unwrap(),
        None,
        "{TAG} packages are per repo"
    );
    assert_eq!(
        s.get_package(r.id, &file_name("nope.deb")).await.unwrap(),
        None
    );
    assert!(
        s.list_packages(RepoId(r.id.0 + 1000))
            .await
            .unwrap()
            .is_empty()
    );

    // package_page: the same records in id order, two at a time, with the
    // fields as their JSON text and no placements.
    let mut by_id = list.clone();
    by_id.sort_by_key(|p| p.id);
    let mut paged = Vec::new();
    let mut after = PackageId(0);
    loop {
        let page = s.package_page(r.id, after, 2).await.unwrap();
        assert!(
            page.len() <= 2,
            "{TAG} package_page returns at most `limit`"
        );
        let Some(last) = page.last() else { break };
        after = last.id;
        paged.extend(page);
    }
    assert_eq!(
        paged.len(),
        by_id.len(),
        "{TAG} package_page covers every package of the repo once, and no other repo's"
    );
    for (record, p) in paged.into_iter().zip(&by_id) {
        assert_eq!(
            &record.clone().into_package(p.placements.clone()).unwrap(),
            p,
            "{TAG} package_page is list_packages in id order"
        );
        assert_eq!(
            record.fields_json,
            serde_json::to_string(&p.fields).unwrap(),
            "{TAG} fields_json is the stored compact JSON"
        );
    }
    assert!(
        s.package_page(r.id, by_id.last().unwrap().id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        matches!(
            s.package_page(RepoId(r.id.0 + 1000), PackageId(0), 10)
                .await,
            Err(MetaError::NotFound(_))
        ),
        "{TAG} package_page of a missing repo is NotFound"
    );
}

async fn update_packages(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let a = add(
        &s,
        &r,
        &deb("a_1_all.deb", "a", "1", "all", "x"),
        &[place("stable", "main")],
    )
    .await
    .package;
    let b = add(
        &s,
        &r,
        &deb("b_1_all.deb", "b", "1", "all", "y"),
        &[place("stable", "main")],
    )
    .await
    .package;
    let foreign = add(
        &s,
        &other,
        &deb("c_1_all.deb", "c", "1", "all", "z"),
        &[place("stable", "main")],
    )
    .await
    .package;

    let upd = PackageUpdate {
        id: a.id,
        format: Format::Deb,
        name: "a-renamed".into(),
        version: "1:1".into(),
        arch: "amd64".into(),
        index_entry: "Package: a-renamed\nVersion: 1:1".into(),
        fields: serde_json::json!({ "rebuilt": true }),
    };
    let rev = s
        .update_packages(r.id, std::slice::from_ref(&upd))
        .await
        .unwrap();
    assert_eq!(
        rev,
        Revision(3),
        "{TAG} update_packages returns the bumped revision"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} update_packages bumps revision and removal_gen"
    );
    let now = s.get_package(r.id, &a.filename).await.unwrap().unwrap();
    assert_eq!(
        (
            now.name.as_str(),
            now.version.as_str(),
            now.arch.as_str(),
            now.index_entry.as_str()
        ),
        (
            "a-renamed",
            "1:1",
            "amd64",
            "Package: a-renamed\nVersion: 1:1"
        ),
        "{TAG} update_packages replaces the parsed fields"
    );
    assert_eq!(now.fields, upd.fields);
    assert_eq!(
        (now.hashes, now.size, now.placements.clone()),
        (a.hashes.clone(), a.size, a.placements.clone()),
        "{TAG} and nothing else"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows[0].index_entry, upd.index_entry,
        "{TAG} index_rows sees the new entry"
    );

    // An unknown package, or one of another repo, fails the whole call.
    let bad = [
        PackageUpdate {
            id: b.id,
            name: "b2".into(),
            ..upd.clone()
        },
        PackageUpdate {
            id: foreign.id,
            ..upd.clone()
        },
    ];
    match s.update_packages(r.id, &bad).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!(
            "{TAG} update_packages naming another repo's package must be NotFound, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &b.filename)
            .await
            .unwrap()
            .unwrap()
            .name,
        "b",
        "{TAG} a failed update_packages writes nothing"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(3));
    assert_eq!(
        s.get_package(other.id, &foreign.filename)
            .await
            .unwrap()
            .unwrap()
            .name,
        "c"
    );

    // Nothing to update still marks the repo for a full re-render.
    assert_eq!(s.update_packages(r.id, &[]).await.unwrap(), Revision(4));
    match s.update_packages(RepoId(r.id.0 + 1000), &[]).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} update_packages of a missing repo must be NotFound, got {other:?}"),
    }
}

// ---- index rows and placement ids --------------------------------------------

async fn index_rows(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let a = deb("a_1_amd64.deb", "a", "1", "amd64", "x");
    let f = generic_file("notes.txt", "n");
    let b = deb("b_2_all.deb", "b", "2", "all", "y");
    add(
        &s,
        &r,
        &a,
        &[place("stable", "main"), place("bookworm", "main")],
    )
    .await;
    add(&s, &r, &f, &[place("stable", "main")]).await;
    add(
        &s,
        &other,
        &deb("o_1_all.deb", "o", "1", "all", "o"),
        &[place("stable", "main")],
    )
    .await;
    add(&s, &r, &b, &[place("stable", "contrib")]).await;

    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert!(
        rows.windows(2)
            .all(|w| w[0].placement_id < w[1].placement_id),
        "{TAG} index_rows is ordered by placement id"
    );
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|x| {
            (
                x.name.as_str(),
                x.distribution.as_str(),
                x.component.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("a", "bookworm", "main"),
            ("a", "stable", "main"),
            ("b", "stable", "contrib")
        ],
        "{TAG} index_rows: this repo's deb placements, in insertion order (placements of one call in distribution/component order)"
    );
    let a_pkg = s.get_package(r.id, &a.filename).await.unwrap().unwrap();
    let first = &rows[0];
    assert_eq!(first.package_id, a_pkg.id);
    assert_eq!(
        (first.version.as_str(), first.arch.as_str()),
        ("1", "amd64")
    );
    assert_eq!(first.index_entry, a.index_entry);

    let after = s
        .index_rows(r.id, Format::Deb, rows[1].placement_id)
        .await
        .unwrap();
    assert_eq!(
        after,
        rows[2..].to_vec(),
        "{TAG} index_rows after an id returns only later rows"
    );
    assert!(
        s.index_rows(r.id, Format::Deb, rows[2].placement_id)
            .await
            .unwrap()
            .is_empty()
    );

    let files = s
        .index_rows(r.id, Format::File, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "{TAG} index_rows filters by format");
    assert_eq!(
        files[0].package_id,
        s.get_package(r.id, &f.filename).await.unwrap().unwrap().id
    );
    assert!(
        files[0].placement_id > rows[1].placement_id
            && files[0].placement_id < rows[2].placement_id
    );

    // max_placement_id: the repo's newest placement of any format; 0 for a
    // repo without placements; other repos' placements do not count.
    assert_eq!(
        s.max_placement_id(r.id).await.unwrap(),
        rows[2].placement_id,
        "{TAG} max_placement_id is the newest placement of the repo"
    );
    let empty = new_repo(&s, "empty").await;
    assert_eq!(
        s.max_placement_id(empty.id).await.unwrap(),
        PlacementId(0),
        "{TAG} max_placement_id of a repo without placements is 0"
    );
    let o = s
        .index_rows(other.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        s.max_placement_id(other.id).await.unwrap(),
        o[0].placement_id
    );
}

async fn placement_ids_only_grow(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    let b = deb("b_1_all.deb", "b", "1", "all", "y");
    add(&s, &r, &a, &[place("stable", "main")]).await;
    add(
        &s,
        &r,
        &b,
        &[place("stable", "main"), place("testing", "main")],
    )
    .await;
    let before = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    let max_before = before.iter().map(|x| x.placement_id).max().unwrap();

    // Delete the rows holding the highest ids, then add again.
    s.remove_package(r.id, &b.filename).await.unwrap();
    add(&s, &r, &b, &[place("stable", "main")]).await;
    add(
        &s,
        &r,
        &deb("c_1_all.deb", "c", "1", "all", "z"),
        &[place("stable", "main")],
    )
    .await;
    let now = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(now.len(), 3);
    assert_eq!(now[0].placement_id, before[0].placement_id);
    assert!(
        now[1..].iter().all(|x| x.placement_id > max_before),
        "{TAG} placement ids never reuse deleted ids: {now:?} after max {max_before}"
    );

    // Also across deleting the whole repo.
    let max_now = now.iter().map(|x| x.placement_id).max().unwrap();
    s.delete_repo(&r.name).await.unwrap();
    let r = new_repo(&s, "r").await;
    add(&s, &r, &a, &[place("stable", "main")]).await;
    let fresh = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert!(
        fresh[0].placement_id > max_now,
        "{TAG} placement ids grow across repo deletion"
    );
}

// ---- publications -------------------------------------------------------------

fn manifest(tag: &str, parent: Option<PublicationId>) -> Manifest {
    let body = format!("Packages for {tag}\n");
    let mut files = BTreeMap::new();
    files.insert(
        "dists/stable/main/binary-amd64/Packages".to_string(),
        ManifestFile {
            size: body.len() as u64,
            hashes: Hashes::of(body.as_bytes()),
            chunks: vec![Chunk {
                digest: Sha256::of(body.as_bytes()),
                size: body.len() as u64,
                // Persisted hash states must survive the store (issue 5).
                state: Some(depot_core::HashState::of(&{
                    let mut h = depot_core::MultiHasher::new();
                    h.update(body.as_bytes());
                    h
                })),
            }],
        },
    );
    Manifest {
        files,
        state: serde_json::json!({ "tag": tag, "parent": parent.map(|p| p.0) }),
    }
}

/// [`MetaStore::change_epoch`]: each committed write (repo created,
/// package added and removed, publish, settings changed, repo deleted) has
/// moved the epoch by the time it returns; reads leave it. A store without
/// the signal (`None`) must say so every time, or a cache would trust a
/// value it never re-checks.
async fn committed_writes_change_the_epoch(s: Store) {
    let Some(mut seen) = s.change_epoch() else {
        let r = new_repo(&s, "r").await;
        s.publish(r.id, None, Revision(0), &manifest("one", None), T0)
            .await
            .unwrap();
        assert_eq!(s.change_epoch(), None, "{TAG} no signal stays no signal");
        return;
    };
    let mut moved = |s: &Store, what: &str| -> u64 {
        let now = s.change_epoch().expect("the epoch stays readable");
        assert_ne!(
            now, seen,
            "{TAG} {what} changes the epoch before it returns"
        );
        seen = now;
        now
    };
    let r = new_repo(&s, "r").await;
    moved(&s, "create_repo");
    let pkg = deb("a_1_amd64.deb", "a", "1", "amd64", "a1");
    add(&s, &r, &pkg, &[place("stable", "main")]).await;
    moved(&s, "add_package");
    let p1 = s
        .publish(r.id, None, Revision(1), &manifest("one", None), T0)
        .await
        .unwrap();
    let moved_last = moved(&s, "publish");

    s.get_repo(&r.name).await.unwrap();
    s.published_pointer(r.id).await.unwrap();
    s.get_publication(p1).await.unwrap();
    s.get_package(r.id, &pkg.filename).await.unwrap();
    let after_reads = s.change_epoch();
    assert_eq!(after_reads, Some(moved_last), "{TAG} reads leave the epoch");

    s.remove_package(r.id, &pkg.filename).await.unwrap();
    moved(&s, "remove_package");
    s.publish(r.id, Some(p1), Revision(2), &manifest("two", None), T0)
        .await
        .unwrap();
    moved(&s, "a second publish");
    let mut settings = r.settings.clone();
    settings.default_component = PlacementName::new("contrib").unwrap();
    s.update_repo_settings(r.id, &settings).await.unwrap();
    moved(&s, "update_repo_settings");
    assert!(s.delete_repo(&r.name).await.unwrap());
    moved(&s, "delete_repo");
}

async fn publish_compare_and_set(s: Store) {
    let r = new_repo(&s, "r").await;
    let m1 = manifest("one", None);
    let p1 = s.publish(r.id, None, Revision(0), &m1, T0).await.unwrap();
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p1, Revision(0))),
        "{TAG} publish moves the pointer"
    );
    let got = s.get_publication(p1).await.unwrap().unwrap();
    assert_eq!(
        (got.id, got.repo_id, got.revision, got.created_at),
        (p1, r.id, Revision(0), T0),
        "{TAG} the publication row"
    );
    assert_eq!(got.manifest, m1, "{TAG} the manifest round-trips");

    // Expected None, but it was published: conflict carrying the pointer,
    // and nothing written.
    let rid = r.id;
    let count = |s: &Store| {
        let s = s.clone();
        async move {
            s.recent_publications(rid, Timestamp(0), 1000)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(&s).await, 1);
    match s
        .publish(r.id, None, Revision(5), &manifest("lost", None), T0)
        .await
    {
        Err(MetaError::PublishConflict { current }) => {
            assert_eq!(
                current,
                Some((p1, Revision(0))),
                "{TAG} PublishConflict carries the current pointer"
            )
        }
        other => {
            panic!("{TAG} publish with a stale expectation must be PublishConflict, got {other:?}")
        }
    }
    assert_eq!(
        count(&s).await,
        1,
        "{TAG} a failed compare-and-set writes no publication"
    );
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p1, Revision(0)))
    );

    add(
        &s,
        &r,
        &deb("a_1_all.deb", "a", "1", "all", "x"),
        &[place("stable", "main")],
    )
    .await;
    let p2 = s
        .publish(
            r.id,
            Some(p1),
            Revision(1),
            &manifest("two", Some(p1)),
            Timestamp(T0.0 + 1),
        )
        .await
        .unwrap();
    assert!(p2 > p1, "{TAG} publication ids grow");
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p2, Revision(1)))
    );

    for stale in [Some(p1), None, Some(PublicationId(p2.0 + 1000))] {
        match s
            .publish(r.id, stale, Revision(1), &manifest("stale", stale), T0)
            .await
        {
            Err(MetaError::PublishConflict { current }) => {
                assert_eq!(current, Some((p2, Revision(1))))
            }
            other => {
                panic!("{TAG} publish expecting {stale:?} must be PublishConflict, got {other:?}")
            }
        }
    }
    assert_eq!(
        count(&s).await,
        2,
        "{TAG} failed compare-and-sets write nothing"
    );
    // The old publication stays readable.
    assert_eq!(s.get_publication(p1).await.unwrap().unwrap().manifest, m1);
    assert_eq!(
        s.get_publication(PublicationId(p2.0 + 1000)).await.unwrap(),
        None
    );

    // Pointers are per repo.
    let r2 = new_repo(&s, "r2").await;
    assert_eq!(s.published_pointer(r2.id).await.unwrap(), None);
    let q1 = s
        .publish(r2.id, None, Revision(0), &manifest("r2", None), T0)
        .await
        .unwrap();
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p2, Revision(1)))
    );
    assert_eq!(
        s.published_pointer(r2.id).await.unwrap(),
        Some((q1, Revision(0)))
    );
    match s
        .publish(r.id, Some(q1), Revision(1), &manifest("x", None), T0)
        .await
    {
        Err(MetaError::PublishConflict { current }) => assert_eq!(current, Some((p2, Revision(1)))),
        other => panic!("{TAG} another repo's publication is not the expected one, got {other:?}"),
    }

    let missing = RepoId(r2.id.0 + 1000);
    match s
        .publish(missing, None, Revision(0), &manifest("x", None), T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} publish to a missing repo must be NotFound, got {other:?}"),
    }
    match s.published_pointer(missing).await {
        Err(MetaError::NotFound(_)) => {}
        other => {
            panic!("{TAG} published_pointer of a missing repo must be NotFound, got {other:?}")
        }
    }
}

async fn recent_and_prune_publications(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let mut ids = Vec::new();
    let mut expected = None;
    for (i, t) in [100, 200, 300, 400].into_iter().enumerate() {
        let id = s
            .publish(
                r.id,
                expected,
                Revision(i as i64),
                &manifest(&format!("p{i}"), expected),
                Timestamp(t),
            )
            .await
            .unwrap();
        ids.push(id);
        expected = Some(id);
    }
    let op = s
        .publish(
            other.id,
            None,
            Revision(0),
            &manifest("o", None),
            Timestamp(100),
        )
        .await
        .unwrap();
    let rid = r.id;
    let recent = |since: i64| {
        let s = s.clone();
        async move {
            s.recent_publications(rid, Timestamp(since), 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        recent(0).await,
        [ids[3], ids[2], ids[1], ids[0]],
        "{TAG} recent_publications is newest first, this repo only"
    );
    assert_eq!(
        recent(200).await,
        [ids[3], ids[2], ids[1]],
        "{TAG} created at or after `since`"
    );
    assert_eq!(
        recent(1000).await,
        [ids[3]],
        "{TAG} the current publication is always included"
    );
    let full = s
        .recent_publications(r.id, Timestamp(0), 1000)
        .await
        .unwrap();
    assert_eq!(full[0].manifest, manifest("p3", Some(ids[2])));
    let newest_two: Vec<PublicationId> = s
        .recent_publications(r.id, Timestamp(0), 2)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        newest_two,
        [ids[3], ids[2]],
        "{TAG} the limit keeps the newest"
    );

    assert_eq!(
        s.prune_publications(r.id, Timestamp(300)).await.unwrap(),
        2,
        "{TAG} prune deletes the old ones"
    );
    assert_eq!(s.get_publication(ids[0]).await.unwrap(), None);
    assert_eq!(s.get_publication(ids[1]).await.unwrap(), None);
    assert!(s.get_publication(ids[2]).await.unwrap().is_some());
    assert_eq!(
        s.prune_publications(r.id, Timestamp(10_000)).await.unwrap(),
        1,
        "{TAG} prune never deletes the current publication"
    );
    assert_eq!(recent(0).await, [ids[3]]);
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((ids[3], Revision(3)))
    );
    assert!(
        s.get_publication(op).await.unwrap().is_some(),
        "{TAG} prune is per repo"
    );
    assert_eq!(
        s.prune_publications(r.id, Timestamp(10_000)).await.unwrap(),
        0
    );
}

async fn delete_repo_cascades(s: Store) {
    let r = new_repo(&s, "r").await;
    let keep = new_repo(&s, "keep").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    add(&s, &r, &a, &[place("stable", "main")]).await;
    add(&s, &keep, &a, &[place("stable", "main")]).await;
    let p1 = s
        .publish(r.id, None, Revision(1), &manifest("1", None), T0)
        .await
        .unwrap();
    let p2 = s
        .publish(r.id, Some(p1), Revision(1), &manifest("2", Some(p1)), T0)
        .await
        .unwrap();
    let kp = s
        .publish(keep.id, None, Revision(1), &manifest("k", None), T0)
        .await
        .unwrap();

    assert!(s.delete_repo(&r.name).await.unwrap());
    assert_eq!(s.get_repo(&r.name).await.unwrap(), None);
    assert_eq!(
        s.get_package(r.id, &a.filename).await.unwrap(),
        None,
        "{TAG} delete_repo deletes packages"
    );
    assert!(s.list_packages(r.id).await.unwrap().is_empty());
    assert!(
        s.index_rows(r.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .is_empty(),
        "{TAG} and placements"
    );
    assert_eq!(
        s.get_publication(p1).await.unwrap(),
        None,
        "{TAG} and publications"
    );
    assert_eq!(s.get_publication(p2).await.unwrap(), None);
    assert!(
        s.recent_publications(r.id, Timestamp(0), 1000)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        s.get_package(keep.id, &a.filename).await.unwrap().is_some(),
        "{TAG} other repos are untouched"
    );
    assert_eq!(
        s.index_rows(keep.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.published_pointer(keep.id).await.unwrap(),
        Some((kp, Revision(1)))
    );
}

// ---- tokens and keys ------------------------------------------------------------

async fn tokens(s: Store) {
    assert_eq!(s.count_tokens().await.unwrap(), 0);
    let h1 = Sha256::of(b"secret one");
    let h2 = Sha256::of(b"secret two");
    let admin = s
        .create_token("ci", &h1, &TokenScope::Admin, T0)
        .await
        .unwrap();
    assert_eq!(
        (admin.name.as_str(), &admin.scope, admin.created_at),
        ("ci", &TokenScope::Admin, T0)
    );
    let scoped = TokenScope::Repo {
        repo: repo_name("myrepo"),
    };
    let t2 = s
        .create_token("uploader", &h2, &scoped, Timestamp(T0.0 + 5))
        .await
        .unwrap();
    assert_ne!(admin.id, t2.id);
    assert_eq!(
        s.find_token(&h1).await.unwrap(),
        Some(admin.clone()),
        "{TAG} find_token by the secret's hash"
    );
    assert_eq!(
        s.find_token(&h2).await.unwrap(),
        Some(t2.clone()),
        "{TAG} scopes round-trip"
    );
    assert_eq!(s.find_token(&Sha256::of(b"guess")).await.unwrap(), None);
    match s.create_token("dup", &h1, &TokenScope::Admin, T0).await {
        Err(MetaError::AlreadyExists(_)) => {}
        other => {
            panic!("{TAG} a second token with the same secret must be AlreadyExists, got {other:?}")
        }
    }
    // Names are labels, not keys.
    s.create_token("ci", &Sha256::of(b"secret three"), &TokenScope::Admin, T0)
        .await
        .unwrap();
    assert_eq!(s.count_tokens().await.unwrap(), 3);
}

async fn signing_keys(s: Store) {
    assert_eq!(s.get_signing_key("default").await.unwrap(), None);
    let first =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nfirst\n-----END PGP PRIVATE KEY BLOCK-----\n";
    let second =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nsecond\n-----END PGP PRIVATE KEY BLOCK-----\n";
    assert_eq!(
        s.insert_signing_key_if_absent("default", first, T0)
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        s.insert_signing_key_if_absent("default", second, T0)
            .await
            .unwrap(),
        first,
        "{TAG} a second caller gets the first key"
    );
    assert_eq!(
        s.get_signing_key("default").await.unwrap().as_deref(),
        Some(first)
    );
    assert_eq!(
        s.insert_signing_key_if_absent("other", second, T0)
            .await
            .unwrap(),
        second
    );
    assert_eq!(
        s.get_signing_key("other").await.unwrap().as_deref(),
        Some(second)
    );
}

// ---- concurrency -------------------------------------------------------------------

/// 8 publishers loop read-pointer / publish(expected) / retry on conflict.
/// Every successful publish must be a distinct link of one chain from the
/// final pointer back to the first publication: no lost update, no fork.
async fn concurrent_publishers(s: Store) {
    const TASKS: usize = 8;
    const EACH: usize = 5;
    let rid = new_repo(&s, "r").await.id;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut conflicts = 0u32;
            while mine.len() < EACH {
                let expected = s.published_pointer(rid).await.unwrap().map(|(id, _)| id);
                let m = manifest(&format!("t{t}-{}", mine.len()), expected);
                match s.publish(rid, expected, Revision(0), &m, T0).await {
                    Ok(id) => mine.push((id, expected)),
                    Err(MetaError::PublishConflict { current }) => {
                        assert!(
                            current.is_some(),
                            "{TAG} a conflict means someone published"
                        );
                        assert_ne!(
                            current.map(|c| c.0),
                            expected,
                            "{TAG} a conflict reports a moved pointer"
                        );
                        conflicts += 1;
                        assert!(conflicts < 10_000, "{TAG} publishers starve");
                        tokio::task::yield_now().await;
                    }
                    Err(MetaError::Unavailable(e)) => {
                        panic!("{TAG} concurrent publish surfaced Unavailable: {e}")
                    }
                    Err(e) => panic!("{TAG} concurrent publish failed: {e}"),
                }
            }
            mine
        }));
    }
    let mut won: BTreeMap<PublicationId, Option<PublicationId>> = BTreeMap::new();
    for h in handles {
        for (id, parent) in h.await.expect("publisher task panicked") {
            assert!(
                won.insert(id, parent).is_none(),
                "{TAG} publication id {id} handed out twice"
            );
        }
    }
    assert_eq!(won.len(), TASKS * EACH);

    // Walk the chain from the pointer through the recorded parents.
    let (mut cur, _) = s.published_pointer(rid).await.unwrap().unwrap();
    let mut chain = BTreeSet::new();
    loop {
        assert!(chain.insert(cur), "{TAG} the publication chain has a cycle");
        let p = s.get_publication(cur).await.unwrap().unwrap();
        let parent = p.manifest.state["parent"].as_i64().map(PublicationId);
        assert_eq!(
            won.get(&cur),
            Some(&parent),
            "{TAG} each publication's expected pointer is its parent"
        );
        match parent {
            Some(p) => cur = p,
            None => break,
        }
    }
    assert_eq!(
        chain,
        won.keys().copied().collect::<BTreeSet<_>>(),
        "{TAG} every successful publish is one link of a single chain (no lost updates)"
    );
}

/// The publishing lease: granted when free, ended by dropping it, and on a
/// store shared by several processes (PostgreSQL) exclusive per repo: a
/// second holder waits at most its `wait`, then gets `None`, and gets the
/// lease as soon as the first lets go. The lease never stops a publish
/// (it is advisory).
async fn publish_lease(s: Store) {
    use std::time::{Duration, Instant};
    let r1 = new_repo(&s, "r1").await.id;
    let r2 = new_repo(&s, "r2").await.id;
    let first = s
        .lease_publishing(r1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a free lease is granted");
    let exclusive = s.backend() == "postgres";
    assert_eq!(
        first.is_exclusive(),
        exclusive,
        "{TAG} the lease is exclusive on PostgreSQL, unshared on SQLite"
    );
    // Another repo's lease is independent.
    let other = s
        .lease_publishing(r2, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(other.is_some(), "{TAG} leases of two repos are independent");
    drop(other);
    // Held: a publish goes through anyway.
    let m = manifest("under-lease", None);
    s.publish(r1, None, Revision(0), &m, T0)
        .await
        .expect("the lease is advisory: publish ignores it");
    let started = Instant::now();
    let second = s
        .lease_publishing(r1, Duration::from_millis(200))
        .await
        .unwrap();
    if exclusive {
        assert!(second.is_none(), "{TAG} a held lease is not granted twice");
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{TAG} a lease request waits for its `wait` before giving up"
        );
        // A waiter gets it as soon as the holder drops it.
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.lease_publishing(r1, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let released = Instant::now();
        drop(first);
        let got = waiter.await.unwrap().unwrap();
        assert!(got.is_some(), "{TAG} a dropped lease passes to the waiter");
        assert!(
            released.elapsed() < Duration::from_secs(5),
            "{TAG} the waiter got the lease when it was dropped, not at its deadline"
        );
        drop(got);
    } else {
        assert!(
            second.is_some(),
            "{TAG} an unshared lease is always granted"
        );
        drop(first);
    }
    let again = s
        .lease_publishing(r1, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(again.is_some(), "{TAG} a dropped lease is free again");
}

/// 8 tasks add different files at once: all land, each with its own
/// revision. Meanwhile an incremental reader follows `index_rows` with a
/// cursor (as a publisher does) and must miss no row: placement ids become
/// visible in increasing order.
async fn concurrent_add_package(s: Store) {
    const TASKS: usize = 8;
    const EACH: usize = 5;
    let r = new_repo(&s, "r").await;
    let rid = r.id;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let s = s.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = PlacementId(0);
            loop {
                // Read `done` before the rows, so the last pass starts after
                // every writer finished.
                let last_pass = done.load(Ordering::SeqCst);
                let rows = s.index_rows(rid, Format::Deb, cursor).await.unwrap();
                if let Some(last) = rows.last() {
                    cursor = last.placement_id;
                }
                seen.extend(rows.into_iter().map(|r| r.placement_id));
                if last_pass {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..EACH {
                let pkg = deb(
                    &format!("p{t}-{i}_1_all.deb"),
                    &format!("p{t}-{i}"),
                    "1",
                    "all",
                    "c",
                );
                match s
                    .add_package(rid, &pkg, &[place("stable", "main")], T0)
                    .await
                {
                    Ok(out) => {
                        assert!(out.created && out.changed);
                        revs.push(out.revision);
                    }
                    Err(e) => panic!("{TAG} concurrent add_package failed: {e}"),
                }
            }
            revs
        }));
    }
    let mut revs = BTreeSet::new();
    for h in handles {
        for rev in h.await.expect("add_package task panicked") {
            assert!(
                revs.insert(rev),
                "{TAG} revision {rev:?} returned to two writers"
            );
        }
    }
    done.store(true, Ordering::SeqCst);
    let followed = reader.await.expect("reader task panicked");
    let n = (TASKS * EACH) as i64;
    assert_eq!(
        revs,
        (1..=n).map(Revision).collect::<BTreeSet<_>>(),
        "{TAG} concurrent adds get revisions 1..={n}, each once"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(n));
    assert_eq!(
        s.list_packages(r.id).await.unwrap().len(),
        TASKS * EACH,
        "{TAG} every concurrent add landed"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(rows.len(), TASKS * EACH);
    assert_eq!(
        followed,
        rows.iter().map(|r| r.placement_id).collect::<Vec<_>>(),
        "{TAG} a reader following index_rows with a cursor during concurrent adds sees every row once"
    );
}

/// Concurrent first starts agree on one signing key.
async fn concurrent_signing_key_first_start(s: Store) {
    let mut handles = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.insert_signing_key_if_absent("server", &format!("key from starter {t}"), T0)
                .await
                .unwrap_or_else(|e| {
                    panic!("{TAG} concurrent insert_signing_key_if_absent failed: {e}")
                })
        }));
    }
    let mut seen = BTreeSet::new();
    for h in handles {
        seen.insert(h.await.expect("key task panicked"));
    }
    assert_eq!(
        seen.len(),
        1,
        "{TAG} every starter gets the same key: {seen:?}"
    );
    assert_eq!(
        s.get_signing_key("server").await.unwrap(),
        seen.into_iter().next()
    );
}
