//! The init binaries under test: this workspace's `initlab-init` and
//! `initlab-init-issue38`, built on demand so that `cargo run -- run` on a
//! fresh clone needs nothing else.

use std::path::{Path, PathBuf};

use crate::helper;

#[derive(Clone, Debug)]
pub struct Inits {
    pub init: PathBuf,
    pub issue38: PathBuf,
    /// The mutant build (the harness's own test), when it was built.
    pub mutant: Option<PathBuf>,
}

impl Inits {
    fn in_dir(dir: &Path) -> Option<Inits> {
        let mutant = dir.join("initlab-init-mutant");
        let inits = Inits {
            init: dir.join("initlab-init"),
            issue38: dir.join("initlab-init-issue38"),
            mutant: mutant.is_file().then_some(mutant),
        };
        (inits.init.is_file() && inits.issue38.is_file()).then_some(inits)
    }
}

/// This workspace's root, as it was when the harness was built: the source
/// of the init binaries, the scenarios and the Dockerfile.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// `dir` (from `--init-dir` or `INITLAB_INIT_DIR`) when given; otherwise
/// builds them with cargo when this workspace's sources are present (a no-op
/// when they are up to date), else looks beside the harness and on PATH.
pub fn locate(dir: Option<&Path>) -> Result<Inits, String> {
    if let Some(dir) = dir {
        return Inits::in_dir(dir).ok_or_else(|| {
            format!(
                "{}: initlab-init and initlab-init-issue38 are not both there; build them with `cargo build -p initlab-init`",
                dir.display()
            )
        });
    }
    let root = workspace();
    if root.join("init").join("Cargo.toml").is_file() && which::which("cargo").is_ok() {
        return build(&root);
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    if let Some(found) = exe_dir.as_deref().and_then(Inits::in_dir) {
        return Ok(found);
    }
    match (which::which("initlab-init"), which::which("initlab-init-issue38")) {
        (Ok(init), Ok(issue38)) => Ok(Inits {
            init,
            issue38,
            mutant: which::which("initlab-init-mutant").ok(),
        }),
        _ => Err("initlab-init and initlab-init-issue38 not found: give --init-dir DIR or put them on PATH".into()),
    }
}

fn build(root: &Path) -> Result<Inits, String> {
    let release = !cfg!(debug_assertions);
    let triple = env!("INITLAB_BUILD_TARGET");
    let mut args = vec![
        "build",
        "--quiet",
        "--bins",
        "-p",
        "initlab-init",
        "--target",
        triple,
    ];
    if release {
        args.push("--release");
    }
    say!(
        "initlab: building the init binaries (cargo {})",
        args.join(" ")
    );
    let ok = helper::stream(duct::cmd("cargo", &args).dir(root), |l| {
        say!("  cargo: {l}")
    })?;
    if !ok {
        return Err("building initlab-init failed; see cargo's output above".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = target
        .join(triple)
        .join(if release { "release" } else { "debug" });
    Inits::in_dir(&dir).ok_or_else(|| format!("cargo built nothing in {}", dir.display()))
}
