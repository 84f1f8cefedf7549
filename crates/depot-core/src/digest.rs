//! Content digests. A blob is named by its SHA-256 ([`Sha256`]); index files
//! also carry MD5, SHA-1 and SHA-512 for the formats that list them
//! ([`Hashes`]). [`MultiHasher`] computes all four in one pass and is `Clone`,
//! so a caller can keep the mid-state of a prefix and extend it later.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::fmt;

pub fn hex(bytes: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(H[(b >> 4) as usize] as char);
        s.push(H[(b & 15) as usize] as char);
    }
    s
}

pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    let b = s.as_bytes();
    for i in 0..N {
        let hi = (b[2 * i] as char).to_digit(16)?;
        let lo = (b[2 * i + 1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// A SHA-256 digest; lowercase hex in text and JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    pub fn of(data: &[u8]) -> Self {
        Sha256(sha2::Sha256::digest(data).into())
    }
    pub fn hex(&self) -> String {
        hex(&self.0)
    }
    pub fn parse(s: &str) -> Option<Self> {
        unhex::<32>(s).map(Sha256)
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}
impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.hex())
    }
}
impl std::str::FromStr for Sha256 {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Sha256::parse(s).ok_or_else(|| format!("not a SHA-256 hex digest: {s:?}"))
    }
}
impl Serialize for Sha256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}
impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid sha256 hex"))
    }
}

/// The four digests the package formats list, all lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: Sha256,
    pub sha512: String,
}

impl Hashes {
    pub fn of(data: &[u8]) -> Self {
        let mut h = MultiHasher::new();
        h.update(data);
        h.finish().0
    }
}

/// A SHA-256 hashing state (RustCrypto's `sha2::Sha256`, digest 0.10, the
/// version rPGP uses): what [`MultiHasher::sha256_state`] hands out and
/// [`crate::sign::PgpSigner::sign_detached_binary_sha256`] takes.
pub type Sha256State = sha2::Sha256;

/// The RustCrypto crate behind [`Sha256State`], for callers that need its
/// traits (`sha2::Digest`, `sha2::digest::DynDigest`) without depending on
/// it themselves.
pub use sha2;

/// MD5 + SHA-1 + SHA-256 + SHA-512 and a byte count, in one pass.
#[derive(Clone, Default)]
pub struct MultiHasher {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
    len: u64,
}

impl MultiHasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
        self.len += data.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The SHA-256 state after everything fed so far, not finalized: a
    /// signer can append its trailer to it and sign without re-reading the
    /// data ([`crate::sign::PgpSigner::sign_detached_binary_sha256`]).
    pub fn sha256_state(&self) -> Sha256State {
        self.sha256.clone()
    }
    /// The digests and the byte count. Takes `&self` so a mid-state can be
    /// finished and still extended afterwards.
    pub fn finish(&self) -> (Hashes, u64) {
        let h = Hashes {
            md5: hex(&self.md5.clone().finalize()),
            sha1: hex(&self.sha1.clone().finalize()),
            sha256: Sha256(self.sha256.clone().finalize().into()),
            sha512: hex(&self.sha512.clone().finalize()),
        };
        (h, self.len)
    }
}

impl std::io::Write for MultiHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let (h, n) = {
            let mut m = MultiHasher::new();
            m.update(b"ab");
            m.update(b"c");
            m.finish()
        };
        assert_eq!(n, 3);
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(h.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            h.sha256.hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(h.sha512.starts_with("ddaf35a193617aba"));
        assert_eq!(Sha256::parse(&h.sha256.hex()), Some(h.sha256));
        assert_eq!(Sha256::parse("zz"), None);
    }

    #[test]
    fn midstate_extends() {
        let mut a = MultiHasher::new();
        a.update(b"hello ");
        let _ = a.finish();
        a.update(b"world");
        assert_eq!(a.finish().0, Hashes::of(b"hello world"));
    }
}
