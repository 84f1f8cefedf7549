//! The benchmark corpora: tiny but valid `.deb`, `.rpm` and pacman files, identical for every
//! tool.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One package file of a corpus.
#[derive(Debug, Clone)]
pub struct Pkg {
    pub path: PathBuf,
    /// The package name (`Package:` of a .deb, `<name>` of an rpm), to look it up in an index.
    pub name: String,
}

/// Writes `n` .debs named `{prefix}{i}` into `dir` (created) with
/// [`depot_testkit::write_deb_corpus`] and returns them in order.
pub fn write(dir: &Path, n: usize, prefix: &str) -> Result<Vec<Pkg>> {
    let paths = depot_testkit::write_deb_corpus(dir, n, prefix)
        .with_context(|| format!("writing the corpus in {}", dir.display()))?;
    Ok(paths.into_iter().map(deb).collect())
}

fn deb(path: PathBuf) -> Pkg {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = file.split('_').next().unwrap_or_default().to_string();
    Pkg { path, name }
}

/// Writes `n` .rpms named `{prefix}{i}` (one small file each) into `dir` (created) with
/// [`depot_testkit::write_rpm_corpus`] and returns them in order.
pub fn write_rpms(dir: &Path, n: usize, prefix: &str) -> Result<Vec<Pkg>> {
    let paths = depot_testkit::write_rpm_corpus(dir, n, prefix)
        .with_context(|| format!("writing the rpm corpus in {}", dir.display()))?;
    Ok(paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| Pkg {
            path,
            name: format!("{prefix}{i}"),
        })
        .collect())
}

/// Writes `n` pacman packages named `{prefix}{i}` (one README each) into `dir` (created)
/// with [`depot_testkit::write_pacman_corpus`] and returns them in order.
pub fn write_pacman(dir: &Path, n: usize, prefix: &str) -> Result<Vec<Pkg>> {
    let paths = depot_testkit::write_pacman_corpus(dir, n, prefix)
        .with_context(|| format!("writing the pacman corpus in {}", dir.display()))?;
    Ok(paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| Pkg {
            path,
            name: format!("{prefix}{i}"),
        })
        .collect())
}

/// Reads every file once so all tools start with the same warm page cache.
pub fn warm(pkgs: &[Pkg]) -> Result<u64> {
    let mut bytes = 0;
    for d in pkgs {
        bytes += std::fs::read(&d.path)?.len() as u64;
    }
    Ok(bytes)
}
