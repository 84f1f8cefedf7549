//! FreeBSD packages (`.pkg`, as `pkg create` writes them) and their
//! repository catalogue (what `pkg repo` writes).
//!
//! # On-disk layout (pkg 1.17 and later)
//!
//! ```text
//! foo-1.0.pkg            a tar compressed with zstd (pkg's default), xz, gzip or bzip2
//!                        (older packages: .txz), or not at all:
//! ├ +COMPACT_MANIFEST    the manifest without files, directories and scripts: one JSON
//! │                      object (pkg writes UCL's compact JSON; a manifest emitted as
//! │                      UCL's own syntax is read too, see [`ucl`]): name, origin, version,
//! │                      comment, maintainer, www, abi ("FreeBSD:14:amd64", "FreeBSD:14:*"
//! │                      for architecture-independent packages), arch ("freebsd:14:x86:64"),
//! │                      prefix, flatsize, licenselogic, licenses, desc, deps {name: {origin,
//! │                      version}}, categories, shlibs_required, shlibs_provided, options,
//! │                      annotations, ...
//! ├ +MANIFEST            the same plus files {path: "1$sha256"}, directories, scripts
//! └ /usr/local/bin/foo   the files, by absolute path
//!
//! repository ({url} = .../${ABI})
//! meta.conf, meta        the repository's meta file (UCL): version 2, packing format,
//!                        the names of the catalogue files (no `filesite`: depot keeps
//!                        no file lists, see [`meta_conf`])
//! packagesite.pkg        a compressed tar (also served as packagesite.txz for pkg < 1.17) of:
//! ├ signature            RSA PKCS#1 v1.5 signature over SHA-256 of the hex SHA-256 of
//! │                      packagesite.yaml, plus one NUL byte (signature_type "pubkey":
//! │                      pkg drops the last byte, as it always has)
//! ├ packagesite.yaml.sig the same signature without the NUL, and
//! ├ packagesite.yaml.pub the public key (PEM), for signature_type "fingerprints"
//! └ packagesite.yaml     one compact manifest per line (JSON) plus "sum" (SHA-256 hex of
//!                        the package file), "pkgsize", "path" and "repopath" (All/{file})
//! data.pkg               the same archive around "data": {"groups": [], "expired_packages":
//!                        [], "packages": [the same objects]} (pkg 2.x reads it)
//! All/{name}-{version}.pkg  the packages
//! ```
//!
//! # What [`inspect`] does
//!
//! It reads the file once, front to back: the compression is recognised
//! by its magic; the decompressed tar goes through a counter that stops at
//! [`Limits::max_unpacked`] bytes (and at [`Limits::max_ratio`] times the
//! compressed size once past [`Limits::ratio_floor`]); every member name is
//! checked (UTF-8, no control characters, no `..` component; absolute
//! paths are what pkg writes); `+COMPACT_MANIFEST` and `+MANIFEST` (at
//! most [`Limits::max_manifest`] bytes each, at least one of them) are
//! parsed as JSON or, when they are not JSON, as UCL (the subset pkg
//! emits, read by [`ucl`] into the same JSON value) and must agree on name
//! and version; the fields pkg requires (name, version, origin, comment,
//! desc, maintainer, www, prefix) and an ABI must be there and valid; no
//! path in the manifest may have a `..` component. The tar must end with
//! its end-of-archive blocks. bzip2 (`pkg create -f tbz`) is decoded like
//! the others, through the same size and ratio guard.

use crate::FormatError;
use crate::archive::{Bounded, Bounds, check_entry, human};
use crate::deb822::clip;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub mod ucl;
pub mod version;

/// Size limits for [`inspect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The decompressed tar, in bytes.
    pub max_unpacked: u64,
    pub max_ratio: u64,
    pub ratio_floor: u64,
    /// `+COMPACT_MANIFEST` and `+MANIFEST`, each.
    pub max_manifest: u64,
    /// Members of the tar.
    pub max_files: u64,
}

impl Default for Limits {
    /// 16 GiB unpacked, past the first 256 MiB at most 1,000 times the
    /// compressed size; 64 MiB per manifest; 1,000,000 members.
    fn default() -> Self {
        Limits {
            max_unpacked: 16 << 30,
            max_ratio: 1000,
            ratio_floor: 256 << 20,
            max_manifest: 64 << 20,
            max_files: 1_000_000,
        }
    }
}

/// What [`inspect`] read from a package.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreebsdInfo {
    pub name: String,
    pub version: String,
    pub origin: String,
    pub comment: String,
    pub maintainer: String,
    pub www: String,
    pub prefix: String,
    /// `abi` (`FreeBSD:14:amd64`; `FreeBSD:14:*` for any architecture).
    pub abi: String,
    pub flatsize: u64,
    /// The compact manifest as read (from `+COMPACT_MANIFEST`, or
    /// `+MANIFEST` without its files, directories and scripts): what the
    /// catalogue lists.
    pub compact: Map<String, Value>,
    /// Members of the tar.
    pub file_count: u64,
}

/// The keys of `+MANIFEST` that the compact manifest leaves out.
const NOT_COMPACT: [&str; 6] = [
    "files",
    "directories",
    "scripts",
    "lua_scripts",
    "config",
    "dirs",
];

/// True for a name ending in `.pkg` (with something before it). Older
/// packages' `.txz` is left to the content: it names any xz'd tar too.
pub fn is_package_name(filename: &str) -> bool {
    filename.len() > 4 && filename.to_ascii_lowercase().ends_with(".pkg")
}

/// The file name a package is served under: `{name}-{version}.pkg`.
pub fn file_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.pkg")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Zstd,
    Xz,
    Gzip,
    Bzip2,
    Tar,
}

fn sniff(head: &[u8]) -> Result<Kind, FormatError> {
    for (magic, kind, name) in [
        (&b"\x28\xb5\x2f\xfd"[..], Kind::Zstd, "zstd"),
        (b"\xfd7zXZ\x00", Kind::Xz, "xz"),
        (b"\x1f\x8b", Kind::Gzip, "gzip"),
        (b"BZh", Kind::Bzip2, "bzip2"),
    ] {
        if head.starts_with(magic) {
            return Ok(kind);
        }
        if head.len() < magic.len() && magic.starts_with(head) {
            return Err(FormatError::Truncated(format!(
                "the file ends after {} bytes, inside the {name} magic",
                head.len()
            )));
        }
    }
    if head.get(257..262) == Some(b"ustar") {
        return Ok(Kind::Tar);
    }
    if head.len() < 512 && head.iter().all(|&b| b == 0) {
        return Err(FormatError::Truncated(
            "the file ends inside the first tar header".into(),
        ));
    }
    Err(FormatError::NotAnArchive(
        "not a FreeBSD package: a .pkg is a tar compressed with zstd, xz, gzip or bzip2 (or \
         not at all), and none of those magic numbers is at its start"
            .into(),
    ))
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads and validates a `.pkg`; see the module docs.
pub fn inspect<R: Read>(reader: R, limits: &Limits) -> Result<FreebsdInfo, FormatError> {
    let count = Arc::new(AtomicU64::new(0));
    let mut input = BufReader::with_capacity(
        crate::archive::READ_BUFFER,
        Counting {
            inner: reader,
            count: count.clone(),
        },
    );
    let head = input.fill_buf()?;
    if head.is_empty() {
        return Err(FormatError::NotAnArchive(
            "the file is empty, not a FreeBSD package".into(),
        ));
    }
    let kind = sniff(head)?;
    let decoded: Box<dyn Read> = match kind {
        Kind::Tar => Box::new(input),
        Kind::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Kind::Xz => Box::new(liblzma::bufread::XzDecoder::new_stream(
            input,
            liblzma::stream::Stream::new_stream_decoder(128 << 20, liblzma::stream::CONCATENATED)
                .map_err(|e| FormatError::Invalid(format!("xz: {e}")))?,
        )),
        Kind::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(input)?;
            // 2^27 (128 MiB): the decoder allocates the window a frame
            // header declares before reading data; 2^31 let a few bytes
            // allocate 2 GiB (found by fuzzing pacman's reader, the same code).
            d.window_log_max(27)?;
            Box::new(d)
        }
        // pkg create -f tbz. bzip2 blocks are at most 900 kB, so the
        // decoder's own memory is bounded; its output goes through the
        // same `Bounded` guard as the other codecs.
        Kind::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(input)),
    };
    let bounds = Bounds {
        max_unpacked: limits.max_unpacked,
        max_ratio: limits.max_ratio,
        ratio_floor: limits.ratio_floor,
    };
    let mut bounded = Bounded::new(decoded, count, bounds, "the package");
    let scanned = scan(&mut bounded, limits);
    match scanned {
        Ok(info) => Ok(info),
        Err(_) if bounded.exceeded.is_some() => {
            Err(FormatError::TooLarge(bounded.exceeded.unwrap_or_default()))
        }
        Err(Scan::Format(e)) => Err(e),
        Err(Scan::Io(e)) if truncation(&e) => Err(FormatError::Truncated(format!(
            "the package ends early: {e}"
        ))),
        Err(Scan::Io(e)) => Err(FormatError::Invalid(format!(
            "the package's compressed stream or tar is corrupt: {e}"
        ))),
    }
}

/// Whether a decoder or tar error means the input stopped early.
fn truncation(e: &io::Error) -> bool {
    let msg = e.to_string().to_ascii_lowercase();
    e.kind() == io::ErrorKind::UnexpectedEof
        || ["eof", "incomplete", "unexpected end", "truncated"]
            .iter()
            .any(|w| msg.contains(w))
}

enum Scan {
    Io(io::Error),
    Format(FormatError),
}

impl From<io::Error> for Scan {
    fn from(e: io::Error) -> Self {
        Scan::Io(e)
    }
}

impl From<FormatError> for Scan {
    fn from(e: FormatError) -> Self {
        Scan::Format(e)
    }
}

fn scan<R: Read>(r: &mut R, limits: &Limits) -> Result<FreebsdInfo, Scan> {
    let mut compact: Option<Vec<u8>> = None;
    let mut full: Option<Vec<u8>> = None;
    let mut members = 0u64;
    let mut total = 0u64;
    let mut tail = Vec::with_capacity(1024);
    {
        let mut tracked = Track {
            inner: &mut *r,
            total: &mut total,
            tail: &mut tail,
        };
        let mut archive = tar::Archive::new(&mut tracked);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
            ) {
                continue;
            }
            members += 1;
            if members > limits.max_files {
                return Err(Scan::Format(FormatError::TooLarge(format!(
                    "the package has more than {} members",
                    limits.max_files
                ))));
            }
            let name = check_entry(&entry, members, true)?;
            let slot = match name.trim_start_matches("./") {
                "+COMPACT_MANIFEST" => Some(&mut compact),
                "+MANIFEST" => Some(&mut full),
                _ => None,
            };
            if let Some(slot) = slot {
                if slot.is_some() {
                    return Err(Scan::Format(FormatError::Invalid(format!(
                        "the package has two {name} members"
                    ))));
                }
                if entry.size() > limits.max_manifest {
                    return Err(Scan::Format(FormatError::TooLarge(format!(
                        "{name} is {} bytes, over the {} limit",
                        entry.size(),
                        human(limits.max_manifest)
                    ))));
                }
                let mut buf = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut buf)?;
                *slot = Some(buf);
            }
        }
        let mut sink = [0u8; 8192];
        loop {
            let n = tracked.read(&mut sink)?;
            if n == 0 {
                break;
            }
            if sink[..n].iter().any(|&b| b != 0) {
                return Err(Scan::Format(FormatError::Invalid(
                    "the package has data after its tar's end-of-archive blocks".into(),
                )));
            }
        }
    }
    let ended = total.is_multiple_of(512)
        && tail.len() >= 1024
        && tail[tail.len() - 1024..].iter().all(|&b| b == 0);
    if !ended {
        return Err(Scan::Format(FormatError::Truncated(
            "the package ends early: its tar has no end-of-archive blocks".into(),
        )));
    }
    let parse = |bytes: &[u8], what: &str| -> Result<Map<String, Value>, FormatError> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(FormatError::Invalid(format!("{what} is not a JSON object"))),
            // Not JSON: UCL's own syntax, as pkg emits a manifest in UCL.
            Err(json) => ucl::parse(bytes).map_err(|e| {
                FormatError::Invalid(format!(
                    "{what} is neither JSON ({json}) nor UCL ({e}); depot reads the JSON and \
                     UCL manifests pkg writes"
                ))
            }),
        }
    };
    let full = full.map(|b| parse(&b, "+MANIFEST")).transpose()?;
    let compact = match (compact, &full) {
        (Some(b), _) => parse(&b, "+COMPACT_MANIFEST")?,
        (None, Some(f)) => {
            let mut c = f.clone();
            for k in NOT_COMPACT {
                c.remove(k);
            }
            c
        }
        (None, None) => {
            return Err(Scan::Format(FormatError::Invalid(
                "the package has no +COMPACT_MANIFEST or +MANIFEST (is it a FreeBSD package?)"
                    .into(),
            )));
        }
    };
    let mut info = from_manifest(compact)?;
    if let Some(full) = &full {
        for key in ["name", "version"] {
            if full.get(key) != info.compact.get(key) {
                return Err(Scan::Format(FormatError::Invalid(format!(
                    "+MANIFEST and +COMPACT_MANIFEST disagree on '{key}'"
                ))));
            }
        }
        for key in ["files", "directories"] {
            if let Some(Value::Object(paths)) = full.get(key) {
                for p in paths.keys() {
                    check_manifest_path(p)?;
                }
            }
        }
    }
    info.file_count = members;
    Ok(info)
}

struct Track<'a, R> {
    inner: &'a mut R,
    total: &'a mut u64,
    tail: &'a mut Vec<u8>,
}

impl<R: Read> Read for Track<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.total += n as u64;
        self.tail.extend_from_slice(&buf[..n]);
        if self.tail.len() > 2048 {
            let cut = self.tail.len() - 1024;
            self.tail.drain(..cut);
        }
        Ok(n)
    }
}

fn check_manifest_path(p: &str) -> Result<(), FormatError> {
    if p.split('/').any(|s| s == "..") || p.chars().any(|c| c.is_control()) {
        return Err(FormatError::Invalid(format!(
            "the manifest lists the path '{}', with a '..' component or a control character \
             (path traversal)",
            clip(p)
        )));
    }
    Ok(())
}

/// Reads and validates the fields depot and pkg need from a compact
/// manifest.
pub fn from_manifest(compact: Map<String, Value>) -> Result<FreebsdInfo, FormatError> {
    let text = |key: &str, required: bool| -> Result<String, FormatError> {
        match compact.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) | None if !required => Ok(String::new()),
            Some(Value::String(_)) | None => Err(FormatError::Invalid(format!(
                "the manifest has no '{key}' (pkg needs name, version, origin, comment, desc, \
                 maintainer, www and prefix)"
            ))),
            Some(other) => Err(FormatError::Invalid(format!(
                "the manifest's '{key}' is not a string: {}",
                clip(&other.to_string())
            ))),
        }
    };
    let name = text("name", true)?;
    let version = text("version", true)?;
    let origin = text("origin", true)?;
    let comment = text("comment", true)?;
    text("desc", true)?;
    let maintainer = text("maintainer", true)?;
    let www = text("www", true)?;
    let prefix = text("prefix", true)?;
    let abi = match text("abi", false)? {
        a if !a.is_empty() => a,
        _ => text("arch", false)?,
    };
    if abi.is_empty() {
        return Err(FormatError::Invalid(
            "the manifest has no 'abi' (or 'arch'), so depot cannot tell which ABI it is for"
                .into(),
        ));
    }
    validate_name(&name).map_err(|why| {
        FormatError::Invalid(format!(
            "name '{}' is not a valid package name: {why}",
            clip(&name)
        ))
    })?;
    validate_version(&version).map_err(|why| {
        FormatError::Invalid(format!(
            "version '{}' is not a valid pkg version: {why}",
            clip(&version)
        ))
    })?;
    validate_abi(&abi)
        .map_err(|why| FormatError::Invalid(format!("abi '{}' is not valid: {why}", clip(&abi))))?;
    for (key, value) in [
        ("origin", &origin),
        ("comment", &comment),
        ("maintainer", &maintainer),
        ("www", &www),
        ("prefix", &prefix),
    ] {
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(FormatError::Invalid(format!(
                "the manifest's '{key}' has a control character {c:?}"
            )));
        }
    }
    check_manifest_path(&prefix)?;
    let flatsize = match compact.get("flatsize") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            FormatError::Invalid(format!(
                "the manifest's flatsize is not a number: {}",
                clip(&v.to_string())
            ))
        })?,
    };
    Ok(FreebsdInfo {
        name,
        version,
        origin,
        comment,
        maintainer,
        www,
        prefix,
        abi,
        flatsize,
        compact,
        file_count: 0,
    })
}

/// A package name: ASCII letters, digits and `._+@-`, starting with a
/// letter or digit, at most 255 bytes.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit".into());
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "._+@-".contains(c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (only letters, digits and . _ + @ -)"
        ));
    }
    Ok(())
}

/// A version as the ports tree writes it: `{version}[_{revision}][,{epoch}]`,
/// ASCII letters, digits and `._+,~`, starting with a letter or digit, no
/// `-`.
pub fn validate_version(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("must start with a letter or digit".into());
    }
    if let Some(c) = v
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || "._+,~".contains(c)))
    {
        return Err(format!(
            "character {c:?} is not allowed (only letters, digits and . _ + , ~)"
        ));
    }
    Ok(())
}

/// An ABI: `OS:VERSION:ARCH` (`FreeBSD:14:amd64`, `FreeBSD:14:*`), or
/// more colon-separated parts; letters, digits and `._-`, `*` alone as
/// the last part.
pub fn validate_abi(abi: &str) -> Result<(), String> {
    let parts: Vec<&str> = abi.split(':').collect();
    if parts.len() < 3 || abi.len() > 64 {
        return Err("must be OS:VERSION:ARCH, at most 64 characters".into());
    }
    for (i, p) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let ok = !p.is_empty()
            && (*p == "*" && last
                || p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)));
        if !ok {
            return Err(format!(
                "part '{}' may only contain letters, digits and . _ - ('*' alone as the \
                 architecture)",
                clip(p)
            ));
        }
    }
    Ok(())
}

/// `(OS:VERSION, ARCH)` of an ABI.
pub fn split_abi(abi: &str) -> (&str, &str) {
    abi.rsplit_once(':').unwrap_or((abi, ""))
}

/// A package's line in `packagesite.yaml` (without the newline): the
/// compact manifest with `sum` (the package file's SHA-256, hex),
/// `pkgsize`, `path` and `repopath` (`All/{name}-{version}.pkg`) set.
pub fn catalogue_entry(info: &FreebsdInfo, size: u64, sha256_hex: &str) -> String {
    let mut m = info.compact.clone();
    for k in NOT_COMPACT {
        m.remove(k);
    }
    let path = format!("All/{}", file_name(&info.name, &info.version));
    m.insert("sum".into(), sha256_hex.into());
    m.insert("pkgsize".into(), size.into());
    m.insert("path".into(), path.clone().into());
    m.insert("repopath".into(), path.into());
    serde_json::to_string(&Value::Object(m)).expect("JSON serializes")
}

/// `data`: the catalogue as one JSON document (pkg 2.x), from the
/// `packagesite.yaml` lines.
pub fn data_document(lines: &[&str]) -> String {
    let mut out = String::from("{\"groups\":[],\"expired_packages\":[],\"packages\":[");
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(l);
    }
    out.push_str("]}");
    out
}

/// The repository's `meta.conf` (UCL), as `pkg repo` writes it, for xz
/// catalogues, naming only the catalogues depot serves.
///
/// No `filesite` / `filesite_archive`: depot keeps no per-package file
/// lists (`inspect` keeps the compact manifest), so it serves no
/// `filesite.pkg` and does not name one. pkg's meta reader
/// (`pkg_repo_meta_parse`) starts from its defaults and overrides a field
/// only when the key is there, so an absent key changes nothing in `pkg
/// update`; pkg fetches the filesite (for `pkg rwhich`) as an optional
/// extra whose failure it ignores.
pub fn meta_conf() -> String {
    "version = 2;\n\
     packing_format = \"txz\";\n\
     manifests = \"packagesite.yaml\";\n\
     data = \"data\";\n\
     manifests_archive = \"packagesite\";\n\
     data_archive = \"data\";\n"
        .to_string()
}

/// The string pkg signs for a catalogue member: the SHA-256 of its
/// content, lowercase hex.
pub fn signed_text(content: &[u8]) -> String {
    use sha2::Digest;
    depot_core::digest::hex(&sha2::Sha256::digest(content))
}

fn tar_member(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mtime: u64) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    b.append_data(&mut h, name, data)
        .expect("writing to memory cannot fail");
}

/// A signed catalogue archive (xz'd tar) as `pkg repo` packs one: the
/// `signature` member (`signature` bytes and a NUL), `{name}.sig` and
/// `{name}.pub` (for fingerprint checking), then `{name}` with `content`.
/// `signature` is the RSA signature of [`signed_text`]`(content)` (see
/// the module docs).
pub fn signed_archive(
    name: &str,
    content: &[u8],
    signature: &[u8],
    public_pem: &str,
    mtime: u64,
) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(content.len() + 4096));
    let mut with_nul = signature.to_vec();
    with_nul.push(0);
    tar_member(&mut b, "signature", &with_nul, mtime);
    tar_member(&mut b, &format!("{name}.sig"), signature, mtime);
    tar_member(&mut b, &format!("{name}.pub"), public_pem.as_bytes(), mtime);
    tar_member(&mut b, name, content, mtime);
    let tar = b.into_inner().expect("writing to memory cannot fail");
    let mut enc = liblzma::write::XzEncoder::new(Vec::with_capacity(tar.len() / 4 + 64), 6);
    enc.write_all(&tar).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

/// The members of a catalogue archive (any compression pkg reads), by
/// name, in order.
pub fn read_archive(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    let kind = sniff(bytes)?;
    let mut plain = Vec::new();
    let corrupt = |e: io::Error| FormatError::Invalid(format!("catalogue archive: {e}"));
    match kind {
        Kind::Tar => plain.extend_from_slice(bytes),
        Kind::Xz => {
            liblzma::read::XzDecoder::new(bytes)
                .read_to_end(&mut plain)
                .map_err(corrupt)?;
        }
        Kind::Zstd => {
            zstd::stream::read::Decoder::new(bytes)
                .and_then(|mut d| d.read_to_end(&mut plain))
                .map_err(corrupt)?;
        }
        Kind::Gzip => {
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut plain)
                .map_err(corrupt)?;
        }
        Kind::Bzip2 => {
            bzip2::read::MultiBzDecoder::new(bytes)
                .read_to_end(&mut plain)
                .map_err(corrupt)?;
        }
    }
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(&plain[..]);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(corrupt)?;
        out.push((name, data));
    }
    Ok(out)
}

// ---- the format ------------------------------------------------------------

/// The index entry stored with each FreeBSD package (JSON), which the
/// FreeBSD publisher reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreebsdEntry {
    /// The package's `packagesite.yaml` line.
    pub line: String,
    pub abi: String,
    pub size: u64,
    pub hashes: depot_core::Hashes,
}

/// FreeBSD pkg packages as a [`crate::PackageFormat`], with their
/// [`Limits`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Freebsd {
    limits: Limits,
}

impl Freebsd {
    pub fn new(limits: Limits) -> Self {
        Freebsd { limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

impl crate::PackageFormat for Freebsd {
    fn id(&self) -> depot_core::Format {
        depot_core::Format::Freebsd
    }

    /// First member: a tar (compressed or not) starting with
    /// `+COMPACT_MANIFEST` or `+MANIFEST`; name: `.pkg`, unless the bytes
    /// are a zip or a macOS xar installer.
    fn sniff(&self, head: &crate::format::Head<'_>) -> Option<crate::Evidence> {
        if matches!(
            head.first_member(),
            Some(b"+COMPACT_MANIFEST" | b"+MANIFEST")
        ) {
            Some(crate::Evidence::FirstMember)
        } else if is_package_name(head.file_name())
            && !head.is_zip()
            && !head.bytes().starts_with(b"xar!")
        {
            Some(crate::Evidence::Name)
        } else {
            None
        }
    }

    fn check_file_name(&self, name: &str) -> Result<(), FormatError> {
        crate::format::check_chars(name, b"._+~,-", "a FreeBSD package")
    }

    /// [`inspect`], then its [`catalogue_entry`] line as a
    /// [`FreebsdEntry`]; the API fields are the compact manifest and the
    /// file count.
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &crate::InspectInput<'_>,
    ) -> Result<crate::Inspected, FormatError> {
        let info = inspect(BufReader::new(file), &self.limits)?;
        let entry = FreebsdEntry {
            line: catalogue_entry(&info, input.size, &input.hashes.sha256.hex()),
            abi: info.abi.clone(),
            size: input.size,
            hashes: input.hashes.clone(),
        };
        let mut fields = Value::Object(info.compact.clone());
        fields["file_count"] = info.file_count.into();
        Ok(crate::Inspected {
            fields,
            entry: serde_json::to_string(&entry).expect("entry serializes"),
            name: info.name,
            version: info.version,
            arch: info.abi,
        })
    }

    /// pkg's order ([`version::compare`]).
    fn compare_versions(&self, a: &str, b: &str) -> std::cmp::Ordering {
        version::compare(a, b)
    }
}
