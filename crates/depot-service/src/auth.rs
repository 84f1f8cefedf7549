//! The one place permissions are decided.

use crate::ServiceError;
use depot_core::{Repo, TokenRecord, TokenScope};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read a repository's packages and indexes.
    Read,
    /// Change a repository's packages.
    Write,
    /// Create or delete repositories, rebuild, manage tokens.
    Admin,
}

/// Decides whether `token` (None = anonymous) may do `action` on `repo`
/// (None = server-wide). Anonymous callers get `Unauthorized` (so clients
/// know to send a token), authenticated ones without the right `Forbidden`.
pub fn authorize(
    token: Option<&TokenRecord>,
    action: Action,
    repo: Option<&Repo>,
) -> Result<(), ServiceError> {
    if action == Action::Read && repo.is_some_and(|r| r.settings.public) {
        return Ok(());
    }
    let Some(token) = token else {
        return Err(ServiceError::Unauthorized);
    };
    match (&token.scope, action, repo) {
        (TokenScope::Admin, _, _) => Ok(()),
        (TokenScope::Repo { repo: scoped }, Action::Read | Action::Write, Some(r))
            if *scoped == r.name =>
        {
            Ok(())
        }
        (TokenScope::Repo { repo: scoped }, _, _) => Err(ServiceError::Forbidden(format!(
            "token '{}' is limited to repository '{scoped}'",
            token.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use depot_core::*;

    fn repo(name: &str, public: bool) -> Repo {
        Repo {
            id: RepoId(1),
            name: RepoName::new(name).unwrap(),
            settings: RepoSettings {
                public,
                ..Default::default()
            },
            revision: Revision(0),
            removal_gen: 0,
            created_at: Timestamp(0),
        }
    }
    fn token(scope: TokenScope) -> TokenRecord {
        TokenRecord {
            id: TokenId(1),
            name: "t".into(),
            scope,
            groups: Vec::new(),
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn matrix() {
        let public = repo("pub", true);
        let private = repo("priv", false);
        let admin = token(TokenScope::Admin);
        let scoped = token(TokenScope::Repo {
            repo: RepoName::new("priv").unwrap(),
        });

        assert!(authorize(None, Action::Read, Some(&public)).is_ok());
        assert!(matches!(
            authorize(None, Action::Read, Some(&private)),
            Err(ServiceError::Unauthorized)
        ));
        assert!(matches!(
            authorize(None, Action::Write, Some(&public)),
            Err(ServiceError::Unauthorized)
        ));
        assert!(matches!(
            authorize(None, Action::Admin, None),
            Err(ServiceError::Unauthorized)
        ));

        for action in [Action::Read, Action::Write, Action::Admin] {
            assert!(authorize(Some(&admin), action, Some(&private)).is_ok());
        }
        assert!(authorize(Some(&scoped), Action::Write, Some(&private)).is_ok());
        assert!(authorize(Some(&scoped), Action::Read, Some(&private)).is_ok());
        assert!(matches!(
            authorize(Some(&scoped), Action::Write, Some(&public)),
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            authorize(Some(&scoped), Action::Admin, Some(&private)),
            Err(ServiceError::Forbidden(_))
        ));
        assert!(matches!(
            authorize(Some(&scoped), Action::Admin, None),
            Err(ServiceError::Forbidden(_))
        ));
    }
}
