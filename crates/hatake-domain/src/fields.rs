//! Small parsers for optional text and number fields, shared by accounts, leads and products.

use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors};

/// Optional free text, trimmed and NFKC-normalised, at most `max` characters.
pub fn optional_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let text = nfkc_trim(value?);
    if text.is_empty() {
        return None;
    }
    if text.chars().count() > max {
        errors.push(FieldError::too_long(field, max));
        return None;
    }
    Some(text)
}

/// Optional text a person defines and expects to see as typed (a product's or a form's name,
/// a label): trimmed, runs of white space made one space, nothing else changed (NFKC would turn
/// ＥＲＰ into ERP and ㈱ into (株)).
pub fn text_as_typed(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let text = value?.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return None;
    }
    if text.chars().count() > max {
        errors.push(FieldError::too_long(field, max));
        return None;
    }
    Some(text)
}

/// Required free text.
pub fn required_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> String {
    match optional_text(errors, field, value, max) {
        Some(text) => text,
        None => {
            if errors.get(field).is_none() {
                errors.push(FieldError::required(field));
            }
            String::new()
        }
    }
}

/// An optional non-negative whole number.
pub fn optional_count(errors: &mut FieldErrors, field: &str, value: Option<i64>) -> Option<i64> {
    let number = value?;
    if number < 0 {
        errors.push(FieldError::new(
            field,
            "negative_number",
            "0以上の数値を入力してください。",
            "Must be zero or more.",
        ));
        return None;
    }
    Some(number)
}

/// Parses a whole number typed into a form ("1,200", "１２００"); blank is `None`.
///
/// # Errors
/// A field error when the text is not a whole number.
pub fn parse_form_number(field: &str, value: &str) -> Result<Option<i64>, FieldError> {
    let text: String = nfkc_trim(value).chars().filter(|c| *c != ',' && *c != '_').collect();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<i64>().map(Some).map_err(|_| {
        FieldError::new(
            field,
            "not_a_number",
            format!("数値を入力してください: {value}"),
            format!("Not a whole number: {value}"),
        )
    })
}

/// A domain name such as `example.co.jp`, lower-cased; a URL or an e-mail address is reduced to
/// its host.
///
/// # Errors
/// A field error when what remains is not a domain name.
pub fn parse_domain(field: &str, value: &str) -> Result<String, FieldError> {
    let mut text = nfkc_trim(value).to_lowercase();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = text.strip_prefix(scheme) {
            text = rest.to_owned();
        }
    }
    if let Some((_, host)) = text.rsplit_once('@') {
        text = host.to_owned();
    }
    let host = text.split(['/', '?', '#', ':']).next().unwrap_or("").trim_start_matches("www.").to_owned();
    let labels: Vec<&str> = host.split('.').collect();
    let valid = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2);
    if valid {
        Ok(host)
    } else {
        Err(FieldError::new(
            field,
            "invalid_domain",
            format!("ドメインの形式が正しくありません: {value}"),
            format!("Not a valid domain name: {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_numbers() {
        assert_eq!(parse_form_number("n", " 1,200 "), Ok(Some(1200)));
        assert_eq!(parse_form_number("n", "１２００"), Ok(Some(1200)));
        assert_eq!(parse_form_number("n", ""), Ok(None));
        assert_eq!(parse_form_number("n", "12人").unwrap_err().code, "not_a_number");
    }

    #[test]
    fn domains() {
        assert_eq!(parse_domain("d", "https://www.Example.co.jp/about"), Ok("example.co.jp".into()));
        assert_eq!(parse_domain("d", "taro@example.jp"), Ok("example.jp".into()));
        assert_eq!(parse_domain("d", "localhost").unwrap_err().code, "invalid_domain");
        assert_eq!(parse_domain("d", "exa mple.com").unwrap_err().code, "invalid_domain");
    }

    #[test]
    fn text_limits() {
        let mut errors = FieldErrors::default();
        assert_eq!(optional_text(&mut errors, "t", Some("　"), 5), None);
        // A name a person defines stays as typed: 全角 letters and ㈱ are not rewritten.
        assert_eq!(
            text_as_typed(&mut errors, "t", Some(" ＥＲＰ　クラウド ㈱ "), 20).as_deref(),
            Some("ＥＲＰ クラウド ㈱")
        );
        assert_eq!(text_as_typed(&mut errors, "t", Some("　"), 5), None);
        assert_eq!(optional_text(&mut errors, "t", Some("abcdef"), 5), None);
        assert_eq!(errors.0[0].code, "too_long");
        let mut errors = FieldErrors::default();
        required_text(&mut errors, "name", None, 5);
        assert_eq!(errors.0[0].code, "required");
    }
}

/// JSON Merge Patch (RFC 7396): keys present in `patch` replace those of `base`, `null` removes
/// them, and nested objects merge. Used for `PATCH` bodies so that absent means "keep" and
/// `null` means "clear".
pub fn merge_patch(base: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch_map) = patch else {
        *base = patch.clone();
        return;
    };
    if !base.is_object() {
        *base = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(base_map) = base {
        for (key, value) in patch_map {
            if value.is_null() {
                base_map.remove(key);
            } else {
                merge_patch(base_map.entry(key.clone()).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod merge_tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn rfc7396_examples() {
        let mut base = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut base, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(base, json!({"a": "z", "c": {"d": "e"}}));
        let mut base = json!({"a": [1]});
        merge_patch(&mut base, &json!({"a": [2, 3], "b": 1}));
        assert_eq!(base, json!({"a": [2, 3], "b": 1}));
    }
}
