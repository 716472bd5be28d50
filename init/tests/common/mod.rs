//! Shared test plumbing: starting the init directly or as PID 1 of a fresh
//! PID namespace, reading its output with deadlines, and leaving nothing behind.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub const INIT: &str = env!("CARGO_BIN_EXE_initlab-init");
pub const ISSUE38: &str = env!("CARGO_BIN_EXE_initlab-init-issue38");

/// Where the init runs.
#[derive(Clone, Copy, Debug)]
pub enum Env {
    /// A normal child of the test (the init makes itself a subreaper).
    Direct,
    /// PID 1 of a fresh PID and mount namespace with its own /proc.
    Pid1,
    /// A normal child of `strace` (see [`traced`]), which follows the init
    /// alone, not its children.
    Traced,
}

/// A neutral probe: grep is C and leaves its signal state alone.
pub const PROBE: [&str; 4] = ["grep", "-E", "^Sig(Blk|Ign|Pnd)", "/proc/self/status"];

/// The real interpreter behind `python3`. A wrapper script in between (a
/// pyenv shim is a bash script) would change the signal state under test:
/// bash unblocks signals at start-up.
pub fn python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 on PATH");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

pub fn helper(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "helpers", name]
        .iter()
        .collect();
    path.display().to_string()
}

/// `init args...` in the given environment.
pub fn command(init: &str, env: Env, args: &[&str]) -> Command {
    let mut cmd = match env {
        Env::Direct => Command::new(init),
        Env::Pid1 => {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", init]);
            c
        }
        Env::Traced => panic!("a traced init is started with `traced`"),
    };
    cmd.args(args);
    cmd
}

/// `init args...` under `strace -o trace -e trace=calls`, in `Env::Traced`.
pub fn traced(init: &str, trace: &std::path::Path, calls: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("strace");
    cmd.arg("-o")
        .arg(trace)
        .args(["-e", &format!("trace={calls}"), init]);
    cmd.args(args);
    cmd
}

/// Makes the init start with a handful of signals blocked and ignored, as an
/// init started by a careless parent would.
pub fn dirty_start(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGUSR1, libc::SIGTERM, libc::SIGCHLD, 40] {
                libc::sigaddset(&mut set, sig);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            for sig in [libc::SIGHUP, libc::SIGPIPE, libc::SIGUSR2, 45] {
                libc::signal(sig, libc::SIG_IGN);
            }
            Ok(())
        });
    }
}

/// `(SigBlk, SigIgn, SigPnd)` from probe output.
pub fn parse_probe(text: &str) -> (u64, u64, u64) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex mask"))
            .unwrap_or_else(|| panic!("no {name} in probe output: {text}"))
    };
    (field("SigBlk:"), field("SigIgn:"), field("SigPnd:"))
}

/// A running init whose stdout lines arrive on a channel. Dropping it kills
/// the init and everything below it.
pub struct Live {
    child: Child,
    lines: Receiver<String>,
    env: Env,
}

impl Live {
    pub fn start(mut cmd: Command, env: Env) -> Live {
        cmd.stdout(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().expect("start the init");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            lines: rx,
            env,
        }
    }

    /// The init's pid as this test sees it.
    pub fn init_pid(&self) -> i32 {
        match self.env {
            Env::Direct => self.child.id() as i32,
            Env::Pid1 | Env::Traced => {
                wait_for("the init to start", Duration::from_secs(10), || {
                    children_of(self.child.id() as i32).first().copied()
                })
            }
        }
    }

    pub fn line(&self, timeout: Duration) -> String {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("no output line within {timeout:?}: {e}"))
    }

    pub fn line_matching(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self.line(left);
            if pred(&line) {
                return line;
            }
        }
    }

    /// Remaining stdout lines until EOF (bounded).
    pub fn rest(&self, timeout: Duration) -> Vec<String> {
        let end = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Ok(l) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            out.push(l);
        }
        out
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill has no memory effects here.
        assert_eq!(unsafe { libc::kill(self.init_pid(), sig) }, 0);
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the init") {
                return status;
            }
            assert!(
                Instant::now() < end,
                "the init did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let top = self.child.id() as i32;
        for pid in descendants(top).into_iter().rev() {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `probe` every 10 ms until it yields a value, or panics at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `(pid, ppid, state, comm)` of every process.
pub fn processes() -> Vec<(i32, i32, char, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        all.push((pid, ppid, state, comm));
    }
    all
}

pub fn children_of(pid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.1 == pid)
        .map(|p| p.0)
        .collect()
}

pub fn descendants(pid: i32) -> Vec<i32> {
    let all = processes();
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for q in all.iter().filter(|q| q.1 == p) {
            found.push(q.0);
            queue.push(q.0);
        }
    }
    found
}

/// State and start time from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit(')').next()?.split_whitespace().collect();
    // After the command: state is field 3, start time field 22.
    Some((
        fields.first()?.chars().next()?,
        fields.get(19)?.parse().ok()?,
    ))
}

/// A process as first seen: its pid and start time. Pids are reused, and
/// on a busy machine soon: a later look must find the same process.
#[derive(Clone, Copy, Debug)]
pub struct Sighting {
    pub pid: i32,
    start: Option<u64>,
}

pub fn sighted(pid: i32) -> Sighting {
    Sighting {
        pid,
        start: stat(pid).map(|s| s.1),
    }
}

impl Sighting {
    /// The same process is still there and not a zombie.
    pub fn alive(&self) -> bool {
        self.start.is_some()
            && stat(self.pid)
                .is_some_and(|(state, start)| state != 'Z' && Some(start) == self.start)
    }
}
