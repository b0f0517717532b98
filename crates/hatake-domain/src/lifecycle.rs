//! A lead's path per product (リードの状態遷移): lead → MQL → SAL → opportunity → won / lost, and
//! recycling back to nurturing from MQL, SAL or lost — always with a reason. A record that
//! lacks the required field set is a *list* entry, shown as such until it is complete.
//!
//! Also the per-product *process* configuration: the opportunity stages, each defined by a
//! concrete, checkable action (初回訪問済, 提案書提出済, 稟議中, 口頭発注) rather than a guessed
//! probability; the lost and recycle reasons; and the service level for answering an MQL, in
//! business hours ([`add_business_hours`]).

use crate::holidays::is_business_day;
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Lead,
    Mql,
    Sal,
    Opportunity,
    Won,
    Lost,
    /// Recycled: back to nurturing, not a now-lead.
    Nurturing,
}

impl Stage {
    pub const ALL: [Stage; 7] =
        [Stage::Lead, Stage::Mql, Stage::Sal, Stage::Opportunity, Stage::Won, Stage::Lost, Stage::Nurturing];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Mql => "mql",
            Stage::Sal => "sal",
            Stage::Opportunity => "opportunity",
            Stage::Won => "won",
            Stage::Lost => "lost",
            Stage::Nurturing => "nurturing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn label(self, locale: &str) -> &'static str {
        let (ja, en) = match self {
            Stage::Lead => ("リード", "Lead"),
            Stage::Mql => ("MQL", "MQL"),
            Stage::Sal => ("SAL", "SAL"),
            Stage::Opportunity => ("商談", "Opportunity"),
            Stage::Won => ("受注", "Won"),
            Stage::Lost => ("失注", "Lost"),
            Stage::Nurturing => ("ナーチャリング（リサイクル）", "Nurturing (recycled)"),
        };
        if locale == "en" {
            en
        } else {
            ja
        }
    }

    /// Whether a lead may go from `self` to `to`, and whether it needs a reason.
    ///
    /// # Errors
    /// A field error (`stage`) naming the move when it is not allowed.
    pub fn check_move(self, to: Stage) -> Result<NeedsReason, FieldError> {
        use Stage::{Lead, Lost, Mql, Nurturing, Opportunity, Sal, Won};
        let needs = match (self, to) {
            // Qualifying (by the policy, or by hand) from lead or nurturing.
            (Lead | Nurturing, Mql) => NeedsReason::No,
            // Sales accepts; or a person passes a lead straight on (with a reason).
            (Mql, Sal) => NeedsReason::No,
            (Lead | Nurturing, Sal) => NeedsReason::Yes,
            (Sal, Opportunity) => NeedsReason::No,
            (Opportunity, Won | Lost) => NeedsReason::Yes,
            // Recycling: rejected MQL, SAL not worth a visit, lost deal — always with a reason.
            (Mql | Sal | Lost | Opportunity, Nurturing) => NeedsReason::Yes,
            _ => {
                return Err(FieldError::new(
                    "stage",
                    "move_not_allowed",
                    format!("「{}」から「{}」へは移せません。", self.label("ja"), to.label("ja")),
                    format!("A lead cannot go from {} to {}.", self.label("en"), to.label("en")),
                ))
            }
        };
        Ok(needs)
    }

    /// The moves a person can make from this stage (automatic qualification aside).
    pub fn next(self) -> Vec<Stage> {
        Self::ALL.into_iter().filter(|to| *to != self && self.check_move(*to).is_ok()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsReason {
    Yes,
    No,
}

/// A reason from a configured list (key and labels).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonItem {
    pub key: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_en: Option<String>,
}

impl ReasonItem {
    fn new(key: &str, label: &str, en: &str) -> Self {
        Self { key: key.into(), label: label.into(), label_en: Some(en.into()) }
    }

    pub fn label(&self, locale: &str) -> &str {
        match (&self.label_en, locale) {
            (Some(en), "en") => en,
            _ => &self.label,
        }
    }
}

/// An opportunity stage: reached when its action is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStage {
    pub key: String,
    pub label: String,
    /// The concrete, checkable action that puts a deal in this stage.
    pub action: String,
}

/// A product's sales process: opportunity stages, reasons, and the MQL service level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    pub stages: Vec<PipelineStage>,
    pub lost_reasons: Vec<ReasonItem>,
    pub recycle_reasons: Vec<ReasonItem>,
    /// An MQL not accepted or rejected within this many business hours breaches the SLA.
    pub sla_business_hours: u32,
    /// Business hours: from this hour to that (the organisation's time zone), on business days.
    #[serde(default = "nine")]
    pub day_starts: u32,
    #[serde(default = "eighteen")]
    pub day_ends: u32,
    /// How long the product a deal was lost to usually stays installed (months): a lost deal
    /// with the competitor's install date gets its re-approach date from it.
    #[serde(default = "sixty")]
    pub replacement_cycle_months: u32,
    /// How many months before the replacement is due the lead is approached again.
    #[serde(default = "six")]
    pub reapproach_months_before: u32,
}

fn sixty() -> u32 {
    60
}

fn six() -> u32 {
    6
}

fn nine() -> u32 {
    9
}

fn eighteen() -> u32 {
    18
}

impl Default for ProcessConfig {
    fn default() -> Self {
        let stage = |key: &str, label: &str, action: &str| PipelineStage {
            key: key.into(),
            label: label.into(),
            action: action.into(),
        };
        Self {
            stages: vec![
                stage("visited", "初回訪問済", "初回訪問（オンライン含む）を実施した"),
                stage("proposal", "提案書提出済", "提案書・見積書を提出した"),
                stage("approval", "稟議中", "先方で稟議が上がったことを確認した"),
                stage("verbal", "口頭発注", "口頭または内示で発注の意思を受けた"),
            ],
            lost_reasons: vec![
                ReasonItem::new("competitor", "競合に負けた", "Lost to a competitor"),
                ReasonItem::new("no_budget", "予算がない", "No budget"),
                ReasonItem::new("timing", "時期が合わない", "Timing"),
                ReasonItem::new("no_need", "ニーズがない", "No need"),
                ReasonItem::new("no_response", "連絡がつかない", "No response"),
                ReasonItem::new("other", "その他", "Other"),
            ],
            recycle_reasons: vec![
                ReasonItem::new("not_now", "今ではない（時期尚早）", "Not now"),
                ReasonItem::new("info_gathering", "情報収集段階", "Only gathering information"),
                ReasonItem::new("no_budget", "予算がない", "No budget"),
                ReasonItem::new("wrong_person", "担当者ではない", "Not the right person"),
                ReasonItem::new("no_response", "連絡がつかない", "No response"),
                ReasonItem::new("other", "その他", "Other"),
            ],
            sla_business_hours: 24,
            day_starts: 9,
            day_ends: 18,
            replacement_cycle_months: 60,
            reapproach_months_before: 6,
        }
    }
}

fn check_key(errors: &mut FieldErrors, seen: &mut Vec<String>, field: String, key: &str) {
    let ok = !key.is_empty()
        && key.len() <= 40
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        errors.push(FieldError::new(
            field,
            "invalid_key",
            "キーは英小文字・数字・- _ の40文字以内で入力してください。",
            "A key may contain only lower-case letters, digits, - and _ (at most 40).",
        ));
    } else if seen.iter().any(|s| s == key) {
        errors.push(FieldError::new(
            field,
            "duplicate_key",
            format!("キー「{key}」が重複しています。"),
            format!("The key \"{key}\" is used twice."),
        ));
    } else {
        seen.push(key.to_owned());
    }
}

fn check_label(errors: &mut FieldErrors, field: String, label: &str) {
    if label.trim().is_empty() {
        errors.push(FieldError::required(&field));
    } else if label.chars().count() > 100 {
        errors.push(FieldError::too_long(&field, 100));
    }
}

impl ProcessConfig {
    /// # Errors
    /// Every problem by field path.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if self.stages.is_empty() {
            errors.push(FieldError::required("stages"));
        }
        if self.stages.len() > 20 {
            errors.push(FieldError::new("stages", "too_many", "段階は20個までです。", "At most 20 stages."));
        }
        let mut seen = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            check_key(&mut errors, &mut seen, format!("stages[{i}].key"), &stage.key);
            check_label(&mut errors, format!("stages[{i}].label"), &stage.label);
            if stage.action.trim().is_empty() {
                errors.push(FieldError::new(
                    format!("stages[{i}].action"),
                    "action_required",
                    "段階は確認できる行動で定義してください（例: 提案書を提出した）。",
                    "Define each stage by a concrete, checkable action (e.g. proposal submitted).",
                ));
            }
        }
        for (name, list) in [("lost_reasons", &self.lost_reasons), ("recycle_reasons", &self.recycle_reasons)] {
            if list.is_empty() {
                errors.push(FieldError::required(name));
            }
            let mut seen = Vec::new();
            for (i, reason) in list.iter().enumerate() {
                check_key(&mut errors, &mut seen, format!("{name}[{i}].key"), &reason.key);
                check_label(&mut errors, format!("{name}[{i}].label"), &reason.label);
            }
        }
        if self.sla_business_hours == 0 || self.sla_business_hours > 24 * 30 {
            errors.push(FieldError::new(
                "sla_business_hours",
                "invalid_hours",
                "SLAは1〜720営業時間で入力してください。",
                "The SLA must be between 1 and 720 business hours.",
            ));
        }
        if self.day_starts >= self.day_ends || self.day_ends > 24 {
            errors.push(FieldError::new(
                "day_ends",
                "invalid_business_hours",
                "営業時間は 0〜24 時の範囲で、開始が終了より前になるよう指定してください。",
                "Business hours must lie within 0–24 and start before they end.",
            ));
        }
        errors.into_result(|| ())
    }

    pub fn stage(&self, key: &str) -> Option<&PipelineStage> {
        self.stages.iter().find(|s| s.key == key)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// # Errors
    /// Not a process configuration.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    pub fn to_yaml(&self) -> String {
        crate::yaml::to_yaml(self)
    }

    /// # Errors
    /// Not YAML of a configuration, or one with problems (each with its line).
    pub fn from_yaml(text: &str) -> Result<Self, FieldErrors> {
        crate::yaml::from_yaml(text, Self::check)
    }

    /// The day to approach a lead again whose deal went to a competitor installed on `installed`.
    pub fn reapproach_on(&self, installed: jiff::civil::Date) -> Option<jiff::civil::Date> {
        let months = i64::from(self.replacement_cycle_months) - i64::from(self.reapproach_months_before);
        installed.checked_add(jiff::Span::new().months(months.max(0))).ok()
    }

    /// When an MQL that became one at `start` breaches the SLA.
    pub fn sla_deadline(&self, start_ms: i64, zone: &jiff::tz::TimeZone) -> i64 {
        add_business_hours(start_ms, self.sla_business_hours, self.day_starts, self.day_ends, zone)
    }
}

/// `start` plus `hours` business hours: hours from `day_starts` to `day_ends` o'clock on
/// business days (weekdays that are not Japanese holidays) in `zone`. A start outside business
/// hours counts from the next business hour.
pub fn add_business_hours(start_ms: i64, hours: u32, day_starts: u32, day_ends: u32, zone: &jiff::tz::TimeZone) -> i64 {
    let Ok(start) = jiff::Timestamp::from_millisecond(start_ms) else { return start_ms };
    let mut left = i64::from(hours) * 3_600_000;
    let mut at = start.to_zoned(zone.clone());
    // At most a few years of days; each turn moves to the next day.
    for _ in 0..3_000 {
        let date = at.date();
        let open = date.at(i8::try_from(day_starts).unwrap_or(9), 0, 0, 0).to_zoned(zone.clone());
        let close = date
            .at(i8::try_from(day_ends.min(23)).unwrap_or(18), if day_ends >= 24 { 59 } else { 0 }, 0, 0)
            .to_zoned(zone.clone());
        if let (Ok(open), Ok(close)) = (open, close) {
            if is_business_day(date) && at < close {
                let from = if at < open { open } else { at.clone() };
                let available = close.timestamp().as_millisecond() - from.timestamp().as_millisecond();
                if left <= available {
                    return from.timestamp().as_millisecond() + left;
                }
                left -= available;
            }
        }
        let Ok(next) = date.tomorrow().and_then(|d| d.to_zoned(zone.clone())) else { return start_ms };
        at = next;
    }
    start_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()
    }

    fn ms(text: &str) -> i64 {
        text.parse::<jiff::Zoned>().unwrap().timestamp().as_millisecond()
    }

    #[test]
    fn moves() {
        use Stage::*;
        for (from, to, ok, reason) in [
            (Lead, Mql, true, false),
            (Nurturing, Mql, true, false),
            (Mql, Sal, true, false),
            (Mql, Nurturing, true, true),
            (Sal, Opportunity, true, false),
            (Sal, Nurturing, true, true),
            (Opportunity, Won, true, true),
            (Opportunity, Lost, true, true),
            (Lost, Nurturing, true, true),
            (Lead, Sal, true, true),
            (Won, Nurturing, false, false),
            (Lead, Won, false, false),
            (Mql, Lead, false, false),
            (Sal, Mql, false, false),
            (Lost, Won, false, false),
        ] {
            let result = from.check_move(to);
            assert_eq!(result.is_ok(), ok, "{from:?} → {to:?}");
            if let Ok(needs) = result {
                assert_eq!(needs == NeedsReason::Yes, reason, "{from:?} → {to:?}");
            }
        }
        assert_eq!(Stage::Mql.next(), [Stage::Sal, Stage::Nurturing]);
        assert_eq!(Stage::parse("opportunity"), Some(Stage::Opportunity));
    }

    #[test]
    fn business_hours() {
        let zone = tokyo();
        let cases = [
            // Friday 17:00 + 2h: Monday the 23rd is 勤労感謝の日, so Tuesday 10:00.
            ("2026-11-20T17:00:00+09:00[Asia/Tokyo]", 2, "2026-11-24T10:00:00+09:00[Asia/Tokyo]"),
            ("2026-11-24T08:00:00+09:00[Asia/Tokyo]", 1, "2026-11-24T10:00:00+09:00[Asia/Tokyo]"),
            ("2026-11-24T12:30:00+09:00[Asia/Tokyo]", 24, "2026-11-27T09:30:00+09:00[Asia/Tokyo]"),
            ("2026-11-24T18:30:00+09:00[Asia/Tokyo]", 9, "2026-11-25T18:00:00+09:00[Asia/Tokyo]"),
        ];
        for (start, hours, want) in cases {
            assert_eq!(add_business_hours(ms(start), hours, 9, 18, &zone), ms(want), "{start} + {hours}h");
        }
    }

    #[test]
    fn process_config() {
        let config = ProcessConfig::default();
        config.check().unwrap();
        assert_eq!(ProcessConfig::from_yaml(&config.to_yaml()).unwrap(), config);
        let mut bad = config.clone();
        bad.stages[1].key = "visited".into();
        bad.stages[2].action = " ".into();
        bad.lost_reasons.clear();
        bad.sla_business_hours = 0;
        bad.day_starts = 19;
        let errors = bad.check().unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("stages[1].key", "duplicate_key"),
                ("stages[2].action", "action_required"),
                ("lost_reasons", "required"),
                ("sla_business_hours", "invalid_hours"),
                ("day_ends", "invalid_business_hours"),
            ]
        );
        let installed: jiff::civil::Date = "2024-04-01".parse().unwrap();
        assert_eq!(config.reapproach_on(installed).unwrap().to_string(), "2028-10-01");
        let sla = config.sla_deadline(ms("2026-11-20T17:00:00+09:00[Asia/Tokyo]"), &tokyo());
        // 1h on Friday, none on the holiday, 9h on Tuesday and Wednesday, 5h on Thursday.
        assert_eq!(sla, ms("2026-11-26T14:00:00+09:00[Asia/Tokyo]"));
    }
}
