//! Users and their roles. What each role may do is decided here, once.

use crate::contact::Email;
use crate::text::nfkc_trim;
use crate::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Marketer,
    InsideSales,
    FieldSales,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Marketer, Role::InsideSales, Role::FieldSales];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::InsideSales => "inside_sales",
            Role::FieldSales => "field_sales",
        }
    }

    /// # Errors
    /// A field error naming the accepted values.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let key = input.trim().to_lowercase().replace('-', "_");
        Role::ALL.into_iter().find(|r| r.as_str() == key).ok_or_else(|| {
            FieldError::new(
                "role",
                "invalid_role",
                format!("ロールは admin / marketer / inside_sales / field_sales のいずれかです: {input}"),
                format!("Role must be one of admin, marketer, inside_sales, field_sales: {input}"),
            )
        })
    }

    pub fn label(self, locale: &str) -> &'static str {
        match (self, locale == "ja") {
            (Role::Admin, true) => "管理者",
            (Role::Marketer, true) => "マーケティング",
            (Role::InsideSales, true) => "インサイドセールス",
            (Role::FieldSales, true) => "フィールドセールス",
            (Role::Admin, false) => "Admin",
            (Role::Marketer, false) => "Marketer",
            (Role::InsideSales, false) => "Inside sales",
            (Role::FieldSales, false) => "Field sales",
        }
    }

    /// Users, roles and passwords of others.
    pub fn can_manage_users(self) -> bool {
        self == Role::Admin
    }

    /// API tokens.
    pub fn can_manage_tokens(self) -> bool {
        self == Role::Admin
    }

    /// Products and custom field definitions: the organisation's configuration.
    pub fn can_configure(self) -> bool {
        matches!(self, Role::Admin | Role::Marketer)
    }

    /// Deleting accounts and leads (editing is open to every role).
    pub fn can_delete_records(self) -> bool {
        matches!(self, Role::Admin | Role::Marketer)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Ja,
    En,
}

impl Locale {
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Ja => "ja",
            Locale::En => "en",
        }
    }

    pub fn parse(input: &str) -> Option<Self> {
        match input.trim() {
            "ja" => Some(Locale::Ja),
            "en" => Some(Locale::En),
            _ => None,
        }
    }
}

/// A new user, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub locale: Locale,
}

pub const MIN_PASSWORD_CHARS: usize = 10;

impl NewUser {
    /// # Errors
    /// Field errors for a bad e-mail, a missing name, an unknown role or a short password.
    pub fn parse(email: &str, display_name: &str, role: &str, password: &str) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = errors.take(Email::parse(email));
        let name = nfkc_trim(display_name);
        if name.is_empty() {
            errors.push(FieldError::required("display_name"));
        } else if name.chars().count() > 100 {
            errors.push(FieldError::too_long("display_name", 100));
        }
        let role = errors.take(Role::parse(role));
        if let Err(e) = check_password(password) {
            errors.push(e);
        }
        match (email, role) {
            (Some(email), Some(role)) if errors.is_empty() => {
                Ok(Self { email, display_name: name, role, locale: Locale::Ja })
            }
            _ => Err(errors),
        }
    }
}

/// # Errors
/// A field error on `password` when it is shorter than [`MIN_PASSWORD_CHARS`].
pub fn check_password(password: &str) -> Result<(), FieldError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(FieldError::new(
            "password",
            "password_too_short",
            format!("パスワードは{MIN_PASSWORD_CHARS}文字以上にしてください。"),
            format!("The password must be at least {MIN_PASSWORD_CHARS} characters."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_permissions() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert_eq!(Role::parse("Field-Sales"), Ok(Role::FieldSales));
        assert_eq!(Role::parse("boss").unwrap_err().code, "invalid_role");
        assert!(Role::Admin.can_manage_users());
        assert!(!Role::FieldSales.can_manage_users());
        assert!(!Role::Marketer.can_manage_tokens());
        assert!(Role::Marketer.can_configure());
        assert!(!Role::InsideSales.can_configure());
    }

    #[test]
    fn new_user_reports_every_field() {
        let errors = NewUser::parse("bad", " ", "boss", "short").unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["email", "display_name", "role", "password"]);
        let user = NewUser::parse("A@B.jp", "山田 太郎", "marketer", "correct horse").unwrap();
        assert_eq!(user.email.as_str(), "a@b.jp");
    }
}
