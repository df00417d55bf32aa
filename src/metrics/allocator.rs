//! The allocator's own memory figures, for telling memory the program holds apart from memory
//! its allocator keeps for reuse (both count in the resident size).
//!
//! The library does not choose the allocator; a binary that installs one able to report these
//! figures registers a reader with [`report_allocator`] once, at start. Invariant: without a
//! registered reader, or when it answers None, the figures are left out of the scrape.

use prometheus_client::encoding::DescriptorEncoder;
use std::sync::OnceLock;

/// What the process's allocator reports, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Bytes the program holds allocated.
    pub allocated: u64,
    /// Bytes of physical memory in the allocator's data pages: what is allocated, plus what it
    /// keeps for reuse and has not yet returned to the system.
    pub resident: u64,
}

/// Reads the allocator's figures at scrape time.
pub type StatsReader = fn() -> Option<AllocatorStats>;

static READER: OnceLock<StatsReader> = OnceLock::new();

/// Registers the process's allocator reader. Only the first call takes effect (the allocator
/// is fixed for the process's lifetime); returns whether this one did.
pub fn report_allocator(reader: StatsReader) -> bool {
    READER.set(reader).is_ok()
}

/// Renders `provledger_allocator_allocated_bytes` and `provledger_allocator_resident_bytes`.
pub(super) fn encode(encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(stats) = READER.get().and_then(|read| read()) else {
        return Ok(());
    };
    super::process::gauge(
        encoder,
        "provledger_allocator_allocated_bytes",
        "Bytes the program holds allocated, as its allocator counts them.",
        Some(stats.allocated),
    )?;
    super::process::gauge(
        encoder,
        "provledger_allocator_resident_bytes",
        "Bytes of physical memory in the allocator's data pages, including freed memory it keeps for reuse.",
        Some(stats.resident),
    )
}
