//! How each kind of scenario is operated and observed; the verdicts on what
//! was observed are made in `checks`. Every wait here has a deadline: a hang
//! becomes a verdict with evidence, never a stuck harness.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::checks::{self, Baseline, Check};
use crate::environment::Started;
use crate::proc_state::{self, show_mask, Observed, ProcInfo, Role};
use crate::self_report;

/// Deadlines, all far below gunicorn's own 30 s worker timeout: the evidence
/// (a blocked mask, a pending SIGCHLD) shows within a second or two.
#[derive(Clone, Debug)]
pub struct Timing {
    pub exit: Duration,
    pub boot: Duration,
    pub request: Duration,
    pub step: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            exit: Duration::from_secs(10),
            boot: Duration::from_secs(8),
            request: Duration::from_secs(6),
            step: Duration::from_secs(5),
        }
    }
}

/// What a driver needs to know about the cell it runs.
pub struct Ctx<'a> {
    /// Host pid of the first process (the init, or the workload for `none`);
    /// 0 for a container that ended before it could be looked at.
    pub root: i32,
    pub started: &'a Started,
    pub has_init: bool,
    /// The cell's directory on the host: the workload's own evidence.
    pub cell: PathBuf,
    pub port: u16,
    pub timing: &'a Timing,
    /// Compare with this; `None` for the baseline run itself.
    pub baseline: Option<&'a Baseline>,
    /// Every process seen, so clean-up can find what escaped the tree.
    pub seen: Vec<(i32, u64)>,
}

#[derive(Default)]
pub struct Outcome {
    pub checks: Vec<Check>,
    pub processes: Vec<Observed>,
}

impl Outcome {
    /// Masks of processes as they reported them at moments of their own
    /// (the probe, the scripts): compared as they are.
    fn compare(&mut self, baseline: Option<&Baseline>) {
        let own = Baseline::from_processes(&self.processes);
        let base = baseline.unwrap_or(&own);
        self.checks.push(checks::blocked(&self.processes, base));
        self.checks.push(checks::ignored(&self.processes, base));
    }

    /// Masks sampled from `/proc` at an instant of ours: a process may block
    /// everything for a moment on purpose (around fork or thread creation),
    /// so a mask that differs from the baseline is looked at again, and one
    /// gone in a later sample is named as transient, not failed.
    fn compare_sampled(&mut self, baseline: Option<&Baseline>) {
        let base = match baseline {
            Some(b) => b.clone(),
            // The baseline run itself is its own reference, and a mask it
            // holds for an instant must not become the standard: settle
            // towards nothing blocked, keep what stays.
            None => {
                let mut own = Baseline::from_processes(&self.processes);
                own.masks.values_mut().for_each(|m| m.0 = 0);
                own
            }
        };
        let transient = settle(&mut self.processes, &base);
        let base = match baseline {
            Some(_) => base,
            None => Baseline::from_processes(&self.processes),
        };
        let mut blocked = checks::blocked(&self.processes, &base);
        let mut ignored = checks::ignored(&self.processes, &base);
        if !transient.is_empty() {
            let note = format!(
                "; transient, seen once and gone in the next sample: {}",
                transient.join("; ")
            );
            blocked.evidence.push_str(&note);
            ignored.evidence.push_str(&note);
        }
        self.checks.push(blocked);
        self.checks.push(ignored);
    }
}

impl Outcome {
    /// `sigchld-pending` on samples from `/proc`: a SIGCHLD seen pending
    /// under a mask is looked at again, as masks are (see `settle`). One
    /// taken within moments was on its way, not held back: an init that
    /// leaves SIGCHLD pending while the kernel reaps a burst for it takes
    /// it within a millisecond, where issue 38's stays pending for good.
    fn check_sigchld_sampled(&mut self) {
        let transient = settle_sigchld(&mut self.processes);
        let mut check = checks::sigchld_pending(&self.processes);
        if !transient.is_empty() {
            check.evidence.push_str(&format!(
                "; transient, seen once and gone in a later sample: {}",
                transient.join("; ")
            ));
        }
        self.checks.push(check);
    }

    /// Adds the master's own `on_starting` report to `blocked`.
    fn check_reported_master(&mut self, cell: &std::path::Path, baseline: Option<&Baseline>) {
        let Some(blocked) = self.checks.iter_mut().find(|c| c.name == "blocked") else {
            return;
        };
        let report = self_report::reports(cell)
            .into_iter()
            .find(|r| r.get("role").as_deref() == Some("master") && r.phase() == "starting")
            .and_then(|r| Some((r.pid(), r.signals()?)));
        let want = baseline
            .and_then(|b| b.masks.get(&Role::Master))
            .map_or(0, |m| m.0);
        checks::reported_master(blocked, report, want);
    }
}

/// Samples every process whose masks differ from its role's baseline again
/// (see `resample`). Returns what was seen only once.
fn settle(processes: &mut [Observed], base: &Baseline) -> Vec<String> {
    resample(
        processes,
        |p| {
            let want = base.masks.get(&p.role).copied().unwrap_or((0, 0));
            p.role != Role::Init && (p.signals.blocked, p.signals.ignored) != want
        },
        |p| {
            format!(
                "{} SigBlk {} SigIgn {}",
                p.label(),
                show_mask(p.signals.blocked),
                show_mask(p.signals.ignored)
            )
        },
    )
}

/// Samples every process seen with a SIGCHLD pending under its mask again
/// (see `resample`). Returns what was seen only once.
fn settle_sigchld(processes: &mut [Observed]) -> Vec<String> {
    resample(
        processes,
        |p| p.signals.sigchld_stuck(),
        |p| {
            format!(
                "{} SIGCHLD pending under SigBlk {}",
                p.label(),
                show_mask(p.signals.blocked)
            )
        },
    )
}

/// Samples every process for which `off` holds up to five more times, 50 ms
/// apart, all of them together; one for which it no longer holds takes that
/// later sample, and `seen` describes the one it replaces. A process gone
/// meanwhile keeps the one sample there is.
fn resample(
    processes: &mut [Observed],
    off: impl Fn(&Observed) -> bool,
    seen: impl Fn(&Observed) -> String,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut left: Vec<usize> = (0..processes.len())
        .filter(|&i| off(&processes[i]))
        .collect();
    for _ in 0..5 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        left.retain(|&i| {
            let p = &mut processes[i];
            let Some(now) = proc_state::read(p.pid) else {
                return false;
            };
            let later = Observed::new(p.pid, p.role, p.command.clone(), now.signals);
            if off(&later) {
                return true;
            }
            notes.push(seen(p));
            *p = later;
            false
        });
    }
    notes
}

/// The neutral probe: it prints its own state and exits.
pub fn probe(ctx: &mut Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let ending = ctx.started.wait(ctx.timing.exit);
    out.checks.push(checks::exit(ending, ctx.timing.exit));
    match self_report::probe_output(&ctx.cell) {
        Some((pid, state)) => {
            out.processes
                .push(Observed::new(pid, Role::Other, "cp (probe)".into(), state));
            out.compare(ctx.baseline);
            out.checks.push(checks::sigchld_pending(&out.processes));
        }
        None => out.checks.push(checks::nothing_reported(
            "blocked",
            "the probe left no copy of its /proc status in the cell",
            ending,
            ctx.timing.exit,
        )),
    }
    out
}

/// A Python script that reports on itself: its state at start and whether
/// the patched subprocess returned.
pub fn script(ctx: &mut Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let ending = ctx.started.wait(ctx.timing.exit);
    if ending.is_none() {
        out.processes = observe(ctx, "").0;
    }
    let reports = self_report::reports(&ctx.cell);
    let start = reports.iter().find(|r| r.phase() == "start");
    let after = reports.iter().find(|r| r.phase() == "subprocess");
    if let Some(r) = start {
        if let Some(s) = r.signals() {
            out.processes.push(Observed::new(
                r.pid(),
                Role::Other,
                "gevent script".into(),
                s,
            ));
        }
    }
    if out.processes.is_empty() {
        out.checks.push(checks::nothing_reported(
            "blocked",
            "the script reported nothing",
            ending,
            ctx.timing.exit,
        ));
        return out;
    }
    out.compare(ctx.baseline);
    match after {
        Some(r) => {
            let state = r.signals().unwrap_or_default();
            let returned = r.get("subprocess").as_deref() == Some("returned");
            let elapsed = r.get("elapsed").unwrap_or_default();
            out.checks
                .push(checks::script_subprocess(returned, &elapsed, state));
            let snapshot = Observed::new(r.pid(), Role::Other, "gevent script".into(), state);
            out.checks.push(checks::sigchld_pending(&[snapshot]));
        }
        None => out.checks.push(checks::nothing_reported(
            "subprocess",
            "the script never reported back",
            ending,
            ctx.timing.exit,
        )),
    }
    out
}

/// Reads the tree below the root and gives each process its role by what
/// it is, not by where it stands: a worker is a process that reported itself
/// as a gunicorn worker (into the cell, by its own pid), the master is the
/// parent of a worker, and the init is the first process when it is neither
/// (an init that execs into its command, like `env` or `gosu`, is the
/// workload itself and is judged as such).
fn observe(ctx: &mut Ctx<'_>, master_word: &str) -> (Vec<Observed>, Vec<ProcInfo>) {
    let tree = proc_state::tree(ctx.root);
    for p in &tree {
        if !ctx.seen.iter().any(|s| s.0 == p.pid) {
            ctx.seen.push((p.pid, p.start_time));
        }
    }
    let reported: BTreeSet<i32> = if master_word.is_empty() {
        BTreeSet::new()
    } else {
        self_report::reports(&ctx.cell)
            .iter()
            .filter(|r| r.get("role").as_deref() == Some("worker"))
            .map(|r| r.pid())
            .collect()
    };
    let is_worker =
        |p: &ProcInfo| !p.is_zombie() && p.runs(master_word) && reported.contains(&p.inner_pid);
    let masters: BTreeSet<i32> = tree
        .iter()
        .filter(|p| is_worker(p))
        .map(|p| p.ppid)
        .collect();
    let observed = tree
        .iter()
        .filter(|p| !p.is_zombie())
        .map(|p| {
            let role = if masters.contains(&p.pid) {
                Role::Master
            } else if is_worker(p) && masters.contains(&p.ppid) {
                Role::Worker
            } else if p.pid == ctx.root && ctx.has_init {
                Role::Init
            } else {
                Role::Other
            };
            Observed::from_proc(p, role)
        })
        .collect();
    (observed, tree)
}

fn workers(ctx: &mut Ctx<'_>) -> Vec<i32> {
    observe(ctx, "gunicorn")
        .0
        .into_iter()
        .filter(|p| p.role == Role::Worker)
        .map(|p| p.pid)
        .collect()
}

/// Workers that finished importing the app, by the pid they report (their
/// own namespace's).
fn ready_workers(ctx: &Ctx<'_>) -> BTreeSet<i32> {
    self_report::reports(&ctx.cell)
        .iter()
        .filter(|r| r.phase() == "ready")
        .map(|r| r.pid())
        .collect()
}

/// Zombies that stay zombies across two looks 300 ms apart: a child exiting
/// just as we look is not a finding.
fn lasting_zombies(ctx: &mut Ctx<'_>) -> Vec<(i32, i32, String)> {
    let first: Vec<ProcInfo> = observe(ctx, "gunicorn")
        .1
        .into_iter()
        .filter(ProcInfo::is_zombie)
        .collect();
    if first.is_empty() {
        return Vec::new();
    }
    std::thread::sleep(Duration::from_millis(300));
    first
        .into_iter()
        .filter(|z| {
            proc_state::read(z.pid).is_some_and(|p| p.is_zombie() && p.start_time == z.start_time)
        })
        .map(|z| (z.pid, z.ppid, z.comm))
        .collect()
}

/// Boots gunicorn and checks the workers. Returns when `want` workers are
/// ready or the boot deadline passed.
fn boot(ctx: &mut Ctx<'_>, out: &mut Outcome, want: usize) -> bool {
    let started = Instant::now();
    let mut ready = BTreeSet::new();
    // A SIGCHLD pending while blocked can never be delivered: a worker that
    // shows one for a second will not finish booting, so the verdict need
    // not wait for the deadline.
    let mut stuck_since: Option<Instant> = None;
    let mut last_look = Instant::now();
    while started.elapsed() < ctx.timing.boot {
        ready = ready_workers(ctx);
        if ready.len() >= want || ctx.started.ended().is_some() {
            break;
        }
        if last_look.elapsed() >= Duration::from_millis(200) {
            last_look = Instant::now();
            let stuck = observe(ctx, "gunicorn").0.iter().any(|w| {
                w.role == Role::Worker
                    && w.signals.sigchld_stuck()
                    && !ready.contains(&proc_state::inner_pid(w.pid))
            });
            match (stuck, stuck_since) {
                (false, _) => stuck_since = None,
                (true, None) => stuck_since = Some(Instant::now()),
                (true, Some(t)) if t.elapsed() >= Duration::from_secs(1) => break,
                (true, Some(_)) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let booted = ready.len() >= want;
    let mut unready = Vec::new();
    if !booted {
        let (procs, tree) = observe(ctx, "gunicorn");
        for w in procs
            .iter()
            .filter(|p| p.role == Role::Worker && !ready.contains(&p.pid))
        {
            unready.push(checks::Unready {
                pid: w.pid,
                signals: w.signals,
                unreaped_child: tree
                    .iter()
                    .find(|c| c.ppid == w.pid && c.is_zombie())
                    .map(|c| (c.comm.clone(), c.pid)),
            });
        }
    }
    out.checks.push(checks::boot(&checks::Boot {
        want,
        ready,
        took: started.elapsed(),
        deadline: ctx.timing.boot,
        stuck_for: stuck_since.map(|t| t.elapsed()),
        unready,
        ended: ctx.started.ended(),
    }));
    booted
}

/// GET /probe: a patched subprocess inside a worker, answered over HTTP.
fn request_probe(ctx: &Ctx<'_>) -> Check {
    let url = format!("http://127.0.0.1:{}/probe", ctx.port);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(ctx.timing.request))
        .build()
        .into();
    let started = Instant::now();
    let body = agent
        .get(&url)
        .call()
        .map_err(|e| e.to_string())
        .and_then(|mut r| r.body_mut().read_to_string().map_err(|e| e.to_string()));
    let answer = match body {
        Err(e) => checks::Answer::Failed(e),
        Ok(text) => checks::Answer::Body {
            took: started.elapsed(),
            json: serde_json::from_str(&text).unwrap_or_default(),
        },
    };
    checks::subprocess_answer(&answer, ctx.timing.request)
}

/// gunicorn with the gevent worker: boot, a request, the tree's state.
pub fn gunicorn(ctx: &mut Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let booted = boot(ctx, &mut out, 2);
    if booted {
        out.checks.push(request_probe(ctx));
    } else {
        out.checks.push(checks::subprocess_without_workers());
    }
    let zombies = lasting_zombies(ctx);
    out.processes = observe(ctx, "gunicorn").0;
    out.compare_sampled(ctx.baseline);
    out.check_reported_master(&ctx.cell, ctx.baseline);
    out.check_sigchld_sampled();
    out.checks.push(checks::zombies(&zombies));
    out
}

/// Sends `sig` to the first process, as `docker kill -s` would. Root 0
/// stands for a container that had already ended: `kill(0)` would signal
/// the harness's own process group, so nothing is sent.
fn signal_root(ctx: &Ctx<'_>, sig: i32) {
    if ctx.root > 0 {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(ctx.root, sig) };
    }
}

/// Polls the worker list until `done` holds and every worker has finished
/// booting (a signal sent to a worker that is still booting is lost), or the
/// step deadline.
fn until_workers(ctx: &mut Ctx<'_>, done: impl Fn(&[i32]) -> bool) -> (bool, Vec<i32>, Duration) {
    let started = Instant::now();
    loop {
        let now = workers(ctx);
        let ready = ready_workers(ctx);
        if done(&now)
            && now
                .iter()
                .all(|w| ready.contains(&proc_state::inner_pid(*w)))
        {
            return (true, now, started.elapsed());
        }
        if started.elapsed() >= ctx.timing.step {
            return (false, now, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a control step came to; `logged` is the line gunicorn writes when
/// the signal reached it.
fn step_check(
    ctx: &Ctx<'_>,
    name: &str,
    what: &str,
    logged: &str,
    result: (bool, Vec<i32>, Duration),
) -> Check {
    let (reached, workers, took) = result;
    let tree = proc_state::tree(ctx.root);
    checks::step(&checks::Step {
        name,
        what,
        logged,
        reached,
        workers,
        took,
        gunicorn_logged: self_report::read_log(&ctx.cell.join(self_report::GUNICORN_LOG))
            .contains(logged),
        root: tree.first().map(|p| (p.comm.clone(), p.pid, p.state)),
        stopped: tree
            .iter()
            .skip(1)
            .filter(|p| p.state == 'T')
            .map(|p| p.pid)
            .collect(),
    })
}

/// A workload that leaves orphans: once they have all exited, none may stay
/// a zombie in the tree. Masks are those of the long-running process.
pub fn orphans(ctx: &mut Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    let orphan = |p: &ProcInfo| !p.is_zombie() && p.cmdline == ["sleep", "0.1"];
    let started = Instant::now();
    // First the long-running process, then the orphans' end.
    let mut saw_main = false;
    while started.elapsed() < ctx.timing.boot {
        let (_, tree) = observe(ctx, "");
        saw_main |= tree.iter().any(|p| p.cmdline == ["sleep", "30"]);
        if saw_main && !tree.iter().any(orphan) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let zombies = lasting_zombies(ctx);
    // The workload is `sleep 30` wherever it stands: under an init that
    // execs into its command it is the first process itself.
    out.processes = observe(ctx, "")
        .0
        .into_iter()
        .filter_map(|mut p| {
            if p.command == "sleep 30" {
                p.role = Role::Other;
                Some(p)
            } else {
                (p.role == Role::Init).then_some(p)
            }
        })
        .collect();
    if !saw_main || out.processes.iter().all(|p| p.role == Role::Init) {
        out.checks.push(checks::workload_missing(ctx.timing.boot));
        return out;
    }
    out.compare_sampled(ctx.baseline);
    out.check_sigchld_sampled();
    out.checks.push(checks::zombies(&zombies));
    out
}

/// gunicorn operated by its control signals, sent to PID 1.
pub fn control(ctx: &mut Ctx<'_>) -> Outcome {
    let mut out = Outcome::default();
    boot(ctx, &mut out, 2);
    let before = workers(ctx);
    out.processes = observe(ctx, "gunicorn").0;
    out.compare_sampled(ctx.baseline);
    out.check_reported_master(&ctx.cell, ctx.baseline);
    out.check_sigchld_sampled();

    signal_root(ctx, libc::SIGTTIN);
    let r = until_workers(ctx, |w| w.len() == before.len() + 1);
    out.checks.push(step_check(
        ctx,
        "ttin",
        "TTIN added a worker",
        "Handling signal: ttin",
        r,
    ));

    let now = workers(ctx).len();
    signal_root(ctx, libc::SIGTTOU);
    let r = until_workers(ctx, |w| w.len() + 1 == now);
    out.checks.push(step_check(
        ctx,
        "ttou",
        "TTOU removed a worker",
        "Handling signal: ttou",
        r,
    ));

    // HUP reloads the configuration, worker count included: what it must do
    // is replace every worker, however many the earlier steps left.
    let old: BTreeSet<i32> = workers(ctx).into_iter().collect();
    signal_root(ctx, libc::SIGHUP);
    let r = until_workers(ctx, |w| !w.is_empty() && w.iter().all(|p| !old.contains(p)));
    out.checks.push(step_check(
        ctx,
        "hup",
        "HUP replaced every worker",
        "Handling signal: hup",
        r,
    ));

    let current = workers(ctx);
    if let Some(&victim) = current.first() {
        if victim > 0 {
            // SAFETY: as above.
            unsafe { libc::kill(victim, libc::SIGKILL) };
        }
        let count = current.len();
        let r = until_workers(ctx, |w| w.len() == count && !w.contains(&victim));
        out.checks.push(step_check(
            ctx,
            "respawn",
            &format!("a SIGKILLed worker ({victim}) was replaced (needs SIGCHLD in the master)"),
            "was sent SIGKILL",
            r,
        ));
    } else {
        out.checks.push(checks::respawn_without_workers());
    }

    out.checks.push(term(ctx));
    out
}

/// SIGTERM to PID 1 (`docker stop` in Docker) stops the whole tree, with
/// status 0 (gunicorn's for a graceful stop, passed through by the init).
fn term(ctx: &mut Ctx<'_>) -> Check {
    let tree: Vec<(i32, u64)> = proc_state::tree(ctx.root)
        .iter()
        .map(|p| (p.pid, p.start_time))
        .collect();
    // gunicorn may take its --graceful-timeout (5 s) to stop workers.
    let (ending, took, how) = ctx.started.terminate(ctx.timing.exit);
    let left: Vec<i32> = tree
        .iter()
        .filter(|(pid, start)| {
            proc_state::read(*pid).is_some_and(|p| p.start_time == *start && !p.is_zombie())
        })
        .map(|(pid, _)| *pid)
        .collect();
    // Which signal reached gunicorn, in its own words: a graceful stop is
    // TERM; an init that turned it into INT or QUIT gave a quick one.
    let log = self_report::read_log(&ctx.cell.join(self_report::GUNICORN_LOG));
    let handled = log
        .lines()
        .rev()
        .filter_map(|l| l.split("Handling signal: ").nth(1))
        .map(str::trim)
        .find(|s| ["term", "int", "quit"].contains(s))
        .map(str::to_string);
    // Who is holding the TERM back: blocked with it pending.
    let bit = 1u64 << (libc::SIGTERM - 1);
    let holding = if ending.is_none() {
        proc_state::tree(ctx.root)
            .iter()
            .filter(|p| p.signals.blocked & bit != 0 && p.signals.pending & bit != 0)
            .map(|p| format!("{} {} has SIGTERM pending while blocked", p.comm, p.pid))
            .collect()
    } else {
        Vec::new()
    };
    checks::term(&checks::Term {
        how: how.to_string(),
        ending,
        took,
        deadline: ctx.timing.exit,
        left,
        handled,
        holding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc_state::Role;

    /// `python3 -c SCRIPT`, with `{}` in it filled with `then` as a Python
    /// boolean.
    fn python(script: &str, then: bool) -> std::process::Child {
        let script = script.replace("{}", if then { "True" } else { "False" });
        std::process::Command::new("python3")
            .args(["-c", &script])
            .spawn()
            .unwrap()
    }

    /// A process that blocks SIGCHLD, lets a child exit so that it is
    /// pending, and then, if `takes`, takes it after 120 ms.
    fn holder(takes: bool) -> std::process::Child {
        python(
            "import os, signal, time\n\
             signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])\n\
             pid = os.fork()\n\
             if pid == 0:\n    os._exit(0)\n\
             time.sleep(0.12)\n\
             if {}:\n    signal.sigwait([signal.SIGCHLD])\n    os.waitpid(pid, 0)\n\
             time.sleep(10)\n",
            takes,
        )
    }

    /// A process that blocks SIGUSR1, and then, if `lets_go`, unblocks it
    /// after 120 ms.
    fn blocker(lets_go: bool) -> std::process::Child {
        python(
            "import signal, time\n\
             signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])\n\
             time.sleep(0.12)\n\
             if {}:\n    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR1])\n\
             time.sleep(10)\n",
            lets_go,
        )
    }

    /// The first sample of `pid` in which `shows` holds, as `role`.
    fn sample_when(pid: i32, role: Role, shows: impl Fn(&ProcInfo) -> bool) -> Observed {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(info) = proc_state::read(pid).filter(|i| shows(i)) {
                return Observed::from_proc(&info, role);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{pid} never showed what was waited for"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_mask_that_clears_within_moments_is_transient_and_the_report_shows_the_later_one() {
        let usr1 = initlab_init::signals::bit(libc::SIGUSR1);
        for lets_go in [true, false] {
            let mut child = blocker(lets_go);
            let first = sample_when(child.id() as i32, Role::Worker, |i| {
                i.signals.blocked & usr1 != 0
            });
            let base = Baseline {
                masks: [(Role::Worker, (0, first.signals.ignored))].into(),
            };
            let mut seen = vec![first];
            let notes = settle(&mut seen, &base);
            child.kill().unwrap();
            child.wait().unwrap();
            if lets_go {
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert_eq!(seen[0].signals.blocked & usr1, 0);
                // What the report prints is the sample the check judged.
                assert_eq!(seen[0].sigblk, format!("{:016x}", seen[0].signals.blocked));
            } else {
                assert!(notes.is_empty(), "{notes:?}");
                assert_ne!(seen[0].signals.blocked & usr1, 0);
            }
        }
    }

    #[test]
    fn a_sigchld_taken_within_moments_is_transient_and_one_held_back_is_not() {
        for takes in [true, false] {
            let mut child = holder(takes);
            let mut seen = vec![sample_when(child.id() as i32, Role::Init, |i| {
                i.signals.sigchld_stuck()
            })];
            let notes = settle_sigchld(&mut seen);
            child.kill().unwrap();
            child.wait().unwrap();
            let verdict = checks::sigchld_pending(&seen).verdict;
            if takes {
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert!(!seen[0].signals.sigchld_stuck());
                assert_eq!(verdict, checks::Verdict::Pass);
            } else {
                assert!(notes.is_empty(), "{notes:?}");
                assert_eq!(verdict, checks::Verdict::Fail);
            }
        }
    }
}
