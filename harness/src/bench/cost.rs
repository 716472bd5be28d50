//! The harness's own cost: a cell against the same workload run bare, and
//! how long a hang takes to become a verdict.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cell::{self, RunCtx};
use crate::environment::{self, EnvKind, StartSpec};
use crate::self_report;
use crate::variant::Variant;

use super::measure::{fmt_stats, ratio, Stats};
use super::Sizes;

pub fn harness_cost(ctx: &RunCtx, variants: &[Variant], sizes: &Sizes) -> Result<String, String> {
    let find = |n: &str| {
        variants
            .iter()
            .find(|v| v.name == n)
            .ok_or(format!("no variant {n}"))
    };
    let scenarios = crate::scenario::load(&ctx.scenarios_dir)?;
    let gunicorn = scenarios
        .iter()
        .find(|s| s.name == "gunicorn-gevent")
        .ok_or("no gunicorn-gevent scenario")?;
    let python = ctx.python.as_ref().ok_or("no Python environment")?;
    let (mut cells, mut bares, mut hangs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..sizes.cell_runs {
        eprintln!("initlab bench: a cell, the same workload bare, and a hang");
        let t = Instant::now();
        let r = cell::run(ctx, find("none")?, gunicorn, EnvKind::Direct, None);
        cells.push(t.elapsed().as_secs_f64());
        if r.verdict != crate::checks::Verdict::Pass {
            return Err(format!("the benchmark cell failed: {}", r.reason));
        }
        let baseline = crate::checks::Baseline::from_processes(&r.processes);
        bares.push(bare_workload(ctx, gunicorn, &python.path)?);
        let t = Instant::now();
        let r = cell::run(
            ctx,
            find("initlab-init-issue38")?,
            gunicorn,
            EnvKind::Direct,
            Some(&baseline),
        );
        if !r.matches_expectation {
            return Err(format!("the issue-38 cell did not reproduce: {}", r.reason));
        }
        hangs.push(t.elapsed().as_secs_f64());
    }
    let (c, b, h) = (Stats::of(cells), Stats::of(bares), Stats::of(hangs));
    let mut out = String::new();
    let _ = writeln!(out, "\n| harness | median (min–max) |\n|---|---|");
    let _ = writeln!(
        out,
        "| one cell: no init × gunicorn-gevent × direct | {} |",
        fmt_stats(c, "s")
    );
    let _ = writeln!(
        out,
        "| the same workload bare (start, 2 workers ready, one request, kill) | {} |",
        fmt_stats(b, "s")
    );
    let _ = writeln!(
        out,
        "| cell ÷ bare | {} |",
        ratio(c.map(|x| x.median), b.map(|x| x.median))
    );
    let _ = writeln!(
        out,
        "| issue-38 hang: start to verdict (whole cell) | {} |",
        fmt_stats(h, "s")
    );
    Ok(out)
}

/// The workload without the harness's checks: start it, wait for both
/// workers, one request, kill it.
fn bare_workload(
    ctx: &RunCtx,
    scenario: &crate::scenario::Scenario,
    python: &Path,
) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let log_path = dir.path().join("log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let argv = scenario.argv(
        &python.display().to_string(),
        &ctx.scenarios_dir.display().to_string(),
        port,
        &dir.path().display().to_string(),
    );
    let env = cell::workload_env(scenario, dir.path(), dir.path());
    let t = Instant::now();
    let started = environment::start_process(
        &StartSpec {
            argv: &argv,
            env: &env,
            workdir: &ctx.scenarios_dir,
            log: &log,
        },
        false,
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while self_report::reports(dir.path())
        .iter()
        .filter(|r| r.phase() == "ready")
        .count()
        < 2
    {
        if Instant::now() > deadline {
            started.teardown(&[]);
            return Err("the bare workload did not boot".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = ureq::get(&format!("http://127.0.0.1:{port}/probe")).call();
    started.teardown(&[]);
    Ok(t.elapsed().as_secs_f64())
}
