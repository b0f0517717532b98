//! `hatake demo`: a data directory with realistic synthetic Japanese B2B data (see
//! [`crate::demo_data`]), users of every role, three products and hearing items — created on
//! first run, reused afterwards — then served.

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
            seed(store.as_ref(), companies, people).await?;
            println!("Demo data ready in {:.1} s.", started.elapsed().as_secs_f64());
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

/// Fills an empty store with the demo organisation.
///
/// # Errors
/// On a database error.
pub async fn seed(store: &dyn Store, companies: usize, people: usize) -> anyhow::Result<()> {
    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(DEMO_PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let mut owners = Vec::new();
    for (email, name, role) in DEMO_USERS {
        let id = ensure_user(store, email, name, role, DEMO_PASSWORD, &hash, now).await?;
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
    let data = crate::demo_data::generate(SEED, companies, people, &product_ids, &owners);
    let accounts: Vec<hatake_domain::AccountData> = data.accounts.into_iter().map(|a| a.data).collect();
    let account_ids = store.bulk_insert_accounts(&accounts, now).await.context("storing demo companies")?;
    let required = RequiredFieldSet::default();
    let departments = hatake_engine::settings::departments(store).await?;
    let mut batch = Vec::with_capacity(5_000);
    let total = data.leads.len();
    for (index, lead) in data.leads.into_iter().enumerate() {
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
    store.analyze().await?;
    store.put_setting(SEEDED_SETTING, &now.to_string(), now).await?;
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
            row("department", false),
            row("family_name", true),
            row("given_name", true),
            row("email", true),
            row("phone", false),
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
    use hatake_store::{BookingStore, CatalogStore, FormStore, LeadQuery, LeadStore};

    #[tokio::test]
    async fn seeded_leads_carry_their_department_class() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open");
        super::seed(&store, 20, 300).await.expect("seed");
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
    }
}
