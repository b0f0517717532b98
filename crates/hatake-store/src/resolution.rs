//! Types of name-matching and imports: what an import plans to write, the rows it leaves
//! (import runs, sources of values, rejected rows, reviews, merges), and undo reports.

use crate::{LeadRow, Millis};
use serde::{Deserialize, Serialize};

/// A lead as it was at some moment, enough to put it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadSnapshot {
    pub id: i64,
    pub lead: hatake_domain::LeadInput,
    pub is_lead: bool,
    pub department_class: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl LeadSnapshot {
    pub fn of(row: &LeadRow) -> Self {
        Self {
            id: row.id,
            lead: row.to_input(),
            is_lead: row.is_lead,
            department_class: row.department_class.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// The snapshot as lead data again. Custom values are taken as stored (they were checked
    /// when written), so a since-removed custom field cannot block an undo.
    pub fn data(&self) -> Result<hatake_domain::LeadData, hatake_domain::FieldErrors> {
        let custom = self.lead.custom.clone().unwrap_or_default();
        let mut data = hatake_domain::LeadInput { custom: None, ..self.lead.clone() }.validate(&[])?;
        data.custom = custom;
        data.department_class.clone_from(&self.department_class);
        Ok(data)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How a record changed the lead it resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new person.
    Created,
    /// The same person as a stored lead; values were added or changed.
    Merged,
    /// The same person, nothing new.
    Unchanged,
    /// Stored as a new lead, with possible duplicates queued for review.
    Review,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Merged => "merged",
            Outcome::Unchanged => "unchanged",
            Outcome::Review => "review",
        }
    }
}

/// One incoming record's part in a lead's history.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRecord {
    pub line: Option<i64>,
    /// `import`, `form`, `api` or `ui`.
    pub channel: &'static str,
    pub source: Option<String>,
    pub outcome: Outcome,
    /// JSON object of the record's fields as they arrived (after parsing).
    pub fields: String,
    /// Identifies the record (see [`fingerprint`]): the same record is taken once.
    pub fingerprint: String,
    /// The lead before this record changed it, for a merge.
    pub before: Option<LeadSnapshot>,
}

/// A lead that is or will be stored: an existing id, or the n-th create of the same plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeadRef {
    Existing(i64),
    Planned(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCreate {
    pub data: hatake_domain::LeadData,
    pub is_lead: bool,
    pub sources: Vec<SourceRecord>,
    /// The lead's matching keys when the planner has them (else the store derives them).
    pub keys: Option<Vec<i64>>,
    /// The lead's search document when the planner made it (only for a lead without a
    /// company link, whose document holds the company name as entered).
    pub document: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpdate {
    pub id: i64,
    pub data: hatake_domain::LeadData,
    pub is_lead: bool,
    pub sources: Vec<SourceRecord>,
    /// As [`PlannedCreate::keys`].
    pub keys: Option<Vec<i64>>,
    /// As [`PlannedCreate::document`].
    pub document: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedReview {
    pub lead: LeadRef,
    pub candidate: LeadRef,
    pub score: f64,
    /// JSON array of [`hatake_domain::matching::Evidence`].
    pub evidence: String,
}

/// Everything one batch of resolved records writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolutionPlan {
    pub creates: Vec<PlannedCreate>,
    pub updates: Vec<PlannedUpdate>,
    /// Records that matched a lead and changed nothing: only their source is kept.
    pub unchanged: Vec<(i64, SourceRecord)>,
    pub reviews: Vec<PlannedReview>,
}

impl ResolutionPlan {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.unchanged.is_empty() && self.reviews.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    Leads,
    Companies,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Leads => "leads",
            ImportKind::Companies => "companies",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewImport {
    pub kind: ImportKind,
    pub file_name: String,
    pub file_sha256: String,
    pub encoding: String,
    pub source: Option<String>,
    pub product_id: Option<i64>,
    /// JSON array of column keys (or null) in file order.
    pub mapping: String,
    /// JSON array of the file's header row.
    pub headers: String,
    pub created_by: Option<i64>,
    /// JSON of the event to record for each person (`hatake_domain::event::OfflineEvent`).
    pub event: Option<String>,
    /// JSON array of the mail topics to subscribe each person to.
    pub subscribe: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub kind: String,
    /// `running`, `done`, `failed` or `undone`.
    pub status: String,
    pub file_name: String,
    pub file_sha256: String,
    pub encoding: String,
    pub source: Option<String>,
    pub product_id: Option<i64>,
    pub mapping: String,
    pub headers: String,
    pub total_rows: i64,
    pub created_rows: i64,
    pub merged_rows: i64,
    pub unchanged_rows: i64,
    pub review_rows: i64,
    pub rejected_rows: i64,
    pub error: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub undone_at: Option<Millis>,
    pub undone_by: Option<i64>,
    /// JSON of the event recorded for each person (`hatake_domain::event::OfflineEvent`).
    pub event: Option<String>,
    /// How many events it recorded.
    pub event_rows: i64,
    /// Rows whose offline events and company links are written too (a resumed import redoes
    /// them for the rows after).
    pub settled_rows: i64,
    /// When a running import last wrote a batch.
    pub progress_at: Option<Millis>,
    /// JSON array of the mail topics it subscribes each person to.
    pub subscribe: Option<String>,
}

impl ImportRow {
    /// The counts so far.
    pub fn counts(&self) -> ImportCounts {
        ImportCounts {
            total: self.total_rows,
            created: self.created_rows,
            merged: self.merged_rows,
            unchanged: self.unchanged_rows,
            review: self.review_rows,
            rejected: self.rejected_rows,
        }
    }
}

/// What an import did, row by row, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub total: i64,
    pub created: i64,
    pub merged: i64,
    pub unchanged: i64,
    pub review: i64,
    pub rejected: i64,
}

impl ImportCounts {
    /// The counts in the order the imports table stores them: total, created, merged,
    /// unchanged, review, rejected.
    pub fn as_row(&self) -> [i64; 6] {
        [self.total, self.created, self.merged, self.unchanged, self.review, self.rejected]
    }

    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Merged => self.merged += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Review => self.review += 1,
        }
    }
}

/// One batch of an import, written in one transaction: the resolved records, the rows it
/// rejected, and the import's counts so far (so a page showing the progress never sees a
/// batch without its counts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    pub import_id: i64,
    pub plan: ResolutionPlan,
    pub rejects: Vec<RejectRow>,
    pub counts: ImportCounts,
    pub now: Millis,
}

/// A row an import took: its line, what became of it and the lead it became or joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ImportLineRow {
    pub line: i64,
    pub lead_id: i64,
    pub outcome: String,
    pub lead_name: Option<String>,
    pub company: Option<String>,
    /// A row left to review whose questions have all been answered since.
    pub decided: bool,
}

/// A row an import could not take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RejectRow {
    pub line: i64,
    /// JSON array of the row's raw fields.
    pub fields: String,
    /// JSON array of [`hatake_domain::FieldError`].
    pub problems: String,
}

/// A stored problem of a rejected row, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub field: String,
    pub code: String,
    pub message_ja: String,
    pub message_en: String,
}

impl Problem {
    pub fn message(&self, locale: &str) -> &str {
        if locale == "en" {
            &self.message_en
        } else {
            &self.message_ja
        }
    }
}

impl ImportRow {
    /// The file's header row, when it was recorded.
    pub fn header_list(&self) -> Vec<String> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }
}

impl RejectRow {
    pub fn problem_list(&self) -> Vec<Problem> {
        serde_json::from_str(&self.problems).unwrap_or_default()
    }

    pub fn field_list(&self) -> Vec<String> {
        serde_json::from_str(&self.fields).unwrap_or_default()
    }
}

/// What undoing an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UndoReport {
    /// Leads the import created, now removed.
    pub deleted: u64,
    /// Leads the import changed, now as they were before.
    pub restored: u64,
    /// Leads changed again since the import (by a person, a later import or a merge): left
    /// as they are, so no later work is lost.
    pub kept: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SourceRow {
    pub id: i64,
    pub lead_id: i64,
    pub import_id: Option<i64>,
    pub line: Option<i64>,
    pub channel: String,
    pub source: Option<String>,
    pub outcome: String,
    pub fields: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ReviewRow {
    pub id: i64,
    /// `lead` (two leads that may be one person) or `account` (a lead and a company).
    pub kind: String,
    pub lead_id: i64,
    pub candidate_id: i64,
    pub score: f64,
    pub evidence: String,
    /// `open`, `merged`, `linked` or `distinct`.
    pub status: String,
    pub import_id: Option<i64>,
    pub created_at: Millis,
    pub decided_by: Option<i64>,
    pub decided_at: Option<Millis>,
}

/// Two leads to make one: `merged` goes into `survivor`, which takes `data`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergeRequest<'a> {
    pub survivor: i64,
    pub merged: i64,
    pub data: &'a hatake_domain::LeadData,
    pub is_lead: bool,
    /// The review question this merge answers, if any.
    pub review_id: Option<i64>,
    /// The user who decided.
    pub by: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MergeRow {
    pub id: i64,
    pub survivor_id: i64,
    pub merged_id: i64,
    pub review_id: Option<i64>,
    pub score: Option<f64>,
    pub decided_by: Option<i64>,
    pub created_at: Millis,
    pub undone_at: Option<Millis>,
    pub undone_by: Option<i64>,
}

/// The fingerprint of an incoming record: a hash of where it came from and its fields.
pub fn fingerprint(channel: &str, source: Option<&str>, fields: &str) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for part in [channel, source.unwrap_or(""), fields] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut print = String::with_capacity(24);
    for byte in hash.finalize().iter().take(12) {
        print.push(char::from(HEX[usize::from(byte >> 4)]));
        print.push(char::from(HEX[usize::from(byte & 15)]));
    }
    print
}
