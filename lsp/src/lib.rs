//! mc-lsp: the mc language server, over stdio.
//!
//! Diagnostics come from the compiler (`mc_compiler::Project`) on a thread
//! of their own; everything else (hover, definition, references, rename,
//! completion, signature help, symbols, semantic tokens, inlay hints,
//! formatting, quick fixes) is answered from the syntax trees of the open
//! documents, their imports and the stdlib, so it keeps working in a file
//! with syntax errors. See `docs/lsp.md`.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod compile;
pub mod features;
mod infer;
pub mod resolve;
mod server;
pub mod world;

pub use server::capabilities;

/// Where the stdlib sources are written so that editors can open them
/// ("go to definition" into the stdlib).
pub fn stdlib_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mc-stdlib-{}", env!("CARGO_PKG_VERSION")))
}

/// Serves the language server protocol on stdin/stdout until the client
/// exits. Returns an error only when the runtime cannot start.
pub fn run_stdio() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(tokio::io::stdin(), tokio::io::stdout()));
    Ok(())
}

/// Serves one client on any byte streams (stdio in `mc lsp`; an in-memory
/// pipe in the benchmarks). Must run inside a tokio runtime.
pub async fn serve<I, O>(input: I, output: O)
where
    I: tokio::io::AsyncRead + Unpin,
    O: tokio::io::AsyncWrite,
{
    let (service, socket) =
        tower_lsp::LspService::new(|client| server::Backend::new(client, stdlib_dir()));
    tower_lsp::Server::new(input, output, socket)
        .serve(service)
        .await;
}
