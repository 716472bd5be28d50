fn main() {
    std::process::exit(initlab::cli::main());
}
