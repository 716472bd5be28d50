// The harness builds the init binaries on demand for the target it was
// built for, so both land in the same target/<triple>/<profile>/ directory.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=INITLAB_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
