//! Exit statuses in single-command mode.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use common::INIT;
use rstest::rstest;

#[test]
fn every_exit_code_passes_through() {
    for code in 0..=255 {
        Command::new(INIT)
            .args(["--", "sh", "-c", &format!("exit {code}")])
            .timeout(Duration::from_secs(10))
            .assert()
            .code(code);
    }
}

#[rstest]
#[case::hup(1)]
#[case::int(2)]
#[case::kill(9)]
#[case::usr1(10)]
#[case::term(15)]
#[case::rtmin_plus_1(35)]
#[case::rtmax(64)]
fn death_by_signal_is_128_plus_n(#[case] sig: i32) {
    Command::new(INIT)
        .args(["--", "sh", "-c", "kill -$0 $$", &sig.to_string()])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(128 + sig);
}

#[test]
fn command_not_found_is_127() {
    Command::new(INIT)
        .args(["--", "no-such-command-anywhere"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(127)
        .stderr("initlab-init: no-such-command-anywhere: command not found\n");
}

#[test]
fn not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, "not a program").unwrap();
    Command::new(INIT)
        .arg("--")
        .arg(&file)
        .timeout(Duration::from_secs(10))
        .assert()
        .code(126)
        .stderr(predicates::str::contains(
            "cannot execute: Permission denied",
        ));
}

#[rstest]
#[case::nothing_to_run(&[][..])]
#[case::both_modes(&["--config", "x.yml", "--", "true"][..])]
#[case::bad_grace(&["--grace", "soon", "--", "true"][..])]
#[case::unknown_flag(&["--frobnicate", "--", "true"][..])]
fn usage_errors_exit_2(#[case] args: &[&str]) {
    let out = Command::new(INIT)
        .args(args)
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"));
}

#[test]
fn issue38_help_says_what_it_is_for() {
    let out = Command::new(common::ISSUE38)
        .arg("--help")
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(help.contains("only to reproduce that bug"), "{help}");
    assert!(help.contains("Do not use it in production"), "{help}");
}
