//! The files of a `repodata/` directory, as createrepo_c 0.17 writes them.
//!
//! ```text
//! repodata/repomd.xml                   index: for each file below, its checksum and
//!                                       size compressed and uncompressed ("open"),
//!                                       its location and timestamp
//! repodata/<sha256>-primary.xml.gz      <metadata packages="N">  one <package> per rpm
//! repodata/<sha256>-filelists.xml.gz    <filelists packages="N"> one <package> per rpm
//! repodata/<sha256>-other.xml.gz        <otherdata packages="N"> one <package> per rpm
//! ```
//!
//! Each data file is `<kind>_header(N)`, then the N packages'
//! [`super::Fragments`] in the same order in all three files, then the
//! footer. Names carry the checksum of the compressed file, so a client
//! that fetched one `repomd.xml` never mixes in files of another
//! generation.

use super::xml::{push_attr, push_text};
use depot_core::Sha256;
use std::fmt::Write;

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Start of `primary.xml` for `count` packages.
pub fn primary_header(count: usize) -> String {
    format!(
        "{XML_DECL}<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{count}\">\n"
    )
}

/// End of `primary.xml` (createrepo_c writes no final newline).
pub const PRIMARY_FOOTER: &str = "</metadata>";

/// Start of `filelists.xml` for `count` packages.
pub fn filelists_header(count: usize) -> String {
    format!(
        "{XML_DECL}<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{count}\">\n"
    )
}

/// End of `filelists.xml`.
pub const FILELISTS_FOOTER: &str = "</filelists>";

/// Start of `other.xml` for `count` packages.
pub fn other_header(count: usize) -> String {
    format!(
        "{XML_DECL}<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{count}\">\n"
    )
}

/// End of `other.xml`.
pub const OTHER_FOOTER: &str = "</otherdata>";

/// One `<data>` record of `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdData {
    /// `primary`, `filelists` or `other`.
    pub kind: String,
    /// Relative to the repository's base URL:
    /// `repodata/<sha256>-primary.xml.gz`.
    pub href: String,
    /// Of the file as served (compressed).
    pub checksum: Sha256,
    pub size: u64,
    /// Of the uncompressed XML.
    pub open_checksum: Sha256,
    pub open_size: u64,
    /// Seconds since the epoch.
    pub timestamp: u64,
}

/// `repomd.xml` listing `data` in the order given.
pub fn repomd(revision: u64, data: &[RepomdData]) -> String {
    let mut out = String::with_capacity(300 + 450 * data.len());
    out.push_str(XML_DECL);
    out.push_str(
        "<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(out, "  <revision>{revision}</revision>");
    for d in data {
        out.push_str("  <data type=\"");
        push_attr(&mut out, &d.kind);
        out.push_str("\">\n");
        let _ = writeln!(
            out,
            "    <checksum type=\"sha256\">{}</checksum>",
            d.checksum
        );
        let _ = writeln!(
            out,
            "    <open-checksum type=\"sha256\">{}</open-checksum>",
            d.open_checksum
        );
        out.push_str("    <location href=\"");
        push_attr(&mut out, &d.href);
        out.push_str("\"/>\n");
        out.push_str("    <timestamp>");
        push_text(&mut out, &d.timestamp.to_string());
        out.push_str("</timestamp>\n");
        let _ = writeln!(out, "    <size>{}</size>", d.size);
        let _ = writeln!(out, "    <open-size>{}</open-size>", d.open_size);
        out.push_str("  </data>\n");
    }
    out.push_str("</repomd>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repomd_layout() {
        let d = RepomdData {
            kind: "primary".into(),
            href: "repodata/ab-primary.xml.gz".into(),
            checksum: Sha256([0xab; 32]),
            size: 10,
            open_checksum: Sha256([0xcd; 32]),
            open_size: 20,
            timestamp: 1_700_000_000,
        };
        let x = repomd(7, &[d]);
        let ab = "ab".repeat(32);
        let cd = "cd".repeat(32);
        let want = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">",
            "  <revision>7</revision>",
            "  <data type=\"primary\">",
            &format!("    <checksum type=\"sha256\">{ab}</checksum>"),
            &format!("    <open-checksum type=\"sha256\">{cd}</open-checksum>"),
            "    <location href=\"repodata/ab-primary.xml.gz\"/>",
            "    <timestamp>1700000000</timestamp>",
            "    <size>10</size>",
            "    <open-size>20</open-size>",
            "  </data>",
            "</repomd>",
            "",
        ]
        .join("\n");
        assert_eq!(x, want);
    }
}
