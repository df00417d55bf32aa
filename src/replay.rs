//! Replaying log entries offline, in index order: the key registry rebuilt from the key entries
//! (the genesis entry first, every later key action signed by an active admin key) and every
//! envelope's signature checked with the key its signer had registered at that point of the log.
//!
//! Used by evidence bundle verification (over the entries a bundle holds) and by the remote
//! audit (over the whole log, with the log's field and scope rules checked too). It trusts
//! nothing but the entries it is given, in the order given.

use crate::envelope::{EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE, verify as verify_signature};
use crate::note::NoteVerifier;
use crate::proto::{ProvenanceEvent, SignedEvent};
use crate::provenance::rules::{EventLimits, check_fields, check_scope};
use crate::registry::{KeyChange, Registry, decode_action};
use prost::Message;

/// What an entry was.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// A key registration or revocation, now applied.
    Key,
    /// A provenance event, signed by a registered, active key.
    Event(Box<ProvenanceEvent>),
}

/// The registry as the replayed entries built it.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    registry: Registry,
    /// When set, events must also meet the log's field rules and their key's scopes.
    rules: Option<EventLimits>,
}

impl Replay {
    /// Signatures and key actions only.
    pub fn new() -> Self {
        Replay::default()
    }

    /// Also the field rules and key scopes the log enforces before it writes an event.
    pub fn with_rules(limits: EventLimits) -> Self {
        Replay {
            registry: Registry::default(),
            rules: Some(limits),
        }
    }

    /// The registry so far.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Checks the entry at `index` against the keys registered by the entries before it, and
    /// applies it if it is a key action. The error says what is wrong with it.
    pub fn entry(&mut self, index: u64, envelope: &SignedEvent) -> Result<Replayed, String> {
        match envelope.payload_type.as_str() {
            KEY_PAYLOAD_TYPE => {
                let action = decode_action(&envelope.payload).map_err(|e| e.to_string())?;
                let genesis = self.registry.is_empty();
                if genesis && index != 0 {
                    return Err(
                        "the key entries do not start at the genesis entry (index 0)".into(),
                    );
                }
                let change = self
                    .registry
                    .check(&envelope.key_id, &action)
                    .map_err(|e| format!("key action: {e}"))?;
                let signer = match (&change, genesis) {
                    // Genesis: the first admin key signs its own registration.
                    (KeyChange::Register { verifier, .. }, true) => (**verifier).clone(),
                    _ => self.signer(&envelope.key_id)?,
                };
                verify_signature(envelope, &signer).map_err(|e| format!("envelope: {e}"))?;
                self.registry.apply(change, index);
                Ok(Replayed::Key)
            }
            EVENT_PAYLOAD_TYPE => {
                let signer = self.signer(&envelope.key_id)?;
                verify_signature(envelope, &signer).map_err(|e| format!("envelope: {e}"))?;
                let event = ProvenanceEvent::decode(envelope.payload.as_slice())
                    .map_err(|e| format!("event payload: {e}"))?;
                if let Some(limits) = &self.rules {
                    check_fields(&event, limits).map_err(|problems| problems.join("; "))?;
                    let registration = self
                        .registry
                        .active(&envelope.key_id)
                        .map_err(|e| e.to_string())?
                        .registration();
                    check_scope(&event, &envelope.key_id, &registration)?;
                }
                Ok(Replayed::Event(Box::new(event)))
            }
            other => Err(format!("unknown payload type {other:?}")),
        }
    }

    /// The key `name` may sign with now.
    fn signer(&self, name: &str) -> Result<NoteVerifier, String> {
        self.registry
            .active(name)
            .map(|k| k.verifier.clone())
            .map_err(|e| {
                format!(
                    "signer {name:?}: {e} (its registration, and those of the admin keys that \
                     registered it, must come before)"
                )
            })
    }
}
