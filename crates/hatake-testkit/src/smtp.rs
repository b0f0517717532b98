//! A real SMTP server for tests and benchmarks: the SMTP sink.
//!
//! [`SmtpSink::start`] listens on a free port of 127.0.0.1 and accepts every message sent to
//! it. It records what arrived ([`Received`]) so a test can check the envelope, the raw
//! message and its `Message-ID`. It is plain `std`: one acceptor thread and one thread per
//! connection.
//!
//! It speaks enough of RFC 5321 for the `lettre` SMTP client and for hand-written clients:
//! `EHLO` (advertising `PIPELINING`, `8BITMIME`, `SMTPUTF8`, `SIZE`, `ENHANCEDSTATUSCODES`),
//! `HELO`, `MAIL`, `RCPT`, `DATA` (with dot-unstuffing), `RSET`, `NOOP`, `QUIT`, and
//! `AUTH PLAIN` / `AUTH LOGIN` when built with credentials. Commands are case-insensitive;
//! pipelined commands are answered in order. Without TLS unless asked: a sink built with
//! [`SmtpSinkBuilder::tls`] offers `STARTTLS`, or speaks TLS from the first byte, with a
//! certificate for `127.0.0.1` and `localhost` from a certificate authority made for it
//! ([`SmtpSink::authority_pem`] is what a client must trust).
//!
//! Tests of retries and back-off can make the sink refuse recipients
//! ([`SmtpSink::fail_rcpt`]) or messages ([`SmtpSink::fail_data`]), answer slowly
//! ([`SmtpSink::set_delay`]) or hang up ([`SmtpSink::close_after_mail_from`]).
//!
//! Benchmarks that send many messages use [`SmtpSink::start_counting`], which drops each
//! message's bytes and keeps only its envelope and `Message-ID`.
//!
//! Two things about lettre 0.11 (seen with 0.11.23). It does not set `TCP_NODELAY`, and it
//! writes a message's body and its final `.` line separately, so on Linux each message on a
//! connection waits about 40 ms for a delayed ACK. Real servers behave the same way; it is
//! the client's cost, not the sink's. With `TCP_NODELAY` a message takes well under 1 ms.
//! And its async transport's `timeout` only bounds connecting: to time out a slow reply
//! (see [`SmtpSink::set_delay`]), wrap the send in `tokio::time::timeout`.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::time::Duration;
//! use hatake_testkit::smtp::SmtpSink;
//!
//! let sink = SmtpSink::start().unwrap();
//! let mut stream = std::net::TcpStream::connect(sink.addr()).unwrap();
//! stream
//!     .write_all(
//!         b"EHLO test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n\
//!           Message-ID: <1@example.com>\r\n\r\nHello\r\n.\r\nQUIT\r\n",
//!     )
//!     .unwrap();
//! // Read the replies until the server closes the connection after QUIT.
//! let replies: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
//! assert!(replies.last().unwrap().starts_with("221"));
//!
//! assert!(sink.wait_for(1, Duration::from_secs(5)));
//! let message = &sink.messages()[0];
//! assert_eq!(message.rcpt_to, ["b@example.com"]);
//! assert_eq!(message.message_id.as_deref(), Some("<1@example.com>"));
//! assert_eq!(message.data, b"Message-ID: <1@example.com>\r\n\r\nHello\r\n");
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The largest message the sink accepts unless told otherwise (64 MiB), as advertised by `SIZE`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// The name the sink gives itself in its greeting and `EHLO` reply.
const HOSTNAME: &str = "smtp-sink.localhost";

/// The longest command line accepted (RFC 5321 asks for 512 bytes; clients may send more).
const MAX_COMMAND_LINE: u64 = 64 * 1024;

/// Message lines are read in pieces of at most this size.
const MAX_DATA_CHUNK: u64 = 1024 * 1024;

/// One message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`) without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// The accepted envelope recipients (`RCPT TO`) without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The raw message after dot-unstuffing, CRLF line ends kept, without the final `.` line.
    /// Empty when the sink was started with [`SmtpSink::start_counting`].
    pub data: Vec<u8>,
    /// The value of the `Message-ID` header, unfolded and trimmed, angle brackets kept.
    pub message_id: Option<String>,
    /// The connection it came on: 1 for the first connection the sink accepted, and so on.
    pub connection: u64,
    /// When the sink accepted it (just before its final reply).
    pub received_at: Instant,
    /// It came over TLS (`STARTTLS` or TLS from the first byte).
    pub tls: bool,
}

impl Received {
    /// The message as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.data)
    }

    /// The value of the first header called `name` (case-insensitive), unfolded and trimmed.
    /// Always `None` in counting mode, where the message is not kept.
    pub fn header(&self, name: &str) -> Option<String> {
        header_value(&self.data, name)
    }
}

/// How often an injected failure happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Every time.
    Always,
    /// For the next `n` attempts, then never again.
    Times(u32),
}

/// Which recipients an injected `RCPT` failure applies to.
///
/// A `&str` or `String` converts to [`RcptMatch::Address`] (angle brackets, if any, removed).
#[derive(Clone)]
pub enum RcptMatch {
    /// Every recipient.
    Any,
    /// This address (without angle brackets), compared case-insensitively.
    Address(String),
    /// Every address at this domain (without `@`), compared case-insensitively.
    Domain(String),
    /// The addresses (without angle brackets) for which the function returns true.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl RcptMatch {
    /// The addresses for which `f` returns true.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        RcptMatch::Predicate(Arc::new(f))
    }

    /// Whether `address` (without angle brackets) is matched.
    pub fn matches(&self, address: &str) -> bool {
        match self {
            RcptMatch::Any => true,
            RcptMatch::Address(a) => a.eq_ignore_ascii_case(address),
            RcptMatch::Domain(d) => address.rsplit_once('@').is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(d)),
            RcptMatch::Predicate(f) => f(address),
        }
    }
}

impl fmt::Debug for RcptMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RcptMatch::Any => f.write_str("Any"),
            RcptMatch::Address(a) => f.debug_tuple("Address").field(a).finish(),
            RcptMatch::Domain(d) => f.debug_tuple("Domain").field(d).finish(),
            RcptMatch::Predicate(_) => f.write_str("Predicate(..)"),
        }
    }
}

impl From<&str> for RcptMatch {
    fn from(address: &str) -> Self {
        let bare = address.trim().strip_prefix('<').and_then(|a| a.strip_suffix('>'));
        RcptMatch::Address(bare.unwrap_or(address.trim()).to_owned())
    }
}

impl From<String> for RcptMatch {
    fn from(address: String) -> Self {
        RcptMatch::from(address.as_str())
    }
}

/// Options for an [`SmtpSink`]; made by [`SmtpSink::builder`].
#[derive(Debug, Clone)]
pub struct SmtpSinkBuilder {
    auth: Option<(String, String)>,
    counting: bool,
    max_message_size: usize,
    tls: SinkTls,
}

impl Default for SmtpSinkBuilder {
    fn default() -> Self {
        Self { auth: None, counting: false, max_message_size: DEFAULT_MAX_MESSAGE_SIZE, tls: SinkTls::None }
    }
}

/// How a sink protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain text only.
    None,
    /// Plain first; `STARTTLS` offered after `EHLO`.
    StartTls,
    /// TLS from the first byte (as on port 465).
    Implicit,
}

/// The sink's certificate authority and the server settings with the certificate it issued.
struct Authority {
    pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl Authority {
    fn new() -> io::Result<Self> {
        let failed = |e: rcgen::Error| io::Error::other(format!("cannot make the test certificate: {e}"));
        let mut params = rcgen::CertificateParams::new(Vec::new()).map_err(failed)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "hatake test authority");
        let authority =
            rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().map_err(failed)?).map_err(failed)?;
        let key = rcgen::KeyPair::generate().map_err(failed)?;
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(failed)?;
        let certificate = params.signed_by(&key, &authority).map_err(failed)?;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        // The process's crypto provider (ring, the only one built in).
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.der().clone()], key)
            .map_err(|e| io::Error::other(format!("cannot use the test certificate: {e}")))?;
        Ok(Self { pem: authority.pem(), config: Arc::new(config) })
    }
}

impl SmtpSinkBuilder {
    /// Requires `AUTH PLAIN` or `AUTH LOGIN` with these credentials before `MAIL`.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some((user.into(), password.into()));
        self
    }

    /// Counting mode: keeps each message's envelope and `Message-ID` but not its bytes.
    pub fn counting(mut self) -> Self {
        self.counting = true;
        self
    }

    /// Refuses larger messages with `552` (and advertises the limit with `SIZE`).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Offers `STARTTLS`, or speaks TLS from the first byte, with a certificate for
    /// `127.0.0.1` and `localhost` ([`SmtpSink::authority_pem`] is its issuer).
    pub fn tls(mut self, tls: SinkTls) -> Self {
        self.tls = tls;
        self
    }

    /// Binds 127.0.0.1 on a free port and starts accepting connections.
    ///
    /// # Errors
    /// When the socket cannot be bound or the acceptor thread cannot be started.
    pub fn start(self) -> io::Result<SmtpSink> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let authority = match self.tls {
            SinkTls::None => None,
            SinkTls::StartTls | SinkTls::Implicit => Some(Authority::new()?),
        };
        let shared = Arc::new(Shared {
            tls: self.tls,
            authority,
            auth: self.auth,
            counting: self.counting,
            max_message_size: self.max_message_size,
            stopping: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            faults: Mutex::new(Faults::default()),
            open: Mutex::new(HashMap::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("smtp-sink-accept".into())
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(SmtpSink { addr, shared, acceptor: Mutex::new(Some(acceptor)) })
    }
}

/// An SMTP server on 127.0.0.1 that records the messages it is sent. Stops when dropped.
///
/// See the [module documentation](self).
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSink")
            .field("addr", &self.addr)
            .field("counting", &self.shared.counting)
            .field("auth", &self.shared.auth.is_some())
            .field("connections", &self.connections())
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl SmtpSink {
    /// Options: authentication, counting mode, message size limit.
    pub fn builder() -> SmtpSinkBuilder {
        SmtpSinkBuilder::default()
    }

    /// Starts a sink that keeps every message, without authentication.
    ///
    /// # Errors
    /// See [`SmtpSinkBuilder::start`].
    pub fn start() -> io::Result<SmtpSink> {
        Self::builder().start()
    }

    /// Starts a sink in counting mode: each message's bytes are dropped once its `Message-ID`
    /// is read, so many messages take little memory. [`Received::data`] is empty.
    ///
    /// # Errors
    /// See [`SmtpSinkBuilder::start`].
    pub fn start_counting() -> io::Result<SmtpSink> {
        Self::builder().counting().start()
    }

    /// Starts a sink that advertises `AUTH PLAIN LOGIN`, accepts only these credentials
    /// (`535` otherwise) and refuses `MAIL` before them (`530`).
    ///
    /// # Errors
    /// See [`SmtpSinkBuilder::start`].
    pub fn with_auth(user: impl Into<String>, password: impl Into<String>) -> io::Result<SmtpSink> {
        Self::builder().auth(user, password).start()
    }

    /// The certificate (PEM) of the authority that issued the sink's own, for a client to
    /// trust; `None` without TLS.
    pub fn authority_pem(&self) -> Option<String> {
        self.shared.authority.as_ref().map(|a| a.pem.clone())
    }

    /// The address the sink listens on (127.0.0.1 and [`SmtpSink::port`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the sink listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The messages accepted and not yet taken, in the order they were accepted.
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.shared.state).messages.clone()
    }

    /// How many messages were accepted and not yet taken.
    pub fn count(&self) -> usize {
        lock(&self.shared.state).messages.len()
    }

    /// Removes and returns the messages accepted so far; [`SmtpSink::count`] starts again at 0.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut lock(&self.shared.state).messages)
    }

    /// Waits until at least `n` messages are held (see [`SmtpSink::count`]) or `timeout` has
    /// passed, and says whether there are `n`. Returns early, false, once the sink is stopped.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let state = lock(&self.shared.state);
        let (state, _) = self
            .shared
            .changed
            .wait_timeout_while(state, timeout, |s| s.messages.len() < n && !s.stopped)
            .unwrap_or_else(PoisonError::into_inner);
        state.messages.len() >= n
    }

    /// How many connections the sink has accepted.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The total size of the messages accepted (after dot-unstuffing), taken or not; counted in
    /// counting mode too.
    pub fn bytes_received(&self) -> u64 {
        lock(&self.shared.state).bytes
    }

    /// How many injected failures were answered (refused recipients and messages, hang-ups).
    pub fn rejected(&self) -> u64 {
        lock(&self.shared.state).rejected
    }

    /// Answers `RCPT TO` for the matched recipients with `reply` instead of accepting them,
    /// always or for the next `n` matching attempts. `reply` is a whole reply line such as
    /// `"450 4.2.1 mailbox busy"` (transient) or `"550 5.1.1 no such user"` (permanent); after
    /// a `421` reply the sink closes the connection. Rules are tried in the order they were
    /// added; the first matching rule with attempts left applies.
    ///
    /// # Panics
    /// When `reply` does not start with a 4xx or 5xx code or holds a line break.
    pub fn fail_rcpt(&self, which: impl Into<RcptMatch>, reply: &str, mode: FailMode) {
        let rule = Rule::new(reply, mode);
        lock(&self.shared.faults).rcpt.push((which.into(), rule));
    }

    /// Answers the end of the message data with `reply` instead of accepting the message,
    /// always or for the next `n` messages. The message is not recorded.
    ///
    /// # Panics
    /// As [`SmtpSink::fail_rcpt`].
    pub fn fail_data(&self, reply: &str, mode: FailMode) {
        let rule = Rule::new(reply, mode);
        lock(&self.shared.faults).data.push(rule);
    }

    /// [`SmtpSink::fail_data`] for the next `n` messages.
    ///
    /// # Panics
    /// As [`SmtpSink::fail_rcpt`].
    pub fn fail_data_times(&self, n: u32, reply: &str) {
        self.fail_data(reply, FailMode::Times(n));
    }

    /// Closes the connection without a reply after `MAIL FROM`, always or for the next `n`
    /// transactions: a server that goes away mid-transaction.
    pub fn close_after_mail_from(&self, mode: FailMode) {
        lock(&self.shared.faults).close_after_mail_from.push(Budget::new(mode));
    }

    /// Waits this long after a message's data before answering it (a slow server). The
    /// message is recorded after the wait even when the client has given up meanwhile, as a
    /// real server would have delivered it. `Duration::ZERO` turns the delay off.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.shared.faults).delay = delay;
    }

    /// Removes every injected failure and the delay.
    pub fn clear_failures(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// Stops accepting connections, closes the open ones and waits for their threads.
    /// Idempotent; also done on drop.
    pub fn stop(&self) {
        let shared = &self.shared;
        if shared.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        lock(&shared.state).stopped = true;
        shared.changed.notify_all();
        // Wake the acceptor, blocked in accept(), so it sees the flag and drops the listener.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok();
        let acceptor = lock(&self.acceptor).take();
        if let (true, Some(acceptor)) = (woken, acceptor) {
            let _ = acceptor.join();
        }
        let open: Vec<OpenConnection> = lock(&shared.open).drain().map(|(_, entry)| entry).collect();
        for connection in open {
            let _ = connection.stream.shutdown(Shutdown::Both);
            let _ = connection.thread.join();
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the acceptor, the connections and the [`SmtpSink`] share.
struct Shared {
    tls: SinkTls,
    authority: Option<Authority>,
    auth: Option<(String, String)>,
    counting: bool,
    max_message_size: usize,
    stopping: AtomicBool,
    connections: AtomicU64,
    state: Mutex<State>,
    /// Signalled when a message is recorded and when the sink stops.
    changed: Condvar,
    faults: Mutex<Faults>,
    /// The open connections, by id.
    open: Mutex<HashMap<u64, OpenConnection>>,
}

/// A handle on a connection's socket (to shut it down) and its thread.
struct OpenConnection {
    stream: TcpStream,
    thread: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    messages: Vec<Received>,
    /// Messages accepted in all, for the queue id in the reply.
    accepted: u64,
    bytes: u64,
    rejected: u64,
    stopped: bool,
}

#[derive(Default)]
struct Faults {
    rcpt: Vec<(RcptMatch, Rule)>,
    data: Vec<Rule>,
    close_after_mail_from: Vec<Budget>,
    delay: Duration,
}

/// How many more times an injected failure happens (`None`: always).
#[derive(Debug, Clone, Copy)]
struct Budget(Option<u32>);

impl Budget {
    fn new(mode: FailMode) -> Self {
        match mode {
            FailMode::Always => Budget(None),
            FailMode::Times(n) => Budget(Some(n)),
        }
    }

    /// Uses one attempt; false when none is left.
    fn spend(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }

    fn exhausted(self) -> bool {
        self.0 == Some(0)
    }
}

#[derive(Debug, Clone)]
struct Rule {
    reply: String,
    budget: Budget,
}

impl Rule {
    fn new(reply: &str, mode: FailMode) -> Self {
        let bytes = reply.as_bytes();
        let valid = bytes.len() >= 3
            && matches!(bytes[0], b'4' | b'5')
            && bytes[1..3].iter().all(u8::is_ascii_digit)
            && bytes.get(3).is_none_or(|&b| b == b' ')
            && !reply.contains(['\r', '\n']);
        assert!(valid, "an injected SMTP reply must be one line starting with a 4xx or 5xx code, not {reply:?}");
        Rule { reply: reply.to_owned(), budget: Budget::new(mode) }
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The reply of the first failure rule that applies to recipient `address`, if any.
    fn rcpt_failure(&self, address: &str) -> Option<String> {
        let mut faults = lock(&self.faults);
        let reply = faults
            .rcpt
            .iter_mut()
            .find_map(|(which, rule)| (which.matches(address) && rule.budget.spend()).then(|| rule.reply.clone()));
        faults.rcpt.retain(|(_, rule)| !rule.budget.exhausted());
        reply
    }

    fn data_failure(&self) -> Option<String> {
        let mut faults = lock(&self.faults);
        let reply = faults.data.iter_mut().find_map(|rule| rule.budget.spend().then(|| rule.reply.clone()));
        faults.data.retain(|rule| !rule.budget.exhausted());
        reply
    }

    fn close_after_mail_from(&self) -> bool {
        let mut faults = lock(&self.faults);
        let close = faults.close_after_mail_from.iter_mut().any(Budget::spend);
        faults.close_after_mail_from.retain(|b| !b.exhausted());
        close
    }

    fn count_rejection(&self) {
        lock(&self.state).rejected += 1;
    }

    /// Sleeps for the configured delay, or less if the sink stops meanwhile.
    fn delay(&self) {
        let delay = lock(&self.faults).delay;
        if delay.is_zero() {
            return;
        }
        let state = lock(&self.state);
        drop(self.changed.wait_timeout_while(state, delay, |s| !s.stopped));
    }

    /// Records a message; returns its queue number.
    fn record(&self, connection: u64, tls: bool, mail_from: String, rcpt_to: Vec<String>, data: &mut Vec<u8>) -> u64 {
        let message_id = header_value(data, "Message-ID");
        let size = data.len() as u64;
        let data = if self.counting {
            data.clear();
            Vec::new()
        } else {
            std::mem::take(data)
        };
        let received = Received { mail_from, rcpt_to, data, message_id, connection, received_at: Instant::now(), tls };
        let queued = {
            let mut state = lock(&self.state);
            state.messages.push(received);
            state.accepted += 1;
            state.bytes += size;
            state.accepted
        };
        self.changed.notify_all();
        queued
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not hide what was received.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                eprintln!("hatake-testkit smtp sink: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let id = shared.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let Ok(handle_stream) = stream.try_clone() else { continue };
        // Held while the thread is spawned, so the thread's removal of its entry comes after
        // the insertion; and checked against `stopping` so `stop` sees every connection.
        let mut open = lock(&shared.open);
        if shared.stopping() {
            return;
        }
        let thread_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new().name(format!("smtp-sink-conn-{id}")).spawn(move || {
            if let Err(e) = Session::new(&thread_shared, id, stream).and_then(Session::run) {
                if !thread_shared.stopping() && !is_disconnect(&e) {
                    eprintln!("hatake-testkit smtp sink: connection {id}: {e}");
                }
            }
            lock(&thread_shared.open).remove(&id);
        });
        match spawned {
            Ok(handle) => {
                open.insert(id, OpenConnection { stream: handle_stream, thread: handle });
            }
            Err(e) => eprintln!("hatake-testkit smtp sink: cannot start a connection thread: {e}"),
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// A line read from the client.
enum Input {
    Line(String),
    TooLong,
    Eof,
}

/// A connection's socket, plain or under TLS (one TLS session read and written through both
/// halves of a [`Session`]).
enum Wire {
    Plain(TcpStream),
    Tls(Rc<RefCell<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>>),
}

impl Wire {
    fn tls(stream: TcpStream, config: &Arc<rustls::ServerConfig>) -> io::Result<(Wire, Wire)> {
        let connection = rustls::ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
        let shared = Rc::new(RefCell::new(rustls::StreamOwned::new(connection, stream)));
        Ok((Wire::Tls(Rc::clone(&shared)), Wire::Tls(shared)))
    }

    fn tcp(&self) -> io::Result<TcpStream> {
        match self {
            Wire::Plain(tcp) => tcp.try_clone(),
            Wire::Tls(tls) => tls.borrow().sock.try_clone(),
        }
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.read(buf),
            Wire::Tls(tls) => tls.borrow_mut().read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(tcp) => tcp.write(buf),
            Wire::Tls(tls) => tls.borrow_mut().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(tcp) => tcp.flush(),
            Wire::Tls(tls) => tls.borrow_mut().flush(),
        }
    }
}

/// One SMTP connection.
struct Session<'a> {
    shared: &'a Shared,
    id: u64,
    reader: BufReader<Wire>,
    writer: BufWriter<Wire>,
    /// Under TLS.
    tls: bool,
    greeted: bool,
    authenticated: bool,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    data: Vec<u8>,
}

impl<'a> Session<'a> {
    fn new(shared: &'a Shared, id: u64, stream: TcpStream) -> io::Result<Self> {
        // Replies are flushed together once the pipelined commands are read; no Nagle delay.
        stream.set_nodelay(true)?;
        let (read, write, tls) = match (&shared.authority, shared.tls) {
            (Some(authority), SinkTls::Implicit) => {
                let (read, write) = Wire::tls(stream, &authority.config)?;
                (read, write, true)
            }
            _ => (Wire::Plain(stream.try_clone()?), Wire::Plain(stream), false),
        };
        Ok(Session {
            shared,
            id,
            reader: BufReader::with_capacity(64 * 1024, read),
            writer: BufWriter::new(write),
            tls,
            greeted: false,
            authenticated: false,
            mail_from: None,
            rcpt_to: Vec::new(),
            data: Vec::new(),
        })
    }

    fn run(mut self) -> io::Result<()> {
        self.reply(&format!("220 {HOSTNAME} ESMTP hatake SMTP sink ready"))?;
        loop {
            let flow = match self.read_line(MAX_COMMAND_LINE)? {
                Input::Eof => return Ok(()),
                Input::TooLong => self.reply("500 5.5.2 Line too long")?,
                Input::Line(line) => self.command(&line)?,
            };
            if flow == Flow::Close {
                self.writer.flush()?;
                let _ = self.writer.get_ref().tcp().and_then(|tcp| tcp.shutdown(Shutdown::Both));
                return Ok(());
            }
        }
    }

    /// Queues a reply line; it is sent before the next read that would block.
    fn reply(&mut self, line: &str) -> io::Result<Flow> {
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\r\n")?;
        Ok(if line.starts_with("421") { Flow::Close } else { Flow::Continue })
    }

    /// Sends the queued replies when no more pipelined input is buffered.
    fn flush_if_idle(&mut self) -> io::Result<()> {
        if self.reader.buffer().is_empty() {
            self.writer.flush()?;
        }
        Ok(())
    }

    fn read_line(&mut self, limit: u64) -> io::Result<Input> {
        self.flush_if_idle()?;
        let mut buf = Vec::new();
        let n = (&mut self.reader).take(limit).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(Input::Eof);
        }
        if !buf.ends_with(b"\n") {
            if (n as u64) < limit {
                return Ok(Input::Eof); // A partial line, then the end of the stream.
            }
            // Skip the rest of the line.
            loop {
                buf.clear();
                let n = (&mut self.reader).take(limit).read_until(b'\n', &mut buf)?;
                if n == 0 {
                    return Ok(Input::Eof);
                }
                if buf.ends_with(b"\n") {
                    return Ok(Input::TooLong);
                }
            }
        }
        buf.pop();
        if buf.ends_with(b"\r") {
            buf.pop();
        }
        Ok(Input::Line(String::from_utf8_lossy(&buf).into_owned()))
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    fn command(&mut self, line: &str) -> io::Result<Flow> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.ehlo(arg),
            "HELO" => {
                if arg.is_empty() {
                    return self.reply("501 5.5.4 Syntax: HELO hostname");
                }
                self.greeted = true;
                self.reset_transaction();
                self.reply(&format!("250 {HOSTNAME}"))
            }
            "AUTH" => self.auth(arg),
            "STARTTLS" => self.starttls(),
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(arg),
            "RSET" => {
                self.reset_transaction();
                self.reply("250 2.0.0 OK")
            }
            "NOOP" => self.reply("250 2.0.0 OK"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye")?;
                Ok(Flow::Close)
            }
            "" => self.reply("500 5.5.2 Syntax error: empty command"),
            _ => self.reply("502 5.5.1 Command not implemented"),
        }
    }

    fn ehlo(&mut self, arg: &str) -> io::Result<Flow> {
        if arg.is_empty() {
            return self.reply("501 5.5.4 Syntax: EHLO hostname");
        }
        self.greeted = true;
        self.reset_transaction();
        let mut lines = vec![
            format!("{HOSTNAME} greets {arg}"),
            "PIPELINING".to_owned(),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            format!("SIZE {}", self.shared.max_message_size),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if self.shared.auth.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        if self.shared.tls == SinkTls::StartTls && !self.tls {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            let separator = if i == last { ' ' } else { '-' };
            self.reply(&format!("250{separator}{line}"))?;
        }
        Ok(Flow::Continue)
    }

    /// `STARTTLS` (RFC 3207): the go-ahead, then the handshake; the client says `EHLO` again.
    fn starttls(&mut self) -> io::Result<Flow> {
        let Some(authority) = self.shared.authority.as_ref().filter(|_| self.shared.tls == SinkTls::StartTls) else {
            return self.reply("502 5.5.1 STARTTLS not available");
        };
        if self.tls {
            return self.reply("503 5.5.1 TLS already active");
        }
        if !self.reader.buffer().is_empty() {
            // Commands pipelined after STARTTLS would be read as if protected (RFC 3207 §4.2).
            return self.reply("501 5.5.2 Nothing may follow STARTTLS before the handshake");
        }
        self.reply("220 2.0.0 Ready to start TLS")?;
        self.writer.flush()?;
        let tcp = self.reader.get_ref().tcp()?;
        let (read, write) = Wire::tls(tcp, &authority.config)?;
        self.reader = BufReader::with_capacity(64 * 1024, read);
        self.writer = BufWriter::new(write);
        self.tls = true;
        self.greeted = false;
        self.authenticated = false;
        self.reset_transaction();
        Ok(Flow::Continue)
    }

    fn auth(&mut self, arg: &str) -> io::Result<Flow> {
        let Some((user, password)) = self.shared.auth.clone() else {
            return self.reply("503 5.5.1 AUTH not available");
        };
        if !self.greeted {
            return self.reply("503 5.5.1 Send EHLO first");
        }
        if self.authenticated {
            return self.reply("503 5.5.1 Already authenticated");
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 AUTH not allowed during a mail transaction");
        }
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let initial = initial.trim();
        let accepted = if mechanism.eq_ignore_ascii_case("PLAIN") {
            let response = if initial.is_empty() {
                match self.challenge("")? {
                    Some(r) => r,
                    None => return Ok(Flow::Close),
                }
            } else {
                initial.to_owned()
            };
            let Some(decoded) = self.decode_auth(&response)? else { return Ok(Flow::Continue) };
            // authzid NUL authcid NUL password; the authzid may be empty or the user.
            let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
            matches!(parts.as_slice(), [authz, authc, pass]
                if (authz.is_empty() || *authz == user.as_bytes())
                    && *authc == user.as_bytes()
                    && *pass == password.as_bytes())
        } else if mechanism.eq_ignore_ascii_case("LOGIN") {
            let given_user = if initial.is_empty() {
                match self.challenge("VXNlcm5hbWU6")? {
                    Some(r) => r,
                    None => return Ok(Flow::Close),
                }
            } else {
                initial.to_owned()
            };
            let Some(given_user) = self.decode_auth(&given_user)? else { return Ok(Flow::Continue) };
            let given_password = match self.challenge("UGFzc3dvcmQ6")? {
                Some(r) => r,
                None => return Ok(Flow::Close),
            };
            let Some(given_password) = self.decode_auth(&given_password)? else { return Ok(Flow::Continue) };
            given_user == user.as_bytes() && given_password == password.as_bytes()
        } else {
            return self.reply("504 5.5.4 Unrecognized authentication type");
        };
        if accepted {
            self.authenticated = true;
            self.reply("235 2.7.0 Authentication successful")
        } else {
            self.reply("535 5.7.8 Authentication credentials invalid")
        }
    }

    /// Sends a `334` challenge and reads the client's answer; `None` at the end of the stream.
    fn challenge(&mut self, challenge: &str) -> io::Result<Option<String>> {
        self.reply(&format!("334 {challenge}"))?;
        match self.read_line(MAX_COMMAND_LINE)? {
            Input::Line(line) => Ok(Some(line)),
            Input::TooLong => Ok(Some(String::new())),
            Input::Eof => Ok(None),
        }
    }

    /// Decodes an AUTH answer; replies and returns `None` when it is `*` (cancel) or not base64.
    fn decode_auth(&mut self, answer: &str) -> io::Result<Option<Vec<u8>>> {
        let answer = answer.trim();
        if answer == "*" {
            self.reply("501 5.7.0 Authentication cancelled")?;
            return Ok(None);
        }
        if answer == "=" {
            return Ok(Some(Vec::new()));
        }
        match base64_decode(answer) {
            Some(decoded) => Ok(Some(decoded)),
            None => {
                self.reply("501 5.5.2 Cannot decode the response")?;
                Ok(None)
            }
        }
    }

    fn mail(&mut self, arg: &str) -> io::Result<Flow> {
        if !self.greeted {
            return self.reply("503 5.5.1 Send EHLO or HELO first");
        }
        if self.shared.auth.is_some() && !self.authenticated {
            return self.reply("530 5.7.0 Authentication required");
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Sender already given");
        }
        let Some((address, params)) = strip_prefix_ci(arg, "FROM:").and_then(parse_path) else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        // Parameters (BODY=, SMTPUTF8, RET=, ENVID=) are accepted and ignored, but SIZE= is
        // held to the limit.
        let too_big = params.split_whitespace().any(|p| {
            strip_prefix_ci(p, "SIZE=")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > self.shared.max_message_size as u64)
        });
        if too_big {
            return self.reply("552 5.3.4 Message size exceeds fixed maximum message size");
        }
        if self.shared.close_after_mail_from() {
            self.shared.count_rejection();
            return Ok(Flow::Close);
        }
        self.mail_from = Some(address.to_owned());
        self.reply("250 2.1.0 Sender OK")
    }

    fn rcpt(&mut self, arg: &str) -> io::Result<Flow> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before RCPT");
        }
        let Some((address, _params)) = strip_prefix_ci(arg, "TO:").and_then(parse_path) else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        if address.is_empty() {
            return self.reply("501 5.1.3 Empty recipient address");
        }
        if let Some(reply) = self.shared.rcpt_failure(address) {
            self.shared.count_rejection();
            return self.reply(&reply);
        }
        self.rcpt_to.push(address.to_owned());
        self.reply("250 2.1.5 Recipient OK")
    }

    fn data(&mut self, arg: &str) -> io::Result<Flow> {
        if !arg.is_empty() {
            return self.reply("501 5.5.4 Syntax: DATA");
        }
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before DATA");
        }
        if self.rcpt_to.is_empty() {
            return self.reply("554 5.5.1 No valid recipients");
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>")?;
        let complete = self.read_message()?;
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        if !complete {
            self.data.clear();
            return self.reply("552 5.3.4 Message size exceeds fixed maximum message size");
        }
        if let Some(reply) = self.shared.data_failure() {
            self.data.clear();
            self.shared.count_rejection();
            return self.reply(&reply);
        }
        // The message is whole once its end arrived: kept even when the client is gone by now
        // (as a real server keeps it: the answers of earlier pipelined commands that cannot be
        // written any more do not undo it).
        let flushed = self.writer.flush();
        self.shared.delay();
        let queued = self.shared.record(self.id, self.tls, mail_from, rcpt_to, &mut self.data);
        flushed?;
        self.reply(&format!("250 2.0.0 OK: queued as {queued}"))
    }

    /// Reads the message up to the `.` line into `self.data`, dot-unstuffed. Returns false when
    /// the message was larger than allowed (it is then read to its end and dropped).
    fn read_message(&mut self) -> io::Result<bool> {
        self.data.clear();
        let max = self.shared.max_message_size;
        let mut too_big = false;
        let mut chunk = Vec::new();
        // Whether the next chunk starts a line, and whether the line before it ended in CRLF.
        let mut at_line_start = true;
        let mut after_crlf = true;
        let mut last_byte = b'\n';
        loop {
            self.flush_if_idle()?;
            chunk.clear();
            let n = (&mut self.reader).take(MAX_DATA_CHUNK).read_until(b'\n', &mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the connection ended inside DATA"));
            }
            if at_line_start && after_crlf && chunk == b".\r\n" {
                return Ok(!too_big);
            }
            let content = if at_line_start && chunk.first() == Some(&b'.') { &chunk[1..] } else { &chunk[..] };
            if !too_big {
                if self.data.len() + content.len() > max {
                    too_big = true;
                    self.data = Vec::new();
                } else {
                    self.data.extend_from_slice(content);
                }
            }
            let ends_line = chunk.ends_with(b"\n");
            after_crlf = ends_line && (chunk.ends_with(b"\r\n") || (chunk.len() == 1 && last_byte == b'\r'));
            at_line_start = ends_line;
            last_byte = chunk[chunk.len() - 1];
        }
    }
}

/// `s` without `prefix`, compared case-insensitively.
fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// Splits `<address> params` (or a bare `address params`) into the address without angle
/// brackets and the parameters.
fn parse_path(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if let Some(rest) = s.strip_prefix('<') {
        let end = rest.find('>')?;
        let address = &rest[..end];
        // A source route (`<@a,@b:user@c>`) is obsolete; keep only the mailbox.
        let address = if address.starts_with('@') { address.split_once(':')?.1 } else { address };
        Some((address, rest[end + 1..].trim()))
    } else {
        let (address, params) = s.split_once(' ').unwrap_or((s, ""));
        (!address.is_empty()).then_some((address, params.trim()))
    }
}

/// The value of the first header called `name` in a raw message: unfolded, trimmed.
fn header_value(message: &[u8], name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // The end of the header.
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(value) = value.as_mut() {
                value.push_str(&String::from_utf8_lossy(line));
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        if line[..colon].trim_ascii_end().eq_ignore_ascii_case(name.as_bytes()) {
            value = Some(String::from_utf8_lossy(&line[colon + 1..]).into_owned());
        }
    }
    value.map(|v| v.trim().to_owned())
}

/// Decodes standard base64 (padding optional); `None` when it is not base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny SMTP client over a real socket.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        /// Connects and reads the greeting.
        fn connect(sink: &SmtpSink) -> Client {
            let stream = TcpStream::connect(sink.addr()).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut client = Client { writer: stream.try_clone().unwrap(), reader: BufReader::new(stream) };
            let greeting = client.reply();
            assert!(greeting.starts_with("220 "), "{greeting}");
            client
        }

        /// Connects, reads the greeting and sends EHLO.
        fn hello(sink: &SmtpSink) -> Client {
            let mut client = Client::connect(sink);
            let ehlo = client.cmd("EHLO client.test");
            assert!(ehlo.starts_with("250-"), "{ehlo}");
            client
        }

        fn send(&mut self, raw: &str) {
            self.writer.write_all(raw.as_bytes()).unwrap();
        }

        /// Reads one reply; the lines of a multi-line reply are joined with `\n`.
        fn reply(&mut self) -> String {
            let mut lines = Vec::new();
            loop {
                let mut line = String::new();
                assert_ne!(self.reader.read_line(&mut line).unwrap(), 0, "connection closed after {lines:?}");
                let line = line.strip_suffix("\r\n").expect("replies end in CRLF").to_owned();
                let last = line.as_bytes().get(3) != Some(&b'-');
                lines.push(line);
                if last {
                    return lines.join("\n");
                }
            }
        }

        fn cmd(&mut self, command: &str) -> String {
            self.send(&format!("{command}\r\n"));
            self.reply()
        }

        /// Whether the server closed the connection (reads end of stream).
        fn closed(&mut self) -> bool {
            let mut rest = Vec::new();
            self.reader.read_to_end(&mut rest).is_ok() && rest.is_empty()
        }

        /// Sends one whole message; returns the reply to its data.
        fn mail(&mut self, from: &str, to: &str, body: &str) -> String {
            assert_eq!(code(&self.cmd(&format!("MAIL FROM:<{from}>"))), 250);
            assert_eq!(code(&self.cmd(&format!("RCPT TO:<{to}>"))), 250);
            assert_eq!(code(&self.cmd("DATA")), 354);
            self.send(body);
            self.cmd(".")
        }
    }

    fn code(reply: &str) -> u16 {
        reply[..3].parse().unwrap()
    }

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for group in bytes.chunks(3) {
            let n = group.iter().enumerate().fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= group.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn smtp_message_arrives_unstuffed_with_its_message_id() {
        let sink = SmtpSink::start().unwrap();
        let mut client = Client::hello(&sink);
        // Dot-stuffed as on the wire: each line that starts with "." gets another one.
        let body = "Message-ID:\r\n <abc.123@hatake.test>\r\nSubject: Dots\r\n\r\n..leading dot\r\n..\r\n\
                    ...\r\nend\r\n";
        let reply = client.mail("", "To@Example.com", body);
        assert!(reply.starts_with("250 2.0.0"), "{reply}");
        assert!(sink.wait_for(1, WAIT));
        let got = sink.messages().remove(0);
        assert_eq!(got.mail_from, "");
        assert_eq!(got.rcpt_to, ["To@Example.com"]);
        assert_eq!(got.message_id.as_deref(), Some("<abc.123@hatake.test>"));
        assert_eq!(got.header("subject").as_deref(), Some("Dots"));
        assert_eq!(
            got.text(),
            "Message-ID:\r\n <abc.123@hatake.test>\r\nSubject: Dots\r\n\r\n.leading dot\r\n.\r\n..\r\nend\r\n"
        );
        assert_eq!(got.connection, 1);
        assert_eq!(sink.bytes_received(), got.data.len() as u64);
        assert_eq!(code(&client.cmd("QUIT")), 221);
        assert!(client.closed());
    }

    #[test]
    fn smtp_pipelined_commands_are_answered_in_order() {
        let sink = SmtpSink::start().unwrap();
        let mut client = Client::connect(&sink);
        client.send(
            "ehlo client.test\r\nmail from:<a@example.com> BODY=8BITMIME SMTPUTF8 SIZE=100\r\n\
             RCPT TO:<b@example.com>\r\nXYZZY\r\nrcpt to:<c@example.com>\r\nNOOP\r\nDATA\r\n",
        );
        let ehlo = client.reply();
        for extension in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE"] {
            assert!(ehlo.contains(extension), "{ehlo}");
        }
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        let codes: Vec<u16> = (0..6).map(|_| code(&client.reply())).collect();
        assert_eq!(codes, [250, 250, 502, 250, 250, 354]);
        client.send("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n");
        assert_eq!(code(&client.reply()), 250);
        assert_eq!(code(&client.reply()), 221);
        let got = sink.take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rcpt_to, ["b@example.com", "c@example.com"]);
        assert_eq!(got[0].message_id, None);
        assert_eq!(sink.count(), 0);
    }

    #[test]
    fn smtp_two_messages_on_one_connection_with_rset() {
        let sink = SmtpSink::start().unwrap();
        let mut client = Client::hello(&sink);
        // An abandoned transaction, then two messages with RSET between them.
        assert_eq!(code(&client.cmd("MAIL FROM:<x@example.com>")), 250);
        assert_eq!(code(&client.cmd("MAIL FROM:<x@example.com>")), 503);
        assert_eq!(code(&client.cmd("RSET")), 250);
        assert_eq!(code(&client.cmd("RCPT TO:<y@example.com>")), 503);
        client.mail("a@example.com", "one@example.com", "Message-ID: <1@t>\r\n\r\none\r\n");
        assert_eq!(code(&client.cmd("RSET")), 250);
        client.mail("a@example.com", "two@example.com", "Message-ID: <2@t>\r\n\r\ntwo\r\n");
        assert!(sink.wait_for(2, WAIT));
        let got = sink.messages();
        let ids: Vec<_> = got.iter().map(|m| m.message_id.as_deref().unwrap()).collect();
        assert_eq!(ids, ["<1@t>", "<2@t>"]);
        assert!(got.iter().all(|m| m.connection == 1 && m.mail_from == "a@example.com"));
        assert_eq!(got[1].data, b"Message-ID: <2@t>\r\n\r\ntwo\r\n");
        assert_eq!(sink.connections(), 1);
    }

    #[test]
    fn smtp_transient_rcpt_failure_then_success() {
        let sink = SmtpSink::start().unwrap();
        sink.fail_rcpt("<busy@example.com>", "450 4.2.1 mailbox busy", FailMode::Times(1));
        let mut client = Client::hello(&sink);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 250);
        assert_eq!(client.cmd("RCPT TO:<BUSY@example.com>"), "450 4.2.1 mailbox busy");
        assert_eq!(code(&client.cmd("RCPT TO:<other@example.com>")), 250);
        assert_eq!(code(&client.cmd("RCPT TO:<busy@example.com>")), 250);
        assert_eq!(sink.rejected(), 1);
        // A failure after the data, once.
        sink.fail_data_times(1, "451 4.3.0 try again later");
        assert_eq!(code(&client.cmd("DATA")), 354);
        assert_eq!(client.cmd("x\r\n."), "451 4.3.0 try again later");
        assert_eq!(code(&client.mail("a@example.com", "busy@example.com", "x\r\n")), 250);
        assert_eq!(sink.count(), 1);
        assert_eq!(sink.rejected(), 2);
    }

    #[test]
    fn smtp_permanent_rcpt_failure() {
        let sink = SmtpSink::start().unwrap();
        sink.fail_rcpt(RcptMatch::predicate(|a| a.starts_with("nobody")), "550 5.1.1 no such user", FailMode::Always);
        sink.fail_rcpt(RcptMatch::Domain("gone.example".into()), "421 4.3.2 shutting down", FailMode::Always);
        let mut client = Client::hello(&sink);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 250);
        for _ in 0..3 {
            assert_eq!(client.cmd("RCPT TO:<nobody@example.com>"), "550 5.1.1 no such user");
        }
        assert_eq!(code(&client.cmd("DATA")), 554);
        assert_eq!(code(&client.cmd("RSET")), 250);
        // 421 closes the connection.
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 250);
        assert_eq!(code(&client.cmd("RCPT TO:<x@GONE.example>")), 421);
        assert!(client.closed());
        assert_eq!(sink.count(), 0);
        assert_eq!(sink.rejected(), 4);
    }

    #[test]
    fn smtp_auth_plain_and_login() {
        let sink = SmtpSink::with_auth("user", "secret").unwrap();
        let mut client = Client::hello(&sink);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 530);
        let bad = base64(b"\0user\0wrong");
        assert_eq!(code(&client.cmd(&format!("AUTH PLAIN {bad}"))), 535);
        assert_eq!(code(&client.cmd("AUTH PLAIN !!!")), 501);
        // PLAIN without an initial response: the credentials come after a 334.
        assert_eq!(client.cmd("AUTH PLAIN"), "334 ");
        assert_eq!(code(&client.cmd(&base64(b"\0user\0secret"))), 235);
        assert_eq!(code(&client.cmd("AUTH PLAIN")), 503);
        assert_eq!(code(&client.mail("a@example.com", "b@example.com", "x\r\n")), 250);

        let mut client = Client::connect(&sink);
        let ehlo = client.cmd("EHLO client.test");
        assert!(ehlo.ends_with("250 AUTH PLAIN LOGIN"), "{ehlo}");
        assert_eq!(client.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
        assert_eq!(client.cmd(&base64(b"user")), "334 UGFzc3dvcmQ6");
        assert_eq!(code(&client.cmd(&base64(b"nope"))), 535);
        assert_eq!(client.cmd(&format!("auth login {}", base64(b"user"))), "334 UGFzc3dvcmQ6");
        assert_eq!(code(&client.cmd(&base64(b"secret"))), 235);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 250);
        assert_eq!(sink.connections(), 2);
    }

    #[test]
    fn smtp_counting_mode_keeps_no_bodies() {
        let sink = SmtpSink::start_counting().unwrap();
        let mut client = Client::hello(&sink);
        for i in 0..3 {
            let body = format!("Message-ID: <{i}@t>\r\n\r\n{}\r\n", "x".repeat(1000));
            assert_eq!(code(&client.mail("a@example.com", "b@example.com", &body)), 250);
        }
        assert!(sink.wait_for(3, WAIT));
        let got = sink.messages();
        assert!(got.iter().all(|m| m.data.is_empty() && m.rcpt_to == ["b@example.com"]));
        assert_eq!(got[2].message_id.as_deref(), Some("<2@t>"));
        assert_eq!(sink.bytes_received(), 3 * (19 + 2 + 1002));
    }

    #[test]
    fn smtp_wait_for_times_out() {
        let sink = SmtpSink::start().unwrap();
        let started = Instant::now();
        assert!(!sink.wait_for(1, Duration::from_millis(50)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(sink.wait_for(0, Duration::ZERO));
    }

    #[test]
    fn smtp_wait_for_wakes_on_arrival_and_delay_holds_the_reply() {
        let sink = SmtpSink::start().unwrap();
        sink.set_delay(Duration::from_millis(100));
        let addr = sink.addr();
        let started = Instant::now();
        let sender = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n").unwrap();
            let mut replies = String::new();
            stream.read_to_string(&mut replies).unwrap();
            replies
        });
        assert!(sink.wait_for(1, WAIT));
        assert!(started.elapsed() >= Duration::from_millis(100));
        let replies = sender.join().unwrap();
        let codes: Vec<u16> = replies.lines().map(code).collect();
        assert_eq!(codes, [220, 250, 250, 250, 354, 250, 221]);
    }

    #[test]
    fn smtp_sequence_size_and_hang_up() {
        let sink = SmtpSink::builder().max_message_size(10).start().unwrap();
        let mut client = Client::connect(&sink);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 503);
        assert_eq!(code(&client.cmd("EHLO")), 501);
        assert_eq!(code(&client.cmd("HELO client.test")), 250);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com> SIZE=11")), 552);
        assert_eq!(code(&client.mail("a@example.com", "b@example.com", "0123456789\r\n")), 552);
        assert_eq!(code(&client.mail("a@example.com", "b@example.com", "01234567\r\n")), 250);
        assert_eq!(sink.count(), 1);
        sink.close_after_mail_from(FailMode::Times(1));
        client.send("MAIL FROM:<a@example.com>\r\n");
        assert!(client.closed());
        let mut client = Client::hello(&sink);
        assert_eq!(code(&client.cmd("MAIL FROM:<a@example.com>")), 250);
    }

    #[test]
    fn smtp_stop_closes_connections_and_the_port() {
        let sink = SmtpSink::start().unwrap();
        let mut client = Client::hello(&sink);
        sink.stop();
        assert!(client.closed());
        assert!(TcpStream::connect(sink.addr()).is_err());
        assert_eq!(sink.connections(), 1);
        assert!(!sink.wait_for(1, WAIT)); // Returns at once.
        sink.stop();
    }

    #[test]
    fn smtp_helpers() {
        assert_eq!(base64_decode(&base64(b"\0user\0pass")).unwrap(), b"\0user\0pass");
        assert_eq!(base64_decode("dXNlcg").unwrap(), b"user");
        assert_eq!(base64_decode("a b"), None);
        assert_eq!(parse_path(" <a@b> SIZE=1"), Some(("a@b", "SIZE=1")));
        assert_eq!(parse_path("<@relay:a@b>"), Some(("a@b", "")));
        assert_eq!(parse_path("a@b"), Some(("a@b", "")));
        assert_eq!(parse_path("<a@b"), None);
        let message = b"X: 1\r\nmessage-id : <a@b>\r\n\t (note)\r\nY: 2\r\n\r\nMessage-ID: <body@b>\r\n";
        assert_eq!(header_value(message, "Message-ID").as_deref(), Some("<a@b>\t (note)"));
        assert_eq!(header_value(message, "Z"), None);
        assert_eq!(header_value(b"Y: 2\n\nMessage-ID: <x>\n", "Message-ID"), None);
    }
}
