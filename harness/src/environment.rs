//! Where a cell runs: a normal child of the harness, PID 1 of a fresh PID
//! namespace, or PID 1 of a Docker container.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use initlab_init::fork_exec::{Launch, Prepared};
use serde::{Deserialize, Serialize};

use crate::reaper;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    /// The init is a normal child of the harness (a subreaper).
    Direct,
    /// The init is PID 1 of a fresh PID + mount namespace with its own /proc.
    Pid1,
    /// The init is PID 1 of a Docker container.
    Docker,
}

impl EnvKind {
    pub const ALL: [EnvKind; 3] = [EnvKind::Direct, EnvKind::Pid1, EnvKind::Docker];

    pub fn name(self) -> &'static str {
        match self {
            EnvKind::Direct => "direct",
            EnvKind::Pid1 => "pid1",
            EnvKind::Docker => "docker",
        }
    }

    pub fn parse(text: &str) -> Option<EnvKind> {
        EnvKind::ALL.into_iter().find(|e| e.name() == text)
    }
}

/// What to start, in host terms.
pub struct StartSpec<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: &'a Path,
    /// Receives the workload's stdout and stderr.
    pub log: &'a File,
}

/// The first process of a started cell, as the host sees it.
pub struct Started {
    pub root: i32,
}

/// Starts `spec` with fork + exec and a clean signal state (the same code
/// that `initlab-init` uses for its children), directly or as PID 1 of a new
/// PID namespace.
pub fn start_process(spec: &StartSpec<'_>, pid1: bool) -> Result<Started, String> {
    let null = File::open("/dev/null").map_err(|e| format!("cannot open /dev/null: {e}"))?;
    let launch = Launch {
        program: spec.argv[0].clone().into(),
        argv: spec.argv.iter().map(Into::into).collect(),
        env: spec.env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        workdir: Some(spec.workdir.to_path_buf()),
        stdio: [
            Some(null.as_raw_fd()),
            Some(spec.log.as_raw_fd()),
            Some(spec.log.as_raw_fd()),
        ],
        new_pid_namespace: pid1,
        ..Launch::default()
    };
    let prepared = Prepared::new(&launch).map_err(|e| e.to_string())?;
    let pid = prepared.spawn().map_err(|e| e.to_string())?;
    reaper::adopt_root(pid.as_raw());
    Ok(Started { root: pid.as_raw() })
}
