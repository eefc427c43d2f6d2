//! `mc lsp`: the language server, speaking LSP on stdin/stdout (see
//! `docs/lsp.md`).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: Args) -> ExitCode {
    match mc_lsp::run_stdio() {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: cannot start the language server: {e}");
            ExitCode::from(1)
        }
    }
}
