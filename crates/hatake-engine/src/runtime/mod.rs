//! The home of all background work: workers that take steps, the leases that let one process
//! of several do a piece of work, the signals that wake a worker when its work arrives, and one
//! [`Clock`] that every worker reads and waits on (tests move it instead of sleeping).
//!
//! `hatake serve` starts a [`Runtime`] with the standard workers ([`Runtime::start`]): the
//! event writer (group commit of events), the scorer, the retry of stored form submissions and
//! the mail sender. The web crate only hands work to it ([`RuntimeHandle`]). Benchmarks start the
//! same runtime; tests drive a worker one step at a time with [`step`].
//!
//! A worker's loop: when it needs a lease and does not hold it, it tries to take it (renewing
//! it when half is left); it takes a step; [`Next::Again`] steps again at once, otherwise it
//! waits for its signal, the time its step named, its interval on the clock, or the stop. On
//! stop, a worker holding its lease finishes ([`Worker::finish`]) and gives the lease up.

pub mod clock;
pub mod event_writer;
pub mod workers;

pub use clock::Clock;

use async_trait::async_trait;
use hatake_store::{Millis, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// What a step failed with.
pub type WorkError = Box<dyn std::error::Error + Send + Sync>;

/// Named wake signals: whoever makes work for a worker wakes it by the signal's name.
#[derive(Clone, Default)]
pub struct Signals(Arc<Mutex<HashMap<&'static str, Arc<Notify>>>>);

/// Events were written (the scorer follows).
pub const EVENTS_WRITTEN: &str = "events-written";
/// Form submissions were stored to be processed again.
pub const FORMS_DUE: &str = "forms-due";
/// Events were written (the alert rules follow).
pub const ALERT_EVENTS: &str = "alert-events";
/// Alerts were made (the browsers' live feeds follow).
pub const ALERTS_MADE: &str = "alerts-made";

impl Signals {
    /// The signal of this name (made on first use).
    pub fn get(&self, name: &'static str) -> Arc<Notify> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(name).or_default().clone()
    }

    /// Wakes the worker waiting on `name` (or its next wait, if it is busy).
    pub fn wake(&self, name: &'static str) {
        self.get(name).notify_one();
    }
}

/// What every worker's step sees: the store, the clock, the organisation's zone, the signals
/// and who this process is (the holder of its leases).
#[derive(Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub zone: jiff::tz::TimeZone,
    pub signals: Signals,
    /// This process's name in leases (unique per process).
    pub holder: String,
}

impl Context {
    pub fn new(store: Arc<dyn Store>, clock: Clock, zone: jiff::tz::TimeZone) -> Self {
        Self { store, clock, zone, signals: Signals::default(), holder: new_holder() }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }
}

/// A name for this process in leases: its pid and a random part.
pub fn new_holder() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{}-{:016x}", std::process::id(), hasher.finish())
}

/// What a worker does after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// There is more to do now: step again at once.
    Again,
    /// Nothing more now: wait for the signal or the interval.
    Idle,
    /// Nothing more until this time on the clock (or the signal, or the interval if sooner).
    Until(Millis),
}

/// A piece of background work, taken a step at a time.
#[async_trait]
pub trait Worker: Send + 'static {
    /// For logs.
    fn name(&self) -> &'static str;

    /// The lease that lets only one process run this worker at a time (`None`: every process
    /// runs it; its steps must then be safe side by side, e.g. by claiming rows).
    fn lease(&self) -> Option<&'static str> {
        None
    }

    /// How long a lease taken by this worker holds (it is renewed when half is left).
    fn lease_ms(&self) -> Millis {
        30_000
    }

    /// The signal that wakes it early.
    fn signal(&self) -> Option<&'static str> {
        None
    }

    /// How long it waits at most between steps when idle.
    fn interval(&self) -> Duration;

    /// One step of work.
    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError>;

    /// The lease went to another process (or a step failed): forget what is held in memory.
    fn reset(&mut self) {}

    /// Stopping while holding the lease (or, for a worker without one, while running): leave
    /// the store so that the next holder starts well.
    async fn finish(&mut self, _cx: &Context) {}
}

/// Until when a worker's lease is held by this process (0: not held).
#[derive(Debug, Default, Clone, Copy)]
pub struct LeaseState {
    until: Millis,
}

impl LeaseState {
    pub fn held(&self, now: Millis) -> bool {
        self.until > now
    }
}

/// Takes one step of `worker` as its loop would: takes or renews its lease first (no step
/// without it: `Ok(None)`). For tests and commands that drive a worker themselves.
///
/// # Errors
/// When the lease cannot be read or the step fails.
pub async fn step<W: Worker + ?Sized>(
    worker: &mut W,
    cx: &Context,
    lease: &mut LeaseState,
) -> Result<Option<Next>, WorkError> {
    if !take_lease(worker, cx, lease).await? {
        return Ok(None);
    }
    worker.step(cx).await.map(Some)
}

/// Whether this process holds the worker's lease (taking or renewing it as needed); resets the
/// worker when the lease was lost.
async fn take_lease<W: Worker + ?Sized>(
    worker: &mut W,
    cx: &Context,
    lease: &mut LeaseState,
) -> Result<bool, WorkError> {
    let Some(name) = worker.lease() else { return Ok(true) };
    let now = cx.clock.now();
    let length = worker.lease_ms();
    // Renewed when half is left, not at every step (a write that would wait its turn).
    if lease.until - now > length / 2 {
        return Ok(true);
    }
    let ours = cx.store.try_lease(name, &cx.holder, now + length, now).await?;
    if ours {
        lease.until = now + length;
    } else if lease.until > 0 {
        tracing::info!(worker = worker.name(), "the lease went to another process");
        lease.until = 0;
        worker.reset();
    }
    Ok(ours)
}

/// A worker running in the runtime; [`WorkerHandle::stop`] stops it and gives it back.
pub struct WorkerHandle<W> {
    stop: Arc<watch::Sender<bool>>,
    join: tokio::task::JoinHandle<W>,
}

impl<W: Worker> WorkerHandle<W> {
    /// Stops the worker after its current step (it finishes and gives its lease up) and returns
    /// it, or `None` when it panicked or did not stop within `within`.
    pub async fn stop(self, within: Duration) -> Option<W> {
        self.stop.send_replace(true);
        match tokio::time::timeout(within, self.join).await {
            Ok(Ok(worker)) => Some(worker),
            Ok(Err(error)) => {
                tracing::warn!(%error, "a worker failed");
                None
            }
            Err(_) => None,
        }
    }
}

/// Runs `worker` until `stop` reads true.
async fn drive<W: Worker>(mut worker: W, cx: Context, mut stop: watch::Receiver<bool>) -> W {
    let wake = worker.signal().map(|name| cx.signals.get(name));
    let mut lease = LeaseState::default();
    loop {
        if *stop.borrow() {
            if worker.lease().is_none() || lease.held(cx.clock.now()) {
                worker.finish(&cx).await;
            }
            if let (Some(name), true) = (worker.lease(), lease.until > 0) {
                if let Err(error) = cx.store.release_lease(name, &cx.holder).await {
                    tracing::warn!(worker = worker.name(), %error, "the lease could not be given up");
                }
            }
            return worker;
        }
        let next = match step(&mut worker, &cx, &mut lease).await {
            Ok(Some(next)) => next,
            Ok(None) => Next::Idle,
            Err(error) => {
                // What the worker held may be ahead of the store: start again from the store.
                tracing::warn!(worker = worker.name(), %error, "a step failed");
                worker.reset();
                Next::Idle
            }
        };
        let now = cx.clock.now();
        let interval = i64::try_from(worker.interval().as_millis()).unwrap_or(i64::MAX);
        let mut deadline = match next {
            Next::Again => continue,
            Next::Idle => now.saturating_add(interval),
            Next::Until(at) => at.min(now.saturating_add(interval)),
        };
        if lease.until > 0 {
            // A lease is renewed before it runs out, however long the worker would rest.
            deadline = deadline.min(lease.until - worker.lease_ms() / 2);
        }
        let signalled = async {
            match &wake {
                Some(wake) => wake.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = signalled => {}
            () = cx.clock.sleep_until(deadline) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Background work of one process.
pub struct Runtime {
    cx: Context,
    events: Arc<event_writer::EventWriter>,
    stops: Mutex<Vec<Arc<watch::Sender<bool>>>>,
    joins: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What the web side holds of the runtime: hand events to the writer, wake workers, read the
/// clock.
#[derive(Clone)]
pub struct RuntimeHandle {
    cx: Context,
    events: Arc<event_writer::EventWriter>,
}

impl RuntimeHandle {
    pub fn events(&self) -> &event_writer::EventWriter {
        &self.events
    }

    pub fn clock(&self) -> &Clock {
        &self.cx.clock
    }

    pub fn now(&self) -> Millis {
        self.cx.clock.now()
    }

    pub fn wake(&self, signal: &'static str) {
        self.cx.signals.wake(signal);
    }

    pub fn context(&self) -> &Context {
        &self.cx
    }
}

/// Which of the standard workers [`Runtime::start`] runs.
#[derive(Debug, Clone)]
pub struct Standard {
    pub scorer: bool,
    pub form_retries: bool,
    /// Segment membership ([`crate::segments::SegmentWorker`]).
    pub segments: bool,
    /// The mail sender ([`crate::mail::sender::MailSender`]).
    pub mail: bool,
    /// The rules that make inside sales' tasks ([`crate::inside_sales::TaskRules`]).
    pub task_rules: bool,
    /// Alert rules and the webhooks they send ([`crate::alerts`]).
    pub alerts: bool,
    /// Where mail goes when the server's configuration says so (else the mail settings page).
    pub mail_config: Option<crate::mail::config::MailConfig>,
    pub mail_sender: crate::mail::sender::SenderSettings,
}

impl Default for Standard {
    fn default() -> Self {
        Self {
            scorer: true,
            form_retries: true,
            segments: true,
            mail: true,
            task_rules: true,
            alerts: true,
            mail_config: None,
            mail_sender: crate::mail::sender::SenderSettings::default(),
        }
    }
}

impl Runtime {
    /// A runtime with no worker running yet (the event writer starts on its first events).
    pub fn new(cx: Context) -> Self {
        let events = Arc::new(event_writer::EventWriter::new(
            cx.store.clone(),
            vec![cx.signals.get(EVENTS_WRITTEN), cx.signals.get(ALERT_EVENTS)],
        ));
        Self { cx, events, stops: Mutex::default(), joins: Mutex::default() }
    }

    /// A runtime running the standard workers that `standard` names. Must be called inside a
    /// Tokio runtime.
    pub fn start(cx: Context, standard: Standard) -> Self {
        let runtime = Self::new(cx);
        if standard.scorer {
            runtime.run(workers::ScorerWorker::new(runtime.cx.zone.clone()));
        }
        if standard.form_retries {
            runtime.run(workers::FormRetries::default());
        }
        if standard.segments {
            runtime.run(crate::segments::SegmentWorker::default());
        }
        if standard.task_rules {
            runtime.run(crate::inside_sales::TaskRules);
        }
        if standard.alerts {
            runtime.run(crate::alerts::AlertWorker);
            runtime.run(crate::alerts::WebhookSender::default());
        }
        if standard.mail {
            runtime.run(crate::mail::newsletter::NewsletterWorker);
            runtime.run(crate::mail::sender::MailSender::configured(standard.mail_config, standard.mail_sender));
        }
        runtime
    }

    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle { cx: self.cx.clone(), events: self.events.clone() }
    }

    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Runs `worker` until the runtime shuts down.
    pub fn run<W: Worker>(&self, worker: W) {
        let handle = self.spawn(worker);
        let join = tokio::spawn(async move {
            let _ = handle.join.await;
        });
        self.joins.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(join);
    }

    /// Runs `worker` until its handle stops it (or the runtime shuts down).
    pub fn spawn<W: Worker>(&self, worker: W) -> WorkerHandle<W> {
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        self.stops.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(stop.clone());
        let join = tokio::spawn(drive(worker, self.cx.clone(), stopped));
        WorkerHandle { stop, join }
    }

    /// Stops every worker after its current step (each finishes and gives its lease up),
    /// waiting `within` at most.
    pub async fn shutdown(&self, within: Duration) {
        for stop in self.stops.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
            stop.send_replace(true);
        }
        let joins: Vec<_> = self.joins.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        let all = async {
            for join in joins {
                let _ = join.await;
            }
        };
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("background work did not stop within {within:?}");
        }
    }
}
