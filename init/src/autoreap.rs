//! Letting the kernel reap orphans while a burst of them exits.
//!
//! An init that takes each SIGCHLD as it comes wakes once per exit and
//! reaps one child per wake: in a burst of thousands of orphans exiting at
//! once that is thousands of wakes, taken from the exits themselves, and
//! then, for every SIGCHLD that coalesced, a `waitpid` per zombie at the
//! end. With `SA_NOCLDWAIT` the kernel reaps each child as it exits, in the
//! exiting process's own time, and sends nothing the init must act on at
//! once. The price is the exit status, which the init needs for its own
//! programs: those are watched through pidfds, from which the kernel gives
//! the status even after it has reaped the process (`PIDFD_INFO_EXIT`,
//! Linux 6.15). On an older kernel, or where a pidfd cannot be opened,
//! the init reaps as before.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::reap::{self, Ending};

/// `struct pidfd_info` of linux/pidfd.h as first published
/// (`PIDFD_INFO_SIZE_VER0`), which ends with `exit_code`.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    ids: [u32; 11],
    exit_code: i32,
}

/// A `siginfo_t` as `sigqueue` fills it (`_rt`: pid, uid, value), 128 bytes.
#[repr(C)]
#[derive(Default)]
struct QueuedInfo {
    signo: i32,
    errno: i32,
    code: i32,
    pad: i32,
    pid: i32,
    uid: u32,
    value: u64,
    rest: [u64; 12],
}

const _: () = assert!(std::mem::size_of::<QueuedInfo>() == std::mem::size_of::<libc::siginfo_t>());
const _: () = assert!(std::mem::size_of::<PidfdInfo>() == 64);

const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)`.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

/// Whether the running kernel gives a reaped process's status to its
/// pidfd (`PIDFD_INFO_EXIT`, Linux 6.15) and lets the init open pidfds at
/// all (a seccomp filter may not): asked of a child that exits at once,
/// once, at the first burst. A kernel's version would not say whether
/// the feature was left out, or brought back to an older one.
pub fn available() -> bool {
    // SAFETY: the child only calls _exit, which is async-signal-safe.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    if pid < 0 {
        return false;
    }
    // SAFETY: pidfd_open takes a pid and flags, and returns a new fd. The
    // child is ours and not yet reaped, so the pid is still its own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = (fd >= 0).then(|| {
        // SAFETY: a descriptor just returned to us, owned by nothing else.
        unsafe { OwnedFd::from_raw_fd(fd as i32) }
    });
    // The child exits at once, but one stopped first (SIGSTOP, a tracer)
    // would hold a blocking wait, and the init with it, for good: past
    // the deadline the probe counts as failed, and the child is left to a
    // later sweep like any other.
    reap::within(pid, PROBE_WAIT) && fd.is_some_and(|fd| exit_info(&fd) == Some(0))
}

/// How long the probe's child may take to exit: in a burst it waits for a
/// CPU behind thousands of exits. With a second, the benchmark's burst of
/// 20,000 outlasted it, and the init fell back to reaping for itself.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// How long a program's pidfd may say it ended while the kernel gives no
/// status for it, before the status is taken as lost.
///
/// Between a process's exit, which makes its pidfd readable, and its
/// release, where the kernel records the status, a look can find none; the
/// next look, a millisecond later, does. A kernel that passed the probe in
/// [`available`] and still keeps none would otherwise leave the init
/// waiting for the program for good.
const LOST_AFTER: Duration = Duration::from_secs(1);

/// One of the init's own programs while the kernel reaps.
struct Watched {
    pid: Pid,
    fd: OwnedFd,
    /// When its pidfd was first readable with no status to give.
    silent_since: Option<Instant>,
}

/// The init's own programs while the kernel reaps: each with a pidfd.
pub struct Watch {
    programs: Vec<Watched>,
}

impl Watch {
    /// Opens a pidfd for each of `programs`, then asks the kernel to reap.
    /// None, with nothing changed, when a pidfd cannot be opened. A program
    /// already ended is still a zombie here, and its pidfd still its own.
    pub fn begin(programs: &[Pid]) -> Option<Watch> {
        let mut opened = Vec::with_capacity(programs.len());
        for &pid in programs {
            // SAFETY: pidfd_open takes a pid and flags, and returns a new fd.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
            if fd < 0 {
                return None;
            }
            // SAFETY: a descriptor just returned to us, owned by nothing else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            opened.push(Watched {
                pid,
                fd,
                silent_since: None,
            });
        }
        set_no_wait(true).ok()?;
        Some(Watch { programs: opened })
    }

    /// Sends `sig` (queued with `value`, if any) to `pid` through its
    /// pidfd; false when `pid` is not watched.
    pub fn signal(&self, pid: Pid, sig: i32, value: Option<u64>) -> bool {
        let Some(Watched { fd, .. }) = self.programs.iter().find(|w| w.pid == pid) else {
            return false;
        };
        let queued = value.map(|v| QueuedInfo {
            signo: sig,
            code: libc::SI_QUEUE,
            pid: std::process::id() as i32,
            // SAFETY: getuid cannot fail.
            uid: unsafe { libc::getuid() },
            value: v,
            ..QueuedInfo::default()
        });
        let info = queued.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
        // SAFETY: a live pidfd, and a siginfo the size the kernel reads, or none.
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, info, 0) };
        true
    }

    /// The programs that have ended since the last look, each once.
    pub fn ended(&mut self) -> Vec<(Pid, Ending)> {
        let mut fds: Vec<libc::pollfd> = self
            .programs
            .iter()
            .map(|w| libc::pollfd {
                fd: w.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: a live array of pollfds of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        if ready <= 0 {
            return Vec::new();
        }
        let mut ended = Vec::new();
        let mut i = 0;
        for pollfd in fds {
            if pollfd.revents == 0 {
                i += 1;
                continue;
            }
            let w = &mut self.programs[i];
            let found = status(w.pid, &w.fd);
            match verdict(found, &mut w.silent_since, Instant::now()) {
                Some(ending) => {
                    if ending == Ending::Lost {
                        say_lost(w.pid);
                    }
                    ended.push((w.pid, ending));
                    self.programs.remove(i);
                }
                None => i += 1,
            }
        }
        ended
    }

    /// Back to reaping by the init; returns the programs that ended.
    pub fn end(mut self) -> Vec<(Pid, Ending)> {
        // A program that exits from here on is a zombie again, reaped by
        // pid below or by the next sweep; one that exited before is known
        // by its pidfd.
        let _ = set_no_wait(false);
        let mut ended = self.ended();
        // One found ended with no status yet would be watched no more:
        // look again until the kernel gives it, for at most LOST_AFTER
        // (a look that cannot poll finds nothing), then take it as lost.
        let give_up = Instant::now() + LOST_AFTER;
        while self.programs.iter().any(|w| w.silent_since.is_some()) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(1));
            ended.extend(self.ended());
        }
        for w in self.programs.iter().filter(|w| w.silent_since.is_some()) {
            say_lost(w.pid);
            ended.push((w.pid, Ending::Lost));
        }
        ended
    }
}

/// How `pid` ended: a zombie (it exited before `SA_NOCLDWAIT` was set, or
/// after it was cleared) is reaped here; one the kernel reaped is asked of
/// its pidfd.
fn status(pid: Pid, fd: &OwnedFd) -> Option<Ending> {
    if let Some(ending) = reap::one(pid.as_raw()) {
        return Some(ending);
    }
    exit_info(fd).map(reap::ending_of)
}

/// How a program whose pidfd is readable ended: the status `found`, if
/// any; none yet while the kernel has been silent for less than
/// [`LOST_AFTER`] since `silent_since` (set at the first silent look); lost
/// after that.
fn verdict(
    found: Option<Ending>,
    silent_since: &mut Option<Instant>,
    now: Instant,
) -> Option<Ending> {
    if found.is_some() {
        return found;
    }
    let since = *silent_since.get_or_insert(now);
    (now.duration_since(since) >= LOST_AFTER).then_some(Ending::Lost)
}

fn say_lost(pid: Pid) {
    crate::log::say(format_args!(
        "pid {pid}: its pidfd said it ended, and for {} s the kernel gave no exit status \
         for it; taken as lost (exit status 255). A kernel that keeps it (PIDFD_INFO_EXIT, \
         Linux 6.15 or later) avoids this",
        LOST_AFTER.as_secs()
    ));
}

/// The wait status the kernel kept for a reaped process, from its pidfd.
fn exit_info(fd: &OwnedFd) -> Option<i32> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: the ioctl writes at most size_of::<PidfdInfo>() bytes into `info`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), PIDFD_GET_INFO, &mut info) };
    (rc == 0 && info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code)
}

/// SIGCHLD's disposition stays the default (it is blocked and taken with
/// `sigtimedwait`); only `SA_NOCLDWAIT` changes.
fn set_no_wait(on: bool) -> Result<(), Errno> {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = libc::SIG_DFL;
    action.sa_flags = if on { libc::SA_NOCLDWAIT } else { 0 };
    // SAFETY: installs no handler code; the old action is not asked for.
    Errno::result(unsafe { libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()) })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status that comes late is taken as it is; one that never comes is
    /// taken as lost after `LOST_AFTER`, counted from the first silent look.
    #[test]
    fn a_status_the_kernel_never_gives_is_lost_after_a_second() {
        let t0 = Instant::now();
        let mut since = None;
        assert_eq!(verdict(None, &mut since, t0), None);
        assert_eq!(since, Some(t0));
        let late = t0 + Duration::from_millis(5);
        assert_eq!(
            verdict(Some(Ending::Exited(3)), &mut since, late),
            Some(Ending::Exited(3))
        );
        assert_eq!(verdict(None, &mut since, t0 + LOST_AFTER / 2), None);
        assert_eq!(
            verdict(None, &mut since, t0 + LOST_AFTER),
            Some(Ending::Lost)
        );
        assert_eq!(Ending::Lost.code(), 255);
        assert!(!Ending::Lost.success());
    }

    /// Measured against the kernel's version, which is how the feature is
    /// documented: 6.15 or later.
    #[test]
    fn the_kernel_is_asked_whether_it_keeps_a_reaped_status() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        assert_eq!(available(), version >= (6, 15), "kernel {release}");
    }
}
