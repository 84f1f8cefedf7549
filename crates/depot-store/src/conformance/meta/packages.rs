//! Adding packages (one and in batches, conflicts, the same bytes under another name), removing, listing, updating.

use super::*;

pub async fn add_package_new_and_idempotent(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "v1");
    let places = [
        place("stable", "main"),
        place("bookworm", "main"),
        place("stable", "main"),
    ];
    let out = add(&s, &r, &pkg, &places).await;
    assert!(
        out.created && out.changed,
        "{TAG} a new file is created and changes the repo"
    );
    assert_eq!(
        out.revision,
        Revision(1),
        "{TAG} the revision is bumped by one"
    );
    assert_package_matches(&out.package, &pkg, r.id, &places);
    assert_eq!(out.package.created_at, T0);
    assert_eq!(repo_state(&s, "r").await.revision, Revision(1));

    // Same file again, same placements: nothing changes.
    let again = add(&s, &r, &pkg, &places[..2]).await;
    assert!(
        !again.created && !again.changed,
        "{TAG} an identical re-upload changes nothing"
    );
    assert_eq!(again.revision, Revision(1), "{TAG} and keeps the revision");
    assert_eq!(
        again.package, out.package,
        "{TAG} and returns the stored package"
    );

    // Same file, one more placement: only the placement is added.
    let more = add(&s, &r, &pkg, &[place("trixie", "contrib")]).await;
    assert!(
        !more.created && more.changed,
        "{TAG} a re-upload into a new placement changes the repo"
    );
    assert_eq!(more.revision, Revision(2));
    assert_eq!(
        more.package.id, out.package.id,
        "{TAG} no new package for a re-upload"
    );
    assert_package_matches(
        &more.package,
        &pkg,
        r.id,
        &[
            place("stable", "main"),
            place("bookworm", "main"),
            place("trixie", "contrib"),
        ],
    );
    assert_eq!(
        s.get_package(r.id, &pkg.filename).await.unwrap(),
        Some(more.package.clone()),
        "{TAG} get_package returns the package with all its placements"
    );

    // No placements at all (a generic artifact that is only downloadable).
    let bare = generic_file("disk.img", "x");
    let out = add(&s, &r, &bare, &[]).await;
    assert!(out.created && out.changed);
    assert_eq!(out.revision, Revision(3));
    assert!(out.package.placements.is_empty());
    assert_eq!(
        repo_state(&s, "r").await.removal_gen,
        0,
        "{TAG} adding never bumps removal_gen"
    );
}

pub async fn add_package_filename_conflict(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "v1");
    let stored = add(&s, &r, &pkg, &[place("stable", "main")]).await.package;
    let evil = other_content(&pkg, "tampered");
    match s
        .add_package(
            r.id,
            &evil,
            &[place("stable", "main"), place("other", "main")],
            T0,
        )
        .await
    {
        Err(MetaError::Conflict(msg)) => assert!(!msg.is_empty()),
        other => panic!("{TAG} same file name with other content must be Conflict, got {other:?}"),
    }
    assert_eq!(
        s.get_package(r.id, &pkg.filename).await.unwrap(),
        Some(stored),
        "{TAG} a conflicting upload changes nothing"
    );
    assert_eq!(
        repo_state(&s, "r").await.revision,
        Revision(1),
        "{TAG} no revision bump on conflict"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "{TAG} no placement added by a conflicting upload"
    );

    // The same name in another repo is independent.
    let r2 = new_repo(&s, "r2").await;
    assert!(
        add(&s, &r2, &evil, &[place("stable", "main")])
            .await
            .created
    );
}

/// `add_packages`: every item as `add_package` would, in order; a refused
/// item changes nothing and the others still land.
pub async fn add_packages_batch(s: Store) {
    let r = new_repo(&s, "r").await;
    let first = deb("a_1_amd64.deb", "a", "1", "amd64", "a");
    add(&s, &r, &first, &[place("stable", "main")]).await;
    let items = vec![
        (
            deb("b_1_amd64.deb", "b", "1", "amd64", "b"),
            vec![place("stable", "main")],
        ),
        // Same file name, other content: refused alone.
        (other_content(&first, "evil"), vec![place("stable", "main")]),
        // Identical re-upload, new placement: changes something.
        (first.clone(), vec![place("testing", "main")]),
        (
            deb("c_1_amd64.deb", "c", "1", "amd64", "c"),
            vec![place("stable", "main")],
        ),
        // Clashes with c, added one item earlier in the same batch.
        (
            deb("c-copy.deb", "c", "1", "amd64", "other c"),
            vec![place("stable", "main")],
        ),
    ];
    let out = s
        .add_packages(r.id, &items, T0)
        .await
        .unwrap_or_else(|e| panic!("{TAG} add_packages failed as a whole: {e}"));
    assert_eq!(out.len(), items.len(), "{TAG} one result per item");
    let b = out[0].as_ref().expect("b is added");
    assert!(b.created && b.changed);
    assert!(
        matches!(out[1], Err(MetaError::Conflict(_))),
        "{TAG} got {:?}",
        out[1]
    );
    let again = out[2].as_ref().expect("identical re-upload is accepted");
    assert!(!again.created && again.changed, "{TAG} new placement only");
    assert!(out[3].as_ref().is_ok_and(|o| o.created));
    assert!(
        matches!(out[4], Err(MetaError::Conflict(_))),
        "{TAG} got {:?}",
        out[4]
    );
    // Three changes on top of revision 1, in item order.
    assert_eq!(out[3].as_ref().unwrap().revision, Revision(4));
    assert_eq!(repo_state(&s, "r").await.revision, Revision(4));
    let names: Vec<String> = s
        .list_packages(r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.filename.to_string())
        .collect();
    assert_eq!(
        names,
        ["a_1_amd64.deb", "b_1_amd64.deb", "c_1_amd64.deb"],
        "{TAG} refused items change nothing"
    );
    assert_eq!(
        s.get_package(r.id, &first.filename)
            .await
            .unwrap()
            .unwrap()
            .hashes,
        first.hashes,
        "{TAG} the conflicting item did not overwrite"
    );
    // A batch for a missing repo fails as add_package does, per item.
    s.delete_repo(&repo_name("r")).await.unwrap();
    let gone = s.add_packages(r.id, &items[..1], T0).await;
    assert!(
        matches!(&gone, Ok(v) if matches!(v[0], Err(MetaError::NotFound(_))))
            || matches!(gone, Err(MetaError::NotFound(_))),
        "{TAG} missing repo: got {gone:?}"
    );
}

pub async fn add_package_nva_conflicts(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("hello_1.0_amd64.deb", "hello", "1.0", "amd64", "build 1");
    add(&s, &r, &a, &[place("stable", "main")]).await;

    // Same name/version/arch, other content, other file name, into a
    // placement that has it: conflict, and nothing of the call is written
    // (not even its other, harmless placement).
    let rebuilt = deb(
        "hello_1.0_amd64.rebuilt.deb",
        "hello",
        "1.0",
        "amd64",
        "build 2",
    );
    match s
        .add_package(
            r.id,
            &rebuilt,
            &[place("testing", "main"), place("stable", "main")],
            T0,
        )
        .await
    {
        Err(MetaError::Conflict(_)) => {}
        other => panic!(
            "{TAG} same name/version/arch with other content in one placement must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &rebuilt.filename).await.unwrap(),
        None,
        "{TAG} nothing written"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(1));
    assert_eq!(
        s.index_rows(r.id, Format::Deb, PlacementId(0))
            .await
            .unwrap()
            .len(),
        1
    );

    // A re-upload of an existing file into a placement where a different
    // build of it lives is a conflict too.
    add(&s, &r, &rebuilt, &[place("testing", "main")]).await;
    match s
        .add_package(r.id, &a, &[place("testing", "main")], T0)
        .await
    {
        Err(MetaError::Conflict(_)) => {}
        other => panic!(
            "{TAG} placing a file where another build of it is must be Conflict, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &a.filename)
            .await
            .unwrap()
            .unwrap()
            .placements,
        vec![place("stable", "main")],
        "{TAG} the conflicting placement was not added"
    );

    // Fine: disjoint placements, another arch, another version, another
    // component of the same distribution.
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.0_arm64.deb", "hello", "1.0", "arm64", "b"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.1_amd64.deb", "hello", "1.1", "amd64", "c"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    assert!(
        add(
            &s,
            &r,
            &deb("hello_1.0_amd64.x.deb", "hello", "1.0", "amd64", "d"),
            &[place("stable", "contrib")]
        )
        .await
        .created
    );

    // The same content under another file name is not "other content":
    // it is the stored package (see same_bytes_other_filename_*).
    let copy = NewPackage {
        filename: file_name("hello_1.0_amd64.copy.deb"),
        ..a.clone()
    };
    let same = add(&s, &r, &copy, &[place("stable", "main")]).await;
    assert!(
        !same.created && same.package.filename == a.filename,
        "{TAG} same name/version/arch with the same content is not a conflict"
    );

    // Generic files have no name/version/arch identity.
    let f1 = generic_file("one.bin", "1");
    let f2 = generic_file("two.bin", "2");
    add(&s, &r, &f1, &[place("stable", "main")]).await;
    assert!(
        add(&s, &r, &f2, &[place("stable", "main")]).await.created,
        "{TAG} File packages never conflict by name/version/arch"
    );
}

/// Regression (issue 11): one .deb uploaded as `hello_1.0_amd64.deb`, then
/// the identical bytes as `hello-copy.deb` into the same placement, was
/// stored twice and listed twice in `Packages` (the stanzas differing only
/// in `Filename:`). The same bytes with the same format, name, version and
/// arch are the stored package whatever the upload is called: no new row,
/// no placement, no revision bump, the stored package returned. Checked for
/// every indexed format, alone and in a batch; other content under either
/// name stays a conflict; a `File` (served by its name) is not deduplicated.
pub async fn same_bytes_other_filename_is_the_stored_package(s: Store) {
    let r = new_repo(&s, "r").await;
    let formats = [
        (Format::Deb, "hello_1.0_amd64.deb", "amd64"),
        (Format::Rpm, "hello-1.0-1.x86_64.rpm", "x86_64"),
        (Format::Pacman, "hello-1.0-1-x86_64.pkg.tar.zst", "x86_64"),
        (Format::Apk, "hello-1.0-r0.apk", "x86_64"),
        (Format::Freebsd, "hello-1.0.pkg", "FreeBSD:14:amd64"),
    ];
    for (format, filename, arch) in formats {
        let tag = format!(
            "{TAG} the same bytes under another file name add nothing and return the stored package ({}):",
            format.as_str()
        );
        let first = NewPackage {
            format,
            ..deb(filename, "hello", "1.0", arch, format.as_str())
        };
        let stored = add(&s, &r, &first, &[place("stable", "main")])
            .await
            .package;
        let before = repo_state(&s, "r").await;
        let listed = s.list_packages(r.id).await.unwrap();
        let rows = s.index_rows(r.id, format, PlacementId(0)).await.unwrap();

        let copy = NewPackage {
            filename: file_name(&format!("hello-copy.{}", format.as_str())),
            ..first.clone()
        };
        let again = add(&s, &r, &copy, &[place("stable", "main")]).await;
        assert!(
            !again.created && !again.changed,
            "{tag} created {}, changed {}",
            again.created,
            again.changed
        );
        assert_eq!(again.package, stored, "{tag} the stored package");
        assert_eq!(again.revision, before.revision, "{tag} no revision bump");
        let batch = s
            .add_packages(r.id, &[(copy.clone(), vec![place("stable", "main")])], T0)
            .await
            .unwrap_or_else(|e| panic!("{tag} add_packages failed as a whole: {e}"));
        match &batch[..] {
            [Ok(o)] => assert!(
                !o.created && !o.changed && o.package == stored,
                "{tag} add_packages: {o:?}"
            ),
            other => panic!("{tag} add_packages: {other:?}"),
        }
        assert_eq!(
            repo_state(&s, "r").await,
            before,
            "{tag} the repo is unchanged"
        );
        assert_eq!(
            s.list_packages(r.id).await.unwrap(),
            listed,
            "{tag} no package row"
        );
        assert_eq!(
            s.index_rows(r.id, format, PlacementId(0)).await.unwrap(),
            rows,
            "{tag} no placement"
        );
        assert_eq!(
            s.get_package(r.id, &copy.filename).await.unwrap(),
            None,
            "{tag} nothing is stored under the copy's name"
        );

        // Other content under either name is still a conflict.
        for evil in [other_content(&first, "x"), other_content(&copy, "x")] {
            match s
                .add_package(r.id, &evil, &[place("stable", "main")], T0)
                .await
            {
                Err(MetaError::Conflict(_)) => {}
                other => panic!(
                    "{tag} {} with other content must be Conflict, got {other:?}",
                    evil.filename
                ),
            }
        }
        assert_eq!(
            repo_state(&s, "r").await,
            before,
            "{tag} refusals change nothing"
        );

        // Into another placement, the copy is a re-upload of the stored
        // package: the placement is added to it, under its stored name.
        let placed = add(&s, &r, &copy, &[place("testing", "main")]).await;
        assert!(
            !placed.created && placed.changed,
            "{tag} a new placement for the stored package"
        );
        assert_eq!(placed.package.filename, first.filename, "{tag} stored name");
        assert_eq!(
            placed.package.placements,
            [place("stable", "main"), place("testing", "main")],
            "{tag} placements of the stored package"
        );
        assert_eq!(
            s.list_packages(r.id).await.unwrap().len(),
            listed.len(),
            "{tag} still no package row"
        );
    }

    // A generic file is served by its name: the same bytes under two names
    // are two files.
    let one = generic_file("one.bin", "same");
    let two = NewPackage {
        filename: file_name("two.bin"),
        ..one.clone()
    };
    add(&s, &r, &one, &[place("stable", "main")]).await;
    assert!(
        add(&s, &r, &two, &[place("stable", "main")]).await.created,
        "{TAG} a File under another name is another file, even with the same bytes"
    );
}

pub async fn add_package_missing_repo(s: Store) {
    let r = new_repo(&s, "r").await;
    let pkg = deb("a_1_all.deb", "a", "1", "all", "x");
    match s
        .add_package(RepoId(r.id.0 + 1000), &pkg, &[place("stable", "main")], T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} add_package to a missing repo must be NotFound, got {other:?}"),
    }
    s.delete_repo(&r.name).await.unwrap();
    match s
        .add_package(r.id, &pkg, &[place("stable", "main")], T0)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} add_package to a deleted repo must be NotFound, got {other:?}"),
    }
}

// ---- remove / get / list / update --------------------------------------------

pub async fn remove_package(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    let b = deb("b_1_all.deb", "b", "1", "all", "y");
    add(
        &s,
        &r,
        &a,
        &[place("stable", "main"), place("testing", "main")],
    )
    .await;
    add(&s, &r, &b, &[place("stable", "main")]).await;
    assert_eq!(
        s.remove_package(r.id, &a.filename).await.unwrap(),
        Some(Revision(3)),
        "{TAG} remove_package returns the bumped revision"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} removal bumps revision and removal_gen"
    );
    assert_eq!(s.get_package(r.id, &a.filename).await.unwrap(), None);
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        ["b"],
        "{TAG} the removed package's placements are gone"
    );
    assert_eq!(
        s.remove_package(r.id, &a.filename).await.unwrap(),
        None,
        "{TAG} removing a missing file is None"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} and changes nothing"
    );
    // The file name can be used again, for other content.
    assert!(
        add(
            &s,
            &r,
            &other_content(&a, "new"),
            &[place("stable", "main")]
        )
        .await
        .created
    );
    match s.remove_package(RepoId(r.id.0 + 1000), &a.filename).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} remove_package in a missing repo must be NotFound, got {other:?}"),
    }
}

pub async fn get_and_list_packages(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let names = [
        "b_1_all.deb",
        "B_1_all.deb",
        "a_1_all.deb",
        "a_1_all.deb.old",
        "Z.bin",
    ];
    let mut expected = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        let pkg = if n.ends_with(".bin") {
            generic_file(n, "z")
        } else {
            deb(n, &format!("p{i}"), "1", "all", "c")
        };
        let places = if i % 2 == 0 {
            vec![place("stable", "main"), place("jammy", "universe")]
        } else {
            vec![place("stable", "main")]
        };
        add(&s, &r, &pkg, &places).await;
        expected.insert(n.to_string(), (pkg, places));
    }
    add(
        &s,
        &other,
        &deb("c_1_all.deb", "c", "1", "all", "c"),
        &[place("stable", "main")],
    )
    .await;

    let list = s.list_packages(r.id).await.unwrap();
    assert_eq!(
        list.iter()
            .map(|p| p.filename.to_string())
            .collect::<Vec<_>>(),
        [
            "B_1_all.deb",
            "Z.bin",
            "a_1_all.deb",
            "a_1_all.deb.old",
            "b_1_all.deb"
        ],
        "{TAG} list_packages is ordered by file name, bytewise, and only this repo's"
    );
    for p in &list {
        let (new, places) = &expected[p.filename.as_str()];
        assert_package_matches(p, new, r.id, places);
        assert_eq!(
            s.get_package(r.id, &p.filename).await.unwrap().as_ref(),
            Some(p),
            "{TAG} get_package agrees with list_packages"
        );
    }
    assert_eq!(
        s.get_package(other.id, &file_name("a_1_all.deb"))
            .await
            .unwrap(),
        None,
        "{TAG} packages are per repo"
    );
    assert_eq!(
        s.get_package(r.id, &file_name("nope.deb")).await.unwrap(),
        None
    );
    assert!(
        s.list_packages(RepoId(r.id.0 + 1000))
            .await
            .unwrap()
            .is_empty()
    );

    // package_page: the same records in id order, two at a time, with the
    // fields as their JSON text and no placements.
    let mut by_id = list.clone();
    by_id.sort_by_key(|p| p.id);
    let mut paged = Vec::new();
    let mut after = PackageId(0);
    loop {
        let page = s.package_page(r.id, after, 2).await.unwrap();
        assert!(
            page.len() <= 2,
            "{TAG} package_page returns at most `limit`"
        );
        let Some(last) = page.last() else { break };
        after = last.id;
        paged.extend(page);
    }
    assert_eq!(
        paged.len(),
        by_id.len(),
        "{TAG} package_page covers every package of the repo once, and no other repo's"
    );
    for (record, p) in paged.into_iter().zip(&by_id) {
        assert_eq!(
            &record.clone().into_package(p.placements.clone()).unwrap(),
            p,
            "{TAG} package_page is list_packages in id order"
        );
        assert_eq!(
            record.fields_json,
            serde_json::to_string(&p.fields).unwrap(),
            "{TAG} fields_json is the stored compact JSON"
        );
    }
    assert!(
        s.package_page(r.id, by_id.last().unwrap().id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        matches!(
            s.package_page(RepoId(r.id.0 + 1000), PackageId(0), 10)
                .await,
            Err(MetaError::NotFound(_))
        ),
        "{TAG} package_page of a missing repo is NotFound"
    );
}

pub async fn update_packages(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let a = add(
        &s,
        &r,
        &deb("a_1_all.deb", "a", "1", "all", "x"),
        &[place("stable", "main")],
    )
    .await
    .package;
    let b = add(
        &s,
        &r,
        &deb("b_1_all.deb", "b", "1", "all", "y"),
        &[place("stable", "main")],
    )
    .await
    .package;
    let foreign = add(
        &s,
        &other,
        &deb("c_1_all.deb", "c", "1", "all", "z"),
        &[place("stable", "main")],
    )
    .await
    .package;

    let upd = PackageUpdate {
        id: a.id,
        format: Format::Deb,
        name: "a-renamed".into(),
        version: "1:1".into(),
        arch: "amd64".into(),
        index_entry: "Package: a-renamed\nVersion: 1:1".into(),
        fields: serde_json::json!({ "rebuilt": true }),
    };
    let rev = s
        .update_packages(r.id, std::slice::from_ref(&upd))
        .await
        .unwrap();
    assert_eq!(
        rev,
        Revision(3),
        "{TAG} update_packages returns the bumped revision"
    );
    let state = repo_state(&s, "r").await;
    assert_eq!(
        (state.revision, state.removal_gen),
        (Revision(3), 1),
        "{TAG} update_packages bumps revision and removal_gen"
    );
    let now = s.get_package(r.id, &a.filename).await.unwrap().unwrap();
    assert_eq!(
        (
            now.name.as_str(),
            now.version.as_str(),
            now.arch.as_str(),
            now.index_entry.as_str()
        ),
        (
            "a-renamed",
            "1:1",
            "amd64",
            "Package: a-renamed\nVersion: 1:1"
        ),
        "{TAG} update_packages replaces the parsed fields"
    );
    assert_eq!(now.fields, upd.fields);
    assert_eq!(
        (now.hashes, now.size, now.placements.clone()),
        (a.hashes.clone(), a.size, a.placements.clone()),
        "{TAG} and nothing else"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        rows[0].index_entry, upd.index_entry,
        "{TAG} index_rows sees the new entry"
    );

    // An unknown package, or one of another repo, fails the whole call.
    let bad = [
        PackageUpdate {
            id: b.id,
            name: "b2".into(),
            ..upd.clone()
        },
        PackageUpdate {
            id: foreign.id,
            ..upd.clone()
        },
    ];
    match s.update_packages(r.id, &bad).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!(
            "{TAG} update_packages naming another repo's package must be NotFound, got {other:?}"
        ),
    }
    assert_eq!(
        s.get_package(r.id, &b.filename)
            .await
            .unwrap()
            .unwrap()
            .name,
        "b",
        "{TAG} a failed update_packages writes nothing"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(3));
    assert_eq!(
        s.get_package(other.id, &foreign.filename)
            .await
            .unwrap()
            .unwrap()
            .name,
        "c"
    );

    // Nothing to update still marks the repo for a full re-render.
    assert_eq!(s.update_packages(r.id, &[]).await.unwrap(), Revision(4));
    match s.update_packages(RepoId(r.id.0 + 1000), &[]).await {
        Err(MetaError::NotFound(_)) => {}
        other => panic!("{TAG} update_packages of a missing repo must be NotFound, got {other:?}"),
    }
}
