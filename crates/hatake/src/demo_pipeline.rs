//! The demo's sales pipeline, as a team would have worked its inquiries: those of the last ten
//! days wait in the MQL queue (some with a meeting already booked with a rep); older ones were
//! accepted by inside sales within a day or so, then either recycled to nurturing with a reason
//! or opened as an opportunity by a rep (with a first meeting), moved along the pipeline and,
//! when old enough, won or lost. Each move is made through the engine, at its own time in the
//! past, so the history, the deal board and the reports read as a real year does.

use anyhow::Context;
use hatake_engine::qualification::{self, CloseRequest, MoveError, MoveRequest};
use hatake_store::{NewMeeting, Store, StoreError};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Inquiries younger than this still wait for inside sales.
const FRESH: i64 = 10 * DAY;

/// A number in `0..n` fixed by the lead and a salt (the same on every run).
fn roll(lead: i64, salt: u64, n: u64) -> u64 {
    let mut x = (lead as u64) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) % n
}

/// What the demo's pipeline holds, for the summary and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Worked {
    pub accepted: usize,
    pub recycled: usize,
    pub opened: usize,
    pub won: usize,
    pub lost: usize,
    pub meetings: usize,
}

/// Hand-raises each inquiry `(at, lead, product, form)` (oldest first) and works it as
/// described above, every move before the lead's next inquiry for the product.
///
/// # Errors
/// On a database error.
pub async fn work_inquiries(
    store: &dyn Store,
    inquiries: &[(i64, i64, i64, String)],
    now: i64,
    zone: &jiff::tz::TimeZone,
) -> anyhow::Result<Worked> {
    let users = store.list_users().await?;
    let callers: Vec<i64> = users.iter().filter(|u| u.role == "inside_sales").map(|u| u.id).collect();
    let mut worked = Worked::default();
    for (index, (at, lead, product, form)) in inquiries.iter().enumerate() {
        let (at, lead, product) = (*at, *lead, *product);
        qualification::hand_raise(store, lead, product, "form", Some(form), at, zone).await?;
        // Nothing moves after the lead's next inquiry (which is worked in its turn).
        let until = inquiries[index + 1..]
            .iter()
            .find(|(_, l, p, _)| *l == lead && *p == product)
            .map_or(now, |(next, ..)| (*next).min(now));
        let stage = store.lead_stages(&[lead]).await?.into_iter().find(|s| s.product_id == product);
        if stage.as_ref().map(|s| s.stage.as_str()) != Some("mql") {
            continue;
        }
        let reps: Vec<i64> = store.product_reps(product).await?.into_iter().map(|(id, _)| id).collect();
        let pick = |ids: &[i64], salt: u64| ids.get(roll(lead, salt, ids.len().max(1) as u64) as usize).copied();
        if now - at < FRESH {
            // Waiting; four in ten have booked a meeting in the coming two weeks.
            if roll(lead, 1, 10) < 4 {
                if let Some(rep) = pick(&reps, 2) {
                    let starts = next_slot(now, roll(lead, 3, 10) as i64 + 1, 10 + roll(lead, 4, 7) as i64, zone)?;
                    worked.meetings += usize::from(book(store, rep, lead, product, starts, now).await?);
                }
            }
            continue;
        }
        let caller = pick(&callers, 5);
        // Accepted within two days, and always before the next inquiry.
        let accepted_at = (at + 2 * HOUR + roll(lead, 6, 40) as i64 * HOUR).min(at + (until - at) / 2);
        let now = until;
        // One in eight is rejected by inside sales straight away.
        if roll(lead, 7, 8) == 0 {
            let reason = ["info_gathering", "wrong_person", "not_now"][roll(lead, 8, 3) as usize];
            worked.recycled += usize::from(
                step(store, lead, product, "mql", "nurturing", Some(reason), caller, accepted_at, zone).await?,
            );
            continue;
        }
        // Accepted with the hand-over note inside sales writes for the field rep.
        let note = HAND_OVER_NOTES[roll(lead, 12, HAND_OVER_NOTES.len() as u64) as usize];
        let accept = MoveRequest {
            lead_id: lead,
            product_id: product,
            from: "mql".into(),
            to: "sal".into(),
            note: Some(note.to_owned()),
            by: caller,
            ..MoveRequest::default()
        };
        if !moved(qualification::move_lead(store, &accept, accepted_at, zone).await)? {
            continue;
        }
        worked.accepted += 1;
        let next = accepted_at + DAY + roll(lead, 9, 10) as i64 * DAY;
        if next >= now {
            continue;
        }
        // A quarter are not worth a visit after the call.
        if roll(lead, 10, 4) == 0 {
            let reason = ["not_now", "no_budget", "no_response", "info_gathering"][roll(lead, 11, 4) as usize];
            worked.recycled +=
                usize::from(step(store, lead, product, "sal", "nurturing", Some(reason), caller, next, zone).await?);
            continue;
        }
        let Some(rep) = pick(&reps, 12) else { continue };
        let amount = (12 + roll(lead, 13, 280)) * 100_000;
        let close_after = (60 + roll(lead, 14, 150) as i64) * DAY;
        let close_on = qualification::day_of(next + close_after, zone);
        let request = MoveRequest {
            lead_id: lead,
            product_id: product,
            from: "sal".into(),
            to: "opportunity".into(),
            by: Some(rep),
            amount: Some(amount.to_string()),
            expected_close_on: Some(close_on),
            ..MoveRequest::default()
        };
        if !moved(qualification::move_lead(store, &request, next, zone).await)? {
            continue;
        }
        worked.opened += 1;
        worked.meetings += usize::from(book(store, rep, lead, product, next_slot(next, 1, 14, zone)?, next).await?);
        let Some(opportunity) =
            store.lead_opportunities(lead).await?.into_iter().find(|o| o.product_id == product && o.status == "open")
        else {
            continue;
        };
        // Along the pipeline, a stage every three to six weeks, as far as time allows.
        let mut when = next;
        for stage in ["proposal", "approval", "verbal"] {
            when += (21 + roll(lead, 15, 21) as i64) * DAY;
            if when >= now || when >= next + close_after || roll(lead, 16 + stage.len() as u64, 5) == 0 {
                break;
            }
            match qualification::update_opportunity(
                store,
                opportunity.id,
                stage,
                Some(&amount.to_string()),
                None,
                Some(rep),
                when,
            )
            .await
            {
                Ok(()) | Err(MoveError::Invalid(_)) => {}
                Err(MoveError::Store(e)) => return Err(e).context("moving a demo opportunity"),
            }
        }
        let closes_at = next + close_after;
        if closes_at >= now {
            continue;
        }
        let won = roll(lead, 20, 100) < 35;
        let close = CloseRequest {
            won,
            reason: (!won)
                .then(|| ["competitor", "no_budget", "timing", "no_need"][roll(lead, 21, 4) as usize].to_owned()),
            competitor: (!won && roll(lead, 22, 2) == 0)
                .then(|| ["大手ERPベンダーA社", "国産パッケージB社"][roll(lead, 23, 2) as usize].to_owned()),
            // Lost for timing or budget: try again in three to seven months.
            reapproach_on: (!won && roll(lead, 24, 2) == 0)
                .then(|| qualification::day_of(closes_at + (90 + roll(lead, 25, 120) as i64) * DAY, zone)),
            ..CloseRequest::default()
        };
        match qualification::close_opportunity(store, opportunity.id, &close, Some(rep), closes_at).await {
            Ok(()) if won => worked.won += 1,
            Ok(()) => worked.lost += 1,
            Err(MoveError::Invalid(_)) => {}
            Err(MoveError::Store(e)) => return Err(e).context("closing a demo opportunity"),
        }
    }
    Ok(worked)
}

/// What the demo's inside sales did with the first calls the new MQLs got: the rule makes each
/// its call task; about half were called once already — not reached (a call again later today
/// or tomorrow, the caller's own task now) or reached and kept in nurturing — the rest wait in
/// the pool. Returns the calls logged.
///
/// # Errors
/// On a database error.
pub async fn work_calls(store: &dyn Store, now: i64, zone: &jiff::tz::TimeZone) -> anyhow::Result<usize> {
    use hatake_engine::inside_sales::{self, CallInput, TaskRules};
    while TaskRules::run(store, now, zone).await? {}
    let users = store.list_users().await?;
    let callers: Vec<i64> = users.iter().filter(|u| u.role == "inside_sales").map(|u| u.id).collect();
    let query =
        hatake_store::TaskQuery { kind: Some("call".into()), limit: 5_000, ..hatake_store::TaskQuery::default() };
    let tasks = store.tasks(&query).await?;
    let mut lead_ids: Vec<i64> = tasks.iter().map(|t| t.lead_id).collect();
    lead_ids.sort_unstable();
    lead_ids.dedup();
    let mut stages = std::collections::HashMap::new();
    for part in lead_ids.chunks(1_000) {
        for row in store.lead_stages(part).await? {
            stages.insert((row.lead_id, row.product_id), row.since);
        }
    }
    let mut logged = 0;
    for task in tasks {
        let lead = task.lead_id;
        let Some(caller) = callers.get(roll(lead, 30, callers.len().max(1) as u64) as usize).copied() else { break };
        // Called within a day of becoming an MQL (the stage's start; the task itself was made
        // when the rule first ran), over the last three weeks at most.
        let since = stages.get(&(lead, task.product_id.unwrap_or_default())).copied().unwrap_or(task.created_at);
        let at = (since.max(now - 21 * DAY) + (1 + roll(lead, 31, 20) as i64) * HOUR).min(now - HOUR);
        let (outcome, result, recall_at, note) = match roll(lead, 32, 10) {
            0..=2 => (
                ["no_answer", "busy", "absent"][roll(lead, 33, 3) as usize],
                Some("recall"),
                Some(now + (1 + roll(lead, 34, 26) as i64) * HOUR),
                Some(
                    ["午後に再度", "本人は外出中、夕方戻り", "代表番号から内線は不可、直通を確認"]
                        [roll(lead, 35, 3) as usize],
                ),
            ),
            3 => (
                "reception_block",
                Some("recall"),
                Some(now + (20 + roll(lead, 36, 30) as i64) * HOUR),
                Some("受付で「資料を見てから連絡する」とのこと"),
            ),
            4 => {
                ("contact_person", Some("nurture"), None, Some("情報収集段階。半年後に再検討とのこと。メルマガ継続。"))
            }
            5 => ("key_person", Some("nurture"), None, Some("課長と会話。比較検討中で、来月デモを見たいとのこと。")),
            _ => continue,
        };
        // What a conversation taught: the more of the sheet, the longer the talk.
        let hearing: Vec<(String, String)> = if outcome.starts_with("contact") || outcome == "key_person" {
            let items: [(&str, &[&str]); 6] = [
                ("position", &["推進者", "情報収集", "決裁者", "利用者"]),
                (
                    "problem",
                    &[
                        "月次の締め作業に3日かかる",
                        "拠点ごとにExcel管理で集計が遅い",
                        "保守切れが来年3月",
                        "監査対応の証跡が残らない",
                    ],
                ),
                ("timing", &["半年以内", "1年以内", "未定", "3ヶ月以内"]),
                ("stage", &["情報収集", "比較検討中", "稟議中"]),
                ("current_product", &["自社開発システム", "他社パッケージ", "Excelと紙"]),
                ("current_since", &["2012", "2016", "2019"]),
            ];
            let asked = if outcome == "key_person" { 6 } else { 2 + roll(lead, 37, 3) as usize };
            items
                .iter()
                .take(asked)
                .enumerate()
                .map(|(i, (key, choices))| {
                    ((*key).to_owned(), choices[roll(lead, 40 + i as u64, choices.len() as u64) as usize].to_owned())
                })
                .collect()
        } else {
            Vec::new()
        };
        let input = CallInput {
            lead_id: lead,
            product_id: task.product_id,
            outcome: outcome.into(),
            result: result.map(str::to_owned),
            recall_at,
            note: note.map(str::to_owned),
            task_id: Some(task.id),
            hearing,
        };
        match inside_sales::log_call(store, &input, Some(caller), at).await {
            Ok(_) => logged += 1,
            Err(inside_sales::SaveError::Invalid(_)) => {}
            Err(inside_sales::SaveError::Store(e)) => return Err(e).context("logging a demo call"),
        }
    }
    Ok(logged)
}

/// The demo's routing and toss-ups: Kansai and the west to one rep, large companies to
/// another, the rest round the pool by weight; one rep away today, one next week. The leads
/// inside sales reached on a call are passed on with a hand-over note — most accepted, some
/// rejected back to inside sales or to nurturing, the latest still waiting (a few past their
/// deadline and routed on). Returns the toss-ups made.
///
/// # Errors
/// On a database error.
pub async fn work_tossups(store: &dyn Store, now: i64, zone: &jiff::tz::TimeZone) -> anyhow::Result<usize> {
    use hatake_domain::routing::{territory, RepSetting, RoutingConfig, RoutingRule};
    use hatake_engine::routing::{self, Rejection, TossupInput};
    let reps = routing::field_reps(store).await?;
    let [first, second, third, fourth] = reps.as_slice() else { return Ok(0) };
    let west: Vec<String> =
        ["関西", "中国", "四国"].iter().filter_map(|t| territory(t)).flatten().map(str::to_owned).collect();
    let config = RoutingConfig {
        rules: vec![
            RoutingRule {
                name: "西日本".into(), prefectures: west, reps: vec![second.id], ..RoutingRule::default()
            },
            RoutingRule {
                name: "大企業（1,000名以上）".into(),
                min_employees: Some(1_000),
                reps: vec![third.id, first.id],
                ..RoutingRule::default()
            },
        ],
        reps: vec![
            RepSetting { user_id: first.id, weight: 2, cap_day: None, cap_week: None },
            RepSetting { user_id: second.id, weight: 1, cap_day: None, cap_week: None },
            RepSetting { user_id: third.id, weight: 1, cap_day: None, cap_week: Some(15) },
            RepSetting { user_id: fourth.id, weight: 2, cap_day: Some(5), cap_week: None },
        ],
        ..RoutingConfig::default()
    };
    routing::save_config(store, &config, now).await.map_err(|e| anyhow::anyhow!("demo routing: {e}"))?;
    let (today, _, _) = routing::day_and_week(now, zone);
    let day = |offset: i64| qualification::day_of(now + offset * DAY, zone);
    store.add_absence(third.id, &today, &day(1), Some("出張（福岡）"), Some(third.id), now).await?;
    store.add_absence(first.id, &day(7), &day(11), Some("休暇"), Some(first.id), now).await?;
    let users = store.list_users().await?;
    let mut contacts = store.calls_between(now - 7 * DAY, now, 5_000).await?;
    contacts.retain(|c| c.bucket == "contact" && c.product_id.is_some());
    let mut made = 0;
    for call in contacts.iter().take(60) {
        let lead = call.lead_id;
        let Some(product) = call.product_id else { continue };
        let at = (call.at + HOUR).min(now - HOUR);
        let input = TossupInput {
            lead_id: lead,
            product_id: product,
            note: HAND_OVER_NOTES[roll(lead, 50, HAND_OVER_NOTES.len() as u64) as usize].to_owned(),
        };
        let Ok(tossed) = routing::toss_up(store, &input, call.user_id, at, zone).await else { continue };
        made += 1;
        let Some(rep) = tossed.decision.chosen.and_then(|id| users.iter().find(|u| u.id == id)) else { continue };
        let decided_at = at + (2 + roll(lead, 51, 20) as i64) * HOUR;
        if decided_at >= now {
            continue;
        }
        let outcome = match roll(lead, 52, 10) {
            0..=5 => routing::accept(store, tossed.id, rep, decided_at, zone).await,
            6 => {
                let rejection = Rejection {
                    reason: "not_now".into(),
                    note: Some("決裁者が不在のため、来月改めて状況確認してください。".into()),
                    back_to: "inside_sales".into(),
                };
                routing::reject(store, tossed.id, rep, &rejection, decided_at, zone).await
            }
            7 => {
                let rejection = Rejection {
                    reason: "info_gathering".into(),
                    note: Some("情報収集段階。具体的な導入計画はまだない。".into()),
                    back_to: "nurturing".into(),
                };
                routing::reject(store, tossed.id, rep, &rejection, decided_at, zone).await
            }
            // Still waiting (those past the deadline are routed on below).
            _ => Ok(()),
        };
        if let Err(hatake_engine::inside_sales::SaveError::Store(e)) = outcome {
            return Err(e).context("deciding a demo toss-up");
        }
    }
    routing::reroute_overdue(store, now, zone).await?;
    Ok(made)
}

/// The demo's alert rules — a PDF's link followed to a product page, ERP's pricing page twice
/// in a week, an ERP score of 60 — and the alerts the last three days' events raised (each
/// when its event came), the older ones read. Returns the alerts raised.
///
/// # Errors
/// On a database error.
pub async fn work_alerts(store: &dyn Store, now: i64) -> anyhow::Result<usize> {
    use hatake_domain::alerts::{AlertConfig, AlertRule, Trigger};
    let products = store.list_products().await?;
    let Some(erp) = products.iter().find(|p| p.code == "erp") else { return Ok(0) };
    let rule = |id: &str, name: &str, product_id: Option<i64>, trigger: Trigger| AlertRule {
        id: id.into(),
        name: name.into(),
        product_id,
        trigger,
        window_hours: 24,
        mail: true,
        webhook_url: None,
        active: true,
    };
    let event = |url: &str, count: u32| Trigger::Event {
        kind: "page_view".into(),
        url_contains: vec![url.into()],
        name_contains: None,
        tracked_link: false,
        count,
        within_hours: 168,
    };
    let config = AlertConfig {
        rules: vec![
            rule("r1", "PDF内リンクから製品ページを閲覧", None, event("utm_source=pdf", 1)),
            rule("r2", "料金ページを1週間に2回閲覧", Some(erp.id), event("/products/erp/pricing/", 2)),
            rule("r3", "スコア60点到達（クラウドERP）", Some(erp.id), Trigger::Score { threshold: 60 }),
        ],
        pool_mail: Some("is-team@hatake-demo.jp".into()),
        webhook_secret: String::new(),
    };
    let config = hatake_engine::alerts::save_config(store, &config, now)
        .await
        .map_err(|e| anyhow::anyhow!("demo alert rules: {e}"))?;
    // The last three days' events, in the order they happened.
    let last = store.max_event_id().await?;
    let mut recent = Vec::new();
    let mut after = (last - 60_000).max(0);
    loop {
        let events = store.scoring_events_after(after, 5_000).await?;
        let Some(end) = events.last().map(|e| e.id) else { break };
        recent.extend(events.into_iter().filter(|e| e.occurred_at >= now - 3 * DAY && e.occurred_at <= now));
        after = end;
    }
    recent.sort_by_key(|e| (e.occurred_at, e.id));
    let mut visitors: Vec<String> =
        recent.iter().filter(|e| e.lead_id.is_none()).filter_map(|e| e.visitor_id.clone()).collect();
    visitors.sort_unstable();
    visitors.dedup();
    let linked: std::collections::HashMap<String, i64> = store.visitor_lead_ids(&visitors).await?.into_iter().collect();
    let mut made = 0;
    for event in &recent {
        let Some(lead) = event.lead_id.or_else(|| event.visitor_id.as_ref().and_then(|v| linked.get(v).copied()))
        else {
            continue;
        };
        made += hatake_engine::alerts::consider(store, &config, event, lead, event.occurred_at).await?;
    }
    store.put_setting(hatake_engine::alerts::SETTING_CURSOR, &last.to_string(), now).await?;
    // What is older than a day has been looked at.
    let query = hatake_store::AlertQuery {
        owner: hatake_store::AlertFor::Anyone,
        unread_only: true,
        before: None,
        after: None,
        limit: 10_000,
    };
    let read: Vec<i64> = store
        .alerts(&query)
        .await?
        .iter()
        .filter(|a| a.at < now - DAY && roll(a.lead_id, 60, 4) > 0)
        .map(|a| a.id)
        .collect();
    store.mark_alerts_read(hatake_store::AlertFor::Anyone, &read, None, now).await?;
    Ok(made)
}

/// What inside sales tells the field rep when it passes a lead on (one per accepted demo lead).
const HAND_OVER_NOTES: [&str; 8] = [
    "情報システム部の課長。来期の基幹システム刷新を検討中で、予算化は4月の見込み。部長同席での訪問を希望。",
    "現行システムの保守切れが来年3月。比較検討中で他社2社と商談中。価格と導入期間を重視。",
    "総務部長と電話。勤怠の締め作業に毎月3日かかっており、まずはデモを見たいとのこと。",
    "資料請求後に折り返し。導入時期は未定だが、経営会議で年内に方向性を決める予定。",
    "展示会で名刺交換済み。担当者は前向き、決裁者は事業部長。訪問日程の候補を3つもらった。",
    "セキュリティ監査の指摘対応で急いでいる。来月中に見積が欲しい。",
    "子会社3社を含めた導入を検討。まずは本社の情シスで評価したいとのこと。",
    "予算は確保済み。現場の入力負担を減らしたいという要望が強い。オンライン商談を希望。",
];

/// Moves a lead; whether it moved (a move the lead's stage no longer allows is skipped).
#[allow(clippy::too_many_arguments)]
async fn step(
    store: &dyn Store,
    lead: i64,
    product: i64,
    from: &str,
    to: &str,
    reason: Option<&str>,
    by: Option<i64>,
    at: i64,
    zone: &jiff::tz::TimeZone,
) -> anyhow::Result<bool> {
    let request = MoveRequest {
        lead_id: lead,
        product_id: product,
        from: from.into(),
        to: to.into(),
        reason: reason.map(str::to_owned),
        by,
        ..MoveRequest::default()
    };
    moved(qualification::move_lead(store, &request, at, zone).await)
}

fn moved(result: Result<i64, MoveError>) -> anyhow::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(MoveError::Invalid(_) | MoveError::Store(StoreError::Conflict { .. })) => Ok(false),
        Err(MoveError::Store(e)) => Err(e).context("moving a demo lead"),
    }
}

/// The start of an hour-long slot `days` weekdays after `from`, at `hour` o'clock in `zone`.
fn next_slot(from: i64, days: i64, hour: i64, zone: &jiff::tz::TimeZone) -> anyhow::Result<i64> {
    let mut day = jiff::Timestamp::from_millisecond(from)?.to_zoned(zone.clone()).date();
    let mut left = days;
    while left > 0 {
        day = day.tomorrow()?;
        if !matches!(day.weekday(), jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday) {
            left -= 1;
        }
    }
    let at = day.at(i8::try_from(hour.clamp(0, 23))?, 0, 0, 0).to_zoned(zone.clone())?;
    Ok(at.timestamp().as_millisecond())
}

/// Books an hour with `rep`; whether it was booked (a slot already taken is skipped).
async fn book(store: &dyn Store, rep: i64, lead: i64, product: i64, starts_at: i64, now: i64) -> anyhow::Result<bool> {
    let meeting = NewMeeting {
        user_id: rep,
        lead_id: Some(lead),
        product_id: Some(product),
        form_id: None,
        submission_id: None,
        starts_at,
        ends_at: starts_at + HOUR,
    };
    match store.book_meeting(&meeting, now).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e).context("booking a demo meeting"),
    }
}
