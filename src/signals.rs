//! Ctrl-C, SIGTERM and SIGHUP during `mc apply`.
//!
//! Before the apply starts (planning, the confirmation prompt) a signal
//! just ends mc: nothing was changed. Once it applies, the first signal
//! stops starting new work: resources already running finish or time out,
//! the rest are skipped, the run is recorded `interrupted`, the lock is
//! released and the live view is cleared, as at any other end. A second
//! signal aborts at once: the run is recorded `interrupted` (aborted), its
//! lock released, and mc exits; closing the sessions makes each runner end
//! the commands it is running (see `mc_runner::session`).

use mc_runtime::state::StateLocation;
use mc_runtime::{Interrupt, Progress, StateStore};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

/// Signal handling for one apply.
#[derive(Clone)]
pub struct ApplySignals {
    pub interrupt: Interrupt,
    progress: Arc<dyn Progress>,
    applying: Arc<AtomicBool>,
    signal: Arc<AtomicI32>,
}

impl ApplySignals {
    /// Starts listening; `store` is the state store the run is recorded in.
    pub fn install(
        store: StateLocation,
        progress: Arc<dyn Progress>,
    ) -> Result<ApplySignals, String> {
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let me = ApplySignals {
            interrupt: Interrupt::default(),
            progress,
            applying: Arc::new(AtomicBool::new(false)),
            signal: Arc::new(AtomicI32::new(0)),
        };
        let handler = me.clone();
        std::thread::spawn(move || {
            for sig in signals.forever() {
                handler.on_signal(sig, &store);
            }
        });
        Ok(me)
    }

    /// From now on a signal interrupts the apply instead of ending mc.
    pub fn applying(&self) {
        self.applying.store(true, Ordering::SeqCst);
    }

    /// The exit status after an interrupted run (128 + the signal), if any.
    pub fn exit_code(&self) -> Option<u8> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(128u8.saturating_add(sig as u8)),
        }
    }

    fn on_signal(&self, sig: i32, store: &StateLocation) {
        let first = self.signal.swap(sig, Ordering::SeqCst) == 0;
        if !self.applying.load(Ordering::SeqCst) {
            eprintln!("\nInterrupted before anything was applied.");
            std::process::exit(128 + sig);
        }
        if first {
            self.interrupt.request();
            self.progress.notice(
                "Interrupted: no new resource is started; running ones finish or time out. \
                 Press Ctrl-C again to abort them.",
            );
            return;
        }
        self.progress
            .notice("Aborting: ending the running commands.");
        abort_runs(store);
        self.progress.finish();
        std::process::exit(128 + sig);
    }
}

/// Records this process's running apply as interrupted and releases its
/// lock, from a connection of our own (the apply's is busy).
fn abort_runs(store: &StateLocation) {
    let Ok(store) = StateStore::open_at(store) else {
        return;
    };
    let me = std::process::id();
    let runs: Vec<i64> = store
        .locks()
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.pid == i64::from(me))
        .map(|l| l.run_id)
        .collect();
    for run in dedup(runs) {
        let _ = store.finish_run(
            run,
            mc_runtime::state::RunStatus::Interrupted,
            &serde_json::json!({ "aborted": true, "error": "aborted by a second signal" }),
        );
        let _ = store.release_lock(run);
        let _ = store.audit("apply.aborted", &serde_json::json!({ "run": run }));
    }
}

fn dedup(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}
