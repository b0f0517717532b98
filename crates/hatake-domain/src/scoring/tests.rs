use super::fold::{glob_match, AwardStatus, Compiled, RuleRef, ScoreEvent, ScoreState};
use super::*;
use proptest::prelude::*;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn event(id: i64, kind: EventKind, day: i64, properties: &'static str) -> ScoreEvent<'static> {
    ScoreEvent { id, kind, occurred_at: T0 + day * DAY_MS, name: None, properties }
}

#[test]
fn globs() {
    for (pattern, text, expected) in [
        ("*/pricing*", "https://example.jp/pricing?x=1", true),
        ("*/pricing*", "https://example.jp/erp/pricing", true),
        ("*/pricing*", "https://example.jp/price", false),
        ("https://example.jp/*", "https://example.jp/", true),
        ("https://example.jp/", "https://example.jp/a", false),
        ("*", "", true),
        ("a*b*c", "abc", true),
        ("a*b*c", "acb", false),
        ("a*a", "a", false),
        ("セミナー*", "セミナー2026秋", true),
    ] {
        assert_eq!(glob_match(pattern, text), expected, "{pattern} ~ {text}");
    }
}

#[test]
fn the_template_is_valid_and_scores_the_classic_way() {
    let model = ScoringModel::template();
    model.check(&[]).unwrap();
    let compiled = Compiled::new(model);
    let mut events = vec![
        event(1, EventKind::MailOpen, 0, "{}"),
        event(2, EventKind::Download, 1, "{}"),
        event(3, EventKind::PageView, 1, r#"{"url":"https://example.jp/top"}"#),
        // Same day: the site visit is capped at one a day, the pricing page counts.
        event(4, EventKind::PageView, 1, r#"{"url":"https://example.jp/pricing"}"#),
        event(5, EventKind::SeminarAttendance, 2, "{}"),
    ];
    let explanation = compiled.explain(&mut events, T0 + 3 * DAY_MS);
    assert_eq!(explanation.engagement, 50);
    let capped: Vec<_> = explanation.awards.iter().filter(|a| a.status == AwardStatus::Capped).collect();
    assert_eq!(capped.len(), 1);
    assert_eq!(capped[0].event_id, Some(4));
    // Half a year later with no mail reaction: −30, once; the next change is none.
    let state = compiled.fold_all(&mut events).unwrap();
    let later = compiled.score_at(&state, T0 + 181 * DAY_MS);
    assert_eq!(later.engagement, 20);
    assert_eq!(later.next_change_at, None);
    let before = compiled.score_at(&state, T0 + 179 * DAY_MS);
    assert_eq!(before.engagement, 50);
    assert_eq!(before.next_change_at, Some(T0 + 180 * DAY_MS));
}

fn rule(id: &str, kind: EventKind, points: i64) -> EngagementRule {
    EngagementRule { id: id.into(), kind: kind.as_str().into(), points, ..Default::default() }
}

#[test]
fn caps_expiry_and_decay() {
    let model = ScoringModel {
        engagement: vec![
            EngagementRule { cap: Some(Cap { times: 2, days: 10 }), ..rule("dl", EventKind::Download, 5) },
            EngagementRule { expires_days: Some(30), ..rule("visit", EventKind::PageView, 3) },
        ],
        decay: vec![DecayRule {
            id: "quiet".into(),
            kinds: vec!["download".into()],
            days: 20,
            points: -4,
            repeat: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    model.check(&[]).unwrap();
    let c = Compiled::new(model);
    let mut events = vec![
        event(1, EventKind::Download, 0, "{}"),
        event(2, EventKind::Download, 1, "{}"),
        event(3, EventKind::Download, 2, "{}"),  // capped: 2 in (−8, 2]
        event(4, EventKind::Download, 10, "{}"), // day 0 left the window (0, 10]: counts
        event(5, EventKind::PageView, 10, "{}"),
    ];
    let state = c.fold_all(&mut events).unwrap();
    assert_eq!(c.score_at(&state, T0 + 11 * DAY_MS).engagement, 15 + 3);
    // The visit expires at day 40; the decay fires at days 30, 50, 70 … (from the last download).
    let s = c.score_at(&state, T0 + 35 * DAY_MS);
    assert_eq!(s.engagement, 15 + 3 - 4);
    assert_eq!(s.next_change_at, Some(T0 + 40 * DAY_MS));
    assert_eq!(c.score_at(&state, T0 + 40 * DAY_MS).engagement, 15 - 4);
    assert_eq!(c.score_at(&state, T0 + 75 * DAY_MS).engagement, 15 - 12);
    // A download at day 80 keeps the penalties given and restarts the clock.
    let mut more = events.clone();
    more.push(event(6, EventKind::Download, 80, "{}"));
    let state = c.fold_all(&mut more).unwrap();
    assert_eq!(c.score_at(&state, T0 + 81 * DAY_MS).engagement, 20 - 12);
    let explanation = c.explain(&mut more, T0 + 81 * DAY_MS);
    let penalties = explanation.awards.iter().filter(|a| matches!(a.rule, RuleRef::Decay(0))).count();
    assert_eq!(penalties, 3);
    assert_eq!(explanation.engagement, 8);
    assert!(explanation.awards.iter().any(|a| a.status == AwardStatus::Expired && a.event_id == Some(5)));
}

/// The floor rule: a lead that never earned a point for the product pays no silence penalty;
/// a penalty takes at most what the lead has (and its explanation says what it took); a model
/// may allow negative scores.
#[test]
fn silence_costs_only_the_engaged_and_never_goes_below_zero() {
    let model = ScoringModel {
        engagement: vec![rule("dl", EventKind::Download, 10), rule("unsub", EventKind::Custom, -15)],
        decay: vec![DecayRule {
            id: "quiet".into(),
            kinds: vec!["download".into(), "page_view".into()],
            days: 30,
            points: -30,
            ..Default::default()
        }],
        ..Default::default()
    };
    model.check(&[]).unwrap();
    let c = Compiled::new(model.clone());
    // Only visits that earn nothing: a year later, no penalty.
    let mut untouched = vec![event(1, EventKind::PageView, 0, "{}"), event(2, EventKind::PageView, 5, "{}")];
    let state = c.fold_all(&mut untouched).unwrap();
    assert_eq!(c.score_at(&state, T0 + 365 * DAY_MS).engagement, 0);
    assert_eq!(c.score_at(&state, T0 + 365 * DAY_MS).next_change_at, None, "nothing will change by time alone");
    // One download (+10), then silence: −30 takes the 10 only.
    let mut engaged = vec![event(1, EventKind::PageView, 0, "{}"), event(2, EventKind::Download, 10, "{}")];
    let state = c.fold_all(&mut engaged).unwrap();
    assert_eq!(c.score_at(&state, T0 + 39 * DAY_MS).engagement, 10);
    assert_eq!(c.score_at(&state, T0 + 41 * DAY_MS).engagement, 0, "the clock started at the download");
    let explanation = c.explain(&mut engaged, T0 + 41 * DAY_MS);
    let penalty = explanation.awards.iter().find(|a| matches!(a.rule, RuleRef::Decay(0))).unwrap();
    assert_eq!(penalty.points, -10, "the penalty took what there was");
    // Points earned later count in full.
    engaged.push(event(3, EventKind::Download, 50, "{}"));
    let state = c.fold_all(&mut engaged).unwrap();
    assert_eq!(c.score_at(&state, T0 + 51 * DAY_MS).engagement, 10);
    // A negative rule also stops at zero.
    let mut unsubscribed = vec![event(1, EventKind::Download, 0, "{}"), event(2, EventKind::Custom, 1, "{}")];
    let state = c.fold_all(&mut unsubscribed).unwrap();
    assert_eq!(c.score_at(&state, T0 + 2 * DAY_MS).engagement, 0);
    // A model that allows negative scores keeps them.
    let negative = Compiled::new(ScoringModel { allow_negative: true, ..model });
    let state = negative.fold_all(&mut unsubscribed).unwrap();
    assert_eq!(negative.score_at(&state, T0 + 2 * DAY_MS).engagement, -5);
    assert_eq!(negative.score_at(&state, T0 + 40 * DAY_MS).engagement, -35);
}

#[test]
fn conditions() {
    let model = ScoringModel {
        engagement: vec![
            EngagementRule { url: Some("*/ERP/*".into()), ..rule("erp", EventKind::PageView, 1) },
            EngagementRule { form: Some(7), ..rule("form", EventKind::FormSubmit, 2) },
            EngagementRule { campaign: Some("Autumn".into()), ..rule("camp", EventKind::MailClick, 4) },
            EngagementRule {
                property: Some(PropertyMatch { key: "asset".into(), value: "wp-1".into() }),
                ..rule("asset", EventKind::Download, 8)
            },
            EngagementRule { name: Some("*DX*".into()), ..rule("seminar", EventKind::SeminarAttendance, 16) },
        ],
        ..Default::default()
    };
    model.check(&[]).unwrap();
    let c = Compiled::new(model);
    let m = |kind, name: Option<&'static str>, properties: &'static str| {
        c.matches(&ScoreEvent { id: 1, kind, occurred_at: T0, name, properties }).engagement
    };
    assert_eq!(m(EventKind::PageView, None, r#"{"url":"https://x.jp/erp/a"}"#), 1);
    assert_eq!(m(EventKind::PageView, None, r#"{"url":"https://x.jp/crm/a"}"#), 0);
    assert_eq!(m(EventKind::PageView, None, "{}"), 0);
    assert_eq!(m(EventKind::PageView, None, "not json"), 0);
    assert_eq!(m(EventKind::FormSubmit, None, r#"{"form_id":7}"#), 2);
    assert_eq!(m(EventKind::FormSubmit, None, r#"{"form_id":8}"#), 0);
    assert_eq!(m(EventKind::MailClick, None, r#"{"utm_campaign":"autumn"}"#), 4);
    assert_eq!(m(EventKind::MailClick, None, r#"{"campaign":"AUTUMN"}"#), 4);
    assert_eq!(m(EventKind::Download, None, r#"{"asset":"wp-1"}"#), 8);
    assert_eq!(m(EventKind::Download, None, r#"{"asset":"wp-2"}"#), 0);
    assert_eq!(m(EventKind::SeminarAttendance, Some("製造業DXセミナー"), "{}"), 16);
    assert_eq!(m(EventKind::SeminarAttendance, None, "{}"), 0);
    assert!(c.in_scope(None, 1));
    assert!(c.in_scope(Some(1), 1));
    assert!(!c.in_scope(Some(2), 1));
}

#[test]
fn fit_rules() {
    let model = ScoringModel {
        fit: vec![
            FitRule {
                id: "big".into(),
                field: "employee_count".into(),
                min: Some(300),
                points: 10,
                ..Default::default()
            },
            FitRule {
                id: "mfg".into(),
                field: "industry".into(),
                equals: vec!["製造業".into()],
                points: 5,
                ..Default::default()
            },
            FitRule {
                id: "boss".into(),
                field: "title".into(),
                contains: vec!["部長".into(), "Manager".into()],
                points: 7,
                ..Default::default()
            },
            FitRule {
                id: "budget".into(),
                field: "custom.budget".into(),
                equals: vec!["1000万円以上".into()],
                points: 3,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    model.check(&["budget"]).unwrap();
    let custom: Map<String, Value> = serde_json::from_str(r#"{"budget":"1000万円以上"}"#).unwrap();
    let subject = FitSubject {
        industry: Some("製造業"),
        employee_count: Some(300),
        title: Some("情報システム部 部長"),
        custom: Some(&custom),
        ..Default::default()
    };
    assert_eq!(model.fit(&subject).0, 25);
    let other = FitSubject { employee_count: Some(299), title: Some("sales MANAGER"), ..Default::default() };
    assert_eq!(model.fit(&other).0, 7);
    assert_eq!(model.fit(&FitSubject::default()).0, 0);
}

#[test]
fn rollups() {
    let scores = [10, 50, 30, 20];
    assert_eq!(AccountRollup { method: RollupMethod::Sum, top: None }.roll_up(&scores), 110);
    assert_eq!(AccountRollup { method: RollupMethod::Max, top: None }.roll_up(&scores), 50);
    assert_eq!(AccountRollup { method: RollupMethod::Top, top: Some(2) }.roll_up(&scores), 80);
    assert_eq!(AccountRollup { method: RollupMethod::Max, top: None }.roll_up(&[]), 0);
}

#[test]
fn every_bad_model_is_named_by_field() {
    let model = ScoringModel {
        engagement: vec![
            EngagementRule { id: "Bad Id".into(), kind: "visit".into(), points: 0, ..Default::default() },
            EngagementRule {
                id: "a".into(),
                kind: "page_view".into(),
                form: Some(1),
                points: 5,
                cap: Some(Cap { times: 0, days: 0 }),
                expires_days: Some(9_999),
                url: Some("  ".into()),
                ..Default::default()
            },
        ],
        decay: vec![DecayRule { id: "a".into(), kinds: vec![], days: 10, points: -5, ..Default::default() }],
        fit: vec![
            FitRule { id: "f".into(), field: "shoe_size".into(), points: 1, ..Default::default() },
            FitRule {
                id: "g".into(),
                field: "title".into(),
                min: Some(5),
                max: Some(1),
                points: 1,
                ..Default::default()
            },
            FitRule {
                id: "h".into(),
                field: "custom.nothing".into(),
                equals: vec!["x".into()],
                points: 1,
                ..Default::default()
            },
        ],
        account: AccountRollup { method: RollupMethod::Sum, top: Some(3) },
        ..Default::default()
    };
    let errors = model.check(&[]).unwrap_err();
    let got: Vec<(String, &str)> = errors.0.iter().map(|e| (e.field.clone(), e.code)).collect();
    let want = [
        ("engagement[0].id", "invalid_rule_id"),
        ("engagement[0].kind", "unknown_kind"),
        ("engagement[0].points", "invalid_points"),
        ("engagement[1].url", "blank"),
        ("engagement[1].form", "form_needs_form_submit"),
        ("engagement[1].cap.times", "invalid_times"),
        ("engagement[1].cap.days", "invalid_days"),
        ("engagement[1].expires_days", "invalid_days"),
        ("decay[0].id", "duplicate_rule_id"),
        ("decay[0].kinds", "required"),
        ("fit[0].field", "unknown_fit_field"),
        ("fit[0].equals", "one_test"),
        ("fit[1].min", "not_numeric"),
        ("fit[1].max", "max_below_min"),
        ("fit[2].field", "unknown_custom_field"),
        ("account.top", "top_needs_method_top"),
    ];
    let want: Vec<(String, &str)> = want.iter().map(|(f, c)| ((*f).to_owned(), *c)).collect();
    assert_eq!(got, want);
    assert!(errors.0.iter().all(|e| !e.message_ja.is_empty() && !e.message_en.is_empty()));
}

#[test]
fn yaml_round_trip_and_lines() {
    let model = ScoringModel::template();
    let yaml = model.to_yaml();
    assert_eq!(ScoringModel::from_yaml(&yaml, &[]).unwrap(), model);
    assert!(yaml.contains("pricing-page"), "{yaml}");

    let text = "engagement:\n- id: a\n  kind: page_view\n  points: 5\n- id: b\n  kind: download\n  points: 0\n  cap:\n    times: 2\n    days: 0\ndecay: []\naccount:\n  method: max\n  top: 2\n";
    let errors = ScoringModel::from_yaml(text, &[]).unwrap_err();
    let lines: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.message_en.as_str())).collect();
    assert!(lines[0].0 == "engagement[1].points" && lines[0].1.starts_with("Line 7 "), "{lines:?}");
    assert!(lines[1].0 == "engagement[1].cap.days" && lines[1].1.starts_with("Line 10 "), "{lines:?}");
    assert!(lines[2].0 == "account.top" && lines[2].1.starts_with("Line 14 "), "{lines:?}");
    assert!(errors.0[0].message_ja.starts_with("7行目"));

    // Syntax and shape errors come from the parser with its line.
    let errors = ScoringModel::from_yaml("engagement:\n- id: a\n  kind: page_view\n  points: ten\n", &[]).unwrap_err();
    assert_eq!(errors.0[0].code, "invalid_yaml");
    assert!(errors.0[0].message_en.starts_with("Line 4"), "{}", errors.0[0].message_en);
    let errors = ScoringModel::from_yaml("engagement:\n- id: a\n  kind: page_view\n  pointz: 1\n", &[]).unwrap_err();
    assert!(errors.0[0].message_en.contains("pointz"), "{}", errors.0[0].message_en);
    let errors = ScoringModel::from_yaml("engagement: [\n", &[]).unwrap_err();
    assert_eq!(errors.0[0].code, "invalid_yaml");
}

#[test]
fn yaml_lines_of_paths() {
    let text = "# comment\nengagement:\n  - id: a\n    points: 1\n  - id: b\n    cap:\n      days: 3\nfit:\n- id: f\n  equals:\n  - x\n  - y\n";
    for (path, line) in [
        ("engagement", Some(2)),
        ("engagement[0].id", Some(3)),
        ("engagement[1].id", Some(5)),
        ("engagement[1].cap.days", Some(7)),
        ("engagement[1].points", Some(5)),
        ("engagement[5].points", Some(2)),
        ("fit[0].equals[1]", Some(12)),
        ("decay[0].id", None),
    ] {
        assert_eq!(yaml_line(text, path), line, "{path}");
    }
}

#[test]
fn states_survive_encoding_and_refuse_another_shape() {
    let c = Compiled::new(ScoringModel::template());
    let mut events = vec![event(1, EventKind::MailOpen, 0, "{}"), event(2, EventKind::PageView, 0, "{}")];
    let state = c.fold_all(&mut events).unwrap();
    assert_eq!(ScoreState::decode(&state.encode(), &c), Some(state.clone()));
    assert_eq!(ScoreState::last_at_of(&state.encode()), Some(state.last_at));
    let other = Compiled::new(ScoringModel::default());
    assert_eq!(ScoreState::decode(&state.encode(), &other), None);
    assert_eq!(ScoreState::decode(&[], &c), None);
    let bytes = state.encode();
    for cut in 1..bytes.len() {
        assert_eq!(ScoreState::decode(&bytes[..cut], &c), None, "cut at {cut}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(ScoreState::decode(&longer, &c), None);
}

/// The first stored form (every number as 8 little-endian bytes), as migration 12 wrote it.
fn fixed_form(state: &ScoreState) -> Vec<u8> {
    let mut numbers = vec![state.last_at, state.last_id, state.first_at, state.base, state.caps.len() as i64];
    for hits in &state.caps {
        numbers.push(hits.len() as i64);
        numbers.extend(hits);
    }
    numbers.push(state.expiring.len() as i64);
    numbers.extend(state.expiring.iter().flat_map(|(at, points)| [*at, *points]));
    numbers.push(state.decay.len() as i64);
    numbers.extend(state.decay.iter().flat_map(|(at, n)| [*at, i64::from(*n)]));
    let mut out = vec![1u8];
    numbers.iter().for_each(|n| out.extend_from_slice(&n.to_le_bytes()));
    out
}

#[test]
fn states_stored_in_the_first_form_are_still_read_and_the_compact_form_is_smaller() {
    let c = Compiled::new(ScoringModel::template());
    let mut events: Vec<_> = (0..40)
        .map(|i| event(i + 1, if i % 3 == 0 { EventKind::MailOpen } else { EventKind::PageView }, i * 3, "{}"))
        .collect();
    let state = c.fold_all(&mut events).unwrap();
    let old = fixed_form(&state);
    assert_eq!(ScoreState::decode(&old, &c), Some(state.clone()));
    assert_eq!(ScoreState::last_at_of(&old), Some(state.last_at));
    let compact = state.encode();
    assert!(compact.len() * 2 < old.len(), "{} bytes against {}", compact.len(), old.len());
    // Extreme values survive the varints and the time differences.
    let extreme = ScoreState {
        last_at: i64::MIN,
        last_id: i64::MAX,
        first_at: i64::MAX,
        base: i64::MIN,
        caps: state.caps.iter().map(|_| vec![i64::MAX, 0, i64::MIN]).collect(),
        expiring: vec![(i64::MAX, i64::MIN), (-1, 1)],
        decay: state.decay.iter().map(|_| (i64::MIN, u32::MAX)).collect(),
    };
    assert_eq!(ScoreState::decode(&extreme.encode(), &c), Some(extreme.clone()));
    assert_eq!(ScoreState::decode(&fixed_form(&extreme), &c), Some(extreme));
}

#[test]
fn an_earlier_event_is_refused_by_apply() {
    let c = Compiled::new(ScoringModel::template());
    let mut state = None;
    assert!(c.apply(&mut state, 5, T0, Default::default(), None));
    assert!(!c.apply(&mut state, 4, T0, Default::default(), None));
    assert!(!c.apply(&mut state, 5, T0, Default::default(), None));
    assert!(c.apply(&mut state, 3, T0 + 1, Default::default(), None));
}

// --- Property: incremental scoring equals a full recomputation. ---

const KINDS: [EventKind; 4] = [EventKind::PageView, EventKind::Download, EventKind::MailOpen, EventKind::Custom];

fn kind_strategy() -> impl Strategy<Value = EventKind> {
    (0..KINDS.len()).prop_map(|i| KINDS[i])
}

fn model_strategy() -> impl Strategy<Value = ScoringModel> {
    let engagement = (
        kind_strategy(),
        -20i64..30,
        proptest::option::of((1u32..4, 1u32..20)),
        proptest::option::of(1u32..40),
        proptest::bool::ANY,
    )
        .prop_map(|(kind, points, cap, expires, url)| EngagementRule {
            id: String::new(),
            kind: kind.as_str().into(),
            url: (url && kind == EventKind::PageView).then(|| "*/a*".into()),
            points: if points == 0 { 1 } else { points },
            cap: cap.map(|(times, days)| Cap { times, days }),
            // Negative points cannot expire unless the model allows negative scores.
            expires_days: expires.filter(|_| points > 0),
            ..Default::default()
        });
    let decay = (proptest::collection::vec(kind_strategy(), 1..3), 1u32..60, -20i64..-1, proptest::bool::ANY).prop_map(
        |(kinds, days, points, repeat)| DecayRule {
            id: String::new(),
            kinds: kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            days,
            points,
            repeat,
            ..Default::default()
        },
    );
    (proptest::collection::vec(engagement, 0..6), proptest::collection::vec(decay, 0..3), proptest::bool::ANY).prop_map(
        |(mut engagement, mut decay, allow_negative)| {
            for (i, rule) in engagement.iter_mut().enumerate() {
                rule.id = format!("e{i}");
            }
            for (i, rule) in decay.iter_mut().enumerate() {
                rule.id = format!("d{i}");
            }
            ScoringModel { engagement, decay, allow_negative, ..Default::default() }
        },
    )
}

#[derive(Debug, Clone)]
struct Arrival {
    kind: EventKind,
    /// Hours after T0 (events may arrive out of time order).
    hour: i64,
    url_a: bool,
    /// Look at the score this many hours after the latest event seen so far.
    look: Option<i64>,
    /// Store and reload the state (encode/decode) before folding.
    reload: bool,
}

fn arrivals() -> impl Strategy<Value = Vec<Arrival>> {
    proptest::collection::vec(
        (
            kind_strategy(),
            0i64..24 * 200,
            proptest::bool::ANY,
            proptest::option::of(0i64..24 * 400),
            proptest::bool::ANY,
        )
            .prop_map(|(kind, hour, url_a, look, reload)| Arrival { kind, hour, url_a, look, reload }),
        0..60,
    )
}

fn props(url_a: bool) -> &'static str {
    if url_a {
        r#"{"url":"https://x.jp/a/1"}"#
    } else {
        r#"{"url":"https://x.jp/b"}"#
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]
    #[test]
    fn incremental_equals_full_recomputation(model in model_strategy(), arrivals in arrivals(), in_order in proptest::bool::ANY) {
        prop_assert!(model.check(&[]).is_ok());
        let c = Compiled::new(model);
        let mut arrivals = arrivals;
        if in_order {
            arrivals.sort_by_key(|a| a.hour);
        }
        let mut seen: Vec<ScoreEvent<'static>> = Vec::new();
        let mut state: Option<ScoreState> = None;
        let mut latest = T0;
        for (i, arrival) in arrivals.iter().enumerate() {
            let event = ScoreEvent {
                id: i as i64 + 1,
                kind: arrival.kind,
                occurred_at: T0 + arrival.hour * 3_600_000,
                name: None,
                properties: props(arrival.url_a),
            };
            seen.push(event);
            latest = latest.max(event.occurred_at);
            if arrival.reload {
                if let Some(s) = &state {
                    state = ScoreState::decode(&s.encode(), &c);
                    prop_assert!(state.is_some());
                }
            }
            // The incremental step: fold onto the stored state, or fold the lead again.
            if !c.apply(&mut state, event.id, event.occurred_at, c.matches(&event), None) {
                state = c.fold_all(&mut seen.clone());
            }
            let full = c.fold_all(&mut seen.clone());
            prop_assert_eq!(&state, &full);
            if let Some(look) = arrival.look {
                let now = latest + look * 3_600_000;
                let s = state.as_ref().unwrap();
                let score = c.score_at(s, now);
                let explained = c.explain(&mut seen.clone(), now);
                prop_assert_eq!(score.engagement, explained.engagement);
                prop_assert_eq!(score.next_change_at, explained.next_change_at);
                let counted: i64 = explained
                    .awards
                    .iter()
                    .filter(|a| a.status == AwardStatus::Counted)
                    .map(|a| a.points)
                    .sum();
                prop_assert_eq!(counted, score.engagement);
                if !c.model.allow_negative {
                    prop_assert!(score.engagement >= 0, "never below zero: {}", score.engagement);
                }
                // Nothing changes before the next change, and something may at it.
                if let Some(next) = score.next_change_at {
                    prop_assert!(next > now);
                    prop_assert_eq!(c.score_at(s, next - 1).engagement, score.engagement);
                }
            }
        }
    }
}
