//! The seam for a package format: [`PackageFormat`] is everything depot
//! needs to know about reading one kind of package (is this upload one,
//! is its file name acceptable, what is in it, how do its versions order,
//! what content type is it downloaded as), and [`FormatRegistry`] is the
//! list of them, each holding its own limits.
//!
//! Each format implements the trait in its own module ([`crate::deb::Deb`],
//! [`crate::rpm::Rpm`], [`crate::pacman::Pacman`], [`crate::apk::Apk`],
//! [`crate::freebsd::Freebsd`]) plus [`GenericFile`], the fallback for
//! anything no format claims. Callers never match on [`Format`]: they ask
//! the registry.
//!
//! # Detection
//!
//! Every format looks at the upload's first bytes and name ([`Head`]) and
//! answers with the [`Evidence`] it sees, if any. The strongest evidence
//! wins; between equal evidence the format registered first wins (the
//! built-in formats' evidence never ties on a real file). The order,
//! strongest first:
//!
//! | evidence | who gives it | example |
//! | --- | --- | --- |
//! | [`Evidence::Magic`] | deb (ar + `debian-binary`), rpm (lead `ed ab ee db`), pacman (an uncompressed tar whose first member is `.PKGINFO`, `.BUILDINFO` or `.MTREE`) | an rpm named `hello.deb` is an rpm |
//! | [`Evidence::ReservedName`] | pacman (`*.pkg.tar*`) | a `.pkg.tar.gz` whose first member is `.PKGINFO` is pacman, not apk |
//! | [`Evidence::FirstMember`] | apk (gzip, first member `.SIGN.*` or `.PKGINFO`), FreeBSD (first member `+COMPACT_MANIFEST` or `+MANIFEST`, compressed or not) | an apk uploaded as `upload.bin` |
//! | [`Evidence::Name`] | deb (`.deb`, `.udeb`, `.ddeb`), rpm (`.rpm`), apk (`.apk` unless a zip), FreeBSD (`.pkg` unless a zip or xar) | a truncated `hello_1.0_amd64.deb` goes to the deb reader, which says what is wrong |
//!
//! A name routes a broken or truncated package to its reader so that it is
//! refused with a precise error instead of being stored as an opaque file;
//! a name whose content is clearly something else (an Android `.apk` is a
//! zip, a macOS `.pkg` a xar or zip) gives no evidence.

use crate::FormatError;
use depot_core::{Format, Hashes, Timestamp};
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::io::Read;
use std::sync::Arc;

/// What a format sees in an upload's first bytes and name, strongest last
/// (the derived order is the priority; see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// The file name says so, and the content says nothing against it.
    Name,
    /// The first member of a (compressed) tar is this format's metadata:
    /// content, but a container several formats share.
    FirstMember,
    /// A name that outranks first-member evidence: pacman's `.pkg.tar.gz`
    /// may start with `.PKGINFO` just as an apk does.
    ReservedName,
    /// The file's own magic bytes.
    Magic,
}

/// The first bytes of an upload (at least 512 when the file has them;
/// depot passes 4 KiB) and its name, as [`PackageFormat::sniff`] sees
/// them. The first tar member's name is decompressed once, on first use,
/// however many formats ask for it.
pub struct Head<'a> {
    bytes: &'a [u8],
    file_name: &'a str,
    first_member: OnceCell<Option<Vec<u8>>>,
}

impl<'a> Head<'a> {
    pub fn new(bytes: &'a [u8], file_name: &'a str) -> Self {
        Head {
            bytes,
            file_name,
            first_member: OnceCell::new(),
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn file_name(&self) -> &'a str {
        self.file_name
    }

    /// True when the name ends in one of `extensions` (ASCII
    /// case-insensitive) with something before it.
    pub fn has_extension(&self, extensions: &[&str]) -> bool {
        let lower = self.file_name.to_ascii_lowercase();
        extensions
            .iter()
            .any(|ext| lower.len() > ext.len() && lower.ends_with(&ext.to_ascii_lowercase()))
    }

    /// The first member's name when the bytes start an uncompressed tar.
    pub fn plain_tar_member(&self) -> Option<&'a [u8]> {
        tar_name(self.bytes)
    }

    /// The first tar member's name inside a gzip, xz or zstd stream that
    /// starts the bytes, or else of an uncompressed tar.
    pub fn first_member(&self) -> Option<&[u8]> {
        self.first_member
            .get_or_init(|| {
                crate::detect::compressed_first_member(self.bytes)
                    .or_else(|| self.plain_tar_member().map(<[u8]>::to_vec))
            })
            .as_deref()
    }

    pub fn is_gzip(&self) -> bool {
        self.bytes.starts_with(b"\x1f\x8b")
    }

    /// A zip archive (an Android `.apk`, a wheel, a macOS `.pkg`).
    pub fn is_zip(&self) -> bool {
        self.bytes.starts_with(b"PK\x03\x04")
    }
}

/// The name in a 512-byte ustar header at the start of `block`.
pub(crate) fn tar_name(block: &[u8]) -> Option<&[u8]> {
    if block.get(257..262) != Some(b"ustar") {
        return None;
    }
    let name = &block[..100];
    Some(&name[..name.iter().position(|&b| b == 0).unwrap_or(100)])
}

/// What an index entry needs besides the package's content.
#[derive(Debug, Clone, Copy)]
pub struct InspectInput<'a> {
    /// The upload's file name, already accepted by
    /// [`PackageFormat::check_file_name`]; entries name the file.
    pub file_name: &'a str,
    /// The whole file's size and digests.
    pub size: u64,
    pub hashes: &'a Hashes,
    /// When the file was uploaded (rpm's `<time file=..>`).
    pub file_time: Timestamp,
}

/// What [`PackageFormat::inspect`] read from a package.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// Empty for a generic file (so are `version` and `arch`).
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The parsed fields the API shows (a JSON object).
    pub fields: serde_json::Value,
    /// The pre-rendered index entry its publisher reads (deb: the
    /// `Packages` stanza; the others: JSON of the module's entry type).
    pub entry: String,
}

/// One package format. See the [module docs](self) for detection, and the
/// crate docs for how a new one plugs in.
pub trait PackageFormat: Send + Sync + 'static {
    /// Which format this is.
    fn id(&self) -> Format;

    /// The evidence, if any, that `head` is a package of this format.
    fn sniff(&self, head: &Head<'_>) -> Option<Evidence>;

    /// Refuses a file name this format's clients or tools would have to
    /// escape ([`FormatError::FileName`]).
    fn check_file_name(&self, name: &str) -> Result<(), FormatError>;

    /// Reads and validates a package from its first byte, within the
    /// limits this format was built with, and renders its index entry.
    fn inspect(
        &self,
        file: &mut dyn Read,
        input: &InspectInput<'_>,
    ) -> Result<Inspected, FormatError>;

    /// Orders two versions of one package name as the format's own tools
    /// do (dpkg, rpm, vercmp, pkg).
    fn compare_versions(&self, a: &str, b: &str) -> Ordering;

    /// The `Content-Type` a package file is downloaded with.
    fn content_type(&self) -> &'static str {
        "application/octet-stream"
    }
}

/// Refuses `name` unless every byte is an ASCII letter or digit or one of
/// `extra`; `what` ("a Debian package") completes the message.
pub(crate) fn check_chars(name: &str, extra: &[u8], what: &str) -> Result<(), FormatError> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    {
        return Ok(());
    }
    let mut list = String::new();
    for &b in extra {
        list.push(' ');
        list.push(b as char);
    }
    Err(FormatError::FileName(format!(
        "file name '{name}' of {what} may only contain letters, digits and{list}"
    )))
}

/// Anything no format claims: stored, listed and downloadable as it is,
/// never in an index, never read.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericFile;

impl PackageFormat for GenericFile {
    fn id(&self) -> Format {
        Format::File
    }

    /// Never claims a file: it is what is left when no format does.
    fn sniff(&self, _head: &Head<'_>) -> Option<Evidence> {
        None
    }

    /// Any [`depot_core::FileName`] will do.
    fn check_file_name(&self, _name: &str) -> Result<(), FormatError> {
        Ok(())
    }

    /// Reads nothing: a generic file has no name, version or entry.
    fn inspect(
        &self,
        _file: &mut dyn Read,
        _input: &InspectInput<'_>,
    ) -> Result<Inspected, FormatError> {
        Ok(Inspected {
            name: String::new(),
            version: String::new(),
            arch: String::new(),
            fields: serde_json::json!({}),
            entry: String::new(),
        })
    }

    /// Generic files have no versions (they are all empty).
    fn compare_versions(&self, _a: &str, _b: &str) -> Ordering {
        Ordering::Equal
    }
}

/// The formats depot reads, each with its limits. [`FormatRegistry::default`]
/// has every built-in format with default limits; [`FormatRegistry::with`]
/// adds a format or replaces the one with the same [`Format`] (to change
/// its limits):
///
/// ```
/// use depot_formats::{apk, FormatRegistry};
/// let formats = FormatRegistry::default().with(apk::Apk::new(apk::Limits {
///     max_unpacked: 16 << 20,
///     ..Default::default()
/// }));
/// assert_eq!(formats.detect(b"", "x.apk").id(), depot_core::Format::Apk);
/// ```
///
/// Cloning is cheap (the formats are shared).
#[derive(Clone)]
pub struct FormatRegistry {
    formats: Vec<Arc<dyn PackageFormat>>,
}

impl Default for FormatRegistry {
    /// Every built-in format with its default limits. The one line a new
    /// format adds is here.
    fn default() -> Self {
        FormatRegistry::empty()
            .with(crate::deb::Deb::default())
            .with(crate::rpm::Rpm::default())
            .with(crate::pacman::Pacman::default())
            .with(crate::apk::Apk::default())
            .with(crate::freebsd::Freebsd::default())
            .with(crate::pypi::Pypi::default())
            .with(GenericFile)
    }
}

impl std::fmt::Debug for FormatRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.formats.iter().map(|p| p.id()))
            .finish()
    }
}

static GENERIC: GenericFile = GenericFile;

impl FormatRegistry {
    /// No formats: everything detects as a [`GenericFile`] (which
    /// [`FormatRegistry::get`] answers for [`Format::File`]).
    pub fn empty() -> Self {
        FormatRegistry {
            formats: Vec::new(),
        }
    }

    /// This registry with `format` added, in place of the one with the
    /// same [`PackageFormat::id`] if there is one (keeping its position,
    /// which breaks ties in detection).
    pub fn with(mut self, format: impl PackageFormat) -> Self {
        let id = format.id();
        let format: Arc<dyn PackageFormat> = Arc::new(format);
        match self.formats.iter_mut().find(|f| f.id() == id) {
            Some(slot) => *slot = format,
            None => self.formats.push(format),
        }
        self
    }

    /// The format registered for `id`; [`Format::File`] is always there
    /// ([`GenericFile`] unless another was registered for it), since
    /// [`FormatRegistry::detect`] falls back to it.
    pub fn get(&self, id: Format) -> Option<&dyn PackageFormat> {
        match self.formats.iter().find(|f| f.id() == id) {
            Some(f) => Some(&**f),
            None => (id == Format::File).then_some(&GENERIC as &dyn PackageFormat),
        }
    }

    /// The registered formats, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn PackageFormat> {
        self.formats.iter().map(|f| &**f)
    }

    /// The format of an upload from its first bytes (pass at least the
    /// first 512 when the file has them) and its name: the one with the
    /// strongest [`Evidence`], the first registered among equals, and the
    /// registered [`Format::File`] (or [`GenericFile`]) when none has any.
    pub fn detect(&self, head: &[u8], file_name: &str) -> &dyn PackageFormat {
        let head = Head::new(head, file_name);
        let mut best: Option<(Evidence, &dyn PackageFormat)> = None;
        for format in self.iter() {
            if let Some(evidence) = format.sniff(&head)
                && best.is_none_or(|(b, _)| evidence > b)
            {
                best = Some((evidence, format));
            }
        }
        match best {
            Some((_, format)) => format,
            None => self.get(Format::File).unwrap_or(&GENERIC),
        }
    }

    /// [`PackageFormat::compare_versions`] of `format`; versions of a
    /// format not registered compare equal.
    pub fn compare_versions(&self, format: Format, a: &str, b: &str) -> Ordering {
        self.get(format)
            .map_or(Ordering::Equal, |f| f.compare_versions(a, b))
    }

    /// [`PackageFormat::content_type`] of `format`
    /// (`application/octet-stream` for one not registered).
    pub fn content_type(&self, format: Format) -> &'static str {
        self.get(format)
            .map_or(GENERIC.content_type(), |f| f.content_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_is_registered_by_default_once() {
        let registry = FormatRegistry::default();
        for &f in Format::ALL {
            assert_eq!(registry.get(f).map(|p| p.id()), Some(f), "{f:?}");
        }
        assert_eq!(registry.iter().count(), Format::ALL.len());
    }

    #[test]
    fn with_replaces_the_format_of_the_same_id_in_place() {
        let limits = crate::apk::Limits {
            max_unpacked: 1,
            ..Default::default()
        };
        let registry = FormatRegistry::default().with(crate::apk::Apk::new(limits));
        assert_eq!(registry.iter().count(), Format::ALL.len());
        let ids: Vec<Format> = registry.iter().map(|f| f.id()).collect();
        let default_ids: Vec<Format> = FormatRegistry::default().iter().map(|f| f.id()).collect();
        assert_eq!(ids, default_ids);
    }

    #[test]
    fn an_empty_registry_detects_everything_as_a_file() {
        let deb = depot_testkit::DebBuilder::new("hello", "1.0", "all").build();
        let empty = FormatRegistry::empty();
        assert_eq!(empty.detect(&deb, "hello.deb").id(), Format::File);
        assert_eq!(empty.get(Format::File).map(|f| f.id()), Some(Format::File));
        assert!(empty.get(Format::Deb).is_none());
    }

    #[test]
    fn file_name_messages_list_the_allowed_characters() {
        let e = check_chars("a b.deb", b"._+~-", "a Debian package").unwrap_err();
        assert_eq!(
            e.to_string(),
            "file name 'a b.deb' of a Debian package may only contain letters, digits and . _ + ~ -"
        );
        assert!(check_chars("a_b-1.0+x~1.deb", b"._+~-", "a Debian package").is_ok());
    }
}
