//! mc-runner: the small program shipped to every managed host. It speaks the
//! line-delimited JSON [`protocol`] on stdin/stdout ([`server::serve`]) and
//! runs the [`providers`]. No compiler, no tokio, no SQLite: it has to start
//! fast and stay small.

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod facts;
pub mod host_lock;
pub mod protocol;
pub mod providers;
pub mod safe_fs;
pub mod scrub;
pub mod server;
pub mod session;
pub mod sys;
