//! Quoting untrusted text inside a message: `"value"`, with quotes, backslashes and control
//! characters escaped (`"a\"b\n"`) so a message can never be broken up by what it quotes.
//!
//! Rust's `{:?}` does the same but also escapes every non-printable Unicode character, which
//! takes the tables of printable characters into the wasm; names like "Büro" stay readable
//! here.

/// `text` in double quotes, quotes, backslashes and control characters escaped.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' || c.is_control() {
            out.extend(c.escape_default());
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
}
