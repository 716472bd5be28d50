//! The init's own stderr failing: a log line written to a pipe nobody reads
//! costs an EPIPE, never a SIGPIPE forwarded to the children, never a loop.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// A pipe whose read end the test closes after the first byte arrives.
fn dead_after_first_byte() -> (OwnedFd, std::thread::JoinHandle<()>) {
    // Close-on-exec, so the init does not hold a read end itself.
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::from(read_end);
        let mut one = [0u8; 1];
        let _ = f.read_exact(&mut one);
    });
    (write_end, reader)
}

#[test]
fn a_dead_stderr_does_not_loop_on_sigterm() {
    let (stderr, reader) = dead_after_first_byte();
    let mut cmd = command(INIT, Env::Direct, &["-v", "--", "sleep", "30"]);
    cmd.stderr(Stdio::from(stderr));
    let mut live = Live::start(cmd, Env::Direct);
    reader.join().unwrap(); // the init logged its first line; the pipe is now dead
    let init = live.init_pid();
    wait_for("sleep to run", Duration::from_secs(10), || {
        children_of(init).first().copied()
    });
    let started = Instant::now();
    live.signal(libc::SIGTERM);
    let status = live.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// One program failing is logged to a dead stderr; its healthy sibling
/// must not receive the SIGPIPE that write raised.
#[test]
fn a_dead_stderr_kills_no_sibling() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(
        &cfg,
        "programs:\n  - {name: healthy, path: sleep, args: ['30']}\n  - {name: failing, path: sh, args: [-c, 'sleep 0.3; exit 1']}\n",
    )
    .unwrap();
    let (stderr, reader) = dead_after_first_byte();
    let mut cmd = command(INIT, Env::Direct, &["-v", "-c", cfg.to_str().unwrap()]);
    cmd.stderr(Stdio::from(stderr));
    let mut live = Live::start(cmd, Env::Direct);
    reader.join().unwrap();
    let init = live.init_pid();
    let healthy = wait_for("both programs", Duration::from_secs(10), || {
        let kids = children_of(init);
        (kids.len() == 2).then(|| {
            kids.into_iter()
                .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap() == "sleep\n")
        })?
    });
    wait_for(
        "the failing program to be reaped",
        Duration::from_secs(10),
        || (children_of(init) == [healthy]).then_some(()),
    );
    let healthy = sighted(healthy);
    // A forwarded SIGPIPE would follow the failure log at once; give it
    // ample time to show.
    std::thread::sleep(Duration::from_millis(500));
    assert!(healthy.alive(), "the healthy sibling survived");
    live.signal(libc::SIGTERM);
    live.wait(Duration::from_secs(10));
}

/// Help and the version on a stdout that fails. A full disk: one line on
/// stderr and the init's own failure status, never a panic. A pipe whose
/// reader is gone: SIGPIPE, as for any Unix tool, since the init ignores it
/// only once it starts supervising.
#[rstest::rstest]
fn help_and_version_on_a_broken_stdout(
    #[values("--help", "--version")] flag: &str,
    #[values("full", "closed pipe")] sink: &str,
) {
    let stdout = match sink {
        "full" => Stdio::from(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        ),
        _ => {
            let (read_end, write_end) = nix::unistd::pipe().unwrap();
            drop(read_end);
            Stdio::from(write_end)
        }
    };
    let out = std::process::Command::new(INIT)
        .arg(flag)
        .stdout(stdout)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if sink == "full" {
        assert_eq!(out.status.code(), Some(125), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    } else {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
        assert_eq!(stderr, "");
    }
}
