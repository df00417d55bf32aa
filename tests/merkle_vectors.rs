//! The tree shape and proof algorithms checked against fixed vectors: the published RFC 6962
//! SHA-256 vectors (independent of this code) and provledger's own BLAKE3 golden vectors.
//!
//! Regenerate the BLAKE3 file with `PROVLEDGER_WRITE_VECTORS=1 cargo test --test merkle_vectors`;
//! a regenerated file must never change existing values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use provledger::merkle::{
    Blake3, Hash, MemoryTree, Sha256, TreeHasher, consistency_proof, inclusion_proof, root,
    verify_consistency, verify_inclusion,
};
use serde_json::{Value, json};

fn b64(s: &Value) -> Hash {
    let bytes = B64.decode(s.as_str().unwrap()).unwrap();
    bytes.try_into().unwrap()
}

fn b64_list(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(b64).collect()
}

fn sha_vectors() -> Value {
    serde_json::from_str(include_str!("vectors/rfc6962-sha256.json")).unwrap()
}

fn sha_tree(v: &Value) -> (Vec<Hash>, MemoryTree) {
    let leaves: Vec<Hash> = v["leaves_utf8"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Sha256::hash_leaf(l.as_str().unwrap().as_bytes()))
        .collect();
    let tree = MemoryTree::from_leaf_hashes::<Sha256>(&leaves);
    (leaves, tree)
}

#[test]
fn sha256_roots_match_rfc6962_vectors() {
    let v = sha_vectors();
    let (_, tree) = sha_tree(&v);
    for (size, expected) in v["roots"].as_object().unwrap() {
        let size: u64 = size.parse().unwrap();
        assert_eq!(
            root::<Sha256, _>(&tree, size).unwrap(),
            b64(expected),
            "size {size}"
        );
    }
}

#[test]
fn sha256_inclusion_proofs_match_and_verify() {
    let v = sha_vectors();
    let (leaves, tree) = sha_tree(&v);
    let cases = v["inclusion"].as_array().unwrap();
    assert_eq!(cases.len(), 120);
    for case in cases {
        let index = case["leaf_index"].as_u64().unwrap();
        let size = case["tree_size"].as_u64().unwrap();
        let expected = b64_list(&case["path"]);
        assert_eq!(b64(&case["leaf_hash"]), leaves[index as usize]);
        let proof = inclusion_proof::<Sha256, _>(&tree, index, size).unwrap();
        assert_eq!(proof, expected, "index {index} size {size}");
        let root_hash = b64(&v["roots"][size.to_string()]);
        verify_inclusion::<Sha256>(index, size, &leaves[index as usize], &expected, &root_hash)
            .unwrap();
    }
}

#[test]
fn sha256_consistency_proofs_match_and_verify() {
    let v = sha_vectors();
    let (_, tree) = sha_tree(&v);
    let cases = v["consistency"].as_array().unwrap();
    assert_eq!(cases.len(), 120);
    for case in cases {
        let first = case["first_size"].as_u64().unwrap();
        let second = case["second_size"].as_u64().unwrap();
        let expected = b64_list(&case["path"]);
        let proof = consistency_proof::<Sha256, _>(&tree, first, second).unwrap();
        assert_eq!(proof, expected, "{first} -> {second}");
        let r1 = b64(&v["roots"][first.to_string()]);
        let r2 = b64(&v["roots"][second.to_string()]);
        verify_consistency::<Sha256>(first, second, &r1, &r2, &expected).unwrap();
    }
}

const GOLDEN_SIZE: u64 = 64;
const INCLUSION_CASES: [(u64, u64); 10] = [
    (0, 1),
    (0, 2),
    (1, 2),
    (2, 3),
    (5, 7),
    (6, 7),
    (0, 13),
    (12, 13),
    (31, 33),
    (63, 64),
];
const CONSISTENCY_CASES: [(u64, u64); 9] = [
    (1, 2),
    (1, 3),
    (2, 3),
    (3, 7),
    (4, 7),
    (6, 13),
    (13, 32),
    (32, 33),
    (37, 64),
];

/// Golden leaf `i` is the UTF-8 string `leaf-<i>`.
fn golden_leaves() -> Vec<Hash> {
    (0..GOLDEN_SIZE)
        .map(|i| Blake3::hash_leaf(format!("leaf-{i}").as_bytes()))
        .collect()
}

fn golden_json() -> Value {
    let leaves = golden_leaves();
    let tree = MemoryTree::from_leaf_hashes::<Blake3>(&leaves);
    let enc = |h: &Hash| Value::String(B64.encode(h));
    let roots: serde_json::Map<String, Value> = (0..=GOLDEN_SIZE)
        .map(|n| (n.to_string(), enc(&root::<Blake3, _>(&tree, n).unwrap())))
        .collect();
    let inclusion: Vec<Value> = INCLUSION_CASES
        .iter()
        .map(|&(i, n)| {
            let path = inclusion_proof::<Blake3, _>(&tree, i, n).unwrap();
            json!({"leaf_index": i, "tree_size": n, "leaf_hash": enc(&leaves[i as usize]),
                   "path": path.iter().map(enc).collect::<Vec<_>>()})
        })
        .collect();
    let consistency: Vec<Value> = CONSISTENCY_CASES
        .iter()
        .map(|&(m, n)| {
            let path = consistency_proof::<Blake3, _>(&tree, m, n).unwrap();
            json!({"first_size": m, "second_size": n,
                   "path": path.iter().map(enc).collect::<Vec<_>>()})
        })
        .collect();
    json!({
        "description": "provledger BLAKE3-256 Merkle vectors: leaf hash BLAKE3(0x00||leaf), node hash BLAKE3(0x01||left||right), empty root BLAKE3(''), RFC 9162 tree shape. Leaf i is the UTF-8 string 'leaf-<i>'. Proof hashes bottom-up (RFC 9162 order), base64.",
        "hash": "blake3",
        "leaves_utf8": (0..GOLDEN_SIZE).map(|i| format!("leaf-{i}")).collect::<Vec<_>>(),
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
    })
}

#[test]
fn blake3_golden_vectors_are_stable() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/blake3-golden.json"
    );
    let fresh = golden_json();
    if std::env::var_os("PROVLEDGER_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&fresh).unwrap() + "\n";
        std::fs::write(path, text).unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        stored, fresh,
        "golden vectors changed: the tree hash or shape moved"
    );
}

#[test]
fn blake3_golden_proofs_verify() {
    let v: Value = serde_json::from_str(include_str!("vectors/blake3-golden.json")).unwrap();
    for case in v["inclusion"].as_array().unwrap() {
        let (i, n) = (
            case["leaf_index"].as_u64().unwrap(),
            case["tree_size"].as_u64().unwrap(),
        );
        let r = b64(&v["roots"][n.to_string()]);
        verify_inclusion::<Blake3>(i, n, &b64(&case["leaf_hash"]), &b64_list(&case["path"]), &r)
            .unwrap();
    }
    for case in v["consistency"].as_array().unwrap() {
        let (m, n) = (
            case["first_size"].as_u64().unwrap(),
            case["second_size"].as_u64().unwrap(),
        );
        let (r1, r2) = (
            b64(&v["roots"][m.to_string()]),
            b64(&v["roots"][n.to_string()]),
        );
        verify_consistency::<Blake3>(m, n, &r1, &r2, &b64_list(&case["path"])).unwrap();
    }
}
