//! `hatake rescore`: recompute scores from the event log.

use crate::config::{self, ServeArgs, StoreArgs};
use anyhow::{bail, Context};
use hatake_engine::scoring::{self, Models, Scorer, LEASE};
use std::io::Write;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct RescoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this product (its code); repeat for several. All products with a model by default.
    #[arg(long = "product", value_name = "CODE")]
    pub products: Vec<String>,
}

/// Recomputes every score of the chosen products from the event log. When a running server
/// holds the scorer's lease, it is asked to do it at its next step instead.
///
/// # Errors
/// When the database cannot be opened, a product code is unknown or has no model.
pub async fn run(args: RescoreArgs, default_dir: &str) -> anyhow::Result<()> {
    let settings = config::resolve(&args.store, &ServeArgs::default(), default_dir)?;
    let store = crate::open_store(&settings.database).await?;
    let store = store.as_ref();
    let catalog = store.list_products().await?;
    let models = Models::load(store).await?;
    let mut products = Vec::new();
    for code in &args.products {
        let code = code.trim().to_lowercase();
        let Some(product) = catalog.iter().find(|p| p.code == code) else {
            let known: Vec<&str> = catalog.iter().map(|p| p.code.as_str()).collect();
            bail!("no product has the code {code:?} (products: {})", known.join(", "));
        };
        if models.get(product.id).is_none() {
            bail!("the product {code:?} has no scoring model yet: make one under スコアリング first");
        }
        products.push(product.id);
    }
    if models.models.is_empty() {
        println!("No product has a scoring model yet: nothing to recompute.");
        return Ok(());
    }
    let holder = format!("rescore-{}", std::process::id());
    let now = scoring::now_millis();
    if !store.try_lease(LEASE, &holder, now + 3_600_000, now).await? {
        scoring::request_rescore(store, &products, now).await?;
        println!("A running hatake server keeps the scores; it was asked to recompute them at its next step.");
        return Ok(());
    }
    let result = async {
        // Bring every score up to the log first, then recompute the chosen products up to it.
        let mut scorer = Scorer::new();
        scoring::catch_up(store, &mut scorer, now).await.context("catching up with the event log")?;
        let up_to = store.scoring_cursor().await?.event_id;
        let started = Instant::now();
        let progress = |events: u64| {
            let _ = write!(std::io::stderr(), "\r{events} events read …");
        };
        let report = scoring::rescore(store, scorer.models(), &products, up_to, now, &progress).await?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!();
        println!(
            "Recomputed {} scores of {} leads from {} events in {seconds:.1} s ({:.0} events/s).",
            report.rows,
            report.leads,
            report.events,
            report.events as f64 / seconds.max(0.001)
        );
        anyhow::Ok(())
    }
    .await;
    store.release_lease(LEASE, &holder).await?;
    result
}
