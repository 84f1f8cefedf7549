//! pacman publishing through the service (SQLite + local blobs, no HTTP):
//! databases after uploads one at a time (the incremental path) equal a
//! full render of the same packages; every database and package signature
//! verifies with gpgv; `any` packages are in every architecture; one entry
//! per name, the newest by vercmp; databases by placement; packager
//! signatures uploaded with or after their package; and bad packages are
//! refused without changing anything.

use depot_core::{FileName, PlacementName, RepoName, RepoSettings};
use depot_service::{Depot, ServiceConfig, ServiceError, UploadOptions};
use depot_testkit::{PacmanBuilder, TarMember, pacman_bomb};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

fn repo(name: &str) -> RepoName {
    RepoName::new(name).unwrap()
}

async fn open(dir: &Path) -> Depot {
    open_with(dir, ServiceConfig::default()).await
}

async fn open_with(dir: &Path, config: ServiceConfig) -> Depot {
    Depot::open_data_dir(dir, config).await.unwrap()
}

async fn upload_bytes(
    depot: &Depot,
    r: &str,
    name: &str,
    bytes: &[u8],
    dist: Option<&str>,
) -> Result<depot_service::UploadOutcome, ServiceError> {
    let opts = UploadOptions {
        distribution: dist.map(|d| PlacementName::new(d).unwrap()),
        component: None,
    };
    depot
        .upload(&repo(r), &FileName::new(name).unwrap(), bytes, &opts)
        .await
}

async fn upload(depot: &Depot, r: &str, p: &PacmanBuilder, dist: Option<&str>) {
    upload_bytes(depot, r, &p.file_name(), &p.build(), dist)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", p.file_name()));
}

async fn fetch(depot: &Depot, r: &str, path: &str) -> Vec<u8> {
    depot
        .published_file(&repo(r), path, None)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .bytes()
        .await
        .unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// `{dir}/{desc,files}` -> content of a database tar.
fn entries(tar: &[u8]) -> BTreeMap<String, String> {
    depot_formats::pacman::db::files(tar)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect()
}

/// The package directories a database lists, sorted.
fn listed(tar: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = entries(tar)
        .keys()
        .filter_map(|k| k.strip_suffix("/desc").map(str::to_string))
        .collect();
    v.sort();
    v
}

/// The database `{db}` of `arch`, checked: `.db` and `.db.tar.gz` are the
/// same bytes, which decompress to `.db.tar`, and the signature verifies
/// with gpgv; likewise `.files`. Returns (db tar, files tar).
async fn database(depot: &Depot, r: &str, arch: &str, db: &str) -> (Vec<u8>, Vec<u8>) {
    let mut out = Vec::new();
    for kind in ["db", "files"] {
        let base = format!("pacman/{arch}/{db}.{kind}");
        let gz = fetch(depot, r, &base).await;
        assert_eq!(fetch(depot, r, &format!("{base}.tar.gz")).await, gz);
        let sig = fetch(depot, r, &format!("{base}.sig")).await;
        assert_eq!(fetch(depot, r, &format!("{base}.tar.gz.sig")).await, sig);
        gpgv(depot, r, &gz, &sig, &base).await;
        let plain = gunzip(&gz);
        assert_eq!(fetch(depot, r, &format!("{base}.tar")).await, plain);
        out.push(plain);
    }
    let files = out.pop().unwrap();
    (out.pop().unwrap(), files)
}

/// gpgv with the repo key as keyring accepts `sig` over `data`.
async fn gpgv(depot: &Depot, _r: &str, data: &[u8], sig: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let secret = depot
        .meta()
        .get_signing_key("server")
        .await
        .unwrap()
        .expect("server key");
    let key = depot_sign::PgpKey::from_armored_secret(&secret).unwrap();
    let keyring = dir.path().join("key.gpg");
    std::fs::write(
        &keyring,
        depot_core::sign::PgpSigner::public_key_binary(&key),
    )
    .unwrap();
    std::fs::write(dir.path().join("data"), data).unwrap();
    std::fs::write(dir.path().join("data.sig"), sig).unwrap();
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(&keyring)
        .arg(dir.path().join("data.sig"))
        .arg(dir.path().join("data"))
        .env("GNUPGHOME", dir.path())
        .output()
        .expect("gpgv (Debian package gpgv)");
    assert!(
        out.status.success(),
        "gpgv refused {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pkg(name: &str, version: &str, arch: &str) -> PacmanBuilder {
    PacmanBuilder::new(name, version, arch).file(
        &format!("usr/share/{name}/README"),
        format!("{name} {version}\n").as_bytes(),
    )
}

async fn create(depot: &Depot, r: &str) {
    depot
        .create_repo(&repo(r), RepoSettings::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn incremental_databases_equal_a_full_render() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    create(&depot, "arch").await;
    // An empty repository publishes its (empty, signed) database.
    let (db, files) = database(&depot, "arch", "x86_64", "arch").await;
    assert!(listed(&db).is_empty() && listed(&files).is_empty());

    let pkgs: Vec<PacmanBuilder> = (0..12)
        .map(|i| {
            pkg(
                &format!("p{i}"),
                "1.0-1",
                if i % 3 == 0 { "any" } else { "x86_64" },
            )
            .depends("glibc")
        })
        .collect();
    for p in &pkgs {
        upload(&depot, "arch", p, None).await;
    }
    let (db, files) = database(&depot, "arch", "x86_64", "arch").await;
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..12).map(|i| format!("p{i}-1.0-1")).collect();
        v.sort();
        v
    };
    assert_eq!(listed(&db), want);
    assert_eq!(listed(&files), want);
    let e = entries(&files);
    assert_eq!(
        e["p1-1.0-1/files"],
        "%FILES%\nusr/\nusr/share/\nusr/share/p1/\nusr/share/p1/README\n"
    );
    assert_eq!(e["p1-1.0-1/desc"], entries(&db)["p1-1.0-1/desc"]);
    assert!(e["p1-1.0-1/desc"].contains("%PGPSIG%\n"));

    // The appends made a database of several chunks.
    let (id, _) = depot
        .meta()
        .published_pointer(depot.repo(&repo("arch")).await.unwrap().id)
        .await
        .unwrap()
        .unwrap();
    let publication = depot.meta().get_publication(id).await.unwrap().unwrap();
    assert!(
        publication.manifest.files["pacman/x86_64/arch.db"]
            .chunks
            .len()
            > 2,
        "{:?}",
        publication.manifest.files["pacman/x86_64/arch.db"]
    );

    // A rebuild renders everything afresh: the same tars, byte for byte.
    depot.rebuild(&repo("arch")).await.unwrap();
    let (db2, files2) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(db2, db);
    assert_eq!(files2, files);

    // A fresh process (no name cache) appends on top, and still agrees.
    drop(depot);
    let depot = open(dir.path()).await;
    upload(&depot, "arch", &pkg("late", "2-1", "x86_64"), None).await;
    let (db3, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(&db3[..db.len() - 1024], &db[..db.len() - 1024]);
    depot.rebuild(&repo("arch")).await.unwrap();
    let (db4, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(db4, db3);
}

#[tokio::test]
async fn architectures_versions_and_placements() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    create(&depot, "arch").await;
    upload(&depot, "arch", &pkg("tool", "1.0-1", "any"), None).await;
    upload(&depot, "arch", &pkg("native", "1.0-1", "aarch64"), None).await;
    // `any` is in both architectures, `aarch64` only in its own.
    let (x86, _) = database(&depot, "arch", "x86_64", "arch").await;
    let (arm, _) = database(&depot, "arch", "aarch64", "arch").await;
    assert_eq!(listed(&x86), ["tool-1.0-1"]);
    assert_eq!(listed(&arm), ["native-1.0-1", "tool-1.0-1"]);

    // Newest by vercmp, whatever the upload order.
    upload(&depot, "arch", &pkg("tool", "1:0.5-1", "any"), None).await;
    upload(&depot, "arch", &pkg("tool", "1.5-1", "any"), None).await;
    let (x86, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(listed(&x86), ["tool-1:0.5-1"]);
    let (arm, _) = database(&depot, "arch", "aarch64", "arch").await;
    assert_eq!(listed(&arm), ["native-1.0-1", "tool-1:0.5-1"]);

    // Other placements: their own databases, published for every arch.
    upload(
        &depot,
        "arch",
        &pkg("beta", "1.0-1", "x86_64"),
        Some("testing"),
    )
    .await;
    let (testing, _) = database(&depot, "arch", "x86_64", "testing").await;
    assert_eq!(listed(&testing), ["beta-1.0-1"]);
    let (testing_arm, _) = database(&depot, "arch", "aarch64", "testing").await;
    assert!(listed(&testing_arm).is_empty());
    let (x86, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(listed(&x86), ["tool-1:0.5-1"]);

    // Packages and their signatures are served beside each database.
    let name = FileName::new("native-1.0-1-aarch64.pkg.tar.zst").unwrap();
    let body = depot
        .published_file(&repo("arch"), &format!("pacman/aarch64/{name}"), None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, pkg("native", "1.0-1", "aarch64").build());
    let sig = depot
        .published_file(
            &repo("arch"),
            "pacman/aarch64/native-1.0-1-aarch64.pkg.tar.zst.sig",
            None,
        )
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    gpgv(&depot, "arch", &body, &sig, "the package signature").await;
    let desc = &entries(&arm)["native-1.0-1/desc"];
    let b64 = desc
        .split("%PGPSIG%\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(
        depot_formats::pacman::base64_decode(b64).as_deref(),
        Some(&sig[..])
    );

    // Removing the newest version brings the next one back.
    depot
        .remove(
            &repo("arch"),
            &FileName::new("tool-1:0.5-1-any.pkg.tar.zst").unwrap(),
        )
        .await
        .unwrap();
    let (x86, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(listed(&x86), ["tool-1.5-1"]);
}

/// A signature `gpg --detach-sign` would make, from a throw-away key.
fn packager_sign(data: &[u8]) -> Vec<u8> {
    let key = depot_sign::PgpKey::generate(
        depot_sign::KeyAlgorithm::Ed25519,
        "Packager <packager@example.org>",
    )
    .unwrap();
    depot_core::sign::PgpSigner::sign_detached_binary(&key, data).unwrap()
}

#[tokio::test]
async fn packager_signatures_with_or_after_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let depot = open(dir.path()).await;
    create(&depot, "arch").await;
    let r = repo("arch");

    // After: replaces the repository's signature.
    let a = pkg("alpha", "1.0-1", "x86_64");
    upload(&depot, "arch", &a, None).await;
    let bytes = a.build();
    let sig = packager_sign(&bytes);
    let sig_name = format!("{}.sig", a.file_name());
    let out = upload_bytes(&depot, "arch", &sig_name, &sig, None)
        .await
        .unwrap();
    assert!(out.created);
    assert_eq!(out.package.fields["signature_by"], "packager");
    let served = depot
        .published_file(&r, &format!("pacman/x86_64/{sig_name}"), None)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served, sig);
    let (db, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert!(entries(&db)["alpha-1.0-1/desc"].contains(&format!(
        "%PGPSIG%\n{}\n",
        depot_formats::pacman::base64_encode(&sig)
    )));
    // The same again: nothing changes; another one: conflict.
    let again = upload_bytes(&depot, "arch", &sig_name, &sig, None)
        .await
        .unwrap();
    assert!(!again.created);
    let other = packager_sign(&bytes);
    let e = upload_bytes(&depot, "arch", &sig_name, &other, None)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e:?}");
    // A rebuild keeps it (it is not in the package file).
    depot.rebuild(&r).await.unwrap();
    let (db2, _) = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(db2, db);

    // With: both in one batch, the signature first.
    let b = pkg("beta", "1.0-1", "x86_64");
    let b_bytes = b.build();
    let b_sig = packager_sign(&b_bytes);
    let opts = UploadOptions::default();
    let batch = vec![
        depot
            .prepare_upload(
                &r,
                &FileName::new(&format!("{}.sig", b.file_name())).unwrap(),
                &b_sig[..],
                &opts,
            )
            .await
            .unwrap(),
        depot
            .prepare_upload(
                &r,
                &FileName::new(&b.file_name()).unwrap(),
                &b_bytes[..],
                &opts,
            )
            .await
            .unwrap(),
    ];
    for res in depot.record_batch(batch).await.unwrap() {
        res.unwrap();
    }
    depot.publish(&r).await.unwrap();
    let p = depot
        .package(&r, &FileName::new(&b.file_name()).unwrap())
        .await
        .unwrap();
    assert_eq!(p.fields["signature_by"], "packager");

    // Refused: no such package, a signature of other data, armored, too big.
    let before = database(&depot, "arch", "x86_64", "arch").await;
    for (name, body, want) in [
        ("ghost-1-1-any.pkg.tar.zst.sig", sig.clone(), "not found"),
        (&sig_name[..], packager_sign(b"other"), "already has"),
        (
            &format!("{}.sig", pkg("gamma", "1-1", "any").file_name())[..],
            sig.clone(),
            "not found",
        ),
    ] {
        let e = upload_bytes(&depot, "arch", name, &body, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(want), "{name}: {e}");
    }
    let c = pkg("gamma", "1-1", "any");
    upload(&depot, "arch", &c, None).await;
    let c_sig = format!("{}.sig", c.file_name());
    let e = upload_bytes(&depot, "arch", &c_sig, &packager_sign(b"other data"), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not made over this file"), "{e}");
    let e = upload_bytes(
        &depot,
        "arch",
        &c_sig,
        b"-----BEGIN PGP SIGNATURE-----\n\nxx\n-----END PGP SIGNATURE-----\n",
        None,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("ASCII-armored"), "{e}");
    let e = upload_bytes(&depot, "arch", &c_sig, &vec![0x88; 20_000], None)
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::TooLarge { .. }), "{e:?}");
    let after = database(&depot, "arch", "x86_64", "arch").await;
    assert_eq!(listed(&after.0).len(), listed(&before.0).len() + 1);
}

/// What a client can observe: the package list and the default database.
async fn observable(depot: &Depot, r: &str) -> (Vec<String>, Vec<u8>) {
    let list = depot
        .list_packages(&repo(r))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.filename.to_string())
        .collect();
    (
        list,
        fetch(depot, r, &format!("pacman/x86_64/{r}.db.tar")).await,
    )
}

#[tokio::test]
async fn bad_packages_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        formats: depot_formats::FormatRegistry::default().with(depot_formats::pacman::Pacman::new(
            depot_formats::pacman::Limits {
                max_unpacked: 32 << 20,
                ..Default::default()
            },
        )),
        ..ServiceConfig::default()
    };
    let depot = open_with(dir.path(), config).await;
    create(&depot, "arch").await;
    let good = pkg("good", "1.0-1", "x86_64");
    let good_name = good.file_name();
    upload(&depot, "arch", &good, None).await;
    let before = observable(&depot, "arch").await;

    let whole = pkg("cut", "1.0-1", "x86_64").build();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut-1.0-1-x86_64.pkg.tar.zst",
            whole[..whole.len() / 2].to_vec(),
            "ends early",
        ),
        (
            "html-1.0-1-x86_64.pkg.tar.zst",
            b"<html>404</html>".to_vec(),
            "not a pacman package",
        ),
        (
            "nameless-1.0-1-any.pkg.tar.zst",
            PacmanBuilder::new("x", "1.0-1", "any")
                .raw_pkginfo(b"pkgver = 1.0-1\narch = any\n")
                .build(),
            "no pkgname",
        ),
        (
            "bomb-1.0-1-any.pkg.tar.zst",
            pacman_bomb(64 << 20),
            "unpacks to more than 32 MiB",
        ),
        (
            "evil-1.0-1-any.pkg.tar.zst",
            pkg("evil", "1.0-1", "any")
                .member(TarMember::File("../../etc/cron.d/evil", b"x"))
                .build(),
            "'..' component",
        ),
        (
            "bad-1.0-1-any.pkg.tar.zst",
            PacmanBuilder::new("Bad/Name", "1.0-1", "any").build(),
            "not a valid pacman package name",
        ),
        (
            "spaced name-1.0-1-any.pkg.tar.zst",
            pkg("ok", "1.0-1", "any").build(),
            "may only contain",
        ),
        (
            // Same file name, other content.
            &good_name,
            pkg("good", "1.0-1", "x86_64").desc("changed").build(),
            "already stored with other content",
        ),
        (
            // Same name, version and arch in the same database, other file.
            "good-renamed.pkg.tar.zst",
            pkg("good", "1.0-1", "x86_64").desc("changed").build(),
            "already in",
        ),
    ];
    for (name, bytes, want) in cases {
        let e = upload_bytes(&depot, "arch", name, &bytes, None)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{name}: want {want:?}, got {e}"
        );
        let status_ok = match want {
            "already stored with other content" | "already in" => {
                matches!(e, ServiceError::Conflict(_))
            }
            "may only contain" => matches!(e, ServiceError::Invalid(_)),
            _ => matches!(e, ServiceError::BadPackage(_)),
        };
        assert!(status_ok, "{name}: {e:?}");
        assert_eq!(
            observable(&depot, "arch").await,
            before,
            "{name} changed something"
        );
    }
}
