//! Meetings (商談予約): each rep's list of upcoming meetings booked through forms (field sales see
//! their own by default), cancelling one (which frees its slot), and the booking settings: which
//! products each person takes meetings for, and their weekly working hours.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::booking::WeeklyHours;
use hatake_domain::{FieldErrors, Role};
use hatake_store::StoreError;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/meetings", Access::SignedIn, get(list)),
        route("POST", "/meetings/{id}/cancel", Access::SignedIn, post(cancel)),
        route("GET", "/settings/booking", Access::Configure, get(settings)),
        route("POST", "/settings/booking/{id}", Access::Configure, post(save_settings)),
    ]
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    /// A user id, or `all`.
    rep: Option<String>,
    cancelled: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    // Field sales see their own meetings unless they ask for everyone's.
    let rep = match params.rep.as_deref() {
        Some("all") => None,
        Some(id) => id.parse::<i64>().ok(),
        None if user.user.role() == Role::FieldSales => Some(user.user.id),
        None => None,
    };
    let meetings = store.list_meetings(rep, now_millis(), 500).await.map_err(error)?;
    let users = store.list_users().await.map_err(error)?;
    let reps: Vec<minijinja::Value> =
        users.iter().filter(|u| u.active).map(|u| context! { id => u.id, name => u.display_name }).collect();
    let can_cancel_all = user.user.role().can_configure();
    let rows: Vec<minijinja::Value> = meetings
        .iter()
        .map(|m| {
            context! { row => m, can_cancel => m.status == "booked" && (can_cancel_all || m.user_id == user.user.id) }
        })
        .collect();
    render(
        &state,
        &user,
        "meetings/list.html",
        "meetings",
        context! { meetings => rows, reps => reps, rep => rep, cancelled => params.cancelled.is_some() },
    )
    .await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = form.user.locale();
    let store = state.store.as_ref();
    let Ok(id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    let meeting = match store.get_meeting(id).await {
        Ok(meeting) => meeting,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    // A rep cancels their own meetings; those who configure the organisation, anyone's.
    if meeting.user_id != form.user.user.id && !form.user.user.role().can_configure() {
        return PageError::new(StatusCode::FORBIDDEN, "error.forbidden", locale).into_response();
    }
    match store.cancel_meeting(id, now_millis()).await {
        Ok(()) | Err(StoreError::NotFound) => Redirect::to("/meetings?cancelled=1").into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// One person's settings as the page shows them: stored, or as typed with errors.
struct Typed<'a> {
    user_id: i64,
    text: &'a str,
    product_ids: &'a [i64],
    errors: &'a FieldErrors,
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    typed: Option<Typed<'_>>,
    saved: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let error = |e: StoreError| PageError::from_store(e, locale);
    let mut users = store.list_users().await.map_err(error)?;
    users.retain(|u| u.active);
    // Field sales first: they take the meetings.
    users.sort_by_key(|u| (u.role() != Role::FieldSales, u.id));
    let settings = store.rep_settings().await.map_err(error)?;
    let products = store.list_products().await.map_err(error)?;
    let rows: Vec<minijinja::Value> = users
        .iter()
        .map(|u| {
            let stored = settings.iter().find(|s| s.user_id == u.id);
            let typed = typed.as_ref().filter(|t| t.user_id == u.id);
            let hours = match (typed, stored.and_then(|s| s.working_hours.as_deref())) {
                (Some(t), _) => t.text.to_owned(),
                (None, Some(json)) => serde_json::from_str::<WeeklyHours>(json).map(|h| h.to_string()).unwrap_or_default(),
                (None, None) => String::new(),
            };
            let chosen: Vec<i64> = match typed {
                Some(t) => t.product_ids.to_vec(),
                None => stored.map(|s| s.product_ids.clone()).unwrap_or_default(),
            };
            let errors: Vec<String> =
                typed.map(|t| t.errors.0.iter().map(|e| e.message(locale).to_owned()).collect()).unwrap_or_default();
            context! {
                id => u.id, name => u.display_name, role => u.role().label(locale), hours => hours,
                products => products.iter().map(|p| context! { id => p.id, name => p.name, on => chosen.contains(&p.id) }).collect::<Vec<_>>(),
                errors => errors,
            }
        })
        .collect();
    render(
        state,
        user,
        "settings/booking.html",
        "settings",
        context! { rows => rows, saved => saved, example => WeeklyHours::default_business().to_string() },
    )
    .await
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
    settings_page(&state, &user, None, params.saved.is_some()).await
}

/// Saves one person's products and hours; a wrong line keeps everything as typed (422) and
/// stores nothing. Empty hours mean the person takes no meetings.
async fn save_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = form.user.locale();
    let store = state.store.as_ref();
    let Ok(user_id) = id.parse::<i64>() else { return PageError::not_found(locale).into_response() };
    if let Err(error) = store.get_user(user_id).await {
        return PageError::from_store(error, locale).into_response();
    }
    let text =
        form.data.iter().find(|(k, _)| k == "working_hours").map(|(_, v)| v.replace("\r\n", "\n")).unwrap_or_default();
    let product_ids: Vec<i64> =
        form.data.iter().filter(|(k, _)| k == "products").filter_map(|(_, v)| v.parse().ok()).collect();
    let hours = if text.trim().is_empty() { Ok(None) } else { WeeklyHours::parse(&text).map(Some) };
    match hours {
        Ok(hours) => {
            let json = hours.map_or_else(|| "{}".to_owned(), |h| serde_json::to_string(&h).unwrap_or_default());
            let saved = async {
                store.set_working_hours(user_id, &json, now_millis()).await?;
                store.set_rep_products(user_id, &product_ids).await
            };
            match saved.await {
                Ok(()) => Redirect::to("/settings/booking?saved=1").into_response(),
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        Err(errors) => {
            let typed = Typed { user_id, text: &text, product_ids: &product_ids, errors: &errors };
            match settings_page(&state, &form.user, Some(typed), false).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
    }
}
