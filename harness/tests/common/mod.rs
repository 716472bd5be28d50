//! Shared test plumbing: one run context (venv, init binaries, baselines)
//! for every cell a test binary runs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use initlab::cell::{self, CellResult, RunCtx};
use initlab::checks::Baseline;
use initlab::drivers::Timing;
use initlab::environment::EnvKind;
use initlab::expect::Expectations;
use initlab::scenario::{self, Scenario};
use initlab::variant::{self, Variant};
use initlab::{docker, inits, python, reaper};

/// Whether the docker cells can run. Where the engine is required (CI sets
/// INITLAB_REQUIRE_DOCKER=1) its absence fails the test instead.
///
/// Asked with a plain `docker info` rather than the library's helpers: those
/// start the harness's reaper, which must not run in a test that waits for
/// its own children.
pub fn docker_available() -> bool {
    let answers = std::process::Command::new("timeout")
        .args(["15", "docker", "info"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if answers {
        return true;
    }
    let why = "the Docker engine does not answer `docker info`";
    assert!(!docker::required(), "{}=1, but {why}", docker::REQUIRE);
    eprintln!("docker cells not run: {why}");
    false
}

/// `target/<profile>`, where `cargo test --workspace` put the init binaries.
pub fn init_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(
        dir.join("initlab-init").is_file(),
        "{} has no initlab-init: run the tests with `cargo test --workspace`",
        dir.display()
    );
    dir
}

pub fn variants() -> Vec<Variant> {
    variant::load(&[], &[]).unwrap()
}

pub fn variant(name: &str) -> Variant {
    variants().into_iter().find(|v| v.name == name).unwrap()
}

pub fn scenarios() -> Vec<Scenario> {
    scenario::load(&scenario::default_dir()).unwrap()
}

pub fn scenario(name: &str) -> Scenario {
    scenarios().into_iter().find(|s| s.name == name).unwrap()
}

pub struct Shared {
    pub ctx: RunCtx,
    pub baselines: HashMap<String, Baseline>,
}

/// Built once per test binary: the venv (provisioned on first use), the
/// init binaries, and every scenario's baseline (no init, direct).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        reaper::start();
        let dir = scenario::default_dir();
        let inits = inits::locate(Some(&init_dir())).unwrap();
        let docker = docker_available().then(|| docker::prepare(&inits, false));
        let ctx = RunCtx {
            inits,
            python: Some(python::provide(None, &dir).expect("the Python environment")),
            scenarios_dir: dir,
            timing: Timing::default(),
            expectations: Expectations::load(None).unwrap(),
            strict: true,
            workdir: tempfile::tempdir().unwrap().keep(),
            docker,
            trace: false,
            docker_mounts: Default::default(),
        };
        let none = variant("none");
        let baselines = scenarios()
            .iter()
            .map(|s| {
                let r = cell::run(&ctx, &none, s, EnvKind::Direct, None);
                (s.name.clone(), Baseline::from_processes(&r.processes))
            })
            .collect();
        Shared { ctx, baselines }
    })
}

pub fn run_cell(variant_name: &str, scenario_name: &str, env: EnvKind) -> CellResult {
    let shared = shared();
    cell::run(
        &shared.ctx,
        &variant(variant_name),
        &scenario(scenario_name),
        env,
        Some(&shared.baselines[scenario_name]),
    )
}

/// Everything a failed assertion should show.
pub fn dump(r: &CellResult) -> String {
    serde_json::to_string_pretty(r).unwrap()
}

/// The `initlab` binary with this build's init binaries.
pub fn initlab() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("initlab").unwrap();
    cmd.env("INITLAB_INIT_DIR", init_dir());
    cmd
}

/// Runs `cmd` (an `initlab … --format json`) and returns its report and
/// exit status; a missing report fails the test with what was printed.
pub fn json_report(mut cmd: assert_cmd::Command) -> (serde_json::Value, Option<i32>) {
    let out = cmd.output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code())
}

/// Every cell that did not match its expectation, one line each.
pub fn deviating(report: &serde_json::Value) -> Vec<String> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["matches_expectation"] != true || c["verdict"] == "skip")
        .map(|c| {
            format!(
                "{} × {} × {}: {}",
                c["variant"], c["scenario"], c["environment"], c["reason"]
            )
        })
        .collect()
}

/// The names of the checks a JSON report's cell failed.
pub fn failed_checks(cell: &serde_json::Value) -> Vec<String> {
    cell["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// A docker command run to completion, with a deadline.
pub fn docker_cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .arg("180")
        .arg("docker")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The roles of a JSON report's cell's processes, in order.
pub fn roles(cell: &serde_json::Value) -> Vec<&str> {
    cell["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["role"].as_str().unwrap())
        .collect()
}
