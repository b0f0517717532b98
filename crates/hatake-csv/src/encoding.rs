//! Text encodings of the CSV files Japanese teams exchange, and turning their bytes into text.
//!
//! Excel in Japan saves "CSV (コンマ区切り)" as CP932 (Windows-31J) and "CSV UTF-8" as UTF-8
//! with a byte-order mark; "Unicode テキスト" is UTF-16LE with a byte-order mark. Web tools
//! mostly write plain UTF-8. [`detect`] guesses which one a file is and [`decode`] turns it into
//! text, counting the characters it could not decode so that a wrong guess, or a wrong choice
//! by the user, shows up as a number rather than as silently garbled names.

use encoding_rs::{DecoderResult, Encoding, SHIFT_JIS, UTF_16LE, UTF_8};
use hatake_domain::FieldError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";

/// The encoding of a CSV file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    /// UTF-8 without a byte-order mark.
    Utf8,
    /// UTF-8 starting with the byte-order mark EF BB BF (Excel's "CSV UTF-8").
    Utf8Bom,
    /// CP932 (Windows-31J), the Shift_JIS variant Windows and Excel write, with the NEC and IBM
    /// extensions (①, ㈱, 髙, 﨑). encoding_rs's `SHIFT_JIS` is the WHATWG Shift_JIS, which is
    /// this code page.
    ShiftJis,
    /// UTF-16 little-endian starting with the byte-order mark FF FE (Excel's "Unicode テキスト").
    Utf16Le,
}

impl TextEncoding {
    pub const ALL: [TextEncoding; 4] =
        [TextEncoding::Utf8, TextEncoding::Utf8Bom, TextEncoding::ShiftJis, TextEncoding::Utf16Le];

    /// The stable key used in forms and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf8Bom => "utf-8-bom",
            TextEncoding::ShiftJis => "shift_jis",
            TextEncoding::Utf16Le => "utf-16le",
        }
    }

    /// A name to show users.
    pub fn label(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 (BOM付き)",
            TextEncoding::ShiftJis => "Shift_JIS (CP932)",
            TextEncoding::Utf16Le => "UTF-16LE",
        }
    }

    /// Parses a key, case-insensitively; `cp932`, `sjis`, `windows-31j`, `utf8` and `utf-16`
    /// are accepted as aliases.
    ///
    /// # Errors
    /// A field error on `encoding` for any other text.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "utf-8-bom" | "utf8-bom" | "utf-8bom" => Ok(TextEncoding::Utf8Bom),
            "shift_jis" | "shift-jis" | "sjis" | "cp932" | "windows-31j" | "ms932" => Ok(TextEncoding::ShiftJis),
            "utf-16le" | "utf16le" | "utf-16" => Ok(TextEncoding::Utf16Le),
            _ => Err(FieldError::new(
                "encoding",
                "invalid_encoding",
                format!("文字コードは utf-8 / utf-8-bom / shift_jis / utf-16le のいずれかです: {input}"),
                format!("The encoding must be utf-8, utf-8-bom, shift_jis or utf-16le: {input}"),
            )),
        }
    }

    fn encoding_rs(self) -> &'static Encoding {
        match self {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => UTF_8,
            TextEncoding::ShiftJis => SHIFT_JIS,
            TextEncoding::Utf16Le => UTF_16LE,
        }
    }

    /// The byte-order mark this encoding may start with, removed before decoding.
    fn bom(self) -> &'static [u8] {
        match self {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => UTF8_BOM,
            TextEncoding::Utf16Le => UTF16LE_BOM,
            TextEncoding::ShiftJis => b"",
        }
    }
}

impl std::fmt::Display for TextEncoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Guesses the encoding: a byte-order mark decides first; otherwise bytes that are valid UTF-8
/// are UTF-8 (plain ASCII included), and anything else is taken to be CP932.
pub fn detect(bytes: &[u8]) -> TextEncoding {
    if bytes.starts_with(UTF8_BOM) {
        TextEncoding::Utf8Bom
    } else if bytes.starts_with(UTF16LE_BOM) {
        TextEncoding::Utf16Le
    } else if std::str::from_utf8(bytes).is_ok() {
        TextEncoding::Utf8
    } else {
        TextEncoding::ShiftJis
    }
}

/// Text decoded from a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text, without its byte-order mark.
    pub text: String,
    /// The encoding used: the override if one was given, else the detected one.
    pub encoding: TextEncoding,
    /// How many malformed byte sequences were replaced with U+FFFD. Anything above zero means
    /// the encoding is probably wrong; a U+FFFD already present in the file is not counted.
    pub malformed: usize,
}

/// Decodes a file's bytes with `encoding`, or with the [`detect`]ed encoding when it is `None`.
///
/// A leading byte-order mark of the chosen encoding's family is removed even when the user
/// chose the BOM-less variant, so `Utf8` and `Utf8Bom` decode the same bytes the same way.
pub fn decode(bytes: &[u8], encoding: Option<TextEncoding>) -> Decoded {
    let encoding = encoding.unwrap_or_else(|| detect(bytes));
    let body = bytes.strip_prefix(encoding.bom()).unwrap_or(bytes);
    if encoding.encoding_rs() == UTF_8 {
        // The common case: valid UTF-8 needs no decoder, only a copy.
        if let Ok(text) = std::str::from_utf8(body) {
            return Decoded { text: text.to_owned(), encoding, malformed: 0 };
        }
    }
    let (text, malformed) = decode_counting(encoding.encoding_rs(), body);
    Decoded { text, encoding, malformed }
}

/// Decodes `bytes`, writing U+FFFD for each malformed sequence and counting them.
fn decode_counting(encoding: &'static Encoding, mut bytes: &[u8]) -> (String, usize) {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let capacity = decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len() * 3);
    let mut text = String::with_capacity(capacity);
    let mut malformed = 0;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
        bytes = &bytes[read..];
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => text.reserve(bytes.len() * 3 + 16),
            DecoderResult::Malformed(_, _) => {
                malformed += 1;
                text.push('\u{FFFD}');
            }
        }
    }
    (text, malformed)
}
