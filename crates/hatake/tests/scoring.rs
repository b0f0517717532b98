//! Scoring over real HTTP on both backends: the model editor (a wrong model comes back with the
//! line of every problem and nothing is stored; a right one becomes a new version), a score
//! moving within one second of the event that moves it, the breakdown on the lead page, the
//! ranking, the YAML export, and a new version recomputing the scores.

mod support;

use hatake_domain::scoring::ScoringModel;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{hidden_value, spawn_app, Backend, TestApp};

async fn engagement(app: &TestApp, lead: i64) -> Option<(i64, i64)> {
    let rows = app.store.lead_scores(&[lead]).await.unwrap();
    rows.first().map(|r| (r.engagement, r.model_version))
}

/// Waits until the lead's score is `want` and returns how long it took.
async fn until_score(app: &TestApp, lead: i64, want: (i64, i64)) -> Duration {
    let started = Instant::now();
    loop {
        if engagement(app, lead).await == Some(want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "score {:?}, wanted {want:?}",
            engagement(app, lead).await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn post_model(app: &TestApp, admin: &reqwest::Client, csrf: &str, yaml: &str, action: &str) -> reqwest::Response {
    admin.post(app.url("/scoring/1")).form(&[("_csrf", csrf), ("yaml", yaml), ("action", action)]).send().await.unwrap()
}

async fn scoring_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let account = hatake_domain::AccountInput { name: Some("株式会社サンプル".into()), ..Default::default() };
    let account = app.store.create_account(&account.validate().unwrap(), 0).await.unwrap().id;
    let lead = hatake_domain::LeadInput {
        family_name: Some("佐藤".into()),
        email: Some("sato@example.jp".into()),
        account_id: Some(account),
        ..Default::default()
    };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), false, 0).await.unwrap().id;
    let (admin, csrf) = app.sign_in("admin@example.jp").await;

    // The editor starts from the template.
    let page = admin.get(app.url("/scoring/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("mail-open") && page.contains("no-mail-reaction"), "template offered: {page}");

    // A wrong model: every problem with its line, in the user's language; nothing stored.
    let wrong =
        "engagement:\n- id: visit\n  kind: page_veiw\n  points: 10\n- id: dl\n  kind: download\n  points: 5000\n";
    let response = post_model(&app, &admin, &csrf, wrong, "save").await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("3行目") && html.contains("page_veiw"), "kind error with its line");
    assert!(html.contains("7行目"), "points error with its line");
    assert!(html.contains("page_veiw"), "the text comes back as typed");
    let response = post_model(&app, &admin, &csrf, "engagement: [\n", "check").await;
    assert_eq!(response.status(), 422);
    assert!(app.store.scoring_model_versions(1).await.unwrap().is_empty());

    // Checking a right model stores nothing either; saving makes version 1.
    let yaml = ScoringModel::template().to_yaml();
    let response = post_model(&app, &admin, &csrf, &yaml, "check").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("model-ok"));
    assert!(app.store.scoring_model_versions(1).await.unwrap().is_empty());
    let response = post_model(&app, &admin, &csrf, &yaml, "save").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/scoring/1?saved=1");
    let versions = app.store.scoring_model_versions(1).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].created_by, Some(app.admin.id));

    // A score changes within one second of the event that moves it.
    let post = |kind: &str, key: &str| {
        app.api(Method::POST, "/api/v1/events", &app.admin_token)
            .json(&json!([{ "kind": kind, "lead_id": lead, "product_id": 1, "idempotency_key": key }]))
    };
    // Let the scorer take the new model first (its full recomputation has nothing to do yet).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let sent = Instant::now();
    assert_eq!(post("mail_open", "e1").send().await.unwrap().status(), 200);
    let waited = until_score(&app, lead, (10, 1)).await;
    let since_send = sent.elapsed();
    assert!(since_send < Duration::from_secs(1), "score moved {since_send:?} after the event was sent");
    eprintln!("score moved {waited:?} after the event was acknowledged, {since_send:?} after it was sent");
    assert_eq!(post("download", "e2").send().await.unwrap().status(), 200);
    until_score(&app, lead, (20, 1)).await;

    // The lead page shows the score and its breakdown.
    let page = admin.get(app.url(&format!("/leads/{lead}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"lead-scores\""));
    assert!(page.contains("<strong class=\"engagement-value\">20</strong>"), "engagement shown");
    assert!(page.contains("mail-open") && page.contains("download"), "rules named");
    assert!(page.contains("v1"));

    // The account's score rolls its people up (the template sums them).
    let page = admin.get(app.url(&format!("/accounts/{account}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"account-scores\"") && page.contains("<strong>20</strong>"), "account score shown");

    // Accounts ranked by that score, for account-based work.
    let accounts = admin.get(app.url("/scoring/1/accounts")).send().await.unwrap().text().await.unwrap();
    assert!(
        accounts.contains(&format!("/accounts/{account}")) && accounts.contains("<strong>20</strong>"),
        "{accounts}"
    );

    // The ranking lists the lead; field sales may look at it too.
    let (sales, _) = app.sign_in("sales@example.jp").await;
    let ranking = sales.get(app.url("/scoring/1/leads")).send().await.unwrap();
    assert_eq!(ranking.status(), 200);
    let ranking = ranking.text().await.unwrap();
    assert!(ranking.contains(&format!("/leads/{lead}")));
    let filtered = sales.get(app.url("/scoring/1/leads?min=50")).send().await.unwrap().text().await.unwrap();
    assert!(!filtered.contains(&format!("/leads/{lead}")));
    // … but may not edit the model.
    let refused = sales.get(app.url("/scoring/1")).send().await.unwrap();
    assert_ne!(refused.status(), 200);

    // The YAML export reads back as the same model.
    let export = admin.get(app.url("/scoring/1/export")).send().await.unwrap();
    assert!(export.headers()["content-disposition"].to_str().unwrap().contains("scoring-erp-v1.yaml"));
    let text = export.text().await.unwrap();
    assert_eq!(ScoringModel::from_yaml(&text, &[]).unwrap(), ScoringModel::template());

    // A new version recomputes every score with it.
    let doubled = text.replace("points: 10", "points: 20");
    let edit = admin.get(app.url("/scoring/1")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&edit, "_csrf").unwrap();
    assert_eq!(post_model(&app, &admin, &csrf, &doubled, "save").await.status(), 303);
    until_score(&app, lead, (40, 2)).await;
    let page = admin.get(app.url("/scoring/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"current-version\">v2"));
    assert!(page.contains("?version=1"), "the older version stays readable");
    // The model page states the floor rule.
    assert!(page.contains("id=\"floor-rule\"") && page.contains("スコアは0を下回りません"), "the floor rule");

    // An event after the recomputation is folded onto a held state; shutting the server down
    // writes the held states back and gives the scorer's lease up.
    let event = json!([{ "kind": "download", "lead_id": lead, "product_id": 1, "idempotency_key": "e3" }]);
    let posted = app.api(Method::POST, "/api/v1/events", &app.admin_token).json(&event).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    until_score(&app, lead, (60, 2)).await;
    // The step writes its cursor after the scores: wait for it to reach the event.
    let newest = app.store.max_event_id().await.unwrap();
    let started = Instant::now();
    let cursor = loop {
        let cursor = app.store.scoring_cursor().await.unwrap();
        if cursor.event_id >= newest || started.elapsed() > Duration::from_secs(10) {
            break cursor;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(cursor.states_at < cursor.event_id, "the state is held: {cursor:?}");
    let mut app = app;
    app.stop().await;
    let cursor = app.store.scoring_cursor().await.unwrap();
    assert_eq!(cursor.states_at, cursor.event_id, "written back when the server stopped");
    let now = hatake_engine::scoring::now_millis();
    assert!(app.store.try_lease(hatake_engine::scoring::LEASE, "next", now + 1_000, now).await.unwrap());
}

#[tokio::test]
async fn scoring_end_to_end_sqlite() {
    scoring_end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn scoring_end_to_end_postgres() {
    scoring_end_to_end(Backend::Postgres).await;
}

/// Half a year of silence takes milliseconds: the server's clock is a manual one; the template's
/// "no reaction to mail for 180 days: −30" applies when the clock is moved past it, and not a
/// day before, with the scorer woken by the runtime's signal instead of any sleep on time.
async fn silence_decays_when_the_clock_moves(backend: Backend) {
    const T0: i64 = 1_790_000_000_000;
    const DAY: Duration = Duration::from_secs(86_400);
    let clock = hatake_engine::runtime::Clock::manual(T0);
    let app = support::spawn_app_with_clock(backend, clock.clone()).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    app.store.save_scoring_model(1, &ScoringModel::template().to_json(), None, T0).await.unwrap();
    let lead = hatake_domain::LeadInput { family_name: Some("佐藤".into()), ..Default::default() };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), false, T0).await.unwrap().id;
    let events: Vec<serde_json::Value> = ["mail_open", "download", "seminar_attendance", "exhibition_visit"]
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let at = jiff::Timestamp::from_millisecond(T0 - 1_000).unwrap().to_string();
            json!({ "kind": kind, "lead_id": lead, "product_id": 1, "occurred_at": at,
                    "idempotency_key": format!("k{i}") })
        })
        .collect();
    let posted = app.api(Method::POST, "/api/v1/events", &app.admin_token).json(&events).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    let report: serde_json::Value = posted.json().await.unwrap();
    assert_eq!(report["created"], 4, "{report}");
    until_score(&app, lead, (40, 1)).await;

    let signals = app.runtime.context().signals.clone();
    clock.advance(DAY * 179);
    signals.wake(hatake_engine::runtime::EVENTS_WRITTEN);
    // The scorer knows when the score changes next, and does not change it a day early.
    let row = app.store.lead_scores(&[lead]).await.unwrap().remove(0);
    assert_eq!(row.next_change_at, Some(T0 - 1_000 + 180 * 86_400_000));
    for _ in 0..20 {
        signals.wake(hatake_engine::runtime::EVENTS_WRITTEN);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engagement(&app, lead).await, Some((40, 1)), "day 179: no penalty yet");
    clock.advance(DAY * 2);
    signals.wake(hatake_engine::runtime::EVENTS_WRITTEN);
    let took = until_score(&app, lead, (10, 1)).await;
    assert!(took < Duration::from_secs(5), "half a year in {took:?}");
}

#[tokio::test]
async fn silence_decays_when_the_clock_moves_sqlite() {
    silence_decays_when_the_clock_moves(Backend::Sqlite).await;
}

#[tokio::test]
async fn silence_decays_when_the_clock_moves_postgres() {
    silence_decays_when_the_clock_moves(Backend::Postgres).await;
}
