//! Web tracking for the organisation's own site: `GET /t.js`, a small script (written here, no
//! third-party code) that gives each browser a first-party visitor id (a cookie of the site it
//! runs on) and reports each page view with its URL, referrer and title; and `GET /t/p.gif`,
//! the 1×1 pixel it reports to, which also works alone (`<noscript><img …>`). Hits from known
//! bots and from the organisation's own IP ranges (settings: `tracking.internal_ranges`) are
//! not counted. The pixel always answers with the image, whatever it recorded.
//!
//! Mail's own tracking: `GET /m/c/{token}?u=URL`, a link in a mail (signed for its lead, mail and
//! URL), records a `mail_click` for the lead — with the browser's visitor id, so the visits it
//! made before anyone knew who it was join the lead — and redirects; `GET /m/o/{token}` is the
//! open pixel (`mail_open`).

use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use hatake_domain::tracking::{is_bot, IpRanges};
use hatake_domain::EventKind;
use hatake_store::{EventLead, NewEvent, PendingEvent, Store};
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the organisation's own IP ranges are kept (one per line, see [`IpRanges::parse`]).
pub const SETTING_INTERNAL_RANGES: &str = "tracking.internal_ranges";

/// The cookie that carries the visitor id where the pixel is used without the script.
const VISITOR_COOKIE: &str = "hk_vid";

const SCRIPT: &str = include_str!("../static/t.js");

/// A transparent 1×1 GIF.
const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// Longest URL, referrer or title kept.
const MAX_TEXT: usize = 2_000;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/t.js", Access::Public, get(script)),
        route("GET", "/t/p.gif", Access::Public, get(pixel)),
        route("GET", "/t/l/{code}", Access::Public, get(link)),
        route("GET", "/m/c/{token}", Access::Public, get(mail_click)),
        route("GET", "/m/o/{token}", Access::Public, get(mail_open)),
    ]
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        SCRIPT,
    )
        .into_response()
}

/// What the script (or a hand-written pixel) sends. Read leniently (the first of a repeated
/// parameter counts): the pixel answers with its image whatever it was sent.
#[derive(Debug, Default)]
pub struct Hit {
    /// The visitor id.
    v: Option<String>,
    /// The page's URL.
    u: Option<String>,
    /// Its referrer.
    r: Option<String>,
    /// Its title.
    t: Option<String>,
}

pub(crate) fn clip(text: Option<String>) -> Option<String> {
    text.map(|t| t.chars().take(MAX_TEXT).collect::<String>()).filter(|t| !t.is_empty())
}

/// The page view's properties: url, referrer, title and the URL's `utm_*` parameters.
fn properties(hit: &Hit) -> serde_json::Map<String, serde_json::Value> {
    let mut properties = serde_json::Map::new();
    for (key, value) in [("url", &hit.u), ("referrer", &hit.r), ("title", &hit.t)] {
        if let Some(value) = clip(value.clone()) {
            properties.insert(key.into(), value.into());
        }
    }
    let url = clip(hit.u.clone()).unwrap_or_default();
    for (key, value) in hatake_domain::tracking::utm_parameters(&url) {
        properties.insert(key, clip(Some(value)).unwrap_or_default().into());
    }
    properties
}

pub(crate) fn visitor_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == VISITOR_COOKIE && hatake_domain::event::is_visitor_id(value)).then(|| value.to_owned())
    })
}

/// 16 random bytes as 32 hex digits (a visitor id, a booking token).
pub(crate) fn new_visitor_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The visitor of a hit: the id the script sent, else the one in hatake's own cookie, else a
/// new one (returned second, to be set as that cookie). An id that cannot be one: none.
fn visitor_of(sent: Option<&str>, headers: &HeaderMap) -> (Option<String>, Option<String>) {
    match sent.filter(|v| hatake_domain::event::is_visitor_id(v)) {
        Some(v) => (Some(v.to_owned()), None),
        None if sent.is_some() => (None, None),
        None => match visitor_cookie(headers) {
            Some(v) => (Some(v), None),
            None => {
                let v = new_visitor_id();
                (Some(v.clone()), Some(v))
            }
        },
    }
}

/// Records a page view unless it comes from a bot or the organisation's own network. The view is
/// written with those of concurrent hits (and API batches) in one transaction
/// ([`hatake_engine::runtime::event_writer`]); the hit is answered after that committed, or after [`HIT_WAIT`].
async fn record_view(
    state: &AppState,
    from: Origin,
    visitor: Option<String>,
    product_id: Option<i64>,
    properties: serde_json::Map<String, serde_json::Value>,
) {
    let Some(visitor) = visitor else { return };
    if is_bot(from.agent.as_deref()) || is_internal(state, from.address).await {
        return;
    }
    let now = now_millis();
    let event = NewEvent {
        kind: EventKind::PageView.as_str(),
        lead_id: None,
        visitor_id: Some(visitor),
        product_id,
        occurred_at: now,
        source: Some("web".into()),
        name: None,
        properties: serde_json::Value::Object(properties).to_string(),
        idempotency_key: None,
    };
    let pending = PendingEvent { lead: EventLead::None, event };
    let answer = match state.runtime.events().submit(vec![pending], now).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(%error, "a page view was not recorded");
            return;
        }
    };
    // Answered once the view is committed, or after HIT_WAIT at most: the view stays queued
    // and is committed right after. (The image answers the same whatever was recorded.)
    match tokio::time::timeout(HIT_WAIT, answer).await {
        Ok(Ok(Ok(_))) | Err(_) => {}
        Ok(Ok(Err(error))) => tracing::warn!(%error, "a page view was not recorded"),
        Ok(Err(_)) => tracing::warn!("a page view was not recorded: the event writer stopped"),
    }
}

/// How long a hit waits for the commit of its page view. Commits take a millisecond or two;
/// while SQLite copies its write-ahead log back into the database (every few hundred MB of
/// log) one can take a few hundred, and the hits of that moment are answered meanwhile.
pub const HIT_WAIT: std::time::Duration = std::time::Duration::from_millis(10);

/// Where a hit came from: the peer's address and the user agent.
struct Origin {
    address: Option<std::net::IpAddr>,
    agent: Option<String>,
}

impl Origin {
    fn of(request: &Request) -> Self {
        Self {
            address: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
            agent: request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        }
    }
}

/// Sets hatake's own visitor cookie. Over HTTPS (`secure_cookies`) it is sent along with the
/// organisation's pages (`SameSite=None; Secure`); over plain HTTP browsers keep only a `Lax`
/// cookie, which a tracked link's click still carries.
fn with_visitor_cookie(state: &AppState, mut response: Response, set_cookie: Option<String>) -> Response {
    let attributes = if state.config.secure_cookies { "SameSite=None; Secure" } else { "SameSite=Lax" };
    // Path=/: the hosted form pages (/f/…) read it too, so a visitor who followed a tracked link
    // to a hosted form is linked to the lead the form makes.
    let cookie = set_cookie.map(|v| format!("{VISITOR_COOKIE}={v}; Path=/; Max-Age=63072000; {attributes}"));
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `/t/l/{code}`: records the visit (with the link's product) and redirects to the link's
/// target, adding the parameters the link was called with.
async fn link(
    State(state): State<AppState>,
    axum::extract::Path(code): axum::extract::Path<String>,
    request: Request,
) -> Response {
    let link = match state.store.tracked_link(&code).await {
        Ok(Some(link)) => link,
        Ok(None) => return (axum::http::StatusCode::NOT_FOUND, "no such link / リンクがありません\n").into_response(),
        Err(error) => {
            tracing::warn!(%error, "a tracked link could not be read");
            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try again / 再度お試しください\n").into_response();
        }
    };
    let target = hatake_domain::tracking::redirect_target(&link.target_url, request.uri().query());
    let (visitor, set_cookie) = visitor_of(None, request.headers());
    let referrer = request.headers().get(header::REFERER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut view = properties(&Hit { v: None, u: Some(target.clone()), r: referrer, t: None });
    view.insert("link".into(), link.code.clone().into());
    view.insert("link_name".into(), link.name.clone().into());
    let from = Origin::of(&request);
    drop(request);
    record_view(&state, from, visitor, link.product_id, view).await;
    let response = match HeaderValue::from_str(&target) {
        Ok(location) => (
            axum::http::StatusCode::FOUND,
            [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        )
            .into_response(),
        Err(_) => (axum::http::StatusCode::BAD_REQUEST, "bad target / リンク先が不正です\n").into_response(),
    };
    with_visitor_cookie(&state, response, set_cookie)
}

impl Hit {
    fn from_query(query: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> = query.and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
        let first = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Self { v: first("v"), u: first("u"), r: first("r"), t: first("t") }
    }
}

async fn pixel(State(state): State<AppState>, request: Request) -> Response {
    let hit = Hit::from_query(request.uri().query());
    // Without the script, the pixel keeps its own visitor id in a cookie of hatake's site.
    let (visitor, set_cookie) = visitor_of(hit.v.as_deref(), request.headers());
    let from = Origin::of(&request);
    drop(request);
    record_view(&state, from, visitor, None, properties(&hit)).await;
    let response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store, max-age=0")),
        ],
        PIXEL.as_slice(),
    )
        .into_response();
    with_visitor_cookie(&state, response, set_cookie)
}

/// Whether the hit comes from the organisation's own network.
async fn is_internal(state: &AppState, address: Option<std::net::IpAddr>) -> bool {
    let Some(address) = address else { return false };
    state.internal_ranges.get(state.store.as_ref()).await.is_some_and(|ranges| ranges.contains(address))
}

/// How long the organisation's IP ranges are used before they are read again: a change under
/// Settings → Web tracking (or by another server process) counts within this time.
pub const INTERNAL_RANGES_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The organisation's own IP ranges (setting [`SETTING_INTERNAL_RANGES`]), kept for
/// [`INTERNAL_RANGES_TTL`] instead of being read for every hit. While one hit reads them
/// again, the others use the ranges read before.
#[derive(Default)]
pub struct InternalRanges {
    /// When the ranges were read, and what they were (`None`: no valid setting).
    read: std::sync::RwLock<Option<(std::time::Instant, Option<Arc<IpRanges>>)>>,
    reading: tokio::sync::Mutex<()>,
}

impl InternalRanges {
    /// The ranges in force.
    pub async fn get(&self, store: &dyn Store) -> Option<Arc<IpRanges>> {
        let fresh = |read: &Option<(std::time::Instant, Option<Arc<IpRanges>>)>| {
            read.as_ref().filter(|(at, _)| at.elapsed() < INTERNAL_RANGES_TTL).map(|(_, ranges)| ranges.clone())
        };
        let current = self.read.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some(ranges) = fresh(&current) {
            return ranges;
        }
        let Ok(_reading) = self.reading.try_lock() else {
            // Another hit is reading them: the ranges read before meanwhile, unless there are none.
            match current {
                Some((_, ranges)) => return ranges,
                None => return self.read_now(store).await,
            }
        };
        // Read by the hit that held the lock before this one?
        if let Some(ranges) = fresh(&self.read.read().unwrap_or_else(std::sync::PoisonError::into_inner)) {
            return ranges;
        }
        self.read_now(store).await
    }

    async fn read_now(&self, store: &dyn Store) -> Option<Arc<IpRanges>> {
        let ranges = match store.get_setting(SETTING_INTERNAL_RANGES).await {
            Ok(text) => text.and_then(|text| IpRanges::parse(&text).ok()).map(Arc::new),
            Err(error) => {
                // Counted rather than lost; read again at the next hit.
                tracing::warn!(%error, "the internal IP ranges could not be read");
                return None;
            }
        };
        *self.read.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), ranges.clone()));
        ranges
    }
}

/// Records an event of a known lead (a mail's click or open). A click by a bot (a link scanner)
/// is not counted; an open is, whoever fetched the image (mail providers fetch it for their
/// readers).
async fn record_mail_event(
    state: &AppState,
    kind: EventKind,
    lead_id: i64,
    visitor: Option<String>,
    properties: serde_json::Value,
    agent: Option<&str>,
) {
    if kind == EventKind::MailClick && is_bot(agent) {
        return;
    }
    let now = now_millis();
    let event = NewEvent {
        kind: kind.as_str(),
        lead_id: Some(lead_id),
        visitor_id: visitor,
        product_id: None,
        occurred_at: now,
        source: Some("mail".into()),
        name: None,
        properties: properties.to_string(),
        idempotency_key: None,
    };
    let pending = PendingEvent { lead: EventLead::Id(lead_id), event };
    match state.runtime.events().submit(vec![pending], now).await {
        Ok(answer) => match tokio::time::timeout(HIT_WAIT, answer).await {
            Ok(Ok(Ok(_))) | Err(_) => {}
            Ok(Ok(Err(error))) => tracing::warn!(%error, lead_id, "a mail event was not recorded"),
            Ok(Err(_)) => tracing::warn!("a mail event was not recorded: the event writer stopped"),
        },
        Err(error) => tracing::warn!(%error, "a mail event was not recorded"),
    }
}

/// The newsletter a mail reference names (`n12`).
fn newsletter_of(mail: &str) -> Option<i64> {
    mail.strip_prefix('n').and_then(|id| id.parse().ok())
}

async fn link_key(state: &AppState) -> Option<Vec<u8>> {
    match hatake_engine::mail::subscriptions::link_key(state.store.as_ref(), now_millis()).await {
        Ok(key) => Some(key),
        Err(error) => {
            tracing::warn!(%error, "the link key could not be read");
            None
        }
    }
}

/// `/m/c/{token}?u=URL`: a link in a mail. A signature that does not hold for the URL gets an
/// explanation, never a redirect (no open redirect).
async fn mail_click(
    State(state): State<AppState>,
    axum::extract::Path(token): axum::extract::Path<String>,
    request: Request,
) -> Response {
    let pairs: Vec<(String, String)> =
        request.uri().query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let url = pairs.into_iter().find(|(k, _)| k == "u").map(|(_, v)| v).unwrap_or_default();
    let Some(key) = link_key(&state).await else {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "try again / 再度お試しください\n").into_response();
    };
    let Some((lead_id, mail)) = hatake_engine::mail::template::verify_click(&key, &token, &url) else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            "このリンクは無効です（メールの一部が欠けているか、変更されています）。\nThis link is not valid.\n",
        )
            .into_response();
    };
    let (visitor, set_cookie) = visitor_of(None, request.headers());
    let agent = request.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    drop(request);
    let properties = serde_json::json!({ "url": clip(Some(url.clone())), "mail": mail });
    if !is_bot(agent.as_deref()) {
        if let Some(newsletter) = newsletter_of(&mail) {
            if let Err(error) = state.store.newsletter_clicked(newsletter, lead_id, &url, now_millis()).await {
                tracing::warn!(%error, "a newsletter click was not counted");
            }
        }
    }
    record_mail_event(&state, EventKind::MailClick, lead_id, visitor, properties, agent.as_deref()).await;
    let response = match HeaderValue::from_str(&url) {
        Ok(location) => (
            axum::http::StatusCode::FOUND,
            [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        )
            .into_response(),
        Err(_) => (axum::http::StatusCode::BAD_REQUEST, "bad target / リンク先が不正です\n").into_response(),
    };
    with_visitor_cookie(&state, response, set_cookie)
}

/// `/m/o/{token}`: the open pixel of a mail; always the image.
async fn mail_open(State(state): State<AppState>, axum::extract::Path(token): axum::extract::Path<String>) -> Response {
    if let Some(key) = link_key(&state).await {
        if let Some((lead_id, mail)) = hatake_engine::mail::template::verify_open(&key, &token) {
            if let Some(newsletter) = newsletter_of(&mail) {
                if let Err(error) = state.store.newsletter_opened(newsletter, lead_id, now_millis()).await {
                    tracing::warn!(%error, "a newsletter open was not counted");
                }
            }
            let properties = serde_json::json!({ "mail": mail });
            record_mail_event(&state, EventKind::MailOpen, lead_id, None, properties, None).await;
        }
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store, max-age=0")),
        ],
        PIXEL.as_slice(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_keep_the_page_and_its_campaign() {
        let hit = Hit {
            v: None,
            u: Some("https://example.jp/erp?utm_source=mail&utm_campaign=%E7%A7%8B&x=1#top".into()),
            r: Some("https://www.google.com/".into()),
            t: Some("クラウドERP".into()),
        };
        let p = properties(&hit);
        assert_eq!(p["utm_source"], "mail");
        assert_eq!(p["utm_campaign"], "秋");
        assert_eq!(p["title"], "クラウドERP");
        assert!(!p.contains_key("x"));
        assert_eq!(properties(&Hit::default()), serde_json::Map::new());
    }

    #[test]
    fn the_script_is_small_and_the_pixel_a_gif() {
        assert!(SCRIPT.len() < 4096, "{} bytes", SCRIPT.len());
        assert!(PIXEL.starts_with(b"GIF89a") && PIXEL.ends_with(b";"));
        assert_eq!(new_visitor_id().len(), 32);
        assert!(hatake_domain::event::is_visitor_id(&new_visitor_id()));
    }
}
