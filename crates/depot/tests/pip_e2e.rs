//! Stock pip against a running `depot serve`.
//!
//! Two wheels are built in code (`depot_testkit::WheelBuilder`), one
//! depending on the other, plus an sdist of the library, uploaded over
//! REST. This machine's `python3 -m venv` makes a throw-away virtual
//! environment (with the pip Python bundles; no network), whose pip
//! installs the app and its dependency with `--index-url` pointing at the
//! repo's simple index, then again from a requirements file with
//! `--hash=sha256:` for each file under `--require-hashes`. pip 23 asks
//! for the PEP 691 JSON form first and fetches the PEP 658 `.metadata`
//! file of each wheel when the index advertises it; its log shows both.
//! pip runs `--isolated` (no configuration files, no environment
//! options) and never touches the machine's pip or site-packages.
//!
//! Needs `python3` with the `venv` and `ensurepip` modules (Debian:
//! `python3-venv`).

mod common;

use common::{DepotServer, Run, get, http, run, sha256_hex};
use depot_testkit::{SdistBuilder, WheelBuilder};
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = "pipe2e";

fn lib() -> WheelBuilder {
    WheelBuilder::new("depot-e2e.lib", "1.2.0").requires_python(">=3.7")
}

fn app() -> WheelBuilder {
    WheelBuilder::new("depot_e2e_app", "0.1")
        .requires_dist("depot-e2e-lib (>=1.0)")
        .file(
            "depot_e2e_app/__init__.py",
            b"import depot_e2e_lib\nLIB = depot_e2e_lib.VERSION\n",
        )
}

fn sdist() -> SdistBuilder {
    SdistBuilder::new("depot-e2e.lib", "1.1.0")
}

struct Served {
    server: DepotServer,
}

impl Served {
    fn start() -> Served {
        let server = DepotServer::start();
        let auth = format!("Bearer {}", server.admin_token());
        let r = http(
            "POST",
            &server.url(&format!("/repos/{REPO}/")),
            &[("Authorization", &auth)],
            b"",
        )
        .expect("create repo");
        assert!(r.status == 201 || r.status == 200, "{}", r.text());
        let uploads = [
            (lib().file_name(), lib().build()),
            (app().file_name(), app().build()),
            (sdist().file_name(), sdist().build()),
        ];
        for (name, bytes) in uploads {
            let r = http(
                "POST",
                &server.url(&format!("/repos/{REPO}/packages/?filename={name}")),
                &[("Authorization", &auth)],
                &bytes,
            )
            .expect("upload");
            assert_eq!(
                r.status,
                201,
                "upload {name}: {}\n{}",
                r.text(),
                server.log()
            );
        }
        Served { server }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/repos/{REPO}{path}"))
    }

    fn index(&self) -> String {
        self.url("/pypi/simple/")
    }
}

fn venv(dir: &Path) -> PathBuf {
    assert!(
        Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "python3 with venv and ensurepip is needed: apt-get install python3-venv"
    );
    let venv = dir.join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).ok();
    venv
}

fn pip(venv: &Path, args: &[&str]) -> Run {
    run(Command::new(venv.join("bin/pip"))
        .args([
            "--isolated",
            "--disable-pip-version-check",
            "--no-cache-dir",
        ])
        .args(args)
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS"))
}

fn python(venv: &Path, code: &str) -> Run {
    run(Command::new(venv.join("bin/python")).args(["-c", code]))
}

#[test]
fn the_index_answers_html_or_json_as_asked_and_serves_metadata_files() {
    let s = Served::start();
    let html = get(&s.index());
    assert_eq!(html.status, 200, "{}", html.text());
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        html.text()
            .contains("<a href=\"depot-e2e-app/\">depot-e2e-app</a>"),
        "{}",
        html.text()
    );

    let json = http(
        "GET",
        &s.url("/pypi/simple/Depot_E2E.Lib/"),
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
        b"",
    )
    .unwrap();
    assert_eq!(json.status, 200, "{}", json.text());
    assert_eq!(
        json.header("content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(doc["name"], "depot-e2e-lib");
    assert_eq!(doc["versions"], serde_json::json!(["1.1.0", "1.2.0"]));
    let wheel = &doc["files"][1];
    assert_eq!(wheel["filename"], lib().file_name());
    assert_eq!(wheel["hashes"]["sha256"], sha256_hex(&lib().build()));
    assert_eq!(wheel["requires-python"], ">=3.7");

    // The .metadata file is the wheel's METADATA, byte for byte, and has
    // the advertised hash.
    let meta = get(&s.url(&format!("/pypi/files/{}.metadata", lib().file_name())));
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body, lib().metadata());
    assert_eq!(wheel["core-metadata"]["sha256"], sha256_hex(&meta.body));

    let file = get(&s.url(&format!("/pypi/files/{}", lib().file_name())));
    assert_eq!(file.status, 200);
    assert_eq!(file.body, lib().build());

    let conf = get(&s.url("/pypi/pip.conf"));
    assert_eq!(conf.status, 200);
    assert!(
        conf.text().contains(&format!("index-url = {}", s.index())),
        "{}",
        conf.text()
    );

    assert_eq!(get(&s.url("/pypi/simple/no-such-project/")).status, 404);
    assert_eq!(
        get(&s.url("/pypi/files/no-such-1.0-py3-none-any.whl")).status,
        404
    );
}

#[test]
fn pip_installs_a_package_and_its_dependency_with_index_url_and_require_hashes() {
    let s = Served::start();
    let tmp = tempfile::tempdir().unwrap();
    let venv = venv(tmp.path());

    let install = pip(
        &venv,
        &["install", "-vv", "--index-url", &s.index(), "depot-e2e-app"],
    )
    .ok();
    let log = install.all();
    assert!(
        log.contains("Successfully installed depot-e2e-app-0.1 depot-e2e-lib-1.2.0"),
        "{log}"
    );
    // pip read the JSON form and fetched the dependency's metadata from
    // its PEP 658 file, not from the wheel.
    let page = s.url("/pypi/simple/depot-e2e-app/");
    assert!(
        log.contains(&format!(
            "Fetched page {page} as application/vnd.pypi.simple.v1+json"
        )),
        "{log}"
    );
    let metadata_url = s.url(&format!("/pypi/files/{}.metadata", lib().file_name()));
    assert!(
        log.contains(&format!(
            "Obtaining dependency information for depot-e2e-lib>=1.0 from {metadata_url}"
        )),
        "pip did not use the .metadata file:\n{log}"
    );
    let out = python(&venv, "import depot_e2e_app; print(depot_e2e_app.LIB)").ok();
    assert_eq!(out.stdout, "1.2.0\n");

    // Again with every file's hash pinned: pip checks each download
    // against it (and against the index's).
    pip(
        &venv,
        &["uninstall", "-y", "depot-e2e-app", "depot-e2e-lib"],
    )
    .ok();
    let requirements = tmp.path().join("requirements.txt");
    let pinned = |app_hash: &str| {
        format!(
            "depot-e2e-app==0.1 --hash=sha256:{app_hash}\n\
             depot-e2e-lib==1.2.0 --hash=sha256:{}\n",
            sha256_hex(&lib().build())
        )
    };
    std::fs::write(&requirements, pinned(&sha256_hex(&app().build()))).unwrap();
    let req = requirements.to_str().unwrap();
    let install = pip(
        &venv,
        &[
            "install",
            "--require-hashes",
            "--index-url",
            &s.index(),
            "-r",
            req,
        ],
    )
    .ok();
    assert!(
        install
            .all()
            .contains("Successfully installed depot-e2e-app-0.1 depot-e2e-lib-1.2.0"),
        "{}",
        install.describe()
    );
    python(&venv, "import depot_e2e_app").ok();

    // A wrong pin is refused, so the hashes above were really checked.
    pip(
        &venv,
        &["uninstall", "-y", "depot-e2e-app", "depot-e2e-lib"],
    )
    .ok();
    std::fs::write(&requirements, pinned(&"0".repeat(64))).unwrap();
    let refused = pip(
        &venv,
        &[
            "install",
            "--require-hashes",
            "--index-url",
            &s.index(),
            "-r",
            req,
        ],
    );
    assert!(!refused.success, "{}", refused.describe());
    assert!(
        refused
            .all()
            .contains("THESE PACKAGES DO NOT MATCH THE HASHES"),
        "{}",
        refused.describe()
    );
}
