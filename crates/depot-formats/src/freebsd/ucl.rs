//! A small, bounded reader for the part of UCL (libucl's configuration
//! syntax) that a `+MANIFEST` is written in when pkg emits it as UCL
//! rather than compact JSON, turned into the JSON value pkg's own parser
//! would see.
//!
//! # What is read
//!
//! ```text
//! name = "hello";                 key = value, key: value or key value;
//! flatsize: 13                    the `;` or `,` after a value is optional
//! "quoted key" = 'single quoted'  "..." with \n \t \r \b \f \\ \" \/ \uXXXX escapes,
//!                                 '...' with \' only
//! abi = FreeBSD:14:amd64;         bare words: numbers (`13`, `-2`, `1.5e3`) become
//!                                 numbers, true/false/yes/no/on/off booleans, null
//!                                 null, anything else a string
//! desc = <<EOD                    a heredoc: from the next line up to a line that
//! Two lines                       starts with the terminator (capital letters) and
//! of text.                        a newline, `;` or `,` (libucl's emitter writes
//! EOD;                            `EOD;`), without the newline before it
//! deps { gettext { origin = "devel/gettext"; } }   objects, nested
//! licenses [ "BSD2CLAUSE", "MIT" ]                 arrays, `,` between elements
//! categories = "a"; categories = "b";  a repeated key makes an array ["a", "b"]
//! # comment   // comment   /* comment, nested */
//! ```
//!
//! The whole document is one object, with or without braces around it.
//! Not read (and refused): macros (`.include`), variables (`$VAR` is
//! text), number suffixes (`10k`, `5min` are text), `key "name" { }`
//! section syntax. Input is bounded by the caller (the manifest member's
//! size limit); nesting stops at [`MAX_DEPTH`].

use serde_json::{Map, Number, Value};

/// Objects and arrays nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

/// Parses a UCL document into a JSON object; the error names the line.
pub fn parse(input: &[u8]) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(input).map_err(|e| {
        format!(
            "not UTF-8 (byte {} is not part of a UTF-8 character)",
            e.valid_up_to()
        )
    })?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
        depth: 0,
    };
    p.skip_space()?;
    let braced = p.peek() == Some(b'{');
    if braced {
        p.pos += 1;
    }
    let obj = p.object_body(braced)?;
    if braced {
        p.skip_space()?;
        if p.peek() == Some(b';') || p.peek() == Some(b',') {
            p.pos += 1;
        }
    }
    p.skip_space()?;
    if p.pos < p.s.len() {
        return Err(p.error("unexpected text after the end of the document"));
    }
    Ok(obj)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
    depth: usize,
}

/// Characters that end a bare word.
fn ends_word(b: u8) -> bool {
    b.is_ascii_whitespace() || b";,{}[]\"'#=".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.s.get(self.pos + i).copied()
    }

    fn line(&self) -> usize {
        1 + self.s[..self.pos.min(self.s.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn error(&self, what: &str) -> String {
        format!("line {}: {what}", self.line())
    }

    /// Skips white space and comments.
    fn skip_space(&mut self) -> Result<(), String> {
        loop {
            match (self.peek(), self.at(1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.pos += 1,
                (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.pos += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.line();
                    self.pos += 2;
                    let mut open = 1usize;
                    while open > 0 {
                        match (self.peek(), self.at(1)) {
                            (None, _) => {
                                return Err(format!("line {start}: a /* comment is never closed"));
                            }
                            (Some(b'*'), Some(b'/')) => {
                                open -= 1;
                                self.pos += 2;
                            }
                            (Some(b'/'), Some(b'*')) => {
                                open += 1;
                                self.pos += 2;
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!(
                "objects and arrays are nested more than {MAX_DEPTH} deep"
            )));
        }
        Ok(())
    }

    /// The pairs of an object, up to its `}` (consumed) or, at the top
    /// without braces, the end of the input.
    fn object_body(&mut self, braced: bool) -> Result<Map<String, Value>, String> {
        self.enter()?;
        // Values by key, in first-seen order; a key seen twice becomes an
        // array (libucl's implicit array).
        let mut pairs: Vec<(String, Vec<Value>)> = Vec::new();
        loop {
            self.skip_space()?;
            match self.peek() {
                None if braced => return Err(self.error("an object is never closed with '}'")),
                None => break,
                Some(b'}') if braced => {
                    self.pos += 1;
                    break;
                }
                Some(b'}') => return Err(self.error("'}' without a matching '{'")),
                _ => {}
            }
            let key = self.key()?;
            self.skip_space()?;
            if matches!(self.peek(), Some(b'=') | Some(b':')) {
                self.pos += 1;
                self.skip_space()?;
            }
            let value = self.value(&key)?;
            self.skip_space()?;
            if matches!(self.peek(), Some(b';') | Some(b',')) {
                self.pos += 1;
            }
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => pairs.push((key, vec![value])),
            }
        }
        self.depth -= 1;
        let mut map = Map::new();
        for (k, mut values) in pairs {
            let v = if values.len() == 1 {
                values.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(values)
            };
            map.insert(k, v);
        }
        Ok(map)
    }

    fn key(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(b'"') => self.double_quoted(),
            Some(b'\'') => self.single_quoted(),
            Some(b) if !ends_word(b) && b != b':' => {
                let start = self.pos;
                while matches!(self.peek(), Some(b) if !ends_word(b) && b != b':') {
                    self.pos += 1;
                }
                Ok(self.text[start..self.pos].to_string())
            }
            Some(b) => Err(self.error(&format!("expected a key, found {:?}", char::from(b)))),
            None => Err(self.error("expected a key, found the end of the input")),
        }
    }

    fn value(&mut self, key: &str) -> Result<Value, String> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                Ok(Value::Object(self.object_body(true)?))
            }
            Some(b'[') => {
                self.pos += 1;
                self.array()
            }
            Some(b'"') => Ok(Value::String(self.double_quoted()?)),
            Some(b'\'') => Ok(Value::String(self.single_quoted()?)),
            Some(b'<') if self.at(1) == Some(b'<') => Ok(Value::String(self.heredoc()?)),
            Some(b) if !ends_word(b) => Ok(self.bare()),
            Some(b) => Err(self.error(&format!(
                "'{}' has no value (found {:?})",
                crate::deb822::clip(key),
                char::from(b)
            ))),
            None => Err(self.error(&format!(
                "'{}' has no value (the input ends)",
                crate::deb822::clip(key)
            ))),
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.skip_space()?;
            match self.peek() {
                None => return Err(self.error("an array is never closed with ']'")),
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
            items.push(self.value("array element")?);
            self.skip_space()?;
            match self.peek() {
                Some(b',') | Some(b';') => self.pos += 1,
                Some(b']') => {}
                None => return Err(self.error("an array is never closed with ']'")),
                Some(b) => {
                    return Err(self.error(&format!(
                        "expected ',' or ']' in an array, found {:?}",
                        char::from(b)
                    )));
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let start_line = self.line();
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(format!("line {start_line}: a string is never closed"));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let e = self.at(1);
                    self.pos += 2;
                    match e {
                        Some(b'n') => out.push('\n'),
                        Some(b't') => out.push('\t'),
                        Some(b'r') => out.push('\r'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'"') => out.push('"'),
                        Some(b'/') => out.push('/'),
                        Some(b'u') => out.push(self.unicode_escape()?),
                        Some(_) => {
                            return Err(self.error(&format!(
                                "unknown escape '\\{}' in a string",
                                char::from(e.unwrap_or(b'?'))
                            )));
                        }
                        None => return Err(format!("line {start_line}: a string is never closed")),
                    }
                }
                _ => {
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c != b'"' && c != b'\\') {
                        self.pos += 1;
                    }
                    out.push_str(&self.text[start..self.pos]);
                }
            }
        }
    }

    /// The four hex digits after `\u` (and a low surrogate after a high
    /// one).
    fn unicode_escape(&mut self) -> Result<char, String> {
        let hex4 = |p: &mut Self| -> Result<u32, String> {
            let digits =
                p.s.get(p.pos..p.pos + 4)
                    .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|d| u32::from_str_radix(d, 16).ok())
                    .ok_or_else(|| p.error("'\\u' is not followed by four hex digits"))?;
            p.pos += 4;
            Ok(digits)
        };
        let hi = hex4(self)?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            if self.peek() != Some(b'\\') || self.at(1) != Some(b'u') {
                return Err(self.error("a '\\u' high surrogate without its low half"));
            }
            self.pos += 2;
            let lo = hex4(self)?;
            if !(0xdc00..0xe000).contains(&lo) {
                return Err(self.error("a '\\u' high surrogate without its low half"));
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("'\\u' names no character"))
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let start_line = self.line();
        self.pos += 1;
        let mut out = String::new();
        loop {
            match (self.peek(), self.at(1)) {
                (None, _) => return Err(format!("line {start_line}: a string is never closed")),
                (Some(b'\''), _) => {
                    self.pos += 1;
                    return Ok(out);
                }
                (Some(b'\\'), Some(b'\'')) => {
                    out.push('\'');
                    self.pos += 2;
                }
                _ => {
                    let start = self.pos;
                    self.pos += 1;
                    while matches!(self.peek(), Some(c) if c != b'\'' && c != b'\\') {
                        self.pos += 1;
                    }
                    out.push_str(&self.text[start..self.pos]);
                }
            }
        }
    }

    /// `<<TERM\n ... \nTERM`: the lines between, without the newline
    /// before the terminator. As in libucl (`ucl_parse_multiline_string`),
    /// the terminator counts at the start of a line after the first one,
    /// followed by a newline, `;` or `,` (the emitter writes `EOD;`), and
    /// a heredoc must hold at least one line.
    fn heredoc(&mut self) -> Result<String, String> {
        let start_line = self.line();
        self.pos += 2;
        let start = self.pos;
        while matches!(self.peek(), Some(b'A'..=b'Z')) {
            self.pos += 1;
        }
        let term = &self.text[start..self.pos];
        if term.is_empty() || self.peek() != Some(b'\n') {
            return Err(self
                .error("'<<' must be followed by a terminator in capital letters and a newline"));
        }
        self.pos += 1;
        let body = self.pos;
        let unterminated =
            || format!("line {start_line}: the heredoc <<{term} has no closing {term} line");
        // The first line is text whatever it holds.
        let mut line = match self.s[body..].iter().position(|&b| b == b'\n') {
            Some(i) => body + i + 1,
            None => return Err(unterminated()),
        };
        loop {
            let rest = &self.s[line..];
            if rest.starts_with(term.as_bytes())
                && matches!(rest.get(term.len()), Some(b'\n' | b';' | b','))
            {
                let text = self.text[body..line - 1].to_string();
                self.pos = line + term.len();
                return Ok(text);
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => line += i + 1,
                None => return Err(unterminated()),
            }
        }
    }

    fn bare(&mut self) -> Value {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if !ends_word(b)) {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        if let Some(n) = number(word) {
            return Value::Number(n);
        }
        match word.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Value::Bool(true),
            "false" | "no" | "off" => Value::Bool(false),
            "null" => Value::Null,
            _ => Value::String(word.to_string()),
        }
    }
}

/// A JSON-shaped number: `-?digits[.digits][(e|E)[+-]digits]`.
fn number(word: &str) -> Option<Number> {
    let b = word.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if !digits(&mut i) {
        return None;
    }
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
        float = true;
    }
    if matches!(b.get(i), Some(b'e') | Some(b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
        float = true;
    }
    if i != b.len() {
        return None;
    }
    if !float {
        if let Ok(n) = word.parse::<u64>() {
            return Some(n.into());
        }
        if let Ok(n) = word.parse::<i64>() {
            return Some(n.into());
        }
    }
    word.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(s: &str) -> Value {
        Value::Object(parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}")))
    }

    #[test]
    fn the_three_pair_forms_and_separators() {
        assert_eq!(
            ok("a = 1; b: \"x\"\nc true, d 'it\\'s'"),
            json!({"a": 1, "b": "x", "c": true, "d": "it's"})
        );
        assert_eq!(
            ok("{ \"a\": [1, 2.5, -3], \"b\": null }"),
            json!({"a": [1, 2.5, -3], "b": null})
        );
        assert_eq!(ok(""), json!({}));
    }

    #[test]
    fn bare_words_numbers_and_booleans() {
        assert_eq!(
            ok("v = 1.0_1; abi = FreeBSD:14:amd64; n = 10k; y = yes; o = OFF; p = /usr/local"),
            json!({"v": "1.0_1", "abi": "FreeBSD:14:amd64", "n": "10k", "y": true, "o": false, "p": "/usr/local"})
        );
    }

    #[test]
    fn escapes_and_heredocs() {
        assert_eq!(
            ok(r#"s = "a\"b\\c\n\t\u00e9\ud83d\ude00\/";"#),
            json!({"s": "a\"b\\c\n\t\u{e9}\u{1f600}/"})
        );
        assert_eq!(
            ok("desc = <<EOD\nline one\n  line two;\nEOD\nnext = 1"),
            json!({"desc": "line one\n  line two;", "next": 1})
        );
        // pkg's emitter: `key = <<EOD` ... `EOD;`, and a line "EOD" as text.
        assert_eq!(
            ok("desc = <<EOD\nEOD\nEODX\nEOD;\nnext = <<EOD\nx\nEOD,"),
            json!({"desc": "EOD\nEODX", "next": "x"})
        );
    }

    #[test]
    fn comments_and_implicit_arrays() {
        assert_eq!(
            ok("# top\na = 1 // one\n/* a /* nested */ comment */ b = 2\nb = 3\nb = 4"),
            json!({"a": 1, "b": [2, 3, 4]})
        );
    }

    #[test]
    fn malformed_input_is_refused_with_its_line() {
        for (input, says) in [
            ("a = \"open", "never closed"),
            ("a { b = 1;", "never closed"),
            ("a [1, 2", "never closed"),
            ("a [1 2]", "expected ','"),
            ("a = ;", "has no value"),
            ("a =", "has no value"),
            ("}", "without a matching"),
            ("= 1", "expected a key"),
            ("/* open", "never closed"),
            ("d = <<EOD\ntext\n", "no closing EOD"),
            ("d = <<EOD\ntext\nEOD", "no closing EOD"),
            ("d = <<EOD\nEOD\n", "no closing EOD"),
            ("d = <<eod\ntext\neod\n", "capital letters"),
            ("s = \"\\q\"", "unknown escape"),
            ("s = \"\\u12\"", "four hex digits"),
            ("s = \"\\u+123\"", "four hex digits"),
            ("s = \"\\ud800x\"", "surrogate"),
            ("{ a = 1 } b = 2", "after the end"),
        ] {
            let e = parse(input.as_bytes()).expect_err(input);
            assert!(e.contains(says), "{input:?}: {e}");
            assert!(e.starts_with("line "), "{input:?}: {e}");
        }
        assert!(parse(b"a = \"\xff\"").unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let deep = |n: usize| format!("{}{}", "a {".repeat(n), "}".repeat(n));
        assert!(parse(deep(MAX_DEPTH - 1).as_bytes()).is_ok());
        let e = parse(deep(MAX_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(e.contains("nested more than"), "{e}");
        let arrays = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            parse(arrays.as_bytes())
                .unwrap_err()
                .contains("nested more than")
        );
    }
}
