//! The low-level CSV record splitter behind [`crate::read`] and [`crate::corporate`].
//!
//! It follows RFC 4180 with the leniency of Excel: a field is quoted only when its first
//! non-space character is `"`; a `"` inside an unquoted field is kept as text; text after a
//! closing quote is appended to the field. Lines end with CRLF, LF or a lone CR. The one syntax
//! error is a quoted field that never closes, since it would swallow the rest of the file.
//!
//! Fields borrow from the input; only a quoted field with a doubled `""` (or with text after the
//! closing quote) is copied. Each field is trimmed of ASCII whitespace and U+3000 (全角 space) at
//! both ends.

use std::borrow::Cow;

/// A quoted field that is not closed before the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unterminated {
    /// The 1-based line where the field starts.
    pub line: usize,
    /// The 1-based position of the field in its record.
    pub column: usize,
}

/// Splits text into records, one at a time.
pub(crate) struct Splitter<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    delimiter: u8,
}

impl<'a> Splitter<'a> {
    /// A splitter over `text`, which must not start with a byte-order mark. `delimiter` must be
    /// an ASCII character other than `"`, CR and LF.
    pub fn new(text: &'a str, delimiter: u8) -> Self {
        debug_assert!(delimiter.is_ascii() && !matches!(delimiter, b'"' | b'\r' | b'\n'));
        Self { text, pos: 0, line: 1, delimiter }
    }

    /// Reads the next record's fields into `fields` (cleared first) and returns the line it
    /// starts on, or `None` at the end of the input. An empty line is a record with one empty
    /// field. After an error the splitter is at the end of the input.
    pub fn next_record(&mut self, fields: &mut Vec<Cow<'a, str>>) -> Option<Result<usize, Unterminated>> {
        fields.clear();
        if self.pos >= self.text.len() {
            return None;
        }
        let start_line = self.line;
        let bytes = self.text.as_bytes();
        loop {
            let field_line = self.line;
            let field = match self.quote_start(self.pos) {
                Some(quote) => match self.quoted(quote + 1) {
                    Some(field) => field,
                    None => {
                        self.pos = self.text.len();
                        return Some(Err(Unterminated { line: field_line, column: fields.len() + 1 }));
                    }
                },
                None => {
                    let end = self.unquoted_end(self.pos);
                    let field = Cow::Borrowed(trim(&self.text[self.pos..end]));
                    self.pos = end;
                    field
                }
            };
            fields.push(field);
            // The field ends at a delimiter, a line break or the end of the input.
            match bytes.get(self.pos) {
                None => return Some(Ok(start_line)),
                Some(&b) if b == self.delimiter => self.pos += 1,
                Some(b'\r') => {
                    self.pos += if bytes.get(self.pos + 1) == Some(&b'\n') { 2 } else { 1 };
                    self.line += 1;
                    return Some(Ok(start_line));
                }
                Some(_) => {
                    self.pos += 1;
                    self.line += 1;
                    return Some(Ok(start_line));
                }
            }
        }
    }

    /// The position of the opening quote when the field at `pos` is quoted (spaces before the
    /// quote are allowed).
    fn quote_start(&self, pos: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let mut at = pos;
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        (bytes.get(at) == Some(&b'"')).then_some(at)
    }

    /// The end of an unquoted run starting at `pos`: the next delimiter, line break or the end.
    fn unquoted_end(&self, pos: usize) -> usize {
        let delimiter = self.delimiter;
        let rest = &self.text.as_bytes()[pos..];
        rest.iter().position(|&b| b == delimiter || b == b'\n' || b == b'\r').map_or(self.text.len(), |i| pos + i)
    }

    /// Reads a quoted field whose content starts at `pos`; `None` when it never closes.
    fn quoted(&mut self, mut pos: usize) -> Option<Cow<'a, str>> {
        let text = self.text;
        let mut owned: Option<String> = None;
        loop {
            let close = pos + text[pos..].find('"')?;
            let segment = &text[pos..close];
            self.line += line_breaks(segment);
            if text.as_bytes().get(close + 1) == Some(&b'"') {
                let buffer = owned.get_or_insert_with(String::new);
                buffer.push_str(segment);
                buffer.push('"');
                pos = close + 2;
                continue;
            }
            // Text between the closing quote and the next delimiter is kept, as Excel does.
            let after = close + 1;
            let end = self.unquoted_end(after);
            self.pos = end;
            let tail = text[after..end].trim_end_matches(is_trimmed);
            let field = match owned {
                None if tail.is_empty() => Cow::Borrowed(segment),
                None => Cow::Owned(format!("{segment}{tail}")),
                Some(mut buffer) => {
                    buffer.push_str(segment);
                    buffer.push_str(tail);
                    Cow::Owned(buffer)
                }
            };
            return Some(trim_cow(field));
        }
    }
}

/// Whether `c` is removed from both ends of a field: ASCII whitespace or U+3000.
pub(crate) fn is_trimmed(c: char) -> bool {
    c.is_ascii_whitespace() || c == '\u{3000}'
}

/// `text` without ASCII whitespace and U+3000 at either end.
pub(crate) fn trim(text: &str) -> &str {
    text.trim_matches(is_trimmed)
}

fn trim_cow(field: Cow<'_, str>) -> Cow<'_, str> {
    match field {
        Cow::Borrowed(text) => Cow::Borrowed(trim(text)),
        Cow::Owned(text) => {
            let trimmed = trim(&text);
            if trimmed.len() == text.len() {
                Cow::Owned(text)
            } else {
                Cow::Owned(trimmed.to_owned())
            }
        }
    }
}

/// The number of line breaks in `text`: LF, CRLF and lone CR each count once.
fn line_breaks(text: &str) -> usize {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().filter(|&(i, &b)| b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's start line and fields, or the error.
    type Split = Result<(usize, Vec<String>), Unterminated>;

    fn split_all(text: &str, delimiter: u8) -> Vec<Split> {
        let mut splitter = Splitter::new(text, delimiter);
        let mut fields = Vec::new();
        let mut out = Vec::new();
        while let Some(result) = splitter.next_record(&mut fields) {
            out.push(result.map(|line| (line, fields.iter().map(|f| f.to_string()).collect())));
        }
        out
    }

    fn ok(line: usize, fields: &[&str]) -> Split {
        Ok((line, fields.iter().map(|f| (*f).to_owned()).collect()))
    }

    #[test]
    fn splits_records_with_their_start_lines() {
        let cases: &[(&str, &str, Vec<Split>)] = &[
            ("plain", "a,b\r\nc,d\r\n", vec![ok(1, &["a", "b"]), ok(2, &["c", "d"])]),
            ("no final newline", "a,b\nc,d", vec![ok(1, &["a", "b"]), ok(2, &["c", "d"])]),
            ("lone CR", "a\rb\r", vec![ok(1, &["a"]), ok(2, &["b"])]),
            ("empty line", "a\n\nb", vec![ok(1, &["a"]), ok(2, &[""]), ok(3, &["b"])]),
            ("trailing delimiter", "a,b,\n", vec![ok(1, &["a", "b", ""])]),
            ("quoted newline", "\"x\ny\",z\nw\n", vec![ok(1, &["x\ny", "z"]), ok(3, &["w"])]),
            ("quoted CRLF", "\"x\r\ny\"\r\nw", vec![ok(1, &["x\r\ny"]), ok(3, &["w"])]),
            ("doubled quote", "\"say \"\"hi\"\"\",1", vec![ok(1, &["say \"hi\"", "1"])]),
            ("quote inside unquoted", "ab\"c,d", vec![ok(1, &["ab\"c", "d"])]),
            ("text after closing quote", "\"ab\"c,d", vec![ok(1, &["abc", "d"])]),
            ("space before quote", "a, \"b,c\"", vec![ok(1, &["a", "b,c"])]),
            ("trimmed", " a\u{3000}, 　b ", vec![ok(1, &["a", "b"])]),
            ("empty quoted", "\"\",x", vec![ok(1, &["", "x"])]),
            ("unterminated", "a,b\n\"c,d\ne", vec![ok(1, &["a", "b"]), Err(Unterminated { line: 2, column: 1 })]),
        ];
        for (name, text, expected) in cases {
            assert_eq!(&split_all(text, b','), expected, "{name}");
        }
    }

    #[test]
    fn other_delimiters() {
        assert_eq!(split_all("a\tb,c\n", b'\t'), vec![ok(1, &["a", "b,c"])]);
        assert_eq!(split_all("a;\"b;c\"\n", b';'), vec![ok(1, &["a", "b;c"])]);
    }

    #[test]
    fn unquoted_fields_are_borrowed() {
        let mut splitter = Splitter::new("abc,\"de\"", b',');
        let mut fields = Vec::new();
        splitter.next_record(&mut fields);
        assert!(fields.iter().all(|f| matches!(f, Cow::Borrowed(_))));
    }
}
