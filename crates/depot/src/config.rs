//! The configuration of the `depot` binary.
//!
//! One TOML file < `DEPOT_*` environment variables < command-line flags
//! (DESIGN.md principle 12). Each source is read into a [`Layer`] of
//! optional values; [`Config::resolve`] stacks them over the defaults and
//! validates the result once, at start.
//!
//! | key | env | flag | default |
//! | --- | --- | --- | --- |
//! | `data_dir` | `DEPOT_DATA_DIR` | `--data-dir` | `./depot-data` |
//! | `listen` | `DEPOT_LISTEN` | `--listen` (serve) | `127.0.0.1:8080` |
//! | `max_upload_bytes` | `DEPOT_MAX_UPLOAD_BYTES` | `--max-upload-bytes` | 2 GiB |
//! | `key_algorithm` | `DEPOT_KEY_ALGORITHM` | `--key-algorithm` | `ed25519` (or `rsa4096`) |
//! | `log_format` | `DEPOT_LOG_FORMAT` | `--log-format` | `text` (or `json`) |
//! | `image_download` | `DEPOT_IMAGE_DOWNLOAD` | | `proxy` (or `redirect`: `307` to a presigned URL where the blob store can presign) |
//! | `server` | `DEPOT_SERVER` | `--server` | none: work on the data directory |
//! | `token` | `DEPOT_TOKEN` | `--token` | none |
//! | `meta` | `DEPOT_META` | `--meta` | `{data_dir}/depot.db` (SQLite); or `postgres://user@host/db` |
//! | `blobs` | `DEPOT_BLOBS` | `--blobs` | `{data_dir}` (local disk); or `s3://bucket/prefix` |
//! | `s3_endpoint` | `DEPOT_S3_ENDPOINT` | `--s3-endpoint` | AWS; or an S3-compatible server's URL |
//! | `s3_region` | `AWS_REGION` (read by the S3 client) | | `us-east-1` |
//! | `s3_access_key_id` | `AWS_ACCESS_KEY_ID` (read by the S3 client) | | the AWS credential chain |
//! | `s3_secret_access_key` | `AWS_SECRET_ACCESS_KEY` (read by the S3 client) | | the AWS credential chain |
//! | `s3_allow_http` | `AWS_ALLOW_HTTP` (read by the S3 client) | | `false` (loopback endpoints may always use http) |
//!
//! The file itself is named by `--config PATH` or `DEPOT_CONFIG`; without
//! either, no file is read. Unknown keys in the file are an error, so a typo
//! does not silently fall back to a default.
//!
//! The data directory stays in use with `meta` and `blobs` elsewhere:
//! uploads are staged in `{data_dir}/tmp` and the first admin token is
//! written there. Secrets (the token, a password in the `meta` URL, the S3
//! secret key) are redacted in `Debug` output and logs.

use anyhow::{Context, Result, bail};
use depot_sign::KeyAlgorithm;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A store URL that may carry a password (`postgres://user:pass@host/db`):
/// `Debug` shows it with the password replaced.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct StoreUrl(String);

impl StoreUrl {
    pub fn new(s: impl Into<String>) -> Self {
        StoreUrl(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", depot_service::redact_url(&self.0))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format {s:?} (expected text or json)")),
        }
    }
}

/// A [`depot_core::DownloadMode`] read from text: `proxy` or `redirect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadModeSetting(pub depot_core::DownloadMode);

impl FromStr for DownloadModeSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "proxy" => Ok(DownloadModeSetting(depot_core::DownloadMode::Proxy)),
            "redirect" => Ok(DownloadModeSetting(depot_core::DownloadMode::Redirect)),
            _ => Err(format!(
                "unknown download mode {s:?} (expected proxy or redirect)"
            )),
        }
    }
}

/// One source of settings; `None` means "not set here".
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub max_upload_bytes: Option<u64>,
    #[serde(default, deserialize_with = "de_from_str")]
    pub key_algorithm: Option<KeyAlgorithm>,
    pub log_format: Option<LogFormat>,
    #[serde(default, deserialize_with = "de_from_str")]
    pub image_download: Option<DownloadModeSetting>,
    pub server: Option<String>,
    pub token: Option<Secret>,
    pub meta: Option<StoreUrl>,
    pub blobs: Option<StoreUrl>,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    pub s3_allow_http: Option<bool>,
}

fn de_from_str<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse().map(Some).map_err(serde::de::Error::custom)
}

impl Layer {
    /// Parses a TOML configuration file's text.
    pub fn from_toml(text: &str) -> Result<Layer> {
        toml::from_str(text).map_err(|e| {
            // One line ("line 3: unknown field `x`, expected ..."), not
            // toml's multi-line snippet, so it fits the CLI's error line.
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            match line {
                Some(line) => anyhow::anyhow!("line {line}: {}", e.message().trim()),
                None => anyhow::anyhow!("{}", e.message().trim()),
            }
        })
    }

    /// Reads the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Layer> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Layer::from_toml(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// The `DEPOT_*` variables, read through `var` (`std::env::var` in the
    /// binary, a map in tests). Empty values count as unset.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        fn parse<T: FromStr>(name: &str, value: Option<String>) -> Result<Option<T>>
        where
            T::Err: fmt::Display,
        {
            value
                .map(|v| {
                    v.trim()
                        .parse::<T>()
                        .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}"))
                })
                .transpose()
        }
        Ok(Layer {
            data_dir: get("DEPOT_DATA_DIR").map(PathBuf::from),
            listen: parse("DEPOT_LISTEN", get("DEPOT_LISTEN"))?,
            max_upload_bytes: parse("DEPOT_MAX_UPLOAD_BYTES", get("DEPOT_MAX_UPLOAD_BYTES"))?,
            key_algorithm: parse("DEPOT_KEY_ALGORITHM", get("DEPOT_KEY_ALGORITHM"))?,
            log_format: parse("DEPOT_LOG_FORMAT", get("DEPOT_LOG_FORMAT"))?,
            image_download: parse("DEPOT_IMAGE_DOWNLOAD", get("DEPOT_IMAGE_DOWNLOAD"))?,
            server: get("DEPOT_SERVER"),
            token: get("DEPOT_TOKEN").map(Secret::new),
            meta: get("DEPOT_META").map(StoreUrl::new),
            blobs: get("DEPOT_BLOBS").map(StoreUrl::new),
            s3_endpoint: get("DEPOT_S3_ENDPOINT"),
            // The S3 client reads AWS_REGION, AWS_ACCESS_KEY_ID, ... itself.
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_allow_http: None,
        })
    }

    /// `self` with every value `higher` sets replaced by it.
    pub fn under(self, higher: Layer) -> Layer {
        Layer {
            data_dir: higher.data_dir.or(self.data_dir),
            listen: higher.listen.or(self.listen),
            max_upload_bytes: higher.max_upload_bytes.or(self.max_upload_bytes),
            key_algorithm: higher.key_algorithm.or(self.key_algorithm),
            log_format: higher.log_format.or(self.log_format),
            image_download: higher.image_download.or(self.image_download),
            server: higher.server.or(self.server),
            token: higher.token.or(self.token),
            meta: higher.meta.or(self.meta),
            blobs: higher.blobs.or(self.blobs),
            s3_endpoint: higher.s3_endpoint.or(self.s3_endpoint),
            s3_region: higher.s3_region.or(self.s3_region),
            s3_access_key_id: higher.s3_access_key_id.or(self.s3_access_key_id),
            s3_secret_access_key: higher.s3_secret_access_key.or(self.s3_secret_access_key),
            s3_allow_http: higher.s3_allow_http.or(self.s3_allow_http),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub max_upload_bytes: u64,
    pub key_algorithm: KeyAlgorithm,
    pub log_format: LogFormat,
    /// How image downloads are served (docs/images.md).
    pub image_download: depot_core::DownloadMode,
    /// Base URL of a depot server: the CLI works remotely when set.
    pub server: Option<String>,
    pub token: Option<Secret>,
    /// Where metadata and blobs live (unset: the data directory). Redacts
    /// its secrets in `Debug`.
    pub stores: depot_service::StoreUrls,
}

pub const DEFAULT_DATA_DIR: &str = "./depot-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl Config {
    /// Loads the file named by `flag_path` or `DEPOT_CONFIG`, then stacks
    /// file < env < flags.
    pub fn load(
        flag_path: Option<&Path>,
        var: impl Fn(&str) -> Option<String>,
        flags: Layer,
    ) -> Result<Config> {
        let path = flag_path.map(Path::to_path_buf).or_else(|| {
            var("DEPOT_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let file = match path {
            Some(path) => Layer::from_file(&path)?,
            None => Layer::default(),
        };
        let env = Layer::from_env(var)?;
        Config::resolve(file.under(env).under(flags))
    }

    /// Fills the defaults in and validates.
    pub fn resolve(layer: Layer) -> Result<Config> {
        let config = Config {
            data_dir: layer
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: layer
                .listen
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            max_upload_bytes: layer
                .max_upload_bytes
                .unwrap_or_else(|| depot_service::ServiceConfig::default().max_upload_bytes),
            key_algorithm: layer.key_algorithm.unwrap_or_default(),
            log_format: layer.log_format.unwrap_or_default(),
            image_download: layer.image_download.map(|d| d.0).unwrap_or_default(),
            server: layer.server.map(|s| s.trim().to_string()),
            token: layer.token,
            stores: depot_service::StoreUrls {
                meta: layer.meta.map(|u| u.expose().trim().to_string()),
                blobs: layer.blobs.map(|u| u.expose().trim().to_string()),
                s3: depot_service::S3Options {
                    endpoint: layer.s3_endpoint.map(|e| e.trim().to_string()),
                    region: layer.s3_region,
                    access_key_id: layer.s3_access_key_id,
                    secret_access_key: layer.s3_secret_access_key.map(|s| s.0),
                    session_token: None,
                    allow_http: layer.s3_allow_http.unwrap_or(false),
                },
            },
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.data_dir.as_os_str().is_empty() {
            bail!("data_dir must not be empty");
        }
        if self.max_upload_bytes == 0 {
            bail!("max_upload_bytes must be greater than 0");
        }
        if let Some(server) = &self.server {
            let url = reqwest::Url::parse(server)
                .with_context(|| format!("server {server:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                bail!("server {server:?} must be an http:// or https:// URL");
            }
        }
        if let Some(token) = &self.token
            && (token.expose().trim().is_empty() || token.expose().chars().any(char::is_control))
        {
            bail!("token must be non-empty printable text");
        }
        self.validate_stores()
    }

    /// The store URLs' shapes; whether they can be reached is found out when
    /// they are opened.
    fn validate_stores(&self) -> Result<()> {
        let stores = &self.stores;
        if let Some(meta) = &stores.meta {
            let scheme = meta.split_once("://").map(|(s, _)| s);
            let ok = meta.starts_with("sqlite:")
                || matches!(scheme, Some("postgres" | "postgresql"))
                || (scheme.is_none() && !meta.is_empty());
            if !ok {
                bail!(
                    "meta {:?} must be postgres://user@host/db, sqlite:///path/depot.db \
                     or a file path",
                    depot_service::redact_url(meta)
                );
            }
        }
        let s3_blobs = stores
            .blobs
            .as_deref()
            .is_some_and(|b| b.starts_with("s3://"));
        if let Some(blobs) = &stores.blobs {
            let scheme = blobs.split_once("://").map(|(s, _)| s);
            let ok = matches!(scheme, Some("s3" | "file"))
                || blobs == "memory:"
                || (scheme.is_none() && !blobs.is_empty());
            if !ok {
                bail!(
                    "blobs {blobs:?} must be s3://bucket/prefix, file:///dir, a directory \
                     or memory:"
                );
            }
        }
        if !s3_blobs {
            let s3 = &stores.s3;
            let set = [
                ("s3_endpoint", s3.endpoint.is_some()),
                ("s3_region", s3.region.is_some()),
                ("s3_access_key_id", s3.access_key_id.is_some()),
                ("s3_secret_access_key", s3.secret_access_key.is_some()),
            ];
            if let Some((name, _)) = set.iter().find(|(_, set)| *set) {
                bail!("{name} is set, but blobs is not an s3:// URL");
            }
        }
        if let Some(endpoint) = &stores.s3.endpoint {
            let url = reqwest::Url::parse(endpoint)
                .with_context(|| format!("s3_endpoint {endpoint:?} is not a URL"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                bail!("s3_endpoint {endpoint:?} must be an http:// or https:// URL");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = Config::load(None, env(&[]), Layer::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./depot-data"));
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.key_algorithm, KeyAlgorithm::Ed25519);
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.server.is_none() && c.token.is_none());
        assert!(c.max_upload_bytes > 0);
    }

    #[test]
    fn file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(
            &path,
            r#"
data_dir = "/from/file"
listen = "0.0.0.0:9000"
max_upload_bytes = 1000
key_algorithm = "rsa4096"
log_format = "json"
"#,
        )
        .unwrap();

        // The file alone.
        let c = Config::load(Some(&path), env(&[]), Layer::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(c.max_upload_bytes, 1000);
        assert_eq!(c.key_algorithm, KeyAlgorithm::Rsa4096);
        assert_eq!(c.log_format, LogFormat::Json);

        // The environment beats the file, key by key.
        let vars = env(&[
            ("DEPOT_DATA_DIR", "/from/env"),
            ("DEPOT_MAX_UPLOAD_BYTES", "2000"),
        ]);
        let c = Config::load(Some(&path), &vars, Layer::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/env"));
        assert_eq!(c.max_upload_bytes, 2000);
        assert_eq!(c.listen, "0.0.0.0:9000".parse().unwrap(), "file value kept");

        // Flags beat both.
        let flags = Layer {
            data_dir: Some("/from/flag".into()),
            ..Layer::default()
        };
        let c = Config::load(Some(&path), &vars, flags).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.max_upload_bytes, 2000, "env value kept");
    }

    #[test]
    fn depot_config_names_the_file_and_the_flag_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.toml");
        let b = dir.path().join("b.toml");
        std::fs::write(&a, "data_dir = \"/a\"\n").unwrap();
        std::fs::write(&b, "data_dir = \"/b\"\n").unwrap();
        let vars = env(&[("DEPOT_CONFIG", a.to_str().unwrap())]);
        let c = Config::load(None, &vars, Layer::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/a"));
        let c = Config::load(Some(&b), &vars, Layer::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/b"));
    }

    #[test]
    fn image_download_from_file_or_env() {
        let c =
            Config::resolve(Layer::from_toml("image_download = \"redirect\"\n").unwrap()).unwrap();
        assert_eq!(c.image_download, depot_core::DownloadMode::Redirect);
        let c = Config::load(
            None,
            env(&[("DEPOT_IMAGE_DOWNLOAD", "proxy")]),
            Layer::default(),
        )
        .unwrap();
        assert_eq!(c.image_download, depot_core::DownloadMode::Proxy);
        let err = Layer::from_toml("image_download = \"sideways\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("sideways"), "{err:#}");
    }

    #[test]
    fn bad_values_are_rejected_with_their_source() {
        let err =
            Config::load(None, env(&[("DEPOT_LISTEN", "nowhere")]), Layer::default()).unwrap_err();
        assert!(format!("{err:#}").contains("DEPOT_LISTEN"), "{err:#}");

        let err = Layer::from_toml("# depot\ndata_dri = \"/x\"\n").unwrap_err();
        let shown = format!("{err:#}");
        assert!(
            shown.starts_with("line 2: ") && shown.contains("data_dri"),
            "{shown}"
        );
        assert!(!shown.contains('\n'), "{shown}");

        let err = Layer::from_toml("key_algorithm = \"dsa\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("dsa"), "{err:#}");

        let err = Config::resolve(Layer {
            max_upload_bytes: Some(0),
            ..Layer::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("max_upload_bytes"));

        let err = Config::resolve(Layer {
            server: Some("ftp://example.org".into()),
            ..Layer::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("http"));

        let missing = Path::new("/nonexistent/depot.toml");
        let err = Config::load(Some(missing), env(&[]), Layer::default()).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/depot.toml"));
    }

    #[test]
    fn stores_default_to_the_data_directory() {
        let c = Config::load(None, env(&[]), Layer::default()).unwrap();
        assert!(c.stores.is_embedded());
        assert_eq!(
            c.stores.meta_url(Path::new("/d")),
            "sqlite:///d/depot.db",
            "{c:?}"
        );
    }

    #[test]
    fn stores_from_file_env_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("depot.toml");
        std::fs::write(
            &path,
            r#"
meta = "postgres://depot:filepass@db/depot"
blobs = "s3://bucket/from-file"
s3_endpoint = "http://127.0.0.1:9000"
s3_region = "eu-west-1"
s3_access_key_id = "AKIDFILE"
s3_secret_access_key = "filesecret"
s3_allow_http = true
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path), env(&[]), Layer::default()).unwrap();
        assert_eq!(
            c.stores.meta.as_deref(),
            Some("postgres://depot:filepass@db/depot")
        );
        assert_eq!(c.stores.blobs.as_deref(), Some("s3://bucket/from-file"));
        let s3 = &c.stores.s3;
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(s3.access_key_id.as_deref(), Some("AKIDFILE"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("filesecret"));
        assert!(s3.allow_http);

        // Secrets stay out of Debug output, of the Config and of each layer.
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("filepass") && !shown.contains("filesecret"),
            "{shown}"
        );
        assert!(shown.contains("postgres://depot:***@db/depot"), "{shown}");
        let layer = format!("{:?}", Layer::from_file(&path).unwrap());
        assert!(
            !layer.contains("filepass") && !layer.contains("filesecret"),
            "{layer}"
        );

        let vars = env(&[
            ("DEPOT_META", "/srv/depot/meta.db"),
            ("DEPOT_BLOBS", "s3://bucket/from-env"),
            ("DEPOT_S3_ENDPOINT", "https://minio.example.org"),
        ]);
        let c = Config::load(Some(&path), &vars, Layer::default()).unwrap();
        assert_eq!(c.stores.meta.as_deref(), Some("/srv/depot/meta.db"));
        assert_eq!(c.stores.blobs.as_deref(), Some("s3://bucket/from-env"));
        assert_eq!(
            c.stores.s3.endpoint.as_deref(),
            Some("https://minio.example.org")
        );
        assert_eq!(
            c.stores.s3.region.as_deref(),
            Some("eu-west-1"),
            "file kept"
        );

        let flags = Layer {
            meta: Some(StoreUrl::new("postgres://flag@db/depot")),
            blobs: Some(StoreUrl::new("s3://bucket/from-flag")),
            s3_endpoint: Some("http://localhost:9000".into()),
            ..Layer::default()
        };
        let c = Config::load(Some(&path), &vars, flags).unwrap();
        assert_eq!(c.stores.meta.as_deref(), Some("postgres://flag@db/depot"));
        assert_eq!(c.stores.blobs.as_deref(), Some("s3://bucket/from-flag"));
        assert_eq!(
            c.stores.s3.endpoint.as_deref(),
            Some("http://localhost:9000")
        );
    }

    #[test]
    fn bad_store_settings_are_rejected() {
        let bad = |layer: Layer| format!("{:#}", Config::resolve(layer).unwrap_err());
        let msg = bad(Layer {
            meta: Some(StoreUrl::new("mysql://u:pw@h/d")),
            ..Layer::default()
        });
        assert!(msg.contains("meta") && !msg.contains("pw"), "{msg}");
        let msg = bad(Layer {
            blobs: Some(StoreUrl::new("gs://bucket")),
            ..Layer::default()
        });
        assert!(msg.contains("blobs"), "{msg}");
        let msg = bad(Layer {
            s3_endpoint: Some("http://127.0.0.1:9000".into()),
            ..Layer::default()
        });
        assert!(
            msg.contains("s3_endpoint") && msg.contains("s3://"),
            "{msg}"
        );
        let msg = bad(Layer {
            blobs: Some(StoreUrl::new("s3://b/p")),
            s3_endpoint: Some("ftp://x".into()),
            ..Layer::default()
        });
        assert!(msg.contains("s3_endpoint"), "{msg}");
        let err = Layer::from_toml("s3_endpiont = \"x\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("s3_endpiont"));
    }

    #[test]
    fn tokens_are_redacted_in_debug_output() {
        let c = Config::resolve(Layer {
            token: Some(Secret::new("depot_supersecret")),
            ..Layer::default()
        })
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("redacted"));

        let file = Layer::from_toml("token = \"depot_fromfile\"\n").unwrap();
        assert!(!format!("{file:?}").contains("fromfile"));
        assert_eq!(file.token.unwrap().expose(), "depot_fromfile");
    }
}
