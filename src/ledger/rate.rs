//! Per-key append rate: a token bucket for each signing key, refilled continuously at `per_second`
//! up to `burst` tokens. An append whose key has no token left is refused RESOURCE_EXHAUSTED
//! before it is queued.
//!
//! Invariants: the limiter is consulted only after the envelope's signature verified, so nobody
//! can spend another key's budget; a limit of 0 switches it off (no lock is taken); the table of
//! buckets is bounded — when it reaches [`MAX_TRACKED_KEYS`] the full buckets (keys idle long
//! enough to have refilled) are dropped, which changes no answer.

use super::error::{AppendError, Refusal};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Most keys whose buckets are kept at once before idle ones are dropped.
pub const MAX_TRACKED_KEYS: usize = 65_536;

/// How fast each key may append.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained appends per second per key; 0 = unlimited.
    pub per_second: f64,
    /// Appends a key may make at once after being idle (at least 1).
    pub burst: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 0.0,
            burst: 1.0,
        }
    }
}

impl RateLimit {
    pub fn is_unlimited(&self) -> bool {
        self.per_second <= 0.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every key that appended recently.
#[derive(Debug)]
pub struct KeyRates {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl KeyRates {
    pub fn new(limit: RateLimit) -> Self {
        KeyRates {
            limit: RateLimit {
                per_second: limit.per_second,
                burst: limit.burst.max(1.0),
            },
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key_id`'s bucket, or refuses.
    pub fn take(&self, key_id: &str) -> Result<(), AppendError> {
        self.take_at(key_id, Instant::now())
    }

    fn take_at(&self, key_id: &str, now: Instant) -> Result<(), AppendError> {
        if self.limit.is_unlimited() {
            return Ok(());
        }
        let RateLimit { per_second, burst } = self.limit;
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key_id) {
            buckets.retain(|_, b| refilled(b, now, per_second, burst) < burst);
        }
        let bucket = buckets.entry(key_id.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens = refilled(bucket, now, per_second, burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        Err(AppendError::new(
            Refusal::ResourceExhausted,
            format!(
                "event.key_id: key {key_id:?} is over its append rate of {per_second}/s \
                 (burst {burst}); retry later"
            ),
        ))
    }
}

fn refilled(bucket: &Bucket, now: Instant, per_second: f64, burst: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn unlimited_never_refuses() {
        let rates = KeyRates::new(RateLimit::default());
        for _ in 0..10_000 {
            rates.take("k").unwrap();
        }
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let rates = KeyRates::new(RateLimit {
            per_second: 10.0,
            burst: 5.0,
        });
        let t0 = Instant::now();
        for _ in 0..5 {
            rates.take_at("k", t0).unwrap();
        }
        let refused = rates.take_at("k", t0).unwrap_err();
        assert_eq!(refused.refusal, Refusal::ResourceExhausted);
        assert!(refused.message.starts_with("event.key_id:"), "{refused}");
        // Another key has its own bucket.
        rates.take_at("other", t0).unwrap();
        // 100 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        rates.take_at("k", t1).unwrap();
        rates.take_at("k", t1).unwrap_err();
        // A long idle spell refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            rates.take_at("k", t2).unwrap();
        }
        rates.take_at("k", t2).unwrap_err();
    }

    #[test]
    fn the_table_of_buckets_stays_bounded() {
        let rates = KeyRates::new(RateLimit {
            per_second: 1000.0,
            burst: 1.0,
        });
        let t0 = Instant::now();
        for i in 0..MAX_TRACKED_KEYS {
            rates.take_at(&format!("k{i}"), t0).unwrap();
        }
        // A second later every bucket is full again, so a new key drops them all.
        rates.take_at("new", t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(rates.buckets.lock().unwrap().len(), 1);
    }
}
