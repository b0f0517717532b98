//! Writes shared by the pages and the API: validate with the organisation's configuration,
//! then store; a unique or link violation comes back as a field error, so a form can show it
//! next to the field and the API can name it.

use hatake_domain::{AccountInput, CustomFieldDef, FieldError, FieldErrors, LeadInput, ProductInput, RequiredFieldSet};
use hatake_store::{AccountRow, LeadRow, ProductRow, Store, StoreError, SETTING_REQUIRED_FIELDS};

/// Why a write did not happen.
#[derive(Debug)]
pub enum SaveError {
    /// The input (or a uniqueness/link rule) is wrong; nothing was stored.
    Invalid(FieldErrors),
    /// The record to update does not exist.
    NotFound,
    /// The database failed (logged).
    Store(StoreError),
}

impl From<StoreError> for SaveError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => SaveError::NotFound,
            StoreError::Conflict { field } => SaveError::Invalid(
                FieldError::new(
                    field,
                    "duplicate",
                    "既に別のレコードで使われています。",
                    "Already used by another record.",
                )
                .into(),
            ),
            StoreError::MissingReference { field } => SaveError::Invalid(
                FieldError::new(
                    field,
                    "missing_reference",
                    "指定されたIDのレコードが存在しません。",
                    "No record has this id.",
                )
                .into(),
            ),
            other => SaveError::Store(other),
        }
    }
}

/// The configured required-field set, or the default 7-point set.
///
/// # Errors
/// On a database error.
pub async fn required_fields(store: &dyn Store) -> Result<RequiredFieldSet, StoreError> {
    Ok(store
        .get_setting(SETTING_REQUIRED_FIELDS)
        .await?
        .and_then(|text| RequiredFieldSet::parse(&text).ok())
        .unwrap_or_default())
}

/// # Errors
/// On a database error.
pub async fn custom_defs(store: &dyn Store) -> Result<Vec<CustomFieldDef>, StoreError> {
    hatake_engine::settings::custom_defs(store).await
}

/// Creates (`id` None) or replaces a lead. Its department class comes from the organisation's
/// department dictionary (see `hatake_domain::department`). Hearing items it changes are logged as `channel`'s (`ui`, `api`) by `user`.
///
/// # Errors
/// See [`SaveError`].
pub async fn save_lead(
    store: &dyn Store,
    id: Option<i64>,
    input: &LeadInput,
    user: Option<i64>,
    channel: &str,
    now: i64,
) -> Result<LeadRow, SaveError> {
    let defs = custom_defs(store).await?;
    let mut lead = input.validate(&defs).map_err(SaveError::Invalid)?;
    let dictionary = hatake_engine::settings::departments(store).await?;
    lead.department_class = lead.department.as_deref().and_then(|d| dictionary.classify(d)).map(|c| c.key.clone());
    let is_lead = required_fields(store).await?.is_lead(&lead);
    let (before, stored) = match id {
        None => (None, store.create_lead(&lead, is_lead, now).await?),
        Some(id) => {
            let before = store.get_lead(id).await?.custom_map();
            (Some(before), store.update_lead(id, &lead, is_lead, now).await?)
        }
    };
    let source = hatake_store::HearingSource { user_id: user, call_id: None, channel: channel.to_owned(), at: now };
    hatake_engine::hearing::log_edit(store, stored.id, before.as_ref(), &stored.custom_map(), &source).await?;
    Ok(stored)
}

/// # Errors
/// See [`SaveError`].
pub async fn save_account(
    store: &dyn Store,
    id: Option<i64>,
    input: &AccountInput,
    now: i64,
) -> Result<AccountRow, SaveError> {
    let account = input.validate().map_err(SaveError::Invalid)?;
    Ok(match id {
        None => store.create_account(&account, now).await?,
        Some(id) => store.update_account(id, &account, now).await?,
    })
}

/// # Errors
/// See [`SaveError`].
pub async fn save_product(
    store: &dyn Store,
    id: Option<i64>,
    input: &ProductInput,
    now: i64,
) -> Result<ProductRow, SaveError> {
    let product = input.validate().map_err(SaveError::Invalid)?;
    Ok(match id {
        None => store.create_product(&product, now).await?,
        Some(id) => store.update_product(id, &product, now).await?,
    })
}

/// The input an existing account was stored from (for edit forms and merge patches).
pub fn account_input(row: &AccountRow) -> AccountInput {
    AccountInput {
        name: Some(row.name.clone()),
        corporate_number: row.corporate_number.clone(),
        domains: Some(row.domain_list().into_iter().map(str::to_owned).collect()),
        industry: row.industry.clone(),
        employee_count: row.employee_count,
        annual_revenue: row.annual_revenue,
        prefecture: row.prefecture.clone(),
        address: row.address.clone(),
        abm_tier: row.abm_tier.clone(),
        owner_id: row.owner_id,
    }
}

pub fn product_input(row: &ProductRow) -> ProductInput {
    ProductInput {
        code: Some(row.code.clone()),
        name: Some(row.name.clone()),
        description: row.description.clone(),
        active: Some(row.active),
    }
}
