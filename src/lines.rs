//! Lossless line splitting for the files idfed edits in place (CT configs, `/etc/subuid`).
//!
//! A file is a list of [`RawLine`]s, each its text and its own terminator (`\n`, `\r\n` or none),
//! so joining them gives back every byte. This module knows nothing about what a line means.

use std::fmt;

/// How a line ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Eol {
    /// `\n`.
    Lf,
    /// `\r\n`.
    CrLf,
    /// No terminator: only the last line of a file without a final newline.
    None,
}

impl Eol {
    /// The terminator's bytes.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Eol::Lf => "\n",
            Eol::CrLf => "\r\n",
            Eol::None => "",
        }
    }
}

/// One line: its text without the terminator, and the terminator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RawLine {
    pub text: String,
    pub eol: Eol,
}

impl RawLine {
    /// A line ending in `eol`.
    pub(crate) fn new(text: impl Into<String>, eol: Eol) -> RawLine {
        RawLine {
            text: text.into(),
            eol,
        }
    }
}

impl fmt::Display for RawLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str(self.eol.as_str())
    }
}

/// Splits `text` into lines; joining their [`Display`](fmt::Display) forms gives `text` back.
///
/// A lone `\r` that is not followed by `\n` stays part of the line's text.
pub(crate) fn split(text: &str) -> Vec<RawLine> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                let line = &rest[..i];
                let (line, eol) = match line.strip_suffix('\r') {
                    Some(l) => (l, Eol::CrLf),
                    None => (line, Eol::Lf),
                };
                out.push(RawLine::new(line, eol));
                rest = &rest[i + 1..];
            }
            None => {
                out.push(RawLine::new(rest, Eol::None));
                rest = "";
            }
        }
    }
    out
}

/// The terminator new lines should get: the first one the file uses, `\n` when it has none.
pub(crate) fn file_eol<'a>(lines: impl IntoIterator<Item = &'a RawLine>) -> Eol {
    lines
        .into_iter()
        .map(|l| l.eol)
        .find(|&e| e != Eol::None)
        .unwrap_or(Eol::Lf)
}

/// Joins lines back into text.
#[cfg(test)]
pub(crate) fn join(lines: &[RawLine]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.text.len() + 2).sum());
    for l in lines {
        out.push_str(&l.text);
        out.push_str(l.eol.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_byte() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\nb\n",
            "a\r\nb",
            "\n\n",
            "\r\n",
            "a\rb\n",
            "a\r",
            "x\n\r\n\ny",
        ] {
            let lines = split(text);
            assert_eq!(join(&lines), text, "{text:?}");
            assert!(lines.iter().rev().skip(1).all(|l| l.eol != Eol::None));
        }
        assert_eq!(
            split("a\r\nb"),
            vec![RawLine::new("a", Eol::CrLf), RawLine::new("b", Eol::None)]
        );
        assert_eq!(split("a\r"), vec![RawLine::new("a\r", Eol::None)]);
    }

    #[test]
    fn file_eol_is_the_first_terminator() {
        assert_eq!(file_eol(&split("a\r\nb\n")), Eol::CrLf);
        assert_eq!(file_eol(&split("a\nb\r\n")), Eol::Lf);
        assert_eq!(file_eol(&split("a")), Eol::Lf);
        assert_eq!(file_eol(&split("")), Eol::Lf);
    }
}
