//! `initlab inspect PID`: the decoded signal state of a process tree.

use crate::proc_state::{self, show_mask};
use crate::status::{self, Failure};

pub fn main(pid: i32, json: bool) -> Result<i32, Failure> {
    let tree = proc_state::tree(pid);
    if tree.is_empty() {
        return Err(Failure(
            status::USAGE,
            format!("no process {pid}: give the pid of a running process"),
        ));
    }
    if json {
        let list: Vec<serde_json::Value> = tree
            .iter()
            .map(|p| {
                serde_json::json!({
                    "pid": p.pid,
                    "ppid": p.ppid,
                    "state": p.state.to_string(),
                    "command": p.cmdline.join(" "),
                    "sigblk": format!("{:016x}", p.signals.blocked),
                    "sigign": format!("{:016x}", p.signals.ignored),
                    "sigpnd": format!("{:016x}", p.signals.pending),
                    "sigchld_stuck": p.signals.sigchld_stuck(),
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_default()
        );
        return Ok(status::OK);
    }
    for p in &tree {
        let command = if p.cmdline.is_empty() {
            format!("[{}]", p.comm)
        } else {
            p.cmdline.join(" ")
        };
        out!(
            "{} (parent {}, state {}): {command}",
            p.pid,
            p.ppid,
            p.state
        );
        out!("  blocked {}", show_mask(p.signals.blocked));
        out!("  ignored {}", show_mask(p.signals.ignored));
        out!("  pending {}", show_mask(p.signals.pending));
        if p.signals.sigchld_stuck() {
            out!("  SIGCHLD is pending while blocked: this process will never see it");
        }
    }
    Ok(status::OK)
}
