//! Toss-up and routing (issue 17): inside sales passes a lead to field sales with a hand-over
//! note and its hearing sheet ([`toss_up`]); routing chooses the rep (the pure rules are
//! `hatake_domain::routing`; here they get the lead's facts and each rep's absences and counts)
//! and every decision is kept; the rep accepts ([`accept`]: the lead becomes theirs, with a
//! visit to arrange) or rejects with a reason ([`reject`]: back to inside sales as a call, or
//! to nurturing) within the SLA; a toss-up left past its deadline goes to the next rep
//! ([`reroute_overdue`], run by the task rules' worker).

use crate::inside_sales::SaveError;
use crate::qualification::{self, MoveError, MoveRequest};
use hatake_domain::lifecycle::add_business_hours;
use hatake_domain::routing::{choose, Decision, RepState, RoutingConfig, Subject};
use hatake_domain::{FieldError, FieldErrors, Role};
use hatake_store::{
    Millis, NewDecision, NewTask, NewTossup, Store, StoreResult, TossupDecision, TossupOwner, TossupQuery, TossupRow,
    UserRow,
};
use std::collections::HashMap;

/// The setting that holds the routing configuration (JSON; the defaults when missing).
pub const SETTING_ROUTING: &str = "routing.config";
/// The cause of the call a rejected toss-up gives back to inside sales.
pub const CAUSE_RETURNED: &str = "rule:tossup_returned";
/// The cause of the visit an accepted toss-up gives its rep.
pub const CAUSE_VISIT: &str = "rule:tossup_visit";
/// Where a rejected toss-up goes.
pub const BACK_TO: [&str; 2] = ["inside_sales", "nurturing"];

/// The configuration in force.
///
/// # Errors
/// A store error.
pub async fn config(store: &dyn Store) -> StoreResult<RoutingConfig> {
    Ok(store.get_setting(SETTING_ROUTING).await?.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
}

/// The active field-sales users: who may be routed to.
///
/// # Errors
/// A store error.
pub async fn field_reps(store: &dyn Store) -> StoreResult<Vec<UserRow>> {
    Ok(store.list_users().await?.into_iter().filter(|u| u.active && u.role() == Role::FieldSales).collect())
}

/// Saves the configuration after checking it.
///
/// # Errors
/// Every problem by field; a store error.
pub async fn save_config(store: &dyn Store, config: &RoutingConfig, now: Millis) -> Result<(), SaveError> {
    let reps: Vec<i64> = field_reps(store).await?.iter().map(|u| u.id).collect();
    let products: Vec<i64> = store.list_products().await?.iter().map(|p| p.id).collect();
    config.check(&reps, &products)?;
    store.put_setting(SETTING_ROUTING, &serde_json::to_string(config).unwrap_or_default(), now).await?;
    Ok(())
}

fn zoned(now: Millis, zone: &jiff::tz::TimeZone) -> Option<jiff::Zoned> {
    jiff::Timestamp::from_millisecond(now).ok().map(|ts| ts.to_zoned(zone.clone()))
}

/// Today (`YYYY-MM-DD`), and when today and this week (from Monday) began, in the zone.
pub fn day_and_week(now: Millis, zone: &jiff::tz::TimeZone) -> (String, Millis, Millis) {
    let Some(here) = zoned(now, zone) else { return (String::new(), now, now) };
    let date = here.date();
    let start = |d: jiff::civil::Date| d.to_zoned(zone.clone()).map_or(now, |z| z.timestamp().as_millisecond());
    let monday =
        date.checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset()))).unwrap_or(date);
    (date.to_string(), start(date), start(monday))
}

/// Each field rep's situation now: active, absent today, assignments today and this week.
///
/// # Errors
/// A store error.
pub async fn rep_states(
    store: &dyn Store,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<HashMap<i64, RepState>> {
    let (today, day_start, week_start) = day_and_week(now, zone);
    let absent = store.absent_on(&today).await?;
    let week: HashMap<i64, i64> = store.assignment_counts(week_start).await?.into_iter().collect();
    let day: HashMap<i64, i64> = store.assignment_counts(day_start).await?.into_iter().collect();
    let count =
        |map: &HashMap<i64, i64>, id: i64| u32::try_from(map.get(&id).copied().unwrap_or(0)).unwrap_or(u32::MAX);
    Ok(field_reps(store)
        .await?
        .into_iter()
        .map(|u| {
            let state = RepState {
                active: true,
                absent: absent.contains(&u.id),
                today: count(&day, u.id),
                week: count(&week, u.id),
            };
            (u.id, state)
        })
        .collect())
}

/// What routing knows of a lead for a product.
///
/// # Errors
/// A store error.
pub async fn subject(store: &dyn Store, lead_id: i64, product_id: i64) -> StoreResult<Subject> {
    let lead = store.get_lead(lead_id).await?;
    let account = match lead.account_id {
        Some(id) => Some(store.get_account(id).await?),
        None => None,
    };
    Ok(Subject {
        product_id,
        lead_owner: lead.owner_id,
        account_owner: account.as_ref().and_then(|a| a.owner_id),
        prefecture: lead.prefecture.clone().or_else(|| account.as_ref().and_then(|a| a.prefecture.clone())),
        employees: account.as_ref().and_then(|a| a.employee_count),
        industry: account.as_ref().and_then(|a| a.industry.clone()),
    })
}

/// Routes a lead now; `exclude`: reps who had it already.
///
/// # Errors
/// A store error.
pub async fn route(
    store: &dyn Store,
    lead_id: i64,
    product_id: i64,
    exclude: &[i64],
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<Decision> {
    let config = config(store).await?;
    let states = rep_states(store, now, zone).await?;
    let lead = subject(store, lead_id, product_id).await?;
    Ok(choose(&config, &lead, &states, exclude))
}

fn decision_row(decision: &Decision, cause: &str, at: Millis) -> NewDecision {
    NewDecision {
        cause: cause.into(),
        route: serde_json::to_string(&decision.route).unwrap_or_default(),
        chosen_id: decision.chosen,
        skipped: serde_json::to_string(&decision.skipped).unwrap_or_default(),
        at,
    }
}

/// The deadline to accept a toss-up made at `now`.
async fn deadline(
    store: &dyn Store,
    product_id: i64,
    config: &RoutingConfig,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<Millis> {
    let (_, process) = qualification::process(store, product_id).await?;
    Ok(add_business_hours(now, config.accept_sla_hours, process.day_starts, process.day_ends, zone))
}

fn invalid(field: &str, code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> SaveError {
    SaveError::Invalid(FieldErrors(vec![FieldError::new(field, code, ja, en)]))
}

impl From<MoveError> for SaveError {
    fn from(error: MoveError) -> Self {
        match error {
            MoveError::Invalid(errors) => SaveError::Invalid(errors),
            MoveError::Store(error) => SaveError::Store(error),
        }
    }
}

/// A toss-up as inside sales makes it.
#[derive(Debug, Clone, Default)]
pub struct TossupInput {
    pub lead_id: i64,
    pub product_id: i64,
    /// The hand-over note (引き継ぎメモ): what field sales needs to know.
    pub note: String,
}

/// What a toss-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tossed {
    pub id: i64,
    pub decision: Decision,
}

/// Passes a lead to field sales: checked, routed, and stored with the hearing sheet as it is
/// now. Its stage moves when field sales decide: to SAL when accepted, to nurturing when sent
/// back there.
///
/// # Errors
/// The note or product named when wrong, a lead already with sales or already passed on; a
/// store error.
pub async fn toss_up(
    store: &dyn Store,
    input: &TossupInput,
    by: Option<i64>,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> Result<Tossed, SaveError> {
    let note = input.note.trim().to_owned();
    let mut errors = FieldErrors::default();
    if note.is_empty() {
        errors.push(FieldError::new(
            "note",
            "required",
            "引き継ぎメモを入力してください（営業が訪問前に知るべきこと）。",
            "Write the hand-over note (what field sales needs to know before the visit).",
        ));
    } else if note.chars().count() > 4_000 {
        errors.push(FieldError::too_long("note", 4_000));
    }
    let products = store.list_products().await?;
    if !products.iter().any(|p| p.id == input.product_id) {
        errors.push(FieldError::new("product_id", "required", "商材を選んでください。", "Choose the product."));
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let stage = stage_of(store, input.lead_id, input.product_id).await?;
    if matches!(stage.as_str(), "opportunity" | "won" | "lost") {
        return Err(invalid(
            "product_id",
            "already_with_sales",
            "この商材では既に商談になっています。トスアップは商談化の前に行います。",
            "This lead already has an opportunity for the product: toss-ups come before it.",
        ));
    }
    let pending = store
        .tossups(&TossupQuery {
            status: Some("pending".into()),
            lead_id: Some(input.lead_id),
            ..TossupQuery::default()
        })
        .await?;
    if pending.iter().any(|t| t.product_id == input.product_id) {
        return Err(invalid(
            "product_id",
            "already_passed",
            "この商材のトスアップが受入待ちです。営業の判断を待つか、差し戻しを受けてからにしてください。",
            "A toss-up for this product is waiting for field sales.",
        ));
    }
    let config = config(store).await?;
    let decision = route(store, input.lead_id, input.product_id, &[], now, zone).await?;
    let sla_due_at = match decision.chosen {
        Some(_) => Some(deadline(store, input.product_id, &config, now, zone).await?),
        None => None,
    };
    let hearing = hearing_snapshot(store, input.lead_id).await?;
    let tossup = NewTossup {
        lead_id: input.lead_id,
        product_id: input.product_id,
        from_user: by,
        to_user: decision.chosen,
        note,
        hearing,
        sla_due_at,
        at: now,
    };
    let id = store.create_tossup(&tossup, &decision_row(&decision, "tossup", now)).await?;
    Ok(Tossed { id, decision })
}

/// A lead's stage for a product (`lead` when it has none).
async fn stage_of(store: &dyn Store, lead_id: i64, product_id: i64) -> StoreResult<String> {
    Ok(store
        .lead_stages(&[lead_id])
        .await?
        .into_iter()
        .find(|s| s.product_id == product_id)
        .map_or_else(|| "lead".to_owned(), |s| s.stage))
}

/// The hearing sheet as it is: `[{"label", "value"}]`, every item, blank when not known.
async fn hearing_snapshot(store: &dyn Store, lead_id: i64) -> StoreResult<String> {
    let sheet = crate::hearing::sheet(store).await?;
    let values = store.get_lead(lead_id).await?.custom_map();
    let items: Vec<serde_json::Value> = sheet
        .items
        .iter()
        .map(|def| {
            let value =
                values.get(&def.key).map(|v| hatake_domain::hearing::value_text(Some(def), v)).unwrap_or_default();
            serde_json::json!({ "label": def.label_ja, "label_en": def.label_en, "value": value })
        })
        .collect();
    Ok(serde_json::Value::Array(items).to_string())
}

/// Whether `user` may decide on the toss-up: its rep, any field rep when it went to nobody, an
/// admin.
pub fn may_decide(tossup: &TossupRow, user: &UserRow) -> bool {
    match user.role() {
        Role::Admin => true,
        Role::FieldSales => tossup.to_user.is_none_or(|to| to == user.id),
        _ => false,
    }
}

async fn pending(store: &dyn Store, id: i64, user: &UserRow) -> Result<TossupRow, SaveError> {
    let tossup = store.get_tossup(id).await?;
    if tossup.status != "pending" {
        return Err(invalid(
            "tossup",
            "decided",
            "このトスアップは既に判断済みです。",
            "This toss-up has been decided already.",
        ));
    }
    if !may_decide(&tossup, user) {
        return Err(invalid(
            "tossup",
            "not_yours",
            "このトスアップはあなた宛てではありません。",
            "This toss-up was not passed to you.",
        ));
    }
    Ok(tossup)
}

/// Accepts a toss-up: the lead becomes the rep's and moves to SAL, with a visit to arrange as
/// the rep's task.
///
/// # Errors
/// Not pending, or not the user's to decide; a store error.
pub async fn accept(
    store: &dyn Store,
    id: i64,
    user: &UserRow,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> Result<(), SaveError> {
    let tossup = pending(store, id, user).await?;
    let decision = TossupDecision {
        status: "accepted".into(),
        by: Some(user.id),
        reason: None,
        reason_note: None,
        back_to: None,
        at: now,
    };
    if !store.decide_tossup(id, &decision).await? {
        return Err(invalid("tossup", "decided", "このトスアップは既に判断済みです。", "Decided meanwhile."));
    }
    let rep = tossup.to_user.unwrap_or(user.id);
    store.assign_lead_owner(tossup.lead_id, rep, now).await?;
    // Sales accepted it: SAL, with the hand-over note (a lead already past it stays).
    let stage = stage_of(store, tossup.lead_id, tossup.product_id).await?;
    if matches!(stage.as_str(), "lead" | "mql" | "nurturing") {
        let request = MoveRequest {
            lead_id: tossup.lead_id,
            product_id: tossup.product_id,
            from: stage,
            to: "sal".into(),
            note: Some(tossup.note.clone()),
            by: Some(user.id),
            ..MoveRequest::default()
        };
        match qualification::move_lead(store, &request, now, zone).await {
            Ok(_) | Err(MoveError::Invalid(_)) => {}
            Err(MoveError::Store(error)) => return Err(error.into()),
        }
    }
    let product = tossup.product_name.clone().unwrap_or_default();
    let visit = NewTask {
        kind: "visit".into(),
        lead_id: tossup.lead_id,
        product_id: Some(tossup.product_id),
        owner_id: Some(rep),
        title: format!("初回訪問の日程調整（{product}）"),
        note: Some(tossup.note.clone()),
        due_at: now,
        sla_due_at: None,
        priority: 1,
        cause: CAUSE_VISIT.into(),
        cause_key: Some(format!("tossup:{id}:visit")),
        created_by: Some(user.id),
        at: now,
    };
    store.create_task(&visit).await?;
    Ok(())
}

/// A rejection as field sales gives it.
#[derive(Debug, Clone, Default)]
pub struct Rejection {
    /// A recycle reason of the product's process.
    pub reason: String,
    pub note: Option<String>,
    /// `inside_sales` (a call again for whoever passed it on) or `nurturing`.
    pub back_to: String,
}

/// Rejects a toss-up with a reason: back to inside sales as an urgent call, or to nurturing.
///
/// # Errors
/// The reason or destination named when wrong; not pending, not the user's; a store error.
pub async fn reject(
    store: &dyn Store,
    id: i64,
    user: &UserRow,
    rejection: &Rejection,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> Result<(), SaveError> {
    let tossup = pending(store, id, user).await?;
    let (_, process) = qualification::process(store, tossup.product_id).await?;
    let mut errors = FieldErrors::default();
    let reason = process.recycle_reasons.iter().find(|r| r.key == rejection.reason);
    if reason.is_none() {
        errors.push(FieldError::new(
            "reason",
            "reason_required",
            "差し戻しの理由を選んでください。",
            "Choose why the lead is not taken.",
        ));
    }
    if !BACK_TO.contains(&rejection.back_to.as_str()) {
        errors.push(FieldError::new(
            "back_to",
            "invalid_choice",
            "差し戻し先を選んでください。",
            "Choose where the lead goes back to.",
        ));
    }
    let note = rejection.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 2_000) {
        errors.push(FieldError::too_long("note", 2_000));
    }
    let Some(reason) = reason.filter(|_| errors.is_empty()) else {
        return Err(errors.into());
    };
    let decision = TossupDecision {
        status: "rejected".into(),
        by: Some(user.id),
        reason: Some(reason.key.clone()),
        reason_note: note.clone(),
        back_to: Some(rejection.back_to.clone()),
        at: now,
    };
    if !store.decide_tossup(id, &decision).await? {
        return Err(invalid("tossup", "decided", "このトスアップは既に判断済みです。", "Decided meanwhile."));
    }
    let stage = stage_of(store, tossup.lead_id, tossup.product_id).await?;
    if rejection.back_to == "nurturing" && matches!(stage.as_str(), "mql" | "sal") {
        let request = MoveRequest {
            lead_id: tossup.lead_id,
            product_id: tossup.product_id,
            from: stage,
            to: "nurturing".into(),
            reason: Some(reason.key.clone()),
            note: note.clone(),
            by: Some(user.id),
            ..MoveRequest::default()
        };
        match qualification::move_lead(store, &request, now, zone).await {
            // The lead moved on meanwhile (another product's deal, a person's move): the
            // rejection stands.
            Ok(_) | Err(MoveError::Invalid(_)) => {}
            Err(MoveError::Store(error)) => return Err(error.into()),
        }
    } else if rejection.back_to == "inside_sales" {
        let owner = match tossup.from_user {
            Some(id) => {
                store.get_user(id).await.ok().filter(|u| u.active && u.role() == Role::InsideSales).map(|u| u.id)
            }
            None => None,
        };
        let call = NewTask {
            kind: "call".into(),
            lead_id: tossup.lead_id,
            product_id: Some(tossup.product_id),
            owner_id: owner,
            title: format!("トスアップ差し戻し：{}", reason.label),
            note: note.clone(),
            due_at: now,
            sla_due_at: None,
            priority: 1,
            cause: CAUSE_RETURNED.into(),
            cause_key: Some(format!("tossup:{id}:returned")),
            created_by: Some(user.id),
            at: now,
        };
        store.create_task(&call).await?;
    }
    Ok(())
}

/// A pending toss-up nobody was free for, taken by a field rep (then accepted or rejected by
/// them as theirs).
///
/// # Errors
/// Not pending or already routed to someone; a store error.
pub async fn take(
    store: &dyn Store,
    id: i64,
    user: &UserRow,
    now: Millis,
    zone: &jiff::tz::TimeZone,
) -> Result<(), SaveError> {
    let tossup = pending(store, id, user).await?;
    if tossup.to_user.is_some() {
        return Ok(());
    }
    let config = config(store).await?;
    let sla = deadline(store, tossup.product_id, &config, now, zone).await?;
    let decision =
        Decision { chosen: Some(user.id), route: hatake_domain::routing::Route::Nobody, skipped: Vec::new() };
    store.reroute_tossup(id, None, Some(user.id), Some(sla), &decision_row(&decision, "taken", now)).await?;
    Ok(())
}

/// Toss-ups whose rep let the deadline pass go to the next rep (never back to one who had it);
/// with nobody free, to any field rep. Returns how many moved.
///
/// # Errors
/// A store error.
pub async fn reroute_overdue(store: &dyn Store, now: Millis, zone: &jiff::tz::TimeZone) -> StoreResult<usize> {
    let overdue = store.overdue_tossups(now, 200).await?;
    if overdue.is_empty() {
        return Ok(0);
    }
    let config = config(store).await?;
    let mut moved = 0;
    for tossup in overdue {
        let had: Vec<i64> = store.tossup_decisions(tossup.id).await?.iter().filter_map(|d| d.chosen_id).collect();
        let decision = route(store, tossup.lead_id, tossup.product_id, &had, now, zone).await?;
        let sla = match decision.chosen {
            Some(_) => Some(deadline(store, tossup.product_id, &config, now, zone).await?),
            None => None,
        };
        if store
            .reroute_tossup(
                tossup.id,
                tossup.to_user,
                decision.chosen,
                sla,
                &decision_row(&decision, "sla_breach", now),
            )
            .await?
        {
            moved += 1;
            tracing::info!(tossup = tossup.id, from = ?tossup.to_user, to = ?decision.chosen, "toss-up past its deadline routed on");
        }
    }
    Ok(moved)
}

/// Toss-ups a person sees by default: a field rep theirs (and those nobody was free for), inside
/// sales those they passed on, managers all.
pub fn owner_for(user: &UserRow) -> TossupOwner {
    match user.role() {
        Role::FieldSales => TossupOwner::ToOrNobody(user.id),
        Role::InsideSales => TossupOwner::From(user.id),
        _ => TossupOwner::Anyone,
    }
}
