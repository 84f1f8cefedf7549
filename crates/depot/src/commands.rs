//! The CLI verbs other than `serve`. Results go to stdout, one line per item;
//! progress and notes go to stderr.

use crate::config::Config;
use crate::target::{self, Added, Target};
use anyhow::{Context, Result, bail};
use depot_core::{DownloadMode, FileName, Format, Package, RepoName, RepoSettings, TokenScope};
use depot_http::handlers::repos::RepoView;
use depot_service::UploadOptions;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub async fn create(
    config: &Config,
    repo: &RepoName,
    description: Option<String>,
    private: bool,
    download: Option<DownloadMode>,
) -> Result<()> {
    let settings = RepoSettings {
        description: description.unwrap_or_default(),
        public: !private,
        download: download.unwrap_or_default(),
        ..RepoSettings::default()
    };
    let target = Target::open(config).await?;
    let created = target.create(repo, settings).await?;
    println!("created repository {}", created.name);
    Ok(())
}

pub async fn add(
    config: &Config,
    repo: &RepoName,
    files: &[PathBuf],
    distribution: Option<&str>,
    component: Option<&str>,
) -> Result<()> {
    let opts = UploadOptions {
        distribution: target::placement(distribution)?,
        component: target::placement(component)?,
    };
    let target = Target::open(config).await?;

    let progress = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}")
                .expect("valid template"),
        );
        bar
    });

    let mut results = target.add_all(repo, files, &opts);
    let mut failed = 0usize;
    while let Some((path, result)) = results.next().await {
        match (&progress, result) {
            (Some(bar), Ok(added)) => {
                bar.set_message(added.package.filename.to_string());
                bar.inc(1);
            }
            (None, Ok(added)) => println!("{}", added_line(&added)),
            (bar, Err(e)) => {
                failed += 1;
                let line = format!("error: {}: {e:#}", path.display());
                match bar {
                    Some(bar) => {
                        bar.println(line);
                        bar.inc(1);
                    }
                    None => eprintln!("{line}"),
                }
            }
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
        eprintln!(
            "added {} of {} files to {repo}",
            files.len() - failed,
            files.len()
        );
    }
    if failed < files.len() {
        target.finish(repo).await?;
    }
    if failed > 0 {
        bail!("{failed} of {} files could not be added", files.len());
    }
    Ok(())
}

fn added_line(added: &Added) -> String {
    let p = &added.package;
    let what = if added.created {
        "added"
    } else {
        "already present"
    };
    match p.format {
        Format::File => format!("{}: {what}", p.filename),
        _ => format!(
            "{}: {what} ({} {} {})",
            p.filename, p.name, p.version, p.arch
        ),
    }
}

pub async fn remove(config: &Config, repo: &RepoName, file: &FileName) -> Result<()> {
    Target::open(config).await?.remove(repo, file).await?;
    println!("removed {file} from {repo}");
    Ok(())
}

pub async fn delete(config: &Config, repo: &RepoName) -> Result<()> {
    Target::open(config).await?.delete(repo).await?;
    println!("deleted repository {repo}");
    Ok(())
}

pub async fn rebuild(config: &Config, repo: &RepoName) -> Result<()> {
    let report = Target::open(config).await?.rebuild(repo).await?;
    println!(
        "rebuilt {repo}: {} packages, revision {}",
        report.packages, report.revision.0
    );
    Ok(())
}

pub async fn list(config: &Config, repo: Option<&RepoName>, json: bool) -> Result<()> {
    let target = Target::open(config).await?;
    let mut out = std::io::stdout().lock();
    match repo {
        None => {
            let repos = target.list_repos().await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &repos)?;
                writeln!(out)?;
            } else {
                write_table(&mut out, &repo_rows(&repos))?;
            }
        }
        Some(repo) => {
            let packages = target.list_packages(repo).await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &packages)?;
                writeln!(out)?;
            } else {
                write_table(&mut out, &package_rows(&packages))?;
            }
        }
    }
    Ok(())
}

fn repo_rows(repos: &[RepoView]) -> Vec<Vec<String>> {
    let mut rows = vec![vec!["REPO".into(), "ACCESS".into(), "DESCRIPTION".into()]];
    rows.extend(repos.iter().map(|r| {
        vec![
            r.name.to_string(),
            if r.settings.public {
                "public"
            } else {
                "private"
            }
            .into(),
            r.settings.description.clone(),
        ]
    }));
    rows
}

fn package_rows(packages: &[Package]) -> Vec<Vec<String>> {
    let mut rows = vec![
        ["NAME", "VERSION", "ARCH", "PLACEMENTS", "FILE"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(packages.iter().map(|p| {
        let placements = p
            .placements
            .iter()
            .map(|pl| format!("{}/{}", pl.distribution, pl.component))
            .collect::<Vec<_>>()
            .join(",");
        let dash = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        vec![
            dash(&p.name),
            dash(&p.version),
            dash(&p.arch),
            dash(&placements),
            p.filename.to_string(),
        ]
    }));
    rows
}

/// Left-aligned columns separated by two spaces; the last column unpadded.
fn write_table(out: &mut impl Write, rows: &[Vec<String>]) -> std::io::Result<()> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

pub async fn token_create(
    config: &Config,
    name: &str,
    repo: Option<RepoName>,
    groups: &[String],
) -> Result<()> {
    for g in groups {
        depot_core::image::validate_group(g).map_err(|e| anyhow::anyhow!(e))?;
    }
    if config.server.is_some() {
        bail!(
            "tokens are managed on the data directory; run `depot token create` without --server"
        );
    }
    let depot = target::open_local(config).await?;
    let scope = match repo {
        Some(repo) => {
            depot.repo(&repo).await?;
            TokenScope::Repo { repo }
        }
        None => TokenScope::Admin,
    };
    let (record, secret) = depot.create_token(name, scope).await?;
    if !groups.is_empty() {
        depot.set_token_groups(record.id, groups).await?;
    }
    eprintln!(
        "created token '{}'; its secret is shown only this once:",
        record.name
    );
    println!("{secret}");
    Ok(())
}

/// `depot migrate`: applies the schema migrations the metadata database
/// lacks and says which (or that there were none).
pub async fn migrate(config: &Config) -> Result<()> {
    if config.server.is_some() {
        bail!("migrate works on the metadata database; run it without --server");
    }
    let report = depot_service::migrate(&config.data_dir, &config.stores)
        .await
        .context("migrating the metadata database")?;
    if report.applied.is_empty() {
        println!(
            "schema up to date ({} version {}); nothing applied",
            report.backend, report.version
        );
    }
    for m in &report.applied {
        println!("applied {m} ({})", report.backend);
    }
    if !report.applied.is_empty() {
        println!("schema at version {}", report.version);
    }
    Ok(())
}

/// `depot gc`: deletes unreferenced blobs older than `grace`.
pub async fn gc(config: &Config, grace: Duration, json: bool) -> Result<()> {
    if config.server.is_some() {
        bail!("gc works on the stores directly; run it without --server");
    }
    if grace < depot_core::blob::REFRESH_AFTER * 2 {
        eprintln!(
            "warning: a grace of {}s is short; blobs of uploads in flight on running servers \
             may be deleted (use at least 20m, better 1h, while servers run)",
            grace.as_secs()
        );
    }
    let depot = target::open_local(config).await?;
    let report = depot.gc(grace).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "deleted {} of {} blobs ({} of {} bytes); kept {} referenced, {} younger than {}s, {} reused meanwhile; pruned {} old publications",
            report.deleted,
            report.blobs,
            report.deleted_bytes,
            report.bytes,
            report.referenced,
            report.young,
            grace.as_secs(),
            report.refreshed,
            report.publications_pruned
        );
    }
    Ok(())
}

/// Writes the first admin token's secret for the operator: `0600` from the
/// moment the file exists (never world-readable, not even briefly).
pub fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["A".to_string(), "BB".to_string(), "C".to_string()],
            vec!["xxx".to_string(), "y".to_string(), "".to_string()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "A    BB  C\nxxx  y\n");
    }

    #[test]
    fn secret_file_is_private_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_secret_file(&path, "depot_abc").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "depot_abc\n");
    }
}
