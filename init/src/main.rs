//! `initlab-init`. Without Rust's `main` wrapper: the init needs none of
//! what it sets up before `main` (an alternate signal stack and SIGSEGV
//! handlers, the main thread's stack bounds read from /proc/self/maps, the
//! SIGPIPE disposition, which the init sets itself), and that work was a
//! measurable part of every start.
//!
//! The binary is linked against musl (see `build.rs`), which does not pass
//! `argc` and `argv` to the standard library's start-up hook as glibc does:
//! `std::env::args` is empty here, and the arguments are taken from `main`.
#![no_main]

#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;
    let args = (1..usize::try_from(argc).unwrap_or(0)).map(|i| {
        // SAFETY: the C start-up code passes `argc` valid C strings in `argv`.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        OsStr::from_bytes(arg.to_bytes()).to_os_string()
    });
    initlab_init::cli::main_with(initlab_init::signals::Flavor::Clean, args)
}

/// libgcc's unwinder, built against glibc, looks up unwind tables through
/// glibc's `_dl_find_object`, which musl lacks. The init is built to abort
/// on panic and never unwinds; "not found" only means that a backtrace,
/// asked for with RUST_BACKTRACE, lists no frames.
#[cfg(initlab_musl)]
#[no_mangle]
extern "C" fn _dl_find_object(_pc: *mut libc::c_void, _found: *mut libc::c_void) -> libc::c_int {
    -1
}
