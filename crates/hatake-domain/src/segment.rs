//! Segments: saved definitions of a group of people — by attribute (lead or list record,
//! department class, prefecture, industry, company size, product interest, lifecycle stage,
//! owner), by score, by behaviour ("did / did not do kind X in the last N days, at least k
//! times") and by subscription — as conditions in groups, each group matching all or any of its
//! conditions, the groups joined by all or any. The store turns a definition into one query;
//! the membership it defines is kept up to date as events, scores and records change.

use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

/// A segment's definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    /// The groups are joined by OR (any) instead of AND (all).
    #[serde(default)]
    pub any: bool,
    pub groups: Vec<Group>,
}

/// Conditions joined by AND (all) or OR (any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    #[serde(default)]
    pub any: bool,
    pub conditions: Vec<Condition>,
}

/// One condition on a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// A lead (`true`) or a list record (`false`).
    Kind { lead: bool },
    /// The department class is (not) one of these keys.
    DepartmentClass {
        values: Vec<String>,
        #[serde(default)]
        negate: bool,
    },
    /// The person's (else the company's) prefecture is (not) one of these.
    Prefecture {
        values: Vec<String>,
        #[serde(default)]
        negate: bool,
    },
    /// The company's industry is (not) one of these.
    Industry {
        values: Vec<String>,
        #[serde(default)]
        negate: bool,
    },
    /// The company's employees, inclusive bounds.
    Employees { min: Option<i64>, max: Option<i64> },
    /// Interested (or not) in the product.
    Product {
        product_id: i64,
        #[serde(default)]
        negate: bool,
    },
    /// The lifecycle stage for the product is one of these.
    Stage { product_id: i64, stages: Vec<String> },
    /// Owned by one of these people (or by no one).
    Owner {
        #[serde(default)]
        user_ids: Vec<i64>,
        #[serde(default)]
        unassigned: bool,
    },
    /// The engagement score for the product, inclusive bounds.
    Score { product_id: i64, min: Option<i64>, max: Option<i64> },
    /// Did (or did not) do `kind` (for the product, when given) at least `at_least` times in
    /// the last `days` days — the person's own events and those of the browsers linked to them.
    Behaviour {
        kind: String,
        #[serde(default)]
        product_id: Option<i64>,
        days: i64,
        #[serde(default = "one")]
        at_least: i64,
        #[serde(default)]
        negate: bool,
    },
    /// The subscription to a topic (`general`, `product:{id}`) is `subscribed`,
    /// `unsubscribed` or `never` (never asked).
    Subscription { topic: String, status: String },
}

fn one() -> i64 {
    1
}

/// The longest window a behaviour condition may look back.
pub const MAX_DAYS: i64 = 3_650;

impl Definition {
    /// Parses and checks a definition (JSON).
    ///
    /// # Errors
    /// Each problem named by its place (`groups[0].conditions[1]`) in both languages.
    pub fn parse(json: &str) -> Result<Self, FieldErrors> {
        let definition: Self = serde_json::from_str(json).map_err(|e| {
            FieldErrors(vec![FieldError::new(
                "definition",
                "invalid_definition",
                format!("条件の形式が正しくありません（{e}）。"),
                format!("The definition is not valid ({e})."),
            )])
        })?;
        definition.validate()?;
        Ok(definition)
    }

    /// Checks every condition.
    ///
    /// # Errors
    /// Each problem named by its place in both languages.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = Vec::new();
        if self.groups.iter().all(|g| g.conditions.is_empty()) {
            errors.push(FieldError::new(
                "definition",
                "no_conditions",
                "条件を1つ以上指定してください。",
                "Add at least one condition.",
            ));
        }
        for (g, group) in self.groups.iter().enumerate() {
            for (c, condition) in group.conditions.iter().enumerate() {
                let field = format!("groups[{g}].conditions[{c}]");
                let place_ja = format!("グループ{} の条件{}", g + 1, c + 1);
                let place_en = format!("group {}, condition {}", g + 1, c + 1);
                let mut problem = |code: &'static str, ja: &str, en: &str| {
                    errors.push(FieldError::new(
                        field.clone(),
                        code,
                        format!("{place_ja}: {ja}"),
                        format!("{place_en}: {en}"),
                    ));
                };
                match condition {
                    Condition::DepartmentClass { values, .. }
                    | Condition::Prefecture { values, .. }
                    | Condition::Industry { values, .. }
                        if values.iter().all(|v| v.trim().is_empty()) =>
                    {
                        problem("empty_values", "値を1つ以上選んでください。", "choose at least one value.");
                    }
                    Condition::Employees { min, max } | Condition::Score { min, max, .. } => {
                        if min.is_none() && max.is_none() {
                            problem("empty_range", "下限か上限を入れてください。", "enter a minimum or a maximum.");
                        } else if let (Some(a), Some(b)) = (min, max) {
                            if a > b {
                                problem(
                                    "bad_range",
                                    "下限が上限より大きくなっています。",
                                    "the minimum is above the maximum.",
                                );
                            }
                        }
                    }
                    Condition::Stage { stages, .. } => {
                        if stages.is_empty() {
                            problem("empty_values", "ステージを1つ以上選んでください。", "choose at least one stage.");
                        } else if let Some(bad) = stages.iter().find(|s| crate::lifecycle::Stage::parse(s).is_none()) {
                            problem(
                                "unknown_stage",
                                &format!("ステージ「{bad}」はありません。"),
                                &format!("no stage “{bad}”."),
                            );
                        }
                    }
                    Condition::Owner { user_ids, unassigned } if user_ids.is_empty() && !unassigned => {
                        problem("empty_values", "担当者を選んでください。", "choose an owner.");
                    }
                    Condition::Behaviour { kind, days, at_least, .. } => {
                        if kind.trim().is_empty() {
                            problem("empty_kind", "行動の種類を選んでください。", "choose a kind of action.");
                        }
                        if !(1..=MAX_DAYS).contains(days) {
                            problem("bad_days", "期間は1〜3650日で入れてください。", "the window is 1 to 3650 days.");
                        }
                        if !(1..=1_000).contains(at_least) {
                            problem("bad_count", "回数は1〜1000回で入れてください。", "the count is 1 to 1000.");
                        }
                    }
                    Condition::Subscription { topic, status } => {
                        if topic.trim().is_empty() {
                            problem("empty_topic", "配信の種類を選んでください。", "choose a topic.");
                        }
                        if !matches!(status.as_str(), "subscribed" | "unsubscribed" | "never") {
                            problem(
                                "bad_status",
                                "配信の状態が正しくありません。",
                                "the subscription state is not valid.",
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FieldErrors(errors))
        }
    }

    /// What the definition reads besides the lead's own record and its events: the changes a
    /// maintainer must watch for.
    pub fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        for condition in self.groups.iter().flat_map(|g| &g.conditions) {
            match condition {
                Condition::Score { .. } => reads.scores = true,
                Condition::Stage { .. } => reads.stages = true,
                Condition::Product { .. } => reads.interests = true,
                Condition::Subscription { .. } => reads.subscriptions = true,
                Condition::Behaviour { .. } => reads.events = true,
                // A company's attributes change with the company: its leads are refreshed when
                // the lead record is (linking), not when the company is edited.
                _ => {}
            }
        }
        reads
    }
}

/// What a definition reads (see [`Definition::reads`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    pub scores: bool,
    pub stages: bool,
    pub interests: bool,
    pub subscriptions: bool,
    pub events: bool,
}

impl Reads {
    pub fn add(&mut self, other: Reads) {
        self.scores |= other.scores;
        self.stages |= other.stages;
        self.interests |= other.interests;
        self.subscriptions |= other.subscriptions;
        self.events |= other.events;
    }
}

/// How many of a person's most recent times of one kind (for one product, or any) the activity
/// summary keeps: "at least k times in the last N days" for k up to this reads one summary row
/// per person (the k-th most recent time is in the window); a larger k reads the event log.
pub const RECENT_KEPT: usize = 10;

/// Digits of one time in [`Activity::encode`]: milliseconds since 1970 (until the year 5138).
pub const TIME_DIGITS: usize = 14;

/// A person's activity of one kind (for one product, or any): the most recent times, newest
/// first, and the newest event id taken into account (an event at or below it is in already).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    pub recent: Vec<i64>,
    pub upto: i64,
}

impl Activity {
    /// Takes an event in, unless it is in already (`id` at or below [`Activity::upto`]).
    /// Whether it changed anything.
    pub fn add(&mut self, at: i64, id: i64) -> bool {
        if id <= self.upto {
            return false;
        }
        self.upto = id;
        let at = at.clamp(0, 10_i64.pow(TIME_DIGITS as u32) - 1);
        let place = self.recent.partition_point(|t| *t >= at);
        if place >= RECENT_KEPT {
            return true;
        }
        self.recent.insert(place, at);
        self.recent.truncate(RECENT_KEPT);
        true
    }

    /// The newest time (0 when there is none).
    pub fn last_at(&self) -> i64 {
        self.recent.first().copied().unwrap_or(0)
    }

    /// The times as stored: fixed-width digits, newest first, so that SQL reads the k-th with
    /// `substr` (see `hatake_store::condition_sql`).
    pub fn encode(&self) -> String {
        self.recent.iter().map(|t| format!("{t:0width$}", width = TIME_DIGITS)).collect()
    }

    /// The times of [`Activity::encode`]'s text (a malformed part ends them).
    pub fn decode(text: &str, upto: i64) -> Self {
        let recent = text
            .as_bytes()
            .chunks(TIME_DIGITS)
            .map_while(|part| std::str::from_utf8(part).ok().and_then(|p| p.parse().ok()))
            .collect();
        Self { recent, upto }
    }

    /// Whether at least `k` of the kept times are at or after `since` (`k` ≤ [`RECENT_KEPT`]).
    pub fn at_least_since(&self, k: usize, since: i64) -> bool {
        k >= 1 && self.recent.get(k - 1).is_some_and(|t| *t >= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_keeps_the_newest_times_once_each() {
        let mut activity = Activity::default();
        // Out of order, some twice (an event seen again is not counted again).
        for (id, at) in [(1, 500), (2, 100), (3, 900), (3, 900), (2, 100), (4, 900)] {
            activity.add(at, id);
        }
        assert_eq!(activity.recent, [900, 900, 500, 100]);
        assert_eq!((activity.upto, activity.last_at()), (4, 900));
        assert!(activity.at_least_since(2, 900) && !activity.at_least_since(3, 900) && activity.at_least_since(4, 1));
        let text = activity.encode();
        assert_eq!(text.len(), 4 * TIME_DIGITS);
        assert_eq!(Activity::decode(&text, 4), activity);
        for id in 5..40 {
            activity.add(id * 1_000, id);
        }
        assert_eq!(activity.recent.len(), RECENT_KEPT);
        assert_eq!(activity.recent[0], 39_000);
        assert_eq!(*activity.recent.last().unwrap(), 30_000);
        // An old time past the kept ones moves the cursor and nothing else.
        let before = activity.recent.clone();
        assert!(activity.add(1, 41));
        assert_eq!((activity.recent.clone(), activity.upto), (before, 41));
        assert_eq!(Activity::decode(&activity.encode(), 41), activity);
        assert_eq!(Activity { recent: vec![1_790_000_000_000], upto: 1 }.encode(), "01790000000000");
    }

    #[test]
    fn definitions_round_trip_and_name_each_problem() {
        let json = r#"{"any":false,"groups":[{"any":true,"conditions":[
            {"type":"department_class","values":["it"]},
            {"type":"behaviour","kind":"download","days":30,"at_least":2},
            {"type":"subscription","topic":"general","status":"subscribed"}]}]}"#;
        let definition = Definition::parse(json).unwrap();
        assert_eq!(definition.groups[0].conditions.len(), 3);
        let again = Definition::parse(&serde_json::to_string(&definition).unwrap()).unwrap();
        assert_eq!(again, definition);

        let bad = r#"{"groups":[{"conditions":[
            {"type":"score","product_id":1,"min":50,"max":10},
            {"type":"behaviour","kind":"","days":0},
            {"type":"stage","product_id":1,"stages":["hot"]}]}]}"#;
        let errors = Definition::parse(bad).unwrap_err().0;
        let codes: Vec<&str> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["bad_range", "empty_kind", "bad_days", "unknown_stage"]);
        assert_eq!(errors[0].field, "groups[0].conditions[0]");
        assert!(errors[0].message_ja.starts_with("グループ1 の条件1: 下限が上限より"));
        assert_eq!(Definition::parse(r#"{"groups":[]}"#).unwrap_err().0[0].code, "no_conditions");
        assert_eq!(Definition::parse("{").unwrap_err().0[0].code, "invalid_definition");
    }
}
