//! The list of runs, newest first, live while an apply runs elsewhere.

use super::{navigate, Component};
use crate::action::Action;
use crate::widgets::{cell, empty_state, matches, status_style, Cursor, ListTable};
use mc_state::{format_time, RunRecord};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::Row;
use ratatui::Frame;

#[derive(Default)]
pub struct RunsView {
    runs: Vec<RunRecord>,
    error: Option<String>,
    loaded: bool,
    shown: Vec<usize>,
    filter: String,
    cursor: Cursor,
}

impl RunsView {
    pub fn selected(&self) -> Option<&RunRecord> {
        self.shown
            .get(self.cursor.selected)
            .and_then(|&i| self.runs.get(i))
    }

    fn refilter(&mut self) {
        let keep = self.selected().map(|r| r.id);
        self.refilter_keeping(keep);
    }

    fn refilter_keeping(&mut self, keep: Option<i64>) {
        let needle = self.filter.to_lowercase();
        self.shown = (0..self.runs.len())
            .filter(|&i| {
                let r = &self.runs[i];
                matches(
                    &needle,
                    &[
                        &r.id.to_string(),
                        &r.kind,
                        r.status.as_str(),
                        &r.hosts.join(" "),
                    ],
                )
            })
            .collect();
        // Stay on the same run when new runs push it down the list.
        if let Some(id) = keep {
            if let Some(pos) = self.shown.iter().position(|&i| self.runs[i].id == id) {
                self.cursor.selected = pos;
            }
        }
        self.cursor.clamp(self.shown.len());
    }
}

fn summary_count(run: &RunRecord, key: &str) -> String {
    run.summary
        .as_ref()
        .and_then(|s| s.get(key))
        .and_then(|v| v.as_u64())
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into())
}

impl Component for RunsView {
    fn update(&mut self, action: &Action) -> Option<Action> {
        match action {
            Action::Data(snapshot) => {
                let keep = self.selected().map(|r| r.id);
                match &snapshot.runs {
                    Some(Ok(runs)) => {
                        self.runs = runs.clone();
                        self.error = None;
                        self.loaded = true;
                    }
                    Some(Err(e)) => self.error = Some(e.clone()),
                    None => return None,
                }
                self.refilter_keeping(keep);
                None
            }
            Action::Open => self.selected().map(|r| Action::OpenRun(r.id)),
            other => {
                navigate(&mut self.cursor, other, self.shown.len());
                None
            }
        }
    }

    fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_string();
        self.refilter();
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        if let Some(e) = &self.error {
            empty_state(frame, area, " Runs ", &["cannot read runs", e]);
            return;
        }
        if self.runs.is_empty() {
            let first = if self.loaded {
                "no runs yet"
            } else {
                "loading…"
            };
            empty_state(
                frame,
                area,
                " Runs ",
                &[first, "`mc apply` records its runs here"],
            );
            return;
        }
        let title = if self.filter.is_empty() {
            format!(" Runs ({}) ", self.runs.len())
        } else {
            format!(" Runs ({} of {}) ", self.shown.len(), self.runs.len())
        };
        let table = ListTable {
            title,
            header: vec![
                "RUN",
                "KIND",
                "STATUS",
                "STARTED (UTC)",
                "HOSTS",
                "CHANGED",
                "FAILED",
            ],
            widths: vec![
                Constraint::Length(5),
                // `break-glass`, `agent-noop`
                Constraint::Length(11),
                Constraint::Length(8),
                Constraint::Length(19),
                Constraint::Length(5),
                Constraint::Length(7),
                Constraint::Fill(1),
            ],
            len: self.shown.len(),
            focused: true,
        };
        let runs = &self.runs;
        let shown = &self.shown;
        table.draw(frame, area, &mut self.cursor, |i| {
            let r = &runs[shown[i]];
            let failed = summary_count(r, "failed_hosts");
            let failed_style = if failed != "0" && failed != "-" {
                status_style("failed")
            } else {
                Style::new()
            };
            Row::new(vec![
                cell(format!("#{}", r.id), Style::new()),
                cell(r.kind.clone(), kind_style(&r.kind)),
                cell(r.status.to_string(), status_style(r.status.as_str())),
                cell(format_time(r.started_at), Style::new()),
                cell(r.hosts.len().to_string(), Style::new()),
                cell(summary_count(r, "changed"), Style::new()),
                cell(failed, failed_style),
            ])
        });
    }
}

/// A `break-glass` run (applied without its approvals) stands out.
pub fn kind_style(kind: &str) -> Style {
    match kind {
        "break-glass" => status_style("failed").add_modifier(ratatui::style::Modifier::BOLD),
        _ => Style::new(),
    }
}
