//! The signed-in user's own page: who they are, and changing their password.

use super::{render, route, PageError, PageForm};
use crate::auth::{hash_password, verify_password, CurrentUser};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{FieldError, FieldErrors};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/me", Access::SignedIn, get(page)),
        route("POST", "/me/password", Access::SignedIn, post(change_password)),
    ]
}

#[derive(Deserialize, Default)]
pub struct Done {
    changed: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(done): Query<Done>,
) -> Result<Html<String>, PageError> {
    show(&state, &user, &FieldErrors::default(), done.changed.is_some()).await
}

async fn show(
    state: &AppState,
    user: &CurrentUser,
    errors: &FieldErrors,
    changed: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let errors = super::field_errors(errors, locale);
    render(state, user, "me.html", "me", context! { errors => errors, changed => changed }).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

/// Checks the current password and the new one twice; every problem is named.
fn check(form: &PasswordForm, current_ok: bool) -> FieldErrors {
    let mut errors = FieldErrors::default();
    if !current_ok {
        errors.push(FieldError::new(
            "current",
            "wrong_password",
            "現在のパスワードが正しくありません。",
            "The current password is wrong.",
        ));
    }
    if let Err(error) = hatake_domain::user::check_password(&form.new) {
        errors.push(error.under("new"));
    }
    if form.new != form.confirm {
        errors.push(FieldError::new(
            "confirm",
            "mismatch",
            "確認用のパスワードが一致しません。",
            "The two new passwords differ.",
        ));
    }
    errors
}

async fn change_password(State(state): State<AppState>, form: PageForm<PasswordForm>) -> Response {
    let user = &form.user;
    let errors = check(&form.data, verify_password(&form.data.current, &user.user.password_hash));
    if !errors.is_empty() {
        return match show(&state, user, &errors, false).await {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        };
    }
    let Ok(hash) = hash_password(&form.data.new) else { return PageError::internal(user.locale()).into_response() };
    if let Err(error) = state.store.set_user_password(user.user.id, &hash, now_millis()).await {
        return PageError::from_store(error, user.locale()).into_response();
    }
    tracing::info!(user = user.user.id, "password changed");
    Redirect::to("/me?changed=1").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named() {
        let form = PasswordForm { current: "x".into(), new: "short".into(), confirm: "other".into() };
        let fields: Vec<String> = check(&form, false).0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["current", "new", "confirm"]);
        let form =
            PasswordForm { current: "x".into(), new: "long enough now".into(), confirm: "long enough now".into() };
        assert!(check(&form, true).is_empty());
    }
}
