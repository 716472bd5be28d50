//! The cell's log, where the init and the workload write: bounded on disk.
//! A user's init that prints without end filled 6 GB of /tmp in 40 s; the
//! log is in append mode, so cutting it back is seen by every writer, and
//! the evidence (the head, and the tail after a note of the cut) survives.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A cell's log past this is cut back to [`KEEP`].
pub const MAX_LOG: u64 = 64 << 20;
const KEEP: u64 = 16 << 20;
const NOTE: &[u8] = b"\n[initlab: the cell's output passed 64 MiB; what followed the first 16 MiB was dropped up to here]\n";

/// Watches a log until dropped.
pub struct Guard {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts watching `log`, which must be open for appending.
pub fn guard(log: &File) -> Guard {
    let stop = Arc::new(AtomicBool::new(false));
    let thread = log.try_clone().ok().map(|mut file| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                cut_if_over(&mut file, MAX_LOG);
            }
        })
    });
    Guard { stop, thread }
}

/// Cuts `file` back to its first [`KEEP`] bytes and a note, once it is
/// longer than `max`.
fn cut_if_over(file: &mut File, max: u64) -> bool {
    if !file.metadata().is_ok_and(|m| m.len() > max) {
        return false;
    }
    let keep = KEEP.min(max);
    // The note goes where the cut was, even when a writer appends between
    // the two calls: its bytes then follow the note.
    file.set_len(keep).is_ok() && file.write_all(NOTE).is_ok()
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    #[test]
    fn a_log_over_the_bound_is_cut_to_its_head_and_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        log.write_all(&vec![b'a'; KEEP as usize]).unwrap();
        assert!(!cut_if_over(&mut log, KEEP));
        log.write_all(b"bbbb").unwrap();
        assert!(cut_if_over(&mut log.try_clone().unwrap(), KEEP));
        // A writer holding the log appends after the note.
        log.write_all(b"after\n").unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, KEEP + NOTE.len() as u64 + 6);
        let tail = crate::input::read_tail(&path, 200);
        assert!(tail.ends_with("dropped up to here]\nafter\n"), "{tail}");
        let mut at = vec![0u8; NOTE.len()];
        log.read_exact_at(&mut at, KEEP).unwrap();
        assert_eq!(at, NOTE);
    }
}
