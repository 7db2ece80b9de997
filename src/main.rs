//! The `venuebox` binary: everything it does is in the library (`venuebox::cli`), so
//! that tests can run the same code.

fn main() -> std::process::ExitCode {
    venuebox::cli::main()
}
