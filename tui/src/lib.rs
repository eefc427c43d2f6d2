//! mc-tui: the terminal UI over the state store (runs, run detail, drift,
//! approvals) and the plan viewer of `mc tui plan.json`.
//!
//! Shape: keys and poller data become [`Action`]s, [`App::update`] applies
//! them to the view components, and [`App::draw`] renders. The TUI never
//! talks SSH: a running apply in another process is watched through the
//! state store, polled every [`term::POLL_INTERVAL`].

#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod action;
pub mod app;
pub mod data;
pub mod term;
pub mod views;
pub mod widgets;

pub use action::{Action, Snapshot};
pub use app::{App, Mode, Tab};
pub use data::{DataSource, Decision, DriftEntry, PendingPlan, RunDetail, StoreSource};

use mc_ir::plan::Plan;
use mc_state::StateLocation;
use ratatui::buffer::Buffer;
use std::path::Path;
use std::sync::Arc;

/// `mc tui DIR`: the views over `DIR/.mc/state.db`.
pub fn app_for_project(dir: &Path) -> Result<App, String> {
    let path = mc_state::StateStore::default_path(dir);
    app_for_store(&StateLocation::Sqlite(path))
}

/// The views over the state store at `location` (a SQLite file, or a
/// shared PostgreSQL store: the live view of an apply run elsewhere).
pub fn app_for_store(location: &StateLocation) -> Result<App, String> {
    let source = StoreSource::open(location)?;
    Ok(App::new(Arc::new(source), location.display()))
}

/// `mc tui plan.json`: the plan viewer.
pub fn app_for_plan_file(path: &Path) -> Result<App, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let plan = Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(App::for_plan(plan, path.display().to_string()))
}

/// Opens the terminal and runs `app` until the user quits.
pub fn run(app: App) -> Result<(), String> {
    term::run(app)
}

/// The text of a rendered buffer, one line per row, trailing spaces
/// removed: what snapshot tests compare.
pub fn buffer_text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut skip = 0;
        for x in area.left()..area.right() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            line.push_str(symbol);
            // A wide symbol covers the next cells.
            skip = unicode_width(symbol).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    ratatui::text::Span::raw(s).width()
}
