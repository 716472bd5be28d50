//! Ctrl-C of the harness leaves nothing behind, even when the workload
//! cannot receive SIGTERM (the issue-38 replica blocks it).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < end, "initlab did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn containers_of_runs() -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=initlab.run"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[rstest::rstest]
fn interrupted_run_leaves_nothing(#[values("direct", "docker")] env: &str) {
    if env == "docker" && !common::docker_available() {
        return;
    }
    // A private copy of the scenarios: every workload process runs in it,
    // which is how survivors are recognised.
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(initlab::scenario::default_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_initlab"))
        .args([
            "run",
            "--variant",
            "initlab-init-issue38",
            "--env",
            env,
            "--scenario",
        ])
        .arg("gunicorn-control,gunicorn-gevent")
        .arg("--scenarios")
        .arg(copy.path())
        .env("INITLAB_INIT_DIR", common::init_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = copy.path().canonicalize().unwrap();
    let in_run = || -> Vec<i32> {
        procfs::process::all_processes()
            .unwrap()
            .flatten()
            .filter(|p| p.cwd().is_ok_and(|c| c.starts_with(&marker)))
            .map(|p| p.pid)
            .collect()
    };
    // Drain stderr so the harness never blocks writing progress.
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let reader =
        std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect::<Vec<_>>());
    if env == "docker" {
        // Containers run from the image's own copy of the scenarios.
        let end = Instant::now() + Duration::from_secs(300);
        while containers_of_runs().len() < 2 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            containers_of_runs().len() >= 2,
            "the containers never started"
        );
        std::thread::sleep(Duration::from_secs(2));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(130));
        let left = containers_of_runs();
        assert!(left.is_empty(), "containers survived: {left:?}");
        assert!(in_run().is_empty());
        return;
    }
    // Wait until the hanging workloads run (the baselines come first).
    let end = Instant::now() + Duration::from_secs(90);
    let mut seen = 0;
    while Instant::now() < end {
        seen = in_run().len();
        let issue38_running = procfs::process::all_processes()
            .unwrap()
            .flatten()
            .any(|p| {
                p.stat()
                    .is_ok_and(|s| s.comm.starts_with("initlab-init-is"))
                    && p.cwd().is_ok_and(|c| c.starts_with(&marker))
            });
        if issue38_running && seen >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen >= 4, "the run never got going");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = wait_exit(&mut child);
    let log = reader.join().unwrap().join("\n");
    assert_eq!(status.code(), Some(130), "{log}");
    let left = in_run();
    assert!(
        left.is_empty(),
        "processes of the run survived: {left:?}\n{log}"
    );
}
