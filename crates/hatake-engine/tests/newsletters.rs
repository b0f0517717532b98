//! Newsletters on both backends, to a real SMTP server: only the segment's members subscribed to
//! the topic, with an address, not suppressed and under the frequency cap get it, each once; an
//! A/B test sends the sample, waits on the clock, and sends the winner to the rest; a throttled
//! send spreads its mail over the hours; the figures count what happened.

use hatake_domain::segment::Definition;
use hatake_engine::mail::newsletter::{variant, FrequencyCap, NewsletterWorker, SETTING_FREQUENCY_CAP};
use hatake_engine::mail::sender::{MailSender, SenderSettings};
use hatake_engine::mail::transport::{SmtpSettings, SmtpTransport, TlsMode};
use hatake_engine::runtime::{self, Clock, Context, LeaseState, Next, Worker};
use hatake_engine::segments::SegmentWorker;
use hatake_store::{NewsletterDraft, Store, SubscriptionChange, TemplateContent, TemplateDraft};
use hatake_testkit::smtp::SmtpSink;
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_790_000_000_000;
const HOUR: i64 = 3_600_000;

async fn until_idle<W: Worker>(worker: &mut W, cx: &Context) {
    let mut lease = LeaseState::default();
    for _ in 0..500 {
        match runtime::step(worker, cx, &mut lease).await.expect("step") {
            Some(Next::Again) => {}
            _ => return,
        }
    }
    panic!("{} never finished", worker.name());
}

fn sender(sink: &SmtpSink) -> MailSender {
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
    MailSender::new(Arc::new(transport), SenderSettings { connections: 2, batch: 50, ..SenderSettings::default() })
}

struct Setup {
    leads: Vec<i64>,
    template: i64,
    segment: i64,
    topic: String,
}

async fn setup(store: &dyn Store) -> Setup {
    let identity = hatake_engine::mail::config::SenderIdentity {
        name: "畑ソフト株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@hatake.example.jp".into(),
        from_address: "news@hatake.example.jp".into(),
        public_url: "https://hatake.example.jp".into(),
    };
    store.put_setting("mail.sender", &serde_json::to_string(&identity).unwrap(), T0).await.unwrap();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let product = store.create_product(&product.validate().unwrap(), T0).await.unwrap().id;
    let topic = hatake_store::product_topic(product);
    let mut leads = Vec::new();
    for i in 0..10 {
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("見込{i}")),
            email: Some(format!("p{i}@example{}.jp", i % 3)),
            ..Default::default()
        };
        leads.push(store.create_lead(&input.validate(&[]).unwrap(), true, T0).await.unwrap().id);
    }
    // 0–6 subscribed; 7 unsubscribed; 8 never asked; 9 subscribed but suppressed.
    let mut changes = Vec::new();
    for (i, lead) in leads.iter().enumerate() {
        let status = match i {
            7 => "unsubscribed",
            8 => continue,
            _ => "subscribed",
        };
        changes.push(SubscriptionChange {
            lead_id: *lead,
            topic: topic.clone(),
            status: status.into(),
            source: "form".into(),
            detail: None,
            by_user: None,
            at: T0,
        });
    }
    store.change_subscriptions(&changes).await.unwrap();
    assert!(store.suppress("P9@example0.jp", "hard_bounce", Some("550 5.1.1"), 3, T0).await.unwrap());
    let template = TemplateDraft {
        name: "ERPのご案内".into(),
        kind: "marketing".into(),
        product_id: Some(product),
        charset: "utf-8".into(),
        content: TemplateContent {
            subject: "{{ lead.family_name }}様 {{ product.name }}のご案内".into(),
            html: "<p>{{ lead.full_name }} 様</p><p><a href=\"https://erp.example.jp/\">詳しく</a></p>\
                   <p>{{ sender.name }} {{ sender.address }} {{ sender.contact }} <a href=\"{{ unsubscribe_url }}\">停止</a></p>"
                .into(),
            text: String::new(),
        },
    };
    let template = store.create_mail_template(&template, None, T0).await.unwrap();
    let everyone = Definition::parse(r#"{"groups":[{"conditions":[{"type":"kind","lead":true}]}]}"#).unwrap();
    let segment = store.create_segment("全リード", "", &everyone, None, T0).await.unwrap();
    Setup { leads, template, segment, topic }
}

fn draft(setup: &Setup, name: &str) -> NewsletterDraft {
    NewsletterDraft {
        name: name.into(),
        template_id: setup.template,
        segment_id: Some(setup.segment),
        topic: setup.topic.clone(),
        variant_template_id: None,
        variant_subject: None,
        sample_percent: 0,
        ab_metric: "opens".into(),
        ab_wait_hours: 4,
        per_hour: None,
    }
}

async fn newsletters_reach_whom_they_may(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let setup = setup(s).await;
    let sink = SmtpSink::start().expect("sink");
    let clock = Clock::manual(T0 + HOUR);
    let cx = Context::new(store.clone(), clock.clone(), jiff::tz::TimeZone::UTC);
    until_idle(&mut SegmentWorker::default(), &cx).await;

    // The first send: everyone allowed, once; the frequency cap then holds the next one.
    let first = s.create_newsletter(&draft(&setup, "12月号"), None, T0).await.unwrap();
    let row = s.newsletter(first).await.unwrap().unwrap();
    assert_eq!(s.count_audience(&row, None).await.unwrap(), 7, "0–6: subscribed, with an address, not suppressed");
    assert!(s.schedule_newsletter(first, clock.now(), "https://hatake.example.jp", clock.now()).await.unwrap());
    let mut newsletters = NewsletterWorker;
    until_idle(&mut newsletters, &cx).await;
    let row = s.newsletter(first).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.recipients, row.queued), ("sent", 7, 7));
    let mut mail = sender(&sink);
    until_idle(&mut mail, &cx).await;
    assert!(sink.wait_for(7, Duration::from_secs(10)));
    let mut to: Vec<String> = sink.messages().iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, (0..7).map(|i| format!("p{i}@example{}.jp", i % 3)).collect::<Vec<_>>());
    let message = &sink.messages()[0];
    assert!(message.header("List-Unsubscribe").is_some_and(|h| h.starts_with("<https://hatake.example.jp/u/")));
    // Running again records nothing twice.
    until_idle(&mut newsletters, &cx).await;
    until_idle(&mut mail, &cx).await;
    assert_eq!(sink.count(), 7);
    let stats = s.newsletter_stats(first).await.unwrap();
    assert_eq!((stats.len(), stats[0].recipients, stats[0].queued, stats[0].sent), (1, 7, 7, 7));
    s.newsletter_opened(first, setup.leads[0], clock.now()).await.unwrap();
    s.newsletter_clicked(first, setup.leads[1], "https://erp.example.jp/", clock.now()).await.unwrap();
    s.newsletter_clicked(first, setup.leads[1], "https://erp.example.jp/", clock.now()).await.unwrap();
    let stats = s.newsletter_stats(first).await.unwrap();
    assert_eq!((stats[0].opened, stats[0].clicked), (2, 1), "a click is an open too; each counted once");
    assert_eq!(s.newsletter_links(first).await.unwrap(), vec![("https://erp.example.jp/".to_owned(), 1)]);

    // At most one marketing mail a week: a second send the next day reaches no one.
    let cap = FrequencyCap { max: 1, days: 7 };
    s.put_setting(SETTING_FREQUENCY_CAP, &serde_json::to_string(&cap).unwrap(), T0).await.unwrap();
    clock.advance(Duration::from_secs(24 * 3_600));
    let second = s.create_newsletter(&draft(&setup, "臨時号"), None, clock.now()).await.unwrap();
    s.schedule_newsletter(second, clock.now(), "https://hatake.example.jp", clock.now()).await.unwrap();
    until_idle(&mut newsletters, &cx).await;
    let row = s.newsletter(second).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.recipients), ("sent", 0), "capped");

    // A week later, an A/B test of the subject on the whole list (100% sample, halves), a
    // throttled send: B gets more opens and wins.
    s.put_setting(SETTING_FREQUENCY_CAP, "", T0).await.unwrap();
    clock.advance(Duration::from_secs(7 * 24 * 3_600));
    let mut ab = draft(&setup, "A/Bテスト号");
    ab.variant_subject = Some("【事例】{{ lead.family_name }}様へ".into());
    ab.sample_percent = 40;
    ab.ab_wait_hours = 4;
    let third = s.create_newsletter(&ab, None, clock.now()).await.unwrap();
    s.schedule_newsletter(third, clock.now(), "https://hatake.example.jp", clock.now()).await.unwrap();
    until_idle(&mut newsletters, &cx).await;
    let row = s.newsletter(third).await.unwrap().unwrap();
    assert_eq!(row.status, "testing", "the sample is out, the rest waits");
    let stats = s.newsletter_stats(third).await.unwrap();
    let sample: i64 = stats.iter().filter(|v| v.variant != "rest").map(|v| v.queued).sum();
    let rest = stats.iter().find(|v| v.variant == "rest").map_or(0, |v| v.recipients);
    assert_eq!(sample + rest, 7);
    assert_eq!(stats.iter().find(|v| v.variant == "rest").map_or(0, |v| v.queued), 0);
    for lead in &setup.leads {
        let key = format!("newsletter:{third}:lead:{lead}");
        if let Some(outbox) = s.outbox_by_key(&key).await.unwrap() {
            let mail: hatake_engine::mail::OutgoingMail = serde_json::from_str(&outbox.payload).unwrap();
            if mail.subject.starts_with("【事例】") {
                s.newsletter_opened(third, *lead, clock.now()).await.unwrap();
            }
        }
    }
    // Before the wait is over nothing more goes; after it, the winner goes to the rest.
    clock.advance(Duration::from_secs(3 * 3_600));
    until_idle(&mut newsletters, &cx).await;
    assert_eq!(s.newsletter(third).await.unwrap().unwrap().status, "testing");
    clock.advance(Duration::from_secs(3_600));
    until_idle(&mut newsletters, &cx).await;
    let row = s.newsletter(third).await.unwrap().unwrap();
    let b_had_mail = stats.iter().any(|v| v.variant == "b" && v.queued > 0);
    assert_eq!(row.status, "sent");
    if b_had_mail {
        assert_eq!(row.winner.as_deref(), Some("b"));
    }
    for lead in &setup.leads[..7] {
        let outbox =
            s.outbox_by_key(&format!("newsletter:{third}:lead:{lead}")).await.unwrap().expect("every one recorded");
        let mail: hatake_engine::mail::OutgoingMail = serde_json::from_str(&outbox.payload).unwrap();
        let got_b = match variant(third, *lead, 40) {
            "b" => true,
            "rest" => row.winner.as_deref() == Some("b"),
            _ => false,
        };
        assert_eq!(mail.subject.starts_with("【事例】"), got_b, "lead {lead}: {}", mail.subject);
    }

    // A throttled send: 2 an hour spreads 7 mails over 3.5 hours.
    clock.advance(Duration::from_secs(8 * 24 * 3_600));
    let mut slow = draft(&setup, "ゆっくり号");
    slow.per_hour = Some(2);
    let fourth = s.create_newsletter(&slow, None, clock.now()).await.unwrap();
    s.schedule_newsletter(fourth, clock.now(), "https://hatake.example.jp", clock.now()).await.unwrap();
    until_idle(&mut newsletters, &cx).await;
    let mut due: Vec<i64> = Vec::new();
    for lead in &setup.leads[..7] {
        let outbox = s.outbox_by_key(&format!("newsletter:{fourth}:lead:{lead}")).await.unwrap().unwrap();
        due.push(outbox.due_at - clock.now());
    }
    due.sort_unstable();
    assert_eq!(due, (0..7).map(|i| i * HOUR / 2).collect::<Vec<_>>());

    // The sender sends what is due (the test's 7, and the slow one's first); cancelled then,
    // what waits in the outbox is cancelled.
    until_idle(&mut mail, &cx).await;
    assert!(sink.wait_for(15, Duration::from_secs(10)));
    let cancelled = s.cancel_newsletter(fourth, clock.now()).await.unwrap();
    assert_eq!(cancelled, Some(6), "all but the first, due now");
    assert_eq!(s.cancel_newsletter(first, clock.now()).await.unwrap(), None, "a finished send stays");

    // What comes back from the first send: a DSN naming our Message-ID (hard), an ARF
    // complaint, and three soft bounces (suppressed on the third).
    let key = |lead: i64| format!("newsletter:{first}:lead:{lead}");
    let hard = s.outbox_by_key(&key(setup.leads[0])).await.unwrap().unwrap();
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.jp\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.jp\r\n\r\n\
         Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{}>\r\n\r\n--B--\r\n",
        hard.recipient,
        hard.message_id.clone().expect("sent with an id")
    );
    let found = hatake_engine::mail::feedback::parse_message(dsn.as_bytes()).unwrap();
    let applied = hatake_engine::mail::feedback::apply(s, &found, clock.now()).await.unwrap();
    assert_eq!(
        (applied.hard_bounces, applied.matched, applied.suppressed.clone()),
        (1, 1, vec![hard.recipient.clone()])
    );
    let complaint = s.outbox_by_key(&key(setup.leads[1])).await.unwrap().unwrap();
    let arf = format!(
        "From: fbl@isp.example.jp\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\r\n\r\n--F\r\n\
         Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nOriginal-Rcpt-To: {}\r\n\r\n--F\r\n\
         Content-Type: message/rfc822\r\n\r\nMessage-ID: <{}>\r\nSubject: x\r\n\r\nbody\r\n--F--\r\n",
        complaint.recipient,
        complaint.message_id.clone().unwrap()
    );
    let found = hatake_engine::mail::feedback::parse_message(arf.as_bytes()).unwrap();
    let applied = hatake_engine::mail::feedback::apply(s, &found, clock.now()).await.unwrap();
    assert_eq!((applied.complaints, applied.unsubscribed.clone()), (1, vec![setup.leads[1]]));
    let subscriptions = s.lead_subscriptions(setup.leads[1]).await.unwrap();
    assert!(
        !subscriptions.is_empty()
            && subscriptions.iter().all(|r| r.status == "unsubscribed" && r.source == "complaint")
    );
    let soft = s.outbox_by_key(&key(setup.leads[2])).await.unwrap().unwrap();
    let bounce = hatake_engine::mail::feedback::Feedback {
        kind: hatake_engine::mail::feedback::Kind::SoftBounce,
        email: soft.recipient.clone(),
        message_id: soft.message_id.clone(),
        detail: Some("452 4.2.2 mailbox full".into()),
    };
    for n in 1..=3 {
        let applied =
            hatake_engine::mail::feedback::apply(s, std::slice::from_ref(&bounce), clock.now()).await.unwrap();
        assert_eq!(applied.suppressed.is_empty(), n < 3, "suppressed on the third soft bounce, not before ({n})");
    }
    let stats = s.newsletter_stats(first).await.unwrap();
    assert_eq!((stats[0].hard_bounces, stats[0].soft_bounces, stats[0].complained), (1, 1, 1));
    // None of the three gets the next send.
    clock.advance(Duration::from_secs(8 * 24 * 3_600));
    let fifth = s.create_newsletter(&draft(&setup, "その後の号"), None, clock.now()).await.unwrap();
    let row = s.newsletter(fifth).await.unwrap().unwrap();
    assert_eq!(
        s.count_audience(&row, None).await.unwrap(),
        4,
        "7 less the bounced, the complainer and the soft-bounced"
    );
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

both!(
    newsletters_reach_whom_they_may,
    newsletters_reach_whom_they_may_sqlite,
    newsletters_reach_whom_they_may_postgres
);
