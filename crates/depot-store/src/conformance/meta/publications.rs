//! The published pointer (compare-and-set), the change epoch, recent and pruned publications, deleting a repo.

use super::*;

pub(super) fn manifest(tag: &str, parent: Option<PublicationId>) -> Manifest {
    let body = format!("Packages for {tag}\n");
    let mut files = BTreeMap::new();
    files.insert(
        "dists/stable/main/binary-amd64/Packages".to_string(),
        ManifestFile {
            size: body.len() as u64,
            hashes: Hashes::of(body.as_bytes()),
            chunks: vec![Chunk {
                digest: Sha256::of(body.as_bytes()),
                size: body.len() as u64,
                // Persisted hash states must survive the store (issue 5).
                state: Some(depot_core::HashState::of(&{
                    let mut h = depot_core::MultiHasher::new();
                    h.update(body.as_bytes());
                    h
                })),
            }],
        },
    );
    Manifest {
        files,
        state: serde_json::json!({ "tag": tag, "parent": parent.map(|p| p.0) }),
    }
}

/// [`MetaStore::change_epoch`]: each committed write (repo created,
/// package added and removed, publish, settings changed, repo deleted) has
/// moved the epoch by the time it returns; reads leave it. A store without
/// the signal (`None`) must say so every time, or a cache would trust a
/// value it never re-checks.
pub async fn committed_writes_change_the_epoch(s: Store) {
    let Some(mut seen) = s.change_epoch() else {
        let r = new_repo(&s, "r").await;
        s.publish(r.id, None, Revision(0), &manifest("one", None), T0)
            .await
            .unwrap();
        assert_eq!(s.change_epoch(), None, "{TAG} no signal stays no signal");
        return;
    };
    let mut moved = |s: &Store, what: &str| -> u64 {
        let now = s.change_epoch().expect("the epoch stays readable");
        assert_ne!(
            now, seen,
            "{TAG} {what} changes the epoch before it returns"
        );
        seen = now;
        now
    };
    let r = new_repo(&s, "r").await;
    moved(&s, "create_repo");
    let pkg = deb("a_1_amd64.deb", "a", "1", "amd64", "a1");
    add(&s, &r, &pkg, &[place("stable", "main")]).await;
    moved(&s, "add_package");
    let p1 = s
        .publish(r.id, None, Revision(1), &manifest("one", None), T0)
        .await
        .unwrap();
    let moved_last = moved(&s, "publish");

    s.get_repo(&r.name).await.unwrap();
    s.published_pointer(r.id).await.unwrap();
    s.get_publication(p1).await.unwrap();
    s.get_package(r.id, &pkg.filename).await.unwrap();
    let after_reads = s.change_epoch();
    assert_eq!(after_reads, Some(moved_last), "{TAG} reads leave the epoch");

    s.remove_package(r.id, &pkg.filename).await.unwrap();
    moved(&s, "remove_package");
    s.publish(r.id, Some(p1), Revision(2), &manifest("two", None), T0)
        .await
        .unwrap();
    moved(&s, "a second publish");
    let mut settings = r.settings.clone();
    settings.default_component = PlacementName::new("contrib").unwrap();
    s.update_repo_settings(r.id, &settings).await.unwrap();
    moved(&s, "update_repo_settings");
    assert!(s.delete_repo(&r.name).await.unwrap());
    moved(&s, "delete_repo");
}

pub async fn publish_compare_and_set(s: Store) {
    let r = new_repo(&s, "r").await;
    let m1 = manifest("one", None);
    let p1 = s.publish(r.id, None, Revision(0), &m1, T0).await.unwrap();
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p1, Revision(0))),
        "{TAG} publish moves the pointer"
    );
    let got = s.get_publication(p1).await.unwrap().unwrap();
    assert_eq!(
        (got.id, got.repo_id, got.revision, got.created_at),
        (p1, r.id, Revision(0), T0),
        "{TAG} the publication row"
    );
    assert_eq!(got.manifest, m1, "{TAG} the manifest round-trips");

    // Expected None, but it was published: conflict carrying the pointer,
    // and nothing written.
    let rid = r.id;
    let count = |s: &Store| {
        let s = s.clone();
        async move {
            s.recent_publications(rid, Timestamp(0), 1000)
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(count(&s).await, 1);
    match s
        .publish(r.id, None, Revision(5), &manifest("lost", None), T0)
        .await
    {
        Err(MetaError::PublishConflict { current }) => {
            assert_eq!(
                current,
                Some((p1, Revision(0))),
                "{TAG} PublishConflict carries the current pointer"
            )
        }
        other => {
            panic!("{TAG} publish with a stale expectation must be PublishConflict, got {other:?}")
        }
    }
    assert_eq!(
        count(&s).await,
        1,
        "{TAG} a failed compare-and-set writes no publication"
    );
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p1, Revision(0)))
    );

    add(
        &s,
        &r,
        &deb("a_1_all.deb", "a", "1", "all", "x"),
        &[place("stable", "main")],
    )
    .await;
    let p2 = s
        .publish(
            r.id,
            Some(p1),
            Revision(1),
            &manifest("two", Some(p1)),
            Timestamp(T0.0 + 1),
        )
        .await
        .unwrap();
    assert!(p2 > p1, "{TAG} publication ids grow");
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p2, Revision(1)))
    );

    for stale in [Some(p1), None, Some(PublicationId(p2.0 + 1000))] {
        match s
            .publish(r.id, stale, Revision(1), &manifest("stale", stale), T0)
            .await
        {
            Err(MetaError::PublishConflict { current }) => {
                assert_eq!(current, Some((p2, Revision(1))))
            }
            other => {
                panic!("{TAG} publish expecting {stale:?} must be PublishConflict, got {other:?}")
            }
        }
    }
    assert_eq!(
        count(&s).await,
        2,
        "{TAG} failed compare-and-sets write nothing"
    );
    // The old publication stays readable.
    assert_eq!(s.get_publication(p1).await.unwrap().unwrap().manifest, m1);
    assert_eq!(
        s.get_publication(PublicationId(p2.0 + 1000)).await.unwrap(),
        None
    );

    // Pointers are per repo.
    let r2 = new_repo(&s, "r2").await;
    assert_eq!(s.published_pointer(r2.id).await.unwrap(), None);
    let q1 = s
        .publish(r2.id, None, Revision(0), &manifest("r2", None), T0)
        .await
        .unwrap();
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((p2, Revision(1)))
    );
    assert_eq!(
        s.published_pointer(r2.id).await.unwrap(),
        Some((q1, Revision(0)))
    );
    match s
        .publish(r.id, Some(q1), Revision(1), &manifest("x", None), T0)
        .await
    {
        Err(MetaError::PublishConflict { current }) => assert_eq!(current, Some((p2, Revision(1)))),
        other => panic!("{TAG} another repo's publication is not the expected one, got {other:?}"),
    }

    let missing = RepoId(r2.id.0 + 1000);
    match s
        .publish(missing, None, Revision(0), &manifest("x", None), T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} publish to a missing repo must be NotFound, got {other:?}"),
    }
    match s.published_pointer(missing).await {
        Err(MetaError::NotFound(_)) => {}
        other => {
            panic!("{TAG} published_pointer of a missing repo must be NotFound, got {other:?}")
        }
    }
}

pub async fn recent_and_prune_publications(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let mut ids = Vec::new();
    let mut expected = None;
    for (i, t) in [100, 200, 300, 400].into_iter().enumerate() {
        let id = s
            .publish(
                r.id,
                expected,
                Revision(i as i64),
                &manifest(&format!("p{i}"), expected),
                Timestamp(t),
            )
            .await
            .unwrap();
        ids.push(id);
        expected = Some(id);
    }
    let op = s
        .publish(
            other.id,
            None,
            Revision(0),
            &manifest("o", None),
            Timestamp(100),
        )
        .await
        .unwrap();
    let rid = r.id;
    let recent = |since: i64| {
        let s = s.clone();
        async move {
            s.recent_publications(rid, Timestamp(since), 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        recent(0).await,
        [ids[3], ids[2], ids[1], ids[0]],
        "{TAG} recent_publications is newest first, this repo only"
    );
    assert_eq!(
        recent(200).await,
        [ids[3], ids[2], ids[1]],
        "{TAG} created at or after `since`"
    );
    assert_eq!(
        recent(1000).await,
        [ids[3]],
        "{TAG} the current publication is always included"
    );
    let full = s
        .recent_publications(r.id, Timestamp(0), 1000)
        .await
        .unwrap();
    assert_eq!(full[0].manifest, manifest("p3", Some(ids[2])));
    let newest_two: Vec<PublicationId> = s
        .recent_publications(r.id, Timestamp(0), 2)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        newest_two,
        [ids[3], ids[2]],
        "{TAG} the limit keeps the newest"
    );

    assert_eq!(
        s.prune_publications(r.id, Timestamp(300)).await.unwrap(),
        2,
        "{TAG} prune deletes the old ones"
    );
    assert_eq!(s.get_publication(ids[0]).await.unwrap(), None);
    assert_eq!(s.get_publication(ids[1]).await.unwrap(), None);
    assert!(s.get_publication(ids[2]).await.unwrap().is_some());
    assert_eq!(
        s.prune_publications(r.id, Timestamp(10_000)).await.unwrap(),
        1,
        "{TAG} prune never deletes the current publication"
    );
    assert_eq!(recent(0).await, [ids[3]]);
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        Some((ids[3], Revision(3)))
    );
    assert!(
        s.get_publication(op).await.unwrap().is_some(),
        "{TAG} prune is per repo"
    );
    assert_eq!(
        s.prune_publications(r.id, Timestamp(10_000)).await.unwrap(),
        0
    );
}

pub async fn delete_repo_cascades(s: Store) {
    let r = new_repo(&s, "r").await;
    let keep = new_repo(&s, "keep").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    add(&s, &r, &a, &[place("stable", "main")]).await;
    add(&s, &keep, &a, &[place("stable", "main")]).await;
    let p1 = s
        .publish(r.id, None, Revision(1), &manifest("1", None), T0)
        .await
        .unwrap();
    let p2 = s
        .publish(r.id, Some(p1), Revision(1), &manifest("2", Some(p1)), T0)
        .await
        .unwrap();
    let kp = s
        .publish(keep.id, None, Revision(1), &manifest("k", None), T0)
        .await
        .unwrap();

    assert!(s.delete_repo(&r.name).await.unwrap());
    assert_eq!(s.get_repo(&r.name).await.unwrap(), None);
    assert_eq!(
        s.get_package(r.id, &a.filename).await.unwrap(),
        None,
        "{TAG} delete_repo deletes packages"
    );
    assert!(s.list_packages(r.id).await.unwrap().is_empty());
    assert!(
        s.index_rows(r.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .is_empty(),
        "{TAG} and placements"
    );
    assert_eq!(
        s.get_publication(p1).await.unwrap(),
        None,
        "{TAG} and publications"
    );
    assert_eq!(s.get_publication(p2).await.unwrap(), None);
    assert!(
        s.recent_publications(r.id, Timestamp(0), 1000)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        s.get_package(keep.id, &a.filename).await.unwrap().is_some(),
        "{TAG} other repos are untouched"
    );
    assert_eq!(
        s.index_rows(keep.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.published_pointer(keep.id).await.unwrap(),
        Some((kp, Revision(1)))
    );
}
