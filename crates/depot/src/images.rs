//! `depot image list|show|upload|download|delete` (docs/images.md).
//!
//! Against a server (`--server URL --token T`) the verbs act as the token's
//! user. On the data directory they act as the admin user `admin` (the
//! name of the token created on first start): whoever can read the data
//! directory controls every image anyway.

use crate::config::Config;
use crate::target::Target;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use depot_core::{
    Image, ImageFormat, ImageId, ImageVersion, Timestamp, TokenId, TokenRecord, TokenScope,
    Visibility,
};
use depot_service::{ImageScope, ImageSpec};
use futures::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images you can see.
    List {
        /// mine, shared (with your groups), public, or all.
        #[arg(long, default_value = "all")]
        scope: String,
        #[arg(long)]
        json: bool,
    },
    /// Print an image's details and history as JSON.
    Show { id: String },
    /// Upload FILE as a new image, or as a new version of --replace ID.
    Upload {
        file: PathBuf,
        /// Name of the new image [default: the file name].
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// private, public or group:NAME.
        #[arg(long, default_value = "private")]
        visibility: String,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
        /// qcow2, raw, vmdk, iso or other, when the content has no known magic.
        #[arg(long)]
        format: Option<String>,
        /// Overwrite this image's file instead (a new version).
        #[arg(long, value_name = "ID")]
        replace: Option<String>,
    },
    /// Download an image's current file.
    Download {
        id: String,
        /// Where to write it [default: ./<image name>].
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Delete an image and its history.
    Delete { id: String },
}

fn local_user() -> TokenRecord {
    TokenRecord {
        id: TokenId(0),
        name: "admin".into(),
        scope: TokenScope::Admin,
        groups: Vec::new(),
        created_at: Timestamp(0),
    }
}

fn parse_id(s: &str) -> Result<ImageId> {
    ImageId::parse(s).ok_or_else(|| anyhow!("{s:?} is not an image UUID"))
}

pub async fn run(config: &Config, cmd: ImageCommand) -> Result<()> {
    let target = Target::open(config).await?;
    let me = local_user();
    let mut out = std::io::stdout().lock();
    match cmd {
        ImageCommand::List { scope, json } => {
            let images: Vec<Image> = match &target {
                Target::Local(d) => d.list_images(Some(&me), ImageScope::parse(&scope)?).await?,
                Target::Remote(r) => {
                    let url = r.url(&["images", ""]);
                    r.send(r.http.get(url).query(&[("scope", scope.as_str())]))
                        .await?
                        .json()
                        .await?
                }
            };
            if json {
                serde_json::to_writer_pretty(&mut out, &images)?;
                writeln!(out)?;
            } else {
                for i in &images {
                    writeln!(
                        out,
                        "{}  {:<8} {:>12}  v{:<3} {:<16} {:<12} {}",
                        i.id,
                        i.blob.format.as_str(),
                        i.blob.size,
                        i.version,
                        i.visibility,
                        i.owner,
                        i.name
                    )?;
                }
            }
        }
        ImageCommand::Show { id } => {
            let id = parse_id(&id)?;
            let (image, history): (Image, Vec<ImageVersion>) = match &target {
                Target::Local(d) => (
                    d.image(Some(&me), id).await?,
                    d.image_history(Some(&me), id).await?,
                ),
                Target::Remote(r) => {
                    let id = id.to_string();
                    let image = r
                        .send(r.http.get(r.url(&["images", &id])))
                        .await?
                        .json()
                        .await?;
                    let history = r
                        .send(r.http.get(r.url(&["images", &id, "history"])))
                        .await?
                        .json()
                        .await?;
                    (image, history)
                }
            };
            let mut value = serde_json::to_value(&image)?;
            value["history"] = serde_json::to_value(&history)?;
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        ImageCommand::Upload {
            file,
            name,
            description,
            visibility,
            metadata,
            format,
            replace,
        } => {
            let visibility = Visibility::parse(&visibility).map_err(|e| anyhow!(e))?;
            let metadata: serde_json::Value = match metadata {
                Some(m) => serde_json::from_str(&m).context("--metadata is not JSON")?,
                None => serde_json::json!({}),
            };
            let format = format
                .map(|f| {
                    ImageFormat::parse(&f).ok_or_else(|| anyhow!("unknown image format {f:?}"))
                })
                .transpose()?;
            let file_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{}: not a file name", file.display()))?;
            let image = match replace {
                Some(id) => {
                    let id = parse_id(&id)?;
                    overwrite(&target, &me, id, &file, &file_name, format).await?
                }
                None => {
                    let spec = ImageSpec {
                        name: name.unwrap_or_else(|| file_name.clone()),
                        description,
                        visibility,
                        metadata,
                        format,
                        filename: Some(file_name),
                    };
                    create(&target, &me, spec, &file).await?
                }
            };
            serde_json::to_writer_pretty(&mut out, &image)?;
            writeln!(out)?;
        }
        ImageCommand::Download { id, output } => {
            let id = parse_id(&id)?;
            download(&target, &me, id, output).await?;
        }
        ImageCommand::Delete { id } => {
            let id = parse_id(&id)?;
            match &target {
                Target::Local(d) => d.delete_image(Some(&me), id).await?,
                Target::Remote(r) => {
                    r.send(r.http.delete(r.url(&["images", &id.to_string()])))
                        .await?;
                }
            }
            eprintln!("deleted image {id}");
        }
    }
    Ok(())
}

async fn open(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))
}

async fn create(target: &Target, me: &TokenRecord, spec: ImageSpec, path: &Path) -> Result<Image> {
    let file = open(path).await?;
    match target {
        Target::Local(d) => Ok(d.create_image(Some(me), spec, file).await?),
        Target::Remote(r) => {
            let size = file.metadata().await?.len();
            let meta = serde_json::json!({
                "name": spec.name,
                "description": spec.description,
                "visibility": spec.visibility,
                "metadata": spec.metadata,
                "format": spec.format.map(ImageFormat::as_str),
            });
            let meta =
                reqwest::multipart::Part::text(meta.to_string()).mime_str("application/json")?;
            let body = reqwest::Body::wrap_stream(ReaderStream::new(file));
            let part = reqwest::multipart::Part::stream_with_length(body, size)
                .file_name(spec.filename.unwrap_or_default());
            let form = reqwest::multipart::Form::new()
                .part("meta", meta)
                .part("file", part);
            Ok(r.send(r.http.post(r.url(&["images", ""])).multipart(form))
                .await?
                .json()
                .await?)
        }
    }
}

async fn overwrite(
    target: &Target,
    me: &TokenRecord,
    id: ImageId,
    path: &Path,
    file_name: &str,
    format: Option<ImageFormat>,
) -> Result<Image> {
    let file = open(path).await?;
    match target {
        Target::Local(d) => Ok(d
            .overwrite_image(Some(me), id, None, format, Some(file_name), file)
            .await?),
        Target::Remote(r) => {
            let size = file.metadata().await?.len();
            let mut query = vec![("filename", file_name)];
            if let Some(f) = format {
                query.push(("format", f.as_str()));
            }
            let request = r
                .http
                .put(r.url(&["images", &id.to_string(), "file"]))
                .query(&query)
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(ReaderStream::new(file)));
            Ok(r.send(request).await?.json().await?)
        }
    }
}

async fn download(
    target: &Target,
    me: &TokenRecord,
    id: ImageId,
    output: Option<PathBuf>,
) -> Result<()> {
    let (name, mut stream) = match target {
        Target::Local(d) => {
            let image = d.image(Some(me), id).await?;
            let dl = d.download_image(Some(me), id, None).await?;
            if dl.redirect.is_some() {
                bail!("the blob store answered with a redirect; download through a server");
            }
            let stream = dl
                .stream
                .map(|r| r.map_err(|e| anyhow!("reading the blob: {e}")))
                .boxed();
            (image.name, stream)
        }
        Target::Remote(r) => {
            let image: Image = r
                .send(r.http.get(r.url(&["images", &id.to_string()])))
                .await?
                .json()
                .await?;
            let response = r
                .send(r.http.get(r.url(&["images", &id.to_string(), "file"])))
                .await?;
            let stream = response
                .bytes_stream()
                .map(|r| r.map_err(|e| anyhow!("downloading: {e}")))
                .boxed();
            (image.name, stream)
        }
    };
    let path = match output {
        Some(p) => p,
        None => {
            let safe: String = name
                .chars()
                .map(|c| if c == '/' || c.is_control() { '_' } else { c })
                .collect();
            PathBuf::from(if safe.starts_with('.') || safe.is_empty() {
                format!("image-{id}")
            } else {
                safe
            })
        }
    };
    let mut file = tokio::fs::File::create(&path)
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        written += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    eprintln!("wrote {written} bytes to {}", path.display());
    Ok(())
}
