//! The scorer: keeps every lead's scores per product in step with the event log, the passing
//! of time, and the lead's attributes, and recomputes them all on demand (`hatake rescore`).
//!
//! One process at a time scores (the lease `scorer`). Each step of [`Scorer::step`]:
//! 1. reloads the models; a product whose model changed is recomputed in full ([`rescore`])
//!    up to the cursor;
//! 2. reads new events in id order from the cursor and folds each into the stored state of
//!    its lead (an anonymous event counts for the lead its visitor is linked to). An event that
//!    is not later than the lead's last folded one means the lead is folded again from the log.
//!    Ids skipped (a transaction still open on PostgreSQL) are looked for again for
//!    [`GAP_WAIT_MS`]; an event read twice only makes its lead be folded again;
//! 3. folds again the leads queued by merges and their undo, and those given a visitor link;
//! 4. gives leads whose attributes (or whose account's) changed their new fit;
//! 5. updates the scores that change by time now (decay, expiry) — the decay pass.
//!
//! The scorer holds the states it has read or folded in memory ([`Held`]), so a step reads
//! only the scores of leads it has not seen yet, and writes each step's new scores (engagement,
//! next change) but not their states. The states it changed are written back in key order
//! every [`HELD_FOR`] or [`HELD_DIRTY_LIMIT`] states, with the cursor's `states_at`: a scorer
//! that starts, or takes the lease over, folds the events after it again. States are written
//! before anything reads them from the store: a recomputation, a lead folded again from the
//! log, and a decay pass (the states of rows due by then).
//!
//! Everything here is derived from the log by `hatake_domain::scoring::fold`, so the result
//! never depends on when a step ran; `tests/scoring.rs` compares it with [`rescore`].

use hatake_domain::scoring::fold::{Compiled, Matched, ScoreEvent, ScoreState};
use hatake_domain::scoring::{FitSubject, ScoringModel};
use hatake_domain::EventKind;
use hatake_store::{
    FitRow, LeadScoreRow, ScorerStore, ScoringEventRow, ScoringModelStore, Store, StoreError, StoreResult, SystemStore,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long an id skipped by the cursor is waited for before it is taken as never coming.
pub const GAP_WAIT_MS: i64 = 10_000;
/// Events read per step at most: the rows of a step's leads are written in one transaction,
/// and with many leads most pages of the score table are dirtied by any step, so a step costs
/// about the same for 20,000 events as for 200,000. While events arrive faster than steps take,
/// each step takes all that arrived during the last one.
const EVENTS_PER_STEP: i64 = 200_000;
/// How long a state the scorer changed may stay unwritten (see [`Held`]). Writing back costs
/// about as much for a tenth of the states as for all of them (they are spread over every page
/// of the table), and a scorer that stops without writing back leaves the events since to be
/// folded again.
pub const HELD_FOR: Duration = Duration::from_secs(60);
/// How many changed states the scorer holds unwritten at most (decoded, a few hundred bytes
/// each).
pub const HELD_DIRTY_LIMIT: usize = 2_000_000;
/// States written back per transaction: a long write-back takes turns with the event writer.
const WRITE_BACK_CHUNK: usize = 50_000;
/// How many score rows the scorer holds at most (about a hundred bytes each); above it, it
/// writes back and starts again empty.
const HELD_LIMIT: usize = 4_000_000;
/// A scorer that starts further behind its stored states than this many events recomputes
/// every score instead of folding them again: most of them would be folded from the log lead by
/// lead (a state that holds an event makes its lead be folded again), where a recomputation reads
/// the log once (about 40 s for 20M events at a million leads).
const FOLD_AGAIN_AT_MOST: i64 = 1_000_000;
/// The lease's name (the runtime's scorer worker: [`crate::runtime::workers::ScorerWorker`]).
pub const LEASE: &str = "scorer";
/// How far ahead the index of due times reaches (`hatake_store::DueWindow`): rows changing by
/// time within it have an entry; when half of it has passed, a decay pass walks every score once.
pub const DUE_HORIZON_MS: i64 = 24 * 60 * 60 * 1000;
/// The setting that says which model version each product's stored scores were computed with.
pub const SETTING_RESCORED: &str = "scoring.rescored";

/// The models in force, compiled.
#[derive(Debug, Clone, Default)]
pub struct Models {
    /// (product id, version, model), by product id.
    pub models: Vec<(i64, i64, Compiled)>,
}

impl Models {
    /// # Errors
    /// When the store fails.
    pub async fn load(store: &(impl ScoringModelStore + ?Sized)) -> StoreResult<Self> {
        let rows = store.current_scoring_models().await?;
        let mut models = Vec::with_capacity(rows.len());
        for row in rows {
            match ScoringModel::from_json(&row.definition) {
                Ok(model) => models.push((row.product_id, row.version, Compiled::new(model))),
                Err(error) => tracing::error!(product = row.product_id, %error, "a stored scoring model is unreadable"),
            }
        }
        Ok(Self { models })
    }

    pub fn versions(&self) -> Vec<(i64, i64)> {
        self.models.iter().map(|(p, v, _)| (*p, *v)).collect()
    }

    pub fn get(&self, product_id: i64) -> Option<&(i64, i64, Compiled)> {
        self.models.iter().find(|(p, _, _)| *p == product_id)
    }
}

/// A stored event as scoring sees it (`None` for a kind this version does not know).
pub fn score_event(row: &ScoringEventRow) -> Option<ScoreEvent<'_>> {
    Some(ScoreEvent {
        id: row.id,
        kind: EventKind::parse(&row.kind)?,
        occurred_at: row.occurred_at,
        name: row.name.as_deref(),
        properties: &row.properties,
    })
}

/// The fit attributes of a lead, for fit rules.
pub fn fit_subject<'a>(row: &'a FitRow, custom: &'a Option<Map<String, Value>>) -> FitSubject<'a> {
    FitSubject {
        industry: row.industry.as_deref(),
        employee_count: row.employee_count,
        annual_revenue: row.annual_revenue,
        department_class: row.department_class.as_deref(),
        title: row.title.as_deref(),
        prefecture: row.prefecture.as_deref(),
        abm_tier: row.abm_tier.as_deref(),
        custom: custom.as_ref(),
    }
}

fn fit_of(model: &Compiled, row: Option<&FitRow>) -> i64 {
    let Some(row) = row else { return 0 };
    let custom: Option<Map<String, Value>> = serde_json::from_str(&row.custom).ok();
    model.model.fit(&fit_subject(row, &custom)).0
}

/// A row's values from its state at `now`; the state itself is left for the caller to encode
/// (the scorer holds most states and writes them back later).
fn score_row(
    lead_id: i64,
    product_id: i64,
    version: i64,
    model: &Compiled,
    state: &ScoreState,
    fit: i64,
    now: i64,
) -> LeadScoreRow {
    let score = model.score_at(state, now);
    LeadScoreRow {
        lead_id,
        product_id,
        model_version: version,
        engagement: score.engagement,
        fit,
        next_change_at: score.next_change_at,
        state: Vec::new(),
        updated_at: now,
    }
}

/// A score row as the scorer holds it between steps.
#[derive(Debug, Clone)]
struct HeldScore {
    model_version: i64,
    engagement: i64,
    state: HeldState,
    next_change_at: Option<i64>,
    /// Changed since it was read or written.
    dirty: bool,
}

/// A held state: as stored (encoded, small), or as folded since (decoded: the next events fold
/// onto it without decoding, and it is encoded once, when written back).
#[derive(Debug, Clone)]
enum HeldState {
    Stored(Box<[u8]>),
    Folded(Box<ScoreState>),
}

impl HeldState {
    fn last_at(&self) -> Option<i64> {
        match self {
            Self::Stored(bytes) => ScoreState::last_at_of(bytes),
            Self::Folded(state) => Some(state.last_at),
        }
    }
}

/// The score rows the scorer holds in memory: their states as folded so far, and rows known
/// not to exist (`None`). Only the scorer (the lease holder) writes states, so what it holds
/// stays true until it writes back, folds a lead again from the log, or recomputes.
#[derive(Debug, Default)]
pub struct Held {
    rows: foldhash::HashMap<(i64, i64), Option<HeldScore>>,
    dirty: usize,
    /// When the oldest unwritten change was made.
    dirty_since: Option<Instant>,
    /// The earliest next change among unwritten states (a decay pass before it reads none).
    dirty_due: Option<i64>,
}

impl Held {
    fn set(&mut self, key: (i64, i64), score: Option<HeldScore>) {
        if let Some(score) = score.as_ref().filter(|s| s.dirty) {
            if let Some(next) = score.next_change_at {
                self.dirty_due = Some(self.dirty_due.map_or(next, |due| due.min(next)));
            }
            self.dirty_since.get_or_insert_with(Instant::now);
            self.dirty += 1;
        }
        if let Some(Some(old)) = self.rows.insert(key, score) {
            if old.dirty {
                self.dirty -= 1;
            }
        }
    }

    /// Forgets these leads' rows (they were folded again from the log, which wrote them).
    fn forget(&mut self, leads: &[i64], models: &Models) {
        for lead in leads {
            for (product_id, _, _) in &models.models {
                if let Some(Some(old)) = self.rows.remove(&(*lead, *product_id)) {
                    if old.dirty {
                        self.dirty -= 1;
                    }
                }
            }
        }
    }

    /// The time of the last event folded into a held state (newer than the stored one).
    pub fn last_at(&self, lead_id: i64, product_id: i64) -> Option<i64> {
        self.rows.get(&(lead_id, product_id))?.as_ref().and_then(|s| s.state.last_at())
    }

    /// Writes back the unwritten states `pick` chooses (all of them: `None`). Returns how many.
    async fn write_back(&mut self, store: &(impl ScorerStore + ?Sized), due_by: Option<i64>) -> StoreResult<usize> {
        if self.dirty == 0 {
            return Ok(0);
        }
        let mut states = Vec::new();
        let mut earliest = None;
        for (key, score) in &mut self.rows {
            let Some(score) = score.as_mut().filter(|s| s.dirty) else { continue };
            match (due_by, score.next_change_at) {
                (Some(by), Some(next)) if next <= by => {}
                (Some(_), next) => {
                    earliest = next.map_or(earliest, |next| Some(earliest.map_or(next, |e: i64| e.min(next))));
                    continue;
                }
                (None, _) => {}
            }
            score.dirty = false;
            let bytes = match &score.state {
                HeldState::Stored(bytes) => bytes.to_vec(),
                HeldState::Folded(state) => state.encode(),
            };
            score.state = HeldState::Stored(bytes.clone().into_boxed_slice());
            states.push((key.0, key.1, bytes));
        }
        self.dirty -= states.len();
        self.dirty_due = earliest;
        if self.dirty == 0 {
            self.dirty_since = None;
        }
        states.sort_unstable_by_key(|s| (s.0, s.1));
        for chunk in states.chunks(WRITE_BACK_CHUNK) {
            store.put_score_states(chunk).await?;
        }
        Ok(states.len())
    }

    /// Reads every stored score (a scorer that starts), unless there are more than it holds:
    /// then it reads them as their leads' events come. Of a lead with some rows, the products
    /// without one are known to have none.
    async fn read_all(&mut self, store: &(impl ScorerStore + ?Sized), models: &Models) -> StoreResult<()> {
        const PAGE: i64 = 50_000;
        let mut after = (i64::MIN, i64::MIN);
        let mut lead = None;
        loop {
            let rows = store.scores_after(after, PAGE).await?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                if lead != Some(row.lead_id) {
                    self.none_besides(lead, models);
                    lead = Some(row.lead_id);
                }
                after = (row.lead_id, row.product_id);
                let score = HeldScore {
                    model_version: row.model_version,
                    engagement: row.engagement,
                    state: HeldState::Stored(row.state.into_boxed_slice()),
                    next_change_at: row.next_change_at,
                    dirty: false,
                };
                self.rows.insert(after, Some(score));
            }
            if self.rows.len() > HELD_LIMIT {
                self.rows = foldhash::HashMap::default();
                return Ok(());
            }
            if !full {
                self.none_besides(lead, models);
                return Ok(());
            }
        }
    }

    /// Notes that `lead` has no row for the products not held.
    fn none_besides(&mut self, lead: Option<i64>, models: &Models) {
        let Some(lead) = lead else { return };
        for (product_id, _, _) in &models.models {
            self.rows.entry((lead, *product_id)).or_insert(None);
        }
    }

    /// Whether the unwritten states are due to be written back.
    fn full(&self) -> bool {
        self.dirty >= HELD_DIRTY_LIMIT
            || self.rows.len() > HELD_LIMIT
            || self.dirty_since.is_some_and(|since| since.elapsed() >= HELD_FOR)
    }
}

/// Folds leads again from the log, for every model, and stores the result (rows of products
/// whose events no longer count for a lead are removed). Returns how many rows were written.
///
/// # Errors
/// When the store fails.
pub async fn score_leads(
    store: &(impl ScorerStore + ?Sized),
    models: &Models,
    lead_ids: &[i64],
    now: i64,
) -> StoreResult<usize> {
    if lead_ids.is_empty() || models.models.is_empty() {
        return Ok(0);
    }
    let fits: HashMap<i64, FitRow> = store.fit_rows(lead_ids).await?.into_iter().map(|r| (r.lead_id, r)).collect();
    let mut rows = Vec::new();
    for &lead_id in lead_ids {
        let events = store.lead_scoring_events(lead_id).await?;
        for (product_id, version, model) in &models.models {
            let mut in_scope: Vec<ScoreEvent<'_>> =
                events.iter().filter(|e| model.in_scope(e.product_id, *product_id)).filter_map(score_event).collect();
            match model.fold_all(&mut in_scope) {
                Some(state) if fits.contains_key(&lead_id) => {
                    let fit = fit_of(model, fits.get(&lead_id));
                    let row = score_row(lead_id, *product_id, *version, model, &state, fit, now);
                    rows.push(LeadScoreRow { state: state.encode(), ..row });
                }
                _ => store.delete_lead_scores(&[lead_id], *product_id).await?,
            }
        }
    }
    store.put_lead_scores(&rows).await?;
    Ok(rows.len())
}

/// Folds new events (any order, any leads) into the states `held` has (reading those it has
/// not), and writes the new scores; the changed states stay in `held` to be written back later.
/// Leads an event cannot be folded onto are folded again from the log.
///
/// # Errors
/// When the store fails.
pub async fn apply_events(
    store: &dyn Store,
    models: &Models,
    held: &mut Held,
    events: &[ScoringEventRow],
    now: i64,
) -> StoreResult<ApplyCounts> {
    let mut counts = ApplyCounts::default();
    if events.is_empty() || models.models.is_empty() {
        return Ok(counts);
    }
    let mut clock = Instant::now();
    // Anonymous events count for the lead their visitor is linked to.
    let visitors: Vec<String> = {
        let mut v: Vec<String> =
            events.iter().filter(|e| e.lead_id.is_none()).filter_map(|e| e.visitor_id.clone()).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let links: HashMap<String, i64> = if visitors.is_empty() {
        HashMap::new()
    } else {
        store.visitor_lead_ids(&visitors).await?.into_iter().collect()
    };
    let mut by_lead: BTreeMap<i64, Vec<&ScoringEventRow>> = BTreeMap::new();
    for event in events {
        let lead = event.lead_id.or_else(|| event.visitor_id.as_ref().and_then(|v| links.get(v).copied()));
        if let Some(lead) = lead {
            by_lead.entry(lead).or_default().push(event);
        }
    }
    if by_lead.is_empty() {
        return Ok(counts);
    }
    // The rows of leads not held yet (for every product) are read once.
    let unknown: Vec<i64> = by_lead
        .keys()
        .copied()
        .filter(|lead| models.models.iter().any(|(product_id, _, _)| !held.rows.contains_key(&(*lead, *product_id))))
        .collect();
    counts.timings.fold = lap(&mut clock);
    if !unknown.is_empty() {
        let mut stored: HashMap<(i64, i64), LeadScoreRow> =
            store.lead_scores(&unknown).await?.into_iter().map(|r| ((r.lead_id, r.product_id), r)).collect();
        for lead in &unknown {
            for (product_id, _, _) in &models.models {
                let key = (*lead, *product_id);
                if held.rows.contains_key(&key) {
                    continue;
                }
                let row = stored.remove(&key).map(|row| HeldScore {
                    model_version: row.model_version,
                    engagement: row.engagement,
                    state: HeldState::Stored(row.state.into_boxed_slice()),
                    next_change_at: row.next_change_at,
                    dirty: false,
                });
                held.set(key, row);
            }
        }
    }
    counts.timings.scores = lap(&mut clock);
    let mut again = Vec::new();
    // Rows that exist get their new values (their fit stays: the fit sweep keeps it); rows that
    // are new also need the lead's fit, and are written with their state.
    let mut updates = Vec::new();
    let mut new_rows = Vec::new();
    // Each event is matched once for every model (and events alike are matched once).
    let all: Vec<&(i64, i64, Compiled)> = models.models.iter().collect();
    let mut memo = MatchMemo::new(&all);
    for (lead_id, mut lead_events) in by_lead {
        lead_events.sort_by_key(|e| (e.occurred_at, e.id));
        let indexes: Vec<Option<u32>> =
            lead_events.iter().map(|e| score_event(e).and_then(|event| memo.index(&event, e.product_id))).collect();
        let mut refold = false;
        let mut lead_rows = Vec::new();
        for (m, (product_id, version, model)) in models.models.iter().enumerate() {
            // Only models some event counts for (in scope, matched).
            let matched_for = |index: &Option<u32>| index.and_then(|i| memo.table[i as usize][m]);
            if !indexes.iter().any(|index| matched_for(index).is_some()) {
                continue;
            }
            let (before, mut state) = match held.rows.get_mut(&(lead_id, *product_id)).and_then(Option::as_mut) {
                Some(row) if row.model_version == *version => {
                    let state = match std::mem::replace(&mut row.state, HeldState::Stored(Box::default())) {
                        HeldState::Folded(state) => Some(*state),
                        HeldState::Stored(bytes) => ScoreState::decode(&bytes, model),
                    };
                    // A state it cannot read: the lead is folded again (and forgotten).
                    let Some(state) = state else {
                        refold = true;
                        break;
                    };
                    (Some((row.engagement, row.next_change_at)), Some(state))
                }
                Some(_) => {
                    refold = true;
                    break;
                }
                None => (None, None),
            };
            for (event, index) in lead_events.iter().zip(&indexes) {
                // Out of every model's scope, or of this one's.
                let Some(matched) = matched_for(index) else { continue };
                if !model.apply(&mut state, event.id, event.occurred_at, matched, None) {
                    refold = true;
                    break;
                }
            }
            if refold {
                break;
            }
            if let Some(state) = state {
                let mut row = score_row(lead_id, *product_id, *version, model, &state, 0, now);
                if before.is_none() {
                    // A new row is written with its state; a held one is written back later.
                    row.state = state.encode();
                }
                lead_rows.push((before, row, state));
            }
        }
        if refold {
            again.push(lead_id);
        } else {
            counts.folded += 1;
            for (before, row, state) in lead_rows {
                let key = (row.lead_id, row.product_id);
                let state = match before {
                    Some(_) => HeldState::Folded(Box::new(state)),
                    None => HeldState::Stored(row.state.clone().into_boxed_slice()),
                };
                held.set(
                    key,
                    Some(HeldScore {
                        model_version: row.model_version,
                        engagement: row.engagement,
                        state,
                        next_change_at: row.next_change_at,
                        dirty: before.is_some(),
                    }),
                );
                match before {
                    // The score did not change (a capped reaction, say): only the state did.
                    Some(values) if values == (row.engagement, row.next_change_at) => {}
                    Some(_) => updates.push(row),
                    None => new_rows.push(row),
                }
            }
        }
    }
    counts.timings.fold += lap(&mut clock);
    // A row deleted meanwhile (its lead deleted or merged) is folded again from the log.
    for (lead_id, _) in store.update_folded_scores(&updates).await? {
        again.push(lead_id);
    }
    if !new_rows.is_empty() {
        // A lead deleted meanwhile has no fit row, and its new rows are left out.
        let mut ids: Vec<i64> = new_rows.iter().map(|r| r.lead_id).collect();
        ids.dedup();
        let fits: HashMap<i64, FitRow> = store.fit_rows(&ids).await?.into_iter().map(|r| (r.lead_id, r)).collect();
        new_rows.retain(|r| {
            let kept = fits.contains_key(&r.lead_id);
            if !kept {
                held.rows.remove(&(r.lead_id, r.product_id));
            }
            kept
        });
        for row in &mut new_rows {
            if let Some((_, _, model)) = models.get(row.product_id) {
                row.fit = fit_of(model, fits.get(&row.lead_id));
            }
        }
        store.put_lead_scores(&new_rows).await?;
    }
    counts.timings.write = lap(&mut clock);
    again.sort_unstable();
    again.dedup();
    counts.refolded = again.len();
    fold_again(store, models, held, &again, now).await?;
    counts.timings.refold = lap(&mut clock);
    Ok(counts)
}

/// The time since `clock`, which is reset to now.
fn lap(clock: &mut Instant) -> Duration {
    let now = Instant::now();
    let elapsed = now - *clock;
    *clock = now;
    elapsed
}

/// Folds leads again from the log ([`score_leads`]), which writes their rows: `held` forgets
/// them (their unwritten states are superseded).
async fn fold_again(
    store: &(impl ScorerStore + ?Sized),
    models: &Models,
    held: &mut Held,
    leads: &[i64],
    now: i64,
) -> StoreResult<()> {
    held.forget(leads, models);
    score_leads(store, models, leads, now).await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyCounts {
    /// Leads whose new events were folded onto their stored state.
    pub folded: usize,
    /// Leads folded again from the log.
    pub refolded: usize,
    /// Where the time went (reading scores, folding, writing, folding again).
    pub timings: StepTimings,
}

/// Updates every score that changes by time at `now` (decay rules firing, awards expiring).
/// Returns how many rows changed. The held states of rows due by then are written first (the
/// pass reads states from the store).
///
/// # Errors
/// When the store fails.
pub async fn decay_pass(
    store: &(impl ScorerStore + ?Sized),
    models: &Models,
    held: &mut Held,
    now: i64,
) -> StoreResult<usize> {
    if held.dirty_due.is_some_and(|due| due <= now) {
        held.write_back(store, Some(now)).await?;
    }
    let window = hatake_store::DueWindow { now, horizon_ms: DUE_HORIZON_MS };
    let current = models.clone();
    let score: hatake_store::ScoreAtTime = std::sync::Arc::new(move |row: &LeadScoreRow| {
        let (_, _, model) = current.get(row.product_id).filter(|(_, version, _)| *version == row.model_version)?;
        let state = ScoreState::decode(&row.state, model)?;
        let score = model.score_at(&state, now);
        Some((score.engagement, score.next_change_at))
    });
    // A product without a model, or scores of an older version: fold again.
    let mut due = store.update_due_scores(window, score).await?;
    due.refold.sort_unstable();
    due.refold.dedup();
    fold_again(store, models, held, &due.refold, now).await?;
    Ok(due.rows)
}

/// Gives these leads' score rows the fit their attributes now give.
async fn refit(store: &(impl ScorerStore + ?Sized), models: &Models, rows: &[FitRow]) -> StoreResult<()> {
    // Only leads with scores have a fit stored (after a large import most have none), and only
    // a fit that changed is written.
    let ids: Vec<i64> = rows.iter().map(|r| r.lead_id).collect();
    let stored: HashMap<(i64, i64), i64> =
        store.lead_scores(&ids).await?.into_iter().map(|s| ((s.lead_id, s.product_id), s.fit)).collect();
    if stored.is_empty() {
        return Ok(());
    }
    let mut updates = Vec::new();
    for row in rows {
        let custom: Option<Map<String, Value>> = serde_json::from_str(&row.custom).ok();
        let subject = fit_subject(row, &custom);
        for (product_id, _, model) in &models.models {
            if let Some(old) = stored.get(&(row.lead_id, *product_id)) {
                let fit = model.model.fit(&subject).0;
                if fit != *old {
                    updates.push((row.lead_id, *product_id, fit));
                }
            }
        }
    }
    if updates.is_empty() {
        return Ok(());
    }
    store.update_fit_scores(&updates).await
}

/// Progress of a full recomputation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RescoreReport {
    pub events: u64,
    pub leads: u64,
    pub rows: u64,
}

/// Events read per call during a full recomputation.
const RESCORE_CHUNK: i64 = 200_000;
/// Distinct events (kind, product, name, properties) whose matches a recomputation remembers.
const MEMO_EVENTS: usize = 1 << 20;

/// What each chosen model makes of an event, remembered by the event's content: most events
/// repeat another's kind, product, name and properties (the same page, mail or asset), and
/// matching reads the properties' JSON.
struct MatchMemo<'m> {
    chosen: &'m [&'m (i64, i64, Compiled)],
    /// Distinct match results (one entry per chosen model; `None`: out of its scope).
    table: Vec<Vec<Option<Matched>>>,
    interned: HashMap<Vec<Option<Matched>>, u32>,
    /// Event content hash → (content, index into `table` or none when no model counts it).
    seen: foldhash::HashMap<u64, (MemoKey, Option<u32>)>,
    hasher: foldhash::fast::FixedState,
}

#[derive(PartialEq, Eq)]
struct MemoKey {
    kind: EventKind,
    product: Option<i64>,
    name: Option<Box<str>>,
    properties: Box<str>,
}

impl<'m> MatchMemo<'m> {
    fn new(chosen: &'m [&'m (i64, i64, Compiled)]) -> Self {
        Self {
            chosen,
            table: Vec::new(),
            interned: HashMap::new(),
            seen: foldhash::HashMap::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x5c0e),
        }
    }

    /// The index into `table` of an event's matches, none when no chosen model counts it.
    fn index(&mut self, event: &ScoreEvent<'_>, product: Option<i64>) -> Option<u32> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one((event.kind, product, event.name, event.properties));
        if let Some((key, index)) = self.seen.get(&hash) {
            if key.kind == event.kind
                && key.product == product
                && key.name.as_deref() == event.name
                && &*key.properties == event.properties
            {
                return *index;
            }
        }
        let matches: Vec<Option<Matched>> = self
            .chosen
            .iter()
            .map(|(product_id, _, model)| model.in_scope(product, *product_id).then(|| model.matches(event)))
            .collect();
        let index = if matches.iter().all(Option::is_none) {
            None
        } else {
            Some(match self.interned.get(&matches) {
                Some(index) => *index,
                None => {
                    let index = u32::try_from(self.table.len()).unwrap_or(u32::MAX);
                    self.table.push(matches.clone());
                    self.interned.insert(matches, index);
                    index
                }
            })
        };
        if self.seen.len() < MEMO_EVENTS {
            let key = MemoKey {
                kind: event.kind,
                product,
                name: event.name.map(Box::from),
                properties: Box::from(event.properties),
            };
            self.seen.entry(hash).or_insert((key, index));
        }
        index
    }
}

/// Recomputes every score of these products (all with a model when empty) from the event log,
/// up to the event id `up_to`, and replaces the stored ones. `progress` is called with the
/// events read so far.
///
/// # Errors
/// When the store fails.
pub async fn rescore(
    store: &dyn Store,
    models: &Models,
    products: &[i64],
    up_to: i64,
    now: i64,
    progress: &(dyn Fn(u64) + Sync),
) -> StoreResult<RescoreReport> {
    let chosen: Vec<&(i64, i64, Compiled)> =
        models.models.iter().filter(|(p, _, _)| products.is_empty() || products.contains(p)).collect();
    let mut report = RescoreReport::default();
    if chosen.is_empty() {
        return Ok(report);
    }
    // Each event in scope of some chosen model: (lead, at, id, index into the match table).
    let mut folded: Vec<(i64, i64, i64, u32)> = Vec::new();
    let mut memo = MatchMemo::new(&chosen);
    // The next chunk is read (on the store's blocking thread) while this one is matched.
    let mut chunk =
        if up_to > 0 { store.scoring_event_chunk(0, up_to, RESCORE_CHUNK).await? } else { Default::default() };
    loop {
        let last = chunk.events.last().map(|e| e.id);
        let more = chunk.events.len() as i64 == RESCORE_CHUNK && last.is_some_and(|id| id < up_to);
        let next = async {
            match (more, last) {
                (true, Some(after)) => store.scoring_event_chunk(after, up_to, RESCORE_CHUNK).await.map(Some),
                _ => Ok(None),
            }
        };
        let matching = async {
            for event in &chunk.events {
                report.events += 1;
                let Some(lead) = event.lead_id else { continue };
                let Some(kind) = EventKind::parse(chunk.kind(event)) else { continue };
                let score_event = ScoreEvent {
                    id: event.id,
                    kind,
                    occurred_at: event.occurred_at,
                    name: chunk.name(event),
                    properties: chunk.properties(event),
                };
                if let Some(index) = memo.index(&score_event, event.product_id) {
                    folded.push((lead, event.occurred_at, event.id, index));
                }
            }
            progress(report.events);
        };
        let (next, ()) = tokio::join!(next, matching);
        match next? {
            Some(next) => chunk = next,
            None => break,
        }
    }
    drop(chunk);
    let table = std::mem::take(&mut memo.table);
    drop(memo);
    folded.sort_unstable();
    // Fit: the attributes of every lead with events.
    let mut lead_ids: Vec<i64> = folded.iter().map(|e| e.0).collect();
    lead_ids.dedup();
    report.leads = lead_ids.len() as u64;
    let mut fits: HashMap<i64, FitRow> = HashMap::with_capacity(lead_ids.len());
    for part in lead_ids.chunks(5_000) {
        fits.extend(store.fit_rows(part).await?.into_iter().map(|r| (r.lead_id, r)));
    }
    // Rows by lead, then product (the models are in product order).
    let mut rows: Vec<LeadScoreRow> = Vec::with_capacity(lead_ids.len() * chosen.len());
    let mut start = 0;
    while start < folded.len() {
        let lead = folded[start].0;
        let end = start + folded[start..].iter().take_while(|e| e.0 == lead).count();
        if let Some(fit_row) = fits.get(&lead) {
            let custom: Option<Map<String, Value>> = serde_json::from_str(&fit_row.custom).ok();
            let subject = fit_subject(fit_row, &custom);
            for (m, (product_id, version, model)) in chosen.iter().enumerate() {
                let mut state = None;
                for (_, at, id, index) in &folded[start..end] {
                    if let Some(matched) = table[*index as usize][m] {
                        model.apply(&mut state, *id, *at, matched, None);
                    }
                }
                if let Some(state) = state {
                    let fit = model.model.fit(&subject).0;
                    let row = score_row(lead, *product_id, *version, model, &state, fit, now);
                    rows.push(LeadScoreRow { state: state.encode(), ..row });
                }
            }
        }
        start = end;
    }
    drop(folded);
    report.rows = rows.len() as u64;
    let product_ids: Vec<i64> = chosen.iter().map(|(p, _, _)| *p).collect();
    store.replace_scores(&product_ids, &rows).await?;
    Ok(report)
}

/// The versions each product's stored scores were computed with.
///
/// # Errors
/// When the store fails.
pub async fn rescored_versions(store: &(impl SystemStore + ?Sized)) -> StoreResult<HashMap<i64, i64>> {
    let text = store.get_setting(SETTING_RESCORED).await?;
    Ok(text.and_then(|t| serde_json::from_str::<Vec<(i64, i64)>>(&t).ok()).unwrap_or_default().into_iter().collect())
}

async fn set_rescored(store: &(impl SystemStore + ?Sized), versions: &HashMap<i64, i64>, now: i64) -> StoreResult<()> {
    let mut list: Vec<(i64, i64)> = versions.iter().map(|(p, v)| (*p, *v)).collect();
    list.sort_unstable();
    store.put_setting(SETTING_RESCORED, &serde_json::to_string(&list).unwrap_or_default(), now).await
}

/// Asks for a full recomputation of these products (all when empty) at the scorer's next step.
///
/// # Errors
/// When the store fails.
pub async fn request_rescore(store: &(impl SystemStore + ?Sized), products: &[i64], now: i64) -> StoreResult<()> {
    let mut versions = rescored_versions(store).await?;
    if products.is_empty() {
        versions.clear();
    } else {
        versions.retain(|p, _| !products.contains(p));
    }
    set_rescored(store, &versions, now).await
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    pub events: usize,
    pub folded: usize,
    pub refolded: usize,
    pub decayed: usize,
    pub rescored: u64,
    /// Whether more events are waiting (the step read a full page).
    pub more: bool,
    /// States written back (see [`Held`]).
    pub written_back: usize,
    /// Where the step's time went.
    pub timings: StepTimings,
}

/// Where a scorer step's time went (summed over steps by [`catch_up`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTimings {
    /// Steps taken.
    pub steps: u32,
    /// Reading the cursor and the models' versions (and a recomputation they ask for).
    pub start: Duration,
    /// Reading new events (and the ones a gap left behind).
    pub events: Duration,
    /// Reading the stored scores and states of the events' leads.
    pub scores: Duration,
    /// Folding the events into the states.
    pub fold: Duration,
    /// Writing the new scores and states.
    pub write: Duration,
    /// Leads scored again from the log (queued, newly linked visitors, states that could not take the events).
    pub refold: Duration,
    /// Fit changes of leads and accounts.
    pub fit: Duration,
    /// The decay pass.
    pub decay: Duration,
    /// MQL policies.
    pub qualify: Duration,
    /// Writing held states back.
    pub write_back: Duration,
    /// Writing the cursor.
    pub cursor: Duration,
}

impl StepTimings {
    pub fn add(&mut self, other: &Self) {
        self.steps += other.steps;
        self.start += other.start;
        self.cursor += other.cursor;
        self.write_back += other.write_back;
        self.events += other.events;
        self.scores += other.scores;
        self.fold += other.fold;
        self.write += other.write;
        self.refold += other.refold;
        self.fit += other.fit;
        self.decay += other.decay;
        self.qualify += other.qualify;
    }
}

/// The scorer's memory between steps: the models and the ids it skipped.
#[derive(Debug, Default)]
pub struct Scorer {
    models: Models,
    /// Ids above the cursor read already (an id below them was missing).
    seen: foldhash::HashSet<i64>,
    /// Ids skipped, with when they were first missed.
    gaps: BTreeMap<i64, i64>,
    /// The newest id read.
    high: i64,
    /// Leads changed in the same millisecond as the fit cursor, already given their fit.
    leads_after_id: i64,
    linked_seen: HashSet<(i64, i64)>,
    /// Per product, the MQL policy version and mode every scored lead was judged by.
    policies_seen: HashMap<i64, (i64, String)>,
    /// The organisation's time zone (which MQL policy mode is in force today).
    zone: Option<jiff::tz::TimeZone>,
    /// The score rows read or folded, with the states not written back yet.
    held: Held,
    /// Whether a step ran (the first one starts from the stored states' `states_at`).
    started: bool,
    /// Whether the stored scores were read into `held`.
    warm: bool,
    /// Whether the first step recomputes every score (the stored states are far behind).
    recompute: bool,
}

impl Scorer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scorer that reads days in `zone` (Asia/Tokyo by default).
    pub fn with_zone(zone: jiff::tz::TimeZone) -> Self {
        Self { zone: Some(zone), ..Self::default() }
    }

    fn zone(&self) -> jiff::tz::TimeZone {
        self.zone.clone().unwrap_or_else(|| jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC))
    }

    pub fn models(&self) -> &Models {
        &self.models
    }

    /// Writes every held state back, so that the stored states hold every event up to the
    /// cursor (the end of [`catch_up`]; a scorer that stops without it leaves its successor
    /// more events to fold again). Returns how many states were written.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn write_back(&mut self, store: &(impl ScorerStore + ?Sized)) -> StoreResult<usize> {
        let written = self.held.write_back(store, None).await?;
        let mut cursor = store.scoring_cursor().await?;
        if self.started && cursor.states_at < cursor.event_id {
            cursor.states_at = cursor.event_id;
            store.set_scoring_cursor(&cursor, None).await?;
        }
        Ok(written)
    }

    /// One step (see the module's documentation).
    ///
    /// # Errors
    /// When the store fails; the step can be run again.
    pub async fn step(&mut self, store: &dyn Store, now: i64) -> StoreResult<StepReport> {
        let mut report = StepReport::default();
        let mut clock = Instant::now();
        let loaded = store.scoring_cursor().await?;
        let mut cursor = loaded;
        if !self.started {
            // The events after the stored states are folded again (a previous scorer may have
            // stopped before writing its states back; events they already hold make their
            // leads be folded again from the log).
            self.started = true;
            if cursor.event_id - cursor.states_at > FOLD_AGAIN_AT_MOST {
                self.recompute = true;
            } else {
                cursor.event_id = cursor.event_id.min(cursor.states_at);
            }
            self.high = cursor.event_id;
        }
        if self.high < cursor.event_id {
            self.high = cursor.event_id;
        }
        // 1. Models.
        if self.models.versions() != store_versions(store).await? {
            self.held.write_back(store, None).await?;
            self.held = Held::default();
            self.warm = false;
            self.models = Models::load(store).await?;
        }
        if self.models.models.is_empty() {
            // Nothing to score: the cursor follows the log so that a first model starts from a
            // full recomputation, not from replaying the log step by step.
            cursor.event_id = store.max_event_id().await?;
            cursor.states_at = cursor.event_id;
            cursor.leads_at = now;
            cursor.accounts_at = now;
            cursor.links_at = now;
            if cursor.event_id != loaded.event_id || cursor.rewind_to.is_some() || now - loaded.leads_at > 60_000 {
                store.set_scoring_cursor(&cursor, cursor.rewind_to).await?;
            }
            self.high = cursor.event_id;
            self.seen.clear();
            self.gaps.clear();
            return Ok(report);
        }
        let rescored = rescored_versions(store).await?;
        let recompute = std::mem::take(&mut self.recompute);
        let stale: Vec<i64> = self
            .models
            .models
            .iter()
            .filter(|(p, v, _)| recompute || rescored.get(p) != Some(v))
            .map(|(p, _, _)| *p)
            .collect();
        if !stale.is_empty() {
            self.held.write_back(store, None).await?;
            self.held = Held::default();
            self.warm = false;
            let done = rescore(store, &self.models, &stale, self.high.max(cursor.event_id), now, &|_| {}).await?;
            report.rescored = done.rows;
            // Every state is stored now: the held ones written back, the stale ones recomputed.
            cursor.states_at = cursor.event_id;
            let mut versions = rescored;
            versions.retain(|p, _| self.models.get(*p).is_some());
            for (p, v, _) in &self.models.models {
                versions.insert(*p, *v);
            }
            set_rescored(store, &versions, now).await?;
        }
        if !self.warm {
            // The first step with models reads every score (the models may not change).
            self.warm = true;
            let started = Instant::now();
            self.held.read_all(store, &self.models).await?;
            tracing::info!(
                rows = self.held.rows.len(),
                seconds = started.elapsed().as_secs_f64(),
                "scorer holds the scores"
            );
        }
        // 2. New events.
        let mut rewind_seen = None;
        if let Some(rewind) = cursor.rewind_to {
            rewind_seen = Some(rewind);
            cursor.event_id = cursor.event_id.min(rewind - 1);
            self.high = cursor.event_id;
            self.seen.clear();
            self.gaps.clear();
        }
        report.timings.start = lap(&mut clock);
        let limit = EVENTS_PER_STEP;
        let mut events = store.scoring_events_after(self.high, limit).await?;
        report.more = events.len() as i64 == limit;
        let missing: Vec<i64> = self.gaps.keys().copied().collect();
        if !missing.is_empty() {
            let found = store.scoring_events_by_ids(&missing).await?;
            for event in &found {
                self.gaps.remove(&event.id);
            }
            events.extend(found);
        }
        let mut expected = self.high + 1;
        for event in events.iter().filter(|e| e.id > self.high) {
            for id in expected..event.id {
                if id > cursor.event_id && !self.seen.contains(&id) {
                    self.gaps.entry(id).or_insert(now);
                }
            }
            expected = event.id + 1;
        }
        for event in &events {
            self.seen.insert(event.id);
            self.high = self.high.max(event.id);
        }
        self.gaps.retain(|_, since| now - *since < GAP_WAIT_MS);
        // The cursor: below the oldest gap still waited for, else the newest id read.
        let floor = self.gaps.keys().next().map_or(self.high, |first| first - 1);
        cursor.event_id = cursor.event_id.max(floor);
        self.seen.retain(|id| *id > cursor.event_id);
        report.events = events.len();
        let mut touched: Vec<i64> = events.iter().filter_map(|e| e.lead_id).collect();
        report.timings.events = lap(&mut clock);
        let counts = apply_events(store, &self.models, &mut self.held, &events, now).await?;
        report.folded = counts.folded;
        report.refolded = counts.refolded;
        report.timings.add(&counts.timings);
        lap(&mut clock);
        // 3. Queued leads and new visitor links.
        loop {
            let queued = store.take_scoring_queue(1_000).await?;
            fold_again(store, &self.models, &mut self.held, &queued, now).await?;
            report.refolded += queued.len();
            touched.extend(&queued);
            if queued.len() < 1_000 {
                break;
            }
        }
        let since = cursor.links_at.saturating_sub(GAP_WAIT_MS);
        let links = store.visitor_links_since(since).await?;
        let mut linked: Vec<i64> = Vec::new();
        for (lead, at) in &links {
            if self.linked_seen.insert((*lead, *at)) {
                linked.push(*lead);
            }
            cursor.links_at = cursor.links_at.max(*at);
        }
        self.linked_seen.retain(|(_, at)| *at >= since);
        linked.sort_unstable();
        linked.dedup();
        fold_again(store, &self.models, &mut self.held, &linked, now).await?;
        report.refolded += linked.len();
        touched.extend(&linked);
        report.timings.refold += lap(&mut clock);
        // 4. Fit.
        loop {
            let changed = store.leads_changed_since(cursor.leads_at, self.leads_after_id, 5_000).await?;
            refit(store, &self.models, &changed).await?;
            touched.extend(changed.iter().map(|r| r.lead_id));
            if let Some(last) = changed.last() {
                if last.updated_at > cursor.leads_at {
                    cursor.leads_at = last.updated_at;
                }
                self.leads_after_id = last.lead_id;
            }
            if changed.len() < 5_000 {
                break;
            }
        }
        let accounts = store.accounts_changed_since(cursor.accounts_at, 1_000).await?;
        for (account, at) in &accounts {
            let ids = store.account_lead_ids(*account).await?;
            for part in ids.chunks(5_000) {
                let rows = store.fit_rows(part).await?;
                refit(store, &self.models, &rows).await?;
                touched.extend(part);
            }
            cursor.accounts_at = cursor.accounts_at.max(*at + 1);
        }
        report.timings.fit = lap(&mut clock);
        // 5. Time.
        report.decayed = decay_pass(store, &self.models, &mut self.held, now).await?;
        report.timings.decay = lap(&mut clock);
        // 6. Qualification of the leads whose scores or attributes changed, and of all scored
        // leads of a product whose policy or mode changed.
        let zone = self.zone();
        let held = &self.held;
        let last_at = |lead_id, product_id| held.last_at(lead_id, product_id);
        crate::qualification::after_scoring(store, &mut touched, &mut self.policies_seen, now, &zone, &last_at).await;
        // Score alerts for the same leads.
        if let Err(error) = crate::alerts::after_scoring(store, &touched, now).await {
            tracing::warn!(%error, "score alerts could not be checked");
        }
        report.timings.qualify = lap(&mut clock);
        // 7. States written back now and then; with them, every event up to the cursor is in
        // the stored states.
        cursor.states_at = cursor.states_at.min(cursor.event_id);
        if self.held.full() {
            report.written_back = self.held.write_back(store, None).await?;
            cursor.states_at = cursor.event_id;
            if self.held.rows.len() > HELD_LIMIT {
                self.held = Held::default();
            }
        }
        report.timings.write_back = lap(&mut clock);
        if cursor != loaded {
            store.set_scoring_cursor(&cursor, rewind_seen).await?;
        }
        report.timings.cursor = lap(&mut clock);
        report.timings.steps = 1;
        Ok(report)
    }
}

async fn store_versions(store: &(impl ScoringModelStore + ?Sized)) -> StoreResult<Vec<(i64, i64)>> {
    Ok(store.current_scoring_models().await?.iter().map(|r| (r.product_id, r.version)).collect())
}

/// Steps until no event is waiting and no gap is open (for `hatake rescore` and tests).
///
/// # Errors
/// When the store fails.
pub async fn catch_up(store: &dyn Store, scorer: &mut Scorer, now: i64) -> StoreResult<StepReport> {
    let mut total = StepReport::default();
    loop {
        let report = scorer.step(store, now).await?;
        total.events += report.events;
        total.folded += report.folded;
        total.refolded += report.refolded;
        total.decayed += report.decayed;
        total.rescored += report.rescored;
        total.timings.add(&report.timings);
        total.written_back += report.written_back;
        if !report.more {
            total.written_back += scorer.write_back(store).await?;
            return Ok(total);
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A lead's scores explained: per product with a model, the awards and the fit rules.
#[derive(Debug, Clone)]
pub struct LeadExplanation {
    pub product_id: i64,
    pub version: i64,
    pub explanation: hatake_domain::scoring::fold::Explanation,
    /// (rule id, label, points) of the fit rules met.
    pub fit: Vec<(String, String, i64)>,
    pub stored: Option<LeadScoreRow>,
    /// The events the awards name, by id: (kind, name or URL).
    pub events: HashMap<i64, (String, Option<String>)>,
}

/// Explains a lead's scores from its events now (the same fold the stored scores come from).
///
/// # Errors
/// When the store fails.
pub async fn explain_lead(
    store: &dyn Store,
    models: &Models,
    lead_id: i64,
    now: i64,
) -> StoreResult<Vec<LeadExplanation>> {
    if models.models.is_empty() {
        return Ok(Vec::new());
    }
    let events = store.lead_scoring_events(lead_id).await?;
    let stored = store.lead_scores(&[lead_id]).await?;
    let fit_row = store.fit_rows(&[lead_id]).await?.into_iter().next().ok_or(StoreError::NotFound)?;
    let custom: Option<Map<String, Value>> = serde_json::from_str(&fit_row.custom).ok();
    let subject = fit_subject(&fit_row, &custom);
    let mut out = Vec::new();
    for (product_id, version, model) in &models.models {
        let mut in_scope: Vec<ScoreEvent<'_>> =
            events.iter().filter(|e| model.in_scope(e.product_id, *product_id)).filter_map(score_event).collect();
        let explanation = model.explain(&mut in_scope, now);
        let named: HashSet<i64> = explanation.awards.iter().filter_map(|a| a.event_id).collect();
        let described = events
            .iter()
            .filter(|e| named.contains(&e.id))
            .map(|e| {
                let url = serde_json::from_str::<Map<String, Value>>(&e.properties)
                    .ok()
                    .and_then(|p| p.get("url").and_then(Value::as_str).map(str::to_owned));
                (e.id, (e.kind.clone(), e.name.clone().or(url)))
            })
            .collect();
        let fit = model
            .model
            .fit(&subject)
            .1
            .iter()
            .map(|r| (r.id.clone(), r.label.clone().unwrap_or_default(), r.points))
            .collect();
        out.push(LeadExplanation {
            product_id: *product_id,
            version: *version,
            explanation,
            fit,
            stored: stored.iter().find(|s| s.product_id == *product_id).cloned(),
            events: described,
        });
    }
    Ok(out)
}
