//! From what to run to how to start it: the units the supervisor runs, with
//! their launch (argv, environment, credentials), dependencies as indices,
//! and notify sockets.
//!
//! Everything here happens before the first fork, so every error is still a
//! clean refusal with its own exit status.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use crate::config::{self, ConfigError, Program};
use crate::exit;
use crate::fork_exec::{Credentials, Launch};
use crate::notify::NotifySocket;
use crate::signals::Flavor;
use crate::supervisor::Unit;
use crate::users::Db;

/// An exit status and the one-line message that goes with it.
pub struct Failure(pub i32, pub String);

/// Variables a program sees from the init's environment without asking, so
/// that a configured program finds its tools and speaks the right language.
const FORWARDED: [&str; 8] = [
    "HOME", "LANG", "LANGUAGE", "LC_ALL", "PATH", "TERM", "TZ", "USER",
];

/// Single mode: the command with the init's whole environment and every
/// descriptor the init inherited, as tini and catatonit hand them on.
pub fn single(command: Vec<OsString>, flavor: Flavor) -> Unit {
    let defects = flavor.defects();
    let mut launch = Launch {
        program: command[0].clone(),
        argv: command,
        inherit_env: true,
        keep_mask: !flavor.resets_child_mask(),
        defect_blocked: defects.child_blocked,
        defect_ignored: defects.child_ignored,
        keep_fds: true,
        rewrite_listen_pid: true,
        ..Launch::default()
    };
    // The mutant build's output defects: the child's stdout and stderr go
    // to /dev/null, or through a pipe the init relays with a prefix.
    let mut output = None;
    if defects.silent {
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let fd: std::os::fd::OwnedFd = null.into();
            launch.stdio = [None, Some(raw(&fd)), Some(raw(&fd))];
            output = Some((None, fd));
        }
    } else if defects.prefix_output {
        if let Ok((read, write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
            let _ = nix::fcntl::fcntl(
                &read,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            );
            launch.stdio = [None, Some(raw(&write)), Some(raw(&write))];
            output = Some((Some(read), write));
        }
    }
    let mut unit = Unit::new("main".into(), launch, Default::default(), Vec::new());
    if let Some((relay, keep)) = output {
        unit.relay = relay;
        unit.stdio_keep = Some(keep);
    }
    unit
}

fn raw(fd: &std::os::fd::OwnedFd) -> std::os::fd::RawFd {
    std::os::fd::AsRawFd::as_raw_fd(fd)
}

/// Config mode: one unit per program, in the file's order.
pub fn from_config(path: &Path, flavor: Flavor) -> Result<Vec<Unit>, Failure> {
    let programs = config::load(path).map_err(|e| match e {
        ConfigError::Syntax(m) => Failure(exit::CONFIG_SYNTAX, m),
        ConfigError::Semantics(m) => Failure(exit::CONFIG_SEMANTICS, m),
    })?;
    let index: HashMap<&str, usize> = programs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let db = programs
        .iter()
        .any(|p| p.user.is_some() || p.uid.is_some() || p.group.is_some() || p.gid.is_some())
        .then(|| Db::load(Path::new("/")));
    let mut units = Vec::with_capacity(programs.len());
    for p in &programs {
        let after = p.after.iter().map(|d| index[d.as_str()]).collect();
        let mut launch = launch(p, flavor, db.as_ref())?;
        let mut notify = None;
        if p.kind == config::Kind::Notify {
            let owner = launch
                .credentials
                .as_ref()
                .map(|c| (c.uid, c.gid))
                .filter(|(uid, _)| *uid != nix::unistd::geteuid().as_raw());
            let parent = std::env::temp_dir();
            let sock = NotifySocket::bind(&parent, owner).map_err(|e| {
                Failure(
                    exit::SETUP,
                    format!(
                        "program `{}`: cannot create its notify socket in {}: {e}; \
                         point TMPDIR at a writable directory",
                        p.name,
                        parent.display()
                    ),
                )
            })?;
            launch
                .env
                .push(("NOTIFY_SOCKET".into(), sock.path.clone().into_os_string()));
            notify = Some(sock);
        }
        let mut unit = Unit::new(p.name.clone(), launch, p.kind, after);
        unit.notify = notify;
        units.push(unit);
    }
    Ok(units)
}

fn launch(p: &Program, flavor: Flavor, db: Option<&Db>) -> Result<Launch, Failure> {
    let mut env: Vec<(OsString, OsString)> = FORWARDED
        .iter()
        .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
        .collect();
    let set = |env: &mut Vec<(OsString, OsString)>, key: &str, value: Option<OsString>| {
        env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            env.push((key.into(), v));
        }
    };
    let (credentials, account) = match db {
        Some(db) => credentials(p, db)?,
        None => (None, None),
    };
    // As `docker run --user` and gosu do: a program switched to another
    // user gets that user's HOME (`/` when it has no entry) and name; a
    // group alone changes neither.
    if p.user.is_some() || p.uid.is_some() {
        let home = account.map_or("/", |a| a.home.as_str());
        set(&mut env, "HOME", Some(home.into()));
        if let Some(a) = account {
            set(&mut env, "USER", Some(a.name.as_str().into()));
        }
    }
    for (key, value) in &p.env {
        let value = match value {
            Some(v) => Some(OsString::from(v)),
            None => std::env::var_os(key),
        };
        set(&mut env, key, value);
    }
    let mut argv = vec![OsString::from(&p.path)];
    argv.extend(p.args.iter().map(OsString::from));
    Ok(Launch {
        program: OsString::from(&p.path),
        argv,
        env,
        workdir: p.workdir.clone(),
        credentials,
        keep_mask: !flavor.resets_child_mask(),
        ..Launch::default()
    })
}

/// Resolves `user`/`uid` and `group`/`gid` the way `docker run --user` does:
/// a user without a group takes its primary group, and every group that
/// lists the user as a member is a supplementary group.
fn credentials<'a>(
    p: &Program,
    db: &'a Db,
) -> Result<(Option<Credentials>, Option<&'a crate::users::Account>), Failure> {
    let semantics = |m: String| Failure(exit::CONFIG_SEMANTICS, m);
    let account = match (&p.user, p.uid) {
        (Some(name), _) => Some(db.account_named(name).ok_or_else(|| {
            semantics(format!(
                "program `{}`: unknown user `{name}` (not in /etc/passwd)",
                p.name
            ))
        })?),
        (None, Some(uid)) => db.account_of(uid),
        (None, None) => None,
    };
    let gid = match (&p.group, p.gid) {
        (Some(name), _) => Some(
            db.group_named(name)
                .ok_or_else(|| {
                    semantics(format!(
                        "program `{}`: unknown group `{name}` (not in /etc/group)",
                        p.name
                    ))
                })?
                .gid,
        ),
        (None, Some(gid)) => Some(gid),
        (None, None) => account.map(|a| a.gid),
    };
    let uid = p.uid.or(account.map(|a| a.uid));
    if uid.is_none() && gid.is_none() {
        return Ok((None, None));
    }
    let uid = uid.unwrap_or_else(|| nix::unistd::geteuid().as_raw());
    let gid = gid.unwrap_or(uid);
    let groups = match account {
        Some(a) => db.groups_of(&a.name, gid),
        None => vec![gid],
    };
    Ok((Some(Credentials { uid, gid, groups }), account))
}
