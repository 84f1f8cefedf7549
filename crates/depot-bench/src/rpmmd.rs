//! Reading published `repodata/` the way dnf does: `repomd.xml` -> the primary file it
//! names (checked against its checksum, and the uncompressed text against its
//! open-checksum) -> the package names listed. Used outside the timed regions only.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::apt::sha256_hex;

/// The `<data type="primary">` entry of a `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryRef {
    /// `location href`, relative to the repository root, e.g. `repodata/{sha}-primary.xml.gz`.
    pub href: String,
    /// SHA-256 of the file as stored (lowercase hex).
    pub checksum: String,
    /// SHA-256 of the uncompressed XML (lowercase hex).
    pub open_checksum: String,
}

/// The primary entry of `repomd.xml`; its checksums must be SHA-256.
pub fn primary_ref(repomd: &str) -> Result<PrimaryRef> {
    let doc = roxmltree::Document::parse(repomd).context("repomd.xml is not XML")?;
    let data = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("data") && n.attribute("type") == Some("primary"))
        .context("repomd.xml has no <data type=\"primary\">")?;
    let child = |tag: &str| data.children().find(|n| n.tag_name().name() == tag);
    let sha256 = |tag: &str| -> Result<String> {
        let n = child(tag).with_context(|| format!("primary has no <{tag}>"))?;
        if n.attribute("type") != Some("sha256") {
            bail!("primary <{tag}> is not sha256: {:?}", n.attribute("type"));
        }
        Ok(n.text().unwrap_or("").trim().to_ascii_lowercase())
    };
    let href = child("location")
        .and_then(|n| n.attribute("href"))
        .context("primary has no <location href>")?
        .to_string();
    Ok(PrimaryRef {
        href,
        checksum: sha256("checksum")?,
        open_checksum: sha256("open-checksum")?,
    })
}

/// Checks the primary file against `r`, decompresses it, and returns the package names it
/// lists and the number of `<package>` elements (which must equal `packages="N"`).
pub fn listed_packages(r: &PrimaryRef, bytes: &[u8]) -> Result<(HashSet<String>, usize)> {
    let digest = sha256_hex(bytes)?;
    if digest != r.checksum {
        bail!(
            "{} has SHA-256 {digest}, repomd.xml says {}",
            r.href,
            r.checksum
        );
    }
    let plain = if r.href.ends_with(".gz") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .with_context(|| format!("gunzip {}", r.href))?;
        out
    } else if r.href.ends_with(".xml") {
        bytes.to_vec()
    } else {
        bail!("{}: compression not supported by the bench", r.href);
    };
    let open = sha256_hex(&plain)?;
    if open != r.open_checksum {
        bail!(
            "{} uncompressed has SHA-256 {open}, repomd.xml's open-checksum is {}",
            r.href,
            r.open_checksum
        );
    }
    let text = String::from_utf8(plain).context("primary.xml is not UTF-8")?;
    let doc = roxmltree::Document::parse_with_options(
        &text,
        roxmltree::ParsingOptions {
            nodes_limit: u32::MAX,
            ..Default::default()
        },
    )
    .context("primary.xml is not XML")?;
    let root = doc.root_element();
    let declared: Option<usize> = root.attribute("packages").and_then(|s| s.parse().ok());
    let mut names = HashSet::new();
    let mut count = 0;
    for p in root.children().filter(|n| n.has_tag_name("package")) {
        count += 1;
        if let Some(name) = p
            .children()
            .find(|n| n.has_tag_name("name"))
            .and_then(|n| n.text())
        {
            names.insert(name.to_string());
        }
    }
    if declared != Some(count) {
        bail!("primary.xml says packages=\"{declared:?}\" but has {count} <package> elements");
    }
    Ok((names, count))
}

/// Reads a repository written on disk (createrepo_c) and returns what it lists.
pub fn listed_on_disk(repo_dir: &Path) -> Result<(HashSet<String>, usize)> {
    let repomd = std::fs::read_to_string(repo_dir.join("repodata/repomd.xml"))
        .with_context(|| format!("reading {}/repodata/repomd.xml", repo_dir.display()))?;
    let r = primary_ref(&repomd)?;
    let bytes =
        std::fs::read(repo_dir.join(&r.href)).with_context(|| format!("reading {}", r.href))?;
    listed_packages(&r, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PRIMARY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"2\">\n\
<package type=\"rpm\"><name>a</name><arch>x86_64</arch></package>\n\
<package type=\"rpm\"><name>b</name><arch>x86_64</arch></package>\n\
</metadata>\n";

    fn repomd(href: &str, checksum: &str, open: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n\
  <revision>1</revision>\n\
  <data type=\"filelists\"><checksum type=\"sha256\">00</checksum><location href=\"repodata/x-filelists.xml.gz\"/></data>\n\
  <data type=\"primary\">\n    <checksum type=\"sha256\">{checksum}</checksum>\n    \
<open-checksum type=\"sha256\">{open}</open-checksum>\n    <location href=\"{href}\"/>\n  </data>\n\
</repomd>\n"
        )
    }

    fn gz(members: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in members {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(m.as_bytes()).unwrap();
            out.extend(e.finish().unwrap());
        }
        out
    }

    #[test]
    fn follows_repomd_to_a_multi_member_primary() {
        let (head, rest) = PRIMARY.split_at(120);
        let bytes = gz(&[head, rest]);
        let sum = sha256_hex(&bytes).unwrap();
        let open = sha256_hex(PRIMARY.as_bytes()).unwrap();
        let md = repomd("repodata/p-primary.xml.gz", &sum.to_uppercase(), &open);
        let r = primary_ref(&md).unwrap();
        assert_eq!(r.href, "repodata/p-primary.xml.gz");
        assert_eq!(r.checksum, sum);
        let (names, n) = listed_packages(&r, &bytes).unwrap();
        assert_eq!(n, 2);
        assert!(names.contains("a") && names.contains("b"));
    }

    #[test]
    fn refuses_wrong_checksums_and_counts() {
        let bytes = gz(&[PRIMARY]);
        let sum = sha256_hex(&bytes).unwrap();
        let open = sha256_hex(PRIMARY.as_bytes()).unwrap();
        let bad = primary_ref(&repomd("repodata/p.xml.gz", "00", &open)).unwrap();
        assert!(listed_packages(&bad, &bytes).is_err());
        let bad_open = primary_ref(&repomd("repodata/p.xml.gz", &sum, "00")).unwrap();
        assert!(listed_packages(&bad_open, &bytes).is_err());
        let miscounted = PRIMARY.replace("packages=\"2\"", "packages=\"3\"");
        let bytes = gz(&[&miscounted]);
        let r = PrimaryRef {
            href: "repodata/p.xml.gz".into(),
            checksum: sha256_hex(&bytes).unwrap(),
            open_checksum: sha256_hex(miscounted.as_bytes()).unwrap(),
        };
        assert!(listed_packages(&r, &bytes).is_err());
        assert!(primary_ref("<repomd/>").is_err());
    }
}
