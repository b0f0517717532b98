//! hatake's HTTP side: the signed-in, server-rendered UI, the `/api/v1` JSON API and the
//! public endpoints, all on one axum router. Every route is listed once in [`routes`], with
//! who may reach it; a test walks that table.

pub mod api;
pub mod auth;
pub mod error;
pub mod i18n;
pub mod limits;
pub mod mail_hooks;
mod multipart;
pub mod pages;
pub mod public_booking;
pub mod public_forms;
pub mod public_subscriptions;
mod render;
pub mod service;
pub mod tracking;
pub mod uploads;

use axum::extract::DefaultBodyLimit;
use axum::routing::MethodRouter;
use axum::Router;
use hatake_domain::Role;
use hatake_store::Store;
use std::sync::Arc;

pub use render::{format_number, Templates};

/// Requests larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The one exception: a CSV file uploaded for import (`POST /imports`) may be this large.
pub const MAX_UPLOAD_BYTES: usize = 50 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` (set when the public URL is HTTPS).
    pub secure_cookies: bool,
    /// The organisation's time zone for showing times (IANA name).
    pub time_zone: String,
    /// Where mail goes when the server's configuration says so (shown, without the password,
    /// on the mail settings page, which then cannot change it).
    pub mail: Option<hatake_engine::mail::config::MailConfig>,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<WebConfig>,
    pub templates: Arc<Templates>,
    pub login_throttle: Arc<auth::LoginThrottle>,
    /// Submissions per address and form ([`public_forms`]).
    pub form_limiter: Arc<limits::RateLimiter>,
    /// Files uploaded for import, kept until they are imported or expire (per process; see
    /// [`uploads`]).
    pub uploads: Arc<uploads::PendingUploads>,
    /// The engine's background work: the event writer (group commit of API batches and
    /// tracking hits), wake signals, the clock ([`hatake_engine::runtime`]).
    pub runtime: hatake_engine::runtime::RuntimeHandle,
    /// The organisation's own IP ranges, read again every few seconds ([`tracking`]).
    pub internal_ranges: Arc<tracking::InternalRanges>,
}

impl AppState {
    /// # Errors
    /// When a template does not parse.
    pub fn new(
        store: Arc<dyn Store>,
        runtime: hatake_engine::runtime::RuntimeHandle,
        config: WebConfig,
    ) -> Result<Self, minijinja::Error> {
        let templates = Templates::load(&config.time_zone)?;
        Ok(Self {
            store,
            config: Arc::new(config),
            templates: Arc::new(templates),
            login_throttle: Arc::new(auth::LoginThrottle::default()),
            form_limiter: Arc::new(public_forms::limiter()),
            uploads: Arc::new(uploads::PendingUploads::default()),
            runtime,
            internal_ranges: Arc::new(tracking::InternalRanges::default()),
        })
    }
}

impl AppState {
    /// The organisation's time zone (Asia/Tokyo when the configured one is unknown).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.config.time_zone)
            .unwrap_or_else(|_| jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC))
    }
}

/// Who may reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (sign-in page, health check, static files, the OpenAPI document).
    Public,
    /// Any signed-in user; otherwise a redirect to the sign-in page.
    SignedIn,
    /// Admins and marketers: the organisation's configuration (products, fields).
    Configure,
    /// Admins and marketers: importing files and undoing imports (anyone signed in may look).
    Import,
    /// Admins, marketers and inside sales: deciding possible duplicates (名寄せ) and undoing
    /// merges.
    Review,
    /// Admins only: users and API tokens.
    Admin,
    /// A valid API token; otherwise 401. Per-role checks happen inside (e.g. deletes).
    Api,
}

impl Access {
    /// Whether a signed-in user of this role passes the route's role check (routes that check
    /// no role let every role pass).
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::SignedIn | Access::Api => true,
            Access::Configure => role.can_configure(),
            Access::Import => can_import(role),
            Access::Review => can_review(role),
            Access::Admin => role.can_manage_users(),
        }
    }
}

/// Who may import files and undo imports: the people who acquire lists (marketing) and admins.
pub fn can_import(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Marketer)
}

/// Who decides whether two records are one person: the people who work the leads before they
/// go to field sales.
pub fn can_review(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Marketer | Role::InsideSales)
}

/// One route: method, path (axum syntax) and access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Every route of the server, with its handler.
pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    let mut all = pages::routes();
    all.extend(api::routes());
    all.extend(tracking::routes());
    all.extend(public_forms::routes());
    all.extend(public_subscriptions::routes());
    all.extend(mail_hooks::routes());
    all
}

/// Every route's method, path and access, for documentation and tests.
pub fn route_table() -> Vec<RouteSpec> {
    routes().into_iter().map(|(spec, _)| spec).collect()
}

pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (spec, method_router) in routes() {
        // Role checks for configuration and administration are enforced here, from the table,
        // as well as in the handlers.
        let method_router = match spec.access {
            Access::Configure | Access::Import | Access::Review | Access::Admin => method_router
                .route_layer(axum::middleware::from_fn_with_state((state.clone(), spec.access), pages::require_access)),
            Access::Public | Access::SignedIn | Access::Api => method_router,
        };
        router = router.route(spec.path, method_router);
    }
    router
        .fallback(pages::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(pages::security_headers))
        .with_state(state)
}

/// Whether `name` is a time zone this build knows (IANA names such as `Asia/Tokyo`).
pub fn valid_time_zone(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Serves until `shutdown` resolves. Background work runs in the engine's runtime, which
/// whoever serves starts and stops around this (`hatake serve`).
///
/// # Errors
/// When the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address is for web tracking's internal IP ranges.
    axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
