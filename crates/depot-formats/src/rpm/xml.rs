//! The three `<package>` elements of one package, written as createrepo_c
//! 0.17 writes them (libxml2's `xmlNodeDump`, two-space indent), so that a
//! repodata file is their concatenation between a header and a footer
//! ([`super::repodata`]).
//!
//! ```text
//! primary.xml    <package type="rpm">  name, arch, version, checksum, summary,
//!                description, packager, url, time, size, location, format
//!                (rpm:license ... rpm:header-range, dependency lists, and the
//!                files under /etc/, named *bin/*, or /usr/lib/sendmail)
//! filelists.xml  <package pkgid name arch>  version, every file
//! other.xml      <package pkgid name arch>  version, changelog entries
//! ```
//!
//! Escaping is libxml2's: in text `&`, `<`, `>` and carriage return; in
//! attributes also `"`, newline and tab, and every non-ASCII character as a
//! hexadecimal character reference (`&#xE9;`).

use super::{Dependency, FileKind, RpmInfo, is_primary_file};
use depot_core::Sha256;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One package's entries in `primary.xml`, `filelists.xml` and
/// `other.xml`: each one complete `<package>` element ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fragments {
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

/// Appends `s` escaped for XML text content.
pub(crate) fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Appends `s` escaped for a double-quoted XML attribute value.
pub(crate) fn push_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if !c.is_ascii() => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `<{name}>{text}</{name}>` on its own line.
fn element(out: &mut String, indent: &str, name: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

/// ` {name}="{value}"`.
fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_attr(out, value);
    out.push('"');
}

fn version_element(out: &mut String, info: &RpmInfo) {
    out.push_str("  <version");
    attr(out, "epoch", &info.epoch.to_string());
    attr(out, "ver", &info.version);
    attr(out, "rel", &info.release);
    out.push_str("/>\n");
}

fn file_element(out: &mut String, indent: &str, path: &str, kind: FileKind) {
    out.push_str(indent);
    out.push_str("<file");
    match kind {
        FileKind::File => {}
        FileKind::Dir => attr(out, "type", "dir"),
        FileKind::Ghost => attr(out, "type", "ghost"),
    }
    out.push('>');
    push_text(out, path);
    out.push_str("</file>\n");
}

fn dep_list(out: &mut String, name: &str, deps: &[Dependency], requires: bool) {
    if deps.is_empty() {
        return;
    }
    let _ = writeln!(out, "    <rpm:{name}>");
    for d in deps {
        out.push_str("      <rpm:entry");
        attr(out, "name", &d.name);
        if let Some(flags) = d.flags {
            attr(out, "flags", flags.as_str());
            for (key, value) in [
                ("epoch", &d.epoch),
                ("ver", &d.version),
                ("rel", &d.release),
            ] {
                if !value.is_empty() {
                    attr(out, key, value);
                }
            }
        }
        if requires && d.pre {
            attr(out, "pre", "1");
        }
        out.push_str("/>\n");
    }
    let _ = writeln!(out, "    </rpm:{name}>");
}

/// The package's entries in the three repodata files. `location_href` is
/// the package's path relative to the repository's base URL, `size` and
/// `sha256` are the whole file's, `file_time` is what createrepo_c takes
/// from the file's mtime (depot passes the upload time).
pub fn fragments(
    info: &RpmInfo,
    location_href: &str,
    size: u64,
    sha256: &Sha256,
    file_time: u64,
) -> Fragments {
    let pkgid = sha256.hex();

    let mut p = String::with_capacity(1024 + info.description.len());
    p.push_str("<package type=\"rpm\">\n");
    element(&mut p, "  ", "name", &info.name);
    element(&mut p, "  ", "arch", &info.arch);
    version_element(&mut p, info);
    let _ = writeln!(
        p,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{pkgid}</checksum>"
    );
    element(&mut p, "  ", "summary", &info.summary);
    element(&mut p, "  ", "description", &info.description);
    element(&mut p, "  ", "packager", &info.packager);
    element(&mut p, "  ", "url", &info.url);
    let _ = writeln!(
        p,
        "  <time file=\"{file_time}\" build=\"{}\"/>",
        info.build_time
    );
    let _ = writeln!(
        p,
        "  <size package=\"{size}\" installed=\"{}\" archive=\"{}\"/>",
        info.installed_size, info.archive_size
    );
    p.push_str("  <location");
    attr(&mut p, "href", location_href);
    p.push_str("/>\n");
    p.push_str("  <format>\n");
    element(&mut p, "    ", "rpm:license", &info.license);
    element(&mut p, "    ", "rpm:vendor", &info.vendor);
    element(&mut p, "    ", "rpm:group", &info.group);
    element(&mut p, "    ", "rpm:buildhost", &info.buildhost);
    element(&mut p, "    ", "rpm:sourcerpm", &info.sourcerpm);
    let _ = writeln!(
        p,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        info.header_start, info.header_end
    );
    dep_list(&mut p, "provides", &info.provides, false);
    dep_list(&mut p, "requires", &info.requires, true);
    dep_list(&mut p, "conflicts", &info.conflicts, false);
    dep_list(&mut p, "obsoletes", &info.obsoletes, false);
    dep_list(&mut p, "suggests", &info.suggests, false);
    dep_list(&mut p, "enhances", &info.enhances, false);
    dep_list(&mut p, "recommends", &info.recommends, false);
    dep_list(&mut p, "supplements", &info.supplements, false);
    for f in info.files.iter().filter(|f| is_primary_file(&f.path)) {
        file_element(&mut p, "    ", &f.path, f.kind);
    }
    p.push_str("  </format>\n</package>\n");

    let head = |out: &mut String| {
        out.push_str("<package");
        attr(out, "pkgid", &pkgid);
        attr(out, "name", &info.name);
        attr(out, "arch", &info.arch);
        out.push_str(">\n");
        version_element(out, info);
    };

    let mut f =
        String::with_capacity(200 + info.files.iter().map(|f| f.path.len() + 30).sum::<usize>());
    head(&mut f);
    for file in &info.files {
        file_element(&mut f, "  ", &file.path, file.kind);
    }
    f.push_str("</package>\n");

    let mut o = String::with_capacity(
        200 + info
            .changelogs
            .iter()
            .map(|c| c.author.len() + c.text.len() + 60)
            .sum::<usize>(),
    );
    head(&mut o);
    for c in &info.changelogs {
        o.push_str("  <changelog");
        attr(&mut o, "author", &c.author);
        attr(&mut o, "date", &c.date.to_string());
        o.push('>');
        push_text(&mut o, &c.text);
        o.push_str("</changelog>\n");
    }
    o.push_str("</package>\n");

    Fragments {
        primary: p,
        filelists: f,
        other: o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_follows_libxml2() {
        let mut t = String::new();
        push_text(&mut t, "a&b<c>d\"e'f\tg\nh\ri é");
        assert_eq!(t, "a&amp;b&lt;c&gt;d\"e'f\tg\nh&#13;i é");
        let mut a = String::new();
        push_attr(&mut a, "a&b<c>d\"e'f\tg\nh\ri é€");
        assert_eq!(
            a,
            "a&amp;b&lt;c&gt;d&quot;e'f&#9;g&#10;h&#13;i &#xE9;&#x20AC;"
        );
    }
}
