//! Scoring models (スコアリング): per product, how a lead's behaviour (engagement), its
//! attributes (fit) and its account's people (account score) turn into numbers.
//!
//! A model is configuration as data: a [`ScoringModel`] is stored as JSON, versioned, edited in
//! the UI and exported and imported as YAML ([`ScoringModel::from_yaml`] names the line of every
//! problem). Three kinds of rule:
//!
//! - **Engagement rules**: an event kind plus optional conditions (URL pattern, event name, form,
//!   campaign, one property) give points, optionally at most *n* times per *d* days and optionally
//!   expiring after *d* days.
//! - **Decay rules**: no event of the given kinds for *d* days gives (usually negative) points,
//!   once or every *d* days of silence. They act on time passing, not only on new events.
//! - **Fit rules**: an attribute of the lead or its account (industry, employees, revenue,
//!   department class, title, prefecture, a custom field) gives points; fit is kept apart from
//!   engagement.
//!
//! How the rules are applied over a lead's events is in [`fold`]: the engagement score is a pure
//! function of the model, the events and the time, so the incremental result and a full
//! recomputation from the event log must agree (a property test checks it).

pub mod fold;

use crate::fields::optional_text;
use crate::{EventKind, FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::yaml::yaml_line;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// Limits that keep a model readable and its evaluation cheap.
pub const MAX_ENGAGEMENT_RULES: usize = 64;
pub const MAX_DECAY_RULES: usize = 16;
pub const MAX_FIT_RULES: usize = 64;
pub const MAX_POINTS: i64 = 1_000;
pub const MAX_DAYS: u32 = 3_650;
pub const MAX_CAP_TIMES: u32 = 1_000;
pub const MAX_TOP: u32 = 100;

/// A scoring model as stored (JSON) and exported (YAML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringModel {
    /// Whether events that name no product count for this product's model (a generic site
    /// visit or newsletter open); events of another product never do.
    #[serde(default = "yes")]
    pub include_unassigned: bool,
    #[serde(default)]
    pub engagement: Vec<EngagementRule>,
    #[serde(default)]
    pub decay: Vec<DecayRule>,
    #[serde(default)]
    pub fit: Vec<FitRule>,
    #[serde(default)]
    pub account: AccountRollup,
    /// Whether the points that stay may fall below zero. By default they may not: a penalty
    /// (a decay rule's, or a rule of negative points) takes at most what the lead has.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_negative: bool,
}

fn yes() -> bool {
    true
}

impl Default for ScoringModel {
    fn default() -> Self {
        Self {
            include_unassigned: true,
            engagement: Vec::new(),
            decay: Vec::new(),
            fit: Vec::new(),
            account: AccountRollup::default(),
            allow_negative: false,
        }
    }
}

/// Points for an event of a kind that meets every condition given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngagementRule {
    /// A short stable key (`pricing-page`), shown in a score's explanation.
    pub id: String,
    /// What the rule is, for people (「料金ページ閲覧」).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// An event kind (`page_view`, `download`, …).
    pub kind: String,
    /// A pattern for the event's `url` property: `*` stands for anything, case is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A pattern for the event's name (a seminar's, a custom event's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The form (its id) a `form_submit` event was sent from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<i64>,
    /// The campaign: the event's `utm_campaign` or `campaign` property, case ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// One property and the value it must have (`{key: asset, value: whitepaper-2026}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<PropertyMatch>,
    pub points: i64,
    /// At most `times` awards in any `days` days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Cap>,
    /// The points count for this many days after the event, then no longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_days: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyMatch {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    pub times: u32,
    pub days: u32,
}

/// Points (usually negative) when a lead shows no event of the given kinds for `days` days,
/// counted from its last such event or, before any, from its first event for the product.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The kinds that count as a reaction (`[mail_open, mail_click]`).
    pub kinds: Vec<String>,
    pub days: u32,
    pub points: i64,
    /// Again after every further `days` days of silence (else once per silence).
    #[serde(default)]
    pub repeat: bool,
}

/// Points for an attribute of the lead or its account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// One of [`FIT_FIELDS`] or `custom.{key}`.
    pub field: String,
    /// The value is one of these (case and width ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    /// The value contains one of these (「部長」, 「取締役」).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// A number at least this (employees, revenue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// A number at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    pub points: i64,
}

/// The attributes a fit rule can test, with labels (Japanese, English) and whether numeric.
pub const FIT_FIELDS: [(&str, &str, &str, bool); 7] = [
    ("industry", "業種", "Industry", false),
    ("employee_count", "従業員数", "Employees", true),
    ("annual_revenue", "売上高", "Annual revenue", true),
    ("department_class", "部署分類", "Department class", false),
    ("title", "役職", "Title", false),
    ("prefecture", "都道府県", "Prefecture", false),
    ("abm_tier", "ABMティア", "ABM tier", false),
];

/// How an account's score for a product is made from its people's engagement scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRollup {
    pub method: RollupMethod,
    /// For `top`: how many of the best people are added up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollupMethod {
    #[default]
    Sum,
    Max,
    Top,
}

impl RollupMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RollupMethod::Sum => "sum",
            RollupMethod::Max => "max",
            RollupMethod::Top => "top",
        }
    }
}

impl AccountRollup {
    /// The account's score from its people's scores (in any order).
    pub fn roll_up(&self, scores: &[i64]) -> i64 {
        match self.method {
            RollupMethod::Sum => scores.iter().sum(),
            RollupMethod::Max => scores.iter().copied().max().unwrap_or(0),
            RollupMethod::Top => {
                let mut sorted = scores.to_vec();
                sorted.sort_unstable_by(|a, b| b.cmp(a));
                sorted.iter().take(self.top.unwrap_or(3) as usize).sum()
            }
        }
    }
}

fn error(field: String, code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> FieldError {
    FieldError::new(field, code, ja, en)
}

fn is_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_id(errors: &mut FieldErrors, seen: &mut Vec<String>, field: String, id: &str) {
    if id.is_empty() {
        errors.push(FieldError::required(&field));
    } else if !is_rule_id(id) {
        errors.push(error(
            field,
            "invalid_rule_id",
            "IDは英小文字・数字・- _ の40文字以内で入力してください。",
            "An id may contain only lower-case letters, digits, - and _ (at most 40).",
        ));
    } else if seen.iter().any(|s| s == id) {
        errors.push(error(
            field,
            "duplicate_rule_id",
            format!("ID「{id}」は既に使われています。"),
            format!("The id \"{id}\" is used twice."),
        ));
    } else {
        seen.push(id.to_owned());
    }
}

fn check_points(errors: &mut FieldErrors, field: String, points: i64) {
    if points == 0 || points.abs() > MAX_POINTS {
        errors.push(error(
            field,
            "invalid_points",
            format!("点数は0以外の-{MAX_POINTS}〜{MAX_POINTS}で入力してください。"),
            format!("Points must be between -{MAX_POINTS} and {MAX_POINTS}, and not 0."),
        ));
    }
}

fn check_days(errors: &mut FieldErrors, field: String, days: u32) {
    if days == 0 || days > MAX_DAYS {
        errors.push(error(
            field,
            "invalid_days",
            format!("日数は1〜{MAX_DAYS}で入力してください。"),
            format!("Days must be between 1 and {MAX_DAYS}."),
        ));
    }
}

fn check_kind(errors: &mut FieldErrors, field: String, kind: &str) {
    if kind.is_empty() {
        errors.push(FieldError::required(&field));
    } else if EventKind::parse(kind).is_none() {
        let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        errors.push(error(
            field,
            "unknown_kind",
            format!("イベント種別「{kind}」はありません（{}）。", known.join(", ")),
            format!("There is no event kind \"{kind}\" ({}).", known.join(", ")),
        ));
    }
}

fn check_text(errors: &mut FieldErrors, field: String, value: Option<&str>, max: usize) {
    if let Some(value) = value {
        if value.trim().is_empty() {
            errors.push(error(field, "blank", "空欄にはできません。", "May not be blank."));
        } else {
            optional_text(errors, &field, Some(value), max);
        }
    }
}

fn too_many(field: &str, max: usize) -> FieldError {
    error(field.to_owned(), "too_many_rules", format!("ルールは{max}件までです。"), format!("At most {max} rules."))
}

impl ScoringModel {
    /// Every problem of the model, by field path (`engagement[2].points`), so that a person can
    /// fix them all at once. The custom field keys the organisation defines are given to check
    /// fit rules on custom fields.
    ///
    /// # Errors
    /// The list of problems; nothing is stored when there is one.
    pub fn check(&self, custom_keys: &[&str]) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.engagement.len() > MAX_ENGAGEMENT_RULES {
            errors.push(too_many("engagement", MAX_ENGAGEMENT_RULES));
        }
        if self.decay.len() > MAX_DECAY_RULES {
            errors.push(too_many("decay", MAX_DECAY_RULES));
        }
        if self.fit.len() > MAX_FIT_RULES {
            errors.push(too_many("fit", MAX_FIT_RULES));
        }
        let mut seen = Vec::new();
        for (i, rule) in self.engagement.iter().enumerate() {
            let at = |name: &str| format!("engagement[{i}].{name}");
            check_id(&mut errors, &mut seen, at("id"), &rule.id);
            check_text(&mut errors, at("label"), rule.label.as_deref(), 100);
            check_kind(&mut errors, at("kind"), &rule.kind);
            check_text(&mut errors, at("url"), rule.url.as_deref(), 500);
            check_text(&mut errors, at("name"), rule.name.as_deref(), 200);
            check_text(&mut errors, at("campaign"), rule.campaign.as_deref(), 200);
            if let Some(property) = &rule.property {
                check_text(&mut errors, at("property.key"), Some(&property.key), 100);
                check_text(&mut errors, at("property.value"), Some(&property.value), 500);
            }
            if rule.form.is_some() && rule.kind != EventKind::FormSubmit.as_str() {
                errors.push(error(
                    at("form"),
                    "form_needs_form_submit",
                    "フォームの条件はイベント種別 form_submit にだけ指定できます。",
                    "A form condition needs the event kind form_submit.",
                ));
            }
            check_points(&mut errors, at("points"), rule.points);
            if let Some(cap) = rule.cap {
                if cap.times == 0 || cap.times > MAX_CAP_TIMES {
                    errors.push(error(
                        at("cap.times"),
                        "invalid_times",
                        format!("回数は1〜{MAX_CAP_TIMES}で入力してください。"),
                        format!("Times must be between 1 and {MAX_CAP_TIMES}."),
                    ));
                }
                check_days(&mut errors, at("cap.days"), cap.days);
            }
            if let Some(days) = rule.expires_days {
                check_days(&mut errors, at("expires_days"), days);
                if rule.points < 0 && !self.allow_negative {
                    errors.push(FieldError::new(
                        at("expires_days"),
                        "negative_expires",
                        "マイナスの点数のルールには有効期限を付けられません（スコアが0を下回るため）。",
                        "A rule of negative points cannot expire (the score would fall below zero).",
                    ));
                }
            }
        }
        for (i, rule) in self.decay.iter().enumerate() {
            let at = |name: &str| format!("decay[{i}].{name}");
            check_id(&mut errors, &mut seen, at("id"), &rule.id);
            check_text(&mut errors, at("label"), rule.label.as_deref(), 100);
            if rule.kinds.is_empty() {
                errors.push(FieldError::required(&at("kinds")));
            }
            for (k, kind) in rule.kinds.iter().enumerate() {
                check_kind(&mut errors, format!("decay[{i}].kinds[{k}]"), kind);
            }
            check_days(&mut errors, at("days"), rule.days);
            check_points(&mut errors, at("points"), rule.points);
        }
        for (i, rule) in self.fit.iter().enumerate() {
            let at = |name: &str| format!("fit[{i}].{name}");
            check_id(&mut errors, &mut seen, at("id"), &rule.id);
            check_text(&mut errors, at("label"), rule.label.as_deref(), 100);
            let numeric = match fit_field(&rule.field) {
                Some(FitFieldRef::Known(numeric)) => Some(numeric),
                Some(FitFieldRef::Custom(key)) if custom_keys.contains(&key) => Some(false),
                Some(FitFieldRef::Custom(key)) => {
                    errors.push(error(
                        at("field"),
                        "unknown_custom_field",
                        format!("カスタム項目「{key}」は定義されていません。"),
                        format!("There is no custom field \"{key}\"."),
                    ));
                    None
                }
                None if rule.field.is_empty() => {
                    errors.push(FieldError::required(&at("field")));
                    None
                }
                None => {
                    let known: Vec<&str> = FIT_FIELDS.iter().map(|f| f.0).collect();
                    errors.push(error(
                        at("field"),
                        "unknown_fit_field",
                        format!("項目「{}」は使えません（{}、custom.キー）。", rule.field, known.join(", ")),
                        format!("The field \"{}\" cannot be used ({}, custom.key).", rule.field, known.join(", ")),
                    ));
                    None
                }
            };
            let tests = usize::from(!rule.equals.is_empty())
                + usize::from(!rule.contains.is_empty())
                + usize::from(rule.min.is_some() || rule.max.is_some());
            if tests != 1 {
                errors.push(error(
                    at("equals"),
                    "one_test",
                    "equals・contains・min/max のどれか一つを指定してください。",
                    "Give exactly one of equals, contains or min/max.",
                ));
            }
            if numeric == Some(false) && (rule.min.is_some() || rule.max.is_some()) {
                errors.push(error(
                    at("min"),
                    "not_numeric",
                    "この項目は数値ではないので min/max は使えません。",
                    "This field is not a number, so min/max cannot be used.",
                ));
            }
            if let (Some(min), Some(max)) = (rule.min, rule.max) {
                if min > max {
                    errors.push(error(
                        at("max"),
                        "max_below_min",
                        "max は min 以上にしてください。",
                        "max must not be below min.",
                    ));
                }
            }
            for (k, value) in rule.equals.iter().enumerate() {
                check_text(&mut errors, format!("fit[{i}].equals[{k}]"), Some(value), 200);
            }
            for (k, value) in rule.contains.iter().enumerate() {
                check_text(&mut errors, format!("fit[{i}].contains[{k}]"), Some(value), 200);
            }
            check_points(&mut errors, at("points"), rule.points);
        }
        match (self.account.method, self.account.top) {
            (RollupMethod::Top, Some(n)) if n == 0 || n > MAX_TOP => errors.push(error(
                "account.top".into(),
                "invalid_top",
                format!("上位人数は1〜{MAX_TOP}で入力してください。"),
                format!("Top must be between 1 and {MAX_TOP}."),
            )),
            (RollupMethod::Sum | RollupMethod::Max, Some(_)) => errors.push(error(
                "account.top".into(),
                "top_needs_method_top",
                "上位人数は method: top のときだけ指定できます。",
                "top is only used with method: top.",
            )),
            _ => {}
        }
        errors.into_result(|| ())
    }

    /// A model as YAML (the stored model's fields in order; empty parts left out).
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_yaml(self)
    }

    /// A model from YAML, checked: every problem names its field and line.
    ///
    /// # Errors
    /// The YAML is not a model (with the parser's line and column), or the model has problems.
    pub fn from_yaml(text: &str, custom_keys: &[&str]) -> Result<Self, FieldErrors> {
        crate::yaml::from_yaml(text, |model: &Self| model.check(custom_keys))
    }

    /// The model's JSON as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// A stored model.
    ///
    /// # Errors
    /// The JSON does not describe a model (a stored one always does).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The ready template of the material's classic rules: +10 per reaction (mail opened,
    /// document downloaded, a site visit a day, the pricing page, seminar attended, exhibition
    /// booth visited, form sent), −30 after half a year with no reaction to mail, and two fit
    /// rules as examples.
    pub fn template() -> Self {
        let reaction = |id: &str, label: &str, kind: EventKind| EngagementRule {
            id: id.into(),
            label: Some(label.into()),
            kind: kind.as_str().into(),
            points: 10,
            ..Default::default()
        };
        Self {
            include_unassigned: true,
            engagement: vec![
                reaction("mail-open", "メール開封", EventKind::MailOpen),
                reaction("download", "資料ダウンロード", EventKind::Download),
                EngagementRule {
                    cap: Some(Cap { times: 1, days: 1 }),
                    ..reaction("site-visit", "サイト訪問（1日1回）", EventKind::PageView)
                },
                EngagementRule {
                    url: Some("*/pricing*".into()),
                    cap: Some(Cap { times: 3, days: 30 }),
                    ..reaction("pricing-page", "料金ページ閲覧（30日に3回まで）", EventKind::PageView)
                },
                reaction("seminar", "セミナー参加", EventKind::SeminarAttendance),
                reaction("exhibition", "展示会ブース来場", EventKind::ExhibitionVisit),
                reaction("inquiry", "フォーム送信", EventKind::FormSubmit),
            ],
            decay: vec![DecayRule {
                id: "no-mail-reaction".into(),
                label: Some("メール無反応（半年）".into()),
                kinds: vec![EventKind::MailOpen.as_str().into(), EventKind::MailClick.as_str().into()],
                days: 180,
                points: -30,
                repeat: false,
            }],
            fit: vec![
                FitRule {
                    id: "large-company".into(),
                    label: Some("従業員300名以上".into()),
                    field: "employee_count".into(),
                    min: Some(300),
                    points: 10,
                    ..Default::default()
                },
                FitRule {
                    id: "manager".into(),
                    label: Some("管理職".into()),
                    field: "title".into(),
                    contains: vec!["部長".into(), "課長".into(), "マネージャー".into(), "manager".into()],
                    points: 10,
                    ..Default::default()
                },
            ],
            account: AccountRollup::default(),
            allow_negative: false,
        }
    }

    /// The fit score of a subject and the rules that gave it.
    pub fn fit(&self, subject: &FitSubject<'_>) -> (i64, Vec<&FitRule>) {
        let matched: Vec<&FitRule> = self.fit.iter().filter(|rule| rule.matches(subject)).collect();
        (matched.iter().map(|rule| rule.points).sum(), matched)
    }
}

enum FitFieldRef<'a> {
    Known(bool),
    Custom(&'a str),
}

fn fit_field(field: &str) -> Option<FitFieldRef<'_>> {
    if let Some(key) = field.strip_prefix("custom.") {
        return (!key.is_empty()).then_some(FitFieldRef::Custom(key));
    }
    FIT_FIELDS.iter().find(|f| f.0 == field).map(|f| FitFieldRef::Known(f.3))
}

/// What fit rules look at: the lead's and its account's attributes.
#[derive(Debug, Clone, Default)]
pub struct FitSubject<'a> {
    pub industry: Option<&'a str>,
    pub employee_count: Option<i64>,
    pub annual_revenue: Option<i64>,
    pub department_class: Option<&'a str>,
    pub title: Option<&'a str>,
    pub prefecture: Option<&'a str>,
    pub abm_tier: Option<&'a str>,
    /// The lead's custom field values.
    pub custom: Option<&'a Map<String, Value>>,
}

fn fold_text(text: &str) -> String {
    crate::text::nfkc_trim(text).to_lowercase()
}

impl FitRule {
    pub fn matches(&self, subject: &FitSubject<'_>) -> bool {
        let number = match self.field.as_str() {
            "employee_count" => subject.employee_count,
            "annual_revenue" => subject.annual_revenue,
            _ => None,
        };
        if self.min.is_some() || self.max.is_some() {
            return number.is_some_and(|n| self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max));
        }
        let custom;
        let text: Option<&str> = match self.field.as_str() {
            "industry" => subject.industry,
            "department_class" => subject.department_class,
            "title" => subject.title,
            "prefecture" => subject.prefecture,
            "abm_tier" => subject.abm_tier,
            "employee_count" | "annual_revenue" => {
                custom = number.map(|n| n.to_string());
                custom.as_deref()
            }
            field => {
                let key = field.strip_prefix("custom.").unwrap_or(field);
                custom = subject.custom.and_then(|map| map.get(key)).and_then(|value| match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                });
                custom.as_deref()
            }
        };
        let Some(text) = text.map(fold_text).filter(|t| !t.is_empty()) else { return false };
        if !self.equals.is_empty() {
            return self.equals.iter().any(|value| fold_text(value) == text);
        }
        self.contains.iter().any(|value| text.contains(&fold_text(value)))
    }
}

#[cfg(test)]
mod tests;
