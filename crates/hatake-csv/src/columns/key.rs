//! The matching key of a header: NFKC, lower case, letters and digits only, with the noise that
//! forms and exports add to names ("(必須)", "（任意）", "※", "(半角)") taken out.

use hatake_domain::text::nfkc_trim;

/// Two keys of one header. `full` keeps meaningful bracketed text, so 「お名前（姓）」 is
/// `お名前姓`; `base` drops every bracketed part, so 「氏名（漢字）」 is `氏名`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderKey {
    pub full: String,
    pub base: String,
}

impl HeaderKey {
    /// The keys to try, most specific first, without repeating one.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        let base = (self.base != self.full && !self.base.is_empty()).then_some(self.base.as_str());
        std::iter::once(self.full.as_str()).chain(base)
    }
}

/// Bracketed text that says how to fill the field rather than what it is.
const NOISE: &[&str] = &[
    "必須",
    "任意",
    "required",
    "optional",
    "半角",
    "全角",
    "半角英数",
    "半角英数字",
    "半角数字",
    "数字",
    "英数字",
    "ハイフンなし",
    "ハイフン無し",
    "ハイフンあり",
    "ハイフン有り",
    "ハイフン不要",
    "数字のみ",
    "代表",
    "携帯可",
    "自由記述",
    "自由記入",
    "複数選択可",
    "複数回答可",
    "選択",
    "漢字",
];

/// Markers of a required or optional field written without brackets.
const BARE_NOISE: &[&str] = &["必須", "任意"];

const OPENING: &[char] = &['(', '[', '{', '<', '【', '〔', '〈', '《', '「', '『', '〖', '〘'];
const CLOSING: &[char] = &[')', ']', '}', '>', '】', '〕', '〉', '》', '」', '』', '〗', '〙'];

/// Normalises a header into its matching keys.
pub(crate) fn header_key(header: &str) -> HeaderKey {
    let text = nfkc_trim(header).to_lowercase();
    let mut full = String::with_capacity(text.len());
    let mut base = String::with_capacity(text.len());
    let mut bracket = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        if OPENING.contains(&c) {
            depth += 1;
        } else if CLOSING.contains(&c) && depth > 0 {
            depth -= 1;
            if depth == 0 {
                flush_bracket(&mut bracket, &mut full);
            }
        } else if is_key_char(c) {
            if depth > 0 {
                bracket.push(c);
            } else {
                full.push(c);
                base.push(c);
            }
        }
    }
    // An unclosed bracket still holds text worth keeping.
    flush_bracket(&mut bracket, &mut full);
    HeaderKey { full: strip_bare_noise(full), base: strip_bare_noise(base) }
}

fn flush_bracket(bracket: &mut String, full: &mut String) {
    let is_example = bracket.starts_with('例') || bracket.starts_with("ex");
    if !NOISE.contains(&bracket.as_str()) && !is_example {
        full.push_str(bracket);
    }
    bracket.clear();
}

/// Letters, digits, the prolonged sound mark (a letter already) and 〒.
fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '〒'
}

fn strip_bare_noise(mut key: String) -> String {
    for noise in BARE_NOISE {
        if key.len() > noise.len() {
            if let Some(rest) = key.strip_suffix(noise) {
                key = rest.to_owned();
            }
            if let Some(rest) = key.strip_prefix(noise) {
                key = rest.to_owned();
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let cases = [
            ("会社名", "会社名", "会社名"),
            (" 会社名（必須） ", "会社名", "会社名"),
            ("【必須】メールアドレス", "メールアドレス", "メールアドレス"),
            ("お名前（姓）", "お名前姓", "お名前"),
            ("氏名(漢字)", "氏名", "氏名"),
            ("姓（フリガナ）", "姓フリガナ", "姓"),
            ("E-Mail Address", "emailaddress", "emailaddress"),
            ("ＴＥＬ．", "tel", "tel"),
            ("〒", "〒", "〒"),
            ("会社名・団体名", "会社名団体名", "会社名団体名"),
            ("電話番号(ハイフンなし)", "電話番号", "電話番号"),
            ("電話番号（例：03-1234-5678）", "電話番号", "電話番号"),
            ("※会社名 必須", "会社名", "会社名"),
            ("ﾒｰﾙｱﾄﾞﾚｽ", "メールアドレス", "メールアドレス"),
            ("住所(番地", "住所番地", "住所"),
        ];
        for (header, full, base) in cases {
            let key = header_key(header);
            assert_eq!((key.full.as_str(), key.base.as_str()), (full, base), "{header}");
        }
    }
}
