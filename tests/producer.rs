//! `provledger sign` and `provledger append` as a producer runs them: the real binary against a
//! real server on 127.0.0.1, with events written as JSON by hand and by the protobuf JSON
//! mapping, NDJSON, pretty-printed documents, envelopes signed elsewhere, and a bad document.

mod common;

use common::{TestServer, generated_event, run_cli};
use prost::Message;
use provledger::envelope::verify;
use provledger::json::DsseEnvelope;
use provledger::ledger::LedgerConfig;
use provledger::proto::{GetEntriesRequest, LogLeaf, ProvenanceEvent, Role, SignedEvent};
use std::path::PathBuf;

/// A server with a generator key written to a key file.
struct Setup {
    server: TestServer,
    tmp: tempfile::TempDir,
    key: PathBuf,
    signer: provledger::note::NoteSigner,
}

impl Setup {
    async fn new() -> Setup {
        let server = TestServer::start(LedgerConfig::default()).await;
        let signer = server.register("synth-gen.json/v1", Role::Generator).await;
        let tmp = tempfile::tempdir().unwrap();
        let key = tmp.path().join("gen.key");
        provledger::keyfile::write(&key, &signer).unwrap();
        Setup {
            server,
            tmp,
            key,
            signer,
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn size(&self) -> u64 {
        self.server.ledger.store().size()
    }

    async fn entries(&self, start: u64, count: u64) -> Vec<SignedEvent> {
        let answer = self
            .server
            .client()
            .await
            .get_entries(GetEntriesRequest { start, count })
            .await
            .unwrap()
            .into_inner();
        answer
            .entries
            .iter()
            .map(|e| {
                LogLeaf::decode(e.leaf.as_slice())
                    .unwrap()
                    .envelope
                    .unwrap()
            })
            .collect()
    }
}

/// A GENERATED event written by hand, with proto field names in both styles.
const HAND_WRITTEN: &str = r#"{
  "subject": {"system": "salesforce", "tenant": "00D000000000001EAA",
              "object_type": "Lead", "recordId": "00Q000000000777"},
  "action": "GENERATED",
  "origin": "SYNTHETIC",
  "environment": "sandbox",
  "generator": {"source": "synth-gen.test", "model": "lead-gen", "modelVersion": "3.0"},
  "digitalSourceType": "http://c2pa.org/digitalsourcetype/trainedAlgorithmicData",
  "occurredAt": "2026-11-20T09:30:00Z",
  "attributes": {"__synthetic_source": "lead-gen"}
}
"#;

fn ndjson(events: impl IntoIterator<Item = ProvenanceEvent>) -> String {
    events
        .into_iter()
        .map(|e| serde_json::to_string(&e).unwrap() + "\n")
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_then_append_envelopes_exactly_as_signed() {
    let s = Setup::new().await;
    let input = format!("{HAND_WRITTEN}{}", ndjson((1..=2).map(generated_event)));
    let file = s.file("events.json", &input);
    let out = run_cli(&["sign", &file, "--key", s.key.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let envelopes: Vec<SignedEvent> = stdout
        .lines()
        .map(|l| {
            let dsse: DsseEnvelope = serde_json::from_str(l).unwrap();
            dsse.to_signed(1).unwrap()
        })
        .collect();
    assert_eq!(envelopes.len(), 3);
    for envelope in &envelopes {
        verify(envelope, &s.signer.verifier()).unwrap();
    }
    let first = ProvenanceEvent::decode(envelopes[0].payload.as_slice()).unwrap();
    assert_eq!(first.subject.as_ref().unwrap().record_id, "00Q000000000777");
    assert_eq!(first.attributes["__synthetic_source"], "lead-gen");
    assert_eq!(first.occurred_at.unwrap().seconds, 1_795_167_000);
    let second = ProvenanceEvent::decode(envelopes[1].payload.as_slice()).unwrap();
    assert_eq!(second, generated_event(1));

    let before = s.size();
    let vkey = s.server.log_key.to_vkey();
    let args = [
        "append",
        "-",
        "--server",
        &s.server.url,
        "--log-key",
        &vkey,
        "--json",
    ];
    let out = run_cli(&args, Some(&stdout)).await;
    assert!(out.status.success(), "{out:?}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["events_read"], 3);
    assert_eq!(summary["appended"], 3);
    assert_eq!(summary["first_index"], before);
    assert_eq!(s.entries(before, 3).await, envelopes);

    // The same envelopes again: answered as duplicates, nothing new in the log.
    let out = run_cli(&args, Some(&stdout)).await;
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["appended"].clone(), summary["duplicates"].clone()),
        (0.into(), 3.into())
    );
    assert_eq!(s.size(), before + 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn append_signs_events_and_stops_at_a_bad_one_naming_line_and_field() {
    let s = Setup::new().await;
    let mut bad = generated_event(3);
    bad.generator = None;
    let input = ndjson([
        generated_event(1),
        generated_event(2),
        bad,
        generated_event(4),
    ]);
    let file = s.file("events.ndjson", &input);
    let before = s.size();
    let key = s.key.to_str().unwrap();
    let out = run_cli(
        &["append", &file, "--server", &s.server.url, "--key", key],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: event.payload.generator"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("3 events read: 2 appended"), "{stdout}");
    // Nothing of the bad event or after it was sent.
    assert_eq!(s.size(), before + 2);

    // Fixed and run again: the first two are duplicates, the rest appended.
    let fixed = ndjson((1..=4).map(generated_event));
    let out = run_cli(
        &["append", "-", "--server", &s.server.url, "--key", key],
        Some(&fixed),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("4 events read: 2 appended"), "{stdout}");
    assert!(stdout.contains("2 already in the log"), "{stdout}");
    assert_eq!(s.size(), before + 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn unusable_input_is_refused_before_anything_is_sent() {
    let s = Setup::new().await;
    let before = s.size();
    let url = s.server.url.clone();
    let cases: [(&str, Vec<&str>, &str); 4] = [
        (
            "{\"subject\": {\"recordId\": 5}}\n",
            vec![],
            "line 1: subject.recordId: invalid type",
        ),
        (
            "{\"action\": \"GENERATED\",\n",
            vec![],
            "line 1: the input ends",
        ),
        (
            HAND_WRITTEN,
            vec!["--no-key"],
            "line 1: an unsigned event needs --key",
        ),
        (
            "{\"payloadType\": \"x\", \"payload\": \"%%\", \"signatures\": [{\"keyid\": \"k\", \"sig\": \"\"}]}",
            vec![],
            "line 1: payload: not base64",
        ),
    ];
    for (input, flags, expected) in cases {
        let key = s.key.to_str().unwrap();
        let mut args = vec!["append", "-", "--server", &url];
        if flags.is_empty() {
            args.extend(["--key", key]);
        }
        let out = run_cli(&args, Some(input)).await;
        assert_eq!(out.status.code(), Some(1), "{input}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{input}: {stderr}");
    }
    // `sign` refuses envelopes and bad events alike.
    let out = run_cli(
        &["sign", "--key", s.key.to_str().unwrap()],
        Some("{\"payloadType\": \"x\", \"payload\": \"\", \"signatures\": [{\"keyid\": \"k\", \"sig\": \"\"}]}"),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: already a signed envelope"));
    assert_eq!(s.size(), before);
}
