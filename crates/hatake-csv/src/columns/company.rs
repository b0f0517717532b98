//! Company columns: which account field a header of a company list holds.

use super::key::header_key;
use super::lead::COMPANY_WORDS;
use super::rules::{contains_any, is_negative, strip_kana_marker, Decision};
use super::ColumnKey;

/// An account (company) field a CSV column can be imported into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompanyColumn {
    Name,
    CorporateNumber,
    /// A domain name or a website address, reduced to its host by the importer.
    Domain,
    Industry,
    EmployeeCount,
    AnnualRevenue,
    Prefecture,
    /// May be mapped from several columns, joined in column order.
    Address,
    PostalCode,
    /// The reading of the company name.
    Furigana,
    /// Chosen by the user to skip a column on purpose; never guessed.
    Ignore,
}

use CompanyColumn as C;

impl ColumnKey for CompanyColumn {
    const ALL: &'static [Self] = &[
        C::Name,
        C::CorporateNumber,
        C::Domain,
        C::Industry,
        C::EmployeeCount,
        C::AnnualRevenue,
        C::Prefecture,
        C::Address,
        C::PostalCode,
        C::Furigana,
        C::Ignore,
    ];

    fn as_str(self) -> &'static str {
        self.labels().0
    }

    fn label_ja(self) -> &'static str {
        self.labels().1
    }

    fn label_en(self) -> &'static str {
        self.labels().2
    }

    fn may_repeat(self) -> bool {
        matches!(self, C::Address | C::Ignore)
    }

    fn guess(header: &str) -> Option<Self> {
        guess_company_column(header)
    }
}

impl CompanyColumn {
    /// The key, the Japanese label and the English label.
    fn labels(self) -> (&'static str, &'static str, &'static str) {
        match self {
            C::Name => ("name", "会社名", "Company name"),
            C::CorporateNumber => ("corporate_number", "法人番号", "Corporate number"),
            C::Domain => ("domain", "ドメイン・Webサイト", "Domain / website"),
            C::Industry => ("industry", "業種", "Industry"),
            C::EmployeeCount => ("employee_count", "従業員数", "Employees"),
            C::AnnualRevenue => ("annual_revenue", "売上高", "Annual revenue"),
            C::Prefecture => ("prefecture", "都道府県", "Prefecture"),
            C::Address => ("address", "住所", "Address"),
            C::PostalCode => ("postal_code", "郵便番号", "Postal code"),
            C::Furigana => ("furigana", "フリガナ", "Furigana"),
            C::Ignore => ("ignore", "取り込まない", "Ignore"),
        }
    }

    pub fn as_str(self) -> &'static str {
        ColumnKey::as_str(self)
    }

    /// The key's column, if `key` is one.
    pub fn parse(key: &str) -> Option<Self> {
        <Self as ColumnKey>::parse(key)
    }

    /// The label in the given locale (`ja` or anything else for English).
    pub fn label(self, locale: &str) -> &'static str {
        if locale == "ja" {
            self.label_ja()
        } else {
            self.label_en()
        }
    }
}

/// Exact matches on normalised keys.
const SYNONYMS: &[(&str, CompanyColumn)] = &[
    ("会社名", C::Name),
    ("会社", C::Name),
    ("企業名", C::Name),
    ("企業", C::Name),
    ("社名", C::Name),
    ("法人名", C::Name),
    ("商号", C::Name),
    ("商号又は名称", C::Name),
    ("名称", C::Name),
    ("団体名", C::Name),
    ("組織名", C::Name),
    ("取引先名", C::Name),
    ("取引先", C::Name),
    ("顧客名", C::Name),
    ("name", C::Name),
    ("company", C::Name),
    ("companyname", C::Name),
    ("accountname", C::Name),
    ("organization", C::Name),
    ("organisation", C::Name),
    ("法人番号", C::CorporateNumber),
    ("corporatenumber", C::CorporateNumber),
    ("ドメイン", C::Domain),
    ("url", C::Domain),
    ("ホームページ", C::Domain),
    ("hp", C::Domain),
    ("webサイト", C::Domain),
    ("web", C::Domain),
    ("website", C::Domain),
    ("domain", C::Domain),
    ("業種", C::Industry),
    ("業界", C::Industry),
    ("industry", C::Industry),
    ("従業員数", C::EmployeeCount),
    ("社員数", C::EmployeeCount),
    ("employees", C::EmployeeCount),
    ("numberofemployees", C::EmployeeCount),
    ("headcount", C::EmployeeCount),
    ("売上高", C::AnnualRevenue),
    ("売上", C::AnnualRevenue),
    ("年商", C::AnnualRevenue),
    ("年間売上", C::AnnualRevenue),
    ("annualrevenue", C::AnnualRevenue),
    ("revenue", C::AnnualRevenue),
    ("sales", C::AnnualRevenue),
    ("都道府県", C::Prefecture),
    ("prefecture", C::Prefecture),
    ("state", C::Prefecture),
    ("住所", C::Address),
    ("所在地", C::Address),
    ("本社所在地", C::Address),
    ("市区町村", C::Address),
    ("番地", C::Address),
    ("address", C::Address),
    ("street", C::Address),
    ("city", C::Address),
    ("郵便番号", C::PostalCode),
    ("〒", C::PostalCode),
    ("zip", C::PostalCode),
    ("zipcode", C::PostalCode),
    ("postalcode", C::PostalCode),
    ("postcode", C::PostalCode),
    ("フリガナ", C::Furigana),
    ("ふりがな", C::Furigana),
    ("カナ", C::Furigana),
    ("kana", C::Furigana),
    ("furigana", C::Furigana),
];

/// Containment rules, tried in order after the exact matches fail.
const CONTAINS: &[(&[&str], CompanyColumn)] = &[
    (&["url", "ホームページ", "website", "webサイト", "ウェブサイト", "homepage", "ドメイン", "domain"], C::Domain),
    (&["法人番号", "corporatenumber"], C::CorporateNumber),
    (&["郵便", "〒", "zip", "postal", "postcode"], C::PostalCode),
    (&["都道府県", "prefecture"], C::Prefecture),
    (&["住所", "所在地", "address", "番地", "建物", "ビル名", "部屋番号", "street"], C::Address),
    (&["従業員", "社員数", "employee"], C::EmployeeCount),
    (&["売上", "年商", "revenue"], C::AnnualRevenue),
    (&["業種", "業界", "industry"], C::Industry),
];

/// Guesses the company column of a header, like [`super::guess_column`] does for leads.
pub fn guess_company_column(header: &str) -> Option<CompanyColumn> {
    let key = header_key(header);
    for candidate in key.candidates() {
        if let Some((_, column)) = SYNONYMS.iter().find(|(synonym, _)| *synonym == candidate) {
            return Some(*column);
        }
        match contained(candidate) {
            Decision::Column(column) => return Some(column),
            Decision::Nothing => return None,
            Decision::Unknown => {}
        }
    }
    None
}

fn contained(key: &str) -> Decision<CompanyColumn> {
    if key.is_empty() || is_negative(key) {
        return Decision::Nothing;
    }
    if let Some(rest) = strip_kana_marker(key) {
        let names_company = rest.is_empty() || contains_any(&rest, COMPANY_WORDS) || contains_any(&rest, NAME_WORDS);
        return if names_company { Decision::Column(C::Furigana) } else { Decision::Nothing };
    }
    if let Some((_, column)) = CONTAINS.iter().find(|(words, _)| contains_any(key, words)) {
        return Decision::Column(*column);
    }
    if contains_any(key, COMPANY_WORDS) || contains_any(key, NAME_WORDS) {
        return Decision::Column(C::Name);
    }
    Decision::Unknown
}

/// Words of a name column in a company list.
const NAME_WORDS: &[&str] = &["名称", "商号", "社名", "取引先", "顧客名", "name"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_are_written_as_normalised_keys() {
        for (synonym, _) in SYNONYMS {
            assert_eq!(header_key(synonym).full, *synonym);
        }
    }

    #[test]
    fn keys_round_trip() {
        for column in CompanyColumn::ALL {
            assert_eq!(CompanyColumn::parse(column.as_str()), Some(*column));
        }
    }
}
