//! The harness's own cost: a cell against the same workload run bare, and
//! how long a hang takes to become a verdict.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cell::{self, RunCtx};
use crate::environment::{self, EnvKind, StartSpec};
use crate::self_report;
use crate::variant::Variant;

use serde::Serialize;

use super::measure::{fmt_stats, Stats};
use super::Sizes;

/// One figure of the harness's own cost.
#[derive(Serialize)]
pub struct CostRow {
    pub what: String,
    #[serde(flatten)]
    pub figure: CostFigure,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum CostFigure {
    Measured {
        unit: &'static str,
        #[serde(flatten)]
        stats: Option<Stats>,
    },
    Ratio {
        ratio: Option<f64>,
    },
}

impl CostRow {
    fn stats(what: impl Into<String>, stats: Option<Stats>, unit: &'static str) -> CostRow {
        CostRow {
            what: what.into(),
            figure: CostFigure::Measured { unit, stats },
        }
    }

    /// The medians of `a` and `b`, divided.
    fn ratio(what: &str, a: Option<Stats>, b: Option<Stats>) -> CostRow {
        let ratio = a.zip(b).filter(|(_, b)| b.median > 0.0);
        CostRow {
            what: what.into(),
            figure: CostFigure::Ratio {
                ratio: ratio.map(|(a, b)| a.median / b.median),
            },
        }
    }

    /// The row as the Markdown report shows it.
    pub fn cell(&self) -> String {
        match &self.figure {
            CostFigure::Measured { unit, stats } => fmt_stats(*stats, unit),
            CostFigure::Ratio { ratio } => ratio.map_or("—".into(), |r| format!("{r:.2}")),
        }
    }
}

pub fn harness_cost(
    ctx: &RunCtx,
    variants: &[Variant],
    sizes: &Sizes,
) -> Result<Vec<CostRow>, String> {
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
        say!("initlab bench: a cell, the same workload bare, and a hang");
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
    let mut rows = vec![
        CostRow::stats("one cell: no init × gunicorn-gevent × direct", c, "s"),
        CostRow::stats(
            "the same workload bare (start, 2 workers ready, one request, kill)",
            b,
            "s",
        ),
        CostRow::ratio("cell ÷ bare", c, b),
        CostRow::stats("issue-38 hang: start to verdict (whole cell)", h, "s"),
    ];
    rows.extend(crowded(ctx, find("none")?, gunicorn, sizes, c)?);
    Ok(rows)
}

/// The same cell on a host with `sizes.crowd` unrelated processes, and one
/// sample of a cell's tree: walking its own subtree against reading every
/// process on the host.
fn crowded(
    ctx: &RunCtx,
    none: &Variant,
    gunicorn: &crate::scenario::Scenario,
    sizes: &Sizes,
    quiet: Option<Stats>,
) -> Result<Vec<CostRow>, String> {
    say!(
        "initlab bench: the cell again among {} unrelated processes",
        sizes.crowd
    );
    let crowd = Crowd::start(sizes.crowd)?;
    let mut cells = Vec::new();
    for _ in 0..sizes.cell_runs {
        let t = Instant::now();
        let r = cell::run(ctx, none, gunicorn, EnvKind::Direct, None);
        cells.push(t.elapsed().as_secs_f64());
        if r.verdict != crate::checks::Verdict::Pass {
            return Err(format!("the crowded benchmark cell failed: {}", r.reason));
        }
    }
    let SampleCosts { walk, scan } = sample_costs(ctx, 50)?;
    drop(crowd);
    let busy = Stats::of(cells);
    Ok(vec![
        CostRow::stats(
            format!("the same cell among {} unrelated processes", sizes.crowd),
            busy,
            "s",
        ),
        CostRow::ratio("crowded cell ÷ quiet cell", busy, quiet),
        CostRow::stats(
            "one sample of a 2-process tree among them: its own subtree (`task/*/children`)",
            Some(walk),
            "ms",
        ),
        CostRow::stats(
            "the same sample by reading every process on the host",
            Some(scan),
            "ms",
        ),
    ])
}

/// Milliseconds per sample of a small live tree.
struct SampleCosts {
    /// Down its own subtree, through `task/*/children`.
    walk: Stats,
    /// By reading every process on the host.
    scan: Stats,
}

fn sample_costs(ctx: &RunCtx, rounds: usize) -> Result<SampleCosts, String> {
    let log = tempfile::tempfile().map_err(|e| e.to_string())?;
    // Lives until torn down: on a crowded host the scans below can take
    // longer than any fixed life would.
    let argv: Vec<String> = ["sh", "-c", "sleep 86400 & exec sleep 86400"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let started = environment::start_process(
        &StartSpec {
            argv: &argv,
            env: &[("PATH".into(), "/usr/bin:/bin".into())],
            workdir: &ctx.scenarios_dir,
            log: &log,
        },
        false,
    )?;
    let root = started.root();
    let held = |n: usize| n == 2;
    let deadline = Instant::now() + TREE_LIMIT;
    while !held(crate::proc_state::tree(root).len()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let time = |f: &dyn Fn(i32) -> usize| {
        let mut v = Vec::new();
        let end = Instant::now() + SAMPLE_BUDGET;
        for _ in 0..rounds {
            let t = Instant::now();
            let n = f(root);
            v.push(t.elapsed().as_secs_f64() * 1000.0);
            if !held(n) {
                return Err(n);
            }
            if v.len() >= 3 && Instant::now() >= end {
                break;
            }
        }
        Ok(Stats::of(v))
    };
    let walk = time(&|r| crate::proc_state::tree(r).len());
    let scan = time(&|r| crate::proc_state::tree_by_scan(r).len());
    started.teardown(&[]);
    match (walk, scan) {
        (Ok(Some(walk)), Ok(Some(scan))) => Ok(SampleCosts { walk, scan }),
        (Err(n), _) | (_, Err(n)) => Err(format!(
            "the sampled tree (`{}`) held {n} processes instead of 2; \
             look for what killed or added to it",
            argv[2]
        )),
        _ => Err("the sampled tree was not sampled: no rounds were asked for".into()),
    }
}

/// How long the sampled tree may take to hold its two processes.
const TREE_LIMIT: Duration = Duration::from_secs(10);
/// How long each way of sampling is timed at most, once it has three
/// samples: a scan of every process costs a second on a host with tens
/// of thousands.
const SAMPLE_BUDGET: Duration = Duration::from_secs(5);

/// Unrelated processes, each blocked in `pause`, killed and reaped on drop.
struct Crowd(Vec<i32>);

impl Crowd {
    fn start(n: usize) -> Result<Crowd, String> {
        let mut pids = Vec::with_capacity(n);
        for _ in 0..n {
            // SAFETY: the child only calls pause and _exit.
            match unsafe { libc::fork() } {
                0 => unsafe {
                    libc::pause();
                    libc::_exit(0)
                },
                -1 => {
                    drop(Crowd(pids));
                    return Err("fork failed while starting the crowd".into());
                }
                pid => pids.push(pid),
            }
        }
        Ok(Crowd(pids))
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: our own children.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for &pid in &self.0 {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
        }
    }
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
