//! Lead imports end to end on both backends: encodings, header guessing, every row accounted
//! for, name-matching within a file and against stored leads, the review queue, idempotent
//! re-import, undo of imports and merges.

#[macro_use]
mod support;

use hatake_csv::TextEncoding;
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::RequiredFieldSet;
use hatake_engine::import::{prepare, run, ImportOptions, RowContext};
use hatake_store::{ImportRow, LeadQuery, Store, StoreError};
use support::now;

/// An exhibition list as Excel in Japan saves it: Shift_JIS, Japanese headers, messy values.
const EXHIBITION: &str = "\
会社名,部署名,役職,氏名,フリガナ,メールアドレス,電話番号,住所
株式会社ひまわり商事,情報システム部,課長,佐藤 太郎,サトウ タロウ,taro.sato@himawari.co.jp,03-1234-5678,〒100-0001 東京都千代田区千代田1-1
(株)ひまわり商事,情シス,課長,佐藤 太郎,さとう たろう,TARO.SATO@HIMAWARI.CO.JP,０３（１２３４）５６７８,東京都千代田区千代田1-1
ひまわり商事㈱,DX推進室,部長,鈴木 花子,スズキ ハナコ,hanako@himawari.co.jp,03-1234-5678,東京都千代田区千代田1-1
あおぞら工業株式会社,営業部,,田中 一郎,タナカ イチロウ,not-an-address,06-1111-2222,大阪府大阪市北区1-2
あおぞら工業株式会社,営業部,主任,山本 次郎,ヤマモト ジロウ,jiro@aozora.co.jp
,,,,,,,
名無し株式会社,総務部,,,,,,東京都港区
";

async fn import(store: &dyn Store, bytes: &[u8], name: &str, source: &str) -> ImportRow {
    let prepared = prepare(bytes, None, None).expect("prepare");
    let context = RowContext { source: Some(source.to_owned()), ..RowContext::default() };
    let options = ImportOptions {
        file_name: name.to_owned(),
        required: RequiredFieldSet::default(),
        departments: DepartmentDictionary::default(),
        ..ImportOptions::default()
    };
    run(store, &prepared, &context, &options, now, |_| {}).await.expect("import runs")
}

async fn lead_count(store: &dyn Store) -> i64 {
    store.overview().await.expect("overview").lead_records + store.overview().await.expect("overview").list_records
}

fn shift_jis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable, "the fixture is CP932-clean");
    bytes.into_owned()
}

async fn exhibition_import(store: &dyn Store) {
    let bytes = shift_jis(EXHIBITION);
    let prepared = prepare(&bytes, None, None).expect("prepare");
    assert_eq!(prepared.encoding, TextEncoding::ShiftJis, "Shift_JIS is detected without asking");
    assert_eq!(prepared.malformed, 0);

    let first = import(store, &bytes, "exhibition.csv", "展示会2026").await;
    assert_eq!(first.status, "done");
    assert_eq!(first.header_list()[0], "会社名", "the header row is kept for the rejected-rows file");
    // Six data rows (the blank one is skipped): 佐藤 and 鈴木 created; the second 佐藤 is the
    // same person written worse ((株), 情シス, the reading in hiragana), so it changes nothing
    // (the better values stay); rejected: the bad e-mail (line 5), the short row (line 6, 6 of
    // 8 columns) and the row with neither name, e-mail nor phone (line 8).
    assert_eq!(
        (first.total_rows, first.created_rows, first.merged_rows, first.unchanged_rows, first.rejected_rows),
        (6, 2, 0, 1, 3),
        "{first:?}"
    );
    assert_eq!(
        first.total_rows,
        first.created_rows + first.merged_rows + first.unchanged_rows + first.review_rows + first.rejected_rows
    );
    assert_eq!(lead_count(store).await, 2);

    // Rejected rows keep their line and a reason in both languages.
    let rejects = store.import_rejects(first.id).await.expect("rejects");
    let lines: Vec<i64> = rejects.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![5, 6, 8], "{rejects:?}");
    let reasons: Vec<serde_json::Value> =
        rejects.iter().map(|r| serde_json::from_str(&r.problems).expect("problems JSON")).collect();
    assert_eq!(reasons[0][0]["field"], "email", "{reasons:?}");
    assert_eq!(reasons[1][0]["code"], "wrong_column_count", "{reasons:?}");
    assert!(reasons[2][0]["message_ja"].as_str().is_some_and(|m| !m.is_empty()));

    // The merged person: one lead with the newer title-less values kept, the department class set.
    let page = store
        .list_leads(&LeadQuery {
            search: hatake_domain::text::SearchQuery::parse("佐藤"),
            limit: 50,
            ..LeadQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    let sato = &page.items[0];
    assert_eq!(sato.email.as_deref(), Some("taro.sato@himawari.co.jp"));
    assert_eq!(sato.prefecture.as_deref(), Some("東京都"));
    assert_eq!(sato.department_class.as_deref(), Some("it"));
    assert_eq!(sato.family_name_kana.as_deref(), Some("サトウ"));
    assert_eq!(sato.company_name.as_deref(), Some("株式会社ひまわり商事"), "not (株)");
    assert_eq!(sato.department.as_deref(), Some("情報システム部"), "not 情シス");
    let sources = store.lead_sources(sato.id).await.expect("sources");
    assert_eq!(sources.len(), 2, "both rows are kept as sources of the one person");
    assert!(sources.iter().all(|s| s.source.as_deref() == Some("展示会2026")));

    // The same file again changes nothing.
    let again = import(store, &bytes, "exhibition.csv", "展示会2026").await;
    assert_eq!(
        (again.created_rows, again.merged_rows, again.unchanged_rows, again.rejected_rows),
        (0, 0, 3, 3),
        "{again:?}"
    );
    assert_eq!(lead_count(store).await, 2);
    assert_eq!(store.imports_of_file(&first.file_sha256).await.expect("history").len(), 2);

    // A card scan without e-mail: 佐藤 with a typo is a review question, not a silent merge.
    let cards = "会社名,氏名,電話番号,都道府県\nひまわり商事,佐藤 太朗,090-9999-0000,東京都\n";
    let scan = import(store, cards.as_bytes(), "cards.csv", "名刺").await;
    assert_eq!((scan.created_rows, scan.review_rows), (0, 1), "{scan:?}");
    let reviews = store.list_reviews("open", 0, 50).await.expect("reviews");
    assert_eq!(reviews.len(), 1);
    // Each import's leads can be listed: the card import touched one, the exhibition two.
    let of_import = |id: i64| LeadQuery { import_id: Some(id), limit: 50, ..LeadQuery::default() };
    let card_leads = store.list_leads(&of_import(scan.id)).await.expect("list").items;
    assert_eq!(card_leads.iter().map(|l| l.id).collect::<Vec<_>>(), vec![reviews[0].lead_id]);
    assert_eq!(store.list_leads(&of_import(first.id)).await.expect("list").items.len(), 2);
    assert_eq!(reviews[0].candidate_id, sato.id);
    assert_eq!(lead_count(store).await, 3);

    // Confirming merges; the merge can be undone.
    let review = &reviews[0];
    let survivor = store.get_lead(review.candidate_id).await.expect("survivor");
    let merged = store.get_lead(review.lead_id).await.expect("merged");
    let survivor_data = hatake_store::LeadSnapshot::of(&survivor).data().expect("data");
    let merged_data = hatake_store::LeadSnapshot::of(&merged).data().expect("data");
    let combined = hatake_domain::matching::merge::combine(&survivor_data, &merged_data);
    let request = hatake_store::MergeRequest {
        survivor: survivor.id,
        merged: merged.id,
        data: &combined,
        is_lead: true,
        review_id: Some(review.id),
        by: None,
    };
    let merge = store.merge_leads(&request, now()).await.expect("merge");
    assert_eq!(lead_count(store).await, 2);
    // Two rows of each exhibition import (the second confirmed nothing new) and the moved card.
    assert_eq!(store.lead_sources(survivor.id).await.expect("sources").len(), 5, "the merged lead's source moved");
    assert_eq!(store.get_review(review.id).await.expect("review").status, "merged");
    // A decided question cannot be decided again (two people at once: the second is told).
    assert!(matches!(store.decide_review(review.id, "distinct", None, now()).await, Err(StoreError::Conflict { .. })));
    assert!(matches!(
        store.merge_leads(&request, now()).await,
        Err(StoreError::Conflict { .. } | StoreError::NotFound)
    ));
    store.undo_merge(merge.id, None, now()).await.expect("undo merge");
    assert_eq!(lead_count(store).await, 3);
    let back = store.get_lead(merged.id).await.expect("the merged lead is back under its id");
    assert_eq!(back.phone, merged.phone);
    assert_eq!(store.get_lead(survivor.id).await.expect("survivor").phone, survivor.phone);
    assert_eq!(store.get_review(review.id).await.expect("review").status, "open");
    assert!(matches!(store.undo_merge(merge.id, None, now()).await, Err(StoreError::Conflict { .. })));

    // Undo the card import: its lead and its open review go.
    let report = store.undo_import(scan.id, None, now()).await.expect("undo");
    assert_eq!((report.deleted, report.restored, report.kept.len()), (1, 0, 0));
    assert_eq!(lead_count(store).await, 2);
    assert!(store.list_reviews("open", 0, 50).await.expect("reviews").is_empty());
    assert!(matches!(store.undo_import(scan.id, None, now()).await, Err(StoreError::Conflict { .. })), "undo twice");

    // A lead changed by a person after the import is kept by the undo; the rest goes.
    let hanako = store
        .list_leads(&LeadQuery {
            search: hatake_domain::text::SearchQuery::parse("鈴木"),
            limit: 50,
            ..LeadQuery::default()
        })
        .await
        .expect("list")
        .items
        .remove(0);
    let mut data = hatake_store::LeadSnapshot::of(&hanako).data().expect("data");
    data.title = Some("本部長".to_owned());
    store.update_lead(hanako.id, &data, true, now()).await.expect("edit");
    store.undo_import(again.id, None, now()).await.expect("undo the re-import");
    let report = store.undo_import(first.id, None, now()).await.expect("undo the first import");
    assert_eq!((report.deleted, report.kept.clone()), (1, vec![hanako.id]), "{report:?}");
    assert_eq!(lead_count(store).await, 1);
}

both!(exhibition_import, sqlite_exhibition_import, postgres_exhibition_import);

/// An import that failed half-way keeps the batches it wrote; they can be undone like a
/// finished import's, and a running import cannot be undone.
async fn failed_import_undo(store: &dyn Store) {
    let file = "会社名,氏名,メールアドレス\nひまわり商事,佐藤 太郎,taro@himawari.co.jp\nあおぞら工業,田中 一郎,ichiro@aozora.co.jp\n";
    let prepared = prepare(file.as_bytes(), None, None).expect("prepare");
    let options = ImportOptions { file_name: "half.csv".into(), ..ImportOptions::default() };
    let context = RowContext::default();
    let started = hatake_engine::import::start(store, &prepared, &context, &options, now()).await.expect("start");
    assert!(matches!(store.undo_import(started.id, None, now()).await, Err(StoreError::Conflict { .. })), "running");
    let done = hatake_engine::import::finish(store, started.id, &prepared, &context, &options, now, |_| {})
        .await
        .expect("finish");
    assert_eq!(done.created_rows, 2);
    // As if the process had failed after writing: the import is marked failed.
    let counts = hatake_store::ImportCounts { total: 2, created: 2, ..Default::default() };
    store.finish_import(done.id, &counts, "failed", Some("disk full"), now()).await.expect("mark failed");
    let report = store.undo_import(done.id, None, now()).await.expect("undo a failed import");
    assert_eq!(report.deleted, 2);
    assert_eq!(lead_count(store).await, 0);

    // An import whose process stopped stays running until found stalled; one that made
    // progress recently is left alone.
    let stopped = hatake_engine::import::start(store, &prepared, &context, &options, now()).await.expect("start");
    let cutoff = now();
    let alive = hatake_engine::import::start(store, &prepared, &context, &options, now()).await.expect("start");
    assert_eq!(store.fail_stalled_imports(cutoff, now()).await.expect("sweep"), 1);
    let stopped = store.get_import(stopped.id).await.expect("import");
    assert_eq!(stopped.status, "failed");
    assert!(stopped.error.as_deref().is_some_and(|e| e.contains("stopped")));
    assert_eq!(store.get_import(alive.id).await.expect("import").status, "running");
}

both!(failed_import_undo, sqlite_failed_import_undo, postgres_failed_import_undo);

/// A file of repeats spread over many small batches gives what one batch gives: a batch is
/// matched while the one before is still being written, so records merge into leads whose
/// ids the store has not given yet (the resolver's provisional ids) and into leads a batch in
/// flight has just changed. Undo then removes and restores exactly that.
async fn batches_in_flight(store: &dyn Store) {
    let stored = "会社名,氏名,メールアドレス,電話番号,役職\n\
                  あおぞら工業株式会社,田中 一郎,ichiro@aozora.co.jp,06-1111-2222,主任\n";
    import(store, stored.as_bytes(), "before.csv", "名刺").await;
    let before = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    let file = "\
会社名,氏名,メールアドレス,電話番号,役職
株式会社ひまわり商事,佐藤 太郎,taro.sato@himawari.co.jp,03-1234-5678,
ひまわり商事,鈴木 花子,hanako@himawari.co.jp,03-1234-5679,
(株)ひまわり商事,佐藤 太郎,TARO.SATO@HIMAWARI.CO.JP,,課長
あおぞら工業,田中 一郎,ichiro@aozora.co.jp,,係長
ひまわり商事㈱,佐藤 太郎,taro.sato@himawari.co.jp,03-1234-5678,部長
あおぞら工業株式会社,田中 一郎,ichiro@aozora.co.jp,06-1111-2222,課長
ひまわり商事,鈴木 花子,hanako@himawari.co.jp,03-1234-5679,
株式会社ひまわり商事,佐藤 太郎,taro.sato@himawari.co.jp,03-1234-5678,
";
    let prepared = prepare(file.as_bytes(), None, None).expect("prepare");
    let context = RowContext { source: Some("展示会".to_owned()), ..RowContext::default() };
    let options = |batch_size| ImportOptions { file_name: "spread.csv".into(), batch_size, ..ImportOptions::default() };
    let spread = run(store, &prepared, &context, &options(Some(2)), now, |_| {}).await.expect("import");
    assert_eq!(spread.status, "done");
    assert_eq!(
        (spread.total_rows, spread.created_rows, spread.merged_rows, spread.unchanged_rows, spread.review_rows),
        (8, 2, 4, 2, 0),
        "佐藤 and 鈴木 created in batch 1; merged into in batches 2 and 3 while batch 1 or 2 was written"
    );
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    assert_eq!(leads.len(), 3, "one lead per person: {leads:?}");
    let title =
        |family: &str| leads.iter().find(|l| l.family_name.as_deref() == Some(family)).and_then(|l| l.title.clone());
    assert_eq!(title("佐藤").as_deref(), Some("部長"), "the newest title, through two merges in different batches");
    assert_eq!(title("田中").as_deref(), Some("課長"), "a stored lead changed by two batches keeps the newest");
    let sato = leads.iter().find(|l| l.family_name.as_deref() == Some("佐藤")).expect("佐藤");
    assert_eq!(store.lead_sources(sato.id).await.expect("sources").len(), 4, "every record of 佐藤 is a source");

    // The same file in one batch comes out the same (all unchanged now: it was taken).
    let again = run(store, &prepared, &context, &options(None), now, |_| {}).await.expect("import");
    assert_eq!((again.unchanged_rows, again.created_rows, again.merged_rows), (8, 0, 0));

    // Undo removes the two new people and puts 田中 back as before the first change.
    store.undo_import(again.id, None, now()).await.expect("undo the re-import");
    let report = store.undo_import(spread.id, None, now()).await.expect("undo");
    assert_eq!((report.deleted, report.restored, report.kept.len()), (2, 1, 0));
    let after = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].title, before[0].title, "田中 is as he was before the import");
}

both!(batches_in_flight, sqlite_batches_in_flight, postgres_batches_in_flight);

/// A seminar's attendance list records an attendance for each person it names, through
/// name-matching: a known person gets it on their lead, a new one on their new lead; a rejected
/// row gets none; batches in flight do not lose or double any; undo takes them back.
async fn attendance_list(store: &dyn Store) {
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let product = store.create_product(&product.validate().expect("product"), now()).await.expect("product");
    let known =
        import(store, "氏名,メールアドレス\n田中 一郎,ichiro@aozora.co.jp\n".as_bytes(), "crm.csv", "CRM").await;
    assert_eq!(known.created_rows, 1);
    let list = "\
氏名,会社名,メールアドレス
田中 一郎,あおぞら工業,ICHIRO@aozora.co.jp
佐藤 太郎,ひまわり商事,taro@himawari.co.jp
鈴木 花子,ひまわり商事,hanako@himawari.co.jp
佐藤 太郎,ひまわり商事,taro@himawari.co.jp
,,not-an-address
";
    let prepared = prepare(list.as_bytes(), None, None).expect("prepare");
    let context =
        RowContext { source: Some("DXセミナー".into()), product_id: Some(product.id), ..RowContext::default() };
    let event = hatake_domain::event::parse_offline_event(
        "seminar_attendance",
        "DX推進セミナー 2026秋",
        "2026-11-20",
        &jiff::tz::TimeZone::get("Asia/Tokyo").expect("zone"),
    )
    .expect("event")
    .expect("asked");
    let options = ImportOptions {
        file_name: "seminar.csv".into(),
        batch_size: Some(2),
        event: Some(event.clone()),
        ..ImportOptions::default()
    };
    let done = run(store, &prepared, &context, &options, now, |_| {}).await.expect("import");
    assert_eq!((done.total_rows, done.rejected_rows, done.event_rows), (5, 1, 3), "one per person: {done:?}");
    assert!(done.event.as_deref().is_some_and(|e| e.contains("DX推進セミナー")));

    let query = hatake_store::EventQuery { limit: 10, ..Default::default() };
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    assert_eq!(leads.len(), 3);
    let id_of = |family: &str| leads.iter().find(|l| l.family_name.as_deref() == Some(family)).expect(family).id;
    let tanaka = store.lead_events(id_of("田中"), &query).await.expect("events");
    assert_eq!(tanaka.len(), 1, "the known person got the attendance on their lead");
    assert_eq!(tanaka[0].kind, "seminar_attendance");
    assert_eq!(tanaka[0].name.as_deref(), Some("DX推進セミナー 2026秋"));
    assert_eq!((tanaka[0].product_id, tanaka[0].occurred_at), (Some(product.id), event.occurred_at));
    assert_eq!(
        store.lead_events(id_of("佐藤"), &query).await.expect("events").len(),
        1,
        "one per person: 佐藤 is on the list twice, in two batches"
    );
    assert_eq!(store.lead_events(id_of("鈴木"), &query).await.expect("events").len(), 1);

    // A colleague's list of the same seminar, imported again: the people already recorded as
    // attending are not recorded twice; a person only this list names is.
    let again = "氏名,会社名,メールアドレス\n佐藤 太郎,ひまわり商事,taro@himawari.co.jp\n\
                 田中 一郎,あおぞら工業,ichiro@aozora.co.jp\n山田 次郎,ひまわり商事,jiro@himawari.co.jp\n";
    let prepared = prepare(again.as_bytes(), None, None).expect("prepare");
    let second = run(store, &prepared, &context, &options, now, |_| {}).await.expect("import");
    assert_eq!(second.event_rows, 1, "only the person new to this seminar: {second:?}");
    for family in ["佐藤", "田中"] {
        assert_eq!(store.lead_events(id_of(family), &query).await.expect("events").len(), 1, "{family}: one visit");
    }
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    let yamada = leads.iter().find(|l| l.family_name.as_deref() == Some("山田")).expect("山田").id;
    assert_eq!(store.lead_events(yamada, &query).await.expect("events").len(), 1);
    // A different seminar is a different event.
    let other = hatake_domain::event::parse_offline_event(
        "seminar_attendance",
        "DX推進セミナー 2026冬",
        "2026-12-18",
        &jiff::tz::TimeZone::get("Asia/Tokyo").expect("zone"),
    )
    .expect("event")
    .expect("asked");
    let options_other = ImportOptions { event: Some(other), ..options.clone() };
    let winter = format!("{again}鈴木 花子,ひまわり商事,hanako@himawari.co.jp\n");
    let prepared = prepare(winter.as_bytes(), None, None).expect("prepare");
    let third = run(store, &prepared, &context, &options_other, now, |_| {}).await.expect("import");
    assert_eq!(third.event_rows, 4, "another seminar: {third:?}");
    store.undo_import(third.id, None, now()).await.expect("undo");
    store.undo_import(second.id, None, now()).await.expect("undo");

    let report = store.undo_import(done.id, None, now()).await.expect("undo");
    assert_eq!(report.deleted, 2, "the two new people");
    assert!(
        store.lead_events(id_of("田中"), &query).await.expect("events").is_empty(),
        "the known person's attendance is taken back too"
    );
}

both!(attendance_list, sqlite_attendance_list, postgres_attendance_list);

/// Two imports at once that both hold a new person's address: neither asks the store for
/// candidates (both started on an empty store), so both plan to create the person, and the
/// store refuses the second write. That batch is then written in parts, each planned against
/// the store again: the person is found, and no row fails either import.
async fn imports_at_once(store: &dyn Store) {
    let first = "氏名,会社名,メールアドレス\n\
                 田中 一郎,あおぞら工業,ichiro@aozora.co.jp\n\
                 山本 次郎,あおぞら工業,jiro@aozora.co.jp\n\
                 佐藤 太郎,ひまわり商事,taro@himawari.co.jp\n\
                 鈴木 花子,ひまわり商事,hanako@himawari.co.jp\n\
                 高橋 三郎,みどり木工,saburo@midori.co.jp\n\
                 伊藤 四郎,みどり木工,shiro@midori.co.jp\n";
    let second = "氏名,会社名,メールアドレス\n\
                  山本 次郎,あおぞら工業株式会社,JIRO@aozora.co.jp\n\
                  渡辺 五郎,そら工房,goro@sora.co.jp\n\
                  中村 六郎,そら工房,rokuro@sora.co.jp\n";
    let context = RowContext { source: Some("展示会".to_owned()), ..RowContext::default() };
    let options =
        |name: &str| ImportOptions { file_name: name.into(), batch_size: Some(3), ..ImportOptions::default() };
    let (a_options, b_options) = (options("a.csv"), options("b.csv"));
    let a = prepare(first.as_bytes(), None, None).expect("prepare");
    let b = prepare(second.as_bytes(), None, None).expect("prepare");
    let a_import = hatake_engine::import::start(store, &a, &context, &a_options, now()).await.expect("start");
    let b_import = hatake_engine::import::start(store, &b, &context, &b_options, now()).await.expect("start");
    let (a_done, b_done) = tokio::join!(
        hatake_engine::import::finish(store, a_import.id, &a, &context, &a_options, now, |_| {}),
        hatake_engine::import::finish(store, b_import.id, &b, &context, &b_options, now, |_| {}),
    );
    let (a_done, b_done) = (a_done.expect("the first import ends"), b_done.expect("the second import ends"));
    assert_eq!((a_done.status.as_str(), b_done.status.as_str()), ("done", "done"));
    for (done, rows) in [(&a_done, 6), (&b_done, 3)] {
        let lines = store.import_lines(done.id).await.expect("lines");
        let rejects = store.import_rejects(done.id).await.expect("rejects");
        assert_eq!(lines.len() + rejects.len(), rows, "every row has one outcome: {lines:?} {rejects:?}");
        assert_eq!(done.total_rows, i64::try_from(rows).expect("rows"));
    }
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    assert_eq!(leads.len(), 8, "山本 次郎 is one person: {leads:?}");
}

both!(imports_at_once, sqlite_imports_at_once, postgres_imports_at_once);

/// A corporate number (法人番号) in a lead file is checked as the account form checks it: a
/// wrong check digit rejects the row with the form's reason; a right one links the lead to the
/// company of the master with that number, whatever the company is called in the file.
async fn corporate_numbers(store: &dyn Store) {
    let account = hatake_domain::AccountInput {
        name: Some("株式会社ひまわり商事".into()),
        corporate_number: Some("7000012050002".into()),
        prefecture: Some("東京都".into()),
        ..Default::default()
    }
    .validate()
    .expect("account");
    let account = store.create_account(&account, now()).await.expect("account");
    let form_error = hatake_domain::CorporateNumber::parse("1000012050002").expect_err("a wrong check digit");
    let file = "会社名,氏名,メールアドレス,法人番号\n\
                ひまわり,佐藤 太郎,taro@himawari.co.jp,7000012050002\n\
                あおぞら工業,田中 一郎,ichiro@aozora.co.jp,1000012050002\n\
                みどり木工,鈴木 花子,hanako@midori.co.jp,12345\n\
                そら工房,山本 次郎,jiro@sora.co.jp,\n";
    let done = import(store, file.as_bytes(), "numbers.csv", "名刺").await;
    assert_eq!((done.created_rows, done.rejected_rows), (2, 2), "{done:?}");
    let rejects = store.import_rejects(done.id).await.expect("rejects");
    let problems: Vec<serde_json::Value> =
        rejects.iter().map(|r| serde_json::from_str(&r.problems).expect("problems")).collect();
    assert_eq!(rejects.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(problems[0][0]["field"], "corporate_number");
    assert_eq!(problems[0][0]["code"], "check_digit_mismatch");
    assert_eq!(problems[0][0]["message_ja"], form_error.message_ja.as_str(), "the account form's own words");
    assert_eq!(problems[1][0]["code"], "invalid_corporate_number");
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    let sato = leads.iter().find(|l| l.family_name.as_deref() == Some("佐藤")).expect("佐藤");
    assert_eq!(sato.account_id, Some(account.id), "linked by the number, although the file says ひまわり");
    let yamamoto = leads.iter().find(|l| l.family_name.as_deref() == Some("山本")).expect("山本");
    assert_eq!(yamamoto.account_id, None);
}

both!(corporate_numbers, sqlite_corporate_numbers, postgres_corporate_numbers);

/// A name written without a space (「田中太郎」) is split by its reading, a surname dictionary or
/// the record it meets: at the same company as 「田中 太郎」 it is the same person (merged) or at
/// least a review question, never a second person without a word.
async fn names_without_a_space(store: &dyn Store) {
    let first = "氏名,会社名,メールアドレス\n田中 太郎,株式会社あおぞら工業,taro.tanaka@aozora.co.jp\n\
                 佐藤 花子,ひまわり商事株式会社,hanako@himawari.co.jp\n";
    let first = import(store, first.as_bytes(), "crm.csv", "CRM").await;
    assert_eq!(first.created_rows, 2);
    // The same people from business cards: no space, another address, a legal form abbreviated;
    // one of them with a reading that splits the name.
    let cards = "氏名,フリガナ,会社名,メールアドレス\n田中太郎,,（株）あおぞら工業,tanaka.t@gmail.com\n\
                 佐藤花子,サトウ ハナコ,ひまわり商事,sato.hanako@gmail.com\n";
    let cards = import(store, cards.as_bytes(), "cards.csv", "名刺").await;
    assert_eq!(cards.created_rows, 0, "neither is a second person without a word: {cards:?}");
    assert_eq!(cards.merged_rows + cards.unchanged_rows + cards.review_rows, 2, "{cards:?}");
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    assert_eq!(leads.len(), 2, "still two people");
    for lead in &leads {
        assert!(
            matches!(
                (lead.family_name.as_deref(), lead.given_name.as_deref()),
                (Some("田中"), Some("太郎")) | (Some("佐藤"), Some("花子"))
            ),
            "the name stays split: {lead:?}"
        );
    }
}

both!(names_without_a_space, sqlite_names_without_a_space, postgres_names_without_a_space);

/// Two records that name only a family name at one company are colleagues as often as one
/// person: never merged by themselves.
async fn a_bare_family_name_is_not_merged_by_itself(store: &dyn Store) {
    let first =
        import(store, "姓,会社名,電話番号\n中川,株式会社三光住販,06-6203-4107\n".as_bytes(), "a.csv", "A").await;
    assert_eq!(first.created_rows, 1);
    let second =
        import(store, "姓,会社名,電話番号\n中川,株式会社三光住販,06-1234-9999\n".as_bytes(), "b.csv", "B").await;
    assert_eq!(second.merged_rows + second.unchanged_rows, 0, "{second:?}");
    let leads = store.list_leads(&LeadQuery { limit: 50, ..LeadQuery::default() }).await.expect("list").items;
    let phones: Vec<Option<String>> = leads.iter().map(|l| l.phone.clone()).collect();
    assert!(phones.contains(&Some("06-6203-4107".to_owned())), "the known phone stays: {phones:?}");
}

both!(a_bare_family_name_is_not_merged_by_itself, sqlite_a_bare_family_name, postgres_a_bare_family_name);
