//! The scorer on both backends: scores follow new events (in and out of time order), visitor
//! links, merges and their undo, an import's undo, attribute changes (fit), and time (decay);
//! and after all of it the stored scores equal a full recomputation from the event log.

#[macro_use]
mod support;

use hatake_domain::scoring::{EngagementRule, ScoringModel, DAY_MS};
use hatake_domain::{AccountInput, LeadInput, ProductInput};
use hatake_engine::scoring::{self, Scorer};
use hatake_store::{LeadScoreRow, MergeRequest, NewEvent, Store};

const T0: i64 = 1_790_000_000_000;

fn event(
    kind: &'static str,
    lead: Option<i64>,
    visitor: Option<&str>,
    product: Option<i64>,
    at: i64,
    props: &str,
) -> NewEvent {
    NewEvent {
        kind,
        lead_id: lead,
        visitor_id: visitor.map(str::to_owned),
        product_id: product,
        occurred_at: at,
        source: None,
        name: None,
        properties: props.to_owned(),
        idempotency_key: None,
    }
}

async fn lead(store: &dyn Store, family: &str, email: &str, account: Option<i64>, title: &str) -> i64 {
    let input = LeadInput {
        family_name: Some(family.into()),
        email: Some(email.into()),
        title: Some(title.into()),
        account_id: account,
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), false, T0).await.unwrap().id
}

async fn product(store: &dyn Store, code: &str, name: &str, at: i64) -> i64 {
    let input = ProductInput { code: Some(code.into()), name: Some(name.into()), ..Default::default() };
    store.create_product(&input.validate().unwrap(), at).await.unwrap().id
}

/// The stored rows without their write time, for comparing.
async fn snapshot(store: &dyn Store, leads: &[i64]) -> Vec<LeadScoreRow> {
    let mut rows = store.lead_scores(leads).await.unwrap();
    for row in &mut rows {
        row.updated_at = 0;
    }
    rows
}

async fn engagement(store: &dyn Store, lead: i64, product: i64) -> Option<i64> {
    store.lead_scores(&[lead]).await.unwrap().iter().find(|r| r.product_id == product).map(|r| r.engagement)
}

async fn scenario(store: &dyn Store) {
    let erp = product(store, "erp", "ERP", support::now()).await;
    let crm = product(store, "crm", "CRM", T0).await;
    let account = store
        .create_account(
            &AccountInput { name: Some("株式会社大手".into()), employee_count: Some(800), ..Default::default() }
                .validate()
                .unwrap(),
            T0,
        )
        .await
        .unwrap()
        .id;
    let a = lead(store, "佐藤", "sato@example.jp", Some(account), "情報システム部 部長").await;
    let b = lead(store, "鈴木", "suzuki@example.jp", None, "担当").await;
    let c = lead(store, "高橋", "takahashi@example.jp", None, "担当").await;
    let leads = [a, b, c];

    // Events before any model: the scorer only follows the log.
    store.append_events(&[event("mail_open", Some(a), None, None, T0, "{}")], T0).await.unwrap();
    let mut scorer = Scorer::new();
    scoring::catch_up(store, &mut scorer, T0).await.unwrap();
    assert!(store.lead_scores(&leads).await.unwrap().is_empty());

    // A model per product; the first step recomputes each in full.
    store.save_scoring_model(erp, &ScoringModel::template().to_json(), None, T0).await.unwrap();
    let crm_model = ScoringModel {
        include_unassigned: false,
        engagement: vec![EngagementRule {
            id: "visit".into(),
            kind: "page_view".into(),
            points: 7,
            expires_days: Some(30),
            ..Default::default()
        }],
        ..Default::default()
    };
    store.save_scoring_model(crm, &crm_model.to_json(), None, T0).await.unwrap();
    let now = T0 + 1_000;
    let report = scoring::catch_up(store, &mut scorer, now).await.unwrap();
    assert_eq!(report.rescored, 1, "{report:?}");
    assert_eq!(engagement(store, a, erp).await, Some(10));
    // Fit: 800 employees and 部長.
    let row = store.lead_scores(&[a]).await.unwrap().into_iter().find(|r| r.product_id == erp).unwrap();
    assert_eq!(row.fit, 20);
    // An unassigned mail open does not count for crm (include_unassigned: false).
    assert_eq!(engagement(store, a, crm).await, None);

    // New events, in order: folded onto the stored state.
    let day = |n: i64| T0 + n * DAY_MS;
    store
        .append_events(
            &[
                event("download", Some(a), None, Some(erp), day(1), "{}"),
                event("page_view", Some(b), None, Some(crm), day(1), r#"{"url":"https://x.jp/crm"}"#),
                event("page_view", Some(b), None, Some(erp), day(1), r#"{"url":"https://x.jp/pricing"}"#),
            ],
            day(1),
        )
        .await
        .unwrap();
    let report = scoring::catch_up(store, &mut scorer, day(1)).await.unwrap();
    assert_eq!((report.folded, report.refolded), (2, 0), "{report:?}");
    assert_eq!(engagement(store, a, erp).await, Some(20));
    assert_eq!(engagement(store, b, erp).await, Some(20)); // site visit + pricing page
    assert_eq!(engagement(store, b, crm).await, Some(7));

    // An event earlier than the lead's last: the lead is folded again.
    store.append_events(&[event("seminar_attendance", Some(a), None, None, T0 - DAY_MS, "{}")], day(2)).await.unwrap();
    let report = scoring::catch_up(store, &mut scorer, day(2)).await.unwrap();
    assert_eq!((report.folded, report.refolded), (0, 1), "{report:?}");
    assert_eq!(engagement(store, a, erp).await, Some(30));

    // An anonymous visitor's page views count once the visitor is linked to c.
    store.append_events(&[event("download", None, Some("v-1"), Some(erp), day(2), "{}")], day(2)).await.unwrap();
    scoring::catch_up(store, &mut scorer, day(2)).await.unwrap();
    assert_eq!(engagement(store, c, erp).await, None);
    store.append_events(&[event("form_submit", Some(c), Some("v-1"), Some(erp), day(3), "{}")], day(3)).await.unwrap();
    scoring::catch_up(store, &mut scorer, day(3) + 1).await.unwrap();
    assert_eq!(engagement(store, c, erp).await, Some(20));

    // Time: the crm visit expires after 30 days; −30 after half a year without mail reaction.
    scoring::catch_up(store, &mut scorer, day(32)).await.unwrap();
    assert_eq!(engagement(store, b, crm).await, Some(0));
    scoring::catch_up(store, &mut scorer, day(200)).await.unwrap();
    assert_eq!(engagement(store, a, erp).await, Some(0)); // 30 − 30
    assert_eq!(engagement(store, b, erp).await, Some(0)); // 20 − 30, floored: a penalty takes what there is

    // Fit follows the lead's attributes.
    let mut changed = LeadInput {
        family_name: Some("鈴木".into()),
        email: Some("suzuki@example.jp".into()),
        title: Some("営業部長".into()),
        ..Default::default()
    }
    .validate(&[])
    .unwrap();
    changed.department_class = None;
    store.update_lead(b, &changed, false, day(200) + 5).await.unwrap();
    scoring::catch_up(store, &mut scorer, day(200) + 10).await.unwrap();
    let fit = store.lead_scores(&[b]).await.unwrap().into_iter().find(|r| r.product_id == erp).unwrap().fit;
    assert_eq!(fit, 10);

    // A merge moves c's events to b: b is folded again with them.
    let merged_data = store.get_lead(b).await.unwrap();
    let data = hatake_store::LeadSnapshot::of(&merged_data).data().unwrap();
    let merge = store
        .merge_leads(
            &MergeRequest { survivor: b, merged: c, data: &data, is_lead: false, review_id: None, by: None },
            day(201),
        )
        .await
        .unwrap();
    scoring::catch_up(store, &mut scorer, day(201)).await.unwrap();
    let after_merge = engagement(store, b, erp).await.unwrap();
    assert_eq!(after_merge, 20 + 20 - 30, "b's own, c's two, and the penalty");
    store.undo_merge(merge.id, None, day(202)).await.unwrap();
    scoring::catch_up(store, &mut scorer, day(202)).await.unwrap();
    assert_eq!(engagement(store, b, erp).await, Some(0), "b alone again: 20 − 30, floored");

    // Due times: a pass whose horizon has run out walks every score and keeps in the index of
    // due times those changing within a day; a score changing within it is then found there.
    let hour = 3_600_000;
    let now0 = day(203);
    scoring::catch_up(store, &mut scorer, now0).await.unwrap();
    let before = engagement(store, b, crm).await.unwrap();
    let visit =
        event("page_view", Some(b), None, Some(crm), now0 - 30 * DAY_MS + 2 * hour, r#"{"url":"https://x.jp/crm"}"#);
    store.append_events(&[visit], now0).await.unwrap();
    scoring::catch_up(store, &mut scorer, now0 + 1).await.unwrap();
    assert_eq!(engagement(store, b, crm).await, Some(before + 7));
    let due = store.scores_due_after(now0 + 3 * hour, (i64::MIN, i64::MIN), 10).await.unwrap();
    assert_eq!(due.iter().map(|r| (r.lead_id, r.product_id)).collect::<Vec<_>>(), vec![(b, crm)]);
    scoring::catch_up(store, &mut scorer, now0 + 3 * hour).await.unwrap();
    assert_eq!(engagement(store, b, crm).await, Some(before), "the visit expired two hours on");
    assert!(store.scores_due_after(now0 + 3 * hour, (i64::MIN, i64::MIN), 10).await.unwrap().is_empty());

    // Held states: a step writes the new scores but keeps the states it folded in memory, so
    // the stored states (and the cursor's `states_at`) stay behind until it writes them back.
    let now1 = now0 + 4 * hour;
    scoring::catch_up(store, &mut scorer, now1).await.unwrap();
    let cursor = store.scoring_cursor().await.unwrap();
    assert_eq!(cursor.states_at, cursor.event_id, "catch_up writes every state back");
    let stored_last = |rows: Vec<LeadScoreRow>, product| {
        let row = rows.into_iter().find(|r| r.product_id == product).unwrap();
        hatake_domain::scoring::fold::ScoreState::last_at_of(&row.state).unwrap()
    };
    let a_last = stored_last(store.lead_scores(&[a]).await.unwrap(), erp);
    let visit =
        event("page_view", Some(b), None, Some(crm), now1 - 30 * DAY_MS + 2 * hour, r#"{"url":"https://x.jp/crm"}"#);
    let download = event("download", Some(a), None, Some(erp), now1, "{}");
    store.append_events(&[visit, download], now1).await.unwrap();
    let a_before = engagement(store, a, erp).await.unwrap();
    let report = scorer.step(store, now1 + 1).await.unwrap();
    assert_eq!((report.events, report.folded, report.written_back), (2, 2, 0), "{report:?}");
    assert_eq!(engagement(store, b, crm).await, Some(before + 7));
    assert_eq!(engagement(store, a, erp).await, Some(a_before + 10));
    let cursor = store.scoring_cursor().await.unwrap();
    assert!(cursor.states_at < cursor.event_id, "{cursor:?}");
    assert_eq!(stored_last(store.lead_scores(&[a]).await.unwrap(), erp), a_last, "the state is held, not written");
    // A decay pass reads states from the store: those due by then are written back first, so
    // the held visit expires two hours on (a's download, not due, stays held).
    scorer.step(store, now1 + 3 * hour).await.unwrap();
    assert_eq!(engagement(store, b, crm).await, Some(before));
    assert_eq!(stored_last(store.lead_scores(&[a]).await.unwrap(), erp), a_last);
    // A scorer that stopped without writing back: the next one folds the events after
    // `states_at` again (b's visit, written back already, makes b be folded from the log).
    drop(scorer);
    let mut scorer = Scorer::new();
    let report = scoring::catch_up(store, &mut scorer, now1 + 3 * hour + 1).await.unwrap();
    assert_eq!((report.events, report.folded), (2, 1), "{report:?}");
    assert!(report.refolded >= 1, "{report:?}");
    assert_eq!(engagement(store, a, erp).await, Some(a_before + 10), "counted once");
    assert_eq!(engagement(store, b, crm).await, Some(before));
    let cursor = store.scoring_cursor().await.unwrap();
    assert_eq!(cursor.states_at, cursor.event_id);
    assert!(stored_last(store.lead_scores(&[a]).await.unwrap(), erp) > a_last);

    // After everything: the incremental result equals a full recomputation.
    let now = now1 + 3 * hour + 1;
    scoring::catch_up(store, &mut scorer, now).await.unwrap();
    let incremental = snapshot(store, &leads).await;
    let models = scoring::Models::load(store).await.unwrap();
    let up_to = store.max_event_id().await.unwrap();
    let report = scoring::rescore(store, &models, &[], up_to, now, &|_| {}).await.unwrap();
    assert_eq!(report.rows as usize, incremental.len());
    let full = snapshot(store, &leads).await;
    assert_eq!(incremental, full);

    // A scorer that starts more than a million events behind the stored states recomputes every
    // score rather than folding them again lead by lead.
    let mut cursor = store.scoring_cursor().await.unwrap();
    cursor.states_at = cursor.event_id - 1_000_001;
    store.set_scoring_cursor(&cursor, None).await.unwrap();
    let report = scoring::catch_up(store, &mut Scorer::new(), now).await.unwrap();
    assert_eq!(report.rescored as usize, full.len(), "{report:?}");
    assert_eq!(snapshot(store, &leads).await, full);
    let cursor = store.scoring_cursor().await.unwrap();
    assert_eq!(cursor.states_at, cursor.event_id);

    // The explanation adds up to the stored score.
    let explained = scoring::explain_lead(store, &models, a, now).await.unwrap();
    let erp_part = explained.iter().find(|e| e.product_id == erp).unwrap();
    assert_eq!(Some(erp_part.explanation.engagement), engagement(store, a, erp).await);
    assert_eq!(erp_part.fit.len(), 2);
    assert!(erp_part.explanation.awards.iter().any(|a| a.event_id.is_none()), "the decay penalty is listed");

    // A second process cannot take the scorer's lease while it is held.
    assert!(store.try_lease(scoring::LEASE, "one", now + 30_000, now).await.unwrap());
    assert!(!store.try_lease(scoring::LEASE, "two", now + 30_000, now + 1).await.unwrap());
    assert!(store.try_lease(scoring::LEASE, "two", now + 90_000, now + 31_000).await.unwrap());
}

both!(scenario, scores_follow_the_log_on_sqlite, scores_follow_the_log_on_postgres);

/// The store calls behind the scorer's held states, on both backends: score values written
/// without their states (a row deleted meanwhile is named, not written), states written back
/// for rows that exist only, every row read back in key order, and the cursor's `states_at`.
async fn held_state_paths(store: &dyn Store) {
    let product = product(store, "erp", "ERP", T0).await;
    let a = lead(store, "佐藤", "sato@example.jp", None, "部長").await;
    let b = lead(store, "鈴木", "suzuki@example.jp", None, "担当").await;
    let row = |lead_id, engagement, state: &[u8]| LeadScoreRow {
        lead_id,
        product_id: product,
        model_version: 1,
        engagement,
        fit: 5,
        next_change_at: Some(T0 + DAY_MS),
        state: state.to_vec(),
        updated_at: T0,
    };
    store.put_lead_scores(&[row(a, 10, b"a1"), row(b, 20, b"b1")]).await.unwrap();

    // Values only: the state and the fit stay; a row that does not exist is named.
    let gone = 999_999;
    let missing = store.update_folded_scores(&[row(a, 30, b"ignored"), row(gone, 1, b"x")]).await.unwrap();
    assert_eq!(missing, vec![(gone, product)]);
    let stored = store.lead_scores(&[a]).await.unwrap().remove(0);
    assert_eq!((stored.engagement, stored.fit, stored.state.as_slice()), (30, 5, &b"a1"[..]));

    // States written back: rows that exist only (no row appears for `gone`).
    store.put_score_states(&[(a, product, b"a2".to_vec()), (gone, product, b"x".to_vec())]).await.unwrap();
    assert_eq!(store.lead_scores(&[a]).await.unwrap().remove(0).state, b"a2");
    assert!(store.lead_scores(&[gone]).await.unwrap().is_empty());

    // Every row in key order, in pages.
    let first = store.scores_after((i64::MIN, i64::MIN), 1).await.unwrap();
    assert_eq!(first.iter().map(|r| (r.lead_id, r.state.clone())).collect::<Vec<_>>(), vec![(a, b"a2".to_vec())]);
    let rest = store.scores_after((a, product), 10).await.unwrap();
    assert_eq!(rest.iter().map(|r| (r.lead_id, r.engagement)).collect::<Vec<_>>(), vec![(b, 20)]);
    assert!(store.scores_after((b, product), 10).await.unwrap().is_empty());

    // The cursor keeps how far the stored states reach.
    let mut cursor = store.scoring_cursor().await.unwrap();
    cursor.event_id = 40;
    cursor.states_at = 25;
    store.set_scoring_cursor(&cursor, None).await.unwrap();
    let read = store.scoring_cursor().await.unwrap();
    assert_eq!((read.event_id, read.states_at), (40, 25));
}

both!(held_state_paths, held_state_paths_on_sqlite, held_state_paths_on_postgres);
