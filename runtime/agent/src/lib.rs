//! mc-agent: a pull-mode agent. It runs on a managed host, connects out
//! to a NATS server, and answers the runner protocol for controllers whose
//! signing key it trusts (see `docs/agents.md`); between controller runs it
//! re-converges the host to the catalog last applied. The messages and the
//! controller's side live in `mc_runtime::agents`.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod agent;
pub mod converge;
pub mod convergence;
