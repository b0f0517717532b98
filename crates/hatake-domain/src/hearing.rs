//! Hearing sheets (情報資産): the custom fields inside sales asks about on a call, in the order
//! it asks, and how complete a lead's sheet is. Two templates give a start: BANT (budget,
//! authority, need, timeline) and a position-first framework that begins with who the person
//! is in the purchase (課題, 立場・役割, 導入時期, 検討状況, 現行製品と導入年).

use crate::custom_field::CustomFieldDef;
use crate::FieldKind;
use serde_json::{Map, Value};

/// A template's items: (key, Japanese label, English label, kind, choices).
type TemplateItem = (&'static str, &'static str, &'static str, &'static str, &'static str);

const TIMING_CHOICES: &str = "3ヶ月以内,半年以内,1年以内,未定";

const BANT: &[TemplateItem] = &[
    ("budget_status", "予算", "Budget", "choice", "確保済み,申請中,未確保,不明"),
    ("authority", "決裁権", "Authority", "choice", "決裁者,決裁に関与,情報収集のみ,不明"),
    ("problem", "課題・ニーズ", "Need", "text", ""),
    ("timing", "導入時期", "Timeline", "choice", TIMING_CHOICES),
];

const POSITION_FIRST: &[TemplateItem] = &[
    ("position", "立場・役割", "Position and role", "choice", "決裁者,推進者,評価者,利用者,情報収集"),
    ("problem", "課題", "Problem", "text", ""),
    ("timing", "導入時期", "Timing", "choice", TIMING_CHOICES),
    ("stage", "検討状況", "Stage of consideration", "choice", "情報収集,比較検討中,稟議中,導入決定,見送り"),
    ("current_product", "現行製品", "Current product", "text", ""),
    ("current_since", "現行製品の導入年", "Year the current product came in", "number", ""),
];

/// A ready-made hearing sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HearingTemplate {
    Bant,
    PositionFirst,
}

impl HearingTemplate {
    pub const ALL: [HearingTemplate; 2] = [HearingTemplate::Bant, HearingTemplate::PositionFirst];

    pub fn code(self) -> &'static str {
        match self {
            HearingTemplate::Bant => "bant",
            HearingTemplate::PositionFirst => "position_first",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn label(self, locale: &str) -> &'static str {
        match (self, locale) {
            (HearingTemplate::Bant, "ja") => "BANT（予算・決裁権・ニーズ・導入時期）",
            (HearingTemplate::Bant, _) => "BANT (budget, authority, need, timeline)",
            (HearingTemplate::PositionFirst, "ja") => {
                "立場起点（立場・役割、課題、導入時期、検討状況、現行製品と導入年）"
            }
            (HearingTemplate::PositionFirst, _) => {
                "Position first (position, problem, timing, stage, current product and year)"
            }
        }
    }

    /// The template's items as field definitions.
    pub fn items(self) -> Vec<CustomFieldDef> {
        let items = match self {
            HearingTemplate::Bant => BANT,
            HearingTemplate::PositionFirst => POSITION_FIRST,
        };
        items
            .iter()
            .filter_map(|(key, ja, en, kind, choices)| CustomFieldDef::parse(key, ja, en, kind, choices).ok())
            .collect()
    }
}

/// How complete one lead's sheet is.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Completeness {
    /// The items with a value.
    pub known: usize,
    pub total: usize,
    /// The keys of the items without one, in the sheet's order.
    pub missing: Vec<String>,
}

impl Completeness {
    /// Percent known, rounded down; 100 for an empty sheet.
    pub fn percent(&self) -> usize {
        (self.known * 100).checked_div(self.total).unwrap_or(100)
    }
}

/// Whether a stored custom value counts as known: present and not blank.
pub fn is_known(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(_) => true,
    }
}

/// The completeness of a lead's values against the sheet's item keys.
pub fn completeness(items: &[String], values: &Map<String, Value>) -> Completeness {
    let missing: Vec<String> = items.iter().filter(|key| !is_known(values.get(key.as_str()))).cloned().collect();
    Completeness { known: items.len() - missing.len(), total: items.len(), missing }
}

/// A value as a person reads it (numbers without a trailing `.0`).
pub fn value_text(def: Option<&CustomFieldDef>, value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_f64(), def.map(|d| &d.kind)) {
            (Some(f), Some(FieldKind::Number) | None) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_give_valid_fields_and_share_keys() {
        let bant = HearingTemplate::Bant.items();
        let position = HearingTemplate::PositionFirst.items();
        assert_eq!(bant.len(), 4);
        assert_eq!(position.len(), 6);
        assert_eq!(position[0].key, "position");
        // Both ask about timing and the problem with the same keys: applying both adds them once.
        for key in ["problem", "timing"] {
            assert!(bant.iter().any(|d| d.key == key) && position.iter().any(|d| d.key == key));
        }
        assert_eq!(HearingTemplate::from_code("bant"), Some(HearingTemplate::Bant));
        assert_eq!(HearingTemplate::from_code("nope"), None);
    }

    #[test]
    fn completeness_counts_values_that_are_not_blank() {
        let items: Vec<String> = ["position", "problem", "timing", "budget"].map(String::from).to_vec();
        let values = json!({"position": "決裁者", "problem": "  ", "budget": 0, "other": "x"});
        let c = completeness(&items, values.as_object().unwrap());
        assert_eq!((c.known, c.total), (2, 4));
        assert_eq!(c.missing, ["problem", "timing"]);
        assert_eq!(c.percent(), 50);
        assert_eq!(completeness(&[], &Map::new()).percent(), 100);
    }

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(value_text(None, &json!(2019.0)), "2019");
        assert_eq!(value_text(None, &json!(1.5)), "1.5");
        assert_eq!(value_text(None, &json!("稟議中")), "稟議中");
    }
}
