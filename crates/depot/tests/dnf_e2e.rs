//! Stock dnf against a running `depot serve`.
//!
//! Two rpms are built by the real `rpmbuild` (one requires the other),
//! uploaded over REST, and installed by the real `dnf` into an empty
//! `--installroot` with `repo_gpgcheck=1`, from the `.repo` file the server
//! hands out. dnf runs with its own config file, repo dir, cache, log and
//! persist dirs, all under a temp dir; the test checks that the machine's own
//! rpm and dnf state is untouched.
//!
//! Needs the Debian packages `rpm` (rpmbuild, rpm) and `dnf`; `.ci/run`
//! installs them.

mod common;

use common::{DepotServer, Run, get_ok, http, run, sha256_hex};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = "rpme2e";
const LIB: &str = "depot-e2e-librpm";
const APP: &str = "depot-e2e-hellorpm";

/// Builds the two fixtures with rpmbuild; returns their paths.
fn build_fixtures(dir: &Path) -> Vec<PathBuf> {
    let specs = [
        format!(
            "Name: {LIB}\nVersion: 1.2\nRelease: 1\nSummary: depot e2e library fixture\n\
             License: MIT\nBuildArch: noarch\n\
             %description\nfixture {LIB} for the dnf end-to-end test\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{LIB}\n\
             echo 'hello from librpm' > %{{buildroot}}/usr/share/{LIB}/greeting.txt\n\
             %files\n/usr/share/{LIB}/greeting.txt\n"
        ),
        format!(
            "Name: {APP}\nEpoch: 1\nVersion: 2.0~rc1\nRelease: 3\nSummary: depot e2e app fixture\n\
             License: MIT\nBuildArch: noarch\nRequires: {LIB} >= 1.2\n\
             %description\nfixture {APP}, needs {LIB}\n\
             %install\nmkdir -p %{{buildroot}}/usr/share/{APP}\n\
             echo 'hello, world' > %{{buildroot}}/usr/share/{APP}/hello.txt\n\
             %files\n/usr/share/{APP}/hello.txt\n"
        ),
    ];
    let top = dir.join("rpmbuild");
    for (i, spec) in specs.iter().enumerate() {
        let path = dir.join(format!("fixture{i}.spec"));
        std::fs::write(&path, spec).unwrap();
        run(Command::new("rpmbuild")
            .arg("-bb")
            .arg("--nodeps")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg("_build_id_links none")
            .arg(&path))
        .ok();
    }
    let noarch = top.join("RPMS/noarch");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&noarch)
        .unwrap_or_else(|e| panic!("rpmbuild wrote no {}: {e}", noarch.display()))
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    assert_eq!(out.len(), 2, "{out:?}");
    out
}

/// A server with repo `rpme2e` holding both fixtures.
struct Served {
    server: DepotServer,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start() -> Served {
        for tool in ["rpmbuild", "rpm", "dnf"] {
            assert!(
                Command::new(tool).arg("--version").output().is_ok(),
                "`{tool}` is not installed: apt-get install rpm dnf"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let rpms = build_fixtures(dir.path());
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
        for rpm in &rpms {
            let name = rpm.file_name().unwrap().to_string_lossy().into_owned();
            let r = http(
                "POST",
                &server.url(&format!("/repos/{REPO}/packages/?filename={name}")),
                &[("Authorization", &auth)],
                &std::fs::read(rpm).unwrap(),
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
        Served { server, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(&format!("/repos/{REPO}{path}"))
    }
}

/// A throw-away dnf: config, repos, cache, logs and the install root all in
/// one temp dir.
struct Dnf {
    dir: tempfile::TempDir,
}

impl Dnf {
    fn new(repo_file: &str) -> Dnf {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["repos.d", "root", "cache", "log", "persist"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        std::fs::write(d.join("repos.d/depot.repo"), repo_file).unwrap();
        std::fs::write(
            d.join("dnf.conf"),
            format!(
                "[main]\nreposdir={}\ncachedir={}\nlogdir={}\npersistdir={}\n\
                 install_weak_deps=0\nkeepcache=0\nplugins=0\nmetadata_expire=0\n",
                d.join("repos.d").display(),
                d.join("cache").display(),
                d.join("log").display(),
                d.join("persist").display(),
            ),
        )
        .unwrap();
        Dnf { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn dnf(&self, args: &[&str]) -> Run {
        let d = self.dir.path();
        run(Command::new("dnf")
            .arg(format!("--config={}", d.join("dnf.conf").display()))
            .arg(format!("--installroot={}", self.root().display()))
            .arg(format!("--setopt=reposdir={}", d.join("repos.d").display()))
            .arg(format!("--setopt=cachedir={}", d.join("cache").display()))
            .arg("--releasever=depot")
            .arg("--noplugins")
            .arg("--assumeyes")
            .args(args))
    }

    /// `name -> version-release` of what rpm says is installed in the root.
    fn installed(&self) -> BTreeMap<String, String> {
        let out = run(Command::new("rpm").arg("--root").arg(self.root()).args([
            "-qa",
            "--qf",
            "%{NAME} %{EPOCH}:%{VERSION}-%{RELEASE}\\n",
        ]));
        out.stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(n, v)| (n.to_string(), v.replace("(none):", "")))
            .collect()
    }
}

/// What the machine's own rpm/dnf state looks like: the test must leave it
/// as it found it.
fn machine_state() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for dir in [
        "/var/lib/rpm",
        "/var/lib/dnf",
        "/var/cache/dnf",
        "/etc/yum.repos.d",
    ] {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        let m = e.metadata().ok();
                        format!(
                            "{}:{}",
                            e.file_name().to_string_lossy(),
                            m.map(|m| m.len()).unwrap_or(0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        out.insert(dir.to_string(), names.join(","));
    }
    out
}

#[test]
fn stock_dnf_installs_dependent_packages_with_repo_gpgcheck() {
    let before = machine_state();
    let served = Served::start();

    let repo_file = String::from_utf8(get_ok(&served.url("/config.repo"))).unwrap();
    assert!(repo_file.contains("repo_gpgcheck=1"), "{repo_file}");
    assert!(
        repo_file.contains(&format!("baseurl={}", served.url(""))),
        "{repo_file}"
    );
    assert!(
        repo_file.contains(&format!("gpgkey={}", served.url("/key.asc"))),
        "{repo_file}"
    );

    let dnf = Dnf::new(&repo_file);
    let inst = dnf.dnf(&["install", APP]);
    assert!(
        inst.success,
        "dnf install failed:\n{}\n--- server log ---\n{}",
        inst.describe(),
        served.server.log()
    );
    println!("{}", inst.describe());
    let installed = dnf.installed();
    assert_eq!(
        installed.get(APP).map(String::as_str),
        Some("1:2.0~rc1-3"),
        "{installed:?}\n{}",
        inst.describe()
    );
    assert_eq!(
        installed.get(LIB).map(String::as_str),
        Some("1.2-1"),
        "{installed:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dnf.root().join(format!("usr/share/{APP}/hello.txt"))).unwrap(),
        "hello, world\n"
    );
    assert_eq!(
        std::fs::read_to_string(dnf.root().join(format!("usr/share/{LIB}/greeting.txt"))).unwrap(),
        "hello from librpm\n"
    );
    assert_eq!(
        machine_state(),
        before,
        "the machine's rpm/dnf state changed"
    );
}

/// The blob file holding exactly `content`.
fn find_blob(data_dir: &Path, content: &[u8]) -> PathBuf {
    let hex = sha256_hex(content);
    let path = data_dir.join("blobs/sha256").join(&hex[..2]).join(&hex);
    assert!(path.is_file(), "no blob {}", path.display());
    path
}

#[test]
fn dnf_refuses_a_tampered_repomd() {
    let mut served = Served::start();
    let repo_file = String::from_utf8(get_ok(&served.url("/config.repo"))).unwrap();

    // Control: the untouched repo is accepted.
    let ok = Dnf::new(&repo_file).dnf(&["makecache"]);
    assert!(ok.success, "control makecache failed:\n{}", ok.describe());

    let repomd = get_ok(&served.url("/repodata/repomd.xml"));
    let text = String::from_utf8(repomd.clone()).unwrap();
    let at = text.find("<revision>").expect("repomd has a revision") + "<revision>".len();
    let mut tampered = repomd.clone();
    tampered[at] = if tampered[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(find_blob(&served.server.data_dir, &repomd), &tampered).unwrap();
    // The server keeps small published files it has served in memory
    // (content-addressed, so it always serves the right bytes); a fresh
    // process reads what is on disk now.
    served.server.restart();
    let repo_file = String::from_utf8(get_ok(&served.url("/config.repo"))).unwrap();
    assert_eq!(get_ok(&served.url("/repodata/repomd.xml")), tampered);

    let dnf = Dnf::new(&repo_file);
    let inst = dnf.dnf(&["install", APP]);
    assert!(
        !inst.success,
        "dnf installed from a repo with a tampered repomd.xml:\n{}",
        inst.describe()
    );
    let all = inst.all();
    println!("{}", inst.describe());
    assert!(
        all.contains("repomd.xml GPG signature verification error"),
        "expected a signature refusal:\n{}",
        inst.describe()
    );
    assert!(dnf.installed().is_empty(), "{:?}", dnf.installed());
}
