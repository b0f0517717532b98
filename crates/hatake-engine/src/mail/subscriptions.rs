//! Subscriptions as mail uses them: the topics (the general newsletter and one per product),
//! and the signed links in every marketing mail that let a person unsubscribe in one click
//! (RFC 8058) or choose per topic, without signing in.

use hatake_store::{product_topic, CatalogStore, StoreResult, SystemStore, TOPIC_GENERAL};
use sha2::{Digest, Sha256};

/// The setting that holds the key the links are signed with (made on first use).
pub const SETTING_LINK_KEY: &str = "secret.link_key";

/// A topic a lead can subscribe to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Topic {
    pub key: String,
    pub product_id: Option<i64>,
    pub label_ja: String,
    pub label_en: String,
}

impl Topic {
    pub fn label(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.label_en
        } else {
            &self.label_ja
        }
    }
}

/// The general newsletter, then one topic per product.
///
/// # Errors
/// When the store fails.
pub async fn topics(store: &(impl CatalogStore + ?Sized)) -> StoreResult<Vec<Topic>> {
    let mut topics = vec![Topic {
        key: TOPIC_GENERAL.into(),
        product_id: None,
        label_ja: "メールマガジン（全般）".into(),
        label_en: "Newsletter (general)".into(),
    }];
    for product in store.list_products().await? {
        topics.push(Topic {
            key: product_topic(product.id),
            product_id: Some(product.id),
            label_ja: format!("{}のご案内", product.name),
            label_en: format!("About {}", product.name),
        });
    }
    Ok(topics)
}

/// Whether `topic` is one of the organisation's.
pub fn known(topics: &[Topic], topic: &str) -> bool {
    topics.iter().any(|t| t.key == topic)
}

pub(crate) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0_u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The signature of `text` in links: 12 bytes of its HMAC, as hex.
pub(crate) fn sign(key: &[u8], text: &str) -> String {
    hmac(key, text.as_bytes()).iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Whether two signatures are the same, compared in full whatever differs first.
pub(crate) fn same_signature(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn signature(key: &[u8], lead_id: i64) -> String {
    sign(key, &format!("subscriptions:{lead_id}"))
}

/// The key links are signed with, made and stored on first use.
///
/// # Errors
/// When the store fails.
pub async fn link_key(store: &(impl SystemStore + ?Sized), now: i64) -> StoreResult<Vec<u8>> {
    if let Some(key) = store.get_setting(SETTING_LINK_KEY).await? {
        return Ok(key.into_bytes());
    }
    let fresh: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    store.put_setting(SETTING_LINK_KEY, &fresh, now).await?;
    // Two processes making one at once: both go on with the one stored last.
    Ok(store.get_setting(SETTING_LINK_KEY).await?.unwrap_or(fresh).into_bytes())
}

/// The token of a lead's links: `{lead}.{signature}`.
pub fn token(key: &[u8], lead_id: i64) -> String {
    format!("{lead_id}.{}", signature(key, lead_id))
}

/// The lead a token is for, when its signature holds.
pub fn verify(key: &[u8], token: &str) -> Option<i64> {
    let (lead, given) = token.split_once('.')?;
    let lead_id: i64 = lead.parse().ok()?;
    same_signature(&signature(key, lead_id), given).then_some(lead_id)
}

/// The one-click unsubscribe URL of a lead's mail about `topic` (`List-Unsubscribe`), which is
/// also the preference page's address.
pub fn unsubscribe_url(base_url: &str, key: &[u8], lead_id: i64, topic: &str) -> String {
    format!("{}/u/{}?topic={topic}", base_url.trim_end_matches('/'), token(key, lead_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hold_only_for_their_lead() {
        let key = b"0123456789abcdef0123456789abcdef";
        let t = token(key, 42);
        assert_eq!(verify(key, &t), Some(42));
        assert_eq!(verify(b"another key", &t), None);
        let forged = t.replacen("42.", "43.", 1);
        assert_eq!(verify(key, &forged), None);
        assert_eq!(verify(key, "42"), None);
        assert_eq!(verify(key, "x.y"), None);
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('0') { '1' } else { '0' });
        assert_eq!(verify(key, &tampered), None);
        // RFC 4231, test case 2.
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert_eq!(
            unsubscribe_url("https://hatake.example/", key, 42, "product:3"),
            format!("https://hatake.example/u/{t}?topic=product:3")
        );
    }
}
