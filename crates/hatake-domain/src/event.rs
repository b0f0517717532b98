//! Behaviour events: what a lead, or a visitor not known yet, did — a page view, a download, a
//! form sent, a mail opened or clicked, a seminar or exhibition, a call or a meeting. Events
//! are appended to the event log and never changed; what is derived from them (scores,
//! statuses) can be recomputed from the log.

use crate::{Email, FieldError, FieldErrors};
use serde::Deserialize;

/// The kinds of event the log knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    PageView,
    Download,
    FormSubmit,
    MailOpen,
    MailClick,
    SeminarRegistration,
    SeminarAttendance,
    ExhibitionVisit,
    Call,
    Meeting,
    /// Anything else, named by the event's `name`.
    Custom,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::PageView,
        EventKind::Download,
        EventKind::FormSubmit,
        EventKind::MailOpen,
        EventKind::MailClick,
        EventKind::SeminarRegistration,
        EventKind::SeminarAttendance,
        EventKind::ExhibitionVisit,
        EventKind::Call,
        EventKind::Meeting,
        EventKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PageView => "page_view",
            EventKind::Download => "download",
            EventKind::FormSubmit => "form_submit",
            EventKind::MailOpen => "mail_open",
            EventKind::MailClick => "mail_click",
            EventKind::SeminarRegistration => "seminar_registration",
            EventKind::SeminarAttendance => "seminar_attendance",
            EventKind::ExhibitionVisit => "exhibition_visit",
            EventKind::Call => "call",
            EventKind::Meeting => "meeting",
            EventKind::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            EventKind::PageView => "ページ閲覧",
            EventKind::Download => "資料ダウンロード",
            EventKind::FormSubmit => "フォーム送信",
            EventKind::MailOpen => "メール開封",
            EventKind::MailClick => "メールクリック",
            EventKind::SeminarRegistration => "セミナー申込",
            EventKind::SeminarAttendance => "セミナー参加",
            EventKind::ExhibitionVisit => "展示会来場",
            EventKind::Call => "電話",
            EventKind::Meeting => "商談",
            EventKind::Custom => "その他",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            EventKind::PageView => "Page view",
            EventKind::Download => "Download",
            EventKind::FormSubmit => "Form submission",
            EventKind::MailOpen => "Mail opened",
            EventKind::MailClick => "Mail clicked",
            EventKind::SeminarRegistration => "Seminar registration",
            EventKind::SeminarAttendance => "Seminar attendance",
            EventKind::ExhibitionVisit => "Exhibition visit",
            EventKind::Call => "Call",
            EventKind::Meeting => "Meeting",
            EventKind::Custom => "Other",
        }
    }
}

/// Longest idempotency key, source, custom name and visitor id accepted.
pub const MAX_KEY_CHARS: usize = 200;
pub const MAX_SOURCE_CHARS: usize = 200;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_VISITOR_CHARS: usize = 64;
/// Largest `properties` object, as JSON text.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// How far in the future an event may be said to have happened (clocks drift; a day more is a
/// mistake, such as a local time sent as UTC the wrong way round).
pub const MAX_FUTURE_MS: i64 = 24 * 60 * 60 * 1000;

/// An event as a client sends it (the API's JSON, a row of an offline list).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    pub kind: Option<String>,
    /// The lead, by id …
    pub lead_id: Option<i64>,
    /// … or by e-mail address (the person must be stored already).
    pub email: Option<String>,
    /// The anonymous visitor id of web tracking: alone when the visitor is not known yet.
    pub visitor_id: Option<String>,
    pub product_id: Option<i64>,
    /// RFC 3339 (`2026-11-22T10:00:00+09:00`); the time it was received when missing.
    pub occurred_at: Option<String>,
    pub source: Option<String>,
    /// What happened, for `custom` events (required there).
    pub name: Option<String>,
    /// URL, referrer, UTM parameters, campaign …: one JSON object.
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// The client's key for this event: an event sent again with the same key is taken once.
    pub idempotency_key: Option<String>,
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSubject {
    Lead(i64),
    Email(Email),
    Visitor(String),
}

/// A validated event, not stored yet.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    pub kind: EventKind,
    pub subject: EventSubject,
    /// A visitor id sent with a lead or e-mail (the visitor who identified).
    pub visitor_id: Option<String>,
    pub product_id: Option<i64>,
    /// Milliseconds since the epoch, UTC.
    pub occurred_at: i64,
    pub source: Option<String>,
    pub name: Option<String>,
    /// A JSON object.
    pub properties: String,
    pub idempotency_key: Option<String>,
}

fn error(field: &str, code: &'static str, ja: &str, en: &str) -> FieldError {
    FieldError::new(field, code, ja, en)
}

fn text(value: Option<&String>, field: &str, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.map(|v| v.trim()).filter(|v| !v.is_empty())?;
    if value.chars().count() > max {
        errors.push(error(
            field,
            "too_long",
            &format!("{max}文字以内で入力してください。"),
            &format!("At most {max} characters."),
        ));
        return None;
    }
    Some(value.to_owned())
}

/// Whether a visitor id is one web tracking could have made: letters, digits, `-` and `_`.
pub fn is_visitor_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_VISITOR_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl EventInput {
    /// Checks every field; `now` (ms) fills a missing time and bounds a future one.
    ///
    /// # Errors
    /// Every problem found, each with its field.
    pub fn validate(&self, now: i64) -> Result<EventData, FieldErrors> {
        let mut errors = Vec::new();
        let kind = match self.kind.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(error("kind", "required", "種類を指定してください。", "Give the event's kind."));
                None
            }
            Some(kind) => {
                let parsed = EventKind::parse(kind);
                if parsed.is_none() {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    errors.push(error(
                        "kind",
                        "unknown_event_kind",
                        &format!("種類「{kind}」はありません（{}）。", known.join(", ")),
                        &format!("There is no event kind \"{kind}\" (one of {}).", known.join(", ")),
                    ));
                }
                parsed
            }
        };
        let visitor_id = match self.visitor_id.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(id) if is_visitor_id(id) => Some(id.to_owned()),
            Some(_) => {
                errors.push(error(
                    "visitor_id",
                    "invalid_visitor_id",
                    &format!("訪問者IDは英数字・-・_ の{MAX_VISITOR_CHARS}文字以内です。"),
                    &format!("A visitor id is up to {MAX_VISITOR_CHARS} letters, digits, - or _."),
                ));
                None
            }
            None => None,
        };
        let email = match self.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(text) => match Email::parse_field(text, "email") {
                Ok(email) => Some(email),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        if self.lead_id.is_some() && self.email.as_deref().is_some_and(|e| !e.trim().is_empty()) {
            errors.push(error(
                "email",
                "ambiguous_subject",
                "lead_id と email はどちらか一方だけを指定してください。",
                "Give either lead_id or email, not both.",
            ));
        }
        let subject = match (self.lead_id, email, &visitor_id) {
            (Some(id), _, _) if id > 0 => Some(EventSubject::Lead(id)),
            (Some(_), _, _) => {
                errors.push(error(
                    "lead_id",
                    "invalid_id",
                    "lead_id が正しくありません。",
                    "lead_id must be positive.",
                ));
                None
            }
            (None, Some(email), _) => Some(EventSubject::Email(email)),
            (None, None, Some(visitor)) => Some(EventSubject::Visitor(visitor.clone())),
            (None, None, None) => {
                if !errors.iter().any(|e| e.field == "email" || e.field == "visitor_id") {
                    errors.push(error(
                        "lead_id",
                        "subject_required",
                        "lead_id、email、visitor_id のいずれかで誰の行動かを指定してください。",
                        "Say whose event it is: lead_id, email or visitor_id.",
                    ));
                }
                None
            }
        };
        if self.product_id.is_some_and(|id| id <= 0) {
            errors.push(error(
                "product_id",
                "invalid_id",
                "product_id が正しくありません。",
                "product_id must be positive.",
            ));
        }
        let occurred_at = match self.occurred_at.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Some(now),
            Some(t) => match t.parse::<jiff::Timestamp>() {
                Ok(at) if at.as_millisecond() > now + MAX_FUTURE_MS => {
                    errors.push(error(
                        "occurred_at",
                        "in_the_future",
                        "発生日時が未来です（時差の指定を確認してください）。",
                        "occurred_at is in the future (check the time zone offset).",
                    ));
                    None
                }
                Ok(at) => Some(at.as_millisecond()),
                Err(_) => {
                    errors.push(error(
                        "occurred_at",
                        "invalid_time",
                        &format!("発生日時「{t}」は RFC 3339 形式（例 2026-11-22T10:00:00+09:00）で指定してください。"),
                        &format!("occurred_at \"{t}\" is not RFC 3339 (e.g. 2026-11-22T10:00:00+09:00)."),
                    ));
                    None
                }
            },
        };
        let source = text(self.source.as_ref(), "source", MAX_SOURCE_CHARS, &mut errors);
        let name = text(self.name.as_ref(), "name", MAX_NAME_CHARS, &mut errors);
        if kind == Some(EventKind::Custom) && name.is_none() && !errors.iter().any(|e| e.field == "name") {
            errors.push(error(
                "name",
                "required",
                "custom の行動には name（何が起きたか）が必要です。",
                "A custom event needs a name (what happened).",
            ));
        }
        let properties = serde_json::Value::Object(self.properties.clone().unwrap_or_default()).to_string();
        if properties.len() > MAX_PROPERTIES_BYTES {
            errors.push(error(
                "properties",
                "too_large",
                &format!("properties は {MAX_PROPERTIES_BYTES} バイト以内にしてください。"),
                &format!("properties may hold at most {MAX_PROPERTIES_BYTES} bytes of JSON."),
            ));
        }
        let idempotency_key = text(self.idempotency_key.as_ref(), "idempotency_key", MAX_KEY_CHARS, &mut errors);
        match (kind, subject, occurred_at) {
            (Some(kind), Some(subject), Some(occurred_at)) if errors.is_empty() => Ok(EventData {
                kind,
                visitor_id: if matches!(subject, EventSubject::Visitor(_)) { None } else { visitor_id },
                subject,
                product_id: self.product_id,
                occurred_at,
                source,
                name,
                properties,
                idempotency_key,
            }),
            _ => Err(FieldErrors(errors)),
        }
    }
}

/// The kinds a list of people can record (a seminar's attendance list, an exhibition's scans, a
/// call list …); web and mail behaviour comes from tracking, not from files.
pub const OFFLINE_KINDS: [EventKind; 7] = [
    EventKind::SeminarRegistration,
    EventKind::SeminarAttendance,
    EventKind::ExhibitionVisit,
    EventKind::Call,
    EventKind::Meeting,
    EventKind::Download,
    EventKind::Custom,
];

/// What an imported list records for each of its people: an event of one kind, name and day
/// (a seminar's attendance list: seminar attendance, "DX推進セミナー 2026秋", 2026-11-20).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct OfflineEvent {
    pub kind: String,
    pub name: String,
    /// When it happened, ms since the epoch.
    pub occurred_at: i64,
}

/// Checks an offline event as typed: kind, name, and a day (`2026-11-20`, `2026/11/20`, with an
/// optional `14:00`) read in `zone`. All blank: none.
///
/// # Errors
/// Each problem by field (`event_kind`, `event_name`, `event_date`).
pub fn parse_offline_event(
    kind: &str,
    name: &str,
    date: &str,
    zone: &jiff::tz::TimeZone,
) -> Result<Option<OfflineEvent>, FieldErrors> {
    let (kind, name, date) = (kind.trim(), crate::text::nfkc_trim(name), crate::text::nfkc_trim(date));
    if kind.is_empty() && name.is_empty() && date.is_empty() {
        return Ok(None);
    }
    let mut errors = FieldErrors::default();
    let parsed = EventKind::parse(kind).filter(|k| OFFLINE_KINDS.contains(k));
    if parsed.is_none() {
        errors.push(FieldError::new(
            "event_kind",
            "unknown_kind",
            "記録する行動の種類を選んでください。",
            "Choose the kind of event to record.",
        ));
    }
    if name.is_empty() {
        errors.push(FieldError::new(
            "event_name",
            "required",
            "行動の名前（セミナー名・展示会名など）を入力してください。",
            "Name the event (the seminar, the exhibition …).",
        ));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::too_long("event_name", MAX_NAME_CHARS));
    }
    let text = date.replace('/', "-");
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M", &text).or_else(|_| {
        jiff::civil::Date::strptime("%Y-%m-%d", &text).map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    let occurred_at = match civil.ok().and_then(|c| c.to_zoned(zone.clone()).ok()) {
        Some(zoned) => zoned.timestamp().as_millisecond(),
        None => {
            errors.push(FieldError::new(
                "event_date",
                "invalid_date",
                format!("日付は 2026-11-20 の形で入力してください（時刻 14:00 は任意）: {date}"),
                format!("Write the day as 2026-11-20 (a time such as 14:00 is optional): {date}"),
            ));
            0
        }
    };
    errors.into_result(|| {
        Some(OfflineEvent { kind: parsed.map(EventKind::as_str).unwrap_or_default().to_owned(), name, occurred_at })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_events_are_checked_by_field() {
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        let ok =
            parse_offline_event("seminar_attendance", " DXセミナー ", "2026/11/20 14:00", &tokyo).unwrap().unwrap();
        assert_eq!(ok.kind, "seminar_attendance");
        assert_eq!(ok.name, "DXセミナー");
        assert_eq!(ok.occurred_at, "2026-11-20T05:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        let day = parse_offline_event("exhibition_visit", "展示会", "2026-11-20", &tokyo).unwrap().unwrap();
        assert_eq!(day.occurred_at, "2026-11-19T15:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        assert_eq!(parse_offline_event("", " ", "", &tokyo), Ok(None), "nothing asked, nothing recorded");
        let errors = parse_offline_event("page_view", "", "20 Nov", &tokyo).unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(got, [("event_kind", "unknown_kind"), ("event_name", "required"), ("event_date", "invalid_date")]);
    }

    // 2026-11-22T12:00:00Z
    const NOW: i64 = 1_795_348_800_000;

    fn input(json: serde_json::Value) -> EventInput {
        serde_json::from_value(json).expect("input")
    }

    #[test]
    fn kinds_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert!(!kind.label_ja().is_empty() && !kind.label_en().is_empty());
        }
        assert_eq!(EventKind::parse("pageview"), None);
    }

    #[test]
    fn valid_events() {
        let event = input(serde_json::json!({
            "kind": "page_view", "lead_id": 7, "occurred_at": "2026-11-22T10:00:00+09:00",
            "properties": {"url": "https://example.jp/p", "utm_source": "mail"}, "idempotency_key": "k1",
            "visitor_id": "v-1"
        }))
        .validate(NOW)
        .expect("valid");
        assert_eq!(event.subject, EventSubject::Lead(7));
        assert_eq!(event.occurred_at, "2026-11-22T01:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond());
        assert_eq!(event.visitor_id.as_deref(), Some("v-1"));
        assert!(event.properties.contains("utm_source"));
        let by_mail =
            input(serde_json::json!({"kind": "mail_open", "email": " Taro@Example.JP "})).validate(NOW).unwrap();
        assert_eq!(by_mail.occurred_at, NOW, "received time when missing");
        assert!(matches!(by_mail.subject, EventSubject::Email(_)));
        let anonymous =
            input(serde_json::json!({"kind": "download", "visitor_id": "abc_DEF-123"})).validate(NOW).unwrap();
        assert_eq!(anonymous.subject, EventSubject::Visitor("abc_DEF-123".into()));
        assert_eq!(anonymous.visitor_id, None);
        assert_eq!(anonymous.properties, "{}");
    }

    #[test]
    fn each_kind_of_bad_input_names_its_field() {
        let cases: Vec<(serde_json::Value, &[(&str, &str)])> = vec![
            (serde_json::json!({"lead_id": 1}), &[("kind", "required")]),
            (serde_json::json!({"kind": "pageview", "lead_id": 1}), &[("kind", "unknown_event_kind")]),
            (serde_json::json!({"kind": "call"}), &[("lead_id", "subject_required")]),
            (serde_json::json!({"kind": "call", "lead_id": 1, "email": "a@b.jp"}), &[("email", "ambiguous_subject")]),
            (serde_json::json!({"kind": "call", "lead_id": 0}), &[("lead_id", "invalid_id")]),
            (serde_json::json!({"kind": "call", "email": "not-a-mail"}), &[("email", "invalid_email")]),
            (serde_json::json!({"kind": "call", "visitor_id": "a b"}), &[("visitor_id", "invalid_visitor_id")]),
            (serde_json::json!({"kind": "call", "lead_id": 1, "product_id": -1}), &[("product_id", "invalid_id")]),
            (
                serde_json::json!({"kind": "call", "lead_id": 1, "occurred_at": "2026/11/22"}),
                &[("occurred_at", "invalid_time")],
            ),
            (
                serde_json::json!({"kind": "call", "lead_id": 1, "occurred_at": "2030-01-01T00:00:00Z"}),
                &[("occurred_at", "in_the_future")],
            ),
            (serde_json::json!({"kind": "custom", "lead_id": 1}), &[("name", "required")]),
            (
                serde_json::json!({"kind": "call", "lead_id": 1, "idempotency_key": "k".repeat(201)}),
                &[("idempotency_key", "too_long")],
            ),
            (
                serde_json::json!({"kind": "call", "lead_id": 1, "properties": {"x": "y".repeat(20_000)}}),
                &[("properties", "too_large")],
            ),
            (serde_json::json!({"kind": "nope"}), &[("kind", "unknown_event_kind"), ("lead_id", "subject_required")]),
        ];
        for (json, expected) in cases {
            let errors = input(json.clone()).validate(NOW).expect_err(&json.to_string()).0;
            let got: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
            assert_eq!(got, expected, "{json}");
            assert!(errors.iter().all(|e| !e.message_ja.is_empty() && !e.message_en.is_empty()));
        }
        // Unknown fields are refused by the reader.
        assert!(serde_json::from_value::<EventInput>(serde_json::json!({"kind": "call", "lead": 1})).is_err());
    }
}
