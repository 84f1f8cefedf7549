//! The domain records. See DESIGN.md §1 for the concepts.

use crate::digest::{HashState, Hashes, Sha256};
use crate::names::{FileName, PlacementName, RepoName};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

macro_rules! id_type {
    ($($name:ident),*) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.0.fmt(f) }
        }
    )*};
}
id_type!(RepoId, PackageId, PlacementId, PublicationId, TokenId);

/// A repository's revision: bumped by every change to its packages or
/// placements. A publication records the revision it rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub i64);

/// Declares [`Format`]: one `Variant = "name"` line per format gives the
/// variant, its name in the API, the CLI and the MetaStore (`as_str`,
/// `parse`, serde), and its place in [`Format::ALL`]. The declaration order
/// is the enum's order (packages are listed by format in that order).
/// Adding a format is one line here plus its `PackageFormat` in
/// depot-formats (see that crate's doc).
macro_rules! formats {
    ($($(#[$doc:meta])* $variant:ident = $name:literal),* $(,)?) => {
        /// The package formats depot knows (one line each in the
        /// `formats!` invocation below).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Format {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)*
        }

        impl Format {
            /// Every format, in declaration order.
            pub const ALL: &'static [Format] = &[$(Format::$variant),*];

            /// The format's name (`deb`, `freebsd`, ...).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Format::$variant => $name,)*
                }
            }

            /// The format named `s` ([`Format::as_str`]), if any.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(Format::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

formats! {
    /// A Debian binary package (`.deb`).
    Deb = "deb",
    /// An RPM package (`.rpm`).
    Rpm = "rpm",
    /// An Arch Linux package (`.pkg.tar.zst` and friends).
    Pacman = "pacman",
    /// An Alpine Linux package (`.apk` v2).
    Apk = "apk",
    /// A FreeBSD pkg package (`.pkg`).
    Freebsd = "freebsd",
    /// A Python wheel (`.whl`) or source distribution (`.tar.gz`).
    Pypi = "pypi",
    /// A generic artifact: stored, listed and downloadable, never in an
    /// index.
    File = "file",
}

#[cfg(test)]
mod format_tests {
    use super::Format;

    #[test]
    fn every_format_round_trips_through_its_name_and_serde() {
        for &f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<Format>(&json).unwrap(), f);
        }
        assert_eq!(Format::parse("Deb"), None);
        assert_eq!(Format::Freebsd.as_str(), "freebsd");
        assert!(
            Format::Deb < Format::File,
            "declaration order is the enum's order"
        );
    }
}

/// Per-repository settings, stored as JSON so new keys need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepoSettings {
    pub description: String,
    /// Public repos are readable without a token.
    pub public: bool,
    /// Placement used when an upload names none.
    pub default_distribution: PlacementName,
    pub default_component: PlacementName,
    /// Architectures every apt distribution of this repo publishes, in
    /// addition to those seen in its packages (`all` packages appear in each).
    pub architectures: Vec<String>,
    /// How `GET /repos/{repo}/packages/{file}` answers: with the bytes, or
    /// with a redirect to the blob store.
    pub download: DownloadMode,
}

/// How package downloads are served ([`RepoSettings::download`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DownloadMode {
    /// depot streams the bytes itself (works with every blob store).
    #[default]
    Proxy,
    /// `307 Temporary Redirect` to a short-lived presigned URL of the blob
    /// store, where it can presign (S3); the client fetches the bytes from
    /// the store directly. Stores that cannot presign (local disk, memory)
    /// fall back to `Proxy`.
    Redirect,
}

impl Default for RepoSettings {
    fn default() -> Self {
        RepoSettings {
            description: String::new(),
            public: true,
            default_distribution: PlacementName::new("stable").expect("valid"),
            default_component: PlacementName::new("main").expect("valid"),
            architectures: vec!["amd64".into(), "arm64".into()],
            download: DownloadMode::Proxy,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    pub id: RepoId,
    pub name: RepoName,
    pub settings: RepoSettings,
    /// Bumped by every change.
    pub revision: Revision,
    /// Bumped by every change that is not a pure append (removal, rebuild):
    /// an incremental publisher may extend the previous indexes only while
    /// this is unchanged.
    pub removal_gen: i64,
    pub created_at: Timestamp,
}

/// Where a package appears inside its format's tree. For apt: distribution
/// and component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Placement {
    pub distribution: PlacementName,
    pub component: PlacementName,
}

/// A package as the service hands it to the MetaStore after inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPackage {
    pub filename: FileName,
    pub size: u64,
    pub hashes: Hashes,
    pub format: Format,
    /// Empty for `Format::File`.
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The pre-rendered index entry (for deb: the Packages stanza, without the
    /// blank separator line). Publishing concatenates these.
    pub index_entry: String,
    /// Parsed fields kept for the API (JSON object).
    pub fields: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub id: PackageId,
    pub repo_id: RepoId,
    pub filename: FileName,
    pub size: u64,
    pub hashes: Hashes,
    pub format: Format,
    pub name: String,
    pub version: String,
    pub arch: String,
    #[serde(skip)]
    pub index_entry: String,
    pub fields: serde_json::Value,
    pub placements: Vec<Placement>,
    pub created_at: Timestamp,
}

/// One placement of one package, as the publisher reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub placement_id: PlacementId,
    pub package_id: PackageId,
    pub distribution: PlacementName,
    pub component: PlacementName,
    pub name: String,
    pub version: String,
    pub arch: String,
    pub index_entry: String,
}

/// One file of a publication. Its bytes are the concatenation of `chunks`
/// (content-addressed blobs), so a large index that grew by one entry can
/// reuse the chunks of the previous publication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub size: u64,
    pub hashes: Hashes,
    pub chunks: Vec<Chunk>,
}

/// One content-addressed piece of a [`ManifestFile`].
///
/// Equality includes `state`: two chunk lists with the same bytes are
/// equal when both were hashed by the same code, which is what a manifest
/// comparison should check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub digest: Sha256,
    pub size: u64,
    /// The hash state of the file's bytes up to and including this chunk,
    /// so a publisher on any node can extend the file without reading the
    /// prefix (issue 5). Valid only at this position of this chunk list:
    /// code that builds a new file may reuse a *prefix* of an old file's
    /// chunks with their states, never chunks in another order or after
    /// other chunks (give those `None`). Set on the files whose four
    /// [`Hashes`] are computed chunk-wise; absent in manifests written
    /// before it existed, and then recomputed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<HashState>,
}

/// The immutable set of files of one publication, `{path -> file}`, plus
/// opaque publisher state (what the next publish needs to work
/// incrementally).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, ManifestFile>,
    #[serde(default)]
    pub state: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    pub id: PublicationId,
    pub repo_id: RepoId,
    pub revision: Revision,
    pub created_at: Timestamp,
    pub manifest: Manifest,
}

/// What a token may do. Scoped tokens (org, repo) come with the auth model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TokenScope {
    /// Everything on the server.
    Admin,
    /// Read and write one repository.
    Repo { repo: RepoName },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: TokenId,
    /// The user the token acts for: owner of the images it creates. Tokens
    /// of the same name act as one user.
    pub name: String,
    pub scope: TokenScope,
    /// Groups the token's user is in (images shared with a group are
    /// visible to its members).
    #[serde(default)]
    pub groups: Vec<String>,
    pub created_at: Timestamp,
}

/// Outcome of [`crate::meta::MetaStore::add_package`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOutcome {
    pub package: Package,
    /// False when the same file was already stored (the same name and
    /// content, or for indexed formats the same content and name, version
    /// and arch under another file name).
    pub created: bool,
    /// True when anything changed (new package or new placement); the repo
    /// revision was bumped then.
    pub changed: bool,
    /// The repo revision after the call.
    pub revision: Revision,
}
