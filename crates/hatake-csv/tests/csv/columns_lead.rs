//! Guessing lead columns from real-looking headers of Japanese and English exports.

use hatake_csv::{guess_column, LeadColumn as L};

#[test]
fn card_scan_exports() {
    // Business-card apps (Sansan / Eight style).
    let cases = [
        ("会社名", Some(L::CompanyName)),
        ("部署名", Some(L::Department)),
        ("役職", Some(L::Title)),
        ("氏名", Some(L::FullName)),
        ("姓", Some(L::FamilyName)),
        ("名", Some(L::GivenName)),
        ("姓（カナ）", Some(L::FamilyNameKana)),
        ("名（カナ）", Some(L::GivenNameKana)),
        ("氏名（カナ）", Some(L::FullNameKana)),
        ("e-mail", Some(L::Email)),
        ("TEL", Some(L::Phone)),
        ("FAX", None),
        ("携帯電話", Some(L::Mobile)),
        ("〒", Some(L::PostalCode)),
        ("住所1", Some(L::Address)),
        ("住所2", Some(L::Address)),
        ("URL", Some(L::Website)),
        ("名刺交換日", None),
        ("名刺所有者", None),
        ("メモ", Some(L::Note)),
        ("会社名（カナ）", None),
        ("登録日時", None),
    ];
    check(&cases);
}

#[test]
fn exhibition_and_seminar_exports() {
    let cases = [
        ("会社名・団体名", Some(L::CompanyName)),
        ("貴社名（必須）", Some(L::CompanyName)),
        ("ご担当者様氏名", Some(L::FullName)),
        ("ご担当者名", Some(L::FullName)),
        ("お名前（姓）", Some(L::FamilyName)),
        ("お名前（名）", Some(L::GivenName)),
        ("お名前（セイ）", Some(L::FamilyNameKana)),
        ("お名前（メイ）", Some(L::GivenNameKana)),
        ("フリガナ", Some(L::FullNameKana)),
        ("ふりがな", Some(L::FullNameKana)),
        ("セイ", Some(L::FamilyNameKana)),
        ("メイ", Some(L::GivenNameKana)),
        ("姓(フリガナ)", Some(L::FamilyNameKana)),
        ("メールアドレス（必須）", Some(L::Email)),
        ("【必須】メールアドレス", Some(L::Email)),
        ("Eメール", Some(L::Email)),
        ("ＰＣメールアドレス", Some(L::Email)),
        ("メール配信希望", None),
        ("電話番号（ハイフンなし）", Some(L::Phone)),
        ("電話番号(代表)", Some(L::Phone)),
        ("会社電話番号", Some(L::Phone)),
        ("携帯番号", Some(L::Mobile)),
        ("郵便番号", Some(L::PostalCode)),
        ("都道府県", Some(L::Prefecture)),
        ("住所", Some(L::Address)),
        ("所在地", Some(L::Address)),
        ("住所（番地・建物名）", Some(L::Address)),
        ("法人番号", Some(L::CorporateNumber)),
        ("ホームページ", Some(L::Website)),
        ("Webサイト", Some(L::Website)),
        ("業種", Some(L::Industry)),
        ("従業員数", Some(L::EmployeeCount)),
        ("社員数", Some(L::EmployeeCount)),
        ("従業員規模", Some(L::EmployeeCount)),
        ("備考", Some(L::Note)),
        ("お問い合わせ内容", Some(L::Note)),
        ("興味のある製品", Some(L::Product)),
        ("ご興味のある製品・サービス（複数選択可）", Some(L::Product)),
        ("商材", Some(L::Product)),
        ("流入元", Some(L::Source)),
        ("獲得経路", Some(L::Source)),
        ("展示会名", Some(L::Source)),
        ("担当者", Some(L::Owner)),
        ("担当者名", Some(L::Owner)),
        ("営業担当", Some(L::Owner)),
        ("部署", Some(L::Department)),
        ("所属部署", Some(L::Department)),
        ("役職名", Some(L::Title)),
        ("肩書き", Some(L::Title)),
        ("来場日", None),
        ("個人情報の取り扱いに同意する", None),
        ("No.", None),
        ("", None),
        ("アンケート回答", None),
        ("セイ（全角カナ）", Some(L::FamilyNameKana)),
        ("フリガナ（名）", Some(L::GivenNameKana)),
        ("ご担当者名（フリガナ）", Some(L::FullNameKana)),
        ("お客様名", Some(L::FullName)),
        ("担当者メールアドレス", Some(L::Email)),
        ("会社住所", Some(L::Address)),
        ("建物名・部屋番号", Some(L::Address)),
        ("所在地（都道府県）", Some(L::Prefecture)),
        ("会社FAX", None),
        ("セミナー名", Some(L::Source)),
        ("本セミナーを知ったきっかけ", Some(L::Source)),
        ("顧客ID", None),
        ("店舗名", None),
        ("代表者名", None),
    ];
    check(&cases);
}

#[test]
fn english_exports() {
    let cases = [
        ("Company", Some(L::CompanyName)),
        ("Company Name", Some(L::CompanyName)),
        ("Organization", Some(L::CompanyName)),
        ("Department", Some(L::Department)),
        ("Job Title", Some(L::Title)),
        ("Title", Some(L::Title)),
        ("Name", Some(L::FullName)),
        ("Full Name", Some(L::FullName)),
        ("First Name", Some(L::GivenName)),
        ("Last Name", Some(L::FamilyName)),
        ("Surname", Some(L::FamilyName)),
        ("Contact First Name", Some(L::GivenName)),
        ("Email", Some(L::Email)),
        ("E-mail Address", Some(L::Email)),
        ("Email Address", Some(L::Email)),
        ("Mail Address", Some(L::Email)),
        ("Phone", Some(L::Phone)),
        ("Phone Number", Some(L::Phone)),
        ("Business Phone", Some(L::Phone)),
        ("Mobile", Some(L::Mobile)),
        ("Mobile Phone", Some(L::Mobile)),
        ("Cell", Some(L::Mobile)),
        ("ZIP", Some(L::PostalCode)),
        ("Postal Code", Some(L::PostalCode)),
        ("Prefecture", Some(L::Prefecture)),
        ("State/Province", Some(L::Prefecture)),
        ("Address", Some(L::Address)),
        ("Address Line 1", Some(L::Address)),
        ("Street", Some(L::Address)),
        ("Website", Some(L::Website)),
        ("Industry", Some(L::Industry)),
        ("Employees", Some(L::EmployeeCount)),
        ("Note", Some(L::Note)),
        ("Comments", Some(L::Note)),
        ("Product", Some(L::Product)),
        ("Lead Source", Some(L::Source)),
        ("Lead Owner", Some(L::Owner)),
        ("Created Date", None),
        ("Fax", None),
    ];
    check(&cases);
}

#[test]
fn full_width_and_half_width_forms_match() {
    let cases = [
        ("ＴＥＬ", Some(L::Phone)),
        ("ﾒｰﾙｱﾄﾞﾚｽ", Some(L::Email)),
        ("ｶﾅ", Some(L::FullNameKana)),
        ("　会社名　", Some(L::CompanyName)),
        ("Ｅ－ｍａｉｌ", Some(L::Email)),
        ("住所２", Some(L::Address)),
    ];
    check(&cases);
}

fn check(cases: &[(&str, Option<L>)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter(|(header, expected)| guess_column(header) != *expected)
        .map(|(header, expected)| format!("{header:?}: expected {expected:?}, got {:?}", guess_column(header)))
        .collect();
    assert!(failures.is_empty(), "{} of {} wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
