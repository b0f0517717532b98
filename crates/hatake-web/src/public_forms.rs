//! Public forms: `/f/{slug}` is a form's hosted page, and `/f/embed.js` puts the same form on
//! another site (`<div data-hatake-form="{slug}"></div>`), which loads it from `/f/{slug}/embed`
//! and sends it to `/f/{slug}/submit` across origins — allowed only for the sites the form lists
//! (CORS: the origin is echoed, never `*`; a submission from any other site is refused).
//!
//! A submission is checked field by field (errors in Japanese and English, nothing stored), then
//! stored raw and only then processed into a lead and a `form_submit` event: a processing failure
//! leaves the stored submission to be retried ([`hatake_engine::forms`]). A filled honeypot is
//! answered as a success but kept as spam; too many submissions from one address are refused
//! (429) for a while.

use crate::limits::RateLimiter;
use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, options, post, MethodRouter};
use hatake_domain::form::{FormDefinition, CONSENT_PREFIX, HONEYPOT_FIELD};
use hatake_domain::{CustomFieldDef, FieldErrors};
use hatake_store::{FormRow, NewSubmission};
use minijinja::context;
use std::net::SocketAddr;

/// Submissions one address may send to one form per [`FORM_WINDOW_MILLIS`].
pub const FORM_SUBMISSIONS_PER_WINDOW: u32 = 10;
pub const FORM_WINDOW_MILLIS: i64 = 10 * 60 * 1000;

/// The longest value kept of a spam submission's fields.
const MAX_SPAM_CHARS: usize = 500;

const EMBED_SCRIPT: &str = include_str!("../static/embed.js");
const PAGE_SCRIPT: &str = include_str!("../static/form-page.js");
const STYLESHEET: &str = include_str!("../static/forms.css");

pub fn limiter() -> RateLimiter {
    RateLimiter::new(FORM_SUBMISSIONS_PER_WINDOW, FORM_WINDOW_MILLIS)
}

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/f/embed.js", Access::Public, get(embed_script)),
        route("GET", "/static/forms.css", Access::Public, get(stylesheet)),
        route("GET", "/static/form-page.js", Access::Public, get(page_script)),
        route("GET", "/f/{slug}", Access::Public, get(show)),
        route("POST", "/f/{slug}", Access::Public, post(submit_page)),
        route("GET", "/f/{slug}/embed", Access::Public, get(embed)),
        route("POST", "/f/{slug}/submit", Access::Public, post(submit_json)),
        route("OPTIONS", "/f/{slug}/submit", Access::Public, options(preflight)),
        route("GET", "/f/{slug}/book", Access::Public, get(crate::public_booking::show)),
        route("POST", "/f/{slug}/book", Access::Public, post(crate::public_booking::book)),
    ]
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        body,
    )
        .into_response();
    // Other sites load these (the embed script and the form's stylesheet).
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

async fn embed_script() -> Response {
    static_file("application/javascript; charset=utf-8", EMBED_SCRIPT)
}

async fn page_script() -> Response {
    static_file("application/javascript; charset=utf-8", PAGE_SCRIPT)
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", STYLESHEET)
}

/// The origin (`https://host[:port]`) of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + host_end])
}

/// The content security policy of a form's public pages: only hatake's own scripts and styles;
/// framed only by the sites the form lists; posting to hatake and (after a redirect) to the
/// form's redirect target.
pub(crate) fn page_policy(definition: &FormDefinition) -> HeaderValue {
    let frames =
        if definition.allowed_origins.is_empty() { "'none'".to_owned() } else { definition.allowed_origins.join(" ") };
    let mut actions = "'self'".to_owned();
    if let Some(origin) = definition.redirect_url.as_deref().and_then(origin_of) {
        actions.push(' ');
        actions.push_str(origin);
    }
    let policy = format!("default-src 'self'; img-src 'self' data:; frame-ancestors {frames}; form-action {actions}");
    HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// A text in the submitter's language.
pub(crate) fn say(locale: &str, ja: &'static str, en: &'static str) -> &'static str {
    if locale == "en" {
        en
    } else {
        ja
    }
}

/// The submitter's language: `lang` if given, else the browser's first choice, else Japanese.
pub(crate) fn locale_of(lang: Option<&str>, headers: &HeaderMap) -> &'static str {
    let wanted = lang.map(str::to_owned).or_else(|| {
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_lowercase())
    });
    if wanted.is_some_and(|w| w.starts_with("en")) {
        "en"
    } else {
        "ja"
    }
}

/// The active form of a slug with its definition, or the page to answer instead.
pub(crate) async fn load(state: &AppState, slug: &str, locale: &str) -> Result<(FormRow, FormDefinition), Response> {
    let gone = |status: StatusCode, ja: &'static str, en: &'static str| {
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", say(locale, ja, en)))
            .into_response()
    };
    match state.store.form_by_slug(slug).await {
        Ok(Some(form)) if form.active => match serde_json::from_str(&form.definition) {
            Ok(definition) => Ok((form, definition)),
            Err(error) => {
                tracing::error!(%error, slug, "a stored form definition cannot be read");
                Err(gone(StatusCode::INTERNAL_SERVER_ERROR, "フォームを表示できません。", "The form cannot be shown."))
            }
        },
        Ok(Some(_)) => Err(gone(StatusCode::GONE, "このフォームは受付を終了しました。", "This form is closed.")),
        Ok(None) => Err(gone(StatusCode::NOT_FOUND, "フォームが見つかりません。", "There is no such form.")),
        Err(error) => {
            tracing::error!(%error, slug, "a form could not be read");
            Err(gone(
                StatusCode::SERVICE_UNAVAILABLE,
                "只今ご利用いただけません。時間をおいて再度お試しください。",
                "Not available right now; please try again shortly.",
            ))
        }
    }
}

async fn custom_defs(state: &AppState) -> Vec<CustomFieldDef> {
    crate::service::custom_defs(state.store.as_ref()).await.unwrap_or_default()
}

/// What the form's template needs: its fields as shown, values as typed and errors.
struct Shown<'a> {
    values: &'a [(String, String)],
    errors: Option<&'a FieldErrors>,
    /// Where the form posts: the hosted page, or the embed endpoint on hatake's own origin.
    action: String,
    page_url: String,
    referrer: String,
}

fn form_context(
    form: &FormRow,
    definition: &FormDefinition,
    defs: &[CustomFieldDef],
    locale: &str,
    shown: &Shown<'_>,
) -> minijinja::Value {
    let value = |name: &str| shown.values.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let errors = shown.errors.map(|e| crate::pages::field_errors(e, locale)).unwrap_or_default();
    let fields: Vec<minijinja::Value> = definition
        .fields
        .iter()
        .map(|field| {
            let view = field.view(defs);
            let label = if locale == "en" { &view.label_en } else { &view.label_ja };
            context! {
                name => view.name, label => label, required => view.required, input => view.input,
                choices => view.choices, autocomplete => view.autocomplete,
                value => value(&field.target).unwrap_or_default(), error => errors.get(&field.target),
            }
        })
        .collect();
    let consents: Vec<minijinja::Value> = definition
        .consents
        .iter()
        .map(|c| {
            let name = format!("{CONSENT_PREFIX}{}", c.product_id);
            context! {
                name => name.clone(), label => if locale == "en" { &c.label_en } else { &c.label_ja },
                checked => value(&name).is_some(),
            }
        })
        .collect();
    let privacy = definition.privacy.as_ref().map(|p| {
        context! {
            name => hatake_domain::form::PRIVACY_FIELD, url => p.url,
            label => say(locale, "個人情報の取扱いに同意する", "I agree to the handling of my personal information"),
            link => say(locale, "プライバシーポリシー", "Privacy policy"),
            checked => value(hatake_domain::form::PRIVACY_FIELD).is_some(),
            error => errors.get(hatake_domain::form::PRIVACY_FIELD),
        }
    });
    context! {
        locale => locale, slug => form.slug, title => definition.name, fields => fields, consents => consents,
        privacy => privacy,
        has_errors => shown.errors.is_some(), action => shown.action, page_url => shown.page_url,
        referrer => shown.referrer, honeypot => HONEYPOT_FIELD,
        required_text => say(locale, "必須", "Required"),
        submit_text => say(locale, "送信する", "Send"),
        errors_text => say(locale, "入力内容をご確認ください。", "Please check the fields marked below."),
    }
}

/// A rendered page with its status (500 when a template fails: a bug).
pub(crate) fn rendered(
    state: &AppState,
    status: StatusCode,
    template: &str,
    context: minijinja::Value,
    definition: &FormDefinition,
) -> Response {
    match state.templates.render(template, context) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, page_policy(definition));
            response
        }
        Err(error) => {
            tracing::error!(%error, template, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ShowParams {
    lang: Option<String>,
}

/// The hosted page. Its own address (with any `utm_*` parameters) is what the submission
/// records as the page it came from.
async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::Query(params): axum::extract::Query<ShowParams>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let locale = locale_of(params.lang.as_deref(), headers);
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let defs = custom_defs(&state).await;
    let shown = Shown {
        values: &[],
        errors: None,
        action: format!("/f/{}", form.slug),
        page_url: format!("{}{}", crate::pages::origin(headers), request.uri()),
        referrer: headers.get(header::REFERER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
    };
    let context = form_context(&form, &definition, &defs, locale, &shown);
    rendered(&state, StatusCode::OK, "forms/public.html", context, &definition)
}

/// Where a submission came from.
struct Sender {
    ip: Option<String>,
    user_agent: Option<String>,
    origin: Option<String>,
    /// The host the request was sent to (a same-origin post needs no CORS).
    host: Option<String>,
    visitor_cookie: Option<String>,
}

impl Sender {
    fn of(request: &Request) -> Self {
        let headers = request.headers();
        let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self {
            ip: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()),
            user_agent: text(header::USER_AGENT),
            origin: text(header::ORIGIN),
            host: text(header::HOST),
            visitor_cookie: crate::tracking::visitor_cookie(headers),
        }
    }

    /// Whether the request comes from a page of hatake's own address (or from no page at all).
    fn is_same_origin(&self) -> bool {
        match (&self.origin, &self.host) {
            (None, _) => true,
            (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, h)| h.eq_ignore_ascii_case(host)),
            (Some(_), None) => false,
        }
    }
}

/// The outcome of a submission, for either kind of answer.
enum Outcome {
    /// Stored (and processed, or kept for a retry); with the secret to book a meeting by when
    /// the form ends with booking.
    Accepted {
        booking_token: Option<String>,
    },
    Invalid(FieldErrors),
    Limited {
        retry_after_secs: i64,
    },
    NotStored,
}

/// Checks, stores and processes a submission.
async fn accept(
    state: &AppState,
    form: &FormRow,
    definition: &FormDefinition,
    pairs: &[(String, String)],
    sender: &Sender,
) -> Outcome {
    let now = now_millis();
    let answer = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
    let clip = crate::tracking::clip;
    let spam = FormDefinition::is_honeypot_filled(pairs);
    let payload = if spam {
        // Kept as it came, for the record; never processed.
        let all: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .take(100)
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.chars().take(MAX_SPAM_CHARS).collect())))
            .collect();
        serde_json::Value::Object(all).to_string()
    } else {
        let defs = custom_defs(state).await;
        match definition.check(pairs, &defs) {
            Ok(checked) => serde_json::Value::Object(checked.payload).to_string(),
            Err(errors) => return Outcome::Invalid(errors),
        }
    };
    // Only what would be stored counts against the address: a person correcting their answers
    // is not slowed down, a robot that fills the form (or the honeypot) is.
    let key = format!("{}|{}", sender.ip.as_deref().unwrap_or("-"), form.id);
    if !state.form_limiter.allow(&key, now) {
        let wait = state.form_limiter.retry_after(&key, now);
        return Outcome::Limited { retry_after_secs: (wait + 999) / 1000 };
    }
    let booking_token = (definition.booking.is_some() && definition.product_id.is_some() && !spam)
        .then(crate::tracking::new_visitor_id);
    let visitor_id =
        answer("hk_vid").filter(|v| hatake_domain::event::is_visitor_id(v)).or_else(|| sender.visitor_cookie.clone());
    let submission = NewSubmission {
        form_id: form.id,
        form_version: form.version,
        status: if spam { "spam" } else { "pending" },
        payload,
        visitor_id,
        page_url: clip(answer("hk_url")),
        referrer: clip(answer("hk_ref")),
        ip: sender.ip.clone(),
        user_agent: clip(sender.user_agent.clone()),
        booking_token: booking_token.clone(),
    };
    let id = match state.store.insert_submission(&submission, now).await {
        Ok(id) => id,
        Err(error) => {
            tracing::error!(%error, form = form.id, "a form submission could not be stored");
            return Outcome::NotStored;
        }
    };
    if !spam {
        // Processed now; a failure is recorded on the stored submission and retried later.
        match state.store.get_submission(id).await {
            Ok(row) => {
                if let Err(error) =
                    hatake_engine::forms::process_and_record(state.store.as_ref(), &row, now, &state.zone()).await
                {
                    tracing::error!(%error, submission = id, "a form submission's failure could not be recorded");
                }
            }
            Err(error) => tracing::error!(%error, submission = id, "a stored submission could not be read"),
        }
    }
    Outcome::Accepted { booking_token }
}

fn not_stored_text(locale: &str) -> &'static str {
    say(
        locale,
        "送信を受け付けられませんでした。時間をおいて再度お送りください。",
        "Your submission could not be received; please send it again shortly.",
    )
}

fn limited_text(locale: &str) -> &'static str {
    say(
        locale,
        "短時間に送信が集中しています。しばらくしてから再度お送りください。",
        "Too many submissions from your network; please try again later.",
    )
}

async fn read_pairs(request: Request) -> Result<Vec<(String, String)>, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), crate::MAX_BODY_BYTES)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
    serde_urlencoded::from_bytes(&bytes).map_err(|_| StatusCode::BAD_REQUEST.into_response())
}

/// `POST /f/{slug}`: the hosted page's submission.
async fn submit_page(State(state): State<AppState>, Path(slug): Path<String>, request: Request) -> Response {
    let sender = Sender::of(&request);
    let headers = request.headers().clone();
    let pairs = match read_pairs(request).await {
        Ok(pairs) => pairs,
        Err(response) => return response,
    };
    let lang = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| v.clone());
    let locale = locale_of(lang.as_deref(), &headers);
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let text_page = |status: StatusCode, text: &'static str| {
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response()
    };
    match accept(&state, &form, &definition, &pairs, &sender).await {
        Outcome::Accepted { booking_token: Some(token) } => {
            Redirect::to(&format!("/f/{}/book?token={token}&lang={locale}", form.slug)).into_response()
        }
        Outcome::Accepted { booking_token: None } => match &definition.redirect_url {
            Some(url) => Redirect::to(url).into_response(),
            None => {
                let message = definition.thank_you(locale);
                let context = context! { locale => locale, title => definition.name, message => message };
                rendered(&state, StatusCode::OK, "forms/thanks.html", context, &definition)
            }
        },
        Outcome::Invalid(errors) => {
            let defs = custom_defs(&state).await;
            let answer = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
            let shown = Shown {
                values: &pairs,
                errors: Some(&errors),
                action: format!("/f/{}", form.slug),
                page_url: answer("hk_url"),
                referrer: answer("hk_ref"),
            };
            let context = form_context(&form, &definition, &defs, locale, &shown);
            rendered(&state, StatusCode::UNPROCESSABLE_ENTITY, "forms/public.html", context, &definition)
        }
        Outcome::Limited { retry_after_secs } => {
            let mut response = text_page(StatusCode::TOO_MANY_REQUESTS, limited_text(locale));
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Outcome::NotStored => text_page(StatusCode::SERVICE_UNAVAILABLE, not_stored_text(locale)),
    }
}

/// Whether a request may use the form: from hatake's own pages (or no page), from a site the
/// form lists (whose origin is echoed), or not at all.
enum Cors {
    SameOrigin,
    Allowed(HeaderValue),
    Refused,
}

impl Cors {
    fn of(definition: &FormDefinition, sender: &Sender) -> Self {
        if sender.is_same_origin() {
            return Self::SameOrigin;
        }
        let origin = sender.origin.as_deref().unwrap_or_default();
        match HeaderValue::from_str(origin) {
            Ok(value) if definition.allows_origin(origin) => Self::Allowed(value),
            _ => Self::Refused,
        }
    }

    fn origin(self) -> Option<HeaderValue> {
        match self {
            Self::Allowed(origin) => Some(origin),
            Self::SameOrigin | Self::Refused => None,
        }
    }
}

/// The answer to a site the form does not list.
fn refused(locale: &str) -> Response {
    let body = serde_json::json!({
        "ok": false,
        "code": "origin_not_allowed",
        "message": say(
            locale,
            "このサイトからはこのフォームを送信できません（フォームの「埋め込みを許可するサイト」に追加してください）。",
            "This form may not be used from this site (add it to the form's allowed sites).",
        ),
    });
    (StatusCode::FORBIDDEN, [(header::VARY, HeaderValue::from_static("Origin"))], axum::Json(body)).into_response()
}

fn with_cors(mut response: Response, origin: Option<HeaderValue>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

#[derive(serde::Deserialize, Default)]
pub struct EmbedParams {
    lang: Option<String>,
    url: Option<String>,
    r#ref: Option<String>,
}

/// `GET /f/{slug}/embed`: the form's HTML for the embedding script.
async fn embed(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::Query(params): axum::extract::Query<EmbedParams>,
    request: Request,
) -> Response {
    let sender = Sender::of(&request);
    let locale = locale_of(params.lang.as_deref(), request.headers());
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        // That a form is closed or missing is no secret: any site may read it, so the embedding
        // script can show it instead of a generic failure.
        Err(mut response) => {
            if matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::GONE) {
                response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            return response;
        }
    };
    let origin = match Cors::of(&definition, &sender) {
        Cors::Refused => return refused(locale),
        allowed => allowed.origin(),
    };
    let defs = custom_defs(&state).await;
    let shown = Shown {
        values: &[],
        errors: None,
        action: format!("{}/f/{}/submit", crate::pages::origin(request.headers()), form.slug),
        page_url: params.url.unwrap_or_default(),
        referrer: params.r#ref.unwrap_or_default(),
    };
    let context = form_context(&form, &definition, &defs, locale, &shown);
    let response = rendered(&state, StatusCode::OK, "forms/fields.html", context, &definition);
    with_cors(response, origin)
}

/// `OPTIONS /f/{slug}/submit`: a browser asking whether another site may post.
async fn preflight(State(state): State<AppState>, Path(slug): Path<String>, request: Request) -> Response {
    let sender = Sender::of(&request);
    let locale = locale_of(None, request.headers());
    let (_, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match Cors::of(&definition, &sender) {
        Cors::Refused => refused(locale),
        allowed => {
            let origin = allowed.origin();
            let mut response = StatusCode::NO_CONTENT.into_response();
            let headers = response.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            with_cors(response, origin)
        }
    }
}

/// `POST /f/{slug}/submit`: a submission from the embedded form, answered in JSON.
async fn submit_json(State(state): State<AppState>, Path(slug): Path<String>, request: Request) -> Response {
    let sender = Sender::of(&request);
    let headers = request.headers().clone();
    let pairs = match read_pairs(request).await {
        Ok(pairs) => pairs,
        Err(response) => return response,
    };
    let lang = pairs.iter().find(|(k, _)| k == "lang").map(|(_, v)| v.clone());
    let locale = locale_of(lang.as_deref(), &headers);
    let (form, definition) = match load(&state, &slug, locale).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let origin = match Cors::of(&definition, &sender) {
        Cors::Refused => return refused(locale),
        allowed => allowed.origin(),
    };
    let response = match accept(&state, &form, &definition, &pairs, &sender).await {
        Outcome::Accepted { booking_token } => {
            let message = definition.thank_you(locale);
            // With booking, the person goes on to the booking page on hatake.
            let redirect = match booking_token {
                Some(token) => {
                    Some(format!("{}/f/{}/book?token={token}&lang={locale}", crate::pages::origin(&headers), form.slug))
                }
                None => definition.redirect_url.clone(),
            };
            axum::Json(serde_json::json!({ "ok": true, "message": message, "redirect": redirect })).into_response()
        }
        Outcome::Invalid(errors) => {
            let fields: Vec<serde_json::Value> = errors
                .0
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "field": e.field, "code": e.code, "message": e.message(locale),
                        "message_ja": e.message_ja, "message_en": e.message_en,
                    })
                })
                .collect();
            let body = serde_json::json!({
                "ok": false,
                "message": say(locale, "入力内容をご確認ください。", "Please check the fields marked below."),
                "errors": fields,
            });
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
        }
        Outcome::Limited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            axum::Json(serde_json::json!({ "ok": false, "code": "rate_limited", "message": limited_text(locale) })),
        )
            .into_response(),
        Outcome::NotStored => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "ok": false, "code": "not_stored", "message": not_stored_text(locale) })),
        )
            .into_response(),
    };
    with_cors(response, origin)
}
