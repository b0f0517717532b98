//! The standard workers of a serving process: the scorer and the retry of stored form
//! submissions. (The event writer is a task of its own: [`super::event_writer`].)

use super::{Context, Next, WorkError, Worker, EVENTS_WRITTEN, FORMS_DUE};
use crate::scoring::{Scorer, StepTimings, LEASE};
use async_trait::async_trait;
use std::time::Duration;

/// How often the scorer looks at the log when no event written here woke it.
pub const SCORING_INTERVAL: Duration = Duration::from_millis(500);

/// Scores follow the event log: one process of several at a time (the lease `scorer`), woken by
/// every group of events written here ([`EVENTS_WRITTEN`]) and at least every
/// [`SCORING_INTERVAL`]. See [`crate::scoring`] for what a step does.
pub struct ScorerWorker {
    scorer: Scorer,
    zone: jiff::tz::TimeZone,
    /// Where the steps' time went, summed (for benchmarks).
    pub timings: StepTimings,
    /// Events read by the steps.
    pub events: u64,
    /// Log every step (benchmarks).
    pub trace_steps: bool,
}

impl ScorerWorker {
    pub fn new(zone: jiff::tz::TimeZone) -> Self {
        Self::from_scorer(Scorer::with_zone(zone.clone()), zone)
    }

    /// A worker that goes on with a scorer that already holds states (a benchmark's).
    pub fn from_scorer(scorer: Scorer, zone: jiff::tz::TimeZone) -> Self {
        Self { scorer, zone, timings: StepTimings::default(), events: 0, trace_steps: false }
    }

    pub fn into_scorer(self) -> Scorer {
        self.scorer
    }
}

#[async_trait]
impl Worker for ScorerWorker {
    fn name(&self) -> &'static str {
        "scorer"
    }

    fn lease(&self) -> Option<&'static str> {
        Some(LEASE)
    }

    fn signal(&self) -> Option<&'static str> {
        Some(EVENTS_WRITTEN)
    }

    fn interval(&self) -> Duration {
        SCORING_INTERVAL
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        let report = self.scorer.step(cx.store.as_ref(), cx.clock.now()).await?;
        self.timings.add(&report.timings);
        self.events += report.events as u64;
        if report.events > 0 {
            // Segments read scores: they look again once these are in.
            cx.signals.wake(crate::segments::SEGMENTS_DUE);
        }
        if self.trace_steps {
            tracing::info!(
                events = report.events,
                folded = report.folded,
                refolded = report.refolded,
                timings = ?report.timings,
                "scorer step"
            );
        }
        Ok(if report.more { Next::Again } else { Next::Idle })
    }

    fn reset(&mut self) {
        // What the scorer held may be ahead of the store: the next step starts from the stored
        // states.
        self.scorer = Scorer::with_zone(self.zone.clone());
    }

    async fn finish(&mut self, cx: &Context) {
        // The next scorer then starts from the states, not from folding again.
        if let Err(error) = self.scorer.write_back(cx.store.as_ref()).await {
            tracing::warn!(%error, "the scorer's states could not be written back");
        }
    }
}

/// How often stored form submissions that are due (failed earlier, or left pending by a stop)
/// are processed again.
pub const FORM_RETRY_INTERVAL: Duration = Duration::from_secs(30);
/// Submissions processed per step.
const FORM_RETRY_BATCH: i64 = 100;
/// A submission stored this recently is being processed by its request: it is left alone.
const FORM_GRACE_MS: i64 = 60_000;

/// Processes stored form submissions that are due again (every process may run it: a
/// submission is processed idempotently).
#[derive(Debug, Default)]
pub struct FormRetries {
    pub done: u64,
    pub failed: u64,
}

#[async_trait]
impl Worker for FormRetries {
    fn name(&self) -> &'static str {
        "form-retries"
    }

    fn signal(&self) -> Option<&'static str> {
        Some(FORMS_DUE)
    }

    fn interval(&self) -> Duration {
        FORM_RETRY_INTERVAL
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        let now = cx.clock.now();
        let counts =
            crate::forms::process_due(cx.store.as_ref(), now - FORM_GRACE_MS, now, FORM_RETRY_BATCH, &cx.zone).await?;
        if counts.done + counts.failed > 0 {
            tracing::info!(done = counts.done, failed = counts.failed, "form submissions retried");
        }
        self.done += counts.done as u64;
        self.failed += counts.failed as u64;
        Ok(if counts.done + counts.failed >= FORM_RETRY_BATCH as usize { Next::Again } else { Next::Idle })
    }
}
