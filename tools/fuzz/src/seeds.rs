//! The seed corpora: real inputs for every target, made with the fixture keys from the same
//! shapes the tests use (signed envelopes, events of every action, key actions, checkpoint
//! notes including the published vectors in `tests/vectors`, real proofs, lineage answers over
//! a real tree, leaf chunks, shard files, journal files, lineage records, Data Loader exports in
//! the form of `tests/import_csv.rs`, and leaf offsets files). `examples/seed_corpus.rs` writes
//! them to `seeds/<target>/`.

mod storage;

use crate::fixtures::{self, GENERATOR, LOG, REVIEWER, SYNC, TENANT};
use prost::Message;
use provledger::checkpoint::Checkpoint;
use provledger::envelope::{self, EVENT_PAYLOAD_TYPE, KEY_PAYLOAD_TYPE};
use provledger::lineage::keys::{EventState, Latest, Link, Links, Watermark};
use provledger::merkle::{
    Blake3, Hash, MemoryTree, TreeHasher, consistency_proof, inclusion_proof, root,
};
use provledger::proto::{
    self, Action, AppendResponse, Generator, HistoryResponse, InclusionProof, KeyAction,
    KeyRevocation, LogLeaf, Origin, Parent, ProvenanceEvent, RecordEvent, RecordRef, SignedEvent,
    TraceNode, TraceResponse, key_action,
};
use provledger::provenance::origin::Roots;
use provledger::provenance::rules::{ALGORITHMIC_MEDIA, DIGITAL_CAPTURE, TRAINED_ALGORITHMIC_DATA};

/// One seed: its target, a file name, its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes: bytes.into(),
    }
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    out.extend(envelopes());
    out.extend(
        events()
            .into_iter()
            .map(|(name, e)| seed("event_payload", name, e.encode_to_vec())),
    );
    out.extend(key_actions());
    out.extend(checkpoint_notes());
    out.extend(proofs());
    out.extend(lineage_answers());
    out.extend(storage::leaf_chunks());
    out.extend(storage::hash_index_files());
    out.extend(storage::journal_files());
    out.extend(lineage_records());
    out.extend(csv_exports());
    out.extend(storage::leaf_offsets_files());
    out
}

fn lead(i: u64) -> RecordRef {
    RecordRef {
        system: "salesforce".into(),
        tenant: TENANT.into(),
        object_type: "Lead".into(),
        record_id: format!("00Q5g{i:010}"),
    }
}

fn event(action: Action, origin: Origin, i: u64) -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(lead(i)),
        action: action as i32,
        origin: origin as i32,
        environment: "sandbox".into(),
        content_hash: vec![i as u8; 32],
        occurred_at: Some(provledger::timestamp::Timestamp {
            seconds: 1_714_566_896,
            nanos: 0,
        }),
        ..Default::default()
    }
}

/// One event per action, each meeting the rules, plus two that break them.
pub fn events() -> Vec<(&'static str, ProvenanceEvent)> {
    let parent = |i, leaf_index| Parent {
        record: Some(lead(i)),
        leaf_index,
    };
    let mut generated = event(Action::Generated, Origin::Synthetic, 1);
    generated.digital_source_type = TRAINED_ALGORITHMIC_DATA.into();
    generated.generator = Some(Generator {
        source: "synth-gen.acme".into(),
        model: "lead-synth".into(),
        model_version: "3.0.0".into(),
        run_id: "run-7".into(),
    });
    generated
        .attributes
        .insert("LeadSource".into(), "Partner".into());
    generated.external_id = "csv:Lead:00Q5g0000000001:0011223344556677".into();
    let mut captured = event(Action::Captured, Origin::Real, 2);
    captured.digital_source_type = DIGITAL_CAPTURE.into();
    let mut derived = event(Action::Derived, Origin::Unspecified, 3);
    derived.parents = vec![parent(1, Some(5)), parent(2, None)];
    let mut synced = event(Action::Synced, Origin::Unspecified, 4);
    synced.parents = vec![parent(1, None)];
    synced.environment = "production".into();
    let updated = event(Action::Updated, Origin::Unspecified, 5);
    let mut quarantined = event(Action::Quarantined, Origin::Unspecified, 1);
    quarantined.reason = "synthetic record found in production".into();
    let mut purged = event(Action::Purged, Origin::Unspecified, 1);
    purged.reason = "purged after review".into();
    let mut attested = event(Action::Attested, Origin::Synthetic, 2);
    attested.digital_source_type = ALGORITHMIC_MEDIA.into();
    let mut other_system = event(Action::Updated, Origin::Unspecified, 6);
    other_system.subject = Some(RecordRef {
        system: " HubSpot ".into(),
        tenant: String::new(),
        object_type: "contact".into(),
        record_id: " 12345 ".into(),
    });
    let mut broken = event(Action::Generated, Origin::Real, 7);
    if let Some(subject) = broken.subject.as_mut() {
        subject.record_id = "003D000000QUPjRAAA".into();
    }
    broken.parents = vec![parent(1, None)];
    vec![
        ("generated", generated),
        ("captured", captured),
        ("derived", derived),
        ("synced", synced),
        ("updated", updated),
        ("quarantined", quarantined),
        ("purged", purged),
        ("attested", attested),
        ("other_system", other_system),
        ("broken_rules", broken),
        ("empty", ProvenanceEvent::default()),
    ]
}

fn signed(key: &str, payload_type: &str, payload: Vec<u8>) -> SignedEvent {
    let signer = fixtures::signer(key).expect("fixture key");
    envelope::sign(signer, payload_type, payload)
}

/// The key that signs each seed event (by the README's table).
fn signer_of(action: Action) -> &'static str {
    match action {
        Action::Generated | Action::Derived | Action::Updated => GENERATOR,
        Action::Attested => REVIEWER,
        _ => SYNC,
    }
}

fn envelopes() -> Vec<Seed> {
    let mut out: Vec<Seed> = events()
        .into_iter()
        .map(|(name, e)| {
            let env = signed(signer_of(e.action()), EVENT_PAYLOAD_TYPE, e.encode_to_vec());
            seed("envelope", format!("event_{name}"), env.encode_to_vec())
        })
        .collect();
    for (name, action) in key_action_values() {
        let env = signed(fixtures::ADMIN, KEY_PAYLOAD_TYPE, action.encode_to_vec());
        out.push(seed("envelope", format!("key_{name}"), env.encode_to_vec()));
    }
    let (_, generated) = &events()[0];
    let unsigned = SignedEvent {
        payload: generated.encode_to_vec(),
        payload_type: EVENT_PAYLOAD_TYPE.into(),
        key_id: GENERATOR.into(),
        signature: Vec::new(),
    };
    out.push(seed(
        "envelope",
        "unsigned_generator",
        unsigned.encode_to_vec(),
    ));
    let dsse_example = SignedEvent {
        payload: b"hello world".to_vec(),
        payload_type: "http://example.com/HelloWorld".into(),
        key_id: fixtures::ADMIN.into(),
        signature: Vec::new(),
    };
    out.push(seed(
        "envelope",
        "dsse_spec_example",
        dsse_example.encode_to_vec(),
    ));
    out
}

fn key_action_values() -> Vec<(&'static str, KeyAction)> {
    let fresh =
        provledger::note::NoteSigner::from_seed("new-gen.fuzz/v2", &[9; 32]).expect("valid name");
    let mut register = fixtures::register_action(GENERATOR);
    if let Some(key_action::Action::Register(r)) = &mut register.action {
        r.vkey = fresh.verifier().to_vkey();
    }
    let revoke = |name: &str| KeyAction {
        action: Some(key_action::Action::Revoke(KeyRevocation {
            key_name: name.into(),
            reason: "rotated".into(),
        })),
    };
    vec![
        ("register_new_generator", register),
        ("register_existing_sync", fixtures::register_action(SYNC)),
        ("genesis_admin", fixtures::register_action(fixtures::ADMIN)),
        ("revoke_generator", revoke(GENERATOR)),
        ("revoke_unknown", revoke("nobody.fuzz")),
        ("empty", KeyAction::default()),
    ]
}

fn key_actions() -> Vec<Seed> {
    key_action_values()
        .into_iter()
        .map(|(name, a)| seed("key_action", name, a.encode_to_vec()))
        .collect()
}

fn published(key: &str) -> String {
    let json = include_str!("../../../tests/vectors/rfc6962-sha256.json");
    let v: serde_json::Value = serde_json::from_str(json).expect("the vectors are JSON");
    v["published"][key].as_str().unwrap_or_default().to_owned()
}

fn checkpoint(size: u64, root: Hash, extensions: &[&str]) -> Checkpoint {
    Checkpoint {
        origin: LOG.into(),
        size,
        root,
        extensions: extensions.iter().map(|e| e.to_string()).collect(),
    }
}

fn signed_note(cp: &Checkpoint) -> String {
    cp.sign(fixtures::log_signer()).expect("valid checkpoint")
}

fn checkpoint_notes() -> Vec<Seed> {
    let tree = tree(15);
    let root15 = root::<Blake3, _>(&tree.0, 15).expect("in memory");
    let cp = checkpoint(15, root15, &[]);
    let with_ext = checkpoint(15, root15, &["ext one", "ext: two"]);
    let empty = checkpoint(0, Blake3::empty_root(), &[]);
    let mut two_signers = signed_note(&cp);
    let other = fixtures::signers()[0]
        .sign(&cp.to_body())
        .expect("valid text");
    two_signers.push_str(&other[cp.to_body().len() + 1..]);
    let notes = [
        (
            "tessera_checkpoint",
            published("tessera_testdata_checkpoint"),
        ),
        ("tessera_vkey", published("tessera_testdata_vkey")),
        ("c2sp_note_example", published("c2sp_note_example")),
        ("c2sp_vkey", published("c2sp_note_example_vkey")),
        ("log_checkpoint_15", signed_note(&cp)),
        ("log_checkpoint_extensions", signed_note(&with_ext)),
        ("log_checkpoint_empty", signed_note(&empty)),
        ("two_signers", two_signers),
        ("body_only", cp.to_body()),
        ("log_vkey", fixtures::log_verifier().to_vkey()),
    ];
    notes
        .into_iter()
        .map(|(name, text)| seed("checkpoint_note", name, text.into_bytes()))
        .collect()
}

/// A BLAKE3 tree over `n` signed event leaves (`LogLeaf` bytes), with the leaves.
fn tree(n: u64) -> (MemoryTree, Vec<Vec<u8>>) {
    let leaves: Vec<Vec<u8>> = (0..n).map(log_leaf).collect();
    let hashes: Vec<Hash> = leaves.iter().map(|l| Blake3::hash_leaf(l)).collect();
    (MemoryTree::from_leaf_hashes::<Blake3>(&hashes), leaves)
}

fn leaf_event(i: u64) -> (ProvenanceEvent, &'static str) {
    let all = events();
    let (_, e) = &all[(i % 8) as usize];
    let mut e = e.clone();
    e.subject = Some(lead(100 + i));
    let key = signer_of(e.action());
    (e, key)
}

fn log_leaf(i: u64) -> Vec<u8> {
    let (event, key) = leaf_event(i);
    LogLeaf {
        envelope: Some(signed(key, EVENT_PAYLOAD_TYPE, event.encode_to_vec())),
        logged_at: Some(provledger::timestamp::Timestamp {
            seconds: 1_714_566_896 + i as i64,
            nanos: 0,
        }),
    }
    .encode_to_vec()
}

fn proofs() -> Vec<Seed> {
    let mut out = Vec::new();
    let (tree, leaves) = tree(15);
    for (index, size) in [(0, 1), (3, 8), (14, 15), (6, 7), (9, 13)] {
        let path = inclusion_proof::<Blake3, _>(&tree, index, size).expect("in range");
        let mut bytes = vec![0u8];
        bytes.extend(index.to_be_bytes());
        bytes.extend(size.to_be_bytes());
        bytes.push(7);
        bytes.extend(Blake3::hash_leaf(&leaves[index as usize]));
        path.iter().for_each(|h| bytes.extend(h));
        out.push(seed("proofs", format!("inclusion_{index}_{size}"), bytes));
    }
    for (first, second) in [(0, 5), (4, 8), (3, 15), (7, 7), (6, 13)] {
        let path = consistency_proof::<Blake3, _>(&tree, first, second).expect("in range");
        let mut bytes = vec![1u8];
        bytes.extend(first.to_be_bytes());
        bytes.extend(second.to_be_bytes());
        bytes.push(3);
        for size in [first, second] {
            bytes.extend(root::<Blake3, _>(&tree, size).expect("in memory"));
        }
        path.iter().for_each(|h| bytes.extend(h));
        out.push(seed(
            "proofs",
            format!("consistency_{first}_{second}"),
            bytes,
        ));
    }
    for (leaves, size, index, first) in [
        (15u64, 14u64, 9u64, 6u64),
        (64, 63, 0, 32),
        (300, 200, 150, 99),
    ] {
        let mut bytes = vec![2u8];
        for v in [leaves - 1, size - 1, index, first, 12345, 1] {
            bytes.extend(v.to_be_bytes());
        }
        out.push(seed("proofs", format!("real_tree_{leaves}"), bytes));
    }
    out
}

fn record_event(tree: &MemoryTree, leaves: &[Vec<u8>], index: u64, size: u64) -> RecordEvent {
    let (event, key) = leaf_event(index);
    let hashes = inclusion_proof::<Blake3, _>(tree, index, size).expect("in range");
    RecordEvent {
        index,
        leaf: leaves[index as usize].clone(),
        event: Some(event),
        key_id: key.into(),
        logged_at: None,
        origin_after: 0,
        proof: Some(InclusionProof {
            leaf_index: index,
            tree_size: size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }),
    }
}

fn proto_checkpoint(tree: &MemoryTree, size: u64) -> proto::Checkpoint {
    let root = root::<Blake3, _>(tree, size).expect("in memory");
    proto::Checkpoint {
        note: signed_note(&checkpoint(size, root, &[])),
        size,
        root_hash: root.to_vec(),
    }
}

fn lineage_answers() -> Vec<Seed> {
    let (tree, leaves) = tree(12);
    let size = 12;
    let events = |indexes: &[u64]| -> Vec<RecordEvent> {
        indexes
            .iter()
            .map(|&i| record_event(&tree, &leaves, i, size))
            .collect()
    };
    let history = HistoryResponse {
        tree_size: size,
        checkpoint: Some(proto_checkpoint(&tree, size)),
        events: events(&[0, 3, 11]),
        ..Default::default()
    };
    let trace = TraceResponse {
        checkpoint: Some(proto_checkpoint(&tree, size)),
        nodes: vec![
            TraceNode {
                events: events(&[2]),
                ..Default::default()
            },
            TraceNode {
                events: events(&[0, 1]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let receipt = |index: u64, size: u64| {
        let hashes = inclusion_proof::<Blake3, _>(&tree, index, size).expect("in range");
        AppendResponse {
            index,
            leaf_hash: Blake3::hash_leaf(&leaves[index as usize]).to_vec(),
            duplicate: false,
            checkpoint: Some(proto_checkpoint(&tree, size)),
            proof: Some(InclusionProof {
                leaf_index: index,
                tree_size: size,
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
            }),
        }
    };
    let with_mode = |mode: u8, message: Vec<u8>| {
        let mut bytes = vec![mode];
        bytes.extend(message);
        bytes
    };
    vec![
        seed(
            "lineage_answer",
            "history",
            with_mode(0, history.encode_to_vec()),
        ),
        seed(
            "lineage_answer",
            "trace",
            with_mode(1, trace.encode_to_vec()),
        ),
        seed(
            "lineage_answer",
            "receipt_7_of_12",
            with_mode(2, receipt(7, 12).encode_to_vec()),
        ),
        seed(
            "lineage_answer",
            "receipt_0_of_1",
            with_mode(2, receipt(0, 1).encode_to_vec()),
        ),
    ]
}

fn lineage_records() -> Vec<Seed> {
    let with_mode = |mode: u8, bytes: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(bytes);
        v
    };
    let state = EventState {
        roots: Roots::SYNTHETIC.union(Roots::REAL),
        tainted_in_production: true,
        declares_origin: false,
    };
    let link = Link {
        record: lead(1),
        environment: "production".into(),
    };
    let watermark = Watermark {
        indexed: 7,
        next_alert: 3,
    };
    let latest = Latest { index: 42, state };
    let links = Links::encode(&[(4, link.encode()), (9, link.encode())]);
    vec![
        seed(
            "lineage_records",
            "watermark",
            with_mode(0, &watermark.encode()),
        ),
        seed(
            "lineage_records",
            "event_state",
            with_mode(1, &state.encode()),
        ),
        seed("lineage_records", "latest", with_mode(2, &latest.encode())),
        seed("lineage_records", "link", with_mode(3, &link.encode())),
        seed("lineage_records", "links", with_mode(4, &links)),
        seed("lineage_records", "keyed", with_mode(5, &[3; 25])),
    ]
}

const CSV_COLUMNS: [&str; 10] = [
    "ID",
    "FIRSTNAME",
    "COMPANY",
    "IS_SYNTHETIC",
    "__SYNTHETIC_SOURCE",
    "__GENERATION_TIMESTAMP",
    "__PROVENANCE_HASH",
    "AI_MODEL",
    "AI_MODEL_VERSION",
    "LEADSOURCE",
];

fn csv_synthetic(i: u64) -> Vec<String> {
    vec![
        format!("00Q5g{i:010}"),
        format!("Person {i}"),
        "Acme, Inc.".into(),
        "true".into(),
        "synth-gen.acme".into(),
        "2024-05-01T12:34:56.000Z".into(),
        format!("{:064x}", i + 1),
        "lead-synth".into(),
        "3.0.0".into(),
        "Partner".into(),
    ]
}

fn csv_real(i: u64) -> Vec<String> {
    vec![
        format!("00Q5g{i:010}"),
        format!("Real {i}"),
        "Globex".into(),
        "false".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        "Web".into(),
    ]
}

/// A Data Loader style export, as `tests/import_csv.rs` writes them: every value quoted, `""`
/// escapes, CRLF rows.
fn export(rows: &[Vec<String>]) -> String {
    let quote = |values: &mut dyn Iterator<Item = &str>| {
        values
            .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut text = quote(&mut CSV_COLUMNS.iter().copied());
    text.push_str("\r\n");
    for row in rows {
        text.push_str(&quote(&mut row.iter().map(String::as_str)));
        text.push_str("\r\n");
    }
    text
}

fn csv_exports() -> Vec<Seed> {
    let mut first = csv_synthetic(0);
    first[1] = "Ada, \"the Countess\"\nof Lovelace".into();
    first[2] = "'=HYPERLINK(\"http://example.com\")".into();
    first[4] = "'@synth-gen.acme".into();
    first[9] = "'=cmd|' /C calc'!A0".into();
    let mut second = csv_real(1);
    second[1] = "two\r\nlines, \"quoted\"".into();
    second[3] = "No".into();
    second[9] = "'Web'".into();
    let mut third = csv_synthetic(2);
    third[0] = provledger::provenance::record::salesforce_id18("00Q5g0000000002", "record_id")
        .unwrap_or_default();
    third[3] = "1".into();
    let mut bad = csv_synthetic(3);
    bad[3] = "maybe".into();
    let missing = "\"ID\",\"IS_SYNTHETIC\",\"__SYNTHETIC_SOURCE\",\"__GENERATION_TIMESTAMP\"\r\n\
                   \"00Q5g0000000001\",\"true\",\"synth-gen.acme\",\"2024-05-01T12:34:56Z\"\r\n";
    let plain = "Id,is_synthetic,__synthetic_source,__generation_timestamp,__provenance_hash,\
                 ai_model_version\n00Q5g0000000009,yes,gen,2024-05-01 12:34:56+02:00,ab,1\n";
    let files = [
        // flags: 1 = --attribute LeadSource, 2 = --model, 4 = production.
        ("guards_and_multiline", 1u8, export(&[first, second, third])),
        (
            "mixed_rows",
            3,
            export(&[csv_synthetic(4), csv_real(5), csv_synthetic(6)]),
        ),
        ("bad_flag_on_line_3", 1, export(&[csv_synthetic(7), bad])),
        ("production_generator", 4, export(&[csv_synthetic(8)])),
        ("missing_columns", 0, missing.to_string()),
        ("lower_case_unquoted_with_model", 2, plain.to_string()),
    ];
    files
        .into_iter()
        .map(|(name, flags, text)| {
            let mut bytes = vec![flags];
            bytes.extend(text.into_bytes());
            seed("csv_import", name, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The seeds are worth fuzzing from: they get past the checks a random input cannot.
    use super::*;
    use provledger::csvimport::{ImportOptions, RowReader};
    use provledger::ledger::{AdmissionLimits, admit};

    #[test]
    fn valid_event_envelopes_are_admitted() {
        for (name, e) in events() {
            let env = signed(signer_of(e.action()), EVENT_PAYLOAD_TYPE, e.encode_to_vec());
            let admitted = admit(Some(env), fixtures::registry(), &AdmissionLimits::default());
            let expected = !matches!(name, "broken_rules" | "empty");
            assert_eq!(admitted.is_ok(), expected, "{name}: {:?}", admitted.err());
        }
    }

    #[test]
    fn checkpoint_seeds_open_and_answers_verify() {
        let v = fixtures::log_verifier();
        let cp = checkpoint_notes();
        let note = |name: &str| {
            let s = cp.iter().find(|s| s.name == name).expect("seed");
            String::from_utf8(s.bytes.clone()).expect("UTF-8")
        };
        for name in [
            "log_checkpoint_15",
            "log_checkpoint_extensions",
            "two_signers",
        ] {
            assert!(
                provledger::checkpoint::open_checkpoint(&note(name), &v).is_ok(),
                "{name}"
            );
        }
        for s in lineage_answers() {
            let rest = &s.bytes[1..];
            let ok = match s.bytes[0] {
                0 => {
                    let a = HistoryResponse::decode(rest).expect("decodes");
                    provledger::client::verify_events(&a.events, a.checkpoint.as_ref(), &v).is_ok()
                }
                1 => {
                    let a = TraceResponse::decode(rest).expect("decodes");
                    let events: Vec<RecordEvent> =
                        a.nodes.into_iter().flat_map(|n| n.events).collect();
                    provledger::client::verify_events(&events, a.checkpoint.as_ref(), &v).is_ok()
                }
                _ => {
                    let a = AppendResponse::decode(rest).expect("decodes");
                    provledger::client::verify_receipt(&a, &v).is_ok()
                }
            };
            assert!(ok, "{}", s.name);
        }
    }

    #[test]
    fn csv_seeds_map_their_good_rows() {
        let rows = |name: &str| {
            let s = csv_exports()
                .into_iter()
                .find(|s| s.name == name)
                .expect("seed");
            let options = ImportOptions {
                tenant: TENANT.into(),
                object_type: "Lead".into(),
                attributes: vec!["LeadSource".into()],
                ..Default::default()
            }
            .normalised()
            .expect("valid");
            let mut reader = RowReader::new(&s.bytes[1..], &options).expect("header");
            let mut lines = Vec::new();
            while let Ok(Some((line, _))) = reader.next_event(&options) {
                lines.push(line);
            }
            lines
        };
        assert_eq!(rows("guards_and_multiline"), [2, 4, 6]);
        assert_eq!(rows("bad_flag_on_line_3"), [2]);
    }
}
