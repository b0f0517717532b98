//! A mapping from CSV columns to lead or company fields: guessed from the headers, edited in a
//! form, stored as JSON (an array of keys or `null`, one per column), and checked so that a
//! single-valued field is fed by at most one column.

use super::{ColumnKey, CompanyColumn, LeadColumn};
use hatake_domain::{FieldError, FieldErrors};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// For each CSV column, the lead field it goes to (`None`: not mapped).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping(pub Vec<Option<LeadColumn>>);

/// For each CSV column, the company field it goes to (`None`: not mapped).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompanyMapping(pub Vec<Option<CompanyColumn>>);

macro_rules! mapping_impl {
    ($mapping:ident, $column:ident) => {
        impl $mapping {
            /// Guesses every column from its header. When a single-valued field is guessed for
            /// several columns, the first one keeps it and the others are left unmapped.
            pub fn guess<S: AsRef<str>>(headers: &[S]) -> Self {
                Self(guess_all(headers))
            }

            /// Parses one key per column as a form sends them: "" means not mapped.
            ///
            /// # Errors
            /// Every unknown key and every repeated single-valued field, each on the field
            /// `mapping[i]` of the offending column (0-based).
            pub fn parse_keys(keys: &[&str]) -> Result<Self, FieldErrors> {
                parse_keys(keys).map(Self)
            }

            /// Checks that no single-valued field is mapped from two columns.
            ///
            /// # Errors
            /// A `duplicate_column` error on `mapping[i]` for each later column.
            pub fn validate(&self) -> Result<(), FieldErrors> {
                let errors = duplicates(&self.0);
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(errors)
                }
            }

            /// The keys, one per column, with "" for an unmapped column (for a form).
            pub fn keys(&self) -> Vec<&'static str> {
                self.0.iter().map(|column| column.map_or("", |c| c.as_str())).collect()
            }

            /// The 0-based CSV columns mapped to `column`, in order.
            pub fn columns_of(&self, column: $column) -> Vec<usize> {
                self.0.iter().enumerate().filter(|(_, c)| **c == Some(column)).map(|(i, _)| i).collect()
            }
        }

        impl Serialize for $column {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $column {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let key = String::deserialize(deserializer)?;
                <$column as ColumnKey>::parse(&key)
                    .ok_or_else(|| D::Error::custom(format!("unknown column key: {key}")))
            }
        }

        impl Serialize for $mapping {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $mapping {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let mapping = Self(Vec::deserialize(deserializer)?);
                mapping.validate().map_err(D::Error::custom)?;
                Ok(mapping)
            }
        }
    };
}

mapping_impl!(Mapping, LeadColumn);
mapping_impl!(CompanyMapping, CompanyColumn);

fn guess_all<C: ColumnKey, S: AsRef<str>>(headers: &[S]) -> Vec<Option<C>> {
    let mut columns: Vec<Option<C>> = Vec::with_capacity(headers.len());
    for header in headers {
        let column = C::guess(header.as_ref()).filter(|c| c.may_repeat() || !columns.contains(&Some(*c)));
        columns.push(column);
    }
    columns
}

fn parse_keys<C: ColumnKey>(keys: &[&str]) -> Result<Vec<Option<C>>, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut columns = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let key = key.trim();
        if key.is_empty() {
            columns.push(None);
            continue;
        }
        match C::parse(key) {
            Some(column) => columns.push(Some(column)),
            None => {
                errors.push(FieldError::new(
                    format!("mapping[{index}]"),
                    "unknown_column",
                    format!("列{}: 不明な項目です: {key}", index + 1),
                    format!("Column {}: unknown field: {key}", index + 1),
                ));
                columns.push(None);
            }
        }
    }
    errors.0.extend(duplicates(&columns).0);
    errors.into_result(|| columns)
}

fn duplicates<C: ColumnKey>(columns: &[Option<C>]) -> FieldErrors {
    let mut errors = FieldErrors::default();
    for (index, column) in columns.iter().enumerate() {
        let Some(column) = column.filter(|c| !c.may_repeat()) else { continue };
        if let Some(first) = columns[..index].iter().position(|c| *c == Some(column)) {
            errors.push(FieldError::new(
                format!("mapping[{index}]"),
                "duplicate_column",
                format!("「{}」は列{}と列{}の両方に割り当てられています。", column.label_ja(), first + 1, index + 1),
                format!("{} is mapped from both column {} and column {}.", column.label_en(), first + 1, index + 1),
            ));
        }
    }
    errors
}
