//! Waiting for a core or a disk, as Linux counts it.
//!
//! - The machine's pressure stall information (PSI): for CPU and for I/O, the total time in
//!   which at least one runnable task waited for a core, or for the disk
//!   (`/proc/pressure/{cpu,io}`, the `some` line's `total=` in microseconds), whichever process
//!   it belonged to (the server or the load generator).
//! - Steal: time the hypervisor gave this machine's virtual CPUs to something else while they
//!   had work (`/proc/stat`, the `cpu` line's eighth value, in clock ticks).
//! - The server's runtime workers' run-queue wait: how long its `tokio-rt-worker` threads were
//!   runnable but not running (`/proc/PID/task/TID/schedstat`, second value, in ns). A wait
//!   that jumps while the runtime probe reports a late wake says the workers had no core; a
//!   late wake without it says they were blocked.
//!
//! Each is absent (`None`) where the kernel does not provide it.

use std::time::Duration;

/// The machine's totals at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Stalls {
    pub cpu: Option<Duration>,
    pub io: Option<Duration>,
    pub steal: Option<Duration>,
}

impl Stalls {
    /// Reads the totals now; `hz` is the clock ticks per second of `/proc/stat`.
    pub fn now(hz: f64) -> Stalls {
        Stalls {
            cpu: read("/proc/pressure/cpu"),
            io: read("/proc/pressure/io"),
            steal: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|text| parse_steal(&text, hz)),
        }
    }

    /// Percent of `span` since `before` in which some task waited for a core, and for I/O; and
    /// the CPU time stolen by the hypervisor in that span, as a percent of one CPU's time.
    pub fn percent_since(&self, before: &Stalls, span: Duration) -> Percents {
        let pct = |now: Option<Duration>, then: Option<Duration>| {
            Some(now?.saturating_sub(then?).as_secs_f64() / span.as_secs_f64() * 100.0)
        };
        Percents {
            cpu: pct(self.cpu, before.cpu),
            io: pct(self.io, before.io),
            steal: pct(self.steal, before.steal),
        }
    }
}

/// [`Stalls::percent_since`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Percents {
    pub cpu: Option<f64>,
    pub io: Option<f64>,
    pub steal: Option<f64>,
}

/// The total run-queue wait of process `pid`'s threads named `tokio-rt-worker`.
pub fn worker_wait(pid: u32) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .is_ok_and(|comm| comm.trim_end() == "tokio-rt-worker");
        if !named {
            continue;
        }
        let Some(wait) = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|text| parse_run_queue_wait(&text))
        else {
            continue;
        };
        total += wait;
        found = true;
    }
    found.then_some(total)
}

/// The second value of a `schedstat` line (ns spent runnable, waiting for a core).
fn parse_run_queue_wait(text: &str) -> Option<Duration> {
    text.split_whitespace()
        .nth(1)?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// The `cpu` line's steal (its eighth value) of `/proc/stat`, in clock ticks of `hz`.
fn parse_steal(text: &str, hz: f64) -> Option<Duration> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: f64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(Duration::from_secs_f64(ticks / hz))
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
            steal: Some(Duration::from_millis(10)),
        };
        let after = Stalls {
            cpu: Some(Duration::from_millis(3_500)),
            io: Some(Duration::from_millis(5)),
            steal: Some(Duration::from_millis(110)),
        };
        let p = after.percent_since(&before, Duration::from_secs(10));
        assert!((p.cpu.unwrap_or(0.0) - 25.0).abs() < 1e-9);
        assert_eq!(p.io, None);
        assert!((p.steal.unwrap_or(0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn reads_steal_and_run_queue_wait() {
        let stat = "cpu  2225361 216907 603066 1523837 74595 0 104547 2992 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            parse_steal(stat, 100.0),
            Some(Duration::from_millis(29_920))
        );
        assert_eq!(parse_steal("cpu0 1 2\n", 100.0), None);
        assert_eq!(
            parse_run_queue_wait("869954 1500 2\n"),
            Some(Duration::from_nanos(1500))
        );
        assert_eq!(parse_run_queue_wait("869954\n"), None);
    }

    #[test]
    fn finds_a_process_workers_by_name() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("tokio-rt-worker".into())
            .spawn(move || {
                let _ = started.send(());
                stopped.recv()
            })
            .expect("spawn a thread");
        // The thread has named itself by the time it runs its closure.
        running.recv().expect("the thread started");
        let found = worker_wait(std::process::id());
        drop(stop);
        let _ = worker.join();
        if std::path::Path::new("/proc/self/schedstat").exists() {
            assert!(found.is_some(), "the named thread was not found");
        }
    }
}
