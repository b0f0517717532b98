//! hatake's storage boundary: the [`Store`] trait both backends implement, the rows they
//! return, and the errors they raise. Web handlers and the CLI see only this crate.

mod alerts;
mod booking;
pub mod common_imports;
mod common_records;
pub mod common_resolution;
mod common_system;
mod common_users;
mod events;
mod forms;
mod hearing;
mod lifecycle;
mod newsletters;
mod outbox;
mod routing;
mod scoring;
mod segments;
mod subscriptions;
mod tasks;
mod templates;
pub use alerts::*;
pub use booking::*;
pub use common_records::{rows_per_statement, BULK_ROWS, MAX_BINDS};
pub use events::*;
pub use forms::*;
pub use hearing::*;
pub use lifecycle::*;
pub use newsletters::*;
pub use outbox::*;
pub use routing::*;
pub use scoring::*;
pub use segments::*;
pub use subscriptions::*;
pub use tasks::*;
pub use templates::*;
mod query;
mod resolution;
mod rows;
pub mod sql;

pub use query::*;
pub use resolution::*;
pub use rows::*;

use async_trait::async_trait;
use hatake_domain::{AccountData, CustomFieldDef, LeadData, Locale, NewUser, ProductData, RequiredFieldSet, Role};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique value is taken (`field` names which: `email`, `corporate_number`, `code`, …).
    #[error("{field} is already in use")]
    Conflict { field: &'static str },
    /// An id given for a link (`account_id`, `owner_id`, `product_ids`) names no row.
    #[error("{field} refers to a missing record")]
    MissingReference { field: &'static str },
    #[error("database error: {0}")]
    Database(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A person's name as pages show it: family and given name, either missing.
pub fn person_name(family: Option<&str>, given: Option<&str>) -> String {
    [family, given].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `Ok` when a statement touched exactly one row, else [`StoreError::NotFound`].
///
/// # Errors
/// [`StoreError::NotFound`] when `rows_affected` is zero.
pub fn one_row(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Counts shown on the dashboard.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Overview {
    pub accounts: i64,
    pub leads: i64,
    pub lead_records: i64,
    pub list_records: i64,
    pub products: i64,
    pub users: i64,
}

/// What the organisation has configured that changes how records are read.
pub const SETTING_REQUIRED_FIELDS: &str = "required_fields";

/// Everything a backend provides. Split by area so each backend keeps one file per area.
pub trait Store:
    SystemStore
    + UserStore
    + CatalogStore
    + AccountStore
    + LeadStore
    + ResolutionStore
    + ImportStore
    + EventStore
    + FormStore
    + BookingStore
    + ScoringModelStore
    + ScorerStore
    + ScoreViewStore
    + LifecycleStore
    + OutboxStore
    + SubscriptionStore
    + MailTemplateStore
    + SegmentStore
    + NewsletterStore
    + TaskStore
    + HearingStore
    + RoutingStore
    + AlertStore
{
}

impl<
        T: SystemStore
            + UserStore
            + CatalogStore
            + AccountStore
            + LeadStore
            + ResolutionStore
            + ImportStore
            + EventStore
            + FormStore
            + BookingStore
            + ScoringModelStore
            + ScorerStore
            + ScoreViewStore
            + LifecycleStore
            + OutboxStore
            + SubscriptionStore
            + MailTemplateStore
            + SegmentStore
            + NewsletterStore
            + TaskStore
            + HearingStore
            + RoutingStore
            + AlertStore,
    > Store for T
{
}

#[async_trait]
pub trait SystemStore: Send + Sync + 'static {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Configuration as data: a value by key.
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str, now: Millis) -> StoreResult<()>;
    async fn overview(&self) -> StoreResult<Overview>;
    /// Refreshes planner statistics after a bulk load.
    async fn analyze(&self) -> StoreResult<()>;
    /// Takes or renews the lease `name` for `holder` until `until`; `false` when another holder
    /// has it.
    async fn try_lease(&self, name: &str, holder: &str, until: Millis, now: Millis) -> StoreResult<bool>;
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    async fn create_user(&self, user: &NewUser, password_hash: &str, now: Millis) -> StoreResult<UserRow>;
    async fn get_user(&self, id: i64) -> StoreResult<UserRow>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<UserRow>>;
    async fn list_users(&self) -> StoreResult<Vec<UserRow>>;
    async fn update_user(
        &self,
        id: i64,
        display_name: &str,
        role: Role,
        active: bool,
        now: Millis,
    ) -> StoreResult<UserRow>;
    async fn set_user_locale(&self, id: i64, locale: Locale, now: Millis) -> StoreResult<()>;
    async fn set_user_password(&self, id: i64, password_hash: &str, now: Millis) -> StoreResult<()>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: Millis,
        expires_at: Millis,
    ) -> StoreResult<()>;
    /// The session and its (active) user, if the session exists and has not expired.
    async fn get_session(&self, token_hash: &str, now: Millis) -> StoreResult<Option<SessionRow>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: i64) -> StoreResult<()>;
    /// Only the token's hash is stored.
    async fn create_api_token(
        &self,
        name: &str,
        token_hash: &str,
        prefix: &str,
        user_id: i64,
        now: Millis,
    ) -> StoreResult<ApiTokenRow>;
    async fn list_api_tokens(&self) -> StoreResult<Vec<ApiTokenRow>>;
    async fn revoke_api_token(&self, id: i64, now: Millis) -> StoreResult<()>;
    /// The token's user, if the token exists, is not revoked and its user is active.
    async fn find_api_token_user(&self, token_hash: &str, now: Millis) -> StoreResult<Option<UserRow>>;
}

#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    async fn create_product(&self, product: &ProductData, now: Millis) -> StoreResult<ProductRow>;
    async fn get_product(&self, id: i64) -> StoreResult<ProductRow>;
    async fn list_products(&self) -> StoreResult<Vec<ProductRow>>;
    async fn update_product(&self, id: i64, product: &ProductData, now: Millis) -> StoreResult<ProductRow>;
    /// Deletes the product and every lead's interest in it.
    async fn delete_product(&self, id: i64) -> StoreResult<()>;
    async fn list_custom_fields(&self) -> StoreResult<Vec<CustomFieldRow>>;
    async fn create_custom_field(&self, def: &CustomFieldDef, now: Millis) -> StoreResult<CustomFieldRow>;
    async fn delete_custom_field(&self, id: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn create_account(&self, account: &AccountData, now: Millis) -> StoreResult<AccountRow>;
    async fn get_account(&self, id: i64) -> StoreResult<AccountRow>;
    async fn update_account(&self, id: i64, account: &AccountData, now: Millis) -> StoreResult<AccountRow>;
    /// Deletes the account; its leads stay, unlinked.
    async fn delete_account(&self, id: i64) -> StoreResult<()>;
    async fn list_accounts(&self, query: &AccountQuery) -> StoreResult<Page<AccountRow>>;
    /// Bulk loading for demo data and benchmarks: one transaction, no per-row checks beyond
    /// the database's constraints. Returns the new ids in input order.
    async fn bulk_insert_accounts(&self, accounts: &[AccountData], now: Millis) -> StoreResult<Vec<i64>>;
}

#[async_trait]
pub trait LeadStore: Send + Sync + 'static {
    /// Checks `account_id`, `owner_id` and `product_ids`, then inserts and indexes the lead.
    async fn create_lead(&self, lead: &LeadData, is_lead: bool, now: Millis) -> StoreResult<LeadRow>;
    async fn get_lead(&self, id: i64) -> StoreResult<LeadRow>;
    async fn update_lead(&self, id: i64, lead: &LeadData, is_lead: bool, now: Millis) -> StoreResult<LeadRow>;
    async fn delete_lead(&self, id: i64) -> StoreResult<()>;
    /// Gives a lead without an owner this owner (a rep who took a meeting with them); a lead
    /// that has one keeps it. Whether it was given.
    async fn assign_owner_if_unset(&self, lead_id: i64, owner_id: i64, now: Millis) -> StoreResult<bool>;
    async fn list_leads(&self, query: &LeadQuery) -> StoreResult<Page<LeadRow>>;
    /// Re-derives every record's lead-or-list flag under a required-field set; returns how
    /// many records changed.
    async fn reclassify_leads(&self, required: &RequiredFieldSet) -> StoreResult<u64>;
    /// Bulk loading (see [`AccountStore::bulk_insert_accounts`]); returns the rows inserted.
    async fn bulk_insert_leads(&self, leads: &[(LeadData, bool)], now: Millis) -> StoreResult<u64>;
}

/// Name-matching and imports: candidates for the matcher, applying what it decided, the
/// review queue, merges and undo.
#[async_trait]
pub trait ResolutionStore: Send + Sync + 'static {
    /// The ids of stored leads sharing a matching key or an e-mail address with the incoming
    /// records; a key shared by more than `limit` leads is skipped.
    async fn match_candidate_ids(&self, keys: &[i64], emails: &[String], limit: usize) -> StoreResult<Vec<i64>>;
    /// Computes the matching keys again for the leads after `after_id` (at most `limit`);
    /// returns the last id done, `None` past the end. For data written before the keys existed
    /// or under another key scheme.
    async fn rekey_leads(&self, after_id: i64, limit: i64) -> StoreResult<Option<i64>>;
    /// Writes the search documents again for the leads after `after_id` (at most `limit`);
    /// returns the last id done, `None` past the end. For documents written under an older
    /// scheme.
    async fn reindex_leads(&self, after_id: i64, limit: i64) -> StoreResult<Option<i64>>;
    /// The highest lead id so far (0 when there is no lead).
    async fn max_lead_id(&self) -> StoreResult<i64>;
    /// Leads by id (missing ids are skipped), with their products.
    async fn leads_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<LeadRow>>;
    /// Writes one batch of resolved records in one transaction; returns the ids of the created
    /// leads in plan order. `import_id` ties the sources and reviews to an import.
    async fn apply_plan(&self, plan: &ResolutionPlan, import_id: Option<i64>, now: Millis) -> StoreResult<Vec<i64>>;

    async fn lead_sources(&self, lead_id: i64) -> StoreResult<Vec<SourceRow>>;
    /// The fingerprints of the records already taken into these leads.
    async fn source_fingerprints(&self, lead_ids: &[i64]) -> StoreResult<Vec<(i64, String)>>;
    /// Reviews by status (`open`, …), oldest first, after `after_id`.
    async fn list_reviews(&self, status: &str, after_id: i64, limit: i64) -> StoreResult<Vec<ReviewRow>>;
    async fn count_reviews(&self, status: &str) -> StoreResult<i64>;
    async fn get_review(&self, id: i64) -> StoreResult<ReviewRow>;
    /// Open reviews that involve a lead (as either side).
    async fn reviews_of_lead(&self, lead_id: i64) -> StoreResult<Vec<ReviewRow>>;
    async fn decide_review(&self, id: i64, status: &str, by: Option<i64>, now: Millis) -> StoreResult<()>;
    /// Merges `merged` into `survivor`, which takes `data`: sources, products and reviews move
    /// to the survivor, the merged lead is removed, and the merge is recorded for undo. With a
    /// review, only an open one: [`StoreError::Conflict`] (`status`) when it was decided.
    async fn merge_leads(&self, merge: &MergeRequest<'_>, now: Millis) -> StoreResult<MergeRow>;
    /// Puts both leads back as they were. [`StoreError::Conflict`] (`survivor`) when the
    /// surviving lead was changed after the merge.
    async fn undo_merge(&self, id: i64, by: Option<i64>, now: Millis) -> StoreResult<()>;
    /// Merges in which a lead survived, newest first.
    async fn merges_of_lead(&self, lead_id: i64) -> StoreResult<Vec<MergeRow>>;
}

/// Imports, the company master and department classes: import runs and their rejected rows,
/// undo, companies by name or corporate number, linking leads to companies.
#[async_trait]
pub trait ImportStore: Send + Sync + 'static {
    async fn create_import(&self, import: &NewImport, now: Millis) -> StoreResult<ImportRow>;
    async fn get_import(&self, id: i64) -> StoreResult<ImportRow>;
    /// Newest first.
    async fn list_imports(&self, limit: i64) -> StoreResult<Vec<ImportRow>>;
    /// Earlier imports of the same file (by content), newest first.
    async fn imports_of_file(&self, sha256: &str) -> StoreResult<Vec<ImportRow>>;
    async fn finish_import(
        &self,
        id: i64,
        counts: &ImportCounts,
        status: &str,
        error: Option<&str>,
        now: Millis,
    ) -> StoreResult<()>;
    /// The counts of a running import so far, and that it is alive at `now`.
    async fn record_import_progress(&self, id: i64, counts: &ImportCounts, now: Millis) -> StoreResult<()>;
    /// Marks running imports without progress since `stalled_before` as failed (their process
    /// stopped); returns how many. Their written batches can then be undone.
    async fn fail_stalled_imports(&self, stalled_before: Millis, now: Millis) -> StoreResult<u64>;
    /// Marks an import that stopped half-way running again, to take the rows it had not; its
    /// counts stay. It stopped when it failed, or when it is still `running` without progress
    /// since `stalled_before` (its process is gone); `None` takes a running one whatever its
    /// progress (the caller knows its process is gone). [`StoreError::Conflict`] (`status`)
    /// otherwise; [`StoreError::NotFound`].
    async fn resume_import(&self, id: i64, stalled_before: Option<Millis>, now: Millis) -> StoreResult<ImportRow>;
    async fn add_rejects(&self, import_id: i64, rejects: &[RejectRow]) -> StoreResult<()>;
    /// Writes one batch of an import ([`ResolutionStore::apply_plan`], its rejected rows and
    /// [`ImportStore::record_import_progress`]); returns the ids of the created leads in plan
    /// order. SQLite writes it in one transaction on a connection kept for bulk writes.
    async fn apply_import_batch(&self, batch: ImportBatch) -> StoreResult<Vec<i64>>;
    async fn import_rejects(&self, import_id: i64) -> StoreResult<Vec<RejectRow>>;
    /// The rows an import took, by line: (line, lead, outcome) from the sources it recorded
    /// (a merge later moves a source to the surviving lead).
    async fn import_lines(&self, import_id: i64) -> StoreResult<Vec<(i64, i64, String)>>;
    /// A page of an import's rows by line after `after_line`, with the lead each became or
    /// joined (its name, or its e-mail address), only those with `outcome` when given.
    async fn import_line_page(
        &self,
        import_id: i64,
        outcome: Option<&str>,
        after_line: i64,
        limit: i64,
    ) -> StoreResult<Vec<ImportLineRow>>;
    /// Counts events an import recorded for its people.
    async fn add_import_events(&self, import_id: i64, count: i64) -> StoreResult<()>;
    /// Records that the first `rows` rows of an import have their events and links written.
    async fn settle_import_rows(&self, import_id: i64, rows: i64) -> StoreResult<()>;
    /// Removes the leads an import created and restores those it changed, except leads
    /// changed again since, which are kept and listed; removes the events it recorded (their
    /// idempotency keys start `import:{id}:`). A finished or failed import can be
    /// undone; a running or undone one is [`StoreError::Conflict`] (`status`).
    async fn undo_import(&self, id: i64, by: Option<i64>, now: Millis) -> StoreResult<UndoReport>;
    /// Companies whose normalised name is one of `keys`.
    async fn accounts_by_name_keys(&self, keys: &[String]) -> StoreResult<Vec<AccountRow>>;
    /// Companies with one of these corporate numbers.
    async fn accounts_by_corporate_numbers(&self, numbers: &[String]) -> StoreResult<Vec<AccountRow>>;
    /// Leads with a company name but no company link, by id after `after_id`.
    async fn unlinked_leads(&self, after_id: i64, limit: i64) -> StoreResult<Vec<LeadRow>>;
    /// Links leads to companies (and re-indexes them: the company name is searchable), and
    /// queues the undecided ones for review as (lead, company, score, evidence JSON).
    async fn link_leads(
        &self,
        links: &[(i64, i64)],
        reviews: &[(i64, i64, f64, String)],
        import_id: Option<i64>,
        now: Millis,
    ) -> StoreResult<()>;
    /// The distinct department texts of all leads (to classify them again).
    async fn distinct_departments(&self) -> StoreResult<Vec<String>>;
    /// Sets each lead's department class from its department text; returns how many changed.
    async fn set_department_classes(&self, classes: &[(String, Option<String>)]) -> StoreResult<u64>;
}
