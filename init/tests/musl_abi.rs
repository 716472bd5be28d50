//! `initlab-init` is built with the glibc flavour of the standard library
//! and of the `libc` crate, and linked against musl (see `build.rs`). That
//! holds only while every structure and constant that crosses into the C
//! library has the same layout and value on both. This test compiles a C
//! program against musl's own headers and compares what it prints with the
//! `libc` crate's definitions, for the types and constants the init, `nix`
//! and the standard library hand to the functions musl provides (the list
//! follows the link map of the binary: signals, fork and exec, signalfd,
//! poll, waitpid, sockets with credentials, stat and readdir, terminals,
//! rlimits).

use std::mem::{offset_of, size_of};
use std::process::Command;

/// Each entry: a name, its value under the `libc` crate, and the C
/// expression musl's headers give for it.
fn expected() -> Vec<(&'static str, i64, &'static str)> {
    macro_rules! size {
        ($rust:ty, $c:literal) => {
            (
                concat!("sizeof ", $c),
                size_of::<$rust>() as i64,
                concat!("sizeof(", $c, ")"),
            )
        };
    }
    macro_rules! field {
        ($rust:ty, $f:ident, $c:literal, $cf:literal) => {
            (
                concat!("offsetof ", $c, ".", $cf),
                offset_of!($rust, $f) as i64,
                concat!("offsetof(", $c, ", ", $cf, ")"),
            )
        };
    }
    macro_rules! constant {
        ($rust:expr, $c:literal) => {
            ($c, $rust as i64, $c)
        };
    }
    vec![
        size!(libc::sigset_t, "sigset_t"),
        size!(libc::siginfo_t, "siginfo_t"),
        size!(libc::sigaction, "struct sigaction"),
        field!(libc::sigaction, sa_mask, "struct sigaction", "sa_mask"),
        field!(libc::sigaction, sa_flags, "struct sigaction", "sa_flags"),
        size!(libc::signalfd_siginfo, "struct signalfd_siginfo"),
        size!(libc::stat, "struct stat"),
        field!(libc::stat, st_mode, "struct stat", "st_mode"),
        field!(libc::stat, st_uid, "struct stat", "st_uid"),
        field!(libc::stat, st_size, "struct stat", "st_size"),
        field!(libc::stat, st_mtime, "struct stat", "st_mtime"),
        size!(libc::dirent64, "struct dirent"),
        field!(libc::dirent64, d_type, "struct dirent", "d_type"),
        field!(libc::dirent64, d_name, "struct dirent", "d_name"),
        size!(libc::msghdr, "struct msghdr"),
        field!(libc::msghdr, msg_iov, "struct msghdr", "msg_iov"),
        field!(libc::msghdr, msg_control, "struct msghdr", "msg_control"),
        field!(libc::msghdr, msg_flags, "struct msghdr", "msg_flags"),
        size!(libc::cmsghdr, "struct cmsghdr"),
        field!(libc::cmsghdr, cmsg_type, "struct cmsghdr", "cmsg_type"),
        size!(libc::ucred, "struct ucred"),
        size!(libc::iovec, "struct iovec"),
        size!(libc::sockaddr_un, "struct sockaddr_un"),
        size!(libc::pollfd, "struct pollfd"),
        size!(libc::rlimit, "struct rlimit"),
        size!(libc::timespec, "struct timespec"),
        size!(libc::termios, "struct termios"),
        field!(libc::termios, c_cc, "struct termios", "c_cc"),
        size!(libc::winsize, "struct winsize"),
        size!(libc::pid_t, "pid_t"),
        size!(libc::uid_t, "uid_t"),
        size!(libc::off_t, "off_t"),
        size!(libc::time_t, "time_t"),
        constant!(libc::SIG_BLOCK, "SIG_BLOCK"),
        constant!(libc::SIG_UNBLOCK, "SIG_UNBLOCK"),
        constant!(libc::SIG_SETMASK, "SIG_SETMASK"),
        constant!(libc::SA_RESTART, "SA_RESTART"),
        constant!(libc::SA_SIGINFO, "SA_SIGINFO"),
        constant!(libc::SI_QUEUE, "SI_QUEUE"),
        constant!(libc::SI_USER, "SI_USER"),
        constant!(libc::SFD_CLOEXEC, "SFD_CLOEXEC"),
        constant!(libc::SFD_NONBLOCK, "SFD_NONBLOCK"),
        constant!(libc::WNOHANG, "WNOHANG"),
        constant!(libc::O_CLOEXEC, "O_CLOEXEC"),
        constant!(libc::O_NONBLOCK, "O_NONBLOCK"),
        constant!(libc::O_DIRECTORY, "O_DIRECTORY"),
        constant!(libc::O_NOFOLLOW, "O_NOFOLLOW"),
        constant!(libc::O_RDWR, "O_RDWR"),
        constant!(libc::F_GETFD, "F_GETFD"),
        constant!(libc::F_SETFD, "F_SETFD"),
        constant!(libc::F_DUPFD_CLOEXEC, "F_DUPFD_CLOEXEC"),
        constant!(libc::FD_CLOEXEC, "FD_CLOEXEC"),
        constant!(libc::AT_FDCWD, "AT_FDCWD"),
        constant!(libc::POLLIN, "POLLIN"),
        constant!(libc::AF_UNIX, "AF_UNIX"),
        constant!(libc::SOCK_DGRAM, "SOCK_DGRAM"),
        constant!(libc::SOCK_CLOEXEC, "SOCK_CLOEXEC"),
        constant!(libc::SOCK_NONBLOCK, "SOCK_NONBLOCK"),
        constant!(libc::SOL_SOCKET, "SOL_SOCKET"),
        constant!(libc::SO_PASSCRED, "SO_PASSCRED"),
        constant!(libc::SCM_CREDENTIALS, "SCM_CREDENTIALS"),
        constant!(libc::SCM_RIGHTS, "SCM_RIGHTS"),
        constant!(libc::MSG_DONTWAIT, "MSG_DONTWAIT"),
        constant!(libc::MSG_CTRUNC, "MSG_CTRUNC"),
        constant!(libc::MSG_TRUNC, "MSG_TRUNC"),
        constant!(libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        constant!(libc::PR_SET_CHILD_SUBREAPER, "PR_SET_CHILD_SUBREAPER"),
        constant!(libc::PR_SET_PDEATHSIG, "PR_SET_PDEATHSIG"),
        constant!(libc::TIOCSCTTY, "TIOCSCTTY"),
        constant!(libc::TIOCGWINSZ, "TIOCGWINSZ"),
        constant!(libc::EINTR, "EINTR"),
        constant!(libc::EAGAIN, "EAGAIN"),
        constant!(libc::ECHILD, "ECHILD"),
        constant!(libc::ENOENT, "ENOENT"),
        constant!(libc::EACCES, "EACCES"),
        constant!(libc::ENOEXEC, "ENOEXEC"),
        constant!(libc::ENOTDIR, "ENOTDIR"),
        constant!(libc::ESRCH, "ESRCH"),
        constant!(libc::EPERM, "EPERM"),
        constant!(libc::ENOSYS, "ENOSYS"),
        constant!(libc::SYS_rt_sigaction, "SYS_rt_sigaction"),
        constant!(libc::SYS_rt_sigprocmask, "SYS_rt_sigprocmask"),
        constant!(libc::_SC_PAGESIZE, "_SC_PAGESIZE"),
        constant!(libc::_SC_CLK_TCK, "_SC_CLK_TCK"),
        constant!(libc::_SC_NPROCESSORS_ONLN, "_SC_NPROCESSORS_ONLN"),
    ]
}

#[test]
fn musl_agrees_with_the_libc_crate_on_every_layout_and_constant_the_init_uses() {
    let entries = expected();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("abi.c");
    let mut c = String::from(
        "#define _GNU_SOURCE\n#include <stddef.h>\n#include <stdio.h>\n#include <signal.h>\n\
         #include <fcntl.h>\n#include <poll.h>\n#include <dirent.h>\n#include <errno.h>\n\
         #include <termios.h>\n#include <unistd.h>\n#include <sys/types.h>\n\
         #include <sys/stat.h>\n#include <sys/wait.h>\n#include <sys/socket.h>\n\
         #include <sys/un.h>\n#include <sys/uio.h>\n#include <sys/signalfd.h>\n\
         #include <sys/resource.h>\n#include <sys/prctl.h>\n#include <sys/ioctl.h>\n\
         #include <sys/syscall.h>\n#include <time.h>\n\
         int main(void) {\n",
    );
    for (name, _, expr) in &entries {
        c.push_str(&format!(
            "  printf(\"%s=%lld\\n\", \"{name}\", (long long)({expr}));\n"
        ));
    }
    c.push_str("  return 0;\n}\n");
    std::fs::write(&source, c).unwrap();
    let program = dir.path().join("abi");
    let compiled = Command::new("musl-gcc")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| {
            panic!("musl-gcc: {e}; install it with `apt-get install musl-tools musl-dev`")
        });
    assert!(
        compiled.status.success(),
        "musl-gcc failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let out = Command::new(&program).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let musl: std::collections::HashMap<&str, i64> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    let differing: Vec<String> = entries
        .iter()
        .filter(|(name, rust, _)| musl.get(name) != Some(rust))
        .map(|(name, rust, _)| format!("{name}: libc crate {rust}, musl {:?}", musl.get(name)))
        .collect();
    assert_eq!(musl.len(), entries.len(), "the C program printed:\n{text}");
    assert!(differing.is_empty(), "{differing:#?}");
}

/// The shipped binary really is the musl one, not a glibc build that a
/// missing library let through.
#[test]
fn the_shipped_init_carries_no_glibc() {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_initlab-init")).unwrap();
    let has = |needle: &[u8]| binary.windows(needle.len()).any(|w| w == needle);
    assert!(
        !has(b"GNU C Library") && !has(b"GLIBC_PRIVATE") && !has(b"glibc.malloc"),
        "initlab-init contains glibc"
    );
    let issue38 = std::fs::read(env!("CARGO_BIN_EXE_initlab-init-issue38")).unwrap();
    assert!(
        issue38.windows(7).any(|w| w == b"glibc.m"),
        "the glibc marker this test looks for is gone from a glibc build: the test would pass on anything"
    );
}
