//! The command line shared by both binaries.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use nix::sys::signal::{sigprocmask, SigmaskHow};

use crate::config::{self, ConfigError, Program};
use crate::exit;
use crate::fork_exec::Launch;
use crate::log;
use crate::notify::NotifySocket;
use crate::signals::Flavor;
use crate::supervisor::{Options, Supervisor, Unit};

const ABOUT: &str = "A process-1 program for containers: runs one command, or several \
programs from YAML, reaps every zombie, forwards signals, and starts every child with \
an empty signal mask and default dispositions.";

const ABOUT_ISSUE38: &str = "Reproduces cinit issue 38 for testing: blocks SIGINT, SIGQUIT, \
SIGTERM and SIGCHLD for its signalfd and does NOT unblock them in its children, so every \
child starts with SigBlk 0000000000014006 and cannot receive SIGCHLD or SIGTERM. It exists \
only to reproduce that bug. Do not use it in production: use initlab-init.";

const AFTER_HELP: &str = "Exit status: single mode, the command's status, 128+n if signal n \
killed it, 126 if it cannot be executed, 127 if it is not found, 125 if the init itself \
failed. Config mode: 0 all programs succeeded, 1 a program failed, 2 usage, 3 config syntax, \
4 config semantics, 5 setup failure, 6 a program could not be started.";

#[derive(Parser, Debug)]
#[command(version, after_help = AFTER_HELP)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["config", "command"]))]
struct Cli {
    /// Run the programs of a YAML file, or of every *.yml/*.yaml file in a directory.
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Forward signals to each child's process group rather than to the child.
    #[arg(short = 'g', long = "group")]
    group: bool,

    /// Seconds between SIGTERM and SIGKILL when shutting down.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_grace)]
    grace: Duration,

    /// Log starts, exits, readiness and forwarded signals.
    #[arg(short, long)]
    verbose: bool,

    /// The command to run, after `--`.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{text}` is not a number of seconds from 0 to 86400"))
}

/// Runs the init; returns its exit status.
pub fn main(flavor: Flavor) -> i32 {
    let about = match flavor {
        Flavor::Clean => ABOUT,
        Flavor::Issue38 => ABOUT_ISSUE38,
    };
    let command = Cli::command().name(flavor.program_name()).about(about);
    let cli = match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { 0 };
        }
    };
    log::init(flavor.program_name(), cli.verbose);
    let single = cli.config.is_none();
    let setup_code = if single {
        exit::SINGLE_SETUP
    } else {
        exit::SETUP
    };
    // Block before anything can fork: a SIGCHLD that arrived between fork and
    // blocking would otherwise be handled by its default action, and lost.
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&flavor.handled()), None) {
        log::say(format!("cannot block signals: {}", e.desc()));
        return setup_code;
    }
    become_subreaper();

    let (units, main, _sockets_dir) = match &cli.config {
        None => (vec![single_unit(cli.command, flavor)], Some(0), None),
        Some(path) => match config_units(path, flavor) {
            Ok((units, dir)) => (units, None, dir),
            Err(Failure(code, msg)) => {
                log::say(msg);
                return code;
            }
        },
    };
    let options = Options {
        grace: cli.grace,
        group: cli.group,
        flavor,
    };
    match Supervisor::new(units, main, options) {
        Ok(s) => s.run(),
        Err(e) => {
            log::say(format!("cannot create a signalfd: {}", e.desc()));
            setup_code
        }
    }
}

fn become_subreaper() {
    if std::process::id() == 1 {
        return;
    }
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        log::say(format!(
            "warning: cannot register as child subreaper ({}); orphans will not be reaped",
            e.desc()
        ));
    }
}

fn single_unit(command: Vec<OsString>, flavor: Flavor) -> Unit {
    let launch = Launch {
        program: command[0].clone(),
        argv: command,
        env: std::env::vars_os().collect(),
        workdir: None,
        credentials: None,
        keep_mask: !flavor.resets_child_mask(),
        ..Launch::default()
    };
    Unit::new("main".into(), launch, Default::default(), Vec::new())
}

struct Failure(i32, String);

/// Variables a program sees from the init's environment without asking, so
/// that a configured program finds its tools and speaks the right language.
const FORWARDED: [&str; 8] = [
    "HOME", "LANG", "LANGUAGE", "LC_ALL", "PATH", "TERM", "TZ", "USER",
];

fn config_units(
    path: &std::path::Path,
    flavor: Flavor,
) -> Result<(Vec<Unit>, Option<tempfile::TempDir>), Failure> {
    let programs = config::load(path).map_err(|e| match e {
        ConfigError::Syntax(m) => Failure(exit::CONFIG_SYNTAX, m),
        ConfigError::Semantics(m) => Failure(exit::CONFIG_SEMANTICS, m),
    })?;
    let needs_sockets = programs.iter().any(|p| p.kind == config::Kind::Notify);
    let dir = if needs_sockets {
        let dir = tempfile::Builder::new()
            .prefix("initlab-init.")
            .tempdir()
            .map_err(|e| {
                Failure(
                    exit::SETUP,
                    format!("cannot create the notify directory: {e}"),
                )
            })?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755));
        Some(dir)
    } else {
        None
    };
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    let mut units = Vec::new();
    for (i, p) in programs.iter().enumerate() {
        let after = p
            .after
            .iter()
            .filter_map(|d| names.iter().position(|n| n == d))
            .collect();
        let mut launch = program_launch(p, flavor)?;
        let mut notify = None;
        if let (config::Kind::Notify, Some(dir)) = (p.kind, &dir) {
            let sock = NotifySocket::bind(dir.path(), i, &p.name).map_err(|e| {
                Failure(
                    exit::SETUP,
                    format!("program `{}`: cannot create its notify socket: {e}", p.name),
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
    Ok((units, dir))
}

fn program_launch(p: &Program, flavor: Flavor) -> Result<Launch, Failure> {
    let mut env: Vec<(OsString, OsString)> = FORWARDED
        .iter()
        .filter_map(|k| std::env::var_os(k).map(|v| (OsString::from(k), v)))
        .collect();
    for (key, value) in &p.env {
        let value = match value {
            Some(v) => Some(OsString::from(v)),
            None => std::env::var_os(key),
        };
        env.retain(|(k, _)| k != key.as_str());
        if let Some(v) = value {
            env.push((key.into(), v));
        }
    }
    let mut argv = vec![OsString::from(&p.path)];
    argv.extend(p.args.iter().map(OsString::from));
    Ok(Launch {
        program: OsString::from(&p.path),
        argv,
        env,
        workdir: p.workdir.clone(),
        credentials: credentials(p)?,
        keep_mask: !flavor.resets_child_mask(),
        ..Launch::default()
    })
}

/// Resolves `user`/`uid` and `group`/`gid` into numbers. A user without a
/// group takes the user's primary group, as login does.
fn credentials(p: &Program) -> Result<Option<(u32, u32)>, Failure> {
    use nix::unistd::{Group, User};
    let semantics = |m: String| Failure(exit::CONFIG_SEMANTICS, m);
    let user =
        match (&p.user, p.uid) {
            (Some(name), _) => Some(User::from_name(name).ok().flatten().ok_or_else(|| {
                semantics(format!("program `{}`: unknown user `{name}`", p.name))
            })?),
            (None, Some(uid)) => User::from_uid(uid.into()).ok().flatten(),
            (None, None) => None,
        };
    let uid = p.uid.or(user.as_ref().map(|u| u.uid.as_raw()));
    let gid = match (&p.group, p.gid) {
        (Some(name), _) => Some(
            Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| semantics(format!("program `{}`: unknown group `{name}`", p.name)))?
                .gid
                .as_raw(),
        ),
        (None, Some(gid)) => Some(gid),
        (None, None) => user.as_ref().map(|u| u.gid.as_raw()),
    };
    Ok(match (uid, gid) {
        (None, None) => None,
        (uid, gid) => Some((
            uid.unwrap_or_else(|| nix::unistd::getuid().as_raw()),
            gid.or(uid)
                .unwrap_or_else(|| nix::unistd::getgid().as_raw()),
        )),
    })
}
