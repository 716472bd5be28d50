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
    let sleeper: i32 = live.line(Duration::from_secs(10)).parse().unwrap();
    live.signal(libc::SIGUSR1);
    assert_eq!(live.line(Duration::from_secs(5)), "sh-usr1");
    if group {
        wait_for("sleep to die of SIGUSR1", Duration::from_secs(5), || {
            (!alive(sleeper)).then_some(())
        });
    } else {
        std::thread::sleep(Duration::from_millis(300));
        assert!(alive(sleeper), "without -g the sleep must not get SIGUSR1");
    }
}
