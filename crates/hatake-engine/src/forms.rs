//! Processing form submissions: a stored submission becomes a lead (created or merged through
//! name-matching) and a `form_submit` event, which carries the consents given and links the
//! web visitor who sent it to the lead (their earlier anonymous visits join the lead's history).
//!
//! Each step can be repeated without doing it twice — the record's fingerprint makes a second
//! resolution "unchanged", the event's idempotency key makes a second append a duplicate — so a
//! submission whose processing failed half-way is simply processed again. Failed submissions are
//! retried after [`BACKOFF_MINUTES`]; after the last one they wait for a person's retry.

use crate::resolve::{resolve_one, Incoming};
use hatake_domain::form::FormDefinition;
use hatake_domain::tracking::utm_parameters;
use hatake_store::{Appended, NewEvent, Store, StoreError, SubmissionDone, SubmissionRow};
use serde_json::{Map, Value};

/// Minutes to wait before each automatic retry of a failed submission.
pub const BACKOFF_MINUTES: [i64; 8] = [1, 5, 15, 60, 180, 360, 720, 1_440];

/// Why a submission could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The answers no longer make a valid lead (e.g. the form fills a custom field that was
    /// deleted since): fixable by a person, then retried.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The event source of a form's submissions.
pub fn source_of(slug: &str) -> String {
    format!("form:{slug}")
}

/// Processes one submission and records the outcome on it.
///
/// # Errors
/// Why it failed; the caller records the failure ([`process_and_record`] does).
pub async fn process(
    store: &dyn Store,
    submission: &SubmissionRow,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<SubmissionDone, ProcessError> {
    let form = store.get_form(submission.form_id).await?;
    let definition_text = store.form_version(submission.form_id, submission.form_version).await?;
    let definition: FormDefinition = serde_json::from_str(&definition_text)
        .map_err(|e| ProcessError::Invalid(format!("the form's definition cannot be read: {e}")))?;
    let payload: Map<String, Value> = serde_json::from_str(&submission.payload)
        .map_err(|e| ProcessError::Invalid(format!("the submission cannot be read: {e}")))?;

    let source = source_of(&form.slug);
    let mut input = definition.lead_input(&payload);
    input.source = Some(source.clone());
    let custom_defs = crate::settings::custom_defs(store).await?;
    let mut data = input.validate(&custom_defs).map_err(|e| ProcessError::Invalid(e.to_string()))?;
    let dictionary = crate::settings::departments(store).await?;
    data.department_class = data.department.as_deref().and_then(|d| dictionary.classify(d)).map(|c| c.key.clone());
    // A product deleted since the form was saved is left off (the lead's and the event's)
    // rather than failing.
    let mut product_id = definition.product_id;
    if let Some(product) = product_id {
        if store.get_product(product).await.is_err() {
            data.product_ids.retain(|id| *id != product);
            product_id = None;
        }
    }
    let required = crate::settings::required_fields(store).await?;
    let record = Incoming {
        data,
        line: None,
        channel: "form",
        source: Some(source.clone()),
        fields: submission.payload.clone(),
    };
    let (outcome, lead_id) = resolve_one(store, required, record, now).await?;

    let mut properties = Map::new();
    properties.insert("form_id".into(), form.id.into());
    properties.insert("form_version".into(), submission.form_version.into());
    properties.insert("submission_id".into(), submission.id.into());
    if let Some(url) = &submission.page_url {
        properties.insert("url".into(), url.clone().into());
        for (key, value) in utm_parameters(url) {
            properties.insert(key, value.into());
        }
    }
    if let Some(referrer) = &submission.referrer {
        properties.insert("referrer".into(), referrer.clone().into());
    }
    let consents = FormDefinition::consents_of(&payload);
    properties.insert("consents".into(), consents.clone().into());
    let answers = FormDefinition::extras_of(&payload);
    if !answers.is_empty() {
        properties.insert("answers".into(), Value::Object(answers));
    }
    let event = NewEvent {
        kind: "form_submit",
        lead_id: Some(lead_id),
        visitor_id: submission.visitor_id.clone(),
        product_id,
        occurred_at: submission.received_at,
        source: Some(source),
        name: Some(definition.name.clone()),
        properties: Value::Object(properties).to_string(),
        idempotency_key: Some(format!("form-submission:{}", submission.id)),
    };
    let appended = store.append_events(&[event], now).await?;
    let event_id = match appended.first() {
        Some(Appended::Created(id) | Appended::Duplicate(id)) => *id,
        None => return Err(ProcessError::Store(StoreError::Database("no event was appended".to_owned()))),
    };
    // Each consent box ticked subscribes the lead to that product's mail (the first consent's
    // time and form stay when it was given before).
    let subscriptions: Vec<hatake_store::SubscriptionChange> = consents
        .iter()
        .map(|product| hatake_store::SubscriptionChange {
            lead_id,
            topic: hatake_store::product_topic(*product),
            status: "subscribed".into(),
            source: "form".into(),
            detail: Some(definition.name.clone()),
            by_user: None,
            at: submission.received_at,
        })
        .collect();
    store.change_subscriptions(&subscriptions).await?;
    // A meeting booked before the submission became a lead gets the lead now (only a
    // submission given a booking token can have one).
    if submission.booking_token.is_some() {
        crate::booking::link_submission(store, submission.id, lead_id, now, zone).await?;
    }
    // An inquiry is a hand-raise: straight to the product's MQL queue, whatever the score.
    if let (true, Some(product)) = (definition.is_fast_track(), product_id) {
        crate::qualification::hand_raise(store, lead_id, product, "form", Some(&definition.name), now, zone).await?;
    }
    let done = SubmissionDone { lead_id, outcome: outcome.as_str(), event_id };
    store.finish_submission(submission.id, &done, now).await?;
    Ok(done)
}

/// When a submission that has failed `attempts` times is tried next (none: no more automatic
/// retries).
pub fn next_attempt(attempts: i64, now: i64) -> Option<i64> {
    let index = usize::try_from(attempts.max(1) - 1).ok()?;
    BACKOFF_MINUTES.get(index).map(|minutes| now + minutes * 60_000)
}

/// [`process`], recording a failure on the submission (with when to retry it).
///
/// # Errors
/// A store error while recording the failure.
pub async fn process_and_record(
    store: &dyn Store,
    submission: &SubmissionRow,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<Result<SubmissionDone, String>, StoreError> {
    match process(store, submission, now, zone).await {
        Ok(done) => Ok(Ok(done)),
        Err(error) => {
            let message = error.to_string();
            tracing::warn!(submission = submission.id, error = %message, "form submission failed");
            let next = next_attempt(submission.attempts + 1, now);
            store.fail_submission(submission.id, &message, next, now).await?;
            Ok(Err(message))
        }
    }
}

/// What a retry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryCounts {
    pub done: usize,
    pub failed: usize,
}

/// Processes the submissions that were due by `due_by` (pending, or failed and due for a
/// retry), oldest first.
///
/// # Errors
/// A store error while reading them or recording a failure.
pub async fn process_due(
    store: &dyn Store,
    due_by: i64,
    now: i64,
    limit: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<RetryCounts, StoreError> {
    let mut counts = RetryCounts::default();
    for submission in store.due_submissions(due_by, limit).await? {
        match process_and_record(store, &submission, now, zone).await? {
            Ok(_) => counts.done += 1,
            Err(_) => counts.failed += 1,
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_then_stop() {
        let now = 1_000_000;
        assert_eq!(next_attempt(1, now), Some(now + 60_000));
        assert_eq!(next_attempt(2, now), Some(now + 300_000));
        assert_eq!(next_attempt(8, now), Some(now + 1_440 * 60_000));
        assert_eq!(next_attempt(9, now), None, "after the last wait a person retries it");
    }
}
