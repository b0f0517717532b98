//! Sign-in and sign-out, the dashboard, the language switch, static files and the health check.

use super::{render, route, PageError, PageForm};
use crate::auth::{
    cookie_value, random_token, same_secret, set_cookie, token_hash, verify_password, CurrentUser, LOGIN_CSRF_COOKIE,
    SESSION_COOKIE, SESSION_MILLIS,
};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Form;
use hatake_domain::Locale;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/login", Access::Public, get(login_page)),
        route("POST", "/login", Access::Public, post(login)),
        route("POST", "/logout", Access::SignedIn, post(logout)),
        route("GET", "/", Access::SignedIn, get(dashboard)),
        route("POST", "/me/locale", Access::SignedIn, post(switch_locale)),
        route("GET", "/static/style.css", Access::Public, get(stylesheet)),
        route("GET", "/favicon.ico", Access::Public, get(favicon)),
        route("GET", "/static/app.js", Access::Public, get(script)),
        route("GET", "/healthz", Access::Public, get(health)),
    ]
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// Only local paths may be returned to after sign-in (no open redirect).
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_response(
    state: &AppState,
    locale: &str,
    next: &str,
    email: &str,
    problem: LoginProblem,
    status: StatusCode,
) -> Response {
    let csrf = random_token();
    let page = state.templates.render(
        "login.html",
        context! {
            locale => locale, next => next, email => email, csrf => csrf,
            failed => problem == LoginProblem::Failed,
            throttled => problem == LoginProblem::Throttled,
        },
    );
    match page {
        Ok(html) => {
            let cookie = set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, 3600);
            (status, [(header::SET_COOKIE, cookie)], Html(html)).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "login template");
            PageError::internal("ja").into_response()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginProblem {
    None,
    Failed,
    Throttled,
}

async fn login_page(State(state): State<AppState>, Query(query): Query<LoginQuery>) -> Response {
    let locale = if query.lang.as_deref() == Some("en") { "en" } else { "ja" };
    login_response(&state, locale, &safe_next(query.next.as_deref()), "", LoginProblem::None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
    lang: Option<String>,
    #[serde(rename = "_csrf")]
    csrf: String,
}

async fn login(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let locale = if form.lang.as_deref() == Some("en") { "en" } else { "ja" };
    let next = safe_next(form.next.as_deref());
    // Double-submit check: the form's token must equal the cookie set with the form.
    let cookie = cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if cookie.is_empty() || !same_secret(cookie, &form.csrf) {
        return PageError::new(StatusCode::FORBIDDEN, "error.csrf", locale).into_response();
    }
    let now = now_millis();
    if !state.login_throttle.allows(&form.email, now) {
        tracing::warn!(email = %form.email, "sign-in throttled");
        return login_response(
            &state,
            locale,
            &next,
            &form.email,
            LoginProblem::Throttled,
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let user = match state.store.find_user_by_email(&form.email).await {
        Ok(user) => user,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    // Verify against a dummy hash when the user does not exist, so timing does not reveal it.
    let dummy = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4bXQ2eSI4aq0Q9SLuDmRZiK0cfNE0lXhUKSeFdYbk2I";
    let valid = match &user {
        Some(user) => user.active && verify_password(&form.password, &user.password_hash),
        None => {
            let _ = verify_password(&form.password, dummy);
            false
        }
    };
    let Some(user) = user.filter(|_| valid) else {
        tracing::info!(email = %form.email, "failed sign-in");
        state.login_throttle.record_failure(&form.email, now);
        return login_response(&state, locale, &next, &form.email, LoginProblem::Failed, StatusCode::UNAUTHORIZED);
    };
    state.login_throttle.record_success(&form.email);
    let token = random_token();
    if let Err(error) =
        state.store.create_session(&token_hash(&token), user.id, &random_token(), now, now + SESSION_MILLIS).await
    {
        return PageError::from_store(error, locale).into_response();
    }
    tracing::info!(user = user.id, "signed in");
    let session = set_cookie(&state, SESSION_COOKIE, &token, SESSION_MILLIS / 1000);
    let clear = set_cookie(&state, LOGIN_CSRF_COOKIE, "", 0);
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().append(header::SET_COOKIE, session.parse().expect("cookie is ASCII"));
    response.headers_mut().append(header::SET_COOKIE, clear.parse().expect("cookie is ASCII"));
    response
}

#[derive(Deserialize)]
pub struct Empty {}

async fn logout(State(state): State<AppState>, headers: HeaderMap, form: PageForm<Empty>) -> Response {
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(error) = state.store.delete_session(&token_hash(token)).await {
            return PageError::from_store(error, form.user.locale()).into_response();
        }
    }
    let clear = set_cookie(&state, SESSION_COOKIE, "", 0);
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize, Default)]
pub struct DashboardParams {
    /// The counts, also for those who land elsewhere.
    overview: Option<String>,
}

async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<DashboardParams>,
) -> Result<Response, PageError> {
    // Inside sales lands on its call queue.
    if params.overview.is_none() && super::calls::lands_on_queue(user.user.role()) {
        return Ok(Redirect::to("/calls").into_response());
    }
    let overview = state.store.overview().await.map_err(|e| PageError::from_store(e, user.locale()))?;
    let products = state.store.list_products().await.map_err(|e| PageError::from_store(e, user.locale()))?;
    render(&state, &user, "dashboard.html", "dashboard", context! { overview => overview, products => products })
        .await
        .map(IntoResponse::into_response)
}

#[derive(Deserialize)]
pub struct LocaleForm {
    locale: String,
    back: Option<String>,
}

async fn switch_locale(State(state): State<AppState>, headers: HeaderMap, form: PageForm<LocaleForm>) -> Response {
    let locale = Locale::parse(&form.data.locale).unwrap_or_default();
    if let Err(error) = state.store.set_user_locale(form.user.user.id, locale, now_millis()).await {
        return PageError::from_store(error, form.user.locale()).into_response();
    }
    // Back to the page the switch was pressed on (its path, from the Referer), else `back`.
    let referer_path = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()));
    let back = referer_path.or(form.data.back.clone());
    Redirect::to(&safe_next(back.as_deref())).into_response()
}

/// A small field-green square with 畑's furrows (browsers ask for it on every page).
async fn favicon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")],
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#2f6b3a\"/>\
         <path d=\"M3 5h10M3 8h10M3 11h10\" stroke=\"#e8f3ea\" stroke-width=\"1.5\"/></svg>",
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/style.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/app.js"),
    )
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.get_setting("health").await {
        Ok(_) => (StatusCode::OK, format!("ok {}\n", state.store.backend())),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_is_local_only() {
        assert_eq!(super::safe_next(Some("/leads?q=1")), "/leads?q=1");
        assert_eq!(super::safe_next(Some("//evil.example/")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example/")), "/");
        assert_eq!(super::safe_next(None), "/");
    }
}
