//! Scenarios: the workloads in `scenarios/`, described by `scenarios.yml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How a scenario is operated and checked (one function each in `drivers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Runs to completion and prints its own signal state.
    Probe,
    /// A Python script that reports on itself and exits.
    Script,
    /// gunicorn: boot, HTTP probe, process tree.
    Gunicorn,
    /// gunicorn operated by its control signals.
    Control,
    /// A workload that leaves orphans behind, as daemons and `cmd &` do.
    Orphans,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub driver: Driver,
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Part of the default matrix; others run only when named.
    #[serde(default = "yes")]
    pub default: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenariosFile {
    scenarios: Vec<Scenario>,
}

impl Scenario {
    pub fn needs_python(&self) -> bool {
        self.command.iter().any(|a| a.contains("{python}"))
    }

    /// The command with its placeholders filled in.
    pub fn argv(&self, python: &str, scenarios: &str, port: u16, cell: &str) -> Vec<String> {
        self.command
            .iter()
            .map(|a| {
                a.replace("{python}", python)
                    .replace("{scenarios}", scenarios)
                    .replace("{port}", &port.to_string())
                    .replace("{cell}", cell)
            })
            .collect()
    }
}

/// The scenarios folder: `--scenarios`, else the one beside this workspace.
pub fn default_dir() -> PathBuf {
    crate::inits::workspace().join("scenarios")
}

pub fn load(dir: &Path) -> Result<Vec<Scenario>, String> {
    let file = dir.join("scenarios.yml");
    let text = crate::input::read_text(&file, crate::input::MAX_CONFIG).map_err(|e| {
        format!(
            "{}: {e}; give the scenarios folder with --scenarios DIR",
            file.display()
        )
    })?;
    let parsed: ScenariosFile =
        crate::input::yaml(&text, &file.display().to_string(), "scenarios file")?;
    Ok(parsed.scenarios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_scenarios_parse() {
        let all = load(&default_dir()).unwrap();
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "probe",
                "orphans",
                "gevent-subprocess",
                "gevent-subprocess-unpatched",
                "gunicorn-gevent",
                "gunicorn-custom-worker",
                "gunicorn-nosubprocess",
                "gunicorn-control"
            ]
        );
        let g = all.iter().find(|s| s.name == "gunicorn-gevent").unwrap();
        assert_eq!(
            g.argv("/py", "/s", 8000, "/c")[..3],
            ["/py".to_string(), "-m".into(), "gunicorn".into()]
        );
        let argv = g.argv("/py", "/s", 8000, "/c");
        assert!(argv.contains(&"127.0.0.1:8000".to_string()));
        assert!(argv.contains(&"/c/gunicorn.log".to_string()), "{argv:?}");
    }
}
