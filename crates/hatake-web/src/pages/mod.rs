//! The signed-in, server-rendered UI. Each feature module owns its routes; this module holds
//! what they share: rendering with the layout's context, CSRF-checked forms, page errors.

mod accounts;
mod admin;
mod alerts;
mod calls;
mod departments;
mod forms;
mod hearing;
mod imports;
pub(crate) mod labels;
mod lead_export;
mod lead_history;
mod leads;
mod mail;
mod mail_templates;
mod me;
mod meetings;
mod newsletters;
mod policy_form;
mod process;
mod products;
mod review_pairs;
mod reviews;
mod scoring;
mod scoring_rules;
mod segments;
mod session;
mod settings;
mod timeline;
mod tossups;
mod tracking_settings;

use crate::auth::{same_secret, CurrentUser};
use crate::{Access, AppState, RouteSpec};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::MethodRouter;
use minijinja::context;
use serde::de::DeserializeOwned;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    let mut all = session::routes();
    all.extend(leads::routes());
    all.extend(lead_export::routes());
    all.extend(accounts::routes());
    all.extend(products::routes());
    all.extend(settings::routes());
    all.extend(forms::routes());
    all.extend(scoring::routes());
    all.extend(scoring_rules::routes());
    all.extend(process::routes());
    all.extend(policy_form::routes());
    all.extend(meetings::routes());
    all.extend(calls::routes());
    all.extend(hearing::routes());
    all.extend(tossups::routes());
    all.extend(alerts::routes());
    all.extend(departments::routes());
    all.extend(tracking_settings::routes());
    all.extend(mail::routes());
    all.extend(mail_templates::routes());
    all.extend(segments::routes());
    all.extend(newsletters::routes());
    all.extend(imports::routes());
    all.extend(reviews::routes());
    all.extend(admin::routes());
    all.extend(me::routes());
    all
}

/// Shorthand for a route table entry.
/// The server's own address as the browser reached it (for snippets and embedded forms).
pub(crate) fn origin(headers: &axum::http::HeaderMap) -> String {
    use axum::http::header;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}")
}

pub(crate) fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: MethodRouter<AppState>,
) -> (RouteSpec, MethodRouter<AppState>) {
    (RouteSpec { method, path, access }, handler)
}

/// A page that could not be shown: rendered as the error page in the user's language.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message_key: &'static str,
    pub locale: &'static str,
}

impl PageError {
    pub fn new(status: StatusCode, message_key: &'static str, locale: &'static str) -> Self {
        Self { status, message_key, locale }
    }

    pub fn not_found(locale: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "error.not_found", locale)
    }

    pub fn forbidden(locale: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "error.forbidden", locale)
    }

    pub fn internal(locale: &'static str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error.internal", locale)
    }

    /// Maps a store error: not found → 404, anything unexpected → 500 (logged).
    pub fn from_store(error: hatake_store::StoreError, locale: &'static str) -> Self {
        match error {
            hatake_store::StoreError::NotFound => Self::not_found(locale),
            other => {
                tracing::error!(error = %other, "store error on a page");
                Self::internal(locale)
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let message = crate::i18n::t(self.locale, self.message_key);
        let title = crate::i18n::t(self.locale, "error.title");
        let back = crate::i18n::t(self.locale, "error.back");
        let body = format!(
            "<!doctype html><html lang=\"{locale}\"><head><meta charset=\"utf-8\"><title>{title}</title>\
             <link rel=\"stylesheet\" href=\"/static/style.css\"><script src=\"/static/app.js\" defer></script>\
             </head><body class=\"error-page\"><main><h1>{status} {title}</h1><p class=\"error-message\">{message}</p>\
             <p><a href=\"/\" data-back>{back}</a> · <a href=\"/\">hatake</a></p></main></body></html>",
            locale = self.locale,
            status = self.status.as_u16(),
        );
        (self.status, Html(body)).into_response()
    }
}

/// Renders a template with the layout's context (user, locale, CSRF token, active section, the
/// number of open review questions for those who answer them) added to `extra`.
pub(crate) async fn render(
    state: &AppState,
    user: &CurrentUser,
    template: &str,
    section: &str,
    extra: minijinja::Value,
) -> Result<Html<String>, PageError> {
    let role = user.user.role();
    let can_review = crate::can_review(role);
    // The navigation shows how many possible duplicates wait; a failure only hides the number.
    let open_reviews = if can_review { state.store.count_reviews("open").await.ok() } else { None };
    // Inside sales and admins get alerts live: the unread count, and where the feed starts.
    let live_alerts = matches!(role, hatake_domain::Role::InsideSales | hatake_domain::Role::Admin);
    let (unread_alerts, newest_alert) = if live_alerts {
        let owner = hatake_store::AlertFor::UserAndPool(user.user.id);
        (state.store.count_unread_alerts(owner).await.ok(), state.store.max_alert_id().await.ok())
    } else {
        (None, None)
    };
    // A field rep's nav shows how many toss-ups wait for them.
    let pending_tossups = if role == hatake_domain::Role::FieldSales {
        state.store.count_tossups(hatake_store::TossupOwner::ToOrNobody(user.user.id), "pending").await.ok()
    } else {
        None
    };
    let base = context! {
        locale => user.locale(),
        csrf => user.csrf_token,
        section => section,
        me => context! {
            id => user.user.id,
            name => user.user.display_name,
            email => user.user.email,
            role => role.as_str(),
            role_label => role.label(user.locale()),
            can_configure => role.can_configure(),
            can_manage_users => role.can_manage_users(),
            can_delete => role.can_delete_records(),
            can_import => crate::can_import(role),
            can_review => can_review,
        },
        open_reviews => open_reviews,
        pending_tossups => pending_tossups,
        live_alerts => live_alerts,
        unread_alerts => unread_alerts,
        newest_alert => newest_alert.unwrap_or(0),
    };
    let merged = context! { ..extra, ..base };
    state.templates.render(template, merged).map(Html).map_err(|error| {
        tracing::error!(%error, template, "template failed");
        PageError::internal(user.locale())
    })
}

/// A form posted from a signed-in page, accepted only with the session's CSRF token in its
/// `_csrf` field.
pub struct PageForm<T> {
    pub user: CurrentUser,
    pub data: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = <CurrentUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let locale = user.locale();
        let bytes = axum::body::to_bytes(body, crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "error.too_large", locale).into_response())?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        let token = pairs.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str());
        if !same_secret(token, &user.csrf_token) {
            return Err(PageError::new(StatusCode::FORBIDDEN, "error.csrf", locale).into_response());
        }
        let data = serde_urlencoded::from_bytes(&bytes).map_err(|error| {
            tracing::warn!(%error, "malformed form");
            PageError::new(StatusCode::BAD_REQUEST, "common.errors", locale).into_response()
        })?;
        Ok(Self { user, data })
    }
}

/// The answer to a record form: a redirect to the saved record, or the form again (422) with
/// every error next to its field.
pub(crate) async fn saved_or_form_again<T, Again>(
    result: Result<T, crate::service::SaveError>,
    mut errors: hatake_domain::FieldErrors,
    locale: &'static str,
    location: impl FnOnce(&T) -> String,
    form_again: impl FnOnce(hatake_domain::FieldErrors) -> Again,
) -> Response
where
    Again: std::future::Future<Output = Result<Html<String>, PageError>>,
{
    use crate::service::SaveError;
    match result {
        Ok(saved) => axum::response::Redirect::to(&location(&saved)).into_response(),
        Err(SaveError::Invalid(more)) => {
            errors.0.extend(more.0);
            match form_again(errors).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(SaveError::NotFound) => PageError::not_found(locale).into_response(),
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

/// Deletes a record if the user's role may, then redirects to `location`.
pub(crate) async fn delete_and_redirect(
    user: &CurrentUser,
    delete: impl std::future::Future<Output = hatake_store::StoreResult<()>>,
    location: &str,
) -> Response {
    if !user.user.role().can_delete_records() {
        return PageError::forbidden(user.locale()).into_response();
    }
    match delete.await {
        Ok(()) => axum::response::Redirect::to(location).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Route layer for the routes whose [`Access`] names roles: signed in, and a role the access
/// allows (otherwise 403 in the user's language).
pub async fn require_access(
    axum::extract::State((state, access)): axum::extract::State<(AppState, Access)>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let user = match <CurrentUser as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, &state)
        .await
    {
        Ok(user) => user,
        Err(rejection) => return rejection.into_response(),
    };
    if !access.allows(user.user.role()) {
        return PageError::forbidden(user.locale()).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

pub async fn not_found(user: Option<CurrentUser>) -> PageError {
    PageError::not_found(user.as_ref().map_or("ja", CurrentUser::locale))
}

/// Headers every response carries: no framing of the app, no MIME sniffing, no referrer leak,
/// and a content security policy that allows only our own scripts and styles (a handler that
/// sets its own policy keeps it).
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    // A public form's pages bring their own policy (framed by the sites the form lists, posting
    // on to its redirect target); everything else is never framed.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
            ),
        );
    }
    response
}

/// Field errors as a form shows them: the first message per field, in the user's language.
/// Errors on list items (`domains[2]`) are shown at the list's field (`domains`).
pub(crate) fn field_errors(
    errors: &hatake_domain::FieldErrors,
    locale: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut map = std::collections::BTreeMap::new();
    for error in &errors.0 {
        let field = error.field.split('[').next().unwrap_or_default().to_owned();
        map.entry(field).or_insert_with(|| error.message(locale).to_owned());
    }
    map
}

/// Empty form fields are absent, not empty strings.
pub(crate) fn blank_to_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_encoding() {
        assert_eq!(super::url_encode("/leads?q=田中 a&b"), "/leads%3Fq%3D%E7%94%B0%E4%B8%AD%20a%26b");
    }
}
