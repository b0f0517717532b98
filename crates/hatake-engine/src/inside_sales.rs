//! Inside sales: tasks, calls and the call queue (issue 17).
//!
//! - **Tasks** are made through [`create_task`] — by a person, by a rule ([`TaskRules`]: a lead
//!   that becomes an MQL gets a first call, cancelled when it leaves the MQL queue otherwise),
//!   by a call (the next call) and later by scenarios — each rule's or call's task once, by its
//!   cause key.
//! - **Calls** are logged with [`log_call`]: an outcome code (configurable; each counts in a KPI
//!   bucket — a call, a connect, a contact), a result and notes. The call is stored, its task is
//!   done, it becomes a `call` event in the log (scoring sees it), and a call again at a set time
//!   becomes the next task.
//! - **The call queue** ([`call_queue`]) is a rep's open calls due today, theirs and the pool's,
//!   ranked by priority, score and how recent the lead's latest action is, each with why now.

use crate::runtime::{Context, Next, WorkError, Worker};
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::{
    CallSummary, EventQuery, EventRow, HearingSource, Millis, NewCall, NewEvent, NewTask, Store, StoreError,
    StoreResult, TaskOwner, TaskQuery, TaskRow, TASK_KINDS,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// The setting that holds the outcome codes (JSON; the defaults when missing).
pub const SETTING_OUTCOMES: &str = "calls.outcomes";
/// The rule worker's place in the stage history.
pub const SETTING_RULES_CURSOR: &str = "tasks.rules.cursor";
/// The cause of the first call a new MQL gets.
pub const CAUSE_MQL: &str = "rule:mql";
/// The cause of a call again at a set time.
pub const CAUSE_CALL: &str = "call";
/// A person's task.
pub const CAUSE_PERSON: &str = "person";
/// A lost deal's re-approach date came.
pub const CAUSE_REAPPROACH: &str = "rule:reapproach";

/// The KPI buckets, each counting the ones after it too: every call is a call, a connect
/// reached the company (the reception, an absent person), a contact spoke with the person.
pub const BUCKETS: [&str; 3] = ["call", "connect", "contact"];

/// What a call led to.
pub const RESULTS: [&str; 4] = ["nurture", "opportunity", "not_target", "recall"];

/// An outcome code of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutcome {
    pub code: String,
    pub label_ja: String,
    pub label_en: String,
    /// `call`, `connect` or `contact`.
    pub bucket: String,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

impl CallOutcome {
    pub fn label(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.label_en
        } else {
            &self.label_ja
        }
    }
}

/// The outcome codes a new organisation starts with (the material's KPI buckets).
pub fn default_outcomes() -> Vec<CallOutcome> {
    [
        ("no_answer", "不通", "No answer", "call"),
        ("busy", "話し中", "Busy", "call"),
        ("wrong_number", "番号不備", "Wrong number", "call"),
        ("reception_block", "受付ブロック", "Blocked at reception", "connect"),
        ("absent", "不在", "Not in", "connect"),
        ("contact_person", "担当者と会話", "Spoke with the contact", "contact"),
        ("key_person", "キーマンと会話", "Spoke with the decision maker", "contact"),
    ]
    .into_iter()
    .map(|(code, ja, en, bucket)| CallOutcome {
        code: code.into(),
        label_ja: ja.into(),
        label_en: en.into(),
        bucket: bucket.into(),
        active: true,
    })
    .collect()
}

/// The outcome codes in use (the defaults until some are saved).
///
/// # Errors
/// A store error.
pub async fn outcomes(store: &dyn Store) -> StoreResult<Vec<CallOutcome>> {
    Ok(match store.get_setting(SETTING_OUTCOMES).await? {
        Some(json) => serde_json::from_str(&json).unwrap_or_else(|_| default_outcomes()),
        None => default_outcomes(),
    })
}

/// Checks and saves the outcome codes. A code keeps its meaning once used: codes are only added
/// or switched off, never removed (the calls logged with them keep their labels).
///
/// # Errors
/// Each wrong row named (`outcomes.N.field`), or a store error.
pub async fn save_outcomes(store: &dyn Store, list: &[CallOutcome], now: Millis) -> Result<(), SaveError> {
    let mut errors = Vec::new();
    let current = outcomes(store).await?;
    let mut seen = std::collections::HashSet::new();
    for (i, outcome) in list.iter().enumerate() {
        let line = i + 1;
        if outcome.code.is_empty()
            || outcome.code.len() > 40
            || !outcome.code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            errors.push(FieldError::new(
                format!("outcomes.{i}.code"),
                "invalid_code",
                format!(
                    "{line}行目：コードは半角英小文字・数字・_ の40文字以内で入力してください（入力: {}）。",
                    outcome.code
                ),
                format!("Line {line}: a code is up to 40 lowercase letters, digits and _ (got {}).", outcome.code),
            ));
        }
        if !seen.insert(outcome.code.clone()) {
            errors.push(FieldError::new(
                format!("outcomes.{i}.code"),
                "duplicate",
                format!("{line}行目：コード {} が重複しています。", outcome.code),
                format!("Line {line}: the code {} is used twice.", outcome.code),
            ));
        }
        if outcome.label_ja.trim().is_empty() {
            errors.push(FieldError::new(
                format!("outcomes.{i}.label_ja"),
                "required",
                format!("{line}行目：表示名を入力してください。"),
                format!("Line {line}: enter the Japanese label."),
            ));
        }
        if !BUCKETS.contains(&outcome.bucket.as_str()) {
            errors.push(FieldError::new(
                format!("outcomes.{i}.bucket"),
                "invalid_choice",
                format!("{line}行目：KPI区分を選んでください。"),
                format!("Line {line}: choose the KPI bucket."),
            ));
        }
    }
    for old in &current {
        if !list.iter().any(|o| o.code == old.code) {
            errors.push(FieldError::new(
                "outcomes",
                "removed",
                format!("結果コード「{}」は削除できません（記録済みの架電が使っています）。使わない場合は無効にしてください。", old.label_ja),
                format!("The outcome “{}” cannot be removed (logged calls use it); switch it off instead.", old.label_en),
            ));
        }
    }
    if !list.iter().any(|o| o.active) {
        errors.push(FieldError::new(
            "outcomes",
            "none_active",
            "有効な結果コードが1つ以上必要です。",
            "At least one outcome must be switched on.",
        ));
    }
    if !errors.is_empty() {
        return Err(SaveError::Invalid(FieldErrors(errors)));
    }
    // An outcome without an English label reads its Japanese one in English too.
    let list: Vec<CallOutcome> = list
        .iter()
        .cloned()
        .map(|mut o| {
            if o.label_en.trim().is_empty() {
                o.label_en = o.label_ja.clone();
            }
            o
        })
        .collect();
    let json = serde_json::to_string(&list).map_err(|e| StoreError::Database(e.to_string()))?;
    store.put_setting(SETTING_OUTCOMES, &json, now).await?;
    Ok(())
}

/// Why something was not saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldErrors> for SaveError {
    fn from(errors: FieldErrors) -> Self {
        SaveError::Invalid(errors)
    }
}

/// A task as a person asks for it.
#[derive(Debug, Clone, Default)]
pub struct TaskInput {
    pub kind: String,
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub title: String,
    pub note: Option<String>,
    pub due_at: Option<Millis>,
    pub priority: i64,
}

/// Checks and makes a person's task.
///
/// # Errors
/// Each wrong field named, or a store error (the lead not found).
pub async fn create_task(store: &dyn Store, input: &TaskInput, by: Option<i64>, now: Millis) -> Result<i64, SaveError> {
    let mut errors = Vec::new();
    if !TASK_KINDS.contains(&input.kind.as_str()) {
        errors.push(FieldError::new("kind", "invalid_choice", "種類を選んでください。", "Choose the kind of task."));
    }
    let title = input.title.trim();
    if title.is_empty() {
        errors.push(FieldError::new("title", "required", "件名を入力してください。", "Enter what is to be done."));
    } else if title.chars().count() > 200 {
        errors.push(FieldError::new(
            "title",
            "too_long",
            "件名は200文字以内にしてください。",
            "Keep the title within 200 characters.",
        ));
    }
    if !(1..=3).contains(&input.priority) {
        errors.push(FieldError::new("priority", "invalid_choice", "優先度を選んでください。", "Choose the priority."));
    }
    let Some(due_at) = input.due_at else {
        errors.push(FieldError::new("due_at", "required", "期日を入力してください。", "Enter when it is due."));
        return Err(FieldErrors(errors).into());
    };
    if !errors.is_empty() {
        return Err(FieldErrors(errors).into());
    }
    store.get_lead(input.lead_id).await?;
    let task = NewTask {
        kind: input.kind.clone(),
        lead_id: input.lead_id,
        product_id: input.product_id,
        owner_id: input.owner_id,
        title: title.to_owned(),
        note: input.note.clone().filter(|n| !n.trim().is_empty()),
        due_at,
        sla_due_at: None,
        priority: input.priority,
        cause: CAUSE_PERSON.into(),
        cause_key: None,
        created_by: by,
        at: now,
    };
    Ok(store.create_task(&task).await?.0)
}

/// A call as the rep logs it.
#[derive(Debug, Clone, Default)]
pub struct CallInput {
    pub lead_id: i64,
    pub product_id: Option<i64>,
    pub outcome: String,
    pub result: Option<String>,
    pub recall_at: Option<Millis>,
    pub note: Option<String>,
    pub task_id: Option<i64>,
    /// Hearing items as typed during the call: (key, text); a blank one is cleared.
    pub hearing: Vec<(String, String)>,
}

/// What logging a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedCall {
    pub call_id: i64,
    /// The next call's task, when one was asked for.
    pub next_task: Option<i64>,
    /// The outcome's label and bucket.
    pub outcome: CallOutcome,
    /// The hearing items whose value the call changed.
    pub learned: Vec<String>,
}

/// Logs a call: stored with its task done, appended to the log as a `call` event, and a call
/// again at the time asked becomes the rep's next task.
///
/// # Errors
/// The outcome, result or time named when wrong; a store error.
pub async fn log_call(
    store: &dyn Store,
    input: &CallInput,
    user: Option<i64>,
    now: Millis,
) -> Result<LoggedCall, SaveError> {
    let codes = outcomes(store).await?;
    let mut errors = Vec::new();
    let outcome = codes.iter().find(|o| o.code == input.outcome && o.active).cloned();
    if outcome.is_none() {
        errors.push(FieldError::new(
            "outcome",
            "required",
            "通話の結果を選んでください。",
            "Choose how the call went.",
        ));
    }
    let result = input.result.clone().filter(|r| !r.is_empty());
    if let Some(result) = &result {
        if !RESULTS.contains(&result.as_str()) {
            errors.push(FieldError::new(
                "result",
                "invalid_choice",
                "その後の対応を選んでください。",
                "Choose what comes next.",
            ));
        }
    }
    let recall_at = if result.as_deref() == Some("recall") {
        match input.recall_at {
            None => {
                errors.push(FieldError::new(
                    "recall_at",
                    "required",
                    "再コールの日時を入力してください。",
                    "Enter when to call again.",
                ));
                None
            }
            Some(at) if at <= now => {
                errors.push(FieldError::new(
                    "recall_at",
                    "in_past",
                    "再コールの日時は今より後にしてください。",
                    "The time to call again must be in the future.",
                ));
                None
            }
            Some(at) => Some(at),
        }
    } else {
        None
    };
    let note = input.note.clone().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 4_000) {
        errors.push(FieldError::new(
            "note",
            "too_long",
            "メモは4,000文字以内にしてください。",
            "Keep the note within 4,000 characters.",
        ));
    }
    let hearing = if input.hearing.is_empty() {
        Vec::new()
    } else {
        match crate::hearing::sheet(store).await?.changes(&input.hearing, true) {
            Ok(changes) => changes,
            Err(bad) => {
                errors.extend(bad.0);
                Vec::new()
            }
        }
    };
    let Some(outcome) = outcome.filter(|_| errors.is_empty()) else {
        return Err(FieldErrors(errors).into());
    };
    let lead = store.get_lead(input.lead_id).await?;
    let task = match input.task_id {
        Some(id) => Some(store.get_task(id).await?).filter(|t| t.lead_id == lead.id),
        None => None,
    };
    let product_id = input.product_id.or_else(|| task.as_ref().and_then(|t| t.product_id));
    let call = NewCall {
        lead_id: lead.id,
        product_id,
        user_id: user,
        at: now,
        outcome: outcome.code.clone(),
        bucket: outcome.bucket.clone(),
        result: result.clone(),
        recall_at,
        note: note.clone(),
        task_id: task.as_ref().map(|t| t.id),
    };
    let call_id = store.record_call(&call).await?;
    let source = HearingSource { user_id: user, call_id: Some(call_id), channel: "call".into(), at: now };
    let learned = crate::hearing::record(store, lead.id, &hearing, &source).await?;
    let caller = match user {
        Some(id) => store.get_user(id).await.ok().map(|u| u.display_name),
        None => None,
    };
    let properties = serde_json::json!({
        "call_id": call_id,
        "outcome": outcome.code,
        "outcome_label": outcome.label_ja,
        "bucket": outcome.bucket,
        "result": result,
        "caller": caller,
    });
    store
        .append_events(
            &[NewEvent {
                kind: "call",
                lead_id: Some(lead.id),
                visitor_id: None,
                product_id,
                occurred_at: now,
                source: Some("inside_sales".into()),
                name: Some(outcome.label_ja.clone()),
                properties: properties.to_string(),
                idempotency_key: Some(format!("call:{call_id}")),
            }],
            now,
        )
        .await?;
    let next_task = match recall_at {
        Some(due_at) => {
            let task = NewTask {
                kind: "call".into(),
                lead_id: lead.id,
                product_id,
                owner_id: user,
                title: "再コール".into(),
                note: note.clone(),
                due_at,
                sla_due_at: None,
                priority: 2,
                cause: CAUSE_CALL.into(),
                cause_key: Some(format!("call:{call_id}:recall")),
                created_by: user,
                at: now,
            };
            Some(store.create_task(&task).await?.0)
        }
        None => None,
    };
    Ok(LoggedCall { call_id, next_task, outcome, learned })
}

/// One row of a rep's call queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueueEntry {
    pub task: TaskRow,
    /// The lead's best score (engagement and fit), for the task's product when it has one.
    pub score: Option<i64>,
    /// When the lead last did something (from its score state).
    pub active_at: Option<Millis>,
    /// The lead's latest action (filled for the page shown).
    pub latest: Option<EventRow>,
    pub calls: Option<CallSummary>,
    /// How complete the lead's hearing sheet is (filled for the page shown).
    pub hearing: Option<hatake_domain::hearing::Completeness>,
}

/// A rep's call queue: their open calls (and the pool's, with `pool`) due by `until`, ranked —
/// priority first, then the lead's score, then how recently the lead acted, then the due time.
///
/// # Errors
/// A store error.
pub async fn call_queue(store: &dyn Store, user: i64, pool: bool, until: Millis) -> StoreResult<Vec<QueueEntry>> {
    let tasks = store
        .tasks(&TaskQuery {
            owner: if pool { TaskOwner::UserAndPool(user) } else { TaskOwner::User(user) },
            kind: Some("call".into()),
            due_until: Some(until),
            limit: 2_000,
            ..TaskQuery::default()
        })
        .await?;
    let mut leads: Vec<i64> = tasks.iter().map(|t| t.lead_id).collect();
    leads.sort_unstable();
    leads.dedup();
    let scores = store.lead_scores(&leads).await?;
    let mut best: HashMap<(i64, Option<i64>), (i64, Option<Millis>)> = HashMap::new();
    for row in &scores {
        let value = row.engagement + row.fit;
        let at = hatake_domain::scoring::fold::ScoreState::last_at_of(&row.state);
        for key in [(row.lead_id, Some(row.product_id)), (row.lead_id, None)] {
            let entry = best.entry(key).or_insert((value, at));
            entry.0 = entry.0.max(value);
            entry.1 = entry.1.max(at);
        }
    }
    let calls: HashMap<i64, CallSummary> =
        store.call_summaries(&leads).await?.into_iter().map(|s| (s.lead_id, s)).collect();
    let mut entries: Vec<QueueEntry> = tasks
        .into_iter()
        .map(|task| {
            let (score, active_at) = best
                .get(&(task.lead_id, task.product_id))
                .or_else(|| best.get(&(task.lead_id, None)))
                .map_or((None, None), |(s, a)| (Some(*s), *a));
            let calls = calls.get(&task.lead_id).cloned();
            QueueEntry { task, score, active_at, latest: None, calls, hearing: None }
        })
        .collect();
    entries.sort_by(|a, b| {
        a.task
            .priority
            .cmp(&b.task.priority)
            .then(b.score.unwrap_or(i64::MIN).cmp(&a.score.unwrap_or(i64::MIN)))
            .then(b.active_at.unwrap_or(i64::MIN).cmp(&a.active_at.unwrap_or(i64::MIN)))
            .then(a.task.due_at.cmp(&b.task.due_at))
            .then(a.task.id.cmp(&b.task.id))
    });
    Ok(entries)
}

/// Fills the latest action of the entries shown (one read each).
///
/// # Errors
/// A store error.
pub async fn fill_latest(store: &dyn Store, entries: &mut [QueueEntry]) -> StoreResult<()> {
    for entry in entries {
        let query = EventQuery { limit: 5, ..EventQuery::default() };
        let events = store.lead_events(entry.task.lead_id, &query).await?;
        // The lead's own latest action: the calls made to it are not why to call now.
        entry.latest = events.into_iter().find(|e| e.kind != "call");
    }
    Ok(())
}

/// Fills how complete each shown lead's hearing sheet is (one read for all).
///
/// # Errors
/// A store error.
pub async fn fill_hearing(
    store: &dyn Store,
    entries: &mut [QueueEntry],
    sheet: &crate::hearing::Sheet,
) -> StoreResult<()> {
    if sheet.items.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = entries.iter().map(|e| e.task.lead_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let keys = sheet.keys();
    let values: HashMap<i64, hatake_domain::hearing::Completeness> = store
        .leads_by_ids(&ids)
        .await?
        .into_iter()
        .map(|lead| (lead.id, hatake_domain::hearing::completeness(&keys, &lead.custom_map())))
        .collect();
    for entry in entries {
        entry.hearing = values.get(&entry.task.lead_id).cloned();
    }
    Ok(())
}

/// The rules that make inside sales' calls, and route on the toss-ups whose rep let the
/// deadline pass ([`crate::routing::reroute_overdue`]). A lost deal whose re-approach date came gets a call
/// (once, by its cause key). And a new MQL gets its first call: for each move into `mql` (in the order of the
/// stage history), a call task for the lead's owner when they are in inside sales, else for
/// the pool, to make at once and by the MQL's SLA deadline, urgent for a hand-raise; a move out of `mql` cancels
/// the open first call. Each move's task once (its cause key), whoever runs the rule.
#[derive(Debug, Default)]
pub struct TaskRules;

/// Moves read a step.
const MOVES_PER_STEP: i64 = 500;

impl TaskRules {
    /// One step over the moves after the cursor; whether there may be more.
    ///
    /// # Errors
    /// A store error.
    pub async fn run(store: &dyn Store, now: Millis, zone: &jiff::tz::TimeZone) -> StoreResult<bool> {
        let more = Self::reapproach(store, now, zone).await?;
        let rerouted = crate::routing::reroute_overdue(store, now, zone).await? >= 200;
        Ok(Self::first_calls(store, now).await? || more || rerouted)
    }

    /// Lost deals whose re-approach date came: a call task each (the deal's lead's owner when in
    /// inside sales, else the pool), due at 9:00 that day.
    async fn reapproach(store: &dyn Store, now: Millis, zone: &jiff::tz::TimeZone) -> StoreResult<bool> {
        let Ok(today) = jiff::Timestamp::from_millisecond(now).map(|ts| ts.to_zoned(zone.clone()).date()) else {
            return Ok(false);
        };
        let due = store.due_reapproaches(&today.to_string(), MOVES_PER_STEP).await?;
        if due.is_empty() {
            return Ok(false);
        }
        let lead_ids: Vec<i64> = due.iter().filter_map(|o| o.lead_id).collect();
        let owners = inside_owners(store, &lead_ids).await?;
        for deal in &due {
            let Some(lead_id) = deal.lead_id else { continue };
            let day: Option<jiff::civil::Date> = deal.reapproach_on.as_deref().and_then(|d| d.parse().ok());
            let due_at = day
                .and_then(|d| d.at(9, 0, 0, 0).to_zoned(zone.clone()).ok())
                .map_or(now, |z| z.timestamp().as_millisecond());
            let why = match &deal.competitor {
                Some(competitor) => format!("失注した商談「{}」の再アプローチ（{competitor}導入から）", deal.name),
                None => format!("失注した商談「{}」の再アプローチ", deal.name),
            };
            let task = NewTask {
                kind: "call".into(),
                lead_id,
                product_id: Some(deal.product_id),
                owner_id: owners.get(&lead_id).copied(),
                title: why,
                note: deal.reason.clone().map(|r| format!("失注理由: {r}")),
                due_at,
                sla_due_at: None,
                priority: 2,
                cause: CAUSE_REAPPROACH.into(),
                cause_key: Some(format!("reapproach:{}", deal.id)),
                created_by: None,
                at: now,
            };
            store.create_task(&task).await?;
        }
        Ok(due.len() as i64 == MOVES_PER_STEP)
    }

    /// New MQLs' first calls (see the type's documentation).
    async fn first_calls(store: &dyn Store, now: Millis) -> StoreResult<bool> {
        let cursor: i64 = store.get_setting(SETTING_RULES_CURSOR).await?.and_then(|c| c.parse().ok()).unwrap_or(0);
        let moves = store.stage_moves_after(cursor, MOVES_PER_STEP).await?;
        let Some(last) = moves.last().map(|m| m.id) else { return Ok(false) };
        let mut leads: Vec<i64> = moves.iter().map(|m| m.lead_id).collect();
        leads.sort_unstable();
        leads.dedup();
        let stages = store.lead_stages(&leads).await?;
        let current: HashMap<(i64, i64), &hatake_store::LeadStageRow> =
            stages.iter().map(|s| ((s.lead_id, s.product_id), s)).collect();
        let owners = inside_owners(store, &leads).await?;
        let products: HashMap<i64, String> = store.list_products().await?.into_iter().map(|p| (p.id, p.name)).collect();
        for step in &moves {
            if step.from_stage.as_deref() == Some("mql") && step.to_stage != "mql" {
                store.cancel_tasks_of(step.lead_id, step.product_id, CAUSE_MQL, now).await?;
            }
            if step.to_stage != "mql" {
                continue;
            }
            // Only the move that put the lead where it is now (a lead that moved on since, or a
            // deleted one, gets nothing).
            let Some(stage) = current.get(&(step.lead_id, step.product_id)) else { continue };
            if stage.stage != "mql" || stage.since != step.at {
                continue;
            }
            let owner = owners.get(&step.lead_id).copied();
            let hand_raise = step.reason.as_deref() == Some("hand_raise");
            let product = products.get(&step.product_id).map_or("", String::as_str);
            let title = if hand_raise {
                format!("問い合わせ（{product}）への初回架電")
            } else {
                format!("MQL（{product}）への初回架電")
            };
            let task = NewTask {
                kind: "call".into(),
                lead_id: step.lead_id,
                product_id: Some(step.product_id),
                owner_id: owner,
                title,
                note: None,
                // To call now; done by the MQL's SLA deadline.
                due_at: step.at,
                sla_due_at: stage.sla_due_at,
                priority: if hand_raise { 1 } else { 2 },
                cause: CAUSE_MQL.into(),
                cause_key: Some(format!("mql:{}", step.id)),
                created_by: None,
                at: now,
            };
            // A lead deleted meanwhile fails the step; the next one finds it gone and moves on.
            store.create_task(&task).await?;
        }
        store.put_setting(SETTING_RULES_CURSOR, &last.to_string(), now).await?;
        Ok(moves.len() as i64 == MOVES_PER_STEP)
    }
}

/// The owners of these leads who are (active) in inside sales, by lead: whose a rule's call is;
/// the others' calls go to the pool.
async fn inside_owners(store: &dyn Store, leads: &[i64]) -> StoreResult<HashMap<i64, i64>> {
    let inside: std::collections::HashSet<i64> = store
        .list_users()
        .await?
        .into_iter()
        .filter(|u| u.role == hatake_domain::Role::InsideSales.as_str() && u.active)
        .map(|u| u.id)
        .collect();
    Ok(store
        .leads_by_ids(leads)
        .await?
        .into_iter()
        .filter_map(|l| l.owner_id.filter(|o| inside.contains(o)).map(|o| (l.id, o)))
        .collect())
}

#[async_trait::async_trait]
impl Worker for TaskRules {
    fn name(&self) -> &'static str {
        "task-rules"
    }

    fn lease(&self) -> Option<&'static str> {
        Some("task-rules")
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        Ok(if Self::run(cx.store.as_ref(), cx.clock.now(), &cx.zone).await? { Next::Again } else { Next::Idle })
    }
}

/// How KPI figures are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Weeks starting on Monday.
    Week,
    Month,
}

/// Inside sales' KPI figures of one group (a period, a rep, or both): the funnel of the
/// material — calls → connects → contacts → what they led to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Kpi {
    /// Every call made.
    pub calls: i64,
    /// Calls that reached the company (a connect or a contact).
    pub connects: i64,
    /// Calls that reached the person.
    pub contacts: i64,
    /// Calls after which the lead stays in nurturing.
    pub nurture: i64,
    /// Calls that led to an opportunity.
    pub opportunities: i64,
    pub not_target: i64,
    /// Leads called (each once).
    pub leads: i64,
    /// Leads passed to field sales (toss-ups made).
    pub passed: i64,
    /// Toss-ups field sales accepted: valid opportunities as they judged them.
    pub valid: i64,
    /// Toss-ups field sales rejected (the rest still wait).
    pub rejected: i64,
}

impl Kpi {
    fn add(&mut self, call: &hatake_store::CallRow) {
        self.calls += 1;
        self.connects += i64::from(call.bucket != "call");
        self.contacts += i64::from(call.bucket == "contact");
        match call.result.as_deref() {
            Some("nurture") => self.nurture += 1,
            Some("opportunity") => self.opportunities += 1,
            Some("not_target") => self.not_target += 1,
            _ => {}
        }
    }

    /// Connects per call.
    pub fn connect_rate(&self) -> Option<f64> {
        rate(self.connects, self.calls)
    }

    /// Contacts per connect.
    pub fn contact_rate(&self) -> Option<f64> {
        rate(self.contacts, self.connects)
    }

    /// Opportunities per contact.
    pub fn opportunity_rate(&self) -> Option<f64> {
        rate(self.opportunities, self.contacts)
    }

    /// Valid opportunities per toss-up decided (those still waiting are not counted yet).
    pub fn valid_rate(&self) -> Option<f64> {
        rate(self.valid, self.valid + self.rejected)
    }

    fn add_tossup(&mut self, tossup: &hatake_store::TossupRow) {
        self.passed += 1;
        self.valid += i64::from(tossup.status == "accepted");
        self.rejected += i64::from(tossup.status == "rejected");
    }
}

fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The first day of the period `at` falls in, in `zone`.
pub fn period_of(at: Millis, period: Period, zone: &jiff::tz::TimeZone) -> Option<jiff::civil::Date> {
    let day = jiff::Timestamp::from_millisecond(at).ok()?.to_zoned(zone.clone()).date();
    match period {
        Period::Week => day.checked_sub(jiff::Span::new().days(i64::from(day.weekday().to_monday_zero_offset()))).ok(),
        Period::Month => Some(day.first_of_month()),
    }
}

/// A rep's KPI figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepKpi {
    pub user_id: Option<i64>,
    pub name: Option<String>,
    pub kpi: Kpi,
}

/// KPI figures of a time range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kpis {
    /// By period (its first day), oldest first.
    pub periods: Vec<(jiff::civil::Date, Kpi)>,
    /// By rep, most calls first.
    pub reps: Vec<RepKpi>,
    pub all: Kpi,
}

/// KPI figures of `calls` and the toss-ups made in the same time: by period, by rep (the one who
/// called, the one who passed on), and in all.
pub fn kpis(
    calls: &[hatake_store::CallRow],
    tossups: &[hatake_store::TossupRow],
    period: Period,
    zone: &jiff::tz::TimeZone,
) -> Kpis {
    let mut by_period: std::collections::BTreeMap<jiff::civil::Date, (Kpi, std::collections::HashSet<i64>)> =
        std::collections::BTreeMap::new();
    let mut by_rep: HashMap<Option<i64>, (Option<String>, Kpi, std::collections::HashSet<i64>)> = HashMap::new();
    let mut all = Kpi::default();
    let mut all_leads = std::collections::HashSet::new();
    for call in calls {
        let Some(start) = period_of(call.at, period, zone) else { continue };
        let (kpi, leads) = by_period.entry(start).or_default();
        kpi.add(call);
        leads.insert(call.lead_id);
        let (_, kpi, leads) =
            by_rep.entry(call.user_id).or_insert_with(|| (call.user_name.clone(), Kpi::default(), Default::default()));
        kpi.add(call);
        leads.insert(call.lead_id);
        all.add(call);
        all_leads.insert(call.lead_id);
    }
    for tossup in tossups {
        let Some(start) = period_of(tossup.created_at, period, zone) else { continue };
        by_period.entry(start).or_default().0.add_tossup(tossup);
        let (_, kpi, _) = by_rep
            .entry(tossup.from_user)
            .or_insert_with(|| (tossup.from_name.clone(), Kpi::default(), Default::default()));
        kpi.add_tossup(tossup);
        all.add_tossup(tossup);
    }
    all.leads = all_leads.len() as i64;
    let periods = by_period
        .into_iter()
        .map(|(start, (mut kpi, leads))| {
            kpi.leads = leads.len() as i64;
            (start, kpi)
        })
        .collect();
    let mut reps: Vec<RepKpi> = by_rep
        .into_iter()
        .map(|(user_id, (name, mut kpi, leads))| {
            kpi.leads = leads.len() as i64;
            RepKpi { user_id, name, kpi }
        })
        .collect();
    reps.sort_by(|a, b| b.kpi.calls.cmp(&a.kpi.calls).then(a.name.cmp(&b.name)));
    Kpis { periods, reps, all }
}
