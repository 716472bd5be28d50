//! Ctrl-C (or SIGTERM) of the harness itself: stop starting cells, kill
//! everything the run started, and exit 130. Nothing is left behind.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use crate::reaper;

static REQUESTED: AtomicBool = AtomicBool::new(false);

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Call before any other thread starts, so that every thread inherits the
/// blocked mask and only the watcher receives these signals. Children are
/// unaffected: they are started with a clean mask.
pub fn install(cleanup: fn()) {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    if nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return;
    }
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            let Ok(sig) = set.wait() else { return };
            REQUESTED.store(true, Ordering::SeqCst);
            say!("initlab: {sig:?} received; stopping every process of the run");
            let left = reaper::kill_all_descendants();
            cleanup();
            if !left.is_empty() {
                say!("initlab: these processes would not die: {left:?}");
            }
            std::process::exit(130);
        })
        .expect("start the interrupt thread");
}
