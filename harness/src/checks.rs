//! Checks and verdicts: what "clean" means, in numbers, with evidence.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::proc_state::{show_mask, Observed, Role};

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
