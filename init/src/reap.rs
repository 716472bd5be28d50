//! Collecting exited children.
//!
//! `waitpid` is called through `libc` because nix's `WaitStatus` cannot
//! represent a child killed by a real-time signal: it would report an error
//! for a child that the kernel has already reaped, and its status would be lost.

use nix::errno::Errno;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// It ended, and the kernel, which reaped it, kept no status to ask
    /// (see `autoreap`): never taken for success.
    Lost,
}

impl Ending {
    /// The shell convention: the exit code, or 128 + the signal number;
    /// 255, which no signal gives, for a status that was lost.
    pub fn code(self) -> i32 {
        match self {
            Ending::Exited(code) => code,
            Ending::Signaled(sig) => 128 + sig,
            Ending::Lost => 255,
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
            Ending::Lost => write!(f, "ended, and the kernel kept no exit status for it"),
        }
    }
}

/// Reaps `pid` alone, if it is a child of ours that has ended: the kernel
/// looks it up by pid, with no walk of the other children (do_wait_pid,
/// Linux 5.14 and later).
pub fn one(pid: i32) -> Option<Ending> {
    wait_one(pid).ok().flatten()
}

/// Waits for `pid` to end and be reaped, at most `limit`: a child stopped
/// (SIGSTOP, a tracer) would hold a blocking `waitpid` for good. True once
/// it is collected, or is not ours to collect.
pub fn within(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if !matches!(wait_one(pid), Ok(None)) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// `waitpid(pid, WNOHANG)`: how the child ended, None while it runs, or
/// why it cannot be waited for (ECHILD: not a child, or reaped already).
fn wait_one(pid: i32) -> Result<Option<Ending>, Errno> {
    if pid <= 0 {
        return Err(Errno::EINVAL); // 0 and -1 would mean "a group" and "any child"
    }
    let mut status = 0;
    // SAFETY: waitpid writes only to `status`.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        _ => Ok(Some(ending_of(status))),
    }
}

/// A `waitpid(-1)` this slow walked past hundreds of live children (about
/// 20 ns each, measured here with 20,000).
const SLOW_CALL: Duration = Duration::from_micros(20);

/// What one sweep of `waitpid(-1, WNOHANG)` found.
pub struct Sweep {
    pub ended: Vec<(Pid, Ending)>,
    /// No children are left at all (ECHILD).
    pub no_children: bool,
    /// It went on until no ended child was left, rather than stopping
    /// for exits still coming.
    pub complete: bool,
}

/// Reaps only `pids`, never an adopted orphan: the mutant `no-reap`, as an
/// init that waits for its own child alone. "No children" here means none
/// of `pids` is left.
pub fn collect(pids: &[Pid], mut ended: Vec<(Pid, Ending)>) -> Sweep {
    let mut gone = 0;
    for &pid in pids {
        match wait_one(pid.as_raw()) {
            Ok(Some(ending)) => ended.push((pid, ending)),
            // Collected already, by pid after its SIGCHLD.
            Err(Errno::ECHILD) => {}
            _ => continue,
        }
        gone += 1;
    }
    Sweep {
        ended,
        no_children: gone == pids.len(),
        complete: true,
    }
}

pub(crate) fn ending_of(status: i32) -> Ending {
    if libc::WIFSIGNALED(status) {
        Ending::Signaled(libc::WTERMSIG(status))
    } else {
        Ending::Exited(libc::WEXITSTATUS(status))
    }
}

/// Reaps every child that has ended, adopted orphans included, onto
/// `ended`. Needed because SIGCHLDs coalesce: one may stand for many exits.
///
/// Each `waitpid(-1)` walks the live children ahead of the first zombie,
/// under the lock every exiting process needs. While a burst of exits is
/// under way, zombies sit behind thousands of children still to exit, and
/// a sweep that goes on collecting them as they come walks all of those
/// for each one. So once `yield_at` has passed, a sweep whose last call
/// was slow (`SLOW_CALL`) stops if another child's exit has been signalled,
/// to come back once exits have stopped, when the zombies are at the front.
pub fn sweep(mut ended: Vec<(Pid, Ending)>, yield_at: Instant) -> Sweep {
    loop {
        let began = Instant::now();
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            ended.push((Pid::from_raw(pid), ending_of(status)));
            let now = Instant::now();
            if now - began >= SLOW_CALL
                && now >= yield_at
                && crate::signals::is_pending(libc::SIGCHLD)
            {
                return Sweep {
                    ended,
                    no_children: false,
                    complete: false,
                };
            }
            continue;
        }
        if pid < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        let no_children = pid < 0 && Errno::last() == Errno::ECHILD;
        return Sweep {
            ended,
            no_children,
            complete: true,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child that exits at once with `code`, left a zombie.
    fn zombie(code: i32) -> i32 {
        // SAFETY: the child only exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0, "fork failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        }) {
            assert!(
                Instant::now() < deadline,
                "child {pid} never became a zombie"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        pid
    }

    #[test]
    fn one_reaps_the_child_it_names_and_never_any_child() {
        let pid = zombie(3);
        // waitpid would take 0 as "my group" and -1 as "any child".
        assert_eq!(one(0), None);
        assert_eq!(one(-1), None);
        assert_eq!(one(pid), Some(Ending::Exited(3)));
        assert_eq!(one(pid), None, "reaped once only");
    }
}
