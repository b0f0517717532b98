//! The JSON API over real HTTP: CRUD, cursor pagination, and what each kind of bad input gets.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{spawn_app, Backend, TestApp};

async fn send(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.api(method, path, &app.admin_token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn lead_body(email: &str) -> Value {
    json!({
        "company_name": "株式会社ひまわり商事", "family_name": "山田", "given_name": "太郎",
        "family_name_kana": "ヤマダ", "email": email, "phone": "03-1234-5678",
        "department": "情報システム部", "title": "課長", "prefecture": "東京都"
    })
}

#[tokio::test]
async fn crud_for_accounts_leads_and_products() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, product) =
        send(&app, Method::POST, "/api/v1/products", Some(json!({"code": "erp", "name": "クラウドERP"}))).await;
    assert_eq!(status, 201, "{product}");
    let product_id = product["id"].as_i64().unwrap();

    let (status, account) = send(
        &app,
        Method::POST,
        "/api/v1/accounts",
        Some(json!({"name": "(株)ひまわり商事", "corporate_number": "7000012050002", "domains": ["himawari.co.jp"]})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    assert_eq!(account["name_normalized"], "ひまわり商事");
    let account_id = account["id"].as_i64().unwrap();

    let mut body = lead_body("taro@himawari.co.jp");
    body["account_id"] = json!(account_id);
    body["product_ids"] = json!([product_id]);
    let (status, lead) = send(&app, Method::POST, "/api/v1/leads", Some(body)).await;
    assert_eq!(status, 201, "{lead}");
    assert_eq!(lead["kind"], "lead");
    assert_eq!(lead["account_name"], "(株)ひまわり商事");
    assert_eq!(lead["product_ids"], json!([product_id]));
    let lead_id = lead["id"].as_i64().unwrap();

    // PATCH is a merge patch: null clears, absent keeps.
    let (status, lead) = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/leads/{lead_id}"),
        Some(json!({"title": null, "source": "展示会"})),
    )
    .await;
    assert_eq!(status, 200, "{lead}");
    assert_eq!(lead["title"], Value::Null);
    assert_eq!(lead["source"], "展示会");
    assert_eq!(lead["family_name"], "山田");
    assert_eq!(lead["kind"], "list");
    assert_eq!(lead["missing_fields"], json!(["title"]));

    let (status, page) =
        send(&app, Method::GET, &format!("/api/v1/leads?product_id={product_id}&q=ひまわり"), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    let (status, account) = send(&app, Method::GET, &format!("/api/v1/accounts/{account_id}"), None).await;
    assert_eq!((status, account["lead_count"].as_i64()), (200, Some(1)));

    // Field sales may read but not delete.
    let response = app.api(Method::DELETE, &format!("/api/v1/leads/{lead_id}"), &app.field_token).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "forbidden");

    let (status, _) = send(&app, Method::DELETE, &format!("/api/v1/leads/{lead_id}"), None).await;
    assert_eq!(status, 204);
    let (status, error) = send(&app, Method::GET, &format!("/api/v1/leads/{lead_id}"), None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, _) = send(&app, Method::DELETE, &format!("/api/v1/products/{product_id}"), None).await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn cursor_pagination_visits_every_lead_once() {
    let app = spawn_app(Backend::Sqlite).await;
    for i in 0..25 {
        let (status, body) =
            send(&app, Method::POST, "/api/v1/leads", Some(lead_body(&format!("p{i}@example.jp")))).await;
        assert_eq!(status, 201, "{body}");
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/leads?limit=10&sort=created".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = send(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        seen.extend(page["data"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/leads?limit=10&sort=created&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (25, 25));
    let (status, error) = send(&app, Method::GET, "/api/v1/leads?cursor=garbage", None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (400, Some("invalid_cursor")));
    let (status, error) = send(&app, Method::GET, "/api/v1/leads?kind=hot", None).await;
    assert_eq!((status, error["error"]["code"].as_str()), (400, Some("invalid_parameter")));
}

/// Each kind of bad input gets its own error, and none changes what is stored.
async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, account) = send(
        &app,
        Method::POST,
        "/api/v1/accounts",
        Some(json!({"name": "東和精機", "corporate_number": "1180301018771"})),
    )
    .await;
    let account_id = account["id"].as_i64().unwrap();
    let (status, lead) = send(&app, Method::POST, "/api/v1/leads", Some(lead_body("taro@towa.co.jp"))).await;
    assert_eq!(status, 201);
    let lead_id = lead["id"].as_i64().unwrap();
    let before = (app.store.overview().await.unwrap(), app.store.get_lead(lead_id).await.unwrap());

    // Invalid corporate number (wrong check digit), on create and on update.
    let (status, error) =
        send(&app, Method::POST, "/api/v1/accounts", Some(json!({"name": "X社", "corporate_number": "8000012050002"})))
            .await;
    assert_eq!((status, error["error"]["code"].as_str()), (422, Some("validation_failed")));
    assert_eq!(error["error"]["fields"][0]["field"], "corporate_number");
    assert_eq!(error["error"]["fields"][0]["code"], "check_digit_mismatch");
    assert!(error["error"]["fields"][0]["message_ja"].as_str().unwrap().contains("チェックディジット"));
    let (status, _) = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/accounts/{account_id}"),
        Some(json!({"corporate_number": "1234567890123"})),
    )
    .await;
    assert_eq!(status, 422);

    // Invalid e-mail.
    let (status, error) = send(&app, Method::POST, "/api/v1/leads", Some(lead_body("not-an-email"))).await;
    assert_eq!((status, error["error"]["fields"][0]["code"].as_str()), (422, Some("invalid_email")));
    let (status, _) =
        send(&app, Method::PATCH, &format!("/api/v1/leads/{lead_id}"), Some(json!({"email": "a@b"}))).await;
    assert_eq!(status, 422);

    // Duplicate e-mail (case-insensitively).
    let (status, error) = send(&app, Method::POST, "/api/v1/leads", Some(lead_body("TARO@towa.co.jp"))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (409, Some("conflict")));
    assert_eq!(error["error"]["fields"][0]["field"], "email");

    // Oversized body.
    let huge = json!({"family_name": "x".repeat(hatake_web::MAX_BODY_BYTES + 10)});
    let (status, error) = send(&app, Method::POST, "/api/v1/leads", Some(huge)).await;
    assert_eq!((status, error["error"]["code"].as_str()), (413, Some("payload_too_large")));

    // Malformed JSON, JSON of the wrong shape, and no JSON content type.
    let response = app
        .api(Method::POST, "/api/v1/leads", &app.admin_token)
        .header("content-type", "application/json")
        .body("{\"family_name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "malformed_json");
    let (status, error) = send(&app, Method::POST, "/api/v1/leads", Some(json!({"shoe_size": 27}))).await;
    assert_eq!((status, error["error"]["code"].as_str()), (422, Some("invalid_field")));
    let response = app.api(Method::POST, "/api/v1/leads", &app.admin_token).body("family_name=x").send().await.unwrap();
    assert_eq!(response.status(), 415);

    // Unknown ids: in the path, and as links.
    for path in ["/api/v1/leads/999999", "/api/v1/accounts/999999", "/api/v1/products/999999", "/api/v1/leads/abc"] {
        let (status, error) = send(&app, Method::GET, path, None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (404, Some("not_found")), "{path}");
    }
    let (status, _) = send(&app, Method::PATCH, "/api/v1/leads/999999", Some(json!({"title": "部長"}))).await;
    assert_eq!(status, 404);
    let (status, _) = send(&app, Method::DELETE, "/api/v1/accounts/999999", None).await;
    assert_eq!(status, 404);
    let mut body = lead_body("new@towa.co.jp");
    body["account_id"] = json!(999_999);
    let (status, error) = send(&app, Method::POST, "/api/v1/leads", Some(body)).await;
    assert_eq!((status, error["error"]["fields"][0]["field"].as_str()), (422, Some("account_id")));

    // No token, a wrong token.
    let response = reqwest::get(app.url("/api/v1/leads")).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    let response = app.api(Method::GET, "/api/v1/leads", "hk_wrong").send().await.unwrap();
    assert_eq!(response.status(), 401);

    let after = (app.store.overview().await.unwrap(), app.store.get_lead(lead_id).await.unwrap());
    assert_eq!(format!("{:?}", before.0), format!("{:?}", after.0), "counts changed");
    assert_eq!(before.1, after.1, "the stored lead changed");
    let account_after = app.store.get_account(account_id).await.unwrap();
    assert_eq!(account_after.corporate_number.as_deref(), Some("1180301018771"));
}

#[tokio::test]
async fn sqlite_bad_input_is_refused_and_changes_nothing() {
    bad_input_is_refused_and_changes_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_bad_input_is_refused_and_changes_nothing() {
    bad_input_is_refused_and_changes_nothing(Backend::Postgres).await;
}

/// `POST /api/v1/leads/resolve` goes through name-matching like an import row: a new person,
/// the same body again, a respelt record of the same person, a fuzzy one for a person to
/// decide, and bad input that stores nothing.
async fn resolve_matches_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let resolve = |body: Value| send(&app, Method::POST, "/api/v1/leads/resolve", Some(body));
    let mut first = lead_body("taro.yamada@himawari.co.jp");
    first["source"] = json!("展示会2026春");
    let (status, created) = resolve(first.clone()).await;
    assert_eq!((status, created["outcome"].as_str()), (201, Some("created")), "{created}");
    assert_eq!(created["lead"]["department_class"], "it");
    assert_eq!(created["reviews"], json!([]));
    let lead_id = created["lead"]["id"].as_i64().unwrap();

    // The very same body again changes nothing.
    let (status, again) = resolve(first.clone()).await;
    assert_eq!((status, again["outcome"].as_str()), (200, Some("unchanged")), "{again}");
    assert_eq!(again["lead"]["id"], lead_id);
    assert_eq!(again["lead"]["updated_at"], created["lead"]["updated_at"]);

    // The same person respelt, from another channel, with a new title.
    let respelt = json!({
        "company_name": "(株)ひまわり商事", "family_name": "山田", "given_name": "太郎",
        "email": "TARO.YAMADA@HIMAWARI.CO.JP", "phone": "０３－１２３４－５６７８",
        "title": "部長", "source": "資料請求フォーム"
    });
    let (status, merged) = resolve(respelt).await;
    assert_eq!((status, merged["outcome"].as_str()), (200, Some("merged")), "{merged}");
    assert_eq!(merged["lead"]["id"], lead_id);
    assert_eq!(merged["lead"]["title"], "部長");
    assert_eq!(merged["lead"]["company_name"], "株式会社ひまわり商事", "the legal form in full stays");
    assert_eq!(merged["lead"]["email"], "taro.yamada@himawari.co.jp");
    assert_eq!(merged["lead"]["source"], "展示会2026春", "the first source stays the lead's source");
    let sources = app.store.lead_sources(lead_id).await.unwrap();
    let named: Vec<(&str, Option<&str>, &str)> =
        sources.iter().map(|s| (s.channel.as_str(), s.source.as_deref(), s.outcome.as_str())).collect();
    assert!(named.contains(&("api", Some("展示会2026春"), "created")), "{named:?}");
    assert!(named.contains(&("api", Some("展示会2026春"), "unchanged")), "{named:?}");
    assert!(named.contains(&("api", Some("資料請求フォーム"), "merged")), "{named:?}");
    let (_, shown) = send(&app, Method::GET, &format!("/api/v1/leads/{lead_id}"), None).await;
    assert_eq!(shown["title"], "部長");

    // No e-mail, a typo in the given name, no reading: a new lead and a question.
    let fuzzy = json!({
        "company_name": "株式会社ひまわり商事", "family_name": "山田", "given_name": "太朗",
        "phone": "03-1234-5678", "prefecture": "東京都", "source": "名刺交換"
    });
    let (status, review) = resolve(fuzzy).await;
    assert_eq!((status, review["outcome"].as_str()), (201, Some("review")), "{review}");
    let new_id = review["lead"]["id"].as_i64().unwrap();
    assert_ne!(new_id, lead_id);
    let questions = review["reviews"].as_array().unwrap();
    let question = questions.iter().find(|q| q["kind"] == "lead").expect("a question about the person");
    assert_eq!(question["candidate_id"], lead_id);
    let review_id = question["id"].as_i64().unwrap();
    let (client, _) = app.sign_in("admin@example.jp").await;
    let queue = client.get(app.url("/reviews")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains(&format!("id=\"review-{review_id}\"")), "the question waits in the queue");
    assert!(queue.contains(&format!("/leads/{new_id}")) && queue.contains(&format!("/leads/{lead_id}")));

    // Bad input: refused with its code, and nothing is stored.
    let before = (app.store.overview().await.unwrap(), app.store.lead_sources(lead_id).await.unwrap().len());
    let reviews_before = app.store.count_reviews("open").await.unwrap();
    let mut bad = first.clone();
    bad["email"] = json!("not-an-email");
    let (status, error) = resolve(bad).await;
    assert_eq!((status, error["error"]["code"].as_str()), (422, Some("validation_failed")), "{error}");
    assert_eq!(error["error"]["fields"][0]["code"], "invalid_email");
    let mut unknown = first.clone();
    unknown["shoe_size"] = json!(27);
    let (status, error) = resolve(unknown).await;
    assert_eq!((status, error["error"]["code"].as_str()), (422, Some("invalid_field")), "{error}");
    let mut dangling = lead_body("someone@himawari.co.jp");
    dangling["product_ids"] = json!([999_999]);
    let (status, error) = resolve(dangling).await;
    assert_eq!((status, error["error"]["fields"][0]["field"].as_str()), (422, Some("product_ids")), "{error}");
    let response =
        app.api(Method::POST, "/api/v1/leads/resolve", &app.admin_token).body(first.to_string()).send().await.unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "unsupported_media_type");
    let response = app.api(Method::POST, "/api/v1/leads/resolve", "hk_wrong").json(&first).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let after = (app.store.overview().await.unwrap(), app.store.lead_sources(lead_id).await.unwrap().len());
    assert_eq!(format!("{before:?}"), format!("{after:?}"), "bad input stored something");
    assert_eq!(app.store.count_reviews("open").await.unwrap(), reviews_before);
}

#[tokio::test]
async fn sqlite_resolve_matches_names() {
    resolve_matches_names(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_resolve_matches_names() {
    resolve_matches_names(Backend::Postgres).await;
}

#[tokio::test]
async fn openapi_document_is_public_and_lists_the_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/leads/{id}"]["patch"].is_object());
    assert!(doc["paths"]["/api/v1/accounts"]["get"].is_object());
    let resolve = &doc["paths"]["/api/v1/leads/resolve"]["post"];
    assert_eq!(
        resolve["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Resolution"
    );
    assert_eq!(
        doc["components"]["schemas"]["Resolution"]["properties"]["outcome"]["enum"],
        json!(["created", "merged", "unchanged", "review"])
    );
}
