//! The load: concurrent callers appending signed events until the server dies — unary `Append`
//! callers, `AppendStream` callers keeping a window of requests in flight, and a poller asking
//! for the latest checkpoint. Every answer goes into the shared [`Held`] as it arrives.
//!
//! Events are fresh `GENERATED` Leads, each with a record id no other event of the run has,
//! signed by the run's registered generator key. Nothing is retried: an event whose answer did
//! not arrive is simply not acknowledged (it may or may not be in the log).

use crate::held::Held;
use prost::Message;
use provledger::envelope::{EVENT_PAYLOAD_TYPE, sign};
use provledger::note::NoteSigner;
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{
    Action, AppendRequest, Generator, GetCheckpointRequest, Origin, ProvenanceEvent, RecordRef,
    SignedEvent,
};
use provledger::provenance::rules::TRAINED_ALGORITHMIC_DATA;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// How many callers of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub unary: usize,
    pub streams: usize,
    /// Requests each stream keeps unanswered.
    pub window: usize,
}

/// What the callers share.
#[derive(Clone)]
pub struct Shared {
    pub url: String,
    pub signer: Arc<NoteSigner>,
    /// The next event number; numbers are never reused within a run.
    pub next_event: Arc<AtomicU64>,
    pub held: Arc<Mutex<Held>>,
    /// Set once the server is being killed: callers stop quietly.
    pub stop: Arc<AtomicBool>,
}

/// How a caller ended: the error that stopped it and when.
#[derive(Debug)]
pub struct Ended {
    pub caller: String,
    pub error: Option<(Instant, String)>,
}

pub fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(|p| p.into_inner())
}

/// A synthetic Lead only event number `n` has.
pub fn event(n: u64) -> ProvenanceEvent {
    ProvenanceEvent {
        subject: Some(RecordRef {
            system: "salesforce".into(),
            tenant: "00D5g000004ABCDEA4".into(),
            object_type: "Lead".into(),
            record_id: format!("00Q5g{n:010}"),
        }),
        action: Action::Generated as i32,
        origin: Origin::Synthetic as i32,
        environment: "sandbox".into(),
        content_hash: blake3::hash(&n.to_be_bytes()).as_bytes().to_vec(),
        generator: Some(Generator {
            source: "crashtest-gen".into(),
            model: "crm-gen".into(),
            model_version: "1.0".into(),
            run_id: "crashtest".into(),
        }),
        digital_source_type: TRAINED_ALGORITHMIC_DATA.into(),
        ..Default::default()
    }
}

fn next_envelope(shared: &Shared) -> SignedEvent {
    let n = shared.next_event.fetch_add(1, Ordering::Relaxed);
    sign(&shared.signer, EVENT_PAYLOAD_TYPE, event(n).encode_to_vec())
}

/// Starts every caller; each runs until its connection fails or `stop` is set.
pub fn start(shared: &Shared, shape: Shape) -> Vec<JoinHandle<Ended>> {
    let mut tasks = Vec::new();
    for i in 0..shape.unary {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let error = unary(&shared).await.err();
            ended(format!("unary caller {i}"), error)
        }));
    }
    for i in 0..shape.streams {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let error = stream(&shared, shape.window).await.err();
            ended(format!("stream caller {i}"), error)
        }));
    }
    let shared = shared.clone();
    tasks.push(tokio::spawn(async move {
        let error = poll_checkpoints(&shared).await.err();
        ended("checkpoint poller".into(), error)
    }));
    tasks
}

fn ended(caller: String, error: Option<String>) -> Ended {
    Ended {
        caller,
        error: error.map(|e| (Instant::now(), e)),
    }
}

async fn connect(url: &str) -> Result<LogServiceClient<Channel>, String> {
    LogServiceClient::connect(url.to_string())
        .await
        .map_err(|e| format!("connecting: {e}"))
}

async fn unary(shared: &Shared) -> Result<(), String> {
    let mut client = connect(&shared.url).await?;
    while !shared.stop.load(Ordering::Relaxed) {
        let envelope = next_envelope(shared);
        let response = client
            .append(AppendRequest {
                event: Some(envelope.clone()),
            })
            .await
            .map_err(|s| format!("Append: {s}"))?
            .into_inner();
        lock(&shared.held).receipt(&response, &envelope);
    }
    Ok(())
}

async fn stream(shared: &Shared, window: usize) -> Result<(), String> {
    let mut client = connect(&shared.url).await?;
    let (requests, outbound) = tokio::sync::mpsc::channel::<AppendRequest>(window.max(1));
    let mut answers = client
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .map_err(|s| format!("AppendStream: {s}"))?
        .into_inner();
    let mut in_flight: VecDeque<SignedEvent> = VecDeque::with_capacity(window);
    loop {
        while in_flight.len() < window && !shared.stop.load(Ordering::Relaxed) {
            let envelope = next_envelope(shared);
            let request = AppendRequest {
                event: Some(envelope.clone()),
            };
            if requests.send(request).await.is_err() {
                return Err("AppendStream: the request stream closed".into());
            }
            in_flight.push_back(envelope);
        }
        if in_flight.is_empty() {
            return Ok(());
        }
        let response = answers
            .message()
            .await
            .map_err(|s| format!("AppendStream: {s}"))?
            .ok_or_else(|| "AppendStream: the server ended the stream".to_string())?;
        let envelope = in_flight
            .pop_front()
            .ok_or_else(|| "AppendStream: more answers than requests".to_string())?;
        lock(&shared.held).receipt(&response, &envelope);
    }
}

async fn poll_checkpoints(shared: &Shared) -> Result<(), String> {
    let mut client = connect(&shared.url).await?;
    while !shared.stop.load(Ordering::Relaxed) {
        let checkpoint = client
            .get_checkpoint(GetCheckpointRequest { size: 0 })
            .await
            .map_err(|s| format!("GetCheckpoint: {s}"))?
            .into_inner();
        lock(&shared.held).checkpoint_message(&checkpoint);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
