//! Containers for an audit: finding a running one's processes, and running
//! an image as its users do, until it settles, then stopping it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cell::CellResult;
use crate::checks::Check;
use crate::docker::{self, docker};
use crate::helper;

use super::{audit_tree, basename, exe_of, finish, snapshot, Refusal};

const QUICK: Duration = Duration::from_secs(30);
/// How long an answer to `--version` may take.
const VERSION_DEADLINE: Duration = Duration::from_secs(5);

/// An image to run and audit.
pub struct ImageRun {
    pub image: String,
    pub entrypoint: Option<String>,
    pub command: Vec<String>,
    /// Audit once this TCP port on 127.0.0.1 answers (the container then
    /// shares the host's network); otherwise once the tree stops changing.
    pub ready_port: Option<u16>,
    /// At most this long for either.
    pub ready_within: Duration,
    /// `docker stop -t`: seconds before Docker's SIGKILL.
    pub stop_timeout: u64,
    /// Run the image's own command under strace (see `trace`).
    pub trace: bool,
}

/// Where the trace gate's FIFO appears in a traced container.
const TRACE_MOUNT: &str = "/initlab-trace";

/// For `--trace`: the directory the trace is kept in (its FIFO inside),
/// the harness's own binary, and the command the image would have run.
struct TraceSetup {
    dir: std::path::PathBuf,
    exe: std::path::PathBuf,
    argv: Vec<String>,
}

/// What the image runs: `--entrypoint` (which, as in Docker, drops the
/// image's CMD) or its ENTRYPOINT, then the given command or its CMD.
fn image_argv(run: &ImageRun) -> Result<Vec<String>, Refusal> {
    let config = docker::inspect(
        &run.image,
        "{{json .Config.Entrypoint}}|{{json .Config.Cmd}}",
    )
    .ok_or_else(|| {
        Refusal::Usage(format!(
            "no image {}: give one from `docker images`",
            run.image
        ))
    })?;
    let (entry, cmd) = config.split_once('|').unwrap_or(("null", "null"));
    let list = |j: &str| {
        serde_json::from_str::<Option<Vec<String>>>(j)
            .ok()
            .flatten()
    };
    let mut argv = match &run.entrypoint {
        Some(e) => vec![e.clone()],
        None => list(entry).unwrap_or_default(),
    };
    if !run.command.is_empty() {
        argv.extend(run.command.iter().cloned());
    } else if run.entrypoint.is_none() {
        argv.extend(list(cmd).unwrap_or_default());
    }
    if argv.is_empty() {
        return Err(Refusal::Usage(format!(
            "{} has no ENTRYPOINT or CMD: give a command after --",
            run.image
        )));
    }
    Ok(argv)
}

fn trace_setup(run: &ImageRun) -> Result<TraceSetup, Refusal> {
    let argv = image_argv(run)?;
    let dir = tempfile::Builder::new()
        .prefix("initlab-audit-trace-")
        .tempdir()
        .map_err(|e| Refusal::Setup(format!("cannot create a trace directory: {e}")))?
        .keep();
    crate::trace::make_gate(&dir).map_err(Refusal::Setup)?;
    let exe = std::env::current_exe()
        .map_err(|e| Refusal::Setup(format!("cannot find the harness's own binary: {e}")))?;
    Ok(TraceSetup { dir, exe, argv })
}

fn engine() -> Result<(), Refusal> {
    docker::engine().map(|_| ()).map_err(Refusal::Setup)
}

/// The host pid of a running container's first process.
pub fn host_pid(name: &str) -> Result<i32, Refusal> {
    engine()?;
    let state = docker::inspect(name, "{{.State.Running}} {{.State.Pid}}").ok_or_else(|| {
        Refusal::Usage(format!(
            "no container {name}: give a name or id from `docker ps`"
        ))
    })?;
    match state.split_once(' ') {
        Some(("true", pid)) => pid
            .parse()
            .map_err(|_| Refusal::Setup(format!("docker inspect {name} gave pid {pid}"))),
        _ => Err(Refusal::Usage(format!(
            "container {name} is not running: start it, or audit its image with --image"
        ))),
    }
}

/// The container's init as a name for the report, with its executable and
/// its answer to `--version` (asked inside the container) when it gives one.
pub fn init_of(container: &str, pid: i32) -> (String, BTreeMap<String, String>) {
    let mut versions = BTreeMap::new();
    let Some(exe) = exe_of(pid) else {
        return ("unknown".into(), versions);
    };
    versions.insert("init".into(), exe.clone());
    if let Some(v) = first_line(helper::output(
        docker(&["exec", container, &exe, "--version"]).stderr_to_stdout(),
        VERSION_DEADLINE,
    )) {
        versions.insert("init version".into(), v);
    }
    (basename(&exe).to_string(), versions)
}

fn first_line(out: Result<std::process::Output, String>) -> Option<String> {
    let out = out.ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    Some(crate::console::shorten(line, 120))
}

/// Runs the image, audits it once it is ready, stops it and judges the stop.
/// The container carries the run's label, so every way out (Ctrl-C
/// included) removes it.
pub fn audit_image(
    run: &ImageRun,
    settle: Duration,
    started: Instant,
) -> Result<CellResult, Refusal> {
    engine()?;
    // Without a registry a missing image would only fail later, on a pull.
    if helper::stdout_of(
        docker(&["image", "inspect", "-f", "{{.Id}}", &run.image]).stderr_null(),
        QUICK,
    )
    .is_none()
    {
        return Err(Refusal::Usage(format!(
            "no image {} here: give one from `docker images`",
            run.image
        )));
    }
    let traced = if run.trace {
        Some(trace_setup(run)?)
    } else {
        None
    };
    let name = format!("initlab-audit-{}-{}", docker::run_id(), std::process::id());
    let label = format!("{}={}", docker::LABEL, docker::run_id());
    let network = if run.ready_port.is_some() {
        "host"
    } else {
        "none"
    };
    let mut args = vec![
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &label,
        "--network",
        network,
    ];
    let (mount_gate, mount_exe, exe, gate);
    match &traced {
        // The gate becomes the image's own command under the same pid.
        Some(t) => {
            exe = t.exe.display().to_string();
            mount_exe = format!("{exe}:{exe}:ro");
            mount_gate = format!("{}:{TRACE_MOUNT}", t.dir.display());
            gate = format!("{TRACE_MOUNT}/trace-gate");
            args.extend(["-v", &mount_exe, "-v", &mount_gate, "--entrypoint", &exe]);
            args.push(&run.image);
            args.extend(["trace-gate", &gate, "--"]);
            args.extend(t.argv.iter().map(String::as_str));
        }
        None => {
            if let Some(e) = &run.entrypoint {
                args.extend(["--entrypoint", e.as_str()]);
            }
            args.push(&run.image);
            args.extend(run.command.iter().map(String::as_str));
        }
    }
    let out = helper::output(docker(&args).stderr_to_stdout(), Duration::from_secs(120))
        .map_err(|e| Refusal::Setup(format!("docker run {}: {e}", run.image)))?;
    if !out.status.success() {
        docker::remove_run(docker::run_id());
        return Err(Refusal::Usage(format!(
            "docker run {} failed: {}",
            run.image,
            docker::engine_error(&out.stdout)
        )));
    }
    let result = audit_started(run, &name, settle, started, traced.as_ref());
    docker::remove_run(docker::run_id());
    Ok(result)
}

fn audit_started(
    run: &ImageRun,
    name: &str,
    settle: Duration,
    started: Instant,
    traced: Option<&TraceSetup>,
) -> CellResult {
    let environment = format!("image {}", run.image);
    let pid = match host_pid(name) {
        Ok(pid) => pid,
        Err(_) => return exited_early(run, name, &environment, started),
    };
    let tracer = match traced {
        Some(t) => {
            let pids: Vec<i32> = crate::proc_state::tree(pid).iter().map(|p| p.pid).collect();
            match crate::trace::Tracer::attach_and_open(
                &pids,
                &t.dir.join("trace"),
                &t.dir.join("trace-gate"),
            ) {
                Ok(tracer) => Some(tracer),
                Err(e) => {
                    let mut r =
                        CellResult::observed(&run.image, "audit", &environment, Default::default());
                    r.checks = vec![Check::fail("trace", e)];
                    return finish(r, started);
                }
            }
        }
        None => None,
    };
    // Named once it runs: a traced container starts as the trace gate.
    let ready = wait_ready(run, pid);
    let (init, versions) = init_of(name, pid);
    let mut result = audit_tree(
        pid,
        &init,
        &environment,
        versions,
        settle,
        vec![ready],
        started,
    );
    if host_pid(name).is_err() {
        result.checks.push(Check::fail(
            "running",
            "the container exited during the audit".to_string(),
        ));
    }
    result.checks.push(stop(run, name));
    if let Some(t) = tracer {
        let path = t.finish();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        result.trace = Some(format!(
            "{} (the whole trace: {})",
            crate::trace::summarize(&text),
            path.display()
        ));
    }
    finish(result, started)
}

/// The `ready` check: the port answered, or the tree stopped changing.
fn wait_ready(run: &ImageRun, pid: i32) -> Check {
    let deadline = Instant::now() + run.ready_within;
    if let Some(port) = run.ready_port {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        while Instant::now() < deadline {
            if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return Check::pass("ready", format!("127.0.0.1:{port} answered"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        return Check::fail(
            "ready",
            format!(
                "127.0.0.1:{port} did not answer within {:.0} s",
                run.ready_within.as_secs_f64()
            ),
        );
    }
    // Settled: the same processes in the same states for a second.
    let mut last = snapshot(pid);
    let mut same_since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let now = snapshot(pid);
        if now != last {
            last = now;
            same_since = Instant::now();
        } else if same_since.elapsed() >= Duration::from_secs(1) {
            return Check::pass(
                "ready",
                format!("{} processes, unchanged for a second", last.len()),
            );
        }
    }
    Check::fail(
        "ready",
        format!(
            "the process tree was still changing after {:.0} s",
            run.ready_within.as_secs_f64()
        ),
    )
}

/// `docker stop`, timed: a container that needs Docker's SIGKILL fails.
fn stop(run: &ImageRun, name: &str) -> Check {
    let t = Instant::now();
    let timeout = run.stop_timeout.to_string();
    let stopped = helper::output(
        docker(&["stop", "-t", &timeout, name]).stderr_to_stdout(),
        Duration::from_secs(run.stop_timeout + 30),
    );
    let took = t.elapsed().as_secs_f64();
    if let Err(e) = stopped {
        return Check::fail("term", format!("docker stop: {e}"));
    }
    let code = docker::inspect(name, "{{.State.ExitCode}}").unwrap_or_default();
    let killed = code == "137" || took >= run.stop_timeout as f64;
    let text = format!("docker stop -t {timeout} took {took:.1} s; exit status {code}");
    if killed {
        Check::fail(
            "term",
            format!("{text}: the container needed Docker's SIGKILL, SIGTERM did not stop it"),
        )
    } else {
        Check::pass("term", text)
    }
}

fn exited_early(run: &ImageRun, name: &str, environment: &str, started: Instant) -> CellResult {
    let code = docker::inspect(name, "{{.State.ExitCode}}").unwrap_or_default();
    let logs = helper::output(
        docker(&["logs", "--tail", "5", name]).stderr_to_stdout(),
        QUICK,
    )
    .map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .replace('\n', " / ")
    })
    .unwrap_or_default();
    let mut result = CellResult::observed(&run.image, "audit", environment, BTreeMap::new());
    result.checks = vec![Check::fail(
        "running",
        format!("the container exited with status {code} before it could be audited; its last output: {logs}"),
    )];
    finish(result, started)
}
