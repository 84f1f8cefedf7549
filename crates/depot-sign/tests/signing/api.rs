//! The crate's own API: storage round trip, verification, rejection of bad
//! input with a clear error.

use depot_core::sign::PgpSigner;
use depot_sign::{KeyAlgorithm, KeyError, PgpKey, verify_clearsigned, verify_detached};

use crate::common::{RELEASE, both_keys, ed25519_key, other_key, tamper};

#[test]
fn stored_secret_key_loads_as_the_same_key() {
    for (algo, key) in both_keys() {
        let armored = key.to_armored_secret();
        assert!(
            armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"),
            "{algo}"
        );
        let loaded = PgpKey::from_armored_secret(&armored).unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint(), "{algo}");
        assert_eq!(
            loaded.public_key_binary(),
            key.public_key_binary(),
            "{algo}"
        );
        assert_eq!(
            loaded.public_key_armored(),
            key.public_key_armored(),
            "{algo}"
        );
        assert_eq!(loaded.to_armored_secret(), armored, "{algo}: stable form");

        // The loaded key signs, and the original's public key accepts it.
        let inrelease = loaded.clearsign(RELEASE).unwrap();
        assert_eq!(
            verify_clearsigned(&key.public_key_armored(), &inrelease).unwrap(),
            RELEASE,
            "{algo}"
        );
        let sig = loaded.sign_detached_armored(RELEASE.as_bytes()).unwrap();
        verify_detached(&key.public_key_armored(), RELEASE.as_bytes(), &sig).unwrap();
    }
}

#[test]
fn fingerprint_is_40_uppercase_hex_digits() {
    for (algo, key) in both_keys() {
        let fpr = key.fingerprint();
        assert_eq!(fpr.len(), 40, "{algo}: {fpr}");
        assert!(
            fpr.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "{algo}: {fpr}"
        );
    }
    assert_ne!(ed25519_key().fingerprint(), other_key().fingerprint());
}

#[test]
fn public_key_forms_are_armored_and_binary() {
    let key = ed25519_key();
    let armored = key.public_key_armored();
    assert!(armored.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"));
    assert!(
        armored
            .trim_end()
            .ends_with("-----END PGP PUBLIC KEY BLOCK-----")
    );
    assert!(!armored.contains("PRIVATE"));
    let binary = key.public_key_binary();
    // A public-key packet (tag 6), in either header format.
    assert!(
        binary[0] == 0x99 || binary[0] == 0xc6 || binary[0] == 0x98,
        "{:#x}",
        binary[0]
    );
}

/// The message shape apt's InRelease parser insists on.
#[test]
fn clearsigned_message_has_the_inrelease_shape() {
    for (algo, key) in both_keys() {
        let signed = key.clearsign(RELEASE).unwrap();
        let expected_head =
            format!("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{RELEASE}\n");
        assert!(
            signed.starts_with(&expected_head),
            "{algo}: unexpected head:\n{signed}"
        );
        let rest = &signed[expected_head.len()..];
        assert!(
            rest.starts_with("-----BEGIN PGP SIGNATURE-----\n"),
            "{algo}:\n{signed}"
        );
        assert!(
            rest.ends_with("-----END PGP SIGNATURE-----\n"),
            "{algo}:\n{signed}"
        );
        assert!(!signed.contains('\r'), "{algo}: CR in output");
    }
}

#[test]
fn clearsign_escapes_dash_lines_and_round_trips() {
    let key = ed25519_key();
    let text = "-----BEGIN PGP SIGNATURE-----\n-x\nplain\n";
    let signed = key.clearsign(text).unwrap();
    assert!(
        signed.contains(
            "\n\n- -----BEGIN PGP SIGNATURE-----\n- -x\nplain\n\n-----BEGIN PGP SIGNATURE-----\n"
        ),
        "{signed}"
    );
    assert_eq!(
        verify_clearsigned(&key.public_key_armored(), &signed).unwrap(),
        text
    );
}

#[test]
fn clearsign_drops_trailing_blanks_that_the_signature_cannot_cover() {
    let key = ed25519_key();
    let signed = key.clearsign("A: b  \nC: d\t\n").unwrap();
    assert!(signed.contains("\n\nA: b\nC: d\n\n-----BEGIN"), "{signed}");
    assert_eq!(
        verify_clearsigned(&key.public_key_armored(), &signed).unwrap(),
        "A: b\nC: d\n"
    );
}

#[test]
fn verify_clearsigned_accepts_good_and_rejects_tampered_or_foreign() {
    for (algo, key) in both_keys() {
        let public = key.public_key_armored();
        let signed = key.clearsign(RELEASE).unwrap();
        assert_eq!(
            verify_clearsigned(&public, &signed).unwrap(),
            RELEASE,
            "{algo}"
        );

        let changed = tamper(&signed, "Suite: stable", "Suite: stabIe");
        let err = verify_clearsigned(&public, &changed).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");

        // A line appended to the signed text.
        let appended = tamper(
            &signed,
            "Packages\n\n-----BEGIN",
            "Packages\nX: y\n\n-----BEGIN",
        );
        let err = verify_clearsigned(&public, &appended).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");

        // Signed by another key: names the signer in the error.
        let foreign = other_key().clearsign(RELEASE).unwrap();
        let err = verify_clearsigned(&public, &foreign).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");
        assert!(
            err.to_string().contains(&other_key().fingerprint()),
            "{err}"
        );
    }
}

#[test]
fn verify_clearsigned_rejects_malformed_messages() {
    let key = ed25519_key();
    let public = key.public_key_armored();
    let signed = key.clearsign(RELEASE).unwrap();
    for (what, message) in [
        ("empty", String::new()),
        ("plain text", RELEASE.to_string()),
        ("leading garbage", format!("junk\n{signed}")),
        ("trailing garbage", format!("{signed}junk\n")),
        (
            "no signature block",
            signed[..signed.find("-----BEGIN PGP SIGNATURE-----").unwrap()].to_string(),
        ),
        (
            "detached signature instead",
            key.sign_detached_armored(RELEASE.as_bytes()).unwrap(),
        ),
    ] {
        let err = verify_clearsigned(&public, &message).unwrap_err();
        assert!(
            matches!(err, KeyError::MalformedSignature(_)),
            "{what}: {err:?}"
        );
    }
}

#[test]
fn verify_detached_accepts_good_and_rejects_tampered_or_foreign() {
    for (algo, key) in both_keys() {
        let public = key.public_key_armored();
        let data = RELEASE.as_bytes();
        let sig = key.sign_detached_armored(data).unwrap();
        verify_detached(&public, data, &sig).unwrap();

        let changed = tamper(RELEASE, "Suite: stable", "Suite: stabIe");
        let err = verify_detached(&public, changed.as_bytes(), &sig).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");

        // Binary signatures cover every byte, whitespace and line ends too.
        for changed in [
            RELEASE.replace('\n', "\r\n"),
            format!("{RELEASE}\n"),
            RELEASE.trim_end().to_string(),
        ] {
            let err = verify_detached(&public, changed.as_bytes(), &sig).unwrap_err();
            assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");
        }

        let foreign = other_key().sign_detached_armored(data).unwrap();
        let err = verify_detached(&public, data, &foreign).unwrap_err();
        assert!(matches!(err, KeyError::BadSignature(_)), "{algo}: {err}");

        // A signature that verifies with the other key is still rejected
        // against this one, and accepted against its own.
        verify_detached(&other_key().public_key_armored(), data, &foreign).unwrap();
    }
}

#[test]
fn verify_detached_accepts_any_of_several_signatures() {
    let key = ed25519_key();
    let data = b"signed by two keys";
    let mine = key.sign_detached_armored(data).unwrap();
    let theirs = other_key().sign_detached_armored(data).unwrap();
    // Two armored blocks, as `cat a.asc b.asc` would give.
    let both = format!("{theirs}{mine}");
    verify_detached(&key.public_key_armored(), data, &both).unwrap();
    verify_detached(&other_key().public_key_armored(), data, &both).unwrap();
}

#[test]
fn verify_rejects_bad_keys_and_signatures_clearly() {
    let key = ed25519_key();
    let data = b"data";
    let sig = key.sign_detached_armored(data).unwrap();

    let err = verify_detached("not a key", data, &sig).unwrap_err();
    assert!(matches!(err, KeyError::NotPublicKey(_)), "{err:?}");
    let err = verify_detached(&key.to_armored_secret(), data, &sig).unwrap_err();
    assert!(matches!(err, KeyError::NotPublicKey(_)), "{err:?}");

    let err = verify_detached(&key.public_key_armored(), data, "garbage").unwrap_err();
    assert!(matches!(err, KeyError::MalformedSignature(_)), "{err:?}");
    let truncated = &sig[..sig.len() / 2];
    let err = verify_detached(&key.public_key_armored(), data, truncated).unwrap_err();
    assert!(matches!(err, KeyError::MalformedSignature(_)), "{err:?}");
}

#[test]
fn from_armored_secret_rejects_non_keys_with_a_clear_error() {
    let key = ed25519_key();
    let secret = key.to_armored_secret();
    let cases = [
        ("empty", String::new(), ""),
        ("garbage", "definitely not a key".to_string(), ""),
        ("truncated", secret[..secret.len() / 2].to_string(), ""),
        ("public key", key.public_key_armored(), "public key"),
        ("signature", key.sign_detached_armored(b"x").unwrap(), ""),
        (
            "two keys",
            format!("{secret}{}", other_key().to_armored_secret()),
            "expected one key, found 2 armored blocks",
        ),
    ];
    for (what, input, needle) in cases {
        let err = PgpKey::from_armored_secret(&input).unwrap_err();
        assert!(matches!(err, KeyError::NotSecretKey(_)), "{what}: {err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("not an OpenPGP secret key: "),
            "{what}: {message}"
        );
        assert!(message.contains(needle), "{what}: {message}");
    }
}

/// A corrupted secret key must not load and then fail (or worse, produce bad
/// signatures) at the first publish.
#[test]
fn from_armored_secret_rejects_a_key_whose_secret_does_not_match() {
    use pgp::composed::{Deserializable, SignedSecretKey};

    let (mine, _) = SignedSecretKey::from_string(&ed25519_key().to_armored_secret()).unwrap();
    let (theirs, _) = SignedSecretKey::from_string(&other_key().to_armored_secret()).unwrap();
    // My certificate (public key, self-signature) with their secret scalar.
    let spliced = pgp::packet::SecretKey::new(
        mine.primary_key.public_key().clone(),
        theirs.primary_key.secret_params().clone(),
    )
    .unwrap();
    let forged = SignedSecretKey::new(spliced, mine.details.clone(), vec![], vec![]);
    let armored = forged
        .to_armored_string(pgp::composed::ArmorOptions::default())
        .unwrap();

    match PgpKey::from_armored_secret(&armored) {
        Err(KeyError::Unusable {
            fingerprint,
            reason,
        }) => {
            assert_eq!(fingerprint, ed25519_key().fingerprint());
            assert!(reason.contains("test signature"), "{reason}");
        }
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[test]
fn generate_rejects_bad_user_ids() {
    for user_id in ["", "   ", "a\nb", "tab\there", "nul\0"] {
        let err = PgpKey::generate(KeyAlgorithm::Ed25519, user_id).unwrap_err();
        assert!(
            matches!(err, KeyError::InvalidUserId(_)),
            "{user_id:?}: {err:?}"
        );
    }
}

#[test]
fn generated_keys_are_distinct() {
    let a = PgpKey::generate(KeyAlgorithm::Ed25519, "a <a@depot.test>").unwrap();
    let b = PgpKey::generate(KeyAlgorithm::Ed25519, "a <a@depot.test>").unwrap();
    assert_ne!(a.fingerprint(), b.fingerprint());
}

#[test]
fn debug_output_never_shows_key_material() {
    let key = ed25519_key();
    let debug = format!("{key:?}");
    assert!(debug.contains(&key.fingerprint()), "{debug}");
    assert!(debug.contains("ed25519"), "{debug}");
    assert!(!debug.contains("secret"), "{debug}");
    assert!(debug.len() < 200, "{debug}");
    let rsa = format!("{:?}", crate::common::rsa_key());
    assert!(rsa.contains("rsa4096"), "{rsa}");
}

#[test]
fn pgp_key_is_a_shareable_signer() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<PgpKey>();
    let signer: std::sync::Arc<dyn PgpSigner> = std::sync::Arc::new(ed25519_key());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let signer = signer.clone();
            std::thread::spawn(move || signer.clearsign(&format!("n: {i}\n")).unwrap())
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let signed = t.join().unwrap();
        assert_eq!(
            verify_clearsigned(&signer.public_key_armored(), &signed).unwrap(),
            format!("n: {i}\n")
        );
    }
}
