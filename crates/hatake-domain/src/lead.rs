//! Leads: the people. A record counts as a *lead* only when the configured set of key fields
//! is complete; anything less is a *list* entry (DOMAIN.md, "list vs lead").

use crate::account::invalid_prefecture;
use crate::contact::{Email, Phone};
use crate::custom_field::{check_custom_values, CustomFieldDef};
use crate::fields::optional_text;
use crate::prefecture::{parse_prefecture, prefecture_of_address};
use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

/// A key field that may be required for a record to count as a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredField {
    Company,
    Department,
    Title,
    Name,
    Email,
    Phone,
    Address,
}

impl RequiredField {
    pub const ALL: [RequiredField; 7] = [
        RequiredField::Company,
        RequiredField::Department,
        RequiredField::Title,
        RequiredField::Name,
        RequiredField::Email,
        RequiredField::Phone,
        RequiredField::Address,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RequiredField::Company => "company",
            RequiredField::Department => "department",
            RequiredField::Title => "title",
            RequiredField::Name => "name",
            RequiredField::Email => "email",
            RequiredField::Phone => "phone",
            RequiredField::Address => "address",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == text.trim())
    }

    pub fn label(self, locale: &str) -> &'static str {
        match (self, locale == "ja") {
            (RequiredField::Company, true) => "会社名",
            (RequiredField::Department, true) => "部署",
            (RequiredField::Title, true) => "役職",
            (RequiredField::Name, true) => "氏名",
            (RequiredField::Email, true) => "メールアドレス",
            (RequiredField::Phone, true) => "電話番号",
            (RequiredField::Address, true) => "住所・都道府県",
            (RequiredField::Company, false) => "Company",
            (RequiredField::Department, false) => "Department",
            (RequiredField::Title, false) => "Title",
            (RequiredField::Name, false) => "Name",
            (RequiredField::Email, false) => "E-mail",
            (RequiredField::Phone, false) => "Phone",
            (RequiredField::Address, false) => "Address / prefecture",
        }
    }
}

/// The fields a record needs to count as a lead. The default is the 7-point set (7点セット).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredFieldSet(pub Vec<RequiredField>);

impl Default for RequiredFieldSet {
    fn default() -> Self {
        Self(RequiredField::ALL.to_vec())
    }
}

impl RequiredFieldSet {
    /// Parses a comma-separated list such as `company,name,email`.
    ///
    /// # Errors
    /// A field error naming the unknown entry.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let mut fields = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let field = RequiredField::parse(part).ok_or_else(|| {
                FieldError::new(
                    "required_fields",
                    "invalid_required_field",
                    format!("不明な必須項目です: {part}"),
                    format!("Unknown required field: {part}"),
                )
            })?;
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        Ok(Self(fields))
    }

    pub fn to_text(&self) -> String {
        self.0.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(",")
    }

    /// The required fields the record lacks, in the set's order.
    pub fn missing(&self, lead: &LeadData) -> Vec<RequiredField> {
        self.0.iter().copied().filter(|f| !lead.has(*f)).collect()
    }

    pub fn is_lead(&self, lead: &LeadData) -> bool {
        self.0.iter().all(|f| lead.has(*f))
    }
}

/// Lead fields as they arrive: nothing checked yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadInput {
    pub account_id: Option<i64>,
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
    pub product_ids: Option<Vec<i64>>,
    pub custom: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A validated lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadData {
    pub account_id: Option<i64>,
    pub company_name: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name_kana: Option<String>,
    pub given_name_kana: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub prefecture: Option<String>,
    pub address: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub product_ids: Vec<i64>,
    pub custom: serde_json::Map<String, serde_json::Value>,
    /// The department's class (see [`crate::department`]): not entered but derived from
    /// `department` with the organisation's dictionary by whoever stores the lead.
    pub department_class: Option<String>,
}

impl LeadData {
    /// Whether a key field is filled.
    pub fn has(&self, field: RequiredField) -> bool {
        match field {
            RequiredField::Company => self.account_id.is_some() || self.company_name.is_some(),
            RequiredField::Department => self.department.is_some(),
            RequiredField::Title => self.title.is_some(),
            RequiredField::Name => self.family_name.is_some(),
            RequiredField::Email => self.email.is_some(),
            RequiredField::Phone => self.phone.is_some(),
            RequiredField::Address => self.prefecture.is_some() || self.address.is_some(),
        }
    }

    /// "姓 名" (Japanese order), or whatever part is known.
    pub fn full_name(&self) -> String {
        join_name(self.family_name.as_deref(), self.given_name.as_deref())
    }
}

/// Joins family and given name with a space, skipping missing parts.
pub fn join_name(family: Option<&str>, given: Option<&str>) -> String {
    [family, given].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

impl LeadInput {
    /// # Errors
    /// Every problem found, each naming its field. A record needs at least a name, an e-mail
    /// address or a phone number to be worth keeping.
    pub fn validate(&self, custom_defs: &[CustomFieldDef]) -> Result<LeadData, FieldErrors> {
        let mut errors = FieldErrors::default();
        let company_name = optional_text(&mut errors, "company_name", self.company_name.as_deref(), 200);
        let family_name = optional_text(&mut errors, "family_name", self.family_name.as_deref(), 50);
        let given_name = optional_text(&mut errors, "given_name", self.given_name.as_deref(), 50);
        let family_name_kana = kana(&mut errors, "family_name_kana", self.family_name_kana.as_deref());
        let given_name_kana = kana(&mut errors, "given_name_kana", self.given_name_kana.as_deref());
        let email = self.email.as_deref().filter(|s| !s.trim().is_empty()).and_then(|s| errors.take(Email::parse(s)));
        let phone = self
            .phone
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| errors.take(Phone::parse_field(s, "phone")));
        let department = optional_text(&mut errors, "department", self.department.as_deref(), 100);
        let title = optional_text(&mut errors, "title", self.title.as_deref(), 100);
        let address = optional_text(&mut errors, "address", self.address.as_deref(), 300);
        let prefecture = match self.prefecture.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(text) => parse_prefecture(text).map(str::to_owned).or_else(|| {
                errors.push(invalid_prefecture(text));
                None
            }),
            None => address.as_deref().and_then(prefecture_of_address).map(str::to_owned),
        };
        let source = optional_text(&mut errors, "source", self.source.as_deref(), 100);
        let custom = match &self.custom {
            Some(values) => match check_custom_values(custom_defs, values) {
                Ok(checked) => checked,
                Err(custom_errors) => {
                    errors.0.extend(custom_errors.0);
                    serde_json::Map::new()
                }
            },
            None => serde_json::Map::new(),
        };
        if family_name.is_none()
            && email.is_none()
            && phone.is_none()
            && !errors.0.iter().any(|e| ["family_name", "email", "phone"].contains(&e.field.as_str()))
        {
            errors.push(FieldError::new(
                "family_name",
                "identity_required",
                "氏名・メールアドレス・電話番号のいずれかを入力してください。",
                "Enter at least a name, an e-mail address or a phone number.",
            ));
        }
        let mut product_ids = self.product_ids.clone().unwrap_or_default();
        product_ids.sort_unstable();
        product_ids.dedup();
        errors.into_result(|| LeadData {
            account_id: self.account_id,
            company_name,
            family_name,
            given_name,
            family_name_kana,
            given_name_kana,
            email,
            phone,
            department,
            title,
            prefecture,
            address,
            source,
            owner_id: self.owner_id,
            product_ids,
            custom,
            department_class: None,
        })
    }
}

/// Kana readings are stored in 全角カタカナ; ひらがな is converted.
fn kana(errors: &mut FieldErrors, field: &str, value: Option<&str>) -> Option<String> {
    let text = nfkc_trim(value?);
    if text.is_empty() {
        return None;
    }
    let katakana: String = text
        .chars()
        .map(|c| if ('ぁ'..='ゖ').contains(&c) { char::from_u32(c as u32 + 0x60).unwrap_or(c) } else { c })
        .collect();
    let ok = katakana.chars().all(|c| ('ァ'..='ヺ').contains(&c) || "ー・ ヽヾ".contains(c));
    if !ok {
        errors.push(FieldError::new(
            field,
            "invalid_kana",
            format!("フリガナはカタカナかひらがなで入力してください: {text}"),
            format!("The reading must be written in kana: {text}"),
        ));
        return None;
    }
    if katakana.chars().count() > 50 {
        errors.push(FieldError::too_long(field, 50));
        return None;
    }
    Some(katakana)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> LeadInput {
        LeadInput {
            company_name: Some("ひまわり商事".into()),
            family_name: Some("山田".into()),
            given_name: Some("太郎".into()),
            family_name_kana: Some("やまだ".into()),
            email: Some("Taro@Himawari.co.jp".into()),
            phone: Some("03-1234-5678".into()),
            department: Some("情報システム部".into()),
            title: Some("課長".into()),
            address: Some("東京都千代田区1-1".into()),
            ..LeadInput::default()
        }
    }

    #[test]
    fn complete_record_is_a_lead() {
        let lead = complete().validate(&[]).unwrap();
        assert_eq!(lead.family_name_kana.as_deref(), Some("ヤマダ"));
        assert_eq!(lead.prefecture.as_deref(), Some("東京都"));
        assert_eq!(lead.full_name(), "山田 太郎");
        let set = RequiredFieldSet::default();
        assert!(set.is_lead(&lead));
        assert!(set.missing(&lead).is_empty());
    }

    #[test]
    fn incomplete_record_is_a_list_entry_and_says_what_it_lacks() {
        let input = LeadInput { title: None, phone: Some(" ".into()), ..complete() };
        let lead = input.validate(&[]).unwrap();
        let set = RequiredFieldSet::default();
        assert!(!set.is_lead(&lead));
        assert_eq!(set.missing(&lead), [RequiredField::Title, RequiredField::Phone]);
        let loose = RequiredFieldSet::parse("company, name,email").unwrap();
        assert!(loose.is_lead(&lead));
        assert_eq!(RequiredFieldSet::parse("company,shoe_size").unwrap_err().code, "invalid_required_field");
    }

    #[test]
    fn a_record_needs_some_identity() {
        let errors = LeadInput { company_name: Some("X".into()), ..LeadInput::default() }.validate(&[]).unwrap_err();
        assert_eq!(errors.0[0].code, "identity_required");
    }

    #[test]
    fn bad_fields_are_named() {
        let input = LeadInput {
            email: Some("not-an-email".into()),
            family_name_kana: Some("Yamada".into()),
            prefecture: Some("Atlantis".into()),
            ..complete()
        };
        let errors = input.validate(&[]).unwrap_err();
        let got: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            got,
            [("family_name_kana", "invalid_kana"), ("email", "invalid_email"), ("prefecture", "invalid_prefecture")]
        );
    }
}
