//! `provledger import-csv` as a user runs it: the real binary against a real server on
//! 127.0.0.1, with Data Loader style exports (upper-case headers, every value quoted, `""`
//! escapes, line breaks inside values, the `'` formula guard).

mod common;

use common::TestServer;
use prost::Message;
use provledger::ledger::{AdmissionLimits, LedgerConfig};
use provledger::proto::{
    Action, GetEntriesRequest, LogLeaf, Origin, ProvenanceEvent, Role, SignedEvent,
};
use provledger::provenance::record::salesforce_id18;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const TENANT: &str = "00D5g000004ABCD";
const GENERATOR: &str = "synth-gen.csv/v1";
const SYNC: &str = "crm-sync.csv/v1";

const COLUMNS: [&str; 10] = [
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

/// A server with a sandbox generator key and a sync-job key, both written to key files.
struct Setup {
    server: TestServer,
    tmp: tempfile::TempDir,
    generator: PathBuf,
    sync: PathBuf,
}

impl Setup {
    async fn new(config: LedgerConfig) -> Setup {
        let server = TestServer::start(config).await;
        let tmp = tempfile::tempdir().unwrap();
        let generator = server
            .register_scoped(
                GENERATOR,
                Role::Generator,
                &[Origin::Synthetic],
                &["sandbox"],
            )
            .await;
        let sync = server
            .register_scoped(SYNC, Role::SyncJob, &[Origin::Real], &[])
            .await;
        let write = |name: &str, key| {
            let path = tmp.path().join(name);
            provledger::keyfile::write(&path, key).unwrap();
            path
        };
        let generator = write("gen.key", &generator);
        let sync = write("sync.key", &sync);
        Setup {
            server,
            tmp,
            generator,
            sync,
        }
    }

    fn size(&self) -> u64 {
        self.server.ledger.store().size()
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `import-csv FILE --server … --object Lead --tenant …` plus `extra`.
    async fn import(&self, file: &Path, extra: &[&str]) -> Output {
        self.import_with_input(file.to_str().unwrap(), None, extra)
            .await
    }

    async fn import_with_input(&self, file: &str, stdin: Option<&str>, extra: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_provledger"));
        command
            .args([
                "import-csv",
                file,
                "--server",
                &self.server.url,
                "--object",
                "Lead",
                "--tenant",
                TENANT,
            ])
            .args(extra)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        child.wait_with_output().await.unwrap()
    }

    fn keys(&self) -> Vec<String> {
        vec![
            "--key".into(),
            self.generator.to_str().unwrap().into(),
            "--key".into(),
            self.sync.to_str().unwrap().into(),
        ]
    }

    /// The events at indexes `start..start + count`, with their signers.
    async fn events(&self, start: u64, count: u64) -> Vec<(String, ProvenanceEvent)> {
        let mut client = self.server.client().await;
        let mut out = Vec::new();
        while (out.len() as u64) < count {
            let entries = client
                .get_entries(GetEntriesRequest {
                    start: start + out.len() as u64,
                    count: count - out.len() as u64,
                })
                .await
                .unwrap()
                .into_inner()
                .entries;
            assert!(!entries.is_empty());
            for entry in entries {
                let leaf = LogLeaf::decode(entry.leaf.as_slice()).unwrap();
                let envelope: SignedEvent = leaf.envelope.unwrap();
                let event = ProvenanceEvent::decode(envelope.payload.as_slice()).unwrap();
                out.push((envelope.key_id, event));
            }
        }
        out
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(o), stderr(o)))
}

fn lead_id(i: u64) -> String {
    format!("00Q5g{i:010}")
}

fn id18(i: u64) -> String {
    salesforce_id18(&lead_id(i), "record_id").unwrap()
}

fn synthetic(i: u64) -> Vec<String> {
    vec![
        lead_id(i),
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

fn real(i: u64) -> Vec<String> {
    vec![
        lead_id(i),
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

/// A Data Loader style export: the header and every value quoted, `""` escapes, CRLF rows.
fn export(rows: &[Vec<String>]) -> String {
    let quote = |values: &mut dyn Iterator<Item = &str>| {
        values
            .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut text = quote(&mut COLUMNS.iter().copied());
    text.push_str("\r\n");
    for row in rows {
        text.push_str(&quote(&mut row.iter().map(String::as_str)));
        text.push_str("\r\n");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_values_guards_and_upper_case_headers_become_signed_events() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let mut first = synthetic(0);
    first[1] = "Ada, \"the Countess\"\nof Lovelace".into();
    first[2] = "'=HYPERLINK(\"http://example.com\")".into();
    first[4] = "'@synth-gen.acme".into();
    first[9] = "'=cmd|' /C calc'!A0".into();
    let mut second = real(1);
    second[1] = "two\r\nlines, \"quoted\"".into();
    second[3] = "No".into();
    second[9] = "'Web'".into();
    let mut third = synthetic(2);
    third[0] = id18(2);
    third[3] = "1".into();
    let file = s.file("leads.csv", &export(&[first, second, third]));
    let mut args = s.keys();
    args.extend(["--attribute".into(), "LeadSource".into(), "--json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = s.import(&file, &args).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["rows_read"], 3);
    assert_eq!(summary["appended"], 3);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["first_index"], before);
    assert_eq!(summary["last_index"], before + 2);
    assert_eq!(s.size(), before + 3);

    let events = s.events(before, 3).await;
    let (key, e) = &events[0];
    assert_eq!(key, GENERATOR);
    assert_eq!(e.action(), Action::Generated);
    assert_eq!(e.origin(), Origin::Synthetic);
    let subject = e.subject.clone().unwrap();
    assert_eq!(
        (
            subject.system.as_str(),
            subject.object_type.as_str(),
            subject.record_id.clone()
        ),
        ("salesforce", "Lead", id18(0))
    );
    assert_eq!(subject.tenant, salesforce_id18(TENANT, "tenant").unwrap());
    let generator = e.generator.clone().unwrap();
    assert_eq!(generator.source, "@synth-gen.acme");
    assert_eq!(generator.model, "lead-synth");
    assert_eq!(generator.model_version, "3.0.0");
    assert_eq!(e.attributes.len(), 1);
    assert_eq!(e.attributes["LeadSource"], "=cmd|' /C calc'!A0");
    assert_eq!(e.content_hash, {
        let mut h = vec![0u8; 31];
        h.push(1);
        h
    });
    assert_eq!(e.environment, "sandbox");
    assert!(e.external_id.starts_with(&format!("csv:Lead:{}:", id18(0))));

    let (key, e) = &events[1];
    assert_eq!(key, SYNC);
    assert_eq!(e.action(), Action::Captured);
    assert_eq!(e.origin(), Origin::Real);
    assert_eq!(e.generator, None);
    // Only the guard before a formula character goes.
    assert_eq!(e.attributes["LeadSource"], "'Web'");

    let (key, e) = &events[2];
    assert_eq!(key, GENERATOR);
    assert_eq!(e.subject.clone().unwrap().record_id, id18(2));

    // The record's content never reaches the log.
    let mut client = s.server.client().await;
    let leaves = client
        .get_entries(GetEntriesRequest {
            start: before,
            count: 3,
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    for entry in leaves {
        for content in [
            &b"Lovelace"[..],
            b"Acme",
            b"Globex",
            b"HYPERLINK",
            b"quoted",
        ] {
            assert!(
                !entry.leaf.windows(content.len()).any(|w| w == content),
                "{:?} in the log",
                String::from_utf8_lossy(content)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_row_stops_at_its_line_and_a_rerun_appends_the_rest() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let mut rows: Vec<Vec<String>> = (0..10).map(synthetic).collect();
    // Row 1 spans lines 3-4, so the bad row 2 starts on line 5.
    rows[1][1] = "first line\nsecond line".into();
    rows[2][3] = "maybe".into();
    rows[6] = real(6);
    let file = s.file("leads.csv", &export(&rows));
    let keys = s.keys();
    let args: Vec<&str> = keys.iter().map(String::as_str).collect();
    let o = s.import(&file, &args).await;
    assert!(!o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o)
            .contains("line 5: column IS_SYNTHETIC: \"maybe\" is not true, false, 1, 0, yes or no"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).starts_with("3 rows read: 2 appended"),
        "{}",
        stdout(&o)
    );
    // Exactly the rows before the bad one, and nothing arrives later.
    assert_eq!(s.size(), before + 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.size(), before + 2);
    let ids: Vec<String> = s
        .events(before, 2)
        .await
        .into_iter()
        .map(|(_, e)| e.subject.unwrap().record_id)
        .collect();
    assert_eq!(ids, vec![id18(0), id18(1)]);

    // Fixed, the same file continues where it stopped.
    rows[2][3] = "TRUE".into();
    let file = s.file("leads.csv", &export(&rows));
    let mut args = args.clone();
    args.push("--json");
    let o = s.import(&file, &args).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["rows_read"], 10);
    assert_eq!(summary["appended"], 8);
    assert_eq!(summary["duplicates"], 2);
    assert_eq!(summary["first_index"], before + 2);
    assert_eq!(summary["last_index"], before + 9);
    assert_eq!(s.size(), before + 10);
    let events = s.events(before, 10).await;
    let ids: Vec<String> = events
        .iter()
        .map(|(_, e)| e.subject.clone().unwrap().record_id)
        .collect();
    assert_eq!(ids, (0..10).map(id18).collect::<Vec<_>>());
    assert_eq!(events[6].0, SYNC);

    // A third run finds everything in the log.
    let o = s.import(&file, &args).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(
        (summary["appended"].as_u64(), summary["duplicates"].as_u64()),
        (Some(0), Some(10))
    );
    assert_eq!(summary["first_index"], serde_json::Value::Null);
    assert_eq!(s.size(), before + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_in_flight_before_a_bad_row_are_acknowledged_before_the_exit() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let mut rows: Vec<Vec<String>> = (0..5100).map(synthetic).collect();
    rows[5000][6] = "not-hex".into();
    let file = s.file("leads.csv", &export(&rows));
    let o = s
        .import(
            &file,
            &[
                "--key",
                s.generator.to_str().unwrap(),
                "--batch",
                "700",
                "--json",
            ],
        )
        .await;
    assert!(!o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["appended"], 5000);
    assert_eq!(summary["rows_read"], 5001);
    // The header is line 1, so row 5000 (0-based) is on line 5002.
    assert_eq!(summary["error"]["line"], 5002);
    assert_eq!(summary["error"]["column"], "__PROVENANCE_HASH");
    let message = summary["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "line 5002: column __PROVENANCE_HASH: 'n' at position 1 is not a hex digit"
        ),
        "{message}"
    );
    assert!(stderr(&o).contains(message), "{}", stderr(&o));
    assert_eq!(s.size(), before + 5000);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.size(), before + 5000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_rows_import() {
    const ROWS: u64 = 100_000;
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let rows: Vec<Vec<String>> = (0..ROWS)
        .map(|i| if i % 10 == 9 { real(i) } else { synthetic(i) })
        .collect();
    let file = s.file("leads.csv", &export(&rows));
    let mut args = s.keys();
    args.push("--json".into());
    // Every receipt is verified against the log key.
    args.push("--log-key".into());
    args.push(s.server.dir.log_vkey().to_str().unwrap().into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let o = s.import(&file, &args).await;
    let took = started.elapsed();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["rows_read"], ROWS);
    assert_eq!(summary["appended"], ROWS);
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(s.size(), before + ROWS);
    eprintln!(
        "imported {ROWS} rows in {:.1} s ({:.0} rows/s)",
        took.as_secs_f64(),
        ROWS as f64 / took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_input_and_the_json_summary() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let text = export(&(0..50).map(synthetic).collect::<Vec<_>>());
    let gen_key = s.generator.to_str().unwrap();
    let o = s
        .import_with_input("-", Some(&text), &["--key", gen_key, "--json"])
        .await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let summary = json(&o);
    let fields: Vec<&str> = summary
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for field in [
        "ok",
        "rows_read",
        "appended",
        "duplicates",
        "first_index",
        "last_index",
        "elapsed_seconds",
        "error",
    ] {
        assert!(fields.contains(&field), "{field} missing from {summary}");
    }
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["error"], serde_json::Value::Null);
    assert_eq!(summary["rows_read"], 50);
    assert_eq!(summary["appended"], 50);
    assert_eq!(summary["first_index"], before);
    assert_eq!(summary["last_index"], before + 49);
    assert!(summary["elapsed_seconds"].as_f64().unwrap() > 0.0);
    // No progress bar when stderr is not a terminal.
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_column_fails_at_the_header() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let text = "\"ID\",\"IS_SYNTHETIC\",\"__SYNTHETIC_SOURCE\",\"__GENERATION_TIMESTAMP\"\r\n\
                \"00Q5g0000000001\",\"true\",\"synth-gen.acme\",\"2024-05-01T12:34:56Z\"\r\n";
    let file = s.file("short.csv", text);
    let gen_key = s.generator.to_str().unwrap();
    let o = s
        .import(&file, &["--key", gen_key, "--attribute", "LeadSource"])
        .await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            "line 1: the header is missing columns: __PROVENANCE_HASH, AI_MODEL_VERSION, LeadSource"
        ),
        "{}",
        stderr(&o)
    );
    let o = s.import(&file, &["--key", gen_key, "--json"]).await;
    assert!(!o.status.success());
    let summary = json(&o);
    assert_eq!(summary["error"]["line"], 1);
    assert_eq!(summary["rows_read"], 0);
    assert_eq!(s.size(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_no_key_may_sign_are_refused_before_sending() {
    let s = Setup::new(LedgerConfig::default()).await;
    let before = s.size();
    let file = s.file(
        "mixed.csv",
        &export(&[synthetic(0), synthetic(1), real(2), synthetic(3)]),
    );
    let gen_key = s.generator.to_str().unwrap();
    // A generator key may not declare a real record.
    let o = s.import(&file, &["--key", gen_key]).await;
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("line 4: no --key may sign this row's CAPTURED event"),
        "{err}"
    );
    assert!(err.contains("may not sign CAPTURED"), "{err}");
    assert_eq!(s.size(), before + 2);

    // The generator key is scoped to the sandbox: nothing is sent to production.
    let o = s
        .import(&file, &["--key", gen_key, "--environment", "production"])
        .await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("line 2: ") && stderr(&o).contains("may write to sandbox only"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.size(), before + 2);

    // A key the log does not know is refused before any row is read.
    let stranger = s.tmp.path().join("stranger.key");
    provledger::keyfile::write(
        &stranger,
        &provledger::note::NoteSigner::generate("stranger.csv/v1").unwrap(),
    )
    .unwrap();
    let o = s
        .import(&file, &["--key", stranger.to_str().unwrap()])
        .await;
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("key \"stranger.csv/v1\" is not registered in the log"),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.size(), before + 2);
}

/// A refusal only the server can make (here a payload over its configured size limit) stops
/// the import at the refused row with everything before it acknowledged; once the cause is
/// gone, the same import finishes the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusal_names_the_row_and_a_rerun_finishes() {
    let small = LedgerConfig {
        limits: AdmissionLimits {
            max_payload_bytes: 700,
            ..AdmissionLimits::default()
        },
        ..LedgerConfig::default()
    };
    let s = Setup::new(small).await;
    let before = s.size();
    let mut rows: Vec<Vec<String>> = (0..20).map(synthetic).collect();
    rows[3][9] = "x".repeat(1000);
    let file = s.file("leads.csv", &export(&rows));
    let gen_key = s.generator.to_str().unwrap().to_string();
    let args = ["--key", &gen_key, "--attribute", "LEADSOURCE", "--json"];
    let o = s.import(&file, &args).await;
    assert!(!o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["appended"], 3);
    assert_eq!(summary["error"]["line"], 5);
    let message = summary["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("line 5: the server refused the row: ResourceExhausted"),
        "{message}"
    );
    assert!(message.contains("run the same input again"), "{message}");
    assert!(s.size() >= before + 3);

    let Setup {
        server,
        tmp,
        generator,
        sync,
    } = s;
    let (dir, _data) = server.stop().await;
    let server = TestServer::open(dir, LedgerConfig::default()).await;
    let s = Setup {
        server,
        tmp,
        generator,
        sync,
    };
    // Rows sent after the refused one may have been appended after the client stopped
    // listening; the server has finished them all by now.
    let partial = s.size() - before;
    assert!((3..20).contains(&partial), "{partial}");
    let o = s.import(&file, &args).await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(summary["duplicates"].as_u64().unwrap(), partial);
    assert_eq!(summary["appended"].as_u64().unwrap(), 20 - partial);
    assert_eq!(s.size(), before + 20);
    // The refused row is in the log now, after the rows that followed it in the file.
    let ids: std::collections::HashSet<String> = s
        .events(before, 20)
        .await
        .into_iter()
        .map(|(_, e)| e.subject.unwrap().record_id)
        .collect();
    assert!(ids.contains(&id18(3)));
    assert_eq!(ids.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_verified_with_the_log_key() {
    let s = Setup::new(LedgerConfig::default()).await;
    let file = s.file(
        "leads.csv",
        &export(&(0..20).map(synthetic).collect::<Vec<_>>()),
    );
    let gen_key = s.generator.to_str().unwrap();
    // Another log's key: the first receipt does not verify, and the import stops there.
    let other = provledger::note::NoteSigner::generate("test.provledger/log")
        .unwrap()
        .verifier()
        .to_vkey();
    let o = s
        .import(&file, &["--key", gen_key, "--log-key", &other])
        .await;
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("does not verify with the log key"),
        "{}",
        stderr(&o)
    );
    // The log's own key: every receipt verifies (the rows already in are duplicates).
    let vkey = s.server.dir.log_vkey();
    let o = s
        .import(
            &file,
            &[
                "--key",
                gen_key,
                "--log-key",
                vkey.to_str().unwrap(),
                "--json",
            ],
        )
        .await;
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let summary = json(&o);
    assert_eq!(
        summary["appended"].as_u64().unwrap() + summary["duplicates"].as_u64().unwrap(),
        20
    );
}
