//! Descriptors: single mode hands on what the init inherited (and socket
//! activation with it); config mode gives 0, 1 and 2 only; the init's own
//! descriptors never reach a child.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use common::*;

fn fds(pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// What `fd` of `pid` is open on, and whether it is close-on-exec.
fn describe(pid: i32, fd: i32) -> (String, bool) {
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    let flags = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u64::from_str_radix(f.trim(), 8).ok())
        .unwrap_or(0);
    (target, flags & libc::O_CLOEXEC as u64 != 0)
}

/// `sleep` started by the init, with fd 7 inherited by the init; returns the
/// init's fd list, the settled fd list of the child (sleep opens and
/// closes files as it starts, a leaked descriptor stays), and what the
/// init's descriptors other than 0, 1, 2 and 7 are.
fn init_and_child_fds(args: &[&str]) -> (Vec<i32>, Vec<i32>, Vec<(String, bool)>) {
    let mut cmd = command(INIT, Env::Direct, args);
    // The init starts with exactly 0, 1, 2 and 7: whatever else the test
    // runner left open (a jobserver pipe) is closed first.
    // SAFETY: dup2 and close_range are async-signal-safe; the copy is not
    // close-on-exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::dup2(2, 7);
            libc::syscall(libc::SYS_close_range, 3u32, 6u32, 0u32);
            libc::syscall(libc::SYS_close_range, 8u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let live = Live::start(cmd, Env::Direct);
    let init = live.init_pid();
    let child = wait_for("the child", Duration::from_secs(10), || {
        children_of(init).first().copied()
    });
    wait_for("sleep to settle", Duration::from_secs(10), || {
        let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
        (comm == "sleep\n").then_some(())
    });
    std::thread::sleep(Duration::from_millis(100));
    // Looked at once the child has exec'd and settled.
    let own = fds(init);
    assert!(own.contains(&7), "the init did inherit fd 7: {own:?}");
    let extra = own
        .iter()
        .filter(|fd| ![0, 1, 2, 7].contains(*fd))
        .map(|&fd| describe(init, fd))
        .collect();
    (own, fds(child), extra)
}

/// Waiting only for signals, the single-mode init holds one descriptor of
/// its own: the read end of the child's exec-status pipe, kept, unread,
/// until the child ends (waiting on it would wake the init at the child's
/// exec). It is close-on-exec, and the child has only what the init
/// inherited.
#[test]
fn single_mode_hands_on_inherited_descriptors_and_nothing_of_its_own() {
    let (init, child, extra) = init_and_child_fds(&["--", "sleep", "30"]);
    assert_eq!(child, [0, 1, 2, 7]);
    assert_eq!(
        init.len(),
        5,
        "the init's descriptors: {init:?} ({extra:?})"
    );
    let (target, cloexec) = &extra[0];
    assert!(target.starts_with("pipe:"), "{extra:?}");
    assert!(cloexec, "{extra:?}");
}

#[test]
fn config_mode_gives_only_the_standard_three() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        "programs:\n  - {name: s, type: notify, path: sleep, args: ['30']}\n",
    )
    .unwrap();
    let (init, child, _) = init_and_child_fds(&["-c", cfg.to_str().unwrap()]);
    assert!(
        init.iter().any(|&fd| fd > 7 || (3..7).contains(&fd)),
        "the init holds descriptors of its own (its signalfd, the notify socket): {init:?}"
    );
    assert_eq!(child, [0, 1, 2]);
}

/// `cat /dev/fd/3 3<file` works through the init, as through a shell.
#[test]
fn a_redirected_descriptor_reaches_the_command() {
    let out = assert_cmd::Command::new("sh")
        .args([
            "-c",
            &format!("echo through > \"$T\"; exec {INIT} -- cat /dev/fd/3 3<\"$T\""),
        ])
        .env("T", tempfile::NamedTempFile::new().unwrap().path())
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through\n", "{out:?}");
}

/// A listening socket passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID naming
/// the init reaches the child with LISTEN_PID rewritten to the child's pid,
/// and the child serves on it.
#[test]
fn socket_activation_passes_the_socket_and_rewrites_listen_pid() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let mut cmd = std::process::Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "LISTEN_PID=$$ LISTEN_FDS=1 exec {INIT} -- {} {}",
            python(),
            helper("listen_fds.py")
        ),
    ]);
    // SAFETY: dup2 and fcntl are async-signal-safe; fd 3 ends up without
    // close-on-exec whether or not the listener already was fd 3.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0);
            } else {
                libc::dup2(fd, 3);
            }
            Ok(())
        });
    }
    let mut live = Live::start(cmd, Env::Direct);
    let init = live.init_pid();
    let seen = live.line(Duration::from_secs(10));
    let child = children_of(init)[0];
    assert_eq!(
        seen,
        format!("LISTEN_PID={child} LISTEN_FDS=1 pid={child}"),
        "init pid {init}"
    );
    drop(listener);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, format!("served by {child}\n"));
    assert_eq!(live.wait(Duration::from_secs(10)).code(), Some(0));
}

/// LISTEN_PID naming some other process is left alone: those descriptors
/// were not meant for the init, so not for its child either.
#[test]
fn a_foreign_listen_pid_is_left_alone() {
    let out = assert_cmd::Command::new(INIT)
        .args(["--", "sh", "-c", "echo $LISTEN_PID"])
        .env("LISTEN_PID", "4242")
        .env("LISTEN_FDS", "1")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4242\n");
}
