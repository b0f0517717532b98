//! Group commit of events: requests that append events (`POST /api/v1/events`, tracking hits)
//! hand their events to one writer task, which appends what has arrived meanwhile — from
//! several requests — in one store call (one transaction, which also finds each event's lead:
//! [`hatake_store::EventStore::append_resolving`]), and then answers each request with the
//! fates of its own events. [`EventWriter::append`] returns only after the transaction holding
//! the events committed, so an API request's "acknowledged" still means "durable"; tracking hits
//! wait for that a short while at most ([`EventWriter::submit`], the web's `HIT_WAIT`). The
//! writer belongs to the [`super::Runtime`]; after each group it wakes the scorer
//! ([`super::EVENTS_WRITTEN`]).
//!
//! On SQLite every commit writes the index pages it dirtied to the log, so a few large
//! transactions cost far less than many small ones (BENCHMARKS.md: `hatake bench events`).
//! While one group is written, the next gathers: the busier the server, the larger the groups.

use hatake_store::{Millis, PendingEvent, Resolved, Store, StoreError, StoreResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most events in one group: bounds how long one commit (and so a hit waiting behind it) takes.
pub const MAX_GROUP_EVENTS: usize = 20_000;

/// Requests that may wait for the writer before senders wait for room.
const QUEUE: usize = 4_096;

/// Where the fates of submitted events arrive, once their transaction committed.
pub type Answer = oneshot::Receiver<StoreResult<Vec<Resolved>>>;

/// One request's events, and where its answer goes.
struct Job {
    events: Vec<PendingEvent>,
    now: Millis,
    reply: oneshot::Sender<StoreResult<Vec<Resolved>>>,
}

/// What the writer has written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Groups written (store calls, not counting the retries of a failed group alone).
    pub groups: u64,
    /// Requests whose events were in them.
    pub requests: u64,
    pub events: u64,
    /// Requests whose caller no longer waited when their group committed (a tracking hit
    /// answered after `tracking::HIT_WAIT`, a client that hung up).
    pub unawaited: u64,
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    requests: AtomicU64,
    events: AtomicU64,
    unawaited: AtomicU64,
}

/// The handle of the writer task, started on first use (inside the server's Tokio runtime).
pub struct EventWriter {
    store: Arc<dyn Store>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    counters: Arc<Counters>,
    /// Told after every group, so that scores follow at once.
    written: Arc<[Arc<tokio::sync::Notify>]>,
}

impl EventWriter {
    /// `written`: the signals woken after each group (the scorer's, the alerts').
    pub fn new(store: Arc<dyn Store>, written: Vec<Arc<tokio::sync::Notify>>) -> Self {
        Self { store, queue: Mutex::new(None), counters: Arc::default(), written: written.into() }
    }

    /// Groups, requests and events written so far (for benchmarks and tests).
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            groups: self.counters.groups.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
            unawaited: self.counters.unawaited.load(Ordering::Relaxed),
        }
    }

    /// Finds the events' leads and appends them (as [`hatake_store::EventStore::append_resolving`]
    /// does, received at `now`) together with those of concurrent callers; returns their fates in
    /// order once the transaction holding them committed. An event whose idempotency key an
    /// event of an earlier request in the same group took is a duplicate of it, as if the
    /// requests came one after the other.
    ///
    /// # Errors
    /// When the store fails for these events (others of the group are written without them).
    pub async fn append(&self, events: Vec<PendingEvent>, now: Millis) -> StoreResult<Vec<Resolved>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let answer = self.submit(events, now).await?;
        answer.await.map_err(|_| StoreError::Database("the event writer stopped".into()))?
    }

    /// Hands `events` to the writer (waiting for room while it is [`QUEUE`] requests behind)
    /// and returns where their fates will arrive. The events are written whether or not the
    /// caller waits for the answer.
    ///
    /// # Errors
    /// When the writer cannot be started.
    pub async fn submit(&self, events: Vec<PendingEvent>, now: Millis) -> StoreResult<Answer> {
        let (reply, answer) = oneshot::channel();
        let mut job = Job { events, now, reply };
        // A writer that stopped (its runtime ended, it panicked) is replaced once.
        for _ in 0..2 {
            let sender = self.sender();
            match sender.send(job).await {
                Ok(()) => return Ok(answer),
                Err(mpsc::error::SendError(returned)) => {
                    job = returned;
                    self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                }
            }
        }
        Err(StoreError::Database("the event writer cannot start".into()))
    }

    fn sender(&self) -> mpsc::Sender<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        queue
            .get_or_insert_with(|| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(run(self.store.clone(), receiver, self.counters.clone(), self.written.clone()));
                sender
            })
            .clone()
    }
}

/// Takes what has arrived (up to [`MAX_GROUP_EVENTS`] events; one request at least, however
/// large) and writes it as one group, until every sender is gone.
async fn run(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    written: Arc<[Arc<tokio::sync::Notify>]>,
) {
    while let Some(first) = receiver.recv().await {
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < MAX_GROUP_EVENTS {
            match receiver.try_recv() {
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        counters.groups.fetch_add(1, Ordering::Relaxed);
        counters.requests.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        counters.events.fetch_add(count as u64, Ordering::Relaxed);
        let unawaited = write(store.as_ref(), jobs).await;
        counters.unawaited.fetch_add(unawaited, Ordering::Relaxed);
        for signal in written.iter() {
            signal.notify_one();
        }
    }
}

/// Writes one group and answers its requests; returns how many no longer waited.
async fn write(store: &dyn Store, jobs: Vec<Job>) -> u64 {
    let now = jobs.iter().map(|job| job.now).max().unwrap_or_default();
    let mut lengths = Vec::with_capacity(jobs.len());
    let mut replies = Vec::with_capacity(jobs.len());
    let mut events = Vec::with_capacity(jobs.iter().map(|job| job.events.len()).sum());
    let mut times = Vec::with_capacity(jobs.len());
    for job in jobs {
        lengths.push(job.events.len());
        times.push(job.now);
        replies.push(job.reply);
        events.extend(job.events);
    }
    match store.append_resolving(&events, now).await {
        Ok(fates) => {
            let mut fates = fates.into_iter();
            let mut unawaited = 0;
            for (reply, length) in replies.into_iter().zip(lengths) {
                // A caller that went away still had its events written.
                if reply.send(Ok(fates.by_ref().take(length).collect())).is_err() {
                    unawaited += 1;
                }
            }
            unawaited
        }
        Err(error) if replies.len() == 1 => u64::from(replies.pop().expect("one").send(Err(error)).is_err()),
        Err(error) => {
            // One request's events can fail the group (a lead deleted since it was looked up):
            // each request again on its own, so that only that one fails.
            tracing::debug!(%error, requests = replies.len(), "a group of events failed; writing each request alone");
            let (mut start, mut unawaited) = (0, 0);
            for ((reply, length), now) in replies.into_iter().zip(lengths).zip(times) {
                let result = store.append_resolving(&events[start..start + length], now).await;
                start += length;
                unawaited += u64::from(reply.send(result).is_err());
            }
            unawaited
        }
    }
}
