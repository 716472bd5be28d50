//! `initlab run --repeat N`: every cell N times. A cell whose verdict or set
//! of failed checks changes between runs is flaky: it is named, with every
//! run's evidence, and it fails the run. Checks its expectation records as
//! may-fail (measured to go either way, with the reason) do not count.

use std::collections::BTreeSet;

use crate::cell::{CellResult, Round};

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
    let outcomes: BTreeSet<(bool, Vec<String>)> =
        rounds.iter().map(|r| r.outcome(&first.may_fail)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{Check, Verdict};

    fn run(failed: &[&str], may_fail: &[&str]) -> CellResult {
        let mut r = CellResult::observed("v", "s", "direct", Default::default());
        r.may_fail = may_fail.iter().map(|c| c.to_string()).collect();
        r.checks = ["blocked", "sigchld-pending", "ttin"]
            .iter()
            .map(|c| Check::new(c, !failed.contains(c), "evidence"))
            .collect();
        if !failed.is_empty() {
            r.verdict = Verdict::Fail;
        }
        r
    }

    #[test]
    fn a_changing_check_is_flaky_unless_its_expectation_says_it_may_fail() {
        let folded = fold(vec![run(&["blocked"], &[]), run(&["blocked", "ttin"], &[])]);
        assert!(folded[0].flaky && !folded[0].matches_expectation);
        assert_eq!(folded[0].rounds.len(), 2);
        assert!(
            folded[0].reason.contains("run 2: fail (blocked, ttin)"),
            "{}",
            folded[0].reason
        );

        let may = ["sigchld-pending"];
        let folded = fold(vec![
            run(&["blocked", "sigchld-pending"], &may),
            run(&["blocked"], &may),
        ]);
        assert!(!folded[0].flaky, "{}", folded[0].reason);
        assert_eq!(folded[0].runs, 2);

        let folded = fold(vec![run(&[], &[]), run(&[], &[])]);
        assert!(!folded[0].flaky && folded[0].rounds.is_empty());
    }
}
