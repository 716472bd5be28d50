//! One-line messages on stderr, prefixed with the program's name.
//!
//! Write errors are ignored on purpose: an init whose stderr was closed must
//! keep reaping, and `eprintln!` would panic instead.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static NAME: OnceLock<&'static str> = OnceLock::new();
static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn init(name: &'static str, verbose: bool) {
    let _ = NAME.set(name);
    VERBOSE.store(verbose, Ordering::Relaxed);
}

pub fn say(msg: impl std::fmt::Display) {
    let name = NAME.get().copied().unwrap_or("initlab-init");
    let _ = writeln!(std::io::stderr(), "{name}: {msg}");
}

/// Only with `--verbose`.
pub fn info(msg: impl std::fmt::Display) {
    if VERBOSE.load(Ordering::Relaxed) {
        say(msg);
    }
}
