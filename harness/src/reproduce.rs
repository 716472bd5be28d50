//! `initlab reproduce issue-38`: the original hunt, retold from measurements.

use crate::cell::{self, CellResult, RunCtx};
use crate::checks::{Baseline, Verdict};
use crate::environment::EnvKind;
use crate::proc_state::{show_mask, Role};
use crate::scenario::Scenario;
use crate::status::{self, Failure};
use crate::variant::Variant;

fn find<'a>(variants: &'a [Variant], name: &str) -> Result<&'a Variant, Failure> {
    variants
        .iter()
        .find(|v| v.name == name)
        .ok_or_else(|| Failure(status::USAGE, format!("the variant `{name}` is missing")))
}

fn check<'a>(r: &'a CellResult, name: &str) -> Option<&'a crate::checks::Check> {
    r.checks.iter().find(|c| c.name == name)
}

fn say_check(r: &CellResult, name: &str) {
    if let Some(c) = check(r, name) {
        out!(
            "     {:<15} {:<4}  {}",
            c.name,
            c.verdict.word(),
            c.evidence
        );
    }
}

fn say_processes(r: &CellResult) {
    for p in &r.processes {
        if p.role == Role::Other {
            continue;
        }
        out!(
            "     {:<7} {:>7}  SigBlk {}",
            p.role.name(),
            p.pid,
            show_mask(p.signals.blocked)
        );
    }
}

pub fn issue_38(
    ctx: &RunCtx,
    variants: &[Variant],
    scenario: &Scenario,
    env: EnvKind,
) -> Result<i32, Failure> {
    let broken = find(variants, "initlab-init-issue38")?;
    let fixed = find(variants, "initlab-init")?;
    let none = find(variants, "none")?;
    out!(
        "Reproducing cinit issue 38: gunicorn with a subclass of the gevent worker, \
         started by an init that blocks signals for its signalfd ({} environment).\n",
        env.name()
    );
    out!("0. Baseline: the same workload with no init at all.");
    let base_run = cell::run(ctx, none, scenario, EnvKind::Direct, None);
    let baseline = Baseline::from_processes(&base_run.processes);
    say_processes(&base_run);
    say_check(&base_run, "boot");

    out!("\n1. The broken init (cinit <= 1.3.3 replica) starts gunicorn. What each process inherited:");
    let bad = cell::run(ctx, broken, scenario, env, Some(&baseline));
    if bad.verdict == Verdict::Skip {
        return Err(Failure(status::SETUP, bad.reason));
    }
    say_processes(&bad);
    say_check(&bad, "blocked");
    out!("\n2. Each worker imports the app after gevent's monkey patching; the import calls");
    out!("   ctypes.util.find_library, which runs `ldconfig -p` through the patched subprocess.");
    out!("   gevent waits for that child with a libev child watcher, driven by SIGCHLD:");
    say_check(&bad, "boot");
    say_check(&bad, "sigchld-pending");
    say_check(&bad, "zombies");
    out!("\n3. The request that never returned:");
    say_check(&bad, "subprocess");

    out!("\n4. The fix: initlab-init empties the mask between fork and exec. Same workload:");
    let good = cell::run(ctx, fixed, scenario, env, Some(&baseline));
    say_processes(&good);
    for name in [
        "blocked",
        "boot",
        "subprocess",
        "sigchld-pending",
        "zombies",
    ] {
        say_check(&good, name);
    }

    let failed = |r: &CellResult, n: &str| check(r, n).is_some_and(|c| c.verdict == Verdict::Fail);
    let master_mask = bad
        .processes
        .iter()
        .filter(|p| matches!(p.role, Role::Master | Role::Worker))
        .all(|p| p.signals.blocked == 0x14006);
    let reproduced = master_mask
        && failed(&bad, "blocked")
        && failed(&bad, "boot")
        && failed(&bad, "sigchld-pending");
    let held = good.verdict == Verdict::Pass;
    out!();
    out!(
        "The bug {}: {}",
        if reproduced {
            "reproduced"
        } else {
            "did NOT reproduce"
        },
        if reproduced {
            "master and workers started with SigBlk 0000000000014006, the workers hung at boot with SIGCHLD pending."
        } else {
            "the harness or the replica is broken; see the checks above."
        }
    );
    out!(
        "The fix {}.",
        if held {
            "held: every check passed"
        } else {
            "did NOT hold"
        }
    );
    Ok(if reproduced && held {
        status::OK
    } else {
        status::DEVIATED
    })
}
