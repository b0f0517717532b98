//! A `multipart/form-data` body (RFC 7578) split into its parts, for the one form that sends a
//! file (the import upload). The whole body is in memory already (its size is capped before
//! it is read), so the parts are slices of it, not copies.
//!
//! Field names and file names are read as browsers write them (the HTML standard): UTF-8,
//! quoted, with `"`, CR and LF written as `%22`, `%0D` and `%0A`. A `filename*=UTF-8''…` form
//! (RFC 5987) is read too and preferred.

use axum::body::Bytes;

/// At most this many parts are read; a form of ours has a handful.
const MAX_PARTS: usize = 64;

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// Present for a file input (possibly empty when no file was chosen).
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

impl Part {
    /// The part as text (form fields other than files).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the request is not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("the multipart body is malformed")]
    Malformed,
    #[error("the form has too many parts")]
    TooManyParts,
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 200).then(|| value.to_owned())
    })
}

/// Splits a body into its parts.
///
/// # Errors
/// When the content type is not multipart with a boundary, when the body does not follow it,
/// or when it has more than [`MAX_PARTS`] parts.
pub fn parse(content_type: &str, body: &Bytes) -> Result<Vec<Part>, MultipartError> {
    let boundary = boundary(content_type).ok_or(MultipartError::NotMultipart)?;
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first boundary starts the body or follows a preamble line.
    let mut at = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        find(body, delimiter.as_bytes(), 0).ok_or(MultipartError::Malformed)? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding (spaces, tabs) may follow a boundary before its line end.
        while matches!(body.get(at), Some(b' ' | b'\t')) {
            at += 1;
        }
        if !body[at..].starts_with(b"\r\n") {
            return Err(MultipartError::Malformed);
        }
        at += 2;
        let header_end = find(body, b"\r\n\r\n", at).ok_or(MultipartError::Malformed)?;
        let headers = String::from_utf8_lossy(&body[at..header_end]).into_owned();
        let content_start = header_end + 4;
        let content_end = find(body, delimiter.as_bytes(), content_start).ok_or(MultipartError::Malformed)?;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        parts.push(part(&headers, body.slice(content_start..content_end))?);
        at = content_end + delimiter.len();
    }
}

fn part(headers: &str, data: Bytes) -> Result<Part, MultipartError> {
    let mut name = None;
    let mut file_name = None;
    let mut content_type = None;
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-disposition") {
            let params = disposition_params(value);
            name = params.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone());
            let plain = params.iter().find(|(k, _)| k == "filename").map(|(_, v)| v.clone());
            let extended = params.iter().find(|(k, _)| k == "filename*").and_then(|(_, v)| extended_value(v));
            file_name = extended.or(plain);
        } else if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    let name = name.ok_or(MultipartError::Malformed)?;
    Ok(Part { name, file_name, content_type, data })
}

/// `form-data; name="a"; filename="b.csv"` → [("name", "a"), ("filename", "b.csv")]; keys in
/// lower case, values unquoted and unescaped.
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut rest = value;
    while let Some(semicolon) = rest.find(';') {
        rest = &rest[semicolon + 1..];
        let Some(equals) = rest.find('=') else { break };
        let key = rest[..equals].trim().to_ascii_lowercase();
        rest = rest[equals + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let (value, after) = quoted_string(quoted);
            rest = after;
            value
        } else {
            let end = rest.find(';').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        params.push((key, unescape_html_form(&value)));
    }
    params
}

/// The text of a quoted string (after its opening quote) and what follows its closing quote.
/// A backslash escapes the next character (RFC 2616's quoted-pair), which some clients use.
fn quoted_string(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (value, &text[i + 1..]),
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    value.push(next);
                }
            }
            other => value.push(other),
        }
    }
    (value, "")
}

/// Browsers write `"`, CR and LF in names as `%22`, `%0D` and `%0A`.
fn unescape_html_form(value: &str) -> String {
    value.replace("%22", "\"").replace("%0D", "\r").replace("%0A", "\n")
}

/// `UTF-8''%E5%B1%95.csv` → "展.csv" (RFC 5987); other charsets are not read.
fn extended_value(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The first position of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = from;
    while at + needle.len() <= haystack.len() {
        let next = haystack[at..=haystack.len() - needle.len()].iter().position(|b| *b == first)? + at;
        if haystack[next..].starts_with(needle) {
            return Some(next);
        }
        at = next + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=----WebKitFormBoundaryABC123";

    fn body(parts: &[&str]) -> Bytes {
        let mut text = String::from("preamble is ignored\r\n");
        for part in parts {
            text.push_str("------WebKitFormBoundaryABC123\r\n");
            text.push_str(part);
            text.push_str("\r\n");
        }
        text.push_str("------WebKitFormBoundaryABC123--\r\n");
        Bytes::from(text)
    }

    #[test]
    fn fields_and_files_as_a_browser_sends_them() {
        let body = body(&[
            "Content-Disposition: form-data; name=\"_csrf\"\r\n\r\ntoken-1",
            "Content-Disposition: form-data; name=\"file\"; filename=\"展示会 %22A%22.csv\"\r\nContent-Type: text/csv\r\n\r\n会社名,氏名\r\nA,B\r\n",
            "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n",
        ]);
        let parts = parse(TYPE, &body).expect("parses");
        assert_eq!(parts.len(), 3);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].text().as_str(), parts[0].file_name.as_deref()),
            ("_csrf", "token-1", None)
        );
        assert_eq!(parts[1].file_name.as_deref(), Some("展示会 \"A\".csv"));
        assert_eq!(parts[1].content_type.as_deref(), Some("text/csv"));
        assert_eq!(parts[1].text(), "会社名,氏名\r\nA,B\r\n", "line ends inside the file are kept");
        assert_eq!((parts[2].file_name.as_deref(), parts[2].data.len()), (Some(""), 0));
    }

    #[test]
    fn binary_content_with_boundary_like_bytes_survives() {
        let file: Vec<u8> = vec![0x82, 0xa0, b'\r', b'\n', b'-', b'-', b'x', 0x00, 0xff];
        let mut raw =
            b"--b0\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E5%B1%95.csv\r\n\r\n".to_vec();
        raw.extend_from_slice(&file);
        raw.extend_from_slice(b"\r\n--b0--");
        let parts = parse("multipart/form-data; boundary=\"b0\"", &Bytes::from(raw)).expect("parses");
        assert_eq!(parts[0].data.as_ref(), file.as_slice());
        assert_eq!(parts[0].file_name.as_deref(), Some("展.csv"));
    }

    #[test]
    fn what_is_refused() {
        // Not multipart, or no boundary: nothing to split.
        assert_eq!(parse("application/x-www-form-urlencoded", &Bytes::new()), Err(MultipartError::NotMultipart));
        assert_eq!(parse("multipart/form-data", &Bytes::new()), Err(MultipartError::NotMultipart));
        // A body cut off before its closing boundary, or a part without a name.
        let cut = Bytes::from_static(b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue");
        assert_eq!(parse("multipart/form-data; boundary=b", &cut), Err(MultipartError::Malformed));
        let nameless = Bytes::from_static(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--");
        assert_eq!(parse("multipart/form-data; boundary=b", &nameless), Err(MultipartError::Malformed));
        // Too many parts.
        let many: String = (0..=MAX_PARTS)
            .map(|i| format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n"))
            .collect();
        let many = Bytes::from(format!("{many}--b--"));
        assert_eq!(parse("multipart/form-data; boundary=b", &many), Err(MultipartError::TooManyParts));
    }

    #[test]
    fn searching() {
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"abcabd", b"abd", 4), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"xxab", b"ab", 0), Some(2));
    }
}
