//! Products (商材): everyone sees the list; admins and marketers create and edit on the same page.

use super::field_errors;
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::service::{self, SaveError};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::{FieldErrors, ProductInput};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/products", Access::SignedIn, get(list)),
        route("POST", "/products", Access::Configure, post(create)),
        route("POST", "/products/{id}", Access::Configure, post(update)),
    ]
}

#[derive(Deserialize, Default, Debug)]
pub struct ListParams {
    saved: Option<String>,
}

/// The create and edit forms' fields; `active` is a checkbox (absent means off).
#[derive(Deserialize, Default, Debug, Clone)]
pub struct ProductForm {
    code: Option<String>,
    name: Option<String>,
    description: Option<String>,
    active: Option<String>,
}

impl ProductForm {
    fn input(&self) -> ProductInput {
        ProductInput {
            code: self.code.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            active: Some(self.active.is_some()),
        }
    }
}

/// A form that failed validation: which one (`None` is the create form), what was typed, why.
struct Failed<'a> {
    id: Option<i64>,
    input: &'a ProductInput,
    errors: &'a FieldErrors,
}

async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(params): Query<ListParams>,
) -> Result<Html<String>, PageError> {
    page(&state, &user, params.saved.is_some(), None).await
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    saved: bool,
    failed: Option<Failed<'_>>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let products = state.store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let rows: Vec<minijinja::Value> = products
        .iter()
        .map(|p| {
            let mine = failed.as_ref().filter(|f| f.id == Some(p.id));
            let input = mine.map_or_else(|| service::product_input(p), |f| f.input.clone());
            let errors = mine.map(|f| field_errors(f.errors, locale)).unwrap_or_default();
            context! { row => p, input => input, errors => errors, open => mine.is_some() }
        })
        .collect();
    let new_failed = failed.as_ref().filter(|f| f.id.is_none());
    let new_input =
        new_failed.map_or_else(|| ProductInput { active: Some(true), ..ProductInput::default() }, |f| f.input.clone());
    render(
        state,
        user,
        "products.html",
        "products",
        context! {
            products => rows,
            new_input => new_input,
            new_errors => new_failed.map(|f| field_errors(f.errors, locale)).unwrap_or_default(),
            has_errors => failed.is_some(),
            saved => saved,
        },
    )
    .await
}

async fn save(state: &AppState, form: PageForm<ProductForm>, id: Option<i64>) -> Response {
    let locale = form.user.locale();
    if !form.user.user.role().can_configure() {
        return PageError::forbidden(locale).into_response();
    }
    let input = form.data.input();
    match service::save_product(state.store.as_ref(), id, &input, now_millis()).await {
        Ok(_) => Redirect::to("/products?saved=1").into_response(),
        Err(SaveError::Invalid(errors)) => {
            let failed = Failed { id, input: &input, errors: &errors };
            match page(state, &form.user, false, Some(failed)).await {
                Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Err(SaveError::NotFound) => PageError::not_found(locale).into_response(),
        Err(SaveError::Store(error)) => PageError::from_store(error, locale).into_response(),
    }
}

async fn create(State(state): State<AppState>, form: PageForm<ProductForm>) -> Response {
    save(&state, form, None).await
}

async fn update(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<ProductForm>) -> Response {
    save(&state, form, Some(id)).await
}

#[cfg(test)]
mod tests {
    use super::super::accounts::tests::render_page;
    use super::*;
    use hatake_store::ProductRow;

    #[test]
    fn products_template_renders() {
        let product = ProductRow {
            id: 3,
            code: "erp".into(),
            name: "クラウドERP".into(),
            description: Some("基幹".into()),
            active: false,
            created_at: 0,
            updated_at: 0,
        };
        let bad = ProductInput { code: Some("ｅｒｐ クラウド".into()), ..ProductInput::default() };
        let errors = field_errors(&bad.validate().unwrap_err(), "ja");
        let rows = vec![context! { row => &product, input => service::product_input(&product),
        errors => std::collections::BTreeMap::<String, String>::new(), open => false }];
        let html = render_page(
            "products.html",
            "ja",
            context! { products => rows, new_input => &bad, new_errors => errors, has_errors => true, saved => false },
        );
        assert!(html.contains("id=\"product-table\"") && html.contains("/leads?product=3"));
        assert!(html.contains("data-field=\"code\"") && html.contains("action=\"/products/3\""));
        let form = ProductForm { code: Some("x".into()), ..ProductForm::default() };
        assert_eq!(form.input().active, Some(false), "an unchecked box turns the product off");
    }
}
