//! Reading a published apt tree the way a client does: InRelease -> Packages (checked by its
//! SHA-256) -> the package names listed. Used outside the timed regions only.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// One index file as the Release file lists it.
#[derive(Debug, Clone)]
pub struct IndexRef {
    /// Relative to `dists/DIST/`, e.g. `main/binary-amd64/Packages.gz`.
    pub path: String,
    pub sha256: String,
}

/// The Packages file of `main/binary-amd64` listed under `SHA256:` in a Release/InRelease
/// file, preferring the uncompressed one, then `.gz`, then `.xz`.
pub fn packages_ref(release: &str) -> Result<IndexRef> {
    let mut in_sha256 = false;
    let mut found: Vec<IndexRef> = Vec::new();
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line.trim_end() == "SHA256:";
            continue;
        }
        if !in_sha256 {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [hash, _size, path] = parts[..]
            && path.starts_with("main/binary-amd64/Packages")
        {
            found.push(IndexRef {
                path: path.to_string(),
                sha256: hash.to_ascii_lowercase(),
            });
        }
    }
    for suffix in ["Packages", "Packages.gz", "Packages.xz"] {
        if let Some(r) = found.iter().find(|r| r.path.ends_with(suffix)) {
            return Ok(r.clone());
        }
    }
    bail!("no SHA256 entry for main/binary-amd64/Packages in the Release file")
}

/// Checks `bytes` against `index.sha256`, decompresses it, and returns the set of package
/// names it lists and the number of stanzas.
pub fn listed_packages(index: &IndexRef, bytes: &[u8]) -> Result<(HashSet<String>, usize)> {
    let digest = sha256_hex(bytes)?;
    if digest != index.sha256 {
        bail!(
            "{} has SHA-256 {digest}, the Release file says {}",
            index.path,
            index.sha256
        );
    }
    let plain = if index.path.ends_with(".gz") {
        filter("gzip", &["-dc"], bytes)?
    } else if index.path.ends_with(".xz") {
        filter("xz", &["-dc"], bytes)?
    } else {
        bytes.to_vec()
    };
    let text = String::from_utf8(plain).context("Packages is not UTF-8")?;
    let mut names = HashSet::new();
    let mut stanzas = 0;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Package:") {
            stanzas += 1;
            names.insert(name.trim().to_string());
        }
    }
    Ok((names, stanzas))
}

/// Reads a tree published on disk (reprepro, aptly) and returns what it lists.
pub fn listed_on_disk(dists_dist: &Path) -> Result<(HashSet<String>, usize)> {
    let inrelease = std::fs::read_to_string(dists_dist.join("InRelease"))
        .with_context(|| format!("reading {}/InRelease", dists_dist.display()))?;
    let index = packages_ref(&inrelease)?;
    let bytes = std::fs::read(dists_dist.join(&index.path))?;
    listed_packages(&index, &bytes)
}

/// `gpgv` over InRelease and over Release + Release.gpg in `dir`.
pub fn verify_signatures(
    keyring: &Path,
    inrelease: &Path,
    release: Option<(&Path, &Path)>,
) -> Result<()> {
    gpgv(keyring, &[inrelease])?;
    if let Some((release, detached)) = release {
        gpgv(keyring, &[detached, release])?;
    }
    Ok(())
}

/// `gpgv --keyring KEYRING FILES...`: one clearsigned file, or a detached signature and its file.
pub fn gpgv(keyring: &Path, files: &[&Path]) -> Result<()> {
    let out = Command::new("gpgv")
        .arg("--keyring")
        .arg(keyring)
        .args(files)
        .stdin(Stdio::null())
        .output()
        .context("running gpgv")?;
    if !out.status.success() {
        bail!(
            "gpgv rejected {:?}: {}",
            files,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> Result<String> {
    let out = filter("sha256sum", &[], bytes)?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.split_whitespace().next().unwrap_or("").to_string())
}

fn filter(program: &str, args: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    writer.join().ok();
    if !out.status.success() {
        bail!("{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INRELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n\
Suite: stable\nMD5Sum:\n 0123 10 main/binary-amd64/Packages\nSHA256:\n \
AAAA 20 main/binary-amd64/Packages.gz\n bbbb 30 main/binary-amd64/Packages\n \
cccc 5 main/binary-amd64/Release\n-----BEGIN PGP SIGNATURE-----\n";

    #[test]
    fn prefers_uncompressed_packages_from_the_sha256_section() {
        let r = packages_ref(INRELEASE).unwrap();
        assert_eq!(r.path, "main/binary-amd64/Packages");
        assert_eq!(r.sha256, "bbbb");
        let gz_only = INRELEASE.replace(" bbbb 30 main/binary-amd64/Packages\n", "");
        let r = packages_ref(&gz_only).unwrap();
        assert_eq!(r.path, "main/binary-amd64/Packages.gz");
        assert_eq!(r.sha256, "aaaa");
        assert!(packages_ref("Suite: x\n").is_err());
    }

    #[test]
    fn lists_packages_and_checks_the_hash() {
        let body = b"Package: a\nVersion: 1\n\nPackage: b\nVersion: 1\n";
        let index = IndexRef {
            path: "main/binary-amd64/Packages".into(),
            sha256: sha256_hex(body).unwrap(),
        };
        let (names, n) = listed_packages(&index, body).unwrap();
        assert_eq!(n, 2);
        assert!(names.contains("a") && names.contains("b"));
        let wrong = IndexRef {
            sha256: "00".into(),
            ..index
        };
        assert!(listed_packages(&wrong, body).is_err());
    }
}
