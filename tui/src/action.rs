//! Everything that can happen in the TUI. Keys become actions, the
//! background poller sends data as actions, and views answer an action
//! with an optional follow-up action.

use crate::data::{Decision, DriftEntry, PendingPlan, RunDetail};
use mc_state::RunRecord;

#[derive(Clone, Debug)]
pub enum Action {
    Quit,
    NextTab,
    PrevTab,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Scroll the detail pane of the selected entry.
    PaneDown,
    PaneUp,
    /// Enter: open the selected item.
    Open,
    /// Esc: close the detail view, or clear the filter.
    Back,
    ToggleHelp,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Enter in the filter line: keep the filter, leave the input.
    FilterDone,
    /// Esc in the filter line: drop the filter.
    FilterCancel,
    /// Ask for the reason of a decision on the selected plan.
    StartDecision(Decision),
    InputChar(char),
    InputBackspace,
    SubmitInput,
    CancelInput,
    /// Show one run's hosts and resources.
    OpenRun(i64),
    /// Show one pending plan in the plan viewer.
    OpenPlan(String),
    /// Fresh data from the poller.
    Data(Box<Snapshot>),
}

/// One poll of the state store.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub runs: Option<Result<Vec<RunRecord>, String>>,
    /// The run the detail view watches.
    pub detail: Option<(i64, Result<RunDetail, String>)>,
    pub drift: Option<Result<Vec<DriftEntry>, String>>,
    pub pending: Option<Result<Vec<PendingPlan>, String>>,
}
