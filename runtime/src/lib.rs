//! mc-runtime: the state store, transports, planner and executor.
//!
//! The runtime never parses source: it gets catalogs through a
//! [`CatalogSource`], which the CLI implements over the compiler.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent_install;
pub mod agents;
pub mod backups;
pub mod drift;
pub mod engine;
pub mod hash;
pub mod limit;
pub mod onboard;
pub mod render;
pub mod runners;
pub mod scrub;
pub mod target;
pub mod transport;

pub use mc_state as state;
pub use mc_state::{identity, policy};

pub use engine::{
    rollout_batches, ApplyOptions, ApplyReport, CatalogSource, EnvSecrets, Interrupt, Planned,
    Progress, ProgressEvent, Quiet, Runtime, RuntimeError, SecretError, SecretSource, Selection,
    Serial, SourceError, StalePolicy,
};
pub use policy::{PolicyOutcome, Refusal};
pub use state::StateStore;
pub use transport::{ConnectOptions, RunnerBinary, Runners};

/// Runs a future to completion on a fresh multi-threaded runtime, so the
/// CLI needs no async code of its own. Fails only when the OS refuses
/// threads or an epoll fd.
pub fn block_on<F: std::future::Future>(fut: F) -> Result<F::Output, RuntimeError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RuntimeError::AsyncRuntime)?;
    Ok(rt.block_on(fut))
}
