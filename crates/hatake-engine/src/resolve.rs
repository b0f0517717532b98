//! Name-matching against the store: a batch of incoming records becomes a
//! [`ResolutionPlan`] (creates, merges, unchanged confirmations, review questions) that the
//! store writes in one transaction.
//!
//! Candidates come from the store by blocking key and e-mail for the whole batch at once;
//! records of the same batch are matched against each other in memory, so a file that lists
//! one person twice yields one lead.

use hatake_domain::matching::lead::decide;
use hatake_domain::matching::merge::combine;
use hatake_domain::matching::{Decision, LeadFeatures};
use hatake_domain::{LeadData, RequiredFieldSet};
use hatake_store::{
    LeadRef, LeadSnapshot, Outcome, PlannedCreate, PlannedReview, PlannedUpdate, ResolutionPlan, SourceRecord, Store,
    StoreResult,
};
use std::collections::{HashMap, HashSet};

/// Stored leads sharing one key beyond this many are not candidates for it (a very common
/// name alone says little, and comparing against all of them would be slow).
pub const MAX_CANDIDATES_PER_KEY: usize = 50;

/// One incoming record.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub data: LeadData,
    pub line: Option<i64>,
    pub channel: &'static str,
    pub source: Option<String>,
    /// JSON object of the fields as they arrived.
    pub fields: String,
}

/// What became of each incoming record, in input order, with the lead it resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub outcome: Outcome,
    pub lead: LeadRef,
}

struct Target {
    /// Fingerprints of the records this lead has taken already.
    fingerprints: HashSet<String>,
    data: LeadData,
    features: LeadFeatures,
    /// For a stored lead: the index of its planned update once it has one.
    update: Option<usize>,
    snapshot: Option<LeadSnapshot>,
}

/// Resolves a batch against the store and returns the plan to write with each record's fate.
///
/// # Errors
/// A store error while looking up candidates.
pub async fn plan_batch<S: Store + ?Sized>(
    store: &S,
    incoming: Vec<Incoming>,
    required: &RequiredFieldSet,
) -> StoreResult<(ResolutionPlan, Vec<Resolved>)> {
    let features: Vec<LeadFeatures> = incoming.iter().map(|i| LeadFeatures::new(&i.data)).collect();
    let mut keys: Vec<String> = features.iter().flat_map(|f| f.keys.iter().cloned()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut emails: Vec<String> = features.iter().filter_map(|f| f.email.clone()).collect();
    emails.sort_unstable();
    emails.dedup();
    let stored = store.match_candidates(&keys, &emails, MAX_CANDIDATES_PER_KEY).await?;
    let ids: Vec<i64> = stored.iter().map(|r| r.id).collect();
    let mut fingerprints: HashMap<i64, HashSet<String>> = HashMap::new();
    for (lead, print) in store.source_fingerprints(&ids).await? {
        fingerprints.entry(lead).or_default().insert(print);
    }

    let mut targets: HashMap<LeadRef, Target> = HashMap::new();
    let mut by_key: HashMap<String, Vec<LeadRef>> = HashMap::new();
    let mut by_email: HashMap<String, LeadRef> = HashMap::new();
    let remember = |lead: LeadRef,
                    features: &LeadFeatures,
                    by_key: &mut HashMap<String, Vec<LeadRef>>,
                    by_email: &mut HashMap<String, LeadRef>| {
        for key in &features.keys {
            let list = by_key.entry(key.clone()).or_default();
            if !list.contains(&lead) {
                list.push(lead);
            }
        }
        if let Some(email) = &features.email {
            by_email.entry(email.clone()).or_insert(lead);
        }
    };
    for row in stored {
        let Ok(data) = LeadSnapshot::of(&row).data() else { continue };
        let lead = LeadRef::Existing(row.id);
        let features = LeadFeatures::new(&data);
        remember(lead, &features, &mut by_key, &mut by_email);
        let prints = fingerprints.remove(&row.id).unwrap_or_default();
        targets.insert(
            lead,
            Target { fingerprints: prints, data, features, update: None, snapshot: Some(LeadSnapshot::of(&row)) },
        );
    }

    let mut plan = ResolutionPlan::default();
    let mut resolved = Vec::with_capacity(incoming.len());
    for (record, features) in incoming.into_iter().zip(features) {
        let mut candidates: Vec<LeadRef> = Vec::new();
        if let Some(lead) = features.email.as_ref().and_then(|e| by_email.get(e)) {
            candidates.push(*lead);
        }
        for key in &features.keys {
            for lead in by_key.get(key).map(Vec::as_slice).unwrap_or_default() {
                if !candidates.contains(lead) {
                    candidates.push(*lead);
                }
            }
        }
        let print = hatake_store::fingerprint(record.channel, record.source.as_deref(), &record.fields);
        // The very same record taken before (a file imported twice): nothing to do.
        if let Some(lead) = candidates.iter().find(|c| targets[*c].fingerprints.contains(&print)) {
            let outcome = SourceRecord {
                line: record.line,
                channel: record.channel,
                source: record.source.clone(),
                outcome: Outcome::Unchanged,
                fields: record.fields.clone(),
                fingerprint: print,
                before: None,
            };
            match *lead {
                LeadRef::Existing(id) => plan.unchanged.push((id, outcome)),
                LeadRef::Planned(index) => plan.creates[index].sources.push(outcome),
            }
            resolved.push(Resolved { outcome: Outcome::Unchanged, lead: *lead });
            continue;
        }
        let candidate_features: Vec<&LeadFeatures> = candidates.iter().map(|c| &targets[c].features).collect();
        let decision = decide(&features, &candidate_features);
        let source = |outcome: Outcome, before: Option<LeadSnapshot>| SourceRecord {
            line: record.line,
            channel: record.channel,
            source: record.source.clone(),
            outcome,
            fields: record.fields.clone(),
            fingerprint: print.clone(),
            before,
        };
        match decision {
            Decision::Merge { index, .. } => {
                let lead = candidates[index];
                let target = targets.get_mut(&lead).expect("candidates are targets");
                target.fingerprints.insert(print.clone());
                let combined = combine(&target.data, &record.data);
                if combined == target.data {
                    let outcome = source(Outcome::Unchanged, None);
                    match lead {
                        LeadRef::Existing(id) => plan.unchanged.push((id, outcome)),
                        LeadRef::Planned(index) => plan.creates[index].sources.push(outcome),
                    }
                    resolved.push(Resolved { outcome: Outcome::Unchanged, lead });
                    continue;
                }
                let is_lead = required.is_lead(&combined);
                match (lead, target.update) {
                    (LeadRef::Planned(index), _) => {
                        let create = &mut plan.creates[index];
                        create.data = combined.clone();
                        create.is_lead = is_lead;
                        create.sources.push(source(Outcome::Merged, None));
                    }
                    (LeadRef::Existing(_), Some(index)) => {
                        let update = &mut plan.updates[index];
                        update.data = combined.clone();
                        update.is_lead = is_lead;
                        update.sources.push(source(Outcome::Merged, None));
                    }
                    (LeadRef::Existing(id), None) => {
                        target.update = Some(plan.updates.len());
                        plan.updates.push(PlannedUpdate {
                            id,
                            data: combined.clone(),
                            is_lead,
                            sources: vec![source(Outcome::Merged, target.snapshot.clone())],
                        });
                    }
                }
                target.features = LeadFeatures::new(&combined);
                target.data = combined;
                let features = target.features.clone();
                remember(lead, &features, &mut by_key, &mut by_email);
                resolved.push(Resolved { outcome: Outcome::Merged, lead });
            }
            Decision::Review { candidates: similar } => {
                let lead = LeadRef::Planned(plan.creates.len());
                for (index, comparison) in similar {
                    plan.reviews.push(PlannedReview {
                        lead,
                        candidate: candidates[index],
                        score: comparison.score,
                        evidence: serde_json::to_string(&comparison.evidence).unwrap_or_default(),
                    });
                }
                create(&mut plan, &mut targets, record.data, features, required, source(Outcome::Review, None));
                let features = targets[&lead].features.clone();
                remember(lead, &features, &mut by_key, &mut by_email);
                resolved.push(Resolved { outcome: Outcome::Review, lead });
            }
            Decision::New => {
                let lead = LeadRef::Planned(plan.creates.len());
                create(&mut plan, &mut targets, record.data, features, required, source(Outcome::Created, None));
                let features = targets[&lead].features.clone();
                remember(lead, &features, &mut by_key, &mut by_email);
                resolved.push(Resolved { outcome: Outcome::Created, lead });
            }
        }
    }
    Ok((plan, resolved))
}

fn create(
    plan: &mut ResolutionPlan,
    targets: &mut HashMap<LeadRef, Target>,
    data: LeadData,
    features: LeadFeatures,
    required: &RequiredFieldSet,
    source: SourceRecord,
) {
    let lead = LeadRef::Planned(plan.creates.len());
    let fingerprints = HashSet::from([source.fingerprint.clone()]);
    plan.creates.push(PlannedCreate { is_lead: required.is_lead(&data), data: data.clone(), sources: vec![source] });
    targets.insert(lead, Target { fingerprints, data, features, update: None, snapshot: None });
}
