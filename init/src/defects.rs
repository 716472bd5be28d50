//! Defects of real inits, each one switchable, for the harness's mutant
//! build (`initlab-init-mutant FLAG -- COMMAND`, never shipped).
//!
//! A harness that compares inits is only worth its verdicts if each of its
//! checks has been seen to fail for the right reason. Every defect class met
//! in a real init has a flag here, and the harness must catch each mutant
//! with exactly the checks that its defect breaks. The switches sit beside
//! the mechanisms they break, so a mutant differs from `initlab-init` in
//! that one place and nothing else.

use crate::signals::bit;

/// Which defects are switched on. The default is none: `initlab-init`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Defects {
    /// Signals the child starts with blocked (bit n-1 for signal n).
    pub child_blocked: u64,
    /// Signals the child starts with ignored.
    pub child_ignored: u64,
    /// Signals the init receives but does not forward.
    pub not_forwarded: u64,
    /// Signals the init leaves at their default action for itself.
    pub unhandled: u64,
    /// SIGTERM is forwarded as SIGINT.
    pub term_as_int: bool,
    /// Only the init's own children are reaped, never adopted orphans.
    pub no_reap: bool,
    /// The child's stdout and stderr go through the init, every line prefixed.
    pub prefix_output: bool,
    /// The child's stdout and stderr go to /dev/null.
    pub silent: bool,
    /// The init execs into the command instead of forking it.
    pub exec: bool,
}

/// Each flag, the real init it stands for, and its defect.
pub const FLAGS: [(&str, &str); 11] = [
    (
        "mask-leak",
        "cinit <= 1.3.3 (issue 38): INT, QUIT, TERM, CHLD blocked in the child",
    ),
    (
        "job-control-blocked",
        "catatonit 0.1.7: TSTP, TTIN, TTOU blocked in the child",
    ),
    (
        "sigpipe-ignored",
        "a Rust init forking by hand: SIGPIPE ignored in the child",
    ),
    (
        "rt-ignored",
        "a posix_spawn launcher on glibc: signals 32 and 33 ignored in the child",
    ),
    ("no-ttin-ttou", "tini 0.19: TTIN and TTOU not forwarded"),
    ("term-as-int", "an init that rewrites TERM into INT"),
    (
        "no-reap",
        "an init that reaps only its own child: orphans stay zombies",
    ),
    (
        "prefix-output",
        "an init with logging: every output line prefixed",
    ),
    (
        "silent",
        "an init that sends its children's output to /dev/null",
    ),
    (
        "stop-on-ttin",
        "an init that leaves TTIN at its default: stopped by it unless PID 1",
    ),
    (
        "exec",
        "a wrapper that execs its command (gosu, su-exec, env)",
    ),
];

impl Defects {
    /// The defects of one flag of [`FLAGS`].
    pub fn named(flag: &str) -> Option<Defects> {
        let none = Defects::default();
        Some(match flag {
            "mask-leak" => Defects {
                child_blocked: bit(libc::SIGINT)
                    | bit(libc::SIGQUIT)
                    | bit(libc::SIGTERM)
                    | bit(libc::SIGCHLD),
                ..none
            },
            "job-control-blocked" => Defects {
                child_blocked: bit(libc::SIGTSTP) | bit(libc::SIGTTIN) | bit(libc::SIGTTOU),
                ..none
            },
            "sigpipe-ignored" => Defects {
                child_ignored: bit(libc::SIGPIPE),
                ..none
            },
            "rt-ignored" => Defects {
                child_ignored: bit(32) | bit(33),
                ..none
            },
            "no-ttin-ttou" => Defects {
                not_forwarded: bit(libc::SIGTTIN) | bit(libc::SIGTTOU),
                ..none
            },
            "term-as-int" => Defects {
                term_as_int: true,
                ..none
            },
            "no-reap" => Defects {
                no_reap: true,
                ..none
            },
            "prefix-output" => Defects {
                prefix_output: true,
                ..none
            },
            "silent" => Defects {
                silent: true,
                ..none
            },
            "stop-on-ttin" => Defects {
                unhandled: bit(libc::SIGTTIN),
                ..none
            },
            "exec" => Defects { exec: true, ..none },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_switches_something_on() {
        for (flag, _) in FLAGS {
            let d = Defects::named(flag).unwrap();
            assert_ne!(d, Defects::default(), "{flag}");
        }
        assert_eq!(Defects::named("mask-leak").unwrap().child_blocked, 0x14006);
        assert!(Defects::named("nope").is_none());
    }
}
