//! The tar members of a pacman sync database.
//!
//! A database (`{repo}.db`, a gzip'd tar) holds one directory per package,
//! `{name}-{version}/`, with its `desc` entry; the files database
//! (`{repo}.files`) holds the same plus a `files` entry in each directory.
//! repo-add builds them with `bsdtar -cf - *` from a directory tree;
//! [`entry`] writes the same members deterministically: ustar headers
//! (GNU long-name members for paths over 100 bytes), mode 0755 for the
//! directory and 0644 for files, owner 0:0 with no user or group names, and
//! the package's build date as every mtime. Each call's output is a whole
//! number of 512-byte blocks and holds no end-of-archive marker, so entries
//! can be concatenated (and compressed separately: libarchive reads
//! multi-member gzip) and the archive closed with [`END_OF_ARCHIVE`].

use crate::FormatError;
use std::collections::BTreeSet;

/// The two zero blocks that end a tar archive.
pub const END_OF_ARCHIVE: [u8; 1024] = [0; 1024];

/// The directory of a package in the database: `{name}-{version}` (pacman
/// checks that it agrees with `%NAME%` and `%VERSION%`).
pub fn entry_dir(name: &str, version: &str) -> String {
    format!("{name}-{version}")
}

/// The members of one package: `{dir}/`, `{dir}/desc` and, for the files
/// database, `{dir}/files`.
pub fn entry(dir: &str, mtime: u64, desc: &str, files: Option<&str>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::with_capacity(
        2048 + desc.len() + files.map_or(0, str::len),
    ));
    append(&mut b, &format!("{dir}/"), mtime, None);
    append(&mut b, &format!("{dir}/desc"), mtime, Some(desc.as_bytes()));
    if let Some(files) = files {
        append(
            &mut b,
            &format!("{dir}/files"),
            mtime,
            Some(files.as_bytes()),
        );
    }
    let mut out = b.into_inner().expect("writing to memory cannot fail");
    // into_inner closed the archive; entries are concatenated instead.
    out.truncate(out.len() - END_OF_ARCHIVE.len());
    out
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, mtime: u64, data: Option<&[u8]>) {
    let mut h = tar::Header::new_ustar();
    match data {
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
        }
        Some(d) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_size(d.len() as u64);
        }
    }
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    b.append_data(&mut h, path, data.unwrap_or_default())
        .expect("writing to memory cannot fail");
}

/// The package names a database tar lists (from its directory members:
/// `{name}-{pkgver}-{pkgrel}/`), for an incremental publisher that lost its
/// cache. Reads to the end-of-archive marker or the end of `tar`.
pub fn names(tar: &[u8]) -> Result<BTreeSet<String>, FormatError> {
    let corrupt = |e: std::io::Error| FormatError::Invalid(format!("database tar: {e}"));
    let mut out = BTreeSet::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(corrupt)? {
        let entry = entry.map_err(corrupt)?;
        let path = entry.path_bytes();
        let path = String::from_utf8_lossy(&path);
        let dir = path.split('/').next().unwrap_or_default();
        if let Some(name) = name_of_dir(dir) {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}

/// The regular files of a database tar with their contents, in archive
/// order (`{dir}/desc`, `{dir}/files`): for tests and tools that read a
/// published database back.
pub fn files(tar: &[u8]) -> Result<Vec<(String, Vec<u8>)>, FormatError> {
    use std::io::Read;
    let corrupt = |e: std::io::Error| FormatError::Invalid(format!("database tar: {e}"));
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(corrupt)?;
        out.push((path, data));
    }
    Ok(out)
}

/// `{name}-{pkgver}-{pkgrel}` → `name` (pkgver and pkgrel hold no `-`).
pub fn name_of_dir(dir: &str) -> Option<&str> {
    let (rest, _rel) = dir.rsplit_once('-')?;
    let (name, _ver) = rest.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_concatenate_into_a_readable_archive() {
        let long = "x".repeat(120);
        let mut all = entry("foo-1.0-1", 1_700_000_000, "%NAME%\nfoo\n\n", None);
        assert_eq!(all.len() % 512, 0);
        all.extend(entry(
            &format!("{long}-2:1.0-1"),
            0,
            "%NAME%\nlong\n\n",
            Some("%FILES%\nusr/\n"),
        ));
        all.extend_from_slice(&END_OF_ARCHIVE);
        let mut a = tar::Archive::new(&all[..]);
        let got: Vec<(String, u32, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.header().mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("foo-1.0-1/".to_string(), 0o755, 1_700_000_000),
                ("foo-1.0-1/desc".to_string(), 0o644, 1_700_000_000),
                (format!("{long}-2:1.0-1/"), 0o755, 0),
                (format!("{long}-2:1.0-1/desc"), 0o644, 0),
                (format!("{long}-2:1.0-1/files"), 0o644, 0),
            ]
        );
        assert_eq!(
            names(&all).unwrap().into_iter().collect::<Vec<_>>(),
            vec!["foo".to_string(), long]
        );
    }

    #[test]
    fn dir_names() {
        assert_eq!(name_of_dir("foo-1.0-1"), Some("foo"));
        assert_eq!(
            name_of_dir("lib32-foo-bar-1:2.0-3.1"),
            Some("lib32-foo-bar")
        );
        assert_eq!(name_of_dir("foo-1"), None);
    }
}
