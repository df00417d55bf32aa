//! The signed envelope: `SignedEvent` protobuf decoding, the DSSE pre-authentication encoding,
//! strict verification against the fixture keys, the envelope id, and admission as the server
//! runs it (shape, signer, signature, payload decoding and rules) against the fixture registry.
//!
//! Properties: decode → encode → decode gives the same envelope; PAE is injective (it parses
//! back to exactly its type and body, and two different pairs cut from the input never give
//! the same PAE); a signature that verifies stops verifying when the type, the payload or the
//! key changes; admission accepts only envelopes whose signature verifies with the registered
//! key named by `key_id`, and its payload is then exactly the signed bytes decoded; refusals
//! name the field. An envelope with an empty signature and a fixture key's name is signed with
//! that key first, so the fuzzer reaches payload decoding behind the signature check.

use crate::fixtures;
use prost::Message;
use provledger::envelope::{self, EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE, envelope_id, pae};
use provledger::ledger::{AdmissionLimits, Payload, admit};
use provledger::proto::{KeyAction, ProvenanceEvent, SignedEvent};

pub fn run(data: &[u8]) {
    check_pae_pairs(data);
    let Ok(decoded) = SignedEvent::decode(data) else {
        return;
    };
    let again = SignedEvent::decode(decoded.encode_to_vec().as_slice());
    assert_eq!(
        again.ok().as_ref(),
        Some(&decoded),
        "decode(encode(x)) != x"
    );
    let env = match fixtures::signer(&decoded.key_id) {
        Some(key) if decoded.signature.is_empty() => {
            let signed = envelope::sign(key, &decoded.payload_type, decoded.payload.clone());
            assert!(envelope::verify(&signed, &key.verifier()).is_ok());
            signed
        }
        _ => decoded,
    };
    assert_eq!(
        parse_pae(&pae(&env.payload_type, &env.payload)),
        Some((env.payload_type.as_bytes(), env.payload.as_slice()))
    );
    check_signature_binds(&env);
    assert_eq!(envelope_id(&env), envelope_id(&env.clone()));
    check_admission(&env);
}

fn cut(at: u8, bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(usize::from(at).min(bytes.len()))
}

/// PAE of two (type, body) pairs cut from the input at points its first bytes choose: equal
/// encodings only for equal pairs, and each encoding parses back to its pair.
fn check_pae_pairs(data: &[u8]) {
    let [a, b, rest @ ..] = data else { return };
    let (type1, body1) = cut(*a, rest);
    let (type2, body2) = cut(*b, rest);
    let (Ok(type1), Ok(type2)) = (std::str::from_utf8(type1), std::str::from_utf8(type2)) else {
        return;
    };
    let (pae1, pae2) = (pae(type1, body1), pae(type2, body2));
    assert_eq!(parse_pae(&pae1), Some((type1.as_bytes(), body1)));
    assert_eq!(parse_pae(&pae2), Some((type2.as_bytes(), body2)));
    assert_eq!(
        pae1 == pae2,
        (type1, body1) == (type2, body2),
        "PAE is not injective"
    );
}

/// An independent reading of `DSSEv1 SP LEN(type) SP type SP LEN(body) SP body`: lengths in
/// canonical decimal, and the body running exactly to the end.
fn parse_pae(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    fn length(bytes: &[u8]) -> Option<(usize, &[u8])> {
        let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let (number, rest) = bytes.split_at(digits);
        if digits == 0 || (digits > 1 && number[0] == b'0') {
            return None;
        }
        let n = std::str::from_utf8(number).ok()?.parse().ok()?;
        Some((n, rest.strip_prefix(b" ")?))
    }
    let rest = bytes.strip_prefix(b"DSSEv1 ")?;
    let (type_len, rest) = length(rest)?;
    let payload_type = rest.get(..type_len)?;
    let rest = rest.get(type_len..)?.strip_prefix(b" ")?;
    let (body_len, body) = length(rest)?;
    (body.len() == body_len).then_some((payload_type, body))
}

/// A signature that verifies with a fixture key verifies for nothing else.
fn check_signature_binds(env: &SignedEvent) {
    for key in fixtures::signers() {
        let verifier = key.verifier();
        if envelope::verify(env, &verifier).is_err() {
            continue;
        }
        let mut moved = env.clone();
        moved.payload_type.push(' ');
        assert!(
            envelope::verify(&moved, &verifier).is_err(),
            "type not bound"
        );
        let mut moved = env.clone();
        moved.payload.push(0);
        assert!(
            envelope::verify(&moved, &verifier).is_err(),
            "payload not bound"
        );
        for other in fixtures::signers().iter().filter(|o| o.id() != key.id()) {
            assert!(
                envelope::verify(env, &other.verifier()).is_err(),
                "two keys verify"
            );
        }
    }
}

fn check_admission(env: &SignedEvent) {
    let registry = fixtures::registry();
    match admit(Some(env.clone()), registry, &AdmissionLimits::default()) {
        Ok(admitted) => {
            let key = registry
                .active(&env.key_id)
                .expect("admitted from an active key");
            assert!(
                envelope::verify(env, &key.verifier).is_ok(),
                "admitted a bad signature"
            );
            assert_eq!(admitted.id, envelope_id(env));
            assert_eq!(&admitted.envelope, env);
            match admitted.payload {
                Payload::Event(e) => {
                    assert_eq!(env.payload_type, EVENT_PAYLOAD_TYPE);
                    let decoded = ProvenanceEvent::decode(env.payload.as_slice());
                    assert_eq!(decoded.ok().as_ref(), Some(&e.event));
                }
                Payload::Key(action) => {
                    assert_eq!(env.payload_type, KEY_PAYLOAD_TYPE);
                    let decoded = KeyAction::decode(env.payload.as_slice());
                    assert_eq!(decoded.ok().as_ref(), Some(&action));
                }
            }
        }
        Err(e) => assert!(
            e.message.starts_with("event"),
            "refusal names no field: {e}"
        ),
    }
}
