//! Helper commands (pip, cargo, docker) run through duct. They are not the
//! processes under test, so std's spawn is fine for them; what matters is that
//! the harness's reaper leaves their exit status to duct, and that every one
//! has a deadline.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use crate::reaper;

/// Runs `expr` to completion with stdout captured, killing it at `timeout`.
pub fn output(expr: duct::Expression, timeout: Duration) -> Result<std::process::Output, String> {
    let handle = expr
        .stdout_capture()
        .stdin_null()
        .unchecked()
        .start()
        .map_err(|e| e.to_string())?;
    reaper::foreign(handle.pids(), || {
        let end = Instant::now() + timeout;
        loop {
            match handle.try_wait() {
                Ok(Some(out)) => return Ok(out.clone()),
                Ok(None) if Instant::now() >= end => {
                    let _ = handle.kill();
                    return Err(format!("did not finish within {timeout:?}"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
}

/// Runs `expr`, passing each line it prints (stdout and stderr) to `line`.
/// Returns whether it succeeded. For long builds: no deadline but progress.
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

/// Trimmed stdout of a command that succeeded within `timeout`.
pub fn stdout_of(expr: duct::Expression, timeout: Duration) -> Option<String> {
    let out = output(expr, timeout).ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
