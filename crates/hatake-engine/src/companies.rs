//! The company master: importing companies (the corporate-number bulk file published by the
//! National Tax Agency, or any CSV of companies with a header) and linking leads to them.
//!
//! Companies are matched on the corporate number first, then on the normalised name and the
//! prefecture. Leads are linked by [`hatake_domain::matching::company::decide_company`]:
//! confident links are made, uncertain ones go to the review queue (kind `account`).

use hatake_csv::{
    decode, is_corporate_bulk_file, read_corporate, CompanyColumn, CompanyMapping, RowReader, TextEncoding,
};
use hatake_domain::company::normalise_company_name;
use hatake_domain::matching::company::{decide_company, CompanyCandidate, CompanyDecision, LeadCompany};
use hatake_domain::{AccountData, AccountInput, FieldError};
use hatake_store::{
    AccountRow, ImportCounts, ImportKind, ImportRow, LeadRow, NewImport, RejectRow, Store, StoreResult,
};
use std::collections::HashMap;

/// Companies written per batch.
const BATCH: usize = 5_000;

/// What linking leads to companies did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    pub linked: u64,
    pub review: u64,
    pub unmatched: u64,
}

/// A lead without a company link, as linking sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkTarget {
    pub id: i64,
    pub company_name: Option<String>,
    pub prefecture: Option<String>,
    pub email: Option<String>,
}

impl LinkTarget {
    pub fn of(row: &LeadRow) -> Option<Self> {
        row.account_id.is_none().then(|| Self {
            id: row.id,
            company_name: row.company_name.clone(),
            prefecture: row.prefecture.clone(),
            email: row.email.clone(),
        })
    }
}

/// Links the given leads (those without a company link) to companies of the master.
///
/// # Errors
/// On a database error.
pub async fn link_leads<S: Store + ?Sized>(
    store: &S,
    leads: &[LinkTarget],
    import_id: Option<i64>,
    now: i64,
) -> StoreResult<LinkCounts> {
    let wanted: Vec<(&LinkTarget, LeadCompany)> = leads
        .iter()
        .filter_map(|l| {
            let name = l.company_name.as_deref()?;
            let domain = l
                .email
                .as_deref()
                .and_then(|e| hatake_domain::Email::parse(e).ok())
                .and_then(|e| e.company_domain().map(str::to_owned));
            Some((l, LeadCompany { name_key: normalise_company_name(name), prefecture: l.prefecture.clone(), domain }))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(LinkCounts::default());
    }
    let mut keys: Vec<String> = wanted.iter().map(|(_, c)| c.name_key.clone()).filter(|k| !k.is_empty()).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut by_key: HashMap<String, Vec<CompanyCandidate>> = HashMap::new();
    for account in store.accounts_by_name_keys(&keys).await? {
        by_key.entry(account.name_normalized.clone()).or_default().push(candidate(&account));
    }
    let (mut links, mut reviews) = (Vec::new(), Vec::new());
    let mut counts = LinkCounts::default();
    for (lead, company) in &wanted {
        let candidates = by_key.get(&company.name_key).map(Vec::as_slice).unwrap_or_default();
        match decide_company(company, candidates) {
            CompanyDecision::None => counts.unmatched += 1,
            CompanyDecision::Link { id, .. } => {
                links.push((lead.id, id));
                counts.linked += 1;
            }
            CompanyDecision::Review { ids, reason } => {
                let evidence = serde_json::json!({ "reason": reason }).to_string();
                reviews.extend(ids.into_iter().map(|id| (lead.id, id, 0.0, evidence.clone())));
                counts.review += 1;
            }
        }
    }
    store.link_leads(&links, &reviews, import_id, now).await?;
    Ok(counts)
}

fn candidate(account: &AccountRow) -> CompanyCandidate {
    CompanyCandidate {
        id: account.id,
        name_key: account.name_normalized.clone(),
        prefecture: account.prefecture.clone(),
        domains: account.domain_list().into_iter().map(str::to_owned).collect(),
    }
}

/// Links every lead that has a company name but no link yet.
///
/// # Errors
/// On a database error.
pub async fn link_all<S: Store + ?Sized>(store: &S, now: i64) -> StoreResult<LinkCounts> {
    let mut total = LinkCounts::default();
    let mut after = 0;
    loop {
        let page = store.unlinked_leads(after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let targets: Vec<LinkTarget> = page.iter().filter_map(LinkTarget::of).collect();
        let counts = link_leads(store, &targets, None, now).await?;
        total.linked += counts.linked;
        total.review += counts.review;
        total.unmatched += counts.unmatched;
    }
    Ok(total)
}

fn reject(line: usize, fields: Vec<String>, problems: &[FieldError]) -> RejectRow {
    RejectRow {
        line: i64::try_from(line).unwrap_or(0),
        fields: serde_json::to_string(&fields).unwrap_or_default(),
        problems: serde_json::to_string(problems).unwrap_or_default(),
    }
}

/// One company as read from a file, before it meets the master.
struct Incoming {
    data: AccountData,
}

/// Imports a company file: the corporate-number bulk file is recognised by its shape, any
/// other file needs a header row naming the columns.
///
/// # Errors
/// On a database error; a file that is not CSV at all is one rejected row.
pub async fn import_companies<S: Store + ?Sized>(
    store: &S,
    bytes: &[u8],
    encoding: Option<TextEncoding>,
    file_name: &str,
    created_by: Option<i64>,
    now: impl Fn() -> i64,
) -> StoreResult<ImportRow> {
    let decoded = decode(bytes, encoding);
    let sha256 = crate::import::sha256_hex(bytes);
    let first_row: Vec<String> = RowReader::new(&decoded.text).map(|r| r.headers().raw.clone()).unwrap_or_default();
    let bulk = is_corporate_bulk_file(&first_row);
    let mapping = if bulk { CompanyMapping::default() } else { CompanyMapping::guess(&first_row) };
    let import = store
        .create_import(
            &NewImport {
                kind: ImportKind::Companies,
                file_name: file_name.to_owned(),
                file_sha256: sha256,
                encoding: decoded.encoding.as_str().to_owned(),
                source: Some(if bulk { "corporate-number bulk file" } else { "company CSV" }.to_owned()),
                product_id: None,
                mapping: serde_json::to_string(&mapping).unwrap_or_default(),
                headers: serde_json::to_string(&if bulk {
                    hatake_csv::corporate::codes::COLUMNS.iter().map(|(ja, _)| (*ja).to_owned()).collect::<Vec<_>>()
                } else {
                    first_row.clone()
                })
                .unwrap_or_default(),
                created_by,
                event: None,
                subscribe: None,
            },
            now(),
        )
        .await?;
    let mut counts = ImportCounts::default();
    let mut rejects = Vec::new();
    let mut batch = Vec::new();
    let mut push = |counts: &mut ImportCounts, item: Result<Incoming, RejectRow>, batch: &mut Vec<Incoming>| {
        counts.total += 1;
        match item {
            Ok(incoming) => batch.push(incoming),
            Err(row) => {
                counts.rejected += 1;
                rejects.push(row);
            }
        }
    };
    if bulk {
        for record in read_corporate(&decoded.text) {
            match record {
                // History rows and closed companies are not companies to link leads to.
                Ok(record) if !record.latest || record.is_closed() => {
                    counts.total += 1;
                    counts.unchanged += 1;
                }
                Ok(record) => {
                    let input = AccountInput {
                        name: Some(record.name.clone()),
                        corporate_number: Some(record.corporate_number.as_str().to_owned()),
                        prefecture: record.prefecture.clone(),
                        address: Some(record.address()).filter(|a| !a.is_empty()),
                        ..AccountInput::default()
                    };
                    let item = input
                        .validate()
                        .map(|data| Incoming { data })
                        .map_err(|e| reject(0, vec![record.corporate_number.as_str().to_owned(), record.name], &e.0));
                    push(&mut counts, item, &mut batch);
                }
                Err(problem) => {
                    let error = FieldError::new(problem.field, "invalid_row", problem.reason_ja, problem.reason_en);
                    push(&mut counts, Err(reject(problem.line, Vec::new(), &[error])), &mut batch);
                }
            }
            if batch.len() >= BATCH {
                write_batch(store, &mut batch, &mut counts, now()).await?;
            }
        }
    } else if let Ok(mut reader) = RowReader::new(&decoded.text) {
        while let Some(row) = reader.next_row() {
            let Ok(row) = row else { break };
            let fields: Vec<String> = row.iter().map(str::to_owned).collect();
            let text = |column| {
                mapping
                    .columns_of(column)
                    .into_iter()
                    .map(|c| row.get(c).trim())
                    .find(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let address: Vec<&str> = mapping
                .columns_of(CompanyColumn::Address)
                .into_iter()
                .map(|c| row.get(c).trim())
                .filter(|v| !v.is_empty())
                .collect();
            let number = |column| text(column).and_then(|v| v.replace([',', '，'], "").parse::<i64>().ok());
            let input = AccountInput {
                name: text(CompanyColumn::Name),
                corporate_number: text(CompanyColumn::CorporateNumber),
                domains: text(CompanyColumn::Domain).map(|d| vec![d]),
                industry: text(CompanyColumn::Industry),
                employee_count: number(CompanyColumn::EmployeeCount),
                annual_revenue: number(CompanyColumn::AnnualRevenue),
                prefecture: text(CompanyColumn::Prefecture),
                address: (!address.is_empty()).then(|| address.join(" ")),
                ..AccountInput::default()
            };
            let item = match (row.wrong_columns, input.validate()) {
                (Some(wrong), _) => Err(reject(
                    row.line,
                    fields,
                    &[FieldError::new("row", "wrong_column_count", wrong.message_ja(), wrong.message_en())],
                )),
                (None, Ok(data)) => Ok(Incoming { data }),
                (None, Err(errors)) => Err(reject(row.line, fields, &errors.0)),
            };
            push(&mut counts, item, &mut batch);
            if batch.len() >= BATCH {
                write_batch(store, &mut batch, &mut counts, now()).await?;
            }
        }
    }
    write_batch(store, &mut batch, &mut counts, now()).await?;
    if !rejects.is_empty() {
        store.add_rejects(import.id, &rejects).await?;
    }
    store.finish_import(import.id, &counts, "done", None, now()).await?;
    store.get_import(import.id).await
}

/// Creates or updates a batch of companies: by corporate number, else by name and prefecture.
async fn write_batch<S: Store + ?Sized>(
    store: &S,
    batch: &mut Vec<Incoming>,
    counts: &mut ImportCounts,
    now: i64,
) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let numbers: Vec<String> =
        batch.iter().filter_map(|i| i.data.corporate_number.as_ref().map(|n| n.as_str().to_owned())).collect();
    let keys: Vec<String> =
        batch.iter().filter(|i| i.data.corporate_number.is_none()).map(|i| i.data.name_normalized.clone()).collect();
    let mut by_number: HashMap<String, AccountRow> = HashMap::new();
    for row in store.accounts_by_corporate_numbers(&numbers).await? {
        if let Some(n) = row.corporate_number.clone() {
            by_number.insert(n, row);
        }
    }
    let mut by_name: HashMap<(String, Option<String>), AccountRow> = HashMap::new();
    for row in store.accounts_by_name_keys(&keys).await? {
        by_name.entry((row.name_normalized.clone(), row.prefecture.clone())).or_insert(row);
    }
    let mut creates: Vec<AccountData> = Vec::new();
    for incoming in batch.drain(..) {
        let data = incoming.data;
        let existing = match &data.corporate_number {
            Some(n) => by_number.get(n.as_str()),
            None => by_name.get(&(data.name_normalized.clone(), data.prefecture.clone())),
        };
        match existing {
            Some(row) => {
                let merged = fill(row, &data);
                if same(row, &merged) {
                    counts.unchanged += 1;
                } else {
                    store.update_account(row.id, &merged, now).await?;
                    counts.merged += 1;
                }
            }
            None => {
                creates.push(data);
                counts.created += 1;
            }
        }
    }
    // A file may list one company twice: keep the first of each corporate number.
    let mut seen = std::collections::HashSet::new();
    creates.retain(|c| c.corporate_number.as_ref().is_none_or(|n| seen.insert(n.as_str().to_owned())));
    store.bulk_insert_accounts(&creates, now).await?;
    Ok(())
}

/// The stored company updated with the file's values (the file's filled values win; the
/// organisation's own fields — tier, owner, domains it added — are kept).
fn fill(row: &AccountRow, incoming: &AccountData) -> AccountData {
    let mut domains: Vec<String> = row.domain_list().into_iter().map(str::to_owned).collect();
    for d in &incoming.domains {
        if !domains.contains(d) {
            domains.push(d.clone());
        }
    }
    AccountData {
        name: incoming.name.clone(),
        name_normalized: incoming.name_normalized.clone(),
        corporate_number: incoming
            .corporate_number
            .clone()
            .or_else(|| row.corporate_number.as_deref().and_then(|n| hatake_domain::CorporateNumber::parse(n).ok())),
        domains,
        industry: incoming.industry.clone().or_else(|| row.industry.clone()),
        employee_count: incoming.employee_count.or(row.employee_count),
        annual_revenue: incoming.annual_revenue.or(row.annual_revenue),
        prefecture: incoming.prefecture.clone().or_else(|| row.prefecture.clone()),
        address: incoming.address.clone().or_else(|| row.address.clone()),
        abm_tier: row.abm_tier.as_deref().and_then(|t| hatake_domain::AbmTier::parse(t).ok()),
        owner_id: row.owner_id,
    }
}

fn same(row: &AccountRow, data: &AccountData) -> bool {
    row.name == data.name
        && row.corporate_number.as_deref() == data.corporate_number.as_ref().map(hatake_domain::CorporateNumber::as_str)
        && row.domain_list() == data.domains.iter().map(String::as_str).collect::<Vec<_>>()
        && row.industry == data.industry
        && row.employee_count == data.employee_count
        && row.annual_revenue == data.annual_revenue
        && row.prefecture == data.prefecture
        && row.address == data.address
}
