//! Segment membership as derived state ([`SegmentWorker`]): after a segment's definition is
//! saved its members are rebuilt once; from then on only the leads something changed for are
//! looked at again — new events (theirs or their browsers'), edited records, scores, stages,
//! interests and subscriptions — and, every few minutes ([`WINDOW_EVERY`]), the leads whose
//! events left a behaviour condition's window since the last look. No periodic rebuild: the members equal a fresh evaluation of the
//! definition at every step's end.

use crate::runtime::{Context, Next, WorkError, Worker};
use async_trait::async_trait;
use hatake_store::{Millis, SystemStore};
use serde::{Deserialize, Serialize};
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
        let (leads, last) = store.segment_changes(cursor.event, cursor.since, EVENTS_PER_STEP, reads).await?;
        let more = last - cursor.event >= EVENTS_PER_STEP;
        let mut touched = leads;
        // Events arriving count at once; an event leaving a window counts within `window_every`.
        let window_due = now > cursor.window_at && now - cursor.window_at >= self.window_every;
        let mut exits: Vec<(i64, Vec<i64>)> = Vec::new();
        if window_due {
            for segment in &segments {
                let Some(definition) = segment.parsed() else { continue };
                let mut leads = Vec::new();
                for (kind, product, days) in definition.windows() {
                    leads.extend(store.window_exits(&kind, product, days, cursor.window_at, now).await?);
                }
                if !leads.is_empty() {
                    leads.sort_unstable();
                    leads.dedup();
                    exits.push((segment.id, leads));
                }
            }
        }
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
