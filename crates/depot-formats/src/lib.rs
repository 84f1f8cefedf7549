//! depot-formats: reading uploaded packages and writing repository
//! metadata, one module per format. Everything here is pure and synchronous:
//! readers take a `Read`, writers return bytes or text, time and digests are
//! passed in, and the same input always gives the same output.
//!
//! - [`format`](mod@format): the seam: [`PackageFormat`] (detect, check the file
//!   name, inspect, order versions, content type) and [`FormatRegistry`],
//!   which holds every format with its limits.
//! - [`detect`]: which format an upload is, from its first bytes.
//! - [`deb`]: Debian binary packages: [`deb::inspect`] reads and validates
//!   a `.deb`, [`deb::index_entry`] renders its `Packages` stanza,
//!   [`deb::version`] orders versions as dpkg does.
//! - [`rpm`]: RPM packages: [`rpm::inspect`] reads and validates an
//!   `.rpm`, [`rpm::fragments`] renders its entries in primary, filelists
//!   and other.xml, [`rpm::repodata`] wraps them and writes `repomd.xml`,
//!   [`rpm::version`] orders versions as rpm does.
//! - [`pacman`]: Arch Linux packages: [`pacman::inspect`] reads and
//!   validates a `.pkg.tar.*`, [`pacman::desc`] and [`pacman::files`]
//!   render its sync database entries as repo-add does, [`pacman::db`]
//!   writes their tar members, [`pacman::version`] orders versions as
//!   `vercmp` does.
//! - [`apk`]: Alpine Linux packages: [`apk::inspect`] reads and validates
//!   an `.apk` (v2), [`apk::index_entry`] renders its `APKINDEX` block,
//!   [`apk::signed_index`] writes a signed `APKINDEX.tar.gz`.
//! - [`freebsd`]: FreeBSD packages: [`freebsd::inspect`] reads and
//!   validates a `.pkg`, [`freebsd::catalogue_entry`] renders its
//!   `packagesite.yaml` line, [`freebsd::signed_archive`] packs a signed
//!   catalogue as `pkg repo` does.
//! - [`pypi`]: Python packages: [`pypi::inspect`] reads and validates a
//!   wheel or an sdist, [`pypi::index`] renders the simple repository
//!   index (PEP 503 HTML, PEP 691 JSON), [`pypi::version`] orders PEP 440
//!   versions.
//! - [`apt`]: an apt repository's `Release` file.
//! - [`deb822`]: the `Field: value` syntax those files share.
//!
//! Each format module ends with its [`PackageFormat`]: [`deb::Deb`],
//! [`rpm::Rpm`], [`pacman::Pacman`], [`apk::Apk`], [`freebsd::Freebsd`];
//! [`GenericFile`] takes what none of them claims.
//!
//! # Adding a format
//!
//! A format plugs in here at three places, and nothing that uses formats
//! (detection, inspection, listing, downloads in depot-service) changes:
//!
//! 1. its module (`src/x.rs` or `src/x/mod.rs`, and `pub mod x;` below),
//!    whose doc teaches the bytes, with its reader, its `Limits`, its
//!    index-entry type and a type implementing [`PackageFormat`]: `sniff`
//!    answering with the right [`Evidence`] (see [`format`](mod@format) for the
//!    priorities), `check_file_name`, `inspect` rendering the index entry
//!    its publisher reads, `compare_versions`, `content_type`.
//!    [`deb::Deb`] is the smallest example;
//! 2. one line in [`FormatRegistry::default`]: `.with(x::X::default())`;
//! 3. one line in the `formats!` declaration of [`depot_core::Format`]
//!    (`X = "x",` in depot-core's `model.rs`).
//!
//! Then `tests/registry.rs` wants a package of the new format in its
//! `sample` (it fails until there is one): it checks that every
//! [`depot_core::Format`] is registered, that each format detects what
//! its sample is (by content, and under its usual name), reads it back
//! to the name and version it was built with, and refuses the other
//! formats' packages. Publishing the format's index files is
//! depot-service's side of the seam (its publisher registry).
//!
//! Every malformed, hostile or oversized input is a [`FormatError`] whose
//! variant tells the HTTP layer which 4xx to answer and whose message names
//! the problem; nothing here panics on input or writes to disk.

pub mod apk;
pub mod apt;
mod archive;
pub mod deb;
pub mod deb822;
pub mod detect;
mod error;
pub mod format;
pub mod freebsd;
pub mod pacman;
pub mod pypi;
pub mod rpm;

pub use error::FormatError;
pub use format::{
    Evidence, FormatRegistry, GenericFile, Head, InspectInput, Inspected, PackageFormat,
};
