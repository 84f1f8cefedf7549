//! The OpenPGP signing seam. A signer holds one key; the format decides what
//! is signed and how (InRelease is clearsigned, Release.gpg and
//! repomd.xml.asc are detached armored, pacman's `.sig` files are detached
//! binary).

use crate::digest::Sha256State;

#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

pub trait PgpSigner: Send + Sync + 'static {
    /// A cleartext-signed message (`-----BEGIN PGP SIGNED MESSAGE-----`) of
    /// `text`, as apt's InRelease. `gpgv` must verify it.
    fn clearsign(&self, text: &str) -> Result<String, SignError>;
    /// An ASCII-armored detached binary signature over `data`.
    fn sign_detached_armored(&self, data: &[u8]) -> Result<String, SignError>;
    /// A binary (not armored) detached signature over `data`, as pacman
    /// wants beside every package and database (`gpg --detach-sign
    /// --no-armor`).
    fn sign_detached_binary(&self, data: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The same signature over data already fed to `state` (a SHA-256 state
    /// that has hashed all of the data and nothing else), so large files
    /// are not read twice. Gives what [`PgpSigner::sign_detached_binary`]
    /// gives for those bytes.
    fn sign_detached_binary_sha256(&self, state: Sha256State) -> Result<Vec<u8>, SignError>;
    /// The public key, ASCII-armored (`key.asc`, apt `signed-by=`).
    fn public_key_armored(&self) -> String;
    /// The public key as a binary OpenPGP packet stream (a gpgv keyring).
    fn public_key_binary(&self) -> Vec<u8>;
    /// Uppercase hex fingerprint of the primary key.
    fn fingerprint(&self) -> String;
}
