//! Exports: CSV files a person opens in Excel, with formulas neutralised.

use hatake_csv::{CsvWriter, ExportEncoding};
use hatake_store::RejectRow;

/// The rejected rows of an import as a CSV to fix and import again: the file's own columns
/// with the line number and the reasons in front.
pub fn rejects_csv(headers: &[String], rejects: &[RejectRow], encoding: ExportEncoding) -> Vec<u8> {
    let mut columns = vec!["行 line".to_owned(), "理由 reason".to_owned()];
    columns.extend(headers.iter().cloned());
    let mut writer = CsvWriter::new(&columns, encoding);
    for reject in rejects {
        let fields = reject.field_list();
        let reasons: Vec<String> =
            reject.problem_list().iter().map(|p| format!("{}: {} / {}", p.field, p.message_ja, p.message_en)).collect();
        let mut row = vec![reject.line.to_string(), reasons.join("; ")];
        row.extend(fields);
        writer.write_row(row);
    }
    writer.finish().bytes
}
