//! mc-lsp: the mc language server, over stdio.
//!
//! Diagnostics come from the compiler (`mc_compiler::Project`) on a thread
//! of their own; everything else (hover, definition, references, rename,
//! completion, signature help, symbols, semantic tokens, inlay hints,
//! formatting, quick fixes) is answered by the compiler's IDE layer
//! (`mc_compiler::ide`) over projects kept current with the editor's
//! buffers, one LSP feature per file in `features/`. See `docs/lsp.md`.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod compile;
pub mod features;
pub mod framing;
mod server;

pub use server::capabilities;

/// Where the stdlib sources are written so that editors can open them
/// ("go to definition" into the stdlib).
pub fn stdlib_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mc-stdlib-{}", env!("CARGO_PKG_VERSION")))
}

/// Serves the language server protocol on stdin/stdout until the client
/// exits or closes stdin, and returns the exit code the LSP specification
/// asks for (0 after `shutdown`, 1 without). Errs only when the runtime
/// cannot start.
pub fn run_stdio() -> std::io::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let ended = runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    // The thread blocked reading stdin never returns after `exit`.
    runtime.shutdown_background();
    Ok(ended.exit_code())
}

/// Serves one client on any byte streams (stdio in `mc lsp`; an in-memory
/// pipe in the benchmarks). Must run inside a tokio runtime.
pub async fn serve<I, O>(input: I, output: O) -> framing::Ended
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite + Unpin,
{
    let (service, socket) =
        tower_lsp::LspService::new(|client| server::Backend::new(client, stdlib_dir()));
    let out = std::sync::Arc::new(tokio::sync::Mutex::new(output));
    let (to_server, server_input) = tokio::io::duplex(1 << 16);
    let (server_output, from_server) = tokio::io::duplex(1 << 16);
    let server = tower_lsp::Server::new(server_input, server_output, socket).serve(service);
    let input = framing::filter_input(tokio::io::BufReader::new(input), to_server, out.clone());
    let (ended, (), ()) = tokio::join!(input, server, framing::forward_output(from_server, out));
    ended
}
