//! The harness's own output. `print!` and `eprint!` panic when the stream
//! is a closed pipe (`initlab run 2>&1 | head`) or a full disk, and a panic
//! in the middle of a run would skip the teardown of its processes and
//! containers. So everything the harness says goes through here: stderr is
//! written at best effort, and the first error on stdout is kept for the
//! exit status instead of being raised where it happened.

use std::io::{self, Write};
use std::sync::Mutex;

static STDOUT_ERROR: Mutex<Option<io::Error>> = Mutex::new(None);

/// A line on stderr; a failure to write it is ignored.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::to_stderr(format_args!($($arg)*))
    };
}

/// A line on stdout; a failure to write it is kept for [`stdout_error`].
macro_rules! out {
    () => {
        $crate::console::to_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::console::to_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `text`, cut to `max` characters with an ellipsis.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

pub fn to_stderr(args: std::fmt::Arguments) {
    // One write for the whole line, so that lines from the cells' threads
    // never interleave.
    let line = format!("{args}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// Writes `text` as it is; after the first failure, nothing more.
pub fn to_stdout(text: &str) {
    let mut error = STDOUT_ERROR.lock().unwrap_or_else(|e| e.into_inner());
    if error.is_some() {
        return;
    }
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        *error = Some(e);
    }
}

/// The first error writing to stdout, if any.
pub fn stdout_error() -> Option<io::Error> {
    STDOUT_ERROR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
}
