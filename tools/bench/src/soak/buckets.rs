//! One histogram's cumulative buckets as the server's `/metrics` renders them, the
//! observations between two scrapes, and a percentile read from them.
//!
//! Invariants: bounds are strictly increasing and the last is `+Inf`; counts are cumulative
//! (each bucket counts every observation at or below its bound), so they never decrease along
//! the bounds. A percentile is read as Prometheus's `histogram_quantile` reads it: found in the
//! first bucket whose count reaches its rank, linearly between that bucket's lower and upper
//! bound; one that falls in the `+Inf` bucket is reported as the highest finite bound.

use anyhow::{Result, bail};

/// `(upper bound, cumulative count)` per bucket, `+Inf` last.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Buckets(Vec<(f64, f64)>);

impl Buckets {
    /// Reads histogram `metric`'s `_bucket` series from an OpenMetrics text.
    pub fn parse(text: &str, metric: &str) -> Result<Buckets> {
        let prefix = format!("{metric}_bucket{{le=\"");
        let mut buckets = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((le, count)) = rest.split_once("\"} ") else {
                bail!("unreadable bucket: {line}");
            };
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse::<f64>()
                    .map_err(|_| anyhow::anyhow!("unreadable bucket bound: {line}"))?
            };
            let count = count
                .parse::<f64>()
                .map_err(|_| anyhow::anyhow!("unreadable bucket count: {line}"))?;
            buckets.push((bound, count));
        }
        let increasing = buckets
            .windows(2)
            .all(|p| p[0].0 < p[1].0 && p[0].1 <= p[1].1);
        if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) || !increasing {
            bail!("no well-formed {metric} histogram in the scrape");
        }
        Ok(Buckets(buckets))
    }

    /// The observations between scrape `before` and this one (empty if the bounds differ, as
    /// they would across a server restart with another build).
    pub fn since(&self, before: &Buckets) -> Buckets {
        if before.0.is_empty() {
            return self.clone();
        }
        if before.0.len() != self.0.len() || before.0.iter().zip(&self.0).any(|(a, b)| a.0 != b.0) {
            return Buckets::default();
        }
        Buckets(
            self.0
                .iter()
                .zip(&before.0)
                .map(|(now, then)| (now.0, (now.1 - then.1).max(0.0)))
                .collect(),
        )
    }

    /// Observations counted.
    pub fn count(&self) -> f64 {
        self.0.last().map_or(0.0, |b| b.1)
    }

    /// The `q` quantile in the histogram's unit, or `None` with no observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total;
        let mut lower = (0.0, 0.0);
        for &(bound, count) in &self.0 {
            if count >= rank && count > 0.0 {
                if bound.is_infinite() {
                    return Some(lower.0);
                }
                let within = count - lower.1;
                let fraction = if within > 0.0 {
                    (rank - lower.1) / within
                } else {
                    1.0
                };
                return Some(lower.0 + (bound - lower.0) * fraction);
            }
            lower = (bound, count);
        }
        Some(lower.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "h_sum 1.5\n\
        h_count 100\n\
        h_bucket{le=\"0.005\"} 50\n\
        h_bucket{le=\"0.01\"} 90\n\
        h_bucket{le=\"0.025\"} 99\n\
        h_bucket{le=\"+Inf\"} 100\n\
        other_bucket{le=\"1\"} 7\n";

    #[test]
    fn reads_the_buckets_of_one_histogram() {
        let b = Buckets::parse(TEXT, "h").unwrap();
        assert_eq!(
            b.0,
            vec![
                (0.005, 50.0),
                (0.01, 90.0),
                (0.025, 99.0),
                (f64::INFINITY, 100.0)
            ]
        );
        assert_eq!(b.count(), 100.0);
        assert!(Buckets::parse(TEXT, "missing").is_err());
        assert!(Buckets::parse("h_bucket{le=\"0.1\"} 3\n", "h").is_err());
        assert!(Buckets::parse("h_bucket{le=\"x\"} 3\nh_bucket{le=\"+Inf\"} 3\n", "h").is_err());
        let decreasing = "h_bucket{le=\"0.1\"} 3\nh_bucket{le=\"+Inf\"} 2\n";
        assert!(Buckets::parse(decreasing, "h").is_err());
    }

    #[test]
    fn percentiles_interpolate_within_a_bucket() {
        let b = Buckets::parse(TEXT, "h").unwrap();
        // Rank 25 of 50 in [0, 5 ms]: half way.
        assert!((b.quantile(0.25).unwrap() - 0.0025).abs() < 1e-12);
        // Rank 70: 20 of the 40 in (5, 10 ms].
        assert!((b.quantile(0.70).unwrap() - 0.0075).abs() < 1e-12);
        // Rank 99: the last of the 9 in (10, 25 ms].
        assert!((b.quantile(0.99).unwrap() - 0.025).abs() < 1e-12);
        // Rank 99.5 lies in +Inf: the highest finite bound.
        assert_eq!(b.quantile(0.995), Some(0.025));
        assert_eq!(Buckets::default().quantile(0.99), None);
    }

    #[test]
    fn a_window_is_the_difference_of_two_scrapes() {
        let before = Buckets::parse(TEXT, "h").unwrap();
        let later = TEXT
            .replace("} 99\n", "} 189\n")
            .replace("} 100\n", "} 200\n");
        let after = Buckets::parse(&later, "h").unwrap();
        let window = after.since(&before);
        // 100 new observations: 90 in (10, 25 ms], 10 above.
        assert_eq!(window.count(), 100.0);
        let median = window.quantile(0.5).unwrap();
        assert!((median - (0.01 + 0.015 * 50.0 / 90.0)).abs() < 1e-12);
        assert_eq!(window.quantile(0.95), Some(0.025));
        assert_eq!(after.since(&Buckets::default()), after);
        let other = Buckets::parse("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n", "h").unwrap();
        assert_eq!(after.since(&other), Buckets::default());
    }
}
