//! Python distributions built in code: wheels laid out as `bdist_wheel`
//! writes them and sdists as `python -m build --sdist` does, deterministic
//! (fixed times, fixed order, fixed deflate level), so the same builder
//! always gives the same bytes.
//!
//! A wheel ([`WheelBuilder`], file name [`WheelBuilder::file_name`]) is a
//! zip of the module files (`{module}/__init__.py` by default), then
//! `{name}-{version}.dist-info/METADATA` (Metadata-Version 2.1: Name,
//! Version, Summary, Requires-Python, Requires-Dist, a description),
//! `WHEEL` (Wheel-Version 1.0, tag `py3-none-any`) and `RECORD` (one CSV
//! line per file, `path,sha256=<urlsafe base64 without padding>,size`,
//! and `RECORD,,` last). Members are deflated, except with
//! [`WheelBuilder::stored`]. Real pip installs them (see
//! `tests/pip.rs`).
//!
//! An sdist ([`SdistBuilder`]) is a gzip'd tar of `{name}-{version}/` with
//! `PKG-INFO`, `pyproject.toml` and the module.
//!
//! Nothing is validated: [`WheelBuilder::metadata_name`],
//! [`WheelBuilder::raw_metadata`], [`WheelBuilder::member`],
//! [`WheelBuilder::without`] and the raw [`zip_archive`] with its
//! [`ZipMember`] knobs write what they are given, so tests can craft
//! hostile wheels (a name that disagrees with METADATA, a bad zip, an
//! oversized METADATA) as easily as good ones.

use crate::{Compression, TarMember, tar_archive};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::Write;

/// 1980-01-01 00:00:00, the first DOS date (what reproducible wheel
/// builds write with `SOURCE_DATE_EPOCH` unset to the minimum).
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// One member of a zip written by [`zip_archive`], with the fields a
/// hostile test may want to get wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipMember {
    pub name: String,
    pub data: Vec<u8>,
    /// 0 (stored) or 8 (deflate); anything else is written as given, with
    /// the data stored.
    pub method: u16,
    /// General purpose flags (bit 0: encrypted).
    pub flags: u16,
    /// Written instead of the real CRC-32.
    pub crc: Option<u32>,
    /// Written in the local header instead of `name`.
    pub local_name: Option<String>,
}

impl ZipMember {
    /// A deflated member.
    pub fn new(name: &str, data: &[u8]) -> ZipMember {
        ZipMember {
            name: name.to_string(),
            data: data.to_vec(),
            method: 8,
            flags: 0,
            crc: None,
            local_name: None,
        }
    }
}

/// A zip archive of these members, in order: local headers and data,
/// the central directory, the end record (no comment). Times are
/// 1980-01-01 00:00; permissions 0644 (made by Unix).
pub fn zip_archive(members: &[ZipMember]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let mut crc = flate2::Crc::new();
        crc.update(&m.data);
        let crc = m.crc.unwrap_or(crc.sum());
        let packed = if m.method == 8 {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
            enc.write_all(&m.data)
                .expect("writing to memory cannot fail");
            enc.finish().expect("writing to memory cannot fail")
        } else {
            m.data.clone()
        };
        let offset = out.len() as u32;
        let local_name = m.local_name.as_deref().unwrap_or(&m.name);
        out.extend_from_slice(b"PK\x03\x04");
        for v in [20u16, m.flags, m.method, DOS_TIME, DOS_DATE] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, packed.len() as u32, m.data.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(local_name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(local_name.as_bytes());
        out.extend_from_slice(&packed);

        central.extend_from_slice(b"PK\x01\x02");
        for v in [0x031Eu16, 20, m.flags, m.method, DOS_TIME, DOS_DATE] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, packed.len() as u32, m.data.len() as u32] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        for v in [m.name.len() as u16, 0, 0, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&(0o100644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(m.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    let n = members.len() as u16;
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A project name as wheel and sdist file names write it: every run of
/// `-`, `_` and `.` as one `_`.
pub fn escape_name(name: &str) -> String {
    let mut out = String::new();
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('_');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// The import name of a project's default module: lowercase, `_` for
/// every run of `-`, `_`, `.`.
pub fn module_name(name: &str) -> String {
    escape_name(name).to_lowercase()
}

/// Builds a wheel in memory; see the module docs.
#[derive(Debug, Clone)]
pub struct WheelBuilder {
    name: String,
    version: String,
    metadata_name: Option<String>,
    metadata_version: Option<String>,
    summary: String,
    requires_python: Option<String>,
    requires_dist: Vec<String>,
    wheel_version: String,
    files: Vec<(String, Vec<u8>)>,
    extra: Vec<ZipMember>,
    raw_metadata: Option<Vec<u8>>,
    without: Vec<String>,
    method: u16,
}

impl WheelBuilder {
    /// A pure-Python wheel of `name` `version` holding
    /// `{module}/__init__.py` with `NAME = "{name}"` and
    /// `VERSION = "{version}"`.
    pub fn new(name: &str, version: &str) -> WheelBuilder {
        let init = format!("NAME = {name:?}\nVERSION = {version:?}\n");
        WheelBuilder {
            name: name.to_string(),
            version: version.to_string(),
            metadata_name: None,
            metadata_version: None,
            summary: format!("test package {name}"),
            requires_python: None,
            requires_dist: Vec::new(),
            wheel_version: "1.0".into(),
            files: vec![(
                format!("{}/__init__.py", module_name(name)),
                init.into_bytes(),
            )],
            extra: Vec::new(),
            raw_metadata: None,
            without: Vec::new(),
            method: 8,
        }
    }

    /// A `Requires-Dist` line (PEP 508: `other (>=1.0)`).
    pub fn requires_dist(mut self, req: &str) -> Self {
        self.requires_dist.push(req.to_string());
        self
    }

    pub fn requires_python(mut self, spec: &str) -> Self {
        self.requires_python = Some(spec.to_string());
        self
    }

    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_string();
        self
    }

    /// Adds (or replaces) an installed file, listed in RECORD.
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        self.files.retain(|(p, _)| p != path);
        self.files.push((path.to_string(), contents.to_vec()));
        self
    }

    /// `Name:` in METADATA, instead of the file name's.
    pub fn metadata_name(mut self, name: &str) -> Self {
        self.metadata_name = Some(name.to_string());
        self
    }

    /// `Version:` in METADATA, instead of the file name's.
    pub fn metadata_version(mut self, version: &str) -> Self {
        self.metadata_version = Some(version.to_string());
        self
    }

    /// `Wheel-Version:` in WHEEL.
    pub fn wheel_version(mut self, v: &str) -> Self {
        self.wheel_version = v.to_string();
        self
    }

    /// METADATA exactly as given.
    pub fn raw_metadata(mut self, bytes: &[u8]) -> Self {
        self.raw_metadata = Some(bytes.to_vec());
        self
    }

    /// A member not listed in RECORD, written after everything else.
    pub fn member(mut self, member: ZipMember) -> Self {
        self.extra.push(member);
        self
    }

    /// Leaves out the member whose path ends with `suffix` (`"/WHEEL"`).
    pub fn without(mut self, suffix: &str) -> Self {
        self.without.push(suffix.to_string());
        self
    }

    /// Every member stored, not deflated.
    pub fn stored(mut self) -> Self {
        self.method = 0;
        self
    }

    /// `{name}-{version}-py3-none-any.whl`, the name escaped.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-py3-none-any.whl",
            escape_name(&self.name),
            self.version.replace('-', "_")
        )
    }

    /// `{name}-{version}.dist-info`, the name escaped.
    pub fn dist_info(&self) -> String {
        format!(
            "{}-{}.dist-info",
            escape_name(&self.name),
            self.version.replace('-', "_")
        )
    }

    /// The METADATA bytes the wheel holds.
    pub fn metadata(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw_metadata {
            return raw.clone();
        }
        let mut m = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: {}\n",
            self.metadata_name.as_deref().unwrap_or(&self.name),
            self.metadata_version.as_deref().unwrap_or(&self.version),
            self.summary
        );
        if let Some(rp) = &self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for r in &self.requires_dist {
            m.push_str(&format!("Requires-Dist: {r}\n"));
        }
        m.push_str(&format!(
            "\n{} is a test package built by depot-testkit.\n",
            self.name
        ));
        m.into_bytes()
    }

    /// The members, in the order [`WheelBuilder::build`] writes them; edit
    /// them and pass them to [`zip_archive`] for a hostile zip.
    pub fn members(&self) -> Vec<ZipMember> {
        let di = self.dist_info();
        let wheel = format!(
            "Wheel-Version: {}\nGenerator: depot-testkit\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            self.wheel_version
        );
        let mut files: Vec<(String, Vec<u8>)> = self.files.clone();
        files.push((format!("{di}/METADATA"), self.metadata()));
        files.push((format!("{di}/WHEEL"), wheel.into_bytes()));
        let mut record = String::new();
        for (path, data) in &files {
            let digest =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
            record.push_str(&format!("{path},sha256={digest},{}\n", data.len()));
        }
        record.push_str(&format!("{di}/RECORD,,\n"));
        files.push((format!("{di}/RECORD"), record.into_bytes()));
        let mut members: Vec<ZipMember> = files
            .iter()
            .filter(|(p, _)| !self.without.iter().any(|s| p.ends_with(s.as_str())))
            .map(|(p, d)| ZipMember {
                method: self.method,
                ..ZipMember::new(p, d)
            })
            .collect();
        members.extend(self.extra.iter().cloned());
        members
    }

    pub fn build(&self) -> Vec<u8> {
        zip_archive(&self.members())
    }
}

/// Builds an sdist in memory; see the module docs.
#[derive(Debug, Clone)]
pub struct SdistBuilder {
    name: String,
    version: String,
    pkg_info: Option<Vec<u8>>,
    requires_python: Option<String>,
    extra: Vec<(String, Vec<u8>)>,
    without_pkg_info: bool,
    top: Option<String>,
}

impl SdistBuilder {
    pub fn new(name: &str, version: &str) -> SdistBuilder {
        SdistBuilder {
            name: name.to_string(),
            version: version.to_string(),
            pkg_info: None,
            requires_python: None,
            extra: Vec::new(),
            without_pkg_info: false,
            top: None,
        }
    }

    pub fn requires_python(mut self, spec: &str) -> Self {
        self.requires_python = Some(spec.to_string());
        self
    }

    /// PKG-INFO exactly as given.
    pub fn raw_pkg_info(mut self, bytes: &[u8]) -> Self {
        self.pkg_info = Some(bytes.to_vec());
        self
    }

    pub fn without_pkg_info(mut self) -> Self {
        self.without_pkg_info = true;
        self
    }

    /// A member at this path (not under the top directory unless the
    /// path says so).
    pub fn member(mut self, path: &str, contents: &[u8]) -> Self {
        self.extra.push((path.to_string(), contents.to_vec()));
        self
    }

    /// The top directory, instead of `{name}-{version}`.
    pub fn top(mut self, top: &str) -> Self {
        self.top = Some(top.to_string());
        self
    }

    /// `{name}-{version}.tar.gz`, the name escaped (PEP 625).
    pub fn file_name(&self) -> String {
        format!("{}-{}.tar.gz", escape_name(&self.name), self.version)
    }

    pub fn pkg_info(&self) -> Vec<u8> {
        if let Some(raw) = &self.pkg_info {
            return raw.clone();
        }
        let mut m = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: test package {}\n",
            self.name, self.version, self.name
        );
        if let Some(rp) = &self.requires_python {
            m.push_str(&format!("Requires-Python: {rp}\n"));
        }
        m.into_bytes()
    }

    pub fn build(&self) -> Vec<u8> {
        let top = self
            .top
            .clone()
            .unwrap_or_else(|| format!("{}-{}", escape_name(&self.name), self.version));
        let pkg_info = self.pkg_info();
        let pyproject = format!(
            "[project]\nname = {:?}\nversion = {:?}\n",
            self.name, self.version
        );
        let init = format!("NAME = {:?}\n", self.name);
        let module = format!("{top}/{}/__init__.py", module_name(&self.name));
        let (top_dir, pkg_path, pyproject_path) = (
            format!("{top}/"),
            format!("{top}/PKG-INFO"),
            format!("{top}/pyproject.toml"),
        );
        let mut members = vec![TarMember::Dir(&top_dir)];
        if !self.without_pkg_info {
            members.push(TarMember::File(&pkg_path, &pkg_info));
        }
        members.push(TarMember::File(&pyproject_path, pyproject.as_bytes()));
        members.push(TarMember::File(&module, init.as_bytes()));
        for (p, d) in &self.extra {
            members.push(TarMember::File(p, d));
        }
        Compression::Gzip.compress(&tar_archive(&members))
    }
}
