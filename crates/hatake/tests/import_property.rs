//! One row never fails a whole import, whatever the file holds and wherever its batches split.
//!
//! Property tests on both backends: generated business-card files (repeats written
//! differently, homonyms, siblings at one company, shared role addresses, case-changed and
//! free-mail addresses, names without a space) are imported in CP932 with small batches, so
//! that every kind of repeat falls on both sides of a batch boundary somewhere. Every row must
//! get exactly one outcome — created, merged, unchanged, in review, or rejected with its line
//! and reason — and the import must end `done`. Importing the same file again takes nothing
//! new. The same records sent one by one to `POST /api/v1/leads/resolve`, several at a time,
//! are each answered with an outcome, never an error.

mod support;

use hatake::demo_data::cards::{generate_cards, CardOptions, CardSet};
use hatake_engine::import::{prepare, run, ImportOptions, RowContext};
use hatake_store::Store;
use proptest::prelude::*;
use support::Backend;

fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable, "the generated file is CP932-clean");
    bytes.into_owned()
}

static CLOCK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_790_000_000_000);
fn now() -> i64 {
    CLOCK.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

/// Imports the set with batches of `batch` rows and checks that every row has one outcome.
async fn import_accounts_for_every_row(store: &dyn Store, set: &CardSet, batch: usize) {
    let bytes = cp932(&set.csv());
    let prepared = prepare(&bytes, None, None).expect("prepare");
    let context = RowContext { source: Some("展示会2026".into()), ..RowContext::default() };
    let options = ImportOptions { file_name: "cards.csv".into(), batch_size: Some(batch), ..ImportOptions::default() };
    let done = run(store, &prepared, &context, &options, now, |_| {}).await.expect("the import runs to its end");
    assert_eq!(done.status, "done", "error: {:?}", done.error);
    let rows = i64::try_from(set.rows.len()).expect("rows");
    assert_eq!(done.total_rows, rows);
    assert_eq!(
        done.created_rows + done.merged_rows + done.unchanged_rows + done.review_rows + done.rejected_rows,
        rows,
        "the counts add up: {done:?}"
    );
    let mut seen = vec![0u32; set.rows.len()];
    let taken = store.import_lines(done.id).await.expect("lines");
    let rejected = store.import_rejects(done.id).await.expect("rejects");
    for line in taken.iter().map(|(line, _, _)| *line).chain(rejected.iter().map(|r| r.line)) {
        let index = usize::try_from(line - 2).expect("a data line");
        seen[index] += 1;
    }
    let missing: Vec<usize> = seen.iter().enumerate().filter(|(_, n)| **n != 1).map(|(i, _)| i + 2).collect();
    assert!(missing.is_empty(), "lines without exactly one outcome: {missing:?}");
    for reject in &rejected {
        assert!(reject.problems.contains("message_ja"), "a rejected row says why: {reject:?}");
    }

    // The same file again changes nothing and aborts nowhere.
    let again = run(store, &prepared, &context, &options, now, |_| {}).await.expect("the second import runs");
    assert_eq!(again.status, "done", "error: {:?}", again.error);
    let changed: Vec<String> = store
        .import_lines(again.id)
        .await
        .expect("lines")
        .into_iter()
        .filter(|(_, _, outcome)| outcome != "unchanged")
        .map(|(line, lead, outcome)| {
            format!("line {line} {outcome} lead {lead}: {:?}", set.rows[usize::try_from(line - 2).unwrap_or(0)].fields)
        })
        .collect();
    if !changed.is_empty() {
        let first: Vec<String> = taken.iter().map(|(line, lead, outcome)| format!("{line}:{outcome}:{lead}")).collect();
        let leads = store.leads_by_ids(&taken.iter().map(|t| t.1).collect::<Vec<_>>()).await.expect("leads");
        for lead in leads {
            eprintln!(
                "lead {} {:?} {:?} {:?} {:?} {:?} {:?}",
                lead.id,
                lead.company_name,
                lead.family_name,
                lead.given_name,
                lead.email,
                lead.phone,
                lead.family_name_kana
            );
        }
        eprintln!("first import: {}", first.join(" "));
    }
    assert!(changed.is_empty(), "nothing new the second time: {changed:#?}");
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn check_import(backend: Backend, seed: u64, people: usize, repeats: f64, batch: usize) {
    block_on(async move {
        let (store, _dir) = support::open(backend).await;
        let set = generate_cards(CardOptions { seed, people, repeats });
        import_accounts_for_every_row(store.as_ref(), &set, batch).await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_every_row_gets_one_outcome(seed in any::<u64>(), people in 8usize..80, repeats in 0.3f64..2.5, batch in 1usize..8) {
        check_import(Backend::Sqlite, seed, people, repeats, batch);
    }

    #[test]
    fn postgres_every_row_gets_one_outcome(seed in any::<u64>(), people in 8usize..60, repeats in 0.3f64..2.5, batch in 1usize..8) {
        check_import(Backend::Postgres, seed, people, repeats, batch);
    }
}

/// A file large enough for the default batch sizes (two batches of 5,000 and the rest), as in
/// the report that an import aborted after its first batch.
fn default_batches(backend: Backend) {
    block_on(async move {
        let (store, _dir) = support::open(backend).await;
        let set = generate_cards(CardOptions { seed: 15, people: 5_200, repeats: 0.55 });
        assert!(set.rows.len() > 7_500, "{} rows", set.rows.len());
        let batch = hatake_engine::import::batch_size_for(set.rows.len());
        import_accounts_for_every_row(store.as_ref(), &set, batch).await;
    });
}

#[test]
fn sqlite_a_card_file_of_eight_thousand_rows_imports_whole() {
    default_batches(Backend::Sqlite);
}

#[test]
fn postgres_a_card_file_of_eight_thousand_rows_imports_whole() {
    default_batches(Backend::Postgres);
}

/// A card row as a body for `POST /api/v1/leads/resolve`: the whole name as the family name
/// when it has no space (as another system would send it), the reading split at its space.
fn resolve_body(fields: &[String; 10]) -> serde_json::Value {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.to_owned());
    let (family, given) = match fields[3].split_once(' ') {
        Some((f, g)) => (some(f), some(g)),
        None => (some(&fields[3]), None),
    };
    let (family_kana, given_kana) = match fields[4].split_once(' ') {
        Some((f, g)) => (some(f), some(g)),
        None => (some(&fields[4]), None),
    };
    serde_json::json!({
        "company_name": some(&fields[0]), "department": some(&fields[1]), "title": some(&fields[2]),
        "family_name": family, "given_name": given, "family_name_kana": family_kana, "given_name_kana": given_kana,
        "email": some(&fields[5]), "phone": some(&fields[6]).or_else(|| some(&fields[7])),
        "prefecture": some(&fields[8]), "address": some(&fields[9]), "source": "名刺アプリ"
    })
}

/// Sends every row of a generated set to `POST /api/v1/leads/resolve`, four at a time: each is
/// answered with an outcome (never a conflict or a server error), and the same rows sent
/// again are all `unchanged`.
fn check_resolve(backend: Backend, seed: u64, people: usize) {
    block_on(async move {
        let app = support::spawn_app(backend).await;
        let set = generate_cards(CardOptions { seed, people, repeats: 1.5 });
        for round in ["first", "again"] {
            let mut outcomes: Vec<String> = Vec::new();
            for chunk in set.rows.chunks(4) {
                let mut requests = tokio::task::JoinSet::new();
                for row in chunk {
                    let request = app
                        .api(reqwest::Method::POST, "/api/v1/leads/resolve", &app.admin_token)
                        .json(&resolve_body(&row.fields));
                    requests.spawn(async move {
                        let response = request.send().await.expect("answered");
                        let status = response.status().as_u16();
                        let body: serde_json::Value = response.json().await.expect("JSON");
                        (status, body)
                    });
                }
                while let Some(answer) = requests.join_next().await {
                    let (status, body) = answer.expect("request task");
                    assert!(matches!(status, 200 | 201), "{round}: {status} {body}");
                    outcomes.push(body["outcome"].as_str().unwrap_or_default().to_owned());
                }
            }
            assert_eq!(outcomes.len(), set.rows.len());
            for outcome in &outcomes {
                assert!(["created", "merged", "unchanged", "review"].contains(&outcome.as_str()), "{outcome}");
            }
            if round == "again" {
                assert!(outcomes.iter().all(|o| o == "unchanged"), "{outcomes:?}");
            }
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_every_resolved_record_gets_an_outcome(seed in any::<u64>(), people in 8usize..30) {
        check_resolve(Backend::Sqlite, seed, people);
    }

    #[test]
    fn postgres_every_resolved_record_gets_an_outcome(seed in any::<u64>(), people in 8usize..30) {
        check_resolve(Backend::Postgres, seed, people);
    }
}
