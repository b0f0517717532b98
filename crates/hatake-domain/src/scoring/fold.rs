//! Applying a scoring model to a lead's events, one after another.
//!
//! A lead's engagement score for a product is defined by folding its events in the order
//! `(occurred_at, id)` into a [`ScoreState`], and then looking at the state at a time `now`
//! ([`Compiled::score_at`]). The state holds what is needed to go on: points that stay, the
//! recent awards of capped rules, the awards that will expire, and when each decay rule last
//! saw a reaction. It depends on the events alone, never on when they were folded, so
//!
//! - a new event later than the last one folded is applied to the stored state (incremental),
//! - an event that is not (it happened earlier, or was folded already) means the lead's events
//!   are folded again from the log, and
//! - time passing (decay, expiry) changes only [`Compiled::score_at`], not the state,
//!
//! and all three give the same number as a full recomputation.
//!
//! Rules, precisely:
//! - An engagement rule awards its points for an event that matches it, unless it has a cap of
//!   *n* times per *d* days and has already awarded *n* times in the *d* days before the event
//!   (the window `(at − d, at]`). Points of a rule with `expires_days` count until
//!   `at + expires_days`, exclusive.
//! - A decay rule's clock starts at the lead's first award for the product (a lead that never
//!   earned a point there is not engaged with it, and its silence costs nothing) and restarts
//!   at each later event of its kinds. When it reaches `days`, the rule's points are added
//!   (once; with `repeat`, again at every further `days`). Points added stay, also after a
//!   later reaction.
//! - The points that stay never fall below zero unless the model allows it
//!   (`allow_negative`): a penalty — a decay rule's, or a rule of negative points without
//!   expiry — takes at most what the lead has, and its explanation shows what it took. Rules
//!   of negative points cannot expire in such a model, so the score is never below zero.

use super::{ScoringModel, DAY_MS};
use crate::EventKind;
use serde_json::Value;

/// An event as scoring sees it.
#[derive(Debug, Clone, Copy)]
pub struct ScoreEvent<'a> {
    pub id: i64,
    pub kind: EventKind,
    pub occurred_at: i64,
    pub name: Option<&'a str>,
    /// The event's properties, as JSON text.
    pub properties: &'a str,
}

/// Which rules an event meets: a bit per engagement rule and per decay rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Matched {
    pub engagement: u64,
    pub reactions: u16,
}

#[derive(Debug, Clone)]
struct EngagementCheck {
    kind: EventKind,
    url: Option<String>,
    name: Option<String>,
    form: Option<i64>,
    campaign: Option<String>,
    property: Option<(String, String)>,
    points: i64,
    cap: Option<(usize, i64)>,
    expires: Option<i64>,
}

#[derive(Debug, Clone)]
struct DecayCheck {
    kinds: Vec<EventKind>,
    period: i64,
    points: i64,
    repeat: bool,
}

/// A checked model made ready for evaluation (patterns lower-cased, days in milliseconds).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub model: ScoringModel,
    engagement: Vec<EngagementCheck>,
    decay: Vec<DecayCheck>,
    /// Whether any rule of a kind needs the event's properties.
    needs_properties: [bool; EventKind::ALL.len()],
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

fn lower(text: &Option<String>) -> Option<String> {
    text.as_ref().map(|t| t.to_lowercase())
}

/// `*` matches any run of characters; both sides are lower-case already.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn property_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Compiled {
    /// A model that passed [`ScoringModel::check`] (rules that name unknown kinds never match).
    pub fn new(model: ScoringModel) -> Self {
        let mut needs_properties = [false; EventKind::ALL.len()];
        let engagement = model
            .engagement
            .iter()
            .map(|rule| {
                let kind = EventKind::parse(&rule.kind).unwrap_or(EventKind::Custom);
                let check = EngagementCheck {
                    kind,
                    url: lower(&rule.url),
                    name: lower(&rule.name),
                    form: rule.form,
                    campaign: lower(&rule.campaign),
                    property: rule.property.as_ref().map(|p| (p.key.clone(), p.value.to_lowercase())),
                    points: rule.points,
                    cap: rule.cap.map(|cap| (cap.times as usize, i64::from(cap.days) * DAY_MS)),
                    expires: rule.expires_days.map(|days| i64::from(days) * DAY_MS),
                };
                if check.url.is_some() || check.form.is_some() || check.campaign.is_some() || check.property.is_some() {
                    needs_properties[kind_index(kind)] = true;
                }
                check
            })
            .collect();
        let decay = model
            .decay
            .iter()
            .map(|rule| DecayCheck {
                kinds: rule.kinds.iter().filter_map(|k| EventKind::parse(k)).collect(),
                period: i64::from(rule.days) * DAY_MS,
                points: rule.points,
                repeat: rule.repeat,
            })
            .collect();
        Self { model, engagement, decay, needs_properties }
    }

    /// Whether an event of this product (or of none) counts for the model of `product_id`.
    pub fn in_scope(&self, event_product: Option<i64>, product_id: i64) -> bool {
        match event_product {
            Some(p) => p == product_id,
            None => self.model.include_unassigned,
        }
    }

    /// The rules an event meets.
    pub fn matches(&self, event: &ScoreEvent<'_>) -> Matched {
        let mut matched = Matched::default();
        for (i, rule) in self.decay.iter().enumerate() {
            if rule.kinds.contains(&event.kind) {
                matched.reactions |= 1 << i;
            }
        }
        let properties: Option<serde_json::Map<String, Value>> = if self.needs_properties[kind_index(event.kind)] {
            serde_json::from_str(event.properties).ok()
        } else {
            None
        };
        let prop = |key: &str| properties.as_ref().and_then(|p| p.get(key)).and_then(property_text);
        let name = event.name.map(str::to_lowercase);
        for (i, rule) in self.engagement.iter().enumerate() {
            if rule.kind != event.kind {
                continue;
            }
            if let Some(pattern) = &rule.url {
                if !prop("url").is_some_and(|url| glob_match(pattern, &url)) {
                    continue;
                }
            }
            if let Some(pattern) = &rule.name {
                if !name.as_deref().is_some_and(|name| glob_match(pattern, name)) {
                    continue;
                }
            }
            if let Some(form) = rule.form {
                if prop("form_id") != Some(form.to_string()) {
                    continue;
                }
            }
            if let Some(campaign) = &rule.campaign {
                let found = prop("utm_campaign").or_else(|| prop("campaign"));
                if found.as_deref() != Some(campaign.as_str()) {
                    continue;
                }
            }
            if let Some((key, value)) = &rule.property {
                if prop(key).as_deref() != Some(value.as_str()) {
                    continue;
                }
            }
            matched.engagement |= 1 << i;
        }
        matched
    }

    fn due(rule: &DecayCheck, anchor: i64, at: i64) -> u32 {
        let silence = at.saturating_sub(anchor);
        if silence < rule.period {
            0
        } else if rule.repeat {
            u32::try_from(silence / rule.period).unwrap_or(u32::MAX)
        } else {
            1
        }
    }

    /// A fresh state for a lead whose first event for the product is at `at` (decay clocks
    /// not started: they start at the first award).
    fn start(&self, at: i64) -> ScoreState {
        ScoreState {
            last_at: i64::MIN,
            last_id: i64::MIN,
            first_at: at,
            base: 0,
            caps: vec![Vec::new(); self.engagement.len()],
            expiring: Vec::new(),
            decay: vec![(NOT_STARTED, 0); self.decay.len()],
        }
    }

    /// Adds points to the points that stay, floored at zero unless the model allows negative
    /// scores; returns what was added.
    fn add_to_base(&self, base: &mut i64, points: i64) -> i64 {
        let before = *base;
        *base = if points < 0 && !self.model.allow_negative {
            (before + points).max(before.min(0))
        } else {
            before + points
        };
        *base - before
    }

    /// The decay penalties due between the state's clocks and `at`, in time order: (when,
    /// rule, the period's number).
    fn due_penalties(&self, state: &ScoreState, at: i64) -> Vec<(i64, usize, u32)> {
        let mut due = Vec::new();
        for (r, rule) in self.decay.iter().enumerate() {
            let (anchor, applied) = state.decay[r];
            for n in applied + 1..=Self::due(rule, anchor, at) {
                due.push((anchor + rule.period * i64::from(n), r, n));
            }
        }
        due.sort_unstable();
        due
    }

    /// Folds one event (already matched) into the state. Returns `false`, changing nothing,
    /// when the event is not later than the last one folded: the caller must then fold the
    /// lead's events again from the start.
    pub fn apply(
        &self,
        state: &mut Option<ScoreState>,
        event_id: i64,
        at: i64,
        matched: Matched,
        mut trace: Option<&mut Vec<Award>>,
    ) -> bool {
        let state = match state {
            Some(state) if (at, event_id) <= (state.last_at, state.last_id) => return false,
            Some(state) => state,
            None => state.insert(self.start(at)),
        };
        for (when, r, n) in self.due_penalties(state, at) {
            let points = self.add_to_base(&mut state.base, self.decay[r].points);
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(Award {
                    rule: RuleRef::Decay(r),
                    event_id: None,
                    at: when,
                    points,
                    expires_at: None,
                    status: AwardStatus::Counted,
                });
            }
            state.decay[r].1 = n;
        }
        state.expiring.retain(|(expires_at, _)| *expires_at > at);
        let mut engaged = false;
        let mut bits = matched.engagement;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(rule) = self.engagement.get(i) else { break };
            let mut status = AwardStatus::Counted;
            if let Some((times, window)) = rule.cap {
                let hits = &mut state.caps[i];
                hits.retain(|hit| *hit > at - window);
                if hits.len() >= times {
                    status = AwardStatus::Capped;
                } else {
                    hits.push(at);
                }
            }
            let expires_at = rule.expires.map(|days| at + days);
            let mut points = rule.points;
            if status == AwardStatus::Counted {
                engaged |= rule.points > 0;
                match expires_at {
                    Some(expires_at) => {
                        let slot = state.expiring.partition_point(|e| e.0 <= expires_at);
                        state.expiring.insert(slot, (expires_at, rule.points));
                    }
                    None => points = self.add_to_base(&mut state.base, rule.points),
                }
            }
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(Award {
                    rule: RuleRef::Engagement(i),
                    event_id: Some(event_id),
                    at,
                    points,
                    expires_at,
                    status,
                });
            }
        }
        // The first award starts the decay clocks.
        if engaged {
            for slot in &mut state.decay {
                if slot.0 == NOT_STARTED {
                    *slot = (at, 0);
                }
            }
        }
        let mut reactions = matched.reactions;
        while reactions != 0 {
            let r = reactions.trailing_zeros() as usize;
            reactions &= reactions - 1;
            if let Some(slot) = state.decay.get_mut(r).filter(|slot| slot.0 != NOT_STARTED) {
                *slot = (at, 0);
            }
        }
        state.last_at = at;
        state.last_id = event_id;
        true
    }

    /// The engagement score at `now` and the next time it changes with no new event.
    pub fn score_at(&self, state: &ScoreState, now: i64) -> Score {
        let mut base = state.base;
        for (_, r, _) in self.due_penalties(state, now) {
            self.add_to_base(&mut base, self.decay[r].points);
        }
        let mut engagement = base;
        let mut next: Option<i64> = None;
        let mut sooner = |at: i64| next = Some(next.map_or(at, |n| n.min(at)));
        for (expires_at, points) in &state.expiring {
            if *expires_at > now {
                engagement += points;
                sooner(*expires_at);
            }
        }
        for (r, rule) in self.decay.iter().enumerate() {
            let (anchor, _) = state.decay[r];
            if anchor == NOT_STARTED {
                continue;
            }
            let due = Self::due(rule, anchor, now);
            if rule.repeat || due == 0 {
                let periods = i64::from(due) + 1;
                sooner(anchor.saturating_add(rule.period.saturating_mul(periods)));
            }
        }
        Score { engagement, next_change_at: next }
    }

    /// Folds a lead's events (any order; sorted here) and returns the state, or `None` when no
    /// event counts.
    pub fn fold_all(&self, events: &mut [ScoreEvent<'_>]) -> Option<ScoreState> {
        events.sort_by_key(|e| (e.occurred_at, e.id));
        let mut state = None;
        for event in events.iter() {
            self.apply(&mut state, event.id, event.occurred_at, self.matches(event), None);
        }
        state
    }

    /// Every award a lead's events gave, and the penalties of decay up to `now`, in time order,
    /// with the state and score they add up to: the explanation shown on the lead page.
    pub fn explain(&self, events: &mut [ScoreEvent<'_>], now: i64) -> Explanation {
        events.sort_by_key(|e| (e.occurred_at, e.id));
        let mut state = None;
        let mut awards = Vec::new();
        for event in events.iter() {
            self.apply(&mut state, event.id, event.occurred_at, self.matches(event), Some(&mut awards));
        }
        let Some(state) = state else {
            return Explanation { awards, engagement: 0, next_change_at: None };
        };
        for award in &mut awards {
            if let Some(expires_at) = award.expires_at {
                if award.status == AwardStatus::Counted && expires_at <= now {
                    award.status = AwardStatus::Expired;
                }
            }
        }
        let mut base = state.base;
        for (when, r, _) in self.due_penalties(&state, now) {
            let points = self.add_to_base(&mut base, self.decay[r].points);
            awards.push(Award {
                rule: RuleRef::Decay(r),
                event_id: None,
                at: when,
                points,
                expires_at: None,
                status: AwardStatus::Counted,
            });
        }
        awards.sort_by_key(|a| a.at);
        let score = self.score_at(&state, now);
        Explanation { awards, engagement: score.engagement, next_change_at: score.next_change_at }
    }

    /// The id and label of a rule an award names.
    pub fn rule_label(&self, rule: RuleRef) -> (&str, &str) {
        match rule {
            RuleRef::Engagement(i) => {
                let r = &self.model.engagement[i];
                (&r.id, r.label.as_deref().unwrap_or(&r.id))
            }
            RuleRef::Decay(i) => {
                let r = &self.model.decay[i];
                (&r.id, r.label.as_deref().unwrap_or(&r.id))
            }
        }
    }
}

/// A decay clock that has not started (the lead has earned no point for the product yet).
const NOT_STARTED: i64 = i64::MAX;

/// A lead's engagement at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub engagement: i64,
    /// When the score next changes by time alone (an award expires, a decay rule fires).
    pub next_change_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleRef {
    Engagement(usize),
    Decay(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardStatus {
    /// The points count.
    Counted,
    /// The rule's cap was reached: no points.
    Capped,
    /// The points counted until `expires_at`.
    Expired,
}

/// One line of a score's explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Award {
    pub rule: RuleRef,
    /// The event that gave it; none for a decay penalty.
    pub event_id: Option<i64>,
    pub at: i64,
    pub points: i64,
    pub expires_at: Option<i64>,
    pub status: AwardStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub awards: Vec<Award>,
    pub engagement: i64,
    pub next_change_at: Option<i64>,
}

/// What folding a lead's events leaves: see the module's documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreState {
    pub last_at: i64,
    pub last_id: i64,
    pub first_at: i64,
    /// Points that stay: awards without expiry and decay penalties.
    pub base: i64,
    /// Per engagement rule with a cap: the times of its awards still inside the window.
    pub caps: Vec<Vec<i64>>,
    /// Awards that will expire: (expires at, points), sorted.
    pub expiring: Vec<(i64, i64)>,
    /// Per decay rule: when its clock started, and how many times it has fired since.
    pub decay: Vec<(i64, u32)>,
}

/// The first stored form: every number as 8 bytes (still read).
const STATE_FORMAT_FIXED: u8 = 1;
/// The stored form written now: numbers as zigzag varints, times as differences from the last
/// event's time. A state of a few dozen awards is a third of its fixed-width size, and the
/// score tables that a decay pass or a scorer step reads shrink with it.
const STATE_FORMAT: u8 = 2;

/// Appends `v` as a zigzag LEB128 varint.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Reads a zigzag LEB128 varint (none when the bytes end or it is longer than ten bytes).
fn take_varint(rest: &mut &[u8]) -> Option<i64> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        z |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    None
}

impl ScoreState {
    /// A compact binary form for storage.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 6 * self.expiring.len());
        out.push(STATE_FORMAT);
        let last = self.last_at;
        let put = |out: &mut Vec<u8>, v: i64| put_varint(out, v);
        let at = |out: &mut Vec<u8>, t: i64| put_varint(out, t.wrapping_sub(last));
        put(&mut out, last);
        put(&mut out, self.last_id);
        at(&mut out, self.first_at);
        put(&mut out, self.base);
        put(&mut out, self.caps.len() as i64);
        for hits in &self.caps {
            put(&mut out, hits.len() as i64);
            hits.iter().for_each(|h| at(&mut out, *h));
        }
        put(&mut out, self.expiring.len() as i64);
        for (expires, points) in &self.expiring {
            at(&mut out, *expires);
            put(&mut out, *points);
        }
        put(&mut out, self.decay.len() as i64);
        for (anchor, applied) in &self.decay {
            at(&mut out, *anchor);
            put(&mut out, i64::from(*applied));
        }
        out
    }

    /// When the last event folded into a stored state happened (without the model).
    pub fn last_at_of(bytes: &[u8]) -> Option<i64> {
        let (&format, mut rest) = bytes.split_first()?;
        match format {
            STATE_FORMAT_FIXED => rest.first_chunk::<8>().map(|head| i64::from_le_bytes(*head)),
            STATE_FORMAT => take_varint(&mut rest),
            _ => None,
        }
    }

    /// A stored state, if it has the shape the model needs (else the lead is folded again).
    pub fn decode(bytes: &[u8], model: &Compiled) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        let mut r = StateReader { rest, fixed: format == STATE_FORMAT_FIXED, last_at: 0 };
        if !r.fixed && format != STATE_FORMAT {
            return None;
        }
        let last_at = r.number()?;
        if !r.fixed {
            r.last_at = last_at;
        }
        let (last_id, first_at, base) = (r.number()?, r.time()?, r.number()?);
        let count = |n: i64| usize::try_from(n).ok().filter(|n| *n <= 100_000);
        let caps_len = count(r.number()?)?;
        if caps_len != model.engagement.len() {
            return None;
        }
        let mut caps = Vec::with_capacity(caps_len);
        for _ in 0..caps_len {
            let n = count(r.number()?)?;
            caps.push((0..n).map(|_| r.time()).collect::<Option<Vec<i64>>>()?);
        }
        let n = count(r.number()?)?;
        let expiring = (0..n).map(|_| Some((r.time()?, r.number()?))).collect::<Option<Vec<_>>>()?;
        let n = count(r.number()?)?;
        if n != model.decay.len() {
            return None;
        }
        let decay = (0..n).map(|_| Some((r.time()?, u32::try_from(r.number()?).ok()?))).collect::<Option<Vec<_>>>()?;
        if !r.rest.is_empty() {
            return None;
        }
        Some(Self { last_at, last_id, first_at, base, caps, expiring, decay })
    }
}

/// Reads either stored form.
struct StateReader<'a> {
    rest: &'a [u8],
    fixed: bool,
    /// What times are relative to (0 in the fixed form).
    last_at: i64,
}

impl StateReader<'_> {
    fn number(&mut self) -> Option<i64> {
        if self.fixed {
            let (head, tail) = self.rest.split_first_chunk::<8>()?;
            self.rest = tail;
            Some(i64::from_le_bytes(*head))
        } else {
            take_varint(&mut self.rest)
        }
    }

    fn time(&mut self) -> Option<i64> {
        self.number().map(|t| t.wrapping_add(self.last_at))
    }
}
