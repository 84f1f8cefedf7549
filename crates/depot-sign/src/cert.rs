//! Which keys of a certificate may make data signatures right now.
//!
//! rPGP parses certificates but leaves policy to the caller
//! (`SignedPublicKey::verify_bindings` even fails on third-party
//! certifications, which every key from a keyserver has). This module is that
//! policy, kept close to what gpgv 2.2 does for an apt keyring:
//!
//! - only v4 keys with RSA (at least 2048 bits) or EdDSA over Ed25519, the
//!   "legacy" encoding that gpg 2.2 understands;
//! - a component is valid if it carries a self-signature that verifies; the
//!   newest valid one decides key flags and expiry;
//! - a valid revocation by the primary key, or an expiry in the past, makes a
//!   component unusable;
//! - a subkey may sign only if its binding says so and carries a valid
//!   primary-key binding ("back") signature.

use pgp::{
    composed::{SignedKeyDetails, SignedPublicKey, SignedPublicSubKey},
    crypto::public_key::PublicKeyAlgorithm,
    packet::{self, Signature, SignatureType, SubpacketData},
    ser::Serialize,
    types::{EddsaLegacyPublicParams, KeyDetails, KeyVersion, PublicParams, Tag, Timestamp},
};

use crate::KeyError;

/// Smallest RSA modulus depot accepts, in bits.
pub(crate) const MIN_RSA_BITS: u32 = 2048;

/// Uppercase hex fingerprint, the form gpg prints and depot shows.
pub(crate) fn fingerprint_hex(key: &impl KeyDetails) -> String {
    format!("{:X}", key.fingerprint())
}

/// Rejects key versions and algorithms whose signatures apt/gpgv 2.2 cannot
/// check, and weak RSA keys.
pub(crate) fn check_supported(key: &impl KeyDetails) -> Result<(), KeyError> {
    if key.version() != KeyVersion::V4 {
        return Err(KeyError::Unsupported(format!(
            "OpenPGP {:?} key {}: only v4 keys are supported (gpgv 2.2 and apt cannot verify \
             signatures by other versions)",
            key.version(),
            fingerprint_hex(key)
        )));
    }
    match key.public_params() {
        PublicParams::RSA(params) => {
            let bits = rsa_bits(params)?;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::Unsupported(format!(
                    "RSA key {} has {bits} bits; at least {MIN_RSA_BITS} are required",
                    fingerprint_hex(key)
                )));
            }
            Ok(())
        }
        PublicParams::EdDSALegacy(EddsaLegacyPublicParams::Ed25519 { .. }) => Ok(()),
        _ => Err(KeyError::Unsupported(format!(
            "key {} uses {:?}; only RSA and EdDSA (Ed25519) keys are supported",
            fingerprint_hex(key),
            key.algorithm()
        ))),
    }
}

/// Bit length of the RSA modulus: the first MPI of the serialised public
/// parameters, whose two-byte header is exactly that count (RFC 9580 §3.2).
fn rsa_bits(params: &impl Serialize) -> Result<u32, KeyError> {
    let bytes = params
        .to_bytes()
        .map_err(|e| KeyError::Unsupported(format!("unreadable RSA parameters: {e}")))?;
    match bytes.as_slice() {
        [hi, lo, ..] => Ok(u32::from(u16::from_be_bytes([*hi, *lo]))),
        _ => Err(KeyError::Unsupported("truncated RSA parameters".into())),
    }
}

/// What the self-signatures of a certificate say about its primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrimaryStatus {
    /// The key flags allow data signatures (or there are no key flags, in
    /// which case the algorithm decides, as in gpg).
    pub can_sign: bool,
}

/// Checks that the primary key is supported, self-signed, not revoked and not
/// expired at `now`, and reports whether it may sign.
pub(crate) fn check_primary(
    primary: &packet::PublicKey,
    details: &SignedKeyDetails,
    now: Timestamp,
) -> Result<PrimaryStatus, KeyError> {
    check_supported(primary)?;
    let unusable = |reason: &str| KeyError::Unusable {
        fingerprint: fingerprint_hex(primary),
        reason: reason.to_string(),
    };

    if details.revocation_signatures.iter().any(|sig| {
        sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok()
    }) {
        return Err(unusable("the key is revoked"));
    }

    let certifications = details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(move |sig| {
            is_positive_certification(sig)
                && sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    let direct = details
        .direct_signatures
        .iter()
        .filter(|sig| sig.typ() == Some(SignatureType::Key) && sig.verify_key(primary).is_ok());
    let binding = newest_live(certifications.chain(direct), now)
        .ok_or_else(|| unusable("it has no valid self-signature"))?;

    if expired(binding, primary.created_at(), now) {
        return Err(unusable("the key has expired"));
    }
    Ok(PrimaryStatus {
        can_sign: allows_signing(binding),
    })
}

/// The subkey, if its newest valid binding lets it make data signatures now.
///
/// Subkeys with a bad binding, a revocation or an expiry in the past are
/// skipped rather than reported, as gpgv does: a signature they made then
/// fails like one made by a key outside the certificate.
pub(crate) fn signing_subkey<'a>(
    primary: &packet::PublicKey,
    subkey: &'a SignedPublicSubKey,
    now: Timestamp,
) -> Option<&'a packet::PublicSubkey> {
    check_supported(&subkey.key).ok()?;
    let revoked = subkey.signatures.iter().any(|sig| {
        sig.typ() == Some(SignatureType::SubkeyRevocation)
            && sig.verify_subkey_binding(primary, &subkey.key).is_ok()
    });
    if revoked {
        return None;
    }
    let bindings = subkey.signatures.iter().filter(|sig| {
        sig.typ() == Some(SignatureType::SubkeyBinding)
            && sig.verify_subkey_binding(primary, &subkey.key).is_ok()
    });
    let binding = newest_live(bindings, now)?;
    if expired(binding, subkey.key.created_at(), now) || !binding.key_flags().sign() {
        return None;
    }
    // A signing subkey must sign the primary back, or anyone could bind
    // someone else's signing key to their certificate.
    let backsig = binding.embedded_signature()?;
    backsig
        .verify_primary_key_binding(&subkey.key, primary)
        .ok()?;
    Some(&subkey.key)
}

/// Every key of `cert` that may make data signatures now, primary first.
pub(crate) fn verifying_keys(
    cert: &SignedPublicKey,
    now: Timestamp,
) -> Result<Vec<VerifyingComponent<'_>>, KeyError> {
    let status = check_primary(&cert.primary_key, &cert.details, now)?;
    let mut keys = Vec::new();
    if status.can_sign {
        keys.push(VerifyingComponent::Primary(&cert.primary_key));
    }
    keys.extend(
        cert.public_subkeys
            .iter()
            .filter_map(|sub| signing_subkey(&cert.primary_key, sub, now))
            .map(VerifyingComponent::Subkey),
    );
    if keys.is_empty() {
        return Err(KeyError::Unusable {
            fingerprint: fingerprint_hex(&cert.primary_key),
            reason: "neither the primary key nor any subkey may sign".into(),
        });
    }
    Ok(keys)
}

/// A key that may have made a data signature.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VerifyingComponent<'a> {
    Primary(&'a packet::PublicKey),
    Subkey(&'a packet::PublicSubkey),
}

impl VerifyingComponent<'_> {
    /// Verifies `sig` over `data` with this key.
    pub(crate) fn verify(&self, sig: &Signature, data: &[u8]) -> pgp::errors::Result<()> {
        match self {
            Self::Primary(key) => sig.verify(*key, data),
            Self::Subkey(key) => sig.verify(*key, data),
        }
    }
}

fn is_positive_certification(sig: &Signature) -> bool {
    matches!(
        sig.typ(),
        Some(
            SignatureType::CertGeneric
                | SignatureType::CertPersona
                | SignatureType::CertCasual
                | SignatureType::CertPositive
        )
    )
}

/// The newest signature that has not itself expired at `now`.
fn newest_live<'a>(
    sigs: impl Iterator<Item = &'a Signature>,
    now: Timestamp,
) -> Option<&'a Signature> {
    sigs.filter(
        |sig| match (sig.created(), sig.signature_expiration_time()) {
            (Some(created), Some(validity)) if validity.as_secs() > 0 => {
                u64::from(created.as_secs()) + u64::from(validity.as_secs())
                    > u64::from(now.as_secs())
            }
            _ => true,
        },
    )
    .max_by_key(|sig| sig.created().map_or(0, Timestamp::as_secs))
}

/// Whether the key expiry recorded in `binding` (seconds after the key's
/// creation; zero or absent means never) lies at or before `now`.
fn expired(binding: &Signature, key_created: Timestamp, now: Timestamp) -> bool {
    match binding.key_expiration_time() {
        Some(validity) if validity.as_secs() > 0 => {
            u64::from(key_created.as_secs()) + u64::from(validity.as_secs())
                <= u64::from(now.as_secs())
        }
        _ => false,
    }
}

/// Key flags of a binding: the sign flag if flags are present, else `true`
/// (RFC 9580 §5.2.3.29: without flags the key's usage is not restricted).
fn allows_signing(binding: &Signature) -> bool {
    let has_flags = binding.config().is_some_and(|config| {
        config
            .hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    });
    !has_flags || binding.key_flags().sign()
}

/// The algorithm name used in messages and `Debug` output.
pub(crate) fn algorithm_name(key: &impl KeyDetails) -> String {
    match key.public_params() {
        PublicParams::RSA(params) => match rsa_bits(params) {
            Ok(bits) => format!("rsa{bits}"),
            Err(_) => "rsa".into(),
        },
        PublicParams::EdDSALegacy(_) => "ed25519".into(),
        _ => match key.algorithm() {
            PublicKeyAlgorithm::DSA => "dsa".into(),
            PublicKeyAlgorithm::ECDSA => "ecdsa".into(),
            other => format!("{other:?}").to_lowercase(),
        },
    }
}
