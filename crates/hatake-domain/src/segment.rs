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

    /// The behaviour conditions with a window: (kind, product, days). Membership changes when
    /// their events age out of the window, with no event arriving.
    pub fn windows(&self) -> Vec<(String, Option<i64>, i64)> {
        let mut windows = Vec::new();
        for condition in self.groups.iter().flat_map(|g| &g.conditions) {
            if let Condition::Behaviour { kind, product_id, days, .. } = condition {
                let window = (kind.clone(), *product_id, *days);
                if !windows.contains(&window) {
                    windows.push(window);
                }
            }
        }
        windows
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_round_trip_and_name_each_problem() {
        let json = r#"{"any":false,"groups":[{"any":true,"conditions":[
            {"type":"department_class","values":["it"]},
            {"type":"behaviour","kind":"download","days":30,"at_least":2},
            {"type":"subscription","topic":"general","status":"subscribed"}]}]}"#;
        let definition = Definition::parse(json).unwrap();
        assert_eq!(definition.groups[0].conditions.len(), 3);
        assert_eq!(definition.windows(), vec![("download".to_owned(), None, 30)]);
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
