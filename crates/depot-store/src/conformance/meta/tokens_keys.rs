//! Tokens and signing keys.

use super::*;

pub async fn tokens(s: Store) {
    assert_eq!(s.count_tokens().await.unwrap(), 0);
    let h1 = Sha256::of(b"secret one");
    let h2 = Sha256::of(b"secret two");
    let admin = s
        .create_token("ci", &h1, &TokenScope::Admin, T0)
        .await
        .unwrap();
    assert_eq!(
        (admin.name.as_str(), &admin.scope, admin.created_at),
        ("ci", &TokenScope::Admin, T0)
    );
    let scoped = TokenScope::Repo {
        repo: repo_name("myrepo"),
    };
    let t2 = s
        .create_token("uploader", &h2, &scoped, Timestamp(T0.0 + 5))
        .await
        .unwrap();
    assert_ne!(admin.id, t2.id);
    assert_eq!(
        s.find_token(&h1).await.unwrap(),
        Some(admin.clone()),
        "{TAG} find_token by the secret's hash"
    );
    assert_eq!(
        s.find_token(&h2).await.unwrap(),
        Some(t2.clone()),
        "{TAG} scopes round-trip"
    );
    assert_eq!(s.find_token(&Sha256::of(b"guess")).await.unwrap(), None);
    match s.create_token("dup", &h1, &TokenScope::Admin, T0).await {
        Err(MetaError::AlreadyExists(_)) => {}
        other => {
            panic!("{TAG} a second token with the same secret must be AlreadyExists, got {other:?}")
        }
    }
    // Names are labels, not keys.
    s.create_token("ci", &Sha256::of(b"secret three"), &TokenScope::Admin, T0)
        .await
        .unwrap();
    assert_eq!(s.count_tokens().await.unwrap(), 3);
}

pub async fn signing_keys(s: Store) {
    assert_eq!(s.get_signing_key("default").await.unwrap(), None);
    let first =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nfirst\n-----END PGP PRIVATE KEY BLOCK-----\n";
    let second =
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nsecond\n-----END PGP PRIVATE KEY BLOCK-----\n";
    assert_eq!(
        s.insert_signing_key_if_absent("default", first, T0)
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        s.insert_signing_key_if_absent("default", second, T0)
            .await
            .unwrap(),
        first,
        "{TAG} a second caller gets the first key"
    );
    assert_eq!(
        s.get_signing_key("default").await.unwrap().as_deref(),
        Some(first)
    );
    assert_eq!(
        s.insert_signing_key_if_absent("other", second, T0)
            .await
            .unwrap(),
        second
    );
    assert_eq!(
        s.get_signing_key("other").await.unwrap().as_deref(),
        Some(second)
    );
}
