//! The one error type of this crate.

/// Why a key could not be generated, loaded or used, or why a signature did
/// not verify.
///
/// Every variant is caused by the input (a key, a message, a signature, a
/// setting) except [`KeyError::Generate`]; the messages
/// are written to be shown to the operator who supplied that input. No variant
/// ever contains secret key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key algorithm name that [`crate::KeyAlgorithm::from_str`] does not know.
    ///
    /// [`crate::KeyAlgorithm::from_str`]: std::str::FromStr::from_str
    #[error("unknown key algorithm `{0}`: expected `ed25519` or `rsa4096`")]
    UnknownAlgorithm(String),

    /// The user ID given to [`crate::PgpKey::generate`] is empty or contains
    /// control characters (a line break would corrupt `gpg --list-keys`
    /// output and the key listing in the web UI).
    #[error("invalid user id: {0}")]
    InvalidUserId(&'static str),

    /// The cryptographic backend failed to generate a key.
    #[error("key generation failed: {0}")]
    Generate(String),

    /// The input is not an ASCII-armored OpenPGP secret key (garbage, a
    /// public key block, a truncated or corrupted block, or several keys).
    #[error("not an OpenPGP secret key: {0}")]
    NotSecretKey(String),

    /// The input is not an ASCII-armored OpenPGP public key.
    #[error("not an OpenPGP public key: {0}")]
    NotPublicKey(String),

    /// The secret key material is encrypted with a passphrase. depot signs
    /// unattended, so it needs the key without one.
    #[error(
        "the secret key is protected by a passphrase; depot signs unattended and needs an \
         unprotected key (remove the passphrase, e.g. with `gpg --passwd <fingerprint>`, \
         and export the key again)"
    )]
    Protected,

    /// A well-formed key that depot does not sign with, because apt/gpgv 2.2
    /// would not accept its signatures or because it is too weak: not a v4 key,
    /// an algorithm other than RSA or EdDSA (Ed25519), or RSA below 2048 bits.
    #[error("unsupported key: {0}")]
    Unsupported(String),

    /// A supported key that cannot be used now: no valid self-signature,
    /// revoked, expired, not allowed to sign by its key flags, or secret
    /// material that does not match the public key.
    #[error("unusable key {fingerprint}: {reason}")]
    Unusable {
        /// Uppercase hex fingerprint of the primary key.
        fingerprint: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The signature or signed message could not be parsed.
    #[error("malformed signature: {0}")]
    MalformedSignature(String),

    /// The signature is well-formed but does not verify: the data was
    /// changed, it was made by another key, or it uses a weak hash.
    #[error("bad signature: {0}")]
    BadSignature(String),
}
