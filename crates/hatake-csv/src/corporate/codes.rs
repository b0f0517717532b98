//! The published codes of the corporate-number bulk file, and its columns' names.

/// The 30 columns in published order: (Japanese item name, English item name of the
/// Web-API specification).
pub const COLUMNS: [(&str, &str); 30] = [
    ("一連番号", "sequenceNumber"),
    ("法人番号", "corporateNumber"),
    ("処理区分", "process"),
    ("訂正区分", "correct"),
    ("更新年月日", "updateDate"),
    ("変更年月日", "changeDate"),
    ("商号又は名称", "name"),
    ("商号又は名称イメージID", "nameImageId"),
    ("法人種別", "kind"),
    ("国内所在地（都道府県）", "prefectureName"),
    ("国内所在地（市区町村）", "cityName"),
    ("国内所在地（丁目番地等）", "streetNumber"),
    ("国内所在地イメージID", "addressImageId"),
    ("都道府県コード", "prefectureCode"),
    ("市区町村コード", "cityCode"),
    ("郵便番号", "postCode"),
    ("国外所在地", "addressOutside"),
    ("国外所在地イメージID", "addressOutsideImageId"),
    ("登記記録の閉鎖等年月日", "closeDate"),
    ("登記記録の閉鎖等の事由", "closeCause"),
    ("承継先法人番号", "successorCorporateNumber"),
    ("変更事由の詳細", "changeCause"),
    ("法人番号指定年月日", "assignmentDate"),
    ("最新履歴", "latest"),
    ("商号又は名称（英語表記）", "enName"),
    ("国内所在地（都道府県）（英語表記）", "enPrefectureName"),
    ("国内所在地（市区町村丁目番地等）（英語表記）", "enCityName"),
    ("国外所在地（英語表記）", "enAddressOutside"),
    ("フリガナ", "furigana"),
    ("検索対象除外", "hihyoji"),
];

/// The label of a 法人種別 code.
pub fn kind_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "101" => "国の機関",
        "201" => "地方公共団体",
        "301" => "株式会社",
        "302" => "有限会社",
        "303" => "合名会社",
        "304" => "合資会社",
        "305" => "合同会社",
        "399" => "その他の設立登記法人",
        "401" => "外国会社等",
        "499" => "その他",
        _ => return None,
    })
}

/// The label of a 処理区分 code.
pub fn process_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "新規",
        "11" => "商号又は名称の変更",
        "12" => "国内所在地の変更",
        "13" => "国外所在地の変更",
        "21" => "登記記録の閉鎖等",
        "22" => "登記記録の閉鎖等の取消し",
        "71" => "吸収合併",
        "72" => "吸収合併無効",
        "81" => "商号の登記の抹消",
        "99" => "削除",
        _ => return None,
    })
}

/// The label of a 登記記録の閉鎖等の事由 code.
pub fn close_cause_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "01" => "清算の結了等",
        "11" => "合併による解散等",
        "21" => "登記官による閉鎖",
        "31" => "その他の清算の結了等",
        _ => return None,
    })
}

/// Whether `text` is a date written YYYY-MM-DD that exists in the calendar.
pub fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return false;
    }
    let number = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1 && (1..=days).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let cases = [
            ("2015-10-05", true),
            ("2024-02-29", true),
            ("2023-02-29", false),
            ("2000-02-29", true),
            ("1900-02-29", false),
            ("2015-13-01", false),
            ("2015-04-31", false),
            ("2015-00-10", false),
            ("2015/10/05", false),
            ("20151005", false),
            ("２０１５-10-05", false),
            ("", false),
        ];
        for (text, expected) in cases {
            assert_eq!(is_date(text), expected, "{text}");
        }
    }
}
