//! The benchmark's smoke test: tiny sizes, every init, both environments;
//! it proves the benchmark runs and that no orphan is left a zombie. The
//! figures themselves are measured by `initlab bench`, not here.

mod common;

use std::time::Duration;

use assert_cmd::Command;

#[test]
fn quick_bench_runs_every_init_and_leaves_no_zombie() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("bench.md");
    let out = Command::cargo_bin("initlab")
        .unwrap()
        .env("INITLAB_INIT_DIR", common::init_dir())
        .args(["bench", "--quick", "--output"])
        .arg(&report)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&report).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| {
            l.starts_with("| ") && !l.starts_with("| init |") && !l.starts_with("| harness |")
        })
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .filter(|c: &Vec<String>| c.len() == 12)
        .collect();
    for init in ["none", "initlab-init", "tini", "dumb-init", "catatonit"] {
        for env in ["direct", "pid1"] {
            let row = rows
                .iter()
                .find(|r| r[1] == init && r[2] == env)
                .unwrap_or_else(|| panic!("no row for {init} {env}:\n{text}"));
            assert!(
                row[3].ends_with(')') && row[3].contains("ms"),
                "spawn measured: {row:?}"
            );
            assert!(row[5].contains("µs"), "latency measured: {row:?}");
            if env == "pid1" && init != "none" {
                assert_eq!(row[8], "0", "zombies left under {init}: {row:?}");
                assert!(row[7].contains(" ms ("), "the init's CPU: {row:?}");
                assert!(
                    row[6]
                        .split_whitespace()
                        .next()
                        .and_then(|r| r.parse::<f64>().ok())
                        .is_some_and(|r| r > 0.0),
                    "reaping rate: {row:?}"
                );
            }
            if init == "initlab-init" {
                assert!(row[10].ends_with("kB, static"), "a static init: {row:?}");
            }
        }
    }
    // Each figure of ours against the best peer of the same run, with a
    // verdict: measured, never assumed.
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
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("| {env} | {figure}")))
                .unwrap_or_else(|| panic!("no {figure} against the best peer in {env}:\n{text}"));
            assert!(
                line.ends_with("| meets |") || line.contains("| misses by "),
                "{line}"
            );
        }
    }
    assert!(text.contains("cell ÷ bare"), "{text}");
    // Whether the inits ran in a CPU cgroup of their own, said either way.
    assert!(
        text.contains("The inits ran in the CPU cgroup")
            || text.contains("No CPU cgroup could be made"),
        "{text}"
    );
}
