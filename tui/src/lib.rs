//! mc-tui

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
