//! Text for a terminal. Names, DNs, paths and lines that came from a directory or a file may hold
//! characters a terminal acts on instead of showing: an ESC sequence in a `uid` recolours the
//! terminal or sets its title, a BEL rings, a newline forges a line of output, a bidi override
//! reverses what follows. Every text renderer and every message printer passes such strings
//! through this module: [`Esc`] for one value, [`escape_lines`] for a whole rendered text or
//! message (its own line breaks kept). JSON stays exact (serde escapes what JSON must), CSV stays
//! quoted. Nothing here does I/O.
//!
//! An escaped character is written as Rust writes it (`\n`, `\t`, `\r`, `\u{1b}`, `\u{202e}`);
//! a backslash the string itself holds stays one (DNs escape with it: `cn=a\,b`).

use std::borrow::Cow;
use std::fmt;

/// Does a terminal act on `c` rather than show it? C0 (newline and tab included), DEL, C1, and
/// the bidirectional formatting characters (LRM, RLM, ALM, the embeddings, overrides and
/// isolates).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Does `s` hold an unsafe character other than a kept newline (`newline_kept`)? Judged by its
/// UTF-8 bytes, exactly (a test holds it to [`is_unsafe`] for every character): C0 and DEL are
/// single bytes, C1 is `c2 80..9f`, ALM `d8 9c`, LRM and RLM `e2 80 8e..8f`, the embeddings and
/// overrides `e2 80 aa..ae`, the isolates `e2 81 a6..a9` (a lead byte never occurs inside
/// another character). A quick pass over text that is almost always clean; a whole rendered
/// text has line breaks and arrows (`→`, `e2 86 92`), which sent it char by char through
/// [`is_unsafe`] before.
fn holds_unsafe(s: &str, newline_kept: bool) -> bool {
    let b = s.as_bytes();
    let unsafe_at = |i: usize| match b[i] {
        b'\n' => !newline_kept,
        0x00..=0x1f | 0x7f => true,
        0xc2 => matches!(b.get(i + 1), Some(0x80..=0x9f)),
        0xd8 => b.get(i + 1) == Some(&0x9c),
        0xe2 => matches!(
            (b.get(i + 1), b.get(i + 2)),
            (Some(0x80), Some(0x8e | 0x8f | 0xaa..=0xae)) | (Some(0x81), Some(0xa6..=0xa9))
        ),
        _ => false,
    };
    // Almost all of it is printable ASCII and kept newlines: 32 bytes at a time without a
    // branch (the compiler vectorizes it), and only a chunk with another byte is looked at.
    let plain = |c: u8| (c >= 0x20 || (newline_kept && c == b'\n')) && c < 0x7f;
    let mut start = 0;
    b.chunks(32).any(|chunk| {
        let from = start;
        start += chunk.len();
        !chunk.iter().fold(true, |all, &c| all & plain(c)) && (from..start).any(unsafe_at)
    })
}

/// Writes `s` with every unsafe character escaped, but newlines when `newline_kept`.
fn write_escaped(out: &mut impl fmt::Write, s: &str, newline_kept: bool) -> fmt::Result {
    let mut clean = 0;
    for (i, c) in s.char_indices() {
        if is_unsafe(c) && !(newline_kept && c == '\n') {
            out.write_str(&s[clean..i])?;
            write!(out, "{}", c.escape_default())?;
            clean = i + c.len_utf8();
        }
    }
    out.write_str(&s[clean..])
}

fn escaped(s: &str, newline_kept: bool) -> Cow<'_, str> {
    if !holds_unsafe(s, newline_kept) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let _ = write_escaped(&mut out, s, newline_kept);
    Cow::Owned(out)
}

/// `s` with every unsafe character escaped, its line breaks too: one value, or a message that
/// must stay on one line (a warning).
pub fn escape(s: &str) -> Cow<'_, str> {
    escaped(s, false)
}

/// `s` with every unsafe character but `\n` escaped: a whole rendered text or a message whose
/// own line breaks are part of its layout. The values in it that may hold a line break are
/// escaped by [`Esc`] as they are rendered.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escaped(s, true)
}

/// One value from a directory or a file, for a text renderer: `{}` writes it with every unsafe
/// character escaped (see [`escape`]); width and alignment apply to the escaped text.
#[derive(Clone, Copy, Debug)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&escape(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_acts_on() {
        for (raw, want) in [
            ("alice", "alice"),
            ("Zoë Ünal", "Zoë Ünal"),
            ("日本", "日本"),
            ("a\u{1b}]0;owned\u{7}b", "a\\u{1b}]0;owned\\u{7}b"),
            ("a\u{1b}[31mred", "a\\u{1b}[31mred"),
            ("one\ntwo\r\tx", "one\\ntwo\\r\\tx"),
            ("\0", "\\u{0}"),
            // The C0 and C1 boundaries: 0x1f and 0x20, 0x7e and 0x7f, 0x9f and 0xa0.
            ("\u{1f} ~\u{7f}", "\\u{1f} ~\\u{7f}"),
            ("\u{80}\u{9f}\u{a0}", "\\u{80}\\u{9f}\u{a0}"),
            // Bidi: the overrides and isolates, and their neighbours that are not.
            ("\u{202e}cod.exe", "\\u{202e}cod.exe"),
            ("\u{2029}\u{202a}\u{202f}", "\u{2029}\\u{202a}\u{202f}"),
            (
                "\u{2065}\u{2066}\u{2069}\u{206a}",
                "\u{2065}\\u{2066}\\u{2069}\u{206a}",
            ),
            (
                "\u{200d}\u{200e}\u{200f}\u{2010}",
                "\u{200d}\\u{200e}\\u{200f}\u{2010}",
            ),
            ("\u{061c}\u{061b}", "\\u{61c}\u{061b}"),
            // A DN's own backslashes stay single.
            ("cn=a\\,b", "cn=a\\,b"),
        ] {
            assert_eq!(escape(raw), want, "{raw:?}");
            assert_eq!(Esc(raw).to_string(), want, "{raw:?}");
        }
    }

    #[test]
    fn the_byte_pass_finds_exactly_the_unsafe_characters() {
        let mut buf = [0; 4];
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            let s: &str = c.encode_utf8(&mut buf);
            assert_eq!(holds_unsafe(s, false), is_unsafe(c), "{c:?}");
            assert_eq!(holds_unsafe(s, true), is_unsafe(c) && c != '\n', "{c:?}");
        }
        // In a longer text, read in chunks: wherever it falls, across a chunk's end too.
        for pad in 0..70 {
            let text = format!("{}\n", "x \u{2192} y".repeat(pad / 5 + 1));
            assert!(!holds_unsafe(&text, true), "{pad}");
            for c in [
                '\t', '\u{85}', '\u{61c}', '\u{200e}', '\u{202e}', '\u{2069}',
            ] {
                let text = format!("{}{c}\nb", "a".repeat(pad));
                assert!(holds_unsafe(&text, true), "{pad} {c:?}");
            }
        }
    }

    #[test]
    fn escape_lines_keeps_line_breaks_only() {
        assert_eq!(escape_lines("a\nb\n"), "a\nb\n");
        assert_eq!(escape_lines("a\r\nb\t\u{1b}c\n"), "a\\r\nb\\t\\u{1b}c\n");
        assert!(matches!(escape_lines("clean\ntext\n"), Cow::Borrowed(_)));
        // Arrows, dashes and C1's neighbours share lead bytes with unsafe characters: not copied.
        assert!(matches!(
            escape_lines("uid 1005: host 101005 \u{2192} 1005 \u{2014} \u{a0}\u{2070}\n"),
            Cow::Borrowed(_)
        ));
        for c in [
            '\u{85}', '\u{9f}', '\u{61c}', '\u{200f}', '\u{202a}', '\u{2069}',
        ] {
            assert!(
                matches!(escape_lines(&format!("a\n{c}")), Cow::Owned(_)),
                "{c:?}"
            );
        }
        assert!(matches!(escape("é and ü"), Cow::Borrowed(_)));
    }

    #[test]
    fn width_applies_to_the_escaped_value() {
        assert_eq!(format!("[{:<6}]", Esc("a\u{7}")), "[a\\u{7}]");
        assert_eq!(format!("[{:<9}]", Esc("a\u{7}")), "[a\\u{7}   ]");
        assert_eq!(format!("[{:>4}]", Esc("ab")), "[  ab]");
    }

    proptest::proptest! {
        /// Whatever the input, the escaped text holds no unsafe character, and escaping text
        /// without one changes nothing.
        #[test]
        fn nothing_unsafe_gets_through(s in "\\PC*|[\\x00-\\x{a0}\\x{2000}-\\x{2070}]*") {
            proptest::prop_assert!(!escape(&s).chars().any(is_unsafe));
            proptest::prop_assert!(!escape_lines(&s).chars().any(|c| is_unsafe(c) && c != '\n'));
            if !s.chars().any(is_unsafe) {
                proptest::prop_assert_eq!(escape(&s), s.as_str());
            }
        }
    }
}
