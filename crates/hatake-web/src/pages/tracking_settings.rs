//! Settings → web tracking: the snippet to paste into the organisation's site, and the IP
//! ranges of its own network, whose hits are not counted (edited as text, one range a line;
//! nothing is stored while a line is wrong).

use super::{origin, render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::tracking::SETTING_INTERNAL_RANGES;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
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
        route("POST", "/settings/tracking/links", Access::Configure, post(create_link)),
    ]
}

#[derive(Deserialize, Default)]
pub struct ShowParams {
    saved: Option<String>,
}

#[derive(Deserialize, Default, serde::Serialize)]
pub struct LinkForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    target_url: String,
    #[serde(default)]
    product_id: String,
}

#[derive(Deserialize)]
pub struct RangesForm {
    #[serde(default)]
    internal_ranges: String,
}

/// What the page shows besides the stored settings: the ranges as typed and their errors, or
/// a link form as typed and its errors.
#[derive(Default)]
struct Shown<'a> {
    text: Option<&'a str>,
    range_errors: Option<&'a FieldErrors>,
    link: Option<&'a LinkForm>,
    link_errors: Option<&'a FieldErrors>,
    saved: bool,
}

async fn page(state: &AppState, user: &CurrentUser, origin: &str, shown: Shown<'_>) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let stored = match shown.text {
        Some(text) => text.to_owned(),
        None => store
            .get_setting(SETTING_INTERNAL_RANGES)
            .await
            .map_err(|e| PageError::from_store(e, locale))?
            .unwrap_or_default(),
    };
    let products = store.list_products().await.map_err(|e| PageError::from_store(e, locale))?;
    let links: Vec<minijinja::Value> = store
        .list_tracked_links()
        .await
        .map_err(|e| PageError::from_store(e, locale))?
        .into_iter()
        .map(|link| {
            let product = link.product_id.and_then(|p| products.iter().find(|row| row.id == p)).map(|p| p.name.clone());
            context! { url => format!("{origin}/t/l/{}", link.code), product => product, row => link }
        })
        .collect();
    let empty = LinkForm::default();
    let snippet = format!(
        "<script src=\"{origin}/t.js\" async></script>\n<noscript><img src=\"{origin}/t/p.gif\" width=\"1\" height=\"1\" alt=\"\"></noscript>"
    );
    let messages: Vec<String> =
        shown.range_errors.map(|e| e.0.iter().map(|f| f.message(locale).to_owned()).collect()).unwrap_or_default();
    render(
        state,
        user,
        "settings/tracking.html",
        "settings",
        context! {
            snippet => snippet, text => stored, line_errors => messages, has_errors => shown.range_errors.is_some(),
            saved => shown.saved, links => links,
            products => products.iter().map(|p| context! { id => p.id, name => p.name }).collect::<Vec<_>>(),
            link => shown.link.unwrap_or(&empty),
            link_errors => shown.link_errors.map(|e| super::field_errors(e, locale)).unwrap_or_default(),
        },
    )
    .await
}

async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Query(params): Query<ShowParams>,
) -> Result<Html<String>, PageError> {
    page(&state, &user, &origin(&headers), Shown { saved: params.saved.is_some(), ..Shown::default() }).await
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
        Err(errors) => match page(
            &state,
            &form.user,
            &origin(&headers),
            Shown { text: Some(&text), range_errors: Some(&errors), ..Shown::default() },
        )
        .await
        {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        },
    }
}

/// A new link's code: eight lower-case letters and digits.
fn new_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..8).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

async fn create_link(State(state): State<AppState>, headers: HeaderMap, form: PageForm<LinkForm>) -> Response {
    let locale = form.user.locale();
    let store = state.store.as_ref();
    let input = hatake_domain::tracking::TrackedLinkInput {
        name: form.data.name.clone(),
        target_url: form.data.target_url.clone(),
    };
    let no_product = || {
        FieldErrors(vec![hatake_domain::FieldError::new(
            "product_id",
            "not_found",
            "その商材はありません。",
            "There is no such product.",
        )])
    };
    let product = form.data.product_id.trim();
    let product_id =
        if product.is_empty() { Ok(None) } else { product.parse::<i64>().map(Some).map_err(|_| no_product()) };
    let checked = match (input.validate(), product_id) {
        (Ok(valid), Ok(Some(id))) => match store.get_product(id).await {
            Ok(_) => Ok(valid),
            Err(hatake_store::StoreError::NotFound) => Err(no_product()),
            Err(error) => return PageError::from_store(error, locale).into_response(),
        },
        (Ok(valid), Ok(None)) => Ok(valid),
        (Err(mut errors), Err(product)) => {
            errors.0.extend(product.0);
            Err(errors)
        }
        (Err(errors), _) | (_, Err(errors)) => Err(errors),
    };
    let product_id = product.parse::<i64>().ok();
    match checked {
        Ok((name, url)) => {
            // A taken code (one in a trillion) is drawn again.
            let mut result = Err(hatake_store::StoreError::NotFound);
            for _ in 0..3 {
                result = store.create_tracked_link(&new_code(), &name, &url, product_id, now_millis()).await;
                if !matches!(result, Err(hatake_store::StoreError::Conflict { .. })) {
                    break;
                }
            }
            match result {
                Ok(_) => Redirect::to("/settings/tracking?saved=1#links").into_response(),
                Err(error) => PageError::from_store(error, locale).into_response(),
            }
        }
        Err(errors) => match page(
            &state,
            &form.user,
            &origin(&headers),
            Shown { link: Some(&form.data), link_errors: Some(&errors), ..Shown::default() },
        )
        .await
        {
            Ok(html) => (StatusCode::UNPROCESSABLE_ENTITY, html).into_response(),
            Err(error) => error.into_response(),
        },
    }
}
