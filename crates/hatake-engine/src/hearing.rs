//! Hearing sheets (情報資産, issue 17): which custom fields inside sales asks about, in order
//! ([`sheet`], set by [`save_sheet`] or started from a template with [`apply_template`]); what a
//! rep learned, recorded with who, when and how ([`record`], from a call, the lead's page, or
//! a CSV file through [`import_csv`]); and how complete a lead's sheet is.

use hatake_domain::hearing::HearingTemplate;
use hatake_domain::{CustomFieldDef, FieldError, FieldErrors};
use hatake_store::{HearingChange, HearingSource, Millis, Store, StoreError, StoreResult};
use serde_json::Value;
use std::collections::HashMap;

/// The setting that holds the sheet: a JSON array of custom field keys, in the order asked.
pub const SETTING_HEARING_ITEMS: &str = "hearing.items";
/// The most rows one hearing file may have.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// The hearing sheet: its items, each a custom field, in the order asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sheet {
    pub items: Vec<CustomFieldDef>,
}

impl Sheet {
    pub fn keys(&self) -> Vec<String> {
        self.items.iter().map(|d| d.key.clone()).collect()
    }

    pub fn item(&self, key: &str) -> Option<&CustomFieldDef> {
        self.items.iter().find(|d| d.key == key)
    }

    /// The item a column header names: its key, or its label in either language (width and
    /// case aside).
    pub fn item_named(&self, header: &str) -> Option<&CustomFieldDef> {
        let wanted = normal(header);
        self.items.iter().find(|d| [&d.key, &d.label_ja, &d.label_en].iter().any(|name| normal(name) == wanted))
    }

    /// Checks values typed for the sheet's items: (key, text). With `blank_clears`, a blank
    /// value clears the item (a form showing every item); without, it is left as it is (a file).
    ///
    /// # Errors
    /// One error per value that is not an item of the sheet or does not fit its kind.
    pub fn changes(&self, typed: &[(String, String)], blank_clears: bool) -> Result<Vec<HearingChange>, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut changes = Vec::new();
        for (key, text) in typed {
            let Some(def) = self.item(key) else {
                errors.push(FieldError::new(
                    format!("hearing.{key}"),
                    "not_a_hearing_item",
                    format!("「{key}」はヒアリング項目にありません。"),
                    format!("\"{key}\" is not a hearing item."),
                ));
                continue;
            };
            if text.trim().is_empty() && !blank_clears {
                continue;
            }
            match def.check(&Value::String(text.clone())) {
                Ok(value) => changes.push(HearingChange { key: key.clone(), value }),
                Err(mut error) => {
                    error.field = format!("hearing.{key}");
                    errors.push(error);
                }
            }
        }
        errors.into_result(|| changes)
    }
}

/// An address as leads store it (lower-case domain); as typed when it is no address.
fn email_key(text: &str) -> String {
    hatake_domain::Email::parse(text).map_or_else(|_| text.trim().to_owned(), |e| e.as_str().to_owned())
}

fn normal(text: &str) -> String {
    hatake_domain::text::nfkc_trim(text).to_lowercase()
}

/// The sheet in force: the stored keys that are still custom fields, in their order.
///
/// # Errors
/// A store error.
pub async fn sheet(store: &dyn Store) -> StoreResult<Sheet> {
    let keys: Vec<String> = store
        .get_setting(SETTING_HEARING_ITEMS)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let defs = crate::settings::custom_defs(store).await?;
    let items = keys.iter().filter_map(|key| defs.iter().find(|d| &d.key == key).cloned()).collect();
    Ok(Sheet { items })
}

/// Sets the sheet's items (custom field keys, in order; repeats dropped).
///
/// # Errors
/// A key that is not a custom field; a store error.
pub async fn save_sheet(
    store: &dyn Store,
    keys: &[String],
    now: Millis,
) -> Result<Sheet, crate::inside_sales::SaveError> {
    let defs = crate::settings::custom_defs(store).await?;
    let mut kept: Vec<String> = Vec::new();
    let mut errors = FieldErrors::default();
    for key in keys {
        if defs.iter().all(|d| &d.key != key) {
            errors.push(FieldError::new(
                "items",
                "unknown_custom_field",
                format!("カスタム項目「{key}」は定義されていません。"),
                format!("There is no custom field \"{key}\"."),
            ));
        } else if !kept.contains(key) {
            kept.push(key.clone());
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    store.put_setting(SETTING_HEARING_ITEMS, &serde_json::to_string(&kept).unwrap_or_default(), now).await?;
    Ok(sheet(store).await?)
}

/// What applying a template did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Applied {
    /// Custom fields made for it.
    pub fields_created: usize,
    /// Items added to the sheet (the others were on it).
    pub items_added: usize,
}

/// Adds a template's items to the sheet, after those on it, making the custom fields that do
/// not exist yet (an existing field of the same key is used as it is).
///
/// # Errors
/// A store error.
pub async fn apply_template(store: &dyn Store, template: HearingTemplate, now: Millis) -> StoreResult<Applied> {
    let existing = crate::settings::custom_defs(store).await?;
    let mut applied = Applied::default();
    let mut keys = sheet(store).await?.keys();
    for def in template.items() {
        if existing.iter().all(|d| d.key != def.key) {
            store.create_custom_field(&def, now).await?;
            applied.fields_created += 1;
        }
        if !keys.contains(&def.key) {
            keys.push(def.key.clone());
            applied.items_added += 1;
        }
    }
    store.put_setting(SETTING_HEARING_ITEMS, &serde_json::to_string(&keys).unwrap_or_default(), now).await?;
    Ok(applied)
}

/// Records what was learned about a lead; returns the keys whose value changed.
///
/// # Errors
/// A store error ([`StoreError::NotFound`] for a lead that does not exist).
pub async fn record(
    store: &dyn Store,
    lead_id: i64,
    changes: &[HearingChange],
    source: &HearingSource,
) -> StoreResult<Vec<String>> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    store.record_hearing(lead_id, changes, source).await
}

/// Logs the hearing items a lead's form (or the API) changed: `before` is `None` for a new lead.
///
/// # Errors
/// A store error.
pub async fn log_edit(
    store: &dyn Store,
    lead_id: i64,
    before: Option<&serde_json::Map<String, Value>>,
    after: &serde_json::Map<String, Value>,
    source: &HearingSource,
) -> StoreResult<()> {
    let sheet = sheet(store).await?;
    let changes: Vec<(String, Option<Value>, Option<Value>)> = sheet
        .items
        .iter()
        .filter_map(|def| {
            let old = before.and_then(|b| b.get(&def.key)).cloned();
            let new = after.get(&def.key).cloned();
            (old != new).then(|| (def.key.clone(), new, old))
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    store.log_hearing(lead_id, &changes, source).await
}

/// One row of a hearing file that was not taken, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub error: FieldError,
}

/// What a hearing file did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// Rows taken (their values checked and stored).
    pub taken: usize,
    /// Values that changed.
    pub changed: usize,
    /// Rows not taken: nothing of such a row is stored.
    pub errors: Vec<RowError>,
}

/// Why a hearing file was not read at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file cannot be read")]
    File(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn file_error(code: &'static str, ja: String, en: String) -> ImportError {
    ImportError::File(FieldErrors(vec![FieldError::new("file", code, ja, en)]))
}

/// How a file's rows name their lead.
enum LeadColumn {
    Id(usize),
    Email(usize),
}

/// Reads a hearing file (CSV in UTF-8 or Shift_JIS, any delimiter): one column names the lead
/// (「リードID」 / `lead_id`, or 「メールアドレス」 / `email`), the others are hearing items by key
/// or label. A blank cell leaves the item as it is. Each row is checked on its own: a bad row
/// is reported with its line and stores nothing, the others are stored.
///
/// # Errors
/// [`ImportError::File`] when the file has no lead column, a column that is no hearing item,
/// or cannot be read as CSV; a store error.
pub async fn import_csv(
    store: &dyn Store,
    bytes: &[u8],
    user: Option<i64>,
    now: Millis,
) -> Result<ImportReport, ImportError> {
    let sheet = sheet(store).await?;
    if sheet.items.is_empty() {
        return Err(file_error(
            "no_hearing_items",
            "ヒアリング項目がまだありません。先に設定でヒアリングシートを作ってください。".into(),
            "There are no hearing items yet: set up the hearing sheet first.".into(),
        ));
    }
    let decoded = hatake_csv::decode(bytes, None);
    let table = hatake_csv::read_all(&decoded.text).map_err(|e| {
        ImportError::File(FieldErrors(vec![FieldError::new("file", e.code(), e.message_ja(), e.message_en())]))
    })?;
    if table.rows.len() > MAX_IMPORT_ROWS {
        return Err(file_error(
            "too_many_rows",
            format!(
                "1ファイルは{MAX_IMPORT_ROWS}行までです（{}行あります）。分けて取り込んでください。",
                table.rows.len()
            ),
            format!("A file may have at most {MAX_IMPORT_ROWS} rows (this one has {}): split it.", table.rows.len()),
        ));
    }
    let mut lead_column = None;
    let mut item_columns: Vec<(usize, String)> = Vec::new();
    let mut unknown = Vec::new();
    for (index, header) in table.headers.raw.iter().enumerate() {
        let name = normal(header);
        if name.is_empty() {
            continue;
        }
        if ["lead_id", "リードid", "id"].contains(&name.as_str()) {
            lead_column = Some(LeadColumn::Id(index));
        } else if ["email", "e-mail", "メールアドレス", "メール"].contains(&name.as_str()) {
            if lead_column.is_none() {
                lead_column = Some(LeadColumn::Email(index));
            }
        } else if let Some(def) = sheet.item_named(header) {
            item_columns.push((index, def.key.clone()));
        } else {
            unknown.push(header.clone());
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = sheet.items.iter().map(|d| d.label_ja.clone()).collect();
        let names_en: Vec<String> = sheet.items.iter().map(|d| d.label_en.clone()).collect();
        return Err(file_error(
            "unknown_columns",
            format!(
                "ヒアリング項目にない列があります: {}（項目: {}）。何も取り込んでいません。",
                unknown.join("、"),
                names.join("、")
            ),
            format!(
                "Some columns are no hearing item: {} (the items: {}). Nothing was imported.",
                unknown.join(", "),
                names_en.join(", ")
            ),
        ));
    }
    let Some(lead_column) = lead_column else {
        return Err(file_error(
            "no_lead_column",
            "リードを示す列（「リードID」または「メールアドレス」）がありません。".into(),
            "No column names the lead (\"lead_id\" or \"email\").".into(),
        ));
    };
    // Every lead named, found at once.
    let mut by_email: HashMap<String, i64> = HashMap::new();
    let mut known_ids: std::collections::HashSet<i64> = std::collections::HashSet::new();
    match lead_column {
        LeadColumn::Email(column) => {
            let mut emails: Vec<String> =
                table.rows.iter().map(|r| email_key(r.fields.get(column).map_or("", String::as_str))).collect();
            emails.sort_unstable();
            emails.dedup();
            emails.retain(|e| !e.is_empty());
            by_email.extend(store.lead_ids_by_email(&emails).await?);
        }
        LeadColumn::Id(column) => {
            let mut ids: Vec<i64> =
                table.rows.iter().filter_map(|r| r.fields.get(column).and_then(|v| normal(v).parse().ok())).collect();
            ids.sort_unstable();
            ids.dedup();
            for part in ids.chunks(1_000) {
                known_ids.extend(store.existing_lead_ids(part).await?);
            }
        }
    }
    let mut report = ImportReport { rows: table.rows.len(), ..ImportReport::default() };
    let source = HearingSource { user_id: user, call_id: None, channel: "import".into(), at: now };
    for row in &table.rows {
        let cell = |column: usize| row.fields.get(column).map_or("", String::as_str);
        let lead = match lead_column {
            LeadColumn::Email(column) => {
                let email = email_key(cell(column));
                match by_email.get(&email) {
                    Some(id) => Ok(*id),
                    None if email.is_empty() => Err(FieldError::new(
                        "email",
                        "required",
                        "メールアドレスが空です。",
                        "The e-mail address is blank.",
                    )),
                    None => Err(FieldError::new(
                        "email",
                        "no_such_lead",
                        format!("メールアドレス「{email}」のリードはありません。"),
                        format!("No lead has the e-mail address \"{email}\"."),
                    )),
                }
            }
            LeadColumn::Id(column) => {
                let text = normal(cell(column));
                match text.parse::<i64>() {
                    Ok(id) if known_ids.contains(&id) => Ok(id),
                    Ok(id) => Err(FieldError::new(
                        "lead_id",
                        "no_such_lead",
                        format!("リードID {id} のリードはありません。"),
                        format!("There is no lead {id}."),
                    )),
                    Err(_) => Err(FieldError::new(
                        "lead_id",
                        "invalid_lead_id",
                        format!("リードID「{text}」は数字ではありません。"),
                        format!("The lead id \"{text}\" is not a number."),
                    )),
                }
            }
        };
        let lead_id = match lead {
            Ok(id) => id,
            Err(error) => {
                report.errors.push(RowError { line: row.line, error });
                continue;
            }
        };
        let typed: Vec<(String, String)> =
            item_columns.iter().map(|(column, key)| (key.clone(), cell(*column).to_owned())).collect();
        match sheet.changes(&typed, false) {
            Ok(changes) => {
                report.changed += record(store, lead_id, &changes, &source).await?.len();
                report.taken += 1;
            }
            Err(errors) => {
                report.errors.extend(errors.0.into_iter().map(|error| RowError { line: row.line, error }));
            }
        }
    }
    Ok(report)
}
