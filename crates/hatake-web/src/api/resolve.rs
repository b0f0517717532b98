//! `POST /api/v1/leads/resolve`: an API write that goes through name-matching (名寄せ) like an
//! import row does. The record becomes a new lead, merges into the stored lead of the same
//! person, changes nothing (the same record was taken before), or becomes a new lead with
//! questions for the review queue.

use super::leads::{view, LeadView};
use super::{save_error, ApiJson};
use crate::auth::ApiUser;
use crate::error::ApiError;
use crate::pages::route;
use crate::service::{custom_defs, required_fields, SaveError};
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{post, MethodRouter};
use axum::Json;
use hatake_domain::{LeadData, LeadInput};
use hatake_engine::resolve::{resolve_one, Incoming};
use hatake_store::{Outcome, Store, StoreError};
use serde::Serialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![route("POST", "/api/v1/leads/resolve", Access::Api, post(resolve))]
}

/// An open review question about the lead.
#[derive(Serialize)]
pub struct ReviewRef {
    id: i64,
    /// `lead` (possibly the same person as `candidate_id`, a lead) or `account` (possibly
    /// working for `candidate_id`, a company).
    kind: String,
    candidate_id: i64,
    score: f64,
}

#[derive(Serialize)]
pub struct Resolution {
    /// `created`, `merged`, `unchanged` or `review`.
    outcome: &'static str,
    lead: LeadView,
    reviews: Vec<ReviewRef>,
}

fn store_error(error: StoreError) -> ApiError {
    save_error(SaveError::from(error), "lead")
}

/// Fails with the field error of the first linked id that does not exist, before anything is
/// written (the resolver's bulk write does not check links one by one).
async fn check_links(store: &dyn Store, lead: &LeadData) -> Result<(), ApiError> {
    let missing = |field: &'static str| {
        move |error: StoreError| match error {
            StoreError::NotFound => store_error(StoreError::MissingReference { field }),
            other => store_error(other),
        }
    };
    if let Some(id) = lead.account_id {
        store.get_account(id).await.map_err(missing("account_id"))?;
    }
    if let Some(id) = lead.owner_id {
        store.get_user(id).await.map_err(missing("owner_id"))?;
    }
    for id in &lead.product_ids {
        store.get_product(*id).await.map_err(missing("product_ids"))?;
    }
    Ok(())
}

async fn resolve(
    State(state): State<AppState>,
    _user: ApiUser,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<Resolution>), ApiError> {
    let input: LeadInput = serde_json::from_value(body.clone()).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("The body has a field of the wrong type or an unknown field: {e}"),
            format!("型の違う項目か、存在しない項目があります: {e}"),
        )
    })?;
    let store = state.store.as_ref();
    let defs = custom_defs(store).await.map_err(store_error)?;
    let mut data = input.validate(&defs).map_err(|e| save_error(SaveError::Invalid(e), "lead"))?;
    check_links(store, &data).await?;
    let dictionary = hatake_engine::settings::departments(store).await.map_err(store_error)?;
    data.department_class = data.department.as_deref().and_then(|d| dictionary.classify(d)).map(|c| c.key.clone());
    let required = required_fields(store).await.map_err(store_error)?;

    // The body as it arrived (keys sorted): sending it again is the same record, "unchanged".
    let record = Incoming { data, line: None, channel: "api", source: input.source.clone(), fields: body.to_string() };
    let (outcome, id) = resolve_one(store, required.clone(), record, now_millis()).await.map_err(store_error)?;
    let row = store.get_lead(id).await.map_err(store_error)?;
    let reviews = store
        .reviews_of_lead(id)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|r| ReviewRef {
            id: r.id,
            candidate_id: if r.kind == "lead" && r.candidate_id == id { r.lead_id } else { r.candidate_id },
            kind: r.kind,
            score: r.score,
        })
        .collect();
    let status =
        if matches!(outcome, Outcome::Created | Outcome::Review) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Resolution { outcome: outcome.as_str(), lead: view(row, &required), reviews })))
}
