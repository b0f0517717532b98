//! Alerts in the browser: the live feed every page listens to (server-sent events: an alert
//! shows within a second of being made, no reload), the list of alerts (unread first to act on,
//! paged, marked read), and the rules' settings (each rule's trigger in a row, the pool's mail
//! address, the webhook secret).

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::alerts::{AlertConfig, AlertRule, Trigger};
use hatake_domain::{EventKind, FieldError, FieldErrors, Role};
use hatake_engine::inside_sales::SaveError;
use hatake_store::{AlertFor, AlertQuery, AlertRow, StoreError};
use minijinja::context;
use serde::Deserialize;
use std::collections::VecDeque;
use std::time::Duration;

const PAGE: i64 = 50;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/alerts", Access::SignedIn, get(list)),
        route("GET", "/alerts/stream", Access::SignedIn, get(stream)),
        route("POST", "/alerts/read", Access::SignedIn, post(read_all)),
        route("GET", "/alerts/{id}/open", Access::SignedIn, get(open)),
        route("GET", "/settings/alerts", Access::Configure, get(settings)),
        route("POST", "/settings/alerts", Access::Configure, post(save_settings)),
    ]
}

/// Whose alerts a person gets: inside sales and admins theirs and the pool's; the others theirs.
pub(crate) fn owner_of(user: &CurrentUser) -> AlertFor {
    match user.user.role() {
        Role::InsideSales | Role::Admin => AlertFor::UserAndPool(user.user.id),
        _ => AlertFor::User(user.user.id),
    }
}

fn alert_json(alert: &AlertRow) -> String {
    serde_json::json!({
        "id": alert.id,
        "title": alert.title,
        "detail": alert.detail,
        "lead": alert.lead_id,
        "url": format!("/alerts/{}/open", alert.id),
    })
    .to_string()
}

#[derive(Deserialize, Default)]
pub struct StreamParams {
    /// The newest alert the page already knows of.
    after: Option<i64>,
}

/// `GET /alerts/stream`: server-sent events, one `alert` event per new alert for this person
/// (their own and, for inside sales, the pool's). Woken as alerts are made; every second it
/// also looks (alerts made by another process); a comment every 15 s keeps proxies open.
async fn stream(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: axum::http::HeaderMap,
    Query(params): Query<StreamParams>,
) -> Response {
    let owner = owner_of(&user);
    // A browser reconnecting says what it saw last.
    let last_seen = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
    let params = StreamParams { after: last_seen.or(params.after) };
    let store = state.store.clone();
    let signal = state.runtime.context().signals.get(hatake_engine::runtime::ALERTS_MADE);
    let after = match params.after {
        Some(after) => after,
        None => match store.max_alert_id().await {
            Ok(id) => id,
            Err(error) => return PageError::from_store(error, user.locale()).into_response(),
        },
    };
    let start = (store, signal, after, VecDeque::<AlertRow>::new());
    let events = futures_util::stream::unfold(start, move |(store, signal, mut after, mut ready)| async move {
        loop {
            if let Some(alert) = ready.pop_front() {
                let event = Event::default().id(alert.id.to_string()).event("alert").data(alert_json(&alert));
                return Some((Ok::<Event, std::convert::Infallible>(event), (store, signal, after, ready)));
            }
            let woken = signal.notified();
            let query = AlertQuery { owner, unread_only: false, before: None, after: Some(after), limit: 20 };
            match store.alerts(&query).await {
                Ok(found) if !found.is_empty() => {
                    after = found.last().map_or(after, |a| a.id);
                    ready.extend(found);
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the alert feed could not read"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), woken).await;
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    before: Option<String>,
    unread: Option<String>,
    scope: Option<String>,
    read: Option<String>,
}

fn manages(user: &CurrentUser) -> bool {
    matches!(user.user.role(), Role::Admin | Role::Marketer)
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let all = manages(&user) && params.scope.as_deref() == Some("all");
    let owner = if all { AlertFor::Anyone } else { owner_of(&user) };
    let unread_only = params.unread.is_some();
    let before = params.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows =
        store.alerts(&AlertQuery { owner, unread_only, before, after: None, limit: PAGE + 1 }).await.map_err(error)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let unread = store.count_unread_alerts(owner).await.map_err(error)?;
    let config = hatake_engine::alerts::config(store).await.map_err(error)?;
    let views: Vec<minijinja::Value> = rows
        .iter()
        .map(|a| {
            let rule = config.rules.iter().find(|r| r.id == a.rule_id);
            context! { a => a, lead_name => a.lead_name(), rule => rule.map(|r| r.describe(locale)) }
        })
        .collect();
    let query = |extra: &str| {
        let mut parts = Vec::new();
        if unread_only {
            parts.push("unread=1".to_owned());
        }
        if all {
            parts.push("scope=all".to_owned());
        }
        if !extra.is_empty() {
            parts.push(extra.to_owned());
        }
        parts.join("&")
    };
    let next = if more { rows.last().map(|a| format!("/alerts?{}", query(&format!("before={}", a.id)))) } else { None };
    render(
        &state,
        &user,
        "alerts/list.html",
        "calls",
        context! {
            rows => views, unread => unread, unread_only => unread_only, all => all, manages => manages(&user),
            next => next, first => format!("/alerts?{}", query("")), first_page => before.is_none(),
            newest => rows.first().map(|a| a.id), read => params.read.as_deref().and_then(|r| r.parse::<u64>().ok()),
            rules => config.rules.len(),
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct ReadForm {
    #[serde(default)]
    up_to: String,
}

async fn read_all(State(state): State<AppState>, form: PageForm<ReadForm>) -> Response {
    let user = form.user;
    let owner = owner_of(&user);
    let up_to = form.data.up_to.parse::<i64>().ok();
    match state.store.mark_alerts_read(owner, &[], up_to.or(Some(i64::MAX)), now_millis()).await {
        Ok(changed) => Redirect::to(&format!("/alerts?read={changed}")).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}

/// `GET /alerts/{id}/open`: marks the alert read and opens its lead at the call panel.
async fn open(State(state): State<AppState>, user: CurrentUser, Path(id): Path<String>) -> Response {
    let locale = user.locale();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let store = state.store.as_ref();
    let found = store
        .alerts(&AlertQuery {
            owner: AlertFor::Anyone,
            unread_only: false,
            before: Some(id + 1),
            after: None,
            limit: 1,
        })
        .await;
    let alert = match found {
        Ok(rows) => match rows.into_iter().find(|a| a.id == id) {
            Some(alert) => alert,
            None => return PageError::not_found(locale).into_response(),
        },
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if let Err(error) = store.mark_alerts_read(owner_of(&user), &[id], None, now_millis()).await {
        return PageError::from_store(error, locale).into_response();
    }
    Redirect::to(&format!("/leads/{}#call", alert.lead_id)).into_response()
}

/// One rule as the settings form holds it (text, checked on saving).
#[derive(Debug, Clone, Default, serde::Serialize)]
struct RuleRow {
    id: String,
    name: String,
    product: String,
    trigger: String,
    kind: String,
    url_contains: String,
    name_contains: String,
    tracked_link: bool,
    count: String,
    within_hours: String,
    threshold: String,
    window_hours: String,
    mail: bool,
    webhook_url: String,
    active: bool,
    delete: bool,
}

fn row_of(rule: &AlertRule) -> RuleRow {
    let mut row = RuleRow {
        id: rule.id.clone(),
        name: rule.name.clone(),
        product: rule.product_id.map(|p| p.to_string()).unwrap_or_default(),
        window_hours: rule.window_hours.to_string(),
        mail: rule.mail,
        webhook_url: rule.webhook_url.clone().unwrap_or_default(),
        active: rule.active,
        count: "1".into(),
        within_hours: "168".into(),
        ..RuleRow::default()
    };
    match &rule.trigger {
        Trigger::Event { kind, url_contains, name_contains, tracked_link, count, within_hours } => {
            row.trigger = "event".into();
            row.kind = kind.clone();
            row.url_contains = url_contains.join(" ");
            row.name_contains = name_contains.clone().unwrap_or_default();
            row.tracked_link = *tracked_link;
            row.count = count.to_string();
            row.within_hours = within_hours.to_string();
        }
        Trigger::Score { threshold } => {
            row.trigger = "score".into();
            row.threshold = threshold.to_string();
        }
    }
    row
}

fn rows_posted(pairs: &[(String, String)]) -> Vec<RuleRow> {
    let one = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let count = pairs.iter().filter(|(k, _)| k == "rule").count();
    (0..count)
        .map(|i| {
            let field = |name: &str| one(&format!("rule.{i}.{name}"));
            RuleRow {
                id: field("id"),
                name: field("name"),
                product: field("product"),
                trigger: field("trigger"),
                kind: field("kind"),
                url_contains: field("url_contains"),
                name_contains: field("name_contains"),
                tracked_link: !field("tracked_link").is_empty(),
                count: field("count"),
                within_hours: field("within_hours"),
                threshold: field("threshold"),
                window_hours: field("window_hours"),
                mail: !field("mail").is_empty(),
                webhook_url: field("webhook_url"),
                active: !field("active").is_empty(),
                delete: !field("delete").is_empty(),
            }
        })
        .collect()
}

/// The configuration the rows say (a blank new row is left out), or what is wrong.
fn parse_rows(rows: &[RuleRow], pool_mail: &str, secret: &str) -> Result<AlertConfig, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut config = AlertConfig {
        rules: Vec::new(),
        pool_mail: Some(hatake_domain::text::nfkc_trim(pool_mail)).filter(|m| !m.is_empty()),
        webhook_secret: secret.to_owned(),
    };
    for row in rows {
        if row.delete || (row.id.is_empty() && row.name.trim().is_empty()) {
            continue;
        }
        let number = |text: &str, what_ja: &str, what_en: &str, errors: &mut FieldErrors| -> u32 {
            let text = hatake_domain::text::nfkc_trim(text).replace(',', "");
            text.parse::<u32>().unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "rules",
                    "invalid_number",
                    format!("アラート「{}」の{what_ja}「{text}」は整数で入力してください。", row.name),
                    format!("The alert \"{}\": {what_en} \"{text}\" must be a whole number.", row.name),
                ));
                0
            })
        };
        let trigger = if row.trigger == "score" {
            Trigger::Score { threshold: i64::from(number(&row.threshold, "スコア", "the score", &mut errors)) }
        } else {
            Trigger::Event {
                kind: row.kind.clone(),
                url_contains: row.url_contains.split_whitespace().map(str::to_owned).collect(),
                name_contains: Some(row.name_contains.trim().to_owned()).filter(|n| !n.is_empty()),
                tracked_link: row.tracked_link,
                count: number(&row.count, "回数", "the count", &mut errors),
                within_hours: number(&row.within_hours, "期間", "the hours", &mut errors),
            }
        };
        let id = if row.id.is_empty() { config.next_id() } else { row.id.clone() };
        config.rules.push(AlertRule {
            id,
            name: hatake_domain::text::nfkc_trim(&row.name),
            product_id: row.product.parse().ok(),
            trigger,
            window_hours: number(&row.window_hours, "重複抑止期間", "the repeat window", &mut errors),
            mail: row.mail,
            webhook_url: Some(row.webhook_url.trim().to_owned()).filter(|u| !u.is_empty()),
            active: row.active,
        });
    }
    errors.into_result(|| config)
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
    let config = hatake_engine::alerts::config(state.store.as_ref())
        .await
        .map_err(|e| PageError::from_store(e, user.locale()))?;
    let rows: Vec<RuleRow> = config.rules.iter().map(row_of).collect();
    let pool_mail = config.pool_mail.clone().unwrap_or_default();
    settings_page(&state, &user, rows, &pool_mail, &config.webhook_secret, None, params.saved.is_some()).await
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    mut rows: Vec<RuleRow>,
    pool_mail: &str,
    secret: &str,
    errors: Option<&FieldErrors>,
    saved: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let products: Vec<minijinja::Value> = state
        .store
        .list_products()
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .iter()
        .map(|p| context! { id => p.id.to_string(), name => p.name })
        .collect();
    rows.push(RuleRow {
        trigger: "event".into(),
        kind: "page_view".into(),
        count: "1".into(),
        within_hours: "168".into(),
        window_hours: "24".into(),
        active: true,
        mail: true,
        ..RuleRow::default()
    });
    let kinds: Vec<(&str, &str)> =
        EventKind::ALL.iter().map(|k| (k.as_str(), if locale == "en" { k.label_en() } else { k.label_ja() })).collect();
    let messages: Vec<String> =
        errors.map(|e| e.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "settings/alerts.html",
        "settings",
        context! { rows => rows, products => products, kinds => kinds, pool_mail => pool_mail, secret => secret,
        messages => messages, saved => saved },
    )
    .await
}

async fn save_settings(State(state): State<AppState>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = form.user;
    let locale = user.locale();
    let store = state.store.as_ref();
    let current = match hatake_engine::alerts::config(store).await {
        Ok(config) => config,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let one = |key: &str| form.data.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
    let secret = if one("new_secret").is_empty() { current.webhook_secret.clone() } else { String::new() };
    let rows = rows_posted(&form.data);
    let outcome = match parse_rows(&rows, &one("pool_mail"), &secret) {
        Ok(config) => hatake_engine::alerts::save_config(store, &config, now_millis()).await.map(|_| ()),
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match outcome {
        Ok(()) => Redirect::to("/settings/alerts?saved=1").into_response(),
        Err(SaveError::Invalid(errors)) => {
            match settings_page(&state, &user, rows, &one("pool_mail"), &current.webhook_secret, Some(&errors), false)
                .await
            {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}
