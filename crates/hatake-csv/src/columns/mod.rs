//! Header guessing: which lead (or company) field each column of an imported CSV holds.
//!
//! A header is matched on a normalised key (NFKC, lower case, no spaces or punctuation, noise
//! such as 「（必須）」 removed): exact synonyms first, then containment rules
//! where they are safe, in an order that keeps 「会社電話番号」 a phone number. Headers that
//! hold dates, flags or consents (「名刺交換日」, 「メール配信希望」) stay unmapped. The user
//! confirms or corrects the guess; [`Mapping`] and [`CompanyMapping`] carry the result.

mod company;
mod key;
mod lead;
mod mapping;
mod rules;

pub use company::{guess_company_column, CompanyColumn};
pub use lead::{guess_column, LeadColumn};
pub use mapping::{CompanyMapping, Mapping};

/// What lead and company columns have in common, for code that handles either.
pub trait ColumnKey: Copy + Eq + std::fmt::Debug + 'static {
    /// Every column, in the order a form lists them.
    const ALL: &'static [Self];

    /// The stable key used in forms and JSON.
    fn as_str(self) -> &'static str;

    fn label_ja(self) -> &'static str;

    fn label_en(self) -> &'static str;

    /// Whether several CSV columns may map to this one (their values are joined in order).
    fn may_repeat(self) -> bool;

    /// The column a header probably holds.
    fn guess(header: &str) -> Option<Self>;

    /// The column with this key.
    fn parse(key: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|column| column.as_str() == key.trim())
    }
}
