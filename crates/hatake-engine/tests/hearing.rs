//! Hearing sheets on both backends: templates make the sheet (fields made once, shared keys
//! added once), a call records what was learned with its caller and call (a bad value refuses
//! the whole call), the lead form's changes are logged too, the log follows a merge, and a
//! hearing file is imported row by row — a bad row reported with its line and nothing of it
//! stored, a file with an unknown column refused whole.

use hatake_domain::hearing::{completeness, HearingTemplate};
use hatake_engine::hearing::{self, ImportError};
use hatake_engine::inside_sales::{self, CallInput, SaveError};
use hatake_store::{HearingSource, MergeRequest, Store};
use std::sync::Arc;

const T0: i64 = 1_790_000_000_000;

async fn lead(store: &dyn Store, name: &str, email: &str) -> i64 {
    let input = hatake_domain::LeadInput {
        family_name: Some(name.into()),
        email: Some(email.into()),
        company_name: Some("サクラテック株式会社".into()),
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), true, T0).await.unwrap().id
}

async fn hearing_sheets(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let new = hatake_domain::NewUser::parse("is1@example.jp", "井上", "inside_sales", "password-123456").unwrap();
    let rep = store.create_user(&new, "x", T0).await.unwrap().id;

    // Templates: BANT makes its four fields; position-first adds the four it lacks, and reuses
    // the problem and timing BANT made.
    assert!(hearing::sheet(store).await.unwrap().items.is_empty());
    let bant = hearing::apply_template(store, HearingTemplate::Bant, T0).await.unwrap();
    assert_eq!((bant.fields_created, bant.items_added), (4, 4));
    let position = hearing::apply_template(store, HearingTemplate::PositionFirst, T0).await.unwrap();
    assert_eq!((position.fields_created, position.items_added), (4, 4));
    let again = hearing::apply_template(store, HearingTemplate::Bant, T0).await.unwrap();
    assert_eq!((again.fields_created, again.items_added), (0, 0));
    let sheet = hearing::sheet(store).await.unwrap();
    assert_eq!(
        sheet.keys(),
        ["budget_status", "authority", "problem", "timing", "position", "stage", "current_product", "current_since"]
    );
    // The order is the sheet's to choose; a key that is no field is refused.
    let order: Vec<String> =
        ["position", "problem", "timing", "stage", "current_product", "current_since"].map(String::from).to_vec();
    let saved = hearing::save_sheet(store, &order, T0).await.unwrap();
    assert_eq!(saved.keys(), order);
    let wrong = hearing::save_sheet(store, &["nope".to_owned()], T0).await;
    assert!(matches!(wrong, Err(SaveError::Invalid(e)) if e.0[0].code == "unknown_custom_field"));

    // A call records what was learned, with its caller and the call.
    let yamada = lead(store, "山田", "yamada@example.jp").await;
    let heard = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let call = CallInput {
        lead_id: yamada,
        outcome: "key_person".into(),
        result: Some("nurture".into()),
        hearing: heard(&[("position", "決裁者"), ("problem", " 月次の締めに3日 "), ("current_since", "２０１６")]),
        ..Default::default()
    };
    let logged = inside_sales::log_call(store, &call, Some(rep), T0 + 1_000).await.unwrap();
    assert_eq!(logged.learned, ["position", "problem", "current_since"]);
    let values = store.get_lead(yamada).await.unwrap().custom_map();
    assert_eq!(values["position"], "決裁者");
    assert_eq!(values["problem"], "月次の締めに3日");
    assert_eq!(values["current_since"].as_f64(), Some(2016.0), "full-width digits read as a number");
    let done = completeness(&order, &values);
    assert_eq!((done.known, done.total), (3, 6));
    assert_eq!(done.missing, ["timing", "stage", "current_product"]);
    let log = store.hearing_log(yamada, 10).await.unwrap();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|r| r.user_id == Some(rep)
        && r.user_name.as_deref() == Some("井上")
        && r.call_id == Some(logged.call_id)
        && r.channel == "call"
        && r.at == T0 + 1_000));

    // A bad value refuses the whole call: no call, nothing learned.
    let bad =
        CallInput { hearing: heard(&[("timing", "来週"), ("stage", "稟議中"), ("secret", "x")]), ..call.clone() };
    let Err(SaveError::Invalid(errors)) = inside_sales::log_call(store, &bad, Some(rep), T0 + 2_000).await else {
        panic!("a bad hearing value is refused");
    };
    let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["hearing.timing", "hearing.secret"]);
    assert!(errors.0[0].message_ja.contains("来週"), "{}", errors.0[0].message_ja);
    assert_eq!(store.lead_calls(yamada, 10).await.unwrap().len(), 1);
    assert_eq!(store.hearing_log(yamada, 10).await.unwrap().len(), 3);

    // Written again, a value is no change; cleared, it is logged with what it was.
    let source = HearingSource { user_id: Some(rep), call_id: None, channel: "ui".into(), at: T0 + 3_000 };
    let changes = sheet_changes(store, &[("position", "決裁者"), ("problem", "")]).await;
    assert_eq!(hearing::record(store, yamada, &changes, &source).await.unwrap(), ["problem"]);
    let latest = &store.hearing_log(yamada, 1).await.unwrap()[0];
    assert_eq!((latest.value.as_deref(), latest.previous.as_deref()), (None, Some("\"月次の締めに3日\"")));
    assert!(!store.get_lead(yamada).await.unwrap().custom_map().contains_key("problem"));

    // The lead form's changes to hearing items are logged too.
    let row = store.get_lead(yamada).await.unwrap();
    let before = row.custom_map();
    let mut after = before.clone();
    after.insert("stage".into(), "稟議中".into());
    after.insert("position".into(), "推進者".into());
    hearing::log_edit(store, yamada, Some(&before), &after, &source).await.unwrap();
    let log = store.hearing_log(yamada, 2).await.unwrap();
    let keys: Vec<&str> = log.iter().map(|r| r.field_key.as_str()).collect();
    assert!(keys.contains(&"stage") && keys.contains(&"position"), "{keys:?}");

    // A merge takes the merged lead's log to the survivor.
    let twin = lead(store, "山田", "t.yamada@example.jp").await;
    let changes = sheet_changes(store, &[("timing", "半年以内")]).await;
    hearing::record(store, twin, &changes, &source).await.unwrap();
    let defs = hatake_engine::settings::custom_defs(store).await.unwrap();
    let data = store.get_lead(yamada).await.unwrap().to_input().validate(&defs).unwrap();
    let merge = MergeRequest { survivor: yamada, merged: twin, data: &data, is_lead: true, review_id: None, by: None };
    store.merge_leads(&merge, T0 + 4_000).await.unwrap();
    assert!(store.hearing_log(yamada, 50).await.unwrap().iter().any(|r| r.field_key == "timing"));

    import_files(store, rep).await;
}

async fn sheet_changes(store: &dyn Store, pairs: &[(&str, &str)]) -> Vec<hatake_store::HearingChange> {
    let typed: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    hearing::sheet(store).await.unwrap().changes(&typed, true).unwrap()
}

async fn import_files(store: &dyn Store, rep: i64) {
    let sato = lead(store, "佐藤", "Sato@Example.JP").await;
    let suzuki = lead(store, "鈴木", "suzuki@example.jp").await;
    // Columns by label (Japanese or English) or key; the lead by e-mail address in any case.
    let file = "メールアドレス,立場・役割,Timing,stage,現行製品\n\
                sato@example.jp,推進者,半年以内,,他社パッケージ\n\
                suzuki@example.jp,決裁者,来週,比較検討中,\n\
                nobody@example.jp,決裁者,,,\n\
                ,利用者,,,\n";
    let report = hearing::import_csv(store, file.as_bytes(), Some(rep), T0 + 5_000).await.unwrap();
    assert_eq!((report.rows, report.taken), (4, 1));
    assert_eq!(report.changed, 3, "a blank cell changes nothing");
    let lines: Vec<(usize, &str)> = report.errors.iter().map(|e| (e.line, e.error.code)).collect();
    assert_eq!(lines, [(3, "invalid_choice"), (4, "no_such_lead"), (5, "required")]);
    let values = store.get_lead(sato).await.unwrap().custom_map();
    assert_eq!(values["position"], "推進者");
    assert_eq!(values["current_product"], "他社パッケージ");
    assert!(!values.contains_key("stage"));
    assert!(store.get_lead(suzuki).await.unwrap().custom_map().is_empty(), "nothing of a bad row is stored");
    let log = store.hearing_log(sato, 10).await.unwrap();
    assert!(log.iter().all(|r| r.channel == "import" && r.user_id == Some(rep)));

    // Shift_JIS with lead ids.
    let text = format!("リードID,検討状況\n{suzuki},稟議中\n999999,情報収集\nabc,稟議中\n");
    let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
    let report = hearing::import_csv(store, &bytes, Some(rep), T0 + 6_000).await.unwrap();
    assert_eq!(report.taken, 1);
    let codes: Vec<&str> = report.errors.iter().map(|e| e.error.code).collect();
    assert_eq!(codes, ["no_such_lead", "invalid_lead_id"]);
    assert_eq!(store.get_lead(suzuki).await.unwrap().custom_map()["stage"], "稟議中");

    // A column that is no hearing item refuses the file, naming it; so does a file without a
    // lead column.
    let unknown = "email,予算感\nsato@example.jp,1000万\n";
    let Err(ImportError::File(errors)) = hearing::import_csv(store, unknown.as_bytes(), None, T0).await else {
        panic!("an unknown column is refused");
    };
    assert_eq!(errors.0[0].code, "unknown_columns");
    assert!(errors.0[0].message_ja.contains("予算感"));
    let no_lead = "立場・役割\n決裁者\n";
    let Err(ImportError::File(errors)) = hearing::import_csv(store, no_lead.as_bytes(), None, T0).await else {
        panic!("a file without a lead column is refused");
    };
    assert_eq!(errors.0[0].code, "no_lead_column");
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open SQLite");
            $scenario(Arc::new(store)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
            $scenario(Arc::new(store)).await;
        }
    };
}

both!(hearing_sheets, hearing_sheets_sqlite, hearing_sheets_postgres);
