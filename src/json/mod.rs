//! JSON forms: provenance events in the protobuf JSON mapping, signed envelopes in the DSSE
//! JSON envelope format, and a reader of JSON documents (NDJSON, concatenated or pretty-printed
//! objects, or arrays of them) that remembers the line each one started on.
//!
//! The protobuf JSON mapping is generated for every message (`provledger::proto`): field names
//! in lowerCamelCase (the proto names are accepted too), enums by name, 64-bit integers as
//! strings, bytes as base64, timestamps as RFC 3339.

pub mod documents;
pub mod dsse;

pub use documents::{Document, Documents, Item};
pub use dsse::DsseEnvelope;

/// Why a JSON document is not what it should be. Messages name the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("line {line}: {message}")]
    Syntax { line: u64, message: String },
    #[error("line {line}: {field}: {message}")]
    Field {
        line: u64,
        field: String,
        message: String,
    },
    #[error("reading input: {0}")]
    Io(#[from] std::io::Error),
}

impl JsonError {
    /// The line of the document at fault, when there is one.
    pub fn line(&self) -> Option<u64> {
        match self {
            JsonError::Syntax { line, .. } | JsonError::Field { line, .. } => Some(*line),
            JsonError::Io(_) => None,
        }
    }
}
