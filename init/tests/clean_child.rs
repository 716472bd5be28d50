//! The heart of the contract: what a child inherits from the init.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use rstest::rstest;

/// How the init itself was started.
#[derive(Clone, Copy, Debug)]
enum Parent {
    /// fork + exec with a clean state.
    Clean,
    /// A parent that blocked and ignored a handful of signals.
    Dirty,
    /// `posix_spawn` (std's Command without pre_exec), which on glibc leaves
    /// signals 32 and 33 ignored.
    Spawned,
}

fn probe_under(init: &str, env: Env, parent: Parent) -> (u64, u64, u64) {
    let mut args = vec!["--"];
    args.extend(PROBE);
    let mut cmd = command(init, env, &args);
    match parent {
        Parent::Dirty => dirty_start(&mut cmd),
        Parent::Clean => {
            // SAFETY: an empty pre_exec only forces the fork + exec path.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || Ok(()));
            }
        }
        Parent::Spawned => {}
    }
    let out = assert_cmd::Command::from_std(cmd)
        .timeout(Duration::from_secs(20))
        .output()
        .expect("run the probe");
    assert!(out.status.success(), "probe failed: {out:?}");
    parse_probe(&String::from_utf8_lossy(&out.stdout))
}

#[rstest]
fn initlab_init_children_start_clean(
    #[values(Env::Direct, Env::Pid1)] env: Env,
    #[values(Parent::Clean, Parent::Dirty, Parent::Spawned)] parent: Parent,
) {
    let (blk, ign, pnd) = probe_under(INIT, env, parent);
    assert_eq!(blk, 0, "SigBlk {blk:016x} under {env:?}/{parent:?}");
    assert_eq!(ign, 0, "SigIgn {ign:016x} under {env:?}/{parent:?}");
    assert_eq!(pnd, 0, "SigPnd {pnd:016x} under {env:?}/{parent:?}");
}

#[rstest]
fn issue38_build_leaks_the_reported_mask(#[values(Env::Direct, Env::Pid1)] env: Env) {
    let (blk, _, _) = probe_under(ISSUE38, env, Parent::Clean);
    assert_eq!(blk, 0x14006, "SigBlk {blk:016x}");
}

/// The dirty parent really does hand the init a dirty state: otherwise the
/// test above would prove nothing.
#[test]
fn dirty_parent_is_dirty() {
    let mut cmd = std::process::Command::new("grep");
    cmd.args(&PROBE[1..]);
    dirty_start(&mut cmd);
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    let (blk, ign, _) = parse_probe(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(blk, 0);
    assert_ne!(ign, 0);
}

#[rstest]
fn sigchld_reaches_a_child_handler(
    #[values(Env::Direct, Env::Pid1)] env: Env,
    #[values(false, true)] config_mode: bool,
    #[values(INIT, ISSUE38)] init: &str,
) {
    let script = helper("sigchld_handler.py");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("init.yml");
    std::fs::write(
        &config,
        format!(
            "programs:\n  - name: handler\n    path: {}\n    args: [\"{script}\", \"2\"]\n",
            python()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let args: Vec<&str> = if config_mode {
        vec!["--config", &config]
    } else {
        vec!["--", python(), &script, "2"]
    };
    let out = assert_cmd::Command::from_std(command(init, env, &args))
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if init == INIT {
        assert!(out.status.success(), "{stdout} {out:?}");
        assert!(stdout.contains("SIGCHLD delivered"), "{stdout}");
    } else {
        // The reproduction must keep reproducing: a pass here is a broken build.
        assert!(stdout.contains("SIGCHLD NOT delivered"), "{stdout}");
        assert!(!out.status.success());
    }
}

/// Each child leads its own process group.
#[test]
fn child_has_its_own_process_group() {
    let out = assert_cmd::Command::new(INIT)
        .args(["--", "sh", "-c", "echo $$ $(ps -o pgid= -p $$)"])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(nums.len(), 2, "{text}");
    assert_eq!(nums[0], nums[1], "pid equals pgid: {text}");
}
