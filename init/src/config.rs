//! The YAML configuration, in cinit's documented format.
//!
//! ```yaml
//! programs:
//!   - name: migrate
//!     path: /app/manage.py
//!     args: [migrate]
//!   - name: web
//!     path: gunicorn
//!     args: [app:app]
//!     after: [migrate]
//!     env:
//!       - PYTHONUNBUFFERED: 1
//!       - DATABASE_URL:        # forwarded from the init's environment
//! ```
//!
//! Unknown keys are errors, never ignored: a typo in `after` would otherwise
//! silently drop an ordering the user relies on.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

/// Why a configuration was refused; each kind has its own exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Unreadable file, bad YAML, wrong type, unknown or unsupported key.
    Syntax(String),
    /// Well-formed but meaningless: cycles, unknown dependencies, duplicates.
    Semantics(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Syntax(m) | ConfigError::Semantics(m) => f.write_str(m),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Runs; dependants start once it has exited with status 0.
    #[default]
    Oneshot,
    /// Gets `NOTIFY_SOCKET`; dependants start once it sends `READY=1`.
    Notify,
}

/// One program, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub name: String,
    pub path: String,
    pub args: Vec<String>,
    pub workdir: Option<PathBuf>,
    /// `(key, None)` forwards the init's own value when it has one.
    pub env: Vec<(String, Option<String>)>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    /// Names of programs that must be done (oneshot) or ready (notify) first,
    /// with every `before` of the others folded in.
    pub after: Vec<String>,
    pub kind: Kind,
    pub source: PathBuf,
}

const KNOWN_KEYS: [&str; 12] = [
    "name", "path", "args", "workdir", "env", "uid", "gid", "user", "group", "before", "after",
    "type",
];
const UNSUPPORTED_KEYS: [&str; 3] = ["cronjob", "pty", "capabilities"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgram {
    name: String,
    path: String,
    #[serde(default)]
    args: Vec<Scalar>,
    workdir: Option<PathBuf>,
    #[serde(default)]
    env: Vec<BTreeMap<String, Option<Scalar>>>,
    uid: Option<u32>,
    gid: Option<u32>,
    user: Option<String>,
    group: Option<String>,
    #[serde(default)]
    before: Vec<String>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(rename = "type", default)]
    kind: Kind,
}

/// YAML turns `1` and `true` into numbers and booleans; arguments and
/// environment values are strings all the same.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Text(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// The most configuration text read, over all files: a real config is a few
/// kilobytes, and this bounds what a hostile one can make the root init parse.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// The most programs, over all files.
pub const MAX_PROGRAMS: usize = 10_000;
/// The most files a config directory may hold.
const MAX_FILES: usize = 1_000;
/// Names longer than this are refused (they end up in every log line).
const MAX_NAME: usize = 256;

/// Loads a file, or every `*.yml`/`*.yaml` file of a directory (sorted by
/// name), and validates the merged program list.
pub fn load(path: &Path) -> Result<Vec<Program>, ConfigError> {
    let files = config_files(path)?;
    let mut programs = Vec::new();
    let mut budget = MAX_CONFIG_BYTES;
    for file in &files {
        let text = read_bounded(file, &mut budget)?;
        programs.extend(parse_text(file, &text)?);
        if programs.len() > MAX_PROGRAMS {
            return Err(ConfigError::Syntax(format!(
                "{}: more than {MAX_PROGRAMS} programs; split the work across containers",
                path.display()
            )));
        }
    }
    if programs.is_empty() {
        return Err(ConfigError::Semantics(format!(
            "{}: no programs configured; add a `programs:` list",
            path.display()
        )));
    }
    validate(programs)
}

fn config_files(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let unreadable =
        |e: std::io::Error| ConfigError::Syntax(format!("{}: cannot read: {e}", path.display()));
    if !path.is_dir() {
        std::fs::metadata(path).map_err(unreadable)?;
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(unreadable)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .take(MAX_FILES + 1)
        .collect();
    if files.len() > MAX_FILES {
        return Err(ConfigError::Syntax(format!(
            "{}: more than {MAX_FILES} config files; merge them",
            path.display()
        )));
    }
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::Semantics(format!(
            "{}: directory holds no *.yml or *.yaml file",
            path.display()
        )));
    }
    Ok(files)
}

/// Reads a regular file as UTF-8 text, taking its size from `budget`.
/// Opened without blocking and checked after opening, so that a FIFO or a
/// device named as config is refused instead of hanging or streaming forever.
fn read_bounded(file: &Path, budget: &mut u64) -> Result<String, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = file.display();
    let unreadable = |e: std::io::Error| ConfigError::Syntax(format!("{shown}: cannot read: {e}"));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(file)
        .map_err(unreadable)?;
    let meta = f.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(ConfigError::Syntax(format!(
            "{shown}: not a regular file; give a YAML file or a directory of them"
        )));
    }
    let mut bytes = Vec::new();
    f.take(*budget + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > *budget {
        return Err(ConfigError::Syntax(format!(
            "{shown}: the configuration is larger than {} MiB in all",
            MAX_CONFIG_BYTES >> 20
        )));
    }
    *budget -= bytes.len() as u64;
    String::from_utf8(bytes)
        .map_err(|e| ConfigError::Syntax(format!("{shown}: not UTF-8 text: {e}")))
}

/// Deepest nesting of flow collections (`[`, `{`) taken. A config needs
/// two or three; the YAML parser slows to a crawl on tens of thousands.
const MAX_FLOW_DEPTH: usize = 64;

/// The deepest nesting of `[` and `{` outside quotes and comments: a cheap
/// look before the YAML parser, which takes minutes on 100,000 open `{`.
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    let mut line_start = true;
    let mut after_space = true;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                while let Some(q) = chars.next() {
                    if q == '\'' && chars.peek() != Some(&'\'') {
                        break;
                    }
                    if q == '\'' {
                        chars.next();
                    }
                }
            }
            '#' if line_start || after_space => {
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
            }
            '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        line_start = c == '\n';
        after_space = c.is_whitespace();
    }
    deepest
}

/// Parses the text of one file, checking keys before types so that the
/// message names the program and the key.
fn parse_text(file: &Path, text: &str) -> Result<Vec<Program>, ConfigError> {
    let shown = file.display();
    if flow_depth(text) > MAX_FLOW_DEPTH {
        return Err(ConfigError::Syntax(format!(
            "{shown}: `[` and `{{` nested more than {MAX_FLOW_DEPTH} deep"
        )));
    }
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError::Syntax(format!("{shown}: invalid YAML: {e}")))?;
    let top = match doc {
        Value::Null => return Ok(Vec::new()),
        Value::Mapping(m) => m,
        _ => {
            return Err(ConfigError::Syntax(format!(
                "{shown}: expected a mapping with a `programs:` list at the top"
            )))
        }
    };
    let mut programs = Vec::new();
    for (key, value) in top {
        let key = key_text(&key);
        if key != "programs" {
            return Err(ConfigError::Syntax(format!(
                "{shown}: unknown top-level key `{key}`; only `programs` is allowed"
            )));
        }
        let Value::Sequence(list) = value else {
            return Err(ConfigError::Syntax(format!(
                "{shown}: `programs` must be a list"
            )));
        };
        for (index, entry) in list.into_iter().enumerate() {
            programs.push(parse_program(file, index, entry)?);
        }
    }
    Ok(programs)
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        // Said by hand: the YAML emitter would double the parser's size.
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => "a number".into(),
        },
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("{} {}", t.tag, key_text(&t.value)),
    }
}

fn parse_program(file: &Path, index: usize, entry: Value) -> Result<Program, ConfigError> {
    let shown = file.display();
    let Value::Mapping(map) = &entry else {
        return Err(ConfigError::Syntax(format!(
            "{shown}: program #{} is not a mapping",
            index + 1
        )));
    };
    let label = match map.get("name") {
        Some(Value::String(name)) => format!("program `{name}`"),
        _ => format!("program #{}", index + 1),
    };
    for key in map.keys().map(key_text) {
        if UNSUPPORTED_KEYS.contains(&key.as_str()) {
            return Err(ConfigError::Syntax(format!(
                "{shown}: {label}: key `{key}` is not supported yet; remove it"
            )));
        }
        if !KNOWN_KEYS.contains(&key.as_str()) {
            return Err(ConfigError::Syntax(format!(
                "{shown}: {label}: unknown key `{key}`; known keys: {}",
                KNOWN_KEYS.join(", ")
            )));
        }
    }
    let raw: RawProgram = serde_yaml_ng::from_value(entry)
        .map_err(|e| ConfigError::Syntax(format!("{shown}: {label}: {e}")))?;
    let mut env = Vec::new();
    for item in raw.env {
        if item.len() != 1 {
            return Err(ConfigError::Syntax(format!(
                "{shown}: {label}: each `env` entry must be a one-key map such as `- KEY: value`"
            )));
        }
        for (key, value) in item {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(ConfigError::Syntax(format!(
                    "{shown}: {label}: `env` key {key:?} is not a variable name \
                     (it must be non-empty, without `=` or NUL)"
                )));
            }
            env.push((key, value.map(Scalar::text)));
        }
    }
    Ok(Program {
        name: raw.name,
        path: raw.path,
        args: raw.args.into_iter().map(Scalar::text).collect(),
        workdir: raw.workdir,
        env,
        uid: raw.uid,
        gid: raw.gid,
        user: raw.user,
        group: raw.group,
        // `before` is folded into the other program's `after` by `validate`;
        // until then it rides along here, marked.
        after: raw
            .after
            .into_iter()
            .chain(raw.before.into_iter().map(|b| format!("{BEFORE}{b}")))
            .collect(),
        kind: raw.kind,
        source: file.to_path_buf(),
    })
}

/// Prefix marking a `before` entry inside `after` until `validate` folds it.
const BEFORE: &str = "\0before:";

/// Checks names, dependencies, credentials and cycles; folds `before` edges.
pub fn validate(mut programs: Vec<Program>) -> Result<Vec<Program>, ConfigError> {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, p) in programs.iter().enumerate() {
        if p.name.is_empty() || p.name.len() > MAX_NAME || p.name.contains(char::is_control) {
            return Err(ConfigError::Semantics(format!(
                "{}: program name `{}` must be 1 to {MAX_NAME} bytes without control characters",
                p.source.display(),
                p.name
            )));
        }
        if let Some(&first) = index.get(&p.name) {
            return Err(ConfigError::Semantics(format!(
                "duplicate program name `{}` in {} and {}",
                p.name,
                programs[first].source.display(),
                p.source.display()
            )));
        }
        index.insert(p.name.clone(), i);
        if p.uid.is_some() && p.user.is_some() || p.gid.is_some() && p.group.is_some() {
            return Err(ConfigError::Semantics(format!(
                "{}: program `{}`: give either `uid` or `user` (and `gid` or `group`), not both",
                p.source.display(),
                p.name
            )));
        }
    }
    let mut extra: Vec<(usize, String)> = Vec::new();
    for p in &mut programs {
        let mut after = Vec::new();
        for dep in std::mem::take(&mut p.after) {
            let (target, is_before) = match dep.strip_prefix(BEFORE) {
                Some(b) => (b.to_string(), true),
                None => (dep, false),
            };
            let Some(&t) = index.get(&target) else {
                let key = if is_before { "before" } else { "after" };
                return Err(ConfigError::Semantics(format!(
                    "{}: program `{}`: `{key}` names unknown program `{target}`",
                    p.source.display(),
                    p.name
                )));
            };
            if is_before {
                extra.push((t, p.name.clone()));
            } else {
                after.push(target);
            }
        }
        p.after = after;
    }
    for (t, name) in extra {
        programs[t].after.push(name);
    }
    for p in &mut programs {
        p.after.sort();
        p.after.dedup();
    }
    if let Some(cycle) = find_cycle(&programs, &index) {
        return Err(ConfigError::Semantics(format!(
            "dependency cycle: {}; remove one of these `after`/`before` edges",
            describe_cycle(&cycle)
        )));
    }
    Ok(programs)
}

/// A cycle in the `after` graph as a list of names (first repeated last).
///
/// Iterative, with an explicit stack: a chain of 100,000 programs must not
/// cost 100,000 stack frames in an init.
fn find_cycle(programs: &[Program], index: &HashMap<String, usize>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let deps: Vec<Vec<usize>> = programs
        .iter()
        .map(|p| p.after.iter().map(|d| index[d]).collect())
        .collect();
    let mut marks = vec![Mark::New; programs.len()];
    for root in 0..programs.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // (node, next dependency to look at); the stack is the open path.
        let mut stack = vec![(root, 0usize)];
        marks[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&d) = deps[node].get(*next) else {
                marks[node] = Mark::Done;
                stack.pop();
                continue;
            };
            *next += 1;
            match marks[d] {
                Mark::Open => {
                    let start = stack.iter().position(|&(p, _)| p == d).unwrap_or(0);
                    let mut names: Vec<String> = stack[start..]
                        .iter()
                        .map(|&(p, _)| programs[p].name.clone())
                        .collect();
                    names.push(programs[d].name.clone());
                    return Some(names);
                }
                Mark::New => {
                    marks[d] = Mark::Open;
                    stack.push((d, 0));
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// `a -> b -> a`, or for a long cycle its first and last few names with a
/// count between, so the message stays one readable line.
fn describe_cycle(names: &[String]) -> String {
    const EACH_END: usize = 4;
    if names.len() <= 2 * EACH_END + 1 {
        return names.join(" -> ");
    }
    format!(
        "{} -> ... ({} more) -> {}",
        names[..EACH_END].join(" -> "),
        names.len() - 2 * EACH_END,
        names[names.len() - EACH_END..].join(" -> ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn parse(yaml: &str) -> Result<Vec<Program>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yml");
        std::fs::write(&file, yaml).unwrap();
        load(&file)
    }

    #[test]
    fn before_is_folded_into_after() {
        let ps = parse(
            "programs:\n  - {name: a, path: /bin/true, before: [b]}\n  - {name: b, path: /bin/true}\n",
        )
        .unwrap();
        assert_eq!(ps[1].after, vec!["a".to_string()]);
        assert!(ps[0].after.is_empty());
    }

    #[test]
    fn env_scalars_and_forwarding() {
        let ps = parse("programs:\n  - name: a\n    path: x\n    env:\n      - N: 1\n      - F:\n")
            .unwrap();
        assert_eq!(
            ps[0].env,
            vec![("N".into(), Some("1".into())), ("F".into(), None)]
        );
    }

    #[rstest]
    #[case::cycle(
        "programs:\n  - {name: a, path: x, after: [b]}\n  - {name: b, path: x, after: [a]}\n",
        "dependency cycle: a -> b -> a"
    )]
    #[case::unknown_dep(
        "programs:\n  - {name: a, path: x, after: [zz]}\n",
        "unknown program `zz`"
    )]
    #[case::duplicate(
        "programs:\n  - {name: a, path: x}\n  - {name: a, path: y}\n",
        "duplicate program name `a`"
    )]
    fn semantic_errors(#[case] yaml: &str, #[case] needle: &str) {
        match parse(yaml) {
            Err(ConfigError::Semantics(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a semantics error, got {other:?}"),
        }
    }

    /// Programs p0..p{n-1}, each after the next: a chain in reverse order,
    /// closed into a cycle when `cycle`.
    fn chain(n: usize, cycle: bool) -> Vec<Program> {
        (0..n)
            .map(|i| Program {
                name: format!("p{i}"),
                path: "x".into(),
                args: vec![],
                workdir: None,
                env: vec![],
                uid: None,
                gid: None,
                user: None,
                group: None,
                after: if i + 1 < n || cycle {
                    vec![format!("p{}", (i + 1) % n)]
                } else {
                    vec![]
                },
                kind: Kind::Oneshot,
                source: "c.yml".into(),
            })
            .collect()
    }

    #[test]
    fn long_chains_and_cycles_are_analysed_without_recursion() {
        assert_eq!(validate(chain(100_000, false)).unwrap().len(), 100_000);
        match validate(chain(100_000, true)) {
            Err(ConfigError::Semantics(m)) => {
                assert!(m.contains("(99993 more)"), "{m}");
                assert!(m.len() < 200, "one short line: {m}");
            }
            other => panic!("expected a cycle, got {:?}", other.map(|p| p.len())),
        }
    }

    #[rstest]
    #[case::empty_key(
        "programs:\n  - {name: a, path: x, env: [{'': 1}]}\n",
        "is not a variable name"
    )]
    #[case::equals_key(
        "programs:\n  - {name: a, path: x, env: [{'A=B': 1}]}\n",
        "is not a variable name"
    )]
    fn bad_env_keys(#[case] yaml: &str, #[case] needle: &str) {
        match parse(yaml) {
            Err(ConfigError::Syntax(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[rstest]
    #[case("programs: [{a: [b]}]", 3)]
    #[case("a: '[[[' # {{{", 0)]
    #[case("a: \"[\\\"[\"", 0)]
    #[case("a: 'it''s [' [", 1)]
    fn flow_depth_skips_quotes_and_comments(#[case] text: &str, #[case] depth: usize) {
        assert_eq!(flow_depth(text), depth);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("c.yml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        match load(&fifo) {
            Err(ConfigError::Syntax(m)) => assert!(m.contains("not a regular file"), "{m}"),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[rstest]
    #[case::unsupported(
        "programs:\n  - {name: a, path: x, cronjob: {}}\n",
        "key `cronjob` is not supported"
    )]
    #[case::unknown(
        "programs:\n  - {name: a, path: x, aftr: [b]}\n",
        "program `a`: unknown key `aftr`"
    )]
    #[case::bad_yaml("programs: [\n", "invalid YAML")]
    #[case::wrong_type("programs:\n  - {name: a, path: x, args: 3}\n", "program `a`")]
    #[case::top_level("services: []\n", "unknown top-level key `services`")]
    fn syntax_errors(#[case] yaml: &str, #[case] needle: &str) {
        match parse(yaml) {
            Err(ConfigError::Syntax(m)) => {
                assert!(m.contains(needle), "{m}");
                assert!(m.contains("c.yml"), "message names the file: {m}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
