//! The organisation's configuration that imports and matching read: the required-field set,
//! the department dictionary, products and users by name.

use crate::import::{ImportOptions, RowContext};
use hatake_domain::department::DepartmentDictionary;
use hatake_domain::text::search_key;
use hatake_domain::RequiredFieldSet;
use hatake_store::{CatalogStore, Store, StoreResult, SystemStore, SETTING_REQUIRED_FIELDS};

/// The setting holding the department dictionary in its text form.
pub const SETTING_DEPARTMENTS: &str = "department_dictionary";

/// # Errors
/// On a database error.
pub async fn required_fields(store: &(impl SystemStore + ?Sized)) -> StoreResult<RequiredFieldSet> {
    Ok(store
        .get_setting(SETTING_REQUIRED_FIELDS)
        .await?
        .and_then(|text| RequiredFieldSet::parse(&text).ok())
        .unwrap_or_default())
}

/// The organisation's custom field definitions.
///
/// # Errors
/// On a database error.
pub async fn custom_defs(store: &(impl CatalogStore + ?Sized)) -> StoreResult<Vec<hatake_domain::CustomFieldDef>> {
    Ok(store.list_custom_fields().await?.iter().map(hatake_store::CustomFieldRow::def).collect())
}

/// The configured dictionary, or the shipped default.
///
/// # Errors
/// On a database error.
pub async fn departments(store: &(impl SystemStore + ?Sized)) -> StoreResult<DepartmentDictionary> {
    Ok(store
        .get_setting(SETTING_DEPARTMENTS)
        .await?
        .and_then(|text| DepartmentDictionary::parse(&text).ok())
        .unwrap_or_default())
}

/// Everything an import of leads needs to know besides the file.
///
/// # Errors
/// On a database error.
pub async fn import_context(
    store: &dyn Store,
    source: Option<String>,
    product_id: Option<i64>,
    file_name: &str,
    created_by: Option<i64>,
) -> StoreResult<(RowContext, ImportOptions)> {
    let mut context = RowContext { source, product_id, ..RowContext::default() };
    for product in store.list_products().await? {
        context.products.insert(search_key(&product.code), product.id);
        context.products.insert(search_key(&product.name), product.id);
    }
    for user in store.list_users().await? {
        context.users.insert(search_key(&user.email), user.id);
        context.users.insert(search_key(&user.display_name), user.id);
    }
    context.custom_defs = custom_defs(store).await?;
    let options = ImportOptions {
        file_name: file_name.to_owned(),
        created_by,
        required: required_fields(store).await?,
        departments: departments(store).await?,
        batch_size: None,
        event: None,
        subscribe: Vec::new(),
    };
    Ok((context, options))
}

/// Stores a new department dictionary and classifies every lead's department with it. `text`
/// is the dictionary as a person wrote it (comments and order kept); without it the
/// dictionary's own text form is stored.
///
/// # Errors
/// On a database error.
pub async fn save_departments(
    store: &dyn Store,
    dictionary: &DepartmentDictionary,
    text: Option<&str>,
    now: i64,
) -> StoreResult<u64> {
    let text = text.map_or_else(|| dictionary.to_text(), str::to_owned);
    store.put_setting(SETTING_DEPARTMENTS, &text, now).await?;
    let classes: Vec<(String, Option<String>)> = store
        .distinct_departments()
        .await?
        .into_iter()
        .map(|d| {
            let class = dictionary.classify(&d).map(|c| c.key.clone());
            (d, class)
        })
        .collect();
    store.set_department_classes(&classes).await
}
