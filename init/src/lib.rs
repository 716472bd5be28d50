//! `initlab-init`: a process-1 program for containers whose children start
//! with a clean signal state.
//!
//! The modules follow the life of a child: [`config`] says what to run,
//! [`fork_exec`] starts it clean, [`supervisor`] watches it, [`reap`] collects
//! it, [`tree`] finds what it left behind. [`cli`] ties them together for the
//! two binaries, which differ only in their [`signals::Flavor`].

pub mod cli;
pub mod config;
pub mod defects;
pub mod exit;
pub mod fork_exec;
pub mod log;
pub mod notify;
pub mod plan;
pub mod reap;
pub mod signals;
pub mod supervisor;
pub mod terminal;
pub mod tree;
pub mod users;
