//! Toss-ups (トスアップ) and routing: the lead page's panel (pass a lead to field sales with a
//! hand-over note; accept or reject one passed to you; where it went and why), the list each
//! role works from, the routing settings, the absence calendar and the routing log.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::routing::{territory, RepSetting, Route, RoutingConfig, RoutingRule, Skip};
use hatake_domain::{FieldError, FieldErrors, Role};
use hatake_engine::inside_sales::SaveError;
use hatake_engine::routing::{self, Rejection, TossupInput};
use hatake_store::{DecisionRow, LeadRow, StoreError, TossupOwner, TossupQuery, TossupRow, UserRow};
use minijinja::context;
use serde::Deserialize;
use std::collections::HashMap;

const PAGE: i64 = 50;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/tossups", Access::SignedIn, get(list)),
        route("POST", "/leads/{id}/tossup", Access::SignedIn, post(toss_up)),
        route("POST", "/tossups/{id}/{action}", Access::SignedIn, post(decide)),
        route("GET", "/settings/routing", Access::Configure, get(settings)),
        route("POST", "/settings/routing", Access::Configure, post(save_settings)),
        route("GET", "/routing/absences", Access::SignedIn, get(absences)),
        route("POST", "/routing/absences", Access::SignedIn, post(add_absence)),
        route("POST", "/routing/absences/{id}/delete", Access::SignedIn, post(delete_absence)),
        route("GET", "/routing/log", Access::Configure, get(log)),
    ]
}

/// Who passes leads on: inside sales and managers.
fn may_toss_up(user: &UserRow) -> bool {
    matches!(user.role(), Role::InsideSales | Role::Admin | Role::Marketer)
}

fn manages(user: &UserRow) -> bool {
    matches!(user.role(), Role::Admin | Role::Marketer)
}

fn status_label(status: &str) -> &'static str {
    match status {
        "accepted" => "tossup.status.accepted",
        "rejected" => "tossup.status.rejected",
        _ => "tossup.status.pending",
    }
}

fn cause_label(cause: &str) -> &'static str {
    match cause {
        "sla_breach" => "tossup.cause.sla_breach",
        "taken" => "tossup.cause.taken",
        _ => "tossup.cause.tossup",
    }
}

/// A decision in words: the step that chose, whom, and who was passed over why.
fn decision_view(row: &DecisionRow, names: &HashMap<i64, String>, locale: &str) -> minijinja::Value {
    let route: Option<Route> = serde_json::from_str(&row.route).ok();
    let skipped: Vec<(i64, Skip)> = serde_json::from_str(&row.skipped).unwrap_or_default();
    let skipped: Vec<String> = skipped
        .iter()
        .map(|(id, why)| {
            let name = names.get(id).cloned().unwrap_or_else(|| "—".to_owned());
            format!("{name}（{}）", why.label(locale))
        })
        .collect();
    let lead_name = hatake_store::person_name(row.lead_family_name.as_deref(), row.lead_given_name.as_deref());
    context! {
        row => row,
        lead_name => lead_name,
        cause => cause_label(&row.cause),
        route => route.map(|r| r.label(locale)),
        skipped => skipped,
    }
}

async fn user_names(state: &AppState, locale: &'static str) -> Result<HashMap<i64, String>, PageError> {
    Ok(state
        .store
        .list_users()
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .into_iter()
        .map(|u| (u.id, u.display_name))
        .collect())
}

fn tossup_view(t: &TossupRow, user: &UserRow, now: i64, locale: &str) -> minijinja::Value {
    let hearing: Vec<serde_json::Value> = serde_json::from_str(&t.hearing).unwrap_or_default();
    let hearing: Vec<(String, String)> = hearing
        .iter()
        .map(|item| {
            let label = if locale == "en" { item["label_en"].as_str() } else { None }
                .or_else(|| item["label"].as_str())
                .unwrap_or_default();
            (label.to_owned(), item["value"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let known = hearing.iter().filter(|(_, v)| !v.is_empty()).count();
    let decidable = t.status == "pending" && routing::may_decide(t, user);
    context! {
        t => t,
        lead_name => t.lead_name(),
        status => status_label(&t.status),
        overdue => t.status == "pending" && t.sla_due_at.is_some_and(|due| due < now),
        hearing => hearing,
        hearing_known => known,
        decidable => decidable,
        takeable => decidable && t.to_user.is_none(),
        back_to => t.back_to.as_deref().map(|b| format!("tossup.back_to.{b}")),
    }
}

/// A recycle reason of the product's process in words (its key when no longer listed).
fn recycle_label(process: &hatake_domain::lifecycle::ProcessConfig, key: &str, locale: &str) -> String {
    process.recycle_reasons.iter().find(|r| r.key == key).map_or_else(|| key.to_owned(), |r| r.label(locale).to_owned())
}

/// The flash of a toss-up just decided (none when it cannot be read).
pub(crate) async fn decided_flash(store: &dyn hatake_store::Store, id: i64, locale: &str) -> Option<String> {
    let t = store.get_tossup(id).await.ok()?;
    let (_, process) = hatake_engine::qualification::process(store, t.product_id).await.ok()?;
    let reason = t.reason.as_deref().map(|key| recycle_label(&process, key, locale));
    decided_message(&t, reason, locale)
}

/// What a decision did, in words: whose lead, taken or sent where, why.
pub(crate) fn decided_message(t: &TossupRow, reason: Option<String>, locale: &str) -> Option<String> {
    let en = locale == "en";
    let lead = if t.lead_name().is_empty() { "—".to_owned() } else { t.lead_name() };
    let rep = t.to_name.clone().unwrap_or_default();
    Some(match (t.status.as_str(), t.back_to.as_deref(), en) {
        ("accepted", _, false) => {
            format!("{lead}さんを受け入れました。{rep}さんの担当になり、初回訪問の日程調整タスクを作成しました。")
        }
        ("accepted", _, true) => format!("Accepted {lead}: now {rep}'s, with a task to arrange the first visit."),
        ("rejected", Some("nurturing"), false) => {
            format!("{lead}さんを差し戻しました（ナーチャリングへ。理由: {}）。", reason.unwrap_or_default())
        }
        ("rejected", _, false) => {
            format!(
                "{lead}さんを差し戻しました（インサイドセールスの再架電へ。理由: {}）。",
                reason.unwrap_or_default()
            )
        }
        ("rejected", back, true) => format!(
            "Rejected {lead} (back to {}; reason: {}).",
            if back == Some("nurturing") { "nurturing" } else { "inside sales" },
            reason.unwrap_or_default()
        ),
        ("pending", _, false) => format!("{lead}さんを引き受けました。期限までに受け入れるか差し戻してください。"),
        ("pending", _, true) => format!("Took {lead}: accept or reject it by the deadline."),
        _ => return None,
    })
}

/// The lead page's toss-up panel.
pub(crate) async fn panel(
    state: &AppState,
    user: &CurrentUser,
    lead: &LeadRow,
    form: Option<(&TossupForm, &FieldErrors)>,
) -> Result<minijinja::Value, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let now = now_millis();
    let rows = store
        .tossups(&TossupQuery { lead_id: Some(lead.id), limit: 10, ..TossupQuery::default() })
        .await
        .map_err(error)?;
    let names = user_names(state, locale).await?;
    let mut views = Vec::new();
    for t in &rows {
        let decisions = store.tossup_decisions(t.id).await.map_err(error)?;
        let decisions: Vec<minijinja::Value> = decisions.iter().map(|d| decision_view(d, &names, locale)).collect();
        let (_, process) = hatake_engine::qualification::process(store, t.product_id).await.map_err(error)?;
        let reasons: Vec<minijinja::Value> =
            process.recycle_reasons.iter().map(|r| context! { key => r.key, label => r.label(locale) }).collect();
        let reason = t.reason.as_deref().map(|key| recycle_label(&process, key, locale));
        views.push(context! {
            view => tossup_view(t, &user.user, now, locale),
            decisions => decisions,
            reasons => reasons,
            reason => reason,
        });
    }
    let products = store.list_products().await.map_err(error)?;
    let interested: Vec<minijinja::Value> = products
        .iter()
        .filter(|p| p.active && (lead.product_ids.is_empty() || lead.product_ids.contains(&p.id)))
        .map(|p| context! { id => p.id, name => p.name })
        .collect();
    let (typed, errors) = match form {
        Some((typed, errors)) => (Some(typed), super::field_errors(errors, locale)),
        None => (None, std::collections::BTreeMap::new()),
    };
    Ok(context! {
        rows => views,
        can_toss => may_toss_up(&user.user),
        products => interested,
        form => typed,
        errors => errors,
    })
}

/// The toss-up form as typed.
#[derive(Deserialize, Default, Debug, Clone, serde::Serialize)]
pub struct TossupForm {
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    note: String,
}

async fn toss_up(State(state): State<AppState>, Path(id): Path<String>, form: PageForm<TossupForm>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(lead_id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    if !may_toss_up(&user.user) {
        return PageError::forbidden(locale).into_response();
    }
    let typed = form.data;
    let input =
        TossupInput { lead_id, product_id: typed.product_id.parse().unwrap_or_default(), note: typed.note.clone() };
    match routing::toss_up(state.store.as_ref(), &input, Some(user.user.id), now_millis(), &state.zone()).await {
        Ok(tossed) => Redirect::to(&format!("/leads/{lead_id}?tossed={}#tossup", tossed.id)).into_response(),
        Err(SaveError::Invalid(errors)) => {
            let extra = super::leads::DetailExtra { tossup: Some((&typed, &errors)), ..Default::default() };
            super::calls::lead_page_again(&state, &user, lead_id, extra).await
        }
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

/// A decision as posted.
#[derive(Deserialize, Default, Debug)]
pub struct DecideForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back_to: String,
    #[serde(default)]
    note: String,
    /// Where to go afterwards: `lead` (the lead's page) or the list.
    #[serde(default)]
    back: String,
}

async fn decide(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    form: PageForm<DecideForm>,
) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let store = state.store.as_ref();
    let tossup = match store.get_tossup(id).await {
        Ok(t) => t,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let now = now_millis();
    let zone = state.zone();
    let result = match action.as_str() {
        "accept" => routing::accept(store, id, &user.user, now, &zone).await,
        "take" => routing::take(store, id, &user.user, now, &zone).await,
        "reject" => {
            let rejection = Rejection {
                reason: form.data.reason.clone(),
                note: Some(form.data.note.clone()),
                back_to: form.data.back_to.clone(),
            };
            routing::reject(store, id, &user.user, &rejection, now, &zone).await
        }
        _ => return PageError::not_found(locale).into_response(),
    };
    let base = if form.data.back == "lead" { format!("/leads/{}", tossup.lead_id) } else { "/tossups".to_owned() };
    let sep = if base.contains('?') { '&' } else { '?' };
    match result {
        Ok(()) => {
            let anchor = if form.data.back == "lead" { "#tossup" } else { "" };
            Redirect::to(&format!("{base}{sep}decided={action}&t={id}{anchor}")).into_response()
        }
        Err(SaveError::Invalid(errors)) if errors.0.iter().any(|e| e.code == "not_yours") => {
            PageError::forbidden(locale).into_response()
        }
        Err(SaveError::Invalid(errors)) => {
            // Each mistake in words at the top of the list (the form is short: choose again).
            let message = errors.0.iter().map(|e| e.message(locale).to_owned()).collect::<Vec<_>>().join(" ");
            match list_page(&state, &user, &ListParams::default(), Some(message)).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    status: Option<String>,
    scope: Option<String>,
    before: Option<String>,
    /// The toss-up just decided.
    t: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    list_page(&state, &user, &params, None).await
}

async fn list_page(
    state: &AppState,
    user: &CurrentUser,
    params: &ListParams,
    problem: Option<String>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let status = ["pending", "accepted", "rejected", "all"]
        .into_iter()
        .find(|s| params.status.as_deref() == Some(*s))
        .unwrap_or("pending");
    // Managers see everyone's unless they ask for their own; the others see theirs.
    let all = manages(&user.user) && params.scope.as_deref() != Some("mine");
    let owner = if all { TossupOwner::Anyone } else { routing::owner_for(&user.user) };
    let owner = if owner == TossupOwner::Anyone && !all { TossupOwner::From(user.user.id) } else { owner };
    let before = params.before.as_deref().and_then(|b| b.parse().ok());
    let query = TossupQuery {
        owner,
        status: (status != "all").then(|| status.to_owned()),
        lead_id: None,
        before,
        limit: PAGE + 1,
    };
    let mut rows = store.tossups(&query).await.map_err(error)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let pending = store.count_tossups(owner, "pending").await.map_err(error)?;
    let now = now_millis();
    let mut processes: HashMap<i64, hatake_domain::lifecycle::ProcessConfig> = HashMap::new();
    for t in &rows {
        if let std::collections::hash_map::Entry::Vacant(slot) = processes.entry(t.product_id) {
            slot.insert(hatake_engine::qualification::process(store, t.product_id).await.map_err(error)?.1);
        }
    }
    let reasons: HashMap<String, Vec<minijinja::Value>> = processes
        .iter()
        .map(|(product, process)| {
            let list = process.recycle_reasons.iter().map(|r| context! { key => r.key, label => r.label(locale) });
            (product.to_string(), list.collect())
        })
        .collect();
    let reason_of = |t: &TossupRow| Some(recycle_label(processes.get(&t.product_id)?, t.reason.as_deref()?, locale));
    let views: Vec<minijinja::Value> = rows
        .iter()
        .map(|t| context! { v => tossup_view(t, &user.user, now, locale), reason => reason_of(t) })
        .collect();
    let flash = match params.t.as_deref().and_then(|t| t.parse::<i64>().ok()) {
        Some(id) => decided_flash(store, id, locale).await,
        None => None,
    };
    let scope = if all { "all" } else { "mine" };
    let next = if more {
        rows.last().map(|t| format!("/tossups?status={status}&scope={scope}&before={}", t.id))
    } else {
        None
    };
    render(
        state,
        user,
        "tossups/list.html",
        "calls",
        context! {
            rows => views,
            reasons => reasons,
            status => status,
            scope => scope,
            manages => manages(&user.user),
            pending => pending,
            next => next,
            first_page => before.is_none(),
            decided => flash,
            problem => problem,
        },
    )
    .await
}

/// The routing settings as typed: rows of text, checked on saving.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct RoutingForm {
    owner_first: bool,
    sla: String,
    reps: Vec<RepRow>,
    rules: Vec<RuleRow>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
struct RepRow {
    user_id: i64,
    name: String,
    in_pool: bool,
    weight: String,
    cap_day: String,
    cap_week: String,
    absent_today: bool,
    today: u32,
    week: u32,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
struct RuleRow {
    name: String,
    order: String,
    territories: String,
    products: Vec<i64>,
    min_employees: String,
    max_employees: String,
    industries: String,
    reps: Vec<i64>,
    delete: bool,
}

fn opt_text(n: Option<impl ToString>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn form_of(config: &RoutingConfig, field: &[UserRow]) -> RoutingForm {
    let reps = field
        .iter()
        .map(|u| {
            let setting = config.reps.iter().find(|r| r.user_id == u.id);
            RepRow {
                user_id: u.id,
                name: u.display_name.clone(),
                in_pool: setting.is_some(),
                weight: setting.map_or("1".into(), |s| s.weight.to_string()),
                cap_day: opt_text(setting.and_then(|s| s.cap_day)),
                cap_week: opt_text(setting.and_then(|s| s.cap_week)),
                ..RepRow::default()
            }
        })
        .collect();
    let rules = config
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| RuleRow {
            name: r.name.clone(),
            order: (i + 1).to_string(),
            territories: hatake_domain::routing::territory_names(&r.prefectures).join("、"),
            products: r.product_ids.clone(),
            min_employees: opt_text(r.min_employees),
            max_employees: opt_text(r.max_employees),
            industries: r.industries.join("、"),
            reps: r.reps.clone(),
            delete: false,
        })
        .collect();
    RoutingForm { owner_first: config.account_owner_first, sla: config.accept_sla_hours.to_string(), reps, rules }
}

fn posted_form(pairs: &[(String, String)], field: &[UserRow]) -> RoutingForm {
    let one = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let many = |key: &str| -> Vec<i64> {
        pairs.iter().filter(|(k, _)| k == key).filter_map(|(_, v)| v.parse().ok()).collect()
    };
    let reps = field
        .iter()
        .map(|u| RepRow {
            user_id: u.id,
            name: u.display_name.clone(),
            in_pool: many("pool").contains(&u.id),
            weight: one(&format!("weight.{}", u.id)),
            cap_day: one(&format!("cap_day.{}", u.id)),
            cap_week: one(&format!("cap_week.{}", u.id)),
            ..RepRow::default()
        })
        .collect();
    let count = pairs.iter().filter(|(k, _)| k == "rule").count();
    let rules = (0..count)
        .map(|i| RuleRow {
            name: one(&format!("rule.{i}.name")),
            order: one(&format!("rule.{i}.order")),
            territories: one(&format!("rule.{i}.territories")),
            products: many(&format!("rule.{i}.product")),
            min_employees: one(&format!("rule.{i}.min_employees")),
            max_employees: one(&format!("rule.{i}.max_employees")),
            industries: one(&format!("rule.{i}.industries")),
            reps: many(&format!("rule.{i}.rep")),
            delete: !one(&format!("rule.{i}.delete")).is_empty(),
        })
        .collect();
    RoutingForm { owner_first: !one("owner_first").is_empty(), sla: one("sla"), reps, rules }
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', '、', '\n', '/', '／']).map(hatake_domain::text::nfkc_trim).filter(|s| !s.is_empty()).collect()
}

/// The configuration a form says (bad numbers left at their defaults) and what is wrong with
/// its text (each problem in words).
fn parse_form(form: &RoutingForm) -> (RoutingConfig, FieldErrors) {
    let mut errors = FieldErrors::default();
    let number = |text: &str, field: &str, what_ja: &str, what_en: &str, errors: &mut FieldErrors| -> Option<i64> {
        let text = hatake_domain::text::nfkc_trim(text).replace(',', "");
        if text.is_empty() {
            return None;
        }
        match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                errors.push(FieldError::new(
                    field.to_owned(),
                    "invalid_number",
                    format!("{what_ja}「{text}」は0以上の整数で入力してください。"),
                    format!("{what_en} \"{text}\" must be a whole number, 0 or more."),
                ));
                None
            }
        }
    };
    let sla = number(&form.sla, "accept_sla_hours", "受入期限", "The time to accept", &mut errors).unwrap_or(8);
    let mut reps = Vec::new();
    for rep in form.reps.iter().filter(|r| r.in_pool) {
        let who_ja = format!("{}さんの", rep.name);
        let who_en = format!("{}'s", rep.name);
        let weight = number(&rep.weight, "weight", &format!("{who_ja}重み"), &format!("{who_en} weight"), &mut errors);
        let cap_day =
            number(&rep.cap_day, "cap_day", &format!("{who_ja}1日の上限"), &format!("{who_en} daily cap"), &mut errors);
        let cap_week = number(
            &rep.cap_week,
            "cap_week",
            &format!("{who_ja}1週の上限"),
            &format!("{who_en} weekly cap"),
            &mut errors,
        );
        let to_u32 = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        reps.push(RepSetting {
            user_id: rep.user_id,
            weight: weight.map_or(1, to_u32),
            cap_day: cap_day.map(to_u32),
            cap_week: cap_week.map(to_u32),
        });
    }
    let mut rules: Vec<(i64, usize, RoutingRule)> = Vec::new();
    for (index, row) in form.rules.iter().enumerate() {
        let blank = row.name.trim().is_empty()
            && row.territories.trim().is_empty()
            && row.industries.trim().is_empty()
            && row.products.is_empty()
            && row.reps.is_empty();
        if blank || row.delete {
            continue;
        }
        let mut prefectures = Vec::new();
        for name in split_list(&row.territories) {
            match territory(&name) {
                Some(list) => prefectures.extend(list.iter().map(|p| (*p).to_owned())),
                None => errors.push(FieldError::new(
                    format!("rules[{index}].prefectures"),
                    "unknown_territory",
                    format!("「{name}」は都道府県名・地方名ではありません（例: 大阪府、関西、関東）。"),
                    format!("\"{name}\" is no prefecture or region (e.g. Osaka, Kansai, Kanto)."),
                )),
            }
        }
        prefectures.dedup();
        let order = number(&row.order, "order", "順番", "The order", &mut errors).unwrap_or(i64::MAX);
        let rule = RoutingRule {
            name: hatake_domain::text::nfkc_trim(&row.name),
            prefectures,
            product_ids: row.products.clone(),
            min_employees: number(
                &row.min_employees,
                "min_employees",
                "従業員数の下限",
                "The minimum head count",
                &mut errors,
            ),
            max_employees: number(
                &row.max_employees,
                "max_employees",
                "従業員数の上限",
                "The maximum head count",
                &mut errors,
            ),
            industries: split_list(&row.industries),
            reps: row.reps.clone(),
        };
        rules.push((order, index, rule));
    }
    rules.sort_by_key(|(order, index, _)| (*order, *index));
    let config = RoutingConfig {
        account_owner_first: form.owner_first,
        rules: rules.into_iter().map(|(_, _, r)| r).collect(),
        reps,
        accept_sla_hours: u32::try_from(sla).unwrap_or(u32::MAX),
    };
    (config, errors)
}

#[derive(Deserialize, Default)]
pub struct SettingsParams {
    saved: Option<String>,
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<SettingsParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let config = routing::config(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let field = routing::field_reps(store).await.map_err(|e| PageError::from_store(e, locale))?;
    settings_page(&state, &user, form_of(&config, &field), None, params.saved.is_some()).await
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    mut form: RoutingForm,
    errors: Option<&FieldErrors>,
    saved: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let states = routing::rep_states(store, now_millis(), &state.zone()).await.map_err(error)?;
    for rep in &mut form.reps {
        if let Some(s) = states.get(&rep.user_id) {
            (rep.absent_today, rep.today, rep.week) = (s.absent, s.today, s.week);
        }
    }
    // One empty row for a new rule.
    form.rules.push(RuleRow { order: (form.rules.len() + 1).to_string(), ..RuleRow::default() });
    let products: Vec<minijinja::Value> =
        store.list_products().await.map_err(error)?.iter().map(|p| context! { id => p.id, name => p.name }).collect();
    let messages: Vec<String> =
        errors.map(|e| e.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "settings/routing.html",
        "settings",
        context! { form => form, products => products, messages => messages, saved => saved },
    )
    .await
}

async fn save_settings(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let store = state.store.as_ref();
    let field = match routing::field_reps(store).await {
        Ok(field) => field,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let typed = posted_form(&form.data, &field);
    let (config, mut errors) = parse_form(&typed);
    let outcome = if errors.is_empty() {
        routing::save_config(store, &config, now_millis()).await
    } else {
        // Every problem at once: the text's and the configuration's.
        let reps: Vec<i64> = field.iter().map(|u| u.id).collect();
        let products: Vec<i64> = match store.list_products().await {
            Ok(list) => list.iter().map(|p| p.id).collect(),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        };
        if let Err(more) = config.check(&reps, &products) {
            errors.0.extend(more.0);
        }
        Err(SaveError::Invalid(errors))
    };
    match outcome {
        Ok(()) => Redirect::to("/settings/routing?saved=1").into_response(),
        Err(SaveError::Invalid(errors)) => match settings_page(&state, &user, typed, Some(&errors), false).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        },
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct AbsenceParams {
    after: Option<String>,
    saved: Option<String>,
    deleted: Option<String>,
}

async fn absences(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<AbsenceParams>,
) -> Result<Html<String>, PageError> {
    let notice = if params.saved.is_some() {
        Some("absence.saved")
    } else if params.deleted.is_some() {
        Some("absence.deleted")
    } else {
        None
    };
    absences_page(&state, &user, params.after.as_deref(), notice, None, None).await
}

#[derive(Deserialize, Default, Debug, Clone, serde::Serialize)]
pub struct AbsenceForm {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    starts_on: String,
    #[serde(default)]
    ends_on: String,
    #[serde(default)]
    note: String,
}

async fn absences_page(
    state: &AppState,
    user: &CurrentUser,
    after: Option<&str>,
    notice: Option<&str>,
    typed: Option<&AbsenceForm>,
    errors: Option<&FieldErrors>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let (today, _, _) = routing::day_and_week(now_millis(), &state.zone());
    let after = after.and_then(|a| {
        let (day, id) = a.split_once('.')?;
        Some((day.to_owned(), id.parse().ok()?))
    });
    let mut rows = store.absences(&today, None, after.clone(), PAGE + 1).await.map_err(error)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let next =
        if more { rows.last().map(|r| format!("/routing/absences?after={}.{}", r.starts_on, r.id)) } else { None };
    let people: Vec<minijinja::Value> = store
        .list_users()
        .await
        .map_err(error)?
        .iter()
        .filter(|u| u.active && (manages(&user.user) || u.id == user.user.id))
        .map(|u| context! { id => u.id, name => u.display_name, role => u.role().label(locale) })
        .collect();
    let views: Vec<minijinja::Value> = rows
        .iter()
        .map(|r| {
            context! { row => r, now => r.starts_on <= today && r.ends_on >= today,
            can_delete => manages(&user.user) || r.user_id == user.user.id }
        })
        .collect();
    let messages: Vec<String> =
        errors.map(|e| e.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "tossups/absences.html",
        "calls",
        context! { rows => views, people => people, next => next, first_page => after.is_none(), notice => notice,
        form => typed, messages => messages, today => today },
    )
    .await
}

fn valid_day(text: &str) -> Option<String> {
    let text = hatake_domain::text::nfkc_trim(text).replace('/', "-");
    hatake_domain::custom_field::is_iso_date(&text).then_some(text)
}

async fn add_absence(State(state): State<AppState>, form: PageForm<AbsenceForm>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let typed = form.data;
    let mut errors = FieldErrors::default();
    let whom = typed.user_id.parse::<i64>().unwrap_or(user.user.id);
    if whom != user.user.id && !manages(&user.user) {
        return PageError::forbidden(locale).into_response();
    }
    let starts = valid_day(&typed.starts_on);
    let ends = valid_day(&typed.ends_on).or_else(|| starts.clone().filter(|_| typed.ends_on.trim().is_empty()));
    if starts.is_none() {
        errors.push(FieldError::new(
            "starts_on",
            "invalid_date",
            "開始日を入力してください（YYYY-MM-DD）。",
            "Enter the first day (YYYY-MM-DD).",
        ));
    }
    if ends.is_none() {
        errors.push(FieldError::new(
            "ends_on",
            "invalid_date",
            "終了日の形式が正しくありません（YYYY-MM-DD）。",
            "The last day is not a date (YYYY-MM-DD).",
        ));
    }
    if let (Some(s), Some(e)) = (&starts, &ends) {
        if e < s {
            errors.push(FieldError::new(
                "ends_on",
                "before_start",
                "終了日は開始日以降にしてください。",
                "The last day cannot come before the first.",
            ));
        }
    }
    let note = hatake_domain::text::nfkc_trim(&typed.note);
    if note.chars().count() > 200 {
        errors.push(FieldError::too_long("note", 200));
    }
    let (Some(starts), Some(ends)) = (starts, ends) else {
        return again(&state, &user, &typed, &errors).await;
    };
    if !errors.is_empty() {
        return again(&state, &user, &typed, &errors).await;
    }
    let note = (!note.is_empty()).then_some(note);
    match state.store.add_absence(whom, &starts, &ends, note.as_deref(), Some(user.user.id), now_millis()).await {
        Ok(_) => Redirect::to("/routing/absences?saved=1").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn again(state: &AppState, user: &CurrentUser, typed: &AbsenceForm, errors: &FieldErrors) -> Response {
    match absences_page(state, user, None, None, Some(typed), Some(errors)).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn delete_absence(State(state): State<AppState>, Path(id): Path<String>, form: PageForm<()>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let absence = match state.store.get_absence(id).await {
        Ok(a) => a,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if absence.user_id != user.user.id && !manages(&user.user) {
        return PageError::forbidden(locale).into_response();
    }
    match state.store.delete_absence(id).await {
        Ok(_) => Redirect::to("/routing/absences?deleted=1").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct LogParams {
    before: Option<String>,
}

async fn log(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<LogParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let before = params.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows = store.routing_log(before, PAGE + 1).await.map_err(error)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let names = user_names(&state, locale).await?;
    let views: Vec<minijinja::Value> = rows.iter().map(|d| decision_view(d, &names, locale)).collect();
    let next = if more { rows.last().map(|d| format!("/routing/log?before={}", d.id)) } else { None };
    render(
        &state,
        &user,
        "tossups/log.html",
        "settings",
        context! { rows => views, next => next, first_page => before.is_none() },
    )
    .await
}
