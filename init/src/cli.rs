//! The command line shared by both binaries.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

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

/// What the command line asks for.
#[derive(Debug, PartialEq)]
struct Cli {
    config: Option<PathBuf>,
    group: bool,
    grace: Duration,
    verbose: bool,
    command: Vec<OsString>,
}

/// What to do instead of running: print help or the version, or refuse.
#[derive(Debug, PartialEq)]
enum Stop {
    Help,
    Version,
    Usage(String),
}

const OPTIONS: &str = "Usage: {name} [OPTIONS] -- COMMAND [ARGS...]
       {name} [OPTIONS] --config PATH

Options:
  -c, --config PATH    Run the programs of a YAML file, or of every *.yml/*.yaml file in a directory
  -g, --group          Forward signals to each child's process group rather than to the child
      --grace SECONDS  Seconds between SIGTERM and SIGKILL when shutting down [default: 10]
  -v, --verbose        Log starts, exits, readiness and forwarded signals
  -h, --help           Print help
  -V, --version        Print version";

/// A small argument loop: the init parses four options on every start, and
/// a full argument-parsing framework would cost more than the rest of it.
fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, Stop> {
    use lexopt::prelude::*;
    let usage = |e: lexopt::Error| Stop::Usage(e.to_string());
    let mut parser = lexopt::Parser::from_args(args);
    let mut cli = Cli {
        config: None,
        group: false,
        grace: Duration::from_secs(10),
        verbose: false,
        command: Vec::new(),
    };
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('c') | Long("config") => cli.config = Some(parser.value().map_err(usage)?.into()),
            Short('g') | Long("group") => cli.group = true,
            Long("grace") => {
                let text = parser.value().map_err(usage)?;
                cli.grace = parse_grace(&text.to_string_lossy()).map_err(Stop::Usage)?;
            }
            Short('v') | Long("verbose") => cli.verbose = true,
            Short('h') | Long("help") => return Err(Stop::Help),
            Short('V') | Long("version") => return Err(Stop::Version),
            // The command: everything from here on is its own, untouched.
            Value(first) => {
                cli.command.push(first);
                cli.command.extend(parser.raw_args().map_err(usage)?);
            }
            _ => return Err(usage(arg.unexpected())),
        }
    }
    match (&cli.config, cli.command.is_empty()) {
        (Some(_), false) => Err(Stop::Usage(
            "give either --config PATH or a command after --, not both".into(),
        )),
        (None, true) => Err(Stop::Usage(
            "nothing to run: give a command after --, or --config PATH".into(),
        )),
        _ => Ok(cli),
    }
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("--grace: `{text}` is not a number of seconds from 0 to 86400"))
}

/// Writes help or the version to stdout; `println!` would panic on a full
/// disk or a closed pipe.
fn answer(text: &str) -> i32 {
    let mut stdout = std::io::stdout();
    match std::io::Write::write_all(&mut stdout, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut stdout))
    {
        Ok(()) => 0,
        Err(e) => {
            log::say(format_args!(
                "cannot write to stdout: {e}; send it where there is room"
            ));
            exit::SINGLE_SETUP
        }
    }
}

/// Runs the init; returns its exit status.
pub fn main(flavor: Flavor) -> i32 {
    main_with(flavor, std::env::args_os().skip(1))
}

/// Runs the init on these arguments (the program name left out).
pub fn main_with(flavor: Flavor, args: impl IntoIterator<Item = OsString>) -> i32 {
    let name = flavor.program_name();
    let cli = match parse(args) {
        Ok(cli) => cli,
        Err(Stop::Help) => {
            let about = match flavor {
                Flavor::Clean | Flavor::Mutant(_) => ABOUT,
                Flavor::Issue38 => ABOUT_ISSUE38,
            };
            let options = OPTIONS.replace("{name}", name);
            return answer(&format!("{about}\n\n{options}\n\n{AFTER_HELP}\n"));
        }
        Err(Stop::Version) => {
            return answer(&format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
        }
        Err(Stop::Usage(msg)) => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!(
                    "error: {}; see `{name} --help`\n",
                    log::escape(&msg, log::MAX_LINE)
                )
                .as_bytes(),
            );
            return exit::USAGE;
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
    // An init that execs into its command must not leave the subreaper
    // flag behind: it survives exec, and orphans would go to the workload.
    if flavor.defects().exec && single {
        return exec_into(cli.command, flavor);
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

/// Mutant `exec`: no init at all, the command replaces this process with
/// the clean state a child would get.
fn exec_into(command: Vec<OsString>, flavor: Flavor) -> i32 {
    let unit = plan::single(command, flavor);
    match crate::fork_exec::Prepared::new(&unit.launch) {
        // SAFETY: nothing else runs yet: single-threaded, as after fork.
        Ok(prepared) => unsafe { prepared.exec_here() },
        Err(e) => {
            log::say(&e);
            e.exit_code()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Result<Cli, Stop> {
        parse(a.iter().map(OsString::from))
    }

    #[test]
    fn the_command_is_taken_whole_after_the_options() {
        let cli = args(&["-gv", "--grace=2.5", "--", "sh", "-c", "--grace"]).unwrap();
        assert!(cli.group && cli.verbose);
        assert_eq!(cli.grace, Duration::from_millis(2500));
        assert_eq!(cli.command, ["sh", "-c", "--grace"]);
        assert_eq!(args(&["sleep", "-v"]).unwrap().command, ["sleep", "-v"]);
        assert_eq!(
            args(&["-c", "x.yml"]).unwrap().config,
            Some(PathBuf::from("x.yml"))
        );
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let usage = |a: &[&str]| match args(a) {
            Err(Stop::Usage(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(usage(&[]).contains("nothing to run"));
        assert!(usage(&["-c", "x", "--", "true"]).contains("not both"));
        assert!(usage(&["--grace", "soon", "--", "true"]).contains("`soon`"));
        assert!(usage(&["--frobnicate"]).contains("--frobnicate"));
        assert!(usage(&["--config"]).contains("--config"));
        assert_eq!(args(&["-h"]), Err(Stop::Help));
        assert_eq!(args(&["--version", "--", "x"]), Err(Stop::Version));
    }
}
