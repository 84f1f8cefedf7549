//! The .debs DebBuilder writes are checked by the real tools: `dpkg-deb
//! --info`/`--contents`/`--field`, and `dpkg --install` into a throwaway root.
//! Skipped (with a note on stderr) where dpkg is not installed.

use depot_testkit::{Compression, DebBuilder};
use std::path::Path;
use std::process::Command;

fn have_dpkg() -> bool {
    let ok = Path::new("/usr/bin/dpkg-deb").exists() && Path::new("/usr/bin/dpkg").exists();
    if !ok {
        eprintln!("dpkg/dpkg-deb not installed: skipping");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{cmd:?} warned: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn sample() -> DebBuilder {
    DebBuilder::new("depot-hello", "1:2.10-3+b1", "all")
        .depends("libc6 (>= 2.34), foo | bar")
        .field("X-Custom-Field", "kept")
        .file("usr/share/doc/depot-hello/README", b"hello\n")
        .file("usr/share/depot-hello/data.bin", &[0u8; 2048])
}

#[test]
fn dpkg_deb_reads_every_compression() {
    if !have_dpkg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for control in Compression::ALL {
        for data in Compression::ALL {
            let d = sample().control_compression(control).data_compression(data);
            let path = dir.path().join(d.file_name());
            std::fs::write(&path, d.build()).unwrap();

            let info = run(Command::new("dpkg-deb").arg("--info").arg(&path));
            assert!(info.contains(" Package: depot-hello\n"), "{info}");
            assert!(info.contains(" Version: 1:2.10-3+b1\n"), "{info}");
            assert!(info.contains(" X-Custom-Field: kept\n"), "{info}");
            assert!(info.contains(" Description: test package depot-hello\n  Built in code"));

            let field = run(Command::new("dpkg-deb")
                .arg("--field")
                .arg(&path)
                .arg("Depends"));
            assert_eq!(field, "libc6 (>= 2.34), foo | bar\n");

            let contents = run(Command::new("dpkg-deb").arg("--contents").arg(&path));
            let lines: Vec<&str> = contents.lines().collect();
            assert_eq!(lines.len(), 8, "{contents}");
            assert!(lines[0].starts_with("drwxr-xr-x root/root"), "{contents}");
            assert!(lines[0].ends_with(" ./"), "{contents}");
            assert!(lines.iter().any(|l| l.starts_with("-rw-r--r-- root/root")
                && l.contains(" 2023-11-14 ")
                && l.ends_with(" ./usr/share/doc/depot-hello/README")));
        }
    }
}

#[test]
fn dpkg_installs_into_a_throwaway_root() {
    if !have_dpkg() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let admin = root.path().join("var/lib/dpkg");
    for sub in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(sub)).unwrap();
    }
    std::fs::write(admin.join("status"), "").unwrap();
    std::fs::write(admin.join("available"), "").unwrap();

    let d = DebBuilder::new("depot-hello", "1.0-1", "all")
        .file("usr/share/doc/depot-hello/README", b"hello\n")
        .control_member("postinst", b"#!/bin/sh\nexit 0\n")
        .control_compression(Compression::Zstd)
        .data_compression(Compression::Xz);
    let deb = root.path().join(d.file_name());
    std::fs::write(&deb, d.build()).unwrap();

    run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .arg("--force-script-chrootless")
        .arg("--force-not-root")
        .arg("--force-bad-path")
        .arg("--log=/dev/null")
        .arg("--install")
        .arg(&deb));
    assert_eq!(
        std::fs::read(root.path().join("usr/share/doc/depot-hello/README")).unwrap(),
        b"hello\n"
    );
    let status = std::fs::read_to_string(admin.join("status")).unwrap();
    assert!(
        status.contains("Package: depot-hello\nStatus: install ok installed\n"),
        "{status}"
    );
    // dpkg checks the md5sums we shipped.
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.path().display()))
        .arg("--verify")
        .arg("depot-hello"));
}
