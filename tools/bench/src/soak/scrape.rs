//! `GET /metrics` from the server under test (HTTP/1.1 on its gRPC port), read as the
//! OpenMetrics text it is: the soak cross-checks the server's own append counters against what
//! its clients saw acknowledged, counts the server's slow acknowledgements, admissions, queue
//! waits, commits (their node writes, sled applies and syncs; sled's background flushes), answers and late wakes of its async
//! runtime in each window (so a slow window can be placed in or outside the server),
//! and reads the memory its allocator counts as allocated (so a resident-size swing can be told
//! apart from memory the allocator keeps for reuse).

use super::buckets::Buckets;
use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The server's append counters, summed over status codes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Appends {
    pub appended: f64,
    pub duplicate: f64,
    pub refused: f64,
}

/// Scrapes `{url}/metrics` and sums `provledger_appends_total` by outcome.
pub async fn appends(url: &str) -> Result<Appends> {
    parse_appends(&text(url).await?)
}

/// One histogram's observations: all of them, and those over [`SLOW_MS`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Count {
    pub all: f64,
    pub slow: f64,
}

impl Count {
    /// The observations between `before` and this one.
    fn since(self, before: Count) -> Count {
        Count {
            all: self.all - before.all,
            slow: self.slow - before.slow,
        }
    }
}

/// The server's timing histograms in one scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Slow {
    /// Acknowledgements (admission to durable answer).
    pub acks: Count,
    /// Appends, by their time from arrival to the queue (admission).
    pub admissions: Count,
    /// Appends, by their time from the sequencer's answer to their receipt.
    pub answers: Count,
    /// Appends, by the time their receipt's proof took (the part of the answer after the
    /// caller's task runs again).
    pub proofs: Count,
    /// Appends taken from the queue, by their wait in it.
    pub waits: Count,
    /// Batches, by the time the sequencer spent on each (sync included).
    pub commits: Count,
    /// Batches, by the time their new tree nodes took to write (in the commit).
    pub node_writes: Count,
    /// Batches, by the time their application to sled took (in the commit).
    pub applies: Count,
    /// Batch syncs.
    pub syncs: Count,
    /// sled's flushes, the part of each sync before its fsyncs.
    pub flushes: Count,
    /// The runtime probe's wakes, by how late each ran.
    pub runtime: Count,
}

impl Slow {
    /// The observations between scrape `before` and this one.
    pub fn since(&self, before: &Slow) -> Slow {
        Slow {
            acks: self.acks.since(before.acks),
            admissions: self.admissions.since(before.admissions),
            answers: self.answers.since(before.answers),
            proofs: self.proofs.since(before.proofs),
            waits: self.waits.since(before.waits),
            commits: self.commits.since(before.commits),
            node_writes: self.node_writes.since(before.node_writes),
            applies: self.applies.since(before.applies),
            syncs: self.syncs.since(before.syncs),
            flushes: self.flushes.since(before.flushes),
            runtime: self.runtime.since(before.runtime),
        }
    }
}

/// What "slow" means, in ms: one of the histograms' bucket bounds.
pub const SLOW_MS: f64 = 25.0;

/// The histogram whose per-window percentiles the soak judges: admission to durable answer.
pub const ACK_HISTOGRAM: &str = "provledger_append_ack_duration_seconds";

/// One scrape of the server: its timing histograms and its allocator's figure.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Sample {
    pub slow: Slow,
    /// Every bucket of the acknowledgement histogram ([`ACK_HISTOGRAM`]).
    pub acks: Buckets,
    /// `provledger_allocator_allocated_bytes` in MiB, when the server reports it.
    pub allocated_mib: Option<f64>,
}

/// Scrapes `{url}/metrics` for the server's acknowledgement histogram's buckets, and its acknowledgement, admission, queue wait, commit
/// (node write, sled apply, sync), sled flush, answer and receipt proof times, the runtime probe's late wakes, and the memory its allocator counts as allocated.
pub async fn sample(url: &str) -> Result<Sample> {
    let text = text(url).await?;
    let le = (SLOW_MS / 1e3).to_string();
    let slow = Slow {
        acks: over(&text, ACK_HISTOGRAM, &le)?,
        admissions: over(&text, "provledger_append_admission_seconds", &le)?,
        answers: over(&text, "provledger_append_answer_seconds", &le)?,
        proofs: over(&text, "provledger_append_receipt_proof_seconds", &le)?,
        waits: over(&text, "provledger_append_queue_wait_seconds", &le)?,
        commits: over(&text, "provledger_commit_duration_seconds", &le)?,
        node_writes: over(&text, "provledger_commit_node_write_seconds", &le)?,
        applies: over(&text, "provledger_commit_sled_apply_seconds", &le)?,
        syncs: over(&text, "provledger_fsync_duration_seconds", &le)?,
        flushes: over(&text, "provledger_sled_flush_seconds", &le)?,
        runtime: over(&text, "provledger_runtime_wake_delay_seconds", &le)?,
    };
    let allocated_mib = gauge(&text, "provledger_allocator_allocated_bytes")?
        .map(|bytes| bytes / (1024.0 * 1024.0));
    Ok(Sample {
        slow,
        acks: Buckets::parse(&text, ACK_HISTOGRAM)?,
        allocated_mib,
    })
}

/// The value of gauge `metric` (a series without labels), if the scrape has it.
fn gauge(text: &str, metric: &str) -> Result<Option<f64>> {
    let prefix = format!("{metric} ");
    match text.lines().find(|line| line.starts_with(&prefix)) {
        Some(line) => Ok(Some(value(line)?.1)),
        None => Ok(None),
    }
}

/// The observations of histogram `metric` in `text`: all, and those above the bucket `le`.
fn over(text: &str, metric: &str, le: &str) -> Result<Count> {
    let bucket = format!("{metric}_bucket{{le=\"{le}\"}} ");
    let count = format!("{metric}_count ");
    let (mut total, mut within) = (None, None);
    for line in text.lines() {
        if line.starts_with(&bucket) {
            within = Some(value(line)?.1);
        } else if line.starts_with(&count) {
            total = Some(value(line)?.1);
        }
    }
    match (total, within) {
        (Some(all), Some(w)) => Ok(Count { all, slow: all - w }),
        _ => bail!("no {metric} histogram with a {le} bucket in the scrape"),
    }
}

/// A sample line split into its series (name and labels) and its value.
fn value(line: &str) -> Result<(&str, f64)> {
    let (series, v) = line
        .rsplit_once(' ')
        .with_context(|| format!("unreadable series: {line}"))?;
    let v = v
        .parse()
        .with_context(|| format!("unreadable value: {line}"))?;
    Ok((series, v))
}

/// The text of `{url}/metrics`.
async fn text(url: &str) -> Result<String> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("{url}/metrics")
        .parse()
        .context("the metrics address")?;
    let response = client.get(uri).await.context("GET /metrics")?;
    if !response.status().is_success() {
        bail!("GET /metrics answered {}", response.status());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading /metrics")?
        .to_bytes();
    String::from_utf8(body.to_vec()).context("/metrics is not UTF-8")
}

fn parse_appends(text: &str) -> Result<Appends> {
    let mut sums = Appends::default();
    let mut seen = false;
    for line in text.lines() {
        if !line.starts_with("provledger_appends_total{") {
            continue;
        }
        let (labels, value) = value(line)?;
        let slot = if labels.contains("outcome=\"appended\"") {
            &mut sums.appended
        } else if labels.contains("outcome=\"duplicate\"") {
            &mut sums.duplicate
        } else {
            &mut sums.refused
        };
        *slot += value;
        seen = true;
    }
    if !seen {
        bail!("no provledger_appends_total series in the scrape");
    }
    Ok(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_by_outcome() {
        let text = "# TYPE provledger_appends counter\n\
            provledger_appends_total{outcome=\"appended\",code=\"OK\"} 120\n\
            provledger_appends_total{outcome=\"duplicate\",code=\"OK\"} 3\n\
            provledger_appends_total{outcome=\"refused\",code=\"INVALID_ARGUMENT\"} 2\n\
            provledger_appends_total{outcome=\"refused\",code=\"UNAVAILABLE\"} 1\n\
            provledger_tree_size 121\n";
        let a = parse_appends(text).unwrap();
        assert_eq!((a.appended, a.duplicate, a.refused), (120.0, 3.0, 3.0));
        assert!(parse_appends("provledger_tree_size 1\n").is_err());
    }

    #[test]
    fn counts_above_a_bucket() {
        let text = "provledger_fsync_duration_seconds_sum 1.5\n\
            provledger_fsync_duration_seconds_count 40\n\
            provledger_fsync_duration_seconds_bucket{le=\"0.01\"} 30\n\
            provledger_fsync_duration_seconds_bucket{le=\"0.025\"} 37\n\
            provledger_fsync_duration_seconds_bucket{le=\"+Inf\"} 40\n";
        let c = over(text, "provledger_fsync_duration_seconds", "0.025").unwrap();
        assert_eq!((c.all, c.slow), (40.0, 3.0));
        assert!(over(text, "provledger_append_ack_duration_seconds", "0.025").is_err());
    }

    #[test]
    fn reads_an_unlabelled_gauge() {
        let text = "provledger_allocator_allocated_bytes_total 1\n\
            provledger_allocator_allocated_bytes 2097152\n";
        assert_eq!(
            gauge(text, "provledger_allocator_allocated_bytes").unwrap(),
            Some(2097152.0)
        );
        assert_eq!(
            gauge(text, "provledger_allocator_resident_bytes").unwrap(),
            None
        );
        assert!(
            gauge(
                "provledger_allocator_allocated_bytes x\n",
                "provledger_allocator_allocated_bytes"
            )
            .is_err()
        );
    }
}
