//! Alert rules (アラート): what a lead does that inside sales should hear of at once — a tracked
//! link from a PDF followed to the product page, the pricing page seen twice in a week, a score
//! reaching a threshold, a booked meeting — per product, once per lead per window, to the
//! lead's inside-sales owner (or the pool), in the browser, by mail and by webhook.

use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

/// What makes an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// An event of a kind, with conditions; `count` of them within `within_hours` (the last one
    /// makes the alert).
    Event {
        kind: String,
        /// Every one of these appears in the event's URL (e.g. `utm_source=pdf`, `/products/erp`).
        #[serde(default)]
        url_contains: Vec<String>,
        /// The event's name (a document, a seminar) contains this.
        #[serde(default)]
        name_contains: Option<String>,
        /// Only visits through a tracked link (a link in a PDF, a mail, a QR code).
        #[serde(default)]
        tracked_link: bool,
        #[serde(default = "one")]
        count: u32,
        #[serde(default = "week")]
        within_hours: u32,
    },
    /// The lead's engagement score for the product reaches the threshold.
    Score { threshold: i64 },
}

fn one() -> u32 {
    1
}

fn week() -> u32 {
    168
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRule {
    /// Stable id (`r1`, `r2`, …): alerts and their keys name it.
    pub id: String,
    pub name: String,
    /// `None`: any product (the event's, or none).
    #[serde(default)]
    pub product_id: Option<i64>,
    pub trigger: Trigger,
    /// At most one alert per lead per this many hours.
    #[serde(default = "day")]
    pub window_hours: u32,
    /// Also by mail to the person it is for (the pool's go to `pool_mail`, when set).
    #[serde(default)]
    pub mail: bool,
    /// Also to this webhook (Slack, Teams or any receiver checking the signature).
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn day() -> u32 {
    24
}

fn yes() -> bool {
    true
}

/// The alert settings (a setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertConfig {
    #[serde(default)]
    pub rules: Vec<AlertRule>,
    /// Where the pool's alerts go by mail (a team address), if anywhere.
    #[serde(default)]
    pub pool_mail: Option<String>,
    /// The shared secret webhooks are signed with.
    #[serde(default)]
    pub webhook_secret: String,
}

/// An event as a rule reads it.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub kind: &'a str,
    pub product_id: Option<i64>,
    pub name: Option<&'a str>,
    pub url: Option<&'a str>,
    pub tracked_link: bool,
}

impl AlertRule {
    /// Whether an event is of the rule's kind and meets its conditions (the count aside).
    pub fn matches(&self, event: &Seen<'_>) -> bool {
        if !self.active || self.product_id.is_some_and(|p| event.product_id != Some(p)) {
            return false;
        }
        match &self.trigger {
            Trigger::Event { kind, url_contains, name_contains, tracked_link, .. } => {
                kind == event.kind
                    && (!tracked_link || event.tracked_link)
                    && url_contains.iter().all(|part| event.url.is_some_and(|u| u.contains(part.as_str())))
                    && name_contains.as_ref().is_none_or(|n| event.name.is_some_and(|m| m.contains(n.as_str())))
            }
            Trigger::Score { .. } => false,
        }
    }

    /// A quick look before the event's properties are parsed: whether the event could match —
    /// kind, product and the URL parts found anywhere in the raw JSON. `false` means it cannot.
    pub fn might_match(&self, kind: &str, product_id: Option<i64>, raw_properties: &str) -> bool {
        if !self.active || self.product_id.is_some_and(|p| product_id != Some(p)) {
            return false;
        }
        match &self.trigger {
            Trigger::Event { kind: wanted, url_contains, tracked_link, .. } => {
                wanted == kind
                    && (!tracked_link || raw_properties.contains("\"link\""))
                    && url_contains.iter().all(|part| raw_properties.contains(part.as_str()))
            }
            Trigger::Score { .. } => false,
        }
    }

    /// The rule in words, for pages and messages.
    pub fn describe(&self, locale: &str) -> String {
        let en = locale == "en";
        match &self.trigger {
            Trigger::Event { kind, url_contains, name_contains, tracked_link, count, within_hours } => {
                let label = crate::EventKind::parse(kind)
                    .map_or(kind.clone(), |k| if en { k.label_en() } else { k.label_ja() }.to_owned());
                let mut parts = vec![label];
                if *tracked_link {
                    parts.push((if en { "through a tracked link" } else { "追跡リンク経由" }).to_owned());
                }
                if !url_contains.is_empty() {
                    parts.push(if en {
                        format!("URL with {}", url_contains.join(" and "))
                    } else {
                        format!("URLに「{}」", url_contains.join("」「"))
                    });
                }
                if let Some(name) = name_contains {
                    parts.push(if en { format!("named with \"{name}\"") } else { format!("名前に「{name}」") });
                }
                if *count > 1 {
                    parts.push(if en {
                        format!("{count} times within {}", hours_text(*within_hours, en))
                    } else {
                        format!("{}以内に{count}回", hours_text(*within_hours, en))
                    });
                }
                parts.join(if en { ", " } else { "・" })
            }
            Trigger::Score { threshold } => {
                if en {
                    format!("score reaches {threshold}")
                } else {
                    format!("スコアが{threshold}点に到達")
                }
            }
        }
    }
}

fn hours_text(hours: u32, en: bool) -> String {
    match (hours.is_multiple_of(24), en) {
        (true, false) => format!("{}日", hours / 24),
        (true, true) => format!("{} days", hours / 24),
        (false, false) => format!("{hours}時間"),
        (false, true) => format!("{hours} hours"),
    }
}

impl AlertConfig {
    /// Checks the rules (ids unique, names, counts, windows, URLs) against the products.
    ///
    /// # Errors
    /// Every problem by field (`rules[N].…`).
    pub fn check(&self, products: &[i64]) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::default();
        for (index, rule) in self.rules.iter().enumerate() {
            let at = |field: &str| format!("rules[{index}].{field}");
            let named = if rule.name.trim().is_empty() { format!("{}", index + 1) } else { rule.name.clone() };
            if rule.name.trim().is_empty() {
                errors.push(FieldError::new(
                    at("name"),
                    "required",
                    "アラート名を入力してください。",
                    "Name the alert.",
                ));
            }
            if self.rules[..index].iter().any(|r| r.id == rule.id) {
                errors.push(FieldError::new(
                    at("id"),
                    "duplicate",
                    "ルールのIDが重複しています。",
                    "Two rules share an id.",
                ));
            }
            if rule.product_id.is_some_and(|p| !products.contains(&p)) {
                errors.push(FieldError::new(
                    at("product_id"),
                    "unknown_product",
                    "商材が見つかりません。",
                    "No such product.",
                ));
            }
            if !(1..=24 * 365).contains(&rule.window_hours) {
                errors.push(FieldError::new(
                    at("window_hours"),
                    "out_of_range",
                    format!("アラート「{named}」の重複抑止期間は1〜8,760時間にしてください。"),
                    format!("The alert \"{named}\" repeats after 1 to 8,760 hours."),
                ));
            }
            match &rule.trigger {
                Trigger::Event { kind, count, within_hours, .. } => {
                    if crate::EventKind::parse(kind).is_none() {
                        errors.push(FieldError::new(
                            at("kind"),
                            "unknown_kind",
                            format!("アラート「{named}」の行動の種類を選んでください。"),
                            format!("Choose the kind of action for the alert \"{named}\"."),
                        ));
                    }
                    if !(1..=100).contains(count) || !(1..=24 * 365).contains(within_hours) {
                        errors.push(FieldError::new(
                            at("count"),
                            "out_of_range",
                            format!("アラート「{named}」の回数は1〜100回、期間は1〜8,760時間にしてください。"),
                            format!("The alert \"{named}\" counts 1 to 100 times within 1 to 8,760 hours."),
                        ));
                    }
                }
                Trigger::Score { threshold } => {
                    if !(1..=10_000).contains(threshold) {
                        errors.push(FieldError::new(
                            at("threshold"),
                            "out_of_range",
                            format!("アラート「{named}」のスコアは1〜10,000点にしてください。"),
                            format!("The alert \"{named}\" needs a score from 1 to 10,000."),
                        ));
                    }
                }
            }
            if let Some(url) = &rule.webhook_url {
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2_000 {
                    errors.push(FieldError::new(
                        at("webhook_url"),
                        "invalid_url",
                        format!("アラート「{named}」のWebhook URLは http:// か https:// で始めてください。"),
                        format!("The alert \"{named}\" needs a webhook URL starting with http:// or https://."),
                    ));
                }
            }
        }
        if let Some(mail) = &self.pool_mail {
            if crate::Email::parse(mail).is_err() {
                errors.push(FieldError::new(
                    "pool_mail",
                    "invalid_email",
                    "プール宛てアラートのメールアドレスが正しくありません。",
                    "The pool's alert address is not an e-mail address.",
                ));
            }
        }
        errors.into_result(|| ())
    }

    /// A new rule's id: the first `rN` not taken.
    pub fn next_id(&self) -> String {
        (1..).map(|n| format!("r{n}")).find(|id| self.rules.iter().all(|r| &r.id != id)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf_rule() -> AlertRule {
        AlertRule {
            id: "r1".into(),
            name: "PDFから製品ページ".into(),
            product_id: Some(1),
            trigger: Trigger::Event {
                kind: "page_view".into(),
                url_contains: vec!["utm_source=pdf".into(), "/erp".into()],
                name_contains: None,
                tracked_link: true,
                count: 1,
                within_hours: 168,
            },
            window_hours: 24,
            mail: true,
            webhook_url: None,
            active: true,
        }
    }

    #[test]
    fn events_match_kind_product_and_conditions() {
        let rule = pdf_rule();
        let seen = Seen {
            kind: "page_view",
            product_id: Some(1),
            name: None,
            url: Some("https://example.jp/erp?utm_source=pdf"),
            tracked_link: true,
        };
        assert!(rule.matches(&seen));
        assert!(!rule.matches(&Seen { tracked_link: false, ..seen }), "typed in, not followed from the PDF");
        assert!(!rule.matches(&Seen { url: Some("https://example.jp/erp"), ..seen }));
        assert!(!rule.matches(&Seen { product_id: Some(2), ..seen }));
        assert!(!rule.matches(&Seen { kind: "download", ..seen }));
        assert!(!AlertRule { active: false, ..rule.clone() }.matches(&seen));
        let raw = r#"{"url":"https://example.jp/erp?utm_source=pdf","link":"pdf1"}"#;
        assert!(rule.might_match("page_view", Some(1), raw));
        assert!(!rule.might_match("page_view", Some(1), r#"{"url":"https://example.jp/erp"}"#));
        assert!(!rule.might_match("download", Some(1), raw));
        assert_eq!(rule.describe("ja"), "ページ閲覧・追跡リンク経由・URLに「utm_source=pdf」「/erp」");
    }

    #[test]
    fn rules_are_checked() {
        let mut bad = pdf_rule();
        bad.name = " ".into();
        bad.webhook_url = Some("ftp://x".into());
        bad.trigger = Trigger::Event {
            kind: "nope".into(),
            url_contains: vec![],
            name_contains: None,
            tracked_link: false,
            count: 0,
            within_hours: 1,
        };
        let config =
            AlertConfig { rules: vec![bad, pdf_rule()], pool_mail: Some("x".into()), webhook_secret: String::new() };
        let errors = config.check(&[1]).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rules[0].name", "rules[0].kind", "rules[0].count", "rules[0].webhook_url", "rules[1].id", "pool_mail"]
        );
        assert_eq!(config.next_id(), "r2");
    }
}
