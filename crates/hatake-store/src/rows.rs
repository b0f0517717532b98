//! Rows as the store returns them. The `FromRow` derive is generic over the backend, so both
//! backends decode into the same types.

use hatake_domain::{Locale, Role};
use serde::Serialize;

/// Milliseconds since the Unix epoch, UTC. Both backends store time as this integer.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    /// See [`UserRow::role`].
    pub role: String,
    /// See [`UserRow::locale`].
    pub locale: String,
    #[serde(skip)]
    pub password_hash: String,
    pub active: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl UserRow {
    /// The stored role; the column's CHECK constraint keeps it valid, and an unknown value
    /// reads as the least privileged role.
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::FieldSales)
    }

    pub fn locale(&self) -> Locale {
        Locale::parse(&self.locale).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiTokenRow {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, shown so a person can tell tokens apart.
    pub prefix: String,
    pub user_id: i64,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub name_normalized: String,
    pub corporate_number: Option<String>,
    /// Space-separated in storage; see [`AccountRow::domain_list`].
    pub domains: String,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub annual_revenue: Option<i64>,
    pub prefecture: Option<String>,
    pub address: Option<String>,
    pub abm_tier: Option<String>,
    pub owner_id: Option<i64>,
    pub lead_count: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl AccountRow {
    pub fn domain_list(&self) -> Vec<&str> {
        self.domains.split_whitespace().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LeadRow {
    pub id: i64,
    pub account_id: Option<i64>,
    /// The linked account's name, when linked.
    pub account_name: Option<String>,
    pub company_name: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name_kana: Option<String>,
    pub given_name_kana: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub prefecture: Option<String>,
    pub address: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub is_lead: bool,
    /// JSON object of custom values.
    pub custom: String,
    pub department_class: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Filled by the store after the row is read.
    #[sqlx(skip)]
    pub product_ids: Vec<i64>,
    /// The engagement score the list was sorted by (only when sorted by a product's score).
    #[sqlx(default)]
    #[serde(skip_serializing)]
    pub sort_score: Option<i64>,
}

impl LeadRow {
    pub fn full_name(&self) -> String {
        hatake_domain::lead::join_name(self.family_name.as_deref(), self.given_name.as_deref())
    }

    /// The company as shown: the linked account's name, else the name as entered.
    pub fn company(&self) -> Option<&str> {
        self.account_name.as_deref().or(self.company_name.as_deref())
    }

    pub fn custom_map(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.custom).unwrap_or_default()
    }

    /// The required fields this record lacks (custom values play no part).
    pub fn missing(&self, required: &hatake_domain::RequiredFieldSet) -> Vec<hatake_domain::RequiredField> {
        let input = hatake_domain::LeadInput { custom: None, ..self.to_input() };
        input.validate(&[]).map(|data| required.missing(&data)).unwrap_or_default()
    }

    /// The lead as domain data again, for re-validation after a merge patch.
    pub fn to_input(&self) -> hatake_domain::LeadInput {
        hatake_domain::LeadInput {
            account_id: self.account_id,
            company_name: self.company_name.clone(),
            family_name: self.family_name.clone(),
            given_name: self.given_name.clone(),
            family_name_kana: self.family_name_kana.clone(),
            given_name_kana: self.given_name_kana.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            department: self.department.clone(),
            title: self.title.clone(),
            prefecture: self.prefecture.clone(),
            address: self.address.clone(),
            source: self.source.clone(),
            owner_id: self.owner_id,
            product_ids: Some(self.product_ids.clone()),
            custom: Some(self.custom_map()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CustomFieldRow {
    pub id: i64,
    pub key: String,
    pub label_ja: String,
    pub label_en: String,
    /// JSON of [`hatake_domain::FieldKind`].
    pub kind: String,
    pub position: i64,
}

impl CustomFieldRow {
    pub fn def(&self) -> hatake_domain::CustomFieldDef {
        hatake_domain::CustomFieldDef {
            key: self.key.clone(),
            label_ja: self.label_ja.clone(),
            label_en: self.label_en.clone(),
            kind: serde_json::from_str(&self.kind).unwrap_or(hatake_domain::FieldKind::Text),
        }
    }
}

/// Session of a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub csrf_token: String,
    pub expires_at: Millis,
}
