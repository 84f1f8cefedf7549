//! Alpine packages (`.apk` v2) built in code, laid out as abuild writes
//! them: an optional signature stream, the control stream and the data
//! stream, three gzip streams concatenated.
//!
//! | stream | content |
//! | --- | --- |
//! | signature (optional) | a tar segment of `.SIGN.RSA.{key}` members ([`ApkBuilder::signature`]) |
//! | control | a tar segment (end-of-archive blocks cut, as `abuild-tar --cut` does) of `.PKGINFO` and any scripts |
//! | data | a whole tar of every parent directory and the files, sorted |
//!
//! `.PKGINFO` is written in abuild's order with `datahash` = SHA-256 of
//! the data stream (unless [`ApkBuilder::without_datahash`]). Tar members
//! are GNU format, owned by root:root, time [`crate::MTIME`]; gzip
//! without name or time, so the same builder gives the same bytes.
//! Nothing is validated: [`ApkBuilder::raw_pkginfo`],
//! [`ApkBuilder::data_member`] and [`ApkBuilder::control_member`] write
//! what they are given.

use crate::{Compression, MTIME, TarMember, tar_archive};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;

/// Builds an Alpine package in memory; see the module docs.
#[derive(Debug, Clone)]
pub struct ApkBuilder {
    name: String,
    version: String,
    arch: String,
    fields: Vec<(String, String)>,
    desc: String,
    files: Vec<(String, Vec<u8>)>,
    data_extra: Vec<(String, Vec<u8>)>,
    control_extra: Vec<(String, Vec<u8>)>,
    signatures: Vec<(String, Vec<u8>)>,
    raw_pkginfo: Option<Vec<u8>>,
    datahash: bool,
    size: Option<u64>,
}

impl ApkBuilder {
    /// A package `name` at `version` (`1.0-r0`) for `arch` (`x86_64`,
    /// `noarch`, ...), with a one-line description and no files.
    pub fn new(name: &str, version: &str, arch: &str) -> Self {
        ApkBuilder {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            fields: Vec::new(),
            desc: format!("{name}, a test package built by depot-testkit"),
            files: Vec::new(),
            data_extra: Vec::new(),
            control_extra: Vec::new(),
            signatures: Vec::new(),
            raw_pkginfo: None,
            datahash: true,
            size: None,
        }
    }

    pub fn desc(mut self, d: &str) -> Self {
        self.desc = d.into();
        self
    }

    /// Any `.PKGINFO` key (`url`, `license`, `origin`, `maintainer`,
    /// `commit`, `depend`, `provides`, `install_if`, `provider_priority`,
    /// ...), written after the fixed keys in call order; repeatable.
    pub fn field(mut self, key: &str, value: &str) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }

    pub fn depends(self, d: &str) -> Self {
        self.field("depend", d)
    }

    pub fn provides(self, p: &str) -> Self {
        self.field("provides", p)
    }

    /// A regular file (mode 0644) in the data tar; parent directories are
    /// added.
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        self.files.push((path.into(), contents.to_vec()));
        self
    }

    /// A raw member of the data tar, written as given after the files
    /// (hostile names).
    pub fn data_member(mut self, path: &str, contents: &[u8]) -> Self {
        self.data_extra.push((path.into(), contents.to_vec()));
        self
    }

    /// A member of the control segment after `.PKGINFO` (`.post-install`).
    pub fn control_member(mut self, name: &str, contents: &[u8]) -> Self {
        self.control_extra.push((name.into(), contents.to_vec()));
        self
    }

    /// A signature stream with this member (`.SIGN.RSA.key.rsa.pub`) and
    /// bytes (not checked by depot).
    pub fn signature(mut self, member: &str, bytes: &[u8]) -> Self {
        self.signatures.push((member.into(), bytes.to_vec()));
        self
    }

    /// `.PKGINFO` exactly as given.
    pub fn raw_pkginfo(mut self, bytes: &[u8]) -> Self {
        self.raw_pkginfo = Some(bytes.to_vec());
        self
    }

    /// No `datahash` line.
    pub fn without_datahash(mut self) -> Self {
        self.datahash = false;
        self
    }

    /// `size` (installed bytes) instead of the sum of the files.
    pub fn size(mut self, n: u64) -> Self {
        self.size = Some(n);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `{name}-{version}.apk`, as apk fetches it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }

    /// The data stream (gzip'd tar).
    pub fn data_stream(&self) -> Vec<u8> {
        let mut dirs = BTreeSet::new();
        for (p, _) in &self.files {
            let mut acc = String::new();
            let parts: Vec<&str> = p.split('/').collect();
            for part in &parts[..parts.len().saturating_sub(1)] {
                acc.push_str(part);
                acc.push('/');
                dirs.insert(acc.clone());
            }
        }
        let mut files: Vec<&(String, Vec<u8>)> = self.files.iter().collect();
        files.sort();
        let mut members: Vec<TarMember<'_>> = dirs.iter().map(|d| TarMember::Dir(d)).collect();
        members.extend(files.iter().map(|(p, c)| TarMember::File(p, c)));
        members.extend(self.data_extra.iter().map(|(p, c)| TarMember::File(p, c)));
        Compression::Gzip.compress(&tar_archive(&members))
    }

    /// The `.PKGINFO` text.
    pub fn pkginfo(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw_pkginfo {
            return raw.clone();
        }
        let size = self
            .size
            .unwrap_or_else(|| self.files.iter().map(|(_, c)| c.len() as u64).sum());
        let mut s = String::new();
        s.push_str("# Generated by abuild 3.13.0-r3\n# using fakeroot version 1.32.1\n");
        s.push_str(&format!(
            "pkgname = {}\npkgver = {}\npkgdesc = {}\nbuilddate = {MTIME}\n\
             packager = Buildozer <alpine-devel@lists.alpinelinux.org>\nsize = {size}\narch = {}\n",
            self.name, self.version, self.desc, self.arch
        ));
        for (k, v) in &self.fields {
            s.push_str(&format!("{k} = {v}\n"));
        }
        if self.datahash {
            let hash: [u8; 32] = Sha256::digest(self.data_stream()).into();
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            s.push_str(&format!("datahash = {hex}\n"));
        }
        s.into_bytes()
    }

    /// The control stream (gzip'd tar segment): its SHA-1 is the index's
    /// `C:`.
    pub fn control_stream(&self) -> Vec<u8> {
        let pkginfo = self.pkginfo();
        let mut members = vec![TarMember::File(".PKGINFO", &pkginfo)];
        members.extend(
            self.control_extra
                .iter()
                .map(|(n, c)| TarMember::FileMode(n, c, 0o755)),
        );
        Compression::Gzip.compress(&cut(tar_archive(&members)))
    }

    /// The package file.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.signatures.is_empty() {
            let members: Vec<TarMember<'_>> = self
                .signatures
                .iter()
                .map(|(n, c)| TarMember::File(n, c))
                .collect();
            out.extend(Compression::Gzip.compress(&cut(tar_archive(&members))));
        }
        out.extend(self.control_stream());
        out.extend(self.data_stream());
        out
    }
}

/// A tar archive without its two end-of-archive blocks (a segment).
fn cut(mut tar: Vec<u8>) -> Vec<u8> {
    tar.truncate(tar.len() - 1024);
    tar
}

/// An `.apk` whose data stream unpacks to `unpacked` zero bytes (a
/// decompression bomb), written without holding it in memory.
pub fn apk_bomb(unpacked: u64) -> Vec<u8> {
    let b = ApkBuilder::new("bomb", "1.0-r0", "noarch").without_datahash();
    let mut out = b.control_stream();
    let mut enc = Compression::Gzip.encoder(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("usr/share/zeros").expect("short path");
    h.set_size(unpacked);
    h.set_mode(0o644);
    h.set_mtime(MTIME);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    enc.write_all(h.as_bytes())
        .expect("writing to memory cannot fail");
    let zeros = vec![0u8; 1 << 20];
    let mut left = unpacked.div_ceil(512) * 512 + 1024;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        enc.write_all(&zeros[..n])
            .expect("writing to memory cannot fail");
        left -= n as u64;
    }
    out.extend(enc.finish().expect("writing to memory cannot fail"));
    out
}
