//! Routing a toss-up to field sales (振り分け): who gets a lead inside sales passes on.
//!
//! In order: the account's named owner; then the first rule whose conditions the lead meets
//! (territory by prefecture or region, product, company size, industry) and that has a rep
//! free to take it; then the pool. Among a rule's (or the pool's) reps the choice is a
//! weighted round robin: the rep with the fewest assignments this week for their weight. A rep
//! who is absent today, at their cap for the day or the week, or who already had this lead
//! (rejected it, or let its SLA pass) is skipped — and every skip is written down with why.
//!
//! [`choose`] is pure: the engine gives it the configuration, the lead's facts and each rep's
//! state, and stores the decision it returns.

use crate::prefecture::{parse_prefecture, PREFECTURES};
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The regions (地方) a rule may name instead of listing prefectures: (name, first and last JIS
/// code).
pub const REGIONS: [(&str, &str, u8, u8); 8] = [
    ("北海道", "Hokkaido", 1, 1),
    ("東北", "Tohoku", 2, 7),
    ("関東", "Kanto", 8, 14),
    ("中部", "Chubu", 15, 23),
    ("近畿", "Kinki", 24, 30),
    ("中国", "Chugoku", 31, 35),
    ("四国", "Shikoku", 36, 39),
    ("九州・沖縄", "Kyushu and Okinawa", 40, 47),
];

/// The prefectures a typed territory names: a prefecture, or a region (関東, 近畿 / 関西, …).
pub fn territory(input: &str) -> Option<Vec<&'static str>> {
    let text = crate::text::nfkc_trim(input);
    if let Some(prefecture) = parse_prefecture(&text) {
        return Some(vec![prefecture]);
    }
    let name = match text.trim_end_matches("地方") {
        "関西" => "近畿",
        "九州" | "沖縄" | "九州沖縄" => "九州・沖縄",
        "北陸" | "甲信越" | "東海" => "中部",
        other => other,
    };
    REGIONS.iter().find(|(ja, en, _, _)| *ja == name || en.eq_ignore_ascii_case(name)).map(|(_, _, first, last)| {
        PREFECTURES[usize::from(*first) - 1..usize::from(*last)].iter().map(|(ja, _)| *ja).collect()
    })
}

/// Prefectures in as few words as possible: a whole region by its name (関東), the rest as they
/// are — for showing a rule's territory again.
pub fn territory_names(prefectures: &[String]) -> Vec<String> {
    let mut left: Vec<&str> = prefectures.iter().map(String::as_str).collect();
    let mut names = Vec::new();
    for (name, _, first, last) in REGIONS {
        let members: Vec<&str> =
            PREFECTURES[usize::from(first) - 1..usize::from(last)].iter().map(|(ja, _)| *ja).collect();
        if members.len() > 1 && members.iter().all(|m| left.contains(m)) {
            names.push(name.to_owned());
            left.retain(|p| !members.contains(p));
        }
    }
    names.extend(left.into_iter().map(str::to_owned));
    names
}

/// One routing rule: a lead meeting every condition given goes to one of `reps`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    pub name: String,
    /// Prefectures (canonical names); empty: anywhere.
    #[serde(default)]
    pub prefectures: Vec<String>,
    /// Empty: any product.
    #[serde(default)]
    pub product_ids: Vec<i64>,
    #[serde(default)]
    pub min_employees: Option<i64>,
    #[serde(default)]
    pub max_employees: Option<i64>,
    /// Industries as the company master writes them; empty: any.
    #[serde(default)]
    pub industries: Vec<String>,
    pub reps: Vec<i64>,
}

impl RoutingRule {
    /// Whether the lead meets the rule's conditions.
    pub fn matches(&self, lead: &Subject) -> bool {
        let prefecture = self.prefectures.is_empty()
            || lead.prefecture.as_ref().is_some_and(|p| self.prefectures.iter().any(|q| q == p));
        let product = self.product_ids.is_empty() || self.product_ids.contains(&lead.product_id);
        let size = match (self.min_employees, self.max_employees) {
            (None, None) => true,
            (min, max) => lead.employees.is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)),
        };
        let industry = self.industries.is_empty()
            || lead.industry.as_ref().is_some_and(|i| self.industries.iter().any(|j| i.contains(j.as_str())));
        prefecture && product && size && industry
    }
}

/// A field rep in the pool: their weight and caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepSetting {
    pub user_id: i64,
    /// 1–100: a rep of weight 2 gets twice the leads of a rep of weight 1.
    pub weight: u32,
    #[serde(default)]
    pub cap_day: Option<u32>,
    #[serde(default)]
    pub cap_week: Option<u32>,
}

/// The routing configuration (a setting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingConfig {
    /// The account's named owner first.
    #[serde(default = "yes")]
    pub account_owner_first: bool,
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
    /// The pool: the reps who take what no rule took; their weights and caps hold everywhere.
    #[serde(default)]
    pub reps: Vec<RepSetting>,
    /// Field sales accept or reject a toss-up within this many business hours.
    #[serde(default = "default_sla")]
    pub accept_sla_hours: u32,
}

fn yes() -> bool {
    true
}

fn default_sla() -> u32 {
    8
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self { account_owner_first: true, rules: Vec::new(), reps: Vec::new(), accept_sla_hours: default_sla() }
    }
}

impl RoutingConfig {
    /// A rep's weight (1 when not in the pool's list) and caps.
    pub fn rep(&self, user_id: i64) -> RepSetting {
        self.reps.iter().find(|r| r.user_id == user_id).cloned().unwrap_or(RepSetting {
            user_id,
            weight: 1,
            cap_day: None,
            cap_week: None,
        })
    }

    /// Checks the configuration against the users who may take toss-ups (`field_reps`).
    ///
    /// # Errors
    /// Every problem, by field (`rules[N].…`, `reps[N].…`).
    pub fn check(&self, field_reps: &[i64], products: &[i64]) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        if !(1..=200).contains(&self.accept_sla_hours) {
            errors.push(FieldError::new(
                "accept_sla_hours",
                "out_of_range",
                "受入期限は1〜200営業時間で指定してください。",
                "The time to accept is 1 to 200 business hours.",
            ));
        }
        for (index, rep) in self.reps.iter().enumerate() {
            if !field_reps.contains(&rep.user_id) {
                errors.push(FieldError::new(
                    format!("reps[{index}].user_id"),
                    "not_field_sales",
                    "振り分け先はフィールドセールスの有効なユーザーにしてください。",
                    "Leads are routed to active field-sales users only.",
                ));
            }
            if !(1..=100).contains(&rep.weight) {
                errors.push(FieldError::new(
                    format!("reps[{index}].weight"),
                    "out_of_range",
                    "重みは1〜100で指定してください。",
                    "A weight is 1 to 100.",
                ));
            }
            for (name, cap) in [("cap_day", rep.cap_day), ("cap_week", rep.cap_week)] {
                if cap == Some(0) {
                    errors.push(FieldError::new(
                        format!("reps[{index}].{name}"),
                        "out_of_range",
                        "上限は1以上にしてください（上限なしは空欄）。",
                        "A cap is at least 1 (leave it blank for none).",
                    ));
                }
            }
        }
        for (index, rule) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("rules[{index}].{field}");
            if rule.name.trim().is_empty() {
                errors.push(FieldError::new(at("name"), "required", "ルール名を入力してください。", "Name the rule."));
            }
            if rule.reps.is_empty() {
                errors.push(FieldError::new(
                    at("reps"),
                    "required",
                    format!("ルール「{}」の担当者を1人以上選んでください。", rule.name),
                    format!("Choose at least one rep for the rule \"{}\".", rule.name),
                ));
            }
            if rule.reps.iter().any(|r| !field_reps.contains(r)) {
                errors.push(FieldError::new(
                    at("reps"),
                    "not_field_sales",
                    "振り分け先はフィールドセールスの有効なユーザーにしてください。",
                    "Leads are routed to active field-sales users only.",
                ));
            }
            if rule.product_ids.iter().any(|p| !products.contains(p)) {
                errors.push(FieldError::new(
                    at("product_ids"),
                    "unknown_product",
                    "商材が見つかりません。",
                    "No such product.",
                ));
            }
            if let (Some(min), Some(max)) = (rule.min_employees, rule.max_employees) {
                if min > max {
                    errors.push(FieldError::new(
                        at("min_employees"),
                        "min_above_max",
                        format!("ルール「{}」の従業員数の下限が上限を超えています。", rule.name),
                        format!("The rule \"{}\" has a minimum head count above its maximum.", rule.name),
                    ));
                }
            }
        }
        errors.into_result(|| ())
    }
}

/// What routing knows of the lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub product_id: i64,
    /// The lead's own owner (counts only when a field rep).
    pub lead_owner: Option<i64>,
    /// The account's named owner (counts only when a field rep).
    pub account_owner: Option<i64>,
    pub prefecture: Option<String>,
    pub employees: Option<i64>,
    pub industry: Option<String>,
}

/// A rep's situation now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepState {
    /// An active field-sales user.
    pub active: bool,
    pub absent: bool,
    /// Assignments today and this week.
    pub today: u32,
    pub week: u32,
}

/// Why a rep was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Not an active field-sales user (any more).
    Inactive,
    Absent,
    CapDay,
    CapWeek,
    /// Had this lead already (rejected it or let the SLA pass).
    HadIt,
}

impl Skip {
    pub fn label(self, locale: &str) -> &'static str {
        let (ja, en) = match self {
            Skip::Inactive => ("フィールドセールスの有効なユーザーではない", "not an active field-sales user"),
            Skip::Absent => ("不在", "absent"),
            Skip::CapDay => ("本日の上限に到達", "at today's cap"),
            Skip::CapWeek => ("今週の上限に到達", "at this week's cap"),
            Skip::HadIt => ("このリードを担当済み", "had this lead already"),
        };
        if locale == "en" {
            en
        } else {
            ja
        }
    }
}

/// Which step of the order chose (or that none did).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Route {
    LeadOwner,
    AccountOwner,
    Rule {
        index: usize,
        name: String,
    },
    Pool,
    /// No rep was free: the toss-up waits for any field rep.
    Nobody,
}

impl Route {
    pub fn label(&self, locale: &str) -> String {
        let en = locale == "en";
        match self {
            Route::LeadOwner => (if en { "the lead's owner" } else { "リードの担当営業" }).to_owned(),
            Route::AccountOwner => (if en { "the account's owner" } else { "企業の担当営業" }).to_owned(),
            Route::Rule { name, .. } => {
                if en {
                    format!("rule \"{name}\"")
                } else {
                    format!("ルール「{name}」")
                }
            }
            Route::Pool => (if en {
                "the pool (weighted round robin)"
            } else {
                "プール（重み付きラウンドロビン）"
            })
            .to_owned(),
            Route::Nobody => (if en {
                "nobody free: any field rep may take it"
            } else {
                "空きなし：営業の誰でも引き受け可"
            })
            .to_owned(),
        }
    }
}

/// A routing decision: who, by which step, and who was passed over why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub chosen: Option<i64>,
    pub route: Route,
    pub skipped: Vec<(i64, Skip)>,
}

fn skip_of(config: &RoutingConfig, states: &HashMap<i64, RepState>, exclude: &[i64], rep: i64) -> Option<Skip> {
    let state = states.get(&rep).copied().unwrap_or_default();
    let setting = config.rep(rep);
    if !state.active {
        Some(Skip::Inactive)
    } else if exclude.contains(&rep) {
        Some(Skip::HadIt)
    } else if state.absent {
        Some(Skip::Absent)
    } else if setting.cap_day.is_some_and(|cap| state.today >= cap) {
        Some(Skip::CapDay)
    } else if setting.cap_week.is_some_and(|cap| state.week >= cap) {
        Some(Skip::CapWeek)
    } else {
        None
    }
}

/// Among free reps, the one furthest behind its weighted share of this week's assignments
/// (smooth weighted round robin: with `n` assignments among them and weights summing to `W`,
/// the largest `(n + 1)·w − W·count`); then the fewest today, then the lowest id. No rep ever
/// drifts a whole lead from its share.
fn round_robin(config: &RoutingConfig, states: &HashMap<i64, RepState>, free: &[i64]) -> Option<i64> {
    let state = |id: &i64| states.get(id).copied().unwrap_or_default();
    let weight = |id: &i64| i64::from(config.rep(*id).weight.max(1));
    let n: i64 = free.iter().map(|id| i64::from(state(id).week)).sum();
    let total: i64 = free.iter().map(weight).sum();
    free.iter().copied().max_by(|a, b| {
        let behind = |id: &i64| (n + 1) * weight(id) - total * i64::from(state(id).week);
        behind(a).cmp(&behind(b)).then(state(b).today.cmp(&state(a).today)).then(b.cmp(a))
    })
}

/// Routes one lead. `exclude`: reps who had it already.
pub fn choose(config: &RoutingConfig, lead: &Subject, states: &HashMap<i64, RepState>, exclude: &[i64]) -> Decision {
    let mut skipped: Vec<(i64, Skip)> = Vec::new();
    let note = |rep: i64, why: Skip, skipped: &mut Vec<(i64, Skip)>| {
        if !skipped.iter().any(|(r, _)| *r == rep) {
            skipped.push((rep, why));
        }
    };
    if config.account_owner_first {
        // The lead's own field rep, then the account's: an owner who is no field rep (inside
        // sales owns many leads) is no candidate.
        let owners = [(lead.lead_owner, Route::LeadOwner), (lead.account_owner, Route::AccountOwner)];
        for (owner, route) in owners {
            let Some(owner) = owner.filter(|o| states.contains_key(o)) else { continue };
            match skip_of(config, states, exclude, owner) {
                None => return Decision { chosen: Some(owner), route, skipped },
                Some(why) => note(owner, why, &mut skipped),
            }
        }
    }
    for (index, rule) in config.rules.iter().enumerate() {
        if !rule.matches(lead) {
            continue;
        }
        let mut free = Vec::new();
        for rep in &rule.reps {
            match skip_of(config, states, exclude, *rep) {
                None => free.push(*rep),
                Some(why) => note(*rep, why, &mut skipped),
            }
        }
        if let Some(chosen) = round_robin(config, states, &free) {
            return Decision { chosen: Some(chosen), route: Route::Rule { index, name: rule.name.clone() }, skipped };
        }
    }
    let mut free = Vec::new();
    for rep in config.reps.iter().map(|r| r.user_id) {
        match skip_of(config, states, exclude, rep) {
            None => free.push(rep),
            Some(why) => note(rep, why, &mut skipped),
        }
    }
    match round_robin(config, states, &free) {
        Some(chosen) => Decision { chosen: Some(chosen), route: Route::Pool, skipped },
        None => Decision { chosen: None, route: Route::Nobody, skipped },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rep(user_id: i64, weight: u32) -> RepSetting {
        RepSetting { user_id, weight, cap_day: None, cap_week: None }
    }

    fn active(ids: &[i64]) -> HashMap<i64, RepState> {
        ids.iter().map(|id| (*id, RepState { active: true, ..RepState::default() })).collect()
    }

    #[test]
    fn territories_name_prefectures_or_regions() {
        assert_eq!(territory("大阪").unwrap(), ["大阪府"]);
        assert_eq!(territory("関東").unwrap().len(), 7);
        assert_eq!(territory("関西地方").unwrap(), territory("近畿").unwrap());
        assert!(territory("九州").unwrap().contains(&"沖縄県"));
        assert_eq!(territory("Kanto").unwrap()[0], "茨城県");
        assert_eq!(territory("火星"), None);
        let mut kinki_and_aichi: Vec<String> = territory("関西").unwrap().iter().map(|p| (*p).to_owned()).collect();
        kinki_and_aichi.push("愛知県".into());
        assert_eq!(territory_names(&kinki_and_aichi), ["近畿", "愛知県"]);
    }

    #[test]
    fn the_order_is_owner_then_rules_then_pool() {
        let config = RoutingConfig {
            rules: vec![RoutingRule {
                name: "関西".into(),
                prefectures: territory("関西").unwrap().iter().map(|p| (*p).to_owned()).collect(),
                reps: vec![20],
                ..RoutingRule::default()
            }],
            reps: vec![rep(30, 1), rep(31, 1)],
            ..RoutingConfig::default()
        };
        let mut states = active(&[10, 20, 30, 31]);
        let osaka =
            Subject {
                product_id: 1, prefecture: Some("大阪府".into()), account_owner: Some(10), ..Subject::default()
            };
        assert_eq!(choose(&config, &osaka, &states, &[]).route, Route::AccountOwner);
        // The owner is away: the territory's rep, and the skip written down.
        states.get_mut(&10).unwrap().absent = true;
        let decision = choose(&config, &osaka, &states, &[]);
        assert_eq!((decision.chosen, decision.skipped.clone()), (Some(20), vec![(10, Skip::Absent)]));
        assert!(matches!(decision.route, Route::Rule { index: 0, .. }));
        // The territory's rep rejected it already: the pool.
        let decision = choose(&config, &osaka, &states, &[20]);
        assert_eq!((decision.chosen, decision.route), (Some(30), Route::Pool));
        assert_eq!(decision.skipped, vec![(10, Skip::Absent), (20, Skip::HadIt)]);
        // Tokyo meets no rule.
        let tokyo = Subject { product_id: 1, prefecture: Some("東京都".into()), ..Subject::default() };
        assert_eq!(choose(&config, &tokyo, &states, &[]).route, Route::Pool);
        // Nobody free.
        for id in [30, 31] {
            states.get_mut(&id).unwrap().absent = true;
        }
        assert_eq!(choose(&config, &tokyo, &states, &[]).route, Route::Nobody);
    }

    #[test]
    fn size_and_industry_conditions() {
        let rule = RoutingRule {
            name: "大手製造".into(),
            min_employees: Some(1_000),
            industries: vec!["製造".into()],
            reps: vec![1],
            ..RoutingRule::default()
        };
        let big = Subject { employees: Some(5_000), industry: Some("製造業".into()), ..Subject::default() };
        assert!(rule.matches(&big));
        assert!(!rule.matches(&Subject { employees: Some(50), ..big.clone() }));
        assert!(!rule.matches(&Subject { employees: None, ..big.clone() }), "unknown size meets no size rule");
        assert!(!rule.matches(&Subject { industry: Some("小売業".into()), ..big }));
    }

    #[test]
    fn configurations_are_checked() {
        let config = RoutingConfig {
            rules: vec![RoutingRule {
                name: " ".into(),
                reps: vec![99],
                min_employees: Some(10),
                max_employees: Some(5),
                ..RoutingRule::default()
            }],
            reps: vec![RepSetting { user_id: 1, weight: 0, cap_day: Some(0), cap_week: None }],
            accept_sla_hours: 0,
            ..RoutingConfig::default()
        };
        let errors = config.check(&[1], &[]).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "accept_sla_hours",
                "reps[0].weight",
                "reps[0].cap_day",
                "rules[0].name",
                "rules[0].reps",
                "rules[0].min_employees"
            ]
        );
    }

    proptest! {
        /// Over many assignments each rep's share follows its weight (within one lead of the
        /// exact share, while no cap binds), and no lead goes to an absent or capped rep.
        #[test]
        fn shares_follow_weights_and_skips_hold(
            weights in proptest::collection::vec(1u32..6, 2..7),
            absent in proptest::collection::vec(any::<bool>(), 7),
            caps in proptest::collection::vec(proptest::option::of(1u32..40), 7),
            leads in 50usize..400,
        ) {
            let ids: Vec<i64> = (1..=weights.len() as i64).collect();
            let uncapped = RoutingConfig {
                reps: ids.iter().zip(&weights).map(|(id, w)| rep(*id, *w)).collect(),
                ..RoutingConfig::default()
            };
            let lead = Subject { product_id: 1, ..Subject::default() };
            // Weights alone: every rep within one lead of its exact share.
            let mut states = active(&ids);
            for _ in 0..leads {
                let chosen = choose(&uncapped, &lead, &states, &[]).chosen.unwrap();
                let state = states.get_mut(&chosen).unwrap();
                state.week += 1;
                state.today += 1;
            }
            let total: u32 = weights.iter().sum();
            for (id, weight) in ids.iter().zip(&weights) {
                let exact = leads as f64 * f64::from(*weight) / f64::from(total);
                let got = f64::from(states[id].week);
                prop_assert!((got - exact).abs() <= 1.0, "rep {id} (weight {weight}) got {got}, share {exact:.2}");
            }
            // Absences and caps: never broken, and a lead goes unrouted only when nobody is free.
            let capped = RoutingConfig {
                reps: ids
                    .iter()
                    .zip(&weights)
                    .enumerate()
                    .map(|(i, (id, w))| RepSetting { user_id: *id, weight: *w, cap_day: caps[i], cap_week: caps[(i + 1) % 7] })
                    .collect(),
                ..RoutingConfig::default()
            };
            let mut states: HashMap<i64, RepState> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (*id, RepState { active: true, absent: absent[i], ..RepState::default() }))
                .collect();
            for _ in 0..leads {
                let decision = choose(&capped, &lead, &states, &[]);
                match decision.chosen {
                    Some(chosen) => {
                        let setting = capped.rep(chosen);
                        let state = states[&chosen];
                        prop_assert!(!state.absent);
                        prop_assert!(setting.cap_day.is_none_or(|c| state.today < c));
                        prop_assert!(setting.cap_week.is_none_or(|c| state.week < c));
                        let state = states.get_mut(&chosen).unwrap();
                        state.week += 1;
                        state.today += 1;
                    }
                    None => {
                        prop_assert_eq!(decision.skipped.len(), ids.len(), "everyone skipped, each with a reason");
                    }
                }
            }
        }
    }
}
