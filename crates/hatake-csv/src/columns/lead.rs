//! Lead columns: which lead field a header of a contact list holds.

use super::key::header_key;
use super::rules::{addresses_customer, contains_any, is_negative, name_part, strip_kana_marker, Decision, NamePart};
use super::ColumnKey;

/// A lead field a CSV column can be imported into. The keys ([`LeadColumn::as_str`]) are
/// hatake's lead field names where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadColumn {
    CompanyName,
    Department,
    Title,
    /// The whole name, split into family and given name by the importer.
    FullName,
    FamilyName,
    GivenName,
    FullNameKana,
    FamilyNameKana,
    GivenNameKana,
    Email,
    Phone,
    Mobile,
    PostalCode,
    Prefecture,
    /// May be mapped from several columns (住所1, 住所2), joined in column order.
    Address,
    CorporateNumber,
    Website,
    Industry,
    EmployeeCount,
    /// May be mapped from several columns (備考1, 備考2), joined in column order.
    Note,
    Product,
    Source,
    /// The seller's person in charge (担当者).
    Owner,
    /// Chosen by the user to skip a column on purpose; never guessed.
    Ignore,
}

use LeadColumn as L;

impl ColumnKey for LeadColumn {
    const ALL: &'static [Self] = &[
        L::CompanyName,
        L::Department,
        L::Title,
        L::FullName,
        L::FamilyName,
        L::GivenName,
        L::FullNameKana,
        L::FamilyNameKana,
        L::GivenNameKana,
        L::Email,
        L::Phone,
        L::Mobile,
        L::PostalCode,
        L::Prefecture,
        L::Address,
        L::CorporateNumber,
        L::Website,
        L::Industry,
        L::EmployeeCount,
        L::Note,
        L::Product,
        L::Source,
        L::Owner,
        L::Ignore,
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
        matches!(self, L::Address | L::Note | L::Ignore)
    }

    fn guess(header: &str) -> Option<Self> {
        guess_column(header)
    }
}

impl LeadColumn {
    /// The key, the Japanese label and the English label.
    fn labels(self) -> (&'static str, &'static str, &'static str) {
        match self {
            L::CompanyName => ("company_name", "会社名", "Company"),
            L::Department => ("department", "部署", "Department"),
            L::Title => ("title", "役職", "Title"),
            L::FullName => ("full_name", "氏名", "Full name"),
            L::FamilyName => ("family_name", "姓", "Last name"),
            L::GivenName => ("given_name", "名", "First name"),
            L::FullNameKana => ("full_name_kana", "氏名（フリガナ）", "Full name (kana)"),
            L::FamilyNameKana => ("family_name_kana", "姓（フリガナ）", "Last name (kana)"),
            L::GivenNameKana => ("given_name_kana", "名（フリガナ）", "First name (kana)"),
            L::Email => ("email", "メールアドレス", "E-mail"),
            L::Phone => ("phone", "電話番号", "Phone"),
            L::Mobile => ("mobile", "携帯電話", "Mobile"),
            L::PostalCode => ("postal_code", "郵便番号", "Postal code"),
            L::Prefecture => ("prefecture", "都道府県", "Prefecture"),
            L::Address => ("address", "住所", "Address"),
            L::CorporateNumber => ("corporate_number", "法人番号", "Corporate number"),
            L::Website => ("website", "Webサイト", "Website"),
            L::Industry => ("industry", "業種", "Industry"),
            L::EmployeeCount => ("employee_count", "従業員数", "Employees"),
            L::Note => ("note", "備考", "Note"),
            L::Product => ("product", "製品", "Product"),
            L::Source => ("source", "流入元", "Source"),
            L::Owner => ("owner", "担当者", "Owner"),
            L::Ignore => ("ignore", "取り込まない", "Ignore"),
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

/// Exact matches on normalised keys (see [`super::key`]): lower case, no spaces or punctuation.
const SYNONYMS: &[(&str, LeadColumn)] = &[
    ("会社名", L::CompanyName),
    ("会社", L::CompanyName),
    ("企業名", L::CompanyName),
    ("社名", L::CompanyName),
    ("法人名", L::CompanyName),
    ("団体名", L::CompanyName),
    ("組織名", L::CompanyName),
    ("会社名団体名", L::CompanyName),
    ("貴社名", L::CompanyName),
    ("御社名", L::CompanyName),
    ("勤務先", L::CompanyName),
    ("勤務先名", L::CompanyName),
    ("所属先", L::CompanyName),
    ("取引先名", L::CompanyName),
    ("company", L::CompanyName),
    ("companyname", L::CompanyName),
    ("organization", L::CompanyName),
    ("organisation", L::CompanyName),
    ("accountname", L::CompanyName),
    ("部署", L::Department),
    ("部署名", L::Department),
    ("部門", L::Department),
    ("所属", L::Department),
    ("所属部署", L::Department),
    ("部課", L::Department),
    ("department", L::Department),
    ("dept", L::Department),
    ("division", L::Department),
    ("役職", L::Title),
    ("役職名", L::Title),
    ("肩書", L::Title),
    ("肩書き", L::Title),
    ("職位", L::Title),
    ("title", L::Title),
    ("jobtitle", L::Title),
    ("position", L::Title),
    ("氏名", L::FullName),
    ("名前", L::FullName),
    ("お名前", L::FullName),
    ("姓名", L::FullName),
    ("ご担当者名", L::FullName),
    ("ご担当者様名", L::FullName),
    ("ご担当者氏名", L::FullName),
    ("name", L::FullName),
    ("fullname", L::FullName),
    ("contactname", L::FullName),
    ("姓", L::FamilyName),
    ("苗字", L::FamilyName),
    ("名字", L::FamilyName),
    ("lastname", L::FamilyName),
    ("surname", L::FamilyName),
    ("familyname", L::FamilyName),
    ("名", L::GivenName),
    ("firstname", L::GivenName),
    ("givenname", L::GivenName),
    ("フリガナ", L::FullNameKana),
    ("ふりがな", L::FullNameKana),
    ("セイメイ", L::FullNameKana),
    ("氏名カナ", L::FullNameKana),
    ("氏名フリガナ", L::FullNameKana),
    ("セイ", L::FamilyNameKana),
    ("姓カナ", L::FamilyNameKana),
    ("姓フリガナ", L::FamilyNameKana),
    ("メイ", L::GivenNameKana),
    ("名カナ", L::GivenNameKana),
    ("名フリガナ", L::GivenNameKana),
    ("メールアドレス", L::Email),
    ("メール", L::Email),
    ("eメール", L::Email),
    ("eメールアドレス", L::Email),
    ("email", L::Email),
    ("emailaddress", L::Email),
    ("mail", L::Email),
    ("mailaddress", L::Email),
    ("電話番号", L::Phone),
    ("電話", L::Phone),
    ("tel", L::Phone),
    ("telno", L::Phone),
    ("phone", L::Phone),
    ("phonenumber", L::Phone),
    ("telephone", L::Phone),
    ("代表電話番号", L::Phone),
    ("携帯", L::Mobile),
    ("携帯電話", L::Mobile),
    ("携帯電話番号", L::Mobile),
    ("携帯番号", L::Mobile),
    ("mobile", L::Mobile),
    ("mobilephone", L::Mobile),
    ("cell", L::Mobile),
    ("cellphone", L::Mobile),
    ("郵便番号", L::PostalCode),
    ("〒", L::PostalCode),
    ("zip", L::PostalCode),
    ("zipcode", L::PostalCode),
    ("postalcode", L::PostalCode),
    ("postcode", L::PostalCode),
    ("都道府県", L::Prefecture),
    ("都道府県名", L::Prefecture),
    ("prefecture", L::Prefecture),
    ("state", L::Prefecture),
    ("stateprovince", L::Prefecture),
    ("住所", L::Address),
    ("所在地", L::Address),
    ("住所1", L::Address),
    ("住所2", L::Address),
    ("住所3", L::Address),
    ("市区町村", L::Address),
    ("番地", L::Address),
    ("建物名", L::Address),
    ("address", L::Address),
    ("address1", L::Address),
    ("address2", L::Address),
    ("street", L::Address),
    ("streetaddress", L::Address),
    ("city", L::Address),
    ("法人番号", L::CorporateNumber),
    ("url", L::Website),
    ("ホームページ", L::Website),
    ("hp", L::Website),
    ("webサイト", L::Website),
    ("website", L::Website),
    ("web", L::Website),
    ("業種", L::Industry),
    ("業界", L::Industry),
    ("industry", L::Industry),
    ("従業員数", L::EmployeeCount),
    ("社員数", L::EmployeeCount),
    ("employees", L::EmployeeCount),
    ("numberofemployees", L::EmployeeCount),
    ("備考", L::Note),
    ("メモ", L::Note),
    ("コメント", L::Note),
    ("note", L::Note),
    ("notes", L::Note),
    ("memo", L::Note),
    ("comment", L::Note),
    ("comments", L::Note),
    ("製品", L::Product),
    ("商材", L::Product),
    ("興味のある製品", L::Product),
    ("product", L::Product),
    ("流入元", L::Source),
    ("獲得経路", L::Source),
    ("リードソース", L::Source),
    ("source", L::Source),
    ("leadsource", L::Source),
    ("担当者", L::Owner),
    ("担当", L::Owner),
    ("担当者名", L::Owner),
    ("営業担当", L::Owner),
    ("owner", L::Owner),
    ("leadowner", L::Owner),
];

/// Containment rules, tried in order after the exact matches fail. The order matters:
/// 「会社電話番号」 is a phone number and 「担当者メールアドレス」 an e-mail address.
const CONTAINS: &[(&[&str], LeadColumn)] = &[
    (&["メール", "mail"], L::Email),
    (&["携帯", "mobile", "cell"], L::Mobile),
    (&["電話", "tel", "phone"], L::Phone),
    (&["郵便", "〒", "zip", "postal", "postcode"], L::PostalCode),
    (&["法人番号", "corporatenumber"], L::CorporateNumber),
    (&["url", "ホームページ", "website", "webサイト", "ウェブサイト", "homepage", "ドメイン", "domain"], L::Website),
    (&["都道府県", "prefecture"], L::Prefecture),
    (&["住所", "所在地", "address", "番地", "建物", "ビル名", "部屋番号", "street"], L::Address),
    (&["従業員", "社員数", "employee"], L::EmployeeCount),
    (&["業種", "業界", "industry"], L::Industry),
    (&["部署", "部門", "所属", "department", "division"], L::Department),
    (&["役職", "肩書", "職位", "jobtitle", "position"], L::Title),
    (&["製品", "商品", "商材", "product"], L::Product),
    (&["流入", "経路", "きっかけ", "source", "展示会", "イベント", "セミナー", "event", "campaign"], L::Source),
    (&["備考", "メモ", "コメント", "問い合わせ", "質問", "要望", "note", "memo", "comment", "remark"], L::Note),
];

/// Words of a company (organisation) name column.
pub(crate) const COMPANY_WORDS: &[&str] =
    &["会社", "企業", "法人", "団体", "組織", "勤務先", "company", "organization", "organisation", "corporat"];

/// Guesses the lead column of a header: exact synonyms first, then containment rules, on the
/// header's key with meaningful bracketed text (「姓（カナ）」) and then without any.
pub fn guess_column(header: &str) -> Option<LeadColumn> {
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

fn contained(key: &str) -> Decision<LeadColumn> {
    if key.is_empty() || is_negative(key) {
        return Decision::Nothing;
    }
    if let Some(rest) = strip_kana_marker(key) {
        if contains_any(&rest, COMPANY_WORDS) || contains_any(&rest, &["住所", "所在地", "部署", "address"]) {
            return Decision::Nothing;
        }
        return match name_part(&rest) {
            Some((part, _)) => Decision::Column(name_column(part, true)),
            None => Decision::Nothing,
        };
    }
    if let Some((_, column)) = CONTAINS.iter().find(|(words, _)| contains_any(key, words)) {
        return Decision::Column(*column);
    }
    if key.contains("担当") {
        if !addresses_customer(key) {
            return Decision::Column(L::Owner);
        }
        if let Some((part, kana)) = name_part(key) {
            return Decision::Column(name_column(part, kana));
        }
    }
    if contains_any(key, COMPANY_WORDS) {
        return Decision::Column(L::CompanyName);
    }
    if contains_any(key, &["owner", "salesrep"]) {
        return Decision::Column(L::Owner);
    }
    match name_part(key) {
        Some((part, kana)) => Decision::Column(name_column(part, kana)),
        None => Decision::Unknown,
    }
}

fn name_column(part: NamePart, kana: bool) -> LeadColumn {
    match (part, kana) {
        (NamePart::Full, false) => L::FullName,
        (NamePart::Family, false) => L::FamilyName,
        (NamePart::Given, false) => L::GivenName,
        (NamePart::Full, true) => L::FullNameKana,
        (NamePart::Family, true) => L::FamilyNameKana,
        (NamePart::Given, true) => L::GivenNameKana,
    }
}

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
        for column in LeadColumn::ALL {
            assert_eq!(LeadColumn::parse(column.as_str()), Some(*column));
        }
    }
}
