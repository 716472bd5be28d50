//! Signal forwarding: every signal sent to the init reaches the child.

mod common;

use std::time::Duration;

use common::*;
use rstest::rstest;

/// HUP INT QUIT USR1 USR2 TERM ALRM WINCH TTIN TTOU TSTP CONT, user-sent
/// ABRT, SEGV and BUS, and real-time signals.
const FORWARDED: [i32; 19] = [
    1, 3, 10, 12, 14, 28, 21, 22, 20, 18, 6, 11, 7, 34, 40, 50, 64, // then INT, TERM
    2, 15,
];

#[rstest]
fn every_signal_is_forwarded(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let script = helper("catcher.py");
    let mut args = vec!["--".to_string(), python().into(), script];
    args.extend(FORWARDED.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut live = Live::start(command(INIT, env, &args), env);
    assert_eq!(live.line(Duration::from_secs(20)), "ready");
    for sig in FORWARDED {
        live.signal(sig);
        let line = live.line(Duration::from_secs(5));
        assert_eq!(line, format!("got {sig}"), "signal {sig}");
    }
    let status = live.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "the child saw every signal");
}

/// `-g` sends to the child's process group; without it only the child gets it.
#[rstest]
fn group_flag_reaches_the_whole_group(#[values(false, true)] group: bool) {
    // The shell handles USR1 (handlers are not inherited), its sleep does not.
    let script = "trap 'echo sh-usr1' USR1; sleep 30 & echo $!; wait $!; wait $!";
    let mut args = vec![];
    if group {
        args.push("-g");
    }
    args.extend(["--grace", "1", "--", "sh", "-c", script]);
    let live = Live::start(command(INIT, Env::Direct, &args), Env::Direct);
    let pid: i32 = live.line(Duration::from_secs(10)).parse().unwrap();
    // Until it has exec'd, the forked child still has the shell's USR1
    // handler, which would swallow the signal.
    wait_for(
        "the background job to become sleep",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c == "sleep\n")
                .then_some(())
        },
    );
    let sleeper = sighted(pid);
    live.signal(libc::SIGUSR1);
    assert_eq!(live.line(Duration::from_secs(5)), "sh-usr1");
    if group {
        wait_for("sleep to die of SIGUSR1", Duration::from_secs(5), || {
            (!sleeper.alive()).then_some(())
        });
    } else {
        std::thread::sleep(Duration::from_millis(300));
        assert!(sleeper.alive(), "without -g the sleep must not get SIGUSR1");
    }
}

/// In single mode SIGINT is the child's to handle: a child that catches it
/// and carries on (a REPL under `docker run -it`) keeps running, and the
/// init exits with its status, as under tini and dumb-init.
#[rstest]
fn sigint_is_forwarded_not_a_shutdown(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let script = "trap 'echo got-int' INT; echo up; i=0; \
                  while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; exit 0";
    let mut live = Live::start(
        command(INIT, env, &["--grace", "1", "--", "sh", "-c", script]),
        env,
    );
    assert_eq!(live.line(Duration::from_secs(10)), "up");
    live.signal(libc::SIGINT);
    assert_eq!(live.line(Duration::from_secs(5)), "got-int");
    let status = live.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "not killed after the grace period");
}

/// A stopped child that handles TERM acts on it only once continued: the
/// init sends SIGCONT after the TERM it forwards.
#[rstest]
fn a_stopped_child_is_continued_after_term(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let script = "trap 'exit 7' TERM; echo up; while :; do sleep 0.1; done";
    let mut live = Live::start(
        command(INIT, env, &["--grace", "5", "--", "sh", "-c", script]),
        env,
    );
    assert_eq!(live.line(Duration::from_secs(10)), "up");
    let init = live.init_pid();
    let sh = children_of(init)[0];
    unsafe { libc::kill(sh, libc::SIGSTOP) };
    wait_for("sh to stop", Duration::from_secs(5), || {
        processes()
            .into_iter()
            .any(|p| p.0 == sh && p.2 == 'T')
            .then_some(())
    });
    let started = std::time::Instant::now();
    live.signal(libc::SIGTERM);
    let status = live.wait(Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(7),
        "the trap ran, no SIGKILL after grace"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}
