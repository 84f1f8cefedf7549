//! RSA keys for the formats that sign with bare RSA rather than OpenPGP:
//! Alpine's `APKINDEX.tar.gz` (abuild-sign: PKCS#1 v1.5 over SHA-1, or
//! SHA-256 for `.SIGN.RSA256.`) and FreeBSD's `packagesite.pkg` (`pkg repo`
//! with a key file: PKCS#1 v1.5 over SHA-256 of the hex digest text).
//!
//! The secret key is kept as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`);
//! PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` in OpenSSL 1.x
//! and abuild-keygen write) loads too. The public key is published as
//! SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), the form `/etc/apk/keys/`
//! and pkg's `pubkey` option read. Signatures are what
//! `openssl dgst -sha1|-sha256 -sign key` gives, byte for byte (PKCS#1
//! v1.5 is deterministic).

use crate::KeyError;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// The smallest key [`RsaKey::generate`] and [`RsaKey::from_pem`] accept.
pub const MIN_RSA_BITS: usize = 2048;
/// The largest (keygen and signing time grow with the cube of the size).
pub const MAX_RSA_BITS: usize = 8192;

/// An RSA signing key. Cheap to clone.
#[derive(Clone)]
pub struct RsaKey {
    inner: Arc<RsaInner>,
}

struct RsaInner {
    key: RsaPrivateKey,
    public_pem: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex.
    fingerprint: String,
}

impl RsaKey {
    /// Generates a key of `bits` bits (2048 to 8192, a multiple of 8),
    /// public exponent 65537. 4096 bits take seconds: call it on a
    /// blocking thread.
    pub fn generate(bits: usize) -> Result<RsaKey, KeyError> {
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || !bits.is_multiple_of(8) {
            return Err(KeyError::Unsupported(format!(
                "an RSA key of {bits} bits: use {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, a multiple of 8"
            )));
        }
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), bits)
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        Self::from_key(key)
    }

    /// Loads a PEM secret key: PKCS#8 (`BEGIN PRIVATE KEY`, unencrypted)
    /// or PKCS#1 (`BEGIN RSA PRIVATE KEY`). The key is checked (its
    /// primes and exponents agree) and must have 2048 to 8192 bits.
    pub fn from_pem(pem: &str) -> Result<RsaKey, KeyError> {
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem)
                .map_err(|e| KeyError::NotSecretKey(format!("PKCS#8 RSA key: {e}")))?
        } else if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|e| KeyError::NotSecretKey(format!("PKCS#1 RSA key: {e}")))?
        } else if pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::Protected);
        } else {
            return Err(KeyError::NotSecretKey(
                "expected a PEM RSA secret key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)".into(),
            ));
        };
        key.validate()
            .map_err(|e| KeyError::NotSecretKey(format!("inconsistent RSA key: {e}")))?;
        let bits = key.size() * 8;
        if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
            return Err(KeyError::Unsupported(format!(
                "an RSA key of {bits} bits: use {MIN_RSA_BITS} to {MAX_RSA_BITS} bits"
            )));
        }
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> Result<RsaKey, KeyError> {
        let public = RsaPublicKey::from(&key);
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Generate(format!("encoding the public key: {e}")))?;
        let der = public
            .to_public_key_der()
            .map_err(|e| KeyError::Generate(format!("encoding the public key: {e}")))?;
        let fingerprint = depot_core::digest::hex(&Sha256::digest(der.as_bytes()));
        Ok(RsaKey {
            inner: Arc::new(RsaInner {
                key,
                public_pem,
                fingerprint,
            }),
        })
    }

    /// The secret key as unencrypted PKCS#8 PEM. Treat it as a secret.
    pub fn to_pkcs8_pem(&self) -> String {
        self.inner
            .key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a valid RSA key encodes")
            .to_string()
    }

    /// The public key, SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), with
    /// a final newline.
    pub fn public_key_pem(&self) -> &str {
        &self.inner.public_pem
    }

    /// SHA-256 of the DER public key, lowercase hex: a stable name for it.
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.inner.key.size() * 8
    }

    /// PKCS#1 v1.5 signature of `data` with SHA-1 (`openssl dgst -sha1
    /// -sign`).
    pub fn sign_sha1(&self, data: &[u8]) -> Vec<u8> {
        self.sign_sha1_digest(&Sha1::digest(data).into())
    }

    /// The same, from the SHA-1 digest of the data.
    pub fn sign_sha1_digest(&self, digest: &[u8; 20]) -> Vec<u8> {
        self.sign_prehashed(Pkcs1v15Sign::new::<Sha1>(), digest)
    }

    /// PKCS#1 v1.5 signature of `data` with SHA-256 (`openssl dgst -sha256
    /// -sign`).
    pub fn sign_sha256(&self, data: &[u8]) -> Vec<u8> {
        self.sign_sha256_digest(&Sha256::digest(data).into())
    }

    /// The same, from the SHA-256 digest of the data.
    pub fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Vec<u8> {
        self.sign_prehashed(Pkcs1v15Sign::new::<Sha256>(), digest)
    }

    fn sign_prehashed(&self, scheme: Pkcs1v15Sign, digest: &[u8]) -> Vec<u8> {
        // With blinding (the rng): the signature is the same, the timing
        // says nothing about the key.
        self.inner
            .key
            .sign_with_rng(&mut rand::thread_rng(), scheme, digest)
            .expect("a digest of the scheme's length always signs")
    }

    /// Checks a PKCS#1 v1.5 SHA-256 signature with this key's public half.
    pub fn verify_sha256(&self, data: &[u8], signature: &[u8]) -> bool {
        RsaPublicKey::from(&self.inner.key)
            .verify(
                Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(data),
                signature,
            )
            .is_ok()
    }
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.inner.fingerprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn openssl_verify(hash: &str, public_pem: &str, sig: &[u8], data: &[u8]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let (k, s, d) = (
            dir.path().join("k.pub"),
            dir.path().join("sig"),
            dir.path().join("data"),
        );
        std::fs::write(&k, public_pem).unwrap();
        std::fs::write(&s, sig).unwrap();
        std::fs::write(&d, data).unwrap();
        let out = Command::new("openssl")
            .args(["dgst", hash, "-verify"])
            .arg(&k)
            .arg("-signature")
            .arg(&s)
            .arg(&d)
            .output()
            .expect("openssl runs");
        out.status.success()
    }

    #[test]
    fn signatures_verify_with_openssl_and_keys_round_trip() {
        let key = RsaKey::generate(2048).unwrap();
        assert_eq!(key.bits(), 2048);
        assert!(
            key.public_key_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
        let data = b"the gzip stream of an index";
        let s1 = key.sign_sha1(data);
        let s256 = key.sign_sha256(data);
        assert_eq!(s1.len(), 256);
        assert!(openssl_verify("-sha1", key.public_key_pem(), &s1, data));
        assert!(openssl_verify("-sha256", key.public_key_pem(), &s256, data));
        assert!(!openssl_verify(
            "-sha256",
            key.public_key_pem(),
            &s256,
            b"other"
        ));
        assert!(!openssl_verify("-sha256", key.public_key_pem(), &s1, data));
        assert!(key.verify_sha256(data, &s256));
        // Deterministic, and the same after a PKCS#8 round trip.
        let again = RsaKey::from_pem(&key.to_pkcs8_pem()).unwrap();
        assert_eq!(again.sign_sha1(data), s1);
        assert_eq!(again.fingerprint(), key.fingerprint());
        // PKCS#1 loads too.
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let pkcs1 = key.inner.key.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(RsaKey::from_pem(&pkcs1).unwrap().sign_sha256(data), s256);
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(
            RsaKey::generate(1024),
            Err(KeyError::Unsupported(_))
        ));
        assert!(matches!(
            RsaKey::from_pem("garbage"),
            Err(KeyError::NotSecretKey(_))
        ));
        assert!(matches!(
            RsaKey::from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
            ),
            Err(KeyError::Protected)
        ));
        assert!(matches!(
            RsaKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(KeyError::NotSecretKey(_))
        ));
    }
}
