//! Company names: the normalised key that makes 「株式会社ひまわり商事」, 「(株)ひまわり商事」 and
//! 「ひまわり商事 K.K.」 the same company.

use crate::text::search_key;

/// Legal-form markers, compared after NFKC and lower-casing, longest first so that
/// "co., ltd." wins over "co.".
const LEGAL_FORMS: &[&str] = &[
    "特定非営利活動法人",
    "一般社団法人",
    "一般財団法人",
    "公益社団法人",
    "公益財団法人",
    "独立行政法人",
    "地方独立行政法人",
    "国立大学法人",
    "学校法人",
    "医療法人",
    "社会福祉法人",
    "株式会社",
    "有限会社",
    "合同会社",
    "合資会社",
    "合名会社",
    "(株)",
    "(有)",
    "(同)",
    "(社)",
    "(財)",
    "(医)",
    "(学)",
    "(独)",
    "co., ltd.",
    "co.,ltd.",
    "co. ltd.",
    "co.ltd.",
    "co., ltd",
    "co.,ltd",
    "co ltd",
    "corporation",
    "incorporated",
    "limited",
    "k.k.",
    "kk",
    "inc.",
    "inc",
    "corp.",
    "corp",
    "ltd.",
    "ltd",
    "llc",
];

/// The comparison key of a company name: NFKC, lower case, legal forms removed wherever they
/// stand, then only letters and digits.
pub fn normalise_company_name(name: &str) -> String {
    let mut text = crate::text::nfkc_trim(name).to_lowercase();
    // ㈱ and friends become "(株)" under NFKC; full-width brackets become ASCII ones.
    for form in LEGAL_FORMS {
        let ascii = form.is_ascii();
        if ascii {
            text = remove_ascii_word(&text, form);
        } else {
            text = text.replace(form, " ");
        }
    }
    let key = search_key(&text);
    if key.is_empty() {
        search_key(name)
    } else {
        key
    }
}

/// Removes an ASCII legal form only where it stands as a word, so "kkbox" keeps its letters.
fn remove_ascii_word(text: &str, form: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(index) = rest.find(form) {
        let before = rest[..index].chars().next_back();
        let after = rest[index + form.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..index]);
        if boundary(before) && boundary(after) {
            out.push(' ');
        } else {
            out.push_str(form);
        }
        rest = &rest[index + form.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms_in_all_positions_and_spellings() {
        let same = [
            "株式会社ひまわり商事",
            "ひまわり商事株式会社",
            "(株)ひまわり商事",
            "㈱ひまわり商事",
            "ひまわり商事（株）",
            "　ひまわり 商事 ",
        ];
        for name in same {
            assert_eq!(normalise_company_name(name), "ひまわり商事", "{name}");
        }
        assert_eq!(normalise_company_name("Himawari Trading Co., Ltd."), "himawaritrading");
        assert_eq!(normalise_company_name("HIMAWARI TRADING K.K."), "himawaritrading");
        assert_eq!(normalise_company_name("ＫＫＢＯＸ Japan"), "kkboxjapan");
        assert_eq!(normalise_company_name("Acme, Inc."), "acme");
        assert_eq!(normalise_company_name("株式会社"), "株式会社", "a name that is only a legal form keeps it");
    }
}
