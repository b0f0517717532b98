//! A real headless Chromium, driven through chromedriver: sign in, find a lead in the list,
//! open it, and switch the language; import a file through upload, mapping, preview and
//! commit. Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); without
//! them this test fails with instructions — never skips.

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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(Backend::Sqlite).await;
    // The organisation's site: another port, so another origin; every path serves one page.
    let site = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_port = site.local_addr().unwrap().port();
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>クラウドERP 製品詳細</title></head>\
         <body><h1>クラウドERP</h1><script src=\"{}/t.js\" async></script></body></html>",
        app.base
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = site.accept().await else { return };
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    let driver = start_driver().await;
    let (browser, _profile) = open_browser(&driver).await;
    let url = format!("http://127.0.0.1:{site_port}/products/erp?utm_source=pdf&utm_campaign=catalog");
    browser.goto(&url).await.expect("the site's page");
    let visitor = |browser: fantoccini::Client| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let cookie = browser.execute("return document.cookie", vec![]).await.expect("cookie");
            if let Some(id) = cookie.as_str().and_then(|c| c.split("hk_vid=").nth(1)) {
                return id.split(';').next().unwrap_or_default().to_owned();
            }
            assert!(Instant::now() < deadline, "the script set no visitor id");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let id = visitor(browser.clone()).await;
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
    assert_eq!(visitor(browser.clone()).await, id);
    browser.close().await.expect("close");
}
