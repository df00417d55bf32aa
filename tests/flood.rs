//! A hostile crowd against the real binary: many clients at once sending valid appends (unary and
//! streamed), invalid ones of every kind, oversized messages over gRPC and HTTP, a stream whose
//! client never reads its answers, and connections that never say anything. The valid appends
//! must all be acknowledged, in their own indexes, and survive `kill -9`; each invalid one must
//! be refused with its own code (and counted so by the server); the stalled stream must not hold
//! anyone up; and the server's memory must stay bounded throughout.

mod common;

use common::http::HttpClient;
use common::process::{ServerProcess, rss_kib_of};
use common::*;
use futures::StreamExt;
use prost::Message;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::note::NoteSigner;
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{AppendRequest, GetEntriesRequest, LogLeaf, Parent, Role, SignedEvent};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tonic::Code;

const UNARY_CLIENTS: u64 = 16;
const UNARY_EACH: u64 = 250;
const STREAM_CLIENTS: u64 = 4;
const STREAM_EACH: u64 = 1000;
const STALLED_EVENTS: u64 = 500;
const HOSTILE_CLIENTS: u64 = 6;
const HOSTILE_EACH: u64 = 70;
const IDLE_CONNECTIONS: usize = 200;
/// The server's message limit in this test (1 MiB), so oversized messages are cheap to send.
const MAX_MESSAGE: usize = 1 << 20;
/// The bound on the server's resident memory during the flood (the test prints the peak; about
/// 36 MiB here). The flood writes about 10 MB of envelopes and sends about 100 MiB of oversized
/// messages (60 over gRPC, 20 over HTTP): a server that kept what it refuses, or a stalled
/// stream's answers, would not stay under it.
const RSS_BOUND_KIB: u64 = 128 * 1024;

/// An envelope acknowledged at `index`.
type Ack = (u64, SignedEvent);

/// Distinct, valid events signed by `signer`, numbered from `first`.
fn valid_events(signer: &NoteSigner, first: u64, count: u64) -> Vec<SignedEvent> {
    (first..first + count)
        .map(|i| signed(signer, &generated_event(i)))
        .collect()
}

/// The invalid requests of one hostile client, each with the code it must be refused with.
fn hostile_requests(
    client: u64,
    registered: &NoteSigner,
    stranger: &NoteSigner,
) -> Vec<(AppendRequest, Code)> {
    let base = 10_000_000 + client * 1000;
    (0..HOSTILE_EACH)
        .map(|i| {
            let n = base + i;
            match i % 7 {
                0 => {
                    let mut e = signed(registered, &generated_event(n));
                    e.signature[5] ^= 0x40;
                    (request(e), Code::Unauthenticated)
                }
                1 => (
                    request(signed(stranger, &generated_event(n))),
                    Code::Unauthenticated,
                ),
                2 => (
                    request(sign(registered, EVENT_PAYLOAD_TYPE, vec![0xff; 64])),
                    Code::InvalidArgument,
                ),
                3 => (AppendRequest { event: None }, Code::InvalidArgument),
                4 => {
                    let mut event = generated_event(n);
                    event.parents = (0..65)
                        .map(|p| Parent {
                            record: Some(record("Lead", &format!("00Q{p:012}"))),
                            leaf_index: None,
                        })
                        .collect();
                    (request(signed(registered, &event)), Code::InvalidArgument)
                }
                5 => {
                    // Over the payload limit (256 KiB), under the message limit.
                    let mut event = generated_event(n);
                    event.generator.as_mut().unwrap().run_id = "r".repeat(300 * 1024);
                    (request(signed(registered, &event)), Code::ResourceExhausted)
                }
                _ => {
                    // Over the message limit: the transport refuses it.
                    let e = sign(registered, EVENT_PAYLOAD_TYPE, vec![7; MAX_MESSAGE + 1024]);
                    (request(e), Code::OutOfRange)
                }
            }
        })
        .collect()
}

async fn unary_client(url: String, events: Vec<SignedEvent>) -> Vec<Ack> {
    let mut client = LogServiceClient::connect(url).await.unwrap();
    let mut acks = Vec::new();
    for e in events {
        let r = client.append(request(e.clone())).await;
        let r = r.unwrap_or_else(|s| panic!("a valid append was refused: {s:?}"));
        let r = r.into_inner();
        assert!(!r.duplicate);
        acks.push((r.index, e));
    }
    acks
}

async fn stream_client(url: String, events: Vec<SignedEvent>) -> Vec<Ack> {
    let mut client = LogServiceClient::connect(url).await.unwrap();
    let requests = events.clone().into_iter().map(request);
    let mut answers = client
        .append_stream(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut acks = Vec::new();
    for e in events {
        let r = answers.next().await.expect("an answer per request");
        let r = r.unwrap_or_else(|s| panic!("a valid streamed append was refused: {s:?}"));
        acks.push((r.index, e));
    }
    assert!(answers.next().await.is_none());
    acks
}

/// Sends every hostile request and checks its code; the number refused with each code.
async fn hostile_client(url: String, requests: Vec<(AppendRequest, Code)>) -> HashMap<i32, u64> {
    let mut client = LogServiceClient::connect(url)
        .await
        .unwrap()
        .max_decoding_message_size(MAX_MESSAGE * 2);
    let mut refused = HashMap::new();
    for (req, expected) in requests {
        match client.append(req).await {
            Ok(r) => panic!("an invalid append was accepted: {:?}", r.into_inner()),
            Err(s) => {
                assert_eq!(s.code(), expected, "{s:?}");
                if expected != Code::OutOfRange {
                    assert!(s.message().starts_with("event"), "no field named: {s:?}");
                }
                *refused.entry(expected as i32).or_default() += 1;
            }
        }
    }
    refused
}

/// Bad bodies over HTTP: not JSON (400), and larger than the message limit (413, or the
/// connection closed under a client still sending).
async fn hostile_http(url: String) {
    let http = HttpClient::new(&url);
    let addr = url.trim_start_matches("http://").to_string();
    for i in 0..40 {
        if i % 2 == 0 {
            let body = b"{\"payload\": 12".to_vec();
            let answer = http.send("POST", "/v1/events", &[], body).await;
            assert_eq!(answer.status, 400, "{answer:?}");
        } else {
            let status = post_oversized(&addr).await;
            assert!(
                status
                    .as_ref()
                    .is_none_or(|line| line.starts_with("HTTP/1.1 413")),
                "{status:?}"
            );
        }
    }
}

/// POSTs a body of twice the message limit while reading the answer: its status line, or `None`
/// when the server closed the connection before answering.
async fn post_oversized(addr: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let length = MAX_MESSAGE * 2;
    let sending = tokio::spawn(async move {
        let head =
            format!("POST /v1/events HTTP/1.1\r\nhost: flood\r\ncontent-length: {length}\r\n\r\n");
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..length / chunk.len() {
            writer.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(writer)
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    sending.abort();
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().map(str::to_string)
}

/// Samples the server's resident memory until told to stop; the peak.
fn watch_rss(server: &ServerProcess, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let pid = server.child.id();
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_kib_of(pid));
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

/// Every entry of the log, by index.
async fn all_leaves(url: &str) -> BTreeMap<u64, LogLeaf> {
    let mut client = LogServiceClient::connect(url.to_string()).await.unwrap();
    let mut leaves = BTreeMap::new();
    loop {
        let entries = client
            .get_entries(GetEntriesRequest {
                start: leaves.len() as u64,
                count: 1000,
            })
            .await;
        let entries = match entries {
            Ok(answer) => answer.into_inner().entries,
            Err(s) if s.code() == Code::OutOfRange => break,
            Err(s) => panic!("{s:?}"),
        };
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            let leaf = LogLeaf::decode(entry.leaf.as_slice()).unwrap();
            leaves.insert(entry.index, leaf);
        }
    }
    leaves
}

/// The value of one series in a `/metrics` scrape.
fn series(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{name} not in the scrape")) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_mixed_clients_loses_nothing_and_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let max_message = MAX_MESSAGE.to_string();
    let args = [
        "--set",
        &format!("limits.max_message_bytes={max_message}"),
        "--set",
        "limits.stream_window=32",
    ];
    let mut server = ServerProcess::start(&data, &args, &[]).unwrap();
    let url = server.url.clone();
    let admin = server.admin();
    let mut signers = Vec::new();
    for k in 0..4 {
        signers.push(register_at(&url, &admin, &format!("gen.flood/{k}"), Role::Generator).await);
    }
    let stranger = NoteSigner::generate("gen.flood/stranger").unwrap();
    let setup_entries = 1 + signers.len() as u64;
    let rss_at_start = server.rss_kib();

    // Everything is signed before the flood starts.
    let mut next = 0;
    let mut take = |count: u64, signer: &NoteSigner| {
        let events = valid_events(signer, next, count);
        next += count;
        events
    };
    let unary: Vec<_> = (0..UNARY_CLIENTS)
        .map(|c| take(UNARY_EACH, &signers[c as usize % 4]))
        .collect();
    let streamed: Vec<_> = (0..STREAM_CLIENTS)
        .map(|c| take(STREAM_EACH, &signers[c as usize % 4]))
        .collect();
    let stalled_events = take(STALLED_EVENTS, &signers[3]);
    let hostile: Vec<_> = (0..HOSTILE_CLIENTS)
        .map(|c| hostile_requests(c, &signers[c as usize % 4], &stranger))
        .collect();

    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = watch_rss(&server, stop_watching.clone());

    // Connections that never send a byte, and a stream whose answers are never read.
    let mut idle = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        let addr = url.trim_start_matches("http://");
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    let stalled_sent = Arc::new(AtomicU64::new(0));
    let stalled = {
        let (url, sent) = (url.clone(), stalled_sent.clone());
        let requests = futures::stream::iter(stalled_events).map(move |e| {
            sent.fetch_add(1, Ordering::Relaxed);
            request(e)
        });
        let mut client = LogServiceClient::connect(url).await.unwrap();
        // Held, never polled: the server's answers pile up against flow control.
        client.append_stream(requests).await.unwrap().into_inner()
    };

    let mut valid = Vec::new();
    for events in unary {
        valid.push(tokio::spawn(unary_client(url.clone(), events)));
    }
    for events in streamed {
        valid.push(tokio::spawn(stream_client(url.clone(), events)));
    }
    let hostile: Vec<_> = hostile
        .into_iter()
        .map(|requests| tokio::spawn(hostile_client(url.clone(), requests)))
        .collect();
    let http = tokio::spawn(hostile_http(url.clone()));

    let mut acks: Vec<Ack> = Vec::new();
    for task in valid {
        let done = tokio::time::timeout(Duration::from_secs(120), task).await;
        acks.extend(done.expect("valid clients were held up").unwrap());
    }
    let mut refused: HashMap<i32, u64> = HashMap::new();
    for task in hostile {
        for (code, n) in task.await.unwrap() {
            *refused.entry(code).or_default() += n;
        }
    }
    http.await.unwrap();
    stop_watching.store(true, Ordering::Relaxed);
    let peak_rss = watcher.join().unwrap();

    let valid_count = UNARY_CLIENTS * UNARY_EACH + STREAM_CLIENTS * STREAM_EACH;
    assert_eq!(acks.len() as u64, valid_count);
    let mut indexes: Vec<u64> = acks.iter().map(|(i, _)| *i).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(
        indexes.len() as u64,
        valid_count,
        "one index per acknowledgement"
    );
    let total_refused: u64 = refused.values().sum();
    assert_eq!(total_refused, HOSTILE_CLIENTS * HOSTILE_EACH);

    // The server counted each refusal that reached the ledger under its code.
    let scrape = HttpClient::new(&url)
        .send("GET", "/metrics", &[], vec![])
        .await;
    let scrape = String::from_utf8(scrape.body).unwrap();
    for code in [
        Code::Unauthenticated,
        Code::InvalidArgument,
        Code::ResourceExhausted,
    ] {
        let name = format!("{code:?}").chars().fold(String::new(), |mut s, c| {
            if c.is_uppercase() && !s.is_empty() {
                s.push('_');
            }
            s.push(c.to_ascii_uppercase());
            s
        });
        let counted = series(
            &scrape,
            &format!("provledger_appends_total{{outcome=\"refused\",code=\"{name}\"}}"),
        );
        assert_eq!(counted, refused[&(code as i32)], "{name}");
    }

    println!(
        "flood: {} valid acknowledged, {} refused, {} idle connections, stalled stream sent {}; \
         server RSS {} KiB at start, peak {} KiB",
        acks.len(),
        total_refused,
        idle.len(),
        stalled_sent.load(Ordering::Relaxed),
        rss_at_start,
        peak_rss
    );
    assert!(
        peak_rss < RSS_BOUND_KIB,
        "server RSS peaked at {peak_rss} KiB"
    );

    // Durable: every acknowledged envelope at its index after kill -9.
    drop(stalled);
    drop(idle);
    server.kill();
    let server = ServerProcess::start(&data, &args, &[]).unwrap();
    let leaves = all_leaves(&server.url).await;
    for (index, envelope) in &acks {
        let leaf = leaves
            .get(index)
            .unwrap_or_else(|| panic!("entry {index} lost"));
        assert_eq!(leaf.envelope.as_ref(), Some(envelope), "entry {index}");
    }
    // Nothing else got in: the setup, the acknowledged appends, and whatever of the stalled
    // stream the server admitted before it stopped reading.
    let extra = leaves.len() as u64 - setup_entries - valid_count;
    assert!(
        extra <= STALLED_EVENTS,
        "{extra} entries beyond the expected"
    );
}
