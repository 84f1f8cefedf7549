//! [`depot_core::meta::TokenStore`] for [`SqlMetaStore`]: API tokens by the hash of their secret.

use super::*;

#[async_trait::async_trait]
impl TokenStore for SqlMetaStore {
    /// Errors: `AlreadyExists` if a token with the same secret exists.
    async fn create_token(
        &self,
        name: &str,
        secret_hash: &Sha256,
        scope: &TokenScope,
        now: Timestamp,
    ) -> Result<TokenRecord, MetaError> {
        let scope_json = to_json(scope, "token scope")?;
        let mut tx = self.write_tx().await?;
        let result = sqlx::query(
            "INSERT INTO tokens (name, secret_sha256, scope_json, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(secret_hash.hex())
        .bind(scope_json)
        .bind(now.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                MetaError::AlreadyExists("a token with this secret".to_string())
            } else {
                map_sqlx(e)
            }
        })
        .and_then(|row| {
            Ok(TokenRecord {
                id: TokenId(get(&row, "id")?),
                name: name.to_string(),
                scope: scope.clone(),
                groups: Vec::new(),
                created_at: now,
            })
        });
        self.finish_write(tx, result).await
    }

    async fn find_token(&self, secret_hash: &Sha256) -> Result<Option<TokenRecord>, MetaError> {
        sqlx::query("SELECT id, name, scope_json, groups_json, created_at FROM tokens WHERE secret_sha256 = $1")
            .bind(secret_hash.hex())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    async fn set_token_groups(&self, token: TokenId, groups: &[String]) -> Result<(), MetaError> {
        self.tokens_set_groups(token, groups).await
    }

    async fn count_tokens(&self) -> Result<u64, MetaError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await
            .map_err(map_sqlx)?;
        let n: i64 = get(&row, "n")?;
        u64::try_from(n).map_err(|e| corrupt("token count", e))
    }
}
