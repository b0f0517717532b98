//! Forms over real HTTP on both backends: the builder (checked drafts, versions), the hosted page
//! (field errors in both languages, nothing stored for a wrong submission), a submission becoming
//! a lead through name-matching with a form-submit event that carries the consents and stitches
//! the visitor's earlier visits, the honeypot, the rate limit, CORS for embedding, and a
//! submission whose processing fails being kept and retried.

mod support;

use hatake_store::EventQuery;
use support::{spawn_app, Backend, TestApp};

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The builder's fields of a catalogue-request form about product 1.
fn builder(slug: &str, csrf: &str) -> Vec<(String, String)> {
    pairs(&[
        ("_csrf", csrf),
        ("name", "資料請求"),
        ("slug", slug),
        ("product_id", "1"),
        ("field.0.target", "company_name"),
        ("field.0.required", "1"),
        ("field.1.target", "family_name"),
        ("field.1.required", "1"),
        ("field.2.target", "given_name"),
        ("field.3.target", "email"),
        ("field.3.required", "1"),
        ("field.4.target", "custom.budget"),
        ("field.5.target", "extra.topic"),
        ("field.5.label_ja", "ご興味"),
        ("field.5.choices", "価格\n導入事例"),
        ("consent.1.on", "1"),
        ("consent.1.label_ja", "ERPのご案内を受け取る"),
        ("allowed_origins", "https://www.example.co.jp"),
    ])
}

async fn setup(backend: Backend) -> (TestApp, reqwest::Client, String) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let budget = hatake_domain::CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap();
    app.store.create_custom_field(&budget, 0).await.unwrap();
    let (admin, csrf) = app.sign_in("admin@example.jp").await;
    (app, admin, csrf)
}

async fn create_form(app: &TestApp, admin: &reqwest::Client, csrf: &str, slug: &str) -> i64 {
    let response = admin.post(app.url("/forms")).form(&builder(slug, csrf)).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location.trim_start_matches("/forms/").split('?').next().unwrap().parse().unwrap()
}

/// A page's text with the escapes templates write undone (`/` is written `&#x2f;`).
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A visitor's anonymous client (no cookies kept, redirects not followed).
fn visitor() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn builds_checks_and_versions_forms(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    // A wrong draft: every problem by its field, nothing stored.
    let mut wrong = builder("資料", &csrf);
    wrong.push(("field.6.target".into(), "fax".into()));
    wrong.retain(|(k, _)| k != "name");
    let response = admin.post(app.url("/forms")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    for message in ["必須項目です。", "URL名は英小文字", "7行目: 項目「fax」はありません。"] {
        assert!(page.contains(message), "{message} missing");
    }
    assert!(page.contains("value=\"fax\""), "the builder comes back as typed");
    assert!(app.store.list_forms().await.unwrap().is_empty(), "nothing stored");

    let id = create_form(&app, &admin, &csrf, "catalog").await;
    let page = unescaped(&admin.get(app.url(&format!("/forms/{id}"))).send().await.unwrap().text().await.unwrap());
    assert!(page.contains("/f/catalog") && page.contains("data-hatake-form=\"catalog\""), "links and snippet");
    assert!(page.contains("value=\"custom.budget\""));
    // The same URL name for another form is refused.
    let response = admin.post(app.url("/forms")).form(&builder("catalog", &csrf)).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("このURL名は他のフォームで使われています。"));
    // A change is a new version; the old one stays readable.
    let mut changed = builder("catalog", &csrf);
    changed.push(("field.2.remove".into(), "1".into()));
    let response = admin.post(app.url(&format!("/forms/{id}"))).form(&changed).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let form = app.store.get_form(id).await.unwrap();
    assert_eq!(form.version, 2);
    assert!(!form.definition.contains("given_name"));
    assert!(app.store.form_version(id, 1).await.unwrap().contains("given_name"));
    // Field sales may not build forms.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    let response = sales.post(app.url("/forms")).form(&builder("other", &sales_csrf)).send().await.unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn builds_checks_and_versions_forms_sqlite() {
    builds_checks_and_versions_forms(Backend::Sqlite).await;
}

#[tokio::test]
async fn builds_checks_and_versions_forms_postgres() {
    builds_checks_and_versions_forms(Backend::Postgres).await;
}

async fn a_submission_becomes_a_lead_with_its_history(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    create_form(&app, &admin, &csrf, "catalog").await;
    let client = visitor();
    // The visitor browsed the site anonymously before.
    let view = "/t/p.gif?v=visitor42&u=https%3A%2F%2Fwww.example.co.jp%2Ferp";
    client.get(app.url(view)).header("user-agent", "Mozilla/5.0 Chrome/131.0").send().await.unwrap();

    let page = client.get(app.url("/f/catalog?utm_source=mail")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = unescaped(&page.text().await.unwrap());
    for part in ["会社名", "ご興味", "ERPのご案内を受け取る", "name=\"hk_website\"", "必須", "utm_source=mail"]
    {
        assert!(html.contains(part), "{part} missing from the hosted page");
    }
    let english = client.get(app.url("/f/catalog?lang=en")).send().await.unwrap().text().await.unwrap();
    assert!(english.contains("Company") && english.contains("Required"));

    // Wrong answers: errors by field, in the person's language, and nothing stored.
    let wrong = pairs(&[
        ("company_name", ""),
        ("family_name", "山田"),
        ("email", "yamada@"),
        ("custom.budget", "たくさん"),
        ("extra.topic", "その他"),
    ]);
    let response = client.post(app.url("/f/catalog")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for message in
        ["必須項目です。", "選択肢から選んでください。", "数値を入力してください", "入力内容をご確認ください。"]
    {
        assert!(html.contains(message), "{message} missing");
    }
    assert!(html.contains("value=\"山田\""), "answers are kept");
    let mut english = wrong.clone();
    english.push(("lang".into(), "en".into()));
    let html = client.post(app.url("/f/catalog")).form(&english).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This field is required.") && html.contains("Choose one of the choices."));
    assert_eq!(app.store.overview().await.unwrap().leads + app.store.overview().await.unwrap().list_records, 0);
    assert!(app.store.list_submissions(1, None, None, 10).await.unwrap().is_empty());

    // A right one: a lead (through name-matching), a form-submit event with the consents, and
    // the visitor's earlier visit on the lead's timeline.
    let right = pairs(&[
        ("company_name", "株式会社東和精機"),
        ("family_name", "山田"),
        ("given_name", "太郎"),
        ("email", "Yamada@Towa.example.jp"),
        ("custom.budget", "1,000,000"),
        ("extra.topic", "価格"),
        ("consent.1", "1"),
        ("hk_vid", "visitor42"),
        ("hk_url", "https://www.example.co.jp/catalog?utm_source=mail&utm_campaign=autumn"),
        ("hk_ref", "https://www.google.com/"),
    ]);
    let response = client.post(app.url("/f/catalog")).form(&right).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("お問い合わせありがとうございました"));
    let submissions = app.store.list_submissions(1, None, None, 10).await.unwrap();
    assert_eq!(submissions.len(), 1);
    let submission = &submissions[0];
    assert_eq!((submission.status.as_str(), submission.outcome.as_deref()), ("done", Some("created")));
    let lead_id = submission.lead_id.unwrap();
    let lead = app.store.get_lead(lead_id).await.unwrap();
    assert_eq!(lead.email.as_deref(), Some("yamada@towa.example.jp"));
    assert_eq!(lead.product_ids, [1]);
    assert_eq!(lead.source.as_deref(), Some("form:catalog"));
    let events = app.store.lead_events(lead_id, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["form_submit", "page_view"], "the earlier anonymous visit is stitched to the lead");
    let properties: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
    assert_eq!(properties["consents"], serde_json::json!([1]));
    assert_eq!(properties["answers"]["topic"], "価格");
    assert_eq!(properties["utm_campaign"], "autumn");
    assert_eq!(events[0].product_id, Some(1));
    let page = admin.get(app.url(&format!("/leads/{lead_id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"mail-consents\"><span class=\"tag consent\""), "the consent shows on the lead");
    // The consent box subscribed the lead to the product's mail, saying how.
    let subscriptions = app.store.lead_subscriptions(lead_id).await.unwrap();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(
        (subscriptions[0].topic.as_str(), subscriptions[0].status.as_str(), subscriptions[0].source.as_str()),
        ("product:1", "subscribed", "form")
    );
    assert!(page.contains("data-topic=\"product:1\"><td>") && page.contains("購読中"), "the lead page shows it");
    // The form's page shows each submission's answers, labelled as the form labels them.
    let page = admin.get(app.url("/forms/1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<dt>ご興味</dt><dd class=\"answer\">価格</dd>"), "{page}");

    // The same person again, from another visitor id: the same lead (merged, or unchanged when
    // nothing is new), a second event.
    let mut again = right.clone();
    again.retain(|(k, _)| k != "hk_vid" && k != "given_name");
    again.push(("hk_vid".into(), "visitor43".into()));
    client.post(app.url("/f/catalog")).form(&again).send().await.unwrap();
    let submissions = app.store.list_submissions(1, None, None, 10).await.unwrap();
    assert_eq!(submissions[0].lead_id, Some(lead_id), "name-matching found the person");
    let count = app.store.lead_events(lead_id, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
    assert_eq!(count.iter().filter(|e| e.kind == "form_submit").count(), 2);

    // A robot that fills the hidden field sees a success; nothing becomes a lead.
    let mut robot = right.clone();
    robot.push(("hk_website".into(), "http://spam.example".into()));
    robot.retain(|(k, _)| k != "email");
    robot.push(("email".into(), "robot@spam.example".into()));
    let response = client.post(app.url("/f/catalog")).form(&robot).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let spam = app.store.list_submissions(1, Some("spam"), None, 10).await.unwrap();
    assert_eq!(spam.len(), 1);
    assert_eq!(spam[0].lead_id, None);
    assert!(app.store.lead_ids_by_email(&["robot@spam.example".into()]).await.unwrap().is_empty());

    // A closed form takes nothing.
    let form_id = submission.form_id;
    let response = admin.post(app.url(&format!("/forms/{form_id}/active"))).form(&[("_csrf", &csrf)]).send().await;
    assert_eq!(response.unwrap().status(), 303);
    assert_eq!(client.get(app.url("/f/catalog")).send().await.unwrap().status(), 410);
    assert_eq!(client.post(app.url("/f/catalog")).form(&right).send().await.unwrap().status(), 410);
    assert_eq!(client.get(app.url("/f/nothing")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_submission_becomes_a_lead_with_its_history_sqlite() {
    a_submission_becomes_a_lead_with_its_history(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_submission_becomes_a_lead_with_its_history_postgres() {
    a_submission_becomes_a_lead_with_its_history(Backend::Postgres).await;
}

#[tokio::test]
async fn embedding_is_allowed_only_for_the_listed_sites() {
    let (app, admin, csrf) = setup(Backend::Sqlite).await;
    create_form(&app, &admin, &csrf, "catalog").await;
    let client = visitor();
    let allowed = "https://www.example.co.jp";
    let script = client.get(app.url("/f/embed.js")).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "application/javascript; charset=utf-8");
    // The hosted page may be framed by the listed site only, and uses no inline style or script
    // (the policy would block it: the honeypot would show).
    let hosted = client.get(app.url("/f/catalog")).send().await.unwrap();
    let policy = hosted.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("frame-ancestors https://www.example.co.jp;"), "{policy}");
    assert!(hosted.headers().get("x-frame-options").is_none());
    let html = hosted.text().await.unwrap();
    assert!(!html.contains("<style") && !html.contains("style=\"") && !html.contains("<script>"), "{html}");
    assert!(html.contains("/static/forms.css"));
    let css = client.get(app.url("/static/forms.css")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains(".hk-hp {"), "the honeypot is hidden by the stylesheet");
    // The app's own pages are never framed.
    let login = client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.headers()["x-frame-options"], "DENY");

    let embed = client.get(app.url("/f/catalog/embed?lang=ja&url=https%3A%2F%2Fwww.example.co.jp%2Ferp"));
    let response = embed.header("origin", allowed).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    assert_eq!(response.headers()["vary"], "Origin");
    let html = unescaped(&response.text().await.unwrap());
    assert!(html.contains(&format!("action=\"{}/f/catalog/submit\"", app.base)), "posts back to hatake");
    assert!(html.contains("value=\"https://www.example.co.jp/erp\""), "the embedding page is recorded");

    let preflight = client.request(reqwest::Method::OPTIONS, app.url("/f/catalog/submit"));
    let response = preflight.header("origin", allowed).header("access-control-request-method", "POST").send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    assert_eq!(response.headers()["access-control-allow-methods"], "POST");

    let answers = pairs(&[("company_name", "東和精機"), ("family_name", "佐藤"), ("email", "sato@towa.example.jp")]);
    let response =
        client.post(app.url("/f/catalog/submit")).header("origin", allowed).form(&answers).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert!(body["message"].as_str().unwrap().contains("ありがとう"));

    let mut wrong = answers.clone();
    wrong[2].1 = "sato@".into();
    let response = client.post(app.url("/f/catalog/submit")).header("origin", allowed).form(&wrong).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "email");
    assert!(!body["errors"][0]["message_en"].as_str().unwrap().is_empty());

    // Any other site: refused, no CORS header, nothing stored.
    let evil = "https://evil.example";
    for response in [
        client.get(app.url("/f/catalog/embed")).header("origin", evil).send().await.unwrap(),
        client
            .request(reqwest::Method::OPTIONS, app.url("/f/catalog/submit"))
            .header("origin", evil)
            .send()
            .await
            .unwrap(),
        client.post(app.url("/f/catalog/submit")).header("origin", evil).form(&answers).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 403);
        assert!(response.headers().get("access-control-allow-origin").is_none());
    }
    assert_eq!(app.store.list_submissions(1, None, None, 10).await.unwrap().len(), 1);
    // A missing form says so to any site, in the reader's language.
    let missing = client.get(app.url("/f/nothing/embed?lang=en")).header("origin", evil).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["access-control-allow-origin"], "*");
    assert_eq!(missing.text().await.unwrap(), "There is no such form.\n");
}

#[tokio::test]
async fn one_address_cannot_flood_a_form() {
    let (app, admin, csrf) = setup(Backend::Sqlite).await;
    create_form(&app, &admin, &csrf, "catalog").await;
    let client = visitor();
    let limit = hatake_web::public_forms::FORM_SUBMISSIONS_PER_WINDOW;
    // Answers sent back for correction do not count: nothing of them is stored.
    for _ in 0..limit {
        let wrong = pairs(&[("company_name", "東和精機"), ("family_name", "佐藤"), ("email", "sato@")]);
        let response = client.post(app.url("/f/catalog")).form(&wrong).send().await.unwrap();
        assert_eq!(response.status(), 422);
    }
    for i in 0..limit {
        let email = format!("p{i}@example.jp");
        let answers = pairs(&[("company_name", "東和精機"), ("family_name", "佐藤"), ("email", &email)]);
        let response = client.post(app.url("/f/catalog")).form(&answers).send().await.unwrap();
        assert_eq!(response.status(), 200, "submission {i}");
    }
    let answers = pairs(&[("company_name", "東和精機"), ("family_name", "佐藤"), ("email", "last@example.jp")]);
    let response = client.post(app.url("/f/catalog")).form(&answers).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers()["retry-after"].to_str().unwrap().parse::<i64>().unwrap() > 0);
    assert!(response.text().await.unwrap().contains("しばらくしてから"));
    assert_eq!(app.store.list_submissions(1, None, None, 100).await.unwrap().len(), limit as usize);
}

async fn a_failed_submission_is_kept_and_retried(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    create_form(&app, &admin, &csrf, "catalog").await;
    // The form fills custom.budget, which is deleted after the form was saved: the submission
    // passes the form's check (an unknown custom field is not checked there) but its lead
    // cannot be stored.
    let fields = app.store.list_custom_fields().await.unwrap();
    app.store.delete_custom_field(fields[0].id).await.unwrap();
    let answers = pairs(&[
        ("company_name", "東和精機"),
        ("family_name", "佐藤"),
        ("email", "sato@towa.example.jp"),
        ("custom.budget", "500"),
    ]);
    let response = visitor().post(app.url("/f/catalog")).form(&answers).send().await.unwrap();
    assert_eq!(response.status(), 200, "the person is thanked: the submission is kept");
    let failed = app.store.list_submissions(1, Some("failed"), None, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].last_error.as_deref().unwrap().contains("budget"), "{:?}", failed[0].last_error);
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0].next_attempt_at.is_some(), "an automatic retry is planned");
    let page = unescaped(&admin.get(app.url("/forms/1?status=failed")).send().await.unwrap().text().await.unwrap());
    assert!(page.contains("submission-error") && page.contains("/forms/submissions/1/retry"));

    // The automatic retry fails again while the cause stays; it backs off.
    let due = failed[0].next_attempt_at.unwrap();
    let counts =
        hatake_engine::forms::process_due(app.store.as_ref(), due, due, 10, &jiff::tz::TimeZone::UTC).await.unwrap();
    assert_eq!((counts.done, counts.failed), (0, 1));
    let again = app.store.get_submission(1).await.unwrap();
    assert_eq!(again.attempts, 2);
    assert!(again.next_attempt_at.unwrap() > due);

    // The field defined again, a person retries: the lead is made from the kept answers.
    let budget = hatake_domain::CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap();
    app.store.create_custom_field(&budget, 0).await.unwrap();
    let response = admin.post(app.url("/forms/submissions/1/retry")).form(&[("_csrf", &csrf)]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let done = app.store.get_submission(1).await.unwrap();
    assert_eq!(done.status, "done");
    let lead = app.store.get_lead(done.lead_id.unwrap()).await.unwrap();
    assert_eq!(lead.custom_map()["budget"], serde_json::json!(500.0));
    // Retrying a done submission changes nothing.
    admin.post(app.url("/forms/submissions/1/retry")).form(&[("_csrf", &csrf)]).send().await.unwrap();
    let events = app.store.lead_events(lead.id, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
    assert_eq!(events.len(), 1);

    // A submission left pending (the server stopped before processing it) is picked up.
    let pending = hatake_store::NewSubmission {
        form_id: 1,
        form_version: 1,
        status: "pending",
        payload: r#"{"company_name":"東和精機","family_name":"鈴木","email":"suzuki@towa.example.jp","consents":[]}"#
            .into(),
        visitor_id: None,
        page_url: None,
        referrer: None,
        ip: None,
        user_agent: None,
        booking_token: None,
    };
    let id = app.store.insert_submission(&pending, 10).await.unwrap();
    let counts =
        hatake_engine::forms::process_due(app.store.as_ref(), 10, 20, 10, &jiff::tz::TimeZone::UTC).await.unwrap();
    assert_eq!(counts.done, 1);
    assert_eq!(app.store.get_submission(id).await.unwrap().status, "done");
}

#[tokio::test]
async fn a_failed_submission_is_kept_and_retried_sqlite() {
    a_failed_submission_is_kept_and_retried(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_failed_submission_is_kept_and_retried_postgres() {
    a_failed_submission_is_kept_and_retried(Backend::Postgres).await;
}

/// The same new person sends the form twice at once (a double click, two tabs): both are
/// answered as a success and there is one lead, holding both submissions.
async fn two_submissions_of_one_new_person_at_once(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    create_form(&app, &admin, &csrf, "catalog").await;
    for round in 0..4 {
        let email = format!("twice{round}@towa.example.jp");
        let answers = pairs(&[
            ("company_name", "株式会社東和精機"),
            ("family_name", "山田"),
            ("given_name", &format!("太郎{round}")),
            ("email", &email),
        ]);
        let (a, b) = tokio::join!(
            visitor().post(app.url("/f/catalog")).form(&answers).send(),
            visitor().post(app.url("/f/catalog")).form(&answers).send(),
        );
        for response in [a.unwrap(), b.unwrap()] {
            assert!(response.status().is_success() || response.status().is_redirection(), "{}", response.status());
        }
        let ids = app.store.lead_ids_by_email(std::slice::from_ref(&email)).await.unwrap();
        assert_eq!(ids.len(), 1, "one lead for {email}");
        let query = hatake_store::EventQuery { limit: 10, ..Default::default() };
        let events = app.store.lead_events(ids[0].1, &query).await.unwrap();
        let submits = events.iter().filter(|e| e.kind == "form_submit").count();
        assert_eq!(submits, 2, "both submissions are on the lead");
    }
    let failed = app.store.list_submissions(1, Some("failed"), None, 10).await.unwrap();
    assert!(failed.is_empty(), "no submission failed: {failed:?}");
}

#[tokio::test]
async fn two_submissions_of_one_new_person_at_once_sqlite() {
    two_submissions_of_one_new_person_at_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn two_submissions_of_one_new_person_at_once_postgres() {
    two_submissions_of_one_new_person_at_once(Backend::Postgres).await;
}

/// One written form of a new person's answers: the e-mail in upper or lower case, the
/// company with 株式会社 or （株）, the name with or without a full-width space.
fn variant(person: usize, style: u8) -> Vec<(String, String)> {
    let families = ["山田", "佐藤", "鈴木", "高橋", "田中"];
    let givens = ["太郎", "花子", "一郎", "美咲", "健"];
    let family = families[person % families.len()];
    let given = givens[(person / families.len()) % givens.len()];
    let email = format!("p{person}.{}@towa.example.jp", given.chars().count());
    let email = if style & 1 == 1 { email.to_uppercase() } else { email };
    let company = if style & 2 == 2 { "（株）東和精機" } else { "株式会社東和精機" };
    let name = if style & 4 == 4 { format!("{family}　{given}") } else { format!("{family} {given}") };
    let (family, given) = name.split_once(['　', ' ']).unwrap_or((family, given));
    pairs(&[("company_name", company), ("family_name", family), ("given_name", given), ("email", &email)])
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(future)
}

/// Generated people, each sending the form twice at once in two written forms (e-mail case,
/// legal form, space): every submission is answered as a success, none fails, and each person
/// is one lead holding both submissions.
fn check_submissions_at_once(backend: Backend, people: Vec<(usize, u8, u8)>) {
    block_on(async move {
        let (app, admin, csrf) = setup(backend).await;
        create_form(&app, &admin, &csrf, "catalog").await;
        let mut seen = std::collections::BTreeSet::new();
        for (person, first, second) in people {
            if !seen.insert(person) {
                continue;
            }
            let (a, b) = tokio::join!(
                visitor().post(app.url("/f/catalog")).form(&variant(person, first)).send(),
                visitor().post(app.url("/f/catalog")).form(&variant(person, second)).send(),
            );
            for response in [a.unwrap(), b.unwrap()] {
                let status = response.status();
                assert!(status.is_success() || status.is_redirection(), "{status}: {}", response.text().await.unwrap());
            }
            let email = variant(person, 0).into_iter().find(|(k, _)| k == "email").unwrap().1;
            let ids = app.store.lead_ids_by_email(std::slice::from_ref(&email)).await.unwrap();
            assert_eq!(ids.len(), 1, "one lead for person {person} ({first}, {second})");
            let events =
                app.store.lead_events(ids[0].1, &EventQuery { limit: 10, ..Default::default() }).await.unwrap();
            assert_eq!(events.iter().filter(|e| e.kind == "form_submit").count(), 2, "both on the lead");
        }
        let failed = app.store.list_submissions(1, Some("failed"), None, 10).await.unwrap();
        assert!(failed.is_empty(), "no submission failed: {failed:?}");
    });
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 4, failure_persistence: None, ..Default::default() })]

    #[test]
    fn sqlite_submissions_at_once_each_get_one_lead(people in proptest::collection::vec((0usize..25, 0u8..8, 0u8..8), 1..5)) {
        check_submissions_at_once(Backend::Sqlite, people);
    }

    #[test]
    fn postgres_submissions_at_once_each_get_one_lead(people in proptest::collection::vec((0usize..25, 0u8..8, 0u8..8), 1..5)) {
        check_submissions_at_once(Backend::Postgres, people);
    }
}

/// An inquiry is a hand-raise: a form marked so sends its sender straight to the product's MQL
/// queue whatever the score (here a list entry with no behaviour at all), once; a download form
/// leaves its sender to scoring; a form asking for consent to the handling of personal
/// information refuses a submission without it.
async fn an_inquiry_goes_straight_to_the_mql_queue(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    let mut inquiry = builder("inquiry", &csrf);
    inquiry.retain(|(k, _)| k != "name" && k != "slug");
    inquiry.extend(pairs(&[
        ("name", "お問い合わせ"),
        ("slug", "inquiry"),
        ("fast_track", "1"),
        ("privacy", "1"),
        ("privacy_url", "https://www.example.co.jp/privacy"),
    ]));
    let response = admin.post(app.url("/forms")).form(&inquiry).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    create_form(&app, &admin, &csrf, "catalog").await;

    let answers = |email: &str| {
        pairs(&[
            ("company_name", "株式会社東和精機"),
            ("family_name", "山田"),
            ("given_name", if email.starts_with('a') { "太郎" } else { "花子" }),
            ("email", email),
        ])
    };
    // Without the consent box: refused by field, nothing stored.
    let refused = visitor().post(app.url("/f/inquiry")).form(&answers("a@towa.example.jp")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("個人情報の取扱いに同意してください。"));
    let page = unescaped(&visitor().get(app.url("/f/inquiry")).send().await.unwrap().text().await.unwrap());
    assert!(page.contains("name=\"privacy_consent\"") && page.contains("https://www.example.co.jp/privacy"));

    let mut agreed = answers("a@towa.example.jp");
    agreed.push(("privacy_consent".into(), "1".into()));
    let sent = visitor().post(app.url("/f/inquiry")).form(&agreed).send().await.unwrap();
    assert!(sent.status().is_success() || sent.status().is_redirection());
    let lead = app.store.lead_ids_by_email(&["a@towa.example.jp".to_owned()]).await.unwrap()[0].1;
    let stages = app.store.lead_stages(&[lead]).await.unwrap();
    assert_eq!(stages.len(), 1);
    assert_eq!((stages[0].stage.as_str(), stages[0].product_id), ("mql", 1), "straight to the MQL queue");
    assert!(stages[0].sla_due_at.is_some(), "with its SLA deadline");
    let history = app.store.stage_history(lead).await.unwrap();
    assert_eq!(history[0].reason.as_deref(), Some("hand_raise"));
    // The same person again: already an MQL, no second move.
    visitor().post(app.url("/f/inquiry")).form(&agreed).send().await.unwrap();
    assert_eq!(app.store.stage_history(lead).await.unwrap().len(), 1);
    // Inside sales sees it in the queue, with why.
    let (is, _) = app.sign_in("is@example.jp").await;
    let queue = is.get(app.url("/pipeline/1/mql")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains(&format!("data-lead=\"{lead}\"")));
    assert!(queue.contains("ハンドレイズ：フォーム送信（お問い合わせ）"), "{queue}");

    // Accepted, a deal opened and lost; months later the same person asks again: recycled and
    // back in the queue at once, with both moves in the history.
    for (from, to) in [("mql", "sal"), ("sal", "opportunity"), ("opportunity", "lost")] {
        let step = hatake_store::StageMove {
            lead_id: lead,
            product_id: 1,
            from: Some(from.into()),
            to: to.into(),
            at: hatake_web::now_millis(),
            by: None,
            reason: Some("test".into()),
            note: None,
            policy_version: None,
            mode: None,
            sla_due_at: None,
            opportunity: (to == "opportunity").then(|| hatake_store::NewOpportunity {
                name: "東和精機 ERP".into(),
                stage_key: "visited".into(),
                amount: None,
                expected_close_on: None,
                owner_id: None,
            }),
            detail: None,
        };
        app.store.move_stage(&step).await.unwrap_or_else(|e| panic!("{from} → {to}: {e:?}"));
    }
    visitor().post(app.url("/f/inquiry")).form(&agreed).send().await.unwrap();
    let stages = app.store.lead_stages(&[lead]).await.unwrap();
    assert_eq!(stages[0].stage, "mql", "a lost prospect asking again is back in the queue");
    let history = app.store.stage_history(lead).await.unwrap();
    let moves: Vec<(Option<&str>, &str)> =
        history.iter().take(2).map(|h| (h.reason.as_deref(), h.to_stage.as_str())).collect();
    assert_eq!(moves, [(Some("hand_raise"), "mql"), (Some("hand_raise"), "nurturing")], "newest first");

    // A download form is interest, not a hand-raise.
    let downloaded = visitor().post(app.url("/f/catalog")).form(&answers("b@towa.example.jp")).send().await.unwrap();
    let status = downloaded.status();
    assert!(status.is_success() || status.is_redirection(), "{status} {}", downloaded.text().await.unwrap());
    let other = app.store.lead_ids_by_email(&["b@towa.example.jp".to_owned()]).await.unwrap()[0].1;
    assert!(app.store.lead_stages(&[other]).await.unwrap().is_empty(), "left to scoring");
}

#[tokio::test]
async fn an_inquiry_goes_straight_to_the_mql_queue_sqlite() {
    an_inquiry_goes_straight_to_the_mql_queue(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_inquiry_goes_straight_to_the_mql_queue_postgres() {
    an_inquiry_goes_straight_to_the_mql_queue(Backend::Postgres).await;
}

/// The builder offers what a field fills by its label, in groups, never asking for a key; a
/// new question of the form's own gets a key by itself.
#[tokio::test]
async fn the_builder_offers_fields_by_their_labels() {
    let (app, admin, csrf) = setup(Backend::Sqlite).await;
    let page = admin.get(app.url("/forms/new")).send().await.unwrap().text().await.unwrap();
    for part in ["<optgroup label=\"リードの項目\">", ">会社名</option>", ">予算</option>", "新しい質問"]
    {
        assert!(page.contains(part), "{part} missing");
    }
    // A new form starts as an inquiry that asks for what makes a lead: the reading, the title,
    // consent to the handling of personal information; and it is a hand-raise.
    let starter = [
        "value=\"フリガナ（セイ）\"",
        "value=\"title\" selected",
        "id=\"privacy\" checked",
        "id=\"fast-track\" checked",
    ];
    for part in starter {
        assert!(page.contains(part), "the starter form: {part} missing");
    }
    let mut form = builder("survey", &csrf);
    form.extend(pairs(&[("field.6.target", "extra.new"), ("field.6.label_ja", "導入予定時期は？")]));
    let response = admin.post(app.url("/forms")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location.trim_start_matches("/forms/").split('?').next().unwrap().parse().unwrap();
    let form = app.store.get_form(id).await.unwrap();
    let definition: hatake_domain::form::FormDefinition = serde_json::from_str(&form.definition).unwrap();
    let question = definition.fields.iter().find(|f| f.label_ja == "導入予定時期は？").expect("the new question");
    assert_eq!(question.target, "extra.q1", "a key made for it");
    let again = admin.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("value=\"extra.q1\" selected>導入予定時期は？<"), "shown by its label");
}
