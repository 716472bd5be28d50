//! Everything between fork and exec, in one place.
//!
//! This is the contract of the init: a child starts the way a shell would
//! start it. Between fork and exec it gets its own process group (and the
//! terminal's foreground when the init had it), credentials when configured
//! (supplementary groups, then gid, then uid), its working directory, only
//! fds 0, 1 and 2 unless told to keep what the init inherited, every signal
//! 1..=64 at its default disposition and, for the clean flavour, an empty
//! signal mask.
//!
//! Only async-signal-safe system calls run in the child: the init is a Rust
//! program and the allocator's locks may be held by nobody after fork, but
//! the rule costs nothing to keep. Everything the child needs (C strings,
//! pointer arrays, numbers) is prepared by [`Prepared::new`] before the fork.
//! That is why the child side calls `libc` directly: nix's `execve` and
//! `chdir` may allocate.
//!
//! Children are started with fork + exec, never `posix_spawn`: on glibc a
//! posix_spawned process starts with signals 32 and 33 ignored.

use std::cell::UnsafeCell;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::unistd::{ForkResult, Pid};

use crate::signals::{bit, MAX_SIGNAL};

/// Who a child runs as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, as `setgroups` takes them.
    pub groups: Vec<u32>,
}

/// What to start: the pieces of an `execve` plus the state around it.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// A path, or a name looked up in the child's `PATH`. A relative path is
    /// taken from `workdir`, as it is when the child execs it.
    pub program: OsString,
    /// The whole argv, `argv[0]` included.
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    /// Hand the child the init's own environment as it is, instead of
    /// `env`: single mode, where copying it cost a hundred allocations and
    /// a dozen page faults at every start.
    pub inherit_env: bool,
    pub workdir: Option<PathBuf>,
    pub credentials: Option<Credentials>,
    /// Leave the signal mask as inherited (the issue-38 build).
    pub keep_mask: bool,
    /// Signals the child starts with blocked, and ignored, on top of the
    /// clean state: defects for the mutant build only (see `defects`).
    pub defect_blocked: u64,
    pub defect_ignored: u64,
    /// Pass on every descriptor the init inherited (single mode, as tini and
    /// catatonit do); otherwise only 0, 1 and 2 survive. The init's own
    /// descriptors are close-on-exec and never reach a child either way.
    pub keep_fds: bool,
    /// Socket activation: when `LISTEN_PID` in `env` names the init, the
    /// child gets its own pid there instead, so that the fds it inherits are
    /// taken as meant for it (sd_listen_fds(3) checks exactly that).
    pub rewrite_listen_pid: bool,
    /// Descriptors to install as the child's stdin, stdout and stderr; `None`
    /// keeps what the parent has. The caller keeps them open until spawn returns.
    pub stdio: [Option<RawFd>; 3],
    /// Start the child as PID 1 of a fresh PID and mount namespace with its own
    /// `/proc` (needs CAP_SYS_ADMIN). The init never does this; the harness
    /// uses it to run an init as PID 1 without a container engine, and only
    /// a build with the `pid-namespace` feature (the harness's) has the code.
    pub new_pid_namespace: bool,
}

/// Why a child could not be started. The numbers match what a shell reports.
#[derive(Debug)]
pub enum StartError {
    NotFound(String),
    NotExecutable(String, Errno),
    /// A step in the child failed before exec.
    Setup(&'static str, Errno),
    /// fork, pipe or a string with a NUL byte: the init could not even try.
    Init(String),
}

impl StartError {
    /// 127 for "not found", 126 for everything else, as POSIX shells do.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::NotFound(_) => 127,
            _ => 126,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NotFound(p) => write!(f, "{p}: command not found"),
            StartError::NotExecutable(p, e) => write!(f, "{p}: cannot execute: {}", e.desc()),
            StartError::Setup(step, e) => write!(f, "cannot {step}: {}", e.desc()),
            StartError::Init(msg) => write!(f, "{msg}"),
        }
    }
}

/// A child just forked, and what will tell whether it reached exec.
#[derive(Debug)]
pub struct Started {
    pub pid: Pid,
    pub exec: ExecReport,
}

/// The read end of a child's close-on-exec error pipe: it closes empty when
/// the child execs, and holds the failed step and errno when it does not.
#[derive(Debug)]
pub struct ExecReport {
    pipe: std::os::fd::OwnedFd,
    display: String,
}

/// Readable without blocking once the child has exec'd, failed, or ended.
impl std::os::fd::AsFd for ExecReport {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.pipe.as_fd()
    }
}

impl ExecReport {
    /// Blocks until the child has exec'd (Ok) or failed before it; at once
    /// when the child has already ended.
    pub fn outcome(self) -> Result<(), StartError> {
        let mut report = [0u8; 8];
        if read_full(self.pipe.as_raw_fd(), &mut report) < report.len() {
            return Ok(());
        }
        let step = u32::from_ne_bytes(report[..4].try_into().unwrap_or_default());
        let errno = Errno::from_raw(i32::from_ne_bytes(
            report[4..].try_into().unwrap_or_default(),
        ));
        Err(match (step, errno) {
            (STEP_EXEC, Errno::ENOENT) => StartError::NotFound(self.display),
            (STEP_EXEC, e) => StartError::NotExecutable(self.display, e),
            (s, e) => StartError::Setup(STEPS[(s as usize).min(STEPS.len() - 1)], e),
        })
    }
}

/// Steps reported through the error pipe, so the parent can say which failed.
const STEPS: [&str; 7] = [
    "set the process group",
    "set the user and group",
    "change to the working directory",
    "close inherited descriptors",
    "execute",
    "redirect standard descriptors",
    "set up the PID namespace",
];
const STEP_EXEC: u32 = 4;
const STEP_STDIO: u32 = 5;
const STEP_NAMESPACE: u32 = 6;

/// A launch with every allocation done: safe to use after fork.
pub struct Prepared {
    display: String,
    path: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    /// Written in the child only (its own copy), to point at `LISTEN_PID`.
    env_ptrs: UnsafeCell<Vec<*const libc::c_char>>,
    listen_pid_slot: Option<usize>,
    workdir: Option<CString>,
    credentials: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    keep_mask: bool,
    defect_blocked: u64,
    defect_ignored: u64,
    keep_fds: bool,
    take_terminal: bool,
    fd_ceiling: libc::c_int,
    stdio: [Option<RawFd>; 3],
    new_pid_namespace: bool,
}

fn cstring(bytes: &OsStr, what: &str) -> Result<CString, StartError> {
    CString::new(bytes.as_bytes())
        .map_err(|_| StartError::Init(format!("{what} contains a NUL byte: {bytes:?}")))
}

extern "C" {
    /// The process's environment, as the C library keeps it.
    static environ: *const *const libc::c_char;
}

/// The pointers of the init's own environment, which lives as long as the
/// process: the init never changes its environment.
fn inherited_environment() -> Vec<*const libc::c_char> {
    let mut ptrs = Vec::new();
    // SAFETY: `environ` is a NULL-terminated array of C strings, or NULL.
    unsafe {
        let mut at = environ;
        while !at.is_null() && !(*at).is_null() {
            ptrs.push(*at);
            at = at.add(1);
        }
    }
    ptrs
}

/// Finds `program` the way `execvp` would, but before the fork, where
/// allocating is allowed. Relative names are taken from `workdir`, where the
/// child will be when it execs.
fn resolve(
    program: &OsStr,
    path_var: Option<&OsStr>,
    workdir: Option<&Path>,
) -> Result<PathBuf, StartError> {
    let shown = program.to_string_lossy().into_owned();
    // The current directory is asked for only when a relative path needs
    // it: with an absolute PATH, never.
    let from_base = |p: PathBuf| -> PathBuf {
        if p.is_absolute() {
            return p;
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        match workdir {
            Some(dir) => cwd.join(dir).join(p),
            None => cwd.join(p),
        }
    };
    if program.as_bytes().contains(&b'/') {
        // Kept as given: the child resolves it after its chdir.
        return if from_base(PathBuf::from(program)).exists() {
            Ok(PathBuf::from(program))
        } else {
            Err(StartError::NotFound(shown))
        };
    }
    let search = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    let mut present = None;
    for dir in std::env::split_paths(search) {
        // An empty entry means the current directory, as for execvp.
        let mut candidate = from_base(dir);
        candidate.push(program);
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        present.get_or_insert(candidate);
    }
    // A file that exists on PATH but is not executable is "permission
    // denied" (126) to a shell, not "not found".
    Err(match present {
        Some(p) => StartError::NotExecutable(p.display().to_string(), Errno::EACCES),
        None => StartError::NotFound(shown),
    })
}

impl Prepared {
    pub fn new(launch: &Launch) -> Result<Prepared, StartError> {
        if launch.new_pid_namespace && !cfg!(feature = "pid-namespace") {
            return Err(StartError::Init(
                "this build cannot start a PID namespace (feature `pid-namespace`)".into(),
            ));
        }
        let path_var = if launch.inherit_env {
            std::env::var_os("PATH")
        } else {
            launch
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
        };
        let path = resolve(
            &launch.program,
            path_var.as_deref(),
            launch.workdir.as_deref(),
        )?;
        let argv: Vec<CString> = launch
            .argv
            .iter()
            .map(|a| cstring(a, "an argument"))
            .collect::<Result<_, _>>()?;
        let env: Vec<CString> = launch
            .env
            .iter()
            .map(|(k, v)| {
                let mut kv = k.clone();
                kv.push("=");
                kv.push(v);
                cstring(&kv, "an environment variable")
            })
            .collect::<Result<_, _>>()?;
        let workdir = match &launch.workdir {
            Some(dir) => Some(cstring(dir.as_os_str(), "the working directory")?),
            None => None,
        };
        let mut argv_ptrs: Vec<_> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut env_ptrs: Vec<_> = if launch.inherit_env {
            inherited_environment()
        } else {
            env.iter().map(|a| a.as_ptr()).collect()
        };
        env_ptrs.push(std::ptr::null());
        let listen_pid_slot = if launch.rewrite_listen_pid {
            let entry = format!("LISTEN_PID={}", std::process::id());
            env_ptrs.iter().position(|&p| {
                // SAFETY: every pointer but the last is a live C string.
                !p.is_null() && unsafe { CStr::from_ptr(p) }.to_bytes() == entry.as_bytes()
            })
        } else {
            None
        };
        Ok(Prepared {
            display: path.display().to_string(),
            path: cstring(path.as_os_str(), "the program path")?,
            _argv: argv,
            argv_ptrs,
            _env: env,
            env_ptrs: UnsafeCell::new(env_ptrs),
            listen_pid_slot,
            workdir,
            credentials: launch
                .credentials
                .as_ref()
                .map(|c| (c.uid, c.gid, c.groups.clone())),
            keep_mask: launch.keep_mask,
            defect_blocked: launch.defect_blocked,
            defect_ignored: launch.defect_ignored,
            keep_fds: launch.keep_fds,
            take_terminal: launch.stdio[0].is_none() && owns_terminal_foreground(),
            fd_ceiling: fd_ceiling(),
            stdio: launch.stdio,
            new_pid_namespace: launch.new_pid_namespace,
        })
    }

    /// A fresh PID namespace was asked for, and this build can make one.
    fn in_new_namespace(&self) -> bool {
        cfg!(feature = "pid-namespace") && self.new_pid_namespace
    }

    /// Forks and execs. Returns once the child has exec'd (or failed to, and
    /// been collected).
    pub fn spawn(&self) -> Result<Pid, StartError> {
        let started = self.start()?;
        match started.exec.outcome() {
            Ok(()) => Ok(started.pid),
            Err(e) => {
                // The child failed before exec and exits at once; collect it
                // here so the reaper never mistakes it for a program that ran.
                // One stopped between its report and its exit is killed
                // rather than waited for without end; one that a tracer
                // still holds then is left to the reaper.
                let second = std::time::Duration::from_secs(1);
                if !crate::reap::within(started.pid.as_raw(), second) {
                    let _ = nix::sys::signal::kill(started.pid, nix::sys::signal::Signal::SIGKILL);
                    crate::reap::within(started.pid.as_raw(), second);
                }
                Err(e)
            }
        }
    }

    /// Forks, and returns at once: the child may still be on its way to
    /// exec. Whether it got there is in [`Started::exec`].
    ///
    /// An init that waited here would be woken by the child's exec, mostly
    /// on the child's CPU, and wait there, runnable, while the new program
    /// starts up: a few hundred microseconds that the kernel's scheduler
    /// (EEVDF) owes it back as lag. With that credit the init, woken by the
    /// next few hundred signals, preempts their sender, and the child it
    /// wakes is sent to another, idle CPU: traced with `perf`, SIGTERM took
    /// 37.5 µs against catatonit's 31.2, and 31.1 without the wait.
    pub fn start(&self) -> Result<Started, StartError> {
        let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| StartError::Init(format!("cannot create a pipe: {}", e.desc())))?;
        // SAFETY: the child runs only `exec_child`, which makes async-signal-safe
        // system calls on data prepared before the fork, then execs or exits.
        match unsafe { self.fork() } {
            Err(e) => Err(StartError::Init(format!("cannot fork: {}", e.desc()))),
            Ok(ForkResult::Child) => {
                // SAFETY: see above; this never returns.
                unsafe { self.exec_child(write_end.as_raw_fd(), true) }
            }
            Ok(ForkResult::Parent { child }) => {
                drop(write_end);
                // Set the group from the parent too, so a signal sent to the
                // group right after spawn cannot race the child's own setpgid.
                let _ = nix::unistd::setpgid(child, child);
                Ok(Started {
                    pid: child,
                    exec: ExecReport {
                        pipe: read_end,
                        display: self.display.clone(),
                    },
                })
            }
        }
    }

    /// Execs in this very process, with everything a child would get: for
    /// an init that execs into its command (the mutant `exec`). Returns only
    /// when exec failed, having exited 126 or 127.
    ///
    /// # Safety
    /// Only in a single-threaded process, as after fork.
    pub unsafe fn exec_here(&self) -> ! {
        // SAFETY: forwarded; -1 is no report pipe, so failures only exit. The
        // process keeps its group: it may lead a session (a container's
        // PID 1 does), where setpgid is refused.
        unsafe { self.exec_child(-1, false) }
    }

    /// fork(), or for a new PID namespace a raw clone() with fork's
    /// semantics (no new stack): glibc's fork cannot create namespaces, and
    /// unshare(CLONE_NEWPID) would put only the grandchild in the namespace.
    ///
    /// # Safety
    /// As for fork: the child may only make async-signal-safe calls.
    unsafe fn fork(&self) -> nix::Result<ForkResult> {
        if !self.in_new_namespace() {
            // SAFETY: forwarded to the caller.
            return unsafe { nix::unistd::fork() };
        }
        let flags = (libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::SIGCHLD) as libc::c_ulong;
        // SAFETY: clone with a null stack continues on a copy of ours, like fork.
        let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
        match pid {
            -1 => Err(Errno::last()),
            0 => Ok(ForkResult::Child),
            pid => Ok(ForkResult::Parent {
                child: Pid::from_raw(pid as libc::pid_t),
            }),
        }
    }

    /// The child side. Never returns.
    ///
    /// # Safety
    /// Call only in a freshly forked child.
    unsafe fn exec_child(&self, report: RawFd, own_group: bool) -> ! {
        let fail = |step: u32| -> ! {
            let errno = Errno::last_raw();
            let mut msg = [0u8; 8];
            msg[..4].copy_from_slice(&step.to_ne_bytes());
            msg[4..].copy_from_slice(&errno.to_ne_bytes());
            // SAFETY: write and _exit are async-signal-safe.
            unsafe {
                libc::write(report, msg.as_ptr().cast(), msg.len());
                libc::_exit(if step == STEP_EXEC && errno == libc::ENOENT {
                    127
                } else {
                    126
                })
            }
        };
        // SAFETY (whole block): plain system calls on prepared data.
        unsafe {
            if self.in_new_namespace() && !mount_own_proc() {
                fail(STEP_NAMESPACE);
            }
            if own_group && libc::setpgid(0, 0) != 0 {
                fail(0);
            }
            if own_group && self.take_terminal {
                // SIGTTOU is still blocked here (inherited from the init), so
                // taking the foreground from a background group cannot stop us.
                libc::tcsetpgrp(0, libc::getpid());
            }
            if let Some((uid, gid, groups)) = &self.credentials {
                // An unprivileged init already running as that user (started
                // with `docker --user`) has nothing to change, and its
                // setgroups would fail. A root init always sets all three.
                let unprivileged_already = libc::geteuid() != 0
                    && libc::geteuid() == *uid
                    && libc::getuid() == *uid
                    && libc::getegid() == *gid
                    && libc::getgid() == *gid;
                if !unprivileged_already
                    && (libc::setgroups(groups.len(), groups.as_ptr()) != 0
                        || libc::setgid(*gid) != 0
                        || libc::setuid(*uid) != 0)
                {
                    fail(1);
                }
            }
            if let Some(dir) = &self.workdir {
                if libc::chdir(dir.as_ptr()) != 0 {
                    fail(2);
                }
            }
            for (target, fd) in self.stdio.iter().enumerate() {
                let Some(fd) = *fd else { continue };
                let target = target as RawFd;
                // dup2 onto itself would keep close-on-exec set: clear it instead.
                let ok = if fd == target {
                    libc::fcntl(fd, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(fd, target) == target
                };
                if !ok {
                    fail(STEP_STDIO);
                }
            }
            if !self.keep_fds && close_from(3, report, self.fd_ceiling).is_err() {
                fail(3);
            }
            // Lives until execve, which copies it.
            let mut listen_pid = [0u8; 32];
            if let Some(slot) = self.listen_pid_slot {
                write_listen_pid(&mut listen_pid, libc::getpid());
                // SAFETY: this is the child's own copy of the array, and
                // nothing else reads it before execve.
                (&mut *self.env_ptrs.get())[slot] = listen_pid.as_ptr().cast();
            }
            reset_dispositions();
            if !self.keep_mask {
                let empty = SigSet::empty();
                let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&empty), None);
            }
            if self.defect_blocked | self.defect_ignored != 0 {
                plant_defects(self.defect_blocked, self.defect_ignored);
            }
            libc::execve(
                self.path.as_ptr(),
                self.argv_ptrs.as_ptr(),
                (&*self.env_ptrs.get()).as_ptr(),
            );
            fail(STEP_EXEC)
        }
    }
}

/// `LISTEN_PID=<pid>` and a NUL into `buf`, without allocating.
fn write_listen_pid(buf: &mut [u8; 32], pid: libc::pid_t) {
    const KEY: &[u8] = b"LISTEN_PID=";
    buf[..KEY.len()].copy_from_slice(KEY);
    let mut digits = [0u8; 12];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[KEY.len() + i] = digits[len - 1 - i];
    }
    buf[KEY.len() + len] = 0;
}

/// In a fresh mount namespace: stop mount events from propagating to the
/// parent namespace, then mount a `/proc` that shows this PID namespace.
fn mount_own_proc() -> bool {
    // SAFETY: mount with static, NUL-terminated strings.
    unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) == 0
            && libc::mount(
                c"proc".as_ptr(),
                c"/proc".as_ptr(),
                c"proc".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                std::ptr::null(),
            ) == 0
    }
}

/// Reads until `buf` is full or the writer is gone; returns the bytes read.
fn read_full(fd: RawFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reading into our own buffer.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        match n {
            0 => break,
            n if n > 0 => got += n as usize,
            _ if Errno::last() == Errno::EINTR => continue,
            _ => break,
        }
    }
    got
}

/// Closes every fd from `first` up, except `keep` (the error pipe, which is
/// close-on-exec and must survive until exec).
fn close_from(first: RawFd, keep: RawFd, ceiling: libc::c_int) -> Result<(), ()> {
    let range = |lo: RawFd, hi: libc::c_uint| -> bool {
        // SAFETY: close_range only closes descriptors.
        lo as libc::c_uint > hi
            || unsafe { libc::syscall(libc::SYS_close_range, lo as libc::c_uint, hi, 0) } == 0
    };
    let below = (keep - 1) as libc::c_uint;
    if range(first, below) && range(keep + 1, libc::c_uint::MAX) {
        return Ok(());
    }
    if Errno::last() != Errno::ENOSYS {
        return Err(());
    }
    // Kernels before 5.9 have no close_range: close one by one.
    for fd in first..ceiling {
        if fd != keep {
            // SAFETY: closing a descriptor that may or may not be open.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
}

/// Sets every signal to SIG_DFL through the raw system call, because glibc's
/// `sigaction` refuses signals 32 and 33 and those may arrive ignored (a
/// posix_spawned parent leaves them so).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn reset_dispositions() {
    for sig in 1..=MAX_SIGNAL {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_disposition(sig, libc::SIG_DFL);
        }
    }
}

/// The raw `rt_sigaction`, which reaches signals 32 and 33 too.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn set_disposition(sig: i32, handler: libc::sighandler_t) {
    // The kernel's `struct sigaction` on these architectures (with
    // SA_RESTORER); SIG_DFL and SIG_IGN need no restorer.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let action = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: installs SIG_DFL or SIG_IGN; size is the kernel sigset's.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        );
    }
}

/// The mutant build's defects: signals left blocked or ignored in the
/// child, written as raw masks so that 32 and 33 can be among them.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn plant_defects(blocked: u64, ignored: u64) {
    for sig in 1..=MAX_SIGNAL {
        if ignored & bit(sig) != 0 {
            set_disposition(sig, libc::SIG_IGN);
        }
    }
    // SAFETY: blocks the given kernel sigset; no memory is written.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &blocked as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        );
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn plant_defects(_blocked: u64, _ignored: u64) {}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn reset_dispositions() {
    for sig in 1..=MAX_SIGNAL {
        // SAFETY: installs the default disposition; 32 and 33 fail with EINVAL.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// True when fd 0 is a terminal whose foreground group is ours: then the child
/// takes the foreground so Ctrl-C and job control reach it as under a shell.
fn owns_terminal_foreground() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

fn fd_ceiling() -> libc::c_int {
    let (soft, _) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap_or((1024, 1024));
    soft.min(1 << 20) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_pid_is_written_without_allocating() {
        let mut buf = [0xffu8; 32];
        write_listen_pid(&mut buf, 4_194_304);
        assert_eq!(&buf[..19], b"LISTEN_PID=4194304\0");
        write_listen_pid(&mut buf, 7);
        assert_eq!(&buf[..13], b"LISTEN_PID=7\0");
    }

    #[test]
    fn a_failed_spawn_says_why_and_leaves_no_child() {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-executable");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let launch = Launch {
            program: file.clone().into(),
            argv: vec![file.into()],
            ..Launch::default()
        };
        let prepared = Prepared::new(&launch).unwrap();
        // In a process of its own, so that "no child left" is about the
        // spawn alone, not the other tests' children.
        // SAFETY: the child runs the spawn and exits; glibc's fork leaves
        // the allocator usable in it.
        match unsafe { nix::unistd::fork() }.unwrap() {
            ForkResult::Child => {
                let said = matches!(prepared.spawn(), Err(StartError::NotExecutable(..)));
                let none_left = waitpid(None, Some(WaitPidFlag::WNOHANG)) == Err(Errno::ECHILD);
                // SAFETY: ends this forked test process.
                unsafe { libc::_exit(i32::from(!said) + 2 * i32::from(!none_left)) }
            }
            ForkResult::Parent { child } => {
                let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
                let status = loop {
                    match waitpid(child, Some(WaitPidFlag::WNOHANG)).unwrap() {
                        WaitStatus::StillAlive if std::time::Instant::now() < end => {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        status => break status,
                    }
                };
                // 1: not said as not executable; 2: a child was left.
                assert_eq!(status, WaitStatus::Exited(child, 0));
            }
        }
    }

    #[test]
    fn a_relative_path_is_taken_from_the_workdir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("initlab-srv"), "").unwrap();
        let found = resolve(OsStr::new("./initlab-srv"), None, Some(dir.path())).unwrap();
        assert_eq!(found, PathBuf::from("./initlab-srv"));
        assert!(matches!(
            resolve(OsStr::new("./initlab-srv"), None, Some(Path::new("/"))),
            Err(StartError::NotFound(_))
        ));
    }
}
