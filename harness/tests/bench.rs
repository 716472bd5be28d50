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
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    // The main table's columns, found by their headings.
    let heading = cells(
        text.lines()
            .find(|l| l.starts_with("| init | env |"))
            .unwrap_or_else(|| panic!("no main table:\n{text}")),
    );
    let col = |name: &str| {
        heading
            .iter()
            .position(|h| h.starts_with(name))
            .unwrap_or_else(|| panic!("no column {name} in {heading:?}"))
    };
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| init |"))
        .map(cells)
        .filter(|c| c.len() == heading.len())
        .collect();
    for init in ["none", "initlab-init", "tini", "dumb-init", "catatonit"] {
        for env in ["direct", "pid1"] {
            let row = rows
                .iter()
                .find(|r| r[col("init")] == init && r[col("env")] == env)
                .unwrap_or_else(|| panic!("no row for {init} {env}:\n{text}"));
            let spawn = &row[col("spawn")];
            assert!(
                spawn.ends_with(')') && spawn.contains("ms"),
                "spawn measured: {row:?}"
            );
            assert!(
                row[col("SIGTERM latency")].contains("µs"),
                "latency measured: {row:?}"
            );
            if env == "pid1" && init != "none" {
                assert_eq!(
                    row[col("zombies left")],
                    "0",
                    "zombies left under {init}: {row:?}"
                );
                assert!(
                    row[col("init CPU")].contains(" ms ("),
                    "the init's CPU: {row:?}"
                );
                assert!(
                    row[col("orphans reaped")]
                        .split_whitespace()
                        .next()
                        .and_then(|r| r.parse::<f64>().ok())
                        .is_some_and(|r| r > 0.0),
                    "reaping rate: {row:?}"
                );
            }
            if init == "initlab-init" {
                assert!(
                    row[col("binary")].ends_with("kB, static"),
                    "a static init: {row:?}"
                );
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
