//! Tiny but valid `.rpm` files, built in code over the `rpm` crate's
//! `PackageBuilder`.
//!
//! # The .rpm files [`RpmBuilder`] writes
//!
//! ```text
//! lead (96 bytes)       ed ab ee db, format 3.0, type 0 (binary; 1 with
//!                       `source()`), signature type 5
//! signature header      SHA1 (269) and SHA256 (273) of the main header, SIZE (1000)
//!                       of header + payload, 4128 bytes of RESERVEDSPACE; padded to 8
//! main header           NAME, EPOCH, VERSION, RELEASE, ARCH, SUMMARY, DESCRIPTION,
//!                       LICENSE, GROUP, URL, VENDOR, PACKAGER, BUILDHOST, BUILDTIME
//!                       ([`MTIME`]), SOURCERPM ("(none)", as the rpm crate writes it),
//!                       files, dependencies, changelog, PAYLOADDIGEST (SHA-256)
//! payload               gzip (level 6) of a cpio archive of the files
//! ```
//!
//! With [`RpmBuilder::legacy_digests`] the digests are those of rpm before
//! 4.14: no PAYLOADDIGEST, and a signature header of SHA1, SIZE and MD5
//! (of header and payload) only.
//!
//! Builds are deterministic (fixed build time and file times) and fast:
//! [`write_rpm_corpus`] writes 1,000 one-file packages in about 0.3 s in a
//! release build (0.8 s in a debug build), so a benchmark can make 10,000.
//!
//! The rpm crate validates names and versions; to craft hostile packages,
//! [`RpmBuilder::tag`] overrides any main-header tag after the build with
//! raw data (the signature header's digests and size are recomputed, so the
//! package stays self-consistent), and [`rpm_layout`] finds the sections of
//! a built file for byte-level surgery.

use crate::MTIME;
use md5::{Digest, Md5};
use rpm::{
    CompressionWithLevel, Dependency, DependencyFlags, FileOptions, Header, HeaderEntry, IndexData,
    IndexSignatureTag, IndexTag, PackageBuilder, RpmFormat, SignatureHeaderBuilder,
};
use std::path::{Path, PathBuf};

/// One file of an [`RpmBuilder`] package.
#[derive(Debug, Clone)]
enum Entry {
    File {
        path: String,
        contents: Vec<u8>,
        mode: u16,
        config: bool,
    },
    Dir(String),
    Ghost(String),
}

/// Which dependency list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Requires,
    Provides,
    Conflicts,
    Obsoletes,
    Recommends,
    Suggests,
    Supplements,
    Enhances,
}

/// Builds an .rpm in memory. See the module docs for the layout.
///
/// ```
/// use depot_testkit::RpmBuilder;
/// let rpm = RpmBuilder::new("hello", "2.10", "3", "x86_64")
///     .epoch(1)
///     .requires("libc.so.6()(64bit)")
///     .requires("beta >= 1:2.0-1")
///     .file("/usr/bin/hello", b"#!/bin/sh\n")
///     .changelog("Tester <t@example.com> - 2.10-3", 1_700_000_000, "- rebuilt");
/// assert_eq!(rpm.file_name(), "hello-2.10-3.x86_64.rpm");
/// let bytes = rpm.build();
/// assert!(bytes.starts_with(b"\xed\xab\xee\xdb"));
/// ```
#[derive(Debug, Clone)]
pub struct RpmBuilder {
    name: String,
    epoch: Option<u32>,
    version: String,
    release: String,
    arch: String,
    summary: String,
    description: String,
    license: String,
    url: Option<String>,
    vendor: Option<String>,
    packager: Option<String>,
    group: Option<String>,
    build_host: String,
    deps: Vec<(DepKind, Dependency)>,
    entries: Vec<Entry>,
    changelog: Vec<(String, u32, String)>,
    source: bool,
    legacy_digests: bool,
    overrides: Vec<(u32, Option<IndexData>)>,
}

impl RpmBuilder {
    /// A package with a one-line summary, a two-line description, license
    /// `MIT`, build host `testkit.depot.invalid` and no files.
    pub fn new(name: &str, version: &str, release: &str, arch: &str) -> Self {
        RpmBuilder {
            name: name.to_string(),
            epoch: None,
            version: version.to_string(),
            release: release.to_string(),
            arch: arch.to_string(),
            summary: format!("test package {name}"),
            description: "Built in code by depot-testkit\nfor depot's tests.".to_string(),
            license: "MIT".to_string(),
            url: None,
            vendor: None,
            packager: None,
            group: None,
            build_host: "testkit.depot.invalid".to_string(),
            deps: Vec::new(),
            entries: Vec::new(),
            changelog: Vec::new(),
            source: false,
            legacy_digests: false,
            overrides: Vec::new(),
        }
    }

    pub fn epoch(mut self, epoch: u32) -> Self {
        self.epoch = Some(epoch);
        self
    }

    pub fn summary(mut self, s: &str) -> Self {
        self.summary = s.to_string();
        self
    }

    pub fn description(mut self, s: &str) -> Self {
        self.description = s.to_string();
        self
    }

    pub fn license(mut self, s: &str) -> Self {
        self.license = s.to_string();
        self
    }

    pub fn url(mut self, s: &str) -> Self {
        self.url = Some(s.to_string());
        self
    }

    pub fn vendor(mut self, s: &str) -> Self {
        self.vendor = Some(s.to_string());
        self
    }

    pub fn packager(mut self, s: &str) -> Self {
        self.packager = Some(s.to_string());
        self
    }

    pub fn group(mut self, s: &str) -> Self {
        self.group = Some(s.to_string());
        self
    }

    fn dep(mut self, kind: DepKind, spec: &str, extra: DependencyFlags) -> Self {
        let mut dep = parse_dep(spec);
        dep.flags |= extra;
        self.deps.push((kind, dep));
        self
    }

    /// Adds a requirement: `"beta"`, `"beta >= 1:2.0-1"` (operators `=`,
    /// `<`, `>`, `<=`, `>=`), `"/bin/sh"`, or a rich dependency in
    /// parentheses (`"(gamma or delta)"`, taken whole as the name).
    pub fn requires(self, spec: &str) -> Self {
        self.dep(DepKind::Requires, spec, DependencyFlags::ANY)
    }

    /// `Requires(pre)`: like [`RpmBuilder::requires`], flagged for `%pre`.
    pub fn requires_pre(self, spec: &str) -> Self {
        self.dep(DepKind::Requires, spec, DependencyFlags::SCRIPT_PRE)
    }

    /// Adds a capability (same syntax as [`RpmBuilder::requires`]). The
    /// package always provides `name = [epoch:]version-release` too.
    pub fn provides(self, spec: &str) -> Self {
        self.dep(DepKind::Provides, spec, DependencyFlags::ANY)
    }

    pub fn conflicts(self, spec: &str) -> Self {
        self.dep(DepKind::Conflicts, spec, DependencyFlags::ANY)
    }

    pub fn obsoletes(self, spec: &str) -> Self {
        self.dep(DepKind::Obsoletes, spec, DependencyFlags::ANY)
    }

    pub fn recommends(self, spec: &str) -> Self {
        self.dep(DepKind::Recommends, spec, DependencyFlags::ANY)
    }

    pub fn suggests(self, spec: &str) -> Self {
        self.dep(DepKind::Suggests, spec, DependencyFlags::ANY)
    }

    pub fn supplements(self, spec: &str) -> Self {
        self.dep(DepKind::Supplements, spec, DependencyFlags::ANY)
    }

    pub fn enhances(self, spec: &str) -> Self {
        self.dep(DepKind::Enhances, spec, DependencyFlags::ANY)
    }

    /// A regular file, mode 0644 (0755 under a `bin/` directory), owned
    /// by root. `path` is absolute (`/usr/share/doc/x/README`).
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        let mode = if path.contains("bin/") { 0o755 } else { 0o644 };
        self.entries.push(Entry::File {
            path: path.to_string(),
            contents: contents.to_vec(),
            mode,
            config: false,
        });
        self
    }

    /// A `%config(noreplace)` file, mode 0644 (typically under `/etc`).
    pub fn config_file(mut self, path: &str, contents: &[u8]) -> Self {
        self.entries.push(Entry::File {
            path: path.to_string(),
            contents: contents.to_vec(),
            mode: 0o644,
            config: true,
        });
        self
    }

    /// A directory the package owns (`%dir`), mode 0755.
    pub fn dir(mut self, path: &str) -> Self {
        self.entries.push(Entry::Dir(path.to_string()));
        self
    }

    /// A `%ghost` file: listed, not in the payload.
    pub fn ghost(mut self, path: &str) -> Self {
        self.entries.push(Entry::Ghost(path.to_string()));
        self
    }

    /// A changelog entry. rpm lists the newest first: add them in that
    /// order. `author` is `Name <mail> - version-release`.
    pub fn changelog(mut self, author: &str, time: u32, text: &str) -> Self {
        self.changelog
            .push((author.to_string(), time, text.to_string()));
        self
    }

    /// Makes a source package: lead type 1, a SOURCEPACKAGE tag and no
    /// SOURCERPM.
    pub fn source(mut self) -> Self {
        self.source = true;
        self
    }

    /// Digests as rpm before 4.14 wrote them: no PAYLOADDIGEST in the main
    /// header, and a signature header with only SHA1 (269) of the header,
    /// MD5 (1004) of header and payload, and SIZE (1000).
    pub fn legacy_digests(mut self) -> Self {
        self.legacy_digests = true;
        self
    }

    /// After the build, sets main-header tag `tag` to `data` verbatim
    /// (e.g. `IndexData::StringTag("evil<name>".into())` for NAME, 1000),
    /// replacing what the build wrote, and recomputes the signature
    /// header. Nothing is validated.
    pub fn tag(mut self, tag: u32, data: IndexData) -> Self {
        self.overrides.push((tag, Some(data)));
        self
    }

    /// After the build, removes main-header tag `tag` (e.g. VERSION, 1001).
    pub fn without_tag(mut self, tag: u32) -> Self {
        self.overrides.push((tag, None));
        self
    }

    /// `name-version-release.arch.rpm` (`.src.rpm` for source packages),
    /// as rpmbuild names it.
    pub fn file_name(&self) -> String {
        let arch = if self.source { "src" } else { &self.arch };
        format!("{}-{}-{}.{arch}.rpm", self.name, self.version, self.release)
    }

    /// The .rpm bytes. Panics if the rpm crate refuses the metadata (an
    /// invalid name or version: use [`RpmBuilder::tag`] for those).
    pub fn build(&self) -> Vec<u8> {
        let config = rpm::BuildConfig::v4()
            .compression(CompressionWithLevel::Gzip(6))
            .source_date(MTIME as u32);
        let mut b = PackageBuilder::new(
            &self.name,
            &self.version,
            &self.license,
            &self.arch,
            &self.summary,
        );
        b.using_config(config)
            .release(&self.release)
            .description(&self.description)
            .build_host(&self.build_host);
        if let Some(e) = self.epoch {
            b.epoch(e);
        }
        if let Some(v) = &self.url {
            b.url(v);
        }
        if let Some(v) = &self.vendor {
            b.vendor(v);
        }
        if let Some(v) = &self.packager {
            b.packager(v);
        }
        if let Some(v) = &self.group {
            b.group(v);
        }
        for (kind, dep) in &self.deps {
            let dep = dep.clone();
            match kind {
                DepKind::Requires => b.requires(dep),
                DepKind::Provides => b.provides(dep),
                DepKind::Conflicts => b.conflicts(dep),
                DepKind::Obsoletes => b.obsoletes(dep),
                DepKind::Recommends => b.recommends(dep),
                DepKind::Suggests => b.suggests(dep),
                DepKind::Supplements => b.supplements(dep),
                DepKind::Enhances => b.enhances(dep),
            };
        }
        for entry in &self.entries {
            let r = match entry {
                Entry::File {
                    path,
                    contents,
                    mode,
                    config,
                } => {
                    let mut o = FileOptions::new(path)
                        .permissions(*mode)
                        .user("root")
                        .group("root");
                    if *config {
                        o = o.config().noreplace();
                    }
                    b.with_file_contents(contents.clone(), o)
                }
                Entry::Dir(path) => b.with_dir_entry(FileOptions::dir(path).permissions(0o755)),
                Entry::Ghost(path) => b.with_ghost(FileOptions::ghost(path)),
            };
            r.expect("the rpm crate accepts the file");
        }
        for (author, time, text) in &self.changelog {
            b.add_changelog_entry(author, text, *time);
        }
        let mut pkg = b.build().expect("the rpm crate builds the package");

        let mut overrides = self.overrides.clone();
        if self.source {
            overrides.push((IndexTag::RPMTAG_SOURCERPM as u32, None));
            overrides.push((
                IndexTag::RPMTAG_SOURCEPACKAGE as u32,
                Some(IndexData::Int32(vec![1])),
            ));
        }
        if self.legacy_digests {
            for tag in [5092, 5093, 5097] {
                overrides.push((tag, None));
            }
        }
        if !overrides.is_empty() {
            let mut entries: Vec<HeaderEntry> = pkg
                .metadata
                .header
                .get_all_entries()
                .expect("a header just built resolves")
                .into_iter()
                .filter(|(tag, _)| *tag != IndexTag::RPMTAG_HEADERIMMUTABLE as u32)
                .map(|(tag, data)| HeaderEntry::new(tag, data))
                .collect();
            for (tag, data) in overrides {
                entries.retain(|e| e.tag != tag);
                if let Some(data) = data {
                    entries.push(HeaderEntry::new(tag, data));
                }
            }
            pkg.metadata.header = Header::from_entries(entries, IndexTag::RPMTAG_HEADERIMMUTABLE);
            let header = pkg
                .metadata
                .header_bytes()
                .expect("a header serializes to memory");
            pkg.metadata.signature = SignatureHeaderBuilder::new()
                .format(RpmFormat::V4)
                .set_content_length((header.len() + pkg.payload.len()) as u64)
                .calculate_digests(&header)
                .build()
                .expect("a signature header builds");
        }
        if self.legacy_digests {
            let header = pkg
                .metadata
                .header_bytes()
                .expect("a header serializes to memory");
            let sha1 = match pkg.metadata.signature.entry(269u32) {
                Ok(IndexData::StringTag(s)) => s,
                other => panic!("the rpm crate wrote no SHA1: {other:?}"),
            };
            let mut md5 = Md5::new();
            md5.update(&header);
            md5.update(&pkg.payload);
            let entries = vec![
                HeaderEntry::new(269, IndexData::StringTag(sha1)),
                HeaderEntry::new(
                    1000,
                    IndexData::Int32(vec![(header.len() + pkg.payload.len()) as u32]),
                ),
                HeaderEntry::new(1004, IndexData::Bin(md5.finalize().to_vec())),
            ];
            pkg.metadata.signature =
                Header::from_entries(entries, IndexSignatureTag::HEADER_SIGNATURES);
        }
        let mut out = Vec::with_capacity(8192 + pkg.payload.len());
        pkg.write(&mut out).expect("writing to memory cannot fail");
        if self.source {
            out[7] = 1;
        }
        out
    }
}

/// `"name"`, `"name OP version"` or `"(rich dep)"`.
fn parse_dep(spec: &str) -> Dependency {
    let spec = spec.trim();
    if spec.starts_with('(') {
        return Dependency::any(spec);
    }
    let mut words = spec.split_whitespace();
    let name = words.next().unwrap_or_default();
    match (words.next(), words.next()) {
        (Some(op), Some(v)) => match op {
            "=" | "==" => Dependency::eq(name, v),
            "<" => Dependency::less(name, v),
            "<=" => Dependency::less_eq(name, v),
            ">" => Dependency::greater(name, v),
            ">=" => Dependency::greater_eq(name, v),
            _ => panic!("unknown dependency operator {op:?} in {spec:?}"),
        },
        _ => Dependency::any(name),
    }
}

/// Where the sections of an .rpm start, from the sizes in its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpmLayout {
    /// Always 96: the signature header follows the lead.
    pub signature: usize,
    /// The main header (after the signature header's padding).
    pub header: usize,
    /// The payload.
    pub payload: usize,
}

/// The [`RpmLayout`] of a well-formed .rpm. Panics on a file too short to
/// hold its headers.
pub fn rpm_layout(rpm: &[u8]) -> RpmLayout {
    let be = |at: usize| u32::from_be_bytes(rpm[at..at + 4].try_into().unwrap()) as usize;
    let signature = 96;
    let sig_len = 16 + be(signature + 8) * 16 + be(signature + 12);
    let header = signature + sig_len.next_multiple_of(8);
    let payload = header + 16 + be(header + 8) * 16 + be(header + 12);
    RpmLayout {
        signature,
        header,
        payload,
    }
}

/// Writes `n` distinct tiny rpms into `dir` (created if missing): package
/// `{prefix}{i}`, version `1.0`, release `1`, architecture `x86_64`, one
/// README each. Returns their paths in order. `prefix` should be a valid
/// start of an RPM package name (letters, digits, `._+-`).
pub fn write_rpm_corpus(dir: &Path, n: usize, prefix: &str) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let rpm = RpmBuilder::new(&name, "1.0", "1", "x86_64").file(
            &format!("/usr/share/doc/{name}/README"),
            format!("{name} is test package number {i}.\n").as_bytes(),
        );
        let path = dir.join(rpm.file_name());
        std::fs::write(&path, rpm.build())?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_package_the_rpm_crate_reads_back() {
        let bytes = RpmBuilder::new("hello", "2.10", "3", "x86_64")
            .epoch(2)
            .requires("beta >= 1:2.0-1")
            .requires_pre("/bin/sh")
            .provides("hello-cap = 7")
            .file("/usr/bin/hello", b"#!/bin/sh\n")
            .config_file("/etc/hello.conf", b"x=1\n")
            .dir("/etc/hello.d")
            .ghost("/var/log/hello.log")
            .changelog("T <t@x> - 2.10-3", 1_700_000_000, "- b")
            .changelog("T <t@x> - 2.10-2", 1_690_000_000, "- a")
            .build();
        let pkg = rpm::Package::parse(&mut &bytes[..]).unwrap();
        let m = &pkg.metadata;
        assert_eq!(m.get_name().unwrap(), "hello");
        assert_eq!(m.get_epoch().unwrap(), 2);
        assert_eq!(m.get_version().unwrap(), "2.10");
        assert_eq!(m.get_release().unwrap(), "3");
        assert_eq!(m.get_build_time().unwrap(), MTIME);
        assert!(!m.is_source_package());
        let paths = m.get_file_paths().unwrap();
        assert_eq!(paths.len(), 4);
        assert_eq!(m.get_changelog_entries().unwrap().len(), 2);
        pkg.verify_digests().unwrap();
        let layout = rpm_layout(&bytes);
        let offsets = m.get_package_segment_offsets();
        assert_eq!(layout.header as u64, offsets.header);
        assert_eq!(layout.payload as u64, offsets.payload);
    }

    #[test]
    fn builds_are_deterministic_and_name_files_like_rpmbuild() {
        let b = RpmBuilder::new("hello", "1.0", "1", "noarch").file("/usr/share/x", b"x");
        assert_eq!(b.build(), b.build());
        assert_eq!(b.file_name(), "hello-1.0-1.noarch.rpm");
        assert_eq!(b.clone().source().file_name(), "hello-1.0-1.src.rpm");
    }

    #[test]
    fn overrides_rewrite_the_header_and_its_digests() {
        let bytes = RpmBuilder::new("hello", "1.0", "1", "noarch")
            .tag(1000, IndexData::StringTag("other".into()))
            .source()
            .build();
        assert_eq!(bytes[7], 1);
        let pkg = rpm::Package::parse(&mut &bytes[..]).unwrap();
        assert_eq!(pkg.metadata.get_name().unwrap(), "other");
        assert!(pkg.metadata.is_source_package());
        pkg.verify_digests().unwrap();
    }

    #[test]
    fn legacy_digests_are_sha1_md5_and_size() {
        let bytes = RpmBuilder::new("old", "1.0", "1", "noarch")
            .file("/usr/share/old", b"x")
            .legacy_digests()
            .build();
        let pkg = rpm::Package::parse(&mut &bytes[..]).unwrap();
        assert!(!pkg.metadata.header.entry_is_present(5092u32));
        let tags: Vec<u32> = pkg
            .metadata
            .signature
            .get_all_entries()
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(tags, [62, 269, 1000, 1004]);
        let mut md5 = Md5::new();
        md5.update(&bytes[rpm_layout(&bytes).header..]);
        match pkg.metadata.signature.entry(1004u32).unwrap() {
            IndexData::Bin(b) => assert_eq!(b, md5.finalize().to_vec()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corpus_writes_distinct_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_rpm_corpus(dir.path(), 3, "pkg").unwrap();
        assert_eq!(paths.len(), 3);
        assert!(paths[1].ends_with("pkg1-1.0-1.x86_64.rpm"));
        let bytes: std::collections::BTreeSet<Vec<u8>> =
            paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(bytes.len(), 3);
    }
}
