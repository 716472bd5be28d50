//! `initlab-init-mutant FLAG [OPTIONS] -- COMMAND`: initlab-init with one
//! known defect of a real init switched on (see `defects::FLAGS`), for the
//! harness's own test. Never ship it.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let flag = args.next().map(|f| f.to_string_lossy().into_owned());
    let Some(defects) = flag
        .as_deref()
        .and_then(initlab_init::defects::Defects::named)
    else {
        let known: Vec<&str> = initlab_init::defects::FLAGS.iter().map(|f| f.0).collect();
        eprintln!(
            "error: give a defect first, one of: {}; see `initlab-init-mutant FLAG --help`",
            known.join(", ")
        );
        std::process::exit(initlab_init::exit::USAGE);
    };
    std::process::exit(initlab_init::cli::main_with(
        initlab_init::signals::Flavor::Mutant(defects),
        args,
    ));
}
