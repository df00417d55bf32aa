//! The DSSE JSON envelope: `{"payload": base64, "payloadType": ..., "signatures": [{"keyid":
//! ..., "sig": base64}]}`, the standard serialisation of a signed envelope, as sent to and
//! printed by provledger.
//!
//! A provledger envelope carries exactly one signature: `keyid` is the signer's registered key
//! name and `sig` the Ed25519 signature over the PAE (see [`crate::envelope`]). Both standard and
//! URL-safe base64 are accepted, padded or not, as the DSSE specification requires; provledger
//! writes standard, padded base64.

use super::JsonError;
use crate::proto::SignedEvent;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// A DSSE envelope in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseEnvelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<DsseSignature>,
}

/// One signature of a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsseSignature {
    #[serde(default)]
    pub keyid: String,
    pub sig: String,
}

impl DsseEnvelope {
    /// The JSON form of a signed envelope.
    pub fn from_signed(envelope: &SignedEvent) -> Self {
        DsseEnvelope {
            payload: STANDARD.encode(&envelope.payload),
            payload_type: envelope.payload_type.clone(),
            signatures: vec![DsseSignature {
                keyid: envelope.key_id.clone(),
                sig: STANDARD.encode(&envelope.signature),
            }],
        }
    }

    /// The signed envelope this JSON form holds; `line` locates the document in error messages.
    pub fn to_signed(&self, line: u64) -> Result<SignedEvent, JsonError> {
        let field = |field: &str, message: String| JsonError::Field {
            line,
            field: field.to_string(),
            message,
        };
        let [signature] = self.signatures.as_slice() else {
            return Err(field(
                "signatures",
                format!(
                    "exactly one signature is needed (the signer's registered key), got {}",
                    self.signatures.len()
                ),
            ));
        };
        if signature.keyid.is_empty() {
            return Err(field(
                "signatures[0].keyid",
                "required: the signer's registered key name".into(),
            ));
        }
        Ok(SignedEvent {
            payload: decode_base64(&self.payload).map_err(|m| field("payload", m))?,
            payload_type: self.payload_type.clone(),
            key_id: signature.keyid.clone(),
            signature: decode_base64(&signature.sig).map_err(|m| field("signatures[0].sig", m))?,
        })
    }
}

/// Decodes standard or URL-safe base64, padded or not.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let padded = text.ends_with('=');
    let url_safe = text.contains(['-', '_']);
    let engine = match (url_safe, padded) {
        (false, true) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
    };
    engine
        .decode(text)
        .map_err(|e| format!("not base64 (standard or URL-safe): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EVENT_PAYLOAD_TYPE, sign, verify};
    use crate::note::NoteSigner;

    fn signed() -> (NoteSigner, SignedEvent) {
        let key = NoteSigner::from_seed("sync.example/job", &[7; 32]).unwrap();
        // Bytes whose base64 contains both '+' and '/' in standard form.
        let env = sign(&key, EVENT_PAYLOAD_TYPE, vec![0xfb, 0xff, 0xbf, 0x3e, 0x10]);
        (key, env)
    }

    #[test]
    fn round_trips_and_still_verifies() {
        let (key, env) = signed();
        let json = serde_json::to_string(&DsseEnvelope::from_signed(&env)).unwrap();
        assert!(json.contains("\"payloadType\""), "{json}");
        let back: DsseEnvelope = serde_json::from_str(&json).unwrap();
        let decoded = back.to_signed(1).unwrap();
        assert_eq!(decoded, env);
        verify(&decoded, &key.verifier()).unwrap();
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let (_, env) = signed();
        let mut dsse = DsseEnvelope::from_signed(&env);
        assert!(dsse.payload.contains(['+', '/']), "{}", dsse.payload);
        dsse.payload = URL_SAFE_NO_PAD.encode(&env.payload);
        dsse.signatures[0].sig = URL_SAFE.encode(&env.signature);
        assert_eq!(dsse.to_signed(1).unwrap(), env);
    }

    #[test]
    fn errors_name_the_field() {
        let (_, env) = signed();
        let mut dsse = DsseEnvelope::from_signed(&env);
        dsse.payload = "not base64!".into();
        let e = dsse.to_signed(7).unwrap_err().to_string();
        assert!(e.starts_with("line 7: payload: not base64"), "{e}");
        let mut two = DsseEnvelope::from_signed(&env);
        two.signatures.push(two.signatures[0].clone());
        let e = two.to_signed(2).unwrap_err().to_string();
        assert!(e.contains("signatures: exactly one signature"), "{e}");
        let mut nameless = DsseEnvelope::from_signed(&env);
        nameless.signatures[0].keyid.clear();
        let e = nameless.to_signed(2).unwrap_err().to_string();
        assert!(e.contains("signatures[0].keyid: required"), "{e}");
    }
}
