//! The third-party inits, measured against their recorded expectations: a
//! finding that changes either way fails this test. Run as CI runs it
//! (`CI` set), a variant that is not installed fails rather than skips.

mod common;

use std::time::Duration;

#[test]
fn third_party_inits_match_their_expectations() {
    let docker = common::docker_available();
    let envs = if docker {
        "direct,pid1,docker"
    } else {
        "direct,pid1"
    };
    let mut cmd = common::initlab();
    cmd.args([
        "run",
        "--variant",
        "none,tini,tini-g,dumb-init,catatonit,sh,docker-init",
        "--env",
        envs,
        "--format",
        "json",
    ])
    .timeout(Duration::from_secs(600));
    let (report, status) = common::json_report(cmd);
    let cells = report["cells"].as_array().unwrap();
    // Six variants everywhere; docker-init runs only in docker.
    let scenarios = common::scenarios().iter().filter(|s| s.default).count();
    let want = 6 * scenarios * 2 + if docker { 7 * scenarios } else { 0 };
    assert_eq!(cells.len(), want, "variants × default scenarios × envs");
    let deviating = common::deviating(&report);
    assert!(deviating.is_empty(), "{}", deviating.join("\n"));
    assert_eq!(status, Some(0));
}
