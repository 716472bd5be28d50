//! The controlling terminal's foreground, when the init has one.
//!
//! A child that starts while the init holds the foreground takes it (see
//! `fork_exec`), so that Ctrl-C and reads reach it as under a shell. When
//! that child ends, the foreground must come back: a terminal whose
//! foreground group is gone leaves every later program in the background,
//! and the first one that reads is stopped by SIGTTIN for good.

use nix::unistd::Pid;

/// Takes the foreground back from `ended`'s process group, if it has it.
/// The init has SIGTTOU blocked, so asking from the background cannot stop it.
pub fn reclaim(ended: Pid) {
    // SAFETY: plain terminal queries and tcsetpgrp on fd 0.
    unsafe {
        if libc::isatty(0) == 1 && libc::tcgetpgrp(0) == ended.as_raw() {
            libc::tcsetpgrp(0, libc::getpgrp());
        }
    }
}
