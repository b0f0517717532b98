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

/// The 20 designated cities (政令指定都市) and their prefectures, for addresses that leave the
/// prefecture out.
const DESIGNATED_CITIES: &[(&str, &str)] = &[
    ("札幌市", "北海道"),
    ("仙台市", "宮城県"),
    ("さいたま市", "埼玉県"),
    ("千葉市", "千葉県"),
    ("横浜市", "神奈川県"),
    ("川崎市", "神奈川県"),
    ("相模原市", "神奈川県"),
    ("新潟市", "新潟県"),
    ("静岡市", "静岡県"),
    ("浜松市", "静岡県"),
    ("名古屋市", "愛知県"),
    ("京都市", "京都府"),
    ("大阪市", "大阪府"),
    ("堺市", "大阪府"),
    ("神戸市", "兵庫県"),
    ("岡山市", "岡山県"),
    ("広島市", "広島県"),
    ("北九州市", "福岡県"),
    ("福岡市", "福岡県"),
    ("熊本市", "熊本県"),
];

/// The 23 special wards of Tokyo. 中央区, 港区 and 北区 are also wards of designated cities, but
/// those are written after their city (「大阪市北区」); only Tokyo's wards are municipalities that
/// stand alone at the start of an address.
const TOKYO_WARDS: &str =
    "千代田区 中央区 港区 新宿区 文京区 台東区 墨田区 江東区 品川区 目黒区 大田区 世田谷区 渋谷区 \
    中野区 杉並区 豊島区 北区 荒川区 板橋区 練馬区 足立区 葛飾区 江戸川区";

/// The prefecture an address is in, read from its start:
/// - a leading postal code (「〒100-0001」, "100-0001") is skipped;
/// - a prefecture's full name ("東京都千代田区…" → 東京都);
/// - a short name where it cannot be misread: 「東京」 followed by anything but 都, or any short name
///   followed by 市 (「福島市」) or by one of its designated cities (「神奈川横浜市」). Other short
///   names are left alone, since 「石川郡」 or 「愛知郡」 may lie in another prefecture;
/// - a designated city (「大阪市北区…」 → 大阪府) or one of Tokyo's 23 wards (「千代田区…」 → 東京都).
pub fn prefecture_of_address(address: &str) -> Option<&'static str> {
    // Only the start matters: normalise just enough to hold a postal code and a city name.
    let head: String = address.chars().take(40).collect();
    let (_, rest) = split_postal_code(&head);
    let text = rest.as_str();
    let designated = |text: &str| DESIGNATED_CITIES.iter().find(|(city, _)| text.starts_with(city)).map(|(_, p)| *p);
    let by_name = PREFECTURES.iter().map(|(ja, _)| *ja).find(|ja| {
        let short = ja.strip_suffix(['都', '府', '県']).unwrap_or(ja);
        if text.starts_with(ja) {
            return true;
        }
        let Some(after) = text.strip_prefix(short).map(str::trim_start) else {
            return false;
        };
        (short == "東京" && !after.starts_with('都')) || after.starts_with('市') || designated(after) == Some(*ja)
    });
    by_name
        .or_else(|| designated(text))
        .or_else(|| TOKYO_WARDS.split_whitespace().any(|ward| text.starts_with(ward)).then_some("東京都"))
}

/// A postal code standing alone ("〒1000001", "100-0001", 「１００－０００１」, 「郵便番号 100 0001」) in
/// its usual form "100-0001"; `None` for anything else.
pub fn parse_postal_code(input: &str) -> Option<String> {
    let text = crate::text::nfkc_trim(input);
    let (code, rest) = read_postal_code(&text)?;
    rest.trim().is_empty().then_some(code)
}

/// A postal code at the start of an address, and the rest of the address: NFKC, single spaces,
/// and without the separator that followed the code. Without a postal code the whole address
/// (so normalised) is the rest.
pub fn split_postal_code(address: &str) -> (Option<String>, String) {
    let text = crate::text::nfkc_trim(address);
    match read_postal_code(&text) {
        Some((code, rest)) => (Some(code), rest.trim_start_matches([' ', ',', '、', ':']).trim().to_owned()),
        None => (None, text),
    }
}

/// Reads "〒NNN-NNNN" at the start of NFKC text (the mark, the hyphen or a space in the middle
/// optional; any dash look-alike accepted) and returns the code and what follows it. Seven
/// digits followed by a further digit or dash are not a postal code.
fn read_postal_code(text: &str) -> Option<(String, &str)> {
    let body = ["〒", "郵便番号", "郵便"].iter().find_map(|mark| text.strip_prefix(mark)).unwrap_or(text);
    let body = body.trim_start_matches([' ', ':']);
    let digits = |s: &str, n: usize| s.as_bytes().get(..n).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
    if !digits(body, 3) {
        return None;
    }
    let (area, after) = body.split_at(3);
    let after = match after.chars().next() {
        Some(c) if c == ' ' || crate::contact::is_dash(c) => &after[c.len_utf8()..],
        _ => after,
    };
    if !digits(after, 4) {
        return None;
    }
    let (local, rest) = after.split_at(4);
    if rest.starts_with(|c: char| c.is_ascii_digit() || crate::contact::is_dash(c)) {
        return None;
    }
    Some((format!("{area}-{local}"), rest))
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

    /// (address, its prefecture).
    const ADDRESSES: &[(&str, Option<&str>)] = &[
        ("東京都千代田区霞が関3-1-1", Some("東京都")),
        ("　東京都千代田区霞が関3-1-1", Some("東京都")),
        ("〒100-0001 東京都千代田区千代田1-1", Some("東京都")),
        ("〒1000001東京都千代田区千代田1-1", Some("東京都")),
        ("100-0001 東京都千代田区千代田1-1", Some("東京都")),
        ("〒１００－０００１　東京都千代田区千代田１－１", Some("東京都")),
        ("１００ー０００１ 東京都千代田区", Some("東京都")),
        ("郵便番号：530-0001 大阪府大阪市北区梅田1-1", Some("大阪府")),
        ("東京千代田区丸の内1-1", Some("東京都")),
        ("東京 千代田区丸の内1-1", Some("東京都")),
        ("京都府京都市下京区", Some("京都府")),
        ("京都市下京区烏丸通", Some("京都府")),
        ("大阪市北区梅田1-1", Some("大阪府")),
        ("横浜市西区みなとみらい2-2-1", Some("神奈川県")),
        ("さいたま市大宮区", Some("埼玉県")),
        ("北九州市小倉北区", Some("福岡県")),
        ("堺市堺区", Some("大阪府")),
        ("〒060-0001 札幌市中央区北1条西", Some("北海道")),
        ("名古屋市中村区名駅", Some("愛知県")),
        ("千代田区丸の内1-1", Some("東京都")),
        ("世田谷区三軒茶屋", Some("東京都")),
        ("江戸川区", Some("東京都")),
        ("港区六本木6-10-1", Some("東京都")),
        ("神奈川県横浜市中区", Some("神奈川県")),
        ("神奈川横浜市中区", Some("神奈川県")),
        ("千葉市中央区", Some("千葉県")),
        ("福島市杉妻町", Some("福島県")),
        ("北海道札幌市", Some("北海道")),
        ("鹿児島県鹿児島市", Some("鹿児島県")),
        ("港北区新横浜", None),
        ("府中市", None),
        ("石川郡石川町", None),
        ("愛知郡東郷町", None),
        ("北広島市", None),
        ("New York", None),
        ("1-2-3 Roppongi", None),
        ("", None),
    ];

    #[test]
    fn finds_prefecture_at_start_of_address() {
        for (address, prefecture) in ADDRESSES {
            assert_eq!(prefecture_of_address(address), *prefecture, "{address}");
        }
    }

    /// (input, postal code: "" for none).
    const POSTAL_CODES: &[(&str, &str)] = &[
        ("〒1000001", "100-0001"),
        ("100-0001", "100-0001"),
        ("１００－０００１", "100-0001"),
        ("〒 100-0001", "100-0001"),
        ("〒100ー0001", "100-0001"),
        ("1000001", "100-0001"),
        ("100 0001", "100-0001"),
        ("郵便番号：100-0001", "100-0001"),
        (" 〒１００‐０００１ ", "100-0001"),
        ("100-000", ""),
        ("1000-001", ""),
        ("100-00011", ""),
        ("〒100-0001 東京都", ""),
        ("abc", ""),
        ("", ""),
    ];

    #[test]
    fn parses_postal_codes() {
        for (input, code) in POSTAL_CODES {
            assert_eq!(parse_postal_code(input).unwrap_or_default(), *code, "{input}");
        }
    }

    /// (address, postal code: "" for none, rest).
    const SPLITS: &[(&str, &str, &str)] = &[
        ("〒100-0001 東京都千代田区千代田1-1", "100-0001", "東京都千代田区千代田1-1"),
        ("〒１００－０００１　東京都千代田区", "100-0001", "東京都千代田区"),
        ("100-0001、東京都千代田区", "100-0001", "東京都千代田区"),
        ("1000001東京都千代田区", "100-0001", "東京都千代田区"),
        ("東京都千代田区千代田1-1", "", "東京都千代田区千代田1-1"),
        ("1-2-3 Roppongi", "", "1-2-3 Roppongi"),
        ("   ", "", ""),
    ];

    #[test]
    fn splits_postal_code_from_address() {
        for (address, code, rest) in SPLITS {
            let (found, remainder) = split_postal_code(address);
            assert_eq!((found.unwrap_or_default().as_str(), remainder.as_str()), (*code, *rest), "{address}");
        }
    }
}
