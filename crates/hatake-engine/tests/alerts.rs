//! Alerts on both backends: rules read the events as they arrive (not the history before),
//! once per lead and rule per window; for the lead's inside-sales owner or the pool; a count
//! within a time (the pricing page twice in a week); a visitor's event counts for its lead; a
//! score reaching a threshold; mail and webhook through the outbox under the alert's key; the
//! webhook signed (checked by a real HTTP receiver here), retried with back-off on a 5xx, given
//! up at once on a 4xx and after the last try otherwise.

use hatake_domain::alerts::{AlertConfig, AlertRule, Trigger};
use hatake_engine::alerts::{self, AlertWorker, WebhookSender};
use hatake_engine::runtime::{Clock, Context};
use hatake_store::{AlertFor, AlertQuery, NewEvent, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T0: i64 = 1_796_605_200_000;
const HOUR: i64 = 3_600_000;

/// What the receiver got: headers (lower-case names) and body.
type Got = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A tiny HTTP receiver answering each request with the next status of `answers` (the last
/// one again when they run out).
async fn receiver(answers: Vec<u16>) -> (String, Got) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got: Got = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        let mut turn = 0;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break (String::new(), String::new());
                }
                data.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&data).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let head = text[..end].to_owned();
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + length {
                        break (head, String::from_utf8_lossy(&data[end + 4..end + 4 + length]).into_owned());
                    }
                }
            };
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
                .collect();
            seen.lock().unwrap().push((headers, body));
            let status = answers.get(turn).or(answers.last()).copied().unwrap_or(200);
            turn += 1;
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, got)
}

fn rule(id: &str, name: &str, trigger: Trigger, webhook: Option<String>) -> AlertRule {
    AlertRule {
        id: id.into(),
        name: name.into(),
        product_id: None,
        trigger,
        window_hours: 24,
        mail: true,
        webhook_url: webhook,
        active: true,
    }
}

fn view(lead: Option<i64>, visitor: Option<&str>, url: &str, link: bool, at: i64) -> NewEvent {
    let properties = if link {
        serde_json::json!({ "url": url, "link": "pdf1", "link_name": "ERPカタログPDF" })
    } else {
        serde_json::json!({ "url": url })
    };
    NewEvent {
        kind: "page_view",
        lead_id: lead,
        visitor_id: visitor.map(str::to_owned),
        product_id: None,
        occurred_at: at,
        source: None,
        name: None,
        properties: properties.to_string(),
        idempotency_key: None,
    }
}

async fn alerts_work(store: Arc<dyn Store>) {
    let clock = Clock::manual(T0);
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let cx = Context::new(store.clone(), clock.clone(), zone);
    let store = store.as_ref();
    let new = hatake_domain::NewUser::parse("is1@example.jp", "井上", "inside_sales", "password-123456").unwrap();
    let rep = store.create_user(&new, "x", T0).await.unwrap();
    let lead = |name: &str, owner: Option<i64>| {
        let input = hatake_domain::LeadInput {
            family_name: Some(name.into()),
            company_name: Some("桜商事株式会社".into()),
            owner_id: owner,
            ..Default::default()
        };
        input.validate(&[]).unwrap()
    };
    let owned = store.create_lead(&lead("山田", Some(rep.id)), true, T0).await.unwrap().id;
    let nobody = store.create_lead(&lead("佐藤", None), true, T0).await.unwrap().id;
    // History before the rules is not alerted on.
    store
        .append_events(&[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", true, T0 - HOUR)], T0)
        .await
        .unwrap();

    let (hook, got) = receiver(vec![500, 200]).await;
    let config = AlertConfig {
        rules: vec![
            rule(
                "r1",
                "PDFから製品ページ",
                Trigger::Event {
                    kind: "page_view".into(),
                    url_contains: vec!["utm_source=pdf".into()],
                    name_contains: None,
                    tracked_link: true,
                    count: 1,
                    within_hours: 168,
                },
                Some(hook.clone()),
            ),
            rule(
                "r2",
                "料金ページを週2回",
                Trigger::Event {
                    kind: "page_view".into(),
                    url_contains: vec!["/pricing".into()],
                    name_contains: None,
                    tracked_link: false,
                    count: 2,
                    within_hours: 168,
                },
                None,
            ),
            rule("r3", "スコア50点到達", Trigger::Score { threshold: 50 }, None),
        ],
        pool_mail: Some("is-team@example.jp".into()),
        webhook_secret: String::new(),
    };
    let saved = alerts::save_config(store, &config, T0).await.unwrap();
    assert_eq!(saved.webhook_secret.len(), 64, "a secret is made");
    assert!(!AlertWorker::run(&cx).await.unwrap(), "the first step starts after the history");
    assert!(store.alerts(&all(None)).await.unwrap().is_empty());

    // The PDF's link followed: the owner's alert, its mail and its webhook in the outbox.
    store
        .append_events(&[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", true, T0)], T0)
        .await
        .unwrap();
    store
        .append_events(&[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", false, T0)], T0)
        .await
        .unwrap();
    AlertWorker::run(&cx).await.unwrap();
    let made = store.alerts(&all(None)).await.unwrap();
    assert_eq!(made.len(), 1, "typed in without the link: no alert");
    assert_eq!((made[0].user_id, made[0].rule_id.as_str()), (Some(rep.id), "r1"));
    assert_eq!(made[0].title, "PDFから製品ページ：山田（桜商事株式会社）");
    assert!(made[0].detail.as_deref().unwrap().contains("リンク「ERPカタログPDF」から"), "{:?}", made[0].detail);
    let mail = store.outbox_by_key(&format!("alert:{}:mail", made[0].id)).await.unwrap().expect("a mail");
    assert_eq!((mail.kind.as_str(), mail.recipient.as_str()), ("mail", "is1@example.jp"));
    assert!(store.outbox_by_key(&format!("alert:{}:webhook", made[0].id)).await.unwrap().is_some());
    assert_eq!(store.count_unread_alerts(AlertFor::UserAndPool(rep.id)).await.unwrap(), 1);

    // Within the window: no second alert; after it, one again.
    store
        .append_events(&[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", true, T0 + HOUR)], T0 + HOUR)
        .await
        .unwrap();
    clock.set(T0 + HOUR);
    AlertWorker::run(&cx).await.unwrap();
    assert_eq!(store.alerts(&all(None)).await.unwrap().len(), 1);
    clock.set(T0 + 26 * HOUR);
    store
        .append_events(
            &[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", true, T0 + 26 * HOUR)],
            T0 + 26 * HOUR,
        )
        .await
        .unwrap();
    AlertWorker::run(&cx).await.unwrap();
    assert_eq!(store.alerts(&all(None)).await.unwrap().len(), 2);

    // The pricing page twice in a week, by a visitor linked to an unowned lead: the pool's
    // alert at the second view, mailed to the team address.
    store.append_events(&[view(Some(nobody), Some("v-1"), "https://example.jp/", false, T0)], T0).await.unwrap();
    let at = T0 + 27 * HOUR;
    clock.set(at);
    store
        .append_events(&[view(None, Some("v-1"), "https://example.jp/pricing", false, at - 72 * HOUR)], at)
        .await
        .unwrap();
    AlertWorker::run(&cx).await.unwrap();
    assert_eq!(store.alerts(&all(None)).await.unwrap().len(), 2, "once is not twice");
    store.append_events(&[view(None, Some("v-1"), "https://example.jp/pricing", false, at)], at).await.unwrap();
    AlertWorker::run(&cx).await.unwrap();
    let pool = store.alerts(&all(None)).await.unwrap().remove(0);
    assert_eq!((pool.lead_id, pool.user_id, pool.rule_id.as_str()), (nobody, None, "r2"));
    let mail = store.outbox_by_key(&format!("alert:{}:mail", pool.id)).await.unwrap().expect("the team's mail");
    assert_eq!(mail.recipient, "is-team@example.jp");
    // The live feed reads what came after what it showed.
    let after = store
        .alerts(&AlertQuery {
            owner: AlertFor::UserAndPool(rep.id),
            unread_only: false,
            before: None,
            after: Some(made[0].id),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert!(after[0].id < after[1].id, "oldest first");

    // A score reaching the threshold.
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = store.create_product(&product.validate().unwrap(), T0).await.unwrap().id;
    let score = |engagement| hatake_store::LeadScoreRow {
        lead_id: nobody,
        product_id: product,
        model_version: 1,
        engagement,
        fit: 0,
        next_change_at: None,
        state: Vec::new(),
        updated_at: at,
    };
    store.put_lead_scores(&[score(40)]).await.unwrap();
    assert_eq!(alerts::after_scoring(store, &[nobody], at).await.unwrap(), 0);
    store.put_lead_scores(&[score(55)]).await.unwrap();
    assert_eq!(alerts::after_scoring(store, &[nobody], at).await.unwrap(), 1);
    assert_eq!(alerts::after_scoring(store, &[nobody], at).await.unwrap(), 0, "once per window");

    // The webhook: refused once (500), then taken; signed, keyed.
    let sender = WebhookSender::default();
    assert_eq!(sender.run(&cx).await.unwrap(), 2, "both PDF alerts' webhooks");
    let rows = store.list_outbox(None, None, 50).await.unwrap();
    let hooks: Vec<_> = rows.iter().filter(|r| r.kind == "webhook").collect();
    assert_eq!(hooks.iter().filter(|r| r.status == "pending").count(), 1, "the refused one waits");
    assert_eq!(hooks.iter().filter(|r| r.status == "sent").count(), 1);
    clock.set(at + 2 * 60_000);
    assert_eq!(sender.run(&cx).await.unwrap(), 1);
    let seen = got.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (headers, body) in &seen {
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        let timestamp: i64 = header("x-hatake-timestamp").parse().unwrap();
        assert_eq!(header("x-hatake-signature"), alerts::webhook_signature(&saved.webhook_secret, timestamp, body));
        assert!(header("x-hatake-idempotency-key").starts_with("alert:"));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["text"].as_str().unwrap().contains("PDFから製品ページ"), "a Slack- and Teams-style text");
    }
    assert!(store
        .list_outbox(None, None, 50)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind == "webhook")
        .all(|r| r.status == "sent"));

    // A receiver that keeps failing: tried with back-off, then given up with the failure kept;
    // a 4xx is given up at once.
    for (answers, tries) in [(vec![503], 9), (vec![404], 1)] {
        let (hook, got) = receiver(answers).await;
        let mut config = alerts::config(store).await.unwrap();
        config.rules[0].webhook_url = Some(hook);
        alerts::save_config(store, &config, clock.now()).await.unwrap();
        let now = clock.now() + 25 * HOUR;
        clock.set(now);
        store
            .append_events(&[view(Some(owned), None, "https://example.jp/erp?utm_source=pdf", true, now)], now)
            .await
            .unwrap();
        AlertWorker::run(&cx).await.unwrap();
        let id = store.alerts(&all(None)).await.unwrap()[0].id;
        let key = format!("alert:{id}:webhook");
        for _ in 0..12 {
            sender.run(&cx).await.unwrap();
            clock.advance(Duration::from_secs(25 * 3_600));
        }
        let row = store.outbox_by_key(&key).await.unwrap().unwrap();
        assert_eq!(row.status, "failed", "{row:?}");
        assert_eq!(got.lock().unwrap().len(), tries);
        assert!(row.last_error.as_deref().unwrap().starts_with("HTTP "), "{row:?}");
    }
}

fn all(after: Option<i64>) -> AlertQuery {
    AlertQuery { owner: AlertFor::Anyone, unread_only: false, before: None, after, limit: 100 }
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

both!(alerts_work, alerts_work_sqlite, alerts_work_postgres);
