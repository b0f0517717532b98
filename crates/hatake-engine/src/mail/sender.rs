//! The worker that sends due mail from the outbox. Every process runs it: rows are claimed (one
//! worker per row), then each row is sent on one of a few connections kept open between steps:
//! the server is asked to take a message, the outbox records the hand-over, the content goes
//! out, and the server's answer is recorded — sent, a transient refusal tried again later with
//! back-off, a permanent one never again, or no answer at all (the row stays handed over and is
//! never sent twice).

use super::config::MailConfig;
use super::dkim::DkimSigner;
use super::smtp::Envelope;
use super::transport::{MailConnection, MailTransport, SendError};
use super::{build_signed, message_id, OutgoingMail, KIND};
use crate::runtime::{Context, Next, WorkError, Worker};
use async_trait::async_trait;
use hatake_store::{Millis, OutboxOutcome, OutboxRow};
use std::sync::Arc;
use std::time::Duration;

/// The signal that wakes the sender (a mail was recorded).
pub const OUTBOX: &str = "outbox";

/// Waits after the 1st, 2nd, … transient refusal; after the last the row fails.
const BACKOFF_MS: [i64; 8] =
    [60_000, 5 * 60_000, 15 * 60_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000, 24 * 3_600_000];

/// When a row refused `attempts` times before (this one included) is tried again, or `None`
/// when it has been tried enough.
pub fn retry_at(now: Millis, attempts: i64) -> Option<Millis> {
    let index = usize::try_from(attempts).ok()?;
    BACKOFF_MS.get(index).map(|wait| now + wait)
}

/// How the sender works.
#[derive(Debug, Clone, Copy)]
pub struct SenderSettings {
    /// Connections used side by side.
    pub connections: usize,
    /// Rows claimed per step.
    pub batch: i64,
    /// How long a claim holds: the batch is handed over within it, and the claims of a process
    /// that died are taken over after it.
    pub claim_ms: i64,
    /// Rest between looks at the outbox when nothing woke it.
    pub interval: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self { connections: 8, batch: 800, claim_ms: 15_000, interval: Duration::from_secs(15) }
    }
}

/// What the sender did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderCounts {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub unconfirmed: u64,
    /// Rows whose claim another worker took before the hand-over (nothing sent here).
    pub lost: u64,
    /// Rows not sent because the lead unsubscribed from their topic.
    pub cancelled: u64,
    /// Rows put back to wait for their domain's next minute.
    pub deferred: u64,
}

impl SenderCounts {
    fn add(&mut self, other: &Self) {
        self.sent += other.sent;
        self.retried += other.retried;
        self.failed += other.failed;
        self.unconfirmed += other.unconfirmed;
        self.lost += other.lost;
        self.cancelled += other.cancelled;
        self.deferred += other.deferred;
    }
}

/// Where the sender's transport comes from.
enum Source {
    /// Given once (tests, benchmarks).
    Fixed(Arc<dyn MailTransport>),
    /// The server's configuration when it names one, else the mail settings page's, read again
    /// at every step (a change applies without a restart).
    Configured(Box<Configured>),
}

struct Configured {
    fixed: Option<MailConfig>,
    current: Option<(MailConfig, Arc<dyn MailTransport>)>,
}

/// Sends due mail ([`KIND`] rows of the outbox).
pub struct MailSender {
    source: Source,
    settings: SenderSettings,
    /// Connections open since an earlier step.
    idle: Vec<Box<dyn MailConnection>>,
    /// The DKIM signer made from the stored settings (and the settings' text it was made from).
    dkim: Option<(String, Option<Arc<DkimSigner>>)>,
    pub counts: SenderCounts,
}

impl MailSender {
    pub fn new(transport: Arc<dyn MailTransport>, settings: SenderSettings) -> Self {
        Self {
            source: Source::Fixed(transport),
            settings,
            idle: Vec::new(),
            dkim: None,
            counts: SenderCounts::default(),
        }
    }

    /// A sender that follows the configuration: `fixed` (the server's) when given, else the
    /// mail settings page's.
    pub fn configured(fixed: Option<MailConfig>, settings: SenderSettings) -> Self {
        Self {
            source: Source::Configured(Box::new(Configured { fixed, current: None })),
            settings,
            idle: Vec::new(),
            dkim: None,
            counts: SenderCounts::default(),
        }
    }

    /// The DKIM signer of the stored settings, made again only when they changed.
    async fn signer(&mut self, cx: &Context) -> Result<Option<Arc<DkimSigner>>, WorkError> {
        let text = cx.store.get_setting(super::dkim::SETTING_DKIM).await?.unwrap_or_default();
        if let Some((seen, signer)) = &self.dkim {
            if *seen == text {
                return Ok(signer.clone());
            }
        }
        let signer = if text.is_empty() {
            None
        } else {
            match serde_json::from_str::<super::dkim::DkimSettings>(&text)
                .map_err(|e| e.to_string())
                .and_then(|s| s.signer().map_err(|e| e.to_string()))
            {
                Ok(signer) => Some(Arc::new(signer)),
                Err(error) => {
                    // Unsigned mail rather than none: the settings page shows the problem.
                    tracing::warn!(%error, "the DKIM settings cannot sign");
                    None
                }
            }
        };
        self.dkim = Some((text, signer.clone()));
        Ok(signer)
    }

    /// The transport to use now (`None`: mail is off and waits).
    async fn transport(&mut self, cx: &Context) -> Result<Option<Arc<dyn MailTransport>>, WorkError> {
        let Configured { fixed, current } = match &mut self.source {
            Source::Fixed(transport) => return Ok(Some(transport.clone())),
            Source::Configured(configured) => configured.as_mut(),
        };
        let config = match fixed {
            Some(config) => config.clone(),
            None => super::config::stored(cx.store.as_ref()).await?.unwrap_or_default(),
        };
        if current.as_ref().map(|(c, _)| c) != Some(&config) {
            // Connections to where mail went before are closed.
            for mut connection in self.idle.drain(..) {
                connection.close().await;
            }
            *current = config.transport().map(|t| (config.clone(), t));
            if let Some((_, transport)) = current.as_ref() {
                tracing::info!(to = %transport.describe(), "mail goes");
            }
        }
        Ok(current.as_ref().map(|(_, t)| t.clone()))
    }
}

/// How long a step keeps claiming more while its lanes send (then the runtime's step ends, and
/// the settings are read again).
const STEP_BUDGET: Duration = Duration::from_secs(20);

/// What the claims of a step left for the next: whether the last took a whole batch (more may
/// be due), and when the rows put back for their domain's next minute fall due.
#[derive(Default)]
struct Claimed {
    /// Rows the last claim took (sent, cancelled or put back).
    taken: usize,
    full: bool,
    deferred: Vec<Millis>,
}

impl Claimed {
    /// When to look again.
    fn rest(&self) -> Next {
        match self.deferred.iter().min() {
            _ if self.full => Next::Again,
            Some(due) => Next::Until(*due),
            None => Next::Idle,
        }
    }
}

impl MailSender {
    /// Claims a batch of due rows; cancels those whose lead left the topic and puts back those
    /// over their domain's limit this minute. Returns the rows to send now, and adds to `claimed`.
    async fn claim(
        &mut self,
        cx: &Context,
        limits: &super::limits::SendLimits,
        claimed: &mut Claimed,
    ) -> Result<Vec<OutboxRow>, WorkError> {
        let now = cx.clock.now();
        let batch = self.settings.batch;
        let rows = cx.store.claim_outbox(KIND, &cx.holder, now, now + self.settings.claim_ms, batch).await?;
        let taken = rows.len();
        // Mail for topics its lead left is cancelled before any connection is asked (the
        // hand-over checks again, for an unsubscribe that comes in meanwhile).
        let marketing: Vec<i64> =
            rows.iter().filter(|r| r.topic.is_some() && r.lead_id.is_some()).map(|r| r.id).collect();
        let cancelled: std::collections::HashSet<i64> = if marketing.is_empty() {
            Default::default()
        } else {
            cx.store.cancel_unsubscribed_outbox(&cx.holder, &marketing, now).await?.into_iter().collect()
        };
        self.counts.cancelled += cancelled.len() as u64;
        let mut rows: Vec<OutboxRow> = rows.into_iter().filter(|r| !cancelled.contains(&r.id)).collect();
        let mut deferred = Vec::new();
        if !limits.domains.is_empty() {
            // A domain over its limit this minute — counted in the store, for every process
            // sending from it — waits for the next minute (not an attempt).
            let minute = now - now.rem_euclid(60_000);
            let mut wanted: Vec<(&super::limits::DomainLimit, Vec<i64>)> = Vec::new();
            for row in &rows {
                if let Some(limit) = limits.limit_for(&row.recipient) {
                    match wanted.iter_mut().find(|(l, _)| l.domain == limit.domain) {
                        Some((_, ids)) => ids.push(row.id),
                        None => wanted.push((limit, vec![row.id])),
                    }
                }
            }
            for (limit, ids) in wanted {
                let count = i64::try_from(ids.len()).unwrap_or(i64::MAX);
                let granted =
                    cx.store.take_domain_quota(&limit.domain, minute, i64::from(limit.per_minute), count).await?;
                let granted = usize::try_from(granted).unwrap_or(0);
                deferred.extend(ids.into_iter().skip(granted).map(|id| (id, minute + 60_000)));
            }
            let waiting: std::collections::HashSet<i64> = deferred.iter().map(|(id, _)| *id).collect();
            rows.retain(|row| !waiting.contains(&row.id));
            cx.store.defer_outbox(&cx.holder, &deferred, now).await?;
            self.counts.deferred += deferred.len() as u64;
        }
        claimed.taken = taken;
        claimed.full = i64::try_from(taken).unwrap_or(i64::MAX) >= batch;
        claimed.deferred.extend(deferred.into_iter().map(|(_, due)| due));
        Ok(rows)
    }
}

/// The rows a step's lanes take, one at a time, filled again while they send.
#[derive(Default)]
struct Feed {
    rows: std::sync::Mutex<std::collections::VecDeque<OutboxRow>>,
    closed: std::sync::atomic::AtomicBool,
    /// Rows were added, or nothing more comes.
    more: tokio::sync::Notify,
    /// A lane took a row and fewer than `low` are left (the step may claim more).
    took: tokio::sync::Notify,
    low: std::sync::atomic::AtomicUsize,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<OutboxRow>> {
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, rows: Vec<OutboxRow>) {
        self.lock().extend(rows);
        self.more.notify_waiters();
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.more.notify_waiters();
    }

    /// The next row now, if there is one.
    fn try_take(&self) -> Option<OutboxRow> {
        let (row, left) = {
            let mut rows = self.lock();
            let row = rows.pop_front();
            (row, rows.len())
        };
        if left < self.low.load(std::sync::atomic::Ordering::Relaxed) {
            self.took.notify_one();
        }
        row
    }

    /// The next row, waiting for one; `None` once the step claims nothing more.
    async fn take(&self) -> Option<OutboxRow> {
        loop {
            let more = self.more.notified();
            tokio::pin!(more);
            more.as_mut().enable();
            if let Some(row) = self.try_take() {
                return Some(row);
            }
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            more.await;
        }
    }

    /// Waits until fewer than `low` rows are left.
    async fn wait_below(&self, low: usize) {
        self.low.store(low, std::sync::atomic::Ordering::Relaxed);
        loop {
            let took = self.took.notified();
            tokio::pin!(took);
            took.as_mut().enable();
            if self.lock().len() < low {
                return;
            }
            took.await;
        }
    }
}

#[async_trait]
impl Worker for MailSender {
    fn name(&self) -> &'static str {
        "mail-sender"
    }

    fn signal(&self) -> Option<&'static str> {
        Some(OUTBOX)
    }

    fn interval(&self) -> Duration {
        self.settings.interval
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        let Some(transport) = self.transport(cx).await? else { return Ok(Next::Idle) };
        let signer = self.signer(cx).await?;
        // Outside the send window nothing is claimed: the sender rests until it opens.
        let limits = super::limits::stored(cx.store.as_ref()).await?;
        if let Some(opens) = limits.closed_until(cx.clock.now(), &cx.zone) {
            return Ok(Next::Until(opens));
        }
        let mut claimed = Claimed::default();
        let first = self.claim(cx, &limits, &mut claimed).await?;
        if first.is_empty() {
            if claimed.taken == 0 {
                return Ok(match cx.store.next_outbox_due(KIND).await? {
                    Some(due) => Next::Until(due),
                    None => Next::Idle,
                });
            }
            return Ok(claimed.rest());
        }
        // The lanes take rows from one queue; it is filled again while they send, so that no
        // lane waits for the others at the end of a batch, nor for the next claim.
        let lanes = self.settings.connections.clamp(1, first.len());
        let feed = Arc::new(Feed::default());
        feed.push(first);
        let (queue, queued) = tokio::sync::mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(cx.clone(), queued));
        let writes = Writes(queue);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..lanes {
            let lane = Lane {
                cx: cx.clone(),
                transport: transport.clone(),
                connection: self.idle.pop(),
                writes: writes.clone(),
                signer: signer.clone(),
            };
            tasks.spawn(lane.send(feed.clone()));
        }
        drop(writes);
        let low_water = lanes * 16;
        let started = std::time::Instant::now();
        while claimed.full && started.elapsed() < STEP_BUDGET {
            feed.wait_below(low_water).await;
            match self.claim(cx, &limits, &mut claimed).await {
                Ok(rows) => feed.push(rows),
                Err(error) => {
                    tracing::warn!(%error, "the outbox could not be claimed");
                    break;
                }
            }
        }
        feed.close();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((connection, counts)) => {
                    self.counts.add(&counts);
                    self.idle.extend(connection);
                }
                Err(error) => tracing::warn!(%error, "a mail lane failed"),
            }
        }
        // Every lane is done and has dropped its handle: the writer commits what is left.
        match writer.await {
            Ok(0) => {}
            Ok(unrecorded) => tracing::warn!(unrecorded, "outcomes of sent mail could not be recorded"),
            Err(error) => tracing::warn!(%error, "the outbox writer failed"),
        }
        Ok(claimed.rest())
    }

    fn reset(&mut self) {
        self.idle.clear();
    }

    async fn finish(&mut self, cx: &Context) {
        for mut connection in self.idle.drain(..) {
            connection.close().await;
        }
        if let Err(error) = cx.store.release_outbox(&cx.holder, cx.clock.now()).await {
            tracing::warn!(%error, "claimed mail could not be given back");
        }
    }
}

/// What the lanes of a step ask to be written.
enum Write {
    HandOver(Box<HandingOver>),
    Finish { id: i64, outcome: OutboxOutcome },
}

/// A message whose content is out, waiting for its hand-over: the writer ends it on its
/// connection right after the commit (no other task runs in between), with the next message's
/// request, and gives the connection back.
struct HandingOver {
    id: i64,
    message_id: String,
    connection: Box<dyn MailConnection>,
    next: Option<Envelope>,
    reply: tokio::sync::oneshot::Sender<Handed>,
}

/// The writer's answer to a hand-over.
struct Handed {
    outcome: HandOver,
    connection: Option<Box<dyn MailConnection>>,
    /// How writing the end went (handed-over messages only).
    end: Result<(), SendError>,
}

/// The lanes' writes, committed together: what arrived while the last commit ran goes in the
/// next one (outcomes first, then hand-overs), so that many connections share each commit.
#[derive(Clone)]
struct Writes(tokio::sync::mpsc::UnboundedSender<Write>);

/// What became of a hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandOver {
    /// Recorded: the content goes out now.
    Handed,
    /// The lead unsubscribed from the mail's topic: cancelled, nothing goes out.
    Cancelled,
    /// No longer this worker's (or the store failed): nothing goes out.
    NotOurs,
}

impl Writes {
    /// Records the hand-over of the row whose content is out on `connection`, and ends its
    /// message there (asking for `next` with it); the connection comes back unless the writer
    /// is gone.
    async fn hand_over(
        &self,
        id: i64,
        message_id: String,
        connection: Box<dyn MailConnection>,
        next: Option<Envelope>,
    ) -> (HandOver, Option<Box<dyn MailConnection>>, Result<(), SendError>) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ok = Ok(());
        let handing = HandingOver { id, message_id, connection, next, reply };
        if let Err(refused) = self.0.send(Write::HandOver(Box::new(handing))) {
            let connection = match refused.0 {
                Write::HandOver(handing) => Some(handing.connection),
                Write::Finish { .. } => None,
            };
            return (HandOver::NotOurs, connection, ok);
        }
        match answer.await {
            Ok(handed) => (handed.outcome, handed.connection, handed.end),
            Err(_) => (HandOver::NotOurs, None, ok),
        }
    }

    fn finish(&self, id: i64, outcome: OutboxOutcome) {
        let _ = self.0.send(Write::Finish { id, outcome });
    }
}

/// Writes until every lane is done; returns the outcomes that could not be recorded.
async fn write_loop(cx: Context, mut queue: tokio::sync::mpsc::UnboundedReceiver<Write>) -> u64 {
    let mut unrecorded = 0;
    while let Some(first) = queue.recv().await {
        let mut writes = vec![first];
        while let Ok(next) = queue.try_recv() {
            writes.push(next);
        }
        let mut hand_overs = Vec::new();
        let mut ending = Vec::new();
        let mut replies = Vec::new();
        let mut outcomes = Vec::new();
        for write in writes {
            match write {
                Write::HandOver(one) => {
                    let HandingOver { id, message_id, connection, next, reply } = *one;
                    hand_overs.push((id, message_id));
                    ending.push((id, connection, next));
                    replies.push(reply);
                }
                Write::Finish { id, outcome } => outcomes.push((id, outcome)),
            }
        }
        // The ends are written right after the commit by the thread that committed, all of
        // them before anything else runs: the time between the commit and the server being
        // able to take each message is as short as it can be made. The connections come back
        // through `ended` (dropped with the closure when nothing was committed: their messages
        // have no end, so the server discards them).
        let (ended_tx, ended_rx) = std::sync::mpsc::channel();
        let end_all: hatake_store::AfterCommit = Box::new(move |written: &hatake_store::OutboxWritten| {
            for (id, mut connection, next) in ending {
                let outcome = if written.handed.contains(&id) {
                    HandOver::Handed
                } else if written.cancelled.contains(&id) {
                    HandOver::Cancelled
                } else {
                    HandOver::NotOurs
                };
                let end = if outcome == HandOver::Handed { Some(connection.end_now(next.as_ref())) } else { None };
                let _ = ended_tx.send((outcome, connection, end));
            }
        });
        let written =
            cx.store.write_outbox_then(&cx.holder, &hand_overs, &outcomes, cx.clock.now(), Some(end_all)).await;
        if let Err(error) = &written {
            // Nothing of this commit holds: no message of its hand-overs is ended; its
            // outcomes leave their rows handed over (never sent twice) or claimed (taken
            // again when the claim runs out).
            tracing::warn!(%error, "the outbox could not be written");
            unrecorded += outcomes.len() as u64;
        }
        let mut ended = ended_rx.try_iter().collect::<Vec<_>>().into_iter();
        for reply in replies {
            let Some((outcome, mut connection, end)) = ended.next() else {
                // Not committed: the lane gets no connection back and drops nothing more.
                let _ = reply.send(Handed { outcome: HandOver::NotOurs, connection: None, end: Ok(()) });
                continue;
            };
            let end = match end {
                None | Some(Ok(true)) => Ok(()),
                Some(Ok(false)) => connection.end_rest().await,
                Some(Err(error)) => Err(error),
            };
            let _ = reply.send(Handed { outcome, connection: Some(connection), end });
        }
    }
    unrecorded
}

/// One connection's share of a step.
struct Lane {
    cx: Context,
    transport: Arc<dyn MailTransport>,
    connection: Option<Box<dyn MailConnection>>,
    writes: Writes,
    signer: Option<Arc<DkimSigner>>,
}

/// A row made ready to go: its envelope and bytes.
struct Ready {
    row: OutboxRow,
    envelope: Envelope,
    message_id: String,
    bytes: Vec<u8>,
}

impl Lane {
    /// Makes a row's message; its outcome when it cannot be made.
    fn prepare(&self, row: OutboxRow) -> Result<Ready, (i64, OutboxOutcome)> {
        let failed = |detail: String| (row.id, OutboxOutcome::Failed { code: None, detail });
        let mail: OutgoingMail = match serde_json::from_str(&row.payload) {
            Ok(mail) => mail,
            Err(error) => return Err(failed(format!("unreadable mail: {error}"))),
        };
        let message_id = message_id(&row.idempotency_key, &mail.from_address);
        let bytes = match build_signed(&mail, &message_id, row.created_at, self.signer.as_deref()) {
            Ok(bytes) => bytes,
            Err(error) => return Err(failed(error.to_string())),
        };
        let envelope = Envelope { from: mail.from_address, to: mail.to_address, eight_bit: !bytes.is_ascii() };
        Ok(Ready { row, envelope, message_id, bytes })
    }

    fn record(&self, id: i64, outcome: OutboxOutcome, counts: &mut SenderCounts) {
        match &outcome {
            OutboxOutcome::Sent { .. } => counts.sent += 1,
            OutboxOutcome::Retry { .. } => counts.retried += 1,
            OutboxOutcome::Failed { .. } => counts.failed += 1,
            OutboxOutcome::Unconfirmed { .. } => counts.unconfirmed += 1,
        }
        self.writes.finish(id, outcome);
    }

    /// The next row of the feed made ready (rows that cannot be made are recorded as failed);
    /// waits for one when `wait`, else only takes what is there.
    async fn pull(&mut self, feed: &Feed, wait: bool, counts: &mut SenderCounts) -> Option<Box<Ready>> {
        loop {
            let row = if wait { feed.take().await? } else { feed.try_take()? };
            match self.prepare(row) {
                Ok(ready) => return Some(Box::new(ready)),
                Err((id, outcome)) => self.record(id, outcome, counts),
            }
        }
    }

    /// Sends rows from the feed one after another on this lane's connection: each message's
    /// content goes out, its hand-over is recorded, then its end goes with the next message's
    /// request.
    async fn send(mut self, feed: Arc<Feed>) -> (Option<Box<dyn MailConnection>>, SenderCounts) {
        let mut counts = SenderCounts::default();
        // The row whose message comes next, and whether it was asked for already (with the end
        // of the last).
        let mut current: Option<Box<Ready>> = None;
        let mut begun = false;
        loop {
            let ready = match current.take() {
                Some(ready) => ready,
                None => {
                    begun = false;
                    match self.pull(&feed, true, &mut counts).await {
                        Some(ready) => ready,
                        None => break,
                    }
                }
            };
            let now = self.cx.clock.now();
            if !begun {
                if let Err(error) = self.begin(&ready.envelope).await {
                    self.record(ready.row.id, refusal(&error, ready.row.attempts, now), &mut counts);
                    continue;
                }
            }
            begun = false;
            let Some(connection) = self.connection.as_mut() else { continue };
            if let Err(error) = connection.content(&ready.bytes).await {
                // The message has no end: the server discards it, and it is tried again.
                self.connection = None;
                self.record(ready.row.id, refusal(&error, ready.row.attempts, now), &mut counts);
                continue;
            }
            // Only a row already there: the end of this message does not wait for a claim.
            let next = self.pull(&feed, false, &mut counts).await;
            let Some(connection) = self.connection.take() else { continue };
            let envelope = next.as_ref().map(|n| n.envelope.clone());
            let (handed, connection, end) =
                self.writes.hand_over(ready.row.id, ready.message_id.clone(), connection, envelope).await;
            if handed != HandOver::Handed {
                if handed == HandOver::Cancelled {
                    counts.cancelled += 1;
                } else {
                    counts.lost += 1;
                }
                // The content is out without its end: the connection is dropped, and the server
                // discards the unfinished message.
                drop(connection);
                current = next;
                continue;
            }
            self.connection = connection;
            if let Err(error) = end {
                // The end may or may not have reached the server: never sent again.
                self.connection = None;
                let outcome = OutboxOutcome::Unconfirmed { detail: error.to_string() };
                self.record(ready.row.id, outcome, &mut counts);
                current = next;
                continue;
            }
            let Some(connection) = self.connection.as_mut() else { continue };
            let ended = connection.answers().await;
            let outcome = match ended.taken {
                Ok(accepted) => OutboxOutcome::Sent {
                    code: Some(i64::from(accepted.code)),
                    detail: Some(accepted.message).filter(|m| !m.is_empty()),
                },
                // The server answered: it did not take the message, so trying again is safe.
                Err(error) if error.code.is_some() => refusal(&error, ready.row.attempts, now),
                Err(error) => {
                    self.connection = None;
                    OutboxOutcome::Unconfirmed { detail: error.to_string() }
                }
            };
            self.record(ready.row.id, outcome, &mut counts);
            match (next, ended.next) {
                (Some(next), Some(Ok(()))) => {
                    current = Some(next);
                    begun = true;
                }
                // Not refused, only not asked: asked again on a new connection.
                (Some(next), Some(Err(error))) if error.broken => {
                    self.connection = None;
                    current = Some(next);
                }
                (Some(next), Some(Err(error))) => {
                    self.record(next.row.id, refusal(&error, next.row.attempts, now), &mut counts);
                }
                (Some(next), None) => current = Some(next),
                (None, _) => {}
            }
            if self.connection.is_none() {
                begun = false;
            }
        }
        (self.connection, counts)
    }

    /// Asks for a message on the lane's connection (opened when there is none). A connection
    /// kept from an earlier step may have been closed by the server: one more try on a new one.
    async fn begin(&mut self, envelope: &Envelope) -> Result<(), SendError> {
        let mut fresh = self.connection.is_none();
        loop {
            if self.connection.is_none() {
                self.connection = Some(self.transport.open().await?);
            }
            let Some(connection) = self.connection.as_mut() else { continue };
            match connection.begin(envelope).await {
                Ok(()) => return Ok(()),
                Err(error) if error.broken && !fresh => {
                    self.connection = None;
                    fresh = true;
                }
                Err(error) => {
                    if error.broken {
                        self.connection = None;
                    }
                    return Err(error);
                }
            }
        }
    }
}

/// What a refusal means for the row: again later, or never.
fn refusal(error: &SendError, attempts: i64, now: Millis) -> OutboxOutcome {
    let code = error.code.map(i64::from);
    if error.transient {
        if let Some(at) = retry_at(now, attempts) {
            return OutboxOutcome::Retry { at, code, detail: error.to_string() };
        }
        return OutboxOutcome::Failed { code, detail: format!("gave up after {} attempts: {error}", attempts + 1) };
    }
    OutboxOutcome::Failed { code, detail: error.to_string() }
}
