//! Where mail goes, as configured: by the server's configuration (TOML or environment, which
//! then wins) or by an admin on the mail settings page (stored as the setting
//! [`SETTING_MAIL`]). Without either, mail waits in the outbox.

use super::transport::{FileTransport, MailTransport, SmtpSettings, SmtpTransport, TlsMode};
use hatake_store::{StoreResult, SystemStore};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;

/// The setting that holds the page's mail configuration (JSON of [`MailConfig`]).
pub const SETTING_MAIL: &str = "mail.transport";

/// Where mail goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum MailConfig {
    /// Nothing is sent: mail waits in the outbox.
    #[default]
    None,
    Smtp(SmtpSettings),
    /// `.eml` files in a directory (development).
    File {
        dir: PathBuf,
    },
}

impl MailConfig {
    /// The transport, or `None` when mail is off.
    pub fn transport(&self) -> Option<Arc<dyn MailTransport>> {
        match self {
            MailConfig::None => None,
            MailConfig::Smtp(settings) => Some(Arc::new(SmtpTransport::new(settings.clone()))),
            MailConfig::File { dir } => Some(Arc::new(FileTransport { dir: dir.clone() })),
        }
    }

    /// The same without the password (for pages and logs).
    pub fn redacted(&self) -> Self {
        match self {
            MailConfig::Smtp(settings) => MailConfig::Smtp(SmtpSettings {
                password: settings.password.as_ref().map(|_| "***".into()),
                ..settings.clone()
            }),
            other => other.clone(),
        }
    }
}

/// Why an SMTP URL is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

/// Reads `smtp://user:password@host:port?tls=starttls|tls|none` (also `smtps://`, TLS from the
/// first byte). The port defaults to 587 (25 without TLS, 465 for `smtps`); user and password
/// are percent-decoded.
///
/// # Errors
/// A scheme other than `smtp`/`smtps`, no host, a port or `tls` value that does not parse.
pub fn parse_smtp_url(url: &str) -> Result<SmtpSettings, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| UrlError(format!("{url}: not a URL")))?;
    let implicit = match scheme {
        "smtp" => false,
        "smtps" => true,
        other => return Err(UrlError(format!("{other}: the scheme must be smtp or smtps"))),
    };
    let (authority, query) =
        rest.split_once('?').map_or((rest.trim_end_matches('/'), ""), |(a, q)| (a.trim_end_matches('/'), q));
    let (userinfo, hostport) = authority.rsplit_once('@').map_or((None, authority), |(u, h)| (Some(u), h));
    let mut tls = if implicit { TlsMode::Tls } else { TlsMode::Starttls };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("tls", "none")) => tls = TlsMode::None,
            Some(("tls", "starttls")) => tls = TlsMode::Starttls,
            Some(("tls", "tls")) => tls = TlsMode::Tls,
            _ => return Err(UrlError(format!("{pair}: unknown option (tls=starttls, tls=tls or tls=none)"))),
        }
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => {
            (host, port.parse::<u16>().map_err(|_| UrlError(format!("{port}: the port must be a number")))?)
        }
        None => (hostport, tls.default_port()),
    };
    if host.is_empty() {
        return Err(UrlError(format!("{url}: no host")));
    }
    let (username, password) = match userinfo {
        Some(info) => {
            let (user, password) = info.split_once(':').map_or((info, None), |(u, p)| (u, Some(p)));
            (Some(percent_decode(user)), password.map(percent_decode))
        }
        None => (None, None),
    };
    Ok(SmtpSettings {
        host: host.trim_matches(['[', ']']).to_owned(),
        port,
        tls,
        username,
        password,
        hello_name: None,
        timeout_secs: 30,
        tls_roots: None,
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(value) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The page's configuration, when an admin saved one.
///
/// # Errors
/// When the store fails (a setting that does not parse counts as none, with a warning).
pub async fn stored(store: &(impl SystemStore + ?Sized)) -> StoreResult<Option<MailConfig>> {
    let Some(text) = store.get_setting(SETTING_MAIL).await? else { return Ok(None) };
    match serde_json::from_str(&text) {
        Ok(config) => Ok(Some(config)),
        Err(error) => {
            tracing::warn!(%error, "the stored mail settings do not parse");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_read() {
        let s = parse_smtp_url("smtp://mailer%40sample.co.jp:p%40ss:word@smtp.sample.co.jp:2525?tls=none").unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("smtp.sample.co.jp", 2525, TlsMode::None));
        assert_eq!(s.username.as_deref(), Some("mailer@sample.co.jp"));
        assert_eq!(s.password.as_deref(), Some("p@ss:word"));
        let s = parse_smtp_url("smtps://relay.example.jp").unwrap();
        assert_eq!((s.port, s.tls, s.username), (465, TlsMode::Tls, None));
        assert_eq!(parse_smtp_url("smtp://relay.example.jp/").unwrap().port, 587);
        assert!(parse_smtp_url("http://x").is_err());
        assert!(parse_smtp_url("smtp://x:port").is_err());
        assert!(parse_smtp_url("smtp://x?tls=maybe").is_err());
        assert!(parse_smtp_url("smtp://:25").is_err());
        let config = MailConfig::Smtp(parse_smtp_url("smtp://u:secret@h").unwrap());
        assert!(!format!("{:?}", config.redacted()).contains("secret"));
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<MailConfig>(&json).unwrap(), config);
    }
}

/// The setting that holds who sends the organisation's mail (JSON of [`SenderIdentity`]).
pub const SETTING_SENDER: &str = "mail.sender";

/// Who sends the mail, as 特定電子メール法 asks every marketing mail to say: the sender's name, a
/// postal address and a contact for enquiries. Shown on the preference page too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderIdentity {
    pub name: String,
    pub address: String,
    /// An e-mail address, phone number or URL for enquiries.
    pub contact: String,
    /// The address marketing mail is sent from (`From:`).
    #[serde(default)]
    pub from_address: String,
    /// Where hatake is reached from the internet: the base of the links in mail (tracked
    /// links, the open pixel, the preference page).
    #[serde(default)]
    pub public_url: String,
}

impl SenderIdentity {
    /// The fields left empty (`name`, `address`, `contact`).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        for (field, value) in [("name", &self.name), ("address", &self.address), ("contact", &self.contact)] {
            if value.trim().is_empty() {
                missing.push(field);
            }
        }
        missing
    }
}

/// The stored sender identity, if any.
///
/// # Errors
/// When the store fails.
pub async fn sender(store: &(impl SystemStore + ?Sized)) -> StoreResult<Option<SenderIdentity>> {
    Ok(store.get_setting(SETTING_SENDER).await?.and_then(|text| serde_json::from_str(&text).ok()))
}
