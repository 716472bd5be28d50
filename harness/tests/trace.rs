//! `--trace`: the signal system calls of the init and the workload, told in
//! the evidence, from the init's first instruction, in every environment.

mod common;

use std::time::Duration;

use common::{initlab, json_report};

#[test]
fn a_traced_run_names_the_issue_38_mask_and_the_missing_reset() {
    let mut envs = vec!["direct", "pid1"];
    if common::docker_available() {
        envs.push("docker");
    }
    let mut cmd = initlab();
    cmd.args([
        "run",
        "--trace",
        "--variant",
        "initlab-init-issue38,initlab-init",
        "--scenario",
        "probe",
        "--env",
        &envs.join(","),
        "--format",
        "json",
    ])
    .timeout(Duration::from_secs(300));
    let (report, status) = json_report(cmd);
    // Traced or not, every cell matches its expectation.
    assert_eq!(status, Some(0), "{report}");
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 * envs.len(), "{report}");
    for cell in cells {
        let trace = cell["trace"].as_str().unwrap_or_else(|| panic!("{cell}"));
        if cell["variant"] == "initlab-init-issue38" {
            assert!(
                trace.contains("initlab-init-issue38) blocked INT QUIT TERM CHLD, reading INT QUIT TERM CHLD from a signalfd"),
                "{trace}"
            );
            assert!(
                trace.contains(
                    "exec'd cp with INT QUIT TERM CHLD blocked (without an rt_sigprocmask between fork and exec)"
                ),
                "{trace}"
            );
        } else {
            assert!(trace.contains("initlab-init) blocked"), "{trace}");
            assert!(
                trace.contains("every one with an empty mask and nothing ignored"),
                "{trace}"
            );
        }
        // The whole trace is kept, and holds the calls the summary is made of.
        let kept = trace.rsplit("the whole trace: ").next().unwrap();
        let kept = kept.trim_end_matches(')');
        let text = std::fs::read_to_string(kept).unwrap_or_else(|e| panic!("{kept}: {e}"));
        assert!(
            text.contains("execve(") && text.contains("rt_sigprocmask("),
            "{kept}"
        );
    }
}

#[test]
fn without_strace_trace_is_one_line_saying_how_to_install_it() {
    let out = initlab()
        .env("PATH", "/nonexistent")
        .args([
            "run",
            "--trace",
            "--variant",
            "initlab-init",
            "--scenario",
            "probe",
            "--env",
            "direct",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("apt-get install strace"), "{stderr}");
}
