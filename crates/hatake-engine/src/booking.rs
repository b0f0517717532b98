//! Meeting booking (商談予約) after a form: the free slots of the reps who handle the form's
//! product (their weekly hours minus their booked meetings, business days only, in the
//! organisation's time zone), and booking one — with the least-loaded free rep, never twice for
//! one rep and time (the store refuses an overlapping meeting inside its transaction, so two
//! people racing for one slot cannot both get the same rep).

use hatake_domain::booking::{free_slots, reps_by_load, BookingRules, RepAvailability, Slot, WeeklyHours};
use hatake_domain::form::BookingStep;
use hatake_store::{Appended, MeetingRow, NewEvent, NewMeeting, Store, StoreError, SubmissionRow};

/// How far ahead busy meetings are read: enough for `business_days` business days and the
/// holidays between them.
fn horizon_millis(business_days: u32) -> i64 {
    (i64::from(business_days) * 2 + 14) * 24 * 3_600_000
}

/// The rules a form's booking step applies in a time zone.
pub fn rules(step: &BookingStep, time_zone: &str) -> BookingRules {
    BookingRules {
        slot_minutes: step.slot_minutes,
        business_days: step.business_days,
        min_notice_minutes: step.min_notice_minutes,
        time_zone: time_zone.to_owned(),
    }
}

/// The free slots of a product's reps from `now`.
///
/// # Errors
/// A store error.
pub async fn offer(
    store: &dyn Store,
    product_id: i64,
    rules: &BookingRules,
    now: i64,
) -> Result<Vec<Slot>, StoreError> {
    let reps = store.product_reps(product_id).await?;
    let ids: Vec<i64> = reps.iter().map(|(id, _)| *id).collect();
    let busy = store.busy_meetings(&ids, now, now + horizon_millis(rules.business_days)).await?;
    let available: Vec<RepAvailability> = reps
        .into_iter()
        .filter_map(|(user_id, hours)| {
            // Hours that cannot be read (written by a newer version?) offer nothing.
            let hours: WeeklyHours = serde_json::from_str(&hours).ok()?;
            let busy = busy.iter().filter(|(u, _, _)| *u == user_id).map(|(_, s, e)| (*s, *e)).collect();
            Some(RepAvailability { user_id, hours, busy })
        })
        .collect();
    Ok(free_slots(rules, &available, now))
}

/// Why a booking did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    /// The time is not (or no longer) a free slot.
    #[error("the slot is not free")]
    NotFree,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records a meeting on the lead's timeline (once, whoever calls it first). A booked meeting is
/// a hand-raise: the lead goes straight to the product's MQL queue, and the rep who takes the
/// meeting becomes the lead's owner if it has none.
async fn record_event(
    store: &dyn Store,
    meeting: &MeetingRow,
    lead_id: i64,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<(), StoreError> {
    let properties = serde_json::json!({
        "meeting_id": meeting.id,
        "rep_id": meeting.user_id,
        "rep": meeting.rep_name,
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "status": "booked",
        "booked_via": "form",
    });
    let event = NewEvent {
        kind: "meeting",
        lead_id: Some(lead_id),
        visitor_id: None,
        product_id: meeting.product_id,
        occurred_at: meeting.created_at,
        source: Some("booking".to_owned()),
        name: Some(meeting.rep_name.clone()),
        properties: properties.to_string(),
        idempotency_key: Some(format!("meeting:{}", meeting.id)),
    };
    let appended = store.append_events(&[event], now).await?;
    debug_assert!(matches!(appended.first(), Some(Appended::Created(_) | Appended::Duplicate(_))));
    store.assign_owner_if_unset(lead_id, meeting.user_id, now).await?;
    if let Some(product_id) = meeting.product_id {
        let form = match meeting.form_id {
            Some(form_id) => store.get_form(form_id).await.ok().map(|f| f.name),
            None => None,
        };
        crate::qualification::hand_raise(store, lead_id, product_id, "meeting", form.as_deref(), now, zone).await?;
    }
    Ok(())
}

/// Books the slot starting at `starts_at` for a form submission: with the free rep who has the
/// fewest upcoming meetings (the next one if another booking took that rep meanwhile). A
/// submission that has a booked meeting already gets that one back (a double click books once).
///
/// # Errors
/// [`BookError::NotFree`] when no rep is free at that time any more.
pub async fn book(
    store: &dyn Store,
    submission: &SubmissionRow,
    product_id: i64,
    rules: &BookingRules,
    starts_at: i64,
    now: i64,
) -> Result<MeetingRow, BookError> {
    if let Some(booked) = store.submission_meetings(submission.id).await?.into_iter().find(|m| m.status == "booked") {
        return Ok(booked);
    }
    let slots = offer(store, product_id, rules, now).await?;
    let slot = slots.into_iter().find(|s| s.start_ms == starts_at).ok_or(BookError::NotFree)?;
    let counts: Vec<(i64, usize)> = store
        .upcoming_meeting_counts(&slot.user_ids, now)
        .await?
        .into_iter()
        .map(|(user, count)| (user, usize::try_from(count).unwrap_or(usize::MAX)))
        .collect();
    for rep in reps_by_load(&slot.user_ids, &counts) {
        let meeting = NewMeeting {
            user_id: rep,
            lead_id: submission.lead_id,
            product_id: Some(product_id),
            form_id: Some(submission.form_id),
            submission_id: Some(submission.id),
            starts_at: slot.start_ms,
            ends_at: slot.end_ms,
        };
        match store.book_meeting(&meeting, now).await {
            Ok(booked) => {
                if let Some(lead) = booked.lead_id {
                    let zone = jiff::tz::TimeZone::get(&rules.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
                    record_event(store, &booked, lead, now, &zone).await?;
                }
                return Ok(booked);
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(BookError::NotFree)
}

/// Gives a processed submission's meetings their lead and puts them on its timeline.
///
/// # Errors
/// A store error.
pub async fn link_submission(
    store: &dyn Store,
    submission_id: i64,
    lead_id: i64,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<(), StoreError> {
    let meetings = store.submission_meetings(submission_id).await?;
    if meetings.is_empty() {
        return Ok(());
    }
    store.link_submission_meetings(submission_id, lead_id).await?;
    for meeting in meetings.iter().filter(|m| m.status == "booked") {
        record_event(store, meeting, lead_id, now, zone).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_horizon_covers_the_business_days_and_their_holidays() {
        // 10 business days span at most two weeks plus Golden Week.
        assert_eq!(horizon_millis(10), 34 * 24 * 3_600_000);
    }
}
