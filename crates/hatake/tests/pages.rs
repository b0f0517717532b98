//! The signed-in UI over real HTTP: sign-in, the lead list's search, filters, sorts and pages,
//! the lead form's field errors in Japanese and English, the lead page, the language switch.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{hidden_value, spawn_app, Backend, TestApp, PASSWORD};

async fn api_post(app: &TestApp, path: &str, body: serde_json::Value) -> serde_json::Value {
    let response = app.api(Method::POST, path, &app.admin_token).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 201, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn wrong_password_is_refused_and_sign_out_ends_the_session() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = app.browser();
    let page = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&page, "_csrf").unwrap();
    let response = client
        .post(app.url("/login"))
        .form(&[("email", "admin@example.jp"), ("password", "wrong password"), ("_csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("メールアドレスまたはパスワードが正しくありません"));
    // An open redirect through `next` is not possible.
    let page = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&page, "_csrf").unwrap();
    let response = client
        .post(app.url("/login"))
        .form(&[("email", "admin@example.jp"), ("password", PASSWORD), ("_csrf", &csrf), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/");
    let home = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let home = home.text().await.unwrap();
    assert!(home.contains("ダッシュボード"));
    let csrf = hidden_value(&home, "_csrf").unwrap();
    let response = client.post(app.url("/logout")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let after = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(after.status(), 303, "signed out");
}

#[tokio::test]
async fn lead_list_searches_filters_sorts_and_pages() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = api_post(&app, "/api/v1/products", json!({"code": "kintai", "name": "勤怠管理SaaS"})).await;
    let product_id = product["id"].as_i64().unwrap();
    let people = [
        ("田中", "タナカ", "tanaka@himawari.co.jp", "ひまわり商事", "東京都", true),
        ("田村", "タムラ", "tamura@towa.co.jp", "東和精機", "大阪府", false),
        ("佐藤", "サトウ", "sato@towa.co.jp", "東和精機", "大阪府", true),
    ];
    for (family, kana, email, company, prefecture, complete) in people {
        let mut body = json!({
            "family_name": family, "family_name_kana": kana, "email": email, "company_name": company,
            "prefecture": prefecture, "department": "情報システム部", "phone": "03-1111-2222",
            "product_ids": if complete { json!([product_id]) } else { json!([]) }
        });
        if complete {
            body["title"] = json!("課長");
        }
        api_post(&app, "/api/v1/leads", body).await;
    }
    let (client, _) = app.sign_in("admin@example.jp").await;
    let get = |path: &str| {
        let client = client.clone();
        let url = app.url(path);
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.text().await.unwrap()
        }
    };
    let all = get("/leads").await;
    assert!(all.contains("田中") && all.contains("田村") && all.contains("佐藤"));
    assert!(all.contains("3 件"), "total shown");
    let search = get("/leads?q=田").await;
    assert!(search.contains("田中") && search.contains("田村") && !search.contains("佐藤"));
    let by_company = get("/leads?q=東和").await;
    assert!(by_company.contains("田村") && by_company.contains("佐藤") && !by_company.contains("田中"));
    let by_email = get("/leads?q=sato%40towa").await;
    assert!(by_email.contains("佐藤") && !by_email.contains("田村"));
    let lists = get("/leads?kind=list").await;
    assert!(lists.contains("田村") && !lists.contains("佐藤"));
    let leads = get("/leads?kind=lead").await;
    assert!(leads.contains("佐藤") && !leads.contains("田村"));
    let by_product = get(&format!("/leads?product={product_id}")).await;
    assert!(by_product.contains("田中") && !by_product.contains("田村"));
    let osaka = get("/leads?prefecture=大阪府").await;
    assert!(osaka.contains("佐藤") && !osaka.contains("田中"));
    let by_name = get("/leads?sort=name").await;
    let (sato, tanaka, tamura) =
        (by_name.find("サトウ").unwrap(), by_name.find("タナカ").unwrap(), by_name.find("タムラ").unwrap());
    assert!(sato < tanaka && tanaka < tamura, "kana order");

    // Paging: 60 more leads make two pages of 50; "next" leads to the rest.
    for i in 0..60 {
        api_post(&app, "/api/v1/leads", json!({"family_name": "鈴木", "email": format!("s{i}@example.jp")})).await;
    }
    let first = get("/leads").await;
    let marker = "rel=\"next\" href=\"";
    let start = first.find(marker).expect("next link") + marker.len();
    let href = &first[start..start + first[start..].find('"').unwrap()];
    let second = get(&format!("/leads{}", href.replace("&amp;", "&"))).await;
    assert!(second.contains("rel=\"prev\""));
    let rows = |html: &str| html.matches("<tr>").count() - 1;
    assert_eq!((rows(&first), rows(&second)), (50, 13));
}

#[tokio::test]
async fn lead_form_shows_field_errors_in_the_users_language_and_keeps_input() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let bad = [
        ("_csrf", csrf.as_str()),
        ("family_name", "山田"),
        ("family_name_kana", "Yamada"),
        ("email", "yamada@@example"),
        ("prefecture", "東京都"),
    ];
    let response = client.post(app.url("/leads")).form(&bad).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-field=\"email\""), "error next to the e-mail field");
    assert!(html.contains("メールアドレスの形式が正しくありません"));
    assert!(html.contains("フリガナはカタカナかひらがなで入力してください"));
    assert!(html.contains("value=\"山田\""), "what was typed is kept");
    assert_eq!(app.store.overview().await.unwrap().leads, 0);

    // Switch to English: the same mistake is explained in English.
    let response =
        client.post(app.url("/me/locale")).form(&[("_csrf", csrf.as_str()), ("locale", "en")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let html = client.post(app.url("/leads")).form(&bad).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Not a valid e-mail address"), "{html}");
    assert!(html.contains("Sign out"));

    // A good form creates the lead and shows it, with what it still lacks.
    let good = [("_csrf", csrf.as_str()), ("family_name", "山田"), ("email", "yamada@example.jp"), ("title", "部長")];
    let response = client.post(app.url("/leads")).form(&good).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let page = client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("yamada@example.jp"));
    assert!(page.contains("id=\"missing-fields\""));
    assert!(page.contains("Company") && page.contains("Phone"), "missing fields in English");
    // A duplicate e-mail is shown at the field.
    let response = client.post(app.url("/leads")).form(&good).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("data-field=\"email\""));
}

#[tokio::test]
async fn lead_page_shows_company_products_and_custom_fields() {
    let app = spawn_app(Backend::Sqlite).await;
    let def =
        hatake_domain::CustomFieldDef::parse("timing", "導入時期", "Timing", "choice", "半年以内,1年以内").unwrap();
    app.store.create_custom_field(&def, 0).await.unwrap();
    let account = api_post(
        &app,
        "/api/v1/accounts",
        json!({"name": "株式会社ひまわり商事", "corporate_number": "7000012050002"}),
    )
    .await;
    let product = api_post(&app, "/api/v1/products", json!({"code": "erp", "name": "クラウドERP"})).await;
    let lead = api_post(
        &app,
        "/api/v1/leads",
        json!({"family_name": "山田", "given_name": "太郎", "email": "t@himawari.co.jp", "account_id": account["id"],
               "product_ids": [product["id"]], "custom": {"timing": "半年以内"}}),
    )
    .await;
    let (client, _) = app.sign_in("sales@example.jp").await;
    let page = client.get(app.url(&format!("/leads/{}", lead["id"]))).send().await.unwrap().text().await.unwrap();
    for expected in
        ["山田 太郎", "株式会社ひまわり商事", "7000012050002", "クラウドERP", "導入時期", "半年以内", "活動履歴"]
    {
        assert!(page.contains(expected), "{expected} missing");
    }
    assert!(!page.contains("/delete"), "field sales see no delete button");
    let missing = client.get(app.url("/leads/999999")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_for_a_while() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = app.browser();
    let attempt = |password: &'static str| {
        let client = client.clone();
        let login = app.url("/login");
        async move {
            let page = client.get(&login).send().await.unwrap().text().await.unwrap();
            let csrf = hidden_value(&page, "_csrf").unwrap();
            let form = [("email", "sales@example.jp"), ("password", password), ("_csrf", csrf.as_str())];
            let response = client.post(&login).form(&form).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    for _ in 0..hatake_web::auth::LoginThrottle::MAX_FAILURES {
        assert_eq!(attempt("not the password").await.0, 401);
    }
    let (status, body) = attempt(PASSWORD).await;
    assert_eq!(status, 429, "even the right password is refused while locked");
    assert!(body.contains("15分間"), "{body}");
    // Other accounts are not affected.
    let (_, _) = app.sign_in("admin@example.jp").await;
}

async fn try_sign_in(app: &TestApp, email: &str, password: &str) -> u16 {
    let client = app.browser();
    let page = client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_value(&page, "_csrf").unwrap();
    let form = [("email", email), ("password", password), ("_csrf", csrf.as_str())];
    client.post(app.url("/login")).form(&form).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn users_change_their_password_and_admins_reset_others() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client, csrf) = app.sign_in("sales@example.jp").await;
    assert!(client.get(app.url("/me")).send().await.unwrap().text().await.unwrap().contains("sales@example.jp"));
    let wrong = [("_csrf", csrf.as_str()), ("current", "not it"), ("new", "short"), ("confirm", "different")];
    let response = client.post(app.url("/me/password")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for field in ["current", "new", "confirm"] {
        assert!(html.contains(&format!("data-field=\"{field}\"")), "{field}");
    }
    let good = [
        ("_csrf", csrf.as_str()),
        ("current", PASSWORD),
        ("new", "a brand new secret"),
        ("confirm", "a brand new secret"),
    ];
    let response = client.post(app.url("/me/password")).form(&good).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(try_sign_in(&app, "sales@example.jp", PASSWORD).await, 401);
    assert_eq!(try_sign_in(&app, "sales@example.jp", "a brand new secret").await, 303);

    // An admin resets the password: the user is signed out and the new one works.
    let (admin, admin_csrf) = app.sign_in("admin@example.jp").await;
    let id = app.field_sales.id.to_string();
    let reset = [
        ("_csrf", admin_csrf.as_str()),
        ("display_name", "営業 次郎"),
        ("role", "field_sales"),
        ("active", "1"),
        ("new_password", "reset by the admin"),
    ];
    let response = admin.post(app.url(&format!("/admin/users/{id}"))).form(&reset).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(client.get(app.url("/leads")).send().await.unwrap().status(), 303, "signed out");
    assert_eq!(try_sign_in(&app, "sales@example.jp", "reset by the admin").await, 303);
    let short = [
        ("_csrf", admin_csrf.as_str()),
        ("display_name", "営業 次郎"),
        ("role", "field_sales"),
        ("active", "1"),
        ("new_password", "short"),
    ];
    let response = admin.post(app.url(&format!("/admin/users/{id}"))).form(&short).send().await.unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn department_classes_are_edited_checked_line_by_line_and_reclassify_every_lead() {
    let app = spawn_app(Backend::Sqlite).await;
    for (family, email, department) in [
        ("井上", "inoue@example.jp", "情報システム部"),
        ("木村", "kimura@example.jp", "DX推進室"),
        ("林", "hayashi@example.jp", "経理部"),
    ] {
        api_post(&app, "/api/v1/leads", json!({"family_name": family, "email": email, "department": department})).await;
    }
    let class_of = |email: &'static str| {
        let store = app.store.clone();
        async move {
            let query = hatake_store::LeadQuery {
                search: hatake_domain::text::SearchQuery::parse(email),
                limit: 10,
                ..hatake_store::LeadQuery::default()
            };
            store.list_leads(&query).await.unwrap().items[0].department_class.clone()
        }
    };
    // The API set the classes from the shipped dictionary.
    assert_eq!(class_of("inoue@example.jp").await.as_deref(), Some("it"));
    assert_eq!(class_of("kimura@example.jp").await.as_deref(), Some("dx"));
    let listed: serde_json::Value = app
        .api(Method::GET, "/api/v1/leads?department_class=it", &app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "the API filters by class too");
    assert_eq!(listed["data"][0]["department_class"], "it");
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let page = client.get(app.url("/settings/departments")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("class it | 情報システム | Information systems"), "the dictionary as text");

    // A bad dictionary: a malformed line, a rule naming no class, no `other` class. Every
    // problem is listed with its line, the text stays as typed, and nothing is stored.
    let bad = "class it | 情報システム | IT\n情シス => nowhere\nthis is not a rule\n";
    let response = client
        .post(app.url("/settings/departments"))
        .form(&[("_csrf", csrf.as_str()), ("text", bad)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("2行目") && html.contains("3行目"), "{html}");
    assert!(html.contains("情シス =&gt; nowhere"), "the text is kept");
    assert_eq!(app.store.get_setting(hatake_engine::settings::SETTING_DEPARTMENTS).await.unwrap(), None);
    assert_eq!(class_of("inoue@example.jp").await.as_deref(), Some("it"), "no lead changed");
    // The same mistakes in English.
    client.post(app.url("/me/locale")).form(&[("_csrf", csrf.as_str()), ("locale", "en")]).send().await.unwrap();
    let html = client
        .post(app.url("/settings/departments"))
        .form(&[("_csrf", csrf.as_str()), ("text", bad)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Line 2") && html.contains("Line 3"));
    client.post(app.url("/me/locale")).form(&[("_csrf", csrf.as_str()), ("locale", "ja")]).send().await.unwrap();

    // A good one: saved, every lead classified again, the count of changed leads shown.
    let good =
        "class digital | デジタル | Digital\nclass other | その他 | Other\n情報システム => digital\nDX => digital\n";
    let response = client
        .post(app.url("/settings/departments"))
        .form(&[("_csrf", csrf.as_str()), ("text", good)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/settings/departments?changed=3");
    let page = client.get(app.url("/settings/departments?changed=3")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"reclassified\"") && page.contains("<strong>3</strong>"));
    assert_eq!(class_of("kimura@example.jp").await.as_deref(), Some("digital"));
    assert_eq!(class_of("hayashi@example.jp").await.as_deref(), Some("other"));
    // The tester uses the stored dictionary; the list filters by class and shows it.
    let tried =
        client.get(app.url("/settings/departments?try=情報システム本部")).send().await.unwrap().text().await.unwrap();
    assert!(tried.contains("id=\"try-result\"") && tried.contains("<strong>デジタル</strong>"));
    let list = client.get(app.url("/leads?department_class=digital")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("井上") && list.contains("木村") && !list.contains("林"));
    assert!(list.contains("value=\"digital\" selected"));
    // A lead saved through the form is classified with the dictionary in force.
    let form =
        [("_csrf", csrf.as_str()), ("family_name", "森"), ("email", "mori@example.jp"), ("department", "DX推進部")];
    assert_eq!(client.post(app.url("/leads")).form(&form).send().await.unwrap().status(), 303);
    assert_eq!(class_of("mori@example.jp").await.as_deref(), Some("digital"));

    // Back to the default dictionary: the leads are classified as before.
    let response =
        client.post(app.url("/settings/departments/default")).form(&[("_csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/settings/departments?changed=4&restored=1");
    assert_eq!(class_of("inoue@example.jp").await.as_deref(), Some("it"));
    assert_eq!(class_of("hayashi@example.jp").await.as_deref(), Some("finance"));
    // Field sales may not change the dictionary.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    let refused = sales
        .post(app.url("/settings/departments"))
        .form(&[("_csrf", sales_csrf.as_str()), ("text", good)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn the_lead_list_exports_as_csv_for_excel_with_formulas_neutralised() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = api_post(&app, "/api/v1/products", json!({"code": "erp", "name": "クラウドERP"})).await;
    api_post(
        &app,
        "/api/v1/leads",
        json!({"family_name": "山田", "email": "yamada@example.jp", "company_name": "=SUM(1)", "department": "情報システム部",
               "product_ids": [product["id"]]}),
    )
    .await;
    api_post(&app, "/api/v1/leads", json!({"family_name": "高橋", "email": "takahashi@example.jp", "title": "-"}))
        .await;
    let (client, _) = app.sign_in("sales@example.jp").await;
    let list = client.get(app.url("/leads")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("/leads/export.csv?encoding=cp932"), "the list offers the export");

    let response = client.get(app.url("/leads/export.csv")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"leads-") && disposition.contains(".csv"), "{disposition}");
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a byte-order mark for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID,会社名,企業（マスタ）,姓,名,セイ,メイ,メールアドレス"), "{header}");
    assert!(text.contains(",'=SUM(1),"), "a formula is written as text: {text}");
    assert!(text.contains(",'-,"), "so is a lone minus, which Excel would read as one");
    assert!(text.contains("情報システム") && text.contains("クラウドERP"));
    assert_eq!(text.lines().count(), 3);

    // The list's filters apply; CP932 for double-clicking in Excel; a bad encoding is a 400.
    let response = client.get(app.url("/leads/export.csv?q=高橋&encoding=cp932")).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().contains("Shift_JIS"));
    let bytes = response.bytes().await.unwrap();
    let decoded = hatake_csv::decode(&bytes, Some(hatake_csv::TextEncoding::ShiftJis));
    assert_eq!(decoded.malformed, 0);
    assert!(decoded.text.contains("高橋") && !decoded.text.contains("山田"));
    let bad = client.get(app.url("/leads/export.csv?encoding=latin1")).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}

/// The lead form picks a company of the master by its name: suggestions come from
/// `/accounts/lookup`; a picked suggestion (or a name only one company has) links the lead;
/// a name no company has, or several, is said so by the field, and nothing is stored.
async fn the_lead_form_picks_a_company_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    for (name, prefecture) in
        [("株式会社ひまわり商事", "東京都"), ("ひまわり商事株式会社", "大阪府"), ("東和精機株式会社", "愛知県")]
    {
        api_post(&app, "/api/v1/accounts", json!({"name": name, "prefecture": prefecture})).await;
    }
    let (client, csrf) = app.sign_in("marketing@example.jp").await;
    let form = client.get(app.url("/leads/new")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("id=\"account-name\"") && form.contains("data-lookup=\"/accounts/lookup\""));
    assert!(!form.contains("name=\"account_id\" value=\"\" type=\"text\""), "no numeric id to type");
    let found: serde_json::Value = client
        .get(app.url("/accounts/lookup?q=%E3%81%B2%E3%81%BE%E3%82%8F%E3%82%8A"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let labels: Vec<&str> = found.as_array().unwrap().iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert!(labels.contains(&"株式会社ひまわり商事（東京都）"));

    let save = |account: &str| {
        let form = [
            ("_csrf", csrf.as_str()),
            ("family_name", "山田"),
            ("email", "yamada@example.jp"),
            ("account_name", account),
        ];
        client.post(app.url("/leads")).form(&form).send()
    };
    let response = save("ひまわり").await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("複数あります"), "two companies have that name");
    let response = save("ミツバチ工業").await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("企業マスタに「ミツバチ工業」はありません"));
    assert_eq!(app.store.overview().await.unwrap().leads + app.store.overview().await.unwrap().list_records, 0);
    // The suggestion's label names one of the two; the only 東和精機 needs no more.
    let response = save("ひまわり商事株式会社（大阪府）").await.unwrap();
    assert_eq!(response.status(), 303);
    let id: i64 = response.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/leads/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let lead = app.store.get_lead(id).await.unwrap();
    assert_eq!(lead.account_name.as_deref(), Some("ひまわり商事株式会社"));
    let edit = client.get(app.url(&format!("/leads/{id}/edit"))).send().await.unwrap().text().await.unwrap();
    assert!(edit.contains("value=\"ひまわり商事株式会社（大阪府）\""), "the picked company shown by name");
}

#[tokio::test]
async fn the_lead_form_picks_a_company_by_name_sqlite() {
    the_lead_form_picks_a_company_by_name(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_lead_form_picks_a_company_by_name_postgres() {
    the_lead_form_picks_a_company_by_name(Backend::Postgres).await;
}
