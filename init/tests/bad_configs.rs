//! More than a thousand generated bad configs, each run through the real
//! binary: none may crash it, hang it, or get more than one line of
//! printable text on stderr.
//!
//! The cases are made by a seeded generator, so a failure names a case that
//! the next run makes again: random bytes, truncations and mutations of a
//! valid config, deep nesting, alias bombs, huge files, cycles and chains
//! of 100,000, 40,000 programs, FIFOs and devices, and names, keys, users and
//! file names holding newlines, escapes and NULs.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// The base config: every key in use, and a program that cannot start, so a
/// truncation that is still valid ends quickly with status 6.
const BASE: &str = "programs:\n  - name: db\n    type: notify\n    path: /nonexistent/initlab-fuzz\n    args: [--port, 5432, true]\n    workdir: /\n    env:\n      - PGDATA: /var/lib/pg\n      - TZ:\n    user: root\n    group: root\n  - name: web\n    path: /nonexistent/initlab-fuzz\n    after: [db]\n    before: [late]\n    uid: 0\n    gid: 0\n  - {name: late, path: /nonexistent/initlab-fuzz, args: ['a b', \"c\"]}\n";

/// xorshift64*: small, seeded, the same cases every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

enum Case {
    /// Config text written to `c.yml`.
    Text(String, Vec<u8>),
    /// A path prepared by a function, given to `-c` as it is.
    Path(String, Box<dyn Fn(&Path) -> PathBuf + Send + Sync>),
}

fn text(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Case {
    Case::Text(name.into(), bytes.into())
}

fn programs(n: usize, after: impl Fn(usize) -> Option<usize>) -> String {
    let mut s = String::from("programs:\n");
    for i in 0..n {
        match after(i) {
            Some(d) => s.push_str(&format!("- {{name: p{i}, path: x, after: [p{d}]}}\n")),
            None => s.push_str(&format!("- {{name: p{i}, path: x}}\n")),
        }
    }
    s
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x1b17_ab5e_ed00_0038);
    let mut all = Vec::new();
    const YAMLISH: &[u8] = b"programs:-{}[]nameptha,fr \n\"'&*!|>#%@`\t\\0x<?";
    for i in 0..300 {
        let len = rng.below(3000);
        let bytes: Vec<u8> = if i % 2 == 0 {
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            (0..len)
                .map(|_| YAMLISH[rng.below(YAMLISH.len())])
                .collect()
        };
        all.push(text(format!("random bytes #{i}"), bytes));
    }
    let base = BASE.as_bytes();
    for i in 0..200 {
        let cut = i * base.len() / 200;
        all.push(text(format!("truncated at {cut}"), &base[..cut]));
    }
    for i in 0..500 {
        let mut bytes = base.to_vec();
        for _ in 0..1 + rng.below(5) {
            let at = rng.below(bytes.len());
            match rng.below(3) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes.insert(at, YAMLISH[rng.below(YAMLISH.len())]),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        all.push(text(format!("mutation #{i}"), bytes));
    }
    let deep = 100_000;
    all.push(text("deep flow lists", "[".repeat(deep)));
    all.push(text("deep flow maps", "{a: ".repeat(deep)));
    all.push(text(
        "deep block lists",
        (0..5000)
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect::<String>(),
    ));
    all.push(text(
        "deep args",
        format!(
            "programs:\n  - {{name: a, path: x, args: {}}}\n",
            "[".repeat(deep)
        ),
    ));
    let mut bomb = String::from("a: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!(
            "b{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    all.push(text("alias bomb at the top", bomb.clone()));
    all.push(text(
        "alias bomb in args",
        format!(
            "x: &x [{}]\nprograms:\n  - {{name: a, path: x, args: *x}}\n",
            "y, ".repeat(1000)
        ),
    ));
    all.push(text(
        "huge file",
        format!("programs:\n{}", "# pad\n".repeat(1_000_000)),
    ));
    all.push(text(
        "cycle of 100,000",
        programs(100_000, |i| Some((i + 1) % 100_000)),
    ));
    all.push(text(
        "chain of 100,000",
        programs(100_000, |i| (i + 1 < 100_000).then_some(i + 1)),
    ));
    all.push(text(
        "40,000 in reverse order",
        programs(40_000, |i| (i + 1 < 40_000).then_some(i + 1)),
    ));
    all.push(text(
        "cycle of 5,000",
        programs(5_000, |i| Some((i + 1) % 5_000)),
    ));
    for (what, yaml) in [
        (
            "newline in a name",
            "programs:\n  - {name: \"a\\nb\", path: x, after: [zz]}\n",
        ),
        (
            "escape in a name",
            "programs:\n  - {name: \"\\e[31mred\", path: x, after: [\"\\e[2J\"]}\n",
        ),
        (
            "C1 control in a name",
            "programs:\n  - {name: \"\\x9b2J\", path: x}\n",
        ),
        (
            "long name",
            &format!(
                "programs:\n  - {{name: {}, path: x}}\n",
                "n".repeat(100_000)
            ),
        ),
        (
            "long unknown dependency",
            &format!(
                "programs:\n  - {{name: a, path: x, after: [{}]}}\n",
                "d".repeat(100_000)
            ),
        ),
        (
            "right-to-left name",
            "programs:\n  - {name: \"\\u202Eevil\", path: x, after: [q]}\n",
        ),
        (
            "NUL in a name",
            "programs:\n  - {name: \"a\\0b\", path: x}\n",
        ),
        (
            "NUL in a path",
            "programs:\n  - {name: a, path: \"/bin/\\0sh\"}\n",
        ),
        (
            "NUL in an argument",
            "programs:\n  - {name: a, path: /bin/true, args: [\"a\\0b\"]}\n",
        ),
        (
            "newline in a key",
            "programs:\n  - {name: a, path: x, \"af\\nter\": [b]}\n",
        ),
        ("escape in a top key", "\"\\e]0;pwned\\a\": 1\n"),
        (
            "newline in a user",
            "programs:\n  - {name: a, path: x, user: \"no\\nbody\"}\n",
        ),
        (
            "escape in a group",
            "programs:\n  - {name: a, path: x, group: \"\\e[1m\"}\n",
        ),
        (
            "empty env key",
            "programs:\n  - {name: a, path: x, env: [{'': 1}]}\n",
        ),
        (
            "env key with =",
            "programs:\n  - {name: a, path: x, env: [{'A=B': 1}]}\n",
        ),
        (
            "env key with NUL",
            "programs:\n  - {name: a, path: x, env: [{\"A\\0\": 1}]}\n",
        ),
        (
            "uid too large",
            "programs:\n  - {name: a, path: x, uid: 99999999999}\n",
        ),
        (
            "negative uid",
            "programs:\n  - {name: a, path: x, uid: -1}\n",
        ),
        (
            "uid as text",
            "programs:\n  - {name: a, path: x, uid: root}\n",
        ),
        (
            "bad type",
            "programs:\n  - {name: a, path: x, type: forking}\n",
        ),
        ("programs not a list", "programs: {name: a}\n"),
        ("top-level list", "- programs\n"),
        ("empty file", ""),
        ("only comments", "# nothing\n# here\n"),
        (
            "byte order mark",
            "\u{feff}programs:\n  - {name: a, path: /nonexistent/x}\n",
        ),
        (
            "duplicate keys",
            "programs:\n  - {name: a, name: b, path: x}\n",
        ),
        (
            "merge key",
            "base: &b {path: x}\nprograms:\n  - {<<: *b, name: a}\n",
        ),
        (
            "binary tag",
            "programs:\n  - {name: !!binary aGVsbG8=, path: x}\n",
        ),
        ("tabs", "programs:\n\t- name: a\n\t  path: x\n"),
        ("null program", "programs:\n  - ~\n"),
        ("null name", "programs:\n  - {name: ~, path: x}\n"),
        ("many documents", "---\nprograms: []\n---\nprograms: []\n"),
        (
            "self dependency",
            "programs:\n  - {name: a, path: x, after: [a]}\n",
        ),
        (
            "before itself",
            "programs:\n  - {name: a, path: x, before: [a]}\n",
        ),
        (
            "workdir missing",
            "programs:\n  - {name: a, path: /bin/true, workdir: /nonexistent/dir}\n",
        ),
        (
            "unknown user",
            "programs:\n  - {name: a, path: /bin/true, user: no-such-user-initlab}\n",
        ),
    ] {
        all.push(text(what, yaml));
    }
    all.push(text("UTF-16", [0xff, 0xfe, b'p', 0, b'r', 0, b'o', 0]));
    let path_case = |name: &str, f: fn(&Path) -> PathBuf| Case::Path(name.into(), Box::new(f));
    all.push(path_case("a FIFO", |d| {
        let p = d.join("fifo.yml");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap();
        p
    }));
    all.push(path_case("/dev/zero", |_| "/dev/zero".into()));
    all.push(path_case("/dev/null", |_| "/dev/null".into()));
    all.push(path_case("/dev/tty", |_| "/dev/tty".into()));
    all.push(path_case("a directory with a FIFO named .yml", |d| {
        nix::unistd::mkfifo(&d.join("x.yml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        d.to_path_buf()
    }));
    all.push(path_case("a file name with a newline and an escape", |d| {
        std::fs::write(d.join("bad\n\x1b[31m.yml"), "programs: [").unwrap();
        d.to_path_buf()
    }));
    all.push(path_case("too many files", |d| {
        for i in 0..1001 {
            std::fs::write(d.join(format!("{i}.yml")), "").unwrap();
        }
        d.to_path_buf()
    }));
    all.push(path_case("files adding up past the limit", |d| {
        let one = format!("programs:\n{}", "# pad\n".repeat(100_000));
        for i in 0..8 {
            std::fs::write(d.join(format!("{i}.yml")), &one).unwrap();
        }
        d.to_path_buf()
    }));
    all.push(path_case("a symlink loop", |d| {
        let p = d.join("loop.yml");
        std::os::unix::fs::symlink(&p, &p).unwrap();
        p
    }));
    all.push(path_case("a missing file", |d| d.join("missing.yml")));
    all.push(path_case("a directory without configs", |d| {
        d.to_path_buf()
    }));
    all
}

/// Runs one case; returns a description of what went wrong, if anything.
fn check(case: &Case) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let (name, path) = match case {
        Case::Text(name, bytes) => {
            let p = dir.path().join("c.yml");
            std::fs::write(&p, bytes).unwrap();
            (name, p)
        }
        Case::Path(name, make) => (name, make(dir.path())),
    };
    let out = assert_cmd::Command::new(INIT)
        .arg("-c")
        .arg(&path)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let bad = match out.status.code() {
        None => Some(format!("ended by {:?} (crash or hang)", out.status)),
        Some(code) if ![0, 1, 3, 4, 6].contains(&code) => Some(format!("exit status {code}")),
        Some(3 | 4) if lines.len() != 1 => Some(format!("{} lines on stderr", lines.len())),
        Some(_) => None,
    };
    let bad = bad.or_else(|| {
        lines
            .iter()
            .find(|l| l.len() > 1200 || l.chars().any(char::is_control))
            .map(|l| format!("an unbounded or unescaped line of {} bytes", l.len()))
    });
    bad.map(|why| {
        format!(
            "{name}: {why}: {}",
            stderr.chars().take(300).collect::<String>()
        )
    })
}

#[test]
fn no_bad_config_crashes_hangs_or_garbles_the_log() {
    let all = cases();
    assert!(all.len() >= 1000, "{} cases", all.len());
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let all = &all;
                s.spawn(move || {
                    all.iter()
                        .skip(w)
                        .step_by(2)
                        .filter_map(check)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
