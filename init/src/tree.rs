//! The processes below the init, and signalling all of them.

use std::collections::HashMap;

use nix::unistd::Pid;

/// Every process whose chain of parents leads to this one, found in `/proc`.
/// Orphans count: they are reparented to us, as PID 1 or as subreaper.
pub fn descendants() -> Vec<Pid> {
    let me = std::process::id() as i32;
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![me];
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            found.push(Pid::from_raw(child));
            queue.push(child);
        }
    }
    found
}

/// The parent pid from `/proc/<pid>/stat`; the command name may hold spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is `root` or descends from it, by its chain of parents.
/// A pid that does not exist (or stops existing on the way) is not.
pub fn is_within(pid: i32, root: i32) -> bool {
    let mut at = pid;
    // Bounded: a chain of parents cannot be longer than the pid space, and a
    // pid reused mid-walk must not make us loop.
    for _ in 0..4096 {
        if at == root {
            return true;
        }
        if at <= 1 {
            return false;
        }
        match parent_of(at) {
            Some(parent) => at = parent,
            None => return false,
        }
    }
    false
}

/// Sends `sig` to every process below the init. As PID 1, `kill(-1)` reaches
/// exactly the namespace's other processes and needs no `/proc`; elsewhere
/// that would hit every process we may signal, so the tree is walked instead.
/// Returns whether anything was signalled.
pub fn signal_all(sig: i32) -> bool {
    if std::process::id() == 1 {
        // SAFETY: kill has no memory effects.
        return unsafe { libc::kill(-1, sig) } == 0;
    }
    let mut any = false;
    for pid in descendants() {
        // SAFETY: as above.
        any |= unsafe { libc::kill(pid.as_raw(), sig) } == 0;
    }
    any
}
