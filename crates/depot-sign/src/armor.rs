//! Splitting text into ASCII-armor blocks.
//!
//! rPGP's `from_string_many` reads the first armor block only, silently
//! ignoring any later one. gpg reads them all, so a file holding two blocks
//! (`cat a.asc b.asc`) means something to users; this module finds them.

/// The armor blocks in `input`, each from its `-----BEGIN PGP ` line through
/// its `-----END PGP ` line (or to the end of `input` if that is missing, so
/// the parser reports the truncation). Text outside blocks is skipped.
pub(crate) fn blocks(input: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut start = None;
    let mut offset = 0;
    for line in input.split_inclusive('\n') {
        let line_start = offset;
        offset += line.len();
        match start {
            None if line.starts_with("-----BEGIN PGP ") => {
                // A cleartext message has a second BEGIN line inside it (its
                // signature); it is one block, ended by the END line.
                start = Some(line_start);
            }
            Some(begin) if line.starts_with("-----END PGP ") => {
                blocks.push(&input[begin..offset]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(begin) = start {
        blocks.push(&input[begin..]);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::blocks;

    #[test]
    fn finds_each_block_and_skips_text_around_them() {
        let a = "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n";
        let b = "-----BEGIN PGP SIGNATURE-----\n\nBBBB\n-----END PGP SIGNATURE-----";
        let input = format!("hello\n{a}between\n{b}");
        assert_eq!(blocks(&input), vec![a, b]);
        assert_eq!(blocks("no armor here\n"), Vec::<&str>::new());
        assert_eq!(blocks(""), Vec::<&str>::new());
    }

    #[test]
    fn an_unterminated_block_runs_to_the_end() {
        let input = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n";
        assert_eq!(blocks(input), vec![input]);
    }
}
