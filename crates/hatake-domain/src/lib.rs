//! hatake's domain: pure types and rules. This crate does no IO — no database, network,
//! file system or clock — so every rule here is tested with plain tables of cases.

pub mod account;
pub mod alerts;
pub mod booking;
pub mod company;
pub mod contact;
pub mod corporate_number;
pub mod custom_field;
pub mod department;
mod error;
pub mod event;
pub mod fields;
pub mod form;
pub mod hearing;
pub mod holidays;
pub mod lead;
pub mod lifecycle;
pub mod matching;
pub mod name;
pub mod prefecture;
pub mod product;
pub mod qualification;
pub mod routing;
pub mod scoring;
pub mod segment;
pub mod text;
pub mod tracking;
pub mod user;
pub mod yaml;

pub use account::{AbmTier, AccountData, AccountInput};
pub use contact::{Email, Phone};
pub use corporate_number::CorporateNumber;
pub use custom_field::{CustomFieldDef, FieldKind};
pub use department::{DepartmentClass, DepartmentDictionary};
pub use error::{FieldError, FieldErrors};
pub use event::{EventData, EventInput, EventKind, EventSubject};
pub use lead::{LeadData, LeadInput, RequiredField, RequiredFieldSet};
pub use product::{ProductData, ProductInput};
pub use user::{Locale, NewUser, Role};
