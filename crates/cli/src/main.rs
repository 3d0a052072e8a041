//! The `clientele` binary: everything lives in the library (`clientele_cli`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(clientele_cli::main_with_args(std::env::args_os()))
}
