//! Text for a person's terminal: what a capture holds, made safe to show.
//!
//! Anything a traced process controls reaches sockrec's output: its name
//! (`prctl(PR_SET_NAME)` takes any 15 bytes), the UNIX socket paths it
//! binds, and a capture's own metadata (host name, filters) if the file was
//! crafted. Written raw, an escape sequence in them clears the reader's
//! screen, retitles the window or worse. ps(1) and ss(8) never pass such
//! bytes through; neither does sockrec, in every format meant for a person
//! (the tool and table formats, `sockrec info`, the recorder's lines,
//! errors). The csv and json formats carry exact values instead, quoted and
//! escaped by their own rules, for scripts.
//!
//! [`escape`] is the one function every renderer calls. It keeps text
//! readable and unambiguous: control characters become visible escapes
//! (`\n`, `\t`, `\r`, `\x1b`; C1 controls and the Unicode bidi and line
//! separators, which reorder or break what follows, as `\u{202e}`), and a
//! backslash is doubled so that a name which really holds the four
//! characters `\x1b` does not read like one with an escape in it. Invalid
//! UTF-8 cannot reach it: names and paths become text with
//! `String::from_utf8_lossy` (U+FFFD, printable) when the capture is
//! written or read.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` as it may be written to a terminal: unchanged (and not copied)
/// unless it holds a character that `needs_escape` (below) picks.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether `c` is shown as an escape: the backslash itself, the C0 and C1
/// control characters and DEL (Unicode's `Cc`), and the format characters
/// that change how a terminal lays out the rest of the line: the bidi
/// embeddings, overrides, isolates and marks (the "Trojan Source" set,
/// CVE-2021-42574) and the line and paragraph separators.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        for s in ["", "nginx", "/run/redis/redis.sock", "ünïcödé 名前", "a b"] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s:?}");
        }
    }

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(escape("\x1b[2J\x1b]0;x\x07ev"), "\\x1b[2J\\x1b]0;x\\x07ev");
        assert_eq!(escape("a\nb\tc\rd\0e\x7f"), "a\\nb\\tc\\rd\\x00e\\x7f");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("x\u{2028}y"), "x\\u{2028}y");
    }

    /// A literal backslash escape in a name reads differently from a real
    /// control character.
    #[test]
    fn backslashes_are_doubled() {
        assert_eq!(escape("\\x1b"), "\\\\x1b");
        assert_ne!(escape("\\x1b"), escape("\x1b"));
    }

    #[test]
    fn nothing_escaped_is_left_raw() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let shown = escape(&all);
        assert!(
            !shown.chars().any(|c| c != '\\' && needs_escape(c)),
            "{shown:?}"
        );
    }
}
