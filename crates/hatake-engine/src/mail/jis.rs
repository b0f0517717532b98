//! ISO-2022-JP (RFC 1468), the Japanese mail encoding older mail programs and some companies'
//! gateways still expect: only JIS X 0208, so the vendor characters people type every day —
//! ① ㈱ № from NEC's row 13, 髙 﨑 from the IBM extensions — cannot be carried. A template sent in
//! ISO-2022-JP is warned about them ([`unsupported`]) and, when sent, has them written as
//! their usual stand-ins (① → (1), ㈱ → (株), 髙 → 高) or 〓 ([`substitute`]).

use encoding_rs::ISO_2022_JP;

/// The charset name templates and mails use for ISO-2022-JP.
pub const CHARSET: &str = "iso-2022-jp";

/// The usual stand-ins of characters ISO-2022-JP cannot carry.
const STAND_INS: &[(char, &str)] = &[
    ('①', "(1)"),
    ('②', "(2)"),
    ('③', "(3)"),
    ('④', "(4)"),
    ('⑤', "(5)"),
    ('⑥', "(6)"),
    ('⑦', "(7)"),
    ('⑧', "(8)"),
    ('⑨', "(9)"),
    ('⑩', "(10)"),
    ('⑪', "(11)"),
    ('⑫', "(12)"),
    ('⑬', "(13)"),
    ('⑭', "(14)"),
    ('⑮', "(15)"),
    ('⑯', "(16)"),
    ('⑰', "(17)"),
    ('⑱', "(18)"),
    ('⑲', "(19)"),
    ('⑳', "(20)"),
    ('Ⅰ', "I"),
    ('Ⅱ', "II"),
    ('Ⅲ', "III"),
    ('Ⅳ', "IV"),
    ('Ⅴ', "V"),
    ('Ⅵ', "VI"),
    ('Ⅶ', "VII"),
    ('Ⅷ', "VIII"),
    ('Ⅸ', "IX"),
    ('Ⅹ', "X"),
    ('ⅰ', "i"),
    ('ⅱ', "ii"),
    ('ⅲ', "iii"),
    ('ⅳ', "iv"),
    ('ⅴ', "v"),
    ('㈱', "(株)"),
    ('㈲', "(有)"),
    ('㈹', "(代)"),
    ('㍿', "株式会社"),
    ('№', "No."),
    ('℡', "TEL"),
    ('㍉', "ミリ"),
    ('㌔', "キロ"),
    ('㌢', "センチ"),
    ('㍍', "メートル"),
    ('㌘', "グラム"),
    ('㌧', "トン"),
    ('㌫', "パーセント"),
    ('㍻', "平成"),
    ('㍼', "昭和"),
    ('㋿', "令和"),
    ('髙', "高"),
    ('﨑', "崎"),
    ('德', "徳"),
    ('瀨', "瀬"),
    ('桒', "桑"),
    ('栁', "柳"),
    ('～', "〜"),
    ('—', "―"),
    ('∥', "‖"),
    ('－', "−"),
    ('￢', "¬"),
];

/// Whether ISO-2022-JP carries `c` as JIS X 0208 (or ASCII) has it.
fn carried(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    // Half-width katakana are written as full-width ones: carried, changed.
    if ('\u{FF61}'..='\u{FF9F}').contains(&c) {
        return true;
    }
    let mut buffer = [0_u8; 4];
    let (bytes, _, unmappable) = ISO_2022_JP.encode(c.encode_utf8(&mut buffer));
    if unmappable {
        return false;
    }
    // ESC $ B, then the row and cell: rows 9–15 (NEC's specials) and 85 on (the IBM
    // extensions) are vendor additions a strict JIS X 0208 reader does not have.
    match bytes.get(3) {
        Some(&first) => {
            let row = first.wrapping_sub(0x20);
            (1..=8).contains(&row) || (16..=84).contains(&row)
        }
        None => true,
    }
}

/// The characters of `text` that ISO-2022-JP cannot carry, each once, in order of appearance.
pub fn unsupported(text: &str) -> Vec<char> {
    let mut found: Vec<char> = Vec::new();
    for c in text.chars() {
        if !carried(c) && !found.contains(&c) {
            found.push(c);
        }
    }
    found
}

/// `text` with every character ISO-2022-JP cannot carry written as its stand-in, or 〓.
pub fn substitute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if carried(c) {
            out.push(c);
        } else if let Some((_, stand_in)) = STAND_INS.iter().find(|(from, _)| *from == c) {
            out.push_str(stand_in);
        } else {
            out.push('〓');
        }
    }
    out
}

/// The stand-in `c` would be sent as (for warnings: 「① → (1)」).
pub fn stand_in(c: char) -> String {
    STAND_INS.iter().find(|(from, _)| *from == c).map_or_else(|| "〓".to_owned(), |(_, s)| (*s).to_owned())
}

/// `text` (after [`substitute`]) as ISO-2022-JP; ASCII only, so it is a `String`.
pub fn encode(text: &str) -> String {
    let text = substitute(text);
    let (bytes, _, _) = ISO_2022_JP.encode(&text);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A header value as RFC 2047 encoded words in ISO-2022-JP (`=?ISO-2022-JP?B?…?=`), each a
/// whole escape sequence and at most 75 characters, folded onto continuation lines.
pub fn encoded_words(text: &str) -> String {
    use base64::Engine as _;
    let text = substitute(text);
    if text.is_ascii() {
        return text;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        chunk.push(c);
        // 12 characters: at most 2 + 24 + 6 bytes of ISO-2022-JP, 44 of base64, 62 in all.
        if chunk.chars().count() == 12 {
            words.push(std::mem::take(&mut chunk));
        }
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            let (bytes, _, _) = ISO_2022_JP.encode(w);
            format!("=?ISO-2022-JP?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&bytes))
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_characters_are_named_and_stood_in_for() {
        assert_eq!(unsupported("①㈱髙﨑の資料　ｱｲｳ ABC 高崎 ―"), vec!['①', '㈱', '髙', '﨑']);
        // An em dash is not JIS X 0208's dash (―).
        assert_eq!(unsupported("A—B"), vec!['—']);
        assert_eq!(substitute("A—B"), "A―B");
        assert!(unsupported("株式会社サンプル 山田太郎様 ご案内【無料】※〒100-0001").is_empty());
        assert_eq!(substitute("①㈱髙﨑"), "(1)(株)高崎");
        assert_eq!(substitute("\u{1F600}"), "〓");
        let encoded = encode("ご案内①");
        assert!(encoded.is_ascii() && encoded.contains("\u{1b}$B"), "{encoded:?}");
        let (decoded, _, _) = ISO_2022_JP.decode(encoded.as_bytes());
        assert_eq!(decoded, "ご案内(1)");
    }

    #[test]
    fn subjects_become_short_encoded_words_that_decode_back() {
        let subject = "【無料セミナー】山田様 クラウドERPの導入事例と、稟議を通すための投資対効果の示し方";
        let header = encoded_words(subject);
        let mut decoded = String::new();
        for word in header.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let b64 = word.trim_start_matches("=?ISO-2022-JP?B?").trim_end_matches("?=");
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            assert!(bytes.ends_with(b"\x1b(B") || bytes.is_ascii(), "each word ends in ASCII");
            decoded.push_str(&ISO_2022_JP.decode(&bytes).0);
        }
        assert_eq!(decoded, subject);
        assert_eq!(encoded_words("Hello"), "Hello");
    }
}
