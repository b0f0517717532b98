//! The preview's reading of a file: every row checked as the importer will check it, the
//! first rows kept for the page with the cells their problems come from marked.

use super::field_label;
use hatake_csv::{LeadColumn, Mapping, RowReader};
use hatake_domain::FieldError;
use hatake_engine::import::{lead_of_row, Prepared, PreviewRow, RowContext};
use minijinja::context;

/// The first rows with their problems, and counts over the whole file.
pub(super) struct Scan {
    pub(super) rows: Vec<PreviewRow>,
    pub(super) total: usize,
    pub(super) valid: usize,
    pub(super) invalid: usize,
    /// A quote that never closes: the rows from its line on cannot be read.
    pub(super) syntax: Option<FieldError>,
    /// Each kind of problem (field and code) over the whole file, in the order first met.
    pub(super) kinds: Vec<ProblemKind>,
}

/// One kind of problem and how many rows have it.
pub(super) struct ProblemKind {
    pub(super) example: FieldError,
    pub(super) first_line: usize,
    pub(super) rows: usize,
}

impl Scan {
    fn count(&mut self, line: usize, problems: &[FieldError]) {
        for problem in problems {
            let same = |k: &&mut ProblemKind| k.example.field == problem.field && k.example.code == problem.code;
            match self.kinds.iter_mut().find(same) {
                Some(kind) => kind.rows += 1,
                None => self.kinds.push(ProblemKind { example: problem.clone(), first_line: line, rows: 1 }),
            }
        }
    }
}

/// Reads every row once: checks each as the importer will (without matching against stored
/// leads, so merges and duplicates show only after the import) and keeps the first `limit`.
pub(super) fn scan(prepared: &Prepared, context: &RowContext, limit: usize) -> Scan {
    let mut scan = Scan { rows: Vec::new(), total: 0, valid: 0, invalid: 0, syntax: None, kinds: Vec::new() };
    let syntax = |e: hatake_csv::ReadError| FieldError::new("row", e.code(), e.message_ja(), e.message_en());
    let mut reader = match RowReader::new(&prepared.text) {
        Ok(reader) => reader,
        Err(error) => {
            scan.syntax = Some(syntax(error));
            return scan;
        }
    };
    while let Some(next) = reader.next_row() {
        match next {
            Ok(row) => {
                scan.total += 1;
                let result = lead_of_row(&row, &prepared.mapping, context).map_err(|e| e.0);
                match &result {
                    Ok(_) => scan.valid += 1,
                    Err(problems) => {
                        scan.invalid += 1;
                        scan.count(row.line, problems);
                    }
                }
                if scan.rows.len() < limit {
                    scan.rows.push(PreviewRow {
                        line: row.line,
                        fields: row.iter().map(str::to_owned).collect(),
                        result,
                    });
                }
            }
            Err(error) => {
                scan.syntax = Some(syntax(error));
                break;
            }
        }
    }
    scan
}

/// The CSV columns a problem's field comes from.
fn columns_of_field(mapping: &Mapping, field: &str) -> Vec<usize> {
    let column = match field {
        "product_ids" => Some(LeadColumn::Product),
        "owner_id" => Some(LeadColumn::Owner),
        "family_name" => Some(LeadColumn::FamilyName),
        other => LeadColumn::parse(other),
    };
    let mut columns = column.map(|c| mapping.columns_of(c)).unwrap_or_default();
    // A name may come from the full-name column, a phone from the mobile column.
    let also = match field {
        "family_name" | "given_name" => Some(LeadColumn::FullName),
        "family_name_kana" | "given_name_kana" => Some(LeadColumn::FullNameKana),
        "phone" => Some(LeadColumn::Mobile),
        _ => None,
    };
    if let Some(also) = also {
        columns.extend(mapping.columns_of(also));
    }
    columns
}

/// The problems of the whole file by kind, most rows first, for the summary above the rows:
/// a column whose values the organisation does not know (products, owners) comes with a hint.
pub(super) fn kinds_view(kinds: &[ProblemKind], locale: &str) -> Vec<minijinja::Value> {
    let mut kinds: Vec<&ProblemKind> = kinds.iter().collect();
    kinds.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.first_line.cmp(&b.first_line)));
    kinds
        .into_iter()
        .map(|k| {
            let hint = match k.example.code {
                "unknown_product" => Some("import.hint.unknown_product"),
                "unknown_owner" => Some("import.hint.unknown_owner"),
                _ => None,
            };
            context! {
                field => field_label(&k.example.field, locale),
                example => k.example.message(locale),
                rows => k.rows,
                first_line => k.first_line,
                hint => hint.map(|key| crate::i18n::t(locale, key)),
            }
        })
        .collect()
}

pub(super) fn row_view(row: &PreviewRow, mapping: &Mapping, locale: &str) -> minijinja::Value {
    let problems: &[FieldError] = row.result.as_ref().err().map_or(&[], Vec::as_slice);
    let whole_row = problems.iter().any(|p| p.field == "row");
    let bad: Vec<usize> = problems.iter().flat_map(|p| columns_of_field(mapping, &p.field)).collect();
    let cells: Vec<minijinja::Value> = row
        .fields
        .iter()
        .enumerate()
        .map(|(i, value)| context! { value => value, bad => whole_row || bad.contains(&i) })
        .collect();
    let problems: Vec<minijinja::Value> = problems
        .iter()
        .map(|p| context! { field => field_label(&p.field, locale), message => p.message(locale) })
        .collect();
    context! { line => row.line, ok => row.result.is_ok(), cells => cells, problems => problems }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hatake_engine::import::prepare;

    #[test]
    fn scanning_counts_every_row_and_finds_a_broken_quote() {
        let text = "会社名,氏名,メールアドレス\nA社,山田 太郎,taro@example.jp\nB社,佐藤 花子,not-an-address\nC社,\"田中,x@example.jp\n";
        let prepared = prepare(text.as_bytes(), None, None).expect("prepared");
        let scanned = scan(&prepared, &RowContext::default(), 1);
        assert_eq!((scanned.total, scanned.valid, scanned.invalid, scanned.rows.len()), (2, 1, 1, 1));
        let syntax = scanned.syntax.expect("the open quote is reported");
        assert!(syntax.message_en.contains('4'), "names its line: {}", syntax.message_en);
        let view = row_view(&scan(&prepared, &RowContext::default(), 2).rows[1], &prepared.mapping, "ja");
        assert!(!view.get_attr("ok").unwrap().is_true());
        let cells = view.get_attr("cells").unwrap();
        let bad: Vec<bool> =
            (0..3).map(|i| cells.get_item_by_index(i).unwrap().get_attr("bad").unwrap().is_true()).collect();
        assert_eq!(bad, [false, false, true], "the e-mail cell is marked");
    }

    #[test]
    fn problems_are_summed_by_kind_with_hints_for_unknown_products() {
        let text =
            "氏名,メールアドレス,製品\n山田 太郎,a@,ERP\n佐藤 花子,b@example.jp,ERP\n田中 一郎,c@example.jp,MA\n";
        let prepared = prepare(text.as_bytes(), None, None).expect("prepared");
        let scanned = scan(&prepared, &RowContext::default(), 0);
        assert_eq!((scanned.valid, scanned.invalid), (0, 3));
        let kinds = kinds_view(&scanned.kinds, "ja");
        assert_eq!(kinds.len(), 2, "unknown product and invalid e-mail");
        let first = &kinds[0];
        assert_eq!(first.get_attr("rows").unwrap().as_usize(), Some(3));
        assert_eq!(first.get_attr("first_line").unwrap().as_usize(), Some(2));
        assert!(first.get_attr("hint").unwrap().to_string().contains("取り込まない"));
        assert_eq!(kinds[1].get_attr("rows").unwrap().as_usize(), Some(1));
        assert!(kinds[1].get_attr("hint").unwrap().is_none());
    }
}
