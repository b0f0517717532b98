//! Configuration as YAML (scoring models, MQL policies, pipelines), for review and for moving it
//! between installations, with the line of every problem.

use crate::{FieldError, FieldErrors};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Leading spaces, counting a list item's `- ` as indentation of what follows it.
fn content(line: &str) -> (usize, &str) {
    let mut indent = line.len() - line.trim_start_matches(' ').len();
    let mut rest = &line[indent..];
    while let Some(after) = rest.strip_prefix("- ") {
        let spaces = after.len() - after.trim_start_matches(' ').len();
        indent += 2 + spaces;
        rest = &after[spaces..];
    }
    (indent, rest)
}

fn is_item(line: &str) -> Option<usize> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    (rest.starts_with("- ") || rest == "-").then_some(indent)
}

fn skip(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The 1-based line of a field path (`engagement[2].points`, `account.top`) in block-style
/// YAML, as far as it can be told; the line of the nearest enclosing part otherwise.
pub fn yaml_line(text: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut to = lines.len();
    // Keys of the current mapping stand at an indentation greater than this.
    let mut parent: isize = -1;
    let mut found = None;
    for segment in path.split('.') {
        let (key, index) = match segment.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let hit = (from..to).find(|&l| {
            let (indent, rest) = content(lines[l]);
            !skip(lines[l]) && indent as isize > parent && rest.strip_prefix(key).is_some_and(|r| r.starts_with(':'))
        });
        let Some(line) = hit else { return found };
        found = Some(line + 1);
        let key_indent = content(lines[line]).0 as isize;
        // The value's lines: those after the key that are more indented than the key (or list
        // items at the key's own indentation, as YAML allows).
        let end = (line + 1..to)
            .find(|&l| {
                !skip(lines[l]) && {
                    let raw_indent = (lines[l].len() - lines[l].trim_start_matches(' ').len()) as isize;
                    raw_indent < key_indent || (raw_indent == key_indent && is_item(lines[l]).is_none())
                }
            })
            .unwrap_or(to);
        from = line + 1;
        to = end;
        parent = key_indent;
        if let Some(index) = index {
            let items: Vec<usize> = (from..to).filter(|&l| is_item(lines[l]).is_some()).collect();
            let Some(first) = items.first() else { return found };
            let item_indent = is_item(lines[*first]).unwrap_or(0);
            let items: Vec<usize> = items.into_iter().filter(|&l| is_item(lines[l]) == Some(item_indent)).collect();
            let Some(&item) = items.get(index) else { return found };
            found = Some(item + 1);
            from = item;
            to = items.iter().find(|&&l| l > item).copied().unwrap_or(to);
            parent = item_indent as isize;
        }
    }
    found
}

fn with_line(error: FieldError, line: Option<usize>) -> FieldError {
    match line {
        Some(line) => FieldError {
            message_ja: format!("{line}行目（{}）: {}", error.field, error.message_ja),
            message_en: format!("Line {line} ({}): {}", error.field, error.message_en),
            ..error
        },
        None => error,
    }
}

/// The parser's message without its own "at line N column M" (the line is given apart).
fn parser_detail(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The first `` `…` `` quoted name in a parser message.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let end = message[start..].find('`')? + start;
    Some(&message[start..end])
}

/// What comes after "expected " in a parser message, its names unquoted.
fn expected(message: &str) -> Option<String> {
    message.split_once("expected ").map(|(_, rest)| rest.trim_start_matches("one of ").replace('`', ""))
}

/// The parser's message in Japanese: the usual mistakes in words, with the names they name.
fn parser_detail_ja(detail: &str) -> String {
    let kind = |expected: &str| -> &'static str {
        if expected.contains("integer") || expected.starts_with('i') || expected.starts_with('u') {
            "整数"
        } else if expected.contains("string") {
            "文字列"
        } else if expected.contains("sequence") {
            "リスト（- で始まる行）"
        } else if expected.contains("boolean") {
            "true か false"
        } else {
            "項目の組み合わせ（キー: 値）"
        }
    };
    if detail.starts_with("unknown field") {
        let name = quoted(detail).unwrap_or_default();
        return match expected(detail) {
            Some(allowed) => format!("項目「{name}」は使えません（使える項目: {allowed}）"),
            None => format!("項目「{name}」は使えません"),
        };
    }
    if detail.starts_with("missing field") {
        return format!("必須の項目「{}」がありません", quoted(detail).unwrap_or_default());
    }
    if detail.starts_with("duplicate field") {
        return format!("項目「{}」が二度書かれています", quoted(detail).unwrap_or_default());
    }
    if detail.starts_with("unknown variant") {
        let name = quoted(detail).unwrap_or_default();
        return match expected(detail) {
            Some(allowed) => format!("「{name}」は選べません（選べる値: {allowed}）"),
            None => format!("「{name}」は選べません"),
        };
    }
    if detail.starts_with("invalid value") {
        let value = quoted(detail).unwrap_or_default();
        let wanted = expected(detail).unwrap_or_default();
        if wanted.starts_with('u') {
            return format!("0以上の整数を書いてください（「{value}」は使えません）");
        }
        return format!("値「{value}」は使えません（{}が必要です）", kind(&wanted));
    }
    if detail.starts_with("invalid type") {
        let wanted = expected(detail).unwrap_or_default();
        return format!("値の種類が違います（{}が必要です）", kind(&wanted));
    }
    "YAMLの書き方が正しくありません（字下げ、「:」の後の空白、引用符の閉じ忘れを確認してください）".to_owned()
}

/// A value as YAML (empty parts left out where the type says so).
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_norway::to_string(value).unwrap_or_default()
}

/// A value from YAML, checked by `check`: every problem names its field and line.
///
/// # Errors
/// The YAML is not of the type (with the parser's line and column), or `check` found problems.
pub fn from_yaml<T: DeserializeOwned>(
    text: &str,
    check: impl FnOnce(&T) -> Result<(), FieldErrors>,
) -> Result<T, FieldErrors> {
    let value: T = serde_norway::from_str(text).map_err(|e| {
        let location = e.location();
        let detail = parser_detail(&e.to_string());
        FieldErrors::from(with_line(
            FieldError::new(
                "yaml",
                "invalid_yaml",
                parser_detail_ja(&detail),
                format!("Not YAML, or not of the expected shape: {detail}"),
            ),
            location.map(|l| l.line()),
        ))
    })?;
    check(&value).map_err(|errors| {
        FieldErrors(
            errors
                .0
                .into_iter()
                .map(|e| {
                    let line = yaml_line(text, &e.field);
                    with_line(e, line)
                })
                .collect(),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    #[test]
    fn parser_messages_in_japanese() {
        let cases = [
            (
                "unknown field `min_engagment`, expected one of `id`, `label`",
                "項目「min_engagment」は使えません（使える項目: id, label）",
            ),
            ("missing field `default_mode`", "必須の項目「default_mode」がありません"),
            ("invalid type: string \"abc\", expected i64", "値の種類が違います（整数が必要です）"),
            ("invalid value: integer `-5`, expected u32", "0以上の整数を書いてください（「-5」は使えません）"),
            (
                "unknown variant `avg`, expected one of `sum`, `max`, `top`",
                "「avg」は選べません（選べる値: sum, max, top）",
            ),
            (
                "mapping values are not allowed in this context",
                "YAMLの書き方が正しくありません（字下げ、「:」の後の空白、引用符の閉じ忘れを確認してください）",
            ),
        ];
        for (message, ja) in cases {
            assert_eq!(parser_detail_ja(message), ja, "{message}");
        }
        assert_eq!(parser_detail("missing field `x` at line 3 column 1"), "missing field `x`");
    }
}
