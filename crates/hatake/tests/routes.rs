//! Walks every registered route and proves who may reach it: without a session pages redirect
//! to sign-in and the API answers 401; field sales, marketers and inside sales get 403 where
//! the table's access does not allow their role; an admin reaches every page.

mod support;

use hatake_domain::Role;
use hatake_web::{route_table, Access};
use reqwest::Method;
use serde_json::json;
use support::{spawn_app, Backend, TestApp};

/// Creates one record of each kind, so `{id}` = 1 names something everywhere.
async fn seed(app: &TestApp) {
    app.store.create_tracked_link("seedlink", "カタログ", "https://example.jp/", None, 1).await.expect("link");
    let form = r#"{"name":"資料請求","fields":[{"target":"email","label_ja":"メール","label_en":"E-mail","required":true}],
        "thank_you_ja":"ありがとうございました","thank_you_en":"Thank you"}"#;
    app.store.create_form("seedform", "資料請求", form, None, 1).await.expect("form");
    for (path, body) in [
        ("/api/v1/products", json!({"code": "erp", "name": "ERP"})),
        ("/api/v1/accounts", json!({"name": "東和精機"})),
        ("/api/v1/leads", json!({"family_name": "山田", "email": "y@example.jp", "account_id": 1})),
    ] {
        let response = app.api(Method::POST, path, &app.admin_token).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201, "{path}");
    }
    let def = hatake_domain::CustomFieldDef::parse("problem", "課題", "Problem", "text", "").unwrap();
    app.store.create_custom_field(&def, 0).await.unwrap();
    // Outbox row 1 (a mail not due for a day).
    let mail = hatake_engine::mail::OutgoingMail {
        from_address: "news@example.jp".into(),
        to_address: "y@example.jp".into(),
        subject: "ご案内".into(),
        text: "本文".into(),
        ..Default::default()
    };
    hatake_engine::mail::enqueue(app.store.as_ref(), "seed", Some(1), &mail, 86_400_000, 1).await.unwrap();
    // Mail template 1 (version 1).
    let draft = hatake_store::TemplateDraft {
        name: "ご案内".into(),
        kind: "transactional".into(),
        product_id: None,
        charset: "utf-8".into(),
        content: hatake_store::TemplateContent {
            subject: "{{ lead.family_name }}様".into(),
            html: "<p>{{ lead.full_name }} 様</p>".into(),
            text: String::new(),
        },
    };
    app.store.create_mail_template(&draft, None, 1).await.unwrap();
    // Segment 1.
    let definition =
        hatake_domain::segment::Definition::parse(r#"{"groups":[{"conditions":[{"type":"kind","lead":true}]}]}"#)
            .unwrap();
    app.store.create_segment("全リード", "", &definition, None, 1).await.unwrap();
    // Newsletter 1 (a draft of template 1).
    let newsletter = hatake_store::NewsletterDraft {
        name: "12月号".into(),
        template_id: 1,
        segment_id: Some(1),
        topic: "general".into(),
        ab_metric: "opens".into(),
        ab_wait_hours: 4,
        ..Default::default()
    };
    app.store.create_newsletter(&newsletter, None, 1).await.unwrap();
    // Task 1: a call about lead 1, in the pool.
    let task = hatake_store::NewTask {
        kind: "call".into(),
        lead_id: 1,
        product_id: Some(1),
        owner_id: None,
        title: "初回架電".into(),
        note: None,
        due_at: 1,
        sla_due_at: None,
        priority: 2,
        cause: "person".into(),
        cause_key: None,
        created_by: None,
        at: 1,
    };
    app.store.create_task(&task).await.unwrap();
    // Alert 1: about lead 1, for the pool.
    let alert = hatake_store::NewAlert {
        rule_id: "r1".into(),
        lead_id: 1,
        product_id: Some(1),
        user_id: None,
        title: "料金ページを閲覧：リード1".into(),
        detail: None,
        event_id: None,
        event_at: None,
        at: 1,
        dedupe_key: "r1:1:0".into(),
    };
    app.store.create_alert(&alert).await.unwrap();
    // Product 1's scoring model and MQL policy (so their exports exist), and lead 1's deal
    // (opportunity 1).
    let model = hatake_domain::scoring::ScoringModel::template().to_json();
    app.store.save_scoring_model(1, &model, None, 1).await.unwrap();
    let policy = hatake_domain::qualification::MqlPolicy::template().to_json();
    app.store.save_config(1, hatake_store::CONFIG_MQL_POLICY, &policy, None, 1).await.unwrap();
    let deal = hatake_store::StageMove {
        lead_id: 1,
        product_id: 1,
        from: None,
        to: "opportunity".into(),
        at: 1,
        by: None,
        reason: None,
        note: None,
        policy_version: None,
        mode: None,
        sla_due_at: None,
        opportunity: Some(hatake_store::NewOpportunity {
            name: "東和精機 ERP".into(),
            stage_key: "visited".into(),
            amount: None,
            expected_close_on: None,
            owner_id: None,
        }),
        detail: None,
    };
    app.store.move_stage(&deal).await.unwrap();
}

/// Imports a small file as the admin (import 1), and leaves a second upload waiting at its
/// mapping step; returns that upload's token.
async fn seed_import(app: &TestApp, admin: &reqwest::Client, csrf: &str) -> String {
    let file = "会社名,氏名,メールアドレス\n東和精機,佐藤 花子,hanako@towa.example.jp\n".as_bytes();
    let token = app.upload_token(admin, csrf, "seed.csv", file).await;
    let response =
        admin.post(app.url(&format!("/imports/uploads/{token}/commit"))).form(&[("_csrf", csrf)]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/imports/1?done=1");
    app.upload_token(admin, csrf, "waiting.csv", file).await
}

fn concrete(path: &str, token: &str, link: &str) -> String {
    path.replace("{id}", "1")
        .replace("{link}", link)
        .replace("{product}", "1")
        .replace("{token}", token)
        .replace("{code}", "seedlink")
        .replace("{slug}", "seedform")
        .replace("{version}", "1")
}

#[tokio::test]
async fn every_route_is_guarded_as_its_table_says() {
    let app = spawn_app(Backend::Sqlite).await;
    seed(&app).await;
    let table = route_table();
    assert!(table.len() > 30, "the table lists {} routes", table.len());
    let anonymous = app.browser();
    let (field, field_csrf) = app.sign_in("sales@example.jp").await;
    let (marketer, marketer_csrf) = app.sign_in("marketing@example.jp").await;
    let (inside, inside_csrf) = app.sign_in("is@example.jp").await;
    let (admin, admin_csrf) = app.sign_in("admin@example.jp").await;
    let token = seed_import(&app, &admin, &admin_csrf).await;
    // The preference page of lead 1's mail links.
    let key = hatake_engine::mail::subscriptions::link_key(app.store.as_ref(), 1).await.unwrap();
    let link = hatake_engine::mail::subscriptions::token(&key, 1);
    let forbidden_ja = hatake_web::i18n::t("ja", "error.forbidden");

    for spec in &table {
        let path = concrete(spec.path, &token, &link);
        let method = Method::from_bytes(spec.method.as_bytes()).unwrap();
        let url = app.url(&path);
        let response = anonymous.request(method.clone(), &url).send().await.unwrap();
        let status = response.status().as_u16();
        match spec.access {
            Access::Public => assert!(status < 500, "{} {path}: {status}", spec.method),
            Access::Api => assert_eq!(status, 401, "{} {path} without a token", spec.method),
            Access::SignedIn | Access::Configure | Access::Import | Access::Review | Access::Admin => {
                assert_eq!(status, 303, "{} {path} without a session", spec.method);
                let location = response.headers()["location"].to_str().unwrap();
                assert!(location.starts_with("/login"), "{path} redirects to {location}");
            }
        }

        // Roles: who must be refused.
        let roles = [
            (Role::FieldSales, &field, field_csrf.as_str()),
            (Role::Marketer, &marketer, marketer_csrf.as_str()),
            (Role::InsideSales, &inside, inside_csrf.as_str()),
        ];
        for (_, client, csrf) in roles.into_iter().filter(|(role, _, _)| !spec.access.allows(*role)) {
            let request = client.request(method.clone(), &url);
            let request = if spec.method == "POST" { request.form(&[("_csrf", csrf)]) } else { request };
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 403, "{} {path} must refuse this role", spec.method);
            let body = response.text().await.unwrap();
            assert!(body.contains(forbidden_ja), "{} {path}: refused for the wrong reason: {body}", spec.method);
        }

        // An admin reaches every page (a tracked link sends everyone on to its target).
        if spec.method == "GET" && spec.access != Access::Api {
            let response = admin.get(&url).send().await.unwrap();
            // A booking page needs the token only the form's sender gets.
            let expected = if spec.path.starts_with("/t/l/") {
                302
            } else if spec.path == "/alerts/{id}/open" {
                // Opening an alert reads it and goes on to its lead.
                303
            } else if spec.path.ends_with("/book") || spec.path.starts_with("/m/c/") {
                // A mail's link without its signature is refused.
                404
            } else {
                200
            };
            assert_eq!(response.status(), expected, "admin GET {path}");
        }
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("admin@example.jp").await;
    let form = [("family_name", "山田"), ("email", "csrf@example.jp")];
    let response = client.post(app.url("/leads")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let wrong = [("family_name", "山田"), ("email", "csrf@example.jp"), ("_csrf", "forged")];
    let response = client.post(app.url("/leads")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.store.overview().await.unwrap().leads, 0, "nothing stored");
    let good = [("family_name", "山田"), ("email", "csrf@example.jp"), ("_csrf", csrf.as_str())];
    let response = client.post(app.url("/leads")).form(&good).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(app.store.overview().await.unwrap().leads, 1);
    // A sign-in form posted without its cookie is refused too.
    let response = app
        .browser()
        .post(app.url("/login"))
        .form(&[("email", "admin@example.jp"), ("password", support::PASSWORD), ("_csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn an_oversized_form_is_refused_with_413_and_stores_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("admin@example.jp").await;
    let huge = "x".repeat(hatake_web::MAX_BODY_BYTES + 1);
    let form = [("_csrf", csrf.as_str()), ("family_name", huge.as_str())];
    let response = client.post(app.url("/leads")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("大きすぎます"));
    assert_eq!(app.store.overview().await.unwrap().leads, 0);
}
