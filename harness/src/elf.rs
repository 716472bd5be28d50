//! Just enough ELF to tell a static executable from one that needs a
//! dynamic loader (and so the loader's libraries in every image it runs in).

use std::path::Path;

const PT_INTERP: u32 = 3;

/// Whether the 64-bit little-endian ELF executable at `path` names a program
/// interpreter; None when it is not such a file.
pub fn needs_loader(path: &Path) -> Option<bool> {
    let elf = std::fs::read(path).ok()?;
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?) as usize);
    let phoff = u64::from_le_bytes(elf.get(0x20..0x28)?.try_into().ok()?) as usize;
    let (size, count) = (u16_at(0x36)?, u16_at(0x38)?);
    for i in 0..count {
        let at = phoff.checked_add(i.checked_mul(size)?)?;
        let kind = u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}
