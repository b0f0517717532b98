//! The demo's mail: who sends it (特定電子メール法), a layout and a signature shared by the
//! templates, and the templates a marketing team writes first — a monthly newsletter, a case
//! study per product, a seminar invitation and the thank-you for a document request — some
//! edited since they were written (more than one version) — and the segments they go to.

use hatake_store::{Store, TemplateContent, TemplateDraft};

const DAY: i64 = 86_400_000;

const LAYOUT_HTML: &str = r#"<!doctype html>
<html><body style="margin:0;background:#f4f5f0;font-family:'Hiragino Sans','Noto Sans JP',sans-serif;color:#222;line-height:1.8">
<div style="max-width:640px;margin:0 auto;background:#fff;padding:24px">
<p style="font-size:13px;color:#5a7a3a;margin:0 0 16px">株式会社ハタケデモ</p>
{% block content %}{% endblock %}
{% include "署名" %}
<hr style="border:0;border-top:1px solid #ddd;margin:24px 0">
<p style="font-size:12px;color:#666">このメールは、資料請求・展示会・セミナーなどで当社とご縁のあった方にお送りしています。<br>
{{ sender.name }}　{{ sender.address }}<br>
お問い合わせ: {{ sender.contact }}<br>
配信停止・配信内容の変更は<a href="{{ unsubscribe_url }}">こちら</a>から（ログイン不要）。</p>
</div>
</body></html>
"#;

const LAYOUT_TEXT: &str = "株式会社ハタケデモ\n\n{% block content %}{% endblock %}\n\n{% include \"署名\" %}\n\n--------------------------------\n{{ sender.name }}\n{{ sender.address }}\nお問い合わせ: {{ sender.contact }}\n配信停止・配信内容の変更（ログイン不要）:\n{{ unsubscribe_url }}\n";

fn draft(name: &str, kind: &str, product_id: Option<i64>, subject: &str, html: &str, text: &str) -> TemplateDraft {
    TemplateDraft {
        name: name.into(),
        kind: kind.into(),
        product_id,
        charset: "utf-8".into(),
        content: TemplateContent { subject: subject.into(), html: html.into(), text: text.into() },
    }
}

/// Stores the sender and the templates unless templates exist already.
///
/// # Errors
/// On a database error.
pub async fn seed(store: &dyn Store, product_ids: &[i64], marketer: Option<i64>, now: i64) -> anyhow::Result<()> {
    let existing = store.mail_templates(&hatake_store::TemplateQuery { limit: 1, ..Default::default() }).await?;
    if existing.1 > 0 {
        return Ok(());
    }
    if store.get_setting(hatake_engine::mail::config::SETTING_SENDER).await?.is_none() {
        let sender = hatake_engine::mail::config::SenderIdentity {
            name: "株式会社ハタケデモ".into(),
            address: "東京都千代田区丸の内一丁目1番1号 ハタケビル12階".into(),
            contact: "marketing@hatake-demo.jp / 03-1234-5678".into(),
            from_address: "news@hatake-demo.jp".into(),
            public_url: String::new(),
        };
        store.put_setting(hatake_engine::mail::config::SETTING_SENDER, &serde_json::to_string(&sender)?, now).await?;
    }
    let product = |i: usize| product_ids.get(i).copied();
    let templates = [
        draft("標準レイアウト", "layout", None, "", LAYOUT_HTML, LAYOUT_TEXT),
        draft(
            "署名",
            "partial",
            None,
            "",
            "<p style=\"margin-top:24px\">マーケティング部　真家 花子<br>株式会社ハタケデモ</p>\n",
            "マーケティング部　真家 花子\n株式会社ハタケデモ\n",
        ),
        draft(
            "月刊メルマガ（全般）",
            "marketing",
            None,
            "【ハタケデモ通信】{{ today }}号 — 基幹システム刷新の進め方",
            "{% extends \"標準レイアウト\" %}{% block content %}<p>{{ company }}<br>{{ lead.full_name }} 様</p>\n<p>いつもお世話になっております。今月は、基幹システム刷新を成功させた3社の進め方をご紹介します。</p>\n<h2 style=\"font-size:18px\">今月の記事</h2>\n<ul>\n<li><a href=\"https://www.hatake-demo.jp/column/erp-roadmap\">稟議を通すための投資対効果の示し方</a></li>\n<li><a href=\"https://www.hatake-demo.jp/column/kintai-law\">改正労働基準法と勤怠管理の見直しポイント</a></li>\n<li><a href=\"https://www.hatake-demo.jp/seminar\">今月のオンラインセミナー</a></li>\n</ul>{% endblock %}",
            "{% extends \"標準レイアウト\" %}{% block content %}{{ company }}\n{{ lead.full_name }} 様\n\nいつもお世話になっております。今月は、基幹システム刷新を成功させた3社の進め方をご紹介します。\n\n■ 稟議を通すための投資対効果の示し方\nhttps://www.hatake-demo.jp/column/erp-roadmap\n\n■ 改正労働基準法と勤怠管理の見直しポイント\nhttps://www.hatake-demo.jp/column/kintai-law\n\n■ 今月のオンラインセミナー\nhttps://www.hatake-demo.jp/seminar{% endblock %}",
        ),
        draft(
            "クラウドERP 導入事例のご案内",
            "marketing",
            product(0),
            "{{ lead.family_name }}様 製造業3社の{{ product.name }}導入事例をお届けします",
            "{% extends \"標準レイアウト\" %}{% block content %}<p>{{ company }}<br>{% if lead.department %}{{ lead.department }}<br>{% endif %}{{ lead.full_name }} 様</p>\n<p>先日は資料をご請求いただき、ありがとうございました。{{ lead.department_class or \"ご担当部門\" }}の皆さまからよくいただくご質問に、導入企業の事例でお答えします。</p>\n<p style=\"text-align:center;margin:24px 0\"><a href=\"https://www.hatake-demo.jp/erp/cases\" style=\"background:#5a7a3a;color:#fff;padding:12px 24px;border-radius:4px;text-decoration:none\">導入事例を読む</a></p>\n<p>製品の詳細は<a href=\"https://www.hatake-demo.jp/erp\">製品ページ</a>をご覧ください。</p>{% endblock %}",
            "",
        ),
        draft(
            "勤怠管理SaaS セミナーのご招待",
            "marketing",
            product(1),
            "【無料オンラインセミナー】{{ lead.family_name }}様 勤怠管理の法改正対応、間に合っていますか",
            "{% extends \"標準レイアウト\" %}{% block content %}<p>{{ company }}<br>{{ lead.full_name }} 様</p>\n<p>人事・総務部門の皆さまを対象に、改正法への対応ポイントを60分で解説するオンラインセミナーを開催します。</p>\n<p><a href=\"https://www.hatake-demo.jp/seminar/kintai?utm_source=newsletter&amp;utm_campaign=seminar\">お申し込みはこちら</a></p>{% endblock %}",
            "",
        ),
        draft(
            "資料請求のお礼",
            "transactional",
            None,
            "資料請求ありがとうございます（株式会社ハタケデモ）",
            "<p>{{ company }}<br>{{ lead.full_name }} 様</p>\n<p>このたびは資料をご請求いただき、ありがとうございます。資料は<a href=\"https://www.hatake-demo.jp/download\">こちら</a>からダウンロードいただけます。</p>\n{% include \"署名\" %}",
            "",
        ),
    ];
    let mut ids = Vec::new();
    for (n, template) in templates.iter().enumerate() {
        let written = now - (60 - i64::try_from(n).unwrap_or(0) * 5) * DAY;
        ids.push(store.create_mail_template(template, marketer, written).await?);
    }
    // Edited since: the newsletter's subject twice, the case study's call to action once.
    let mut newsletter = templates[2].clone();
    newsletter.content.subject =
        "【ハタケデモ通信】{{ today }}号 — {{ lead.family_name }}様へ 基幹システム刷新の進め方".into();
    store.save_mail_template(ids[2], &newsletter, marketer, now - 20 * DAY).await?;
    newsletter.content.subject = "【ハタケデモ通信】{{ lead.family_name }}様 基幹システム刷新、3社の進め方".into();
    store.save_mail_template(ids[2], &newsletter, marketer, now - 6 * DAY).await?;
    let mut cases = templates[3].clone();
    cases.content.html = cases.content.html.replace("導入事例を読む", "3社の導入事例を読む（無料）");
    store.save_mail_template(ids[3], &cases, marketer, now - 9 * DAY).await?;
    seed_segments(store, product_ids, marketer, now).await
}

/// The segments a team keeps for its newsletters: IT departments interested in the ERP, the
/// recently active, the dormant subscribers, and large companies in Tokyo.
async fn seed_segments(store: &dyn Store, product_ids: &[i64], marketer: Option<i64>, now: i64) -> anyhow::Result<()> {
    let erp = product_ids.first().copied().unwrap_or(1);
    let kintai = product_ids.get(1).copied().unwrap_or(erp);
    let segments = [
        (
            "ERP関心・情報システム部門（購読中）",
            "クラウドERPに関心があり、ERPの案内を購読している情報システム・DX推進部門の方",
            format!(
                r#"{{"groups":[{{"conditions":[{{"type":"product","product_id":{erp}}},
                {{"type":"department_class","values":["it","dx"]}},
                {{"type":"subscription","topic":"product:{erp}","status":"subscribed"}}]}}]}}"#
            ),
        ),
        (
            "直近30日に資料を2回以上ダウンロード",
            "検討が進んでいそうな方（インサイドセールスの架電候補）",
            r#"{"groups":[{"conditions":[{"type":"behaviour","kind":"download","days":30,"at_least":2}]}]}"#.to_owned(),
        ),
        (
            "休眠：90日サイト訪問なし（メルマガ購読中）",
            "掘り起こしメールの対象",
            r#"{"groups":[{"conditions":[{"type":"behaviour","kind":"page_view","days":90,"at_least":1,"negate":true},
            {"type":"subscription","topic":"general","status":"subscribed"}]}]}"#
                .to_owned(),
        ),
        (
            "首都圏の大企業（従業員300人以上）",
            "東京・神奈川・千葉・埼玉",
            r#"{"groups":[{"conditions":[{"type":"prefecture","values":["東京都","神奈川県","千葉県","埼玉県"]},
            {"type":"employees","min":300}]}]}"#
                .to_owned(),
        ),
        (
            "勤怠管理：人事・総務（MQL未満）",
            "勤怠管理SaaSのセミナー招待の対象",
            format!(
                r#"{{"groups":[{{"conditions":[{{"type":"department_class","values":["hr","general_affairs"]}},
                {{"type":"stage","product_id":{kintai},"stages":["lead","nurturing"]}}]}}]}}"#
            ),
        ),
    ];
    for (name, description, json) in segments {
        let definition = hatake_domain::segment::Definition::parse(&json)
            .map_err(|e| anyhow::anyhow!("demo segment {name}: {:?}", e.0.first().map(|e| e.message_en.clone())))?;
        store.create_segment(name, description, &definition, marketer, now).await?;
    }
    Ok(())
}

/// A mix from 0 to 99, fixed by its inputs.
fn roll(a: i64, b: i64, salt: u64) -> u64 {
    let mut x = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (b as u64).wrapping_mul(0xD1B5_4A32_D192_ED03) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) % 100
}

/// Sends past newsletters the way the product does — the segment's members chosen and their
/// mail rendered and recorded by the runtime's newsletter worker on a clock set in the past —
/// then plays out what readers did: most mail accepted, some opened and clicked, a few bounces,
/// unsubscribes and a complaint. Also a draft for next month and a scheduled send.
pub async fn seed_newsletters(
    shared: &std::sync::Arc<dyn Store>,
    marketer: Option<i64>,
    now: i64,
) -> anyhow::Result<()> {
    use hatake_engine::runtime::{self, Clock, Context, LeaseState, Next};
    let store = shared.as_ref();
    if store.newsletters(0, 1).await?.1 > 0 {
        return Ok(());
    }
    let templates = store.mail_templates(&hatake_store::TemplateQuery { limit: 100, ..Default::default() }).await?.0;
    let segments = store.segments(false, 0, 100).await?.0;
    let template = |name: &str| templates.iter().find(|t| t.name == name).cloned();
    let segment = |name: &str| segments.iter().find(|s| s.name.starts_with(name)).cloned();
    let (Some(monthly), Some(cases), Some(seminar)) = (
        template("月刊メルマガ（全般）"),
        template("クラウドERP 導入事例のご案内"),
        template("勤怠管理SaaS セミナーのご招待"),
    ) else {
        return Ok(());
    };
    // Members as the runtime would have kept them.
    for s in &segments {
        if let Some(definition) = s.parsed() {
            store.refresh_segment(s.id, &definition, s.version, None, now).await?;
        }
    }
    let sends = [
        ("10月号メルマガ", &monthly, segment("首都圏"), 45, None, 0),
        ("ERP導入事例（情シス向け）", &cases, segment("ERP関心"), 30, None, 0),
        ("11月号メルマガ", &monthly, segment("首都圏"), 16, None, 0),
        (
            "勤怠管理セミナー招待（件名A/Bテスト）",
            &seminar,
            segment("勤怠管理"),
            9,
            Some("【参加無料】{{ lead.family_name }}様 法改正対応を60分で"),
            30,
        ),
    ];
    let zone = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap_or(jiff::tz::TimeZone::UTC);
    // 10:00 in Japan on the day, as a B2B newsletter goes out.
    let at_ten = |days_ago: i64| {
        jiff::Timestamp::from_millisecond(now - days_ago * DAY)
            .ok()
            .and_then(|t| {
                t.to_zoned(zone.clone()).with().hour(10).minute(0).second(0).subsec_nanosecond(0).build().ok()
            })
            .map_or(now - days_ago * DAY, |z| z.timestamp().as_millisecond())
    };
    for (name, template, target, days_ago, variant_subject, sample) in sends {
        let at = at_ten(days_ago);
        let clock = Clock::manual(at);
        let cx = Context::new(shared.clone(), clock.clone(), zone.clone());
        let draft = hatake_store::NewsletterDraft {
            name: name.into(),
            template_id: template.id,
            segment_id: target.as_ref().map(|s| s.id),
            topic: hatake_engine::mail::compose::topic("marketing", template.product_id).unwrap_or_default(),
            variant_template_id: None,
            variant_subject: variant_subject.map(str::to_owned),
            sample_percent: sample,
            ab_metric: "opens".into(),
            ab_wait_hours: 4,
            per_hour: None,
        };
        let id = store.create_newsletter(&draft, marketer, at - DAY).await?;
        store.schedule_newsletter(id, at, "", at - DAY).await?;
        let mut worker = hatake_engine::mail::newsletter::NewsletterWorker;
        let mut lease = LeaseState::default();
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > 10_000 {
                anyhow::bail!("the demo newsletter {name} did not finish");
            }
            if let Some(Next::Again) =
                runtime::step(&mut worker, &cx, &mut lease).await.map_err(|e| anyhow::anyhow!("{e}"))?
            {
                continue;
            }
            let row = store.newsletter(id).await?.ok_or_else(|| anyhow::anyhow!("newsletter {id} is gone"))?;
            if row.status == "testing" {
                // Readers of the sample open B's subject more; the test decides after its wait.
                react(store, &row, at, true).await?;
                clock.advance(std::time::Duration::from_secs(5 * 3_600));
                continue;
            }
            break;
        }
        deliver(store, id, at).await?;
        let row = store.newsletter(id).await?.ok_or_else(|| anyhow::anyhow!("newsletter {id} is gone"))?;
        react(store, &row, at, false).await?;
    }
    // Next month's issue, a draft; and a case-study send scheduled for next week.
    let next = hatake_store::NewsletterDraft {
        name: "12月号メルマガ".into(),
        template_id: monthly.id,
        segment_id: None,
        topic: "general".into(),
        ab_metric: "opens".into(),
        ab_wait_hours: 4,
        ..Default::default()
    };
    store.create_newsletter(&next, marketer, now - DAY).await?;
    let scheduled = hatake_store::NewsletterDraft {
        name: "ERP導入事例 第2弾".into(),
        template_id: cases.id,
        segment_id: segment("ERP関心").map(|s| s.id),
        topic: hatake_engine::mail::compose::topic("marketing", cases.product_id).unwrap_or_default(),
        ab_metric: "opens".into(),
        ab_wait_hours: 4,
        ..Default::default()
    };
    let id = store.create_newsletter(&scheduled, marketer, now - DAY).await?;
    let start = jiff::Timestamp::from_millisecond(now + 7 * DAY)
        .map(|t| t.to_zoned(zone.clone()))
        .ok()
        .and_then(|z| z.with().hour(10).minute(0).second(0).subsec_nanosecond(0).build().ok())
        .map_or(now + 7 * DAY, |z| z.timestamp().as_millisecond());
    store.schedule_newsletter(id, start, "", now).await?;
    Ok(())
}

/// The mail of a send accepted by the receiving servers (the demo has no SMTP server).
async fn deliver(store: &dyn Store, newsletter: i64, at: i64) -> anyhow::Result<()> {
    let holder = format!("demo-{newsletter}");
    loop {
        let rows = store.claim_outbox(hatake_engine::mail::KIND, &holder, at + DAY, at + 2 * DAY, 2_000).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let handed: Vec<(i64, String)> = rows
            .iter()
            .map(|r| (r.id, hatake_engine::mail::message_id(&r.idempotency_key, "news@hatake-demo.jp")))
            .collect();
        let outcomes: Vec<(i64, hatake_store::OutboxOutcome)> = rows
            .iter()
            .map(|r| (r.id, hatake_store::OutboxOutcome::Sent { code: Some(250), detail: Some("2.0.0 OK".into()) }))
            .collect();
        store.write_outbox(&holder, &handed, &outcomes, at + DAY).await?;
    }
}

/// What readers did with a send: opens, clicks on its links, bounces, unsubscribes and a rare
/// complaint. While a test waits (`sample`) only opens and clicks happen (B's subject is opened
/// more); the rest is played out once the send is done.
async fn react(store: &dyn Store, row: &hatake_store::NewsletterRow, at: i64, sample: bool) -> anyhow::Result<()> {
    let mut links: Vec<String> = Vec::new();
    let mut after = 0;
    loop {
        let ids = store.segment_member_ids(row.segment_id.unwrap_or(0), after, 2_000).await?;
        let Some(&last) = ids.last() else { break };
        after = last;
        for lead in ids {
            let Some(outbox) = store.outbox_by_key(&format!("newsletter:{}:lead:{lead}", row.id)).await? else {
                continue;
            };
            let payload: hatake_engine::mail::OutgoingMail = serde_json::from_str(&outbox.payload).unwrap_or_default();
            if links.is_empty() {
                // The send's own links, as its tracked redirects carry them.
                links = payload
                    .text
                    .split("?u=")
                    .skip(1)
                    .filter_map(|rest| {
                        let value: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '）').collect();
                        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("u={value}"))
                            .ok()?
                            .pop()
                            .map(|(_, u)| u)
                    })
                    .collect();
                links.sort();
                links.dedup();
            }
            let is_b = payload.subject.starts_with("【参加無料】");
            let r = roll(row.id, lead, 1);
            let hour = i64::try_from(roll(row.id, lead, 2)).unwrap_or(0) * 3_600_000 / 10;
            let open_rate = if is_b { 38 } else { 24 };
            // The sample's opens decide the test; what else happened is played out once, after.
            if !sample && r < 1 {
                store.mark_recipient(&outbox.idempotency_key, Some("hard"), false, at + hour).await?;
                store.suppress(&outbox.recipient, "hard_bounce", Some("550 5.1.1 user unknown"), 3, at + hour).await?;
                continue;
            }
            if !sample && r < 2 {
                store.mark_recipient(&outbox.idempotency_key, Some("soft"), false, at + hour).await?;
                store.suppress(&outbox.recipient, "soft_bounce", Some("452 4.2.2 mailbox full"), 3, at + hour).await?;
                continue;
            }
            if r < 2 + open_rate {
                store.newsletter_opened(row.id, lead, at + hour).await?;
                if roll(row.id, lead, 3) < 22 && !links.is_empty() {
                    let pick = usize::try_from(roll(row.id, lead, 4)).unwrap_or(0) % links.len();
                    store.newsletter_clicked(row.id, lead, &links[pick], at + hour + 60_000).await?;
                }
            }
            if !sample && roll(row.id, lead, 5) < 1 && roll(row.id, lead, 6) < 40 {
                let change = hatake_store::SubscriptionChange {
                    lead_id: lead,
                    topic: row.topic.clone(),
                    status: "unsubscribed".into(),
                    source: "link".into(),
                    detail: None,
                    by_user: None,
                    at: at + hour + 120_000,
                };
                store.change_subscriptions(&[change]).await?;
            }
            if !sample && roll(row.id, lead, 7) == 0 && roll(row.id, lead, 8) < 10 {
                store.mark_recipient(&outbox.idempotency_key, None, true, at + hour).await?;
                store.suppress(&outbox.recipient, "complaint", Some("迷惑メールとして報告"), 3, at + hour).await?;
            }
        }
    }
    Ok(())
}
