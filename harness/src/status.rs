//! The harness's exit statuses, and a failure carrying one.

/// Every cell matched its expectation.
pub const OK: i32 = 0;
/// At least one cell deviated from its expectation, or was flaky.
pub const DEVIATED: i32 = 1;
/// Bad command line or input file.
pub const USAGE: i32 = 2;
/// What the run needs could not be set up (Python, init binaries).
pub const SETUP: i32 = 3;
/// Cells that were asked for by name, or cells of our own inits, were
/// skipped (and nothing deviated otherwise); `--allow-skip` accepts them.
pub const SKIPPED: i32 = 4;
/// Interrupted by SIGINT or SIGTERM.
pub const INTERRUPTED: i32 = 130;

/// A failure with its exit status, printed as one line.
pub struct Failure(pub i32, pub String);
