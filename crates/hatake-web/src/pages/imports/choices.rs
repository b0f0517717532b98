//! The choices of the mapping step (encoding, a field per column, source, product) as a form
//! posts them, and checking them: every problem names its field, `mapping[i]` for a column.

use hatake_csv::{Mapping, TextEncoding};
use hatake_domain::{FieldError, FieldErrors};
use hatake_store::ProductRow;
use std::collections::BTreeMap;

/// The longest source label accepted.
const MAX_SOURCE_CHARS: usize = 200;

/// The choices of the mapping step as posted (or carried back from the preview in a link).
#[derive(Debug, Default, Clone)]
pub(super) struct Choices {
    /// An encoding key; blank means "as detected".
    pub(super) encoding: String,
    /// One field key per column ("" for none); `None` means "as guessed".
    pub(super) mapping: Option<Vec<String>>,
    pub(super) source: String,
    pub(super) product: String,
    /// The event to record for each person (all blank: none).
    pub(super) event_kind: String,
    pub(super) event_name: String,
    pub(super) event_date: String,
    /// Mail topics to subscribe everyone to (`general`, `product:{id}`).
    pub(super) subscribe: Vec<String>,
}

impl Choices {
    pub(super) fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default();
        let mapping: Vec<String> = pairs.iter().filter(|(k, _)| k == "mapping").map(|(_, v)| v.clone()).collect();
        Self {
            encoding: get("encoding"),
            mapping: (!mapping.is_empty()).then_some(mapping),
            source: get("source"),
            product: get("product"),
            event_kind: get("event_kind"),
            event_name: get("event_name"),
            event_date: get("event_date"),
            subscribe: pairs.iter().filter(|(k, _)| k == "subscribe").map(|(_, v)| v.clone()).collect(),
        }
    }

    /// The choices as a query string, for the link from the preview back to the mapping.
    pub(super) fn query(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("encoding", &self.encoding),
            ("source", &self.source),
            ("product", &self.product),
            ("event_kind", &self.event_kind),
            ("event_name", &self.event_name),
            ("event_date", &self.event_date),
        ];
        for key in self.mapping.iter().flatten() {
            pairs.push(("mapping", key));
        }
        for topic in &self.subscribe {
            pairs.push(("subscribe", topic));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// The choices, checked.
#[derive(Debug)]
pub(super) struct Settled {
    pub(super) encoding: Option<TextEncoding>,
    pub(super) mapping: Option<Mapping>,
    pub(super) source: Option<String>,
    pub(super) product_id: Option<i64>,
    pub(super) event: Option<hatake_domain::event::OfflineEvent>,
    pub(super) subscribe: Vec<String>,
}

/// Checks the choices; every problem names its field (`mapping[i]` for a column).
pub(super) fn settle(
    choices: &Choices,
    products: &[ProductRow],
    zone: &jiff::tz::TimeZone,
) -> Result<Settled, FieldErrors> {
    let mut errors = FieldErrors::default();
    let encoding = match choices.encoding.trim() {
        "" => None,
        key => TextEncoding::parse(key).map_err(|e| errors.push(e)).ok(),
    };
    let mapping = choices.mapping.as_ref().and_then(|keys| {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        Mapping::parse_keys(&keys).map_err(|e| errors.0.extend(e.0)).ok()
    });
    let source = hatake_domain::text::nfkc_trim(&choices.source);
    if source.chars().count() > MAX_SOURCE_CHARS {
        errors.push(FieldError::too_long("source", MAX_SOURCE_CHARS));
    }
    let product_id = match choices.product.trim() {
        "" => None,
        text => {
            let id = text.parse::<i64>().ok().filter(|id| products.iter().any(|p| p.id == *id));
            if id.is_none() {
                errors.push(FieldError::new(
                    "product",
                    "unknown_product",
                    "選ばれた商材がありません。",
                    "There is no such product.",
                ));
            }
            id
        }
    };
    let event =
        hatake_domain::event::parse_offline_event(&choices.event_kind, &choices.event_name, &choices.event_date, zone)
            .map_err(|e| errors.0.extend(e.0))
            .ok()
            .flatten();
    let mut subscribe = Vec::new();
    for topic in &choices.subscribe {
        let known = topic == hatake_store::TOPIC_GENERAL
            || products.iter().any(|p| hatake_store::product_topic(p.id) == *topic);
        if known {
            if !subscribe.contains(topic) {
                subscribe.push(topic.clone());
            }
        } else {
            errors.push(FieldError::new(
                "subscribe",
                "unknown_topic",
                "選ばれた配信の種類がありません。",
                "There is no such mail topic.",
            ));
        }
    }
    errors.into_result(|| Settled {
        encoding,
        mapping,
        source: (!source.is_empty()).then_some(source),
        product_id,
        event,
        subscribe,
    })
}

/// The per-column errors (`mapping[i]`) by column index.
pub(super) fn column_errors(errors: &FieldErrors, locale: &str) -> BTreeMap<usize, String> {
    let mut map = BTreeMap::new();
    for error in &errors.0 {
        let index = error.field.strip_prefix("mapping[").and_then(|rest| rest.strip_suffix(']'));
        if let Some(index) = index.and_then(|i| i.parse().ok()) {
            map.entry(index).or_insert_with(|| error.message(locale).to_owned());
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn product(id: i64) -> ProductRow {
        ProductRow {
            id,
            code: "erp".into(),
            name: "ERP".into(),
            description: None,
            active: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn choices_are_checked_field_by_field() {
        let good = Choices::from_pairs(&pairs(&[
            ("encoding", "shift_jis"),
            ("mapping", "company_name"),
            ("mapping", ""),
            ("mapping", "email"),
            ("source", " 展示会2026 "),
            ("product", "3"),
        ]));
        let settled = settle(&good, &[product(3)], &jiff::tz::TimeZone::UTC).expect("valid");
        assert_eq!(settled.encoding, Some(TextEncoding::ShiftJis));
        assert_eq!(settled.mapping.expect("mapping").keys(), ["company_name", "", "email"]);
        assert_eq!((settled.source.as_deref(), settled.product_id), (Some("展示会2026"), Some(3)));

        // Each kind of bad choice is named: an unknown encoding, an unknown field, a field
        // mapped twice (on the later column), a product that does not exist.
        let bad = Choices::from_pairs(&pairs(&[
            ("encoding", "ebcdic"),
            ("mapping", "email"),
            ("mapping", "nonsense"),
            ("mapping", "email"),
            ("product", "9"),
        ]));
        let errors = settle(&bad, &[product(3)], &jiff::tz::TimeZone::UTC).expect_err("invalid");
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["encoding", "mapping[1]", "mapping[2]", "product"]);
        let by_column = column_errors(&errors, "en");
        assert!(by_column[&2].contains("column 1 and column 3"), "{by_column:?}");

        // Blank means "as detected", "as guessed", no source, no product.
        let blank = settle(&Choices::default(), &[], &jiff::tz::TimeZone::UTC).expect("valid");
        assert!(blank.encoding.is_none() && blank.mapping.is_none() && blank.source.is_none());
    }

    #[test]
    fn the_link_back_carries_the_choices() {
        let choices = Choices::from_pairs(&pairs(&[
            ("encoding", "utf-8"),
            ("mapping", "email"),
            ("mapping", ""),
            ("source", "展示会"),
            ("event_name", "展示会"),
        ]));
        assert_eq!(
            choices.query(),
            "encoding=utf-8&source=%E5%B1%95%E7%A4%BA%E4%BC%9A&product=&event_kind=\
             &event_name=%E5%B1%95%E7%A4%BA%E4%BC%9A&event_date=&mapping=email&mapping="
        );
        assert_eq!(Choices::from_pairs(&pairs(&[])).mapping, None);
    }
}
