//! Segments on both backends: each kind of condition picks the people it says (attributes of
//! the person and the company, interest, stage, owner, score, behaviour with windows and counts
//! including a browser's visits before it was linked, subscription), groups join by AND and OR,
//! and the membership the segment worker keeps equals a fresh evaluation after any interleaving
//! of events, subscription changes, edits and the clock moving on (a property test).

use hatake_domain::segment::{Condition, Definition, Group};
use hatake_engine::runtime::{self, Clock, Context, LeaseState, Next};
use hatake_engine::segments::SegmentWorker;
use hatake_store::{NewEvent, Store, SubscriptionChange};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_790_000_000_000;
const DAY: i64 = 86_400_000;

fn event(kind: &'static str, lead: Option<i64>, visitor: Option<&str>, product: Option<i64>, at: i64) -> NewEvent {
    NewEvent {
        kind,
        lead_id: lead,
        visitor_id: visitor.map(str::to_owned),
        product_id: product,
        occurred_at: at,
        source: None,
        name: None,
        properties: "{}".into(),
        idempotency_key: None,
    }
}

fn one(condition: Condition) -> Definition {
    Definition { any: false, groups: vec![Group { any: false, conditions: vec![condition] }] }
}

async fn lead(store: &dyn Store, name: &str, edit: impl FnOnce(&mut hatake_domain::LeadInput)) -> i64 {
    let mut input = hatake_domain::LeadInput {
        family_name: Some(name.into()),
        email: Some(format!("{}@example.jp", name.to_lowercase())),
        ..Default::default()
    };
    edit(&mut input);
    let mut data = input.validate(&[]).unwrap();
    if data.department.as_deref() == Some("情報システム部") {
        data.department_class = Some("it".into());
    }
    store.create_lead(&data, true, T0).await.unwrap().id
}

async fn subscribe(store: &dyn Store, lead: i64, topic: &str, status: &str, at: i64) {
    let change = SubscriptionChange {
        lead_id: lead,
        topic: topic.into(),
        status: status.into(),
        source: "user".into(),
        detail: None,
        by_user: None,
        at,
    };
    store.change_subscriptions(&[change]).await.unwrap();
}

/// The matching leads, evaluated on the event log and on the activity summary (which must
/// agree), with the count.
async fn ids(store: &dyn Store, definition: &Definition, now: i64) -> Vec<i64> {
    let mut answers = Vec::new();
    for built in [false, true] {
        let build = hatake_store::ActivityBuild { built, after: i64::MAX };
        store.put_setting(hatake_store::SETTING_ACTIVITY, &serde_json::to_string(&build).unwrap(), 0).await.unwrap();
        let found = store.matching_ids(definition, now, 0, 1_000).await.unwrap();
        assert_eq!(store.count_matching(definition, now).await.unwrap(), found.len() as i64);
        answers.push(found);
    }
    assert_eq!(answers[0], answers[1], "the summary agrees with the log: {definition:?}");
    answers.pop().unwrap_or_default()
}

async fn conditions_pick_whom_they_say(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let erp = hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let erp = s.create_product(&erp.validate().unwrap(), T0).await.unwrap().id;
    let maker = hatake_domain::AccountInput {
        name: Some("東和精機".into()),
        industry: Some("製造業".into()),
        employee_count: Some(500),
        prefecture: Some("愛知県".into()),
        ..Default::default()
    };
    let maker = s.create_account(&maker.validate().unwrap(), T0).await.unwrap().id;
    let small = hatake_domain::AccountInput {
        name: Some("小さな情報".into()),
        industry: Some("情報通信業".into()),
        employee_count: Some(30),
        ..Default::default()
    };
    let small = s.create_account(&small.validate().unwrap(), T0).await.unwrap().id;
    let user =
        hatake_domain::NewUser::parse("is@example.jp", "内田 三郎", "inside_sales", "a long password 1").unwrap();
    let owner = Some(s.create_user(&user, "x", T0).await.unwrap().id);
    let a = lead(s, "Aoki", |l| {
        l.account_id = Some(maker);
        l.department = Some("情報システム部".into());
        l.product_ids = Some(vec![erp]);
    })
    .await;
    let b = lead(s, "Baba", |l| {
        l.account_id = Some(small);
        l.prefecture = Some("東京都".into());
    })
    .await;
    let c = lead(s, "Chiba", |l| {
        l.owner_id = owner;
        l.product_ids = Some(vec![erp]);
    })
    .await;
    let now = T0 + 30 * DAY;
    s.append_events(
        &[
            event("download", Some(a), None, Some(erp), now - 2 * DAY),
            event("download", Some(a), None, Some(erp), now - 20 * DAY),
            event("download", Some(b), None, None, now - DAY),
            // A browser visits twice before it is known; then the form links it to C.
            event("page_view", None, Some("v1"), None, now - 3 * DAY),
            event("page_view", None, Some("v1"), None, now - 2 * DAY),
            event("form_submission", Some(c), Some("v1"), None, now - DAY),
        ],
        now,
    )
    .await
    .unwrap();
    subscribe(s, a, "general", "subscribed", now).await;
    subscribe(s, b, "general", "unsubscribed", now).await;
    // The segment worker builds the activity summary (and takes the linked browser in).
    let cx = Context::new(store.clone(), Clock::manual(now), jiff::tz::TimeZone::UTC);
    run_until_idle(&mut SegmentWorker::exact(), &cx, &mut LeaseState::default()).await;
    assert!(s.activity_ready().await.unwrap(), "built");

    let cases: Vec<(Condition, Vec<i64>)> = vec![
        (Condition::Kind { lead: true }, vec![a, b, c]),
        (Condition::DepartmentClass { values: vec!["it".into()], negate: false }, vec![a]),
        (Condition::DepartmentClass { values: vec!["it".into()], negate: true }, vec![b, c]),
        // The person's prefecture, else the company's.
        (Condition::Prefecture { values: vec!["愛知県".into()], negate: false }, vec![a]),
        (Condition::Prefecture { values: vec!["東京都".into(), "愛知県".into()], negate: false }, vec![a, b]),
        (Condition::Industry { values: vec!["製造業".into()], negate: true }, vec![b, c]),
        (Condition::Employees { min: Some(100), max: None }, vec![a]),
        (Condition::Employees { min: None, max: Some(100) }, vec![b]),
        (Condition::Product { product_id: erp, negate: false }, vec![a, c]),
        (Condition::Owner { user_ids: owner.into_iter().collect(), unassigned: false }, vec![c]),
        (Condition::Owner { user_ids: vec![], unassigned: true }, vec![a, b]),
        // No stage recorded is a lead.
        (Condition::Stage { product_id: erp, stages: vec!["lead".into()] }, vec![a, b, c]),
        (Condition::Stage { product_id: erp, stages: vec!["mql".into()] }, vec![]),
        // No score yet is 0.
        (Condition::Score { product_id: erp, min: None, max: Some(10) }, vec![a, b, c]),
        (Condition::Score { product_id: erp, min: Some(1), max: None }, vec![]),
        (
            Condition::Behaviour { kind: "download".into(), product_id: None, days: 7, at_least: 1, negate: false },
            vec![a, b],
        ),
        (
            Condition::Behaviour { kind: "download".into(), product_id: None, days: 30, at_least: 2, negate: false },
            vec![a],
        ),
        (
            Condition::Behaviour {
                kind: "download".into(),
                product_id: Some(erp),
                days: 7,
                at_least: 1,
                negate: false,
            },
            vec![a],
        ),
        (
            Condition::Behaviour { kind: "download".into(), product_id: None, days: 7, at_least: 1, negate: true },
            vec![c],
        ),
        // The browser's visits before it was linked count for C.
        (
            Condition::Behaviour { kind: "page_view".into(), product_id: None, days: 7, at_least: 2, negate: false },
            vec![c],
        ),
        (
            Condition::Behaviour { kind: "page_view".into(), product_id: None, days: 7, at_least: 3, negate: false },
            vec![],
        ),
        // More than the summary keeps: read from the log.
        (
            Condition::Behaviour { kind: "download".into(), product_id: None, days: 30, at_least: 11, negate: true },
            vec![a, b, c],
        ),
        (Condition::Subscription { topic: "general".into(), status: "subscribed".into() }, vec![a]),
        (Condition::Subscription { topic: "general".into(), status: "unsubscribed".into() }, vec![b]),
        (Condition::Subscription { topic: "general".into(), status: "never".into() }, vec![c]),
    ];
    for (condition, expected) in cases {
        let definition = one(condition.clone());
        definition.validate().unwrap_or_else(|e| panic!("{condition:?}: {e:?}"));
        assert_eq!(ids(s, &definition, now).await, expected, "{condition:?}");
    }
    // Groups: (interested in ERP AND subscribed) OR (in Tokyo).
    let definition = Definition {
        any: true,
        groups: vec![
            Group {
                any: false,
                conditions: vec![
                    Condition::Product { product_id: erp, negate: false },
                    Condition::Subscription { topic: "general".into(), status: "subscribed".into() },
                ],
            },
            Group {
                any: false,
                conditions: vec![Condition::Prefecture { values: vec!["東京都".into()], negate: false }],
            },
        ],
    };
    assert_eq!(ids(s, &definition, now).await, vec![a, b]);
    let all = Definition { any: false, ..definition.clone() };
    assert_eq!(ids(s, &all, now).await, Vec::<i64>::new());
    // A window moves with the clock: ten days on, A's two downloads are out of a week.
    let later =
        one(Condition::Behaviour { kind: "download".into(), product_id: None, days: 7, at_least: 1, negate: false });
    assert_eq!(ids(s, &later, now + 10 * DAY).await, Vec::<i64>::new());
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open SQLite");
            $scenario(Arc::new(store)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
            $scenario(Arc::new(store)).await;
        }
    };
}

both!(conditions_pick_whom_they_say, conditions_pick_whom_they_say_sqlite, conditions_pick_whom_they_say_postgres);

/// What happens between the worker's steps.
#[derive(Debug, Clone)]
enum Op {
    /// An event of kind (0: download, 1: page_view) for a lead, some days ago.
    Event(usize, usize, i64),
    /// An anonymous visit of a browser, some days ago.
    Visit(usize, i64),
    /// A form that links a browser to a lead.
    Link(usize, usize),
    /// A subscription change (true: subscribed).
    Subscribe(usize, bool),
    /// A lead moves to Tokyo (or away).
    Move(usize, bool),
    /// The clock moves on by hours.
    Wait(i64),
    /// The worker runs until it has nothing more.
    Step,
    /// A person merges one lead into another (their events move).
    Merge(usize, usize),
    /// The last merge is undone (the events move back).
    Undo,
    /// A segment's definition is edited.
    Edit(usize),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..4_usize, 0..2_usize, 0..10_i64).prop_map(|(l, k, d)| Op::Event(l, k, d)),
        2 => (0..2_usize, 0..5_i64).prop_map(|(v, d)| Op::Visit(v, d)),
        1 => (0..2_usize, 0..4_usize).prop_map(|(v, l)| Op::Link(v, l)),
        2 => (0..4_usize, any::<bool>()).prop_map(|(l, s)| Op::Subscribe(l, s)),
        1 => (0..4_usize, any::<bool>()).prop_map(|(l, t)| Op::Move(l, t)),
        2 => (1..100_i64).prop_map(Op::Wait),
        3 => Just(Op::Step),
        1 => (0..3_usize).prop_map(Op::Edit),
        1 => (0..4_usize, 0..4_usize).prop_map(|(a, b)| Op::Merge(a, b)),
        1 => Just(Op::Undo),
    ]
}

fn definitions(variant: usize) -> Vec<Definition> {
    let downloads =
        |days| Condition::Behaviour { kind: "download".into(), product_id: None, days, at_least: 2, negate: false };
    let no_visit =
        |days| Condition::Behaviour { kind: "page_view".into(), product_id: None, days, at_least: 1, negate: true };
    let subscribed = Condition::Subscription { topic: "general".into(), status: "subscribed".into() };
    let tokyo = Condition::Prefecture { values: vec!["東京都".into()], negate: false };
    vec![
        Definition {
            any: false,
            groups: vec![Group { any: false, conditions: vec![downloads(3 + variant as i64), subscribed] }],
        },
        Definition { any: false, groups: vec![Group { any: true, conditions: vec![tokyo, no_visit(2)] }] },
        Definition {
            any: variant.is_multiple_of(2),
            groups: vec![
                Group { any: false, conditions: vec![downloads(1)] },
                Group {
                    any: false,
                    conditions: vec![Condition::Subscription { topic: "general".into(), status: "never".into() }],
                },
            ],
        },
    ]
}

async fn run_until_idle(worker: &mut SegmentWorker, cx: &Context, lease: &mut LeaseState) {
    for _ in 0..50 {
        match runtime::step(worker, cx, lease).await.expect("step") {
            Some(Next::Again) => {}
            _ => return,
        }
    }
    panic!("the segment worker never finished");
}

/// Runs an interleaving; after every step of the worker each segment's members are exactly what
/// a fresh evaluation finds.
async fn membership_equals_a_fresh_evaluation(store: Arc<dyn Store>, ops: Vec<Op>) {
    let s = store.as_ref();
    // Each run starts after the last one's (a store may hold earlier runs').
    let runs = s.segments(false, 0, 1).await.unwrap().1 + s.segments(true, 0, 1).await.unwrap().1;
    let start = T0 + runs * 200 * DAY;
    let clock = Clock::manual(start);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    // Earlier runs' segments are not this run's business.
    for segment in s.segments(false, 0, 1_000).await.unwrap().0 {
        s.archive_segment(segment.id, true, start).await.unwrap();
    }
    let mut leads = Vec::new();
    for i in 0..4 {
        let email = format!("p{runs}-{i}@example.jp");
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("見込{i}")),
            email: Some(email),
            ..Default::default()
        };
        leads.push(s.create_lead(&input.validate(&[]).unwrap(), true, start).await.unwrap().id);
    }
    let mut segments = Vec::new();
    for (n, definition) in definitions(0).into_iter().enumerate() {
        segments.push(s.create_segment(&format!("run{runs}-{n}"), "", &definition, None, start).await.unwrap());
    }
    let visitors = [format!("{runs:016x}a0000000000000001"), format!("{runs:016x}b0000000000000002")];
    let mut worker = SegmentWorker::exact();
    let mut lease = LeaseState::default();
    let mut edits = 0;
    // Leads merged into another (skipped by the other operations) and the merges to undo.
    let mut gone = [false; 4];
    let mut merges: Vec<(i64, usize)> = Vec::new();
    for op in ops.into_iter().chain([Op::Step]) {
        clock.advance(Duration::from_millis(5));
        let now = clock.now();
        let gone_lead = match op {
            Op::Event(l, ..) | Op::Link(_, l) | Op::Subscribe(l, _) | Op::Move(l, _) => gone[l],
            Op::Merge(a, b) => a == b || gone[a] || gone[b],
            _ => false,
        };
        if gone_lead {
            continue;
        }
        match op {
            Op::Merge(a, b) => {
                let row = s.get_lead(leads[a]).await.unwrap();
                let data = hatake_store::LeadSnapshot::of(&row).data().unwrap();
                let request = hatake_store::MergeRequest {
                    survivor: leads[a],
                    merged: leads[b],
                    data: &data,
                    is_lead: true,
                    review_id: None,
                    by: None,
                };
                let merge = s.merge_leads(&request, now).await.unwrap();
                gone[b] = true;
                merges.push((merge.id, b));
            }
            Op::Undo => {
                if let Some((merge, b)) = merges.pop() {
                    // Refused when the survivor changed since (then the merge stands).
                    match s.undo_merge(merge, None, now).await {
                        Ok(()) => gone[b] = false,
                        Err(hatake_store::StoreError::Conflict { .. }) => {}
                        Err(error) => panic!("undo: {error:?}"),
                    }
                }
            }
            Op::Event(l, k, days) => {
                let kind = ["download", "page_view"][k];
                s.append_events(&[event(kind, Some(leads[l]), None, None, now - days * DAY)], now).await.unwrap();
            }
            Op::Visit(v, days) => {
                s.append_events(&[event("page_view", None, Some(&visitors[v]), None, now - days * DAY)], now)
                    .await
                    .unwrap();
            }
            Op::Link(v, l) => {
                s.append_events(&[event("form_submission", Some(leads[l]), Some(&visitors[v]), None, now)], now)
                    .await
                    .unwrap();
            }
            Op::Subscribe(l, on) => {
                subscribe(s, leads[l], "general", if on { "subscribed" } else { "unsubscribed" }, now).await;
            }
            Op::Move(l, tokyo) => {
                let mut input = hatake_domain::LeadInput {
                    family_name: Some("移動".into()),
                    email: Some(format!("p{runs}-{l}@example.jp")),
                    ..Default::default()
                };
                input.prefecture = tokyo.then(|| "東京都".to_owned());
                s.update_lead(leads[l], &input.validate(&[]).unwrap(), true, now).await.unwrap();
            }
            Op::Wait(hours) => {
                clock.advance(Duration::from_secs(u64::try_from(hours).unwrap_or(1) * 3_600));
            }
            Op::Edit(n) => {
                edits += 1;
                let definition = &definitions(edits)[n];
                s.save_segment(segments[n], &format!("run{runs}-{n}"), "", definition, None, now).await.unwrap();
            }
            Op::Step => {
                run_until_idle(&mut worker, &cx, &mut lease).await;
                let now = clock.now();
                for id in &segments {
                    let row = s.segment(*id).await.unwrap().unwrap();
                    let definition = row.parsed().unwrap();
                    let members = s.segment_member_ids(*id, 0, 1_000).await.unwrap();
                    let fresh = s.matching_ids(&definition, now, 0, 1_000).await.unwrap();
                    assert_eq!(
                        members,
                        fresh,
                        "segment {} ({definition:?}) at {}",
                        row.name,
                        (now - start) / 3_600_000
                    );
                    // The activity summary the evaluation read agrees with the log.
                    assert!(s.activity_ready().await.unwrap());
                    let on_log = hatake_store::ActivityBuild { built: false, after: i64::MAX };
                    s.put_setting(hatake_store::SETTING_ACTIVITY, &serde_json::to_string(&on_log).unwrap(), now)
                        .await
                        .unwrap();
                    let from_log = s.matching_ids(&definition, now, 0, 1_000).await.unwrap();
                    let built = hatake_store::ActivityBuild { built: true, after: i64::MAX };
                    s.put_setting(hatake_store::SETTING_ACTIVITY, &serde_json::to_string(&built).unwrap(), now)
                        .await
                        .unwrap();
                    if from_log != fresh {
                        let odd: Vec<i64> = fresh.iter().filter(|l| !from_log.contains(l)).copied().collect();
                        let rows = s.activity_rows(&odd).await.unwrap();
                        let (events, _) = s.lead_activity_events(&odd).await.unwrap();
                        panic!("summary and log disagree: {definition:?} leads {odd:?} ours {leads:?} rows {rows:?} events {events:?} now {now}");
                    }
                    assert_eq!(row.member_count, members.len() as i64);
                }
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    #[test]
    fn membership_equals_a_fresh_evaluation_sqlite(ops in proptest::collection::vec(op(), 1..40)) {
        static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, Arc<dyn Store>, tempfile::TempDir)> =
            std::sync::OnceLock::new();
        let (runtime, store, _) = SHARED.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let dir = tempfile::tempdir().expect("temporary directory");
            let store: Arc<dyn Store> =
                Arc::new(runtime.block_on(hatake_sqlite::SqliteStore::open(dir.path())).expect("open SQLite"));
            (runtime, store, dir)
        });
        runtime.block_on(membership_equals_a_fresh_evaluation(store.clone(), ops));
    }
}

/// The same on PostgreSQL, for a fixed interleaving with every kind of change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_equals_a_fresh_evaluation_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
    let ops = vec![
        Op::Step,
        Op::Event(0, 0, 1),
        Op::Event(0, 0, 2),
        Op::Subscribe(0, true),
        Op::Visit(0, 1),
        Op::Step,
        Op::Link(0, 1),
        Op::Move(2, true),
        Op::Step,
        Op::Wait(30),
        Op::Step,
        Op::Wait(50),
        Op::Edit(0),
        Op::Subscribe(0, false),
        Op::Event(3, 1, 0),
        Op::Step,
        Op::Wait(99),
        Op::Move(2, false),
        Op::Step,
        Op::Event(1, 0, 1),
        Op::Event(1, 0, 2),
        Op::Merge(0, 1),
        Op::Step,
        Op::Undo,
        Op::Step,
    ];
    membership_equals_a_fresh_evaluation(Arc::new(store), ops).await;
}
