//! Toss-up and routing on both backends: the account's owner first, then a territory rule,
//! then the weighted pool; an absent rep skipped with the reason kept; the hand-over note and
//! hearing sheet travel with the lead; the rep accepts (the lead is theirs, a visit to arrange)
//! or rejects with a reason (a call back for inside sales, or nurturing); a toss-up past its
//! deadline goes to the next rep, never back; with nobody free any field rep may take it.

use hatake_domain::routing::{RepSetting, Route, RoutingConfig, RoutingRule, Skip};
use hatake_engine::inside_sales::SaveError;
use hatake_engine::routing::{self, Rejection, TossupInput};
use hatake_store::{Store, TaskQuery, UserRow};
use std::sync::Arc;

/// 2026-12-07 (a Monday) 10:00 in Tokyo.
const T0: i64 = 1_796_605_200_000;
const HOUR: i64 = 3_600_000;

async fn user(store: &dyn Store, email: &str, name: &str, role: &str) -> UserRow {
    let new = hatake_domain::NewUser::parse(email, name, role, "password-123456").unwrap();
    store.create_user(&new, "x", T0).await.unwrap()
}

async fn lead(store: &dyn Store, name: &str, prefecture: &str, account: Option<i64>) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(name.into()),
        company_name: Some("テスト株式会社".into()),
        prefecture: Some(prefecture.into()),
        account_id: account,
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), true, T0).await.unwrap().id
}

fn codes<T: std::fmt::Debug>(result: Result<T, SaveError>) -> Vec<&'static str> {
    match result {
        Err(SaveError::Invalid(errors)) => errors.0.iter().map(|e| e.code).collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

async fn routing_work(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let erp = store.create_product(&product.validate().unwrap(), T0).await.unwrap().id;
    let is = user(store, "is1@example.jp", "井上", "inside_sales").await;
    let owner = user(store, "sales1@example.jp", "大野", "field_sales").await;
    let kansai = user(store, "sales2@example.jp", "関根", "field_sales").await;
    let pool = user(store, "sales3@example.jp", "堀", "field_sales").await;
    let account = hatake_domain::AccountInput {
        name: Some("大野商事株式会社".into()),
        owner_id: Some(owner.id),
        ..Default::default()
    };
    let account = store.create_account(&account.validate().unwrap(), T0).await.unwrap().id;
    let config = RoutingConfig {
        rules: vec![RoutingRule {
            name: "関西エリア".into(),
            prefectures: hatake_domain::routing::territory("関西").unwrap().iter().map(|p| (*p).to_owned()).collect(),
            reps: vec![kansai.id],
            ..RoutingRule::default()
        }],
        reps: vec![
            RepSetting { user_id: kansai.id, weight: 1, cap_day: None, cap_week: None },
            RepSetting { user_id: pool.id, weight: 2, cap_day: None, cap_week: None },
        ],
        ..RoutingConfig::default()
    };
    routing::save_config(store, &config, T0).await.unwrap();
    let wrong = RoutingConfig {
        reps: vec![RepSetting { user_id: is.id, weight: 1, cap_day: None, cap_week: None }],
        ..config.clone()
    };
    assert_eq!(codes(routing::save_config(store, &wrong, T0).await), ["not_field_sales"]);

    // The account's owner first; the note and the hearing sheet go with the lead, now SAL.
    let first = lead(store, "青木", "東京都", Some(account)).await;
    let input = TossupInput {
        lead_id: first, product_id: erp, note: "課長と会話。来期の刷新を検討中。".into()
    };
    assert_eq!(
        codes(
            routing::toss_up(store, &TossupInput { note: " ".into(), ..input.clone() }, Some(is.id), T0, &zone).await
        ),
        ["required"]
    );
    let tossed = routing::toss_up(store, &input, Some(is.id), T0, &zone).await.unwrap();
    assert_eq!((tossed.decision.chosen, tossed.decision.route.clone()), (Some(owner.id), Route::AccountOwner));
    let row = store.get_tossup(tossed.id).await.unwrap();
    assert_eq!((row.status.as_str(), row.to_name.as_deref(), row.from_user), ("pending", Some("大野"), Some(is.id)));
    assert!(row.sla_due_at.is_some_and(|due| due == T0 + 8 * HOUR), "8 business hours: {:?}", row.sla_due_at);
    assert!(store.lead_stages(&[first]).await.unwrap().is_empty(), "the stage waits for field sales");
    assert_eq!(codes(routing::toss_up(store, &input, Some(is.id), T0, &zone).await), ["already_passed"]);

    // The owner is away today: skipped, and why is kept; a Tokyo lead goes to the pool.
    store.add_absence(owner.id, "2026-12-07", "2026-12-08", Some("出張"), Some(owner.id), T0).await.unwrap();
    let second = lead(store, "石井", "東京都", Some(account)).await;
    let tossed = routing::toss_up(store, &TossupInput { lead_id: second, ..input.clone() }, Some(is.id), T0, &zone)
        .await
        .unwrap();
    assert_eq!(tossed.decision.route, Route::Pool);
    assert_eq!(tossed.decision.chosen, Some(pool.id), "the heavier weight with nothing yet");
    assert_eq!(tossed.decision.skipped, [(owner.id, Skip::Absent)]);
    let kept = store.tossup_decisions(tossed.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].skipped.contains("absent") && kept[0].route.contains("pool"), "{kept:?}");
    // An Osaka lead: the territory rule.
    let third = lead(store, "上田", "大阪府", None).await;
    // (An MQL: rejected to nurturing, it leaves the MQL queue with the reason.)
    hatake_engine::qualification::hand_raise(store, third, erp, "inquiry", None, T0, &zone).await.unwrap();
    let osaka = routing::toss_up(store, &TossupInput { lead_id: third, ..input.clone() }, Some(is.id), T0, &zone)
        .await
        .unwrap();
    assert!(matches!(osaka.decision.route, Route::Rule { index: 0, .. }));
    assert_eq!(osaka.decision.chosen, Some(kansai.id));

    // Only the rep decides; accepted, the lead is theirs with a visit to arrange.
    let first_id =
        store.tossups(&hatake_store::TossupQuery { lead_id: Some(first), ..Default::default() }).await.unwrap()[0].id;
    assert_eq!(codes(routing::accept(store, first_id, &pool, T0 + HOUR, &zone).await), ["not_yours"]);
    assert_eq!(codes(routing::accept(store, first_id, &is, T0 + HOUR, &zone).await), ["not_yours"]);
    routing::accept(store, first_id, &owner, T0 + HOUR, &zone).await.unwrap();
    assert_eq!(codes(routing::accept(store, first_id, &owner, T0 + HOUR, &zone).await), ["decided"]);
    assert_eq!(store.get_lead(first).await.unwrap().owner_id, Some(owner.id));
    assert_eq!(store.lead_stages(&[first]).await.unwrap()[0].stage, "sal", "sales accepted it");
    let visits = store
        .tasks(&TaskQuery { lead_id: Some(first), kind: Some("visit".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((visits.len(), visits[0].owner_id), (1, Some(owner.id)));
    assert_eq!(visits[0].title, "初回訪問の日程調整（クラウドERP）");

    // Rejected back to inside sales: an urgent call for whoever passed it on.
    let bad = Rejection { reason: "nope".into(), back_to: "elsewhere".into(), note: None };
    assert_eq!(
        codes(routing::reject(store, tossed.id, &pool, &bad, T0 + HOUR, &zone).await),
        ["reason_required", "invalid_choice"]
    );
    let back =
        Rejection {
            reason: "not_now".into(), back_to: "inside_sales".into(), note: Some("決裁者に会えてから".into())
        };
    routing::reject(store, tossed.id, &pool, &back, T0 + HOUR, &zone).await.unwrap();
    let calls = store
        .tasks(&TaskQuery { lead_id: Some(second), kind: Some("call".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((calls.len(), calls[0].owner_id, calls[0].priority), (1, Some(is.id), 1));
    assert!(calls[0].title.starts_with("トスアップ差し戻し："), "{}", calls[0].title);
    // Rejected to nurturing: the lead leaves SAL with the reason.
    let to_nurture = Rejection { reason: "no_budget".into(), back_to: "nurturing".into(), note: None };
    routing::reject(store, osaka.id, &kansai, &to_nurture, T0 + HOUR, &zone).await.unwrap();
    assert_eq!(store.lead_stages(&[third]).await.unwrap()[0].stage, "nurturing");

    // Past the deadline: the next rep, never back to one who had it.
    let fourth = lead(store, "江藤", "東京都", None).await;
    let late = routing::toss_up(store, &TossupInput { lead_id: fourth, ..input.clone() }, Some(is.id), T0, &zone)
        .await
        .unwrap();
    let first_rep = late.decision.chosen.unwrap();
    assert_eq!(routing::reroute_overdue(store, T0 + 2 * HOUR, &zone).await.unwrap(), 0, "not yet");
    assert_eq!(routing::reroute_overdue(store, T0 + 30 * HOUR, &zone).await.unwrap(), 1);
    let moved = store.get_tossup(late.id).await.unwrap();
    assert!(moved.to_user.is_some_and(|to| to != first_rep), "{moved:?}");
    let decisions = store.tossup_decisions(late.id).await.unwrap();
    assert_eq!(decisions.iter().map(|d| d.cause.as_str()).collect::<Vec<_>>(), ["tossup", "sla_breach"]);
    // Late again: both pool reps had it and the owner is away — any field rep may take it.
    assert_eq!(routing::reroute_overdue(store, T0 + 60 * HOUR, &zone).await.unwrap(), 1);
    let open = store.get_tossup(late.id).await.unwrap();
    assert_eq!((open.to_user, open.sla_due_at), (None, None));
    routing::take(store, late.id, &owner, T0 + 61 * HOUR, &zone).await.unwrap();
    assert_eq!(store.get_tossup(late.id).await.unwrap().to_user, Some(owner.id));
    assert_eq!(store.routing_log(None, 50).await.unwrap().len(), 7, "every decision kept");
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

both!(routing_work, routing_work_sqlite, routing_work_postgres);
