//! The 47 prefectures of Japan (都道府県), in JIS X 0401 order.

/// (Japanese name, English name), indexed by JIS code − 1.
pub const PREFECTURES: [(&str, &str); 47] = [
    ("北海道", "Hokkaido"),
    ("青森県", "Aomori"),
    ("岩手県", "Iwate"),
    ("宮城県", "Miyagi"),
    ("秋田県", "Akita"),
    ("山形県", "Yamagata"),
    ("福島県", "Fukushima"),
    ("茨城県", "Ibaraki"),
    ("栃木県", "Tochigi"),
    ("群馬県", "Gunma"),
    ("埼玉県", "Saitama"),
    ("千葉県", "Chiba"),
    ("東京都", "Tokyo"),
    ("神奈川県", "Kanagawa"),
    ("新潟県", "Niigata"),
    ("富山県", "Toyama"),
    ("石川県", "Ishikawa"),
    ("福井県", "Fukui"),
    ("山梨県", "Yamanashi"),
    ("長野県", "Nagano"),
    ("岐阜県", "Gifu"),
    ("静岡県", "Shizuoka"),
    ("愛知県", "Aichi"),
    ("三重県", "Mie"),
    ("滋賀県", "Shiga"),
    ("京都府", "Kyoto"),
    ("大阪府", "Osaka"),
    ("兵庫県", "Hyogo"),
    ("奈良県", "Nara"),
    ("和歌山県", "Wakayama"),
    ("鳥取県", "Tottori"),
    ("島根県", "Shimane"),
    ("岡山県", "Okayama"),
    ("広島県", "Hiroshima"),
    ("山口県", "Yamaguchi"),
    ("徳島県", "Tokushima"),
    ("香川県", "Kagawa"),
    ("愛媛県", "Ehime"),
    ("高知県", "Kochi"),
    ("福岡県", "Fukuoka"),
    ("佐賀県", "Saga"),
    ("長崎県", "Nagasaki"),
    ("熊本県", "Kumamoto"),
    ("大分県", "Oita"),
    ("宮崎県", "Miyazaki"),
    ("鹿児島県", "Kagoshima"),
    ("沖縄県", "Okinawa"),
];

/// The canonical Japanese name of a prefecture given in Japanese (with or without 都/道/府/県)
/// or English (any case, with or without "-ken"/" Prefecture").
pub fn parse_prefecture(input: &str) -> Option<&'static str> {
    let text = crate::text::nfkc_trim(input);
    if text.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let english = lower
        .trim_end_matches(" prefecture")
        .trim_end_matches("-ken")
        .trim_end_matches("-fu")
        .trim_end_matches("-to")
        .trim_end_matches(" metropolis");
    PREFECTURES.iter().find_map(|(ja, en)| {
        let short = ja.strip_suffix(['都', '府', '県']).unwrap_or(ja);
        let matches = text == *ja || (text == short && *ja != "北海道") || english.eq_ignore_ascii_case(en);
        matches.then_some(*ja)
    })
}

/// The prefecture an address starts with, if any (e.g. "東京都千代田区…" → 東京都).
pub fn prefecture_of_address(address: &str) -> Option<&'static str> {
    // Only the start matters: normalise just enough characters to hold the longest name.
    let head: String = address.trim_start_matches(char::is_whitespace).chars().take(8).collect();
    let text = crate::text::nfkc_trim(&head);
    PREFECTURES.iter().map(|(ja, _)| *ja).find(|ja| text.starts_with(ja))
}

/// English name of a canonical Japanese prefecture name.
pub fn prefecture_en(ja: &str) -> Option<&'static str> {
    PREFECTURES.iter().find(|(j, _)| *j == ja).map(|(_, en)| *en)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let cases = [
            ("東京都", Some("東京都")),
            ("東京", Some("東京都")),
            ("tokyo", Some("東京都")),
            ("Osaka Prefecture", Some("大阪府")),
            ("Kanagawa-ken", Some("神奈川県")),
            ("北海道", Some("北海道")),
            ("京都", Some("京都府")),
            ("", None),
            ("ニューヨーク", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_prefecture(input), expected, "{input}");
        }
    }

    #[test]
    fn finds_prefecture_at_start_of_address() {
        assert_eq!(prefecture_of_address("　東京都千代田区霞が関3-1-1"), Some("東京都"));
        assert_eq!(prefecture_of_address("京都府京都市"), Some("京都府"));
        assert_eq!(prefecture_of_address("千代田区"), None);
    }
}
