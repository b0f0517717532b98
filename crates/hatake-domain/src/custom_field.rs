//! Custom field definitions: the organisation's own "information assets" (情報資産), such as
//! hearing items, each typed so that values can be checked and compared.

use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    /// `YYYY-MM-DD`.
    Date,
    Choice {
        choices: Vec<String>,
    },
}

impl FieldKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Choice { .. } => "choice",
        }
    }
}

/// A validated definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldDef {
    /// Stable key used in JSON and exports: `[a-z][a-z0-9_]*`, at most 40 characters.
    pub key: String,
    pub label_ja: String,
    pub label_en: String,
    pub kind: FieldKind,
}

impl CustomFieldDef {
    /// # Errors
    /// Field errors for a bad key, missing labels, or a choice field without choices.
    pub fn parse(key: &str, label_ja: &str, label_en: &str, kind: &str, choices: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let key = key.trim().to_owned();
        let key_ok = key.len() <= 40
            && key.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            errors.push(FieldError::new(
                "key",
                "invalid_key",
                "キーは英小文字で始まり、英小文字・数字・_ のみ、40文字以内です。",
                "The key starts with a lower-case letter and has only a-z, 0-9 and _, at most 40 characters.",
            ));
        }
        let label_ja = nfkc_trim(label_ja);
        let label_en = nfkc_trim(label_en);
        if label_ja.is_empty() {
            errors.push(FieldError::required("label_ja"));
        }
        let kind = match kind.trim() {
            "text" => Some(FieldKind::Text),
            "number" => Some(FieldKind::Number),
            "date" => Some(FieldKind::Date),
            "choice" => {
                let choices: Vec<String> =
                    choices.split(['\n', ',', '、']).map(nfkc_trim).filter(|c| !c.is_empty()).collect();
                if choices.is_empty() {
                    errors.push(FieldError::new(
                        "choices",
                        "choices_required",
                        "選択肢を1つ以上入力してください。",
                        "A choice field needs at least one choice.",
                    ));
                }
                Some(FieldKind::Choice { choices })
            }
            other => {
                errors.push(FieldError::new(
                    "kind",
                    "invalid_kind",
                    format!("種類は text / number / date / choice のいずれかです: {other}"),
                    format!("Kind must be text, number, date or choice: {other}"),
                ));
                None
            }
        };
        match kind {
            Some(kind) if errors.is_empty() => {
                let label_en = if label_en.is_empty() { label_ja.clone() } else { label_en };
                Ok(Self { key, label_ja, label_en, kind })
            }
            _ => Err(errors),
        }
    }

    pub fn label(&self, locale: &str) -> &str {
        if locale == "ja" {
            &self.label_ja
        } else {
            &self.label_en
        }
    }

    /// Checks one value against this definition; blank text becomes `None` (unset).
    ///
    /// # Errors
    /// A field error on `custom.<key>` when the value does not fit the kind.
    pub fn check(&self, value: &Value) -> Result<Option<Value>, FieldError> {
        let field = format!("custom.{}", self.key);
        let text = match value {
            Value::Null => return Ok(None),
            Value::String(s) => nfkc_trim(s),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        };
        if text.is_empty() {
            return if matches!(value, Value::String(_)) { Ok(None) } else { Err(self.mismatch(&field, value)) };
        }
        match &self.kind {
            FieldKind::Text if text.chars().count() > 1000 => Err(FieldError::too_long(&field, 1000)),
            FieldKind::Text => Ok(Some(Value::String(text))),
            FieldKind::Number => {
                let cleaned: String = text.chars().filter(|c| *c != ',').collect();
                match cleaned.parse::<f64>() {
                    // Beyond what a person types (and what prints without an exponent).
                    Ok(n) if n.is_finite() && n.abs() >= 1e15 => Err(FieldError::new(
                        field,
                        "number_too_large",
                        format!("{}の値が大きすぎます（15桁未満にしてください）: {text}", self.label_ja),
                        format!("{} is too large (fewer than 15 digits): {text}", self.label_en),
                    )),
                    Ok(n) if n.is_finite() => Ok(Some(serde_json::json!(n))),
                    _ => Err(self.mismatch(&field, value)),
                }
            }
            FieldKind::Date => {
                if is_iso_date(&text) {
                    Ok(Some(Value::String(text)))
                } else {
                    Err(self.mismatch(&field, value))
                }
            }
            FieldKind::Choice { choices } => {
                if choices.contains(&text) {
                    Ok(Some(Value::String(text)))
                } else {
                    Err(FieldError::new(
                        field,
                        "invalid_choice",
                        format!("「{}」は選択肢にありません（{}）。", text, choices.join(" / ")),
                        format!("\"{}\" is not one of the choices ({}).", text, choices.join(" / ")),
                    ))
                }
            }
        }
    }

    fn mismatch(&self, field: &str, value: &Value) -> FieldError {
        let (ja, en) = match self.kind {
            FieldKind::Number => ("数値", "a number"),
            FieldKind::Date => ("日付 (YYYY-MM-DD)", "a date (YYYY-MM-DD)"),
            _ => ("文字列", "text"),
        };
        FieldError::new(
            field,
            "invalid_custom_value",
            format!("{}には{ja}を入力してください: {value}", self.label_ja),
            format!("{} must be {en}: {value}", self.label_en),
        )
    }
}

/// A calendar date written `YYYY-MM-DD`, checked for month lengths and leap years.
pub fn is_iso_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return false;
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return false;
    }
    let (Ok(year), Ok(month), Ok(day)) = (y.parse::<u32>(), m.parse::<u32>(), d.parse::<u32>()) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// Checks a map of custom values against the definitions; unknown keys are errors.
///
/// # Errors
/// One field error per bad or unknown key.
pub fn check_custom_values(
    defs: &[CustomFieldDef],
    values: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut out = serde_json::Map::new();
    for (key, value) in values {
        match defs.iter().find(|d| &d.key == key) {
            Some(def) => {
                if let Some(Some(v)) = errors.take(def.check(value)) {
                    out.insert(key.clone(), v);
                }
            }
            None => errors.push(FieldError::new(
                format!("custom.{key}"),
                "unknown_custom_field",
                format!("カスタム項目「{key}」は定義されていません。"),
                format!("There is no custom field \"{key}\"."),
            )),
        }
    }
    errors.into_result(|| out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Vec<CustomFieldDef> {
        vec![
            CustomFieldDef::parse("budget", "予算", "Budget", "number", "").unwrap(),
            CustomFieldDef::parse("timing", "導入時期", "Timing", "choice", "3ヶ月以内, 半年以内\n1年以内").unwrap(),
            CustomFieldDef::parse("visited", "訪問日", "", "date", "").unwrap(),
            CustomFieldDef::parse("problem", "課題", "Problem", "text", "").unwrap(),
        ]
    }

    #[test]
    fn definitions_are_checked() {
        let errors = CustomFieldDef::parse("Bad Key", "", "", "choice", " , ").unwrap_err();
        let codes: Vec<&str> = errors.0.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["invalid_key", "required", "choices_required"]);
        assert_eq!(CustomFieldDef::parse("x", "X", "", "colour", "").unwrap_err().0[0].code, "invalid_kind");
        assert_eq!(defs()[2].label_en, "訪問日", "English label falls back to Japanese");
    }

    #[test]
    fn values_are_typed() {
        let mut values = serde_json::Map::new();
        values.insert("budget".into(), json!("1,000,000"));
        values.insert("timing".into(), json!("半年以内"));
        values.insert("visited".into(), json!("2024-02-29"));
        values.insert("problem".into(), json!("  "));
        let checked = check_custom_values(&defs(), &values).unwrap();
        assert_eq!(checked.get("budget"), Some(&json!(1_000_000.0)));
        assert_eq!(checked.get("problem"), None, "blank text unsets the field");
        let mut huge = serde_json::Map::new();
        huge.insert("budget".into(), json!("12345678901234567890"));
        let errors = check_custom_values(&defs(), &huge).unwrap_err();
        assert_eq!(errors.0[0].code, "number_too_large");
    }

    #[test]
    fn bad_values_name_the_field() {
        let mut values = serde_json::Map::new();
        values.insert("budget".into(), json!("たくさん"));
        values.insert("timing".into(), json!("いつか"));
        values.insert("visited".into(), json!("2023-02-29"));
        values.insert("colour".into(), json!("red"));
        let errors = check_custom_values(&defs(), &values).unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [
                ("custom.budget", "invalid_custom_value"),
                ("custom.colour", "unknown_custom_field"),
                ("custom.timing", "invalid_choice"),
                ("custom.visited", "invalid_custom_value"),
            ]
        );
    }
}
