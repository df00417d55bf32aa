//! The keys an import signs with, checked against the log's key registry before the first row,
//! and the choice of key for each row.
//!
//! The log lets a `generator` key sign `GENERATED` events and a `sync_job` key `CAPTURED`
//! events, each within its registered origins and environments. An import may therefore carry
//! several keys (a generator key for the synthetic rows, a sync-job key for the real ones);
//! each row is signed by the first key, in the order given, whose registration allows its
//! event ([`rules::check_scope`], the check the log makes). A row no key may sign is a bad row,
//! found before it is sent. The choice depends only on the event and the keys, so a rerun signs
//! every row with the same key and the log's per-key idempotency holds.

use crate::envelope::{EVENT_PAYLOAD_TYPE, sign};
use crate::note::{NoteSigner, NoteVerifier};
use crate::proto::{KeyRecord, KeyRegistration, ProvenanceEvent, SignedEvent};
use crate::provenance::rules;
use prost::Message;

/// Why a key cannot be used for an import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "--key: key {name:?} is not registered in the log (ask an admin to register its vkey {vkey})"
    )]
    NotRegistered { name: String, vkey: String },
    #[error("--key: key {name:?} was revoked at log index {at}")]
    Revoked { name: String, at: u64 },
    #[error("--key: the log registers another public key under the name {name:?} ({registered})")]
    Mismatch { name: String, registered: String },
    #[error("--key: key {name:?} is given twice")]
    Twice { name: String },
    #[error("--key: at least one key is needed")]
    None,
}

/// The import's keys with their registrations.
#[derive(Debug, Clone)]
pub struct Signers {
    keys: Vec<(NoteSigner, KeyRegistration)>,
}

impl Signers {
    /// Matches each key with its registration in `registry` (the log's `ListKeys` answer): it
    /// must be registered under its name with the same public key, and not revoked.
    pub fn new(keys: Vec<NoteSigner>, registry: &[KeyRecord]) -> Result<Signers, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::None);
        }
        let mut out: Vec<(NoteSigner, KeyRegistration)> = Vec::with_capacity(keys.len());
        for key in keys {
            let name = key.id().name.clone();
            if out.iter().any(|(k, _)| k.id().name == name) {
                return Err(KeyError::Twice { name });
            }
            let vkey = key.verifier().to_vkey();
            let record = registry.iter().find(|r| {
                r.registration.as_ref().is_some_and(|reg| {
                    NoteVerifier::from_vkey(&reg.vkey).is_ok_and(|v| v.id().name == name)
                })
            });
            let Some(record) = record else {
                return Err(KeyError::NotRegistered { name, vkey });
            };
            let registration = record.registration.clone().unwrap_or_default();
            if registration.vkey != vkey {
                return Err(KeyError::Mismatch {
                    name,
                    registered: registration.vkey,
                });
            }
            if record.revoked {
                return Err(KeyError::Revoked {
                    name,
                    at: record.revoked_at,
                });
            }
            out.push((key, registration));
        }
        Ok(Signers { keys: out })
    }

    /// The first key allowed to sign `event`, or every key's reason for refusing it.
    pub fn choose(&self, event: &ProvenanceEvent) -> Result<&NoteSigner, String> {
        let mut reasons = Vec::with_capacity(self.keys.len());
        for (key, registration) in &self.keys {
            match rules::check_scope(event, &key.id().name, registration) {
                Ok(()) => return Ok(key),
                Err(reason) => reasons.push(reason),
            }
        }
        Err(reasons.join("; "))
    }

    /// `event` signed by the key [`Signers::choose`] picks.
    pub fn sign(&self, event: &ProvenanceEvent) -> Result<SignedEvent, String> {
        let key = self.choose(event)?;
        Ok(sign(key, EVENT_PAYLOAD_TYPE, event.encode_to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Action, Origin, Role};

    fn registered(key: &NoteSigner, role: Role, environments: &[&str]) -> KeyRecord {
        KeyRecord {
            registration: Some(KeyRegistration {
                vkey: key.verifier().to_vkey(),
                role: role as i32,
                allowed_environments: environments.iter().map(|e| e.to_string()).collect(),
                ..Default::default()
            }),
            registered_at: 1,
            revoked: false,
            revoked_at: 0,
        }
    }

    fn event(action: Action, origin: Origin) -> ProvenanceEvent {
        ProvenanceEvent {
            action: action as i32,
            origin: origin as i32,
            environment: "sandbox".into(),
            ..Default::default()
        }
    }

    #[test]
    fn each_row_goes_to_the_key_whose_role_allows_it() {
        let generator = NoteSigner::generate("gen.test/a").unwrap();
        let sync = NoteSigner::generate("sync.test/a").unwrap();
        let registry = vec![
            registered(&generator, Role::Generator, &["sandbox"]),
            registered(&sync, Role::SyncJob, &[]),
        ];
        let signers = Signers::new(vec![generator, sync], &registry).unwrap();
        let synthetic = event(Action::Generated, Origin::Synthetic);
        let real = event(Action::Captured, Origin::Real);
        assert_eq!(signers.choose(&synthetic).unwrap().id().name, "gen.test/a");
        assert_eq!(signers.choose(&real).unwrap().id().name, "sync.test/a");
        let signed = signers.sign(&real).unwrap();
        assert_eq!(signed.key_id, "sync.test/a");

        let mut production = synthetic.clone();
        production.environment = "production".into();
        let reasons = signers.choose(&production).unwrap_err();
        assert!(reasons.contains("may write to sandbox only"), "{reasons}");
        assert!(reasons.contains("may not sign GENERATED"), "{reasons}");
    }

    #[test]
    fn keys_must_be_registered_active_and_the_same() {
        let key = NoteSigner::generate("gen.test/b").unwrap();
        assert!(matches!(
            Signers::new(vec![key.clone()], &[]),
            Err(KeyError::NotRegistered { .. })
        ));
        let impostor = NoteSigner::generate("gen.test/b").unwrap();
        let registry = vec![registered(&impostor, Role::Generator, &[])];
        assert!(matches!(
            Signers::new(vec![key.clone()], &registry),
            Err(KeyError::Mismatch { .. })
        ));
        let mut revoked = registered(&key, Role::Generator, &[]);
        revoked.revoked = true;
        revoked.revoked_at = 9;
        assert_eq!(
            Signers::new(vec![key.clone()], &[revoked]).unwrap_err(),
            KeyError::Revoked {
                name: "gen.test/b".into(),
                at: 9
            }
        );
        let registry = vec![registered(&key, Role::Generator, &[])];
        assert!(matches!(
            Signers::new(vec![key.clone(), key], &registry),
            Err(KeyError::Twice { .. })
        ));
        assert_eq!(Signers::new(vec![], &registry).unwrap_err(), KeyError::None);
    }
}
