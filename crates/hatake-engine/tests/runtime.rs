//! The runtime of background work on both backends: workers step when their signal, their
//! interval on the clock or the time they named comes (a manual clock moved by the test: an
//! hour passes in no time), one process of two holds a lease and the other takes over when it
//! stops, and a stopped worker finishes and comes back.

use async_trait::async_trait;
use hatake_engine::runtime::{self, Clock, Context, LeaseState, Next, Runtime, WorkError, Worker};
use hatake_store::Store;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3_600);
const TEN_SECONDS: Duration = Duration::from_secs(10);
const T0: i64 = 1_790_000_000_000;

/// A worker that counts its steps and answers with what the test planned.
struct Counter {
    steps: Arc<AtomicU64>,
    finished: Arc<AtomicBool>,
    resets: Arc<AtomicU64>,
    lease: Option<&'static str>,
    /// The answer of the next step (`Until` is relative to now).
    until_in: Option<i64>,
    interval: Duration,
}

impl Counter {
    fn new(lease: Option<&'static str>) -> Self {
        Self {
            steps: Arc::default(),
            finished: Arc::default(),
            resets: Arc::default(),
            lease,
            until_in: None,
            interval: HOUR,
        }
    }
}

#[async_trait]
impl Worker for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }
    fn lease(&self) -> Option<&'static str> {
        self.lease
    }
    fn signal(&self) -> Option<&'static str> {
        Some("counter")
    }
    fn interval(&self) -> Duration {
        self.interval
    }
    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        self.steps.fetch_add(1, Ordering::SeqCst);
        Ok(match self.until_in.take() {
            Some(wait) => Next::Until(cx.now() + wait),
            None => Next::Idle,
        })
    }
    fn reset(&mut self) {
        self.resets.fetch_add(1, Ordering::SeqCst);
    }
    async fn finish(&mut self, _cx: &Context) {
        self.finished.store(true, Ordering::SeqCst);
    }
}

/// Lets the spawned workers run until `done` holds (a bounded number of turns, no sleeping on
/// the clock).
async fn settle(done: impl Fn() -> bool) -> bool {
    for _ in 0..2_000 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    done()
}

async fn quiet(steps: &AtomicU64, expected: u64) {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(steps.load(Ordering::SeqCst), expected, "no step before its time");
}

async fn workers_wait_on_the_clock(store: Arc<dyn Store>) {
    let clock = Clock::manual(T0);
    let runtime = Runtime::new(Context::new(store, clock.clone(), jiff::tz::TimeZone::UTC));
    let mut counter = Counter::new(None);
    let (steps, finished) = (counter.steps.clone(), counter.finished.clone());
    counter.until_in = None;
    let handle = runtime.spawn(counter);
    assert!(settle(|| steps.load(Ordering::SeqCst) == 1).await, "a first step at once");
    clock.advance(HOUR - Duration::from_secs(60));
    quiet(&steps, 1).await;
    clock.advance(Duration::from_secs(60));
    assert!(settle(|| steps.load(Ordering::SeqCst) == 2).await, "the interval on the clock");
    runtime.context().signals.wake("counter");
    assert!(settle(|| steps.load(Ordering::SeqCst) == 3).await, "woken by its signal");
    quiet(&steps, 3).await;
    let mut worker = handle.stop(Duration::from_secs(5)).await.expect("stops and comes back");
    assert!(finished.load(Ordering::SeqCst), "finished on stop");
    assert_eq!(worker.steps.load(Ordering::SeqCst), 3);

    // A step that names a time: woken then, before its interval.
    worker.until_in = Some(10 * 60_000);
    worker.finished.store(false, Ordering::SeqCst);
    let handle = runtime.spawn(worker);
    assert!(settle(|| steps.load(Ordering::SeqCst) == 4).await);
    clock.advance(Duration::from_secs(9 * 60));
    quiet(&steps, 4).await;
    clock.advance(Duration::from_secs(60));
    assert!(settle(|| steps.load(Ordering::SeqCst) == 5).await, "ten minutes later on the clock");
    runtime.shutdown(Duration::from_secs(5)).await;
    let worker = handle.stop(Duration::from_secs(5)).await.expect("stopped by the shutdown");
    assert!(worker.finished.load(Ordering::SeqCst));
}

async fn a_lease_is_held_by_one_process(store: Arc<dyn Store>) {
    let clock = Clock::manual(T0);
    let zone = jiff::tz::TimeZone::UTC;
    let mut one = Context::new(store.clone(), clock.clone(), zone.clone());
    one.holder = "one".into();
    let mut two = Context::new(store.clone(), clock.clone(), zone);
    two.holder = "two".into();
    let (first, second) = (Runtime::new(one.clone()), Runtime::new(two.clone()));
    let mut a = Counter::new(Some("counter-lease"));
    a.interval = TEN_SECONDS;
    let (a_steps, a_finished) = (a.steps.clone(), a.finished.clone());
    let a = first.spawn(a);
    assert!(settle(|| a_steps.load(Ordering::SeqCst) == 1).await);
    let mut b = Counter::new(Some("counter-lease"));
    b.interval = TEN_SECONDS;
    let (b_steps, b_resets) = (b.steps.clone(), b.resets.clone());
    let b = second.spawn(b);
    quiet(&b_steps, 0).await;
    assert!(b_resets.load(Ordering::SeqCst) == 0, "it never held the lease");
    // Time passes (longer than a lease): the holder renews and steps, the other never does.
    for turn in 2..=10 {
        clock.advance(TEN_SECONDS);
        assert!(settle(|| a_steps.load(Ordering::SeqCst) == turn).await, "the holder steps every ten seconds");
        second.context().signals.wake("counter");
        quiet(&b_steps, 0).await;
    }
    // The holder stops: it finishes and gives the lease up; the other takes over at its next
    // turn.
    a.stop(Duration::from_secs(5)).await.expect("stops");
    assert!(a_finished.load(Ordering::SeqCst));
    second.context().signals.wake("counter");
    assert!(settle(|| b_steps.load(Ordering::SeqCst) == 1).await, "taken over at once");

    // Driving a worker by hand: no step without the lease, one step with it.
    let mut by_hand = Counter::new(Some("counter-lease"));
    let mut lease = LeaseState::default();
    assert_eq!(runtime::step(&mut by_hand, &one, &mut lease).await.unwrap(), None, "two holds it");
    b.stop(Duration::from_secs(5)).await.expect("stops");
    assert_eq!(runtime::step(&mut by_hand, &one, &mut lease).await.unwrap(), Some(Next::Idle));
    assert!(lease.held(clock.now()));
    assert_eq!(by_hand.steps.load(Ordering::SeqCst), 1);
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open SQLite");
            $scenario(Arc::new(store)).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
            $scenario(Arc::new(store)).await;
        }
    };
}

both!(workers_wait_on_the_clock, workers_wait_on_the_clock_sqlite, workers_wait_on_the_clock_postgres);
both!(a_lease_is_held_by_one_process, a_lease_is_held_by_one_process_sqlite, a_lease_is_held_by_one_process_postgres);
