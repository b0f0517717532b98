//! Meeting booking over real HTTP on both backends: reps' products and working hours (a wrong
//! line stores nothing), the booking step after a form, the free slots, two people racing for
//! one slot (one gets it, the other is told and offered the rest), the meeting on the lead, its
//! timeline and the rep's list, a double click, a second rep, and cancelling.

mod support;

use hatake_store::EventQuery;
use support::{hidden_value, spawn_app, Backend, TestApp};

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Every weekday all day, so that slots exist whenever the test runs.
const ALL_DAY: &str = "月-金 00:00-24:00";

async fn setup(backend: Backend) -> (TestApp, reqwest::Client, String) {
    let app = spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let (admin, csrf) = app.sign_in("admin@example.jp").await;
    let form = pairs(&[
        ("_csrf", &csrf),
        ("name", "商談のお申し込み"),
        ("slug", "meet"),
        ("product_id", "1"),
        ("field.0.target", "company_name"),
        ("field.0.required", "1"),
        ("field.1.target", "family_name"),
        ("field.1.required", "1"),
        ("field.2.target", "email"),
        ("field.2.required", "1"),
        ("booking", "1"),
        ("slot_minutes", "60"),
        ("business_days", "5"),
        ("min_notice_minutes", "0"),
    ]);
    let response = admin.post(app.url("/forms")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    (app, admin, csrf)
}

async fn set_rep(app: &TestApp, admin: &reqwest::Client, csrf: &str, user: i64, hours: &str) -> reqwest::Response {
    let form = pairs(&[("_csrf", csrf), ("products", "1"), ("working_hours", hours)]);
    admin.post(app.url(&format!("/settings/booking/{user}"))).form(&form).send().await.unwrap()
}

/// Sends the form as a new person; returns the booking page's address.
async fn submit(app: &TestApp, who: &str) -> String {
    let email = format!("p{}@towa.example.jp", who.chars().map(u32::from).sum::<u32>());
    let answers = pairs(&[("company_name", "東和精機"), ("family_name", who), ("email", &email)]);
    let response = client().post(app.url("/f/meet")).form(&answers).send().await.unwrap();
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The booking page's slot starts, in order.
async fn slots(app: &TestApp, page: &str) -> Vec<String> {
    let html = client().get(app.url(page)).send().await.unwrap().text().await.unwrap();
    html.split("name=\"start\" value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].to_owned()).collect()
}

fn token(page: &str) -> String {
    page.split("token=").nth(1).unwrap().split('&').next().unwrap().to_owned()
}

async fn book(app: &TestApp, page: &str, start: &str) -> (u16, String) {
    let form = pairs(&[("token", &token(page)), ("start", start)]);
    let response = client().post(app.url("/f/meet/book")).form(&form).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn booking_end_to_end(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    let rep = app.field_sales.id;

    // A wrong line: every problem named, nothing stored.
    let response = set_rep(&app, &admin, &csrf, rep, "月-金 09:00-18:00\n祝 10:00-12:00\n土 12:00-10:00").await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("2行目") && html.contains("3行目"), "each wrong line is named");
    assert!(app.store.rep_settings().await.unwrap().is_empty());
    // Without reps the booking page says so instead of offering nothing silently.
    let first = submit(&app, "佐藤").await;
    assert!(first.starts_with("/f/meet/book?token="));
    let html = client().get(app.url(&first)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("id=\"no-slots\""));

    assert_eq!(set_rep(&app, &admin, &csrf, rep, ALL_DAY).await.status(), 303);
    let offered = slots(&app, &first).await;
    assert!(!offered.is_empty(), "free slots are offered");
    let second = submit(&app, "鈴木").await;
    assert_eq!(slots(&app, &second).await, offered, "both see the same free time");

    // Two people race for the same slot of the one rep: one gets it, the other is told.
    let slot = offered[0].clone();
    let (a, b) = tokio::join!(book(&app, &first, &slot), book(&app, &second, &slot));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "exactly one booking wins");
    let loser = if a.0 == 409 { &a.1 } else { &b.1 };
    assert!(loser.contains("先に予約されました"));
    assert!(!loser.contains(&format!("value=\"{slot}\"")), "the taken slot is not offered again");
    let winner_page = if a.0 == 200 { &first } else { &second };
    let meetings = app.store.list_meetings(None, 0, 10).await.unwrap();
    assert_eq!(meetings.len(), 1);
    let meeting = &meetings[0];
    assert_eq!((meeting.user_id, meeting.starts_at.to_string()), (rep, slot.clone()));
    assert_eq!(meeting.ends_at - meeting.starts_at, 3_600_000);

    // A double click books nothing more and shows the booking.
    let (status, html) = book(&app, winner_page, &offered[1]).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"booked\"") && html.contains("営業 次郎"));
    assert_eq!(app.store.list_meetings(None, 0, 10).await.unwrap().len(), 1);

    // The meeting is on the lead (its page and timeline) and on the rep's list.
    let lead = meeting.lead_id.expect("the submission was processed into a lead");
    let events = app.store.lead_events(lead, &EventQuery { limit: 10, ..EventQuery::default() }).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "meeting"), "{events:?}");
    // A booked meeting is a hand-raise: the lead is in the product's MQL queue, whatever its
    // score, and the rep who takes the meeting owns it.
    let stages = app.store.lead_stages(&[lead]).await.unwrap();
    assert_eq!(stages.iter().map(|s| s.stage.as_str()).collect::<Vec<_>>(), ["mql"], "{stages:?}");
    assert_eq!(app.store.stage_history(lead).await.unwrap()[0].reason.as_deref(), Some("hand_raise"));
    assert_eq!(app.store.get_lead(lead).await.unwrap().owner_id, Some(rep), "the rep owns the lead");
    let page = admin.get(app.url(&format!("/leads/{lead}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"lead-meetings\""));
    let (sales, sales_csrf) = app.sign_in("sales@example.jp").await;
    let list = sales.get(app.url("/meetings")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("class=\"meeting status-booked\"") && list.contains("東和精機"));

    // A second rep: the taken time is offered again, with the rep who is free.
    let other = app.inside_sales.id;
    assert_eq!(set_rep(&app, &admin, &csrf, other, ALL_DAY).await.status(), 303);
    let loser_page = if a.0 == 409 { &first } else { &second };
    assert!(slots(&app, loser_page).await.contains(&slot));
    let (status, _) = book(&app, loser_page, &slot).await;
    assert_eq!(status, 200);
    let at_slot: Vec<i64> = app
        .store
        .list_meetings(None, 0, 10)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.starts_at.to_string() == slot)
        .map(|m| m.user_id)
        .collect();
    assert_eq!(at_slot, [rep, other]);

    // The rep cancels their meeting: the time is free again for them.
    let response =
        sales.post(app.url(&format!("/meetings/{}/cancel", meeting.id))).form(&[("_csrf", &sales_csrf)]).send().await;
    assert_eq!(response.unwrap().status(), 303);
    assert_eq!(app.store.get_meeting(meeting.id).await.unwrap().status, "cancelled");
    let third = submit(&app, "高橋").await;
    assert!(slots(&app, &third).await.contains(&slot));
    // Someone else's meeting cannot be cancelled by a rep.
    let other_meeting = app.store.list_meetings(Some(other), 0, 10).await.unwrap()[0].id;
    let response =
        sales.post(app.url(&format!("/meetings/{other_meeting}/cancel"))).form(&[("_csrf", &sales_csrf)]).send().await;
    assert_eq!(response.unwrap().status(), 403);
    // A made-up token books nothing.
    let (status, _) = book(&app, "/f/meet/book?token=0123456789abcdef0123456789abcdef", &slot).await;
    assert_eq!(status, 404);
    let html = client().get(app.url(&third)).send().await.unwrap().text().await.unwrap();
    assert_eq!(hidden_value(&html, "token").as_deref(), Some(token(&third).as_str()));
}

#[tokio::test]
async fn booking_end_to_end_sqlite() {
    booking_end_to_end(Backend::Sqlite).await;
}

#[tokio::test]
async fn booking_end_to_end_postgres() {
    booking_end_to_end(Backend::Postgres).await;
}

/// Many bookings of one rep's slot at once straight through the engine: exactly one wins.
async fn a_slot_is_never_booked_twice(backend: Backend) {
    let (app, admin, csrf) = setup(backend).await;
    assert_eq!(set_rep(&app, &admin, &csrf, app.field_sales.id, ALL_DAY).await.status(), 303);
    let mut submissions = Vec::new();
    for i in 0..8 {
        let page = submit(&app, &format!("person{i}")).await;
        submissions.push(app.store.submission_by_booking_token(&token(&page)).await.unwrap().unwrap());
    }
    let rules = hatake_domain::booking::BookingRules {
        slot_minutes: 60,
        business_days: 5,
        min_notice_minutes: 0,
        time_zone: "Asia/Tokyo".into(),
    };
    let now = hatake_web::now_millis();
    let start = hatake_engine::booking::offer(app.store.as_ref(), 1, &rules, now).await.unwrap()[0].start_ms;
    let tasks: Vec<_> = submissions
        .into_iter()
        .map(|submission| {
            let store = app.store.clone();
            let rules = rules.clone();
            tokio::spawn(async move {
                hatake_engine::booking::book(store.as_ref(), &submission, 1, &rules, start, now).await.is_ok()
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(app.store.list_meetings(None, 0, 100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_slot_is_never_booked_twice_sqlite() {
    a_slot_is_never_booked_twice(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_slot_is_never_booked_twice_postgres() {
    a_slot_is_never_booked_twice(Backend::Postgres).await;
}
