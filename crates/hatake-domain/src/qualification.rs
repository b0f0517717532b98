//! MQL policies (トスアップ条件): per product, when a lead is worth passing to sales.
//!
//! A policy has several *modes* — e.g. `strict` for the busy season, `normal`, `lenient` for the
//! quiet season — so that what is passed follows what sales can handle. Each mode combines an
//! engagement and a fit threshold, an account-score threshold, hearing items that must be known
//! (custom fields, or lead fields such as `phone`), and whether the record must be a complete
//! lead (not a list entry). Exclusions apply in every mode: free-mail addresses, listed domains
//! (competitors) and company names, custom-field values, existing customers.
//!
//! Which mode is in force on a day: the mode switched by hand if there is one, else the first
//! scheduled date range containing the day, else the default mode. A policy is configuration as
//! data: stored as JSON, versioned, exported and imported as YAML.

use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Addresses of free mail providers: a person writing from one rarely speaks for a company.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.co.jp",
    "ymail.ne.jp",
    "yahoo.com",
    "hotmail.com",
    "hotmail.co.jp",
    "outlook.com",
    "outlook.jp",
    "live.jp",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "docomo.ne.jp",
    "ezweb.ne.jp",
    "au.com",
    "softbank.ne.jp",
    "i.softbank.jp",
    "nifty.com",
    "biglobe.ne.jp",
    "ocn.ne.jp",
    "so-net.ne.jp",
    "zoho.com",
    "gmx.com",
    "mail.com",
];

/// Lead fields that can be required as known (besides `custom.{key}`).
pub const REQUIRABLE_FIELDS: [&str; 8] =
    ["company_name", "department", "title", "phone", "prefecture", "address", "family_name_kana", "account"];

pub const MAX_MODES: usize = 8;
pub const MAX_RANGES: usize = 50;
pub const MAX_LIST: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqlPolicy {
    pub modes: Vec<PolicyMode>,
    /// The mode used on days no range covers.
    pub default_mode: String,
    /// A mode switched by hand: in force on every day until switched back (`null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ModeRange>,
    #[serde(default)]
    pub exclusions: Exclusions,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMode {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_engagement: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fit: Option<i64>,
    /// The lead's account's score for the product (its people rolled up by the scoring model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_account_score: Option<i64>,
    /// Items that must be known: `custom.{key}` (hearing items) or one of [`REQUIRABLE_FIELDS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// Whether list entries (records missing the required field set) can qualify too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_list_entries: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(value: &bool) -> bool {
    !*value
}

/// A mode in force from `from` to `to`, both days included (`YYYY-MM-DD`, the organisation's
/// time zone).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeRange {
    pub mode: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusions {
    /// Leads writing from a free mail provider ([`FREE_MAIL_DOMAINS`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub free_mail: bool,
    /// E-mail domains never passed (competitors, partners); a domain covers its subdomains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Company names never passed (a name containing one of these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companies: Vec<String>,
    /// Custom-field values never passed (`{key: relationship, values: [競合, 代理店]}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom: Vec<CustomExclusion>,
    /// Leads whose account already bought the product (a won opportunity).
    #[serde(default, skip_serializing_if = "is_false")]
    pub existing_customers: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomExclusion {
    pub key: String,
    pub values: Vec<String>,
}

/// What a policy looks at for one lead and product.
#[derive(Debug, Clone, Default)]
pub struct LeadFacts<'a> {
    pub is_lead: bool,
    pub engagement: i64,
    pub fit: i64,
    pub account_score: Option<i64>,
    pub email: Option<&'a str>,
    pub company: Option<&'a str>,
    /// The lead fields of [`REQUIRABLE_FIELDS`] that are filled.
    pub filled: Vec<&'static str>,
    pub custom: Option<&'a Map<String, Value>>,
    pub existing_customer: bool,
    /// The organisation's custom fields as (key, Japanese label, English label), to name
    /// hearing items in words.
    pub custom_labels: &'a [(String, String, String)],
}

/// What a required item is called, in Japanese and English: a lead field of
/// [`REQUIRABLE_FIELDS`], or a custom field (hearing item) by its label.
pub fn item_label(item: &str, custom_labels: &[(String, String, String)]) -> (String, String) {
    if let Some(key) = item.strip_prefix("custom.") {
        return custom_labels
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or_else(|| (key.to_owned(), key.to_owned()), |(_, ja, en)| (ja.clone(), en.clone()));
    }
    let (ja, en) = match item {
        "company_name" => ("会社名", "Company"),
        "department" => ("部署", "Department"),
        "title" => ("役職", "Title"),
        "phone" => ("電話番号", "Phone"),
        "prefecture" => ("都道府県", "Prefecture"),
        "address" => ("住所", "Address"),
        "family_name_kana" => ("フリガナ", "Reading (kana)"),
        "account" => ("企業マスタとの紐付け", "Link to the company master"),
        other => (other, other),
    };
    (ja.to_owned(), en.to_owned())
}

/// A condition a lead does not meet, in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmet {
    pub code: &'static str,
    pub message_ja: String,
    pub message_en: String,
}

fn unmet(code: &'static str, ja: String, en: String) -> Unmet {
    Unmet { code, message_ja: ja, message_en: en }
}

fn norm(text: &str) -> String {
    crate::text::nfkc_trim(text).to_lowercase()
}

fn custom_text(custom: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    match custom?.get(key)? {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Default for MqlPolicy {
    fn default() -> Self {
        Self::template()
    }
}

impl MqlPolicy {
    /// The ready template: MQL at 50 engagement points (the material's rule) in `normal`, a
    /// stricter mode for the busy season and a lenient one for the quiet season, free mail
    /// excluded.
    pub fn template() -> Self {
        Self {
            modes: vec![
                PolicyMode {
                    id: "strict".into(),
                    label: Some("繁忙期（厳しめ）".into()),
                    min_engagement: Some(80),
                    min_fit: Some(10),
                    ..Default::default()
                },
                PolicyMode {
                    id: "normal".into(),
                    label: Some("通常".into()),
                    min_engagement: Some(50),
                    ..Default::default()
                },
                PolicyMode {
                    id: "lenient".into(),
                    label: Some("閑散期（緩め）".into()),
                    min_engagement: Some(30),
                    ..Default::default()
                },
            ],
            default_mode: "normal".into(),
            manual_mode: None,
            schedule: Vec::new(),
            exclusions: Exclusions { free_mail: true, existing_customers: true, ..Default::default() },
        }
    }

    pub fn mode(&self, id: &str) -> Option<&PolicyMode> {
        self.modes.iter().find(|m| m.id == id)
    }

    /// The mode in force on a day (`YYYY-MM-DD`).
    pub fn mode_on(&self, day: &str) -> Option<&PolicyMode> {
        if let Some(manual) = &self.manual_mode {
            return self.mode(manual);
        }
        let scheduled = self.schedule.iter().find(|r| r.from.as_str() <= day && day <= r.to.as_str());
        self.mode(scheduled.map_or(&self.default_mode, |r| &r.mode))
    }

    /// Every problem, by field path, so they can all be fixed at once.
    ///
    /// # Errors
    /// The problems; nothing is stored when there is one.
    pub fn check(&self, custom_keys: &[&str]) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.modes.is_empty() {
            errors.push(FieldError::required("modes"));
        }
        if self.modes.len() > MAX_MODES {
            errors.push(FieldError::new(
                "modes",
                "too_many",
                format!("モードは{MAX_MODES}個までです。"),
                format!("At most {MAX_MODES} modes."),
            ));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (i, mode) in self.modes.iter().enumerate() {
            let at = |name: &str| format!("modes[{i}].{name}");
            let valid_id = !mode.id.is_empty()
                && mode.id.len() <= 40
                && mode.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if !valid_id {
                errors.push(FieldError::new(
                    at("id"),
                    "invalid_mode_id",
                    "IDは英小文字・数字・- _ の40文字以内で入力してください。",
                    "An id may contain only lower-case letters, digits, - and _ (at most 40).",
                ));
            } else if seen.contains(&mode.id.as_str()) {
                errors.push(FieldError::new(
                    at("id"),
                    "duplicate_mode_id",
                    format!("モード「{}」が重複しています。", mode.id),
                    format!("The mode \"{}\" is defined twice.", mode.id),
                ));
            } else {
                seen.push(&mode.id);
            }
            if mode.min_engagement.is_none()
                && mode.min_fit.is_none()
                && mode.min_account_score.is_none()
                && mode.required.is_empty()
            {
                errors.push(FieldError::new(
                    at("min_engagement"),
                    "no_condition",
                    "条件がありません。しきい値か必須項目を一つ以上指定してください。",
                    "The mode has no condition: give a threshold or a required item.",
                ));
            }
            for (k, item) in mode.required.iter().enumerate() {
                let known = match item.strip_prefix("custom.") {
                    Some(key) => custom_keys.contains(&key),
                    None => REQUIRABLE_FIELDS.contains(&item.as_str()),
                };
                if !known {
                    errors.push(FieldError::new(
                        format!("modes[{i}].required[{k}]"),
                        "unknown_item",
                        format!("項目「{item}」はありません（{}、custom.キー）。", REQUIRABLE_FIELDS.join(", ")),
                        format!("There is no item \"{item}\" ({}, custom.key).", REQUIRABLE_FIELDS.join(", ")),
                    ));
                }
            }
        }
        let known_mode = |field: String, id: &str, errors: &mut FieldErrors| {
            if !self.modes.iter().any(|m| m.id == id) {
                errors.push(FieldError::new(
                    field,
                    "unknown_mode",
                    format!("モード「{id}」は定義されていません。"),
                    format!("There is no mode \"{id}\"."),
                ));
            }
        };
        known_mode("default_mode".into(), &self.default_mode, &mut errors);
        if let Some(manual) = &self.manual_mode {
            known_mode("manual_mode".into(), manual, &mut errors);
        }
        if self.schedule.len() > MAX_RANGES {
            errors.push(FieldError::new(
                "schedule",
                "too_many",
                format!("期間は{MAX_RANGES}件までです。"),
                format!("At most {MAX_RANGES} ranges."),
            ));
        }
        for (i, range) in self.schedule.iter().enumerate() {
            known_mode(format!("schedule[{i}].mode"), &range.mode, &mut errors);
            let from = range.from.parse::<jiff::civil::Date>();
            let to = range.to.parse::<jiff::civil::Date>();
            for (name, parsed) in [("from", &from), ("to", &to)] {
                if parsed.is_err() {
                    errors.push(FieldError::new(
                        format!("schedule[{i}].{name}"),
                        "invalid_date",
                        "日付は YYYY-MM-DD で入力してください。",
                        "Dates are written YYYY-MM-DD.",
                    ));
                }
            }
            if let (Ok(from), Ok(to)) = (from, to) {
                if to < from {
                    errors.push(FieldError::new(
                        format!("schedule[{i}].to"),
                        "to_before_from",
                        "終了日が開始日より前です。",
                        "The end is before the start.",
                    ));
                }
            }
        }
        let lists =
            [("exclusions.domains", &self.exclusions.domains), ("exclusions.companies", &self.exclusions.companies)];
        for (field, list) in lists {
            if list.len() > MAX_LIST {
                errors.push(FieldError::new(
                    field,
                    "too_many",
                    format!("{MAX_LIST}件までです。"),
                    format!("At most {MAX_LIST}."),
                ));
            }
            for (k, value) in list.iter().enumerate() {
                if value.trim().is_empty() {
                    errors.push(FieldError::new(
                        format!("{field}[{k}]"),
                        "blank",
                        "空欄にはできません。",
                        "May not be blank.",
                    ));
                }
            }
        }
        for (i, rule) in self.exclusions.custom.iter().enumerate() {
            if !custom_keys.contains(&rule.key.as_str()) {
                errors.push(FieldError::new(
                    format!("exclusions.custom[{i}].key"),
                    "unknown_custom_field",
                    format!("カスタム項目「{}」は定義されていません。", rule.key),
                    format!("There is no custom field \"{}\".", rule.key),
                ));
            }
            if rule.values.is_empty() {
                errors.push(FieldError::required(&format!("exclusions.custom[{i}].values")));
            }
        }
        errors.into_result(|| ())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// # Errors
    /// The JSON is not a policy (a stored one always is).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_yaml(self)
    }

    /// # Errors
    /// The YAML is not a policy, or the policy has problems (each with its line).
    pub fn from_yaml(text: &str, custom_keys: &[&str]) -> Result<Self, FieldErrors> {
        crate::yaml::from_yaml(text, |policy: &Self| policy.check(custom_keys))
    }

    /// Why a lead is excluded whatever the mode, if it is.
    pub fn excluded(&self, facts: &LeadFacts<'_>) -> Option<Unmet> {
        let x = &self.exclusions;
        let domain = facts.email.and_then(|e| e.rsplit_once('@')).map(|(_, d)| d.to_lowercase());
        if let Some(domain) = &domain {
            if x.free_mail && FREE_MAIL_DOMAINS.contains(&domain.as_str()) {
                return Some(unmet(
                    "free_mail",
                    format!("フリーメール（{domain}）は対象外です。"),
                    format!("Free mail ({domain}) is excluded."),
                ));
            }
            let listed = x
                .domains
                .iter()
                .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                .find(|d| domain == d || domain.ends_with(&format!(".{d}")));
            if let Some(listed) = listed {
                return Some(unmet(
                    "excluded_domain",
                    format!("除外ドメイン（{listed}）です。"),
                    format!("The domain {listed} is excluded."),
                ));
            }
        }
        if let Some(company) = facts.company.map(norm) {
            if let Some(name) = x.companies.iter().find(|c| !c.trim().is_empty() && company.contains(&norm(c))) {
                return Some(unmet(
                    "excluded_company",
                    format!("除外企業（{name}）です。"),
                    format!("The company {name} is excluded."),
                ));
            }
        }
        for rule in &x.custom {
            if let Some(value) = custom_text(facts.custom, &rule.key) {
                if rule.values.iter().any(|v| norm(v) == norm(&value)) {
                    return Some(unmet(
                        "excluded_value",
                        format!("{}が「{value}」のため対象外です。", rule.key),
                        format!("Excluded because {} is \"{value}\".", rule.key),
                    ));
                }
            }
        }
        if x.existing_customers && facts.existing_customer {
            return Some(unmet("existing_customer", "既存顧客です。".into(), "An existing customer.".into()));
        }
        None
    }

    /// The conditions of `mode` (and the exclusions) the lead does not meet; none means it
    /// qualifies.
    pub fn unmet(&self, mode: &PolicyMode, facts: &LeadFacts<'_>) -> Vec<Unmet> {
        let mut out = Vec::new();
        if let Some(excluded) = self.excluded(facts) {
            out.push(excluded);
        }
        if !mode.allow_list_entries && !facts.is_lead {
            out.push(unmet(
                "list_entry",
                "必須項目がそろっていないリストです。".into(),
                "A list entry: the required fields are not complete.".into(),
            ));
        }
        let mut below = |code: &'static str, ja: &str, en: &str, have: Option<i64>, min: Option<i64>| {
            if let Some(min) = min {
                if have.is_none_or(|have| have < min) {
                    let have = have.map_or_else(|| "—".to_owned(), |h| h.to_string());
                    out.push(unmet(code, format!("{ja} {have} < {min}"), format!("{en} {have} < {min}")));
                }
            }
        };
        below("engagement", "エンゲージメント", "Engagement", Some(facts.engagement), mode.min_engagement);
        below("fit", "フィット", "Fit", Some(facts.fit), mode.min_fit);
        below("account_score", "企業スコア", "Account score", facts.account_score, mode.min_account_score);
        for item in &mode.required {
            let known = match item.strip_prefix("custom.") {
                Some(key) => custom_text(facts.custom, key).is_some(),
                None => facts.filled.contains(&item.as_str()),
            };
            if !known {
                let (ja, en) = item_label(item, facts.custom_labels);
                out.push(unmet("required", format!("「{ja}」が未入力です。"), format!("{en} is not known.")));
            }
        }
        out
    }

    /// The conditions of `mode` a lead meets, in words, for "why it qualified" (「エンゲージメント
    /// 85 ≥ 50」); only the conditions the mode sets.
    pub fn met(&self, mode: &PolicyMode, facts: &LeadFacts<'_>) -> Vec<Unmet> {
        let mut out = Vec::new();
        let mut at_least = |code: &'static str, ja: &str, en: &str, have: Option<i64>, min: Option<i64>| {
            if let (Some(have), Some(min)) = (have, min) {
                if have >= min {
                    out.push(unmet(code, format!("{ja} {have} ≥ {min}"), format!("{en} {have} ≥ {min}")));
                }
            }
        };
        at_least("engagement", "エンゲージメント", "Engagement", Some(facts.engagement), mode.min_engagement);
        at_least("fit", "フィット", "Fit", Some(facts.fit), mode.min_fit);
        at_least("account_score", "企業スコア", "Account score", facts.account_score, mode.min_account_score);
        if !mode.required.is_empty() {
            let (ja, en): (Vec<String>, Vec<String>) =
                mode.required.iter().map(|item| item_label(item, facts.custom_labels)).unzip();
            out.push(unmet("required", format!("把握済み: {}", ja.join("・")), format!("Known: {}", en.join(", "))));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> LeadFacts<'static> {
        LeadFacts {
            is_lead: true,
            engagement: 60,
            fit: 20,
            account_score: Some(100),
            email: Some("sato@example.co.jp"),
            company: Some("株式会社サンプル"),
            filled: vec!["phone", "title"],
            custom: None,
            existing_customer: false,
            custom_labels: &[],
        }
    }

    fn codes(list: &[Unmet]) -> Vec<&'static str> {
        list.iter().map(|u| u.code).collect()
    }

    #[test]
    fn modes_thresholds_and_exclusions() {
        let mut policy = MqlPolicy::template();
        policy.check(&[]).unwrap();
        let normal = policy.mode("normal").unwrap().clone();
        let strict = policy.mode("strict").unwrap().clone();
        assert!(policy.unmet(&normal, &facts()).is_empty());
        assert_eq!(codes(&policy.unmet(&strict, &facts())), ["engagement"]);
        let free = LeadFacts { email: Some("taro@GMAIL.com"), ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &free)), ["free_mail"]);
        let list = LeadFacts { is_lead: false, engagement: 10, ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &list)), ["list_entry", "engagement"]);
        let customer = LeadFacts { existing_customer: true, ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &customer)), ["existing_customer"]);

        policy.exclusions.domains = vec!["rival.co.jp".into()];
        policy.exclusions.companies = vec!["ライバル".into()];
        let rival = LeadFacts { email: Some("a@mail.rival.co.jp"), ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &rival)), ["excluded_domain"]);
        let named = LeadFacts { company: Some("ライバル工業株式会社"), ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &named)), ["excluded_company"]);
        let not_rival = LeadFacts { email: Some("a@notrival.co.jp"), ..facts() };
        assert!(policy.unmet(&normal, &not_rival).is_empty());

        let custom: Map<String, Value> = serde_json::from_str(r#"{"timing":"3ヶ月以内","relation":"競合"}"#).unwrap();
        policy.exclusions.custom = vec![CustomExclusion { key: "relation".into(), values: vec!["競合".into()] }];
        let with_custom = LeadFacts { custom: Some(&custom), ..facts() };
        assert_eq!(codes(&policy.unmet(&normal, &with_custom)), ["excluded_value"]);
        policy.exclusions.custom.clear();
        let hearing =
            PolicyMode { required: vec!["custom.timing".into(), "phone".into(), "address".into()], ..normal.clone() };
        assert_eq!(codes(&policy.unmet(&hearing, &with_custom)), ["required"]);
    }

    #[test]
    fn the_mode_in_force() {
        let mut policy = MqlPolicy::template();
        policy.schedule = vec![ModeRange { mode: "strict".into(), from: "2026-01-10".into(), to: "2026-03-31".into() }];
        policy.check(&[]).unwrap();
        assert_eq!(policy.mode_on("2026-01-09").unwrap().id, "normal");
        assert_eq!(policy.mode_on("2026-01-10").unwrap().id, "strict");
        assert_eq!(policy.mode_on("2026-03-31").unwrap().id, "strict");
        assert_eq!(policy.mode_on("2026-04-01").unwrap().id, "normal");
        policy.manual_mode = Some("lenient".into());
        assert_eq!(policy.mode_on("2026-02-01").unwrap().id, "lenient");
    }

    #[test]
    fn every_bad_policy_is_named() {
        let policy = MqlPolicy {
            modes: vec![
                PolicyMode { id: "Strict!".into(), ..Default::default() },
                PolicyMode {
                    id: "a".into(),
                    min_engagement: Some(1),
                    required: vec!["custom.nope".into(), "shoe".into()],
                    ..Default::default()
                },
                PolicyMode { id: "a".into(), min_fit: Some(1), ..Default::default() },
            ],
            default_mode: "normal".into(),
            manual_mode: Some("x".into()),
            schedule: vec![
                ModeRange { mode: "a".into(), from: "2026-04-01".into(), to: "2026-03-01".into() },
                ModeRange { mode: "a".into(), from: "4/1".into(), to: "2026-03-01".into() },
            ],
            exclusions: Exclusions {
                domains: vec![" ".into()],
                custom: vec![CustomExclusion { key: "k".into(), values: vec![] }],
                ..Default::default()
            },
        };
        let errors = policy.check(&[]).unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("modes[0].id", "invalid_mode_id"),
                ("modes[0].min_engagement", "no_condition"),
                ("modes[1].required[0]", "unknown_item"),
                ("modes[1].required[1]", "unknown_item"),
                ("modes[2].id", "duplicate_mode_id"),
                ("default_mode", "unknown_mode"),
                ("manual_mode", "unknown_mode"),
                ("schedule[0].to", "to_before_from"),
                ("schedule[1].from", "invalid_date"),
                ("exclusions.domains[0]", "blank"),
                ("exclusions.custom[0].key", "unknown_custom_field"),
                ("exclusions.custom[0].values", "required"),
            ]
        );
        let yaml = MqlPolicy::template().to_yaml();
        assert_eq!(MqlPolicy::from_yaml(&yaml, &[]).unwrap(), MqlPolicy::template());
        let bad = yaml.replace("default_mode: normal", "default_mode: busy");
        let errors = MqlPolicy::from_yaml(&bad, &[]).unwrap_err();
        assert!(errors.0[0].message_en.starts_with("Line "), "{}", errors.0[0].message_en);
    }
}
