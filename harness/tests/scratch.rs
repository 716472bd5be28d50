//! The init as shipped is one static file: it runs in an image that holds
//! nothing but itself and a static test program (`FROM scratch`, made here
//! with `docker import`), with no C library, loader or shell to lean on.

mod common;

use common::docker_cli as docker;

use std::path::Path;
use std::process::Command;

fn needs_loader(path: &Path) -> bool {
    initlab::elf::needs_loader(path)
        .unwrap_or_else(|| panic!("{} is not a 64-bit ELF file", path.display()))
}

/// A throwaway image, removed on every path out of the test.
struct Image(String);

impl Image {
    /// `docker import` of a tar holding exactly `files` (name in the image,
    /// file on the host), nothing else.
    fn import(files: &[(&str, &Path)]) -> Image {
        let dir = tempfile::tempdir().unwrap();
        for (name, from) in files {
            std::fs::copy(from, dir.path().join(name)).unwrap();
        }
        let tag = format!("initlab-scratch-test:{}", std::process::id());
        let image = Image(tag.clone());
        let tar = dir.path().with_extension("tar");
        let packed = Command::new("tar")
            .arg("-C")
            .arg(dir.path())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(packed.success(), "tar failed");
        let imported = docker(&["import", tar.to_str().unwrap(), &tag]);
        let _ = std::fs::remove_file(&tar);
        assert!(
            imported.status.success(),
            "docker import: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        image
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.0]);
    }
}

#[test]
fn the_init_is_static_and_runs_in_an_empty_image() {
    let dir = common::init_dir();
    let init = dir.join("initlab-init");
    assert!(
        !needs_loader(&init),
        "{} needs a dynamic loader: the workspace must build it static (.cargo/config.toml)",
        init.display()
    );
    // The harness binary is built the same way and serves as the test program.
    let probe = dir.join("initlab");
    assert!(!needs_loader(&probe), "{} is not static", probe.display());
    // The check itself tells the two kinds apart.
    assert!(
        needs_loader(Path::new("/bin/sh")),
        "/bin/sh should be dynamic"
    );

    if !common::docker_available() {
        return;
    }
    let image = Image::import(&[("init", &init), ("probe", &probe)]);
    let run = |argv: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", "none", &image.0];
        args.extend(argv);
        docker(&args)
    };

    // The child is forked, runs with a clean mask, and is reaped.
    let out = run(&["/init", "--", "/probe", "inspect", "--json", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "status {:?}: {text}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let tree: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tree = tree.as_array().unwrap();
    let init_row = tree.iter().find(|p| p["pid"] == 1).unwrap();
    assert!(
        init_row["command"].as_str().unwrap().starts_with("/init"),
        "{init_row}"
    );
    let child = tree
        .iter()
        .find(|p| p["command"].as_str().unwrap().starts_with("/probe"))
        .unwrap_or_else(|| panic!("no /probe below the init: {text}"));
    assert_eq!(child["ppid"], 1, "{child}");
    assert_eq!(child["sigblk"], "0000000000000000", "{child}");

    // Its own errors need no libc files either: a missing command is 127
    // with a message naming it.
    let out = run(&["/init", "--", "/missing"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/missing"),
        "{out:?}"
    );

    // A child's status is the container's.
    let out = run(&["/init", "--", "/probe", "bench-helper", "nonsense"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
