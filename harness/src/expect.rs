//! Expectations: which checks a cell is expected to fail, and why.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

const BUILT_IN: &str = include_str!("../expectations.yml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub variant: String,
    #[serde(default = "any")]
    pub scenario: String,
    #[serde(default = "any")]
    pub environment: String,
    /// The checks that must fail; every other check must pass...
    #[serde(default)]
    pub fails: BTreeSet<String>,
    /// ...except these, which were measured to go either way; the reason
    /// must say why.
    #[serde(default)]
    pub may_fail: BTreeSet<String>,
    pub reason: String,
}

fn any() -> String {
    "*".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    expectations: Vec<Expectation>,
}

pub struct Expectations {
    entries: Vec<Expectation>,
}

fn matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern.split(',').any(|p| p.trim() == value)
}

impl Expectations {
    /// The built-in file, or `path` instead when given.
    pub fn load(path: Option<&Path>) -> Result<Expectations, String> {
        let (text, origin) = match path {
            Some(p) => (
                crate::input::read_text(p, crate::input::MAX_CONFIG).map_err(|e| {
                    format!("{}: {e}; give an expectations file in YAML", p.display())
                })?,
                p.display().to_string(),
            ),
            None => (
                BUILT_IN.to_string(),
                "built-in expectations.yml".to_string(),
            ),
        };
        let file: File = crate::input::yaml(&text, &origin, "expectations file")?;
        Ok(Expectations {
            entries: file.expectations,
        })
    }

    pub fn for_cell(&self, variant: &str, scenario: &str, env: &str) -> Option<&Expectation> {
        self.entries.iter().find(|e| {
            matches(&e.variant, variant)
                && matches(&e.scenario, scenario)
                && matches(&e.environment, env)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_file_parses() {
        Expectations::load(None).unwrap();
    }

    #[test]
    fn first_match_wins_and_lists_match() {
        let e = Expectations {
            entries: vec![
                Expectation {
                    variant: "a".into(),
                    scenario: "x,y".into(),
                    environment: "*".into(),
                    fails: ["blocked".to_string()].into(),
                    may_fail: BTreeSet::new(),
                    reason: "first".into(),
                },
                Expectation {
                    variant: "*".into(),
                    scenario: "*".into(),
                    environment: "*".into(),
                    fails: BTreeSet::new(),
                    may_fail: BTreeSet::new(),
                    reason: "second".into(),
                },
            ],
        };
        assert_eq!(e.for_cell("a", "y", "pid1").unwrap().reason, "first");
        assert_eq!(e.for_cell("a", "z", "pid1").unwrap().reason, "second");
    }
}
