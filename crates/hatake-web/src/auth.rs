//! Sign-in: argon2 password hashes, session cookies (only a SHA-256 of the session token is
//! stored), CSRF tokens bound to the session, and API bearer tokens (stored hashed).

use crate::error::ApiError;
use crate::{now_millis, AppState};
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hatake_store::UserRow;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "hatake_session";
pub const LOGIN_CSRF_COOKIE: &str = "hatake_login_csrf";
/// Sessions last two weeks.
pub const SESSION_MILLIS: i64 = 14 * 24 * 3600 * 1000;
pub const API_TOKEN_PREFIX: &str = "hk_";

/// # Errors
/// Only if the hasher fails, which it does not for valid parameters.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A fresh random token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of a request cookie.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure when the server is reached over HTTPS.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// Slows down password guessing: after [`LoginThrottle::MAX_FAILURES`] failed sign-ins for one
/// address within [`LoginThrottle::WINDOW_MILLIS`], that address is refused until the window
/// ends. Kept per process (several servers each apply it; the limit still bounds guessing).
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, i64)>>,
}

impl LoginThrottle {
    pub const MAX_FAILURES: u32 = 5;
    pub const WINDOW_MILLIS: i64 = 15 * 60 * 1000;

    fn key(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// Whether the address may try now.
    pub fn allows(&self, email: &str, now: i64) -> bool {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(&Self::key(email)) {
            Some((count, since)) => *count < Self::MAX_FAILURES || now - since > Self::WINDOW_MILLIS,
            None => true,
        }
    }

    pub fn record_failure(&self, email: &str, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| now - *since <= Self::WINDOW_MILLIS);
        }
        let entry = failures.entry(Self::key(email)).or_insert((0, now));
        if now - entry.1 > Self::WINDOW_MILLIS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn record_success(&self, email: &str) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&Self::key(email));
    }
}

/// The signed-in user of a page request. Without a valid session, pages redirect to the
/// sign-in page (and come back afterwards).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: UserRow,
    pub csrf_token: String,
}

impl CurrentUser {
    pub fn locale(&self) -> &'static str {
        self.user.locale().as_str()
    }
}

pub enum AuthRejection {
    Redirect(String),
    Internal,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Redirect(to) => Redirect::to(&to).into_response(),
            AuthRejection::Internal => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let login = || {
            let next = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let next = if parts.method == axum::http::Method::GET { next } else { "/" };
            AuthRejection::Redirect(format!("/login?next={}", crate::pages::url_encode(next)))
        };
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE) else { return Err(login()) };
        match state.store.get_session(&token_hash(token), now_millis()).await {
            Ok(Some(session)) => {
                let current = CurrentUser { user: session.user, csrf_token: session.csrf_token };
                parts.extensions.insert(current.clone());
                Ok(current)
            }
            Ok(None) => Err(login()),
            Err(error) => {
                tracing::error!(%error, "session lookup failed");
                Err(AuthRejection::Internal)
            }
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Ok(<CurrentUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await.ok())
    }
}

/// The user behind an API request's bearer token; 401 without a valid one.
#[derive(Debug, Clone)]
pub struct ApiUser(pub UserRow);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = header.strip_prefix("Bearer ").map(str::trim).unwrap_or("");
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Err(ApiError::unauthorized());
        }
        match state.store.find_api_token_user(&token_hash(token), now_millis()).await {
            Ok(Some(user)) => Ok(ApiUser(user)),
            Ok(None) => Err(ApiError::unauthorized()),
            Err(error) => Err(ApiError::from_store(error, "token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_after_repeated_failures_and_forgets_after_the_window() {
        let throttle = LoginThrottle::default();
        for _ in 0..LoginThrottle::MAX_FAILURES {
            assert!(throttle.allows("A@x.jp", 0));
            throttle.record_failure("a@x.jp", 0);
        }
        assert!(!throttle.allows("a@X.jp", 1000));
        assert!(throttle.allows("other@x.jp", 1000));
        assert!(throttle.allows("a@x.jp", LoginThrottle::WINDOW_MILLIS + 1));
        throttle.record_success("a@x.jp");
        assert!(throttle.allows("a@x.jp", 1000));
    }

    #[test]
    fn passwords_and_tokens() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(token_hash("abc").len(), 64);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
    }
}
