//! `initlab-init`: a process-1 program for containers whose children start
//! with a clean signal state.
//!
//! The modules follow the life of a child: `config` says what to run,
//! [`fork_exec`] starts it clean, `supervisor` watches it, [`reap`] collects
//! it, `tree` finds what it left behind. [`cli`] ties them together for the
//! two binaries, which differ only in their [`signals::Flavor`].

// Public only what the binaries and the integration tests use, so that
// the compiler names whatever nothing uses.
pub(crate) mod autoreap;
pub mod cli;
pub(crate) mod config;
pub mod defects;
pub mod exit;
pub mod fork_exec;
pub(crate) mod log;
pub(crate) mod notify;
pub(crate) mod plan;
pub mod reap;
pub mod signals;
pub(crate) mod supervisor;
pub(crate) mod terminal;
pub(crate) mod tree;
pub(crate) mod users;
