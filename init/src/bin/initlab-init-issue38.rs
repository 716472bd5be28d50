//! A faithful replica of cinit <= 1.3.3 for reproducing its issue 38: the
//! children inherit a mask with SIGINT, SIGQUIT, SIGTERM and SIGCHLD blocked.
//! Built from the same library as `initlab-init`; only the flavour differs.

fn main() {
    std::process::exit(initlab_init::cli::main(
        initlab_init::signals::Flavor::Issue38,
    ));
}
