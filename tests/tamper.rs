//! Tamper detection through the real binary: one byte is flipped offline — in a stored leaf
//! (in the leaf files), a tree node (in its node file) or a checkpoint (through sled) — and
//! `provledger audit --data DIR` must name the exact index and what is wrong; `provledger
//! serve` must refuse a store whose open-time check fails, and say so.
//!
//! The library-level detection is in `tests/store.rs`; a store rolled back to an earlier copy,
//! caught by a client holding a later checkpoint, is in `tests/auditor.rs`.

mod common;

use common::damage::flip_leaf_byte;
use common::*;
use provledger::datadir::DataDir;
use provledger::ledger::LedgerConfig;
use provledger::proto::Role;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Entries in the test log: genesis, the generator's registration, then events.
const SIZE: u64 = 302;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A data directory with `SIZE` entries, each appended on its own, the server stopped cleanly.
fn populated() -> (tempfile::TempDir, DataDir) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let server = TestServer::start(LedgerConfig::default()).await;
        let generator = server.register("gen.test/tamper", Role::Generator).await;
        let mut client = server.client().await;
        for i in 0..SIZE - 2 {
            client
                .append(request(signed(&generator, &generated_event(i))))
                .await
                .unwrap();
        }
        let (dir, tmp) = server.stop().await;
        (tmp.unwrap(), dir)
    })
}

fn sled_key(prefix: u8, n: u64) -> Vec<u8> {
    let mut key = vec![prefix];
    key.extend(n.to_be_bytes());
    key
}

/// Flips the last byte of the sled value under `key`.
fn flip_last_byte(store: &Path, key: &[u8]) {
    let db = sled::open(store).unwrap();
    let mut value = db.get(key).unwrap().unwrap().to_vec();
    let last = value.len() - 1;
    value[last] ^= 0x01;
    db.insert(key, value).unwrap();
    db.flush().unwrap();
}

fn flip_node_byte(store: &Path, level: u8, index: u64) {
    let path = store.join("tree").join(format!("level-{level:02}"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[index as usize * 32 + 7] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
}

fn provledger(args: &[&str], data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_provledger"));
    command.args(args).arg("--data").arg(data);
    command
}

/// `provledger audit`, which must fail; returns (stdout, stderr).
fn failing_audit(data: &Path) -> (String, String) {
    let out = provledger(&["audit"], data).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "the audit passed: {stdout}{stderr}");
    assert!(stderr.contains("audit failed"), "{stderr}");
    (stdout, stderr)
}

/// `provledger serve`, which must exit on its own, with an error, without listening.
fn refused_serve(data: &Path) -> Output {
    let mut child = provledger(&["serve", "--listen", "127.0.0.1:0"], data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server started on a damaged store");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(!text(&out.stdout).contains("listening on"));
    out
}

#[test]
fn the_audit_names_a_flipped_leaf_byte() {
    let (_tmp, dir) = populated();
    flip_leaf_byte(&dir.store(), 150);
    let (stdout, stderr) = failing_audit(&dir.root);
    let line = "leaf 150: its stored bytes do not hash to the tree's leaf hash";
    assert_eq!(stdout.lines().next(), Some(line), "{stdout}");
    assert!(stderr.contains(line), "{stderr}");
}

#[test]
fn the_audit_names_a_flipped_inner_node() {
    let (_tmp, dir) = populated();
    // Node 3 of level 2 covers leaves 12..15: inside the tree, off its right edge.
    flip_node_byte(&dir.store(), 2, 3);
    let (stdout, _) = failing_audit(&dir.root);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        vec![
            "tree node level 2 index 3 (leaves 12..): stored hash differs from the hash \
             recomputed from the leaves"
        ],
        "{stdout}"
    );
}

#[test]
fn the_server_refuses_a_store_whose_latest_checkpoint_was_flipped() {
    let (_tmp, dir) = populated();
    flip_last_byte(&dir.store(), &sled_key(b'c', SIZE));
    let out = refused_serve(&dir.root);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("refusing to serve") && stderr.contains("failed its open-time check"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("checkpoint at size {SIZE}")),
        "{stderr}"
    );
    // The audit still opens the store, and names the checkpoint.
    let (stdout, _) = failing_audit(&dir.root);
    assert!(
        stdout.contains("the open-time check fails (the server refuses this store)"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("checkpoint at size {SIZE}: "))),
        "{stdout}"
    );
}

#[test]
fn the_server_refuses_a_store_whose_right_edge_node_was_flipped() {
    let (_tmp, dir) = populated();
    // 302 = 256 + 32 + 8 + 4 + 2: node 150 of level 1 (leaves 300..301) is on the right edge,
    // which the open-time check recomputes the latest root from.
    flip_node_byte(&dir.store(), 1, 150);
    let out = refused_serve(&dir.root);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("failed its integrity check") && stderr.contains("refusing to serve"),
        "{stderr}"
    );
    let (stdout, _) = failing_audit(&dir.root);
    assert!(
        stdout.lines().any(|l| l
            == "tree node level 1 index 150 (leaves 300..): stored hash differs from the hash \
                recomputed from the leaves"),
        "{stdout}"
    );
}
