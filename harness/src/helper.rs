//! Helper commands (pip, cargo, docker) run through duct. They are not the
//! processes under test, so std's spawn is fine for them; what matters is that
//! the harness's reaper leaves their exit status to duct.

use std::io::{BufRead, BufReader};

use crate::reaper;

/// Runs `expr` to completion with stdout captured; stderr as configured.
pub fn output(expr: duct::Expression) -> Result<std::process::Output, String> {
    let handle = expr
        .stdout_capture()
        .stdin_null()
        .unchecked()
        .start()
        .map_err(|e| e.to_string())?;
    reaper::foreign(handle.pids(), || handle.into_output()).map_err(|e| e.to_string())
}

/// Runs `expr`, passing each line it prints (stdout and stderr) to `line`.
/// Returns whether it succeeded.
pub fn stream(expr: duct::Expression, mut line: impl FnMut(&str)) -> Result<bool, String> {
    let reader = expr
        .stderr_to_stdout()
        .stdin_null()
        .unchecked()
        .reader()
        .map_err(|e| e.to_string())?;
    let pids = reader.pids();
    reaper::foreign(pids, || {
        let mut buffered = BufReader::new(&reader);
        let mut text = String::new();
        while buffered
            .read_line(&mut text)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            line(text.trim_end());
            text.clear();
        }
        reader
            .try_wait()
            .map(|o| o.is_some_and(|o| o.status.success()))
            .map_err(|e| e.to_string())
    })
}

/// Trimmed stdout of a command that succeeded.
pub fn stdout_of(expr: duct::Expression) -> Option<String> {
    let out = output(expr).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
