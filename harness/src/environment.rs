//! Where a cell runs: a normal child of the harness, PID 1 of a fresh PID
//! namespace, or PID 1 of a Docker container. A started cell is seen the
//! same way in all three: a root pid on the host's `/proc`, a way to wait for
//! it, to stop it with SIGTERM, and to tear it down.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use initlab_init::fork_exec::{Launch, Prepared};
use initlab_init::reap::Ending;
use serde::{Deserialize, Serialize};

use crate::docker;
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

/// What to start. Paths in `argv` and `workdir` are as the started process
/// sees them (inside the image for Docker).
pub struct StartSpec<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub workdir: &'a Path,
    /// Receives the workload's stdout and stderr.
    pub log: &'a File,
}

/// What a container cell needs besides the spec.
pub struct ContainerSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub run_id: &'a str,
    pub init_dir: &'a Path,
    pub cell_dir: &'a Path,
    /// Docker's own `--init`.
    pub docker_init: bool,
    /// Host files bind-mounted read-only at the same path (a user's init).
    pub mounts: &'a [std::path::PathBuf],
}

/// A started cell. The container variant is large, but there is one per
/// running cell.
#[allow(clippy::large_enum_variant)]
pub enum Started {
    Process {
        root: i32,
    },
    Container {
        root: i32,
        name: String,
        /// `docker wait`: prints the exit status when the container stops.
        waiter: duct::Handle,
        /// `docker logs -f` into the cell's log.
        logs: duct::Handle,
    },
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
    Ok(Started::Process { root: pid.as_raw() })
}

fn background(expr: duct::Expression) -> Result<duct::Handle, String> {
    let handle = expr
        .stdin_null()
        .unchecked()
        .start()
        .map_err(|e| e.to_string())?;
    reaper::hold_foreign(&handle.pids());
    Ok(handle)
}

/// `docker run` with the init as the container's PID 1 (`--entrypoint`),
/// host networking (gunicorn is probed on 127.0.0.1 from the host, and the
/// engine here runs without a bridge), and the init binaries bind-mounted.
pub fn start_container(spec: &StartSpec<'_>, c: &ContainerSpec<'_>) -> Result<Started, String> {
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        c.name.clone(),
        "--label".into(),
        format!("{}={}", docker::LABEL, c.run_id),
        "--network".into(),
        "host".into(),
        "-v".into(),
        format!("{}:{}:ro", c.init_dir.display(), docker::INIT_MOUNT),
        "-v".into(),
        // Writable: the workload leaves its evidence there.
        format!("{}:{}", c.cell_dir.display(), docker::CELL_MOUNT),
        "-w".into(),
        spec.workdir.display().to_string(),
    ];
    for m in c.mounts {
        args.push("-v".into());
        args.push(format!("{0}:{0}:ro", m.display()));
    }
    for (k, v) in spec.env {
        args.push("-e".into());
        args.push(format!("{k}={v}"));
    }
    if c.docker_init {
        args.push("--init".into());
    }
    args.push("--entrypoint".into());
    args.push(spec.argv[0].clone());
    args.push(c.image.to_string());
    args.extend(spec.argv[1..].iter().cloned());
    let out = crate::helper::output(
        duct::cmd("docker", &args).stderr_to_stdout(),
        Duration::from_secs(60),
    )?;
    if !out.status.success() {
        return Err(format!(
            "docker run of {} failed: {}; check that the engine answers `docker info`, \
             or rebuild the images with `initlab images --rebuild`",
            c.image,
            crate::docker::engine_error(&out.stdout)
        ));
    }
    let log = spec.log.try_clone().map_err(|e| e.to_string())?;
    let log2 = spec.log.try_clone().map_err(|e| e.to_string())?;
    let logs = background(
        duct::cmd("docker", ["logs", "-f", &c.name])
            .stdout_file(log)
            .stderr_file(log2),
    )?;
    let waiter = background(
        duct::cmd("docker", ["wait", &c.name])
            .stdout_capture()
            .stderr_null(),
    )?;
    // A container that already ended has no pid; 0 stands for "gone".
    let root = docker::inspect(&c.name, "{{.State.Pid}}")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    Ok(Started::Container {
        root,
        name: c.name.clone(),
        waiter,
        logs,
    })
}

impl Started {
    pub fn root(&self) -> i32 {
        match self {
            Started::Process { root } | Started::Container { root, .. } => *root,
        }
    }

    /// How the first process ended, if it has.
    pub fn ended(&self) -> Option<Ending> {
        match self {
            Started::Process { root } => reaper::ended(*root),
            Started::Container { waiter, .. } => match waiter.try_wait() {
                Ok(Some(out)) => Some(Ending::Exited(
                    String::from_utf8_lossy(&out.stdout)
                        .trim()
                        .parse()
                        .unwrap_or(-1),
                )),
                _ => None,
            },
        }
    }

    /// Waits for the first process to end; for a container, also for its
    /// log to be complete.
    pub fn wait(&self, timeout: Duration) -> Option<Ending> {
        match self {
            Started::Process { root } => reaper::wait(*root, timeout),
            Started::Container { logs, .. } => {
                let end = Instant::now() + timeout;
                loop {
                    if let Some(e) = self.ended() {
                        while Instant::now() < end && logs.try_wait().ok().flatten().is_none() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        return Some(e);
                    }
                    if Instant::now() >= end {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Stops the cell the way its environment's users do: SIGTERM to PID 1,
    /// or `docker stop` (SIGTERM, then SIGKILL after `grace`). Returns the
    /// ending, the time taken, and a note on how it was stopped.
    pub fn terminate(&self, grace: Duration) -> (Option<Ending>, Duration, String) {
        let started = Instant::now();
        match self {
            Started::Process { root } => {
                if *root > 0 {
                    // SAFETY: kill has no memory effects.
                    unsafe { libc::kill(*root, libc::SIGTERM) };
                }
                let ending = reaper::wait(*root, grace);
                (ending, started.elapsed(), "SIGTERM to PID 1".into())
            }
            Started::Container { name, .. } => {
                let secs = grace.as_secs().max(1).to_string();
                let _ = crate::helper::output(
                    duct::cmd("docker", ["stop", "-t", &secs, name]).stderr_null(),
                    grace + Duration::from_secs(20),
                );
                let took = started.elapsed();
                let ending = self.wait(Duration::from_secs(5));
                let note = if took >= grace {
                    format!("`docker stop -t {secs}`: Docker had to SIGKILL after its timeout")
                } else {
                    format!("`docker stop -t {secs}`")
                };
                (ending, took, note)
            }
        }
    }

    /// Kills everything the cell started. Returns what would not die.
    pub fn teardown(self, seen: &[(i32, u64)]) -> Vec<i32> {
        match self {
            Started::Process { root } => {
                let left = reaper::kill_tree(root, seen);
                reaper::wait(root, Duration::from_secs(10));
                reaper::release(root);
                left
            }
            Started::Container {
                root,
                name,
                waiter,
                logs,
            } => {
                let _ = crate::helper::output(
                    duct::cmd("docker", ["rm", "-f", &name]).stderr_null(),
                    Duration::from_secs(60),
                );
                for h in [&waiter, &logs] {
                    let _ = h.kill();
                    reaper::release_foreign(&h.pids());
                }
                if root > 0 {
                    reaper::kill_tree(root, seen)
                } else {
                    Vec::new()
                }
            }
        }
    }
}
