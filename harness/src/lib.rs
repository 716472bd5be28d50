//! `initlab`: runs real gunicorn + gevent workloads under many init variants
//! and checks, from `/proc` and from the workload's behaviour, that signal
//! masks are clean and that SIGCHLD reaches the workers.
//!
//! A run is a matrix of cells ([`cell`]): a [`variant`] (an init and how it
//! is invoked) × a [`scenario`] (a workload from `scenarios/`) × an
//! [`environment`]. A scenario's [`drivers`] function operates it and turns
//! what [`proc_state`] and the workload's `self_report`s show into
//! [`checks`]; [`expect`] says which checks a cell should fail; `matrix`
//! runs cells in parallel and `report` prints the result.

// Public only what the binaries and the integration tests use, so that
// the compiler names whatever nothing uses.
#[macro_use]
mod console;

pub(crate) mod audit;
pub(crate) mod bench;
pub mod cell;
pub(crate) mod cell_log;
pub mod checks;
pub mod cli;
pub mod docker;
pub mod drivers;
pub mod elf;
pub mod environment;
pub mod expect;
pub(crate) mod fingerprint;
pub(crate) mod helper;
pub mod inits;
pub(crate) mod input;
pub(crate) mod inspect;
pub(crate) mod interrupt;
pub(crate) mod matrix;
pub mod proc_state;
pub mod python;
pub mod reaper;
pub(crate) mod repeat;
pub(crate) mod report;
pub(crate) mod reproduce;
pub mod scenario;
pub(crate) mod self_report;
pub(crate) mod shard;
pub(crate) mod status;
pub(crate) mod trace;
pub mod variant;
