//! The rules a provenance event must meet before anything is written: required fields per
//! action ([`check_fields`], INVALID_ARGUMENT naming every missing or bad field) and what the
//! signing key's role and scopes allow ([`check_scope`], PERMISSION_DENIED). Checks that need
//! the log (parents and subjects that must exist) live with the ledger; this module does no I/O.

use super::record::{RecordError, normalise};
use crate::proto::{Action, KeyRegistration, Origin, ProvenanceEvent, RecordRef, Role};

/// AI-generated rows (C2PA).
pub const TRAINED_ALGORITHMIC_DATA: &str =
    "http://c2pa.org/digitalsourcetype/trainedAlgorithmicData";
/// Rule-based fakers (IPTC).
pub const ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia";
/// Mixtures of synthetic and other content (IPTC).
pub const COMPOSITE_SYNTHETIC: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic";
/// Real-world capture (IPTC).
pub const DIGITAL_CAPTURE: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture";

/// Digital source types that declare synthetic content (C2PA / IPTC vocabulary).
pub const SYNTHETIC_SOURCE_TYPES: &[&str] = &[
    TRAINED_ALGORITHMIC_DATA,
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    ALGORITHMIC_MEDIA,
    COMPOSITE_SYNTHETIC,
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
];

/// Digital source types that declare real-world capture.
pub const REAL_SOURCE_TYPES: &[&str] = &[
    DIGITAL_CAPTURE,
    "http://cv.iptc.org/newscodes/digitalsourcetype/negativeFilm",
    "http://cv.iptc.org/newscodes/digitalsourcetype/positiveFilm",
    "http://cv.iptc.org/newscodes/digitalsourcetype/print",
    "http://cv.iptc.org/newscodes/digitalsourcetype/humanEdits",
];

/// Bounds on one event's contents.
#[derive(Debug, Clone)]
pub struct EventLimits {
    pub max_parents: usize,
    pub max_attributes: usize,
    /// Largest attribute key or value, in bytes.
    pub max_attribute_bytes: usize,
    pub max_content_hash_bytes: usize,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            max_parents: 64,
            max_attributes: 64,
            max_attribute_bytes: 1024,
            max_content_hash_bytes: 64,
        }
    }
}

/// An event that met the field rules, with its records normalised.
#[derive(Debug, Clone)]
pub struct CheckedEvent {
    pub subject: RecordRef,
    /// Each parent, normalised, with its pinned index.
    pub parents: Vec<(RecordRef, Option<u64>)>,
}

const P: &str = "event.payload";

/// Every field violation of `event`, joined; or its normalised records.
pub fn check_fields(
    event: &ProvenanceEvent,
    limits: &EventLimits,
) -> Result<CheckedEvent, Vec<String>> {
    let mut bad = Vec::new();
    let subject = match &event.subject {
        None => {
            bad.push(format!("{P}.subject: required"));
            None
        }
        Some(s) => normalise(s)
            .map_err(|e| bad.push(record_problem("subject", &e)))
            .ok(),
    };
    let action = match Action::try_from(event.action) {
        Ok(Action::Unspecified) => {
            bad.push(format!(
                "{P}.action: required (GENERATED, CAPTURED, DERIVED, SYNCED, UPDATED, QUARANTINED, PURGED or ATTESTED)"
            ));
            Action::Unspecified
        }
        Ok(a) => a,
        Err(_) => {
            bad.push(format!("{P}.action: unknown value {}", event.action));
            Action::Unspecified
        }
    };
    let origin = Origin::try_from(event.origin).unwrap_or_else(|_| {
        bad.push(format!("{P}.origin: unknown value {}", event.origin));
        Origin::Unspecified
    });
    if event.environment.trim().is_empty() {
        bad.push(format!(
            "{P}.environment: required (e.g. sandbox, staging, production)"
        ));
    }
    if event.parents.len() > limits.max_parents {
        bad.push(format!(
            "{P}.parents: {} parents is over the limit of {}",
            event.parents.len(),
            limits.max_parents
        ));
    }
    let mut parents = Vec::with_capacity(event.parents.len());
    for (i, parent) in event.parents.iter().take(limits.max_parents).enumerate() {
        match &parent.record {
            None => bad.push(format!("{P}.parents[{i}].record: required")),
            Some(r) => match normalise(r) {
                Ok(r) => parents.push((r, parent.leaf_index)),
                Err(e) => bad.push(record_problem(&format!("parents[{i}].record"), &e)),
            },
        }
    }
    check_action_fields(event, action, origin, &mut bad);
    check_bounds(event, limits, &mut bad);
    match (bad.is_empty(), subject) {
        (true, Some(subject)) => Ok(CheckedEvent { subject, parents }),
        _ => Err(bad),
    }
}

fn record_problem(path: &str, e: &RecordError) -> String {
    format!("{P}.{path}.{}: {}", e.field, e.problem)
}

fn check_action_fields(
    event: &ProvenanceEvent,
    action: Action,
    origin: Origin,
    bad: &mut Vec<String>,
) {
    let declares = matches!(
        action,
        Action::Generated | Action::Captured | Action::Attested
    );
    match action {
        Action::Generated if origin != Origin::Synthetic => {
            bad.push(format!("{P}.origin: GENERATED needs origin SYNTHETIC"))
        }
        Action::Captured if origin != Origin::Real => {
            bad.push(format!("{P}.origin: CAPTURED needs origin REAL"))
        }
        Action::Attested if origin == Origin::Unspecified => bad.push(format!(
            "{P}.origin: ATTESTED needs the reviewer's classification (SYNTHETIC or REAL)"
        )),
        a if !declares && a != Action::Unspecified && origin != Origin::Unspecified => {
            bad.push(format!(
                "{P}.origin: must be unspecified for {}: it is computed from lineage",
                a.as_str_name()
            ))
        }
        _ => {}
    }
    match action {
        Action::Generated | Action::Captured if !event.parents.is_empty() => bad.push(format!(
            "{P}.parents: must be empty for {} (an origin event); use DERIVED for records made from others",
            action.as_str_name()
        )),
        Action::Derived if event.parents.is_empty() => {
            bad.push(format!("{P}.parents: DERIVED needs at least one parent"))
        }
        Action::Synced if event.parents.len() != 1 => bad.push(format!(
            "{P}.parents: SYNCED needs exactly one parent (the record copied), got {}",
            event.parents.len()
        )),
        Action::Updated | Action::Quarantined | Action::Purged | Action::Attested
            if !event.parents.is_empty() =>
        {
            bad.push(format!(
                "{P}.parents: must be empty for {}",
                action.as_str_name()
            ))
        }
        _ => {}
    }
    if action == Action::Generated {
        let g = event.generator.clone().unwrap_or_default();
        for (name, value) in [
            ("source", &g.source),
            ("model", &g.model),
            ("model_version", &g.model_version),
        ] {
            if value.trim().is_empty() {
                bad.push(format!("{P}.generator.{name}: required for GENERATED"));
            }
        }
    }
    check_source_type(&event.digital_source_type, action, bad);
    if matches!(action, Action::Quarantined | Action::Purged) && event.reason.trim().is_empty() {
        bad.push(format!("{P}.reason: required for {}", action.as_str_name()));
    }
}

fn check_source_type(dst: &str, action: Action, bad: &mut Vec<String>) {
    let field = format!("{P}.digital_source_type");
    let synthetic = SYNTHETIC_SOURCE_TYPES.contains(&dst);
    let real = REAL_SOURCE_TYPES.contains(&dst);
    if !dst.is_empty() && !synthetic && !real {
        bad.push(format!(
            "{field}: {dst:?} is not in the C2PA/IPTC digital source type vocabulary"
        ));
        return;
    }
    match action {
        Action::Generated if !synthetic => bad.push(format!(
            "{field}: GENERATED needs a synthetic type, e.g. {}",
            SYNTHETIC_SOURCE_TYPES[0]
        )),
        Action::Captured if !real => bad.push(format!(
            "{field}: CAPTURED needs a real-world type, e.g. {}",
            REAL_SOURCE_TYPES[0]
        )),
        _ => {}
    }
}

fn check_bounds(event: &ProvenanceEvent, limits: &EventLimits, bad: &mut Vec<String>) {
    if event.content_hash.len() > limits.max_content_hash_bytes {
        bad.push(format!(
            "{P}.content_hash: {} bytes is over {} (a keyed hash, never the content)",
            event.content_hash.len(),
            limits.max_content_hash_bytes
        ));
    }
    if event.attributes.len() > limits.max_attributes {
        bad.push(format!(
            "{P}.attributes: {} attributes is over the limit of {}",
            event.attributes.len(),
            limits.max_attributes
        ));
    }
    let mut long: Vec<&String> = event
        .attributes
        .iter()
        .filter(|(k, v)| {
            k.len() > limits.max_attribute_bytes || v.len() > limits.max_attribute_bytes
        })
        .map(|(k, _)| k)
        .collect();
    long.sort();
    if let Some(k) = long.first() {
        bad.push(format!(
            "{P}.attributes[{:?}]: keys and values are limited to {} bytes",
            truncate(k, 64),
            limits.max_attribute_bytes
        ));
    }
    for (name, value) in [
        ("external_id", &event.external_id),
        ("environment", &event.environment),
        ("reason", &event.reason),
    ] {
        if value.len() > limits.max_attribute_bytes {
            bad.push(format!(
                "{P}.{name}: limited to {} bytes",
                limits.max_attribute_bytes
            ));
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What the signing key may do: the action its role allows, the origin and environment its
/// scopes allow. Returns the reason for PERMISSION_DENIED.
pub fn check_scope(
    event: &ProvenanceEvent,
    key_name: &str,
    registration: &KeyRegistration,
) -> Result<(), String> {
    let role = registration.role();
    let action = event.action();
    let allowed = match action {
        Action::Generated => role == Role::Generator,
        Action::Captured => role == Role::SyncJob,
        Action::Derived | Action::Synced | Action::Updated => {
            matches!(role, Role::Generator | Role::SyncJob)
        }
        Action::Quarantined | Action::Purged => matches!(role, Role::SyncJob | Role::Reviewer),
        Action::Attested => role == Role::Reviewer,
        Action::Unspecified => false,
    };
    if !allowed {
        return Err(format!(
            "event.key_id: key {key_name:?} has role {}, which may not sign {} events",
            role.as_str_name(),
            action.as_str_name()
        ));
    }
    let origin = event.origin();
    if origin == Origin::Real && role == Role::Generator {
        return Err(format!(
            "event.payload.origin: key {key_name:?} is a GENERATOR key and may not declare REAL"
        ));
    }
    let origins = registration.allowed_origins();
    let mut origins = origins.peekable();
    if origin != Origin::Unspecified && origins.peek().is_some() && !origins.any(|o| o == origin) {
        return Err(format!(
            "event.payload.origin: key {key_name:?} may not declare {}",
            origin.as_str_name()
        ));
    }
    let envs = &registration.allowed_environments;
    if !envs.is_empty() && !envs.iter().any(|e| e.trim() == event.environment.trim()) {
        return Err(format!(
            "event.payload.environment: key {key_name:?} may write to {} only, not {:?}",
            envs.join(", "),
            event.environment
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
