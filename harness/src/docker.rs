//! The Docker environment: the engine, the images (built offline from a
//! debootstrap base, cached by a hash of their inputs) and the containers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helper;

/// Set to 1 (CI does) to make a missing engine a failure instead of a skip.
pub const REQUIRE: &str = "INITLAB_REQUIRE_DOCKER";
/// Every container of a run carries this label, with the run's id as value.
pub const LABEL: &str = "initlab.run";
/// Where the init binaries under test appear inside a container.
pub const INIT_MOUNT: &str = "/initlab";
/// Where a cell's own directory (its `--config` file) appears.
pub const CELL_MOUNT: &str = "/cell";
/// The scenarios and the interpreter inside the image.
pub const SCENARIOS: &str = "/scenarios";
pub const PYTHON: &str = "/usr/bin/python3";

const QUICK: Duration = Duration::from_secs(30);

static RUN_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// This process's run id: the label value of every container it starts.
pub fn run_id() -> &'static str {
    RUN_ID.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
    })
}

/// Removes this process's containers, if it started any.
pub fn remove_own() {
    if let Some(id) = RUN_ID.get() {
        remove_run(id);
    }
}

pub fn required() -> bool {
    std::env::var(REQUIRE).is_ok_and(|v| v == "1")
}

pub fn docker(args: &[&str]) -> duct::Expression {
    duct::cmd("docker", args)
}

/// The engine's version, or why there is none and how to fix it.
pub fn engine() -> Result<String, String> {
    if which::which("docker").is_err() {
        return Err("no docker client: install it with `apt-get install docker.io`".into());
    }
    helper::stdout_of(
        docker(&["info", "--format", "{{.ServerVersion}}"]).stderr_null(),
        Duration::from_secs(15),
    )
    .filter(|v| !v.is_empty())
    .ok_or_else(|| {
        "the Docker engine does not answer `docker info`: start it, e.g. \
         `dockerd --iptables=false --bridge=none &`"
            .to_string()
    })
}

fn image_exists(tag: &str) -> bool {
    helper::output(docker(&["image", "inspect", tag]).stderr_null(), QUICK)
        .is_ok_and(|o| o.status.success())
}

/// The Debian mirror the host's apt uses, so debootstrap and the apt inside
/// the image reach what this machine reaches.
fn host_mirror() -> Option<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, PathBuf::from("/etc/apt/sources.list"));
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let name = file.to_string_lossy();
        if name.ends_with(".sources") {
            // deb822 stanzas: URIs + Suites.
            for stanza in text.split("\n\n") {
                let field = |k: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(k))
                        .map(|v| v.trim().to_string())
                };
                let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
                    continue;
                };
                if suites.split_whitespace().any(|s| s == "bookworm") {
                    return uris.split_whitespace().next().map(str::to_string);
                }
            }
        } else if name.ends_with(".list") {
            for line in text.lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if words.first() == Some(&"deb") {
                    let rest: Vec<&str> = words[1..]
                        .iter()
                        .filter(|w| !w.starts_with('['))
                        .copied()
                        .collect();
                    if rest.len() >= 2 && rest[1] == "bookworm" {
                        return Some(rest[0].to_string());
                    }
                }
            }
        }
    }
    None
}

/// The per-package lines of debootstrap are hundreds; show the phases.
/// Per package it says `I: Retrieving NAME VERSION` (and Validating), or
/// `I: Extracting NAME...` (and Unpacking, Configuring).
fn debootstrap_phase(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let verb = words.get(1).copied().unwrap_or("");
    let per_package = match verb {
        "Retrieving" | "Validating" => words.len() == 4,
        "Extracting" | "Unpacking" | "Configuring" => words.len() == 3 && line.ends_with("..."),
        _ => false,
    };
    !per_package
}

fn base_tag(mirror: Option<&str>) -> String {
    format!(
        "initlab-base:{}",
        crate::fingerprint::of(&[b"bookworm minbase", mirror.unwrap_or("").as_bytes()])
    )
}

/// The base image: `debootstrap --variant=minbase bookworm`, imported.
fn base_image() -> Result<String, String> {
    let mirror = host_mirror();
    let tag = base_tag(mirror.as_deref());
    if image_exists(&tag) {
        return Ok(tag);
    }
    if which::which("debootstrap").is_err() {
        return Err("debootstrap is missing: install it with `apt-get install debootstrap`".into());
    }
    let dir = tempfile::Builder::new()
        .prefix("initlab-debootstrap-")
        .tempdir()
        .map_err(|e| format!("cannot create a directory for debootstrap: {e}"))?;
    let root = dir.path().join("root");
    say!("initlab: building the base image {tag} with debootstrap (about a minute)");
    let mut args = vec![
        "--variant=minbase".to_string(),
        "bookworm".to_string(),
        root.display().to_string(),
    ];
    args.extend(mirror);
    let ok = helper::stream(duct::cmd("debootstrap", &args), |l| {
        if debootstrap_phase(l) {
            say!("  debootstrap: {l}");
        }
    })?;
    if !ok {
        return Err("debootstrap failed; see its output above".into());
    }
    say!("initlab: importing the base image");
    let tar = duct::cmd("tar", ["-C", &root.display().to_string(), "-c", "."]);
    let imported = helper::output(
        tar.pipe(docker(&["import", "-", &tag])).stderr_to_stdout(),
        Duration::from_secs(600),
    )?;
    if !imported.status.success() {
        return Err(format!(
            "`docker import` of {tag} failed ({}); check that the engine answers `docker info` \
             and has room in its data directory",
            String::from_utf8_lossy(&imported.stdout).trim()
        ));
    }
    Ok(tag)
}

/// Files whose content decides the workload image.
fn image_inputs(workspace: &Path) -> Vec<PathBuf> {
    let mut files = vec![workspace.join("docker").join("Dockerfile")];
    let mut scenario_files: Vec<PathBuf> = std::fs::read_dir(workspace.join("scenarios"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    scenario_files.sort();
    files.extend(scenario_files);
    files
}

pub struct Images {
    pub workload: String,
    /// Python, gevent and gunicorn inside the image.
    pub versions: String,
}

/// Builds (or finds, by hash) the base and the workload image.
pub fn ensure_images(workspace: &Path, rebuild: bool) -> Result<Images, String> {
    let base = base_tag(host_mirror().as_deref());
    let mut contents: Vec<Vec<u8>> = vec![base.clone().into_bytes()];
    for file in image_inputs(workspace) {
        contents.push(file.display().to_string().into_bytes());
        contents.push(std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?);
    }
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    let tag = format!("initlab-workload:{}", crate::fingerprint::of(&parts));
    if rebuild {
        // Remove the old ones first: a rebuild under the same tag would
        // leave them behind as dangling images.
        for old in [&tag, &base] {
            let _ = helper::output(docker(&["rmi", "-f", old]).stderr_null(), QUICK);
        }
    }
    let base = base_image()?;
    if !image_exists(&tag) {
        say!("initlab: building the workload image {tag} (apt inside, a minute or two)");
        let dockerfile = workspace
            .join("docker")
            .join("Dockerfile")
            .display()
            .to_string();
        let context = workspace.display().to_string();
        let build = docker(&[
            "build",
            "--network",
            "host",
            "--build-arg",
            &format!("BASE={base}"),
            "-f",
            &dockerfile,
            "-t",
            &tag,
            &context,
        ])
        // The classic builder streams plain lines and needs no buildx plugin.
        .env("DOCKER_BUILDKIT", "0");
        let ok = helper::stream(build, |l| say!("  docker build: {l}"))?;
        if !ok {
            return Err("`docker build` of the workload image failed; see its output above".into());
        }
    }
    let versions = helper::stdout_of(
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &tag,
            PYTHON,
            "-c",
            crate::python::VERSIONS,
        ]),
        Duration::from_secs(60),
    )
    .ok_or_else(|| format!("the image {tag} cannot import gevent and gunicorn"))?;
    Ok(Images {
        workload: tag,
        versions,
    })
}

/// The init binaries are bind-mounted: they must run inside the image. The
/// workspace builds them static, so only one built elsewhere (a `--init-dir`
/// of dynamic binaries) can fail here.
pub fn check_binaries(image: &str, init_dir: &Path) -> Result<(), String> {
    let mount = format!("{}:{INIT_MOUNT}:ro", init_dir.display());
    let out = helper::output(
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &mount,
            "--entrypoint",
            &format!("{INIT_MOUNT}/initlab-init"),
            image,
            "--version",
        ])
        .stderr_to_stdout(),
        Duration::from_secs(60),
    )?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "initlab-init from {} does not run inside {image}: {}; give --init-dir a static build \
         (this workspace's `cargo build --release -p initlab-init` makes one)",
        init_dir.display(),
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

/// Gets a user's init (variant `name`, argv `prefix`) ready to run in the
/// image: every host file of `files` (those its prefix names) that the
/// image lacks is bind-mounted read-only at the same path, and the init must
/// then run `/bin/true` there. Returns the files to mount, or one line with
/// the engine's or the loader's own words and what to do.
pub fn preflight(
    ready: &DockerReady,
    name: &str,
    prefix: &[String],
    files: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, String> {
    let mut mounts = Vec::new();
    for file in files {
        let path = file.display().to_string();
        let present = helper::output(
            docker(&[
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "/usr/bin/test",
                &ready.image,
                "-e",
                &path,
            ])
            .stderr_to_stdout(),
            Duration::from_secs(60),
        )?;
        match present.status.code() {
            Some(0) => {}
            Some(1) => mounts.push(file),
            _ => {
                return Err(format!(
                    "cannot look into {}: {}",
                    ready.image,
                    one_line(&present.stdout)
                ))
            }
        }
    }
    let mut args: Vec<String> = ["run", "--rm", "--network", "none"]
        .map(String::from)
        .to_vec();
    for m in &mounts {
        args.push("-v".into());
        args.push(format!("{0}:{0}:ro", m.display()));
    }
    args.push("--entrypoint".into());
    args.push(prefix[0].clone());
    args.push(ready.image.clone());
    args.extend(prefix[1..].iter().cloned());
    args.push("/bin/true".into());
    let out = helper::output(
        duct::cmd("docker", &args).stderr_to_stdout(),
        Duration::from_secs(60),
    )?;
    if out.status.success() {
        return Ok(mounts);
    }
    Err(format!(
        "variant `{}` ({}) cannot run inside {}: {}; make it run there (a static binary, or one \
         built for the image's libc) or leave docker out with --env direct,pid1",
        name,
        prefix.join(" "),
        ready.image,
        one_line(&out.stdout)
    ))
}

/// What a failed `docker` command said, as one line: the engine's own
/// error line where there is one, else its first line, never the usage
/// hint that follows.
pub fn engine_error(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next();
    lines
        .find(|l| l.starts_with("docker:") || l.contains("Error"))
        .or(first)
        .unwrap_or("(no output)")
        .to_string()
}

/// A command's output as one line.
fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "(no output)".into()
    } else {
        lines.join("; ")
    }
}

/// The Docker environment, ready for cells.
pub struct DockerReady {
    pub image: String,
    /// Python, gevent and gunicorn in the image.
    pub versions: String,
    /// The value of every container's run label.
    pub run_id: String,
}

/// Gets the Docker environment ready: engine, images (built on first use),
/// and init binaries that run inside the image. An error is the reason the
/// docker cells cannot run.
pub fn prepare(inits: &crate::inits::Inits, rebuild: bool) -> Result<DockerReady, String> {
    engine()?;
    let workspace = crate::inits::workspace();
    let image = ensure_images(&workspace, rebuild)?;
    check_binaries(
        &image.workload,
        inits.init.parent().unwrap_or(Path::new("/")),
    )?;
    Ok(DockerReady {
        image: image.workload,
        versions: image.versions,
        run_id: run_id().to_string(),
    })
}

/// Removes every container of a run, running or not.
pub fn remove_run(run_id: &str) {
    let filter = format!("label={LABEL}={run_id}");
    let Some(ids) = helper::stdout_of(docker(&["ps", "-aq", "--filter", &filter]), QUICK) else {
        return;
    };
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if ids.is_empty() {
        return;
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids);
    let _ = helper::output(docker(&args).stderr_null(), QUICK);
}

/// `docker inspect` of one field.
pub fn inspect(name: &str, format: &str) -> Option<String> {
    helper::stdout_of(
        docker(&["inspect", "-f", format, name]).stderr_null(),
        QUICK,
    )
}

#[cfg(test)]
mod tests {
    /// As docker 28 printed them here, for an image that is not there
    /// and for a flag it does not know.
    #[test]
    fn the_engine_error_is_its_own_line() {
        let pull = "Unable to find image 'x:1' locally\n\
            docker: Error response from daemon: Get \"https://registry-1.docker.io/v2/\": \
            dial tcp: no such host\n\nRun 'docker run --help' for more information\n";
        assert!(super::engine_error(pull.as_bytes())
            .starts_with("docker: Error response from daemon: Get"));
        let flag =
            "unknown flag: --bogus\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
            Run 'docker run --help' for more information\n";
        assert_eq!(
            super::engine_error(flag.as_bytes()),
            "unknown flag: --bogus"
        );
        assert_eq!(super::engine_error(b""), "(no output)");
    }

    #[test]
    fn debootstrap_progress_keeps_the_phases() {
        for phase in [
            "I: Retrieving Release",
            "I: Unpacking required packages...",
            "I: Base system installed successfully.",
        ] {
            assert!(super::debootstrap_phase(phase), "{phase}");
        }
        for noise in [
            "I: Retrieving zlib1g 1:1.2.13.dfsg-1",
            "I: Extracting tar...",
        ] {
            assert!(!super::debootstrap_phase(noise), "{noise}");
        }
    }
}
