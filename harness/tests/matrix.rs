//! The third-party inits, measured against their recorded expectations: a
//! finding that changes either way fails this test. Run as CI runs it
//! (`CI` set), a variant that is not installed fails rather than skips.

mod common;

use std::time::Duration;

use assert_cmd::Command;

#[test]
fn third_party_inits_match_their_expectations() {
    let docker = common::docker_available();
    let envs = if docker {
        "direct,pid1,docker"
    } else {
        "direct,pid1"
    };
    let out = Command::cargo_bin("initlab")
        .unwrap()
        .env("INITLAB_INIT_DIR", common::init_dir())
        .args([
            "run",
            "--variant",
            "none,tini,tini-g,dumb-init,catatonit,sh,docker-init",
            "--env",
            envs,
            "--format",
            "json",
        ])
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let cells = report["cells"].as_array().unwrap();
    // Six variants everywhere; docker-init runs only in docker.
    let scenarios = common::scenarios().iter().filter(|s| s.default).count();
    let want = 6 * scenarios * 2 + if docker { 7 * scenarios } else { 0 };
    assert_eq!(cells.len(), want, "variants × default scenarios × envs");
    let deviating: Vec<String> = cells
        .iter()
        .filter(|c| c["matches_expectation"] != true)
        .map(|c| {
            format!(
                "{} × {} × {}: {}",
                c["variant"], c["scenario"], c["environment"], c["reason"]
            )
        })
        .collect();
    assert!(deviating.is_empty(), "{}", deviating.join("\n"));
    assert_eq!(out.status.code(), Some(0));
}
