//! Every secret value this process resolved, removed from any text that
//! comes back from a runner before it is printed or stored.
//!
//! Registered where secrets are resolved ([`remember`]), applied where
//! runner answers arrive (the transport), so no sink has to remember to.

use mc_runner::scrub::Scrubber;
pub use mc_runner::scrub::MIN_SCRUB_CHARS;
use std::sync::{Mutex, MutexGuard, OnceLock};

fn known() -> MutexGuard<'static, Scrubber> {
    static KNOWN: OnceLock<Mutex<Scrubber>> = OnceLock::new();
    KNOWN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Makes `value` a scrub term for the rest of the process.
pub fn remember(value: &str) {
    known().add(value);
}

/// `text` without any remembered secret value.
pub fn text(text: &str) -> String {
    known().text(text)
}

/// Scrubs a runner's answer in place (free text only).
pub fn response(resp: &mut mc_runner::protocol::Response) {
    known().response(resp);
}
