//! [`depot_core::meta::KeyStore`] for [`SqlMetaStore`]: Signing keys: first one stored wins.

use super::*;

#[async_trait::async_trait]
impl KeyStore for SqlMetaStore {
    async fn insert_signing_key_if_absent(
        &self,
        name: &str,
        armored_secret: &str,
        now: Timestamp,
    ) -> Result<String, MetaError> {
        let mut tx = self.write_tx().await?;
        let result = async {
            sqlx::query(
                "INSERT INTO signing_keys (name, armored_secret, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(armored_secret)
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
            let row = sqlx::query("SELECT armored_secret FROM signing_keys WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_sqlx)?;
            get::<String>(&row, "armored_secret")
        }
        .await;
        self.finish_write(tx, result).await
    }

    async fn get_signing_key(&self, name: &str) -> Result<Option<String>, MetaError> {
        sqlx::query("SELECT armored_secret FROM signing_keys WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx)?
            .map(|row| get::<String>(&row, "armored_secret"))
            .transpose()
    }
}
