//! Company names: the normalised key that makes 「株式会社ひまわり商事」, 「(株)ひまわり商事」 and
//! 「ひまわり商事 K.K.」 the same company, the legal form a name carries, and a tidy display form.
//!
//! Legal forms are removed by three rules, from the safest to the most careful:
//! - parenthesised abbreviations such as (株), ㈱, （有） or (一社) wherever they stand;
//! - the forms of the Companies Act (株式会社, 有限会社, 合同会社, 合資会社, 合名会社, 相互会社)
//!   wherever they stand, since the law forbids a trade name to use them as anything else;
//! - every other form — 法人 forms such as 医療法人, and ASCII forms such as "Co., Ltd." or
//!   "K.K." — only at the start or the end of the name, and ASCII forms only as whole words,
//!   so that 「日本医療法人協会」, "Incubate Fund" and "KKday" keep their letters.

use crate::text::{nfkc_trim, search_key};

/// Parenthesised abbreviations as they read after NFKC (which turns ㈱ and （株） into "(株)"),
/// with the full form that [`display_company_name`] writes in their place.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("(株)", "株式会社"),
    ("(有)", "有限会社"),
    ("(同)", "合同会社"),
    ("(資)", "合資会社"),
    ("(名)", "合名会社"),
    ("(一社)", "一般社団法人"),
    ("(一財)", "一般財団法人"),
    ("(公社)", "公益社団法人"),
    ("(公財)", "公益財団法人"),
    ("(社)", "社団法人"),
    ("(財)", "財団法人"),
    ("(特非)", "特定非営利活動法人"),
    ("(医)", "医療法人"),
    ("(社福)", "社会福祉法人"),
    ("(福)", "社会福祉法人"),
    ("(学)", "学校法人"),
    ("(独)", "独立行政法人"),
    ("(宗)", "宗教法人"),
];

/// The forms of the Companies Act, removed wherever they stand.
const COMPANY_FORMS: &[&str] = &["株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "相互会社"];

/// Other Japanese legal forms, removed at the start or end of a name only, with their
/// canonical spelling. A form that contains another comes before it.
const EDGE_FORMS: &[(&str, &str)] = &[
    ("特定非営利活動法人", "特定非営利活動法人"),
    ("npo法人", "特定非営利活動法人"),
    ("一般社団法人", "一般社団法人"),
    ("一般財団法人", "一般財団法人"),
    ("公益社団法人", "公益社団法人"),
    ("公益財団法人", "公益財団法人"),
    ("社団法人", "社団法人"),
    ("財団法人", "財団法人"),
    ("医療法人社団", "医療法人"),
    ("医療法人財団", "医療法人"),
    ("社会医療法人", "社会医療法人"),
    ("医療法人", "医療法人"),
    ("社会福祉法人", "社会福祉法人"),
    ("学校法人", "学校法人"),
    ("国立大学法人", "国立大学法人"),
    ("公立大学法人", "公立大学法人"),
    ("地方独立行政法人", "地方独立行政法人"),
    ("独立行政法人", "独立行政法人"),
    ("宗教法人", "宗教法人"),
    ("有限責任監査法人", "有限責任監査法人"),
    ("監査法人", "監査法人"),
    ("弁護士法人", "弁護士法人"),
    ("税理士法人", "税理士法人"),
    ("司法書士法人", "司法書士法人"),
    ("行政書士法人", "行政書士法人"),
    ("社会保険労務士法人", "社会保険労務士法人"),
    ("特許業務法人", "特許業務法人"),
    ("農事組合法人", "農事組合法人"),
    ("有限責任事業組合", "有限責任事業組合"),
];

/// ASCII legal forms as sequences of lower-case words (so "K.K." is `["k", "k"]`), the Japanese
/// form they translate, and whether they may also stand before the name. A form that only
/// accompanies another ("Co." in "Co., Ltd.") names none. English forms used by Japanese
/// companies ("Co., Ltd.", "Inc.", "Corp.") are read as 株式会社, the form they almost always
/// translate; for a foreign company that is the nearest Japanese equivalent, not its registration.
type AsciiForm = (&'static [&'static str], Option<&'static str>, bool);
const ASCII_FORMS: &[AsciiForm] = &[
    (&["kabushiki", "kaisha"], Some("株式会社"), true),
    (&["kabushikikaisha"], Some("株式会社"), true),
    (&["kabushikigaisha"], Some("株式会社"), true),
    (&["k", "k"], Some("株式会社"), true),
    (&["kk"], Some("株式会社"), true),
    (&["yugen", "kaisha"], Some("有限会社"), true),
    (&["yugengaisha"], Some("有限会社"), true),
    (&["y", "k"], Some("有限会社"), false),
    (&["godo", "kaisha"], Some("合同会社"), true),
    (&["godogaisha"], Some("合同会社"), true),
    (&["g", "k"], Some("合同会社"), false),
    (&["llc"], Some("合同会社"), false),
    (&["l", "l", "c"], Some("合同会社"), false),
    (&["llp"], Some("有限責任事業組合"), false),
    (&["ltd"], Some("株式会社"), false),
    (&["limited"], Some("株式会社"), false),
    (&["inc"], Some("株式会社"), false),
    (&["incorporated"], Some("株式会社"), false),
    (&["corp"], Some("株式会社"), false),
    (&["corporation"], Some("株式会社"), false),
    (&["co"], None, false),
    (&["company"], None, false),
    (&["plc"], None, false),
    (&["gmbh"], None, false),
    (&["pte"], None, false),
    (&["pty"], None, false),
];

/// Characters that may join the words of one ASCII form ("Co., Ltd.", "K.K.").
const WORD_JOINERS: &[char] = &[' ', '.', ','];

/// The comparison key of a company name: NFKC, lower case, legal forms removed (see the module
/// documentation), then only letters and digits. A name that is nothing but a legal form keeps it.
pub fn normalise_company_name(name: &str) -> String {
    let (rest, _) = strip_legal_forms(name);
    let key = search_key(&rest);
    if key.is_empty() {
        search_key(name)
    } else {
        key
    }
}

/// The canonical Japanese legal form a name carries (株式会社, 有限会社, 合同会社, 一般社団法人, …),
/// or `None`. When a name carries two, the first one found wins; that is rare.
pub fn legal_form(name: &str) -> Option<&'static str> {
    strip_legal_forms(name).1.into_iter().next()
}

/// A tidy form of a name for display: NFKC (全角 letters to 半角, 半角 kana to 全角), single
/// spaces, and parenthesised abbreviations such as ㈱ or (株) written out as 株式会社 where they
/// stood. Case and everything else stay as entered.
pub fn display_company_name(name: &str) -> String {
    let mut text = prepare(name);
    for (abbreviation, full) in ABBREVIATIONS {
        if text.contains(abbreviation) {
            text = text.replace(abbreviation, full);
        }
    }
    text
}

/// NFKC with single spaces; circled ideographs such as ㊑ (which NFKC would turn into a bare
/// 株) become their parenthesised form, and spaces just inside parentheses go.
fn prepare(name: &str) -> String {
    let mut mapped = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '㊑' => mapped.push_str("(株)"),
            '㊒' => mapped.push_str("(有)"),
            '㊓' => mapped.push_str("(社)"),
            '㊔' => mapped.push_str("(名)"),
            '㊖' => mapped.push_str("(財)"),
            '㊩' => mapped.push_str("(医)"),
            '㊪' => mapped.push_str("(宗)"),
            '㊫' => mapped.push_str("(学)"),
            '㊮' => mapped.push_str("(資)"),
            other => mapped.push(other),
        }
    }
    nfkc_trim(&mapped).replace("( ", "(").replace(" )", ")")
}

/// Removes whitespace except between two ASCII letters or digits, so that 「株式 会社」 reads as
/// one form while "co ltd" stays two words. Department matching shares it.
pub(crate) fn compact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let keep = |i: usize| {
        !chars[i].is_whitespace()
            || (i > 0
                && chars[i - 1].is_ascii_alphanumeric()
                && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric))
    };
    (0..chars.len()).filter(|&i| keep(i)).map(|i| chars[i]).collect()
}

/// The name with its legal forms removed (lower case, not yet a key) and the canonical forms
/// found, in the order found.
pub(crate) fn strip_legal_forms(name: &str) -> (String, Vec<&'static str>) {
    let mut found = Vec::new();
    let mut text = compact(&prepare(name).to_lowercase());
    for (abbreviation, full) in ABBREVIATIONS {
        if text.contains(abbreviation) {
            found.push(*full);
            text = text.replace(abbreviation, " ");
        }
    }
    for form in COMPANY_FORMS {
        if text.contains(form) {
            found.push(*form);
            text = text.replace(form, " ");
        }
    }
    loop {
        let core = text.trim_matches(|c: char| !c.is_alphanumeric());
        let next = if let Some((form, canonical)) = EDGE_FORMS.iter().find(|(f, _)| core.starts_with(f)) {
            found.push(*canonical);
            &core[form.len()..]
        } else if let Some((form, canonical)) = EDGE_FORMS.iter().find(|(f, _)| core.ends_with(f)) {
            found.push(*canonical);
            &core[..core.len() - form.len()]
        } else if let Some((end, canonical)) = ascii_form_at_start(core) {
            found.extend(canonical);
            &core[end..]
        } else if let Some((start, canonical)) = ascii_form_at_end(core) {
            found.extend(canonical);
            &core[..start]
        } else {
            break;
        };
        text = next.to_owned();
    }
    (text, found)
}

/// An ASCII form that may lead a name, at the start of `core` (which starts with a letter or
/// digit): where the rest begins, and the form's canonical name.
fn ascii_form_at_start(core: &str) -> Option<(usize, Option<&'static str>)> {
    ASCII_FORMS.iter().filter(|(_, _, may_lead)| *may_lead).find_map(|(words, canonical, _)| {
        let mut start = 0;
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                start = core.len() - core[start..].trim_start_matches(WORD_JOINERS).len();
            }
            let end = core.len() - core[start..].trim_start_matches(|c: char| c.is_ascii_alphanumeric()).len();
            if core[start..end] != **word {
                return None;
            }
            start = end;
        }
        Some((start, *canonical))
    })
}

/// An ASCII form at the end of `core` (which ends with a letter or digit): where it starts, and
/// its canonical name. Words are whole: the form's first word must not follow an ASCII letter.
fn ascii_form_at_end(core: &str) -> Option<(usize, Option<&'static str>)> {
    ASCII_FORMS.iter().find_map(|(words, canonical, _)| {
        let mut end = core.len();
        for (i, word) in words.iter().rev().enumerate() {
            if i > 0 {
                end = core[..end].trim_end_matches(WORD_JOINERS).len();
            }
            let start = core[..end].trim_end_matches(|c: char| c.is_ascii_alphanumeric()).len();
            if core[start..end] != **word {
                return None;
            }
            end = start;
        }
        Some((end, *canonical))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name as entered, comparison key).
    const KEYS: &[(&str, &str)] = &[
        ("株式会社ひまわり商事", "ひまわり商事"),
        ("(株)ひまわり商事", "ひまわり商事"),
        ("（株）ひまわり商事", "ひまわり商事"),
        ("㈱ひまわり商事", "ひまわり商事"),
        ("㊑ひまわり商事", "ひまわり商事"),
        ("ひまわり商事㈱", "ひまわり商事"),
        ("ひまわり商事 株式会社", "ひまわり商事"),
        ("ひまわり商事　株式会社", "ひまわり商事"),
        ("株式会社　ひまわり　商事", "ひまわり商事"),
        ("ひまわり商事 ( 株 )", "ひまわり商事"),
        ("ひまわり商事 株式 会社", "ひまわり商事"),
        ("ﾋﾏﾜﾘ商事(株)", "ヒマワリ商事"),
        ("Himawari Shoji Co., Ltd.", "himawarishoji"),
        ("HIMAWARI SHOJI CO.,LTD", "himawarishoji"),
        ("Himawari Shoji Co Ltd", "himawarishoji"),
        ("Ｈｉｍａｗａｒｉ　Ｓｈｏｊｉ　Ｃｏ．，Ｌｔｄ．", "himawarishoji"),
        ("Himawari Shoji K.K.", "himawarishoji"),
        ("Himawari Shoji KK", "himawarishoji"),
        ("K.K. Himawari Shoji", "himawarishoji"),
        ("Kabushiki Kaisha Himawari Shoji", "himawarishoji"),
        ("Himawari Shoji Inc.", "himawarishoji"),
        ("Himawari Shoji, Inc", "himawarishoji"),
        ("Himawari Shoji Corporation", "himawarishoji"),
        ("Himawari Shoji Corp.", "himawarishoji"),
        ("Himawari Shoji Ltd.", "himawarishoji"),
        ("Himawari Shoji G.K.", "himawarishoji"),
        ("Himawari Shoji LLC", "himawarishoji"),
        ("ひまわり商事 Co., Ltd.", "ひまわり商事"),
        ("有限会社さくら工務店", "さくら工務店"),
        ("(有)さくら工務店", "さくら工務店"),
        ("さくら工務店㈲", "さくら工務店"),
        ("合同会社あおば", "あおば"),
        ("あおば(同)", "あおば"),
        ("合資会社みどり屋", "みどり屋"),
        ("(資)みどり屋", "みどり屋"),
        ("合名会社みどり屋", "みどり屋"),
        ("みどり屋(名)", "みどり屋"),
        ("一般社団法人日本ひまわり協会", "日本ひまわり協会"),
        ("(一社)日本ひまわり協会", "日本ひまわり協会"),
        ("一般財団法人ひまわり財団", "ひまわり財団"),
        ("(一財)ひまわり財団", "ひまわり財団"),
        ("公益社団法人ひまわり協会", "ひまわり協会"),
        ("(公社)ひまわり協会", "ひまわり協会"),
        ("公益財団法人ひまわり財団", "ひまわり財団"),
        ("(公財)ひまわり財団", "ひまわり財団"),
        ("特定非営利活動法人ひまわりの会", "ひまわりの会"),
        ("ＮＰＯ法人　ひまわりの会", "ひまわりの会"),
        ("医療法人社団 ひまわり会", "ひまわり会"),
        ("(医)ひまわり会", "ひまわり会"),
        ("社会福祉法人ひまわり福祉会", "ひまわり福祉会"),
        ("(福)ひまわり福祉会", "ひまわり福祉会"),
        ("学校法人ひまわり学園", "ひまわり学園"),
        ("(学)ひまわり学園", "ひまわり学園"),
        ("国立大学法人東京ひまわり大学", "東京ひまわり大学"),
        ("独立行政法人ひまわり機構", "ひまわり機構"),
        ("(独)ひまわり機構", "ひまわり機構"),
        ("EY新日本有限責任監査法人", "ey新日本"),
        ("Incubate Fund", "incubatefund"),
        ("KKday", "kkday"),
        ("KKday Japan 株式会社", "kkdayjapan"),
        ("ＫＫＢＯＸ Japan", "kkboxjapan"),
        ("Corporate Directions, Inc.", "corporatedirections"),
        ("Limited Brands", "limitedbrands"),
        ("AT&T Inc.", "att"),
        ("日本医療法人協会", "日本医療法人協会"),
        ("株式会社", "株式会社"),
        ("Inc.", "inc"),
    ];

    #[test]
    fn keys_drop_legal_forms_in_all_spellings_and_positions() {
        for (name, key) in KEYS {
            assert_eq!(normalise_company_name(name), *key, "{name}");
        }
    }

    /// Pairs of different companies whose keys must differ.
    const DIFFERENT: &[(&str, &str)] = &[
        ("株式会社ひまわり商事", "株式会社ひまわり商店"),
        ("ひまわり商事株式会社", "Himawari Shoji Co., Ltd."),
        ("Incubate Fund", "Fund Inc."),
        ("KKday", "Day K.K."),
        ("日本医療法人協会", "日本協会"),
        ("(株)あおば", "(株)あおば不動産"),
    ];

    #[test]
    fn different_companies_stay_different() {
        for (a, b) in DIFFERENT {
            assert_ne!(normalise_company_name(a), normalise_company_name(b), "{a} / {b}");
        }
    }

    const LEGAL_FORMS: &[(&str, Option<&str>)] = &[
        ("株式会社ひまわり商事", Some("株式会社")),
        ("ひまわり商事㈱", Some("株式会社")),
        ("Himawari Shoji Co., Ltd.", Some("株式会社")),
        ("Himawari Shoji K.K.", Some("株式会社")),
        ("(有)さくら工務店", Some("有限会社")),
        ("Himawari LLC", Some("合同会社")),
        ("(資)みどり屋", Some("合資会社")),
        ("医療法人社団ひまわり会", Some("医療法人")),
        ("NPO法人ひまわりの会", Some("特定非営利活動法人")),
        ("(一社)日本ひまわり協会", Some("一般社団法人")),
        ("(公財)ひまわり財団", Some("公益財団法人")),
        ("ひまわり学園 学校法人", Some("学校法人")),
        ("ひまわり商事", None),
        ("Incubate Fund", None),
        ("KKday", None),
        ("Acme Company", None),
        ("日本医療法人協会", None),
    ];

    #[test]
    fn legal_form_is_canonical() {
        for (name, form) in LEGAL_FORMS {
            assert_eq!(legal_form(name), *form, "{name}");
        }
    }

    const DISPLAY: &[(&str, &str)] = &[
        ("㈱ひまわり商事", "株式会社ひまわり商事"),
        ("ひまわり商事（株）", "ひまわり商事株式会社"),
        ("　ひまわり商事　 ( 株 ) ", "ひまわり商事 株式会社"),
        ("㊑ひまわり商事", "株式会社ひまわり商事"),
        ("(有)さくら工務店", "有限会社さくら工務店"),
        ("ｻｸﾗ(同)", "サクラ合同会社"),
        ("(一社)日本ひまわり協会", "一般社団法人日本ひまわり協会"),
        ("ＡＢＣ　Ｃｏ．，Ｌｔｄ．", "ABC Co.,Ltd."),
        ("Himawari  Shoji K.K.", "Himawari Shoji K.K."),
        ("株式会社ひまわり商事", "株式会社ひまわり商事"),
    ];

    #[test]
    fn display_form_writes_abbreviations_out() {
        for (name, display) in DISPLAY {
            assert_eq!(display_company_name(name), *display, "{name}");
        }
    }

    #[test]
    fn no_edge_form_is_shadowed_by_an_earlier_shorter_one() {
        for (i, (earlier, _)) in EDGE_FORMS.iter().enumerate() {
            for (later, _) in &EDGE_FORMS[i + 1..] {
                assert!(!later.contains(earlier), "{later} must come before {earlier}");
            }
        }
    }
}
