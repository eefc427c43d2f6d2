//! The `mc-runner` binary: `mc-runner` serves the protocol on stdin/stdout;
//! `mc-runner --version` prints the version and the build id.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            println!(
                "mc-runner {} (build {}, protocol {})",
                mc_runner::server::VERSION,
                mc_runner::server::build_id(),
                mc_runner::protocol::PROTOCOL_VERSION
            );
            ExitCode::SUCCESS
        }
        None => {
            if let Err(e) = mc_runner::session::end_with_parent() {
                eprintln!("mc-runner: cannot arrange to end with mc: {e}");
                return ExitCode::from(1);
            }
            // Watched, so a command still running when mc goes away is ended.
            let input = mc_runner::session::watched(std::io::stdin());
            let stdout = std::io::stdout();
            match mc_runner::server::serve(input, stdout.lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mc-runner: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some(other) => {
            eprintln!("mc-runner: unknown argument {other:?}; usage: mc-runner [--version]");
            ExitCode::from(2)
        }
    }
}
