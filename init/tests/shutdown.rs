//! Shutdown: SIGTERM, the grace period, SIGKILL, and nothing left behind.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rstest::rstest;

/// A child and an orphan that both ignore SIGTERM are SIGKILLed after the
/// grace period, and the init exits well before grace + 2 s.
#[rstest]
fn stubborn_processes_are_killed_after_grace(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let script = "trap '' TERM; (sleep 60 &); sleep 60 & echo $!; wait";
    let mut live = Live::start(
        command(INIT, env, &["--grace", "1", "--", "sh", "-c", script]),
        env,
    );
    // The pid printed is the namespace's; the tree below is read from here.
    live.line(Duration::from_secs(10));
    let init = live.init_pid();
    // Three processes below the init: sh, its sleep, the orphaned sleep.
    wait_for("the tree to form", Duration::from_secs(10), || {
        (descendants(init).len() >= 3).then_some(())
    });
    let tree: Vec<Sighting> = descendants(init).into_iter().map(sighted).collect();
    let started = Instant::now();
    live.signal(libc::SIGTERM);
    let status = live.wait(Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(128 + 9), "the main child was SIGKILLed");
    assert!(
        took >= Duration::from_millis(900),
        "grace honoured: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "exit well before grace + 2 s: {took:?}"
    );
    for p in tree {
        assert!(!p.alive(), "pid {} survived the init", p.pid);
    }
}

/// The grace period is a deadline, not a sleep: a child that stops at once
/// lets the init exit at once.
#[test]
fn prompt_exit_does_not_wait_for_grace() {
    let mut live = Live::start(
        command(
            INIT,
            Env::Direct,
            &["--grace", "30", "--", "sh", "-c", "echo up; sleep 60"],
        ),
        Env::Direct,
    );
    assert_eq!(live.line(Duration::from_secs(10)), "up");
    let started = Instant::now();
    live.signal(libc::SIGTERM);
    let status = live.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + 15));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// When the main child exits, leftover processes get SIGTERM and the init
/// exits with the main child's status.
#[test]
fn leftovers_are_stopped_when_the_main_child_exits() {
    let mut live = Live::start(
        command(
            INIT,
            Env::Direct,
            &["--", "sh", "-c", "(sleep 60 &); sleep 60 & echo $!; exit 3"],
        ),
        Env::Direct,
    );
    let sleeper = sighted(live.line(Duration::from_secs(10)).parse().unwrap());
    assert_eq!(live.wait(Duration::from_secs(10)).code(), Some(3));
    assert!(!sleeper.alive());
}

/// The documented choice: when the main child exits, leftovers that ignore
/// SIGTERM get the whole grace period before SIGKILL (a background writer
/// may be flushing), and the init exits with the main child's status.
#[rstest]
fn orphans_ignoring_term_get_the_grace_period(#[values(Env::Direct, Env::Pid1)] env: Env) {
    // The main child exits only once the orphan ignores TERM: otherwise the
    // init's TERM could reach the subshell before its `trap`, and there
    // would be no orphan to wait for.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "(trap '' TERM; touch {0}/trapped; exec sleep 60) & \
         while [ ! -e {0}/trapped ]; do sleep 0.01; done; echo $!; exit 3",
        dir.path().display()
    );
    let mut live = Live::start(
        command(INIT, env, &["--grace", "1", "--", "sh", "-c", &script]),
        env,
    );
    live.line(Duration::from_secs(10));
    // The main child exits right after that line: the grace runs from here,
    // however long finding the orphan below takes on a busy machine.
    let started = Instant::now();
    let init = live.init_pid();
    let orphans = wait_for("the orphan", Duration::from_secs(10), || {
        let d = descendants(init);
        (!d.is_empty()).then(|| d.into_iter().map(sighted).collect::<Vec<_>>())
    });
    let status = live.wait(Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(3));
    assert!(took >= Duration::from_millis(800), "grace kept: {took:?}");
    assert!(took < Duration::from_secs(4), "then SIGKILL: {took:?}");
    for p in orphans {
        assert!(!p.alive(), "pid {} survived the init", p.pid);
    }
}

/// The grace period is a deadline that forwarded signals do not put off:
/// the init goes straight back to its wait after forwarding one, and that
/// wait must still end with the grace period while signals keep coming.
#[rstest]
fn a_stream_of_signals_does_not_put_off_the_grace_period(
    #[values(Env::Direct, Env::Pid1)] env: Env,
) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let script = "trap '' TERM USR1; echo up; sleep 60 & wait";
    let mut live = Live::start(
        command(INIT, env, &["--grace", "1", "--", "sh", "-c", script]),
        env,
    );
    live.line(Duration::from_secs(10));
    // Through a pidfd: the stream must never reach a pid used again.
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, live.init_pid(), 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let started = Instant::now();
    live.signal(libc::SIGTERM);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sent = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: a live pidfd, no siginfo, no flags.
                let rc = unsafe {
                    libc::syscall(libc::SYS_pidfd_send_signal, pidfd, libc::SIGUSR1, 0, 0)
                };
                sent += u32::from(rc == 0);
                std::thread::sleep(Duration::from_millis(2));
            }
            // SAFETY: the descriptor opened above, closed once.
            unsafe { libc::close(pidfd) };
            sent
        })
    };
    let status = live.wait(Duration::from_secs(6));
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    assert_eq!(status.code(), Some(128 + 9), "the main child was SIGKILLed");
    assert!(took >= Duration::from_millis(900), "grace kept: {took:?}");
    assert!(took < Duration::from_secs(3), "grace not put off: {took:?}");
    assert!(sent >= 100, "signals kept coming through the grace: {sent}");
}
