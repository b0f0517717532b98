//! Qualification and the sales process, driven with a store: MQL policies applied to leads whose
//! scores or attributes changed (a qualifying lead moves to MQL by itself, recording the policy
//! version and mode), moves made by people (accept, reject and recycle with a reason, open an
//! opportunity), opportunities moved and closed, and the policy simulator.

use crate::scoring::Models;
use hatake_domain::lifecycle::{NeedsReason, ProcessConfig, Stage};
use hatake_domain::qualification::{LeadFacts, MqlPolicy, PolicyMode, Unmet, REQUIRABLE_FIELDS};
use hatake_domain::scoring::fold::{Matched, ScoreEvent, ScoreState};
use hatake_domain::EventKind;
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::{
    LeadRow, LeadScoreRow, NewOpportunity, OpportunityClose, OpportunityUpdate, StageMove, Store, StoreError,
    StoreResult, CONFIG_MQL_POLICY, CONFIG_PROCESS,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{0}")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldError> for MoveError {
    fn from(error: FieldError) -> Self {
        Self::Invalid(error.into())
    }
}

/// The MQL policy in force for every product that has one: (product, version, policy).
///
/// # Errors
/// When the store fails.
pub async fn policies(store: &dyn Store) -> StoreResult<Vec<(i64, i64, MqlPolicy)>> {
    let rows = store.current_configs(CONFIG_MQL_POLICY).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match MqlPolicy::from_json(&row.definition) {
            Ok(policy) => Some((row.product_id, row.version, policy)),
            Err(error) => {
                tracing::error!(product = row.product_id, %error, "a stored MQL policy is unreadable");
                None
            }
        })
        .collect())
}

/// A product's process configuration (the defaults until one is saved) and its version.
///
/// # Errors
/// When the store fails.
pub async fn process(store: &dyn Store, product_id: i64) -> StoreResult<(Option<i64>, ProcessConfig)> {
    let rows = store.config_versions(product_id, CONFIG_PROCESS).await?;
    Ok(match rows.first().and_then(|r| ProcessConfig::from_json(&r.definition).ok().map(|c| (r.version, c))) {
        Some((version, config)) => (Some(version), config),
        None => (None, ProcessConfig::default()),
    })
}

/// The day (`YYYY-MM-DD`) of a time in a zone.
pub fn day_of(millis: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(millis).map(|t| t.to_zoned(zone.clone()).date().to_string()).unwrap_or_default()
}

fn filled(lead: &LeadRow) -> Vec<&'static str> {
    REQUIRABLE_FIELDS
        .iter()
        .copied()
        .filter(|field| match *field {
            "company_name" => lead.company().is_some(),
            "department" => lead.department.is_some(),
            "title" => lead.title.is_some(),
            "phone" => lead.phone.is_some(),
            "prefecture" => lead.prefecture.is_some(),
            "address" => lead.address.is_some(),
            "family_name_kana" => lead.family_name_kana.is_some(),
            "account" => lead.account_id.is_some(),
            _ => false,
        })
        .collect()
}

fn facts<'a>(
    lead: &'a LeadRow,
    custom: &'a Map<String, Value>,
    score: Option<&LeadScoreRow>,
    account_score: Option<i64>,
    existing_customer: bool,
    custom_labels: &'a [(String, String, String)],
) -> LeadFacts<'a> {
    LeadFacts {
        custom_labels,
        is_lead: lead.is_lead,
        engagement: score.map_or(0, |s| s.engagement),
        fit: score.map_or(0, |s| s.fit),
        account_score,
        email: lead.email.as_deref(),
        company: lead.company(),
        filled: filled(lead),
        custom: Some(custom),
        existing_customer,
    }
}

/// The account scores (per the product's model roll-up) of these accounts.
async fn account_scores(
    store: &dyn Store,
    models: &Models,
    product_id: i64,
    accounts: &[i64],
) -> StoreResult<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    let Some((_, _, model)) = models.get(product_id) else { return Ok(out) };
    for account in accounts {
        let people: Vec<i64> = store
            .account_person_scores(*account)
            .await?
            .iter()
            .filter(|p| p.product_id == product_id)
            .map(|p| p.engagement)
            .collect();
        out.insert(*account, model.model.account.roll_up(&people));
    }
    Ok(out)
}

/// A lead's facts for a product and the conditions of `mode` it does not meet.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub product_id: i64,
    pub policy_version: i64,
    pub mode: String,
    /// The mode's name as the policy gives it (its id when it has none).
    pub mode_label: String,
    pub unmet: Vec<Unmet>,
    /// The mode's conditions the lead meets, in words.
    pub met: Vec<Unmet>,
}

impl Verdict {
    /// Why the lead qualified, as a stage move's `detail` (JSON): the mode's name and the
    /// conditions met.
    pub fn detail(&self) -> String {
        serde_json::json!({ "mode_label": self.mode_label, "met": self.met }).to_string()
    }
}

/// The organisation's custom fields as (key, Japanese, English) labels.
async fn custom_labels(store: &dyn Store) -> StoreResult<Vec<(String, String, String)>> {
    Ok(store.list_custom_fields().await?.into_iter().map(|d| (d.key, d.label_ja, d.label_en)).collect())
}

/// Applies the MQL policies to these leads: each that qualifies for a product and stands at
/// `lead` (or at `nurturing` with behaviour newer than its recycling) moves to MQL, recording the
/// policy version and mode in force today. Returns how many moved.
///
/// # Errors
/// When the store fails.
pub async fn qualify(store: &dyn Store, lead_ids: &[i64], now: i64, zone: &jiff::tz::TimeZone) -> StoreResult<usize> {
    if lead_ids.is_empty() {
        return Ok(0);
    }
    Qualifier::load(store).await?.qualify(store, lead_ids, now, zone, &|_, _| None).await
}

/// The time of the last event of a lead's score for a product, when the scorer holds a newer
/// state than the stored one.
pub type LastAt<'a> = dyn Fn(i64, i64) -> Option<i64> + Sync + 'a;

/// What applying the policies needs, read once for many leads: the policies in force, the scoring
/// models (account roll-ups) and each policy's product's process settings (the SLA).
pub struct Qualifier {
    policies: Vec<(i64, i64, MqlPolicy)>,
    models: Models,
    processes: HashMap<i64, ProcessConfig>,
}

impl Qualifier {
    /// # Errors
    /// When the store fails.
    pub async fn load(store: &dyn Store) -> StoreResult<Self> {
        let policies = policies(store).await?;
        let mut processes = HashMap::new();
        for (product_id, _, _) in &policies {
            processes.insert(*product_id, process(store, *product_id).await?.1);
        }
        let models = if policies.is_empty() { Models::default() } else { Models::load(store).await? };
        Ok(Self { policies, models, processes })
    }

    /// See [`qualify`]. `last_at` gives the time of a score's last event when the scorer holds
    /// a state newer than the stored one (`None`: the stored state says).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn qualify(
        &self,
        store: &dyn Store,
        lead_ids: &[i64],
        now: i64,
        zone: &jiff::tz::TimeZone,
        last_at: &LastAt<'_>,
    ) -> StoreResult<usize> {
        if lead_ids.is_empty() || self.policies.is_empty() {
            return Ok(0);
        }
        let day = day_of(now, zone);
        let scores = store.lead_scores(lead_ids).await?;
        let stages = store.lead_stages(lead_ids).await?;
        let score_of: HashMap<(i64, i64), &LeadScoreRow> =
            scores.iter().map(|s| ((s.lead_id, s.product_id), s)).collect();
        let stage_of: HashMap<(i64, i64), _> = stages.iter().map(|s| ((s.lead_id, s.product_id), s)).collect();
        let mut moved = 0;
        let mut leads: Option<Vec<LeadRow>> = None;
        for (product_id, version, policy) in &self.policies {
            let Some(mode) = policy.mode_on(&day) else { continue };
            // Only leads that could move: with scores for the product (behaviour; its fit is kept
            // with them), at `lead` or recycled before their newest behaviour.
            let candidates: Vec<i64> = lead_ids
                .iter()
                .copied()
                .filter(|lead| {
                    let stage = stage_of.get(&(*lead, *product_id));
                    let Some(score) = score_of.get(&(*lead, *product_id)) else { return false };
                    match stage.map(|s| s.stage.as_str()) {
                        None | Some("lead") => true,
                        Some("nurturing") => {
                            let since = stage.map_or(0, |s| s.since);
                            last_at(*lead, *product_id)
                                .or_else(|| ScoreState::last_at_of(&score.state))
                                .is_some_and(|last| last > since)
                        }
                        _ => false,
                    }
                })
                .collect();
            if candidates.is_empty() {
                continue;
            }
            if leads.is_none() {
                leads = Some(store.leads_by_ids(lead_ids).await?);
            }
            let wanted: HashSet<i64> = candidates.iter().copied().collect();
            let rows: Vec<&LeadRow> = leads.iter().flatten().filter(|l| wanted.contains(&l.id)).collect();
            let verdicts = judge(store, &self.models, *product_id, *version, policy, mode, &rows, &scores).await?;
            let process = self.processes.get(product_id).cloned().unwrap_or_default();
            for (lead, verdict) in verdicts {
                if !verdict.unmet.is_empty() {
                    continue;
                }
                let from = stage_of.get(&(lead, *product_id)).map(|s| s.stage.clone());
                let step = StageMove {
                    lead_id: lead,
                    product_id: *product_id,
                    from,
                    to: Stage::Mql.as_str().into(),
                    at: now,
                    by: None,
                    reason: None,
                    note: None,
                    policy_version: Some(*version),
                    mode: Some(verdict.mode.clone()),
                    sla_due_at: Some(process.sla_deadline(now, zone)),
                    opportunity: None,
                    detail: Some(verdict.detail()),
                };
                match store.move_stage(&step).await {
                    Ok(_) => moved += 1,
                    // Moved by someone meanwhile, or deleted: their move stands.
                    Err(StoreError::Conflict { .. } | StoreError::NotFound) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        Ok(moved)
    }
}

/// A hand-raise (an inquiry, a booked meeting): the lead goes straight to the product's MQL
/// queue, whatever its score and even as a list entry, with the SLA deadline and the reason
/// `hand_raise` (`detail`: how, and which form). A lead whose deal was lost comes back: it is
/// recycled (to `nurturing`, with the same reason) and then qualified. A lead already in the
/// queue or further on (MQL, SAL, a deal, a customer) stays where it is. Whether it moved.
///
/// # Errors
/// When the store fails.
pub async fn hand_raise(
    store: &dyn Store,
    lead_id: i64,
    product_id: i64,
    via: &str,
    form: Option<&str>,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<bool> {
    let current = store.lead_stages(&[lead_id]).await?.into_iter().find(|s| s.product_id == product_id);
    let from = current.map(|s| s.stage);
    let (_, process) = process(store, product_id).await?;
    let mut step = StageMove {
        lead_id,
        product_id,
        from,
        to: Stage::Mql.as_str().into(),
        at: now,
        by: None,
        reason: Some("hand_raise".into()),
        note: None,
        policy_version: None,
        mode: None,
        sla_due_at: Some(process.sla_deadline(now, zone)),
        opportunity: None,
        detail: Some(serde_json::json!({ "via": via, "form": form }).to_string()),
    };
    match step.from.as_deref().and_then(Stage::parse).unwrap_or(Stage::Lead) {
        Stage::Lead | Stage::Nurturing => {}
        Stage::Lost => {
            // A lost prospect asking again: recycled, then qualified like any hand-raiser.
            let recycle = StageMove { to: Stage::Nurturing.as_str().into(), sla_due_at: None, ..step.clone() };
            match store.move_stage(&recycle).await {
                Ok(_) => step.from = Some(recycle.to),
                Err(StoreError::Conflict { .. } | StoreError::NotFound) => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        _ => return Ok(false),
    }
    match store.move_stage(&step).await {
        Ok(_) => Ok(true),
        // Moved by someone (or the scorer) meanwhile, or deleted: that move stands.
        Err(StoreError::Conflict { .. } | StoreError::NotFound) => Ok(false),
        Err(error) => Err(error),
    }
}

/// The verdict of `mode` on each lead.
#[allow(clippy::too_many_arguments)]
async fn judge(
    store: &dyn Store,
    models: &Models,
    product_id: i64,
    version: i64,
    policy: &MqlPolicy,
    mode: &PolicyMode,
    leads: &[&LeadRow],
    scores: &[LeadScoreRow],
) -> StoreResult<Vec<(i64, Verdict)>> {
    let mut accounts: Vec<i64> = leads.iter().filter_map(|l| l.account_id).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let won: HashSet<i64> = if policy.exclusions.existing_customers && !accounts.is_empty() {
        store.won_accounts(product_id, &accounts).await?.into_iter().collect()
    } else {
        HashSet::new()
    };
    let account_scores = if mode.min_account_score.is_some() {
        account_scores(store, models, product_id, &accounts).await?
    } else {
        HashMap::new()
    };
    let score_of: HashMap<i64, &LeadScoreRow> =
        scores.iter().filter(|s| s.product_id == product_id).map(|s| (s.lead_id, s)).collect();
    let labels = custom_labels(store).await?;
    Ok(leads
        .iter()
        .map(|lead| {
            let custom = lead.custom_map();
            let score = score_of.get(&lead.id).copied();
            let account_score = lead.account_id.and_then(|a| account_scores.get(&a).copied());
            let existing = lead.account_id.is_some_and(|a| won.contains(&a));
            let facts = facts(lead, &custom, score, account_score, existing, &labels);
            let verdict = Verdict {
                product_id,
                policy_version: version,
                mode: mode.id.clone(),
                mode_label: mode.label.clone().unwrap_or_else(|| mode.id.clone()),
                unmet: policy.unmet(mode, &facts),
                met: policy.met(mode, &facts),
            };
            (lead.id, verdict)
        })
        .collect())
}

/// What the policies say about one lead today, per product with a policy (for the lead page).
///
/// # Errors
/// When the store fails.
pub async fn verdicts(
    store: &dyn Store,
    lead: &LeadRow,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<Vec<Verdict>> {
    let policies = policies(store).await?;
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    let models = Models::load(store).await?;
    let scores = store.lead_scores(&[lead.id]).await?;
    let day = day_of(now, zone);
    let mut out = Vec::new();
    for (product_id, version, policy) in &policies {
        let Some(mode) = policy.mode_on(&day) else { continue };
        let judged = judge(store, &models, *product_id, *version, policy, mode, &[lead], &scores).await?;
        out.extend(judged.into_iter().map(|(_, v)| v));
    }
    Ok(out)
}

/// A move a person asks for.
#[derive(Debug, Clone, Default)]
pub struct MoveRequest {
    pub lead_id: i64,
    pub product_id: i64,
    /// The stage the person saw.
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub by: Option<i64>,
    /// For a move to `opportunity`: its name, stage, amount and expected close as typed.
    pub opportunity_name: Option<String>,
    pub stage_key: Option<String>,
    pub amount: Option<String>,
    pub expected_close_on: Option<String>,
}

fn blank(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An amount as typed (`1,200,000`, `１２０万` is not accepted): whole yen, not negative.
fn amount(text: Option<&String>, errors: &mut FieldErrors) -> Option<i64> {
    let text = blank(text)?;
    let digits: String = hatake_domain::text::nfkc_trim(&text).chars().filter(|c| *c != ',' && *c != '円').collect();
    match digits.parse::<i64>() {
        Ok(n) if n >= 0 => Some(n),
        _ => {
            errors.push(FieldError::new(
                "amount",
                "invalid_amount",
                "金額は0以上の整数（円）で入力してください。",
                "The amount is a whole number of yen, not negative.",
            ));
            None
        }
    }
}

fn date(field: &str, text: Option<&String>, errors: &mut FieldErrors) -> Option<String> {
    let text = blank(text)?;
    match hatake_domain::text::nfkc_trim(&text).replace('/', "-").parse::<jiff::civil::Date>() {
        Ok(date) => Some(date.to_string()),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid_date",
                "日付は YYYY-MM-DD で入力してください。",
                "Dates are written YYYY-MM-DD.",
            ));
            None
        }
    }
}

/// Moves a lead by hand: the move must be allowed from the stage the person saw, a recycle needs
/// a reason from the product's list, passing a lead straight to SAL a note, and opening an
/// opportunity a stage of the product's pipeline. Won and lost come from closing the opportunity.
///
/// # Errors
/// [`MoveError::Invalid`] with every problem by field; the store's conflict (`stage`) when the
/// lead moved meanwhile.
pub async fn move_lead(
    store: &dyn Store,
    request: &MoveRequest,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> Result<i64, MoveError> {
    let mut errors = FieldErrors::default();
    let from = Stage::parse(&request.from).unwrap_or(Stage::Lead);
    let Some(to) = Stage::parse(&request.to) else {
        return Err(FieldError::new("stage", "unknown_stage", "移動先が正しくありません。", "Unknown stage.").into());
    };
    if matches!(to, Stage::Won | Stage::Lost) {
        return Err(FieldError::new(
            "stage",
            "close_the_opportunity",
            "受注・失注は商談を完了して記録してください。",
            "Record won or lost by closing the opportunity.",
        )
        .into());
    }
    let needs = from.check_move(to)?;
    let (_, process) = process(store, request.product_id).await?;
    let reason = blank(request.reason.as_ref());
    let note = blank(request.note.as_ref());
    if let Some(note) = &note {
        if note.chars().count() > 2_000 {
            errors.push(FieldError::too_long("note", 2_000));
        }
    }
    if to == Stage::Nurturing {
        match &reason {
            Some(key) if process.recycle_reasons.iter().any(|r| &r.key == key) => {}
            Some(_) | None => errors.push(FieldError::new(
                "reason",
                "reason_required",
                "リサイクルの理由を選んでください。",
                "Choose why the lead goes back to nurturing.",
            )),
        }
    } else if needs == NeedsReason::Yes && note.is_none() {
        errors.push(FieldError::new(
            "note",
            "note_required",
            "この移動には理由（メモ）が必要です。",
            "This move needs a note saying why.",
        ));
    }
    let mut opportunity = None;
    if to == Stage::Opportunity {
        let stage_key = blank(request.stage_key.as_ref()).or_else(|| process.stages.first().map(|s| s.key.clone()));
        let stage_key = match stage_key {
            Some(key) if process.stage(&key).is_some() => key,
            _ => {
                errors.push(FieldError::new(
                    "stage_key",
                    "unknown_stage",
                    "商談の段階を選んでください。",
                    "Choose a stage of the pipeline.",
                ));
                String::new()
            }
        };
        let amount = amount(request.amount.as_ref(), &mut errors);
        let close = date("expected_close_on", request.expected_close_on.as_ref(), &mut errors);
        let name = blank(request.opportunity_name.as_ref());
        if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
            errors.push(FieldError::too_long("opportunity_name", 200));
        }
        let lead = store.get_lead(request.lead_id).await?;
        let product = store.get_product(request.product_id).await?;
        let name = name.unwrap_or_else(|| format!("{} {}", lead.company().unwrap_or(&lead.full_name()), product.name));
        opportunity = Some(NewOpportunity { name, stage_key, amount, expected_close_on: close, owner_id: request.by });
    }
    if !errors.is_empty() {
        return Err(MoveError::Invalid(errors));
    }
    let step = StageMove {
        lead_id: request.lead_id,
        product_id: request.product_id,
        from: Some(from.as_str().to_owned()),
        to: to.as_str().to_owned(),
        at: now,
        by: request.by,
        reason,
        note,
        policy_version: None,
        mode: None,
        sla_due_at: (to == Stage::Mql).then(|| process.sla_deadline(now, zone)),
        opportunity,
        detail: None,
    };
    Ok(store.move_stage(&step).await?)
}

/// Changes an open opportunity's stage, amount or expected close.
///
/// # Errors
/// [`MoveError::Invalid`] for an unknown stage, amount or date.
pub async fn update_opportunity(
    store: &dyn Store,
    id: i64,
    stage_key: &str,
    amount_text: Option<&String>,
    close_text: Option<&String>,
    by: Option<i64>,
    now: i64,
) -> Result<(), MoveError> {
    let opportunity = store.get_opportunity(id).await?;
    let (_, process) = process(store, opportunity.product_id).await?;
    let mut errors = FieldErrors::default();
    if process.stage(stage_key).is_none() {
        errors.push(FieldError::new(
            "stage_key",
            "unknown_stage",
            "商談の段階を選んでください。",
            "Choose a stage of the pipeline.",
        ));
    }
    let amount = amount(amount_text, &mut errors);
    let close = date("expected_close_on", close_text, &mut errors);
    if !errors.is_empty() {
        return Err(MoveError::Invalid(errors));
    }
    store
        .update_opportunity(&OpportunityUpdate {
            id,
            stage_key: stage_key.to_owned(),
            amount,
            expected_close_on: close,
            by,
            at: now,
        })
        .await?;
    Ok(())
}

/// What a person types to close an opportunity.
#[derive(Debug, Clone, Default)]
pub struct CloseRequest {
    pub won: bool,
    pub reason: Option<String>,
    pub note: Option<String>,
    pub competitor: Option<String>,
    pub competitor_installed_on: Option<String>,
    pub reapproach_on: Option<String>,
}

/// Closes an opportunity won or lost. A loss needs a reason from the product's list; the
/// competitor's install date gives the re-approach date when none is typed.
///
/// # Errors
/// [`MoveError::Invalid`] with every problem by field.
pub async fn close_opportunity(
    store: &dyn Store,
    id: i64,
    request: &CloseRequest,
    by: Option<i64>,
    now: i64,
) -> Result<(), MoveError> {
    let opportunity = store.get_opportunity(id).await?;
    let (_, process) = process(store, opportunity.product_id).await?;
    let mut errors = FieldErrors::default();
    let reason = blank(request.reason.as_ref());
    let reason = if request.won {
        reason.unwrap_or_else(|| "won".to_owned())
    } else {
        match reason {
            Some(key) if process.lost_reasons.iter().any(|r| r.key == key) => key,
            _ => {
                errors.push(FieldError::new(
                    "reason",
                    "reason_required",
                    "失注理由を選んでください。",
                    "Choose why the deal was lost.",
                ));
                String::new()
            }
        }
    };
    let installed = date("competitor_installed_on", request.competitor_installed_on.as_ref(), &mut errors);
    let mut reapproach = date("reapproach_on", request.reapproach_on.as_ref(), &mut errors);
    if reapproach.is_none() {
        reapproach = installed
            .as_deref()
            .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            .and_then(|d| process.reapproach_on(d))
            .map(|d| d.to_string());
    }
    let competitor = blank(request.competitor.as_ref());
    if competitor.as_ref().is_some_and(|c| c.chars().count() > 200) {
        errors.push(FieldError::too_long("competitor", 200));
    }
    if !errors.is_empty() {
        return Err(MoveError::Invalid(errors));
    }
    store
        .close_opportunity(&OpportunityClose {
            id,
            won: request.won,
            reason,
            note: blank(request.note.as_ref()),
            competitor,
            competitor_installed_on: installed,
            reapproach_on: reapproach,
            by,
            at: now,
        })
        .await?;
    Ok(())
}

/// One month of the simulator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SimMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Leads the policy would have passed that month (the first day they qualified).
    pub would: usize,
    /// Of those, how many were won later.
    pub won: usize,
    /// MQLs actually recorded that month (by any policy or by hand).
    pub actual: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Simulation {
    pub months: Vec<SimMonth>,
    pub total: usize,
    pub won: usize,
    /// Leads with behaviour for the product that were looked at.
    pub leads: usize,
    pub events: u64,
}

/// "Over the last `months` months this policy would have produced N MQLs a month, and this many
/// of them were later won": each lead's events for the product are folded with the scoring
/// model in force; a lead counts in the month of the first event after which its engagement and
/// the mode in force that day (or `mode`, when given) let it pass. Attributes, hearing items,
/// account scores and exclusions are taken as they are now (their history is not kept).
///
/// # Errors
/// When the store fails; `NotFound` when the product has no scoring model.
pub async fn simulate(
    store: &dyn Store,
    product_id: i64,
    policy: &MqlPolicy,
    mode: Option<&str>,
    months: u32,
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> StoreResult<Simulation> {
    let models = Models::load(store).await?;
    let Some((_, _, model)) = models.get(product_id) else { return Err(StoreError::NotFound) };
    let start_day = jiff::Timestamp::from_millisecond(now)
        .map_err(|e| StoreError::Database(e.to_string()))?
        .to_zoned(zone.clone())
        .date()
        .first_of_month()
        .checked_sub(jiff::Span::new().months(i64::from(months.saturating_sub(1))))
        .map_err(|e| StoreError::Database(e.to_string()))?;
    let start =
        start_day.to_zoned(zone.clone()).map_err(|e| StoreError::Database(e.to_string()))?.timestamp().as_millisecond();
    // Every event of the product's scope, by lead (read as a full recomputation reads them:
    // each with the lead its visitor is linked to).
    let mut folded: Vec<(i64, i64, i64, Matched)> = Vec::new();
    let up_to = store.max_event_id().await?;
    let mut after = 0;
    let mut events = 0u64;
    while after < up_to {
        let chunk = store.scoring_event_chunk(after, up_to, 50_000).await?;
        let Some(last) = chunk.events.last() else { break };
        after = last.id;
        for event in &chunk.events {
            events += 1;
            let (Some(lead), Some(kind)) = (event.lead_id, EventKind::parse(chunk.kind(event))) else { continue };
            if !model.in_scope(event.product_id, product_id) {
                continue;
            }
            let scored = ScoreEvent {
                id: event.id,
                kind,
                occurred_at: event.occurred_at,
                name: chunk.name(event),
                properties: chunk.properties(event),
            };
            folded.push((lead, event.occurred_at, event.id, model.matches(&scored)));
        }
    }
    folded.sort_unstable_by_key(|e| (e.0, e.1, e.2));
    let mut lead_ids: Vec<i64> = folded.iter().map(|e| e.0).collect();
    lead_ids.dedup();
    // Everything but engagement, as it is now.
    let mut static_ok: HashMap<i64, HashSet<String>> = HashMap::new();
    for part in lead_ids.chunks(5_000) {
        let leads = store.leads_by_ids(part).await?;
        let scores = store.lead_scores(part).await?;
        let refs: Vec<&LeadRow> = leads.iter().collect();
        for candidate in &policy.modes {
            if mode.is_some_and(|m| m != candidate.id) {
                continue;
            }
            let without_engagement = PolicyMode { min_engagement: None, ..candidate.clone() };
            for (lead, verdict) in
                judge(store, &models, product_id, 0, policy, &without_engagement, &refs, &scores).await?
            {
                if verdict.unmet.is_empty() {
                    static_ok.entry(lead).or_default().insert(candidate.id.clone());
                }
            }
        }
    }
    let won: HashMap<i64, i64> = store.moves_into(product_id, "won", 0).await?.into_iter().collect();
    let mut per_month: BTreeMap<String, SimMonth> = BTreeMap::new();
    let month_of = |millis: i64| day_of(millis, zone).get(..7).unwrap_or_default().to_owned();
    let mut day = start_day;
    while let Ok(zoned) = day.to_zoned(zone.clone()) {
        if zoned.timestamp().as_millisecond() > now {
            break;
        }
        let key = month_of(zoned.timestamp().as_millisecond());
        per_month.insert(key.clone(), SimMonth { month: key, would: 0, won: 0, actual: 0 });
        match day.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    let mut start_index = 0;
    let mut total = 0;
    let mut total_won = 0;
    while start_index < folded.len() {
        let lead = folded[start_index].0;
        let end = start_index + folded[start_index..].iter().take_while(|e| e.0 == lead).count();
        if let Some(ok_modes) = static_ok.get(&lead) {
            let mut state = None;
            for (_, at, id, matched) in &folded[start_index..end] {
                model.apply(&mut state, *id, *at, *matched, None);
                let Some(s) = &state else { continue };
                let engagement = model.score_at(s, *at).engagement;
                let in_force = match mode {
                    Some(m) => policy.mode(m),
                    None => policy.mode_on(&day_of(*at, zone)),
                };
                let Some(in_force) = in_force else { continue };
                if ok_modes.contains(&in_force.id) && in_force.min_engagement.is_none_or(|min| engagement >= min) {
                    if *at >= start && *at <= now {
                        if let Some(month) = per_month.get_mut(&month_of(*at)) {
                            month.would += 1;
                            total += 1;
                            if won.get(&lead).is_some_and(|w| *w >= *at) {
                                month.won += 1;
                                total_won += 1;
                            }
                        }
                    }
                    break;
                }
            }
        }
        start_index = end;
    }
    for (_, at) in store.moves_into(product_id, "mql", start).await? {
        if let Some(month) = per_month.get_mut(&month_of(at)) {
            month.actual += 1;
        }
    }
    Ok(Simulation { months: per_month.into_values().collect(), total, won: total_won, leads: lead_ids.len(), events })
}

/// The scorer's hook: qualify the leads whose scores or attributes it just changed, and — for a
/// product whose policy changed since `seen` (a new version, or another mode in force today,
/// by hand or by the schedule) — every lead scored at or above the mode's engagement threshold.
pub(crate) async fn after_scoring(
    store: &dyn Store,
    leads: &mut Vec<i64>,
    seen: &mut HashMap<i64, (i64, String)>,
    now: i64,
    zone: &jiff::tz::TimeZone,
    last_at: &LastAt<'_>,
) {
    let qualifier = match Qualifier::load(store).await {
        Ok(qualifier) => qualifier,
        Err(error) => return tracing::warn!(%error, "MQL policies could not be read"),
    };
    leads.sort_unstable();
    leads.dedup();
    for part in leads.chunks(1_000) {
        if let Err(error) = qualifier.qualify(store, part, now, zone, last_at).await {
            tracing::warn!(%error, "MQL policies could not be applied");
        }
    }
    let day = day_of(now, zone);
    seen.retain(|product, _| qualifier.policies.iter().any(|(p, _, _)| p == product));
    for (product_id, version, policy) in &qualifier.policies {
        let Some(mode) = policy.mode_on(&day) else { continue };
        let key = (*version, mode.id.clone());
        if seen.get(product_id) == Some(&key) {
            continue;
        }
        match qualifier
            .qualify_product(store, *product_id, mode.min_engagement.unwrap_or(i64::MIN), now, zone, last_at)
            .await
        {
            Ok(moved) => {
                if moved > 0 {
                    tracing::info!(product = product_id, version, mode = %mode.id, moved, "leads passed by the policy in force");
                }
                seen.insert(*product_id, key);
            }
            Err(error) => tracing::warn!(%error, product = product_id, "MQL policy could not be applied"),
        }
    }
}

impl Qualifier {
    /// Applies the policies to every lead of a product scored at least `min_engagement`.
    async fn qualify_product(
        &self,
        store: &dyn Store,
        product_id: i64,
        min_engagement: i64,
        now: i64,
        zone: &jiff::tz::TimeZone,
        last_at: &LastAt<'_>,
    ) -> StoreResult<usize> {
        let mut moved = 0;
        let mut after = 0;
        loop {
            // By lead id: one pass over the product's scores, whatever their order by score.
            let ids = store.scored_lead_ids(product_id, min_engagement, after, 1_000).await?;
            moved += self.qualify(store, &ids, now, zone, last_at).await?;
            match ids.last() {
                Some(last) if ids.len() == 1_000 => after = *last,
                _ => return Ok(moved),
            }
        }
    }
}
