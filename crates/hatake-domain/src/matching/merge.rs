//! Combining two records of one person into one, keeping the better value of each field.
//!
//! The rule, field by field (nothing is lost either way: every incoming record is kept as a
//! source of the lead with its own values):
//! - **Anchored to the first record**: the e-mail address (the identity key other systems
//!   use), the company link, the owner and the first source ("where did this lead come from").
//! - **Names and readings** stay as first known: a different spelling in a later record is as
//!   likely a typo (太朗 for 太郎) as a correction, so it never replaces a known name by
//!   itself; a person chooses on the review page. A later record only completes them: a missing
//!   part is filled, and a whole name split into family and given name (「田中 太郎」) replaces
//!   the same name written without a space (「田中太郎」).
//! - **Company name**: for the same company (equal once legal forms are set aside) the canonical
//!   spelling wins — the legal form written in full (株式会社) over an abbreviation ((株), ㈱)
//!   over none — and otherwise the first; a different company is a move, and the newer wins.
//! - **Contact details** (department, title, phone, address, prefecture): the newer filled value
//!   wins (people change titles, phones and departments), except one that says less than the
//!   known value: a part of it (「東京都」 for a full address, 「情報システム部」 for
//!   「情報システム部 インフラ課」), an abbreviation of the same department class (「情シス」 for
//!   「情報システム部」), or the same phone number written another way. Prefecture and address
//!   go together: a prefecture that comes without an address does not replace the prefecture
//!   of a kept address.

use crate::company::{legal_form, normalise_company_name};
use crate::text::search_key;
use crate::LeadData;

/// `existing` updated with `incoming`, by the rules above.
pub fn combine(existing: &LeadData, incoming: &LeadData) -> LeadData {
    let newer = |old: &Option<String>, new: &Option<String>| match (old, new) {
        (Some(old), Some(new)) if old != new && less_specific(new, old) => Some(old.clone()),
        _ => new.clone().or_else(|| old.clone()),
    };
    let first = |old: &Option<String>, new: &Option<String>| old.clone().or_else(|| new.clone());
    let mut product_ids: Vec<i64> = existing.product_ids.iter().chain(&incoming.product_ids).copied().collect();
    product_ids.sort_unstable();
    product_ids.dedup();
    let mut custom = existing.custom.clone();
    custom.extend(incoming.custom.iter().map(|(k, v)| (k.clone(), v.clone())));
    let (family_name, given_name) =
        names((&existing.family_name, &existing.given_name), (&incoming.family_name, &incoming.given_name));
    let (family_name_kana, given_name_kana) = names(
        (&existing.family_name_kana, &existing.given_name_kana),
        (&incoming.family_name_kana, &incoming.given_name_kana),
    );
    let department = match (&existing.department, &incoming.department) {
        (Some(old), Some(new))
            if old != new
                && existing.department_class.is_some()
                && existing.department_class == incoming.department_class
                && new.chars().count() < old.chars().count() =>
        {
            Some(old.clone())
        }
        (old, new) => newer(old, new),
    };
    let department_class = if department == existing.department {
        existing.department_class.clone()
    } else {
        incoming.department_class.clone()
    };
    let phone = match (&existing.phone, &incoming.phone) {
        (Some(old), Some(new)) if old.key() == new.key() => Some(old.clone()),
        (old, new) => new.clone().or_else(|| old.clone()),
    };
    let address = newer(&existing.address, &incoming.address);
    // Prefecture and address are one place: a record that gives a prefecture without an
    // address does not move a known address to another prefecture.
    let prefecture = if incoming.address.is_none() && address.is_some() && address == existing.address {
        existing.prefecture.clone().or_else(|| incoming.prefecture.clone())
    } else {
        newer(&existing.prefecture, &incoming.prefecture)
    };
    LeadData {
        account_id: existing.account_id.or(incoming.account_id),
        company_name: company(&existing.company_name, &incoming.company_name),
        family_name,
        given_name,
        family_name_kana,
        given_name_kana,
        email: existing.email.clone().or_else(|| incoming.email.clone()),
        phone,
        department,
        title: newer(&existing.title, &incoming.title),
        prefecture,
        address,
        source: first(&existing.source, &incoming.source),
        owner_id: existing.owner_id.or(incoming.owner_id),
        product_ids,
        custom,
        department_class,
    }
}

type NameParts<'a> = (&'a Option<String>, &'a Option<String>);

/// A name (or reading) as family and given part, by the rule above.
fn names(existing: NameParts<'_>, incoming: NameParts<'_>) -> (Option<String>, Option<String>) {
    let whole =
        |(family, given): NameParts<'_>| search_key(&crate::lead::join_name(family.as_deref(), given.as_deref()));
    let owned = |(family, given): NameParts<'_>| (family.clone(), given.clone());
    if existing.0.is_none() && existing.1.is_none() {
        return owned(incoming);
    }
    let same_whole = !whole(existing).is_empty() && whole(existing) == whole(incoming);
    if same_whole && existing.1.is_none() && incoming.1.is_some() {
        // The same name, now split into family and given name.
        return owned(incoming);
    }
    // A missing part is filled from the incoming record when the known part agrees.
    let agree = |a: &Option<String>, b: &Option<String>| match (a, b) {
        (Some(a), Some(b)) => search_key(a) == search_key(b),
        _ => true,
    };
    let family = existing.0.clone().or_else(|| incoming.0.clone());
    let given = match existing.1 {
        Some(given) => Some(given.clone()),
        None if !same_whole && agree(existing.0, incoming.0) => incoming.1.clone(),
        None => None,
    };
    (family, given)
}

/// How completely a company name is written: its legal form in full (2), abbreviated (1) or
/// missing (0).
fn company_form_rank(name: &str) -> u8 {
    match legal_form(name) {
        None => 0,
        Some(form) if crate::text::nfkc_trim(name).contains(form) => 2,
        Some(_) => 1,
    }
}

fn company(existing: &Option<String>, incoming: &Option<String>) -> Option<String> {
    match (existing, incoming) {
        (Some(old), Some(new)) if old != new && normalise_company_name(old) == normalise_company_name(new) => {
            if company_form_rank(new) > company_form_rank(old) {
                Some(new.clone())
            } else {
                Some(old.clone())
            }
        }
        (Some(old), Some(new)) if old != new && less_specific(new, old) => Some(old.clone()),
        (old, new) => new.clone().or_else(|| old.clone()),
    }
}

/// Whether `new` says less than `old`: its compared form is a part of `old`'s.
fn less_specific(new: &str, old: &str) -> bool {
    let (new, old) = (search_key(new), search_key(old));
    !new.is_empty() && new.len() < old.len() && old.contains(&new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LeadInput;

    fn lead(pairs: &[(&str, &str)], products: &[i64]) -> LeadData {
        let mut value = serde_json::Map::new();
        for (k, v) in pairs {
            value.insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
        }
        let mut input: LeadInput = serde_json::from_value(serde_json::Value::Object(value)).expect("fields");
        input.product_ids = Some(products.to_vec());
        input.validate(&[]).expect("valid")
    }

    #[test]
    fn newer_values_win_except_anchored_fields() {
        let existing = lead(
            &[
                ("family_name", "佐藤"),
                ("email", "taro@himawari.co.jp"),
                ("title", "課長"),
                ("phone", "03-1234-5678"),
                ("source", "展示会2026"),
            ],
            &[1],
        );
        let incoming = lead(
            &[
                ("family_name", "佐藤"),
                ("given_name", "太郎"),
                ("email", "t.sato@himawari.co.jp"),
                ("title", "部長"),
                ("source", "セミナー"),
            ],
            &[2],
        );
        let merged = combine(&existing, &incoming);
        let cases: &[(&str, Option<String>, &str)] = &[
            ("given name filled from the newer record", merged.given_name.clone(), "太郎"),
            ("title updated to the newer value", merged.title.clone(), "部長"),
            (
                "phone kept where the newer record has none",
                merged.phone.as_ref().map(|p| p.as_str().to_owned()),
                "03-1234-5678",
            ),
            ("e-mail stays the first", merged.email.as_ref().map(|e| e.as_str().to_owned()), "taro@himawari.co.jp"),
            ("source stays the first", merged.source.clone(), "展示会2026"),
        ];
        for (what, got, expected) in cases {
            assert_eq!(got.as_deref(), Some(*expected), "{what}");
        }
        assert_eq!(merged.product_ids, vec![1, 2], "products are the union");
    }

    #[test]
    fn a_partial_repeat_does_not_replace_what_is_known() {
        let existing = lead(
            &[
                ("family_name", "佐藤"),
                ("address", "東京都千代田区丸の内1-2-3"),
                ("department", "情報システム部 インフラ課"),
            ],
            &[],
        );
        let cases: &[(&str, (&str, &str), &str, &str)] = &[
            ("a prefecture only", ("address", "東京都"), "東京都千代田区丸の内1-2-3", "情報システム部 インフラ課"),
            (
                "the department without its section",
                ("department", "情報システム部"),
                "東京都千代田区丸の内1-2-3",
                "情報システム部 インフラ課",
            ),
            (
                "a new address",
                ("address", "大阪府大阪市北区梅田1-1"),
                "大阪府大阪市北区梅田1-1",
                "情報システム部 インフラ課",
            ),
            (
                "a more specific department",
                ("department", "情報システム部 インフラ課 基盤係"),
                "東京都千代田区丸の内1-2-3",
                "情報システム部 インフラ課 基盤係",
            ),
        ];
        for (what, field, address, department) in cases {
            let incoming = lead(&[("family_name", "佐藤"), *field], &[]);
            let merged = combine(&existing, &incoming);
            assert_eq!(merged.address.as_deref(), Some(*address), "{what}");
            assert_eq!(merged.department.as_deref(), Some(*department), "{what}");
        }
    }

    /// A lead with its department classified as the default dictionary does.
    fn classified(pairs: &[(&str, &str)]) -> LeadData {
        let mut pairs = pairs.to_vec();
        if !pairs.iter().any(|(k, _)| *k == "family_name") {
            pairs.push(("email", "someone@example.co.jp"));
        }
        let mut data = lead(&pairs, &[]);
        let dictionary = crate::department::DepartmentDictionary::default();
        data.department_class = data.department.as_deref().and_then(|d| dictionary.classify(d)).map(|c| c.key.clone());
        data
    }

    #[test]
    fn the_better_value_is_kept() {
        type Field = fn(&LeadData) -> Option<String>;
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(&str, Pairs<'_>, Pairs<'_>, Field, &str)] = &[
            (
                "the full legal form over its abbreviation",
                &[("company_name", "株式会社ひまわり商事")],
                &[("company_name", "(株)ひまわり商事")],
                |l| l.company_name.clone(),
                "株式会社ひまわり商事",
            ),
            (
                "an abbreviation gives way to the full form",
                &[("company_name", "ひまわり商事㈱")],
                &[("company_name", "ひまわり商事株式会社")],
                |l| l.company_name.clone(),
                "ひまわり商事株式会社",
            ),
            (
                "another company is a move",
                &[("company_name", "株式会社ひまわり商事")],
                &[("company_name", "あおぞら工業株式会社")],
                |l| l.company_name.clone(),
                "あおぞら工業株式会社",
            ),
            (
                "a department's abbreviation does not replace it",
                &[("department", "情報システム部")],
                &[("department", "情シス")],
                |l| l.department.clone(),
                "情報システム部",
            ),
            (
                "a department of another class is a move",
                &[("department", "情報システム部")],
                &[("department", "営業部")],
                |l| l.department.clone(),
                "営業部",
            ),
            (
                "a given name spelt otherwise is not taken",
                &[("family_name", "佐藤"), ("given_name", "太郎")],
                &[("family_name", "佐藤"), ("given_name", "太朗")],
                |l| l.given_name.clone(),
                "太郎",
            ),
            (
                "a missing given name is filled",
                &[("family_name", "佐藤")],
                &[("family_name", "佐藤"), ("given_name", "太郎")],
                |l| l.given_name.clone(),
                "太郎",
            ),
            (
                "a name written whole takes its split form",
                &[("family_name", "田中太郎")],
                &[("family_name", "田中"), ("given_name", "太郎")],
                |l| {
                    Some(format!(
                        "{}/{}",
                        l.family_name.clone().unwrap_or_default(),
                        l.given_name.clone().unwrap_or_default()
                    ))
                },
                "田中/太郎",
            ),
            (
                "a split name stays split when written whole again",
                &[("family_name", "田中"), ("given_name", "太郎")],
                &[("family_name", "田中太郎")],
                |l| {
                    Some(format!(
                        "{}/{}",
                        l.family_name.clone().unwrap_or_default(),
                        l.given_name.clone().unwrap_or_default()
                    ))
                },
                "田中/太郎",
            ),
            (
                "a prefecture without an address keeps the known address's prefecture",
                &[("prefecture", "東京都"), ("address", "東京都港区芝公園4-2-8")],
                &[("prefecture", "神奈川県")],
                |l| {
                    Some(format!(
                        "{}/{}",
                        l.prefecture.clone().unwrap_or_default(),
                        l.address.clone().unwrap_or_default()
                    ))
                },
                "東京都/東京都港区芝公園4-2-8",
            ),
            (
                "a move brings its prefecture with the address",
                &[("prefecture", "東京都"), ("address", "東京都港区芝公園4-2-8")],
                &[("prefecture", "神奈川県"), ("address", "神奈川県横浜市西区みなとみらい2-2-1")],
                |l| l.prefecture.clone(),
                "神奈川県",
            ),
            (
                "the same phone written otherwise keeps its form",
                &[("phone", "03-1234-5678")],
                &[("phone", "０３（１２３４）５６７８")],
                |l| l.phone.as_ref().map(|p| p.as_str().to_owned()),
                "03-1234-5678",
            ),
        ];
        for (what, existing, incoming, field, expected) in cases {
            let merged = combine(&classified(existing), &classified(incoming));
            assert_eq!(field(&merged).as_deref(), Some(*expected), "{what}");
        }
        // The class follows the department kept.
        let merged =
            combine(&classified(&[("department", "情報システム部")]), &classified(&[("department", "情シス")]));
        assert_eq!(merged.department_class.as_deref(), Some("it"));
    }

    #[test]
    fn combining_with_itself_changes_nothing() {
        let record = lead(&[("family_name", "佐藤"), ("email", "taro@himawari.co.jp"), ("title", "課長")], &[1]);
        assert_eq!(combine(&record, &record), record);
    }
}
