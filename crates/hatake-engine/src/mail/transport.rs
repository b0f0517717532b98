//! Where mail goes: an SMTP server (lettre's client over a socket without Nagle's delay, plain,
//! STARTTLS or TLS, with or without a login) or a directory of `.eml` files for development.
//!
//! A message is sent in two halves so that the outbox can record the hand-over in between:
//! [`MailConnection::begin`] names sender and recipient and asks to send (SMTP `MAIL`, `RCPT`,
//! `DATA` up to the server's 354), then [`MailConnection::content`] sends the message and
//! returns the server's answer.

use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailBodyParameter, MailParameter};
use lettre::Address;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
    fn from_lettre(error: &lettre::transport::smtp::Error) -> Self {
        let code = error.status().map(u16::from);
        let transient = match code {
            Some(code) => (400..500).contains(&code),
            // No reply: a timeout or the network; the connection is gone.
            None => error.is_timeout() || !error.is_client(),
        };
        Self { code, message: error.to_string(), transient, broken: code.is_none() || code == Some(421) }
    }

    fn timeout(what: &str) -> Self {
        Self { code: None, message: format!("no answer to {what} in time"), transient: true, broken: true }
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

/// One open connection to where mail goes.
#[async_trait]
pub trait MailConnection: Send {
    /// Names the sender and recipient and asks to send a message (up to the server's go-ahead);
    /// `eight_bit` when the message's bytes are not all ASCII.
    async fn begin(&mut self, from: &str, to: &str, eight_bit: bool) -> Result<(), SendError>;
    /// Sends the message begun and returns the server's acceptance.
    async fn content(&mut self, message: &[u8]) -> Result<Accepted, SendError>;
    /// Abandons a message begun (SMTP `RSET`).
    async fn reset(&mut self) -> Result<(), SendError>;
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
}

fn default_timeout() -> u64 {
    30
}

/// Sends through an SMTP server.
pub struct SmtpTransport {
    settings: SmtpSettings,
    timeout: Duration,
}

impl SmtpTransport {
    pub fn new(settings: SmtpSettings) -> Self {
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        Self { settings, timeout }
    }

    fn hello(&self) -> ClientId {
        match &self.settings.hello_name {
            Some(name) => ClientId::Domain(name.clone()),
            None => ClientId::default(),
        }
    }

    async fn within<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, SendError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(SendError::from_lettre(&error)),
            Err(_) => Err(SendError::timeout(what)),
        }
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn open(&self) -> Result<Box<dyn MailConnection>, SendError> {
        let hello = self.hello();
        let address = (self.settings.host.as_str(), self.settings.port);
        let tls = || {
            TlsParameters::new(self.settings.host.clone())
                .map_err(|e| SendError::local(format!("TLS settings for {}: {e}", self.settings.host)))
        };
        let mut connection = match self.settings.tls {
            TlsMode::Tls => {
                let parameters = tls()?;
                self.within(
                    "the connection",
                    AsyncSmtpConnection::connect_tokio1(address, Some(self.timeout), &hello, Some(parameters), None),
                )
                .await?
            }
            TlsMode::None | TlsMode::Starttls => {
                let stream = tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(address))
                    .await
                    .map_err(|_| SendError::timeout("the connection"))?
                    .map_err(|e| SendError {
                        code: None,
                        message: format!("cannot connect to {}:{}: {e}", self.settings.host, self.settings.port),
                        transient: true,
                        broken: true,
                    })?;
                // Without this every message waits for the peer's delayed acknowledgement (40 ms
                // on Linux): the client writes the content and its final dot separately.
                let _ = stream.set_nodelay(true);
                let mut connection = self
                    .within("the greeting", AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello))
                    .await?;
                if self.settings.tls == TlsMode::Starttls {
                    if !connection.can_starttls() {
                        return Err(SendError::local(format!(
                            "{} does not offer STARTTLS (set tls = \"none\" only for a trusted relay)",
                            self.settings.host
                        )));
                    }
                    let parameters = tls()?;
                    self.within("STARTTLS", connection.starttls(parameters, &hello)).await?;
                }
                connection
            }
        };
        if let (Some(user), Some(password)) = (&self.settings.username, &self.settings.password) {
            let credentials = Credentials::new(user.clone(), password.clone());
            self.within("the login", connection.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)).await?;
        }
        Ok(Box::new(SmtpConnection { connection, timeout: self.timeout }))
    }

    fn describe(&self) -> String {
        format!("smtp://{}:{}", self.settings.host, self.settings.port)
    }
}

struct SmtpConnection {
    connection: AsyncSmtpConnection,
    timeout: Duration,
}

fn address(text: &str) -> Result<Address, SendError> {
    text.parse::<Address>().map_err(|e| SendError::local(format!("{text}: {e}")))
}

#[async_trait]
impl MailConnection for SmtpConnection {
    async fn begin(&mut self, from: &str, to: &str, eight_bit: bool) -> Result<(), SendError> {
        use lettre::transport::smtp::extension::Extension;
        let (from, to) = (address(from)?, address(to)?);
        let info = self.connection.server_info();
        let mut parameters = Vec::new();
        if eight_bit {
            if !info.supports_feature(Extension::EightBitMime) {
                return Err(SendError::local("the message has 8-bit content and the server does not take 8BITMIME"));
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        if !AsRef::<str>::as_ref(&from).is_ascii() || !AsRef::<str>::as_ref(&to).is_ascii() {
            if !info.supports_feature(Extension::SmtpUtfEight) {
                return Err(SendError::local("an address is not ASCII and the server does not take SMTPUTF8"));
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        let timeout = self.timeout;
        let connection = &mut self.connection;
        let steps = async {
            connection.command(Mail::new(Some(from), parameters)).await?;
            connection.command(Rcpt::new(to, Vec::new())).await?;
            connection.command(Data).await
        };
        match tokio::time::timeout(timeout, steps).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(SendError::from_lettre(&error)),
            Err(_) => Err(SendError::timeout("MAIL, RCPT and DATA")),
        }
    }

    async fn content(&mut self, message: &[u8]) -> Result<Accepted, SendError> {
        let timeout = self.timeout;
        let response = match tokio::time::timeout(timeout, self.connection.message(message)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(SendError::from_lettre(&error)),
            Err(_) => return Err(SendError::timeout("the message")),
        };
        Ok(Accepted { code: u16::from(response.code()), message: response.message().collect::<Vec<_>>().join(" ") })
    }

    async fn reset(&mut self) -> Result<(), SendError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.connection.command(lettre::transport::smtp::commands::Rset)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(SendError::from_lettre(&error)),
            Err(_) => Err(SendError::timeout("RSET")),
        }
    }

    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.connection.quit()).await;
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
        Ok(Box::new(FileConnection { dir: self.dir.clone(), envelope: None }))
    }

    fn describe(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

struct FileConnection {
    dir: PathBuf,
    envelope: Option<(String, String)>,
}

#[async_trait]
impl MailConnection for FileConnection {
    async fn begin(&mut self, from: &str, to: &str, _eight_bit: bool) -> Result<(), SendError> {
        address(from)?;
        address(to)?;
        self.envelope = Some((from.to_owned(), to.to_owned()));
        Ok(())
    }

    async fn content(&mut self, message: &[u8]) -> Result<Accepted, SendError> {
        let Some((from, to)) = self.envelope.take() else { return Err(SendError::local("no message begun")) };
        let id = message_id_of(message).unwrap_or_else(|| format!("{}", crate::runtime::clock::system_millis()));
        let name: String = id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
        let path = self.dir.join(format!("{name}.eml"));
        let temporary = self.dir.join(format!(".{name}.tmp"));
        let mut bytes = format!("X-Hatake-Envelope-From: {from}\r\nX-Hatake-Envelope-To: {to}\r\n").into_bytes();
        bytes.extend_from_slice(message);
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

    async fn reset(&mut self) -> Result<(), SendError> {
        self.envelope = None;
        Ok(())
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
