//! The corporate-number bulk file: the UTF-8 fixture, its Shift_JIS twin, and broken rows.

use hatake_csv::corporate::codes::{close_cause_label, process_label, COLUMNS};
use hatake_csv::{decode, is_corporate_bulk_file, read_all, read_corporate, CorporateRecord, RowProblem, TextEncoding};
use hatake_domain::CorporateNumber;

fn sample() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/corporate_sample_utf8.csv");
    std::fs::read_to_string(path).unwrap()
}

fn number(text: &str) -> CorporateNumber {
    CorporateNumber::parse(text).unwrap()
}

fn records(text: &str) -> Vec<CorporateRecord> {
    read_corporate(text).collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn the_sample_uses_valid_numbers_made_from_their_base() {
    for record in records(&sample()) {
        let base = &record.corporate_number.as_str()[1..];
        assert_eq!(CorporateNumber::from_base(base), record.corporate_number);
    }
}

#[test]
fn parses_the_utf8_sample() {
    check_sample(&records(&sample()));
}

#[test]
fn parses_the_shift_jis_twin() {
    let text = sample();
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable);
    let decoded = decode(&bytes, None);
    assert_eq!((decoded.encoding, decoded.malformed), (TextEncoding::ShiftJis, 0));
    check_sample(&records(&decoded.text));
}

fn check_sample(records: &[CorporateRecord]) {
    assert_eq!(records.len(), 9);
    let first = &records[0];
    assert_eq!(
        first,
        &CorporateRecord {
            sequence: 1,
            corporate_number: number("7999901000001"),
            process: "01".into(),
            update_date: "2015-11-13".into(),
            change_date: Some("2015-10-05".into()),
            name: "株式会社はたけ商事".into(),
            furigana: Some("ハタケショウジ".into()),
            kind_code: "301".into(),
            kind: Some("株式会社"),
            prefecture: Some("東京都".into()),
            city: Some("千代田区".into()),
            street: Some("丸の内１丁目２－３".into()),
            postal_code: Some("100-0005".into()),
            address_outside: None,
            close_date: None,
            close_cause: None,
            successor: None,
            assignment_date: Some("2015-10-05".into()),
            latest: true,
            en_name: Some("Hatake Shoji Co., Ltd.".into()),
            excluded: false,
        }
    );
    assert_eq!(first.address(), "東京都千代田区丸の内１丁目２－３");

    let renamed: Vec<&CorporateRecord> =
        records.iter().filter(|r| r.corporate_number.as_str() == "5999902000002").collect();
    assert_eq!(
        renamed.iter().map(|r| (r.name.as_str(), r.latest)).collect::<Vec<_>>(),
        vec![("有限会社みどり木工", true), ("有限会社緑木工所", false)]
    );
    assert_eq!(process_label(&renamed[0].process), Some("商号又は名称の変更"));
    assert_eq!(renamed[0].kind, Some("有限会社"));

    let closed = &records[4];
    assert!(closed.is_closed());
    assert_eq!((closed.close_date.as_deref(), closed.close_cause.as_deref()), (Some("2023-03-31"), Some("01")));
    assert_eq!(close_cause_label("01"), Some("清算の結了等"));

    let merged = &records[5];
    assert_eq!(merged.successor, Some(number("7999901000001")));
    assert_eq!(process_label(&merged.process), Some("吸収合併"));
    assert_eq!(close_cause_label(merged.close_cause.as_deref().unwrap()), Some("合併による解散等"));

    let foreign = &records[6];
    assert_eq!(foreign.kind, Some("外国会社等"));
    assert_eq!((foreign.prefecture.as_deref(), foreign.postal_code.as_deref()), (None, None));
    assert_eq!(foreign.address_outside.as_deref(), Some("アメリカ合衆国ワシントン州シアトル市パイン通り１２００"));

    assert_eq!(records[7].kind, Some("その他の設立登記法人"));
    assert_eq!(records[7].postal_code.as_deref(), Some("060-0001"));
    assert_eq!(records[8].name, "株式会社ＫＯＭＯＲＥＢＩラボ");
    assert!(records[8].excluded);
}

#[test]
fn the_bulk_file_is_told_apart_from_a_company_list() {
    let bulk = read_all(&sample()).unwrap();
    assert!(is_corporate_bulk_file(&bulk.headers.raw));
    let list = read_all("会社名,法人番号,住所\nはたけ商事,7999901000001,東京都\n").unwrap();
    assert!(!is_corporate_bulk_file(&list.headers.raw));
    let mut wrong_number = bulk.headers.raw.clone();
    wrong_number[1] = "8999901000001".into();
    assert!(!is_corporate_bulk_file(&wrong_number));
    let mut not_numbered = bulk.headers.raw.clone();
    not_numbered[0] = "一連番号".into();
    assert!(!is_corporate_bulk_file(&not_numbered));
    assert!(!is_corporate_bulk_file(&bulk.headers.raw[..29]));
}

#[test]
fn broken_rows_are_problems_naming_line_and_field() {
    let good = sample().lines().next().unwrap().to_owned();
    let with = |index: usize, value: &str| {
        let mut table = read_all(&good).unwrap().headers.raw;
        table[index] = value.to_owned();
        table.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(",")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("bad check digit", with(1, "8999901000001"), "corporate_number"),
        ("short number", with(1, "79999010"), "corporate_number"),
        ("bad successor", with(20, "1234567890123"), "successor"),
        ("missing name", with(6, ""), "name"),
        ("bad update date", with(4, "2015/11/13"), "update_date"),
        ("impossible close date", with(18, "2023-02-30"), "close_date"),
        ("missing update date", with(4, ""), "update_date"),
        ("bad latest flag", with(23, "2"), "latest"),
        ("bad postal code", with(15, "100001"), "postal_code"),
        ("not numbered", with(0, "x"), "sequence"),
        ("29 columns", good.rsplit_once(',').unwrap().0.to_owned(), "row"),
        ("unterminated quote", good.replace("\"ハタケショウジ\"", "\"ハタケショウジ"), "row"),
    ];
    for (name, row, field) in cases {
        let text = format!("\n{good}\n{row}\n");
        let results: Vec<Result<CorporateRecord, RowProblem>> = read_corporate(&text).collect();
        assert_eq!(results.len(), 2, "{name}");
        assert!(results[0].is_ok(), "{name}");
        let problem = results[1].clone().unwrap_err();
        assert_eq!((problem.line, problem.field), (3, field), "{name}: {problem}");
        assert!(!problem.reason_ja.is_empty() && !problem.reason_en.is_empty());
    }
}

#[test]
fn problems_read_well() {
    let good = sample().lines().next().unwrap().to_owned();
    let row = good.replacen("2015-11-13", "2015-11-31", 1);
    let problem = read_corporate(&row).next().unwrap().unwrap_err();
    assert_eq!(
        problem.reason_ja,
        "更新年月日（5列目）: 日付は YYYY-MM-DD の形で書かれている必要があります: 2015-11-31"
    );
    assert_eq!(problem.reason_en, "updateDate (column 5): not a YYYY-MM-DD date: 2015-11-31");
    let short = read_corporate("1,2,3").next().unwrap().unwrap_err();
    assert_eq!(short.reason_ja, "列数が違います: 期待 30, 実際 3");
    assert_eq!(COLUMNS.len(), 30);
}
