//! CI job matrices: `--shard I/N` splits one run, `initlab merge` joins the
//! shards' reports; `--repeat N` names a flaky cell instead of hiding it.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::{initlab, json_report};

const SELECTION: [&str; 8] = [
    "--variant",
    "none,initlab-init,initlab-init-issue38,tini",
    "--scenario",
    "probe,orphans",
    "--env",
    "direct,pid1",
    "--format",
    "json",
];

/// Cell id → (verdict, failed checks).
fn outcomes(report: &serde_json::Value) -> BTreeMap<String, (String, Vec<String>)> {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let failed = common::failed_checks(c);
            (
                format!(
                    "{} × {} × {}",
                    c["variant"], c["scenario"], c["environment"]
                ),
                (c["verdict"].as_str().unwrap().to_string(), failed),
            )
        })
        .collect()
}

fn run(extra: &[&str]) -> (serde_json::Value, Option<i32>) {
    let mut cmd = initlab();
    cmd.arg("run").args(SELECTION).args(extra);
    cmd.timeout(Duration::from_secs(300));
    json_report(cmd)
}

fn merge(reports: &[&Path], extra: &[&str]) -> std::process::Output {
    initlab()
        .arg("merge")
        .args(reports)
        .args(extra)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

#[test]
fn two_shards_hold_every_cell_once_and_merge_into_the_full_run() {
    let (full, status) = run(&[]);
    assert_eq!(status, Some(0), "{full}");
    let dir = tempfile::tempdir().unwrap();
    let mut shard_outcomes = Vec::new();
    let mut paths = Vec::new();
    for i in 1..=2 {
        let (report, status) = run(&["--shard", &format!("{i}/2")]);
        assert_eq!(status, Some(0), "{report}");
        assert_eq!(report["shard"]["index"], i);
        let path = dir.path().join(format!("shard-{i}.json"));
        std::fs::write(&path, report.to_string()).unwrap();
        shard_outcomes.push(outcomes(&report));
        paths.push(path);
    }
    let (a, b) = (&shard_outcomes[0], &shard_outcomes[1]);
    assert!(!a.is_empty() && !b.is_empty(), "both shards have work");
    assert!(
        a.keys().all(|k| !b.contains_key(k)),
        "no cell in both: {a:?} {b:?}"
    );
    let mut union = a.clone();
    union.extend(b.clone());
    // The same cells, and the same verdicts as the unsharded run.
    assert_eq!(union, outcomes(&full));

    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let out = merge(&refs, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outcomes(&merged), union);
    let out = merge(&refs, &["--format", "junit"]);
    let junit = String::from_utf8_lossy(&out.stdout);
    assert_eq!(junit.matches("<testcase").count(), union.len(), "{junit}");
    let out = merge(&refs, &[]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!("{} cells:", union.len())),
        "{table}"
    );

    // A deviating cell in one shard fails the merged run.
    let mut bent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths[1]).unwrap()).unwrap();
    bent["cells"][0]["matches_expectation"] = false.into();
    let bent_path = dir.path().join("bent.json");
    std::fs::write(&bent_path, bent.to_string()).unwrap();
    let out = merge(&[&paths[0], &bent_path], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // Refused, one line each: a shard given twice, a shard missing, not a report.
    for (reports, needle) in [
        (vec![refs[0], refs[0]], "is in both"),
        (vec![refs[0]], "shard 2/2 is missing"),
        (vec![Path::new("Cargo.toml")], "not an initlab JSON report"),
        (vec![Path::new("no-such-report.json")], "cannot read"),
    ] {
        let out = merge(&reports, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_shard_beyond_the_cells_runs_nothing_and_passes() {
    let mut cmd = initlab();
    cmd.args([
        "run",
        "--variant",
        "initlab-init",
        "--scenario",
        "probe",
        "--env",
        "direct",
        "--format",
        "json",
        "--shard",
        "3/3",
    ]);
    let (report, status) = json_report(cmd);
    assert_eq!(status, Some(0), "{report}");
    assert_eq!(report["cells"].as_array().unwrap().len(), 0);
}

#[test]
fn bad_shard_and_repeat_are_usage_errors() {
    for args in [
        &["run", "--shard", "0/2"][..],
        &["run", "--shard", "3/2"],
        &["run", "--shard", "half"],
        &["run", "--repeat", "0"],
        &["run", "--repeat", "many"],
    ] {
        let out = initlab().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}

#[test]
fn repeat_runs_every_cell_and_names_a_flaky_one() {
    // A stand-in init that leaves SIGUSR2 ignored in its child every second
    // time it runs a command: flaky by construction.
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("flip");
    std::fs::write(
        &init,
        format!(
            "#!/bin/sh\ncase \"$1\" in --version) echo flip 1.0; exit 0;; esac\n\
             n=$(cat {d}/count 2>/dev/null || echo 0); echo $((n + 1)) > {d}/count\n\
             if [ $((n % 2)) -eq 1 ]; then trap '' USR2; fi\nexec \"$@\"\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = initlab();
    cmd.args(["run", "--init"])
        .arg(format!("flip={}", init.display()))
        .args([
            "--variant",
            "flip,initlab-init",
            "--scenario",
            "probe",
            "--env",
            "direct",
            "--repeat",
            "2",
            "--jobs",
            "1",
            "--format",
            "json",
        ]);
    let (report, status) = json_report(cmd);
    assert_eq!(status, Some(1), "a flaky cell fails the run: {report}");
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2, "one result per cell: {report}");
    let ours = cells
        .iter()
        .find(|c| c["variant"] == "initlab-init")
        .unwrap();
    assert_eq!(ours["runs"], 2, "{ours}");
    assert!(ours["flaky"].is_null(), "{ours}");
    assert_eq!(ours["matches_expectation"], true);
    let flip = cells.iter().find(|c| c["variant"] == "flip").unwrap();
    assert_eq!(flip["flaky"], true, "{flip}");
    assert_eq!(flip["matches_expectation"], false);
    let rounds = flip["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2);
    let verdicts: Vec<&str> = rounds
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "fail"], "{flip}");
    assert!(
        rounds[1]["failed_checks"]
            .as_array()
            .unwrap()
            .contains(&"ignored".into()),
        "{flip}"
    );
    let evidence = rounds[1]["checks"].to_string();
    assert!(
        evidence.contains("USR2"),
        "the evidence names it: {evidence}"
    );
    let reason = flip["reason"].as_str().unwrap();
    assert!(
        reason.contains("flaky over 2 runs") && reason.contains("run 2: fail (ignored)"),
        "{reason}"
    );
}
