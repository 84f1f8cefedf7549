//! depot-testkit: tiny but valid package files, built in code, for depot's
//! tests and benchmarks.
//!
//! # The .deb files [`DebBuilder`] writes
//!
//! A binary Debian package is an `ar` archive (magic `!<arch>\n`, then
//! members with 60-byte headers, each member padded to an even length) with
//! exactly three members, in this order, as `dpkg-deb --build` writes them:
//!
//! | member | content |
//! | --- | --- |
//! | `debian-binary` | the format version, `2.0\n` |
//! | `control.tar{,.gz,.xz,.zst}` | a tar of `./`, `./control` (the deb822 stanza), `./md5sums` and any maintainer scripts |
//! | `data.tar{,.gz,.xz,.zst}` | the files to install, as a tar rooted at `./` |
//!
//! Both tars are GNU tar format; every member name starts with `./`,
//! directories end with `/` and are listed before their contents (every
//! parent directory has its own entry), files are mode 0644, directories
//! 0755, owned by `root:root` (uid/gid 0), and every timestamp (tar and ar) is
//! [`MTIME`]. Gzip headers carry no name and no time. The same builder
//! therefore always produces the same bytes, which `dpkg-deb --info`,
//! `dpkg-deb --contents` and `dpkg --install` accept.
//!
//! Nothing is validated: [`DebBuilder::field`], [`DebBuilder::raw_control`]
//! and the raw helpers [`ar_archive`] and [`tar_archive`] write what they are
//! given, so tests can craft broken and hostile packages as easily as good
//! ones.
//!
//! # The .rpm files [`RpmBuilder`] writes
//!
//! See the [`rpm_builder`] module: binary or source packages over the `rpm`
//! crate's `PackageBuilder`, deterministic, with [`RpmBuilder::tag`] to
//! write hostile header tags and [`write_rpm_corpus`] for benchmarks.
//!
//! # The pacman packages [`PacmanBuilder`] writes
//!
//! See the [`pacman_builder`] module: `.pkg.tar.zst` (or `.xz`, `.gz`,
//! plain) laid out as makepkg does, with [`pacman_bomb`] and
//! [`write_pacman_corpus`] for bad-input tests and benchmarks.
//!
//! # The Alpine packages [`ApkBuilder`] writes
//!
//! See the [`apk_builder`] module: `.apk` v2 as abuild lays it out, with
//! [`apk_bomb`] for bad-input tests.
//!
//! # The FreeBSD packages [`FreebsdBuilder`] writes
//!
//! See the [`freebsd_builder`] module: `.pkg` as `pkg create` lays it out.
//!
//! # The Python packages [`WheelBuilder`] and [`SdistBuilder`] write
//!
//! See the [`pypi_builder`] module: wheels as `bdist_wheel` lays them out
//! (installable by pip) and sdists, with [`zip_archive`] for hostile zips.

pub mod apk_builder;
pub mod freebsd_builder;
pub mod pacman_builder;
pub mod pypi_builder;
pub mod rpm_builder;

pub use apk_builder::{ApkBuilder, apk_bomb};
pub use freebsd_builder::FreebsdBuilder;
pub use pacman_builder::{PacmanBuilder, pacman_bomb, write_pacman_corpus};
pub use pypi_builder::{SdistBuilder, WheelBuilder, ZipMember, zip_archive};
pub use rpm::IndexData;
pub use rpm_builder::{RpmBuilder, RpmLayout, rpm_layout, write_rpm_corpus};

use md5::{Digest, Md5};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The timestamp of every tar and ar member written here
/// (2023-11-14T22:13:20Z).
pub const MTIME: u64 = 1_700_000_000;

/// How a member of the .deb is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

impl Compression {
    /// Every variant, for tests that loop over them.
    pub const ALL: [Compression; 4] = [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
    ];

    /// The member name suffix: `""`, `".gz"`, `".xz"` or `".zst"`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Xz => ".xz",
            Compression::Zstd => ".zst",
        }
    }

    /// The name `dpkg-deb -Z` takes: `none`, `gzip`, `xz`, `zstd`.
    pub fn dpkg_name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses `data` (deterministically: gzip without name or time).
    /// Levels favour speed (gzip 6, xz 1, zstd 3): bomb fixtures of tens of
    /// MiB build in well under a second.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut enc = self.encoder(Vec::new());
        enc.write_all(data).expect("writing to memory cannot fail");
        enc.finish().expect("writing to memory cannot fail")
    }

    /// A streaming encoder writing into `out`, for data too large to hold in
    /// memory (decompression bomb fixtures). Call [`Encoder::finish`] at the
    /// end.
    pub fn encoder<W: Write>(self, out: W) -> Encoder<W> {
        match self {
            Compression::None => Encoder::None(out),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(out, 1)),
            Compression::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(out, 3).expect("zstd level 3 is valid"),
            ),
        }
    }
}

/// A compressing writer; see [`Compression::encoder`].
pub enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Xz(liblzma::write::XzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// Writes the compressed stream's trailer and returns the inner writer.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Builds a binary .deb in memory. See the crate docs for the layout.
///
/// ```
/// use depot_testkit::{Compression, DebBuilder};
/// let deb = DebBuilder::new("hello", "1:2.10-3", "amd64")
///     .depends("libc6 (>= 2.34)")
///     .file("usr/share/doc/hello/README", b"hi\n")
///     .control_compression(Compression::Xz);
/// assert_eq!(deb.file_name(), "hello_2.10-3_amd64.deb");
/// let bytes = deb.build();
/// assert!(bytes.starts_with(b"!<arch>\ndebian-binary   "));
/// ```
#[derive(Debug, Clone)]
pub struct DebBuilder {
    /// Control fields in order; `None` is a value computed at build time
    /// (only `Installed-Size`).
    fields: Vec<(String, Option<String>)>,
    /// data.tar files by normalised path (no leading `./` or `/`).
    files: BTreeMap<String, Vec<u8>>,
    /// Extra control.tar members (maintainer scripts, conffiles, ...).
    control_members: BTreeMap<String, Vec<u8>>,
    raw_control: Option<Vec<u8>>,
    control_compression: Compression,
    data_compression: Compression,
}

const INSTALLED_SIZE: &str = "Installed-Size";

impl DebBuilder {
    /// A package with the default control fields: Package, Version,
    /// Architecture, Maintainer, Installed-Size (computed from the files),
    /// Section, Priority and a two-line Description.
    pub fn new(name: &str, version: &str, arch: &str) -> Self {
        let fields = vec![
            ("Package".to_string(), Some(name.to_string())),
            ("Version".to_string(), Some(version.to_string())),
            ("Architecture".to_string(), Some(arch.to_string())),
            (
                "Maintainer".to_string(),
                Some("Depot Testkit <testkit@depot.invalid>".to_string()),
            ),
            (INSTALLED_SIZE.to_string(), None),
            ("Section".to_string(), Some("misc".to_string())),
            ("Priority".to_string(), Some("optional".to_string())),
            (
                "Description".to_string(),
                Some(format!(
                    "test package {name}\n Built in code by depot-testkit for depot's tests."
                )),
            ),
        ];
        DebBuilder {
            fields,
            files: BTreeMap::new(),
            control_members: BTreeMap::new(),
            raw_control: None,
            control_compression: Compression::Gzip,
            data_compression: Compression::Gzip,
        }
    }

    /// Sets a control field. An existing field of that name (compared
    /// case-insensitively) keeps its place and takes the new value; a new
    /// field goes just before `Description` (or last without one).
    ///
    /// The value is written verbatim after `Name: `: continuation lines must
    /// start with a space to be valid (`"short\n long line\n ."`), which
    /// also lets tests write invalid ones on purpose. A value starting with
    /// `\n` is written right after the colon.
    pub fn field(mut self, name: &str, value: &str) -> Self {
        if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            slot.1 = Some(value.to_string());
            return self;
        }
        let at = self
            .fields
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case("Description"))
            .unwrap_or(self.fields.len());
        self.fields
            .insert(at, (name.to_string(), Some(value.to_string())));
        self
    }

    /// Removes a control field (case-insensitive), e.g. to build a package
    /// without `Version`.
    pub fn without_field(mut self, name: &str) -> Self {
        self.fields.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    /// Sets `Depends`.
    pub fn depends(self, deps: &str) -> Self {
        self.field("Depends", deps)
    }

    /// Adds a file to data.tar, e.g. `usr/share/doc/hello/README` (a leading
    /// `./` or `/` is ignored). Parent directories get their own entries.
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        self.files
            .insert(normalise_member_path(path), contents.to_vec());
        self
    }

    /// Adds a member to control.tar next to `control` and `md5sums`, e.g.
    /// `postinst` (maintainer scripts get mode 0755, others 0644).
    pub fn control_member(mut self, name: &str, contents: &[u8]) -> Self {
        self.control_members
            .insert(normalise_member_path(name), contents.to_vec());
        self
    }

    /// Replaces the whole control file with these bytes (for hostile
    /// fixtures: invalid UTF-8, two stanzas, injected lines, ...). The
    /// fields set with [`DebBuilder::field`] are then ignored except for
    /// [`DebBuilder::file_name`].
    pub fn raw_control(mut self, control: &[u8]) -> Self {
        self.raw_control = Some(control.to_vec());
        self
    }

    /// Compression of control.tar (default gzip).
    pub fn control_compression(mut self, c: Compression) -> Self {
        self.control_compression = c;
        self
    }

    /// Compression of data.tar (default gzip).
    pub fn data_compression(mut self, c: Compression) -> Self {
        self.data_compression = c;
        self
    }

    /// The value of a control field as it will be written, if set.
    pub fn field_value(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone().unwrap_or_else(|| self.installed_size()))
    }

    /// The control file as it will be written.
    pub fn control_text(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw_control {
            return raw.clone();
        }
        let mut out = String::new();
        for (name, value) in &self.fields {
            let value = value.clone().unwrap_or_else(|| self.installed_size());
            out.push_str(name);
            out.push(':');
            if !value.is_empty() && !value.starts_with('\n') {
                out.push(' ');
            }
            out.push_str(&value);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// The uncompressed control.tar.
    pub fn control_tar(&self) -> Vec<u8> {
        let control = self.control_text();
        let md5sums = self.md5sums();
        let mut members = vec![TarMember::Dir("./"), TarMember::File("./control", &control)];
        if !self.files.is_empty() {
            members.push(TarMember::File("./md5sums", &md5sums));
        }
        let names: Vec<(String, &[u8], u32)> = self
            .control_members
            .iter()
            .map(|(name, data)| {
                let mode = if is_maintainer_script(name) {
                    0o755
                } else {
                    0o644
                };
                (format!("./{name}"), data.as_slice(), mode)
            })
            .collect();
        members.extend(
            names
                .iter()
                .map(|(name, data, mode)| TarMember::FileMode(name, data, *mode)),
        );
        tar_archive(&members)
    }

    /// The uncompressed data.tar.
    pub fn data_tar(&self) -> Vec<u8> {
        let mut dirs = BTreeSet::new();
        for path in self.files.keys() {
            let mut at = 0;
            while let Some(i) = path[at..].find('/') {
                dirs.insert(format!("./{}/", &path[..at + i]));
                at += i + 1;
            }
        }
        // "./a/" sorts before "./a/b" and "./a/b/", so parents come first.
        let mut entries: BTreeMap<String, Option<&[u8]>> = BTreeMap::new();
        entries.insert("./".to_string(), None);
        for d in dirs {
            entries.insert(d, None);
        }
        for (path, data) in &self.files {
            entries.insert(format!("./{path}"), Some(data));
        }
        let members: Vec<TarMember<'_>> = entries
            .iter()
            .map(|(path, data)| match data {
                None => TarMember::Dir(path),
                Some(d) => TarMember::File(path, d),
            })
            .collect();
        tar_archive(&members)
    }

    /// The .deb bytes: ar with `debian-binary` (`2.0\n`), `control.tar.X`
    /// and `data.tar.X`.
    pub fn build(&self) -> Vec<u8> {
        let control = self.control_compression.compress(&self.control_tar());
        let data = self.data_compression.compress(&self.data_tar());
        let control_name = format!("control.tar{}", self.control_compression.extension());
        let data_name = format!("data.tar{}", self.data_compression.extension());
        ar_archive(&[
            ("debian-binary", b"2.0\n"),
            (&control_name, &control),
            (&data_name, &data),
        ])
    }

    /// `{name}_{version without epoch}_{arch}.deb`, from the Package,
    /// Version and Architecture fields.
    pub fn file_name(&self) -> String {
        let name = self.field_value("Package").unwrap_or_default();
        let version = self.field_value("Version").unwrap_or_default();
        let arch = self.field_value("Architecture").unwrap_or_default();
        let version = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
        format!("{name}_{version}_{arch}.deb")
    }

    /// Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded
    /// up, plus one per directory.
    fn installed_size(&self) -> String {
        let files: u64 = self
            .files
            .values()
            .map(|d| (d.len() as u64).div_ceil(1024))
            .sum();
        let dirs = self
            .files
            .keys()
            .flat_map(|p| p.match_indices('/').map(move |(i, _)| &p[..i]))
            .collect::<BTreeSet<_>>()
            .len() as u64;
        (files + dirs).to_string()
    }

    fn md5sums(&self) -> Vec<u8> {
        let mut out = String::new();
        for (path, data) in &self.files {
            let digest = Md5::digest(data);
            for b in digest {
                out.push_str(&format!("{b:02x}"));
            }
            out.push_str("  ");
            out.push_str(path);
            out.push('\n');
        }
        out.into_bytes()
    }
}

fn normalise_member_path(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            return p.to_string();
        }
    }
}

fn is_maintainer_script(name: &str) -> bool {
    matches!(name, "preinst" | "postinst" | "prerm" | "postrm" | "config")
}

/// Writes `n` distinct tiny debs into `dir` (created if missing): package
/// `{prefix}{i}`, version `1.0-1`, architecture `amd64`, one README each.
/// Returns their paths in order. `prefix` should be a valid start of a
/// Debian package name (lowercase letters, digits, `+`, `-`, `.`).
pub fn write_deb_corpus(dir: &Path, n: usize, prefix: &str) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("{prefix}{i}");
        let deb = DebBuilder::new(&name, "1.0-1", "amd64").file(
            &format!("usr/share/doc/{name}/README"),
            format!("{name} is test package number {i}.\n").as_bytes(),
        );
        let path = dir.join(deb.file_name());
        std::fs::write(&path, deb.build())?;
        paths.push(path);
    }
    Ok(paths)
}

/// An ar archive of these members, in order, written verbatim (mode 100644,
/// owner 0:0, time [`MTIME`], odd-sized members padded with `\n`). Names up
/// to 16 bytes are stored in the header as dpkg-deb does.
pub fn ar_archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
        h.set_mode(0o100644);
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        b.append(&h, *data).expect("writing to memory cannot fail");
    }
    b.into_inner().expect("writing to memory cannot fail")
}

/// One member of [`tar_archive`]. Paths are written verbatim (no `./`
/// added or removed, `..` allowed), so hostile archives can be built.
#[derive(Debug, Clone, Copy)]
pub enum TarMember<'a> {
    /// A directory, mode 0755. dpkg-deb writes these with a trailing `/`.
    Dir(&'a str),
    /// A regular file, mode 0644.
    File(&'a str, &'a [u8]),
    /// A regular file with a given mode.
    FileMode(&'a str, &'a [u8], u32),
    /// A symbolic link to `target`.
    Symlink(&'a str, &'a str),
    /// A hard link to `target`.
    Hardlink(&'a str, &'a str),
}

/// A GNU tar of these members, in order, owned by root:root with time
/// [`MTIME`]. Names longer than 100 bytes get a GNU `././@LongLink` entry.
pub fn tar_archive(members: &[TarMember<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let (path, ty, mode, data, link): (&str, tar::EntryType, u32, &[u8], Option<&str>) =
            match *m {
                TarMember::Dir(p) => (p, tar::EntryType::Directory, 0o755, &[], None),
                TarMember::File(p, d) => (p, tar::EntryType::Regular, 0o644, d, None),
                TarMember::FileMode(p, d, mode) => (p, tar::EntryType::Regular, mode, d, None),
                TarMember::Symlink(p, t) => (p, tar::EntryType::Symlink, 0o777, &[], Some(t)),
                TarMember::Hardlink(p, t) => (p, tar::EntryType::Link, 0o644, &[], Some(t)),
            };
        if path.len() > 100 {
            let mut long = Vec::with_capacity(path.len() + 1);
            long.extend_from_slice(path.as_bytes());
            long.push(0);
            let mut h = tar_header(tar::EntryType::GNULongName, 0o644, long.len() as u64);
            h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            h.set_cksum();
            b.append(&h, long.as_slice())
                .expect("writing to memory cannot fail");
        }
        let mut h = tar_header(ty, mode, data.len() as u64);
        let n = path.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&path.as_bytes()[..n]);
        if let Some(target) = link {
            assert!(
                target.len() <= 100,
                "link targets over 100 bytes unsupported"
            );
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).expect("writing to memory cannot fail");
    }
    b.into_inner().expect("writing to memory cannot fail")
}

fn tar_header(ty: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(ty);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h.set_username("root").expect("short name fits");
    h.set_groupname("root").expect("short name fits");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_paths(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType, u32, u64)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn control_has_default_fields_in_order() {
        let d = DebBuilder::new("hello", "1.0-1", "amd64").file("usr/bin/hello", &[7; 3000]);
        let text = String::from_utf8(d.control_text()).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "Package",
                "Version",
                "Architecture",
                "Maintainer",
                "Installed-Size",
                "Section",
                "Priority",
                "Description"
            ]
        );
        // 3 KiB for the file, one per directory (usr, usr/bin).
        assert!(text.contains("Installed-Size: 5\n"), "{text}");
        assert!(text.contains("Description: test package hello\n Built in code"));
        assert!(text.ends_with(".\n"));
    }

    #[test]
    fn field_overrides_in_place_and_inserts_before_description() {
        let d = DebBuilder::new("hello", "1.0", "all")
            .field("section", "utils")
            .depends("libc6 (>= 2.34)")
            .field("X-Custom", "yes")
            .without_field("Priority");
        let text = String::from_utf8(d.control_text()).unwrap();
        assert!(text.contains("Installed-Size: 0\nSection: utils\nDepends: libc6 (>= 2.34)\nX-Custom: yes\nDescription:"), "{text}");
        assert!(!text.contains("Priority"));
    }

    #[test]
    fn data_tar_lists_parents_first_with_dot_slash_and_modes() {
        let d = DebBuilder::new("hello", "1.0", "all")
            .file("usr/share/doc/hello/README", b"hi\n")
            .file("/usr/bin/hello", b"#!/bin/sh\n");
        let entries = tar_paths(&d.data_tar());
        let paths: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "./",
                "./usr/",
                "./usr/bin/",
                "./usr/bin/hello",
                "./usr/share/",
                "./usr/share/doc/",
                "./usr/share/doc/hello/",
                "./usr/share/doc/hello/README"
            ]
        );
        for (path, ty, mode, mtime) in &entries {
            assert_eq!(*mtime, MTIME);
            if path.ends_with('/') {
                assert_eq!((*ty, *mode), (tar::EntryType::Directory, 0o755));
            } else {
                assert_eq!((*ty, *mode), (tar::EntryType::Regular, 0o644));
            }
        }
    }

    #[test]
    fn control_tar_has_control_md5sums_and_scripts() {
        let d = DebBuilder::new("hello", "1.0", "all")
            .file("usr/share/doc/hello/README", b"")
            .control_member("postinst", b"#!/bin/sh\nexit 0\n");
        let entries = tar_paths(&d.control_tar());
        let got: Vec<(&str, u32)> = entries.iter().map(|e| (e.0.as_str(), e.2)).collect();
        assert_eq!(
            got,
            [
                ("./", 0o755),
                ("./control", 0o644),
                ("./md5sums", 0o644),
                ("./postinst", 0o755)
            ]
        );
        let control_tar = d.control_tar();
        let mut a = tar::Archive::new(&control_tar[..]);
        let mut md5 = String::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path_bytes().as_ref() == b"./md5sums" {
                std::io::Read::read_to_string(&mut e, &mut md5).unwrap();
            }
        }
        assert_eq!(
            md5,
            "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/hello/README\n"
        );
    }

    #[test]
    fn build_is_deterministic_and_ar_layout_is_dpkgs() {
        for c in Compression::ALL {
            let d = DebBuilder::new("hello", "1.0", "amd64")
                .file("a/b", b"x")
                .control_compression(c)
                .data_compression(c);
            let a = d.build();
            assert_eq!(a, d.build(), "{c:?} not deterministic");
            assert!(a.starts_with(
                b"!<arch>\ndebian-binary   1700000000  0     0     100644  4         `\n2.0\n"
            ));
            let mut ar = ar::Archive::new(&a[..]);
            let mut names = Vec::new();
            while let Some(e) = ar.next_entry() {
                names.push(String::from_utf8(e.unwrap().header().identifier().to_vec()).unwrap());
            }
            let ext = c.extension();
            assert_eq!(
                names,
                [
                    "debian-binary".to_string(),
                    format!("control.tar{ext}"),
                    format!("data.tar{ext}")
                ]
            );
        }
    }

    #[test]
    fn file_name_drops_epoch() {
        assert_eq!(
            DebBuilder::new("hello", "2:1.0-1", "arm64").file_name(),
            "hello_1.0-1_arm64.deb"
        );
    }

    #[test]
    fn long_tar_names_use_gnu_longlink() {
        let long = format!("./{}", "d/".repeat(80) + "file");
        let t = tar_archive(&[TarMember::File(&long, b"x")]);
        let entries = tar_paths(&t);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].0, long);
    }

    #[test]
    fn corpus_writes_distinct_files() {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_deb_corpus(dir.path(), 3, "pkg").unwrap();
        assert_eq!(paths.len(), 3);
        assert!(paths[1].ends_with("pkg1_1.0-1_amd64.deb"));
        let bytes: BTreeSet<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert_eq!(bytes.len(), 3);
    }
}
