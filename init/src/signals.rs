//! Signal numbers, names and the two flavours of signal handling.
//!
//! Numbers are raw `i32`s rather than `nix::sys::signal::Signal` because that
//! enum cannot name real-time signals, and an init has to forward those too.

use nix::sys::signal::{SigSet, Signal};

use crate::defects::Defects;

/// Highest signal number on Linux (`SIGRTMAX` as the kernel sees it).
pub const MAX_SIGNAL: i32 = 64;

/// How the init treats signals: the real one, or the cinit issue-38 replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Block every catchable signal for the signalfd, and give each child an
    /// empty mask and default dispositions before exec.
    Clean,
    /// Reproduces cinit <= 1.3.3: block only INT, QUIT, TERM and CHLD for the
    /// signalfd and leave that mask in place across fork and exec.
    Issue38,
    /// `Clean` with known defects switched on, for the harness's own test.
    Mutant(Defects),
}

impl Flavor {
    /// The signals the init blocks before it forks and reads from its signalfd.
    pub fn handled(self) -> SigSet {
        match self {
            // Every signal but 32 and 33, which glibc keeps for its own
            // threads (the kernel never lets SIGKILL or SIGSTOP be blocked).
            // Built from the raw mask because the C libraries' `sigfillset`
            // differ: musl's also leaves out 34, which would then reach the
            // init unblocked and end it. SIGPIPE is left out: it is ignored
            // instead (see `ignore_own`), because the one the init would read
            // is raised by its own write to a dead stderr and must never be
            // forwarded to the children.
            Flavor::Clean | Flavor::Mutant(_) => {
                let reserved = bit(32) | bit(33) | bit(libc::SIGPIPE);
                set_of(!reserved & !(self.defects().unhandled & 0x7fff_ffff))
            }
            Flavor::Issue38 => {
                let mut set = SigSet::empty();
                for sig in [
                    Signal::SIGINT,
                    Signal::SIGQUIT,
                    Signal::SIGTERM,
                    Signal::SIGCHLD,
                ] {
                    set.add(sig);
                }
                set
            }
        }
    }

    /// Signals the init ignores for itself; its children get every
    /// disposition reset to default before exec.
    pub fn ignore_own(self) -> nix::Result<()> {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) }
            .map(drop)
    }

    /// Whether a child's signal mask is emptied between fork and exec. This is
    /// the one place where the issue-38 build differs in what children inherit.
    pub fn resets_child_mask(self) -> bool {
        self != Flavor::Issue38
    }

    pub fn program_name(self) -> &'static str {
        match self {
            Flavor::Clean => "initlab-init",
            Flavor::Issue38 => "initlab-init-issue38",
            Flavor::Mutant(_) => "initlab-init-mutant",
        }
    }

    /// The defects switched on: none but in a mutant.
    pub fn defects(self) -> Defects {
        match self {
            Flavor::Mutant(d) => d,
            _ => Defects::default(),
        }
    }
}

/// A signal taken by [`wait_for`].
pub struct Taken {
    pub signo: i32,
    pub code: i32,
    /// The sender, or for a child's exit notice the child.
    pub pid: i32,
    /// The value it was queued with (`sigqueue`), as a pointer-sized integer.
    pub value: u64,
}

/// Waits up to `timeout` (None: until one comes) for one signal of `set`,
/// which must be blocked, and takes it: `rt_sigtimedwait`. None on timeout or
/// interruption. Without a timeout the kernel arms no timer for the wait.
///
/// The system call is made here, not through the C library: this and the
/// `kill` in `forward` are the whole of forwarding, and an init woken on an
/// idle CPU pays for every page it touches before its `kill` (see the
/// README's latency profile). The C library's wrappers add three pages of
/// code to those two calls.
#[inline(always)]
pub fn wait_for(set: &SigSet, timeout: Option<std::time::Duration>) -> Option<Taken> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    // SAFETY: an all-zero siginfo_t is valid; the kernel fills it in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let ts = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
    let set: *const libc::sigset_t = set.as_ref();
    // SAFETY: valid set, siginfo and timespec (or none) for the duration of
    // the call; the kernel reads only the first KERNEL_SIGSET_SIZE bytes of
    // the C library's larger sigset_t.
    let taken = unsafe {
        syscalls::syscall!(
            syscalls::Sysno::rt_sigtimedwait,
            set,
            std::ptr::from_mut(&mut info),
            ts,
            KERNEL_SIGSET_SIZE
        )
    };
    let signo = i32::try_from(taken.ok()?).ok()?;
    Some(Taken {
        signo,
        code: info.si_code,
        // SAFETY: si_pid is set for every signal a process or the kernel's
        // child notice sends, and zero otherwise.
        pid: unsafe { info.si_pid() },
        // SAFETY: si_value is meaningful for queued signals and harmlessly
        // zero or stale for the rest, whose value is never used.
        value: unsafe { info.si_value() }.sival_ptr as usize as u64,
    })
}

/// Sends `sig` to the process `pid` (a group when negative): `kill`, made
/// here for the reason given at [`wait_for`]. Whether it arrived is not
/// asked: a program that has just ended has nothing left to signal.
#[inline(always)]
pub fn forward(pid: i32, sig: i32) {
    // SAFETY: kill has no memory effects on this process.
    let _ = unsafe { syscalls::syscall!(syscalls::Sysno::kill, pid, sig) };
}

/// The time on the monotonic clock (the one [`std::time::Instant`] reads),
/// in nanoseconds,
/// asked of the kernel directly for the reason given at [`wait_for`]: the
/// C library's way through the vDSO is four more pages to touch between two
/// forwarded signals while the init is stopping.
#[inline(always)]
pub fn clock_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the kernel to fill in. CLOCK_MONOTONIC
    // cannot fail, and on the zero time left there a wait would only end
    // early.
    let _ = unsafe {
        syscalls::syscall!(
            syscalls::Sysno::clock_gettime,
            libc::CLOCK_MONOTONIC,
            std::ptr::from_mut(&mut now)
        )
    };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// The size of the kernel's signal set, which system calls take beside it:
/// one bit for each of the 64 signals.
const KERNEL_SIGSET_SIZE: usize = (MAX_SIGNAL / 8) as usize;

/// The bit of `sig` in a kernel signal mask.
pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// The set of the signals in a kernel mask (bit n-1 for signal n), built
/// without the C library's helpers, which refuse the signals they reserve.
pub fn set_of(mask: u64) -> SigSet {
    // SAFETY: an all-zero sigset_t is the empty set.
    let mut raw: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: on Linux a sigset_t begins with the kernel's 64-bit mask, and
    // is at least that large.
    unsafe { std::ptr::write_unaligned(std::ptr::addr_of_mut!(raw).cast::<u64>(), mask) };
    // SAFETY: any bits of the first word are a valid set.
    unsafe { SigSet::from_sigset_t_unchecked(raw) }
}

const NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// `SIGTERM`, `SIGRTMIN+3`, or `SIG32`/`SIG33` for glibc's reserved pair,
/// whose "real-time" status is a libc convention rather than a kernel one.
pub fn name(sig: i32) -> String {
    match sig {
        1..=31 => format!("SIG{}", NAMES[(sig - 1) as usize]),
        32 | 33 => format!("SIG{sig}"),
        34 => "SIGRTMIN".to_string(),
        35..=63 => format!("SIGRTMIN+{}", sig - 34),
        64 => "SIGRTMAX".to_string(),
        _ => format!("signal {sig}"),
    }
}

/// The signals in a `/proc/<pid>/status` mask such as `SigBlk`, where bit
/// n-1 stands for signal n.
pub fn decode_mask(mask: u64) -> Vec<i32> {
    (1..=MAX_SIGNAL)
        .filter(|&sig| mask & bit(sig) != 0)
        .collect()
}

/// `SIGINT,SIGQUIT,SIGTERM,SIGCHLD`, or `-` for an empty mask.
pub fn describe_mask(mask: u64) -> String {
    let names: Vec<String> = decode_mask(mask).into_iter().map(name).collect();
    if names.is_empty() {
        "-".to_string()
    } else {
        names.join(",")
    }
}

/// Signals the kernel raises synchronously on a fault. Such a signal reaching
/// the signalfd can only have been sent by someone (a fault in the init would
/// have killed it, since these are blocked), but the check keeps the rule
/// explicit: forward them only when `si_code` says a process sent them.
#[inline(always)]
pub fn is_fault_signal(sig: i32) -> bool {
    // A mask, not a list: a list is a table in read-only data, one more page
    // for every forwarded signal to touch.
    const FAULTS: u64 = bit(libc::SIGILL)
        | bit(libc::SIGTRAP)
        | bit(libc::SIGBUS)
        | bit(libc::SIGFPE)
        | bit(libc::SIGSEGV)
        | bit(libc::SIGSYS);
    (1..=MAX_SIGNAL).contains(&sig) && FAULTS & bit(sig) != 0
}

/// `si_code` values at or below zero (SI_USER, SI_QUEUE, SI_TKILL, ...) mean a
/// process sent the signal; positive ones mean the kernel generated it.
#[inline(always)]
pub fn sent_by_process(si_code: i32) -> bool {
    si_code <= 0
}

/// `sig` is pending for the process: blocked, sent, and not yet taken.
pub fn is_pending(sig: i32) -> bool {
    // SAFETY: an all-zero sigset_t is valid; sigpending fills it in.
    let mut raw: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the first 64 bits of a sigset_t are the kernel's mask.
    unsafe {
        libc::sigpending(&mut raw) == 0
            && std::ptr::read_unaligned(std::ptr::addr_of!(raw).cast::<u64>()) & bit(sig) != 0
    }
}

/// `si_code` says the kernel sent this SIGCHLD for a child that ended
/// (not one that stopped or went on, and not a process's kill): then its
/// `si_pid` names a child of the init. No process can forge the code: the
/// kernel refuses a non-negative one queued by one process to another
/// (rt_sigqueueinfo(2)).
pub fn is_exit_notice(si_code: i32) -> bool {
    matches!(
        si_code,
        libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(1, "SIGHUP")]
    #[case(15, "SIGTERM")]
    #[case(17, "SIGCHLD")]
    #[case(31, "SIGSYS")]
    #[case(32, "SIG32")]
    #[case(34, "SIGRTMIN")]
    #[case(36, "SIGRTMIN+2")]
    #[case(64, "SIGRTMAX")]
    fn names(#[case] sig: i32, #[case] expected: &str) {
        assert_eq!(name(sig), expected);
    }

    #[test]
    fn issue_38_mask_decodes_as_in_the_report() {
        assert_eq!(decode_mask(0x14006), vec![2, 3, 15, 17]);
        assert_eq!(describe_mask(0x14006), "SIGINT,SIGQUIT,SIGTERM,SIGCHLD");
        assert_eq!(describe_mask(0), "-");
    }

    #[test]
    fn issue_38_flavor_blocks_exactly_the_reported_four() {
        let set = Flavor::Issue38.handled();
        let blocked: Vec<i32> = (1..=31)
            .filter(|n| Signal::try_from(*n).is_ok_and(|s| set.contains(s)))
            .collect();
        assert_eq!(blocked, vec![2, 3, 15, 17]);
    }

    #[test]
    fn the_fault_signals_are_the_six_the_kernel_raises_and_no_other_number() {
        let faults: Vec<i32> = (-2..=70).filter(|&s| is_fault_signal(s)).collect();
        assert_eq!(faults, vec![4, 5, 7, 8, 11, 31]);
    }

    /// A signal raised at this thread, blocked here, is taken by the wait
    /// with its number and who sent it; with none pending a zero timeout
    /// ends the wait empty.
    #[test]
    fn wait_for_takes_a_pending_signal_and_times_out_on_none() {
        let mut set = SigSet::empty();
        set.add(Signal::SIGURG);
        set.thread_block().unwrap();
        let zero = Some(std::time::Duration::ZERO);
        assert!(wait_for(&set, zero).is_none());
        nix::sys::signal::raise(Signal::SIGURG).unwrap();
        let taken = wait_for(&set, zero).expect("the raised SIGURG is pending");
        assert_eq!(taken.signo, libc::SIGURG);
        assert_eq!(taken.pid, std::process::id() as i32);
        assert!(sent_by_process(taken.code), "si_code {}", taken.code);
        assert!(wait_for(&set, zero).is_none(), "taken once");
        set.thread_unblock().unwrap();
    }

    /// The waits' clock is the one `Instant` reads: two readings of it
    /// bracket a reading of the other.
    #[test]
    fn clock_ns_reads_the_monotonic_clock() {
        let ns =
            |t: nix::sys::time::TimeSpec| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64;
        let mono = || ns(nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap());
        let (a, b, c) = (clock_ns(), mono(), clock_ns());
        assert!(a <= b && b <= c, "{a} {b} {c}");
        assert!(c - a < 1_000_000_000);
    }
}
