//! Qualification and the sales process (MQL・商談): the overview per product, the MQL queue with
//! its service level, the opportunity board, the MQL policy editor with its simulator and mode
//! switch, the process settings (stages, reasons, SLA), and the lifecycle section and moves of
//! the lead page.

use super::scoring::{product, store_error};
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::lifecycle::{ProcessConfig, Stage};
use hatake_domain::qualification::MqlPolicy;
use hatake_domain::FieldErrors;
use hatake_engine::qualification::{self, CloseRequest, MoveError, MoveRequest};
use hatake_store::{ProductRow, StoreError, CONFIG_MQL_POLICY, CONFIG_PROCESS};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/pipeline", Access::SignedIn, get(overview)),
        route("GET", "/pipeline/{product}", Access::SignedIn, get(board)),
        route("GET", "/pipeline/{product}/mql", Access::SignedIn, get(queue)),
        route("GET", "/pipeline/{product}/settings", Access::Configure, get(settings)),
        route("POST", "/pipeline/{product}/settings", Access::Configure, post(save_settings)),
        route("GET", "/qualification/{product}", Access::Configure, get(policy)),
        route("POST", "/qualification/{product}", Access::Configure, post(save_policy)),
        route("POST", "/qualification/{product}/mode", Access::Configure, post(switch_mode)),
        route("GET", "/qualification/{product}/export", Access::Configure, get(export_policy)),
        route("POST", "/leads/{id}/stage", Access::SignedIn, post(move_stage)),
        route("POST", "/opportunities/{id}", Access::SignedIn, post(update_opportunity)),
        route("POST", "/opportunities/{id}/close", Access::SignedIn, post(close_opportunity)),
    ]
}

fn stage_label(stage: &str, locale: &str) -> String {
    Stage::parse(stage).map_or_else(|| stage.to_owned(), |s| s.label(locale).to_owned())
}

async fn overview(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let products = store.list_products().await.map_err(store_error(locale))?;
    let policies = store.current_configs(CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let now = now_millis();
    let mut rows = Vec::new();
    for product in &products {
        let counts = store.stage_counts(product.id).await.map_err(store_error(locale))?;
        let count = |stage: &str| counts.iter().find(|(s, _)| s == stage).map_or(0, |(_, n)| *n);
        let breached = store.count_breached(product.id, "mql", now).await.map_err(store_error(locale))?;
        let open = store.open_deal_totals(product.id).await.map_err(store_error(locale))?;
        rows.push(context! {
            product => product,
            policy => policies.iter().find(|p| p.product_id == product.id).map(|p| p.version),
            mql => count("mql"), sal => count("sal"), opportunity => count("opportunity"), won => count("won"),
            lost => count("lost"), nurturing => count("nurturing"), breached => breached,
            open_amount => open.iter().map(|(_, _, a)| a).sum::<i64>(), open_count => open.iter().map(|(_, n, _)| n).sum::<i64>(),
        });
    }
    render(&state, &user, "process/overview.html", "pipeline", context! { rows => rows }).await
}

#[derive(Deserialize, Default)]
pub struct Flash {
    moved: Option<String>,
    move_error: Option<String>,
}

/// The queue page's choices: which tab, in which order, after which row.
#[derive(Deserialize, Default)]
pub struct QueueParams {
    tab: Option<String>,
    sort: Option<String>,
    /// `{sort key}.{lead id}` of the last row of the page before.
    after: Option<String>,
    #[serde(flatten)]
    flash: Flash,
}

/// Rows of the MQL queue per page.
const QUEUE_PAGE: i64 = 50;

/// Why a lead is in the queue, in words: the policy version, mode and conditions met, a
/// hand-raise, or the person who moved it.
fn why_qualified(row: &hatake_store::QueueRow, locale: &str) -> String {
    let detail: serde_json::Value =
        row.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
    let en = locale == "en";
    if row.reason.as_deref() == Some("hand_raise") {
        let head = t(locale, "process.reason.hand_raise");
        let via = detail["via"].as_str().map(|v| {
            let key = format!("process.hand_raise.{v}");
            t(locale, &key).to_owned()
        });
        let form = detail["form"].as_str();
        return match (via, form) {
            (Some(via), Some(form)) if en => format!("{head}: {via} ({form})"),
            (Some(via), Some(form)) => format!("{head}：{via}（{form}）"),
            (Some(via), None) if en => format!("{head}: {via}"),
            (Some(via), None) => format!("{head}：{via}"),
            _ => head.to_owned(),
        };
    }
    if let Some(version) = row.policy_version {
        let mode = detail["mode_label"].as_str().map(str::to_owned).or_else(|| row.mode.clone()).unwrap_or_default();
        let met: Vec<String> = detail["met"]
            .as_array()
            .map(|items| {
                let key = if en { "message_en" } else { "message_ja" };
                items.iter().filter_map(|m| m[key].as_str().map(str::to_owned)).collect()
            })
            .unwrap_or_default();
        let head = if en {
            format!("MQL policy v{version} ({mode})")
        } else {
            format!("MQLポリシー v{version}（{mode}）")
        };
        return if met.is_empty() { head } else { format!("{head}: {}", met.join(" · ")) };
    }
    match &row.moved_by {
        Some(by) if en => format!("Moved by {by}"),
        Some(by) => format!("{by}さんが移動"),
        None => String::new(),
    }
}

/// The code of a failed move, for the page it returns to.
fn move_error_code(error: &MoveError) -> Option<&'static str> {
    match error {
        MoveError::Invalid(errors) => errors.0.first().map(|e| e.code),
        MoveError::Store(StoreError::Conflict { .. }) => Some("conflict"),
        MoveError::Store(_) => None,
    }
}

/// What a move did, in words, with the lead's name: 「山田 太郎：SALに移しました。」. `moved` is
/// `{what}.{lead id}`; an unknown one (an old link) says only that it was recorded.
pub(crate) async fn moved_message(
    store: &dyn hatake_store::Store,
    moved: Option<&str>,
    locale: &str,
) -> Option<String> {
    let moved = moved?;
    let (what, lead) = moved.rsplit_once('.').unwrap_or((moved, ""));
    let key = match what {
        "mql" | "sal" | "nurturing" | "opportunity" | "deal" | "won" | "lost" => format!("process.moved.{what}"),
        _ => "process.moved".to_owned(),
    };
    let text = crate::i18n::t(locale, &key).to_owned();
    let name = match lead.parse::<i64>() {
        Ok(id) => store.get_lead(id).await.ok().map(|l| l.full_name()).filter(|n| !n.trim().is_empty()),
        Err(_) => None,
    };
    Some(match name {
        Some(name) if locale == "en" => format!("{name}: {text}"),
        Some(name) => format!("{name}：{text}"),
        None => text,
    })
}

/// Where to go back to: a path of this site only.
fn back(to: Option<&str>, fallback: String) -> String {
    match to {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => fallback,
    }
}

/// `path` with `query` added: its own parameters stay (a tab, a sort), an earlier flash goes.
fn with_query(path: &str, query: &str) -> String {
    let base = path.split('#').next().unwrap_or(path);
    let (base, own) = base.split_once('?').unwrap_or((base, ""));
    let kept: Vec<&str> =
        own.split('&').filter(|p| !p.is_empty() && !p.starts_with("moved=") && !p.starts_with("move_error=")).collect();
    if kept.is_empty() {
        format!("{base}?{query}")
    } else {
        format!("{base}?{}&{query}", kept.join("&"))
    }
}

async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<QueueParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let now = now_millis();
    let (_, process) = qualification::process(store, product.id).await.map_err(store_error(locale))?;
    let tab = if params.tab.as_deref() == Some("sal") { "sal" } else { "mql" };
    let sort = params.sort.as_deref().and_then(hatake_store::QueueSort::parse).unwrap_or(if tab == "mql" {
        hatake_store::QueueSort::Sla
    } else {
        hatake_store::QueueSort::Waiting
    });
    let after = params.after.as_deref().and_then(|a| {
        let (key, id) = a.split_once('.')?;
        Some((key.parse::<i64>().ok()?, id.parse::<i64>().ok()?))
    });
    let mut rows =
        store.stage_queue(product.id, tab, sort, after, QUEUE_PAGE + 1).await.map_err(store_error(locale))?;
    let more = rows.len() > usize::try_from(QUEUE_PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(QUEUE_PAGE).unwrap_or(usize::MAX));
    let next = more.then(|| rows.last().map(|r| format!("{}.{}", r.sort_key, r.lead_id))).flatten();
    let counts = store.stage_counts(product.id).await.map_err(store_error(locale))?;
    let count = |stage: &str| counts.iter().find(|(s, _)| s == stage).map_or(0, |(_, n)| *n);
    let breached = store.count_breached(product.id, "mql", now).await.map_err(store_error(locale))?;
    let view: Vec<minijinja::Value> = rows
        .into_iter()
        .map(|r| {
            let breached = r.sla_due_at.is_some_and(|due| due < now);
            let why = why_qualified(&r, locale);
            context! { row => r, breached => breached, why => why }
        })
        .collect();
    let sorts: Vec<minijinja::Value> = ["sla", "score", "waiting"]
        .into_iter()
        .map(|key| {
            let label_key = format!("process.sort.{key}");
            context! { key => key, label => t(locale, &label_key).to_owned(), on => key == sort.as_str() }
        })
        .collect();
    render(
        &state,
        &user,
        "process/queue.html",
        "pipeline",
        context! {
            product => product, tab => tab, rows => view, sort => sort.as_str(), sorts => sorts,
            next => next, paged => after.is_some(), mql_total => count("mql"), sal_total => count("sal"),
            breached => breached, sla_hours => process.sla_business_hours,
            recycle_reasons => process.recycle_reasons.iter().map(|r| context! { key => r.key, label => r.label(locale) }).collect::<Vec<_>>(),
            stages => process.stages, moved => moved_message(state.store.as_ref(), params.flash.moved.as_deref(), locale).await,
            move_error => params.flash.move_error.map(|c| format!("move.error.{c}")),
        },
    )
    .await
}

/// The board's choices: which column is opened to page through all its deals.
#[derive(Deserialize, Default)]
pub struct BoardParams {
    stage: Option<String>,
    page: Option<String>,
    #[serde(flatten)]
    flash: Flash,
}

/// Deals a closed board column shows; the rest are one click away.
const COLUMN_CARDS: i64 = 10;
/// Deals per page of an opened column.
const COLUMN_PAGE: i64 = 50;

async fn board(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<BoardParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let (_, process) = qualification::process(store, product.id).await.map_err(store_error(locale))?;
    let totals = store.open_deal_totals(product.id).await.map_err(store_error(locale))?;
    let total = |key: &str| totals.iter().find(|(k, _, _)| k == key).map_or((0, 0), |(_, n, a)| (*n, *a));
    let opened = params.stage.as_deref().filter(|s| process.stage(s).is_some());
    let page = params.page.as_deref().and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let mut columns = Vec::new();
    for stage in &process.stages {
        let (count, amount) = total(&stage.key);
        let is_open = opened == Some(stage.key.as_str());
        let (limit, offset) = if is_open { (COLUMN_PAGE, (page - 1) * COLUMN_PAGE) } else { (COLUMN_CARDS, 0) };
        let cards = if count > 0 {
            store.stage_opportunities(product.id, &stage.key, limit, offset).await.map_err(store_error(locale))?
        } else {
            Vec::new()
        };
        let shown_to = offset + i64::try_from(cards.len()).unwrap_or(0);
        columns.push(context! {
            stage => stage, cards => cards, count => count, amount => amount, opened => is_open,
            from => if cards.is_empty() { 0 } else { offset + 1 }, to => shown_to,
            prev => (is_open && page > 1).then_some(page - 1),
            next => (is_open && shown_to < count).then_some(page + 1),
            more => (!is_open && shown_to < count).then_some(count - shown_to),
        });
    }
    let mut orphans = Vec::new();
    for (key, _, _) in totals.iter().filter(|(k, _, _)| process.stage(k).is_none()) {
        orphans.extend(store.stage_opportunities(product.id, key, COLUMN_PAGE, 0).await.map_err(store_error(locale))?);
    }
    // Deals whose stage was removed from the settings stay visible (above).
    let won = store.opportunities(product.id, "won", 20).await.map_err(store_error(locale))?;
    let lost = store.opportunities(product.id, "lost", 20).await.map_err(store_error(locale))?;
    let reason_label = |key: &Option<String>| {
        key.as_ref().map(|k| {
            process.lost_reasons.iter().find(|r| &r.key == k).map_or_else(|| k.clone(), |r| r.label(locale).to_owned())
        })
    };
    let lost: Vec<minijinja::Value> =
        lost.iter().map(|o| context! { row => o, reason => reason_label(&o.reason) }).collect();
    render(
        &state,
        &user,
        "process/board.html",
        "pipeline",
        context! {
            product => product, columns => columns, orphans => orphans, won => won, lost => lost,
            stages => process.stages,
            lost_reasons => process.lost_reasons.iter().map(|r| context! { key => r.key, label => r.label(locale) }).collect::<Vec<_>>(),
            moved => moved_message(state.store.as_ref(), params.flash.moved.as_deref(), locale).await,
            move_error => params.flash.move_error.map(|c| format!("move.error.{c}")),
        },
    )
    .await
}

#[derive(Deserialize)]
pub struct MoveForm {
    product_id: i64,
    from: String,
    to: String,
    reason: Option<String>,
    note: Option<String>,
    opportunity_name: Option<String>,
    stage_key: Option<String>,
    amount: Option<String>,
    expected_close_on: Option<String>,
    back: Option<String>,
}

async fn move_stage(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<MoveForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let request = MoveRequest {
        lead_id: id,
        product_id: data.product_id,
        from: data.from,
        to: data.to,
        reason: data.reason,
        note: data.note,
        by: Some(user.user.id),
        opportunity_name: data.opportunity_name,
        stage_key: data.stage_key,
        amount: data.amount,
        expected_close_on: data.expected_close_on,
    };
    let to = back(data.back.as_deref(), format!("/leads/{id}#lead-process"));
    let what = format!("{}.{id}", request.to);
    let result = qualification::move_lead(state.store.as_ref(), &request, now_millis(), &state.zone()).await;
    answer(result.map(|_| ()), &to, &what, locale)
}

#[derive(Deserialize)]
pub struct OpportunityForm {
    stage_key: String,
    amount: Option<String>,
    expected_close_on: Option<String>,
    back: Option<String>,
}

async fn update_opportunity(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<OpportunityForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let (to, lead) = deal_page(&state, id, data.back.as_deref(), locale).await?;
    let result = qualification::update_opportunity(
        store,
        id,
        &data.stage_key,
        data.amount.as_ref(),
        data.expected_close_on.as_ref(),
        Some(user.user.id),
        now_millis(),
    )
    .await;
    answer(result, &to, &format!("deal.{}", lead.unwrap_or_default()), locale)
}

/// Where a change of deal `id` returns to (the page it was made on, else the deal's board), and
/// the deal's lead.
async fn deal_page(
    state: &AppState,
    id: i64,
    to: Option<&str>,
    locale: &'static str,
) -> Result<(String, Option<i64>), PageError> {
    let opportunity = state.store.get_opportunity(id).await.map_err(store_error(locale))?;
    Ok((back(to, format!("/pipeline/{}", opportunity.product_id)), opportunity.lead_id))
}

/// `what` (`{stage or deal, won, lost}.{lead id}`) goes back as the flash `moved`, which
/// [`moved_message`] puts in words.
fn answer(result: Result<(), MoveError>, to: &str, what: &str, locale: &'static str) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&with_query(to, &format!("moved={what}"))).into_response()),
        Err(MoveError::Store(StoreError::NotFound)) => {
            Ok(Redirect::to(&with_query(to, "move_error=closed")).into_response())
        }
        Err(error) => match move_error_code(&error) {
            Some(code) => Ok(Redirect::to(&with_query(to, &format!("move_error={code}"))).into_response()),
            None => Err(match error {
                MoveError::Store(e) => PageError::from_store(e, locale),
                MoveError::Invalid(_) => PageError::internal(locale),
            }),
        },
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    outcome: String,
    reason: Option<String>,
    note: Option<String>,
    competitor: Option<String>,
    competitor_installed_on: Option<String>,
    reapproach_on: Option<String>,
    back: Option<String>,
    /// A deal closes won only with this ticked: a win is not one stray click.
    confirm_won: Option<String>,
}

async fn close_opportunity(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<CloseForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let (to, lead) = deal_page(&state, id, data.back.as_deref(), locale).await?;
    if data.outcome == "won" && data.confirm_won.as_deref().is_none_or(str::is_empty) {
        return Ok(Redirect::to(&with_query(&to, "move_error=confirm_won")).into_response());
    }
    let request = CloseRequest {
        won: data.outcome == "won",
        reason: data.reason,
        note: data.note,
        competitor: data.competitor,
        competitor_installed_on: data.competitor_installed_on,
        reapproach_on: data.reapproach_on,
    };
    let what = format!("{}.{}", if request.won { "won" } else { "lost" }, lead.unwrap_or_default());
    let result = qualification::close_opportunity(store, id, &request, Some(user.user.id), now_millis()).await;
    answer(result, &to, &what, locale)
}

// --- Configuration: the MQL policy (with its simulator) and the process settings. ---

#[derive(Deserialize, Default)]
pub struct EditParams {
    template: Option<String>,
    version: Option<i64>,
    saved: Option<i64>,
}

#[derive(Deserialize)]
pub struct ConfigForm {
    yaml: String,
    #[serde(default)]
    action: String,
    /// The simulator's mode (`` = as scheduled).
    #[serde(default)]
    sim_mode: String,
}

struct Editor<'a> {
    kind: &'static str,
    product: &'a ProductRow,
    yaml: String,
    errors: Option<FieldErrors>,
    saved: Option<i64>,
    simulation: Option<minijinja::Value>,
    policy: Option<MqlPolicy>,
}

async fn editor(state: &AppState, user: &CurrentUser, editor: Editor<'_>) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let versions = store.config_versions(editor.product.id, editor.kind).await.map_err(store_error(locale))?;
    let (title, action, template) = if editor.kind == CONFIG_MQL_POLICY {
        ("process.policy_title", format!("/qualification/{}", editor.product.id), "process/policy.html")
    } else {
        ("process.settings_title", format!("/pipeline/{}/settings", editor.product.id), "process/settings.html")
    };
    let current = versions.first().and_then(|v| MqlPolicy::from_json(&v.definition).ok());
    let day = qualification::day_of(now_millis(), &state.zone());
    let in_force =
        current.as_ref().and_then(|p| p.mode_on(&day)).map(|m| m.label.clone().unwrap_or_else(|| m.id.clone()));
    let modes: Vec<minijinja::Value> = editor
        .policy
        .as_ref()
        .or(current.as_ref())
        .map(|p| {
            p.modes
                .iter()
                .map(|m| context! { id => m.id, label => m.label.clone().unwrap_or_else(|| m.id.clone()) })
                .collect()
        })
        .unwrap_or_default();
    render(
        state,
        user,
        template,
        "pipeline",
        context! {
            title => title, action => action, product => editor.product, yaml => editor.yaml, versions => versions,
            error_list => editor.errors.as_ref().map(|e| e.0.iter().map(|f| f.message(locale).to_owned()).collect::<Vec<_>>()),
            saved => editor.saved, simulation => editor.simulation, modes => modes, in_force => in_force,
            manual => current.as_ref().and_then(|p| p.manual_mode.clone()),
        },
    )
    .await
}

async fn custom_keys(state: &AppState, locale: &'static str) -> Result<Vec<String>, PageError> {
    let defs = crate::service::custom_defs(state.store.as_ref()).await.map_err(store_error(locale))?;
    Ok(defs.into_iter().map(|d| d.key).collect())
}

async fn policy(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<EditParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let versions = state.store.config_versions(product.id, CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let shown = match params.version {
        Some(v) => versions.iter().find(|r| r.version == v),
        None => versions.first(),
    };
    let policy = match (shown, params.template.is_some()) {
        (Some(row), false) => MqlPolicy::from_json(&row.definition).unwrap_or_default(),
        _ => MqlPolicy::template(),
    };
    let yaml = policy.to_yaml();
    editor(
        &state,
        &user,
        Editor {
            kind: CONFIG_MQL_POLICY,
            product: &product,
            yaml,
            errors: None,
            saved: params.saved,
            simulation: None,
            policy: Some(policy),
        },
    )
    .await
}

/// Checks the posted policy; simulates it over the last 12 months, or saves it as the next
/// version. A wrong policy comes back as typed (422) with the line of every problem.
async fn save_policy(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<ConfigForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let yaml = data.yaml.replace("\r\n", "\n");
    let keys = custom_keys(&state, locale).await?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let store = state.store.as_ref();
    match MqlPolicy::from_yaml(&yaml, &keys) {
        Err(errors) => {
            let page = Editor {
                kind: CONFIG_MQL_POLICY,
                product: &product,
                yaml,
                errors: Some(errors),
                saved: None,
                simulation: None,
                policy: None,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, editor(&state, &user, page).await?).into_response())
        }
        Ok(policy) if data.action == "simulate" || data.action == "check" => {
            let simulation = if data.action == "simulate" {
                let mode = Some(data.sim_mode.as_str()).filter(|m| !m.is_empty() && policy.mode(m).is_some());
                match qualification::simulate(store, product.id, &policy, mode, 12, now_millis(), &state.zone()).await {
                    Ok(result) => Some(simulation_view(&result, mode)),
                    Err(StoreError::NotFound) => Some(context! { no_model => true }),
                    Err(e) => return Err(PageError::from_store(e, locale)),
                }
            } else {
                None
            };
            let page = Editor {
                kind: CONFIG_MQL_POLICY,
                product: &product,
                yaml,
                errors: Some(FieldErrors::default()),
                saved: None,
                simulation,
                policy: Some(policy),
            };
            Ok(editor(&state, &user, page).await?.into_response())
        }
        Ok(policy) => {
            let row = store
                .save_config(product.id, CONFIG_MQL_POLICY, &policy.to_json(), Some(user.user.id), now_millis())
                .await
                .map_err(store_error(locale))?;
            Ok(Redirect::to(&format!("/qualification/{}?saved={}", product.id, row.version)).into_response())
        }
    }
}

/// The simulator's months with bars scaled to the largest month (drawn as SVG by the template).
fn simulation_view(result: &qualification::Simulation, mode: Option<&str>) -> minijinja::Value {
    let most = result.months.iter().map(|m| m.would.max(m.actual)).max().unwrap_or(0).max(1);
    let months: Vec<minijinja::Value> = result
        .months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            context! {
                month => m.month, would => m.would, won => m.won, actual => m.actual, x => i * 40 + 30,
                would_h => m.would * 120 / most, won_h => m.won * 120 / most, actual_h => m.actual * 120 / most,
            }
        })
        .collect();
    let per_month = if result.months.is_empty() { 0.0 } else { result.total as f64 / result.months.len() as f64 };
    let rate =
        if result.total == 0 { None } else { Some(format!("{:.0}", result.won as f64 * 100.0 / result.total as f64)) };
    context! {
        months => months, total => result.total, won => result.won, leads => result.leads, events => result.events,
        per_month => format!("{per_month:.1}"), win_rate => rate, mode => mode, width => result.months.len() * 40 + 40,
    }
}

#[derive(Deserialize)]
pub struct ModeForm {
    /// The mode to switch to by hand; empty follows the schedule again.
    mode: String,
}

/// Switches the mode by hand (or back to the schedule): a new version of the policy.
async fn switch_mode(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<ModeForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let store = state.store.as_ref();
    let versions = store.config_versions(product.id, CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let Some(mut policy) = versions.first().and_then(|v| MqlPolicy::from_json(&v.definition).ok()) else {
        return Err(PageError::not_found(locale));
    };
    let mode = Some(data.mode.trim().to_owned()).filter(|m| !m.is_empty());
    if mode.as_ref().is_some_and(|m| policy.mode(m).is_none()) {
        return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "common.errors", locale));
    }
    policy.manual_mode = mode;
    let row = store
        .save_config(product.id, CONFIG_MQL_POLICY, &policy.to_json(), Some(user.user.id), now_millis())
        .await
        .map_err(store_error(locale))?;
    Ok(Redirect::to(&format!("/qualification/{}?saved={}", product.id, row.version)).into_response())
}

async fn export_policy(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let versions = state.store.config_versions(product.id, CONFIG_MQL_POLICY).await.map_err(store_error(locale))?;
    let row = versions.first().ok_or_else(|| PageError::not_found(locale))?;
    let policy = MqlPolicy::from_json(&row.definition).map_err(|_| PageError::internal(locale))?;
    Ok(super::scoring::yaml_download("MQL policy", "mql-policy", &product, row.version, &policy.to_yaml()))
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Query(params): Query<EditParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let (_, config) = qualification::process(state.store.as_ref(), product.id).await.map_err(store_error(locale))?;
    let config = if params.template.is_some() { ProcessConfig::default() } else { config };
    editor(
        &state,
        &user,
        Editor {
            kind: CONFIG_PROCESS,
            product: &product,
            yaml: config.to_yaml(),
            errors: None,
            saved: params.saved,
            simulation: None,
            policy: None,
        },
    )
    .await
}

async fn save_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PageForm { user, data }: PageForm<ConfigForm>,
) -> Result<Response, PageError> {
    let locale = user.locale();
    let product = product(&state, &id, locale).await?;
    let yaml = data.yaml.replace("\r\n", "\n");
    match ProcessConfig::from_yaml(&yaml) {
        Err(errors) => {
            let page = Editor {
                kind: CONFIG_PROCESS,
                product: &product,
                yaml,
                errors: Some(errors),
                saved: None,
                simulation: None,
                policy: None,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, editor(&state, &user, page).await?).into_response())
        }
        Ok(_) if data.action == "check" => {
            let page = Editor {
                kind: CONFIG_PROCESS,
                product: &product,
                yaml,
                errors: Some(FieldErrors::default()),
                saved: None,
                simulation: None,
                policy: None,
            };
            Ok(editor(&state, &user, page).await?.into_response())
        }
        Ok(config) => {
            let row = state
                .store
                .save_config(product.id, CONFIG_PROCESS, &config.to_json(), Some(user.user.id), now_millis())
                .await
                .map_err(store_error(locale))?;
            Ok(Redirect::to(&format!("/pipeline/{}/settings?saved={}", product.id, row.version)).into_response())
        }
    }
}

// --- The lead page's lifecycle section. ---

/// Per product the lead has a stage, score, policy or opportunity for: where it stands, what the
/// policy says today, the moves a person can make, its opportunities and the history.
pub(crate) async fn lead_process(
    state: &AppState,
    lead: &hatake_store::LeadRow,
    products: &[ProductRow],
    locale: &'static str,
) -> Result<minijinja::Value, PageError> {
    let store = state.store.as_ref();
    let now = now_millis();
    let zone = state.zone();
    let stages = store.lead_stages(&[lead.id]).await.map_err(store_error(locale))?;
    let history = store.stage_history(lead.id).await.map_err(store_error(locale))?;
    let opportunities = store.lead_opportunities(lead.id).await.map_err(store_error(locale))?;
    let verdicts = qualification::verdicts(store, lead, now, &zone).await.map_err(store_error(locale))?;
    let scored: Vec<i64> =
        store.lead_scores(&[lead.id]).await.map_err(store_error(locale))?.iter().map(|s| s.product_id).collect();
    let mut sections = Vec::new();
    for product in products {
        let stage_row = stages.iter().find(|s| s.product_id == product.id);
        let verdict = verdicts.iter().find(|v| v.product_id == product.id);
        let product_opportunities: Vec<&hatake_store::OpportunityRow> =
            opportunities.iter().filter(|o| o.product_id == product.id).collect();
        if stage_row.is_none() && verdict.is_none() && product_opportunities.is_empty() && !scored.contains(&product.id)
        {
            continue;
        }
        let stage = stage_row.and_then(|s| Stage::parse(&s.stage)).unwrap_or(Stage::Lead);
        let (_, process) = qualification::process(store, product.id).await.map_err(store_error(locale))?;
        let moves: Vec<minijinja::Value> = stage
            .next()
            .into_iter()
            .filter(|to| !matches!(to, Stage::Won | Stage::Lost))
            .map(|to| context! { to => to.as_str(), label => to.label(locale), needs_reason => to == Stage::Nurturing,
                needs_note => stage.check_move(to).is_ok_and(|n| n == hatake_domain::lifecycle::NeedsReason::Yes) && to != Stage::Nurturing,
                opens => to == Stage::Opportunity })
            .collect();
        let rows: Vec<minijinja::Value> = history
            .iter()
            .filter(|h| h.product_id == product.id)
            .map(|h| {
                let reason = h.reason.as_ref().map(|key| match key.as_str() {
                    "hand_raise" => t(locale, "process.reason.hand_raise").to_owned(),
                    "won" => t(locale, "process.won").to_owned(),
                    _ => process
                        .recycle_reasons
                        .iter()
                        .chain(&process.lost_reasons)
                        .find(|r| &r.key == key)
                        .map_or_else(|| key.clone(), |r| r.label(locale).to_owned()),
                });
                // The detail is why a policy qualified the lead (JSON), or the deal stage reached.
                let json: Option<serde_json::Value> =
                    h.detail.as_deref().filter(|d| d.starts_with('{')).and_then(|d| serde_json::from_str(d).ok());
                let detail = match &json {
                    Some(json) if json["via"].is_string() => {
                        let key = format!("process.hand_raise.{}", json["via"].as_str().unwrap_or_default());
                        let via = t(locale, &key).to_owned();
                        Some(match json["form"].as_str() {
                            Some(form) if locale == "en" => format!("{via} ({form})"),
                            Some(form) => format!("{via}（{form}）"),
                            None => via,
                        })
                    }
                    Some(json) => json["met"].as_array().map(|met| {
                        let key = if locale == "en" { "message_en" } else { "message_ja" };
                        met.iter().filter_map(|m| m[key].as_str()).collect::<Vec<_>>().join(" · ")
                    }),
                    None => h
                        .detail
                        .as_deref()
                        .map(|key| process.stage(key).map_or_else(|| key.to_owned(), |s| s.label.clone())),
                };
                let mode =
                    json.as_ref().and_then(|j| j["mode_label"].as_str().map(str::to_owned)).or_else(|| h.mode.clone());
                context! {
                    row => h, from => h.from_stage.as_deref().map(|s| stage_label(s, locale)),
                    to => stage_label(&h.to_stage, locale), reason => reason, detail => detail, mode => mode,
                }
            })
            .collect();
        sections.push(context! {
            product => product, stage => stage.as_str(), stage_label => if lead.is_lead || stage != Stage::Lead { stage.label(locale).to_owned() } else { crate::i18n::t(locale, "process.list_entry").to_owned() },
            since => stage_row.map(|s| s.since), sla_due_at => stage_row.and_then(|s| s.sla_due_at).filter(|_| stage == Stage::Mql),
            breached => stage == Stage::Mql && stage_row.and_then(|s| s.sla_due_at).is_some_and(|d| d < now),
            policy_version => stage_row.and_then(|s| s.policy_version),
            verdict => verdict.map(|v| context! {
                mode => v.mode_label, version => v.policy_version, qualified => v.unmet.is_empty(),
                unmet => v.unmet.iter().map(|u| if locale == "en" { u.message_en.clone() } else { u.message_ja.clone() }).collect::<Vec<_>>(),
            }),
            moves => moves, history => rows,
            opportunities => product_opportunities.iter().map(|o| context! {
                row => o,
                stage => process.stage(&o.stage_key).map_or_else(|| o.stage_key.clone(), |s| s.label.clone()),
                status => crate::i18n::t(locale, match o.status.as_str() { "won" => "process.won", "lost" => "process.lost", _ => "process.open" }),
            }).collect::<Vec<_>>(),
            recycle_reasons => process.recycle_reasons.iter().map(|r| context! { key => r.key, label => r.label(locale) }).collect::<Vec<_>>(),
            stages => process.stages.clone(),
        });
    }
    Ok(minijinja::Value::from(sections))
}
