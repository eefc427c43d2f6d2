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
        None => mc_runner::server::serve_stdio("mc-runner"),
        Some(other) => {
            eprintln!("mc-runner: unknown argument {other:?}; usage: mc-runner [--version]");
            ExitCode::from(2)
        }
    }
}
