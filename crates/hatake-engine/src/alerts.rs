//! Alerts (issue 17): rules (`hatake_domain::alerts`) read the events as they arrive
//! ([`AlertWorker`], woken by every group the event writer writes) and the scores the scorer
//! changes ([`after_scoring`]); a match makes an alert for the lead's inside-sales owner (or the
//! pool), once per lead and rule per window. Each alert wakes the browsers' live feeds
//! ([`crate::runtime::ALERTS_MADE`]) and, as the rule says, goes by mail and by webhook through
//! the outbox under a key from the alert; [`WebhookSender`] posts the webhooks, signed with a
//! shared secret and a timestamp, retried with back-off, given up after the last try.

use crate::runtime::{Context, Next, WorkError, Worker, ALERTS_MADE, ALERT_EVENTS};
use hatake_domain::alerts::{AlertConfig, AlertRule, Seen, Trigger};
use hatake_domain::Role;
use hatake_store::{
    EventQuery, LeadRow, Millis, NewAlert, NewOutbox, OutboxOutcome, ScoringEventRow, Store, StoreResult,
};
use std::collections::HashMap;
use std::time::Duration;

/// The setting that holds the rules (JSON of [`AlertConfig`]).
pub const SETTING_ALERTS: &str = "alerts.config";
/// How far the rules have read the event log.
pub const SETTING_CURSOR: &str = "alerts.cursor";
/// Events read per step.
const EVENTS_PER_STEP: i64 = 20_000;

/// The rules in force.
///
/// # Errors
/// A store error.
pub async fn config(store: &dyn Store) -> StoreResult<AlertConfig> {
    Ok(store.get_setting(SETTING_ALERTS).await?.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default())
}

/// Saves the rules after checking them; a missing webhook secret is made.
///
/// # Errors
/// Every problem by field; a store error.
pub async fn save_config(
    store: &dyn Store,
    config: &AlertConfig,
    now: Millis,
) -> Result<AlertConfig, crate::inside_sales::SaveError> {
    let products: Vec<i64> = store.list_products().await?.iter().map(|p| p.id).collect();
    config.check(&products)?;
    let mut config = config.clone();
    if config.webhook_secret.trim().is_empty() {
        config.webhook_secret = new_secret();
    }
    // Rules alert on what happens from now on: the log's history is behind the cursor.
    if store.get_setting(SETTING_CURSOR).await?.is_none() {
        store.put_setting(SETTING_CURSOR, &store.max_event_id().await?.to_string(), now).await?;
    }
    store.put_setting(SETTING_ALERTS, &serde_json::to_string(&config).unwrap_or_default(), now).await?;
    Ok(config)
}

/// A new shared secret: 32 random bytes in hex.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs a webhook body: `v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` with the shared
/// secret (the receiver recomputes it and checks that the timestamp is recent).
pub fn webhook_signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("v1={hex}")
}

/// What made an alert, in words.
#[derive(Debug, Clone)]
pub struct Cause {
    pub detail: String,
    pub event_id: Option<i64>,
    pub event_at: Option<Millis>,
    pub product_id: Option<i64>,
}

/// Makes the alert of `rule` about `lead` unless it alerted within its window: stored for the
/// lead's inside-sales owner (else the pool), then mail and webhook put in the outbox. Returns
/// the alert's id when one was made.
///
/// # Errors
/// A store error.
pub async fn raise(
    store: &dyn Store,
    config: &AlertConfig,
    rule: &AlertRule,
    lead: &LeadRow,
    cause: &Cause,
    now: Millis,
) -> StoreResult<Option<i64>> {
    let window = i64::from(rule.window_hours.max(1)) * 3_600_000;
    if store.last_alert_at(&rule.id, lead.id).await?.is_some_and(|at| at > now - window) {
        return Ok(None);
    }
    let owner = match lead.owner_id {
        Some(id) => store.get_user(id).await.ok().filter(|u| u.active && u.role() == Role::InsideSales),
        None => None,
    };
    let name = lead.full_name();
    let who = match lead.company() {
        Some(company) => format!("{name}（{company}）"),
        None => name.clone(),
    };
    let alert = NewAlert {
        rule_id: rule.id.clone(),
        lead_id: lead.id,
        product_id: cause.product_id.or(rule.product_id),
        user_id: owner.as_ref().map(|u| u.id),
        title: format!("{}：{who}", rule.name),
        detail: Some(cause.detail.clone()),
        event_id: cause.event_id,
        event_at: cause.event_at,
        at: now,
        dedupe_key: format!("{}:{}:{}", rule.id, lead.id, now / window),
    };
    let Some(id) = store.create_alert(&alert).await? else { return Ok(None) };
    let sender = crate::mail::config::sender(store).await?.unwrap_or_default();
    let link = (!sender.public_url.is_empty())
        .then(|| format!("{}/leads/{}", sender.public_url.trim_end_matches('/'), lead.id));
    let mut rows = Vec::new();
    let to = match &owner {
        Some(user) => Some((Some(user.display_name.clone()), user.email.clone())),
        None => config.pool_mail.clone().map(|mail| (None, mail)),
    };
    if let (true, Some((to_name, to_address))) = (rule.mail, to) {
        let mut text = format!("{}\n\n{}\n", alert.title, cause.detail);
        if let Some(link) = &link {
            text.push_str(&format!("\n{link}\n"));
        }
        let mail = crate::mail::OutgoingMail {
            from_name: Some("hatake".into()),
            from_address: if sender.from_address.is_empty() {
                "hatake@localhost".into()
            } else {
                sender.from_address.clone()
            },
            to_name,
            to_address: to_address.clone(),
            reply_to: None,
            subject: format!("【アラート】{}", alert.title),
            text,
            html: None,
            unsubscribe_url: None,
            topic: None,
            charset: None,
        };
        rows.push(NewOutbox {
            idempotency_key: format!("alert:{id}:mail"),
            kind: "mail".into(),
            lead_id: Some(lead.id),
            recipient: to_address,
            payload: serde_json::to_string(&mail).unwrap_or_default(),
            due_at: now,
            topic: None,
        });
    }
    if let Some(url) = &rule.webhook_url {
        let text = match &link {
            Some(link) => format!("🔔 {}\n{}\n{link}", alert.title, cause.detail),
            None => format!("🔔 {}\n{}", alert.title, cause.detail),
        };
        let body = serde_json::json!({
            "text": text,
            "title": alert.title,
            "alert": {
                "id": id,
                "rule": rule.id,
                "rule_name": rule.name,
                "lead_id": lead.id,
                "lead": name,
                "company": lead.company(),
                "detail": cause.detail,
                "url": link,
                "at": now,
                "for": owner.as_ref().map(|u| u.display_name.clone()),
            },
        });
        rows.push(NewOutbox {
            idempotency_key: format!("alert:{id}:webhook"),
            kind: "webhook".into(),
            lead_id: Some(lead.id),
            recipient: url.clone(),
            payload: body.to_string(),
            due_at: now,
            topic: None,
        });
    }
    if !rows.is_empty() {
        store.enqueue_outbox(&rows, now).await?;
    }
    Ok(Some(id))
}

/// An event in words: its kind and what it was about.
fn event_words(event: &ScoringEventRow) -> String {
    let kind = hatake_domain::EventKind::parse(&event.kind).map_or(event.kind.clone(), |k| k.label_ja().to_owned());
    let properties: serde_json::Value = serde_json::from_str(&event.properties).unwrap_or_default();
    let via_link = properties["link_name"].as_str().map(|name| format!("（リンク「{name}」から）")).unwrap_or_default();
    let what = event
        .name
        .clone()
        .or_else(|| properties["title"].as_str().map(str::to_owned))
        .or_else(|| properties["url"].as_str().map(str::to_owned));
    match what {
        Some(what) => format!("{kind}：{what}{via_link}"),
        None => format!("{kind}{via_link}"),
    }
}

/// Reads the events after the cursor and raises the alerts the event rules make.
#[derive(Debug, Default)]
pub struct AlertWorker;

impl AlertWorker {
    /// One step; whether more events wait.
    ///
    /// # Errors
    /// A store error.
    pub async fn run(cx: &Context) -> StoreResult<bool> {
        let store = cx.store.as_ref();
        let now = cx.clock.now();
        let cursor: Option<i64> = store.get_setting(SETTING_CURSOR).await?.and_then(|t| t.parse().ok());
        let config = config(store).await?;
        let rules: Vec<&AlertRule> =
            config.rules.iter().filter(|r| r.active && matches!(r.trigger, Trigger::Event { .. })).collect();
        // The log's history is not alerted on: the rules start from the events after the
        // first step (or after a time without rules).
        let Some(cursor) = cursor.filter(|_| !rules.is_empty()) else {
            let last = store.max_event_id().await?;
            store.put_setting(SETTING_CURSOR, &last.to_string(), now).await?;
            return Ok(false);
        };
        let read = store.scoring_events_after(cursor, EVENTS_PER_STEP).await?;
        let Some(last) = read.last().map(|e| e.id) else { return Ok(false) };
        let full = read.len() as i64 == EVENTS_PER_STEP;
        // Most events can match no rule: a look at the raw text first, no parsing.
        let events: Vec<&ScoringEventRow> =
            read.iter().filter(|e| rules.iter().any(|r| r.might_match(&e.kind, e.product_id, &e.properties))).collect();
        let mut visitors: Vec<String> =
            events.iter().filter(|e| e.lead_id.is_none()).filter_map(|e| e.visitor_id.clone()).collect();
        visitors.sort_unstable();
        visitors.dedup();
        let linked: HashMap<String, i64> = store.visitor_lead_ids(&visitors).await?.into_iter().collect();
        let mut made = 0;
        for event in events {
            let Some(lead_id) =
                event.lead_id.or_else(|| event.visitor_id.as_ref().and_then(|v| linked.get(v).copied()))
            else {
                continue;
            };
            made += consider(store, &config, event, lead_id, now).await?;
        }
        store.put_setting(SETTING_CURSOR, &last.to_string(), now).await?;
        if made > 0 {
            cx.signals.get(ALERTS_MADE).notify_waiters();
            cx.signals.wake(ALERTS_MADE_WEBHOOKS);
            cx.signals.wake(crate::mail::sender::OUTBOX);
            tracing::info!(made, "alerts raised");
        }
        Ok(full)
    }
}

/// An event as the rules read it: its URL, and whether it came through a tracked link.
fn seen<'a>(
    kind: &'a str,
    product_id: Option<i64>,
    name: Option<&'a str>,
    properties: &'a serde_json::Value,
) -> Seen<'a> {
    Seen { kind, product_id, name, url: properties["url"].as_str(), tracked_link: properties["link"].is_string() }
}

/// Raises the alerts the event rules make of one event of a lead (at `now`); how many.
///
/// # Errors
/// A store error.
pub async fn consider(
    store: &dyn Store,
    config: &AlertConfig,
    event: &ScoringEventRow,
    lead_id: i64,
    now: Millis,
) -> StoreResult<usize> {
    let properties: serde_json::Value = serde_json::from_str(&event.properties).unwrap_or_default();
    let seen = seen(&event.kind, event.product_id, event.name.as_deref(), &properties);
    let mut made = 0;
    for rule in config.rules.iter().filter(|r| r.matches(&seen)) {
        let Trigger::Event { count, within_hours, .. } = &rule.trigger else { continue };
        if *count > 1 && !enough(store, rule, lead_id, event, *count, *within_hours).await? {
            continue;
        }
        let Ok(lead) = store.get_lead(lead_id).await else { continue };
        let cause = Cause {
            detail: event_words(event),
            event_id: Some(event.id),
            event_at: Some(event.occurred_at),
            product_id: event.product_id,
        };
        made += usize::from(raise(store, config, rule, &lead, &cause, now).await?.is_some());
    }
    Ok(made)
}

/// Whether the lead did what the rule counts `count` times within the hours before `event`.
async fn enough(
    store: &dyn Store,
    rule: &AlertRule,
    lead_id: i64,
    event: &ScoringEventRow,
    count: u32,
    within_hours: u32,
) -> StoreResult<bool> {
    let since = event.occurred_at - i64::from(within_hours) * 3_600_000;
    let query = EventQuery { kind: Some(event.kind.clone()), limit: 500, ..EventQuery::default() };
    let seen = store
        .lead_events(lead_id, &query)
        .await?
        .iter()
        .filter(|e| e.occurred_at >= since && e.occurred_at <= event.occurred_at)
        .filter(|e| {
            let properties: serde_json::Value = serde_json::from_str(&e.properties).unwrap_or_default();
            rule.matches(&seen(&e.kind, e.product_id, e.name.as_deref(), &properties))
        })
        .count();
    Ok(seen >= count as usize)
}

#[async_trait::async_trait]
impl Worker for AlertWorker {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn lease(&self) -> Option<&'static str> {
        Some("alerts")
    }

    fn signal(&self) -> Option<&'static str> {
        Some(ALERT_EVENTS)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(2)
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        Ok(if Self::run(cx).await? { Next::Again } else { Next::Idle })
    }
}

/// The scorer's hook: score rules for the leads whose scores it just changed.
pub async fn after_scoring(store: &dyn Store, leads: &[i64], now: Millis) -> StoreResult<usize> {
    let config = config(store).await?;
    let rules: Vec<&AlertRule> =
        config.rules.iter().filter(|r| r.active && matches!(r.trigger, Trigger::Score { .. })).collect();
    if rules.is_empty() || leads.is_empty() {
        return Ok(0);
    }
    let mut made = 0;
    for part in leads.chunks(1_000) {
        let scores = store.lead_scores(part).await?;
        for rule in &rules {
            let Trigger::Score { threshold } = rule.trigger else { continue };
            for score in scores.iter().filter(|s| rule.product_id.is_none_or(|p| p == s.product_id)) {
                if score.engagement < threshold {
                    continue;
                }
                let Ok(lead) = store.get_lead(score.lead_id).await else { continue };
                let cause = Cause {
                    detail: format!("スコア {}点（基準 {threshold}点）", score.engagement),
                    event_id: None,
                    event_at: None,
                    product_id: Some(score.product_id),
                };
                made += usize::from(raise(store, &config, rule, &lead, &cause, now).await?.is_some());
            }
        }
    }
    Ok(made)
}

/// Posts the webhooks of the outbox: each signed (`X-Hatake-Signature`: `v1=` HMAC-SHA256 of
/// `{timestamp}.{body}`, `X-Hatake-Timestamp`) and keyed (`X-Hatake-Idempotency-Key`). A 2xx is
/// sent; a 429, a 5xx, a timeout or a refused connection is tried again with back-off and
/// given up after the last try; another 4xx is given up at once.
pub struct WebhookSender {
    client: reqwest::Client,
}

impl Default for WebhookSender {
    fn default() -> Self {
        let tls = crate::mail::smtp::tls_config(None).ok();
        let builder = reqwest::Client::builder().timeout(Duration::from_secs(10)).user_agent("hatake-webhook/1");
        let builder = match tls {
            Some(config) => builder.use_preconfigured_tls((*config).clone()),
            None => builder,
        };
        Self { client: builder.build().unwrap_or_default() }
    }
}

impl WebhookSender {
    /// Posts the due webhooks once; how many were tried.
    ///
    /// # Errors
    /// A store error.
    pub async fn run(&self, cx: &Context) -> StoreResult<usize> {
        let store = cx.store.as_ref();
        let now = cx.clock.now();
        let rows = store.claim_outbox("webhook", &cx.holder, now, now + 60_000, 20).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let secret = config(store).await?.webhook_secret;
        for row in &rows {
            if !store.hand_over_outbox(row.id, &cx.holder, &row.idempotency_key, now).await? {
                continue;
            }
            let timestamp = cx.clock.now() / 1_000;
            let signature = webhook_signature(&secret, timestamp, &row.payload);
            let response = self
                .client
                .post(&row.recipient)
                .header("content-type", "application/json")
                .header("x-hatake-timestamp", timestamp.to_string())
                .header("x-hatake-signature", signature)
                .header("x-hatake-idempotency-key", &row.idempotency_key)
                .body(row.payload.clone())
                .send()
                .await;
            let later = cx.clock.now();
            let outcome = match response {
                Ok(response) if response.status().is_success() => {
                    OutboxOutcome::Sent { code: Some(i64::from(response.status().as_u16())), detail: None }
                }
                Ok(response) => {
                    let code = response.status().as_u16();
                    let detail = format!("HTTP {code}");
                    let transient = code == 429 || code >= 500;
                    match crate::mail::sender::retry_at(later, row.attempts).filter(|_| transient) {
                        Some(at) => OutboxOutcome::Retry { at, code: Some(i64::from(code)), detail },
                        None => OutboxOutcome::Failed { code: Some(i64::from(code)), detail },
                    }
                }
                Err(error) => {
                    let detail = format!("送信できませんでした / not delivered: {error}");
                    match crate::mail::sender::retry_at(later, row.attempts) {
                        Some(at) => OutboxOutcome::Retry { at, code: None, detail },
                        None => OutboxOutcome::Failed { code: None, detail },
                    }
                }
            };
            store.finish_outbox(row.id, &outcome, later).await?;
        }
        Ok(rows.len())
    }
}

#[async_trait::async_trait]
impl Worker for WebhookSender {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn signal(&self) -> Option<&'static str> {
        Some(ALERTS_MADE_WEBHOOKS)
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        Ok(if self.run(cx).await? > 0 { Next::Again } else { Next::Idle })
    }
}

/// Woken when webhooks are queued.
pub const ALERTS_MADE_WEBHOOKS: &str = "webhooks-due";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_time_and_the_body() {
        // Python: hmac.new(b"Jefe", b"0.what do ya want for nothing?", hashlib.sha256).hexdigest()
        assert_eq!(
            webhook_signature("Jefe", 0, "what do ya want for nothing?"),
            "v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc"
        );
        assert_ne!(webhook_signature("Jefe", 1, "x"), webhook_signature("Jefe", 2, "x"), "the time is signed");
        assert_eq!(new_secret().len(), 64);
    }
}
