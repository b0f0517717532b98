//! Importing leads from a CSV file: decode (UTF-8, UTF-8 with BOM, Shift_JIS/CP932, guessed
//! or chosen), map the columns (guessed from the headers, or chosen), turn each row into a lead
//! or a rejection with its line and reasons, match each lead against the stored people, and
//! write batch by batch. Every row ends up created, merged, unchanged, queued for review or
//! rejected, and the counts add up to the rows read.

mod producer;
mod rows;
mod runner;

pub use rows::{fields_json, lead_of_row, RowContext};

use hatake_csv::{decode, Mapping, RowReader, TextEncoding};
use hatake_domain::{FieldError, LeadData};
use hatake_store::StoreError;
use sha2::{Digest, Sha256};

/// Most records resolved and written per transaction. Larger batches dirty each index page for
/// more rows (BENCHMARKS.md has the figures of 25,000 and 100,000). Smaller files are cut into
/// about ten batches (at least [`MIN_BATCH_SIZE`] rows each), so their progress shows.
pub const BATCH_SIZE: usize = 100_000;
pub const MIN_BATCH_SIZE: usize = 5_000;

/// The batch size for a file of this many data lines (see [`BATCH_SIZE`]).
pub fn batch_size_for(lines: usize) -> usize {
    (lines / 10).clamp(MIN_BATCH_SIZE, BATCH_SIZE)
}

/// The sizes of an import's batches: the first ones smaller, doubling up to `size`, so the
/// first write starts soon (nothing is written while the first batch is matched; a whole
/// batch of 100,000 takes seconds to match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSizes {
    pub first: usize,
    pub size: usize,
}

impl BatchSizes {
    /// Batches of `size` records from the first.
    pub fn fixed(size: usize) -> Self {
        let size = size.max(1);
        Self { first: size, size }
    }

    /// Starting at an eighth of `size` (at least [`MIN_BATCH_SIZE`] or `size`).
    pub fn ramped(size: usize) -> Self {
        let size = size.max(1);
        Self { first: (size / 8).max(MIN_BATCH_SIZE).min(size), size }
    }

    /// The size of the batch after one of `previous` records.
    pub fn next(self, previous: usize) -> usize {
        previous.saturating_mul(2).clamp(self.first, self.size)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as CSV at all (no header, a broken quote …).
    #[error("{}", .0.message_en)]
    File(FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<hatake_csv::ReadError> for ImportError {
    fn from(error: hatake_csv::ReadError) -> Self {
        Self::file(error.code(), error.message_ja(), error.message_en())
    }
}

impl ImportError {
    fn file(code: &'static str, ja: String, en: String) -> Self {
        Self::File(FieldError::new("file", code, ja, en))
    }
}

/// The whole file decoded, with the mapping to use.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Shared with the thread that reads the rows during an import.
    pub text: std::sync::Arc<str>,
    pub encoding: TextEncoding,
    /// Characters that could not be decoded (a wrong encoding shows here).
    pub malformed: usize,
    pub headers: Vec<String>,
    pub mapping: Mapping,
    pub sha256: String,
}

/// Decodes the file and settles the mapping (guessed from the headers unless given).
///
/// # Errors
/// [`ImportError::File`] when the file has no header row or the given mapping does not fit.
pub fn prepare(
    bytes: &[u8],
    encoding: Option<TextEncoding>,
    mapping: Option<Mapping>,
) -> Result<Prepared, ImportError> {
    let decoded = decode(bytes, encoding);
    let reader = RowReader::new(&decoded.text)?;
    let headers = reader.headers().unique_names("ja");
    let mapping = mapping.unwrap_or_else(|| Mapping::guess(&headers));
    if mapping.0.len() != headers.len() {
        return Err(ImportError::file(
            "mapping_mismatch",
            format!("列の対応付けは{}列分ですが、ファイルは{}列です", mapping.0.len(), headers.len()),
            format!("The mapping covers {} columns but the file has {}", mapping.0.len(), headers.len()),
        ));
    }
    if let Err(errors) = mapping.validate() {
        let first = errors.0.into_iter().next().expect("validate fails with an error");
        return Err(ImportError::File(first));
    }
    let sha256 = sha256_hex(bytes);
    Ok(Prepared {
        text: decoded.text.into(),
        encoding: decoded.encoding,
        malformed: decoded.malformed,
        headers,
        mapping,
        sha256,
    })
}

/// The hex SHA-256 of a file: how an import recognises a file it has seen.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One row as the preview shows it.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    pub line: usize,
    pub fields: Vec<String>,
    pub result: Result<LeadData, Vec<FieldError>>,
}

/// The first rows of a prepared file, each with its problems, without writing anything.
///
/// # Errors
/// [`ImportError::File`] for a CSV syntax error.
pub fn preview(
    prepared: &Prepared,
    context: &RowContext,
    limit: usize,
) -> Result<(Vec<PreviewRow>, usize), ImportError> {
    let mut reader = RowReader::new(&prepared.text)?;
    let mut rows = Vec::new();
    let mut total = 0;
    while let Some(row) = reader.next_row() {
        let row = row?;
        total += 1;
        if rows.len() < limit {
            rows.push(PreviewRow {
                line: row.line,
                fields: row.iter().map(str::to_owned).collect(),
                result: lead_of_row(&row, &prepared.mapping, context).map_err(|e| e.0),
            });
        }
    }
    Ok((rows, total))
}

pub use runner::{
    claim, finish, is_stopped, prepare_resume, resume, resume_claimed, run, start, ImportOptions, Progress, Resumption,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_ramp_up_to_their_size() {
        let sizes = BatchSizes::ramped(BATCH_SIZE);
        let mut size = sizes.first;
        let mut seen = vec![size];
        for _ in 0..4 {
            size = sizes.next(size);
            seen.push(size);
        }
        assert_eq!(seen, [12_500, 25_000, 50_000, 100_000, 100_000]);
        // A small file's batches are all of one size; so are the ones asked for.
        assert_eq!(BatchSizes::ramped(batch_size_for(20_000)), BatchSizes { first: 5_000, size: 5_000 });
        assert_eq!(BatchSizes::fixed(2).next(2), 2);
        assert_eq!(BatchSizes::fixed(0), BatchSizes { first: 1, size: 1 });
    }
}
