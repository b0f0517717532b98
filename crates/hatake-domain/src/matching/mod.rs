//! Identity resolution (名寄せ): deciding which stored person or company an incoming record is.
//!
//! [`engine`] is the general record-linkage machinery (comparison patterns, Fellegi–Sunter
//! weights with an expectation–maximisation fit, blocking, one-to-one assignment);
//! [`lead`] configures it for Japanese B2B leads; [`similarity`] holds the string measures.

pub mod company;
pub mod engine;
pub mod lead;
pub mod merge;
pub mod similarity;

#[cfg(test)]
mod lead_tests;

pub use lead::{
    compare_leads, decide, key_hash, Comparison, Decision, Evidence, LeadFeatures, MERGE_THRESHOLD, REVIEW_THRESHOLD,
};
