//! The `initlab` command line.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::audit::{self, Refusal, Target};
use crate::cell::{CellResult, RunCtx};
use crate::checks::Verdict;
use crate::drivers::Timing;
use crate::environment::EnvKind;
use crate::expect::Expectations;
use crate::matrix::{self, Planned};
use crate::report::{self, Format};
use crate::scenario::{self, Scenario};
use crate::shard::{self, Shard};
use crate::status::{self, Failure};
use crate::variant::{self, Program, Variant};
use crate::{bench, docker, inits, inspect, interrupt, python, reaper, repeat, reproduce};

#[derive(Parser, Debug)]
#[command(
    name = "initlab",
    version,
    about = "Runs gunicorn + gevent workloads under many inits and checks, from /proc and from \
             the workload's behaviour, that signal masks are clean and SIGCHLD is delivered.",
    after_help = "Exit status: 0 every cell matched its expectation, 1 a cell deviated or was flaky, \
                  2 bad usage, 3 setup failed, 4 cells asked for were skipped, 130 interrupted. \
                  Relative paths are taken from the current directory."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the matrix of variants × scenarios × environments.
    Run(RunArgs),
    /// Reproduce a known bug and show the fix holding.
    Reproduce {
        /// The bug: `issue-38` (cinit's inherited signal mask).
        bug: String,
        #[command(flatten)]
        common: Common,
        /// Where to run it.
        #[arg(long, default_value = "direct", value_name = "ENV")]
        env: String,
    },
    /// The harness's own test: every mutant init (initlab-init with one known
    /// defect of a real init) must be caught by exactly the checks its defect
    /// breaks, in every environment.
    Selftest(RunArgs),
    /// Audit what you already run, with a cell's checks and reports: a
    /// process tree on the host, a running container (both read-only, from
    /// /proc), or an image run as its users run it, then stopped.
    Audit(AuditArgs),
    /// Combine the JSON reports of `run --shard` jobs into one report, with
    /// the exit status of a single run.
    Merge {
        /// JSON reports (`run --format json`), one per shard.
        #[arg(required = true, value_name = "REPORT")]
        reports: Vec<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Write the report here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// List variants (found on this machine, with versions), scenarios and environments.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Benchmark initlab-init against tini, dumb-init and catatonit, and the harness's own cost.
    Bench {
        /// Tiny sizes: a smoke run, not a measurement.
        #[arg(long)]
        quick: bool,
        /// Report format: Markdown tables, or JSON for a regression gate.
        #[arg(long, value_enum, default_value = "markdown")]
        format: BenchFormat,
        /// Write the report here instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Holds a traced cell's first process until strace is attached, then
    /// becomes the command (see --trace).
    #[command(hide = true)]
    TraceGate {
        fifo: PathBuf,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
    /// The benchmark's helper programs (run under the inits being measured).
    #[command(hide = true)]
    BenchHelper {
        /// `orphans` or `catch`.
        mode: String,
        /// How many orphans.
        count: Option<usize>,
    },
    /// Build the Docker images (base from debootstrap, then the workload image).
    Images {
        /// Build them again even when the cached ones match their inputs.
        #[arg(long)]
        rebuild: bool,
        #[arg(long, value_name = "DIR", env = "INITLAB_INIT_DIR")]
        init_dir: Option<PathBuf>,
    },
    /// Show the decoded signal state of a process and its descendants.
    Inspect {
        pid: i32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["pid", "container", "image"])))]
struct AuditArgs {
    /// A process on the host and everything below it.
    #[arg(long, value_name = "PID")]
    pid: Option<i32>,
    /// A running container (name or id).
    #[arg(long, value_name = "NAME", value_parser = parse_container)]
    container: Option<String>,
    /// An image: run with its own ENTRYPOINT and CMD unless overridden,
    /// audited once ready, then stopped with `docker stop`.
    #[arg(long, value_name = "IMAGE", value_parser = parse_image)]
    image: Option<String>,
    /// Override the image's ENTRYPOINT.
    #[arg(long, value_name = "PATH")]
    entrypoint: Option<String>,
    /// Audit once this port on 127.0.0.1 answers (the container then uses
    /// the host's network); otherwise once the process tree stops changing.
    #[arg(long, value_name = "PORT")]
    ready_port: Option<u16>,
    /// The longest wait for the image to be ready.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    ready_within: u64,
    /// `docker stop -t`: seconds before Docker sends SIGKILL.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    stop_timeout: u64,
    /// Seconds between the two samples of the tree: a mask or a zombie seen
    /// in one sample only is named, not failed.
    #[arg(long, value_name = "SECONDS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    settle: u64,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// With --image: record the signal system calls of the init and the
    /// workload with strace, from the container's first instruction.
    #[arg(long)]
    trace: bool,
    /// The image's command instead of its CMD.
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// Options every command that runs cells shares.
#[derive(Args, Debug, Clone)]
struct Common {
    /// Add a variant: NAME='ARGV PREFIX' (repeatable), e.g. --init my-tini='tini -s --'.
    #[arg(long = "init", value_name = "NAME=PREFIX")]
    inits: Vec<String>,
    /// Add the variants of a YAML file in the format of harness/variants.yml (repeatable).
    #[arg(long = "variants", value_name = "FILE")]
    variants_files: Vec<PathBuf>,
    /// Use this interpreter (with gevent and gunicorn) instead of the harness's venv.
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// The scenarios folder (default: the one in this workspace).
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Where initlab-init and initlab-init-issue38 are (default: built from this workspace).
    #[arg(long, value_name = "DIR", env = "INITLAB_INIT_DIR")]
    init_dir: Option<PathBuf>,
    /// Expectations file replacing the built-in harness/expectations.yml.
    #[arg(long, value_name = "FILE")]
    expectations: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Only these variants (comma-separated).
    #[arg(long, value_delimiter = ',')]
    variant: Vec<String>,
    /// Only these scenarios (comma-separated).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Only these environments (comma-separated): direct, pid1, docker.
    #[arg(long, value_delimiter = ',')]
    env: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Cells run at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Accept skipped cells even where they were asked for by name.
    #[arg(long)]
    allow_skip: bool,
    /// Run only shard I of N: a deterministic, balanced share of the cells
    /// (give every job the same other arguments); `initlab merge` combines
    /// the shards' JSON reports.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Run every cell N times; a cell whose verdict or failed checks change
    /// between runs is reported as flaky, and fails the run.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_repeat)]
    repeat: usize,
    /// Record the signal system calls of the init and the workload with
    /// strace: a summary in each cell's evidence, the whole trace in the run
    /// directory. Slows the cells down.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    common: Common,
}

/// A container name or id as the engine spells them. They are passed to
/// `docker` as arguments, where one starting with `-` would be an option.
fn parse_container(s: &str) -> Result<String, String> {
    let name = s.strip_prefix('/').unwrap_or(s);
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(s.to_string())
    } else {
        Err(
            "not a container name or id: letters, digits, `_`, `.` and `-`, \
             starting with a letter or digit (see `docker ps`)"
                .into(),
        )
    }
}

/// An image reference, passed to `docker run` as an argument: never one
/// that would read as an option, and never empty or holding blanks.
fn parse_image(s: &str) -> Result<String, String> {
    if s.is_empty() || s.starts_with('-') || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(
            "not an image reference: give one as `docker images` lists it, \
             such as initlab/gunicorn:latest"
                .into(),
        )
    } else {
        Ok(s.to_string())
    }
}

/// A command-line error as one line: what was wrong, without the usage
/// block and tips that follow it.
fn usage_error_line(rendered: &str) -> String {
    let what: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect();
    format!(
        "{} (see --help)",
        what.join(" ").trim_start_matches("error: ")
    )
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    s.parse()
}

/// More than this many runs of a matrix is a soak test, not a flake check.
const MAX_REPEAT: usize = 100;

fn parse_repeat(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_REPEAT).contains(&n) => Ok(n),
        _ => Err(format!("give a whole number from 1 to {MAX_REPEAT}")),
    }
}

/// A path as the shell that typed it meant it: relative to that directory,
/// whatever directory a workload or a container runs in later.
fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

impl Common {
    fn anchored(mut self) -> Common {
        self.variants_files = self.variants_files.into_iter().map(absolute).collect();
        self.python = self.python.map(absolute);
        self.scenarios = self.scenarios.map(absolute);
        self.init_dir = self.init_dir.map(absolute);
        self.expectations = self.expectations.map(absolute);
        self
    }
}

impl Cli {
    fn anchored(mut self) -> Cli {
        self.command = match self.command {
            Command::Run(mut a) => {
                a.common = a.common.anchored();
                a.output = a.output.map(absolute);
                Command::Run(a)
            }
            Command::Selftest(mut a) => {
                a.common = a.common.anchored();
                a.output = a.output.map(absolute);
                Command::Selftest(a)
            }
            Command::Reproduce { bug, common, env } => Command::Reproduce {
                bug,
                common: common.anchored(),
                env,
            },
            Command::List { common } => Command::List {
                common: common.anchored(),
            },
            Command::Bench {
                quick,
                format,
                output,
                common,
            } => Command::Bench {
                quick,
                format,
                output: output.map(absolute),
                common: common.anchored(),
            },
            Command::Audit(mut a) => {
                a.output = a.output.map(absolute);
                Command::Audit(a)
            }
            Command::Merge {
                reports,
                format,
                output,
            } => Command::Merge {
                reports: reports.into_iter().map(absolute).collect(),
                format,
                output: output.map(absolute),
            },
            Command::Images { rebuild, init_dir } => Command::Images {
                rebuild,
                init_dir: init_dir.map(absolute),
            },
            other => other,
        };
        self
    }
}

fn usage(msg: String) -> Failure {
    Failure(status::USAGE, msg)
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli.anchored(),
        Err(e) if e.use_stderr() => {
            say!("initlab: {}", usage_error_line(&e.render().to_string()));
            return status::USAGE;
        }
        // --help and --version.
        Err(e) => {
            return match e.print() {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => finish(Err(Failure(
                    status::SETUP,
                    format!("cannot write to stdout: {e}; {STDOUT_HINT}"),
                ))),
                _ => status::OK,
            };
        }
    };
    // The helpers run under the inits being measured: no threads, no reaper.
    if let Command::TraceGate { fifo, argv } = &cli.command {
        return crate::trace::gate(fifo, argv);
    }
    if let Command::BenchHelper { mode, count } = &cli.command {
        return finish(match (mode.as_str(), count) {
            ("orphans", Some(n)) => Ok(bench::helper_orphans(*n)),
            ("catch", None) => Ok(bench::helper_catch()),
            _ => Err(usage("bench-helper takes `orphans N` or `catch`".into())),
        });
    }
    // Inspecting only reads /proc, and a process that inspects its own tree
    // must show what it inherited, not a mask of its own making.
    if let Command::Inspect { pid, json } = &cli.command {
        return finish(inspect::main(*pid, *json));
    }
    interrupt::install(cleanup);
    reaper::start();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Selftest(args) => selftest(args),
        Command::Reproduce { bug, common, env } => reproduce_cmd(&bug, &common, &env),
        Command::List { common } => list(&common),
        Command::Audit(args) => audit_cmd(args),
        Command::Merge {
            reports,
            format,
            output,
        } => merge(&reports, format, output.as_deref()),
        Command::Images { rebuild, init_dir } => images(rebuild, init_dir.as_deref()),
        Command::Bench {
            quick,
            format,
            output,
            common,
        } => bench_cmd(quick, format, output.as_deref(), &common),
        Command::BenchHelper { .. } | Command::Inspect { .. } | Command::TraceGate { .. } => {
            unreachable!("dispatched above")
        }
    };
    cleanup();
    finish(result)
}

/// What to do when stdout cannot be written.
const STDOUT_HINT: &str =
    "send it where there is room, or give --output FILE where the command takes it";

/// The exit status, with the failure said in one line. Output cut short
/// by a reader that went away (`| head`) is what that reader asked for; any
/// other failure to write stdout fails a run that otherwise passed.
fn finish(result: Result<i32, Failure>) -> i32 {
    if let Some(e) = crate::console::stdout_error() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            say!("initlab: cannot write to stdout: {e}; {STDOUT_HINT}");
            if matches!(result, Ok(status::OK)) {
                return status::SETUP;
            }
        }
    }
    match result {
        Ok(code) => code,
        Err(Failure(code, msg)) => {
            say!("initlab: {msg}");
            code
        }
    }
}

/// Leaves nothing behind: the run's containers, every process still below
/// the harness.
fn cleanup() {
    docker::remove_own();
    let left = reaper::kill_all_descendants();
    if !left.is_empty() {
        say!("initlab: processes that would not die: {left:?}");
    }
}

/// Resolves comma-separated names against the known ones, in the known order.
fn select<'a, T>(
    what: &str,
    asked: &[String],
    known: &'a [T],
    name: impl Fn(&T) -> &str,
) -> Result<Vec<&'a T>, Failure> {
    if asked.is_empty() {
        return Ok(known.iter().collect());
    }
    let names: Vec<&str> = known.iter().map(&name).collect();
    for a in asked {
        if !names.contains(&a.as_str()) {
            return Err(usage(format!(
                "unknown {what} `{a}`; known: {}",
                names.join(", ")
            )));
        }
    }
    Ok(known
        .iter()
        .filter(|k| asked.iter().any(|a| a == name(k)))
        .collect())
}

fn load_catalogue(common: &Common) -> Result<(Vec<Variant>, Vec<Scenario>, PathBuf), Failure> {
    let variants = variant::load(&common.variants_files, &common.inits).map_err(usage)?;
    let dir = common
        .scenarios
        .clone()
        .unwrap_or_else(scenario::default_dir);
    let dir = dir.canonicalize().unwrap_or(dir);
    let scenarios = scenario::load(&dir).map_err(usage)?;
    Ok((variants, scenarios, dir))
}

fn run_ctx(
    common: &Common,
    dir: &Path,
    scenarios: &[&Scenario],
    envs: &[EnvKind],
) -> Result<RunCtx, Failure> {
    let expectations = Expectations::load(common.expectations.as_deref()).map_err(usage)?;
    let inits = inits::locate(common.init_dir.as_deref()).map_err(|e| Failure(status::SETUP, e))?;
    let python = if scenarios.iter().any(|s| s.needs_python()) {
        Some(
            python::provide(common.python.as_deref(), dir)
                .map_err(|e| Failure(status::SETUP, e))?,
        )
    } else {
        None
    };
    let docker = envs.contains(&EnvKind::Docker).then(|| {
        docker::prepare(&inits, false)
            .inspect_err(|why| say!("initlab: the docker environment is not available: {why}"))
    });
    let workdir = tempfile::Builder::new()
        .prefix("initlab-run-")
        .tempdir()
        .map_err(|e| Failure(status::SETUP, format!("cannot create a run directory: {e}")))?
        .keep();
    Ok(RunCtx {
        inits,
        python,
        scenarios_dir: dir.to_path_buf(),
        timing: Timing::default(),
        expectations,
        strict: std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false"),
        workdir,
        docker,
        trace: false,
        docker_mounts: Default::default(),
    })
}

/// `run` over the mutants (all of them, or those named), then the table of
/// which checks caught each.
fn selftest(mut args: RunArgs) -> Result<i32, Failure> {
    let (variants, _, _) = load_catalogue(&args.common)?;
    let mutants: Vec<String> = variants
        .iter()
        .filter(|v| v.name.starts_with("mutant-"))
        .map(|v| v.name.clone())
        .collect();
    if args.variant.is_empty() {
        args.variant = mutants;
    } else if let Some(other) = args.variant.iter().find(|v| !mutants.contains(v)) {
        return Err(usage(format!(
            "`{other}` is not a mutant; known: {}",
            mutants.join(", ")
        )));
    }
    let with_table = args.format == Format::Table;
    run_with(args, |results, variants| {
        if with_table {
            crate::console::to_stdout(&report::mutant_table(results, variants));
        }
    })
}

fn run(args: RunArgs) -> Result<i32, Failure> {
    run_with(args, |_, _| {})
}

fn run_with(args: RunArgs, after: impl FnOnce(&[CellResult], &[Variant])) -> Result<i32, Failure> {
    let (variants, scenarios, dir) = load_catalogue(&args.common)?;
    let mut chosen_variants = select("variant", &args.variant, &variants, |v| &v.name)?;
    if args.variant.is_empty() {
        chosen_variants.retain(|v| v.default);
    }
    let mut chosen_scenarios = select("scenario", &args.scenario, &scenarios, |s| &s.name)?;
    if args.scenario.is_empty() {
        chosen_scenarios.retain(|s| s.default);
    }
    let default_envs = EnvKind::ALL;
    let envs: Vec<EnvKind> = if args.env.is_empty() {
        default_envs.to_vec()
    } else {
        select("environment", &args.env, &EnvKind::ALL, |e| e.name())?
            .into_iter()
            .copied()
            .collect()
    };
    if let Some(jobs) = args.jobs.filter(|j| *j == 0) {
        return Err(usage(format!("--jobs {jobs}: give at least 1")));
    }
    let mut ctx = run_ctx(&args.common, &dir, &chosen_scenarios, &envs)?;
    if args.trace {
        crate::trace::strace().map_err(|e| Failure(status::SETUP, e))?;
        ctx.trace = true;
    }
    if let Some(Ok(ready)) = &ctx.docker {
        for v in chosen_variants
            .iter()
            .filter(|v| v.runs_in(EnvKind::Docker))
        {
            if let Program::External(_) = v.program() {
                let mounts = docker::preflight(ready, &v.name, &v.prefix, variant::host_files(v))
                    .map_err(|e| Failure(status::SETUP, e))?;
                ctx.docker_mounts.insert(v.name.clone(), mounts);
            }
        }
    }
    let none = variants
        .iter()
        .find(|v| v.name == "none")
        .ok_or_else(|| usage("the variant `none` is needed as the baseline".into()))?;
    let mut plan = Vec::new();
    for env in &envs {
        for v in &chosen_variants {
            if !v.runs_in(*env) {
                continue;
            }
            for s in &chosen_scenarios {
                plan.push(Planned {
                    variant: (*v).clone(),
                    scenario: (*s).clone(),
                    env: *env,
                    round: 0,
                });
            }
        }
    }
    if plan.is_empty() {
        return Err(usage("the filters leave no cell to run".into()));
    }
    if let Some(shard) = args.shard {
        let all = plan.len();
        plan = take_shard(plan, shard);
        say!("initlab: shard {shard}: {} of {all} cells", plan.len());
    }
    let plan = repeated(plan, args.repeat);
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    say!(
        "initlab: {} cells, {jobs} at a time; logs in {}",
        plan.len(),
        ctx.workdir.display()
    );
    let wall = Instant::now();
    let mut results = repeat::fold(matrix::run(&ctx, none, plan, jobs));
    let ours: Vec<&str> = chosen_variants
        .iter()
        .filter(|v| matches!(v.program(), Program::Ours(_)))
        .map(|v| v.name.as_str())
        .collect();
    judge_skips(&args, &ours, &mut results);
    if interrupt::requested() {
        return Ok(status::INTERRUPTED);
    }
    let text = match args.format {
        Format::Table => report::table(&results),
        Format::Json => report::json(&results, wall.elapsed(), args.shard),
        Format::Junit => report::junit(&results),
    };
    write_report(args.output.as_deref(), &text)?;
    after(&results, &variants);
    say!("{}", matrix::timing_summary(&results, wall));
    Ok(exit_status(&results))
}

/// The run's exit status from its cells: a deviation (a flaky cell
/// included) before a skip that was not accepted.
fn exit_status(results: &[CellResult]) -> i32 {
    let deviated = results
        .iter()
        .any(|r| !r.matches_expectation && r.verdict != Verdict::Skip);
    if deviated {
        status::DEVIATED
    } else if results.iter().any(|r| !r.matches_expectation) {
        status::SKIPPED
    } else {
        status::OK
    }
}

/// The cells of `plan` that fall to `shard`, in plan order.
fn take_shard(plan: Vec<Planned>, shard: Shard) -> Vec<Planned> {
    let cells: Vec<(String, u32)> = plan
        .iter()
        .map(|p| {
            (
                format!(
                    "{} × {} × {}",
                    p.variant.name,
                    p.scenario.name,
                    p.env.name()
                ),
                shard::weight(p.scenario.driver, p.env),
            )
        })
        .collect();
    let keep = shard::select(&cells, shard);
    plan.into_iter()
        .enumerate()
        .filter(|(i, _)| keep.binary_search(i).is_ok())
        .map(|(_, p)| p)
        .collect()
}

/// Every cell `times` times, round after round, so that the runs of one
/// cell are spread over the run rather than side by side.
fn repeated(plan: Vec<Planned>, times: usize) -> Vec<Planned> {
    (0..times)
        .flat_map(|round| {
            plan.iter().map(move |p| Planned {
                variant: p.variant.clone(),
                scenario: p.scenario.clone(),
                env: p.env,
                round,
            })
        })
        .collect()
}

fn audit_cmd(args: AuditArgs) -> Result<i32, Failure> {
    if args.image.is_none()
        && (args.entrypoint.is_some()
            || args.ready_port.is_some()
            || args.trace
            || !args.command.is_empty())
    {
        return Err(usage(
            "--entrypoint, --ready-port, --trace and a command after -- go with --image only"
                .into(),
        ));
    }
    if args.trace {
        crate::trace::strace().map_err(|e| Failure(status::SETUP, e))?;
    }
    let target = if let Some(pid) = args.pid {
        Target::Pid(pid)
    } else if let Some(name) = args.container {
        Target::Container(name)
    } else if let Some(image) = args.image {
        Target::Image(audit::ImageRun {
            image,
            entrypoint: args.entrypoint,
            command: args.command,
            ready_port: args.ready_port,
            ready_within: std::time::Duration::from_secs(args.ready_within),
            stop_timeout: args.stop_timeout,
            trace: args.trace,
        })
    } else {
        return Err(usage("give --pid, --container or --image".into()));
    };
    let result =
        audit::run(&target, std::time::Duration::from_secs(args.settle)).map_err(|r| match r {
            Refusal::Usage(m) => usage(m),
            Refusal::Setup(m) => Failure(status::SETUP, m),
        })?;
    if interrupt::requested() {
        return Ok(status::INTERRUPTED);
    }
    let results = [result];
    let text = match args.format {
        Format::Table => report::audit_table(&results[0]),
        Format::Json => report::json(
            &results,
            std::time::Duration::from_millis(results[0].duration_ms),
            None,
        ),
        Format::Junit => report::junit(&results),
    };
    write_report(args.output.as_deref(), &text)?;
    Ok(exit_status(&results))
}

/// `initlab merge`: the shards' cells as one report. Refuses a cell that
/// two reports both hold, and a set of shards with one missing.
fn merge(paths: &[PathBuf], format: Format, output: Option<&Path>) -> Result<i32, Failure> {
    let mut results: Vec<CellResult> = Vec::new();
    let mut from: std::collections::HashMap<String, &Path> = Default::default();
    let mut shards: Vec<Shard> = Vec::new();
    let mut wall_ms = 0;
    for path in paths {
        let text = crate::input::read_text(path, crate::input::MAX_REPORT).map_err(|e| {
            usage(format!(
                "{}: {e}; give the JSON reports of `initlab run --format json`",
                path.display()
            ))
        })?;
        let read: report::ReadReport = serde_json::from_str(&text).map_err(|e| {
            usage(format!(
                "{} is not an initlab JSON report ({e}); write one with `initlab run --format json`",
                path.display()
            ))
        })?;
        shards.extend(read.shard);
        wall_ms = wall_ms.max(read.wall_time_ms);
        for cell in read.cells {
            if let Some(other) = from.insert(cell.id(), path) {
                return Err(usage(format!(
                    "cell {} is in both {} and {}: give each shard's report once",
                    cell.id(),
                    other.display(),
                    path.display()
                )));
            }
            results.push(cell);
        }
    }
    if let Some(missing) = missing_shard(&shards) {
        return Err(usage(missing));
    }
    let text = match format {
        Format::Table => report::table(&results),
        Format::Json => report::json(&results, std::time::Duration::from_millis(wall_ms), None),
        Format::Junit => report::junit(&results),
    };
    write_report(output, &text)?;
    Ok(exit_status(&results))
}

/// When the reports came from shards: one line naming a shard that is
/// missing, given twice, or from a different split.
fn missing_shard(shards: &[Shard]) -> Option<String> {
    let first = shards.first()?;
    if let Some(other) = shards.iter().find(|s| s.count != first.count) {
        return Some(format!(
            "shards {first} and {other} come from different splits: merge the reports of one `--shard I/N` matrix"
        ));
    }
    for index in 1..=first.count {
        let n = shards.iter().filter(|s| s.index == index).count();
        if n != 1 {
            return Some(format!(
                "shard {index}/{} is {}: give the report of every shard once",
                first.count,
                if n == 0 { "missing" } else { "given twice" }
            ));
        }
    }
    None
}

/// A skip is never green where the user asked for the cell by name, nor for
/// our own inits. Only the docker column of an unnamed selection may be
/// skipped quietly (a machine without an engine), and `--allow-skip` accepts
/// every skip.
fn judge_skips(args: &RunArgs, ours: &[&str], results: &mut [CellResult]) {
    if args.allow_skip {
        return;
    }
    let user_inits: Vec<String> = args
        .common
        .inits
        .iter()
        .filter_map(|s| s.split_once('=').map(|(n, _)| n.trim().to_string()))
        .collect();
    for r in results.iter_mut().filter(|r| r.verdict == Verdict::Skip) {
        let named = args.variant.contains(&r.variant)
            || user_inits.contains(&r.variant)
            || args.scenario.contains(&r.scenario)
            || args.env.contains(&r.environment);
        let ours = ours.contains(&r.variant.as_str());
        let quiet_docker = r.environment == "docker" && !named;
        if named || (ours && !quiet_docker) {
            r.matches_expectation = false;
            r.reason = format!(
                "{}; this cell was asked for{}, so its skip fails the run: fix that, or pass \
                 --allow-skip",
                r.reason,
                if named { "" } else { " (one of our own inits)" }
            );
        }
    }
}

/// Writes a report to `output`, or to stdout.
fn write_report(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            Failure(
                status::SETUP,
                format!("cannot write {}: {e}", path.display()),
            )
        }),
        None => {
            crate::console::to_stdout(text);
            Ok(())
        }
    }
}

/// How `initlab bench` writes its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Markdown,
    Json,
}

fn bench_cmd(
    quick: bool,
    format: BenchFormat,
    output: Option<&Path>,
    common: &Common,
) -> Result<i32, Failure> {
    let (variants, scenarios, dir) = load_catalogue(common)?;
    let gunicorn: Vec<&Scenario> = scenarios
        .iter()
        .filter(|s| s.name == "gunicorn-gevent")
        .collect();
    let ctx = run_ctx(common, &dir, &gunicorn, &[EnvKind::Direct])?;
    let sizes = if quick {
        &bench::Sizes::QUICK
    } else {
        &bench::Sizes::FULL
    };
    let user = variant::user_given(&common.variants_files, &common.inits).map_err(usage)?;
    let report =
        bench::run(&ctx, &variants, &user, sizes).map_err(|e| Failure(status::SETUP, e))?;
    let text = match format {
        BenchFormat::Markdown => report.markdown(),
        BenchFormat::Json => report.json(),
    };
    write_report(output, &text)?;
    Ok(status::OK)
}

fn images(rebuild: bool, init_dir: Option<&Path>) -> Result<i32, Failure> {
    let inits = inits::locate(init_dir).map_err(|e| Failure(status::SETUP, e))?;
    let ready = docker::prepare(&inits, rebuild).map_err(|e| Failure(status::SETUP, e))?;
    out!("{} ({})", ready.image, ready.versions);
    Ok(status::OK)
}

fn reproduce_cmd(bug: &str, common: &Common, env: &str) -> Result<i32, Failure> {
    if bug != "issue-38" {
        return Err(usage(format!("unknown bug `{bug}`; known: issue-38")));
    }
    let env = EnvKind::parse(env).ok_or_else(|| {
        usage(format!(
            "unknown environment `{env}`; known: direct, pid1, docker"
        ))
    })?;
    let (variants, scenarios, dir) = load_catalogue(common)?;
    let scenario = scenarios
        .iter()
        .find(|s| s.name == "gunicorn-custom-worker")
        .ok_or_else(|| usage("the scenario gunicorn-custom-worker is missing".into()))?;
    let ctx = run_ctx(common, &dir, &[scenario], &[env])?;
    reproduce::issue_38(&ctx, &variants, scenario, env)
}

fn list(common: &Common) -> Result<i32, Failure> {
    let (variants, scenarios, _) = load_catalogue(common)?;
    out!("variants:");
    for v in &variants {
        let state = match v.program() {
            Program::None if v.docker_init => "needs the docker environment".to_string(),
            Program::None => "built in".to_string(),
            Program::Ours(name) => format!("built from this workspace ({name})"),
            Program::External(name) => match which::which(&name) {
                Ok(path) => format!(
                    "found: {}{}",
                    path.display(),
                    variant::version_of(&path)
                        .map(|v| format!(" ({v})"))
                        .unwrap_or_default()
                ),
                Err(_) => format!(
                    "MISSING: install with `{}`",
                    v.install.as_deref().unwrap_or("(not known)")
                ),
            },
        };
        out!("  {:<22} {state}\n  {:<22} {}", v.name, "", v.description);
    }
    out!("scenarios:");
    for s in &scenarios {
        out!("  {:<24} {}", s.name, s.description);
    }
    out!("environments:");
    let root = nix::unistd::geteuid().is_root();
    out!("  direct                   the init is a normal child of the harness");
    out!(
        "  pid1                     PID 1 of a fresh PID namespace{}",
        if root {
            ""
        } else {
            " (needs root: not available)"
        }
    );
    match docker::engine() {
        Ok(v) => out!("  docker                   PID 1 of a container (engine {v})"),
        Err(why) => out!("  docker                   not available: {why}"),
    }
    Ok(status::OK)
}
