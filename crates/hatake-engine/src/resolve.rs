//! Name-matching against the store: batches of incoming records become
//! [`ResolutionPlan`]s (creates, merges, unchanged confirmations, review questions) that the
//! store writes one transaction per batch.
//!
//! A [`Resolver`] lives for a whole import. It remembers the matching features of every lead
//! it has seen (read from the store as a candidate, or written by an earlier batch), so later
//! batches compare against them in memory instead of reading them again; the store is asked
//! only for candidates it has not seen yet. Each batch is decided in two passes: first every
//! record is compared (features only), then the stored leads that records merge into are read
//! once and combined in file order.
//!
//! An import plans batch *n*+1 while batch *n* is being written ([`Resolver::plan_ahead`]):
//! the leads a batch creates are known to the resolver under provisional ids (negative, in
//! creation order) until the store has given them their ids, and a plan that refers to them is
//! completed with [`Resolver::finalize`] once the batches before it are written. The values of
//! every lead the import created or changed are kept, so a later batch merges into the newest
//! values without reading them back.

use hatake_domain::matching::lead::{decide, is_role_address};
use hatake_domain::matching::merge::combine;
use hatake_domain::matching::{key_hash, Comparison, Decision, LeadFeatures};
use hatake_domain::{LeadData, RequiredFieldSet};
use hatake_store::{
    fingerprint, LeadRef, LeadSnapshot, Outcome, PlannedCreate, PlannedReview, PlannedUpdate, ResolutionPlan,
    SourceRecord, Store, StoreError, StoreResult,
};
// The resolver hashes millions of short keys: a fast hasher (no protection against chosen
// collisions is needed for an import's own data).
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

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

/// A stored lead as the resolver remembers it.
struct Known {
    features: LeadFeatures,
    fingerprints: HashSet<u64>,
}

/// A lead this batch will create.
struct Planned {
    features: LeadFeatures,
    fingerprints: HashSet<u64>,
}

/// What pass one decided for a record.
enum Step {
    Unchanged(LeadRef),
    /// Merge into a lead this batch creates (already combined in pass one).
    MergedPlanned(usize),
    /// Merge into a stored lead (combined in pass two).
    MergeStored(i64, Box<LeadData>),
    Created(usize),
    Review(usize),
}

/// Matches records against the store and against each other, batch after batch.
pub struct Resolver {
    required: RequiredFieldSet,
    known: HashMap<i64, Known>,
    /// Leads by blocking key, under the key's hash as the store keeps it ([`key_hash`]).
    by_key: HashMap<i64, Vec<i64>>,
    by_email: HashMap<String, i64>,
    /// Role addresses (`info@…`, not an identity) by the lead that holds each: colleagues may
    /// share one, but the store keeps an address on one lead only.
    role_holders: HashMap<String, i64>,
    /// Creates planned in earlier batches: the next create's provisional id is
    /// `provisional(created_before)`.
    created_before: usize,
    /// The store's ids of the creates written so far, by creation order.
    real_ids: Vec<i64>,
    /// The provisional id of each lead this resolver created, by its stored id (the store
    /// reports them as candidates under their stored ids).
    alias: HashMap<i64, i64>,
    /// The current values of the leads this resolver created or changed, by resolver id.
    latest: HashMap<i64, LeadData>,
    /// Whether the store held no lead when the resolver started: then every candidate is one
    /// the resolver wrote itself and remembers, and the store need not be asked.
    started_empty: bool,
}

impl Resolver {
    pub fn new(required: RequiredFieldSet) -> Self {
        Self {
            required,
            known: HashMap::new(),
            by_key: HashMap::new(),
            by_email: HashMap::new(),
            role_holders: HashMap::new(),
            created_before: 0,
            real_ids: Vec::new(),
            alias: HashMap::new(),
            latest: HashMap::new(),
            started_empty: false,
        }
    }

    /// A resolver for a long run of batches (an import). It notes whether the store is empty,
    /// which spares it every candidate query when it is (leads other writers add during the
    /// run are then not matched against; the import is their only writer in practice).
    ///
    /// # Errors
    /// A store error.
    pub async fn for_import<S: Store + ?Sized>(store: &S, required: RequiredFieldSet) -> StoreResult<Self> {
        let mut resolver = Self::new(required);
        resolver.started_empty = store.max_lead_id().await? == 0;
        Ok(resolver)
    }

    /// Remembers a lead's features and fingerprints; returns its keys' hashes (the resolver
    /// and the store keep only those).
    fn remember(&mut self, id: i64, mut features: LeadFeatures, fingerprints: HashSet<u64>) -> Vec<i64> {
        let keys = features.key_hashes();
        features.keys = Vec::new();
        for key in &keys {
            let list = self.by_key.entry(*key).or_default();
            if !list.contains(&id) {
                list.push(id);
            }
        }
        if let Some(email) = &features.email {
            if !self.by_email.contains_key(email) {
                self.by_email.insert(email.clone(), id);
            }
        }
        match self.known.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut known) => {
                let known = known.get_mut();
                known.features = features;
                known.fingerprints.extend(fingerprints);
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(Known { features, fingerprints });
            }
        }
        keys
    }

    /// Reads the stored candidates of a batch that the resolver has not seen yet, and who holds
    /// the role addresses the batch names.
    async fn load_candidates<S: Store + ?Sized>(
        &mut self,
        store: &S,
        features: &[LeadFeatures],
        role_addresses: Vec<String>,
    ) -> StoreResult<()> {
        if self.started_empty {
            return Ok(());
        }
        let unknown: Vec<String> = role_addresses.into_iter().filter(|e| !self.role_holders.contains_key(e)).collect();
        if !unknown.is_empty() {
            for (email, id) in store.lead_ids_by_email(&unknown).await? {
                let id = self.alias.get(&id).copied().unwrap_or(id);
                self.role_holders.entry(email).or_insert(id);
            }
        }
        let mut keys: Vec<i64> = features.iter().flat_map(LeadFeatures::key_hashes).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut emails: Vec<String> = features.iter().filter_map(|f| f.email.clone()).collect();
        emails.sort_unstable();
        emails.dedup();
        let ids = store.match_candidate_ids(&keys, &emails, MAX_CANDIDATES_PER_KEY).await?;
        // A lead this resolver created is known under its provisional id.
        let unseen: Vec<i64> =
            ids.into_iter().filter(|id| !self.alias.contains_key(id) && !self.known.contains_key(id)).collect();
        if unseen.is_empty() {
            return Ok(());
        }
        let mut prints: HashMap<i64, HashSet<u64>> = HashMap::new();
        for (lead, print) in store.source_fingerprints(&unseen).await? {
            prints.entry(lead).or_default().insert(print_key(&print));
        }
        for row in store.leads_by_ids(&unseen).await? {
            let Ok(data) = LeadSnapshot::of(&row).data() else { continue };
            self.remember(row.id, LeadFeatures::new(&data), prints.remove(&row.id).unwrap_or_default());
        }
        Ok(())
    }

    /// Resolves one batch: the plan to write and each record's fate, in input order.
    ///
    /// # Errors
    /// A store error while reading candidates.
    pub async fn plan<S: Store + ?Sized>(
        &mut self,
        store: &S,
        incoming: Vec<Incoming>,
    ) -> StoreResult<(ResolutionPlan, Vec<Resolved>)> {
        let prepared = incoming
            .into_iter()
            .map(|i| {
                let features = LeadFeatures::new(&i.data);
                (i, features)
            })
            .collect();
        self.plan_prepared(store, prepared).await
    }

    /// [`Resolver::plan`] for records whose features are computed already (by the import's
    /// reading thread). The batches planned before must have been written.
    ///
    /// # Errors
    /// A store error while reading candidates.
    pub async fn plan_prepared<S: Store + ?Sized>(
        &mut self,
        store: &S,
        prepared: Vec<(Incoming, LeadFeatures)>,
    ) -> StoreResult<(ResolutionPlan, Vec<Resolved>)> {
        let (mut plan, mut resolved) = self.plan_ahead(store, prepared).await?;
        self.finalize(&mut plan, &mut resolved)?;
        Ok((plan, resolved))
    }

    /// Plans a batch while the one before may still be being written: the plan can refer to
    /// leads of earlier batches by provisional id, and must go through [`Resolver::finalize`]
    /// once those batches are written ([`Resolver::committed`]).
    ///
    /// # Errors
    /// A store error while reading candidates.
    pub async fn plan_ahead<S: Store + ?Sized>(
        &mut self,
        store: &S,
        prepared: Vec<(Incoming, LeadFeatures)>,
    ) -> StoreResult<(ResolutionPlan, Vec<Resolved>)> {
        let (incoming, features): (Vec<Incoming>, Vec<LeadFeatures>) = prepared.into_iter().unzip();
        let mut role_addresses: Vec<String> = incoming
            .iter()
            .filter_map(|i| i.data.email.as_ref().map(|e| e.as_str()))
            .filter(|e| is_role_address(e))
            .map(str::to_owned)
            .collect();
        role_addresses.sort_unstable();
        role_addresses.dedup();
        self.load_candidates(store, &features, role_addresses).await?;

        // Pass one: compare, on features only.
        let mut plan = ResolutionPlan::default();
        let mut planned: Vec<Planned> = Vec::new();
        let mut planned_by_key: HashMap<i64, Vec<usize>> = HashMap::new();
        let mut planned_by_email: HashMap<String, usize> = HashMap::new();
        let mut steps: Vec<(Step, SourceRecord)> = Vec::with_capacity(incoming.len());
        for (record, features) in incoming.into_iter().zip(features) {
            let Incoming { data, line, channel, source, fields } = record;
            let print = fingerprint(channel, source.as_deref(), &fields);
            let print_key = print_key(&print);
            let mut candidates: Vec<LeadRef> = Vec::new();
            let mut add = |lead: LeadRef| {
                if !candidates.contains(&lead) {
                    candidates.push(lead);
                }
            };
            if let Some(email) = &features.email {
                if let Some(id) = self.by_email.get(email) {
                    add(LeadRef::Existing(*id));
                }
                if let Some(index) = planned_by_email.get(email) {
                    add(LeadRef::Planned(*index));
                }
            }
            // As in the store, a key shared by very many leads is no block: comparing with all
            // of them would make a large import quadratic.
            for key in &features.keys {
                let hash = key_hash(key);
                let known = self.by_key.get(&hash).map(Vec::as_slice).unwrap_or_default();
                let planned_here = planned_by_key.get(&hash).map(Vec::as_slice).unwrap_or_default();
                if known.len() + planned_here.len() > MAX_CANDIDATES_PER_KEY {
                    continue;
                }
                for id in known {
                    add(LeadRef::Existing(*id));
                }
                for index in planned_here {
                    add(LeadRef::Planned(*index));
                }
            }
            let source = move |outcome: Outcome| SourceRecord {
                line,
                channel,
                source,
                outcome,
                fields,
                fingerprint: print,
                before: None,
            };
            let seen_before = candidates.iter().find(|c| match c {
                LeadRef::Existing(id) => self.known[id].fingerprints.contains(&print_key),
                LeadRef::Planned(index) => planned[*index].fingerprints.contains(&print_key),
            });
            // The very same record taken before (a file imported twice): nothing to do.
            if let Some(lead) = seen_before {
                steps.push((Step::Unchanged(*lead), source(Outcome::Unchanged)));
                continue;
            }
            let candidate_features: Vec<&LeadFeatures> = candidates
                .iter()
                .map(|c| match c {
                    LeadRef::Existing(id) => &self.known[id].features,
                    LeadRef::Planned(index) => &planned[*index].features,
                })
                .collect();
            let decision = decide(&features, &candidate_features);
            let mut index_planned = |index: usize, features: &LeadFeatures| {
                for key in &features.keys {
                    let list = planned_by_key.entry(key_hash(key)).or_default();
                    if !list.contains(&index) {
                        list.push(index);
                    }
                }
                if let Some(email) = &features.email {
                    planned_by_email.entry(email.clone()).or_insert(index);
                }
            };
            match decision {
                Decision::Merge { index, .. } => match candidates[index] {
                    LeadRef::Planned(target) => {
                        let create = &mut plan.creates[target];
                        let combined = combine(&create.data, &data);
                        let outcome = if combined == create.data { Outcome::Unchanged } else { Outcome::Merged };
                        create.is_lead = self.required.is_lead(&combined);
                        let combined_features = LeadFeatures::new(&combined);
                        index_planned(target, &combined_features);
                        create.data = combined;
                        planned[target].features = combined_features;
                        planned[target].fingerprints.insert(print_key);
                        steps.push((Step::MergedPlanned(target), source(outcome)));
                    }
                    LeadRef::Existing(id) => {
                        if let Some(known) = self.known.get_mut(&id) {
                            known.fingerprints.insert(print_key);
                            // The lead takes the record's address if it has none: the next
                            // record of that address, in this batch too, finds it.
                            if let (None, Some(email)) = (&known.features.email, &features.email) {
                                known.features.adopt_email(email);
                                self.by_email.entry(email.clone()).or_insert(id);
                            }
                        }
                        steps.push((Step::MergeStored(id, Box::new(data)), source(Outcome::Merged)));
                    }
                },
                Decision::Review { candidates: similar } => {
                    let index = create(&mut plan, &mut planned, data, features, &self.required, print_key);
                    index_planned(index, &planned[index].features);
                    for (candidate, comparison) in similar {
                        plan.reviews.push(review(LeadRef::Planned(index), candidates[candidate], &comparison));
                    }
                    steps.push((Step::Review(index), source(Outcome::Review)));
                }
                Decision::New => {
                    let index = create(&mut plan, &mut planned, data, features, &self.required, print_key);
                    index_planned(index, &planned[index].features);
                    steps.push((Step::Created(index), source(Outcome::Created)));
                }
            }
        }

        // Pass two: read the stored leads that records merge into, and combine in file order.
        // The leads this resolver created or changed before are current in memory (and may not
        // be written yet); undoing the import restores them from their first change.
        let mut current: HashMap<i64, (LeadData, Option<LeadSnapshot>)> = HashMap::new();
        let mut merge_ids: Vec<i64> = Vec::new();
        for (step, _) in &steps {
            if let Step::MergeStored(id, _) = step {
                match self.latest.get(id) {
                    Some(data) => {
                        current.entry(*id).or_insert_with(|| (data.clone(), None));
                    }
                    None => merge_ids.push(*id),
                }
            }
        }
        merge_ids.sort_unstable();
        merge_ids.dedup();
        for row in store.leads_by_ids(&merge_ids).await? {
            let snapshot = LeadSnapshot::of(&row);
            if let Ok(data) = snapshot.data() {
                current.insert(row.id, (data, Some(snapshot)));
            }
        }
        let mut update_of: HashMap<i64, usize> = HashMap::new();
        let mut resolved = Vec::with_capacity(steps.len());
        for (step, mut source) in steps {
            let (outcome, lead) = match step {
                Step::Unchanged(lead) => (Outcome::Unchanged, lead),
                Step::MergedPlanned(index) => (source.outcome, LeadRef::Planned(index)),
                Step::Created(index) => (Outcome::Created, LeadRef::Planned(index)),
                Step::Review(index) => (Outcome::Review, LeadRef::Planned(index)),
                Step::MergeStored(id, incoming) => {
                    let incoming = *incoming;
                    let lead = LeadRef::Existing(id);
                    let Some((existing, snapshot)) = current.get_mut(&id) else {
                        // The lead was deleted since it was read: the record becomes a new lead.
                        let features = LeadFeatures::new(&incoming);
                        let print = print_key(&source.fingerprint);
                        let index = create(&mut plan, &mut planned, incoming, features, &self.required, print);
                        source.outcome = Outcome::Created;
                        plan.creates[index].sources.push(source);
                        resolved.push(Resolved { outcome: Outcome::Created, lead: LeadRef::Planned(index) });
                        continue;
                    };
                    let combined = combine(existing, &incoming);
                    if combined == *existing {
                        source.outcome = Outcome::Unchanged;
                        plan.unchanged.push((id, source));
                        resolved.push(Resolved { outcome: Outcome::Unchanged, lead });
                        continue;
                    }
                    let is_lead = self.required.is_lead(&combined);
                    *existing = combined.clone();
                    match update_of.get(&id) {
                        Some(&index) => {
                            let update = &mut plan.updates[index];
                            update.data = combined;
                            update.is_lead = is_lead;
                            update.sources.push(source);
                        }
                        None => {
                            source.before = snapshot.clone();
                            update_of.insert(id, plan.updates.len());
                            plan.updates.push(PlannedUpdate {
                                id,
                                data: combined,
                                is_lead,
                                sources: vec![source],
                                keys: None,
                                document: None,
                            });
                        }
                    }
                    resolved.push(Resolved { outcome: Outcome::Merged, lead });
                    continue;
                }
            };
            match lead {
                LeadRef::Planned(index) => plan.creates[index].sources.push(source),
                LeadRef::Existing(id) => plan.unchanged.push((id, source)),
            }
            resolved.push(Resolved { outcome, lead });
        }
        self.settle_emails(&mut plan, &mut current);
        // The merged leads' features follow their new values for the next batches.
        for update in &mut plan.updates {
            update.keys = Some(self.remember(update.id, LeadFeatures::new(&update.data), HashSet::new()));
            update.document = search_document(&update.data);
            self.latest.insert(update.id, update.data.clone());
        }
        // The new leads, under provisional ids until the store gives them theirs.
        for (index, (planned, create)) in planned.into_iter().zip(&mut plan.creates).enumerate() {
            let id = provisional(self.created_before + index);
            create.keys = Some(self.remember(id, planned.features, planned.fingerprints));
            create.document = search_document(&create.data);
            self.latest.insert(id, create.data.clone());
        }
        self.created_before += plan.creates.len();
        Ok((plan, resolved))
    }

    /// Who holds an address, as far as the resolver knows (by resolver id).
    fn email_holder(&self, email: &str) -> Option<i64> {
        self.by_email.get(email).or_else(|| self.role_holders.get(email)).copied()
    }

    /// Keeps each address on one lead, as the store requires: a lead of this plan whose
    /// address another lead holds already (a role address colleagues share, or one another
    /// writer gave meanwhile) keeps the address it had (none, for a new lead); the record
    /// still carries it among its fields. Claims the addresses the plan gives.
    fn settle_emails(
        &mut self,
        plan: &mut ResolutionPlan,
        current: &mut HashMap<i64, (LeadData, Option<LeadSnapshot>)>,
    ) {
        let mut claimed: HashMap<String, i64> = HashMap::new();
        // The address a lead of the plan would take, if another lead holds it already (else it
        // is claimed for this one).
        let mut taken = |resolver: &Self, id: i64, data: &LeadData| -> Option<String> {
            let email = data.email.as_ref()?.as_str().to_owned();
            let holder = claimed.get(&email).copied().or_else(|| resolver.email_holder(&email));
            if holder.is_some_and(|holder| holder != id) {
                return Some(email);
            }
            claimed.insert(email, id);
            None
        };
        for update in &mut plan.updates {
            let Some(email) = taken(self, update.id, &update.data) else { continue };
            // Back to the address the lead had before this plan (read only now: rarely needed).
            let before = current
                .get(&update.id)
                .and_then(|(_, snapshot)| snapshot.as_ref())
                .and_then(|s| s.data().ok())
                .and_then(|d| d.email);
            update.data.email = before.filter(|e| e.as_str() != email);
            update.is_lead = self.required.is_lead(&update.data);
            if let Some((data, _)) = current.get_mut(&update.id) {
                data.clone_from(&update.data);
            }
        }
        for (index, create) in plan.creates.iter_mut().enumerate() {
            let id = provisional(self.created_before + index);
            if taken(self, id, &create.data).is_some() {
                create.data.email = None;
                create.is_lead = self.required.is_lead(&create.data);
            }
        }
        for (email, id) in claimed {
            if is_role_address(&email) {
                self.role_holders.entry(email).or_insert(id);
            }
        }
    }

    /// Records the ids the store gave to a written batch's new leads (in plan order).
    pub fn committed(&mut self, created: &[i64]) {
        for id in created {
            self.alias.insert(*id, provisional(self.real_ids.len()));
            self.real_ids.push(*id);
        }
    }

    /// Replaces the provisional ids in a plan (and its records' fates) by the store's ids.
    ///
    /// # Errors
    /// [`StoreError::Database`] when a batch the plan refers to has not been written (a bug of
    /// the caller).
    pub fn finalize(&self, plan: &mut ResolutionPlan, resolved: &mut [Resolved]) -> StoreResult<()> {
        let real = |id: i64| -> StoreResult<i64> {
            if id >= 0 {
                return Ok(id);
            }
            let index = usize::try_from(-(id + 1)).unwrap_or(usize::MAX);
            self.real_ids
                .get(index)
                .copied()
                .ok_or_else(|| StoreError::Database(format!("lead {index} of this import is not written yet")))
        };
        let real_ref = |lead: &mut LeadRef| -> StoreResult<()> {
            if let LeadRef::Existing(id) = lead {
                *id = real(*id)?;
            }
            Ok(())
        };
        for update in &mut plan.updates {
            update.id = real(update.id)?;
        }
        for (id, _) in &mut plan.unchanged {
            *id = real(*id)?;
        }
        for review in &mut plan.reviews {
            real_ref(&mut review.lead)?;
            real_ref(&mut review.candidate)?;
        }
        for record in resolved {
            real_ref(&mut record.lead)?;
        }
        Ok(())
    }
}

/// The search document of a lead without a company link (the store makes those of linked
/// leads, which show the company's name). Made here, it is made on the planning thread
/// instead of the writing one.
fn search_document(lead: &LeadData) -> Option<String> {
    lead.account_id.is_none().then(|| hatake_store::sql::lead_search_document_of(lead, None))
}

/// A record's fingerprint as the resolver remembers it: the first 64 bits of the hex SHA-256
/// (two different records sharing them is a one-in-2⁶⁴ chance), or a hash of any other text.
fn print_key(print: &str) -> u64 {
    use std::hash::BuildHasher;
    print
        .get(..16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| foldhash::fast::FixedState::default().hash_one(print))
}

/// The resolver's id of the `index`-th lead it created, until the store gives it one.
fn provisional(index: usize) -> i64 {
    -i64::try_from(index).unwrap_or(i64::MAX - 1) - 1
}

fn create(
    plan: &mut ResolutionPlan,
    planned: &mut Vec<Planned>,
    data: LeadData,
    features: LeadFeatures,
    required: &RequiredFieldSet,
    print: u64,
) -> usize {
    plan.creates.push(PlannedCreate {
        is_lead: required.is_lead(&data),
        data,
        sources: Vec::new(),
        keys: None,
        document: None,
    });
    let mut fingerprints = HashSet::new();
    fingerprints.insert(print);
    planned.push(Planned { features, fingerprints });
    plan.creates.len() - 1
}

fn review(lead: LeadRef, candidate: LeadRef, comparison: &Comparison) -> PlannedReview {
    PlannedReview {
        lead,
        candidate,
        score: comparison.score,
        evidence: serde_json::to_string(&comparison.evidence).unwrap_or_default(),
    }
}

/// One record resolved and written on its own (an API call, a form submission): the lead it
/// became or merged into, and how. A new lead is linked to the company master where it knows
/// the company.
///
/// # Errors
/// A store error; nothing of the record is written then.
pub async fn resolve_one<S: Store + ?Sized>(
    store: &S,
    required: RequiredFieldSet,
    record: Incoming,
    now: i64,
) -> StoreResult<(Outcome, i64)> {
    // Records of one process are resolved one at a time: two submissions of one new person at
    // once must not both become new leads (a record is planned, then written; a second plan
    // in between would not see the first's lead). A write refused because another process
    // wrote the same address meanwhile is planned again, and then finds that lead.
    static RESOLVING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = RESOLVING.lock().await;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match resolve_once(store, required.clone(), record.clone(), now).await {
            Err(StoreError::Conflict { field }) if attempt < 3 => {
                tracing::debug!(field, attempt, "a resolution was refused; planning it again");
            }
            other => return other,
        }
    }
}

async fn resolve_once<S: Store + ?Sized>(
    store: &S,
    required: RequiredFieldSet,
    record: Incoming,
    now: i64,
) -> StoreResult<(Outcome, i64)> {
    let mut resolver = Resolver::new(required);
    let (plan, resolved) = resolver.plan(store, vec![record]).await?;
    let created = store.apply_plan(&plan, None, now).await?;
    resolver.committed(&created);
    let resolved =
        resolved.first().ok_or_else(|| StoreError::Database("the resolver answered no record".to_owned()))?;
    let id = match resolved.lead {
        LeadRef::Existing(id) => id,
        LeadRef::Planned(index) => *created
            .get(index)
            .ok_or_else(|| StoreError::Database("the store returned no id for a new lead".to_owned()))?,
    };
    if let LeadRef::Planned(index) = resolved.lead {
        let new = &plan.creates[index].data;
        if new.account_id.is_none() {
            let target = crate::companies::LinkTarget {
                id,
                company_name: new.company_name.clone(),
                prefecture: new.prefecture.clone(),
                email: new.email.as_ref().map(|e| e.as_str().to_owned()),
            };
            crate::companies::link_leads(store, &[target], None, now).await?;
        }
    }
    Ok((resolved.outcome, id))
}
