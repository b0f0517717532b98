//! What comes back after mail went out: bounces and complaints, from a delivery status
//! notification (RFC 3464) or an abuse feedback report (ARF, RFC 5965) piped in from a mailbox
//! (`hatake mail inbound < message`), or from the webhook of a sending relay (the JSON of
//! SendGrid, Mailgun, Amazon SES through SNS, Postmark, or a plain list). Applied ([`apply`]):
//! a hard bounce suppresses the address; a soft one is counted and suppresses it after
//! [`SOFT_LIMIT`]; a complaint suppresses it and unsubscribes the person from everything. The
//! newsletter the mail belonged to counts each.

use super::subscriptions::topics;
use hatake_store::{Millis, Store, StoreResult, SubscriptionChange};
use mail_parser::MimeHeaders;
use serde::Serialize;

/// Soft bounces before an address is suppressed.
pub const SOFT_LIMIT: i64 = 3;

/// What happened to a mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    HardBounce,
    SoftBounce,
    Complaint,
}

/// One bounce or complaint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub kind: Kind,
    /// The recipient's address, lower-case.
    pub email: String,
    /// Our mail's Message-ID (without angle brackets), when the report carries it.
    pub message_id: Option<String>,
    /// The server's reason (`550 5.1.1 user unknown`).
    pub detail: Option<String>,
}

/// Why a report cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedbackError {
    #[error("not a delivery status notification or feedback report (no multipart/report part)")]
    NotAReport,
    #[error("the report names no recipient")]
    NoRecipient,
    #[error("the webhook body is not JSON of a known relay: {0}")]
    Webhook(String),
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned()
}

fn clean_address(value: &str) -> String {
    // `rfc822; someone@example.jp` or `<someone@example.jp>`.
    let value = value.split_once(';').map_or(value, |(_, a)| a);
    value.trim().trim_start_matches('<').trim_end_matches('>').trim().to_lowercase()
}

/// The fields of a header-like block (`Name: value`, continued on indented lines), names
/// lower-case.
fn fields(block: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// Reads a DSN or an ARF report (the raw message).
///
/// # Errors
/// [`FeedbackError::NotAReport`] for any other message; [`FeedbackError::NoRecipient`] when
/// the report names no address.
pub fn parse_message(raw: &[u8]) -> Result<Vec<Feedback>, FeedbackError> {
    let message = mail_parser::MessageParser::default().parse(raw).ok_or(FeedbackError::NotAReport)?;
    let mut status_block = None;
    let mut feedback_block = None;
    let mut original_id = None;
    for part in &message.parts {
        let Some(content_type) = part.content_type() else { continue };
        let kind = format!("{}/{}", content_type.ctype(), content_type.subtype().unwrap_or_default()).to_lowercase();
        let text = match &part.body {
            mail_parser::PartType::Text(text) => Some(text.to_string()),
            mail_parser::PartType::Binary(bytes) | mail_parser::PartType::InlineBinary(bytes) => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            mail_parser::PartType::Message(inner) => {
                original_id = original_id.or_else(|| inner.message_id().map(clean_id));
                None
            }
            _ => None,
        };
        match kind.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => status_block = text,
            "message/feedback-report" => feedback_block = text,
            "text/rfc822-headers" | "message/rfc822-headers" => {
                if let Some(headers) = text {
                    original_id = original_id.or_else(|| field(&fields(&headers), "message-id").map(clean_id));
                }
            }
            _ => {}
        }
    }
    if let Some(report) = feedback_block {
        let report_fields = fields(&report);
        let email = field(&report_fields, "original-rcpt-to")
            .or_else(|| field(&report_fields, "removal-recipient"))
            .map(clean_address)
            .or_else(|| {
                message.parts.iter().find_map(|p| match &p.body {
                    mail_parser::PartType::Message(inner) => {
                        inner.to().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_lowercase)
                    }
                    _ => None,
                })
            })
            .ok_or(FeedbackError::NoRecipient)?;
        let detail = field(&report_fields, "feedback-type").map(str::to_owned);
        return Ok(vec![Feedback { kind: Kind::Complaint, email, message_id: original_id, detail }]);
    }
    let Some(status) = status_block else { return Err(FeedbackError::NotAReport) };
    // The first block is about the message; each further one about a recipient.
    let mut found = Vec::new();
    for block in status.replace("\r\n", "\n").split("\n\n").skip(1) {
        let f = fields(block);
        let Some(email) = field(&f, "final-recipient").or_else(|| field(&f, "original-recipient")).map(clean_address)
        else {
            continue;
        };
        let action = field(&f, "action").unwrap_or_default().to_lowercase();
        let code = field(&f, "status").unwrap_or_default().trim().to_owned();
        let kind = match (action.as_str(), code.chars().next()) {
            ("failed", Some('5')) | ("failed", None) => Kind::HardBounce,
            ("failed" | "delayed", Some('4')) | ("delayed", _) => Kind::SoftBounce,
            ("delivered" | "relayed" | "expanded", _) => continue,
            (_, Some('5')) => Kind::HardBounce,
            (_, Some('4')) => Kind::SoftBounce,
            _ => continue,
        };
        let diagnostic =
            field(&f, "diagnostic-code").map(|d| d.split_once(';').map_or(d, |(_, t)| t).trim().to_owned());
        let detail = match diagnostic {
            Some(d) if !d.is_empty() => Some(d),
            _ => Some(code).filter(|c| !c.is_empty()),
        };
        found.push(Feedback { kind, email, message_id: original_id.clone(), detail });
    }
    if found.is_empty() {
        return Err(FeedbackError::NoRecipient);
    }
    Ok(found)
}

fn text(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().map(str::to_owned)
}

/// Reads a relay's webhook body.
///
/// # Errors
/// [`FeedbackError::Webhook`] when the JSON is of no known shape.
pub fn parse_webhook(body: &serde_json::Value) -> Result<Vec<Feedback>, FeedbackError> {
    // Amazon SES through SNS: the notification is a JSON string in `Message`.
    if let Some(inner) = body.get("Message").and_then(|m| m.as_str()) {
        let inner: serde_json::Value =
            serde_json::from_str(inner).map_err(|e| FeedbackError::Webhook(format!("SNS Message: {e}")))?;
        return parse_webhook(&inner);
    }
    if let Some(kind) = body.get("notificationType").or_else(|| body.get("eventType")).and_then(|k| k.as_str()) {
        let message_id = text(body, &["mail", "messageId"]);
        // Our own Message-ID, from the headers SES keeps.
        let ours = body
            .pointer("/mail/headers")
            .and_then(|h| h.as_array())
            .and_then(|h| {
                h.iter().find(|x| {
                    x.get("name").and_then(|n| n.as_str()).is_some_and(|n| n.eq_ignore_ascii_case("message-id"))
                })
            })
            .and_then(|x| x.get("value").and_then(|v| v.as_str()))
            .map(clean_id)
            .or(message_id);
        return match kind {
            "Bounce" => {
                let hard = text(body, &["bounce", "bounceType"]).as_deref() == Some("Permanent");
                let list =
                    body.pointer("/bounce/bouncedRecipients").and_then(|r| r.as_array()).cloned().unwrap_or_default();
                Ok(list
                    .iter()
                    .filter_map(|r| {
                        let email = r.get("emailAddress")?.as_str()?.to_lowercase();
                        let detail = r.get("diagnosticCode").and_then(|d| d.as_str()).map(str::to_owned);
                        Some(Feedback {
                            kind: if hard { Kind::HardBounce } else { Kind::SoftBounce },
                            email,
                            message_id: ours.clone(),
                            detail,
                        })
                    })
                    .collect())
            }
            "Complaint" => {
                let list = body
                    .pointer("/complaint/complainedRecipients")
                    .and_then(|r| r.as_array())
                    .cloned()
                    .unwrap_or_default();
                Ok(list
                    .iter()
                    .filter_map(|r| {
                        let email = r.get("emailAddress")?.as_str()?.to_lowercase();
                        Some(Feedback { kind: Kind::Complaint, email, message_id: ours.clone(), detail: None })
                    })
                    .collect())
            }
            _ => Ok(Vec::new()),
        };
    }
    // Mailgun: `event-data`.
    if let Some(event) = body.get("event-data") {
        let email = text(event, &["recipient"]).map(|e| e.to_lowercase()).ok_or(FeedbackError::NoRecipient)?;
        let message_id = text(event, &["message", "headers", "message-id"]).map(|m| clean_id(&m));
        let detail =
            text(event, &["delivery-status", "description"]).or_else(|| text(event, &["delivery-status", "message"]));
        let kind = match (text(event, &["event"]).as_deref(), text(event, &["severity"]).as_deref()) {
            (Some("failed"), Some("permanent")) => Kind::HardBounce,
            (Some("failed"), _) => Kind::SoftBounce,
            (Some("complained"), _) => Kind::Complaint,
            _ => return Ok(Vec::new()),
        };
        return Ok(vec![Feedback { kind, email, message_id, detail }]);
    }
    // Postmark: `RecordType`.
    if let Some(record) = body.get("RecordType").and_then(|r| r.as_str()) {
        let email = text(body, &["Email"]).map(|e| e.to_lowercase()).ok_or(FeedbackError::NoRecipient)?;
        let kind = match (record, text(body, &["Type"]).as_deref()) {
            ("SpamComplaint", _) => Kind::Complaint,
            ("Bounce", Some("HardBounce" | "BadEmailAddress" | "ManuallyDeactivated")) => Kind::HardBounce,
            ("Bounce", _) => Kind::SoftBounce,
            _ => return Ok(Vec::new()),
        };
        return Ok(vec![Feedback { kind, email, message_id: None, detail: text(body, &["Description"]) }]);
    }
    // SendGrid (and a plain list): an array of events.
    if let Some(events) = body.as_array() {
        let mut found = Vec::new();
        for event in events {
            let Some(email) = text(event, &["email"]).map(|e| e.to_lowercase()) else { continue };
            let reason = text(event, &["reason"]).or_else(|| text(event, &["detail"]));
            let kind = match (text(event, &["event"]).as_deref(), text(event, &["type"]).as_deref()) {
                (Some("bounce"), Some("blocked" | "soft" | "deferred")) | (Some("deferred" | "soft_bounce"), _) => {
                    Kind::SoftBounce
                }
                (Some("bounce" | "dropped" | "hard_bounce"), _) => Kind::HardBounce,
                (Some("spamreport" | "complaint"), _) => Kind::Complaint,
                _ => continue,
            };
            let message_id = text(event, &["message_id"]).or_else(|| text(event, &["smtp-id"])).map(|m| clean_id(&m));
            found.push(Feedback { kind, email, message_id, detail: reason });
        }
        return Ok(found);
    }
    Err(FeedbackError::Webhook("expected SendGrid, Mailgun, SES (SNS), Postmark or a list of events".into()))
}

/// What [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub hard_bounces: u64,
    pub soft_bounces: u64,
    pub complaints: u64,
    /// Addresses suppressed by these reports.
    pub suppressed: Vec<String>,
    /// People unsubscribed from everything by a complaint.
    pub unsubscribed: Vec<i64>,
    /// Reports matched to one of our mails (by Message-ID or address).
    pub matched: u64,
}

/// Applies bounces and complaints.
///
/// # Errors
/// When the store fails.
pub async fn apply(store: &dyn Store, feedback: &[Feedback], now: Millis) -> StoreResult<Applied> {
    let mut applied = Applied::default();
    let all_topics = topics(store).await?;
    for item in feedback {
        let row = match &item.message_id {
            Some(id) => store.outbox_by_message_id(id).await?,
            None => None,
        };
        if row.is_some() {
            applied.matched += 1;
        }
        let (reason, bounce, complained) = match item.kind {
            Kind::HardBounce => ("hard_bounce", Some("hard"), false),
            Kind::SoftBounce => ("soft_bounce", Some("soft"), false),
            Kind::Complaint => ("complaint", None, true),
        };
        match item.kind {
            Kind::HardBounce => applied.hard_bounces += 1,
            Kind::SoftBounce => applied.soft_bounces += 1,
            Kind::Complaint => applied.complaints += 1,
        }
        if store.suppress(&item.email, reason, item.detail.as_deref(), SOFT_LIMIT, now).await?
            && !applied.suppressed.contains(&item.email)
        {
            applied.suppressed.push(item.email.clone());
        }
        if let Some(row) = &row {
            store.mark_recipient(&row.idempotency_key, bounce, complained, now).await?;
        }
        if item.kind == Kind::Complaint {
            let lead = match row.as_ref().and_then(|r| r.lead_id) {
                Some(lead) => Some(lead),
                None => store.lead_ids_by_email(std::slice::from_ref(&item.email)).await?.first().map(|(_, id)| *id),
            };
            if let Some(lead) = lead {
                let changes: Vec<SubscriptionChange> = all_topics
                    .iter()
                    .map(|t| SubscriptionChange {
                        lead_id: lead,
                        topic: t.key.clone(),
                        status: "unsubscribed".into(),
                        source: "complaint".into(),
                        detail: item.detail.clone(),
                        by_user: None,
                        at: now,
                    })
                    .collect();
                store.change_subscriptions(&changes).await?;
                applied.unsubscribed.push(lead);
            }
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DSN: &str = "From: MAILER-DAEMON@mx.example.jp\r\nTo: bounces@hatake.example.jp\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThis is the mail system.\r\n\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\nArrival-Date: Mon, 7 Dec 2026 10:00:00 +0900\r\n\r\nFinal-Recipient: rfc822; Gone@Example.jp\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.jp>: Recipient address rejected:\r\n  User unknown\r\n\r\nFinal-Recipient: rfc822; full@example.jp\r\nAction: delayed\r\nStatus: 4.2.2\r\nDiagnostic-Code: smtp; 452 4.2.2 Mailbox full\r\n\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@hatake.example.jp\r\nTo: gone@example.jp\r\nSubject: =?UTF-8?B?44GU5qGI5YaF?=\r\nMessage-ID: <abc123@hatake.example.jp>\r\n\r\n--B--\r\n";

    const ARF: &str = "From: fbl@isp.example.jp\r\nTo: abuse@hatake.example.jp\r\nSubject: complaint\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n--F\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <Reader@Example.jp>\r\n\r\n--F\r\nContent-Type: message/rfc822\r\n\r\nFrom: news@hatake.example.jp\r\nTo: reader@example.jp\r\nSubject: news\r\nMessage-ID: <def456@hatake.example.jp>\r\n\r\nbody\r\n\r\n--F--\r\n";

    #[test]
    fn delivery_status_notifications_name_each_recipient() {
        let found = parse_message(DSN.as_bytes()).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::HardBounce);
        assert_eq!(found[0].email, "gone@example.jp");
        assert_eq!(found[0].message_id.as_deref(), Some("abc123@hatake.example.jp"));
        assert_eq!(
            found[0].detail.as_deref(),
            Some("550 5.1.1 <gone@example.jp>: Recipient address rejected: User unknown")
        );
        assert_eq!((found[1].kind, found[1].email.as_str()), (Kind::SoftBounce, "full@example.jp"));
    }

    #[test]
    fn feedback_reports_are_complaints() {
        let found = parse_message(ARF.as_bytes()).unwrap();
        assert_eq!(
            found,
            vec![Feedback {
                kind: Kind::Complaint,
                email: "reader@example.jp".into(),
                message_id: Some("def456@hatake.example.jp".into()),
                detail: Some("abuse".into()),
            }]
        );
        assert_eq!(parse_message(b"From: a@b\r\nSubject: hi\r\n\r\nhello\r\n"), Err(FeedbackError::NotAReport));
    }

    #[test]
    fn relays_webhooks_are_read() {
        let sendgrid = serde_json::json!([
            {"email": "a@example.jp", "event": "bounce", "type": "bounce", "reason": "550 5.1.1", "sg_message_id": "x"},
            {"email": "b@example.jp", "event": "bounce", "type": "blocked"},
            {"email": "c@example.jp", "event": "spamreport"},
            {"email": "d@example.jp", "event": "open"}
        ]);
        let kinds: Vec<Kind> = parse_webhook(&sendgrid).unwrap().iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Kind::HardBounce, Kind::SoftBounce, Kind::Complaint]);
        let mailgun = serde_json::json!({"signature": {}, "event-data": {"event": "failed", "severity": "permanent",
            "recipient": "A@example.jp", "message": {"headers": {"message-id": "m1@hatake.example.jp"}},
            "delivery-status": {"description": "No such user"}}});
        let f = parse_webhook(&mailgun).unwrap();
        assert_eq!(
            (f[0].kind, f[0].email.as_str(), f[0].message_id.as_deref()),
            (Kind::HardBounce, "a@example.jp", Some("m1@hatake.example.jp"))
        );
        let ses = serde_json::json!({"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "t@example.jp"}]},
            "mail": {"messageId": "ses-id", "headers": [{"name": "Message-ID", "value": "<ours@hatake.example.jp>"}]}});
        let sns = serde_json::json!({"Type": "Notification", "Message": ses.to_string()});
        let f = parse_webhook(&sns).unwrap();
        assert_eq!((f[0].kind, f[0].message_id.as_deref()), (Kind::SoftBounce, Some("ours@hatake.example.jp")));
        let postmark = serde_json::json!({"RecordType": "SpamComplaint", "Email": "p@example.jp"});
        assert_eq!(parse_webhook(&postmark).unwrap()[0].kind, Kind::Complaint);
        assert!(parse_webhook(&serde_json::json!({"hello": 1})).is_err());
    }
}
