//! Reading and writing CSV files: encoding detection, header guessing, formula-safe export and
//! the corporate-number bulk file. Works on bytes and strings; it does no IO of its own.

pub mod columns;
pub mod corporate;
pub mod encoding;
pub mod read;
mod split;
pub mod write;

pub use columns::{guess_column, guess_company_column, ColumnKey, CompanyColumn, CompanyMapping, LeadColumn, Mapping};
pub use corporate::{is_corporate_bulk_file, read_corporate, CorporateReader, CorporateRecord, RowProblem};
pub use encoding::{decode, detect, Decoded, TextEncoding};
pub use read::{read_all, Delimiter, Headers, OwnedRow, ReadError, ReadStats, Row, RowReader, Table, WrongColumnCount};
pub use write::{neutralise_formula, write_csv, CsvWriter, Export, ExportEncoding};
