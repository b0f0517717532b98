//! `hatake bench mail`: sending from the outbox to a local SMTP server, next to that server's
//! own acceptance rate measured in the same run, and a `kill -9` in the middle of a send.
//!
//! 1. **Baseline**: the SMTP server of `hatake-testkit` (real SMTP on loopback, counting by
//!    Message-ID) takes the same messages from a bare client written here — one message after
//!    another on each of the same number of connections, nothing recorded anywhere. That is as
//!    fast as this server accepts mail on this machine.
//! 2. **hatake**: the same number of mails recorded in the outbox of a fresh database, then sent
//!    by the runtime's mail sender (claims, hand-over records, outcomes, every attempt kept).
//! 3. **kill -9**: `hatake serve` (this binary) sends them from a fresh database; it is killed
//!    once a third has arrived and started again; the server's Message-IDs are counted for
//!    duplicates and missing mail.

use anyhow::{anyhow, bail, Context};
use hatake_engine::mail::sender::{MailSender, SenderSettings, OUTBOX};
use hatake_engine::mail::transport::{SmtpSettings, SmtpTransport, TlsMode};
use hatake_engine::mail::{build, message_id, OutgoingMail};
use hatake_engine::runtime::{Clock, Context as WorkContext, Runtime};
use hatake_store::{NewOutbox, Store};
use hatake_testkit::smtp::SmtpSink;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct MailBenchArgs {
    /// Mails per measurement.
    #[arg(long, default_value_t = 100_000)]
    pub mails: usize,
    /// SMTP connections side by side (the baseline uses as many).
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Runs of the baseline and of hatake (alternating); the summary quotes medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// PostgreSQL instead of a fresh SQLite directory per run (each run's mails have keys of
    /// their own; earlier runs' rows stay).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Skip the kill -9 run.
    #[arg(long)]
    pub no_kill: bool,
}

fn mail(i: usize) -> OutgoingMail {
    OutgoingMail {
        from_name: Some("サンプル株式会社 マーケティング部".into()),
        from_address: "news@sample.co.jp".into(),
        to_name: Some(format!("見込 太郎{i}")),
        to_address: format!("lead{i}@example.jp"),
        subject: "【ご案内】クラウドERP導入事例セミナーのお知らせ".into(),
        text: "見込 太郎 様\n\nいつもお世話になっております。サンプル株式会社の山田です。\n\
               来月、クラウドERPの導入事例セミナーを開催いたします。\n\n\
               日時：2027年1月20日（水）15:00〜16:30\n会場：オンライン\n\n\
               お申し込みはこちら：https://sample.co.jp/seminar/2027-01\n\n\
               配信停止：https://sample.co.jp/u/xxxxxxxx\n"
            .repeat(3),
        html: None,
        unsubscribe_url: Some("https://sample.co.jp/u/xxxxxxxx".into()),
        ..OutgoingMail::default()
    }
}

/// # Errors
/// When a database, the SMTP server or the child process fails.
pub async fn run(args: &MailBenchArgs) -> anyhow::Result<()> {
    if args.mails == 0 || args.connections == 0 {
        bail!("--mails and --connections must be at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let backend = if args.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "hatake bench mail: {} mails a run, {} connections, {backend}, {cores} cores, {} rounds",
        args.mails, args.connections, args.rounds
    );
    let mut baseline = Vec::new();
    let mut ours = Vec::new();
    for round in 1..=args.rounds {
        let rate = sink_alone(args)?;
        println!("round {round}: SMTP server alone (bare client)       {:>9.0} mails/s", rate);
        baseline.push(rate);
        let (rate, enqueued) = through_outbox(args).await?;
        println!(
            "round {round}: hatake, outbox → SMTP                 {:>9.0} mails/s  ({:.2}× the server alone; recording {} mails took {:.1} s)",
            rate,
            rate / baseline[baseline.len() - 1],
            args.mails,
            enqueued
        );
        ours.push(rate);
    }
    let (b, o) = (median(&mut baseline), median(&mut ours));
    println!();
    println!("| measure | figure | baseline (same run) |");
    println!("|---|---:|---:|");
    println!(
        "| {} mails from the outbox to a local SMTP server, {} connections ({backend}, {cores} cores; median of {}) | {:.0} mails/s ({:.0}% of the server alone) | SMTP server alone, bare client: {:.0} mails/s |",
        args.mails,
        args.connections,
        args.rounds,
        o,
        100.0 * o / b,
        b
    );
    if !args.no_kill {
        let kill = kill_run(args).await?;
        println!(
            "| kill -9 after {} of {} mails, then a restart | {} duplicates, {} missing ({} left unconfirmed) | — |",
            kill.at_kill, args.mails, kill.duplicates, kill.missing, kill.unconfirmed
        );
    }
    println!();
    println!(
        "reproduce: hatake bench mail --mails {} --connections {} --rounds {}{}",
        args.mails,
        args.connections,
        args.rounds,
        if args.database_url.is_some() { " --database-url …" } else { "" }
    );
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The messages as hatake would send them (for the bare client).
fn messages(count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..count)
        .map(|i| {
            let m = mail(i);
            let id = message_id(&format!("bench:{i}"), &m.from_address);
            build(&m, &id, 1_790_000_000_000).map_err(|e| anyhow!("{e}"))
        })
        .collect()
}

/// The server's own acceptance rate: a bare client, one message after another per connection.
fn sink_alone(args: &MailBenchArgs) -> anyhow::Result<f64> {
    let sink = SmtpSink::start_counting().context("starting the SMTP server")?;
    let all = Arc::new(messages(args.mails)?);
    let started = Instant::now();
    let threads: Vec<_> = (0..args.connections)
        .map(|lane| {
            let all = all.clone();
            let (port, lanes) = (sink.port(), args.connections);
            std::thread::spawn(move || -> std::io::Result<()> {
                let stream = TcpStream::connect(("127.0.0.1", port))?;
                stream.set_nodelay(true)?;
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut writer = stream;
                let mut line = String::new();
                let mut reply = |reader: &mut BufReader<TcpStream>| -> std::io::Result<()> {
                    loop {
                        line.clear();
                        reader.read_line(&mut line)?;
                        if line.len() < 4 || line.as_bytes()[3] != b'-' {
                            return Ok(());
                        }
                    }
                };
                reply(&mut reader)?;
                writer.write_all(b"EHLO bench.local\r\n")?;
                reply(&mut reader)?;
                for (i, message) in all.iter().enumerate().filter(|(i, _)| i % lanes == lane) {
                    write!(writer, "MAIL FROM:<news@sample.co.jp>\r\n")?;
                    reply(&mut reader)?;
                    write!(writer, "RCPT TO:<lead{i}@example.jp>\r\n")?;
                    reply(&mut reader)?;
                    writer.write_all(b"DATA\r\n")?;
                    reply(&mut reader)?;
                    writer.write_all(message)?;
                    writer.write_all(b"\r\n.\r\n")?;
                    reply(&mut reader)?;
                }
                writer.write_all(b"QUIT\r\n")?;
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| anyhow!("a client thread panicked"))?.context("the bare client")?;
    }
    if !sink.wait_for(args.mails, Duration::from_secs(60)) {
        bail!("the SMTP server received {} of {} mails", sink.count(), args.mails);
    }
    Ok(args.mails as f64 / started.elapsed().as_secs_f64())
}

/// A fresh store: a temporary SQLite directory, or the PostgreSQL database with an empty
/// outbox.
async fn fresh_store(args: &MailBenchArgs) -> anyhow::Result<(Arc<dyn Store>, Option<tempfile::TempDir>)> {
    match &args.database_url {
        Some(url) => {
            let store = hatake_postgres::PostgresStore::connect(url).await.context("connecting to PostgreSQL")?;
            Ok((Arc::new(store), None))
        }
        None => {
            let dir = tempfile::tempdir()?;
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await?;
            Ok((Arc::new(store), Some(dir)))
        }
    }
}

async fn record_all(store: &dyn Store, mails: usize, now: i64) -> anyhow::Result<f64> {
    let started = Instant::now();
    // Keys of this run's own (a PostgreSQL database keeps earlier runs' rows).
    let mut rows = Vec::with_capacity(10_000);
    for i in 0..mails {
        let m = mail(i);
        rows.push(NewOutbox {
            idempotency_key: format!("bench:{now}:{i}"),
            kind: hatake_engine::mail::KIND.into(),
            lead_id: None,
            recipient: m.to_address.clone(),
            payload: serde_json::to_string(&m)?,
            due_at: now,
            topic: None,
        });
        if rows.len() == 10_000 {
            store.enqueue_outbox(&rows, now).await?;
            rows.clear();
        }
    }
    store.enqueue_outbox(&rows, now).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// hatake's rate: the runtime's mail sender from a filled outbox to the server.
async fn through_outbox(args: &MailBenchArgs) -> anyhow::Result<(f64, f64)> {
    let sink = SmtpSink::start_counting().context("starting the SMTP server")?;
    let (store, _dir) = fresh_store(args).await?;
    let now = hatake_web::now_millis();
    let recording = record_all(store.as_ref(), args.mails, now).await?;
    let runtime = Runtime::new(WorkContext::new(store.clone(), Clock::system(), jiff::tz::TimeZone::UTC));
    let transport = SmtpTransport::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls: TlsMode::None,
        username: None,
        password: None,
        hello_name: Some("bench.local".into()),
        timeout_secs: 30,
        tls_roots: None,
    });
    let settings = SenderSettings { connections: args.connections, ..SenderSettings::default() };
    let started = Instant::now();
    let sender = runtime.spawn(MailSender::new(Arc::new(transport), settings));
    runtime.handle().wake(OUTBOX);
    while !sink.wait_for(args.mails, Duration::from_millis(200)) {
        if started.elapsed() > Duration::from_secs(3_600) {
            bail!("only {} of {} mails arrived in an hour", sink.count(), args.mails);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sender = sender.stop(Duration::from_secs(30)).await.ok_or_else(|| anyhow!("the sender did not stop"))?;
    if sender.counts.sent != args.mails as u64 {
        bail!("the sender recorded {} sent of {}", sender.counts.sent, args.mails);
    }
    Ok((args.mails as f64 / elapsed, recording))
}

struct Kill {
    at_kill: usize,
    duplicates: usize,
    missing: usize,
    unconfirmed: i64,
}

/// `hatake serve` killed after a third of the mails arrived, then started again.
async fn kill_run(args: &MailBenchArgs) -> anyhow::Result<Kill> {
    let sink = SmtpSink::start_counting().context("starting the SMTP server")?;
    let (store, dir) = fresh_store(args).await?;
    record_all(store.as_ref(), args.mails, hatake_web::now_millis()).await?;
    let binary = std::env::current_exe()?;
    let store_args: Vec<String> = match (&args.database_url, &dir) {
        (Some(url), _) => vec!["--database-url".into(), url.clone()],
        (None, Some(dir)) => vec!["--data-dir".into(), dir.path().display().to_string()],
        (None, None) => bail!("no database"),
    };
    let serve = || {
        std::process::Command::new(&binary)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&store_args)
            .env("HATAKE_SMTP_URL", format!("smtp://127.0.0.1:{}?tls=none", sink.port()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting hatake serve")
    };
    let mut first = serve()?;
    let started = Instant::now();
    while sink.count() < args.mails / 3 {
        if first.try_wait()?.is_some() || started.elapsed() > Duration::from_secs(600) {
            bail!("the first server stopped before a third was sent ({} arrived)", sink.count());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill()?; // SIGKILL
    first.wait()?;
    let at_kill = sink.count();
    println!("kill -9 after {at_kill} of {} mails; starting again", args.mails);
    let mut second = serve()?;
    let started = Instant::now();
    loop {
        let counts = store.outbox_counts().await?;
        if counts.pending + counts.claimed == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(3_600) {
            bail!("the second server did not finish: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill()?;
    second.wait()?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        *seen.entry(message.message_id.unwrap_or_default()).or_default() += 1;
    }
    let duplicates = seen.values().map(|n| n - 1).sum();
    let counts = store.outbox_counts().await?;
    Ok(Kill { at_kill, duplicates, missing: args.mails.saturating_sub(seen.len()), unconfirmed: counts.handed })
}
