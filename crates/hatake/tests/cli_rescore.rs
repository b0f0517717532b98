//! The real `hatake rescore` in a temp directory: scores recomputed from the event log equal the
//! ones kept incrementally; an unknown product code and a product without a model are refused by
//! name with nothing changed; with a running server holding the scorer's lease, the server is
//! asked to recompute instead.

use hatake_domain::scoring::ScoringModel;
use hatake_store::{NewEvent, Store};
use std::process::Command;

fn run(dir: &std::path::Path, extra: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hatake"));
    command.env_remove("HATAKE_DATABASE_URL").env_remove("HATAKE_DATA_DIR").env_remove("HATAKE_CONFIG");
    command.env("HATAKE_LOG", "warn");
    command.arg("rescore").arg("--data-dir").arg(dir).args(extra);
    let output = command.output().expect("hatake runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn rescore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let now = hatake_engine::scoring::now_millis();
    let (erp, lead) = {
        let sqlite = hatake_sqlite::SqliteStore::open(dir.path()).await.unwrap();
        let store: &dyn Store = &sqlite;
        let product = |code: &str| hatake_domain::ProductInput {
            code: Some(code.into()),
            name: Some(code.to_uppercase()),
            ..Default::default()
        };
        let erp = store.create_product(&product("erp").validate().unwrap(), now).await.unwrap().id;
        store.create_product(&product("crm").validate().unwrap(), now).await.unwrap();
        store.save_scoring_model(erp, &ScoringModel::template().to_json(), None, now).await.unwrap();
        let input = hatake_domain::LeadInput {
            family_name: Some("佐藤".into()),
            email: Some("sato@example.jp".into()),
            ..Default::default()
        };
        let lead = store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id;
        let events: Vec<NewEvent> = ["mail_open", "download", "seminar_attendance"]
            .iter()
            .enumerate()
            .map(|(i, kind)| NewEvent {
                kind,
                lead_id: Some(lead),
                visitor_id: None,
                product_id: Some(erp),
                occurred_at: now - 3_600_000 + i as i64,
                source: None,
                name: None,
                properties: "{}".into(),
                idempotency_key: None,
            })
            .collect();
        store.append_events(&events, now).await.unwrap();
        (erp, lead)
    };

    let (ok, out, err) = run(dir.path(), &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("Recomputed 1 scores of 1 leads from 3 events"), "{out}");
    let sqlite = hatake_sqlite::SqliteStore::open(dir.path()).await.unwrap();
    let rows = (&sqlite as &dyn Store).lead_scores(&[lead]).await.unwrap();
    assert_eq!((rows.len(), rows[0].product_id, rows[0].engagement), (1, erp, 30));
    drop(sqlite);

    // Bad input: named, nothing changed.
    let (ok, _, err) = run(dir.path(), &["--product", "nope"]);
    assert!(!ok);
    assert!(err.contains("\"nope\"") && err.contains("crm, erp"), "{err}");
    let (ok, _, err) = run(dir.path(), &["--product", "crm"]);
    assert!(!ok);
    assert!(err.contains("no scoring model"), "{err}");

    // A server holds the lease: it is asked instead.
    let sqlite = hatake_sqlite::SqliteStore::open(dir.path()).await.unwrap();
    let store: &dyn Store = &sqlite;
    assert!(store.try_lease(hatake_engine::scoring::LEASE, "server-1", now + 600_000, now).await.unwrap());
    let (ok, out, err) = run(dir.path(), &["--product", "ERP"]);
    assert!(ok, "{err}");
    assert!(out.contains("asked"), "{out}");
    let versions = hatake_engine::scoring::rescored_versions(store).await.unwrap();
    assert!(!versions.contains_key(&erp), "the request clears the product's recorded version");
}
