//! API tokens: authenticate a secret, create a token (the secret is
//! returned once, only its hash is kept), the first admin token.

use crate::{Depot, ServiceError};
use depot_core::*;
use rand::RngCore;

impl Depot {
    pub async fn authenticate(
        &self,
        bearer_secret: &str,
    ) -> Result<Option<TokenRecord>, ServiceError> {
        let hash = Sha256::of(bearer_secret.trim().as_bytes());
        Ok(self.inner.meta.find_token(&hash).await?)
    }

    /// Creates a token; the secret is returned once and only its hash is kept.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
    ) -> Result<(TokenRecord, String), ServiceError> {
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(ServiceError::Invalid(
                "token name must be 1 to 128 printable characters".into(),
            ));
        }
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = format!("depot_{}", depot_core::digest::hex(&raw));
        let rec = self
            .inner
            .meta
            .create_token(
                name,
                &Sha256::of(secret.as_bytes()),
                &scope,
                Timestamp::now(),
            )
            .await?;
        Ok((rec, secret))
    }

    /// On first start (no token exists at all) creates an admin token and
    /// returns its secret.
    pub async fn ensure_admin_token(&self) -> Result<Option<String>, ServiceError> {
        if self.inner.meta.count_tokens().await? > 0 {
            return Ok(None);
        }
        let (_, secret) = self.create_token("admin", TokenScope::Admin).await?;
        Ok(Some(secret))
    }
}
