//! depot-sign: OpenPGP keys and signatures for published repositories.
//!
//! One [`PgpKey`] per repository (or organisation, or server) signs every
//! publication: the apt `InRelease` file is clearsigned, `Release.gpg` and
//! `repomd.xml.asc` are detached armored signatures, pacman's `.sig` files
//! detached binary ones. [`PgpKey`] implements
//! [`depot_core::sign::PgpSigner`], the seam the formats are written against.
//!
//! What the output is built to satisfy, and checked against in the tests:
//! `gpgv --keyring key.gpg InRelease` and `gpgv --keyring key.gpg Release.gpg
//! Release` as run by apt in Debian bookworm (gpg 2.2), and `gpg --import` of
//! the published `key.asc`.
//!
//! - Keys are OpenPGP v4: Ed25519 in the "EdDSA legacy" encoding (the default)
//!   or RSA-4096 ([`KeyAlgorithm`]).
//! - Every data signature uses SHA-256, never SHA-1.
//! - Secret keys are stored **without a passphrase** (see [`PgpKey`]).
//! - [`verify_clearsigned`] and [`verify_detached`] check signatures with
//!   gpgv's rules; depot uses them to check its own output and imported keys.
//!
//! - [`check_detached_binary`] checks a packager's binary signature file
//!   against the package it came with, without the packager's key.
//!
//! - [`RsaKey`] signs with bare RSA (PKCS#1 v1.5, SHA-1 or SHA-256) for
//!   Alpine's `APKINDEX.tar.gz` and FreeBSD's `packagesite.pkg`.
//!
//! Implemented with rPGP (the `pgp` crate), pure Rust.

mod armor;
mod cert;
mod error;
mod key;
mod rsa_key;
mod verify;

pub use error::KeyError;
pub use key::{KeyAlgorithm, PgpKey};
pub use rsa_key::{MAX_RSA_BITS, MIN_RSA_BITS, RsaKey};
pub use verify::{
    DetachedInfo, MAX_DETACHED_BINARY, check_detached_binary, verify_clearsigned, verify_detached,
};
