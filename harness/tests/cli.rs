//! The command line: bad input gets one line and exit 2; runs report.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use rstest::rstest;

fn initlab() -> Command {
    let mut cmd = Command::cargo_bin("initlab").unwrap();
    cmd.env("INITLAB_INIT_DIR", common::init_dir())
        .timeout(Duration::from_secs(120));
    cmd
}

#[rstest]
#[case::bad_flag(&["run", "--frobnicate"][..], "unexpected argument")]
#[case::unknown_variant(&["run", "--variant", "nope"][..], "unknown variant `nope`; known: none, initlab-init")]
#[case::unknown_scenario(&["run", "--scenario", "nope"][..], "unknown scenario `nope`; known: probe")]
#[case::unknown_env(&["run", "--env", "moon"][..], "unknown environment `moon`; known: direct, pid1, docker")]
#[case::bad_init(&["run", "--init", "no-prefix"][..], "expected NAME='ARGV PREFIX'")]
#[case::zero_jobs(&["run", "--jobs", "0", "--scenario", "probe"][..], "--jobs 0")]
#[case::unknown_bug(&["reproduce", "issue-99"][..], "unknown bug `issue-99`")]
#[case::no_such_pid(&["inspect", "999999999"][..], "no process 999999999")]
#[case::container_as_option(&["audit", "--container=--privileged"][..], "not a container name or id")]
#[case::container_with_space(&["audit", "--container", "a b"][..], "not a container name or id")]
#[case::image_as_option(&["audit", "--image=-v/:/host"][..], "not an image reference")]
#[case::no_target(&["audit"][..], "required arguments were not provided: <--pid <PID>|")]
#[case::endless_variants(&["run", "--variants", "/dev/zero"][..], "/dev/zero: not a regular file")]
#[case::endless_expectations(&["run", "--expectations", "/dev/urandom"][..], "not a regular file")]
#[case::endless_report(&["merge", "/dev/zero"][..], "/dev/zero: not a regular file")]
#[case::not_yaml(&["run", "--variants", "/etc/passwd"][..], "/etc/passwd: invalid variants file")]
fn bad_input_is_one_line_and_exit_2(#[case] args: &[&str], #[case] needle: &str) {
    let out = initlab().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.len() < 1024, "a short line: {stderr}");
}

#[test]
fn list_names_variants_scenarios_and_environments() {
    initlab()
        .arg("list")
        .assert()
        .success()
        .stdout(predicate::str::contains("initlab-init-issue38"))
        .stdout(predicate::str::contains("gunicorn-control"))
        .stdout(predicate::str::contains("pid1"));
}

#[test]
fn inspect_decodes_a_live_process() {
    let out = initlab()
        .args(["inspect", &std::process::id().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("blocked 0000000000000000 (-)") || text.contains("blocked "));
    assert!(text
        .lines()
        .next()
        .unwrap()
        .starts_with(&std::process::id().to_string()));
}

/// A user-given init runs as a variant, and the JSON report has the promised shape.
#[test]
fn user_given_init_and_json_report() {
    let out = initlab()
        .args([
            "run",
            "--init",
            "my-tini=tini -s --",
            "--variant",
            "my-tini",
            "--scenario",
            "probe",
            "--env",
            "direct",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cell = &report["cells"][0];
    for key in [
        "variant",
        "scenario",
        "environment",
        "verdict",
        "expected",
        "matches_expectation",
        "checks",
        "processes",
    ] {
        assert!(!cell[key].is_null(), "{key} in {cell}");
    }
    assert_eq!(cell["variant"], "my-tini");
    assert_eq!(cell["verdict"], "pass");
    let p = &cell["processes"][0];
    assert_eq!(p["sigblk"].as_str().unwrap().len(), 16);
    assert!(p["role"].is_string());
    assert!(cell["checks"][0]["evidence"].is_string());
}

#[rstest]
fn reproduce_issue_38_narrates_and_exits_0(#[values("direct", "pid1", "docker")] env: &str) {
    if env == "docker" && !common::docker_available() {
        return;
    }
    let out = initlab()
        .args(["reproduce", "issue-38", "--env", env])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("SigBlk 0000000000014006 (SIGINT,SIGQUIT,SIGTERM,SIGCHLD)"),
        "{text}"
    );
    assert!(text.contains("The bug reproduced"), "{text}");
    assert!(text.contains("The fix held"), "{text}");
}

/// A stdout that fails: a full disk, or a pipe whose reader is gone.
fn broken_stdout(sink: &str) -> std::process::Stdio {
    match sink {
        "full" => std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
            .into(),
        _ => {
            let (read_end, write_end) = nix::unistd::pipe().unwrap();
            drop(read_end);
            write_end.into()
        }
    }
}

/// A full disk fails the command in one line; a reader that went away
/// (`| head`) took what it wanted. Neither is a panic.
#[rstest]
fn a_broken_stdout_is_one_line_never_a_panic(
    #[values("full", "closed pipe")] sink: &str,
    #[values("list", "--help", "inspect")] what: &str,
) {
    let me = std::process::id().to_string();
    let args: Vec<&str> = match what {
        "inspect" => vec!["inspect", &me],
        other => vec![other],
    };
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("initlab"))
        .args(&args)
        .env("INITLAB_INIT_DIR", common::init_dir())
        .stdout(broken_stdout(sink))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if sink == "full" {
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stderr, "");
    }
}

/// A file that is not a variants file, on one long line: the error names it
/// in one short line, not with its whole text.
#[test]
fn a_long_bad_file_is_named_in_one_short_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("variants.yml");
    std::fs::write(&file, "x".repeat(100_000)).unwrap();
    let out = initlab()
        .args(["run", "--variants"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid variants file"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.len() < 1024, "a short line: {} bytes", stderr.len());
}

/// A run whose stderr is a full disk still runs, tears down and reports.
#[test]
fn a_run_with_a_full_stderr_still_reports() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("initlab"))
        .args(["run", "--variant", "initlab-init", "--scenario", "probe"])
        .args(["--env", "direct", "--format", "json"])
        .env("INITLAB_INIT_DIR", common::init_dir())
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["cells"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}
