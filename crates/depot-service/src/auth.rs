//! The one place permissions are decided.

use crate::ServiceError;
use depot_core::{Image, Repo, TokenRecord, TokenScope, Visibility};

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

/// What a caller may do with an image ([`image_access`]). Ordered: each
/// level includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ImageAccess {
    /// Not even see it: the service answers "not found", so the existence
    /// of a private image is never revealed.
    None,
    /// See its details and history, download it, copy it.
    Read,
    /// Also change its metadata and visibility, overwrite its file, delete
    /// it; for `image: None`, create images.
    Manage,
}

/// The one place image visibility and ownership are decided (the full
/// users/groups model will replace this function only).
///
/// The user of a token is its name; its groups are the token's groups.
/// - `image: None` asks about creating an image: any token may (its user
///   becomes the owner), anonymous callers may not.
/// - Admin tokens manage every image; the owner manages their own.
/// - Everyone, anonymous callers included, reads public images; members
///   of the group read images shared with it.
/// - Nobody else sees an image at all.
///
/// A token scoped to one repository is still a user here: it owns and
/// shares images like any other (the scope limits repositories only).
pub fn image_access(token: Option<&TokenRecord>, image: Option<&Image>) -> ImageAccess {
    let Some(image) = image else {
        return match token {
            Some(_) => ImageAccess::Manage,
            None => ImageAccess::None,
        };
    };
    if let Some(t) = token
        && (t.scope == TokenScope::Admin || t.name == image.owner)
    {
        return ImageAccess::Manage;
    }
    match &image.visibility {
        Visibility::Public => ImageAccess::Read,
        Visibility::Group(g) if token.is_some_and(|t| t.groups.contains(g)) => ImageAccess::Read,
        _ => ImageAccess::None,
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

    fn image(owner: &str, visibility: Visibility) -> Image {
        Image {
            id: ImageId::from_random([1; 16]),
            name: "img".into(),
            description: String::new(),
            owner: owner.into(),
            visibility,
            metadata: serde_json::json!({}),
            version: 1,
            blob: ImageBlob {
                format: ImageFormat::Raw,
                size: 0,
                hashes: Hashes::of(b""),
            },
            copied_from: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn image_matrix() {
        use ImageAccess::{Manage, Read};
        const HIDDEN: ImageAccess = ImageAccess::None;
        let named = |name: &str, scope: TokenScope, groups: &[&str]| TokenRecord {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..token(scope)
        };
        let scoped = TokenScope::Repo {
            repo: RepoName::new("r").unwrap(),
        };
        let alice = named("alice", scoped.clone(), &["ops"]);
        let bob = named("bob", scoped, &["dev"]);
        let admin = named("root", TokenScope::Admin, &[]);
        let private = image("alice", Visibility::Private);
        let ops = image("alice", Visibility::Group("ops".into()));
        let dev = image("alice", Visibility::Group("dev".into()));
        let public = image("alice", Visibility::Public);

        let cases = [
            (None, None, HIDDEN),
            (Some(&bob), None, Manage),
            (None, Some(&private), HIDDEN),
            (None, Some(&ops), HIDDEN),
            (None, Some(&public), Read),
            (Some(&alice), Some(&private), Manage),
            (Some(&alice), Some(&dev), Manage),
            (Some(&bob), Some(&private), HIDDEN),
            (Some(&bob), Some(&ops), HIDDEN),
            (Some(&bob), Some(&dev), Read),
            (Some(&bob), Some(&public), Read),
            (Some(&admin), Some(&private), Manage),
            (Some(&admin), Some(&ops), Manage),
        ];
        for (i, (t, img, want)) in cases.into_iter().enumerate() {
            assert_eq!(image_access(t, img), want, "case {i}");
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
