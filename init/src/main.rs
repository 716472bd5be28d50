fn main() {
    std::process::exit(initlab_init::cli::main(
        initlab_init::signals::Flavor::Clean,
    ));
}
