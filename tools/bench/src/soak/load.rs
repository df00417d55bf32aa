//! The soak's open-loop load: unary `Append`s issued on a fixed schedule (event i is due at
//! `i / rate` seconds), whatever the server's answers, over a few shared connections with a
//! bounded number outstanding. Latency runs from each append's scheduled time, so queueing in
//! the client (when the bound is reached) and in the server both show. Answers are tallied in
//! windows by the time they arrive; the server's RSS is sampled through each window, and its CPU,
//! its histograms, its threads' CPU by group, its runtime workers' run-queue wait, the load
//! generator's own CPU and the machine's CPU and I/O pressure and steal at each window's end.

use super::buckets::Buckets;
use super::pressure::{self, Percents, Stalls};
use super::scrape::{self, Slow};
use super::threads;
use crate::ingest;
use crate::server::ServerProcess;
use anyhow::{Result, bail};
use provledger::proto::{AppendRequest, SignedEvent};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How the load is paced.
pub struct Plan {
    /// Appends per second.
    pub rate: f64,
    /// Windows of the run; the run lasts `windows × window`.
    pub windows: usize,
    pub window: Duration,
    /// gRPC connections the appends are spread over.
    pub connections: usize,
    /// Most appends outstanding at once; at the bound, issuing waits (and falls behind).
    pub max_outstanding: usize,
    /// An append not answered in this long counts as an error.
    pub timeout: Duration,
}

impl Plan {
    pub fn duration(&self) -> Duration {
        self.window * self.windows as u32
    }

    /// Events the run needs: one per scheduled append.
    pub fn events(&self) -> u64 {
        (self.rate * self.duration().as_secs_f64()).ceil() as u64
    }
}

/// Samples of the server's RSS per window, evenly spaced, the last at the window's end.
pub const RSS_SAMPLES: u32 = 10;

/// One window: answers that arrived in it, and what the sampler read through it.
#[derive(Default)]
pub struct Window {
    pub acked: u64,
    pub errors: u64,
    /// Latencies of the acknowledged appends, from their scheduled time.
    pub latencies: Vec<Duration>,
    pub sampled: Sampled,
}

/// What the sampler read for one window: the server's RSS through it, and the rest of the
/// server and the machine at its end.
#[derive(Default)]
pub struct Sampled {
    /// The server's RSS, [`RSS_SAMPLES`] times through the window.
    pub rss_mib: Vec<f64>,
    /// What the server's allocator counts as allocated, when it reports it.
    pub allocated_mib: Option<f64>,
    /// Server CPU time in the window ÷ its length.
    pub cpu_cores: f64,
    /// Percent of the window in which some task on the machine waited for a core, and for I/O,
    /// and CPU time stolen by the hypervisor (see [`super::pressure`]).
    pub pressure: Percents,
    /// Cores used in the window by the server's thread groups and by the load generator.
    pub threads: threads::Cores,
    /// The most run-queue wait the server's runtime workers accumulated between two of the
    /// window's RSS samples (about a second apart), in ms.
    pub worker_wait_ms: Option<f64>,
    /// The server's acknowledgements, admissions, queue waits, commits (and their stages),
    /// answers and late runtime wakes in the window, all and slow (its histograms).
    pub server: Slow,
    /// The server's acknowledgements in the window (admission to durable answer), by bucket.
    pub server_acks: Buckets,
}

/// What the run did.
pub struct Outcome {
    pub windows: Vec<Window>,
    pub acked: u64,
    pub errors: u64,
    /// The first few errors, as reported.
    pub first_errors: Vec<String>,
    /// Log index of every acknowledged append.
    pub indexes: Vec<u64>,
    /// From the first scheduled append to the last answer.
    pub seconds: f64,
    /// How far issuing fell behind the schedule at worst (waiting for the outstanding bound).
    pub max_issue_lag: Duration,
}

#[derive(Default)]
struct Tally {
    windows: Vec<Window>,
    indexes: Vec<u64>,
    first_errors: Vec<String>,
    last_answer: Duration,
}

fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `plan` against the server at `url`, appending `events` (at least `plan.events()`).
pub async fn run(
    url: &str,
    srv: &ServerProcess,
    events: Arc<Vec<SignedEvent>>,
    plan: &Plan,
) -> Result<Outcome> {
    let total = plan.events() as usize;
    if events.len() < total {
        bail!("{} events signed, the plan needs {total}", events.len());
    }
    let mut clients = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections.max(1) {
        clients.push(ingest::client(url).await?);
    }
    let tally = Arc::new(Mutex::new(Tally {
        windows: (0..plan.windows).map(|_| Window::default()).collect(),
        indexes: Vec::with_capacity(total),
        ..Default::default()
    }));
    let slots = Arc::new(Semaphore::new(plan.max_outstanding));
    let start = Instant::now() + Duration::from_millis(20);
    let window = plan.window;
    let last_window = plan.windows.saturating_sub(1);

    let drive = async {
        let mut max_lag = Duration::ZERO;
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / plan.rate);
            tokio::time::sleep_until(due).await;
            let slot = slots.clone().acquire_owned().await?;
            max_lag = max_lag.max(due.elapsed());
            let mut client = clients[i % clients.len()].clone();
            let request = AppendRequest {
                event: Some(events[i].clone()),
            };
            let tally = tally.clone();
            let timeout = plan.timeout;
            tokio::spawn(async move {
                let answer = tokio::time::timeout(timeout, client.append(request)).await;
                let now = Instant::now();
                let latency = now.saturating_duration_since(due);
                let since = now.saturating_duration_since(start);
                let w = ((since.as_secs_f64() / window.as_secs_f64()) as usize).min(last_window);
                let mut t = lock(&tally);
                t.last_answer = t.last_answer.max(since);
                let error = match answer {
                    Ok(Ok(r)) if r.get_ref().duplicate => {
                        Some(format!("event {i} answered as a duplicate"))
                    }
                    Ok(Ok(r)) => {
                        t.indexes.push(r.get_ref().index);
                        t.windows[w].acked += 1;
                        t.windows[w].latencies.push(latency);
                        None
                    }
                    Ok(Err(status)) => Some(format!("event {i}: {status}")),
                    Err(_) => Some(format!("event {i}: no answer in {timeout:?}")),
                };
                if let Some(e) = error {
                    t.windows[w].errors += 1;
                    if t.first_errors.len() < 5 {
                        t.first_errors.push(e);
                    }
                }
                drop(slot);
            });
        }
        // Every slot back: every append answered or timed out.
        let _all = slots.acquire_many(plan.max_outstanding as u32).await?;
        anyhow::Ok(max_lag)
    };

    let sample = async {
        let mut cpu_before = srv.cpu_seconds()?;
        let hz = crate::server::clock_ticks();
        let mut stalls_before = Stalls::now(hz);
        let mut wait_before = pressure::worker_wait(srv.pid());
        let mut scraped_before = scrape::sample(url).await?;
        let mut threads_before = threads::Cpu::now(srv.pid());
        let mut samples = Vec::with_capacity(plan.windows);
        let step = window / RSS_SAMPLES;
        for w in 0..plan.windows {
            let mut rss = Vec::with_capacity(RSS_SAMPLES as usize);
            let mut worker_wait_ms = None;
            for k in 1..=RSS_SAMPLES {
                tokio::time::sleep_until(start + window * w as u32 + step * k).await;
                rss.push(srv.rss_mib()?.0);
                let wait = pressure::worker_wait(srv.pid());
                if let (Some(now), Some(then)) = (wait, wait_before) {
                    let waited = now.saturating_sub(then).as_secs_f64() * 1e3;
                    worker_wait_ms = Some(worker_wait_ms.unwrap_or(0.0f64).max(waited));
                }
                wait_before = wait;
            }
            let cpu = srv.cpu_seconds()?;
            let stalls = Stalls::now(hz);
            let threads = threads::Cpu::now(srv.pid());
            let scraped = scrape::sample(url).await?;
            samples.push(Sampled {
                rss_mib: rss,
                allocated_mib: scraped.allocated_mib,
                cpu_cores: (cpu - cpu_before) / window.as_secs_f64(),
                pressure: stalls.percent_since(&stalls_before, window),
                threads: threads.cores_since(&threads_before, window),
                worker_wait_ms,
                server: scraped.slow.since(&scraped_before.slow),
                server_acks: scraped.acks.since(&scraped_before.acks),
            });
            cpu_before = cpu;
            stalls_before = stalls;
            scraped_before = scraped;
            threads_before = threads;
        }
        anyhow::Ok(samples)
    };

    let (max_issue_lag, samples) = tokio::join!(drive, sample);
    let (max_issue_lag, samples) = (max_issue_lag?, samples?);
    let mut t = std::mem::take(&mut *lock(&tally));
    for (w, sampled) in t.windows.iter_mut().zip(samples) {
        w.sampled = sampled;
    }
    let acked: u64 = t.windows.iter().map(|w| w.acked).sum();
    let errors: u64 = t.windows.iter().map(|w| w.errors).sum();
    if acked + errors != total as u64 {
        bail!(
            "{total} appends scheduled, {acked} acknowledged and {errors} failed: some were lost"
        );
    }
    Ok(Outcome {
        windows: t.windows,
        acked,
        errors,
        first_errors: t.first_errors,
        indexes: t.indexes,
        seconds: t.last_answer.as_secs_f64(),
        max_issue_lag,
    })
}
