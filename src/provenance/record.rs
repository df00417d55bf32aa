//! Record identity: normalising a [`RecordRef`] and the 16-byte key the lineage indexes file it
//! under.
//!
//! Two refs name the same record when their normalised forms are equal: the system is
//! lower-cased and trimmed, the other fields trimmed, and for system `salesforce` the record id
//! and tenant (an org id) are Salesforce ids brought to their 18-character case-safe form. A
//! 15-character id gets its suffix computed; an 18-character id must carry the suffix of its
//! first 15 characters (compared case-insensitively, since the suffix exists to survive
//! case-folding) and is rewritten with the canonical upper-case suffix.

use crate::proto::RecordRef;

/// The system name whose ids are Salesforce ids.
pub const SALESFORCE: &str = "salesforce";

/// Why a record ref is refused; `field` is the name within the ref.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RecordError {
    pub field: &'static str,
    pub problem: String,
}

/// The case-safe suffix of a 15-character Salesforce id: for each 5-character chunk, a bit per
/// character (bit `i` set when character `i` is an upper-case letter), as an index into
/// `A..Z0..5`.
pub fn salesforce_suffix(id15: &[u8; 15]) -> [u8; 3] {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    let mut suffix = [0u8; 3];
    for (chunk, out) in id15.chunks(5).zip(suffix.iter_mut()) {
        let bits = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        *out = ALPHABET[bits];
    }
    suffix
}

/// A Salesforce id in its 18-character form.
pub fn salesforce_id18(id: &str, field: &'static str) -> Result<String, RecordError> {
    let bad = |problem: String| RecordError { field, problem };
    if !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad(format!(
            "{id:?} is not a Salesforce id (letters and digits only)"
        )));
    }
    let bytes = id.as_bytes();
    let first: &[u8; 15] = match bytes.len() {
        15 | 18 => bytes[..15]
            .try_into()
            .map_err(|_| bad("not 15 or 18 characters".into()))?,
        n => {
            return Err(bad(format!(
                "a Salesforce id has 15 or 18 characters, got {n}"
            )));
        }
    };
    let suffix = salesforce_suffix(first);
    if bytes.len() == 18 && !bytes[15..].eq_ignore_ascii_case(&suffix) {
        return Err(bad(format!(
            "{id:?} has case-safe suffix {:?}, but its first 15 characters give {:?}",
            String::from_utf8_lossy(&bytes[15..]),
            String::from_utf8_lossy(&suffix)
        )));
    }
    let mut out = String::with_capacity(18);
    out.push_str(&id[..15]);
    out.push_str(&String::from_utf8_lossy(&suffix));
    Ok(out)
}

/// The normalised form of `record`; errors name the field within the ref.
pub fn normalise(record: &RecordRef) -> Result<RecordRef, RecordError> {
    let system = record.system.trim().to_ascii_lowercase();
    let object_type = record.object_type.trim().to_string();
    let record_id = record.record_id.trim().to_string();
    let tenant = record.tenant.trim().to_string();
    for (field, value) in [
        ("system", &system),
        ("object_type", &object_type),
        ("record_id", &record_id),
    ] {
        if value.is_empty() {
            return Err(RecordError {
                field,
                problem: "required".into(),
            });
        }
    }
    if system == SALESFORCE {
        return Ok(RecordRef {
            tenant: if tenant.is_empty() {
                tenant
            } else {
                salesforce_id18(&tenant, "tenant")?
            },
            record_id: salesforce_id18(&record_id, "record_id")?,
            system,
            object_type,
        });
    }
    Ok(RecordRef {
        system,
        tenant,
        object_type,
        record_id,
    })
}

/// The 16-byte key a normalised record is indexed under: the first 16 bytes of a BLAKE3 hash,
/// in a context of its own, over the four fields each preceded by its length.
pub fn record_key(normalised: &RecordRef) -> [u8; 16] {
    key16(
        "provledger record key v1",
        &[
            &normalised.system,
            &normalised.tenant,
            &normalised.object_type,
            &normalised.record_id,
        ],
    )
}

/// A 16-byte key for other indexed names (generator sources, key names), in its own context.
pub fn name_key(context: &str, name: &str) -> [u8; 16] {
    key16(context, &[name])
}

fn key16(context: &str, fields: &[&str]) -> [u8; 16] {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    for field in fields {
        hasher.update(&(field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let mut key = [0u8; 16];
    key.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(id: &str) -> RecordRef {
        RecordRef {
            system: "Salesforce".into(),
            tenant: "00D5e000000abcd".into(),
            object_type: "Contact".into(),
            record_id: id.into(),
        }
    }

    #[test]
    fn suffix_matches_known_ids() {
        // Worked by hand from the algorithm: e.g. "003D000000QUPjR" has upper-case letters at
        // position 3 of chunk 1 (8 → 'I'), none in chunk 2 ('A'), and 0, 1, 2, 4 of chunk 3
        // (23 → 'X').
        for (id15, id18) in [
            ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
            ("003D000000QUPjR", "003D000000QUPjRIAX"),
            ("00Q0000000000aa", "00Q0000000000aaEAA"),
            ("aaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaAAA"),
            ("AAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAA555"),
        ] {
            assert_eq!(salesforce_id18(id15, "record_id").unwrap(), id18, "{id15}");
            assert_eq!(salesforce_id18(id18, "record_id").unwrap(), id18, "{id18}");
        }
    }

    #[test]
    fn fifteen_and_eighteen_characters_name_the_same_record() {
        let a = normalise(&sf("003D000000QUPjR")).unwrap();
        let b = normalise(&sf("003D000000QUPjRIAX")).unwrap();
        let lower_suffix = normalise(&sf("003D000000QUPjRiax")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, lower_suffix);
        assert_eq!(record_key(&a), record_key(&b));
        assert_eq!(a.system, "salesforce");
        assert_eq!(a.tenant, "00D5e000000abcdEAA");
        // Case matters in the first 15 characters: a different record.
        let other = normalise(&sf("003d000000QUPjR")).unwrap();
        assert_ne!(record_key(&a), record_key(&other));
    }

    #[test]
    fn bad_salesforce_ids_name_the_field() {
        let e = normalise(&sf("003D000000QUPjRAAA")).unwrap_err();
        assert_eq!(e.field, "record_id");
        assert!(e.problem.contains("suffix"), "{e}");
        assert_eq!(normalise(&sf("003D00")).unwrap_err().field, "record_id");
        assert_eq!(
            normalise(&sf("003D000000QUP-R")).unwrap_err().field,
            "record_id"
        );
        let mut bad_tenant = sf("003D000000QUPjR");
        bad_tenant.tenant = "00D".into();
        assert_eq!(normalise(&bad_tenant).unwrap_err().field, "tenant");
    }

    #[test]
    fn other_systems_are_only_trimmed() {
        let r = normalise(&RecordRef {
            system: " HubSpot ".into(),
            tenant: "".into(),
            object_type: "contact".into(),
            record_id: " 12345 ".into(),
        })
        .unwrap();
        assert_eq!(r.system, "hubspot");
        assert_eq!(r.record_id, "12345");
        let e = normalise(&RecordRef {
            system: "x".into(),
            object_type: " ".into(),
            record_id: "1".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "object_type");
    }

    #[test]
    fn record_keys_do_not_collide_across_field_boundaries() {
        let a = RecordRef {
            system: "ab".into(),
            tenant: "c".into(),
            object_type: "d".into(),
            record_id: "e".into(),
        };
        let b = RecordRef {
            system: "a".into(),
            tenant: "bc".into(),
            ..a.clone()
        };
        assert_ne!(record_key(&a), record_key(&b));
    }
}
