//! Hearing sheets' pages on both backends, used as people would: a marketer starts the sheet
//! from a template and orders it, a rep records what was learned in the call panel (a bad
//! value named beside its item, nothing stored) and on the lead's page, sees who learned what
//! when and what is still missing there and in the call queue, and imports a file of hearing
//! results (a bad row named by line, the others stored); field sales may not import.

mod support;

use hatake_engine::inside_sales::TaskRules;
use hatake_store::Store;

async fn lead(store: &dyn Store, family: &str, email: &str) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(family.into()),
        given_name: Some("花子".into()),
        email: Some(email.into()),
        company_name: Some(format!("{family}電機株式会社")),
        phone: Some("06-1234-5678".into()),
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), true, hatake_web::now_millis()).await.unwrap().id
}

async fn pages(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let now = hatake_web::now_millis();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let erp = store.create_product(&product.validate().unwrap(), now).await.unwrap().id;
    let kato = lead(store, "加藤", "kato@example.jp").await;

    // Without a sheet the lead page has no hearing panel, and the import says what to do first.
    let (marketer, m_csrf) = app.sign_in("marketing@example.jp").await;
    let page = marketer.get(app.url(&format!("/leads/{kato}"))).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("id=\"hearing\""));
    let import = marketer.get(app.url("/hearing/import")).send().await.unwrap().text().await.unwrap();
    assert!(import.contains("ヒアリング項目がまだありません。"), "{import}");

    // The marketer starts from the position-first template, then takes the stage off and puts
    // the problem first.
    let settings = marketer.get(app.url("/settings/hearing")).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains("立場起点") && settings.contains("BANT"));
    let applied = marketer
        .post(app.url("/settings/hearing/template"))
        .form(&[("_csrf", m_csrf.as_str()), ("template", "position_first")])
        .send()
        .await
        .unwrap();
    assert_eq!(applied.status(), 303);
    let location = applied.headers()["location"].to_str().unwrap().to_owned();
    let settings = marketer.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(
        settings.contains("テンプレートを適用しました（項目を6件追加、うちカスタム項目を6件新規作成）。"),
        "{settings}"
    );
    let order = [
        ("_csrf", m_csrf.as_str()),
        ("item", "position"),
        ("position.position", "2"),
        ("item", "problem"),
        ("position.problem", "1"),
        ("item", "timing"),
        ("position.timing", "3"),
        ("item", "current_product"),
        ("position.current_product", ""),
    ];
    let saved = marketer.post(app.url("/settings/hearing")).form(&order).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let keys = hatake_engine::hearing::sheet(store).await.unwrap().keys();
    assert_eq!(keys, ["problem", "position", "timing", "current_product"]);
    let bad_order = [("_csrf", m_csrf.as_str()), ("item", "problem"), ("position.problem", "一番")];
    let refused = marketer.post(app.url("/settings/hearing")).form(&bad_order).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("順番「一番」は数字ではありません"));

    // The rep's call: the hearing items are in the call panel; a wrong value is named next to
    // its item and nothing is stored.
    hatake_engine::qualification::hand_raise(store, kato, erp, "form", Some("資料請求"), now - 60_000, &zone)
        .await
        .unwrap();
    TaskRules::run(store, now, &zone).await.unwrap();
    let (rep, csrf) = app.sign_in("is@example.jp").await;
    let queue = rep.get(app.url("/calls?due=all")).send().await.unwrap().text().await.unwrap();
    assert!(
        queue.contains("ヒアリングシート 0/4 · 未確認: 課題、立場・役割、導入時期 ほか1項目"),
        "the queue says what is still to learn: {queue}"
    );
    let panel = rep.get(app.url(&format!("/leads/{kato}"))).send().await.unwrap().text().await.unwrap();
    assert!(panel.contains("id=\"call-hearing-position\"") && panel.contains("id=\"hearing\""));
    assert!(panel.contains("0/4 項目確認済み"));
    let action = app.url(&format!("/leads/{kato}/calls"));
    let wrong = [
        ("_csrf", csrf.as_str()),
        ("outcome", "key_person"),
        ("result", "nurture"),
        ("hearing.problem", "締め処理に3日かかる"),
        ("hearing.timing", "来週"),
    ];
    let response = rep.post(&action).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("「来週」は選択肢にありません"), "{html}");
    assert!(html.contains("value=\"締め処理に3日かかる\""), "what was typed stays");
    assert!(store.lead_calls(kato, 10).await.unwrap().is_empty());
    let right = [
        ("_csrf", csrf.as_str()),
        ("outcome", "key_person"),
        ("result", "nurture"),
        ("hearing.problem", "締め処理に3日かかる"),
        ("hearing.position", "推進者"),
        ("hearing.timing", "半年以内"),
        ("hearing.current_product", ""),
    ];
    let response = rep.post(&action).form(&right).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("heard=3"), "{location}");
    let page = rep.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("3/4 項目確認済み") && page.contains("id=\"hearing-missing\">現行製品<"), "{page}");
    assert!(page.contains("内田 三郎 <span class=\"muted\">架電時</span>"), "who learned it, on a call: {page}");

    // On the lead's page: the current product learned later, the timing corrected.
    let edit = [
        ("_csrf", csrf.as_str()),
        ("hearing.problem", "締め処理に3日かかる"),
        ("hearing.position", "推進者"),
        ("hearing.timing", "3ヶ月以内"),
        ("hearing.current_product", "他社パッケージ（2016年導入）"),
    ];
    let response = rep.post(app.url(&format!("/leads/{kato}/hearing"))).form(&edit).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?heard=2#hearing"), "{location}");
    let page = rep.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("ヒアリング内容を保存しました。変更: 2項目") && page.contains("4/4 項目確認済み"));
    assert!(page.contains("<s class=\"muted\">半年以内</s> → 3ヶ月以内"), "the history shows the change: {page}");
    let bad = [("_csrf", csrf.as_str()), ("hearing.timing", "すぐ")];
    let response = rep.post(app.url(&format!("/leads/{kato}/hearing"))).form(&bad).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("「すぐ」は選択肢にありません"));
    assert_eq!(store.get_lead(kato).await.unwrap().custom_map()["timing"], "3ヶ月以内", "kept");

    // A file of hearing results: the good rows stored, the bad one named by its line.
    let ito = lead(store, "伊藤", "ito@example.jp").await;
    let file = "メールアドレス,課題,導入時期\nito@example.jp,紙の稟議が遅い,1年以内\nkato@example.jp,,いつか\n";
    let (content_type, body) = support::multipart(&[("_csrf", csrf.as_str())], "hearing.csv", file.as_bytes());
    let response =
        rep.post(app.url("/hearing/import")).header("content-type", content_type).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"import-result\"") && html.contains("取り込んだ行 1"), "{html}");
    assert!(
        html.contains("<td class=\"num\">3</td><td>導入時期</td>") && html.contains("「いつか」は選択肢にありません")
    );
    assert_eq!(store.get_lead(ito).await.unwrap().custom_map()["problem"], "紙の稟議が遅い");
    let wrong_file = "メールアドレス,予算感\nito@example.jp,1000万\n";
    let (content_type, body) = support::multipart(&[("_csrf", csrf.as_str())], "hearing.csv", wrong_file.as_bytes());
    let response =
        rep.post(app.url("/hearing/import")).header("content-type", content_type).body(body).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("ヒアリング項目にない列があります: 予算感"));

    // Field sales see the sheet but may not import; only admins and marketers change the sheet.
    let (field, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(field.get(app.url("/hearing/import")).send().await.unwrap().status(), 403);
    let page = field.get(app.url(&format!("/leads/{kato}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("他社パッケージ(2016年導入)"), "stored in NFKC");
    assert_eq!(rep.get(app.url("/settings/hearing")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearing_pages_sqlite() {
    pages(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hearing_pages_postgres() {
    pages(support::Backend::Postgres).await;
}
