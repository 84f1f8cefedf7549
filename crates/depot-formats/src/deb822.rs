//! The deb822 control syntax (Debian policy §5.1) used by a .deb's
//! `control` file, apt's `Packages` and `Release` files.
//!
//! ```text
//! Package: hello                  <- field: name, ':', value
//! Description: short summary
//!  long text, continued           <- continuation: starts with space or tab
//!  .                              <- an empty line inside a value is " ."
//!                                 <- an empty line ends the stanza
//! Package: next-stanza
//! ```
//!
//! Field names are printable US-ASCII without space or `:` and do not start
//! with `-` or `#`; they compare case-insensitively. A value is the text
//! after the colon with surrounding whitespace removed, followed by its
//! continuation lines, each joined with `\n` and kept with its leading
//! whitespace (trailing whitespace is dropped on every line).
//!
//! [`parse_control`] is the strict reader for a package's own control file:
//! exactly one stanza, and a whitespace-only line is an error wherever it
//! sits, because in a `Packages` file it would end the stanza and let the
//! package inject stanzas of its own. [`parse_stanzas`] reads whole
//! `Packages`/`Release` files, where blank and whitespace-only lines
//! separate stanzas.

use std::fmt;

/// One stanza: `(name, value)` in file order.
pub type Stanza = Vec<(String, String)>;

/// A syntax error with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}
impl std::error::Error for ParseError {}

/// Checks a field name against policy §5.1; the error says why it is not
/// one.
pub fn check_field_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty field name".into());
    }
    if let Some(c) = name.chars().find(|c| !('!'..='~').contains(c) || *c == ':') {
        return Err(format!(
            "field name {name:?} contains {c:?} (only printable ASCII without space or ':' is allowed)"
        ));
    }
    if name.starts_with('-') || name.starts_with('#') {
        return Err(format!("field name {name:?} may not start with '-' or '#'"));
    }
    Ok(())
}

/// Strictly parses a package's control file: exactly one stanza, no
/// duplicate fields, no whitespace-only lines, no control characters other
/// than tab. Empty lines before the stanza and after it are allowed.
pub fn parse_control(text: &str) -> Result<Stanza, ParseError> {
    let mut stanzas = parse(text, true)?;
    match stanzas.len() {
        0 => Err(ParseError {
            line: 1,
            reason: "no fields".into(),
        }),
        1 => Ok(stanzas.remove(0)),
        // Not reached: strict parse() reports a second stanza itself.
        _ => Err(ParseError {
            line: 1,
            reason: "more than one stanza".into(),
        }),
    }
}

/// Parses a file of stanzas separated by blank (or whitespace-only) lines,
/// such as `Packages` or `Release`.
pub fn parse_stanzas(text: &str) -> Result<Vec<Stanza>, ParseError> {
    parse(text, false)
}

/// Looks a field up by name, case-insensitively.
pub fn field<'a>(stanza: &'a [(String, String)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse(text: &str, strict: bool) -> Result<Vec<Stanza>, ParseError> {
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut current: Stanza = Vec::new();
    // In strict mode: the line number of the blank line that ended the
    // (only) stanza, if any.
    let mut ended_at: Option<usize> = None;
    let body = text.strip_suffix('\n').unwrap_or(text);
    for (idx, line) in body.split('\n').enumerate() {
        let lineno = idx + 1;
        let err = |reason: String| ParseError {
            line: lineno,
            reason,
        };
        if let Some(c) = line.chars().find(|&c| c.is_control() && c != '\t') {
            return Err(err(format!(
                "control character {c:?} (only tab is allowed in a field)"
            )));
        }
        let blank = line.trim_matches([' ', '\t']).is_empty();
        if blank {
            if strict && !line.is_empty() {
                return Err(err(if current.is_empty() {
                    "whitespace-only line".into()
                } else {
                    "continuation line is empty or whitespace only; it would end the \
                     stanza (an empty line inside a value is written ' .')"
                        .into()
                }));
            }
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
                ended_at.get_or_insert(lineno);
            }
            continue;
        }
        if strict && let Some(at) = ended_at {
            return Err(err(format!(
                "a second stanza after the blank line {at}; a control file holds exactly one"
            )));
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.last_mut() else {
                return Err(err("continuation line before any field".into()));
            };
            value.push('\n');
            value.push_str(line.trim_end_matches([' ', '\t']));
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(err(format!("not a 'Field: value' line: {:?}", clip(line))));
        };
        check_field_name(name).map_err(err)?;
        if current.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
            return Err(err(format!("duplicate field {name:?}")));
        }
        current.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    Ok(stanzas)
}

/// At most 60 characters of `s`, for error messages.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Appends `name: value` in deb822 form so that it can only ever be one
/// field of one stanza, whatever `value` holds: the first line is trimmed,
/// every further line is indented by a space unless it already starts with
/// space or tab, empty or whitespace-only lines become ` .`, trailing
/// whitespace and control characters other than tab are dropped.
///
/// `name` must pass [`check_field_name`]; the caller checks.
pub(crate) fn push_field(out: &mut String, name: &str, value: &str) {
    let mut lines = value.split('\n');
    let first = strip_controls(lines.next().unwrap_or(""));
    let first = first.trim_matches([' ', '\t']);
    out.push_str(name);
    out.push(':');
    if !first.is_empty() {
        out.push(' ');
        out.push_str(first);
    }
    out.push('\n');
    for line in lines {
        let line = strip_controls(line);
        let line = line.trim_end_matches([' ', '\t']);
        if line.is_empty() {
            out.push_str(" .\n");
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            out.push(' ');
        }
        out.push_str(line);
        out.push('\n');
    }
}

fn strip_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(|c| c.is_control() && c != '\t') {
        s.chars()
            .filter(|&c| !c.is_control() || c == '\t')
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &Stanza) -> Vec<(&str, &str)> {
        s.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn control_values_keep_continuations() {
        let s = parse_control(
            "\nPackage: hello\nDescription:  short  \n long line \n .\n\tmore\nDepends:\n foo,\n bar\nX-Empty:\n\n",
        )
        .unwrap();
        assert_eq!(
            pairs(&s),
            [
                ("Package", "hello"),
                ("Description", "short\n long line\n .\n\tmore"),
                ("Depends", "\n foo,\n bar"),
                ("X-Empty", "")
            ]
        );
    }

    #[test]
    fn control_rejects_stanza_injection() {
        for (text, line, why) in [
            (
                "Package: a\nDescription: x\n \nPackage: evil\n",
                3,
                "whitespace only",
            ),
            ("Package: a\nDescription: x\n\t\n", 3, "whitespace only"),
            ("Package: a\n\nPackage: evil\n", 3, "second stanza"),
            ("Package: a\n\n\nVersion: 1\n", 4, "second stanza"),
            ("Package: a\nPackage: b\n", 2, "duplicate field"),
            ("Package: a\npackage: b\n", 2, "duplicate field"),
            (" Package: a\n", 1, "continuation line before any field"),
            (
                "Package: a\n#comment: x\n",
                2,
                "may not start with '-' or '#'",
            ),
            ("-Package: a\n", 1, "may not start"),
            ("Package a\n", 1, "not a 'Field: value' line"),
            ("Pack age: a\n", 1, "contains ' '"),
            ("Packäge: a\n", 1, "contains 'ä'"),
            (": a\n", 1, "empty field name"),
            ("Package: a\r\nVersion: 1\r\n", 1, "control character '\\r'"),
            ("Package: a\x1b[2J\n", 1, "control character"),
            (
                "Package: a\nDescription: x\n \x00\n",
                3,
                "control character",
            ),
            ("\n\n", 1, "no fields"),
            (" \n", 1, "whitespace-only line"),
        ] {
            let e = parse_control(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.reason.contains(why), "{text:?}: {e} lacks {why:?}");
        }
    }

    #[test]
    fn stanzas_split_on_blank_and_whitespace_lines() {
        let s = parse_stanzas("A: 1\n\nA: 2\n \t\nA: 3\n B\n\n\n").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(pairs(&s[2]), [("A", "3\n B")]);
        assert_eq!(field(&s[2], "a"), Some("3\n B"));
        assert!(parse_stanzas("").unwrap().is_empty());
    }

    #[test]
    fn push_field_cannot_inject() {
        let mut out = String::new();
        push_field(
            &mut out,
            "Description",
            "  x \n\nPackage: evil\n \n\r\nok line\n  indented",
        );
        assert_eq!(
            out,
            "Description: x\n .\n Package: evil\n .\n .\n ok line\n  indented\n"
        );
        let s = parse_stanzas(&out).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].len(), 1);
        let mut out = String::new();
        push_field(&mut out, "Depends", "\n a,\n b");
        assert_eq!(out, "Depends:\n a,\n b\n");
    }
}
