//! The reading half of an import, on a thread of its own: rows become leads (or rejections)
//! with their matching features, batch by batch, while the previous batch is matched and
//! written. On a two-core machine the file's parsing and validation then cost no wall time.

use super::rows::{fields_json, lead_of_row, RowContext};
use super::Prepared;
use crate::resolve::Incoming;
use hatake_csv::RowReader;
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::matching::LeadFeatures;
use hatake_domain::FieldError;
use hatake_store::RejectRow;
use std::collections::HashMap;
use std::sync::Arc;

/// One batch as the reading thread hands it over.
pub struct Parsed {
    pub leads: Vec<(Incoming, LeadFeatures)>,
    /// The corporate numbers (法人番号) rows gave, by index into `leads`: the lead works for
    /// the company of the master with that number.
    pub numbers: Vec<(usize, String)>,
    pub rejects: Vec<RejectRow>,
    /// Rows read for this batch (leads + rejects).
    pub rows: i64,
}

/// Which data rows to read: the first `skip` are passed over (an import resumed, or a batch
/// taken again on its own), then at most `limit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub skip: i64,
    pub limit: Option<i64>,
}

/// Starts reading `prepared` on its own thread; batches arrive on the returned channel (at
/// most two waiting), and the channel closes after the last.
pub fn spawn(
    prepared: &Prepared,
    context: RowContext,
    departments: DepartmentDictionary,
    sizes: super::BatchSizes,
    span: Span,
) -> tokio::sync::mpsc::Receiver<Parsed> {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let text = Arc::clone(&prepared.text);
    let mapping = prepared.mapping.clone();
    let headers = prepared.headers.clone();
    std::thread::spawn(move || {
        let Ok(mut reader) = RowReader::new(&text) else { return };
        for _ in 0..span.skip {
            if reader.next_row().is_none() {
                return;
            }
        }
        let mut left = span.limit.unwrap_or(i64::MAX);
        // Departments repeat: each distinct text is classified once.
        let mut classes: HashMap<String, Option<String>> = HashMap::new();
        let mut batch_size = sizes.first;
        let mut parsed =
            Parsed { leads: Vec::with_capacity(batch_size), numbers: Vec::new(), rejects: Vec::new(), rows: 0 };
        loop {
            let next = if left > 0 { reader.next_row() } else { None };
            left -= 1;
            let done = next.is_none();
            match next {
                Some(Ok(row)) => {
                    parsed.rows += 1;
                    let line = i64::try_from(row.line).unwrap_or(i64::MAX);
                    match lead_of_row(&row, &mapping, &context) {
                        Ok(mut data) => {
                            data.department_class = data.department.as_ref().and_then(|d| {
                                classes
                                    .entry(d.clone())
                                    .or_insert_with(|| departments.classify(d).map(|c| c.key.clone()))
                                    .clone()
                            });
                            if let Ok(Some(number)) = super::rows::corporate_number_of_row(&row, &mapping) {
                                parsed.numbers.push((parsed.leads.len(), number.as_str().to_owned()));
                            }
                            let features = LeadFeatures::new(&data);
                            let incoming = Incoming {
                                data,
                                line: Some(line),
                                channel: "import",
                                source: context.source.clone(),
                                fields: fields_json(&headers, &row),
                            };
                            parsed.leads.push((incoming, features));
                        }
                        Err(problems) => parsed.rejects.push(RejectRow {
                            line,
                            fields: serde_json::to_string(&row.iter().collect::<Vec<_>>()).unwrap_or_default(),
                            problems: serde_json::to_string(&problems.0).unwrap_or_default(),
                        }),
                    }
                }
                Some(Err(error)) => {
                    // A broken quote swallows the rest of the file: reject it by line, keep what came before.
                    parsed.rows += 1;
                    let problem = FieldError::new("row", error.code(), error.message_ja(), error.message_en());
                    parsed.rejects.push(RejectRow {
                        line: i64::try_from(error.line().unwrap_or(0)).unwrap_or(0),
                        fields: "[]".to_owned(),
                        problems: serde_json::to_string(&[problem]).unwrap_or_default(),
                    });
                    let _ = sender.blocking_send(std::mem::replace(
                        &mut parsed,
                        Parsed { leads: Vec::new(), numbers: Vec::new(), rejects: Vec::new(), rows: 0 },
                    ));
                    return;
                }
                None => {}
            }
            if parsed.leads.len() >= batch_size || (done && parsed.rows > 0) {
                batch_size = sizes.next(batch_size);
                let full = std::mem::replace(
                    &mut parsed,
                    Parsed { leads: Vec::with_capacity(batch_size), numbers: Vec::new(), rejects: Vec::new(), rows: 0 },
                );
                if sender.blocking_send(full).is_err() {
                    return; // The import stopped (a store error): nothing more to read for.
                }
            }
            if done {
                return;
            }
        }
    });
    receiver
}
