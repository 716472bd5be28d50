//! Links `initlab-init` against musl's static C library instead of glibc's.
//!
//! A static glibc program costs about 675 kB before its first line of code
//! (an empty `main` linked with `gcc -static` measures that here), more
//! than the whole of catatonit; musl's static startup is a few kilobytes.
//! The standard library is the x86_64-unknown-linux-gnu one: musl provides
//! every C function it and the init call (with the same kernel-defined
//! layouts; `tests/musl_abi.rs` holds the two side by side), and the init
//! takes its arguments from `main` itself, since musl does not hand them to
//! the standard library's `.init_array` hook as glibc does.
//!
//! Only the shipped binary is linked this way: the issue-38 replica, the
//! mutant and every test binary keep glibc.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INITLAB_MUSL_LIB");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rustc-check-cfg=cfg(initlab_musl)");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let arch = var("CARGO_CFG_TARGET_ARCH");
    let Some(musl) = musl_lib(&arch) else {
        fail(&format!(
            "initlab-init links musl's C library statically and found none (looked for \
             rcrt1.o and libc.a in /usr/lib/{arch}-linux-musl and /usr/lib/musl/lib); \
             install it with `apt-get install musl-tools`, or set INITLAB_MUSL_LIB to the \
             directory that holds them"
        ));
    };
    let Some(gcc) = libgcc_dir() else {
        fail(
            "initlab-init: the C compiler did not name its libgcc directory \
             (`cc -print-libgcc-file-name`); install gcc with `apt-get install gcc`",
        );
    };
    // gcc's own specs would add glibc's start files and library directory;
    // these name musl's instead and keep libgcc.
    let m = musl.display();
    let g = gcc.display();
    let specs = format!(
        "*link_libgcc:\n-L{m} -L{g}\n\n\
         *startfile:\n%{{static-pie:{m}/rcrt1.o;:{m}/crt1.o}} {m}/crti.o {g}/crtbeginS.o\n\n\
         *endfile:\n{g}/crtendS.o {m}/crtn.o\n"
    );
    let out = PathBuf::from(var("OUT_DIR")).join("musl.specs");
    if let Err(e) = std::fs::write(&out, specs) {
        fail(&format!(
            "initlab-init: cannot write {}: {e}",
            out.display()
        ));
    }
    println!(
        "cargo:rustc-link-arg-bin=initlab-init=-specs={}",
        out.display()
    );
    println!("cargo:rustc-cfg=initlab_musl");
}

fn musl_lib(arch: &str) -> Option<PathBuf> {
    let has = |d: &Path| {
        ["rcrt1.o", "crt1.o", "crti.o", "crtn.o", "libc.a"]
            .iter()
            .all(|f| d.join(f).is_file())
    };
    // A directory named by hand is the one meant: no quiet fallback.
    if let Some(given) = std::env::var_os("INITLAB_MUSL_LIB").map(PathBuf::from) {
        if !has(&given) {
            fail(&format!(
                "initlab-init: INITLAB_MUSL_LIB={} holds no rcrt1.o, crt1.o, crti.o, crtn.o \
                 and libc.a of musl; point it at musl's library directory, or unset it",
                given.display()
            ));
        }
        return Some(given);
    }
    [
        PathBuf::from(format!("/usr/lib/{arch}-linux-musl")),
        PathBuf::from("/usr/lib/musl/lib"),
    ]
    .into_iter()
    .find(|d| has(d))
}

fn libgcc_dir() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-libgcc-file-name")
        .output()
        .ok()?;
    let file = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    let dir = file.parent()?.to_path_buf();
    (dir.join("crtbeginS.o").is_file() && dir.join("crtendS.o").is_file()).then_some(dir)
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
