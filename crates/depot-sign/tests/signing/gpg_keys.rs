//! Keys and signatures made by gpg itself: what users bring when they import
//! an existing repository key, and what the verifier must handle.

use depot_core::sign::PgpSigner;
use depot_sign::{KeyError, PgpKey, verify_clearsigned, verify_detached};

use crate::common::{GnupgHome, RELEASE, describe};

/// Generates a key with `gpg --quick-gen-key` and returns its fingerprint.
fn gpg_gen(
    home: &GnupgHome,
    extra: &[&str],
    user_id: &str,
    algo: &str,
    usage: &str,
    expire: &str,
) -> String {
    let mut args = extra.to_vec();
    args.extend(["--quick-gen-key", user_id, algo, usage, expire]);
    home.gpg_ok(&args);
    let out = home.gpg_ok(&["--with-colons", "--list-keys", user_id]);
    let listing = String::from_utf8(out.stdout).unwrap();
    listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no fingerprint in {listing}"))
        .to_string()
}

fn export_secret(home: &GnupgHome, passphrase: &str, fpr: &str) -> String {
    let out = home.gpg_ok(&[
        "--passphrase",
        passphrase,
        "--armor",
        "--export-secret-keys",
        fpr,
    ]);
    String::from_utf8(out.stdout).unwrap()
}

fn export_public(home: &GnupgHome, fpr: &str) -> String {
    let out = home.gpg_ok(&["--armor", "--export", fpr]);
    String::from_utf8(out.stdout).unwrap()
}

/// `gpg --detach-sign --armor` of `data` by `fpr`, with extra options.
fn gpg_detach_sign(home: &GnupgHome, fpr: &str, extra: &[&str], data: &[u8]) -> String {
    let input = home.write("to-sign", data);
    let output = home.path().join("to-sign.asc");
    let _ = std::fs::remove_file(&output);
    let mut args = vec![
        "--passphrase",
        "",
        "--local-user",
        fpr,
        "--armor",
        "--detach-sign",
    ];
    args.extend(extra);
    args.extend([
        "--output",
        output.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    home.gpg_ok(&args);
    std::fs::read_to_string(output).unwrap()
}

/// The usual way to bring an existing key: a gpg key without passphrase. depot
/// loads it, keeps its fingerprint, and gpgv accepts what depot signs with it
/// using the public key gpg exports.
#[test]
fn an_unprotected_gpg_key_loads_and_signs() {
    let home = GnupgHome::new();
    for (algo, expected_name) in [("ed25519", "ed25519"), ("rsa3072", "rsa3072")] {
        let user_id = format!("{algo} <{algo}@gpg.test>");
        let fpr = gpg_gen(
            &home,
            &["--passphrase", ""],
            &user_id,
            algo,
            "sign",
            "never",
        );
        let key = PgpKey::from_armored_secret(&export_secret(&home, "", &fpr)).unwrap();
        assert_eq!(key.fingerprint(), fpr);
        assert!(format!("{key:?}").contains(expected_name), "{key:?}");

        let keyring = home.write("gpg-key.gpg", {
            let out = home.gpg_ok(&["--export", &fpr]);
            out.stdout
        });
        let inrelease = home.write("InRelease", key.clearsign(RELEASE).unwrap());
        let out = home.gpgv(&keyring, &[inrelease.as_os_str()]);
        assert!(out.status.success(), "{algo}: {}", describe(&out));

        // Its signatures and gpg's verify against gpg's export of the key.
        let public = export_public(&home, &fpr);
        let sig = key.sign_detached_armored(RELEASE.as_bytes()).unwrap();
        verify_detached(&public, RELEASE.as_bytes(), &sig).unwrap();
        let gpg_sig = gpg_detach_sign(&home, &fpr, &[], RELEASE.as_bytes());
        verify_detached(&public, RELEASE.as_bytes(), &gpg_sig).unwrap();
        verify_detached(&key.public_key_armored(), RELEASE.as_bytes(), &gpg_sig).unwrap();
    }
}

#[test]
fn a_passphrase_protected_key_is_refused() {
    let home = GnupgHome::new();
    let fpr = gpg_gen(
        &home,
        &["--passphrase", "correct horse"],
        "locked <l@gpg.test>",
        "ed25519",
        "sign",
        "never",
    );
    let err =
        PgpKey::from_armored_secret(&export_secret(&home, "correct horse", &fpr)).unwrap_err();
    assert!(matches!(err, KeyError::Protected), "{err:?}");
    assert!(err.to_string().contains("passphrase"), "{err}");
}

#[test]
fn an_expired_key_is_refused() {
    let home = GnupgHome::new();
    // Made on 2020-01-01, valid for one day.
    let fpr = gpg_gen(
        &home,
        &["--passphrase", "", "--faked-system-time", "1577836800"],
        "expired <e@gpg.test>",
        "ed25519",
        "sign",
        "1d",
    );
    match PgpKey::from_armored_secret(&export_secret(&home, "", &fpr)) {
        Err(KeyError::Unusable {
            fingerprint,
            reason,
        }) => {
            assert_eq!(fingerprint, fpr);
            assert!(reason.contains("expired"), "{reason}");
        }
        other => panic!("expected Unusable, got {other:?}"),
    }
    // And signatures cannot be checked against it either (gpgv says EXPKEYSIG).
    let err = verify_detached(&export_public(&home, &fpr), b"x", "irrelevant").unwrap_err();
    assert!(matches!(err, KeyError::Unusable { .. }), "{err:?}");
}

#[test]
fn a_revoked_key_is_refused() {
    let home = GnupgHome::new();
    let fpr = gpg_gen(
        &home,
        &["--passphrase", ""],
        "revoked <r@gpg.test>",
        "ed25519",
        "sign",
        "never",
    );
    // gpg stores a revocation certificate at generation, defused by a colon.
    let cert =
        std::fs::read_to_string(home.path().join(format!("openpgp-revocs.d/{fpr}.rev"))).unwrap();
    let cert = home.write("revoke.asc", cert.replace(":-----BEGIN", "-----BEGIN"));
    home.gpg_ok(&["--import", cert.to_str().unwrap()]);

    match PgpKey::from_armored_secret(&export_secret(&home, "", &fpr)) {
        Err(KeyError::Unusable {
            fingerprint,
            reason,
        }) => {
            assert_eq!(fingerprint, fpr);
            assert!(reason.contains("revoked"), "{reason}");
        }
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[test]
fn a_weak_rsa_key_is_refused() {
    let home = GnupgHome::new();
    let fpr = gpg_gen(
        &home,
        &["--passphrase", ""],
        "weak <w@gpg.test>",
        "rsa1024",
        "sign",
        "never",
    );
    let err = PgpKey::from_armored_secret(&export_secret(&home, "", &fpr)).unwrap_err();
    assert!(matches!(err, KeyError::Unsupported(_)), "{err:?}");
    assert!(err.to_string().contains("1024 bits"), "{err}");
}

/// A certify-only primary key with a signing subkey: depot signs with the
/// primary key only, so it refuses the key rather than make signatures the
/// key's own flags forbid. Verification, however, follows gpgv and accepts
/// signatures made by the subkey.
#[test]
fn signing_subkeys_verify_but_are_not_used_for_signing() {
    let home = GnupgHome::new();
    let fpr = gpg_gen(
        &home,
        &["--passphrase", ""],
        "split <s@gpg.test>",
        "ed25519",
        "cert",
        "never",
    );
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &fpr,
        "ed25519",
        "sign",
        "never",
    ]);

    match PgpKey::from_armored_secret(&export_secret(&home, "", &fpr)) {
        Err(KeyError::Unusable {
            fingerprint,
            reason,
        }) => {
            assert_eq!(fingerprint, fpr);
            assert!(reason.contains("do not allow signing"), "{reason}");
        }
        other => panic!("expected Unusable, got {other:?}"),
    }

    let public = export_public(&home, &fpr);
    let sig = gpg_detach_sign(&home, &fpr, &[], RELEASE.as_bytes());
    verify_detached(&public, RELEASE.as_bytes(), &sig).unwrap();
    let err = verify_detached(&public, b"other data", &sig).unwrap_err();
    assert!(matches!(err, KeyError::BadSignature(_)), "{err:?}");

    let signed = {
        let input = home.write("Release", RELEASE);
        let output = home.path().join("InRelease");
        home.gpg_ok(&[
            "--passphrase",
            "",
            "--local-user",
            &fpr,
            "--clearsign",
            "--output",
            output.to_str().unwrap(),
            input.to_str().unwrap(),
        ]);
        std::fs::read_to_string(output).unwrap()
    };
    // gpg does not sign the final line break (it writes the text, then the
    // signature block directly), so the signed text lacks it.
    assert_eq!(
        verify_clearsigned(&public, &signed).unwrap(),
        RELEASE.strip_suffix('\n').unwrap()
    );
}

/// apt refuses SHA-1 signatures; so does the verifier, even though the
/// signature is cryptographically valid.
#[test]
fn sha1_signatures_are_refused() {
    let key = crate::common::ed25519_key();
    let home = GnupgHome::new();
    let secret = home.write("secret.asc", key.to_armored_secret());
    home.gpg_ok(&["--import", secret.to_str().unwrap()]);

    let sha1 = gpg_detach_sign(
        &home,
        &key.fingerprint(),
        &["--digest-algo", "SHA1"],
        b"data",
    );
    let err = verify_detached(&key.public_key_armored(), b"data", &sha1).unwrap_err();
    assert!(matches!(err, KeyError::BadSignature(_)), "{err:?}");
    assert!(
        err.to_string().contains("weak hash algorithm SHA1"),
        "{err}"
    );

    // The same key and data with SHA-512 is fine: it is the hash, not the key.
    let sha512 = gpg_detach_sign(
        &home,
        &key.fingerprint(),
        &["--digest-algo", "SHA512"],
        b"data",
    );
    verify_detached(&key.public_key_armored(), b"data", &sha512).unwrap();

    // gpgv accepts the SHA-1 signature: the refusal is our policy, not an
    // artefact of a broken signature.
    let keyring = home.write("key.gpg", key.public_key_binary());
    let sig = home.write("data.sig", sha1);
    let data = home.write("data", "data");
    let out = home.gpgv(&keyring, &[sig.as_os_str(), data.as_os_str()]);
    assert!(out.status.success(), "{}", describe(&out));
}
