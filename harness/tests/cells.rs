//! Cells of our own inits, measured for real: initlab-init passes every
//! check, the issue-38 replica reproduces the bug — directly, as PID 1 and in
//! Docker.

mod common;

use common::*;
use initlab::checks::Verdict;
use initlab::environment::EnvKind;
use initlab::proc_state::Role;
use rstest::rstest;

/// Our inits in every default scenario and environment: initlab-init (both
/// modes) passes every check, the issue-38 replica reproduces the bug.
#[rstest]
fn our_inits(
    #[values("initlab-init", "initlab-init-config", "initlab-init-issue38")] variant: &str,
    #[values(
        "probe",
        "gevent-subprocess",
        "gevent-subprocess-unpatched",
        "gunicorn-gevent",
        "gunicorn-custom-worker",
        "gunicorn-control",
        "orphans"
    )]
    scenario: &str,
    #[values(EnvKind::Direct, EnvKind::Pid1, EnvKind::Docker)] env: EnvKind,
) {
    if env == EnvKind::Docker && !docker_available() {
        return;
    }
    let r = run_cell(variant, scenario, env);
    assert!(r.matches_expectation, "{}", dump(&r));
    assert!(!r.checks.is_empty());
    if variant == "initlab-init-issue38" {
        reproduces(&r, scenario);
    } else {
        passes(&r);
    }
}

fn passes(r: &initlab::cell::CellResult) {
    assert_eq!(r.verdict, Verdict::Pass, "{}", dump(r));
    assert!(!r.processes.is_empty(), "processes were observed");
    for p in r.processes.iter().filter(|p| p.role != Role::Init) {
        assert_eq!(p.signals.blocked, 0, "{}", dump(r));
    }
}

fn failed(r: &initlab::cell::CellResult, name: &str) -> bool {
    r.checks
        .iter()
        .any(|c| c.name == name && c.verdict == Verdict::Fail)
}

/// SigBlk 0000000000014006 on every workload process, and the hang.
fn reproduces(r: &initlab::cell::CellResult, scenario: &str) {
    assert_eq!(r.verdict, Verdict::Fail, "{}", dump(r));
    assert!(failed(r, "blocked"));
    let workload: Vec<_> = r
        .processes
        .iter()
        .filter(|p| p.role != Role::Init)
        .collect();
    assert!(!workload.is_empty());
    for p in workload {
        assert_eq!(p.sigblk, "0000000000014006", "{}", dump(r));
        assert_eq!(p.blocked, ["SIGINT", "SIGQUIT", "SIGTERM", "SIGCHLD"]);
    }
    if scenario.starts_with("gunicorn") {
        assert!(r.processes.iter().any(|p| p.role == Role::Master));
        assert!(r.processes.iter().any(|p| p.role == Role::Worker));
        assert!(failed(r, "boot"), "the workers hang: {}", dump(r));
        assert!(failed(r, "sigchld-pending"), "{}", dump(r));
    }
    if scenario == "gevent-subprocess" {
        assert!(failed(r, "subprocess"), "{}", dump(r));
    }
}

/// Docker's own --init, measured against its recorded expectation.
#[rstest]
fn docker_init_is_measured(
    #[values(
        "probe",
        "gevent-subprocess",
        "gevent-subprocess-unpatched",
        "gunicorn-gevent",
        "gunicorn-custom-worker",
        "gunicorn-control",
        "orphans"
    )]
    scenario: &str,
) {
    if !docker_available() {
        return;
    }
    let r = run_cell("docker-init", scenario, EnvKind::Docker);
    assert!(r.matches_expectation, "{}", dump(&r));
    if scenario.starts_with("gunicorn") {
        // The tree was read from /proc: docker-init is its PID 1.
        let init = r.processes.iter().find(|p| p.role == Role::Init);
        assert!(
            init.is_some_and(|p| p.command.contains("docker-init")),
            "{}",
            dump(&r)
        );
    }
}

/// The harness itself starts processes clean: with no init, the neutral
/// probe shows nothing blocked and nothing ignored.
#[rstest]
fn no_init_probe_is_clean(#[values(EnvKind::Direct, EnvKind::Pid1)] env: EnvKind) {
    let r = run_cell("none", "probe", env);
    assert_eq!(r.verdict, Verdict::Pass, "{}", dump(&r));
    assert_eq!(r.processes.len(), 1);
    assert_eq!(r.processes[0].sigblk, "0000000000000000");
    assert_eq!(r.processes[0].sigign, "0000000000000000");
}

/// The zombies check seen failing for the right reason: with no init as
/// PID 1 the orphans are adopted by the workload, which never reaps them;
/// directly, the harness adopts and reaps them itself.
#[rstest]
fn no_init_as_pid1_leaves_the_orphans_as_zombies(
    #[values(EnvKind::Direct, EnvKind::Pid1)] env: EnvKind,
) {
    let r = run_cell("none", "orphans", env);
    let zombies = r.checks.iter().find(|c| c.name == "zombies").unwrap();
    if env == EnvKind::Pid1 {
        assert_eq!(zombies.verdict, Verdict::Fail, "{}", dump(&r));
        assert_eq!(
            zombies.evidence.matches("sleep ").count(),
            3,
            "{}",
            dump(&r)
        );
    } else {
        assert_eq!(zombies.verdict, Verdict::Pass, "{}", dump(&r));
    }
    assert!(r.matches_expectation, "{}", dump(&r));
}
