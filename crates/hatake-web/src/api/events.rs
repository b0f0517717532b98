//! `POST /api/v1/events`: behaviour events in batches (a JSON array, or NDJSON: one JSON object
//! per line). Each event is checked on its own: the good ones are appended in one transaction
//! (with those of concurrent requests: [`hatake_engine::runtime::event_writer`]), which also finds each event's
//! lead by id or e-mail, committed before the response (so an acknowledged event survives a
//! crash of the server), and each bad one is answered with its index and field errors without
//! failing the others.

use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{post, MethodRouter};
use axum::Json;
use hatake_domain::{EventData, EventInput, EventSubject, FieldError};
use hatake_store::{Appended, EventLead, NewEvent, PendingEvent, Resolved, Store};
use serde::Serialize;
use std::collections::HashSet;

/// Most events in one request.
pub const MAX_EVENTS: usize = 10_000;
/// Largest request body of this route (the API's default is 1 MiB).
pub const MAX_EVENTS_BODY: usize = 16 * 1024 * 1024;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![route("POST", "/api/v1/events", Access::Api, post(ingest).layer(DefaultBodyLimit::max(MAX_EVENTS_BODY)))]
}

/// The fate of one event of the batch.
#[derive(Debug, Serialize)]
pub struct ItemResult {
    /// The event's position in the batch, from 0.
    index: usize,
    /// `created`, `duplicate` (its idempotency key was taken before: `id` is the stored event)
    /// or `rejected` (see `errors`).
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

#[derive(Debug, Serialize)]
pub struct IngestReport {
    created: usize,
    duplicates: usize,
    rejected: usize,
    results: Vec<ItemResult>,
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-ndjson") || v.starts_with("application/ndjson"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

fn unreadable(line: Option<usize>, error: &serde_json::Error) -> FieldError {
    let field = if error.is_data() { "event" } else { "body" };
    match line {
        Some(line) => FieldError::new(
            field,
            if error.is_data() { "invalid_field" } else { "malformed_json" },
            format!("{line}行目を読めません: {error}"),
            format!("Line {line} cannot be read: {error}"),
        ),
        None => FieldError::new(
            field,
            "invalid_field",
            format!("型の違う項目か、存在しない項目があります: {error}"),
            format!("A field has the wrong type or is unknown: {error}"),
        ),
    }
}

/// The batch's items, each read or failed on its own.
fn read_items(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Result<EventInput, FieldError>>, ApiError> {
    if is_ndjson(headers) {
        let text = std::str::from_utf8(body).map_err(|_| {
            ApiError::bad_request("malformed_json", "The body is not UTF-8.", "本文が UTF-8 ではありません。")
        })?;
        return Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| serde_json::from_str::<EventInput>(line).map_err(|e| unreadable(Some(n + 1), &e)))
            .collect());
    }
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send a JSON array (Content-Type: application/json) or NDJSON (application/x-ndjson).",
            "JSON配列（Content-Type: application/json）か NDJSON（application/x-ndjson）で送ってください。",
        ));
    }
    let values: Vec<serde_json::Value> = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(items)) => items,
        Ok(object @ serde_json::Value::Object(_)) => vec![object],
        Ok(_) => {
            return Err(ApiError::bad_request(
                "malformed_json",
                "The body must be a JSON array of events (or one event object).",
                "本文は行動のJSON配列（または1件のオブジェクト）にしてください。",
            ))
        }
        Err(e) => {
            return Err(ApiError::bad_request(
                "malformed_json",
                format!("The body is not valid JSON: {e}"),
                format!("本文が正しいJSONではありません: {e}"),
            ))
        }
    };
    Ok(values.into_iter().map(|v| serde_json::from_value::<EventInput>(v).map_err(|e| unreadable(None, &e))).collect())
}

fn not_found(field: &str, ja: &str, en: &str) -> FieldError {
    FieldError::new(field, "not_found", ja, en)
}

/// The error of an event whose lead is not stored.
fn lead_not_found(lead: &EventLead) -> FieldError {
    match lead {
        EventLead::Email(email) => not_found(
            "email",
            &format!("メールアドレス {email} のリードはありません。"),
            &format!("No lead has the e-mail address {email}."),
        ),
        EventLead::Id(id) => {
            not_found("lead_id", &format!("リード {id} はありません。"), &format!("There is no lead {id}."))
        }
        EventLead::None => not_found("lead_id", "リードがありません。", "There is no lead."),
    }
}

async fn ingest(
    State(state): State<AppState>,
    _user: ApiUser,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestReport>, ApiError> {
    let items = read_items(&headers, &body)?;
    if items.len() > MAX_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("At most {MAX_EVENTS} events per request; this one has {}.", items.len()),
            format!("1回に送れる行動は{MAX_EVENTS}件までです（{}件あります）。", items.len()),
        ));
    }
    let store: &dyn Store = state.store.as_ref();
    let now = now_millis();
    let validated: Vec<Result<EventData, Vec<FieldError>>> = items
        .into_iter()
        .map(|item| item.map_err(|e| vec![e]).and_then(|input| input.validate(now).map_err(|e| e.0)))
        .collect();

    let store_error = |e| ApiError::from_store(e, "event");
    // Products are checked here for the whole batch; each event's lead is found by the store
    // inside the write (by id or e-mail), so that it cannot go in between.
    // (Read only when some event names a product: most batches name none.)
    let products: HashSet<i64> = if validated.iter().any(|e| e.as_ref().is_ok_and(|e| e.product_id.is_some())) {
        store.list_products().await.map_err(store_error)?.into_iter().map(|p| p.id).collect()
    } else {
        HashSet::new()
    };
    let mut results: Vec<ItemResult> = Vec::with_capacity(validated.len());
    let mut to_append: Vec<(usize, PendingEvent)> = Vec::new();
    // Events refused for their product whose lead is to be checked too (every error at once).
    let mut without_product: Vec<(usize, EventSubject)> = Vec::new();
    for (index, event) in validated.into_iter().enumerate() {
        let checked = event.and_then(|event| {
            if let Some(product) = event.product_id.filter(|p| !products.contains(p)) {
                without_product.push((index, event.subject.clone()));
                return Err(vec![not_found(
                    "product_id",
                    &format!("商材 {product} はありません。"),
                    &format!("There is no product {product}."),
                )]);
            }
            let (lead, visitor_id) = match event.subject {
                EventSubject::Lead(id) => (EventLead::Id(id), event.visitor_id),
                EventSubject::Email(email) => (EventLead::Email(email.as_str().to_owned()), event.visitor_id),
                EventSubject::Visitor(visitor) => (EventLead::None, Some(visitor)),
            };
            Ok(PendingEvent {
                lead,
                event: NewEvent {
                    kind: event.kind.as_str(),
                    lead_id: None,
                    visitor_id,
                    product_id: event.product_id,
                    occurred_at: event.occurred_at,
                    source: event.source,
                    name: event.name,
                    properties: event.properties,
                    idempotency_key: event.idempotency_key,
                },
            })
        });
        match checked {
            Ok(pending) => {
                to_append.push((index, pending));
                results.push(ItemResult { index, status: "created", id: None, errors: Vec::new() });
            }
            Err(errors) => results.push(ItemResult { index, status: "rejected", id: None, errors }),
        }
    }
    if !without_product.is_empty() {
        let ids: Vec<i64> = without_product
            .iter()
            .filter_map(|(_, s)| if let EventSubject::Lead(id) = s { Some(*id) } else { None })
            .collect();
        let emails: Vec<String> = without_product
            .iter()
            .filter_map(|(_, s)| if let EventSubject::Email(e) = s { Some(e.as_str().to_owned()) } else { None })
            .collect();
        let ids: HashSet<i64> = store.existing_lead_ids(&ids).await.map_err(store_error)?.into_iter().collect();
        let emails: HashSet<String> =
            store.lead_ids_by_email(&emails).await.map_err(store_error)?.into_iter().map(|(e, _)| e).collect();
        for (index, subject) in without_product {
            let missing = match &subject {
                EventSubject::Lead(id) if !ids.contains(id) => Some(EventLead::Id(*id)),
                EventSubject::Email(email) if !emails.contains(email.as_str()) => {
                    Some(EventLead::Email(email.as_str().to_owned()))
                }
                _ => None,
            };
            if let Some(lead) = missing {
                results[index].errors.insert(0, lead_not_found(&lead));
            }
        }
    }
    let (indexes, pending): (Vec<usize>, Vec<PendingEvent>) = to_append.into_iter().unzip();
    // The leads the events name, for the errors of those that are not found.
    let named: Vec<EventLead> = pending.iter().map(|p| p.lead.clone()).collect();
    // Written with the events of concurrent requests in one transaction, committed before the
    // answer (see `event_writer`).
    let fates = state.runtime.events().append(pending, now).await.map_err(store_error)?;
    for ((index, fate), lead) in indexes.into_iter().zip(fates).zip(named) {
        let result = &mut results[index];
        match (fate, lead) {
            (Resolved::Appended(Appended::Created(id)), _) => result.id = Some(id),
            (Resolved::Appended(Appended::Duplicate(id)), _) => {
                result.status = "duplicate";
                result.id = Some(id);
            }
            (Resolved::UnknownLead | Resolved::UnknownEmail, lead) => {
                result.status = "rejected";
                result.errors.push(lead_not_found(&lead));
            }
        }
    }
    let count = |status: &str| results.iter().filter(|r| r.status == status).count();
    Ok(Json(IngestReport {
        created: count("created"),
        duplicates: count("duplicate"),
        rejected: count("rejected"),
        results,
    }))
}
