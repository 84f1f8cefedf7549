//! Verification of depot's own signatures (and of any OpenPGP v4 data
//! signature) against one certificate, with gpgv's rules: the signing key
//! must be valid now, the signature must be a data signature over the exact
//! input, and its hash must be at least 256 bits.

use pgp::{
    composed::{CleartextSignedMessage, Deserializable, DetachedSignature, SignedPublicKey},
    packet::{Signature, SignatureType},
    types::Timestamp,
};

use crate::{
    KeyError,
    cert::{self, VerifyingComponent},
};

/// Verifies a cleartext-signed message (an InRelease file) made by the key
/// in `public_key_armored` and returns the signed text.
///
/// The returned text is what the signature covers: dash escapes removed,
/// trailing spaces and tabs removed from every line (RFC 9580 §7.2), line
/// endings as `\n`. For a message made by [`depot_core::sign::PgpSigner::clearsign`]
/// of LF text without trailing whitespace it equals the input exactly,
/// including a final `"\n"`. gpg does not sign the line break before the
/// signature block, so for `gpg --clearsign` output the text comes back
/// without its final `"\n"`.
///
/// At least one signature in the message must be a text signature with a
/// hash of 256 bits or more that verifies with the primary key or a signing
/// subkey of the certificate; that key must not be revoked or expired.
///
/// # Errors
/// [`KeyError::NotPublicKey`] if the key does not parse,
/// [`KeyError::Unsupported`] / [`KeyError::Unusable`] if it cannot sign,
/// [`KeyError::MalformedSignature`] if the message is not a cleartext-signed
/// message (including data before or after it), and
/// [`KeyError::BadSignature`] if no signature verifies.
pub fn verify_clearsigned(public_key_armored: &str, message: &str) -> Result<String, KeyError> {
    let cert = parse_public_key(public_key_armored)?;
    let keys = cert::verifying_keys(&cert, Timestamp::now())?;
    let (message, _headers) = CleartextSignedMessage::from_string(message)
        .map_err(|e| KeyError::MalformedSignature(e.to_string()))?;
    let signed_text = message.signed_text();
    check_any(
        message.signatures(),
        &keys,
        signed_text.as_bytes(),
        &[SignatureType::Text],
    )?;
    Ok(signed_text.replace("\r\n", "\n"))
}

/// Verifies an ASCII-armored detached signature (`Release.gpg`,
/// `repomd.xml.asc`) over `data` against the key in `public_key_armored`.
///
/// The armor may hold several signatures (a file signed by more than one
/// key); it is enough that one of them is a binary or text signature with a
/// hash of 256 bits or more that verifies with the primary key or a signing
/// subkey of the certificate, which must not be revoked or expired.
///
/// # Errors
/// As [`verify_clearsigned`].
pub fn verify_detached(
    public_key_armored: &str,
    data: &[u8],
    signature_armored: &str,
) -> Result<(), KeyError> {
    let cert = parse_public_key(public_key_armored)?;
    let keys = cert::verifying_keys(&cert, Timestamp::now())?;
    let signatures = parse_detached(signature_armored)?;
    check_any(
        &signatures,
        &keys,
        data,
        &[SignatureType::Binary, SignatureType::Text],
    )
}

/// Every signature in every armor block of `armored` (gpg accepts
/// concatenated blocks, so a signature file may hold several).
fn parse_detached(armored: &str) -> Result<Vec<Signature>, KeyError> {
    let mut blocks = crate::armor::blocks(armored);
    if blocks.is_empty() {
        // Let the parser say what is wrong with it.
        blocks.push(armored);
    }
    let mut signatures = Vec::new();
    for block in blocks {
        let (parsed, _headers) = DetachedSignature::from_string_many(block)
            .map_err(|e| KeyError::MalformedSignature(e.to_string()))?;
        for sig in parsed {
            let sig = sig.map_err(|e| KeyError::MalformedSignature(e.to_string()))?;
            signatures.push(sig.signature);
        }
    }
    Ok(signatures)
}

/// Parses exactly one armored certificate.
fn parse_public_key(armored: &str) -> Result<SignedPublicKey, KeyError> {
    let blocks = crate::armor::blocks(armored).len();
    if blocks > 1 {
        return Err(KeyError::NotPublicKey(format!(
            "expected one key, found {blocks} armored blocks"
        )));
    }
    let (keys, _headers) = SignedPublicKey::from_string_many(armored)
        .map_err(|e| KeyError::NotPublicKey(e.to_string()))?;
    let mut keys = keys
        .collect::<pgp::errors::Result<Vec<_>>>()
        .map_err(|e| KeyError::NotPublicKey(e.to_string()))?;
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err(KeyError::NotPublicKey(
            "the armored block holds no key".into(),
        )),
        n => Err(KeyError::NotPublicKey(format!(
            "expected one key, found {n}"
        ))),
    }
}

/// Succeeds if one of `signatures` is acceptable and verifies over `data`
/// with one of `keys`; otherwise explains why each one failed.
fn check_any(
    signatures: &[Signature],
    keys: &[VerifyingComponent<'_>],
    data: &[u8],
    allowed_types: &[SignatureType],
) -> Result<(), KeyError> {
    if signatures.is_empty() {
        return Err(KeyError::MalformedSignature("no signature found".into()));
    }
    let now = Timestamp::now();
    let mut reasons = Vec::with_capacity(signatures.len());
    for sig in signatures {
        match check_one(sig, keys, data, allowed_types, now) {
            Ok(()) => return Ok(()),
            Err(reason) => reasons.push(reason),
        }
    }
    Err(KeyError::BadSignature(reasons.join("; ")))
}

fn check_one(
    sig: &Signature,
    keys: &[VerifyingComponent<'_>],
    data: &[u8],
    allowed_types: &[SignatureType],
    now: Timestamp,
) -> Result<(), String> {
    let typ = sig.typ().ok_or("unsupported signature version")?;
    if !allowed_types.contains(&typ) {
        return Err(format!("unexpected signature type {typ:?}"));
    }
    let hash = sig.hash_alg().ok_or("unsupported signature version")?;
    if hash.digest_size().unwrap_or(0) < 32 {
        return Err(format!(
            "weak hash algorithm {hash}; SHA-256 or stronger is required"
        ));
    }
    if let (Some(created), Some(validity)) = (sig.created(), sig.signature_expiration_time())
        && validity.as_secs() > 0
        && u64::from(created.as_secs()) + u64::from(validity.as_secs()) <= u64::from(now.as_secs())
    {
        return Err("the signature has expired".into());
    }
    let mut last_error = None;
    for key in keys {
        match key.verify(sig, data) {
            Ok(()) => return Ok(()),
            Err(e) => last_error = Some(e),
        }
    }
    let issuer = issuer(sig);
    Err(match last_error {
        Some(e) => format!("signature by {issuer} does not verify: {e}"),
        None => format!("signature by {issuer}: no key to check it with"),
    })
}

/// The issuer named in a signature, for messages.
fn issuer(sig: &Signature) -> String {
    if let Some(fpr) = sig.issuer_fingerprint().first() {
        return format!("{fpr:X}");
    }
    match sig.issuer_key_id().first() {
        Some(id) => format!("key ID {}", id.to_string().to_uppercase()),
        None => "an unnamed key".into(),
    }
}

/// What [`check_detached_binary`] read from a packager's signature file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachedInfo {
    /// The issuer of each signature, as [`issuer`] names it: an uppercase
    /// fingerprint, or `key ID …` for signatures that carry only that.
    pub issuers: Vec<String>,
}

/// The largest signature file accepted (repo-add's limit, 16 KiB).
pub const MAX_DETACHED_BINARY: usize = 16 * 1024;

/// Checks a binary (not armored) detached signature file, as pacman wants
/// beside a package, against the `data` it claims to sign, without the
/// signer's key (a packager's key is not known to the server):
///
/// - it is not armored, at most [`MAX_DETACHED_BINARY`] bytes, and is one
///   or more v4 signature packets of type binary (0x00), with a hash of 256
///   bits or more;
/// - each signature's "signed hash value" (the first two bytes of the hash
///   the signer signed, stored in clear in the packet) matches the hash of
///   `data` with that signature's own trailer. That catches a signature
///   made for another file with odds of 65,535 to 1; the signature itself is
///   checked by pacman against the keys its user trusts.
///
/// `data` is read to its end once, whatever the number of signatures.
///
/// # Errors
/// [`KeyError::MalformedSignature`] for anything that is not such a
/// signature file, [`KeyError::BadSignature`] when a signature is not over
/// `data`, and the I/O error of `data` as a `MalformedSignature`.
pub fn check_detached_binary(
    signature: &[u8],
    mut data: impl std::io::Read,
) -> Result<DetachedInfo, KeyError> {
    use pgp::packet::SignatureVersion;
    let malformed = |m: String| KeyError::MalformedSignature(m);
    if signature.len() > MAX_DETACHED_BINARY {
        return Err(malformed(format!(
            "the signature file is {} bytes, over the {MAX_DETACHED_BINARY}-byte limit",
            signature.len()
        )));
    }
    if signature.starts_with(b"-----BEGIN PGP") {
        return Err(malformed(
            "the signature is ASCII-armored; pacman needs a binary signature \
             (gpg --detach-sign without --armor, or gpg --dearmor)"
                .into(),
        ));
    }
    if signature.is_empty() {
        return Err(malformed("the signature file is empty".into()));
    }
    let parsed = DetachedSignature::from_bytes_many(signature)
        .map_err(|e| malformed(e.to_string()))?
        .collect::<pgp::errors::Result<Vec<_>>>()
        .map_err(|e| malformed(e.to_string()))?;
    if parsed.is_empty() {
        return Err(malformed("no signature packet found".into()));
    }
    let mut checks = Vec::with_capacity(parsed.len());
    for sig in &parsed {
        let sig = &sig.signature;
        if sig.version() != SignatureVersion::V4 {
            return Err(malformed(format!(
                "a signature of version {:?}; pacman's GnuPG reads version 4",
                sig.version()
            )));
        }
        let (Some(config), Some(prefix)) = (sig.config(), sig.signed_hash_value()) else {
            return Err(malformed("a signature packet of unknown form".into()));
        };
        if config.typ != SignatureType::Binary {
            return Err(malformed(format!(
                "a signature of type {:?}; a package signature is a binary one",
                config.typ
            )));
        }
        if config.hash_alg.digest_size().unwrap_or(0) < 32 {
            return Err(malformed(format!(
                "a signature with the weak hash {}; SHA-256 or stronger is required",
                config.hash_alg
            )));
        }
        let hasher = config
            .hash_alg
            .new_hasher()
            .map_err(|e| malformed(e.to_string()))?;
        checks.push((config, prefix, hasher, issuer(sig)));
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(malformed(format!("reading the signed data: {e}"))),
        };
        for (_, _, hasher, _) in checks.iter_mut() {
            hasher.update(&buf[..n]);
        }
    }
    let mut issuers = Vec::with_capacity(checks.len());
    for (config, prefix, mut hasher, who) in checks {
        let len = config
            .hash_signature_data(&mut hasher)
            .map_err(|e| malformed(e.to_string()))?;
        hasher.update(&config.trailer(len).map_err(|e| malformed(e.to_string()))?);
        let hash = hasher.finalize();
        if hash[..2] != prefix {
            return Err(KeyError::BadSignature(format!(
                "the signature by {who} was not made over this file"
            )));
        }
        issuers.push(who);
    }
    Ok(DetachedInfo { issuers })
}
