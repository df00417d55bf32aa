//! The soak's report: a markdown table of the windows, a summary, and the verdict against the
//! criteria, stated in the output:
//!
//! - correct: no append failed or was answered as a duplicate; the server's
//!   `provledger_appends_total{outcome="appended"}` equals the appends acknowledged to the
//!   clients; after a restart, the log holds exactly the setup entries plus every acknowledged
//!   append, each at its own index;
//! - kept up: acknowledged appends per second over the soak (first scheduled append to last
//!   answer) at least 97% of the target;
//! - RSS stable: after the warm-up, the server's RSS level does not move by more than 10%
//!   ((max − min) ÷ min of the windows' median RSS, each the median of the window's samples),
//!   and no sample, however brief the peak it catches, exceeds 1.25 × that level's median;
//! - latency stable: after the warm-up, no window's server acknowledgement p99 (read from the
//!   server's own histogram, admission to durable answer) above the larger of 2 × the median of
//!   those p99s and 25 ms (the acknowledgement p99 the benchmark targets at half the maximum
//!   rate, the soak's load), and no drift: the median p99 of the last third of those windows at
//!   most 1.5 × the first third's.
//!
//! The p99 the load generator measures (from each append's scheduled time to its answer) is
//! reported per window beside the server's, with its worst window against its median, but not
//! judged: the load generator runs on the server's machine, so its figure also holds its own
//! waits for a core and the server's waits behind it, which a deployment's clients elsewhere
//! would not add.

use super::load::{Outcome, Plan, RSS_SAMPLES, Window};
use super::scrape::{Appends, SLOW_MS};
use super::threads::GROUPS;
use crate::stats::quantile;
use std::time::Duration;

/// Allowed spread of the windows' median RSS after the warm-up, as a fraction of the smallest.
const RSS_SPREAD: f64 = 0.10;
/// Allowed RSS sample after the warm-up, as a multiple of the median of the windows' medians.
const RSS_PEAK: f64 = 1.25;
/// Allowed window p99 (the server's acknowledgements), as a multiple of the median of the
/// windows' p99 after the warm-up.
const P99_FACTOR: f64 = 2.0;
/// A window p99 (the server's acknowledgements) at or under this many milliseconds is within
/// bounds whatever the median: the acknowledgement p99 the benchmark targets at half the
/// maximum rate, which is the soak's load. A ratio alone would bound jitter of a few
/// milliseconds when the median is small (most of it is the commit pacing).
const P99_FLOOR_MS: f64 = 25.0;
/// Allowed drift of the server's window p99: the median of the last third of the windows after
/// the warm-up, as a multiple of the median of the first third.
const DRIFT_FACTOR: f64 = 1.5;
/// Least acknowledged rate, as a fraction of the target.
const KEEP_UP: f64 = 0.97;

/// Everything measured, for the report.
pub struct Found<'a> {
    pub plan: &'a Plan,
    pub outcome: &'a Outcome,
    pub warmup: Duration,
    /// Entries in the log before any workload append (the log's own key and registrations).
    pub setup: u64,
    /// Appends acknowledged in the full-load phase.
    pub full_acked: u64,
    pub metrics: Appends,
    pub size_after_restart: u64,
    pub restart: Duration,
}

/// The verdict's two halves.
pub struct Verdict {
    /// No errors, every acknowledgement counted and durable.
    pub correct: bool,
    /// Kept up, RSS and latency within bounds.
    pub stable: bool,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// (p50, p99, max) of a window, in ms.
fn window_latency(lat: &[Duration]) -> (f64, f64, f64) {
    let mut v = lat.to_vec();
    v.sort();
    (
        ms(quantile(&v, 0.50)),
        ms(quantile(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default()),
    )
}

/// The median of `values` (0 when there are none).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The smallest and largest of `values` (infinity and 0 when there are none).
fn min_max(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, 0.0), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// The second table: cores used per window by the server's thread groups and by the load
/// generator, beside the window's p99 at both ends (`client` and `server`, one per window, as
/// the first table computed them).
fn print_threads(o: &Outcome, first_steady: usize, client: &[f64], server: &[Option<f64>]) {
    let groups: Vec<String> = GROUPS.iter().map(|g| format!("{g} cores")).collect();
    println!(
        "\nCPU by thread (cores used in each window: the server's threads by name, and the load generator):\n"
    );
    println!(
        "| window | p99 ms | server ack p99 ms | {} | server total | load generator |",
        groups.join(" | ")
    );
    println!("|---:|---:|---:|{}---:|---:|", "---:|".repeat(GROUPS.len()));
    for (i, w) in o.windows.iter().enumerate() {
        let t = &w.sampled.threads;
        let per_group: Vec<String> = match t.server {
            Some(cores) => cores.iter().map(|c| format!("{c:.2}")).collect(),
            None => vec!["—".to_string(); GROUPS.len()],
        };
        println!(
            "| {}{} | {:.2} | {} | {} | {} | {} |",
            i + 1,
            if i < first_steady { " (warm-up)" } else { "" },
            client[i],
            optional(server[i], 2),
            per_group.join(" | "),
            optional(t.server.map(|c| c.iter().sum()), 2),
            optional(t.load_generator, 2),
        );
    }
}

/// The steal (hypervisor) share of a window at and above which the summary sets the window
/// apart: 1% of the machine's CPU time, 200 ms of a 10 s window on 2 cores.
const STEAL_APART: f64 = 1.0;

/// A summary line that splits the windows after the warm-up by the hypervisor's steal, so that
/// whether slow windows come with the host taking the cores can be read from every run (not
/// judged; nothing is left out of the criteria).
fn print_by_steal(steady: &[Window], client: &[f64], server: &[Option<f64>]) {
    if steady.iter().all(|w| w.sampled.pressure.steal.is_none()) {
        return;
    }
    let (apart, rest): (Vec<usize>, Vec<usize>) = (0..steady.len())
        .partition(|&i| steady[i].sampled.pressure.steal.unwrap_or(0.0) >= STEAL_APART);
    let part = |windows: &[usize]| {
        (
            Spread::of(windows.iter().map(|&i| server[i])),
            Spread::of(windows.iter().map(|&i| Some(client[i]))),
        )
    };
    let ((s_hi, c_hi), (s_lo, c_lo)) = (part(&apart), part(&rest));
    let (n_hi, n_lo) = (apart.len(), rest.len());
    println!(
        "- by the hypervisor's steal (not judged): {n_hi} windows with steal ≥ {STEAL_APART}%: server ack p99 max {:.2} ms, load generator p99 max {:.2} ms; {n_lo} with less: server ack p99 median {:.2}, max {:.2} ms ({:.2} ×), load generator p99 median {:.2}, max {:.2} ms ({:.2} ×)",
        s_hi.worst,
        c_hi.worst,
        s_lo.median,
        s_lo.worst,
        s_lo.ratio(),
        c_lo.median,
        c_lo.worst,
        c_lo.ratio()
    );
}

/// Windows' p99s after the warm-up: their median and the worst.
struct Spread {
    median: f64,
    worst: f64,
    /// Index of the worst among the windows given.
    worst_window: usize,
    /// Windows without a reading (no observation in them).
    missing: usize,
    values: Vec<f64>,
}

impl Spread {
    fn of(p99s: impl Iterator<Item = Option<f64>>) -> Spread {
        let (mut values, mut missing) = (Vec::new(), 0);
        let (mut worst, mut worst_window) = (0.0, 0);
        for (i, p) in p99s.enumerate() {
            match p {
                Some(p) => {
                    if p > worst {
                        (worst, worst_window) = (p, i);
                    }
                    values.push(p);
                }
                None => missing += 1,
            }
        }
        Spread {
            median: median(&values),
            worst,
            worst_window,
            missing,
            values,
        }
    }

    /// The worst against the median (0 with no median).
    fn ratio(&self) -> f64 {
        if self.median > 0.0 {
            self.worst / self.median
        } else {
            0.0
        }
    }

    /// The highest window p99 within bounds: `P99_FACTOR` × the median, or `P99_FLOOR_MS` if
    /// that is higher.
    fn bound(&self) -> f64 {
        (P99_FACTOR * self.median).max(P99_FLOOR_MS)
    }

    /// The medians of the first and of the last third of the readings, in window order; `None`
    /// with fewer than three readings.
    fn thirds(&self) -> Option<(f64, f64)> {
        let third = self.values.len() / 3;
        (third > 0).then(|| {
            (
                median(&self.values[..third]),
                median(&self.values[self.values.len() - third..]),
            )
        })
    }

    /// Windows over `factor` × the median.
    fn over(&self, factor: f64) -> usize {
        self.above(factor * self.median)
    }

    /// Windows over `limit` ms.
    fn above(&self, limit: f64) -> usize {
        self.values.iter().filter(|&&p| p > limit).count()
    }
}

/// `value` with `decimals` decimals, or a dash where the figure is absent.
fn optional(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.decimals$}"))
}

/// Prints the table, the summary and the verdict line; returns the verdict.
pub fn print(f: &Found) -> Verdict {
    let o = f.outcome;
    let secs = f.plan.window.as_secs_f64();
    let warm = (f.warmup.as_secs_f64() / secs).ceil() as usize;
    // With no window past the warm-up, the criteria use every window (and say so).
    let first_steady = if warm < o.windows.len() { warm } else { 0 };

    println!(
        "| window | ends at s | acknowledged | per s | errors | p50 ms | p99 ms | max ms | server ack p99 ms | server RSS MiB (median) | RSS max MiB | allocated MiB | server CPU cores | server acks > {SLOW_MS} ms | admissions > {SLOW_MS} ms | queue waits > {SLOW_MS} ms | commits > {SLOW_MS} ms | node writes > {SLOW_MS} ms | sled applies > {SLOW_MS} ms | syncs > {SLOW_MS} ms | sled flushes > {SLOW_MS} ms | answers > {SLOW_MS} ms | receipt proofs > {SLOW_MS} ms | runtime wakes > {SLOW_MS} ms | workers' run-queue wait, most in 1 s, ms | CPU pressure % | I/O pressure % | steal % |"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut p99s = Vec::with_capacity(o.windows.len());
    let mut server_p99s = Vec::with_capacity(o.windows.len());
    for (i, w) in o.windows.iter().enumerate() {
        let (p50, p99, max) = window_latency(&w.latencies);
        p99s.push(p99);
        let server_p99 = w.sampled.server_acks.quantile(0.99).map(|s| s * 1e3);
        server_p99s.push(server_p99);
        println!(
            "| {}{} | {:.0} | {} | {:.0} | {} | {p50:.2} | {p99:.2} | {max:.1} | {} | {:.1} | {:.1} | {} | {:.2} | {:.0} | {:.0} | {:.0} | {:.0} of {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} | {} | {} |",
            i + 1,
            if i < first_steady { " (warm-up)" } else { "" },
            (i + 1) as f64 * secs,
            w.acked,
            w.acked as f64 / secs,
            w.errors,
            optional(server_p99, 2),
            median(&w.sampled.rss_mib),
            min_max(w.sampled.rss_mib.iter().copied()).1,
            optional(w.sampled.allocated_mib, 1),
            w.sampled.cpu_cores,
            w.sampled.server.acks.slow,
            w.sampled.server.admissions.slow,
            w.sampled.server.waits.slow,
            w.sampled.server.commits.slow,
            w.sampled.server.commits.all,
            w.sampled.server.node_writes.slow,
            w.sampled.server.applies.slow,
            w.sampled.server.syncs.slow,
            w.sampled.server.flushes.slow,
            w.sampled.server.answers.slow,
            w.sampled.server.proofs.slow,
            w.sampled.server.runtime.slow,
            optional(w.sampled.worker_wait_ms, 0),
            optional(w.sampled.pressure.cpu, 0),
            optional(w.sampled.pressure.io, 0),
            optional(w.sampled.pressure.steal, 2)
        );
    }

    print_threads(o, first_steady, &p99s, &server_p99s);

    let steady = &o.windows[first_steady..];
    let steady_p99 = &p99s[first_steady..];
    let levels: Vec<f64> = steady.iter().map(|w| median(&w.sampled.rss_mib)).collect();
    let (rss_min, rss_max) = min_max(levels.iter().copied());
    let spread = (rss_max - rss_min) / rss_min;
    let level = median(&levels);
    let peak = min_max(
        steady
            .iter()
            .flat_map(|w| w.sampled.rss_mib.iter().copied()),
    )
    .1;
    let client = Spread::of(steady_p99.iter().map(|&p| Some(p)));
    let server = Spread::of(server_p99s[first_steady..].iter().copied());
    let achieved = o.acked as f64 / o.seconds;
    let target = f.plan.rate;
    let expected_metric = (f.setup - 1) + f.full_acked + o.acked;
    let expected_size = f.setup + f.full_acked + o.acked;
    let mut indexes = o.indexes.clone();
    indexes.sort_unstable();
    let distinct = indexes.windows(2).all(|p| p[0] < p[1])
        && indexes.last().is_none_or(|&i| i < f.size_after_restart);

    let steady_note = if first_steady > 0 {
        format!(
            "after the warm-up (windows {}–{}; the first {:.0} s left out)",
            first_steady + 1,
            o.windows.len(),
            f.warmup.as_secs_f64()
        )
    } else {
        "over every window (none is past the warm-up)".to_string()
    };
    println!("\nSummary:\n");
    println!(
        "- rate: {} acknowledged in {:.1} s = **{achieved:.0}/s** against a target of {target:.0}/s ({:.1}%); issuing fell behind the schedule by at most {:.1} ms",
        o.acked,
        o.seconds,
        100.0 * achieved / target,
        ms(o.max_issue_lag)
    );
    println!("- errors: {}", o.errors);
    for e in &o.first_errors {
        println!("  - {e}");
    }
    println!(
        "- server RSS {steady_note}, {RSS_SAMPLES} samples per window: the windows' medians min {rss_min:.1} MiB, max {rss_max:.1} MiB, spread (max − min) ÷ min = **{:.1}%**; their median {level:.1} MiB; highest sample {peak:.1} MiB = **{:.2} ×** that median",
        100.0 * spread,
        peak / level
    );
    if steady.iter().any(|w| w.sampled.allocated_mib.is_some()) {
        let (min, max) = min_max(steady.iter().filter_map(|w| w.sampled.allocated_mib));
        println!(
            "- server allocated (the allocator's count) {steady_note}: min {min:.1} MiB, max {max:.1} MiB; the rest of the RSS is code, stacks and freed memory the allocator keeps for reuse"
        );
    }
    let bound = server.bound();
    let drift = server.thirds();
    println!(
        "- server acknowledgement p99 (its histogram, admission to durable answer), {steady_note}: median {:.2} ms, max **{:.2} ms** (window {}, **{:.2} ×** the median); bound {bound:.2} ms (the larger of {P99_FACTOR} × the median and {P99_FLOOR_MS} ms), {} windows over it, {} over {P99_FACTOR} × the median; first third's median {}, last third's {} ms (**{} ×**); {} windows without a reading",
        server.median,
        server.worst,
        first_steady + server.worst_window + 1,
        server.ratio(),
        server.above(bound),
        server.over(P99_FACTOR),
        optional(drift.map(|d| d.0), 2),
        optional(drift.map(|d| d.1), 2),
        optional(drift.map(|(a, b)| b / a), 2),
        server.missing
    );
    println!(
        "- window p99 at the load generator (from each append's scheduled time; not judged): first {:.2} ms, last {:.2} ms; {steady_note}: median {:.2} ms, max {:.2} ms (window {}, {:.2} × the median), {} windows over {P99_FACTOR} × the median",
        p99s.first().copied().unwrap_or(0.0),
        p99s.last().copied().unwrap_or(0.0),
        client.median,
        client.worst,
        first_steady + client.worst_window + 1,
        client.ratio(),
        client.over(P99_FACTOR)
    );
    print_by_steal(steady, steady_p99, &server_p99s[first_steady..]);
    println!(
        "- server metrics: `provledger_appends_total{{outcome=\"appended\"}}` = {:.0}, expected {expected_metric} ({} key registrations + {} full-load + {} soak acknowledgements); duplicate {:.0}, refused {:.0}",
        f.metrics.appended,
        f.setup - 1,
        f.full_acked,
        o.acked,
        f.metrics.duplicate,
        f.metrics.refused
    );
    println!(
        "- durability: after a restart ({:.2} s to serving) the log holds {} entries, expected {expected_size} ({} setup + {} full-load + {} soak acknowledgements); acknowledged indexes distinct and inside the log: {}",
        f.restart.as_secs_f64(),
        f.size_after_restart,
        f.setup,
        f.full_acked,
        o.acked,
        if distinct { "yes" } else { "no" }
    );

    let mut failed = Vec::new();
    if o.errors > 0 {
        failed.push(format!("{} errors", o.errors));
    }
    if f.metrics.appended != expected_metric as f64 {
        failed.push("server append counter ≠ acknowledgements".into());
    }
    if f.size_after_restart != expected_size || !distinct {
        failed.push("log after restart ≠ acknowledgements".into());
    }
    let correct = failed.is_empty();
    if achieved < KEEP_UP * target {
        failed.push(format!(
            "did not keep up ({:.1}% of the target < {:.0}%)",
            100.0 * achieved / target,
            100.0 * KEEP_UP
        ));
    }
    if spread > RSS_SPREAD {
        failed.push(format!(
            "RSS spread {:.1}% > {:.0}%",
            100.0 * spread,
            100.0 * RSS_SPREAD
        ));
    }
    if peak > RSS_PEAK * level {
        failed.push(format!(
            "RSS sample {peak:.1} MiB > {RSS_PEAK} × the median level {level:.1} MiB"
        ));
    }
    if server.missing > 0 {
        failed.push(format!(
            "{} windows without a server acknowledgement p99",
            server.missing
        ));
    }
    if server.worst > bound {
        failed.push(format!(
            "server acknowledgement p99 {:.2} ms > the larger of {P99_FACTOR} × median {:.2} ms and {P99_FLOOR_MS} ms",
            server.worst, server.median
        ));
    }
    if let Some((first, last)) = drift
        && last > DRIFT_FACTOR * first
    {
        failed.push(format!(
            "server acknowledgement p99 drifted: last third's median {last:.2} ms > {DRIFT_FACTOR} × the first third's {first:.2} ms"
        ));
    }
    let stable = correct && failed.is_empty();
    println!(
        "\nCriteria: no errors; server counter and log after restart equal to the acknowledgements; at least {:.0}% of the target rate; spread of the windows' median RSS ≤ {:.0}%, no RSS sample above {RSS_PEAK} × their median, every window's server acknowledgement p99 ≤ the larger of {P99_FACTOR} × the median of them and {P99_FLOOR_MS} ms, and the median of the last third of those p99s ≤ {DRIFT_FACTOR} × the first third's, {steady_note}. The load generator's window p99 is reported, not judged: it shares the server's cores.\n",
        100.0 * KEEP_UP,
        100.0 * RSS_SPREAD
    );
    if failed.is_empty() {
        println!(
            "soak: PASS — {} appends at {achieved:.0}/s, 0 errors, median RSS spread {:.1}%, RSS peak {:.2} × level, max server acknowledgement p99 {:.2} ms, {:.2} × median, drift {} × (the load generator's window p99: max {:.2} × median, not judged)",
            o.acked,
            100.0 * spread,
            peak / level,
            server.worst,
            server.ratio(),
            optional(drift.map(|(a, b)| b / a), 2),
            client.ratio()
        );
    } else {
        println!("soak: FAIL — {}", failed.join("; "));
    }
    Verdict { correct, stable }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_finds_the_worst_window_against_the_median() {
        let s = Spread::of([Some(10.0), None, Some(12.0), Some(31.0), Some(9.0)].into_iter());
        assert_eq!(s.missing, 1);
        assert_eq!(s.worst, 31.0);
        // The worst is the fourth window given (index 3, counting the one without a reading).
        assert_eq!(s.worst_window, 3);
        // Median of 9, 10, 12, 31 (the upper of the middle two).
        assert_eq!(s.median, 12.0);
        assert!((s.ratio() - 31.0 / 12.0).abs() < 1e-12);
        assert_eq!(s.over(P99_FACTOR), 1);
        let empty = Spread::of(std::iter::empty());
        assert_eq!((empty.ratio(), empty.over(P99_FACTOR)), (0.0, 0));
    }

    #[test]
    fn the_bound_is_twice_the_median_or_the_floor() {
        // Median 7.5 ms: twice it is under the floor, so the floor bounds the windows.
        let small = Spread::of([7.4, 7.5, 7.6, 24.0].map(Some).into_iter());
        assert_eq!(small.bound(), P99_FLOOR_MS);
        assert!(small.worst <= small.bound());
        // Median 20 ms: twice it is over the floor.
        let large = Spread::of([19.0, 20.0, 41.0].map(Some).into_iter());
        assert_eq!(large.bound(), 40.0);
        assert!(large.worst > large.bound());
    }

    #[test]
    fn thirds_compare_the_start_with_the_end_in_window_order() {
        // Rising p99s: the last third's median is twice the first third's.
        let rising = Spread::of(
            [5.0, 6.0, 5.5, 8.0, 9.0, 10.0, 12.0, 11.0, 10.5]
                .map(Some)
                .into_iter(),
        );
        assert_eq!(rising.thirds(), Some((5.5, 11.0)));
        // The window without a reading is skipped, not counted as a third's member.
        let gap = Spread::of([Some(1.0), None, Some(2.0), Some(3.0)].into_iter());
        assert_eq!(gap.thirds(), Some((1.0, 3.0)));
        let short = Spread::of([Some(1.0), Some(2.0)].into_iter());
        assert_eq!(short.thirds(), None);
    }
}
