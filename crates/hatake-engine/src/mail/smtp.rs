//! hatake's SMTP client (RFC 5321), written for the outbox's way of sending:
//!
//! - **Pipelining** (RFC 2920) when the server offers it: `MAIL`, `RCPT` and `DATA` go in one
//!   write, and the end of one message goes with the next message's `MAIL`, `RCPT` and `DATA` —
//!   one round trip a message instead of four.
//! - **The content before its end**: [`Client::content`] sends a message's bytes without the
//!   final `.` line, so the server cannot take it yet. The outbox records the hand-over between
//!   that and [`Client::end_now`]: a process that dies before the record leaves an unfinished
//!   message that the server discards when the connection drops (sent again later, never
//!   twice); after it, all that is left to write is the three bytes `.\r\n`, which
//!   [`Client::end_now`] hands to the kernel without waiting (TLS records made on the spot), so
//!   that it can run on the thread that committed the record, right after the commit.
//! - `STARTTLS` or TLS from the first byte (rustls, the Mozilla roots), `AUTH PLAIN` and
//!   `AUTH LOGIN`, `8BITMIME` and `SMTPUTF8` as the message needs them.

use base64::Engine as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;

/// The longest reply accepted (all its lines).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A server's reply: its code and its text (the lines joined by spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    /// 2xx and 3xx.
    pub fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// How a step failed: the server's refusal, or no answer at all.
#[derive(Debug)]
pub enum SmtpError {
    /// The server answered with this (negative, or not the one expected).
    Refused(Reply),
    /// Nothing (or garbage) came back in time; the connection is of no further use.
    Io(io::Error),
    /// This side cannot go on (a setting, a missing extension).
    Local(String),
}

impl std::fmt::Display for SmtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmtpError::Refused(reply) => reply.fmt(f),
            SmtpError::Io(error) => error.fmt(f),
            SmtpError::Local(message) => f.write_str(message),
        }
    }
}

impl From<io::Error> for SmtpError {
    fn from(error: io::Error) -> Self {
        SmtpError::Io(error)
    }
}

/// What the server said it can do, from its `EHLO` reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtp_utf8: bool,
    pub starttls: bool,
    /// The `AUTH` mechanisms offered, upper case.
    pub auth: Vec<String>,
}

impl Extensions {
    fn parse(lines: &[String]) -> Self {
        let mut found = Self::default();
        // The first line is the server's greeting name; the rest are keywords with parameters.
        for line in lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else { continue };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => found.pipelining = true,
                "8BITMIME" => found.eight_bit_mime = true,
                "SMTPUTF8" => found.smtp_utf8 = true,
                "STARTTLS" => found.starttls = true,
                "AUTH" => found.auth = words.map(str::to_ascii_uppercase).collect(),
                _ => {}
            }
        }
        found
    }
}

/// A message's envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub from: String,
    pub to: String,
    /// The content is not all ASCII (asks for `BODY=8BITMIME`).
    pub eight_bit: bool,
}

/// The socket: plain, or inside TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct Connect<'a> {
    pub host: &'a str,
    pub port: u16,
    /// TLS from the first byte.
    pub tls: bool,
    /// `STARTTLS` after the greeting (refused when the server does not offer it).
    pub starttls: bool,
    pub hello: &'a str,
    pub login: Option<(&'a str, &'a str)>,
    /// For each answer.
    pub timeout: Duration,
    /// Whom the server's certificate must come from ([`tls_config`]).
    pub trust: Arc<rustls::ClientConfig>,
}

/// One open SMTP session.
pub struct Client {
    io: BufReader<Stream>,
    /// Written at the next flush (commands queued while pipelining).
    out: Vec<u8>,
    pub extensions: Extensions,
    timeout: Duration,
    /// A message's content was sent and its end not yet.
    in_data: bool,
    /// The session cannot be used again (no answer, or the server said it closes).
    broken: bool,
    /// What was asked with the end of the last message, its answers not read yet.
    pending: Pending,
    /// Bytes for the wire (TLS records already made) that [`Client::end_now`] could not write
    /// without waiting: [`Client::end_rest`] writes them.
    unsent: Vec<u8>,
}

/// The next message as the end of the last left it.
#[derive(Debug, Default)]
enum Pending {
    #[default]
    Nothing,
    /// Asked for with the end (pipelining): three answers to read.
    Pipelined,
    /// To ask for once the end is answered (no pipelining).
    After(Envelope),
    /// This side could not ask for it.
    Refused(SmtpError),
}

/// The TLS settings of a session: the Mozilla roots, and the certificate authorities in
/// `extra_pem` too when given (a relay whose certificate comes from the company's own CA).
///
/// # Errors
/// `extra_pem` holds no certificate, or one that cannot be read.
pub fn tls_config(extra_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let build = |roots: rustls::RootCertStore| {
        // The process's crypto provider (ring, the one built in).
        Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
    };
    let mozilla = || rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let Some(pem) = extra_pem.filter(|p| !p.trim().is_empty()) else {
        return Ok(CONFIG.get_or_init(|| build(mozilla())).clone());
    };
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = mozilla();
    let mut added = 0;
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let certificate =
            certificate.map_err(|e| SmtpError::Local(format!("a certificate authority cannot be read: {e}")))?;
        roots.add(certificate).map_err(|e| SmtpError::Local(format!("a certificate authority cannot be used: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(SmtpError::Local("no certificate (-----BEGIN CERTIFICATE-----) in the given authorities".into()));
    }
    Ok(build(roots))
}

async fn wrap_tls(stream: TcpStream, host: &str, trust: &Arc<rustls::ClientConfig>) -> Result<Stream, SmtpError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| SmtpError::Local(format!("{host} is not a name TLS can check: {e}")))?;
    let tls = tokio_rustls::TlsConnector::from(trust.clone()).connect(name, stream).await?;
    Ok(Stream::Tls(Box::new(tls)))
}

impl Client {
    /// A session on `stream`, before the server's greeting is read.
    fn over(stream: Stream, timeout: Duration) -> Self {
        Self {
            io: BufReader::new(stream),
            out: Vec::new(),
            extensions: Extensions::default(),
            timeout,
            in_data: false,
            broken: false,
            pending: Pending::Nothing,
            unsent: Vec::new(),
        }
    }

    /// Connects, reads the greeting, says `EHLO`, and protects and logs in as asked.
    pub async fn connect(to: &Connect<'_>) -> Result<Self, SmtpError> {
        let timeout = to.timeout;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect((to.host, to.port)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no connection in time"))??;
        // Commands and content are written whole; nothing gains from waiting for more.
        let _ = tcp.set_nodelay(true);
        let stream = if to.tls {
            tokio::time::timeout(timeout, wrap_tls(tcp, to.host, &to.trust))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS handshake in time"))??
        } else {
            Stream::Plain(tcp)
        };
        let mut client = Self::over(stream, timeout);
        client.expect(220).await?;
        client.hello(to.hello).await?;
        if to.starttls {
            if !client.extensions.starttls {
                return Err(SmtpError::Local(format!(
                    "{} does not offer STARTTLS (set tls = \"none\" only for a trusted relay)",
                    to.host
                )));
            }
            client.command("STARTTLS\r\n").await?;
            client.expect(220).await?;
            // Anything the server sent after its go-ahead would be read as if protected.
            if !client.io.buffer().is_empty() {
                return Err(SmtpError::Local("the server sent data before the TLS handshake".into()));
            }
            let Stream::Plain(tcp) = client.io.into_inner() else {
                return Err(SmtpError::Local("STARTTLS on a protected connection".into()));
            };
            let stream = tokio::time::timeout(timeout, wrap_tls(tcp, to.host, &to.trust))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS handshake in time"))??;
            client = Self::over(stream, timeout);
            client.hello(to.hello).await?;
        }
        if let Some((user, password)) = to.login {
            client.login(user, password).await?;
        }
        Ok(client)
    }

    async fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        self.command(&format!("EHLO {name}\r\n")).await?;
        let (reply, lines) = self.read_lines().await?;
        if reply.code == 250 {
            self.extensions = Extensions::parse(&lines);
            return Ok(());
        }
        // A server without extensions.
        self.command(&format!("HELO {name}\r\n")).await?;
        self.expect(250).await?;
        self.extensions = Extensions::default();
        Ok(())
    }

    async fn login(&mut self, user: &str, password: &str) -> Result<(), SmtpError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        if self.extensions.auth.iter().any(|m| m == "PLAIN") {
            let token = b64.encode(format!("\0{user}\0{password}"));
            self.command(&format!("AUTH PLAIN {token}\r\n")).await?;
            return self.expect(235).await.map(drop);
        }
        if self.extensions.auth.iter().any(|m| m == "LOGIN") {
            self.command("AUTH LOGIN\r\n").await?;
            self.expect(334).await?;
            self.command(&format!("{}\r\n", b64.encode(user))).await?;
            self.expect(334).await?;
            self.command(&format!("{}\r\n", b64.encode(password))).await?;
            return self.expect(235).await.map(drop);
        }
        Err(SmtpError::Local(format!(
            "the server offers no login hatake can use (PLAIN or LOGIN; it offers: {})",
            if self.extensions.auth.is_empty() { "none".to_owned() } else { self.extensions.auth.join(", ") }
        )))
    }

    /// Writes a command now and waits for nothing.
    async fn command(&mut self, line: &str) -> Result<(), SmtpError> {
        self.out.extend_from_slice(line.as_bytes());
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), SmtpError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let written = self.write_timed(&out, false).await;
        self.out = out;
        self.out.clear();
        written
    }

    /// Writes `bytes` whole within the timeout: through TLS, or (`wire`) as they are, their TLS
    /// records made already. A failure leaves the session broken.
    async fn write_timed(&mut self, bytes: &[u8], wire: bool) -> Result<(), SmtpError> {
        let written = async {
            match (self.io.get_mut(), wire) {
                (Stream::Tls(tls), true) => {
                    let tcp = tls.get_mut().0;
                    tcp.write_all(bytes).await?;
                    tcp.flush().await
                }
                (stream, _) => {
                    stream.write_all(bytes).await?;
                    stream.flush().await
                }
            }
        };
        let written = tokio::time::timeout(self.timeout, written)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the server took nothing in time"))
            .and_then(|r| r);
        if let Err(error) = written {
            self.broken = true;
            return Err(error.into());
        }
        Ok(())
    }

    /// The next reply and its lines' texts.
    async fn read_lines(&mut self) -> Result<(Reply, Vec<String>), SmtpError> {
        let timeout = self.timeout;
        let io = &mut self.io;
        let read = async {
            let mut lines = Vec::new();
            let mut total = 0;
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = io.read_until(b'\n', &mut line).await?;
                if n == 0 {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
                }
                total += n;
                if total > MAX_REPLY_BYTES {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "the server's reply is too long"));
                }
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                let bytes = text.as_bytes();
                let code = text.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
                let Some(code) = code else {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("not an SMTP reply: {text:.80}")));
                };
                lines.push(text.get(4..).unwrap_or("").to_owned());
                if bytes.get(3) != Some(&b'-') {
                    let reply = Reply { code, text: lines.join(" ") };
                    return Ok((reply, lines));
                }
            }
        };
        let read = tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))
            .and_then(|r| r);
        match read {
            Ok((reply, lines)) => {
                // 421: the server is closing the session.
                self.broken |= reply.code == 421;
                Ok((reply, lines))
            }
            Err(error) => {
                self.broken = true;
                Err(error.into())
            }
        }
    }

    async fn read(&mut self) -> Result<Reply, SmtpError> {
        Ok(self.read_lines().await?.0)
    }

    /// The next reply, which must have this code.
    async fn expect(&mut self, code: u16) -> Result<Reply, SmtpError> {
        let reply = self.read().await?;
        if reply.code == code {
            Ok(reply)
        } else {
            Err(SmtpError::Refused(reply))
        }
    }

    /// Checks the envelope against what the server takes, and queues its commands.
    fn queue_envelope(&mut self, envelope: &Envelope) -> Result<(), SmtpError> {
        for address in [&envelope.from, &envelope.to] {
            if address.contains(['<', '>', '\r', '\n', ' ']) || !address.contains('@') {
                return Err(SmtpError::Local(format!("not an address: {address}")));
            }
        }
        let mut parameters = String::new();
        if envelope.eight_bit {
            if !self.extensions.eight_bit_mime {
                return Err(SmtpError::Local(
                    "the message has 8-bit content and the server does not take 8BITMIME".into(),
                ));
            }
            parameters.push_str(" BODY=8BITMIME");
        }
        if !envelope.from.is_ascii() || !envelope.to.is_ascii() {
            if !self.extensions.smtp_utf8 {
                return Err(SmtpError::Local("an address is not ASCII and the server does not take SMTPUTF8".into()));
            }
            parameters.push_str(" SMTPUTF8");
        }
        self.out.extend_from_slice(format!("MAIL FROM:<{}>{parameters}\r\n", envelope.from).as_bytes());
        Ok(())
    }

    /// Asks to send a message: `MAIL`, `RCPT`, `DATA`, up to the server's go-ahead (354). On a
    /// refusal the session is reset and can begin another message.
    pub async fn begin(&mut self, envelope: &Envelope) -> Result<(), SmtpError> {
        self.queue_envelope(envelope)?;
        self.begin_queued(envelope).await
    }

    /// `MAIL` is queued: sends it with `RCPT` and `DATA` (together when pipelining) and reads
    /// the three replies.
    async fn begin_queued(&mut self, envelope: &Envelope) -> Result<(), SmtpError> {
        let rcpt = format!("RCPT TO:<{}>\r\n", envelope.to);
        if self.extensions.pipelining {
            self.out.extend_from_slice(rcpt.as_bytes());
            self.out.extend_from_slice(b"DATA\r\n");
            self.flush().await?;
            let mail = self.read().await?;
            let rcpt = self.read().await?;
            let data = self.read().await?;
            return self.after_begin([mail, rcpt], data).await;
        }
        self.flush().await?;
        let mail = self.read().await?;
        if !mail.positive() {
            self.reset_after(&mail).await;
            return Err(SmtpError::Refused(mail));
        }
        self.command(&rcpt).await?;
        let rcpt = self.read().await?;
        if !rcpt.positive() {
            self.reset_after(&rcpt).await;
            return Err(SmtpError::Refused(rcpt));
        }
        self.command("DATA\r\n").await?;
        let data = self.read().await?;
        self.after_begin([mail, rcpt], data).await
    }

    async fn after_begin(&mut self, first: [Reply; 2], data: Reply) -> Result<(), SmtpError> {
        if let Some(refused) = first.into_iter().find(|r| !r.positive()) {
            if data.code == 354 {
                // The server would take a message without a sender or recipient: the session
                // cannot be trusted.
                self.broken = true;
                return Err(SmtpError::Io(io::Error::other(format!("the server took DATA after: {refused}"))));
            }
            self.reset_after(&refused).await;
            return Err(SmtpError::Refused(refused));
        }
        if data.code != 354 {
            if data.positive() {
                self.broken = true;
                return Err(SmtpError::Io(io::Error::other(format!("unexpected answer to DATA: {data}"))));
            }
            self.reset_after(&data).await;
            return Err(SmtpError::Refused(data));
        }
        self.in_data = true;
        Ok(())
    }

    /// Sends the message begun, dot-stuffed, without its end: the server does not take it yet.
    pub async fn content(&mut self, message: &[u8]) -> Result<(), SmtpError> {
        if !self.in_data {
            return Err(SmtpError::Local("no message begun".into()));
        }
        self.out.reserve(message.len() + 64);
        let mut at_line_start = true;
        for &byte in message {
            if at_line_start && byte == b'.' {
                self.out.push(b'.');
            }
            self.out.push(byte);
            at_line_start = byte == b'\n';
        }
        if !message.ends_with(b"\r\n") {
            self.out.extend_from_slice(b"\r\n");
        }
        self.flush().await
    }

    /// Writes the end of the message under way (with `next`'s request when pipelining) without
    /// waiting for any answer: [`Client::answers`] reads them. The server can take the message
    /// from here on.
    pub async fn end(&mut self, next: Option<&Envelope>) -> Result<(), SmtpError> {
        if !self.end_now(next)? {
            self.end_rest().await?;
        }
        Ok(())
    }

    /// [`Client::end`] without waiting for anything: what the socket takes at once goes out
    /// (nearly always all of it), and `false` says [`Client::end_rest`] must write the rest.
    pub fn end_now(&mut self, next: Option<&Envelope>) -> Result<bool, SmtpError> {
        if !self.in_data {
            return Err(SmtpError::Local("no message under way".into()));
        }
        self.in_data = false;
        self.out.extend_from_slice(b".\r\n");
        self.pending = match next {
            None => Pending::Nothing,
            Some(envelope) if self.extensions.pipelining => match self.queue_envelope(envelope) {
                Ok(()) => {
                    // `.`, MAIL, RCPT and DATA in one write.
                    self.out.extend_from_slice(format!("RCPT TO:<{}>\r\nDATA\r\n", envelope.to).as_bytes());
                    Pending::Pipelined
                }
                // Only this side refuses the next one: this message ends alone.
                Err(error) => Pending::Refused(error),
            },
            Some(envelope) => Pending::After(envelope.clone()),
        };
        let out = std::mem::take(&mut self.out);
        let written = self.write_now(&out);
        self.out = out;
        self.out.clear();
        if let Err(error) = written {
            self.broken = true;
            return Err(error.into());
        }
        Ok(self.unsent.is_empty())
    }

    /// Puts `plain` on the wire as far as the socket takes it without waiting; keeps the rest
    /// (as wire bytes) in `unsent`.
    fn write_now(&mut self, plain: &[u8]) -> io::Result<()> {
        let (tcp, wire): (&TcpStream, std::borrow::Cow<'_, [u8]>) = match self.io.get_mut() {
            Stream::Plain(tcp) => (tcp, plain.into()),
            Stream::Tls(tls) => {
                let (tcp, session) = tls.get_mut();
                io::Write::write_all(&mut session.writer(), plain)?;
                let mut records = Vec::with_capacity(plain.len() + 64);
                while session.wants_write() {
                    session.write_tls(&mut records)?;
                }
                (&*tcp, records.into())
            }
        };
        let mut at = 0;
        while at < wire.len() {
            match tcp.try_write(&wire[at..]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the connection took nothing")),
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.unsent.extend_from_slice(&wire[at..]);
        Ok(())
    }

    /// Writes what [`Client::end_now`] could not, waiting as long as the timeout allows.
    pub async fn end_rest(&mut self) -> Result<(), SmtpError> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let unsent = std::mem::take(&mut self.unsent);
        self.write_timed(&unsent, true).await
    }

    /// The answers after [`Client::end`]: the server's to the message, and how asking for the
    /// next one went (when one was given).
    pub async fn answers(&mut self) -> Finished {
        let pending = std::mem::replace(&mut self.pending, Pending::Nothing);
        let asked = !matches!(pending, Pending::Nothing);
        let taken = match self.read().await {
            Ok(reply) if reply.code == 250 => Ok(reply),
            Ok(reply) => Err(SmtpError::Refused(reply)),
            Err(error) => return Finished { taken: Err(error), next: asked.then(|| Err(lost())) },
        };
        let next = match pending {
            Pending::Nothing => None,
            Pending::Refused(error) => Some(Err(error)),
            Pending::Pipelined => {
                let replies = async {
                    let mail = self.read().await?;
                    let rcpt = self.read().await?;
                    let data = self.read().await?;
                    self.after_begin([mail, rcpt], data).await
                };
                Some(replies.await)
            }
            Pending::After(_) if self.broken => Some(Err(lost())),
            Pending::After(envelope) => Some(self.begin(&envelope).await),
        };
        Finished { taken, next }
    }

    /// After a refusal: a clean session for the next message, or a broken one.
    async fn reset_after(&mut self, refused: &Reply) {
        if refused.code == 421 || self.reset().await.is_err() {
            self.broken = true;
        }
    }

    /// The session cannot be used again.
    pub fn broken(&self) -> bool {
        self.broken
    }

    /// Abandons the message under way before its content (`RSET`).
    pub async fn reset(&mut self) -> Result<(), SmtpError> {
        self.command("RSET\r\n").await?;
        let reply = self.read().await?;
        if reply.positive() {
            Ok(())
        } else {
            Err(SmtpError::Refused(reply))
        }
    }

    /// Says goodbye (`QUIT`), without waiting long.
    pub async fn quit(&mut self) {
        let goodbye = async {
            self.command("QUIT\r\n").await?;
            self.read().await
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), goodbye).await;
        let _ = self.io.get_mut().shutdown().await;
    }
}

/// The error of a message not asked for because the connection failed before it.
fn lost() -> SmtpError {
    SmtpError::Io(io::Error::new(io::ErrorKind::ConnectionAborted, "the connection failed"))
}

/// How ending a message went.
pub struct Finished {
    /// The server's answer to the message.
    pub taken: Result<Reply, SmtpError>,
    /// How asking for the next message went, when one was given.
    pub next: Option<Result<(), SmtpError>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_testkit::smtp::{FailMode, SinkTls, SmtpSink};

    fn to(sink: &SmtpSink) -> (String, u16) {
        ("127.0.0.1".to_owned(), sink.port())
    }

    async fn client(sink: &SmtpSink) -> Client {
        let (host, port) = to(sink);
        let connect = Connect {
            host: &host,
            port,
            tls: false,
            starttls: false,
            hello: "client.test",
            login: None,
            timeout: Duration::from_secs(5),
            trust: tls_config(None).unwrap(),
        };
        Client::connect(&connect).await.expect("connects")
    }

    /// Ends the message under way (with `next`'s request) and reads the answers.
    async fn finish(session: &mut Client, next: Option<&Envelope>) -> Finished {
        session.end(next).await.expect("the end is written");
        session.answers().await
    }

    fn envelope(to: &str) -> Envelope {
        Envelope { from: "news@sample.jp".into(), to: to.into(), eight_bit: false }
    }

    #[tokio::test]
    async fn pipelined_messages_arrive_whole_and_unfinished_ones_never() {
        let sink = SmtpSink::start().unwrap();
        let mut session = client(&sink).await;
        assert!(session.extensions.pipelining && session.extensions.eight_bit_mime);
        // Lines that start with a dot, and a last line without its line end.
        let first = b"Message-ID: <1@t>\r\n\r\n.hidden\r\n..two\r\nend".to_vec();
        let second = "Message-ID: <2@t>\r\n\r\n本文\r\n".as_bytes().to_vec();
        session.begin(&envelope("a@example.jp")).await.unwrap();
        session.content(&first).await.unwrap();
        let mut next = envelope("b@example.jp");
        next.eight_bit = true;
        let finished = finish(&mut session, Some(&next)).await;
        assert_eq!(finished.taken.unwrap().code, 250);
        assert!(matches!(finished.next, Some(Ok(()))));
        session.content(&second).await.unwrap();
        let finished = finish(&mut session, None).await;
        assert!(finished.taken.is_ok() && finished.next.is_none());
        assert!(sink.wait_for(2, Duration::from_secs(5)));
        let got = sink.messages();
        assert_eq!(got[0].data, b"Message-ID: <1@t>\r\n\r\n.hidden\r\n..two\r\nend\r\n");
        assert_eq!(got[1].data, second);
        assert_eq!(got[1].rcpt_to, ["b@example.jp"]);

        // Content without its end, then the connection drops: the server keeps nothing.
        session.begin(&envelope("c@example.jp")).await.unwrap();
        session.content(b"Message-ID: <3@t>\r\n\r\nnever\r\n").await.unwrap();
        drop(session);
        let mut again = client(&sink).await;
        again.begin(&envelope("d@example.jp")).await.unwrap();
        again.content(b"Message-ID: <4@t>\r\n\r\nafter\r\n").await.unwrap();
        assert!(finish(&mut again, None).await.taken.is_ok());
        assert!(sink.wait_for(3, Duration::from_secs(5)));
        let ids: Vec<_> = sink.messages().into_iter().filter_map(|m| m.message_id).collect();
        assert_eq!(ids, ["<1@t>", "<2@t>", "<4@t>"]);
    }

    async fn over_tls(sink: &SmtpSink, implicit: bool, trusted: bool) -> Result<Client, SmtpError> {
        let pem = sink.authority_pem().expect("a sink with TLS");
        let connect = Connect {
            host: "127.0.0.1",
            port: sink.port(),
            tls: implicit,
            starttls: !implicit,
            hello: "client.test",
            login: Some(("user", "secret")),
            timeout: Duration::from_secs(5),
            trust: tls_config(trusted.then_some(pem.as_str())).unwrap(),
        };
        Client::connect(&connect).await
    }

    #[tokio::test]
    async fn starttls_and_tls_carry_pipelined_messages_and_check_the_certificate() {
        for mode in [SinkTls::StartTls, SinkTls::Implicit] {
            let implicit = mode == SinkTls::Implicit;
            let sink = SmtpSink::builder().tls(mode).auth("user", "secret").start().unwrap();
            // A certificate from an authority the client does not know: no session.
            match over_tls(&sink, implicit, false).await {
                Err(SmtpError::Io(error)) => assert!(error.to_string().contains("certificate"), "{error}"),
                Err(other) => panic!("{mode:?}: {other}"),
                Ok(_) => panic!("{mode:?}: an unknown authority was accepted"),
            }
            let mut session = over_tls(&sink, implicit, true).await.expect("connects over TLS");
            // The ends go out as TLS records made on the spot (end_now), each with the next
            // message's request.
            for n in 1..=3 {
                if n == 1 {
                    session.begin(&envelope("a@example.jp")).await.unwrap();
                }
                session.content(format!("Message-ID: <{n}@tls>\r\n\r\n本文 {n}\r\n").as_bytes()).await.unwrap();
                let next = (n < 3).then(|| envelope("a@example.jp"));
                let finished = finish(&mut session, next.as_ref()).await;
                assert_eq!(finished.taken.unwrap().code, 250, "{mode:?}");
                assert_eq!(finished.next.is_some(), n < 3);
            }
            assert!(sink.wait_for(3, Duration::from_secs(5)));
            let got = sink.messages();
            assert!(got.iter().all(|m| m.tls), "{mode:?}: every message came over TLS");
            assert_eq!(got[2].data, "Message-ID: <3@tls>\r\n\r\n本文 3\r\n".as_bytes());
            session.quit().await;
        }
        // A plain server asked for STARTTLS: refused with a reason, never sent in the clear.
        let plain = SmtpSink::start().unwrap();
        let (host, port) = to(&plain);
        let connect = Connect {
            host: &host,
            port,
            tls: false,
            starttls: true,
            hello: "client.test",
            login: None,
            timeout: Duration::from_secs(5),
            trust: tls_config(None).unwrap(),
        };
        match Client::connect(&connect).await {
            Err(SmtpError::Local(reason)) => assert!(reason.contains("STARTTLS"), "{reason}"),
            other => panic!("{:?}", other.err()),
        }
        assert!(matches!(tls_config(Some("not a certificate")), Err(SmtpError::Local(_))));
    }

    #[tokio::test]
    async fn a_refused_recipient_leaves_the_session_usable() {
        let sink = SmtpSink::start().unwrap();
        sink.fail_rcpt("gone@example.jp", "550 5.1.1 no such user", FailMode::Always);
        sink.fail_rcpt("busy@example.jp", "450 4.2.1 try later", FailMode::Always);
        let mut session = client(&sink).await;
        match session.begin(&envelope("gone@example.jp")).await {
            Err(SmtpError::Refused(reply)) => assert_eq!(reply.code, 550),
            other => panic!("{other:?}"),
        }
        assert!(!session.broken());
        // Refused when asked for together with the end of the message before it.
        session.begin(&envelope("ok@example.jp")).await.unwrap();
        session.content(b"Message-ID: <5@t>\r\n\r\nok\r\n").await.unwrap();
        let finished = finish(&mut session, Some(&envelope("busy@example.jp"))).await;
        assert!(finished.taken.is_ok());
        match finished.next {
            Some(Err(SmtpError::Refused(reply))) => assert_eq!(reply.code, 450),
            other => panic!("{:?}", other.map(|r| r.err())),
        }
        session.begin(&envelope("ok2@example.jp")).await.unwrap();
        session.content(b"Message-ID: <6@t>\r\n\r\nok\r\n").await.unwrap();
        assert!(finish(&mut session, None).await.taken.is_ok());
        session.quit().await;
        assert!(sink.wait_for(2, Duration::from_secs(5)));
        assert_eq!(sink.count(), 2);
    }
}
