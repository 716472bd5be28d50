//! `--trace`: the signal-related system calls of the init and the workload,
//! recorded by strace, kept whole in the cell's directory and told in a few
//! words in the evidence — how the original bug was found by hand.
//!
//! The traced process must be the real init, in its real place (PID 1 of
//! its namespace or container), from its first instruction. So the cell's
//! first process is a gate, `initlab trace-gate FIFO -- ARGV`: it waits on a
//! FIFO, strace attaches to it from outside (`strace -p`), the harness then
//! opens the gate, and the gate restores the signal state it was started
//! with and execs ARGV under the same pid, already traced.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use initlab_init::signals;

/// The system calls recorded.
const SYSCALLS: &str = "trace=rt_sigprocmask,rt_sigaction,signalfd4,kill,tgkill,tkill,\
                        rt_sigqueueinfo,wait4,waitid,clone,clone3,fork,vfork,execve";

/// What `--trace` needs, or one line on how to get it.
pub fn strace() -> Result<PathBuf, String> {
    which::which("strace")
        .map_err(|_| "--trace needs strace: install it with `apt-get install strace`".into())
}

/// `initlab trace-gate FIFO -- ARGV…`: waits until the FIFO is written to,
/// then execs ARGV with the signal state its parent gave this process.
pub fn gate(fifo: &Path, argv: &[String]) -> i32 {
    let Some(first) = argv.first() else {
        say!("initlab trace-gate: give a command after --");
        return 2;
    };
    let opened = std::fs::OpenOptions::new().read(true).open(fifo);
    let mut byte = [0u8; 1];
    if let Err(e) = opened.and_then(|mut f| f.read(&mut byte)) {
        say!("initlab trace-gate: {}: {e}", fifo.display());
        return 2;
    }
    // The Rust runtime ignored SIGPIPE in this process; whoever started it
    // left it at its default, and so must the program it becomes.
    // SAFETY: resetting a disposition and the mask before exec.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
    let args: Result<Vec<CString>, _> = argv.iter().map(|a| CString::new(a.as_str())).collect();
    let Ok(args) = args else {
        say!("initlab trace-gate: an argument holds a NUL byte");
        return 2;
    };
    let err = nix::unistd::execvp(&args[0], &args).unwrap_err();
    say!("initlab trace-gate: cannot run {first}: {err}");
    127
}

/// A running strace, stopped with its traced tree or by drop.
pub struct Tracer {
    handle: duct::Handle,
    pub output: PathBuf,
}

impl Tracer {
    /// Attaches strace to `pids` (the cell's processes so far, the gate
    /// among them; with -f, everything they start), writing to `output`;
    /// once it is attached, opens the gate at `fifo`.
    pub fn attach_and_open(pids: &[i32], output: &Path, fifo: &Path) -> Result<Tracer, String> {
        let strace = strace()?;
        if pids.is_empty() {
            return Err("the cell ended before strace could attach".into());
        }
        let log = output.with_extension("strace-log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut args = vec![
            "-f".to_string(),
            "-tt".into(),
            "--pidns-translation".into(),
            "-o".into(),
            output.display().to_string(),
            "-e".into(),
            SYSCALLS.to_string(),
        ];
        for pid in pids {
            args.push("-p".into());
            args.push(pid.to_string());
        }
        let handle = duct::cmd(strace, args)
            .stdin_null()
            .stdout_null()
            .stderr_file(log_file)
            .unchecked()
            .start()
            .map_err(|e| format!("strace: {e}"))?;
        crate::reaper::hold_foreign(&handle.pids());
        let tracer = Tracer {
            handle,
            output: output.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let said = std::fs::read_to_string(&log).unwrap_or_default();
            if said.matches("attached").count() >= pids.len() {
                break;
            }
            if Instant::now() > deadline || matches!(tracer.handle.try_wait(), Ok(Some(_))) {
                return Err(format!(
                    "strace did not attach to {pids:?}: {}",
                    said.lines().last().unwrap_or("no output")
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        open_gate(fifo)?;
        Ok(tracer)
    }

    /// Waits a moment for strace to finish writing after its tree ended.
    pub fn finish(self) -> PathBuf {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.handle.try_wait(), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.output.clone()
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.handle.kill();
    }
}

/// Writes the byte the gate waits for. Non-blocking: no reader yet is
/// retried until a deadline, never waited on forever.
fn open_gate(fifo: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(mut f) => {
                return std::io::Write::write_all(&mut f, b"g").map_err(|e| e.to_string());
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!(
                    "the trace gate {} never opened: {e}",
                    fifo.display()
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// A FIFO for the gate in `dir`.
pub fn make_gate(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("trace-gate");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| format!("mkfifo {}: {e}", path.display()))?;
    Ok(path)
}

/// A signal set as strace prints it: `[INT QUIT]`, `~[RTMIN RT_1]`, `[]`.
fn parse_set(text: &str) -> Option<u64> {
    let (negated, rest) = match text.strip_prefix('~') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let inner = rest.strip_prefix('[')?.split(']').next()?;
    let mut mask = 0u64;
    for name in inner.split_whitespace() {
        mask |= 1 << (signal_number(name)? - 1);
    }
    Some(if negated { !mask } else { mask })
}

/// A signal as strace names it, with or without `SIG`: `INT`, `SIGRTMIN`
/// (32), `RT_1` (33) — the kernel's numbering, not glibc's SIGRTMIN.
fn signal_number(name: &str) -> Option<i32> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    let n = match name {
        "RTMIN" => 32,
        _ => match name.strip_prefix("RT_") {
            Some(k) => 32 + k.parse::<i32>().ok()?,
            None => (1..=31).find(|&s| signals::name(s) == format!("SIG{name}"))?,
        },
    };
    (1..=64).contains(&n).then_some(n)
}

/// One system call of `strace -f -tt`: pid, name, its arguments and result.
struct Call<'a> {
    pid: i32,
    name: &'a str,
    args: Cow<'a, str>,
    result: Option<i64>,
}

/// One line of `strace -f -tt`: a whole call, or the first or second half
/// of one that another process's line interrupted.
struct Line<'a> {
    pid: i32,
    name: &'a str,
    args: &'a str,
    unfinished: bool,
    resumed: bool,
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    // strace pads the pid column: `4934  12:47:14.362168 execve(...`.
    let (pid, rest) = line.trim_start().split_once(' ')?;
    let pid: i32 = pid.parse().ok()?;
    let (time, rest) = rest.trim_start().split_once(' ')?;
    if !time.contains(':') {
        return None;
    }
    let rest = rest.trim_start();
    let resumed = rest.starts_with("<... ");
    let (name, args) = if let Some(r) = rest.strip_prefix("<... ") {
        r.split_once(" resumed>")?
    } else {
        rest.split_once('(')?
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let unfinished = args.ends_with("<unfinished ...>");
    let args = args.strip_suffix("<unfinished ...>").unwrap_or(args);
    Some(Line {
        pid,
        name,
        args,
        unfinished,
        resumed,
    })
}

/// A call's result. In a PID namespace a fork returns the child's pid
/// there; with --pidns-translation strace adds the pid it names the child
/// by. A short call has its ` = ` padded to a column: `fork()   = 12660`.
fn result_of(args: &str) -> Option<i64> {
    args.rsplit_once(" = ")
        .filter(|(call, _)| call.trim_end().ends_with(')'))
        .and_then(|(_, r)| {
            let host = r
                .split_once("/* ")
                .filter(|(_, c)| c.contains(" in strace's PID NS"))
                .and_then(|(_, c)| c.split_whitespace().next());
            host.or_else(|| r.split_whitespace().next())?.parse().ok()
        })
}

/// The calls of a trace in the order they were entered, each whole: an
/// interrupted call's two halves are joined where it began, so a child's
/// `rt_sigaction` split by its parent's line still counts, and a fork
/// still hands down the state its parent had when it entered it.
fn calls(trace: &str) -> Vec<Call<'_>> {
    let mut calls: Vec<Call> = Vec::new();
    let mut open: HashMap<i32, usize> = HashMap::new();
    for line in trace.lines().filter_map(parse_line) {
        if line.resumed {
            // A second half whose first is not in the trace (strace
            // attached mid-call) says nothing about what the call did.
            if let Some(i) = open
                .remove(&line.pid)
                .filter(|&i| calls[i].name == line.name)
            {
                let whole = format!("{}{}", calls[i].args, line.args);
                calls[i].result = result_of(&whole);
                calls[i].args = Cow::Owned(whole);
            }
            continue;
        }
        if line.unfinished {
            open.insert(line.pid, calls.len());
        }
        calls.push(Call {
            pid: line.pid,
            name: line.name,
            args: Cow::Borrowed(line.args),
            result: if line.unfinished {
                None
            } else {
                result_of(line.args)
            },
        });
    }
    calls
}

/// What a process looked like when it exec'd a program.
struct Exec {
    pid: i32,
    program: String,
    blocked: u64,
    ignored: u64,
    /// It set its own mask after it was forked.
    set_mask: bool,
}

#[derive(Clone, Copy, Default)]
struct State {
    blocked: u64,
    ignored: u64,
    set_mask: bool,
}

/// A few words on what the trace shows about masks across fork and exec:
/// the first process (the init) and what its descendants exec'd with.
pub fn summarize(trace: &str) -> String {
    let calls = calls(trace);
    // Which call forked each child: a child inherits its parent's state as
    // it was then, whenever its own first line comes.
    let born_at: HashMap<usize, i32> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c.name, "clone" | "clone3" | "fork" | "vfork"))
        .filter_map(|(i, c)| Some((i, i32::try_from(c.result.filter(|r| *r > 0)?).ok()?)))
        .collect();
    let mut state: HashMap<i32, State> = HashMap::new();
    let mut birth: HashMap<i32, State> = HashMap::new();
    let mut root: Option<i32> = None;
    let mut init: Option<(i32, String)> = None;
    let mut init_blocked = 0u64;
    let mut signalfd = 0u64;
    let mut execs: Vec<Exec> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let root_pid = *root.get_or_insert(call.pid);
        let s = *state
            .entry(call.pid)
            .or_insert_with(|| birth.remove(&call.pid).unwrap_or_default());
        if let Some(child) = born_at.get(&i) {
            birth.insert(
                *child,
                State {
                    set_mask: false,
                    ..s
                },
            );
        }
        let s = state.get_mut(&call.pid).expect("inserted above");
        match call.name {
            "rt_sigprocmask" if call.result == Some(0) => {
                let (how, rest) = call.args.split_once(", ").unwrap_or(("", ""));
                if let Some(set) = parse_set(rest) {
                    s.blocked = match how {
                        "SIG_BLOCK" => s.blocked | set,
                        "SIG_UNBLOCK" => s.blocked & !set,
                        "SIG_SETMASK" => set,
                        _ => s.blocked,
                    };
                    s.set_mask = true;
                }
            }
            "rt_sigaction" if call.result == Some(0) => {
                let n = signal_number(call.args.split(',').next().unwrap_or(""));
                if let (Some(n), Some(new)) = (n, call.args.split(", ").nth(1)) {
                    if new.starts_with("{sa_handler=SIG_IGN") {
                        s.ignored |= 1 << (n - 1);
                    } else if new.starts_with("{sa_handler=") {
                        s.ignored &= !(1 << (n - 1));
                    }
                }
            }
            "signalfd4" if call.pid == root_pid => {
                if let Some(set) = call.args.split_once(", ").and_then(|(_, r)| parse_set(r)) {
                    signalfd |= set;
                }
            }
            "clone" | "clone3" | "fork" | "vfork"
                if call.pid == root_pid
                    && init.is_some()
                    && call.result.is_some_and(|r| r > 0)
                    && init_blocked == 0 =>
            {
                init_blocked = s.blocked;
            }
            // A failed execve (a PATH search) leaves the process as it was.
            "execve" if call.result == Some(0) => {
                let program = call
                    .args
                    .split('"')
                    .nth(1)
                    .unwrap_or("?")
                    .rsplit('/')
                    .next()
                    .unwrap_or("?")
                    .to_string();
                if call.pid == root_pid && init.is_none() {
                    init = Some((call.pid, program));
                } else {
                    execs.push(Exec {
                        pid: call.pid,
                        program,
                        blocked: s.blocked,
                        ignored: s.ignored,
                        set_mask: s.set_mask,
                    });
                }
            }
            _ => {}
        }
    }
    let names = |m: u64| {
        let list = |m: u64| {
            signals::decode_mask(m)
                .into_iter()
                .map(|s| signals::name(s).trim_start_matches("SIG").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        // An init that blocks everything for its own signalfd: say what not.
        if !m == 0 {
            "every signal".to_string()
        } else if m.count_ones() > 32 {
            format!("everything but {}", list(!m))
        } else {
            list(m)
        }
    };
    let Some((init_pid, init_prog)) = init else {
        return "the trace holds no exec of the first process".into();
    };
    let mut parts = Vec::new();
    parts.push(if init_blocked != 0 {
        let fd = if signalfd & init_blocked != 0 {
            format!(", reading {} from a signalfd", names(signalfd))
        } else {
            String::new()
        };
        format!(
            "the init (pid {init_pid}, {init_prog}) blocked {}{fd}",
            names(init_blocked)
        )
    } else {
        format!("the init (pid {init_pid}, {init_prog}) had nothing blocked when it forked")
    });
    let leaky: Vec<&Exec> = execs
        .iter()
        .filter(|e| e.blocked != 0 || e.ignored != 0)
        .collect();
    if leaky.is_empty() {
        parts.push(format!(
            "{} program(s) exec'd below it, every one with an empty mask and nothing ignored",
            execs.len()
        ));
    }
    for e in leaky.iter().take(2) {
        let mut what = Vec::new();
        if e.blocked != 0 {
            what.push(format!("{} blocked", names(e.blocked)));
        }
        if e.ignored != 0 {
            what.push(format!("{} ignored", names(e.ignored)));
        }
        let how = if e.set_mask {
            "after setting its mask itself"
        } else {
            "without an rt_sigprocmask between fork and exec"
        };
        parts.push(format!(
            "pid {} exec'd {} with {} ({how})",
            e.pid,
            e.program,
            what.join(" and ")
        ));
    }
    if leaky.len() > 2 {
        parts.push(format!(
            "{} more exec'd with a signal state handed down",
            leaky.len() - 2
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// strace -f -tt of initlab-init-issue38 -- sh -c 'sleep 0.2 & sleep 0.3',
    /// trimmed.
    const ISSUE38: &str = r#"10716 11:38:36.979138 execve("/work/initlab-init-issue38", ["/work/initlab-init-issue38", "--", "sh", "-c", "sleep 0.2 & sleep 0.3"], 0x7fff32631990 /* 35 vars */) = 0
10716 11:38:36.982790 rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7ff9dbc191f0}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
10716 11:38:36.983211 rt_sigprocmask(SIG_BLOCK, [INT QUIT TERM CHLD], NULL, 8) = 0
10716 11:38:36.983307 signalfd4(-1, [INT QUIT TERM CHLD], 8, SFD_CLOEXEC|SFD_NONBLOCK) = 3
10716 11:38:36.983617 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x55558985d6d0) = 10717
10717 11:38:36.984806 rt_sigaction(SIGPIPE, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, NULL, 8) = 0
10717 11:38:36.989144 execve("/usr/bin/sh", ["sh", "-c", "sleep 0.2 & sleep 0.3"], 0x5555898624f0 /* 35 vars */) = 0
10717 11:38:36.991023 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7fbad0ae5a10) = 10718
10717 11:38:36.991267 rt_sigprocmask(SIG_SETMASK, ~[RTMIN RT_1], NULL, 8) = 0
10717 11:38:36.991290 vfork( <unfinished ...>
10719 11:38:36.992690 rt_sigprocmask(SIG_SETMASK, [], ~[KILL STOP RTMIN RT_1], 8) = 0
10719 11:38:36.992748 execve("/usr/bin/sleep", ["sleep", "0.3"], 0x5623414c0b08 /* 35 vars */ <unfinished ...>
10718 11:38:36.992763 rt_sigaction(SIGINT, {sa_handler=SIG_IGN, sa_mask=[INT], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7fbad0b24050}, {sa_handler=0x56232e5e2dc0, sa_mask=~[KILL STOP RTMIN RT_1], sa_flags=SA_RESTORER, sa_restorer=0x7fbad0b24050}, 8) = 0
10717 11:38:36.992806 <... vfork resumed>) = 10719
10719 11:38:36.992865 <... execve resumed>) = 0
10718 11:38:36.993026 execve("/usr/bin/sleep", ["sleep", "0.2"], 0x5623414c0b08 /* 35 vars */) = 0
10718 11:38:37.204600 +++ exited with 0 +++
"#;

    /// The summary of `trace`, which must start with `first` and hold
    /// `then`.
    fn summary_says(trace: &str, first: &str, then: &str) -> String {
        let s = summarize(trace);
        assert!(s.starts_with(first), "{s}");
        assert!(s.contains(then), "{s}");
        s
    }

    #[test]
    fn sets_as_strace_prints_them() {
        assert_eq!(parse_set("[INT QUIT TERM CHLD]"), Some(0x14006));
        assert_eq!(parse_set("[]"), Some(0));
        assert_eq!(parse_set("~[RTMIN RT_1]"), Some(!0x1_8000_0000));
        assert_eq!(parse_set("[PIPE], 8) = 0"), Some(0x1000));
        assert_eq!(parse_set("NULL"), None);
    }

    #[test]
    fn the_issue_38_trace_names_the_mask_and_the_missing_reset() {
        let s = summary_says(ISSUE38, "the init (pid 10716, initlab-init-issue38) blocked INT QUIT TERM CHLD, reading INT QUIT TERM CHLD from a signalfd", "pid 10717 exec'd sh with INT QUIT TERM CHLD blocked (without an rt_sigprocmask between fork and exec)");
        // sh's own children: the background one ignores INT (sh set it), the
        // other got an empty mask from sh.
        assert!(
            s.contains("pid 10718 exec'd sleep with INT QUIT TERM CHLD blocked and INT ignored"),
            "{s}"
        );
        assert!(!s.contains("pid 10719"), "{s}");
    }

    #[test]
    fn a_child_named_by_its_pid_in_a_namespace_still_inherits() {
        // As PID 1 of a namespace: clone returns 2, strace names it 14589.
        let ns = r#"14580 11:48:38.980282 execve("/x/initlab-init-issue38", ["initlab-init-issue38", "--", "cp"], 0x7ffe /* 6 vars */) = 0
14580 11:48:38.981550 rt_sigprocmask(SIG_BLOCK, [INT QUIT TERM CHLD], NULL, 8) = 0
14580 11:48:38.981893 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x55557cb8b6d0) = 2 /* 14589 in strace's PID NS */
14589 11:48:38.983352 execve("/usr/bin/cp", ["cp", "/proc/self/status", "/tmp/x"], 0x55557cb8e1b0 /* 6 vars */) = 0
"#;
        let s = summarize(ns);
        assert!(
            s.contains("pid 14589 exec'd cp with INT QUIT TERM CHLD blocked"),
            "{s}"
        );
    }

    #[test]
    fn a_padded_pid_column_is_read() {
        let padded = ISSUE38
            .replace("10716 ", "4934  ")
            .replace("10717 ", "4935  ")
            .replace("= 10717", "= 4935");
        summary_says(
            &padded,
            "the init (pid 4934, initlab-init-issue38) blocked",
            "pid 4935 exec'd sh with INT QUIT TERM CHLD blocked",
        );
    }

    #[test]
    fn a_short_call_with_a_padded_result_is_read() {
        // initlab-init on musl: fork() blocks everything around the call and
        // restores the mask after it, in parent and child.
        let musl = r#"12656 14:40:04.616313 execve("/x/initlab-init", ["initlab-init", "--", "cp"], 0x7ffd /* 6 vars */) = 0
12656 14:40:04.617005 rt_sigprocmask(SIG_BLOCK, ~[PIPE RTMIN RT_1], NULL, 8) = 0
12656 14:40:04.617156 signalfd4(-1, ~[PIPE RTMIN RT_1], 8, SFD_CLOEXEC|SFD_NONBLOCK) = 3
12656 14:40:04.617610 rt_sigprocmask(SIG_BLOCK, ~[], ~[KILL STOP RTMIN RT_1], 8) = 0
12656 14:40:04.617633 fork()            = 12660
12656 14:40:04.617780 rt_sigprocmask(SIG_SETMASK, ~[KILL STOP RTMIN RT_1],  <unfinished ...>
12660 14:40:04.617793 rt_sigprocmask(SIG_SETMASK, ~[KILL PIPE STOP RTMIN RT_1], NULL, 8) = 0
12656 14:40:04.617808 <... rt_sigprocmask resumed>NULL, 8) = 0
12660 14:40:04.618000 rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0
12660 14:40:04.618100 execve("/usr/bin/cp", ["cp", "/proc/self/status", "/tmp/x"], 0x55557cb8e1b0 /* 6 vars */) = 0
"#;
        summary_says(
            musl,
            "the init (pid 12656, initlab-init) blocked every signal, reading",
            "1 program(s) exec'd below it, every one with an empty mask",
        );
    }

    #[test]
    fn a_call_split_by_another_process_still_counts() {
        // The child's reset of SIGPIPE is interrupted by its parent's line;
        // read by halves, cp would seem to run with PIPE ignored.
        let split = r#"8797  19:45:38.282657 execve("/x/initlab-init", ["initlab-init", "--", "cp"], 0x7ffc /* 6 vars */) = 0
8797  19:45:38.283413 rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x7f0a61d3bbd7}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0
8797  19:45:38.283883 rt_sigprocmask(SIG_BLOCK, ~[], ~[KILL STOP RTMIN RT_1], 8) = 0
8797  19:45:38.283902 fork( <unfinished ...>
8805  19:45:38.286309 rt_sigprocmask(SIG_SETMASK, [],  <unfinished ...>
8797  19:45:38.286320 <... fork resumed>)            = 2 /* 8805 in strace's PID NS */
8805  19:45:38.286330 <... rt_sigprocmask resumed>NULL, 8) = 0
8805  19:45:38.286609 rt_sigaction(SIGPIPE, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0},  <unfinished ...>
8797  19:45:38.286620 rt_sigprocmask(SIG_SETMASK, ~[KILL PIPE STOP RTMIN RT_1], NULL, 8) = 0
8805  19:45:38.286630 <... rt_sigaction resumed>NULL, 8) = 0
8805  19:45:38.287100 execve("/usr/bin/cp", ["cp", "/proc/self/status", "/tmp/x"], 0x5555 /* 6 vars */) = 0
"#;
        summary_says(
            split,
            "the init (pid 8797, initlab-init) blocked every signal;",
            "1 program(s) exec'd below it, every one with an empty mask and nothing ignored",
        );
    }

    #[test]
    fn a_clean_init_says_so() {
        let clean = ISSUE38.replace(
            "10717 11:38:36.984806 rt_sigaction",
            "10717 11:38:36.984800 rt_sigprocmask(SIG_SETMASK, [], NULL, 8) = 0\n10717 11:38:36.984806 rt_sigaction",
        );
        let s = summarize(&clean);
        assert!(!s.contains("pid 10717 exec'd"), "{s}");
    }
}
