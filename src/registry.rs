//! The key registry: which keys may sign what, as recorded by key entries in the log itself.
//!
//! Keys are registered and revoked by log entries of payload type
//! [`KEY_PAYLOAD_TYPE`](crate::envelope::KEY_PAYLOAD_TYPE), signed by an admin key, so the
//! registry at any index is provable from the log. Entry 0 is the genesis: the first admin key
//! registering itself. This module holds the registry in memory, checks key actions against it,
//! and encodes its records for the store's index; it does no I/O and no signature checks.

use crate::note::NoteVerifier;
use crate::proto::{KeyAction, KeyRecord, KeyRegistration, Role, key_action};
use prost::Message;
use std::collections::BTreeMap;

/// Why a key or a key action is refused. Each variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("event.key_id: unknown key {0:?}")]
    UnknownKey(String),
    #[error("event.key_id: key {name:?} was revoked at log index {at}")]
    Revoked { name: String, at: u64 },
    #[error("event.key_id: key {name:?} has role {role}, but key actions need an admin key")]
    NotAdmin { name: String, role: String },
    #[error("event.payload.{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("event.payload.register.vkey: a key named {0:?} is already registered")]
    AlreadyRegistered(String),
    #[error("event.payload.revoke.key_name: key {0:?} is already revoked")]
    AlreadyRevoked(String),
    #[error("event.payload.revoke.key_name: unknown key {0:?}")]
    RevokeUnknown(String),
}

/// A registered key: its verifier and its record.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub verifier: NoteVerifier,
    pub record: KeyRecord,
}

impl KeyEntry {
    /// The key's role.
    pub fn role(&self) -> Role {
        self.record
            .registration
            .as_ref()
            .map(|r| r.role())
            .unwrap_or(Role::Unspecified)
    }

    /// The registration.
    pub fn registration(&self) -> KeyRegistration {
        self.record.registration.clone().unwrap_or_default()
    }
}

/// A validated change to the registry, ready to apply at a log index.
#[derive(Debug, Clone)]
pub enum KeyChange {
    Register {
        verifier: Box<NoteVerifier>,
        registration: KeyRegistration,
    },
    Revoke {
        name: String,
    },
}

/// Every key the log has registered, by name.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    keys: BTreeMap<String, KeyEntry>,
}

impl Registry {
    /// True before the genesis entry.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every key, by name.
    pub fn keys(&self) -> impl Iterator<Item = &KeyEntry> {
        self.keys.values()
    }

    /// A key that may sign now: registered and not revoked.
    pub fn active(&self, name: &str) -> Result<&KeyEntry, RegistryError> {
        let entry = self
            .keys
            .get(name)
            .ok_or_else(|| RegistryError::UnknownKey(name.to_string()))?;
        if entry.record.revoked {
            return Err(RegistryError::Revoked {
                name: name.to_string(),
                at: entry.record.revoked_at,
            });
        }
        Ok(entry)
    }

    /// Checks a key action signed by `signer` against the registry as it is now.
    pub fn check(&self, signer: &str, action: &KeyAction) -> Result<KeyChange, RegistryError> {
        let change = parse_action(action)?;
        if let KeyChange::Register {
            verifier,
            registration,
        } = &change
            && self.is_empty()
        {
            // Genesis: the first admin registers itself.
            if registration.role() != Role::Admin || verifier.id().name != signer {
                return Err(RegistryError::Invalid {
                    field: "register",
                    reason: "the first entry must register an admin key, signed by itself".into(),
                });
            }
            return Ok(change);
        }
        let entry = self.active(signer)?;
        if entry.role() != Role::Admin {
            return Err(RegistryError::NotAdmin {
                name: signer.to_string(),
                role: entry.role().as_str_name().to_string(),
            });
        }
        match &change {
            KeyChange::Register { verifier, .. } => {
                if self.keys.contains_key(&verifier.id().name) {
                    return Err(RegistryError::AlreadyRegistered(verifier.id().name.clone()));
                }
            }
            KeyChange::Revoke { name } => match self.keys.get(name) {
                None => return Err(RegistryError::RevokeUnknown(name.clone())),
                Some(e) if e.record.revoked => {
                    return Err(RegistryError::AlreadyRevoked(name.clone()));
                }
                Some(_) => {}
            },
        }
        Ok(change)
    }

    /// Applies a checked change made by the entry at `index`; returns the changed record
    /// (`None` only for a revocation of a key that is not registered, which `check` refuses).
    pub fn apply(&mut self, change: KeyChange, index: u64) -> Option<&KeyEntry> {
        match change {
            KeyChange::Register {
                verifier,
                registration,
            } => {
                let name = verifier.id().name.clone();
                let record = KeyRecord {
                    registration: Some(registration),
                    registered_at: index,
                    revoked: false,
                    revoked_at: 0,
                };
                Some(
                    self.keys
                        .entry(name)
                        .insert_entry(KeyEntry {
                            verifier: *verifier,
                            record,
                        })
                        .into_mut(),
                )
            }
            KeyChange::Revoke { name } => {
                let entry = self.keys.get_mut(&name)?;
                entry.record.revoked = true;
                entry.record.revoked_at = index;
                Some(entry)
            }
        }
    }

    /// Rebuilds the registry from stored records.
    pub fn from_records(
        records: impl IntoIterator<Item = KeyRecord>,
    ) -> Result<Self, RegistryError> {
        let mut keys = BTreeMap::new();
        for record in records {
            let vkey = record
                .registration
                .as_ref()
                .map(|r| r.vkey.clone())
                .unwrap_or_default();
            let verifier = NoteVerifier::from_vkey(&vkey).map_err(|e| RegistryError::Invalid {
                field: "register.vkey",
                reason: e.to_string(),
            })?;
            keys.insert(verifier.id().name.clone(), KeyEntry { verifier, record });
        }
        Ok(Registry { keys })
    }
}

/// Decodes a key action payload.
pub fn decode_action(payload: &[u8]) -> Result<KeyAction, RegistryError> {
    KeyAction::decode(payload).map_err(|e| RegistryError::Invalid {
        field: "(KeyAction)",
        reason: format!("not a valid KeyAction: {e}"),
    })
}

fn parse_action(action: &KeyAction) -> Result<KeyChange, RegistryError> {
    match &action.action {
        None => Err(RegistryError::Invalid {
            field: "action",
            reason: "required: register or revoke".into(),
        }),
        Some(key_action::Action::Register(registration)) => {
            let verifier = NoteVerifier::from_vkey(&registration.vkey).map_err(|e| {
                RegistryError::Invalid {
                    field: "register.vkey",
                    reason: e.to_string(),
                }
            })?;
            if registration.role() == Role::Unspecified {
                return Err(RegistryError::Invalid {
                    field: "register.role",
                    reason: "required: GENERATOR, SYNC_JOB, REVIEWER or ADMIN".into(),
                });
            }
            if registration
                .allowed_environments
                .iter()
                .any(|e| e.trim().is_empty())
            {
                return Err(RegistryError::Invalid {
                    field: "register.allowed_environments",
                    reason: "environment names must not be empty".into(),
                });
            }
            Ok(KeyChange::Register {
                verifier: Box::new(verifier),
                registration: registration.clone(),
            })
        }
        Some(key_action::Action::Revoke(revoke)) => {
            if revoke.key_name.is_empty() {
                return Err(RegistryError::Invalid {
                    field: "revoke.key_name",
                    reason: "required".into(),
                });
            }
            Ok(KeyChange::Revoke {
                name: revoke.key_name.clone(),
            })
        }
    }
}

/// The role named on the command line or in config: `generator`, `sync_job`, `reviewer`, `admin`.
pub fn parse_role(s: &str) -> Option<Role> {
    match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "generator" => Some(Role::Generator),
        "sync_job" => Some(Role::SyncJob),
        "reviewer" => Some(Role::Reviewer),
        "admin" => Some(Role::Admin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteSigner;
    use crate::proto::KeyRevocation;

    fn register(signer: &NoteSigner, role: Role) -> KeyAction {
        KeyAction {
            action: Some(key_action::Action::Register(KeyRegistration {
                vkey: signer.verifier().to_vkey(),
                role: role as i32,
                ..Default::default()
            })),
        }
    }

    fn revoke(name: &str) -> KeyAction {
        KeyAction {
            action: Some(key_action::Action::Revoke(KeyRevocation {
                key_name: name.into(),
                reason: String::new(),
            })),
        }
    }

    #[test]
    fn genesis_then_admin_actions() {
        let admin = NoteSigner::generate("admin").unwrap();
        let generator = NoteSigner::generate("gen").unwrap();
        let mut reg = Registry::default();
        // Genesis must be an admin registering itself.
        assert!(reg.check("gen", &register(&admin, Role::Admin)).is_err());
        assert!(
            reg.check("gen", &register(&generator, Role::Generator))
                .is_err()
        );
        let c = reg.check("admin", &register(&admin, Role::Admin)).unwrap();
        reg.apply(c, 0);
        let c = reg
            .check("admin", &register(&generator, Role::Generator))
            .unwrap();
        reg.apply(c, 1);
        assert_eq!(
            reg.check("admin", &register(&generator, Role::Generator))
                .unwrap_err(),
            RegistryError::AlreadyRegistered("gen".into())
        );
        assert!(matches!(
            reg.check("gen", &revoke("admin")),
            Err(RegistryError::NotAdmin { .. })
        ));
        assert_eq!(
            reg.check("admin", &revoke("nobody")).unwrap_err(),
            RegistryError::RevokeUnknown("nobody".into())
        );
        let c = reg.check("admin", &revoke("gen")).unwrap();
        reg.apply(c, 2);
        assert_eq!(
            reg.active("gen").unwrap_err(),
            RegistryError::Revoked {
                name: "gen".into(),
                at: 2
            }
        );
        assert_eq!(
            reg.check("admin", &revoke("gen")).unwrap_err(),
            RegistryError::AlreadyRevoked("gen".into())
        );
        let rebuilt = Registry::from_records(reg.keys().map(|k| k.record.clone())).unwrap();
        assert!(rebuilt.active("admin").is_ok());
        assert!(rebuilt.active("gen").is_err());
    }

    #[test]
    fn malformed_actions_name_the_field() {
        let reg = Registry::default();
        let err = reg.check("a", &KeyAction { action: None }).unwrap_err();
        assert!(err.to_string().starts_with("event.payload.action"));
        let bad = KeyAction {
            action: Some(key_action::Action::Register(KeyRegistration {
                vkey: "not a vkey".into(),
                role: Role::Admin as i32,
                ..Default::default()
            })),
        };
        assert!(
            reg.check("a", &bad)
                .unwrap_err()
                .to_string()
                .starts_with("event.payload.register.vkey")
        );
        let admin = NoteSigner::generate("admin").unwrap();
        let no_role = register(&admin, Role::Unspecified);
        assert!(
            reg.check("admin", &no_role)
                .unwrap_err()
                .to_string()
                .starts_with("event.payload.register.role")
        );
    }

    #[test]
    fn roles_parse() {
        assert_eq!(parse_role("sync-job"), Some(Role::SyncJob));
        assert_eq!(parse_role("ADMIN"), Some(Role::Admin));
        assert_eq!(parse_role("root"), None);
    }
}
