//! mc-agent: a pull-mode agent. It runs on a managed host, connects out
//! to a NATS server, and answers the runner protocol for controllers whose
//! signing key it trusts (see `docs/agents.md`). The controller side of the
//! same messages lives in `mc-runtime`'s agent transport.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent;
pub mod envelope;
pub mod nats;
