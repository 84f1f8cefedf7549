//! `depot`: the server (`depot serve`), the command-line client
//! (`depot create|add|remove|delete|rebuild|list|token|image`) and maintenance
//! (`depot migrate|gc`).
//!
//! The verbs work directly on the data directory by default, also while a
//! server runs on it, or against a server with `--server URL --token T`.
//! Exit status: 0 on success, 1 on an error (one `error: ...` line on
//! stderr), 2 on a usage error.

mod commands;
mod config;
mod images;
mod serve;
mod target;

use clap::{Parser, Subcommand};
use config::{Config, Layer, LogFormat, Secret, StoreUrl};
use depot_core::{DownloadMode, FileName, RepoName};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "depot", version, about = "A package repository server", long_about = None)]
struct Cli {
    /// TOML configuration file [env: DEPOT_CONFIG]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Data directory: SQLite database, blobs, admin.token [env: DEPOT_DATA_DIR] [default: ./depot-data]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Largest accepted upload in bytes [env: DEPOT_MAX_UPLOAD_BYTES]
    #[arg(long, global = true, value_name = "BYTES")]
    max_upload_bytes: Option<u64>,

    /// Algorithm of the signing key generated on first start: ed25519 or rsa4096 [env: DEPOT_KEY_ALGORITHM]
    #[arg(long, global = true, value_name = "ALGO")]
    key_algorithm: Option<depot_sign::KeyAlgorithm>,

    /// Log format [env: DEPOT_LOG_FORMAT]
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,

    /// Work against this depot server instead of the data directory [env: DEPOT_SERVER]
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,

    /// API token for --server [env: DEPOT_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Metadata database: postgres://user@host/db, or an SQLite file [env: DEPOT_META] [default: {data-dir}/depot.db]
    #[arg(long, global = true, value_name = "URL")]
    meta: Option<String>,

    /// Blob store: s3://bucket/prefix, or a directory [env: DEPOT_BLOBS] [default: {data-dir}]
    #[arg(long, global = true, value_name = "URL")]
    blobs: Option<String>,

    /// Endpoint of an S3-compatible server for s3:// blobs (MinIO, Ceph, ...) [env: DEPOT_S3_ENDPOINT] [default: AWS]
    #[arg(long, global = true, value_name = "URL")]
    s3_endpoint: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to listen on [env: DEPOT_LISTEN] [default: 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Create a repository.
    Create {
        repo: RepoName,
        /// Free-text description.
        #[arg(long)]
        description: Option<String>,
        /// Require a token to read the repository.
        #[arg(long)]
        private: bool,
        /// How package downloads are answered: `proxy` (depot sends the
        /// bytes) or `redirect` (307 to a presigned URL where the blob store
        /// can presign, as S3 can)
        #[arg(long, value_name = "MODE", value_parser = parse_download_mode)]
        download: Option<DownloadMode>,
    },
    /// Add package files to a repository.
    Add {
        repo: RepoName,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Debian distribution [default: the repository's, normally stable]
        #[arg(long)]
        distribution: Option<String>,
        /// Debian component [default: the repository's, normally main]
        #[arg(long)]
        component: Option<String>,
    },
    /// Remove a package (by file name) from a repository.
    Remove {
        repo: RepoName,
        #[arg(value_name = "PACKAGE")]
        package: FileName,
    },
    /// Delete a repository with its packages and metadata.
    Delete { repo: RepoName },
    /// Re-read every package of a repository and publish its metadata afresh.
    Rebuild { repo: RepoName },
    /// List repositories, or the packages of REPO.
    List {
        repo: Option<RepoName>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Manage API tokens (on the data directory).
    #[command(subcommand)]
    Token(TokenCommand),
    /// VM images and other artifacts with a UUID (docs/images.md).
    #[command(subcommand)]
    Image(images::ImageCommand),
    /// Bring the metadata database's schema up to date and report what was applied.
    Migrate,
    /// Delete blobs that no package and no stored publication references and
    /// that are older than the grace period; safe while servers run.
    Gc {
        /// How old an unreferenced blob must be before it is deleted: 90s, 30m, 2h, 1d
        #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration)]
        grace: std::time::Duration,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_download_mode(s: &str) -> Result<DownloadMode, String> {
    match s {
        "proxy" => Ok(DownloadMode::Proxy),
        "redirect" => Ok(DownloadMode::Redirect),
        _ => Err(format!("{s:?}: expected proxy or redirect")),
    }
}

/// `90s`, `30m`, `2h`, `1d`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with an optional unit s, m, h or d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    n.checked_mul(factor)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        name: String,
        /// Limit the token to reading and writing this repository (default: admin).
        #[arg(long)]
        repo: Option<RepoName>,
        /// A group the token's user is in (repeatable); images shared with
        /// `group:NAME` are visible to it.
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
    },
}

impl Cli {
    fn flags(&self) -> Layer {
        Layer {
            data_dir: self.data_dir.clone(),
            listen: match &self.command {
                Command::Serve { listen } => *listen,
                _ => None,
            },
            max_upload_bytes: self.max_upload_bytes,
            key_algorithm: self.key_algorithm,
            log_format: self.log_format,
            server: self.server.clone(),
            token: self.token.clone().map(Secret::new),
            meta: self.meta.clone().map(StoreUrl::new),
            blobs: self.blobs.clone().map(StoreUrl::new),
            s3_endpoint: self.s3_endpoint.clone(),
            ..Layer::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the context chain, joined by ": ".
            let message = format!("{e:#}");
            let message: Vec<&str> = message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("error: {}", message.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(
        cli.config.as_deref(),
        |k| std::env::var(k).ok(),
        cli.flags(),
    )?;
    let serving = matches!(cli.command, Command::Serve { .. });
    init_logging(config.log_format, if serving { "info" } else { "warn" });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve::run(&config).await,
            Command::Create {
                repo,
                description,
                private,
                download,
            } => commands::create(&config, &repo, description, private, download).await,
            Command::Add {
                repo,
                files,
                distribution,
                component,
            } => {
                commands::add(
                    &config,
                    &repo,
                    &files,
                    distribution.as_deref(),
                    component.as_deref(),
                )
                .await
            }
            Command::Remove { repo, package } => commands::remove(&config, &repo, &package).await,
            Command::Delete { repo } => commands::delete(&config, &repo).await,
            Command::Rebuild { repo } => commands::rebuild(&config, &repo).await,
            Command::List { repo, json } => commands::list(&config, repo.as_ref(), json).await,
            Command::Token(TokenCommand::Create { name, repo, groups }) => {
                commands::token_create(&config, &name, repo, &groups).await
            }
            Command::Image(cmd) => images::run(&config, cmd).await,
            Command::Migrate => commands::migrate(&config).await,
            Command::Gc { grace, json } => commands::gc(&config, grace, json).await,
        }
    })
}

/// Logs go to stderr; `RUST_LOG` overrides the default level.
fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_names_are_usage_errors() {
        let err = Cli::try_parse_from(["depot", "create", "../x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["depot", "remove", "r", "a/b.deb"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("30m"), Ok(1800));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("1d"), Ok(86_400));
        assert!(secs("1w").is_err());
        assert!(secs("h").is_err());
        assert!(secs("-1h").is_err());
        assert!(secs("99999999999999999999d").is_err());
    }

    #[test]
    fn store_flags() {
        let cli = Cli::try_parse_from([
            "depot",
            "gc",
            "--meta",
            "postgres://depot@db/depot",
            "--blobs",
            "s3://bucket/prefix",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
        ])
        .unwrap();
        let flags = cli.flags();
        assert_eq!(flags.meta.unwrap().expose(), "postgres://depot@db/depot");
        assert_eq!(flags.blobs.unwrap().expose(), "s3://bucket/prefix");
        assert_eq!(flags.s3_endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(matches!(
            cli.command,
            Command::Gc { grace, json: false } if grace.as_secs() == 3600
        ));
        let cli = Cli::try_parse_from(["depot", "create", "r", "--download", "redirect"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Create {
                download: Some(DownloadMode::Redirect),
                ..
            }
        ));
        let err = Cli::try_parse_from(["depot", "create", "r", "--download", "x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn flags_form_the_top_layer() {
        let cli = Cli::try_parse_from([
            "depot",
            "serve",
            "--listen",
            "127.0.0.1:1",
            "--data-dir",
            "/d",
            "--token",
            "t",
        ])
        .unwrap();
        let flags = cli.flags();
        assert_eq!(flags.listen, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(flags.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(flags.token.unwrap().expose(), "t");
    }
}
