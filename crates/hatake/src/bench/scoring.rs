//! `hatake bench scoring`: how fast scores follow the event log on SQLite, with a million
//! leads and twenty million events over three products (issue 5).
//!
//! Each round measures, next to a baseline of the same run:
//! 1. **full recomputation** — the engine's `rescore` of all three products (what
//!    `hatake rescore` runs), next to reading every event through the same store call without
//!    scoring (the I/O floor);
//! 2. **decay pass** — `decay_pass` at a time when every stored score is due (a year later),
//!    next to reading the due rows through the same store call;
//! 3. **incremental scoring under ingestion** — API ingestion (`POST /api/v1/events`, as `bench
//!    events` sends it) with the scorer held off (the baseline), the scorer catching up alone,
//!    then ingestion with the scorer stepping as a serving process does (woken by each group
//!    of events written): events scored per second next to events ingested per second, and
//!    how far the scorer is behind when ingestion stops.
//!
//! The data set is built once per `--data-dir`: the leads of `bench events` (its loader, same
//! seed), then this module's history of events over the last two years, and a scoring model
//! on each product (the template and variations with caps, expiry, decay and fit rules).

use super::events::{self, api_load, database_megabytes, EventsBenchArgs, Format, Keys, World};
use super::report::{count, median};
use super::TempDir;
use crate::demo::{ensure_product, ensure_user};
use anyhow::{anyhow, bail, Context};
use hatake_domain::scoring::{Cap, DecayRule, EngagementRule, FitRule, PropertyMatch, ScoringModel, DAY_MS};
use hatake_domain::EventKind;
use hatake_engine::runtime::workers::ScorerWorker;
use hatake_engine::runtime::{Clock, Standard};
use hatake_engine::scoring::{self as engine, Models, Scorer};
use hatake_store::{NewEvent, Store};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seed of this bench's event history (the leads are those of `bench events`).
const SEED: u64 = 20_261_123;
const LEADS_MARKER: &str = "bench.scoring.leads";
const EVENTS_DONE: &str = "bench.scoring.preloaded";
/// Web visitors of the anonymous page views ("sv{n}").
const VISITORS: u64 = 500_000;
const PASSWORD: &str = "hatake-bench-2026";
const ADMIN_EMAIL: &str = "admin@hatake-bench.jp";
const PRODUCTS: &[(&str, &str)] =
    &[("erp", "クラウドERP"), ("kintai", "勤怠管理SaaS"), ("security", "セキュリティ診断")];
/// The holder of the scorer's lease while the bench runs the scorer itself (the server's
/// scorer then never takes it).
const HOLDER: &str = "bench-scoring";
/// Targets of issue 5.
const TARGET_RESCORE_S: f64 = 60.0;
const TARGET_DECAY_S: f64 = 5.0;

/// `hatake bench scoring`: full recomputation, decay pass and incremental scoring.
#[derive(Debug, Clone, clap::Args)]
pub struct ScoringBenchArgs {
    /// Leads to load (the events are spread over them).
    #[arg(long, default_value_t = 1_000_000)]
    pub leads: usize,
    /// Events stored before measuring.
    #[arg(long, default_value_t = 20_000_000)]
    pub events: usize,
    /// Data directory to use and keep (reused when it holds the same leads; events are added
    /// up to --events). Without it, a temporary directory is used and deleted at the end.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Rounds; the summary quotes medians over rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds of API ingestion per round, with the scorer held off and with it running.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Concurrent connections sending event batches.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Events per API request.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// Only these scenarios (comma-separated: rescore, decay, incremental; `load` only loads).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

impl ScoringBenchArgs {
    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

/// Runs the scoring benchmark and prints the results.
///
/// # Errors
/// When loading, scoring or serving fails.
pub async fn run(args: ScoringBenchArgs) -> anyhow::Result<()> {
    if [args.leads, args.events, args.rounds, args.concurrency, args.batch].contains(&0) || args.seconds == 0 {
        bail!("--leads, --events, --rounds, --seconds, --concurrency and --batch must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (dir, temp) = TempDir::or_given(args.data_dir.as_ref())?;
    println!(
        "hatake bench scoring: SQLite, {} leads, {} events stored first, 3 products, {cores} cores, {} rounds",
        count(args.leads),
        count(args.events),
        args.rounds
    );
    println!("data directory: {}{}", dir.display(), if temp.is_some() { " (temporary)" } else { "" });
    let store: Arc<dyn Store> = Arc::new(
        hatake_sqlite::SqliteStore::open(&dir)
            .await
            .with_context(|| format!("cannot open the SQLite database in {}", dir.display()))?,
    );
    let world = Arc::new(prepare(store.as_ref(), &args).await?);
    println!("database file: {} MB", database_megabytes(&dir));
    if args.only.iter().any(|s| s == "load") {
        return Ok(());
    }
    // The bench runs the scorer itself: hold its lease so that no server's scorer takes it.
    let now = hatake_web::now_millis();
    if !store.try_lease(engine::LEASE, HOLDER, now + 24 * 3_600_000, now).await? {
        bail!("another process holds the scorer's lease of this data directory");
    }
    let result = measure(&args, &world, &store).await;
    store.release_lease(engine::LEASE, HOLDER).await?;
    let rounds = result?;
    summary(&rounds, &args, cores, &world);
    println!("database file: {} MB", database_megabytes(&dir));
    Ok(())
}

async fn measure(args: &ScoringBenchArgs, world: &Arc<World>, store: &Arc<dyn Store>) -> anyhow::Result<Vec<Round>> {
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        println!();
        println!("round {}/{}", round + 1, args.rounds);
        let mut figures = Round::default();
        if args.runs("rescore") {
            rescore_round(store.as_ref(), &mut figures).await?;
        }
        if args.runs("decay") {
            if round > 0 && !args.runs("rescore") {
                // The last round's pass left every score as it will be in a year: each round
                // decays the same scores (recomputed for now, not timed).
                full_rescore(store.as_ref()).await?;
            }
            decay_round(store.as_ref(), &mut figures).await?;
        }
        rounds.push(figures);
    }
    if args.runs("decay") || args.runs("rescore") {
        // The decay pass left every score as it will be in a year: recompute them for now.
        let started = Instant::now();
        let (report, _) = full_rescore(store.as_ref()).await?;
        println!();
        println!("scores recomputed for now: {} rows in {:.1} s", count(report.rows), started.elapsed().as_secs_f64());
    }
    if args.runs("incremental") {
        incremental(args, world, store, &mut rounds).await?;
    }
    Ok(rounds)
}

// ---------------------------------------------------------------------------------------------
// Data.

pub(crate) async fn prepare(store: &dyn Store, args: &ScoringBenchArgs) -> anyhow::Result<World> {
    let companies = (args.leads / 20).max(1);
    let marker = format!("seed={SEED} leads={} companies={companies}", args.leads);
    let overview = store.overview().await?;
    let loaded = store.get_setting(LEADS_MARKER).await?;
    let reuse = loaded.as_deref() == Some(marker.as_str()) && overview.leads == args.leads as i64;
    if !reuse && (overview.leads > 0 || overview.accounts > 0) {
        bail!(
            "the data directory holds other data ({} leads; bench marker: {}); use an empty or new --data-dir",
            overview.leads,
            loaded.as_deref().unwrap_or("none")
        );
    }
    let now = hatake_web::now_millis();
    let hash = hatake_web::auth::hash_password(PASSWORD).map_err(|e| anyhow!("hashing failed: {e}"))?;
    let admin = ensure_user(store, ADMIN_EMAIL, "管理 太郎", "admin", PASSWORD, &hash, now).await?;
    let existing = store.list_products().await?;
    let mut products = Vec::new();
    for (code, name) in PRODUCTS {
        products.push(ensure_product(store, &existing, code, name, None, now).await?);
    }
    if reuse {
        println!("reusing the loaded leads ({})", count(args.leads));
    } else {
        events::load_leads(store, args.leads, companies, &products).await?;
        store.put_setting(LEADS_MARKER, &marker, hatake_web::now_millis()).await?;
    }
    let leads = args.leads as i64;
    if store.existing_lead_ids(&[1, leads]).await?.len() != 2 {
        bail!("the leads of the data directory are not numbered 1..={leads}; use a new --data-dir");
    }
    let sample = events::sample_leads(store, args.leads, companies, &products).await?;
    let done: usize = store.get_setting(EVENTS_DONE).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    if done < args.events {
        events::preload_events_with(store, done, args.events, leads, &products, EVENTS_DONE, history_event).await?;
    } else {
        println!("reusing the stored events ({}; --events {})", count(done), count(args.events));
    }
    // The models: saved again only when they differ (a new version makes the scorer recompute).
    let current = store.current_scoring_models().await?;
    for (product, model) in products.iter().zip(models()) {
        model.check(&[]).map_err(|e| anyhow!("a bench model does not pass its checks: {e:?}"))?;
        let stored = current.iter().find(|m| m.product_id == *product);
        if stored.and_then(|m| ScoringModel::from_json(&m.definition).ok()).as_ref() != Some(&model) {
            store.save_scoring_model(*product, &model.to_json(), Some(admin), now).await?;
        }
    }
    // Events sent during the rounds happen now (whole seconds), as live behaviour does.
    Ok(World { admin, products, leads, sample, events: done.max(args.events), window_ms: 0 })
}

/// The three products' models: the template with more rules (a product's pricing pages capped
/// and expiring, its seminars, a white paper, a form, a repeating decay, an industry); the
/// template with expiring mail opens, a campaign, case studies and a repeating decay; and a
/// model of its own that ignores events without a product.
fn models() -> Vec<ScoringModel> {
    let rule = |id: &str, kind: EventKind, points: i64| EngagementRule {
        id: id.into(),
        kind: kind.as_str().into(),
        points,
        ..Default::default()
    };
    let decay = |id: &str, kinds: &[EventKind], days: u32, points: i64| DecayRule {
        id: id.into(),
        label: None,
        kinds: kinds.iter().map(|k| k.as_str().to_owned()).collect(),
        days,
        points,
        repeat: true,
    };
    let fit = |id: &str, field: &str, points: i64| FitRule {
        id: id.into(),
        field: field.into(),
        points,
        ..Default::default()
    };
    let mut erp = ScoringModel::template();
    erp.engagement.extend([
        EngagementRule {
            url: Some("*/erp/pricing*".into()),
            cap: Some(Cap { times: 2, days: 7 }),
            expires_days: Some(90),
            ..rule("erp-pricing", EventKind::PageView, 15)
        },
        EngagementRule {
            name: Some("*erp*".into()),
            expires_days: Some(180),
            ..rule("erp-seminar", EventKind::SeminarAttendance, 20)
        },
        EngagementRule {
            property: Some(PropertyMatch { key: "asset".into(), value: "wp-erp-1".into() }),
            ..rule("erp-whitepaper", EventKind::Download, 15)
        },
        EngagementRule { form: Some(1), ..rule("demo-request", EventKind::FormSubmit, 30) },
    ]);
    erp.decay.push(decay("quiet-quarter", &[EventKind::PageView, EventKind::MailClick, EventKind::Download], 90, -5));
    erp.fit.push(FitRule { equals: vec!["製造業".into()], ..fit("manufacturing", "industry", 10) });

    let mut kintai = ScoringModel::template();
    kintai.engagement[0].expires_days = Some(60);
    kintai.engagement.extend([
        EngagementRule { campaign: Some("c3".into()), ..rule("campaign-c3", EventKind::MailClick, 10) },
        EngagementRule {
            url: Some("*/kintai/case-studies/*".into()),
            cap: Some(Cap { times: 5, days: 30 }),
            expires_days: Some(120),
            ..rule("case-study", EventKind::PageView, 5)
        },
    ]);
    kintai.decay[0].repeat = true;
    kintai.decay[0].days = 120;
    kintai.fit.push(FitRule {
        equals: vec!["東京都".into(), "大阪府".into(), "愛知県".into()],
        ..fit("metro", "prefecture", 5)
    });
    kintai.fit.push(FitRule { min: Some(1_000), ..fit("enterprise", "employee_count", 10) });

    let security = ScoringModel {
        include_unassigned: false,
        engagement: vec![
            EngagementRule {
                url: Some("*/security/*".into()),
                cap: Some(Cap { times: 3, days: 1 }),
                ..rule("page", EventKind::PageView, 5)
            },
            EngagementRule { expires_days: Some(365), ..rule("download", EventKind::Download, 20) },
            rule("registration", EventKind::SeminarRegistration, 10),
            EngagementRule {
                name: Some("*セキュリティ*".into()),
                expires_days: Some(180),
                ..rule("seminar", EventKind::SeminarAttendance, 25)
            },
            rule("booth", EventKind::ExhibitionVisit, 15),
            rule("call", EventKind::Call, 5),
            rule("meeting", EventKind::Meeting, 30),
        ],
        decay: vec![decay(
            "silence",
            &[EventKind::PageView, EventKind::Download, EventKind::SeminarAttendance, EventKind::Meeting],
            60,
            -10,
        )],
        fit: vec![
            FitRule {
                contains: vec!["CISO".into(), "情報システム".into(), "セキュリティ".into()],
                ..fit("security-role", "title", 15)
            },
            FitRule { equals: vec!["A".into()], ..fit("abm-a", "abm_tier", 10) },
        ],
        account: hatake_domain::scoring::AccountRollup { method: hatake_domain::scoring::RollupMethod::Max, top: None },
        allow_negative: false,
    };
    vec![erp, kintai, security]
}

/// Event `index` arriving now: the history's mix (see [`history_event`]), happened within the
/// last hour.
pub(crate) fn live_event(index: usize, world: &World, now: i64) -> NewEvent {
    let mut event = history_event(index, world.leads, &world.products, now);
    event.occurred_at = now - i64::try_from(index % 3_600_000).unwrap_or(0);
    event
}

/// Event `index` of the history: over the last two years; 12% anonymous page views of a web
/// visitor, 1% form submissions that link their visitor to the lead, the rest a lead's
/// behaviour, 35% of it for a product.
fn history_event(index: usize, leads: i64, products: &[i64], now: i64) -> NewEvent {
    let mut rng = SmallRng::seed_from_u64(SEED.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64);
    let occurred_at = now - rng.gen_range(0..2 * 365 * DAY_MS);
    let visitor = format!("sv{}", rng.gen_range(0..VISITORS));
    let draw = rng.gen_range(0..100);
    if draw < 12 {
        let code = PRODUCTS[rng.gen_range(0..PRODUCTS.len())].0;
        return NewEvent {
            kind: "page_view",
            lead_id: None,
            visitor_id: Some(visitor),
            product_id: None,
            occurred_at,
            source: Some("web".into()),
            name: None,
            properties: page(&mut rng, code),
            idempotency_key: None,
        };
    }
    let product = rng.gen_bool(0.35).then(|| rng.gen_range(0..products.len()));
    let code = PRODUCTS[product.unwrap_or_else(|| rng.gen_range(0..PRODUCTS.len()))].0;
    const KINDS: [(&str, u32); 11] = [
        ("page_view", 38),
        ("mail_open", 22),
        ("mail_click", 12),
        ("download", 8),
        ("form_submit", 4),
        ("seminar_registration", 4),
        ("seminar_attendance", 3),
        ("call", 3),
        ("exhibition_visit", 2),
        ("meeting", 2),
        ("custom", 2),
    ];
    let mut pick = rng.gen_range(0..100);
    let kind = if draw == 12 {
        "form_submit"
    } else {
        KINDS
            .iter()
            .find(|(_, w)| {
                pick < *w || {
                    pick -= w;
                    false
                }
            })
            .map_or("page_view", |(kind, _)| kind)
    };
    let topic = match code {
        "erp" => "ERP導入",
        "kintai" => "勤怠DX",
        _ => "セキュリティ対策",
    };
    let (name, properties) = match kind {
        "page_view" | "mail_click" => (None, page(&mut rng, code)),
        "download" => (None, format!("{{\"asset\":\"wp-{code}-{}\"}}", rng.gen_range(0..10))),
        "form_submit" => (
            None,
            format!("{{\"form_id\":{},\"url\":\"https://www.example.co.jp/{code}/contact\"}}", rng.gen_range(1..=5)),
        ),
        "seminar_registration" | "seminar_attendance" => (
            Some(format!("{topic}セミナー {}月", rng.gen_range(1..=12))),
            format!("{{\"campaign\":\"s{}\"}}", rng.gen_range(0..24)),
        ),
        "exhibition_visit" => (Some(format!("展示会 {}", rng.gen_range(1..=6))), "{}".to_owned()),
        "custom" => (Some("trial_login".to_owned()), "{}".to_owned()),
        _ => (None, format!("{{\"campaign\":\"c{}\"}}", rng.gen_range(0..20))),
    };
    NewEvent {
        kind,
        lead_id: Some(rng.gen_range(1..=leads)),
        visitor_id: (draw == 12).then_some(visitor),
        product_id: product.map(|p| products[p]),
        occurred_at,
        source: Some("bench".into()),
        name,
        properties,
        idempotency_key: Some(format!("score-{index:012}")),
    }
}

/// A page of the site: pricing (12%), features, case studies or the blog, with a campaign.
fn page(rng: &mut SmallRng, code: &str) -> String {
    let path = match rng.gen_range(0..100) {
        0..12 => format!("{code}/pricing"),
        12..42 => format!("{code}/features/f{}", rng.gen_range(0..20)),
        42..62 => format!("{code}/case-studies/{}", rng.gen_range(0..30)),
        _ => format!("blog/{}", rng.gen_range(0..200)),
    };
    let campaign = rng.gen_range(0..20);
    format!(
        "{{\"url\":\"https://www.example.co.jp/{path}?utm_source=mail&utm_campaign=c{campaign}\",\
         \"utm_campaign\":\"c{campaign}\",\"utm_source\":\"mail\"}}"
    )
}

// ---------------------------------------------------------------------------------------------
// Rounds.

#[derive(Debug, Clone, Copy, Default)]
struct Round {
    /// Reading every event through the recomputation's store call (s), and the events read.
    scan: f64,
    scan_events: u64,
    /// The recomputation (s), the leads and rows it wrote.
    rescore: f64,
    leads: u64,
    rows: u64,
    /// Reading the due rows (s), and the decay pass over them (s); rows and leads due.
    due_read: f64,
    decay: f64,
    due_rows: u64,
    due_leads: u64,
    /// API ingestion with the scorer held off (events/s).
    ingest_alone: f64,
    /// The scorer catching up with those events, nothing else running (events/s).
    catch_up: f64,
    /// API ingestion with the scorer running, and the events it scored meanwhile (events/s).
    ingest_scored: f64,
    scored: f64,
    /// The same after the first quarter of the run (the scorer's first steps are a start, not
    /// a pace): events appended and scored per second from then to the end of ingestion.
    steady_ingested: f64,
    steady_scored: f64,
    /// Events not scored yet after the first quarter.
    steady_lag: i64,
    /// Events not scored yet when ingestion stopped, and the time to score them (s).
    lag: i64,
    drain: f64,
}

/// The models in force and every product's recomputation up to the newest event.
async fn full_rescore(store: &dyn Store) -> anyhow::Result<(engine::RescoreReport, Models)> {
    let models = Models::load(store).await?;
    let up_to = store.max_event_id().await?;
    let now = hatake_web::now_millis();
    let report = engine::rescore(store, &models, &[], up_to, now, &|_| {}).await?;
    // As the scorer leaves it: the stored scores are of these versions, up to this event.
    store.put_setting(engine::SETTING_RESCORED, &serde_json::to_string(&models.versions())?, now).await?;
    // The recomputation read the leads' attributes and visitor links as they were when it began.
    let mut cursor = store.scoring_cursor().await?;
    cursor.event_id = up_to;
    cursor.states_at = up_to;
    (cursor.links_at, cursor.leads_at, cursor.accounts_at) = (now, now, now);
    store.set_scoring_cursor(&cursor, cursor.rewind_to).await?;
    Ok((report, models))
}

async fn rescore_round(store: &dyn Store, figures: &mut Round) -> anyhow::Result<()> {
    let up_to = store.max_event_id().await?;
    let started = Instant::now();
    let (mut after, mut events) = (0, 0u64);
    loop {
        let chunk = store.scoring_event_chunk(after, up_to, 200_000).await?;
        let Some(last) = chunk.events.last() else { break };
        after = last.id;
        events += chunk.events.len() as u64;
    }
    figures.scan = started.elapsed().as_secs_f64();
    figures.scan_events = events;
    println!(
        "  baseline: read every event (store call, no scoring)  {:>7.1} s  {} events ({} events/s)",
        figures.scan,
        count(events),
        count(per_second(events, figures.scan))
    );
    let started = Instant::now();
    let (report, _) = full_rescore(store).await?;
    figures.rescore = started.elapsed().as_secs_f64();
    (figures.leads, figures.rows) = (report.leads, report.rows);
    println!(
        "  full recomputation, 3 products                        {:>7.1} s  {} events, {} leads, {} rows ({} events/s)",
        figures.rescore,
        count(report.events),
        count(report.leads),
        count(report.rows),
        count(per_second(report.events, figures.rescore))
    );
    Ok(())
}

async fn decay_round(store: &dyn Store, figures: &mut Round) -> anyhow::Result<()> {
    let models = Models::load(store).await?;
    // A year and a month on, every score is due: the awards expire (a year at most) and each
    // model has a decay rule that repeats.
    let later = hatake_web::now_millis() + 400 * DAY_MS;
    let started = Instant::now();
    let (mut after, mut rows, mut leads, mut last_lead) = ((i64::MIN, i64::MIN), 0u64, 0u64, None);
    loop {
        let due = store.scores_due_after(later, after, 100_000).await?;
        let Some(last) = due.last() else { break };
        after = (last.lead_id, last.product_id);
        rows += due.len() as u64;
        for row in &due {
            if last_lead != Some(row.lead_id) {
                leads += 1;
                last_lead = Some(row.lead_id);
            }
        }
    }
    figures.due_read = started.elapsed().as_secs_f64();
    (figures.due_rows, figures.due_leads) = (rows, leads);
    println!(
        "  baseline: read the due rows (store call)              {:>7.1} s  {} rows of {} leads",
        figures.due_read,
        count(rows),
        count(leads)
    );
    let started = Instant::now();
    let changed = engine::decay_pass(store, &models, &mut engine::Held::default(), later).await?;
    figures.decay = started.elapsed().as_secs_f64();
    println!(
        "  decay pass, every score due                           {:>7.1} s  {} rows ({} rows/s)",
        figures.decay,
        count(changed),
        count(per_second(changed as u64, figures.decay))
    );
    Ok(())
}

/// One line: where the scorer's time went.
fn print_timings(timings: &engine::StepTimings) {
    let parts = [
        ("start", timings.start),
        ("events", timings.events),
        ("scores read", timings.scores),
        ("fold", timings.fold),
        ("write", timings.write),
        ("refold", timings.refold),
        ("fit", timings.fit),
        ("decay", timings.decay),
        ("qualify", timings.qualify),
        ("write back", timings.write_back),
        ("cursor", timings.cursor),
    ];
    let text: Vec<String> = parts.iter().map(|(name, d)| format!("{name} {:.2} s", d.as_secs_f64())).collect();
    println!("    scorer time over {} steps: {}", timings.steps, text.join(", "));
}

async fn behind(store: &dyn Store) -> anyhow::Result<(i64, i64)> {
    Ok((store.max_event_id().await?, store.scoring_cursor().await?.event_id))
}

async fn incremental(
    args: &ScoringBenchArgs,
    world: &Arc<World>,
    store: &Arc<dyn Store>,
    rounds: &mut [Round],
) -> anyhow::Result<()> {
    // The server's runtime runs the scorer only when the bench hands it one (under the bench's
    // name, which holds the scorer's lease).
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    let mut cx = hatake_engine::runtime::Context::new(store.clone(), Clock::system(), zone.clone());
    cx.holder = HOLDER.into();
    let served = crate::serve::Server::start_in(
        cx,
        hatake_web::WebConfig { secure_cookies: false, time_zone: "Asia/Tokyo".into(), ..Default::default() },
        Standard { scorer: false, ..Standard::default() },
    )?;
    let runtime = served.runtime.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(served.serve(listener, async move {
        let _ = stopped.await;
    }));
    let now = hatake_web::now_millis();
    let token = format!("{}{}", hatake_web::auth::API_TOKEN_PREFIX, hatake_web::auth::random_token());
    store
        .create_api_token("bench-scoring", &hatake_web::auth::token_hash(&token), &token[..10], world.admin, now)
        .await
        .context("creating the bench API token")?;
    let load_args = EventsBenchArgs {
        leads: args.leads,
        events: args.events,
        data_dir: None,
        seconds: args.seconds,
        rounds: args.rounds,
        concurrency: args.concurrency,
        batch: args.batch,
        hit_connections: 1,
        rate_connections: 1,
        no_wrk: true,
        only: Vec::new(),
    };
    let result: anyhow::Result<()> = async {
        let mut scorer = Scorer::new();
        let started = Instant::now();
        let first = engine::catch_up(store.as_ref(), &mut scorer, hatake_web::now_millis()).await?;
        println!();
        println!(
            "incremental: scorer brought up to the log first ({} events, {} rows recomputed) in {:.1} s",
            count(first.events),
            count(first.rescored),
            started.elapsed().as_secs_f64()
        );
        for (round, figures) in rounds.iter_mut().enumerate() {
            println!("round {}/{} (incremental)", round + 1, args.rounds);
            let run_id = hatake_web::now_millis();
            let alone =
                api_load(addr, &token, world.clone(), &load_args, Format::Ndjson, Keys::Ordered, round, run_id).await?;
            figures.ingest_alone = alone.per_second;
            println!(
                "  baseline: API ingestion, scorer held off           {:>10} events/s",
                count(alone.per_second as u64)
            );
            let (high, cursor) = behind(store.as_ref()).await?;
            let started = Instant::now();
            let caught = engine::catch_up(store.as_ref(), &mut scorer, hatake_web::now_millis()).await?;
            figures.catch_up = (high - cursor) as f64 / started.elapsed().as_secs_f64();
            println!(
                "  scorer catching up alone                           {:>10} events/s  ({} events in {:.1} s)",
                count(figures.catch_up as u64),
                count(high - cursor),
                started.elapsed().as_secs_f64()
            );
            print_timings(&caught.timings);
            let (_, cursor_before) = behind(store.as_ref()).await?;
            let started = Instant::now();
            let mut worker = ScorerWorker::from_scorer(scorer, zone.clone());
            worker.trace_steps = std::env::var_os("HATAKE_BENCH_STEPS").is_some();
            let task = runtime.spawn(worker);
            let quarter = {
                let store = store.clone();
                let wait = Duration::from_secs_f64(args.seconds as f64 / 4.0);
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let at = Instant::now();
                    behind(store.as_ref()).await.map(|b| (at, b))
                })
            };
            let with =
                api_load(addr, &token, world.clone(), &load_args, Format::Ndjson, Keys::Ordered, round, run_id + 1)
                    .await;
            let elapsed = started.elapsed().as_secs_f64();
            let (high, cursor_after) = behind(store.as_ref()).await?;
            let (at, (high_q, cursor_q)) = quarter.await.map_err(|e| anyhow!("sampling task failed: {e}"))??;
            let span = at.elapsed().as_secs_f64();
            figures.steady_ingested = (high - high_q) as f64 / span;
            figures.steady_scored = (cursor_after - cursor_q) as f64 / span;
            figures.steady_lag = high_q - cursor_q;
            let worker = task.stop(Duration::from_secs(120)).await.ok_or_else(|| anyhow!("the scorer did not stop"))?;
            eprintln!("    scorer worker read {} events", worker.events);
            let timings = worker.timings;
            scorer = worker.into_scorer();
            let with = with?;
            figures.ingest_scored = with.per_second;
            figures.scored = (cursor_after - cursor_before) as f64 / elapsed;
            figures.lag = high - cursor_after;
            let started = Instant::now();
            engine::catch_up(store.as_ref(), &mut scorer, hatake_web::now_millis()).await?;
            figures.drain = started.elapsed().as_secs_f64();
            println!(
                "  API ingestion with the scorer running              {:>10} events/s ingested, {} events/s scored",
                count(with.per_second as u64),
                count(figures.scored as u64)
            );
            println!(
                "  the same after the first quarter                   {:>10} events/s ingested, {} events/s scored",
                count(figures.steady_ingested as u64),
                count(figures.steady_scored as u64)
            );
            print_timings(&timings);
            println!("  behind after the first quarter                     {:>10} events", count(figures.steady_lag));
            println!(
                "  behind when ingestion stopped                      {:>10} events, scored {:.1} s later",
                count(figures.lag),
                figures.drain
            );
        }
        Ok(())
    }
    .await;
    let _ = stop_server.send(());
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("warning: the server stopped with an error: {e}"),
        Ok(Err(e)) => eprintln!("warning: the server task failed: {e}"),
        Err(_) => eprintln!("warning: the server did not stop within 10 s"),
    }
    result
}

fn per_second(n: u64, seconds: f64) -> u64 {
    (n as f64 / seconds.max(1e-9)).round() as u64
}

// ---------------------------------------------------------------------------------------------
// Summary.

fn summary(rounds: &[Round], args: &ScoringBenchArgs, cores: usize, world: &World) {
    let m = |pick: &dyn Fn(&Round) -> f64| median(&mut rounds.iter().map(pick).collect::<Vec<_>>());
    let verdict = |ok: bool| if ok { "**met**" } else { "missed" };
    let last = rounds.last().copied().unwrap_or_default();
    println!();
    println!(
        "summary: median of {} rounds; SQLite, {} leads, {} events stored first, 3 products, {cores} cores",
        rounds.len(),
        count(args.leads),
        count(world.events)
    );
    println!();
    println!("| measure | figure | baseline (same run) | target |");
    println!("|---|---:|---:|---|");
    if args.runs("rescore") {
        let rescore = m(&|r| r.rescore);
        println!(
            "| full recomputation (`rescore`, 3 products): {} events → {} rows of {} leads | **{rescore:.1} s** | reading every event {:.1} s | < {TARGET_RESCORE_S} s: {} |",
            count(last.scan_events),
            count(last.rows),
            count(last.leads),
            m(&|r| r.scan),
            verdict(rescore < TARGET_RESCORE_S)
        );
    }
    if args.runs("decay") {
        let decay = m(&|r| r.decay);
        println!(
            "| decay pass, every score due: {} rows of {} leads | **{decay:.1} s** | reading the due rows {:.1} s | < {TARGET_DECAY_S} s: {} |",
            count(last.due_rows),
            count(last.due_leads),
            m(&|r| r.due_read),
            verdict(decay < TARGET_DECAY_S)
        );
    }
    if args.runs("incremental") {
        let (ingested, scored) = (m(&|r| r.steady_ingested), m(&|r| r.steady_scored));
        println!(
            "| incremental: events scored/s while the API ingests ({} conn., {} per request; {} s, after the first quarter) | **{}** scored/s, {} ingested/s | API alone {} events/s; scorer alone {} events/s | keeps up: {} |",
            args.concurrency,
            count(args.batch),
            args.seconds,
            count(scored as u64),
            count(ingested as u64),
            count(m(&|r| r.ingest_alone) as u64),
            count(m(&|r| r.catch_up) as u64),
            verdict(scored >= 0.95 * ingested)
        );
        println!(
            "| incremental: the same over the whole run (with the scorer's start) | {} scored/s, {} ingested/s | | |",
            count(m(&|r| r.scored) as u64),
            count(m(&|r| r.ingest_scored) as u64),
        );
        println!(
            "| incremental: behind after the first quarter, and when ingestion stopped | {} events, then {} events (scored {:.1} s later) | | |",
            count(m(&|r| r.steady_lag as f64) as u64),
            count(m(&|r| r.lag as f64) as u64),
            m(&|r| r.drain)
        );
    }
}
