//! The storage contract: one suite of scenarios, each run against SQLite (a fresh data
//! directory per test) and PostgreSQL (a fresh database per test on a throwaway cluster).
//!
//! Each scenario is an `async fn scenario_x(store: &dyn Store)`; [`contract!`] turns it into
//! the tests `sqlite_x` and `postgres_x`.

use hatake_domain::text::SearchQuery;
use hatake_domain::{
    AccountData, AccountInput, CorporateNumber, CustomFieldDef, LeadData, LeadInput, Locale, NewUser, ProductInput,
    RequiredField, RequiredFieldSet, Role,
};
use hatake_postgres::PostgresStore;
use hatake_sqlite::SqliteStore;
use hatake_store::{
    AccountQuery, AccountRow, Cursor, LeadKind, LeadQuery, LeadRow, LeadSort, Millis, Page, ProductRow, Store,
    StoreError, StoreResult, Total, UserRow, SETTING_REQUIRED_FIELDS,
};
use hatake_testkit::PgCluster;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;

// ---------------------------------------------------------------------------------------
// Harness

/// Where a test's data lives; [`Backend::open`] may be called more than once.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().expect("temporary directory"))
    }

    fn postgres() -> Self {
        Backend::Postgres(PgCluster::shared().fresh_database())
    }

    /// A new, empty place of the same kind.
    fn sibling(&self) -> Self {
        match self {
            Backend::Sqlite(_) => Backend::sqlite(),
            Backend::Postgres(_) => Backend::postgres(),
        }
    }

    async fn open(&self) -> StoreResult<Box<dyn Store>> {
        Ok(match self {
            Backend::Sqlite(dir) => Box::new(SqliteStore::open(dir.path()).await?) as Box<dyn Store>,
            Backend::Postgres(url) => Box::new(PostgresStore::connect(url).await?) as Box<dyn Store>,
        })
    }

    /// Opens the store again and lists its applied migrations.
    async fn applied_migrations(&self) -> Vec<(i64, String)> {
        match self {
            Backend::Sqlite(dir) => {
                let store = SqliteStore::open(dir.path()).await.unwrap();
                let applied = store.applied_migrations().await.unwrap();
                store.close().await;
                applied
            }
            Backend::Postgres(url) => {
                let store = PostgresStore::connect(url).await.unwrap();
                let applied = store.applied_migrations().await.unwrap();
                store.close().await;
                applied
            }
        }
    }
}

macro_rules! contract {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)+) => {$(
        #[tokio::test]
        async fn $sqlite() {
            let backend = Backend::sqlite();
            let store = backend.open().await.expect("open SQLite");
            assert_eq!(store.backend(), "sqlite");
            $scenario(&*store).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let backend = Backend::postgres();
            let store = backend.open().await.expect("connect to PostgreSQL");
            assert_eq!(store.backend(), "postgres");
            $scenario(&*store).await;
        }
    )+};
}

contract! {
    scenario_users => sqlite_users, postgres_users;
    scenario_sessions_and_tokens => sqlite_sessions_and_tokens, postgres_sessions_and_tokens;
    scenario_settings => sqlite_settings, postgres_settings;
    scenario_products_and_custom_fields => sqlite_products_and_custom_fields, postgres_products_and_custom_fields;
    scenario_accounts => sqlite_accounts, postgres_accounts;
    scenario_account_pages => sqlite_account_pages, postgres_account_pages;
    scenario_account_delete_unlinks_leads => sqlite_account_delete_unlinks_leads,
        postgres_account_delete_unlinks_leads;
    scenario_leads_crud => sqlite_leads_crud, postgres_leads_crud;
    scenario_lead_lists => sqlite_lead_lists, postgres_lead_lists;
    scenario_lead_search => sqlite_lead_search, postgres_lead_search;
    scenario_reclassify => sqlite_reclassify, postgres_reclassify;
    scenario_bulk => sqlite_bulk, postgres_bulk;
    scenario_lead_score_sort => sqlite_lead_score_sort, postgres_lead_score_sort;
}

/// The lead list sorted by a product's engagement score: highest first, ties by id, only leads
/// scored for that product, pages both ways, and combined with a filter.
async fn scenario_lead_score_sort(store: &dyn Store) {
    let product =
        hatake_domain::ProductInput { code: s("erp"), name: s("ERP"), ..Default::default() }.validate().unwrap();
    let product = store.create_product(&product, at(0)).await.unwrap();
    let other =
        hatake_domain::ProductInput { code: s("crm"), name: s("CRM"), ..Default::default() }.validate().unwrap();
    let other = store.create_product(&other, at(0)).await.unwrap();
    let mut leads = Vec::new();
    for i in 0..23 {
        let prefecture = if i % 2 == 0 { "東京都" } else { "大阪府" };
        let data = lead_data(LeadInput {
            family_name: Some(format!("スコア{i:02}")),
            prefecture: s(prefecture),
            ..LeadInput::default()
        });
        leads.push(store.create_lead(&data, false, at(i + 1)).await.unwrap().id);
    }
    let row = |lead: i64, product: i64, engagement: i64| hatake_store::LeadScoreRow {
        lead_id: lead,
        product_id: product,
        model_version: 1,
        engagement,
        fit: 0,
        next_change_at: None,
        state: Vec::new(),
        updated_at: at(100),
    };
    // 20 of the 23 scored for the ERP (ties on purpose), every one for the CRM.
    let mut rows: Vec<hatake_store::LeadScoreRow> =
        leads.iter().take(20).enumerate().map(|(i, lead)| row(*lead, product.id, (i as i64 * 7) % 30)).collect();
    rows.extend(leads.iter().map(|lead| row(*lead, other.id, 1)));
    store.put_lead_scores(&rows).await.unwrap();
    let mut expected: Vec<(i64, i64)> =
        rows.iter().filter(|r| r.product_id == product.id).map(|r| (r.engagement, r.lead_id)).collect();
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<i64> = expected.iter().map(|(_, id)| *id).collect();
    let by_score = LeadQuery { sort: LeadSort::Score(product.id), ..LeadQuery::default() };
    check_lead_pages(store, &by_score, &expected, 6).await;
    let page = store.list_leads(&LeadQuery { limit: 3, ..by_score.clone() }).await.unwrap();
    assert!(page.items.iter().all(|l| l.sort_score.is_some()), "the score it was sorted by comes with the row");
    // With a filter: only 東京都.
    let tokyo: Vec<i64> =
        expected.iter().copied().filter(|id| leads.iter().position(|l| l == id).is_some_and(|i| i % 2 == 0)).collect();
    let filtered = LeadQuery { prefecture: s("東京都"), ..by_score.clone() };
    check_lead_pages(store, &filtered, &tokyo, 4).await;
    assert_eq!(LeadSort::parse(&LeadSort::Score(product.id).param()), Some(LeadSort::Score(product.id)));
}

#[tokio::test]
async fn sqlite_migrations_are_idempotent() {
    scenario_migrations(&Backend::sqlite()).await;
}

#[tokio::test]
async fn postgres_migrations_are_idempotent() {
    scenario_migrations(&Backend::postgres()).await;
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A fixed clock: every scenario passes explicit times.
const T0: Millis = 1_700_000_000_000;

fn at(offset: Millis) -> Millis {
    T0 + offset
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[track_caller]
fn expect_conflict<T: Debug>(result: StoreResult<T>, expected: &str) {
    match result {
        Err(StoreError::Conflict { field }) if field == expected => {}
        other => panic!("expected Conflict {{ field: {expected:?} }}, got {other:?}"),
    }
}

#[track_caller]
fn expect_missing<T: Debug>(result: StoreResult<T>, expected: &str) {
    match result {
        Err(StoreError::MissingReference { field }) if field == expected => {}
        other => panic!("expected MissingReference {{ field: {expected:?} }}, got {other:?}"),
    }
}

#[track_caller]
fn expect_not_found<T: Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

async fn new_user(store: &dyn Store, email: &str, name: &str, role: &str, now: Millis) -> UserRow {
    let user = NewUser::parse(email, name, role, "correct horse battery").expect("valid user");
    store.create_user(&user, "$argon2id$test", now).await.expect("create user")
}

async fn new_product(store: &dyn Store, code: &str, name: &str) -> ProductRow {
    let data = ProductInput { code: s(code), name: s(name), ..ProductInput::default() }.validate().unwrap();
    store.create_product(&data, at(0)).await.expect("create product")
}

fn account_data(input: AccountInput) -> AccountData {
    input.validate().unwrap_or_else(|e| panic!("invalid account fixture: {e:?}"))
}

fn named(name: &str) -> AccountData {
    account_data(AccountInput { name: s(name), ..AccountInput::default() })
}

fn lead_data(input: LeadInput) -> LeadData {
    input.validate(&[]).unwrap_or_else(|e| panic!("invalid lead fixture: {e:?}"))
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    items.iter().map(id).collect()
}

fn lead_ids(page: &Page<LeadRow>) -> Vec<i64> {
    ids(&page.items, |r| r.id)
}

fn exact(value: i64) -> Option<Total> {
    Some(Total { value, capped: false })
}

/// The ids a lead query matches (one page of up to 200) and its count.
async fn leads_matching(store: &dyn Store, query: LeadQuery) -> (Vec<i64>, Option<Total>) {
    let page = store.list_leads(&LeadQuery { limit: 200, count: true, cursor: None, ..query }).await.unwrap();
    assert!(page.next.is_none(), "more than one page");
    (lead_ids(&page), page.total)
}

async fn search_leads(store: &dyn Store, text: &str) -> BTreeSet<i64> {
    let query = LeadQuery { search: SearchQuery::parse(text), ..LeadQuery::default() };
    assert!(query.search.is_some(), "{text:?} is not a query");
    let (ids, total) = leads_matching(store, query).await;
    assert_eq!(total, exact(ids.len() as i64), "count of {text:?}");
    ids.into_iter().collect()
}

fn set(ids: &[i64]) -> BTreeSet<i64> {
    ids.iter().copied().collect()
}

/// One page as fetched: its ids and its `next` and `prev` cursors.
type Fetched = (Vec<i64>, Option<String>, Option<String>);

fn decode(cursor: &str) -> Cursor {
    Cursor::decode(cursor).unwrap_or_else(|| panic!("undecodable cursor {cursor:?}"))
}

/// Walks every page forward, then back again from the last page, checking that the pages
/// are `expected` cut into `limit`-sized pieces in order, each row exactly once, and that
/// `next` and `prev` appear exactly where there is more.
async fn check_pages<F, Fut>(expected: &[i64], limit: usize, fetch: F)
where
    F: Fn(Option<Cursor>) -> Fut,
    Fut: Future<Output = Fetched>,
{
    let chunks: Vec<&[i64]> = if expected.is_empty() { vec![&[]] } else { expected.chunks(limit).collect() };
    let last = chunks.len() - 1;
    let mut cursor = None;
    let mut last_prev = None;
    for (index, chunk) in chunks.iter().enumerate() {
        let (items, next, prev) = fetch(cursor.take()).await;
        assert_eq!(items, *chunk, "forward page {index}");
        assert_eq!(prev.is_some(), index > 0, "forward page {index} prev");
        assert_eq!(next.is_some(), index < last, "forward page {index} next");
        cursor = next.as_deref().map(decode);
        last_prev = prev;
    }
    // Backward from the last page to the first.
    let mut prev = last_prev;
    for index in (0..last).rev() {
        let cursor = decode(prev.as_deref().expect("a previous page"));
        assert!(cursor.backward);
        let (items, next, back) = fetch(Some(cursor)).await;
        assert_eq!(items, chunks[index], "backward page {index}");
        assert_eq!(back.is_some(), index > 0, "backward page {index} prev");
        let next = next.expect("a page reached going back has a next page");
        // And forward again from there.
        let (again, _, _) = fetch(Some(decode(&next))).await;
        assert_eq!(again, chunks[index + 1], "forward again from backward page {index}");
        prev = back;
    }
}

async fn check_lead_pages(store: &dyn Store, query: &LeadQuery, expected: &[i64], limit: u32) {
    check_pages(expected, limit as usize, |cursor| {
        let query = LeadQuery { cursor, limit, count: false, ..query.clone() };
        async move {
            let page = store.list_leads(&query).await.unwrap();
            (lead_ids(&page), page.next, page.prev)
        }
    })
    .await;
}

async fn check_account_pages(store: &dyn Store, query: &AccountQuery, expected: &[i64], limit: u32) {
    check_pages(expected, limit as usize, |cursor| {
        let query = AccountQuery { cursor, limit, count: false, ..query.clone() };
        async move {
            let page = store.list_accounts(&query).await.unwrap();
            (ids(&page.items, |a: &AccountRow| a.id), page.next, page.prev)
        }
    })
    .await;
}

/// Every lead a query matches, following `next` cursors.
async fn all_leads(store: &dyn Store, query: LeadQuery, limit: u32) -> Vec<LeadRow> {
    let mut rows = Vec::new();
    let mut query = LeadQuery { limit, cursor: None, ..query };
    for _ in 0..10_000 {
        let page = store.list_leads(&query).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        rows.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(decode(&next)),
            None => return rows,
        }
    }
    panic!("pagination does not end");
}

// ---------------------------------------------------------------------------------------
// 1. Users, sessions, API tokens, settings

async fn scenario_users(store: &dyn Store) {
    let created = new_user(store, " Yamada@Example.CO.JP ", "山田 太郎", "marketer", at(1)).await;
    assert!(created.id > 0);
    assert_eq!(created.email, "yamada@example.co.jp");
    assert_eq!(created.display_name, "山田 太郎");
    assert_eq!(created.role(), Role::Marketer);
    assert_eq!(created.locale(), Locale::Ja);
    assert_eq!(created.password_hash, "$argon2id$test");
    assert!(created.active);
    assert_eq!((created.created_at, created.updated_at), (at(1), at(1)));
    assert_eq!(store.get_user(created.id).await.unwrap(), created);

    // The same address in other case is the same address.
    let twin = NewUser::parse("YAMADA@example.co.jp", "別人", "admin", "correct horse battery").unwrap();
    expect_conflict(store.create_user(&twin, "x", at(2)).await, "email");
    assert_eq!(store.list_users().await.unwrap(), std::slice::from_ref(&created));

    for probe in ["yamada@example.co.jp", "YAMADA@EXAMPLE.CO.JP", "  Yamada@example.co.jp "] {
        let found = store.find_user_by_email(probe).await.unwrap();
        assert_eq!(found.as_ref().map(|u| u.id), Some(created.id), "{probe}");
    }
    assert_eq!(store.find_user_by_email("yamada@example.com").await.unwrap(), None);

    let second = new_user(store, "sato@example.co.jp", "佐藤 花子", "field_sales", at(3)).await;
    assert!(second.id > created.id);
    assert_eq!(ids(&store.list_users().await.unwrap(), |u| u.id), [created.id, second.id]);

    let updated = store.update_user(created.id, "山田 太郎（管理）", Role::Admin, false, at(10)).await.unwrap();
    assert_eq!(updated.role(), Role::Admin);
    assert_eq!(updated.role, "admin");
    assert!(!updated.active);
    assert_eq!(updated.display_name, "山田 太郎（管理）");
    assert_eq!((updated.created_at, updated.updated_at), (at(1), at(10)));
    assert_eq!(updated.email, created.email);
    assert_eq!(store.get_user(created.id).await.unwrap(), updated);
    expect_not_found(store.update_user(999_999, "x", Role::Admin, true, at(11)).await);

    store.set_user_locale(second.id, Locale::En, at(12)).await.unwrap();
    store.set_user_password(second.id, "$argon2id$new", at(13)).await.unwrap();
    let second = store.get_user(second.id).await.unwrap();
    assert_eq!(second.locale(), Locale::En);
    assert_eq!(second.password_hash, "$argon2id$new");
    assert_eq!(second.updated_at, at(13));
    expect_not_found(store.set_user_locale(999_999, Locale::En, at(14)).await);
    expect_not_found(store.set_user_password(999_999, "h", at(14)).await);
    expect_not_found(store.get_user(999_999).await);
    // The other user is untouched.
    assert_eq!(store.get_user(created.id).await.unwrap(), updated);
}

async fn scenario_sessions_and_tokens(store: &dyn Store) {
    let alice = new_user(store, "alice@example.jp", "Alice", "admin", at(0)).await;
    let bob = new_user(store, "bob@example.jp", "Bob", "inside_sales", at(0)).await;

    store.create_session("hash-a1", alice.id, "csrf-a1", at(0), at(1_000)).await.unwrap();
    store.create_session("hash-a2", alice.id, "csrf-a2", at(0), at(5_000)).await.unwrap();
    store.create_session("hash-b1", bob.id, "csrf-b1", at(0), at(1_000)).await.unwrap();

    let session = store.get_session("hash-a1", at(999)).await.unwrap().expect("live session");
    assert_eq!(session.user, alice);
    assert_eq!(session.csrf_token, "csrf-a1");
    assert_eq!(session.expires_at, at(1_000));
    assert_eq!(store.get_session("hash-b1", at(10)).await.unwrap().map(|s| s.user.id), Some(bob.id));
    // Expired at exactly its expiry time, and unknown tokens are nobody's.
    assert_eq!(store.get_session("hash-a1", at(1_000)).await.unwrap(), None);
    assert_eq!(store.get_session("hash-a1", at(2_000)).await.unwrap(), None);
    assert!(store.get_session("hash-a2", at(2_000)).await.unwrap().is_some());
    assert_eq!(store.get_session("no-such-hash", at(10)).await.unwrap(), None);

    // An inactive user's sessions do not count, and count again when reactivated.
    store.update_user(bob.id, "Bob", Role::InsideSales, false, at(20)).await.unwrap();
    assert_eq!(store.get_session("hash-b1", at(30)).await.unwrap(), None);
    store.update_user(bob.id, "Bob", Role::InsideSales, true, at(40)).await.unwrap();
    assert!(store.get_session("hash-b1", at(50)).await.unwrap().is_some());

    store.delete_session("hash-a1").await.unwrap();
    assert_eq!(store.get_session("hash-a1", at(10)).await.unwrap(), None);
    assert!(store.get_session("hash-a2", at(10)).await.unwrap().is_some());
    store.delete_session("hash-a1").await.unwrap(); // deleting twice is fine
    store.delete_user_sessions(alice.id).await.unwrap();
    assert_eq!(store.get_session("hash-a2", at(10)).await.unwrap(), None);
    assert!(store.get_session("hash-b1", at(10)).await.unwrap().is_some(), "other users' sessions stay");

    // API tokens.
    let token = store.create_api_token("CI", "token-hash-1", "hk_abc1", alice.id, at(100)).await.unwrap();
    assert!(token.id > 0);
    assert_eq!(
        (token.name.as_str(), token.prefix.as_str(), token.user_id, token.created_at),
        ("CI", "hk_abc1", alice.id, at(100))
    );
    assert_eq!((token.last_used_at, token.revoked_at), (None, None));
    expect_conflict(store.create_api_token("dup", "token-hash-1", "hk_dup", bob.id, at(101)).await, "token_hash");
    let bobs = store.create_api_token("bot", "token-hash-2", "hk_abc2", bob.id, at(102)).await.unwrap();
    assert_eq!(store.list_api_tokens().await.unwrap(), [token.clone(), bobs.clone()]);

    let user = store.find_api_token_user("token-hash-1", at(200)).await.unwrap();
    assert_eq!(user, Some(alice.clone()));
    assert_eq!(store.find_api_token_user("token-hash-x", at(200)).await.unwrap(), None);
    let used = |tokens: Vec<hatake_store::ApiTokenRow>| tokens.iter().find(|t| t.id == token.id).unwrap().last_used_at;
    assert_eq!(used(store.list_api_tokens().await.unwrap()), Some(at(200)));
    // Use is recorded at most once a minute.
    store.find_api_token_user("token-hash-1", at(30_000)).await.unwrap().unwrap();
    assert_eq!(used(store.list_api_tokens().await.unwrap()), Some(at(200)));
    store.find_api_token_user("token-hash-1", at(60_201)).await.unwrap().unwrap();
    assert_eq!(used(store.list_api_tokens().await.unwrap()), Some(at(60_201)));

    // A token of an inactive user finds nobody.
    store.update_user(bob.id, "Bob", Role::InsideSales, false, at(300)).await.unwrap();
    assert_eq!(store.find_api_token_user("token-hash-2", at(301)).await.unwrap(), None);

    store.revoke_api_token(token.id, at(400)).await.unwrap();
    assert_eq!(store.find_api_token_user("token-hash-1", at(401)).await.unwrap(), None);
    let listed = store.list_api_tokens().await.unwrap();
    assert_eq!(listed.iter().find(|t| t.id == token.id).unwrap().revoked_at, Some(at(400)));
    assert_eq!(listed.iter().find(|t| t.id == bobs.id).unwrap().revoked_at, None);
    expect_not_found(store.revoke_api_token(token.id, at(500)).await);
    expect_not_found(store.revoke_api_token(999_999, at(500)).await);
}

async fn scenario_settings(store: &dyn Store) {
    assert_eq!(store.get_setting(SETTING_REQUIRED_FIELDS).await.unwrap(), None);
    store.put_setting(SETTING_REQUIRED_FIELDS, "company,name,email", at(1)).await.unwrap();
    assert_eq!(store.get_setting(SETTING_REQUIRED_FIELDS).await.unwrap().as_deref(), Some("company,name,email"));
    store.put_setting(SETTING_REQUIRED_FIELDS, "name", at(2)).await.unwrap();
    assert_eq!(store.get_setting(SETTING_REQUIRED_FIELDS).await.unwrap().as_deref(), Some("name"));
    assert_eq!(store.get_setting("other").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// 2. Products and custom fields

async fn scenario_products_and_custom_fields(store: &dyn Store) {
    let input =
        ProductInput {
            code: s("ERP-Cloud"), name: s("クラウドERP"), description: s("中堅企業向け"), active: None
        };
    let erp = store.create_product(&input.validate().unwrap(), at(1)).await.unwrap();
    assert_eq!(
        (erp.code.as_str(), erp.name.as_str(), erp.description.as_deref(), erp.active),
        ("erp-cloud", "クラウドERP", Some("中堅企業向け"), true)
    );
    assert_eq!((erp.created_at, erp.updated_at), (at(1), at(1)));
    assert_eq!(store.get_product(erp.id).await.unwrap(), erp);

    let dup = ProductInput { code: s("ERP-CLOUD"), name: s("別物"), ..ProductInput::default() };
    expect_conflict(store.create_product(&dup.validate().unwrap(), at(2)).await, "code");

    let crm = new_product(store, "crm", "CRM").await;
    let old =
        ProductInput { code: s("a-legacy"), name: s("旧製品"), active: Some(false), ..ProductInput::default() };
    let old = store.create_product(&old.validate().unwrap(), at(3)).await.unwrap();
    assert!(!old.active);
    // Active first, then by code.
    assert_eq!(ids(&store.list_products().await.unwrap(), |p| p.id), [crm.id, erp.id, old.id]);

    let change =
        ProductInput { code: s("erp-cloud"), name: s("クラウドERP 2"), description: None, active: Some(false) };
    let changed = store.update_product(erp.id, &change.validate().unwrap(), at(10)).await.unwrap();
    assert_eq!((changed.name.as_str(), changed.description.as_deref(), changed.active), ("クラウドERP 2", None, false));
    assert_eq!((changed.created_at, changed.updated_at), (at(1), at(10)));
    assert_eq!(store.get_product(erp.id).await.unwrap(), changed);
    assert_eq!(ids(&store.list_products().await.unwrap(), |p| p.id), [crm.id, old.id, erp.id]);
    let taken = ProductInput { code: s("crm"), name: s("x"), ..ProductInput::default() };
    expect_conflict(store.update_product(erp.id, &taken.validate().unwrap(), at(11)).await, "code");
    assert_eq!(store.get_product(erp.id).await.unwrap(), changed);
    expect_not_found(store.update_product(999_999, &taken.validate().unwrap(), at(11)).await);

    // Deleting a product removes leads' interest in it, not the leads.
    let lead = lead_data(LeadInput {
        family_name: s("山田"),
        product_ids: Some(vec![crm.id, erp.id]),
        ..LeadInput::default()
    });
    let lead = store.create_lead(&lead, false, at(20)).await.unwrap();
    assert_eq!(lead.product_ids, sorted(&[crm.id, erp.id]));
    store.delete_product(erp.id).await.unwrap();
    expect_not_found(store.get_product(erp.id).await);
    expect_not_found(store.delete_product(erp.id).await);
    assert_eq!(store.get_lead(lead.id).await.unwrap().product_ids, [crm.id]);
    let by_deleted = LeadQuery { product_id: Some(erp.id), ..LeadQuery::default() };
    assert_eq!(leads_matching(store, by_deleted).await, (vec![], exact(0)));
    assert_eq!(ids(&store.list_products().await.unwrap(), |p| p.id), [crm.id, old.id]);
    assert_eq!(store.overview().await.unwrap().products, 2);

    // Custom fields.
    assert!(store.list_custom_fields().await.unwrap().is_empty());
    let budget = CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap();
    let timing = CustomFieldDef::parse("timing", "導入時期", "", "choice", "今期,来期、未定").unwrap();
    let budget_row = store.create_custom_field(&budget, at(30)).await.unwrap();
    let timing_row = store.create_custom_field(&timing, at(31)).await.unwrap();
    assert_eq!((budget_row.position, timing_row.position), (1, 2));
    assert_eq!(budget_row.def(), budget);
    assert_eq!(timing_row.def(), timing);
    assert_eq!(timing_row.label_en, "導入時期");
    assert_eq!(store.list_custom_fields().await.unwrap(), [budget_row.clone(), timing_row.clone()]);
    let again = CustomFieldDef::parse("budget", "予算2", "", "text", "").unwrap();
    expect_conflict(store.create_custom_field(&again, at(32)).await, "key");
    store.delete_custom_field(budget_row.id).await.unwrap();
    expect_not_found(store.delete_custom_field(budget_row.id).await);
    assert_eq!(store.list_custom_fields().await.unwrap(), std::slice::from_ref(&timing_row));
    let third = store.create_custom_field(&again, at(33)).await.unwrap();
    assert_eq!(third.position, 3, "a new field goes last");
    assert_eq!(ids(&store.list_custom_fields().await.unwrap(), |f| f.id), [timing_row.id, third.id]);
}

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

// ---------------------------------------------------------------------------------------
// 3. Accounts

const HIMAWARI_NUMBER: &str = "7000012050002";

async fn scenario_accounts(store: &dyn Store) {
    let owner = new_user(store, "owner@example.jp", "担当 一郎", "field_sales", at(0)).await;
    let input = AccountInput {
        name: s("株式会社ひまわり商事"),
        corporate_number: s(HIMAWARI_NUMBER),
        domains: Some(vec!["https://www.himawari.co.jp/".into(), "himawari.jp".into()]),
        industry: s("商社"),
        employee_count: Some(320),
        annual_revenue: Some(4_500_000_000),
        address: s("東京都千代田区丸の内1-1"),
        abm_tier: s("tier1"),
        owner_id: Some(owner.id),
        ..AccountInput::default()
    };
    let himawari = store.create_account(&account_data(input.clone()), at(1)).await.unwrap();
    assert_eq!(himawari.name, "株式会社ひまわり商事");
    assert_eq!(himawari.name_normalized, "ひまわり商事");
    assert_eq!(himawari.corporate_number.as_deref(), Some(HIMAWARI_NUMBER));
    assert_eq!(himawari.domain_list(), ["himawari.co.jp", "himawari.jp"]);
    assert_eq!(himawari.industry.as_deref(), Some("商社"));
    assert_eq!((himawari.employee_count, himawari.annual_revenue), (Some(320), Some(4_500_000_000)));
    assert_eq!(himawari.prefecture.as_deref(), Some("東京都"));
    assert_eq!(himawari.address.as_deref(), Some("東京都千代田区丸の内1-1"));
    assert_eq!(himawari.abm_tier.as_deref(), Some("tier1"));
    assert_eq!(himawari.owner_id, Some(owner.id));
    assert_eq!(himawari.lead_count, 0);
    assert_eq!((himawari.created_at, himawari.updated_at), (at(1), at(1)));
    assert_eq!(store.get_account(himawari.id).await.unwrap(), himawari);

    // The same corporate number (typed in full width) is the same company.
    let twin = AccountInput {
        name: s("ひまわり商事ホールディングス"),
        corporate_number: s("７０００－０１２０５０００２"),
        ..AccountInput::default()
    };
    let twin = account_data(twin);
    assert_eq!(twin.corporate_number.as_ref().map(CorporateNumber::as_str), Some(HIMAWARI_NUMBER));
    expect_conflict(store.create_account(&twin, at(2)).await, "corporate_number");
    assert_eq!(store.get_account(himawari.id).await.unwrap(), himawari, "the first row is unchanged");
    assert_eq!(store.overview().await.unwrap().accounts, 1);

    let missing_owner = AccountInput { owner_id: Some(999_999), ..AccountInput::default() };
    let missing_owner = account_data(AccountInput { name: s("幽霊商事"), ..missing_owner });
    expect_missing(store.create_account(&missing_owner, at(3)).await, "owner_id");
    assert_eq!(store.overview().await.unwrap().accounts, 1);

    // Accounts without a corporate number do not collide with each other.
    let asahi = store.create_account(&named("あさひ物産株式会社"), at(4)).await.unwrap();
    let other = store.create_account(&named("有限会社あさひ"), at(5)).await.unwrap();
    assert_eq!((asahi.corporate_number.as_deref(), other.corporate_number.as_deref()), (None, None));

    // Update.
    let change = AccountInput {
        name: s("あさひ物産ホールディングス株式会社"),
        corporate_number: Some(CorporateNumber::from_base("123456789012").as_str().to_owned()),
        employee_count: Some(1_200),
        prefecture: s("大阪"),
        abm_tier: s("2"),
        ..AccountInput::default()
    };
    let changed = store.update_account(asahi.id, &account_data(change), at(50)).await.unwrap();
    assert_eq!(changed.name, "あさひ物産ホールディングス株式会社");
    assert_eq!(changed.name_normalized, "あさひ物産ホールディングス");
    assert_eq!(changed.corporate_number.as_deref(), Some(CorporateNumber::from_base("123456789012").as_str()));
    assert_eq!(changed.employee_count, Some(1_200));
    assert_eq!(changed.prefecture.as_deref(), Some("大阪府"));
    assert_eq!(changed.abm_tier.as_deref(), Some("tier2"));
    assert_eq!((changed.created_at, changed.updated_at), (at(4), at(50)));
    assert_eq!(store.get_account(asahi.id).await.unwrap(), changed);

    // An update to a taken number fails and changes nothing.
    let steal =
        AccountInput { name: s("有限会社あさひ"), corporate_number: s(HIMAWARI_NUMBER), ..Default::default() };
    expect_conflict(store.update_account(other.id, &account_data(steal), at(60)).await, "corporate_number");
    assert_eq!(store.get_account(other.id).await.unwrap(), other);
    let ghost_owner = AccountInput { name: s("有限会社あさひ"), owner_id: Some(999_999), ..Default::default() };
    expect_missing(store.update_account(other.id, &account_data(ghost_owner), at(61)).await, "owner_id");
    assert_eq!(store.get_account(other.id).await.unwrap(), other);
    expect_not_found(store.update_account(999_999, &named("どこにもない"), at(62)).await);
    expect_not_found(store.get_account(999_999).await);

    // Lead counts.
    for (i, name) in ["一", "二"].iter().enumerate() {
        let lead = lead_data(LeadInput { family_name: s(name), account_id: Some(himawari.id), ..LeadInput::default() });
        store.create_lead(&lead, false, at(70 + i as i64)).await.unwrap();
    }
    assert_eq!(store.get_account(himawari.id).await.unwrap().lead_count, 2);
    let page = store.list_accounts(&AccountQuery { limit: 10, ..AccountQuery::default() }).await.unwrap();
    let counts: Vec<(i64, i64)> = page.items.iter().map(|a| (a.id, a.lead_count)).collect();
    assert!(counts.contains(&(himawari.id, 2)) && counts.contains(&(other.id, 0)), "{counts:?}");

    // Delete.
    store.delete_account(other.id).await.unwrap();
    expect_not_found(store.get_account(other.id).await);
    expect_not_found(store.delete_account(other.id).await);
    assert_eq!(store.overview().await.unwrap().accounts, 2);
}

/// Seven accounts; returns their ids in name order, and the ids by fixture name.
async fn seven_accounts(store: &dyn Store) -> (Vec<i64>, std::collections::HashMap<&'static str, i64>) {
    let fixtures: [(&str, Option<&str>, Option<&str>); 7] = [
        ("株式会社ひまわり商事", Some(HIMAWARI_NUMBER), Some("東京都")),
        ("ひまわり商事", None, Some("東京都")),
        ("(株)ひまわり電機", None, Some("大阪府")),
        ("あさひ物産株式会社", None, Some("東京都")),
        ("Sunrise Trading Co., Ltd.", None, None),
        ("コスモス合同会社", None, Some("北海道")),
        ("ACME Inc.", None, Some("東京都")),
    ];
    let mut by_name = std::collections::HashMap::new();
    for (i, (name, number, prefecture)) in fixtures.into_iter().enumerate() {
        let data = account_data(AccountInput {
            name: s(name),
            corporate_number: number.map(str::to_owned),
            prefecture: prefecture.map(str::to_owned),
            ..AccountInput::default()
        });
        by_name.insert(name, store.create_account(&data, at(i as i64)).await.unwrap().id);
    }
    // By normalised name in code-point order, equal names by id:
    // acme, sunrisetrading, あさひ物産, ひまわり商事 ×2, ひまわり電機, コスモス.
    let order = [
        "ACME Inc.",
        "Sunrise Trading Co., Ltd.",
        "あさひ物産株式会社",
        "株式会社ひまわり商事",
        "ひまわり商事",
        "(株)ひまわり電機",
        "コスモス合同会社",
    ];
    (order.iter().map(|n| by_name[n]).collect(), by_name)
}

async fn account_search(store: &dyn Store, search: &str) -> (Vec<i64>, Option<Total>) {
    let query = AccountQuery { search: s(search), limit: 50, count: true, ..AccountQuery::default() };
    let page = store.list_accounts(&query).await.unwrap();
    (ids(&page.items, |a| a.id), page.total)
}

async fn scenario_account_pages(store: &dyn Store) {
    let (order, by_name) = seven_accounts(store).await;
    let all = store.list_accounts(&AccountQuery { limit: 50, count: true, ..AccountQuery::default() }).await.unwrap();
    assert_eq!(ids(&all.items, |a| a.id), order);
    assert_eq!(all.total, exact(7));
    assert_eq!((all.next, all.prev), (None, None));

    let himawari = [by_name["株式会社ひまわり商事"], by_name["ひまわり商事"], by_name["(株)ひまわり電機"]];
    assert_eq!(account_search(store, "ひまわり").await, (himawari.to_vec(), exact(3)));
    assert_eq!(account_search(store, "（株）ひまわり").await, (himawari.to_vec(), exact(3)));
    assert_eq!(account_search(store, "ひまわり商事").await, (himawari[..2].to_vec(), exact(2)));
    assert_eq!(account_search(store, "わり電").await, (vec![himawari[2]], exact(1)));
    assert_eq!(account_search(store, "SUNRISE").await, (vec![by_name["Sunrise Trading Co., Ltd."]], exact(1)));
    assert_eq!(account_search(store, "存在しない").await, (vec![], exact(0)));
    // A corporate number finds exactly its company, however it is typed.
    for number in [HIMAWARI_NUMBER, "７００００１２０５０００２", "7-0000-1205-0002", " 7000012050002 "] {
        assert_eq!(account_search(store, number).await, (vec![himawari[0]], exact(1)), "{number}");
    }

    let tokyo = AccountQuery { prefecture: s("東京都"), limit: 50, count: true, ..AccountQuery::default() };
    let tokyo_page = store.list_accounts(&tokyo).await.unwrap();
    let expected: Vec<i64> = ["ACME Inc.", "あさひ物産株式会社", "株式会社ひまわり商事", "ひまわり商事"]
        .iter()
        .map(|n| by_name[n])
        .collect();
    assert_eq!((ids(&tokyo_page.items, |a| a.id), tokyo_page.total), (expected.clone(), exact(4)));
    let tokyo_himawari = AccountQuery { search: s("ひまわり"), ..tokyo.clone() };
    assert_eq!(store.list_accounts(&tokyo_himawari).await.unwrap().total, exact(2));

    // Three pages of three, two and one; forward and back.
    check_account_pages(store, &AccountQuery::default(), &order, 3).await;
    check_account_pages(store, &AccountQuery::default(), &order, 7).await;
    check_account_pages(store, &AccountQuery::default(), &order, 1).await;
    check_account_pages(store, &tokyo, &expected, 2).await;
    check_account_pages(store, &AccountQuery { search: s("ひまわり"), ..Default::default() }, &himawari, 2).await;
    check_account_pages(store, &AccountQuery { search: s("なし"), ..Default::default() }, &[], 2).await;

    // A counted page reports the total of all pages.
    let first = store.list_accounts(&AccountQuery { limit: 3, count: true, ..AccountQuery::default() }).await.unwrap();
    assert_eq!((first.items.len(), first.total), (3, exact(7)));
}

async fn scenario_account_delete_unlinks_leads(store: &dyn Store) {
    let himawari = store.create_account(&named("株式会社ひまわり商事"), at(0)).await.unwrap();
    let keep = store.create_account(&named("あさひ物産"), at(0)).await.unwrap();
    let linked = lead_data(LeadInput {
        family_name: s("田中"),
        email: s("tanaka@example.jp"),
        account_id: Some(himawari.id),
        ..LeadInput::default()
    });
    let linked = store.create_lead(&linked, false, at(1)).await.unwrap();
    assert_eq!(linked.account_name.as_deref(), Some("株式会社ひまわり商事"));
    assert_eq!(linked.company(), Some("株式会社ひまわり商事"));
    let entered = lead_data(LeadInput {
        family_name: s("鈴木"),
        company_name: s("ひまわり食品"),
        account_id: Some(himawari.id),
        ..LeadInput::default()
    });
    let entered = store.create_lead(&entered, false, at(2)).await.unwrap();
    let elsewhere =
        lead_data(LeadInput { family_name: s("佐藤"), account_id: Some(keep.id), ..LeadInput::default() });
    let elsewhere = store.create_lead(&elsewhere, false, at(3)).await.unwrap();
    assert_eq!(search_leads(store, "ひまわり商事").await, set(&[linked.id, entered.id]));

    store.delete_account(himawari.id).await.unwrap();
    expect_not_found(store.get_account(himawari.id).await);
    for id in [linked.id, entered.id] {
        let lead = store.get_lead(id).await.expect("the lead stays");
        assert_eq!((lead.account_id, lead.account_name.as_deref()), (None, None));
    }
    let entered_now = store.get_lead(entered.id).await.unwrap();
    assert_eq!(entered_now.company(), Some("ひまわり食品"));
    assert_eq!(entered_now.family_name, entered.family_name);
    assert_eq!(store.get_lead(elsewhere.id).await.unwrap().account_id, Some(keep.id));
    // The leads are re-indexed: the deleted account's name no longer finds them, the name
    // as entered still does.
    assert_eq!(search_leads(store, "ひまわり商事").await, set(&[]));
    assert_eq!(search_leads(store, "ひまわり食品").await, set(&[entered.id]));
    assert_eq!(search_leads(store, "田中").await, set(&[linked.id]));
    // Kana in either script finds the other: ヒマワリ finds ひまわり食品, and a reading typed in
    // hiragana finds one stored in katakana.
    assert_eq!(search_leads(store, "ヒマワリ").await, set(&[entered.id]));
    let reading =
        lead_data(LeadInput { family_name: s("渡辺"), family_name_kana: s("ワタナベ"), ..LeadInput::default() });
    let reading = store.create_lead(&reading, false, at(4)).await.unwrap();
    assert_eq!(search_leads(store, "わたなべ").await, set(&[reading.id]));
    assert_eq!(search_leads(store, "わた 渡").await, set(&[reading.id]));
    // A mix of scripts on either side, and a name or reading typed without its space.
    let mixed = lead_data(LeadInput {
        family_name: s("桜井"),
        given_name: s("真一"),
        family_name_kana: s("さくらい"),
        given_name_kana: s("シンイチ"),
        company_name: s("さくらテック"),
        ..LeadInput::default()
    });
    let mixed = store.create_lead(&mixed, false, at(5)).await.unwrap();
    for query in
        ["サクラテック", "さくらてっく", "サクライしんいち", "さくらいしんいち", "桜井真一", "(株)さくらテック", "櫻井"]
    {
        assert_eq!(search_leads(store, query).await, set(&[mixed.id]), "{query}");
    }
    store.delete_lead(mixed.id).await.unwrap();
    store.delete_lead(reading.id).await.unwrap();
    let overview = store.overview().await.unwrap();
    assert_eq!((overview.accounts, overview.leads), (1, 3));
}

// ---------------------------------------------------------------------------------------
// 4. Leads

struct Catalog {
    owner1: UserRow,
    owner2: UserRow,
    p1: i64,
    p2: i64,
    p3: i64,
    account_a: AccountRow,
    account_b: AccountRow,
}

async fn catalog(store: &dyn Store) -> Catalog {
    let owner1 = new_user(store, "owner1@example.jp", "営業 一郎", "inside_sales", at(0)).await;
    let owner2 = new_user(store, "owner2@example.jp", "営業 二郎", "field_sales", at(0)).await;
    let p1 = new_product(store, "erp", "クラウドERP").await.id;
    let p2 = new_product(store, "crm", "CRM").await.id;
    let p3 = new_product(store, "sfa", "SFA").await.id;
    let account_a = store.create_account(&named("株式会社ひまわり商事"), at(0)).await.unwrap();
    let account_b = store.create_account(&named("あさひ物産株式会社"), at(0)).await.unwrap();
    Catalog { owner1, owner2, p1, p2, p3, account_a, account_b }
}

async fn scenario_leads_crud(store: &dyn Store) {
    let c = catalog(store).await;
    let budget = CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap();
    store.create_custom_field(&budget, at(0)).await.unwrap();
    let defs = [budget];
    let mut custom = serde_json::Map::new();
    custom.insert("budget".into(), serde_json::json!("1,200"));
    let input = LeadInput {
        account_id: Some(c.account_a.id),
        family_name: s("山田"),
        given_name: s("太郎"),
        family_name_kana: s("やまだ"),
        given_name_kana: s("タロウ"),
        email: s("Taro.Yamada@Himawari.example.jp"),
        phone: s("03-1234-5678"),
        department: s("情報システム部"),
        title: s("課長"),
        address: s("東京都千代田区1-1"),
        source: s("展示会2024"),
        owner_id: Some(c.owner1.id),
        product_ids: Some(vec![c.p2, c.p1, c.p2]),
        custom: Some(custom),
        ..LeadInput::default()
    };
    let data = input.validate(&defs).unwrap();
    let is_lead = RequiredFieldSet::default().is_lead(&data);
    assert!(is_lead);
    let lead = store.create_lead(&data, is_lead, at(10)).await.unwrap();
    assert!(lead.id > 0);
    assert_eq!(lead.account_id, Some(c.account_a.id));
    assert_eq!(lead.account_name.as_deref(), Some("株式会社ひまわり商事"));
    assert_eq!(lead.company(), Some("株式会社ひまわり商事"));
    assert_eq!(lead.full_name(), "山田 太郎");
    assert_eq!(lead.family_name_kana.as_deref(), Some("ヤマダ"));
    assert_eq!(lead.email.as_deref(), Some("taro.yamada@himawari.example.jp"));
    assert_eq!(lead.phone.as_deref(), Some("03-1234-5678"));
    assert_eq!(lead.prefecture.as_deref(), Some("東京都"));
    assert_eq!(lead.source.as_deref(), Some("展示会2024"));
    assert_eq!((lead.owner_id, lead.owner_name.as_deref()), (Some(c.owner1.id), Some("営業 一郎")));
    assert_eq!(lead.product_ids, sorted(&[c.p1, c.p2]));
    assert!(lead.is_lead);
    assert_eq!(lead.custom_map().get("budget"), Some(&serde_json::json!(1200.0)));
    assert_eq!((lead.created_at, lead.updated_at), (at(10), at(10)));
    assert_eq!(lead.to_input().validate(&defs).unwrap(), data, "what is stored is what came in");
    assert_eq!(store.get_lead(lead.id).await.unwrap(), lead);
    assert_eq!(store.get_account(c.account_a.id).await.unwrap().lead_count, 1);

    // Links to missing rows are refused, naming the field, and store nothing.
    let before = store.overview().await.unwrap();
    let other =
        |patch: LeadInput| lead_data(LeadInput { family_name: s("別人"), email: s("other@example.jp"), ..patch });
    let bad_links = [
        ("account_id", other(LeadInput { account_id: Some(999_999), ..LeadInput::default() })),
        ("owner_id", other(LeadInput { owner_id: Some(999_999), ..LeadInput::default() })),
        ("product_ids", other(LeadInput { product_ids: Some(vec![c.p1, 999_999]), ..LeadInput::default() })),
    ];
    for (field, bad) in &bad_links {
        expect_missing(store.create_lead(bad, false, at(20)).await, field);
        let now = store.overview().await.unwrap();
        assert_eq!((now.leads, now.lead_records), (before.leads, before.lead_records), "{field}: nothing stored");
        let (found, total) = leads_matching(store, LeadQuery::default()).await;
        assert_eq!((found, total), (vec![lead.id], exact(1)));
        assert_eq!(search_leads(store, "別人").await, set(&[]), "{field}: nothing indexed");
        let by_product = LeadQuery { product_id: Some(c.p1), ..LeadQuery::default() };
        assert_eq!(leads_matching(store, by_product).await.0, [lead.id], "{field}: no product links");
    }

    // A duplicate e-mail (in any case) is refused and the stored lead is unchanged.
    let dup = lead_data(LeadInput {
        family_name: s("偽山田"),
        email: s("TARO.YAMADA@himawari.example.jp"),
        product_ids: Some(vec![c.p3]),
        ..LeadInput::default()
    });
    expect_conflict(store.create_lead(&dup, false, at(30)).await, "email");
    assert_eq!(store.get_lead(lead.id).await.unwrap(), lead);
    assert_eq!(store.overview().await.unwrap().leads, 1);
    assert_eq!(search_leads(store, "偽山田").await, set(&[]));
    assert_eq!(
        leads_matching(store, LeadQuery { product_id: Some(c.p3), ..Default::default() }).await.0,
        Vec::<i64>::new()
    );

    // Records without e-mail do not collide.
    let phone_only =
        |name: &str| lead_data(LeadInput { family_name: s(name), phone: s("090-1111-2222"), ..LeadInput::default() });
    let second = store.create_lead(&phone_only("佐藤"), false, at(40)).await.unwrap();
    let third = store.create_lead(&phone_only("鈴木"), false, at(41)).await.unwrap();
    assert_eq!((second.email.as_deref(), third.email.as_deref()), (None, None));
    assert!(!second.is_lead);

    // An update to a taken e-mail fails and changes nothing.
    let steal = lead_data(LeadInput {
        family_name: s("佐藤"),
        email: s("taro.yamada@himawari.example.jp"),
        product_ids: Some(vec![c.p3]),
        ..LeadInput::default()
    });
    expect_conflict(store.update_lead(second.id, &steal, false, at(50)).await, "email");
    assert_eq!(store.get_lead(second.id).await.unwrap(), second);
    let ghost = lead_data(LeadInput { family_name: s("佐藤"), owner_id: Some(999_999), ..LeadInput::default() });
    expect_missing(store.update_lead(second.id, &ghost, false, at(51)).await, "owner_id");
    assert_eq!(store.get_lead(second.id).await.unwrap(), second);
    expect_not_found(store.update_lead(999_999, &phone_only("誰か"), false, at(52)).await);

    // Update: move to another owner and account, change products and fields.
    let change = LeadInput {
        account_id: Some(c.account_b.id),
        owner_id: Some(c.owner2.id),
        title: None,
        product_ids: Some(vec![c.p3]),
        department: s("DX推進室"),
        ..lead.to_input()
    };
    let changed_data = change.validate(&defs).unwrap();
    let changed = store.update_lead(lead.id, &changed_data, false, at(60)).await.unwrap();
    assert_eq!(
        (changed.account_id, changed.account_name.as_deref()),
        (Some(c.account_b.id), Some("あさひ物産株式会社"))
    );
    assert_eq!((changed.owner_id, changed.owner_name.as_deref()), (Some(c.owner2.id), Some("営業 二郎")));
    assert_eq!(changed.product_ids, [c.p3]);
    assert_eq!((changed.title.as_deref(), changed.department.as_deref()), (None, Some("DX推進室")));
    assert!(!changed.is_lead);
    assert_eq!((changed.created_at, changed.updated_at), (at(10), at(60)));
    assert_eq!(changed.email, lead.email);
    assert_eq!(changed.to_input().validate(&defs).unwrap(), changed_data);
    assert_eq!(store.get_lead(lead.id).await.unwrap(), changed);
    assert_eq!(store.get_account(c.account_a.id).await.unwrap().lead_count, 0);
    assert_eq!(store.get_account(c.account_b.id).await.unwrap().lead_count, 1);
    assert_eq!(search_leads(store, "DX推進").await, set(&[lead.id]));
    assert_eq!(search_leads(store, "情報システム").await, set(&[]), "the old document is gone");
    assert_eq!(
        leads_matching(store, LeadQuery { product_id: Some(c.p1), ..Default::default() }).await.0,
        Vec::<i64>::new()
    );
    // Updating to the lead's own e-mail is not a conflict.
    store.update_lead(lead.id, &changed_data, false, at(61)).await.unwrap();

    // Delete.
    store.delete_lead(lead.id).await.unwrap();
    expect_not_found(store.get_lead(lead.id).await);
    expect_not_found(store.delete_lead(lead.id).await);
    assert_eq!(search_leads(store, "山田").await, set(&[]));
    assert_eq!(
        leads_matching(store, LeadQuery { product_id: Some(c.p3), ..Default::default() }).await.0,
        Vec::<i64>::new()
    );
    let overview = store.overview().await.unwrap();
    assert_eq!((overview.leads, overview.lead_records, overview.list_records), (2, 0, 2));
    assert_eq!(store.get_account(c.account_b.id).await.unwrap().lead_count, 0);
    // Its e-mail is free again.
    store.create_lead(&data, true, at(70)).await.unwrap();
}

/// The seven leads of the list and search scenarios.
struct Leads {
    c: Catalog,
    /// Ids of L1..L7 at index 0..6.
    l: [i64; 7],
}

async fn seven_leads(store: &dyn Store) -> Leads {
    let c = catalog(store).await;
    let complete = |patch: LeadInput| LeadInput {
        phone: patch.phone.clone().or(s("03-5555-0000")),
        department: s("営業部"),
        title: s("部長"),
        ..patch
    };
    let fixtures = [
        // L1: a complete lead at account A.
        complete(LeadInput {
            family_name: s("田中"),
            given_name: s("一郎"),
            family_name_kana: s("タナカ"),
            given_name_kana: s("イチロウ"),
            email: s("Ichiro.Tanaka@himawari.example.jp"),
            phone: s("03-1111-2222"),
            prefecture: s("東京都"),
            account_id: Some(c.account_a.id),
            owner_id: Some(c.owner1.id),
            product_ids: Some(vec![c.p1]),
            ..LeadInput::default()
        }),
        // L2: no title, so a list entry.
        LeadInput {
            family_name: s("佐藤"),
            given_name: s("花子"),
            family_name_kana: s("サトウ"),
            given_name_kana: s("ハナコ"),
            email: s("sato@beta.example.jp"),
            phone: s("06-2222-3333"),
            department: s("総務部"),
            prefecture: s("大阪府"),
            company_name: s("ベータ工業株式会社"),
            owner_id: Some(c.owner2.id),
            product_ids: Some(vec![c.p1, c.p2]),
            ..LeadInput::default()
        },
        // L3: complete, account B.
        complete(LeadInput {
            family_name: s("鈴木"),
            given_name: s("次郎"),
            family_name_kana: s("スズキ"),
            given_name_kana: s("ジロウ"),
            email: s("suzuki@asahi.example.jp"),
            prefecture: s("東京都"),
            account_id: Some(c.account_b.id),
            owner_id: Some(c.owner1.id),
            product_ids: Some(vec![c.p2]),
            ..LeadInput::default()
        }),
        // L4: phone only.
        LeadInput {
            family_name: s("高橋"),
            given_name: s("美咲"),
            family_name_kana: s("タカハシ"),
            given_name_kana: s("ミサキ"),
            phone: s("011-333-4444"),
            company_name: s("ガンマ株式会社"),
            prefecture: s("北海道"),
            ..LeadInput::default()
        },
        // L5: complete, account A, other owner.
        complete(LeadInput {
            family_name: s("田村"),
            given_name: s("健"),
            family_name_kana: s("タムラ"),
            given_name_kana: s("ケン"),
            email: s("tamura@himawari.example.jp"),
            prefecture: s("大阪府"),
            account_id: Some(c.account_a.id),
            owner_id: Some(c.owner2.id),
            product_ids: Some(vec![c.p3]),
            ..LeadInput::default()
        }),
        // L6: no reading.
        LeadInput {
            family_name: s("伊藤"),
            given_name: s("さくら"),
            email: s("ito@epsilon.example.jp"),
            company_name: s("イプシロン"),
            prefecture: s("福岡県"),
            product_ids: Some(vec![c.p1]),
            ..LeadInput::default()
        },
        // L7: an e-mail address only.
        LeadInput { email: s("info@delta.example.com"), ..LeadInput::default() },
    ];
    let required = RequiredFieldSet::default();
    let mut l = [0; 7];
    for (i, input) in fixtures.into_iter().enumerate() {
        let data = lead_data(input);
        let is_lead = required.is_lead(&data);
        assert_eq!(is_lead, [0, 2, 4].contains(&i), "L{} is a lead", i + 1);
        l[i] = store.create_lead(&data, is_lead, at(1_000 * (i as i64 + 1))).await.unwrap().id;
    }
    // Touch L2 and L4 later, so updated order differs from created order.
    for (index, when) in [(1, 100_000), (3, 90_000)] {
        let row = store.get_lead(l[index]).await.unwrap();
        let input = LeadInput { source: s("再訪"), ..row.to_input() };
        let updated = store.update_lead(l[index], &lead_data(input), row.is_lead, at(when)).await.unwrap();
        assert_eq!(updated.updated_at, at(when));
    }
    Leads { c, l }
}

async fn scenario_lead_lists(store: &dyn Store) {
    let Leads { c, l } = seven_leads(store).await;
    let pick = |numbers: &[usize]| -> Vec<i64> { numbers.iter().map(|n| l[n - 1]).collect() };
    let by_updated = pick(&[2, 4, 7, 6, 5, 3, 1]);
    let by_created = pick(&[7, 6, 5, 4, 3, 2, 1]);
    // info@… (ASCII) < サトウ < スズキ < タカハシ < タナカ < タムラ < 伊藤 (code-point order).
    let by_name = pick(&[7, 2, 3, 4, 1, 5, 6]);

    let sorted_by = |sort| LeadQuery { sort, ..LeadQuery::default() };
    assert_eq!(leads_matching(store, sorted_by(LeadSort::Updated)).await, (by_updated.clone(), exact(7)));
    assert_eq!(leads_matching(store, sorted_by(LeadSort::Created)).await, (by_created.clone(), exact(7)));
    assert_eq!(leads_matching(store, sorted_by(LeadSort::Name)).await, (by_name.clone(), exact(7)));

    let cases: Vec<(&str, LeadQuery, Vec<i64>)> = vec![
        ("product p1", LeadQuery { product_id: Some(c.p1), ..Default::default() }, pick(&[2, 6, 1])),
        ("product p2", LeadQuery { product_id: Some(c.p2), ..Default::default() }, pick(&[2, 3])),
        ("product p3", LeadQuery { product_id: Some(c.p3), ..Default::default() }, pick(&[5])),
        ("owner 1", LeadQuery { owner_id: Some(c.owner1.id), ..Default::default() }, pick(&[3, 1])),
        ("owner 2", LeadQuery { owner_id: Some(c.owner2.id), ..Default::default() }, pick(&[2, 5])),
        ("kind lead", LeadQuery { kind: LeadKind::Lead, ..Default::default() }, pick(&[5, 3, 1])),
        ("kind list", LeadQuery { kind: LeadKind::List, ..Default::default() }, pick(&[2, 4, 7, 6])),
        ("kind all", LeadQuery { kind: LeadKind::All, ..Default::default() }, by_updated.clone()),
        ("東京都", LeadQuery { prefecture: s("東京都"), ..Default::default() }, pick(&[3, 1])),
        ("大阪府", LeadQuery { prefecture: s("大阪府"), ..Default::default() }, pick(&[2, 5])),
        ("沖縄県", LeadQuery { prefecture: s("沖縄県"), ..Default::default() }, vec![]),
        ("account A", LeadQuery { account_id: Some(c.account_a.id), ..Default::default() }, pick(&[5, 1])),
        ("account B", LeadQuery { account_id: Some(c.account_b.id), ..Default::default() }, pick(&[3])),
        ("p1 and lead", LeadQuery { product_id: Some(c.p1), kind: LeadKind::Lead, ..Default::default() }, pick(&[1])),
        (
            "owner 2 and list",
            LeadQuery { owner_id: Some(c.owner2.id), kind: LeadKind::List, ..Default::default() },
            pick(&[2]),
        ),
        (
            "account A, 大阪府, p3",
            LeadQuery {
                account_id: Some(c.account_a.id),
                prefecture: s("大阪府"),
                product_id: Some(c.p3),
                ..Default::default()
            },
            pick(&[5]),
        ),
        ("missing product", LeadQuery { product_id: Some(999_999), ..Default::default() }, vec![]),
    ];
    for (name, query, expected) in &cases {
        let (found, total) = leads_matching(store, query.clone()).await;
        assert_eq!(found, *expected, "{name}");
        assert_eq!(total, exact(expected.len() as i64), "{name}: count");
    }
    // Rows carry their product links.
    let page = store.list_leads(&LeadQuery { limit: 10, ..LeadQuery::default() }).await.unwrap();
    let l2 = page.items.iter().find(|r| r.id == l[1]).unwrap();
    assert_eq!(l2.product_ids, sorted(&[c.p1, c.p2]));
    assert_eq!(l2, &store.get_lead(l[1]).await.unwrap());
    assert!(page.items.iter().find(|r| r.id == l[3]).unwrap().product_ids.is_empty());

    // Cursors: every sort, pages of 3 (3 + 3 + 1), of 2, and of 1, forward and back.
    for (sort, expected) in
        [(LeadSort::Updated, &by_updated), (LeadSort::Created, &by_created), (LeadSort::Name, &by_name)]
    {
        for limit in [3, 2, 1, 7] {
            check_lead_pages(store, &sorted_by(sort), expected, limit).await;
        }
    }
    // Filtered pages: the list entries in pages of 2 (exactly two full pages).
    let list = LeadQuery { kind: LeadKind::List, ..LeadQuery::default() };
    check_lead_pages(store, &list, &pick(&[2, 4, 7, 6]), 2).await;
    let list_by_name = LeadQuery { sort: LeadSort::Name, ..list.clone() };
    check_lead_pages(store, &list_by_name, &pick(&[7, 2, 4, 6]), 3).await;
    let p1_created = LeadQuery { product_id: Some(c.p1), sort: LeadSort::Created, ..LeadQuery::default() };
    check_lead_pages(store, &p1_created, &pick(&[6, 2, 1]), 2).await;
    check_lead_pages(store, &LeadQuery { product_id: Some(999_999), ..LeadQuery::default() }, &[], 2).await;

    // Counting ignores the cursor and the page size.
    let counted = LeadQuery { limit: 2, count: true, ..LeadQuery::default() };
    let first = store.list_leads(&counted).await.unwrap();
    assert_eq!((lead_ids(&first), first.total), (by_updated[..2].to_vec(), exact(7)));
    let second = LeadQuery { cursor: Some(decode(first.next.as_deref().unwrap())), ..counted };
    let second = store.list_leads(&second).await.unwrap();
    assert_eq!((lead_ids(&second), second.total), (by_updated[2..4].to_vec(), exact(7)));
    let uncounted = store.list_leads(&LeadQuery { limit: 2, ..LeadQuery::default() }).await.unwrap();
    assert_eq!(uncounted.total, None);
}

async fn scenario_lead_search(store: &dyn Store) {
    let Leads { c, l } = seven_leads(store).await;
    let pick = |numbers: &[usize]| -> BTreeSet<i64> { numbers.iter().map(|n| l[n - 1]).collect() };

    let cases: Vec<(&str, &[usize])> = vec![
        // Japanese surname, two characters: 田中 but not 田村.
        ("田中", &[1]),
        // One character: anywhere in a field, including its last character (佐藤 and 伊藤 for 藤).
        ("田", &[1, 5]),
        ("藤", &[2, 6]),
        ("佐", &[2]),
        ("山", &[]),
        // Given names and readings.
        ("花子", &[2]),
        ("スズキ", &[3]),
        // タ starts タナカ, タカハシ, タムラ, and the bigram タ工 of ベータ工業.
        ("タ", &[1, 2, 4, 5]),
        // Company: the linked account's name, or the name as entered.
        ("ひまわり", &[1, 5]),
        ("ひまわり商事", &[1, 5]),
        ("ベータ工業", &[2]),
        ("あさひ物産", &[3]),
        // E-mail fragments, phone digits, department.
        ("tanaka@himawari", &[1]),
        ("SATO", &[2]),
        ("example", &[1, 2, 3, 5, 6, 7]),
        ("delta.example.com", &[7]),
        ("03-1111", &[1]),
        ("総務", &[2]),
        // Every term must match.
        ("田 ひまわり", &[1, 5]),
        ("田中 ベータ", &[]),
    ];
    for (text, expected) in cases {
        assert_eq!(search_leads(store, text).await, pick(expected), "search {text:?}");
    }
    // Full-width input is normalised like the documents.
    assert_eq!(search_leads(store, "ＴＡＮＡＫＡ").await, pick(&[1]));

    // Search combines with filters and sorts; results are in sort order.
    let search = |text: &str| SearchQuery::parse(text);
    let query = LeadQuery { search: search("example"), kind: LeadKind::List, ..LeadQuery::default() };
    assert_eq!(leads_matching(store, query).await, (vec![l[1], l[6], l[5]], exact(3)));
    let query = LeadQuery { search: search("田"), sort: LeadSort::Name, ..LeadQuery::default() };
    assert_eq!(leads_matching(store, query).await, (vec![l[0], l[4]], exact(2)));
    let query = LeadQuery { search: search("ひまわり"), owner_id: Some(c.owner2.id), ..LeadQuery::default() };
    assert_eq!(leads_matching(store, query).await, (vec![l[4]], exact(1)));
    let query = LeadQuery { search: search("example"), sort: LeadSort::Created, ..LeadQuery::default() };
    check_lead_pages(store, &query, &[l[6], l[5], l[4], l[2], l[1], l[0]], 4).await;

    // Renaming an account makes its new name find its leads, and the old one not.
    let renamed = AccountInput { name: s("株式会社コスモス電機"), ..AccountInput::default() };
    store.update_account(c.account_a.id, &account_data(renamed), at(200_000)).await.unwrap();
    assert_eq!(search_leads(store, "コスモス").await, pick(&[1, 5]));
    assert_eq!(search_leads(store, "ひまわり").await, pick(&[]));
    assert_eq!(search_leads(store, "田中 コスモス").await, pick(&[1]));
    assert_eq!(store.get_lead(l[0]).await.unwrap().account_name.as_deref(), Some("株式会社コスモス電機"));
    // Other fields of those leads are still found.
    assert_eq!(search_leads(store, "tamura").await, pick(&[5]));
    assert_eq!(search_leads(store, "ベータ").await, pick(&[2]));
}

// ---------------------------------------------------------------------------------------
// 5. Reclassification

async fn scenario_reclassify(store: &dyn Store) {
    let c = catalog(store).await;
    let inputs = [
        // 0: all seven fields.
        LeadInput {
            account_id: Some(c.account_a.id),
            family_name: s("山田"),
            email: s("yamada@example.jp"),
            phone: s("03-1234-5678"),
            department: s("営業部"),
            title: s("部長"),
            prefecture: s("東京都"),
            ..LeadInput::default()
        },
        // 1: company (as entered), name and e-mail.
        LeadInput {
            company_name: s("ひまわり商事"),
            family_name: s("佐藤"),
            email: s("sato@example.jp"),
            ..LeadInput::default()
        },
        // 2: name and phone.
        LeadInput { family_name: s("鈴木"), phone: s("090-0000-1111"), ..LeadInput::default() },
        // 3: e-mail and an address without a prefecture.
        LeadInput { email: s("kato@example.jp"), address: s("どこかの町1-2"), ..LeadInput::default() },
        // 4: a linked company, department and title.
        LeadInput {
            account_id: Some(c.account_b.id),
            family_name: s("伊藤"),
            department: s("総務部"),
            title: s("課長"),
            ..LeadInput::default()
        },
    ];
    let strict = RequiredFieldSet::default();
    let mut rows = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let data = lead_data(input.clone());
        rows.push(store.create_lead(&data, strict.is_lead(&data), at(i as i64)).await.unwrap());
    }
    let kind_ids = |kind| async move {
        let (ids, _) = leads_matching(store, LeadQuery { kind, sort: LeadSort::Created, ..Default::default() }).await;
        ids.into_iter().rev().collect::<Vec<i64>>()
    };
    assert_eq!(kind_ids(LeadKind::Lead).await, [rows[0].id]);

    // A looser set flips list entries into leads.
    let loose = RequiredFieldSet::parse("company,name,email").unwrap();
    assert_eq!(store.reclassify_leads(&loose).await.unwrap(), 1);
    assert_eq!(kind_ids(LeadKind::Lead).await, [rows[0].id, rows[1].id]);
    assert_eq!(kind_ids(LeadKind::List).await, [rows[2].id, rows[3].id, rows[4].id]);
    assert!(store.get_lead(rows[1].id).await.unwrap().is_lead);
    assert_eq!(store.get_lead(rows[1].id).await.unwrap().updated_at, rows[1].updated_at);
    assert_eq!(store.reclassify_leads(&loose).await.unwrap(), 0, "nothing left to change");
    let overview = store.overview().await.unwrap();
    assert_eq!((overview.lead_records, overview.list_records), (2, 3));

    // And back.
    assert_eq!(store.reclassify_leads(&strict).await.unwrap(), 1);
    assert_eq!(kind_ids(LeadKind::Lead).await, [rows[0].id]);
    assert!(!store.get_lead(rows[1].id).await.unwrap().is_lead);

    // The SQL and the domain rule agree for every single field, and for no field at all.
    let mut sets: Vec<RequiredFieldSet> = RequiredField::ALL.iter().map(|f| RequiredFieldSet(vec![*f])).collect();
    sets.push(RequiredFieldSet(vec![]));
    sets.push(RequiredFieldSet::parse("company,department,title").unwrap());
    sets.push(strict.clone());
    for required in &sets {
        let before: Vec<bool> = {
            let mut v = Vec::new();
            for row in &rows {
                v.push(store.get_lead(row.id).await.unwrap().is_lead);
            }
            v
        };
        let changed = store.reclassify_leads(required).await.unwrap();
        let mut flips = 0;
        for (row, was) in rows.iter().zip(before) {
            let stored = store.get_lead(row.id).await.unwrap();
            let expected = required.is_lead(&lead_data(stored.to_input()));
            assert_eq!(stored.is_lead, expected, "lead {} under {}", row.id, required.to_text());
            flips += u64::from(was != expected);
        }
        assert_eq!(changed, flips, "changed count under {:?}", required.to_text());
    }
}

// ---------------------------------------------------------------------------------------
// 6. Bulk loading

const SURNAMES: [&str; 10] = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"];

async fn scenario_bulk(store: &dyn Store) {
    const N: usize = 1_200;
    let p1 = new_product(store, "erp", "ERP").await.id;
    let p2 = new_product(store, "crm", "CRM").await.id;
    let owner = new_user(store, "bulk-owner@example.jp", "一括 担当", "marketer", at(0)).await;

    let accounts: Vec<AccountData> = (0..N)
        .map(|i| {
            account_data(AccountInput {
                name: Some(format!("株式会社バルク{i:04}")),
                corporate_number: Some(
                    CorporateNumber::from_base(&format!("{:012}", 500_000_000_000 + i)).as_str().into(),
                ),
                prefecture: s(if i % 2 == 0 { "東京都" } else { "大阪府" }),
                owner_id: (i % 7 == 0).then_some(owner.id),
                ..AccountInput::default()
            })
        })
        .collect();
    let account_ids = store.bulk_insert_accounts(&accounts, at(1)).await.unwrap();
    assert_eq!(account_ids.len(), N);
    assert!(account_ids.windows(2).all(|w| w[0] < w[1]), "ids ascend in input order");
    for i in [0, 1, 499, 500, 501, 999, 1_000, 1_199] {
        let row = store.get_account(account_ids[i]).await.unwrap();
        assert_eq!(row.name, format!("株式会社バルク{i:04}"), "account {i}");
        assert_eq!(row.corporate_number, accounts[i].corporate_number.as_ref().map(|c| c.as_str().to_owned()));
        assert_eq!(row.owner_id, accounts[i].owner_id);
        assert_eq!((row.created_at, row.updated_at), (at(1), at(1)));
    }

    let required = RequiredFieldSet::default();
    let leads: Vec<(LeadData, bool)> = (0..N)
        .map(|i| {
            let complete = i % 3 == 0;
            let data = lead_data(LeadInput {
                family_name: s(SURNAMES[i % 10]),
                given_name: s("太郎"),
                email: Some(format!("bulk{i:04}@example.jp")),
                account_id: Some(account_ids[i]),
                phone: complete.then(|| format!("03-0000-{i:04}")),
                department: complete.then(|| "営業部".to_owned()),
                title: complete.then(|| "部長".to_owned()),
                prefecture: complete.then(|| "東京都".to_owned()),
                owner_id: (i % 5 == 0).then_some(owner.id),
                product_ids: Some(if i % 2 == 0 { vec![p1] } else { vec![p1, p2] }),
                ..LeadInput::default()
            });
            let is_lead = required.is_lead(&data);
            assert_eq!(is_lead, complete);
            (data, is_lead)
        })
        .collect();
    assert_eq!(store.bulk_insert_leads(&leads, at(2)).await.unwrap(), N as u64);
    store.analyze().await.unwrap();

    let overview = store.overview().await.unwrap();
    assert_eq!(
        (overview.accounts, overview.leads, overview.lead_records, overview.list_records),
        (1_200, 1_200, 400, 800)
    );
    assert_eq!((overview.products, overview.users), (2, 1));

    let count = |query: LeadQuery| async move {
        store.list_leads(&LeadQuery { limit: 1, count: true, ..query }).await.unwrap().total
    };
    // More than COUNT_CAP matches: the count stops there and says so.
    let capped = Some(hatake_store::Total { value: hatake_store::COUNT_CAP, capped: true });
    assert_eq!(count(LeadQuery::default()).await, capped);
    assert_eq!(count(LeadQuery { kind: LeadKind::Lead, ..Default::default() }).await, exact(400));
    assert_eq!(count(LeadQuery { product_id: Some(p1), ..Default::default() }).await, capped);
    assert_eq!(count(LeadQuery { owner_id: Some(owner.id), ..Default::default() }).await, exact(240));
    assert_eq!(count(LeadQuery { prefecture: s("東京都"), ..Default::default() }).await, exact(400));
    assert_eq!(count(LeadQuery { account_id: Some(account_ids[777]), ..Default::default() }).await, exact(1));
    assert_eq!(count(LeadQuery { search: SearchQuery::parse("田中"), ..Default::default() }).await, exact(120));
    assert_eq!(count(LeadQuery { search: SearchQuery::parse("bulk07"), ..Default::default() }).await, exact(100));

    // Product links went to the right leads across chunks.
    let with_p2 = all_leads(store, LeadQuery { product_id: Some(p2), ..LeadQuery::default() }, 200).await;
    let emails: BTreeSet<String> = with_p2.iter().filter_map(|r| r.email.clone()).collect();
    let expected: BTreeSet<String> = (0..N).filter(|i| i % 2 == 1).map(|i| format!("bulk{i:04}@example.jp")).collect();
    assert_eq!(emails, expected);
    assert!(with_p2.iter().all(|r| r.product_ids == sorted(&[p1, p2])));

    // One lead, found by its e-mail, by its account's name, and by its phone.
    let one = search_leads(store, "bulk0777").await;
    assert_eq!(one.len(), 1);
    let lead = store.get_lead(*one.iter().next().unwrap()).await.unwrap();
    assert_eq!(lead.email.as_deref(), Some("bulk0777@example.jp"));
    assert_eq!(lead.account_id, Some(account_ids[777]));
    assert_eq!(lead.account_name.as_deref(), Some("株式会社バルク0777"));
    assert_eq!(lead.product_ids, sorted(&[p1, p2]));
    assert_eq!(lead.family_name.as_deref(), Some(SURNAMES[7]));
    assert!(lead.is_lead, "777 is a multiple of 3");
    assert_eq!(search_leads(store, "バルク0777").await, one, "bulk leads are found by their account's name");
    let l999 = search_leads(store, "03-0000-0999").await;
    assert_eq!(l999.len(), 1);
    assert_eq!(
        store.get_lead(*l999.iter().next().unwrap()).await.unwrap().email.as_deref(),
        Some("bulk0999@example.jp")
    );

    // Every lead exactly once through the pages, all sharing one created time.
    let by_created = all_leads(store, LeadQuery { sort: LeadSort::Created, ..LeadQuery::default() }, 200).await;
    let created_ids: Vec<i64> = ids(&by_created, |r| r.id);
    assert_eq!(created_ids.len(), N);
    assert!(created_ids.windows(2).all(|w| w[0] > w[1]), "equal times are ordered by id, descending");
    check_lead_pages(store, &LeadQuery { sort: LeadSort::Created, ..LeadQuery::default() }, &created_ids, 200).await;
    let mut by_name_expected: Vec<(String, i64)> = by_created.iter().map(|r| (r.full_name(), r.id)).collect();
    by_name_expected.sort();
    let by_name_expected: Vec<i64> = by_name_expected.into_iter().map(|(_, id)| id).collect();
    check_lead_pages(store, &LeadQuery { sort: LeadSort::Name, ..LeadQuery::default() }, &by_name_expected, 150).await;
    let tanaka = LeadQuery { search: SearchQuery::parse("田中"), sort: LeadSort::Name, ..LeadQuery::default() };
    let tanaka_ids: Vec<i64> = by_name_expected
        .iter()
        .copied()
        .filter(|id| by_created.iter().any(|r| r.id == *id && r.family_name.as_deref() == Some("田中")))
        .collect();
    assert_eq!(tanaka_ids.len(), 120);
    check_lead_pages(store, &tanaka, &tanaka_ids, 50).await;

    // Accounts: counts, search, and pages through a search.
    let all = store.list_accounts(&AccountQuery { limit: 1, count: true, ..AccountQuery::default() }).await.unwrap();
    assert_eq!(all.total, Some(hatake_store::Total { value: hatake_store::COUNT_CAP, capped: true }));
    let osaka = AccountQuery { prefecture: s("大阪府"), limit: 1, count: true, ..AccountQuery::default() };
    assert_eq!(store.list_accounts(&osaka).await.unwrap().total, exact(600));
    let (found, total) = account_search(store, "バルク0777").await;
    assert_eq!((found, total), (vec![account_ids[777]], exact(1)));
    let number = accounts[1_100].corporate_number.as_ref().unwrap().as_str().to_owned();
    assert_eq!(account_search(store, &number).await, (vec![account_ids[1_100]], exact(1)));
    let seven_hundreds = AccountQuery { search: s("バルク07"), ..AccountQuery::default() };
    check_account_pages(store, &seven_hundreds, &account_ids[700..800], 30).await;
    check_account_pages(store, &AccountQuery::default(), &account_ids, 200).await;
    assert_eq!(store.get_account(account_ids[777]).await.unwrap().lead_count, 1);

    // A second load continues after the first.
    let more = vec![named("株式会社追加")];
    let more_ids = store.bulk_insert_accounts(&more, at(3)).await.unwrap();
    assert_eq!(more_ids.len(), 1);
    assert!(more_ids[0] > account_ids[N - 1]);
    let dup = vec![named("重複A"), accounts[5].clone()];
    expect_conflict(store.bulk_insert_accounts(&dup, at(4)).await, "corporate_number");
    assert_eq!(store.overview().await.unwrap().accounts, 1_201, "a failed load stores nothing");
}

// ---------------------------------------------------------------------------------------
// 7. Migrations

async fn scenario_migrations(backend: &Backend) {
    let expected = vec![
        (1, "init".to_owned()),
        (2, "resolution".to_owned()),
        (3, "key_hashes".to_owned()),
        (4, "events".to_owned()),
        (5, "visitor_leads".to_owned()),
        (6, "tracked_links".to_owned()),
        (7, "merge_moves_events".to_owned()),
        (8, "forms".to_owned()),
        (9, "booking".to_owned()),
        (10, "events_speed".to_owned()),
        (11, "import_events".to_owned()),
        (12, "scoring".to_owned()),
        (13, "lifecycle".to_owned()),
        (14, "score_states".to_owned()),
        (15, "score_due".to_owned()),
        (16, "states_at".to_owned()),
        (17, "import_settled".to_owned()),
        (18, "score_floor".to_owned()),
        (19, "queue_sla".to_owned()),
        (20, "outbox".to_owned()),
        (21, "subscriptions".to_owned()),
        (22, "import_subscribe".to_owned()),
        (23, "mail_templates".to_owned()),
        (24, "segments".to_owned()),
        (25, "newsletters".to_owned()),
        (26, "outbox_message_id".to_owned()),
        (27, "events_kind_time".to_owned()),
        (28, "segment_changes".to_owned()),
        (29, "drop_events_kind_time".to_owned()),
        (30, "lead_activity".to_owned()),
        (31, "outbox_payloads".to_owned()),
        (32, "mail_domain_quota".to_owned()),
        (33, "tasks_and_calls".to_owned()),
        (34, "hearing_log".to_owned()),
        (35, "routing".to_owned()),
        (36, "alerts".to_owned()),
    ];
    let first = backend.open().await.unwrap();
    new_user(&*first, "first@example.jp", "最初", "admin", at(0)).await;
    drop(first);

    // Open again, twice at once: nothing is re-applied and the data is there.
    let (a, b) = tokio::join!(backend.open(), backend.open());
    let (a, b) = (a.unwrap(), b.unwrap());
    for store in [&a, &b] {
        assert_eq!(store.find_user_by_email("first@example.jp").await.unwrap().map(|u| u.display_name), s("最初"));
        assert_eq!(store.overview().await.unwrap().users, 1);
    }
    drop((a, b));
    assert_eq!(backend.applied_migrations().await, expected);
    assert_eq!(backend.applied_migrations().await, expected);

    // Two servers starting together on an empty database apply each migration once.
    let fresh = backend.sibling();
    let (a, b) = tokio::join!(fresh.open(), fresh.open());
    let (a, b) = (a.expect("first concurrent open"), b.expect("second concurrent open"));
    new_user(&*a, "a@example.jp", "A", "admin", at(0)).await;
    assert_eq!(b.overview().await.unwrap().users, 1);
    drop((a, b));
    assert_eq!(fresh.applied_migrations().await, expected);
}
