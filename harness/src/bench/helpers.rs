//! The programs the benchmark runs under each init (`initlab bench-helper`):
//! plain processes, started with no threads and no signal handling of the
//! harness's own.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::proc_state;

use super::measure::{cpu_ns, now_ns};

/// `initlab bench-helper orphans N`: runs under the init as PID 1. A middle
/// process forks N children blocked on a pipe and exits, so all N are
/// orphaned at once; closing the pipe makes them all exit at once. Prints
/// `N SECONDS ZOMBIES_LEFT INIT_CPU_MS`: seconds from release until the
/// namespace's /proc shows no process but the init and this one, and the
/// CPU time the init (pid 1 here) spent meanwhile, or `-` where the kernel
/// does not keep it.
pub fn helper_orphans(n: usize) -> i32 {
    let count = || -> usize {
        std::fs::read_dir("/proc")
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                    .count()
            })
            .unwrap_or(0)
    };
    let before = count();
    let Ok((r, w)) = nix::unistd::pipe() else {
        return 1;
    };
    // SAFETY: the children only read, and exit.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(w);
            for _ in 0..n {
                // SAFETY: as above.
                if let Ok(nix::unistd::ForkResult::Child) = unsafe { nix::unistd::fork() } {
                    let mut b = [0u8; 1];
                    // SAFETY: read and _exit are async-signal-safe.
                    unsafe {
                        libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1);
                        libc::_exit(0);
                    }
                }
            }
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(r);
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Err(_) => return 1,
    }
    let init_cpu = || cpu_ns(1);
    let cpu_before = init_cpu();
    let start = Instant::now();
    drop(w);
    // Each look reads a /proc of up to N entries: looking every 5 ms rather
    // than every 1 leaves the CPU to the exits and the init being measured.
    while count() > before && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = start.elapsed().as_secs_f64();
    let zombies = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
                .filter(|p| proc_state::read(*p).is_some_and(|i| i.is_zombie()))
                .count()
        })
        .unwrap_or(0);
    let cpu_ms = cpu_before
        .zip(init_cpu())
        .map_or("-".to_string(), |(a, b)| {
            format!("{:.3}", b.saturating_sub(a) as f64 / 1e6)
        });
    out!("{n} {secs} {zombies} {cpu_ms}");
    0
}

/// `initlab bench-helper catch`: writes the CLOCK_MONOTONIC time (8 bytes)
/// at which it observes each SIGTERM, after 8 zero bytes when ready.
pub fn helper_catch() -> i32 {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        return 1;
    }
    let out = std::io::stdout();
    let write = |v: u64| {
        use std::io::Write;
        let mut o = out.lock();
        o.write_all(&v.to_le_bytes())
            .and_then(|_| o.flush())
            .is_ok()
    };
    if !write(0) {
        return 1;
    }
    loop {
        if set.wait().is_err() || !write(now_ns()) {
            return 0;
        }
    }
}
