//! Driving appends over gRPC: closed-loop unary callers, paced (open-loop) unary callers, and
//! pipelined streams. Every acknowledgement's latency is recorded.

use anyhow::{Context, Result, anyhow, bail};
use provledger::keyfile;
use provledger::ledger::key_action_envelope;
use provledger::note::NoteSigner;
use provledger::proto::log_service_client::LogServiceClient;
use provledger::proto::{AppendRequest, KeyRegistration, Role, SignedEvent, key_action};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// What a run did.
pub struct Run {
    pub events: u64,
    pub seconds: f64,
    pub latencies: Vec<Duration>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }
}

pub async fn client(url: &str) -> Result<LogServiceClient<Channel>> {
    Ok(LogServiceClient::connect(url.to_string())
        .await?
        .max_decoding_message_size(16 << 20))
}

/// Registers the workload's generator keys with the data directory's admin key.
pub async fn register(url: &str, data: &Path, keys: &[NoteSigner]) -> Result<()> {
    let admin = keyfile::read(&provledger::datadir::DataDir::new(data).admin_key())?;
    let mut c = client(url).await?;
    for key in keys {
        let envelope = key_action_envelope(
            &admin,
            key_action::Action::Register(KeyRegistration {
                vkey: key.verifier().to_vkey(),
                role: Role::Generator as i32,
                ..Default::default()
            }),
        );
        c.append(AppendRequest {
            event: Some(envelope),
        })
        .await
        .context("registering a generator key")?;
    }
    Ok(())
}

/// `callers` concurrent unary callers, each appending its share back to back; with `span`,
/// callers stop starting appends once it has passed (the run then counts what was appended).
pub async fn unary_closed(
    url: &str,
    events: &[SignedEvent],
    callers: usize,
    span: Option<Duration>,
) -> Result<Run> {
    let events = Arc::new(events.to_vec());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..callers {
        let events = events.clone();
        let mut cl = client(url).await?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = c;
            while i < events.len() && span.is_none_or(|s| start.elapsed() < s) {
                let t = Instant::now();
                let r = cl
                    .append(AppendRequest {
                        event: Some(events[i].clone()),
                    })
                    .await?
                    .into_inner();
                lat.push(t.elapsed());
                if r.duplicate {
                    bail!("event {i} was a duplicate: the workload must be fresh");
                }
                i += callers;
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(events.len());
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Run {
        events: latencies.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}

/// Unary appends issued at a fixed `rate` (open loop) over `callers` connections; latency is
/// measured from each request's scheduled time, so a server that falls behind shows it.
pub async fn unary_paced(
    url: &str,
    events: &[SignedEvent],
    callers: usize,
    rate: f64,
) -> Result<Run> {
    let mut clients = Vec::new();
    for _ in 0..callers {
        clients.push(client(url).await?);
    }
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let mut cl = clients[i % callers].clone();
        let event = event.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            cl.append(AppendRequest { event: Some(event) }).await?;
            anyhow::Ok(due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(events.len());
    for t in tasks {
        latencies.push(t.await??);
    }
    Ok(Run {
        events: events.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}

/// `streams` concurrent AppendStream calls, each sending its share as fast as the stream
/// accepts it.
pub async fn streamed(url: &str, events: &[SignedEvent], streams: usize) -> Result<Run> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mine: Vec<SignedEvent> = events.iter().skip(s).step_by(streams).cloned().collect();
        let mut cl = client(url).await?;
        tasks.push(tokio::spawn(async move {
            let n = mine.len();
            let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            let outbound = tokio_stream::iter(mine.into_iter().map(move |e| {
                let _ = sent_tx.send(Instant::now());
                AppendRequest { event: Some(e) }
            }));
            let mut inbound = cl.append_stream(outbound).await?.into_inner();
            let mut lat = Vec::with_capacity(n);
            while let Some(r) = inbound.message().await? {
                let sent = sent_rx
                    .recv()
                    .await
                    .ok_or_else(|| anyhow!("more answers than requests"))?;
                lat.push(sent.elapsed());
                if r.duplicate {
                    bail!("duplicate in a fresh workload");
                }
            }
            if lat.len() != n {
                bail!("stream answered {} of {n} requests", lat.len());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies = Vec::with_capacity(events.len());
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Run {
        events: events.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
        latencies,
    })
}
