//! Reading the rows of a CSV text: delimiter detection, the header row, blank rows, rows with
//! the wrong number of columns and syntax errors, each row with the line it starts on.
//!
//! [`RowReader`] streams rows without copying their fields (a field borrows from the text unless
//! it had to be unescaped); [`read_all`] collects everything into owned strings for small files
//! and tests.

use crate::split::{Splitter, Unterminated};
use std::borrow::Cow;

/// The character between fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delimiter {
    Comma,
    Tab,
    Semicolon,
}

impl Delimiter {
    pub const ALL: [Delimiter; 3] = [Delimiter::Comma, Delimiter::Tab, Delimiter::Semicolon];

    pub fn as_byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Tab => b'\t',
            Delimiter::Semicolon => b';',
        }
    }

    /// Picks the delimiter that occurs most often, outside quotes, in the first line holding
    /// anything but whitespace and delimiters (the header). Ties go to comma, then tab; a line
    /// with none of them (a one-column file) is read as comma-separated.
    pub fn detect(text: &str) -> Delimiter {
        let mut counts = [0usize; 3];
        let mut in_quotes = false;
        let mut has_content = false;
        for b in text.bytes() {
            match b {
                b'"' => {
                    in_quotes = !in_quotes;
                    has_content = true;
                }
                b'\n' | b'\r' if !in_quotes => {
                    if has_content {
                        break;
                    }
                    counts = [0; 3];
                }
                _ if in_quotes => {}
                b',' => counts[0] += 1,
                b'\t' => counts[1] += 1,
                b';' => counts[2] += 1,
                b' ' => {}
                _ => has_content = true,
            }
        }
        let mut best = Delimiter::Comma;
        for (delimiter, count) in Delimiter::ALL.into_iter().zip(counts) {
            if count > counts[best as usize] {
                best = delimiter;
            }
        }
        best
    }
}

/// The header row: the first row with any non-blank field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The names as written (trimmed); they may be empty or repeated.
    pub raw: Vec<String>,
    /// The line the header row starts on.
    pub line: usize,
}

impl Headers {
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Names that tell the columns apart: an empty name becomes 「列3」 (`ja`) or "column 3"
    /// (other locales) after its 1-based position; a repeated name gets " (2)", " (3)", … from
    /// its second occurrence on.
    pub fn unique_names(&self, locale: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::with_capacity(self.raw.len());
        for (index, raw) in self.raw.iter().enumerate() {
            let base = if raw.is_empty() {
                if locale == "ja" {
                    format!("列{}", index + 1)
                } else {
                    format!("column {}", index + 1)
                }
            } else {
                raw.clone()
            };
            let mut name = base.clone();
            let mut occurrence = 1;
            while names.contains(&name) || (name != base && self.raw.contains(&name)) {
                occurrence += 1;
                name = format!("{base} ({occurrence})");
            }
            names.push(name);
        }
        names
    }
}

/// A row whose number of fields differs from the header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongColumnCount {
    pub expected: usize,
    pub actual: usize,
}

impl WrongColumnCount {
    pub fn message_ja(&self) -> String {
        format!("列数が違います: 期待 {}, 実際 {}", self.expected, self.actual)
    }

    pub fn message_en(&self) -> String {
        format!("Wrong number of columns: expected {}, got {}", self.expected, self.actual)
    }

    /// The message in the given locale (`ja` or anything else for English).
    pub fn message(&self, locale: &str) -> String {
        if locale == "ja" {
            self.message_ja()
        } else {
            self.message_en()
        }
    }
}

/// Why a CSV text could not be read (further).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the file has no rows")]
    Empty,
    #[error("line {line}, column {column}: a quoted field is not closed")]
    UnterminatedQuote { line: usize, column: usize },
}

impl ReadError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::Empty => "csv_empty",
            ReadError::UnterminatedQuote { .. } => "csv_unterminated_quote",
        }
    }

    /// The line the problem is on, if it is on one.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Empty => None,
            ReadError::UnterminatedQuote { line, .. } => Some(*line),
        }
    }

    pub fn message_ja(&self) -> String {
        match self {
            ReadError::Empty => "ファイルにデータがありません。".to_owned(),
            ReadError::UnterminatedQuote { line, column } => {
                format!("{line}行目の{column}列目で、引用符（\"）で始まる項目が閉じられていません。")
            }
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            ReadError::Empty => "The file has no data.".to_owned(),
            ReadError::UnterminatedQuote { line, column } => {
                format!("Line {line}, column {column}: a field starting with a quote (\") is never closed.")
            }
        }
    }
}

impl From<Unterminated> for ReadError {
    fn from(error: Unterminated) -> Self {
        ReadError::UnterminatedQuote { line: error.line, column: error.column }
    }
}

/// One data row, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Row<'r> {
    /// The 1-based line the row starts on (a quoted field may span several lines).
    pub line: usize,
    /// Set when the row's field count differs from the header's; a short row is padded with
    /// empty fields, a long row keeps its extra fields.
    pub wrong_columns: Option<WrongColumnCount>,
    fields: &'r [Cow<'r, str>],
}

impl<'r> Row<'r> {
    /// The field at a 0-based column, or "" past the end.
    pub fn get(&self, column: usize) -> &'r str {
        self.fields.get(column).map_or("", |field| field.as_ref())
    }

    /// The number of fields: at least the header's.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'r str> + 'r {
        self.fields.iter().map(|field| field.as_ref())
    }

    pub fn to_owned_row(&self) -> OwnedRow {
        OwnedRow {
            line: self.line,
            fields: self.iter().map(str::to_owned).collect(),
            wrong_columns: self.wrong_columns,
        }
    }
}

/// A row with its own strings, as collected by [`read_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRow {
    pub line: usize,
    pub fields: Vec<String>,
    pub wrong_columns: Option<WrongColumnCount>,
}

/// Counts gathered while reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Data rows returned (the header not included).
    pub rows: usize,
    /// Rows skipped because every field was blank, before and after the header.
    pub blank_rows: usize,
    /// Rows returned with [`Row::wrong_columns`] set.
    pub wrong_column_rows: usize,
}

/// Streams the data rows of a CSV text.
///
/// ```
/// let mut reader = hatake_csv::RowReader::new("会社名,氏名\nはたけ商事,山田 太郎\n").unwrap();
/// while let Some(row) = reader.next_row() {
///     let row = row.unwrap();
///     assert_eq!((row.line, row.get(1)), (2, "山田 太郎"));
/// }
/// ```
pub struct RowReader<'a> {
    splitter: Splitter<'a>,
    delimiter: Delimiter,
    headers: Headers,
    fields: Vec<Cow<'a, str>>,
    stats: ReadStats,
}

impl<'a> RowReader<'a> {
    /// Reads the header row with a detected delimiter.
    ///
    /// # Errors
    /// [`ReadError::Empty`] when no row has any content, or a syntax error in the header.
    pub fn new(text: &'a str) -> Result<Self, ReadError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        Self::with_delimiter(text, Delimiter::detect(text))
    }

    /// Reads the header row with the given delimiter.
    ///
    /// # Errors
    /// See [`RowReader::new`].
    pub fn with_delimiter(text: &'a str, delimiter: Delimiter) -> Result<Self, ReadError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let mut splitter = Splitter::new(text, delimiter.as_byte());
        let mut fields = Vec::new();
        let mut stats = ReadStats::default();
        loop {
            let line = splitter.next_record(&mut fields).ok_or(ReadError::Empty)??;
            if is_blank(&fields) {
                stats.blank_rows += 1;
                continue;
            }
            let headers = Headers { raw: fields.iter().map(|f| f.to_string()).collect(), line };
            return Ok(Self { splitter, delimiter, headers, fields, stats });
        }
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn delimiter(&self) -> Delimiter {
        self.delimiter
    }

    /// The counts so far; complete once [`RowReader::next_row`] has returned `None`.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The next data row, skipping blank ones. After an error the reader is at the end.
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, ReadError>> {
        let width = self.headers.len();
        loop {
            let line = match self.splitter.next_record(&mut self.fields)? {
                Ok(line) => line,
                Err(error) => return Some(Err(error.into())),
            };
            if is_blank(&self.fields) {
                self.stats.blank_rows += 1;
                continue;
            }
            let actual = self.fields.len();
            let wrong_columns = (actual != width).then_some(WrongColumnCount { expected: width, actual });
            if actual < width {
                self.fields.resize(width, Cow::Borrowed(""));
            }
            self.stats.rows += 1;
            self.stats.wrong_column_rows += usize::from(wrong_columns.is_some());
            return Some(Ok(Row { line, wrong_columns, fields: &self.fields }));
        }
    }

    /// Calls `f` for every remaining data row and returns the final counts.
    ///
    /// # Errors
    /// The first syntax error; rows before it have been passed to `f`.
    pub fn for_each_row(mut self, mut f: impl FnMut(Row<'_>)) -> Result<ReadStats, ReadError> {
        while let Some(row) = self.next_row() {
            f(row?);
        }
        Ok(self.stats)
    }
}

fn is_blank(fields: &[Cow<'_, str>]) -> bool {
    fields.iter().all(|field| field.is_empty())
}

/// A whole CSV text read into memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub delimiter: Delimiter,
    pub headers: Headers,
    pub rows: Vec<OwnedRow>,
    pub stats: ReadStats,
}

/// Reads every row of a CSV text.
///
/// # Errors
/// See [`RowReader::new`] and [`RowReader::for_each_row`].
pub fn read_all(text: &str) -> Result<Table, ReadError> {
    let mut reader = RowReader::new(text)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row() {
        rows.push(row?.to_owned_row());
    }
    Ok(Table { delimiter: reader.delimiter, headers: reader.headers.clone(), rows, stats: reader.stats })
}
