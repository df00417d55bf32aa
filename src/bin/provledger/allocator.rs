//! The process's allocator: jemalloc, with its background thread returning freed memory to the
//! system, so the resident size follows what is in use. With glibc's allocator the server's
//! resident size kept creeping up under a steady load; see the README's Soak. The `bench` tool
//! includes this file too, since it runs the server in its own process.

use provledger::metrics::allocator::{AllocatorStats, report_allocator};
use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it initialises (the `_RJEM_MALLOC_CONF` environment variable
/// still overrides them). Freed pages go back to the system within about 50 ms instead of the
/// default ten seconds, so the memory kept for reuse stays small: in soaks it varied by over
/// 10 MiB between samples with ten seconds and reached 13.8 MiB with one; sampled every 0.5 s,
/// the resident size moved within a 10 s window by 9.5 MiB on average at 250 ms and by 6.8 at
/// 50 ms. Returning pages at once (0) takes the purging onto the threads that free and cost
/// 5–12% of ingest throughput; 50 ms leaves it to the background thread (see the README's
/// Soak).
static CONF: [u8; 35] = *b"dirty_decay_ms:50,muzzy_decay_ms:0\0";

/// The `malloc_conf` symbol jemalloc reads its options from: a C string pointer (thin, so
/// `Option<&u8>` has exactly the layout of `const char *`).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&u8> = Some(&CONF[0]);

/// Makes `/metrics` show jemalloc's allocated and resident figures.
pub fn report() {
    report_allocator(read_stats);
}

fn read_stats() -> Option<AllocatorStats> {
    // jemalloc caches its statistics; advancing the epoch refreshes them.
    epoch::advance().ok()?;
    Some(AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn jemalloc_reads_the_compiled_in_options() {
        if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
            return; // the environment overrides them
        }
        // SAFETY: `opt.dirty_decay_ms` and `opt.muzzy_decay_ms` are `ssize_t` options.
        let (dirty, muzzy) = unsafe {
            (
                tikv_jemalloc_ctl::raw::read::<isize>(b"opt.dirty_decay_ms\0").unwrap(),
                tikv_jemalloc_ctl::raw::read::<isize>(b"opt.muzzy_decay_ms\0").unwrap(),
            )
        };
        assert_eq!((dirty, muzzy), (50, 0));
    }

    #[test]
    fn the_allocator_reports_what_it_holds() {
        let before = super::read_stats().unwrap();
        // black_box: the allocation must happen even though nothing reads it.
        let block = std::hint::black_box(vec![1u8; 8 << 20]);
        let during = super::read_stats().unwrap();
        assert!(during.allocated >= before.allocated + (8 << 20) - (1 << 20));
        assert!(during.resident >= during.allocated);
        drop(block);
    }
}
