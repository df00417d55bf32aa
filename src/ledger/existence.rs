//! The rules that need the log: DERIVED and SYNCED parents, and the subjects of QUARANTINED and
//! PURGED, must be records the log already holds an event about; a parent pinned to an entry
//! must name an entry that is an event about that record. Violations are INVALID_ARGUMENT
//! naming the field. Records are looked up in the lineage indexes; when one is not found while
//! the indexer is behind the log, the caller waits for the indexer and asks again
//! ([`Unresolved`]), so an acknowledged parent is always found.

use super::admission::{AdmittedEvent, Payload};
use super::error::{AppendError, Refusal};
use crate::lineage::{Lineage, LineageError, decode_event};
use crate::proto::{Action, RecordRef};
use crate::provenance::record::{normalise, record_key};
use crate::store::LogStore;

/// Records not found in the indexes while they were behind the log at `size`.
pub(crate) struct Unresolved {
    pub size: u64,
}

/// Checks `payload` against the log as indexed now. `Ok(Some(_))` means "wait for the indexer
/// to reach `size`, then check again"; after that wait, call with `final_check` set.
pub(crate) fn check(
    payload: &Payload,
    store: &LogStore,
    lineage: &Lineage,
    final_check: bool,
) -> Result<Option<Unresolved>, AppendError> {
    let Payload::Event(admitted) = payload else {
        return Ok(None);
    };
    let size = store.size();
    let mut missing = Vec::new();
    for (path, record, pin) in requirements(admitted) {
        match pin {
            Some(pin) => check_pin(store, &path, &record, pin, size)?,
            None => {
                if !lineage
                    .has_record(&record_key(&record), size)
                    .map_err(unavailable)?
                {
                    missing.push((path, record));
                }
            }
        }
    }
    if missing.is_empty() {
        return Ok(None);
    }
    if !final_check && lineage.indexed() < size {
        return Ok(Some(Unresolved { size }));
    }
    Err(AppendError::invalid(
        missing
            .iter()
            .map(|(path, r)| {
                format!(
                    "{path}: no event about {}/{}/{}/{} in the log",
                    r.system, r.tenant, r.object_type, r.record_id
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

/// (field path, normalised record, pinned index) of every record the event needs to exist.
fn requirements(admitted: &AdmittedEvent) -> Vec<(String, RecordRef, Option<u64>)> {
    let mut out = Vec::new();
    match admitted.event.action() {
        Action::Derived | Action::Synced => {
            for (i, (record, pin)) in admitted.checked.parents.iter().enumerate() {
                out.push((
                    format!("event.payload.parents[{i}].record"),
                    record.clone(),
                    *pin,
                ));
            }
        }
        Action::Quarantined | Action::Purged => {
            out.push((
                "event.payload.subject".into(),
                admitted.checked.subject.clone(),
                None,
            ));
        }
        _ => {}
    }
    out
}

fn check_pin(
    store: &LogStore,
    path: &str,
    record: &RecordRef,
    pin: u64,
    size: u64,
) -> Result<(), AppendError> {
    let field = path.replace(".record", ".leaf_index");
    if pin >= size {
        return Err(AppendError::invalid(format!(
            "{field}: {pin} is beyond the log's size {size}"
        )));
    }
    let leaf = store.leaves(pin, 1)?;
    let about = leaf
        .first()
        .and_then(|l| decode_event(l))
        .and_then(|(_, e)| e.subject)
        .and_then(|s| normalise(&s).ok());
    if about.as_ref().map(record_key) != Some(record_key(record)) {
        return Err(AppendError::invalid(format!(
            "{field}: entry {pin} is not an event about this record"
        )));
    }
    Ok(())
}

pub(crate) fn unavailable(e: LineageError) -> AppendError {
    AppendError::new(Refusal::Unavailable, format!("lineage index: {e}"))
}
