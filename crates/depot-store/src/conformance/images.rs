//! The image and token-group part of the [`MetaStore`] contract.
//!
//! Where the rustdoc is silent this pins down: `update_image` and
//! `new_image_version` set `updated_at` and keep `created_at`; a copy is a
//! `create_image` with `copied_from` and the same blob; deleting an image
//! takes its history with it and its digests out of `image_blob_digests`
//! (unless another image still has them).

use super::meta::TAG;
use depot_core::digest::{Hashes, Sha256};
use depot_core::image::*;
use depot_core::meta::{MetaError, MetaStore};
use depot_core::model::TokenScope;
use depot_core::time::Timestamp;
use std::sync::Arc;

type Store = Arc<dyn MetaStore>;

const T0: Timestamp = Timestamp(1_795_316_688);

fn id(n: u8) -> ImageId {
    ImageId::from_random([n; 16])
}

fn blob(content: &str, format: ImageFormat) -> ImageBlob {
    ImageBlob {
        format,
        size: content.len() as u64,
        hashes: Hashes::of(content.as_bytes()),
    }
}

fn new_image(n: u8, name: &str, owner: &str, visibility: Visibility) -> NewImage {
    NewImage {
        id: id(n),
        name: name.to_string(),
        description: format!("{name} description"),
        owner: owner.to_string(),
        visibility,
        metadata: serde_json::json!({"os": "debian", "tags": ["a", "b"], "n": n}),
        blob: blob(&format!("bytes of {name}"), ImageFormat::Qcow2),
        copied_from: None,
    }
}

fn group(g: &str) -> Visibility {
    Visibility::Group(g.to_string())
}

pub async fn images_create_get_list(s: Store) {
    let a = s
        .create_image(&new_image(1, "alpha", "alice", Visibility::Private), T0)
        .await
        .unwrap();
    assert_eq!(a.id, id(1));
    assert_eq!(a.version, 1, "{TAG} a new image is at version 1");
    assert_eq!((a.created_at, a.updated_at), (T0, T0));
    assert_eq!(a.blob, blob("bytes of alpha", ImageFormat::Qcow2));
    assert_eq!(a.metadata["tags"][1], "b", "{TAG} metadata round-trips");
    assert_eq!(a.copied_from, None);
    assert_eq!(s.get_image(id(1)).await.unwrap(), Some(a.clone()));
    assert_eq!(s.get_image(id(99)).await.unwrap(), None);
    match s
        .create_image(&new_image(1, "again", "bob", Visibility::Public), T0)
        .await
    {
        Err(MetaError::AlreadyExists(_)) => {}
        other => panic!("{TAG} a taken image id must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        s.get_image(id(1)).await.unwrap().unwrap().name,
        "alpha",
        "{TAG} a refused create changes nothing"
    );

    s.create_image(&new_image(2, "beta", "bob", group("ops")), T0)
        .await
        .unwrap();
    s.create_image(&new_image(3, "gamma", "bob", Visibility::Public), T0)
        .await
        .unwrap();
    s.create_image(&new_image(4, "Alpha", "carol", group("dev")), T0)
        .await
        .unwrap();

    let names = |v: Vec<Image>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
    let list = |f: ImageFilter| {
        let s = s.clone();
        async move { names(s.list_images(&f).await.unwrap()) }
    };
    assert_eq!(
        list(ImageFilter::default()).await,
        Vec::<String>::new(),
        "{TAG} an empty filter matches nothing"
    );
    assert_eq!(
        list(ImageFilter {
            all: true,
            ..Default::default()
        })
        .await,
        ["Alpha", "alpha", "beta", "gamma"],
        "{TAG} ordered by name, bytewise"
    );
    assert_eq!(
        list(ImageFilter {
            owner: Some("bob".into()),
            ..Default::default()
        })
        .await,
        ["beta", "gamma"]
    );
    assert_eq!(
        list(ImageFilter {
            groups: vec!["ops".into(), "nobody".into()],
            ..Default::default()
        })
        .await,
        ["beta"]
    );
    assert_eq!(
        list(ImageFilter {
            public: true,
            ..Default::default()
        })
        .await,
        ["gamma"]
    );
    assert_eq!(
        list(ImageFilter {
            owner: Some("alice".into()),
            groups: vec!["dev".into()],
            public: true,
            ..Default::default()
        })
        .await,
        ["Alpha", "alpha", "gamma"],
        "{TAG} criteria are OR-ed"
    );
}

pub async fn images_update(s: Store) {
    s.create_image(&new_image(1, "alpha", "alice", Visibility::Private), T0)
        .await
        .unwrap();
    let t1 = Timestamp(T0.0 + 10);
    let u = s
        .update_image(
            id(1),
            &ImageUpdate {
                description: Some("new".into()),
                visibility: Some(group("ops")),
                ..Default::default()
            },
            t1,
        )
        .await
        .unwrap();
    assert_eq!(u.name, "alpha", "{TAG} unset fields are kept");
    assert_eq!(u.description, "new");
    assert_eq!(u.visibility, group("ops"));
    assert_eq!((u.created_at, u.updated_at), (T0, t1));
    assert_eq!(u.version, 1, "{TAG} an update does not add a version");
    let u = s
        .update_image(
            id(1),
            &ImageUpdate {
                name: Some("renamed".into()),
                visibility: Some(Visibility::Public),
                metadata: Some(serde_json::json!({"k": "v"})),
                ..Default::default()
            },
            t1,
        )
        .await
        .unwrap();
    assert_eq!(
        (u.name.as_str(), &u.visibility, &u.metadata),
        (
            "renamed",
            &Visibility::Public,
            &serde_json::json!({"k": "v"})
        ),
        "{TAG} metadata is replaced whole"
    );
    assert_eq!(s.get_image(id(1)).await.unwrap(), Some(u));
    match s.update_image(id(9), &ImageUpdate::default(), t1).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} updating a missing image must be NotFound, got {other:?}"),
    }
}

pub async fn images_versions_and_history(s: Store) {
    let first = s
        .create_image(&new_image(1, "alpha", "alice", Visibility::Private), T0)
        .await
        .unwrap();
    let v2 = blob("second", ImageFormat::Raw);
    let t1 = Timestamp(T0.0 + 60);
    let img = s.new_image_version(id(1), 1, &v2, t1).await.unwrap();
    assert_eq!(img.version, 2);
    assert_eq!(img.blob, v2, "{TAG} the new version is the current file");
    assert_eq!((img.created_at, img.updated_at), (T0, t1));
    assert_eq!(img.name, "alpha", "{TAG} descriptive fields are kept");

    // A second overwrite based on version 1 lost the race.
    match s
        .new_image_version(id(1), 1, &blob("stale", ImageFormat::Raw), t1)
        .await
    {
        Err(MetaError::VersionConflict { current: 2 }) => {}
        other => panic!("{TAG} a stale expected version must be VersionConflict(2), got {other:?}"),
    }
    match s.new_image_version(id(9), 1, &v2, t1).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} a missing image must be NotFound, got {other:?}"),
    }
    let history = s.image_history(id(1)).await.unwrap();
    assert_eq!(
        history,
        vec![
            ImageVersion {
                version: 2,
                blob: v2.clone(),
                created_at: t1
            },
            ImageVersion {
                version: 1,
                blob: first.blob.clone(),
                created_at: T0
            },
        ],
        "{TAG} history is newest first, the refused overwrite left no trace"
    );
    assert!(s.image_history(id(9)).await.unwrap().is_empty());

    // A copy: a new id with the current blob, its own history.
    let c = s
        .copy_image(id(1), id(2), "bob", Some("alpha copy"), &group("qa"), t1)
        .await
        .unwrap();
    assert_eq!((c.version, c.copied_from), (1, Some(id(1))));
    assert_eq!(
        c.blob, img.blob,
        "{TAG} a copy has the source's current file"
    );
    assert_eq!(
        (c.name.as_str(), c.owner.as_str(), &c.visibility),
        ("alpha copy", "bob", &group("qa"))
    );
    assert_eq!(
        (&c.description, &c.metadata),
        (&img.description, &img.metadata)
    );
    assert_eq!((c.created_at, c.updated_at), (t1, t1));
    assert_eq!(s.image_history(id(2)).await.unwrap().len(), 1);
    let c3 = s
        .copy_image(id(1), id(3), "carol", None, &Visibility::Private, t1)
        .await
        .unwrap();
    assert_eq!(
        c3.name, "alpha",
        "{TAG} a copy keeps the name unless given one"
    );
    assert!(s.delete_image(id(3)).await.unwrap());
    match s
        .copy_image(id(1), id(2), "bob", None, &Visibility::Private, t1)
        .await
    {
        Err(MetaError::AlreadyExists(_)) => {}
        other => panic!("{TAG} copying onto a taken id must be AlreadyExists, got {other:?}"),
    }
    match s
        .copy_image(id(9), id(4), "bob", None, &Visibility::Private, t1)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} copying a missing image must be NotFound, got {other:?}"),
    }
    assert_eq!(s.get_image(id(4)).await.unwrap(), None);

    let mut digests = s.image_blob_digests().await.unwrap();
    digests.sort();
    let mut want = vec![first.blob.hashes.sha256, v2.hashes.sha256];
    want.sort();
    assert_eq!(
        digests, want,
        "{TAG} every version's blob is referenced, each once"
    );

    assert!(s.delete_image(id(1)).await.unwrap());
    assert!(!s.delete_image(id(1)).await.unwrap(), "{TAG} delete twice");
    assert_eq!(s.get_image(id(1)).await.unwrap(), None);
    assert!(s.image_history(id(1)).await.unwrap().is_empty());
    assert_eq!(
        s.image_blob_digests().await.unwrap(),
        vec![v2.hashes.sha256],
        "{TAG} the copy still references the shared blob; the first version is gone"
    );
    assert!(s.get_image(id(2)).await.unwrap().is_some());
}

/// Many overwrites of one image, all based on the same version: exactly
/// one wins, the others get `VersionConflict`.
pub async fn images_concurrent_overwrites(s: Store) {
    s.create_image(&new_image(1, "alpha", "alice", Visibility::Private), T0)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.new_image_version(id(1), 1, &blob(&format!("v{i}"), ImageFormat::Raw), T0)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(img) => {
                won += 1;
                assert_eq!(img.version, 2);
            }
            Err(MetaError::VersionConflict { current: 2 }) => {}
            Err(e) => panic!("{TAG} concurrent overwrite: unexpected {e}"),
        }
    }
    assert_eq!(won, 1, "{TAG} exactly one concurrent overwrite wins");
    assert_eq!(s.image_history(id(1)).await.unwrap().len(), 2);
}

pub async fn token_groups(s: Store) {
    let h = Sha256::of(b"grouped");
    let t = s
        .create_token("alice", &h, &TokenScope::Admin, T0)
        .await
        .unwrap();
    assert!(t.groups.is_empty(), "{TAG} a new token is in no group");
    s.set_token_groups(t.id, &["ops".into(), "dev".into(), "ops".into()])
        .await
        .unwrap();
    assert_eq!(
        s.find_token(&h).await.unwrap().unwrap().groups,
        ["dev", "ops"],
        "{TAG} groups are stored sorted and deduplicated"
    );
    match s
        .set_token_groups(depot_core::model::TokenId(9999), &[])
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} groups of a missing token must be NotFound, got {other:?}"),
    }
}
