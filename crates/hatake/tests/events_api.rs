//! `POST /api/v1/events` over real HTTP on both backends: batches as a JSON array and as NDJSON,
//! idempotency keys, per-item errors, and what each kind of bad input gets.

mod support;

use hatake_store::{EventQuery, EventStore};
use reqwest::Method;
use serde_json::{json, Value};
use support::{spawn_app, Backend, TestApp};

async fn post(app: &TestApp, token: &str, content_type: &str, body: String) -> (u16, Value) {
    let response = app
        .api(Method::POST, "/api/v1/events", token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post_json(app: &TestApp, body: &Value) -> (u16, Value) {
    post(app, &app.admin_token, "application/json", body.to_string()).await
}

async fn stored(app: &TestApp, lead_id: i64) -> Vec<hatake_store::EventRow> {
    app.store.lead_events(lead_id, &EventQuery { limit: 100, ..EventQuery::default() }).await.expect("events")
}

async fn events_are_taken_once_and_bad_ones_alone_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = |path: &'static str, body: Value| {
        let request = app.api(Method::POST, path, &app.admin_token).json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert_eq!(response.status().as_u16(), 201);
            response.json::<Value>().await.expect("json")
        }
    };
    let lead =
        created("/api/v1/leads", json!({"family_name": "山田", "given_name": "太郎", "email": "taro@himawari.co.jp"}))
            .await;
    let lead_id = lead["id"].as_i64().unwrap();
    let product = created("/api/v1/products", json!({"code": "erp", "name": "クラウドERP"})).await;
    let product_id = product["id"].as_i64().unwrap();

    let batch = json!([
        {"kind": "page_view", "lead_id": lead_id, "occurred_at": "2026-11-20T10:00:00+09:00",
         "properties": {"url": "https://example.jp/erp", "utm_source": "mail"}, "idempotency_key": "pv-1"},
        {"kind": "download", "email": "TARO@HIMAWARI.CO.JP", "product_id": product_id, "idempotency_key": "dl-1",
         "occurred_at": "2026-11-21T09:00:00Z"},
        {"kind": "page_view", "visitor_id": "v_123", "properties": {"url": "https://example.jp/"}},
        {"kind": "pageview", "lead_id": lead_id},
        {"kind": "call", "lead_id": 999999},
        {"kind": "call", "email": "nobody@example.jp"},
        {"kind": "meeting", "lead_id": lead_id, "product_id": 424242},
        {"kind": "page_view", "lead_id": lead_id, "idempotency_key": "pv-1"},
        {"kind": "call", "lead": lead_id},
        {"kind": "custom", "lead_id": lead_id, "name": "価格表を印刷", "occurred_at": "2026-11-19T12:00:00Z"}
    ]);
    let (status, report) = post_json(&app, &batch).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["created"].as_u64(), report["duplicates"].as_u64(), report["rejected"].as_u64()),
        (Some(4), Some(1), Some(5)),
        "{report}"
    );
    let results = report["results"].as_array().unwrap();
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "created",
            "created",
            "created",
            "rejected",
            "rejected",
            "rejected",
            "rejected",
            "duplicate",
            "rejected",
            "created"
        ]
    );
    // Each rejected event says which field and why, in both languages.
    let first_error = |i: usize| {
        (results[i]["errors"][0]["field"].as_str().unwrap(), results[i]["errors"][0]["code"].as_str().unwrap())
    };
    assert_eq!(first_error(3), ("kind", "unknown_event_kind"));
    assert_eq!(first_error(4), ("lead_id", "not_found"));
    assert_eq!(first_error(5), ("email", "not_found"));
    assert_eq!(first_error(6), ("product_id", "not_found"));
    assert_eq!(first_error(8), ("event", "invalid_field"));
    assert!(results[4]["errors"][0]["message_ja"].as_str().unwrap().contains("999999"));
    // The repeated key answers with the event stored first.
    assert_eq!(results[7]["id"], results[0]["id"]);

    let events = stored(&app, lead_id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["download", "page_view", "custom"], "newest first");
    assert_eq!(events[0].product_id, Some(product_id));
    assert!(events[1].properties.contains("utm_source"));
    assert_eq!(events[2].name.as_deref(), Some("価格表を印刷"));
    // Filters by kind and product, and the next page.
    let only = |kind: Option<&str>, product: Option<i64>| EventQuery {
        kind: kind.map(str::to_owned),
        product_id: product,
        limit: 10,
        ..EventQuery::default()
    };
    assert_eq!(app.store.lead_events(lead_id, &only(Some("page_view"), None)).await.unwrap().len(), 1);
    assert_eq!(app.store.lead_events(lead_id, &only(None, Some(product_id))).await.unwrap().len(), 1);
    let next = EventQuery { before: Some((events[0].occurred_at, events[0].id)), limit: 10, ..EventQuery::default() };
    assert_eq!(app.store.lead_events(lead_id, &next).await.unwrap().len(), 2);

    // The same batch again: the keyed events are duplicates, the unkeyed ones new.
    let (_, again) = post_json(&app, &batch).await;
    assert_eq!((again["created"].as_u64(), again["duplicates"].as_u64()), (Some(2), Some(3)), "{again}");

    // NDJSON, with an unreadable line that fails alone.
    let ndjson = format!(
        "{}\n\n{{not json\n{}\n",
        json!({"kind": "mail_open", "lead_id": lead_id, "idempotency_key": "mo-1"}),
        json!({"kind": "mail_click", "lead_id": lead_id, "properties": {"url": "https://example.jp/erp"}})
    );
    let (status, report) = post(&app, &app.admin_token, "application/x-ndjson", ndjson).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["created"].as_u64(), report["rejected"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["results"][1]["errors"][0]["code"], "malformed_json");
    assert!(report["results"][1]["errors"][0]["message_en"].as_str().unwrap().contains("Line 3"));

    // An event naming a lead and a product that are both missing is told both.
    let (_, report) = post_json(
        &app,
        &json!([{"kind": "call", "lead_id": 999998, "product_id": 424242},
                                              {"kind": "call", "email": "nobody@example.jp", "product_id": 424242}]),
    )
    .await;
    for result in report["results"].as_array().unwrap() {
        let fields: Vec<&str> =
            result["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert!(fields == ["lead_id", "product_id"] || fields == ["email", "product_id"], "{report}");
    }

    // Whole-request errors store nothing.
    let before = stored(&app, lead_id).await.len();
    let (status, error) = post(&app, &app.admin_token, "application/json", "[{".into()).await;
    assert_eq!((status, error["error"]["code"].as_str()), (400, Some("malformed_json")), "{error}");
    let (status, error) = post(&app, &app.admin_token, "text/plain", "[]".into()).await;
    assert_eq!((status, error["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let (status, error) = post(&app, &app.admin_token, "application/json", "42".into()).await;
    assert_eq!((status, error["error"]["code"].as_str()), (400, Some("malformed_json")));
    let too_many: Vec<Value> = (0..10_001).map(|_| json!({"kind": "call", "lead_id": lead_id})).collect();
    let (status, error) = post_json(&app, &Value::Array(too_many)).await;
    assert_eq!((status, error["error"]["code"].as_str()), (413, Some("too_many_events")), "{error}");
    let (status, _) = post(&app, "hk_not_a_token", "application/json", "[]".into()).await;
    assert_eq!(status, 401);
    assert_eq!(stored(&app, lead_id).await.len(), before, "nothing stored by refused requests");

    // A deleted lead takes its events with it.
    let response = app.api(Method::DELETE, &format!("/api/v1/leads/{lead_id}"), &app.admin_token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert!(stored(&app, lead_id).await.is_empty());
}

#[tokio::test]
async fn sqlite_events_are_taken_once_and_bad_ones_alone_are_refused() {
    events_are_taken_once_and_bad_ones_alone_are_refused(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_events_are_taken_once_and_bad_ones_alone_are_refused() {
    events_are_taken_once_and_bad_ones_alone_are_refused(Backend::Postgres).await;
}

/// Concurrent requests are committed together (group commit) yet answered as if one came after
/// the other: a key sent by several requests at once is created by exactly one of them, and the
/// others name the event it created.
async fn concurrent_batches_take_each_key_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let lead: Value = app
        .api(Method::POST, "/api/v1/leads", &app.admin_token)
        .json(&json!({"family_name": "山田", "email": "taro@himawari.co.jp"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lead_id = lead["id"].as_i64().unwrap();
    const REQUESTS: usize = 8;
    const SHARED: usize = 50;
    const OWN: usize = 100;
    let requests = (0..REQUESTS).map(|r| {
        let mut events: Vec<Value> = (0..SHARED)
            .map(|i| json!({"kind": "page_view", "lead_id": lead_id, "idempotency_key": format!("shared-{i}")}))
            .collect();
        events.extend((0..OWN).map(
            |i| json!({"kind": "mail_open", "email": "taro@himawari.co.jp", "idempotency_key": format!("own-{r}-{i}")}),
        ));
        events.push(json!({"kind": "call", "lead_id": 424242}));
        app.api(Method::POST, "/api/v1/events", &app.admin_token).json(&Value::Array(events))
    });
    // All at once, each on a task of its own.
    let mut running = tokio::task::JoinSet::new();
    for request in requests {
        running.spawn(async move {
            let response = request.send().await.expect("request");
            (response.status().as_u16(), response.json::<Value>().await.expect("json"))
        });
    }
    let reports = running.join_all().await;
    let mut shared_ids: Vec<Option<i64>> = vec![None; SHARED];
    let mut created_shared = vec![0; SHARED];
    for (status, report) in &reports {
        assert_eq!(*status, 200, "{report}");
        assert_eq!(report["rejected"].as_u64(), Some(1), "{report}");
        let results = report["results"].as_array().unwrap();
        for (i, result) in results.iter().take(SHARED).enumerate() {
            let id = result["id"].as_i64().expect("an id for created and duplicate");
            assert_eq!(*shared_ids[i].get_or_insert(id), id, "every request names the same event for shared-{i}");
            if result["status"] == "created" {
                created_shared[i] += 1;
            } else {
                assert_eq!(result["status"], "duplicate");
            }
        }
        assert!(results[SHARED..SHARED + OWN].iter().all(|r| r["status"] == "created"), "{report}");
    }
    assert_eq!(created_shared, vec![1; SHARED], "each shared key created once");
    let created: u64 = reports.iter().map(|(_, r)| r["created"].as_u64().unwrap()).sum();
    assert_eq!(created, (SHARED + REQUESTS * OWN) as u64);
    let stored = app.store.lead_events(lead_id, &EventQuery { limit: 10_000, ..EventQuery::default() }).await.unwrap();
    assert_eq!(stored.len(), SHARED + REQUESTS * OWN);
}

#[tokio::test]
async fn sqlite_concurrent_batches_take_each_key_once() {
    concurrent_batches_take_each_key_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_concurrent_batches_take_each_key_once() {
    concurrent_batches_take_each_key_once(Backend::Postgres).await;
}

/// A request whose events the store refuses (here: a lead that is gone) fails alone, even when
/// its events were in one group with those of other requests.
async fn a_failing_request_does_not_fail_its_group(backend: Backend) {
    let app = spawn_app(backend).await;
    let lead =
        hatake_domain::LeadInput { family_name: Some("山田".into()), ..Default::default() }.validate(&[]).unwrap();
    let lead_id = app.store.create_lead(&lead, false, 1).await.unwrap().id;
    let writer = hatake_engine::runtime::event_writer::EventWriter::new(app.store.clone(), Default::default());
    // An event whose lead was looked up already (`EventLead::None` and `lead_id` set): a lead id
    // that is not stored fails the write itself.
    let event = |lead: i64, key: &str| hatake_store::PendingEvent {
        lead: hatake_store::EventLead::None,
        event: hatake_store::NewEvent {
            kind: "call",
            lead_id: Some(lead),
            visitor_id: None,
            product_id: None,
            occurred_at: 1,
            source: None,
            name: None,
            properties: "{}".into(),
            idempotency_key: Some(key.into()),
        },
    };
    let created = |fates: Vec<hatake_store::Resolved>| {
        fates.iter().all(|f| matches!(f, hatake_store::Resolved::Appended(hatake_store::Appended::Created(_))))
    };
    // Sent before the writer runs (this test's runtime has one thread): one group of three.
    let (good, bad, later) = tokio::join!(
        writer.append(vec![event(lead_id, "a"), event(lead_id, "b")], 10),
        writer.append(vec![event(lead_id, "c"), event(lead_id + 1000, "d")], 10),
        writer.append(vec![event(lead_id, "e")], 10),
    );
    assert_eq!(
        writer.stats(),
        hatake_engine::runtime::event_writer::WriterStats { groups: 1, requests: 3, events: 5, unawaited: 0 }
    );
    assert!(created(good.unwrap()));
    assert!(bad.is_err(), "the missing lead fails its request");
    assert!(created(later.unwrap()));
    let kinds = stored(&app, lead_id).await;
    let keys: std::collections::BTreeSet<String> = kinds.into_iter().filter_map(|e| e.idempotency_key).collect();
    assert_eq!(keys, ["a", "b", "e"].into_iter().map(String::from).collect(), "nothing of the failed request");
}

#[tokio::test]
async fn sqlite_a_failing_request_does_not_fail_its_group() {
    a_failing_request_does_not_fail_its_group(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_failing_request_does_not_fail_its_group() {
    a_failing_request_does_not_fail_its_group(Backend::Postgres).await;
}

/// An event the server acknowledged survives `kill -9` of the server right after the response.
#[tokio::test]
async fn acknowledged_events_survive_a_kill_of_the_server() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let (token, lead_id) = {
        let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("store");
        let admin = support::add_user(&store, "admin@example.jp", "管理 太郎", "admin").await;
        let token = support::add_token(&store, &admin).await;
        let lead = hatake_domain::LeadInput { family_name: Some("山田".into()), ..Default::default() }
            .validate(&[])
            .expect("lead");
        let lead = hatake_store::LeadStore::create_lead(&store, &lead, false, 1).await.expect("create");
        (token, lead.id)
    };
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_hatake"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("server");
    // The server logs to its standard output: read it to the end on a thread of its own.
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let stdout = server.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                let _ = url_tx.send(url.to_owned());
            }
        }
    });
    let url = url_rx.recv_timeout(std::time::Duration::from_secs(30)).expect("URL printed");
    let client = reqwest::Client::new();
    let mut acknowledged = 0;
    for batch in 0..5 {
        let events: Vec<Value> = (0..200)
            .map(|i| json!({"kind": "page_view", "lead_id": lead_id, "idempotency_key": format!("{batch}-{i}")}))
            .collect();
        let response =
            client.post(format!("{url}api/v1/events")).bearer_auth(&token).json(&events).send().await.expect("post");
        assert_eq!(response.status().as_u16(), 200);
        let report: Value = response.json().await.expect("report");
        acknowledged += report["created"].as_u64().unwrap();
    }
    server.kill().expect("kill -9"); // SIGKILL: no shutdown, no flush
    server.wait().expect("reaped");
    assert_eq!(acknowledged, 1000);
    let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("reopen");
    let events =
        store.lead_events(lead_id, &EventQuery { limit: 5000, ..EventQuery::default() }).await.expect("events");
    assert_eq!(events.len(), 1000, "every acknowledged event is stored");
}

/// The lead page shows the lead's events newest first, filtered by kind and product, 50 a page.
#[tokio::test]
async fn the_lead_page_shows_its_timeline_filtered_and_paged() {
    let app = spawn_app(Backend::Sqlite).await;
    let lead: Value = app
        .api(Method::POST, "/api/v1/leads", &app.admin_token)
        .json(&json!({"family_name": "山田", "email": "taro@himawari.co.jp"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lead_id = lead["id"].as_i64().unwrap();
    let product: Value = app
        .api(Method::POST, "/api/v1/products", &app.admin_token)
        .json(&json!({"code": "erp", "name": "クラウドERP"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut events: Vec<Value> = (0..55)
        .map(|i| {
            json!({"kind": "page_view", "lead_id": lead_id, "occurred_at": format!("2026-11-01T10:{i:02}:00+09:00"),
                        "properties": {"url": format!("https://example.jp/p{i}")}})
        })
        .collect();
    events.push(json!({"kind": "download", "lead_id": lead_id, "product_id": product["id"], "source": "資料請求LP",
                       "occurred_at": "2026-11-20T09:00:00+09:00", "properties": {"utm_campaign": "autumn"}}));
    let (status, report) = post_json(&app, &Value::Array(events)).await;
    assert_eq!((status, report["created"].as_u64()), (200, Some(56)), "{report}");

    let (client, _) = app.sign_in("sales@example.jp").await;
    let get = |path: String| {
        let client = client.clone();
        let url = app.url(&path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let page = get(format!("/leads/{lead_id}")).await;
    let timeline = &page[page.find("id=\"timeline\"").expect("timeline")..];
    // Newest first: the download (2026-11-20 09:00 JST) heads the list, with its product and source.
    let first = &timeline[timeline.find("<li class=\"event").unwrap()..];
    assert!(first.starts_with("<li class=\"event event-download\""), "{}", &first[..200]);
    for expected in ["資料ダウンロード", "クラウドERP", "資料請求LP", "キャンペーン", "2026-11-20 09:00"]
    {
        assert!(timeline.contains(expected), "{expected} missing");
    }
    assert_eq!(timeline.matches("<li class=\"event ").count(), 50, "50 a page");
    let next = timeline.split("href=\"/leads/").find(|s| s.contains("events_before")).expect("older link");
    let next = next.split('"').next().unwrap().replace("&amp;", "&");
    let older = get(format!("/leads/{next}")).await;
    let older = &older[older.find("id=\"timeline\"").unwrap()..];
    assert_eq!(older.matches("<li class=\"event ").count(), 6, "the rest on the next page");
    assert!(older.contains("p0</dd>") && !older.contains("さらに古い活動"), "the oldest event, no further page");

    // Filters: by kind, by product, and one that matches nothing.
    let downloads = get(format!("/leads/{lead_id}?event_kind=download")).await;
    assert_eq!(downloads.matches("<li class=\"event ").count(), 1);
    let by_product = get(format!("/leads/{lead_id}?event_product={}", product["id"])).await;
    assert_eq!(by_product.matches("<li class=\"event event-download").count(), 1);
    let none = get(format!("/leads/{lead_id}?event_kind=meeting")).await;
    assert!(none.contains("条件に合う活動はありません"));
    // A filter value that means nothing is ignored rather than failing the page.
    let odd = get(format!("/leads/{lead_id}?event_kind=nope&event_product=x&events_before=y")).await;
    assert_eq!(odd.matches("<li class=\"event ").count(), 50);
}

/// The account page shows its people's combined activity, each event naming its person.
#[tokio::test]
async fn the_account_page_shows_its_peoples_activity() {
    let app = spawn_app(Backend::Sqlite).await;
    let post_api = |path: &'static str, body: Value| {
        let request = app.api(Method::POST, path, &app.admin_token).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let account = post_api("/api/v1/accounts", json!({"name": "株式会社ひまわり商事"})).await;
    let other = post_api("/api/v1/accounts", json!({"name": "あおぞら工業株式会社"})).await;
    let taro =
        post_api("/api/v1/leads", json!({"family_name": "山田", "given_name": "太郎", "account_id": account["id"]}))
            .await;
    let hanako =
        post_api("/api/v1/leads", json!({"family_name": "鈴木", "given_name": "花子", "account_id": account["id"]}))
            .await;
    let outsider = post_api("/api/v1/leads", json!({"family_name": "佐藤", "account_id": other["id"]})).await;
    let (status, report) = post_json(
        &app,
        &json!([
            {"kind": "seminar_attendance", "lead_id": taro["id"], "occurred_at": "2026-11-10T14:00:00+09:00", "name": "DXセミナー"},
            {"kind": "meeting", "lead_id": hanako["id"], "occurred_at": "2026-11-15T10:00:00+09:00"},
            {"kind": "call", "lead_id": outsider["id"], "occurred_at": "2026-11-16T10:00:00+09:00"},
            {"kind": "page_view", "visitor_id": "web-1", "occurred_at": "2026-11-12T10:00:00+09:00",
             "properties": {"url": "https://example.jp/pricing"}},
            {"kind": "form_submit", "lead_id": hanako["id"], "visitor_id": "web-1", "occurred_at": "2026-11-12T10:05:00+09:00"}
        ]),
    )
    .await;
    assert_eq!((status, report["created"].as_u64()), (200, Some(5)), "{report}");
    let (client, _) = app.sign_in("sales@example.jp").await;
    let page = client.get(app.url(&format!("/accounts/{}", account["id"]))).send().await.unwrap().text().await.unwrap();
    let timeline = &page[page.find("id=\"timeline\"").expect("timeline")..];
    assert_eq!(timeline.matches("<li class=\"event ").count(), 4, "only this account's people");
    // The anonymous visit names the person the visitor turned out to be.
    let visit = &timeline[timeline.find("event-page_view").unwrap()..];
    let visit = &visit[..visit.find("</li>").unwrap()];
    assert!(visit.contains(&format!("<a href=\"/leads/{}\">鈴木 花子</a>", hanako["id"])), "{visit}");
    let meeting = timeline.find("event-meeting").unwrap();
    let seminar = timeline.find("event-seminar_attendance").unwrap();
    assert!(meeting < seminar, "newest first");
    assert!(timeline.contains(&format!("<a href=\"/leads/{}\">鈴木 花子</a>", hanako["id"])), "names its person");
    assert!(timeline.contains("DXセミナー") && timeline.contains("セミナー参加") && !timeline.contains("event-call"));
    let filtered = client
        .get(app.url(&format!("/accounts/{}?event_kind=meeting", account["id"])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(filtered.matches("<li class=\"event ").count(), 1);
}

/// Merging two leads moves the merged one's events and web visitors to the survivor (nothing is
/// lost with the merged lead), and undoing the merge moves them back.
async fn a_merge_moves_behaviour_and_its_undo_moves_it_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let lead = |email: &'static str| {
        let request = app
            .api(Method::POST, "/api/v1/leads", &app.admin_token)
            .json(&json!({"family_name": "山田", "given_name": "太郎", "email": email}));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap()["id"].as_i64().unwrap() }
    };
    let survivor = lead("taro@himawari.co.jp").await;
    let merged = lead("yamada.t@himawari.co.jp").await;
    let (status, report) = post_json(
        &app,
        &json!([
            {"kind": "meeting", "lead_id": survivor, "occurred_at": "2026-11-01T10:00:00Z"},
            {"kind": "download", "lead_id": merged, "occurred_at": "2026-11-02T10:00:00Z", "visitor_id": "browser-9"},
            {"kind": "page_view", "visitor_id": "browser-9", "occurred_at": "2026-11-03T10:00:00Z"}
        ]),
    )
    .await;
    assert_eq!((status, report["created"].as_u64()), (200, Some(3)), "{report}");
    assert_eq!(stored(&app, merged).await.len(), 2, "its download and its browser's page view");

    let data = hatake_store::LeadSnapshot::of(&app.store.get_lead(survivor).await.unwrap()).data().unwrap();
    let request =
        hatake_store::MergeRequest { survivor, merged, data: &data, is_lead: false, review_id: None, by: None };
    let merge = app.store.merge_leads(&request, 1).await.expect("merge");
    let kinds: Vec<String> = stored(&app, survivor).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["page_view", "download", "meeting"], "all three on the survivor");

    app.store.undo_merge(merge.id, None, 2).await.expect("undo");
    let kinds: Vec<String> = stored(&app, survivor).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["meeting"]);
    let kinds: Vec<String> = stored(&app, merged).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["page_view", "download"], "back with the lead, its browser too");
}

#[tokio::test]
async fn sqlite_a_merge_moves_behaviour_and_its_undo_moves_it_back() {
    a_merge_moves_behaviour_and_its_undo_moves_it_back(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_a_merge_moves_behaviour_and_its_undo_moves_it_back() {
    a_merge_moves_behaviour_and_its_undo_moves_it_back(Backend::Postgres).await;
}
