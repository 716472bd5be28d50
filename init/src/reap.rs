//! Collecting exited children.
//!
//! `waitpid` is called through `libc` because nix's `WaitStatus` cannot
//! represent a child killed by a real-time signal: it would report an error
//! for a child that the kernel has already reaped, and its status would be lost.

use nix::errno::Errno;
use nix::unistd::Pid;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
}

impl Ending {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Ending::Exited(code) => code,
            Ending::Signaled(sig) => 128 + sig,
        }
    }

    pub fn success(self) -> bool {
        self == Ending::Exited(0)
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exited with status {code}"),
            Ending::Signaled(sig) => write!(f, "was killed by {}", crate::signals::name(*sig)),
        }
    }
}

/// What one sweep of `waitpid(-1, WNOHANG)` found.
pub struct Sweep {
    pub ended: Vec<(Pid, Ending)>,
    /// No children are left at all (ECHILD).
    pub no_children: bool,
}

/// Reaps only `pids`, never an adopted orphan: the mutant `no-reap`, as an
/// init that waits for its own child alone. "No children" here means none
/// of `pids` is left.
pub fn collect(pids: &[Pid]) -> Sweep {
    let mut ended = Vec::new();
    for &pid in pids {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`.
        if unsafe { libc::waitpid(pid.as_raw(), &mut status, libc::WNOHANG) } == pid.as_raw() {
            ended.push((pid, ending_of(status)));
        }
    }
    let no_children = ended.len() == pids.len();
    Sweep { ended, no_children }
}

fn ending_of(status: i32) -> Ending {
    if libc::WIFSIGNALED(status) {
        Ending::Signaled(libc::WTERMSIG(status))
    } else {
        Ending::Exited(libc::WEXITSTATUS(status))
    }
}

/// Reaps every child that has ended, adopted orphans included, into `ended`
/// (empty, kept for its capacity). Called after every SIGCHLD because they
/// coalesce: one signal may stand for many exits.
pub fn sweep(mut ended: Vec<(Pid, Ending)>) -> Sweep {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            ended.push((Pid::from_raw(pid), ending_of(status)));
            continue;
        }
        if pid < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        let no_children = pid < 0 && Errno::last() == Errno::ECHILD;
        return Sweep { ended, no_children };
    }
}
