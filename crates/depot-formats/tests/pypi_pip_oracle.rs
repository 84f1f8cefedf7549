//! depot's PEP 440 order and its index pages against pip's own code: the
//! pip wheel Python bundles for `ensurepip` is put on `sys.path` (a wheel
//! is an importable zip; nothing is installed and the machine's pip is
//! not touched), and its vendored `packaging.version.Version` sorts and
//! normalizes the same versions, while `pip._internal.index.collector.
//! parse_links` reads the HTML and the JSON page depot renders. Skipped
//! (with a note on stderr) where python3 has no bundled pip.

use depot_formats::pypi::index::{self, IndexFile};
use depot_formats::pypi::{self, Version};
use depot_testkit::{SdistBuilder, WheelBuilder};
use std::process::Command;

const FIND_PIP: &str = "import ensurepip, glob, os, sys\n\
    whl = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled', 'pip-*.whl'))\n\
    sys.path.insert(0, whl[0])\n";

/// Runs `script` with pip importable; `None` when there is no bundled pip.
fn python(script: &str, stdin: &str) -> Option<serde_json::Value> {
    let probe = Command::new("python3")
        .args([
            "-c",
            &format!("{FIND_PIP}import pip._vendor.packaging.version"),
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 with a bundled pip wheel not available: skipping");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", &format!("{FIND_PIP}{script}")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

const VERSIONS: &[&str] = &[
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
    "1.2",
    "1.10",
    "2.0.dev0",
    "2.0",
    "1!0.1",
    "1!1.0",
    "v1.0",
    "1.0-RC-1",
    "1.0c1",
    "1.0pre1",
    "1.0preview2",
    "1.0alpha",
    "1.0.beta.3",
    "1.0-1",
    "1.0-post1",
    "1.0_post_1",
    "1.0rev2",
    "1.0r",
    "1.0-dev",
    "1.0DEV3",
    "1.0+Ubuntu-1",
    "0!2.0",
    "01.002",
    "1.0.0",
    "1",
    "2.0a0",
    "2.0.post0.dev0",
    "2.0+0",
    "2.0+a",
    "2.0+a.1",
    "2.0+1.a",
    "2.0.0+a.0",
    "1.0.dev0+local",
];

const INVALID: &[&str] = &[
    "1.0-SNAPSHOT",
    "2004d",
    "1.0.",
    ".1",
    "1..0",
    "1.0a1a2",
    "1.0+",
    "1.0+a..b",
    "1.0-",
    "a1.0",
    "1.0 beta",
    "1.0.post1.post2",
];

#[test]
fn pep_440_order_normal_forms_and_refusals_match_packaging() {
    let script = "import json\n\
        from pip._vendor.packaging.version import Version, InvalidVersion\n\
        d = json.loads(sys.stdin.read())\n\
        vs = d['valid']\n\
        cmp = [[(Version(a) > Version(b)) - (Version(a) < Version(b)) for b in vs] for a in vs]\n\
        norm = [str(Version(v)) for v in vs]\n\
        bad = []\n\
        for v in d['invalid']:\n\
        \x20   try:\n\
        \x20       Version(v)\n\
        \x20   except InvalidVersion:\n\
        \x20       bad.append(v)\n\
        print(json.dumps({'cmp': cmp, 'norm': norm, 'bad': bad}))\n";
    let input = serde_json::json!({"valid": VERSIONS, "invalid": INVALID}).to_string();
    let Some(out) = python(script, &input) else {
        return;
    };
    for (i, a) in VERSIONS.iter().enumerate() {
        let ours = Version::parse(a).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours.to_string(), out["norm"][i], "normal form of {a}");
        for (j, b) in VERSIONS.iter().enumerate() {
            let want = out["cmp"][i][j].as_i64().unwrap();
            let got = pypi::version::compare(a, b) as i64;
            assert_eq!(got, want, "{a} against {b}");
        }
    }
    assert_eq!(
        out["bad"],
        serde_json::json!(INVALID),
        "packaging refuses them all too"
    );
    for bad in INVALID {
        assert!(Version::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn pip_reads_the_html_and_json_pages_as_depot_means_them() {
    let lib = WheelBuilder::new("Depot.Demo_lib", "1.2.0").requires_python(">=3.8,<4");
    let lib_info = pypi::inspect(
        std::io::Cursor::new(lib.build()),
        &lib.file_name(),
        &Default::default(),
    )
    .unwrap();
    let sdist = SdistBuilder::new("Depot.Demo_lib", "1.10.0");
    let sdist_info = pypi::inspect(
        std::io::Cursor::new(sdist.build()),
        &sdist.file_name(),
        &Default::default(),
    )
    .unwrap();
    let files = vec![
        IndexFile::new(&lib_info, &lib.file_name(), &"ef".repeat(32), 100),
        IndexFile::new(&sdist_info, &sdist.file_name(), &"cd".repeat(32), 300),
    ];
    let pages = serde_json::json!({
        "html": index::project_html(&files, "depot-demo-lib"),
        "json": index::project_json(&files, "depot-demo-lib"),
        "root_html": index::root_html(&files),
        "root_json": index::root_json(&files),
    });
    let script = "import json\n\
        from pip._internal.index.collector import IndexContent, parse_links\n\
        d = json.loads(sys.stdin.read())\n\
        url = 'http://127.0.0.1:9/repos/r/pypi/simple/depot-demo-lib/'\n\
        out = {}\n\
        for kind, ct in [('html', 'text/html'), ('json', 'application/vnd.pypi.simple.v1+json')]:\n\
        \x20   page = IndexContent(d[kind].encode(), ct, None, url, cache_link_parsing=False)\n\
        \x20   links = []\n\
        \x20   for l in parse_links(page):\n\
        \x20       m = l.metadata_link()\n\
        \x20       links.append({'url': l.url_without_fragment, 'filename': l.filename,\n\
        \x20           'hashes': l._hashes, 'requires_python': l.requires_python,\n\
        \x20           'metadata': None if m is None else [m.url_without_fragment, m._hashes]})\n\
        \x20   out[kind] = links\n\
        root = 'http://127.0.0.1:9/repos/r/pypi/simple/'\n\
        page = IndexContent(d['root_html'].encode(), 'text/html', None, root, cache_link_parsing=False)\n\
        out['root'] = [l.url for l in parse_links(page)]\n\
        print(json.dumps(out))\n";
    let Some(out) = python(script, &pages.to_string()) else {
        return;
    };
    let meta = files[0].metadata_sha256.clone().unwrap();
    let base = "http://127.0.0.1:9/repos/r/pypi/files/";
    let want = serde_json::json!([
        {"url": format!("{base}Depot_Demo_lib-1.2.0-py3-none-any.whl"),
         "filename": "Depot_Demo_lib-1.2.0-py3-none-any.whl",
         "hashes": {"sha256": "ef".repeat(32)},
         "requires_python": ">=3.8,<4",
         "metadata": [format!("{base}Depot_Demo_lib-1.2.0-py3-none-any.whl.metadata"), {"sha256": meta}]},
        {"url": format!("{base}Depot_Demo_lib-1.10.0.tar.gz"),
         "filename": "Depot_Demo_lib-1.10.0.tar.gz",
         "hashes": {"sha256": "cd".repeat(32)},
         "requires_python": null,
         "metadata": null},
    ]);
    assert_eq!(out["html"], want, "the HTML page");
    assert_eq!(out["json"], want, "the JSON page");
    assert_eq!(
        out["root"],
        serde_json::json!(["http://127.0.0.1:9/repos/r/pypi/simple/depot-demo-lib/"])
    );
    let root: serde_json::Value =
        serde_json::from_str(pages["root_json"].as_str().unwrap()).unwrap();
    assert_eq!(root["projects"][0]["name"], "depot-demo-lib");
}
