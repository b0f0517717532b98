//! hatake's work beyond storage: importing files, matching incoming records against the
//! stored people, and exporting. Pure rules live in `hatake-domain`; this crate drives them
//! with a [`hatake_store::Store`].

pub mod alerts;
pub mod booking;
pub mod companies;
pub mod export;
pub mod forms;
pub mod hearing;
pub mod import;
pub mod inside_sales;
pub mod mail;
pub mod maintenance;
pub mod qualification;
pub mod resolve;
pub mod routing;
pub mod runtime;
pub mod scoring;
pub mod segments;
pub mod settings;
