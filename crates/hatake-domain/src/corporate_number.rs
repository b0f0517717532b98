//! 法人番号 (Japanese corporate number): 13 digits, the first of which is a check digit
//! computed from the other twelve.

use crate::text::nfkc_trim;
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// A corporate number whose check digit has been verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorporateNumber(String);

impl CorporateNumber {
    /// Parses a corporate number, accepting 全角 digits and surrounding spaces.
    ///
    /// # Errors
    /// A field error naming `field` when the input is not 13 digits or the check digit is wrong.
    pub fn parse_field(input: &str, field: &str) -> Result<Self, FieldError> {
        let normalised: String = nfkc_trim(input).chars().filter(|c| *c != '-' && *c != ' ').collect();
        if normalised.len() != 13 || !normalised.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                field,
                "invalid_corporate_number",
                "法人番号は13桁の数字で入力してください。",
                "A corporate number is 13 digits.",
            ));
        }
        let digits: Vec<u32> = normalised.bytes().map(|b| u32::from(b - b'0')).collect();
        let expected = check_digit(&digits[1..]);
        if digits[0] != expected {
            return Err(FieldError::new(
                field,
                "check_digit_mismatch",
                format!("法人番号のチェックディジットが正しくありません（先頭は{expected}のはずです）。"),
                format!("The corporate number's check digit is wrong (the first digit should be {expected})."),
            ));
        }
        Ok(Self(normalised))
    }

    /// Parses with the default field name `corporate_number`.
    ///
    /// # Errors
    /// See [`CorporateNumber::parse_field`].
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::parse_field(input, "corporate_number")
    }

    /// Builds a valid corporate number from a 12-digit base number (used by demo data).
    ///
    /// # Panics
    /// If `base` is not exactly 12 ASCII digits.
    pub fn from_base(base: &str) -> Self {
        assert!(base.len() == 12 && base.bytes().all(|b| b.is_ascii_digit()), "base must be 12 digits");
        let digits: Vec<u32> = base.bytes().map(|b| u32::from(b - b'0')).collect();
        Self(format!("{}{base}", check_digit(&digits)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The check digit of a 12-digit base number: 9 − (Σ Pₙ·Qₙ mod 9), where Pₙ is the n-th digit
/// counted from the lowest and Qₙ is 1 for odd n and 2 for even n.
fn check_digit(base: &[u32]) -> u32 {
    let sum: u32 = base.iter().rev().enumerate().map(|(index, digit)| digit * if index % 2 == 0 { 1 } else { 2 }).sum();
    9 - sum % 9
}

impl TryFrom<String> for CorporateNumber {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CorporateNumber> for String {
    fn from(value: CorporateNumber) -> Self {
        value.0
    }
}

impl std::fmt::Display for CorporateNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_are_accepted() {
        // 国税庁, and numbers published on the corporate-number site.
        for number in ["7000012050002", "1180301018771", "4010001008772"] {
            assert_eq!(CorporateNumber::parse(number).map(|n| n.0), Ok(number.to_owned()), "{number}");
        }
    }

    #[test]
    fn full_width_digits_and_spaces_are_normalised() {
        assert_eq!(CorporateNumber::parse(" ７００００１２０５０００２ ").unwrap().as_str(), "7000012050002");
    }

    #[test]
    fn wrong_check_digit_is_rejected_with_the_expected_digit() {
        let error = CorporateNumber::parse("8000012050002").unwrap_err();
        assert_eq!(error.code, "check_digit_mismatch");
        assert!(error.message_en.contains("should be 7"), "{error}");
        assert_eq!(error.field, "corporate_number");
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for bad in ["", "123", "70000120500021", "700001205000a", "７０００"] {
            assert_eq!(CorporateNumber::parse(bad).unwrap_err().code, "invalid_corporate_number", "{bad}");
        }
    }

    #[test]
    fn from_base_always_produces_a_valid_number() {
        for base in ["000012050002", "999999999999", "000000000000", "123456789012"] {
            let number = CorporateNumber::from_base(base);
            assert_eq!(CorporateNumber::parse(number.as_str()), Ok(number.clone()));
        }
    }
}
