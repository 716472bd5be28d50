//! Config mode: ordering, readiness, shutdown order and documented errors.

mod common;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::*;
use rstest::rstest;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn after_and_before_order_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let step = |name: &str| {
        format!(
            "    path: sh\n    args: [-c, 'sleep 0.1; echo {name} >> \"$LOG\"']\n    env:\n      - LOG: {}\n",
            log.display()
        )
    };
    // c after b (in another file), b after a, and d before a.
    write(
        dir.path(),
        "1.yml",
        &format!(
            "programs:\n  - name: c\n    after: [b]\n{}  - name: a\n{}",
            step("c"),
            step("a")
        ),
    );
    write(
        dir.path(),
        "2.yaml",
        &format!(
            "programs:\n  - name: b\n    after: [a]\n{}  - name: d\n    before: [a]\n{}",
            step("b"),
            step("d")
        ),
    );
    write(dir.path(), "ignored.txt", "not yaml at all: [");
    Command::new(INIT)
        .arg("--config")
        .arg(dir.path())
        .timeout(Duration::from_secs(20))
        .assert()
        .code(0);
    assert_eq!(log_lines(&log), ["d", "a", "b", "c"]);
}

#[test]
fn notify_readiness_unblocks_a_dependant() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let service = helper("service.py");
    let config = write(
        dir.path(),
        "init.yml",
        &format!(
            "programs:\n\
             \x20 - name: db\n    type: notify\n    path: {python}\n    args: [{service}, db, {log}, --notify, --exit-after, '1']\n\
             \x20 - name: web\n    after: [db]\n    path: {python}\n    args: [{service}, web, {log}, --exit-after, '0']\n",
            log = log.display(),
            python = python()
        ),
    );
    let out = Command::new(INIT)
        .args(["-v", "--config", &config])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = log_lines(&log);
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} in {lines:?}"))
    };
    assert!(at("db ready") < at("web start"), "{lines:?}");
    assert!(
        at("web start") < at("db exit"),
        "web ran while db was up: {lines:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("db: status: warming up"),
        "STATUS= is logged with -v"
    );
}

#[rstest]
fn sigterm_stops_programs_in_reverse_dependency_order(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let service = helper("service.py");
    let config = write(
        dir.path(),
        "init.yml",
        &format!(
            "programs:\n\
             \x20 - name: db\n    type: notify\n    path: {python}\n    args: [{service}, db, {log}, --notify]\n\
             \x20 - name: web\n    type: notify\n    after: [db]\n    path: {python}\n    args: [{service}, web, {log}, --notify, --linger, '0.5']\n\
             \x20 - name: probe\n    after: [web]\n    path: sh\n    args: [-c, 'echo up']\n",
            log = log.display(),
            python = python()
        ),
    );
    let mut live = Live::start(command(INIT, env, &["--config", &config]), env);
    assert_eq!(live.line(Duration::from_secs(20)), "up");
    live.signal(libc::SIGTERM);
    assert_eq!(live.wait(Duration::from_secs(15)).code(), Some(0));
    let lines = log_lines(&log);
    let at = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} in {lines:?}"))
    };
    assert!(
        at("web exit") < at("db term"),
        "db stopped only after web: {lines:?}"
    );
}

/// Runs the init on `yaml`, written to a file of its own.
fn run_config(yaml: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "init.yml", yaml);
    Command::new(INIT)
        .args(["--config", &config])
        .timeout(Duration::from_secs(20))
        .assert()
}

#[test]
fn a_failed_oneshot_fails_the_run_and_skips_its_dependants() {
    run_config(
        "programs:\n  - {name: setup, path: sh, args: [-c, 'exit 4']}\n  - {name: app, path: sh, args: [-c, 'echo app ran'], after: [setup]}\n",
    )
    .code(1)
    .stdout("")
    .stderr(predicates::str::contains(
        "app: not started because `setup` failed",
    ));
}

#[test]
fn a_program_that_cannot_start_exits_6() {
    run_config("programs:\n  - {name: ghost, path: /no/such/program}\n")
        .code(6)
        .stderr("initlab-init: ghost: /no/such/program: command not found\n");
}

/// More programs than the init keeps exec reports out for at once: every
/// one starts, each whose exec fails is said once (whenever its report is
/// read), and what depends on one of those is not started. The failing ones
/// are files without execute permission: found, forked, refused by exec.
#[test]
fn many_programs_start_and_each_failed_exec_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "plain", "not a program");
    let mut yaml = String::from("programs:\n");
    let ghosts = [10, 70, 140];
    for n in 0..150 {
        if ghosts.contains(&n) {
            yaml += &format!("  - {{name: ghost-{n}, path: '{plain}'}}\n");
        } else {
            yaml += &format!("  - {{name: p{n}, path: 'true'}}\n");
        }
    }
    yaml += "  - {name: dep, path: 'true', after: [ghost-70]}\n";
    let out = run_config(&yaml).code(6).get_output().clone();
    let err = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<String> = err.lines().map(str::to_string).collect();
    lines.sort();
    let mut want = vec!["initlab-init: dep: not started because `ghost-70` failed".to_string()];
    for n in ghosts {
        want.push(format!(
            "initlab-init: ghost-{n}: {plain}: cannot execute: Permission denied"
        ));
    }
    want.sort();
    assert_eq!(lines, want, "{err}");
}

#[rstest]
#[case::bad_yaml("programs: [", 3, "invalid YAML")]
#[case::unknown_key(
    "programs:\n  - {name: a, path: x, restart: always}\n",
    3,
    "program `a`: unknown key `restart`"
)]
#[case::unsupported_pty(
    "programs:\n  - {name: a, path: x, pty: true}\n",
    3,
    "program `a`: key `pty` is not supported yet"
)]
#[case::unsupported_caps(
    "programs:\n  - {name: a, path: x, capabilities: []}\n",
    3,
    "key `capabilities` is not supported yet"
)]
#[case::cycle("programs:\n  - {name: a, path: x, after: [b]}\n  - {name: b, path: x, before: [a], after: [a]}\n", 4, "dependency cycle")]
#[case::unknown_dep(
    "programs:\n  - {name: a, path: x, after: [nobody]}\n",
    4,
    "unknown program `nobody`"
)]
#[case::duplicate(
    "programs:\n  - {name: a, path: x}\n  - {name: a, path: x}\n",
    4,
    "duplicate program name `a`"
)]
#[case::unknown_user(
    "programs:\n  - {name: a, path: x, user: no-such-user-here}\n",
    4,
    "unknown user `no-such-user-here`"
)]
fn config_errors_have_documented_codes(
    #[case] yaml: &str,
    #[case] code: i32,
    #[case] needle: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "bad.yml", yaml);
    let out = Command::new(INIT)
        .args(["--config", &config])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn missing_config_is_a_syntax_error() {
    Command::new(INIT)
        .args(["--config", "/no/such/init.yml"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(3)
        .stderr(predicates::str::contains("/no/such/init.yml: cannot read"));
}

#[test]
fn user_and_workdir_and_env_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "init.yml",
        "programs:\n  - name: who\n    path: sh\n    args: [-c, 'echo \"$(id -u):$(id -g):$(id -G) $(pwd) $GREETING $HOME\"']\n    user: nobody\n    workdir: /tmp\n    env:\n      - GREETING: hello\n      - HOME:\n",
    );
    let out = Command::new(INIT)
        .args(["--config", &config])
        .env("HOME", "/home/tester")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{uid}:{gid}:{gid} /tmp hello /home/tester",
            uid = nobody.uid,
            gid = nobody.gid
        )
    );
}

/// A forking program names its daemon with MAINPID=: the init keeps it as
/// the program after the original process exits, and stops it on SIGTERM.
#[test]
fn mainpid_hands_the_program_over_to_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let config = write(
        dir.path(),
        "init.yml",
        &format!(
            "programs:\n  - name: daemon\n    type: notify\n    path: {}\n    args: [{}, {}]\n",
            python(),
            helper("forking.py"),
            log.display()
        ),
    );
    let mut live = Live::start(
        command(INIT, Env::Direct, &["--config", &config]),
        Env::Direct,
    );
    wait_for("the daemon to start", Duration::from_secs(20), || {
        log_lines(&log)
            .contains(&"daemon up".to_string())
            .then_some(())
    });
    // Had MAINPID been ignored, the original process's exit would end the
    // program and the init would stop the daemon as a leftover.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(log_lines(&log), ["daemon up"], "the daemon was left alone");
    live.signal(libc::SIGTERM);
    assert_eq!(live.wait(Duration::from_secs(15)).code(), Some(0));
    assert_eq!(log_lines(&log), ["daemon up", "daemon term"]);
}

/// A dozen programs ending together among hundreds of orphans: their
/// SIGCHLDs coalesce, and each program's status is still collected.
#[test]
fn programs_ending_in_an_orphan_storm_are_each_collected() {
    let mut yaml = String::from("programs:\n");
    for k in 1..=12 {
        yaml.push_str(&format!(
            "  - {{name: p{k}, path: sh, args: [-c, 'sleep 0.5; exit {k}']}}\n"
        ));
    }
    yaml.push_str(
        "  - {name: orphans, path: sh, args: [-c, 'for i in $(seq 300); do sh -c \"sleep 0.5 &\"; done']}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "init.yml", &yaml);
    let out = Command::new(INIT)
        .args(["-v", "--config", &config])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for k in 1..=12 {
        assert!(
            stderr.contains(&format!("p{k}: exited with status {k}\n")),
            "p{k}: {stderr}"
        );
    }
}
