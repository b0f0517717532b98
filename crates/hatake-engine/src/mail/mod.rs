//! Mail: what an outbox row of kind `mail` holds ([`OutgoingMail`]), how it becomes the bytes of
//! a message ([`build`]), where it goes ([`transport`]) and the worker that sends what is due
//! ([`sender::MailSender`]). Every mail is recorded in the outbox first ([`enqueue`]) with an
//! idempotency key from its cause, so a cause never sends twice.

pub mod compose;
pub mod config;
pub mod dkim;
pub mod feedback;
pub mod jis;
pub mod limits;
pub mod newsletter;
pub mod sender;
pub mod smtp;
pub mod subscriptions;
pub mod template;
pub mod transport;

use hatake_store::{Millis, NewOutbox, OutboxStore, StoreResult};
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The outbox kind of mail.
pub const KIND: &str = "mail";

/// A mail as the outbox keeps it until it is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingMail {
    pub from_name: Option<String>,
    pub from_address: String,
    pub to_name: Option<String>,
    pub to_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    pub subject: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The one-click unsubscribe URL (RFC 8058): `List-Unsubscribe` and
    /// `List-Unsubscribe-Post` headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
    /// The subscription topic of marketing mail (`general`, `product:{id}`): not sent once the
    /// lead unsubscribed from it. `None` for mail a person asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// `iso-2022-jp` to send the subject and parts in ISO-2022-JP (see [`jis`]); UTF-8 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
}

impl OutgoingMail {
    /// Whether the mail goes out in ISO-2022-JP.
    pub fn iso_2022_jp(&self) -> bool {
        self.charset.as_deref() == Some(jis::CHARSET)
    }
}

/// A part's body in ISO-2022-JP: 7bit when every line is short enough, else base64.
fn jis_part(kind: &str, text: &str) -> SinglePart {
    let encoded = jis::encode(text);
    let content_type =
        ContentType::parse(&format!("text/{kind}; charset=ISO-2022-JP")).unwrap_or(ContentType::TEXT_PLAIN);
    let short = encoded.lines().all(|l| l.len() < 900);
    let encoding = if short { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::Base64 };
    let body = Body::new_with_encoding(encoded.clone(), encoding).unwrap_or_else(|_| {
        Body::new_with_encoding(encoded, ContentTransferEncoding::Base64).unwrap_or_else(|_| Body::new(String::new()))
    });
    SinglePart::builder().header(content_type).body(body)
}

/// Why a mail cannot be built (permanent: the row fails).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the address {0} is not valid")]
    Address(String),
    #[error("the message cannot be built: {0}")]
    Message(String),
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, BuildError> {
    let email = address.trim().parse().map_err(|_| BuildError::Address(address.to_owned()))?;
    Ok(Mailbox::new(name.map(str::to_owned).filter(|n| !n.trim().is_empty()), email))
}

/// The `Message-ID` of the mail recorded under `key`: the same cause always gets the same id
/// (a receiver and our own counts can tell a second copy), in the sender's domain.
pub fn message_id(key: &str, from_address: &str) -> String {
    let domain = from_address.rsplit_once('@').map_or("hatake.invalid", |(_, d)| d);
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{domain}")
}

/// The bytes of the message, UTF-8 (lettre encodes headers and bodies for transport).
///
/// # Errors
/// An address or part that cannot be encoded.
pub fn build(mail: &OutgoingMail, message_id: &str, date: Millis) -> Result<Vec<u8>, BuildError> {
    build_signed(mail, message_id, date, None)
}

/// The same, signed with the organisation's DKIM key when there is one.
///
/// # Errors
/// An address or part that cannot be encoded.
pub fn build_signed(
    mail: &OutgoingMail,
    message_id: &str,
    date: Millis,
    dkim: Option<&dkim::DkimSigner>,
) -> Result<Vec<u8>, BuildError> {
    let jis = mail.iso_2022_jp();
    let mut builder = lettre::Message::builder()
        .from(mailbox(mail.from_name.as_deref(), &mail.from_address)?)
        .to(mailbox(mail.to_name.as_deref(), &mail.to_address)?);
    builder = if jis {
        builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str("Subject"),
            mail.subject.clone(),
            jis::encoded_words(&mail.subject),
        ))
    } else {
        builder.subject(mail.subject.clone())
    };
    let mut builder = builder
        .message_id(Some(format!("<{message_id}>")))
        .date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(date).unwrap_or(0)));
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox(None, reply_to)?);
    }
    if let Some(url) = &mail.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_owned(),
            ));
    }
    let text = if jis {
        jis_part("plain", &mail.text)
    } else {
        SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text.clone())
    };
    let message = match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative().singlepart(text).singlepart(if jis {
            jis_part("html", html)
        } else {
            SinglePart::builder().header(ContentType::TEXT_HTML).body(html.clone())
        })),
        None => builder.singlepart(text),
    }
    .map_err(|e| BuildError::Message(e.to_string()))?;
    let mut message = message;
    if let Some(signer) = dkim {
        signer.sign(&mut message, mail.unsubscribe_url.is_some());
    }
    Ok(message.formatted())
}

/// Records a mail in the outbox under `key` (its cause), due at `due_at`; `false` when the key
/// was recorded before (nothing new is sent).
///
/// # Errors
/// When the store fails.
pub async fn enqueue(
    store: &(impl OutboxStore + ?Sized),
    key: &str,
    lead_id: Option<i64>,
    mail: &OutgoingMail,
    due_at: Millis,
    now: Millis,
) -> StoreResult<bool> {
    let row = NewOutbox {
        idempotency_key: key.to_owned(),
        kind: KIND.to_owned(),
        lead_id,
        recipient: mail.to_address.clone(),
        payload: serde_json::to_string(mail).unwrap_or_default(),
        due_at,
        topic: mail.topic.clone(),
    };
    Ok(store.enqueue_outbox(&[row], now).await? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_is_built_with_its_id_and_one_click_headers() {
        let mail = OutgoingMail {
            from_name: Some("株式会社サンプル マーケティング部".into()),
            from_address: "news@sample.co.jp".into(),
            to_name: Some("山田 太郎".into()),
            to_address: "yamada@example.co.jp".into(),
            subject: "【ご案内】ERPセミナーのお知らせ".into(),
            text: "山田 太郎 様\n\nいつもお世話になっております。".into(),
            html: Some("<p>山田 太郎 様</p>".into()),
            unsubscribe_url: Some("https://hatake.example/u/abc".into()),
            ..Default::default()
        };
        let id = message_id("newsletter:1:lead:2", &mail.from_address);
        assert_eq!(id, message_id("newsletter:1:lead:2", "other@sample.co.jp"), "the cause decides the id");
        assert!(id.ends_with("@sample.co.jp"));
        let bytes = build(&mail, &id, 1_790_000_000_000).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(&format!("Message-ID: <{id}>")), "{text}");
        assert!(text.contains("List-Unsubscribe: <https://hatake.example/u/abc>"));
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("multipart/alternative"));
        assert!(text.is_ascii() || text.contains("Content-Transfer-Encoding"), "encoded for transport");
        assert_eq!(transport::message_id_of(&bytes).as_deref(), Some(id.as_str()));
        let wrong = OutgoingMail { to_address: "not an address".into(), ..mail };
        assert!(matches!(build(&wrong, &id, 0), Err(BuildError::Address(_))));
    }
}
