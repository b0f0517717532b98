//! Guessing company columns.

use hatake_csv::{guess_company_column, CompanyColumn as C};

#[test]
fn company_list_headers() {
    let cases = [
        ("会社名", Some(C::Name)),
        ("企業名", Some(C::Name)),
        ("商号又は名称", Some(C::Name)),
        ("取引先名", Some(C::Name)),
        ("Company Name", Some(C::Name)),
        ("Account Name", Some(C::Name)),
        ("法人番号", Some(C::CorporateNumber)),
        ("法人番号（13桁）", Some(C::CorporateNumber)),
        ("URL", Some(C::Domain)),
        ("ホームページURL", Some(C::Domain)),
        ("ドメイン", Some(C::Domain)),
        ("Website", Some(C::Domain)),
        ("業種", Some(C::Industry)),
        ("業種（大分類）", Some(C::Industry)),
        ("従業員数", Some(C::EmployeeCount)),
        ("Employees", Some(C::EmployeeCount)),
        ("売上高", Some(C::AnnualRevenue)),
        ("年商", Some(C::AnnualRevenue)),
        ("売上高（百万円）", Some(C::AnnualRevenue)),
        ("Annual Revenue", Some(C::AnnualRevenue)),
        ("都道府県", Some(C::Prefecture)),
        ("本社所在地", Some(C::Address)),
        ("住所", Some(C::Address)),
        ("郵便番号", Some(C::PostalCode)),
        ("〒", Some(C::PostalCode)),
        ("フリガナ", Some(C::Furigana)),
        ("会社名（フリガナ）", Some(C::Furigana)),
        ("企業名カナ", Some(C::Furigana)),
        ("住所カナ", None),
        ("設立年月日", None),
        ("代表者名", None),
        ("資本金", None),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter(|(header, expected)| guess_company_column(header) != *expected)
        .map(|(header, expected)| format!("{header:?}: expected {expected:?}, got {:?}", guess_company_column(header)))
        .collect();
    assert!(failures.is_empty(), "{} of {} wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
