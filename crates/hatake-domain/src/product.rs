//! Products (商材): what leads are interested in; scoring and subscriptions hang off them.

use crate::fields::{required_text, text_as_typed};
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProductInput {
    /// Short stable code used in URLs, exports and the CLI (`erp`, `crm-cloud`).
    pub code: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductData {
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
}

impl ProductInput {
    /// # Errors
    /// Field errors for a missing or malformed code and a missing name.
    pub fn validate(&self) -> Result<ProductData, FieldErrors> {
        let mut errors = FieldErrors::default();
        let code = required_text(&mut errors, "code", self.code.as_deref(), 40).to_lowercase();
        let well_formed = code.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !code.is_empty() && !well_formed {
            errors.push(FieldError::new(
                "code",
                "invalid_code",
                "コードは英数字と - _ のみで入力してください。",
                "The code may contain only letters, digits, - and _.",
            ));
        }
        let name = text_as_typed(&mut errors, "name", self.name.as_deref(), 100).unwrap_or_default();
        if name.is_empty() && errors.get("name").is_none() {
            errors.push(FieldError::required("name"));
        }
        let description = text_as_typed(&mut errors, "description", self.description.as_deref(), 2000);
        errors.into_result(|| ProductData { code, name, description, active: self.active.unwrap_or(true) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products() {
        let ok =
            ProductInput { code: Some("ERP-Cloud".into()), name: Some("クラウドERP".into()), ..Default::default() };
        assert_eq!(ok.validate().unwrap().code, "erp-cloud");
        let bad = ProductInput { code: Some("ｅｒｐ クラウド".into()), ..Default::default() };
        let errors = bad.validate().unwrap_err();
        let codes: Vec<&str> = errors.0.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["invalid_code", "required"]);
    }
}
