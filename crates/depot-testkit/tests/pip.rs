//! The wheels WheelBuilder writes are checked by the real pip: this
//! machine's `python3 -m venv` makes a throw-away virtual environment in a
//! temporary directory (with the pip that Python bundles, no network), and
//! its pip installs a wheel and its dependency from a directory, then
//! Python imports both. The machine's own pip and site-packages are never
//! touched (`--isolated` ignores pip's configuration files and
//! environment). Skipped (with a note on stderr) where `python3` has no
//! `venv` module.

use depot_testkit::WheelBuilder;
use std::path::Path;
use std::process::{Command, Output};

fn have_venv() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 with venv and ensurepip not available: skipping");
    }
    ok
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn venv(dir: &Path) -> std::path::PathBuf {
    let venv = dir.join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    venv
}

fn pip(venv: &Path) -> Command {
    let mut c = Command::new(venv.join("bin/pip"));
    c.args([
        "--isolated",
        "--disable-pip-version-check",
        "--no-cache-dir",
    ])
    .env_remove("PIP_INDEX_URL")
    .env_remove("PIP_EXTRA_INDEX_URL")
    .env_remove("PIP_FIND_LINKS");
    c
}

#[test]
fn pip_installs_a_wheel_and_its_dependency_from_a_directory() {
    if !have_venv() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");
    std::fs::create_dir(&wheels).unwrap();
    let lib = WheelBuilder::new("depot-demo.lib", "1.2.0").requires_python(">=3.7");
    let app = WheelBuilder::new("depot_demo_app", "0.1")
        .requires_dist("depot-demo-lib (>=1.0)")
        .file(
            "depot_demo_app/__init__.py",
            b"import depot_demo_lib\nLIB = depot_demo_lib.VERSION\n",
        );
    for w in [&lib, &app] {
        std::fs::write(wheels.join(w.file_name()), w.build()).unwrap();
    }
    let venv = venv(tmp.path());
    let out = run(pip(&venv)
        .args(["install", "--no-index", "--find-links"])
        .arg(&wheels)
        .arg("depot-demo-app"));
    let log = String::from_utf8_lossy(&out.stdout);
    let installed = log
        .lines()
        .find_map(|l| l.strip_prefix("Successfully installed "))
        .unwrap_or_else(|| panic!("pip installed nothing: {log}"));
    let mut installed: Vec<&str> = installed.split_whitespace().collect();
    installed.sort_unstable();
    assert_eq!(
        installed,
        ["depot-demo-app-0.1", "depot-demo-lib-1.2.0"],
        "{log}"
    );
    let out = run(Command::new(venv.join("bin/python"))
        .args(["-c", "import depot_demo_app; print(depot_demo_app.LIB)"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1.2.0\n");

    // pip's own record of what it installed agrees with the METADATA.
    let out = run(pip(&venv).args(["show", "depot-demo-app"]));
    let show = String::from_utf8_lossy(&out.stdout);
    assert!(show.contains("Version: 0.1\n"), "{show}");
    assert!(show.contains("\nRequires: depot-demo-lib\n"), "{show}");
}

#[test]
fn stored_wheels_install_too() {
    if !have_venv() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let w = WheelBuilder::new("depot-stored", "2.0").stored();
    let path = tmp.path().join(w.file_name());
    std::fs::write(&path, w.build()).unwrap();
    let venv = venv(tmp.path());
    run(pip(&venv).args(["install", "--no-index"]).arg(&path));
    let out = run(Command::new(venv.join("bin/python"))
        .args(["-c", "import depot_stored; print(depot_stored.VERSION)"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2.0\n");
}

#[test]
fn the_same_builder_writes_the_same_bytes() {
    let a = WheelBuilder::new("x", "1.0").requires_dist("y").build();
    let b = WheelBuilder::new("x", "1.0").requires_dist("y").build();
    assert_eq!(a, b);
    let s = depot_testkit::SdistBuilder::new("x", "1.0");
    assert_eq!(s.build(), s.build());
}
