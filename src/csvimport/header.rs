//! The header row: which column holds each value the mapping reads. Column names are matched
//! case-insensitively and without surrounding spaces, so Data Loader's upper-case API names
//! (`ID`, `IS_SYNTHETIC`) and hand-written ones (`Id`, `is_synthetic`) both work. Every column
//! the mapping needs must be present; a missing one fails the import at the header, before any
//! row is read, with all missing columns listed.

use csv::StringRecord;

/// The record id column.
pub const ID: &str = "ID";
/// true/false/1/0/yes/no: whether the record is synthetic.
pub const IS_SYNTHETIC: &str = "IS_SYNTHETIC";
/// The generator that made a synthetic record.
pub const SYNTHETIC_SOURCE: &str = "__SYNTHETIC_SOURCE";
/// When the record was generated (RFC 3339).
pub const GENERATION_TIMESTAMP: &str = "__GENERATION_TIMESTAMP";
/// A keyed hash of the record's content, in hex.
pub const PROVENANCE_HASH: &str = "__PROVENANCE_HASH";
/// The generator model's version.
pub const AI_MODEL_VERSION: &str = "AI_MODEL_VERSION";
/// The generator model's name (optional column; `--model` otherwise).
pub const AI_MODEL: &str = "AI_MODEL";

/// The columns every export must have.
pub const REQUIRED: [&str; 6] = [
    ID,
    IS_SYNTHETIC,
    SYNTHETIC_SOURCE,
    GENERATION_TIMESTAMP,
    PROVENANCE_HASH,
    AI_MODEL_VERSION,
];

/// What is wrong with a header row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("line 1: the header is missing {}: {}", if .columns.len() == 1 { "a column" } else { "columns" }, .columns.join(", "))]
    Missing { columns: Vec<String> },
    #[error("line 1: column {name} appears twice (columns {first} and {second})")]
    Duplicate {
        name: String,
        first: usize,
        second: usize,
    },
}

/// The positions of the columns the mapping reads, resolved once per file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    names: Vec<String>,
    pub(crate) id: usize,
    pub(crate) is_synthetic: usize,
    pub(crate) source: usize,
    pub(crate) timestamp: usize,
    pub(crate) hash: usize,
    pub(crate) model_version: usize,
    pub(crate) model: Option<usize>,
    /// Attribute key (as asked for) and its column.
    pub(crate) attributes: Vec<(String, usize)>,
}

fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_uppercase()
}

impl Header {
    /// Resolves `names` (the header row); `attributes` are further columns to copy into the
    /// event's attributes, by name.
    pub fn new(names: &StringRecord, attributes: &[String]) -> Result<Header, HeaderError> {
        let names: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if i == 0 {
                    n.trim_start_matches('\u{feff}').trim().to_string()
                } else {
                    n.trim().to_string()
                }
            })
            .collect();
        let find = |wanted: &str| -> Result<Option<usize>, HeaderError> {
            let wanted = normalise(wanted);
            let mut hits = names
                .iter()
                .enumerate()
                .filter(|(_, n)| normalise(n) == wanted)
                .map(|(i, _)| i);
            match (hits.next(), hits.next()) {
                (Some(first), Some(second)) => Err(HeaderError::Duplicate {
                    name: names[first].clone(),
                    first: first + 1,
                    second: second + 1,
                }),
                (first, _) => Ok(first),
            }
        };
        let mut missing = Vec::new();
        let mut required = Vec::with_capacity(REQUIRED.len());
        for column in REQUIRED {
            match find(column)? {
                Some(i) => required.push(i),
                None => missing.push(column.to_string()),
            }
        }
        let mut resolved = Vec::with_capacity(attributes.len());
        for key in attributes {
            match find(key)? {
                Some(i) => resolved.push((key.clone(), i)),
                None => missing.push(key.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(HeaderError::Missing { columns: missing });
        }
        let model = find(AI_MODEL)?;
        Ok(Header {
            id: required[0],
            is_synthetic: required[1],
            source: required[2],
            timestamp: required[3],
            hash: required[4],
            model_version: required[5],
            model,
            attributes: resolved,
            names,
        })
    }

    /// The name of column `index` (0-based) as the file writes it.
    pub fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// How many columns the header has.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(names: &[&str]) -> StringRecord {
        StringRecord::from(names.to_vec())
    }

    #[test]
    fn names_match_case_insensitively() {
        let h = Header::new(
            &record(&[
                "FirstName",
                "Ai_Model_Version",
                " id ",
                "is_synthetic",
                "__Synthetic_Source",
                "__GENERATION_TIMESTAMP",
                "__provenance_hash",
                "LeadSource",
            ]),
            &["LEADSOURCE".to_string()],
        )
        .unwrap();
        assert_eq!(
            (h.id, h.is_synthetic, h.source, h.timestamp, h.hash),
            (2, 3, 4, 5, 6)
        );
        assert_eq!(h.model_version, 1);
        assert_eq!(h.model, None);
        assert_eq!(h.attributes, vec![("LEADSOURCE".to_string(), 7)]);
        assert_eq!(h.name(2), Some("id"));
    }

    #[test]
    fn every_missing_column_is_listed() {
        let e = Header::new(
            &record(&["ID", "IS_SYNTHETIC", "AI_MODEL_VERSION"]),
            &["Company".to_string()],
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: the header is missing columns: __SYNTHETIC_SOURCE, __GENERATION_TIMESTAMP, __PROVENANCE_HASH, Company"
        );
    }

    #[test]
    fn a_column_named_twice_is_refused() {
        let mut names: Vec<&str> = REQUIRED.to_vec();
        names.push("Id");
        let e = Header::new(&record(&names), &[]).unwrap_err();
        assert_eq!(
            e,
            HeaderError::Duplicate {
                name: "ID".into(),
                first: 1,
                second: 7
            }
        );
        // Unused columns may repeat.
        let mut names: Vec<&str> = REQUIRED.to_vec();
        names.extend(["X", "x"]);
        assert!(Header::new(&record(&names), &[]).is_ok());
    }
}
