//! Children that do not run on: the init waits for none of them without
//! a deadline. A child held before its exec (as one whose working
//! directory is on a dead mount would be) holds neither the other programs
//! nor a stop, and no more than 64 children's exec reports are out at
//! once; starts put off at that bound are looked at again while the init
//! runs, and no longer once it stops. The child the init forks to probe
//! the kernel at a burst of exits, held before it exits, does not hold it.
//!
//! A child is held by the kernel itself: the init runs under `ptrace` from
//! the test's thread, so each child it forks is stopped before its first
//! instruction, and runs on only when the test lets it go.

mod common;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The bound the README gives.
const PENDING_EXECS: usize = 64;

/// An init traced by this thread, and the children it forked.
struct Traced {
    init: Pid,
    /// Whether the n-th child (from 0) is held before its exec.
    hold: Box<dyn Fn(usize) -> bool>,
    forked: usize,
    held: Vec<Pid>,
    exit: Option<WaitStatus>,
    output: std::path::PathBuf,
    /// The pipes the init inherited (a test runner's jobserver).
    inherited_pipes: usize,
}

impl Traced {
    fn start(args: &[String], dir: &Path, hold: impl Fn(usize) -> bool + 'static) -> Traced {
        let output = dir.join("init.out");
        let out = File::create(&output).unwrap();
        let mut cmd = Command::new(INIT);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: ptrace(TRACEME) is a single system call, safe after fork.
        unsafe { cmd.pre_exec(|| ptrace::traceme().map_err(std::io::Error::from)) };
        let init = Pid::from_raw(cmd.spawn().expect("start the init").id() as i32);
        // Stopped at its exec: from here each fork stops the new child.
        let first = waitpid(init, Some(WaitPidFlag::__WALL)).unwrap();
        assert!(
            matches!(first, WaitStatus::Stopped(_, Signal::SIGTRAP)),
            "{first:?}"
        );
        ptrace::setoptions(
            init,
            Options::PTRACE_O_TRACEFORK
                | Options::PTRACE_O_TRACEVFORK
                | Options::PTRACE_O_TRACECLONE
                | Options::PTRACE_O_EXITKILL,
        )
        .unwrap();
        let inherited_pipes = pipes(init);
        ptrace::cont(init, None).unwrap();
        Traced {
            init,
            hold: Box::new(hold),
            forked: 0,
            held: Vec::new(),
            exit: None,
            output,
            inherited_pipes,
        }
    }

    /// Handles what the traced processes report, until `done` or `limit`
    /// has passed; returns whether `done` came true.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            // Only this thread's own children and tracees: tests run side
            // by side in one process.
            let flags = WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD | WaitPidFlag::WNOHANG;
            match waitpid(None, Some(flags)) {
                Ok(WaitStatus::StillAlive) | Err(_) => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(status) => self.on(status),
            }
        }
    }

    fn on(&mut self, status: WaitStatus) {
        match status {
            WaitStatus::PtraceEvent(pid, _, _) => {
                let _ = ptrace::cont(pid, None);
            }
            // A signal the init takes is blocked, so never stops it here:
            // whatever does is handed on as it came.
            WaitStatus::Stopped(pid, sig) if pid == self.init => {
                let _ = ptrace::cont(pid, Some(sig));
            }
            // A new child, stopped before it ran a single instruction of
            // its own: the fork returned in it, and no more.
            WaitStatus::Stopped(pid, _) => {
                let n = self.forked;
                self.forked += 1;
                if (self.hold)(n) {
                    self.held.push(pid);
                } else {
                    let _ = ptrace::detach(pid, None);
                }
            }
            WaitStatus::Exited(pid, _) | WaitStatus::Signaled(pid, _, _) if pid == self.init => {
                self.exit = Some(status);
            }
            _ => {}
        }
    }

    /// Lets every held child go on to its exec, and holds no more.
    fn release(&mut self) {
        self.hold = Box::new(|_| false);
        for pid in self.held.drain(..) {
            let _ = ptrace::detach(pid, None);
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// The pipes the init opened: its children's exec reports.
    fn report_pipes(&self) -> usize {
        pipes(self.init) - self.inherited_pipes
    }

    fn exit_code(&mut self, limit: Duration) -> i32 {
        let exited = self.run_until(limit, |t| t.exit.is_some());
        assert!(
            exited,
            "the init did not exit within {limit:?}; it said:\n{}",
            self.output()
        );
        match self.exit {
            Some(WaitStatus::Exited(_, code)) => code,
            other => panic!("the init ended with {other:?}; it said:\n{}", self.output()),
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.exit.is_some() {
            return;
        }
        for pid in self.held.iter().chain([&self.init]) {
            let _ = nix::sys::signal::kill(*pid, Signal::SIGKILL);
        }
        let _ = self.run_until(Duration::from_secs(5), |t| t.exit.is_some());
    }
}

fn pipes(pid: Pid) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().starts_with("pipe:"))
        })
        .count()
}

/// Whether `pid` is still the init's copy, stopped by the tracer: it has
/// not reached its exec.
fn before_exec(pid: Pid) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    exe == std::fs::canonicalize(INIT).unwrap() && state.is_some_and(|s| s.starts_with('t'))
}

/// A config of `n` programs, each touching a file named for it in `dir`.
fn touching_programs(dir: &Path, n: usize) -> String {
    let mut text = String::from("programs:\n");
    for i in 0..n {
        text += &format!(
            "  - name: p{i}\n    path: sh\n    args: [-c, 'touch \"$0\"', '{}']\n",
            dir.join(format!("p{i}")).display()
        );
    }
    let config = dir.join("init.yml");
    std::fs::write(&config, text).unwrap();
    config.display().to_string()
}

fn touched(dir: &Path, n: usize) -> usize {
    (0..n)
        .filter(|i| dir.join(format!("p{i}")).exists())
        .count()
}

#[test]
fn a_child_held_before_exec_does_not_hold_the_other_programs() {
    let dir = tempfile::tempdir().unwrap();
    let config = touching_programs(dir.path(), 5);
    let mut init = Traced::start(&["--config".into(), config], dir.path(), |n| n == 0);
    let others = init.run_until(Duration::from_secs(10), |_| touched(dir.path(), 5) == 4);
    assert!(
        others,
        "with one child held before its exec, {} of the 4 other programs ran; the init said:\n{}",
        touched(dir.path(), 5),
        init.output()
    );
    assert_eq!(init.held.len(), 1);
    assert!(before_exec(init.held[0]), "the held child was not held");
    init.release();
    assert_eq!(
        init.exit_code(Duration::from_secs(10)),
        0,
        "{}",
        init.output()
    );
    assert_eq!(touched(dir.path(), 5), 5);
}

#[test]
fn a_stop_is_not_held_by_a_child_that_never_reaches_exec() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--grace", "1", "--", "true"].map(String::from);
    let mut init = Traced::start(&args, dir.path(), |_| true);
    let held = init.run_until(Duration::from_secs(10), |t| !t.held.is_empty());
    assert!(
        held,
        "the init forked no child; it said:\n{}",
        init.output()
    );
    nix::sys::signal::kill(init.init, Signal::SIGTERM).unwrap();
    // SIGTERM is forwarded and stays pending in the stopped child; a
    // second later SIGKILL ends it.
    assert_eq!(init.exit_code(Duration::from_secs(10)), 128 + libc::SIGKILL);
}

#[test]
fn at_most_64_exec_reports_are_out_and_the_rest_start_when_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let n = PENDING_EXECS + 6;
    let config = touching_programs(dir.path(), n);
    let mut init = Traced::start(&["--config".into(), config], dir.path(), |_| true);
    let bound = init.run_until(Duration::from_secs(20), |t| t.forked >= PENDING_EXECS);
    assert!(
        bound,
        "only {} children were forked; the init said:\n{}",
        init.forked,
        init.output()
    );
    // Long enough for a start that waited a while and then went ahead.
    init.run_until(Duration::from_secs(3), |t| t.forked > PENDING_EXECS);
    assert_eq!(
        init.forked, PENDING_EXECS,
        "more children were started than reports may be out"
    );
    assert_eq!(init.report_pipes(), PENDING_EXECS);
    assert!(init.held.iter().all(|&pid| before_exec(pid)));
    init.release();
    assert_eq!(
        init.exit_code(Duration::from_secs(20)),
        0,
        "{}",
        init.output()
    );
    // Not every later fork is a program: the init forks a probe once
    // exits come in a burst (see `autoreap`).
    assert_eq!(touched(dir.path(), n), n);
}

/// Read from `/proc/PID/status`: how often the init has gone to sleep.
fn sleeps(pid: Pid) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_stop_with_starts_put_off_sleeps_until_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let n = PENDING_EXECS + 6;
    let config = touching_programs(dir.path(), n);
    let args = ["--grace".into(), "3".into(), "--config".into(), config];
    // The programs only: the probe the init may fork at the burst of their
    // ends is the last test's.
    let mut init = Traced::start(&args, dir.path(), |n| n < PENDING_EXECS);
    let bound = init.run_until(Duration::from_secs(20), |t| t.forked >= PENDING_EXECS);
    assert!(bound, "only {} children were forked", init.forked);
    nix::sys::signal::kill(init.init, Signal::SIGTERM).unwrap();
    // Let the stop begin (SIGTERM to every program), then count wakes.
    init.run_until(Duration::from_millis(500), |_| false);
    let before = sleeps(init.init);
    init.run_until(Duration::from_secs(1), |_| false);
    let woke = sleeps(init.init) - before;
    assert!(
        woke < 20,
        "the init woke {woke} times in a second of its grace period"
    );
    assert_eq!(
        init.forked, PENDING_EXECS,
        "a program was started while stopping"
    );
    // The held children never exec: SIGKILL ends them after the grace.
    let code = init.exit_code(Duration::from_secs(10));
    assert_ne!(code, 0, "{}", init.output());
}

#[test]
fn a_probe_child_that_never_exits_does_not_hold_the_init() {
    let dir = tempfile::tempdir().unwrap();
    // A hundred orphans ending together: a burst, at which the init forks
    // a child to probe the kernel. Every fork after the main child's is held.
    let script = "for i in $(seq 100); do (sleep 0.3 &); done; sleep 1; exit 3";
    // The held probe is a leftover when the main child exits: SIGKILLed
    // after the grace period.
    let args = ["--grace", "1", "--", "sh", "-c", script].map(String::from);
    let mut init = Traced::start(&args, dir.path(), |n| n > 0);
    // The probe is given ten seconds; the held child is then a leftover.
    assert_eq!(
        init.exit_code(Duration::from_secs(30)),
        3,
        "{}",
        init.output()
    );
    assert!(
        !init.held.is_empty(),
        "no burst made the init fork a probe: the test proved nothing"
    );
}
