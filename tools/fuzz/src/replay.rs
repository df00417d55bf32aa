//! The stable harness: every target's body over every committed seed (`seeds/<target>/`) and
//! every crash input kept as a regression (`regressions/<target>/`), and over the seeds as
//! generated now. Runs under plain `cargo test`, no nightly or libFuzzer needed.

use crate::{TARGETS, Target, seeds};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
        .collect();
    files.sort();
    files
}

/// Runs `target` over `bytes`; the failure message names the input.
fn replay(target: &Target, what: &str, bytes: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| (target.run)(bytes)))
        .map_err(|_| format!("{}: {what} fails (see the panic above)", target.name))
}

fn replay_dir(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(kind);
    let mut failures = Vec::new();
    let mut count = 0;
    for target in TARGETS {
        for file in files(&root.join(target.name)) {
            let bytes = std::fs::read(&file).expect("reading a corpus file");
            count += 1;
            if let Err(e) = replay(target, &file.display().to_string(), &bytes) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    count
}

#[test]
fn every_committed_seed_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    for target in TARGETS {
        let n = files(&root.join(target.name)).len();
        assert!(
            n > 0,
            "no seeds for {} (run the seed_corpus example)",
            target.name
        );
    }
    replay_dir("seeds");
}

#[test]
fn every_regression_passes() {
    replay_dir("regressions");
}

#[test]
fn generated_seeds_pass_and_match_the_committed_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let mut failures = Vec::new();
    for seed in seeds::all() {
        let target = TARGETS
            .iter()
            .find(|t| t.name == seed.target)
            .expect("a seed for a known target");
        if let Err(e) = replay(
            target,
            &format!("generated seed {}", seed.name),
            &seed.bytes,
        ) {
            failures.push(e);
        }
        let committed = std::fs::read(root.join(seed.target).join(&seed.name));
        if committed.ok().as_deref() != Some(seed.bytes.as_slice()) {
            failures.push(format!(
                "seeds/{}/{} is missing or stale: run `cargo run --example seed_corpus`",
                seed.target, seed.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
