//! MQL policies and the lifecycle on both backends: a lead whose score reaches the policy moves
//! to MQL by itself (with the policy version, mode and SLA), exclusions and list entries stay,
//! people accept, recycle with a reason, open, move and close opportunities (lost with a reason
//! and a re-approach date from the competitor's install date), a recycled lead qualifies again
//! only after new behaviour, an existing customer's colleague is excluded, and the simulator
//! counts what a policy would have passed.

#[macro_use]
mod support;

use hatake_domain::lifecycle::Stage;
use hatake_domain::qualification::MqlPolicy;
use hatake_domain::scoring::{ScoringModel, DAY_MS};
use hatake_domain::{AccountInput, LeadInput, ProductInput};
use hatake_engine::qualification::{self, CloseRequest, MoveError, MoveRequest};
use hatake_engine::scoring::{self, Scorer};
use hatake_store::{NewEvent, Store, StoreError, CONFIG_MQL_POLICY};

const DAY0: i64 = 1_790_000_000_000;

fn zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get("Asia/Tokyo").unwrap()
}

async fn lead(store: &dyn Store, email: &str, account: Option<i64>, complete: bool) -> i64 {
    let input = LeadInput {
        family_name: Some("テスト".into()),
        email: Some(email.into()),
        account_id: account,
        ..Default::default()
    };
    store.create_lead(&input.validate(&[]).unwrap(), complete, DAY0).await.unwrap().id
}

async fn react(store: &dyn Store, lead: i64, product: i64, times: i64, at: i64) {
    let events: Vec<NewEvent> = (0..times)
        .map(|i| NewEvent {
            kind: "download",
            lead_id: Some(lead),
            visitor_id: None,
            product_id: Some(product),
            occurred_at: at + i * 60_000,
            source: None,
            name: None,
            properties: "{}".into(),
            idempotency_key: None,
        })
        .collect();
    store.append_events(&events, at).await.unwrap();
}

async fn stage(store: &dyn Store, lead: i64) -> Option<String> {
    store.lead_stages(&[lead]).await.unwrap().first().map(|s| s.stage.clone())
}

fn request(lead: i64, product: i64, from: Stage, to: Stage) -> MoveRequest {
    MoveRequest {
        lead_id: lead,
        product_id: product,
        from: from.as_str().into(),
        to: to.as_str().into(),
        by: None,
        ..Default::default()
    }
}

fn codes(error: MoveError) -> Vec<&'static str> {
    match error {
        MoveError::Invalid(errors) => errors.0.iter().map(|e| e.code).collect(),
        MoveError::Store(error) => panic!("store error {error}"),
    }
}

async fn scenario(store: &dyn Store) {
    let product = ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    let erp = store.create_product(&product.validate().unwrap(), support::now()).await.unwrap().id;
    store.save_scoring_model(erp, &ScoringModel::template().to_json(), None, DAY0).await.unwrap();
    store.save_config(erp, CONFIG_MQL_POLICY, &MqlPolicy::template().to_json(), None, DAY0).await.unwrap();
    let account = AccountInput { name: Some("株式会社顧客".into()), ..Default::default() };
    let account = store.create_account(&account.validate().unwrap(), DAY0).await.unwrap().id;
    let hot = lead(store, "hot@example.co.jp", Some(account), true).await;
    let free = lead(store, "free@gmail.com", None, true).await;
    let list = lead(store, "list@example.co.jp", None, false).await;
    let colleague = lead(store, "colleague@example.co.jp", Some(account), true).await;
    let mut scorer = Scorer::with_zone(zone());

    // Five reactions: 50 points, the normal mode's threshold.
    for who in [hot, free, list, colleague] {
        react(store, who, erp, 5, DAY0).await;
    }
    scoring::catch_up(store, &mut scorer, DAY0 + 3_600_000).await.unwrap();
    assert_eq!(stage(store, hot).await.as_deref(), Some("mql"));
    assert_eq!(stage(store, free).await, None, "free mail is excluded");
    assert_eq!(stage(store, list).await, None, "a list entry is not a lead");
    let history = store.stage_history(hot).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].policy_version, history[0].mode.as_deref()), (Some(1), Some("normal")));
    let row = store.lead_stages(&[hot]).await.unwrap().remove(0);
    assert!(row.sla_due_at.unwrap() > row.since, "an SLA deadline in business hours");
    let verdicts = qualification::verdicts(store, &store.get_lead(free).await.unwrap(), DAY0, &zone()).await.unwrap();
    assert_eq!(verdicts[0].unmet[0].code, "free_mail");

    // Recycling needs a reason from the list; a stale view is refused.
    let now = DAY0 + DAY_MS;
    let mut reject = request(hot, erp, Stage::Mql, Stage::Nurturing);
    assert_eq!(codes(qualification::move_lead(store, &reject, now, &zone()).await.unwrap_err()), ["reason_required"]);
    reject.reason = Some("not_now".into());
    let stale = request(hot, erp, Stage::Lead, Stage::Mql);
    assert!(matches!(
        qualification::move_lead(store, &stale, now, &zone()).await,
        Err(MoveError::Store(StoreError::Conflict { field: "stage" }))
    ));
    let wrong = request(hot, erp, Stage::Mql, Stage::Won);
    assert_eq!(
        codes(qualification::move_lead(store, &wrong, now, &zone()).await.unwrap_err()),
        ["close_the_opportunity"]
    );
    qualification::move_lead(store, &reject, now, &zone()).await.unwrap();
    assert_eq!(stage(store, hot).await.as_deref(), Some("nurturing"));

    // Still 50 points, but no new behaviour: it stays recycled. A new reaction qualifies it again.
    scoring::catch_up(store, &mut scorer, now + 1).await.unwrap();
    qualification::qualify(store, &[hot], now + 2, &zone()).await.unwrap();
    assert_eq!(stage(store, hot).await.as_deref(), Some("nurturing"));
    react(store, hot, erp, 1, now + 10).await;
    scoring::catch_up(store, &mut scorer, now + 100_000).await.unwrap();
    assert_eq!(stage(store, hot).await.as_deref(), Some("mql"));

    // Accept, open an opportunity (a wrong amount is named), move it, lose it to a competitor.
    let now = now + DAY_MS;
    qualification::move_lead(store, &request(hot, erp, Stage::Mql, Stage::Sal), now, &zone()).await.unwrap();
    let mut open = request(hot, erp, Stage::Sal, Stage::Opportunity);
    open.amount = Some("百万".into());
    open.expected_close_on = Some("2027/03/31".into());
    assert_eq!(codes(qualification::move_lead(store, &open, now, &zone()).await.unwrap_err()), ["invalid_amount"]);
    open.amount = Some("1,200,000".into());
    qualification::move_lead(store, &open, now, &zone()).await.unwrap();
    let opportunity = store.lead_opportunities(hot).await.unwrap().remove(0);
    assert_eq!((opportunity.stage_key.as_str(), opportunity.amount), ("visited", Some(1_200_000)));
    assert_eq!(opportunity.expected_close_on.as_deref(), Some("2027-03-31"));
    assert_eq!(opportunity.account_id, Some(account));
    qualification::update_opportunity(store, opportunity.id, "proposal", None, None, None, now + 1).await.unwrap();
    let bad = qualification::update_opportunity(store, opportunity.id, "nope", None, None, None, now + 2).await;
    assert_eq!(codes(bad.unwrap_err()), ["unknown_stage"]);
    let lose = CloseRequest {
        won: false,
        competitor: Some("他社ERP".into()),
        competitor_installed_on: Some("2027-04-01".into()),
        ..Default::default()
    };
    let missing = qualification::close_opportunity(store, opportunity.id, &lose, None, now + 3).await;
    assert_eq!(codes(missing.unwrap_err()), ["reason_required"]);
    let lose = CloseRequest { reason: Some("competitor".into()), ..lose };
    qualification::close_opportunity(store, opportunity.id, &lose, None, now + 3).await.unwrap();
    let closed = store.get_opportunity(opportunity.id).await.unwrap();
    assert_eq!((closed.status.as_str(), closed.reapproach_on.as_deref()), ("lost", Some("2031-10-01")));
    assert_eq!(stage(store, hot).await.as_deref(), Some("lost"));
    assert!(
        qualification::close_opportunity(store, opportunity.id, &lose, None, now + 4).await.is_err(),
        "closed once"
    );
    let history = store.stage_history(hot).await.unwrap();
    let moves: Vec<&str> = history.iter().rev().map(|h| h.to_stage.as_str()).collect();
    assert_eq!(moves, ["mql", "nurturing", "mql", "sal", "opportunity", "opportunity", "lost"]);
    assert_eq!(history[0].reason.as_deref(), Some("competitor"));
    let mut recycle = request(hot, erp, Stage::Lost, Stage::Nurturing);
    recycle.reason = Some("not_now".into());
    qualification::move_lead(store, &recycle, now + 5, &zone()).await.unwrap();

    // Passing a lead to sales by hand needs a note saying why.
    let direct = request(list, erp, Stage::Lead, Stage::Sal);
    assert_eq!(codes(qualification::move_lead(store, &direct, now, &zone()).await.unwrap_err()), ["note_required"]);

    // A won deal makes the account a customer: its other people are not passed.
    assert_eq!(stage(store, colleague).await.as_deref(), Some("mql"));
    qualification::move_lead(store, &request(colleague, erp, Stage::Mql, Stage::Sal), now, &zone()).await.unwrap();
    qualification::move_lead(store, &request(colleague, erp, Stage::Sal, Stage::Opportunity), now, &zone())
        .await
        .unwrap();
    let won = store.lead_opportunities(colleague).await.unwrap().remove(0);
    qualification::close_opportunity(store, won.id, &CloseRequest { won: true, ..Default::default() }, None, now + 6)
        .await
        .unwrap();
    let third = lead(store, "third@example.co.jp", Some(account), true).await;
    react(store, third, erp, 6, now + 7).await;
    scoring::catch_up(store, &mut scorer, now + 600_000).await.unwrap();
    assert_eq!(stage(store, third).await, None);
    let verdicts = qualification::verdicts(store, &store.get_lead(third).await.unwrap(), now, &zone()).await.unwrap();
    assert_eq!(verdicts[0].unmet[0].code, "existing_customer");

    // The simulator. As the policy stands, the customer's people are excluded now (the
    // exclusions are read as they are today), so normal would pass none of them.
    let policy = MqlPolicy::template();
    let at = now + DAY_MS;
    let simulation = qualification::simulate(store, erp, &policy, Some("normal"), 12, at, &zone()).await.unwrap();
    assert_eq!(simulation.months.len(), 12);
    assert_eq!(simulation.total, 0, "{simulation:?}");
    assert_eq!(simulation.months.iter().map(|m| m.actual).sum::<usize>(), 3, "hot twice, the colleague once");
    let mut no_customers = policy.clone();
    no_customers.exclusions.existing_customers = false;
    let simulation = qualification::simulate(store, erp, &no_customers, Some("normal"), 12, at, &zone()).await.unwrap();
    assert_eq!((simulation.total, simulation.won), (3, 1), "hot, the colleague (won later) and third: {simulation:?}");
    let lenient = MqlPolicy { exclusions: Default::default(), ..policy.clone() };
    let simulation = qualification::simulate(store, erp, &lenient, Some("lenient"), 12, at, &zone()).await.unwrap();
    assert_eq!(simulation.total, 4, "free mail too; never the list entry: {simulation:?}");
    let strict = qualification::simulate(store, erp, &no_customers, Some("strict"), 12, at, &zone()).await.unwrap();
    assert_eq!(strict.total, 0);

    // Switching to the lenient mode (a new version) passes the scored leads that meet it now,
    // without waiting for their next event.
    let warm = lead(store, "warm@example.co.jp", None, true).await;
    react(store, warm, erp, 3, at).await;
    scoring::catch_up(store, &mut scorer, at + 600_000).await.unwrap();
    assert_eq!(stage(store, warm).await, None, "30 points: not an MQL in normal mode");
    let mut quiet = MqlPolicy::template();
    quiet.manual_mode = Some("lenient".into());
    store.save_config(erp, CONFIG_MQL_POLICY, &quiet.to_json(), None, at).await.unwrap();
    scoring::catch_up(store, &mut scorer, at + 700_000).await.unwrap();
    assert_eq!(stage(store, warm).await.as_deref(), Some("mql"));
    let history = store.stage_history(warm).await.unwrap();
    assert_eq!((history[0].policy_version, history[0].mode.as_deref()), (Some(2), Some("lenient")));
    assert_eq!(stage(store, free).await, None, "exclusions still hold in the lenient mode");
}

both!(scenario, qualification_on_sqlite, qualification_on_postgres);
