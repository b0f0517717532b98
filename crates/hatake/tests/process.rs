//! MQL policies, the MQL queue, the deal board and the lead's process over real HTTP on both
//! backends: a wrong policy comes back with its lines and nothing is stored, the simulator
//! answers before saving, a lead reaching the policy shows up in the queue by itself, a rejection
//! without a reason is refused and said so, acceptance, a deal opened, moved and lost to a
//! competitor with a re-approach date, SLA breaches flagged, the mode switched by hand, and the
//! lead page's history naming who, why and which policy version.

mod support;

use hatake_domain::qualification::MqlPolicy;
use hatake_domain::scoring::ScoringModel;
use hatake_store::StageMove;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{hidden_value, spawn_app, Backend, TestApp};

async fn stage(app: &TestApp, lead: i64) -> Option<String> {
    app.store.lead_stages(&[lead]).await.unwrap().first().map(|s| s.stage.clone())
}

async fn post(client: &reqwest::Client, app: &TestApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client.post(app.url(path)).form(form).send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn process_end_to_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    app.store.save_scoring_model(1, &ScoringModel::template().to_json(), None, 0).await.unwrap();
    let input = hatake_domain::LeadInput {
        family_name: Some("佐藤".into()),
        email: Some("sato@example.co.jp".into()),
        ..Default::default()
    };
    let lead = app.store.create_lead(&input.validate(&[]).unwrap(), true, 0).await.unwrap().id;
    let (admin, csrf) = app.sign_in("admin@example.jp").await;

    // The policy editor: a wrong policy names its lines and stores nothing.
    let page = admin.get(app.url("/qualification/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("default_mode: normal"), "the template is offered");
    let wrong = MqlPolicy::template().to_yaml().replace("default_mode: normal", "default_mode: busy");
    let response =
        post(&admin, &app, "/qualification/1", &[("_csrf", &csrf), ("yaml", &wrong), ("action", "save")]).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("行目") && html.contains("busy"), "{html}");
    assert!(app.store.config_versions(1, "mql_policy").await.unwrap().is_empty());

    // Five reactions before any policy: the simulator counts the lead, the queue is empty.
    let events: Vec<serde_json::Value> = (0..5)
        .map(|i| json!({ "kind": "download", "lead_id": lead, "product_id": 1, "idempotency_key": format!("d{i}") }))
        .collect();
    let sent = app.api(Method::POST, "/api/v1/events", &app.admin_token).json(&events).send().await.unwrap();
    assert_eq!(sent.status(), 200);
    let yaml = MqlPolicy::template().to_yaml();
    let started = Instant::now();
    loop {
        let score = app.store.lead_scores(&[lead]).await.unwrap().first().map(|s| s.engagement);
        if score == Some(50) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "score {score:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = post(
        &admin,
        &app,
        "/qualification/1",
        &[("_csrf", &csrf), ("yaml", &yaml), ("action", "simulate"), ("sim_mode", "normal")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"simulation-table\""), "simulation shown");
    assert!(html.contains("12か月で 1 件"), "one lead would have qualified: {html}");
    assert!(app.store.config_versions(1, "mql_policy").await.unwrap().is_empty(), "simulating stores nothing");

    // Saving: version 1. The next reaction makes the lead an MQL by itself.
    let response =
        post(&admin, &app, "/qualification/1", &[("_csrf", &csrf), ("yaml", &yaml), ("action", "save")]).await;
    assert_eq!(location(&response), "/qualification/1?saved=1");
    let more = json!([{ "kind": "mail_open", "lead_id": lead, "product_id": 1, "idempotency_key": "m1" }]);
    app.api(Method::POST, "/api/v1/events", &app.admin_token).json(&more).send().await.unwrap();
    let started = Instant::now();
    while stage(&app, lead).await.as_deref() != Some("mql") {
        assert!(started.elapsed() < Duration::from_secs(10), "lead became no MQL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The lead list shows the score and sorts by it.
    let by_score = admin.get(app.url("/leads?sort=score:1")).send().await.unwrap().text().await.unwrap();
    assert!(by_score.contains("class=\"score-chip\"") && by_score.contains("<strong>60</strong>"), "{by_score}");
    assert!(by_score.contains("value=\"score:1\" selected"), "the sort by the product's score is offered and chosen");

    // The queue, seen by field sales too; a rejection needs a reason.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    let queue = sales.get(app.url("/pipeline/1/mql")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains(&format!("data-lead=\"{lead}\"")));
    let overview = sales.get(app.url("/pipeline")).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("/pipeline/1/mql\">1<"), "one MQL in the overview");
    let lead_path = format!("/leads/{lead}/stage");
    let back = "/pipeline/1/mql";
    let response = post(
        &sales,
        &app,
        &lead_path,
        &[
            ("_csrf", &sales_csrf),
            ("product_id", "1"),
            ("from", "mql"),
            ("to", "nurturing"),
            ("reason", ""),
            ("back", back),
        ],
    )
    .await;
    assert_eq!(location(&response), "/pipeline/1/mql?move_error=reason_required");
    let shown = sales.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("理由を選んでください"));
    assert_eq!(stage(&app, lead).await.as_deref(), Some("mql"), "nothing moved");
    let response = post(
        &sales,
        &app,
        &lead_path,
        &[("_csrf", &sales_csrf), ("product_id", "1"), ("from", "mql"), ("to", "sal"), ("back", back)],
    )
    .await;
    assert_eq!(location(&response), format!("/pipeline/1/mql?moved=sal.{lead}"));
    // The queue says what happened, to whom.
    let said = sales.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let lead_name = app.store.get_lead(lead).await.unwrap().full_name();
    assert!(said.contains(&format!("{lead_name}：SALとして受け付けました。")), "{said}");
    // The same click again comes from a stale page: refused, said so.
    let response = post(
        &sales,
        &app,
        &lead_path,
        &[("_csrf", &sales_csrf), ("product_id", "1"), ("from", "mql"), ("to", "sal"), ("back", back)],
    )
    .await;
    assert!(
        location(&response).ends_with("move_error=move_not_allowed")
            || location(&response).ends_with("move_error=conflict"),
        "{}",
        location(&response)
    );

    // A deal: a wrong amount is named; then opened, moved on the board, lost to a competitor.
    let response = post(
        &sales,
        &app,
        &lead_path,
        &[
            ("_csrf", &sales_csrf),
            ("product_id", "1"),
            ("from", "sal"),
            ("to", "opportunity"),
            ("amount", "たくさん"),
            ("back", back),
        ],
    )
    .await;
    assert!(location(&response).ends_with("move_error=invalid_amount"));
    let response = post(
        &sales,
        &app,
        &lead_path,
        &[
            ("_csrf", &sales_csrf),
            ("product_id", "1"),
            ("from", "sal"),
            ("to", "opportunity"),
            ("amount", "3,000,000"),
            ("stage_key", "visited"),
            ("back", back),
        ],
    )
    .await;
    assert!(location(&response).ends_with(&format!("moved=opportunity.{lead}")), "{}", location(&response));
    let opportunity = app.store.lead_opportunities(lead).await.unwrap().remove(0);
    let board = sales.get(app.url("/pipeline/1")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains(&format!("data-opportunity=\"{}\"", opportunity.id)));
    assert!(board.contains("3,000,000円"));
    let path = format!("/opportunities/{}", opportunity.id);
    let response =
        post(&sales, &app, &path, &[("_csrf", &sales_csrf), ("stage_key", "approval"), ("amount", "2,800,000")]).await;
    assert_eq!(location(&response), format!("/pipeline/1?moved=deal.{lead}"));
    let said = sales.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(said.contains("：商談を更新しました。"), "the board says the deal changed");
    let close = format!("/opportunities/{}/close", opportunity.id);
    // A win is never one stray click: without the confirmation nothing closes, and the board
    // says why.
    assert!(board.contains("name=\"confirm_won\""), "the board asks to confirm a win");
    let response = post(&sales, &app, &close, &[("_csrf", &sales_csrf), ("outcome", "won")]).await;
    assert!(location(&response).ends_with("move_error=confirm_won"), "{}", location(&response));
    let said = sales.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(said.contains("受注を確定する"));
    assert_eq!(app.store.lead_opportunities(lead).await.unwrap()[0].status, "open", "still open");
    let response = post(&sales, &app, &close, &[("_csrf", &sales_csrf), ("outcome", "lost"), ("reason", "")]).await;
    assert!(location(&response).ends_with("move_error=reason_required"));
    let response = post(
        &sales,
        &app,
        &close,
        &[
            ("_csrf", &sales_csrf),
            ("outcome", "lost"),
            ("reason", "competitor"),
            ("competitor", "他社ERP"),
            ("competitor_installed_on", "2027-04-01"),
        ],
    )
    .await;
    assert!(location(&response).ends_with(&format!("moved=lost.{lead}")), "{}", location(&response));
    let board = sales.get(app.url("/pipeline/1")).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("競合に負けた") && board.contains("2031-10-01"), "lost with reason and re-approach date");
    assert_eq!(stage(&app, lead).await.as_deref(), Some("lost"));

    // The lead page: the stage, and the history with who, why and the policy version.
    let page = admin.get(app.url(&format!("/leads/{lead}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"lead-process\""));
    assert!(page.contains("stage-lost"));
    assert!(page.contains("営業 次郎"), "who moved it");
    assert!(page.contains("競合に負けた"), "why");
    assert!(page.contains("v1 通常"), "which policy version and mode (by its name) qualified it");
    // (At 50 when the policy's own sweep after the save came first, at 60 when the next
    // reaction was scored first: both qualify, and either way the condition is named.)
    assert!(
        page.contains("エンゲージメント 60 ≥ 50") || page.contains("エンゲージメント 50 ≥ 50"),
        "and which of its conditions: {page}"
    );
    let csrf = hidden_value(&page, "_csrf").unwrap();

    // The same over the API: stages with history, scores with their awards, and a move.
    let stages: serde_json::Value = app
        .api(Method::GET, &format!("/api/v1/leads/{lead}/stages"), &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stages["data"][0]["stage"], "lost");
    assert_eq!(stages["history"][0]["reason"], "competitor");
    assert_eq!(stages["opportunities"][0]["reapproach_on"], "2031-10-01");
    let scores: serde_json::Value = app
        .api(Method::GET, &format!("/api/v1/leads/{lead}/scores"), &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scores["data"][0]["engagement"], 60);
    assert_eq!(scores["data"][0]["awards"].as_array().unwrap().len(), 6);
    let path = format!("/api/v1/leads/{lead}/stage");
    let no_reason = app
        .api(Method::POST, &path, &app.admin_token)
        .json(&json!({"product_id": 1, "from": "lost", "to": "nurturing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_reason.status(), 422);
    let body: serde_json::Value = no_reason.json().await.unwrap();
    assert!(body.to_string().contains("reason_required"), "{body}");
    let stale = app
        .api(Method::POST, &path, &app.admin_token)
        .json(&json!({"product_id": 1, "from": "mql", "to": "sal"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    let recycled = app
        .api(Method::POST, &path, &app.admin_token)
        .json(&json!({"product_id": 1, "from": "lost", "to": "nurturing", "reason": "not_now"}))
        .send()
        .await
        .unwrap();
    assert_eq!(recycled.status(), 201);
    assert_eq!(stage(&app, lead).await.as_deref(), Some("nurturing"));
    let missing = app.api(Method::GET, "/api/v1/leads/999999/scores", &app.admin_token).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // An MQL past its SLA is flagged.
    let other = hatake_domain::LeadInput {
        family_name: Some("鈴木".into()),
        email: Some("suzuki@example.co.jp".into()),
        ..Default::default()
    };
    let other = app.store.create_lead(&other.validate(&[]).unwrap(), true, 0).await.unwrap().id;
    let late = StageMove {
        lead_id: other,
        product_id: 1,
        from: None,
        to: "mql".into(),
        at: 1_000,
        by: None,
        reason: None,
        note: None,
        policy_version: Some(1),
        mode: Some("normal".into()),
        sla_due_at: Some(2_000),
        opportunity: None,
        detail: None,
    };
    app.store.move_stage(&late).await.unwrap();
    let queue = admin.get(app.url("/pipeline/1/mql")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("sla-breach"));

    // The mode switched by hand is a new version; back to the schedule is another.
    let response = post(&admin, &app, "/qualification/1/mode", &[("_csrf", &csrf), ("mode", "strict")]).await;
    assert_eq!(location(&response), "/qualification/1?saved=2");
    let page = admin.get(app.url("/qualification/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"mode-in-force\">繁忙期（厳しめ）<"), "the mode by its name");
    let response = post(&admin, &app, "/qualification/1/mode", &[("_csrf", &csrf), ("mode", "")]).await;
    assert_eq!(location(&response), "/qualification/1?saved=3");
    let versions = app.store.config_versions(1, "mql_policy").await.unwrap();
    assert_eq!(MqlPolicy::from_json(&versions[0].definition).unwrap().manual_mode, None);
    assert_eq!(MqlPolicy::from_json(&versions[1].definition).unwrap().manual_mode.as_deref(), Some("strict"));
    // Field sales may not change the policy.
    let refused = post(&sales, &app, "/qualification/1/mode", &[("_csrf", &sales_csrf), ("mode", "lenient")]).await;
    assert_ne!(refused.status(), 303);

    // The process settings: a stage without an action is refused by its line.
    let settings = admin.get(app.url("/pipeline/1/settings")).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains("初回訪問済"));
    let text = hatake_domain::lifecycle::ProcessConfig::default().to_yaml();
    let bad = text.replacen("action: 初回訪問（オンライン含む）を実施した", "action: ''", 1);
    let response =
        post(&admin, &app, "/pipeline/1/settings", &[("_csrf", &csrf), ("yaml", &bad), ("action", "save")]).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("stages[0].action"));
    let response =
        post(&admin, &app, "/pipeline/1/settings", &[("_csrf", &csrf), ("yaml", &text), ("action", "save")]).await;
    assert_eq!(location(&response), "/pipeline/1/settings?saved=1");
}

#[tokio::test]
async fn process_end_to_end_sqlite() {
    process_end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn process_end_to_end_postgres() {
    process_end_to_end(Backend::Postgres).await;
}

/// A queue of 120 MQLs pages 50 at a time in each order without losing or repeating a lead,
/// shows the total (not the page's size) and why each qualified; the hand-over note given on
/// acceptance shows on the SAL tab.
async fn the_queue_pages_sorts_and_says_why(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let mut leads = Vec::new();
    for i in 0..120 {
        let lead = hatake_domain::LeadInput {
            family_name: Some(format!("見込{i:03}")),
            email: Some(format!("mql{i}@example.co.jp")),
            ..Default::default()
        };
        leads.push(app.store.create_lead(&lead.validate(&[]).unwrap(), true, 1).await.unwrap().id);
    }
    let now = hatake_web::now_millis();
    for (i, lead) in leads.iter().enumerate() {
        let i = i64::try_from(i).unwrap();
        let detail = json!({ "mode_label": "通常", "met": [
            { "code": "engagement", "message_ja": format!("エンゲージメント {} ≥ 50", 50 + i), "message_en": "Engagement" }
        ]});
        let step = StageMove {
            lead_id: *lead,
            product_id: product.id,
            from: None,
            to: "mql".into(),
            at: now - (120 - i) * 60_000,
            by: None,
            reason: None,
            note: None,
            policy_version: Some(3),
            mode: Some("normal".into()),
            // Deadlines in the other order than arrival: the last to arrive is due first.
            sla_due_at: Some(now + (120 - i) * 3_600_000 - 60 * 3_600_000),
            opportunity: None,
            detail: Some(detail.to_string()),
        };
        app.store.move_stage(&step).await.unwrap();
    }
    // Engagement scores in yet another order: lead 37 the highest.
    let scores: Vec<hatake_store::LeadScoreRow> = leads
        .iter()
        .enumerate()
        .map(|(i, lead)| hatake_store::LeadScoreRow {
            lead_id: *lead,
            product_id: product.id,
            model_version: 1,
            engagement: i64::try_from((i * 53 + 37 * 67) % 120).unwrap() + 10,
            fit: 0,
            next_change_at: None,
            state: Vec::new(),
            updated_at: now,
        })
        .collect();
    let highest = scores.iter().max_by_key(|s| s.engagement).unwrap().lead_id;
    app.store.put_lead_scores(&scores).await.unwrap();
    let (client, csrf) = app.sign_in("is@example.jp").await;
    let base = format!("/pipeline/{}/mql", product.id);
    for sort in ["sla", "waiting", "score"] {
        let mut seen: Vec<i64> = Vec::new();
        let mut url = format!("{base}?tab=mql&sort={sort}");
        for page in 0.. {
            let html = client.get(app.url(&url)).send().await.unwrap().text().await.unwrap();
            assert!(html.contains("id=\"mql-total\">120<"), "the total, not the page's size");
            let ids: Vec<i64> = html
                .split("class=\"mql-row")
                .skip(1)
                .map(|row| {
                    let at = row.find("data-lead=\"").unwrap() + 11;
                    row[at..row[at..].find('"').unwrap() + at].parse().unwrap()
                })
                .collect();
            assert!(ids.len() <= 50, "{sort} page {page}: {}", ids.len());
            seen.extend(&ids);
            let Some(at) = html.find("id=\"queue-next\"") else { break };
            let href = html[..at].rsplit("href=\"").next().unwrap();
            url = format!("{base}{}", &href[..href.find('"').unwrap()].replace("&amp;", "&"));
            assert!(page < 5, "{sort}: too many pages");
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!((seen.len(), sorted.len()), (120, 120), "{sort}: every MQL once");
        match sort {
            "sla" => assert_eq!(seen[0], leads[119], "the nearest deadline first"),
            "waiting" => assert_eq!(seen[0], leads[0], "the longest waiting first"),
            _ => {
                let score = |lead: &i64| scores.iter().find(|s| s.lead_id == *lead).unwrap().engagement;
                assert_eq!(seen[0], highest, "the highest score first");
                assert!(seen.windows(2).all(|w| score(&w[0]) >= score(&w[1])), "by score, across pages");
            }
        }
    }
    let html = client.get(app.url(&format!("{base}?sort=sla"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("MQLポリシー v3（通常）: エンゲージメント 169 ≥ 50"), "why it qualified");
    assert!(html.contains("SLA超過"), "breaches are counted and flagged");

    // Accepted with a hand-over note: on the SAL tab with the note and who accepted it.
    let lead = leads[5].to_string();
    let note = "情シス部長。来期の基幹刷新を検討中、予算化は4月。";
    let response = post(
        &client,
        &app,
        &format!("/leads/{lead}/stage"),
        &[
            ("_csrf", &csrf),
            ("product_id", &product.id.to_string()),
            ("from", "mql"),
            ("to", "sal"),
            ("note", note),
            ("back", &base),
        ],
    )
    .await;
    assert!(location(&response).contains("?moved=sal."), "{}", location(&response));
    let sal = client.get(app.url(&format!("{base}?tab=sal"))).send().await.unwrap().text().await.unwrap();
    assert!(sal.contains("id=\"sal-total\">1<") && sal.contains(note) && sal.contains("内田 三郎"), "{sal}");
}

#[tokio::test]
async fn the_queue_pages_sorts_and_says_why_sqlite() {
    the_queue_pages_sorts_and_says_why(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_queue_pages_sorts_and_says_why_postgres() {
    the_queue_pages_sorts_and_says_why(Backend::Postgres).await;
}

/// A marketer edits the MQL policy as a form: modes by their names, thresholds, the items to
/// know by their labels, a schedule and exclusions; a wrong number is named in words and
/// nothing is saved; saving makes the next version that the YAML editor shows.
async fn the_policy_is_edited_as_a_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let timing = hatake_domain::CustomFieldDef::parse("timing", "導入時期", "Timing", "text", "").unwrap();
    app.store.create_custom_field(&timing, 0).await.unwrap();
    let (admin, csrf) = app.sign_in("admin@example.jp").await;
    let url = format!("/qualification/{}/form", product.id);
    let page = admin.get(app.url(&format!("{url}?template=1"))).send().await.unwrap().text().await.unwrap();
    for part in ["繁忙期（厳しめ）", "最低エンゲージメント", "導入時期", "フリーメールのリードは渡さない"]
    {
        assert!(page.contains(part), "{part} missing (modes, thresholds and hearing items in words)");
    }
    let form = |fit: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("mode.0.id", "normal".into()),
            ("mode.0.label", "通常".into()),
            ("mode.0.min_engagement", "60".into()),
            ("mode.0.min_fit", fit.to_owned()),
            ("mode.0.required", "custom.timing".into()),
            ("mode.1.id", "busy".into()),
            ("mode.1.label", "繁忙期".into()),
            ("mode.1.min_engagement", "90".into()),
            ("default_mode", "normal".into()),
            ("range.0.mode", "busy".into()),
            ("range.0.from", "2026-12-01".into()),
            ("range.0.to", "2027-01-15".into()),
            ("free_mail", "1".into()),
            ("domains", "rival.co.jp".into()),
            ("action", "save".into()),
        ]
    };
    let refused = admin.post(app.url(&url)).form(&form("たくさん")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("モード1の最低フィット: 整数を入力してください。"), "{html}");
    assert!(app.store.config_versions(product.id, "mql_policy").await.unwrap().is_empty(), "nothing saved");

    let saved = admin.post(app.url(&url)).form(&form("10")).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let versions = app.store.config_versions(product.id, "mql_policy").await.unwrap();
    let policy = MqlPolicy::from_json(&versions[0].definition).unwrap();
    assert_eq!(policy.modes.len(), 2);
    assert_eq!((policy.modes[0].min_engagement, policy.modes[0].min_fit), (Some(60), Some(10)));
    assert_eq!(policy.modes[0].required, ["custom.timing"]);
    assert_eq!(policy.schedule[0].mode, "busy");
    assert!(policy.exclusions.free_mail);
    assert_eq!(policy.exclusions.domains, ["rival.co.jp"]);
    let yaml =
        admin.get(app.url(&format!("/qualification/{}", product.id))).send().await.unwrap().text().await.unwrap();
    assert!(
        yaml.contains("min_engagement: 60") && yaml.contains("id=\"edit-form\""),
        "the YAML shows the same version"
    );
    // Field sales may not edit it.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    let mut theirs = form("10");
    theirs[0].1 = sales_csrf;
    assert_eq!(sales.post(app.url(&url)).form(&theirs).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn the_policy_is_edited_as_a_form_sqlite() {
    the_policy_is_edited_as_a_form(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_policy_is_edited_as_a_form_postgres() {
    the_policy_is_edited_as_a_form(Backend::Postgres).await;
}

/// A stage with more deals than a column holds shows ten with the stage's whole count and
/// amount, and opens to page through all of them 50 at a time without losing or repeating one;
/// the overview counts every open deal.
async fn the_board_pages_a_full_column(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    for i in 0..63_i64 {
        let lead = hatake_domain::LeadInput {
            family_name: Some(format!("商談{i:03}")),
            email: Some(format!("deal{i}@example.co.jp")),
            ..Default::default()
        };
        let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), true, 1).await.unwrap().id;
        let step = StageMove {
            lead_id: lead,
            product_id: product.id,
            from: None,
            to: "opportunity".into(),
            at: 1_000 + i,
            by: None,
            reason: None,
            note: None,
            policy_version: None,
            mode: None,
            sla_due_at: None,
            opportunity: Some(hatake_store::NewOpportunity {
                name: format!("案件{i:03}"),
                stage_key: if i < 61 { "visited".into() } else { "approval".into() },
                amount: Some(100_000),
                expected_close_on: None,
                owner_id: None,
            }),
            detail: None,
        };
        app.store.move_stage(&step).await.unwrap();
    }
    let (sales, _) = app.sign_in("sales@example.jp").await;
    let cards = |html: &str| -> Vec<String> {
        html.split("data-opportunity=\"").skip(1).map(|s| s.split('"').next().unwrap().to_owned()).collect()
    };
    let board = sales.get(app.url(&format!("/pipeline/{}", product.id))).send().await.unwrap().text().await.unwrap();
    assert_eq!(cards(&board).len(), 12, "ten of the full column and the two of the other");
    assert!(board.contains("61 · 6,100,000円"), "the column's whole count and amount");
    assert!(board.contains("ほか51件を表示"), "the rest is one click away");
    let overview = sales.get(app.url("/pipeline")).send().await.unwrap().text().await.unwrap();
    assert!(overview.contains("6,300,000円"), "the overview sums every open deal");

    let mut seen = std::collections::BTreeSet::new();
    let mut url = format!("/pipeline/{}?stage=visited", product.id);
    let mut pages = 0;
    loop {
        let page = sales.get(app.url(&url)).send().await.unwrap().text().await.unwrap();
        pages += 1;
        let opened: Vec<String> =
            page.split("data-stage=\"visited\"").nth(1).unwrap().split("</section>").next().map(cards).unwrap();
        assert!(opened.len() <= 50);
        for id in opened {
            assert!(seen.insert(id), "no deal twice");
        }
        match page.split("rel=\"next\" href=\"").nth(1) {
            Some(next) => {
                let next = next.split('"').next().unwrap().replace("&amp;", "&");
                url = format!("/pipeline/{}{}", product.id, next.split('#').next().unwrap());
                assert!(page.contains("61件中 1〜50件目"), "{page}");
            }
            None => {
                assert!(page.contains("61件中 51〜61件目"));
                break;
            }
        }
    }
    assert_eq!((pages, seen.len()), (2, 61), "every deal of the stage once");
}

#[tokio::test]
async fn the_board_pages_a_full_column_sqlite() {
    the_board_pages_a_full_column(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_board_pages_a_full_column_postgres() {
    the_board_pages_a_full_column(Backend::Postgres).await;
}

/// A deal of a person known only by their e-mail address shows the address on its card, not
/// a blank.
async fn a_deal_without_a_name_shows_the_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let lead = hatake_domain::LeadInput { email: Some("nameless@example.co.jp".into()), ..Default::default() };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), false, 1).await.unwrap().id;
    let step = StageMove {
        lead_id: lead,
        product_id: product.id,
        from: None,
        to: "sal".into(),
        at: 2,
        by: None,
        reason: Some("紹介".into()),
        note: None,
        policy_version: None,
        mode: None,
        sla_due_at: None,
        opportunity: None,
        detail: None,
    };
    app.store.move_stage(&step).await.unwrap();
    let open = StageMove {
        from: Some("sal".into()),
        to: "opportunity".into(),
        at: 3,
        reason: None,
        opportunity: Some(hatake_store::NewOpportunity {
            name: "名無しの商談".into(),
            stage_key: "visited".into(),
            amount: Some(1_000_000),
            expected_close_on: None,
            owner_id: None,
        }),
        ..step
    };
    app.store.move_stage(&open).await.unwrap();
    let deals = app.store.lead_opportunities(lead).await.unwrap();
    assert_eq!(deals[0].lead_name.as_deref(), Some("nameless@example.co.jp"));
    let (sales, _) = app.sign_in("sales@example.jp").await;
    let board = sales.get(app.url(&format!("/pipeline/{}", product.id))).send().await.unwrap().text().await.unwrap();
    assert!(board.contains("nameless@example.co.jp"), "the card names the person by address");
}

#[tokio::test]
async fn a_deal_without_a_name_shows_the_address_sqlite() {
    a_deal_without_a_name_shows_the_address(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_deal_without_a_name_shows_the_address_postgres() {
    a_deal_without_a_name_shows_the_address(Backend::Postgres).await;
}
