//! One-line messages on stderr, prefixed with the program's name.
//!
//! Much of what the init says comes from outside it: program names and paths
//! from a config file, `STATUS=` text from a notify socket, file names from a
//! directory. So every message is escaped to printable text on one line and
//! cut to a bounded length, then written with a single `write(2)`, so that it
//! cannot interleave with a child's output on the same pipe.
//!
//! Write errors are ignored on purpose: an init whose stderr was closed must
//! keep reaping. SIGPIPE is ignored by the init (see `signals`), so a dead
//! reader costs an `EPIPE`, nothing more.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static NAME: OnceLock<&'static str> = OnceLock::new();
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Longest message, in bytes, before the text is cut (the prefix and the
/// newline come on top).
pub const MAX_LINE: usize = 1024;

pub fn init(name: &'static str, verbose: bool) {
    let _ = NAME.set(name);
    VERBOSE.store(verbose, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

pub fn say(msg: impl std::fmt::Display) {
    let name = NAME.get().copied().unwrap_or("initlab-init");
    let line = format!("{name}: {}\n", escape(&msg.to_string(), MAX_LINE));
    write_all(2, line.as_bytes());
}

/// Only with `--verbose`.
pub fn info(msg: impl std::fmt::Display) {
    if verbose() {
        say(msg);
    }
}

/// `text` as printable text on one line: control characters (C0, DEL, C1)
/// and backslashes are written as escapes, and whatever goes past `max`
/// bytes is replaced by a note of how much was cut.
pub fn escape(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 16);
    for (at, c) in text.char_indices() {
        if out.len() >= max {
            let _ = write!(out, "... ({} more bytes)", text.len() - at);
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Writes with as few `write(2)` calls as the kernel allows (one for any line
/// below the pipe's atomic size), giving up at the first error.
fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writing from a live buffer.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n > 0 {
            bytes = &bytes[n as usize..];
        } else if n < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        } else {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_escapes_on_one_line() {
        assert_eq!(escape("a\nb\x1b[31mc\\", 100), "a\\nb\\u{1b}[31mc\\\\");
        assert_eq!(escape("\u{9b}x", 100), "\\u{9b}x");
    }

    #[test]
    fn long_text_is_cut_with_a_note() {
        let cut = escape(&"x".repeat(5000), 10);
        assert_eq!(cut, "xxxxxxxxxx... (4990 more bytes)");
    }
}
