//! The two sides of a review question as the queue shows them: two leads (with what a merge
//! would leave) or a lead and a company of the company master, with the matcher's evidence.

use crate::i18n::t;
use hatake_domain::matching::merge::combine;
use hatake_domain::LeadData;
use hatake_store::{AccountRow, LeadRow, LeadSnapshot, ReviewRow, Store, StoreError, StoreResult};
use minijinja::context;
use serde::Deserialize;

/// A lead by id, or `None` when it no longer exists (merged away, deleted, undone).
pub(super) async fn lead_if_any(store: &dyn Store, id: i64) -> StoreResult<Option<LeadRow>> {
    match store.get_lead(id).await {
        Ok(lead) => Ok(Some(lead)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The two records of a review as lead data, and what merging them gives.
pub(super) fn merged_data(survivor: &LeadRow, merged: &LeadRow) -> Option<LeadData> {
    let survivor = LeadSnapshot::of(survivor).data().ok()?;
    let merged = LeadSnapshot::of(merged).data().ok()?;
    Some(combine(&survivor, &merged))
}

/// A shown value of a stored lead.
type Value = fn(&LeadRow) -> Option<String>;

/// The fields a person may choose between before merging (by `pick.{name}`), by their label
/// key. The e-mail (the identity other systems use), the source and the owner stay the
/// stored lead's.
const PICKABLE: [(&str, &str); 8] = [
    ("lead.name", "name"),
    ("lead.kana", "kana"),
    ("lead.company", "company"),
    ("lead.department", "department"),
    ("lead.title", "title"),
    ("lead.phone", "phone"),
    ("lead.prefecture", "prefecture"),
    ("lead.address", "address"),
];

/// Sets the fields the person chose (`pick.{field}` = `stored` or `newer`) in the merged data,
/// from the stored lead or the newer record; fields not chosen keep the merge rule's value.
pub(super) fn apply_picks(data: &mut LeadData, stored: &LeadData, newer: &LeadData, picks: &[(String, String)]) {
    for (key, side) in picks {
        let Some(field) = key.strip_prefix("pick.") else { continue };
        let from = match side.as_str() {
            "stored" => stored,
            "newer" => newer,
            _ => continue,
        };
        match field {
            "name" => {
                data.family_name.clone_from(&from.family_name);
                data.given_name.clone_from(&from.given_name);
            }
            "kana" => {
                data.family_name_kana.clone_from(&from.family_name_kana);
                data.given_name_kana.clone_from(&from.given_name_kana);
            }
            "company" => data.company_name.clone_from(&from.company_name),
            "department" => data.department.clone_from(&from.department),
            "title" => data.title.clone_from(&from.title),
            "phone" => data.phone.clone_from(&from.phone),
            "prefecture" => data.prefecture.clone_from(&from.prefecture),
            "address" => data.address.clone_from(&from.address),
            _ => {}
        }
    }
}

/// The compared fields: label key and the value of a stored lead.
const FIELDS: [(&str, Value); 11] = [
    ("lead.name", |l| Some(l.full_name()).filter(|n| !n.is_empty())),
    ("lead.kana", |l| kana(l.family_name_kana.as_deref(), l.given_name_kana.as_deref())),
    ("lead.company", |l| l.company().map(str::to_owned)),
    ("lead.department", |l| l.department.clone()),
    ("lead.title", |l| l.title.clone()),
    ("lead.email", |l| l.email.clone()),
    ("lead.phone", |l| l.phone.clone()),
    ("lead.prefecture", |l| l.prefecture.clone()),
    ("lead.address", |l| l.address.clone()),
    ("lead.source", |l| l.source.clone()),
    ("lead.owner", |l| l.owner_name.clone()),
];

fn kana(family: Option<&str>, given: Option<&str>) -> Option<String> {
    Some(hatake_domain::lead::join_name(family, given)).filter(|k| !k.is_empty())
}

/// The same fields of the merged result (the company link and owner name come from the lead
/// that holds them).
fn merged_values(data: &LeadData, survivor: &LeadRow, merged: &LeadRow) -> [Option<String>; 11] {
    let linked = |id: Option<i64>| {
        [survivor, merged]
            .into_iter()
            .find(|l| l.account_id.is_some() && l.account_id == id)
            .and_then(|l| l.account_name.clone())
    };
    let owner = [survivor, merged].into_iter().find(|l| l.owner_id.is_some() && l.owner_id == data.owner_id);
    [
        Some(hatake_domain::lead::join_name(data.family_name.as_deref(), data.given_name.as_deref()))
            .filter(|n| !n.is_empty()),
        kana(data.family_name_kana.as_deref(), data.given_name_kana.as_deref()),
        linked(data.account_id).or_else(|| data.company_name.clone()),
        data.department.clone(),
        data.title.clone(),
        data.email.as_ref().map(|e| e.as_str().to_owned()),
        data.phone.as_ref().map(|p| p.as_str().to_owned()),
        data.prefecture.clone(),
        data.address.clone(),
        data.source.clone(),
        owner.and_then(|l| l.owner_name.clone()),
    ]
}

/// Whether two shown values differ, ignoring case and spaces (so the page does not shout
/// about 「ＴＥＬ」 versus "TEL").
fn differs(a: Option<&str>, b: Option<&str>) -> bool {
    let key = |v: &str| hatake_domain::text::search_key(v);
    match (a, b) {
        (Some(a), Some(b)) => key(a) != key(b),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Evidence {
    field: String,
    level: String,
    weight: f64,
}

/// Each line's weight in tenths, rounded so that the lines add up to the score as shown (in
/// tenths, rounded down): each line is the nearest tenth, and the difference left goes to the
/// lines whose rounding moved them most (no line moves by more than a tenth).
fn shown_tenths(weights: &[f64], score: f64) -> Vec<i64> {
    let nearest: Vec<i64> = weights.iter().map(|w| (w * 10.0).round() as i64).collect();
    let target = (score * 10.0).floor() as i64;
    let mut shown = nearest.clone();
    let mut left = target - nearest.iter().sum::<i64>();
    // Lines by how far rounding moved them: down first when the sum must grow, up first when it
    // must shrink.
    let mut order: Vec<usize> = (0..weights.len()).collect();
    let moved = |i: usize| weights[i] * 10.0 - nearest[i] as f64;
    order.sort_by(|a, b| moved(*b).total_cmp(&moved(*a)));
    if left < 0 {
        order.reverse();
    }
    for i in order {
        if left == 0 {
            break;
        }
        shown[i] += left.signum();
        left -= left.signum();
    }
    shown
}

fn evidence_view(json: &str, score: f64, locale: &str) -> Vec<minijinja::Value> {
    let items: Vec<Evidence> = serde_json::from_str(json).unwrap_or_default();
    let weights: Vec<f64> = items.iter().map(|e| e.weight).collect();
    let tenths = shown_tenths(&weights, score);
    items
        .iter()
        .zip(tenths)
        .map(|(e, tenths)| {
            let adjustment = e.field.starts_with("adjust_");
            let level = match e.level.as_str() {
                _ if adjustment => "adjust",
                "agree" => "agree",
                "partial" => "partial",
                _ => "disagree",
            };
            let level_key = format!("review.level.{level}");
            let level_label = if adjustment { "" } else { t(locale, &level_key) };
            context! {
                field => t(locale, evidence_field_key(&e.field)),
                level => level,
                level_label => level_label,
                weight => format!("{}{}.{}", if tenths < 0 { "-" } else { "+" }, tenths.abs() / 10, tenths.abs() % 10),
            }
        })
        .collect()
}

fn evidence_field_key(field: &str) -> &'static str {
    match field {
        "family_name" => "lead.family_name",
        "given_name" => "lead.given_name",
        "kana" | "kana_full" => "lead.kana",
        "company" => "lead.company",
        "phone" => "lead.phone",
        "mobile" => "review.field.mobile",
        "email" => "lead.email",
        "email_domain" => "review.field.email_domain",
        "prefecture" => "lead.prefecture",
        "adjust_kana" => "review.adjust_kana",
        "adjust_organisation" => "review.adjust_organisation",
        "adjust_no_person" => "review.adjust_no_person",
        "adjust_no_place" => "review.adjust_no_place",
        _ => "common.none",
    }
}

/// One review as the queue (or a lead's page) shows it.
pub(super) async fn pair_view(
    store: &dyn Store,
    review: &ReviewRow,
    dictionary: &hatake_domain::department::DepartmentDictionary,
    locale: &str,
) -> StoreResult<minijinja::Value> {
    if review.kind == "account" {
        return company_pair_view(store, review, locale).await;
    }
    let survivor = lead_if_any(store, review.candidate_id).await?;
    let merged = lead_if_any(store, review.lead_id).await?;
    let result = match (&survivor, &merged) {
        (Some(s), Some(m)) => merged_data(s, m).map(|data| merged_values(&data, s, m)),
        _ => None,
    };
    let rows: Vec<minijinja::Value> = FIELDS
        .iter()
        .enumerate()
        .filter_map(|(i, (label, value))| {
            let stored = survivor.as_ref().and_then(value);
            let newer = merged.as_ref().and_then(value);
            let after = result.as_ref().and_then(|r| r[i].clone());
            // A field nobody has is left out; a company differs only beyond its legal form.
            if stored.is_none() && newer.is_none() && after.is_none() {
                return None;
            }
            let differs = if *label == "lead.company" {
                let key = |v: &Option<String>| v.as_deref().map(hatake_domain::company::normalise_company_name);
                differs(key(&stored).as_deref(), key(&newer).as_deref())
            } else {
                differs(stored.as_deref(), newer.as_deref())
            };
            // Where the two differ, the person may choose; the merge rule's value is chosen first.
            let pick = PICKABLE.iter().find(|(l, _)| l == label).map(|(_, name)| *name).filter(|_| differs);
            let chosen = match (&after, &stored, &newer) {
                (Some(a), _, Some(n)) if a == n && stored.as_ref() != Some(a) => "newer",
                _ => "stored",
            };
            Some(context! { label => t(locale, label), stored => stored, newer => newer, after => after,
            differs => differs, pick => pick, chosen => chosen })
        })
        .collect();
    let label = |c: &hatake_domain::department::DepartmentClass| {
        if locale == "en" {
            c.label_en.clone()
        } else {
            c.label_ja.clone()
        }
    };
    let class = |lead: &Option<LeadRow>| {
        lead.as_ref().and_then(|l| l.department_class.as_deref()).and_then(|k| dictionary.class(k)).map(label)
    };
    // The class the merged lead will get: its department classified as a merge does.
    let merged_class = match (&survivor, &merged) {
        (Some(s), Some(m)) => {
            merged_data(s, m).and_then(|data| data.department).and_then(|d| dictionary.classify(&d).map(label))
        }
        _ => None,
    };
    Ok(context! {
        kind => "lead",
        review => review,
        // Rounded down: a pair held just under the merge threshold never reads as reaching it.
        score => format!("{:.1}", (review.score * 10.0).floor() / 10.0),
        survivor => survivor,
        merged => merged,
        survivor_class => class(&survivor),
        merged_class => class(&merged),
        after_class => merged_class,
        complete => survivor.is_some() && merged.is_some(),
        rows => rows,
        evidence => evidence_view(&review.evidence, review.score, locale),
    })
}

/// A company of the master by id, or `None` when it no longer exists.
pub(super) async fn account_if_any(store: &dyn Store, id: i64) -> StoreResult<Option<AccountRow>> {
    match store.get_account(id).await {
        Ok(account) => Ok(Some(account)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Why the matcher asks which company a lead works for (evidence `{"reason": …}`).
fn reason_key(evidence: &str) -> &'static str {
    let reason =
        serde_json::from_str::<serde_json::Value>(evidence).ok().and_then(|v| v["reason"].as_str().map(str::to_owned));
    match reason.as_deref() {
        Some("name_other_prefecture") => "review.reason.name_other_prefecture",
        Some("ambiguous_name") => "review.reason.ambiguous_name",
        _ => "review.reason.other",
    }
}

/// A lead and a company it may work for: the lead's company fields against the company's.
async fn company_pair_view(store: &dyn Store, review: &ReviewRow, locale: &str) -> StoreResult<minijinja::Value> {
    let lead = lead_if_any(store, review.lead_id).await?;
    let account = account_if_any(store, review.candidate_id).await?;
    let domain =
        lead.as_ref().and_then(|l| l.email.as_deref()).and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_owned());
    let pairs: [(&str, Option<String>, Option<String>); 5] = [
        ("lead.company", account.as_ref().map(|a| a.name.clone()), lead.as_ref().and_then(|l| l.company_name.clone())),
        (
            "lead.prefecture",
            account.as_ref().and_then(|a| a.prefecture.clone()),
            lead.as_ref().and_then(|l| l.prefecture.clone()),
        ),
        (
            "lead.address",
            account.as_ref().and_then(|a| a.address.clone()),
            lead.as_ref().and_then(|l| l.address.clone()),
        ),
        ("account.domains", account.as_ref().map(|a| a.domain_list().join(" ")).filter(|d| !d.is_empty()), domain),
        ("account.corporate_number", account.as_ref().and_then(|a| a.corporate_number.clone()), None),
    ];
    let rows: Vec<minijinja::Value> = pairs
        .iter()
        .map(|(label, stored, newer)| {
            context! { label => t(locale, label), stored => stored, newer => newer,
            differs => differs(stored.as_deref(), newer.as_deref()) }
        })
        .collect();
    Ok(context! {
        kind => "account",
        review => review,
        account => account,
        lead => lead,
        complete => account.is_some() && lead.is_some(),
        rows => rows,
        reason => t(locale, reason_key(&review.evidence)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_questions_say_why() {
        assert_eq!(t("en", reason_key(r#"{"reason":"ambiguous_name"}"#)), "Several companies have this name");
        assert_eq!(reason_key("[]"), "review.reason.other");
    }

    #[test]
    fn evidence_in_both_languages() {
        let json = r#"[{"field":"family_name","level":"agree","weight":4.21},{"field":"email_domain","level":"disagree","weight":-1.5}]"#;
        let ja = evidence_view(json, 2.71, "ja");
        assert_eq!(ja[0].get_attr("field").unwrap().to_string(), "姓");
        assert_eq!(ja[0].get_attr("weight").unwrap().to_string(), "+4.2");
        assert_eq!(ja[1].get_attr("level_label").unwrap().to_string(), "不一致");
        let en = evidence_view(json, 2.71, "en");
        assert_eq!(en[1].get_attr("field").unwrap().to_string(), "E-mail domain");
        assert!(evidence_view("not json", 0.0, "en").is_empty());
    }

    #[test]
    fn the_lines_add_up_to_the_score_shown() {
        // The lines add up to 14.78 (shown 14.7); each line rounded alone would add up to 14.9.
        let weights = [6.66, 3.16, 4.66, 3.36, 2.66, -4.56, -1.16];
        let score: f64 = weights.iter().sum();
        let nearest: i64 = weights.iter().map(|w| (w * 10.0).round() as i64).sum();
        assert_eq!(nearest, 149);
        let shown = shown_tenths(&weights, score);
        assert_eq!(shown.iter().sum::<i64>(), 147);
        for (w, s) in weights.iter().zip(&shown) {
            assert!((w * 10.0 - *s as f64).abs() < 1.0, "{w} shown as {s}");
        }
        // Just under a threshold: 14.96 reads 14.9 and its lines say so.
        let shown = shown_tenths(&[10.0, 4.96], 14.96);
        assert_eq!(shown, [100, 49]);
        let ja = evidence_view(r#"[{"field":"family_name","level":"agree","weight":-0.04}]"#, -0.04, "ja");
        assert_eq!(ja[0].get_attr("weight").unwrap().to_string(), "-0.1");
    }

    #[test]
    fn only_real_differences_are_marked() {
        assert!(differs(Some("課長"), Some("部長")));
        assert!(!differs(Some("ＴＥＬ"), Some("tel")));
        assert!(!differs(None, Some("部長")), "a missing value is not a difference");
    }
}
