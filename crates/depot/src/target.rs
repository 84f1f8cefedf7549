//! Where the CLI's verbs run: directly on the data directory (the default;
//! safe while a server runs on it), or against a server's REST API
//! (`--server URL --token T`). Both give the same results and the same
//! errors, so the command code does not care which one it talks to.

use anyhow::{Context, Result, anyhow, bail};
use depot_core::{FileName, Package, PlacementName, RepoName, RepoSettings, Revision};
use depot_http::ErrorBody;
use depot_http::handlers::repos::RepoView;
use depot_service::{Depot, ServiceConfig, ServiceError, UploadOptions};
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::{StatusCode, Url, header};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokio_util::io::ReaderStream;

use crate::config::{Config, Secret};

/// One stored upload, as the CLI reports it.
#[derive(Debug, Clone)]
pub struct Added {
    pub package: Package,
    /// False when the identical file was already there.
    pub created: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Rebuilt {
    pub packages: usize,
    pub revision: Revision,
}

pub enum Target {
    Local(Depot),
    Remote(Remote),
}

impl Target {
    /// The remote API when a server is configured, else the data directory.
    pub async fn open(config: &Config) -> Result<Target> {
        match &config.server {
            Some(server) => Ok(Target::Remote(Remote::new(server, config.token.clone())?)),
            None => Ok(Target::Local(open_local_cli(config).await?)),
        }
    }

    /// The repo as the REST API shows it, from either target.
    pub async fn create(&self, repo: &RepoName, settings: RepoSettings) -> Result<RepoView> {
        match self {
            Target::Local(d) => Ok(d.create_repo(repo, settings).await?.into()),
            Target::Remote(r) => {
                let url = r.url(&["repos", repo.as_str(), ""]);
                r.send(r.http.post(url).json(&settings))
                    .await?
                    .json()
                    .await
                    .map_err(Into::into)
            }
        }
    }

    pub async fn delete(&self, repo: &RepoName) -> Result<()> {
        match self {
            Target::Local(d) => Ok(d.delete_repo(repo).await?),
            Target::Remote(r) => {
                r.send(r.http.delete(r.url(&["repos", repo.as_str(), ""])))
                    .await?;
                Ok(())
            }
        }
    }

    pub async fn rebuild(&self, repo: &RepoName) -> Result<Rebuilt> {
        match self {
            Target::Local(d) => {
                let report = d.rebuild(repo).await?;
                Ok(Rebuilt {
                    packages: report.packages,
                    revision: report.revision,
                })
            }
            Target::Remote(r) => {
                let url = r.url(&["repos", repo.as_str(), "rebuild"]);
                r.send(r.http.post(url))
                    .await?
                    .json()
                    .await
                    .map_err(Into::into)
            }
        }
    }

    /// The repos as the REST API shows them, from either target.
    pub async fn list_repos(&self) -> Result<Vec<RepoView>> {
        match self {
            Target::Local(d) => Ok(d.list_repos().await?.into_iter().map(Into::into).collect()),
            Target::Remote(r) => {
                let url = r.url(&["repos", ""]);
                r.send(r.http.get(url))
                    .await?
                    .json()
                    .await
                    .map_err(Into::into)
            }
        }
    }

    pub async fn list_packages(&self, repo: &RepoName) -> Result<Vec<Package>> {
        match self {
            Target::Local(d) => Ok(d.list_packages(repo).await?),
            Target::Remote(r) => {
                let url = r.url(&["repos", repo.as_str(), "packages", ""]);
                r.send(r.http.get(url))
                    .await?
                    .json()
                    .await
                    .map_err(Into::into)
            }
        }
    }

    /// Adds `files`, yielding each one's result in argument order.
    ///
    /// Against a server every upload is published when its result arrives.
    /// Locally, files are prepared (staged, inspected, stored) concurrently
    /// and recorded in batches, one transaction per batch, and
    /// [`Target::finish`] publishes them all at once, as
    /// `reprepro includedeb` does.
    pub fn add_all<'a>(
        &'a self,
        repo: &'a RepoName,
        files: &'a [PathBuf],
        opts: &'a UploadOptions,
    ) -> BoxStream<'a, (&'a PathBuf, Result<Added>)> {
        match self {
            // The service prepares files concurrently and records them in
            // batches (`Depot::import_files`); results come back in order.
            Target::Local(d) => {
                let d = d.clone();
                stream::once(async move {
                    let found = d.repo(repo).await;
                    (d, found)
                })
                .flat_map(move |(d, found)| match found {
                    Err(e) => {
                        let msg = e.to_string();
                        stream::iter(files)
                            .map(move |p| (p, Err(anyhow!("{msg}"))))
                            .boxed()
                    }
                    Ok(found) => {
                        let items = files
                            .iter()
                            .map(|p| {
                                upload_name(p)
                                    .map(|n| (n, p.clone()))
                                    .map_err(|e| ServiceError::Invalid(format!("{e:#}")))
                            })
                            .collect();
                        stream::iter(files)
                            .zip(d.import_files(found, items, opts.clone()))
                            .map(|(p, r)| {
                                (
                                    p,
                                    r.map(|o| Added {
                                        package: o.package,
                                        created: o.created,
                                    })
                                    .map_err(Into::into),
                                )
                            })
                            .boxed()
                    }
                })
                .boxed()
            }
            Target::Remote(r) => stream::iter(files)
                .map(move |path| async move { (path, r.upload(repo, path, opts).await) })
                .buffered(UPLOAD_CONCURRENCY)
                .boxed(),
        }
    }

    /// Publishes what [`Target::add_all`] recorded, once for the whole
    /// batch, like `reprepro includedeb`. `Packages.xz` is left to the
    /// server that serves the repository, which adds it in the background.
    /// A no-op against a server, which publishes each upload before
    /// answering it.
    pub async fn finish(&self, repo: &RepoName) -> Result<()> {
        match self {
            Target::Local(d) => Ok(d.publish(repo).await?),
            Target::Remote(_) => Ok(()),
        }
    }

    pub async fn remove(&self, repo: &RepoName, file: &FileName) -> Result<()> {
        match self {
            Target::Local(d) => Ok(d.remove(repo, file).await?),
            Target::Remote(r) => {
                let url = r.url(&["repos", repo.as_str(), "packages", file.as_str()]);
                r.send(r.http.delete(url)).await?;
                Ok(())
            }
        }
    }
}

/// Uploads in flight at once against a server.
const UPLOAD_CONCURRENCY: usize = 4;

/// Opens the service on the configured data directory, for the server.
pub async fn open_local(config: &Config) -> Result<Depot> {
    open_with(config, ServiceConfig::default()).await
}

/// Opens the service for one CLI verb: the process exits when the verb is
/// done, so it schedules no background work; the server that serves the
/// repository completes the slow index files (`Packages.xz`).
async fn open_local_cli(config: &Config) -> Result<Depot> {
    open_with(
        config,
        ServiceConfig {
            xz_delay: None,
            ..ServiceConfig::default()
        },
    )
    .await
}

async fn open_with(config: &Config, defaults: ServiceConfig) -> Result<Depot> {
    let service = ServiceConfig {
        max_upload_bytes: config.max_upload_bytes,
        key_algorithm: config.key_algorithm,
        image_download: config.image_download,
        ..defaults
    };
    if config.stores.is_embedded() {
        return Depot::open_data_dir(&config.data_dir, service)
            .await
            .with_context(|| format!("opening the data directory {}", config.data_dir.display()));
    }
    Depot::open_urls(&config.data_dir, &config.stores, service)
        .await
        .with_context(|| format!("opening the stores {:?}", config.stores))
}

/// The name a file is stored under: its own file name.
fn upload_name(path: &Path) -> Result<FileName> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{}: not a file name depot can store", path.display()))?;
    Ok(FileName::new(name)?)
}

/// Parses `--distribution` / `--component` values.
pub fn placement(value: Option<&str>) -> Result<Option<PlacementName>> {
    Ok(value.map(PlacementName::new).transpose()?)
}

/// A client of the REST API.
pub struct Remote {
    base: Url,
    token: Option<Secret>,
    pub(crate) http: reqwest::Client,
}

impl Remote {
    /// Uploads the file at `path` under its own file name, streaming it; the
    /// server publishes it before answering.
    async fn upload(&self, repo: &RepoName, path: &Path, opts: &UploadOptions) -> Result<Added> {
        let filename = upload_name(path)?;
        let file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let size = file.metadata().await?.len();
        let mut query = vec![("filename", filename.as_str())];
        if let Some(d) = &opts.distribution {
            query.push(("distribution", d.as_str()));
        }
        if let Some(c) = &opts.component {
            query.push(("component", c.as_str()));
        }
        let body = reqwest::Body::wrap_stream(ReaderStream::new(file));
        let request = self
            .http
            .post(self.url(&["repos", repo.as_str(), "packages", ""]))
            .query(&query)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size)
            .body(body);
        let response = self.send(request).await?;
        let created = response.status() == StatusCode::CREATED;
        Ok(Added {
            package: response.json().await?,
            created,
        })
    }

    pub fn new(server: &str, token: Option<Secret>) -> Result<Remote> {
        let mut base = Url::parse(server).with_context(|| format!("server URL {server:?}"))?;
        // Segments are appended to the base path, so `http://h/depot` works.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        // reqwest is built without a default TLS provider (no aws-lc here):
        // use ring, process-wide. A provider installed earlier stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("depot-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the HTTP client")?;
        Ok(Remote { base, token, http })
    }

    /// `base` plus percent-encoded `segments` (an empty last segment gives a
    /// trailing slash).
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("http URLs have a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// Sends with the token and turns error responses into errors carrying
    /// the server's message.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        let message = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => format!(
                "{} ({} {})",
                body.error.message,
                status.as_u16(),
                body.error.code
            ),
            Err(_) => format!("the server answered {status}"),
        };
        if status == StatusCode::UNAUTHORIZED {
            let hint = if self.token.is_some() {
                "the token was not accepted; check --token / DEPOT_TOKEN"
            } else {
                "pass a token with --token or DEPOT_TOKEN"
            };
            bail!("{message}; {hint}");
        }
        bail!("{message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path_and_encode_segments() {
        let r = Remote::new("http://h:1/depot", None).unwrap();
        assert_eq!(r.url(&["repos", ""]).as_str(), "http://h:1/depot/repos/");
        let r = Remote::new("http://h:1/", None).unwrap();
        assert_eq!(
            r.url(&["repos", "x", "packages", "a b#1.bin"]).as_str(),
            "http://h:1/repos/x/packages/a%20b%231.bin"
        );
    }

    #[test]
    fn upload_names_come_from_the_path() {
        assert_eq!(
            upload_name(Path::new("/tmp/x/hello_1.0_amd64.deb"))
                .unwrap()
                .as_str(),
            "hello_1.0_amd64.deb"
        );
        assert!(upload_name(Path::new("/tmp/.hidden")).is_err());
        assert!(upload_name(Path::new("/")).is_err());
    }
}
