//! The links in marketing mail, without signing in: `POST /u/{token}?topic=…` with the body
//! `List-Unsubscribe=One-Click` is RFC 8058's one-click unsubscribe (a mail program sends it);
//! `GET /u/{token}` is the preference page — each topic's switch and "stop all", Japanese or
//! English, usable on a phone. The token is signed per lead
//! ([`hatake_engine::mail::subscriptions`]); a wrong one gets a page that says so. Every change
//! is recorded with how it came (`link`, `preferences`) and honoured at once: mail not yet
//! handed over for that topic is not sent.

use crate::public_forms::locale_of;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_engine::mail::subscriptions::{known, link_key, topics, verify, Topic};
use hatake_store::SubscriptionChange;
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        crate::pages::route("GET", "/u/{link}", Access::Public, get(show)),
        crate::pages::route("POST", "/u/{link}", Access::Public, post(change)),
    ]
}

#[derive(Deserialize, Default)]
pub struct LinkParams {
    topic: Option<String>,
    lang: Option<String>,
    saved: Option<String>,
}

async fn page(state: &AppState, status: StatusCode, locale: &str, context: minijinja::Value) -> Response {
    // Who sends the mail and how to reach them, on every page of the link (特定電子メール法).
    let sender = hatake_engine::mail::config::sender(state.store.as_ref()).await.ok().flatten();
    let context = context! { locale => locale, sender => sender, ..context };
    match state.templates.render("subscriptions/preferences.html", context) {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => {
            tracing::error!(%error, "template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The lead a token names, if its signature holds and the lead exists.
async fn lead_of(state: &AppState, token: &str) -> Option<hatake_store::LeadRow> {
    let key = link_key(state.store.as_ref(), now_millis()).await.ok()?;
    let lead_id = verify(&key, token)?;
    state.store.get_lead(lead_id).await.ok()
}

async fn invalid(state: &AppState, locale: &str) -> Response {
    page(state, StatusCode::NOT_FOUND, locale, context! { invalid => true }).await
}

async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(params): Query<LinkParams>,
    headers: HeaderMap,
) -> Response {
    let locale = locale_of(params.lang.as_deref(), &headers);
    let Some(lead) = lead_of(&state, &token).await else { return invalid(&state, locale).await };
    let store = state.store.as_ref();
    let (Ok(topics), Ok(current)) = (topics(store).await, store.lead_subscriptions(lead.id).await) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let rows: Vec<minijinja::Value> = topics
        .iter()
        .map(|topic| {
            let on = current.iter().any(|s| s.topic == topic.key && s.status == "subscribed");
            context! { key => topic.key, label => topic.label(locale), on => on,
            asked => params.topic.as_deref() == Some(topic.key.as_str()) }
        })
        .collect();
    let masked = lead.email.as_deref().map(mask);
    page(
        &state,
        StatusCode::OK,
        locale,
        context! {
            topics => rows, token => token, email => masked, saved => params.saved.is_some(),
            stopped_all => params.saved.as_deref() == Some("all"),
            asked => params.topic.as_deref().filter(|t| known(&topics, t)),
        },
    )
    .await
}

/// `yamada@example.co.jp` → `y*****@example.co.jp`: enough to recognise, not to harvest.
fn mask(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}{}@{domain}", "*".repeat(local.chars().count().saturating_sub(1).max(3)))
        }
        None => email.to_owned(),
    }
}

async fn change(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(params): Query<LinkParams>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let locale = locale_of(params.lang.as_deref(), &headers);
    let Some(lead) = lead_of(&state, &token).await else { return invalid(&state, locale).await };
    let store = state.store.as_ref();
    let Ok(all) = topics(store).await else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(&body);
    let now = now_millis();
    let change = |topic: &Topic, on: bool, source: &str| SubscriptionChange {
        lead_id: lead.id,
        topic: topic.key.clone(),
        status: if on { "subscribed" } else { "unsubscribed" }.into(),
        source: source.into(),
        detail: None,
        by_user: None,
        at: now,
    };
    let one_click = pairs.iter().any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    let changes: Vec<SubscriptionChange> = if one_click {
        // RFC 8058: the topic of the mail's link, or every topic when the link names none.
        match params.topic.as_deref().filter(|t| known(&all, t)) {
            Some(topic) => all.iter().filter(|t| t.key == topic).map(|t| change(t, false, "link")).collect(),
            // A link that names no topic of ours stops everything, and says so in the record.
            None => all
                .iter()
                .map(|t| SubscriptionChange {
                    detail: Some("すべて停止 / all".into()), ..change(t, false, "link")
                })
                .collect(),
        }
    } else if pairs.iter().any(|(k, v)| k == "action" && v == "stop_all") {
        all.iter().map(|t| change(t, false, "preferences")).collect()
    } else {
        let on = |key: &str| pairs.iter().any(|(k, v)| k == &format!("topic.{key}") && v == "on");
        let current = store.lead_subscriptions(lead.id).await.unwrap_or_default();
        all.iter()
            .filter(|t| {
                // A topic never asked stays so unless switched on; the others follow the switch.
                on(&t.key) || current.iter().any(|s| s.topic == t.key)
            })
            .map(|t| change(t, on(&t.key), "preferences"))
            .collect()
    };
    if let Err(error) = store.change_subscriptions(&changes).await {
        tracing::error!(%error, "a subscription change could not be stored");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if one_click {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "unsubscribed\n")
            .into_response();
    }
    let saved = if pairs.iter().any(|(k, v)| k == "action" && v == "stop_all") { "all" } else { "1" };
    Redirect::to(&format!("/u/{token}?saved={saved}&lang={locale}")).into_response()
}

/// `a=1&b=2` as pairs (percent- and plus-decoded); a body that is not a form is no pairs.
fn serde_urlencoded_pairs(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn addresses_are_masked_and_bodies_read() {
        assert_eq!(super::mask("yamada@example.co.jp"), "y*****@example.co.jp");
        assert_eq!(super::mask("a@x.jp"), "a***@x.jp");
        let pairs = super::serde_urlencoded_pairs("List-Unsubscribe=One-Click&topic.product%3A3=on&x=a+b");
        assert_eq!(pairs[0], ("List-Unsubscribe".into(), "One-Click".into()));
        assert_eq!(pairs[1], ("topic.product:3".into(), "on".into()));
        assert_eq!(pairs[2], ("x".into(), "a b".into()));
    }
}
