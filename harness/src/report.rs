//! The run's report: a table for people, JSON for programs, JUnit for CI.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use crate::cell::CellResult;
use crate::checks::Verdict;
use crate::shard::Shard;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
}

/// A cell's verdict against its expectation, in a word or two.
pub fn mark(r: &CellResult) -> String {
    if r.flaky {
        return "FLAKY".into();
    }
    match (r.verdict, r.matches_expectation) {
        (Verdict::Skip, _) => "skip".into(),
        (Verdict::Pass, true) => "pass".into(),
        (Verdict::Fail, true) => "fail (expected)".into(),
        (Verdict::Pass, false) => "PASS (unexpected)".into(),
        (Verdict::Fail, false) => "FAIL".into(),
    }
}

/// Variants × scenarios, one table per environment, then a line for every
/// cell that failed or was skipped.
pub fn table(results: &[CellResult]) -> String {
    let mut out = String::new();
    let mut envs: Vec<&str> = Vec::new();
    let mut variants: Vec<&str> = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in results {
        for (list, v) in [
            (&mut envs, &r.environment),
            (&mut variants, &r.variant),
            (&mut scenarios, &r.scenario),
        ] {
            if !list.contains(&v.as_str()) {
                list.push(v);
            }
        }
    }
    for env in &envs {
        out.push_str(&format!("\nenvironment: {env}\n\n| variant |"));
        for s in &scenarios {
            out.push_str(&format!(" {s} |"));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(scenarios.len()));
        out.push('\n');
        for v in &variants {
            let row: Vec<&CellResult> = results
                .iter()
                .filter(|r| r.environment == *env && r.variant == *v)
                .collect();
            if row.is_empty() {
                continue;
            }
            out.push_str(&format!("| {v} |"));
            for s in &scenarios {
                let cell = row.iter().find(|r| r.scenario == *s).map(|r| mark(r));
                out.push_str(&format!(" {} |", cell.unwrap_or_else(|| "—".into())));
            }
            out.push('\n');
        }
    }
    let notable: Vec<&CellResult> = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass || !r.matches_expectation)
        .collect();
    if !notable.is_empty() {
        out.push_str("\nfailures and skips:\n");
        for r in notable {
            out.push_str(&format!(
                "  {:<18} {}: {}\n",
                mark(r),
                r.id(),
                crate::console::shorten(&r.reason, 200)
            ));
        }
    }
    let traced: Vec<&CellResult> = results.iter().filter(|r| r.trace.is_some()).collect();
    if !traced.is_empty() {
        out.push_str("\ntraces:\n");
        for r in traced {
            out.push_str(&format!(
                "  {}: {}\n",
                r.id(),
                r.trace.as_deref().unwrap_or_default()
            ));
        }
    }
    out.push_str(&format!("\n{}\n", summary(results)));
    out
}

/// One audit: what was found, every process with its decoded masks, and
/// each check with its evidence.
pub fn audit_table(r: &CellResult) -> String {
    let mut out = format!("\naudit of {}: init {}", r.environment, r.variant);
    if let Some(v) = r.versions.get("init version") {
        out.push_str(&format!(" ({v})"));
    }
    out.push_str(
        "\n\n| pid | role | command | blocked | ignored | pending |\n|---|---|---|---|---|---|\n",
    );
    let names = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join(" ")
        }
    };
    for p in &r.processes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            p.pid,
            p.role.name(),
            crate::console::shorten(&p.command, 60),
            names(&p.blocked),
            names(&p.ignored),
            names(&p.pending),
        ));
    }
    out.push('\n');
    for c in &r.checks {
        out.push_str(&format!(
            "  {:<4} {:<16} {}\n",
            c.verdict.word(),
            c.name,
            c.evidence
        ));
    }
    if let Some(t) = &r.trace {
        out.push_str(&format!("\n  trace: {t}\n"));
    }
    out.push_str(&format!(
        "\n{}\n",
        if r.verdict == Verdict::Pass {
            "clean: every check passed".to_string()
        } else {
            format!(
                "NOT CLEAN: {}",
                r.failed_checks().into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    ));
    out
}

/// The mutants: which real init each stands for, the checks that caught it
/// (every failed check over its cells) and whether every cell of it showed
/// exactly what its expectation says.
pub fn mutant_table(results: &[CellResult], variants: &[crate::variant::Variant]) -> String {
    let mut out = String::from(
        "\n| mutant | stands for | checks that catch it | caught |\n|---|---|---|---|\n",
    );
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.variant.as_str()) {
            names.push(&r.variant);
        }
    }
    for name in names {
        let cells: Vec<&CellResult> = results.iter().filter(|r| r.variant == name).collect();
        let mut caught_by = std::collections::BTreeSet::new();
        for r in &cells {
            caught_by.extend(r.failed_checks());
        }
        let stands_for = variants
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.description.trim_start_matches("mutant: ").to_string())
            .unwrap_or_default();
        let checks = if caught_by.is_empty() {
            "none: judged like initlab-init".to_string()
        } else {
            caught_by.into_iter().collect::<Vec<_>>().join(", ")
        };
        let caught = if cells
            .iter()
            .all(|r| r.matches_expectation && r.verdict != Verdict::Skip)
        {
            "yes"
        } else {
            "NO"
        };
        out.push_str(&format!(
            "| {name} | {stands_for} | {checks} | {caught} |\n"
        ));
    }
    out
}

/// `12 cells: 7 passed, 3 failed as expected, 1 deviating, 1 skipped`.
pub fn summary(results: &[CellResult]) -> String {
    let count = |f: &dyn Fn(&CellResult) -> bool| results.iter().filter(|r| f(r)).count();
    let skipped = count(&|r| r.verdict == Verdict::Skip);
    let deviating = count(&|r| r.verdict != Verdict::Skip && !r.matches_expectation);
    let passed = count(&|r| r.verdict == Verdict::Pass && r.matches_expectation);
    let expected = count(&|r| r.verdict == Verdict::Fail && r.matches_expectation);
    let unaccepted = count(&|r| r.verdict == Verdict::Skip && !r.matches_expectation);
    let flaky = count(&|r| r.flaky);
    let mut text = format!(
        "{} cells: {passed} passed, {expected} failed as expected, {deviating} deviating, \
         {skipped} skipped",
        results.len()
    );
    if flaky > 0 {
        text.push_str(&format!(
            " ({flaky} of the deviating flaky: their verdict changed between runs)"
        ));
    }
    if unaccepted > 0 {
        text.push_str(&format!(
            " ({unaccepted} of them asked for, so the run fails)"
        ));
    }
    text
}

#[derive(Serialize)]
struct JsonReport<'a> {
    matched: bool,
    wall_time_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<Shard>,
    cells: &'a [CellResult],
}

/// A JSON report as `initlab merge` reads it back.
#[derive(Deserialize)]
pub struct ReadReport {
    #[serde(default)]
    pub wall_time_ms: u64,
    #[serde(default)]
    pub shard: Option<Shard>,
    pub cells: Vec<CellResult>,
}

pub fn json(results: &[CellResult], wall: Duration, shard: Option<Shard>) -> String {
    let report = JsonReport {
        matched: results.iter().all(|r| r.matches_expectation),
        wall_time_ms: wall.as_millis() as u64,
        shard,
        cells: results,
    };
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}

/// Every check's evidence, one line each; for a flaky cell, every run's.
fn evidence(r: &CellResult) -> String {
    let lines = |checks: &[crate::checks::Check]| {
        checks
            .iter()
            .map(|c| format!("{}: {}: {}", c.name, c.verdict.word(), c.evidence))
            .collect::<Vec<_>>()
            .join("\n")
    };
    if r.rounds.is_empty() {
        return lines(&r.checks);
    }
    r.rounds
        .iter()
        .enumerate()
        .map(|(i, round)| format!("run {}:\n{}", i + 1, lines(&round.checks)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One test suite per environment, one test case per cell; a cell that
/// deviates from its expectation is a failure, an expected failure passes.
pub fn junit(results: &[CellResult]) -> String {
    let mut report = Report::new("initlab");
    let mut envs: Vec<&str> = Vec::new();
    for r in results {
        if !envs.contains(&r.environment.as_str()) {
            envs.push(&r.environment);
        }
    }
    for env in envs {
        let mut suite = TestSuite::new(env);
        for r in results.iter().filter(|r| r.environment == env) {
            let status = match (r.verdict, r.matches_expectation) {
                (Verdict::Skip, true) => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.reason.clone());
                    s
                }
                (_, true) => TestCaseStatus::success(),
                (_, false) => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(r.reason.clone());
                    s.set_description(evidence(r));
                    s
                }
            };
            let mut case = TestCase::new(format!("{} × {}", r.variant, r.scenario), status);
            case.set_classname(format!("initlab.{env}"));
            case.set_time(Duration::from_millis(r.duration_ms));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().unwrap_or_default()
}
