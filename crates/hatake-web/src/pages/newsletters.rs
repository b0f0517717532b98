//! Newsletters (メルマガ, admins and marketers): the list with each send's figures, paged; a new
//! send (template, segment, an optional A/B test, a pace) with the number it would reach, saved
//! as a draft, sent now or at a time; a send's page with its progress, figures per variant next
//! to the previous sends, clicks per link and a warning as complaints near 0.3%; cancelling; the
//! frequency cap; and the suppression list.

use super::{origin, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_engine::mail::newsletter::{frequency_cap, FrequencyCap, NEWSLETTERS_DUE, SETTING_FREQUENCY_CAP};
use hatake_store::{NewsletterDraft, NewsletterRow, TemplateQuery, VariantStats};
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/mail/newsletters", Access::Configure, get(list)),
        route("POST", "/mail/newsletters/cap", Access::Configure, post(save_cap)),
        route("GET", "/mail/newsletters/new", Access::Configure, get(new)),
        route("POST", "/mail/newsletters", Access::Configure, post(create)),
        route("POST", "/mail/newsletters/estimate", Access::Configure, post(estimate)),
        route("GET", "/mail/newsletters/{id}", Access::Configure, get(show)),
        route("POST", "/mail/newsletters/{id}", Access::Configure, post(update)),
        route("POST", "/mail/newsletters/{id}/cancel", Access::Configure, post(cancel)),
        route("GET", "/mail/suppressions", Access::Configure, get(suppressions)),
        route("POST", "/mail/suppressions", Access::Configure, post(add_suppressions)),
        route("POST", "/mail/suppressions/remove", Access::Configure, post(remove_suppression)),
    ]
}

const PAGE: i64 = 30;
/// The complaint rate mailbox providers hold senders to.
const COMPLAINT_LIMIT: f64 = 0.003;

/// A send's figures as the pages show them: counts and rates.
#[derive(Debug, Clone, Default, Serialize)]
struct Figures {
    stats: VariantStats,
    delivered: i64,
    open_rate: Option<f64>,
    click_rate: Option<f64>,
    bounce_rate: Option<f64>,
    complaint_rate: Option<f64>,
    unsubscribe_rate: Option<f64>,
    /// The complaint rate is at or past half the limit.
    complaint_warning: bool,
    complaint_over: bool,
}

fn figures(stats: VariantStats) -> Figures {
    let base = stats.delivered().max(0);
    let rate = |n: i64, of: i64| (of > 0).then(|| n as f64 / of as f64);
    let complaint_rate = rate(stats.complained, base);
    Figures {
        delivered: stats.delivered(),
        open_rate: rate(stats.opened, base),
        click_rate: rate(stats.clicked, base),
        bounce_rate: rate(stats.hard_bounces + stats.soft_bounces, stats.sent),
        unsubscribe_rate: rate(stats.unsubscribed, base),
        complaint_warning: complaint_rate.is_some_and(|r| r >= COMPLAINT_LIMIT / 2.0),
        complaint_over: complaint_rate.is_some_and(|r| r >= COMPLAINT_LIMIT),
        complaint_rate,
        stats,
    }
}

fn total(stats: &[VariantStats]) -> VariantStats {
    let mut all = VariantStats { variant: "all".into(), ..VariantStats::default() };
    for s in stats {
        all.add(s);
    }
    all
}

fn status_label(status: &str, locale: &str) -> String {
    crate::i18n::t(locale, &format!("newsletter.status.{status}")).to_owned()
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    page: Option<String>,
    cap_saved: Option<String>,
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
    cap_error: Option<&str>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e| PageError::from_store(e, locale);
    let page = params.page.as_deref().and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let (rows, total_count) = store.newsletters((page - 1) * PAGE, PAGE).await.map_err(error)?;
    let mut views = Vec::with_capacity(rows.len());
    for row in &rows {
        let stats = store.newsletter_stats(row.id).await.map_err(error)?;
        views.push(context! { row => row, status => status_label(&row.status, locale), f => figures(total(&stats)) });
    }
    let cap = frequency_cap(store).await.map_err(error)?;
    render(
        state,
        user,
        "mail/newsletters.html",
        "mail",
        context! {
            rows => views, total => total_count, page => page, pages => (total_count + PAGE - 1) / PAGE,
            cap => cap, cap_saved => params.cap_saved.is_some(), cap_error => cap_error,
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct CapForm {
    #[serde(default)]
    max: String,
    #[serde(default)]
    days: String,
}

async fn save_cap(State(state): State<AppState>, PageForm { user, data }: PageForm<CapForm>) -> Response {
    let locale = user.locale();
    let (max, days) = (data.max.trim(), data.days.trim());
    let value = if max.is_empty() && days.is_empty() {
        String::new()
    } else {
        match (max.parse::<i64>(), days.parse::<i64>()) {
            (Ok(max), Ok(days)) if (1..=100).contains(&max) && (1..=365).contains(&days) => {
                serde_json::to_string(&FrequencyCap { max, days }).unwrap_or_default()
            }
            _ => {
                let message = if locale == "en" {
                    "The cap is 1 to 100 mails in 1 to 365 days (both blank: no cap)."
                } else {
                    "上限は「1〜365日に1〜100通」で入れてください（両方空欄で上限なし）。"
                };
                return match list_page(&state, &user, &ListParams::default(), Some(message)).await {
                    Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                    Err(error) => error.into_response(),
                };
            }
        }
    };
    match state.store.put_setting(SETTING_FREQUENCY_CAP, &value, now_millis()).await {
        Ok(()) => Redirect::to("/mail/newsletters?cap_saved=1").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// The new-send form.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewsletterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    template_id: String,
    #[serde(default)]
    segment_id: String,
    /// `none`, `subject` or `template`.
    #[serde(default)]
    ab: String,
    #[serde(default)]
    variant_subject: String,
    #[serde(default)]
    variant_template_id: String,
    #[serde(default)]
    sample_percent: String,
    #[serde(default)]
    ab_metric: String,
    #[serde(default)]
    ab_wait_hours: String,
    #[serde(default)]
    per_hour: String,
    /// `draft`, `now` or `schedule`.
    #[serde(default)]
    send: String,
    /// `2026-12-10T10:00` in the organisation's zone.
    #[serde(default)]
    at: String,
}

impl NewsletterForm {
    fn of(row: &NewsletterRow) -> Self {
        let ab = match (row.is_ab(), row.variant_template_id) {
            (false, _) => "none",
            (true, Some(_)) => "template",
            (true, None) => "subject",
        };
        Self {
            name: row.name.clone(),
            template_id: row.template_id.to_string(),
            segment_id: row.segment_id.map(|s| s.to_string()).unwrap_or_default(),
            ab: ab.into(),
            variant_subject: row.variant_subject.clone().unwrap_or_default(),
            variant_template_id: row.variant_template_id.map(|t| t.to_string()).unwrap_or_default(),
            // Without a test the field shows the usual share (a 0 would block the form).
            sample_percent: if row.is_ab() { row.sample_percent.to_string() } else { "20".into() },
            ab_metric: row.ab_metric.clone(),
            ab_wait_hours: row.ab_wait_hours.to_string(),
            per_hour: row.per_hour.map(|p| p.to_string()).unwrap_or_default(),
            send: "draft".into(),
            at: String::new(),
        }
    }
}

/// The draft a form describes, or each field's problem (in the user's language).
async fn draft_of(
    state: &AppState,
    form: &NewsletterForm,
    locale: &'static str,
) -> Result<Result<NewsletterDraft, Vec<String>>, PageError> {
    let en = locale == "en";
    let mut errors = Vec::new();
    let say = |errors: &mut Vec<String>, ja: &str, en_text: &str| errors.push(if en { en_text } else { ja }.to_owned());
    if form.name.trim().is_empty() {
        say(&mut errors, "配信名を入力してください。", "Enter a name for the send.");
    }
    let store = state.store.as_ref();
    let template = match form.template_id.parse::<i64>() {
        Ok(id) => store.mail_template(id).await.map_err(|e| PageError::from_store(e, locale))?,
        Err(_) => None,
    };
    let template = template.filter(|t| t.kind == "marketing" && t.archived_at.is_none());
    if template.is_none() {
        say(&mut errors, "テンプレート（広告・宣伝メール）を選んでください。", "Choose a marketing template.");
    }
    let segment_id = form.segment_id.parse::<i64>().ok();
    let number = |text: &str, default: i64| text.trim().parse::<i64>().ok().unwrap_or(default);
    let (variant_subject, variant_template_id, sample_percent) = match form.ab.as_str() {
        "subject" => {
            if form.variant_subject.trim().is_empty() {
                say(&mut errors, "A/Bテストの件名Bを入力してください。", "Enter subject B for the test.");
            }
            (Some(form.variant_subject.trim().to_owned()), None, number(&form.sample_percent, 20))
        }
        "template" => {
            let other = form.variant_template_id.parse::<i64>().ok();
            if other.is_none() || other == template.as_ref().map(|t| t.id) {
                say(
                    &mut errors,
                    "A/BテストのテンプレートBを、Aと別に選んでください。",
                    "Choose a template B other than A.",
                );
            }
            (None, other, number(&form.sample_percent, 20))
        }
        _ => (None, None, 0),
    };
    if (form.ab == "subject" || form.ab == "template") && !(2..=100).contains(&sample_percent) {
        say(&mut errors, "テストの対象は全体の2〜100%で入れてください。", "The sample is 2 to 100 percent.");
    }
    let wait = number(&form.ab_wait_hours, 4);
    if !(1..=168).contains(&wait) {
        say(
            &mut errors,
            "勝者を決めるまでの時間は1〜168時間で入れてください。",
            "Wait 1 to 168 hours before choosing.",
        );
    }
    let per_hour = match form.per_hour.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                say(
                    &mut errors,
                    "1時間あたりの送信数は1以上の数字で入れてください（空欄で制限なし）。",
                    "Mails an hour is a number from 1 (blank: no limit).",
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let template = template.expect("checked above");
    Ok(Ok(NewsletterDraft {
        name: form.name.trim().to_owned(),
        template_id: template.id,
        segment_id,
        topic: hatake_engine::mail::compose::topic("marketing", template.product_id).unwrap_or_default(),
        variant_template_id,
        variant_subject,
        sample_percent,
        ab_metric: if form.ab_metric == "clicks" { "clicks".into() } else { "opens".into() },
        ab_wait_hours: wait,
        per_hour,
    }))
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    row: Option<&NewsletterRow>,
    form: &NewsletterForm,
    errors: &[String],
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e| PageError::from_store(e, locale);
    let query = TemplateQuery { kind: Some("marketing".into()), archived: false, offset: 0, limit: 500 };
    let templates = store.mail_templates(&query).await.map_err(error)?.0;
    let segments = store.segments(false, 0, 500).await.map_err(error)?.0;
    let sender = hatake_engine::mail::config::sender(store).await.map_err(error)?;
    render(
        state,
        user,
        "mail/newsletter_form.html",
        "mail",
        context! {
            row => row, form => form, errors => errors, templates => templates, segments => segments,
            sender_missing => sender.as_ref().is_none_or(|s| !s.missing().is_empty() || s.from_address.trim().is_empty()),
        },
    )
    .await
}

async fn new(State(state): State<AppState>, user: CurrentUser) -> Result<Html<String>, PageError> {
    let form = NewsletterForm {
        ab: "none".into(),
        sample_percent: "20".into(),
        ab_metric: "opens".into(),
        ab_wait_hours: "4".into(),
        send: "draft".into(),
        ..NewsletterForm::default()
    };
    form_page(&state, &user, None, &form, &[]).await
}

/// `2026-12-10T10:00` in `zone` as milliseconds.
fn local_time(text: &str, zone: &jiff::tz::TimeZone) -> Option<i64> {
    let civil: jiff::civil::DateTime = text.trim().parse().ok()?;
    civil.to_zoned(zone.clone()).ok().map(|z| z.timestamp().as_millisecond())
}

/// Saves a draft and, when asked, sends it now or at a time.
async fn submit(
    state: &AppState,
    user: &CurrentUser,
    headers: &HeaderMap,
    id: Option<i64>,
    form: NewsletterForm,
) -> Response {
    let locale = user.locale();
    let store = state.store.as_ref();
    let row = match id {
        Some(id) => match store.newsletter(id).await {
            Ok(Some(row)) => Some(row),
            Ok(None) => return PageError::not_found(locale).into_response(),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        },
        None => None,
    };
    let again = |errors: Vec<String>| {
        let (row, form) = (row.clone(), form.clone());
        async move {
            match form_page(state, user, row.as_ref(), &form, &errors).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    };
    let draft = match draft_of(state, &form, locale).await {
        Ok(Ok(draft)) => draft,
        Ok(Err(errors)) => return again(errors).await,
        Err(error) => return error.into_response(),
    };
    let now = now_millis();
    let zone = jiff::tz::TimeZone::get(&state.config.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = match form.send.as_str() {
        "now" => Some(now),
        "schedule" => match local_time(&form.at, &zone) {
            Some(at) if at > now => Some(at),
            _ => {
                let message = if locale == "en" {
                    "Enter a time in the future to send at."
                } else {
                    "予約日時は今より後の日時を入れてください。"
                };
                return again(vec![message.to_owned()]).await;
            }
        },
        _ => None,
    };
    if at.is_some() {
        let sender = hatake_engine::mail::config::sender(store).await.ok().flatten();
        if sender.is_none_or(|s| !s.missing().is_empty() || s.from_address.trim().is_empty()) {
            let message = if locale == "en" {
                "Set the sender (name, postal address, contact and from address) in the mail settings before sending."
            } else {
                "送信前に、メール設定の送信者情報（名称・住所・問い合わせ先・送信元メールアドレス）を登録してください。"
            };
            return again(vec![message.to_owned()]).await;
        }
    }
    let saved = match id {
        Some(id) => match store.update_newsletter(id, &draft, now).await {
            Ok(true) => Ok(id),
            Ok(false) => {
                let message = if locale == "en" {
                    "This send has started and can no longer be changed."
                } else {
                    "この配信は開始済みのため変更できません。"
                };
                return again(vec![message.to_owned()]).await;
            }
            Err(error) => Err(error),
        },
        None => store.create_newsletter(&draft, Some(user.user.id), now).await,
    };
    let id = match saved {
        Ok(id) => id,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    if let Some(at) = at {
        let base = hatake_engine::mail::config::sender(store)
            .await
            .ok()
            .flatten()
            .map(|s| s.public_url)
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| origin(headers));
        match store.schedule_newsletter(id, at, &base, now).await {
            Ok(_) => state.runtime.wake(NEWSLETTERS_DUE),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        }
        let done = if at <= now { "started" } else { "scheduled" };
        return Redirect::to(&format!("/mail/newsletters/{id}?{done}=1")).into_response();
    }
    Redirect::to(&format!("/mail/newsletters/{id}?saved=1")).into_response()
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm { user, data }: PageForm<NewsletterForm>,
) -> Response {
    submit(&state, &user, &headers, None, data).await
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    PageForm { user, data }: PageForm<NewsletterForm>,
) -> Response {
    submit(&state, &user, &headers, Some(id), data).await
}

/// How many the form's send would reach now.
async fn estimate(State(state): State<AppState>, PageForm { user, data }: PageForm<NewsletterForm>) -> Response {
    let locale = user.locale();
    let store = state.store.as_ref();
    let Some(template) = data.template_id.parse::<i64>().ok() else {
        return Json(serde_json::json!({ "count": null })).into_response();
    };
    let template = match store.mail_template(template).await {
        Ok(Some(t)) => t,
        Ok(None) => return Json(serde_json::json!({ "count": null })).into_response(),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let probe = NewsletterRow {
        id: 0,
        name: String::new(),
        template_id: template.id,
        template_name: None,
        segment_id: data.segment_id.parse().ok(),
        segment_name: None,
        topic: hatake_engine::mail::compose::topic("marketing", template.product_id).unwrap_or_default(),
        variant_template_id: None,
        variant_subject: None,
        sample_percent: 0,
        ab_metric: String::new(),
        ab_wait_hours: 0,
        per_hour: None,
        status: "draft".into(),
        scheduled_at: None,
        started_at: None,
        decide_at: None,
        finished_at: None,
        winner: None,
        base_url: String::new(),
        recipients: 0,
        cursor: 0,
        queued: 0,
        note: None,
        created_by: None,
        created_by_name: None,
        created_at: 0,
        updated_at: 0,
    };
    let cap = match frequency_cap(store).await {
        Ok(cap) => hatake_engine::mail::newsletter::cap_window(cap, now_millis()),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    match store.count_audience(&probe, cap).await {
        Ok(count) => Json(serde_json::json!({ "count": count })).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    saved: Option<String>,
    started: Option<String>,
    scheduled: Option<String>,
    cancelled: Option<String>,
    edit: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e| PageError::from_store(e, locale);
    let row = store.newsletter(id).await.map_err(error)?.ok_or_else(|| PageError::not_found(locale))?;
    if params.edit.is_some() && matches!(row.status.as_str(), "draft" | "scheduled") {
        return form_page(&state, &user, Some(&row), &NewsletterForm::of(&row), &[]).await;
    }
    let stats = store.newsletter_stats(id).await.map_err(error)?;
    let variants: Vec<minijinja::Value> = stats
        .iter()
        .map(|s| context! { key => s.variant, label => crate::i18n::t(locale, &format!("newsletter.variant.{}", s.variant)), f => figures(s.clone()) })
        .collect();
    let all = figures(total(&stats));
    let links = store.newsletter_links(id).await.map_err(error)?;
    // The previous sends, for comparison.
    let (recent, _) = store.newsletters(0, 20).await.map_err(error)?;
    let mut previous = Vec::new();
    let this_start = row.started_at.or(row.scheduled_at).unwrap_or(row.created_at);
    let earlier = |n: &&NewsletterRow| n.started_at.is_some_and(|s| s < this_start);
    for other in recent.iter().filter(|n| n.id != id && n.status == "sent").filter(earlier).take(5) {
        let s = store.newsletter_stats(other.id).await.map_err(error)?;
        previous.push(context! { row => other, f => figures(total(&s)) });
    }
    let variant_template = match row.variant_template_id {
        Some(t) => store.mail_template(t).await.map_err(error)?.map(|t| t.name),
        None => None,
    };
    let cap = frequency_cap(store).await.map_err(error)?;
    let audience = if matches!(row.status.as_str(), "draft" | "scheduled") {
        let window = hatake_engine::mail::newsletter::cap_window(cap, now_millis());
        Some(store.count_audience(&row, window).await.map_err(error)?)
    } else {
        None
    };
    let notice = if params.saved.is_some() {
        Some("saved")
    } else if params.started.is_some() {
        Some("started")
    } else if params.scheduled.is_some() {
        Some("scheduled")
    } else if params.cancelled.is_some() {
        Some("cancelled")
    } else {
        None
    };
    // Recorded in full is not sent: while mail waits in the outbox the send is still going out.
    let waiting = all.stats.queued - all.stats.sent - all.stats.failed - all.stats.cancelled;
    let status = if row.status == "sent" && waiting > 0 {
        status_label("sending", locale)
    } else {
        status_label(&row.status, locale)
    };
    let off = super::mail::mail_off(&state).await;
    render(
        &state,
        &user,
        "mail/newsletter.html",
        "mail",
        context! {
            row => row, status => status, waiting => waiting.max(0), mail_off => off && waiting > 0, variants => variants, all => all, links => links,
            previous => previous, variant_template => variant_template, notice => notice, audience => audience,
            progress => if row.recipients > 0 { row.queued * 100 / row.recipients } else { 0 },
            can_cancel => !matches!(row.status.as_str(), "cancelled") && (row.status != "sent" || all.stats.queued > all.stats.sent + all.stats.failed + all.stats.cancelled),
        },
    )
    .await
}

#[derive(Deserialize, Default)]
pub struct Empty {}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    PageForm { user, data: _ }: PageForm<Empty>,
) -> Response {
    match state.store.cancel_newsletter(id, now_millis()).await {
        Ok(_) => Redirect::to(&format!("/mail/newsletters/{id}?cancelled=1")).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub struct SuppressionParams {
    page: Option<String>,
    added: Option<i64>,
    removed: Option<String>,
}

async fn suppression_page(
    state: &AppState,
    user: &CurrentUser,
    params: &SuppressionParams,
    errors: &[String],
    typed: (&str, &str),
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let page = params.page.as_deref().and_then(|p| p.parse::<i64>().ok()).unwrap_or(1).max(1);
    let (rows, total) =
        state.store.suppressions((page - 1) * 50, 50).await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = rows
        .iter()
        .map(|r| context! { r => r, reason => crate::i18n::t(locale, &format!("suppression.reason.{}", r.reason)) })
        .collect();
    render(
        state,
        user,
        "mail/suppressions.html",
        "mail",
        context! {
            rows => rows, total => total, page => page, pages => (total + 49) / 50, errors => errors,
            typed => typed.0, typed_note => typed.1,
            added => params.added, removed => params.removed,
        },
    )
    .await
}

async fn suppressions(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<SuppressionParams>,
) -> Result<Html<String>, PageError> {
    suppression_page(&state, &user, &params, &[], ("", "")).await
}

#[derive(Deserialize, Default)]
pub struct AddForm {
    #[serde(default)]
    emails: String,
    #[serde(default)]
    note: String,
}

/// Adds addresses, one per line; a wrong line is named and nothing is added.
async fn add_suppressions(State(state): State<AppState>, PageForm { user, data }: PageForm<AddForm>) -> Response {
    let locale = user.locale();
    let mut errors = Vec::new();
    let mut emails = Vec::new();
    for (n, line) in data.emails.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match hatake_domain::Email::parse(line) {
            Ok(email) => emails.push(email.as_str().to_owned()),
            Err(_) => errors.push(if locale == "en" {
                format!("Line {}: “{line}” is not an e-mail address.", n + 1)
            } else {
                format!("{}行目: 「{line}」はメールアドレスの形式ではありません。", n + 1)
            }),
        }
    }
    emails.sort();
    emails.dedup();
    if !errors.is_empty() {
        errors.push(if locale == "en" {
            "Nothing was added: fix the lines above and add again.".into()
        } else {
            "どのアドレスもまだ追加していません。上の行を直してから、もう一度追加してください。".into()
        });
    }
    if emails.is_empty() && errors.is_empty() {
        errors.push(if locale == "en" {
            "Enter at least one address.".into()
        } else {
            "メールアドレスを1行に1件入力してください。".into()
        });
    }
    if !errors.is_empty() {
        return match suppression_page(&state, &user, &SuppressionParams::default(), &errors, (&data.emails, &data.note))
            .await
        {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let note = Some(data.note.trim()).filter(|n| !n.is_empty());
    let now = now_millis();
    for email in &emails {
        if let Err(error) = state.store.suppress(email, "manual", note, 1, now).await {
            return PageError::from_store(error, locale).into_response();
        }
    }
    Redirect::to(&format!("/mail/suppressions?added={}", emails.len())).into_response()
}

#[derive(Deserialize, Default)]
pub struct RemoveForm {
    #[serde(default)]
    email: String,
}

async fn remove_suppression(State(state): State<AppState>, PageForm { user, data }: PageForm<RemoveForm>) -> Response {
    match state.store.unsuppress(&data.email).await {
        Ok(_) => Redirect::to(&format!("/mail/suppressions?removed={}", super::url_encode(data.email.trim())))
            .into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}
