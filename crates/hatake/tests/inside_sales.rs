//! Inside sales' pages on both backends, used as a rep would: landing on the call queue, why
//! to call each lead now, a call logged from the lead's call panel (mistakes named, nothing
//! stored), the next call as a task, the task list (taking from the pool, done), a task added
//! by hand, the outcome codes' settings, and paging.

mod support;

use hatake_engine::inside_sales::TaskRules;
use hatake_store::{NewEvent, NewTask, Store};
use support::hidden_value;

async fn product(store: &dyn Store) -> i64 {
    let input = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    store.create_product(&input.validate().unwrap(), hatake_web::now_millis()).await.unwrap().id
}

async fn lead(store: &dyn Store, family: &str, owner: Option<i64>) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(family.into()),
        given_name: Some("太郎".into()),
        company_name: Some(format!("{family}工業株式会社")),
        phone: Some("03-1234-5678".into()),
        owner_id: owner,
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), true, hatake_web::now_millis()).await.unwrap().id
}

async fn pages(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let now = hatake_web::now_millis();
    let erp = product(store).await;
    let yamada = lead(store, "山田", Some(app.inside_sales.id)).await;
    let sato = lead(store, "佐藤", None).await;
    for lead in [yamada, sato] {
        hatake_engine::qualification::hand_raise(store, lead, erp, "form", Some("資料請求"), now - 60_000, &zone)
            .await
            .unwrap();
    }
    let download = NewEvent {
        kind: "download",
        lead_id: Some(yamada),
        visitor_id: None,
        product_id: Some(erp),
        occurred_at: now - 3 * 60_000,
        source: None,
        name: Some("ERP導入ガイド".into()),
        properties: "{}".into(),
        idempotency_key: None,
    };
    store.append_events(&[download], now).await.unwrap();
    TaskRules::run(store, now, &zone).await.unwrap();

    // Inside sales lands on the queue; its calls and the pool's, each with why now.
    let (rep, csrf) = app.sign_in("is@example.jp").await;
    let home = rep.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/calls");
    let overview = rep.get(app.url("/?overview=1")).send().await.unwrap();
    assert_eq!(overview.status(), 200, "the counts stay reachable");
    let queue = rep.get(app.url("/calls?due=all")).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("id=\"call-queue\""), "{queue}");
    assert!(queue.contains("山田 太郎") && queue.contains("佐藤 太郎"));
    assert!(queue.contains("資料ダウンロード：ERP導入ガイド（3分前）"), "why now in words: {queue}");
    assert!(queue.contains("問い合わせ（クラウドERP）への初回架電"));
    assert!(queue.contains("プール（担当者未定）") && queue.contains("未架電"));
    let task = app
        .store
        .tasks(&hatake_store::TaskQuery { lead_id: Some(yamada), ..Default::default() })
        .await
        .unwrap()
        .remove(0);
    assert!(queue.contains(&format!("/leads/{yamada}?task={}#call", task.id)), "one click to the call panel");

    // The call panel: outcome codes by KPI bucket, the task it is for.
    let panel =
        rep.get(app.url(&format!("/leads/{yamada}?task={}", task.id))).send().await.unwrap().text().await.unwrap();
    assert!(panel.contains("id=\"call-form\"") && panel.contains("キーマンと会話") && panel.contains("受付ブロック"));
    assert_eq!(hidden_value(&panel, "task_id").as_deref(), Some(task.id.to_string().as_str()));
    assert!(panel.contains("コネクト（会社に接続）"));

    // Mistakes are named and nothing is stored.
    let action = app.url(&format!("/leads/{yamada}/calls"));
    let task_id = task.id.to_string();
    let wrong = [("_csrf", csrf.as_str()), ("task_id", task_id.as_str()), ("result", "recall"), ("recall_at", "")];
    let response = rep.post(&action).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("通話の結果を選んでください。") && html.contains("再コールの日時を入力してください。"),
        "{html}"
    );
    assert!(store.lead_calls(yamada, 10).await.unwrap().is_empty());

    // Not in: call again tomorrow at 10:00; back to the queue, which says so.
    let tomorrow = jiff::Timestamp::from_millisecond(now).unwrap().to_zoned(zone.clone()).date().tomorrow().unwrap();
    let recall = format!("{tomorrow}T10:00");
    let right = [
        ("_csrf", csrf.as_str()),
        ("task_id", task_id.as_str()),
        ("back", "queue"),
        ("outcome", "absent"),
        ("result", "recall"),
        ("recall_at", recall.as_str()),
        ("note", "午後なら在席"),
    ];
    let response = rep.post(&action).form(&right).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/calls?logged="), "{location}");
    let queue = rep.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(queue.contains("山田 太郎：不在を記録しました（再コール"), "the flash names whom and how");
    assert!(!queue.contains(&format!("data-lead=\"{yamada}\"")), "called today: off today's queue");
    let all = rep.get(app.url("/calls?due=all")).send().await.unwrap().text().await.unwrap();
    assert!(all.contains("山田 太郎") && all.contains("不在"), "tomorrow's call, with the last outcome");
    let page = rep.get(app.url(&format!("/leads/{yamada}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"lead-calls\"") && page.contains("午後なら在席") && page.contains("再コール"));
    let calls = store.lead_calls(yamada, 10).await.unwrap();
    assert_eq!((calls.len(), calls[0].bucket.as_str()), (1, "connect"));

    // The KPI page counts it: a call and a connect, no contact; by week and month; as CSV.
    let kpi = rep.get(app.url("/calls/kpi")).send().await.unwrap().text().await.unwrap();
    assert!(kpi.contains("id=\"kpi-calls\">1<") && kpi.contains("id=\"kpi-connects\">1<"), "{kpi}");
    assert!(kpi.contains("id=\"kpi-contacts\">0<") && kpi.contains("100.0%") && kpi.contains("内田 三郎"));
    assert!(kpi.contains("<svg") && kpi.contains("週"));
    let monthly = rep.get(app.url("/calls/kpi?period=month")).send().await.unwrap().text().await.unwrap();
    assert!(monthly.contains("年") && monthly.contains("月</td>"));
    let csv = rep.get(app.url("/calls/kpi.csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let text = String::from_utf8_lossy(&bytes[3..]).into_owned();
    assert!(
        text.starts_with("期間,担当者,コール数,コネクト数,コンタクト数") && text.contains("内田 三郎,1,1,0"),
        "{text}"
    );
    let sjis = rep.get(app.url("/calls/kpi.csv?encoding=cp932")).send().await.unwrap().bytes().await.unwrap();
    let (decoded, _, bad) = encoding_rs::SHIFT_JIS.decode(&sjis);
    assert!(!bad && decoded.contains("コール数"));
    assert_eq!(rep.get(app.url("/calls/kpi.csv?encoding=latin1")).send().await.unwrap().status(), 400);

    // The task list: mine (the call again), the pool's (Sato's first call), taken, done.
    let mine = rep.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    assert!(mine.contains("id=\"task-list\"") && mine.contains("再コール") && mine.contains("架電（再コール）"));
    let pool = rep.get(app.url("/tasks?owner=pool")).send().await.unwrap().text().await.unwrap();
    let sato_task =
        store.tasks(&hatake_store::TaskQuery { lead_id: Some(sato), ..Default::default() }).await.unwrap().remove(0);
    assert!(pool.contains(&format!("/tasks/{}/take", sato_task.id)), "{pool}");
    let back = [("_csrf", csrf.as_str()), ("back", "/tasks?owner=pool")];
    let taken = rep.post(app.url(&format!("/tasks/{}/take", sato_task.id))).form(&back).send().await.unwrap();
    assert_eq!(taken.headers()["location"], "/tasks?owner=pool&done=taken");
    let flash = rep.get(app.url("/tasks?owner=pool&done=taken")).send().await.unwrap().text().await.unwrap();
    assert!(flash.contains("タスクを引き受けました。"));
    assert_eq!(store.get_task(sato_task.id).await.unwrap().owner_id, Some(app.inside_sales.id));
    // A field rep cannot close another's task.
    let (field, field_csrf) = app.sign_in("sales@example.jp").await;
    let refused = field
        .post(app.url(&format!("/tasks/{}/done", sato_task.id)))
        .form(&[("_csrf", field_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (marketer, _) = app.sign_in("marketing@example.jp").await;
    let marketing_queue = marketer.get(app.url("/calls?due=all")).send().await.unwrap().text().await.unwrap();
    assert!(marketing_queue.contains("あなたが担当する架電だけ"), "the pool is inside sales'");
    let field_queue = field.get(app.url("/calls?due=all")).send().await.unwrap().text().await.unwrap();
    assert!(
        field_queue.contains("あなたが担当する架電だけ") && field_queue.contains("id=\"queue-empty\""),
        "no pool for field sales"
    );
    let done = rep.post(app.url(&format!("/tasks/{}/done", sato_task.id))).form(&back).send().await.unwrap();
    assert_eq!(done.headers()["location"], "/tasks?owner=pool&done=done");
    let again = rep.post(app.url(&format!("/tasks/{}/done", sato_task.id))).form(&back).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/tasks?owner=pool&done=gone", "done once; the page says so");

    // A task by hand: an empty subject is named; then added.
    let form = |title: &'static str| {
        vec![
            ("_csrf", csrf.clone()),
            ("kind", "mail".into()),
            ("title", title.into()),
            ("due_at", recall.clone()),
            ("priority", "2".into()),
            ("owner", "me".into()),
        ]
    };
    let response = rep.post(app.url(&format!("/leads/{sato}/tasks"))).form(&form("")).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("件名を入力してください。"));
    assert!(html.contains("<option value=\"mail\" selected>"), "what was typed is kept");
    let response =
        rep.post(app.url(&format!("/leads/{sato}/tasks"))).form(&form("導入事例集を送付")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let page = rep.get(app.url(&format!("/leads/{sato}?task_saved=1"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("タスクを追加しました。") && page.contains("導入事例集を送付"));

    // The outcome codes: admins only; a code added, one switched off.
    assert_eq!(rep.get(app.url("/settings/calls")).send().await.unwrap().status(), 403);
    let (admin, admin_csrf) = app.sign_in("admin@example.jp").await;
    let settings = admin.get(app.url("/settings/calls")).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains("id=\"outcome-table\"") && settings.contains("番号不備"));
    let codes = hatake_engine::inside_sales::outcomes(store).await.unwrap();
    let mut post: Vec<(String, String)> = vec![("_csrf".into(), admin_csrf.clone())];
    for (i, c) in codes.iter().enumerate() {
        post.push(("code".into(), c.code.clone()));
        post.push(("label_ja".into(), c.label_ja.clone()));
        post.push(("label_en".into(), c.label_en.clone()));
        post.push(("bucket".into(), c.bucket.clone()));
        if c.code != "wrong_number" {
            post.push(("active".into(), i.to_string()));
        }
    }
    let mut bad = post.clone();
    bad.extend([
        ("code".into(), String::new()),
        ("label_ja".into(), String::new()),
        ("label_en".into(), "Call back".into()),
        ("bucket".into(), "contact".into()),
    ]);
    let response = admin.post(app.url("/settings/calls")).form(&bad).send().await.unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("8行目：表示名を入力してください。"));
    post.extend([
        ("code".into(), String::new()),
        ("label_ja".into(), "折り返し依頼".into()),
        ("label_en".into(), String::new()),
        ("bucket".into(), "contact".into()),
        ("active".into(), codes.len().to_string()),
    ]);
    let response = admin.post(app.url("/settings/calls")).form(&post).send().await.unwrap();
    assert_eq!(response.headers()["location"], "/settings/calls?saved=1");
    let panel = rep.get(app.url(&format!("/leads/{sato}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        panel.contains("折り返し依頼")
            && panel.contains("value=\"custom_1\"")
            && !panel.contains("value=\"wrong_number\"")
    );

    // Paging: sixty calls due for the rep, fifty a page.
    for i in 0..60 {
        let task = NewTask {
            kind: "call".into(),
            lead_id: sato,
            product_id: Some(erp),
            owner_id: Some(app.inside_sales.id),
            title: format!("追加架電{i}"),
            note: None,
            due_at: now - 30 * 3_600_000,
            sla_due_at: None,
            priority: 3,
            cause: "person".into(),
            cause_key: None,
            created_by: None,
            at: now,
        };
        store.create_task(&task).await.unwrap();
    }
    let first = rep.get(app.url("/calls")).send().await.unwrap().text().await.unwrap();
    assert_eq!(first.matches("class=\"queue-row").count(), 50);
    assert!(first.contains("id=\"queue-next\"") && first.contains("期限切れ"));
    let second = rep.get(app.url("/calls?page=2")).send().await.unwrap().text().await.unwrap();
    assert!(second.contains("id=\"queue-prev\"") && second.matches("class=\"queue-row").count() >= 10);
    let tasks = rep.get(app.url("/tasks")).send().await.unwrap().text().await.unwrap();
    assert!(tasks.contains("id=\"tasks-next\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_sales_pages_sqlite() {
    pages(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_sales_pages_postgres() {
    pages(support::Backend::Postgres).await;
}
