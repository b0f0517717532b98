//! Inside sales' work area: the call queue (架電リスト, where inside sales lands), the task list,
//! the call panel on a lead's page (logging a call, the lead's calls and tasks, a new task) and
//! the outcome codes' settings. The work itself is the engine's (`inside_sales`).

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{FieldErrors, Role};
use hatake_engine::inside_sales::{self, CallInput, CallOutcome, SaveError, TaskInput};
use hatake_store::{EventRow, Millis, StoreError, TaskOwner, TaskQuery, TaskRow, TASK_KINDS};
use minijinja::context;
use serde::Deserialize;

/// Rows of the queue and of the task list a page shows.
const PAGE: usize = 50;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/calls", Access::SignedIn, get(queue)),
        route("GET", "/calls/kpi", Access::SignedIn, get(kpi)),
        route("GET", "/calls/kpi.csv", Access::SignedIn, get(kpi_csv)),
        route("GET", "/tasks", Access::SignedIn, get(tasks)),
        route("POST", "/tasks/{id}/{action}", Access::SignedIn, post(task_action)),
        route("POST", "/leads/{id}/calls", Access::SignedIn, post(log_call)),
        route("POST", "/leads/{id}/tasks", Access::SignedIn, post(new_task)),
        route("GET", "/settings/calls", Access::Configure, get(settings)),
        route("POST", "/settings/calls", Access::Configure, post(save_settings)),
    ]
}

/// The start and the end of today in the organisation's zone.
fn today(now: Millis, zone: &jiff::tz::TimeZone) -> (Millis, Millis) {
    let start_of = |day: jiff::civil::Date| day.to_zoned(zone.clone()).ok().map(|z| z.timestamp().as_millisecond());
    let day = jiff::Timestamp::from_millisecond(now).ok().map(|ts| ts.to_zoned(zone.clone()).date());
    let start = day.and_then(start_of).unwrap_or(now);
    let end = day.and_then(|d| d.tomorrow().ok()).and_then(start_of).map_or(now, |end| end - 1);
    (start, end)
}

/// Late: past its SLA deadline, or (without one) due before today.
fn late(task: &TaskRow, now: Millis, day_start: Millis) -> bool {
    task.status == "open" && task.sla_due_at.map_or(task.due_at < day_start, |sla| sla < now)
}

/// "3分前", "2時間前", "昨日", "5日前" — or the date when older than a month.
pub(crate) fn ago(at: Millis, now: Millis, locale: &str, zone: &jiff::tz::TimeZone) -> String {
    let minutes = (now - at).max(0) / 60_000;
    let en = locale == "en";
    match minutes {
        0 => (if en { "just now" } else { "たった今" }).to_owned(),
        1..=59 => {
            if en {
                format!("{minutes} min ago")
            } else {
                format!("{minutes}分前")
            }
        }
        60..=1_439 => {
            let hours = minutes / 60;
            if en {
                format!("{hours} h ago")
            } else {
                format!("{hours}時間前")
            }
        }
        1_440..=2_879 => (if en { "yesterday" } else { "昨日" }).to_owned(),
        2_880..=43_199 => {
            let days = minutes / 1_440;
            if en {
                format!("{days} days ago")
            } else {
                format!("{days}日前")
            }
        }
        _ => crate::render::format_time(at, zone).chars().take(10).collect(),
    }
}

/// Why to call now, in words: the lead's latest action and when
/// (「資料ダウンロード：ERP導入ガイド（3分前）」).
fn why_now(event: &EventRow, now: Millis, locale: &str, zone: &jiff::tz::TimeZone) -> String {
    let kind = hatake_domain::EventKind::parse(&event.kind);
    let label =
        kind.map_or(event.kind.clone(), |k| if locale == "en" { k.label_en() } else { k.label_ja() }.to_owned());
    let properties: serde_json::Value = serde_json::from_str(&event.properties).unwrap_or_default();
    let what = event
        .name
        .clone()
        .or_else(|| properties["title"].as_str().map(str::to_owned))
        .or_else(|| properties["subject"].as_str().map(str::to_owned))
        .or_else(|| properties["asset"].as_str().map(str::to_owned))
        .or_else(|| properties["url"].as_str().map(str::to_owned));
    let when = ago(event.occurred_at, now, locale, zone);
    // A booked meeting names the rep it is with, not a thing the lead looked at.
    if event.kind == "meeting" {
        let rep = properties["rep"].as_str().or(event.name.as_deref()).unwrap_or_default();
        return if locale == "en" {
            format!("Booked a meeting with {rep} ({when})")
        } else {
            format!("{rep}との商談を予約（{when}）")
        };
    }
    match (what, locale == "en") {
        (Some(what), false) => format!("{label}：{what}（{when}）"),
        (Some(what), true) => format!("{label}: {what} ({when})"),
        (None, false) => format!("{label}（{when}）"),
        (None, true) => format!("{label} ({when})"),
    }
}

fn outcome_label(code: &str, outcomes: &[CallOutcome], locale: &str) -> String {
    outcomes.iter().find(|o| o.code == code).map_or_else(|| code.to_owned(), |o| o.label(locale).to_owned())
}

fn kind_label(kind: &str) -> String {
    format!("task.kind.{kind}")
}

#[derive(Deserialize, Default)]
pub struct QueueParams {
    /// `all`: every open call, not only those due today.
    due: Option<String>,
    page: Option<String>,
    /// A call was logged (its id).
    logged: Option<String>,
}

async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<QueueParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let zone = state.zone();
    let now = now_millis();
    let (day_start, today) = today(now, &zone);
    let all = params.due.as_deref() == Some("all");
    let until = if all { Millis::MAX } else { today };
    // The pool is inside sales' (and the admins'); others see the calls given to them.
    let pool = works_pool(user.user.role());
    let mut entries = inside_sales::call_queue(store, user.user.id, pool, until).await.map_err(error)?;
    let total = entries.len();
    let pages = total.div_ceil(PAGE).max(1);
    let page = params.page.as_deref().and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).clamp(1, pages);
    let mut shown: Vec<_> = entries.drain(((page - 1) * PAGE).min(total)..(page * PAGE).min(total)).collect();
    inside_sales::fill_latest(store, &mut shown).await.map_err(error)?;
    let sheet = hatake_engine::hearing::sheet(store).await.map_err(error)?;
    inside_sales::fill_hearing(store, &mut shown, &sheet).await.map_err(error)?;
    let outcomes = inside_sales::outcomes(store).await.map_err(error)?;
    let dictionary = hatake_engine::settings::departments(store).await.map_err(error)?;
    let owner = if pool { TaskOwner::UserAndPool(user.user.id) } else { TaskOwner::User(user.user.id) };
    let (due_today, overdue) = store.count_due_tasks(owner, today, now, day_start).await.map_err(error)?;
    let rows: Vec<minijinja::Value> = shown
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let class = e.task.department_class.as_deref().and_then(|k| dictionary.class(k));
            context! {
                rank => (page - 1) * PAGE + i + 1,
                task => e.task,
                lead_name => e.task.lead_name(),
                score => e.score,
                why => e.latest.as_ref().map(|ev| why_now(ev, now, locale, &zone)),
                department_class => class.map(|c| super::departments::class_label(c, locale)),
                overdue => late(&e.task, now, day_start),
                mine => e.task.owner_id == Some(user.user.id),
                calls => e.calls.as_ref().map(|c| c.calls),
                last_call => e.calls.as_ref().map(|c| context! {
                    outcome => outcome_label(&c.last.outcome, &outcomes, locale),
                    ago => ago(c.last.at, now, locale, &zone),
                }),
                hearing => e.hearing.as_ref().map(|h| {
                    // The first three items still to learn, and how many more.
                    let names: Vec<&str> = h.missing.iter().filter_map(|k| sheet.item(k)).map(|d| d.label(locale)).collect();
                    context! {
                        known => h.known,
                        total => h.total,
                        missing => names.iter().take(3).collect::<Vec<_>>(),
                        more => names.len().saturating_sub(3),
                    }
                }),
            }
        })
        .collect();
    let logged = match params.logged.as_deref().and_then(|id| id.parse::<i64>().ok()) {
        Some(id) => Some(logged_message(store, id, locale, &zone).await.map_err(error)?),
        None => None,
    };
    // The lead just called, one click away (to pass it on, or to read the hearing sheet again).
    let logged_lead = match params.logged.as_deref().and_then(|id| id.parse::<i64>().ok()) {
        Some(id) => store.calls_by_ids(&[id]).await.map_err(error)?.first().map(|c| c.lead_id),
        None => None,
    };
    render(
        &state,
        &user,
        "calls/queue.html",
        "calls",
        context! {
            rows => rows,
            total => total,
            page => page,
            pages => pages,
            all => all,
            due_today => due_today,
            overdue => overdue,
            logged => logged,
            logged_lead => logged_lead,
            pool => pool,
        },
    )
    .await
}

/// 「山田 麻衣：不在を記録しました（再コール 2026-12-09 10:00）」
async fn logged_message(
    store: &dyn hatake_store::Store,
    call_id: i64,
    locale: &'static str,
    zone: &jiff::tz::TimeZone,
) -> Result<String, StoreError> {
    let general = crate::i18n::t(locale, "calls.logged").to_owned();
    let Some(call) = store.calls_by_ids(&[call_id]).await?.into_iter().next() else { return Ok(general) };
    let lead = store.get_lead(call.lead_id).await.map(|l| l.full_name()).unwrap_or_default();
    let outcomes = inside_sales::outcomes(store).await?;
    let outcome = outcome_label(&call.outcome, &outcomes, locale);
    let recall = call.recall_at.map(|at| crate::render::format_time(at, zone));
    Ok(match (locale == "en", recall) {
        (false, Some(at)) => format!("{lead}：{outcome}を記録しました（再コール {at}）"),
        (false, None) => format!("{lead}：{outcome}を記録しました"),
        (true, Some(at)) => format!("{lead}: {outcome} logged (call again {at})"),
        (true, None) => format!("{lead}: {outcome} logged"),
    })
}

#[derive(Deserialize, Default)]
pub struct TaskParams {
    /// `mine` (default), `pool`, `all`.
    owner: Option<String>,
    /// `open` (default), `done`, `cancelled`.
    status: Option<String>,
    kind: Option<String>,
    /// `due_at.id` of the last row of the page before.
    after: Option<String>,
    /// What was done to a task (`done`, `cancelled`, `taken`, `created`) or why not (`gone`).
    done: Option<String>,
}

async fn tasks(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<TaskParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let owner_key = match params.owner.as_deref() {
        Some("pool") => "pool",
        Some("all") => "all",
        _ => "mine",
    };
    let owner = match owner_key {
        "pool" => TaskOwner::Pool,
        "all" => TaskOwner::Anyone,
        _ => TaskOwner::User(user.user.id),
    };
    let status = ["done", "cancelled"].into_iter().find(|s| params.status.as_deref() == Some(*s)).unwrap_or("open");
    let kind = params.kind.clone().filter(|k| TASK_KINDS.contains(&k.as_str()));
    let after = params.after.as_deref().and_then(|a| {
        let (due, id) = a.split_once('.')?;
        Some((due.parse().ok()?, id.parse().ok()?))
    });
    let query = TaskQuery {
        owner,
        status: Some(status.to_owned()),
        kind: kind.clone(),
        lead_id: None,
        due_until: None,
        after,
        limit: i64::try_from(PAGE + 1).unwrap_or(51),
    };
    let mut rows = store.tasks(&query).await.map_err(error)?;
    let more = rows.len() > PAGE;
    rows.truncate(PAGE);
    let now = now_millis();
    let next = rows.last().filter(|_| more).map(|last| {
        let mut link = format!("/tasks?owner={owner_key}&status={status}&after={}.{}", last.due_at, last.id);
        if let Some(kind) = &kind {
            link.push_str(&format!("&kind={kind}"));
        }
        link
    });
    let (day_start, _) = today(now, &state.zone());
    let rows: Vec<minijinja::Value> = rows.iter().map(|t| task_view(t, now, day_start, &user)).collect();
    let flash = params.done.as_deref().and_then(|d| match d {
        "done" | "cancelled" | "taken" | "created" => Some(format!("task.flash.{d}")),
        _ => None,
    });
    let gone = params.done.as_deref() == Some("gone");
    render(
        &state,
        &user,
        "calls/tasks.html",
        "calls",
        context! {
            rows => rows,
            owner => owner_key,
            status => status,
            kind => kind,
            kinds => TASK_KINDS,
            next => next,
            first_page => after.is_none(),
            flash => flash,
            gone => gone,
        },
    )
    .await
}

fn task_view(task: &TaskRow, now: Millis, day_start: Millis, user: &CurrentUser) -> minijinja::Value {
    context! {
        task => task,
        lead_name => task.lead_name(),
        kind_label => kind_label(&task.kind),
        cause_label => format!("task.cause.{}", match task.cause.as_str() {
            "rule:mql" => "mql",
            "rule:reapproach" => "reapproach",
            other => other.split(':').next().unwrap_or("person"),
        }),
        overdue => late(task, now, day_start),
        mine => task.owner_id == Some(user.user.id),
        pool => task.owner_id.is_none(),
        can_act => task.owner_id == Some(user.user.id)
            || user.user.role() == Role::Admin
            || (task.owner_id.is_none() && works_pool(user.user.role())),
    }
}

/// Done, cancelled or taken from the pool.
async fn task_action(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = form.user.locale();
    let store = state.store.as_ref();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let task = match store.get_task(id).await {
        Ok(task) => task,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let back = form
        .data
        .iter()
        .find(|(k, _)| k == "back")
        .map(|(_, v)| v.as_str())
        .filter(|b| b.starts_with("/tasks") || b.starts_with("/leads/") || b.starts_with("/calls"))
        .unwrap_or("/tasks");
    let me = form.user.user.id;
    // A task is its owner's: inside sales take one from the pool; admins may close any.
    let role = form.user.user.role();
    let admin = role == Role::Admin;
    let allowed = match task.owner_id {
        Some(owner) => owner == me || admin,
        None => works_pool(role),
    };
    if !allowed {
        return PageError::forbidden(locale).into_response();
    }
    let now = now_millis();
    let done = match action.as_str() {
        "done" => store.close_task(id, "done", Some(me), now).await,
        "cancel" => store.close_task(id, "cancelled", Some(me), now).await,
        "take" if task.owner_id.is_none() => store.reassign_task(id, Some(me), task.due_at, now).await,
        _ => return PageError::not_found(locale).into_response(),
    };
    let word = match action.as_str() {
        "done" => "done",
        "cancel" => "cancelled",
        _ => "taken",
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    match done {
        Ok(true) => Redirect::to(&format!("{back}{sep}done={word}")).into_response(),
        Ok(false) => Redirect::to(&format!("{back}{sep}done=gone")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// The call panel of a lead's page: the form (outcome codes by KPI bucket, what comes next, a
/// time to call again — tomorrow 10:00 unless changed), the lead's open tasks and recent calls.
pub(crate) async fn call_panel(
    state: &AppState,
    user: &CurrentUser,
    lead_id: i64,
    task: Option<i64>,
    form: Option<(&CallForm, &FieldErrors)>,
) -> Result<minijinja::Value, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let zone = state.zone();
    let now = now_millis();
    let outcomes = inside_sales::outcomes(store).await.map_err(error)?;
    let open =
        store.tasks(&TaskQuery { lead_id: Some(lead_id), limit: 20, ..TaskQuery::default() }).await.map_err(error)?;
    let calls = store.lead_calls(lead_id, 10).await.map_err(error)?;
    // The task the call is for: the one asked for, else the lead's first open call.
    let task = task.filter(|id| open.iter().any(|t| t.id == *id)).or_else(|| {
        open.iter()
            .find(|t| t.kind == "call" && (t.owner_id == Some(user.user.id) || t.owner_id.is_none()))
            .map(|t| t.id)
    });
    let tomorrow = jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|ts| {
            let day = ts.to_zoned(zone.clone()).date().tomorrow().ok()?;
            day.at(10, 0, 0, 0).to_zoned(zone.clone()).ok()
        })
        .map(|z| z.strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default();
    let buckets: Vec<minijinja::Value> = inside_sales::BUCKETS
        .iter()
        .map(|bucket| {
            let codes: Vec<minijinja::Value> = outcomes
                .iter()
                .filter(|o| o.active && o.bucket == *bucket)
                .map(|o| context! { code => o.code, label => o.label(locale) })
                .collect();
            context! { key => bucket, label => format!("calls.bucket.{bucket}"), codes => codes }
        })
        .collect();
    let call_rows: Vec<minijinja::Value> = calls
        .iter()
        .map(|c| {
            context! {
                call => c,
                outcome => outcome_label(&c.outcome, &outcomes, locale),
                bucket => format!("calls.bucket.{}", c.bucket),
                result => c.result.as_ref().map(|r| format!("calls.result.{r}")),
            }
        })
        .collect();
    let (day_start, _) = today(now, &zone);
    let task_rows: Vec<minijinja::Value> = open.iter().map(|t| task_view(t, now, day_start, user)).collect();
    let (typed, errors) = match form {
        Some((typed, errors)) => (Some(typed), super::field_errors(errors, locale)),
        None => (None, std::collections::BTreeMap::new()),
    };
    Ok(context! {
        buckets => buckets,
        results => inside_sales::RESULTS.iter().map(|r| context! { key => r, label => format!("calls.result.{r}") }).collect::<Vec<_>>(),
        tomorrow => tomorrow,
        task => task,
        tasks => task_rows,
        calls => call_rows,
        form => typed,
        errors => errors,
        kinds => TASK_KINDS,
        lead_id => lead_id,
    })
}

/// The call panel's form as typed.
#[derive(Deserialize, Default, serde::Serialize, Clone, Debug)]
pub struct CallForm {
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    recall_at: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    task_id: String,
    #[serde(default)]
    product_id: String,
    /// `queue`: back to the call queue once logged.
    #[serde(default)]
    back: String,
    /// The hearing items (`hearing.KEY`) and anything else posted.
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

/// A `datetime-local` value in the organisation's zone.
fn local_time(text: &str, zone: &jiff::tz::TimeZone) -> Option<Millis> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp().as_millisecond())
}

async fn log_call(State(state): State<AppState>, Path(id): Path<String>, form: PageForm<CallForm>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(lead_id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let typed = form.data;
    let zone = state.zone();
    let recall_at = local_time(&typed.recall_at, &zone);
    let pairs: Vec<(String, String)> = typed.rest.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let hearing_typed = super::hearing::typed_values(&pairs);
    let mut early = Vec::new();
    if !typed.recall_at.trim().is_empty() && recall_at.is_none() && typed.result == "recall" {
        early.push(hatake_domain::FieldError::new(
            "recall_at",
            "invalid_time",
            format!("日時の形式が正しくありません（入力: {}）。", typed.recall_at),
            format!("The time is not understood (got {}).", typed.recall_at),
        ));
    }
    let input = CallInput {
        lead_id,
        product_id: typed.product_id.parse().ok(),
        outcome: typed.outcome.clone(),
        result: Some(typed.result.clone()).filter(|r| !r.is_empty()),
        recall_at,
        note: Some(typed.note.clone()),
        task_id: typed.task_id.parse().ok(),
        hearing: hearing_typed.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    let result = if early.is_empty() {
        inside_sales::log_call(state.store.as_ref(), &input, Some(user.user.id), now_millis()).await
    } else {
        Err(SaveError::Invalid(FieldErrors(early)))
    };
    match result {
        Ok(logged) if typed.back == "queue" => {
            Redirect::to(&format!("/calls?logged={}", logged.call_id)).into_response()
        }
        Ok(logged) => {
            Redirect::to(&format!("/leads/{lead_id}?called={}&heard={}#call", logged.call_id, logged.learned.len()))
                .into_response()
        }
        Err(SaveError::Invalid(errors)) => {
            let extra = super::leads::DetailExtra {
                call: Some((&typed, &errors)),
                hearing: Some((&hearing_typed, &errors)),
                ..Default::default()
            };
            lead_page_again(&state, &user, lead_id, extra).await
        }
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

/// The lead's page again (422) with a form sent back with its mistakes.
pub(crate) async fn lead_page_again(
    state: &AppState,
    user: &CurrentUser,
    lead_id: i64,
    extra: super::leads::DetailExtra<'_>,
) -> Response {
    let flash = super::leads::Flash::default();
    let events = super::timeline::TimelineParams::default();
    match super::leads::detail_page(state, user, lead_id, &flash, &events, extra).await {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}

/// A new task from a lead's page.
#[derive(Deserialize, Default, Debug, serde::Serialize, Clone)]
pub struct TaskForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    due_at: String,
    #[serde(default)]
    priority: String,
    /// `me` or `pool`.
    #[serde(default)]
    owner: String,
    #[serde(default)]
    note: String,
}

async fn new_task(State(state): State<AppState>, Path(id): Path<String>, form: PageForm<TaskForm>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let Ok(lead_id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let typed = form.data;
    let zone = state.zone();
    let input = TaskInput {
        kind: typed.kind.clone(),
        lead_id,
        product_id: None,
        owner_id: if typed.owner == "pool" { None } else { Some(user.user.id) },
        title: typed.title.clone(),
        note: Some(typed.note.clone()),
        due_at: local_time(&typed.due_at, &zone),
        priority: typed.priority.parse().unwrap_or(2),
    };
    match inside_sales::create_task(state.store.as_ref(), &input, Some(user.user.id), now_millis()).await {
        Ok(_) => Redirect::to(&format!("/leads/{lead_id}?task_saved=1#call")).into_response(),
        Err(SaveError::Invalid(errors)) => {
            // Each mistake in words at the top of the panel; what was typed is kept in the URL-less
            // form below (the panel shows the lead's page again).
            let message = errors.0.iter().map(|e| e.message(locale).to_owned()).collect::<Vec<_>>().join(" ");
            let extra =
                super::leads::DetailExtra { task_error: Some(message), task_form: Some(&typed), ..Default::default() };
            lead_page_again(&state, &user, lead_id, extra).await
        }
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

async fn settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<SettingsParams>,
) -> Result<Html<String>, PageError> {
    let outcomes =
        inside_sales::outcomes(state.store.as_ref()).await.map_err(|e| PageError::from_store(e, user.locale()))?;
    settings_page(&state, &user, &outcomes, &FieldErrors::default(), params.saved.is_some()).await
}

#[derive(Deserialize, Default)]
pub struct SettingsParams {
    saved: Option<String>,
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    outcomes: &[CallOutcome],
    errors: &FieldErrors,
    saved: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    render(
        state,
        user,
        "settings/calls.html",
        "settings",
        context! {
            outcomes => outcomes,
            buckets => inside_sales::BUCKETS.iter().map(|b| context! { key => b, label => format!("calls.bucket.{b}") }).collect::<Vec<_>>(),
            errors => super::field_errors(errors, locale),
            messages => errors.0.iter().map(|e| e.message(locale).to_owned()).collect::<Vec<_>>(),
            saved => saved,
        },
    )
    .await
}

/// The outcome codes as posted: `code`, `label_ja`, `label_en`, `bucket` and `active` of each row
/// in order (`active` only for ticked rows, named by their index), the last row blank unless a
/// code is added.
async fn save_settings(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let mut rows: Vec<CallOutcome> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    for (key, value) in &form.data {
        let value = value.trim().to_owned();
        match key.as_str() {
            "code" => rows.push(CallOutcome {
                code: value,
                label_ja: String::new(),
                label_en: String::new(),
                bucket: String::new(),
                active: false,
            }),
            "label_ja" => {
                if let Some(row) = rows.last_mut() {
                    row.label_ja = value;
                }
            }
            "label_en" => {
                if let Some(row) = rows.last_mut() {
                    row.label_en = value;
                }
            }
            "bucket" => {
                if let Some(row) = rows.last_mut() {
                    row.bucket = value;
                }
            }
            "active" => {
                if let Ok(i) = value.parse() {
                    active.push(i);
                }
            }
            _ => {}
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.active = active.contains(&i);
    }
    // The blank row for a new outcome is left out unless something was typed in it; a new one
    // gets a code of its own (people only name outcomes).
    rows.retain(|r| !(r.code.is_empty() && r.label_ja.is_empty() && r.label_en.is_empty()));
    let mut n = 1;
    for i in 0..rows.len() {
        if rows[i].code.is_empty() {
            while rows.iter().any(|r| r.code == format!("custom_{n}")) {
                n += 1;
            }
            rows[i].code = format!("custom_{n}");
        }
    }
    match inside_sales::save_outcomes(state.store.as_ref(), &rows, now_millis()).await {
        Ok(()) => Redirect::to("/settings/calls?saved=1").into_response(),
        Err(SaveError::Invalid(errors)) => match settings_page(&state, &user, &rows, &errors, false).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        },
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

/// Who works inside sales' pool of calls.
pub(crate) fn works_pool(role: Role) -> bool {
    matches!(role, Role::InsideSales | Role::Admin)
}

/// Where a user lands: inside sales on their call queue.
pub(crate) fn lands_on_queue(role: Role) -> bool {
    role == Role::InsideSales
}

#[derive(Deserialize, Default)]
pub struct KpiParams {
    /// `week` (default) or `month`.
    period: Option<String>,
    /// `utf-8-bom` (default) or `cp932`, for the CSV.
    encoding: Option<String>,
}

/// The periods shown: the last 12 weeks, or the last 12 months.
fn kpi_range(params: &KpiParams, now: Millis, zone: &jiff::tz::TimeZone) -> (inside_sales::Period, Millis) {
    let period = if params.period.as_deref() == Some("month") {
        inside_sales::Period::Month
    } else {
        inside_sales::Period::Week
    };
    let first = inside_sales::period_of(now, period, zone).and_then(|start| {
        let back = match period {
            inside_sales::Period::Week => jiff::Span::new().weeks(11),
            inside_sales::Period::Month => jiff::Span::new().months(11),
        };
        start.checked_sub(back).ok()?.to_zoned(zone.clone()).ok().map(|z| z.timestamp().as_millisecond())
    });
    (period, first.unwrap_or(now - 84 * 86_400_000))
}

fn period_label(start: jiff::civil::Date, period: inside_sales::Period, locale: &str) -> String {
    match (period, locale == "en") {
        (inside_sales::Period::Week, false) => format!("{}週", start.strftime("%Y-%m-%d")),
        (inside_sales::Period::Week, true) => format!("Week of {}", start.strftime("%Y-%m-%d")),
        (inside_sales::Period::Month, false) => start.strftime("%Y年%-m月").to_string(),
        (inside_sales::Period::Month, true) => start.strftime("%Y-%m").to_string(),
    }
}

fn kpi_view(kpi: &inside_sales::Kpi) -> minijinja::Value {
    context! {
        k => kpi,
        connect_rate => kpi.connect_rate(),
        contact_rate => kpi.contact_rate(),
        opportunity_rate => kpi.opportunity_rate(),
        valid_rate => kpi.valid_rate(),
    }
}

/// The most calls a KPI page reads (a year of a large team).
const KPI_CALLS: i64 = 500_000;

async fn kpi(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<KpiParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let zone = state.zone();
    let now = now_millis();
    let (period, from) = kpi_range(&params, now, &zone);
    let calls = store.calls_between(from, now + 1, KPI_CALLS).await.map_err(|e| PageError::from_store(e, locale))?;
    let tossups =
        store.tossups_between(from, now + 1, KPI_CALLS).await.map_err(|e| PageError::from_store(e, locale))?;
    let inside_sales::Kpis { periods, reps, all } = inside_sales::kpis(&calls, &tossups, period, &zone);
    // Bars: calls, connects and contacts of each period, scaled to the busiest.
    let top = periods.iter().map(|(_, k)| k.calls).max().unwrap_or(0).max(1);
    let height = |n: i64| n * 120 / top;
    let bars: Vec<minijinja::Value> = periods
        .iter()
        .enumerate()
        .map(|(i, (start, k))| {
            context! {
                x => 40 + i * 54,
                label => period_label(*start, period, locale),
                short => start.strftime("%m/%d").to_string(),
                calls => k.calls, connects => k.connects, contacts => k.contacts,
                calls_h => height(k.calls), connects_h => height(k.connects), contacts_h => height(k.contacts),
            }
        })
        .collect();
    let rows: Vec<minijinja::Value> = periods
        .iter()
        .rev()
        .map(|(start, k)| context! { label => period_label(*start, period, locale), kpi => kpi_view(k) })
        .collect();
    let reps: Vec<minijinja::Value> =
        reps.iter().map(|r| context! { name => r.name, kpi => kpi_view(&r.kpi) }).collect();
    render(
        &state,
        &user,
        "calls/kpi.html",
        "calls",
        context! {
            period => if period == inside_sales::Period::Month { "month" } else { "week" },
            bars => bars,
            width => 60 + periods.len() * 54,
            rows => rows,
            reps => reps,
            all => kpi_view(&all),
            truncated => calls.len() as i64 >= KPI_CALLS,
        },
    )
    .await
}

async fn kpi_csv(State(state): State<AppState>, user: CurrentUser, Query(params): Query<KpiParams>) -> Response {
    let locale = user.locale();
    let encoding = match hatake_csv::ExportEncoding::parse(params.encoding.as_deref().unwrap_or("utf-8-bom")) {
        Ok(encoding) => encoding,
        Err(error) => return (StatusCode::BAD_REQUEST, error.message(locale).to_owned()).into_response(),
    };
    let zone = state.zone();
    let now = now_millis();
    let (period, from) = kpi_range(&params, now, &zone);
    let calls = match state.store.calls_between(from, now + 1, KPI_CALLS).await {
        Ok(calls) => calls,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let tossups = match state.store.tossups_between(from, now + 1, KPI_CALLS).await {
        Ok(tossups) => tossups,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let inside_sales::Kpis { periods, reps, .. } = inside_sales::kpis(&calls, &tossups, period, &zone);
    let headers = [
        "期間",
        "担当者",
        "コール数",
        "コネクト数",
        "コンタクト数",
        "ナーチャリング継続",
        "商談化",
        "対象外",
        "架電リード数",
        "トスアップ数",
        "有効商談数",
    ];
    let mut csv = hatake_csv::CsvWriter::new(&headers, encoding);
    let line = |who: &str, label: &str, k: &inside_sales::Kpi| {
        vec![
            label.to_owned(),
            who.to_owned(),
            k.calls.to_string(),
            k.connects.to_string(),
            k.contacts.to_string(),
            k.nurture.to_string(),
            k.opportunities.to_string(),
            k.not_target.to_string(),
            k.leads.to_string(),
            k.passed.to_string(),
            k.valid.to_string(),
        ]
    };
    for (start, k) in &periods {
        csv.write_row(line("全員", &period_label(*start, period, "ja"), k));
    }
    for rep in &reps {
        csv.write_row(line(rep.name.as_deref().unwrap_or("（削除されたユーザー）"), "期間計", &rep.kpi));
    }
    let bytes = csv.take_bytes();
    let charset = if encoding == hatake_csv::ExportEncoding::Cp932 { "Shift_JIS" } else { "utf-8" };
    (
        [
            (axum::http::header::CONTENT_TYPE, format!("text/csv; charset={charset}")),
            (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"inside-sales-kpi.csv\"".to_owned()),
        ],
        bytes,
    )
        .into_response()
}
