//! Checks and verdicts: what "clean" means, in numbers, with evidence. The
//! one judge: drivers observe, every check's verdict is made here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use initlab_init::reap::Ending;
use serde::{Deserialize, Serialize};

use crate::proc_state::{show_mask, Observed, Role, SignalState};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub evidence: String,
}

impl Check {
    pub fn new(name: &str, ok: bool, evidence: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            verdict: if ok { Verdict::Pass } else { Verdict::Fail },
            evidence: evidence.into(),
        }
    }

    pub fn pass(name: &str, evidence: impl Into<String>) -> Check {
        Check::new(name, true, evidence)
    }

    pub fn fail(name: &str, evidence: impl Into<String>) -> Check {
        Check::new(name, false, evidence)
    }
}

/// Masks of the same workload started with no init, per role: a process's
/// own choices (Python ignores SIGPIPE and SIGXFSZ) are not the init's fault.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    pub masks: BTreeMap<Role, (u64, u64)>,
}

impl Baseline {
    pub fn from_processes(processes: &[Observed]) -> Baseline {
        let mut masks = BTreeMap::new();
        for p in processes.iter().filter(|p| p.role != Role::Init) {
            masks
                .entry(p.role)
                .or_insert((p.signals.blocked, p.signals.ignored));
        }
        Baseline { masks }
    }
}

/// Compares one mask of every workload process with the baseline.
fn against_baseline(
    name: &str,
    field: &str,
    processes: &[Observed],
    baseline: &Baseline,
    pick: impl Fn(u64, u64) -> u64,
) -> Check {
    let workload: Vec<&Observed> = processes.iter().filter(|p| p.role != Role::Init).collect();
    if workload.is_empty() {
        return Check::fail(name, "no workload process was observed");
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for p in workload {
        // A role the baseline did not show (a short-lived helper child) is
        // held to the shell's standard: nothing blocked, nothing ignored.
        let (blk, ign) = baseline.masks.get(&p.role).copied().unwrap_or((0, 0));
        let want = pick(blk, ign);
        let got = pick(p.signals.blocked, p.signals.ignored);
        if got == want {
            good.push(format!("{} {field} {got:016x}", p.label()));
        } else {
            bad.push(format!(
                "{} {field} {} but baseline {}",
                p.label(),
                show_mask(got),
                show_mask(want)
            ));
        }
    }
    if bad.is_empty() {
        Check::pass(name, format!("as baseline: {}", good.join("; ")))
    } else {
        Check::fail(name, bad.join("; "))
    }
}

pub fn blocked(processes: &[Observed], baseline: &Baseline) -> Check {
    against_baseline("blocked", "SigBlk", processes, baseline, |b, _| b)
}

pub fn ignored(processes: &[Observed], baseline: &Baseline) -> Check {
    against_baseline("ignored", "SigIgn", processes, baseline, |_, i| i)
}

/// No process holds a SIGCHLD that was sent and never delivered.
pub fn sigchld_pending(processes: &[Observed]) -> Check {
    let stuck: Vec<String> = processes
        .iter()
        .filter(|p| p.signals.sigchld_stuck())
        .map(|p| {
            format!(
                "{} has SIGCHLD pending while blocked (pending {}, SigBlk {})",
                p.label(),
                show_mask(p.signals.pending),
                show_mask(p.signals.blocked)
            )
        })
        .collect();
    if stuck.is_empty() {
        Check::pass(
            "sigchld-pending",
            format!("no SIGCHLD held back in {} processes", processes.len()),
        )
    } else {
        Check::fail("sigchld-pending", stuck.join("; "))
    }
}

/// No zombie anywhere in the tree.
pub fn zombies(zombies: &[(i32, i32, String)]) -> Check {
    if zombies.is_empty() {
        Check::pass("zombies", "no zombie in the tree")
    } else {
        let list: Vec<String> = zombies
            .iter()
            .map(|(pid, ppid, comm)| format!("{comm} {pid} (parent {ppid})"))
            .collect();
        Check::fail("zombies", format!("unreaped: {}", list.join(", ")))
    }
}

// What the drivers observed, judged. The drivers operate the workload and
// collect these; every verdict is made here.

fn exit_note(ending: Option<Ending>, within: Duration) -> String {
    match ending {
        Some(e) => format!("first process {e}"),
        None => format!("first process still running after {within:?}"),
    }
}

/// The probe exited 0 within the deadline.
pub fn exit(ending: Option<Ending>, within: Duration) -> Check {
    Check::new(
        "exit",
        ending == Some(Ending::Exited(0)),
        exit_note(ending, within),
    )
}

/// A workload that left none of its own evidence: `check` fails, saying
/// what is missing and how the first process ended.
pub fn nothing_reported(
    check: &str,
    missing: &str,
    ending: Option<Ending>,
    within: Duration,
) -> Check {
    Check::fail(check, format!("{missing}; {}", exit_note(ending, within)))
}

/// The script's own word on gevent's patched subprocess.
pub fn script_subprocess(returned: bool, elapsed: &str, state: SignalState) -> Check {
    Check::new(
        "subprocess",
        returned,
        if returned {
            format!("patched subprocess returned in {elapsed} s")
        } else {
            format!(
                "patched subprocess did not return within {elapsed} s; SigBlk {}, pending {}",
                show_mask(state.blocked),
                show_mask(state.pending)
            )
        },
    )
}

/// A worker that had not finished booting when the wait ended.
pub struct Unready {
    pub pid: i32,
    pub signals: SignalState,
    /// A child of it that exited and was never reaped: name and pid.
    pub unreaped_child: Option<(String, i32)>,
}

/// How gunicorn's boot went.
pub struct Boot {
    pub want: usize,
    /// Workers that reported themselves ready, by their own pids.
    pub ready: BTreeSet<i32>,
    pub took: Duration,
    pub deadline: Duration,
    /// How long a worker had shown SIGCHLD pending while blocked, when
    /// that ended the wait early.
    pub stuck_for: Option<Duration>,
    pub unready: Vec<Unready>,
    pub ended: Option<Ending>,
}

pub fn join(pids: &BTreeSet<i32>) -> String {
    pids.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Both workers finished importing the app (which runs `ldconfig -p`).
pub fn boot(b: &Boot) -> Check {
    if b.ready.len() >= b.want {
        return Check::pass(
            "boot",
            format!(
                "{} workers ready in {:.1} s: {}",
                b.ready.len(),
                b.took.as_secs_f64(),
                join(&b.ready)
            ),
        );
    }
    let mut why = vec![match b.stuck_for {
        Some(stuck) => format!(
            "{} of {} workers finished booting; verdict after {:.1} s: a worker has had \
             SIGCHLD pending while blocked for {:.1} s, which can never be delivered",
            b.ready.len(),
            b.want,
            b.took.as_secs_f64(),
            stuck.as_secs_f64()
        ),
        None => format!(
            "{} of {} workers finished booting within {:?}",
            b.ready.len(),
            b.want,
            b.deadline
        ),
    }];
    for w in &b.unready {
        let child = w
            .unreaped_child
            .as_ref()
            .map(|(comm, pid)| format!("; its child {comm} {pid} exited and was never reaped"))
            .unwrap_or_default();
        why.push(format!(
            "worker {} stuck in `find_library` (SigBlk {}, pending {}){child}",
            w.pid,
            show_mask(w.signals.blocked),
            show_mask(w.signals.pending)
        ));
    }
    if let Some(e) = b.ended {
        why.push(format!("first process {e}"));
    }
    Check::fail("boot", why.join("; "))
}

/// What `GET /probe` brought back.
pub enum Answer {
    Failed(String),
    Body {
        took: Duration,
        json: serde_json::Value,
    },
}

/// A worker ran gevent's patched subprocess for a request and it returned.
pub fn subprocess_answer(answer: &Answer, deadline: Duration) -> Check {
    match answer {
        Answer::Failed(e) => Check::fail(
            "subprocess",
            format!("GET /probe did not answer within {deadline:?}: {e}"),
        ),
        Answer::Body { took, json } => {
            let returned = json["subprocess"] == "returned";
            Check::new(
                "subprocess",
                returned,
                format!(
                    "GET /probe in {:.2} s: worker {} says the patched subprocess {} after {} s",
                    took.as_secs_f64(),
                    json["pid"],
                    if returned { "returned" } else { "timed out" },
                    json["elapsed"]
                ),
            )
        }
    }
}

pub fn subprocess_without_workers() -> Check {
    Check::fail(
        "subprocess",
        "no worker finished booting, so none could be asked to run a subprocess",
    )
}

/// One control step (a signal to PID 1 and what gunicorn did about it).
pub struct Step<'a> {
    pub name: &'a str,
    pub what: &'a str,
    /// The line gunicorn logs when the signal reached it.
    pub logged: &'a str,
    pub reached: bool,
    pub workers: Vec<i32>,
    pub took: Duration,
    pub gunicorn_logged: bool,
    /// PID 1 as it is now: command, pid, state; None when it is gone.
    pub root: Option<(String, i32, char)>,
    /// Processes of the tree in state T.
    pub stopped: Vec<i32>,
}

pub fn step(s: &Step<'_>) -> Check {
    let pids: BTreeSet<i32> = s.workers.iter().copied().collect();
    if s.reached {
        return Check::pass(
            s.name,
            format!(
                "{} in {:.1} s; workers now {}",
                s.what,
                s.took.as_secs_f64(),
                join(&pids)
            ),
        );
    }
    let heard = if s.gunicorn_logged {
        format!("gunicorn logged `{}`", s.logged)
    } else {
        format!("gunicorn never logged `{}`", s.logged)
    };
    let root = s
        .root
        .as_ref()
        .map(|(comm, pid, state)| format!("PID 1 ({comm} {pid}) is in state {state}"))
        .unwrap_or_else(|| "PID 1 is gone".into());
    let stopped = if s.stopped.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = s.stopped.iter().map(i32::to_string).collect();
        format!("; stopped (state T): {}", list.join(", "))
    };
    Check::fail(
        s.name,
        format!(
            "{}: not within {:.1?}; workers now [{}]; {heard}; {root}{stopped}",
            s.what,
            s.took,
            join(&pids)
        ),
    )
}

pub fn respawn_without_workers() -> Check {
    Check::fail("respawn", "no worker left to kill and replace")
}

/// How SIGTERM to PID 1 ended.
pub struct Term {
    /// How it was sent (`kill -TERM`, `docker stop`).
    pub how: String,
    pub ending: Option<Ending>,
    pub took: Duration,
    pub deadline: Duration,
    /// Processes of the tree still there afterwards.
    pub left: Vec<i32>,
    /// The stop signal gunicorn says it handled: term, int or quit.
    pub handled: Option<String>,
    /// Processes holding SIGTERM pending while blocked, if it did not end.
    pub holding: Vec<String>,
}

/// The whole tree stopped, first process with status 0, in time, and
/// gunicorn had a graceful TERM (an init that turns TERM into INT gives a
/// quick stop, not a graceful one).
pub fn term(t: &Term) -> Check {
    let heard = match &t.handled {
        Some(s) => format!("gunicorn logged `Handling signal: {s}`"),
        None => "gunicorn logged no TERM, INT or QUIT".into(),
    };
    match t.ending {
        Some(e) if t.left.is_empty() => Check::new(
            "term",
            e == Ending::Exited(0) && t.took < t.deadline && t.handled.as_deref() == Some("term"),
            format!(
                "{}: the tree stopped in {:.1} s; first process {e}; {heard} (want a graceful \
                 TERM and status 0 within {:?})",
                t.how,
                t.took.as_secs_f64(),
                t.deadline
            ),
        ),
        Some(e) => Check::fail(
            "term",
            format!(
                "{}: first process {e}, but {} processes of the tree remain: {:?}",
                t.how,
                t.left.len(),
                t.left
            ),
        ),
        None => Check::fail(
            "term",
            format!(
                "{}: still running after {:?}{}{}",
                t.how,
                t.deadline,
                if t.holding.is_empty() { "" } else { "; " },
                t.holding.join("; ")
            ),
        ),
    }
}

/// The orphans scenario's long-running process never showed up.
pub fn workload_missing(within: Duration) -> Check {
    Check::fail(
        "blocked",
        format!("the workload never became `sleep 30` within {within:?}"),
    )
}

/// The master's own report from gunicorn's `on_starting` hook, taken before
/// gunicorn changed anything, so its mask is what it inherited: it backs the
/// `/proc` samples in `blocked` up, and a mask the baseline's master did not
/// have fails `blocked` whatever the samples showed.
pub fn reported_master(blocked: &mut Check, report: Option<(i32, SignalState)>, want: u64) {
    let Some((pid, state)) = report else {
        blocked
            .evidence
            .push_str("; the master made no on_starting report");
        return;
    };
    if state.blocked == want {
        blocked.evidence.push_str(&format!(
            "; the master reported SigBlk {:016x} at on_starting, as baseline",
            state.blocked
        ));
        return;
    }
    let line = format!(
        "master {pid} reported SigBlk {} at on_starting, before gunicorn changed anything: \
         inherited (baseline {})",
        show_mask(state.blocked),
        show_mask(want)
    );
    if blocked.verdict == Verdict::Pass {
        *blocked = Check::fail("blocked", line);
    } else {
        blocked.evidence.push_str(&format!("; {line}"));
    }
}
