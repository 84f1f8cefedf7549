//! The service's settings.

use depot_core::DownloadMode;
use depot_sign::KeyAlgorithm;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where uploads are staged. [`crate::Depot::open_data_dir`] sets `{dir}/tmp`.
    pub tmp_dir: PathBuf,
    /// Largest accepted upload.
    pub max_upload_bytes: u64,
    /// How long superseded publications stay readable (clients mid-update
    /// fetch by-hash files of the Release they already have).
    pub publication_grace: Duration,
    /// Algorithm of the server signing key generated on first start.
    pub key_algorithm: KeyAlgorithm,
    /// The package formats uploads are read as, each with its limits
    /// (every built-in format with default limits; replace one with
    /// `FormatRegistry::default().with(apk::Apk::new(limits))`).
    pub formats: depot_formats::FormatRegistry,
    /// Size of the RSA key generated the first time an Alpine or FreeBSD
    /// index is rendered (4096; tests use 2048, which is faster to make).
    pub rsa_key_bits: usize,
    /// `Origin:` of Release files.
    pub origin: String,
    /// How long a repo must be idle before `Packages.xz` is added in a
    /// background publication (`None`: only when [`crate::Depot::complete_indexes`]
    /// is called).
    pub xz_delay: Option<Duration>,
    /// How image downloads are served: streamed, or redirected to the blob
    /// store where it can presign (see [`crate::images`]).
    pub image_download: DownloadMode,
    /// Package records a rebuild reads from the MetaStore at once (1,024);
    /// the next page is read while one is re-read.
    pub rebuild_page: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            tmp_dir: std::env::temp_dir().join("depot"),
            max_upload_bytes: 2 << 30,
            publication_grace: Duration::from_secs(3600),
            key_algorithm: KeyAlgorithm::default(),
            formats: depot_formats::FormatRegistry::default(),
            rsa_key_bits: 4096,
            origin: "depot".to_string(),
            xz_delay: Some(Duration::from_secs(5)),
            image_download: DownloadMode::Proxy,
            rebuild_page: 1024,
        }
    }
}
