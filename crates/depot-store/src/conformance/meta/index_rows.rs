//! The rows publishers render, and placement ids.

use super::*;

pub async fn index_rows(s: Store) {
    let r = new_repo(&s, "r").await;
    let other = new_repo(&s, "other").await;
    let a = deb("a_1_amd64.deb", "a", "1", "amd64", "x");
    let f = generic_file("notes.txt", "n");
    let b = deb("b_2_all.deb", "b", "2", "all", "y");
    add(
        &s,
        &r,
        &a,
        &[place("stable", "main"), place("bookworm", "main")],
    )
    .await;
    add(&s, &r, &f, &[place("stable", "main")]).await;
    add(
        &s,
        &other,
        &deb("o_1_all.deb", "o", "1", "all", "o"),
        &[place("stable", "main")],
    )
    .await;
    add(&s, &r, &b, &[place("stable", "contrib")]).await;

    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert!(
        rows.windows(2)
            .all(|w| w[0].placement_id < w[1].placement_id),
        "{TAG} index_rows is ordered by placement id"
    );
    let seen: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|x| {
            (
                x.name.as_str(),
                x.distribution.as_str(),
                x.component.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("a", "bookworm", "main"),
            ("a", "stable", "main"),
            ("b", "stable", "contrib")
        ],
        "{TAG} index_rows: this repo's deb placements, in insertion order (placements of one call in distribution/component order)"
    );
    let a_pkg = s.get_package(r.id, &a.filename).await.unwrap().unwrap();
    let first = &rows[0];
    assert_eq!(first.package_id, a_pkg.id);
    assert_eq!(
        (first.version.as_str(), first.arch.as_str()),
        ("1", "amd64")
    );
    assert_eq!(first.index_entry, a.index_entry);

    let after = s
        .index_rows(r.id, Format::Deb, rows[1].placement_id)
        .await
        .unwrap();
    assert_eq!(
        after,
        rows[2..].to_vec(),
        "{TAG} index_rows after an id returns only later rows"
    );
    assert!(
        s.index_rows(r.id, Format::Deb, rows[2].placement_id)
            .await
            .unwrap()
            .is_empty()
    );

    let files = s
        .index_rows(r.id, Format::File, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(files.len(), 1, "{TAG} index_rows filters by format");
    assert_eq!(
        files[0].package_id,
        s.get_package(r.id, &f.filename).await.unwrap().unwrap().id
    );
    assert!(
        files[0].placement_id > rows[1].placement_id
            && files[0].placement_id < rows[2].placement_id
    );

    // max_placement_id: the repo's newest placement of any format; 0 for a
    // repo without placements; other repos' placements do not count.
    assert_eq!(
        s.max_placement_id(r.id).await.unwrap(),
        rows[2].placement_id,
        "{TAG} max_placement_id is the newest placement of the repo"
    );
    let empty = new_repo(&s, "empty").await;
    assert_eq!(
        s.max_placement_id(empty.id).await.unwrap(),
        PlacementId(0),
        "{TAG} max_placement_id of a repo without placements is 0"
    );
    let o = s
        .index_rows(other.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(
        s.max_placement_id(other.id).await.unwrap(),
        o[0].placement_id
    );
}

pub async fn placement_ids_only_grow(s: Store) {
    let r = new_repo(&s, "r").await;
    let a = deb("a_1_all.deb", "a", "1", "all", "x");
    let b = deb("b_1_all.deb", "b", "1", "all", "y");
    add(&s, &r, &a, &[place("stable", "main")]).await;
    add(
        &s,
        &r,
        &b,
        &[place("stable", "main"), place("testing", "main")],
    )
    .await;
    let before = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    let max_before = before.iter().map(|x| x.placement_id).max().unwrap();

    // Delete the rows holding the highest ids, then add again.
    s.remove_package(r.id, &b.filename).await.unwrap();
    add(&s, &r, &b, &[place("stable", "main")]).await;
    add(
        &s,
        &r,
        &deb("c_1_all.deb", "c", "1", "all", "z"),
        &[place("stable", "main")],
    )
    .await;
    let now = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(now.len(), 3);
    assert_eq!(now[0].placement_id, before[0].placement_id);
    assert!(
        now[1..].iter().all(|x| x.placement_id > max_before),
        "{TAG} placement ids never reuse deleted ids: {now:?} after max {max_before}"
    );

    // Also across deleting the whole repo.
    let max_now = now.iter().map(|x| x.placement_id).max().unwrap();
    s.delete_repo(&r.name).await.unwrap();
    let r = new_repo(&s, "r").await;
    add(&s, &r, &a, &[place("stable", "main")]).await;
    let fresh = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert!(
        fresh[0].placement_id > max_now,
        "{TAG} placement ids grow across repo deletion"
    );
}
