//! A lock-free histogram for the hot paths, rendered through `prometheus-client`.
//!
//! The crate's own `Histogram` takes a mutex per observation; this one takes none: an
//! observation is a search over a handful of fixed bounds and two relaxed atomic additions.
//! Values are integers in a base unit (nanoseconds, entries); `scale` converts them to the unit
//! the metric is named in (seconds, entries) at scrape time.
//!
//! Invariants: bounds are strictly increasing and fixed at construction; there is one counter
//! per bound plus the implicit `+Inf` bucket; the count rendered is the sum of the buckets read,
//! so a scrape is self-consistent (`_count` equals the `+Inf` bucket) even while observations
//! race with it. The sum is kept in base units in a `u64` (at nanoseconds, 584 years of summed
//! latency before it wraps).

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds in seconds: 50 µs to 10 s, finer from 5 to 100 ms, where
/// acknowledgements under load fall (so a percentile read from the buckets is close).
pub const LATENCY_BOUNDS_SECONDS: [f64; 24] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02,
    0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Batch size bucket bounds, in entries: powers of two up to 4096.
pub const BATCH_BOUNDS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0,
];

/// A fixed-bucket histogram of integer observations; clones share the same counters.
#[derive(Debug, Clone)]
pub struct AtomicHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds in base units.
    bounds: Box<[u64]>,
    /// The same bounds as given, in rendered units (rendered exactly as given, not as base
    /// units × `scale`, which can be off in the last digit).
    rendered: Box<[f64]>,
    /// One per bound, then `+Inf`.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    /// Rendered value of one base unit.
    scale: f64,
}

impl AtomicHistogram {
    /// A histogram whose bounds are `bounds` (in rendered units), observed in base units of
    /// `scale` rendered units each. Bounds are rounded to base units, and ones that do not
    /// increase are dropped.
    pub fn new(bounds: &[f64], scale: f64) -> Self {
        let mut base: Vec<u64> = Vec::with_capacity(bounds.len());
        let mut rendered = Vec::with_capacity(bounds.len());
        for &given in bounds {
            let b = (given / scale).round() as u64;
            if base.last().is_none_or(|last| b > *last) {
                base.push(b);
                rendered.push(given);
            }
        }
        let buckets = (0..=base.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram {
            inner: Arc::new(Inner {
                bounds: base.into_boxed_slice(),
                rendered: rendered.into_boxed_slice(),
                buckets,
                sum: AtomicU64::new(0),
                scale,
            }),
        }
    }

    /// A latency histogram in seconds, observed in nanoseconds.
    pub fn latency() -> Self {
        Self::new(&LATENCY_BOUNDS_SECONDS, 1e-9)
    }

    /// A histogram of entry counts per batch.
    pub fn batch_sizes() -> Self {
        Self::new(&BATCH_BOUNDS, 1.0)
    }

    /// Records one value in base units.
    pub fn observe(&self, value: u64) {
        let i = self.inner.bounds.partition_point(|&b| b < value);
        self.inner.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.inner.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Records a duration (for histograms in nanoseconds).
    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    /// (sum in rendered units, count, per-bucket counts with their rendered upper bounds).
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &self.inner;
        let mut buckets = Vec::with_capacity(inner.buckets.len());
        let mut count = 0u64;
        for (i, bucket) in inner.buckets.iter().enumerate() {
            let n = bucket.load(Ordering::Relaxed);
            count += n;
            let bound = inner.rendered.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        let sum = inner.sum.load(Ordering::Relaxed) as f64 * inner.scale;
        (sum, count, buckets)
    }
}

impl TypedMetric for AtomicHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for AtomicHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_at_or_above_them() {
        let h = AtomicHistogram::new(&[1.0, 2.0, 4.0], 1.0);
        for v in [0, 1, 2, 3, 4, 5, 100] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 7);
        assert_eq!(sum, 115.0);
        assert_eq!(
            buckets,
            vec![(1.0, 2), (2.0, 1), (4.0, 2), (f64::INFINITY, 2)]
        );
    }

    #[test]
    fn durations_render_in_seconds() {
        let h = AtomicHistogram::latency();
        h.observe_duration(Duration::from_micros(300));
        h.observe_duration(Duration::from_secs(20));
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 2);
        assert!((sum - 20.0003).abs() < 1e-9);
        let at = |bound: f64| buckets.iter().find(|(b, _)| (*b - bound).abs() < 1e-12);
        assert_eq!(at(0.0005).map(|(_, n)| *n), Some(1));
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 1)));
    }

    #[test]
    fn latency_bounds_render_as_given() {
        let (_, _, buckets) = AtomicHistogram::latency().snapshot();
        let rendered: Vec<f64> = buckets.iter().map(|(b, _)| *b).collect();
        let mut expected = LATENCY_BOUNDS_SECONDS.to_vec();
        expected.push(f64::INFINITY);
        assert_eq!(rendered, expected);
        assert!(rendered.iter().any(|b| b.to_string() == "0.0075"));
    }

    #[test]
    fn clones_share_counters() {
        let h = AtomicHistogram::batch_sizes();
        h.clone().observe(3);
        assert_eq!(h.snapshot().1, 1);
    }
}
