//! Writing CSV for Excel: RFC 4180 quoting, CRLF line ends, UTF-8 with a byte-order mark or
//! CP932, and protection against formula injection.
//!
//! # The formula rule
//! Excel runs a cell that starts with `=`, `+`, `-` or `@` as a formula, and a leading tab or
//! carriage return can hide such a start. A field whose first character is one of `=`, `+`,
//! `-`, `@`, tab or CR is therefore written with a leading `'`, which makes Excel show it as
//! text. The trade-off is accepted: a phone number written as "-", a negative number such as
//! "-5" or "+81 3 …" is then shown with the quote (`'-5`), and reads back with it.
//!
//! # CP932
//! Characters CP932 cannot hold (emoji, most characters outside JIS X 0208 and its Windows
//! extensions) are written as `?` and counted in [`Export::unmappable`], rather than as the
//! HTML character references encoding_rs writes by default. Characters that have a Windows
//! twin are written as that twin first: 〜 (U+301C) as ～, ‖ as ∥, — (U+2014) as ―, ¢ £ ¬ as
//! ￠ ￡ ￢.

use encoding_rs::{EncoderResult, SHIFT_JIS};
use hatake_domain::FieldError;
use std::borrow::Cow;

/// The encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportEncoding {
    /// UTF-8 with a byte-order mark, which Excel needs to read UTF-8 as such.
    Utf8Bom,
    /// CP932 (Windows-31J), what Excel in Japan opens by double-click.
    Cp932,
}

impl ExportEncoding {
    pub const ALL: [ExportEncoding; 2] = [ExportEncoding::Utf8Bom, ExportEncoding::Cp932];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportEncoding::Utf8Bom => "utf-8-bom",
            ExportEncoding::Cp932 => "cp932",
        }
    }

    /// # Errors
    /// A field error on `encoding` for anything but `utf-8-bom` (or `utf-8`) and `cp932` (or
    /// `shift_jis`, `sjis`).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "utf-8-bom" | "utf-8" | "utf8" => Ok(ExportEncoding::Utf8Bom),
            "cp932" | "shift_jis" | "shift-jis" | "sjis" | "windows-31j" => Ok(ExportEncoding::Cp932),
            _ => Err(FieldError::new(
                "encoding",
                "invalid_encoding",
                format!("出力の文字コードは utf-8-bom か cp932 です: {input}"),
                format!("The export encoding must be utf-8-bom or cp932: {input}"),
            )),
        }
    }
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The bytes not yet taken with [`CsvWriter::take_bytes`].
    pub bytes: Vec<u8>,
    /// Characters written as `?` because the encoding cannot hold them.
    pub unmappable: usize,
    /// Data rows written, the header not included.
    pub rows: usize,
}

/// Writes CSV row by row into a buffer; a large export can hand the buffer on in pieces with
/// [`CsvWriter::take_bytes`] instead of holding the whole file.
pub struct CsvWriter {
    encoding: ExportEncoding,
    encoder: encoding_rs::Encoder,
    buffer: Vec<u8>,
    line: String,
    unmappable: usize,
    rows: usize,
}

impl CsvWriter {
    /// Starts an export with its byte-order mark (for UTF-8) and header row.
    pub fn new<S: AsRef<str>>(headers: &[S], encoding: ExportEncoding) -> Self {
        let mut writer = Self {
            encoding,
            encoder: SHIFT_JIS.new_encoder(),
            buffer: Vec::with_capacity(8 * 1024),
            line: String::with_capacity(256),
            unmappable: 0,
            rows: 0,
        };
        if encoding == ExportEncoding::Utf8Bom {
            writer.buffer.extend_from_slice(b"\xEF\xBB\xBF");
        }
        writer.write_line(headers.iter().map(AsRef::as_ref));
        writer
    }

    /// Writes one row. Rows are written as given; nothing checks their width.
    pub fn write_row<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.write_line(fields);
        self.rows += 1;
    }

    /// The bytes written since the last call, leaving the buffer empty.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buffer)
    }

    /// The number of bytes waiting in the buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Characters written as `?` so far.
    pub fn unmappable(&self) -> usize {
        self.unmappable
    }

    pub fn finish(self) -> Export {
        Export { bytes: self.buffer, unmappable: self.unmappable, rows: self.rows }
    }

    fn write_line<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.line.clear();
        for (index, field) in fields.into_iter().enumerate() {
            if index > 0 {
                self.line.push(',');
            }
            push_field(&mut self.line, field.as_ref());
        }
        self.line.push_str("\r\n");
        match self.encoding {
            ExportEncoding::Utf8Bom => self.buffer.extend_from_slice(self.line.as_bytes()),
            ExportEncoding::Cp932 => self.encode_cp932(),
        }
    }

    fn encode_cp932(&mut self) {
        if self.line.chars().any(|c| windows_twin(c).is_some()) {
            self.line = self.line.chars().map(|c| windows_twin(c).unwrap_or(c)).collect();
        }
        let mut source = self.line.as_str();
        loop {
            let needed = self.encoder.max_buffer_length_from_utf8_without_replacement(source.len());
            self.buffer.reserve(needed.unwrap_or(source.len() * 2));
            let (result, read) =
                self.encoder.encode_from_utf8_to_vec_without_replacement(source, &mut self.buffer, false);
            source = &source[read..];
            match result {
                EncoderResult::InputEmpty => break,
                EncoderResult::OutputFull => {}
                EncoderResult::Unmappable(_) => {
                    self.buffer.push(b'?');
                    self.unmappable += 1;
                }
            }
        }
    }
}

/// Writes a whole export at once.
pub fn write_csv<S, R, F>(headers: &[S], rows: R, encoding: ExportEncoding) -> Export
where
    S: AsRef<str>,
    R: IntoIterator<Item = F>,
    F: IntoIterator,
    F::Item: AsRef<str>,
{
    let mut writer = CsvWriter::new(headers, encoding);
    for row in rows {
        writer.write_row(row);
    }
    writer.finish()
}

/// The field as it should reach Excel: with a leading `'` when it starts with `=`, `+`, `-`,
/// `@`, tab or CR (see the module documentation).
pub fn neutralise_formula(field: &str) -> Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{field}"))
    } else {
        Cow::Borrowed(field)
    }
}

/// Appends a field, neutralised and quoted when it holds a comma, a quote or a line break.
fn push_field(line: &mut String, field: &str) {
    let field = neutralise_formula(field);
    if field.contains([',', '"', '\r', '\n']) {
        line.push('"');
        for (index, part) in field.split('"').enumerate() {
            if index > 0 {
                line.push_str("\"\"");
            }
            line.push_str(part);
        }
        line.push('"');
    } else {
        line.push_str(&field);
    }
}

/// The Windows (CP932) twin of a character that encoding_rs only knows in its JIS form.
fn windows_twin(c: char) -> Option<char> {
    match c {
        '\u{301C}' => Some('\u{FF5E}'),
        '\u{2016}' => Some('\u{2225}'),
        '\u{2014}' => Some('\u{2015}'),
        '\u{00A2}' => Some('\u{FFE0}'),
        '\u{00A3}' => Some('\u{FFE1}'),
        '\u{00AC}' => Some('\u{FFE2}'),
        _ => None,
    }
}
