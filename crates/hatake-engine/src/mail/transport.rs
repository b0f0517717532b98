//! Where mail goes: an SMTP server (hatake's client, [`super::smtp`]: plain, STARTTLS or TLS,
//! with or without a login, pipelining when the server offers it) or a directory of `.eml`
//! files for development.
//!
//! A message is sent in three steps so that the outbox can record the hand-over before the
//! server can take it: [`MailConnection::begin`] names sender and recipient and asks to send
//! (SMTP `MAIL`, `RCPT`, `DATA` up to the server's 354), [`MailConnection::content`] sends the
//! message without its end, and [`MailConnection::finish`] ends it and returns the server's
//! answer — asking for the next message in the same round trip when there is one.

use super::smtp::{Client, Connect, Envelope, SmtpError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How a send failed, as the outbox needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The server's reply code, when it answered.
    pub code: Option<u16>,
    pub message: String,
    /// Worth trying again later (a 4xx reply, a timeout, a broken connection).
    pub transient: bool,
    /// The connection cannot be used again.
    pub broken: bool,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code} {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for SendError {}

impl SendError {
    /// A failure of the client: what the server said (or that it said nothing), and whether
    /// the session is still good.
    fn from_smtp(error: SmtpError, broken: bool) -> Self {
        match error {
            SmtpError::Refused(reply) => Self {
                code: Some(reply.code),
                message: reply.text,
                transient: (400..500).contains(&reply.code),
                broken: broken || reply.code == 421,
            },
            // No reply: a timeout or the network; the connection is gone.
            SmtpError::Io(error) => Self { code: None, message: error.to_string(), transient: true, broken: true },
            SmtpError::Local(message) => Self { code: None, message, transient: false, broken },
        }
    }

    /// A failure of this side (a wrong setting, a message that cannot be built): permanent.
    pub fn local(message: impl Into<String>) -> Self {
        Self { code: None, message: message.into(), transient: false, broken: false }
    }
}

/// What the server said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub code: u16,
    pub message: String,
}

/// How ending a message went: the server's answer, and how asking for the next one went.
pub struct Ended {
    pub taken: Result<Accepted, SendError>,
    /// When a next message was given.
    pub next: Option<Result<(), SendError>>,
}

/// One open connection to where mail goes.
#[async_trait]
pub trait MailConnection: Send {
    /// Names the sender and recipient and asks to send a message (up to the server's go-ahead).
    async fn begin(&mut self, envelope: &Envelope) -> Result<(), SendError>;
    /// Sends the message begun without its end: the server cannot take it yet, and discards it
    /// if the connection drops now.
    async fn content(&mut self, message: &[u8]) -> Result<(), SendError>;
    /// Writes the message's end (the server can take it from here on) and, with `next`, the
    /// next message's request when the server allows it in the same write; reads nothing.
    async fn end(&mut self, next: Option<&Envelope>) -> Result<(), SendError> {
        if !self.end_now(next)? {
            self.end_rest().await?;
        }
        Ok(())
    }
    /// [`MailConnection::end`] without waiting for anything (it runs on the thread that
    /// committed the hand-over, right after the commit): `false` when
    /// [`MailConnection::end_rest`] must write the rest.
    fn end_now(&mut self, next: Option<&Envelope>) -> Result<bool, SendError>;
    /// What [`MailConnection::end_now`] left to write.
    async fn end_rest(&mut self) -> Result<(), SendError>;
    /// The answers after [`MailConnection::end`]: the message's, and the next request's.
    async fn answers(&mut self) -> Ended;
    /// Says goodbye (SMTP `QUIT`).
    async fn close(&mut self);
}

/// Opens connections.
#[async_trait]
pub trait MailTransport: Send + Sync {
    async fn open(&self) -> Result<Box<dyn MailConnection>, SendError>;
    /// For logs and pages: where mail goes.
    fn describe(&self) -> String;
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (a relay on the same host or network).
    None,
    /// Plain first, then `STARTTLS` (port 587); refused when the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl TlsMode {
    /// The usual port: 465 for TLS, 587 for STARTTLS, 25 without.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::Tls => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        }
    }
}

/// An SMTP server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The name this side gives in `EHLO` (the machine's name by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hello_name: Option<String>,
    /// Seconds to wait for each answer.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Certificate authorities (PEM) trusted besides the usual ones: for a relay whose
    /// certificate comes from the company's own CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_roots: Option<String>,
}

fn default_timeout() -> u64 {
    30
}

/// Sends through an SMTP server.
pub struct SmtpTransport {
    settings: SmtpSettings,
    timeout: Duration,
    /// The TLS settings, or why the given authorities cannot be used.
    trust: Result<Arc<rustls::ClientConfig>, String>,
}

impl SmtpTransport {
    pub fn new(settings: SmtpSettings) -> Self {
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let trust = crate::mail::smtp::tls_config(settings.tls_roots.as_deref()).map_err(|e| e.to_string());
        Self { settings, timeout, trust }
    }
}

/// The name this machine gives in `EHLO` when none is set.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        .unwrap_or_else(|| "localhost".to_owned())
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn open(&self) -> Result<Box<dyn MailConnection>, SendError> {
        let hello = self.settings.hello_name.clone().unwrap_or_else(machine_name);
        let login = match (&self.settings.username, &self.settings.password) {
            (Some(user), Some(password)) => Some((user.as_str(), password.as_str())),
            _ => None,
        };
        let trust = self.trust.clone().map_err(SendError::local)?;
        let to = Connect {
            trust,
            host: &self.settings.host,
            port: self.settings.port,
            tls: self.settings.tls == TlsMode::Tls,
            starttls: self.settings.tls == TlsMode::Starttls,
            hello: &hello,
            login,
            timeout: self.timeout,
        };
        match Client::connect(&to).await {
            Ok(client) => Ok(Box::new(SmtpConnection { client })),
            Err(SmtpError::Io(error)) => Err(SendError {
                code: None,
                message: format!("cannot reach {}:{}: {error}", self.settings.host, self.settings.port),
                transient: true,
                broken: true,
            }),
            Err(error) => Err(SendError { broken: true, ..SendError::from_smtp(error, true) }),
        }
    }

    fn describe(&self) -> String {
        format!("smtp://{}:{}", self.settings.host, self.settings.port)
    }
}

struct SmtpConnection {
    client: Client,
}

impl SmtpConnection {
    fn error(&self, error: SmtpError) -> SendError {
        SendError::from_smtp(error, self.client.broken())
    }
}

#[async_trait]
impl MailConnection for SmtpConnection {
    async fn begin(&mut self, envelope: &Envelope) -> Result<(), SendError> {
        self.client.begin(envelope).await.map_err(|e| self.error(e))
    }

    async fn content(&mut self, message: &[u8]) -> Result<(), SendError> {
        self.client.content(message).await.map_err(|e| self.error(e))
    }

    fn end_now(&mut self, next: Option<&Envelope>) -> Result<bool, SendError> {
        self.client.end_now(next).map_err(|e| self.error(e))
    }

    async fn end_rest(&mut self) -> Result<(), SendError> {
        self.client.end_rest().await.map_err(|e| self.error(e))
    }

    async fn answers(&mut self) -> Ended {
        let finished = self.client.answers().await;
        let taken = match finished.taken {
            Ok(reply) => Ok(Accepted { code: reply.code, message: reply.text }),
            Err(error) => Err(self.error(error)),
        };
        Ended { taken, next: finished.next.map(|next| next.map_err(|e| self.error(e))) }
    }

    async fn close(&mut self) {
        self.client.quit().await;
    }
}

/// Writes each message as a `.eml` file into a directory (development: nothing leaves the
/// machine). The file is named after the message and written whole or not at all.
pub struct FileTransport {
    pub dir: PathBuf,
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn open(&self) -> Result<Box<dyn MailConnection>, SendError> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| SendError::local(format!("cannot create {}: {e}", self.dir.display())))?;
        Ok(Box::new(FileConnection { dir: self.dir.clone(), envelope: None, content: None, ending: None, ended: None }))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

struct FileConnection {
    dir: PathBuf,
    envelope: Option<Envelope>,
    content: Option<Vec<u8>>,
    /// A message ended and not written yet, with the next message given with its end.
    ending: Option<Option<Envelope>>,
    /// What writing the last message's file gave, and the next message given with its end.
    ended: Option<(Result<Accepted, SendError>, Option<Envelope>)>,
}

fn check_address(text: &str) -> Result<(), SendError> {
    text.parse::<lettre::Address>().map(drop).map_err(|e| SendError::local(format!("{text}: {e}")))
}

impl FileConnection {
    async fn write(&mut self) -> Result<Accepted, SendError> {
        let (Some(envelope), Some(message)) = (self.envelope.take(), self.content.take()) else {
            return Err(SendError::local("no message begun"));
        };
        let id = message_id_of(&message).unwrap_or_else(|| format!("{}", crate::runtime::clock::system_millis()));
        let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        let path = self.dir.join(format!("{name}.eml"));
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let mut bytes =
            format!("X-Hatake-Envelope-From: {}\r\nX-Hatake-Envelope-To: {}\r\n", envelope.from, envelope.to)
                .into_bytes();
        bytes.extend_from_slice(&message);
        let written = async {
            tokio::fs::write(&temporary, &bytes).await?;
            tokio::fs::rename(&temporary, &path).await
        };
        written.await.map_err(|e| SendError {
            code: None,
            message: format!("cannot write {}: {e}", path.display()),
            transient: true,
            broken: false,
        })?;
        Ok(Accepted { code: 250, message: format!("written to {}", path.display()) })
    }
}

#[async_trait]
impl MailConnection for FileConnection {
    async fn begin(&mut self, envelope: &Envelope) -> Result<(), SendError> {
        check_address(&envelope.from)?;
        check_address(&envelope.to)?;
        self.envelope = Some(envelope.clone());
        self.content = None;
        Ok(())
    }

    async fn content(&mut self, message: &[u8]) -> Result<(), SendError> {
        if self.envelope.is_none() {
            return Err(SendError::local("no message begun"));
        }
        self.content = Some(message.to_vec());
        Ok(())
    }

    /// A file is written by [`MailConnection::end_rest`] (after the commit, off its thread).
    fn end_now(&mut self, next: Option<&Envelope>) -> Result<bool, SendError> {
        self.ending = Some(next.cloned());
        Ok(false)
    }

    async fn end_rest(&mut self) -> Result<(), SendError> {
        let Some(next) = self.ending.take() else { return Ok(()) };
        let written = self.write().await;
        self.ended = Some((written, next));
        Ok(())
    }

    async fn answers(&mut self) -> Ended {
        let Some((taken, next)) = self.ended.take() else {
            return Ended { taken: Err(SendError::local("no message ended")), next: None };
        };
        let next = match next {
            Some(envelope) => Some(self.begin(&envelope).await),
            None => None,
        };
        Ended { taken, next }
    }

    async fn close(&mut self) {}
}

/// The `Message-ID` header's value of a message, without angle brackets.
pub fn message_id_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&message[..message.len().min(16 * 1024)]);
    let mut lines = text.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("message-id") {
                let mut value = value.trim().to_owned();
                while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                    value.push_str(next.trim());
                    lines.next();
                }
                return Some(value.trim_matches(['<', '>']).to_owned());
            }
        }
    }
    None
}
