//! Just enough ELF to tell a static executable from one that needs a
//! dynamic loader (and so the loader's libraries in every image it runs in).

use std::os::unix::fs::FileExt;
use std::path::Path;

const PT_INTERP: u32 = 3;

/// Whether the 64-bit little-endian ELF executable at `path` names a program
/// interpreter; None when it is not such a file. Only the header and the
/// program header table are read: the path is the user's, and may name
/// something that never ends.
pub fn needs_loader(path: &Path) -> Option<bool> {
    let file = crate::input::open_regular(path).ok()?;
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).ok()?;
    if head[..6] != *b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| u16::from_le_bytes([head[o], head[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(head[0x20..0x28].try_into().ok()?);
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    if size < 4 {
        return None;
    }
    // At most 65,535 entries of at most 65,535 bytes: bounded by the format.
    let mut table = vec![0u8; size * count];
    file.read_exact_at(&mut table, phoff).ok()?;
    Some(
        table
            .chunks_exact(size)
            .any(|entry| u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]) == PT_INTERP),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_dynamic_and_not_elf() {
        assert_eq!(needs_loader(Path::new("/bin/sh")), Some(true));
        assert_eq!(needs_loader(Path::new("/etc/passwd")), None);
        assert_eq!(needs_loader(Path::new("/dev/zero")), None);
        assert_eq!(needs_loader(Path::new("/nonexistent")), None);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o700)).unwrap();
        assert_eq!(needs_loader(&fifo), None);
    }
}
