//! The benchmark's smoke test: tiny sizes, every init (a user's own too),
//! both environments; it proves the benchmark runs and that no orphan is
//! left a zombie. The figures themselves are measured by `initlab bench`,
//! not here.

mod common;

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// `initlab bench --quick --init INIT`, its JSON report written as
/// `bench.json` in the directory returned.
fn quick_bench(init: &str) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("initlab")
        .unwrap()
        .env("INITLAB_INIT_DIR", common::init_dir())
        .args(["bench", "--quick", "--init", init])
        .args(["--format", "json", "--output"])
        .arg(dir.path().join("bench.json"))
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    (dir, out)
}

#[test]
fn quick_bench_runs_every_init_and_leaves_no_zombie() {
    // A user's own init is measured beside the built-in ones, never taken
    // for a peer.
    let (dir, out) = quick_bench("my-tini=tini -g --");
    let path = dir.path().join("bench.json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    let median = |v: &Value| v["median"].as_f64().filter(|m| *m > 0.0);
    for init in [
        "none",
        "initlab-init",
        "tini",
        "dumb-init",
        "catatonit",
        "my-tini",
    ] {
        for env in ["direct", "pid1"] {
            let row = report["inits"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["init"] == init && r["env"] == env)
                .unwrap_or_else(|| panic!("no row for {init} {env}:\n{text}"));
            assert_eq!(row["installed"], true, "{row}");
            assert!(median(&row["spawn_ms"]).is_some(), "spawn measured: {row}");
            assert!(
                median(&row["sigterm_latency_us"]).is_some(),
                "latency measured: {row}"
            );
            if env == "pid1" && init != "none" {
                assert_eq!(row["zombies_left"], 0, "zombies left under {init}: {row}");
                assert!(
                    row["init_cpu_for_burst_ms"]["median"].is_f64(),
                    "the init's CPU: {row}"
                );
                assert!(
                    median(&row["orphans_reaped_per_second"]).is_some(),
                    "reaping rate: {row}"
                );
            }
            if init == "initlab-init" {
                assert_eq!(row["binary_static"], true, "a static init: {row}");
            }
            // Every round of an init is placed: read from /proc, not assumed.
            let placed: u64 = row["sigterm_latency_by_placement"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["rounds"].as_u64().unwrap())
                .sum();
            let expected = if init == "none" { 0 } else { 6 };
            assert_eq!(placed, expected, "rounds placed under {init}: {row}");
            // The pages a forwarded signal touched, from the kernel's
            // accessed bits: at least the page of code that calls `kill`
            // (with the init's TLB entries left in place, most inits here
            // read as 0). How many is a figure of the optimised build, for
            // `initlab bench` to report.
            // The init's CPU per forwarded signal, from its schedstat: an
            // init that forwarded spent some, and `none` has no init.
            let cpu = median(&row["init_cpu_per_forward_us"]);
            if init == "none" {
                assert!(row["init_cpu_per_forward_us"].is_null(), "{row}");
            } else {
                assert!(cpu.is_some_and(|c| c < 10_000.0), "{row}");
            }
            let pages = row["pages_touched_per_forward"].as_f64();
            if init == "none" {
                assert_eq!(pages, None, "{row}");
            } else {
                assert!(pages.is_some_and(|p| (1.0..200.0).contains(&p)), "{row}");
            }
        }
    }
    // Each figure of ours against the best peer of the same run, with a
    // verdict: measured, never assumed.
    let comparisons = report["against_best_peer"].as_array().unwrap();
    for env in ["direct", "pid1"] {
        let burst: &[&str] = if env == "pid1" {
            &["orphans", "init CPU"]
        } else {
            &[]
        };
        for figure in ["spawn", "SIGTERM", "VmRSS", "static binary"]
            .iter()
            .chain(burst)
        {
            let c = comparisons
                .iter()
                .find(|c| c["env"] == env && c["figure"].as_str().unwrap().starts_with(figure))
                .unwrap_or_else(|| panic!("no {figure} against the best peer in {env}:\n{text}"));
            assert!(c["meets"].is_boolean(), "{c}");
            assert!(c["ratio"].as_f64().is_some_and(|r| r > 0.0), "{c}");
            // Timed figures measured in more than one unit carry an interval.
            if ["spawn", "SIGTERM"].contains(figure) {
                let ci = c["ratio_ci95"].as_array().unwrap_or_else(|| panic!("{c}"));
                assert!(ci[0].as_f64() <= ci[1].as_f64(), "{c}");
                assert!(c["within_noise"].is_boolean(), "{c}");
            }
            assert!(
                ["tini", "dumb-init", "catatonit"].contains(&c["best_peer"].as_str().unwrap()),
                "{c}"
            );
        }
    }
    let harness = report["harness"].as_array().unwrap();
    assert!(
        harness
            .iter()
            .any(|h| h["what"] == "cell ÷ bare" && h["ratio"].as_f64().is_some_and(|r| r > 0.0)),
        "{text}"
    );
    // Whether the inits ran in a CPU cgroup of their own, said either way.
    let scheduling = report["scheduling"].as_str().unwrap();
    assert!(
        scheduling.starts_with("The inits ran in the CPU cgroup")
            || scheduling.starts_with("No CPU cgroup could be made"),
        "{scheduling}"
    );
}

/// A user's init that never exits gets a deadline, not the benchmark's
/// whole life: it is named, left unmeasured, and nothing of it is left.
#[test]
fn an_init_that_never_exits_is_named_and_not_waited_for() {
    let (dir, out) = quick_bench("stuck=sh -c 'exec sleep 1013' x");
    let path = dir.path().join("bench.json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("stuck did not exit within 10s") && stderr.contains("give an argv prefix"),
        "{stderr}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for env in ["direct", "pid1"] {
        let row = report["inits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["init"] == "stuck" && r["env"] == env)
            .unwrap_or_else(|| panic!("no row for stuck {env}"));
        assert!(row["spawn_ms"].is_null(), "{row}");
    }
    let left = std::process::Command::new("pgrep")
        .args(["-xf", "sleep 1013"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "left behind: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}
