//! Exports: quoting, formula neutralisation, CP932, round trips through the reader.

use hatake_csv::{decode, neutralise_formula, read_all, write_csv, CsvWriter, ExportEncoding, TextEncoding};

fn row(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn utf8_exports_start_with_a_bom_and_end_lines_with_crlf() {
    let export = write_csv(
        &["会社名", "備考"],
        vec![row(&["はたけ", "a,b"]), row(&["x", "say \"hi\"\nbye"])],
        ExportEncoding::Utf8Bom,
    );
    assert_eq!(export.bytes, "\u{FEFF}会社名,備考\r\nはたけ,\"a,b\"\r\nx,\"say \"\"hi\"\"\nbye\"\r\n".as_bytes());
    assert_eq!((export.unmappable, export.rows), (0, 2));
}

#[test]
fn formula_starts_get_a_leading_quote() {
    let cases = [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+81 3 1234 5678", "'+81 3 1234 5678"),
        ("-", "'-"),
        ("-5", "'-5"),
        ("@cmd", "'@cmd"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("03-1234-5678", "03-1234-5678"),
        ("a=b", "a=b"),
        ("＝全角は式にならない", "＝全角は式にならない"),
        ("", ""),
    ];
    for (field, expected) in cases {
        assert_eq!(neutralise_formula(field), expected, "{field:?}");
    }
    let export = write_csv(&["x"], vec![row(&["=HYPERLINK(\"http://example.com\",\"x\")"])], ExportEncoding::Utf8Bom);
    let text = String::from_utf8(export.bytes).unwrap();
    assert!(text.ends_with("\"'=HYPERLINK(\"\"http://example.com\"\",\"\"x\"\")\"\r\n"), "{text}");
}

#[test]
fn exports_round_trip_through_the_reader() {
    let rows = vec![
        row(&["株式会社はたけ", "山田\u{3000}太郎", "複数行の\r\n備考, カンマ付き", "\"引用\""]),
        row(&["髙橋商店", "﨑本 ①", "", "=1+1"]),
    ];
    for encoding in ExportEncoding::ALL {
        let export = write_csv(&["会社名", "氏名", "備考", "メモ"], rows.clone(), encoding);
        let decoded = decode(&export.bytes, None);
        assert_eq!(decoded.malformed, 0);
        let table = read_all(&decoded.text).unwrap();
        assert_eq!(table.headers.raw, row(&["会社名", "氏名", "備考", "メモ"]));
        let read: Vec<Vec<String>> = table.rows.into_iter().map(|r| r.fields).collect();
        let mut expected = rows.clone();
        expected[1][3] = "'=1+1".to_owned();
        assert_eq!(read, expected, "{encoding:?}");
        assert_eq!(table.stats.wrong_column_rows, 0);
    }
}

#[test]
fn cp932_exports_decode_with_encoding_rs() {
    let export = write_csv(&["氏名"], vec![row(&["髙橋 﨑子 ㈱ ① 〜 ～"])], ExportEncoding::Cp932);
    assert_eq!(export.unmappable, 0);
    assert_eq!(decode(&export.bytes, None).encoding, TextEncoding::ShiftJis);
    let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&export.bytes);
    assert!(!had_errors);
    // The JIS wave dash is written as its Windows twin, the full-width tilde.
    assert_eq!(text, "氏名\r\n髙橋 﨑子 ㈱ ① ～ ～\r\n");
}

#[test]
fn characters_cp932_cannot_hold_become_question_marks() {
    let export = write_csv(&["メモ"], vec![row(&["よろしく😀です"])], ExportEncoding::Cp932);
    assert_eq!(export.unmappable, 1);
    let (text, _) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(&export.bytes);
    assert_eq!(text, "メモ\r\nよろしく?です\r\n");
    assert!(!text.contains("&#"));
}

#[test]
fn a_streaming_export_can_be_taken_in_pieces() {
    let mut writer = CsvWriter::new(&["n"], ExportEncoding::Cp932);
    let mut bytes = writer.take_bytes();
    for n in 0..1000 {
        writer.write_row([n.to_string()]);
        if writer.buffered() > 512 {
            bytes.extend(writer.take_bytes());
        }
    }
    let export = writer.finish();
    bytes.extend(export.bytes);
    assert_eq!(export.rows, 1000);
    let table = read_all(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(table.rows.len(), 1000);
    assert_eq!(table.rows[999].fields, row(&["999"]));
}

#[test]
fn export_encodings_parse() {
    assert_eq!(ExportEncoding::parse("utf-8-bom"), Ok(ExportEncoding::Utf8Bom));
    assert_eq!(ExportEncoding::parse("Shift_JIS"), Ok(ExportEncoding::Cp932));
    assert_eq!(ExportEncoding::parse("cp932"), Ok(ExportEncoding::Cp932));
    assert_eq!(ExportEncoding::parse("utf-16").unwrap_err().code, "invalid_encoding");
}
