//! Running many cells: baselines first, then the rest in parallel, with a
//! progress line per finished cell.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::cell::{self, CellResult, RunCtx};
use crate::checks::Baseline;
use crate::environment::EnvKind;
use crate::interrupt;
use crate::report;
use crate::scenario::Scenario;
use crate::variant::Variant;

pub struct Planned {
    pub variant: Variant,
    pub scenario: Scenario,
    pub env: EnvKind,
    /// Which run of the cell this is (`--repeat`), from 0.
    pub round: usize,
}

/// Runs every planned cell with up to `jobs` at once. The workload without
/// any init, started directly, is each scenario's baseline: it runs first.
pub fn run(ctx: &RunCtx, none: &Variant, plan: Vec<Planned>, jobs: usize) -> Vec<CellResult> {
    let total = plan.len();
    let done = AtomicUsize::new(0);
    let report = |r: &CellResult, baseline_only: bool| {
        if baseline_only {
            say!(
                "[baseline] {:<4} {} ({:.1} s)",
                r.verdict.word(),
                r.scenario,
                r.duration_ms as f64 / 1000.0
            );
            return;
        }
        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
        let mark = report::mark(r);
        let why = if r.reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", crate::console::shorten(&r.reason, 140))
        };
        say!(
            "[{n:>3}/{total}] {mark:<18} {} ({:.1} s){why}",
            r.id(),
            r.duration_ms as f64 / 1000.0
        );
    };

    // Phase 1: baselines.
    let mut scenarios: Vec<&Scenario> = Vec::new();
    for p in &plan {
        if !scenarios.iter().any(|s| s.name == p.scenario.name) {
            scenarios.push(&p.scenario);
        }
    }
    let baselines: Mutex<HashMap<String, (Baseline, CellResult)>> = Mutex::new(HashMap::new());
    parallel(
        jobs,
        scenarios.into_iter().collect(),
        |scenario: &Scenario| {
            let r = cell::run(ctx, none, scenario, EnvKind::Direct, None);
            report(&r, true);
            let base = Baseline::from_processes(&r.processes);
            baselines
                .lock()
                .unwrap()
                .insert(scenario.name.clone(), (base, r));
        },
    );
    let baselines = baselines.into_inner().unwrap();

    // Phase 2: every planned cell; the baseline runs count for their own cell.
    let results: Mutex<Vec<(usize, CellResult)>> = Mutex::new(Vec::new());
    let indexed: Vec<(usize, &Planned)> = plan.iter().enumerate().collect();
    parallel(jobs, indexed, |(i, p): (usize, &Planned)| {
        let (base, first) = &baselines[&p.scenario.name];
        let r = if p.variant.name == none.name && p.env == EnvKind::Direct && p.round == 0 {
            first.clone()
        } else {
            cell::run(ctx, &p.variant, &p.scenario, p.env, Some(base))
        };
        report(&r, false);
        results.lock().unwrap().push((i, r));
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Runs `work` on every item with up to `jobs` threads; stops taking new
/// items once the run is interrupted.
fn parallel<T: Send>(jobs: usize, items: Vec<T>, work: impl Fn(T) + Sync) {
    let queue = Mutex::new(items.into_iter().collect::<VecDeque<T>>());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                if interrupt::requested() {
                    return;
                }
                let Some(item) = queue.lock().unwrap().pop_front() else {
                    return;
                };
                work(item);
            });
        }
    });
}

/// Wall time and the slowest cells, for the end of a run.
pub fn timing_summary(results: &[CellResult], wall: Instant) -> String {
    let mut slow: Vec<&CellResult> = results.iter().collect();
    slow.sort_by_key(|r| std::cmp::Reverse(r.duration_ms));
    let list: Vec<String> = slow
        .iter()
        .take(5)
        .map(|r| format!("  {:>5.1} s  {}", r.duration_ms as f64 / 1000.0, r.id()))
        .collect();
    format!(
        "wall time {:.1} s; slowest cells:\n{}",
        wall.elapsed().as_secs_f64(),
        list.join("\n")
    )
}
