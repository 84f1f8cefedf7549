//! The server's signing keys: the OpenPGP key (apt, rpm, pacman) and the
//! RSA key (apk, FreeBSD), each stored in the MetaStore on first start or
//! first use, the first one stored winning across nodes.

use crate::error;
use crate::{Depot, ServiceError};
use depot_core::meta::MetaStore;
use depot_core::sign::PgpSigner;
use depot_core::*;
use depot_sign::{KeyAlgorithm, PgpKey};
use std::sync::Arc;

/// Name of the server-wide signing key in the MetaStore.
const SERVER_KEY: &str = "server";
/// Name of the server-wide RSA key (apk, FreeBSD pkg) in the MetaStore.
const SERVER_RSA_KEY: &str = "server-rsa";

impl Depot {
    /// The server RSA key that signs Alpine and FreeBSD indexes: loaded
    /// from the MetaStore, or generated ([`ServiceConfig::rsa_key_bits`])
    /// and stored on first use, so repositories without such packages never
    /// pay for RSA key generation. Every node uses the first key stored.
    pub(crate) async fn rsa_key(&self) -> Result<depot_sign::RsaKey, ServiceError> {
        let meta = self.inner.meta.clone();
        let bits = self.inner.config.rsa_key_bits;
        self.inner
            .rsa
            .get_or_try_init(|| load_or_create_rsa_key(meta, bits))
            .await
            .cloned()
    }

    /// The RSA public key (PEM) that signs the repo's Alpine and FreeBSD
    /// indexes, and the file name apk users keep it under in
    /// `/etc/apk/keys/` (`depot-{8 hex}.rsa.pub`).
    pub async fn rsa_public_key(&self, repo: &RepoName) -> Result<(String, String), ServiceError> {
        self.repo(repo).await?;
        let key = self.rsa_key().await?;
        Ok((crate::apk::key_name(&key), key.public_key_pem().to_string()))
    }

    /// The public key that signs the repo's indexes, ASCII-armored.
    pub async fn public_key_armored(&self, repo: &RepoName) -> Result<String, ServiceError> {
        self.repo(repo).await?;
        Ok(self.inner.signer.public_key_armored())
    }

    /// The signing key's fingerprint (uppercase hex).
    pub fn key_fingerprint(&self) -> String {
        self.inner.signer.fingerprint()
    }
}

async fn load_or_create_rsa_key(
    meta: Arc<dyn MetaStore>,
    bits: usize,
) -> Result<depot_sign::RsaKey, ServiceError> {
    let pem = match meta.get_signing_key(SERVER_RSA_KEY).await? {
        Some(pem) => pem,
        None => {
            let fresh = tokio::task::spawn_blocking(move || depot_sign::RsaKey::generate(bits))
                .await
                .map_err(error::join_error)?
                .map_err(|e| ServiceError::Internal(format!("generating the RSA key: {e}")))?;
            tracing::info!(fingerprint = %fresh.fingerprint(), bits, "generated the server RSA key");
            // Another node may have stored one meanwhile; everyone uses the first.
            meta.insert_signing_key_if_absent(
                SERVER_RSA_KEY,
                &fresh.to_pkcs8_pem(),
                Timestamp::now(),
            )
            .await?
        }
    };
    depot_sign::RsaKey::from_pem(&pem)
        .map_err(|e| ServiceError::Internal(format!("the stored RSA key is unusable: {e}")))
}

pub(crate) async fn load_or_create_key(
    meta: &dyn MetaStore,
    algo: KeyAlgorithm,
) -> Result<PgpKey, ServiceError> {
    let armored = match meta.get_signing_key(SERVER_KEY).await? {
        Some(a) => a,
        None => {
            let fresh = tokio::task::spawn_blocking(move || {
                PgpKey::generate(algo, "depot repository signing key <depot@localhost>")
            })
            .await
            .map_err(error::join_error)?
            .map_err(|e| ServiceError::Internal(format!("generating the signing key: {e}")))?;
            tracing::info!(fingerprint = %fresh.fingerprint(), algorithm = %algo, "generated the server signing key");
            // Another node may have stored one meanwhile; everyone uses the first.
            meta.insert_signing_key_if_absent(
                SERVER_KEY,
                &fresh.to_armored_secret(),
                Timestamp::now(),
            )
            .await?
        }
    };
    PgpKey::from_armored_secret(&armored)
        .map_err(|e| ServiceError::Internal(format!("the stored signing key is unusable: {e}")))
}
