//! A real headless Chromium, driven through chromedriver: sign in, find a lead in the list,
//! open it, and switch the language; import a file through upload, mapping, preview and
//! commit; the tracking script and an embedded form on another site (another origin); a meeting
//! booked after the hosted form; an MQL accepted and made a deal; a recipient's mail preferences on
//! a phone. Needs Debian's `chromium` and
//! `chromium-driver` (`.ci/run` installs them); without them these tests fail with instructions —
//! never skip.

mod support;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{spawn_app, Backend, PASSWORD};

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(program: &str, env: &str) -> String {
    if let Ok(path) = std::env::var(env) {
        return path;
    }
    let found = ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
        .iter()
        .map(|dir| format!("{dir}/{program}"))
        .find(|path| std::path::Path::new(path).exists());
    found.unwrap_or_else(|| {
        panic!(
            "{program} was not found (set {env} to its path). Install headless Chromium and its driver: \
             `apt-get install chromium chromium-driver` on Debian, or run `bash .ci/run`, which does."
        )
    })
}

async fn start_driver() -> Driver {
    let binary = find("chromedriver", "HATAKE_CHROMEDRIVER");
    let port = hatake_testkit::free_port();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port} within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

/// Waits until the browser's URL contains `part` (a click's navigation has happened).
async fn wait_for_url(browser: &fantoccini::Client, part: &str) -> Result<(), fantoccini::error::CmdError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if browser.current_url().await?.as_str().contains(part) {
            return Ok(());
        }
        assert!(Instant::now() < deadline, "the browser never reached a URL containing {part}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A headless Chromium session on the driver, with a fresh profile (kept while it is alive).
async fn open_browser(driver: &Driver) -> (fantoccini::Client, tempfile::TempDir) {
    let chromium = find("chromium", "HATAKE_CHROMIUM");
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,900",
                     // A person's browser to web tracking (it does not count HeadlessChrome).
                     "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
                     format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session");
    (browser, profile)
}

/// The organisation's own site: another port of 127.0.0.1, so another origin. Each request gets
/// the page of the first path its own starts with (else 404). Returns the site's origin.
async fn serve_site(pages: Vec<(&'static str, String)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", site.local_addr().unwrap());
    let pages = std::sync::Arc::new(pages);
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = site.accept().await else { return };
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..read]);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let response = match pages.iter().find(|(prefix, _)| path.starts_with(prefix)) {
                    Some((_, page)) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    ),
                    None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    origin
}

/// A product page of the organisation's site with hatake's tracking script.
fn product_page(app: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>クラウドERP 製品詳細</title></head>\
         <body><h1>クラウドERP</h1><script src=\"{app}/t.js\" async></script></body></html>"
    )
}

/// Waits (20 s at most) until `check` gives a value; `what` says what was awaited.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "waited 20 s in vain for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the first element matching `css` has a text containing `part` (and any text at
/// all); returns the text.
async fn wait_for_text(
    browser: &fantoccini::Client,
    css: &str,
    part: &str,
) -> Result<String, fantoccini::error::CmdError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let script = "var e = document.querySelector(arguments[0]); return e ? e.textContent : '';";
        let text = browser.execute(script, vec![json!(css)]).await?.as_str().unwrap_or_default().trim().to_owned();
        if !text.is_empty() && text.contains(part) {
            return Ok(text);
        }
        assert!(Instant::now() < deadline, "{css} never showed {part:?} (it shows {text:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in through the login page and waits for the signed-in page.
async fn sign_in(
    browser: &fantoccini::Client,
    app: &support::TestApp,
    email: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/login")).await?;
    browser.find(Locator::Css("input[name=email]")).await?.send_keys(email).await?;
    browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
    browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
    browser.wait().for_element(Locator::Id("logout")).await?;
    Ok(())
}

/// The visitor id the tracking script keeps in the current site's cookie, once it is there.
async fn visitor_cookie(browser: &fantoccini::Client) -> String {
    eventually("the tracking script's visitor id", || async move {
        let cookie = browser.execute("return document.cookie", vec![]).await.expect("cookie");
        let id = cookie.as_str().and_then(|c| c.split("hk_vid=").nth(1)).map(|id| id.split(';').next());
        id.flatten().map(str::to_owned)
    })
    .await
}

#[tokio::test]
async fn sign_in_and_open_a_lead_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let account = app
        .api(reqwest::Method::POST, "/api/v1/accounts", &app.admin_token)
        .json(&json!({"name": "株式会社ひまわり商事", "corporate_number": "7000012050002"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let lead = app
        .api(reqwest::Method::POST, "/api/v1/leads", &app.admin_token)
        .json(&json!({"family_name": "山田", "given_name": "花子", "family_name_kana": "ヤマダ",
                      "email": "hanako@himawari.co.jp", "account_id": account["id"], "department": "DX推進室"}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;

    let result = async {
        browser.goto(&app.url(&format!("/leads/{}", lead["id"]))).await?;
        // Not signed in: the page sends us to sign in, and back afterwards.
        assert!(browser.current_url().await?.path().starts_with("/login"));
        browser.find(Locator::Css("input[name=email]")).await?.send_keys("sales@example.jp").await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("lead-name")).await?;
        let heading = browser.find(Locator::Id("lead-name")).await?.text().await?;
        assert!(heading.contains("山田 花子"), "{heading}");
        let body = browser.find(Locator::Css("main")).await?.text().await?;
        assert!(body.contains("株式会社ひまわり商事") && body.contains("DX推進室"), "{body}");

        // From the list: search, then open the lead by clicking its name.
        browser.goto(&app.url("/leads")).await?;
        let search = browser.find(Locator::Css("input[name=q]")).await?;
        search.send_keys("ひまわり").await?;
        browser.find(Locator::Css("#lead-filters button[type=submit]")).await?.click().await?;
        // Wait for the results page itself (the unfiltered list has the same link).
        wait_for_url(&browser, "q=").await?;
        browser.wait().for_element(Locator::LinkText("山田 花子")).await?.click().await?;
        wait_for_url(&browser, "/leads/").await?;
        browser.wait().for_element(Locator::Id("lead-name")).await?;

        // Switch to English: wait for an element only the English page has.
        browser.find(Locator::Id("switch-language")).await?.click().await?;
        browser.wait().for_element(Locator::LinkText("Leads")).await?;
        assert!(browser.current_url().await?.path().starts_with("/leads/"), "back on the same page");
        let png = browser.screenshot().await?;
        let shot = std::env::temp_dir().join("hatake-browser-test.png");
        std::fs::write(&shot, png).ok();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}

/// A list with one row the importer refuses (line 3: no usable e-mail, name or phone).
const LIST: &str =
    "会社名,氏名,メールアドレス,都道府県\n株式会社ひまわり商事,佐藤 太郎,taro@himawari.example.jp,東京都\n\
                    あおぞら工業,,not-an-address,\n東和精機,山本 次郎,jiro@towa.example.jp,愛知県\n";

#[tokio::test]
async fn import_a_file_through_upload_mapping_preview_and_commit_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("セミナー参加者.csv");
    std::fs::write(&file, LIST).unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        browser.goto(&app.url("/imports")).await?;
        browser.find(Locator::Css("input[name=email]")).await?.send_keys("marketing@example.jp").await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("upload-form")).await?;

        // The real file input and the browser's own multipart encoding.
        let input = browser.find(Locator::Css("#upload-form input[type=file]")).await?;
        input.send_keys(&file.display().to_string()).await?;
        browser.find(Locator::Css("#upload-form button[type=submit]")).await?.click().await?;
        wait_for_url(&browser, "/imports/uploads/").await?;
        browser.wait().for_element(Locator::Id("mapping-table")).await?;
        let heading = browser.find(Locator::Css("h1")).await?.text().await?;
        assert!(heading.contains("セミナー参加者.csv"), "the file's name as the browser sent it: {heading}");
        let email = browser.find(Locator::Css("select[data-column='2']")).await?.prop("value").await?;
        assert_eq!(email.as_deref(), Some("email"), "the e-mail column is guessed");

        // Preview: three rows, one with a problem, shown with its line.
        browser.find(Locator::Id("to-preview")).await?.click().await?;
        browser.wait().for_element(Locator::Id("preview-table")).await?;
        assert_eq!(browser.find(Locator::Id("valid-rows")).await?.text().await?, "2");
        assert_eq!(browser.find(Locator::Id("invalid-rows")).await?.text().await?, "1");
        let problem = browser.find(Locator::Css("tr.problems[data-line='3']")).await?.text().await?;
        assert!(problem.contains("行 3"), "{problem}");

        // Commit asks first (data-confirm); accepting runs the import and shows its page.
        browser.find(Locator::Id("commit")).await?.click().await?;
        browser.accept_alert().await?;
        wait_for_url(&browser, "done=1").await?;
        browser.wait().for_element(Locator::Id("import-counts")).await?;
        let created = browser.find(Locator::Css("[data-count=created] .figure")).await?.text().await?;
        let rejected = browser.find(Locator::Css("[data-count=rejected] .figure")).await?.text().await?;
        assert_eq!((created.as_str(), rejected.as_str()), ("2", "1"));
        let png = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-browser-import.png"), png).ok();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    let overview = app.store.overview().await.unwrap();
    assert_eq!(overview.lead_records + overview.list_records, 2);
}

/// The tracking script on a page of another origin (the organisation's own site): the page view
/// is recorded with the visitor id the script put in that site's cookie, the URL's campaign and
/// the title; a second view keeps the id.
#[tokio::test]
async fn the_tracking_script_records_page_views_from_another_site() {
    use hatake_store::EventQuery;
    let app = spawn_app(Backend::Sqlite).await;
    // The organisation's site: every path serves one page.
    let site = serve_site(vec![("/", product_page(&app.base))]).await;
    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let url = format!("{site}/products/erp?utm_source=pdf&utm_campaign=catalog");
    browser.goto(&url).await.expect("the site's page");
    let id = visitor_cookie(&browser).await;
    let views = |count: usize| {
        let store = app.store.clone();
        let id = id.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let events =
                    store.visitor_events(&id, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
                if events.len() >= count {
                    return events;
                }
                assert!(Instant::now() < deadline, "{} of {count} page views recorded", events.len());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let events = views(1).await;
    let properties: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
    assert_eq!(properties["url"], url.as_str());
    assert_eq!(properties["utm_source"], "pdf");
    assert_eq!(properties["utm_campaign"], "catalog");
    assert_eq!(properties["title"], "クラウドERP 製品詳細");
    browser.refresh().await.expect("reload");
    assert_eq!(views(2).await.len(), 2, "the same visitor id on the second view");
    assert_eq!(visitor_cookie(&browser).await, id);
    browser.close().await.expect("close");
}

/// A product to ask about, created directly in the store.
async fn erp(app: &support::TestApp) -> hatake_store::ProductRow {
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    app.store.create_product(&product.validate().unwrap(), hatake_web::now_millis()).await.unwrap()
}

/// A field of a form definition (the builder's JSON).
fn field(target: &str, label: &str, required: bool) -> serde_json::Value {
    json!({"target": target, "label_ja": label, "label_en": label, "required": required})
}

/// The organisation's site: a product page with the tracking script, then a contact page with
/// the embedded form. The visitor sends it with a wrong e-mail first (told next to the field,
/// nothing stored), then right: a lead with the form-submit event, its consent, and the product
/// page viewed before and after. A form that does not list the site does not load there.
#[tokio::test]
async fn an_embedded_form_on_another_site_becomes_a_lead_with_its_visits() {
    use hatake_store::EventQuery;
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let contact_page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>お問い合わせ</title></head><body>\
         <h1>お問い合わせ</h1><div data-hatake-form=\"contact\" data-lang=\"ja\"></div>\
         <h2>パートナー募集</h2><div data-hatake-form=\"partner\" data-lang=\"ja\"></div>\
         <script src=\"{}/f/embed.js\" async></script></body></html>",
        app.base
    );
    let site = serve_site(vec![("/products/", product_page(&app.base)), ("/contact", contact_page)]).await;
    let thanks = "お問い合わせありがとうございました。2営業日以内にご連絡します。";
    let definition = |origin: &str| {
        json!({
            "name": "お問い合わせ",
            "product_id": product.id,
            "fields": [field("company_name", "会社名", true), field("family_name", "姓", true),
                       field("email", "メールアドレス", true), field("extra.message", "ご質問", false)],
            "consents": [{"product_id": product.id, "label_ja": "クラウドERPのご案内を受け取る",
                          "label_en": "Send me news about the cloud ERP"}],
            "thank_you_ja": thanks,
            "thank_you_en": "Thank you.",
            "allowed_origins": [origin],
        })
        .to_string()
    };
    let now = hatake_web::now_millis();
    let form = app.store.create_form("contact", "お問い合わせ", &definition(&site), None, now).await.unwrap();
    // Another form, embeddable only on another site.
    let other = definition("https://www.example.co.jp");
    app.store.create_form("partner", "パートナー募集", &other, None, now).await.unwrap();
    let product_url = format!("{site}/products/erp");
    let contact_url = format!("{site}/contact?utm_source=seminar&utm_campaign=autumn");
    let lead_events = |lead: i64| {
        let store = app.store.clone();
        async move { store.lead_events(lead, &EventQuery { limit: 20, ..EventQuery::default() }).await.unwrap() }
    };

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        // An anonymous visit first: the script gives the browser the site's visitor id.
        browser.goto(&product_url).await?;
        let visitor = visitor_cookie(&browser).await;
        let (store, id) = (&app.store, &visitor);
        eventually("the product page's view", || async move {
            let events = store.visitor_events(id, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
            (!events.is_empty()).then_some(())
        })
        .await;

        browser.goto(&contact_url).await?;
        let box_ = "[data-hatake-form=contact]";
        browser.wait().for_element(Locator::Css(&format!("{box_} form.hk-form"))).await?;
        let refused = wait_for_text(&browser, "[data-hatake-form=partner]", "読み込めませんでした").await?;
        assert!(refused.contains("could not be loaded"), "{refused}");
        assert!(browser.find_all(Locator::Css("[data-hatake-form=partner] form")).await?.is_empty());

        let input = |name: &str| format!("{box_} [name='{name}']");
        browser.find(Locator::Css(&input("company_name"))).await?.send_keys("株式会社東和精機").await?;
        browser.find(Locator::Css(&input("family_name"))).await?.send_keys("山田").await?;
        // A browser takes this address; the server does not (no dot in the domain).
        let email = browser.find(Locator::Css(&input("email"))).await?;
        email.send_keys("yamada@towa").await?;
        browser.find(Locator::Css(&input("extra.message"))).await?.send_keys("価格表をください").await?;
        let submit = format!("{box_} button[type=submit]");
        browser.find(Locator::Css(&submit)).await?.click().await?;
        let error = wait_for_text(&browser, &format!("{box_} [data-error-for=email]"), "メールアドレス").await?;
        assert!(error.contains("yamada@towa"), "{error}");
        let alert = wait_for_text(&browser, &format!("{box_} .hk-alert"), "入力内容をご確認ください").await?;
        assert!(!alert.is_empty());
        let others = "var n = 0; document.querySelectorAll(arguments[0]).forEach(function (e) { \
                      if (e.getAttribute('data-error-for') !== 'email' && e.textContent.trim()) { n++; } }); return n;";
        let marked = browser.execute(others, vec![json!(format!("{box_} [data-error-for]"))]).await?;
        assert_eq!(marked, json!(0), "only the e-mail is marked");
        assert!(app.store.list_submissions(form.id, None, None, 10).await.unwrap().is_empty(), "nothing stored");

        email.clear().await?;
        email.send_keys("Yamada@Towa.example.jp").await?;
        browser.find(Locator::Css(&input(&format!("consent.{}", product.id)))).await?.click().await?;
        browser.find(Locator::Css(&submit)).await?.click().await?;
        let shown = wait_for_text(&browser, &format!("{box_} .hk-thanks"), thanks).await?;
        assert_eq!(shown, thanks);
        assert!(browser.find_all(Locator::Css(&format!("{box_} form"))).await?.is_empty(), "the form is replaced");

        let submissions = app.store.list_submissions(form.id, None, None, 10).await.unwrap();
        assert_eq!(submissions.len(), 1);
        let submission = &submissions[0];
        assert_eq!(submission.status, "done", "{:?}", submission.last_error);
        assert_eq!(submission.visitor_id.as_deref(), Some(visitor.as_str()), "the site's visitor id was sent");
        let lead_id = submission.lead_id.expect("a lead");
        let lead = app.store.get_lead(lead_id).await.unwrap();
        assert_eq!(lead.email.as_deref(), Some("yamada@towa.example.jp"));
        let events = lead_events(lead_id).await;
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["form_submit", "page_view"], "the earlier anonymous visit is the lead's");
        let submitted: serde_json::Value = serde_json::from_str(&events[0].properties).unwrap();
        assert_eq!(submitted["consents"], json!([product.id]));
        assert_eq!(submitted["answers"]["message"], "価格表をください");
        assert_eq!(submitted["url"], contact_url.as_str(), "the embedding page");
        assert_eq!(submitted["utm_campaign"], "autumn");
        assert_eq!(events[0].product_id, Some(product.id));
        let viewed: serde_json::Value = serde_json::from_str(&events[1].properties).unwrap();
        assert_eq!(
            (events[1].visitor_id.as_deref(), viewed["url"].as_str()),
            (Some(visitor.as_str()), Some(&*product_url))
        );

        // A later visit of the same browser joins the lead's history directly.
        browser.goto(&product_url).await?;
        let events_of = &lead_events;
        eventually("the second page view on the lead", || async move {
            let events = events_of(lead_id).await;
            (events.iter().filter(|e| e.kind == "page_view").count() == 2).then_some(())
        })
        .await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}

/// The hosted form ends with booking: the prospect sends it, lands on the free slots of the
/// product's rep, books the first, and sees the rep; the rep sees the meeting in their list.
#[tokio::test]
async fn a_prospect_books_a_meeting_after_the_hosted_form() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let now = hatake_web::now_millis();
    let definition = json!({
        "name": "商談のお申し込み",
        "product_id": product.id,
        "fields": [field("company_name", "会社名", true), field("family_name", "姓", true),
                   field("email", "メールアドレス", true)],
        "thank_you_ja": "お申し込みありがとうございます。",
        "thank_you_en": "Thank you.",
        "booking": {"slot_minutes": 60, "business_days": 5, "min_notice_minutes": 0},
    });
    let form = app.store.create_form("meet", "商談のお申し込み", &definition.to_string(), None, now).await.unwrap();
    let rep = app.field_sales.id;
    app.store.set_rep_products(rep, &[product.id]).await.unwrap();
    // Every weekday all day, so that slots exist whenever the test runs.
    let hours = hatake_domain::booking::WeeklyHours::parse("月-金 00:00-24:00").unwrap();
    app.store.set_working_hours(rep, &serde_json::to_string(&hours).unwrap(), now).await.unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        browser.goto(&app.url("/f/meet?lang=ja")).await?;
        browser.wait().for_element(Locator::Css("form.hk-form")).await?;
        // A fresh form shows no error boxes: the empty slot under each field takes no room.
        let shown = browser
            .execute(
                "return [...document.querySelectorAll('[data-error-for]')].filter(e => e.offsetHeight > 0).length",
                vec![],
            )
            .await?;
        assert_eq!(shown, json!(0), "no empty error box before anyone types");
        browser.find(Locator::Css("[name=company_name]")).await?.send_keys("株式会社東和精機").await?;
        browser.find(Locator::Css("[name=family_name]")).await?.send_keys("佐藤").await?;
        browser.find(Locator::Css("[name=email]")).await?.send_keys("sato@towa.example.jp").await?;
        browser.find(Locator::Css("form.hk-form button[type=submit]")).await?.click().await?;

        wait_for_url(&browser, "/f/meet/book?token=").await?;
        browser.wait().for_element(Locator::Id("booking-form")).await?;
        let slots = browser.find_all(Locator::Css("#booking-form input[name=start]")).await?;
        assert!(!slots.is_empty(), "free slots are offered");
        let start = slots[0].attr("value").await?.expect("a slot's start");
        slots[0].click().await?;
        browser.find(Locator::Css("#booking-form button[type=submit]")).await?.click().await?;
        let booked = wait_for_text(&browser, "#booked", "営業 次郎").await?;
        assert!(booked.contains("商談の予約が確定しました。"), "{booked}");

        let submissions = app.store.list_submissions(form.id, None, None, 10).await.unwrap();
        assert_eq!(submissions.len(), 1);
        assert_eq!(submissions[0].status, "done", "{:?}", submissions[0].last_error);
        let meetings = app.store.list_meetings(None, 0, 10).await.unwrap();
        assert_eq!(meetings.len(), 1);
        let meeting = &meetings[0];
        assert_eq!((meeting.user_id, meeting.status.as_str()), (rep, "booked"));
        assert_eq!(meeting.starts_at.to_string(), start, "the slot that was picked");
        assert_eq!(meeting.ends_at - meeting.starts_at, 3_600_000);
        assert_eq!(meeting.lead_id, submissions[0].lead_id, "the meeting is the lead's");
        assert!(meeting.lead_id.is_some());

        // The rep signs in and finds it in their meetings.
        browser.goto(&app.url("/meetings")).await?;
        browser.find(Locator::Css("input[name=email]")).await?.send_keys("sales@example.jp").await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("meeting-table")).await?;
        let row = browser.find(Locator::Css("#meeting-table tr.meeting.status-booked")).await?.text().await?;
        assert!(row.contains("株式会社東和精機") && row.contains("佐藤") && row.contains("営業 次郎"), "{row}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}

/// Inside sales works the MQL queue: a lead whose behaviour reached the policy waits there by
/// itself; accepting it makes it a SAL, opening a deal puts it on the board; the lead page shows
/// the score's breakdown and the history.
#[tokio::test]
async fn inside_sales_accepts_an_mql_and_opens_a_deal_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let model = hatake_domain::scoring::ScoringModel::template().to_json();
    app.store.save_scoring_model(product.id, &model, None, 1).await.unwrap();
    let policy = hatake_domain::qualification::MqlPolicy::template().to_json();
    app.store.save_config(product.id, hatake_store::CONFIG_MQL_POLICY, &policy, None, 1).await.unwrap();
    let input = hatake_domain::LeadInput {
        family_name: Some("高橋".into()),
        given_name: Some("誠".into()),
        email: Some("makoto@towa-seiki.co.jp".into()),
        ..Default::default()
    };
    let lead = app.store.create_lead(&input.validate(&[]).unwrap(), true, 1).await.unwrap().id;
    let events: Vec<serde_json::Value> = ["download", "mail_open", "seminar_attendance", "exhibition_visit", "download"]
        .iter()
        .enumerate()
        .map(|(i, kind)| json!({"kind": kind, "lead_id": lead, "product_id": product.id, "idempotency_key": format!("b{i}")}))
        .collect();
    let sent = app.api(reqwest::Method::POST, "/api/v1/events", &app.admin_token).json(&events).send().await.unwrap();
    assert_eq!(sent.status(), 200);
    eventually("the lead to become an MQL", || async {
        let stages = app.store.lead_stages(&[lead]).await.unwrap();
        stages.first().filter(|s| s.stage == "mql").map(|_| ())
    })
    .await;

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "is@example.jp").await?;
        browser.goto(&app.url(&format!("/pipeline/{}/mql", product.id))).await?;
        let row = browser.wait().for_element(Locator::Css(&format!("tr.mql-row[data-lead=\"{lead}\"]"))).await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-mql-queue.png"), shot).ok();
        row.find(Locator::Css("textarea[name=note]"))
            .await?
            .send_keys("基幹刷新を来期に検討中。部長同席で訪問希望")
            .await?;
        row.find(Locator::Css("button.accept")).await?.click().await?;
        browser.wait().for_element(Locator::Id("moved")).await?;
        // The accepted lead is on the SAL tab, with the hand-over note.
        browser.find(Locator::Id("tab-sal")).await?.click().await?;
        let sal = browser.wait().for_element(Locator::Css(&format!("tr.sal-row[data-lead=\"{lead}\"]"))).await?;
        assert!(sal.text().await?.contains("部長同席で訪問希望"), "the hand-over note");
        sal.find(Locator::Css("input[name=amount]")).await?.send_keys("4,500,000").await?;
        sal.find(Locator::Css("button[type=submit]")).await?.click().await?;
        // The queue page before the click also says "moved": wait until the lead has left SAL.
        let sal_row = format!("tr.sal-row[data-lead=\"{lead}\"]");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let script = "return document.querySelector(arguments[0]) === null && !!document.getElementById('moved');";
            if browser.execute(script, vec![json!(sal_row)]).await?.as_bool() == Some(true) {
                break;
            }
            assert!(Instant::now() < deadline, "the deal was never opened from SAL");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        browser.goto(&app.url(&format!("/pipeline/{}", product.id))).await?;
        let card = wait_for_text(&browser, "article.opportunity", "4,500,000円").await?;
        assert!(card.contains("ERP"), "{card}");
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-deal-board.png"), shot).ok();
        browser.goto(&app.url(&format!("/leads/{lead}"))).await?;
        let scores = wait_for_text(&browser, "#lead-scores", "50").await?;
        assert!(
            scores.contains("資料ダウンロード") && scores.contains("セミナー参加"),
            "rules by their names: {scores}"
        );
        let process = wait_for_text(&browser, "#lead-process", "商談").await?;
        assert!(process.contains("内田 三郎"), "who moved it: {process}");
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-lead-process.png"), shot).ok();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    let deal = app.store.lead_opportunities(lead).await.unwrap();
    assert_eq!(deal[0].amount, Some(4_500_000));
}

/// Inside sales lands on its call queue, opens the first call with one click, logs it from the
/// call panel (an outcome, call again tomorrow) and is back on the queue, which says so.
#[tokio::test]
async fn inside_sales_logs_a_call_from_the_queue_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let input = hatake_domain::LeadInput {
        family_name: Some("高橋".into()),
        given_name: Some("誠".into()),
        company_name: Some("東和精機株式会社".into()),
        phone: Some("03-5555-0101".into()),
        ..Default::default()
    };
    let now = hatake_web::now_millis();
    let lead = app.store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id;
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    hatake_engine::qualification::hand_raise(app.store.as_ref(), lead, product.id, "form", None, now, &zone)
        .await
        .unwrap();
    hatake_engine::inside_sales::TaskRules::run(app.store.as_ref(), now, &zone).await.unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "is@example.jp").await?;
        wait_for_url(&browser, "/calls").await?;
        let row = browser.wait().for_element(Locator::Css(&format!("tr.queue-row[data-lead=\"{lead}\"]"))).await?;
        assert!(row.text().await?.contains("東和精機株式会社"));
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-call-queue.png"), shot).ok();
        row.find(Locator::Css("a.button.primary")).await?.click().await?;
        browser.wait().for_element(Locator::Id("call-form")).await?;
        browser.find(Locator::Css("input[name=outcome][value=absent]")).await?.click().await?;
        browser.find(Locator::Css("select[name=result] option[value=recall]")).await?.click().await?;
        browser.find(Locator::Css("textarea[name=note]")).await?.send_keys("夕方に戻るとのこと").await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-call-panel.png"), shot).ok();
        browser.find(Locator::Id("log-call")).await?.click().await?;
        wait_for_text(&browser, "#call-logged", "高橋 誠：不在を記録しました").await?;
        // The KPI page counts it: one call, one connect.
        browser.find(Locator::Id("tab-kpi")).await?.click().await?;
        wait_for_text(&browser, "#kpi-calls", "1").await?;
        wait_for_text(&browser, "#kpi-connects", "1").await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-call-kpi.png"), shot).ok();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    let calls = app.store.lead_calls(lead, 10).await.unwrap();
    assert_eq!((calls.len(), calls[0].outcome.as_str(), calls[0].result.as_deref()), (1, "absent", Some("recall")));
    let next = app.store.tasks(&hatake_store::TaskQuery { lead_id: Some(lead), ..Default::default() }).await.unwrap();
    assert_eq!(next.len(), 1, "the call again is the only open task");
    assert!(next[0].due_at > now && next[0].owner_id == Some(app.inside_sales.id));
}

/// An alert reaches an open call queue without a reload: a lead of the rep's looks at the
/// pricing page (an event through the API) and the note shows within 2 s.
#[tokio::test]
async fn an_alert_appears_in_the_open_call_queue_within_two_seconds_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let input = hatake_domain::LeadInput {
        family_name: Some("小林".into()),
        given_name: Some("直美".into()),
        company_name: Some("北星物産株式会社".into()),
        owner_id: Some(app.inside_sales.id),
        ..Default::default()
    };
    let now = hatake_web::now_millis();
    let lead = app.store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id;
    let rule = hatake_domain::alerts::AlertRule {
        id: "r1".into(),
        name: "料金ページを閲覧".into(),
        product_id: None,
        trigger: hatake_domain::alerts::Trigger::Event {
            kind: "page_view".into(),
            url_contains: vec!["/pricing".into()],
            name_contains: None,
            tracked_link: false,
            count: 1,
            within_hours: 168,
        },
        window_hours: 24,
        mail: false,
        webhook_url: None,
        active: true,
    };
    let config = hatake_domain::alerts::AlertConfig { rules: vec![rule], ..Default::default() };
    hatake_engine::alerts::save_config(app.store.as_ref(), &config, now).await.unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "is@example.jp").await?;
        wait_for_url(&browser, "/calls").await?;
        browser.wait().for_element(Locator::Id("alert-toasts")).await?;
        // Let the page's live feed connect.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let event =
            json!([{"kind": "page_view", "lead_id": lead, "properties": {"url": "https://example.jp/pricing"}}]);
        let started = std::time::Instant::now();
        let sent =
            app.api(reqwest::Method::POST, "/api/v1/events", &app.admin_token).json(&event).send().await.unwrap();
        assert_eq!(sent.status(), 200);
        let toast = browser
            .wait()
            .at_most(std::time::Duration::from_secs(5))
            .every(std::time::Duration::from_millis(50))
            .for_element(Locator::Css("#alert-toasts .toast"))
            .await?;
        let elapsed = started.elapsed();
        let text = toast.text().await?;
        assert!(text.contains("料金ページを閲覧：小林 直美（北星物産株式会社）"), "{text}");
        assert!(elapsed < std::time::Duration::from_secs(2), "the alert took {elapsed:?}");
        println!("alert shown {} ms after the event was sent", elapsed.as_millis());
        wait_for_text(&browser, "#alert-count", "1").await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-alert-toast.png"), shot).ok();
        // One click opens the lead at its call panel, and the alert is read.
        toast.find(Locator::Css("a")).await?.click().await?;
        browser.wait().for_element(Locator::Id("call-form")).await?;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    assert_eq!(app.store.count_unread_alerts(hatake_store::AlertFor::User(app.inside_sales.id)).await.unwrap(), 0);
}

/// A marketer simulates an MQL policy before saving it (the months as a chart and a table), and
/// opens the scoring model's form editor.
#[tokio::test]
async fn a_marketer_simulates_a_policy_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let model = hatake_domain::scoring::ScoringModel::template().to_json();
    app.store.save_scoring_model(product.id, &model, None, 1).await.unwrap();
    let input = hatake_domain::LeadInput {
        family_name: Some("渡辺".into()),
        email: Some("watanabe@kita-kogyo.co.jp".into()),
        ..Default::default()
    };
    let lead = app.store.create_lead(&input.validate(&[]).unwrap(), true, 1).await.unwrap().id;
    let events: Vec<serde_json::Value> = (0..6)
        .map(|i| json!({"kind": "download", "lead_id": lead, "product_id": product.id, "idempotency_key": format!("s{i}")}))
        .collect();
    let sent = app.api(reqwest::Method::POST, "/api/v1/events", &app.admin_token).json(&events).send().await.unwrap();
    assert_eq!(sent.status(), 200);

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "marketing@example.jp").await?;
        browser.goto(&app.url(&format!("/qualification/{}", product.id))).await?;
        browser.wait().for_element(Locator::Id("simulate")).await?.click().await?;
        let summary = wait_for_text(&browser, "#simulation-summary", "12か月").await?;
        assert!(summary.contains("12か月で 1 件"), "{summary}");
        let bars = browser.find_all(Locator::Css("svg.chart rect.would")).await?;
        assert_eq!(bars.len(), 12);
        browser.execute("document.getElementById('simulation').scrollIntoView()", vec![]).await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-policy-simulation.png"), shot).ok();
        browser.goto(&app.url(&format!("/scoring/{}/rules", product.id))).await?;
        browser.wait().for_element(Locator::Css("input[value='pricing-page']")).await?;
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-scoring-rules.png"), shot).ok();
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    assert!(app.store.config_versions(product.id, "mql_policy").await.unwrap().is_empty(), "simulating saves nothing");
}

/// A recipient opens the link of a marketing mail on a phone (390 px wide, no sign-in): each
/// topic's switch fits the screen, switching one off and saving says so and records it, and
/// 「すべてのメール配信を停止する」 stops the rest.
#[tokio::test]
async fn a_recipient_changes_their_mail_preferences_on_a_phone() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let lead = hatake_domain::LeadInput {
        family_name: Some("佐藤".into()),
        email: Some("sato@towa.example.jp".into()),
        ..Default::default()
    };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), false, 0).await.unwrap().id;
    let now = hatake_web::now_millis();
    let subscribe = |topic: String| hatake_store::SubscriptionChange {
        lead_id: lead,
        topic,
        status: "subscribed".into(),
        source: "form".into(),
        detail: Some("資料請求".into()),
        by_user: None,
        at: now,
    };
    app.store
        .change_subscriptions(&[subscribe("general".into()), subscribe(hatake_store::product_topic(product.id))])
        .await
        .unwrap();
    let key = hatake_engine::mail::subscriptions::link_key(app.store.as_ref(), now).await.unwrap();
    let url = hatake_engine::mail::subscriptions::unsubscribe_url(&app.base, &key, lead, "general");

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        browser.set_window_size(390, 844).await?;
        // A Japanese recipient's browser asks for Japanese; this headless one asks for English.
        browser.goto(&format!("{url}&lang=ja")).await?;
        browser.wait().for_element(Locator::Id("prefs-form")).await?;
        let width = browser.execute("return document.documentElement.scrollWidth", vec![]).await?;
        assert!(width.as_i64().unwrap_or(9_999) <= 390, "the page fits a phone: {width}");
        let general = browser.find(Locator::Css("input[name='topic.general']")).await?;
        assert!(general.prop("checked").await?.as_deref() == Some("true"), "subscribed: on");
        general.click().await?;
        browser.find(Locator::Css("button[value=save]")).await?.click().await?;
        let saved = wait_for_text(&browser, "#prefs-saved", "配信設定を変更しました").await?;
        assert!(saved.contains("変更しました"));
        let rows = app.store.lead_subscriptions(lead).await.unwrap();
        let general = rows.iter().find(|r| r.topic == "general").unwrap();
        assert_eq!((general.status.as_str(), general.source.as_str()), ("unsubscribed", "preferences"));
        let erp = rows.iter().find(|r| r.topic != "general").unwrap();
        assert_eq!(erp.status, "subscribed", "the other topic stays");

        browser.find(Locator::Id("stop-all")).await?.click().await?;
        wait_for_text(&browser, "#prefs-saved", "すべてのメール配信を停止しました").await?;
        let rows = app.store.lead_subscriptions(lead).await.unwrap();
        assert!(rows.iter().all(|r| r.status == "unsubscribed"), "{rows:?}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}

/// A marketer writes a template in Chromium: a typo is named with its line and column and what
/// was typed stays; once fixed it saves as version 1 with a preview (subject, HTML in a sandboxed
/// frame); the preview for a chosen lead without saving shows their name; a test send lands on
/// the outbox.
#[tokio::test]
async fn a_marketer_writes_and_previews_a_template_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let now = hatake_web::now_millis();
    let sender = hatake_engine::mail::config::SenderIdentity {
        name: "畑ソフト株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@hatake.example.jp".into(),
        from_address: "news@hatake.example.jp".into(),
        public_url: app.base.clone(),
    };
    app.store.put_setting("mail.sender", &serde_json::to_string(&sender).unwrap(), now).await.unwrap();
    let lead = hatake_domain::LeadInput {
        family_name: Some("渡辺".into()),
        given_name: Some("美香".into()),
        email: Some("watanabe@kita-kogyo.co.jp".into()),
        company_name: Some("北工業株式会社".into()),
        ..Default::default()
    };
    app.store.create_lead(&lead.validate(&[]).unwrap(), true, now).await.unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "marketing@example.jp").await?;
        browser.find(Locator::Id("nav-mail")).await?.click().await?;
        browser.wait().for_element(Locator::Css("#mail-tabs a[href='/mail/templates']")).await?.click().await?;
        browser.wait().for_element(Locator::Id("template-new")).await?.click().await?;
        browser.wait().for_element(Locator::Id("template-form")).await?;
        browser.find(Locator::Css("input[name=name]")).await?.send_keys("ERPセミナーのご案内").await?;
        let select = browser.find(Locator::Css("select[name=product_id]")).await?;
        select.select_by_value(&product.id.to_string()).await?;
        let subject = browser.find(Locator::Id("template-subject")).await?;
        subject.clear().await?;
        subject.send_keys("{{ lead.family_name }}様 {{ product.name }}セミナーのご案内").await?;
        // A typo on the HTML's first line: a variable left open.
        let html = browser.find(Locator::Id("template-html")).await?;
        let starter = html.prop("value").await?.unwrap_or_default();
        html.clear().await?;
        html.send_keys(&starter.replacen("{{ company }}", "{{ company }", 1)).await?;
        browser.find(Locator::Id("template-save")).await?.click().await?;
        let problems = wait_for_text(&browser, "#template-problems", "1行目").await?;
        assert!(problems.contains("HTML本文 1行目") && problems.contains("列: 構文エラー"), "{problems}");
        let kept = browser.find(Locator::Css("input[name=name]")).await?.prop("value").await?;
        assert_eq!(kept.as_deref(), Some("ERPセミナーのご案内"), "what was typed stays");
        let html = browser.find(Locator::Id("template-html")).await?;
        html.clear().await?;
        html.send_keys(&starter).await?;
        browser.find(Locator::Id("template-save")).await?.click().await?;
        wait_for_text(&browser, "#template-saved", "第1版").await?;
        let subject = wait_for_text(&browser, "#preview-subject", "様").await?;
        assert_eq!(subject, "山田様 クラウドERPセミナーのご案内");
        let frame = browser.find(Locator::Id("preview-html")).await?.attr("srcdoc").await?.unwrap_or_default();
        assert!(frame.contains("山田 太郎 様") && frame.contains("東京都千代田区丸の内1-1-1"), "{frame}");
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-template-editor.png"), shot).ok();
        // For a chosen lead, without saving.
        browser.find(Locator::Id("template-lead")).await?.send_keys("watanabe@kita-kogyo.co.jp").await?;
        browser.find(Locator::Id("template-preview-button")).await?.click().await?;
        let subject = wait_for_text(&browser, "#preview-subject", "渡辺").await?;
        assert_eq!(subject, "渡辺様 クラウドERPセミナーのご案内");
        browser.find(Locator::Id("template-test-send")).await?.click().await?;
        wait_for_url(&browser, "/mail/outbox/").await?;
        let page = browser.find(Locator::Css("main")).await?.text().await?;
        assert!(page.contains("[テスト] 渡辺様 クラウドERPセミナーのご案内"), "{page}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    let (rows, _) =
        app.store.mail_templates(&hatake_store::TemplateQuery { limit: 5, ..Default::default() }).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].version, 1, "previewing saves nothing");
}

/// A marketer builds a segment in Chromium: changing a condition's kind shows that kind's
/// fields, the number of matching people follows each choice without a reload, and once saved
/// the runtime lists the members.
#[tokio::test]
async fn a_marketer_builds_a_segment_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let now = hatake_web::now_millis();
    for (i, department) in ["情報システム部", "情報システム部", "総務部"].into_iter().enumerate() {
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("社員{i}")),
            email: Some(format!("p{i}@towa.example.jp")),
            department: Some(department.into()),
            ..Default::default()
        };
        let mut data = input.validate(&[]).unwrap();
        data.department_class = Some(if i < 2 { "it" } else { "general_affairs" }.to_owned());
        app.store.create_lead(&data, true, now).await.unwrap();
    }
    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "marketing@example.jp").await?;
        browser.goto(&app.url("/mail/segments/new")).await?;
        browser.wait().for_element(Locator::Id("segment-form")).await?;
        browser.find(Locator::Css("input[name=name]")).await?.send_keys("情シスの方").await?;
        // The second row (a subscription) goes; the first becomes a department class.
        browser.find(Locator::Css("#cond-0-1 button.remove")).await?.click().await?;
        browser.wait().for_element(Locator::Id("segment-form")).await?;
        browser.find(Locator::Css("input[name=name]")).await?.send_keys("").await?;
        let kind = browser.find(Locator::Css("#cond-0-0 select.condition-type")).await?;
        kind.select_by_value("department_class").await?;
        browser.wait().for_element(Locator::Css("#cond-0-0 select[name='g0.c0.values']")).await?;
        let values = browser.find(Locator::Css("#cond-0-0 select[name='g0.c0.values']")).await?;
        values.select_by_value("it").await?;
        let count = wait_for_text(&browser, "#segment-count", "2").await?;
        assert_eq!(count, "2");
        let shot = browser.screenshot().await?;
        std::fs::write(std::env::temp_dir().join("hatake-segment-editor.png"), shot).ok();
        browser.find(Locator::Id("segment-save")).await?.click().await?;
        wait_for_text(&browser, "#segment-saved", "保存しました").await?;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
    let (rows, _) = app.store.segments(false, 0, 5).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "情シスの方", "the name typed before the rows changed was kept");
    let started = std::time::Instant::now();
    while app.store.segment(rows[0].id).await.unwrap().unwrap().member_count != 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "the members were built");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A marketer answers a name-matching question: the 「マージ後」 column follows each value they
/// pick, the merge takes what they picked, and the page says what happened.
#[tokio::test]
async fn a_marketer_picks_values_and_merges_a_pair_in_headless_chromium() {
    use hatake_engine::import::{prepare, run, ImportOptions, RowContext};
    let app = spawn_app(Backend::Sqlite).await;
    let stored = "会社名,部署名,氏名,メールアドレス,電話番号\n株式会社ひまわり商事,情報システム部,佐藤 太郎,\
                  taro.sato@himawari.co.jp,03-1234-5678\n";
    let cards = "会社名,氏名,電話番号,都道府県\nひまわり商事,佐藤 太朗,090-9999-0000,東京都\n";
    for (name, text) in [("stored.csv", stored), ("cards.csv", cards)] {
        let prepared = prepare(text.as_bytes(), None, None).unwrap();
        let options = ImportOptions { file_name: name.into(), ..ImportOptions::default() };
        run(app.store.as_ref(), &prepared, &RowContext::default(), &options, hatake_web::now_millis, |_| {})
            .await
            .unwrap();
    }
    let review = app.store.list_reviews("open", 0, 10).await.unwrap().into_iter().find(|r| r.kind == "lead");
    let review = review.expect("a question about two leads");

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "marketing@example.jp").await?;
        browser.goto(&app.url("/reviews")).await?;
        let pair = browser.wait().for_element(Locator::Id(&format!("review-{}", review.id))).await?;
        let after = "return document.querySelector('input[name=\"pick.phone\"]').closest('tr').querySelector('td.after').textContent.trim()";
        assert_eq!(browser.execute(after, vec![]).await?, json!("090-9999-0000"), "the newer phone first");
        pair.find(Locator::Css("input[name=\"pick.phone\"][value=stored]")).await?.click().await?;
        assert_eq!(browser.execute(after, vec![]).await?, json!("03-1234-5678"), "the column follows the pick");
        pair.find(Locator::Css("button.merge")).await?.click().await?;
        browser.accept_alert().await?;
        let said = wait_for_text(&browser, "#merged-flash", "").await?;
        assert!(!said.is_empty(), "the page says the pair was merged");
        let survivor = app.store.get_lead(review.candidate_id).await.unwrap();
        assert_eq!(survivor.phone.as_deref(), Some("03-1234-5678"), "the picked value was kept");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}

/// The editors a marketer meets in week one, used as a person would: the lead form picks its
/// company by searching the name; the lead list finds a katakana reading typed in hiragana;
/// the MQL policy is saved from its form; a deal is won only after the box is ticked and the
/// question answered.
#[tokio::test]
async fn week_one_editors_work_as_a_person_uses_them_in_headless_chromium() {
    let app = spawn_app(Backend::Sqlite).await;
    let product = erp(&app).await;
    let account =
        hatake_domain::AccountInput { name: Some("株式会社ひまわり商事".into()), ..Default::default() };
    let account = app.store.create_account(&account.validate().unwrap(), 1).await.unwrap().id;
    let known = hatake_domain::LeadInput {
        family_name: Some("佐藤".into()),
        family_name_kana: Some("サトウ".into()),
        email: Some("sato@towa.example.jp".into()),
        ..Default::default()
    };
    let known = app.store.create_lead(&known.validate(&[]).unwrap(), true, 1).await.unwrap().id;
    let deal_stage = |from: Option<&str>, to: &str| hatake_store::StageMove {
        lead_id: known,
        product_id: product.id,
        from: from.map(str::to_owned),
        to: to.into(),
        at: hatake_web::now_millis(),
        by: None,
        reason: Some("紹介".into()),
        note: None,
        policy_version: None,
        mode: None,
        sla_due_at: None,
        opportunity: (to == "opportunity").then(|| hatake_store::NewOpportunity {
            name: "東和精機 ERP刷新".into(),
            stage_key: "visited".into(),
            amount: Some(5_000_000),
            expected_close_on: None,
            owner_id: None,
        }),
        detail: None,
    };
    app.store.move_stage(&deal_stage(None, "sal")).await.unwrap();
    app.store.move_stage(&deal_stage(Some("sal"), "opportunity")).await.unwrap();

    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let result = async {
        sign_in(&browser, &app, "admin@example.jp").await?;

        // The company picker: part of the name, then the suggestion.
        browser.goto(&app.url("/leads/new")).await?;
        browser.find(Locator::Css("input[name=family_name]")).await?.send_keys("鈴木").await?;
        browser.find(Locator::Css("input[name=email]")).await?.send_keys("suzuki@himawari.example.jp").await?;
        let picker = browser.find(Locator::Id("account-name")).await?;
        picker.send_keys("ひまわり").await?;
        let suggestion = eventually("a suggestion from the company master", || async {
            let script = "var o = document.querySelector('#account-options option'); return o ? o.value : null;";
            browser.execute(script, vec![]).await.ok().and_then(|v| v.as_str().map(str::to_owned))
        })
        .await;
        assert!(suggestion.contains("ひまわり商事"), "{suggestion}");
        picker.clear().await?;
        picker.send_keys(&suggestion).await?;
        let id = browser.execute("return document.getElementById('account-id').value", vec![]).await?;
        assert_eq!(id, json!(account.to_string()), "picking the suggestion sets the company");
        browser.find(Locator::Css("p.form-actions button[type=submit]")).await?.click().await?;
        let created = eventually("the lead saved", || async {
            let found = app.store.lead_ids_by_email(&["suzuki@himawari.example.jp".to_owned()]).await.unwrap();
            found.first().map(|(_, id)| *id)
        })
        .await;
        let created = app.store.get_lead(created).await.unwrap();
        assert_eq!(created.account_id, Some(account), "linked to the company picked");

        // A reading typed in hiragana finds the katakana one.
        browser.goto(&app.url("/leads?q=%E3%81%95%E3%81%A8%E3%81%86")).await?;
        let table = wait_for_text(&browser, "#lead-table", "佐藤").await?;
        assert!(!table.contains("鈴木"), "{table}");

        // The MQL policy from its form: a threshold changed and saved as a version.
        browser.goto(&app.url(&format!("/qualification/{}/form?template=1", product.id))).await?;
        let threshold = browser.find(Locator::Css("input[name=\"mode.0.min_engagement\"]")).await?;
        threshold.clear().await?;
        threshold.send_keys("55").await?;
        browser.find(Locator::Id("save-policy")).await?.click().await?;
        let versions = eventually("the policy saved", || async {
            let versions = app.store.config_versions(product.id, "mql_policy").await.unwrap();
            (!versions.is_empty()).then_some(versions)
        })
        .await;
        let policy = hatake_domain::qualification::MqlPolicy::from_json(&versions[0].definition).unwrap();
        assert_eq!(policy.modes[0].min_engagement, Some(55));

        // A win: the box first (the browser will not send the form without it), then the question.
        browser.goto(&app.url(&format!("/pipeline/{}", product.id))).await?;
        let card = browser.wait().for_element(Locator::Css("article.opportunity")).await?;
        card.find(Locator::Css("details summary")).await?.click().await?;
        card.find(Locator::Css("button.win")).await?.click().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(app.store.lead_stages(&[known]).await.unwrap()[0].stage, "opportunity", "not won by one click");
        card.find(Locator::Css("input[name=confirm_won]")).await?.click().await?;
        card.find(Locator::Css("button.win")).await?.click().await?;
        browser.accept_alert().await?;
        eventually("the deal won", || async {
            let stages = app.store.lead_stages(&[known]).await.unwrap();
            (stages[0].stage == "won").then_some(())
        })
        .await;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    result.expect("browser steps");
}
