//! Init variants: data from `variants.yml`, `--variants FILE` and `--init`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::environment::EnvKind;

const BUILT_IN: &str = include_str!("../variants.yml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The argv put in front of the workload's.
    pub prefix: Vec<String>,
    /// How to install the program when it is missing.
    #[serde(default)]
    pub install: Option<String>,
    /// Docker's `--init` rather than a program of ours.
    #[serde(default)]
    pub docker_init: bool,
    /// Where the variant can run; empty means everywhere.
    #[serde(default)]
    pub environments: Vec<EnvKind>,
    /// Part of the default matrix; others run only when named (the mutants).
    #[serde(default = "yes")]
    pub default: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    variants: Vec<Variant>,
}

/// The program a variant needs, when it is not one of ours.
pub enum Program {
    None,
    Ours(&'static str),
    External(String),
}

impl Variant {
    pub fn program(&self) -> Program {
        match self.prefix.first().map(String::as_str) {
            None => Program::None,
            Some("{initlab-init}") => Program::Ours("initlab-init"),
            Some("{initlab-init-issue38}") => Program::Ours("initlab-init-issue38"),
            Some("{initlab-init-mutant}") => Program::Ours("initlab-init-mutant"),
            Some(other) => Program::External(other.to_string()),
        }
    }

    pub fn writes_config(&self) -> bool {
        self.prefix.iter().any(|a| a == "{config}")
    }

    pub fn runs_in(&self, env: EnvKind) -> bool {
        self.environments.is_empty() || self.environments.contains(&env)
    }

    /// Has an init of its own in front of the workload.
    pub fn has_init(&self) -> bool {
        !self.prefix.is_empty() || self.docker_init
    }
}

fn parse(text: &str, origin: &str) -> Result<Vec<Variant>, String> {
    let file: VariantsFile = crate::input::yaml(text, origin, "variants file")?;
    Ok(file.variants)
}

/// The built-in variants, then those of `files`, then `--init` ones; a later
/// variant with a known name replaces the earlier one.
pub fn load(files: &[PathBuf], inits: &[String]) -> Result<Vec<Variant>, String> {
    let mut all = parse(BUILT_IN, "built-in variants.yml")?;
    for v in user_given(files, inits)? {
        add(&mut all, v);
    }
    Ok(all)
}

/// The variants of `files`, then the `--init` ones, without the built-in.
pub fn user_given(files: &[PathBuf], inits: &[String]) -> Result<Vec<Variant>, String> {
    let mut all = Vec::new();
    for file in files {
        let text = crate::input::read_text(file, crate::input::MAX_CONFIG)
            .map_err(|e| format!("{}: {e}; give a variants file in YAML", file.display()))?;
        for v in parse(&text, &file.display().to_string())? {
            add(&mut all, anchored(v));
        }
    }
    for spec in inits {
        add(&mut all, anchored(from_spec(spec)?));
    }
    Ok(all)
}

/// A relative program path (`./init`, `bin/tini`) means what it means in
/// the shell the user typed it in: relative to their directory, not to the
/// workload's or the container's.
fn anchored(mut v: Variant) -> Variant {
    if let Some(first) = v.prefix.first_mut() {
        let path = Path::new(first.as_str());
        if first.contains('/') && path.is_relative() {
            if let Ok(abs) = std::path::absolute(path) {
                *first = abs.display().to_string();
            }
        }
    }
    v
}

/// Files on the host that a variant's prefix names by absolute path: what
/// a container needs bind-mounted when its image lacks them.
pub fn host_files(v: &Variant) -> Vec<PathBuf> {
    v.prefix
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_file())
        .collect()
}

fn add(all: &mut Vec<Variant>, v: Variant) {
    all.retain(|old| old.name != v.name);
    all.push(v);
}

/// `NAME='ARGV PREFIX'`, split the way a shell would.
pub fn from_spec(spec: &str) -> Result<Variant, String> {
    let (name, prefix) = spec.split_once('=').ok_or_else(|| {
        format!(
            "--init `{spec}`: expected NAME='ARGV PREFIX', for example --init my-tini='tini -s --'"
        )
    })?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "--init `{spec}`: the name must be letters, digits, '-', '_' or '.'"
        ));
    }
    let prefix = shell_words::split(prefix)
        .map_err(|e| format!("--init `{spec}`: cannot split the argv prefix: {e}"))?;
    if prefix.is_empty() {
        return Err(format!("--init `{spec}`: the argv prefix is empty"));
    }
    Ok(Variant {
        name: name.to_string(),
        description: format!("user-given: {}", prefix.join(" ")),
        prefix,
        install: None,
        docker_init: false,
        environments: Vec::new(),
        default: true,
    })
}

/// The first line `PROGRAM --version` prints, for the report; nothing when
/// the program does not know `--version`.
pub fn version_of(program: &Path) -> Option<String> {
    let out = crate::helper::output(
        duct::cmd(program, ["--version"]).stderr_to_stdout(),
        std::time::Duration::from_secs(10),
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_parse_and_cover_the_design() {
        let all = load(&[], &[]).unwrap();
        let names: Vec<&str> = all.iter().map(|v| v.name.as_str()).collect();
        for want in [
            "none",
            "initlab-init",
            "initlab-init-config",
            "initlab-init-issue38",
            "tini",
            "tini-g",
            "dumb-init",
            "catatonit",
            "sh",
            "docker-init",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn init_spec_is_split_like_a_shell() {
        let v = from_spec("mine='tini' -s '--'").unwrap();
        assert_eq!(v.name, "mine");
        assert_eq!(v.prefix, ["tini", "-s", "--"]);
        assert!(from_spec("no-equals").is_err());
        assert!(from_spec("bad name=tini").is_err());
        assert!(from_spec("empty=").is_err());
    }
}
