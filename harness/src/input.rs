//! Files the user names (variants, expectations, scenarios, reports to
//! merge) and files a workload writes: each is read only when it is a
//! regular file, and never past a bound, so that `--variants /dev/zero` is
//! one line of error rather than a harness that reads until it is killed.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A YAML or text file of the user's.
pub const MAX_CONFIG: u64 = 4 << 20;
/// A JSON report of `initlab run`: thousands of cells with their evidence.
pub const MAX_REPORT: u64 = 256 << 20;

/// `path` opened for reading, if it is a regular file; or why not, in
/// words to follow the path. Opened without blocking: opening a FIFO waits
/// for a writer that may never come.
pub fn open_regular(path: &Path) -> Result<File, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    match file.metadata() {
        Ok(m) if m.is_file() => Ok(file),
        Ok(_) => Err("not a regular file".into()),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// Most of a file the cell wrote that is kept beside the run's other files.
const MAX_KEPT: u64 = 128 << 20;

/// Keeps a file a cell wrote (its log, a workload's reports): a regular
/// file only, and its first [`MAX_KEPT`] bytes, since the workload may have
/// put anything at that path.
pub fn keep(from: &Path, to: &Path) -> bool {
    let Ok(file) = open_regular(from) else {
        return false;
    };
    File::create(to).is_ok_and(|mut out| std::io::copy(&mut file.take(MAX_KEPT), &mut out).is_ok())
}

/// The text of `path`, or why not, in words to follow the path.
pub fn read_text(path: &Path, max: u64) -> Result<String, String> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!("larger than {} MiB", max >> 20));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
}

/// `text` as YAML, or one line naming `origin` and the fault. The parser's
/// message can quote the text it could not read, which here is anything the
/// user pointed at: it is cut.
pub fn yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
    what: &str,
) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let why = e.to_string().replace('\n', " ");
        format!(
            "{origin}: invalid {what}: {}",
            crate::console::shorten(&why, 300)
        )
    })
}

/// Up to `max` bytes of a file, as text, for what a workload wrote about
/// itself: nothing when it is absent or not a regular file.
pub fn read_prefix(path: &Path, max: u64) -> String {
    let Ok(file) = open_regular(path) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `max` bytes of a file at most, as text, from the first whole
/// line among them.
pub fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut file) = open_regular(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let from = len.saturating_sub(max);
    if std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(from)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.take(max).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    match text.split_once('\n') {
        Some((_, whole)) if from > 0 => whole.to_string(),
        _ => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.yml");
        std::fs::write(&small, "a: 1\n").unwrap();
        assert_eq!(read_text(&small, 5).unwrap(), "a: 1\n");
        assert_eq!(read_text(&small, 4).unwrap_err(), "larger than 0 MiB");
        assert_eq!(
            read_text(Path::new("/dev/zero"), MAX_CONFIG).unwrap_err(),
            "not a regular file"
        );
        assert_eq!(
            read_text(dir.path(), MAX_CONFIG).unwrap_err(),
            "not a regular file"
        );
        assert!(read_text(&dir.path().join("none"), MAX_CONFIG)
            .unwrap_err()
            .starts_with("cannot read: "));
        std::fs::write(&small, b"\xff\xfe").unwrap();
        assert!(read_text(&small, MAX_CONFIG)
            .unwrap_err()
            .starts_with("not UTF-8 text"));
        assert_eq!(read_prefix(Path::new("/dev/zero"), 10), "");
        std::fs::write(&small, "0123456789").unwrap();
        assert_eq!(read_prefix(&small, 4), "0123");
        std::fs::write(&small, "first\nsecond\nthird\n").unwrap();
        assert_eq!(read_tail(&small, 100), "first\nsecond\nthird\n");
        assert_eq!(read_tail(&small, 10), "third\n");
        assert_eq!(read_tail(Path::new("/dev/zero"), 10), "");
        // A FIFO nobody writes to: refused at once, never waited on.
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(
            read_text(&fifo, MAX_CONFIG).unwrap_err(),
            "not a regular file"
        );
        assert_eq!(read_prefix(&fifo, 10), "");
        assert_eq!(read_tail(&fifo, 10), "");
        assert!(!keep(&fifo, &dir.path().join("kept")));
        assert!(keep(&small, &dir.path().join("kept")));
        assert_eq!(
            std::fs::read(dir.path().join("kept")).unwrap(),
            std::fs::read(&small).unwrap()
        );
    }
}
