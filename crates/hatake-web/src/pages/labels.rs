//! What stored keys and values are called on a page: an event's source (`form:erp-inquiry` →
//! フォーム「…」), its properties (`caller` → 架電者, `result=callback` → 折り返し依頼, a time in
//! milliseconds → a date), in the user's language. Keys nobody needs to read (ids of the
//! records behind an event) are left out; a key or value hatake does not know is shown as sent
//! (user-defined names stay as typed).

use std::collections::HashMap;

/// Forms by slug and by id, and products by id: names for what an event refers to.
#[derive(Debug, Default)]
pub struct Names {
    pub forms_by_slug: HashMap<String, String>,
    pub forms_by_id: HashMap<i64, String>,
    pub products: HashMap<i64, String>,
    /// Custom lead fields by key: (Japanese label, English label).
    pub custom_fields: HashMap<String, (String, String)>,
}

impl Names {
    /// The forms and products of the organisation.
    ///
    /// # Errors
    /// A store error.
    pub async fn load(store: &dyn hatake_store::Store) -> Result<Self, hatake_store::StoreError> {
        let forms = store.list_forms().await?;
        Ok(Self {
            forms_by_slug: forms.iter().map(|f| (f.slug.clone(), f.name.clone())).collect(),
            forms_by_id: forms.into_iter().map(|f| (f.id, f.name)).collect(),
            products: store.list_products().await?.into_iter().map(|p| (p.id, p.name)).collect(),
            custom_fields: store
                .list_custom_fields()
                .await?
                .into_iter()
                .map(|f| (f.key, (f.label_ja, f.label_en)))
                .collect(),
        })
    }
}

fn say(locale: &str, ja: &str, en: &str) -> String {
    if locale == "en" { en } else { ja }.to_owned()
}

impl Names {
    /// A custom field's label in the user's language (`custom.timing` or `timing` → 導入時期);
    /// `None` for a key that is not a custom field.
    pub fn custom_label(&self, key: &str, locale: &str) -> Option<String> {
        let key = key.strip_prefix("custom.").unwrap_or(key);
        self.custom_fields.get(key).map(|(ja, en)| if locale == "en" { en.clone() } else { ja.clone() })
    }
}

/// An event's or a record's source in words.
pub fn source_label(source: &str, names: &Names, locale: &str) -> String {
    if let Some(slug) = source.strip_prefix("form:") {
        let name = names.forms_by_slug.get(slug).map_or(slug, String::as_str);
        return if locale == "en" { format!("Form “{name}”") } else { format!("フォーム「{name}」") };
    }
    if let Some(id) = source.strip_prefix("import:") {
        return if locale == "en" { format!("Import #{id}") } else { format!("取り込み #{id}") };
    }
    match source {
        "web" => say(locale, "Webサイト", "Website"),
        "mail" => say(locale, "メール", "Mail"),
        "seminar" => say(locale, "セミナー", "Seminar"),
        "exhibition" => say(locale, "展示会", "Exhibition"),
        "inside_sales" => say(locale, "インサイドセールス", "Inside sales"),
        "sales" => say(locale, "営業", "Sales"),
        "booking" => say(locale, "商談予約", "Meeting booking"),
        "tracking" => say(locale, "Webトラッキング", "Web tracking"),
        "api" => say(locale, "API", "API"),
        other => other.to_owned(),
    }
}

/// One property as a page shows it: its label, its value, and whether the value is a time
/// (milliseconds, to be formatted in the organisation's zone).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Property {
    pub label: String,
    pub value: String,
    pub time: Option<i64>,
}

/// An event's properties in words, in a stable order (known keys first); ids of records
/// behind the event are left out.
pub fn properties(json: &str, names: &Names, locale: &str) -> Vec<Property> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    // Keys in the order a person reads them (a meeting's start before its end), then the rest.
    let mut keys: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    keys.sort_by_key(|(key, _)| READING_ORDER.iter().position(|k| k == key).unwrap_or(READING_ORDER.len()));
    let mut out = Vec::new();
    for (key, value) in keys {
        if matches!(key.as_str(), "meeting_id" | "rep_id" | "form_version" | "submission_id" | "import_id" | "line") {
            continue;
        }
        if key == "answers" {
            if let Some(answers) = value.as_object() {
                for (answer, text) in answers {
                    let label = if answer == "message" {
                        say(locale, "お問い合わせ内容", "Message")
                    } else {
                        answer.clone()
                    };
                    out.push(Property { label, value: text_of(text), time: None });
                }
            }
            continue;
        }
        let label = match key.strip_prefix("custom.") {
            Some(_) => names.custom_label(key, locale).unwrap_or_else(|| key.clone()),
            None => property_label(key, locale),
        };
        let (value, time) = property_value(key, value, names, locale);
        out.push(Property { label, value, time });
    }
    out
}

/// Keys shown first, in this order.
const READING_ORDER: &[&str] =
    &["subject", "title", "url", "caller", "result", "rep", "format", "status", "starts_at", "ends_at", "session_at"];

/// A field's value as a page shows it: product ids of a consent by their names, a number with
/// separators, a yes/no in words.
pub fn field_value(key: &str, value: &serde_json::Value, names: &Names, locale: &str) -> String {
    property_value(key, value, names, locale).0
}

fn text_of(value: &serde_json::Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// A stored value as a page shows it: a whole number with thousands separators (5,000,000,
/// also when it was stored as 5000000.0), a yes/no in words, text as typed.
pub fn value_text(value: &serde_json::Value, locale: &str) -> String {
    match value {
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => crate::render::format_number(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => crate::render::format_number(f as i64),
            _ => n.to_string(),
        },
        serde_json::Value::Bool(b) => say(locale, if *b { "はい" } else { "いいえ" }, if *b { "Yes" } else { "No" }),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| value_text(v, locale))
            .collect::<Vec<_>>()
            .join(if locale == "en" { ", " } else { "、" }),
        other => text_of(other),
    }
}

fn property_label(key: &str, locale: &str) -> String {
    let (ja, en) = match key {
        "url" => ("URL", "URL"),
        "title" => ("ページ名", "Page title"),
        "referrer" => ("参照元", "Referrer"),
        "utm_source" => ("流入元", "Source"),
        "utm_medium" => ("メディア", "Medium"),
        "utm_campaign" => ("キャンペーン", "Campaign"),
        "utm_term" => ("キーワード", "Term"),
        "utm_content" => ("広告内容", "Content"),
        "asset" => ("資料", "Asset"),
        "file" => ("ファイル", "File"),
        "subject" => ("件名", "Subject"),
        "campaign" => ("キャンペーン", "Campaign"),
        "booth" => ("ブース", "Booth"),
        "scanned" => ("取得方法", "Captured by"),
        "format" => ("形式", "Format"),
        "session_at" => ("開催日時", "Held at"),
        "caller" => ("架電者", "Caller"),
        "result" => ("結果", "Result"),
        "rep" => ("担当営業", "Rep"),
        "status" => ("状態", "Status"),
        "starts_at" => ("開始", "Starts"),
        "ends_at" => ("終了", "Ends"),
        "booked_via" => ("予約経路", "Booked via"),
        "form_id" => ("フォーム", "Form"),
        "consents" => ("メール配信の同意", "Mail consent"),
        "privacy_consent" => ("個人情報の取扱いへの同意", "Consent to the handling of personal information"),
        "visitor" => ("訪問者", "Visitor"),
        "link" => ("トラッキングリンク", "Tracked link"),
        other => return other.to_owned(),
    };
    say(locale, ja, en)
}

fn property_value(key: &str, value: &serde_json::Value, names: &Names, locale: &str) -> (String, Option<i64>) {
    let text = text_of(value);
    if key.ends_with("_at") {
        if let Some(millis) = value.as_i64() {
            return (text, Some(millis));
        }
    }
    let word = |ja: &str, en: &str| say(locale, ja, en);
    let shown = match (key, text.as_str()) {
        ("result", "connected") => word("通話", "Connected"),
        ("result", "no_answer") => word("不在", "No answer"),
        ("result", "callback") => word("折り返し依頼", "Call back"),
        ("result", "appointment") => word("アポ獲得", "Appointment"),
        ("status", "held") => word("実施済", "Held"),
        ("status", "booked") => word("予約済", "Booked"),
        ("status", "cancelled") => word("キャンセル", "Cancelled"),
        ("format", "online") => word("オンライン", "Online"),
        ("format", "visit") => word("訪問", "Visit"),
        ("booked_via", "form") => word("フォーム", "Form"),
        ("form_id", id) => {
            id.parse::<i64>().ok().and_then(|id| names.forms_by_id.get(&id).cloned()).unwrap_or(text.clone())
        }
        ("consents", _) => {
            let products: Vec<String> = value
                .as_array()
                .map(|ids| {
                    ids.iter()
                        .filter_map(serde_json::Value::as_i64)
                        .map(|id| names.products.get(&id).cloned().unwrap_or_else(|| format!("#{id}")))
                        .collect()
                })
                .unwrap_or_default();
            if products.is_empty() {
                word("なし", "None")
            } else {
                products.join(if locale == "en" { ", " } else { "・" })
            }
        }
        _ => value_text(value, locale),
    };
    (shown, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_properties_in_words() {
        let mut names = Names::default();
        names.forms_by_slug.insert("erp-inquiry".into(), "ERPお問い合わせ".into());
        names.forms_by_id.insert(3, "ERPお問い合わせ".into());
        names.products.insert(1, "クラウドERP".into());
        assert_eq!(source_label("form:erp-inquiry", &names, "ja"), "フォーム「ERPお問い合わせ」");
        assert_eq!(source_label("import:12", &names, "en"), "Import #12");
        assert_eq!(source_label("inside_sales", &names, "ja"), "インサイドセールス");
        assert_eq!(source_label("展示会2026", &names, "ja"), "展示会2026", "a name of the user's stays as typed");
        let shown = properties(
            r#"{"caller":"内田","result":"callback","session_at":1791435600000,"meeting_id":4,"form_id":3,"consents":[1],"answers":{"message":"デモ希望"}}"#,
            &names,
            "ja",
        );
        let find = |label: &str| shown.iter().find(|p| p.label == label).cloned();
        assert_eq!(find("結果").map(|p| p.value), Some("折り返し依頼".into()));
        assert_eq!(find("開催日時").and_then(|p| p.time), Some(1_791_435_600_000));
        assert_eq!(find("フォーム").map(|p| p.value), Some("ERPお問い合わせ".into()));
        assert_eq!(find("メール配信の同意").map(|p| p.value), Some("クラウドERP".into()));
        assert_eq!(find("お問い合わせ内容").map(|p| p.value), Some("デモ希望".into()));
        assert!(shown.iter().all(|p| !p.label.contains("meeting_id") && !p.label.contains('_')), "{shown:?}");
        assert_eq!(value_text(&serde_json::json!(5_000_000.0), "ja"), "5,000,000");
        assert_eq!(value_text(&serde_json::json!(-1234), "ja"), "-1,234");
        assert_eq!(value_text(&serde_json::json!(2.5), "ja"), "2.5");
        assert_eq!(value_text(&serde_json::json!("未定"), "ja"), "未定");
    }

    #[test]
    fn custom_fields_consent_and_reading_order() {
        let mut names = Names::default();
        names.custom_fields.insert("timing".into(), ("導入時期".into(), "Timing".into()));
        let shown = properties(
            r#"{"ends_at":1791439200000,"starts_at":1791435600000,"custom.timing":"半年以内","privacy_consent":true}"#,
            &names,
            "ja",
        );
        let labels: Vec<&str> = shown.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels[..2], ["開始", "終了"], "a meeting's start is read before its end: {labels:?}");
        assert!(shown.iter().any(|p| p.label == "導入時期" && p.value == "半年以内"), "{shown:?}");
        assert!(shown.iter().any(|p| p.label == "個人情報の取扱いへの同意" && p.value == "はい"), "{shown:?}");
        assert_eq!(value_text(&serde_json::json!(["A", "B"]), "ja"), "A、B");
        assert_eq!(names.custom_label("custom.timing", "en").as_deref(), Some("Timing"));
        assert_eq!(names.custom_label("unknown", "ja"), None);
    }
}
