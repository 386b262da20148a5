//! The `keystep` binary.

fn main() -> std::process::ExitCode {
    keystep_server::install_crypto_provider();
    keystep_server::cli::main()
}
