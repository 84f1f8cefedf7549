//! `depot image ...` end to end: on the data directory, and against a
//! server as two users sharing through a group (`token create --group`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const ENV: [&str; 13] = [
    "DEPOT_CONFIG",
    "DEPOT_META",
    "DEPOT_BLOBS",
    "DEPOT_S3_ENDPOINT",
    "DEPOT_DATA_DIR",
    "DEPOT_LISTEN",
    "DEPOT_MAX_UPLOAD_BYTES",
    "DEPOT_KEY_ALGORITHM",
    "DEPOT_LOG_FORMAT",
    "DEPOT_SERVER",
    "DEPOT_TOKEN",
    "DEPOT_IMAGE_DOWNLOAD",
    "RUST_LOG",
];

fn depot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_depot"));
    for var in ENV {
        cmd.env_remove(var);
    }
    cmd
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{}\n{}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    fn failed(self) -> Run {
        assert_eq!(self.code, Some(1), "{}\n{}", self.stdout, self.stderr);
        self
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn local(data: &Path, args: &[&str]) -> Run {
    run(depot().arg("--data-dir").arg(data).args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn on_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let disk = tmp.path().join("disk.qcow2");
    let mut v1 = vec![3u8; 70_000];
    v1[..4].copy_from_slice(b"QFI\xfb");
    std::fs::write(&disk, &v1).unwrap();

    let img = local(
        &data,
        &[
            "image",
            "upload",
            s(&disk),
            "--visibility",
            "public",
            "--metadata",
            r#"{"os":"debian"}"#,
        ],
    )
    .ok()
    .json();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(img["name"], "disk.qcow2");
    assert_eq!(img["format"], "qcow2");
    assert_eq!(img["owner"], "admin");
    assert_eq!(img["metadata"]["os"], "debian");

    let list = local(&data, &["image", "list", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = local(&data, &["image", "list"]).ok();
    assert!(table.stdout.contains(&id), "{}", table.stdout);

    let v2_path = tmp.path().join("v2.img");
    std::fs::write(&v2_path, b"raw bytes").unwrap();
    let img = local(&data, &["image", "upload", s(&v2_path), "--replace", &id])
        .ok()
        .json();
    assert_eq!(
        (img["version"].as_i64(), img["format"].as_str()),
        (Some(2), Some("raw"))
    );
    let shown = local(&data, &["image", "show", &id]).ok().json();
    assert_eq!(shown["history"].as_array().unwrap().len(), 2);

    let out = tmp.path().join("out.img");
    local(&data, &["image", "download", &id, "-o", s(&out)]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), b"raw bytes");

    local(&data, &["image", "show", "nope"]).failed();
    local(
        &data,
        &["image", "upload", s(&disk), "--visibility", "friends"],
    )
    .failed();
    local(&data, &["image", "upload", s(&disk), "--metadata", "[1]"]).failed();
    local(&data, &["image", "delete", &id]).ok();
    let r = local(&data, &["image", "show", &id]).failed();
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(data: &Path, log: &Path) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = depot()
        .args(["serve", "--data-dir", s(data)])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|mut c| {
                write!(c, "GET /healthz HTTP/1.0\r\n\r\n").ok()?;
                let mut r = String::new();
                c.read_to_string(&mut r).ok()?;
                Some(r.starts_with("HTTP/1.0 200"))
            });
        if up == Some(true) {
            return (server, format!("http://127.0.0.1:{port}"));
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            panic!(
                "depot serve exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "depot serve did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn against_a_server_with_group_sharing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Not admin tokens (those manage every image): limited to a repository,
    // which says nothing about images.
    local(&data, &["create", "r"]).ok();
    let token = |name: &str, groups: &[&str]| {
        let mut args = vec!["token", "create", name, "--repo", "r"];
        for g in groups {
            args.extend(["--group", g]);
        }
        local(&data, &args).ok().stdout.trim().to_string()
    };
    let alice = token("alice", &["ops"]);
    let bob = token("bob", &["ops"]);
    let carol = token("carol", &[]);
    let r = local(&data, &["token", "create", "dave", "--group", "a b"]).failed();
    assert!(r.stderr.contains("group name"), "{}", r.stderr);

    let (_server, url) = start_server(&data, &tmp.path().join("serve.log"));
    let remote = |token: &str, args: &[&str]| {
        run(depot()
            .args(["--server", &url, "--token", token])
            .args(args))
    };
    let iso = tmp.path().join("boot.iso");
    let mut bytes = vec![0u8; 0x9000];
    bytes[0x8001..0x8006].copy_from_slice(b"CD001");
    std::fs::write(&iso, &bytes).unwrap();
    let img = remote(
        &alice,
        &[
            "image",
            "upload",
            s(&iso),
            "--name",
            "installer",
            "--visibility",
            "group:ops",
        ],
    )
    .ok()
    .json();
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(
        (img["owner"].as_str(), img["format"].as_str()),
        (Some("alice"), Some("iso"))
    );

    let shared = remote(&bob, &["image", "list", "--scope", "shared", "--json"])
        .ok()
        .json();
    assert_eq!(shared[0]["id"], id.as_str());
    let out = tmp.path().join("got.iso");
    remote(&bob, &["image", "download", &id, "-o", s(&out)]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    // Bob reads but does not own it; carol does not even see it.
    let r = remote(&bob, &["image", "delete", &id]).failed();
    assert!(r.stderr.contains("403"), "{}", r.stderr);
    let r = remote(&carol, &["image", "show", &id]).failed();
    assert!(r.stderr.contains("404"), "{}", r.stderr);
    assert!(
        remote(&carol, &["image", "list", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    remote(&alice, &["image", "delete", &id]).ok();
    remote(&bob, &["image", "show", &id]).failed();
}
