//! The key-registration payload: `KeyAction` decoding (`registry::decode_action`) and the
//! registry's checks of an action, both at genesis (empty registry) and against the fixture
//! registry, then applying what passes.
//!
//! Properties: decode → encode → decode gives the same action; refusals name a field under
//! `event.`; at genesis only an admin key registering itself passes; afterwards only the
//! active admin may act; a registration that passes makes the key active with exactly that
//! registration, and the same registration is then refused as already registered; a
//! revocation that passes makes the key revoked at that index, and is then refused as already
//! revoked; the registry rebuilt from its records agrees.

use crate::fixtures;
use prost::Message;
use provledger::proto::{KeyAction, Role};
use provledger::registry::{KeyChange, Registry, RegistryError, decode_action};

const INDEX: u64 = 1000;

pub fn run(data: &[u8]) {
    let action = match decode_action(data) {
        Ok(action) => action,
        Err(e) => {
            assert!(
                e.to_string().starts_with("event.payload.(KeyAction)"),
                "{e}"
            );
            return;
        }
    };
    let again = KeyAction::decode(action.encode_to_vec().as_slice());
    assert_eq!(again.ok().as_ref(), Some(&action), "decode(encode(x)) != x");
    let mut names: Vec<String> = fixtures::signers()
        .iter()
        .map(|s| s.id().name.clone())
        .collect();
    names.push("nobody.fuzz".into());
    for signer in &names {
        check_genesis(signer, &action);
        check_registered(signer, &action);
    }
}

fn check_genesis(signer: &str, action: &KeyAction) {
    match Registry::default().check(signer, action) {
        Ok(KeyChange::Register {
            verifier,
            registration,
        }) => {
            assert_eq!(
                registration.role(),
                Role::Admin,
                "genesis registers a non-admin"
            );
            assert_eq!(verifier.id().name, signer, "genesis key is not self-signed");
        }
        Ok(KeyChange::Revoke { .. }) => panic!("a revocation accepted as genesis"),
        Err(e) => assert!(e.to_string().starts_with("event."), "{e}"),
    }
}

fn check_registered(signer: &str, action: &KeyAction) {
    let registry = fixtures::registry();
    let change = match registry.check(signer, action) {
        Ok(change) => change,
        Err(e) => {
            assert!(e.to_string().starts_with("event."), "{e}");
            return;
        }
    };
    assert_eq!(signer, fixtures::ADMIN, "a non-admin key acted");
    let mut after = registry.clone();
    match &change {
        KeyChange::Register {
            verifier,
            registration,
        } => {
            let name = verifier.id().name.clone();
            let registration = registration.clone();
            after.apply(change, INDEX);
            let entry = after.active(&name).expect("a registered key is active");
            assert_eq!(entry.registration(), registration);
            assert_eq!(entry.record.registered_at, INDEX);
            let refused = after.check(signer, action).map(|_| ());
            assert_eq!(refused, Err(RegistryError::AlreadyRegistered(name)));
        }
        KeyChange::Revoke { name } => {
            let name = name.clone();
            after.apply(change, INDEX);
            let revoked = after.active(&name).map(|_| ());
            assert_eq!(
                revoked,
                Err(RegistryError::Revoked {
                    name: name.clone(),
                    at: INDEX
                })
            );
            // The admin may revoke itself; then nothing it signs passes.
            if name != fixtures::ADMIN {
                let refused = after.check(signer, action).map(|_| ());
                assert_eq!(refused, Err(RegistryError::AlreadyRevoked(name)));
            }
        }
    }
    let rebuilt = Registry::from_records(after.keys().map(|k| k.record.clone()))
        .expect("the registry's own records rebuild it");
    for entry in after.keys() {
        let name = &entry.verifier.id().name;
        assert_eq!(
            rebuilt.active(name).map(|k| k.record.clone()),
            after.active(name).map(|k| k.record.clone())
        );
    }
}
