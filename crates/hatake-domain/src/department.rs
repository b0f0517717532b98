//! Department classes: a configurable dictionary from free-text departments (「情報システム部」,
//! 「営業本部 第一営業部」, "Sales Dept.") to a small set of classes (it, sales, …).
//!
//! Matching reads the department after NFKC and lower-casing, with spaces between Japanese
//! characters ignored. A keyword matches anywhere in it, except that a keyword starting or
//! ending with an ASCII letter or digit must do so at a word boundary, so "IT" matches
//! 「IT推進室」 and "IT Department" but not "itinerary" or "digital". Of all matches the longest
//! keyword wins, so 「経営企画」 beats 「企画部」 and 「品質管理」 beats 「管理」; between keywords
//! of equal length the one that stands later wins, since Japanese department strings go from the
//! larger unit to the smaller (「管理本部 経理課」 is finance). No match gives the class `other`.
//!
//! The dictionary is data. Its text form has one entry per line:
//!
//! ```text
//! # A comment.
//! class it | 情報システム | Information systems
//! 情シス => it
//! ```
//!
//! Class lines give a key (`a-z`, `0-9`, `_`), a Japanese and an English label; rule lines a
//! keyword and the key of its class. Blank lines and lines starting with `#` are ignored. A
//! dictionary must define the class `other`.

mod defaults;

use crate::company::compact;
use crate::FieldError;
use serde::Serialize;

/// The class every department without a matching keyword falls into.
pub const OTHER: &str = "other";

/// A department class with its labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentClass {
    pub key: String,
    pub label_ja: String,
    pub label_en: String,
}

/// A keyword and the class of the departments it appears in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub keyword: String,
    pub class_key: String,
}

/// A valid dictionary: class keys are unique, `other` is among them, every rule names a class
/// and no two keywords are the same after normalisation. Built by [`DepartmentDictionary::parse`]
/// or [`Default`] (the shipped dictionary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentDictionary {
    classes: Vec<DepartmentClass>,
    rules: Vec<Rule>,
    /// The rules ready for matching, in the same order.
    compiled: Vec<Compiled>,
    /// The index of the class `other`.
    other: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Compiled {
    /// The keyword as matching reads it.
    keyword: String,
    /// Its length in characters, which decides between matches.
    length: usize,
    class: usize,
}

/// A problem on one line of a dictionary's text; line 0 stands for the text as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    /// A stable code: `malformed_line`, `invalid_class_key`, `empty_label`, `duplicate_class`,
    /// `empty_keyword`, `duplicate_keyword`, `unknown_class` or `missing_other_class`.
    pub code: &'static str,
    pub message_ja: String,
    pub message_en: String,
}

impl LineError {
    fn new(line: usize, code: &'static str, message_ja: String, message_en: String) -> Self {
        Self { line, code, message_ja, message_en }
    }

    /// The error as a field error of a form, the line number (if any) written into the messages.
    pub fn to_field_error(&self, field: &str) -> FieldError {
        if self.line == 0 {
            return FieldError::new(field, self.code, self.message_ja.clone(), self.message_en.clone());
        }
        FieldError::new(
            field,
            self.code,
            format!("{}行目: {}", self.line, self.message_ja),
            format!("Line {}: {}", self.line, self.message_en),
        )
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} ({})", self.line, self.message_en, self.code)
    }
}

impl std::error::Error for LineError {}

impl Default for DepartmentDictionary {
    /// The shipped dictionary (see `department/defaults.rs`).
    fn default() -> Self {
        let classes = defaults::CLASSES.iter().enumerate().map(|(i, (key, ja, en))| {
            (i + 1, DepartmentClass { key: (*key).into(), label_ja: (*ja).into(), label_en: (*en).into() })
        });
        let rules = defaults::RULES.iter().enumerate().map(|(i, (keyword, class_key))| {
            (i + 1, Rule { keyword: (*keyword).into(), class_key: (*class_key).into() })
        });
        Self::assemble(classes.collect(), rules.collect()).expect("the shipped dictionary is valid")
    }
}

impl DepartmentDictionary {
    pub fn classes(&self) -> &[DepartmentClass] {
        &self.classes
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The class with this key, if the dictionary has one.
    pub fn class(&self, key: &str) -> Option<&DepartmentClass> {
        self.classes.iter().find(|c| c.key == key)
    }

    /// The class of a department as entered; `None` only when it is blank. See the module
    /// documentation for how keywords are matched.
    pub fn classify(&self, department: &str) -> Option<&DepartmentClass> {
        let text = normalise(department);
        if text.is_empty() {
            return None;
        }
        // (length, position, class) of the best match so far.
        let mut best: Option<(usize, usize, usize)> = None;
        for rule in &self.compiled {
            for (at, _) in text.match_indices(rule.keyword.as_str()) {
                let better = best.is_none_or(|(length, position, _)| (rule.length, at) > (length, position));
                if better && at_word_boundaries(&text, at, &rule.keyword) {
                    best = Some((rule.length, at, rule.class));
                }
            }
        }
        Some(&self.classes[best.map_or(self.other, |(_, _, class)| class)])
    }

    /// The dictionary in its text form; [`DepartmentDictionary::parse`] reads it back as is.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "# hatake department dictionary.\n\
             # class <key> | <日本語ラベル> | <English label>\n\
             # <keyword> => <class key>\n\n",
        );
        for class in &self.classes {
            out.push_str(&format!("class {} | {} | {}\n", class.key, class.label_ja, class.label_en));
        }
        let mut previous: Option<&str> = None;
        for rule in &self.rules {
            if previous != Some(rule.class_key.as_str()) {
                out.push('\n');
                previous = Some(&rule.class_key);
            }
            out.push_str(&format!("{} => {}\n", rule.keyword, rule.class_key));
        }
        out
    }

    /// Reads a dictionary from its text form (see the module documentation).
    ///
    /// # Errors
    /// Every problem found, each with its line number and a reason in Japanese and English.
    pub fn parse(text: &str) -> Result<Self, Vec<LineError>> {
        let mut errors = Vec::new();
        let mut classes = Vec::new();
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if let Some((keyword, class_key)) = content.split_once("=>") {
                if class_key.contains("=>") {
                    errors.push(malformed(line));
                } else {
                    let rule = Rule { keyword: crate::text::nfkc_trim(keyword), class_key: class_key.trim().into() };
                    rules.push((line, rule));
                }
            } else if let Some(rest) = content.strip_prefix("class").filter(|r| r.starts_with(char::is_whitespace)) {
                match parse_class(line, rest) {
                    Ok(class) => classes.push((line, class)),
                    Err(error) => errors.push(error),
                }
            } else {
                errors.push(malformed(line));
            }
        }
        match Self::assemble(classes, rules) {
            Ok(dictionary) if errors.is_empty() => Ok(dictionary),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                errors.sort_by_key(|e| e.line);
                Err(errors)
            }
        }
    }

    /// Checks classes and rules (each with the line it came from) and compiles the rules.
    fn assemble(classes: Vec<(usize, DepartmentClass)>, rules: Vec<(usize, Rule)>) -> Result<Self, Vec<LineError>> {
        let mut errors = Vec::new();
        for (i, (line, class)) in classes.iter().enumerate() {
            if let Some((first, _)) = classes[..i].iter().find(|(_, c)| c.key == class.key) {
                errors.push(LineError::new(
                    *line,
                    "duplicate_class",
                    format!("分類「{}」は{first}行目ですでに定義されています。", class.key),
                    format!("Class '{}' is already defined on line {first}.", class.key),
                ));
            }
        }
        let index_of = |key: &str| classes.iter().position(|(_, c)| c.key == key);
        let mut compiled: Vec<Compiled> = Vec::with_capacity(rules.len());
        let mut seen: Vec<(String, usize)> = Vec::with_capacity(rules.len());
        for (line, rule) in &rules {
            let keyword = normalise(&rule.keyword);
            let class = index_of(&rule.class_key);
            if keyword.is_empty() {
                errors.push(LineError::new(
                    *line,
                    "empty_keyword",
                    "キーワードが空です。".into(),
                    "The keyword is empty.".into(),
                ));
            } else if let Some((_, first)) = seen.iter().find(|(k, _)| *k == keyword) {
                errors.push(LineError::new(
                    *line,
                    "duplicate_keyword",
                    format!("キーワード「{}」は{first}行目と重複しています。", rule.keyword),
                    format!("Keyword '{}' duplicates the one on line {first}.", rule.keyword),
                ));
            } else if class.is_none() {
                errors.push(LineError::new(
                    *line,
                    "unknown_class",
                    format!("分類「{}」は定義されていません。", rule.class_key),
                    format!("Class '{}' is not defined.", rule.class_key),
                ));
            }
            if let (Some(class), false) = (class, keyword.is_empty()) {
                seen.push((keyword.clone(), *line));
                compiled.push(Compiled { length: keyword.chars().count(), keyword, class });
            }
        }
        let other = index_of(OTHER);
        if other.is_none() {
            errors.push(LineError::new(
                0,
                "missing_other_class",
                format!("分類「{OTHER}」の定義が必要です。"),
                format!("The class '{OTHER}' must be defined."),
            ));
        }
        match other {
            Some(other) if errors.is_empty() => Ok(Self {
                classes: classes.into_iter().map(|(_, c)| c).collect(),
                rules: rules.into_iter().map(|(_, r)| r).collect(),
                compiled,
                other,
            }),
            _ => Err(errors),
        }
    }
}

/// A class line after the word `class`: `key | label_ja | label_en`.
fn parse_class(line: usize, rest: &str) -> Result<DepartmentClass, LineError> {
    let parts: Vec<&str> = rest.split('|').map(str::trim).collect();
    let [key, label_ja, label_en] = parts[..] else {
        return Err(malformed(line));
    };
    let key_ok = !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        return Err(LineError::new(
            line,
            "invalid_class_key",
            format!("分類キー「{key}」には半角英小文字・数字・_ のみ使えます。"),
            format!("Class key '{key}' may only hold a-z, 0-9 and _."),
        ));
    }
    if label_ja.is_empty() || label_en.is_empty() {
        return Err(LineError::new(
            line,
            "empty_label",
            "日本語と英語のラベルが必要です。".into(),
            "Both a Japanese and an English label are needed.".into(),
        ));
    }
    Ok(DepartmentClass { key: key.into(), label_ja: label_ja.into(), label_en: label_en.into() })
}

fn malformed(line: usize) -> LineError {
    LineError::new(
        line,
        "malformed_line",
        "「class キー | 日本語ラベル | English label」か「キーワード => 分類キー」の形で書いてください。".into(),
        "Write either 'class key | 日本語ラベル | English label' or 'keyword => class key'.".into(),
    )
}

/// Text as matching reads it: NFKC, lower case, spaces kept only between ASCII words.
fn normalise(text: &str) -> String {
    compact(&crate::text::nfkc_trim(text).to_lowercase())
}

/// Whether a keyword found at `at` starts and ends at word boundaries wherever its own first or
/// last character is an ASCII letter or digit.
fn at_word_boundaries(text: &str, at: usize, keyword: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let end = at + keyword.len();
    let start_ok = !is_word(keyword.chars().next()) || !is_word(text[..at].chars().next_back());
    let end_ok = !is_word(keyword.chars().next_back()) || !is_word(text[end..].chars().next());
    start_ok && end_ok
}

#[cfg(test)]
mod tests;
