//! depot's signatures and keys as Debian's GnuPG 2.2 sees them: what apt runs
//! (`gpgv`) and what users run (`gpg --import`).

use std::{ffi::OsStr, process::Output};

use depot_core::sign::PgpSigner;
use depot_sign::{KeyAlgorithm, PgpKey};

use crate::common::{GnupgHome, RELEASE, both_keys, describe, other_key, tamper};

/// The fields of gpgv's `VALIDSIG` status line, after the keyword.
fn validsig(out: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no VALIDSIG in {}", describe(out)));
    line.split_whitespace()
        .skip(2)
        .map(str::to_string)
        .collect()
}

/// Asserts gpgv said good, by `key`, with SHA-256 (hash algo 8), and the
/// given signature class ("00" binary, "01" text).
fn assert_good(out: &Output, key: &PgpKey, class: &str, what: &str) {
    assert!(
        out.status.success(),
        "{what}: gpgv failed: {}",
        describe(out)
    );
    let fields = validsig(out);
    assert_eq!(fields[0], key.fingerprint(), "{what}: signing key");
    assert_eq!(fields[7], "8", "{what}: hash algorithm must be SHA256 (8)");
    assert_eq!(fields[8], class, "{what}: signature class");
    assert_eq!(fields[9], key.fingerprint(), "{what}: primary key");
}

fn assert_rejected(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what}: gpgv accepted it: {}",
        describe(out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("GOODSIG"),
        "{what}: {}",
        describe(out)
    );
}

fn gpgv_accepts_inrelease_and_release_gpg(algo: KeyAlgorithm, key: &PgpKey) {
    let home = GnupgHome::new();
    let keyring = home.write("key.gpg", key.public_key_binary());
    let foreign = home.write("other.gpg", other_key().public_key_binary());

    let inrelease_text = key.clearsign(RELEASE).unwrap();
    let inrelease = home.write("InRelease", &inrelease_text);
    let out = home.gpgv(&keyring, &[inrelease.as_os_str()]);
    assert_good(&out, key, "01", &format!("{algo} InRelease"));

    let release = home.write("Release", RELEASE);
    let release_gpg = home.write(
        "Release.gpg",
        key.sign_detached_armored(RELEASE.as_bytes()).unwrap(),
    );
    let out = home.gpgv(&keyring, &[release_gpg.as_os_str(), release.as_os_str()]);
    assert_good(&out, key, "00", &format!("{algo} Release.gpg"));

    // A changed letter in the signed text.
    let bad = home.write(
        "InRelease.bad",
        tamper(&inrelease_text, "Codename: bookworm", "Codename: bookwork"),
    );
    assert_rejected(
        &home.gpgv(&keyring, &[bad.as_os_str()]),
        &format!("{algo} tampered InRelease"),
    );
    let bad = home.write(
        "Release.bad",
        tamper(RELEASE, "Suite: stable", "Suite: stablE"),
    );
    assert_rejected(
        &home.gpgv(&keyring, &[release_gpg.as_os_str(), bad.as_os_str()]),
        &format!("{algo} tampered Release"),
    );
    // The right files, but the keyring of someone else.
    assert_rejected(
        &home.gpgv(&foreign, &[inrelease.as_os_str()]),
        &format!("{algo} InRelease, foreign keyring"),
    );
    assert_rejected(
        &home.gpgv(&foreign, &[release_gpg.as_os_str(), release.as_os_str()]),
        &format!("{algo} Release.gpg, foreign keyring"),
    );
}

#[test]
fn gpgv_accepts_inrelease_and_release_gpg_ed25519() {
    let [(algo, key), _] = both_keys();
    gpgv_accepts_inrelease_and_release_gpg(algo, &key);
}

#[test]
fn gpgv_accepts_inrelease_and_release_gpg_rsa4096() {
    let [_, (algo, key)] = both_keys();
    gpgv_accepts_inrelease_and_release_gpg(algo, &key);
}

/// The text gpgv recovers from InRelease is the Release file. (`--output`
/// writes every signed line followed by "\n"; the signed text itself ends in
/// "\n", so the output has one empty line more than Release, exactly as it
/// has one less for gpg's own clearsign output, which does not sign the final
/// line break.)
#[test]
fn gpgv_recovers_the_release_text() {
    for (algo, key) in both_keys() {
        let home = GnupgHome::new();
        let keyring = home.write("key.gpg", key.public_key_binary());
        let inrelease = home.write("InRelease", key.clearsign(RELEASE).unwrap());
        let output = home.path().join("signed.txt");
        let out = home.gpgv(
            &keyring,
            &[
                OsStr::new("--output"),
                output.as_os_str(),
                inrelease.as_os_str(),
            ],
        );
        assert!(out.status.success(), "{algo}: {}", describe(&out));
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            format!("{RELEASE}\n"),
            "{algo}: text recovered by gpgv"
        );
    }
}

/// Dash-escaping, a text without final newline, CRLF-free blank lines and
/// trailing blanks (which cleartext signatures do not cover, RFC 9580 §7.2).
#[test]
fn gpgv_accepts_awkward_clearsigned_texts() {
    let key = crate::common::ed25519_key();
    let home = GnupgHome::new();
    let keyring = home.write("key.gpg", key.public_key_binary());
    let cases = [
        (
            "dash lines",
            "-----BEGIN PGP SIGNATURE-----\n- item\n--\nplain\n",
        ),
        ("no final newline", "Origin: depot\nSuite: stable"),
        ("blank lines", "\n\nA: b\n\n\nC: d\n\n"),
        ("trailing blanks", "A: b  \nC: d\t\n"),
        ("From line", "From here\nfrom there\n"),
        ("empty", ""),
        ("unicode", "Description: caf\u{e9} \u{2014} \u{1f4e6}\n"),
    ];
    for (name, text) in cases {
        let signed = key.clearsign(text).unwrap();
        let file = home.write("msg.asc", &signed);
        let output = home.path().join("out.txt");
        let _ = std::fs::remove_file(&output);
        let out = home.gpgv(
            &keyring,
            &[OsStr::new("--output"), output.as_os_str(), file.as_os_str()],
        );
        assert!(out.status.success(), "{name}: {}\n{signed}", describe(&out));
        // Each signed line, trailing blanks removed, followed by "\n" (see
        // gpgv_recovers_the_release_text).
        let expected: String = text
            .split('\n')
            .map(|line| format!("{}\n", line.trim_end_matches([' ', '\t'])))
            .collect();
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            expected,
            "{name}: text recovered by gpgv"
        );
    }
}

/// The listing a user sees after `curl .../key.asc | gpg --import`.
#[test]
fn gpg_import_shows_the_same_fingerprint() {
    for (algo, key) in both_keys() {
        let home = GnupgHome::new();
        let asc = home.write("key.asc", key.public_key_armored());
        home.gpg_ok(&["--import", asc.to_str().unwrap()]);
        let out = home.gpg_ok(&["--with-colons", "--list-keys"]);
        let listing = String::from_utf8(out.stdout).unwrap();
        let records: Vec<Vec<&str>> = listing
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .collect();
        let pubs: Vec<_> = records.iter().filter(|r| r[0] == "pub").collect();
        assert_eq!(pubs.len(), 1, "{algo}: {listing}");
        let (bits, pk_algo) = match algo {
            KeyAlgorithm::Ed25519 => ("255", "22"),
            KeyAlgorithm::Rsa4096 => ("4096", "1"),
        };
        assert_eq!(pubs[0][2], bits, "{algo}: key length in {listing}");
        assert_eq!(pubs[0][3], pk_algo, "{algo}: algorithm in {listing}");
        // Validity "-" (unknown trust) rather than "e"xpired/"r"evoked/"i"nvalid,
        // and usable for signing and certifying.
        assert_eq!(pubs[0][1], "-", "{algo}: validity in {listing}");
        assert!(
            pubs[0][11].contains('S') && pubs[0][11].contains('C'),
            "{listing}"
        );
        let fpr = records
            .iter()
            .find(|r| r[0] == "fpr")
            .unwrap_or_else(|| panic!("no fpr in {listing}"));
        assert_eq!(fpr[9], key.fingerprint(), "{algo}");
        assert!(
            records
                .iter()
                .any(|r| r[0] == "uid" && r[9].contains("@depot.test")),
            "{algo}: user id in {listing}"
        );
    }
}

/// What the signatures are made of, as gpg decodes them: v4, SHA-256,
/// issuer fingerprint and creation time subpackets.
#[test]
fn signatures_are_v4_sha256_with_issuer_fingerprint() {
    for (algo, key) in both_keys() {
        let home = GnupgHome::new();
        let clearsigned = key.clearsign(RELEASE).unwrap();
        let signature_block = &clearsigned[clearsigned
            .find("-----BEGIN PGP SIGNATURE-----")
            .expect("a signature block")..];
        for (what, signed, class) in [
            ("clearsign", signature_block.to_string(), "sigclass 0x01"),
            (
                "detached",
                key.sign_detached_armored(b"data").unwrap(),
                "sigclass 0x00",
            ),
        ] {
            let file = home.write("sig.asc", &signed);
            let out = home.gpg_ok(&["--list-packets", file.to_str().unwrap()]);
            let packets = String::from_utf8_lossy(&out.stdout);
            assert!(packets.contains("version 4"), "{algo} {what}: {packets}");
            assert!(
                packets.contains("digest algo 8"),
                "{algo} {what}: {packets}"
            );
            assert!(packets.contains(class), "{algo} {what}: {packets}");
            assert!(
                packets.contains(&format!("issuer fpr v4 {}", key.fingerprint())),
                "{algo} {what}: {packets}"
            );
            assert!(packets.contains("sig created"), "{algo} {what}: {packets}");
        }
    }
}

/// The secret key depot stores is a normal OpenPGP secret key: gpg imports it
/// without a passphrase and the signatures it then makes verify here.
#[test]
fn gpg_imports_the_stored_secret_key_and_its_signatures_verify() {
    let key = crate::common::ed25519_key();
    let home = GnupgHome::new();
    let secret = home.write("secret.asc", key.to_armored_secret());
    home.gpg_ok(&["--import", secret.to_str().unwrap()]);
    let out = home.gpg_ok(&["--with-colons", "--list-secret-keys"]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains(&key.fingerprint()), "{listing}");

    let data = home.write("data", "signed by gpg with depot's key\n");
    let sig = home.path().join("data.asc");
    home.gpg_ok(&[
        "--armor",
        "--detach-sign",
        "--digest-algo",
        "SHA256",
        "--local-user",
        &key.fingerprint(),
        "--output",
        sig.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    depot_sign::verify_detached(
        &key.public_key_armored(),
        &std::fs::read(&data).unwrap(),
        &std::fs::read_to_string(&sig).unwrap(),
    )
    .unwrap();
}

/// pacman's signatures: binary detached packets, whole or from a SHA-256
/// state, as gpgv reads them; and the packager check accepts gpg's own
/// binary signatures and refuses them on other data.
fn gpgv_accepts_binary_detached_signatures(algo: KeyAlgorithm, key: &PgpKey) {
    use depot_core::digest::Sha256State;
    let home = GnupgHome::new();
    let keyring = home.write("key.gpg", key.public_key_binary());
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let file = home.write("pkg.tar.zst", &data);

    let whole = key.sign_detached_binary(&data).unwrap();
    assert_ne!(whole[0] & 0x80, 0, "a binary packet, not armor");
    let sig = home.write("pkg.tar.zst.sig", &whole);
    let out = home.gpgv(&keyring, &[sig.as_os_str(), file.as_os_str()]);
    assert_good(&out, key, "00", &format!("{algo} binary signature"));

    let mut state = Sha256State::new();
    for part in data.chunks(7919) {
        state.update(part);
    }
    let pre = key.sign_detached_binary_sha256(state).unwrap();
    let sig = home.write("pre.sig", &pre);
    let out = home.gpgv(&keyring, &[sig.as_os_str(), file.as_os_str()]);
    assert_good(
        &out,
        key,
        "00",
        &format!("{algo} prehashed binary signature"),
    );

    let mut other = data.clone();
    other[12345] ^= 1;
    let other_file = home.write("other.tar.zst", &other);
    assert_rejected(
        &home.gpgv(&keyring, &[sig.as_os_str(), other_file.as_os_str()]),
        &format!("{algo} binary signature over changed data"),
    );

    let info = depot_sign::check_detached_binary(&pre, &data[..]).unwrap();
    assert_eq!(info.issuers, vec![key.fingerprint()]);
}

#[test]
fn gpgv_accepts_binary_detached_signatures_ed25519() {
    let [(algo, key), _] = both_keys();
    gpgv_accepts_binary_detached_signatures(algo, &key);
}

#[test]
fn gpgv_accepts_binary_detached_signatures_rsa4096() {
    let [_, (algo, key)] = both_keys();
    gpgv_accepts_binary_detached_signatures(algo, &key);
}

/// A packager's `gpg --detach-sign` output passes the check for its own
/// file and fails for any other, armored or not.
#[test]
fn packager_signatures_are_checked_against_their_file() {
    let home = GnupgHome::new();
    home.gpg_ok(&[
        "--passphrase",
        "",
        "--quick-generate-key",
        "Packager <packager@example.org>",
        "ed25519",
        "sign",
        "never",
    ]);
    let data = b"a package, or any file\n".repeat(1000);
    let file = home.write("p.pkg.tar.zst", &data);
    home.gpg_ok(&["--detach-sign", "--no-armor", file.to_str().unwrap()]);
    let sig = std::fs::read(home.path().join("p.pkg.tar.zst.sig")).unwrap();
    let info = depot_sign::check_detached_binary(&sig, &data[..]).unwrap();
    assert_eq!(info.issuers.len(), 1);
    assert_eq!(info.issuers[0].len(), 40, "{:?}", info.issuers);

    let mut other = data.clone();
    other[0] = b'A';
    let mut refused = 0;
    // The check compares 16 bits of the hash: try a few changed files.
    for i in 0..8 {
        other[1] = b'0' + i;
        if let Err(e) = depot_sign::check_detached_binary(&sig, &other[..]) {
            assert!(e.to_string().contains("not made over this file"), "{e}");
            refused += 1;
        }
    }
    assert!(refused >= 7, "only {refused} of 8 other files refused");

    home.gpg_ok(&["--detach-sign", "--armor", file.to_str().unwrap()]);
    let armored = std::fs::read(home.path().join("p.pkg.tar.zst.asc")).unwrap();
    let e = depot_sign::check_detached_binary(&armored, &data[..]).unwrap_err();
    assert!(e.to_string().contains("ASCII-armored"), "{e}");
    for junk in [&b""[..], b"\x89\x01garbage", &[0xffu8; 20000]] {
        assert!(depot_sign::check_detached_binary(junk, &data[..]).is_err());
    }
}
