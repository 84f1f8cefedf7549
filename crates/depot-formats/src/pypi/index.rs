//! The simple repository index pip reads, rendered from the files of a
//! repository: pure functions, sorted output, the same input always gives
//! the same bytes.
//!
//! ```text
//! simple/                        every project (PEP 503, 691)
//!   HTML  <a href="{project}/">{project}</a>
//!   JSON  {"meta": {"api-version": "1.1"}, "projects": [{"name": "{project}"}]}
//! simple/{project}/              every file of one project
//!   HTML  <a href="../../files/{file}#sha256={hex}" data-requires-python="&gt;=3.8"
//!            data-dist-info-metadata="sha256={hex}" data-core-metadata="sha256={hex}">{file}</a>
//!   JSON  {"meta": {"api-version": "1.1"}, "name": "{project}", "versions": [...],
//!          "files": [{"filename", "url", "hashes": {"sha256"}, "requires-python",
//!                     "core-metadata": {"sha256"}, "dist-info-metadata": {"sha256"}, "size"}]}
//! files/{file}                   the distribution
//! files/{file}.metadata          a wheel's METADATA, byte for byte (PEP 658)
//! ```
//!
//! `{project}` is the PEP 503 normalized name. Links are relative, so the
//! tree can be served under any prefix (`/repos/{repo}/pypi/`); pip joins
//! them with the page's URL. Attribute values and text are HTML-escaped
//! (`>=3.8` is written `&gt;=3.8`, as PEP 503 asks). The metadata hash
//! is given under both names: `data-core-metadata` / `core-metadata`
//! (PEP 714) and the older `data-dist-info-metadata` / `dist-info-metadata`
//! (PEP 658, read by pip 22.3 to 23.0). Sdists get no `.metadata`: their
//! `PKG-INFO` may leave fields to the build (Metadata-Version 2.2
//! `Dynamic`), and the JSON says `"core-metadata": false`.
//!
//! API version 1.1 (PEP 700) adds `versions` and each file's `size` to
//! the JSON; the HTML pages carry `<meta name="pypi:repository-version"
//! content="1.1">` (PEP 629). Both forms live at the same URL: the client
//! picks one with `Accept` ([`negotiate`]).

use super::{PypiInfo, Version};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The API version the pages declare.
pub const API_VERSION: &str = "1.1";

/// What the index needs to know about one file (the pre-rendered index
/// entry of a Python package).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    pub filename: String,
    /// The normalized project name.
    pub project: String,
    pub version: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_python: Option<String>,
    /// A wheel's METADATA (what `{file}.metadata` serves) and its SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_sha256: Option<String>,
}

impl IndexFile {
    /// The index entry of an inspected file, stored as `filename`.
    pub fn new(info: &PypiInfo, filename: &str, sha256: &str, size: u64) -> IndexFile {
        use sha2::Digest;
        let metadata = info
            .metadata
            .as_ref()
            .map(|m| String::from_utf8(m.clone()).expect("METADATA was checked to be UTF-8"));
        IndexFile {
            filename: filename.to_string(),
            project: info.project.clone(),
            version: info.version.clone(),
            sha256: sha256.to_ascii_lowercase(),
            size,
            requires_python: info.requires_python.clone(),
            metadata_sha256: metadata
                .as_ref()
                .map(|m| hex(&sha2::Sha256::digest(m.as_bytes()))),
            metadata,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The path of a file, relative to a project page.
pub fn file_url(filename: &str) -> String {
    format!("../../files/{}", url_escape(filename))
}

/// Percent-encodes what is not safe in a URL path segment.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!+".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// HTML-escapes text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// The distinct projects, sorted.
fn projects(files: &[IndexFile]) -> Vec<&str> {
    let mut p: Vec<&str> = files.iter().map(|f| f.project.as_str()).collect();
    p.sort_unstable();
    p.dedup();
    p
}

/// One project's files, oldest version first, then by file name.
fn files_of<'a>(files: &'a [IndexFile], project: &str) -> Vec<&'a IndexFile> {
    let mut out: Vec<&IndexFile> = files.iter().filter(|f| f.project == project).collect();
    out.sort_by(|a, b| {
        super::version::compare(&a.version, &b.version).then_with(|| a.filename.cmp(&b.filename))
    });
    out
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" \
         content=\"{API_VERSION}\">\n    <title>{title}</title>\n  </head>\n  <body>\n    \
         <h1>{title}</h1>\n{body}  </body>\n</html>\n",
        title = html_escape(title)
    )
}

/// The `simple/` page in HTML: one link per project.
pub fn root_html(files: &[IndexFile]) -> String {
    let body: String = projects(files)
        .iter()
        .map(|p| {
            let p = html_escape(p);
            format!("    <a href=\"{p}/\">{p}</a><br>\n")
        })
        .collect();
    html_page("Simple index", &body)
}

/// A project page in HTML: one link per file.
pub fn project_html(files: &[IndexFile], project: &str) -> String {
    let body: String = files_of(files, project)
        .iter()
        .map(|f| {
            let mut a = format!(
                "    <a href=\"{}#sha256={}\"",
                html_escape(&file_url(&f.filename)),
                html_escape(&f.sha256)
            );
            if let Some(rp) = &f.requires_python {
                a.push_str(&format!(" data-requires-python=\"{}\"", html_escape(rp)));
            }
            if let Some(m) = &f.metadata_sha256 {
                let m = html_escape(m);
                a.push_str(&format!(
                    " data-dist-info-metadata=\"sha256={m}\" data-core-metadata=\"sha256={m}\""
                ));
            }
            format!("{a}>{}</a><br>\n", html_escape(&f.filename))
        })
        .collect();
    html_page(&format!("Links for {project}"), &body)
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

#[derive(Serialize)]
struct RootJson<'a> {
    meta: Meta,
    projects: Vec<ProjectName<'a>>,
}

#[derive(Serialize)]
struct ProjectName<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct ProjectJson<'a> {
    meta: Meta,
    name: &'a str,
    versions: Vec<String>,
    files: Vec<FileJson<'a>>,
}

#[derive(Serialize)]
struct FileJson<'a> {
    filename: &'a str,
    url: String,
    hashes: BTreeMap<&'static str, &'a str>,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    #[serde(rename = "core-metadata")]
    core_metadata: serde_json::Value,
    #[serde(rename = "dist-info-metadata")]
    dist_info_metadata: serde_json::Value,
    size: u64,
}

/// The `simple/` page in JSON (`application/vnd.pypi.simple.v1+json`).
pub fn root_json(files: &[IndexFile]) -> String {
    let doc = RootJson {
        meta: Meta {
            api_version: API_VERSION,
        },
        projects: projects(files)
            .into_iter()
            .map(|name| ProjectName { name })
            .collect(),
    };
    serde_json::to_string(&doc).expect("the index serializes") + "\n"
}

/// A project page in JSON.
pub fn project_json(files: &[IndexFile], project: &str) -> String {
    let of = files_of(files, project);
    let mut versions: Vec<Version> = of
        .iter()
        .filter_map(|f| Version::parse(&f.version).ok())
        .collect();
    versions.sort();
    let mut versions: Vec<String> = versions.iter().map(Version::to_string).collect();
    versions.dedup();
    let doc = ProjectJson {
        meta: Meta {
            api_version: API_VERSION,
        },
        name: project,
        versions,
        files: of
            .iter()
            .map(|f| {
                let metadata = match &f.metadata_sha256 {
                    Some(h) => serde_json::json!({ "sha256": h }),
                    None => serde_json::Value::Bool(false),
                };
                FileJson {
                    filename: &f.filename,
                    url: file_url(&f.filename),
                    hashes: BTreeMap::from([("sha256", f.sha256.as_str())]),
                    requires_python: f.requires_python.as_deref(),
                    core_metadata: metadata.clone(),
                    dist_info_metadata: metadata,
                    size: f.size,
                }
            })
            .collect(),
    };
    serde_json::to_string(&doc).expect("the index serializes") + "\n"
}

/// Every page of the index, as `(path under simple/, bytes)`, sorted by
/// path: `index.html` and `index.json` for the root and for each project
/// (`{project}/index.html`, `{project}/index.json`). Which one a request
/// for `simple/` or `simple/{project}/` gets is [`negotiate`]'s choice.
pub fn render(files: &[IndexFile]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("index.html".to_string(), root_html(files).into_bytes()),
        ("index.json".to_string(), root_json(files).into_bytes()),
    ];
    for p in projects(files) {
        out.push((
            format!("{p}/index.html"),
            project_html(files, p).into_bytes(),
        ));
        out.push((
            format!("{p}/index.json"),
            project_json(files, p).into_bytes(),
        ));
    }
    out.sort();
    out
}

/// The forms a page is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// `application/vnd.pypi.simple.v1+json`
    Json,
    /// `application/vnd.pypi.simple.v1+html` (the same bytes as [`Representation::Html`])
    V1Html,
    /// `text/html`
    Html,
}

impl Representation {
    pub fn content_type(self) -> &'static str {
        match self {
            Representation::Json => "application/vnd.pypi.simple.v1+json",
            Representation::V1Html => "application/vnd.pypi.simple.v1+html",
            Representation::Html => "text/html; charset=utf-8",
        }
    }

    /// The page file this form is rendered in (see [`render`]).
    pub fn file_name(self) -> &'static str {
        match self {
            Representation::Json => "index.json",
            Representation::V1Html | Representation::Html => "index.html",
        }
    }
}

/// Picks the form of a page from an `Accept` header (PEP 691): the
/// highest `q` wins; on equal `q` a type named exactly beats a wildcard,
/// then `text/html` beats the v1 HTML type beats JSON (the form every
/// client reads). No header means `text/html`; `None` means nothing
/// acceptable was offered (answer 406). `latest` stands for `v1`.
pub fn negotiate(accept: Option<&str>) -> Option<Representation> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Representation::Html);
    };
    let offers = [
        (Representation::Html, "text", "html", 3),
        (
            Representation::V1Html,
            "application",
            "vnd.pypi.simple.v1+html",
            2,
        ),
        (
            Representation::Json,
            "application",
            "vnd.pypi.simple.v1+json",
            1,
        ),
    ];
    // For each offer: (q, specificity) of the most specific range that matches.
    let mut best: [Option<(u32, u8)>; 3] = [None; 3];
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let media = media.replace("vnd.pypi.simple.latest+", "vnd.pypi.simple.v1+");
        let Some((ty, sub)) = media.split_once('/') else {
            continue;
        };
        let mut q = 1000u32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = parse_q(v.trim()).unwrap_or(0);
            }
        }
        for (i, (_, oty, osub, _)) in offers.iter().enumerate() {
            let specificity = if ty == *oty && sub == *osub {
                2
            } else if ty == *oty && sub == "*" {
                1
            } else if ty == "*" && sub == "*" {
                0
            } else {
                continue;
            };
            if best[i].is_none_or(|(_, s)| specificity > s) {
                best[i] = Some((q, specificity));
            }
        }
    }
    offers
        .iter()
        .zip(best)
        .filter_map(|((rep, _, _, pref), b)| {
            b.filter(|(q, _)| *q > 0).map(|(q, s)| (q, s, *pref, *rep))
        })
        .max_by_key(|(q, s, pref, _)| (*q, *s, *pref))
        .map(|(_, _, _, rep)| rep)
}

/// A `q` value in thousandths (`0.5` is 500); `None` when malformed.
fn parse_q(v: &str) -> Option<u32> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u32 = match int {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let frac: u32 = format!("{frac:0<3}").parse().ok()?;
    let q = int * 1000 + frac;
    (q <= 1000).then_some(q)
}
