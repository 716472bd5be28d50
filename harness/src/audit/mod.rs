//! `initlab audit`: the checks of a cell, on what a user already has — a
//! process tree on the host, a running container, or an image run as its
//! users run it. Reading a tree is passive: `/proc` only, nothing sent to
//! it. Only an image audit, which starts its own container, stops it too.

mod container;
mod judge;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::cell::CellResult;
use crate::checks::{Check, Verdict};
use crate::proc_state::{self, ProcInfo};

pub use container::ImageRun;

/// What to audit.
pub enum Target {
    Pid(i32),
    Container(String),
    Image(ImageRun),
}

/// Why an audit could not be made: the user's input, or the machine.
pub enum Refusal {
    Usage(String),
    Setup(String),
}

/// Audits `target`; the result has the shape of a cell's.
pub fn run(target: &Target, settle: Duration) -> Result<CellResult, Refusal> {
    let started = Instant::now();
    match target {
        Target::Pid(pid) => {
            let root = proc_state::read(*pid).ok_or_else(|| {
                Refusal::Usage(format!(
                    "no process {pid}: give the pid of a running process"
                ))
            })?;
            let exe = exe_of(root.pid);
            let mut versions = BTreeMap::new();
            // Named by its executable only: running a host process's binary
            // (as root) to ask its version would run whatever its owner put
            // there. A container's init is asked inside its container.
            if let Some(exe) = &exe {
                versions.insert("init".into(), exe.clone());
            }
            let name = exe
                .as_deref()
                .map(basename)
                .unwrap_or(&root.comm)
                .to_string();
            Ok(audit_tree(
                *pid,
                &name,
                &format!("pid {pid}"),
                versions,
                settle,
                Vec::new(),
                started,
            ))
        }
        Target::Container(name) => {
            let pid = container::host_pid(name)?;
            let (init, versions) = container::init_of(name, pid);
            Ok(audit_tree(
                pid,
                &init,
                &format!("container {name}"),
                versions,
                settle,
                Vec::new(),
                started,
            ))
        }
        Target::Image(image) => container::audit_image(image, settle, started),
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A process's executable as it names it (inside its own mount namespace).
fn exe_of(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.display().to_string())
}

/// Two samples of the tree below `root`, `settle` apart, judged.
fn audit_tree(
    root: i32,
    init: &str,
    environment: &str,
    versions: BTreeMap<String, String>,
    settle: Duration,
    mut extra: Vec<Check>,
    started: Instant,
) -> CellResult {
    let before = proc_state::tree(root);
    std::thread::sleep(settle);
    let now = proc_state::tree(root);
    let mut result = CellResult::observed(init, "audit", environment, versions);
    if now.is_empty() || before.is_empty() {
        result.checks = vec![Check::fail(
            "running",
            format!("pid {root} ended while it was being audited"),
        )];
    } else {
        let (mut checks, processes) = judge::judge(&before, &now, settle, exe_of);
        checks.append(&mut extra);
        result.checks = checks;
        result.processes = processes;
    }
    finish(result, started)
}

/// The verdict and the one-line reason from the checks.
fn finish(mut result: CellResult, started: Instant) -> CellResult {
    let failed: Vec<&Check> = result
        .checks
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .collect();
    result.verdict = if failed.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    result.matches_expectation = failed.is_empty();
    result.reason = failed
        .iter()
        .map(|c| format!("{}: {}", c.name, c.evidence))
        .collect::<Vec<_>>()
        .join(" | ");
    result.duration_ms = started.elapsed().as_millis() as u64;
    result
}

/// The tree's processes, for a caller that wants to wait until it settles.
fn snapshot(root: i32) -> Vec<(i32, char)> {
    proc_state::tree(root)
        .iter()
        .map(|p: &ProcInfo| (p.pid, p.state))
        .collect()
}
