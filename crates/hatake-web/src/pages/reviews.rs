//! The review queue (名寄せの確認): pairs of records the matcher was unsure about, oldest first,
//! side by side with what differs, the evidence and the record a merge would leave. A person
//! merges them (the stored, older lead survives) or says they are two people; a merge can be
//! undone until the surviving lead is changed.

use super::review_pairs::{account_if_any, lead_if_any, merged_data, pair_view};
use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_store::{ReviewRow, Store, StoreError, StoreResult};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/reviews", Access::Review, get(queue)),
        route("POST", "/reviews/{id}/merge", Access::Review, post(merge)),
        route("POST", "/reviews/{id}/distinct", Access::Review, post(distinct)),
        route("POST", "/reviews/{id}/link", Access::Review, post(link)),
        route("POST", "/merges/{id}/undo", Access::Review, post(undo_merge)),
    ]
}

/// Pairs per page.
const PAGE: usize = 20;
/// Reviews read per batch when the queue is filtered to one import, and the most batches one
/// page reads before it stops and offers "next" from where it got to.
const FILTER_BATCH: usize = 500;
const FILTER_BATCHES: usize = 20;

/// The queue's position and filter, as query parameters and as hidden fields of its forms.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct Position {
    after_id: Option<String>,
    import: Option<String>,
}

impl Position {
    fn after_id(&self) -> i64 {
        self.after_id.as_deref().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    }

    fn import(&self) -> Option<i64> {
        self.import.as_deref().and_then(|v| v.trim().parse().ok())
    }

    /// `/reviews` at this position, with `extra` (a flash) appended.
    fn url(&self, extra: &str) -> String {
        let mut pairs: Vec<String> = Vec::new();
        if self.after_id() > 0 {
            pairs.push(format!("after_id={}", self.after_id()));
        }
        if let Some(import) = self.import() {
            pairs.push(format!("import={import}"));
        }
        if !extra.is_empty() {
            pairs.push(extra.to_owned());
        }
        if pairs.is_empty() {
            "/reviews".to_owned()
        } else {
            format!("/reviews?{}", pairs.join("&"))
        }
    }
}

#[derive(Deserialize, Default, Debug)]
pub struct Flash {
    /// The merge just made (its undo button is offered).
    merged: Option<i64>,
    distinct: Option<String>,
    linked: Option<String>,
    /// The pair was decided by someone else meanwhile, or one of its leads is gone.
    stale: Option<String>,
    unmerged: Option<String>,
    merge_error: Option<String>,
}

/// One page of open reviews after `after_id`, and the id to continue after (if there is more).
async fn open_page(
    store: &dyn Store,
    after_id: i64,
    import: Option<i64>,
) -> StoreResult<(Vec<ReviewRow>, Option<i64>)> {
    let Some(import) = import else {
        let mut rows = store.list_reviews("open", after_id, i64::try_from(PAGE + 1).unwrap_or(i64::MAX)).await?;
        let next = (rows.len() > PAGE).then(|| rows[PAGE - 1].id);
        rows.truncate(PAGE);
        return Ok((rows, next));
    };
    // The store lists reviews by status only: read batches and keep this import's.
    let mut kept = Vec::new();
    let mut cursor = after_id;
    for _ in 0..FILTER_BATCHES {
        let batch = store.list_reviews("open", cursor, i64::try_from(FILTER_BATCH).unwrap_or(i64::MAX)).await?;
        let exhausted = batch.len() < FILTER_BATCH;
        for review in batch {
            cursor = review.id;
            if review.import_id == Some(import) {
                kept.push(review);
                if kept.len() == PAGE + 1 {
                    kept.truncate(PAGE);
                    let next = kept.last().map(|r| r.id);
                    return Ok((kept, next));
                }
            }
        }
        if exhausted {
            return Ok((kept, None));
        }
    }
    Ok((kept, Some(cursor)))
}

async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(mut position): Query<Position>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let (mut reviews, mut next) =
        open_page(store, position.after_id(), position.import()).await.map_err(|e| PageError::from_store(e, locale))?;
    if reviews.is_empty() && position.after_id() > 0 {
        // The last pairs of a later page were just decided: the first page, not an empty one.
        position.after_id = None;
        (reviews, next) = open_page(store, 0, position.import()).await.map_err(|e| PageError::from_store(e, locale))?;
    }
    let dictionary = hatake_engine::settings::departments(store).await.map_err(|e| PageError::from_store(e, locale))?;
    let mut pairs = Vec::with_capacity(reviews.len());
    for review in &reviews {
        pairs.push(pair_view(store, review, &dictionary, locale).await.map_err(|e| PageError::from_store(e, locale))?);
    }
    let next_url = next.map(|id| Position { after_id: Some(id.to_string()), ..position.clone() }.url(""));
    let all_url = Position { import: None, ..position.clone() }.url("");
    render(
        &state,
        &user,
        "reviews/queue.html",
        "reviews",
        context! {
            pairs => pairs,
            after_id => position.after_id(),
            import => position.import(),
            next_url => next_url,
            all_url => all_url,
            first_url => Position { after_id: None, ..position.clone() }.url(""),
            merged => flash.merged,
            distinct => flash.distinct.as_deref().map(|d| if d == "company" { "company" } else { "person" }),
            linked => flash.linked.is_some(),
            stale => flash.stale.is_some(),
            unmerged => flash.unmerged.is_some(),
            merge_error => flash.merge_error.as_deref().map(|e| t(locale, merge_error_key(e))),
            back => position.url(""),
            merge_threshold => format!("{}", hatake_domain::matching::lead::MERGE_THRESHOLD),
            review_threshold => format!("{}", hatake_domain::matching::lead::REVIEW_THRESHOLD),
        },
    )
    .await
}

pub(crate) fn merge_error_key(error: &str) -> &'static str {
    match error {
        "changed" => "merge.changed_since",
        _ => "merge.already_undone",
    }
}

/// Reads the posted position (hidden fields) from a queue form.
fn position_of(pairs: &[(String, String)]) -> Position {
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    Position { after_id: get("after_id"), import: get("import") }
}

async fn merge(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = &form.user;
    let locale = user.locale();
    let position = position_of(&form.data);
    let store = state.store.as_ref();
    let review = match store.get_review(id).await {
        Ok(review) => review,
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    let stale = || Redirect::to(&position.url("stale=1")).into_response();
    if review.status != "open" || review.kind != "lead" {
        return stale();
    }
    // The stored, older lead survives; the newer record is merged into it.
    let (survivor, merged) =
        match (lead_if_any(store, review.candidate_id).await, lead_if_any(store, review.lead_id).await) {
            (Ok(Some(survivor)), Ok(Some(merged))) => (survivor, merged),
            (Ok(_), Ok(_)) => return stale(),
            (Err(error), _) | (_, Err(error)) => return PageError::from_store(error, locale).into_response(),
        };
    let (Some(mut data), Ok(stored), Ok(newer)) = (
        merged_data(&survivor, &merged),
        hatake_store::LeadSnapshot::of(&survivor).data(),
        hatake_store::LeadSnapshot::of(&merged).data(),
    ) else {
        tracing::error!(review = id, "a stored lead does not read back as lead data");
        return PageError::internal(locale).into_response();
    };
    // The values the person chose field by field, over the merge rule's.
    super::review_pairs::apply_picks(&mut data, &stored, &newer, &form.data);
    let (dictionary, required) = match (
        hatake_engine::settings::departments(store).await,
        hatake_engine::settings::required_fields(store).await,
    ) {
        (Ok(dictionary), Ok(required)) => (dictionary, required),
        (Err(error), _) | (_, Err(error)) => return PageError::from_store(error, locale).into_response(),
    };
    data.department_class = data.department.as_deref().and_then(|d| dictionary.classify(d)).map(|c| c.key.clone());
    let is_lead = required.is_lead(&data);
    match store
        .merge_leads(
            &hatake_store::MergeRequest {
                survivor: survivor.id,
                merged: merged.id,
                data: &data,
                is_lead,
                review_id: Some(review.id),
                by: Some(user.user.id),
            },
            now_millis(),
        )
        .await
    {
        Ok(row) => Redirect::to(&position.url(&format!("merged={}", row.id))).into_response(),
        Err(StoreError::NotFound | StoreError::Conflict { .. }) => stale(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

async fn distinct(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = &form.user;
    let position = position_of(&form.data);
    let store = state.store.as_ref();
    // A company question answered "not this company" says so, not "two different people".
    let done = match store.get_review(id).await {
        Ok(review) if review.status == "open" && review.kind == "account" => "distinct=company",
        Ok(review) if review.status == "open" => "distinct=1",
        Ok(_) => return Redirect::to(&position.url("stale=1")).into_response(),
        Err(error) => return PageError::from_store(error, user.locale()).into_response(),
    };
    match store.decide_review(id, "distinct", Some(user.user.id), now_millis()).await {
        Ok(()) => Redirect::to(&position.url(done)).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
    }
}

/// Links the lead of a company question to that company; the lead's other company questions
/// are answered "not this one".
async fn link(State(state): State<AppState>, Path(id): Path<i64>, form: PageForm<Vec<(String, String)>>) -> Response {
    let user = &form.user;
    let locale = user.locale();
    let position = position_of(&form.data);
    let store = state.store.as_ref();
    let stale = || Redirect::to(&position.url("stale=1")).into_response();
    let review = match store.get_review(id).await {
        Ok(review) if review.status == "open" && review.kind == "account" => review,
        Ok(_) => return stale(),
        Err(error) => return PageError::from_store(error, locale).into_response(),
    };
    match (lead_if_any(store, review.lead_id).await, account_if_any(store, review.candidate_id).await) {
        (Ok(Some(_)), Ok(Some(_))) => {}
        (Ok(_), Ok(_)) => return stale(),
        (Err(error), _) | (_, Err(error)) => return PageError::from_store(error, locale).into_response(),
    }
    let now = now_millis();
    let by = Some(user.user.id);
    let result = async {
        store.link_leads(&[(review.lead_id, review.candidate_id)], &[], None, now).await?;
        store.decide_review(review.id, "linked", by, now).await?;
        for other in store.reviews_of_lead(review.lead_id).await? {
            if other.kind == "account" && other.lead_id == review.lead_id && other.id != review.id {
                store.decide_review(other.id, "distinct", by, now).await?;
            }
        }
        Ok::<(), StoreError>(())
    };
    match result.await {
        Ok(()) => Redirect::to(&position.url("linked=1")).into_response(),
        Err(error) => PageError::from_store(error, locale).into_response(),
    }
}

/// Undoes a merge and returns to `back` (a local path: the queue or a lead's page) with the
/// outcome: `unmerged=1`, or `merge_error=changed` when the surviving lead was changed after
/// the merge, `merge_error=undone` when it was undone already.
async fn undo_merge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: PageForm<Vec<(String, String)>>,
) -> Response {
    let user = &form.user;
    let back = form.data.iter().find(|(k, _)| k == "back").map(|(_, v)| v.as_str());
    let back = super::session::safe_next(back.or(Some("/reviews")));
    let flash = match state.store.undo_merge(id, Some(user.user.id), now_millis()).await {
        Ok(()) => "unmerged=1",
        Err(StoreError::Conflict { field: "survivor" }) => "merge_error=changed",
        Err(StoreError::Conflict { .. }) => "merge_error=undone",
        Err(error) => return PageError::from_store(error, user.locale()).into_response(),
    };
    let separator = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{back}{separator}{flash}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_garbage() {
        let position = Position { after_id: Some("12".into()), import: Some("x".into()) };
        assert_eq!(position.url("merged=3"), "/reviews?after_id=12&merged=3");
        assert_eq!(Position::default().url(""), "/reviews");
        let pairs = vec![("import".to_owned(), "4".to_owned())];
        assert_eq!(position_of(&pairs).url("distinct=1"), "/reviews?import=4&distinct=1");
    }
}
