//! The review queue (名寄せの確認): pairs of records the matcher was unsure about, oldest first,
//! side by side with what differs, the evidence and the record a merge would leave. A person
//! merges them (the stored, older lead survives) or says they are two people; a merge can be
//! undone until the surviving lead is changed.

use super::{render, route, PageError, PageForm};
use crate::auth::CurrentUser;
use crate::i18n::t;
use crate::{now_millis, Access, AppState, RouteSpec};
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use hatake_domain::matching::merge::combine;
use hatake_domain::LeadData;
use hatake_store::{LeadRow, LeadSnapshot, ReviewRow, Store, StoreError, StoreResult};
use minijinja::context;
use serde::Deserialize;

pub fn routes() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    vec![
        route("GET", "/reviews", Access::Review, get(queue)),
        route("POST", "/reviews/{id}/merge", Access::Review, post(merge)),
        route("POST", "/reviews/{id}/distinct", Access::Review, post(distinct)),
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
    Query(position): Query<Position>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, PageError> {
    let locale = user.locale();
    let store = state.store.as_ref();
    let (reviews, next) =
        open_page(store, position.after_id(), position.import()).await.map_err(|e| PageError::from_store(e, locale))?;
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
            distinct => flash.distinct.is_some(),
            stale => flash.stale.is_some(),
            unmerged => flash.unmerged.is_some(),
            merge_error => flash.merge_error.as_deref().map(|e| t(locale, merge_error_key(e))),
            back => position.url(""),
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

/// A lead by id, or `None` when it no longer exists (merged away, deleted, undone).
async fn lead_if_any(store: &dyn Store, id: i64) -> StoreResult<Option<LeadRow>> {
    match store.get_lead(id).await {
        Ok(lead) => Ok(Some(lead)),
        Err(StoreError::NotFound) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The two records of a review as lead data, and what merging them gives.
fn merged_data(survivor: &LeadRow, merged: &LeadRow) -> Option<LeadData> {
    let survivor = LeadSnapshot::of(survivor).data().ok()?;
    let merged = LeadSnapshot::of(merged).data().ok()?;
    Some(combine(&survivor, &merged))
}

/// A shown value of a stored lead.
type Value = fn(&LeadRow) -> Option<String>;

/// The compared fields: label key and the value of a stored lead.
const FIELDS: [(&str, Value); 11] = [
    ("lead.name", |l| Some(l.full_name()).filter(|n| !n.is_empty())),
    ("lead.kana", |l| kana(l.family_name_kana.as_deref(), l.given_name_kana.as_deref())),
    ("lead.company", |l| l.company().map(str::to_owned)),
    ("lead.department", |l| l.department.clone()),
    ("lead.title", |l| l.title.clone()),
    ("lead.email", |l| l.email.clone()),
    ("lead.phone", |l| l.phone.clone()),
    ("lead.prefecture", |l| l.prefecture.clone()),
    ("lead.address", |l| l.address.clone()),
    ("lead.source", |l| l.source.clone()),
    ("lead.owner", |l| l.owner_name.clone()),
];

fn kana(family: Option<&str>, given: Option<&str>) -> Option<String> {
    Some(hatake_domain::lead::join_name(family, given)).filter(|k| !k.is_empty())
}

/// The same fields of the merged result (the company link and owner name come from the lead
/// that holds them).
fn merged_values(data: &LeadData, survivor: &LeadRow, merged: &LeadRow) -> [Option<String>; 11] {
    let linked = |id: Option<i64>| {
        [survivor, merged]
            .into_iter()
            .find(|l| l.account_id.is_some() && l.account_id == id)
            .and_then(|l| l.account_name.clone())
    };
    let owner = [survivor, merged].into_iter().find(|l| l.owner_id.is_some() && l.owner_id == data.owner_id);
    [
        Some(hatake_domain::lead::join_name(data.family_name.as_deref(), data.given_name.as_deref()))
            .filter(|n| !n.is_empty()),
        kana(data.family_name_kana.as_deref(), data.given_name_kana.as_deref()),
        linked(data.account_id).or_else(|| data.company_name.clone()),
        data.department.clone(),
        data.title.clone(),
        data.email.as_ref().map(|e| e.as_str().to_owned()),
        data.phone.as_ref().map(|p| p.as_str().to_owned()),
        data.prefecture.clone(),
        data.address.clone(),
        data.source.clone(),
        owner.and_then(|l| l.owner_name.clone()),
    ]
}

/// Whether two shown values differ, ignoring case and spaces (so the page does not shout
/// about 「ＴＥＬ」 versus "TEL").
fn differs(a: Option<&str>, b: Option<&str>) -> bool {
    let key = |v: &str| hatake_domain::text::search_key(v);
    match (a, b) {
        (Some(a), Some(b)) => key(a) != key(b),
        _ => false,
    }
}

#[derive(Deserialize)]
struct Evidence {
    field: String,
    level: String,
    weight: f64,
}

fn evidence_view(json: &str, locale: &str) -> Vec<minijinja::Value> {
    let items: Vec<Evidence> = serde_json::from_str(json).unwrap_or_default();
    items
        .iter()
        .map(|e| {
            let level = match e.level.as_str() {
                "agree" => "agree",
                "partial" => "partial",
                _ => "disagree",
            };
            context! {
                field => t(locale, evidence_field_key(&e.field)),
                level => level,
                level_label => t(locale, &format!("review.level.{level}")),
                weight => format!("{:+.1}", e.weight),
            }
        })
        .collect()
}

fn evidence_field_key(field: &str) -> &'static str {
    match field {
        "family_name" => "lead.family_name",
        "given_name" => "lead.given_name",
        "kana" | "kana_full" => "lead.kana",
        "company" => "lead.company",
        "phone" => "lead.phone",
        "mobile" => "review.field.mobile",
        "email" => "lead.email",
        "email_domain" => "review.field.email_domain",
        "prefecture" => "lead.prefecture",
        _ => "common.none",
    }
}

/// One review as the queue (or a lead's page) shows it.
async fn pair_view(
    store: &dyn Store,
    review: &ReviewRow,
    dictionary: &hatake_domain::department::DepartmentDictionary,
    locale: &str,
) -> StoreResult<minijinja::Value> {
    let survivor = lead_if_any(store, review.candidate_id).await?;
    let merged = lead_if_any(store, review.lead_id).await?;
    let result = match (&survivor, &merged) {
        (Some(s), Some(m)) => merged_data(s, m).map(|data| merged_values(&data, s, m)),
        _ => None,
    };
    let rows: Vec<minijinja::Value> = FIELDS
        .iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let stored = survivor.as_ref().and_then(value);
            let newer = merged.as_ref().and_then(value);
            let after = result.as_ref().and_then(|r| r[i].clone());
            context! { label => t(locale, label), stored => stored, newer => newer,
            after => after, differs => differs(stored.as_deref(), newer.as_deref()) }
        })
        .collect();
    let class = |lead: &Option<LeadRow>| {
        lead.as_ref().and_then(|l| l.department_class.as_deref()).and_then(|k| dictionary.class(k)).map(|c| {
            if locale == "en" {
                c.label_en.clone()
            } else {
                c.label_ja.clone()
            }
        })
    };
    Ok(context! {
        review => review,
        score => format!("{:.1}", review.score),
        survivor => survivor,
        merged => merged,
        survivor_class => class(&survivor),
        merged_class => class(&merged),
        complete => survivor.is_some() && merged.is_some(),
        rows => rows,
        evidence => evidence_view(&review.evidence, locale),
    })
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
    let Some(mut data) = merged_data(&survivor, &merged) else {
        tracing::error!(review = id, "a stored lead does not read back as lead data");
        return PageError::internal(locale).into_response();
    };
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
        .merge_leads(survivor.id, merged.id, &data, is_lead, Some(review.id), Some(user.user.id), now_millis())
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
    match store.get_review(id).await {
        Ok(review) if review.status == "open" => {}
        Ok(_) => return Redirect::to(&position.url("stale=1")).into_response(),
        Err(error) => return PageError::from_store(error, user.locale()).into_response(),
    }
    match store.decide_review(id, "distinct", Some(user.user.id), now_millis()).await {
        Ok(()) => Redirect::to(&position.url("distinct=1")).into_response(),
        Err(error) => PageError::from_store(error, user.locale()).into_response(),
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

    #[test]
    fn evidence_in_both_languages() {
        let json = r#"[{"field":"family_name","level":"agree","weight":4.21},{"field":"email_domain","level":"disagree","weight":-1.5}]"#;
        let ja = evidence_view(json, "ja");
        assert_eq!(ja[0].get_attr("field").unwrap().to_string(), "姓");
        assert_eq!(ja[0].get_attr("weight").unwrap().to_string(), "+4.2");
        assert_eq!(ja[1].get_attr("level_label").unwrap().to_string(), "不一致");
        let en = evidence_view(json, "en");
        assert_eq!(en[1].get_attr("field").unwrap().to_string(), "E-mail domain");
        assert!(evidence_view("not json", "en").is_empty());
    }

    #[test]
    fn only_real_differences_are_marked() {
        assert!(differs(Some("課長"), Some("部長")));
        assert!(!differs(Some("ＴＥＬ"), Some("tel")));
        assert!(!differs(None, Some("部長")), "a missing value is not a difference");
    }
}
