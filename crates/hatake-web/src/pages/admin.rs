//! Admin pages: users (add, rename, change role, deactivate) and API tokens (create, shown
//! once, revoke).

use super::field_errors;
use super::{render, route, PageError, PageForm};
use crate::auth::{hash_password, random_token, token_hash, CurrentUser, API_TOKEN_PREFIX};
use crate::service::SaveError;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::text::nfkc_trim;
use hatake_domain::{FieldError, FieldErrors, NewUser, Role};
use hatake_store::UserRow;
use minijinja::context;
use serde::{Deserialize, Serialize};

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/admin/users", Access::Admin, get(users)),
        route("POST", "/admin/users", Access::Admin, post(create_user)),
        route("POST", "/admin/users/{id}", Access::Admin, post(update_user)),
        route("GET", "/admin/tokens", Access::Admin, get(tokens)),
        route("POST", "/admin/tokens", Access::Admin, post(create_token)),
        route("POST", "/admin/tokens/{id}/revoke", Access::Admin, post(revoke_token)),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct DoneParams {
    saved: Option<String>,
    revoked: Option<String>,
}

#[derive(Deserialize, Serialize, Default, Debug)]
#[serde(default)]
pub struct NewUserForm {
    email: String,
    display_name: String,
    role: String,
    #[serde(skip_serializing)]
    password: String,
}

#[derive(Deserialize, Serialize, Default, Debug)]
#[serde(default)]
pub struct UserForm {
    display_name: String,
    role: String,
    /// A checkbox: absent means off.
    active: Option<String>,
    /// Blank keeps the password; otherwise the admin sets a new one (and the user is signed out).
    #[serde(skip_serializing)]
    new_password: String,
}

#[derive(Deserialize, Serialize, Default, Debug)]
#[serde(default)]
pub struct TokenForm {
    name: String,
    user_id: String,
}

/// A form that failed on the users page: the new-user form (`id` None) or a user's row.
struct Failed<'a, T> {
    id: Option<i64>,
    form: &'a T,
    errors: &'a FieldErrors,
}

fn roles(locale: &str) -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), r.label(locale))).collect()
}

async fn users(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<DoneParams>,
) -> Result<Html<String>, PageError> {
    if !user.user.role().can_manage_users() {
        return Err(PageError::forbidden(user.locale()));
    }
    users_page(&state, &user, params.saved.is_some(), None::<Failed<'_, NewUserForm>>, None).await
}

async fn users_page(
    state: &AppState,
    user: &CurrentUser,
    saved: bool,
    new_failed: Option<Failed<'_, NewUserForm>>,
    row_failed: Option<Failed<'_, UserForm>>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let all = state.store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = all
        .iter()
        .map(|u| {
            let mine = row_failed.as_ref().filter(|f| f.id == Some(u.id));
            let form = match mine {
                Some(f) => context! { display_name => f.form.display_name, role => f.form.role, active => f.form.active.is_some() },
                None => context! { display_name => u.display_name, role => u.role().as_str(), active => u.active },
            };
            context! { row => u, role_label => u.role().label(locale), is_me => u.id == user.user.id, form => form,
                errors => mine.map(|f| field_errors(f.errors, locale)).unwrap_or_default(), open => mine.is_some() }
        })
        .collect();
    let empty = NewUserForm { role: Role::FieldSales.as_str().into(), ..NewUserForm::default() };
    render(
        state,
        user,
        "admin/users.html",
        "users",
        context! {
            users => rows,
            roles => roles(locale),
            new_form => new_failed.as_ref().map_or(&empty, |f| f.form),
            new_errors => new_failed.as_ref().map(|f| field_errors(f.errors, locale)).unwrap_or_default(),
            has_errors => new_failed.is_some() || row_failed.is_some(),
            saved => saved,
        },
    )
    .await
}

/// A page re-rendered with 422 after a form failed.
fn unprocessable(page: Result<Html<String>, PageError>) -> Response {
    match page {
        Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn create_user(State(state): State<AppState>, form: PageForm<NewUserForm>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_manage_users() {
        return PageError::forbidden(locale).into_response();
    }
    let f = &form.data;
    let result = match NewUser::parse(&f.email, &f.display_name, &f.role, &f.password) {
        Ok(new_user) => match hash_password(&f.password) {
            Ok(hash) => state.store.create_user(&new_user, &hash, now_millis()).await.map_err(SaveError::from),
            Err(error) => {
                tracing::error!(%error, "password hashing failed");
                return PageError::internal(locale).into_response();
            }
        },
        Err(errors) => Err(SaveError::Invalid(errors)),
    };
    match result {
        Ok(_) => Redirect::to("/admin/users?saved=1").into_response(),
        Err(SaveError::Invalid(errors)) => {
            let failed = Failed { id: None, form: f, errors: &errors };
            unprocessable(users_page(&state, &form.user, false, Some(failed), None).await)
        }
        Err(SaveError::NotFound) => PageError::not_found(locale).into_response(),
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

/// Checks a user's changes; an admin may neither deactivate nor demote themselves.
fn check_user_form(form: &UserForm, is_me: bool) -> Result<(String, Role, bool), FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = nfkc_trim(&form.display_name);
    if name.is_empty() {
        errors.push(FieldError::required("display_name"));
    } else if name.chars().count() > 100 {
        errors.push(FieldError::too_long("display_name", 100));
    }
    let role = errors.take(Role::parse(&form.role));
    let active = form.active.is_some();
    if !form.new_password.is_empty() {
        if let Err(error) = hatake_domain::user::check_password(&form.new_password) {
            errors.push(error.under("new_password"));
        }
    }
    if is_me && role.is_some_and(|r| !r.can_manage_users()) {
        errors.push(FieldError::new(
            "role",
            "cannot_demote_self",
            "自分自身のロールを管理者から変更することはできません。別の管理者に依頼してください。",
            "You cannot take away your own admin role. Ask another admin.",
        ));
    }
    if is_me && !active {
        errors.push(FieldError::new(
            "active",
            "cannot_deactivate_self",
            "自分自身を無効にすることはできません。",
            "You cannot deactivate your own account.",
        ));
    }
    match role {
        Some(role) if errors.is_empty() => Ok((name, role, active)),
        _ => Err(errors),
    }
}

async fn update_user(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<UserForm>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_manage_users() {
        return PageError::forbidden(locale).into_response();
    }
    let store = state.store.as_ref();
    let (name, role, active) = match check_user_form(&form.data, id == form.user.user.id) {
        Ok(checked) => checked,
        Err(errors) => {
            let failed = Failed { id: Some(id), form: &form.data, errors: &errors };
            return unprocessable(users_page(&state, &form.user, false, None, Some(failed)).await);
        }
    };
    if let Err(error) = store.update_user(id, &name, role, active, now_millis()).await {
        return PageError::from_store(error, locale).into_response();
    }
    let new_password = !form.data.new_password.is_empty();
    if new_password {
        let hash = match crate::auth::hash_password(&form.data.new_password) {
            Ok(hash) => hash,
            Err(_) => return PageError::internal(locale).into_response(),
        };
        if let Err(error) = store.set_user_password(id, &hash, now_millis()).await {
            return PageError::from_store(error, locale).into_response();
        }
    }
    if !active || (new_password && id != form.user.user.id) {
        // A deactivated user, or one whose password an admin reset, is signed out everywhere.
        if let Err(error) = store.delete_user_sessions(id).await {
            return PageError::from_store(error, locale).into_response();
        }
    }
    Redirect::to("/admin/users?saved=1").into_response()
}

async fn tokens(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<DoneParams>,
) -> Result<Html<String>, PageError> {
    if !user.user.role().can_manage_tokens() {
        return Err(PageError::forbidden(user.locale()));
    }
    tokens_page(&state, &user, &TokenForm::default(), &FieldErrors::default(), None, params.revoked.is_some()).await
}

async fn tokens_page(
    state: &AppState,
    user: &CurrentUser,
    form: &TokenForm,
    errors: &FieldErrors,
    new_token: Option<&str>,
    revoked: bool,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let all = store.list_api_tokens().await.map_err(|e| PageError::from_store(e, locale))?;
    let users = store.list_users().await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = all
        .iter()
        .map(|token| {
            let acting = users.iter().find(|u| u.id == token.user_id).map(|u| u.display_name.clone());
            context! { row => token, user_name => acting }
        })
        .collect();
    let active: Vec<&UserRow> = users.iter().filter(|u| u.active).collect();
    render(
        state,
        user,
        "admin/tokens.html",
        "tokens",
        context! {
            tokens => rows,
            users => active,
            form => form,
            errors => field_errors(errors, locale),
            has_errors => !errors.is_empty(),
            new_token => new_token,
            revoked => revoked,
        },
    )
    .await
}

/// Checks the token form against the active users: (name, acting user id).
fn check_token_form(form: &TokenForm, users: &[UserRow]) -> Result<(String, i64), FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = nfkc_trim(&form.name);
    if name.is_empty() {
        errors.push(FieldError::required("name"));
    } else if name.chars().count() > 100 {
        errors.push(FieldError::too_long("name", 100));
    }
    let user_id = form.user_id.trim().parse::<i64>().ok().filter(|id| users.iter().any(|u| u.id == *id && u.active));
    if user_id.is_none() {
        errors.push(FieldError::new(
            "user_id",
            "invalid_user",
            "トークンで操作する有効なユーザーを選んでください。",
            "Choose the active user the token acts as.",
        ));
    }
    match user_id {
        Some(id) if errors.is_empty() => Ok((name, id)),
        _ => Err(errors),
    }
}

async fn create_token(State(state): State<AppState>, form: PageForm<TokenForm>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_manage_tokens() {
        return PageError::forbidden(locale).into_response();
    }
    let store = state.store.as_ref();
    let users = match store.list_users().await {
        Ok(users) => users,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let (name, user_id) = match check_token_form(&form.data, &users) {
        Ok(checked) => checked,
        Err(errors) => return unprocessable(tokens_page(&state, &form.user, &form.data, &errors, None, false).await),
    };
    let token = format!("{API_TOKEN_PREFIX}{}", random_token());
    let prefix: String = token.chars().take(10).collect();
    if let Err(error) = store.create_api_token(&name, &token_hash(&token), &prefix, user_id, now_millis()).await {
        return PageError::from_store(error, locale).into_response();
    }
    // Shown this once and never stored: no redirect, and no caching of the page.
    let (blank, no_errors) = (TokenForm::default(), FieldErrors::default());
    match tokens_page(&state, &form.user, &blank, &no_errors, Some(&token), false).await {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], html).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_manage_tokens() {
        return PageError::forbidden(locale).into_response();
    }
    let store = state.store.as_ref();
    let found = match store.list_api_tokens().await {
        Ok(all) => all.into_iter().find(|t| t.id == id),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let Some(token) = found else { return PageError::not_found(locale).into_response() };
    // Revoking twice is harmless: the first revocation time stays.
    if token.revoked_at.is_none() {
        if let Err(error) = store.revoke_api_token(id, now_millis()).await {
            return PageError::from_store(error, locale).into_response();
        }
    }
    Redirect::to("/admin/tokens?revoked=1").into_response()
}

#[cfg(test)]
mod tests {
    use super::super::accounts::tests::render_page;
    use super::*;
    use hatake_store::ApiTokenRow;

    fn user(id: i64, active: bool) -> UserRow {
        UserRow {
            id,
            email: format!("u{id}@example.jp"),
            display_name: format!("ユーザー{id}"),
            role: "admin".into(),
            locale: "ja".into(),
            password_hash: String::new(),
            active,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn admins_keep_themselves() {
        let demote = UserForm {
            display_name: "管理".into(),
            role: "marketer".into(),
            active: Some("1".into()),
            new_password: String::new(),
        };
        assert_eq!(check_user_form(&demote, true).unwrap_err().0[0].code, "cannot_demote_self");
        assert!(check_user_form(&demote, false).is_ok());
        let off =
            UserForm { display_name: "管理".into(), role: "admin".into(), active: None, new_password: String::new() };
        assert_eq!(check_user_form(&off, true).unwrap_err().0[0].code, "cannot_deactivate_self");
        let users = [user(1, true), user(2, false)];
        let form = TokenForm { name: "CRM連携".into(), user_id: "2".into() };
        assert_eq!(check_token_form(&form, &users).unwrap_err().0[0].field, "user_id");
        assert_eq!(check_token_form(&TokenForm { user_id: "1".into(), ..form }, &users), Ok(("CRM連携".into(), 1)));
    }

    #[test]
    fn admin_templates_render() {
        let me = user(1, true);
        let errors = check_user_form(&UserForm { role: "admin".into(), ..UserForm::default() }, true).unwrap_err();
        let rows = vec![context! { row => &me, role_label => "管理者", is_me => true,
        form => context! { display_name => "", role => "admin", active => false },
        errors => field_errors(&errors, "ja"), open => true }];
        let html = render_page(
            "admin/users.html",
            "ja",
            context! { users => rows, roles => roles("ja"), new_form => NewUserForm::default(),
            new_errors => std::collections::BTreeMap::<String, String>::new(), has_errors => true, saved => false },
        );
        assert!(html.contains("id=\"user-table\"") && html.contains("u1@example.jp"));
        assert!(html.contains("data-field=\"active\"") && html.contains("自分自身を無効"));
        let token = ApiTokenRow {
            id: 5,
            name: "CRM".into(),
            prefix: "hk_abcdefg".into(),
            user_id: 1,
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
        };
        let html = render_page(
            "admin/tokens.html",
            "en",
            context! { tokens => vec![context! { row => &token, user_name => "Admin" }], users => vec![&me],
            form => TokenForm::default(), errors => std::collections::BTreeMap::<String, String>::new(),
            has_errors => false, new_token => "hk_SECRET", revoked => false },
        );
        assert!(html.contains("id=\"new-token\"") && html.contains("hk_SECRET"));
        assert!(html.contains("/admin/tokens/5/revoke") && html.contains("hk_abcdefg"));
    }
}
