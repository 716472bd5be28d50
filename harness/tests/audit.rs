//! `initlab audit` on what a user already has: a process tree on the host,
//! containers started by hand, and images whose ENTRYPOINT is an init.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::initlab;

fn audit(args: &[&str]) -> (serde_json::Value, Option<i32>, String) {
    let out = initlab()
        .arg("audit")
        .args(["--settle", "1", "--format", "json"])
        .args(args)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
    (report["cells"][0].clone(), out.status.code(), stderr)
}

use common::{docker_cli as docker, failed_checks as failed};

fn evidence(cell: &serde_json::Value, check: &str) -> String {
    cell["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .map(|c| c["evidence"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {check} in {cell}"))
}

/// A tree on the host, killed with its init when the test ends.
struct Tree(Child);

impl Tree {
    fn start(init: &Path) -> Tree {
        Tree::start_with(init, "sleep 60 & exec sleep 60")
    }

    fn start_with(init: &Path, script: &str) -> Tree {
        let child = Command::new(init)
            .args(["--", "sh", "-c", script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Tree(child)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_host_tree_under_the_issue_38_init_fails_and_ours_passes() {
    let dir = common::init_dir();
    let broken = Tree::start(&dir.join("initlab-init-issue38"));
    let (cell, status, err) = audit(&["--pid", &broken.0.id().to_string()]);
    assert_eq!(status, Some(1), "{cell} {err}");
    assert_eq!(failed(&cell), ["blocked"], "{cell}");
    let blocked = evidence(&cell, "blocked");
    assert!(blocked.contains("0000000000014006"), "{blocked}");
    assert!(blocked.contains("handed down"), "{blocked}");
    assert_eq!(cell["processes"][0]["role"], "init");
    assert!(
        cell["versions"]["init"]
            .as_str()
            .is_some_and(|v| v.ends_with("/initlab-init-issue38")),
        "the init named by its executable: {cell}"
    );
    // Nothing of a host process is run to name it.
    assert!(cell["versions"]["init version"].is_null(), "{cell}");
    drop(broken);

    let clean = Tree::start(&dir.join("initlab-init"));
    let (cell, status, err) = audit(&["--pid", &clean.0.id().to_string()]);
    assert_eq!(status, Some(0), "{cell} {err}");
    assert!(failed(&cell).is_empty(), "{cell}");
    // The init, the shell's background `sleep`, and the shell become `sleep`.
    assert_eq!(cell["processes"].as_array().unwrap().len(), 3, "{cell}");
}

/// The checks that read state rather than masks, on real processes: the
/// shell's background child exits once the shell has become `sleep`, which
/// never reaps it. Under the issue-38 init the shell and so `sleep` have
/// SIGCHLD blocked, and the child's SIGCHLD stays pending.
#[test]
fn a_lasting_zombie_and_a_stuck_sigchld_are_found_in_a_real_tree() {
    let dir = common::init_dir();
    let script = "sleep 0.2 & exec sleep 60";
    let broken = Tree::start_with(&dir.join("initlab-init-issue38"), script);
    let (cell, status, err) = audit(&["--pid", &broken.0.id().to_string()]);
    assert_eq!(status, Some(1), "{cell} {err}");
    assert_eq!(
        failed(&cell),
        ["blocked", "sigchld-pending", "zombies"],
        "{cell}"
    );
    let pending = evidence(&cell, "sigchld-pending");
    assert!(pending.contains("sleep 60"), "{pending}");
    let zombies = evidence(&cell, "zombies");
    assert!(zombies.contains("not reaped by its parent"), "{zombies}");
    drop(broken);

    let clean = Tree::start_with(&dir.join("initlab-init"), script);
    let (cell, status, err) = audit(&["--pid", &clean.0.id().to_string()]);
    assert_eq!(status, Some(1), "{cell} {err}");
    assert_eq!(failed(&cell), ["zombies"], "{cell}");
}

#[test]
fn bad_targets_are_one_line_and_exit_2() {
    for args in [
        &["audit", "--pid", "999999999"][..],
        &["audit"],
        &["audit", "--pid", "1", "--container", "x"],
        &["audit", "--pid", "1", "--entrypoint", "/x"],
    ] {
        let out = initlab().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    }
    if common::docker_available() {
        let out = initlab()
            .args(["audit", "--container", "initlab-no-such-container"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("no container"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let out = initlab()
            .args(["audit", "--image", "initlab-no-such-image:1"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("no image initlab-no-such-image:1"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// Images and containers made by this test, removed on every way out.
struct Made {
    images: Vec<String>,
    containers: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for i in &self.images {
            let _ = docker(&["rmi", "-f", i]);
        }
    }
}

const GUNICORN: &str = r#"["python3", "-m", "gunicorn", "-k", "gevent", "-w", "2", "-b", "127.0.0.1:8000", "app:application"]"#;

/// The workload image with this build's inits copied in and `entrypoint`
/// as its ENTRYPOINT, gunicorn as its CMD.
fn image_with(made: &mut Made, workload: &str, name: &str, entrypoint: &str) -> String {
    let ctx = tempfile::tempdir().unwrap();
    let dir = common::init_dir();
    for bin in ["initlab-init", "initlab-init-issue38"] {
        std::fs::copy(dir.join(bin), ctx.path().join(bin)).unwrap();
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {workload}\nCOPY initlab-init initlab-init-issue38 /usr/local/bin/\n\
             ENTRYPOINT {entrypoint}\nCMD {GUNICORN}\n"
        ),
    )
    .unwrap();
    let tag = format!("initlab-audit-test-{name}:{}", std::process::id());
    made.images.push(tag.clone());
    let out = docker(&["build", "-q", "-t", &tag, ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "docker build: {out:?}");
    tag
}

#[test]
fn images_and_running_containers_are_judged_by_their_init() {
    if !common::docker_available() {
        return;
    }
    let out = initlab()
        .arg("images")
        .timeout(Duration::from_secs(900))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let workload = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut made = Made {
        images: Vec::new(),
        containers: Vec::new(),
    };
    let issue38 = image_with(
        &mut made,
        &workload,
        "issue38",
        r#"["/usr/local/bin/initlab-init-issue38", "--"]"#,
    );
    let ours = image_with(
        &mut made,
        &workload,
        "ours",
        r#"["/usr/local/bin/initlab-init", "--"]"#,
    );
    let tini = image_with(&mut made, &workload, "tini", r#"["tini", "--"]"#);
    let catatonit = image_with(&mut made, &workload, "catatonit", r#"["catatonit", "--"]"#);

    // Images, run as their users would, then stopped.
    let stop = ["--stop-timeout", "5"];
    let (cell, status, err) = audit(&[&["--image", &issue38, "--trace"][..], &stop].concat());
    assert_eq!(status, Some(1), "{cell} {err}");
    // Traced from the container's first instruction: the init's own mask,
    // then the master exec'd with it.
    let trace = cell["trace"].as_str().unwrap_or_else(|| panic!("{cell}"));
    assert!(
        trace.contains("initlab-init-issue38) blocked INT QUIT TERM CHLD"),
        "{trace}"
    );
    assert!(
        trace.contains("exec'd python3 with INT QUIT TERM CHLD blocked"),
        "{trace}"
    );
    let f = failed(&cell);
    assert!(
        f.contains(&"blocked".into()) && f.contains(&"term".into()),
        "{cell}"
    );
    assert!(
        evidence(&cell, "blocked").contains("0000000000014006"),
        "{cell}"
    );
    assert!(evidence(&cell, "term").contains("SIGKILL"), "{cell}");
    assert_eq!(cell["variant"], "initlab-init-issue38");

    for clean in [&ours, &tini] {
        let (cell, status, err) = audit(&[&["--image", clean][..], &stop].concat());
        assert_eq!(status, Some(0), "{clean}: {cell} {err}");
        assert!(failed(&cell).is_empty(), "{cell}");
        let roles = common::roles(&cell);
        assert_eq!(roles[..2], ["init", "master"], "{cell}");
        assert!(
            roles.iter().filter(|r| **r == "worker").count() >= 2,
            "{cell}"
        );
        assert!(
            evidence(&cell, "ignored").contains("CPython does that by itself"),
            "{cell}"
        );
    }

    let (cell, status, err) = audit(&[&["--image", &catatonit][..], &stop].concat());
    assert_eq!(status, Some(1), "{cell} {err}");
    assert!(failed(&cell).contains(&"blocked".into()), "{cell}");
    let blocked = evidence(&cell, "blocked");
    assert!(
        blocked.contains("TTIN") && blocked.contains("TSTP"),
        "{blocked}"
    );

    // An image whose command exits at once cannot be audited, and says so.
    let (cell, status, _) = audit(&["--image", &tini, "--", "true"]);
    assert_eq!(status, Some(1), "{cell}");
    assert!(failed(&cell).contains(&"running".into()), "{cell}");

    // Containers started by hand, read without being touched.
    for (image, clean) in [(&issue38, false), (&tini, true)] {
        let name = format!("initlab-audit-test-{}", made.containers.len());
        made.containers.push(name.clone());
        let out = docker(&["run", "-d", "--name", &name, "--network", "none", image]);
        assert!(out.status.success(), "{out:?}");
        std::thread::sleep(Duration::from_secs(3));
        let (cell, status, err) = audit(&["--container", &name]);
        let running = docker(&["inspect", "-f", "{{.State.Running}}", &name]);
        assert_eq!(
            String::from_utf8_lossy(&running.stdout).trim(),
            "true",
            "the audit left the container running"
        );
        if clean {
            assert_eq!(status, Some(0), "{cell} {err}");
        } else {
            assert_eq!(status, Some(1), "{cell} {err}");
            assert!(evidence(&cell, "blocked").contains("0000000000014006"));
        }
    }
    // Nothing of the image audits is left.
    let left = docker(&["ps", "-aq", "--filter", "name=initlab-audit-"]);
    let left = String::from_utf8_lossy(&left.stdout);
    assert_eq!(
        left.split_whitespace().count(),
        made.containers.len(),
        "only the hand-started containers: {left}"
    );
}
