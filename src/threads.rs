//! Scheduling priority of background threads that libraries start for us.
//!
//! The lineage database's compaction threads (fjall's workers) burn most of a core for a few
//! seconds every few hundred thousand entries. The lineage index is kept off the
//! acknowledgement path, so it can wait; acknowledgements cannot. [`with_lower_priority`] runs
//! the code that starts such threads on a short-lived thread with a higher nice value and the
//! `SCHED_IDLE` policy; on Linux a new thread inherits both from its creator, so the library's
//! threads run that way from their first instruction. `SCHED_IDLE` threads run only on a core
//! nothing else wants, and a waking request-serving thread preempts them at once (nice alone
//! left them a share of a contended core, and acknowledgements waited behind compactions).
//! On an idle machine nothing changes; under sustained full load compaction falls behind and
//! the lineage index lags (reported in `provledger_lineage_indexer_lag_entries`); its memory
//! stays bounded by the database's journal limit.
//!
//! The ledger's own threads that are off the acknowledgement path (the lineage indexer, the
//! hash-index writer) keep the normal policy but take a higher nice value with
//! [`lower_current_thread`]: they must keep up with the log, so they may not starve, but when
//! they and a request-serving thread want the same core, the request-serving one goes first.
//!
//! Both kinds also get the idle I/O class ([`lower_current_io`]): their writes and fsyncs
//! (lineage tables and journals, hash-index shards and their growth, the tree's node files)
//! then wait while the sequencer's commit fsyncs are queued at the disk. Without it, a trace
//! of a soak caught the sequencer waiting 7-15 ms on the disk five times within 0.22 s (94% of
//! a soak's commit syncs take under 1 ms), and acknowledgements wait behind such runs; in
//! 10-minute soaks its effect could not be told apart from run-to-run variation (README, Soak). The block layer's scheduler
//! must support I/O classes (mq-deadline and BFQ do; with `none` the class is ignored), and the
//! idle class still gets the disk whenever the commit path leaves it free, which between
//! batches it does.
//!
//! Linux only; elsewhere `f` simply runs at the caller's priority.

/// The nice value given to the lineage database's background threads as well: where the idle
/// policy cannot be set, their share of a contended core is still about a tenth of a normal
/// thread's.
pub const BACKGROUND_NICE: i32 = 10;

/// The nice value of the ledger's own background threads (see [`lower_current_thread`]): under
/// contention a thread at nice 5 gets about a third of the share of one at 0.
pub const FOLLOWER_NICE: i32 = 5;

/// Raises the calling thread's nice value to `nice` (never lowers it), keeping its policy.
pub fn lower_current_thread(nice: i32) {
    #[cfg(target_os = "linux")]
    set_own_nice(nice);
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// Gives the calling thread the idle I/O class (see the module docs); threads it starts
/// afterwards inherit it.
pub fn lower_current_io() {
    #[cfg(target_os = "linux")]
    set_own_io_idle();
}

/// Runs `f` on a new thread whose nice value is `nice` (or the caller's, if that is already
/// higher), whose policy is `SCHED_IDLE` (where the system allows it) and whose I/O class is
/// idle, and returns its result; threads that `f` starts inherit that priority. A panic in `f`
/// is resumed in the caller. The thread is named [`LOWERED_THREAD`], not after its caller, so
/// that while it runs it is not taken for the caller.
pub fn with_lower_priority<T: Send>(nice: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name(LOWERED_THREAD.into())
            .spawn_scoped(scope, || {
                lower_own_priority(nice);
                f()
            });
        // As `Scope::spawn` does, a thread the system cannot start is a panic.
        let thread = match spawned {
            Ok(thread) => thread,
            Err(e) => panic!("could not start a lower-priority thread: {e}"),
        };
        match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The name of the short-lived thread [`with_lower_priority`] runs its closure on.
pub const LOWERED_THREAD: &str = "lowered-start";

#[cfg(target_os = "linux")]
fn set_own_nice(nice: i32) {
    use rustix::process::{getpriority_process, setpriority_process};
    let me = rustix::thread::gettid();
    let current = getpriority_process(Some(me)).unwrap_or(0);
    if current < nice
        && let Err(e) = setpriority_process(Some(me), nice)
    {
        tracing::debug!(error = %e, "could not lower a background thread's priority");
    }
}

/// `ioprio_set`'s "who" for a single thread (or process) id; 0 means the calling thread.
#[cfg(target_os = "linux")]
const IOPRIO_WHO_PROCESS: libc::c_int = 1;
/// The idle I/O class's number, and where a priority value holds its class.
#[cfg(target_os = "linux")]
const IOPRIO_CLASS_IDLE: libc::c_int = 3;
#[cfg(target_os = "linux")]
const IOPRIO_CLASS_SHIFT: libc::c_int = 13;

#[cfg(target_os = "linux")]
fn set_own_io_idle() {
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let done = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_int,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if done != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not give a background thread the idle I/O class"
        );
    }
}

#[cfg(target_os = "linux")]
fn lower_own_priority(nice: i32) {
    set_own_nice(nice);
    set_own_io_idle();
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid sched_param that the call only reads; pid 0 is this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not give a background thread the idle scheduling policy"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_own_priority(_nice: i32) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Field 41 of the thread's stat: its scheduling policy.
    fn policy_of(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split_whitespace().nth(38).unwrap().parse().unwrap()
    }

    fn io_class_of(tid: i32) -> libc::c_int {
        // SAFETY: ioprio_get takes two integers and touches no memory of ours.
        let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid) };
        assert!(prio >= 0, "ioprio_get: {}", std::io::Error::last_os_error());
        let prio = prio as libc::c_int;
        prio >> IOPRIO_CLASS_SHIFT
    }

    fn nice_of(tid: i32) -> i32 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
        // Field 19 (nice), counted after the parenthesised command name.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split_whitespace().nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn threads_started_inside_inherit_the_lower_priority() {
        let own = rustix::thread::gettid().as_raw_nonzero().get();
        let before = nice_of(own);
        let (inside, started) = with_lower_priority(before + 3, || {
            let inside = rustix::thread::gettid().as_raw_nonzero().get();
            let (tx, rx) = std::sync::mpsc::channel();
            let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
            let worker = std::thread::spawn(move || {
                tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                let _ = stop_rx.recv();
            });
            let started = rx.recv().unwrap();
            assert_eq!(policy_of(started), libc::SCHED_IDLE, "and the idle policy");
            assert_eq!(
                io_class_of(started),
                IOPRIO_CLASS_IDLE,
                "and the idle I/O class"
            );
            let nice = (nice_of(inside), nice_of(started));
            drop(stop_tx);
            worker.join().unwrap();
            nice
        });
        assert_eq!(inside, before + 3);
        assert_eq!(started, before + 3, "a thread started inside inherits it");
        assert_eq!(nice_of(own), before, "the caller keeps its priority");
        assert_eq!(policy_of(own), libc::SCHED_OTHER, "and its policy");
        assert_ne!(io_class_of(own), IOPRIO_CLASS_IDLE, "and its I/O class");
        assert_eq!(with_lower_priority(before + 1, || 42), 42);
    }

    #[test]
    fn a_follower_thread_raises_its_nice_value_and_keeps_its_policy() {
        let (raised, policy, lowered_again) = std::thread::spawn(|| {
            let me = rustix::thread::gettid().as_raw_nonzero().get();
            let before = nice_of(me);
            lower_current_thread(before + 2);
            let raised = nice_of(me) - before;
            lower_current_thread(before);
            (raised, policy_of(me), nice_of(me) - before)
        })
        .join()
        .unwrap();
        assert_eq!(raised, 2);
        assert_eq!(policy, libc::SCHED_OTHER, "no idle policy for followers");
        assert_eq!(lowered_again, 2, "a lower value never takes priority back");
    }

    #[test]
    fn a_thread_can_take_the_idle_io_class_for_itself_alone() {
        let own = rustix::thread::gettid().as_raw_nonzero().get();
        let (class, inherited) = std::thread::spawn(|| {
            lower_current_io();
            let me = rustix::thread::gettid().as_raw_nonzero().get();
            let child =
                std::thread::spawn(|| io_class_of(rustix::thread::gettid().as_raw_nonzero().get()));
            (io_class_of(me), child.join().unwrap())
        })
        .join()
        .unwrap();
        assert_eq!((class, inherited), (IOPRIO_CLASS_IDLE, IOPRIO_CLASS_IDLE));
        assert_ne!(
            io_class_of(own),
            IOPRIO_CLASS_IDLE,
            "the caller keeps its class"
        );
    }
}
