//! Toss-up and routing pages on both backends, used as people would: a marketer sets the
//! routing (a wrong territory named), a field rep enters an absence, inside sales passes leads
//! on from the lead page (a missing note named), the field reps find them in their list with a
//! count in the navigation and accept or reject them, and every decision shows in the log.

mod support;

use hatake_store::{Store, TaskQuery};

async fn lead(store: &dyn Store, family: &str, prefecture: &str) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(family.into()),
        given_name: Some("一郎".into()),
        company_name: Some(format!("{family}精機株式会社")),
        prefecture: Some(prefecture.into()),
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), true, hatake_web::now_millis()).await.unwrap().id
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn pages(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let now = hatake_web::now_millis();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let erp = store.create_product(&product.validate().unwrap(), now).await.unwrap().id;
    let west = support::add_user(store, "sales-west@example.jp", "西田 四郎", "field_sales").await;
    let east = app.field_sales.clone();

    // The marketer's routing: Kansai to 西田, the pool to 営業 次郎; a wrong territory is named.
    let (marketer, m_csrf) = app.sign_in("marketing@example.jp").await;
    let page = marketer.get(app.url("/settings/routing")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("西田 四郎") && page.contains("営業 次郎") && page.contains("id=\"routing-rules\""));
    let west_id = west.id.to_string();
    let east_id = east.id.to_string();
    let form = |territory: &'static str| {
        vec![
            ("_csrf", m_csrf.clone()),
            ("owner_first", "1".into()),
            ("sla", "8".into()),
            ("rule", "0".into()),
            ("rule.0.order", "1".into()),
            ("rule.0.name", "関西エリア".into()),
            ("rule.0.territories", territory.into()),
            ("rule.0.rep", west_id.clone()),
            ("rule", "1".into()),
            ("rule.1.order", "2".into()),
            ("pool", east_id.clone()),
            (format!("weight.{east_id}").leak(), "2".into()),
        ]
    };
    let refused = marketer.post(app.url("/settings/routing")).form(&form("関西、火星")).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("「火星」は都道府県名・地方名ではありません"), "{html}");
    assert!(html.contains("value=\"関西、火星\""), "what was typed stays");
    let saved = marketer.post(app.url("/settings/routing")).form(&form("関西")).send().await.unwrap();
    assert_eq!(saved.status(), 303);
    let config = hatake_engine::routing::config(store).await.unwrap();
    assert_eq!((config.rules.len(), config.rules[0].prefectures.len(), config.reps[0].weight), (1, 7, 2));

    // 西田 is away next week: a wrong date is named, the right one listed.
    let (field_west, w_csrf) = app.sign_in("sales-west@example.jp").await;
    let bad = [("_csrf", w_csrf.as_str()), ("starts_on", "2026-13-01"), ("ends_on", "")];
    let response = field_west.post(app.url("/routing/absences")).form(&bad).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("開始日を入力してください"));
    let away = [("_csrf", w_csrf.as_str()), ("starts_on", "2099-01-05"), ("ends_on", "2099-01-09"), ("note", "出張")];
    let response = field_west.post(app.url("/routing/absences")).form(&away).send().await.unwrap();
    assert_eq!(location(&response), "/routing/absences?saved=1");
    let list = field_west.get(app.url("/routing/absences?saved=1")).send().await.unwrap().text().await.unwrap();
    assert!(
        list.contains("2099-01-05 〜 2099-01-09") && list.contains("出張") && list.contains("不在予定を登録しました。")
    );

    // Inside sales passes an Osaka lead on; the note is required.
    let osaka = lead(store, "大西", "大阪府").await;
    let tokyo = lead(store, "東山", "東京都").await;
    let (rep, csrf) = app.sign_in("is@example.jp").await;
    let page = rep.get(app.url(&format!("/leads/{osaka}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"tossup-form\"") && page.contains("営業へトスアップする"));
    let erp_id = erp.to_string();
    let action = app.url(&format!("/leads/{osaka}/tossup"));
    let response = rep
        .post(&action)
        .form(&[("_csrf", csrf.as_str()), ("product_id", &erp_id), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("引き継ぎメモを入力してください"));
    let note = "部長と会話。来期に基幹刷新、予算化は4月。";
    let response = rep
        .post(&action)
        .form(&[("_csrf", csrf.as_str()), ("product_id", &erp_id), ("note", note)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let page = rep.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("トスアップしました。振り分け先: 西田 四郎"), "{page}");
    assert!(page.contains("ルール「関西エリア」"), "how it was routed");
    let response = rep
        .post(app.url(&format!("/leads/{tokyo}/tossup")))
        .form(&[("_csrf", csrf.as_str()), ("product_id", &erp_id), ("note", "課長と会話。比較検討中。")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // The field reps see their toss-ups, counted in the navigation; only theirs may be decided.
    let page = field_west.get(app.url("/tossups")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"nav-tossups\"") && page.contains("<span class=\"count\""), "{page}");
    assert!(page.contains("大西 一郎") && page.contains(note) && !page.contains("東山 一郎"));
    let osaka_tossup =
        store.tossups(&hatake_store::TossupQuery { lead_id: Some(osaka), ..Default::default() }).await.unwrap()[0].id;
    let tokyo_tossup =
        store.tossups(&hatake_store::TossupQuery { lead_id: Some(tokyo), ..Default::default() }).await.unwrap()[0].id;
    let (field_east, e_csrf) = app.sign_in("sales@example.jp").await;
    let refused = field_east
        .post(app.url(&format!("/tossups/{osaka_tossup}/accept")))
        .form(&[("_csrf", e_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let accepted = field_west
        .post(app.url(&format!("/tossups/{osaka_tossup}/accept")))
        .form(&[("_csrf", w_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&accepted), format!("/tossups?decided=accept&t={osaka_tossup}"));
    let page = field_west.get(app.url(&location(&accepted))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("大西 一郎さんを受け入れました。西田 四郎さんの担当になり"), "{page}");
    assert_eq!(store.lead_stages(&[osaka]).await.unwrap()[0].stage, "sal", "sales accepted it");
    assert_eq!(store.get_lead(osaka).await.unwrap().owner_id, Some(west.id));

    // 営業 次郎 rejects the Tokyo lead back to inside sales, from the lead's page.
    let page = field_east.get(app.url(&format!("/leads/{tokyo}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("id=\"reject-{tokyo_tossup}\"")), "the rep decides from the lead's page");
    let reject = [("_csrf", e_csrf.as_str()), ("reason", "not_now"), ("back_to", "inside_sales"), ("back", "lead")];
    let response =
        field_east.post(app.url(&format!("/tossups/{tokyo_tossup}/reject"))).form(&reject).send().await.unwrap();
    assert_eq!(location(&response), format!("/leads/{tokyo}?decided=reject&t={tokyo_tossup}#tossup"));
    let page = field_east.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("東山 一郎さんを差し戻しました（インサイドセールスの再架電へ。理由:"), "{page}");
    let returned = store
        .tasks(&TaskQuery { lead_id: Some(tokyo), kind: Some("call".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((returned.len(), returned[0].owner_id), (1, Some(app.inside_sales.id)));
    let tasks = rep.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    assert!(tasks.contains("トスアップ差し戻し："), "inside sales sees the call back");

    // The KPI page counts what was passed on and what field sales found valid.
    let kpi = rep.get(app.url("/calls/kpi")).send().await.unwrap().text().await.unwrap();
    assert!(kpi.contains("id=\"kpi-passed\">2<") && kpi.contains("id=\"kpi-valid\">1<"), "{kpi}");
    assert!(kpi.contains("50.0%"), "the valid rate");
    let csv = rep.get(app.url("/calls/kpi.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("トスアップ数,有効商談数") && csv.contains("内田 三郎,0,0,0,0,0,0,0,2,1"), "{csv}");

    // The log keeps every decision; field sales may not change the routing.
    let log = marketer.get(app.url("/routing/log")).send().await.unwrap().text().await.unwrap();
    assert!(log.contains("ルール「関西エリア」") && log.contains("プール（重み付きラウンドロビン）"), "{log}");
    assert_eq!(field_east.get(app.url("/settings/routing")).send().await.unwrap().status(), 403);
    let response = field_east
        .post(app.url(&format!("/leads/{tokyo}/tossup")))
        .form(&[("_csrf", e_csrf.as_str()), ("product_id", &erp_id), ("note", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tossup_pages_sqlite() {
    pages(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tossup_pages_postgres() {
    pages(support::Backend::Postgres).await;
}
