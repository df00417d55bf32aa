//! Admission: everything checked about an append before it reaches the sequencer — envelope
//! shape, size, signer, strict signature, payload decoding and field rules. It runs on the
//! caller's task, so signature checks spread across cores; the sequencer only re-checks what
//! can change while a request waits (the signer's registration, duplicates). Provenance events
//! must also meet [`crate::provenance::rules`]: the field rules of their action
//! (INVALID_ARGUMENT) and the scopes of their signing key (PERMISSION_DENIED).

use super::error::{AppendError, Refusal};
use crate::envelope::{self, EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE};
use crate::proto::{KeyAction, ProvenanceEvent, SignedEvent};
use crate::provenance::rules::{self, CheckedEvent, EventLimits};
use crate::registry::{Registry, decode_action};
use prost::Message;

/// Bounds on what one append may carry.
#[derive(Debug, Clone)]
pub struct AdmissionLimits {
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Bounds on a provenance event's contents.
    pub event: EventLimits,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_payload_bytes: 256 * 1024,
            event: EventLimits::default(),
        }
    }
}

/// What the payload is, once decoded.
#[derive(Debug, Clone)]
pub enum Payload {
    Event(Box<AdmittedEvent>),
    Key(KeyAction),
}

/// A provenance event that met the rules, with its records normalised.
#[derive(Debug, Clone)]
pub struct AdmittedEvent {
    pub event: ProvenanceEvent,
    pub checked: CheckedEvent,
    /// [`external_key`] of the signer and the event's `external_id`, when it has one.
    pub external: Option<[u8; 32]>,
}

/// The key a signer's external idempotency id is indexed under: BLAKE3 in its own context over
/// the key name and the id, each preceded by its length.
pub fn external_key(key_id: &str, external_id: &str) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("provledger external id v1");
    for part in [key_id, external_id] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    *h.finalize().as_bytes()
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
        let payload = decode_payload(&envelope, &limits.event)?;
        if let Payload::Event(admitted) = &payload {
            rules::check_scope(&admitted.event, &envelope.key_id, &signer.registration())
                .map_err(|reason| AppendError::new(Refusal::PermissionDenied, reason))?;
        }
        payload
    };
    // Key actions are checked against the registry by the sequencer only, after its duplicate
    // check: a resent registration is answered with its entry, not refused as "already
    // registered", and the check sees the registry as it is when the entry is sequenced.
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

fn decode_payload(envelope: &SignedEvent, limits: &EventLimits) -> Result<Payload, AppendError> {
    if envelope.payload_type == KEY_PAYLOAD_TYPE {
        return Ok(Payload::Key(decode_action(&envelope.payload)?));
    }
    let event = ProvenanceEvent::decode(envelope.payload.as_slice()).map_err(|e| {
        AppendError::invalid(format!("event.payload: not a valid ProvenanceEvent: {e}"))
    })?;
    let checked = rules::check_fields(&event, limits)
        .map_err(|problems| AppendError::invalid(problems.join("; ")))?;
    let external =
        (!event.external_id.is_empty()).then(|| external_key(&envelope.key_id, &event.external_id));
    Ok(Payload::Event(Box::new(AdmittedEvent {
        event,
        checked,
        external,
    })))
}
