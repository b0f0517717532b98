//! Segment membership as derived state ([`SegmentWorker`]): after a segment's definition is
//! saved its members are rebuilt once; from then on only the leads something changed for are
//! looked at again — new events (theirs or their browsers'), edited records, scores, stages,
//! interests and subscriptions — and, every few minutes ([`WINDOW_EVERY`]), the leads whose
//! events left a behaviour condition's window since the last look. No periodic rebuild: the
//! members equal a fresh evaluation of the definition at every step's end.
//!
//! The worker also keeps the **activity summary** (`lead_activity`: per lead, kind and product,
//! the ten most recent times; see [`hatake_domain::segment::Activity`]) that behaviour
//! conditions read instead of the event log: each step takes the new events in, builds again
//! from the log the leads whose events moved or went (a merge, an undo, a browser linked, an
//! import undone — queued by triggers), and, until the summary is first built, builds the next
//! slice of leads; until then segments read the log.

use crate::runtime::{Context, Next, WorkError, Worker};
use async_trait::async_trait;
use hatake_domain::segment::{Activity, Condition, RECENT_KEPT};
use hatake_store::{ActivityBuild, ActivityEvent, ActivityRow, Millis, SegmentStore, SystemStore, SETTING_ACTIVITY};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The lease of the segment worker (one process keeps the members).
pub const LEASE: &str = "segments";
/// Wakes the segment worker (the scorer does after scoring new events).
pub const SEGMENTS_DUE: &str = "segments-due";
/// Where the worker keeps how far it has read.
pub const SETTING_CURSOR: &str = "segments.cursor";

/// Events read per step.
const EVENTS_PER_STEP: i64 = 20_000;
/// Leads refreshed per statement.
const LEADS_PER_REFRESH: usize = 2_000;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Cursor {
    /// The last event id read.
    event: i64,
    /// Changes of records at or after this time are still to be read.
    since: Millis,
    /// The windows were looked at up to this time.
    window_at: Millis,
}

/// How often the leads whose events left a behaviour window are looked for: finding them reads
/// the log's events of a kind by time, which has no index (one would halve ingestion).
pub const WINDOW_EVERY: Millis = 5 * 60_000;

/// Keeps every segment's members current.
pub struct SegmentWorker {
    /// Leads refreshed so far (for tests and benchmarks).
    pub refreshed: u64,
    /// How often window edges are looked at ([`WINDOW_EVERY`]; 0: every step).
    pub window_every: Millis,
}

impl Default for SegmentWorker {
    fn default() -> Self {
        Self { refreshed: 0, window_every: WINDOW_EVERY }
    }
}

impl SegmentWorker {
    /// A worker that looks at window edges at every step: the members equal a fresh evaluation
    /// whenever a step ends (tests).
    pub fn exact() -> Self {
        Self { refreshed: 0, window_every: 0 }
    }
}

async fn read_cursor(store: &(impl SystemStore + ?Sized)) -> Result<Option<Cursor>, WorkError> {
    Ok(store.get_setting(SETTING_CURSOR).await?.and_then(|text| serde_json::from_str(&text).ok()))
}

async fn write_cursor(store: &(impl SystemStore + ?Sized), cursor: Cursor, now: Millis) -> Result<(), WorkError> {
    store.put_setting(SETTING_CURSOR, &serde_json::to_string(&cursor).unwrap_or_default(), now).await?;
    Ok(())
}

impl SegmentWorker {
    /// One step: rebuild a segment whose definition changed, else refresh the leads changed
    /// since the last step (and those whose events left a window). `true` when there is more.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn run(&mut self, cx: &Context) -> Result<bool, WorkError> {
        let store = cx.store.as_ref();
        let now = cx.clock.now();
        let (segments, _) = store.segments(false, 0, 10_000).await?;
        let mut cursor = match read_cursor(store).await? {
            Some(cursor) => cursor,
            None => {
                // Everything before now is in the first build of each segment.
                let cursor = Cursor { event: store.max_event_id().await?, since: now, window_at: now };
                write_cursor(store, cursor, now).await?;
                cursor
            }
        };
        // SQLite gives a deleted event's id again when it was the highest: read again from there
        // (the summary skips what it has taken in already).
        if let Some(rewind) = store.take_segment_rewind().await? {
            if rewind <= cursor.event {
                cursor.event = rewind - 1;
            }
        }
        // A changed definition: rebuild its members (one segment a step).
        if let Some(segment) = segments.iter().find(|s| s.built_version < s.version) {
            if let Some(definition) = segment.parsed() {
                let done = store.refresh_segment(segment.id, &definition, segment.version, None, now).await?;
                tracing::info!(segment = segment.id, added = done.added, removed = done.removed, "segment rebuilt");
            }
            return Ok(true);
        }
        let mut reads = hatake_domain::segment::Reads::default();
        for segment in &segments {
            if let Some(definition) = segment.parsed() {
                reads.add(definition.reads());
            }
        }
        let started = std::time::Instant::now();
        let mut laps: Vec<(&str, f64)> = Vec::new();
        let lap = |name: &'static str, laps: &mut Vec<(&str, f64)>| {
            laps.push((name, started.elapsed().as_secs_f64()));
        };
        let last = store.events_window_end(cursor.event, EVENTS_PER_STEP).await?;
        let mut more = last - cursor.event >= EVENTS_PER_STEP;
        // The activity summary first: the new events taken in, queued leads built again from the
        // log, and a slice of the first build.
        let events = store.activity_events(cursor.event, last).await?;
        lap("read", &mut laps);
        fold_events(store, &events).await?;
        lap("fold", &mut laps);
        let queued = store.take_activity_queue(LEADS_PER_REFRESH as i64).await?;
        rebuild_activity(store, &queued).await?;
        more |= queued.len() == LEADS_PER_REFRESH;
        lap("queue", &mut laps);
        more |= self.build_activity(store, now).await?;
        lap("build", &mut laps);
        let activity = store.activity_ready().await?;
        let mut touched = store.segment_changes(cursor.event, last, cursor.since, reads).await?;
        // Leads whose events moved or went (merges, undos) may leave or join by behaviour.
        touched.extend(&queued);
        // Events arriving count at once; an event leaving a window counts within `window_every`.
        lap("changes", &mut laps);
        let window_due = now > cursor.window_at && now - cursor.window_at >= self.window_every;
        let mut exits: Vec<(i64, Vec<i64>)> = Vec::new();
        if window_due {
            for segment in &segments {
                let Some(definition) = segment.parsed() else { continue };
                let mut leads = Vec::new();
                // The summary holds the ten most recent times: the k-th leaving a window shows
                // there unless a condition counts more (then the log is read).
                for condition in definition.groups.iter().flat_map(|g| &g.conditions) {
                    let Condition::Behaviour { kind, product_id, days, at_least, .. } = condition else { continue };
                    let window = days * 86_400_000;
                    let (from, to) = (cursor.window_at - window, now - window);
                    match usize::try_from(*at_least) {
                        Ok(k) if activity && (1..=RECENT_KEPT).contains(&k) => {
                            leads.extend(store.activity_exits(kind, product_id.unwrap_or(0), k, from, to).await?);
                        }
                        _ => leads.extend(store.window_exits(kind, *product_id, *days, cursor.window_at, now).await?),
                    }
                }
                if !leads.is_empty() {
                    leads.sort_unstable();
                    leads.dedup();
                    exits.push((segment.id, leads));
                }
            }
        }
        lap("windows", &mut laps);
        touched.sort_unstable();
        touched.dedup();
        for segment in &segments {
            let Some(definition) = segment.parsed() else { continue };
            let mut leads = touched.clone();
            if let Some((_, more_leads)) = exits.iter().find(|(id, _)| *id == segment.id) {
                leads.extend(more_leads);
                leads.sort_unstable();
                leads.dedup();
            }
            for chunk in leads.chunks(LEADS_PER_REFRESH) {
                store.refresh_segment(segment.id, &definition, segment.version, Some(chunk), now).await?;
                self.refreshed += chunk.len() as u64;
            }
        }
        lap("refresh", &mut laps);
        if started.elapsed().as_secs_f64() > 1.0 {
            tracing::info!(events = events.len(), leads = touched.len(), laps = ?laps, "slow segment step");
        }
        cursor.event = last;
        // Records written in the same millisecond as this step are read again next time.
        cursor.since = now;
        if window_due {
            cursor.window_at = now;
        }
        write_cursor(store, cursor, now).await?;
        Ok(more)
    }
}

/// Leads built per step while the activity summary is first built.
const BUILD_LEADS: i64 = 20_000;

impl SegmentWorker {
    /// Builds the next slice of the activity summary until every lead is in; then segments read
    /// it. `true` while there is more to build.
    async fn build_activity(
        &mut self,
        store: &(impl SegmentStore + SystemStore + ?Sized),
        now: Millis,
    ) -> Result<bool, WorkError> {
        let mut build: ActivityBuild = store
            .get_setting(SETTING_ACTIVITY)
            .await?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        if build.built {
            return Ok(false);
        }
        let leads = store.lead_ids_after(build.after, BUILD_LEADS).await?;
        rebuild_activity(store, &leads).await?;
        match leads.last() {
            Some(last) => build.after = *last,
            None => {
                build.built = true;
                tracing::info!("activity summary built: segments read it from now on");
            }
        }
        store.put_setting(SETTING_ACTIVITY, &serde_json::to_string(&build).unwrap_or_default(), now).await?;
        Ok(!build.built)
    }
}

/// The keys an event counts under: its product's and any product's (0).
fn keys_of(event: &ActivityEvent) -> impl Iterator<Item = (i64, String, i64)> + '_ {
    let product = event.product_id.filter(|p| *p != 0);
    product.into_iter().chain(std::iter::once(0)).map(move |product| (event.lead_id, event.kind.clone(), product))
}

fn row_of((lead_id, kind, product_id): (i64, String, i64), activity: &Activity) -> ActivityRow {
    ActivityRow {
        lead_id,
        kind,
        product_id,
        last_at: activity.last_at(),
        recent: activity.encode(),
        upto: activity.upto,
    }
}

/// Takes new events into the summary rows of their leads (an event already taken in is
/// skipped: see [`Activity::add`]).
async fn fold_events(store: &(impl SegmentStore + ?Sized), events: &[ActivityEvent]) -> Result<(), WorkError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(i64, String, i64)> = events.iter().flat_map(keys_of).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut held: HashMap<(i64, String, i64), Activity> = store
        .activity_rows_of(&keys)
        .await?
        .into_iter()
        .map(|row| ((row.lead_id, row.kind, row.product_id), Activity::decode(&row.recent, row.upto)))
        .collect();
    let mut changed = HashSet::new();
    for event in events {
        for key in keys_of(event) {
            if held.entry(key.clone()).or_default().add(event.occurred_at, event.id) {
                changed.insert(key);
            }
        }
    }
    let rows: Vec<ActivityRow> =
        changed.into_iter().filter_map(|key| held.get(&key).map(|activity| row_of(key.clone(), activity))).collect();
    store.write_activity(&[], &rows).await?;
    Ok(())
}

/// Builds these leads' summary rows again from the log (their events moved, went or were never
/// taken in).
async fn rebuild_activity(store: &(impl SegmentStore + ?Sized), leads: &[i64]) -> Result<(), WorkError> {
    for chunk in leads.chunks(LEADS_PER_REFRESH) {
        let (events, upto) = store.lead_activity_events(chunk).await?;
        let mut built: HashMap<(i64, String, i64), Activity> = HashMap::new();
        for event in &events {
            for key in keys_of(event) {
                built.entry(key).or_default().add(event.occurred_at, event.id);
            }
        }
        // Every event of these leads up to `upto` is in (a later one is the fold's): the rows
        // are marked so.
        let rows: Vec<ActivityRow> = built
            .into_iter()
            .map(|(key, mut activity)| {
                activity.upto = upto;
                row_of(key, &activity)
            })
            .collect();
        store.write_activity(chunk, &rows).await?;
    }
    Ok(())
}

#[async_trait]
impl Worker for SegmentWorker {
    fn name(&self) -> &'static str {
        "segments"
    }

    fn lease(&self) -> Option<&'static str> {
        Some(LEASE)
    }

    fn signal(&self) -> Option<&'static str> {
        Some(SEGMENTS_DUE)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        Ok(if self.run(cx).await? { Next::Again } else { Next::Idle })
    }
}
