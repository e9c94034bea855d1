//! Quoting untrusted text inside a message: `"value"`, with quotes, backslashes, control and
//! format characters escaped (`"a\"b\n\u{202e}"`) and long text cut (`"aaa…"…`), so a
//! message can never be broken up, reordered or drowned by what it quotes.
//!
//! Rust's `{:?}` does the same but also escapes every non-printable Unicode character, which
//! takes the tables of printable characters into the wasm; names like "Büro" stay readable
//! here.

/// Longest quoted text, in characters between the quotes (escapes included).
pub const MAX_QUOTED_CHARS: usize = 80;

/// Unicode's format characters (general category Cf): invisible, and some (bidi overrides
/// and isolates) reorder the text around them, so an echoed URL could read as another.
/// The list as of Unicode 15 (a few ranges: the printable-character tables stay out of the wasm).
pub fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
    )
}

/// `text` in double quotes, for a message: quotes and backslashes escaped, control and format
/// characters (and the line and paragraph separators) written as `\n` or `\u{202e}`, and cut
/// after [`MAX_QUOTED_CHARS`] characters, marked by `…` after the closing quote. What it quotes
/// can neither break a message up, nor reorder or hide part of it, nor drown it.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED_CHARS) + 5);
    out.push('"');
    let mut room = MAX_QUOTED_CHARS;
    for c in text.chars() {
        let escape = c == '"'
            || c == '\\'
            || c.is_control()
            || is_format(c)
            || matches!(c, '\u{2028}' | '\u{2029}');
        let escaped = c.escape_default();
        let width = if escape { escaped.len() } else { 1 };
        if width > room {
            out.push_str("\"…");
            return out;
        }
        room -= width;
        if escape {
            out.extend(escaped);
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(quoted("Büro-PC 7"), "\"Büro-PC 7\"");
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_escaped() {
        assert_eq!(quoted("a\"b\\c\nd\u{7}"), r#""a\"b\\c\nd\u{7}""#);
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        assert_eq!(
            quoted("https://evil.example/\u{202e}gnp.exe"),
            r#""https://evil.example/\u{202e}gnp.exe""#
        );
        assert_eq!(
            quoted("a\u{200b}b\u{feff}c\u{2066}d\u{2069}\u{61c}\u{ad}\u{e0041}\u{2028}"),
            r#""a\u{200b}b\u{feff}c\u{2066}d\u{2069}\u{61c}\u{ad}\u{e0041}\u{2028}""#
        );
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = format!("https://{}.example/", "a".repeat(200));
        let q = quoted(&long);
        assert_eq!(
            q,
            format!("\"https://{}\"…", "a".repeat(MAX_QUOTED_CHARS - 8))
        );
        // An escape is never cut in half.
        let q = quoted(&format!("{}\u{202e}", "a".repeat(MAX_QUOTED_CHARS - 3)));
        assert_eq!(q, format!("\"{}\"…", "a".repeat(MAX_QUOTED_CHARS - 3)));
        let exact = "b".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quoted(&exact), format!("\"{exact}\""));
    }

    /// The characters the issue names, written out here rather than taken from the code's
    /// table: bidi embeddings and overrides, isolates, zero-width characters and marks, BOM.
    fn named_invisible(c: char) -> bool {
        matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}' | '\u{feff}')
    }

    #[test]
    fn every_format_character_is_one_rust_would_escape_too() {
        // The table is Unicode's Cf (category "Format"); Rust's Debug escapes every Cf
        // character, so a printable character in the table would be a typo.
        for c in (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_format(c))
        {
            assert!(
                c.escape_debug().to_string().starts_with("\\u{"),
                "{:x}",
                c as u32
            );
        }
        assert!((0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|&c| named_invisible(c))
            .all(is_format));
    }

    proptest::proptest! {
        #[test]
        fn quoted_text_has_no_invisible_characters_and_a_bounded_length(
            text in proptest::prop_oneof![
                proptest::prelude::any::<String>(),
                "[a-z\u{200b}-\u{200f}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{feff}\u{0}-\u{1f}\u{7f}-\u{9f}\"\\\\]{0,200}",
            ],
        ) {
            let q = quoted(&text);
            proptest::prop_assert!(q.chars().count() <= MAX_QUOTED_CHARS + 3, "{}", q);
            proptest::prop_assert!(q.starts_with('"'));
            for c in q.chars() {
                proptest::prop_assert!(!c.is_control() && !is_format(c) && !named_invisible(c), "{:?} in {}", c, q);
            }
        }
    }
}
