//! Processes and their signal state, read from `/proc`.

use initlab_init::signals;
use serde::{Deserialize, Serialize};

/// The signal fields of `/proc/<pid>/status`; bit n-1 stands for signal n.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalState {
    pub blocked: u64,
    pub ignored: u64,
    /// Pending for the thread (`SigPnd`) or the process (`ShdPnd`).
    pub pending: u64,
}

impl SignalState {
    /// A SIGCHLD that was sent and is held back by the mask: the signature
    /// of cinit issue 38.
    pub fn sigchld_stuck(&self) -> bool {
        let bit = 1u64 << (libc::SIGCHLD - 1);
        self.blocked & bit != 0 && self.pending & bit != 0
    }

    /// Parses a self-report or probe output: `SigBlk`, `SigIgn`, `SigPnd`,
    /// `ShdPnd` as 16-digit hex, in any case.
    pub fn from_fields(get: impl Fn(&str) -> Option<String>) -> Option<SignalState> {
        let hex = |k: &str| get(k).and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
        Some(SignalState {
            blocked: hex("sigblk")?,
            ignored: hex("sigign")?,
            pending: hex("sigpnd").unwrap_or(0) | hex("shdpnd").unwrap_or(0),
        })
    }
}

/// What a process is in the workload's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Init,
    Master,
    Worker,
    Other,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::Master => "master",
            Role::Worker => "worker",
            Role::Other => "other",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub pid: i32,
    pub ppid: i32,
    pub state: char,
    pub comm: String,
    pub cmdline: Vec<String>,
    pub signals: SignalState,
    /// Clock ticks after boot: with the pid, names a process unambiguously.
    pub start_time: u64,
    /// The pid the process has in its own PID namespace: what it reports
    /// about itself.
    pub inner_pid: i32,
}

impl ProcInfo {
    pub fn is_zombie(&self) -> bool {
        self.state == 'Z'
    }

    pub fn runs(&self, word: &str) -> bool {
        self.cmdline.iter().any(|a| a.contains(word))
    }
}

pub fn read(pid: i32) -> Option<ProcInfo> {
    let process = procfs::process::Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    let status = process.status().ok()?;
    Some(ProcInfo {
        pid,
        ppid: stat.ppid,
        state: stat.state,
        comm: stat.comm,
        cmdline: process.cmdline().unwrap_or_default(),
        signals: SignalState {
            blocked: status.sigblk,
            ignored: status.sigign,
            pending: status.sigpnd | status.shdpnd,
        },
        start_time: stat.starttime,
        inner_pid: status
            .nspid
            .and_then(|ns| ns.last().copied())
            .unwrap_or(pid),
    })
}

/// The pid a process has in its own (innermost) PID namespace: what it
/// reports about itself. The same as `pid` outside any namespace.
pub fn inner_pid(pid: i32) -> i32 {
    procfs::process::Process::new(pid)
        .and_then(|p| p.status())
        .ok()
        .and_then(|s| s.nspid)
        .and_then(|ns| ns.last().copied())
        .unwrap_or(pid)
}

/// `root` and every process below it, parents before children.
///
/// Walks down from `root` through `/proc/<pid>/task/<tid>/children`, so a
/// look costs the cell's own processes, not every process on the host.
/// A kernel without that file gets the same answer from a scan of `/proc`.
pub fn tree(root: i32) -> Vec<ProcInfo> {
    let Some(top) = read(root) else {
        return Vec::new();
    };
    let mut found = vec![top];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].pid;
        let kids = match children(parent) {
            Some(kids) => kids,
            None => return tree_by_scan(root),
        };
        // A child read after it exited is simply not there.
        found.extend(
            kids.into_iter()
                .filter_map(read)
                .filter(|p| p.ppid == parent),
        );
        i += 1;
    }
    found
}

/// The children of every thread of `pid`; `None` when the kernel has no
/// `children` file (CONFIG_PROC_CHILDREN off).
fn children(pid: i32) -> Option<Vec<i32>> {
    let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Ok(t) => t,
        Err(_) => return Some(Vec::new()), // gone: no children
    };
    let mut kids = Vec::new();
    for task in tasks.flatten() {
        let file = task.path().join("children");
        match std::fs::read_to_string(&file) {
            Ok(text) => kids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && task.path().exists() => {
                return None
            }
            Err(_) => {}
        }
    }
    Some(kids)
}

/// The same by reading every process on the host: for kernels without the
/// `children` file, and for the benchmark that shows what that costs.
pub fn tree_by_scan(root: i32) -> Vec<ProcInfo> {
    let Some(top) = read(root) else {
        return Vec::new();
    };
    let all: Vec<ProcInfo> = procfs::process::all_processes()
        .map(|it| it.flatten().filter_map(|p| read(p.pid)).collect())
        .unwrap_or_default();
    let mut found = vec![top];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].pid;
        found.extend(all.iter().filter(|p| p.ppid == parent).cloned());
        i += 1;
    }
    found
}

/// `0000000000014006 (SIGINT,SIGQUIT,SIGTERM,SIGCHLD)`.
pub fn show_mask(mask: u64) -> String {
    format!("{mask:016x} ({})", signals::describe_mask(mask))
}

/// One process as the report shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Observed {
    pub pid: i32,
    pub role: Role,
    pub command: String,
    pub sigblk: String,
    pub sigign: String,
    pub sigpnd: String,
    pub blocked: Vec<String>,
    pub ignored: Vec<String>,
    pub pending: Vec<String>,
    #[serde(skip)]
    pub signals: SignalState,
}

impl Observed {
    pub fn new(pid: i32, role: Role, command: String, signals: SignalState) -> Observed {
        let names = |m: u64| {
            signals::decode_mask(m)
                .into_iter()
                .map(signals::name)
                .collect()
        };
        Observed {
            pid,
            role,
            command,
            sigblk: format!("{:016x}", signals.blocked),
            sigign: format!("{:016x}", signals.ignored),
            sigpnd: format!("{:016x}", signals.pending),
            blocked: names(signals.blocked),
            ignored: names(signals.ignored),
            pending: names(signals.pending),
            signals,
        }
    }

    pub fn from_proc(p: &ProcInfo, role: Role) -> Observed {
        let command = if p.cmdline.is_empty() {
            p.comm.clone()
        } else {
            p.cmdline.join(" ")
        };
        Observed::new(p.pid, role, command, p.signals)
    }

    pub fn label(&self) -> String {
        format!("{} {}", self.role.name(), self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_state_is_read() {
        let me = read(std::process::id() as i32).expect("our own /proc entry");
        assert_eq!(me.pid, std::process::id() as i32);
        assert!(!me.is_zombie());
        assert!(tree(me.pid).iter().any(|p| p.pid == me.pid));
    }

    #[test]
    fn stuck_sigchld_needs_both_bits() {
        let chld = 1 << 16;
        let stuck = SignalState {
            blocked: 0x14006,
            ignored: 0,
            pending: chld,
        };
        assert!(stuck.sigchld_stuck());
        assert!(!SignalState {
            blocked: 0,
            ..stuck
        }
        .sigchld_stuck());
        assert!(!SignalState {
            pending: 0,
            ..stuck
        }
        .sigchld_stuck());
        assert_eq!(
            show_mask(0x14006),
            "0000000000014006 (SIGINT,SIGQUIT,SIGTERM,SIGCHLD)"
        );
    }
}
