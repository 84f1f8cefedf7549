//! depot-core: the vocabulary of depot.
//!
//! Types and traits only, no I/O. Every other crate speaks in these terms:
//! validated names at the edges ([`names`]), content digests ([`digest`]), the
//! domain records ([`model`]), and the two storage seams, [`blob::BlobStore`]
//! (content-addressed bytes) and [`meta::MetaStore`] (small transactional
//! metadata with one compare-and-set on the published pointer). The OpenPGP
//! signing seam is [`sign::PgpSigner`].

pub mod blob;
pub mod digest;
pub mod image;
pub mod meta;
pub mod model;
pub mod names;
pub mod sign;
pub mod time;

pub use digest::{HashState, Hashes, MultiHasher, Sha256};
pub use image::{
    Image, ImageBlob, ImageFilter, ImageFormat, ImageId, ImageUpdate, ImageVersion, NewImage,
    Visibility,
};
pub use model::*;
pub use names::{FileName, NameError, PlacementName, RelPath, RepoName};
pub use time::Timestamp;
