//! Judging a process tree nobody prepared for us: no self-reports, no
//! baseline run, only what `/proc` shows in two samples taken a settle
//! interval apart. What shows in one sample only (a mask a process holds
//! for an instant, a zombie about to be reaped) is named, not failed.

use std::collections::HashMap;
use std::time::Duration;

use initlab_init::signals::bit;

use crate::checks::Check;
use crate::proc_state::{show_mask, Observed, ProcInfo, Role};

/// Signals CPython ignores by itself at start-up: a Python process that
/// ignores them did it on its own.
pub const PYTHON_IGNORES: u64 = bit(libc::SIGPIPE) | bit(libc::SIGXFSZ);

/// One process in both samples: the same pid and start time.
struct Seen<'a> {
    now: &'a ProcInfo,
    before: Option<&'a ProcInfo>,
    role: Role,
    python: bool,
}

impl Seen<'_> {
    fn who(&self) -> String {
        let command = if self.now.cmdline.is_empty() {
            format!("[{}]", self.now.comm)
        } else {
            crate::console::shorten(&self.now.cmdline.join(" "), 80)
        };
        format!("pid {} ({}, {command})", self.now.pid, self.role.name())
    }

    /// Bits of `field` set in both samples, and those set only now.
    fn steady(&self, field: fn(&ProcInfo) -> u64) -> (u64, u64) {
        let now = field(self.now);
        let before = self.before.map_or(now, field);
        (now & before, now & !before)
    }
}

fn base(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Whether a process runs Python (gunicorn does), by its executable or
/// command: what it ignores by itself depends on it.
fn is_python(p: &ProcInfo, exe: Option<&str>) -> bool {
    exe.map(base).is_some_and(|e| e.starts_with("python"))
        || p.comm.starts_with("python")
        || p.cmdline
            .first()
            .is_some_and(|a| base(a).starts_with("python"))
        || is_gunicorn(p)
}

/// gunicorn itself, not a process that merely names it (an init whose
/// command line ends in `python3 -m gunicorn …`): its own program is
/// gunicorn, or Python running gunicorn, or its title was set by gunicorn.
fn is_gunicorn(p: &ProcInfo) -> bool {
    let Some(first) = p.cmdline.first() else {
        return p.comm == "gunicorn";
    };
    let program = base(first);
    program == "gunicorn"
        || program.starts_with("gunicorn:")
        || (program.starts_with("python") && p.cmdline[1..].iter().any(|a| a.contains("gunicorn")))
}

/// Roles by what can be read from /proc alone: a gunicorn process whose
/// parent is gunicorn is a worker, one whose parent is not is the master,
/// and the tree's first process is the init unless it is gunicorn itself.
pub fn roles(tree: &[ProcInfo]) -> HashMap<i32, Role> {
    let gunicorn: HashMap<i32, bool> = tree.iter().map(|p| (p.pid, is_gunicorn(p))).collect();
    let root = tree.first().map(|p| p.pid);
    tree.iter()
        .map(|p| {
            let role = if gunicorn[&p.pid] {
                if gunicorn.get(&p.ppid).copied().unwrap_or(false) {
                    Role::Worker
                } else {
                    Role::Master
                }
            } else if Some(p.pid) == root {
                Role::Init
            } else {
                Role::Other
            };
            (p.pid, role)
        })
        .collect()
}

/// The checks of an audit over two samples of one tree (`before` taken
/// `settle` earlier), and the processes as the report shows them.
/// `exe` gives a process's executable where it could be read.
pub fn judge(
    before: &[ProcInfo],
    now: &[ProcInfo],
    settle: Duration,
    exe: impl Fn(i32) -> Option<String>,
) -> (Vec<Check>, Vec<Observed>) {
    let roles = roles(now);
    let seen: Vec<Seen> = now
        .iter()
        .map(|p| Seen {
            now: p,
            before: before
                .iter()
                .find(|b| b.pid == p.pid && b.start_time == p.start_time),
            role: roles[&p.pid],
            python: is_python(p, exe(p.pid).as_deref()),
        })
        .collect();
    let by_pid: HashMap<i32, &Seen> = seen.iter().map(|s| (s.now.pid, s)).collect();
    let root = now.first().map(|p| p.pid);
    let below_root = || {
        seen.iter()
            .filter(|s| Some(s.now.pid) != root && !s.now.is_zombie())
    };

    let mut handed = Vec::new();
    let mut notes = Vec::new();
    for s in below_root() {
        let (steady, passing) = s.steady(|p| p.signals.blocked);
        if passing != 0 {
            notes.push(format!(
                "{} blocked {} in one sample only (transient, not counted)",
                s.who(),
                show_mask(passing)
            ));
        }
        if steady == 0 {
            continue;
        }
        let parent = by_pid.get(&s.now.ppid);
        let shared = parent.map_or(0, |p| steady & p.now.signals.blocked);
        if shared != 0 {
            let parent = parent.map(|p| p.who()).unwrap_or_default();
            handed.push(format!(
                "{} blocks {}, as its parent {parent} does: handed down, not set by itself",
                s.who(),
                show_mask(shared)
            ));
        } else {
            notes.push(format!(
                "{} blocks {} itself (its parent does not)",
                s.who(),
                show_mask(steady)
            ));
        }
    }
    let clean = format!(
        "{} processes below the init: no blocked mask handed down",
        below_root().count()
    );
    let mut checks = vec![verdict("blocked", &handed, &notes, clean)];

    // What the init's own children ignore beyond their runtime is the
    // init's doing: it made them. Further down, only what the parent also
    // ignores was handed down; the rest a parent may set on purpose (a
    // shell's `cmd &` ignores INT and QUIT).
    let mut extra = Vec::new();
    let mut notes = Vec::new();
    for s in below_root() {
        let (steady, _) = s.steady(|p| p.signals.ignored);
        let own = if s.python { PYTHON_IGNORES } else { 0 };
        let beyond = steady & !own;
        if s.python && steady & own != 0 {
            notes.push(format!(
                "{} ignores {}: CPython does that by itself, not counted",
                s.who(),
                show_mask(steady & own)
            ));
        }
        if beyond == 0 {
            continue;
        }
        let parent = by_pid.get(&s.now.ppid);
        let shared = parent.map_or(0, |p| beyond & p.now.signals.ignored);
        if Some(s.now.ppid) == root {
            extra.push(format!(
                "{} ignores {}, as the init started it",
                s.who(),
                show_mask(beyond)
            ));
        } else if shared != 0 {
            extra.push(format!(
                "{} ignores {}, as its parent {} does: handed down",
                s.who(),
                show_mask(shared),
                parent.map(|p| p.who()).unwrap_or_default()
            ));
        } else {
            notes.push(format!(
                "{} ignores {}, which its parent does not: set for it on purpose, not counted",
                s.who(),
                show_mask(beyond)
            ));
        }
    }
    checks.push(verdict(
        "ignored",
        &extra,
        &notes,
        "no process below the init ignores a signal beyond its runtime's own".into(),
    ));

    let stuck: Vec<String> = seen
        .iter()
        .filter(|s| {
            s.now.signals.sigchld_stuck() && s.before.is_some_and(|b| b.signals.sigchld_stuck())
        })
        .map(|s| {
            format!(
                "{} has SIGCHLD pending while blocked: it will never see it",
                s.who()
            )
        })
        .collect();
    checks.push(verdict(
        "sigchld-pending",
        &stuck,
        &[],
        "no process has SIGCHLD pending while blocked".into(),
    ));

    let zombies: Vec<String> = seen
        .iter()
        .filter(|s| s.now.is_zombie() && s.before.is_some_and(ProcInfo::is_zombie))
        .map(|s| {
            format!(
                "{} has been a zombie for at least {:.0} s, not reaped by its parent pid {}",
                s.who(),
                settle.as_secs_f64(),
                s.now.ppid
            )
        })
        .collect();
    checks.push(verdict(
        "zombies",
        &zombies,
        &[],
        format!("no zombie lasted {:.0} s", settle.as_secs_f64()),
    ));

    let observed = seen
        .iter()
        .map(|s| {
            Observed::new(
                s.now.pid,
                s.role,
                if s.now.cmdline.is_empty() {
                    format!("[{}]", s.now.comm)
                } else {
                    s.now.cmdline.join(" ")
                },
                s.now.signals,
            )
        })
        .collect();
    (checks, observed)
}

fn verdict(name: &str, faults: &[String], notes: &[String], clean: String) -> Check {
    let mut lines: Vec<String> = faults.to_vec();
    if faults.is_empty() {
        lines.push(clean);
    }
    lines.extend(notes.iter().cloned());
    Check::new(name, faults.is_empty(), lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc_state::SignalState;

    fn proc(pid: i32, ppid: i32, cmd: &str, blocked: u64, ignored: u64) -> ProcInfo {
        ProcInfo {
            pid,
            ppid,
            state: 'S',
            comm: cmd.split_whitespace().next().unwrap_or("").into(),
            cmdline: cmd.split_whitespace().map(String::from).collect(),
            signals: SignalState {
                blocked,
                ignored,
                pending: 0,
            },
            start_time: pid as u64,
            inner_pid: pid,
        }
    }

    const ISSUE38: u64 = 0x14006;

    fn tree(child_blocked: u64) -> Vec<ProcInfo> {
        vec![
            proc(10, 1, "/sbin/init-x --", ISSUE38, 0),
            proc(
                11,
                10,
                "python3 -m gunicorn app",
                child_blocked,
                PYTHON_IGNORES,
            ),
            proc(
                12,
                11,
                "python3 -m gunicorn app",
                child_blocked,
                PYTHON_IGNORES,
            ),
        ]
    }

    fn failed(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| c.verdict == crate::checks::Verdict::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn roles_from_proc() {
        let r = roles(&tree(0));
        assert_eq!(r[&10], Role::Init);
        assert_eq!(r[&11], Role::Master);
        assert_eq!(r[&12], Role::Worker);
    }

    #[test]
    fn a_handed_down_mask_fails_and_is_named() {
        let t = tree(ISSUE38);
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert_eq!(failed(&checks), ["blocked"]);
        assert!(
            checks[0].evidence.contains("0000000000014006"),
            "{}",
            checks[0].evidence
        );
        assert!(checks[0].evidence.contains("handed down"));
    }

    #[test]
    fn the_inits_own_mask_and_pythons_own_ignores_pass() {
        let t = tree(0);
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert!(failed(&checks).is_empty(), "{checks:?}");
        assert!(checks[1].evidence.contains("CPython does that by itself"));
    }

    #[test]
    fn a_mask_in_one_sample_only_is_transient() {
        let before = tree(0);
        let now = tree(0xfffffffffffbfeff);
        let (checks, _) = judge(&before, &now, Duration::from_secs(3), |_| None);
        assert!(failed(&checks).is_empty(), "{checks:?}");
        assert!(checks[0].evidence.contains("transient"));
    }

    #[test]
    fn a_self_set_mask_is_noted_not_failed() {
        let mut t = tree(0);
        t[0].signals.blocked = 0;
        t[2].signals.blocked = bit(libc::SIGUSR1);
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert!(failed(&checks).is_empty(), "{checks:?}");
        assert!(checks[0].evidence.contains("itself"));
    }

    #[test]
    fn ignores_beyond_the_runtime_fail_where_the_init_or_a_parent_handed_them_down() {
        // The init's own child: the init's doing.
        let mut t = tree(0);
        t[1].signals.ignored |= bit(libc::SIGUSR2);
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert_eq!(failed(&checks), ["ignored"]);
        assert!(checks[1].evidence.contains("as the init started it"));
        // Handed down from a parent that ignores it too.
        let mut t = tree(0);
        t[2].signals.ignored |= bit(libc::SIGHUP);
        t.push(proc(13, 12, "ldconfig -p", 0, bit(libc::SIGHUP)));
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert_eq!(failed(&checks), ["ignored"]);
        assert!(checks[1].evidence.contains("pid 13"));
        // Set for a grandchild alone (a shell's `cmd &`): noted.
        let mut t = tree(0);
        t.push(proc(
            13,
            12,
            "sleep 60",
            0,
            bit(libc::SIGINT) | bit(libc::SIGQUIT),
        ));
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert!(failed(&checks).is_empty(), "{checks:?}");
        assert!(checks[1].evidence.contains("on purpose"));
    }

    #[test]
    fn an_init_naming_gunicorn_is_not_gunicorn() {
        let mut t = tree(0);
        t[0].cmdline = "/usr/local/bin/initlab-init -- python3 -m gunicorn app"
            .split(' ')
            .map(String::from)
            .collect();
        let r = roles(&t);
        assert_eq!(
            (r[&10], r[&11], r[&12]),
            (Role::Init, Role::Master, Role::Worker)
        );
        t[1].cmdline = vec!["gunicorn: master [app]".into()];
        t[2].cmdline = vec!["gunicorn: worker [app]".into()];
        let r = roles(&t);
        assert_eq!((r[&11], r[&12]), (Role::Master, Role::Worker));
    }

    #[test]
    fn a_lasting_zombie_and_a_stuck_sigchld_fail() {
        let mut t = tree(ISSUE38);
        t[1].signals.pending = bit(libc::SIGCHLD);
        t.push(proc(14, 11, "sh", 0, 0));
        t[3].state = 'Z';
        let (checks, _) = judge(&t, &t, Duration::from_secs(3), |_| None);
        assert_eq!(failed(&checks), ["blocked", "sigchld-pending", "zombies"]);
        // A zombie seen once is on its way out.
        let mut before = t.clone();
        before[3].state = 'S';
        let (checks, _) = judge(&before, &t, Duration::from_secs(3), |_| None);
        assert!(!failed(&checks).contains(&"zombies"));
    }
}
