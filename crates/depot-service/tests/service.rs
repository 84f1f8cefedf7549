//! The service end to end on the embedded default (SQLite + local blobs),
//! without HTTP: uploads, publishing (incremental and full), removal,
//! rebuild, concurrent writers on one database, by-hash resolution.

use depot_core::{FileName, PlacementName, RepoName, RepoSettings};
use depot_service::{Depot, ServiceConfig, ServiceError, UploadOptions};
use depot_testkit::DebBuilder;
use std::collections::BTreeSet;

fn repo(name: &str) -> RepoName {
    RepoName::new(name).unwrap()
}

async fn open(dir: &std::path::Path) -> Depot {
    Depot::open_data_dir(dir, ServiceConfig::default())
        .await
        .unwrap()
}

async fn upload(depot: &Depot, r: &str, deb: &DebBuilder) -> depot_service::UploadOutcome {
    upload_to(depot, r, deb, None).await
}

async fn upload_to(
    depot: &Depot,
    r: &str,
    deb: &DebBuilder,
    dist: Option<&str>,
) -> depot_service::UploadOutcome {
    let bytes = deb.build();
    let opts = UploadOptions {
        distribution: dist.map(|d| PlacementName::new(d).unwrap()),
        component: None,
    };
    depot
        .upload(
            &repo(r),
            &FileName::new(&deb.file_name()).unwrap(),
            &bytes[..],
            &opts,
        )
        .await
        .unwrap()
}

/// Stages and stores `{prefix}0` … `{prefix}{n-1}` for `r` without
/// recording them (the first half of a bulk import).
async fn prepare_debs(
    depot: &Depot,
    r: &str,
    prefix: &str,
    n: usize,
) -> Vec<depot_service::PreparedUpload> {
    let mut batch = Vec::new();
    for i in 0..n {
        let deb = DebBuilder::new(&format!("{prefix}{i}"), "1", "amd64");
        let name = FileName::new(&deb.file_name()).unwrap();
        batch.push(
            depot
                .prepare_upload(&repo(r), &name, &deb.build()[..], &UploadOptions::default())
                .await
                .unwrap(),
        );
    }
    batch
}

/// A depot with repository `r` and no background `Packages.xz` pass: the
/// test runs it (`complete_indexes`) when it wants it.
async fn open_without_xz_pass(dir: &std::path::Path) -> Depot {
    let depot = Depot::open_data_dir(
        dir,
        ServiceConfig {
            xz_delay: None,
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    depot
}

/// The published `.xz` at `path` of repo `r`, checked against the size and
/// SHA-256 its Release lists, decompressed.
async fn xz_as_listed(depot: &Depot, path: &str, size: u64, sha: &str) -> String {
    let xz = depot
        .published_file(&repo("r"), path, None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        (xz.len() as u64, depot_core::Sha256::of(&xz).hex()),
        (size, sha.to_string()),
        "{path} is not what Release lists"
    );
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut liblzma::read::XzDecoder::new(&xz[..]), &mut plain).unwrap();
    plain
}

async fn text(depot: &Depot, r: &str, path: &str) -> String {
    let d = depot.published_file(&repo(r), path, None).await.unwrap();
    String::from_utf8(d.bytes().await.unwrap()).unwrap()
}

fn package_names(packages: &str) -> Vec<String> {
    packages
        .lines()
        .filter_map(|l| l.strip_prefix("Package: "))
        .map(str::to_string)
        .collect()
}

/// (path, size, sha256) of every entry in the SHA256 section of a Release.
fn sha256_entries(release: &str) -> Vec<(String, u64, String)> {
    let parsed = depot_formats::apt::parse_release(release).unwrap();
    parsed
        .sha256
        .iter()
        .map(|e| (e.path.clone(), e.size, e.hash.clone()))
        .collect()
}

#[tokio::test]
async fn upload_is_visible_in_signed_indexes_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let out = upload(&depot, "r", &DebBuilder::new("hello", "1.0-1", "amd64")).await;
    assert!(out.created);
    assert_eq!(out.package.name, "hello");

    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["hello"]);
    assert!(packages.contains("Filename: packages/hello_1.0-1_amd64.deb\n"));
    // arm64 is a default architecture: its index exists and is empty.
    assert_eq!(
        text(&depot, "r", "dists/stable/main/binary-arm64/Packages").await,
        ""
    );

    // Every file the Release lists is served with that size and digest,
    // also through by-hash.
    let release = text(&depot, "r", "dists/stable/Release").await;
    for (path, size, sha) in sha256_entries(&release) {
        let full = format!("dists/stable/{path}");
        let body = depot
            .published_file(&repo("r"), &full, None)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len() as u64, size, "{path}");
        assert_eq!(depot_core::Sha256::of(&body).hex(), sha, "{path}");
        let dir = full.rsplit_once('/').unwrap().0;
        let by_hash = depot
            .published_file(&repo("r"), &format!("{dir}/by-hash/SHA256/{sha}"), None)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(by_hash, body);
    }

    // InRelease is signed by the repo key and carries the Release text.
    let key = depot.public_key_armored(&repo("r")).await.unwrap();
    let inrelease = text(&depot, "r", "dists/stable/InRelease").await;
    let signed = depot_sign::verify_clearsigned(&key, &inrelease).unwrap();
    assert_eq!(signed.trim_end(), release.trim_end());
    let detached = text(&depot, "r", "dists/stable/Release.gpg").await;
    depot_sign::verify_detached(&key, release.as_bytes(), &detached).unwrap();
}

#[tokio::test]
async fn incremental_publishes_equal_a_full_render() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    for i in 0..40 {
        let arch = ["amd64", "all", "arm64"][i % 3];
        upload(&depot, "r", &DebBuilder::new(&format!("p{i}"), "1.0", arch)).await;
    }
    let mut before = Vec::new();
    for arch in ["amd64", "arm64"] {
        let path = format!("dists/stable/main/binary-{arch}/Packages");
        let gz = depot
            .published_file(&repo("r"), &format!("{path}.gz"), None)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut unzipped = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(&gz[..]),
            &mut unzipped,
        )
        .unwrap();
        let plain = text(&depot, "r", &path).await;
        assert_eq!(unzipped, plain, "{arch}: .gz must decompress to Packages");
        before.push(plain);
    }
    // amd64 index: amd64 + all packages, in upload order.
    let amd64: Vec<String> = (0..40)
        .filter(|i| i % 3 != 2)
        .map(|i| format!("p{i}"))
        .collect();
    assert_eq!(package_names(&before[0]), amd64);

    // A rebuild renders everything from scratch: same Packages bytes.
    let report = depot.rebuild(&repo("r")).await.unwrap();
    assert_eq!(report.packages, 40);
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let after = text(
            &depot,
            "r",
            &format!("dists/stable/main/binary-{arch}/Packages"),
        )
        .await;
        assert_eq!(after, before[i], "{arch}");
    }
}

#[tokio::test]
async fn remove_drops_the_package_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    upload(&depot, "r", &DebBuilder::new("bb", "1", "amd64")).await;
    depot
        .remove(&repo("r"), &FileName::new("aa_1_amd64.deb").unwrap())
        .await
        .unwrap();
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["bb"]);
    let err = depot
        .remove(&repo("r"), &FileName::new("aa_1_amd64.deb").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");
    // Appends after a removal continue correctly.
    upload(&depot, "r", &DebBuilder::new("cc", "1", "amd64")).await;
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["bb", "cc"]);
}

#[tokio::test]
async fn distributions_and_components_are_separate_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload_to(
        &depot,
        "r",
        &DebBuilder::new("aa", "1", "amd64"),
        Some("bookworm"),
    )
    .await;
    upload_to(
        &depot,
        "r",
        &DebBuilder::new("bb", "1", "amd64"),
        Some("trixie"),
    )
    .await;
    let bookworm = text(&depot, "r", "dists/bookworm/main/binary-amd64/Packages").await;
    let trixie = text(&depot, "r", "dists/trixie/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&bookworm), ["aa"]);
    assert_eq!(package_names(&trixie), ["bb"]);
    let release = text(&depot, "r", "dists/trixie/Release").await;
    assert!(release.contains("Suite: trixie\n"));
    assert!(release.contains("Components: main\n"));
    assert!(release.contains("Acquire-By-Hash: yes\n"));
}

/// The bulk path for files on local disk (`depot add`): staged, hashed and
/// parsed in one blocking task. Bad packages, a missing file and a file
/// over the size limit are refused with their own errors and leave nothing
/// behind; a good one is recorded like any upload.
#[tokio::test]
async fn local_files_are_prepared_in_one_step_and_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(
        dir.path(),
        ServiceConfig {
            max_upload_bytes: 64 * 1024,
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    let r = depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let opts = UploadOptions::default();
    let put = |name: &str, bytes: &[u8]| {
        let path = files.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (FileName::new(name).unwrap(), path)
    };
    let blobs_before = count_files(&dir.path().join("blobs"));

    let deb = DebBuilder::new("aa", "1", "amd64").build();
    let (name, path) = put("t_1_amd64.deb", &deb[..deb.len() / 2]);
    let err = depot
        .prepare_upload_file(&r, &name, &path, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::BadPackage(_)), "{err:?}");

    let (name, path) = put("big_1_amd64.deb", &vec![0u8; 64 * 1024 + 1]);
    let err = depot
        .prepare_upload_file(&r, &name, &path, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::TooLarge { .. }), "{err:?}");

    let missing = files.path().join("gone_1_amd64.deb");
    let name = FileName::new("gone_1_amd64.deb").unwrap();
    let err = depot
        .prepare_upload_file(&r, &name, &missing, &opts)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceError::Invalid(m) if m.contains("gone_1_amd64.deb")),
        "{err:?}"
    );
    assert_eq!(count_files(&dir.path().join("blobs")), blobs_before);
    assert_eq!(count_files(&dir.path().join("tmp")), 0, "staged files left");

    let deb = DebBuilder::new("aa", "1", "amd64");
    let (name, path) = put(&deb.file_name(), &deb.build());
    let prepared = depot
        .prepare_upload_file(&r, &name, &path, &opts)
        .await
        .unwrap();
    for out in depot.record_batch(vec![prepared]).await.unwrap() {
        assert!(out.unwrap().created);
    }
    depot.publish(&repo("r")).await.unwrap();
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["aa"]);
    // The caller's file is copied, not moved.
    assert!(path.exists());
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let before = text(&depot, "r", "dists/stable/InRelease").await;

    let opts = UploadOptions::default();
    let name = FileName::new("junk.deb").unwrap();
    let err = depot
        .upload(&repo("r"), &name, &b"not an archive"[..], &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::BadPackage(_)), "{err:?}");

    let deb = DebBuilder::new("aa", "1", "amd64").build();
    let truncated = &deb[..deb.len() / 2];
    let name = FileName::new("t_1_amd64.deb").unwrap();
    let err = depot
        .upload(&repo("r"), &name, truncated, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::BadPackage(_)), "{err:?}");

    // Same name, other content: conflict.
    let other = DebBuilder::new("aa", "1", "amd64")
        .file("usr/share/aa/x", b"different")
        .build();
    let name = FileName::new("aa_1_amd64.deb").unwrap();
    let err = depot
        .upload(&repo("r"), &name, &other[..], &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");

    // Same package/version/arch under another file name, other content: conflict.
    let name = FileName::new("aa-copy.deb").unwrap();
    let err = depot
        .upload(&repo("r"), &name, &other[..], &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Conflict(_)), "{err:?}");

    let small = Depot::open_data_dir(
        dir.path(),
        ServiceConfig {
            max_upload_bytes: 100,
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    let big = DebBuilder::new("big", "1", "amd64").build();
    let err = small
        .upload(
            &repo("r"),
            &FileName::new("big_1_amd64.deb").unwrap(),
            &big[..],
            &opts,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::TooLarge { limit: 100 }),
        "{err:?}"
    );

    let err = depot
        .upload(
            &repo("nope"),
            &FileName::new("x.deb").unwrap(),
            &deb[..],
            &opts,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::NotFound(_)), "{err:?}");

    assert_eq!(text(&depot, "r", "dists/stable/InRelease").await, before);
    let names: Vec<String> = depot
        .list_packages(&repo("r"))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.filename.to_string())
        .collect();
    assert_eq!(names, ["aa_1_amd64.deb"]);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "temp files leaked"
    );
}

#[tokio::test]
async fn identical_reupload_is_idempotent_and_generic_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let deb = DebBuilder::new("aa", "1", "amd64");
    assert!(upload(&depot, "r", &deb).await.created);
    assert!(!upload(&depot, "r", &deb).await.created);

    let name = FileName::new("notes.txt").unwrap();
    let out = depot
        .upload(&repo("r"), &name, &b"hello"[..], &UploadOptions::default())
        .await
        .unwrap();
    assert_eq!(out.package.format, depot_core::Format::File);
    let d = depot.download(&repo("r"), &name, Some(1..3)).await.unwrap();
    assert_eq!((d.size, d.range.clone()), (5, 1..3));
    assert_eq!(d.bytes().await.unwrap(), b"el");
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["aa"]);
}

/// Two `Depot`s on one data directory are two processes (a CLI next to the
/// server, or two nodes): their publishes race through the compare-and-set
/// and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_database_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path()).await;
    let b = open(dir.path()).await;
    assert_eq!(
        a.key_fingerprint(),
        b.key_fingerprint(),
        "both processes must sign with one key"
    );
    a.create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let depot = if w % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                upload(
                    &depot,
                    "r",
                    &DebBuilder::new(&format!("w{w}-p{i}"), "1", "amd64"),
                )
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected: BTreeSet<String> = (0..8)
        .flat_map(|w| (0..10).map(move |i| format!("w{w}-p{i}")))
        .collect();
    for depot in [&a, &b] {
        let packages = text(depot, "r", "dists/stable/main/binary-amd64/Packages").await;
        let names = package_names(&packages);
        assert_eq!(names.len(), 80, "duplicates or losses: {names:?}");
        assert_eq!(names.into_iter().collect::<BTreeSet<_>>(), expected);
    }
    assert_eq!(
        text(&a, "r", "dists/stable/InRelease").await,
        text(&b, "r", "dists/stable/InRelease").await
    );
}

#[tokio::test]
async fn superseded_files_stay_readable_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let old_release = text(&depot, "r", "dists/stable/Release").await;
    let (path, _, sha) = sha256_entries(&old_release)
        .into_iter()
        .find(|(p, _, _)| p == "main/binary-amd64/Packages.gz")
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("bb", "1", "amd64")).await;
    let dir_path = format!("dists/stable/{}", path.rsplit_once('/').unwrap().0);
    let old = depot
        .published_file(
            &repo("r"),
            &format!("{dir_path}/by-hash/SHA256/{sha}"),
            None,
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(depot_core::Sha256::of(&old).hex(), sha);
    let missing = depot
        .published_file(
            &repo("r"),
            &format!("{dir_path}/by-hash/SHA256/{}", "0".repeat(64)),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, ServiceError::NotFound(_)));
}

#[tokio::test]
async fn tokens_are_stored_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    let secret = depot
        .ensure_admin_token()
        .await
        .unwrap()
        .expect("first start creates one");
    assert!(depot.ensure_admin_token().await.unwrap().is_none());
    let rec = depot.authenticate(&secret).await.unwrap().unwrap();
    assert_eq!(rec.scope, depot_core::TokenScope::Admin);
    assert!(depot.authenticate("depot_wrong").await.unwrap().is_none());
    let db = std::fs::read(dir.path().join("depot.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "secret stored in clear"
    );
}

#[tokio::test]
async fn xz_follows_in_a_later_publication() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open_without_xz_pass(dir.path()).await;
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let release = text(&depot, "r", "dists/stable/Release").await;
    assert!(
        !release.contains("Packages.xz"),
        "xz must not delay the upload"
    );

    depot.complete_indexes(&repo("r")).await.unwrap();
    let release = text(&depot, "r", "dists/stable/Release").await;
    let (_, size, sha) = sha256_entries(&release)
        .into_iter()
        .find(|(p, _, _)| p == "main/binary-amd64/Packages.xz")
        .expect("Release lists Packages.xz");
    let plain = xz_as_listed(
        &depot,
        "dists/stable/main/binary-amd64/Packages.xz",
        size,
        &sha,
    )
    .await;
    assert_eq!(
        plain,
        text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await
    );

    // The next upload makes it stale: it is dropped, not served wrong.
    upload(&depot, "r", &DebBuilder::new("bb", "1", "amd64")).await;
    let release = text(&depot, "r", "dists/stable/Release").await;
    assert!(!release.contains("main/binary-amd64/Packages.xz"));
}

/// Regression (P1's "one more" p90 of 5.5 s at 10,000 packages): the
/// background `Packages.xz` pass held the repo's publish lock while it
/// compressed, so an upload arriving then waited seconds for it. It now
/// compresses unlocked and commits only if nothing was published meanwhile:
/// an upload racing it is published either way, and a pass that lost the
/// race leaves no stale `.xz` behind.
#[tokio::test]
async fn uploads_racing_the_xz_pass_are_published_and_never_get_a_stale_xz() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open_without_xz_pass(dir.path()).await;
    // Enough packages that compressing takes much longer than an upload.
    let batch = prepare_debs(&depot, "r", "base", 1000).await;
    for out in depot.record_batch(batch).await.unwrap() {
        out.unwrap();
    }
    depot.publish(&repo("r")).await.unwrap();
    let mut upload_first = 0;
    for round in 0..6 {
        let xz = {
            let depot = depot.clone();
            tokio::spawn(async move { depot.complete_indexes(&repo("r")).await })
        };
        // Let the pass start before the upload in most rounds.
        tokio::time::sleep(std::time::Duration::from_millis(5 * round)).await;
        let name = format!("racer{round}");
        upload(&depot, "r", &DebBuilder::new(&name, "1", "amd64")).await;
        // Behind the lock, the upload could only return after the pass.
        if !xz.is_finished() {
            upload_first += 1;
        }
        // The upload is published as soon as it returns, xz pass or not.
        let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
        assert!(
            package_names(&packages).contains(&name),
            "{name} not published"
        );
        xz.await.unwrap().unwrap();
        let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
        assert!(package_names(&packages).contains(&name), "{name} lost");
        let release = text(&depot, "r", "dists/stable/Release").await;
        let entries = sha256_entries(&release);
        let listed = |p: &str| entries.iter().find(|(path, _, _)| path == p).cloned();
        let (_, size, sha) = listed("main/binary-amd64/Packages").expect("Packages listed");
        assert_eq!(
            (
                packages.len() as u64,
                depot_core::Sha256::of(packages.as_bytes()).hex()
            ),
            (size, sha)
        );
        if let Some((path, size, sha)) = listed("main/binary-amd64/Packages.xz") {
            let plain = xz_as_listed(&depot, &format!("dists/stable/{path}"), size, &sha).await;
            assert_eq!(plain, packages, "a stale Packages.xz was published");
        }
    }
    // Compressing ~0.6 MB takes far longer than one upload, so while the
    // pass does not block uploads, most rounds see the upload return first.
    assert!(
        upload_first > 0,
        "every upload waited for the xz pass to finish"
    );
}

#[tokio::test]
async fn listing_orders_versions_by_dpkg_rules() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    // Upload order and byte order both disagree with dpkg order.
    for v in [
        "1.0-1",
        "1.0~rc1-1",
        "1:0.9-1",
        "1.0-1+b1",
        "1.10-1",
        "1.9-1",
    ] {
        upload(&depot, "r", &DebBuilder::new("hello", v, "amd64")).await;
    }
    let versions: Vec<String> = depot
        .list_packages(&repo("r"))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.version)
        .collect();
    assert_eq!(
        versions,
        [
            "1:0.9-1",
            "1.10-1",
            "1.9-1",
            "1.0-1+b1",
            "1.0-1",
            "1.0~rc1-1"
        ]
    );
}

/// A process that recorded an upload and died before publishing it leaves
/// the index behind the package table; the next start catches up.
#[tokio::test]
async fn pending_changes_are_published_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    let r = depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    // Record a package the way an upload does, but "crash" before publishing.
    let bytes = DebBuilder::new("bb", "1", "amd64").build();
    let info = depot_formats::deb::inspect(&bytes[..], &Default::default()).unwrap();
    let hashes = depot_core::Hashes::of(&bytes);
    let entry = depot_formats::deb::index_entry(
        &info,
        "packages/bb_1_amd64.deb",
        bytes.len() as u64,
        &hashes,
    );
    depot
        .blobs()
        .put_bytes(&hashes.sha256, bytes.clone().into())
        .await
        .unwrap();
    let new = depot_core::NewPackage {
        filename: FileName::new("bb_1_amd64.deb").unwrap(),
        size: bytes.len() as u64,
        hashes,
        format: depot_core::Format::Deb,
        name: info.name.clone(),
        version: info.version.clone(),
        arch: info.arch.clone(),
        index_entry: entry,
        fields: depot_formats::deb::fields_json(&info),
    };
    let placement = depot_core::Placement {
        distribution: PlacementName::new("stable").unwrap(),
        component: PlacementName::new("main").unwrap(),
    };
    depot
        .meta()
        .add_package(r.id, &new, &[placement], depot_core::Timestamp::now())
        .await
        .unwrap();
    drop(depot);

    let restarted = open(dir.path()).await;
    let before = text(&restarted, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&before), ["aa"]);
    assert_eq!(restarted.publish_pending().await.unwrap(), 1);
    let after = text(&restarted, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&after), ["aa", "bb"]);
    assert_eq!(restarted.publish_pending().await.unwrap(), 0);
}

#[tokio::test]
async fn a_new_repo_publishes_an_empty_signed_default_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    assert_eq!(
        text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await,
        ""
    );
    let key = depot.public_key_armored(&repo("r")).await.unwrap();
    let release =
        depot_sign::verify_clearsigned(&key, &text(&depot, "r", "dists/stable/InRelease").await)
            .unwrap();
    assert!(release.contains("Components: main\n"), "{release}");
    // The first upload renders on top of it.
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["aa"]);
}

#[tokio::test]
async fn data_directory_layout() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let out = upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let hex = out.package.hashes.sha256.hex();
    let blob = dir.path().join("blobs/sha256").join(&hex[..2]).join(&hex);
    assert!(blob.is_file(), "{} missing", blob.display());
    assert!(dir.path().join("depot.db").is_file());
    assert!(dir.path().join("tmp").is_dir());
}

/// A bulk import records every file, then publishes once.
#[tokio::test]
async fn bulk_import_publishes_once_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let before = text(&depot, "r", "dists/stable/InRelease").await;
    let batch = prepare_debs(&depot, "r", "bulk", 5).await;
    for out in depot.record_batch(batch).await.unwrap() {
        assert!(out.unwrap().created);
    }
    // Recorded, not published yet: readers still see the previous index.
    assert_eq!(text(&depot, "r", "dists/stable/InRelease").await, before);
    assert_eq!(depot.list_packages(&repo("r")).await.unwrap().len(), 5);
    depot.publish(&repo("r")).await.unwrap();
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(
        package_names(&packages),
        ["bulk0", "bulk1", "bulk2", "bulk3", "bulk4"]
    );
}

#[tokio::test]
async fn batches_record_in_one_transaction_and_refuse_items_alone() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&depot, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    let mut batch = Vec::new();
    for deb in [
        DebBuilder::new("bb", "1", "amd64"),
        // Same name as the stored aa_1_amd64.deb, other content.
        DebBuilder::new("aa", "1", "amd64").file("usr/share/aa/x", b"other"),
        DebBuilder::new("cc", "1", "amd64"),
    ] {
        let name = FileName::new(&deb.file_name()).unwrap();
        let prepared = depot
            .prepare_upload(
                &repo("r"),
                &name,
                &deb.build()[..],
                &UploadOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(prepared.filename(), &name);
        batch.push(prepared);
    }
    let results = depot.record_batch(batch).await.unwrap();
    assert!(results[0].as_ref().is_ok_and(|o| o.created));
    assert!(
        matches!(results[1], Err(ServiceError::Conflict(_))),
        "{:?}",
        results[1]
    );
    assert!(results[2].as_ref().is_ok_and(|o| o.created));
    depot.publish(&repo("r")).await.unwrap();
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    assert_eq!(package_names(&packages), ["aa", "bb", "cc"]);
}

/// The CLI publishes without Packages.xz; the server that serves the repo
/// adds it in the background once it is asked for a Release.
#[tokio::test]
async fn a_serving_process_completes_what_the_cli_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Depot::open_data_dir(
        dir.path(),
        ServiceConfig {
            xz_delay: None,
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    cli.create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    upload(&cli, "r", &DebBuilder::new("aa", "1", "amd64")).await;
    drop(cli);
    let server = Depot::open_data_dir(
        dir.path(),
        ServiceConfig {
            xz_delay: Some(std::time::Duration::from_millis(50)),
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    assert!(
        !text(&server, "r", "dists/stable/Release")
            .await
            .contains("Packages.xz")
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if text(&server, "r", "dists/stable/Release")
            .await
            .contains("main/binary-amd64/Packages.xz")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Packages.xz never appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Concurrent single uploads are recorded in shared transactions (group
/// commit): each still gets its own outcome, a conflicting one is refused
/// alone (409) while the uploads batched with it land, and every accepted
/// one is listed when its call returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_commit_together_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    depot
        .create_repo(&repo("r"), RepoSettings::default())
        .await
        .unwrap();
    let first = DebBuilder::new("clash", "1", "amd64");
    upload(&depot, "r", &first).await;
    // Same file name, other content: a conflict, whichever batch it lands in.
    let clash = DebBuilder::new("clash", "1", "amd64").field("Description", "other bytes");
    assert_eq!(first.file_name(), clash.file_name());
    let mut tasks = Vec::new();
    for i in 0..24 {
        let depot = depot.clone();
        let deb = if i == 11 {
            clash.clone()
        } else {
            DebBuilder::new(&format!("g{i}"), "1", "amd64")
        };
        tasks.push(tokio::spawn(async move {
            let bytes = deb.build();
            let result = depot
                .upload(
                    &repo("r"),
                    &FileName::new(&deb.file_name()).unwrap(),
                    &bytes[..],
                    &UploadOptions::default(),
                )
                .await;
            if result.is_ok() {
                // Read-your-writes holds for every member of a batch.
                let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
                assert!(
                    package_names(&packages).contains(&format!("g{i}")),
                    "g{i} acknowledged but not listed"
                );
            }
            (i, result)
        }));
    }
    for t in tasks {
        let (i, result) = t.await.unwrap();
        if i == 11 {
            assert!(
                matches!(result, Err(ServiceError::Conflict(_))),
                "the clashing upload is refused: {result:?}"
            );
        } else {
            assert!(result.unwrap().created, "g{i} is new");
        }
    }
    let packages = text(&depot, "r", "dists/stable/main/binary-amd64/Packages").await;
    let mut names = package_names(&packages);
    names.sort();
    let mut expected: Vec<String> = (0..24)
        .filter(|i| *i != 11)
        .map(|i| format!("g{i}"))
        .chain(["clash".to_string()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

/// A rebuild reads the records a page at a time, re-reads blobs that are
/// local files in place and others (here: the in-memory store) through a
/// staged copy. On both, over several pages, it restores the records that
/// no longer match their files (as an older depot that rendered them
/// differently would have left them) and renders the same index again.
#[tokio::test]
async fn rebuild_in_pages_restores_stale_records_on_local_and_remote_blobs() {
    use depot_core::PackageId;
    use depot_core::meta::PackageUpdate;
    for remote in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = ServiceConfig {
            rebuild_page: 3,
            xz_delay: None,
            tmp_dir: dir.path().join("tmp"),
            ..ServiceConfig::default()
        };
        let depot = if remote {
            let url = format!("sqlite://{}", dir.path().join("depot.db").display());
            let meta = depot_store::SqlMetaStore::connect(&url).await.unwrap();
            let blobs = depot_store::ObjectBlobStore::memory();
            Depot::open(
                std::sync::Arc::new(meta),
                std::sync::Arc::new(blobs),
                config,
            )
            .await
            .unwrap()
        } else {
            Depot::open_data_dir(dir.path(), config).await.unwrap()
        };
        assert_eq!(
            depot
                .blobs()
                .local_path(&depot_core::Sha256([0; 32]))
                .is_none(),
            remote
        );
        let r = depot
            .create_repo(&repo("r"), RepoSettings::default())
            .await
            .unwrap();
        for i in 0..10 {
            upload(
                &depot,
                "r",
                &DebBuilder::new(&format!("p{i}"), "1", "amd64"),
            )
            .await;
        }
        let path = "dists/stable/main/binary-amd64/Packages";
        let before = text(&depot, "r", path).await;
        let stored = depot
            .meta()
            .package_page(r.id, PackageId(0), 100)
            .await
            .unwrap();
        assert_eq!(stored.len(), 10);

        let stale: Vec<PackageUpdate> = [1, 7]
            .iter()
            .map(|&i| PackageUpdate {
                id: stored[i].id,
                format: stored[i].format,
                name: stored[i].name.clone(),
                version: stored[i].version.clone(),
                arch: stored[i].arch.clone(),
                index_entry: format!("Package: stale{i}\nVersion: 0\n"),
                fields: serde_json::json!({ "stale": i }),
            })
            .collect();
        depot.meta().update_packages(r.id, &stale).await.unwrap();
        depot.publish(&repo("r")).await.unwrap();
        let with_stale = text(&depot, "r", path).await;
        assert!(with_stale.contains("Package: stale7\n"), "remote={remote}");

        let report = depot.rebuild(&repo("r")).await.unwrap();
        assert_eq!(report.packages, 10, "remote={remote}");
        assert_eq!(text(&depot, "r", path).await, before, "remote={remote}");
        let restored = depot
            .meta()
            .package_page(r.id, PackageId(0), 100)
            .await
            .unwrap();
        assert_eq!(
            restored, stored,
            "remote={remote}: every record as first stored"
        );
    }
}

/// A download answers with its format's content type (from the format
/// registry): dpkg's and rpm's registered types for those, an octet stream
/// for the rest, generic files included.
#[tokio::test]
async fn downloads_carry_the_content_type_of_their_format() {
    let dir = tempfile::tempdir().unwrap();
    let depot = Depot::open_data_dir(
        dir.path(),
        ServiceConfig {
            rsa_key_bits: 2048,
            xz_delay: None,
            ..ServiceConfig::default()
        },
    )
    .await
    .unwrap();
    depot
        .create_repo(&repo("all"), RepoSettings::default())
        .await
        .unwrap();
    let deb = DebBuilder::new("hello", "1.0", "amd64");
    let rpm = depot_testkit::RpmBuilder::new("hello", "1.0", "1", "x86_64");
    let pacman = depot_testkit::PacmanBuilder::new("hello", "1.0-1", "x86_64");
    let apk = depot_testkit::ApkBuilder::new("hello", "1.0-r0", "x86_64");
    let pkg = depot_testkit::FreebsdBuilder::new("hello", "1.0", "FreeBSD:14:amd64");
    let files = [
        (
            deb.file_name(),
            deb.build(),
            "application/vnd.debian.binary-package",
        ),
        (rpm.file_name(), rpm.build(), "application/x-rpm"),
        (
            pacman.file_name(),
            pacman.build(),
            "application/octet-stream",
        ),
        (apk.file_name(), apk.build(), "application/octet-stream"),
        (pkg.file_name(), pkg.build(), "application/octet-stream"),
        (
            "notes.txt".to_string(),
            b"hello".to_vec(),
            "application/octet-stream",
        ),
    ];
    for (name, bytes, _) in &files {
        let name = FileName::new(name).unwrap();
        depot
            .upload(&repo("all"), &name, &bytes[..], &UploadOptions::default())
            .await
            .unwrap();
    }
    let formats: BTreeSet<depot_core::Format> = depot
        .list_packages(&repo("all"))
        .await
        .unwrap()
        .iter()
        .map(|p| p.format)
        .collect();
    assert_eq!(formats.len(), 6, "one package of each format: {formats:?}");
    for (name, bytes, content_type) in &files {
        let d = depot
            .download(&repo("all"), &FileName::new(name).unwrap(), None)
            .await
            .unwrap();
        assert_eq!(d.content_type, *content_type, "{name}");
        assert_eq!(d.bytes().await.unwrap(), *bytes, "{name}");
    }
}
