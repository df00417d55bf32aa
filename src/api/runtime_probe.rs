//! A probe of the async runtime's responsiveness: a task that asks to be woken every
//! [`PERIOD`] and records how late it ran in `provledger_runtime_wake_delay_seconds`.
//!
//! Every request's task waits for a runtime worker the same way, so a delay here is one that
//! every request saw at that moment: all workers busy or blocked, or the process waiting for a
//! core. Appends that are slow with no slow queue wait, commit or sync, and no late wake here,
//! were slow outside the server's runtime (the network, the client). The probe costs one task
//! wake-up per period. It stops when the [`Probe`] is dropped.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Time between the probe's wake-ups.
pub const PERIOD: Duration = Duration::from_millis(10);

/// The running probe; dropping it stops it.
pub struct Probe(JoinHandle<()>);

impl Probe {
    /// Starts the probe on the current runtime. Must be called from inside a Tokio runtime.
    pub fn start(metrics: Arc<Metrics>) -> Probe {
        Probe(tokio::spawn(async move {
            let mut due = Instant::now() + PERIOD;
            loop {
                tokio::time::sleep_until(due).await;
                let now = Instant::now();
                metrics.runtime_woke(now.saturating_duration_since(due));
                // The next deadline counts from now: one late wake is recorded once, not again
                // for every period it covered.
                due = now + PERIOD;
            }
        }))
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Scrape;

    /// A worker held for 60 ms shows as a wake about that late, in the metrics text.
    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_is_recorded_as_a_late_wake() {
        let metrics = Arc::new(Metrics::new());
        let probe = Probe::start(metrics.clone());
        tokio::time::sleep(PERIOD * 3).await;
        // Hold the only worker thread, as a blocking call on it would.
        std::thread::sleep(Duration::from_millis(60));
        tokio::time::sleep(PERIOD * 2).await;
        drop(probe);
        let text = metrics
            .render(&Scrape {
                tree_size: 0,
                lineage_indexed: 0,
                checkpoint_time: None,
                lineage_memory: None,
            })
            .expect("render");
        let over = |le: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| {
                    l.starts_with("provledger_runtime_wake_delay_seconds_bucket")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .unwrap_or_else(|| panic!("no bucket {le} in\n{text}"));
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1.0)
        };
        let count = text
            .lines()
            .find(|l| l.starts_with("provledger_runtime_wake_delay_seconds_count"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(count >= 3.0, "too few wakes recorded: {count}");
        // The wake that waited behind the 60 ms hold is over 25 ms (on a busy machine others
        // may be too).
        assert!(count - over("0.025") >= 1.0, "{text}");
    }
}
