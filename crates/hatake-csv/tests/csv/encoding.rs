//! Detecting and decoding encodings.

use super::cp932;
use hatake_csv::{decode, detect, TextEncoding};

const SAMPLE: &str = "会社名,氏名\r\n株式会社はたけ①㈱,髙橋 﨑子\r\n";

#[test]
fn detects_and_decodes_each_encoding() {
    let utf16: Vec<u8> = b"\xFF\xFE".iter().copied().chain(SAMPLE.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    let cases: Vec<(&str, Vec<u8>, TextEncoding)> = vec![
        ("utf-8", SAMPLE.as_bytes().to_vec(), TextEncoding::Utf8),
        ("utf-8 with BOM", [b"\xEF\xBB\xBF".as_slice(), SAMPLE.as_bytes()].concat(), TextEncoding::Utf8Bom),
        ("cp932 with NEC and IBM extensions", cp932(SAMPLE), TextEncoding::ShiftJis),
        ("utf-16le with BOM", utf16, TextEncoding::Utf16Le),
    ];
    for (name, bytes, expected) in cases {
        assert_eq!(detect(&bytes), expected, "{name}");
        let decoded = decode(&bytes, None);
        assert_eq!((decoded.text.as_str(), decoded.encoding, decoded.malformed), (SAMPLE, expected, 0), "{name}");
    }
}

#[test]
fn ascii_is_utf8_and_empty_input_decodes_to_nothing() {
    assert_eq!(detect(b"name,email\n"), TextEncoding::Utf8);
    assert_eq!(
        decode(b"", None),
        hatake_csv::Decoded { text: String::new(), encoding: TextEncoding::Utf8, malformed: 0 }
    );
}

#[test]
fn a_shift_jis_file_forced_as_utf8_reports_malformed_bytes() {
    let bytes = cp932(SAMPLE);
    let decoded = decode(&bytes, Some(TextEncoding::Utf8));
    assert_eq!(decoded.encoding, TextEncoding::Utf8);
    assert!(decoded.malformed > 0, "{decoded:?}");
    assert!(decoded.text.contains('\u{FFFD}'));
    assert!(decoded.text.contains(",") && decoded.text.ends_with("\r\n"), "ASCII survives: {:?}", decoded.text);
}

#[test]
fn a_utf8_file_forced_as_shift_jis_is_visible_too() {
    // UTF-8 kana read as CP932 mostly decode to other characters, but not cleanly.
    let decoded = decode("株式会社はたけ、山田太郎、髙橋".as_bytes(), Some(TextEncoding::ShiftJis));
    assert!(decoded.malformed > 0, "{decoded:?}");
}

#[test]
fn a_replacement_character_in_the_file_is_not_counted() {
    let decoded = decode("壊れた\u{FFFD}文字".as_bytes(), None);
    assert_eq!(decoded.malformed, 0);
}

#[test]
fn the_bom_is_removed_even_when_the_bomless_variant_is_chosen() {
    let bytes = [b"\xEF\xBB\xBF".as_slice(), "氏名".as_bytes()].concat();
    assert_eq!(decode(&bytes, Some(TextEncoding::Utf8)).text, "氏名");
}

#[test]
fn keys_parse_with_aliases() {
    let cases = [
        ("utf-8", Some(TextEncoding::Utf8)),
        ("UTF-8-BOM", Some(TextEncoding::Utf8Bom)),
        ("shift_jis", Some(TextEncoding::ShiftJis)),
        ("cp932", Some(TextEncoding::ShiftJis)),
        ("sjis", Some(TextEncoding::ShiftJis)),
        (" utf-16le ", Some(TextEncoding::Utf16Le)),
        ("euc-jp", None),
        ("", None),
    ];
    for (key, expected) in cases {
        assert_eq!(TextEncoding::parse(key).ok(), expected, "{key}");
    }
    for encoding in TextEncoding::ALL {
        assert_eq!(TextEncoding::parse(encoding.as_str()), Ok(encoding));
    }
    assert_eq!(TextEncoding::parse("latin1").unwrap_err().field, "encoding");
}
