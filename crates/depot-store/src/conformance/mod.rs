//! The storage contracts of depot-core as executable checks.
//!
//! [`blob_store_suite`] checks the [`BlobStore`] contract, and
//! [`meta_store_suite`] the [`MetaStore`] contract, the way object_store's
//! `integration.rs` checks every object store: each backend in this crate
//! runs them in its tests, and a new backend must pass them before it is
//! used. A violation panics with a message naming the broken rule.
//!
//! Where the rustdoc of a trait is silent, the suites pin down what depot's
//! backends do (documented on each check), so the service can rely on one
//! behaviour on every backend.
//!
//! [`MotoServer`] starts the S3 server the S3 runs use (moto, from PyPI).
//!
//! Both suites must run inside a multi-threaded Tokio runtime
//! (`#[tokio::test(flavor = "multi_thread")]`): they spawn tasks to check
//! behaviour under concurrency.
//!
//! [`BlobStore`]: depot_core::blob::BlobStore
//! [`MetaStore`]: depot_core::meta::MetaStore

mod blob;
mod images;
pub mod meta;
pub mod moto;

pub use blob::blob_store_suite;
pub use meta::meta_store_suite;
pub use moto::MotoServer;

/// Deterministic pseudo-random bytes (xorshift64*), so large test blobs need
/// no RNG dependency and failures reproduce.
pub(crate) fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}
