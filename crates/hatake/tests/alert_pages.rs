//! Alert pages on both backends: a marketer writes a rule (a wrong webhook URL named, the
//! typed rule kept), the rule alerts inside sales on the next matching event, the rep sees it
//! in the list and the header's count, opens it (read), marks the rest read; the live feed
//! sends it as a server-sent event.

mod support;

use futures_util::StreamExt;

async fn pages(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let now = hatake_web::now_millis();
    let input = hatake_domain::LeadInput {
        family_name: Some("中村".into()),
        company_name: Some("青葉電機株式会社".into()),
        owner_id: Some(app.inside_sales.id),
        ..Default::default()
    };
    let lead = store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id;

    let (marketer, m_csrf) = app.sign_in("marketing@example.jp").await;
    let page = marketer.get(app.url("/settings/alerts")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"alert-rules-form\"") && page.contains("新しいルール"));
    let rule = |webhook: &str| {
        vec![
            ("_csrf", m_csrf.clone()),
            ("rule", "0".to_owned()),
            ("rule.0.id", String::new()),
            ("rule.0.name", "料金ページを閲覧".to_owned()),
            ("rule.0.trigger", "event".to_owned()),
            ("rule.0.kind", "page_view".to_owned()),
            ("rule.0.url_contains", "/pricing".to_owned()),
            ("rule.0.count", "1".to_owned()),
            ("rule.0.within_hours", "168".to_owned()),
            ("rule.0.window_hours", "24".to_owned()),
            ("rule.0.webhook_url", webhook.to_owned()),
            ("rule.0.active", "1".to_owned()),
            ("pool_mail", "is-team@example.jp".to_owned()),
        ]
    };
    let refused = marketer.post(app.url("/settings/alerts")).form(&rule("ftp://nope")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Webhook URLは http:&#x2f;&#x2f; か https:&#x2f;&#x2f; で始めてください"), "{html}");
    assert!(html.contains("value=\"料金ページを閲覧\""), "the typed rule stays");
    let saved = marketer.post(app.url("/settings/alerts")).form(&rule("")).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let config = hatake_engine::alerts::config(store).await.unwrap();
    assert_eq!((config.rules.len(), config.rules[0].id.as_str()), (1, "r1"));
    assert_eq!(config.webhook_secret.len(), 64);

    // The rep's live feed, listening before the event comes.
    let (rep, csrf) = app.sign_in("is@example.jp").await;
    let feed = rep.get(app.url("/alerts/stream?after=0")).send().await.unwrap();
    assert_eq!(feed.headers()["content-type"], "text/event-stream");
    let mut chunks = feed.bytes_stream();
    let event = serde_json::json!([{"kind": "page_view", "lead_id": lead, "properties": {"url": "https://example.jp/pricing"}}]);
    let sent = app.api(reqwest::Method::POST, "/api/v1/events", &app.admin_token).json(&event).send().await.unwrap();
    assert_eq!(sent.status(), 200);
    let mut text = String::new();
    let read = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("event: alert") && text.contains("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), read).await.expect("an alert within 5 s");
    assert!(text.contains("料金ページを閲覧：中村（青葉電機株式会社）"), "{text}");

    // The list and the header's count; opening an alert reads it and goes to the call panel.
    let list = rep.get(app.url("/alerts")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"alerts-unread\">1<") && list.contains("料金ページを閲覧：中村"), "{list}");
    assert!(list.contains("id=\"alert-count\">1<"), "the header's count");
    let alert = store
        .alerts(&hatake_store::AlertQuery {
            owner: hatake_store::AlertFor::Anyone,
            unread_only: false,
            before: None,
            after: None,
            limit: 1,
        })
        .await
        .unwrap()
        .remove(0);
    let opened = rep.get(app.url(&format!("/alerts/{}/open", alert.id))).send().await.unwrap();
    assert_eq!(opened.headers()["location"].to_str().unwrap(), format!("/leads/{lead}#call"));
    let list = rep.get(app.url("/alerts?unread=1")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("id=\"alerts-unread\">0<") && list.contains("id=\"alerts-empty\""));
    let marked = rep.post(app.url("/alerts/read")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(marked.headers()["location"].to_str().unwrap(), "/alerts?read=0");

    // Field sales may not change the rules.
    let (field, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(field.get(app.url("/settings/alerts")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_sqlite() {
    pages(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_pages_postgres() {
    pages(support::Backend::Postgres).await;
}
