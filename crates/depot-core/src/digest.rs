//! Content digests. A blob is named by its SHA-256 ([`Sha256`]); index files
//! also carry MD5, SHA-1 and SHA-512 for the formats that list them
//! ([`Hashes`]). [`MultiHasher`] computes all four in one pass and is `Clone`,
//! so a caller can keep the mid-state of a prefix and extend it later; the
//! mid-state also serializes ([`HashState`]), so it can be stored with a
//! publication and extended by another process.
//!
//! The hashers are RustCrypto's 0.11 family (digest 0.11, whose hash states
//! serialize). [`Sha256State`] is also a digest 0.10 `DynDigest`, the trait
//! rPGP hashes signatures through.

use base64::Engine as _;
use digest_10::DynDigest;
use serde::{Deserialize, Serialize};
use sha2_11::Digest;
use sha2_11::digest::common::hazmat::{SerializableState, SerializedState};
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
        Sha256(sha2_11::Sha256::digest(data).into())
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

/// A SHA-256 hashing state: what [`MultiHasher::sha256_state`] hands out and
/// [`crate::sign::PgpSigner::sign_detached_binary_sha256`] takes.
///
/// RustCrypto's digest 0.11 `sha2::Sha256` underneath; it implements digest
/// 0.10's [`DynDigest`] (re-exported as [`digest_10`]) so that rPGP, which
/// is on digest 0.10, can append a signature trailer to it.
#[derive(Clone, Default)]
pub struct Sha256State(sha2_11::Sha256);

impl Sha256State {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }
    /// The digest of everything fed so far.
    pub fn finalize(self) -> Sha256 {
        Sha256(self.0.finalize().into())
    }
}

impl DynDigest for Sha256State {
    fn update(&mut self, data: &[u8]) {
        Sha256State::update(self, data);
    }
    fn finalize_into(self, buf: &mut [u8]) -> Result<(), digest_10::InvalidBufferSize> {
        if buf.len() != 32 {
            return Err(digest_10::InvalidBufferSize);
        }
        buf.copy_from_slice(&self.finalize().0);
        Ok(())
    }
    fn finalize_into_reset(&mut self, out: &mut [u8]) -> Result<(), digest_10::InvalidBufferSize> {
        std::mem::take(self).finalize_into(out)
    }
    fn reset(&mut self) {
        *self = Self::default();
    }
    fn output_size(&self) -> usize {
        32
    }
    fn box_clone(&self) -> Box<dyn DynDigest> {
        Box::new(self.clone())
    }
}

/// The digest 0.10 crate, for callers that name [`DynDigest`] (rPGP's
/// hashing trait) without depending on it themselves.
pub use digest_10;

/// MD5 + SHA-1 + SHA-256 + SHA-512 and a byte count, in one pass.
#[derive(Clone, Default)]
pub struct MultiHasher {
    md5: md5_11::Md5,
    sha1: sha1_11::Sha1,
    sha256: sha2_11::Sha256,
    sha512: sha2_11::Sha512,
    len: u64,
}

/// Why bytes are not a [`MultiHasher`] state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashStateError {
    #[error("hash state: unknown version {0}")]
    Version(u8),
    #[error("hash state: {got} bytes where {want} were expected")]
    Length { got: usize, want: usize },
    #[error("hash state: not base64")]
    Base64,
    #[error("hash state: rejected by the {0} hasher")]
    Invalid(&'static str),
}

/// Version byte that starts [`MultiHasher::to_state_bytes`].
const STATE_V1: u8 = 1;
/// Version, byte count, then the chaining values of MD5 (16), SHA-1 (20),
/// SHA-256 (32) and SHA-512 (64); the unprocessed tail follows.
const STATE_HEAD: usize = 1 + 8 + 16 + 20 + 32 + 64;

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
        Sha256State(self.sha256.clone())
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

    /// The state as bytes, for [`MultiHasher::from_state_bytes`] in this or
    /// another process: a version byte, the byte count (u64 LE), the four
    /// chaining values, then the bytes not yet compressed (`len % 128` of
    /// them; the 64-byte-block hashers hold the last `len % 64` of those).
    /// 141 to 268 bytes.
    pub fn to_state_bytes(&self) -> Vec<u8> {
        let tail_len = (self.len % 128) as usize;
        // Serialized digest 0.11 states are `chaining value ‖ block count
        // ‖ buffer position ‖ buffer`; the counts and positions follow from
        // `len`, and the SHA-512 buffer holds every tail byte.
        let sha512 = self.sha512.serialize();
        debug_assert_eq!(sha512[64 + 16] as usize, tail_len);
        let mut out = Vec::with_capacity(STATE_HEAD + tail_len);
        out.push(STATE_V1);
        out.extend_from_slice(&self.len.to_le_bytes());
        out.extend_from_slice(&self.md5.serialize()[..16]);
        out.extend_from_slice(&self.sha1.serialize()[..20]);
        out.extend_from_slice(&self.sha256.serialize()[..32]);
        out.extend_from_slice(&sha512[..64]);
        out.extend_from_slice(&sha512[64 + 16 + 1..][..tail_len]);
        out
    }

    /// The state [`MultiHasher::to_state_bytes`] wrote. Short, long or
    /// otherwise malformed input is an error, never a panic; bytes of the
    /// right shape but altered give a hasher with wrong digests (the format
    /// has no checksum: it is stored beside content digests that are).
    pub fn from_state_bytes(b: &[u8]) -> Result<Self, HashStateError> {
        if b.len() < STATE_HEAD {
            return Err(HashStateError::Length {
                got: b.len(),
                want: STATE_HEAD,
            });
        }
        if b[0] != STATE_V1 {
            return Err(HashStateError::Version(b[0]));
        }
        let len = u64::from_le_bytes(b[1..9].try_into().expect("8 bytes"));
        let want = STATE_HEAD + (len % 128) as usize;
        if b.len() != want {
            return Err(HashStateError::Length { got: b.len(), want });
        }
        let (cv, tail) = b[9..].split_at(STATE_HEAD - 9);
        let (md5, cv) = cv.split_at(16);
        let (sha1, cv) = cv.split_at(20);
        let (sha256, sha512) = cv.split_at(32);
        let blocks64 = (len / 64).to_le_bytes();
        let blocks128 = u128::from(len / 128).to_le_bytes();
        Ok(MultiHasher {
            md5: restore("MD5", md5, &blocks64, tail, 64)?,
            sha1: restore("SHA-1", sha1, &blocks64, tail, 64)?,
            sha256: restore("SHA-256", sha256, &blocks64, tail, 64)?,
            sha512: restore("SHA-512", sha512, &blocks128, tail, 128)?,
            len,
        })
    }
}

/// A digest 0.11 hasher from its chaining value, block count and the last
/// `tail.len() % block` bytes of `tail` as its buffer (`tail` is shorter
/// than 128 bytes).
fn restore<H: SerializableState>(
    name: &'static str,
    cv: &[u8],
    blocks: &[u8],
    tail: &[u8],
    block: usize,
) -> Result<H, HashStateError> {
    // An eager block buffer holds fewer than `block` bytes and serializes
    // as its position byte, then `block - 1` bytes of data and zeros.
    let pos = tail.len() % block;
    let size = cv.len() + blocks.len() + block;
    let mut buf = Vec::with_capacity(size);
    buf.extend_from_slice(cv);
    buf.extend_from_slice(blocks);
    buf.push(pos as u8);
    buf.extend_from_slice(&tail[tail.len() - pos..]);
    buf.resize(size, 0);
    let state =
        SerializedState::<H>::try_from(&buf[..]).map_err(|_| HashStateError::Invalid(name))?;
    H::deserialize(&state).map_err(|_| HashStateError::Invalid(name))
}

/// A [`MultiHasher`] state as stored in a manifest
/// ([`crate::Chunk::state`]): the bytes of
/// [`MultiHasher::to_state_bytes`], base64 (standard alphabet, no padding)
/// in JSON, 188 to 358 characters. Deserializing checks the version and
/// the length, so a manifest with a truncated state fails to load instead
/// of hashing wrongly.
#[derive(Clone, PartialEq, Eq)]
pub struct HashState(Box<[u8]>);

impl HashState {
    pub fn of(hasher: &MultiHasher) -> Self {
        HashState(hasher.to_state_bytes().into_boxed_slice())
    }
    /// A hasher in this state, to extend.
    pub fn hasher(&self) -> Result<MultiHasher, HashStateError> {
        MultiHasher::from_state_bytes(&self.0)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The number of bytes hashed to reach this state.
    pub fn hashed_len(&self) -> u64 {
        u64::from_le_bytes(self.0[1..9].try_into().expect("checked at construction"))
    }
    /// Bytes of [`MultiHasher::to_state_bytes`], checked for version and
    /// length.
    pub fn from_bytes(b: &[u8]) -> Result<Self, HashStateError> {
        MultiHasher::from_state_bytes(b)?;
        Ok(HashState(b.into()))
    }
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&self.0)
    }
    pub fn from_base64(s: &str) -> Result<Self, HashStateError> {
        let b = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s)
            .map_err(|_| HashStateError::Base64)?;
        Self::from_bytes(&b)
    }
}

impl fmt::Debug for HashState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashState({} bytes hashed)", self.hashed_len())
    }
}
impl Serialize for HashState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}
impl<'de> Deserialize<'de> for HashState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HashState::from_base64(&s).map_err(serde::de::Error::custom)
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

    /// 3,000 bytes that are not periodic in any block size.
    fn data() -> Vec<u8> {
        (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    }

    /// What the RustCrypto 0.10 hashers (the ones MultiHasher used before
    /// moving to 0.11) give.
    fn hashes_010(data: &[u8]) -> Hashes {
        use sha2::Digest as _;
        Hashes {
            md5: hex(&md5::Md5::digest(data)),
            sha1: hex(&sha1::Sha1::digest(data)),
            sha256: Sha256(sha2::Sha256::digest(data).into()),
            sha512: hex(&sha2::Sha512::digest(data)),
        }
    }

    #[test]
    fn same_digests_as_the_010_hashers() {
        let d = data();
        for n in [
            0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000, 3000,
        ] {
            assert_eq!(Hashes::of(&d[..n]), hashes_010(&d[..n]), "{n} bytes");
            assert_eq!(Sha256::of(&d[..n]), hashes_010(&d[..n]).sha256);
        }
    }

    #[test]
    fn state_round_trips_at_every_kind_of_split() {
        let d = data();
        let splits = [
            0, 1, 2, 55, 56, 63, 64, 65, 100, 111, 112, 127, 128, 129, 191, 192, 255, 256, 257,
            1000, 2999, 3000,
        ];
        for split in splits {
            let mut a = MultiHasher::new();
            a.update(&d[..split]);
            let bytes = a.to_state_bytes();
            assert_eq!(bytes.len(), STATE_HEAD + split % 128, "split {split}");
            let mut b = MultiHasher::from_state_bytes(&bytes).unwrap();
            assert_eq!(b.len(), split as u64);
            // The restored hashers are the originals, field by field.
            assert_eq!(b.md5.serialize(), a.md5.serialize(), "split {split}");
            assert_eq!(b.sha1.serialize(), a.sha1.serialize(), "split {split}");
            assert_eq!(b.sha256.serialize(), a.sha256.serialize(), "split {split}");
            assert_eq!(b.sha512.serialize(), a.sha512.serialize(), "split {split}");
            assert_eq!(b.finish(), (hashes_010(&d[..split]), split as u64));
            // Extended, in odd pieces, they reach the digests of the whole.
            for piece in d[split..].chunks(77) {
                b.update(piece);
            }
            assert_eq!(
                b.finish(),
                (hashes_010(&d), d.len() as u64),
                "split {split}"
            );
            // And through the text form.
            let text = HashState::of(&a);
            let json = serde_json::to_string(&text).unwrap();
            let back: HashState = serde_json::from_str(&json).unwrap();
            assert_eq!(back, text);
            assert_eq!(back.hashed_len(), split as u64);
            assert_eq!(back.hasher().unwrap().finish(), a.finish());
        }
    }

    #[test]
    fn persisted_state_is_small() {
        let mut h = MultiHasher::new();
        h.update(&data()[..1000]);
        // 1000 % 128 = 104 tail bytes: 245 bytes, 327 base64 characters.
        assert_eq!(h.to_state_bytes().len(), 245);
        assert_eq!(HashState::of(&h).to_base64().len(), 327);
    }

    #[test]
    fn corrupt_state_is_an_error() {
        let mut h = MultiHasher::new();
        h.update(&data()[..200]);
        let good = h.to_state_bytes();
        for n in [0, 1, 9, STATE_HEAD - 1, STATE_HEAD, good.len() - 1] {
            assert!(
                matches!(
                    MultiHasher::from_state_bytes(&good[..n]),
                    Err(HashStateError::Length { .. })
                ),
                "{n} bytes"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            MultiHasher::from_state_bytes(&long),
            Err(HashStateError::Length { .. })
        ));
        let mut version = good.clone();
        version[0] = 2;
        assert_eq!(
            MultiHasher::from_state_bytes(&version).err(),
            Some(HashStateError::Version(2))
        );
        // A byte count that does not match the tail.
        let mut count = good.clone();
        count[1] ^= 1;
        assert!(MultiHasher::from_state_bytes(&count).is_err());
        // A count too large for SHA-512's block counter still decodes or
        // fails cleanly, never panics.
        let mut huge = good[..STATE_HEAD].to_vec();
        huge[1..9].copy_from_slice(&(u64::MAX - 127).to_le_bytes());
        let _ = MultiHasher::from_state_bytes(&huge);

        assert_eq!(
            HashState::from_base64("not base64!").err(),
            Some(HashStateError::Base64)
        );
        assert!(serde_json::from_str::<HashState>("\"AQID\"").is_err());
        assert!(serde_json::from_str::<HashState>("17").is_err());
    }

    #[test]
    fn sha256_state_is_a_digest_010_dyn_digest() {
        let d = data();
        let mut h = MultiHasher::new();
        h.update(&d[..1234]);
        let mut dynd: Box<dyn DynDigest> = Box::new(h.sha256_state());
        let mut copy = dynd.box_clone();
        dynd.update(&d[1234..]);
        assert_eq!(dynd.output_size(), 32);
        assert_eq!(&dynd.finalize()[..], &hashes_010(&d).sha256.0[..]);
        let mut out = [0u8; 32];
        copy.finalize_into_reset(&mut out).unwrap();
        assert_eq!(out, hashes_010(&d[..1234]).sha256.0);
        let mut short = [0u8; 31];
        assert!(h.sha256_state().finalize_into(&mut short).is_err());
        let mut s = Sha256State::new();
        s.update(b"abc");
        assert_eq!(s.finalize(), Sha256::of(b"abc"));
    }
}
