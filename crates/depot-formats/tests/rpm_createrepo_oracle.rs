//! createrepo_c as the oracle for the rpm format: rpms built by the real
//! rpmbuild (many dependency shapes: epochs, tilde and caret versions, rich
//! dependencies, Requires(pre/post), libc.so.6 requires, files in /etc and
//! *bin/, ghosts, directories, non-ASCII names, XML-special characters,
//! long changelogs) and by depot-testkit go into one directory; createrepo_c
//! 0.17 indexes it, and its primary, filelists, other and repomd must equal
//! what depot renders from `rpm::inspect` + `rpm::fragments` +
//! `rpm::repodata`, first compared parsed and order-insensitively where the
//! format is (dependency entries, file lists), then byte for byte.
//!
//! `time file` is the file's mtime for createrepo_c; depot passes the
//! upload time, so this test passes each file's mtime to get the same
//! value. No other difference remains.
//!
//! Needs `rpmbuild` (Debian package rpm) and `createrepo_c` (Debian package
//! createrepo-c); fails when they are missing.

mod rpm_support;

use depot_core::Sha256;
use depot_formats::rpm::{self, FileKind, Limits, repodata};
use depot_testkit::RpmBuilder;
use rpm_support::{rpmbuild_all, run};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Testkit packages next to the rpmbuild ones: what the rpm crate writes
/// (no PAYLOADSIZE, SOURCERPM "(none)", weak dependencies, a source package,
/// pre-4.14 digests).
fn testkit_rpms() -> Vec<RpmBuilder> {
    vec![
        RpmBuilder::new("tk-full", "3.1", "2.fc40", "x86_64")
            .epoch(7)
            .summary("Testkit & <friends>")
            .description("Multi\nline\n\n  indented & <escaped>")
            .url("https://example.org/?q=1&r=2")
            .vendor("Depot")
            .packager("Pat <pat@example.org>")
            .group("Development/Tools")
            .requires("tk-lib >= 2:1.0-1")
            .requires("tk-lib >= 2:1.0-1")
            .requires_pre("/bin/sh")
            .requires("/usr/bin/tk-full")
            .requires("/usr/share/tk-full/README")
            .requires("tk-cap = 5")
            .requires("(tk-a if tk-b)")
            .provides("tk-cap = 5")
            .provides("tk-other")
            .conflicts("tk-old < 1.0")
            .obsoletes("tk-ancient <= 0.9-1")
            .recommends("tk-rec >= 1")
            .suggests("tk-sug")
            .supplements("tk-sup = 1.0")
            .enhances("tk-enh")
            .file("/usr/bin/tk-full", b"#!/bin/sh\n")
            .file("/usr/share/tk-full/README", b"readme\n")
            .config_file("/etc/tk-full.conf", b"a=1\n")
            .dir("/etc/tk-full.d")
            .dir("/usr/share/tk-full")
            .ghost("/var/log/tk-full.log")
            .ghost("/etc/tk-full.d/generated")
            .changelog("A <a@x> - 7:3.1-2", 1_700_000_000, "- second & <b>")
            .changelog("B <b@x> - 7:3.1-1", 1_700_000_000, "- first, same second"),
        RpmBuilder::new("tk-lib", "1.0", "1", "x86_64").file("/usr/lib64/libtk.so.1", b"\x7fELF"),
        RpmBuilder::new("tk-noarch", "0.1~beta^post", "0", "noarch"),
        RpmBuilder::new("tk-legacy", "1", "1", "noarch")
            .file("/usr/sbin/tk-legacy", b"old")
            .legacy_digests(),
        RpmBuilder::new("tk-src", "1.0", "1", "x86_64")
            .file("./tk-src.spec", b"Name: tk-src\n")
            .source(),
    ]
}

/// Which fragment of a package.
type Pick = fn(&rpm::Fragments) -> &str;

struct Ours {
    pkgid: String,
    fragments: rpm::Fragments,
}

fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn mtime(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Element children in document order.
fn elements<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

fn qname(n: roxmltree::Node) -> String {
    let tag = n.tag_name();
    match tag.namespace() {
        Some("http://linux.duke.edu/metadata/rpm") => format!("rpm:{}", tag.name()),
        _ => tag.name().to_string(),
    }
}

const UNORDERED: [&str; 8] = [
    "rpm:provides",
    "rpm:requires",
    "rpm:conflicts",
    "rpm:obsoletes",
    "rpm:suggests",
    "rpm:enhances",
    "rpm:recommends",
    "rpm:supplements",
];

/// One line per element: its path, sorted attributes and text. Entries of
/// dependency lists and `<file>` siblings are sorted (their order carries
/// no meaning); everything else keeps document order.
fn canon(n: roxmltree::Node, path: &str, out: &mut Vec<String>) {
    let name = qname(n);
    let path = format!("{path}/{name}");
    let mut attrs: Vec<String> = n
        .attributes()
        .map(|a| format!("{}={:?}", a.name(), a.value()))
        .collect();
    attrs.sort();
    let text: String = n
        .children()
        .filter(|c| c.is_text())
        .map(|c| c.text().unwrap_or(""))
        .collect();
    let has_elements = elements(n).next().is_some();
    let text = if has_elements {
        String::new()
    } else {
        format!(" {text:?}")
    };
    out.push(format!("{path} [{}]{text}", attrs.join(" ")));
    let mut ordered = Vec::new();
    let mut sorted_blocks: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for c in elements(n) {
        let mut block = Vec::new();
        canon(c, &path, &mut block);
        if UNORDERED.contains(&name.as_str()) || qname(c) == "file" {
            sorted_blocks.entry(qname(c)).or_default().push(block);
        } else {
            ordered.push(block);
        }
    }
    for b in ordered {
        out.extend(b);
    }
    for (_, mut blocks) in sorted_blocks {
        blocks.sort();
        for b in blocks {
            out.extend(b);
        }
    }
}

/// Canonical lines of every `<package>` of a repodata file, by pkgid.
fn packages_by_pkgid(xml: &str) -> BTreeMap<String, Vec<String>> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let mut out = BTreeMap::new();
    for p in elements(doc.root_element()) {
        assert_eq!(p.tag_name().name(), "package");
        let pkgid = match p.attribute("pkgid") {
            Some(id) => id.to_string(),
            None => elements(p)
                .find(|c| c.tag_name().name() == "checksum")
                .and_then(|c| c.text())
                .expect("a primary package has a checksum")
                .to_string(),
        };
        let mut lines = Vec::new();
        canon(p, "", &mut lines);
        assert!(out.insert(pkgid, lines).is_none(), "duplicate package");
    }
    out
}

/// The lines of `a` and `b` that differ, for a readable failure.
fn diff(a: &[String], b: &[String]) -> String {
    let mut s = String::new();
    for l in a.iter().filter(|l| !b.contains(l)) {
        s.push_str(&format!("  createrepo_c: {l}\n"));
    }
    for l in b.iter().filter(|l| !a.contains(l)) {
        s.push_str(&format!("  depot:        {l}\n"));
    }
    if s.is_empty() {
        s.push_str("  (same lines, different order)\n");
    }
    s
}

fn text_of<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    elements(n)
        .find(|c| c.tag_name().name() == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

/// pkgids in document order.
fn order(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    elements(doc.root_element())
        .map(|p| {
            p.attribute("pkgid")
                .map(str::to_string)
                .or_else(|| {
                    elements(p)
                        .find(|c| c.tag_name().name() == "checksum")
                        .and_then(|c| c.text())
                        .map(str::to_string)
                })
                .unwrap()
        })
        .collect()
}

fn setup() -> (tempfile::TempDir, PathBuf, Vec<PathBuf>) {
    let tmp = tempfile::tempdir().unwrap();
    let built = rpmbuild_all(&tmp.path().join("top"));
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut paths = Vec::new();
    for p in &built {
        let dest = repo.join(p.file_name().unwrap());
        std::fs::copy(p, &dest).unwrap();
        paths.push(dest);
    }
    for b in testkit_rpms() {
        let dest = repo.join(b.file_name());
        std::fs::write(&dest, b.build()).unwrap();
        paths.push(dest);
    }
    (tmp, repo, paths)
}

#[test]
fn createrepo_c_and_depot_write_the_same_repodata() {
    let (_tmp, repo, paths) = setup();
    assert!(paths.len() >= 9, "{paths:?}");
    run(
        Command::new("createrepo_c")
            .arg("--no-database")
            .arg("--simple-md-filenames")
            .arg("--quiet")
            .arg(&repo),
        "createrepo-c",
    );

    let mut ours: Vec<Ours> = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        let info = rpm::inspect(&bytes[..], &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let sha = Sha256::of(&bytes);
        let href = p.file_name().unwrap().to_str().unwrap();
        let fragments = rpm::fragments(&info, href, bytes.len() as u64, &sha, mtime(p));
        ours.push(Ours {
            pkgid: sha.hex(),
            fragments,
        });
    }

    let kinds: [(&str, Pick, String, &str); 3] = [
        (
            "primary",
            |f| &f.primary,
            repodata::primary_header(ours.len()),
            repodata::PRIMARY_FOOTER,
        ),
        (
            "filelists",
            |f| &f.filelists,
            repodata::filelists_header(ours.len()),
            repodata::FILELISTS_FOOTER,
        ),
        (
            "other",
            |f| &f.other,
            repodata::other_header(ours.len()),
            repodata::OTHER_FOOTER,
        ),
    ];
    let mut failures = String::new();
    let mut assembled_files = BTreeMap::new();
    for (kind, pick, header, footer) in kinds {
        let theirs = gunzip(&repo.join(format!("repodata/{kind}.xml.gz")));
        // Same package order as createrepo_c's, to compare whole files.
        let by_id: BTreeMap<&str, &Ours> = ours.iter().map(|o| (o.pkgid.as_str(), o)).collect();
        let mut mine = header.clone();
        for id in order(&theirs) {
            let o = by_id
                .get(id.as_str())
                .unwrap_or_else(|| panic!("createrepo_c lists {id}, depot has no such package"));
            mine.push_str(pick(&o.fragments));
        }
        mine.push_str(footer);

        // 1. Parsed, order-insensitive where the format is.
        let a = packages_by_pkgid(&theirs);
        let b = packages_by_pkgid(&mine);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{kind}: different packages"
        );
        for (id, lines) in &a {
            if lines != &b[id] {
                failures.push_str(&format!(
                    "{kind}.xml, package {id}:\n{}",
                    diff(lines, &b[id])
                ));
            }
        }
        // Root element and its attributes.
        let ra = roxmltree::Document::parse(&theirs).unwrap();
        let rb = roxmltree::Document::parse(&mine).unwrap();
        let root = |d: &roxmltree::Document| {
            let r = d.root_element();
            let mut attrs: Vec<String> = r
                .attributes()
                .map(|a| format!("{}={}", a.name(), a.value()))
                .collect();
            attrs.sort();
            let ns: Vec<String> = r
                .namespaces()
                .map(|n| format!("{:?}={}", n.name(), n.uri()))
                .collect();
            (
                r.tag_name().name().to_string(),
                r.tag_name().namespace().map(str::to_string),
                attrs,
                ns,
            )
        };
        assert_eq!(root(&ra), root(&rb), "{kind}: root element");

        // 2. Byte for byte.
        if failures.is_empty() && theirs != mine {
            let at = theirs
                .bytes()
                .zip(mine.bytes())
                .position(|(x, y)| x != y)
                .unwrap_or(theirs.len().min(mine.len()));
            let from = at.saturating_sub(200);
            failures.push_str(&format!(
                "{kind}.xml differs in bytes from byte {at}:\ncreaterepo_c: {:?}\ndepot:        {:?}\n",
                &theirs[from..(at + 200).min(theirs.len())],
                &mine[from..(at + 200).min(mine.len())]
            ));
        }
        if std::env::var_os("RPM_ORACLE_DUMP").is_some() {
            eprintln!("==== {kind} ({} packages)\n{theirs}", a.len());
        }
        assembled_files.insert(kind, mine);
    }
    assert!(failures.is_empty(), "{failures}");

    // repomd.xml: the same text from createrepo_c's values, and the open
    // checksums of depot's assembled files are createrepo_c's.
    let theirs = std::fs::read_to_string(repo.join("repodata/repomd.xml")).unwrap();
    let doc = roxmltree::Document::parse(&theirs).unwrap();
    let revision: u64 = text_of(doc.root_element(), "revision")
        .text()
        .unwrap()
        .parse()
        .unwrap();
    let mut data = Vec::new();
    for d in elements(doc.root_element()).filter(|c| c.tag_name().name() == "data") {
        let kind = d.attribute("type").unwrap().to_string();
        let num = |name: &str| -> u64 { text_of(d, name).text().unwrap().parse().unwrap() };
        let sha = |name: &str| Sha256::parse(text_of(d, name).text().unwrap()).unwrap();
        let open_checksum = sha("open-checksum");
        assert_eq!(
            open_checksum,
            Sha256::of(assembled_files[kind.as_str()].as_bytes()),
            "{kind}: open-checksum"
        );
        data.push(repodata::RepomdData {
            href: text_of(d, "location")
                .attribute("href")
                .unwrap()
                .to_string(),
            checksum: sha("checksum"),
            size: num("size"),
            open_checksum,
            open_size: num("open-size"),
            timestamp: num("timestamp"),
            kind,
        });
    }
    assert_eq!(data.len(), 3);
    assert_eq!(repodata::repomd(revision, &data), theirs);
}

/// inspect on rpmbuild's packages agrees with `rpm -qp` on the fields it
/// does not share with createrepo_c's output.
#[test]
fn inspect_agrees_with_rpm_query() {
    let (_tmp, _repo, paths) = setup();
    let fmt = "%{NAME}|%{EPOCHNUM}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCEPACKAGE}|%{BUILDTIME}|%{LONGSIZE}\\n";
    for p in &paths {
        let out = run(
            Command::new("rpm")
                .env("HOME", p.parent().unwrap())
                .arg("-qp")
                .arg("--nosignature")
                .arg("--nodigest")
                .arg("--qf")
                .arg(fmt)
                .arg(p),
            "rpm",
        );
        let line = String::from_utf8(out.stdout).unwrap();
        let f: Vec<&str> = line.trim_end().split('|').collect();
        let info = rpm::inspect(std::fs::File::open(p).unwrap(), &Limits::default()).unwrap();
        let source = f[5] == "1" || p.to_str().unwrap().ends_with(".src.rpm");
        assert_eq!(info.name, f[0]);
        assert_eq!(info.epoch.to_string(), f[1]);
        assert_eq!(info.version, f[2]);
        assert_eq!(info.release, f[3]);
        assert_eq!(info.is_source, source, "{}", p.display());
        if !source {
            assert_eq!(info.arch, f[4]);
        } else {
            assert_eq!(info.arch, "src");
        }
        assert_eq!(info.build_time.to_string(), f[6]);
        assert_eq!(info.installed_size.to_string(), f[7]);
        assert!(info.header_start >= 96 + 16 && info.header_start % 8 == 0);
        assert!(info.header_end > info.header_start);
        assert_eq!(
            info.evr(),
            if info.epoch == 0 {
                format!("{}-{}", f[2], f[3])
            } else {
                format!("{}:{}-{}", f[1], f[2], f[3])
            }
        );
    }

    let by_name = |name: &str| {
        let p = paths
            .iter()
            .find(|p| {
                let f = p.file_name().unwrap().to_str().unwrap();
                f.starts_with(&format!("{name}-")) && !f.ends_with(".src.rpm")
            })
            .unwrap();
        rpm::inspect(std::fs::File::open(p).unwrap(), &Limits::default()).unwrap()
    };
    let alpha = by_name("alpha");
    assert_eq!((alpha.epoch, alpha.version.as_str()), (3, "1.2~rc1"));
    let kinds: BTreeMap<&str, FileKind> = alpha
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.kind))
        .collect();
    assert_eq!(kinds["/etc/alpha"], FileKind::Dir);
    assert_eq!(kinds["/etc/alpha/generated.conf"], FileKind::Ghost);
    assert_eq!(kinds["/var/lib/alpha/state.db"], FileKind::Ghost);
    assert_eq!(kinds["/usr/bin/alpha"], FileKind::File);
    let requires: Vec<String> = alpha.requires.iter().map(|d| d.display()).collect();
    assert!(
        requires.contains(&"beta >= 1:2.0-1".to_string()),
        "{requires:?}"
    );
    assert!(
        requires.contains(&"(gamma or delta)".to_string()),
        "{requires:?}"
    );
    // Own primary file and own provide: dropped; own non-primary file: kept.
    assert!(
        !requires
            .iter()
            .any(|r| r == "/usr/bin/alpha" || r.starts_with("alpha-cap"))
    );
    assert!(requires.contains(&"/usr/share/alpha/data/file.txt".to_string()));
    // Only the highest libc.so.6 require.
    let libc: Vec<&String> = requires
        .iter()
        .filter(|r| r.starts_with("libc.so.6"))
        .collect();
    assert_eq!(libc, ["libc.so.6(GLIBC_2.34)(64bit)"]);
    assert!(!requires.iter().any(|r| r.starts_with("rpmlib(")));
    assert!(alpha.requires.iter().any(|d| d.name == "/bin/sh" && d.pre));
    assert_eq!(alpha.recommends[0].display(), "rec-pkg");
    assert_eq!(alpha.supplements[0].display(), "(sup-a and sup-b)");
    // Three entries on one day: made distinct, oldest first.
    let dates: Vec<u64> = alpha.changelogs.iter().map(|c| c.date).collect();
    assert_eq!(dates.len(), 4);
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
    assert_eq!(
        alpha.changelogs[2].author,
        "Other <other@example.com>   - 3:1.2~rc1-3"
    );

    let beta = by_name("beta");
    assert_eq!(beta.changelogs.len(), 10);
    assert_eq!(beta.changelogs[0].text, "- five");
    assert_eq!(beta.changelogs[9].text, "- fourteen");
    assert_eq!(beta.arch, "noarch");
}
