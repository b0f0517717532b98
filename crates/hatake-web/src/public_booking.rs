//! The booking step of a form (`/f/{slug}/book?token=…`): after sending a form that ends with
//! booking, the person sees the free slots of the product's reps (business days, the
//! organisation's time zone) and books one. The token, given only to the sender, ties the
//! booking to their submission; a second booking for one submission returns the first.

use crate::public_forms::{load, locale_of, rendered, say};
use crate::{now_millis, AppState};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hatake_domain::booking::Slot;
use hatake_domain::form::FormDefinition;
use hatake_engine::booking::{offer, rules, BookError};
use hatake_store::{FormRow, MeetingRow, SubmissionRow};
use minijinja::context;

#[derive(serde::Deserialize, Default)]
pub struct BookParams {
    token: Option<String>,
    lang: Option<String>,
    start: Option<String>,
}

/// The organisation's time zone (looked up once per page).
fn zone_of(state: &AppState) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&state.config.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
}

fn zoned(zone: &jiff::tz::TimeZone, millis: i64) -> Option<jiff::Zoned> {
    jiff::Timestamp::from_millisecond(millis).ok().map(|t| t.to_zoned(zone.clone()))
}

/// "11月24日(火)" / "Tue 24 Nov".
fn day_label(day: &jiff::Zoned, locale: &str) -> String {
    let weekday = usize::try_from(day.weekday().to_monday_zero_offset()).unwrap_or(0);
    if locale == "en" {
        format!("{} {}", hatake_domain::booking::DAY_NAMES_EN[weekday], day.strftime("%-d %b %Y"))
    } else {
        format!("{}月{}日({})", day.month(), day.day(), hatake_domain::booking::DAY_NAMES_JA[weekday])
    }
}

/// The slots grouped by day, for the page.
fn days(zone: &jiff::tz::TimeZone, slots: &[Slot], locale: &str, chosen: Option<i64>) -> Vec<minijinja::Value> {
    let mut days: Vec<(String, Vec<minijinja::Value>)> = Vec::new();
    for slot in slots {
        let (Some(start), Some(end)) = (zoned(zone, slot.start_ms), zoned(zone, slot.end_ms)) else { continue };
        let label = day_label(&start, locale);
        let time = context! {
            value => slot.start_ms.to_string(),
            label => format!("{}–{}", start.strftime("%H:%M"), end.strftime("%H:%M")),
            checked => chosen == Some(slot.start_ms),
        };
        match days.last_mut() {
            Some((day, times)) if *day == label => times.push(time),
            _ => days.push((label, vec![time])),
        }
    }
    days.into_iter().map(|(label, times)| context! { label => label, times => times }).collect()
}

fn meeting_view(zone: &jiff::tz::TimeZone, meeting: &MeetingRow, locale: &str) -> minijinja::Value {
    let when = match (zoned(zone, meeting.starts_at), zoned(zone, meeting.ends_at)) {
        (Some(start), Some(end)) => {
            format!("{} {}–{}", day_label(&start, locale), start.strftime("%H:%M"), end.strftime("%H:%M"))
        }
        _ => String::new(),
    };
    context! { when => when, rep => meeting.rep_name, id => meeting.id }
}

/// The submission a token stands for, checked against the form, or the answer to give.
async fn submission_of(
    state: &AppState,
    form: &FormRow,
    token: Option<&str>,
    locale: &str,
) -> Result<SubmissionRow, Response> {
    let missing = || {
        let text = say(locale, "予約のリンクが正しくありません。", "This booking link is not valid.");
        (StatusCode::NOT_FOUND, format!("{text}\n")).into_response()
    };
    let Some(token) = token.filter(|t| t.len() == 32) else { return Err(missing()) };
    match state.store.submission_by_booking_token(token).await {
        Ok(Some(submission)) if submission.form_id == form.id => Ok(submission),
        Ok(_) => Err(missing()),
        Err(error) => {
            tracing::error!(%error, "a booking token could not be looked up");
            Err(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

/// Renders the booking page: the booked meeting, or the free slots (with a problem, if any).
async fn page(
    state: &AppState,
    status: StatusCode,
    form: &FormRow,
    definition: &FormDefinition,
    submission: &SubmissionRow,
    locale: &str,
    problem: Option<&'static str>,
) -> Response {
    let booked = match state.store.submission_meetings(submission.id).await {
        Ok(meetings) => meetings.into_iter().find(|m| m.status == "booked"),
        Err(error) => {
            tracing::error!(%error, "meetings could not be read");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let (Some(step), Some(product)) = (&definition.booking, definition.product_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let slots = if booked.is_some() {
        Vec::new()
    } else {
        match offer(state.store.as_ref(), product, &rules(step, &state.config.time_zone), now_millis()).await {
            Ok(slots) => slots,
            Err(error) => {
                tracing::error!(%error, "free slots could not be read");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
    };
    let zone = zone_of(state);
    let context = context! {
        locale => locale, title => definition.name, message => definition.thank_you(locale), slug => form.slug,
        token => submission.booking_token, days => days(&zone, &slots, locale, None),
        booked => booked.as_ref().map(|m| meeting_view(&zone, m, locale)),
        problem => problem, redirect_url => definition.redirect_url,
        heading => say(locale, "商談のご予約", "Book a meeting"),
        intro => say(
            locale,
            "ご都合のよい日時をお選びください。担当者がオンラインでご説明します。",
            "Choose a time that suits you; one of our team will meet you online.",
        ),
        none_text => say(
            locale,
            "ご案内できる空き枠がありません。担当者よりご連絡いたします。",
            "No time is free at the moment; we will contact you.",
        ),
        book_text => say(locale, "この日時で予約する", "Book this time"),
        booked_text => say(locale, "商談の予約が確定しました。", "Your meeting is booked."),
        rep_text => say(locale, "担当", "With"),
        next_text => say(locale, "サイトに戻る", "Back to the site"),
    };
    rendered(state, status, "forms/booking.html", context, definition)
}

/// `GET /f/{slug}/book?token=…`.
pub async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<BookParams>,
    request: Request,
) -> Response {
    let locale = locale_of(params.lang.as_deref(), request.headers());
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let submission = match submission_of(&state, &form, params.token.as_deref(), locale).await {
        Ok(submission) => submission,
        Err(response) => return response,
    };
    page(&state, StatusCode::OK, &form, &definition, &submission, locale, None).await
}

/// `POST /f/{slug}/book` with `token` and `start` (the slot's start, ms).
pub async fn book(State(state): State<AppState>, Path(slug): Path<String>, request: Request) -> Response {
    let headers = request.headers().clone();
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), crate::MAX_BODY_BYTES).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let params: BookParams = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let locale = locale_of(params.lang.as_deref(), &headers);
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let submission = match submission_of(&state, &form, params.token.as_deref(), locale).await {
        Ok(submission) => submission,
        Err(response) => return response,
    };
    let (Some(step), Some(product)) = (&definition.booking, definition.product_id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(start) = params.start.as_deref().and_then(|s| s.parse::<i64>().ok()) else {
        let problem = say(locale, "日時を選んでください。", "Choose a time.");
        return page(&state, StatusCode::UNPROCESSABLE_ENTITY, &form, &definition, &submission, locale, Some(problem))
            .await;
    };
    let rules = rules(step, &state.config.time_zone);
    match hatake_engine::booking::book(state.store.as_ref(), &submission, product, &rules, start, now_millis()).await {
        Ok(_) => page(&state, StatusCode::OK, &form, &definition, &submission, locale, None).await,
        Err(BookError::NotFree) => {
            let problem = say(
                locale,
                "申し訳ありません。その日時は先に予約されました。別の日時をお選びください。",
                "Sorry, that time has just been booked; please choose another.",
            );
            page(&state, StatusCode::CONFLICT, &form, &definition, &submission, locale, Some(problem)).await
        }
        Err(BookError::Store(error)) => {
            tracing::error!(%error, "a meeting could not be booked");
            let text = say(
                locale,
                "予約できませんでした。時間をおいて再度お試しください。",
                "The meeting could not be booked; please try again shortly.",
            );
            (StatusCode::SERVICE_UNAVAILABLE, format!("{text}\n")).into_response()
        }
    }
}
