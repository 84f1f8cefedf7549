//! Images: build artifacts (VM disk images, ISOs, any large file) stored as
//! first-class objects outside repositories, addressed by a UUID.
//!
//! An image has a name, a description, an owner (the name of the token that
//! created it), a visibility ([`Visibility`]: private, shared with one group,
//! or public), free-form JSON metadata, and a current file: its format
//! ([`ImageFormat`], sniffed from the content), size and digests. Overwriting
//! the file keeps the UUID and adds a version ([`ImageVersion`]); every
//! version's blob stays referenced (and downloadable by history) until the
//! image is deleted.
//!
//! The validation rules live here so every edge (HTTP, CLI, store tests)
//! applies the same ones: [`validate_name`], [`validate_description`],
//! [`validate_metadata`], [`validate_group`].

use crate::digest::Hashes;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest image name, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 4096;
/// Largest metadata object, in bytes of its compact JSON encoding.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Longest group name, in bytes.
pub const MAX_GROUP_LEN: usize = 64;

/// An image's id: a random (version 4) UUID, lowercase and hyphenated in
/// text and JSON (`0b5c3f5e-8a1d-4c2b-9e7f-3a6d2c1b0f9e`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImageId(pub [u8; 16]);

impl ImageId {
    /// A version 4 UUID from 16 random bytes (the version and variant bits
    /// are set here; the caller supplies the randomness).
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        ImageId(bytes)
    }

    /// Parses the hyphenated form (`8-4-4-4-12` hex digits, either case).
    /// Anything else (braces, `urn:uuid:`, no hyphens) is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return None;
        }
        let mut hex = String::with_capacity(32);
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
            } else if c.is_ascii_hexdigit() {
                hex.push(c.to_ascii_lowercase() as char);
            } else {
                return None;
            }
        }
        crate::digest::unhex::<16>(&hex).map(ImageId)
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = crate::digest::hex(&self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageId({self})")
    }
}

impl Serialize for ImageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ImageId::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid image UUID"))
    }
}

/// Who may see an image. In text and JSON: `private`, `public` or
/// `group:NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// The owner (and admins) only.
    Private,
    /// The owner, admins, and every caller in the group.
    Group(String),
    /// Everyone, anonymous callers included.
    Public,
}

impl Visibility {
    /// Parses `private`, `public` or `group:NAME` (NAME as [`validate_group`]).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "private" => Ok(Visibility::Private),
            "public" => Ok(Visibility::Public),
            _ => match s.strip_prefix("group:") {
                Some(g) => {
                    validate_group(g)?;
                    Ok(Visibility::Group(g.to_string()))
                }
                None => Err(format!(
                    "visibility must be 'private', 'public' or 'group:NAME', not {s:?}"
                )),
            },
        }
    }

    /// The stored kind: `private`, `group` or `public`.
    pub fn kind(&self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Group(_) => "group",
            Visibility::Public => "public",
        }
    }

    pub fn group(&self) -> Option<&str> {
        match self {
            Visibility::Group(g) => Some(g),
            _ => None,
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Visibility::Group(g) => write!(f, "group:{g}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl Serialize for Visibility {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Visibility {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Visibility::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The format of an image file, sniffed from its content
/// ([`ImageFormat::detect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// QEMU copy-on-write v2/v3 (magic `QFI\xfb`).
    Qcow2,
    /// A raw disk image (no container format).
    Raw,
    /// VMware disk: a sparse extent (magic `KDMV`) or a text descriptor.
    Vmdk,
    /// ISO 9660 (`CD001` at byte 0x8001).
    Iso,
    /// A known container format depot does not sniff (VHD, VDI, OVA, ...).
    Other,
}

/// How many leading bytes [`ImageFormat::detect`] looks at.
pub const DETECT_PREFIX_LEN: usize = 0x8001 + 5;

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
            ImageFormat::Vmdk => "vmdk",
            ImageFormat::Iso => "iso",
            ImageFormat::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "qcow2" => Some(ImageFormat::Qcow2),
            "raw" => Some(ImageFormat::Raw),
            "vmdk" => Some(ImageFormat::Vmdk),
            "iso" => Some(ImageFormat::Iso),
            "other" => Some(ImageFormat::Other),
            _ => None,
        }
    }

    /// Detects the format from the first bytes of the file (`prefix`, up to
    /// [`DETECT_PREFIX_LEN`] of them) and, when no magic matches, from the
    /// extension of `name`:
    ///
    /// 1. `QFI\xfb` at 0: qcow2; `KDMV` at 0: vmdk (sparse extent);
    ///    `CD001` at 0x8001: iso;
    /// 2. extension `.iso`: iso; `.vmdk`: vmdk (descriptor files are text);
    ///    `.vhd`, `.vhdx`, `.vdi`, `.ova`, `.ovf`, `.qcow`, `.qcow2`: other
    ///    (a `.qcow2` without the magic is not a qcow2);
    /// 3. anything else: raw.
    pub fn detect(prefix: &[u8], name: &str) -> Self {
        if prefix.starts_with(b"QFI\xfb") {
            return ImageFormat::Qcow2;
        }
        if prefix.starts_with(b"KDMV") {
            return ImageFormat::Vmdk;
        }
        if prefix.get(0x8001..0x8006) == Some(b"CD001") {
            return ImageFormat::Iso;
        }
        let ext = name
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "iso" => ImageFormat::Iso,
            "vmdk" => ImageFormat::Vmdk,
            "vhd" | "vhdx" | "vdi" | "ova" | "ovf" | "qcow" | "qcow2" => ImageFormat::Other,
            _ => ImageFormat::Raw,
        }
    }
}

/// One file of an image: the current one, or an earlier one in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlob {
    pub format: ImageFormat,
    pub size: u64,
    /// MD5, SHA-1, SHA-256 (the blob's address) and SHA-512.
    pub hashes: Hashes,
}

/// One version of an image's file. Version 1 is the first upload; each
/// overwrite adds the next number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVersion {
    pub version: i64,
    #[serde(flatten)]
    pub blob: ImageBlob,
    /// When this version was uploaded.
    pub created_at: Timestamp,
}

/// An image as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: ImageId,
    pub name: String,
    pub description: String,
    /// The user that created it (a token's name).
    pub owner: String,
    pub visibility: Visibility,
    /// Free-form JSON object.
    pub metadata: serde_json::Value,
    /// The current version number (1 after the first upload).
    pub version: i64,
    /// The current file.
    #[serde(flatten)]
    pub blob: ImageBlob,
    /// The image this one was copied from, if any.
    pub copied_from: Option<ImageId>,
    pub created_at: Timestamp,
    /// Last change of anything: metadata, visibility or file.
    pub updated_at: Timestamp,
}

/// A new image for [`crate::meta::MetaStore::create_image`] (its first
/// version is `blob`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewImage {
    pub id: ImageId,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub visibility: Visibility,
    pub metadata: serde_json::Value,
    pub blob: ImageBlob,
    pub copied_from: Option<ImageId>,
}

/// A change of an image's descriptive fields; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// Replaces the whole metadata object.
    pub metadata: Option<serde_json::Value>,
}

/// Which images [`crate::meta::MetaStore::list_images`] returns: those
/// matching **any** of the set criteria. An empty filter matches nothing.
/// This is a pre-selection for efficiency; who may see what is decided by
/// the service's one access function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilter {
    /// Every image.
    pub all: bool,
    /// Images owned by this user.
    pub owner: Option<String>,
    /// Images with visibility `group:G` for one of these groups.
    pub groups: Vec<String>,
    /// Public images.
    pub public: bool,
}

/// 1 to [`MAX_NAME_LEN`] bytes, no control characters, not only spaces.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("image name must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("image name is longer than {MAX_NAME_LEN} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("image name must not contain control characters".into());
    }
    Ok(())
}

/// Up to [`MAX_DESCRIPTION_LEN`] bytes; newlines and tabs are the only
/// control characters allowed.
pub fn validate_description(text: &str) -> Result<(), String> {
    if text.len() > MAX_DESCRIPTION_LEN {
        return Err(format!(
            "image description is longer than {MAX_DESCRIPTION_LEN} bytes"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("image description must not contain control characters".into());
    }
    Ok(())
}

/// A JSON object of at most [`MAX_METADATA_BYTES`] (compact encoding).
pub fn validate_metadata(value: &serde_json::Value) -> Result<(), String> {
    if !value.is_object() {
        return Err("image metadata must be a JSON object".into());
    }
    let len = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if len > MAX_METADATA_BYTES {
        return Err(format!(
            "image metadata is {len} bytes, more than the limit of {MAX_METADATA_BYTES}"
        ));
    }
    Ok(())
}

/// 1 to [`MAX_GROUP_LEN`] ASCII letters, digits, `.`, `_` and `-`, not
/// starting with `.` or `-`.
pub fn validate_group(group: &str) -> Result<(), String> {
    let ok = !group.is_empty()
        && group.len() <= MAX_GROUP_LEN
        && !group.starts_with(['.', '-'])
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "group name {group:?} must be 1 to {MAX_GROUP_LEN} of A-Z a-z 0-9 . _ - \
             (not starting with . or -)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_and_are_version_4() {
        let id = ImageId::from_random([0xff; 16]);
        let s = id.to_string();
        assert_eq!(s, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(ImageId::parse(&s), Some(id));
        assert_eq!(ImageId::parse(&s.to_uppercase()), Some(id));
        for bad in [
            "",
            "ffffffffffff4fffbfffffffffffffff",
            "{ffffffff-ffff-4fff-bfff-ffffffffffff}",
            "ffffffff-ffff-4fff-bfff-fffffffffffg",
            "ffffffff-ffff-4fff-bfff-ffffffffffff ",
            "ffffffff+ffff-4fff-bfff-ffffffffffff",
        ] {
            assert_eq!(ImageId::parse(bad), None, "{bad:?}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ImageId>(&json).unwrap(), id);
    }

    #[test]
    fn visibility_text_forms() {
        for s in ["private", "public", "group:ops-team"] {
            assert_eq!(Visibility::parse(s).unwrap().to_string(), s);
        }
        for bad in ["", "Private", "group:", "group:a b", "group:../x", "shared"] {
            assert!(Visibility::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_by_magic_then_extension() {
        assert_eq!(
            ImageFormat::detect(b"QFI\xfb\0\0\0\x03", "x.img"),
            ImageFormat::Qcow2
        );
        assert_eq!(ImageFormat::detect(b"KDMV....", "x"), ImageFormat::Vmdk);
        let mut iso = vec![0u8; DETECT_PREFIX_LEN];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(ImageFormat::detect(&iso, "disk.img"), ImageFormat::Iso);
        assert_eq!(ImageFormat::detect(b"", "a.ISO"), ImageFormat::Iso);
        assert_eq!(ImageFormat::detect(b"# Disk", "a.vmdk"), ImageFormat::Vmdk);
        assert_eq!(ImageFormat::detect(b"xx", "a.qcow2"), ImageFormat::Other);
        assert_eq!(ImageFormat::detect(b"xx", "disk.img"), ImageFormat::Raw);
        assert_eq!(ImageFormat::detect(b"xx", "noext"), ImageFormat::Raw);
    }

    #[test]
    fn validation() {
        assert!(validate_name("Ubuntu 24.04 cloud").is_ok());
        assert!(validate_name("").is_err() && validate_name("  ").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(validate_description("line\nline\ttab").is_ok());
        assert!(validate_description("bell\x07").is_err());
        assert!(validate_metadata(&serde_json::json!({"a": [1, 2]})).is_ok());
        assert!(validate_metadata(&serde_json::json!([1])).is_err());
        let big = "x".repeat(MAX_METADATA_BYTES);
        assert!(validate_metadata(&serde_json::json!({ "a": big })).is_err());
    }
}
