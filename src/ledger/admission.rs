//! Admission: everything checked about an append before it reaches the sequencer — envelope
//! shape, size, signer, strict signature, payload decoding and field rules. It runs on the
//! caller's task, so signature checks spread across cores; the sequencer only re-checks what
//! can change while a request waits (the signer's registration, duplicates).

use super::error::{AppendError, Refusal};
use crate::envelope::{self, EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE};
use crate::proto::{Action, KeyAction, ProvenanceEvent, RecordRef, SignedEvent};
use crate::registry::{Registry, decode_action};
use prost::Message;

/// Bounds on what one append may carry.
#[derive(Debug, Clone)]
pub struct AdmissionLimits {
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_payload_bytes: 256 * 1024,
        }
    }
}

/// What the payload is, once decoded.
#[derive(Debug, Clone)]
pub enum Payload {
    Event(Box<ProvenanceEvent>),
    Key(KeyAction),
}

/// An envelope whose signature verified and whose payload decoded and passed the field rules.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub envelope: SignedEvent,
    pub payload: Payload,
    /// [`envelope::envelope_id`] of the envelope.
    pub id: [u8; 32],
}

/// Checks an envelope against the registry as it is now.
pub fn admit(
    envelope: Option<SignedEvent>,
    registry: &Registry,
    limits: &AdmissionLimits,
) -> Result<Admitted, AppendError> {
    let envelope = envelope.ok_or_else(|| AppendError::invalid("event: required"))?;
    if envelope.payload_type.is_empty() {
        return Err(AppendError::invalid("event.payload_type: required"));
    }
    if envelope.payload_type != EVENT_PAYLOAD_TYPE && envelope.payload_type != KEY_PAYLOAD_TYPE {
        return Err(AppendError::invalid(format!(
            "event.payload_type: unknown payload type {:?} (accepted: {EVENT_PAYLOAD_TYPE}, {KEY_PAYLOAD_TYPE})",
            envelope.payload_type
        )));
    }
    if envelope.payload.is_empty() {
        return Err(AppendError::invalid("event.payload: required"));
    }
    if envelope.payload.len() > limits.max_payload_bytes {
        return Err(AppendError::new(
            Refusal::ResourceExhausted,
            format!(
                "event.payload: {} bytes is over the limit of {} bytes",
                envelope.payload.len(),
                limits.max_payload_bytes
            ),
        ));
    }
    if envelope.key_id.is_empty() {
        return Err(AppendError::invalid("event.key_id: required"));
    }
    if envelope.signature.len() != 64 {
        return Err(AppendError::invalid(format!(
            "event.signature: must be 64 bytes (Ed25519), got {}",
            envelope.signature.len()
        )));
    }
    let genesis = registry.is_empty();
    let payload = if genesis {
        // Before the genesis entry no key is known: the first admin's registration carries the
        // key that verifies it, and `Registry::check` insists it is self-signed.
        genesis_payload(&envelope)?
    } else {
        let signer = registry.active(&envelope.key_id)?;
        envelope::verify(&envelope, &signer.verifier).map_err(|e| {
            AppendError::new(Refusal::Unauthenticated, format!("event.signature: {e}"))
        })?;
        decode_payload(&envelope)?
    };
    if let Payload::Key(action) = &payload {
        registry.check(&envelope.key_id, action)?;
    }
    let id = envelope::envelope_id(&envelope);
    Ok(Admitted {
        envelope,
        payload,
        id,
    })
}

fn genesis_payload(envelope: &SignedEvent) -> Result<Payload, AppendError> {
    if envelope.payload_type != KEY_PAYLOAD_TYPE {
        return Err(AppendError::new(
            Refusal::FailedPrecondition,
            "event.payload_type: the log has no keys yet; its first entry must register an admin key",
        ));
    }
    let action = decode_action(&envelope.payload)?;
    if let Some(crate::proto::key_action::Action::Register(r)) = &action.action {
        let verifier = crate::note::NoteVerifier::from_vkey(&r.vkey)
            .map_err(|e| AppendError::invalid(format!("event.payload.register.vkey: {e}")))?;
        envelope::verify(envelope, &verifier).map_err(|e| {
            AppendError::new(Refusal::Unauthenticated, format!("event.signature: {e}"))
        })?;
    }
    Ok(Payload::Key(action))
}

fn decode_payload(envelope: &SignedEvent) -> Result<Payload, AppendError> {
    if envelope.payload_type == KEY_PAYLOAD_TYPE {
        return Ok(Payload::Key(decode_action(&envelope.payload)?));
    }
    let event = ProvenanceEvent::decode(envelope.payload.as_slice()).map_err(|e| {
        AppendError::invalid(format!("event.payload: not a valid ProvenanceEvent: {e}"))
    })?;
    check_event(&event)?;
    Ok(Payload::Event(Box::new(event)))
}

/// The field rules every provenance event must meet.
fn check_event(event: &ProvenanceEvent) -> Result<(), AppendError> {
    let subject = event
        .subject
        .as_ref()
        .ok_or_else(|| AppendError::invalid("event.payload.subject: required"))?;
    check_record(subject, "event.payload.subject")?;
    if event.action() == Action::Unspecified {
        return Err(AppendError::invalid(
            "event.payload.action: required (GENERATED, CAPTURED, DERIVED, SYNCED, UPDATED, QUARANTINED, PURGED or ATTESTED)",
        ));
    }
    if Action::try_from(event.action).is_err() {
        return Err(AppendError::invalid(format!(
            "event.payload.action: unknown value {}",
            event.action
        )));
    }
    if crate::proto::Origin::try_from(event.origin).is_err() {
        return Err(AppendError::invalid(format!(
            "event.payload.origin: unknown value {}",
            event.origin
        )));
    }
    for (i, parent) in event.parents.iter().enumerate() {
        check_record(parent, &format!("event.payload.parents[{i}]"))?;
    }
    Ok(())
}

fn check_record(record: &RecordRef, path: &str) -> Result<(), AppendError> {
    for (name, value) in [
        ("system", &record.system),
        ("object_type", &record.object_type),
        ("record_id", &record.record_id),
    ] {
        if value.trim().is_empty() {
            return Err(AppendError::invalid(format!("{path}.{name}: required")));
        }
    }
    Ok(())
}
