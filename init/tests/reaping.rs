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

/// Whether this kernel gives a reaped process's status to its pidfds
/// (Linux 6.15), so that the init lets the kernel reap a burst.
fn kernel_reaps_for_the_init() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .unwrap_or(0)
    });
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (6, 15)
}

/// The main child ends amid a stream of orphans ending, while the kernel
/// reaps them for the init: its status is still the init's own.
#[rstest]
fn the_main_childs_status_survives_a_stream_of_orphans(
    #[values(Env::Direct, Env::Pid1)] env: Env,
    #[values(("exit 7", 7), ("kill -USR1 $$", 128 + 10))] end: (&str, i32),
) {
    let (ending, code) = end;
    // Orphans end 50 ms after they start, as fast as the loop starts them:
    // when the main child ends, they have been ending for a while and go on.
    let script =
        format!("i=0; while [ $i -lt 2000 ]; do (sleep 0.05 &); i=$((i+1)); done; {ending}");
    let mut live = Live::start(command(INIT, env, &["--", "sh", "-c", &script]), env);
    assert_eq!(live.wait(Duration::from_secs(60)).code(), Some(code));
}

/// While orphans keep exiting, the kernel reaps them (`SA_NOCLDWAIT`) and
/// a signal for the main child goes through its pidfd, queued value and
/// all: its pid could be free again before the init knows it ended.
#[test]
fn while_the_kernel_reaps_signals_go_through_the_main_childs_pidfd() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    // About 4,000 orphans, each ending a millisecond after its parent: a
    // stream of exits for a second or more.
    let script = "trap 'echo got' USR1; echo ready; i=0; \
                  while [ $i -lt 4000 ]; do (sleep 0.001 &); i=$((i+1)); done; \
                  echo done; exit 3";
    let mut live = Live::start(
        traced(
            INIT,
            &trace,
            "rt_sigaction,pidfd_send_signal",
            &["--", "sh", "-c", script],
        ),
        Env::Traced,
    );
    assert_eq!(live.line(Duration::from_secs(30)), "ready");
    let init = live.init_pid();
    // The kernel reaps while exits come, and the init takes over again at
    // each pause in the stream: a signal every 20 ms lands in both.
    let mut sent = 0;
    let mut lines = Vec::new();
    while sent < 100 {
        let value = libc::sigval {
            sival_ptr: 42 as *mut libc::c_void,
        };
        // SAFETY: sigqueue has no memory effects here.
        if unsafe { libc::sigqueue(init, libc::SIGUSR1, value) } != 0 {
            break; // the init has exited
        }
        sent += 1;
        let line = live.rest(Duration::from_millis(20));
        let finished = line.iter().any(|l| l == "done");
        lines.extend(line);
        if finished {
            break;
        }
    }
    lines.extend(live.rest(Duration::from_secs(60)));
    assert_eq!(live.wait(Duration::from_secs(30)).code(), Some(3));
    assert!(
        lines.iter().any(|l| l == "got"),
        "the main child never got SIGUSR1 ({sent} sent): {lines:?}"
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    let set = text
        .lines()
        .filter(|l| l.contains("rt_sigaction(SIGCHLD") && l.contains("SA_NOCLDWAIT"))
        .count();
    let by_pidfd = text
        .lines()
        .filter(|l| {
            l.starts_with("pidfd_send_signal(")
                && l.contains("SIGUSR1")
                && l.contains("si_code=SI_QUEUE")
                && l.contains("si_int=42")
                && l.ends_with("= 0")
        })
        .count();
    if kernel_reaps_for_the_init() {
        assert!(set > 0, "the kernel was never asked to reap:\n{text}");
        assert!(by_pidfd > 0, "no signal went through the pidfd:\n{text}");
        // Every burst but one the init exits in hands reaping back.
        let cleared = text
            .lines()
            .skip_while(|l| !l.contains("SA_NOCLDWAIT"))
            .filter(|l| l.contains("rt_sigaction(SIGCHLD") && !l.contains("SA_NOCLDWAIT"))
            .count();
        assert!(
            cleared + 1 >= set,
            "set {set} times, cleared {cleared}:\n{text}"
        );
    } else {
        assert_eq!((set, by_pidfd), (0, 0), "on a kernel before 6.15:\n{text}");
    }
}
