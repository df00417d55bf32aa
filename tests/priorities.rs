//! The real server's threads run at the priorities the acknowledgement path depends on: the
//! threads off that path (the lineage indexer and database, the hash-index writer, the node
//! sync) yield the CPU and the disk to the ones on it (the sequencer and the request threads).
#![cfg(target_os = "linux")]

mod common;

use common::process::ServerProcess;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one thread of the server runs at.
#[derive(Debug, Clone, Copy)]
struct Priority {
    nice: i64,
    policy: i64,
    io_class: i64,
}

const SCHED_OTHER: i64 = 0;
const SCHED_IDLE: i64 = 5;
const IO_CLASS_IDLE: i64 = 3;

/// Every thread of process `pid` by name (the kernel's 15-character `comm`).
fn threads_of(pid: u32) -> HashMap<String, Vec<Priority>> {
    let mut threads: HashMap<String, Vec<Priority>> = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap();
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread exited meanwhile
        };
        let name = stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()].to_string();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        let tid: libc::c_int = task.file_name().to_str().unwrap().parse().unwrap();
        // SAFETY: ioprio_get takes two integers and touches no memory of ours.
        let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1 as libc::c_int, tid) };
        if ioprio < 0 {
            continue; // the thread exited meanwhile
        }
        threads.entry(name).or_default().push(Priority {
            // Fields 19 (nice) and 41 (policy), counted after the command name.
            nice: fields[16].parse().unwrap(),
            policy: fields[38].parse().unwrap(),
            io_class: i64::from(ioprio as i32 >> 13),
        });
    }
    threads
}

#[test]
fn background_threads_yield_the_cpu_and_the_disk_to_the_acknowledgement_path() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[], &[]).unwrap();
    let pid = server.child.id();
    let wanted = [
        "provledger-sequ",
        "tokio-rt-worker",
        "provledger-line",
        "provledger-inde",
        "fjall:worker",
        "tree-sync",
        "sled-sync",
    ];
    // The lineage database opens in the background; wait for its thread.
    let deadline = Instant::now() + Duration::from_secs(20);
    let threads = loop {
        let threads = threads_of(pid);
        if wanted.iter().all(|name| threads.contains_key(*name)) || Instant::now() > deadline {
            break threads;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let of = |name: &str| -> Vec<Priority> {
        threads
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("no thread {name:?}; the server has {:?}", threads.keys()))
    };

    for name in ["provledger-sequ", "tokio-rt-worker"] {
        for p in of(name) {
            assert_eq!(p.nice, 0, "{name}: {p:?}");
            assert_eq!(p.policy, SCHED_OTHER, "{name}: {p:?}");
            assert_ne!(p.io_class, IO_CLASS_IDLE, "{name}: {p:?}");
        }
    }
    // Followers that must keep up: a higher nice value, the normal policy, idle I/O.
    for name in ["provledger-line", "provledger-inde"] {
        for p in of(name) {
            assert_eq!(p.nice, 5, "{name}: {p:?}");
            assert_eq!(p.policy, SCHED_OTHER, "{name}: {p:?}");
            assert_eq!(p.io_class, IO_CLASS_IDLE, "{name}: {p:?}");
        }
    }
    // The lineage database's own thread runs only on an otherwise idle core.
    for p in of("fjall:worker") {
        assert_eq!(p.nice, 10, "fjall:worker: {p:?}");
        assert_eq!(p.policy, SCHED_IDLE, "fjall:worker: {p:?}");
        assert_eq!(p.io_class, IO_CLASS_IDLE, "fjall:worker: {p:?}");
    }
    for p in of("tree-sync") {
        assert_eq!(p.io_class, IO_CLASS_IDLE, "tree-sync: {p:?}");
    }
    // sled's background sync yields the CPU to the append path, but not the disk: if it fell
    // far behind, the appending thread would have to sync sled itself before reusing a
    // journal file.
    for p in of("sled-sync") {
        assert_eq!(p.nice, 5, "sled-sync: {p:?}");
        assert_eq!(p.policy, SCHED_OTHER, "sled-sync: {p:?}");
        assert_ne!(p.io_class, IO_CLASS_IDLE, "sled-sync: {p:?}");
    }
}
