//! Containment rules shared by lead and company header guessing: words that rule a header out,
//! furigana markers, and telling full, family and given names apart.

/// Headers that hold dates, flags or consents rather than contact data (「名刺交換日」,
/// 「メール配信希望」, 「FAX」). They are left unmapped even when they mention a known word.
const NEGATIVE: &[&str] = &[
    "日時",
    "日付",
    "年月日",
    "交換日",
    "登録日",
    "更新日",
    "作成日",
    "受付日",
    "来場日",
    "申込日",
    "希望",
    "可否",
    "同意",
    "許諾",
    "配信",
    "fax",
    "ファックス",
    "ファクス",
    "date",
];

/// Words that mark a reading (furigana) column, longest first so that 「全角カナ」 goes as a whole.
const KANA_MARKERS: &[&str] = &[
    "全角カタカナ",
    "全角カナ",
    "半角カナ",
    "カタカナ",
    "ひらがな",
    "フリガナ",
    "ふりがな",
    "よみがな",
    "ヨミガナ",
    "カナ",
    "かな",
    "よみ",
    "ヨミ",
    "furigana",
    "kana",
    "yomi",
    "reading",
];

/// Prefixes that put a name in context: 「氏名（姓）」 is the family name.
const NAME_CONTEXT: &[&str] = &["お名前", "氏名", "名前", "姓名", "fullname", "name"];

const FULL: &[&str] = &["", "氏名", "名前", "お名前", "姓名", "fullname", "name", "contactname", "フルネーム"];
const FULL_KANA: &[&str] = &["セイメイ", "せいめい"];
const FAMILY: &[&str] = &["姓", "苗字", "名字", "lastname", "familyname", "surname", "last", "family"];
const FAMILY_KANA: &[&str] = &["セイ", "せい"];
const GIVEN: &[&str] = &["名", "firstname", "givenname", "first", "given"];
const GIVEN_KANA: &[&str] = &["メイ", "めい"];

/// What a containment rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision<C> {
    Column(C),
    /// Known not to be a column worth importing.
    Nothing,
    /// No rule applied.
    Unknown,
}

pub(crate) fn contains_any(key: &str, words: &[&str]) -> bool {
    words.iter().any(|word| key.contains(word))
}

pub(crate) fn is_negative(key: &str) -> bool {
    contains_any(key, NEGATIVE)
}

/// The key without its furigana markers, when it has any.
pub(crate) fn strip_kana_marker(key: &str) -> Option<String> {
    let mut rest = key.to_owned();
    let mut found = false;
    for marker in KANA_MARKERS {
        if rest.contains(marker) {
            rest = rest.replace(marker, "");
            found = true;
        }
    }
    found.then_some(rest)
}

/// Which part of a person's name a header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamePart {
    Full,
    Family,
    Given,
}

/// Prefixes that name the person rather than a part of the name: 「お客様名」, 「ご担当者名」.
const PERSON_CONTEXT: &[&str] = &["ご担当者様", "ご担当者", "担当者様", "お客様", "contact"];

/// The name part of a key such as `氏名`, `お名前姓`, `ご担当者名`, `lastname` or `セイ`, and
/// whether the key itself says it is a reading (`セイ`, `メイ`, `セイメイ`).
pub(crate) fn name_part(key: &str) -> Option<(NamePart, bool)> {
    for person in PERSON_CONTEXT {
        if let Some(rest) = key.strip_prefix(person) {
            // 「ご担当者名」 is the whole name; 「ご担当者名（姓）」 names a part of it.
            if rest.is_empty() || rest == "名" {
                return Some((NamePart::Full, false));
            }
            return plain_name_part(rest).or_else(|| rest.strip_prefix('名').and_then(plain_name_part));
        }
    }
    plain_name_part(key)
}

fn plain_name_part(key: &str) -> Option<(NamePart, bool)> {
    if FULL.contains(&key) {
        return Some((NamePart::Full, false));
    }
    if FULL_KANA.contains(&key) {
        return Some((NamePart::Full, true));
    }
    let rest = NAME_CONTEXT.iter().find_map(|context| key.strip_prefix(context)).unwrap_or(key);
    let parts: [(&[&str], NamePart, bool); 5] = [
        (FULL_KANA, NamePart::Full, true),
        (FAMILY, NamePart::Family, false),
        (FAMILY_KANA, NamePart::Family, true),
        (GIVEN, NamePart::Given, false),
        (GIVEN_KANA, NamePart::Given, true),
    ];
    for (words, part, kana) in parts {
        if words.contains(&rest) {
            return Some((part, kana));
        }
    }
    // English keys put qualifiers first: "primaryfirstname".
    if key.ends_with("firstname") || key.ends_with("givenname") {
        return Some((NamePart::Given, false));
    }
    if key.ends_with("lastname") || key.ends_with("familyname") || key.ends_with("surname") {
        return Some((NamePart::Family, false));
    }
    None
}

/// Whether a key mentioning 担当 addresses the customer (「ご担当者名」, 「担当者様氏名」), so
/// it holds the lead's own name, rather than naming the seller's person in charge (「担当者」,
/// 「営業担当」), the owner.
pub(crate) fn addresses_customer(key: &str) -> bool {
    key.starts_with('ご') || key.starts_with('お') || key.contains('様')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_parts() {
        let cases = [
            ("氏名", Some((NamePart::Full, false))),
            ("お名前姓", Some((NamePart::Family, false))),
            ("お名前名", Some((NamePart::Given, false))),
            ("氏名名", Some((NamePart::Given, false))),
            ("お名前セイ", Some((NamePart::Family, true))),
            ("セイメイ", Some((NamePart::Full, true))),
            ("contactfirstname", Some((NamePart::Given, false))),
            ("ご担当者名", Some((NamePart::Full, false))),
            ("ご担当者名姓", Some((NamePart::Family, false))),
            ("ご担当者様セイ", Some((NamePart::Family, true))),
            ("お客様名", Some((NamePart::Full, false))),
            ("名刺", None),
            ("店舗名", None),
        ];
        for (key, expected) in cases {
            assert_eq!(name_part(key), expected, "{key}");
        }
    }
}
