//! The `keystep` binary.

fn main() -> std::process::ExitCode {
    keystep_server::cli::main()
}
