//! One row of a Data Loader export → one [`ProvenanceEvent`], validated in full before anything
//! is sent. [`row_to_event`] is pure (no I/O, no keys), so it can be tested and fuzzed alone.
//!
//! The mapping (the README's `import-csv` section says the same):
//!
//! | event field | from |
//! |---|---|
//! | `subject` | `RecordRef { system: "salesforce", tenant: --tenant, object_type: --object, record_id: ID }`, ids in their 18-character form |
//! | `action`, `origin`, `digital_source_type` | `IS_SYNTHETIC` true: `GENERATED`, `SYNTHETIC`, `…/trainedAlgorithmicData`; false: `CAPTURED`, `REAL`, `…/digitalCapture` |
//! | `generator` | synthetic rows only: `source` = `__SYNTHETIC_SOURCE`, `model` = `AI_MODEL` (or `--model`), `model_version` = `AI_MODEL_VERSION`, all required |
//! | `occurred_at` | `__GENERATION_TIMESTAMP` (RFC 3339), when not empty |
//! | `content_hash` | `__PROVENANCE_HASH` (hex, at most 64 bytes), when not empty |
//! | `environment` | `--environment` |
//! | `attributes` | the columns named by `--attribute`, keyed by the name as given, when not empty |
//! | `external_id` | `csv:<object>:<18-character id>:<16 hex digits>` (see [`external_id`]) |
//!
//! `IS_SYNTHETIC` accepts true/false, 1/0 and yes/no in any case; anything else (including an
//! empty value) is a bad row. A real row must leave `__SYNTHETIC_SOURCE` and `AI_MODEL_VERSION`
//! empty: a real record that names a generator contradicts itself. Values are read through
//! [`super::reader::unguard`]; ids, flags, timestamps, hashes and generator names are trimmed,
//! attribute values are copied as they are. Other columns (the record's content) are never
//! sent. Finally the event must meet [`rules::check_fields`], the same field rules the log
//! applies, so a row that passes here is refused by the server only for reasons outside the
//! file (the key's role and scopes are checked by [`super::signers`]).

use super::header::{
    AI_MODEL, AI_MODEL_VERSION, GENERATION_TIMESTAMP, Header, ID, IS_SYNTHETIC, PROVENANCE_HASH,
    SYNTHETIC_SOURCE,
};
use super::reader::unguard;
use crate::proto::{Action, Generator, Origin, ProvenanceEvent, RecordRef};
use crate::provenance::record::{SALESFORCE, salesforce_id18};
use crate::provenance::rules::{self, DIGITAL_CAPTURE, EventLimits, TRAINED_ALGORITHMIC_DATA};
use csv::StringRecord;
use std::collections::HashMap;

/// What every row of one import shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The Salesforce org id (15 or 18 characters).
    pub tenant: String,
    /// The object's API name, e.g. `Lead` or `Invoice__c`.
    pub object_type: String,
    /// Where the records live, e.g. `sandbox`.
    pub environment: String,
    /// The generator model's name, for files without an `AI_MODEL` column.
    pub model: Option<String>,
    /// Columns to copy into the event's attributes, by name.
    pub attributes: Vec<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            tenant: String::new(),
            object_type: String::new(),
            environment: "sandbox".into(),
            model: None,
            attributes: Vec::new(),
        }
    }
}

/// A bad option, named as on the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {reason}")]
pub struct OptionsError {
    pub option: &'static str,
    pub reason: String,
}

/// Longest object type name accepted (Salesforce API names are far shorter).
const MAX_OBJECT_TYPE: usize = 255;

impl ImportOptions {
    /// The options checked and normalised: the tenant in its 18-character form, names trimmed.
    pub fn normalised(self) -> Result<ImportOptions, OptionsError> {
        let bad = |option, reason: String| OptionsError { option, reason };
        let tenant = salesforce_id18(self.tenant.trim(), "tenant")
            .map_err(|e| bad("--tenant", e.problem))?;
        let object_type = self.object_type.trim().to_string();
        if object_type.is_empty()
            || object_type.len() > MAX_OBJECT_TYPE
            || !object_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad(
                "--object",
                format!(
                    "{object_type:?} is not an object API name (letters, digits and _, e.g. Lead)"
                ),
            ));
        }
        let limits = EventLimits::default();
        let environment = self.environment.trim().to_string();
        if environment.is_empty() || environment.len() > limits.max_attribute_bytes {
            return Err(bad(
                "--environment",
                format!(
                    "required, at most {} bytes (e.g. sandbox)",
                    limits.max_attribute_bytes
                ),
            ));
        }
        let model = self
            .model
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty());
        if self.attributes.len() > limits.max_attributes {
            return Err(bad(
                "--attribute",
                format!("at most {} attributes", limits.max_attributes),
            ));
        }
        let mut attributes: Vec<String> = Vec::with_capacity(self.attributes.len());
        for name in self.attributes {
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > limits.max_attribute_bytes {
                return Err(bad("--attribute", format!("{name:?} is not a column name")));
            }
            if attributes.iter().any(|a| a.eq_ignore_ascii_case(&name)) {
                return Err(bad("--attribute", format!("{name} is given twice")));
            }
            attributes.push(name);
        }
        Ok(ImportOptions {
            tenant,
            object_type,
            environment,
            model,
            attributes,
        })
    }
}

/// Why one row cannot become an event: its physical line (when the row came from a reader),
/// the column at fault (when one is), and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{reason}", line_prefix(.line), column_prefix(.column))]
pub struct RowError {
    pub line: Option<u64>,
    pub column: Option<String>,
    pub reason: String,
}

fn line_prefix(line: &Option<u64>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

fn column_prefix(column: &Option<String>) -> String {
    column
        .as_ref()
        .map(|c| format!("column {c}: "))
        .unwrap_or_default()
}

/// The row's event, or why it has none. Pure: the same inputs give the same event.
pub fn row_to_event(
    header: &Header,
    row: &StringRecord,
    options: &ImportOptions,
) -> Result<ProvenanceEvent, RowError> {
    let line = row.position().map(|p| p.line());
    let name = |index: usize, fallback: &str| {
        header
            .name(index)
            .map(str::to_string)
            .unwrap_or_else(|| fallback.to_string())
    };
    let err = |index: usize, fallback: &str, reason: String| RowError {
        line,
        column: Some(name(index, fallback)),
        reason,
    };
    let field = |index: usize, fallback: &str| -> Result<&str, RowError> {
        row.get(index).map(unguard).ok_or_else(|| {
            err(
                index,
                fallback,
                format!(
                    "missing: the row has {} values, the header {}",
                    row.len(),
                    header.len()
                ),
            )
        })
    };

    let id = field(header.id, ID)?.trim();
    if id.is_empty() {
        return Err(err(header.id, ID, "required".into()));
    }
    let record_id = salesforce_id18(id, "record_id").map_err(|e| err(header.id, ID, e.problem))?;
    let synthetic = parse_flag(field(header.is_synthetic, IS_SYNTHETIC)?)
        .map_err(|reason| err(header.is_synthetic, IS_SYNTHETIC, reason))?;
    let source = field(header.source, SYNTHETIC_SOURCE)?.trim();
    let model_version = field(header.model_version, AI_MODEL_VERSION)?.trim();
    let model = match header.model {
        Some(i) => Some(field(i, AI_MODEL)?.trim()).filter(|m| !m.is_empty()),
        None => None,
    }
    .or(options.model.as_deref());
    let timestamp = field(header.timestamp, GENERATION_TIMESTAMP)?.trim();
    let occurred_at = if timestamp.is_empty() {
        None
    } else {
        Some(
            parse_rfc3339(timestamp)
                .map_err(|reason| err(header.timestamp, GENERATION_TIMESTAMP, reason))?,
        )
    };
    let hash = field(header.hash, PROVENANCE_HASH)?.trim();
    let limits = EventLimits::default();
    let content_hash = parse_hex(hash, limits.max_content_hash_bytes)
        .map_err(|reason| err(header.hash, PROVENANCE_HASH, reason))?;
    let mut attributes = HashMap::with_capacity(header.attributes.len());
    for (key, index) in &header.attributes {
        let value = field(*index, key)?;
        if value.len() > limits.max_attribute_bytes {
            return Err(err(
                *index,
                key,
                format!(
                    "{} bytes is over the attribute limit of {} bytes",
                    value.len(),
                    limits.max_attribute_bytes
                ),
            ));
        }
        if !value.is_empty() {
            attributes.insert(key.clone(), value.to_string());
        }
    }

    let (action, origin, digital_source_type, generator) = if synthetic {
        for (value, index, column) in [
            (source, header.source, SYNTHETIC_SOURCE),
            (model_version, header.model_version, AI_MODEL_VERSION),
        ] {
            if value.is_empty() {
                return Err(err(index, column, "required for a synthetic row".into()));
            }
        }
        let Some(model) = model else {
            return Err(RowError {
                line,
                column: Some(header.model.map_or(AI_MODEL.to_string(), |i| name(i, AI_MODEL))),
                reason: "a synthetic row needs the generator's model: fill the AI_MODEL column or pass --model".into(),
            });
        };
        let generator = Generator {
            source: source.to_string(),
            model: model.to_string(),
            model_version: model_version.to_string(),
            run_id: String::new(),
        };
        (
            Action::Generated,
            Origin::Synthetic,
            TRAINED_ALGORITHMIC_DATA,
            Some(generator),
        )
    } else {
        for (value, index, column) in [
            (source, header.source, SYNTHETIC_SOURCE),
            (model_version, header.model_version, AI_MODEL_VERSION),
        ] {
            if !value.is_empty() {
                return Err(err(
                    index,
                    column,
                    format!(
                        "{value:?} names a generator, but {} says the record is not synthetic",
                        name(header.is_synthetic, IS_SYNTHETIC)
                    ),
                ));
            }
        }
        (Action::Captured, Origin::Real, DIGITAL_CAPTURE, None)
    };

    let mut event = ProvenanceEvent {
        subject: Some(RecordRef {
            system: SALESFORCE.into(),
            tenant: options.tenant.clone(),
            object_type: options.object_type.clone(),
            record_id,
        }),
        action: action as i32,
        origin: origin as i32,
        parents: Vec::new(),
        environment: options.environment.clone(),
        content_hash,
        occurred_at,
        attributes,
        generator,
        digital_source_type: digital_source_type.into(),
        external_id: String::new(),
        reason: String::new(),
    };
    event.external_id = external_id(&event);
    rules::check_fields(&event, &limits).map_err(|problems| RowError {
        line,
        column: None,
        reason: problems.join("; "),
    })?;
    Ok(event)
}

/// Parses `IS_SYNTHETIC`.
pub fn parse_flag(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{value:?} is not true, false, 1, 0, yes or no")),
    }
}

/// Parses hex digits (either case) into bytes; empty gives no bytes.
pub fn parse_hex(value: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    if let Some((i, c)) = value.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "{c:?} at position {} is not a hex digit (a keyed hash in hex is expected)",
            i + 1
        ));
    }
    if !value.len().is_multiple_of(2) {
        return Err(format!(
            "{} hex digits is an odd number: not whole bytes",
            value.len()
        ));
    }
    if value.len() / 2 > max_bytes {
        return Err(format!(
            "{} bytes is over the limit of {max_bytes} (a keyed hash, never the content)",
            value.len() / 2
        ));
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    Ok(value
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| (digit(pair[0]) << 4) | digit(pair[1]))
        .collect())
}

/// Parses an RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`T` or a space,
/// `T` and `Z` in either case). A date alone, a time without an offset, or an impossible date is
/// refused.
pub fn parse_rfc3339(value: &str) -> Result<crate::timestamp::Timestamp, String> {
    let refuse =
        || format!("{value:?} is not an RFC 3339 date-time (e.g. 2024-05-01T12:34:56.000Z)");
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let shape_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape_ok {
        return Err(refuse());
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err(refuse());
        }
        rest = &fraction[n..];
    }
    let offset_ok = match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    };
    if !offset_ok {
        return Err(refuse());
    }
    crate::timestamp::parse(value).ok_or_else(refuse)
}

/// A deterministic idempotency id for the row's event: `csv:<object>:<record id>:<hex>`, the
/// hex being the first 8 bytes of BLAKE3 (in a context of its own) over every field of the
/// event except `external_id`, each preceded by its length, attributes sorted by key.
///
/// Importing the same file again gives the same ids, so the log answers every row already in it
/// as a duplicate; a row whose provenance changed (a new hash, another environment) is a new
/// event.
pub fn external_id(event: &ProvenanceEvent) -> String {
    fn put(h: &mut blake3::Hasher, bytes: &[u8]) {
        h.update(&(bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    let mut h = blake3::Hasher::new_derive_key("provledger csv import row v1");
    let subject = event.subject.clone().unwrap_or_default();
    for part in [
        &subject.system,
        &subject.tenant,
        &subject.object_type,
        &subject.record_id,
    ] {
        put(&mut h, part.as_bytes());
    }
    put(&mut h, &event.action.to_be_bytes());
    put(&mut h, &event.origin.to_be_bytes());
    put(&mut h, &(event.parents.len() as u64).to_be_bytes());
    put(&mut h, event.environment.as_bytes());
    put(&mut h, &event.content_hash);
    match &event.occurred_at {
        Some(t) => {
            put(&mut h, b"at");
            put(&mut h, &t.seconds.to_be_bytes());
            put(&mut h, &t.nanos.to_be_bytes());
        }
        None => put(&mut h, b"no time"),
    }
    let mut attributes: Vec<(&String, &String)> = event.attributes.iter().collect();
    attributes.sort();
    put(&mut h, &(attributes.len() as u64).to_be_bytes());
    for (k, v) in attributes {
        put(&mut h, k.as_bytes());
        put(&mut h, v.as_bytes());
    }
    match &event.generator {
        Some(g) => {
            put(&mut h, b"generator");
            for part in [&g.source, &g.model, &g.model_version, &g.run_id] {
                put(&mut h, part.as_bytes());
            }
        }
        None => put(&mut h, b"no generator"),
    }
    put(&mut h, event.digital_source_type.as_bytes());
    put(&mut h, event.reason.as_bytes());
    let digest = h.finalize();
    let hex: String = digest.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("csv:{}:{}:{hex}", subject.object_type, subject.record_id)
}

#[cfg(test)]
mod tests;
