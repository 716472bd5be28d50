//! `initlab run --repeat N`: every cell N times. A cell whose verdict or set
//! of failed checks changes between runs is flaky: it is named, with every
//! run's evidence, and it fails the run.

use std::collections::BTreeSet;

use crate::cell::{CellResult, Round};
use crate::checks::Verdict;

/// Folds the runs of each cell (`results` holds every run, any order) into
/// one result per cell, in the order of each cell's first run.
pub fn fold(results: Vec<CellResult>) -> Vec<CellResult> {
    let mut ids: Vec<String> = Vec::new();
    for r in &results {
        if !ids.contains(&r.id()) {
            ids.push(r.id());
        }
    }
    let mut groups: Vec<Vec<CellResult>> = ids.iter().map(|_| Vec::new()).collect();
    for r in results {
        let at = ids.iter().position(|id| *id == r.id()).unwrap_or(0);
        groups[at].push(r);
    }
    groups.into_iter().filter_map(fold_one).collect()
}

fn fold_one(runs: Vec<CellResult>) -> Option<CellResult> {
    let rounds: Vec<Round> = runs.iter().map(Round::of).collect();
    let mut first = runs.into_iter().next()?;
    let outcomes: BTreeSet<(Verdict, &[String])> = rounds.iter().map(Round::outcome).collect();
    first.runs = rounds.len();
    if outcomes.len() > 1 {
        let told: Vec<String> = rounds
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let what = if r.failed_checks.is_empty() {
                    r.verdict.word().to_string()
                } else {
                    format!("{} ({})", r.verdict.word(), r.failed_checks.join(", "))
                };
                format!("run {}: {what}", i + 1)
            })
            .collect();
        first.flaky = true;
        first.matches_expectation = false;
        first.reason = format!(
            "flaky over {} runs: {}; each run's evidence is in `rounds`",
            rounds.len(),
            told.join("; ")
        );
        first.rounds = rounds;
    }
    Some(first)
}
