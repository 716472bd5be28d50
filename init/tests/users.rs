//! Switching users as `docker run --user` and gosu do: groups and HOME from
//! the container's own /etc files, and nothing to switch when the init
//! already runs as that user. Relative paths are taken from `workdir`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Runs the init on `yaml`, under `setpriv` with `setpriv` arguments when
/// any are given (to start the init as another user or with other groups).
fn run_config(dir: &std::path::Path, yaml: &str, setpriv: &[&str]) -> std::process::Output {
    let cfg = dir.join("c.yml");
    std::fs::write(&cfg, yaml).unwrap();
    let mut cmd = if setpriv.is_empty() {
        Command::new(INIT)
    } else {
        let mut c = Command::new("setpriv");
        c.args(setpriv).arg(INIT);
        c
    };
    cmd.args(["-c", cfg.to_str().unwrap()]);
    assert_cmd::Command::from_std(cmd)
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap()
}

const AS_NOBODY: &[&str] = &["--reuid", "65534", "--regid", "65534", "--clear-groups"];

fn expected_home_of_nobody() -> String {
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(5).map(str::to_string))
        .expect("nobody in /etc/passwd")
}

#[test]
fn a_user_gets_its_home_and_groups_from_etc() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = run_config(
        dir.path(),
        "programs:\n  - name: who\n    user: nobody\n    path: sh\n    args: [-c, 'echo \"$(id -u) $(id -g) $(id -G) $HOME $USER\"']\n",
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("65534 65534 65534 {} nobody", expected_home_of_nobody())
    );
}

#[test]
fn an_init_already_running_as_the_user_just_starts_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_config(
        dir.path(),
        "programs:\n  - {name: who, user: nobody, path: id, args: [-u]}\n",
        AS_NOBODY,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");
}

#[test]
fn a_relative_path_is_found_in_the_workdir() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(app.join("srv"), "#!/bin/sh\necho served from $(pwd)\n").unwrap();
    std::fs::set_permissions(
        app.join("srv"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = run_config(
        dir.path(),
        &format!(
            "programs:\n  - {{name: srv, path: ./srv, workdir: {}}}\n",
            app.display()
        ),
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("served from {}", app.display())
    );
}

/// `gid:` alone switches the group, as it did before users were read from
/// /etc: nothing else is needed to ask for it.
#[test]
fn a_gid_alone_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_config(
        dir.path(),
        "programs:\n  - {name: who, gid: 65534, path: id, args: [-g]}\n",
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");
}

/// A root init switching to `user: root` sets root's groups from
/// /etc/group, as for any user: the init's own supplementary groups (here
/// `adm`, given to it by its parent) are not handed on.
#[test]
fn root_gets_the_groups_of_etc_group_not_the_inits() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_config(
        dir.path(),
        "programs:\n  - {name: who, user: root, path: id, args: [-G]}\n",
        &["--groups", "4,65534"],
    );
    let mut expected = vec!["0".to_string()];
    for line in std::fs::read_to_string("/etc/group").unwrap().lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && f[3].split(',').any(|m| m == "root") && f[2] != "0" {
            expected.push(f[2].to_string());
        }
    }
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        expected.join(" ")
    );
}
