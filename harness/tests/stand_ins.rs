//! Inits the harness was not built around, as stand-ins: one that prefixes
//! every line of its children's output, one that throws it away, and one
//! that prefixes and hands SIGPIPE on ignored. Their verdicts must be those
//! of `sh -c` (the same shape of init: a shell with the workload as its
//! child), cell for cell, except the real leak, which must be named.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use assert_cmd::Command;

/// `(variant, scenario, environment)` → the failed checks.
type Verdicts = BTreeMap<(String, String, String), BTreeSet<String>>;

/// A stand-in init: a shell script in `dir`, as `--init NAME=PATH`.
fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{name}={}", path.display())
}

/// `initlab run` with these `--init`s over the given selection, as JSON.
fn run(
    inits: &[String],
    variants: &str,
    scenarios: &str,
    envs: &str,
) -> (Verdicts, serde_json::Value) {
    let mut cmd = common::initlab();
    cmd.args(["run", "--format", "json", "--env", envs]).args([
        "--scenario",
        scenarios,
        "--variant",
        variants,
    ]);
    for init in inits {
        cmd.arg("--init").arg(init);
    }
    cmd.timeout(Duration::from_secs(300));
    let (report, _) = common::json_report(cmd);
    let mut verdicts = Verdicts::new();
    for cell in report["cells"].as_array().unwrap() {
        let failed = common::failed_checks(cell).into_iter().collect();
        let key = |k: &str| cell[k].as_str().unwrap().to_string();
        verdicts.insert(
            (key("variant"), key("scenario"), key("environment")),
            failed,
        );
    }
    (verdicts, report)
}

/// The stand-ins that only handle output: one prefixing every line, one
/// throwing it all away.
fn output_inits(dir: &std::path::Path) -> [String; 2] {
    [
        script(
            dir,
            "prefixing",
            r#""$@" 2>&1 | sed -u "s/^/2026-01-01 INFO [app] /""#,
        ),
        script(dir, "silent", r#""$@" >/dev/null 2>&1"#),
    ]
}

/// Every cell of `variant` has the verdicts of the same cell of `like`.
fn assert_same(verdicts: &Verdicts, variant: &str, like: &str) {
    let mut compared = 0;
    for ((v, scenario, env), failed) in verdicts {
        if v == variant {
            let theirs = &verdicts[&(like.to_string(), scenario.clone(), env.clone())];
            assert_eq!(
                failed, theirs,
                "{variant} × {scenario} × {env} differs from {like}: {verdicts:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 0, "no cell of {variant}: {verdicts:?}");
}

#[test]
fn output_handling_never_changes_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let [prefixing, silent] = output_inits(dir.path());
    let leaky = script(
        dir.path(),
        "leaky",
        r#"trap '' PIPE; "$@" 2>&1 | sed -u "s/^/[app] /""#,
    );
    let inits = [prefixing, silent, leaky];
    let (verdicts, report) = run(
        &inits,
        "sh,prefixing,silent,leaky",
        "probe,gevent-subprocess,gunicorn-gevent",
        "direct,pid1",
    );
    assert_eq!(verdicts.len(), 4 * 3 * 2, "{verdicts:?}");
    assert_same(&verdicts, "prefixing", "sh");
    assert_same(&verdicts, "silent", "sh");
    // The leak is real, and the probe (a C program) shows it by name:
    // Python ignores SIGPIPE by itself, so its baseline does too.
    for cell in report["cells"].as_array().unwrap() {
        if cell["variant"] != "leaky" || cell["scenario"] != "probe" {
            continue;
        }
        let failed: Vec<&serde_json::Value> = cell["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["verdict"] == "fail")
            .collect();
        assert_eq!(failed.len(), 1, "{cell}");
        assert_eq!(failed[0]["name"], "ignored", "{cell}");
        assert!(
            failed[0]["evidence"].as_str().unwrap().contains("SIGPIPE"),
            "the leak is named: {cell}"
        );
    }
}

/// A wrapper that execs into its command (`env`, as gosu, su-exec and
/// setpriv do) leaves the workload as the first process: judged exactly like
/// no init at all, roles included.
#[test]
fn an_exec_wrapper_is_judged_like_none() {
    let (verdicts, report) = run(
        &["ex=env".to_string()],
        "none,ex",
        "gunicorn-gevent,gunicorn-control",
        "direct,pid1",
    );
    assert_same(&verdicts, "ex", "none");
    for cell in report["cells"].as_array().unwrap() {
        let roles = common::roles(cell);
        assert!(!roles.contains(&"init"), "no init under `env`: {cell}");
        assert_eq!(
            roles.iter().filter(|r| **r == "master").count(),
            1,
            "{cell}"
        );
    }
}

/// A user's init in the docker environment: the host file is bind-mounted
/// into the container at the same path, and the verdicts are those of `sh`.
#[test]
fn a_users_init_runs_in_docker_too() {
    if !common::docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inits = output_inits(dir.path());
    let (verdicts, _) = run(
        &inits,
        "sh,prefixing,silent",
        "probe,gunicorn-gevent",
        "docker",
    );
    assert_eq!(verdicts.len(), 3 * 2, "{verdicts:?}");
    assert!(
        verdicts.values().all(BTreeSet::is_empty),
        "all pass, none skipped: {verdicts:?}"
    );
    assert_same(&verdicts, "prefixing", "sh");
    assert_same(&verdicts, "silent", "sh");
}

/// An init that cannot run inside the image stops the run before any cell,
/// with one line holding the engine's own words, status 3.
#[test]
fn an_init_that_cannot_run_in_the_image_is_named_with_the_real_cause() {
    if !common::docker_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken");
    std::fs::write(&broken, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = common::initlab()
        .args([
            "run",
            "--env",
            "docker",
            "--scenario",
            "probe",
            "--variant",
            "broken",
        ])
        .arg("--init")
        .arg(format!("broken={} --", broken.display()))
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("variant `broken`"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("cannot run inside"), "{line}");
    assert!(
        line.contains("no such file or directory"),
        "the engine's words: {line}"
    );
}

/// Paths as people type them: relative to where they ran the command. A
/// relative --init-dir and a relative --init program give the same verdicts
/// as absolute ones, and nothing is skipped.
#[test]
fn relative_paths_mean_what_they_mean_in_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "wrap", r#"exec "$@""#);
    let init_dir = common::init_dir();
    let out = Command::cargo_bin("initlab")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "run",
            "--format",
            "json",
            "--env",
            "direct,pid1",
            "--scenario",
            "probe",
        ])
        .args([
            "--variant",
            "initlab-init,initlab-init-issue38,wrap",
            "--init",
            "wrap=./wrap",
        ])
        .arg("--init-dir")
        .arg(pathdiff(&init_dir, dir.path()))
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    for cell in report["cells"].as_array().unwrap() {
        assert_ne!(cell["verdict"], "skip", "{cell}");
        assert_eq!(cell["matches_expectation"], true, "{cell}");
    }
    assert_eq!(out.status.code(), Some(0));
}

/// `to` written relative to `from`, with `..` as needed.
fn pathdiff(to: &std::path::Path, from: &std::path::Path) -> std::path::PathBuf {
    let to: Vec<_> = to.components().collect();
    let from: Vec<_> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut rel = std::path::PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c.as_os_str());
    }
    rel
}

/// A cell asked for by name that is skipped fails the run, with status 4
/// and the reason; `--allow-skip` accepts it.
#[test]
fn a_skip_asked_for_is_never_green() {
    let run_it = |extra: &[&str]| {
        common::initlab()
            .env_remove("CI")
            .args([
                "run",
                "--format",
                "json",
                "--env",
                "direct",
                "--scenario",
                "probe",
            ])
            .args([
                "--variant",
                "absent",
                "--init",
                "absent=/nonexistent/init --",
            ])
            .args(extra)
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    };
    let out = run_it(&[]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(4), "{report}");
    assert_eq!(report["matched"], false);
    let cell = &report["cells"][0];
    assert_eq!(cell["verdict"], "skip");
    assert!(
        cell["reason"].as_str().unwrap().contains("--allow-skip"),
        "{cell}"
    );
    let out = run_it(&["--allow-skip"]);
    assert_eq!(out.status.code(), Some(0));
}

/// An init that prints 200 MB before it execs the workload: its verdicts
/// are those of an exec wrapper, and the log kept of it is cut back.
#[test]
fn a_loud_init_is_judged_and_its_log_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let loud = script(dir.path(), "loud", r#"yes | head -c 200000000; exec "$@""#);
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let mut cmd = common::initlab();
    cmd.env("TMPDIR", &runs)
        .args(["run", "--format", "json", "--env", "direct"])
        .args(["--scenario", "probe", "--variant", "loud", "--init", &loud])
        .timeout(Duration::from_secs(300));
    let (report, status) = common::json_report(cmd);
    assert_eq!(status, Some(0), "{report}");
    let logs: Vec<_> = walk(&runs)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("loud--probe--direct.log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let len = std::fs::metadata(&logs[0]).unwrap().len();
    assert!(len < 128 << 20, "{} is {len} bytes", logs[0].display());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
