//! CPU time by group of threads, for the server (its runtime workers, sequencer, background
//! writers and the libraries' threads, told apart by thread name) and for the load generator
//! as a whole: so that a window in which acknowledgements waited for a core shows which
//! threads had the cores.
//!
//! Read from Linux's `/proc/PID/task/TID/schedstat` (its first field: nanoseconds on a core).
//! Threads that exit between two readings take their time with them, so a group's figure for a
//! window can fall short, never over; elsewhere than Linux every figure is absent.

use std::time::Duration;

/// The groups, in the order the report prints them; the last takes every unnamed thread.
pub const GROUPS: [&str; 8] = [
    "runtime workers",
    "sequencer",
    "hash-index writer",
    "lineage indexer",
    "lineage database",
    "sled",
    "node sync",
    "other",
];

/// The group of a server thread named `comm` (an index into [`GROUPS`]).
fn group(comm: &str) -> usize {
    const PREFIXES: [(&str, usize); 9] = [
        ("tokio-rt-worker", 0),
        ("provledger-sequ", 1),
        ("provledger-inde", 2),
        ("provledger-line", 3),
        ("fjall", 4),
        ("sled-", 5),
        ("log flusher", 5),
        ("tree-sync", 6),
        ("", 7),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| comm.starts_with(prefix))
        .map_or(GROUPS.len() - 1, |&(_, g)| g)
}

/// CPU time so far of the server's thread groups, and of this process.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Cpu {
    pub server: Option<[Duration; GROUPS.len()]>,
    pub load_generator: Option<Duration>,
}

impl Cpu {
    /// Reads the server `pid`'s threads and this process's.
    pub fn now(pid: u32) -> Cpu {
        let mut server = [Duration::ZERO; GROUPS.len()];
        let found = tasks(&format!("/proc/{pid}/task"), |comm, time| {
            server[group(comm)] += time;
        });
        let mut own = Duration::ZERO;
        let own_found = tasks("/proc/self/task", |_, time| own += time);
        Cpu {
            server: found.then_some(server),
            load_generator: own_found.then_some(own),
        }
    }

    /// Cores used per group between `before` and this reading, over `span`.
    pub fn cores_since(&self, before: &Cpu, span: Duration) -> Cores {
        let cores = |now: Duration, then: Duration| {
            now.saturating_sub(then).as_secs_f64() / span.as_secs_f64()
        };
        Cores {
            server: match (self.server, before.server) {
                (Some(now), Some(then)) => Some(std::array::from_fn(|g| cores(now[g], then[g]))),
                _ => None,
            },
            load_generator: match (self.load_generator, before.load_generator) {
                (Some(now), Some(then)) => Some(cores(now, then)),
                _ => None,
            },
        }
    }
}

/// Cores used in one window, per server thread group and by the load generator.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Cores {
    pub server: Option<[f64; GROUPS.len()]>,
    pub load_generator: Option<f64>,
}

/// Calls `each(comm, time on a core)` for every thread under `dir`; false if `dir` is
/// unreadable.
fn tasks(dir: &str, mut each: impl FnMut(&str, Duration)) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for task in entries.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("schedstat")),
        ) else {
            continue;
        };
        if let Some(time) = on_cpu(&stat) {
            each(comm.trim_end(), time);
        }
    }
    true
}

/// The first field of a `schedstat`: nanoseconds on a core.
fn on_cpu(schedstat: &str) -> Option<Duration> {
    schedstat
        .split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_fall_in_their_groups() {
        assert_eq!(GROUPS[group("tokio-rt-worker")], "runtime workers");
        assert_eq!(GROUPS[group("provledger-sequ")], "sequencer");
        assert_eq!(GROUPS[group("provledger-inde")], "hash-index writer");
        assert_eq!(GROUPS[group("provledger-line")], "lineage indexer");
        assert_eq!(GROUPS[group("fjall:worker")], "lineage database");
        assert_eq!(GROUPS[group("sled-io-3")], "sled");
        assert_eq!(GROUPS[group("log flusher")], "sled");
        assert_eq!(GROUPS[group("tree-sync")], "node sync");
        assert_eq!(GROUPS[group("jemalloc_bg_thd")], "other");
    }

    #[test]
    fn reads_time_on_a_core() {
        assert_eq!(
            on_cpu("869954 1500 2\n"),
            Some(Duration::from_nanos(869_954))
        );
        assert_eq!(on_cpu(""), None);
        assert_eq!(on_cpu("x 1 2\n"), None);
    }

    #[test]
    fn cores_are_time_on_a_core_over_the_span() {
        let mut before = Cpu {
            server: Some([Duration::ZERO; GROUPS.len()]),
            load_generator: Some(Duration::from_secs(1)),
        };
        let mut after = before.clone();
        if let Some(s) = after.server.as_mut() {
            s[0] = Duration::from_secs(5);
        }
        after.load_generator = Some(Duration::from_secs(3));
        let c = after.cores_since(&before, Duration::from_secs(10));
        assert_eq!(c.server.map(|s| s[0]), Some(0.5));
        assert_eq!(c.load_generator, Some(0.2));
        before.server = None;
        assert_eq!(
            after.cores_since(&before, Duration::from_secs(10)).server,
            None
        );
    }

    #[test]
    fn this_process_is_read() {
        let now = Cpu::now(std::process::id());
        assert!(
            now.server
                .is_some_and(|s| s.iter().sum::<Duration>() > Duration::ZERO)
        );
        assert!(now.load_generator.is_some());
    }
}
