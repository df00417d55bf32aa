//! `GET /metrics` from the server under test (HTTP/1.1 on its gRPC port), read as the
//! OpenMetrics text it is: the soak cross-checks the server's own append counters against what
//! its clients saw acknowledged.

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
    let text = String::from_utf8(body.to_vec()).context("/metrics is not UTF-8")?;
    parse_appends(&text)
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
}
