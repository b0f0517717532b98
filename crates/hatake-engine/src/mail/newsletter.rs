//! Sending newsletters ([`NewsletterWorker`]): at the scheduled time the recipients are chosen
//! (the segment's members subscribed to the topic, with an address, not suppressed, under the
//! frequency cap), then their mails are rendered and recorded in the outbox in batches under
//! the key `newsletter:{id}:lead:{lead}` (a restart records nothing twice), spread over the
//! hours when the send is throttled. An A/B test sends the sample's two halves first, waits,
//! picks the variant with more unique opens (or clicks) and sends it to the rest.

use super::compose::{self, values_of};
use super::config::{sender, SenderIdentity};
use super::subscriptions::{link_key, unsubscribe_url};
use super::template::{self, Tracking};
use super::OutgoingMail;
use crate::runtime::{Context, Next, WorkError, Worker};
use async_trait::async_trait;
use hatake_store::{Millis, NewOutbox, NewsletterRow, Store, TemplateContent};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The lease of the newsletter worker.
pub const LEASE: &str = "newsletters";
/// Wakes it (a newsletter was scheduled).
pub const NEWSLETTERS_DUE: &str = "newsletters-due";
/// The setting of the frequency cap (JSON of [`FrequencyCap`]).
pub const SETTING_FREQUENCY_CAP: &str = "mail.frequency_cap";

/// Recipients chosen per step.
const CHOOSE_BATCH: i64 = 2_000;
/// Mails rendered and recorded per step.
const QUEUE_BATCH: i64 = 500;
const HOUR: Millis = 3_600_000;

/// At most `max` marketing mails per lead in `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequencyCap {
    pub max: i64,
    pub days: i64,
}

/// The organisation's frequency cap, if any.
///
/// # Errors
/// When the store fails.
pub async fn frequency_cap(store: &dyn Store) -> hatake_store::StoreResult<Option<FrequencyCap>> {
    Ok(store
        .get_setting(SETTING_FREQUENCY_CAP)
        .await?
        .and_then(|text| serde_json::from_str::<FrequencyCap>(&text).ok())
        .filter(|c| c.max > 0 && c.days > 0))
}

/// The cap as the store reads it: (since, at most).
pub fn cap_window(cap: Option<FrequencyCap>, now: Millis) -> Option<(Millis, i64)> {
    cap.map(|c| (now - c.days * 24 * HOUR, c.max))
}

/// Which half of the sample (or the rest) a lead is in: a fixed hash of the newsletter and
/// lead, so a restart chooses the same.
pub fn variant(newsletter: i64, lead: i64, sample_percent: i64) -> &'static str {
    if sample_percent <= 0 {
        return "a";
    }
    let mut x = (newsletter as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (lead as u64);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    if (x % 100) as i64 >= sample_percent {
        "rest"
    } else if (x >> 7).is_multiple_of(2) {
        "a"
    } else {
        "b"
    }
}

/// The winner of a test from the two halves' figures: the higher rate of unique opens (or
/// clicks) per mail recorded; A on a tie.
pub fn winner(metric: &str, a: (i64, i64, i64), b: (i64, i64, i64)) -> &'static str {
    // (queued, opened, clicked)
    let rate = |(queued, opened, clicked): (i64, i64, i64)| {
        let hits = if metric == "clicks" { clicked } else { opened };
        if queued == 0 {
            0.0
        } else {
            hits as f64 / queued as f64
        }
    };
    if rate(b) > rate(a) {
        "b"
    } else {
        "a"
    }
}

/// Sends due newsletters, one step of one newsletter at a time.
#[derive(Default)]
pub struct NewsletterWorker;

impl NewsletterWorker {
    /// One step; `true` when there is more to do now.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn run(&mut self, cx: &Context) -> Result<bool, WorkError> {
        let store = cx.store.as_ref();
        let now = cx.clock.now();
        let Some(newsletter) = store.due_newsletters(now).await?.into_iter().next() else {
            return Ok(false);
        };
        let id = newsletter.id;
        match newsletter.status.as_str() {
            "scheduled" => {
                store.set_newsletter_state(id, "preparing", None, None, now).await?;
                tracing::info!(newsletter = id, "newsletter started");
            }
            "preparing" => {
                let cap = cap_window(frequency_cap(store).await?, now);
                let percent = if newsletter.is_ab() { newsletter.sample_percent } else { 0 };
                let pick = move |lead: i64| variant(id, lead, percent);
                let added = store.choose_recipients(&newsletter, cap, CHOOSE_BATCH, &pick, now).await?;
                if added == 0 {
                    store.set_newsletter_state(id, "sending", None, None, now).await?;
                }
            }
            "sending" => {
                let variants: &[&str] = match (newsletter.is_ab(), newsletter.winner.as_deref()) {
                    (false, _) => &["a"],
                    (true, None) => &["a", "b"],
                    (true, Some(_)) => &["a", "b", "rest"],
                };
                let pending = store.pending_recipients(id, variants, QUEUE_BATCH).await?;
                if pending.is_empty() {
                    if newsletter.is_ab() && newsletter.winner.is_none() {
                        let decide = now + newsletter.ab_wait_hours.max(0) * HOUR;
                        store.set_newsletter_state(id, "testing", Some(decide), None, now).await?;
                    } else {
                        store.set_newsletter_state(id, "sent", None, None, now).await?;
                        tracing::info!(
                            newsletter = id,
                            recipients = newsletter.recipients,
                            "newsletter recorded in full"
                        );
                    }
                } else if let Err(reason) = queue(store, &newsletter, &pending, now).await? {
                    tracing::warn!(newsletter = id, %reason, "newsletter stopped");
                    store.stop_newsletter(id, &reason, now).await?;
                }
            }
            "testing" => {
                let stats = store.newsletter_stats(id).await?;
                let figures = |v: &str| {
                    stats.iter().find(|s| s.variant == v).map_or((0, 0, 0), |s| (s.queued, s.opened, s.clicked))
                };
                let chosen = winner(&newsletter.ab_metric, figures("a"), figures("b"));
                tracing::info!(newsletter = id, winner = chosen, "A/B test decided");
                store.set_newsletter_state(id, "sending", None, Some(chosen), now).await?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The content a variant is sent with.
fn content_of(
    base: &TemplateContent,
    variant_template: Option<&TemplateContent>,
    subject: Option<&str>,
) -> TemplateContent {
    let mut content = variant_template.cloned().unwrap_or_else(|| base.clone());
    if let Some(subject) = subject.filter(|s| !s.trim().is_empty()) {
        content.subject = subject.to_owned();
    }
    content
}

/// Renders and records the mails of `pending` (lead, variant). `Ok(Err(reason))` when the
/// newsletter cannot go on (its template is gone or broken, no sender).
async fn queue(
    store: &dyn Store,
    newsletter: &NewsletterRow,
    pending: &[(i64, String)],
    now: Millis,
) -> Result<Result<(), String>, WorkError> {
    let Some(identity) = sender(store).await?.filter(|s| s.missing().is_empty() && !s.from_address.is_empty()) else {
        return Ok(Err("送信者情報（名称・住所・問い合わせ先・送信元メールアドレス）がメール設定にありません".into()));
    };
    let Some(template) = store.mail_template(newsletter.template_id).await? else {
        return Ok(Err("テンプレートが見つかりません".into()));
    };
    let variant_template = match newsletter.variant_template_id {
        Some(other) => store.mail_template(other).await?.map(|t| t.content()),
        None => None,
    };
    let a = template.content();
    let b = content_of(&a, variant_template.as_ref(), newsletter.variant_subject.as_deref());
    let rest = if newsletter.winner.as_deref() == Some("b") { b.clone() } else { a.clone() };
    let library = compose::library(store).await?;
    let compile = |content: &TemplateContent| template::compile(content, &library);
    let (Ok(ca), Ok(cb), Ok(cr)) = (compile(&a), compile(&b), compile(&rest)) else {
        return Ok(Err("テンプレートに誤りがあるため表示できません".into()));
    };
    let key = link_key(store, now).await?;
    let base_url =
        if newsletter.base_url.is_empty() { identity.public_url.clone() } else { newsletter.base_url.clone() };
    let product = match template.product_id {
        Some(p) => store.get_product(p).await.ok().map(|p| p.name),
        None => None,
    };
    let ids: Vec<i64> = pending.iter().map(|(lead, _)| *lead).collect();
    let leads = store.leads_by_ids(&ids).await?;
    let dictionary = crate::settings::departments(store).await?;
    let today = compose::today(now);
    let setting = compose::Setting {
        sender: Some(identity.clone()),
        key: key.clone(),
        base_url: base_url.clone(),
        library: library.clone(),
    };
    let mut rows = Vec::with_capacity(pending.len());
    let mut queued = Vec::with_capacity(pending.len());
    for (index, (lead_id, variant)) in pending.iter().enumerate() {
        let Some(lead) = leads.iter().find(|l| l.id == *lead_id) else {
            // Gone since it was chosen (merged or deleted): nothing to send.
            queued.push(*lead_id);
            continue;
        };
        let Some(address) = lead.email.clone() else {
            queued.push(*lead_id);
            continue;
        };
        let (compiled, content) = match variant.as_str() {
            "b" => (&cb, &b),
            "rest" => (&cr, &rest),
            _ => (&ca, &a),
        };
        let values = values_of(lead, &dictionary);
        let composed = match compose::compose(
            &setting,
            compiled,
            content,
            "marketing",
            (template.product_id, product.as_deref()),
            &values,
            &today,
        ) {
            Ok(composed) => composed,
            Err(problem) => return Ok(Err(format!("テンプレートを表示できません（{}）", problem.describe("ja")))),
        };
        let tracking =
            Tracking { base_url: base_url.clone(), key: &key, lead_id: lead.id, mail: format!("n{}", newsletter.id) };
        let tracked = tracking.apply(&composed.rendered);
        let mail = outgoing(&identity, lead, address, tracked, &newsletter.topic, &base_url, &key, &template.charset);
        let position = newsletter.queued + i64::try_from(index).unwrap_or(0);
        let due_at = match newsletter.per_hour.filter(|n| *n > 0) {
            Some(per_hour) => (newsletter.started_at.unwrap_or(now) + position * HOUR / per_hour).max(now),
            None => now,
        };
        rows.push(NewOutbox {
            idempotency_key: format!("newsletter:{}:lead:{}", newsletter.id, lead.id),
            kind: super::KIND.to_owned(),
            lead_id: Some(lead.id),
            recipient: mail.to_address.clone(),
            payload: serde_json::to_string(&mail).unwrap_or_default(),
            due_at,
            topic: Some(newsletter.topic.clone()),
        });
        queued.push(*lead_id);
    }
    store.queue_recipients(newsletter.id, &queued, &rows, now).await?;
    Ok(Ok(()))
}

#[allow(clippy::too_many_arguments)]
fn outgoing(
    identity: &SenderIdentity,
    lead: &hatake_store::LeadRow,
    address: String,
    tracked: template::Rendered,
    topic: &str,
    base_url: &str,
    key: &[u8],
    charset: &str,
) -> OutgoingMail {
    OutgoingMail {
        from_name: Some(identity.name.clone()),
        from_address: identity.from_address.clone(),
        to_name: Some(lead.full_name()).filter(|n| !n.trim().is_empty()),
        to_address: address,
        reply_to: None,
        subject: tracked.subject,
        text: tracked.text,
        html: tracked.html,
        unsubscribe_url: Some(unsubscribe_url(base_url, key, lead.id, topic)),
        topic: Some(topic.to_owned()),
        charset: (charset == super::jis::CHARSET).then(|| charset.to_owned()),
    }
}

#[async_trait]
impl Worker for NewsletterWorker {
    fn name(&self) -> &'static str {
        "newsletters"
    }

    fn lease(&self) -> Option<&'static str> {
        Some(LEASE)
    }

    fn signal(&self) -> Option<&'static str> {
        Some(NEWSLETTERS_DUE)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn step(&mut self, cx: &Context) -> Result<Next, WorkError> {
        if self.run(cx).await? {
            // The sender picks the new rows up at once.
            cx.signals.wake(super::sender::OUTBOX);
            Ok(Next::Again)
        } else {
            Ok(Next::Idle)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_split_the_sample_and_keep_the_rest() {
        let mut counts = std::collections::HashMap::new();
        for lead in 0..10_000 {
            *counts.entry(variant(7, lead, 20)).or_insert(0) += 1;
            assert_eq!(variant(7, lead, 20), variant(7, lead, 20), "the same every time");
            assert_eq!(variant(7, lead, 0), "a");
        }
        let (a, b, rest) = (counts["a"], counts["b"], counts["rest"]);
        assert!((900..1_100).contains(&a) && (900..1_100).contains(&b), "{counts:?}");
        assert!((7_800..8_200).contains(&rest), "{counts:?}");
        assert_eq!(winner("opens", (100, 30, 1), (100, 20, 9)), "a");
        assert_eq!(winner("clicks", (100, 30, 1), (100, 20, 9)), "b");
        assert_eq!(winner("opens", (0, 0, 0), (0, 0, 0)), "a");
    }
}
