//! The company master on both backends: the corporate-number bulk file (UTF-8 and Shift_JIS),
//! a simple company CSV, re-import, and linking leads to companies with the review split.

#[macro_use]
mod support;

use hatake_domain::department::DepartmentDictionary;
use hatake_domain::RequiredFieldSet;
use hatake_engine::companies::{import_companies, link_all};
use hatake_engine::import::{prepare, run, ImportOptions, RowContext};
use hatake_store::{AccountQuery, LeadQuery, Store};
use support::now;

const BULK: &str = include_str!("../../hatake-csv/tests/fixtures/corporate_sample_utf8.csv");

/// A company list as a sales team keeps it: a header, a broken corporate number, a company
/// named like one in the bulk file but in another prefecture.
const SIMPLE: &str = "\
会社名,法人番号,ドメイン,業種,従業員数,都道府県,住所
株式会社はたけ商事,,hatake-osaka.co.jp,卸売,120,大阪府,大阪市北区梅田1-1
株式会社ひまわり商事,,himawari.co.jp,商社,\"1,200\",東京都,千代田区
壊れた番号株式会社,1234567890123,,,,東京都,
";

async fn accounts(store: &dyn Store) -> i64 {
    store.overview().await.expect("overview").accounts
}

async fn import_leads(store: &dyn Store, text: &str) {
    let prepared = prepare(text.as_bytes(), None, None).expect("prepare");
    let options = ImportOptions {
        file_name: "leads.csv".into(),
        required: RequiredFieldSet::default(),
        departments: DepartmentDictionary::default(),
        ..ImportOptions::default()
    };
    run(store, &prepared, &RowContext::default(), &options, now, |_| {}).await.expect("lead import");
}

async fn company_master(store: &dyn Store) {
    // The bulk file in Shift_JIS: 9 rows, one an old history row and two closed companies.
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(BULK);
    let first = import_companies(store, &sjis, None, "00_zenkoku_all.csv", None, now).await.expect("bulk import");
    assert_eq!(first.encoding, "shift_jis");
    assert_eq!(
        (first.total_rows, first.created_rows, first.unchanged_rows, first.rejected_rows),
        (9, 6, 3, 0),
        "{first:?}"
    );
    assert_eq!(accounts(store).await, 6);
    let found = store
        .list_accounts(&AccountQuery { search: Some("7999901000001".into()), limit: 10, ..AccountQuery::default() })
        .await
        .expect("accounts");
    assert_eq!(found.items.len(), 1, "accounts carry the corporate number");
    assert_eq!(found.items[0].name, "株式会社はたけ商事");
    assert_eq!(found.items[0].prefecture.as_deref(), Some("東京都"));

    // The same data again (now UTF-8) changes nothing.
    let again = import_companies(store, BULK.as_bytes(), None, "00_zenkoku_all.csv", None, now).await.expect("again");
    assert_eq!((again.created_rows, again.merged_rows, again.unchanged_rows), (0, 0, 9), "{again:?}");

    // A simple CSV: はたけ商事 in 大阪 is another company of the same name; the broken
    // corporate number is rejected with its line.
    let simple = import_companies(store, SIMPLE.as_bytes(), None, "companies.csv", None, now).await.expect("simple");
    assert_eq!((simple.created_rows, simple.rejected_rows), (2, 1), "{simple:?}");
    let rejects = store.import_rejects(simple.id).await.expect("rejects");
    assert_eq!(rejects[0].line, 4);
    assert_eq!(rejects[0].problem_list()[0].field, "corporate_number");
    assert_eq!(accounts(store).await, 8);

    // Leads: a unique name is linked; はたけ商事 in 東京都 is the Tokyo one; はたけ商事 without a
    // prefecture or domain is a question; the Osaka domain decides for the Osaka one.
    import_leads(
        store,
        "会社名,氏名,メールアドレス,都道府県\n\
         (株)ひまわり商事,佐藤 太郎,taro@himawari.co.jp,東京都\n\
         はたけ商事㈱,鈴木 花子,hanako@example-a.jp,東京都\n\
         株式会社はたけ商事,田中 一郎,ichiro@example-b.jp,\n\
         株式会社はたけ商事,山本 次郎,jiro@hatake-osaka.co.jp,\n\
         だいち建設,高橋 三郎,saburo@daichi.jp,東京都\n",
    )
    .await;
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("leads").items;
    let account_of = |email: &str| {
        leads.iter().find(|l| l.email.as_deref() == Some(email)).and_then(|l| l.account_name.clone().zip(l.account_id))
    };
    assert_eq!(account_of("taro@himawari.co.jp").map(|a| a.0), Some("株式会社ひまわり商事".to_owned()));
    let tokyo = account_of("hanako@example-a.jp").expect("linked by name and prefecture");
    let osaka = account_of("jiro@hatake-osaka.co.jp").expect("linked by domain");
    assert_ne!(tokyo.1, osaka.1, "two companies of one name stay apart");
    assert_eq!(account_of("ichiro@example-b.jp"), None, "ambiguous: not linked");
    assert_eq!(account_of("saburo@daichi.jp"), None, "no such company");
    let reviews = store.list_reviews("open", 0, 50).await.expect("reviews");
    let account_reviews: Vec<_> = reviews.iter().filter(|r| r.kind == "account").collect();
    assert_eq!(account_reviews.len(), 2, "one question with both candidates: {reviews:?}");

    // Linking everything again links nothing new and asks the open question only once.
    let links = link_all(store, now()).await.expect("link all");
    assert_eq!((links.linked, links.review, links.unmatched), (0, 1, 1));
    assert_eq!(store.list_reviews("open", 0, 50).await.expect("reviews").len(), reviews.len());
}

both!(company_master, sqlite_company_master, postgres_company_master);
