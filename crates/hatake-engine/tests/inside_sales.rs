//! Inside sales on both backends: a new MQL gets its first call (the owner's when they are in
//! inside sales, else the pool's; urgent for a hand-raise; once per move; cancelled when the
//! lead leaves the queue), the call queue ranks a rep's calls and the pool's, a logged call is
//! stored, closes its task, becomes a `call` event and makes the next call a task, and the
//! outcome codes and a person's tasks are checked field by field.

use hatake_engine::inside_sales::{self, CallInput, SaveError, TaskInput, TaskRules};
use hatake_store::{StageMove, Store, TaskOwner, TaskQuery};
use std::sync::Arc;

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

async fn user(store: &dyn Store, email: &str, role: &str) -> i64 {
    let new = hatake_domain::NewUser::parse(email, email, role, "password-123456").unwrap();
    store.create_user(&new, "x", T0).await.unwrap().id
}

async fn lead(store: &dyn Store, name: &str, owner: Option<i64>) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(name.into()),
        email: Some(format!("{}@example.jp", name.len())),
        company_name: Some("サクラテック株式会社".into()),
        owner_id: owner,
        ..Default::default()
    };
    let mut data = input.validate(&[]).unwrap();
    data.email = None;
    store.create_lead(&data, true, T0).await.unwrap().id
}

fn errors_of(result: Result<impl std::fmt::Debug, SaveError>) -> Vec<String> {
    match result {
        Err(SaveError::Invalid(errors)) => errors.0.iter().map(|e| e.field.clone()).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn inside_sales_work(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let product = store.create_product(&product.validate().unwrap(), T0).await.unwrap().id;
    let rep = user(store, "is1@example.jp", "inside_sales").await;
    let field = user(store, "sales1@example.jp", "field_sales").await;
    let own = lead(store, "山田", Some(rep)).await;
    let fields = lead(store, "佐藤", Some(field)).await;
    let nobody = lead(store, "鈴木", None).await;

    // Hand-raises put all three in the MQL queue; the rule gives each its first call once.
    for lead in [own, fields, nobody] {
        assert!(hatake_engine::qualification::hand_raise(store, lead, product, "inquiry", None, T0, &zone)
            .await
            .unwrap());
    }
    assert!(!TaskRules::run(store, T0 + 1, &zone).await.unwrap());
    assert!(!TaskRules::run(store, T0 + 2, &zone).await.unwrap(), "nothing new");
    let open = store.tasks(&TaskQuery::default()).await.unwrap();
    assert_eq!(open.len(), 3, "{open:?}");
    let task_of = |lead: i64| open.iter().find(|t| t.lead_id == lead).unwrap().clone();
    assert_eq!(task_of(own).owner_id, Some(rep), "the owner is in inside sales");
    assert_eq!(task_of(fields).owner_id, None, "a field rep's lead goes to the pool");
    assert_eq!(task_of(nobody).owner_id, None);
    assert!(open.iter().all(|t| t.priority == 1 && t.kind == "call" && t.cause == "rule:mql"));
    assert_eq!(task_of(own).title, "問い合わせ（クラウドERP）への初回架電");
    assert_eq!(task_of(own).due_at, T0, "to call at once");
    assert!(task_of(own).sla_due_at.is_some_and(|sla| sla > T0), "by the SLA deadline");

    // The third leaves the queue (accepted by someone else): its call is cancelled.
    let stage = store.lead_stages(&[nobody]).await.unwrap().remove(0);
    let step = StageMove {
        lead_id: nobody,
        product_id: product,
        from: Some("mql".into()),
        to: "sal".into(),
        at: T0 + 10,
        by: Some(field),
        reason: None,
        note: None,
        policy_version: None,
        mode: None,
        sla_due_at: None,
        opportunity: None,
        detail: None,
    };
    assert_eq!(stage.stage, "mql");
    store.move_stage(&step).await.unwrap();
    TaskRules::run(store, T0 + 11, &zone).await.unwrap();
    assert_eq!(store.get_task(task_of(nobody).id).await.unwrap().status, "cancelled");

    // The queue: the rep's own call and the pool's, the rep's first (same priority, higher
    // score… none here: then the most recent action, then the due time).
    let queue = inside_sales::call_queue(store, rep, true, T0 + 30 * 24 * HOUR).await.unwrap();
    let leads: Vec<i64> = queue.iter().map(|e| e.task.lead_id).collect();
    assert_eq!(leads.len(), 2, "{leads:?}");
    assert!(leads.contains(&own) && leads.contains(&fields));
    let pool_for_field = inside_sales::call_queue(store, field, true, T0 + 30 * 24 * HOUR).await.unwrap();
    assert!(pool_for_field.iter().all(|e| e.task.owner_id.is_none()) && pool_for_field.len() == 1);
    let own_only = inside_sales::call_queue(store, field, false, T0 + 30 * 24 * HOUR).await.unwrap();
    assert!(own_only.is_empty(), "without the pool: only the calls given to them");
    let mut shown = queue.clone();
    inside_sales::fill_latest(store, &mut shown).await.unwrap();
    assert!(shown.iter().all(|e| e.latest.is_none()), "no action of theirs yet");
    let download = hatake_store::NewEvent {
        kind: "download",
        lead_id: Some(own),
        visitor_id: None,
        product_id: Some(product),
        occurred_at: T0 - 5 * 60_000,
        source: None,
        name: Some("ERP導入ガイド".into()),
        properties: "{}".into(),
        idempotency_key: None,
    };
    store.append_events(&[download], T0).await.unwrap();
    inside_sales::fill_latest(store, &mut shown).await.unwrap();
    let latest = shown.iter().find(|e| e.task.lead_id == own).and_then(|e| e.latest.clone()).expect("why now");
    assert_eq!((latest.kind.as_str(), latest.name.as_deref()), ("download", Some("ERP導入ガイド")));

    // Logging a call: each mistake named.
    let bad = CallInput { lead_id: own, outcome: "nope".into(), result: Some("recall".into()), ..Default::default() };
    assert_eq!(errors_of(inside_sales::log_call(store, &bad, Some(rep), T0 + HOUR).await), ["outcome", "recall_at"]);
    let past = CallInput { outcome: "absent".into(), recall_at: Some(T0), ..bad.clone() };
    assert_eq!(errors_of(inside_sales::log_call(store, &past, Some(rep), T0 + HOUR).await), ["recall_at"]);
    assert_eq!(store.lead_calls(own, 10).await.unwrap().len(), 0, "nothing stored");

    // Not in: call again tomorrow. The task is done, the call is an event, the next call a task.
    let task = task_of(own);
    let call = CallInput {
        lead_id: own,
        product_id: None,
        outcome: "absent".into(),
        result: Some("recall".into()),
        recall_at: Some(T0 + 24 * HOUR),
        note: Some("午後なら在席とのこと".into()),
        task_id: Some(task.id),
        hearing: Vec::new(),
    };
    let logged = inside_sales::log_call(store, &call, Some(rep), T0 + HOUR).await.unwrap();
    assert_eq!((logged.outcome.bucket.as_str(), logged.outcome.label_ja.as_str()), ("connect", "不在"));
    assert_eq!(store.get_task(task.id).await.unwrap().status, "done");
    let next = store.get_task(logged.next_task.expect("the next call")).await.unwrap();
    assert_eq!((next.owner_id, next.due_at, next.kind.as_str()), (Some(rep), T0 + 24 * HOUR, "call"));
    assert_eq!(next.product_id, Some(product), "the task's product carries over");
    let calls = store.lead_calls(own, 10).await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].bucket.as_str(), calls[0].result.as_deref()), ("connect", Some("recall")));
    let events = store
        .lead_events(own, &hatake_store::EventQuery { kind: Some("call".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the call is in the log");
    assert!(events[0].properties.contains("\"bucket\":\"connect\""));
    // Logged twice by a double click: a second call is a second call (no dedup by content), but
    // its task is done once and the next call made per call.
    let summaries = store.call_summaries(&[own, fields]).await.unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!((summaries[0].calls, summaries[0].last.outcome.as_str()), (1, "absent"));
    // The queue of today no longer holds it; tomorrow's does.
    let today = inside_sales::call_queue(store, rep, true, T0 + 2 * HOUR).await.unwrap();
    assert!(today.iter().all(|e| e.task.lead_id != own));
    let tomorrow = inside_sales::call_queue(store, rep, true, T0 + 25 * HOUR).await.unwrap();
    assert!(tomorrow.iter().any(|e| e.task.id == next.id));
    assert_eq!(
        store.count_due_tasks(TaskOwner::User(rep), T0 + 25 * HOUR, T0 + 25 * HOUR, T0 + 25 * HOUR).await.unwrap(),
        (1, 1)
    );
    assert_eq!(
        store.count_due_tasks(TaskOwner::User(rep), T0 + 25 * HOUR, T0 + 25 * HOUR, T0).await.unwrap(),
        (1, 0),
        "due today: not late"
    );

    // The outcome codes: a code cannot be removed, only switched off; a new one is checked.
    let mut codes = inside_sales::outcomes(store).await.unwrap();
    assert_eq!(codes.len(), 7);
    let removed = codes[1..].to_vec();
    assert_eq!(errors_of(inside_sales::save_outcomes(store, &removed, T0).await), ["outcomes"]);
    codes[1].active = false;
    codes.push(inside_sales::CallOutcome {
        code: "Bad Code".into(),
        label_ja: String::new(),
        label_en: String::new(),
        bucket: "x".into(),
        active: true,
    });
    assert_eq!(
        errors_of(inside_sales::save_outcomes(store, &codes, T0).await),
        ["outcomes.7.code", "outcomes.7.label_ja", "outcomes.7.bucket"]
    );
    codes[7] = inside_sales::CallOutcome {
        code: "callback_requested".into(),
        label_ja: "折り返し依頼".into(),
        label_en: "Asked to call back".into(),
        bucket: "contact".into(),
        active: true,
    };
    inside_sales::save_outcomes(store, &codes, T0).await.unwrap();
    let saved = inside_sales::outcomes(store).await.unwrap();
    assert_eq!(saved.len(), 8);
    let off = CallInput { lead_id: own, outcome: saved[1].code.clone(), ..Default::default() };
    assert_eq!(errors_of(inside_sales::log_call(store, &off, Some(rep), T0 + HOUR).await), ["outcome"], "switched off");

    // A lost deal comes back as a call on its re-approach date, once.
    let deal = hatake_engine::qualification::MoveRequest {
        lead_id: fields,
        product_id: product,
        from: "mql".into(),
        to: "sal".into(),
        by: Some(rep),
        ..Default::default()
    };
    hatake_engine::qualification::move_lead(store, &deal, T0 + 20, &zone).await.unwrap();
    let open = hatake_engine::qualification::MoveRequest {
        from: "sal".into(),
        to: "opportunity".into(),
        amount: Some("3000000".into()),
        ..deal.clone()
    };
    hatake_engine::qualification::move_lead(store, &open, T0 + 30, &zone).await.unwrap();
    let opportunity = store.lead_opportunities(fields).await.unwrap().remove(0);
    let day = |at: i64| jiff::Timestamp::from_millisecond(at).unwrap().to_zoned(zone.clone()).date();
    let close = hatake_engine::qualification::CloseRequest {
        won: false,
        reason: Some("competitor".into()),
        competitor: Some("大手ERPベンダーA社".into()),
        reapproach_on: Some(day(T0 + 3 * 24 * HOUR).to_string()),
        ..Default::default()
    };
    hatake_engine::qualification::close_opportunity(store, opportunity.id, &close, Some(field), T0 + 40).await.unwrap();
    TaskRules::run(store, T0 + 24 * HOUR, &zone).await.unwrap();
    let comeback = TaskQuery { lead_id: Some(fields), ..TaskQuery::default() };
    assert!(store.tasks(&comeback).await.unwrap().iter().all(|t| t.cause != "rule:reapproach"), "not yet");
    TaskRules::run(store, T0 + 3 * 24 * HOUR, &zone).await.unwrap();
    TaskRules::run(store, T0 + 4 * 24 * HOUR, &zone).await.unwrap();
    let back: Vec<_> =
        store.tasks(&comeback).await.unwrap().into_iter().filter(|t| t.cause == "rule:reapproach").collect();
    assert_eq!(back.len(), 1, "once");
    assert!(back[0].title.contains("大手ERPベンダーA社導入から") && back[0].owner_id.is_none(), "{:?}", back[0]);

    // A person's task.
    let wrong = TaskInput { kind: "telepathy".into(), lead_id: fields, priority: 9, ..Default::default() };
    assert_eq!(
        errors_of(inside_sales::create_task(store, &wrong, Some(rep), T0).await),
        ["kind", "title", "priority", "due_at"]
    );
    let right = TaskInput {
        kind: "mail".into(),
        lead_id: fields,
        product_id: Some(product),
        owner_id: Some(rep),
        title: "導入事例集を送付".into(),
        note: None,
        due_at: Some(T0 + 3 * HOUR),
        priority: 2,
    };
    let id = inside_sales::create_task(store, &right, Some(rep), T0).await.unwrap();
    let mine = store
        .tasks(&TaskQuery { owner: TaskOwner::User(rep), kind: Some("mail".into()), ..TaskQuery::default() })
        .await
        .unwrap();
    assert_eq!(mine.iter().map(|t| t.id).collect::<Vec<_>>(), [id]);
    assert_eq!(mine[0].company_name.as_deref(), Some("サクラテック株式会社"));
    assert!(store.close_task(id, "done", Some(rep), T0 + 5).await.unwrap());
    assert!(!store.close_task(id, "done", Some(rep), T0 + 6).await.unwrap(), "once");
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

both!(inside_sales_work, inside_sales_work_sqlite, inside_sales_work_postgres);
