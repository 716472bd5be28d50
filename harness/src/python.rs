//! The Python environment the workloads run in: a venv built on first use
//! from `scenarios/requirements.txt`, cached by a hash of its inputs, or an
//! interpreter the user names with `--python`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helper;

pub struct Python {
    pub path: PathBuf,
    /// `Python 3.11.7, gevent 26.9.0, gunicorn 27.0.1`.
    pub versions: String,
}

pub const VERSIONS: &str = "import sys, gevent, gunicorn; \
print('Python %d.%d.%d, gevent %s, gunicorn %s' % (sys.version_info[:3] + (gevent.__version__, gunicorn.__version__)))";

fn versions(python: &Path) -> Result<String, String> {
    helper::stdout_of(
        duct::cmd(python, ["-c", VERSIONS]).stderr_null(),
        Duration::from_secs(60),
    )
    .ok_or_else(|| {
        format!(
            "{} cannot import gevent and gunicorn; install them there or leave out --python",
            python.display()
        )
    })
}

pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INITLAB_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("initlab")
}

/// The real interpreter behind `python3`: a wrapper script in between (a
/// pyenv shim is a bash script) would change the signal state under test.
fn base_interpreter() -> Result<PathBuf, String> {
    let found = which::which("python3").map_err(|_| {
        "python3 not found: install it (apt-get install python3 python3-venv) or give --python PATH"
            .to_string()
    })?;
    helper::stdout_of(
        duct::cmd(&found, ["-c", "import sys; print(sys.executable)"]),
        Duration::from_secs(30),
    )
    .map(PathBuf::from)
    .ok_or_else(|| format!("{} does not run", found.display()))
}

/// Uses `explicit`, or builds (once) and returns the venv.
pub fn provide(explicit: Option<&Path>, scenarios: &Path) -> Result<Python, String> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(format!("--python {}: no such file", path.display()));
        }
        return Ok(Python {
            path: path.to_path_buf(),
            versions: versions(path)?,
        });
    }
    let requirements = scenarios.join("requirements.txt");
    let pinned = crate::input::read_text(&requirements, crate::input::MAX_CONFIG)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let base = base_interpreter()?;
    // A new interpreter at the same path (an upgrade) gets a new venv.
    let modified = std::fs::metadata(&base)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let name = crate::fingerprint::of(&[
        pinned.as_bytes(),
        std::os::unix::ffi::OsStrExt::as_bytes(base.as_os_str()),
        &modified.to_le_bytes(),
    ]);
    let venv = cache_dir().join(format!("venv-{name}"));
    let python = venv.join("bin").join("python3");
    if !venv.join(".complete").exists() {
        build_venv(&base, &requirements, &venv)?;
    }
    Ok(Python {
        versions: versions(&python)?,
        path: python,
    })
}

fn build_venv(base: &Path, requirements: &Path, venv: &Path) -> Result<(), String> {
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix("venv-building-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
    say!(
        "initlab: building the Python environment in {} (first run only)",
        venv.display()
    );
    let ok = helper::stream(
        duct::cmd(
            base,
            [
                OsStr::new("-m"),
                "venv".as_ref(),
                staging.path().as_os_str(),
            ],
        ),
        |l| say!("  venv: {l}"),
    )?;
    if !ok {
        return Err(format!(
            "`{} -m venv` failed; on Debian install python3-venv (apt-get install python3-venv)",
            base.display()
        ));
    }
    let pip = staging.path().join("bin").join("python3");
    let ok = helper::stream(
        duct::cmd(
            &pip,
            [
                OsStr::new("-m"),
                "pip".as_ref(),
                "install".as_ref(),
                "--disable-pip-version-check".as_ref(),
                "--progress-bar".as_ref(),
                "off".as_ref(),
                "-r".as_ref(),
                requirements.as_os_str(),
            ],
        ),
        |l| say!("  pip: {l}"),
    )?;
    if !ok {
        return Err(format!(
            "pip could not install {}; see the pip output above",
            requirements.display()
        ));
    }
    std::fs::write(staging.path().join(".complete"), "")
        .map_err(|e| format!("cannot mark the venv complete: {e}"))?;
    let staged = staging.keep();
    if std::fs::rename(&staged, venv).is_err() {
        // Another run finished first: use its venv.
        let _ = std::fs::remove_dir_all(&staged);
    }
    say!("initlab: Python environment ready");
    Ok(())
}
