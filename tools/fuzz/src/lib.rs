//! Fuzz targets for every provledger decoder of untrusted bytes, as plain functions.
//!
//! Each module of [`targets`] has a `run(data: &[u8])` that decodes the bytes the way the server,
//! the client or the importer does and asserts the properties that must hold for any input
//! (round trips, signatures that cannot be moved, errors that name their field or line), so a
//! property violation is a panic the fuzzer reports. `fuzz_targets/*.rs` only call these
//! functions; [`TARGETS`] lists them for the stable harness, which replays the committed seeds
//! (`seeds/<target>/`) and every crash found so far (`regressions/<target>/`) under
//! `cargo test`. [`seeds`] generates the seed corpora from the same fixtures the tests use.

pub mod fixtures;
pub mod input;
pub mod seeds;
pub mod targets;

#[cfg(test)]
mod replay;

/// A fuzz target: its cargo-fuzz name (also its corpus directories' name) and its body.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target, in the order `run.sh` fuzzes them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "envelope",
        run: targets::envelope::run,
    },
    Target {
        name: "event_payload",
        run: targets::event_payload::run,
    },
    Target {
        name: "key_action",
        run: targets::key_action::run,
    },
    Target {
        name: "checkpoint_note",
        run: targets::checkpoint_note::run,
    },
    Target {
        name: "proofs",
        run: targets::proofs::run,
    },
    Target {
        name: "lineage_answer",
        run: targets::lineage_answer::run,
    },
    Target {
        name: "leaf_chunk",
        run: targets::leaf_chunk::run,
    },
    Target {
        name: "hash_index",
        run: targets::hash_index::run,
    },
    Target {
        name: "journal",
        run: targets::journal::run,
    },
    Target {
        name: "lineage_records",
        run: targets::lineage_records::run,
    },
    Target {
        name: "csv_import",
        run: targets::csv_import::run,
    },
    Target {
        name: "leaf_offsets",
        run: targets::leaf_offsets::run,
    },
];
