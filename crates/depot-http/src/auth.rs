//! Who is calling: the `Authorization: Bearer <secret>` extractor.
//!
//! The extractor only *authenticates* (secret -> token record). What a caller
//! may do is decided in one place, [`depot_service::auth::authorize`], which
//! handlers reach through [`Caller::authorize`] and [`Caller::repo`].
//!
//! - No `Authorization` header: an anonymous caller (reads of public repos
//!   work).
//! - A header that is not a well-formed bearer token, or a secret the service
//!   does not know: `401` right away, even for reads, so a misconfigured
//!   client finds out instead of silently falling back to anonymous.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use depot_core::{Repo, RepoName, TokenRecord};
use depot_service::ServiceError;
use depot_service::auth::{Action, authorize};

/// The authenticated token of the request, or `None` for anonymous callers.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<TokenRecord>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Ok(Caller(None));
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(bearer_secret)
            .ok_or(ApiError(ServiceError::Unauthorized))?;
        match state.depot.authenticate(secret).await? {
            Some(token) => Ok(Caller(Some(token))),
            None => Err(ApiError(ServiceError::Unauthorized)),
        }
    }
}

/// The secret of an `Authorization: Bearer <secret>` header value. The scheme
/// is case-insensitive (RFC 9110 §11.1).
fn bearer_secret(value: &str) -> Option<&str> {
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

impl Caller {
    pub fn token(&self) -> Option<&TokenRecord> {
        self.0.as_ref()
    }

    /// May this caller do `action` (on `repo`, when given)?
    pub fn authorize(&self, action: Action, repo: Option<&Repo>) -> Result<(), ApiError> {
        Ok(authorize(self.token(), action, repo)?)
    }

    /// Loads `name` and checks that this caller may do `action` on it.
    ///
    /// For writes the permission is checked before existence is revealed: an
    /// anonymous write to an unknown repo is `401`, not `404`.
    pub async fn repo(
        &self,
        state: &AppState,
        name: &RepoName,
        action: Action,
    ) -> Result<Repo, ApiError> {
        // A read takes the repo from the serving cache (as fresh as a query:
        // see depot_service's cache module); a write reads the store.
        let found = match action {
            Action::Read => state.depot.repo_for_read(name).await,
            _ => state.depot.repo(name).await,
        };
        match found {
            Ok(repo) => {
                self.authorize(action, Some(&repo))?;
                Ok(repo)
            }
            Err(ServiceError::NotFound(what)) => {
                if !matches!(action, Action::Read) {
                    self.authorize(action, None)?;
                }
                Err(ApiError(ServiceError::NotFound(what)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_secret;

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_secret("Bearer abc"), Some("abc"));
        assert_eq!(bearer_secret("bearer  abc "), Some("abc"));
        assert_eq!(bearer_secret("Basic dXNlcjpwdw=="), None);
        assert_eq!(bearer_secret("Bearer "), None);
        assert_eq!(bearer_secret("Bearer"), None);
    }
}
