//! Accounts: the companies leads belong to.

use crate::company::normalise_company_name;
use crate::corporate_number::CorporateNumber;
use crate::fields::{optional_count, optional_text, parse_domain, required_text};
use crate::prefecture::{parse_prefecture, prefecture_of_address};
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

/// Account-based-marketing tier: how much individual attention a company gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbmTier {
    Tier1,
    Tier2,
    Tier3,
}

impl AbmTier {
    pub const ALL: [AbmTier; 3] = [AbmTier::Tier1, AbmTier::Tier2, AbmTier::Tier3];

    pub fn as_str(self) -> &'static str {
        match self {
            AbmTier::Tier1 => "tier1",
            AbmTier::Tier2 => "tier2",
            AbmTier::Tier3 => "tier3",
        }
    }

    /// # Errors
    /// A field error on `abm_tier` for anything but tier1..tier3 (or 1..3).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        match input.trim().to_lowercase().as_str() {
            "tier1" | "1" => Ok(AbmTier::Tier1),
            "tier2" | "2" => Ok(AbmTier::Tier2),
            "tier3" | "3" => Ok(AbmTier::Tier3),
            _ => Err(FieldError::new(
                "abm_tier",
                "invalid_abm_tier",
                format!("ABMティアは tier1 / tier2 / tier3 のいずれかです: {input}"),
                format!("ABM tier must be tier1, tier2 or tier3: {input}"),
            )),
        }
    }
}

/// Account fields as they arrive from a form or JSON body: nothing checked yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountInput {
    pub name: Option<String>,
    pub corporate_number: Option<String>,
    pub domains: Option<Vec<String>>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub annual_revenue: Option<i64>,
    pub prefecture: Option<String>,
    pub address: Option<String>,
    pub abm_tier: Option<String>,
    pub owner_id: Option<i64>,
}

impl AccountInput {
    /// # Errors
    /// Every problem found, each naming its field.
    pub fn validate(&self) -> Result<AccountData, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = required_text(&mut errors, "name", self.name.as_deref(), 200);
        let corporate_number = self
            .corporate_number
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| errors.take(CorporateNumber::parse(s)));
        let mut domains = Vec::new();
        for (index, domain) in self.domains.iter().flatten().enumerate() {
            if domain.trim().is_empty() {
                continue;
            }
            if let Some(d) = errors.take(parse_domain(&format!("domains[{index}]"), domain)) {
                if !domains.contains(&d) {
                    domains.push(d);
                }
            }
        }
        let industry = optional_text(&mut errors, "industry", self.industry.as_deref(), 100);
        let employee_count = optional_count(&mut errors, "employee_count", self.employee_count);
        let annual_revenue = optional_count(&mut errors, "annual_revenue", self.annual_revenue);
        let address = optional_text(&mut errors, "address", self.address.as_deref(), 300);
        let prefecture = match self.prefecture.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(text) => match parse_prefecture(text) {
                Some(p) => Some(p.to_owned()),
                None => {
                    errors.push(invalid_prefecture(text));
                    None
                }
            },
            None => address.as_deref().and_then(prefecture_of_address).map(str::to_owned),
        };
        let abm_tier =
            self.abm_tier.as_deref().filter(|s| !s.trim().is_empty()).and_then(|s| errors.take(AbmTier::parse(s)));
        let name_normalized = normalise_company_name(&name);
        errors.into_result(|| AccountData {
            name,
            name_normalized,
            corporate_number,
            domains,
            industry,
            employee_count,
            annual_revenue,
            prefecture,
            address,
            abm_tier,
            owner_id: self.owner_id,
        })
    }
}

pub(crate) fn invalid_prefecture(text: &str) -> FieldError {
    FieldError::new(
        "prefecture",
        "invalid_prefecture",
        format!("都道府県名が正しくありません: {text}"),
        format!("Not a Japanese prefecture: {text}"),
    )
}

/// A validated account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountData {
    pub name: String,
    pub name_normalized: String,
    pub corporate_number: Option<CorporateNumber>,
    pub domains: Vec<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    /// Yen.
    pub annual_revenue: Option<i64>,
    pub prefecture: Option<String>,
    pub address: Option<String>,
    pub abm_tier: Option<AbmTier>,
    pub owner_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_account_is_normalised() {
        let input = AccountInput {
            name: Some("株式会社ひまわり商事".into()),
            corporate_number: Some("7000012050002".into()),
            domains: Some(vec!["https://www.himawari.co.jp/".into(), "HIMAWARI.co.jp".into()]),
            address: Some("東京都千代田区".into()),
            abm_tier: Some("1".into()),
            ..AccountInput::default()
        };
        let account = input.validate().unwrap();
        assert_eq!(account.name_normalized, "ひまわり商事");
        assert_eq!(account.domains, ["himawari.co.jp"]);
        assert_eq!(account.prefecture.as_deref(), Some("東京都"));
        assert_eq!(account.abm_tier, Some(AbmTier::Tier1));
    }

    #[test]
    fn every_bad_field_is_named() {
        let input = AccountInput {
            name: None,
            corporate_number: Some("1234567890123".into()),
            domains: Some(vec!["ok.jp".into(), "not a domain".into()]),
            employee_count: Some(-1),
            prefecture: Some("Narnia".into()),
            abm_tier: Some("gold".into()),
            ..AccountInput::default()
        };
        let errors = input.validate().unwrap_err();
        let fields: Vec<(&str, &str)> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            fields,
            [
                ("name", "required"),
                ("corporate_number", "check_digit_mismatch"),
                ("domains[1]", "invalid_domain"),
                ("employee_count", "negative_number"),
                ("prefecture", "invalid_prefecture"),
                ("abm_tier", "invalid_abm_tier"),
            ]
        );
    }
}
