//! Combining two records of one person into one.
//!
//! The newer record's filled values win for contact details (people change titles, phones and
//! departments); values the newer record lacks are kept, and so are values the newer record
//! only repeats in part (a card with 「東京都」 does not replace a full address, nor
//! 「情報システム部」 the 「情報システム部 インフラ課」 already known). Some fields are anchored to the first
//! record instead: the e-mail address (the identity key other systems use), the company link,
//! the owner and the first source ("where did this lead come from"). Nothing is lost either
//! way: every incoming record is kept as a source of the lead with its own values.

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
    let department_from_incoming = incoming.department.is_some();
    LeadData {
        account_id: existing.account_id.or(incoming.account_id),
        company_name: newer(&existing.company_name, &incoming.company_name),
        family_name: newer(&existing.family_name, &incoming.family_name),
        given_name: newer(&existing.given_name, &incoming.given_name),
        family_name_kana: newer(&existing.family_name_kana, &incoming.family_name_kana),
        given_name_kana: newer(&existing.given_name_kana, &incoming.given_name_kana),
        email: existing.email.clone().or_else(|| incoming.email.clone()),
        phone: incoming.phone.clone().or_else(|| existing.phone.clone()),
        department: newer(&existing.department, &incoming.department),
        title: newer(&existing.title, &incoming.title),
        prefecture: newer(&existing.prefecture, &incoming.prefecture),
        address: newer(&existing.address, &incoming.address),
        source: first(&existing.source, &incoming.source),
        owner_id: existing.owner_id.or(incoming.owner_id),
        product_ids,
        custom,
        department_class: if department_from_incoming {
            incoming.department_class.clone()
        } else {
            existing.department_class.clone()
        },
    }
}

/// Whether `new` says less than `old`: its compared form is a part of `old`'s.
fn less_specific(new: &str, old: &str) -> bool {
    let (new, old) = (crate::text::search_key(new), crate::text::search_key(old));
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

    #[test]
    fn combining_with_itself_changes_nothing() {
        let record = lead(&[("family_name", "佐藤"), ("email", "taro@himawari.co.jp"), ("title", "課長")], &[1]);
        assert_eq!(combine(&record, &record), record);
    }
}
