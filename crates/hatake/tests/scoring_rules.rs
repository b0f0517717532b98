//! The scoring rules form (`/scoring/{product}/rules`) over real HTTP on both backends: the page
//! shows the template's rules as rows that post back to exactly the template; wrong rows (a bad
//! kind, zero points, a cap without days, a word for a number) come back as typed (422) with each
//! problem at the row the person saw, and nothing is stored; removing a rule and adding one saves
//! the next version with exactly that model; field sales are refused.

mod support;

use hatake_domain::scoring::{Cap, EngagementRule, FitRule, ScoringModel};
use support::{spawn_app, Backend, TestApp};

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// What a browser would send for the form `id` as the page shows it (text inputs, checked
/// boxes, each select's selected option, textareas), in document order.
fn form_pairs(html: &str, id: &str) -> Vec<(String, String)> {
    let start = html.find(&format!("id=\"{id}\"")).expect("the form");
    let end = html[start..].find("</form>").expect("the form's end") + start;
    let form = &html[start..end];
    let mut pairs = Vec::new();
    let mut at = 0;
    loop {
        let next = ["<input", "<select", "<textarea"]
            .iter()
            .filter_map(|t| form[at..].find(t).map(|i| (i + at, *t)))
            .min_by_key(|(i, _)| *i);
        let Some((i, kind)) = next else { break };
        let tag_end = form[i..].find('>').unwrap() + i;
        let tag = &form[i..=tag_end];
        let name = attribute(tag, "name");
        at = tag_end + 1;
        match (kind, name) {
            ("<input", Some(name)) => {
                let checkbox = tag.contains("type=\"checkbox\"");
                if !checkbox || tag.contains(" checked") {
                    pairs.push((name, attribute(tag, "value").unwrap_or_default()));
                }
            }
            ("<select", Some(name)) => {
                let close = form[at..].find("</select>").unwrap() + at;
                let options: Vec<&str> = form[at..close].split("<option").skip(1).collect();
                let chosen = options.iter().find(|o| o.contains(" selected")).or(options.first());
                if let Some(option) = chosen {
                    pairs.push((name, attribute(option, "value").unwrap_or_default()));
                }
                at = close;
            }
            ("<textarea", Some(name)) => {
                let close = form[at..].find("</textarea>").unwrap() + at;
                pairs.push((name, unescape(&form[at..close])));
                at = close;
            }
            _ => {}
        }
    }
    pairs
}

fn set(pairs: &mut Vec<(String, String)>, name: &str, value: &str) {
    pairs.retain(|(k, _)| k != name);
    pairs.push((name.to_owned(), value.to_owned()));
}

async fn rules_page(app: &TestApp, client: &reqwest::Client) -> String {
    let response = client.get(app.url("/scoring/1/rules")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

async fn post_rules(
    app: &TestApp,
    client: &reqwest::Client,
    mut pairs: Vec<(String, String)>,
    action: &str,
) -> reqwest::Response {
    set(&mut pairs, "action", action);
    client.post(app.url("/scoring/1/rules")).form(&pairs).send().await.unwrap()
}

async fn scoring_rules_editor(backend: Backend) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let (admin, _) = app.sign_in("admin@example.jp").await;

    // The YAML editor links to the rows and back.
    let yaml_page = admin.get(app.url("/scoring/1")).send().await.unwrap().text().await.unwrap();
    assert!(yaml_page.contains("href=\"/scoring/1/rules\""), "link to the form editor");

    // With no model, the page shows the template's rules; posted back unchanged they are the
    // template exactly (version 1).
    let page = rules_page(&app, &admin).await;
    assert!(page.contains("href=\"/scoring/1\""), "link back to the YAML editor");
    for id in ["mail-open", "pricing-page", "no-mail-reaction", "large-company", "manager"] {
        assert!(page.contains(&format!("value=\"{id}\"")), "{id} shown as a row");
    }
    let pairs = form_pairs(&page, "rules-form");
    let response = post_rules(&app, &admin, pairs.clone(), "check").await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("id=\"model-ok\""));
    assert!(app.store.scoring_model_versions(1).await.unwrap().is_empty(), "check stores nothing");
    let response = post_rules(&app, &admin, pairs, "save").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/scoring/1?saved=1");
    let versions = app.store.scoring_model_versions(1).await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].created_by, Some(app.admin.id));
    assert_eq!(ScoringModel::from_json(&versions[0].definition).unwrap(), ScoringModel::template());

    // Wrong rows, after a removed one: every problem at the row the person saw, as typed.
    // Rows: 0 mail-open, 1 download, 2 site-visit, 3 pricing-page, 4 seminar, 5 exhibition,
    // 6 inquiry, 7–9 blank.
    let page = rules_page(&app, &admin).await;
    let mut pairs = form_pairs(&page, "rules-form");
    set(&mut pairs, "engagement.0.remove", "1");
    set(&mut pairs, "engagement.1.kind", "page_veiw");
    set(&mut pairs, "engagement.3.points", "0");
    set(&mut pairs, "engagement.4.cap_times", "2");
    set(&mut pairs, "engagement.5.points", "１５");
    set(&mut pairs, "engagement.6.points", "十点");
    for action in ["check", "save"] {
        let response = post_rules(&app, &admin, pairs.clone(), action).await;
        assert_eq!(response.status(), 422, "{action}");
        let html = response.text().await.unwrap();
        for field in ["engagement.1.kind", "engagement.3.points", "engagement.4.cap_days", "engagement.6.points"] {
            assert!(html.contains(&format!("data-field=\"{field}\"")), "an error at {field}");
        }
        for field in ["engagement.5.points", "engagement.2.kind", "engagement.4.points"] {
            assert!(!html.contains(&format!("data-field=\"{field}\"")), "no error at {field}");
        }
        assert!(html.contains("イベント種別「page_veiw」はありません"), "the kind error in Japanese");
        assert!(html.contains("点数は0以外"), "the points error");
        assert!(html.contains("必須項目です"), "the cap's missing days");
        assert!(html.contains("整数で入力してください"), "the word for a number");
        assert!(html.contains("2行目") && html.contains("4行目") && html.contains("7行目"), "rows named");
        // As typed: the removed row stays marked, the wrong values stay.
        assert!(html.contains("name=\"engagement.0.remove\" value=\"1\" checked"));
        assert!(html.contains("<option value=\"page_veiw\" selected>"));
        assert!(html.contains("value=\"１５\"") && html.contains("value=\"十点\""));
    }
    assert_eq!(app.store.scoring_model_versions(1).await.unwrap().len(), 1, "nothing stored");

    // Remove a rule and add two (one engagement, one fit, numbers in full width): version 2 is
    // exactly that model.
    let page = rules_page(&app, &admin).await;
    let mut pairs = form_pairs(&page, "rules-form");
    set(&mut pairs, "engagement.1.remove", "1");
    for (part, value) in [
        ("id", "webinar"),
        ("label", "ウェビナー視聴"),
        ("kind", "custom"),
        ("name", "*webinar*"),
        ("points", "２０"),
        ("cap_times", "1"),
        ("cap_days", "７"),
        ("expires_days", "90"),
    ] {
        set(&mut pairs, &format!("engagement.7.{part}"), value);
    }
    for (part, value) in
        [("id", "maker"), ("field", "industry"), ("test", "equals"), ("values", "製造業, 情報通信業"), ("points", "5")]
    {
        set(&mut pairs, &format!("fit.2.{part}"), value);
    }
    set(&mut pairs, "fit.0.min", "１,０００");
    let response = post_rules(&app, &admin, pairs, "save").await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/scoring/1?saved=2");
    let mut want = ScoringModel::template();
    want.engagement.retain(|r| r.id != "download");
    want.engagement.push(EngagementRule {
        id: "webinar".into(),
        label: Some("ウェビナー視聴".into()),
        kind: "custom".into(),
        name: Some("*webinar*".into()),
        points: 20,
        cap: Some(Cap { times: 1, days: 7 }),
        expires_days: Some(90),
        ..Default::default()
    });
    want.fit[0].min = Some(1000);
    want.fit.push(FitRule {
        id: "maker".into(),
        field: "industry".into(),
        equals: vec!["製造業".into(), "情報通信業".into()],
        points: 5,
        ..Default::default()
    });
    let versions = app.store.scoring_model_versions(1).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version, 2);
    assert_eq!(ScoringModel::from_json(&versions[0].definition).unwrap(), want);

    // The page now shows version 2's rules; the template is still offered.
    let ids = |html: &str| -> Vec<String> {
        form_pairs(html, "rules-form")
            .into_iter()
            .filter(|(k, v)| k.ends_with(".id") && !v.is_empty())
            .map(|(_, v)| v)
            .collect()
    };
    let shown = ids(&rules_page(&app, &admin).await);
    assert!(shown.iter().any(|id| id == "webinar") && !shown.iter().any(|id| id == "download"), "{shown:?}");
    let template = admin.get(app.url("/scoring/1/rules?template=1")).send().await.unwrap().text().await.unwrap();
    assert!(template.contains("id=\"showing-template\""));
    assert!(ids(&template).iter().any(|id| id == "download"));

    // Field sales may not see or post the rules.
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(app.url("/scoring/1/rules")).send().await.unwrap().status(), 403);
    let response = sales
        .post(app.url("/scoring/1/rules"))
        .form(&[("_csrf", sales_csrf.as_str()), ("action", "save"), ("engagement.0.id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(app.store.scoring_model_versions(1).await.unwrap().len(), 2);
}

#[tokio::test]
async fn scoring_rules_editor_sqlite() {
    scoring_rules_editor(Backend::Sqlite).await;
}

#[tokio::test]
async fn scoring_rules_editor_postgres() {
    scoring_rules_editor(Backend::Postgres).await;
}
