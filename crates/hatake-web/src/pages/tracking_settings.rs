//! Settings → web tracking: the snippet to paste into the organisation's site, and the IP
//! ranges of its own network, whose hits are not counted (edited as text, one range a line;
//! nothing is stored while a line is wrong).

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::tracking::SETTING_INTERNAL_RANGES;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::tracking::IpRanges;
use hatake_domain::FieldErrors;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/settings/tracking", Access::Configure, get(show)),
        route("POST", "/settings/tracking", Access::Configure, post(save)),
    ]
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    saved: Option<String>,
}

#[derive(Deserialize)]
pub struct RangesForm {
    #[serde(default)]
    internal_ranges: String,
}

/// The server's own address as the browser reached it, for the snippet.
fn origin(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}")
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    origin: &str,
    text: &str,
    errors: Option<&FieldErrors>,
    saved: bool,
) -> Result<Html<String>, PageError> {
    let snippet = format!(
        "<script src=\"{origin}/t.js\" async></script>\n<noscript><img src=\"{origin}/t/p.gif\" width=\"1\" height=\"1\" alt=\"\"></noscript>"
    );
    let messages: Vec<String> =
        errors.map(|e| e.0.iter().map(|f| f.message(user.locale()).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "settings/tracking.html",
        "settings",
        context! { snippet => snippet, text => text, line_errors => messages, has_errors => errors.is_some(), saved => saved },
    )
    .await
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    let text = state
        .store
        .get_setting(SETTING_INTERNAL_RANGES)
        .await
        .map_err(|e| PageError::from_store(e, user.locale()))?
        .unwrap_or_default();
    page(&state, &user, &origin(&headers), &text, None, params.saved.is_some()).await
}

async fn save(State(state): State<AppState>, headers: HeaderMap, form: PageForm<RangesForm>) -> Response {
    let locale = form.user.locale();
    let text = form.data.internal_ranges.replace("\r\n", "\n");
    match IpRanges::parse(&text) {
        Ok(_) => match state.store.put_setting(SETTING_INTERNAL_RANGES, text.trim(), now_millis()).await {
            Ok(()) => Redirect::to("/settings/tracking?saved=1").into_response(),
            Err(error) => PageError::from_store(error, locale).into_response(),
        },
        // Nothing is stored: the page lists every wrong line and keeps the text as typed.
        Err(errors) => match page(&state, &form.user, &origin(&headers), &text, Some(&errors), false).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        },
    }
}
