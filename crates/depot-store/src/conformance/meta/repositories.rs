//! Repositories: create, get, list, settings.

use super::*;

pub async fn backend_name(s: Store) {
    assert!(
        ["sqlite", "postgres"].contains(&s.backend()),
        "{TAG} backend() is sqlite or postgres, got {}",
        s.backend()
    );
}

pub async fn repositories(s: Store) {
    let settings = RepoSettings {
        description: "Ünïcode description\nwith a newline".into(),
        public: false,
        architectures: vec!["riscv64".into()],
        ..RepoSettings::default()
    };
    let r = s
        .create_repo(&repo_name("alpha"), &settings, T0)
        .await
        .unwrap();
    assert_eq!(r.name.as_str(), "alpha");
    assert_eq!(r.settings, settings, "{TAG} settings round-trip");
    assert_eq!(r.revision, Revision(0), "{TAG} a new repo is at revision 0");
    assert_eq!(r.removal_gen, 0);
    assert_eq!(r.created_at, T0);
    assert_eq!(
        s.get_repo(&repo_name("alpha")).await.unwrap(),
        Some(r.clone()),
        "{TAG} get_repo returns what create_repo returned"
    );
    assert_eq!(
        s.published_pointer(r.id).await.unwrap(),
        None,
        "{TAG} a new repo has no publication"
    );

    match s
        .create_repo(&repo_name("alpha"), &RepoSettings::default(), T0)
        .await
    {
        Err(MetaError::AlreadyExists(_)) => {}
        other => panic!("{TAG} creating a taken repo name must be AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        s.get_repo(&repo_name("alpha"))
            .await
            .unwrap()
            .unwrap()
            .settings,
        settings,
        "{TAG} a failed create changes nothing"
    );

    for n in ["beta", "Zulu", "a-1", "B", "alpha.2"] {
        new_repo(&s, n).await;
    }
    let names: Vec<String> = s
        .list_repos()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["B", "Zulu", "a-1", "alpha", "alpha.2", "beta"],
        "{TAG} list_repos is ordered by name, bytewise"
    );
    assert_eq!(s.get_repo(&repo_name("gamma")).await.unwrap(), None);

    let old_beta = repo_state(&s, "beta").await.id;
    assert!(
        s.delete_repo(&repo_name("beta")).await.unwrap(),
        "{TAG} delete_repo of an existing repo is true"
    );
    assert!(
        !s.delete_repo(&repo_name("beta")).await.unwrap(),
        "{TAG} delete_repo of a missing repo is false"
    );
    assert_eq!(s.get_repo(&repo_name("beta")).await.unwrap(), None);
    assert_eq!(s.list_repos().await.unwrap().len(), 5);
    // The name is free again, under a new id.
    let again = new_repo(&s, "beta").await;
    assert_ne!(again.id, old_beta, "{TAG} a re-created repo gets a new id");
    assert_eq!(again.revision, Revision(0));
}

pub async fn repo_settings(s: Store) {
    let r = new_repo(&s, "r").await;
    let changed = RepoSettings {
        description: "new".into(),
        architectures: vec!["amd64".into(), "arm64".into(), "i386".into()],
        ..RepoSettings::default()
    };
    s.update_repo_settings(r.id, &changed).await.unwrap();
    let now = repo_state(&s, "r").await;
    assert_eq!(
        now.settings, changed,
        "{TAG} update_repo_settings stores the settings"
    );
    assert_eq!(
        (now.revision, now.removal_gen),
        (Revision(1), 1),
        "{TAG} changed settings bump revision and removal generation"
    );
    s.update_repo_settings(r.id, &changed).await.unwrap();
    let same = repo_state(&s, "r").await;
    assert_eq!(
        (same.revision, same.removal_gen),
        (Revision(1), 1),
        "{TAG} identical settings change nothing"
    );
    match s
        .update_repo_settings(RepoId(r.id.0 + 1000), &changed)
        .await
    {
        Err(MetaError::NotFound(_)) => {}
        other => {
            panic!("{TAG} update_repo_settings of a missing repo must be NotFound, got {other:?}")
        }
    }
}
