//! The event loop: start programs in order, reap, forward signals, shut down.
//!
//! One loop serves both modes. Single-command mode is a configuration of one
//! program marked as the main child: when it ends, everything else is told to
//! stop and the init exits with its status.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::autoreap;
use crate::config::Kind;
use crate::exit;
use crate::fork_exec::{ExecReport, Launch, Prepared, StartError};
use crate::log;
use crate::notify::{Datagram, Message, NotifySocket};
use crate::reap::{self, Ending};
use crate::signals::{self, Flavor};
use crate::terminal;
use crate::tree;

/// How long a sweep may wait for exits to stop (see `QUIET`) before it
/// runs anyway; and how often the loop looks for a `MAINPID=` process that
/// is not its child, whose end sends it nothing. Otherwise a loop with
/// nothing owed waits without a timeout: every exit sends a SIGCHLD.
const SWEEP: Duration = Duration::from_secs(1);
/// A sweep waits until no child has exited for this long. Each SIGCHLD's
/// own child is collected at once by pid (see `on_child_exit`),
/// so only exits whose SIGCHLD coalesced with another wait this long. In a
/// burst of thousands of orphans exiting, sweeping as they come cost tini,
/// dumb-init and catatonit alike up to seconds of CPU, read from
/// /proc/1/schedstat under each: every waitpid(-1) walked the children
/// still alive ahead of the zombie it found. After the burst, one sweep
/// finds every zombie at the front.
const QUIET: Duration = Duration::from_millis(10);
/// Exits that never stop for `QUIET` still get a sweep every `SWEEP`, which
/// may go on for this long while more come: at most a fortieth of the time.
const OVERDUE_BUDGET: Duration = Duration::from_millis(25);
/// A SIGCHLD may stand for more exits than the one it names, and one of
/// them may be a program's: so on each SIGCHLD every running program is
/// looked at by pid, when there are this few of them.
const FEW_PROGRAMS: usize = 4;
/// With more, they are looked at once per this long at most: in a storm of
/// orphan exits, a waitpid per program per SIGCHLD tripled the init's CPU
/// with 30 programs. A program's coalesced exit then waits for the next
/// SIGCHLD after this, or for the quiet sweep.
const PROGRAMS_EVERY: Duration = Duration::from_millis(1);
/// Two SIGCHLDs this close together make a burst: from then on the kernel
/// reaps (see `autoreap`), until a `TICK` passes with no exit.
const BURST_GAP: Duration = Duration::from_millis(1);
/// While the kernel reaps, how often the loop looks at its own programs
/// and at whether exits still come.
const TICK: Duration = Duration::from_millis(1);
/// After SIGKILL, how long to wait for the kernel to finish the kills.
const AFTER_KILL: Duration = Duration::from_secs(2);
/// Programs whose exec reports may be out at once, each a descriptor. A
/// child can hang before its exec (a working directory on a dead network
/// mount): past this many, further programs wait for a report to come in.
const PENDING_EXECS: usize = 64;
/// At the bound, how long a start waits for any report, holding the loop:
/// past it the start is put off, and the loop goes back to forwarding and
/// reaping for `EXEC_RETRY` before it looks again.
const EXEC_WAIT: Duration = Duration::from_millis(10);
const EXEC_RETRY: Duration = Duration::from_millis(10);

pub struct Options {
    pub grace: Duration,
    /// Forward signals to each child's process group instead of its pid.
    pub group: bool,
    pub flavor: Flavor,
}

/// A program to supervise.
pub struct Unit {
    pub name: String,
    pub launch: Launch,
    pub kind: Kind,
    /// Indices of units that must be done (oneshot) or ready (notify) first.
    pub after: Vec<usize>,
    pub notify: Option<NotifySocket>,
    /// Mutant `prefix-output`: the read end of the child's output pipe.
    pub relay: Option<std::os::fd::OwnedFd>,
    /// A descriptor the launch's stdio points at, kept open until spawn.
    pub stdio_keep: Option<std::os::fd::OwnedFd>,
    /// Whether the child reached exec: read once it has, or has ended
    /// (see `Supervisor::settle_execs`).
    exec: Option<ExecReport>,
    state: State,
    ready: bool,
    term_sent: bool,
    /// The pid being watched came from `MAINPID=` and may not be our child:
    /// its end is noticed by looking, not by reaping.
    adopted_main: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting,
    Running(Pid),
    Ended(Ending),
    StartFailed(i32),
    /// Not started because a dependency failed.
    Skipped,
}

impl Unit {
    pub fn new(name: String, launch: Launch, kind: Kind, after: Vec<usize>) -> Unit {
        Unit {
            name,
            launch,
            kind,
            after,
            notify: None,
            relay: None,
            stdio_keep: None,
            exec: None,
            state: State::Waiting,
            ready: false,
            term_sent: false,
            adopted_main: false,
        }
    }

    /// The uid the program runs as.
    fn uid(&self) -> u32 {
        match &self.launch.credentials {
            Some(c) => c.uid,
            None => nix::unistd::geteuid().as_raw(),
        }
    }

    fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Running(pid) => Some(pid),
            _ => None,
        }
    }

    /// Dependants may start.
    fn satisfies(&self) -> bool {
        match self.kind {
            Kind::Oneshot => matches!(self.state, State::Ended(e) if e.success()),
            Kind::Notify => self.ready,
        }
    }

    /// Dependants will never start.
    fn failed(&self) -> bool {
        match self.state {
            State::StartFailed(_) | State::Skipped => true,
            State::Ended(e) => match self.kind {
                Kind::Oneshot => !e.success(),
                Kind::Notify => !self.ready,
            },
            State::Waiting | State::Running(_) => false,
        }
    }
}

enum Phase {
    Running,
    Stopping {
        deadline: Instant,
        /// Set once SIGKILL went out: the moment to give up waiting.
        killed_at: Option<Instant>,
        orphans_termed: bool,
        /// Stopping was asked for by a signal, not by the programs ending.
        requested: bool,
    },
}

pub struct Supervisor {
    units: Vec<Unit>,
    /// Single-command mode: the index of the main child.
    main: Option<usize>,
    options: Options,
    /// Only when the loop also waits on notify sockets (or relays output),
    /// and in the issue-38 replica: then signals are read from it. Otherwise
    /// the loop waits in `sigtimedwait`, which takes the signal in the same
    /// system call.
    signals: Option<SignalFd>,
    phase: Phase,
    /// The init's own pid, asked once: `send` checks it before every kill.
    me: i32,
    /// `log::verbose()`, kept here beside the rest of what forwarding
    /// reads, so that a forwarded signal touches no page of static data.
    verbose: bool,
    /// The next pass sweeps. A pass woken by another signal goes straight
    /// back to sleep after forwarding it.
    sweep_due: bool,
    /// Since when a child may have ended that is not collected yet: a
    /// SIGCHLD came (they coalesce), or a sweep stopped for exits still
    /// coming. None after a sweep that left nothing to collect.
    owed_since: Option<Instant>,
    /// When every running program was last looked at on a SIGCHLD.
    programs_seen: Option<Instant>,
    /// The sweep's list, kept between sweeps: a burst of thousands of exits
    /// would otherwise have the allocator map and unmap it on every wake.
    ended: Vec<(Pid, Ending)>,
    /// When the last SIGCHLD was taken, to tell a burst.
    last_exit_notice: Option<Instant>,
    /// Whether the kernel may reap for the init here (asked at the first
    /// burst), and the watch on the init's own programs while it does.
    autoreap_available: Option<bool>,
    autoreap: Option<autoreap::Watch>,
    /// Units whose exec report is still to be read.
    pending_execs: usize,
    /// A start was put off at the `PENDING_EXECS` bound: the loop wakes
    /// after `EXEC_RETRY` to try again.
    starts_put_off: bool,
}

impl Supervisor {
    /// `options.flavor.handled()` must be the set that was blocked before
    /// anything forked.
    pub fn new(units: Vec<Unit>, main: Option<usize>, options: Options) -> nix::Result<Self> {
        // The issue-38 replica reads a signalfd as cinit does, so that a
        // trace of it shows what cinit's shows.
        let polled = options.flavor == Flavor::Issue38
            || units
                .iter()
                .any(|u| u.notify.is_some() || u.relay.is_some());
        let signals = if polled {
            Some(SignalFd::with_flags(
                &options.flavor.handled(),
                SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK,
            )?)
        } else {
            None
        };
        Ok(Supervisor {
            units,
            main,
            options,
            signals,
            phase: Phase::Running,
            me: std::process::id() as i32,
            verbose: log::verbose(),
            sweep_due: true,
            owed_since: None,
            programs_seen: None,
            ended: Vec::new(),
            last_exit_notice: None,
            autoreap_available: None,
            autoreap: None,
            pending_execs: 0,
            starts_put_off: false,
        })
    }

    /// Runs until every program and every adopted process is gone; returns the
    /// init's exit status.
    pub fn run(mut self) -> i32 {
        loop {
            // Notifications before the sweep: a forking program's MAINPID=
            // must be known before its original parent is reaped.
            self.read_notifications();
            self.relay_output();
            let ended = std::mem::take(&mut self.ended);
            let sweep = if !std::mem::take(&mut self.sweep_due) {
                reap::Sweep {
                    ended,
                    no_children: false,
                    complete: false,
                }
            } else if self.options.flavor.defects().no_reap {
                let own: Vec<Pid> = self.units.iter().filter_map(Unit::pid).collect();
                reap::collect(&own, ended)
            } else {
                let overdue = self.overdue();
                let now = Instant::now();
                let sweep = reap::sweep(ended, now + OVERDUE_BUDGET * u32::from(overdue));
                if sweep.complete {
                    self.owed_since = None;
                } else if overdue {
                    self.owed_since = Some(now);
                }
                sweep
            };
            for &(pid, ending) in &sweep.ended {
                self.record(pid, ending);
            }
            let mut ended = sweep.ended;
            ended.clear();
            self.ended = ended;
            self.check_adopted_mains();
            self.settle_execs(Duration::ZERO);
            if matches!(self.phase, Phase::Running) {
                self.start_due();
            }
            if matches!(self.phase, Phase::Running) && self.all_settled() {
                self.begin_stop(false);
            }
            if let Phase::Stopping { killed_at, .. } = self.phase {
                // Nothing left to stop: exit before looking for leftovers,
                // which costs a walk of /proc when the init is not PID 1.
                if sweep.no_children {
                    return self.status();
                }
                if killed_at.is_some_and(|t| t.elapsed() >= AFTER_KILL) {
                    log::say("some processes did not end after SIGKILL; exiting anyway");
                    return self.status();
                }
                self.advance_stop();
            }
            self.wait_and_read();
        }
    }

    fn start_due(&mut self) {
        self.starts_put_off = false;
        loop {
            let mut progress = false;
            for i in 0..self.units.len() {
                if self.units[i].state != State::Waiting {
                    continue;
                }
                let deps = &self.units[i].after;
                if let Some(&d) = deps.iter().find(|&&d| self.units[d].failed()) {
                    log::say(format_args!(
                        "{}: not started because `{}` failed",
                        self.units[i].name, self.units[d].name
                    ));
                    self.units[i].state = State::Skipped;
                    progress = true;
                } else if deps.iter().all(|&d| self.units[d].satisfies()) {
                    if self.pending_execs >= PENDING_EXECS {
                        self.settle_execs(EXEC_WAIT);
                        if self.pending_execs >= PENDING_EXECS {
                            self.starts_put_off = true;
                            return;
                        }
                    }
                    self.start(i);
                    progress = true;
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn start(&mut self, i: usize) {
        // A program started while the kernel reaps could end, and be
        // reaped, before its pidfd is open: its status would be lost.
        self.stop_autoreap();
        let unit = &mut self.units[i];
        let result = Prepared::new(&unit.launch).and_then(|p| p.start());
        unit.stdio_keep = None;
        match result {
            Ok(started) => {
                log::info(format_args!(
                    "{}: started as pid {}",
                    unit.name, started.pid
                ));
                unit.state = State::Running(started.pid);
                unit.exec = Some(started.exec);
                self.pending_execs += 1;
            }
            Err(e) => self.start_failed(i, &e),
        }
    }

    /// Reads the exec reports that have come in, after waiting up to `wait`
    /// for one: a program that reached exec gives its descriptor back, one
    /// that failed before it is a start failure.
    ///
    /// No report is waited for at start: the exec would wake the init on
    /// the child's CPU, to wait there, runnable, while the new program
    /// starts up (see [`Prepared::start`]).
    fn settle_execs(&mut self, wait: Duration) {
        if self.pending_execs == 0 {
            return;
        }
        let (units, mut fds): (Vec<usize>, Vec<PollFd<'_>>) = self
            .units
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                Some((i, PollFd::new(u.exec.as_ref()?.as_fd(), PollFlags::POLLIN)))
            })
            .unzip();
        let ms =
            PollTimeout::try_from(wait.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
        // A poll that fails says nothing: each report is then read once its
        // child has ended.
        if !nix::poll::poll(&mut fds, ms).is_ok_and(|n| n > 0) {
            return;
        }
        // Any event means a read will not block.
        let ready: Vec<usize> = units
            .into_iter()
            .zip(&fds)
            .filter(|(_, fd)| fd.any().unwrap_or(false))
            .map(|(i, _)| i)
            .collect();
        for i in ready {
            let Some(report) = self.units[i].exec.take() else {
                continue;
            };
            self.pending_execs -= 1;
            if let Err(e) = report.outcome() {
                // It exits right after its report, and the next sweep
                // collects it: no unit names its pid any more, so it is
                // never taken for a program that ran. Not waited for here:
                // a child stopped between its report and its exit would
                // hold the init.
                self.start_failed(i, &e);
            }
        }
    }

    /// Says why unit `i` could not start, and records it with the exit
    /// status that stands for that.
    fn start_failed(&mut self, i: usize, e: &StartError) {
        let single = self.main.is_some();
        let code = match e {
            StartError::Init(_) if single => exit::SINGLE_SETUP,
            _ if single => e.exit_code(),
            _ => exit::START_FAILED,
        };
        let unit = &mut self.units[i];
        if single {
            log::say(format_args!("{e}"));
        } else {
            log::say(format_args!("{}: {e}", unit.name));
        }
        unit.state = State::StartFailed(code);
    }

    fn read_notifications(&mut self) {
        for unit in &mut self.units {
            let Some(sock) = &unit.notify else { continue };
            for datagram in sock.drain() {
                accept(unit, datagram);
            }
        }
    }

    /// A `MAINPID=` process that is not our child ends without a SIGCHLD
    /// for us: its own parent collects it. Look for it instead.
    fn check_adopted_mains(&mut self) {
        let me = self.me;
        let gone: Vec<Pid> = self
            .units
            .iter()
            .filter(|u| u.adopted_main)
            .filter_map(Unit::pid)
            .filter(|pid| !tree::is_within(pid.as_raw(), me))
            .collect();
        for pid in gone {
            log::say(format_args!(
                "main pid {pid} is gone; its exit status went to its own parent"
            ));
            self.record(pid, Ending::Exited(0));
        }
    }

    fn record(&mut self, pid: Pid, ending: Ending) {
        let Some(i) = self.units.iter().position(|u| u.pid() == Some(pid)) else {
            return; // an adopted orphan, or a forking program's original parent
        };
        // The child has ended, so its report is all written: no wait.
        if let Some(report) = self.units[i].exec.take() {
            self.pending_execs -= 1;
            if let Err(e) = report.outcome() {
                self.start_failed(i, &e);
                return;
            }
        }
        let unit = &mut self.units[i];
        unit.state = State::Ended(ending);
        if self
            .options
            .flavor
            .handled()
            .contains(nix::sys::signal::Signal::SIGTTOU)
        {
            terminal::reclaim(pid);
        }
        // In single mode the status is the init's own exit status: saying it
        // twice would only be noise.
        if ending.success() || self.main.is_some() {
            log::info(format_args!("{}: {ending}", unit.name));
        } else {
            log::say(format_args!("{}: {ending}", unit.name));
        }
        if Some(i) == self.main && matches!(self.phase, Phase::Running) {
            self.begin_stop(false);
        }
    }

    /// No unit is running, and none can start any more.
    fn all_settled(&self) -> bool {
        self.units
            .iter()
            .all(|u| !matches!(u.state, State::Waiting | State::Running(_)))
    }

    fn begin_stop(&mut self, requested: bool) {
        // Whether anything is left to stop is for a sweep to tell.
        self.sweep_due = true;
        self.phase = Phase::Stopping {
            deadline: Instant::now() + self.options.grace,
            killed_at: None,
            orphans_termed: false,
            requested,
        };
    }

    /// Sends SIGTERM in reverse dependency order, then to whatever else is
    /// left; SIGKILL to everything once the grace period is over.
    fn advance_stop(&mut self) {
        let Phase::Stopping {
            deadline,
            killed_at,
            orphans_termed,
            ..
        } = &mut self.phase
        else {
            return;
        };
        if killed_at.is_some() {
            return;
        }
        if Instant::now() >= *deadline {
            log::say(format_args!(
                "grace period of {:?} is over; sending SIGKILL to every remaining process",
                self.options.grace
            ));
            tree::signal_all(libc::SIGKILL);
            *killed_at = Some(Instant::now());
            return;
        }
        // In single mode the main child got the signal itself, forwarded.
        if self.main.is_none() {
            // One pass over the edges, so that ten thousand programs cost
            // ten thousand steps here, not a hundred million.
            let mut dependant_running = vec![false; self.units.len()];
            for u in self.units.iter().filter(|u| u.pid().is_some()) {
                for &d in &u.after {
                    dependant_running[d] = true;
                }
            }
            let to = Sender {
                group: self.options.group,
                me: self.me,
                autoreap: self.autoreap.as_ref(),
            };
            for (unit, waits) in self.units.iter_mut().zip(dependant_running) {
                let Some(pid) = unit.pid() else { continue };
                if !unit.term_sent && !waits {
                    log::info(format_args!("{}: sending SIGTERM", unit.name));
                    to.send(pid, libc::SIGTERM, None);
                    // A stopped program acts on TERM only once continued.
                    to.send(pid, libc::SIGCONT, None);
                    unit.term_sent = true;
                }
            }
        }
        let units_done = self.units.iter().all(|u| u.pid().is_none());
        if units_done && !*orphans_termed {
            tree::signal_all(libc::SIGTERM);
            tree::signal_all(libc::SIGCONT);
            *orphans_termed = true;
        }
    }

    fn status(&self) -> i32 {
        if let Some(main) = self.main {
            return match self.units[main].state {
                State::Ended(e) => e.code(),
                State::StartFailed(code) => code,
                // Killed before it could be reaped: report what we did to it.
                _ => 128 + libc::SIGKILL,
            };
        }
        let requested = matches!(
            self.phase,
            Phase::Stopping {
                requested: true,
                ..
            }
        );
        let mut code = 0;
        for unit in &self.units {
            match unit.state {
                State::StartFailed(_) => return exit::START_FAILED,
                State::Ended(Ending::Signaled(libc::SIGTERM)) if requested && unit.term_sent => {}
                State::Ended(e) if !e.success() => code = exit::PROGRAM_FAILED,
                State::Running(_) => code = exit::PROGRAM_FAILED,
                _ => {}
            }
        }
        code
    }

    /// A SIGCHLD: collects the child it names and any of the init's own
    /// programs that ended, each by pid, which costs no walk of the other
    /// children; the sweep for the rest waits for a quiet spell (`QUIET`).
    fn on_child_exit(&mut self, code: i32, pid: i32) {
        let named = Pid::from_raw(pid);
        let is_own = self.units.iter().any(|u| u.pid() == Some(named));
        let mut own_ended = false;
        // The mutant `no-reap` leaves orphans alone.
        if signals::is_exit_notice(code) && (is_own || !self.options.flavor.defects().no_reap) {
            if let Some(ending) = reap::one(pid) {
                self.ended.push((named, ending));
                own_ended = is_own;
            }
        }
        let now = Instant::now();
        if self
            .last_exit_notice
            .replace(now)
            .is_some_and(|t| now.duration_since(t) < BURST_GAP)
        {
            self.start_autoreap();
        }
        if programs_due(self.units.len(), self.programs_seen, now) {
            self.programs_seen = Some(now);
            for unit in &self.units {
                let Some(p) = unit.pid().filter(|_| !unit.adopted_main) else {
                    continue;
                };
                if let Some(ending) = reap::one(p.as_raw()) {
                    self.ended.push((p, ending));
                    own_ended = true;
                }
            }
        }
        self.owed_since.get_or_insert(now);
        // A program's end changes what the init does next: sweep now, to
        // know what is left. Once stopping, the quiet sweep after the last
        // exit finds nothing left, and a stop that sends SIGTERM to
        // thousands of orphans costs no more than their burst of exits.
        if own_ended || self.overdue() {
            self.sweep_due = true;
        }
    }

    /// A burst of exits has begun: the kernel reaps from here on, where it
    /// can and the init's own programs can be watched by pidfd.
    fn start_autoreap(&mut self) {
        let eligible = self.autoreap.is_none()
            && self.signals.is_none()
            && self.options.flavor == Flavor::Clean
            && !self.units.iter().any(|u| u.adopted_main);
        if !eligible
            || !*self
                .autoreap_available
                .get_or_insert_with(autoreap::available)
        {
            return;
        }
        let programs: Vec<Pid> = self.units.iter().filter_map(Unit::pid).collect();
        self.autoreap = autoreap::Watch::begin(&programs);
        // A pidfd refused once (a seccomp filter, no descriptor left) is
        // not asked for again: the init reaps by itself, as before.
        if self.autoreap.is_none() {
            self.autoreap_available = Some(false);
        }
    }

    /// Back to reaping by the init: what the kernel left (zombies from
    /// before it began) is for the next sweep.
    fn stop_autoreap(&mut self) {
        if let Some(watch) = self.autoreap.take() {
            for (pid, ending) in watch.end() {
                self.record(pid, ending);
            }
            self.sweep_due = true;
        }
    }

    /// While the kernel reaps: SIGCHLD is left pending, not waited for, so
    /// that exits do not wake the init; every `TICK` the loop takes it, if
    /// it came, and looks at its own programs. A tick with no exit ends
    /// the burst.
    fn autoreap_tick(&mut self, timeout: Option<Duration>) {
        let mut others = self.options.flavor.handled();
        others.remove(nix::sys::signal::Signal::SIGCHLD);
        if let Some(info) = signals::wait_for(&others, Some(timeout.map_or(TICK, |t| t.min(TICK))))
        {
            self.on_signal(info.signo, info.code, info.value, info.pid);
            return;
        }
        let mut chld = nix::sys::signal::SigSet::empty();
        chld.add(nix::sys::signal::Signal::SIGCHLD);
        let exits_came = signals::wait_for(&chld, Some(Duration::ZERO)).is_some();
        let now = Instant::now();
        // A wait cut short by a deadline is no proof that exits stopped.
        let quiet = self
            .last_exit_notice
            .is_none_or(|t| now.duration_since(t) >= TICK);
        if !exits_came && quiet {
            self.stop_autoreap();
            return;
        }
        if exits_came {
            self.owed_since.get_or_insert(now);
            self.last_exit_notice = Some(now);
        }
        let Some(watch) = self.autoreap.as_mut() else {
            return;
        };
        let ended = watch.ended();
        for (pid, ending) in ended {
            self.record(pid, ending);
            self.sweep_due = true;
        }
        if self.overdue() {
            self.sweep_due = true;
        }
    }

    /// A sweep has been owed for `SWEEP`: exits have not stopped coming.
    fn overdue(&self) -> bool {
        self.owed_since.is_some_and(|t| t.elapsed() >= SWEEP)
    }

    /// Sleeps until a signal, a notification, the next sweep or a deadline,
    /// and takes the signals that came.
    fn wait_and_read(&mut self) {
        let looking = self.units.iter().any(|u| u.adopted_main);
        let mut timeout = sleep_for(self.sweep_due, self.owed_since, Instant::now(), looking);
        if let Phase::Stopping {
            deadline,
            killed_at,
            ..
        } = self.phase
        {
            let until = match killed_at {
                Some(t) => t + AFTER_KILL,
                None => deadline,
            };
            let left = until.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        // Once stopping, nothing more is started: no need to look again.
        if self.starts_put_off && matches!(self.phase, Phase::Running) {
            timeout = Some(timeout.map_or(EXEC_RETRY, |t| t.min(EXEC_RETRY)));
        }
        // With nothing to watch but signals, the wait is the one system call
        // that also takes the signal (as tini does): a poll on a signalfd
        // and then a read cost a forwarded signal about 5 µs more, measured
        // against tini, dumb-init and catatonit side by side.
        if self.autoreap.is_some() {
            self.autoreap_tick(timeout);
            return;
        }
        let Some(signalfd) = &self.signals else {
            self.take_signals(timeout);
            return;
        };
        if self.poll(signalfd.as_fd(), timeout) == 0 {
            self.sweep_due = true;
        }
        self.read_signals();
    }

    /// Takes signals until one gives the loop work, or `timeout` runs out.
    /// A signal that was only forwarded goes straight back to the wait:
    /// a child woken on the init's CPU may have to wait for the init to
    /// sleep, and the loop's round of bookkeeping cost about a microsecond
    /// there (traced with `perf`: the init's time from its `kill` to its
    /// next wait, against catatonit's).
    #[inline(never)]
    fn take_signals(&mut self, timeout: Option<Duration>) {
        let set = self.options.flavor.handled();
        let until = timeout.map(|t| {
            signals::clock_ns().saturating_add(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX))
        });
        let mut timeout = timeout;
        loop {
            let Some(info) = signals::wait_for(&set, timeout) else {
                self.sweep_due = true;
                return;
            };
            // Only a SIGCHLD can have the kernel start reaping, and the
            // first stop signal both changes the phase and makes a sweep due.
            let running = matches!(self.phase, Phase::Running);
            self.on_signal(info.signo, info.code, info.value, info.pid);
            let changed = self.sweep_due || running != matches!(self.phase, Phase::Running);
            if info.signo == libc::SIGCHLD || changed {
                return;
            }
            timeout = until.map(|u| Duration::from_nanos(u.saturating_sub(signals::clock_ns())));
        }
    }

    /// Returns how many descriptors are ready: 0 when the wait ran out.
    fn poll(&self, signalfd: BorrowedFd<'_>, timeout: Option<Duration>) -> i32 {
        let mut fds = vec![PollFd::new(signalfd, PollFlags::POLLIN)];
        let notify: Vec<BorrowedFd<'_>> = self
            .units
            .iter()
            .filter_map(|u| u.notify.as_ref().map(|n| n.fd()))
            .collect();
        fds.extend(notify.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        let relays: Vec<BorrowedFd<'_>> = self
            .units
            .iter()
            .filter_map(|u| u.relay.as_ref().map(|r| r.as_fd()))
            .collect();
        fds.extend(relays.iter().map(|fd| PollFd::new(*fd, PollFlags::POLLIN)));
        // Rounded up: a wait cut short would look like a quiet spell.
        let ms = timeout.map_or(PollTimeout::NONE, |t| {
            PollTimeout::try_from(t.as_nanos().div_ceil(1_000_000) as i32)
                .unwrap_or(PollTimeout::MAX)
        });
        nix::poll::poll(&mut fds, ms).unwrap_or(1)
    }

    /// Mutant `prefix-output`: what the child wrote, each line prefixed, to
    /// the init's own stdout, as inits with logging do. Out of line, as
    /// `read_signals` is: their buffers would otherwise sit in `run`'s
    /// frame, between the supervisor and the frame of `take_signals`, and
    /// spread what a forwarded signal touches over five pages of stack.
    #[inline(never)]
    fn relay_output(&mut self) {
        for unit in &self.units {
            let Some(relay) = &unit.relay else { continue };
            let mut buf = [0u8; 16384];
            while let Ok(n) = nix::unistd::read(relay, &mut buf) {
                if n == 0 {
                    break;
                }
                let mut out = Vec::with_capacity(n + 64);
                for line in buf[..n].split_inclusive(|&b| b == b'\n') {
                    out.extend_from_slice(b"2026-01-01 INFO [main] ");
                    out.extend_from_slice(line);
                }
                // SAFETY: writing from a live buffer; errors are ignored.
                unsafe { libc::write(1, out.as_ptr().cast(), out.len()) };
            }
        }
    }

    /// Reads every pending signal in one `read` where it can: the forwarding
    /// path is read, kill, and back to sleep.
    #[inline(never)]
    fn read_signals(&mut self) {
        const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        let mut buf = [0u8; 16 * SIZE];
        loop {
            let Some(signalfd) = &self.signals else {
                return;
            };
            let n = nix::unistd::read(signalfd, &mut buf).unwrap_or(0);
            for chunk in buf[..n].chunks_exact(SIZE) {
                // SAFETY: the kernel wrote whole signalfd_siginfo records;
                // read_unaligned copes with the byte buffer's alignment.
                let info: libc::signalfd_siginfo =
                    unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
                self.on_signal(
                    info.ssi_signo as i32,
                    info.ssi_code,
                    info.ssi_ptr,
                    info.ssi_pid as i32,
                );
            }
            if n < buf.len() {
                return;
            }
        }
    }

    /// One signal taken: its number, `si_code`, the value it was queued
    /// with, and the pid of its sender (or of the child that ended).
    ///
    /// Inlined into the waits, with all that is not forwarding kept out of
    /// line: the code a forwarded signal runs then lies on one or two pages
    /// (see `signals::wait_for`).
    #[inline(always)]
    fn on_signal(&mut self, received: i32, code: i32, value: u64, pid: i32) {
        let sig = received;
        if sig == libc::SIGCHLD {
            self.on_child_exit(code, pid);
            return;
        }
        if signals::is_fault_signal(sig) && !signals::sent_by_process(code) {
            return;
        }
        // In single mode INT is the main child's to handle (a REPL
        // under `docker run -it` carries on), as with tini and dumb-init.
        let stop_signal = sig == libc::SIGTERM || (sig == libc::SIGINT && self.main.is_none());
        let stopping_now = matches!(self.phase, Phase::Running) && stop_signal;
        if stopping_now && !self.stop_on(sig) {
            return;
        }
        let defects = self.options.flavor.defects();
        if defects.not_forwarded & signals::bit(sig) != 0 {
            return;
        }
        let sig = if sig == libc::SIGTERM && defects.term_as_int {
            libc::SIGINT
        } else {
            sig
        };
        let value = (code == libc::SI_QUEUE).then_some(value);
        // The signal first, the words after: the child is waiting.
        let to = Sender {
            group: self.options.group,
            me: self.me,
            autoreap: self.autoreap.as_ref(),
        };
        for unit in &self.units {
            if let Some(pid) = unit.pid() {
                to.send(pid, sig, value);
                if stopping_now {
                    to.send(pid, libc::SIGCONT, None);
                }
            }
        }
        if self.verbose {
            self.say_forwarded(received, sig, stopping_now);
        }
    }

    /// The first stop signal: the stop begins. Whether the signal is also
    /// forwarded: in single mode it is; with programs, `advance_stop` sends
    /// SIGTERM in order.
    #[cold]
    #[inline(never)]
    fn stop_on(&mut self, sig: i32) -> bool {
        self.begin_stop(true);
        if self.main.is_none() {
            log::info(format_args!("received {}; stopping", signals::name(sig)));
            return false;
        }
        true
    }

    #[cold]
    #[inline(never)]
    fn say_forwarded(&self, received: i32, sig: i32, stopping_now: bool) {
        if stopping_now {
            log::say(format_args!(
                "received {}; stopping",
                signals::name(received)
            ));
        }
        for unit in &self.units {
            if let Some(pid) = unit.pid() {
                log::say(format_args!(
                    "forwarding {} to {} (pid {pid})",
                    signals::name(sig),
                    unit.name
                ));
            }
        }
    }
}

/// Takes a datagram when its sender speaks for the program: a process of
/// the program's own tree. A sender that has already gone (a
/// `systemd-notify` helper is quick) is taken at its word for `READY=` and
/// `STATUS=` when it ran as the program's uid, never for `MAINPID=`.
fn accept(unit: &mut Unit, datagram: Datagram) {
    let Some(main) = unit.pid() else { return };
    let main = main.as_raw();
    let sender_in_tree = tree::is_within(datagram.pid, main);
    // Pid 0: the sender lives outside our PID namespace and cannot be placed.
    let sender_gone =
        datagram.pid > 0 && !std::path::Path::new(&format!("/proc/{}", datagram.pid)).exists();
    let speaks_for_it = sender_in_tree || (sender_gone && datagram.uid == unit.uid());
    if !speaks_for_it {
        log::say(format_args!(
            "{}: ignored a notification from pid {} (uid {}): not a process of this program",
            unit.name, datagram.pid, datagram.uid
        ));
        return;
    }
    for message in datagram.messages {
        match message {
            Message::Ready if !unit.ready => {
                log::info(format_args!("{}: ready", unit.name));
                unit.ready = true;
            }
            Message::Ready => {}
            Message::Status(text) => log::info(format_args!("{}: status: {text}", unit.name)),
            Message::MainPid(pid) => {
                // systemd's rule: the new main process must belong to the
                // service. Here: to the program's tree, and never the init.
                let me = std::process::id() as i32;
                if sender_in_tree && pid > 1 && pid != me && tree::is_within(pid, main) {
                    if pid != main {
                        log::info(format_args!("{}: main pid is now {pid}", unit.name));
                        unit.state = State::Running(Pid::from_raw(pid));
                        unit.adopted_main = true;
                    }
                } else {
                    log::say(format_args!(
                        "{}: ignored MAINPID={pid} from pid {}: not a process of this program",
                        unit.name, datagram.pid
                    ));
                }
            }
        }
    }
}

/// How the init signals its programs: to the pid, or with `-g` to its
/// process group; while the kernel reaps, through the program's pidfd.
struct Sender<'a> {
    group: bool,
    me: i32,
    autoreap: Option<&'a autoreap::Watch>,
}

impl Sender<'_> {
    /// Sends `sig` to `pid`, or to its process group; a queued signal keeps its
    /// value when it goes to a single process (sigqueue cannot address a group).
    /// Never to the init itself, to every process (-1) or to a group it names
    /// by accident (0, 1): a pid here can have come from a notify socket.
    #[inline(always)]
    fn send(&self, pid: Pid, sig: i32, value: Option<u64>) {
        let group = self.group;
        let pid_raw = pid.as_raw();
        if pid_raw <= 1 || pid_raw == self.me {
            return;
        }
        // While the kernel reaps, a program's pid may be free again before the
        // loop knows it ended: its pidfd still names the program, or nothing.
        if !group && self.autoreap.is_some_and(|w| w.signal(pid, sig, value)) {
            return;
        }
        if group {
            signals::forward(-pid_raw, sig);
        } else if let Some(v) = value {
            let val = libc::sigval {
                sival_ptr: v as usize as *mut libc::c_void,
            };
            // SAFETY: sigqueue has no memory effects on this process.
            unsafe { libc::sigqueue(pid_raw, sig, val) };
        } else {
            signals::forward(pid_raw, sig);
        }
    }
}

/// How long the loop may sleep before it sweeps: not at all when a sweep is
/// due; while one is owed, until exits have paused for `QUIET` or it has
/// been owed for `SWEEP`; otherwise until a signal comes (None), or
/// `SWEEP` while `looking` for a process that is not its child.
fn sleep_for(
    sweep_due: bool,
    owed_since: Option<Instant>,
    now: Instant,
    looking: bool,
) -> Option<Duration> {
    match (sweep_due, owed_since) {
        (true, _) => Some(Duration::ZERO),
        (false, Some(since)) => Some(QUIET.min(SWEEP.saturating_sub(now.duration_since(since)))),
        (false, None) => looking.then_some(SWEEP),
    }
}

/// Whether a SIGCHLD looks at every running program (see `FEW_PROGRAMS`).
fn programs_due(programs: usize, last: Option<Instant>, now: Instant) -> bool {
    programs <= FEW_PROGRAMS || last.is_none_or(|t| now.duration_since(t) >= PROGRAMS_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_waits_for_a_pause_in_exits_but_not_past_its_deadline() {
        let t = Instant::now();
        let zero = Some(Duration::ZERO);
        assert_eq!(sleep_for(true, Some(t), t, false), zero);
        // Nothing owed: until a signal, or a look for a process that is not
        // a child, which sends none.
        assert_eq!(sleep_for(false, None, t, false), None);
        assert_eq!(sleep_for(false, None, t, true), Some(SWEEP));
        // Just owed: the quiet wait, counted again from every wake.
        assert_eq!(sleep_for(false, Some(t), t, false), Some(QUIET));
        assert_eq!(sleep_for(false, Some(t), t + SWEEP / 2, false), Some(QUIET));
        // Owed for almost `SWEEP`: only what is left of it.
        let late = t + SWEEP - QUIET / 2;
        assert_eq!(sleep_for(false, Some(t), late, false), Some(QUIET / 2));
        assert_eq!(sleep_for(false, Some(t), t + SWEEP * 2, false), zero);
    }

    #[test]
    fn many_programs_are_looked_at_once_per_interval() {
        let t = Instant::now();
        let soon = t + PROGRAMS_EVERY / 2;
        let later = t + PROGRAMS_EVERY;
        // A few: on every SIGCHLD.
        assert!(programs_due(FEW_PROGRAMS, Some(t), soon));
        // Many: at the first, then not again within the interval.
        assert!(programs_due(FEW_PROGRAMS + 1, None, t));
        assert!(!programs_due(FEW_PROGRAMS + 1, Some(t), soon));
        assert!(programs_due(FEW_PROGRAMS + 1, Some(t), later));
    }
}
