//! Reading rows: delimiters, header, blank rows, ragged rows, syntax errors, line numbers.

use hatake_csv::{read_all, Delimiter, OwnedRow, ReadError, RowReader, WrongColumnCount};

fn rows(text: &str) -> Vec<(usize, Vec<String>)> {
    read_all(text).unwrap().rows.into_iter().map(|row| (row.line, row.fields)).collect()
}

fn fields(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn detects_the_delimiter_from_the_header() {
    let cases = [
        ("comma", "会社名,氏名,メール\nA,B,C\n", Delimiter::Comma),
        ("tab", "会社名\t氏名\tメール\nA\tB,b\tC\n", Delimiter::Tab),
        ("semicolon", "name;email\nA;a@example.jp\n", Delimiter::Semicolon),
        ("quoted commas do not count", "\"a,b,c\";\"d\";e\n", Delimiter::Semicolon),
        ("one column", "email\na@example.jp\n", Delimiter::Comma),
        ("after blank lines", "\n,,\n  \nname\temail\n", Delimiter::Tab),
        ("tie goes to comma", "a,b\tc\n", Delimiter::Comma),
    ];
    for (name, text, expected) in cases {
        assert_eq!(Delimiter::detect(text), expected, "{name}");
        assert_eq!(RowReader::new(text).unwrap().delimiter(), expected, "{name}");
    }
}

#[test]
fn tab_separated_rows_keep_commas() {
    assert_eq!(
        rows("会社名\t住所\nはたけ\t東京都千代田区1-2-3, 4F\n"),
        vec![(2, fields(&["はたけ", "東京都千代田区1-2-3, 4F"]))]
    );
}

#[test]
fn fields_are_trimmed_of_ascii_whitespace_and_ideographic_spaces_only_at_the_ends() {
    let text = "氏名,会社名\n\u{3000}山田\u{3000}太郎\u{3000}, \t株式会社 はたけ \n";
    assert_eq!(rows(text), vec![(2, fields(&["山田\u{3000}太郎", "株式会社 はたけ"]))]);
}

#[test]
fn line_numbers_count_quoted_newlines_and_skipped_lines() {
    let text = "\n会社名,備考\r\nA,\"一行目\r\n二行目\r\n三行目\"\r\n\r\nB,x\r\n";
    let table = read_all(text).unwrap();
    assert_eq!(table.headers.line, 2);
    assert_eq!(
        table.rows.iter().map(|r| (r.line, r.fields[1].as_str())).collect::<Vec<_>>(),
        vec![(3, "一行目\r\n二行目\r\n三行目"), (7, "x")]
    );
    assert_eq!(table.stats.blank_rows, 2);
}

#[test]
fn blank_rows_are_skipped_and_counted() {
    let text = ",,\n会社名,氏名,メール\n,,\nA,B,C\n\n \u{3000}, ,\nD,E,F\n,,\n";
    let table = read_all(text).unwrap();
    assert_eq!(table.headers.raw, fields(&["会社名", "氏名", "メール"]));
    assert_eq!(table.rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![4, 7]);
    assert_eq!(table.stats.blank_rows, 5);
    assert_eq!(table.stats.rows, 2);
}

#[test]
fn rows_with_another_field_count_are_kept_and_flagged() {
    let table = read_all("a,b,c\n1,2\n1,2,3\n1,2,3,4\n").unwrap();
    assert_eq!(
        table.rows,
        vec![
            OwnedRow {
                line: 2,
                fields: fields(&["1", "2", ""]),
                wrong_columns: Some(WrongColumnCount { expected: 3, actual: 2 })
            },
            OwnedRow { line: 3, fields: fields(&["1", "2", "3"]), wrong_columns: None },
            OwnedRow {
                line: 4,
                fields: fields(&["1", "2", "3", "4"]),
                wrong_columns: Some(WrongColumnCount { expected: 3, actual: 4 })
            },
        ]
    );
    assert_eq!(table.stats.wrong_column_rows, 2);
    let problem = table.rows[0].wrong_columns.unwrap();
    assert_eq!(problem.message("ja"), "列数が違います: 期待 3, 実際 2");
    assert_eq!(problem.message("en"), "Wrong number of columns: expected 3, got 2");
}

#[test]
fn an_unterminated_quote_is_reported_with_its_line() {
    let text = "会社名,備考\nA,ok\nB,\"閉じていない\nC,x\n";
    let mut reader = RowReader::new(text).unwrap();
    assert_eq!(reader.next_row().unwrap().unwrap().line, 2);
    let error = reader.next_row().unwrap().unwrap_err();
    assert_eq!(error, ReadError::UnterminatedQuote { line: 3, column: 2 });
    assert_eq!(error.line(), Some(3));
    assert_eq!(error.code(), "csv_unterminated_quote");
    assert!(error.message_ja().contains("3行目"), "{}", error.message_ja());
    assert!(reader.next_row().is_none());
    assert_eq!(read_all(text).unwrap_err(), ReadError::UnterminatedQuote { line: 3, column: 2 });
}

#[test]
fn an_empty_file_is_an_error() {
    for text in ["", "\n\n", ",,,\r\n \r\n", "\u{FEFF}"] {
        assert_eq!(read_all(text).unwrap_err(), ReadError::Empty, "{text:?}");
    }
}

#[test]
fn a_header_only_file_has_no_rows() {
    let table = read_all("会社名,氏名\r\n").unwrap();
    assert_eq!(table.headers.raw, fields(&["会社名", "氏名"]));
    assert!(table.rows.is_empty());
}

#[test]
fn empty_and_repeated_headers_are_told_apart() {
    let table = read_all("会社名,,メール,メール,,メール (2),メール\n").unwrap();
    assert_eq!(
        table.headers.unique_names("ja"),
        fields(&["会社名", "列2", "メール", "メール (3)", "列5", "メール (2)", "メール (4)"])
    );
    assert_eq!(table.headers.unique_names("en")[1], "column 2");
}

#[test]
fn quoting_rules() {
    let text = "a,b\n\"x \"\"y\"\" z\",\"1,2\"\n\"\",\"  padded  \"\n";
    assert_eq!(rows(text), vec![(2, fields(&["x \"y\" z", "1,2"])), (3, fields(&["", "padded"]))]);
}

#[test]
fn a_byte_order_mark_left_in_the_text_is_ignored() {
    assert_eq!(read_all("\u{FEFF}会社名\nA\n").unwrap().headers.raw, fields(&["会社名"]));
}

#[test]
fn the_streaming_api_borrows_fields_and_returns_the_counts() {
    let text = "a,b\n1,2\n\n3\n";
    let mut seen = Vec::new();
    let stats = RowReader::new(text)
        .unwrap()
        .for_each_row(|row| seen.push((row.line, row.get(0).to_owned(), row.get(1).to_owned(), row.get(9).len())))
        .unwrap();
    assert_eq!(seen, vec![(2, "1".into(), "2".into(), 0), (4, "3".into(), String::new(), 0)]);
    assert_eq!((stats.rows, stats.blank_rows, stats.wrong_column_rows), (2, 1, 1));
}

#[test]
fn a_chosen_delimiter_overrides_detection() {
    let reader = RowReader::with_delimiter("a;b,c\n", Delimiter::Comma).unwrap();
    assert_eq!(reader.headers().raw, fields(&["a;b", "c"]));
}
