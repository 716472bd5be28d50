//! The command line shared by both binaries.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use nix::sys::signal::{sigprocmask, SigmaskHow};

use crate::exit;
use crate::log;
use crate::plan::{self, Failure};
use crate::signals::Flavor;
use crate::supervisor::{Options, Supervisor};

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
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&flavor.handled()), None)
        .and_then(|()| flavor.ignore_own())
    {
        log::say(format!("cannot set up signal handling: {}", e.desc()));
        return setup_code;
    }
    become_subreaper();

    let (units, main) = match &cli.config {
        None => (vec![plan::single(cli.command, flavor)], Some(0)),
        Some(path) => match plan::from_config(path, flavor) {
            Ok(units) => (units, None),
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
