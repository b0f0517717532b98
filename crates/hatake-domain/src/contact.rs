//! E-mail addresses and phone numbers.

use crate::text::nfkc_trim;
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// An e-mail address, normalised to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// # Errors
    /// A field error when the address is not `local@domain.tld` or is longer than 254 characters.
    pub fn parse_field(input: &str, field: &str) -> Result<Self, FieldError> {
        let value = nfkc_trim(input).to_lowercase();
        let invalid = || {
            FieldError::new(
                field,
                "invalid_email",
                format!("メールアドレスの形式が正しくありません: {input}"),
                format!("Not a valid e-mail address: {input}"),
            )
        };
        if value.len() > 254 {
            return Err(FieldError::too_long(field, 254));
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(value))
        } else {
            Err(invalid())
        }
    }

    /// # Errors
    /// See [`Email::parse_field`].
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::parse_field(input, "email")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, d)| d)
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number as entered, checked to hold a plausible number of digits.
/// (Formatting to one canonical form belongs to name-matching.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// # Errors
    /// A field error when the text has characters other than digits, `+ - ( )` and spaces,
    /// or fewer than 6 or more than 15 digits.
    pub fn parse_field(input: &str, field: &str) -> Result<Self, FieldError> {
        let value = nfkc_trim(input).replace(['ー', '−', '‐', '―'], "-");
        let allowed = value.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c));
        let digits = value.chars().filter(char::is_ascii_digit).count();
        if allowed && (6..=15).contains(&digits) {
            Ok(Self(value))
        } else {
            Err(FieldError::new(
                field,
                "invalid_phone",
                format!("電話番号の形式が正しくありません: {input}"),
                format!("Not a valid phone number: {input}"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_field(&value, "phone")
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let good = [
            ("Taro.Yamada@Example.CO.JP", "taro.yamada@example.co.jp"),
            ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "taro@example.jp"),
            (" a+tag@sub.example.com ", "a+tag@sub.example.com"),
        ];
        for (input, expected) in good {
            assert_eq!(Email::parse(input).map(String::from), Ok(expected.to_owned()), "{input}");
        }
        let bad = [
            "",
            "taro",
            "taro@",
            "@example.com",
            "taro@example",
            "ta ro@example.com",
            "taro@@example.com",
            "taro@example.c",
            "taro@-example.com",
            ".taro@example.com",
            "taro..y@example.com",
            "山田@example.jp",
        ];
        for input in bad {
            assert_eq!(Email::parse(input).unwrap_err().code, "invalid_email", "{input}");
        }
        assert_eq!(Email::parse("a@b.jp").unwrap().domain(), "b.jp");
    }

    #[test]
    fn phones() {
        for good in ["03-1234-5678", "０３（１２３４）５６７８", "+81 90 1234 5678", "0120ー123ー456"] {
            assert!(Phone::parse_field(good, "phone").is_ok(), "{good}");
        }
        for bad in ["", "123", "03-1234-567X", "1234567890123456", "内線12"] {
            assert_eq!(Phone::parse_field(bad, "phone").unwrap_err().code, "invalid_phone", "{bad}");
        }
    }
}
