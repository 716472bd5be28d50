//! One cell: a variant × scenario × environment, run once with deadlines,
//! torn down completely, and judged against its expectation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::checks::{Baseline, Check, Verdict};
use crate::docker::{self, DockerReady};
use crate::drivers::{self, Ctx, Outcome, Timing};
use crate::environment::{self, ContainerSpec, EnvKind, StartSpec};
use crate::expect::Expectations;
use crate::inits::Inits;
use crate::proc_state::Observed;
use crate::python::Python;
use crate::scenario::{Driver, Scenario};
use crate::self_report;
use crate::variant::{self, Program, Variant};

/// What every cell of a run shares.
pub struct RunCtx {
    pub inits: Inits,
    pub python: Option<Python>,
    pub scenarios_dir: PathBuf,
    pub timing: Timing,
    pub expectations: Expectations,
    /// A variant that is not installed fails instead of being skipped (CI).
    pub strict: bool,
    pub workdir: PathBuf,
    /// The Docker environment, when a cell of the run needs it: ready, or
    /// why not (the engine is missing, the image could not be built).
    pub docker: Option<Result<DockerReady, String>>,
    /// `--trace`: every cell runs under strace.
    pub trace: bool,
    /// Per variant: host files to bind-mount into its containers at the same
    /// path (see `docker::preflight`).
    pub docker_mounts: HashMap<String, Vec<PathBuf>>,
}

/// The workload's paths as the started process sees them.
struct Paths {
    python: String,
    scenarios: PathBuf,
    init: String,
    issue38: String,
    mutant: Option<String>,
    cell: PathBuf,
    versions: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CellResult {
    pub variant: String,
    pub scenario: String,
    pub environment: String,
    pub verdict: Verdict,
    /// `pass`, or `fail: blocked, boot` — the checks expected to fail.
    pub expected: String,
    pub matches_expectation: bool,
    /// Why the expectation is what it is, when it is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expectation_reason: Option<String>,
    /// One line: what went wrong, or why it was skipped.
    pub reason: String,
    pub checks: Vec<Check>,
    pub processes: Vec<Observed>,
    pub versions: BTreeMap<String, String>,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// How many times the cell ran (`--repeat`).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub runs: usize,
    /// Its verdict or failed checks changed between runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flaky: bool,
    /// Every run of a flaky cell, with its evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Round>,
    /// Checks its expectation says may go either way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_fail: Vec<String>,
    /// `--trace`: what the signal system calls show, in a few words; the
    /// whole trace is kept beside the cell's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One run of a repeated cell, as a flaky cell's report keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Round {
    pub verdict: Verdict,
    pub failed_checks: Vec<String>,
    pub reason: String,
    pub checks: Vec<Check>,
    pub duration_ms: u64,
}

impl Round {
    pub fn of(r: &CellResult) -> Round {
        Round {
            verdict: r.verdict,
            failed_checks: r.failed_checks().into_iter().collect(),
            reason: r.reason.clone(),
            checks: r.checks.clone(),
            duration_ms: r.duration_ms,
        }
    }

    /// What must not change between runs: whether the cell ran, and the
    /// failed checks other than those its expectation says may go either
    /// way (measured, with a reason).
    pub fn outcome(&self, may_fail: &[String]) -> (bool, Vec<String>) {
        let failed = self
            .failed_checks
            .iter()
            .filter(|c| !may_fail.contains(c))
            .cloned()
            .collect();
        (self.verdict == Verdict::Skip, failed)
    }
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl CellResult {
    /// A result expected to pass, its checks to be filled in: a cell's
    /// before its expectation is known, or an audit's.
    pub fn observed(
        variant: &str,
        scenario: &str,
        environment: &str,
        versions: BTreeMap<String, String>,
    ) -> CellResult {
        CellResult {
            variant: variant.into(),
            scenario: scenario.into(),
            environment: environment.into(),
            verdict: Verdict::Pass,
            expected: "pass".into(),
            matches_expectation: true,
            expectation_reason: None,
            reason: String::new(),
            checks: Vec::new(),
            processes: Vec::new(),
            versions,
            duration_ms: 0,
            log_tail: Vec::new(),
            runs: 1,
            flaky: false,
            rounds: Vec::new(),
            may_fail: Vec::new(),
            trace: None,
        }
    }

    pub fn id(&self) -> String {
        format!(
            "{} × {} × {}",
            self.variant, self.scenario, self.environment
        )
    }

    pub fn failed_checks(&self) -> BTreeSet<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Fail)
            .map(|c| c.name.clone())
            .collect()
    }
}

fn expected_text(fails: &BTreeSet<String>, may_fail: &BTreeSet<String>) -> String {
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    let mut text = if fails.is_empty() {
        "pass".into()
    } else {
        format!("fail: {}", list(fails))
    };
    if !may_fail.is_empty() {
        text.push_str(&format!(" (may fail: {})", list(may_fail)));
    }
    text
}

/// Runs one cell. `baseline` is `None` for the baseline run itself.
pub fn run(
    ctx: &RunCtx,
    variant: &Variant,
    scenario: &Scenario,
    env: EnvKind,
    baseline: Option<&Baseline>,
) -> CellResult {
    let started = Instant::now();
    let mut versions = BTreeMap::new();
    let outcome = prepare_and_run(ctx, variant, scenario, env, baseline, &mut versions)
        .map_err(|Skip(reason)| reason);
    let expectation = ctx
        .expectations
        .for_cell(&variant.name, &scenario.name, env.name());
    let expected = expectation.map(|e| e.fails.clone()).unwrap_or_default();
    let may_fail = expectation.map(|e| e.may_fail.clone()).unwrap_or_default();
    let mut result = CellResult::observed(&variant.name, &scenario.name, env.name(), versions);
    result.expected = expected_text(&expected, &may_fail);
    result.expectation_reason = expectation.map(|e| e.reason.clone());
    result.may_fail = may_fail.iter().cloned().collect();
    // CI, or INITLAB_REQUIRE_DOCKER=1 for docker cells: what cannot run fails.
    let strict = ctx.strict || (env == EnvKind::Docker && docker::required());
    match outcome {
        Err(reason) => {
            result.verdict = if strict { Verdict::Fail } else { Verdict::Skip };
            result.matches_expectation = !strict;
            result.reason = reason;
        }
        Ok((outcome, log, trace)) => {
            result.trace = trace;
            result.checks = outcome.checks;
            result.processes = outcome.processes;
            let failed = result.failed_checks();
            if !failed.is_empty() {
                result.verdict = Verdict::Fail;
            }
            result.matches_expectation = failed.is_superset(&expected)
                && failed.difference(&may_fail).all(|f| expected.contains(f));
            result.reason = explain(&result, &expected, &failed);
            if !failed.is_empty() || !result.matches_expectation {
                result.log_tail = self_report::tail(&log, 15);
            }
        }
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

fn explain(result: &CellResult, expected: &BTreeSet<String>, failed: &BTreeSet<String>) -> String {
    let first_evidence = |names: &BTreeSet<String>| {
        result
            .checks
            .iter()
            .find(|c| names.contains(&c.name))
            .map(|c| format!("{}: {}", c.name, c.evidence))
            .unwrap_or_default()
    };
    if result.matches_expectation {
        return match (&result.expectation_reason, failed.is_empty()) {
            (_, true) => String::new(),
            (Some(why), false) => format!("as expected: {why}"),
            (None, false) => first_evidence(failed),
        };
    }
    let unexpected: BTreeSet<String> = failed.difference(expected).cloned().collect();
    let missing: Vec<String> = expected.difference(failed).cloned().collect();
    if !unexpected.is_empty() {
        first_evidence(&unexpected)
    } else {
        format!(
            "expected to fail but passed: {} ({})",
            missing.join(", "),
            first_evidence(&missing.iter().cloned().collect())
        )
    }
}

/// Why a cell could not run at all.
struct Skip(String);

fn prepare_and_run(
    ctx: &RunCtx,
    variant: &Variant,
    scenario: &Scenario,
    env: EnvKind,
    baseline: Option<&Baseline>,
    versions: &mut BTreeMap<String, String>,
) -> Result<(Outcome, PathBuf, Option<String>), Skip> {
    let dir = tempfile::Builder::new()
        .prefix(&format!(
            "{}-{}-{}-",
            variant.name,
            scenario.name,
            env.name()
        ))
        .tempdir_in(&ctx.workdir)
        .map_err(|e| Skip(format!("cannot create a cell directory: {e}")))?;
    let paths = paths_for(ctx, env, dir.path())?;
    if env != EnvKind::Docker {
        // In Docker the image provides the third-party inits.
        record_init_version(ctx, variant, versions)?;
    }
    if scenario.needs_python() {
        match &paths.versions {
            Some(v) => versions.insert("workload".into(), v.clone()),
            None => return Err(Skip("no Python environment for this scenario".into())),
        };
    }
    // Append mode: master and workers share this file, and without it their
    // concurrent writes land at one shared offset and overwrite each other.
    let log_path = dir.path().join("workload.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Skip(format!("cannot create {}: {e}", log_path.display())))?;
    let log_guard = crate::cell_log::guard(&log);
    let port = free_port().map_err(|e| Skip(format!("no free TCP port on 127.0.0.1: {e}")))?;
    let scenarios = paths.scenarios.display().to_string();
    let workload = scenario.argv(
        &paths.python,
        &scenarios,
        port,
        &paths.cell.display().to_string(),
    );
    // gunicorn keeps a control socket under HOME: one HOME per cell.
    let home = match env {
        EnvKind::Docker => PathBuf::from("/tmp"),
        _ => dir.path().to_path_buf(),
    };
    let env_vars = workload_env(scenario, &home, &paths.cell);
    let mut argv = Vec::new();
    for part in &variant.prefix {
        match part.as_str() {
            "{initlab-init}" => argv.push(paths.init.clone()),
            "{initlab-init-issue38}" => argv.push(paths.issue38.clone()),
            "{initlab-init-mutant}" => argv.push(paths.mutant.clone().ok_or_else(|| {
                Skip("initlab-init-mutant is not built: `cargo build -p initlab-init`".into())
            })?),
            "{config}" => {
                write_config(dir.path(), &workload, &env_vars, &paths.scenarios).map_err(Skip)?;
                argv.push(paths.cell.join("init.yml").display().to_string());
            }
            other => argv.push(other.to_string()),
        }
    }
    // The config variant has the workload in its file, not on the command line.
    if !variant.writes_config() {
        argv.extend(workload);
    }
    let mut mounts = ctx
        .docker_mounts
        .get(&variant.name)
        .cloned()
        .unwrap_or_default();
    let gate = if ctx.trace {
        let fifo = crate::trace::make_gate(dir.path()).map_err(Skip)?;
        let exe = std::env::current_exe()
            .map_err(|e| Skip(format!("cannot find the harness's own binary: {e}")))?;
        let seen = match env {
            EnvKind::Docker => Path::new(docker::CELL_MOUNT).join("trace-gate"),
            _ => fifo.clone(),
        };
        let mut gated = vec![
            exe.display().to_string(),
            "trace-gate".into(),
            seen.display().to_string(),
            "--".into(),
        ];
        gated.append(&mut argv);
        argv = gated;
        // Static, so it runs in the image too, from the same path.
        mounts.push(exe);
        Some(fifo)
    } else {
        None
    };
    let spec = StartSpec {
        argv: &argv,
        env: &env_vars,
        workdir: &paths.scenarios,
        log: &log,
    };
    let started = match env {
        EnvKind::Direct | EnvKind::Pid1 => environment::start_process(&spec, env == EnvKind::Pid1),
        EnvKind::Docker => {
            let ready = docker_ready(ctx)?;
            environment::start_container(
                &spec,
                &ContainerSpec {
                    name: format!(
                        "initlab-{}-{}-{}",
                        ready.run_id, variant.name, scenario.name
                    ),
                    image: &ready.image,
                    run_id: &ready.run_id,
                    init_dir: ctx.inits.init.parent().unwrap_or(Path::new("/")),
                    cell_dir: dir.path(),
                    docker_init: variant.docker_init,
                    mounts: &mounts,
                },
            )
        }
    }
    .map_err(|e| Skip(format!("cannot start `{}`: {e}", argv.join(" "))))?;
    let tracer = match &gate {
        Some(fifo) => {
            let pids: Vec<i32> = crate::proc_state::tree(started.root())
                .iter()
                .map(|p| p.pid)
                .collect();
            match crate::trace::Tracer::attach_and_open(&pids, &dir.path().join("trace"), fifo) {
                Ok(t) => Some(t),
                Err(e) => {
                    started.teardown(&[]);
                    return Err(Skip(e));
                }
            }
        }
        None => None,
    };
    let mut dctx = Ctx {
        root: started.root(),
        started: &started,
        has_init: variant.has_init(),
        cell: dir.path().to_path_buf(),
        port,
        timing: &ctx.timing,
        baseline,
        seen: Vec::new(),
    };
    let mut outcome = match scenario.driver {
        Driver::Probe => drivers::probe(&mut dctx),
        Driver::Script => drivers::script(&mut dctx),
        Driver::Gunicorn => drivers::gunicorn(&mut dctx),
        Driver::Control => drivers::control(&mut dctx),
        Driver::Orphans => drivers::orphans(&mut dctx),
    };
    let seen = std::mem::take(&mut dctx.seen);
    let survivors = started.teardown(&seen);
    if !survivors.is_empty() {
        outcome.checks.push(Check::fail(
            "teardown",
            format!("processes survived SIGKILL: {survivors:?}"),
        ));
    }
    // Keep the logs beside the run's other files; the cell directory goes.
    // The failure tail shows gunicorn's own log where there is one: the
    // init's output may hold nothing of the workload's.
    let stem = claim_stem(
        &ctx.workdir,
        &format!("{}--{}--{}", variant.name, scenario.name, env.name()),
    );
    let kept = ctx.workdir.join(format!("{stem}.log"));
    drop(log_guard);
    crate::input::keep(&log_path, &kept);
    let mut tail_from = kept;
    for name in [self_report::REPORTS, self_report::GUNICORN_LOG] {
        let from = dir.path().join(name);
        let to = ctx.workdir.join(format!("{stem}.{name}"));
        if crate::input::keep(&from, &to) && name == self_report::GUNICORN_LOG {
            tail_from = to;
        }
    }
    let trace = tracer.map(|t| {
        let path = t.finish();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let kept = ctx.workdir.join(format!("{stem}.trace"));
        let _ = std::fs::copy(&path, &kept);
        format!(
            "{} (the whole trace: {})",
            crate::trace::summarize(&text),
            kept.display()
        )
    });
    Ok((outcome, tail_from, trace))
}

/// A name for a cell's kept files that no other run of the same cell
/// (`--repeat`) has taken: `STEM`, then `STEM--run2`, …; claimed by creating
/// its log file, so parallel runs cannot both take it.
fn claim_stem(dir: &Path, stem: &str) -> String {
    for n in 1..1000 {
        let name = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}--run{n}")
        };
        let log = dir.join(format!("{name}.log"));
        if std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&log)
            .is_ok()
        {
            return name;
        }
    }
    stem.to_string()
}

fn docker_ready(ctx: &RunCtx) -> Result<&DockerReady, Skip> {
    match &ctx.docker {
        Some(Ok(ready)) => Ok(ready),
        Some(Err(why)) => Err(Skip(why.clone())),
        None => Err(Skip(
            "the docker environment was not prepared for this run".into(),
        )),
    }
}

fn paths_for(ctx: &RunCtx, env: EnvKind, cell: &Path) -> Result<Paths, Skip> {
    if env == EnvKind::Docker {
        let ready = docker_ready(ctx)?;
        return Ok(Paths {
            python: docker::PYTHON.into(),
            scenarios: docker::SCENARIOS.into(),
            init: format!("{}/initlab-init", docker::INIT_MOUNT),
            issue38: format!("{}/initlab-init-issue38", docker::INIT_MOUNT),
            mutant: ctx
                .inits
                .mutant
                .as_ref()
                .map(|_| format!("{}/initlab-init-mutant", docker::INIT_MOUNT)),
            cell: docker::CELL_MOUNT.into(),
            versions: Some(ready.versions.clone()),
        });
    }
    Ok(Paths {
        python: ctx
            .python
            .as_ref()
            .map(|p| p.path.display().to_string())
            .unwrap_or_default(),
        scenarios: ctx.scenarios_dir.clone(),
        init: ctx.inits.init.display().to_string(),
        issue38: ctx.inits.issue38.display().to_string(),
        mutant: ctx.inits.mutant.as_ref().map(|m| m.display().to_string()),
        cell: cell.to_path_buf(),
        versions: ctx.python.as_ref().map(|p| p.versions.clone()),
    })
}

/// The init must be there (a third-party one on PATH); its version goes
/// into the report.
fn record_init_version(
    ctx: &RunCtx,
    variant: &Variant,
    versions: &mut BTreeMap<String, String>,
) -> Result<(), Skip> {
    let program = match variant.program() {
        Program::None => return Ok(()),
        Program::Ours("initlab-init") => ctx.inits.init.clone(),
        Program::Ours("initlab-init-mutant") => match &ctx.inits.mutant {
            Some(m) => m.clone(),
            None => {
                return Err(Skip(
                    "initlab-init-mutant is not built: `cargo build -p initlab-init`".into(),
                ))
            }
        },
        Program::Ours(_) => ctx.inits.issue38.clone(),
        Program::External(name) => which::which(&name).map_err(|_| {
            Skip(match &variant.install {
                Some(cmd) => format!("{name} is not installed; install it with `{cmd}`"),
                None if name.contains('/') => {
                    format!("{name} is not an executable file: give the path of an init")
                }
                None => format!("{name} is not on PATH"),
            })
        })?,
    };
    if let Some(v) = variant::version_of(&program) {
        versions.insert("init".into(), v);
    }
    Ok(())
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The environment every workload gets: a standard PATH, its own HOME,
/// unbuffered Python that writes no bytecode into the scenarios folder, and
/// the file its self-reports go to, in its cell (`cell` as it sees it).
pub fn workload_env(scenario: &Scenario, home: &Path, cell: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOME".into(), home.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        (
            "INITLAB_REPORT".into(),
            cell.join(self_report::REPORTS).display().to_string(),
        ),
    ];
    env.extend(scenario.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

#[derive(Serialize)]
struct ConfigFile<'a> {
    programs: [ConfigProgram<'a>; 1],
}

#[derive(Serialize)]
struct ConfigProgram<'a> {
    name: &'a str,
    path: &'a str,
    args: &'a [String],
    workdir: &'a Path,
    env: Vec<BTreeMap<&'a str, &'a str>>,
}

/// The `--config` variant's YAML: the workload as the one program.
fn write_config(
    dir: &Path,
    workload: &[String],
    env: &[(String, String)],
    workdir: &Path,
) -> Result<PathBuf, String> {
    let file = ConfigFile {
        programs: [ConfigProgram {
            name: "workload",
            path: &workload[0],
            args: &workload[1..],
            workdir,
            env: env
                .iter()
                .map(|(k, v)| BTreeMap::from([(k.as_str(), v.as_str())]))
                .collect(),
        }],
    };
    let path = dir.join("init.yml");
    let text = serde_yaml_ng::to_string(&file).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}
