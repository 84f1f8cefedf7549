//! Writes the seed corpus: valid packages of every format, built with
//! depot-testkit (every compression each builder offers, since a mutation
//! inside a compressed stream mostly breaks its checksum, the uncompressed
//! ones are what let the fuzzer reach the tar and control parsers), plus
//! crates/depot-formats/testdata, into `corpus/<target>/seed-*` beside this
//! crate. Checks each package is accepted by its `inspect`, so the seeds
//! start the fuzzer on the paths that read a whole package.
//!
//! `cargo run --release --bin seeds [DIR]` (run.sh does it).

use depot_formats::{apk, deb, freebsd, pacman, rpm};
use depot_testkit::{
    ApkBuilder, Compression, DebBuilder, FreebsdBuilder, PacmanBuilder, RpmBuilder, rpm_layout,
};
use std::path::{Path, PathBuf};

fn main() {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"));
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/depot-formats/testdata");

    // deb: every control and data compression.
    let mut debs = Vec::new();
    for (i, c) in Compression::ALL.into_iter().enumerate() {
        let d = Compression::ALL[(i + 1) % Compression::ALL.len()];
        debs.push(
            DebBuilder::new("hello", "1:2.10-3", "amd64")
                .depends("libc6 (>= 2.34), foo | bar")
                .field("Description", "greets\n long text\n .\n more")
                .file("./usr/bin/hello", b"#!/bin/sh\necho hello\n")
                .control_member("postinst", b"#!/bin/sh\nexit 0\n")
                .control_compression(c)
                .data_compression(d)
                .build(),
        );
        debs.push(DebBuilder::new("tiny", "1.0", "all").control_compression(c).data_compression(c).build());
    }
    write(&root, "deb_inspect", &debs, |b| deb::inspect(b, &deb::Limits::default()).is_ok());

    // deb822: control files as the builder writes them, and a Packages file.
    let mut texts: Vec<Vec<u8>> = Vec::new();
    let mut packages = String::new();
    for b in &debs {
        let info = deb::inspect(&b[..], &deb::Limits::default()).expect("seed deb is valid");
        packages.push_str(&deb::index_entry(&info, "pool/x.deb", b.len() as u64, &depot_core::Hashes::of(b)));
        packages.push('\n');
    }
    texts.push(DebBuilder::new("hello", "1.0", "amd64").control_text());
    texts.push(packages.into_bytes());
    write(&root, "deb822", &texts, |_| true);

    // rpm: current and legacy digests, a source package, every kind of
    // dependency, config files, directories, ghosts, a changelog.
    let rpms = vec![
        RpmBuilder::new("hello", "2.10", "3.fc40", "x86_64")
            .epoch(1)
            .summary("greets")
            .description("long text\nmore")
            .license("GPL-3.0-or-later")
            .url("https://example.invalid/")
            .requires("libc.so.6()(64bit)")
            .requires("beta >= 1:2.0-1")
            .requires_pre("/bin/sh")
            .provides("hello-bin = 2.10")
            .conflicts("old-hello < 2")
            .obsoletes("hello-legacy")
            .recommends("gamma")
            .suggests("(delta or epsilon)")
            .supplements("zeta")
            .enhances("eta")
            .file("/usr/bin/hello", b"#!/bin/sh\necho hello\n")
            .config_file("/etc/hello.conf", b"greeting=hi\n")
            .dir("/usr/share/hello")
            .ghost("/var/log/hello.log")
            .changelog("A <a@example.invalid> - 2.10-3", 1_700_000_000, "- fix")
            .changelog("B <b@example.invalid> - 2.10-2", 1_600_000_000, "- more")
            .build(),
        RpmBuilder::new("tiny", "1.0", "1", "noarch").file("/README", b"hi\n").legacy_digests().build(),
        RpmBuilder::new("src", "1.0", "1", "x86_64").source().build(),
    ];
    write(&root, "rpm_inspect", &rpms, |b| rpm::inspect(b, &rpm::Limits::default()).is_ok());

    // rpm_header: the signature and main headers of each, without padding.
    let headers: Vec<Vec<u8>> = rpms
        .iter()
        .map(|b| {
            let l = rpm_layout(b);
            let be = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            let sig_len = 16 + be(l.signature + 8) * 16 + be(l.signature + 12);
            [&b[l.signature..l.signature + sig_len], &b[l.header..l.payload]].concat()
        })
        .collect();
    write(&root, "rpm_header", &headers, |b| rpm::fuzz_headers(b, &rpm::Limits::default()).is_ok());

    // pacman: every compression.
    let pacmans: Vec<Vec<u8>> = Compression::ALL
        .into_iter()
        .map(|c| {
            PacmanBuilder::new("hello", "1:2.10-3", "x86_64")
                .desc("greets")
                .depends("glibc>=2.34")
                .provides("hello-bin=2.10")
                .license("GPL-3.0-or-later")
                .file("usr/share/hello/README", b"hi\n")
                .executable("usr/bin/hello", b"#!/bin/sh\necho hello\n")
                .compression(c)
                .build()
        })
        .collect();
    write(&root, "pacman_inspect", &pacmans, |b| pacman::inspect(b, &pacman::Limits::default()).is_ok());

    // apk: one built from scratch, one with testdata's real .PKGINFO.
    let mut apks = vec![
        ApkBuilder::new("hello", "2.10-r3", "x86_64")
            .desc("greets")
            .depends("so:libc.musl-x86_64.so.1")
            .provides("cmd:hello=2.10-r3")
            .file("usr/bin/hello", b"#!/bin/sh\necho hello\n")
            .build(),
        // With a signature segment (inspect reads it, the repo signs).
        ApkBuilder::new("signed", "1.0-r0", "noarch")
            .signature(".SIGN.RSA.builder.rsa.pub", b"not checked by inspect")
            .build(),
    ];
    if let Ok(pkginfo) = std::fs::read_to_string(testdata.join("apk/strace.PKGINFO")) {
        // Its datahash is the real package's: put in the one of the data
        // stream built here, so the package is accepted.
        let b = ApkBuilder::new("strace", "5.14-r0", "x86_64").file("usr/bin/strace", b"\x7fELF");
        let datahash = depot_core::Sha256::of(&b.data_stream()).hex();
        let pkginfo: String = pkginfo
            .lines()
            .map(|l| match l.starts_with("datahash = ") {
                true => format!("datahash = {datahash}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        apks.push(b.raw_pkginfo(pkginfo.as_bytes()).build());
    }
    write(&root, "apk_inspect", &apks, |b| apk::inspect(b, &apk::Limits::default()).is_ok());

    // FreeBSD: every compression.
    let pkgs: Vec<Vec<u8>> = Compression::ALL
        .into_iter()
        .map(|c| {
            FreebsdBuilder::new("hello", "2.10_3,1", "FreeBSD:14:amd64")
                .depends("gettext-runtime", "0.22.5")
                .file("/usr/local/bin/hello", b"#!/bin/sh\necho hello\n")
                .compression(c)
                .build()
        })
        .collect();
    write(&root, "freebsd_inspect", &pkgs, |b| freebsd::inspect(b, &freebsd::Limits::default()).is_ok());
}

/// Writes `seeds` as `dir/target/seed-N`; prints how many `accepts` took.
fn write(root: &Path, target: &str, seeds: &[Vec<u8>], accepts: impl Fn(&[u8]) -> bool) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus dir");
    let mut ok = 0;
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), s).expect("write a seed");
        ok += usize::from(accepts(s));
    }
    println!("{target}: {} seeds, {ok} accepted, in {}", seeds.len(), dir.display());
}
