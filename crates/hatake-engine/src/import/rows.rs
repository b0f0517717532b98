//! One CSV row to one lead: the mapped columns become a [`LeadInput`], then domain validation
//! decides. Every problem names its column and the line, in Japanese and English.

use hatake_csv::{LeadColumn, Mapping, Row};
use hatake_domain::prefecture::{parse_prefecture, prefecture_of_address, split_postal_code};
use hatake_domain::{CustomFieldDef, FieldError, FieldErrors, LeadData, LeadInput};
use std::collections::HashMap;

/// What the importer knows besides the row: products by code and name, users by e-mail and
/// name, the custom fields, and the defaults chosen for the whole file.
#[derive(Debug, Clone, Default)]
pub struct RowContext {
    pub products: HashMap<String, i64>,
    pub users: HashMap<String, i64>,
    pub custom_defs: Vec<CustomFieldDef>,
    pub source: Option<String>,
    pub product_id: Option<i64>,
}

fn first<'r>(row: &Row<'r>, mapping: &Mapping, column: LeadColumn) -> Option<&'r str> {
    mapping.columns_of(column).into_iter().map(|c| row.get(c).trim()).find(|v| !v.is_empty())
}

fn joined(row: &Row<'_>, mapping: &Mapping, column: LeadColumn) -> Option<String> {
    let parts: Vec<&str> =
        mapping.columns_of(column).into_iter().map(|c| row.get(c).trim()).filter(|v| !v.is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// "山田 太郎" → ("山田", "太郎"); a reading splits at its space.
fn split_reading(full: &str) -> (Option<String>, Option<String>) {
    let normalised = hatake_domain::text::nfkc_trim(full);
    match normalised.split_once(' ') {
        Some((family, given)) => (Some(family.to_owned()), Some(given.trim().to_owned())),
        None => (Some(normalised), None),
    }
}

/// The row's non-empty fields by header, kept as the record's source (also the values that
/// have no lead field, such as a note or a website).
pub fn fields_json(headers: &[String], row: &Row<'_>) -> String {
    let mut object = serde_json::Map::new();
    for (i, value) in row.iter().enumerate() {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let header = headers.get(i).cloned().unwrap_or_else(|| format!("column {}", i + 1));
        object.insert(header, serde_json::Value::String(value.to_owned()));
    }
    serde_json::Value::Object(object).to_string()
}

/// The row's corporate number (法人番号), checked as the account form checks it: 13 digits
/// with a valid check digit. `Ok(None)` when the row has none.
///
/// # Errors
/// The same field error the account form gives (`corporate_number`).
pub fn corporate_number_of_row(
    row: &Row<'_>,
    mapping: &Mapping,
) -> Result<Option<hatake_domain::CorporateNumber>, FieldError> {
    first(row, mapping, LeadColumn::CorporateNumber)
        .map(|text| hatake_domain::CorporateNumber::parse_field(text, "corporate_number"))
        .transpose()
}

/// The lead a row describes.
///
/// # Errors
/// Every problem of the row, each naming its field.
pub fn lead_of_row(row: &Row<'_>, mapping: &Mapping, context: &RowContext) -> Result<LeadData, FieldErrors> {
    let mut errors = FieldErrors::default();
    if let Some(wrong) = row.wrong_columns {
        errors.push(FieldError::new("row", "wrong_column_count", wrong.message_ja(), wrong.message_en()));
        return Err(errors);
    }
    if let Err(error) = corporate_number_of_row(row, mapping) {
        errors.push(error);
    }
    let text = |column| first(row, mapping, column).map(str::to_owned);
    // A name without a space is split by its reading or the family-name dictionary.
    let reading = text(LeadColumn::FullNameKana);
    let (mut family_name, mut given_name) = text(LeadColumn::FullName)
        .map(|f| hatake_domain::name::split_full_name(&f, reading.as_deref()))
        .unwrap_or_default();
    if let Some(family) = text(LeadColumn::FamilyName) {
        family_name = Some(family);
    }
    if let Some(given) = text(LeadColumn::GivenName) {
        given_name = Some(given);
    }
    let (mut family_name_kana, mut given_name_kana) = reading.as_deref().map(split_reading).unwrap_or_default();
    if let Some(family) = text(LeadColumn::FamilyNameKana) {
        family_name_kana = Some(family);
    }
    if let Some(given) = text(LeadColumn::GivenNameKana) {
        given_name_kana = Some(given);
    }
    // An address keeps its postal code in front (the lead has no field of its own for it).
    let address = joined(row, mapping, LeadColumn::Address);
    let (postal_in_address, rest) = address.as_deref().map(split_postal_code).unwrap_or_default();
    let postal = text(LeadColumn::PostalCode)
        .and_then(|p| hatake_domain::prefecture::parse_postal_code(&p))
        .or(postal_in_address);
    let address = match (postal, rest.is_empty()) {
        (Some(code), false) => Some(format!("〒{code} {rest}")),
        (Some(code), true) => Some(format!("〒{code}")),
        (None, false) => Some(rest.clone()),
        (None, true) => None,
    };
    let prefecture = match text(LeadColumn::Prefecture) {
        Some(value) => match parse_prefecture(&value) {
            Some(p) => Some(p.to_owned()),
            None => {
                errors.push(FieldError::new(
                    "prefecture",
                    "invalid_prefecture",
                    format!("都道府県が分かりません: {value}"),
                    format!("Unknown prefecture: {value}"),
                ));
                None
            }
        },
        None => prefecture_of_address(&rest).map(str::to_owned),
    };
    let mut product_ids: Vec<i64> = context.product_id.into_iter().collect();
    for name in mapping.columns_of(LeadColumn::Product).into_iter().map(|c| row.get(c).trim()) {
        for part in name.split([',', '、', ';', '/']).map(str::trim).filter(|p| !p.is_empty()) {
            match context.products.get(&hatake_domain::text::search_key(part)) {
                Some(id) => product_ids.push(*id),
                None => errors.push(FieldError::new(
                    "product",
                    "unknown_product",
                    format!("登録されていない製品です: {part}"),
                    format!("No such product: {part}"),
                )),
            }
        }
    }
    let owner_id = match text(LeadColumn::Owner) {
        Some(owner) => match context.users.get(&hatake_domain::text::search_key(&owner)) {
            Some(id) => Some(*id),
            None => {
                errors.push(FieldError::new(
                    "owner",
                    "unknown_owner",
                    format!("担当者がユーザーにいません: {owner}"),
                    format!("No user matches the owner: {owner}"),
                ));
                None
            }
        },
        None => None,
    };
    let input = LeadInput {
        company_name: text(LeadColumn::CompanyName),
        family_name,
        given_name,
        family_name_kana,
        given_name_kana,
        email: text(LeadColumn::Email),
        phone: text(LeadColumn::Phone).or_else(|| text(LeadColumn::Mobile)),
        department: text(LeadColumn::Department),
        title: text(LeadColumn::Title),
        prefecture,
        address,
        source: text(LeadColumn::Source).or_else(|| context.source.clone()),
        owner_id,
        product_ids: Some(product_ids),
        ..LeadInput::default()
    };
    match input.validate(&context.custom_defs) {
        Ok(data) if errors.is_empty() => Ok(data),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.0.extend(more.0);
            Err(errors)
        }
    }
}
