//! The init's own exit statuses. In single-command mode the init otherwise
//! exits with its child's status (or 128 + the signal that killed it).

/// Config mode: a program exited non-zero or was killed.
pub const PROGRAM_FAILED: i32 = 1;
/// Bad command line.
pub const USAGE: i32 = 2;
/// Config mode: unreadable file, bad YAML, wrong type, unknown or unsupported key.
pub const CONFIG_SYNTAX: i32 = 3;
/// Config mode: cycles, unknown dependencies, duplicate names, unknown users.
pub const CONFIG_SEMANTICS: i32 = 4;
/// Config mode: the init could not set itself up (signalfd, sockets).
pub const SETUP: i32 = 5;
/// Config mode: a program could not be started (not found, not executable).
pub const START_FAILED: i32 = 6;
/// Single mode: the init could not set itself up. Chosen, like `env` and
/// `docker run`, above the range programs usually use for themselves.
pub const SINGLE_SETUP: i32 = 125;
