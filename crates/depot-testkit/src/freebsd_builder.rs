//! FreeBSD packages (`.pkg`) built in code, laid out as `pkg create`
//! writes them: a tar of `+COMPACT_MANIFEST`, `+MANIFEST` (both compact
//! JSON, one object) and the files by absolute path, compressed with zstd
//! (pkg's default since 1.17), xz, gzip, bzip2 ([`FreebsdBuilder::tbz`],
//! `pkg create -f tbz`) or not at all.
//!
//! [`FreebsdBuilder::expanded_manifest`] writes `+MANIFEST` as
//! `pkg create -e` does: in UCL's configuration syntax (libucl's
//! `UCL_EMIT_CONFIG`: `key = value;`, `key {`, `key [`, multi-line strings
//! as `<<EOD` heredocs, keys quoted only when they need it), with
//! `+COMPACT_MANIFEST` still compact JSON.
//!
//! The manifests hold name, origin, version, comment, maintainer, www,
//! abi, arch, prefix, flatsize, licenselogic, licenses, desc, deps,
//! categories, shlibs_required, shlibs_provided, options and annotations,
//! in pkg's key order; `+MANIFEST` adds `files` (`{path: "1$" + sha256}`)
//! and `directories`. Nothing is validated: [`FreebsdBuilder::set`],
//! [`FreebsdBuilder::remove`], [`FreebsdBuilder::raw_manifest`] and
//! [`FreebsdBuilder::member`] write what they are given.

use crate::{Compression, TarMember, tar_archive};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Builds a FreeBSD package in memory; see the module docs.
#[derive(Debug, Clone)]
pub struct FreebsdBuilder {
    name: String,
    version: String,
    abi: String,
    fields: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
    extra: Vec<(String, Vec<u8>)>,
    raw_manifest: Option<Vec<u8>>,
    compression: Compression,
    bzip2: bool,
    expanded: bool,
}

fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl FreebsdBuilder {
    /// A package `name` at `version` (`1.0_1`) for `abi`
    /// (`FreeBSD:14:amd64`, `FreeBSD:14:*`), with no files.
    pub fn new(name: &str, version: &str, abi: &str) -> Self {
        FreebsdBuilder {
            name: name.into(),
            version: version.into(),
            abi: abi.into(),
            fields: Vec::new(),
            files: Vec::new(),
            extra: Vec::new(),
            raw_manifest: None,
            compression: Compression::Zstd,
            bzip2: false,
            expanded: false,
        }
    }

    /// Sets a manifest key to a raw JSON value (`"\"text\""`, `"12"`,
    /// `"{...}"`), replacing the default one or adding it at the end.
    pub fn set(mut self, key: &str, raw_json: &str) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self.fields.push((key.into(), raw_json.into()));
        self
    }

    /// Leaves a key out of both manifests.
    pub fn remove(mut self, key: &str) -> Self {
        self.fields.retain(|(k, _)| k != key);
        self.fields.push((key.into(), String::new()));
        self
    }

    /// A dependency on `name` (origin `misc/{name}`, `version`).
    pub fn depends(self, name: &str, version: &str) -> Self {
        let mut deps = self.current("deps").unwrap_or_else(|| "{}".into());
        deps.pop();
        if deps.len() > 1 {
            deps.push(',');
        }
        deps.push_str(&format!(
            "{}:{{\"origin\":{},\"version\":{}}}}}",
            json(name),
            json(&format!("misc/{name}")),
            json(version)
        ));
        self.set("deps", &deps)
    }

    fn current(&self, key: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// A regular file, by absolute path (`/usr/local/bin/x`).
    pub fn file(mut self, path: &str, contents: &[u8]) -> Self {
        self.files.push((path.into(), contents.to_vec()));
        self
    }

    /// A raw tar member after the files (hostile names).
    pub fn member(mut self, path: &str, contents: &[u8]) -> Self {
        self.extra.push((path.into(), contents.to_vec()));
        self
    }

    /// Both manifests exactly as given.
    pub fn raw_manifest(mut self, bytes: &[u8]) -> Self {
        self.raw_manifest = Some(bytes.to_vec());
        self
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self.bzip2 = false;
        self
    }

    /// Compresses the package with bzip2 (`pkg create -f tbz`), at the
    /// fastest level, instead of [`FreebsdBuilder::compression`].
    pub fn tbz(mut self) -> Self {
        self.bzip2 = true;
        self
    }

    /// `+MANIFEST` in UCL's configuration syntax, as `pkg create -e`
    /// writes it (see the module docs).
    pub fn expanded_manifest(mut self) -> Self {
        self.expanded = true;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `{name}-{version}.pkg`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.pkg", self.name, self.version)
    }

    /// The manifest keys in pkg's order, as raw JSON values.
    fn keys(&self, full: bool) -> Vec<(String, String)> {
        let (os_ver, arch) = self.abi.rsplit_once(':').unwrap_or((&self.abi, ""));
        let altarch = match arch {
            "amd64" => "x86:64",
            "aarch64" => "aarch64:64",
            "i386" => "x86:32",
            a => a,
        };
        let flatsize: usize = self.files.iter().map(|(_, c)| c.len()).sum();
        let mut keys: Vec<(String, String)> = vec![
            ("name".into(), json(&self.name)),
            ("origin".into(), json(&format!("misc/{}", self.name))),
            ("version".into(), json(&self.version)),
            (
                "comment".into(),
                json(&format!("{} test package", self.name)),
            ),
            ("maintainer".into(), json("ports@FreeBSD.org")),
            ("www".into(), json("https://www.freebsd.org/")),
            ("abi".into(), json(&self.abi)),
            (
                "arch".into(),
                json(&format!("{}:{altarch}", os_ver.to_ascii_lowercase())),
            ),
            ("prefix".into(), json("/usr/local")),
            ("flatsize".into(), flatsize.to_string()),
            ("licenselogic".into(), json("single")),
            ("licenses".into(), "[\"BSD2CLAUSE\"]".into()),
            (
                "desc".into(),
                json(&format!(
                    "{}, a test package built by depot-testkit.\nSecond line.",
                    self.name
                )),
            ),
            ("categories".into(), "[\"misc\"]".into()),
            (
                "annotations".into(),
                "{\"FreeBSD_version\":\"1400097\"}".into(),
            ),
        ];
        for (k, v) in &self.fields {
            keys.retain(|(key, _)| key != k);
            if !v.is_empty() {
                keys.push((k.clone(), v.clone()));
            }
        }
        if full {
            let files: Vec<String> = self
                .files
                .iter()
                .map(|(p, c)| {
                    let h: [u8; 32] = Sha256::digest(c).into();
                    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
                    format!("{}:{}", json(p), json(&format!("1${hex}")))
                })
                .collect();
            keys.push(("files".into(), format!("{{{}}}", files.join(","))));
            keys.push(("directories".into(), "{}".into()));
        }
        keys
    }

    fn manifest(&self, full: bool) -> Vec<u8> {
        if let Some(raw) = &self.raw_manifest {
            return raw.clone();
        }
        let body: Vec<String> = self
            .keys(full)
            .iter()
            .map(|(k, v)| format!("{}:{v}", json(k)))
            .collect();
        format!("{{{}}}", body.join(",")).into_bytes()
    }

    /// `+COMPACT_MANIFEST`.
    pub fn compact_manifest(&self) -> Vec<u8> {
        self.manifest(false)
    }

    /// `+MANIFEST` (UCL after [`FreebsdBuilder::expanded_manifest`]).
    pub fn full_manifest(&self) -> Vec<u8> {
        let json = self.manifest(true);
        if !self.expanded || self.raw_manifest.is_some() {
            return json;
        }
        let value: Value = serde_json::from_slice(&json).expect("the builder writes JSON");
        let mut out = String::new();
        if let Value::Object(m) = &value {
            for (k, v) in m {
                ucl_pair(&mut out, k, v, 0);
            }
        }
        out.into_bytes()
    }

    /// The package file.
    pub fn build(&self) -> Vec<u8> {
        let compact = self.compact_manifest();
        let full = self.full_manifest();
        let mut members = vec![
            TarMember::FileMode("+COMPACT_MANIFEST", &compact, 0o644),
            TarMember::FileMode("+MANIFEST", &full, 0o644),
        ];
        members.extend(self.files.iter().map(|(p, c)| TarMember::File(p, c)));
        members.extend(self.extra.iter().map(|(p, c)| TarMember::File(p, c)));
        let tar = tar_archive(&members);
        if self.bzip2 {
            let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            enc.write_all(&tar).expect("writing to memory cannot fail");
            return enc.finish().expect("writing to memory cannot fail");
        }
        self.compression.compress(&tar)
    }
}

/// A key as libucl's configuration emitter writes it: bare when it is
/// letters, digits and `_-`, JSON-quoted otherwise.
fn ucl_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        json(k)
    }
}

/// One `key = value;` (or `key {...}`, `key [...]`) line, indented by
/// `depth` levels of four spaces.
fn ucl_pair(out: &mut String, k: &str, v: &Value, depth: usize) {
    out.push_str(&"    ".repeat(depth));
    out.push_str(&ucl_key(k));
    match v {
        Value::Object(_) | Value::Array(_) => out.push(' '),
        _ => out.push_str(" = "),
    }
    ucl_value(out, v, depth);
    match v {
        Value::Object(_) | Value::Array(_) => out.push('\n'),
        _ => out.push_str(";\n"),
    }
}

fn ucl_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Object(m) => {
            out.push_str("{\n");
            for (k, v) in m {
                ucl_pair(out, k, v, depth + 1);
            }
            out.push_str(&"    ".repeat(depth));
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for item in items {
                out.push_str(&"    ".repeat(depth + 1));
                ucl_value(out, item, depth + 1);
                out.push_str(",\n");
            }
            out.push_str(&"    ".repeat(depth));
            out.push(']');
        }
        Value::String(s) if s.contains('\n') => {
            out.push_str("<<EOD\n");
            out.push_str(s);
            out.push_str("\nEOD");
        }
        Value::String(s) => out.push_str(&json(s)),
        other => out.push_str(&other.to_string()),
    }
}
