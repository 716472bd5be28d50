//! What a workload writes about itself into its cell's directory:
//! `initlab-report {json}` lines from the Python scenarios (`reports`), the
//! probe's copy of its own `/proc` status (`probe.status`), gunicorn's log
//! (`gunicorn.log`). Nothing here is read from the init's output.

use std::path::Path;

use serde_json::Value;

use crate::proc_state::SignalState;

pub struct Report {
    pub fields: Value,
}

impl Report {
    pub fn get(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    pub fn pid(&self) -> i32 {
        self.fields.get("pid").and_then(Value::as_i64).unwrap_or(0) as i32
    }

    pub fn phase(&self) -> String {
        self.get("phase").unwrap_or_default()
    }

    pub fn signals(&self) -> Option<SignalState> {
        SignalState::from_fields(|k| self.get(k))
    }
}

/// What the workload wrote about itself, up to 64 MiB: it writes a few
/// lines per process, and a file beyond that is not a report to trust whole.
pub fn read_log(log: &Path) -> String {
    crate::input::read_prefix(log, 64 << 20)
}

/// The file the workload's self-reports go to (`INITLAB_REPORT`).
pub const REPORTS: &str = "reports";
/// The probe's copy of its own `/proc/self/status`.
pub const PROBE_STATUS: &str = "probe.status";
/// gunicorn's `--error-logfile`.
pub const GUNICORN_LOG: &str = "gunicorn.log";

const MARKER: &str = "initlab-report ";

/// Every self-report in the cell, in order. A report is found wherever its
/// marker is, and its JSON read up to its end: a line cut short by a killed
/// writer may stand before it.
pub fn reports(cell: &Path) -> Vec<Report> {
    let text = read_log(&cell.join(REPORTS));
    text.match_indices(MARKER)
        .filter_map(|(at, _)| {
            let json = &text[at + MARKER.len()..];
            serde_json::Deserializer::from_str(json)
                .into_iter::<Value>()
                .next()?
                .ok()
        })
        .map(|fields| Report { fields })
        .collect()
}

/// The probe's `/proc/self/status` lines: `(pid, state)`.
pub fn probe_output(cell: &Path) -> Option<(i32, SignalState)> {
    let text = read_log(&cell.join(PROBE_STATUS));
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let pid = field("Pid:").and_then(|p| p.parse().ok()).unwrap_or(0);
    let state = SignalState::from_fields(|k| {
        let key = match k {
            "sigblk" => "SigBlk:",
            "sigign" => "SigIgn:",
            "sigpnd" => "SigPnd:",
            "shdpnd" => "ShdPnd:",
            _ => return None,
        };
        field(key)
    })?;
    Some((pid, state))
}

/// The last lines of the log, for a failure's evidence.
pub fn tail(log: &Path, lines: usize) -> Vec<String> {
    let text = crate::input::read_tail(log, 64 << 10);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_found_even_when_lines_run_together() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(REPORTS),
            "[INFO] Booting\ninitlab-report {\"pid\": 12, \"phase\": \"ready\"}initlab-report {\"pid\": 13, \"phase\": \"importing\"}\nnoise initlab-report {\"pid\": 13, \"phase\": \"ready\"}\ninitlab-report {broken\n",
        )
        .unwrap();
        let got: Vec<(i32, String)> = reports(dir.path())
            .iter()
            .map(|r| (r.pid(), r.phase()))
            .collect();
        assert_eq!(
            got,
            [
                (12, "ready".into()),
                (13, "importing".into()),
                (13, "ready".into())
            ]
        );
    }
}
