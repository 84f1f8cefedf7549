//! Invariants under concurrent writers: no lost update, no fork.

use super::publications::manifest;
use super::*;

/// 8 publishers loop read-pointer / publish(expected) / retry on conflict.
/// Every successful publish must be a distinct link of one chain from the
/// final pointer back to the first publication: no lost update, no fork.
pub async fn concurrent_publishers(s: Store) {
    const TASKS: usize = 8;
    const EACH: usize = 5;
    let rid = new_repo(&s, "r").await.id;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut conflicts = 0u32;
            while mine.len() < EACH {
                let expected = s.published_pointer(rid).await.unwrap().map(|(id, _)| id);
                let m = manifest(&format!("t{t}-{}", mine.len()), expected);
                match s.publish(rid, expected, Revision(0), &m, T0).await {
                    Ok(id) => mine.push((id, expected)),
                    Err(MetaError::PublishConflict { current }) => {
                        assert!(
                            current.is_some(),
                            "{TAG} a conflict means someone published"
                        );
                        assert_ne!(
                            current.map(|c| c.0),
                            expected,
                            "{TAG} a conflict reports a moved pointer"
                        );
                        conflicts += 1;
                        assert!(conflicts < 10_000, "{TAG} publishers starve");
                        tokio::task::yield_now().await;
                    }
                    Err(MetaError::Unavailable(e)) => {
                        panic!("{TAG} concurrent publish surfaced Unavailable: {e}")
                    }
                    Err(e) => panic!("{TAG} concurrent publish failed: {e}"),
                }
            }
            mine
        }));
    }
    let mut won: BTreeMap<PublicationId, Option<PublicationId>> = BTreeMap::new();
    for h in handles {
        for (id, parent) in h.await.expect("publisher task panicked") {
            assert!(
                won.insert(id, parent).is_none(),
                "{TAG} publication id {id} handed out twice"
            );
        }
    }
    assert_eq!(won.len(), TASKS * EACH);

    // Walk the chain from the pointer through the recorded parents.
    let (mut cur, _) = s.published_pointer(rid).await.unwrap().unwrap();
    let mut chain = BTreeSet::new();
    loop {
        assert!(chain.insert(cur), "{TAG} the publication chain has a cycle");
        let p = s.get_publication(cur).await.unwrap().unwrap();
        let parent = p.manifest.state["parent"].as_i64().map(PublicationId);
        assert_eq!(
            won.get(&cur),
            Some(&parent),
            "{TAG} each publication's expected pointer is its parent"
        );
        match parent {
            Some(p) => cur = p,
            None => break,
        }
    }
    assert_eq!(
        chain,
        won.keys().copied().collect::<BTreeSet<_>>(),
        "{TAG} every successful publish is one link of a single chain (no lost updates)"
    );
}

/// The publishing lease: granted when free, ended by dropping it, and on a
/// store shared by several processes (PostgreSQL) exclusive per repo: a
/// second holder waits at most its `wait`, then gets `None`, and gets the
/// lease as soon as the first lets go. The lease never stops a publish
/// (it is advisory).
pub async fn publish_lease(s: Store) {
    use std::time::{Duration, Instant};
    let r1 = new_repo(&s, "r1").await.id;
    let r2 = new_repo(&s, "r2").await.id;
    let first = s
        .lease_publishing(r1, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("a free lease is granted");
    let exclusive = s.backend() == "postgres";
    assert_eq!(
        first.is_exclusive(),
        exclusive,
        "{TAG} the lease is exclusive on PostgreSQL, unshared on SQLite"
    );
    // Another repo's lease is independent.
    let other = s
        .lease_publishing(r2, Duration::from_millis(100))
        .await
        .unwrap();
    assert!(other.is_some(), "{TAG} leases of two repos are independent");
    drop(other);
    // Held: a publish goes through anyway.
    let m = manifest("under-lease", None);
    s.publish(r1, None, Revision(0), &m, T0)
        .await
        .expect("the lease is advisory: publish ignores it");
    let started = Instant::now();
    let second = s
        .lease_publishing(r1, Duration::from_millis(200))
        .await
        .unwrap();
    if exclusive {
        assert!(second.is_none(), "{TAG} a held lease is not granted twice");
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{TAG} a lease request waits for its `wait` before giving up"
        );
        // A waiter gets it as soon as the holder drops it.
        let waiter = {
            let s = s.clone();
            tokio::spawn(async move { s.lease_publishing(r1, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let released = Instant::now();
        drop(first);
        let got = waiter.await.unwrap().unwrap();
        assert!(got.is_some(), "{TAG} a dropped lease passes to the waiter");
        assert!(
            released.elapsed() < Duration::from_secs(5),
            "{TAG} the waiter got the lease when it was dropped, not at its deadline"
        );
        drop(got);
    } else {
        assert!(
            second.is_some(),
            "{TAG} an unshared lease is always granted"
        );
        drop(first);
    }
    let again = s
        .lease_publishing(r1, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(again.is_some(), "{TAG} a dropped lease is free again");
}

/// 8 tasks add different files at once: all land, each with its own
/// revision. Meanwhile an incremental reader follows `index_rows` with a
/// cursor (as a publisher does) and must miss no row: placement ids become
/// visible in increasing order.
pub async fn concurrent_add_package(s: Store) {
    const TASKS: usize = 8;
    const EACH: usize = 5;
    let r = new_repo(&s, "r").await;
    let rid = r.id;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let s = s.clone();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = PlacementId(0);
            loop {
                // Read `done` before the rows, so the last pass starts after
                // every writer finished.
                let last_pass = done.load(Ordering::SeqCst);
                let rows = s.index_rows(rid, Format::Deb, cursor).await.unwrap();
                if let Some(last) = rows.last() {
                    cursor = last.placement_id;
                }
                seen.extend(rows.into_iter().map(|r| r.placement_id));
                if last_pass {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..EACH {
                let pkg = deb(
                    &format!("p{t}-{i}_1_all.deb"),
                    &format!("p{t}-{i}"),
                    "1",
                    "all",
                    "c",
                );
                match s
                    .add_package(rid, &pkg, &[place("stable", "main")], T0)
                    .await
                {
                    Ok(out) => {
                        assert!(out.created && out.changed);
                        revs.push(out.revision);
                    }
                    Err(e) => panic!("{TAG} concurrent add_package failed: {e}"),
                }
            }
            revs
        }));
    }
    let mut revs = BTreeSet::new();
    for h in handles {
        for rev in h.await.expect("add_package task panicked") {
            assert!(
                revs.insert(rev),
                "{TAG} revision {rev:?} returned to two writers"
            );
        }
    }
    done.store(true, Ordering::SeqCst);
    let followed = reader.await.expect("reader task panicked");
    let n = (TASKS * EACH) as i64;
    assert_eq!(
        revs,
        (1..=n).map(Revision).collect::<BTreeSet<_>>(),
        "{TAG} concurrent adds get revisions 1..={n}, each once"
    );
    assert_eq!(repo_state(&s, "r").await.revision, Revision(n));
    assert_eq!(
        s.list_packages(r.id).await.unwrap().len(),
        TASKS * EACH,
        "{TAG} every concurrent add landed"
    );
    let rows = s
        .index_rows(r.id, Format::Deb, PlacementId(0))
        .await
        .unwrap();
    assert_eq!(rows.len(), TASKS * EACH);
    assert_eq!(
        followed,
        rows.iter().map(|r| r.placement_id).collect::<Vec<_>>(),
        "{TAG} a reader following index_rows with a cursor during concurrent adds sees every row once"
    );
}

/// Concurrent first starts agree on one signing key.
pub async fn concurrent_signing_key_first_start(s: Store) {
    let mut handles = Vec::new();
    for t in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.insert_signing_key_if_absent("server", &format!("key from starter {t}"), T0)
                .await
                .unwrap_or_else(|e| {
                    panic!("{TAG} concurrent insert_signing_key_if_absent failed: {e}")
                })
        }));
    }
    let mut seen = BTreeSet::new();
    for h in handles {
        seen.insert(h.await.expect("key task panicked"));
    }
    assert_eq!(
        seen.len(),
        1,
        "{TAG} every starter gets the same key: {seen:?}"
    );
    assert_eq!(
        s.get_signing_key("server").await.unwrap(),
        seen.into_iter().next()
    );
}
