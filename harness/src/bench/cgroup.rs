//! The inits are measured inside a CPU cgroup of their own, as a container
//! engine places a container.
//!
//! Outside any such group, a kernel with `sched_autogroup_enabled` gives
//! every session its own scheduling group, and an init whose child starts a
//! new session (dumb-init's default) then has its forwarded signals reach a
//! child the scheduler runs at once: measured here, that alone moved a plain
//! `sigwait` + `kill` loop from 36 µs to 17 µs, and dumb-init with
//! autogroup switched off was level with tini. Inside a cgroup autogroup
//! does not apply, which is the case in every container; the benchmark
//! also measures the latency outside, to show the difference.

use std::path::{Path, PathBuf};

/// This process moved into a fresh CPU cgroup; dropping it moves the
/// process back and removes the group.
pub struct CpuGroup {
    dir: PathBuf,
    home: PathBuf,
}

impl CpuGroup {
    /// Moves the whole harness (and so every init it starts from now on) into
    /// a new group below its own CPU cgroup. None where no CPU controller can
    /// be reached: cgroup v1 without a `cpu` hierarchy, or v2 where the
    /// controller is not enabled for the harness's group.
    pub fn enter() -> Option<CpuGroup> {
        let me = procfs::process::Process::myself().ok()?;
        let mounts = me.mountinfo().ok()?;
        let groups = me.cgroups().ok()?;
        let mount_of = |v2: bool| {
            mounts.0.iter().find_map(|m| {
                let cpu = m.super_options.contains_key("cpu");
                let fits = if v2 {
                    m.fs_type == "cgroup2"
                } else {
                    m.fs_type == "cgroup" && cpu
                };
                fits.then(|| m.mount_point.clone())
            })
        };
        let home = groups.0.iter().find_map(|g| {
            if g.controllers.iter().any(|c| c == "cpu") {
                return Some(join(&mount_of(false)?, &g.pathname));
            }
            if g.hierarchy == 0 {
                let dir = join(&mount_of(true)?, &g.pathname);
                let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).ok()?;
                return enabled
                    .split_whitespace()
                    .any(|c| c == "cpu")
                    .then_some(dir);
            }
            None
        })?;
        let dir = home.join(format!("initlab-bench-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let group = CpuGroup { dir, home };
        move_to(&group.dir).then_some(group)
    }

    pub fn name(&self) -> String {
        self.dir.display().to_string()
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        move_to(&self.home);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn join(mount: &Path, pathname: &str) -> PathBuf {
    mount.join(pathname.trim_start_matches('/'))
}

/// Moves this process, all its threads, into `dir`.
fn move_to(dir: &Path) -> bool {
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string()).is_ok()
}

/// Whether the kernel gives each session a scheduling group of its own.
pub fn autogroup() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
        .is_ok_and(|v| v.trim() == "1")
}
