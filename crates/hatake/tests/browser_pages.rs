//! Every main page of the signed-in app, filled with the demo organisation's data, fits a
//! 1,280 px wide window in headless Chromium: nothing (a long URL in a score's breakdown, a wide
//! table) makes the document wider than the window, in Japanese and in English. Needs Debian's
//! `chromium` and `chromium-driver`, as `browser.rs` does.

mod support;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn find(program: &str, env: &str) -> String {
    if let Ok(path) = std::env::var(env) {
        return path;
    }
    ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
        .iter()
        .map(|dir| format!("{dir}/{program}"))
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or_else(|| {
            panic!("{program} was not found (set {env}): `apt-get install chromium chromium-driver`, or `bash .ci/run`")
        })
}

/// Keys and values hatake stores that a person should never read on a Japanese page.
const INTERNAL_KEYS: &[&str] = &[
    "form:",
    "import:",
    "callback",
    "no_answer",
    "session_at",
    "starts_at",
    "meeting_id",
    "booked_via",
    "inside_sales",
    "strict",
    "lenient",
    "(sum)",
    "top 3",
    "page_view",
    "exhibition_visit",
    "seminar_attendance",
    "hand_raise",
    "shift_jis",
    "position_first",
    ".0円",
];

/// The paths of the main pages, with ids of demo records where a page needs one.
async fn main_pages(store: &dyn hatake_store::Store) -> Vec<String> {
    let products = store.list_products().await.unwrap();
    let product = products.first().expect("demo products").id;
    // The lead with the most to show: the best scored one (a long score breakdown).
    let ranked = store.ranked_leads(product, 1, None, 20).await.unwrap();
    let lead = ranked.iter().find(|r| r.account_id.is_some()).expect("a scored lead at a company");
    let (lead, account) = (lead.lead_id, lead.account_id.unwrap_or_default());
    let mut pages: Vec<String> = [
        "/",
        "/leads",
        "/leads/new",
        "/accounts",
        "/accounts/new",
        "/products",
        "/imports",
        "/reviews",
        "/scoring",
        "/pipeline",
        "/forms",
        "/forms/new",
        "/meetings",
        "/calls",
        "/calls?due=all",
        "/tasks",
        "/tasks?owner=pool",
        "/calls/kpi",
        "/calls/kpi?period=month",
        "/settings/calls",
        "/settings/hearing",
        "/settings/routing",
        "/routing/absences",
        "/routing/log",
        "/tossups",
        "/tossups?status=all",
        "/alerts",
        "/settings/alerts",
        "/hearing/import",
        "/settings",
        "/settings/departments",
        "/settings/tracking",
        "/settings/booking",
        "/settings/mail",
        "/mail/outbox",
        "/mail/templates",
        "/mail/templates/new",
        "/mail/segments",
        "/mail/segments/new",
        "/admin/users",
        "/admin/tokens",
        "/me",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    pages.extend([
        format!("/leads/{lead}"),
        format!("/leads/{lead}/edit"),
        format!("/accounts/{account}"),
        format!("/scoring/{product}"),
        format!("/scoring/{product}/leads"),
        format!("/scoring/{product}/accounts"),
        format!("/scoring/{product}/rules"),
        format!("/pipeline/{product}"),
        format!("/pipeline/{product}/mql"),
        format!("/pipeline/{product}/settings"),
        format!("/qualification/{product}"),
        format!("/qualification/{product}/form"),
    ]);
    // The demo's case study (a layout, a partial, a preview) and its first version.
    let query = hatake_store::TemplateQuery { kind: Some("marketing".into()), limit: 50, ..Default::default() };
    let templates = store.mail_templates(&query).await.unwrap().0;
    let case = templates.iter().find(|t| t.version > 1 && t.product_id.is_some()).expect("an edited demo template");
    pages.push(format!("/mail/templates/{}", case.id));
    pages.push(format!("/mail/templates/{}/versions/1", case.id));
    let segment = store.segments(false, 0, 1).await.unwrap().0.into_iter().next().expect("a demo segment");
    pages.push(format!("/mail/segments/{}", segment.id));
    pages.push(format!("/mail/segments/{}/members", segment.id));
    pages
}

#[tokio::test]
async fn every_main_page_fits_a_1280_px_window() {
    let app = support::spawn_app(support::Backend::Sqlite).await;
    hatake::demo::seed(&app.store, 60, 600).await.expect("demo data");
    let now = hatake_web::now_millis();
    hatake_engine::scoring::catch_up(app.store.as_ref(), &mut hatake_engine::scoring::Scorer::new(), now)
        .await
        .expect("scores");
    let pages = main_pages(app.store.as_ref()).await;

    let port = hatake_testkit::free_port();
    let mut driver = Command::new(find("chromedriver", "HATAKE_CHROMEDRIVER"))
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": find("chromium", "HATAKE_CHROMIUM"),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    let result = async {
        browser.goto(&app.url("/login")).await?;
        browser.find(Locator::Css("input[name=email]")).await?.send_keys(hatake::demo::DEMO_ADMIN).await?;
        browser.find(Locator::Css("input[name=password]")).await?.send_keys(hatake::demo::DEMO_PASSWORD).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser.wait().for_element(Locator::Id("switch-language")).await?;
        let mut too_wide = Vec::new();
        let mut raw = Vec::new();
        for language in ["ja", "en"] {
            for path in &pages {
                // (A page that takes long to load stands for a stream holding a connection.)
                let started = Instant::now();
                browser.goto(&app.url(path)).await?;
                assert!(started.elapsed() < Duration::from_secs(10), "{path} took {:?} to load", started.elapsed());
                browser.wait().for_element(Locator::Css("main")).await?;
                let widths = browser
                    .execute("return [document.documentElement.scrollWidth, window.innerWidth, document.title]", vec![])
                    .await?;
                let (document, window) = (widths[0].as_i64().unwrap_or(0), widths[1].as_i64().unwrap_or(0));
                assert!(window > 1_200, "the window is 1,280 px wide: {window}");
                if document > window {
                    too_wide.push(format!("{language} {path}: {document} px ({})", widths[2]));
                }
                if language == "ja" {
                    // What a Japanese page says (closed details included) holds no internal key
                    // and no raw number of milliseconds.
                    // (The YAML editors and their reference show keys by design: left out.)
                    let script = "var m = document.querySelector('main').cloneNode(true); \
                                  m.querySelectorAll('textarea, .yaml-reference').forEach(function (t) { t.remove(); }); \
                                  return m.textContent;";
                    let text = browser.execute(script, vec![]).await?;
                    let text = text.as_str().unwrap_or_default();
                    for key in INTERNAL_KEYS {
                        if text.contains(key) {
                            raw.push(format!("{path}: {key}"));
                        }
                    }
                    // (A corporate number has 13 digits too, and a check digit; digits inside a
                    // word — a random hex token in a webhook URL — are no number.)
                    let digits: Vec<&str> = text
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .filter(|run| {
                            run.len() == 13
                                && run.bytes().all(|b| b.is_ascii_digit())
                                && hatake_domain::CorporateNumber::parse(run).is_err()
                        })
                        .collect();
                    if let Some(millis) = digits.first() {
                        raw.push(format!("{path}: a time in milliseconds ({millis})"));
                    }
                }
            }
            if language == "ja" {
                browser.goto(&app.url("/me")).await?;
                browser.find(Locator::Id("switch-language")).await?.click().await?;
                browser.wait().for_element(Locator::LinkText("Leads")).await?;
            }
        }
        assert!(too_wide.is_empty(), "pages wider than the window:\n{}", too_wide.join("\n"));
        raw.dedup();
        assert!(raw.is_empty(), "internal keys on Japanese pages:\n{}", raw.join("\n"));
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    browser.close().await.ok();
    let _ = driver.kill();
    let _ = driver.wait();
    result.expect("the browser session");
}
