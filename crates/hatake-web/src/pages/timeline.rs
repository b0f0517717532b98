//! The activity timeline of a lead or of an account's people (`timeline.html`): events newest
//! first, filtered by kind and product, a page at a time.

use hatake_store::{EventRow, ProductRow, Store, StoreError};
use minijinja::context;
use serde::Deserialize;

/// Events shown per timeline page.
pub const TIMELINE_PAGE: usize = 50;

/// The timeline's part of a page's query: an event kind, a product id, and `occurred_at.id` of
/// the last event shown. Values that mean nothing are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct TimelineParams {
    event_kind: Option<String>,
    event_product: Option<String>,
    events_before: Option<String>,
}

/// Whose timeline.
#[derive(Debug, Clone, Copy)]
pub enum Of {
    Lead(i64),
    /// The account's people, each event naming its lead.
    Account(i64),
}

/// The timeline's template context (see `timeline.html`).
///
/// # Errors
/// A store error.
pub async fn timeline(
    store: &dyn Store,
    of: Of,
    flash: &TimelineParams,
    products: &[ProductRow],
    locale: &str,
) -> Result<minijinja::Value, StoreError> {
    use hatake_domain::EventKind;
    let label = |kind: EventKind| if locale == "en" { kind.label_en() } else { kind.label_ja() };
    let kind = flash.event_kind.as_deref().and_then(EventKind::parse);
    let product = flash.event_product.as_deref().and_then(|p| p.parse::<i64>().ok());
    let before = flash.events_before.as_deref().and_then(|b| {
        let (at, id) = b.split_once('.')?;
        Some((at.parse().ok()?, id.parse().ok()?))
    });
    let query = hatake_store::EventQuery {
        kind: kind.map(|k| k.as_str().to_owned()),
        product_id: product,
        before,
        limit: i64::try_from(TIMELINE_PAGE + 1).unwrap_or(i64::MAX),
    };
    let mut rows: Vec<EventRow> = match of {
        Of::Lead(id) => store.lead_events(id, &query).await?,
        Of::Account(id) => store.account_events(id, &query).await?,
    };
    let more = rows.len() > TIMELINE_PAGE;
    rows.truncate(TIMELINE_PAGE);
    let next = rows.last().filter(|_| more).map(|last| {
        let mut next = format!("events_before={}.{}", last.occurred_at, last.id);
        if let Some(kind) = kind {
            next.push_str(&format!("&event_kind={}", kind.as_str()));
        }
        if let Some(product) = product {
            next.push_str(&format!("&event_product={product}"));
        }
        next
    });
    // On an account's timeline each event names its person (an anonymous visit: the person the
    // visitor turned out to be).
    let mut person_of: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    let mut names: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    if let Of::Account(_) = of {
        let visitors: Vec<String> =
            rows.iter().filter(|e| e.lead_id.is_none()).filter_map(|e| e.visitor_id.clone()).collect();
        let linked: std::collections::HashMap<String, i64> =
            store.visitor_leads(&visitors).await?.into_iter().collect();
        for event in &rows {
            let lead = event.lead_id.or_else(|| event.visitor_id.as_ref().and_then(|v| linked.get(v).copied()));
            if let Some(lead) = lead {
                person_of.insert(event.id, lead);
            }
        }
        let mut ids: Vec<i64> = person_of.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        names = store.leads_by_ids(&ids).await?.into_iter().map(|lead| (lead.id, lead.full_name())).collect();
    }
    let labelled = super::labels::Names::load(store).await?;
    let events: Vec<minijinja::Value> = rows
        .iter()
        .map(|e| {
            let kind = EventKind::parse(&e.kind);
            let properties = super::labels::properties(&e.properties, &labelled, locale);
            context! {
                at => e.occurred_at,
                kind => e.kind,
                label => kind.map_or(e.kind.as_str(), label),
                name => e.name,
                source => e.source.as_deref().map(|s| super::labels::source_label(s, &labelled, locale)),
                product => e.product_id.and_then(|p| products.iter().find(|row| row.id == p)).map(|row| row.name.clone()),
                properties => properties,
                lead_id => person_of.get(&e.id),
                lead_name => person_of.get(&e.id).and_then(|id| names.get(id)),
            }
        })
        .collect();
    let kinds: Vec<minijinja::Value> =
        EventKind::ALL.iter().map(|k| context! { key => k.as_str(), label => label(*k) }).collect();
    Ok(context! {
        events => events,
        kinds => kinds,
        kind => kind.map(EventKind::as_str),
        products => products.iter().map(|p| context! { id => p.id, name => p.name }).collect::<Vec<_>>(),
        product => product,
        // The page's path is put together in the template (escaping would spell its slashes out).
        section => match of {
            Of::Lead(_) => "leads",
            Of::Account(_) => "accounts",
        },
        owner => match of {
            Of::Lead(id) | Of::Account(id) => id,
        },
        filtered => kind.is_some() || product.is_some() || before.is_some(),
        next => next,
    })
}
