//! Lowering the load generator's CPU priority below the server's.
//!
//! On Linux a nice value belongs to each thread, and a new thread takes its creator's: so every
//! thread the process has now is reniced, and the threads it starts later inherit the value.
//! The server runs in its own process, started before, and keeps its own.

use anyhow::{Context, Result};

/// Sets the nice value of every thread of this process to `nice` (raising it needs no
/// privilege); returns how many threads were changed.
pub fn lower_this_process(nice: i32) -> Result<usize> {
    let mut changed = 0;
    for task in std::fs::read_dir("/proc/self/task").context("listing this process's threads")? {
        let tid: libc::id_t = task?
            .file_name()
            .to_string_lossy()
            .parse()
            .context("a thread id in /proc/self/task")?;
        // SAFETY: setpriority reads its three integer arguments and touches no memory of ours.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, nice) };
        if done != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("setting thread {tid} to nice {nice}"));
        }
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    // It renices this whole test process (a nice value cannot be lowered again without
    // privilege): the other tests here then run at nice 7, which only slows them.
    #[test]
    fn every_thread_takes_the_value() {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<libc::pid_t>();
        let before = std::thread::spawn(move || {
            // SAFETY: gettid takes no arguments.
            let _ = ready.send(unsafe { libc::gettid() });
            stopped.recv()
        });
        let tid = started.recv().expect("the thread started");
        let changed = lower_this_process(7).expect("renice");
        assert!(changed >= 2, "only {changed} threads");
        let nice_of = |tid: libc::pid_t| -> i64 {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .expect("thread stat");
            let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            // Field 19 of stat is the nice value; `after` starts at field 3.
            after
                .split_whitespace()
                .nth(16)
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MIN)
        };
        assert_eq!(nice_of(tid), 7);
        // SAFETY: gettid takes no arguments.
        assert_eq!(nice_of(unsafe { libc::gettid() }), 7);
        drop(stop);
        let _ = before.join();
    }
}
