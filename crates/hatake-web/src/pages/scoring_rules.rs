//! The scoring model as rows (ルールをフォームで編集), beside the YAML editor of `scoring.rs`, for
//! people who do not read YAML: one numbered row per engagement, decay and fit rule
//! (`engagement.{i}.{part}`, `decay.{i}.{part}`, `fit.{i}.{part}`), a few blank rows for new
//! rules, a remove checkbox and an order field per row, as the form builder does.
//!
//! A post becomes a [`ScoringModel`] (blank and removed rows skipped, the others in their order)
//! and is checked as a YAML save is. Every problem is shown at the row and field the person saw:
//! the rows' own problems (a number that is not one, a cap with one half missing) are named by
//! row, and the model's (`engagement[2].points`) are mapped back from the rule's place in the
//! model to its row. Numbers may be typed in full width.

use super::scoring::{product, store_error};
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::scoring::{
    AccountRollup, Cap, DecayRule, EngagementRule, FitRule, PropertyMatch, RollupMethod, ScoringModel, FIT_FIELDS,
};
use hatake_domain::text::nfkc_trim;
use hatake_domain::{EventKind, FieldError, FieldErrors};
use hatake_store::ProductRow;
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Blank rows offered for new rules in each group.
const BLANK_ROWS: usize = 3;
/// Row numbers beyond this are ignored (a model holds at most 64 rules of a kind).
const MAX_ROWS: usize = 200;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/scoring/{product}/rules", Access::Configure, get(show)),
        route("POST", "/scoring/{product}/rules", Access::Configure, post(save)),
    ]
}

/// An engagement rule's row, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct EngagementRow {
    order: String,
    id: String,
    label: String,
    kind: String,
    url: String,
    name: String,
    form: String,
    campaign: String,
    property_key: String,
    property_value: String,
    points: String,
    cap_times: String,
    cap_days: String,
    expires_days: String,
    remove: bool,
}

impl EngagementRow {
    fn is_blank(&self) -> bool {
        [
            &self.id,
            &self.label,
            &self.kind,
            &self.url,
            &self.name,
            &self.form,
            &self.campaign,
            &self.property_key,
            &self.property_value,
            &self.points,
            &self.cap_times,
            &self.cap_days,
            &self.expires_days,
        ]
        .iter()
        .all(|v| v.trim().is_empty())
    }
}

/// A decay rule's row, as typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct DecayRow {
    order: String,
    id: String,
    label: String,
    kinds: Vec<String>,
    days: String,
    points: String,
    repeat: bool,
    remove: bool,
}

impl DecayRow {
    fn is_blank(&self) -> bool {
        self.kinds.is_empty()
            && !self.repeat
            && [&self.id, &self.label, &self.days, &self.points].iter().all(|v| v.trim().is_empty())
    }
}

/// A fit rule's row, as typed. `test` is `equals`, `contains` (the values one a line or
/// comma-separated) or `range` (min and/or max).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct FitRow {
    order: String,
    id: String,
    label: String,
    field: String,
    test: String,
    values: String,
    min: String,
    max: String,
    points: String,
    remove: bool,
}

impl FitRow {
    fn is_blank(&self) -> bool {
        [&self.id, &self.label, &self.field, &self.values, &self.min, &self.max, &self.points]
            .iter()
            .all(|v| v.trim().is_empty())
    }
}

/// The whole editor as typed.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rows {
    engagement: Vec<EngagementRow>,
    decay: Vec<DecayRow>,
    fit: Vec<FitRow>,
    include_unassigned: bool,
    account_method: String,
    account_top: String,
}

fn opt(value: Option<&String>) -> String {
    value.cloned().unwrap_or_default()
}

fn num<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn order_of(i: usize) -> String {
    ((i + 1) * 10).to_string()
}

impl Rows {
    /// A model's rules as rows.
    fn of(model: &ScoringModel) -> Self {
        let engagement = model
            .engagement
            .iter()
            .enumerate()
            .map(|(i, r)| EngagementRow {
                order: order_of(i),
                id: r.id.clone(),
                label: opt(r.label.as_ref()),
                kind: r.kind.clone(),
                url: opt(r.url.as_ref()),
                name: opt(r.name.as_ref()),
                form: num(r.form),
                campaign: opt(r.campaign.as_ref()),
                property_key: r.property.as_ref().map(|p| p.key.clone()).unwrap_or_default(),
                property_value: r.property.as_ref().map(|p| p.value.clone()).unwrap_or_default(),
                points: r.points.to_string(),
                cap_times: num(r.cap.map(|c| c.times)),
                cap_days: num(r.cap.map(|c| c.days)),
                expires_days: num(r.expires_days),
                remove: false,
            })
            .collect();
        let decay = model
            .decay
            .iter()
            .enumerate()
            .map(|(i, r)| DecayRow {
                order: order_of(i),
                id: r.id.clone(),
                label: opt(r.label.as_ref()),
                kinds: r.kinds.clone(),
                days: r.days.to_string(),
                points: r.points.to_string(),
                repeat: r.repeat,
                remove: false,
            })
            .collect();
        let fit = model
            .fit
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (test, values) = if !r.contains.is_empty() {
                    ("contains", r.contains.join("\n"))
                } else if r.min.is_some() || r.max.is_some() {
                    ("range", String::new())
                } else {
                    ("equals", r.equals.join("\n"))
                };
                FitRow {
                    order: order_of(i),
                    id: r.id.clone(),
                    label: opt(r.label.as_ref()),
                    field: r.field.clone(),
                    test: test.to_owned(),
                    values,
                    min: num(r.min),
                    max: num(r.max),
                    points: r.points.to_string(),
                    remove: false,
                }
            })
            .collect();
        Self {
            engagement,
            decay,
            fit,
            include_unassigned: model.include_unassigned,
            account_method: model.account.method.as_str().to_owned(),
            account_top: num(model.account.top),
        }
    }

    /// The posted rows, in the order of their numbers (as the page showed them).
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.replace("\r\n", "\n"));
        let all = |name: &str| pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let indexes = |group: &str| {
            let prefix = format!("{group}.");
            let mut found: Vec<usize> = pairs
                .iter()
                .filter_map(|(k, _)| k.strip_prefix(&prefix)?.split('.').next()?.parse::<usize>().ok())
                .filter(|i| *i < MAX_ROWS)
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        };
        let engagement = indexes("engagement")
            .into_iter()
            .map(|i| {
                let text = |part: &str| get(&format!("engagement.{i}.{part}")).unwrap_or_default();
                EngagementRow {
                    order: text("order"),
                    id: text("id"),
                    label: text("label"),
                    kind: text("kind"),
                    url: text("url"),
                    name: text("name"),
                    form: text("form"),
                    campaign: text("campaign"),
                    property_key: text("property_key"),
                    property_value: text("property_value"),
                    points: text("points"),
                    cap_times: text("cap_times"),
                    cap_days: text("cap_days"),
                    expires_days: text("expires_days"),
                    remove: get(&format!("engagement.{i}.remove")).is_some(),
                }
            })
            .collect();
        let decay = indexes("decay")
            .into_iter()
            .map(|i| {
                let text = |part: &str| get(&format!("decay.{i}.{part}")).unwrap_or_default();
                let mut kinds: Vec<String> = Vec::new();
                for kind in all(&format!("decay.{i}.kinds")) {
                    if !kind.trim().is_empty() && !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                }
                DecayRow {
                    order: text("order"),
                    id: text("id"),
                    label: text("label"),
                    kinds,
                    days: text("days"),
                    points: text("points"),
                    repeat: get(&format!("decay.{i}.repeat")).is_some(),
                    remove: get(&format!("decay.{i}.remove")).is_some(),
                }
            })
            .collect();
        let fit = indexes("fit")
            .into_iter()
            .map(|i| {
                let text = |part: &str| get(&format!("fit.{i}.{part}")).unwrap_or_default();
                FitRow {
                    order: text("order"),
                    id: text("id"),
                    label: text("label"),
                    field: text("field"),
                    test: text("test"),
                    values: text("values"),
                    min: text("min"),
                    max: text("max"),
                    points: text("points"),
                    remove: get(&format!("fit.{i}.remove")).is_some(),
                }
            })
            .collect();
        Self {
            engagement,
            decay,
            fit,
            include_unassigned: get("include_unassigned").is_some(),
            account_method: get("account_method").unwrap_or_default(),
            account_top: get("account_top").unwrap_or_default(),
        }
    }

    /// Adds blank rows until each group ends with [`BLANK_ROWS`] of them.
    fn pad(&mut self) {
        fn fill<T>(rows: &mut Vec<T>, blank: impl Fn(&T) -> bool, new: impl Fn(usize) -> T) {
            let trailing = rows.iter().rev().take_while(|r| blank(r)).count();
            for _ in trailing..BLANK_ROWS {
                let row = new(rows.len());
                rows.push(row);
            }
        }
        fill(&mut self.engagement, EngagementRow::is_blank, |i| EngagementRow {
            order: order_of(i),
            ..Default::default()
        });
        fill(&mut self.decay, DecayRow::is_blank, |i| DecayRow { order: order_of(i), ..Default::default() });
        fill(&mut self.fit, FitRow::is_blank, |i| FitRow {
            order: order_of(i),
            test: "equals".into(),
            ..Default::default()
        });
    }
}

/// Where each rule of the built model came from: `engagement[k]` is row `engagement[k]`.
#[derive(Debug, Default, PartialEq)]
struct RowMap {
    engagement: Vec<usize>,
    decay: Vec<usize>,
    fit: Vec<usize>,
}

fn not_a_number(key: &str) -> FieldError {
    FieldError::new(key, "not_a_number", "整数で入力してください。", "Enter a whole number.")
}

/// A typed number: width folded (NFKC), a minus sign or thousands commas allowed.
fn parse_number(text: &str) -> Option<Option<i64>> {
    let folded = nfkc_trim(text).replace('\u{2212}', "-").replace(',', "");
    if folded.is_empty() {
        return Some(None);
    }
    folded.parse::<i64>().ok().map(Some)
}

/// An optional number; `None` when blank or wrong (a wrong one is an error at `key`).
fn optional_number(errors: &mut FieldErrors, key: &str, text: &str) -> Option<i64> {
    parse_number(text).unwrap_or_else(|| {
        errors.push(not_a_number(key));
        None
    })
}

/// A number that must be given; `None` (and an error at `key`) when blank or wrong.
fn required_number(errors: &mut FieldErrors, key: &str, text: &str) -> Option<i64> {
    match parse_number(text) {
        Some(Some(n)) => Some(n),
        Some(None) => {
            errors.push(FieldError::required(key));
            None
        }
        None => {
            errors.push(not_a_number(key));
            None
        }
    }
}

/// A count of days or times: out-of-range values become 0 or `u32::MAX`, which the model's
/// check rejects with its own message.
fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn text(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// Fit values: one a line or separated by commas.
fn values(text: &str) -> Vec<String> {
    text.split(['\n', '\r', ',', '、', '，']).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
}

/// The rows to keep, in their order: `(position, row)`; an order that is not a number is an
/// error at the row's order field.
fn kept<'a, T>(
    errors: &mut FieldErrors,
    group: &str,
    rows: &'a [T],
    skip: impl Fn(&T) -> bool,
    order: impl Fn(&T) -> &str,
) -> Vec<(usize, &'a T)> {
    let mut out: Vec<(i64, usize, &T)> = Vec::new();
    for (p, row) in rows.iter().enumerate() {
        if skip(row) {
            continue;
        }
        let key = format!("{group}.{p}.order");
        let n = optional_number(errors, &key, order(row)).unwrap_or(i64::MAX);
        out.push((n, p, row));
    }
    out.sort_by_key(|(n, p, _)| (*n, *p));
    out.into_iter().map(|(_, p, row)| (p, row)).collect()
}

impl Rows {
    /// The model the rows describe, where each rule came from, and the rows' own problems (by
    /// form field, `engagement.3.points`). A rule with a problem is kept (with a harmless value
    /// in place of the wrong one) so that the rest of it is checked too and no rule goes missing.
    fn to_model(&self) -> (ScoringModel, RowMap, FieldErrors) {
        let mut errors = FieldErrors::default();
        let mut map = RowMap::default();
        let mut model = ScoringModel { include_unassigned: self.include_unassigned, ..ScoringModel::default() };
        let engagement = kept(&mut errors, "engagement", &self.engagement, |r| r.remove || r.is_blank(), |r| &r.order);
        for (p, row) in engagement {
            let key = |part: &str| format!("engagement.{p}.{part}");
            let points = required_number(&mut errors, &key("points"), &row.points).unwrap_or(1);
            let form = optional_number(&mut errors, &key("form"), &row.form);
            let times = optional_number(&mut errors, &key("cap_times"), &row.cap_times);
            let days = optional_number(&mut errors, &key("cap_days"), &row.cap_days);
            let cap = match (times, days, row.cap_times.trim().is_empty(), row.cap_days.trim().is_empty()) {
                (Some(times), Some(days), _, _) => Some(Cap { times: count(times), days: count(days) }),
                (Some(_), None, _, true) => {
                    errors.push(FieldError::required(&key("cap_days")));
                    None
                }
                (None, Some(_), true, _) => {
                    errors.push(FieldError::required(&key("cap_times")));
                    None
                }
                _ => None,
            };
            let expires_days = optional_number(&mut errors, &key("expires_days"), &row.expires_days).map(count);
            let property = match (text(&row.property_key), text(&row.property_value)) {
                (None, None) => None,
                (key, value) => Some(PropertyMatch { key: key.unwrap_or_default(), value: value.unwrap_or_default() }),
            };
            map.engagement.push(p);
            model.engagement.push(EngagementRule {
                id: nfkc_trim(&row.id),
                label: text(&row.label),
                kind: nfkc_trim(&row.kind),
                url: text(&row.url),
                name: text(&row.name),
                form,
                campaign: text(&row.campaign),
                property,
                points,
                cap,
                expires_days,
            });
        }
        let decay = kept(&mut errors, "decay", &self.decay, |r| r.remove || r.is_blank(), |r| &r.order);
        for (p, row) in decay {
            let key = |part: &str| format!("decay.{p}.{part}");
            let days = required_number(&mut errors, &key("days"), &row.days).map_or(1, count);
            let points = required_number(&mut errors, &key("points"), &row.points).unwrap_or(-1);
            map.decay.push(p);
            model.decay.push(DecayRule {
                id: nfkc_trim(&row.id),
                label: text(&row.label),
                kinds: row.kinds.iter().map(|k| nfkc_trim(k)).collect(),
                days,
                points,
                repeat: row.repeat,
            });
        }
        let fit = kept(&mut errors, "fit", &self.fit, |r| r.remove || r.is_blank(), |r| &r.order);
        for (p, row) in fit {
            let key = |part: &str| format!("fit.{p}.{part}");
            let points = required_number(&mut errors, &key("points"), &row.points).unwrap_or(1);
            let mut rule = FitRule {
                id: nfkc_trim(&row.id),
                label: text(&row.label),
                field: nfkc_trim(&row.field),
                points,
                ..FitRule::default()
            };
            match nfkc_trim(&row.test).as_str() {
                "contains" => rule.contains = values(&row.values),
                "range" => {
                    rule.min = optional_number(&mut errors, &key("min"), &row.min);
                    rule.max = optional_number(&mut errors, &key("max"), &row.max);
                    if row.min.trim().is_empty() && row.max.trim().is_empty() {
                        errors.push(FieldError::required(&key("min")));
                    }
                    if rule.min.is_none() && rule.max.is_none() {
                        // Checked already: the test stays one test so no second message appears.
                        rule.min = Some(0);
                    }
                }
                "equals" | "" => rule.equals = values(&row.values),
                _ => errors.push(FieldError::new(
                    key("test"),
                    "unknown_test",
                    "条件の種類を選んでください。",
                    "Choose a kind of test.",
                )),
            }
            if matches!(nfkc_trim(&row.test).as_str(), "equals" | "contains" | "") && values(&row.values).is_empty() {
                errors.push(FieldError::required(&key("values")));
            }
            map.fit.push(p);
            model.fit.push(rule);
        }
        model.account = match nfkc_trim(&self.account_method).as_str() {
            "" | "sum" => AccountRollup { method: RollupMethod::Sum, top: None },
            "max" => AccountRollup { method: RollupMethod::Max, top: None },
            "top" => AccountRollup {
                method: RollupMethod::Top,
                top: optional_number(&mut errors, "account_top", &self.account_top).map(count),
            },
            _ => {
                errors.push(FieldError::new(
                    "account_method",
                    "unknown_method",
                    "集計方法を選んでください。",
                    "Choose a roll-up method.",
                ));
                AccountRollup::default()
            }
        };
        (model, map, errors)
    }
}

/// The form field (`engagement.3.cap_days`) of a model problem (`engagement[1].cap.days`): the
/// rule's place in the model mapped back to its row. A problem of the whole model keeps its path.
fn form_key(path: &str, map: &RowMap) -> String {
    if path == "account.top" {
        return "account_top".into();
    }
    if path == "account.method" {
        return "account_method".into();
    }
    let Some((group, rest)) = path.split_once('[') else { return path.to_owned() };
    let rows = match group {
        "engagement" => &map.engagement,
        "decay" => &map.decay,
        "fit" => &map.fit,
        _ => return path.to_owned(),
    };
    let Some((index, rest)) = rest.split_once(']') else { return path.to_owned() };
    let Some(row) = index.parse::<usize>().ok().and_then(|k| rows.get(k)) else { return path.to_owned() };
    let part = rest.trim_start_matches('.').split('[').next().unwrap_or_default().replace('.', "_");
    let part = match (group, part.as_str()) {
        ("fit", "equals" | "contains") => "values".to_owned(),
        _ => part,
    };
    format!("{group}.{row}.{part}")
}

/// Problems as the page shows them: the first message per form field, and the list above the
/// form (by group and row, each naming its row).
struct Problems {
    by_field: BTreeMap<String, String>,
    list: Vec<String>,
}

fn problems(errors: &[(String, &FieldError)], locale: &'static str) -> Problems {
    let mut by_field = BTreeMap::new();
    let mut keyed: Vec<(usize, usize, String)> = Vec::new();
    for (key, error) in errors {
        if by_field.contains_key(key) {
            continue;
        }
        let message = error.message(locale).to_owned();
        by_field.insert(key.clone(), message.clone());
        let mut parts = key.split('.');
        let group = parts.next().unwrap_or_default();
        let row = parts.next().and_then(|r| r.parse::<usize>().ok());
        let part = parts.next();
        let (rank, title) = match group {
            "engagement" => (0, t(locale, "scoring.engagement")),
            "decay" => (1, t(locale, "scoring.decay")),
            "fit" => (2, t(locale, "scoring.fit")),
            "account_method" | "account_top" => (3, t(locale, "scoring.account")),
            _ => (4, ""),
        };
        let line = match (row, part) {
            (Some(row), Some(part)) => format!(
                "{title} {} {}: {message}",
                t(locale, "scoring_rules.row").replace("{n}", &(row + 1).to_string()),
                t(locale, part_label(part)),
            ),
            _ if title.is_empty() => message,
            _ => format!("{title}: {message}"),
        };
        keyed.push((rank, row.unwrap_or(0), line));
    }
    keyed.sort_by_key(|(rank, row, _)| (*rank, *row));
    Problems { by_field, list: keyed.into_iter().map(|(_, _, line)| line).collect() }
}

/// The i18n key naming a row's field.
fn part_label(part: &str) -> &'static str {
    match part {
        "order" => "scoring_rules.order",
        "id" => "scoring_rules.id",
        "label" => "scoring_rules.label",
        "kind" => "scoring.kind",
        "url" => "scoring_rules.url",
        "name" => "scoring_rules.name",
        "form" => "scoring_rules.form",
        "campaign" => "scoring_rules.campaign",
        "property_key" => "scoring_rules.property_key",
        "property_value" => "scoring_rules.property_value",
        "points" => "scoring.points",
        "cap_times" => "scoring_rules.cap_times",
        "cap_days" => "scoring_rules.cap_days",
        "expires_days" => "scoring_rules.expires_days",
        "kinds" => "scoring.reaction_kinds",
        "days" => "scoring.silence",
        "field" => "scoring.field",
        "test" => "scoring.test",
        "values" => "scoring_rules.values",
        "min" => "scoring_rules.min",
        "max" => "scoring_rules.max",
        _ => "scoring.rule",
    }
}

/// Checks the rows: the model, or every problem by form field.
fn checked(rows: &Rows, custom_keys: &[&str], locale: &'static str) -> Result<ScoringModel, Problems> {
    let (model, map, own) = rows.to_model();
    let mut all: Vec<(String, &FieldError)> = own.0.iter().map(|e| (e.field.clone(), e)).collect();
    let checked = model.check(custom_keys);
    if let Err(errors) = &checked {
        all.extend(errors.0.iter().map(|e| (form_key(&e.field, &map), e)));
    }
    if all.is_empty() {
        Ok(model)
    } else {
        Err(problems(&all, locale))
    }
}

/// What the page shows besides the rows.
#[derive(Default)]
struct Outcome {
    problems: Option<Problems>,
    valid: bool,
    from_template: bool,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    product: &ProductRow,
    rows: &Rows,
    outcome: Outcome,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let en = locale == "en";
    let store = state.store.as_ref();
    let current = store.scoring_model_versions(product.id).await.map_err(store_error(locale))?.into_iter().next();
    let forms = store.list_forms().await.map_err(store_error(locale))?;
    let custom = store.list_custom_fields().await.map_err(store_error(locale))?;
    let mut rows = rows.clone();
    rows.pad();
    let kinds: Vec<minijinja::Value> = EventKind::ALL
        .iter()
        .map(|k| context! { key => k.as_str(), label => if en { k.label_en() } else { k.label_ja() } })
        .collect();
    // The stored forms, and any form a rule names that is no longer among them.
    let mut form_options: Vec<minijinja::Value> = forms
        .iter()
        .map(|f| context! { key => f.id.to_string(), label => format!("{} (#{})", f.name, f.id) })
        .collect();
    let mut known_forms: Vec<String> = forms.iter().map(|f| f.id.to_string()).collect();
    for row in &rows.engagement {
        let value = row.form.trim();
        if !value.is_empty() && !known_forms.iter().any(|k| k == value) {
            form_options.push(context! { key => value, label => format!("#{value}") });
            known_forms.push(value.to_owned());
        }
    }
    let mut fit_fields: Vec<minijinja::Value> = FIT_FIELDS
        .iter()
        .map(|(key, ja, en_label, _)| context! { key => key, label => if en { en_label } else { ja } })
        .collect();
    for field in &custom {
        let label = if en { &field.label_en } else { &field.label_ja };
        fit_fields.push(context! { key => format!("custom.{}", field.key), label => label });
    }
    let blank_e: Vec<bool> = rows.engagement.iter().map(EngagementRow::is_blank).collect();
    let blank_d: Vec<bool> = rows.decay.iter().map(DecayRow::is_blank).collect();
    let blank_f: Vec<bool> = rows.fit.iter().map(FitRow::is_blank).collect();
    let (errors, error_list) = match outcome.problems {
        Some(p) => (p.by_field, Some(p.list)),
        None => (BTreeMap::new(), None),
    };
    render(
        state,
        user,
        "scoring/rules.html",
        "scoring",
        context! {
            product => product, current => current, from_template => outcome.from_template,
            engagement => rows.engagement, decay => rows.decay, fit => rows.fit,
            blank_e => blank_e, blank_d => blank_d, blank_f => blank_f,
            include_unassigned => rows.include_unassigned,
            account_method => rows.account_method, account_top => rows.account_top,
            kinds => kinds, kind_keys => EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            forms => form_options, fit_fields => fit_fields,
            fit_keys => fit_fields_keys(&custom),
            errors => errors, error_list => error_list, valid => outcome.valid,
        },
    )
    .await
}

fn fit_fields_keys(custom: &[hatake_store::CustomFieldRow]) -> Vec<String> {
    FIT_FIELDS.iter().map(|f| f.0.to_owned()).chain(custom.iter().map(|c| format!("custom.{}", c.key))).collect()
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    /// Start from the ready template instead of the model in force.
    template: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let current = store.scoring_model_versions(product.id).await.map_err(store_error(locale))?.into_iter().next();
    let stored = current.filter(|_| params.template.is_none()).and_then(|row| {
        ScoringModel::from_json(&row.definition)
            .map_err(|error| tracing::error!(%error, product = product.id, "a stored scoring model cannot be read"))
            .ok()
    });
    let from_template = stored.is_none();
    let model = stored.unwrap_or_else(ScoringModel::template);
    page(&state, &user, &product, &Rows::of(&model), Outcome { from_template, ..Outcome::default() }).await
}

/// Checks the posted rows; saves them as the product's next version when they are right (the
/// scorer then recomputes the product's scores). Wrong rows come back as typed (422) with every
/// problem at its row and field, and nothing is stored; `action=check` only checks.
async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let rows = Rows::from_pairs(&data);
    let action = data.iter().rev().find(|(k, _)| k == "action").map(|(_, v)| v.as_str()).unwrap_or_default();
    let defs = crate::service::custom_defs(store).await.map_err(store_error(locale))?;
    let keys: Vec<&str> = defs.iter().map(|d| d.key.as_str()).collect();
    match checked(&rows, &keys, locale) {
        Err(problems) => {
            let outcome = Outcome { problems: Some(problems), ..Outcome::default() };
            let html = page(&state, &user, &product, &rows, outcome).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Ok(_) if action == "check" => {
            let html = page(&state, &user, &product, &rows, Outcome { valid: true, ..Outcome::default() }).await?;
            Ok(html.into_response())
        }
        Ok(model) => {
            let row = store
                .save_scoring_model(product.id, &model.to_json(), Some(user.user.id), now_millis())
                .await
                .map_err(store_error(locale))?;
            state.runtime.wake(hatake_engine::runtime::EVENTS_WRITTEN);
            Ok(Redirect::to(&format!("/scoring/{}?saved={}", product.id, row.version)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_template_reads_back_from_its_rows() {
        let template = ScoringModel::template();
        let (model, map, errors) = Rows::of(&template).to_model();
        assert!(errors.0.is_empty(), "{errors:?}");
        assert_eq!(model, template);
        assert_eq!(map.engagement, (0..template.engagement.len()).collect::<Vec<_>>());
    }

    #[test]
    fn problems_are_named_by_the_row_the_person_saw() {
        let posted = pairs(&[
            ("engagement.0.id", "mail-open"),
            ("engagement.0.kind", "mail_open"),
            ("engagement.0.points", "10"),
            ("engagement.0.remove", "1"),
            ("engagement.1.order", "20"),
            ("engagement.2.order", "30"),
            ("engagement.2.id", "visit"),
            ("engagement.2.kind", "page_veiw"),
            ("engagement.2.points", "１５"),
            ("engagement.3.order", "5"),
            ("engagement.3.id", "dl"),
            ("engagement.3.kind", "download"),
            ("engagement.3.points", "0"),
            ("engagement.3.cap_times", "3"),
            ("engagement.4.id", "seminar"),
            ("engagement.4.kind", "seminar_attendance"),
            ("engagement.4.points", "ten"),
            ("decay.0.id", "quiet"),
            ("decay.0.kinds", "mail_open"),
            ("decay.0.kinds", "mail_click"),
            ("decay.0.days", "１８０"),
            ("decay.0.points", "\u{2212}30"),
            ("fit.0.id", "big"),
            ("fit.0.field", "employee_count"),
            ("fit.0.test", "range"),
            ("fit.0.min", "1,000"),
            ("fit.0.points", "5"),
            ("fit.1.id", "exec"),
            ("fit.1.field", "title"),
            ("fit.1.test", "contains"),
            ("fit.1.values", "部長、取締役\nmanager"),
            ("fit.1.points", "5"),
            ("account_method", "top"),
            ("account_top", "５"),
        ]);
        let rows = Rows::from_pairs(&posted);
        let (model, map, _) = rows.to_model();
        // Row 3 comes first by its order; the removed and the blank row are skipped.
        assert_eq!(map.engagement, [3, 2, 4]);
        assert_eq!(model.engagement[1].points, 15, "full-width digits");
        assert_eq!(model.decay[0].days, 180);
        assert_eq!(model.decay[0].points, -30);
        assert_eq!(model.decay[0].kinds, ["mail_open", "mail_click"]);
        assert_eq!(model.fit[0].min, Some(1000));
        assert_eq!(model.fit[1].contains, ["部長", "取締役", "manager"]);
        assert_eq!(model.account, AccountRollup { method: RollupMethod::Top, top: Some(5) });
        let Err(problems) = checked(&rows, &[], "ja") else { panic!("problems expected") };
        let fields: Vec<&str> = problems.by_field.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            ["engagement.2.kind", "engagement.3.cap_days", "engagement.3.points", "engagement.4.points"],
            "{:?}",
            problems.list
        );
        assert_eq!(problems.by_field["engagement.4.points"], "整数で入力してください。");
        assert!(problems.list[0].contains("3行目"), "{:?}", problems.list);
    }

    #[test]
    fn model_paths_map_to_form_fields() {
        let map = RowMap { engagement: vec![2, 5], decay: vec![1], fit: vec![0, 4] };
        assert_eq!(form_key("engagement[1].cap.days", &map), "engagement.5.cap_days");
        assert_eq!(form_key("engagement[0].property.key", &map), "engagement.2.property_key");
        assert_eq!(form_key("decay[0].kinds[1]", &map), "decay.1.kinds");
        assert_eq!(form_key("fit[1].contains[0]", &map), "fit.4.values");
        assert_eq!(form_key("account.top", &map), "account_top");
        assert_eq!(form_key("engagement", &map), "engagement");
        assert_eq!(form_key("fit[9].points", &map), "fit[9].points");
    }
}
