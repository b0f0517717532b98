//! Mail through the outbox on both backends, to a real SMTP server (the testkit's sink): each
//! cause sends once however often it is recorded, a transient refusal is tried again after its
//! back-off on the clock and a permanent one never, a refusal after the content is safe to try
//! again, and two workers over one outbox never send a mail twice.

use hatake_engine::mail::sender::{MailSender, SenderSettings};
use hatake_engine::mail::transport::{SmtpSettings, SmtpTransport, TlsMode};
use hatake_engine::mail::{enqueue, OutgoingMail};
use hatake_engine::runtime::{self, Clock, Context, LeaseState, Next};
use hatake_store::Store;
use hatake_testkit::smtp::{FailMode, SinkTls, SmtpSink};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_790_000_000_000;

fn mail(to: &str) -> OutgoingMail {
    OutgoingMail {
        from_name: Some("サンプル株式会社".into()),
        from_address: "news@sample.co.jp".into(),
        to_name: Some("山田 太郎".into()),
        to_address: to.into(),
        subject: "【ご案内】ERPセミナー".into(),
        text: "山田 太郎 様\n\nセミナーのご案内です。\n.\n（行頭のドット）".into(),
        html: None,
        unsubscribe_url: Some("https://hatake.example/u/x".into()),
        ..Default::default()
    }
}

fn sender(sink: &SmtpSink, connections: usize, batch: i64) -> MailSender {
    let transport = SmtpTransport::new(SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls: TlsMode::None,
        username: None,
        password: None,
        hello_name: Some("hatake.test".into()),
        timeout_secs: 5,
        tls_roots: None,
    });
    MailSender::new(Arc::new(transport), SenderSettings { connections, batch, ..SenderSettings::default() })
}

/// Steps the sender until it has nothing due.
async fn drain(worker: &mut MailSender, cx: &Context) {
    let mut lease = LeaseState::default();
    for _ in 0..100 {
        match runtime::step(worker, cx, &mut lease).await.expect("step") {
            Some(Next::Again) => {}
            _ => return,
        }
    }
    panic!("the sender never finished");
}

fn ids(sink: &SmtpSink) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for message in sink.messages() {
        *seen.entry(message.message_id.clone().expect("a Message-ID")).or_insert(0) += 1;
    }
    seen
}

async fn each_cause_sends_once(store: Arc<dyn Store>) {
    let sink = SmtpSink::start().expect("sink");
    let clock = Clock::manual(T0);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    for i in 0..30 {
        let key = format!("test:{i}");
        assert!(enqueue(store.as_ref(), &key, None, &mail(&format!("p{i}@example.jp")), T0, T0).await.unwrap());
    }
    assert!(!enqueue(store.as_ref(), "test:0", None, &mail("p0@example.jp"), T0, T0).await.unwrap(), "once per cause");
    // Not yet due: nothing goes.
    enqueue(store.as_ref(), "later", None, &mail("later@example.jp"), T0 + 3_600_000, T0).await.unwrap();
    let mut worker = sender(&sink, 3, 8);
    drain(&mut worker, &cx).await;
    assert!(sink.wait_for(30, Duration::from_secs(5)));
    let seen = ids(&sink);
    assert_eq!(seen.len(), 30, "every mail once");
    assert!(seen.values().all(|n| *n == 1));
    assert_eq!(worker.counts.sent, 30);
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.sent, counts.pending), (30, 1));
    let first = store.outbox_by_key("test:0").await.unwrap().unwrap();
    assert_eq!((first.status.as_str(), first.last_code, first.attempts), ("sent", Some(250), 1));
    assert!(seen.contains_key(&format!("<{}>", first.message_id.unwrap())), "the id recorded is the one sent");
    let body = sink.messages().into_iter().find(|m| m.rcpt_to == ["p3@example.jp"]).unwrap();
    assert_eq!(body.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert_eq!(body.mail_from, "news@sample.co.jp");

    // An hour later the later one goes, and nothing else.
    clock.advance(Duration::from_secs(3_600));
    drain(&mut worker, &cx).await;
    assert!(sink.wait_for(31, Duration::from_secs(5)));
    assert_eq!(ids(&sink).len(), 31);
}

/// Over STARTTLS and over TLS from the first byte, to a server whose certificate comes from an
/// authority trusted by the settings (a company's own CA), with a login: every mail once, each
/// message's end written as a TLS record right after its hand-over's commit.
async fn mail_goes_over_tls(store: Arc<dyn Store>) {
    let clock = Clock::manual(T0);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    for (round, (mode, tls)) in
        [(SinkTls::StartTls, TlsMode::Starttls), (SinkTls::Implicit, TlsMode::Tls)].into_iter().enumerate()
    {
        let sink = SmtpSink::builder().tls(mode).auth("hatake", "p@ss").start().expect("sink");
        for i in 0..40 {
            let key = format!("tls:{round}:{i}");
            enqueue(store.as_ref(), &key, None, &mail(&format!("t{i}@example.jp")), T0, T0).await.unwrap();
        }
        let settings = SmtpSettings {
            host: "127.0.0.1".into(),
            port: sink.port(),
            tls,
            username: Some("hatake".into()),
            password: Some("p@ss".into()),
            hello_name: Some("hatake.test".into()),
            timeout_secs: 5,
            tls_roots: sink.authority_pem(),
        };
        // Without the company's authority the certificate is refused: nothing goes, and the
        // mail waits to be tried again.
        let untrusted = SmtpTransport::new(SmtpSettings { tls_roots: None, ..settings.clone() });
        let mut worker =
            MailSender::new(Arc::new(untrusted), SenderSettings { connections: 2, ..SenderSettings::default() });
        drain(&mut worker, &cx).await;
        assert_eq!(sink.count(), 0);
        assert_eq!(worker.counts.retried, 40, "{mode:?}");
        clock.advance(Duration::from_secs(3_600));
        let transport = SmtpTransport::new(settings);
        let mut worker =
            MailSender::new(Arc::new(transport), SenderSettings { connections: 3, ..SenderSettings::default() });
        drain(&mut worker, &cx).await;
        assert!(sink.wait_for(40, Duration::from_secs(5)));
        let seen = ids(&sink);
        assert_eq!(seen.len(), 40, "{mode:?}: every mail");
        assert!(seen.values().all(|n| *n == 1), "{mode:?}: once");
        assert!(sink.messages().iter().all(|m| m.tls), "{mode:?}: over TLS");
        assert_eq!(worker.counts.sent, 40);
    }
}

async fn refusals_are_tried_again_or_not(store: Arc<dyn Store>) {
    let sink = SmtpSink::start().expect("sink");
    sink.fail_rcpt("busy@example.jp", "450 4.2.1 mailbox busy", FailMode::Times(2));
    sink.fail_rcpt("gone@example.jp", "550 5.1.1 no such user", FailMode::Always);
    let clock = Clock::manual(T0);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    for (key, to) in [("busy", "busy@example.jp"), ("gone", "gone@example.jp"), ("late", "late@example.jp")] {
        enqueue(store.as_ref(), key, None, &mail(to), T0, T0).await.unwrap();
    }
    sink.fail_data_times(1, "451 4.3.0 try again later");
    let mut worker = sender(&sink, 1, 10);
    drain(&mut worker, &cx).await;
    let busy = store.outbox_by_key("busy").await.unwrap().unwrap();
    assert_eq!((busy.status.as_str(), busy.last_code, busy.due_at), ("pending", Some(450), T0 + 60_000));
    let gone = store.outbox_by_key("gone").await.unwrap().unwrap();
    assert_eq!((gone.status.as_str(), gone.last_code), ("failed", Some(550)));
    let late = store.outbox_by_key("late").await.unwrap().unwrap();
    assert_eq!((late.status.as_str(), late.last_code), ("pending", Some(451)), "refused after the content");
    assert_eq!(sink.count(), 0);

    // A minute later: busy is refused once more (five minutes now), late goes.
    clock.advance(Duration::from_secs(61));
    drain(&mut worker, &cx).await;
    let busy = store.outbox_by_key("busy").await.unwrap().unwrap();
    assert_eq!((busy.status.as_str(), busy.due_at), ("pending", T0 + 61_000 + 5 * 60_000));
    assert_eq!(store.outbox_by_key("late").await.unwrap().unwrap().status, "sent");
    clock.advance(Duration::from_secs(5 * 60));
    drain(&mut worker, &cx).await;
    let busy = store.outbox_by_key("busy").await.unwrap().unwrap();
    assert_eq!((busy.status.as_str(), busy.attempts), ("sent", 3));
    let attempts = store.outbox_attempts(busy.id).await.unwrap();
    let outcomes: Vec<(&str, Option<i64>)> = attempts.iter().map(|a| (a.outcome.as_str(), a.code)).collect();
    assert_eq!(outcomes, [("retry", Some(450)), ("retry", Some(450)), ("sent", Some(250))]);
    assert!(sink.wait_for(2, Duration::from_secs(5)));
    let to: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.rcpt_to).collect();
    assert_eq!(to, [vec!["late@example.jp".to_owned()], vec!["busy@example.jp".to_owned()]]);
    // Nothing more is due; the failed one stays failed.
    clock.advance(Duration::from_secs(48 * 3_600));
    drain(&mut worker, &cx).await;
    assert_eq!(sink.count(), 2);
}

async fn two_workers_never_send_twice(store: Arc<dyn Store>) {
    let sink = SmtpSink::start_counting().expect("sink");
    let clock = Clock::system();
    let now = clock.now();
    for i in 0..300 {
        enqueue(store.as_ref(), &format!("race:{i}"), None, &mail(&format!("r{i}@example.jp")), now, now)
            .await
            .unwrap();
    }
    let mut one = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    one.holder = "one".into();
    let mut two = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    two.holder = "two".into();
    let (mut a, mut b) = (sender(&sink, 2, 25), sender(&sink, 2, 25));
    tokio::join!(drain(&mut a, &one), drain(&mut b, &two));
    assert!(sink.wait_for(300, Duration::from_secs(10)));
    let seen = ids(&sink);
    assert_eq!(seen.len(), 300);
    assert!(seen.values().all(|n| *n == 1), "no mail twice");
    assert_eq!(a.counts.sent + b.counts.sent, 300);
    assert_eq!(store.outbox_counts().await.unwrap().sent, 300);
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("open SQLite");
            $scenario(Arc::new(store)).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $postgres() {
            let url = hatake_testkit::PgCluster::shared().fresh_database();
            let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
            $scenario(Arc::new(store)).await;
        }
    };
}

both!(each_cause_sends_once, each_cause_sends_once_sqlite, each_cause_sends_once_postgres);
both!(mail_goes_over_tls, mail_goes_over_tls_sqlite, mail_goes_over_tls_postgres);
both!(
    refusals_are_tried_again_or_not,
    refusals_are_tried_again_or_not_sqlite,
    refusals_are_tried_again_or_not_postgres
);
both!(two_workers_never_send_twice, two_workers_never_send_twice_sqlite, two_workers_never_send_twice_postgres);

/// One step of an interleaving: record a mail for (lead, topic), unsubscribe (lead, topic), or
/// let the sender take a step.
#[derive(Debug, Clone)]
enum Op {
    Mail(usize, usize),
    Unsubscribe(usize, usize),
    Send,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0..3_usize, 0..2_usize).prop_map(|(l, t)| Op::Mail(l, t)),
        1 => (0..3_usize, 0..2_usize).prop_map(|(l, t)| Op::Unsubscribe(l, t)),
        2 => Just(Op::Send),
    ]
}

/// Runs an interleaving and checks that no mail went out after its lead unsubscribed from its
/// topic, and that every mail for a topic still subscribed went out.
async fn unsubscribes_are_honoured_at_once(store: Arc<dyn Store>, ops: Vec<Op>) {
    let sink = SmtpSink::start_counting().expect("sink");
    // Each run starts later than the last one's mail (a store may hold earlier runs').
    let start = store.list_outbox(None, None, 1).await.unwrap().first().map_or(T0, |r| r.due_at + 3_600_000);
    let clock = Clock::manual(start);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    let topics = ["general", "product:1"];
    let mut leads = Vec::new();
    for i in 0..3 {
        let lead = hatake_domain::LeadInput { family_name: Some(format!("見込{i}")), ..Default::default() };
        leads.push(store.create_lead(&lead.validate(&[]).unwrap(), false, T0).await.unwrap().id);
    }
    let mut worker = sender(&sink, 2, 3);
    let mut lease = LeaseState::default();
    let mut unsubscribed_at: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        clock.advance(Duration::from_millis(10));
        match *op {
            Op::Mail(l, t) => {
                let mut m = mail(&format!("p{l}@example.jp"));
                m.topic = Some(topics[t].into());
                let key = format!("op:{}:{n}", leads[0]);
                enqueue(store.as_ref(), &key, Some(leads[l]), &m, clock.now(), clock.now()).await.unwrap();
            }
            Op::Unsubscribe(l, t) => {
                let change = hatake_store::SubscriptionChange {
                    lead_id: leads[l],
                    topic: topics[t].into(),
                    status: "unsubscribed".into(),
                    source: "link".into(),
                    detail: None,
                    by_user: None,
                    at: clock.now(),
                };
                store.change_subscriptions(&[change]).await.unwrap();
                unsubscribed_at.entry((leads[l], topics[t])).or_insert(clock.now());
            }
            Op::Send => {
                runtime::step(&mut worker, &cx, &mut lease).await.unwrap();
            }
        }
    }
    clock.advance(Duration::from_millis(10));
    drain(&mut worker, &cx).await;
    let mut before = None;
    let mut rows = Vec::new();
    loop {
        let page = store.list_outbox(None, before, 200).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        // Only this run's mail (a store may hold earlier runs').
        rows.extend(page.into_iter().filter(|r| r.lead_id.is_some_and(|l| leads.contains(&l))));
    }
    let mut sent = 0;
    for row in &rows {
        let topic = row.topic.as_deref().unwrap();
        let stop = unsubscribed_at.get(&(row.lead_id.unwrap(), topic));
        match row.status.as_str() {
            "sent" => {
                sent += 1;
                let handed = row.handed_at.unwrap();
                assert!(stop.is_none_or(|at| handed < *at), "sent after the unsubscribe: {row:?} ({stop:?})");
            }
            "cancelled" => {}
            other => panic!("{other}: {row:?}"),
        }
        if row.status == "cancelled" {
            assert!(stop.is_some(), "cancelled without an unsubscribe: {row:?}");
        }
        if stop.is_none() {
            assert_eq!(row.status, "sent", "a subscribed topic's mail goes out");
        }
    }
    assert!(sink.wait_for(sent, Duration::from_secs(5)));
    assert_eq!(sink.count(), sent, "the server got exactly the mail recorded as sent");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    #[test]
    fn unsubscribes_are_honoured_at_once_sqlite(ops in proptest::collection::vec(op(), 1..40)) {
        // One runtime and one store for every case (each case has leads of its own).
        static SHARED: std::sync::OnceLock<(tokio::runtime::Runtime, Arc<dyn Store>, tempfile::TempDir)> =
            std::sync::OnceLock::new();
        let (runtime, store, _) = SHARED.get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let dir = tempfile::tempdir().expect("temporary directory");
            let store: Arc<dyn Store> =
                Arc::new(runtime.block_on(hatake_sqlite::SqliteStore::open(dir.path())).expect("open SQLite"));
            (runtime, store, dir)
        });
        runtime.block_on(unsubscribes_are_honoured_at_once(store.clone(), ops));
    }
}

/// The same on PostgreSQL, for a fixed interleaving that has every case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribes_are_honoured_at_once_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = hatake_postgres::PostgresStore::connect(&url).await.expect("connect PostgreSQL");
    let ops = vec![
        Op::Mail(0, 0),
        Op::Mail(0, 1),
        Op::Mail(1, 1),
        Op::Send,
        Op::Mail(0, 0),
        Op::Mail(1, 1),
        Op::Unsubscribe(1, 1),
        Op::Mail(1, 1),
        Op::Mail(1, 0),
        Op::Send,
        Op::Unsubscribe(0, 0),
        Op::Mail(0, 0),
        Op::Mail(2, 0),
        Op::Send,
    ];
    unsubscribes_are_honoured_at_once(Arc::new(store), ops).await;
}

/// An unsubscribe that comes in between the claim and the hand-over: the hand-over itself
/// refuses the row and cancels it (the check and the hand-over are one statement's work).
async fn the_hand_over_checks_the_subscription(store: Arc<dyn Store>) {
    let lead = hatake_domain::LeadInput { family_name: Some("山田".into()), ..Default::default() };
    let lead = store.create_lead(&lead.validate(&[]).unwrap(), false, T0).await.unwrap().id;
    let mut m = mail("yamada@example.jp");
    m.topic = Some("general".into());
    enqueue(store.as_ref(), "race", Some(lead), &m, T0, T0).await.unwrap();
    let claimed = store.claim_outbox("mail", "h", T0, T0 + 15_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(store.cancel_unsubscribed_outbox("h", &[claimed[0].id], T0).await.unwrap().is_empty(), "still subscribed");
    let change = hatake_store::SubscriptionChange {
        lead_id: lead,
        topic: "general".into(),
        status: "unsubscribed".into(),
        source: "link".into(),
        detail: None,
        by_user: None,
        at: T0 + 1,
    };
    store.change_subscriptions(&[change]).await.unwrap();
    let written = store.write_outbox("h", &[(claimed[0].id, "x@sample.co.jp".into())], &[], T0 + 2).await.unwrap();
    assert_eq!((written.handed.len(), written.cancelled.clone()), (0, vec![claimed[0].id]));
    let row = store.get_outbox(claimed[0].id).await.unwrap();
    assert_eq!((row.status.as_str(), row.last_error.as_deref()), ("cancelled", Some("unsubscribed")));
    assert_eq!(store.outbox_counts().await.unwrap().cancelled, 1);
}

both!(
    the_hand_over_checks_the_subscription,
    the_hand_over_checks_the_subscription_sqlite,
    the_hand_over_checks_the_subscription_postgres
);

/// The TXT records a test publishes to the DKIM verifier (no DNS is asked).
#[derive(Default)]
struct Records(std::sync::Mutex<std::collections::HashMap<String, mail_auth::Txt>>);

impl mail_auth::ResolverCache<String, mail_auth::Txt> for Records {
    fn get<Q>(&self, name: &Q) -> Option<mail_auth::Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<mail_auth::Txt>
    where
        String: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: String, value: mail_auth::Txt, _: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// Mail is signed with the organisation's DKIM key (RSA-2048 and Ed25519), the signature covers
/// the one-click unsubscribe headers, and an independent verifier (mail-auth) passes it with
/// the record the settings page publishes — and fails it when the link is altered.
async fn mail_is_dkim_signed(store: Arc<dyn Store>) {
    use hatake_engine::mail::dkim::{DkimAlgorithm, DkimSettings, SETTING_DKIM};
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::ResolverCache;
    let sink = SmtpSink::start().expect("sink");
    let cx = Context::new(store.clone(), Clock::manual(T0), jiff::tz::TimeZone::UTC);
    let mut worker = sender(&sink, 1, 10);
    for (i, algorithm) in [DkimAlgorithm::Rsa, DkimAlgorithm::Ed25519].into_iter().enumerate() {
        let settings = DkimSettings::generate("sample.co.jp", &format!("s{i}"), algorithm).unwrap();
        store.put_setting(SETTING_DKIM, &serde_json::to_string(&settings).unwrap(), T0).await.unwrap();
        enqueue(store.as_ref(), &format!("dkim:{i}"), None, &mail("yamada@example.jp"), T0, T0).await.unwrap();
        drain(&mut worker, &cx).await;
        assert!(sink.wait_for(1, Duration::from_secs(5)));
        let raw = sink.take().remove(0).data;
        let text = String::from_utf8_lossy(&raw).to_string();
        let signature = text.split("\r\n\r\n").next().unwrap().to_lowercase();
        assert!(
            signature.contains("list-unsubscribe:list-unsubscribe-post"),
            "the one-click headers are signed: {signature}"
        );

        let records = Records::default();
        let key = mail_auth::common::verify::DomainKey::parse(settings.record().unwrap().as_bytes())
            .expect("the published record parses");
        records.insert(
            format!("{}.", settings.record_name()),
            mail_auth::Txt::from(key),
            std::time::Instant::now() + Duration::from_secs(3_600),
        );
        let verifier = mail_auth::MessageAuthenticator::new_cloudflare().expect("verifier");
        let verify = |bytes: Vec<u8>| {
            let records = &records;
            let verifier = &verifier;
            async move {
                let message = mail_auth::AuthenticatedMessage::parse(&bytes).expect("a message");
                let results = verifier.verify_dkim(mail_auth::Parameters::new(&message).with_txt_cache(records)).await;
                results.iter().map(|r| r.result().clone()).collect::<Vec<_>>()
            }
        };
        let results = verify(raw.clone()).await;
        assert_eq!(results, [mail_auth::DkimResult::Pass], "{algorithm:?}: {results:?}");
        // A relay that changes the unsubscribe link breaks the signature.
        let altered = text.replace("https://hatake.example/u/x", "https://evil.example/u/x").into_bytes();
        let results = verify(altered).await;
        assert!(!matches!(results.as_slice(), [mail_auth::DkimResult::Pass]), "{results:?}");

        // The same in ISO-2022-JP: signed as sent, the subject and both parts in JIS, the
        // characters JIS X 0208 lacks written as their stand-ins.
        let jis = OutgoingMail {
            subject: "【ご案内】㈱サンプル①髙橋様 ERPセミナーと導入事例のお知らせ".into(),
            html: Some("<p>髙橋 様</p><p>①日時 ②会場</p>".into()),
            charset: Some("iso-2022-jp".into()),
            ..mail("takahashi@example.jp")
        };
        enqueue(store.as_ref(), &format!("dkim-jis:{i}"), None, &jis, T0, T0).await.unwrap();
        drain(&mut worker, &cx).await;
        assert!(sink.wait_for(1, Duration::from_secs(5)));
        let raw = sink.take().remove(0).data;
        assert_eq!(verify(raw.clone()).await, [mail_auth::DkimResult::Pass], "ISO-2022-JP, {algorithm:?}");
        let text = String::from_utf8(raw).expect("ISO-2022-JP is 7-bit");
        let subject: String = text
            .split("\r\n")
            .skip_while(|l| !l.starts_with("Subject:"))
            .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
            .flat_map(|l| l.trim_start_matches("Subject:").split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .map(|word| {
                use base64::Engine as _;
                let b64 = word.trim_start_matches("=?ISO-2022-JP?B?").trim_end_matches("?=");
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).expect("an encoded word");
                encoding_rs::ISO_2022_JP.decode(&bytes).0.into_owned()
            })
            .collect();
        assert_eq!(subject, "【ご案内】(株)サンプル(1)高橋様 ERPセミナーと導入事例のお知らせ");
        for (kind, expected) in [("plain", "山田 太郎 様"), ("html", "<p>高橋 様</p><p>(1)日時 (2)会場</p>")]
        {
            let start = text.find(&format!("Content-Type: text/{kind}; charset=iso-2022-jp")).expect(kind);
            let body = text[start..].split("\r\n\r\n").nth(1).unwrap().split("\r\n--").next().unwrap();
            let decoded = encoding_rs::ISO_2022_JP.decode(body.as_bytes()).0;
            assert!(decoded.contains(expected), "{kind}: {decoded}");
        }
    }
}

both!(mail_is_dkim_signed, mail_is_dkim_signed_sqlite, mail_is_dkim_signed_postgres);

/// The send window and a domain's limit on the clock: at 20:00 nothing goes until the next
/// business day's 09:00; then a domain limited to 2 a minute gets 2 a minute (the rest wait,
/// without an attempt counted) while other domains go at once.
async fn windows_and_domain_limits(store: Arc<dyn Store>) {
    use hatake_engine::mail::limits::{DomainLimit, SendLimits, SendWindow, SETTING_LIMITS};
    let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let at = |text: &str| {
        text.parse::<jiff::civil::DateTime>().unwrap().to_zoned(tokyo.clone()).unwrap().timestamp().as_millisecond()
    };
    let limits = SendLimits {
        domains: vec![DomainLimit { domain: "example.jp".into(), per_minute: 2 }],
        window: Some(SendWindow { start_minute: 9 * 60, end_minute: 18 * 60, business_days: true }),
    };
    store.put_setting(SETTING_LIMITS, &serde_json::to_string(&limits).unwrap(), 0).await.unwrap();
    let sink = SmtpSink::start().expect("sink");
    let clock = Clock::manual(at("2026-12-07T20:00"));
    let cx = Context::new(store.clone(), clock.clone(), tokyo.clone());
    for i in 0..5 {
        enqueue(
            store.as_ref(),
            &format!("limited:{i}"),
            None,
            &mail(&format!("p{i}@example.jp")),
            clock.now(),
            clock.now(),
        )
        .await
        .unwrap();
    }
    enqueue(store.as_ref(), "free", None, &mail("someone@other.jp"), clock.now(), clock.now()).await.unwrap();
    let mut worker = sender(&sink, 2, 10);
    let mut lease = LeaseState::default();
    let next = runtime::step(&mut worker, &cx, &mut lease).await.unwrap();
    assert_eq!(next, Some(Next::Until(at("2026-12-08T09:00"))), "closed until Tuesday 09:00");
    assert_eq!(sink.count(), 0);

    clock.set(at("2026-12-08T09:00") + 5_000);
    drain(&mut worker, &cx).await;
    assert!(sink.wait_for(3, Duration::from_secs(5)));
    let to: Vec<String> = sink.messages().into_iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!(to.iter().filter(|t| t.ends_with("@example.jp")).count(), 2, "two a minute: {to:?}");
    assert!(to.contains(&"someone@other.jp".to_owned()), "other domains go at once");
    assert_eq!(worker.counts.deferred, 3);
    let waiting = store.list_outbox(Some("pending"), None, 10).await.unwrap();
    assert_eq!(waiting.len(), 3);
    assert!(waiting.iter().all(|r| r.due_at == at("2026-12-08T09:01") && r.attempts == 0), "{waiting:?}");

    clock.set(at("2026-12-08T09:01"));
    drain(&mut worker, &cx).await;
    clock.set(at("2026-12-08T09:02"));
    drain(&mut worker, &cx).await;
    assert!(sink.wait_for(6, Duration::from_secs(5)), "every mail by 09:02 ({})", sink.count());
    assert_eq!(store.outbox_counts().await.unwrap().sent, 6);

    // Two processes sending from one database keep to one limit between them: another process
    // sent one to the domain this minute, so this one sends one more and puts the rest back.
    clock.set(at("2026-12-08T09:03"));
    for i in 0..4 {
        let key = format!("shared:{i}");
        enqueue(store.as_ref(), &key, None, &mail(&format!("q{i}@example.jp")), clock.now(), clock.now())
            .await
            .unwrap();
    }
    assert_eq!(store.take_domain_quota("example.jp", at("2026-12-08T09:03"), 2, 1).await.unwrap(), 1);
    let other = Context::new(store.clone(), clock.clone(), tokyo.clone());
    assert_ne!(other.holder, cx.holder);
    let mut first = sender(&sink, 1, 1);
    let mut second = sender(&sink, 2, 10);
    drain(&mut first, &other).await;
    drain(&mut second, &cx).await;
    assert!(sink.wait_for(7, Duration::from_secs(5)));
    assert_eq!(first.counts.sent + second.counts.sent, 1, "two a minute for both processes together");
    assert_eq!(first.counts.deferred + second.counts.deferred, 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.count(), 7, "nothing more this minute");
    clock.set(at("2026-12-08T09:04"));
    drain(&mut first, &cx).await;
    drain(&mut second, &other).await;
    assert!(sink.wait_for(9, Duration::from_secs(5)), "two more in the next minute ({})", sink.count());
    clock.set(at("2026-12-08T09:05"));
    drain(&mut first, &cx).await;
    drain(&mut second, &other).await;
    assert!(sink.wait_for(10, Duration::from_secs(5)), "the last one the minute after ({})", sink.count());
    assert_eq!(store.outbox_counts().await.unwrap().sent, 10);
}

both!(windows_and_domain_limits, windows_and_domain_limits_sqlite, windows_and_domain_limits_postgres);
