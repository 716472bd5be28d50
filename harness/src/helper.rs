//! Helper commands (pip, cargo, docker) run through duct. They are not the
//! processes under test, so std's spawn is fine for them; what matters is that
//! the harness's reaper leaves their exit status to duct, and that every one
//! has a deadline.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use crate::reaper;

/// Most of a helper's stdout kept: a user's init asked for `--version`
/// may print without end, and everything past this is read and dropped.
const MAX_OUTPUT: usize = 4 << 20;

/// Runs `expr` to completion with stdout captured (its first
/// [`MAX_OUTPUT`] bytes), killing it at `timeout`.
pub fn output(expr: duct::Expression, timeout: Duration) -> Result<std::process::Output, String> {
    let (read_end, write_end) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let handle = expr
        .stdout_file(write_end)
        .stdin_null()
        .unchecked()
        .start()
        .map_err(|e| e.to_string())?;
    // The write end now lives only in the child (duct dropped its copy),
    // so the reader sees the end of the output once the child is gone.
    let (sent, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut pipe = std::fs::File::from(read_end);
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = MAX_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = sent.send(kept);
    });
    reaper::foreign(handle.pids(), || {
        let end = Instant::now() + timeout;
        loop {
            match handle.try_wait() {
                Ok(Some(out)) => {
                    let mut out = out.clone();
                    // A grandchild holding the pipe open gets what is left
                    // of the deadline, not more.
                    let left = end
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_secs(1));
                    out.stdout = got.recv_timeout(left).unwrap_or_default();
                    return Ok(out);
                }
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

/// The longest line `stream` passes on in one piece.
const MAX_LINE: u64 = 64 << 10;

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
        let mut bytes = Vec::new();
        // Bytes, not text: one byte that is not UTF-8 (a message in
        // another encoding) must not end the stream while the tool runs
        // on. A line is cut at MAX_LINE: a progress bar may redraw one
        // line without end.
        while (&mut buffered)
            .take(MAX_LINE)
            .read_until(b'\n', &mut bytes)
            .is_ok_and(|n| n > 0)
        {
            line(String::from_utf8_lossy(&bytes).trim_end());
            bytes.clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_a_bounded_part_and_has_a_deadline() {
        let out = output(
            duct::cmd("head", ["-c", "10000000", "/dev/zero"]),
            Duration::from_secs(30),
        )
        .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), MAX_OUTPUT);
        let out = output(duct::cmd("echo", ["hello"]), Duration::from_secs(30)).unwrap();
        assert_eq!(out.stdout, b"hello\n");
        let started = Instant::now();
        let endless = output(duct::cmd("yes", ["y"]), Duration::from_millis(300));
        assert!(endless.unwrap_err().starts_with("did not finish within"));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn stream_passes_every_line_on_whatever_its_bytes() {
        let script = r"printf '\377\376\n'; head -c 200000 /dev/zero | tr '\0' a; echo; echo done";
        let mut lines = Vec::new();
        let ok = stream(duct::cmd("sh", ["-c", script]), |l| {
            lines.push(l.to_string())
        });
        assert_eq!(ok, Ok(true));
        assert_eq!(lines.first().map(String::as_str), Some("\u{fffd}\u{fffd}"));
        assert_eq!(lines.last().map(String::as_str), Some("done"));
        // The long line, in pieces of at most MAX_LINE.
        let long: Vec<&String> = lines.iter().filter(|l| l.starts_with('a')).collect();
        assert_eq!(long.iter().map(|l| l.len()).sum::<usize>(), 200_000);
        assert!(long.iter().all(|l| l.len() as u64 <= MAX_LINE));
    }
}
