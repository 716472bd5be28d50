//! Reaping: orphans created below the init are all collected.

mod common;

use std::time::Duration;

use common::*;
use rstest::rstest;

const ORPHANS: usize = 1000;

#[rstest]
fn a_thousand_orphans_are_all_reaped(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("release");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // Each subshell starts a `cat` that blocks opening the fifo, then exits:
    // the cat is orphaned and adopted by the init.
    let script = format!(
        "i=0; while [ $i -lt {ORPHANS} ]; do (cat \"$0\" >/dev/null &); i=$((i+1)); done; \
         echo spawned; exec sleep 60"
    );
    let fifo_arg = fifo.display().to_string();
    let mut live = Live::start(
        command(INIT, env, &["--", "sh", "-c", &script, &fifo_arg]),
        env,
    );
    assert_eq!(live.line(Duration::from_secs(60)), "spawned");
    let init = live.init_pid();
    let adopted = || {
        processes()
            .into_iter()
            .filter(|p| p.1 == init && p.3 == "cat")
            .count()
    };
    wait_for(
        "every orphan to be adopted",
        Duration::from_secs(30),
        || (adopted() == ORPHANS).then_some(()),
    );
    // Opening the fifo for writing releases every cat at once: a burst of
    // exits whose SIGCHLDs coalesce.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    wait_for("every orphan to be reaped", Duration::from_secs(30), || {
        let left: Vec<_> = processes().into_iter().filter(|p| p.1 == init).collect();
        (left.len() == 1 && left[0].3 == "sleep").then_some(())
    });
    live.signal(libc::SIGTERM);
    assert_eq!(live.wait(Duration::from_secs(10)).code(), Some(128 + 15));
}
