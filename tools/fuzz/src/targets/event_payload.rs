//! The `ProvenanceEvent` payload: protobuf decoding and the field rules and key scopes the log
//! applies before writing (`provenance::rules`), with record normalisation
//! (`provenance::record`), then admission of the payload signed by a key its scopes allow.
//!
//! Properties: decode → encode → decode gives the same event; the rules are deterministic; every
//! violation names a field under `event.payload.`; an event that passes has its subject and
//! parents normalised, and normalising again changes nothing (nor the record key); a key's
//! scopes never let a generator declare REAL, a key sign outside its role, or write outside its
//! environments; and an event that meets the rules, signed by a key its scopes allow, is
//! admitted by the server's admission with exactly that event.

use crate::fixtures;
use prost::Message;
use provledger::envelope::{self, EVENT_PAYLOAD_TYPE};
use provledger::ledger::{AdmissionLimits, Payload, admit};
use provledger::proto::{Action, Origin, ProvenanceEvent, Role};
use provledger::provenance::record::{normalise, record_key};
use provledger::provenance::rules::{EventLimits, check_fields, check_scope};

pub fn run(data: &[u8]) {
    let Ok(event) = ProvenanceEvent::decode(data) else {
        return;
    };
    let again = ProvenanceEvent::decode(event.encode_to_vec().as_slice());
    assert_eq!(again.ok().as_ref(), Some(&event), "decode(encode(x)) != x");
    let limits = EventLimits::default();
    let checked = check_fields(&event, &limits);
    assert_eq!(
        format!("{checked:?}"),
        format!("{:?}", check_fields(&event, &limits)),
        "rules are not deterministic"
    );
    let checked = match checked {
        Ok(checked) => checked,
        Err(problems) => {
            assert!(!problems.is_empty());
            for p in &problems {
                assert!(p.starts_with("event.payload."), "names no field: {p}");
            }
            return;
        }
    };
    assert_ne!(event.action(), Action::Unspecified);
    for record in std::iter::once(&checked.subject).chain(checked.parents.iter().map(|(r, _)| r)) {
        let twice = normalise(record).expect("a normalised record normalises");
        assert_eq!(&twice, record, "normalisation is not idempotent");
        assert_eq!(record_key(&twice), record_key(record));
    }
    let mut allowed = None;
    for key in fixtures::signers() {
        let name = &key.id().name;
        let registration = fixtures::registration(name).expect("fixture key");
        if check_scope(&event, name, &registration).is_ok() {
            let role = registration.role();
            assert!(!(role == Role::Generator && event.origin() == Origin::Real));
            assert_ne!(role, Role::Admin, "an admin key signs events");
            let envs = &registration.allowed_environments;
            assert!(envs.is_empty() || envs.iter().any(|e| e == event.environment.trim()));
            allowed.get_or_insert(key);
        }
    }
    let Some(key) = allowed else { return };
    let signed = envelope::sign(key, EVENT_PAYLOAD_TYPE, data.to_vec());
    let admitted = admit(
        Some(signed),
        fixtures::registry(),
        &AdmissionLimits::default(),
    );
    match admitted.map(|a| a.payload) {
        Ok(Payload::Event(e)) => assert_eq!(e.event, event),
        Ok(Payload::Key(_)) => panic!("an event payload admitted as a key action"),
        // Admission also bounds the payload's size, which the rules do not.
        Err(e) if data.len() > AdmissionLimits::default().max_payload_bytes => {
            assert!(e.message.starts_with("event.payload"))
        }
        Err(e) => panic!("the rules pass and the scope allows, but admission refuses: {e}"),
    }
}
