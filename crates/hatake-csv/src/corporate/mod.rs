//! The corporate-number bulk file (国税庁 法人番号公表サイト 「基本3情報」 全件データ, CSV形式).
//!
//! The file has no header row and 30 columns in the published order listed in
//! [`codes::COLUMNS`]; it comes as UTF-8 or Shift_JIS (decode it with [`crate::decode`] first).
//! [`is_corporate_bulk_file`] tells it apart from a company list with a header, and
//! [`read_corporate`] turns each row into a [`CorporateRecord`] or a [`RowProblem`] naming the
//! line and field.

pub mod codes;

use crate::read::WrongColumnCount;
use crate::split::Splitter;
use codes::{is_date, kind_label, COLUMNS};
use hatake_domain::CorporateNumber;
use std::borrow::Cow;

/// The number of columns of the bulk file.
pub const COLUMN_COUNT: usize = 30;

/// One row of the bulk file: a corporation as registered, or one step of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorporateRecord {
    /// 一連番号.
    pub sequence: u64,
    /// 法人番号, with a verified check digit.
    pub corporate_number: CorporateNumber,
    /// 処理区分 ("01" 新規, "71" 吸収合併, …; see [`codes::process_label`]).
    pub process: String,
    /// 更新年月日 (YYYY-MM-DD).
    pub update_date: String,
    /// 変更年月日 (YYYY-MM-DD).
    pub change_date: Option<String>,
    /// 商号又は名称.
    pub name: String,
    /// フリガナ.
    pub furigana: Option<String>,
    /// 法人種別 ("301", …).
    pub kind_code: String,
    /// The label of the kind ("株式会社"), when the code is a published one.
    pub kind: Option<&'static str>,
    /// 国内所在地（都道府県）.
    pub prefecture: Option<String>,
    /// 国内所在地（市区町村）.
    pub city: Option<String>,
    /// 国内所在地（丁目番地等）.
    pub street: Option<String>,
    /// 郵便番号 as "100-0001".
    pub postal_code: Option<String>,
    /// 国外所在地.
    pub address_outside: Option<String>,
    /// 登記記録の閉鎖等年月日 (YYYY-MM-DD).
    pub close_date: Option<String>,
    /// 登記記録の閉鎖等の事由 ("01" 清算の結了等, "11" 合併による解散等, …).
    pub close_cause: Option<String>,
    /// 承継先法人番号: the corporation this one merged into.
    pub successor: Option<CorporateNumber>,
    /// 法人番号指定年月日 (YYYY-MM-DD).
    pub assignment_date: Option<String>,
    /// 最新履歴: whether this row is the corporation's current state.
    pub latest: bool,
    /// 商号又は名称（英語表記）.
    pub en_name: Option<String>,
    /// 検索対象除外: the corporation asked not to be shown in search results.
    pub excluded: bool,
}

impl CorporateRecord {
    /// Whether the registration is closed (dissolved, merged away, …).
    pub fn is_closed(&self) -> bool {
        self.close_date.is_some()
    }

    /// The domestic address as one string: prefecture, city and street.
    pub fn address(&self) -> String {
        [&self.prefecture, &self.city, &self.street].into_iter().flatten().map(String::as_str).collect()
    }
}

/// Why one row of the bulk file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, {field}: {reason_en}")]
pub struct RowProblem {
    /// The 1-based line the row starts on.
    pub line: usize,
    /// The record field at fault (`corporate_number`, `update_date`, …) or `row`.
    pub field: &'static str,
    pub reason_ja: String,
    pub reason_en: String,
}

/// Whether a file's first row looks like the bulk file rather than a header: 30 fields, the
/// first a number and the second a valid corporate number.
pub fn is_corporate_bulk_file<S: AsRef<str>>(first_row: &[S]) -> bool {
    first_row.len() == COLUMN_COUNT
        && is_number(first_row[0].as_ref())
        && first_row[1].as_ref().len() == 13
        && CorporateNumber::parse(first_row[1].as_ref()).is_ok()
}

/// Reads the rows of a decoded bulk file; blank lines are skipped.
pub fn read_corporate(text: &str) -> CorporateReader<'_> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    CorporateReader { splitter: Splitter::new(text, b','), fields: Vec::with_capacity(COLUMN_COUNT) }
}

/// The rows of a bulk file, one [`CorporateRecord`] or [`RowProblem`] each.
pub struct CorporateReader<'a> {
    splitter: Splitter<'a>,
    fields: Vec<Cow<'a, str>>,
}

impl Iterator for CorporateReader<'_> {
    type Item = Result<CorporateRecord, RowProblem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.splitter.next_record(&mut self.fields)? {
                Ok(line) => line,
                Err(error) => {
                    let error = crate::read::ReadError::from(error);
                    return Some(Err(RowProblem {
                        line: error.line().unwrap_or(0),
                        field: "row",
                        reason_ja: error.message_ja(),
                        reason_en: error.message_en(),
                    }));
                }
            };
            if self.fields.iter().all(|field| field.is_empty()) {
                continue;
            }
            return Some(parse_record(line, &self.fields));
        }
    }
}

fn parse_record(line: usize, fields: &[Cow<'_, str>]) -> Result<CorporateRecord, RowProblem> {
    if fields.len() != COLUMN_COUNT {
        let wrong = WrongColumnCount { expected: COLUMN_COUNT, actual: fields.len() };
        return Err(RowProblem { line, field: "row", reason_ja: wrong.message_ja(), reason_en: wrong.message_en() });
    }
    let row = RowFields { line, fields };
    let sequence =
        row.get(0).parse::<u64>().map_err(|_| row.problem(0, "sequence", "数値ではありません", "not a number"))?;
    let corporate_number =
        row.corporate_number(1, "corporate_number")?.ok_or_else(|| row.missing(1, "corporate_number"))?;
    let name = row.optional(6).ok_or_else(|| row.missing(6, "name"))?;
    let kind_code = row.get(8).to_owned();
    Ok(CorporateRecord {
        sequence,
        process: row.get(2).to_owned(),
        update_date: row.date(4, "update_date")?.ok_or_else(|| row.missing(4, "update_date"))?,
        change_date: row.date(5, "change_date")?,
        name,
        furigana: row.optional(28),
        kind: kind_label(&kind_code),
        kind_code,
        prefecture: row.optional(9),
        city: row.optional(10),
        street: row.optional(11),
        postal_code: row.postal_code(15)?,
        address_outside: row.optional(16),
        close_date: row.date(18, "close_date")?,
        close_cause: row.optional(19),
        successor: row.corporate_number(20, "successor")?,
        assignment_date: row.date(22, "assignment_date")?,
        latest: row.flag(23, "latest", false)?,
        en_name: row.optional(24),
        excluded: row.flag(29, "excluded", true)?,
        corporate_number,
    })
}

/// The fields of one row, with helpers that name the column in their problems.
struct RowFields<'r> {
    line: usize,
    fields: &'r [Cow<'r, str>],
}

impl RowFields<'_> {
    fn get(&self, index: usize) -> &str {
        &self.fields[index]
    }

    fn optional(&self, index: usize) -> Option<String> {
        Some(self.get(index)).filter(|text| !text.is_empty()).map(str::to_owned)
    }

    fn problem(&self, index: usize, field: &'static str, reason_ja: &str, reason_en: &str) -> RowProblem {
        let (name_ja, name_en) = COLUMNS[index];
        let value = self.get(index);
        RowProblem {
            line: self.line,
            field,
            reason_ja: format!("{}（{}列目）: {reason_ja}: {value}", name_ja, index + 1),
            reason_en: format!("{} (column {}): {reason_en}: {value}", name_en, index + 1),
        }
    }

    fn missing(&self, index: usize, field: &'static str) -> RowProblem {
        let (name_ja, name_en) = COLUMNS[index];
        RowProblem {
            line: self.line,
            field,
            reason_ja: format!("{}（{}列目）がありません。", name_ja, index + 1),
            reason_en: format!("{} (column {}) is missing.", name_en, index + 1),
        }
    }

    fn corporate_number(&self, index: usize, field: &'static str) -> Result<Option<CorporateNumber>, RowProblem> {
        let text = self.get(index);
        if text.is_empty() {
            return Ok(None);
        }
        CorporateNumber::parse_field(text, field).map(Some).map_err(|error| {
            let (name_ja, name_en) = COLUMNS[index];
            RowProblem {
                line: self.line,
                field,
                reason_ja: format!("{}（{}列目）: {} {text}", name_ja, index + 1, error.message_ja),
                reason_en: format!("{} (column {}): {} {text}", name_en, index + 1, error.message_en),
            }
        })
    }

    fn date(&self, index: usize, field: &'static str) -> Result<Option<String>, RowProblem> {
        match self.get(index) {
            "" => Ok(None),
            text if is_date(text) => Ok(Some(text.to_owned())),
            _ => Err(self.problem(
                index,
                field,
                "日付は YYYY-MM-DD の形で書かれている必要があります",
                "not a YYYY-MM-DD date",
            )),
        }
    }

    /// A 0/1 flag; blank is allowed only where `blank_is_false`.
    fn flag(&self, index: usize, field: &'static str, blank_is_false: bool) -> Result<bool, RowProblem> {
        match self.get(index) {
            "1" => Ok(true),
            "0" => Ok(false),
            "" if blank_is_false => Ok(false),
            _ => Err(self.problem(index, field, "0 か 1 である必要があります", "must be 0 or 1")),
        }
    }

    /// A 7-digit postal code, written "100-0001".
    fn postal_code(&self, index: usize) -> Result<Option<String>, RowProblem> {
        let digits: String = self.get(index).chars().filter(|c| *c != '-').collect();
        if digits.is_empty() {
            return Ok(None);
        }
        if digits.len() != 7 || !is_number(&digits) {
            return Err(self.problem(index, "postal_code", "7桁の数字である必要があります", "must be 7 digits"));
        }
        Ok(Some(format!("{}-{}", &digits[..3], &digits[3..])))
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}
