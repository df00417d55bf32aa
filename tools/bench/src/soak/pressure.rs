//! The machine's pressure stall information (Linux PSI): for CPU and for I/O, the total time
//! in which at least one runnable task waited for a core, or for the disk
//! (`/proc/pressure/{cpu,io}`, the `some` line's `total=` in microseconds). Read at each
//! window's end, the difference says how much of the window some thread on the machine spent
//! waiting, whichever process it belonged to (the server or the load generator). Absent
//! (`None`) where the kernel does not provide it.

use std::time::Duration;

/// The `some` totals at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Stalls {
    pub cpu: Option<Duration>,
    pub io: Option<Duration>,
}

impl Stalls {
    /// Reads both totals now.
    pub fn now() -> Stalls {
        Stalls {
            cpu: read("/proc/pressure/cpu"),
            io: read("/proc/pressure/io"),
        }
    }

    /// Percent of `span` since `before` in which some task waited for a core, and for I/O.
    pub fn percent_since(&self, before: &Stalls, span: Duration) -> (Option<f64>, Option<f64>) {
        let pct = |now: Option<Duration>, then: Option<Duration>| {
            Some(now?.saturating_sub(then?).as_secs_f64() / span.as_secs_f64() * 100.0)
        };
        (pct(self.cpu, before.cpu), pct(self.io, before.io))
    }
}

fn read(path: &str) -> Option<Duration> {
    parse_some_total(&std::fs::read_to_string(path).ok()?)
}

/// The `total=` of the `some` line, in microseconds.
fn parse_some_total(text: &str) -> Option<Duration> {
    let line = text.lines().find(|l| l.starts_with("some "))?;
    let total = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?;
    total.parse().ok().map(Duration::from_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_some_total() {
        let text = "some avg10=0.06 avg60=0.02 avg300=3.24 total=4620324925\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n";
        assert_eq!(
            parse_some_total(text),
            Some(Duration::from_micros(4_620_324_925))
        );
        assert_eq!(parse_some_total("full total=7\n"), None);
        assert_eq!(parse_some_total("some avg10=1 total=x\n"), None);
    }

    #[test]
    fn percent_of_a_window() {
        let before = Stalls {
            cpu: Some(Duration::from_millis(1_000)),
            io: None,
        };
        let after = Stalls {
            cpu: Some(Duration::from_millis(3_500)),
            io: Some(Duration::from_millis(5)),
        };
        let (cpu, io) = after.percent_since(&before, Duration::from_secs(10));
        assert!((cpu.unwrap_or(0.0) - 25.0).abs() < 1e-9);
        assert_eq!(io, None);
    }
}
