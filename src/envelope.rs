//! Signed envelopes: the DSSE v1 pre-authentication encoding (PAE), Ed25519 signing and strict
//! verification.
//!
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where SP is one space
//! (0x20) and LEN is the decimal byte length, no leading zeros. The signature is Ed25519 over the
//! PAE bytes, verified with `verify_strict` only (never batch verification, which accepts
//! signatures strict verification rejects). The payload is verified before it is parsed and is
//! stored verbatim: the log never re-encodes what a client signed.
//!
//! This module knows nothing of payload contents or of which keys are trusted.

use crate::note::{NoteSigner, NoteVerifier};
use crate::proto::SignedEvent;
use ed25519_dalek::Signature;

/// Payload type of a provenance event (`provledger.v1.ProvenanceEvent`).
pub const EVENT_PAYLOAD_TYPE: &str = "application/vnd.provledger.event.v1+protobuf";
/// Payload type of a key registry action (`provledger.v1.KeyAction`).
pub const KEY_PAYLOAD_TYPE: &str = "application/vnd.provledger.key.v1+protobuf";

/// Why an envelope's signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("signature must be 64 bytes, got {0}")]
    SignatureLength(usize),
    #[error("signature does not verify for key {key}")]
    BadSignature { key: String },
}

/// The DSSE v1 pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs a payload into an envelope. `key_id` is the signer's key name.
pub fn sign(signer: &NoteSigner, payload_type: &str, payload: Vec<u8>) -> SignedEvent {
    let signature = signer.sign_bytes(&pae(payload_type, &payload));
    SignedEvent {
        payload,
        payload_type: payload_type.to_string(),
        key_id: signer.id().name.clone(),
        signature: signature.to_vec(),
    }
}

/// Checks an envelope's signature with the given key (strict Ed25519 over the PAE).
pub fn verify(envelope: &SignedEvent, key: &NoteVerifier) -> Result<(), EnvelopeError> {
    let bytes: [u8; 64] = envelope
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| EnvelopeError::SignatureLength(envelope.signature.len()))?;
    let signature = Signature::from_bytes(&bytes);
    key.verifying_key()
        .verify_strict(&pae(&envelope.payload_type, &envelope.payload), &signature)
        .map_err(|_| EnvelopeError::BadSignature {
            key: key.id().to_string(),
        })
}

/// The identity of an envelope for duplicate detection: BLAKE3 over the length-prefixed
/// payload type, payload, key id and signature. Identical signed bytes give identical ids.
pub fn envelope_id(envelope: &SignedEvent) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for part in [
        envelope.payload_type.as_bytes(),
        &envelope.payload,
        envelope.key_id.as_bytes(),
        &envelope.signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    fn signer() -> NoteSigner {
        let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
        NoteSigner::from_seed("generator.example/synth", &seed).unwrap()
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // The DSSE specification's worked example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn fixed_vector() {
        // A third party's signer must produce exactly this signature (Ed25519 is deterministic).
        let env = sign(
            &signer(),
            EVENT_PAYLOAD_TYPE,
            b"provledger test payload".to_vec(),
        );
        assert_eq!(env.key_id, "generator.example/synth");
        assert_eq!(B64.encode(&env.signature), FIXED_SIGNATURE);
        verify(&env, &signer().verifier()).unwrap();
    }

    /// Seed bytes 0..32; cross-checked with an independent Ed25519 implementation.
    const FIXED_SIGNATURE: &str =
        "bAL73OZaAwYGUJTIrR3XwU3h34b6gQS8daTuH6gK0liJBAYLnXq0S9t9xoPz0NGUe5Uz+7bR7NpgX0uRFiQ5CA==";

    #[test]
    fn any_change_breaks_the_signature() {
        let v = signer().verifier();
        let env = sign(&signer(), EVENT_PAYLOAD_TYPE, b"payload".to_vec());
        let mut e = env.clone();
        e.payload[0] ^= 1;
        assert!(verify(&e, &v).is_err());
        let mut e = env.clone();
        e.payload_type = KEY_PAYLOAD_TYPE.into();
        assert!(verify(&e, &v).is_err());
        let mut e = env.clone();
        e.signature[10] ^= 1;
        assert!(verify(&e, &v).is_err());
        let mut e = env.clone();
        e.signature.pop();
        assert_eq!(verify(&e, &v), Err(EnvelopeError::SignatureLength(63)));
        let other = NoteSigner::from_seed("generator.example/synth", &[9; 32]).unwrap();
        assert!(verify(&env, &other.verifier()).is_err());
    }

    #[test]
    fn envelope_id_separates_fields() {
        let env = sign(&signer(), EVENT_PAYLOAD_TYPE, b"ab".to_vec());
        let mut moved = env.clone();
        moved.payload = b"a".to_vec();
        moved.payload_type.push('b');
        assert_ne!(envelope_id(&env), envelope_id(&moved));
        assert_eq!(envelope_id(&env), envelope_id(&env.clone()));
    }
}
