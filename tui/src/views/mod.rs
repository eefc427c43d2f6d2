//! The views. Each is a [`Component`]: it takes actions (keys already
//! turned into actions, and data from the poller) and draws itself.

mod approvals;
mod drift;
mod plan;
mod run_detail;
mod runs;

pub use approvals::ApprovalsView;
pub use drift::DriftView;
pub use plan::PlanView;
pub use run_detail::RunDetailView;
pub use runs::RunsView;

use crate::action::Action;
use ratatui::layout::Rect;
use ratatui::Frame;

pub trait Component {
    /// Reacts to an action; may answer with a follow-up action for the app.
    fn update(&mut self, action: &Action) -> Option<Action>;
    /// Shows only the entries that contain `filter` (case-insensitive).
    fn set_filter(&mut self, filter: &str);
    fn draw(&mut self, frame: &mut Frame, area: Rect);
}

/// The moves every list view shares.
fn navigate(cursor: &mut crate::widgets::Cursor, action: &Action, len: usize) -> bool {
    use crate::widgets::PAGE;
    match action {
        Action::Up => cursor.up(1),
        Action::Down => cursor.down(1, len),
        Action::PageUp => cursor.up(PAGE),
        Action::PageDown => cursor.down(PAGE, len),
        Action::Top => cursor.top(),
        Action::Bottom => cursor.bottom(len),
        Action::PaneDown => cursor.pane = cursor.pane.saturating_add(1),
        Action::PaneUp => cursor.pane = cursor.pane.saturating_sub(1),
        _ => return false,
    }
    true
}
