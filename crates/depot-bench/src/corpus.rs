//! The benchmark corpus: tiny but valid `.deb` files, identical for every tool.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// One package of the corpus.
#[derive(Debug, Clone)]
pub struct Deb {
    pub path: PathBuf,
    /// The `Package:` field, to look the package up in a Packages index.
    pub name: String,
}

/// Writes `n` packages named `{prefix}{i}` into `dir` (created) with
/// [`depot_testkit::write_deb_corpus`] and returns them in order.
pub fn write(dir: &Path, n: usize, prefix: &str) -> Result<Vec<Deb>> {
    let paths = depot_testkit::write_deb_corpus(dir, n, prefix)
        .with_context(|| format!("writing the corpus in {}", dir.display()))?;
    Ok(paths.into_iter().map(deb).collect())
}

fn deb(path: PathBuf) -> Deb {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = file.split('_').next().unwrap_or_default().to_string();
    Deb { path, name }
}

/// Reads every file once so all tools start with the same warm page cache.
pub fn warm(debs: &[Deb]) -> Result<u64> {
    let mut bytes = 0;
    for d in debs {
        bytes += std::fs::read(&d.path)?.len() as u64;
    }
    Ok(bytes)
}
