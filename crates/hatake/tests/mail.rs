//! Mail survives `kill -9`: `hatake serve` sending 3,000 mails from its outbox to a real SMTP
//! server is killed half-way and started again; every mail reaches the server, none twice
//! (counted by Message-ID at the server), on both backends; a newsletter killed while it is
//! prepared and again while it is sent reaches each subscriber once; three servers on one
//! PostgreSQL, one killed, do the same. Also the mail and subscription pages, links and API.

mod support;

use hatake_engine::mail::{enqueue, OutgoingMail};
use hatake_store::Store;
use hatake_testkit::smtp::{SinkTls, SmtpSink};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAILS: usize = 3_000;

fn serve(store_args: &[&str], sink: &SmtpSink) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hatake"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .args(store_args)
        .env("HATAKE_SMTP_URL", format!("smtp://127.0.0.1:{}?tls=none", sink.port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hatake serve")
}

async fn mail_survives_a_kill(store_args: &[&str], store: Arc<dyn Store>) {
    let now = hatake_web::now_millis();
    for i in 0..MAILS {
        let mail = OutgoingMail {
            from_name: Some("サンプル株式会社".into()),
            from_address: "news@sample.co.jp".into(),
            to_address: format!("lead{i}@example.jp"),
            subject: format!("メールマガジン 第{i}号"),
            text: "いつもお世話になっております。".into(),
            ..Default::default()
        };
        assert!(enqueue(store.as_ref(), &format!("kill:{i}"), None, &mail, now, now).await.unwrap());
    }
    let sink = SmtpSink::start_counting().expect("sink");
    // Slow enough that the kill lands in the middle of the sending.
    sink.set_delay(Duration::from_millis(2));
    let mut first = serve(store_args, &sink);
    let started = Instant::now();
    while sink.count() < MAILS / 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "the first server sends ({} so far)", sink.count());
        assert!(first.try_wait().unwrap().is_none(), "the first server runs");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().expect("kill -9"); // SIGKILL: nothing finishes, claims are left behind
    first.wait().expect("reaped");
    let at_kill = sink.count();
    assert!(at_kill < MAILS, "killed half-way ({at_kill} sent)");
    sink.set_delay(Duration::ZERO);

    let mut second = serve(store_args, &sink);
    let started = Instant::now();
    loop {
        let counts = store.outbox_counts().await.unwrap();
        if counts.pending + counts.claimed == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the second server takes over: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().expect("stop");
    second.wait().expect("reaped");

    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        *seen.entry(message.message_id.expect("Message-ID")).or_default() += 1;
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "no mail twice");
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.sent + counts.handed, i64::try_from(MAILS).unwrap(), "{counts:?}");
    // A mail whose content was on its way when the process died stays "handed" (never sent
    // again); it reached the server unless the kill fell between the hand-over's commit and the
    // content's write — one per connection at most.
    let mut missing = 0;
    let mut before = None;
    loop {
        let rows = store.list_outbox(Some("handed"), before, 500).await.unwrap();
        let Some(last) = rows.last() else { break };
        before = Some(last.id);
        missing += rows
            .iter()
            .filter(|r| !seen.contains_key(&format!("<{}>", r.message_id.as_deref().unwrap_or_default())))
            .count();
    }
    let lanes = hatake_engine::mail::sender::SenderSettings::default().connections;
    assert!(missing <= lanes, "{missing} handed over and lost");
    assert!(seen.len() + missing == MAILS, "every mail reached the server: {} of {MAILS}", seen.len());
    assert!(seen.len() > at_kill, "the second server sent the rest");
    eprintln!("kill -9 after {at_kill} mails: {} delivered, {duplicates} twice, {missing} lost", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_survives_a_kill_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("store");
    let data = dir.path().to_str().unwrap().to_owned();
    mail_survives_a_kill(&["--data-dir", &data], Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_survives_a_kill_on_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = hatake_postgres::PostgresStore::connect(&url).await.expect("store");
    mail_survives_a_kill(&["--database-url", &url], Arc::new(store)).await;
}

/// A newsletter to 1,500 subscribers survives `kill -9` while it is being prepared or sent:
/// `hatake serve` is killed when its first mail arrives and again half-way, then started a
/// third time; every recipient gets the newsletter once (counted by Message-ID at the server).
async fn a_newsletter_survives_kills(store_args: &[&str], store: Arc<dyn Store>) {
    use hatake_domain::segment::Definition;
    const SUBSCRIBERS: usize = 1_500;
    let now = hatake_web::now_millis();
    let identity = hatake_engine::mail::config::SenderIdentity {
        name: "畑ソフト株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@hatake.example.jp".into(),
        from_address: "news@hatake.example.jp".into(),
        public_url: "https://hatake.example.jp".into(),
    };
    store.put_setting("mail.sender", &serde_json::to_string(&identity).unwrap(), now).await.unwrap();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    let product = store.create_product(&product.validate().unwrap(), now).await.unwrap().id;
    let topic = hatake_store::product_topic(product);
    let mut changes = Vec::new();
    for i in 0..SUBSCRIBERS {
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("見込{i}")),
            email: Some(format!("reader{i}@example.jp")),
            ..Default::default()
        };
        let lead = store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id;
        changes.push(hatake_store::SubscriptionChange {
            lead_id: lead,
            topic: topic.clone(),
            status: "subscribed".into(),
            source: "form".into(),
            detail: None,
            by_user: None,
            at: now,
        });
    }
    store.change_subscriptions(&changes).await.unwrap();
    let template = hatake_store::TemplateDraft {
        name: "ERPのご案内".into(),
        kind: "marketing".into(),
        product_id: Some(product),
        charset: "utf-8".into(),
        content: hatake_store::TemplateContent {
            subject: "{{ lead.family_name }}様 {{ product.name }}のご案内".into(),
            html: "<p>{{ lead.full_name }} 様</p><p>{{ sender.name }} {{ sender.address }} {{ sender.contact }} \
                   <a href=\"{{ unsubscribe_url }}\">停止</a></p>"
                .into(),
            text: String::new(),
        },
    };
    let template = store.create_mail_template(&template, None, now).await.unwrap();
    let everyone = Definition::parse(r#"{"groups":[{"conditions":[{"type":"kind","lead":true}]}]}"#).unwrap();
    let segment = store.create_segment("全リード", "", &everyone, None, now).await.unwrap();
    // Members known before the send (as a server running for a while has them).
    let cx = hatake_engine::runtime::Context::new(
        store.clone(),
        hatake_engine::runtime::Clock::system(),
        jiff::tz::TimeZone::UTC,
    );
    let mut segments = hatake_engine::segments::SegmentWorker::default();
    let mut lease = hatake_engine::runtime::LeaseState::default();
    for _ in 0..100 {
        match hatake_engine::runtime::step(&mut segments, &cx, &mut lease).await.expect("segment step") {
            Some(hatake_engine::runtime::Next::Again) => {}
            _ => break,
        }
    }
    let draft = hatake_store::NewsletterDraft {
        name: "12月号".into(),
        template_id: template,
        segment_id: Some(segment),
        topic: topic.clone(),
        variant_template_id: None,
        variant_subject: None,
        sample_percent: 0,
        ab_metric: "opens".into(),
        ab_wait_hours: 4,
        per_hour: None,
    };
    let newsletter = store.create_newsletter(&draft, None, now).await.unwrap();
    let row = store.newsletter(newsletter).await.unwrap().unwrap();
    assert_eq!(store.count_audience(&row, None).await.unwrap(), i64::try_from(SUBSCRIBERS).unwrap());
    assert!(store.schedule_newsletter(newsletter, now, "https://hatake.example.jp", now).await.unwrap());

    let sink = SmtpSink::start_counting().expect("sink");
    sink.set_delay(Duration::from_millis(1));
    let mut kills = Vec::new();
    for at in [1, SUBSCRIBERS / 2] {
        let mut server = serve(store_args, &sink);
        let started = Instant::now();
        while sink.count() < at {
            assert!(started.elapsed() < Duration::from_secs(90), "the server sends ({} so far)", sink.count());
            assert!(server.try_wait().unwrap().is_none(), "the server runs");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.kill().expect("kill -9");
        server.wait().expect("reaped");
        let row = store.newsletter(newsletter).await.unwrap().unwrap();
        kills.push((sink.count(), row.status.clone(), row.queued));
    }
    assert!(kills[1].0 < SUBSCRIBERS, "the second kill fell in the middle of the send: {kills:?}");
    sink.set_delay(Duration::ZERO);
    let mut last = serve(store_args, &sink);
    let started = Instant::now();
    loop {
        let row = store.newsletter(newsletter).await.unwrap().unwrap();
        let counts = store.outbox_counts().await.unwrap();
        if row.status == "sent" && row.queued == row.recipients && counts.pending + counts.claimed == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the last server finishes: {row:?} {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last.kill().expect("stop");
    last.wait().expect("reaped");

    let row = store.newsletter(newsletter).await.unwrap().unwrap();
    assert_eq!(row.recipients, i64::try_from(SUBSCRIBERS).unwrap(), "everyone chosen once");
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        *seen.entry(message.message_id.expect("Message-ID")).or_default() += 1;
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert_eq!(duplicates, 0, "no one gets it twice ({kills:?})");
    // At most one mail per connection and kill can be lost: its hand-over was recorded and the
    // process died before the three bytes that end it.
    let lanes = hatake_engine::mail::sender::SenderSettings::default().connections;
    assert!(seen.len() + 2 * lanes >= SUBSCRIBERS, "{} of {SUBSCRIBERS} arrived ({kills:?})", seen.len());
    eprintln!("newsletter killed at {kills:?}: {} of {SUBSCRIBERS} arrived, none twice", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newsletter_survives_kills_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = hatake_sqlite::SqliteStore::open(dir.path()).await.expect("store");
    let data = dir.path().to_str().unwrap().to_owned();
    a_newsletter_survives_kills(&["--data-dir", &data], Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newsletter_survives_kills_on_postgres() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store = hatake_postgres::PostgresStore::connect(&url).await.expect("store");
    a_newsletter_survives_kills(&["--database-url", &url], Arc::new(store)).await;
}

/// The mail pages over HTTP: an admin sets where mail goes (a wrong setting is named field by
/// field and nothing is stored; the password is kept when left blank), sends a test mail that
/// reaches a real SMTP server through the runtime's sender, and reads its attempts; the outbox
/// pages 50 at a time by status; marketers read it, only admins change where mail goes.
async fn mail_pages(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let sink = SmtpSink::builder().tls(SinkTls::StartTls).start().expect("sink");
    let (admin, csrf) = app.sign_in("admin@example.jp").await;
    let page = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"mail-off\""), "no server yet: mail waits: {page}");

    let wrong = [("_csrf", csrf.as_str()), ("transport", "smtp"), ("host", ""), ("port", "abc"), ("tls", "none")];
    let response = admin.post(app.url("/settings/mail")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("SMTPサーバーのホスト名を入力してください。"), "{html}");
    assert!(html.contains("ポート番号は1〜65535の数字で入力してください（入力: abc）。"));
    assert!(html.contains("id=\"password-again\""), "the page says why the password field is empty");
    assert!(app.store.get_setting("mail.transport").await.unwrap().is_none(), "nothing stored");

    let port = sink.port().to_string();
    let right = [
        ("_csrf", csrf.as_str()),
        ("transport", "smtp"),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("tls", "none"),
        ("username", "mailer"),
        ("password", "secret-1"),
    ];
    let response = admin.post(app.url("/settings/mail")).form(&right).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/settings/mail?saved=1");
    let page = admin.get(app.url("/settings/mail?saved=1")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("メール送信の設定を保存しました。"));
    assert!(page.contains(&format!("SMTPサーバー 127.0.0.1:{port}（暗号化なし、ユーザー mailer）")), "{page}");
    assert!(!page.contains("secret-1"), "the password is never shown");
    // Saved again without a password: the stored one is kept.
    let again: Vec<(&str, &str)> = right.iter().copied().filter(|(k, _)| *k != "password").collect();
    assert_eq!(admin.post(app.url("/settings/mail")).form(&again).send().await.unwrap().status(), 303);
    assert!(app.store.get_setting("mail.transport").await.unwrap().unwrap().contains("secret-1"));
    // This sink takes no login, and offers STARTTLS with a certificate from an authority of
    // its own (a company CA): the setting without a user, with that authority. A paste that is
    // not a certificate is named and nothing changes.
    let authority = sink.authority_pem().expect("a sink with TLS");
    let mut protected = vec![
        ("_csrf", csrf.as_str()),
        ("transport", "smtp"),
        ("host", "127.0.0.1"),
        ("port", port.as_str()),
        ("tls", "starttls"),
        ("tls_roots", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----"),
    ];
    let response = admin.post(app.url("/settings/mail")).form(&protected).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("証明書を読み取れません。PEM形式"), "{html}");
    assert!(app.store.get_setting("mail.transport").await.unwrap().unwrap().contains("secret-1"), "unchanged");
    protected[5].1 = &authority;
    assert_eq!(admin.post(app.url("/settings/mail")).form(&protected).send().await.unwrap().status(), 303);
    let page = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("社内認証局の証明書（任意）") && page.contains("-----BEGIN CERTIFICATE-----\nMII"), "kept");

    // A test mail: a wrong address is named; a right one goes out and the page shows how.
    let response = admin
        .post(app.url("/settings/mail/test"))
        .form(&[("_csrf", csrf.as_str()), ("to", "no-at-sign")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("メールアドレスの形式が正しくありません"));
    let response = admin
        .post(app.url("/settings/mail/test"))
        .form(&[("_csrf", csrf.as_str()), ("to", "tester@example.jp")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let row_url = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(row_url.starts_with("/mail/outbox/") && row_url.ends_with("?test=1"), "{row_url}");
    assert!(sink.wait_for(1, Duration::from_secs(10)), "the test mail reached the server");
    assert_eq!(sink.messages()[0].rcpt_to, ["tester@example.jp"]);
    assert!(sink.messages()[0].tls, "over STARTTLS, the company's authority trusted");
    let started = Instant::now();
    let page = loop {
        let page = admin.get(app.url(&row_url)).send().await.unwrap().text().await.unwrap();
        if page.contains("id=\"outbox-status\">送信済み<") || started.elapsed() > Duration::from_secs(10) {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!page.contains("再読み込みしてください"), "once sent, no more asking to reload");
    assert!(page.contains("id=\"outbox-status\">送信済み<"), "{page}");
    assert!(page.contains("送信成功") && page.contains("250"), "the attempt with the server's answer");

    // The sender (特定電子メール法): every field needed, each named; then saved.
    let settings = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    assert!(settings.contains("id=\"sender-missing\""), "the page says it is missing");
    let response = admin
        .post(app.url("/settings/mail/sender"))
        .form(&[("_csrf", csrf.as_str()), ("name", "サンプル株式会社"), ("address", ""), ("contact", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("送信者の住所を入力してください。")
            && html.contains("問い合わせ先（メールアドレス・電話番号・URL）を入力してください。")
    );
    assert!(!html.contains("送信者の氏名または名称を入力してください。"));
    let sender = [
        ("_csrf", csrf.as_str()),
        ("name", "サンプル株式会社"),
        ("address", "東京都千代田区丸の内1-1-1"),
        ("contact", "info@sample.co.jp"),
    ];
    assert_eq!(admin.post(app.url("/settings/mail/sender")).form(&sender).send().await.unwrap().status(), 303);
    let page = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("id=\"sender-missing\"") && page.contains("東京都千代田区丸の内1-1-1"));

    // Sending pace and hours: each wrong line and a reversed window named, nothing stored.
    let wrong = [
        ("_csrf", csrf.as_str()),
        ("domains", "docomo.ne.jp 60\nezweb 30"),
        ("window", "1"),
        ("start", "18:00"),
        ("end", "09:00"),
        ("business_days", "1"),
    ];
    let response = admin.post(app.url("/settings/mail/limits")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("2行目「ezweb 30」") && html.contains("開始を終了より前にして"), "{html}");
    assert!(app.store.get_setting("mail.limits").await.unwrap().is_none());
    let right = [
        ("_csrf", csrf.as_str()),
        ("domains", "docomo.ne.jp 60\r\nezweb.ne.jp 30"),
        ("window", "1"),
        ("start", "09:00"),
        ("end", "18:00"),
        ("business_days", "1"),
    ];
    assert_eq!(admin.post(app.url("/settings/mail/limits")).form(&right).send().await.unwrap().status(), 303);
    let limits = hatake_engine::mail::limits::stored(app.store.as_ref()).await.unwrap();
    assert_eq!(limits.domains.len(), 2);
    assert_eq!(limits.window.map(|w| (w.start_minute, w.end_minute, w.business_days)), Some((540, 1080, true)));
    // Off again, for the sends below whatever the hour.
    let off = [("_csrf", csrf.as_str()), ("domains", "")];
    assert_eq!(admin.post(app.url("/settings/mail/limits")).form(&off).send().await.unwrap().status(), 303);

    // DKIM: a key made on the page, the records to publish, a wrong upload named.
    let response = admin
        .post(app.url("/settings/mail/dkim"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("action", "generate"),
            ("domain", "sample.co.jp"),
            ("selector", "s2026"),
            ("algorithm", "ed25519"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let page = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("s2026._domainkey.sample.co.jp") && page.contains("v=DKIM1; k=ed25519; p="),
        "the DKIM record"
    );
    assert!(page.contains("_dmarc.sample.co.jp") && page.contains("v=DMARC1; p=none"), "the DMARC record");
    assert!(page.contains("a:127.0.0.1"), "SPF names the relay");
    let response = admin
        .post(app.url("/settings/mail/dkim"))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("action", "upload"),
            ("domain", "sample.co.jp"),
            ("algorithm", "rsa"),
            ("private_key", "nonsense"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("RSAの秘密鍵（-----BEGIN RSA PRIVATE KEY----- で始まるPEM形式）を貼り付けてください。"));
    let stored = app.store.get_setting("mail.dkim").await.unwrap().unwrap();
    assert!(stored.contains("ed25519"), "the wrong upload changed nothing");

    // Sixty more, not due yet: the outbox pages them 50 at a time, by status.
    let now = hatake_web::now_millis();
    for i in 0..60 {
        let mail = OutgoingMail {
            from_address: "news@sample.co.jp".into(),
            to_address: format!("wait{i}@example.jp"),
            subject: format!("ご案内 {i}"),
            text: "本文".into(),
            ..Default::default()
        };
        enqueue(app.store.as_ref(), &format!("wait:{i}"), None, &mail, now + 86_400_000, now).await.unwrap();
    }
    let (marketer, _) = app.sign_in("marketing@example.jp").await;
    let list = marketer.get(app.url("/mail/outbox?status=pending")).send().await.unwrap().text().await.unwrap();
    assert_eq!(list.matches("class=\"outbox-row").count(), 50);
    assert!(list.contains("送信待ち <span class=\"count\">60</span>"), "the tab counts all of them");
    let next =
        list.split("id=\"outbox-next\" href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let rest = marketer.get(app.url(&next)).send().await.unwrap().text().await.unwrap();
    assert_eq!(rest.matches("class=\"outbox-row").count(), 10);
    assert!(!rest.contains("id=\"outbox-next\""));
    let all = marketer.get(app.url("/mail/outbox?status=sent")).send().await.unwrap().text().await.unwrap();
    assert_eq!(all.matches("class=\"outbox-row").count(), 1);
    // Marketers read the outbox but do not change where mail goes; field sales see neither.
    assert_eq!(marketer.get(app.url("/settings/mail")).send().await.unwrap().status(), 403);
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(app.url("/mail/outbox")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_pages_sqlite() {
    mail_pages(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_pages_postgres() {
    mail_pages(support::Backend::Postgres).await;
}

/// Subscriptions over HTTP: the one-click unsubscribe exactly as RFC 8058 sends it (a POST with
/// `List-Unsubscribe=One-Click`, no cookie, no CSRF token), the preference page (each topic,
/// "stop all", Japanese and English, a forged token refused), a person's change on the lead
/// page, and mail for an unsubscribed topic cancelled instead of sent.
async fn subscriptions_over_http(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let sink = SmtpSink::start().expect("sink");
    for (code, name) in [("erp", "クラウドERP"), ("kintai", "勤怠管理")] {
        let product =
            hatake_domain::ProductInput { code: Some(code.into()), name: Some(name.into()), ..Default::default() };
        app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    }
    let lead = hatake_domain::LeadInput {
        family_name: Some("山田".into()),
        given_name: Some("太郎".into()),
        email: Some("yamada@example.co.jp".into()),
        ..Default::default()
    };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), true, 0).await.unwrap().id;
    let now = hatake_web::now_millis();
    let subscribe = |topic: &str| hatake_store::SubscriptionChange {
        lead_id: lead,
        topic: topic.into(),
        status: "subscribed".into(),
        source: "import".into(),
        detail: Some("展示会2026.csv".into()),
        by_user: None,
        at: now,
    };
    app.store
        .change_subscriptions(&[subscribe("general"), subscribe("product:1"), subscribe("product:2")])
        .await
        .unwrap();
    let key = hatake_engine::mail::subscriptions::link_key(app.store.as_ref(), now).await.unwrap();
    let url = hatake_engine::mail::subscriptions::unsubscribe_url(&app.base, &key, lead, "product:1");

    // RFC 8058: the mail program posts the body; nothing else.
    let plain = reqwest::Client::new();
    let response = plain
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let states = |rows: Vec<hatake_store::SubscriptionRow>| -> Vec<(String, String, String)> {
        rows.into_iter().map(|r| (r.topic, r.status, r.source)).collect()
    };
    let now_states = states(app.store.lead_subscriptions(lead).await.unwrap());
    assert!(now_states.contains(&("product:1".into(), "unsubscribed".into(), "link".into())), "{now_states:?}");
    assert!(now_states.contains(&("product:2".into(), "subscribed".into(), "import".into())), "only that topic");

    // Mail about the unsubscribed topic is cancelled, the other goes.
    let mut config = hatake_engine::mail::transport::SmtpSettings {
        host: "127.0.0.1".into(),
        port: sink.port(),
        tls: hatake_engine::mail::transport::TlsMode::None,
        username: None,
        password: None,
        hello_name: None,
        timeout_secs: 5,
        tls_roots: None,
    };
    config.hello_name = Some("hatake.test".into());
    let json = serde_json::to_string(&hatake_engine::mail::config::MailConfig::Smtp(config)).unwrap();
    app.store.put_setting("mail.transport", &json, now).await.unwrap();
    for (i, topic) in ["product:1", "product:2"].iter().enumerate() {
        let mail = OutgoingMail {
            from_address: "news@sample.co.jp".into(),
            to_address: "yamada@example.co.jp".into(),
            subject: format!("ご案内 {topic}"),
            text: "本文".into(),
            topic: Some((*topic).into()),
            unsubscribe_url: Some(url.clone()),
            ..Default::default()
        };
        enqueue(app.store.as_ref(), &format!("news:{i}:lead:{lead}"), Some(lead), &mail, now, now).await.unwrap();
    }
    app.runtime.handle().wake(hatake_engine::mail::sender::OUTBOX);
    assert!(sink.wait_for(1, Duration::from_secs(10)));
    let started = Instant::now();
    loop {
        let counts = app.store.outbox_counts().await.unwrap();
        if counts.sent == 1 && counts.cancelled == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.count(), 1, "only the subscribed topic's mail");
    assert_eq!(sink.messages()[0].header("List-Unsubscribe"), Some(format!("<{url}>")), "its one-click link");
    assert_eq!(app.store.outbox_by_key(&format!("news:0:lead:{lead}")).await.unwrap().unwrap().status, "cancelled");

    // The preference page: each topic with its switch, in Japanese or English, no sign-in, and
    // who sends the mail.
    let sender = hatake_engine::mail::config::SenderIdentity {
        name: "サンプル株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@sample.co.jp".into(),
        ..Default::default()
    };
    app.store.put_setting("mail.sender", &serde_json::to_string(&sender).unwrap(), now).await.unwrap();
    let page_url = url.split('?').next().unwrap().to_owned();
    let page = plain.get(&page_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("メール配信の設定") && page.contains("y*****@example.co.jp"), "{page}");
    assert!(page.contains("name=\"topic.general\" value=\"on\" checked"));
    assert!(page.contains("name=\"topic.product:1\" value=\"on\">"), "unsubscribed: off");
    assert!(page.contains("クラウドERPのご案内") && page.contains("勤怠管理のご案内"));
    assert!(page.contains("送信者: サンプル株式会社 · 東京都千代田区丸の内1-1-1 · お問い合わせ: info@sample.co.jp"));
    let english = plain.get(format!("{page_url}?lang=en")).send().await.unwrap().text().await.unwrap();
    assert!(english.contains("Mail preferences") && english.contains("Stop all mail"));
    // Switch the general newsletter off and ERP back on.
    let browser = app.browser();
    let response = browser
        .post(format!("{page_url}?lang=ja"))
        .form(&[("topic.product:1", "on"), ("topic.product:2", "on"), ("action", "save")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let saved = browser
        .get(app.url(response.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(saved.contains("配信設定を変更しました。"));
    let now_states = states(app.store.lead_subscriptions(lead).await.unwrap());
    assert!(now_states.contains(&("general".into(), "unsubscribed".into(), "preferences".into())));
    assert!(now_states.contains(&("product:1".into(), "subscribed".into(), "preferences".into())));
    // Stop all.
    let response = browser.post(&page_url).form(&[("action", "stop_all")]).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let stopped = browser
        .get(app.url(response.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(stopped.contains("すべてのメール配信を停止しました。"));
    let now_states = states(app.store.lead_subscriptions(lead).await.unwrap());
    assert!(now_states.iter().all(|(_, status, _)| status == "unsubscribed"), "{now_states:?}");
    // A forged or altered token changes nothing and says so.
    let forged = page_url.replace(&format!("/u/{lead}."), &format!("/u/{}.", lead + 1));
    let response = plain.post(&forged).body("List-Unsubscribe=One-Click").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let invalid = response.text().await.unwrap();
    assert!(
        invalid.contains("このリンクは無効です") && invalid.contains("info@sample.co.jp"),
        "with a way to reach the sender"
    );

    // A person records a consent given by phone on the lead page, with a note; the history
    // keeps every change.
    let (is, csrf) = app.sign_in("is@example.jp").await;
    let response = is
        .post(app.url(&format!("/leads/{lead}/subscriptions")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("topic", "product:2"),
            ("status", "subscribed"),
            ("note", "電話で再開の依頼"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let page = is.get(app.url(&format!("/leads/{lead}?subs=1"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("メール配信の設定を変更しました。"));
    assert!(page.contains("担当者 · 内田 三郎") && page.contains("メモ: 電話で再開の依頼"), "how, why and who");
    assert!(page.contains("メール内のワンクリック停止") && page.contains("配信設定ページ"), "the history says how");
    let history = app.store.subscription_history(lead, 50).await.unwrap();
    assert_eq!(history.len(), 3 + 1 + 2 + 2 + 1, "every change recorded: {history:?}");
    // Mail again to someone who stopped it needs a note of how they consented; the same state
    // again changes nothing and says so.
    let response = is
        .post(app.url(&format!("/leads/{lead}/subscriptions")))
        .form(&[("_csrf", csrf.as_str()), ("topic", "general"), ("status", "subscribed"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], format!("/leads/{lead}?subs=note#subscriptions"));
    let page = is.get(app.url(&format!("/leads/{lead}?subs=note"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("ご本人の同意を得た経緯をメモに入力してください"));
    let response = is
        .post(app.url(&format!("/leads/{lead}/subscriptions")))
        .form(&[("_csrf", csrf.as_str()), ("topic", "product:2"), ("status", "subscribed"), ("note", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], format!("/leads/{lead}?subs=same#subscriptions"));
    assert_eq!(app.store.subscription_history(lead, 50).await.unwrap().len(), history.len());
    let response = is
        .post(app.url(&format!("/leads/{lead}/subscriptions")))
        .form(&[("_csrf", csrf.as_str()), ("topic", "product:99"), ("status", "subscribed")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], format!("/leads/{lead}?subs=invalid#subscriptions"));

    // The consent records export as CSV for Excel, every change with how, when and who.
    let (marketer, _) = app.sign_in("marketing@example.jp").await;
    let response = marketer.get(app.url("/mail/consents.csv")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "UTF-8 with BOM");
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert_eq!(csv.lines().count(), 1 + 9, "{csv}");
    assert!(csv.starts_with("記録ID,リードID,メールアドレス,配信の種類,状態,経緯,詳細,担当者,日時"));
    assert!(csv.contains("yamada@example.co.jp,クラウドERPのご案内,配信停止,メール内のワンクリック停止"), "{csv}");
    assert!(csv.contains("購読中,担当者,電話で再開の依頼,内田 三郎"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_http_sqlite() {
    subscriptions_over_http(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_over_http_postgres() {
    subscriptions_over_http(support::Backend::Postgres).await;
}

/// Subscriptions over the API: read per topic (never asked shown as such), changed with the
/// token's user recorded as coming from the API, a wrong topic or state named by its place with
/// nothing stored.
async fn subscriptions_over_the_api(backend: support::Backend) {
    use reqwest::Method;
    let app = support::spawn_app(backend).await;
    let product =
        hatake_domain::ProductInput { code: Some("erp".into()), name: Some("ERP".into()), ..Default::default() };
    app.store.create_product(&product.validate().unwrap(), 0).await.unwrap();
    let lead = hatake_domain::LeadInput { family_name: Some("山田".into()), ..Default::default() };
    let lead = app.store.create_lead(&lead.validate(&[]).unwrap(), false, 0).await.unwrap().id;
    let path = format!("/api/v1/leads/{lead}/subscriptions");
    let read = || async {
        let response = app.api(Method::GET, &path, &app.admin_token).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<serde_json::Value>().await.unwrap()
    };
    let first = read().await;
    assert_eq!(first["data"][0]["topic"], "general");
    assert_eq!(first["data"][0]["status"], "never_asked");
    assert_eq!(first["data"][1]["topic"], "product:1");

    let wrong = serde_json::json!({"changes": [
        {"topic": "general", "status": "subscribed"},
        {"topic": "product:9", "status": "maybe"},
    ]});
    let response = app.api(Method::POST, &path, &app.admin_token).json(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    let fields: Vec<&str> =
        body["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["changes[1].topic", "changes[1].status"], "{body}");
    assert!(app.store.lead_subscriptions(lead).await.unwrap().is_empty(), "nothing stored");

    let right = serde_json::json!({"changes": [
        {"topic": "general", "status": "subscribed", "detail": "CRM連携"},
        {"topic": "product:1", "status": "unsubscribed"},
    ]});
    let response = app.api(Method::POST, &path, &app.admin_token).json(&right).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["changed"], 2);
    let again = app.api(Method::POST, &path, &app.admin_token).json(&right).send().await.unwrap();
    assert_eq!(again.json::<serde_json::Value>().await.unwrap()["changed"], 0, "the same state changes nothing");
    let now = read().await;
    assert_eq!(now["data"][0]["status"], "subscribed");
    assert_eq!(now["data"][0]["source"], "api");
    assert_eq!(now["data"][0]["by"], "管理 太郎");
    assert_eq!(now["data"][1]["status"], "unsubscribed");
    assert_eq!(now["history"].as_array().unwrap().len(), 2);
    let missing = app.api(Method::GET, "/api/v1/leads/999999/subscriptions", &app.admin_token).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn subscriptions_over_the_api_sqlite() {
    subscriptions_over_the_api(support::Backend::Sqlite).await;
}

#[tokio::test]
async fn subscriptions_over_the_api_postgres() {
    subscriptions_over_the_api(support::Backend::Postgres).await;
}

/// Three `hatake serve` processes on one PostgreSQL send 3,000 mails from one outbox; one is
/// killed half-way. Every mail reaches the server once (counted by Message-ID), the killed one's
/// claims taken over by the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_postgres_send_each_mail_once() {
    let url = hatake_testkit::PgCluster::shared().fresh_database();
    let store: Arc<dyn Store> = Arc::new(hatake_postgres::PostgresStore::connect(&url).await.expect("store"));
    let now = hatake_web::now_millis();
    for i in 0..MAILS {
        let mail = OutgoingMail {
            from_address: "news@sample.co.jp".into(),
            to_address: format!("lead{i}@example.jp"),
            subject: format!("ご案内 {i}"),
            text: "本文".into(),
            ..Default::default()
        };
        enqueue(store.as_ref(), &format!("three:{i}"), None, &mail, now, now).await.unwrap();
    }
    let sink = SmtpSink::start_counting().expect("sink");
    sink.set_delay(Duration::from_millis(2));
    let args = ["--database-url", url.as_str()];
    let mut servers: Vec<Child> = (0..3).map(|_| serve(&args, &sink)).collect();
    let started = Instant::now();
    while sink.count() < MAILS / 4 {
        assert!(started.elapsed() < Duration::from_secs(60), "the servers send ({} so far)", sink.count());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    servers[0].kill().expect("kill -9");
    servers[0].wait().expect("reaped");
    sink.set_delay(Duration::ZERO);
    let started = Instant::now();
    loop {
        let counts = store.outbox_counts().await.unwrap();
        if counts.pending + counts.claimed == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the others take over: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for server in servers.iter_mut().skip(1) {
        server.kill().expect("stop");
        server.wait().expect("reaped");
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        *seen.entry(message.message_id.expect("Message-ID")).or_default() += 1;
    }
    assert_eq!(seen.values().map(|n| n - 1).sum::<usize>(), 0, "no mail twice");
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.sent + counts.handed, i64::try_from(MAILS).unwrap(), "{counts:?}");
    assert!(
        seen.len() + usize::try_from(counts.handed).unwrap() >= MAILS,
        "every mail reached the server or is flagged"
    );
    let lanes = hatake_engine::mail::sender::SenderSettings::default().connections;
    assert!(seen.len() >= MAILS - lanes, "at most one lost per connection of the killed server: {}", seen.len());
    eprintln!("three servers, one killed: {} delivered of {MAILS}, {} unconfirmed", seen.len(), counts.handed);
}

fn form_of<'a>(
    csrf: &'a str,
    name: &'a str,
    subject: &'a str,
    html: &'a str,
    text: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("_csrf", csrf),
        ("name", name),
        ("kind", "marketing"),
        ("product_id", "1"),
        ("charset", "utf-8"),
        ("subject", subject),
        ("html", html),
        ("text", text),
    ]
}

/// Templates as a marketer uses them: every save checked (syntax with line and column, what
/// 特定電子メール法 asks of marketing mail), versions with a way back, a preview for a chosen
/// lead, a test send through the outbox to a real SMTP server, tracked links that record a
/// `mail_click` and join the browser's earlier anonymous visits to the lead, the open pixel, a
/// forged link refused, archiving with undo, and the list paged.
async fn mail_templates(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let sink = SmtpSink::start().expect("sink");
    let now = hatake_web::now_millis();
    let smtp = hatake_engine::mail::config::MailConfig::Smtp(
        hatake_engine::mail::config::parse_smtp_url(&format!("smtp://127.0.0.1:{}?tls=none", sink.port())).unwrap(),
    );
    store.put_setting("mail.transport", &serde_json::to_string(&smtp).unwrap(), now).await.unwrap();
    let product = hatake_domain::ProductInput {
        code: Some("erp".into()),
        name: Some("クラウドERP".into()),
        ..Default::default()
    };
    store.create_product(&product.validate().unwrap(), now).await.unwrap();
    let lead = hatake_domain::LeadInput {
        family_name: Some("佐藤".into()),
        given_name: Some("花子".into()),
        email: Some("hanako@towa.example.jp".into()),
        company_name: Some("東和精機株式会社".into()),
        ..Default::default()
    };
    let lead = store.create_lead(&lead.validate(&[]).unwrap(), true, now).await.unwrap().id;
    let (marketer, csrf) = app.sign_in("marketing@example.jp").await;

    // A new template starts with what the law asks; without a sender it cannot be saved.
    let page = marketer.get(app.url("/mail/templates/new")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("{{ sender.address }}") && page.contains("{{ unsubscribe_url }}"), "{page}");
    let html = "<p>{{ lead.full_name }} 様</p>\n<p><a href=\"https://erp.example.jp/case?from=mail&amp;x=1\">導入事例</a></p>\n<p>{{ sender.name }} {{ sender.address }} {{ sender.contact }} <a href=\"{{ unsubscribe_url }}\">配信停止</a></p>";
    let good = form_of(&csrf, "ERP事例のご案内", "{{ lead.family_name }}様へ {{ product.name }}の導入事例", html, "");
    let response = marketer.post(app.url("/mail/templates")).form(&good).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(
        body.contains(
            "特定電子メール法の表示: 送信者情報（氏名または名称・住所・問い合わせ先）がメール設定にありません"
        ),
        "{body}"
    );
    assert!(body.contains("value=\"ERP事例のご案内\""), "what was typed stays");
    let sender = hatake_engine::mail::config::SenderIdentity {
        name: "畑ソフト株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@hatake.example.jp".into(),
        from_address: "news@hatake.example.jp".into(),
        public_url: app.base.clone(),
    };
    store.put_setting("mail.sender", &serde_json::to_string(&sender).unwrap(), now).await.unwrap();

    // A syntax error names the part, line and column; a missing opt-out link is named too.
    let broken = form_of(&csrf, "ERP事例のご案内", "件名", "<p>\n{{ lead.family_name }\n</p>", "");
    let body = marketer.post(app.url("/mail/templates")).form(&broken).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("HTML本文 2行目 21列: 構文エラー"), "{body}");
    let no_link = form_of(
        &csrf,
        "ERP事例のご案内",
        "件名",
        "<p>{{ sender.name }} {{ sender.address }} {{ sender.contact }}</p>",
        "",
    );
    let body = marketer.post(app.url("/mail/templates")).form(&no_link).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("配信停止のリンクがありません"), "{body}");
    let (rows, total) =
        store.mail_templates(&hatake_store::TemplateQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!((rows.len(), total), (0, 0), "nothing stored");

    // Saved: version 1, previewed for the sample person.
    let response = marketer.post(app.url("/mail/templates")).form(&good).send().await.unwrap();
    let status = response.status();
    assert_eq!(
        status,
        303,
        "{}",
        response
            .text()
            .await
            .unwrap()
            .split("template-problems")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take(600)
            .collect::<String>()
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?saved=1"), "{location}");
    let id: i64 = location.trim_start_matches("/mail/templates/").split('?').next().unwrap().parse().unwrap();
    let page = marketer.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("保存しました（第1版）。"));
    assert!(page.contains("<strong>山田様へ クラウドERPの導入事例</strong>"), "{page}");
    // The same content again makes no version; a change makes version 2.
    let response = marketer.post(app.url(&format!("/mail/templates/{id}"))).form(&good).send().await.unwrap();
    assert_eq!(response.headers()["location"], format!("/mail/templates/{id}?unchanged=1"));
    let changed = form_of(&csrf, "ERP事例のご案内", "{{ lead.family_name }}様 事例集をお届けします", html, "");
    let response = marketer.post(app.url(&format!("/mail/templates/{id}"))).form(&changed).send().await.unwrap();
    assert_eq!(response.headers()["location"], format!("/mail/templates/{id}?saved=2"));
    // Preview without saving shows the form's content, and stores nothing.
    let mut unsaved = form_of(&csrf, "ERP事例のご案内", "未保存の件名 {{ lead.family_name }}様", html, "");
    unsaved.push(("action", "preview"));
    unsaved.push(("lead", "hanako@towa.example.jp"));
    let page = marketer
        .post(app.url(&format!("/mail/templates/{id}")))
        .form(&unsaved)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<strong>未保存の件名 佐藤様</strong>") && page.contains("id=\"preview-unsaved\""), "{page}");
    assert_eq!(store.mail_template(id).await.unwrap().unwrap().version, 2);
    // The versions, and back to version 1 as version 3.
    let page =
        marketer.get(app.url(&format!("/mail/templates/{id}/versions/1"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("第1版") && page.contains("第2版") && page.contains("この版に戻す"));
    let response = marketer
        .post(app.url(&format!("/mail/templates/{id}/versions/1/restore")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], format!("/mail/templates/{id}?saved=3&from=1"));
    let page = marketer
        .get(app.url(&format!("/mail/templates/{id}?saved=3&from=1")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("第1版の内容を第3版として保存しました。"));
    let row = store.mail_template(id).await.unwrap().unwrap();
    assert_eq!((row.version, row.subject.as_str()), (3, "{{ lead.family_name }}様へ {{ product.name }}の導入事例"));

    // Preview for a chosen lead; an unknown one is said so.
    let page = marketer
        .get(app.url(&format!("/mail/templates/{id}?lead=hanako@towa.example.jp")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<strong>佐藤様へ クラウドERPの導入事例</strong>"), "{page}");
    let page = marketer
        .get(app.url(&format!("/mail/templates/{id}?lead=nobody@nowhere.example")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"preview-lead-missing\""));

    // A test send for the lead goes through the outbox to the SMTP server.
    let response = marketer
        .post(app.url(&format!("/mail/templates/{id}/test")))
        .form(&[("_csrf", csrf.as_str()), ("to", "tester@example.jp"), ("lead", &lead.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let row_url = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(row_url.starts_with("/mail/outbox/"), "{row_url}");
    assert!(sink.wait_for(1, Duration::from_secs(10)), "the test reached the server");
    let received = &sink.messages()[0];
    assert_eq!(received.rcpt_to, ["tester@example.jp"]);
    assert!(received.header("List-Unsubscribe").is_some_and(|h| h.contains(&format!("/u/{lead}."))));
    let outbox_id: i64 = row_url.trim_start_matches("/mail/outbox/").split('?').next().unwrap().parse().unwrap();
    let mail: OutgoingMail = serde_json::from_str(&store.get_outbox(outbox_id).await.unwrap().payload).unwrap();
    assert_eq!(mail.subject, "[テスト] 佐藤様へ クラウドERPの導入事例");
    assert_eq!(mail.from_address, "news@hatake.example.jp");
    let html_part = mail.html.clone().unwrap();
    assert!(html_part.contains("/m/o/"), "the open pixel");
    assert!(!html_part.contains("href=\"https://erp.example.jp/"), "links are tracked: {html_part}");
    let start = mail.text.find(&format!("{}/m/c/", app.base)).expect("a tracked link in the text part");
    let click: String = mail.text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '）').collect();
    // A misspelt value is refused with its place, not sent as an empty line.
    let misspelt = html.replace("{{ lead.full_name }}", "{{ lead.ful_name }}");
    let typo = form_of(&csrf, "ERP事例のご案内", "件名", &misspelt, "");
    let body = marketer
        .post(app.url(&format!("/mail/templates/{id}")))
        .form(&typo)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("HTML本文 1行目 7列: lead.ful_name は使えない値です"), "{body}");
    // A bad address is named.
    let response = marketer
        .post(app.url(&format!("/mail/templates/{id}/test")))
        .form(&[("_csrf", csrf.as_str()), ("to", "no-at-sign")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("送信先のメールアドレスの形式が正しくありません。"));

    // The browser visited anonymously before; the click joins those visits to the lead.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
        .build()
        .unwrap();
    let response = browser.get(app.url("/t/p.gif?u=https%3A%2F%2Ferp.example.jp%2Fprice")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let visitor = cookie.split(';').next().unwrap().trim_start_matches("hk_vid=").to_owned();
    let response = browser.get(&click).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "https://erp.example.jp/case?from=mail&x=1");
    let forged = click.replace("%2Fcase", "%2Fevil");
    assert_eq!(browser.get(&forged).send().await.unwrap().status(), 404, "no open redirect");
    let open = html_part.split("src=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let response = app.browser().get(&open).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "image/gif");
    let started = Instant::now();
    let query = hatake_store::EventQuery { limit: 50, ..Default::default() };
    let kinds = loop {
        let events = store.lead_events(lead, &query).await.unwrap();
        let kinds: Vec<String> = events.iter().map(|e| e.kind.clone()).collect();
        if (kinds.contains(&"mail_click".to_owned()) && kinds.contains(&"mail_open".to_owned()))
            || started.elapsed() > Duration::from_secs(10)
        {
            break kinds;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(kinds.contains(&"mail_click".to_owned()) && kinds.contains(&"mail_open".to_owned()), "{kinds:?}");
    assert!(kinds.contains(&"page_view".to_owned()), "the earlier anonymous visit joined the lead: {kinds:?}");
    assert_eq!(store.visitor_leads(&[visitor]).await.unwrap().first().map(|v| v.1), Some(lead));

    // Archive, with undo.
    let response = marketer
        .post(app.url(&format!("/mail/templates/{id}/archive")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let page = marketer.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("「ERP事例のご案内」をアーカイブしました。") && page.contains("id=\"archive-undo\""),
        "{page}"
    );
    assert!(!page.contains("class=\"template-row\""), "no longer listed");
    let response = marketer
        .post(app.url(&format!("/mail/templates/{id}/archive")))
        .form(&[("_csrf", csrf.as_str()), ("undo", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(store.mail_template(id).await.unwrap().unwrap().archived_at.is_none());

    // A layout used by name; the list pages by 50.
    for n in 0..55 {
        let draft = hatake_store::TemplateDraft {
            name: format!("部品{n:02}"),
            kind: "partial".into(),
            product_id: None,
            charset: "utf-8".into(),
            content: hatake_store::TemplateContent {
                subject: String::new(),
                html: "<p>部品</p>".into(),
                text: "部品".into(),
            },
        };
        store.create_mail_template(&draft, None, now).await.unwrap();
    }
    let page = marketer.get(app.url("/mail/templates")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("class=\"template-row\"").count(), 50);
    assert!(page.contains("id=\"templates-next\"") && page.contains("56 件"), "{page}");
    let page = marketer.get(app.url("/mail/templates?page=2")).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("class=\"template-row\"").count(), 6);
    let with_partial = form_of(&csrf, "部品つき", "件名", "{% include \"部品00\" %}<p>{{ sender.name }} {{ sender.address }} {{ sender.contact }} {{ unsubscribe_url }}</p>", "");
    assert_eq!(marketer.post(app.url("/mail/templates")).form(&with_partial).send().await.unwrap().status(), 303);
    let missing = form_of(&csrf, "部品なし", "件名", "{% include \"ない部品\" %}", "");
    let body = marketer.post(app.url("/mail/templates")).form(&missing).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("「ない部品」という名前のレイアウトまたは部品はありません"), "{body}");

    // ISO-2022-JP: saved, with a warning for what it cannot carry and how it goes instead.
    let mut jis = form_of(
        &csrf,
        "JISのご案内",
        "①日時のご案内",
        "<p>㈱サンプル {{ sender.name }} {{ sender.address }} {{ sender.contact }} {{ unsubscribe_url }}</p>",
        "",
    );
    jis.retain(|(k, _)| *k != "charset");
    jis.push(("charset", "iso-2022-jp"));
    let response = marketer.post(app.url("/mail/templates")).form(&jis).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let page = marketer
        .get(app.url(response.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"template-jis\"") && page.contains("① → (1)") && page.contains("㈱ → (株)"), "{page}");

    // Field sales do not edit templates.
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(app.url("/mail/templates")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_templates_sqlite() {
    mail_templates(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_templates_postgres() {
    mail_templates(support::Backend::Postgres).await;
}

/// The segment's members once the runtime built them and they number `expected` (or after 15 s).
async fn wait_for_members(store: &dyn Store, id: i64, expected: usize) -> Vec<i64> {
    let started = Instant::now();
    loop {
        let row = store.segment(id).await.unwrap().unwrap();
        let ids = store.segment_member_ids(id, 0, 100).await.unwrap();
        if (row.built_version == row.version && ids.len() == expected) || started.elapsed() > Duration::from_secs(15) {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Segments as a marketer builds them: the count while editing, each wrong condition named,
/// rows added in place, the members built by the runtime and kept current as a new person
/// arrives, paged and exported as CSV, and archiving with undo.
async fn segments_over_http(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let now = hatake_web::now_millis();
    let mut it_people = Vec::new();
    for (i, department) in ["情報システム部", "情報システム部", "総務部"].into_iter().enumerate() {
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("社員{i}")),
            email: Some(format!("person{i}@towa.example.jp")),
            department: Some(department.into()),
            ..Default::default()
        };
        let mut data = input.validate(&[]).unwrap();
        data.department_class = (department == "情報システム部").then(|| "it".to_owned());
        let id = store.create_lead(&data, true, now).await.unwrap().id;
        if department == "情報システム部" {
            it_people.push(id);
        }
    }
    let (marketer, csrf) = app.sign_in("marketing@example.jp").await;
    let it = [
        ("_csrf", csrf.as_str()),
        ("name", "情シスの方"),
        ("description", "情報システム部門の全員"),
        ("any", "0"),
        ("g0.any", "0"),
        ("g0.c0.type", "department_class"),
        ("g0.c0.values", "it"),
        ("g0.c0.negate", "0"),
    ];
    // The count while editing.
    let answer: serde_json::Value =
        marketer.post(app.url("/mail/segments/count")).form(&it).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["count"], 2, "{answer}");
    // A wrong condition is named; nothing is stored.
    let mut wrong = it.to_vec();
    wrong.extend([("g0.c1.type", "behaviour"), ("g0.c1.event", "download"), ("g0.c1.days", "0"), ("g0.c1.count", "x")]);
    let response = marketer.post(app.url("/mail/segments")).form(&wrong).send().await.unwrap();
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("グループ1 の条件2: 回数は数字で入れてください（入力: x）。"), "{body}");
    assert_eq!(store.segments(false, 0, 10).await.unwrap().1, 0);
    let answer: serde_json::Value =
        marketer.post(app.url("/mail/segments/count")).form(&wrong).send().await.unwrap().json().await.unwrap();
    assert!(answer["errors"][0].as_str().unwrap().contains("回数は数字で"), "{answer}");
    // Adding a row shows the form again with it.
    let mut add = it.to_vec();
    add.push(("action", "add:0"));
    let page = marketer.post(app.url("/mail/segments")).form(&add).send().await.unwrap().text().await.unwrap();
    // (The new row asks for a page view in the last 30 days, which no one has: 0 match both.)
    assert!(
        page.contains("id=\"cond-0-1\"") && page.contains("該当: <strong id=\"segment-count\">0</strong>"),
        "{page}"
    );

    // Saved: the runtime builds the members.
    let response = marketer.post(app.url("/mail/segments")).form(&it).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location.trim_start_matches("/mail/segments/").split('?').next().unwrap().parse().unwrap();
    assert_eq!(wait_for_members(store, id, 2).await, it_people);
    let page =
        marketer.get(app.url(&format!("/mail/segments/{id}/members"))).send().await.unwrap().text().await.unwrap();
    assert_eq!(page.matches("class=\"member-row\"").count(), 2);
    assert!(page.contains("person0@towa.example.jp") && !page.contains("person2@towa.example.jp"), "{page}");
    let csv = marketer.get(app.url(&format!("/mail/segments/{id}/members.csv?encoding=utf8"))).send().await.unwrap();
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains("segment-"));
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a byte-order mark for Excel");
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("person1@towa.example.jp") && text.lines().count() == 3, "{text}");

    // A new person in the department joins without anyone rebuilding anything.
    let input = hatake_domain::LeadInput {
        family_name: Some("新人".into()),
        email: Some("new@towa.example.jp".into()),
        ..Default::default()
    };
    let mut data = input.validate(&[]).unwrap();
    data.department_class = Some("it".into());
    let newcomer = store.create_lead(&data, true, hatake_web::now_millis()).await.unwrap().id;
    let mut expected = it_people.clone();
    expected.push(newcomer);
    assert_eq!(wait_for_members(store, id, 3).await, expected);
    let list = marketer.get(app.url("/mail/segments")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("情シスの方") && list.contains(">3</a>"), "{list}");

    // Archive and undo.
    let response = marketer
        .post(app.url(&format!("/mail/segments/{id}/archive")))
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let page = marketer
        .get(app.url(response.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("「情シスの方」をアーカイブしました。") && !page.contains("class=\"segment-row\""), "{page}");
    marketer
        .post(app.url(&format!("/mail/segments/{id}/archive")))
        .form(&[("_csrf", csrf.as_str()), ("undo", "1")])
        .send()
        .await
        .unwrap();
    assert!(store.segment(id).await.unwrap().unwrap().archived_at.is_none());
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(app.url("/mail/segments")).send().await.unwrap().status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_over_http_sqlite() {
    segments_over_http(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_over_http_postgres() {
    segments_over_http(support::Backend::Postgres).await;
}

/// A newsletter as a marketer sends it: errors named, the reach shown, sent now through the
/// runtime to a real SMTP server (only to subscribers not suppressed), its page with the
/// figures and a click counted; the suppression list with a wrong line named; the frequency cap.
async fn newsletters_over_http(backend: support::Backend) {
    let app = support::spawn_app(backend).await;
    let store = app.store.as_ref();
    let sink = SmtpSink::start().expect("sink");
    let now = hatake_web::now_millis();
    let smtp = hatake_engine::mail::config::MailConfig::Smtp(
        hatake_engine::mail::config::parse_smtp_url(&format!("smtp://127.0.0.1:{}?tls=none", sink.port())).unwrap(),
    );
    store.put_setting("mail.transport", &serde_json::to_string(&smtp).unwrap(), now).await.unwrap();
    let identity = hatake_engine::mail::config::SenderIdentity {
        name: "畑ソフト株式会社".into(),
        address: "東京都千代田区丸の内1-1-1".into(),
        contact: "info@hatake.example.jp".into(),
        from_address: "news@hatake.example.jp".into(),
        public_url: app.base.clone(),
    };
    store.put_setting("mail.sender", &serde_json::to_string(&identity).unwrap(), now).await.unwrap();
    let mut leads = Vec::new();
    for i in 0..4 {
        let input = hatake_domain::LeadInput {
            family_name: Some(format!("読者{i}")),
            email: Some(format!("reader{i}@example.jp")),
            ..Default::default()
        };
        leads.push(store.create_lead(&input.validate(&[]).unwrap(), true, now).await.unwrap().id);
    }
    let changes: Vec<hatake_store::SubscriptionChange> = leads[..3]
        .iter()
        .map(|lead| hatake_store::SubscriptionChange {
            lead_id: *lead,
            topic: "general".into(),
            status: "subscribed".into(),
            source: "form".into(),
            detail: None,
            by_user: None,
            at: now,
        })
        .collect();
    store.change_subscriptions(&changes).await.unwrap();
    let template = hatake_store::TemplateDraft {
        name: "月刊メルマガ".into(),
        kind: "marketing".into(),
        product_id: None,
        charset: "utf-8".into(),
        content: hatake_store::TemplateContent {
            subject: "{{ lead.family_name }}様 12月号".into(),
            html: "<p><a href=\"https://example.jp/column\">今月のコラム</a></p><p>{{ sender.name }} {{ sender.address }} {{ sender.contact }} <a href=\"{{ unsubscribe_url }}\">停止</a></p>".into(),
            text: String::new(),
        },
    };
    let template = store.create_mail_template(&template, None, now).await.unwrap().to_string();
    let (marketer, csrf) = app.sign_in("marketing@example.jp").await;

    // Suppress reader2 by hand; a wrong line is named and nothing is added.
    let response = marketer
        .post(app.url("/mail/suppressions"))
        .form(&[("_csrf", csrf.as_str()), ("emails", "reader2@example.jp\nnot-an-address")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("2行目: 「not-an-address」はメールアドレスの形式ではありません。"));
    let response = marketer
        .post(app.url("/mail/suppressions"))
        .form(&[("_csrf", csrf.as_str()), ("emails", "Reader2@example.jp"), ("note", "本人から電話で依頼")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/mail/suppressions?added=1");
    let page = marketer.get(app.url("/mail/suppressions?added=1")).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("1件を配信停止リストに追加しました。")
            && page.contains("reader2@example.jp")
            && page.contains("手動で追加")
    );

    // The form: each missing thing named; the reach counted.
    let response = marketer
        .post(app.url("/mail/newsletters"))
        .form(&[("_csrf", csrf.as_str()), ("name", ""), ("ab", "subject"), ("variant_subject", ""), ("send", "now")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body = response.text().await.unwrap();
    assert!(
        body.contains("配信名を入力してください。")
            && body.contains("テンプレート（広告・宣伝メール）を選んでください。")
    );
    assert!(body.contains("A&#x2f;Bテストの件名Bを入力してください。"), "{body}");
    let answer: serde_json::Value = marketer
        .post(app.url("/mail/newsletters/estimate"))
        .form(&[("_csrf", csrf.as_str()), ("template_id", template.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["count"], 2, "readers 0 and 1: 2 is suppressed, 3 never subscribed");
    let form = [
        ("_csrf", csrf.as_str()),
        ("name", "12月号"),
        ("template_id", template.as_str()),
        ("segment_id", ""),
        ("ab", "none"),
        ("send", "now"),
    ];
    let response = marketer.post(app.url("/mail/newsletters")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("?started=1"), "{location}");
    assert!(sink.wait_for(2, Duration::from_secs(15)), "sent by the runtime");
    let mut to: Vec<String> = sink.messages().iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    assert_eq!(to, ["reader0@example.jp", "reader1@example.jp"]);
    let id: i64 = location.trim_start_matches("/mail/newsletters/").split('?').next().unwrap().parse().unwrap();
    let started = Instant::now();
    let page = loop {
        let page =
            marketer.get(app.url(&format!("/mail/newsletters/{id}"))).send().await.unwrap().text().await.unwrap();
        if page.contains(">送信済み<")
            && page.contains("id=\"newsletter-total\"><th>合計</th><td class=\"num\">2</td><td class=\"num\">2</td>")
            || started.elapsed() > Duration::from_secs(15)
        {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        page.contains("id=\"newsletter-total\"><th>合計</th><td class=\"num\">2</td><td class=\"num\">2</td>"),
        "{page}"
    );
    // A click on the mail's link counts for the send, by link.
    let outbox = store.outbox_by_key(&format!("newsletter:{id}:lead:{}", leads[0])).await.unwrap().unwrap();
    let mail: OutgoingMail = serde_json::from_str(&outbox.payload).unwrap();
    let start = mail.text.find(&format!("{}/m/c/", app.base)).unwrap();
    let click: String = mail.text[start..].chars().take_while(|c| !c.is_whitespace() && *c != '）').collect();
    let reader = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15")
        .build()
        .unwrap();
    assert_eq!(reader.get(&click).send().await.unwrap().status(), 302);
    let page = marketer.get(app.url(&format!("/mail/newsletters/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("example.jp&#x2f;column</a></td><td class=\"num\">1</td>") && page.contains("50.0%"),
        "a click and its rate: {page}"
    );
    let list = marketer.get(app.url("/mail/newsletters")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("12月号") && list.contains("送信済み"), "{list}");
    // The reader's page shows the send and the click.
    let lead_page = marketer.get(app.url(&format!("/leads/{}", leads[0]))).send().await.unwrap().text().await.unwrap();
    let received = lead_page.split("id=\"lead-newsletters\"").nth(1).expect("the lead's newsletters");
    assert!(received.contains("12月号") && received.contains(">クリック<"), "{received}");

    // The frequency cap: a wrong one is explained; a right one saved.
    let response = marketer
        .post(app.url("/mail/newsletters/cap"))
        .form(&[("_csrf", csrf.as_str()), ("max", "0"), ("days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = marketer
        .post(app.url("/mail/newsletters/cap"))
        .form(&[("_csrf", csrf.as_str()), ("max", "2"), ("days", "7")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/mail/newsletters?cap_saved=1");
    assert_eq!(
        hatake_engine::mail::newsletter::frequency_cap(store).await.unwrap(),
        Some(hatake_engine::mail::newsletter::FrequencyCap { max: 2, days: 7 })
    );
    let (sales, _) = app.sign_in("sales@example.jp").await;
    assert_eq!(sales.get(app.url("/mail/newsletters")).send().await.unwrap().status(), 403);

    // A relay's webhook: the URL on the settings page; a wrong token finds nothing; a bounce of
    // reader1's mail is counted for the send and suppresses the address.
    let (admin, _) = app.sign_in("admin@example.jp").await;
    let settings = admin.get(app.url("/settings/mail")).send().await.unwrap().text().await.unwrap();
    let hook = settings.split("id=\"hook-url\">").nth(1).unwrap().split('<').next().unwrap().replace("&#x2f;", "/");
    assert!(hook.starts_with(&format!("{}/hooks/mail/", app.base)), "{hook}");
    let plain = reqwest::Client::new();
    let wrong = plain.post(app.url("/hooks/mail/not-the-token")).json(&serde_json::json!([])).send().await.unwrap();
    assert_eq!(wrong.status(), 404);
    let bad = plain.post(&hook).body("not json").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let reader1 = store.outbox_by_key(&format!("newsletter:{id}:lead:{}", leads[1])).await.unwrap().unwrap();
    let events = serde_json::json!([{
        "email": "reader1@example.jp", "event": "bounce", "type": "bounce", "reason": "550 5.1.1 unknown",
        "smtp-id": format!("<{}>", reader1.message_id.clone().unwrap())
    }]);
    let answer: serde_json::Value = plain.post(&hook).json(&events).send().await.unwrap().json().await.unwrap();
    assert_eq!((answer["hard_bounces"].as_u64(), answer["matched"].as_u64()), (Some(1), Some(1)), "{answer}");
    let page = marketer.get(app.url(&format!("/mail/newsletters/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<td class=\"num\">1 / 0</td>"), "one hard bounce: {page}");
    let list = marketer.get(app.url("/mail/suppressions")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("reader1@example.jp") && list.contains("不達（恒久的）"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletters_over_http_sqlite() {
    newsletters_over_http(support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsletters_over_http_postgres() {
    newsletters_over_http(support::Backend::Postgres).await;
}
