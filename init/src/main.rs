//! `initlab-init`. Without Rust's `main` wrapper: the init needs none of
//! what it sets up before `main` (an alternate signal stack and SIGSEGV
//! handlers, the main thread's stack bounds read from /proc/self/maps, the
//! SIGPIPE disposition, which the init sets itself), and that work was a
//! measurable part of every start. glibc hands `argv` and `environ` to the
//! standard library before `main`, so `std::env` works as usual.
// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    initlab_init::cli::main(initlab_init::signals::Flavor::Clean)
}
