//! The usual `process_*` metrics, read from `/proc/self` at scrape time (Linux only).
//!
//! Invariants: nothing is read between scrapes; a file that cannot be read or parsed leaves its
//! metrics out of that scrape (never a failed scrape, never a made-up value). Elsewhere than
//! Linux the collector renders nothing.
//!
//! CPU and start times in `/proc` are in clock ticks of `USER_HZ`, which the kernel fixes at 100
//! for everything it exports to user space.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::path::Path;

/// Clock ticks per second in `/proc` (the kernel's `USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// What `/proc/self/stat` tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Start time, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold spaces
/// and parentheses itself, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let (utime, stime) = (field(14)?, field(15)?);
    Some(Stat {
        cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
    })
}

/// A `Key:   value [kB]` line of `/proc/<pid>/status`, in bytes when it has the kB unit.
pub fn status_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        let mut parts = v.split_whitespace();
        let n: u64 = parts.next()?.parse().ok()?;
        match parts.next() {
            None => Some(n),
            Some("kB") => n.checked_mul(1024),
            Some(_) => None,
        }
    })
}

/// The boot time (`btime`, seconds since the epoch) from `/proc/stat`.
pub fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit on open files from `/proc/<pid>/limits` (None when unlimited or unreadable).
pub fn max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Renders the process metrics of the calling process.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !cfg!(target_os = "linux") {
            return Ok(());
        }
        let proc = Path::new("/proc");
        let read = |p: &str| std::fs::read_to_string(proc.join(p)).ok();
        let stat = read("self/stat").as_deref().and_then(parse_stat);
        let status = read("self/status");
        let status_of = |key| status.as_deref().and_then(|s| status_value(s, key));
        let e = &mut encoder;
        if let Some(stat) = stat {
            ConstCounter::new(stat.cpu_seconds).encode(e.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent, in seconds.",
                None,
                MetricType::Counter,
            )?)?;
        }
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size, in bytes.",
            status_of("VmRSS"),
        )?;
        gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size, in bytes.",
            stat.map(|s| s.virtual_bytes),
        )?;
        let open_fds = std::fs::read_dir(proc.join("self/fd"))
            .ok()
            .map(|entries| entries.count() as u64);
        gauge(
            e,
            "process_open_fds",
            "Number of open file descriptors.",
            open_fds,
        )?;
        gauge(
            e,
            "process_max_fds",
            "Maximum number of open file descriptors (the soft limit).",
            read("self/limits").as_deref().and_then(max_open_files),
        )?;
        if let Some((s, boot)) = stat.zip(read("stat").as_deref().and_then(boot_time)) {
            ConstGauge::new(boot as f64 + s.start_ticks as f64 / TICKS_PER_SECOND).encode(
                e.encode_descriptor(
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch, in seconds.",
                    None,
                    MetricType::Gauge,
                )?,
            )?;
        }
        gauge(
            e,
            "process_threads",
            "Number of OS threads in the process.",
            status_of("Threads"),
        )?;
        super::allocator::encode(e)
    }
}

/// Renders one integer gauge, or nothing when its value could not be read.
pub(super) fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: Option<u64>,
) -> Result<(), std::fmt::Error> {
    match value {
        Some(v) => ConstGauge::new(v).encode(encoder.encode_descriptor(
            name,
            help,
            None,
            MetricType::Gauge,
        )?),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (provledger (x) y) S 1 4242 4242 0 -1 4194560 1523 0 0 0 250 75 0 0 \
                        20 0 9 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 \
                        17664 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.cpu_seconds, 3.25);
        assert_eq!(s.start_ticks, 123456);
        assert_eq!(s.virtual_bytes, 987654321);
    }

    #[test]
    fn truncated_or_garbled_stat_is_none() {
        assert_eq!(parse_stat("4242 (provledger) S 1 2 3"), None);
        assert_eq!(parse_stat("no parenthesis at all"), None);
        assert_eq!(parse_stat(&STAT.replace(" 250 ", " x ")), None);
    }

    #[test]
    fn status_values_convert_kilobytes() {
        let status = "Name:\tprovledger\nVmSize:\t  123 kB\nVmRSS:\t   2048 kB\nThreads:\t9\n";
        assert_eq!(status_value(status, "VmRSS"), Some(2048 * 1024));
        assert_eq!(status_value(status, "Threads"), Some(9));
        assert_eq!(status_value(status, "VmSwap"), None);
        assert_eq!(status_value("VmRSS:\t12 MB\n", "VmRSS"), None);
    }

    #[test]
    fn boot_time_and_fd_limit() {
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1700000000)
        );
        assert_eq!(boot_time("cpu  1 2 3\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files(unlimited), None);
    }

    #[test]
    fn this_process_is_readable_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let s = parse_stat(&stat).unwrap();
        assert!(s.virtual_bytes > 0);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_value(&status, "VmRSS").unwrap() > 0);
        assert!(status_value(&status, "Threads").unwrap() >= 1);
    }
}
