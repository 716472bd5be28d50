//! The harness's own test: every mutant init (initlab-init with one known
//! defect of a real init switched on) is caught by exactly the checks its
//! defect breaks, recorded in harness/expectations.yml, in every
//! environment; the output mutants are judged like initlab-init.
//!
//! The scenarios are the three whose checks cover every defect class: the
//! probe (masks of a C program), orphans (reaping), gunicorn-control (boot,
//! masks of Python processes, forwarding, TERM).

mod common;

use std::time::Duration;

#[test]
fn every_mutant_is_caught_by_the_checks_its_defect_breaks() {
    let envs = if common::docker_available() {
        "direct,pid1,docker"
    } else {
        "direct,pid1"
    };
    let mut cmd = common::initlab();
    cmd.args(["selftest", "--format", "json", "--env", envs])
        .args(["--scenario", "probe,orphans,gunicorn-control"])
        .timeout(Duration::from_secs(1200));
    let (report, status) = common::json_report(cmd);
    let cells = report["cells"].as_array().unwrap();
    let flags = initlab_init::defects::FLAGS.len();
    assert_eq!(cells.len(), flags * 3 * envs.split(',').count());
    let wrong = common::deviating(&report);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every defect that breaks a check is caught somewhere.
    for (flag, _) in initlab_init::defects::FLAGS {
        let name = format!("mutant-{flag}");
        let caught = cells
            .iter()
            .filter(|c| c["variant"] == name.as_str())
            .any(|c| c["verdict"] == "fail");
        let output_only = ["prefix-output", "silent"].contains(&flag);
        assert_eq!(caught, !output_only, "{name}");
    }
    assert_eq!(status, Some(0));
}
