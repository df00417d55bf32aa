//! `GET /metrics` from the server under test (HTTP/1.1 on its gRPC port), read as the
//! OpenMetrics text it is: the soak cross-checks the server's own append counters against what
//! its clients saw acknowledged, and counts the server's slow acknowledgements and commits in
//! each window (so a slow window can be told apart from a slow client).

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

/// Histogram counts from one scrape: acknowledgements, queue waits, commits and their syncs, all
/// and over [`SLOW_MS`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Slow {
    pub acks: f64,
    pub slow_acks: f64,
    /// Appends taken from the queue, and those that waited in it over the bound.
    pub waits: f64,
    pub slow_waits: f64,
    /// Batches, and those the sequencer spent over the bound on (sync included).
    pub commits: f64,
    pub slow_commits: f64,
    /// Batch syncs, and those over the bound.
    pub syncs: f64,
    pub slow_syncs: f64,
}

impl Slow {
    /// The counts between scrape `before` and this one.
    pub fn since(&self, before: &Slow) -> Slow {
        Slow {
            acks: self.acks - before.acks,
            slow_acks: self.slow_acks - before.slow_acks,
            waits: self.waits - before.waits,
            slow_waits: self.slow_waits - before.slow_waits,
            commits: self.commits - before.commits,
            slow_commits: self.slow_commits - before.slow_commits,
            syncs: self.syncs - before.syncs,
            slow_syncs: self.slow_syncs - before.slow_syncs,
        }
    }
}

/// What "slow" means, in ms: one of the histograms' bucket bounds.
pub const SLOW_MS: f64 = 25.0;

/// Scrapes `{url}/metrics` for the server's acknowledgement, queue wait, commit and sync times.
pub async fn slow(url: &str) -> Result<Slow> {
    let text = text(url).await?;
    let le = (SLOW_MS / 1e3).to_string();
    let (acks, slow_acks) = over(&text, "provledger_append_ack_duration_seconds", &le)?;
    let (waits, slow_waits) = over(&text, "provledger_append_queue_wait_seconds", &le)?;
    let (commits, slow_commits) = over(&text, "provledger_commit_duration_seconds", &le)?;
    let (syncs, slow_syncs) = over(&text, "provledger_fsync_duration_seconds", &le)?;
    Ok(Slow {
        acks,
        slow_acks,
        waits,
        slow_waits,
        commits,
        slow_commits,
        syncs,
        slow_syncs,
    })
}

/// (count, count above the bucket `le`) of histogram `metric` in `text`.
fn over(text: &str, metric: &str, le: &str) -> Result<(f64, f64)> {
    let value = |line: &str| -> Result<f64> {
        let (_, v) = line
            .rsplit_once(' ')
            .with_context(|| format!("unreadable series: {line}"))?;
        v.parse()
            .with_context(|| format!("unreadable value: {line}"))
    };
    let bucket = format!("{metric}_bucket{{le=\"{le}\"}} ");
    let count = format!("{metric}_count ");
    let (mut total, mut within) = (None, None);
    for line in text.lines() {
        if line.starts_with(&bucket) {
            within = Some(value(line)?);
        } else if line.starts_with(&count) {
            total = Some(value(line)?);
        }
    }
    match (total, within) {
        (Some(t), Some(w)) => Ok((t, t - w)),
        _ => bail!("no {metric} histogram with a {le} bucket in the scrape"),
    }
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
        let Some(rest) = line.strip_prefix("provledger_appends_total{") else {
            continue;
        };
        let (labels, value) = rest
            .rsplit_once(' ')
            .with_context(|| format!("unreadable series: {line}"))?;
        let value: f64 = value
            .parse()
            .with_context(|| format!("unreadable value: {line}"))?;
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
        let (n, above) = over(text, "provledger_fsync_duration_seconds", "0.025").unwrap();
        assert_eq!((n, above), (40.0, 3.0));
        assert!(over(text, "provledger_append_ack_duration_seconds", "0.025").is_err());
    }
}
