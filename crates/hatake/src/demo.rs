//! `hatake demo`: a data directory with realistic synthetic Japanese B2B data (see
//! [`crate::demo_data`]), users of every role, three products and hearing items, 18 months of
//! behaviour events and a scoring model per product — created on first run, reused afterwards
//! — then served.

use crate::config::Settings;
use anyhow::{anyhow, Context};
use hatake_domain::{CustomFieldDef, NewUser, ProductInput, RequiredFieldSet};
use hatake_store::Store;
use std::time::Instant;

pub const DEFAULT_DEMO_DIR: &str = "hatake-demo";
/// Every demo user's password (the demo is for trying hatake on one's own machine).
pub const DEMO_PASSWORD: &str = "hatake-demo-2026";
pub const DEMO_ADMIN: &str = "admin@hatake-demo.jp";
const SEEDED_SETTING: &str = "demo.seeded_at";
const SEED: u64 = 20_261_122;

/// (e-mail, display name, role)
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    (DEMO_ADMIN, "管理 太郎", "admin"),
    ("marketing@hatake-demo.jp", "真家 花子", "marketer"),
    ("marketing2@hatake-demo.jp", "広報 次郎", "marketer"),
    ("is1@hatake-demo.jp", "内田 聡子", "inside_sales"),
    ("is2@hatake-demo.jp", "井上 健", "inside_sales"),
    ("sales1@hatake-demo.jp", "営野 一郎", "field_sales"),
    ("sales2@hatake-demo.jp", "外山 美咲", "field_sales"),
    ("sales3@hatake-demo.jp", "北村 大輔", "field_sales"),
    ("sales4@hatake-demo.jp", "南 由美", "field_sales"),
];

const PRODUCTS: &[(&str, &str, &str)] = &[
    (
        "erp",
        "クラウドERP「実り」",
        "中堅・大企業向けの基幹業務パッケージ。稟議が長く、導入検討に1〜2年かかる大型商材。",
    ),
    ("kintai", "勤怠管理SaaS", "従業員50名以上の企業向け勤怠・労務管理。人事・総務部門が窓口。"),
    ("security", "セキュリティ診断サービス", "情報システム部門・DX推進室向けの脆弱性診断と運用支援。"),
];

const HEARING_ITEMS: &[(&str, &str, &str, &str, &str)] = &[
    ("problem", "課題", "Problem", "text", ""),
    ("timing", "導入時期", "Timing", "choice", "3ヶ月以内,半年以内,1年以内,未定"),
    ("budget", "予算（円）", "Budget (JPY)", "number", ""),
    ("position", "検討における立場", "Position", "choice", "決裁者,推進者,情報収集,利用者"),
];

/// Creates the demo data if the directory is new, then serves it (unless `serve` is false).
///
/// # Errors
/// When the database cannot be opened or written, or the server cannot start.
pub async fn run(settings: &Settings, companies: usize, people: usize, serve: bool) -> anyhow::Result<()> {
    let store = crate::open_store(&settings.database).await?;
    match store.get_setting(SEEDED_SETTING).await? {
        Some(_) => println!("Reusing the demo data in {}.", settings.database),
        None => {
            let started = Instant::now();
            println!("Creating demo data ({companies} companies, {people} people) in {} …", settings.database);
            let events = seed(&store, companies, people).await?;
            println!("Demo data ready in {:.1} s ({events} behaviour events).", started.elapsed().as_secs_f64());
        }
    }
    let banner = format!(
        "Sign in as {DEMO_ADMIN} with password {DEMO_PASSWORD}\n\
         (other demo users: marketing@, is1@, sales1@hatake-demo.jp — same password)"
    );
    if serve {
        crate::serve::serve_store(settings, store, Some(banner)).await
    } else {
        println!("{banner}");
        Ok(())
    }
}

/// Fills an empty store with the demo organisation; returns how many behaviour events it
/// appended.
///
/// # Errors
/// On a database error.
pub async fn seed(shared: &std::sync::Arc<dyn Store>, companies: usize, people: usize) -> anyhow::Result<u64> {
    let store = shared.as_ref();
    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(DEMO_PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let mut owners = Vec::new();
    let mut marketer = None;
    for (email, name, role) in DEMO_USERS {
        let id = ensure_user(store, email, name, role, DEMO_PASSWORD, &hash, now).await?;
        if *role == "marketer" {
            marketer = marketer.or(Some(id));
        }
        if matches!(*role, "inside_sales" | "field_sales") {
            owners.push(id);
        }
    }
    let existing = store.list_products().await?;
    let mut product_ids = Vec::new();
    for (code, name, description) in PRODUCTS {
        product_ids.push(ensure_product(store, &existing, code, name, Some(description), now).await?);
    }
    let fields = store.list_custom_fields().await?;
    for (key, ja, en, kind, choices) in HEARING_ITEMS {
        if fields.iter().all(|f| f.key != *key) {
            let def = CustomFieldDef::parse(key, ja, en, kind, choices).map_err(|e| anyhow!("demo field: {e}"))?;
            store.create_custom_field(&def, now).await?;
        }
    }
    // The hearing sheet: the position-first template (its own fields where the demo has none)
    // and the budget asked last.
    hatake_engine::hearing::apply_template(store, hatake_domain::hearing::HearingTemplate::PositionFirst, now).await?;
    let mut items = hatake_engine::hearing::sheet(store).await?.keys();
    items.push("budget".into());
    hatake_engine::hearing::save_sheet(store, &items, now).await.map_err(|e| anyhow!("demo hearing sheet: {e}"))?;
    let data = crate::demo_data::generate(SEED, companies, people, &product_ids, &owners);
    let accounts: Vec<hatake_domain::AccountData> = data.accounts.into_iter().map(|a| a.data).collect();
    let account_ids = store.bulk_insert_accounts(&accounts, now).await.context("storing demo companies")?;
    let required = RequiredFieldSet::default();
    let departments = hatake_engine::settings::departments(store).await?;
    let mut batch = Vec::with_capacity(5_000);
    let total = data.leads.len();
    // Who may get behaviour events: the people with an e-mail address (by which their lead id
    // is found once stored), with the products they are interested in.
    let mut people: Vec<(usize, String, Vec<i64>)> = Vec::with_capacity(total);
    for (index, lead) in data.leads.into_iter().enumerate() {
        if let Some(email) = &lead.data.email {
            people.push((index, email.as_str().to_owned(), lead.data.product_ids.clone()));
        }
        let (mut data, is_lead) = lead.into_stored(&account_ids, &required);
        // As every write does: the department's class from the organisation's dictionary.
        data.department_class = data.department.as_deref().and_then(|d| departments.classify(d)).map(|c| c.key.clone());
        batch.push((data, is_lead));
        if batch.len() == 5_000 || index + 1 == total {
            // Spread update times so "recently updated" has a meaningful order.
            store.bulk_insert_leads(&batch, now - i64::try_from(total - index).unwrap_or(0) * 60_000).await?;
            batch.clear();
        }
    }
    seed_forms(store, &product_ids, now).await?;
    let codes: Vec<(i64, &str)> = product_ids.iter().zip(PRODUCTS).map(|(id, (code, _, _))| (*id, *code)).collect();
    let events = seed_events(store, &codes, &people, now).await.context("storing demo events")?;
    seed_subscriptions(store, &people, now).await.context("storing demo subscriptions")?;
    seed_scoring(store, &codes, now).await?;
    crate::demo_mail::seed(store, &product_ids, marketer, now).await.context("storing demo mail templates")?;
    crate::demo_mail::seed_newsletters(shared, marketer, now).await.context("sending the demo newsletters")?;
    store.analyze().await?;
    store.put_setting(SEEDED_SETTING, &now.to_string(), now).await?;
    Ok(events)
}

/// Events appended per call.
const EVENT_BATCH: usize = 10_000;

/// Mail subscriptions as a team that has collected them for a while has them: seven in ten people
/// with an address subscribed to the general newsletter when their card or list was imported
/// (some unsubscribed since by a mail's one-click link), and half of them to the mail of each
/// product they are interested in through a form (a few switched it off on the preference page).
/// Deterministic by person.
async fn seed_subscriptions(store: &dyn Store, people: &[(usize, String, Vec<i64>)], now: i64) -> anyhow::Result<()> {
    const DAY: i64 = 86_400_000;
    let roll = |index: usize, salt: u64| -> u64 {
        let mut x = (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (x ^ (x >> 29)) % 100
    };
    for part in people.chunks(5_000) {
        let emails: Vec<String> = part.iter().map(|p| p.1.clone()).collect();
        let ids: std::collections::HashMap<String, i64> = store.lead_ids_by_email(&emails).await?.into_iter().collect();
        let mut changes = Vec::new();
        for (index, email, interests) in part {
            let Some(&lead_id) = ids.get(email) else { continue };
            let change =
                |topic: String, status: &str, source: &str, detail: &str, at: i64| hatake_store::SubscriptionChange {
                    lead_id,
                    topic,
                    status: status.into(),
                    source: source.into(),
                    detail: Some(detail.to_owned()).filter(|d| !d.is_empty()),
                    by_user: None,
                    at,
                };
            let since = now - i64::try_from(30 + roll(*index, 1) * 5).unwrap_or(0) * DAY;
            if roll(*index, 2) < 70 {
                changes.push(change(
                    hatake_store::TOPIC_GENERAL.into(),
                    "subscribed",
                    "import",
                    "名刺・展示会リスト",
                    since,
                ));
                if roll(*index, 3) < 6 {
                    let at = since + i64::try_from(1 + roll(*index, 4)).unwrap_or(1) * DAY / 4;
                    changes.push(change(hatake_store::TOPIC_GENERAL.into(), "unsubscribed", "link", "", at.min(now)));
                }
            }
            for product in interests {
                let salt = 10 + u64::try_from(*product).unwrap_or(0);
                if roll(*index, salt) < 50 {
                    let at = since + DAY * 3;
                    let topic = hatake_store::product_topic(*product);
                    changes.push(change(topic.clone(), "subscribed", "form", "資料請求フォーム", at));
                    if roll(*index, salt + 100) < 4 {
                        changes.push(change(topic, "unsubscribed", "preferences", "", (at + 20 * DAY).min(now)));
                    }
                }
            }
        }
        store.change_subscriptions(&changes).await?;
    }
    Ok(())
}

/// Behaviour events ([`crate::demo_data::behaviour`]) for the people stored with an e-mail
/// address, and anonymous web visitors (one for every ten people), appended in batches. Each
/// event has a key derived from its person, so a second run appends none twice.
async fn seed_events(
    store: &dyn Store,
    products: &[(i64, &str)],
    people: &[(usize, String, Vec<i64>)],
    now: i64,
) -> anyhow::Result<u64> {
    let by_role = |role: &str| -> Vec<&str> { DEMO_USERS.iter().filter(|u| u.2 == role).map(|u| u.1).collect() };
    let behaviour = crate::demo_data::behaviour::Behaviour::new(
        SEED,
        now,
        products,
        &by_role("inside_sales"),
        &by_role("field_sales"),
    );
    let mut appended = 0u64;
    let mut events = Vec::with_capacity(EVENT_BATCH + 100);
    // Inquiries are hand-raises: their senders go to the MQL queue (as the form would send them).
    let mut inquiries: Vec<(i64, i64, i64, String)> = Vec::new();
    let note_inquiries = |events: &[hatake_store::NewEvent], inquiries: &mut Vec<(i64, i64, i64, String)>| {
        for e in events.iter().filter(|e| e.kind == "form_submit" && e.source.as_deref() == Some("form:erp-inquiry")) {
            if let (Some(lead), Some(product)) = (e.lead_id, e.product_id) {
                inquiries.push((e.occurred_at, lead, product, e.name.clone().unwrap_or_default()));
            }
        }
    };
    for part in people.chunks(5_000) {
        let emails: Vec<String> = part.iter().map(|p| p.1.clone()).collect();
        let ids: std::collections::HashMap<String, i64> = store.lead_ids_by_email(&emails).await?.into_iter().collect();
        for (index, email, interests) in part {
            if let Some(lead_id) = ids.get(email) {
                behaviour.person(*index, *lead_id, interests, &mut events);
            }
            if events.len() >= EVENT_BATCH {
                note_inquiries(&events, &mut inquiries);
                appended += append(store, &mut events, now).await?;
            }
        }
    }
    note_inquiries(&events, &mut inquiries);
    let visitors = people.len() / 10;
    for start in (0..visitors).step_by(1_000) {
        behaviour.visitors(start, 1_000.min(visitors - start), &mut events);
        if events.len() >= EVENT_BATCH {
            appended += append(store, &mut events, now).await?;
        }
    }
    appended += append(store, &mut events, now).await?;
    inquiries.sort_unstable();
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    crate::demo_pipeline::work_inquiries(store, &inquiries, now, &zone).await?;
    crate::demo_pipeline::work_calls(store, now, &zone).await?;
    crate::demo_pipeline::work_tossups(store, now, &zone).await?;
    crate::demo_pipeline::work_alerts(store, now).await?;
    Ok(appended)
}

/// Appends `events` (emptying it); returns how many were new.
async fn append(store: &dyn Store, events: &mut Vec<hatake_store::NewEvent>, now: i64) -> anyhow::Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    let done = store.append_events(events, now).await?;
    events.clear();
    Ok(done.iter().filter(|a| matches!(a, hatake_store::Appended::Created(_))).count() as u64)
}

/// A scoring model for each demo product that has none ([`crate::demo_data::scoring`]). The
/// scorer of `hatake serve` computes the scores on its first step: as no model existed while
/// the events were appended, one step now moves its cursor past them, so that the first step
/// with the models recomputes everything at once instead of replaying the log.
async fn seed_scoring(store: &dyn Store, products: &[(i64, &str)], now: i64) -> anyhow::Result<()> {
    let existing = store.current_scoring_models().await?;
    if existing.is_empty() {
        hatake_engine::scoring::Scorer::new().step(store, now).await?;
    }
    let fields = store.list_custom_fields().await?;
    let keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
    for (product_id, code) in products {
        if existing.iter().any(|m| m.product_id == *product_id) {
            continue;
        }
        let model = crate::demo_data::scoring::model(code);
        model.check(&keys).map_err(|e| anyhow!("demo scoring model {code}: {e}"))?;
        store.save_scoring_model(*product_id, &model.to_json(), None, now).await?;
        // The policy template, switched by hand to its strict (busy-season) mode: the server's
        // first steps pass the leads that meet it to the MQL queue.
        let mut policy = hatake_domain::qualification::MqlPolicy::template();
        policy.manual_mode = Some("strict".into());
        policy.check(&keys).map_err(|e| anyhow!("demo MQL policy {code}: {e}"))?;
        store.save_config(*product_id, hatake_store::CONFIG_MQL_POLICY, &policy.to_json(), None, now).await?;
    }
    Ok(())
}

/// An inquiry form for the first product that ends with meeting booking, and the field-sales
/// users as its reps (weekdays 9–12 and 13–18), so the hosted form at `/f/erp-inquiry` works.
async fn seed_forms(store: &dyn Store, product_ids: &[i64], now: i64) -> anyhow::Result<()> {
    let Some(&product) = product_ids.first() else { return Ok(()) };
    let hours = serde_json::to_string(&hatake_domain::booking::WeeklyHours::default_business())?;
    for user in store.list_users().await? {
        if user.role() == hatake_domain::Role::FieldSales {
            store.set_working_hours(user.id, &hours, now).await?;
            store.set_rep_products(user.id, &[product]).await?;
        }
    }
    if store.form_by_slug("erp-inquiry").await?.is_some() {
        return Ok(());
    }
    let row = |target: &str, required: bool| hatake_domain::form::FieldDraft {
        target: target.into(),
        required,
        ..Default::default()
    };
    let draft = hatake_domain::form::FormDraft {
        name: "クラウドERP「実り」 お問い合わせ・商談予約".into(),
        slug: "erp-inquiry".into(),
        product_id: Some(product),
        fields: vec![
            row("company_name", true),
            row("department", true),
            row("title", true),
            row("family_name", true),
            row("given_name", true),
            hatake_domain::form::FieldDraft {
                target: "family_name_kana".into(),
                label_ja: "フリガナ（セイ）".into(),
                label_en: "Family name (kana)".into(),
                required: true,
                ..Default::default()
            },
            hatake_domain::form::FieldDraft {
                target: "given_name_kana".into(),
                label_ja: "フリガナ（メイ）".into(),
                label_en: "Given name (kana)".into(),
                required: true,
                ..Default::default()
            },
            row("email", true),
            row("phone", true),
            row("prefecture", true),
            row("custom.timing", false),
            hatake_domain::form::FieldDraft {
                target: "extra.message".into(),
                label_ja: "お問い合わせ内容".into(),
                label_en: "Your message".into(),
                ..Default::default()
            },
        ],
        consents: vec![hatake_domain::form::ConsentDraft {
            product_id: product,
            label_ja: "クラウドERP「実り」のご案内メールを受け取る".into(),
            label_en: "Send me news about the ERP".into(),
        }],
        booking: true,
        slot_minutes: "60".into(),
        business_days: "10".into(),
        min_notice_minutes: "120".into(),
        fast_track: true,
        privacy: true,
        privacy_url: "https://www.example.co.jp/privacy".into(),
        ..Default::default()
    };
    let defs: Vec<CustomFieldDef> =
        store.list_custom_fields().await?.iter().map(hatake_store::CustomFieldRow::def).collect();
    let (slug, definition) = draft.validate(&defs, product_ids).map_err(|e| anyhow!("demo form: {e}"))?;
    store.create_form(&slug, &definition.name, &serde_json::to_string(&definition)?, None, now).await?;
    Ok(())
}

/// The id of the user with this e-mail, created with `role` if there is none (shared by the
/// demo and the benchmark, which both seed an organisation).
///
/// # Errors
/// An invalid user or a database error.
pub(crate) async fn ensure_user(
    store: &dyn Store,
    email: &str,
    name: &str,
    role: &str,
    password: &str,
    password_hash: &str,
    now: i64,
) -> anyhow::Result<i64> {
    if let Some(row) = store.find_user_by_email(email).await? {
        return Ok(row.id);
    }
    let user = NewUser::parse(email, name, role, password).map_err(|e| anyhow!("user {email}: {e}"))?;
    Ok(store.create_user(&user, password_hash, now).await?.id)
}

/// The id of the product with this code among `existing`, created if there is none.
///
/// # Errors
/// An invalid product or a database error.
pub(crate) async fn ensure_product(
    store: &dyn Store,
    existing: &[hatake_store::ProductRow],
    code: &str,
    name: &str,
    description: Option<&str>,
    now: i64,
) -> anyhow::Result<i64> {
    if let Some(product) = existing.iter().find(|p| p.code == code) {
        return Ok(product.id);
    }
    let input = ProductInput {
        code: Some(code.into()),
        name: Some(name.into()),
        description: description.map(str::to_owned),
        active: Some(true),
    };
    let data = input.validate().map_err(|e| anyhow!("product {code}: {e}"))?;
    Ok(store.create_product(&data, now).await?.id)
}

#[cfg(test)]
mod tests {
    use hatake_store::{EventQuery, LeadQuery};

    #[tokio::test]
    async fn seeded_leads_carry_their_department_class() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: std::sync::Arc<dyn hatake_store::Store> =
            std::sync::Arc::new(hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open"));
        let events = super::seed(&store, 20, 300).await.expect("seed");
        assert!(events > 300 * 5, "{events} behaviour events for 300 people");
        let query = LeadQuery { department_class: Some("it".into()), limit: 500, ..LeadQuery::default() };
        let it = store.list_leads(&query).await.expect("list").items;
        assert!(!it.is_empty(), "the filter finds information-systems people in the demo");
        assert!(it.iter().all(|l| l.department_class.as_deref() == Some("it")));
        let all = store.list_leads(&LeadQuery { limit: 500, ..LeadQuery::default() }).await.expect("list").items;
        let classified = all.iter().filter(|l| l.department.is_some() && l.department_class.is_some()).count();
        assert_eq!(classified, all.iter().filter(|l| l.department.is_some()).count());
        // The demo's inquiry form books meetings with the field-sales reps.
        let form = store.form_by_slug("erp-inquiry").await.expect("form").expect("the demo form");
        assert!(form.definition.contains("\"booking\""));
        let product = store.list_products().await.expect("products")[0].id;
        assert_eq!(store.product_reps(product).await.expect("reps").len(), 4);
        // Mail subscriptions: the newsletter from imports, products from forms, some stopped.
        let records = store.consent_records(0, 10_000).await.expect("consents");
        let count = |status: &str, source: &str| {
            records.iter().filter(|(_, r)| r.status == status && r.source == source).count()
        };
        assert!(count("subscribed", "import") > 100, "{}", count("subscribed", "import"));
        assert!(count("subscribed", "form") > 20);
        assert!(count("unsubscribed", "link") > 0 && count("unsubscribed", "link") < count("subscribed", "import") / 5);
        // Sent newsletters with their results, a draft and a scheduled one.
        let (sends, total) = store.newsletters(0, 20).await.expect("newsletters");
        assert_eq!(total, 6);
        let sent: Vec<_> = sends.iter().filter(|n| n.status == "sent").collect();
        assert_eq!(sent.len(), 4, "{sends:?}");
        assert!(sends.iter().any(|n| n.status == "draft") && sends.iter().any(|n| n.status == "scheduled"));
        for send in sent {
            let stats = store.newsletter_stats(send.id).await.expect("stats");
            let sent: i64 = stats.iter().map(|s| s.sent).sum();
            let opened: i64 = stats.iter().map(|s| s.opened).sum();
            assert!(sent > 0 && opened > 0 && opened < sent, "{}: {stats:?}", send.name);
        }
        let test = sends.iter().find(|n| n.sample_percent > 0).expect("the A/B test");
        assert!(test.winner.is_some(), "decided");
        // Every lead inside sales accepted carries its hand-over note for the field rep.
        let mut accepted = 0;
        for lead in &all {
            for change in store.stage_history(lead.id).await.expect("history") {
                if change.from_stage.as_deref() == Some("mql") && change.to_stage == "sal" {
                    accepted += 1;
                    assert!(change.note.as_deref().is_some_and(|n| n.chars().count() > 10), "{change:?}");
                }
            }
        }
        assert!(accepted > 0, "the demo has accepted leads");
    }

    #[tokio::test]
    async fn the_demo_has_behaviour_and_scoring_models_that_rank_leads() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: std::sync::Arc<dyn hatake_store::Store> =
            std::sync::Arc::new(hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open"));
        let appended = super::seed(&store, 30, 400).await.expect("seed");
        let products = store.list_products().await.expect("products");
        assert_eq!(products.len(), 3);

        // Most people did something; some events name no product; some are anonymous page
        // views of visitors who were linked to their lead later.
        let leads = store.list_leads(&LeadQuery { limit: 500, ..LeadQuery::default() }).await.expect("list").items;
        let query = EventQuery { limit: 500, ..EventQuery::default() };
        let (mut with_events, mut events) = (0, Vec::new());
        for lead in &leads {
            let timeline = store.lead_events(lead.id, &query).await.expect("timeline");
            with_events += usize::from(!timeline.is_empty());
            events.extend(timeline);
        }
        assert!(with_events > leads.len() / 2 && with_events < leads.len(), "{with_events} of {}", leads.len());
        let unassigned = events.iter().filter(|e| e.product_id.is_none()).count();
        assert!(unassigned > events.len() / 20 && unassigned < events.len() / 2, "{unassigned} of {}", events.len());
        assert!(events.iter().any(|e| e.lead_id.is_none() && e.visitor_id.is_some()), "no stitched visitor");
        for kind in hatake_domain::EventKind::ALL.iter().filter(|k| **k != hatake_domain::EventKind::Custom) {
            assert!(events.iter().any(|e| e.kind == kind.as_str()), "no {} event", kind.as_str());
        }
        assert!(events.iter().all(|e| e.occurred_at <= hatake_web::now_millis()));
        assert!(u64::try_from(events.len()).unwrap() < appended, "anonymous visitors' events are not any lead's");

        // Appending the same people's events again adds none (idempotency keys).
        let codes: Vec<(i64, &str)> = products.iter().map(|p| (p.id, p.code.as_str())).collect();
        let ids: Vec<i64> = products.iter().map(|p| p.id).collect();
        let people: Vec<(usize, String, Vec<i64>)> = crate::demo_data::generate(super::SEED, 30, 400, &ids, &[])
            .leads
            .into_iter()
            .enumerate()
            .filter_map(|(i, l)| Some((i, l.data.email?.as_str().to_owned(), l.data.product_ids)))
            .collect();
        let again = super::seed_events(store.as_ref(), &codes, &people, hatake_web::now_millis()).await.expect("again");
        assert_eq!(again, 0);

        // Each product has a model; once scored, the first product ranks leads above 50.
        let models = store.current_scoring_models().await.expect("models");
        assert_eq!(models.len(), 3);
        let first = products.iter().find(|p| p.code == "erp").expect("erp").id;
        let erp = models.iter().find(|m| m.product_id == first).expect("the ERP's model");
        assert_eq!(erp.definition, hatake_domain::scoring::ScoringModel::template().to_json());
        let now = hatake_web::now_millis();
        let mut scorer = hatake_engine::scoring::Scorer::new();
        let report = hatake_engine::scoring::catch_up(store.as_ref(), &mut scorer, now).await.expect("score");
        assert!(report.rescored > 0, "{report:?}");
        let ranked = store.ranked_leads(first, 50, None, 10).await.expect("ranking");
        assert!(!ranked.is_empty(), "no lead scores 50 or more for the ERP");
        assert!(ranked.iter().all(|r| r.engagement >= 50));
        assert!(ranked[0].engagement > 50, "{ranked:?}");
        for product in &products {
            let top = store.ranked_leads(product.id, 1, None, 1).await.expect("ranking");
            assert!(!top.is_empty(), "no scored lead for {}", product.code);
        }
        // The strict mode of each product's policy passed its best leads to the MQL queue.
        let queue = store.stage_queue(first, "mql", hatake_store::QueueSort::Score, None, 1_000).await.expect("queue");
        assert!(!queue.is_empty(), "no MQL for the ERP");
        let (raised, qualified): (Vec<_>, Vec<_>) =
            queue.iter().partition(|q| q.reason.as_deref() == Some("hand_raise"));
        assert!(!raised.is_empty(), "the inquiries went straight to the queue");
        assert!(!qualified.is_empty(), "and the policy qualified others");
        assert!(qualified.iter().all(|q| q.engagement.unwrap_or(0) >= 80 && q.fit.unwrap_or(0) >= 10), "strict mode");
        // Each says why: the policy version, the mode and the conditions met.
        let detail: serde_json::Value =
            serde_json::from_str(qualified[0].detail.as_deref().expect("why")).expect("JSON");
        assert!(detail["met"].as_array().is_some_and(|m| !m.is_empty()), "{detail}");
        // Older inquiries were worked: the queue holds the last days' only, the deal board has
        // open, won and lost deals, and reps have meetings.
        let fresh = now - 11 * 24 * 3_600_000;
        assert!(raised.iter().all(|q| q.since >= fresh), "an old inquiry still waits in the queue");
        let mut deals = 0;
        for status in ["open", "won", "lost"] {
            let found = store.opportunities(first, status, 1_000).await.expect("deals");
            println!("{status}: {}", found.len());
            deals += found.len();
        }
        assert!(deals > 0, "no deal on the ERP's board");
        let meetings = store.list_meetings(None, 0, 1_000).await.expect("meetings");
        assert!(!meetings.is_empty(), "no meeting booked");
    }
}
