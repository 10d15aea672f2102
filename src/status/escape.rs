//! Make text from the network safe for a terminal: a name, topic or payload may carry
//! ESC sequences, newlines or bidi overrides, and none of them may reach the screen raw.

use std::borrow::Cow;
use std::fmt::Write;

/// What must never reach a terminal raw: C0 and C1 controls, DEL, and the bidi controls.
/// The JSON writer and the fuzz checks use the same rule.
pub fn is_unsafe(c: char) -> bool {
    let n = u32::from(c);
    n < 0x20
        || (0x7f..=0x9f).contains(&n)
        // Bidi embeddings, overrides and isolates: they reorder what the user reads.
        || (0x202a..=0x202e).contains(&n)
        || (0x2066..=0x2069).contains(&n)
}

/// Control characters (C0, DEL, C1) as `\x1b`-style escapes and bidi controls as
/// `\u{202e}`; a backslash is left alone so ordinary text reads as it was sent.
/// Borrows when nothing needs escaping (the common case).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let n = u32::from(c);
            if n <= 0xff {
                let _ = write!(out, "\\x{n:02x}");
            } else {
                let _ = write!(out, "\\u{{{n:04x}}}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        assert!(matches!(escape("sensor-1/ä"), Cow::Borrowed("sensor-1/ä")));
    }

    #[test]
    fn esc_sequences_newlines_and_del_are_escaped() {
        assert_eq!(escape("a\x1b[31mred\n\x7f"), "a\\x1b[31mred\\x0a\\x7f");
        assert_eq!(escape("\0\t\r"), "\\x00\\x09\\x0d");
    }

    #[test]
    fn c1_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(escape("x\u{9b}y"), "x\\x9by");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("\u{2066}"), "\\u{2066}");
    }

    #[test]
    fn escaped_text_never_contains_a_raw_control() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        assert!(!escape(&all).chars().any(is_unsafe));
    }
}
