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

#[tokio::test]
async fn openapi_document_is_public_and_lists_the_routes() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = reqwest::get(app.url("/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/leads/{id}"]["patch"].is_object());
    assert!(doc["paths"]["/api/v1/accounts"]["get"].is_object());
}
