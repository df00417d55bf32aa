//! The fixed keys and registry every target and seed uses: a log key, and an admin, a
//! generator (synthetic origins, sandbox only), a sync-job key (real origins) and a reviewer,
//! registered through the registry's own checks. Seeds are Ed25519-deterministic, so the seed
//! corpora regenerate byte for byte.

use provledger::note::{NoteSigner, NoteVerifier};
use provledger::proto::{KeyAction, KeyRecord, KeyRegistration, Origin, Role, key_action::Action};
use provledger::registry::Registry;
use std::sync::OnceLock;

pub const LOG: &str = "provledger.fuzz/log";
pub const ADMIN: &str = "admin.fuzz";
pub const GENERATOR: &str = "synth-gen.fuzz/v1";
pub const SYNC: &str = "crm-sync.fuzz/v1";
pub const REVIEWER: &str = "reviewer.fuzz";
/// The org id every fuzz record lives in.
pub const TENANT: &str = "00D5g000004ABCD";

/// A signer from a constant name and seed (both valid, so this cannot fail).
fn fixed(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::from_seed(name, &[seed; 32]).expect("fixture key names are valid")
}

/// The log's checkpoint key.
pub fn log_signer() -> &'static NoteSigner {
    static KEY: OnceLock<NoteSigner> = OnceLock::new();
    KEY.get_or_init(|| fixed(LOG, 1))
}

pub fn log_verifier() -> NoteVerifier {
    log_signer().verifier()
}

/// Every registered key, admin first.
pub fn signers() -> &'static [NoteSigner] {
    static KEYS: OnceLock<Vec<NoteSigner>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            fixed(ADMIN, 2),
            fixed(GENERATOR, 3),
            fixed(SYNC, 4),
            fixed(REVIEWER, 5),
        ]
    })
}

/// The registered key named `name`, if any.
pub fn signer(name: &str) -> Option<&'static NoteSigner> {
    signers().iter().find(|s| s.id().name == name)
}

/// The registration of each key in [`signers`].
pub fn registration(name: &str) -> Option<KeyRegistration> {
    let vkey = signer(name)?.verifier().to_vkey();
    let (role, origins, environments): (Role, &[Origin], &[&str]) = match name {
        ADMIN => (Role::Admin, &[], &[]),
        GENERATOR => (Role::Generator, &[Origin::Synthetic], &["sandbox"]),
        SYNC => (Role::SyncJob, &[Origin::Real], &[]),
        REVIEWER => (Role::Reviewer, &[], &[]),
        _ => return None,
    };
    Some(KeyRegistration {
        vkey,
        role: role as i32,
        allowed_origins: origins.iter().map(|o| *o as i32).collect(),
        allowed_environments: environments.iter().map(|e| e.to_string()).collect(),
        description: format!("fuzz fixture {name}"),
    })
}

/// The action registering `name`.
pub fn register_action(name: &str) -> KeyAction {
    KeyAction {
        action: registration(name).map(Action::Register),
    }
}

/// The registry after the genesis entry (the admin) and one entry per other key.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        for (index, key) in signers().iter().enumerate() {
            let change = registry
                .check(ADMIN, &register_action(&key.id().name))
                .expect("fixture registrations are valid");
            registry.apply(change, index as u64);
        }
        registry
    })
}

/// The registry's records, as `ListKeys` answers them (what the CSV importer checks keys with).
pub fn key_records() -> Vec<KeyRecord> {
    registry().keys().map(|k| k.record.clone()).collect()
}
