//! Integration tests of hatake-csv's public API, one module per part of the crate.

mod columns_company;
mod columns_lead;
mod corporate;
mod encoding;
mod mapping;
mod read;
mod write;

/// Bytes of `text` in CP932, as Excel in Japan writes them.
pub fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable, "the test text must fit CP932: {text}");
    bytes.into_owned()
}
