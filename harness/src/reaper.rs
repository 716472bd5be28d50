//! The harness's own children: it is a subreaper, so whatever a workload
//! leaves behind comes back to it, and this module collects it.
//!
//! A background thread reaps. It must not steal the exit status of helper
//! commands (docker, pip) whose owner waits for them itself, so those are
//! registered as foreign; and to leave no window between a helper's fork and
//! its registration, an unregistered zombie is reaped only once it is a
//! second old. Cells learn how their root process ended from [`wait`].

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use initlab_init::reap::Ending;

use crate::proc_state;

#[derive(Default)]
struct Book {
    roots: HashSet<i32>,
    foreign: HashSet<i32>,
    ended: HashMap<i32, Ending>,
}

struct Reaper {
    book: Mutex<Book>,
    changed: Condvar,
}

fn reaper() -> &'static Reaper {
    static REAPER: OnceLock<Reaper> = OnceLock::new();
    REAPER.get_or_init(|| {
        // Without this, orphans of a workload would go to the host's init and
        // escape both the checks and the clean-up.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        std::thread::Builder::new()
            .name("reaper".into())
            .spawn(sweep_forever)
            .expect("start the reaper thread");
        Reaper {
            book: Mutex::new(Book::default()),
            changed: Condvar::new(),
        }
    })
}

/// Makes the harness a subreaper and starts reaping. Idempotent.
pub fn start() {
    reaper();
}

/// Marks `pid` as a cell's root: its status is kept for [`wait`].
pub fn adopt_root(pid: i32) {
    reaper().book.lock().unwrap().roots.insert(pid);
}

/// Leaves these helper processes (duct/std) to their owner, who waits for them.
pub fn hold_foreign(pids: &[u32]) {
    let mut book = reaper().book.lock().unwrap();
    book.foreign.extend(pids.iter().map(|p| *p as i32));
}

/// Undoes [`hold_foreign`] once the owner has waited.
pub fn release_foreign(pids: &[u32]) {
    let mut book = reaper().book.lock().unwrap();
    for p in pids {
        book.foreign.remove(&(*p as i32));
    }
}

/// Runs `wait` for helper processes whose owner waits for them itself.
pub fn foreign<T>(pids: Vec<u32>, wait: impl FnOnce() -> T) -> T {
    hold_foreign(&pids);
    let out = wait();
    release_foreign(&pids);
    out
}

/// Waits until the root `pid` has ended, or the deadline.
pub fn wait(pid: i32, timeout: Duration) -> Option<Ending> {
    let r = reaper();
    let end = Instant::now() + timeout;
    let mut book = r.book.lock().unwrap();
    loop {
        if let Some(e) = book.ended.get(&pid) {
            return Some(*e);
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        book = r.changed.wait_timeout(book, left).unwrap().0;
    }
}

/// The end of a root that has already ended.
pub fn ended(pid: i32) -> Option<Ending> {
    reaper().book.lock().unwrap().ended.get(&pid).copied()
}

/// Forgets a finished root.
pub fn release(pid: i32) {
    let mut book = reaper().book.lock().unwrap();
    book.roots.remove(&pid);
    book.ended.remove(&pid);
}

fn own_children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

fn ticks_now() -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    Some((secs * procfs::ticks_per_second() as f64) as u64)
}

fn sweep_forever() {
    let min_age = procfs::ticks_per_second();
    loop {
        let now = ticks_now().unwrap_or(u64::MAX);
        for pid in own_children() {
            let Some(info) = proc_state::read(pid) else {
                continue;
            };
            if !info.is_zombie() {
                continue;
            }
            let r = reaper();
            {
                let book = r.book.lock().unwrap();
                let ours = book.roots.contains(&pid);
                let old = now.saturating_sub(info.start_time) >= min_age;
                if !ours && (book.foreign.contains(&pid) || !old) {
                    continue;
                }
            }
            let mut status = 0;
            // SAFETY: waitpid on a specific zombie child; writes only `status`.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                let ending = if libc::WIFSIGNALED(status) {
                    Ending::Signaled(libc::WTERMSIG(status))
                } else {
                    Ending::Exited(libc::WEXITSTATUS(status))
                };
                let mut book = r.book.lock().unwrap();
                if book.roots.contains(&pid) {
                    book.ended.insert(pid, ending);
                    r.changed.notify_all();
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILLs `root` (unless it is the harness), everything below it and every process in `also` that is
/// still the same process (pid and start time), until none is left or five
/// seconds have passed. Returns the pids that would not die.
pub fn kill_tree(root: i32, also: &[(i32, u64)]) -> Vec<i32> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let me = std::process::id() as i32;
        let mut targets: Vec<i32> = proc_state::tree(root)
            .into_iter()
            .filter(|p| !p.is_zombie() && p.pid != me)
            .map(|p| p.pid)
            .collect();
        for &(pid, start) in also {
            if proc_state::read(pid).is_some_and(|p| p.start_time == start && !p.is_zombie()) {
                targets.push(pid);
            }
        }
        if targets.is_empty() || Instant::now() >= end {
            return targets;
        }
        for pid in &targets {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every process below the harness, for the last clean-up of a run.
pub fn kill_all_descendants() -> Vec<i32> {
    kill_tree(std::process::id() as i32, &[])
}
