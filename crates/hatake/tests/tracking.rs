//! Web tracking over real HTTP: the script, the pixel (visitor ids, UTM parameters, bots and
//! internal IP ranges not counted), and its settings page.

mod support;

use hatake_store::EventQuery;
use support::{spawn_app, Backend, TestApp};

const BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

async fn hit(app: &TestApp, query: &str, agent: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(app.url(&format!("/t/p.gif{query}"))).header("user-agent", agent);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("pixel");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/gif");
    response
}

async fn visits(app: &TestApp, visitor: &str) -> Vec<hatake_store::EventRow> {
    app.store.visitor_events(visitor, &EventQuery { limit: 100, ..EventQuery::default() }).await.expect("events")
}

/// The visitor's events once the hits sent so far are written. A hit is answered after
/// `HIT_WAIT` even when its view is not committed yet (a busy machine; the event writer may
/// wait for its turn behind the scorer's write), so this waits until `want` are there (at most
/// 10 s), then a little longer, to see one too many as well.
async fn settled(app: &TestApp, visitor: &str, want: usize) -> Vec<hatake_store::EventRow> {
    let started = std::time::Instant::now();
    while visits(app, visitor).await.len() < want && started.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(hatake_web::tracking::HIT_WAIT + std::time::Duration::from_millis(300)).await;
    visits(app, visitor).await
}

#[tokio::test]
async fn page_views_are_recorded_except_bots_and_the_own_network() {
    let app = spawn_app(Backend::Sqlite).await;
    let script = reqwest::get(app.url("/t.js")).await.unwrap();
    assert_eq!(script.headers()["content-type"], "application/javascript; charset=utf-8");
    let script = script.text().await.unwrap();
    assert!(script.contains("hk_vid") && script.contains("/t/p.gif") && script.len() < 4096);

    // A page view from the script: visitor id, URL with its campaign, referrer and title.
    let url = "https%3A%2F%2Fexample.jp%2Ferp%3Futm_source%3Dpdf%26utm_campaign%3Dcatalog";
    let body = hit(&app, &format!("?v=abc123&u={url}&r=https%3A%2F%2Fwww.google.com%2F&t=ERP"), BROWSER, None)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(body.starts_with(b"GIF89a"));
    let events = settled(&app, "abc123", 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind.as_str(), events[0].lead_id), ("page_view", None));
    let properties: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
    assert_eq!(properties["utm_source"], "pdf");
    assert_eq!(properties["utm_campaign"], "catalog");
    assert_eq!(properties["referrer"], "https://www.google.com/");
    assert_eq!(properties["url"], "https://example.jp/erp?utm_source=pdf&utm_campaign=catalog");

    // Bots are not counted; a visitor id that cannot be one is not either — the image comes anyway.
    hit(&app, "?v=abc123&u=https%3A%2F%2Fexample.jp%2F", "Mozilla/5.0 (compatible; Googlebot/2.1)", None).await;
    hit(&app, "?v=abc123&u=https%3A%2F%2Fexample.jp%2F", "", None).await;
    hit(&app, "?v=not%20an%20id&u=https%3A%2F%2Fexample.jp%2F", BROWSER, None).await;
    assert_eq!(settled(&app, "abc123", 1).await.len(), 1);
    // A repeated parameter still gets the image (the first counts), and only the campaign
    // parameters of the URL are kept.
    hit(&app, "?v=abc123&v=zzz&u=https%3A%2F%2Fexample.jp%2F%3Futm_source%3Da%26utm_x%3Db", BROWSER, None).await;
    let events = settled(&app, "abc123", 2).await;
    assert_eq!(events.len(), 2);
    let properties: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
    assert_eq!((properties["utm_source"].as_str(), properties.get("utm_x")), (Some("a"), None));

    // The pixel alone (no script): it gives the browser an id in its own cookie and keeps it.
    let first = hit(&app, "", BROWSER, None).await;
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("hk_vid=") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/;"), "the hosted form pages see it too: {cookie}");
    let pair = cookie.split(';').next().unwrap().to_owned();
    let visitor = pair.trim_start_matches("hk_vid=").to_owned();
    let second = hit(&app, "", BROWSER, Some(&pair)).await;
    assert!(second.headers().get("set-cookie").is_none(), "the same id is kept");
    assert_eq!(settled(&app, &visitor, 2).await.len(), 2);

    // Hits from the organisation's own network (here: this machine) are not counted, once the
    // ranges are read again (they are kept for a few seconds).
    app.store.put_setting("tracking.internal_ranges", "# 本社\n127.0.0.0/8", 1).await.unwrap();
    tokio::time::sleep(hatake_web::tracking::INTERNAL_RANGES_TTL).await;
    hit(&app, "?v=abc123", BROWSER, None).await;
    assert_eq!(settled(&app, "abc123", 2).await.len(), 2);
    app.store.put_setting("tracking.internal_ranges", "10.0.0.0/8", 2).await.unwrap();
    tokio::time::sleep(hatake_web::tracking::INTERNAL_RANGES_TTL).await;
    hit(&app, "?v=abc123", BROWSER, None).await;
    assert_eq!(settled(&app, "abc123", 3).await.len(), 3);
}

/// Ranges saved on the settings page count within a few seconds, without a restart, and so
/// does removing them; meanwhile the ranges read before apply.
#[tokio::test]
async fn internal_ranges_saved_on_the_settings_page_count_within_seconds() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let save = |ranges: &'static str| {
        let request =
            client.post(app.url("/settings/tracking")).form(&[("_csrf", csrf.as_str()), ("internal_ranges", ranges)]);
        async move { assert_eq!(request.send().await.unwrap().status(), 303) }
    };
    // Counted, and the (empty) ranges are now read and kept.
    hit(&app, "?v=before", BROWSER, None).await;
    assert_eq!(settled(&app, "before", 1).await.len(), 1);

    // Until this machine's hits stop counting: how long, and never longer than a few seconds.
    let until_counted = |counted: bool| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            for n in 0.. {
                let visitor = format!("probe-{counted}-{n}");
                let at = started.elapsed();
                hit(app, &format!("?v={visitor}"), BROWSER, None).await;
                if !counted {
                    // A hit is answered after HIT_WAIT even when its view is not committed yet
                    // (a busy machine): a view missing at once may only be late.
                    tokio::time::sleep(hatake_web::tracking::HIT_WAIT + std::time::Duration::from_millis(300)).await;
                }
                if (visits(app, &visitor).await.len() == 1) == counted {
                    return at;
                }
                assert!(started.elapsed() < std::time::Duration::from_secs(10), "the change never took effect");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            unreachable!()
        }
    };
    save("127.0.0.0/8").await;
    let took = until_counted(false).await;
    assert!(took <= hatake_web::tracking::INTERNAL_RANGES_TTL + std::time::Duration::from_secs(1), "{took:?}");
    for n in 0..3 {
        let visitor = format!("internal-{n}");
        hit(&app, &format!("?v={visitor}"), BROWSER, None).await;
        assert!(settled(&app, &visitor, 0).await.is_empty(), "not counted once in force");
    }

    save("").await;
    let took = until_counted(true).await;
    assert!(took <= hatake_web::tracking::INTERNAL_RANGES_TTL + std::time::Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn the_tracking_settings_show_the_tag_and_check_each_range() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let page = client.get(app.url("/settings/tracking")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("t.js") && page.contains("p.gif") && page.contains("計測から除くIPアドレス範囲"));

    // A wrong line: nothing is stored, every wrong line is named, the text is kept as typed.
    let response = client
        .post(app.url("/settings/tracking"))
        .form(&[("_csrf", csrf.as_str()), ("internal_ranges", "192.168.0.0/16\nhonsha\n10.0.0.0/99")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("2行目") && page.contains("3行目") && page.contains("honsha"), "line errors");
    assert_eq!(app.store.get_setting("tracking.internal_ranges").await.unwrap(), None);

    let response = client
        .post(app.url("/settings/tracking"))
        .form(&[("_csrf", csrf.as_str()), ("internal_ranges", "192.168.0.0/16 # 本社\r\n203.0.113.5\r\n")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.store.get_setting("tracking.internal_ranges").await.unwrap().as_deref(),
        Some("192.168.0.0/16 # 本社\n203.0.113.5")
    );
    let page = client.get(app.url("/settings/tracking?saved=1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("203.0.113.5"));

    // Field sales may not change it.
    let (sales, csrf) = app.sign_in("sales@example.jp").await;
    let response = sales
        .post(app.url("/settings/tracking"))
        .form(&[("_csrf", csrf.as_str()), ("internal_ranges", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// When a visitor identifies (an event naming both the lead and the visitor, such as a form
/// sent from a tracked browser), the visitor's earlier and later page views join the lead's
/// timeline; the events themselves are not changed.
#[tokio::test]
async fn an_identified_visitors_history_joins_the_lead() {
    let app = spawn_app(Backend::Sqlite).await;
    let lead = |email: &'static str| {
        let request = app
            .api(reqwest::Method::POST, "/api/v1/leads", &app.admin_token)
            .json(&serde_json::json!({"family_name": "山田", "email": email}));
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap() }
    };
    let taro = lead("taro@himawari.co.jp").await;
    let jiro = lead("jiro@himawari.co.jp").await;
    let timeline = |id: i64| {
        let store = app.store.clone();
        async move { store.lead_events(id, &EventQuery { limit: 100, ..EventQuery::default() }).await.unwrap() }
    };
    hit(&app, "?v=visitor1&u=https%3A%2F%2Fexample.jp%2Fpricing", BROWSER, None).await;
    hit(&app, "?v=visitor1&u=https%3A%2F%2Fexample.jp%2Fcase-studies", BROWSER, None).await;
    assert!(timeline(taro).await.is_empty(), "anonymous so far");

    let identify = |lead_id: i64| {
        let request = app
            .api(reqwest::Method::POST, "/api/v1/events", &app.admin_token)
            .json(&serde_json::json!([{"kind": "form_submit", "lead_id": lead_id, "visitor_id": "visitor1"}]));
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    identify(taro).await;
    let events = timeline(taro).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["form_submit", "page_view", "page_view"], "the earlier visits joined");
    assert!(events[1..].iter().all(|e| e.lead_id.is_none()), "the stored events are unchanged");
    hit(&app, "?v=visitor1&u=https%3A%2F%2Fexample.jp%2Fcontact", BROWSER, None).await;
    assert_eq!(timeline(taro).await.len(), 4, "and the later ones");

    // The first link stays: another lead naming the same browser gets only its own event.
    identify(jiro).await;
    assert_eq!(timeline(jiro).await.len(), 1);
    assert_eq!(timeline(taro).await.len(), 4);
}

/// A tracked link made under settings records the visit with its product and redirects to its
/// target, keeping the parameters it was called with; bad input to the form is refused by field.
#[tokio::test]
async fn tracked_links_record_and_redirect_keeping_their_parameters() {
    let app = spawn_app(Backend::Sqlite).await;
    let product: serde_json::Value = app
        .api(reqwest::Method::POST, "/api/v1/products", &app.admin_token)
        .json(&serde_json::json!({"code": "erp", "name": "クラウドERP"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let create = |name: &str, url: &str, product: String| {
        client.post(app.url("/settings/tracking/links")).form(&[
            ("_csrf", csrf.as_str()),
            ("name", name),
            ("target_url", url),
            ("product_id", product.as_str()),
        ])
    };
    let refused = create("", "javascript:alert(1)", String::new()).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(page.contains("data-field=\"name\"") && page.contains("data-field=\"target_url\""), "each field named");
    assert!(page.contains("javascript:alert(1)"), "the input is kept");
    assert_eq!(create("x", "https://example.jp/", "999".into()).send().await.unwrap().status(), 422);
    assert_eq!(
        create("x", "https://example.jp/", "abc".into()).send().await.unwrap().status(),
        422,
        "not a product id"
    );
    assert!(app.store.list_tracked_links().await.unwrap().is_empty(), "nothing stored");

    let made = create("製品カタログPDF", "https://example.jp/erp?lang=ja#price", product["id"].to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 303);
    let links = app.store.list_tracked_links().await.unwrap();
    assert_eq!(links.len(), 1);
    let code = links[0].code.clone();
    let page = client.get(app.url("/settings/tracking")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&code) && page.contains("製品カタログPDF"));

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let visit = no_redirects
        .get(app.url(&format!("/t/l/{code}?utm_source=pdf&utm_medium=print")))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 302);
    assert_eq!(
        visit.headers()["location"],
        "https://example.jp/erp?lang=ja&utm_source=pdf&utm_medium=print#price",
        "the parameters survive the redirect"
    );
    let cookie = visit.headers()["set-cookie"].to_str().unwrap();
    let visitor = cookie.split(';').next().unwrap().trim_start_matches("hk_vid=").to_owned();
    let events = settled(&app, &visitor, 1).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].product_id, product["id"].as_i64());
    let properties: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
    assert_eq!((properties["link"].as_str(), properties["utm_source"].as_str()), (Some(code.as_str()), Some("pdf")));

    // A bot is redirected too, and not counted; an unknown code is a 404.
    let bot = no_redirects.get(app.url(&format!("/t/l/{code}"))).header("user-agent", "curl/8.5").send().await.unwrap();
    assert_eq!(bot.status(), 302);
    assert_eq!(app.store.list_tracked_links().await.unwrap().len(), 1);
    let unknown = no_redirects.get(app.url("/t/l/nosuchcode")).header("user-agent", BROWSER).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}
