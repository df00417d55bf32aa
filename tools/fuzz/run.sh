#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 5) where a nightly toolchain and cargo-fuzz are
# installed; otherwise says why and runs the stable harness (every seed and regression through
# every target body). Grown corpora go to tools/fuzz/corpus/<target>/, crashes to
# tools/fuzz/artifacts/<target>/ (both ignored by git; copy a crash to regressions/<target>/).
#
#   tools/fuzz/run.sh [SECONDS]
#
# One libFuzzer process per target, one at a time (no -jobs/-workers: with -jobs libFuzzer
# forks, logs to fuzz-N.log and exits 0 after a crash). Honours CARGO_TARGET_DIR and
# CARGO_BUILD_JOBS. Exit status: non-zero on the first crash.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-5}"

stable_harness() {
    echo "== stable harness: cargo test --release --manifest-path tools/fuzz/Cargo.toml"
    cargo test --release
}

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "skipping fuzzing: no nightly toolchain (rustup toolchain install nightly)"
    stable_harness
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "skipping fuzzing: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
    stable_harness
    exit 0
fi

cargo +nightly fuzz build --fuzz-dir . -O
for target in $(cargo +nightly fuzz list --fuzz-dir .); do
    mkdir -p "corpus/$target"
    inputs=("corpus/$target" "seeds/$target")
    if [ -d "regressions/$target" ]; then
        inputs+=("regressions/$target")
    fi
    echo "== fuzzing $target for ${seconds}s"
    cargo +nightly fuzz run --fuzz-dir . -O "$target" "${inputs[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1
done
