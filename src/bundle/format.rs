//! The evidence bundle file: one JSON object.
//!
//! ```text
//! {
//!   "format": "provledger-evidence/v1",
//!   "checkpoint": "<the signed checkpoint note>",
//!   "entries": [ {"index": 12, "leaf": "<base64 leaf bytes>",
//!                 "proof": ["<base64 hash>", ...]}, ... ],      // ascending, no repeats
//!   "claim": {"trace": {"answer": TraceResponse}}
//!         or {"blastRadius": {"request": DescendantsRequest, "answer": DescendantsResponse}}
//! }
//! ```
//!
//! Requests and answers are in the protobuf JSON mapping. In a trace answer, events carry no
//! `leaf` or `proof` (the entries hold them) and there is no `checkpoint` (the bundle's is the
//! one); a blast-radius answer holds every page, merged. Unknown fields are refused.

use super::BundleError;
use crate::proto::{DescendantsRequest, DescendantsResponse, TraceResponse};
use serde::{Deserialize, Serialize};

/// The format line every bundle starts with.
pub const FORMAT: &str = "provledger-evidence/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    pub checkpoint: String,
    pub entries: Vec<BundleEntry>,
    pub claim: Claim,
}

/// One log entry: its exact leaf bytes and its inclusion proof against the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    pub index: u64,
    /// Standard base64 of the leaf bytes.
    pub leaf: String,
    /// Standard base64 of each proof hash, bottom-up.
    pub proof: Vec<String>,
}

/// The lineage answer the bundle proves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum Claim {
    Trace {
        answer: TraceResponse,
    },
    BlastRadius {
        request: Box<DescendantsRequest>,
        answer: DescendantsResponse,
    },
}

impl Bundle {
    /// Parses a bundle file.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let bundle: Bundle = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            BundleError::Malformed(format!("at {path}: {}", e.into_inner()))
        })?;
        de.end()
            .map_err(|e| BundleError::Malformed(format!("after the bundle: {e}")))?;
        if bundle.format != FORMAT {
            return Err(BundleError::Malformed(format!(
                "format is {:?}, expected {FORMAT:?}",
                bundle.format
            )));
        }
        Ok(bundle)
    }

    /// The bundle's JSON form (pretty-printed).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
