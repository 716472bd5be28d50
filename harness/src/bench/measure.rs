//! One figure of one init: the processes under measurement are started with
//! fork + exec and waited for with waitpid directly; the reaper thread only
//! takes registered roots and zombies older than a second, so it never races
//! these waits.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use initlab_init::fork_exec::{Launch, Prepared};

use crate::reaper;

/// An init as the benchmark runs it.
pub struct Init {
    pub name: String,
    /// None for `none` (the child alone) and for an init not installed.
    pub path: Option<PathBuf>,
    /// Arguments between the init and the child's argv.
    pub args: Vec<String>,
}

impl Init {
    pub fn is_none(&self) -> bool {
        self.name == "none"
    }

    fn argv(&self, child: &[String]) -> Option<Vec<String>> {
        let mut v = Vec::new();
        if !self.is_none() {
            v.push(self.path.as_ref()?.display().to_string());
            v.extend(self.args.iter().cloned());
        }
        v.extend(child.iter().cloned());
        Some(v)
    }
}

/// Median, minimum and maximum of a series.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(mut v: Vec<f64>) -> Option<Stats> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        Some(Stats {
            median: v[v.len() / 2],
            min: v[0],
            max: v[v.len() - 1],
        })
    }
}

pub fn percentile(mut v: Vec<f64>, p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    Some(v[i])
}

pub fn fmt_stats(s: Option<Stats>, unit: &str) -> String {
    s.map_or("—".into(), |s| {
        format!("{:.2} {unit} ({:.2}–{:.2})", s.median, s.min, s.max)
    })
}

pub fn now_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

fn pipe() -> Option<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()
}

/// Starts `argv` clean; stdout to `out` when given, else /dev/null.
fn spawn(argv: &[String], pid1: bool, out: Option<&OwnedFd>) -> Option<i32> {
    let null = std::fs::File::open("/dev/null").ok()?;
    let stdout = out.map_or(null.as_raw_fd(), |o| o.as_raw_fd());
    let launch = Launch {
        program: argv[0].clone().into(),
        argv: argv.iter().map(Into::into).collect(),
        env: vec![(
            "PATH".into(),
            "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
        )],
        stdio: [Some(null.as_raw_fd()), Some(stdout), Some(null.as_raw_fd())],
        new_pid_namespace: pid1,
        ..Launch::default()
    };
    let prepared = Prepared::new(&launch).ok()?;
    prepared.spawn().map(|p| p.as_raw()).ok()
}

fn wait(pid: i32) {
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// How long one `INIT /bin/true` may take: an init given with `--init`
/// may never exit.
const SPAWN_LIMIT: Duration = Duration::from_secs(10);
/// How long the orphan burst's report may take: the helper gives up after
/// 120 s of its own.
const BURST_LIMIT: Duration = Duration::from_secs(150);

/// Waits for our child `pid` to exit, through a pidfd so that the wait is
/// as exact as `waitpid`'s; false, with its tree killed, when it has not
/// within `limit`. Where no pidfd can be had (a kernel before 5.3, a
/// seccomp filter), `waitpid` is asked every millisecond instead.
fn wait_within(pid: i32, limit: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags; our unreaped child's pid is its own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let ended = if fd >= 0 {
        // SAFETY: a descriptor just returned to us, owned by nothing else.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = nix::poll::PollTimeout::try_from(limit.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        nix::poll::poll(&mut fds, ms).map_or(true, |n| n > 0)
    } else if reaped_within(pid, limit) {
        return true;
    } else {
        false
    };
    if !ended {
        kill_and_wait(pid);
        return false;
    }
    wait(pid);
    true
}

/// Asks `waitpid` every millisecond until our child `pid` is reaped, for
/// at most `limit`; false when it is still running.
fn reaped_within(pid: i32, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: polls our own child; writes only to `status`.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if rc > 0 || (rc < 0 && nix::errno::Errno::last() != nix::errno::Errno::EINTR) {
            return true; // reaped (or not ours to wait for)
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn kill_and_wait(pid: i32) {
    reaper::kill_tree(pid, &[]);
    wait(pid);
}

/// Wall time of `INIT /bin/true`, start to reaped, in ms.
pub fn spawn_times(init: &Init, pid1: bool, runs: usize) -> Option<Vec<f64>> {
    let argv = init.argv(&["/bin/true".to_string()])?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let pid = spawn(&argv, pid1, None)?;
        if !wait_within(pid, SPAWN_LIMIT) {
            say!(
                "initlab bench: {} did not exit within {SPAWN_LIMIT:?} of running \
                 `/bin/true`, and is not measured further; give an argv prefix \
                 that runs the command after it and exits when that does",
                init.name
            );
            return None;
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Some(times)
}

/// How the init as PID 1 reaped a burst of orphans.
#[derive(Clone, Copy, Debug)]
pub struct Reaping {
    pub per_second: f64,
    pub zombies_left: u64,
    /// CPU time the init spent from the release to the last reap.
    pub init_cpu_ms: Option<f64>,
}

pub fn reaping(init: &Init, helper: &Path, n: usize) -> Option<Reaping> {
    if init.is_none() {
        return None; // nobody would reap them
    }
    let child = vec![
        helper.display().to_string(),
        "bench-helper".into(),
        "orphans".into(),
        n.to_string(),
    ];
    let argv = init.argv(&child)?;
    let (r, w) = pipe()?;
    let pid = spawn(&argv, true, Some(&w))?;
    drop(w);
    let text = read_within(&r, BURST_LIMIT);
    kill_and_wait(pid);
    let mut words = text.split_whitespace();
    let reaped: f64 = words.next()?.parse().ok()?;
    let secs: f64 = words.next()?.parse().ok()?;
    Some(Reaping {
        per_second: reaped / secs.max(1e-9),
        zombies_left: words.next()?.parse().ok()?,
        init_cpu_ms: words.next().and_then(|w| w.parse().ok()),
    })
}

/// The init's VmRSS and VmHWM in kB while its child runs.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Memory {
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

/// Where the scheduler last ran the harness, the init and its child, read
/// just before a round. A round's latency depends on it more than on the
/// init: waking a process on an idle CPU of a virtual machine costs
/// microseconds, and on two cores the latencies fall into modes about 14 µs
/// apart by placement, the same for every init, minimal or not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// All three on one CPU.
    Together,
    /// The child on the harness's CPU, the init on another.
    InitApart,
    /// The init on the harness's CPU, the child on another.
    ChildApart,
    /// The init and its child on one CPU, the harness on another.
    HarnessApart,
    /// Each on a CPU of its own.
    AllApart,
}

impl Placement {
    pub const ALL: [Placement; 5] = [
        Placement::InitApart,
        Placement::Together,
        Placement::ChildApart,
        Placement::HarnessApart,
        Placement::AllApart,
    ];

    fn of(harness: i32, init: i32, child: i32) -> Placement {
        match (init == harness, child == harness, init == child) {
            (true, true, _) => Placement::Together,
            (false, true, _) => Placement::InitApart,
            (true, false, _) => Placement::ChildApart,
            (false, false, true) => Placement::HarnessApart,
            (false, false, false) => Placement::AllApart,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Placement::Together => "all on one CPU",
            Placement::InitApart => "init apart",
            Placement::ChildApart => "child apart",
            Placement::HarnessApart => "harness apart",
            Placement::AllApart => "all apart",
        }
    }

    /// The CPUs that this thread, `init` and `init`'s first child last ran
    /// on; None when any of them cannot be read.
    fn now(init: i32) -> Option<Placement> {
        let cpu = |pid: i32| {
            procfs::process::Process::new(pid)
                .and_then(|p| p.stat())
                .ok()?
                .processor
        };
        let child: i32 = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Placement::of(
            cpu(nix::unistd::gettid().as_raw())?,
            cpu(init)?,
            cpu(child)?,
        ))
    }
}

/// The CPU time `pid` has run for, in ns, from the first field of
/// `/proc/PID/schedstat`; None where the kernel keeps no such count. Exact
/// for a process that sleeps: a running one's last stretch is not in it
/// yet.
pub fn cpu_ns(pid: i32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What one init's life of latency rounds showed.
pub struct Latency {
    /// SIGTERM to the init until the child observes it, in µs, round by round.
    pub rounds_us: Vec<f64>,
    /// Where the three were placed before each round (None for `none`,
    /// which has no init).
    pub placements: Vec<Option<Placement>>,
    /// The init's CPU time over the rounds, per round, in µs: its own share
    /// of forwarding, where the latency also holds the wakes of two
    /// processes. None for `none`.
    pub cpu_per_forward_us: Option<f64>,
    /// The init's memory while the child runs; None for `none`.
    pub memory: Option<Memory>,
    /// Pages the init touched to forward one more SIGTERM (see
    /// [`pages_per_forward`]); None for `none`, or where the kernel keeps
    /// no accessed bits to read.
    pub pages_per_forward: Option<u64>,
}

/// Latency rounds under one fresh init.
pub fn latency(init: &Init, helper: &Path, pid1: bool, rounds: usize) -> Option<Latency> {
    let child = vec![
        helper.display().to_string(),
        "bench-helper".into(),
        "catch".into(),
    ];
    let argv = init.argv(&child)?;
    let (r, w) = pipe()?;
    let pid = spawn(&argv, pid1, Some(&w))?;
    drop(w);
    let mut out = Vec::new();
    let mut placements = Vec::new();
    let mut cpu_before = None;
    if read_u64(&r).is_some() {
        cpu_before = (!init.is_none() && asleep_within(pid, SETTLE))
            .then(|| cpu_ns(pid))
            .flatten();
        for _ in 0..rounds {
            placements.push((!init.is_none()).then(|| Placement::now(pid)).flatten());
            let t0 = now_ns();
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            match read_u64(&r) {
                Some(t1) => out.push(t1.saturating_sub(t0) as f64 / 1000.0),
                None => break,
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // Before the round of `pages_per_forward`, once the init is back in
    // its wait: the child can report the last round before the init is done.
    let cpu_after = cpu_before
        .filter(|_| asleep_within(pid, SETTLE))
        .and_then(|_| cpu_ns(pid));
    let cpu_per_forward_us = cpu_before
        .zip(cpu_after)
        .filter(|_| !out.is_empty())
        .map(|(a, b)| b.saturating_sub(a) as f64 / 1000.0 / out.len() as f64);
    let memory = if init.is_none() {
        None
    } else {
        procfs::process::Process::new(pid)
            .and_then(|p| p.status())
            .ok()
            .and_then(|s| {
                Some(Memory {
                    rss_kb: s.vmrss?,
                    hwm_kb: s.vmhwm?,
                })
            })
    };
    let pages_per_forward = if init.is_none() || out.len() < rounds {
        None
    } else {
        pages_per_forward(pid, &r)
    };
    kill_and_wait(pid);
    placements.truncate(out.len());
    Some(Latency {
        rounds_us: out,
        placements,
        cpu_per_forward_us,
        memory,
        pages_per_forward,
    })
}

/// Pages of memory (code, data and stack) the init at `pid` touches to
/// forward one SIGTERM to the child writing to `from`: the kernel's accessed
/// bits of the init's pages are cleared (`/proc/PID/clear_refs`), a SIGTERM
/// goes to the init, and once the child has it and the init is back in its
/// wait, the pages marked accessed again are counted (`Referenced` in
/// `/proc/PID/smaps_rollup`). A forwarding init woken on an idle CPU finds
/// those pages cold, in no cache and no TLB, and pays for each.
fn pages_per_forward(pid: i32, from: &OwnedFd) -> Option<u64> {
    use procfs::process::{ClearRefs, Process};
    let init = Process::new(pid).ok()?;
    // Clearing the accessed bits leaves the TLB as it was, and a CPU that
    // still holds a page's translation sets no bit when the init touches
    // it again: on this machine most pages then went uncounted. Clearing
    // the soft-dirty bits first makes the kernel flush the init's TLB
    // entries on every CPU.
    init.clear_refs(ClearRefs::SoftDirty).ok()?;
    init.clear_refs(ClearRefs::PGReferencedAll).ok()?;
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    read_u64(from)?;
    // The child can run before the init is done.
    if !asleep_within(pid, SETTLE) {
        return None;
    }
    let rollup = init.smaps_rollup().ok()?.memory_map_rollup;
    let bytes: u64 = rollup
        .iter()
        .filter_map(|m| m.extension.map.get("Referenced"))
        .sum();
    Some(bytes / procfs::page_size())
}

/// How long an init may take to go back to its wait after a round.
const SETTLE: Duration = Duration::from_millis(100);

/// Whether `pid` is (or within `limit` gets) asleep, `S` in its stat.
fn asleep_within(pid: i32, limit: Duration) -> bool {
    let Ok(process) = procfs::process::Process::new(pid) else {
        return false;
    };
    let end = Instant::now() + limit;
    loop {
        match process.stat() {
            Ok(stat) if stat.state == 'S' => return true,
            Ok(_) if Instant::now() < end => std::thread::sleep(Duration::from_micros(200)),
            _ => return false,
        }
    }
}

/// What the helper writes until it closes its end, for at most `limit`
/// (the init may hold the pipe open past the helper's end), and 4 kB.
fn read_within(fd: &OwnedFd, limit: Duration) -> String {
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while out.len() < 4096 {
        let left = end.saturating_duration_since(Instant::now());
        let ms = nix::poll::PollTimeout::try_from(left.as_millis() as i32)
            .unwrap_or(nix::poll::PollTimeout::MAX);
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(fd),
            nix::poll::PollFlags::POLLIN,
        )];
        if left.is_zero() || nix::poll::poll(&mut fds, ms).map_or(true, |n| n == 0) {
            break;
        }
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Eight bytes from the helper, or None after two seconds of silence.
fn read_u64(fd: &OwnedFd) -> Option<u64> {
    let mut fds = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(fd),
        nix::poll::PollFlags::POLLIN,
    )];
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(2000u16)).ok()? == 0 {
            return None;
        }
        let n = nix::unistd::read(fd, &mut buf[got..]).ok()?;
        if n == 0 {
            return None;
        }
        got += n;
    }
    Some(u64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::{asleep_within, cpu_ns, reaped_within, Placement};
    use rstest::rstest;
    use std::time::{Duration, Instant};

    /// The CPU time read for an init is the time it ran: a child that
    /// spun for a while and then sleeps reads as what `/proc/PID/stat`
    /// counts in clock ticks, to within a few ticks.
    #[test]
    fn cpu_time_is_the_time_the_process_ran() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 10",
            ])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let exec_sleep = || {
            std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_ok_and(|p| p.to_string_lossy().ends_with("sleep"))
        };
        let end = Instant::now() + Duration::from_secs(60);
        while !exec_sleep() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(asleep_within(pid, Duration::from_secs(1)));
        let ns = cpu_ns(pid).unwrap();
        let stat = procfs::process::Process::new(pid).unwrap().stat().unwrap();
        let ticks_ns = (stat.utime + stat.stime) * 1_000_000_000 / procfs::ticks_per_second();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(ns >= 50_000_000, "spun for {ns} ns only");
        let apart = ns.abs_diff(ticks_ns);
        assert!(
            apart <= 50_000_000,
            "{ns} ns against {ticks_ns} ns in ticks"
        );
    }

    /// The wait used where no pidfd can be had keeps its deadline, and
    /// returns as soon as the child has ended.
    // The children are reaped by the waitpid under test, not by `Child`.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn a_wait_without_a_pidfd_keeps_its_deadline() {
        let sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = sleeper.id() as i32;
        let t = Instant::now();
        assert!(!reaped_within(pid, Duration::from_millis(100)));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(reaped_within(pid, Duration::from_secs(5)));
        let quick = std::process::Command::new("true").spawn().unwrap();
        let t = Instant::now();
        assert!(reaped_within(quick.id() as i32, Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    #[rstest]
    #[case(0, 0, 0, Placement::Together)]
    #[case(0, 1, 0, Placement::InitApart)]
    #[case(1, 1, 0, Placement::ChildApart)]
    #[case(0, 1, 1, Placement::HarnessApart)]
    #[case(0, 1, 2, Placement::AllApart)]
    fn each_placement_is_named_by_who_is_apart(
        #[case] harness: i32,
        #[case] init: i32,
        #[case] child: i32,
        #[case] expected: Placement,
    ) {
        assert_eq!(Placement::of(harness, init, child), expected);
    }
}
