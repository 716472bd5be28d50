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
        remove_stale(&home);
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

/// Groups left by a benchmark that was killed before it could remove its
/// own: their process is gone. A group still holding a process is kept
/// (rmdir refuses it).
fn remove_stale(home: &Path) {
    let Ok(entries) = std::fs::read_dir(home) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("initlab-bench-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(e.path());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_groups_of_gone_benchmarks_are_removed() {
        let home = tempfile::tempdir().unwrap();
        // Above the kernel's largest pid_max (2^22): never a live process.
        let gone = home.path().join("initlab-bench-4194305");
        let alive = home
            .path()
            .join(format!("initlab-bench-{}", std::process::id()));
        let other = home.path().join("initlab-bench-x");
        for d in [&gone, &alive, &other] {
            std::fs::create_dir(d).unwrap();
        }
        remove_stale(home.path());
        assert!(!gone.exists());
        assert!(alive.exists() && other.exists());
    }
}
